#!/usr/bin/env python3
"""`greenbatch serve` end to end, over real sockets (CTest: serve_cli).

Usage: serve_cli_test.py GREENBATCH_BINARY SOURCE_DIR [unittest arguments]

Starts the server on 127.0.0.1 (a free port, --port 0) with the synthetic model and checks:
curl against every endpoint with golden documents; http.client keep-alive with JSON, Triton
binary tensor data, base64 and raw JPEGs; every kind of bad request (status, JSON error body,
counted in greenbatch_requests_total); overload (503 at once, the server stays up); SIGTERM with
requests in flight (all answered, runs.jsonl); clients that vanish mid-request; a real Prometheus
scraping /metrics (its values equal the server's); /metrics read by prometheus_client's parser.
Every process started here is killed on every exit path; every socket has a timeout.
Needs Debian's curl, prometheus and python3-prometheus-client (scripts/install-deps.sh).
"""
import base64
import http.client
import json
import math
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

from prometheus_client.parser import text_string_to_metric_families

GREENBATCH = None  # the binary (argv[1])
SOURCE_DIR = None  # the repository (argv[2])
CURL = "/usr/bin/curl"
PROMETHEUS = "/usr/bin/prometheus"
TIMEOUT = 10.0  # seconds, for any one socket operation or HTTP exchange
MAX_BODY = 1 << 20
MAX_ITEMS = 16

LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/v2/models/(\S+)$")


def stop_process(proc):
    """terminate, wait at most 5 s, then kill (and reap)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, predicate, timeout=10.0, interval=0.02):
    """Polls predicate() until it returns a true value (returned), failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class Server:
    """One `greenbatch serve` process on 127.0.0.1, a free port. Use as a context manager or call
    stop(); stop() is safe on every path (and more than once)."""

    def __init__(self, *args, out_dir):
        self.out_dir = out_dir
        self.stderr = open(os.path.join(out_dir, "stderr.txt"), "wb")
        self.lines = queue.Queue()
        self.stdout = []
        cmd = [GREENBATCH, "serve", "--host", "127.0.0.1", "--port", "0", "--idle-window", "0s",
               "--out", out_dir, *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()
        self.port = None
        self.name = None

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stdout.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _line(self, deadline):
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError(f"greenbatch serve said no more (stdout {self.stdout}, stderr {self.stderr_text()})")
        return line

    def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        first = self._line(deadline)
        m = LISTENING.search(first)
        if not first.startswith("greenbatch serve: ") or not m:
            raise AssertionError(f"unexpected first line: {first!r}")
        self.port, self.name = int(m.group(1)), m.group(2)
        ready = self._line(deadline)
        if ready != "greenbatch serve: ready":
            raise AssertionError(f"unexpected second line: {ready!r}")
        return self

    def stderr_text(self):
        try:
            with open(self.stderr.name, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_server(case, *args):
    """A server for a TestCase class (setUpClass): stopped by a class cleanup whatever happens."""
    out_dir = tempfile.mkdtemp(prefix="gb-serve-test-")
    case.addClassCleanup(shutil.rmtree, out_dir, True)
    server = Server(*args, out_dir=out_dir)
    case.addClassCleanup(server.stop)
    return server.wait_ready()


# --- HTTP helpers --------------------------------------------------------------------------------

def exchange(port, method, path, body=None, headers=None, conn=None):
    """One request; returns (status, headers dict lower-cased, body bytes). A new connection unless
    `conn` (kept open then)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        if own:
            conn.close()


def infer_json(port, doc, conn=None, name="synthetic"):
    status, headers, body = exchange(port, "POST", f"/v2/models/{name}/infer", json.dumps(doc).encode(),
                                     {"Content-Type": "application/json"}, conn)
    return status, headers, body


def metrics_text(port):
    status, headers, body = exchange(port, "GET", "/metrics")
    assert status == 200, (status, body)
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), headers
    return body.decode("utf-8")


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(text):
    """{(sample name, frozenset of labels): value}"""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = float(s.value)
    return out


def value(port, name, **labels):
    return samples(metrics_text(port)).get((name, frozenset(labels.items())), 0.0)


def requests_by_code(port, model="synthetic"):
    out = {}
    for (name, labels), v in samples(metrics_text(port)).items():
        d = dict(labels)
        if name == "greenbatch_requests_total" and d.get("model") == model:
            out[d["code"]] = v
    return out


def fp32_request(items, width=3, request_id=None, outputs=None):
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [items, width],
                       "data": [float(i) for i in range(items * width)]}]}
    if request_id is not None:
        doc["id"] = request_id
    if outputs is not None:
        doc["outputs"] = [{"name": o} for o in outputs]
    return doc


def image(name):
    with open(os.path.join(SOURCE_DIR, "data", "images", name), "rb") as f:
        return f.read()


def model_metadata(max_items):
    return {"name": "synthetic", "platform": "greenbatch_synthetic",
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, -1]},
                       {"name": "jpeg", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 1]},
                        {"name": "top1", "datatype": "FP32", "shape": [-1, 2]}],
            "parameters": {"max_items_per_request": max_items}}


# --- the shared read-only server: curl, keep-alive, bad input, the parser ------------------------

class SharedServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = start_server(cls, "--model", "synthetic", "--policy", "greedy:8",
                                  "--meter", "modelled:idle=10,busy=50", "--max-body", str(MAX_BODY),
                                  "--max-items", str(MAX_ITEMS))
        cls.port = cls.server.port

    def assert_error(self, status, headers, body, expected):
        self.assertEqual(status, expected, body)
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), headers)
        doc = json.loads(body)
        self.assertIsInstance(doc.get("error"), str, doc)
        self.assertTrue(doc["error"], doc)
        return doc["error"]

    def curl(self, path, *extra):
        url = f"http://127.0.0.1:{self.port}{path}"
        p = subprocess.run([CURL, "-sS", "--max-time", str(int(TIMEOUT)), "-w", "\n%{http_code}", *extra, url],
                           capture_output=True, timeout=TIMEOUT + 5)
        self.assertEqual(p.returncode, 0, p.stderr)
        body, _, code = p.stdout.decode("utf-8").rpartition("\n")
        return int(code), body

    def test_curl_endpoints_golden(self):
        self.assertEqual(self.server.name, "synthetic")
        self.assertEqual(self.curl("/v2/health/live"), (200, '{"live":true}'))
        self.assertEqual(self.curl("/v2/health/ready"), (200, '{"ready":true}'))
        code, body = self.curl("/v2/models/synthetic/ready")
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body), {"name": "synthetic", "ready": True})

        code, body = self.curl("/v2")
        self.assertEqual(code, 200)
        doc = json.loads(body)
        self.assertEqual(set(doc), {"name", "version", "extensions", "greenbatch"})
        # What is served (a client such as greenbatch load records it).
        self.assertEqual((doc["greenbatch"]["model"], doc["greenbatch"]["policy"]),
                         ("synthetic:base=0s,per_item=0s", "greedy:8"))
        self.assertIsInstance(doc["greenbatch"]["backend"], dict)
        self.assertEqual(doc["name"], "greenbatch")
        self.assertEqual(doc["extensions"], ["binary_tensor_data"])
        self.assertIsInstance(doc["version"], str)
        self.assertTrue(doc["version"])

        code, body = self.curl("/v2/models/synthetic")
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body), model_metadata(MAX_ITEMS))
        code, body = self.curl("/v2/models/synthetic/versions/1")
        self.assertEqual((code, json.loads(body)), (200, model_metadata(MAX_ITEMS)))

        request = json.dumps(fp32_request(2, request_id="golden-1"))
        code, body = self.curl("/v2/models/synthetic/infer", "-X", "POST", "-H", "Content-Type: application/json",
                               "--data-binary", request)
        self.assertEqual(code, 200, body)
        self.assertEqual(json.loads(body), {
            "model_name": "synthetic", "id": "golden-1",
            "outputs": [{"name": "logits", "datatype": "FP32", "shape": [2, 1], "data": [0.0, 0.0]}]})

    def test_keep_alive_json_binary_and_jpeg(self):
        before = value(self.port, "greenbatch_inferences_total", model="synthetic")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        self.addCleanup(conn.close)
        items = 0

        # JSON, logits (the default) and top1, nested data too.
        status, _, body = infer_json(self.port, fp32_request(3, width=4), conn)
        self.assertEqual(status, 200, body)
        sock = conn.sock
        self.assertIsNotNone(sock, "the server closed a keep-alive connection")
        doc = json.loads(body)
        self.assertNotIn("id", doc)
        self.assertEqual(doc["outputs"], [{"name": "logits", "datatype": "FP32", "shape": [3, 1],
                                           "data": [0.0, 0.0, 0.0]}])
        items += 3
        status, _, body = infer_json(self.port, fp32_request(2, request_id="t", outputs=["top1", "logits"]), conn)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"model_name": "synthetic", "id": "t", "outputs": [
            {"name": "top1", "datatype": "FP32", "shape": [2, 2], "data": [0.0, 1.0, 0.0, 1.0]},
            {"name": "logits", "datatype": "FP32", "shape": [2, 1], "data": [0.0, 0.0]}]})
        items += 2
        nested = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 2, 2],
                              "data": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]}], "outputs": [{"name": "top1"}]}
        status, _, body = infer_json(self.port, nested, conn)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["outputs"][0]["data"], [0.0, 1.0, 0.0, 1.0])
        items += 2

        # Triton's binary tensor data: an FP32 input in binary, both outputs in binary.
        header = json.dumps({"id": "bin", "inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3],
                                                      "parameters": {"binary_data_size": 24}}],
                             "outputs": [{"name": "logits", "parameters": {"binary_data": True}},
                                         {"name": "top1", "parameters": {"binary_data": True}}]}).encode()
        payload = header + struct.pack("<6f", 1, 2, 3, 4, 5, 6)
        status, headers, body = exchange(self.port, "POST", "/v2/models/synthetic/infer", payload,
                                         {"Content-Type": "application/octet-stream",
                                          "Inference-Header-Content-Length": str(len(header))}, conn)
        self.assertEqual(status, 200, body)
        self.assertIs(conn.sock, sock, "the connection was not kept alive")
        h = int(headers["inference-header-content-length"])
        doc = json.loads(body[:h])
        self.assertEqual(doc["id"], "bin")
        self.assertEqual([(o["name"], o["datatype"], o["shape"], o["parameters"]["binary_data_size"])
                          for o in doc["outputs"]], [("logits", "FP32", [2, 1], 8), ("top1", "FP32", [2, 2], 16)])
        self.assertTrue(all("data" not in o for o in doc["outputs"]), doc)
        self.assertEqual(len(body), h + 24)
        self.assertEqual(struct.unpack("<2f", body[h:h + 8]), (0.0, 0.0))
        self.assertEqual(struct.unpack("<4f", body[h + 8:]), (0.0, 1.0, 0.0, 1.0))
        items += 2

        # BYTES: base64 JPEGs in JSON, and raw JPEGs as binary tensor data.
        jpegs = [image("chelsea.jpg"), image("coffee.jpg")]
        doc = {"id": "jpeg", "inputs": [{"name": "jpeg", "datatype": "BYTES", "shape": [2],
                                         "data": [base64.b64encode(j).decode() for j in jpegs]}],
               "outputs": [{"name": "top1"}]}
        status, _, body = infer_json(self.port, doc, conn)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"model_name": "synthetic", "id": "jpeg", "outputs": [
            {"name": "top1", "datatype": "FP32", "shape": [2, 2], "data": [0.0, 1.0, 0.0, 1.0]}]})
        items += 2
        raw = b"".join(struct.pack("<I", len(j)) + j for j in jpegs)
        header = json.dumps({"inputs": [{"name": "jpeg", "datatype": "BYTES", "shape": [2, 1],
                                         "parameters": {"binary_data_size": len(raw)}}]}).encode()
        status, headers, body = exchange(self.port, "POST", "/v2/models/synthetic/infer", header + raw,
                                         {"Inference-Header-Content-Length": str(len(header))}, conn)
        self.assertEqual(status, 200, body)
        self.assertNotIn("inference-header-content-length", headers)
        self.assertEqual(json.loads(body)["outputs"][0]["data"], [0.0, 0.0])
        items += 2

        # A raw image/jpeg body: one item.
        status, headers, body = exchange(self.port, "POST", "/v2/models/synthetic/infer",
                                         image("rocket_portrait.jpg"), {"Content-Type": "image/jpeg"}, conn)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"model_name": "synthetic", "outputs": [
            {"name": "logits", "datatype": "FP32", "shape": [1, 1], "data": [0.0]}]})
        items += 1
        self.assertIs(conn.sock, sock, "the connection was not kept alive")

        self.assertEqual(value(self.port, "greenbatch_inferences_total", model="synthetic") - before, items)

    def test_bad_requests(self):
        before = requests_by_code(self.port)
        infer = "/v2/models/synthetic/infer"
        js = {"Content-Type": "application/json"}
        expected = {}

        def check(code, method, path, body=None, headers=None):
            status, h, data = exchange(self.port, method, path, body, headers)
            message = self.assert_error(status, h, data, code)
            expected[str(code)] = expected.get(str(code), 0) + 1
            return message

        check(400, "POST", infer, b'{"inputs": [', js)
        check(400, "POST", infer, b"", js)
        check(400, "POST", infer, json.dumps({"inputs": [{"name": "x", "datatype": "INT64", "shape": [1, 3],
                                                          "data": [1, 2, 3]}]}).encode(), js)
        check(400, "POST", infer, json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [0, 3],
                                                          "data": []}]}).encode(), js)
        check(400, "POST", infer, json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3],
                                                          "data": [1, 2, 3]}]}).encode(), js)
        check(400, "POST", infer, json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3],
                                                          "data": [1, 2, 3]}],
                                              "outputs": [{"name": "nope"}]}).encode(), js)
        # BYTES that are not a JPEG, and a JPEG marker followed by garbage (fails in the decoder).
        for blob in (b"definitely not a jpeg", b"\xff\xd8" + bytes(range(256)) * 4):
            doc = {"inputs": [{"name": "jpeg", "datatype": "BYTES", "shape": [1],
                               "data": [base64.b64encode(blob).decode()]}]}
            check(400, "POST", infer, json.dumps(doc).encode(), js)
            check(400, "POST", infer, blob, {"Content-Type": "image/jpeg"})
        check(400, "POST", infer, json.dumps({"inputs": [{"name": "jpeg", "datatype": "BYTES", "shape": [1],
                                                          "data": ["not base64!"]}]}).encode(), js)
        # A binary-extension header longer than the body.
        check(400, "POST", infer, b"{}", {"Inference-Header-Content-Length": "100"})

        self.assertIn("nope", check(404, "POST", "/v2/models/nope/infer", json.dumps(fp32_request(1)).encode(), js))
        check(404, "GET", "/v2/models/nope")
        check(404, "GET", "/v2/models/nope/ready")
        check(404, "GET", "/v3")
        check(404, "GET", "/v2/models/synthetic/predict")

        check(405, "GET", infer)
        check(405, "POST", "/v2/health/live", b"")
        check(405, "DELETE", "/metrics")
        check(405, "PUT", "/v2/models/synthetic", b"{}", js)

        check(413, "POST", infer, json.dumps(fp32_request(MAX_ITEMS + 1, width=1)).encode(), js)
        # A whole body over --max-body, from curl (which waits for the answer to its "Expect:
        # 100-continue" before sending the body: the server answers 413 at the headers and closes).
        with tempfile.NamedTemporaryFile(prefix="gb-big-") as big:
            big.write(b" " * (MAX_BODY + 1))
            big.flush()
            code, text = self.curl(infer, "-H", "Content-Type: application/json", "-H", "Expect: 100-continue",
                                   "--data-binary", "@" + big.name)
        self.assertEqual(code, 413, text)
        self.assertIn("--max-body", json.loads(text)["error"])
        expected["413"] = expected.get("413", 0) + 1
        # A client that sends the whole oversize body at once (no 100-continue), as Python's
        # http.client does: the server reads and discards the rest after its answer, so the client
        # reads the 413 instead of a connection reset.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            conn.request("POST", infer, body=b" " * (5 * MAX_BODY), headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            self.assert_error(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read(), 413)
            expected["413"] += 1
        finally:
            conn.close()
        # Only the headers of a body over --max-body: refused before it is sent.
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as s:
            s.sendall(f"POST {infer} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode())
            r = http.client.HTTPResponse(s)
            r.begin()
            self.assert_error(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read(), 413)
            expected["413"] += 1

        # The server still works, and /metrics counts every refusal by its code.
        status, _, body = infer_json(self.port, fp32_request(1))
        self.assertEqual(status, 200, body)
        after = requests_by_code(self.port)
        for code in ("400", "404", "405", "413"):
            self.assertEqual(after.get(code, 0) - before.get(code, 0), expected[code], code)

    def test_metrics_parse(self):
        status, _, body = infer_json(self.port, fp32_request(2))
        self.assertEqual(status, 200, body)
        fams = families(metrics_text(self.port))
        want = {
            "greenbatch_requests": "counter", "greenbatch_inferences": "counter",
            "greenbatch_request_duration_seconds": "histogram", "greenbatch_queue_wait_seconds": "histogram",
            "greenbatch_batch_size": "histogram", "greenbatch_batches": "counter", "greenbatch_queue_depth": "gauge",
            "greenbatch_energy_joules": "counter", "greenbatch_power_watts": "gauge",
            "greenbatch_idle_power_watts": "gauge", "greenbatch_energy_per_inference_joules": "gauge",
        }
        for name, kind in want.items():
            self.assertIn(name, fams)
            self.assertEqual(fams[name].type, kind, name)
        self.assertEqual(next(s.value for s in fams["greenbatch_idle_power_watts"].samples), 10.0)
        self.assertGreater(next(s.value for s in fams["greenbatch_energy_joules"].samples), 0.0)
        per_inference = fams["greenbatch_energy_per_inference_joules"].samples
        self.assertTrue(per_inference)
        self.assertTrue(all({"window", "kind"} <= set(s.labels) for s in per_inference), per_inference)
        hist = {s.name: s for s in fams["greenbatch_batch_size"].samples if "le" not in s.labels}
        self.assertGreaterEqual(hist["greenbatch_batch_size_count"].value, 1)
        self.assertTrue(any(s.labels == {"model": "synthetic", "code": "200"}
                            for s in fams["greenbatch_requests"].samples))


# --- a slow model: overload, and clients that vanish ---------------------------------------------

class SlowServerTest(unittest.TestCase):
    SERVICE_S = 0.3

    @classmethod
    def setUpClass(cls):
        cls.server = start_server(cls, "--model", "synthetic:base=300ms,per_item=0s", "--policy", "fixed:1",
                                  "--max-queue", "2", "--meter", "none")
        cls.port = cls.server.port

    def drained(self):
        wait_until("an empty queue", lambda: value(self.port, "greenbatch_queue_depth") == 0, timeout=10)

    def test_overload_is_refused_at_once(self):
        self.drained()
        before = requests_by_code(self.port)
        n = 6
        barrier = threading.Barrier(n, timeout=TIMEOUT)
        results = [None] * n
        body = json.dumps(fp32_request(1)).encode()

        def client(k):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
                try:
                    conn.connect()
                    barrier.wait()
                    t0 = time.monotonic()
                    conn.request("POST", "/v2/models/synthetic/infer", body, {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    data = r.read()
                    results[k] = (r.status, time.monotonic() - t0, data)
                finally:
                    conn.close()
            except Exception as e:  # reported below
                results[k] = ("exception", 0.0, repr(e))

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=3 * TIMEOUT)
        self.assertFalse(any(t.is_alive() for t in threads), "a client hung")
        codes = [r[0] for r in results]
        ok = [r for r in results if r[0] == 200]
        refused = [r for r in results if r[0] == 503]
        self.assertEqual(len(ok) + len(refused), n, results)
        # One batch of one runs at a time and two items may wait: 2 or 3 are served.
        self.assertIn(len(ok), (2, 3), codes)
        for status, elapsed, data in refused:
            self.assertLess(elapsed, 0.2, "a 503 must come at once, not after a batch")
            self.assertIn("queue is full", json.loads(data)["error"])
        for status, elapsed, data in ok:
            self.assertGreaterEqual(elapsed, self.SERVICE_S * 0.95)
            self.assertEqual(json.loads(data)["outputs"][0]["data"], [0.0])
        self.assertEqual(self.server.proc.poll(), None)
        self.drained()
        status, _, data = infer_json(self.port, fp32_request(1))
        self.assertEqual(status, 200, data)
        after = requests_by_code(self.port)
        self.assertEqual(after.get("503", 0) - before.get("503", 0), len(refused))

    def test_clients_that_vanish(self):
        self.drained()
        before = requests_by_code(self.port)
        inferences = value(self.port, "greenbatch_inferences_total", model="synthetic")

        # Headers saying 1000 bytes, then 10 of them, then gone.
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as s:
            s.sendall(b"POST /v2/models/synthetic/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n" + b'{"inputs":')
        # A whole request to the slow model, closed before its answer.
        body = json.dumps(fp32_request(1)).encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as s:
            s.sendall(b"POST /v2/models/synthetic/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            time.sleep(0.1)  # read and running (fixed:1), a third of the way through its batch
        t_closed = time.monotonic()

        # The server answers others meanwhile, and the abandoned batch completes.
        status, _, data = exchange(self.port, "GET", "/v2/health/live")
        self.assertEqual((status, data), (200, b'{"live":true}'))
        wait_until("the abandoned request's inference",
                   lambda: value(self.port, "greenbatch_inferences_total", model="synthetic") >= inferences + 1,
                   timeout=5)
        self.assertLess(time.monotonic() - t_closed, 5)
        status, _, data = infer_json(self.port, fp32_request(2, request_id="after"))
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)["id"], "after")
        self.assertEqual(value(self.port, "greenbatch_inferences_total", model="synthetic"), inferences + 3)
        self.assertIsNone(self.server.proc.poll())
        # The half-sent request was never answered (nor counted as an error).
        after = requests_by_code(self.port)
        for code in ("400", "413", "500"):
            self.assertEqual(after.get(code, 0), before.get(code, 0), code)

    def test_metrics_without_meter_have_no_energy(self):
        fams = families(metrics_text(self.port))
        for name in ("greenbatch_requests", "greenbatch_inferences", "greenbatch_request_duration_seconds",
                     "greenbatch_queue_wait_seconds", "greenbatch_batch_size", "greenbatch_batches",
                     "greenbatch_queue_depth"):
            self.assertIn(name, fams)
        for name in fams:
            self.assertNotIn("energy", name)
            self.assertNotIn("power", name)


# --- SIGTERM with requests in flight -------------------------------------------------------------

class SigtermTest(unittest.TestCase):
    def test_sigterm_answers_what_was_accepted(self):
        out_dir = tempfile.mkdtemp(prefix="gb-serve-test-")
        self.addCleanup(shutil.rmtree, out_dir, True)
        server = Server("--model", "synthetic", "--policy", "fixed:8", "--meter", "none", out_dir=out_dir)
        self.addCleanup(server.stop)
        server.wait_ready()
        port = server.port
        results = [None] * 3

        def client(k):
            try:
                status, _, data = infer_json(port, fp32_request(1, request_id=f"r{k}"))
                results[k] = (status, data)
            except Exception as e:  # reported below
                results[k] = ("exception", repr(e))

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(3)]
        for t in threads:
            t.start()
        wait_until("3 items in the queue", lambda: value(port, "greenbatch_queue_depth") == 3, timeout=10)
        self.assertTrue(all(r is None for r in results), results)  # fixed:8 never fills
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(timeout=TIMEOUT)
        self.assertFalse(any(t.is_alive() for t in threads), results)
        for k, (status, data) in enumerate(results):
            self.assertEqual(status, 200, data)
            doc = json.loads(data)
            self.assertEqual(doc["id"], f"r{k}")
            self.assertEqual(doc["outputs"][0]["data"], [0.0])
        self.assertEqual(server.proc.wait(timeout=10), 0, server.stderr_text())
        self.assertLess(time.monotonic() - t0, 10)
        with open(os.path.join(out_dir, "runs.jsonl"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1, lines)
        rec = json.loads(lines[0])
        self.assertEqual(rec["mode"], "serve")
        self.assertEqual(rec["requests"], 3)
        self.assertEqual(rec["completed"], 3)
        self.assertIn("latency_s", rec)
        self.assertIn("energy", rec)


class AdaptivePolicyTest(unittest.TestCase):
    """The learning policy behind the server: it learns its service times from the server's own
    batches, and holds a request no longer than its target allows."""

    def test_adaptive_serves_within_its_target(self):
        out_dir = tempfile.mkdtemp(prefix="gb-serve-test-")
        self.addCleanup(shutil.rmtree, out_dir, True)
        server = Server("--model", "synthetic:base=5ms,per_item=1ms", "--policy", "adaptive:p99=300ms",
                        "--meter", "none", out_dir=out_dir)
        self.addCleanup(server.stop)
        server.wait_ready()
        for k in range(12):
            t0 = time.monotonic()
            status, _, data = infer_json(server.port, fp32_request(1, request_id=f"a{k}"))
            self.assertEqual(status, 200, data)
            self.assertEqual(json.loads(data)["id"], f"a{k}")
            # Alone, a request waits for company at most 0.95 x 300 ms less the service time.
            self.assertLess(time.monotonic() - t0, 2.0)
        server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(server.proc.wait(timeout=10), 0, server.stderr_text())
        with open(os.path.join(out_dir, "runs.jsonl"), encoding="utf-8") as f:
            rec = json.loads(f.read().splitlines()[0])
        self.assertEqual(rec["policy"], "adaptive:p99=300ms")
        self.assertEqual(rec["completed"], 12)
        # Each waits at most about 285 ms less S(2), then runs ~6 ms: the target, with room for a
        # late timer on a loaded machine (sanitizer builds).
        self.assertLessEqual(rec["latency_s"]["max"], 0.450)
        # The first request is served alone at once (nothing learned yet); later ones wait.
        self.assertGreater(rec["latency_s"]["p50"], 0.1)


# --- a real Prometheus scraping the server -------------------------------------------------------

class PrometheusTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gb-serve-prom-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.server = Server("--model", "synthetic:base=20ms,per_item=0s", "--policy", "fixed:1",
                             "--meter", "modelled:idle=0,busy=50", out_dir=self.dir)
        self.addCleanup(self.server.stop)
        self.server.wait_ready()
        self.prom = None
        self.prom_log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.addCleanup(self.prom_log.close)
        for _ in range(3):  # a free port may be taken before Prometheus binds it
            if self.start_prometheus():
                return
        self.fail("Prometheus did not start: " + self.log())

    def log(self):
        with open(self.prom_log.name, encoding="utf-8", errors="replace") as f:
            return f.read()[-3000:]

    def start_prometheus(self):
        self.prom_port = free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w", encoding="utf-8") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: greenbatch\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{self.server.port}']\n")
        tsdb = tempfile.mkdtemp(prefix="tsdb-", dir=self.dir)
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
                                 f"--web.listen-address=127.0.0.1:{self.prom_port}", "--log.level=warn"],
                                stdout=self.prom_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addCleanup(stop_process, proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if exchange(self.prom_port, "GET", "/-/ready")[0] == 200:
                    self.prom = proc
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        stop_process(proc)
        return False

    def query(self, q):
        status, _, body = exchange(self.prom_port, "GET", "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual(doc["status"], "success", doc)
        return doc["data"]

    def scrapes(self):
        """The timestamps of the scrapes of the last minute (each a sample of `up`), and their values."""
        data = self.query('up{job="greenbatch"}[1m]')
        if not data["result"]:
            return []
        return [(float(t), v) for t, v in data["result"][0]["values"]]

    def vector(self, q):
        return {frozenset(r["metric"].items()) - {("__name__", r["metric"].get("__name__"))}: float(r["value"][1])
                for r in self.query(q)["result"]}

    def test_prometheus_agrees_with_metrics(self):
        port = self.server.port
        for k in range(5):
            status, _, data = infer_json(port, fp32_request(1))
            self.assertEqual(status, 200, data)
        status, _, data = infer_json(port, {"inputs": []})
        self.assertEqual(status, 400, data)
        t_last = time.time()

        # Two scrapes after the last request, then act right after a fresh scrape (1 s before the next).
        wait_until("two scrapes after the last request",
                   lambda: len([t for t, _ in self.scrapes() if t > t_last]) >= 2, timeout=15, interval=0.1)
        n = len(self.scrapes())
        wait_until("a fresh scrape", lambda: len(self.scrapes()) > n, timeout=5, interval=0.02)
        seen = self.scrapes()
        self.assertTrue(all(v == "1" for _, v in seen), seen)  # every scrape parsed and succeeded
        prom_requests = self.vector("greenbatch_requests_total")
        prom_energy = self.vector("greenbatch_energy_joules_total")
        prom_inferences = self.vector("greenbatch_inferences_total")
        now = samples(metrics_text(port))
        self.assertEqual(len(self.scrapes()), len(seen), "a scrape came in between: too slow a machine?")

        labels = {"instance": f"127.0.0.1:{port}", "job": "greenbatch"}

        def key(**extra):
            return frozenset({**labels, **extra}.items())

        server_requests = {code: v for (name, ls), v in now.items() if name == "greenbatch_requests_total"
                           for code in [dict(ls)["code"]]}
        self.assertEqual(set(prom_requests), {key(model="synthetic", code=c) for c in server_requests})
        self.assertEqual(prom_requests[key(model="synthetic", code="400")], server_requests["400"])
        self.assertEqual(server_requests["400"], 1)
        # Scrapes and health checks are not counted: Prometheus' copy equals the server's.
        self.assertEqual(prom_requests[key(model="synthetic", code="200")], server_requests["200"])
        self.assertEqual(prom_inferences, {key(model="synthetic"): 5.0})
        self.assertEqual(now[("greenbatch_inferences_total", frozenset({"model": "synthetic"}.items()))], 5.0)

        energy = now[("greenbatch_energy_joules_total", frozenset())]
        self.assertGreater(energy, 0.0)
        self.assertEqual(set(prom_energy), {key()})
        self.assertTrue(math.isclose(prom_energy[key()], energy, rel_tol=1e-9, abs_tol=0.0),
                        (prom_energy, energy))


def main():
    global GREENBATCH, SOURCE_DIR
    if len(sys.argv) < 3:
        sys.exit("usage: serve_cli_test.py GREENBATCH_BINARY SOURCE_DIR [unittest arguments]")
    GREENBATCH, SOURCE_DIR = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], *sys.argv[3:]], verbosity=2)


if __name__ == "__main__":
    main()
