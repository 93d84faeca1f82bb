#!/usr/bin/env python3
"""The serving path end to end, over real sockets on 127.0.0.1 (CTest: load_server_path).

Usage: server_path_test.py GREENBATCH_BINARY SOURCE_DIR [unittest arguments]

`greenbatch load --meter server` (the energy greenbatch serve's own meter measured, from its
/metrics); a sweep with mode = "serve" (a greenbatch serve started per model and policy, driven by
load) killed with SIGKILL and resumed, interrupted with SIGINT and resumed; a sweep with a
`target` (a server already running), and that server gone. Every process started here is
stopped on every exit path with bounded waits.
"""
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from processes import LISTENING, halt, start_serve  # noqa: E402

GREENBATCH = None  # the binary (argv[1])
SOURCE_DIR = None  # the repository (argv[2])
MODEL = "synthetic:base=2ms,per_item=200us"
METER = "modelled:idle=10,busy=40"


def read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f.read().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def port_closed(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


class ServerPathTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gb-server-path-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.out = os.path.join(self.dir, "out")

    def serve(self, *args):
        """A server on a free port; returns (process, port, model name) once it says ready."""
        return start_serve(self, GREENBATCH, tempfile.mkdtemp(prefix="served-", dir=self.dir), *args)

    def experiment(self, text):
        path = os.path.join(self.dir, "exp.toml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def sweep_cmd(self, path, *args):
        return [GREENBATCH, "sweep", path, "--out", self.out, *args]

    def sweep(self, path, *args, timeout=90):
        return subprocess.run(self.sweep_cmd(path, *args), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def serve_experiment(self):
        # Two policies (two servers) x two rates, 240 requests each: about 4 s of load in all.
        return self.experiment(f"""
name = "through-serve"
mode = "serve"
models = ["{MODEL}"]
rates = [120, 240]
policies = ["fixed:4", "greedy:32"]
requests = 240
meter = "{METER}"
idle_window = "0s"
input = "null"
""")

    def server_ports(self):
        """The ports of every greenbatch serve the sweep started (from their logs)."""
        ports = []
        servers = os.path.join(self.out, "servers")
        for name in sorted(os.listdir(servers)) if os.path.isdir(servers) else []:
            if name.endswith(".log"):
                with open(os.path.join(servers, name), encoding="utf-8", errors="replace") as f:
                    ports += [int(m[0]) for m in LISTENING.findall(f.read())]
        return ports

    def assert_serve_records(self, records):
        self.assertEqual(len(records), 4, [r.get("error") for r in records])
        keys = {(r["policy"], r["rate_hz"]) for r in records}
        self.assertEqual(keys, {("fixed:4", 120.0), ("fixed:4", 240.0), ("greedy:32", 120.0), ("greedy:32", 240.0)})
        for r in records:
            self.assertEqual((r["mode"], r["via"], r["sweep"]), ("load", "serve", "through-serve"))
            self.assertEqual((r["model"], r["device"]), (MODEL, "synthetic"))
            self.assertIsNone(r["error"], r)
            self.assertEqual(r["statuses"]["2xx"], 240, r["statuses"])
            self.assertRegex(r["target"], r"^http://127\.0\.0\.1:\d+$")
            self.assertEqual(r["server"]["greenbatch"]["policy"], r["policy"])
            # The server's own meter over the window, its batches.
            e = r["energy"]
            self.assertEqual((r["meter"], e["method"], e["measured"]), ("modelled:idle=10W,busy=40W", "server", True), e)
            self.assertEqual(e["idle_power_w"], 10)
            self.assertGreater(e["joules"], 10 * e["window_s"] * 0.999)  # idle and more: batches ran
            self.assertLess(e["joules"], 40 * e["window_s"] * 1.001)
            self.assertAlmostEqual(e["per_image_j"], e["joules"] / 240, delta=1e-9 * e["joules"])
            self.assertGreater(r["batches"], 0)
            if r["policy"] == "fixed:4":
                self.assertEqual(r["avg_batch_size"], 4.0)
                self.assertEqual(r["batches"], 60)

    def test_load_meter_server(self):
        _, port, model = self.serve("--model", MODEL, "--policy", "fixed:4", "--meter", METER)
        r = subprocess.run([GREENBATCH, "load", f"http://127.0.0.1:{port}", "--model", model, "--rate", "200",
                            "--requests", "200", "--input", "null", "--meter", "server", "--out", self.out],
                           capture_output=True, text=True, timeout=40)
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = read_lines(os.path.join(self.out, "runs.jsonl"))[0]
        with open(os.path.join(self.out, "runs.csv"), newline="") as f:
            (row,) = list(csv.DictReader(f))  # runs.csv has the run's row too
        self.assertEqual((row["policy"], row["completed"], row["batches"]), ("server", "200", "50"))
        e = rec["energy"]
        # The server's meter, read from its /metrics.
        self.assertEqual((rec["meter"], e["method"], e["measured"]), ("modelled:idle=10W,busy=40W", "server", True), e)
        self.assertEqual((rec["batches"], rec["avg_batch_size"]), (50, 4.0))
        # The busy share: 50 batches of 2.8 ms at 30 W above idle, in a window of about 1 s.
        above_idle = e["joules"] - 10 * e["window_s"]
        self.assertAlmostEqual(above_idle, 50 * 0.0028 * 30, delta=0.05 * 50 * 0.0028 * 30 + 0.2)
        self.assertEqual(rec["backend"], rec["server"]["greenbatch"]["backend"])
        # A server without energy: said, not a zero.
        _, port2, model2 = self.serve("--model", MODEL, "--meter", "none")
        r = subprocess.run([GREENBATCH, "load", f"http://127.0.0.1:{port2}", "--model", model2, "--rate", "100",
                            "--requests", "20", "--input", "null", "--meter", "server", "--out", self.out],
                           capture_output=True, text=True, timeout=40)
        self.assertEqual(r.returncode, 0, r.stderr)
        e = read_lines(os.path.join(self.out, "runs.jsonl"))[1]["energy"]
        self.assertFalse(e["measured"])
        self.assertIn("exports no energy", e["reason"])

    def test_serve_mode_killed_and_resumed(self):
        path = self.serve_experiment()
        jsonl = os.path.join(self.out, "runs.jsonl")
        sweep = subprocess.Popen(self.sweep_cmd(path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL)
        self.addCleanup(halt, sweep)
        wait_for(lambda: len(read_lines(jsonl)) >= 1, 60, "the first run's record")
        sweep.kill()  # SIGKILL: no chance to stop its server
        sweep.wait(timeout=5)
        ports = self.server_ports()
        self.assertTrue(ports)
        # The kernel tells the orphaned server (PR_SET_PDEATHSIG): it stops and writes its lifetime.
        lifetimes = os.path.join(self.out, "servers", "runs.jsonl")
        wait_for(lambda: len(read_lines(lifetimes)) >= 1, 20, "the orphaned server's lifetime record")
        wait_for(lambda: all(port_closed(p) for p in ports), 10, "the orphaned server's port to close")
        done_before = len(read_lines(jsonl))
        self.assertLess(done_before, 4)
        r = self.sweep(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{done_before} already done", r.stderr)
        records = read_lines(jsonl)
        self.assert_serve_records(records)
        # Every server the sweeps started is stopped, each with its lifetime record.
        self.assertTrue(all(port_closed(p) for p in self.server_ports()))
        self.assertEqual(len(read_lines(lifetimes)), len(self.server_ports()))
        # Done is done; summarize, recommend and report read these records, marked by their path.
        r = self.sweep(path, "--dry-run")
        self.assertIn("4 already done, 0 to run", r.stdout)
        r = subprocess.run([GREENBATCH, "summarize", self.out], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("greenbatch (serve)"), 4, r.stdout)
        r = subprocess.run([GREENBATCH, "recommend", self.out, "--slo", "p99=1s"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The same grid in process, into another folder: one report sets the paths side by side.
        in_process = os.path.join(self.dir, "in-process")
        with open(path, encoding="utf-8") as f:
            text = f.read().replace('mode = "serve"\n', "").replace('input = "null"\n', "")
        r = subprocess.run([GREENBATCH, "sweep", self.experiment(text), "--out", in_process], capture_output=True,
                           text=True, timeout=90, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        report = os.path.join(self.dir, "report.html")
        r = subprocess.run([GREENBATCH, "report", self.out, in_process, "--out", report], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(report, encoding="utf-8") as f:
            html = f.read()
        self.assertIn("greenbatch (serve)", html)
        section = html[html.index("7. In process and through a server"):html.index("8. Configurations and runs")]
        self.assertEqual(section.count("<tr><td>"), 4, section)  # each configuration, both paths
        self.assertIn("<td>fixed:4</td><td>4 / 4</td>", section)

    def test_serve_mode_interrupted_and_resumed(self):
        path = self.serve_experiment()
        jsonl = os.path.join(self.out, "runs.jsonl")
        sweep = subprocess.Popen(self.sweep_cmd(path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 stdin=subprocess.DEVNULL, text=True)
        self.addCleanup(halt, sweep)
        wait_for(lambda: len(read_lines(jsonl)) >= 1, 60, "the first run's record")
        sweep.send_signal(signal.SIGINT)
        _, err = sweep.communicate(timeout=40)
        self.assertEqual(sweep.returncode, 130, err)
        self.assertIn("resume with", err)
        ports = self.server_ports()
        self.assertTrue(all(port_closed(p) for p in ports))  # stopped by the sweep before it exited
        lifetimes = read_lines(os.path.join(self.out, "servers", "runs.jsonl"))
        self.assertEqual(len(lifetimes), len(ports))
        self.assertTrue(all(r["mode"] == "serve" for r in lifetimes))
        # The run in progress was not written: no record is partial.
        self.assertTrue(all(r["statuses"]["2xx"] == 240 for r in read_lines(jsonl)))
        r = self.sweep(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_serve_records(read_lines(jsonl))

    def test_target_mode_and_the_server_gone(self):
        server, port, model = self.serve("--model", MODEL, "--policy", "fixed:8", "--meter", METER)
        path = self.experiment(f"""
name = "external"
target = "http://127.0.0.1:{port}/"
server_policy = "fixed:8, started by hand"
models = ["{model}"]
rates = [100]
requests = 96
meter = "server"
input = "null"
""")
        r = self.sweep(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        (rec,) = read_lines(os.path.join(self.out, "runs.jsonl"))
        self.assertEqual((rec["mode"], rec["target"], rec["policy"]),
                         ("load", f"http://127.0.0.1:{port}", "fixed:8, started by hand"))
        self.assertNotIn("via", rec)
        self.assertEqual(rec["statuses"]["2xx"], 96)
        self.assertTrue(rec["energy"]["measured"], rec["energy"])
        self.assertEqual(rec["avg_batch_size"], 8.0)
        r = subprocess.run([GREENBATCH, "summarize", self.out], capture_output=True, text=True, timeout=30)
        self.assertIn("greenbatch (load)", r.stdout)
        # The server gone: the new run fails with the reason, recorded; the sweep goes on and says so.
        halt(server)
        r = self.sweep(path, "--set", "rates=[100,150]")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("1 already done", r.stderr)
        self.assertIn(f"cannot connect to http://127.0.0.1:{port}", r.stderr)
        records = read_lines(os.path.join(self.out, "runs.jsonl"))
        self.assertEqual(len(records), 2)
        self.assertEqual(records[1]["rate_hz"], 150)
        self.assertIn("cannot connect", records[1]["error"])

    def test_a_server_that_cannot_start_fails_its_runs_once(self):
        model = os.path.join(self.dir, "broken.pt")
        with open(model, "wb") as f:
            f.write(b"not a TorchScript archive")
        path = self.experiment(f"""
mode = "serve"
models = ["{model}"]
rates = [10, 20]
policies = ["greedy:8"]
requests = 16
meter = "none"
idle_window = "0s"
warmup_batches = 0
""")
        r = self.sweep(path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.count("FAILED: greenbatch serve could not start"), 2, r.stderr)
        records = read_lines(os.path.join(self.out, "runs.jsonl"))
        self.assertEqual(len(records), 2)
        for rec in records:
            self.assertEqual((rec["mode"], rec["via"], rec["model"]), ("load", "serve", "broken"))
            self.assertIn("greenbatch serve could not start", rec["error"])
            self.assertIn("before it listened", rec["error"])  # with the server's own words after it
        # One attempt for the group, not one per run.
        with open(os.path.join(self.out, "servers", "broken-greedy_8.log"), encoding="utf-8") as f:
            self.assertEqual(f.read().count("greenbatch: "), 1)

    def test_bad_experiments(self):
        cases = [
            ('mode = "serve"\ntarget = "http://127.0.0.1:1"\n', "give one of them"),
            ('target = "http://127.0.0.1:1"\npolicies = ["fixed:8"]\n', "server_policy"),
            ('server_policy = "x"\npolicies = ["fixed:8"]\n', "only with `target`"),
            ('connections = 8\npolicies = ["fixed:8"]\n', "a setting of the load"),
            ('mode = "serve"\nclock = "virtual"\npolicies = ["fixed:8"]\n', "real clock"),
            ('mode = "bus"\npolicies = ["fixed:8"]\n', "accepted: run, serve"),
            ('target = "https://127.0.0.1:1"\n', "accepted: http://HOST:PORT"),
            ('target = "http://127.0.0.1:1"\nmodels = ["a/b"]\n', "URL path segment"),
            ('mode = "serve"\npolicies = ["fixed:4"]\n', "make requests a multiple of 4"),
        ]
        for text, expected in cases:
            base = 'name = "bad"\nrates = [10]\nrequests = 10\n'
            if "models" not in text:
                base += f'models = ["{MODEL}"]\n'
            path = self.experiment(base + text)
            r = self.sweep(path, "--dry-run", timeout=20)
            self.assertEqual(r.returncode, 2, (text, r.stderr))
            self.assertIn(expected, r.stderr, text)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    GREENBATCH, SOURCE_DIR = (os.path.abspath(a) for a in sys.argv[1:3])
    unittest.main(argv=sys.argv[:1] + sys.argv[3:], verbosity=2)
