# Included by the dev/ interface packages. The PyPI ROS wheels export
# *__rosidl_generator_py targets whose include path names the machine that built them
# (/opt/python/...); point those of the given packages at this interpreter's headers.
find_package(Python3 REQUIRED COMPONENTS Interpreter Development NumPy)
function(fix_pypi_wheel_targets)
  foreach(dep ${ARGN})
    set(target "${dep}::${dep}__rosidl_generator_py")
    if(TARGET ${target})
      set_target_properties(${target} PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${Python3_INCLUDE_DIRS};${Python3_NumPy_INCLUDE_DIRS}")
    endif()
  endforeach()
endfunction()
