"""Where the package's data (config/, models/, launch/) lives: source tree or installed share."""

from pathlib import Path

# The repository root when running from a checkout or an editable install.
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dir():
    """
    Return the folder holding config/ and models/.

    In a source checkout or an editable install that is the repository root; after
    `colcon build` it is share/face_detector_ros (found through ament_index, without rclpy).
    """
    if (SOURCE_ROOT / 'package.xml').is_file() and (SOURCE_ROOT / 'config').is_dir():
        return SOURCE_ROOT
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory('face_detector_ros'))
    except (ImportError, LookupError, OSError) as error:
        raise FileNotFoundError('face_detector_ros data (config/, models/) not found: not a '
                                'source checkout, and no sourced ROS install has the package '
                                f'({error})') from error


def default_params_file():
    """Return the parameters file the launch files use (config/face_detector.yaml)."""
    return share_dir() / 'config' / 'face_detector.yaml'
