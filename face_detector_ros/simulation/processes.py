"""Nodes in their own processes, as `ros2 launch` runs them: started, watched and always reaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import contextlib
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time


def executable(name: str) -> str:
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

    def __init__(self, args: Sequence[str], log_path: str | Path,
                 env: Mapping[str, str] | None = None, ignore_sigint: bool = False) -> None:
        """Start `args`; with `ignore_sigint`, SIGINT starts ignored (as a shell's `cmd &`)."""
        self.log_path = Path(log_path)
        self._log = open(self.log_path, 'wb')
        self.process = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, start_new_session=True,
            preexec_fn=_ignore_sigint if ignore_sigint else None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        """Everything the process printed so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors='replace')

    def wait_for_output(self, text: str, timeout: float = 20.0) -> bool:
        """Wait until the process has printed `text` (False if it ends or time runs out)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                return text in self.output()
            time.sleep(0.05)
        return True

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself; return its exit code."""
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 5.0) -> int:
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

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
