"""Hot reload of `tandem serve` under load: a new version is copied in, a corrupt one appears,
a half-copied one completes, and clients keep getting answers all along.

    /usr/bin/python3 test_reload.py PATH/TO/tandem
"""
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

import onnx

from make_models import half_plus, save
from serve_util import Server

TANDEM = None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
POLL_S = 0.2


class Load:
    """Client threads that keep predicting x=1 and record (status, value) of every answer."""

    def __init__(self, server, threads=2):
        self.server, self.stop_flag, self.results, self.lock = server, False, [], threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stop_flag:
            status, _, body = self.server.request("/v1/models/hp:predict", {"instances": [1.0]})
            value = json.loads(body)["predictions"][0] if status == 200 else body
            with self.lock:
                self.results.append((status, value))

    def stop(self):
        self.stop_flag = True
        for t in self.threads:
            t.join()
        return self.results


class Reload(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.base = os.path.join(self.tmp.name, "hp")
        save(half_plus(3.0), os.path.join(self.base, "1", "model.onnx"))
        self.server = Server(TANDEM, ["--model_name", "hp", "--model_base_path", self.base,
                                      "--file_system_poll_wait_seconds", str(POLL_S)])

    def tearDown(self):
        code, _ = self.server.stop()
        self.tmp.cleanup()
        self.assertEqual(code, 0)

    def status(self):
        _, out = self.server.json("/v1/models/hp")
        return {int(v["version"]): v for v in out["model_version_status"]}

    def wait_for(self, pred, timeout):
        t0 = time.time()
        while time.time() - t0 < timeout:
            st = self.status()
            if pred(st):
                return time.time() - t0
            time.sleep(0.02)
        self.fail(f"timed out; status {self.status()}")

    def copy_in(self, model, version, chunks=4, pause=0.05):
        """Writes model.onnx into a new version folder in pieces, as a slow copy would."""
        data = model.SerializeToString()
        d = os.path.join(self.base, str(version))
        os.makedirs(d)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            step = (len(data) + chunks - 1) // chunks
            for i in range(0, len(data), step):
                f.write(data[i:i + step])
                f.flush()
                time.sleep(pause)

    def test_new_version_corrupt_version_and_half_copy_under_load(self):
        load = Load(self.server)
        time.sleep(0.3)
        # version 2 (y = 0.5 x + 2) is copied in while clients send
        t0 = time.time()
        self.copy_in(half_plus(2.0), 2)
        took = self.wait_for(lambda st: st.get(2, {}).get("state") == "AVAILABLE", 10)
        self.assertLess(time.time() - t0, POLL_S + 3.0, "version 2 took too long to become available")
        self.wait_for(lambda st: st[1]["state"] == "END", 5)
        time.sleep(0.3)
        # version 3 is corrupt: reported as failed, version 2 keeps serving
        d3 = os.path.join(self.base, "3")
        os.makedirs(d3)
        with open(os.path.join(d3, "model.onnx"), "wb") as f:
            f.write(b"\x08\x07this is not a model" * 50)
        self.wait_for(lambda st: 3 in st and st[3]["state"] == "END" and st[3]["status"]["error_code"] != "OK", 5)
        st = self.status()
        self.assertEqual(st[2]["state"], "AVAILABLE")
        self.assertIn("model.onnx", st[3]["status"]["error_message"])
        time.sleep(0.5)
        results = load.stop()
        failed = [r for r in results if r[0] != 200]
        self.assertEqual(failed, [], "requests failed during the reload")
        values = [v for _, v in results]
        self.assertIn(3.5, values)
        self.assertIn(2.5, values)
        # once version 2 served, version 1 never answered again (the swap is one-way)
        first2 = values.index(2.5)
        self.assertNotIn(3.5, values[first2 + 4:])  # the other thread may finish one v1 request
        self.assertEqual(values[-1], 2.5)

    def test_half_copied_version_is_retried_once_complete(self):
        data = half_plus(7.0).SerializeToString()
        d4 = os.path.join(self.base, "4")
        os.makedirs(d4)
        with open(os.path.join(d4, "model.onnx"), "wb") as f:
            f.write(data[: len(data) // 2])
        self.wait_for(lambda st: 4 in st and st[4]["status"]["error_code"] != "OK", 5)
        self.assertEqual(self.server.json("/v1/models/hp:predict", {"instances": [1.0]}), (200, {"predictions": [3.5]}))
        with open(os.path.join(d4, "model.onnx"), "wb") as f:
            f.write(data)
        self.wait_for(lambda st: st[4]["state"] == "AVAILABLE", 5)
        self.assertEqual(self.server.json("/v1/models/hp:predict", {"instances": [1.0]}), (200, {"predictions": [7.5]}))


    def test_unloaded_versions_return_their_memory(self):
        # Each version holds a 16 MB weight. After five swaps RSS is back within 10% of what it
        # was with one version loaded: an unloaded version's memory goes back to the OS.
        floats = 4 << 20
        save(half_plus(10.0, floats), os.path.join(self.base, "10", "model.onnx"))
        self.wait_for(lambda st: st.get(10, {}).get("state") == "AVAILABLE", 10)
        self.server.json("/v1/models/hp:predict", {"instances": [1.0]})
        before = rss_kib(self.server.proc.pid)
        for v in range(11, 16):
            save(half_plus(float(v), floats), os.path.join(self.base, str(v), "model.onnx"))
            self.wait_for(lambda st: st.get(v, {}).get("state") == "AVAILABLE" and st[v - 1]["state"] == "END", 10)
            self.assertEqual(self.server.json("/v1/models/hp:predict", {"instances": [2.0]}), (200, {"predictions": [v + 1.0]}))
        after = rss_kib(self.server.proc.pid)
        self.assertLess(after, before * 1.10, f"RSS {before} KiB -> {after} KiB after five reloads")


if __name__ == "__main__":
    TANDEM = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
