# Writes the small ONNX models tests/onnx uses (run with Debian's python3-onnx + numpy):
#   /usr/bin/python3 tests/data/onnx/gen_onnx.py
# Expected outputs are computed here with numpy, independently of tandem.
import os
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)


def save(model, name):
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(here, name))


# 1. Shape subgraph: y = Reshape(x, Concat(Gather(Shape(x), 0), [-1])) then MatMul with w.
w = rng.standard_normal((12, 5)).astype(np.float32)
nodes = [
    helper.make_node("Shape", ["x"], ["s"]),
    helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
    helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
    helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
    helper.make_node("Reshape", ["x", "shape"], ["flat"]),
    helper.make_node("MatMul", ["flat", "w"], ["mm"]),
    helper.make_node("Relu", ["mm"], ["y"]),
]
inits = [numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
         numpy_helper.from_array(np.array([0], dtype=np.int64), "axes0"),
         numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus1"),
         numpy_helper.from_array(w, "w")]
g = helper.make_graph(nodes, "shape_fold", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])], inits)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "shape_fold.onnx")
# The same with a symbolic batch: the shape subgraph cannot fold, it runs per call.
g = helper.make_graph(nodes, "shape_dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])], inits)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "shape_dyn.onnx")
x = rng.standard_normal((2, 3, 4)).astype(np.float32)
np.save(os.path.join(here, "shape_x.npy"), x)
np.save(os.path.join(here, "shape_y.npy"), np.maximum(x.reshape(2, -1) @ w, 0))
x3 = rng.standard_normal((3, 3, 4)).astype(np.float32)
np.save(os.path.join(here, "shape_x3.npy"), x3)
np.save(os.path.join(here, "shape_y3.npy"), np.maximum(x3.reshape(3, -1) @ w, 0))

# 2. External data: Gemm whose weight lives in weights.bin (offset 16).
wt = rng.standard_normal((4, 3)).astype(np.float32)
b = rng.standard_normal((4,)).astype(np.float32)
with open(os.path.join(here, "weights.bin"), "wb") as f:
    f.write(b"\0" * 16)
    f.write(wt.tobytes())
wp = TensorProto()
wp.name = "W"
wp.data_type = TensorProto.FLOAT
wp.dims.extend([4, 3])
wp.data_location = TensorProto.EXTERNAL
for k, v in (("location", "weights.bin"), ("offset", "16"), ("length", str(wt.nbytes))):
    e = wp.external_data.add()
    e.key, e.value = k, v
g = helper.make_graph([helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)], "external",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
                      [wp, numpy_helper.from_array(b, "b")])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "external.onnx")
xe = rng.standard_normal((2, 3)).astype(np.float32)
np.save(os.path.join(here, "external_x.npy"), xe)
np.save(os.path.join(here, "external_y.npy"), xe @ wt.T + b)

# 3. Unknown op, 4. unsupported opset, 5. int64 input.
g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="first"),
                       helper.make_node("FancyNewOp", ["r"], ["y"], name="mystery")], "unknown",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(here, "unknown_op.onnx"))
g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "opset99",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 99)]), os.path.join(here, "opset99.onnx"))

# 6. Slice at the int64 extremes (beyond what exporters write): starts, ends and steps of
# INT64_MIN / INT64_MAX, negative axes and steps, empty results; starts/ends/steps come as
# initializers and as Constant nodes, int64 data above 2^53 must pass unchanged. Expected
# values: NumPy's slicing with the same Python integers.
I64_MIN, I64_MAX = -2**63, 2**63 - 1
SLICES = [  # (starts, ends, axes, steps) on a [4, 6] input
    ([0], [I64_MAX], [1], [1]),
    ([I64_MIN], [I64_MAX], [-1], [I64_MAX]),
    ([I64_MAX], [I64_MIN], [-1], [-1]),
    ([-1], [I64_MIN], [0], [-2]),
    ([I64_MAX], [I64_MIN], [1], [I64_MIN + 1]),
    ([2, I64_MIN], [I64_MAX, -2], [-2, -1], [1, 3]),
    ([3], [1], [1], [1]),
    ([1], [3], [1], [-1]),
    ([I64_MAX], [I64_MAX], [0], [1]),
    ([I64_MIN], [I64_MIN], [0], [-1]),
]
xs = (np.arange(24, dtype=np.int64) + 2**62 + 1).reshape(4, 6)  # not representable as doubles
nodes, inits, outs = [], [], []
for k, (st, en, ax, sp) in enumerate(SLICES):
    names = [f"s{k}_{f}" for f in ("starts", "ends", "axes", "steps")]
    for name, v in zip(names, (st, en, ax, sp)):
        arr = np.array(v, dtype=np.int64)
        if k % 2:  # every other case from Constant nodes instead of initializers
            nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name)))
        else:
            inits.append(numpy_helper.from_array(arr, name))
    nodes.append(helper.make_node("Slice", ["x"] + names, [f"y{k}"]))
    sl = [slice(None)] * 2
    for s, e, a, p in zip(st, en, ax, sp):
        sl[a] = slice(s, e, p)
    want = xs[tuple(sl)]
    outs.append(helper.make_tensor_value_info(f"y{k}", TensorProto.INT64, list(want.shape)))
    np.save(os.path.join(here, f"slice_extremes_y{k}.npy"), want)
g = helper.make_graph(nodes, "slice_extremes", [helper.make_tensor_value_info("x", TensorProto.INT64, [4, 6])],
                      outs, inits)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "slice_extremes.onnx")
np.save(os.path.join(here, "slice_extremes_x.npy"), xs)

# 7. Slice whose ends are float: a malformed model (ONNX wants int32/int64), written without
# the checker, which does not look at initializer types.
g = helper.make_graph([helper.make_node("Slice", ["x", "starts", "ends"], ["y"], name="cut")], "slice_float_bounds",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
                      [numpy_helper.from_array(np.array([1.0], dtype=np.float32), "starts"),
                       numpy_helper.from_array(np.array([3.0], dtype=np.float32), "ends")])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(here, "slice_float_bounds.onnx"))
