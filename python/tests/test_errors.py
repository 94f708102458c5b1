"""Bad input raises Python exceptions carrying tandem's messages, never a crash."""
import pytest

import tandem


def test_core_errors_are_tandem_errors():
    with pytest.raises(tandem.Error, match=r"matmul.*\[2, 3\].*\[4, 5\]|\[4, 5\].*\[2, 3\]"):
        tandem.ones(2, 3) @ tandem.ones(4, 5)
    with pytest.raises(RuntimeError):
        tandem.ones(2, 3) + tandem.ones(4)
    with pytest.raises(tandem.Error, match="view"):
        tandem.ones(2, 3).transpose(0, 1).view(6)
    with pytest.raises(tandem.Error):
        tandem.ones(2).reshape(3)


def test_wrong_types_are_reported():
    with pytest.raises(tandem.Error, match="expected a Tensor or a number"):
        tandem.ones(2) + "a"
    with pytest.raises(TypeError):
        tandem.exp([1.0, 2.0])
    with pytest.raises(tandem.Error, match="dtype"):
        tandem.zeros(2, dtype="nonsense")
    with pytest.raises((TypeError, tandem.Error), match="int"):
        tandem.zeros(2, "x")
    with pytest.raises(tandem.Error, match="only the CPU"):
        tandem.ones(2, device="cuda")
    with pytest.raises(tandem.Error, match="reduction"):
        tandem.nn.functional.mse_loss(tandem.ones(2), tandem.ones(2), reduction="avg")
    with pytest.raises(tandem.Error, match="cross_entropy|target"):
        tandem.nn.functional.cross_entropy(tandem.ones(2, 3), tandem.ones(2, 3, 4))


def test_in_place_on_leaf_requiring_grad_is_refused():
    w = tandem.ones(2, requires_grad=True)
    with pytest.raises(tandem.Error):
        w.add_(1.0)
    with tandem.no_grad():
        w.add_(1.0)
    assert w.tolist() == [2.0, 2.0]


def test_loads_next_to_pytorch_in_either_order():
    # One process, one protobuf pool: tandem's TensorBoard messages must not collide with the
    # .proto files PyTorch's libraries register (a collision aborts the interpreter).
    import subprocess
    import sys
    from conftest import torch_or_skip
    torch_or_skip()
    for first, second in (("tandem", "torch"), ("torch", "tandem")):
        r = subprocess.run([sys.executable, "-c", f"import {first}, {second}; print('ok')"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
