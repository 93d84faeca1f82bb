"""Helpers of the Python end-to-end tests: processes stopped on every exit path, bounded in time."""
import subprocess


def halt(proc):
    """SIGTERM, at most 5 s, then SIGKILL and at most 5 s more; reaped."""
    for stop in (proc.terminate, proc.kill):
        if proc.poll() is not None:
            return
        stop()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
