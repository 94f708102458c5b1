"""`tandem serve` on a tandem run directory: a version folder holding the model.safetensors that
`tandem train` wrote is served like a model.onnx. Predictions are checked against a NumPy forward
pass of the MLP computed from the same weights file, read here with the safetensors layout
(8-byte header length, JSON header, raw little-endian data).

    /usr/bin/python3 test_run_directory.py PATH/TO/tandem
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

from serve_util import Server

TANDEM = None


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(e["shape"])
    return header.get("__metadata__", {}), out


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        raw = np.ascontiguousarray(t, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def mlp_forward(w, x):
    h = x.reshape(x.shape[0], -1)
    h = np.maximum(h @ w["fc1.weight"].T + w["fc1.bias"], 0)
    h = np.maximum(h @ w["fc2.weight"].T + w["fc2.bias"], 0)
    return h @ w["fc3.weight"].T + w["fc3.bias"]


class RunDirectory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        run = os.path.join(cls.tmp.name, "run")
        subprocess.run([TANDEM, "train", "--model", "mlp", "--epochs", "1", "--train-limit", "512",
                        "--test-limit", "64", "--no-progress", "--no-tensorboard", "--out", run],
                       check=True, capture_output=True, timeout=240)
        cls.base = os.path.join(cls.tmp.name, "mlp")
        os.makedirs(os.path.join(cls.base, "1"))
        cls.weights = os.path.join(cls.base, "1", "model.safetensors")
        shutil.copy(os.path.join(run, "model.safetensors"), cls.weights)
        cls.server = Server(TANDEM, ["--model_name", "mlp", "--model_base_path", cls.base,
                                     "--file_system_poll_wait_seconds", "1"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.cleanup()

    def test_predictions_equal_numpy_forward_of_the_weights(self):
        meta, w = read_safetensors(self.weights)
        self.assertEqual(meta.get("model"), "mlp")
        x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
        status, out = self.server.json("/v1/models/mlp:predict", {"instances": x.tolist()})
        self.assertEqual(status, 200, out)
        got = np.array(out["predictions"], dtype=np.float32)
        np.testing.assert_allclose(got, mlp_forward(w, x), rtol=1e-4, atol=1e-4)
        # the signature shows the dynamic batch of the export
        status, md = self.server.json("/v1/models/mlp/metadata")
        self.assertEqual(status, 200, md)
        self.assertIn("-1", json.dumps(md))

    def test_weights_without_a_zoo_name_are_a_failed_version(self):
        _, w = read_safetensors(self.weights)
        d = os.path.join(self.base, "2")
        os.makedirs(d)
        write_safetensors(os.path.join(d, "model.safetensors"), w)  # no metadata
        import time
        deadline = time.time() + 30
        while time.time() < deadline:
            status, st = self.server.json("/v1/models/mlp")
            v2 = [v for v in st.get("model_version_status", []) if v["version"] == "2"]
            if v2 and v2[0]["state"] == "END":
                break
            time.sleep(0.2)
        self.assertTrue(v2 and v2[0]["state"] == "END", st)
        self.assertIn("zoo model", v2[0]["status"]["error_message"])
        # version 1 keeps serving
        x = np.zeros((1, 1, 28, 28), dtype=np.float32)
        status, out = self.server.json("/v1/models/mlp:predict", {"instances": x.tolist()})
        self.assertEqual(status, 200, out)


if __name__ == "__main__":
    TANDEM = sys.argv.pop(1)
    unittest.main(verbosity=2)
