"""Shared plumbing for the console scripts: one-line errors and all-or-nothing output."""

import contextlib
import functools
import os
from pathlib import Path
import shutil
import sys
import tempfile


class CliError(Exception):
    """A problem the user can fix; printed as one line, the tool exits with status 2."""


def console_main(func):
    """Wrap a main(argv) so that expected failures print one readable line, not a traceback."""
    @functools.wraps(func)
    def wrapper(argv=None):
        prog = Path(sys.argv[0]).name
        try:
            return func(argv) or 0
        except CliError as error:
            print(f'{prog}: error: {error}', file=sys.stderr)
            return 2
        except (OSError, ValueError) as error:
            print(f'{prog}: error: {error}', file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f'{prog}: interrupted, no output written', file=sys.stderr)
            return 130
    return wrapper


@contextlib.contextmanager
def atomic_output_dir(path, overwrite=False):
    """
    Yield a temporary directory that becomes `path` only if the block completes.

    The temporary directory is a sibling of `path` (same file system, so the final rename is
    atomic); on any exception it is removed and `path` is left as it was.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        if not path.is_dir() or any(path.iterdir()):
            raise CliError(f'output {path} already exists and is not empty; '
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
def atomic_output_file(path, mode='w'):
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
