"""tandem.nn from Python: custom Modules, the built-in layers and functions against PyTorch;
the detection ops (tandem.ops) against torchvision.ops."""
from collections import OrderedDict

import numpy as np
import pytest

import tandem
import tandem.nn as nn
import tandem.nn.functional as F
from conftest import assert_close


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 7 * 7, 10)
        self.scale = nn.Parameter(tandem.ones(1))
        self.register_buffer("calls", tandem.zeros(1))
        self.register_buffer("scratch", tandem.zeros(1), persistent=False)
        self.plain = tandem.zeros(1)  # a plain attribute, not registered

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(x.flatten(1)) * self.scale


def test_registration_names_and_state_dict():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "conv.weight", "conv.bias", "bn.weight", "bn.bias", "fc.weight",
                     "fc.bias"]
    sd = net.state_dict()
    assert list(sd) == ["scale", "calls", "conv.weight", "conv.bias", "bn.weight", "bn.bias",
                        "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
                        "fc.weight", "fc.bias"]
    assert "plain" not in sd and "scratch" not in sd
    assert [n for n, _ in net.named_modules()] == ["", "conv", "bn", "fc"]
    assert "Conv2d(1, 4, kernel_size=(3, 3)" in repr(net)
    # the state_dict aliases the parameters
    sd["fc.bias"].fill_(0.5)
    assert net.fc.bias.tolist() == [0.5] * 10


def test_forward_backward_and_train_eval():
    net = Net()
    x = tandem.randn(2, 1, 14, 14)
    y = net(x)
    assert y.shape == (2, 10)
    y.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert net.bn.running_mean.abs().sum().item() > 0
    net.eval()
    assert not net.training and not net.bn.training and not net.bn._cpp.training
    rm = net.bn.running_mean.clone()
    net(x)
    assert tandem.equal(rm, net.bn.running_mean)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_load_state_dict_checks_everything_first():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert tandem.equal(p, q), n
    sd = a.state_dict()
    sd["fc.weight"] = tandem.zeros(3, 3)
    del sd["scale"]
    sd["extra"] = tandem.zeros(1)
    before = b.conv.weight.clone()
    with pytest.raises(tandem.Error) as e:
        b.load_state_dict(sd)
    msg = str(e.value)
    assert "fc.weight" in msg and '"scale"' in msg and '"extra"' in msg
    assert tandem.equal(before, b.conv.weight)
    sd["fc.weight"] = a.fc.weight.detach()
    r = b.load_state_dict(sd, strict=False)
    assert r.missing_keys == ["scale"] and r.unexpected_keys == ["extra"]


def test_hooks_and_errors():
    lin = nn.Linear(3, 2)
    seen = []
    h = lin.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    lin(tandem.ones(4, 3))
    h.remove()
    lin(tandem.ones(1, 3))
    assert seen == [(4, 2)]
    with pytest.raises(tandem.Error, match=r"\[4, 5\]|in_features|shape"):
        lin(tandem.ones(4, 5))
    with pytest.raises(tandem.Error, match="copy new values in"):
        lin.weight = nn.Parameter(tandem.ones(2, 3))

    class NoInit(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tandem.ones(1))
    with pytest.raises(tandem.Error, match=r"super\(\)\.__init__\(\)"):
        NoInit()


def test_containers():
    seq = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    md = nn.ModuleDict({"a": nn.Linear(2, 2)})
    assert len(list(ml.parameters())) == 6 and "a" in md
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(1, 1))]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]


def _load_from_torch(ours, theirs):
    ours.load_state_dict({k: tandem.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})


LAYERS = [
    ("Linear", (5, 3), {}, (4, 5)),
    ("Conv1d", (2, 3, 3), {"padding": 1}, (2, 2, 8)),
    ("Conv2d", (2, 3, 3), {"stride": 2, "padding": 1}, (2, 2, 7, 7)),
    ("ConvTranspose2d", (2, 3, 3), {"stride": 2}, (1, 2, 4, 4)),
    ("BatchNorm1d", (3,), {}, (4, 3)),
    ("BatchNorm2d", (3,), {}, (2, 3, 4, 4)),
    ("LayerNorm", (6,), {}, (2, 6)),
    ("GroupNorm", (2, 4), {}, (2, 4, 3)),
    ("MaxPool2d", (2,), {}, (1, 2, 4, 4)),
    ("AvgPool2d", (2,), {}, (1, 2, 4, 4)),
    ("AdaptiveAvgPool2d", ((2, 2),), {}, (1, 2, 6, 6)),
    ("GELU", (), {}, (3, 4)), ("SiLU", (), {}, (3, 4)), ("LeakyReLU", (0.2,), {}, (3, 4)),
    ("Softplus", (), {}, (3, 4)), ("Tanh", (), {}, (3, 4)), ("Sigmoid", (), {}, (3, 4)),
    ("LogSoftmax", (1,), {}, (3, 4)), ("Flatten", (), {}, (2, 3, 4)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", LAYERS, ids=[l[0] for l in LAYERS])
def test_layers_match_torch(torch, name, args, kwargs, shape):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = getattr(nn, name)(*args, **kwargs).double()
    _load_from_torch(ours, theirs)
    x0 = np.random.default_rng(1).standard_normal(shape)
    xa, xb = tandem.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    ya, yb = ours(xa), theirs(xb)
    assert_close(ya, yb, rtol=1e-6, atol=1e-8)
    (ya * ya).sum().backward()
    (yb * yb).sum().backward()
    assert_close(xa.grad, xb.grad, rtol=1e-6, atol=1e-8)
    for (n, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert_close(p.grad, q.grad, rtol=1e-6, atol=1e-8)
    for k, v in theirs.state_dict().items():
        assert_close(ours.state_dict()[k], v)


def test_sequence_layers_match_torch(torch):
    torch.manual_seed(0)
    x0 = np.random.default_rng(2).standard_normal((5, 2, 4))
    for name in ["LSTM", "GRU", "RNN"]:
        theirs = getattr(torch.nn, name)(4, 3, num_layers=2).double()
        ours = getattr(nn, name)(4, 3, num_layers=2).double()
        _load_from_torch(ours, theirs)
        ya, yb = ours(tandem.tensor(x0)), theirs(torch.tensor(x0))
        assert_close(ya[0], yb[0], rtol=1e-6, atol=1e-8)
    theirs = torch.nn.MultiheadAttention(8, 2).double()
    ours = nn.MultiheadAttention(8, 2).double()
    _load_from_torch(ours, theirs)
    q = np.random.default_rng(3).standard_normal((3, 2, 8))
    (oa, wa), (ob, wb) = ours(*[tandem.tensor(q)] * 3), theirs(*[torch.tensor(q)] * 3)
    assert_close(oa, ob, rtol=1e-6, atol=1e-8)
    assert_close(wa, wb, rtol=1e-6, atol=1e-8)


def test_functional_and_losses_match_torch(torch):
    rng = np.random.default_rng(4)
    x0, t0 = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    xa, xb = tandem.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    ta, tb = tandem.tensor(t0), torch.tensor(t0)
    pairs = [
        (F.cross_entropy(xa, ta), torch.nn.functional.cross_entropy(xb, tb)),
        (F.cross_entropy(xa, ta, label_smoothing=0.1, reduction="sum"),
         torch.nn.functional.cross_entropy(xb, tb, label_smoothing=0.1, reduction="sum")),
        (F.nll_loss(F.log_softmax(xa, 1), ta), torch.nn.functional.nll_loss(
            torch.nn.functional.log_softmax(xb, 1), tb)),
        (F.mse_loss(xa, xa * 0.5), torch.nn.functional.mse_loss(xb, xb * 0.5)),
        (F.smooth_l1_loss(xa, xa * 0.1), torch.nn.functional.smooth_l1_loss(xb, xb * 0.1)),
        (F.binary_cross_entropy_with_logits(xa, (xa > 0).double()),
         torch.nn.functional.binary_cross_entropy_with_logits(xb, (xb > 0).double())),
        (nn.CrossEntropyLoss()(xa, ta), torch.nn.CrossEntropyLoss()(xb, tb)),
        (F.gelu(xa, approximate="tanh").sum(), torch.nn.functional.gelu(xb, approximate="tanh").sum()),
        (F.pad(xa, (1, 2)).sum(), torch.nn.functional.pad(xb, (1, 2)).sum()),
        (F.normalize(xa).sum(), torch.nn.functional.normalize(xb).sum()),
    ]
    for a, b in pairs:
        assert_close(a, b, rtol=1e-6)
        a.backward()
        b.backward()
        assert_close(xa.grad, xb.grad, rtol=1e-6, atol=1e-9)
    assert F.one_hot(ta, 5).tolist() == torch.nn.functional.one_hot(tb, 5).tolist()


def test_init_functions_shape_statistics():
    w = tandem.empty(200, 300)
    nn.init.kaiming_uniform_(w, a=5 ** 0.5)
    bound = 1 / 300 ** 0.5
    assert w.abs().max().item() <= bound + 1e-6 and w.std().item() > bound / 2
    nn.init.zeros_(w)
    assert w.abs().sum().item() == 0
    p = nn.Parameter(tandem.empty(3))
    nn.init.constant_(p, 2.0)
    assert p.tolist() == [2.0] * 3 and p.requires_grad


def test_module_to_dtype_keeps_tensors_alive():
    lin = nn.Linear(2, 2)
    opt_view = list(lin.parameters())
    lin.double()
    assert lin.weight.dtype == tandem.float64 and opt_view[0].dtype == tandem.float64
    assert lin(tandem.ones(1, 2, dtype=tandem.float64)).dtype == tandem.float64


# ---- tandem.ops (detection) against torchvision.ops
@pytest.fixture
def tv(torch):
    return pytest.importorskip("torchvision", reason="python3-torchvision is not installed "
                               "(apt-get install python3-torchvision)")


def boxes_np(n, seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 20, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(1, 8, (n, 2))], 1)


def test_box_utilities_match_torchvision(torch, tv):
    a, b = boxes_np(6, 0), boxes_np(4, 1)
    ta, tb = tandem.from_numpy(a).requires_grad_(), tandem.from_numpy(b)
    pa = torch.from_numpy(a).requires_grad_()
    iou, piou = tandem.ops.box_iou(ta, tb), tv.ops.box_iou(pa, torch.from_numpy(b))
    assert_close(iou, piou, 1e-10, 1e-12)
    iou.sum().backward()
    piou.sum().backward()
    assert_close(ta.grad, pa.grad, 1e-8, 1e-10)
    assert_close(tandem.ops.box_area(tb), tv.ops.box_area(torch.from_numpy(b)), 1e-12, 1e-12)
    assert_close(tandem.ops.box_convert(tb, "xywh", "cxcywh"),
                 tv.ops.box_convert(torch.from_numpy(b), "xywh", "cxcywh"), 1e-12, 1e-12)


def test_nms_and_batched_nms_match_torchvision(torch, tv):
    b = boxes_np(40, 2).astype(np.float32)
    s = np.round(np.random.default_rng(3).uniform(0, 1, 40) * 10).astype(np.float32) / 10  # ties
    idx = np.random.default_rng(4).integers(0, 3, 40)
    keep = tandem.ops.nms(tandem.from_numpy(b), tandem.from_numpy(s), 0.4)
    assert keep.dtype == tandem.int64
    np.testing.assert_array_equal(keep.numpy(), tv.ops.nms(torch.from_numpy(b), torch.from_numpy(s), 0.4).numpy())
    keep = tandem.ops.batched_nms(tandem.from_numpy(b), tandem.from_numpy(s), tandem.from_numpy(idx), 0.4)
    ref = tv.ops.batched_nms(torch.from_numpy(b), torch.from_numpy(s), torch.from_numpy(idx), 0.4)
    np.testing.assert_array_equal(keep.numpy(), ref.numpy())


def test_roi_align_matches_torchvision(torch, tv):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 9, 11))
    rois = np.concatenate([[[0], [1], [1]], boxes_np(3, 6) * 0.5], 1)
    tx = tandem.from_numpy(x).requires_grad_()
    px = torch.from_numpy(x).requires_grad_()
    y = tandem.ops.roi_align(tx, tandem.from_numpy(rois), (3, 2), 0.8, -1, True)
    py = tv.ops.roi_align(px, torch.from_numpy(rois), (3, 2), 0.8, -1, True)
    assert_close(y, py, 1e-10, 1e-12)
    y.sum().backward()
    py.sum().backward()
    assert_close(tx.grad, px.grad, 1e-10, 1e-12)


def test_detection_op_errors_are_tandem_errors():
    with pytest.raises(tandem.Error, match="nms"):
        tandem.ops.nms(tandem.zeros(3, 5), tandem.zeros(3), 0.5)
    with pytest.raises(tandem.Error, match="roi_align"):
        tandem.ops.roi_align(tandem.zeros(1, 1, 4, 4), tandem.zeros(1, 4), 2)
