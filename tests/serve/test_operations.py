"""Operations of `tandem serve`: dynamic batching (results equal unbatched ones, the metrics
show the batches), a full queue answers at once, per-request deadlines, metrics in both
Prometheus dialects, the access log, and graceful shutdown on SIGTERM.

    /usr/bin/python3 test_operations.py PATH/TO/tandem
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import numpy as np

from make_models import half_plus, save
from serve_util import Server

TANDEM = None


def metric(text, name, labels=""):
    """Sum of the samples of `name` whose label set contains `labels`."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([^{ ]+)(\{[^}]*\})? (\S+)$", line)
        if m and m.group(1) == name and labels in (m.group(2) or ""):
            total += float(m.group(3))
            found = True
    if not found:
        raise AssertionError(f"no sample {name}{{{labels}}} in\n{text}")
    return total


class Batching(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        base = os.path.join(cls.tmp.name, "mlp")
        os.makedirs(os.path.join(base, "1"))
        subprocess.run([TANDEM, "export", "--model", "mlp", "--random-weights", "--dynamic-batch",
                        "--out", os.path.join(base, "1", "model.onnx")], check=True, capture_output=True)
        params = os.path.join(cls.tmp.name, "batching.config")
        with open(params, "w") as f:
            f.write("max_batch_size { value: 32 }\nbatch_timeout_micros { value: 20000 }\n"
                    "num_batch_threads { value: 1 }\nmax_enqueued_batches { value: 1000 }\n")
        cls.server = Server(TANDEM, ["--model_name", "mlp", "--model_base_path", base, "--enable_batching",
                                     "--batching_parameters_file", params, "--rest_api_num_threads", "2",
                                     "--file_system_poll_wait_seconds", "0"])

    @classmethod
    def tearDownClass(cls):
        code, _ = cls.server.stop()
        cls.tmp.cleanup()
        assert code == 0

    def test_64_concurrent_clients_are_batched_and_answers_equal_unbatched(self):
        rng = np.random.default_rng(1)
        clients, per_client = 64, 4
        xs = rng.standard_normal((clients, per_client, 1, 1, 28, 28)).astype(np.float32)
        # The unbatched answers: one request at a time, each a batch of one.
        ref = np.zeros((clients, per_client, 10), dtype=np.float32)
        for c in range(clients):
            for k in range(per_client):
                status, out = self.server.json("/v1/models/mlp:predict", {"instances": xs[c, k].tolist()})
                self.assertEqual(status, 200, out)
                ref[c, k] = out["predictions"][0]
        before = self.server.request("/metrics")[2].decode()
        tfs_before = self.server.request("/monitoring/prometheus/metrics")[2].decode()
        got = np.zeros_like(ref)
        errors = []

        def client(c):
            for k in range(per_client):
                status, out = self.server.json("/v1/models/mlp:predict", {"instances": xs[c, k].tolist()})
                if status != 200:
                    errors.append(out)
                    return
                got[c, k] = out["predictions"][0]

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        # Batches sum in another order than single rows only where the kernels block by rows.
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
        after = self.server.request("/metrics")[2].decode()
        rows = metric(after, "nv_inference_count") - metric(before, "nv_inference_count")
        execs = metric(after, "nv_inference_exec_count") - metric(before, "nv_inference_exec_count")
        self.assertEqual(rows, clients * per_client)
        self.assertGreater(rows / execs, 8, f"average batch {rows / execs:.1f}")
        tfs = self.server.request("/monitoring/prometheus/metrics")[2].decode()
        name = ":tensorflow:serving:batching_session:processed_batch_size"
        size_sum = metric(tfs, name + "_sum") - metric(tfs_before, name + "_sum")
        size_count = metric(tfs, name + "_count") - metric(tfs_before, name + "_count")
        self.assertEqual(size_sum, clients * per_client)
        self.assertGreater(size_sum / size_count, 8)
        self.assertGreaterEqual(metric(tfs, ":tensorflow:serving:request_count", 'model_name="mlp",status="OK"'),
                                2 * clients * per_client)
        self.assertGreater(metric(tfs, ":tensorflow:serving:request_latency_count", 'API="predict"'), 0)
        self.assertGreater(metric(tfs, ":tensorflow:serving:runtime_latency_count", 'model_name="mlp"'), 0)

    def test_request_larger_than_max_batch_is_rejected(self):
        status, out = self.server.json("/v1/models/mlp:predict", {"instances": np.zeros((33, 1, 28, 28)).tolist()})
        self.assertEqual(status, 400)
        self.assertIn("maximum input batch size", out["error"])


class QueueAndDeadlines(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        base = os.path.join(self.tmp.name, "hp")
        save(half_plus(3.0), os.path.join(base, "1", "model.onnx"))
        params = os.path.join(self.tmp.name, "batching.config")
        with open(params, "w") as f:
            f.write("max_batch_size { value: 4 }\nbatch_timeout_micros { value: 1500000 }\n"
                    "max_enqueued_batches { value: 1 }\nallowed_batch_sizes: 2\nallowed_batch_sizes: 4\n")
        self.base = base
        self.params = params

    def tearDown(self):
        self.tmp.cleanup()

    def test_full_queue_answers_503_at_once_and_padding_keeps_results(self):
        s = Server(TANDEM, ["--model_name", "hp", "--model_base_path", self.base, "--batching_parameters_file", self.params,
                            "--file_system_poll_wait_seconds", "0", "--access_log"])
        try:
            first = {}
            t = threading.Thread(target=lambda: first.update(r=s.json("/v1/models/hp:predict", {"instances": [1.0, 2.0, 3.0]})))
            t.start()
            time.sleep(0.3)  # 3 rows wait for the batch timeout; the queue holds 4
            t0 = time.time()
            status, out = s.json("/v1/models/hp:predict", {"instances": [1.0, 2.0]})
            self.assertEqual(status, 503, out)
            self.assertIn("full", out["error"])
            self.assertLess(time.time() - t0, 1.0)
            t.join()
            # 3 rows padded to 4 (allowed_batch_sizes) and cut back to 3
            self.assertEqual(first["r"], (200, {"predictions": [3.5, 4.0, 4.5]}))
            tfs = s.request("/monitoring/prometheus/metrics")[2].decode()
            self.assertEqual(metric(tfs, ":tensorflow:serving:batching_session:padding_size_sum"), 1)
            self.assertEqual(metric(tfs, ":tensorflow:serving:request_count", 'status="UNAVAILABLE"'), 1)
        finally:
            s.stop()
        log = "".join(s.stderr_lines)
        self.assertRegex(log, r'access peer=127\.0\.0\.1 method=POST path="/v1/models/hp:predict" status=503 ')

    def test_deadline_exceeded_in_queue(self):
        s = Server(TANDEM, ["--model_name", "hp", "--model_base_path", self.base, "--batching_parameters_file", self.params,
                            "--file_system_poll_wait_seconds", "0", "--rest_api_timeout_in_ms", "200"])
        try:
            status, out = s.json("/v1/models/hp:predict", {"instances": [1.0]})
            self.assertEqual(status, 504, out)
            self.assertIn("deadline", out["error"])
        finally:
            self.assertEqual(s.stop()[0], 0)

    def test_sigterm_finishes_in_flight_requests_and_exits_0(self):
        s = Server(TANDEM, ["--model_name", "hp", "--model_base_path", self.base, "--batching_parameters_file", self.params,
                            "--file_system_poll_wait_seconds", "0"])
        results = []
        threads = [threading.Thread(target=lambda x=x: results.append(s.json("/v1/models/hp:predict", {"instances": [x]})))
                   for x in (1.0, 2.0)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # both wait in the batching queue (1.5 s timeout)
        with open(f"/proc/{s.proc.pid}/status") as f:  # the kernel's own peak RSS so far
            hwm_mb = int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024
        s.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join()
        code, out = s.stop()
        self.assertEqual(code, 0)
        self.assertEqual(sorted(r[1]["predictions"][0] for r in results), [3.5, 4.0])
        self.assertTrue(all(r[0] == 200 for r in results), results)
        self.assertIn("SIGTERM", out)
        # At exit it reports its peak memory: never below what the kernel showed while it ran.
        m = re.search(r"memory: peak RSS ([0-9.]+) MB, tensors at most ([0-9.]+) (MB|KB)", out)
        self.assertIsNotNone(m, out)
        rss, tensors = float(m.group(1)), float(m.group(2)) / (1 if m.group(3) == "MB" else 1024)
        self.assertGreaterEqual(rss, hwm_mb - 0.1)
        self.assertLess(rss, 4096)
        self.assertGreater(tensors, 0)  # the model's weights and the batch at least
        self.assertLess(tensors, rss)


if __name__ == "__main__":
    TANDEM = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
