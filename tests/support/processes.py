"""Waiting for conditions and stopping child processes."""

from __future__ import annotations


def wait_until(check, timeout: float, what: str, every: float = 0.3) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop_processes(procs, timeout: float = 20.0) -> None:
    """SIGTERM each still-running process, SIGKILL it if it does not exit in time."""
    import signal
    import subprocess

    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
