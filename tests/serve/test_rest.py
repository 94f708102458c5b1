"""TF Serving REST and v2 inference protocol endpoints of `tandem serve`, driven by urllib and curl.

    /usr/bin/python3 test_rest.py PATH/TO/tandem [unittest args]

Expected values are computed here from the models' definitions (make_models.py), and the
TF Serving documentation's examples are compared byte for byte.
"""
import base64
import json
import math
import os
import socket
import struct
import sys
import tempfile
import time
import unittest

import numpy as np

from serve_util import Server, make_models

TANDEM = None


class Rest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = cls.tmp.name
        make_models(root)
        cfg = os.path.join(root, "models.config")
        with open(cfg, "w") as f:
            f.write(f"""model_config_list {{
  config {{ name: 'half_plus_three' base_path: '{root}/half_plus_three' model_platform: 'onnx'
           version_labels {{ key: 'stable' value: 123 }} }}
  config {{ name: "two_io" base_path: "{root}/two_io" }}
  config {{ name: "bytes_io" base_path: "{root}/bytes_io" }}
}}
""")
        cls.server = Server(TANDEM, ["--model_config_file", cfg, "--max_body_mb", "1",
                                     "--connection_timeout_seconds", "2", "--file_system_poll_wait_seconds", "0"])

    @classmethod
    def tearDownClass(cls):
        code, _ = cls.server.stop()
        cls.tmp.cleanup()
        assert code == 0, f"tandem serve exited with {code}"

    def setUp(self):
        self.s = self.server

    def tearDown(self):
        self.assertTrue(self.s.alive(), "the server died: " + "".join(self.s.stderr_lines[-5:]))

    # ---- TF Serving's documentation examples, byte for byte
    def test_doc_model_status(self):
        self.assertEqual(self.s.curl("BASE/v1/models/half_plus_three"), """{
 "model_version_status": [
  {
   "version": "123",
   "state": "AVAILABLE",
   "status": {
    "error_code": "OK",
    "error_message": ""
   }
  }
 ]
}""")

    def test_doc_predict(self):
        out = self.s.curl("-d", '{"instances": [1.0,2.0,5.0]}', "-X", "POST", "BASE/v1/models/half_plus_three:predict")
        self.assertEqual(out, '{\n    "predictions": [3.5, 4.0, 5.5]\n}')

    def test_doc_regress(self):
        out = self.s.curl("-d", '{"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}',
                          "-X", "POST", "BASE/v1/models/half_plus_three:regress")
        self.assertEqual(out, '{\n    "results": [3.5, 4.0]\n}')

    def test_doc_not_found(self):
        out = self.s.curl("-i", "-d", '{"instances": [1.0,5.0]}', "-X", "POST", "BASE/v1/models/half:predict")
        head, body = out.split("\r\n\r\n", 1)
        self.assertTrue(head.startswith("HTTP/1.1 404 Not Found"), head)
        self.assertIn("Content-Type: application/json", head)
        self.assertEqual(body, '{ "error": "Servable not found for request: Latest(half)" }')

    # ---- predict: both request forms, both answer forms
    def test_predict_columnar_and_versions(self):
        xs = [0.25, -8.0, 1e-3]
        want = [np.float32(x) * np.float32(0.5) + np.float32(3) for x in xs]
        for path in ["/v1/models/half_plus_three:predict", "/v1/models/half_plus_three/versions/123:predict",
                     "/v1/models/half_plus_three/labels/stable:predict"]:
            status, out = self.s.json(path, {"inputs": xs})
            self.assertEqual(status, 200)
            np.testing.assert_array_equal(np.float32(out["outputs"]), want)
        status, out = self.s.json("/v1/models/half_plus_three:predict", {"inputs": {"x": xs}})
        self.assertEqual(status, 200)
        np.testing.assert_array_equal(np.float32(out["outputs"]), want)

    def test_nan_and_infinity_in_and_out(self):
        status, _, body = self.s.request("/v1/models/half_plus_three:predict", '{"instances": [NaN, Infinity, -Infinity, 1e2]}')
        self.assertEqual(status, 200)
        self.assertEqual(body.decode(), '{\n    "predictions": [NaN, Infinity, -Infinity, 53.0]\n}')

    def test_two_inputs_row_format(self):
        a = [[1.5, 2.5], [-1.0, 0.0]]
        b = [3, -4]
        status, out = self.s.json("/v1/models/two_io:predict",
                                  {"instances": [{"a": a[0], "b": b[0]}, {"a": a[1], "b": b[1]}]})
        self.assertEqual(status, 200, out)
        want_sum = np.float32(a) + np.float32(b)[:, None]
        self.assertEqual(len(out["predictions"]), 2)
        for i in range(2):
            np.testing.assert_array_equal(np.float32(out["predictions"][i]["sum"]), want_sum[i])
            self.assertEqual(out["predictions"][i]["twice"], 2 * b[i])

    def test_two_inputs_columnar_format(self):
        status, out = self.s.json("/v1/models/two_io:predict", {"inputs": {"a": [[1, 2], [3, 4], [5, 6]], "b": [10, 20, 30]}})
        self.assertEqual(status, 200, out)
        self.assertEqual(out["outputs"]["sum"], [[11.0, 12.0], [23.0, 24.0], [35.0, 36.0]])
        self.assertEqual(out["outputs"]["twice"], [20, 40, 60])

    def test_b64_bytes_in_and_out(self):
        rows = [bytes([0, 1, 2, 254]), bytes([9, 8, 7, 6])]
        inst = [{"b64": base64.b64encode(r).decode()} for r in rows]
        status, out = self.s.json("/v1/models/bytes_io:predict", {"instances": inst})
        self.assertEqual(status, 200, out)
        got = [base64.b64decode(p["b64"]) for p in out["predictions"]]
        self.assertEqual(got, [bytes((v + 1) % 256 for v in r) for r in rows])

    def test_metadata(self):
        status, out = self.s.json("/v1/models/two_io/metadata")
        self.assertEqual(status, 200)
        self.assertEqual(out["model_spec"], {"name": "two_io", "signature_name": "", "version": "1"})
        sig = out["metadata"]["signature_def"]["signature_def"]["serving_default"]
        self.assertEqual(sig["inputs"]["a"]["dtype"], "DT_FLOAT")
        self.assertEqual(sig["inputs"]["b"]["dtype"], "DT_INT64")
        self.assertEqual([d["size"] for d in sig["inputs"]["a"]["tensor_shape"]["dim"]], ["-1", "2"])
        self.assertEqual(sorted(sig["outputs"]), ["sum", "twice"])
        self.assertEqual(sig["method_name"], "tensorflow/serving/predict")

    def test_classify(self):
        status, out = self.s.json("/v1/models/two_io:classify", {"examples": [{"a": [0.5, 1.5], "b": 1}]})
        # two outputs: classify needs one, a clear 400
        self.assertEqual(status, 400)
        self.assertIn("one output", out["error"])

    # ---- errors: 4xx with a clear message, and the server stays up
    def check_error(self, path, body, status, words, **kw):
        got, _, data = self.s.request(path, body, **kw)
        self.assertEqual(got, status, data)
        msg = json.loads(data)["error"]
        for w in words:
            self.assertIn(w, msg)

    def test_errors(self):
        p = "/v1/models/half_plus_three:predict"
        self.check_error(p, '{"instances": [1.0, 2.0', 400, ["JSON Parse error"])
        self.check_error(p, '{"instances": [1.0], "inputs": [1.0]}', 400, ["instances", "inputs"])
        self.check_error(p, '{"signature_name": "nope", "instances": [1.0]}', 400, ["nope", "not found"])
        self.check_error(p, '{"instances": ["a", "b"]}', 400, ["input 'x'", "number"])
        self.check_error(p, '{"instances": [[1.0], [2.0]]}', 400, ["input 'x'", "shape"])
        self.check_error(p, '{"instances": [[1.0, 2.0], [3.0]]}', 400, ["input 'x'"])
        self.check_error(p, '{"nothing": 1}', 400, ["instances"])
        self.check_error("/v1/models/two_io:predict", '{"inputs": {"a": [[1, 2]], "b": [1.5]}}', 400, ["input 'b'", "integer"])
        self.check_error("/v1/models/two_io:predict", '{"inputs": {"a": [[1, 2]]}}', 400, ["'b'", "missing"])
        self.check_error("/v1/models/two_io:predict", '{"inputs": {"a": [[1, 2]], "b": [1], "c": [1]}}', 400, ["'c'"])
        self.check_error("/v1/models/half_plus_three/versions/7:predict", '{"instances": [1.0]}', 404,
                         ["Specific(half_plus_three, 7)"])
        self.check_error("/v1/models/half_plus_three/labels/canary:predict", '{"instances": [1.0]}', 404, ["canary"])
        self.check_error("/v1/models/nope", None, 404, ["nope"])
        self.check_error("/v1/models/half_plus_three/versions/9", None, 404, ["9"])
        self.check_error("/v1/nothing/here", None, 404, ["Malformed request"])
        self.check_error(p, '{"instances": [' + "1.0," * 300000 + '1.0]}', 413, ["larger than"])
        # and it still answers
        status, out = self.s.json(p, {"instances": [1.0]})
        self.assertEqual((status, out), (200, {"predictions": [3.5]}))

    def test_slow_client_does_not_block_others_and_is_closed(self):
        sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=10)
        sock.sendall(b"POST /v1/models/half_plus_three:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inst")
        t0 = time.time()
        status, out = self.s.json("/v1/models/half_plus_three:predict", {"instances": [2.0]})
        self.assertEqual((status, out), (200, {"predictions": [4.0]}))
        self.assertLess(time.time() - t0, 2)
        # --connection_timeout_seconds 2 closes the stalled connection
        sock.settimeout(10)
        data = b""
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        self.assertLess(time.time() - t0, 8)
        sock.close()

    # ---- Open Inference Protocol v2
    def test_v2_health_and_metadata(self):
        self.assertEqual(self.s.json("/v2/health/live"), (200, {"live": True}))
        self.assertEqual(self.s.json("/v2/health/ready"), (200, {"ready": True}))
        status, meta = self.s.json("/v2")
        self.assertEqual(status, 200)
        self.assertIn("binary_tensor_data", meta["extensions"])
        status, meta = self.s.json("/v2/models/two_io")
        self.assertEqual(status, 200)
        self.assertEqual(meta["name"], "two_io")
        self.assertEqual(meta["versions"], ["1"])
        self.assertEqual(meta["inputs"], [{"name": "a", "datatype": "FP32", "shape": [-1, 2]},
                                          {"name": "b", "datatype": "INT64", "shape": [-1]}])
        self.assertEqual(self.s.json("/v2/models/two_io/versions/1/ready"), (200, {"name": "two_io", "ready": True}))
        self.assertEqual(self.s.json("/v2/models/two_io/versions/2/ready")[0], 400)
        self.assertEqual(self.s.json("/v2/models/nope/ready")[0], 404)

    def test_v2_infer_json(self):
        req = {"id": "r1", "inputs": [{"name": "a", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]},
                                      {"name": "b", "shape": [2], "datatype": "INT64", "data": [[5], [6]][0] + [6]}]}
        status, out = self.s.json("/v2/models/two_io/infer", req)
        self.assertEqual(status, 200, out)
        self.assertEqual(out["model_name"], "two_io")
        self.assertEqual(out["model_version"], "1")
        self.assertEqual(out["id"], "r1")
        byname = {o["name"]: o for o in out["outputs"]}
        self.assertEqual(byname["sum"], {"name": "sum", "datatype": "FP32", "shape": [2, 2], "data": [6.0, 7.0, 9.0, 10.0]})
        self.assertEqual(byname["twice"], {"name": "twice", "datatype": "INT64", "shape": [2], "data": [10, 12]})
        # nested data is accepted too, and outputs can be chosen
        req["inputs"][0]["data"] = [[1, 2], [3, 4]]
        req["outputs"] = [{"name": "twice"}]
        status, out = self.s.json("/v2/models/two_io/versions/1/infer", req)
        self.assertEqual(status, 200, out)
        self.assertEqual([o["name"] for o in out["outputs"]], ["twice"])

    def binary_request(self, header, payload, length=None):
        head = json.dumps(header).encode()
        n = len(head) if length is None else length
        return self.s.request("/v2/models/two_io/infer", head + payload,
                              headers={"Inference-Header-Content-Length": str(n), "Content-Type": "application/octet-stream"})

    def test_v2_binary_tensors(self):
        a = np.array([[1.5, -2], [0.25, 8]], dtype=np.float32)
        b = np.array([3, 7], dtype=np.int64)
        header = {"inputs": [{"name": "a", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
                             {"name": "b", "shape": [2], "datatype": "INT64", "parameters": {"binary_data_size": 16}}],
                  "outputs": [{"name": "sum", "parameters": {"binary_data": True}}, {"name": "twice"}]}
        status, headers, body = self.binary_request(header, a.tobytes() + b.tobytes())
        self.assertEqual(status, 200, body)
        n = int(headers["Inference-Header-Content-Length"])
        meta = json.loads(body[:n])
        self.assertEqual(meta["outputs"][0]["parameters"], {"binary_data_size": 16})
        got = np.frombuffer(body[n:n + 16], dtype=np.float32).reshape(2, 2)
        np.testing.assert_array_equal(got, a + b[:, None].astype(np.float32))
        self.assertEqual(meta["outputs"][1]["data"], [6, 14])
        # binary_data_output for every output
        header.pop("outputs")
        header["parameters"] = {"binary_data_output": True}
        status, headers, body = self.binary_request(header, a.tobytes() + b.tobytes())
        self.assertEqual(status, 200, body)
        n = int(headers["Inference-Header-Content-Length"])
        self.assertEqual(len(body), n + 16 + 16)
        self.assertEqual(list(np.frombuffer(body[n + 16:], dtype=np.int64)), [6, 14])

    def test_v2_errors(self):
        a = np.zeros((2, 2), dtype=np.float32).tobytes()
        b = np.zeros(2, dtype=np.int64).tobytes()
        header = {"inputs": [{"name": "a", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
                             {"name": "b", "shape": [2], "datatype": "INT64", "parameters": {"binary_data_size": 16}}]}
        cases = [
            (self.binary_request(header, a + b[:8]), "truncated"),
            (self.binary_request(header, a + b + b"xx"), "bytes of binary data"),
            (self.binary_request(header, a + b, length=10**6), "larger than the body"),
            (self.binary_request(header, a + b, length=5), "JSON Parse error"),
        ]
        bad_size = json.loads(json.dumps(header))
        bad_size["inputs"][0]["parameters"]["binary_data_size"] = 12
        cases.append((self.binary_request(bad_size, a[:12] + b), "binary_data_size is 12"))
        for (status, _, body), words in cases:
            self.assertEqual(status, 400, body)
            self.assertIn(words, json.loads(body)["error"])
        json_cases = [
            ({"inputs": [{"name": "a", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]},
                         {"name": "b", "shape": [2], "datatype": "INT64", "data": [1, 2]}]}, "shape"),
            ({"inputs": [{"name": "a", "shape": [1, 2], "datatype": "STRING", "data": [1, 2]}]}, "datatype"),
            ({"inputs": [{"name": "a", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]},
                         {"name": "b", "shape": [1], "datatype": "INT64", "data": [1]}]}, "dtype"),
            ({"inputs": []}, "missing"),
            ({"inputs": [{"name": "a", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]},
                         {"name": "b", "shape": [1], "datatype": "INT64", "data": [1]}], "outputs": [{"name": "zz"}]}, "zz"),
        ]
        for req, words in json_cases:
            status, out = self.s.json("/v2/models/two_io/infer", req)
            self.assertEqual(status, 400, out)
            self.assertIn(words, out["error"])
        self.assertEqual(self.s.json("/v2/models/nope/infer", {"inputs": []})[0], 404)


if __name__ == "__main__":
    TANDEM = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
