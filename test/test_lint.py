"""The ament linters a colcon test runs: flake8 (ament config) and pep257."""

from pathlib import Path

from ament_flake8.main import main_with_errors as flake8_main
from ament_pep257.main import main as pep257_main
import pytest

ROOT = Path(__file__).resolve().parent.parent
PATHS = [str(ROOT / name) for name in ('face_detector_ros', 'test', 'benchmarks', 'launch',
                                       'setup.py')]


@pytest.mark.linter
def test_flake8():
    rc, errors = flake8_main(argv=PATHS)
    assert rc == 0, f'{len(errors)} flake8 errors:\n' + '\n'.join(errors)


@pytest.mark.linter
def test_pep257():
    assert pep257_main(argv=PATHS) == 0, 'pep257 errors (see the output above)'
