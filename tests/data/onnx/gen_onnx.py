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
