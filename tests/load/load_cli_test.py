#!/usr/bin/env python3
"""`greenbatch load` end to end, over real sockets on 127.0.0.1 (CTest: load_cli).

Usage: load_cli_test.py GREENBATCH_BINARY SOURCE_DIR [unittest arguments]

Each test starts its own `greenbatch serve` (synthetic models, --port 0) and runs `greenbatch
load` against it: the count and rate kept, 503s of an overloaded server counted, timeouts,
connection refused before the run (exit 2), a server killed mid-run (connection errors counted,
the total exact), a server that stalls once (every request scheduled during the stall waits it
out, and its latency says so). Every process started here is stopped on every exit path with
bounded waits.
"""
import csv
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from processes import halt, start_serve  # noqa: E402

GREENBATCH = None  # the binary (argv[1])
SOURCE_DIR = None  # the repository (argv[2])


class LoadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gb-load-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def serve(self, *args):
        """A server on a free port, no meter; returns (process, port, model name) once it says ready."""
        return start_serve(self, GREENBATCH, tempfile.mkdtemp(prefix="served-", dir=self.dir), "--meter", "none", *args)

    def load_cmd(self, port, model, *args):
        return [GREENBATCH, "load", f"http://127.0.0.1:{port}", "--model", model,
                "--images", os.path.join(SOURCE_DIR, "data", "images"), "--out", os.path.join(self.dir, "out"), *args]

    def load(self, port, model, *args, timeout=40):
        return subprocess.run(self.load_cmd(port, model, *args), capture_output=True, text=True, timeout=timeout)

    def record(self):
        with open(os.path.join(self.dir, "out", "runs.jsonl"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1)
        return json.loads(lines[0])

    def assert_total(self, rec, n):
        self.assertEqual(rec["requests"], n)
        self.assertEqual(sum(rec["statuses"].values()), n, rec["statuses"])

    def test_count_and_rate_kept(self):
        _, port, model = self.serve("--model", "synthetic")
        per_request = os.path.join(self.dir, "requests.csv")
        # 401 requests at 200/s: 2 s from the first to the last.
        # The null model's small requests: the client's pace, not the cost of 602 kB bodies, is
        # measured (the tensor path is exercised by the energy test below).
        r = self.load(port, model, "--rate", "200", "--requests", "401", "--input", "null", "--requests-out",
                      per_request)
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = self.record()
        self.assertEqual(rec["mode"], "load")
        self.assertEqual(rec["target"], f"http://127.0.0.1:{port}")
        self.assertEqual(rec["server"]["name"], "greenbatch")
        self.assertEqual((rec["model"], rec["device"], rec["policy"]), (model, "remote", "server"))
        self.assert_total(rec, 401)
        self.assertEqual(rec["statuses"]["2xx"], 401, rec["statuses"])
        self.assertEqual((rec["completed"], rec["sent"]), (401, 401))
        self.assertAlmostEqual(rec["offered_rate_hz"], 200, delta=2)
        self.assertAlmostEqual(rec["achieved_rate_hz"], 200, delta=2)
        self.assertGreater(rec["latency_s"]["p50"], 0)
        self.assertLessEqual(rec["send_late_s"]["p50"], rec["send_late_s"]["max"])
        # --meter auto on a machine without NVML or readable RAPL: not measured, and why.
        if not rec["energy"]["measured"]:
            self.assertTrue(rec["energy"]["reason"], rec["energy"])
        with open(per_request, newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 401)
        self.assertTrue(all(row["outcome"] == "http" and row["status"] == "200" for row in rows))

    def test_energy_over_the_window_per_successful_inference(self):
        _, port, model = self.serve("--model", "synthetic")
        r = self.load(port, model, "--rate", "100", "--requests", "51", "--meter", "modelled:idle=20,busy=50",
                      "--idle-window", "0s")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = self.record()
        e = rec["energy"]
        self.assertEqual(rec["meter"], "modelled:idle=20W,busy=50W")
        self.assertTrue(e["measured"], e)
        # No batches are known to the client: the model's idle power over the window, per 2xx answer.
        self.assertAlmostEqual(e["joules"], 20 * e["window_s"], delta=1e-6 * e["joules"])
        self.assertAlmostEqual(e["per_image_j"], e["joules"] / 51, delta=1e-9 * e["joules"])
        self.assertGreaterEqual(e["window_s"], 0.5)  # 51 requests at 100/s: at least 0.5 s
        self.assertEqual(e["warnings"], [])  # the server is on this machine
        self.assertEqual(rec["statuses"]["2xx"], 51, rec["statuses"])  # preprocessed tensors, all answered

    def test_input_and_output_names(self):
        _, port, model = self.serve("--model", "synthetic")
        # Another model's names (as a Triton model's config says): greenbatch serve takes any input
        # name, and logits is one of its outputs.
        r = self.load(port, model, "--rate", "50", "--requests", "6", "--input-name", "input__0", "--output", "logits",
                      "--meter", "none")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.record()["statuses"]["2xx"], 6)
        # An output the server does not have: every request is its 400, counted.
        os.remove(os.path.join(self.dir, "out", "runs.jsonl"))
        r = self.load(port, model, "--rate", "50", "--requests", "4", "--input", "null", "--output", "output__0",
                      "--meter", "none")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.record()["statuses"]["4xx"], 4)
        # A name that would break the JSON is refused before the run.
        r = self.load(port, model, "--input-name", 'in"put')
        self.assertEqual(r.returncode, 2)
        self.assertIn("--input-name", r.stderr)

    def test_requests_scheduled_during_a_stall_wait_it_out(self):
        """Coordinated omission avoided: a server that stalls once for 1 s holds every request
        scheduled during the stall until it ends, and each one's latency, measured from its
        scheduled time, shows the rest of the stall (a closed-loop client would have sent them after
        it and seen a few ms)."""
        stall = 1.0
        _, port, model = self.serve("--model", f"synthetic:base=1ms,stall={stall:g}s@2s")
        per_request = os.path.join(self.dir, "requests.csv")
        # 3 s at 200/s. The server's first batch is its start-up probe (one item through the output
        # path), so the stall comes 2 s after it says ready: somewhere in the load's first 2 s,
        # however long (under 2 s) this machine takes to start the client, and the whole stall
        # inside the 3 s (a fixed time into the load was a flaky assumption). 300 connections:
        # every request of the stall goes out on time.
        r = self.load(port, model, "--rate", "200", "--requests", "601", "--input", "null", "--connections", "300",
                      "--meter", "none", "--idle-window", "0s", "--requests-out", per_request)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(per_request, newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 601)
        self.assertTrue(all(row["outcome"] == "http" and row["status"] == "200" for row in rows))
        scheduled = [float(row["scheduled_s"]) for row in rows]
        latency = [float(row["done_s"]) - float(row["scheduled_s"]) for row in rows]
        # The stall's first victim (in schedule order): the first request that waited nearly all of
        # it (9/10: a hiccup of a loaded machine, which CI's parallel tests can cause, delays a
        # request by far less; half the stall was not enough there). Every request of the stalled
        # batch waited the whole stall, so the first victim is the batch's first request: it reached
        # the server before the batch started, and the stall ended at least `stall` after its
        # scheduled time s0: every request scheduled from s0 to s0 + stall was answered after that.
        first = next((i for i, x in enumerate(latency) if x >= 0.9 * stall), None)
        self.assertIsNotNone(first, f"no request saw the stall; latency max {max(latency):.3f} s")
        s0 = scheduled[first]
        window = [i for i, s in enumerate(scheduled) if s0 <= s < s0 + stall]
        self.assertGreaterEqual(len(window), 195)  # 200/s over the stall, every one of them counted
        tolerance = 0.001  # the bound is exact (one steady clock, sends never early); spare for float sums
        for i in window:
            self.assertGreaterEqual(latency[i], s0 + stall - scheduled[i] - tolerance,
                                    f"request {i} scheduled {scheduled[i] - s0:.3f} s into the stall")
        # Half of them waited half the stall or more: the p50 of the window, not a few outliers.
        self.assertGreaterEqual(sum(latency[i] >= stall / 2 for i in window), len(window) // 2 - 2)

    def test_overload_503_counted(self):
        _, port, model = self.serve("--model", "synthetic:base=200ms,per_item=0s", "--policy", "fixed:1",
                                    "--max-queue", "1")
        r = self.load(port, model, "--rate", "200", "--requests", "100", "--input", "jpeg", "--connections", "16")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = self.record()
        self.assert_total(rec, 100)
        self.assertGreater(rec["statuses"]["5xx"], 0, rec["statuses"])
        self.assertGreater(rec["statuses"]["2xx"], 0, rec["statuses"])
        self.assertEqual(rec["statuses"]["2xx"] + rec["statuses"]["5xx"], 100, rec["statuses"])

    def test_timeouts(self):
        _, port, model = self.serve("--model", "synthetic:base=300ms,per_item=0s", "--policy", "fixed:1")
        r = self.load(port, model, "--rate", "20", "--requests", "10", "--timeout", "50ms")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = self.record()
        self.assert_total(rec, 10)
        self.assertEqual(rec["statuses"]["timeout"], 10, rec["statuses"])
        self.assertEqual(rec["completed"], 0)

    def test_connection_refused_before_the_run(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # nothing listens once closed
        start = time.monotonic()
        r = self.load(port, "synthetic", "--rate", "100", "--requests", "1000")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"cannot connect to http://127.0.0.1:{port}: connection refused", r.stderr)
        self.assertLess(time.monotonic() - start, 10)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "out", "runs.jsonl")))

    def test_bad_url_and_unknown_model(self):
        for url in ("https://127.0.0.1:1", "http://127.0.0.1", "http://127.0.0.1:8000/v2", "127.0.0.1:8000"):
            r = subprocess.run([GREENBATCH, "load", url, "--model", "m", "--out", self.dir], capture_output=True,
                               text=True, timeout=20)
            self.assertEqual(r.returncode, 2, url)
            self.assertIn("accepted: http://HOST:PORT", r.stderr, url)
        _, port, _ = self.serve("--model", "synthetic")
        r = self.load(port, "nosuchmodel", "--requests", "10")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("is not ready: GET /v2/models/nosuchmodel/ready answered 404", r.stderr)

    def test_server_killed_mid_run(self):
        server, port, model = self.serve("--model", "synthetic")
        load = subprocess.Popen(self.load_cmd(port, model, "--rate", "200", "--requests", "600", "--input", "null"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(halt, load)
        time.sleep(1.0)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=5)
        out, err = load.communicate(timeout=30)
        self.assertEqual(load.returncode, 0, err)
        rec = self.record()
        self.assert_total(rec, 600)
        s = rec["statuses"]
        self.assertGreater(s["2xx"], 50, s)
        self.assertGreater(s["connection_error"], 300, s)
        self.assertEqual(s["2xx"] + s["connection_error"] + s["timeout"], 600, s)
        self.assertIn("connection errors", out)

    def test_connection_closed_while_idle_is_retried(self):
        """A server that closes each kept-alive connection after its answer, without saying so:
        the next request on it fails before any answer and is sent again on a new connection."""

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive announced, then broken

            def answer(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = b'{"name":"fake"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addCleanup(server.server_close)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        r = self.load(server.server_address[1], "m", "--rate", "50", "--requests", "20", "--input", "jpeg",
                      "--connections", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = self.record()
        self.assertEqual(rec["server"], {"name": "fake"})
        self.assert_total(rec, 20)
        self.assertEqual(rec["statuses"]["2xx"], 20, rec["statuses"])


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    GREENBATCH, SOURCE_DIR = (os.path.abspath(a) for a in sys.argv[1:3])
    unittest.main(argv=sys.argv[:1] + sys.argv[3:], verbosity=2)
