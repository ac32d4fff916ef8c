"""Nodes in their own processes, as `ros2 launch` runs them: started, watched and always reaped."""

import contextlib
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time


def executable(name):
    """
    Return the path of one of this package's executables.

    Beside this interpreter in a venv (`make venv`), else in the colcon install's
    lib/face_detector_ros (what `ros2 run` uses), else on PATH.
    """
    candidates = [Path(sys.executable).parent / name]
    try:
        from ament_index_python.packages import get_package_prefix
        candidates.append(Path(get_package_prefix('face_detector_ros')) / 'lib' /
                          'face_detector_ros' / name)
    except (ImportError, LookupError, OSError):  # not installed with colcon, or not sourced
        pass
    for path in candidates:
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f'{name} is not installed: run `make venv`, or `colcon build` '
                                'and source install/setup.bash')
    return found


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class NodeProcess:
    """A node started in its own process group; always reaped, by PID, even when a test fails."""

    def __init__(self, args, log_path, env=None, ignore_sigint=False):
        """Start `args`; with `ignore_sigint`, SIGINT starts ignored (as a shell's `cmd &`)."""
        self.log_path = Path(log_path)
        self._log = open(self.log_path, 'wb')
        self.process = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, start_new_session=True,
            preexec_fn=_ignore_sigint if ignore_sigint else None)

    @property
    def pid(self):
        return self.process.pid

    def output(self):
        """Everything the process printed so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors='replace')

    def wait_for_output(self, text, timeout=20.0):
        """Wait until the process has printed `text` (False if it ends or time runs out)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                return text in self.output()
            time.sleep(0.05)
        return True

    def wait(self, timeout):
        """Wait for the process to end by itself; return its exit code."""
        return self.process.wait(timeout=timeout)

    def stop(self, timeout=5.0):
        """Interrupt the node as ros2 launch does (SIGINT), escalate if it does not end."""
        for sig, grace in ((signal.SIGINT, timeout), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            if self.process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        self._log.close()
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
