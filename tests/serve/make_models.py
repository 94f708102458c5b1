"""Writes the small ONNX models that tests/serve serves, with ONNX's own helper API.

    /usr/bin/python3 make_models.py OUT_DIR

half_plus_three  x: float[batch] -> y = 0.5 * x + 3 (TF Serving's documentation example model)
two_io           a: float[batch, 2], b: int64[batch] -> sum = a + b[:, None] (float), twice = 2 * b
bytes_io         data: uint8[batch, 4] -> out_bytes = data + 1
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(model, path):
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)


def half_plus(c=3.0, padding_floats=0):
    """y = 0.5 * x + c; padding_floats adds an unused-looking weight that is really read (x*0 summed)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])
    half = numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half")
    three = numpy_helper.from_array(np.array(c, dtype=np.float32), "three")
    nodes = [helper.make_node("Mul", ["x", "half"], ["t"]), helper.make_node("Add", ["t", "three"], ["y" if not padding_floats else "u"])]
    inits = [half, three]
    if padding_floats:
        # A large weight that the graph depends on (its sum times zero), so it stays loaded.
        big = numpy_helper.from_array(np.random.default_rng(0).standard_normal(padding_floats).astype(np.float32), "big")
        zero = numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")
        inits += [big, zero]
        nodes += [helper.make_node("ReduceSum", ["big"], ["s"], keepdims=0), helper.make_node("Mul", ["s", "zero"], ["z"]),
                  helper.make_node("Add", ["u", "z"], ["y"])]
    g = helper.make_graph(nodes, "half_plus", [x], [y], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def half_plus_three():
    return half_plus(3.0)


def two_io():
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 2])
    b = helper.make_tensor_value_info("b", TensorProto.INT64, ["batch"])
    s = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 2])
    t = helper.make_tensor_value_info("twice", TensorProto.INT64, ["batch"])
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    two = numpy_helper.from_array(np.array(2, dtype=np.int64), "two")
    nodes = [
        helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["bf", "axes"], ["bcol"]),
        helper.make_node("Add", ["a", "bcol"], ["sum"]),
        helper.make_node("Mul", ["b", "two"], ["twice"]),
    ]
    g = helper.make_graph(nodes, "two_io", [a, b], [s, t], [axes, two])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def bytes_io():
    d = helper.make_tensor_value_info("data", TensorProto.UINT8, ["batch", 4])
    o = helper.make_tensor_value_info("out_bytes", TensorProto.UINT8, ["batch", 4])
    one = numpy_helper.from_array(np.array(1, dtype=np.uint8), "one")
    g = helper.make_graph([helper.make_node("Add", ["data", "one"], ["out_bytes"])], "bytes_io", [d], [o], [one])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


if __name__ == "__main__":
    out = sys.argv[1]
    save(half_plus_three(), os.path.join(out, "half_plus_three", "123", "model.onnx"))
    save(two_io(), os.path.join(out, "two_io", "1", "model.onnx"))
    save(bytes_io(), os.path.join(out, "bytes_io", "1", "model.onnx"))
