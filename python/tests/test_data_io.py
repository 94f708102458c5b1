"""DataLoader with Python and C++ datasets, safetensors, ONNX export/import, SummaryWriter."""
import json
import os
import struct
import threading

import numpy as np
import pytest

import tandem
import tandem.nn as nn
from tandem.utils.data import DataLoader, Dataset, TensorDataset


class Squares(Dataset):
    def __init__(self, n):
        self.n = n
        self.threads = set()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.threads.add(threading.get_ident())
        return np.full((2,), i, dtype=np.float32), i * i


def test_python_dataset_batches():
    ds = Squares(10)
    batches = list(DataLoader(ds, batch_size=4))
    assert len(batches) == 3
    x, y = batches[0]
    assert x.shape == (4, 2) and x.dtype == tandem.float32
    assert y.dtype == tandem.int64 and y.tolist() == [0, 1, 4, 9]
    assert batches[2][1].tolist() == [64, 81]
    assert len(list(DataLoader(ds, batch_size=4, drop_last=True))) == 2


def test_shuffle_is_seeded_and_independent_of_workers():
    ds = Squares(20)
    runs = []
    for workers in (0, 2):
        dl = DataLoader(ds, batch_size=5, shuffle=True, seed=3, num_workers=workers)
        dl.set_epoch(1)
        runs.append([y.tolist() for _, y in dl])
    assert runs[0] == runs[1]
    flat = sorted(v for b in runs[0] for v in b)
    assert flat == [i * i for i in range(20)]
    dl = DataLoader(ds, batch_size=20, shuffle=True)
    assert next(iter(dl))[1].tolist() != next(iter(dl))[1].tolist()  # a new epoch each time


def test_dataset_errors_propagate():
    class Bad(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            if i == 2:
                raise ValueError("broken sample 2")
            return tandem.ones(1), 0

    with pytest.raises(ValueError, match="broken sample 2"):
        list(DataLoader(Bad(), batch_size=1))
    with pytest.raises(ValueError, match="broken sample 2"):
        list(DataLoader(Bad(), batch_size=1, num_workers=2))

    class Weird(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return {"x": 1}

    with pytest.raises(tandem.Error, match="collate_fn"):
        list(DataLoader(Weird()))
    got = list(DataLoader(Weird(), batch_size=2, collate_fn=lambda b: len(b)))
    assert got == [2]


def test_tensor_dataset_uses_the_cpp_path():
    x, y = tandem.arange(12, dtype=tandem.float32).reshape(6, 2), tandem.arange(6)
    ds = TensorDataset(x, y)
    assert ds._cpp is not None and len(ds) == 6
    got = [b[1].tolist() for b in DataLoader(ds, batch_size=4)]
    assert got == [[0, 1, 2, 3], [4, 5]]


def _read_safetensors_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


def test_save_load_safetensors(tmp_path):
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = tmp_path / "model.safetensors"
    tandem.save(net.state_dict(), path)
    header = _read_safetensors_header(path)
    assert header["0.weight"]["dtype"] == "F32" and header["0.weight"]["shape"] == [4, 3]
    loaded = tandem.load(path)
    assert set(loaded) == set(net.state_dict())
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    other.load_state_dict(loaded)
    x = tandem.randn(5, 3)
    assert tandem.equal(net(x), other(x))
    ckpt = {"model": net.state_dict(), "epoch": 3, "name": "run", "hist": [1.5, 2.0]}
    tandem.save(ckpt, tmp_path / "ckpt.safetensors")
    back = tandem.load(tmp_path / "ckpt.safetensors")
    assert back["epoch"] == 3 and back["name"] == "run" and back["hist"] == [1.5, 2.0]
    assert tandem.equal(back["model"]["2.bias"], net[2].bias)
    with pytest.raises(tandem.Error):
        tandem.load(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(tandem.Error):
        tandem.load(tmp_path / "bad.safetensors")


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x))).softmax(-1)


def test_onnx_export_and_import(tmp_path):
    onnx = pytest.importorskip("onnx", reason="python3-onnx is not installed")
    model = TwoLayer()
    x = tandem.randn(2, 4)
    path = str(tmp_path / "m.onnx")
    tandem.onnx.export(model, (x,), path, input_names=["x"], output_names=["p"],
                       dynamic_axes={"x": {0: "batch"}, "p": {0: "batch"}})
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["x"]
    sess = tandem.onnx.InferenceSession(path)
    x5 = tandem.randn(5, 4)
    (out,) = sess.run({"x": x5})
    with tandem.no_grad():
        ref = model(x5)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    lin = nn.Linear(3, 2)
    tandem.onnx.export(lin, tandem.randn(1, 3), str(tmp_path / "lin.onnx"))
    onnx.checker.check_model(onnx.load(str(tmp_path / "lin.onnx")))


def test_onnx_plan_summary_names_the_eager_nodes():
    # A PyTorch export with NonZero between a conv prefix and a suffix on the selected values
    # (tests/reference/gen_control_flow.py; the outputs are PyTorch's).
    case = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "onnx_flow", "torch_nonzero_many")
    sess = tandem.onnx.InferenceSession(os.path.join(case, "model.onnx"))
    picked, pooled = sess.run({"x": np.load(os.path.join(case, "input_0.npy"))})
    np.testing.assert_allclose(picked.numpy(), np.load(os.path.join(case, "output_0.npy")), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pooled.numpy(), np.load(os.path.join(case, "output_1.npy")), rtol=1e-5, atol=1e-5)
    assert sess.plan_summary().startswith("planned segments: 2 (")
    assert "eager nodes: 1: '/NonZero' (NonZero)" in sess.plan_summary()


def _records(path):
    out = []
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i:i + 8])
        out.append(data[i + 12:i + 12 + n])
        i += 12 + n + 4
    return out


def test_summary_writer(tmp_path):
    with tandem.utils.tensorboard.SummaryWriter(str(tmp_path / "run")) as w:
        for step in range(3):
            w.add_scalar("train/loss", 1.0 / (step + 1), step)
        w.add_histogram("weights", tandem.randn(100), 0)
        w.add_image("img", tandem.rand(1, 8, 8), 0)
        w.add_text("note", "hello", 0)
    files = os.listdir(tmp_path / "run")
    assert len(files) == 1 and files[0].startswith("events.out.tfevents.")
    recs = _records(tmp_path / "run" / files[0])
    blob = b"".join(recs)
    assert len(recs) >= 7 and b"train/loss" in blob and b"weights" in blob and b"\x89PNG" in blob
