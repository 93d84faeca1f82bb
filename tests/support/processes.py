"""Helpers of the Python end-to-end tests: processes stopped on every exit path, bounded in time."""
import os
import re
import subprocess
import threading


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


LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/v2/models/(\S+)$", re.M)


def start_serve(test, greenbatch, out_dir, *args):
    """`greenbatch serve` on 127.0.0.1, a free port, its lifetime record to OUT_DIR (its own: the
    folder is locked while it runs), stopped when TEST ends; returns (process, port, model name)
    once it says ready (at most 30 s)."""
    os.makedirs(out_dir, exist_ok=True)
    err = open(os.path.join(out_dir, "stderr.txt"), "wb")
    test.addCleanup(err.close)
    proc = subprocess.Popen([greenbatch, "serve", "--host", "127.0.0.1", "--port", "0", "--idle-window", "0s",
                             "--out", out_dir, *args],
                            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    test.addCleanup(proc.stdout.close)
    test.addCleanup(halt, proc)  # cleanups run last first: stopped, then its pipe closed
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout.readline().decode() for _ in range(2)),
                              daemon=True)
    reader.start()
    reader.join(timeout=30)
    if len(lines) < 2 or lines[1].strip() != "greenbatch serve: ready":
        test.fail(f"greenbatch serve did not get ready: {lines}")
    m = LISTENING.search(lines[0].strip())
    test.assertIsNotNone(m, lines[0])
    return proc, int(m.group(1)), m.group(2)
