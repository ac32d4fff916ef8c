"""colcon builds and installs the package as on a robot; installed tools find their data."""

from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture(scope='module')
def install(tmp_path_factory):
    """Build with colcon a copy of the tracked files (what a clone on the robot has)."""
    workspace = tmp_path_factory.mktemp('ws')
    files = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split('\0')
    source = workspace / 'src' / 'face_detector_ros'
    for name in filter(None, files):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    result = subprocess.run([str(BIN / 'colcon'), 'build', '--base-paths', 'src'],
                            cwd=workspace, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    # dev/vision_msgs is COLCON_IGNOREd: only this package is built.
    assert 'Finished <<< face_detector_ros' in result.stdout, result.stdout
    assert 'vision_msgs' not in result.stdout
    return workspace / 'install' / 'face_detector_ros'


def test_executables_and_data_are_installed_where_ros2_finds_them(install):
    lib = install / 'lib' / 'face_detector_ros'
    setup = (ROOT / 'setup.py').read_text()
    for name in ('camera_node', 'detector_node', 'tracker_node', 'face-detector-pipeline',
                 'face-detect', 'face-detector-bag', 'face-eval', 'face-train'):
        assert f"'{name} = " in setup and (lib / name).exists(), name
    share = install / 'share' / 'face_detector_ros'
    for name in ('package.xml', 'launch/face_detector.launch.py', 'launch/replay.launch.py',
                 'config/face_detector.yaml', 'config/fastdds.xml', 'config/face_detector.rviz',
                 'models/LICENSE', 'models/NOTICE', 'models/blazeface_short_range.yaml',
                 'models/face_detection_short_range.xml', 'models/retinaface.yaml',
                 'models/retinaface_mnet025_768x576.bin', 'models/LICENSE.retinaface'):
        assert (share / name).is_file(), name
    index = install / 'share' / 'ament_index' / 'resource_index' / 'packages'
    assert (index / 'face_detector_ros').is_file()
    assert not list(install.rglob('test_*.py'))  # tests are not installed


def test_installed_tool_finds_its_models_through_the_ament_index(install):
    site = next(install.glob('lib/python3*/site-packages'))
    env = {'AMENT_PREFIX_PATH': str(install), 'PYTHONPATH': str(site), 'PATH': str(BIN)}
    result = subprocess.run([sys.executable, str(install / 'lib' / 'face_detector_ros' /
                                                 'face-detect'), '--list-models'],
                            env=env, capture_output=True, text=True, timeout=60, cwd='/')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split('\n')[0].startswith('blazeface_full_range')
    rows = {line.split('\t')[0]: line for line in result.stdout.splitlines()}
    assert 'blazeface_short_range' in rows and '(default)' in rows['retinaface']
