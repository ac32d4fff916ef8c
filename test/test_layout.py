"""The folder rule of the package layout, checked on the source with `ast` (no imports run)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'face_detector_ros'
# rclpy and the message packages: what only the ROS-facing folders may import.
ROS_PACKAGES = {'rclpy', 'sensor_msgs', 'vision_msgs', 'std_msgs', 'builtin_interfaces',
                'diagnostic_msgs', 'geometry_msgs', 'lifecycle_msgs', 'rcl_interfaces',
                'rosgraph_msgs', 'cv_bridge', 'launch', 'launch_ros', 'rosidl_runtime_py'}
# Folders (or modules) allowed to import them: the nodes, the message glue, the bag reader and
# writer (ROS headers, rclpy serialization), the bag tool, and the demo that watches the nodes.
ROS_ALLOWED = ('nodes/', 'ros/', 'bags/', 'tools/bag.py', 'demo.py')
# Folders of logic without ROS: they import none of the ROS-facing folders, nor the tools.
PURE = ('camera/', 'datasets/', 'detection/', 'evaluation/', 'simulation/', 'tracking/',
        'files.py', 'parameters.py')
ROS_FACING = ('nodes', 'ros', 'bags', 'tools', 'demo')


def imported_modules(source):
    """Return every module an `import` or `from ... import` names, at any depth of the code."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from face_detector_ros import files` names a module too.
            found.update(f'{node.module}.{alias.name}' for alias in node.names)
    return found


def modules():
    """Yield (path relative to the package, set of imported module names) of every module."""
    for path in sorted(PACKAGE.rglob('*.py')):
        yield path.relative_to(PACKAGE).as_posix(), imported_modules(path.read_text())


def ros_imports(names):
    return sorted(name for name in names if name.split('.')[0] in ROS_PACKAGES)


def test_the_checker_finds_imports_anywhere_in_a_module():
    source = ('import os\n\n\ndef later():\n    from rclpy.node import Node\n'
              '    import vision_msgs.msg\n    from face_detector_ros import files\n')
    names = imported_modules(source)
    assert {name.split('.')[0] for name in ros_imports(names)} == {'rclpy', 'vision_msgs'}
    assert 'face_detector_ros.files' in names


def test_only_the_ros_facing_folders_import_rclpy_or_message_packages():
    offenders = {name: ros_imports(names) for name, names in modules()
                 if ros_imports(names) and not name.startswith(ROS_ALLOWED)}
    assert offenders == {}, 'move the ROS part into nodes/ or ros/'


def test_logic_folders_do_not_import_ros_facing_folders_or_tools():
    offenders = {}
    for name, names in modules():
        if name.startswith(PURE):
            upward = sorted(n for n in names if n.startswith('face_detector_ros.') and
                            n.split('.')[1] in ROS_FACING)
            if upward:
                offenders[name] = upward
    assert offenders == {}


def test_every_folder_is_a_package_with_a_docstring():
    for folder in sorted(p for p in PACKAGE.rglob('*') if p.is_dir() and
                         p.name != '__pycache__'):
        init = folder / '__init__.py'
        assert init.is_file(), f'{folder} has no __init__.py (find_packages would skip it)'
        assert ast.get_docstring(ast.parse(init.read_text())), init


def test_matplotlib_only_inside_the_tools_that_plot():
    # package.xml declares python3-matplotlib for face-eval's plot; nothing else on the robot
    # may need it, and no module imports it at load time (only the function that plots).
    users = []
    for path in sorted(PACKAGE.rglob('*.py')):
        source = path.read_text()
        top_level = ast.Module([node for node in ast.parse(source).body
                                if isinstance(node, (ast.Import, ast.ImportFrom))], [])
        assert 'matplotlib' not in {n.split('.')[0] for n in imported_modules(ast.unparse(
            top_level))}, path
        if 'matplotlib' in {n.split('.')[0] for n in imported_modules(source)}:
            users.append(path.relative_to(PACKAGE).as_posix())
    assert users == ['tools/evaluate.py', 'training/classifier.py', 'training/train.py']
