"""Shared plumbing for the console scripts: one-line errors and exit statuses."""

import functools
from pathlib import Path
import signal
import sys

from face_detector_ros.files import OutputExistsError


class CliError(Exception):
    """A problem the user can fix; printed as one line, the tool exits with status 2."""


def console_main(func):
    """Wrap a main(argv) so that expected failures print one readable line, not a traceback."""
    @functools.wraps(func)
    def wrapper(argv=None):
        prog = Path(sys.argv[0]).name
        # SIGTERM unwinds like Ctrl-C, so partial outputs are removed on the way out; so does
        # SIGINT where the shell ignored it at start (a background job), as for the nodes.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        previous_int = signal.getsignal(signal.SIGINT)
        if previous_int == signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return func(argv) or 0
        except (CliError, OutputExistsError) as error:
            print(f'{prog}: error: {error}', file=sys.stderr)
            return 2
        except (OSError, ValueError) as error:
            print(f'{prog}: error: {error}', file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f'{prog}: interrupted, no output written', file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
    return wrapper


def _interrupt(signum, frame):
    raise KeyboardInterrupt
