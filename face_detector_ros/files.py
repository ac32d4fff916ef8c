"""Files: where the package's data lives (checkout or install), all-or-nothing output."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import contextlib
import importlib.util
import os
from pathlib import Path
import shutil
import tempfile
from typing import IO


class OutputExistsError(FileExistsError):
    """An output path that already holds something; the tools exit with status 2 on it."""


class UnsafeOutputError(OutputExistsError):
    """An output that would destroy an input, or a file name that would leave its folder."""


def check_apart(output: str | Path, inputs: Iterable[str | Path]) -> None:
    """Raise UnsafeOutputError if `output` is, contains or lies inside one of `inputs`."""
    target = Path(output).resolve()
    for source in inputs:
        source = Path(source).resolve()
        if target == source or source.is_relative_to(target) or target.is_relative_to(source):
            relation = ('is' if target == source else
                        'contains' if source.is_relative_to(target) else 'lies inside')
            raise UnsafeOutputError(f'output {output} {relation} the input {source}: '
                                    'replacing it would destroy the input; choose an output '
                                    'outside every input')


# The repository root when running from a checkout or an editable install.
SOURCE_ROOT = Path(__file__).resolve().parent.parent


PACKAGE = 'face_detector_ros'
# File kinds every reader of this package accepts (any case), in the order find_image tries them.
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.mjpeg', '.mpeg', '.mpg', '.m4v')


def share_dir(package: str = PACKAGE) -> Path:
    """
    Return share/<package> of a ROS package: for this one, the folder holding config/ and models/.

    This package in a source checkout or an editable install: the repository root. Otherwise
    through ament_index when the environment is sourced (without rclpy), else found beside the
    package's Python module (a venv with the PyPI ROS wheels sets no AMENT_PREFIX_PATH).
    FileNotFoundError when none has it.
    """
    if package == PACKAGE and (SOURCE_ROOT / 'package.xml').is_file() and \
            (SOURCE_ROOT / 'config').is_dir():
        return SOURCE_ROOT
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(package))
    except (ImportError, LookupError, OSError):
        pass
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.origin:
        for parent in Path(spec.origin).parents:
            if (parent / 'share' / package / 'package.xml').is_file():
                return parent / 'share' / package
    raise FileNotFoundError(f'ROS package {package} is not installed (no share/{package} found): '
                            'source your ROS environment' +
                            (', or run from a source checkout' if package == PACKAGE else ''))


def default_params_file() -> Path:
    """Return the parameters file the launch files use (config/face_detector.yaml)."""
    return share_dir() / 'config' / 'face_detector.yaml'


# Fast DDS reads its XML profile from the file one of these names (Humble's FASTRTPS_, newer
# releases' FASTDDS_); the launch files and the pipeline benchmark set both.
FASTDDS_PROFILE_VARIABLES = ('FASTRTPS_DEFAULT_PROFILES_FILE', 'FASTDDS_DEFAULT_PROFILES_FILE')


def fastdds_environment(profile: str | Path | None) -> dict[str, str]:
    """Return the variables that point Fast DDS at the XML file `profile`; '' or None: none."""
    return {name: str(profile) for name in FASTDDS_PROFILE_VARIABLES} if profile else {}


def plain_file_name(name: str, option: str) -> str:
    """Return `name` if it names a file inside a folder (no separators, not . or ..)."""
    if not name or name in ('.', '..') or '/' in name or '\\' in name or '\0' in name:
        raise UnsafeOutputError(f'{option} {name!r} must be a plain file name, without '
                                'folders: files are written inside the output folder only')
    return name


@contextlib.contextmanager
def atomic_output_dir(path: str | Path, overwrite: bool = False,
                      inputs: Iterable[str | Path] = ()) -> Iterator[Path]:
    """
    Yield a temporary directory that becomes `path` only if the block completes.

    The temporary directory is a sibling of `path` (same file system, so the final rename is
    atomic); on any exception it is removed and `path` is left as it was. An output that is,
    contains or lies inside one of `inputs` is refused (UnsafeOutputError), overwrite or not.
    """
    path = Path(path)
    check_apart(path, inputs)
    if path.exists() and not overwrite:
        if not path.is_dir() or any(path.iterdir()):
            raise OutputExistsError(f'output {path} already exists and is not empty; '
                                    'remove it or choose another path')
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f'.{path.name}.partial-', dir=path.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the result should not be
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if path.exists():
        backup = path.with_name(f'.{path.name}.old-{os.getpid()}')
        path.rename(backup)
        staging.rename(path)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        staging.rename(path)


@contextlib.contextmanager
def atomic_output_file(path: str | Path, mode: str = 'w') -> Iterator[IO]:
    """Yield a file object whose content replaces `path` only if the block completes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f'.{path.name}.partial-', dir=path.parent)
    try:
        with os.fdopen(fd, mode) as stream:
            yield stream
        os.chmod(staging, 0o666 & ~_umask())  # mkstemp makes it private; the result should not be
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
