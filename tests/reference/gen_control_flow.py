#!/usr/bin/python3
"""ONNX control flow, sequence and optional models with numpy reference outputs.

Run with Debian's python (onnx 1.12 + numpy, torch 1.13 for the exported case), from anywhere:

    /usr/bin/python3 tests/reference/gen_control_flow.py [OUT_DIR]

Layout, one folder per case (tests/data/onnx_flow/<case>/ unless OUT_DIR is given):
    model.onnx            built with onnx.helper (opset 16)
    input_<i>.npy         the inputs, in the model's input order
    output_<i>.npy        the reference for a tensor output, computed with numpy
    output_<i>_<k>.npy    element k of a sequence output

The references are plain numpy written from the ONNX operator specs (loops in Python), not
anything tandem computed. tests/onnx/test_control_flow.cpp imports every model, runs it
and compares. The models exercise what exporters emit around control flow: an If on a
condition computed from the data (and one computed from the input's shape alone, which
still compiles), Loops whose trip count and exit condition come from
input values, subgraphs that read values of the enclosing graph (initializers and
intermediate values) by name, loop-carried sequences, Scan in both directions, and a nested
If inside a Loop body.

unsupported/model.onnx is not runnable on purpose (an op of another domain, a string-typed
input, an unknown op inside an If branch): `tandem inspect` must still describe it.
"""
import os
import shutil
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "data", "onnx_flow")
OPSET = 16

F = TensorProto.FLOAT
I64 = TensorProto.INT64
B = TensorProto.BOOL


def rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def f32(name, *shape):
    return rng(name).standard_normal(shape).astype(np.float32)


def const(name, array):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(array), name + "_v"))


def model(graph):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gen_control_flow")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def write(name, m, inputs, outputs):
    d = os.path.join(OUT_DIR, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    onnx.save(m, os.path.join(d, "model.onnx"))
    for i, x in enumerate(inputs):
        np.save(os.path.join(d, f"input_{i}.npy"), x)
    for i, y in enumerate(outputs):
        if isinstance(y, list):
            for k, t in enumerate(y):
                np.save(os.path.join(d, f"output_{i}_{k}.npy"), t)
        else:
            np.save(os.path.join(d, f"output_{i}.npy"), y)


# ---- If on a data-dependent condition; both branches read outer values (an initializer
# and an intermediate of the main graph) that the If node does not list as inputs.
def if_model():
    scale = np.array([2.0, -1.0, 0.5, 3.0], np.float32)
    then_g = helper.make_graph(
        [helper.make_node("Mul", ["x2", "scale"], ["t"])], "then",
        [], [helper.make_tensor_value_info("t", F, [3, 4])])
    else_g = helper.make_graph(
        [helper.make_node("Sub", ["x2", "scale"], ["e0"]), helper.make_node("Neg", ["e0"], ["e"])], "else",
        [], [helper.make_tensor_value_info("e", F, [3, 4])])
    g = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["x2"]),
         helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
         const("zero", np.float32(0)),
         helper.make_node("Greater", ["s", "zero"], ["cond"]),
         helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)],
        "if_data_cond", [helper.make_tensor_value_info("x", F, [3, 4])],
        [helper.make_tensor_value_info("y", F, [3, 4])],
        [numpy_helper.from_array(scale, "scale")])
    m = model(g)

    def ref(x):
        x2 = x + x
        return [x2 * scale if x.sum() > 0 else -(x2 - scale)]
    return m, ref


# ---- If on a condition computed from the input's shape alone (batch > 2): nothing depends on
# the data, so the model still runs as a compiled plan, re-traced per batch size.
def if_shape_model():
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", F, ["N", 3])])
    else_g = helper.make_graph([helper.make_node("Sub", ["x", "one"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", F, ["N", 3])])
    g = helper.make_graph(
        [helper.make_node("Shape", ["x"], ["shape"]),
         const("zero", np.int64(0)),
         helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
         const("two", np.int64(2)),
         helper.make_node("Greater", ["batch", "two"], ["cond"]),
         helper.make_node("If", ["cond"], ["y0"], then_branch=then_g, else_branch=else_g),
         helper.make_node("Relu", ["y0"], ["y"])],
        "if_on_batch", [helper.make_tensor_value_info("x", F, ["N", 3])],
        [helper.make_tensor_value_info("y", F, ["N", 3])],
        [numpy_helper.from_array(np.float32(1), "one")])
    m = model(g)

    def ref(x):
        return [np.maximum(x * x if x.shape[0] > 2 else x - 1, 0).astype(np.float32)]
    return m, ref


# ---- Loop: trip count from an input, exit condition from the data, a captured initializer,
# a scan output, and a nested If in the body that reads the loop-carried value.
def loop_model():
    bias = np.array([0.25, -0.5, 1.0], np.float32)
    limit = np.float32(6.0)
    inner_then = helper.make_graph([helper.make_node("Add", ["acc_in", "bias"], ["it"])], "inner_then", [],
                                   [helper.make_tensor_value_info("it", F, [3])])
    inner_else = helper.make_graph([helper.make_node("Sub", ["acc_in", "bias"], ["ie"])], "inner_else", [],
                                   [helper.make_tensor_value_info("ie", F, [3])])
    body = helper.make_graph(
        [const("two", np.int64(2)),
         helper.make_node("Mod", ["i", "two"], ["parity"]),
         const("zero_i", np.int64(0)),
         helper.make_node("Equal", ["parity", "zero_i"], ["even"]),
         helper.make_node("If", ["even"], ["step"], then_branch=inner_then, else_branch=inner_else),
         helper.make_node("Cast", ["i"], ["fi"], to=F),
         helper.make_node("Mul", ["step", "fi"], ["scaled"]),
         helper.make_node("Add", ["scaled", "x"], ["acc_out"]),
         helper.make_node("ReduceSum", ["acc_out"], ["total"], keepdims=0),
         helper.make_node("Abs", ["total"], ["mag"]),
         helper.make_node("Less", ["mag", "limit"], ["cond_out"]),
         helper.make_node("Identity", ["total"], ["scan_total"])],
        "body",
        [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("cond_in", B, []),
         helper.make_tensor_value_info("acc_in", F, [3])],
        [helper.make_tensor_value_info("cond_out", B, []), helper.make_tensor_value_info("acc_out", F, [3]),
         helper.make_tensor_value_info("scan_total", F, [])])
    g = helper.make_graph(
        [const("start", np.zeros(3, np.float32)),
         const("true", np.bool_(True)),
         helper.make_node("Loop", ["n", "true", "start"], ["acc", "totals"], body=body)],
        "loop_data_trip",
        [helper.make_tensor_value_info("x", F, [3]), helper.make_tensor_value_info("n", I64, [])],
        [helper.make_tensor_value_info("acc", F, [3]), helper.make_tensor_value_info("totals", F, [None])],
        [numpy_helper.from_array(bias, "bias"), numpy_helper.from_array(limit, "limit")])
    m = model(g)

    def ref(x, n):
        acc = np.zeros(3, np.float32)
        totals = []
        for i in range(int(n)):
            step = acc + bias if i % 2 == 0 else acc - bias
            acc = (step * np.float32(i) + x).astype(np.float32)
            total = acc.sum(dtype=np.float32)
            totals.append(total)
            if not abs(total) < limit:
                break
        return [acc, np.array(totals, np.float32)]
    return m, ref


# ---- Loop carrying a sequence: each iteration appends x * i; afterwards the sequence is
# stacked, concatenated and counted.
def loop_seq_model():
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Cast", ["i"], ["fi"], to=F),
         helper.make_node("Mul", ["x", "fi"], ["xi"]),
         helper.make_node("SequenceInsert", ["seq_in", "xi"], ["seq_out"])],
        "body",
        [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("cond_in", B, []),
         helper.make_tensor_sequence_value_info("seq_in", F, [2, 3])],
        [helper.make_tensor_value_info("cond_out", B, []), helper.make_tensor_sequence_value_info("seq_out", F, [2, 3])])
    g = helper.make_graph(
        [helper.make_node("SequenceEmpty", [], ["empty"], dtype=F),
         helper.make_node("Loop", ["n", "", "empty"], ["seq"], body=body),
         helper.make_node("ConcatFromSequence", ["seq"], ["stacked"], axis=0, new_axis=1),
         helper.make_node("ConcatFromSequence", ["seq"], ["joined"], axis=-1),
         helper.make_node("SequenceLength", ["seq"], ["count"])],
        "loop_seq",
        [helper.make_tensor_value_info("x", F, [2, 3]), helper.make_tensor_value_info("n", I64, [])],
        [helper.make_tensor_value_info("stacked", F, [None, 2, 3]), helper.make_tensor_value_info("joined", F, [2, None]),
         helper.make_tensor_value_info("count", I64, [])])
    m = model(g)

    def ref(x, n):
        parts = [x * np.float32(i) for i in range(int(n))]
        return [np.stack(parts, 0), np.concatenate(parts, -1), np.array(len(parts), np.int64)]
    return m, ref


# ---- Scan: a running sum forward along axis 0 of one input and a running product
# backward along axis 1 of another, with a captured initializer in the body.
def scan_model():
    offset = np.array([0.5, -0.25], np.float32)
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "a_t"], ["s_sum"]),
         helper.make_node("Add", ["s_sum", "offset"], ["s_out"]),
         helper.make_node("Mul", ["p_in", "b_t"], ["p_out"]),
         helper.make_node("Identity", ["s_out"], ["s_scan"]),
         helper.make_node("Identity", ["p_out"], ["p_scan"])],
        "body",
        [helper.make_tensor_value_info("s_in", F, [2]), helper.make_tensor_value_info("p_in", F, [3]),
         helper.make_tensor_value_info("a_t", F, [2]), helper.make_tensor_value_info("b_t", F, [3])],
        [helper.make_tensor_value_info("s_out", F, [2]), helper.make_tensor_value_info("p_out", F, [3]),
         helper.make_tensor_value_info("s_scan", F, [2]), helper.make_tensor_value_info("p_scan", F, [3])])
    g = helper.make_graph(
        [helper.make_node("Scan", ["s0", "p0", "a", "b"], ["s", "p", "s_all", "p_all"], body=body, num_scan_inputs=2,
                          scan_input_axes=[0, 1], scan_input_directions=[0, 1], scan_output_axes=[0, 1],
                          scan_output_directions=[0, 0])],
        "scan_both_ways",
        [helper.make_tensor_value_info("s0", F, [2]), helper.make_tensor_value_info("p0", F, [3]),
         helper.make_tensor_value_info("a", F, [4, 2]), helper.make_tensor_value_info("b", F, [3, 4])],
        [helper.make_tensor_value_info("s", F, [2]), helper.make_tensor_value_info("p", F, [3]),
         helper.make_tensor_value_info("s_all", F, [4, 2]), helper.make_tensor_value_info("p_all", F, [3, 4])],
        [numpy_helper.from_array(offset, "offset")])
    m = model(g)

    def ref(s0, p0, a, b):
        s, p = s0.copy(), p0.copy()
        s_all, p_all = [], []
        for t in range(4):
            s = (s + a[t] + offset).astype(np.float32)
            p = (p * b[:, 3 - t]).astype(np.float32)
            s_all.append(s)
            p_all.append(p)
        return [s, p, np.stack(s_all, 0), np.stack(p_all, 1)]
    return m, ref


# ---- Sequences and optionals without control flow: SplitToSequence, SequenceAt,
# SequenceErase, SequenceInsert at a position, Optional / OptionalHasElement /
# OptionalGetElement; the split sequence itself is an output.
def sequence_model():
    g = helper.make_graph(
        [const("sizes", np.array([1, 2, 3], np.int64)),
         helper.make_node("SplitToSequence", ["x", "sizes"], ["parts"], axis=1),
         const("last", np.int64(-1)),
         helper.make_node("SequenceAt", ["parts", "last"], ["tail"]),
         const("first", np.int64(0)),
         helper.make_node("SequenceErase", ["parts", "first"], ["rest"]),
         helper.make_node("SequenceInsert", ["rest", "tail", "first"], ["again"]),
         helper.make_node("ConcatFromSequence", ["again"], ["joined"], axis=1),
         helper.make_node("Optional", ["tail"], ["opt"]),
         helper.make_node("OptionalHasElement", ["opt"], ["has"]),
         helper.make_node("OptionalGetElement", ["opt"], ["got"]),
         helper.make_node("Mul", ["got", "got"], ["sq"])],
        "sequences",
        [helper.make_tensor_value_info("x", F, [2, 6])],
        [helper.make_tensor_sequence_value_info("parts", F, [2, None]), helper.make_tensor_value_info("joined", F, [2, 8]),
         helper.make_tensor_value_info("has", B, []), helper.make_tensor_value_info("sq", F, [2, 3])])
    m = model(g)

    def ref(x):
        parts = [x[:, 0:1], x[:, 1:3], x[:, 3:6]]
        tail = parts[-1]
        again = [tail] + parts[1:]
        return [parts, np.concatenate(again, 1), np.array(True), tail * tail]
    return m, ref


# ---- SequenceAt at a position given as an input (the test also feeds one out of range).
def sequence_at_model():
    g = helper.make_graph(
        [helper.make_node("SplitToSequence", ["x"], ["parts"], axis=1, keepdims=0),
         helper.make_node("SequenceAt", ["parts", "pos"], ["y"])],
        "sequence_at",
        [helper.make_tensor_value_info("x", F, [2, 3]), helper.make_tensor_value_info("pos", I64, [])],
        [helper.make_tensor_value_info("y", F, [2])])
    m = model(g)

    def ref(x, pos):
        return [np.ascontiguousarray(x[:, int(pos)])]
    return m, ref


# ---- Not runnable by tandem; `tandem inspect` describes it and names what is missing.
def unsupported_model():
    then_g = helper.make_graph([helper.make_node("MadeUpOp", ["x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", F, [2])])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", F, [2])])
    g = helper.make_graph(
        [helper.make_node("FancyOp", ["x"], ["f"], domain="com.example"),
         helper.make_node("FancyOp", ["f"], ["f2"], domain="com.example"),
         helper.make_node("ReduceSum", ["f2"], ["s"], keepdims=0),
         const("zero", np.float32(0)),
         helper.make_node("Greater", ["s", "zero"], ["cond"]),
         helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)],
        "unsupported",
        [helper.make_tensor_value_info("x", F, [2]), helper.make_tensor_value_info("label", TensorProto.STRING, [1])],
        [helper.make_tensor_value_info("y", F, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.example", 1)],
                          producer_name="gen_control_flow")
    m.ir_version = 8
    return m


# ---- What PyTorch's exporter writes for TorchScript control flow: a while loop whose trip
# count and exit condition depend on the inputs, with an if inside (Loop + If, the loop
# condition computed before the loop and again in the body).
def torch_script_model():
    import io

    import torch

    @torch.jit.script
    def run(x, n: int):
        acc = torch.zeros_like(x)
        i = 0
        while i < n and bool(acc.sum() < 5.0):
            if bool(x.sum() > 0):
                acc = acc + x * float(i)
            else:
                acc = acc - x
            i += 1
        return acc

    class Scripted(torch.nn.Module):
        def forward(self, x, n):
            return run(x, int(n))

    buf = io.BytesIO()
    torch.onnx.export(torch.jit.script(Scripted()), (torch.ones(3), torch.tensor(4)), buf, opset_version=OPSET,
                      input_names=["x", "n"], output_names=["y"])
    m = onnx.load_from_string(buf.getvalue())

    def ref(x, n):
        acc = np.zeros_like(x)
        i = 0
        while i < int(n) and acc.sum(dtype=np.float32) < 5.0:
            acc = (acc + x * np.float32(i)) if x.sum() > 0 else (acc - x)
            i += 1
        return [acc.astype(np.float32)]
    return m, ref


# ---- A data-dependent count in the middle of a network, as PyTorch's exporter writes it:
# a conv prefix, NonZero on a threshold, then a suffix on the selected values (Gather with
# indices of data-dependent length), plus an output of the prefix alone. The references are
# PyTorch's own outputs.
def torch_nonzero_model():
    import io

    import torch

    torch.manual_seed(0)

    class Mid(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            y = torch.relu(self.conv(x))
            flat = y.flatten()
            idx = torch.nonzero(flat > 0.25).squeeze(1)
            v = flat[idx]
            picked = torch.sigmoid(v * 2.0) + torch.tanh(v) * idx.to(torch.float32) / flat.numel()
            return picked, self.fc(y.mean(dim=(2, 3)))

    net = Mid().eval()
    buf = io.BytesIO()
    torch.onnx.export(net, (torch.ones(1, 2, 5, 6),), buf, opset_version=OPSET, input_names=["x"],
                      output_names=["picked", "pooled"], dynamic_axes={"x": {0: "batch"}})
    m = onnx.load_from_string(buf.getvalue())

    def ref(x):
        with torch.no_grad():
            return [t.numpy() for t in net(torch.from_numpy(x))]
    return m, ref


# ---- NonZero, then a Reshape into pairs that only fits an even count: a count the data makes
# odd is the Reshape node's own error (tests/onnx/test_control_flow.cpp builds that input).
def nonzero_pairs_model():
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]),
         const("zero", np.float32(0)),
         helper.make_node("Greater", ["r", "zero"], ["pos"]),
         helper.make_node("NonZero", ["pos"], ["nz"]),
         const("flat", np.array([-1], np.int64)),
         helper.make_node("Reshape", ["nz", "flat"], ["idx"]),
         helper.make_node("Gather", ["r", "idx"], ["picked"]),
         const("pair", np.array([2, -1], np.int64)),
         helper.make_node("Reshape", ["picked", "pair"], ["pairs"], name="pairs"),
         helper.make_node("Mul", ["pairs", "pairs"], ["y"])],
        "nonzero_pairs", [helper.make_tensor_value_info("x", F, [8])],
        [helper.make_tensor_value_info("y", F, [2, None])])
    m = model(g)

    def ref(x):
        p = np.maximum(x, 0)
        p = p[p > 0].reshape(2, -1)
        return [p * p]
    return m, ref


# ---- A sequence made before NonZero and joined after it: the sequence crosses from one
# traced part of the model to the next (plans hold tensors only, so those parts run eagerly).
def nonzero_sequence_model():
    g = helper.make_graph(
        [helper.make_node("SplitToSequence", ["x"], ["seq"], axis=0),
         const("zero", np.float32(0)),
         helper.make_node("Greater", ["x", "zero"], ["pos"]),
         helper.make_node("NonZero", ["pos"], ["nz"]),
         const("flat", np.array([-1], np.int64)),
         helper.make_node("Reshape", ["nz", "flat"], ["idx"]),
         helper.make_node("Gather", ["x", "idx"], ["picked"]),
         helper.make_node("ReduceSum", ["picked"], ["s"], keepdims=1),
         helper.make_node("ConcatFromSequence", ["seq"], ["back"], axis=0),
         helper.make_node("Mul", ["back", "back"], ["sq"]),
         helper.make_node("Add", ["sq", "s"], ["y"])],
        "nonzero_sequence", [helper.make_tensor_value_info("x", F, [4])],
        [helper.make_tensor_value_info("y", F, [4])])
    m = model(g)

    def ref(x):
        return [(x * x + x[x > 0].sum(dtype=np.float32)).astype(np.float32)]
    return m, ref


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    m, ref = if_model()
    for name, x in [("if_then", np.abs(f32("if_then", 3, 4))), ("if_else", -np.abs(f32("if_else", 3, 4)))]:
        write(name, m, [x], ref(x))
    m, ref = if_shape_model()
    for name, batch in [("if_batch_3", 3), ("if_batch_1", 1)]:
        x = f32(name, batch, 3)
        write(name, m, [x], ref(x))
    m, ref = loop_model()
    for name, n in [("loop_trip_count", 3), ("loop_exit_condition", 50), ("loop_zero_trips", 0)]:
        x = (f32(name, 3) * 0.5).astype(np.float32)
        n = np.array(n, np.int64)
        write(name, m, [x, n], ref(x, n))
    m, ref = loop_seq_model()
    x, n = f32("loop_sequence", 2, 3), np.array(4, np.int64)
    write("loop_sequence", m, [x, n], ref(x, n))
    m, ref = scan_model()
    ins = [f32("scan_s0", 2), f32("scan_p0", 3), f32("scan_a", 4, 2), f32("scan_b", 3, 4)]
    write("scan_both_ways", m, ins, ref(*ins))
    m, ref = sequence_model()
    x = f32("sequences", 2, 6)
    write("sequences", m, [x], ref(x))
    m, ref = sequence_at_model()
    x, pos = f32("sequence_at", 2, 3), np.array(-2, np.int64)
    write("sequence_at", m, [x, pos], ref(x, pos))
    m, ref = torch_script_model()
    for name, x, n in [("torch_loop_then", np.abs(f32("torch_loop_then", 3)), 20),
                       ("torch_loop_else", -np.abs(f32("torch_loop_else", 3)), 6)]:
        n = np.array(n, np.int64)
        write(name, m, [x, n], ref(x, n))
    m, ref = torch_nonzero_model()
    for name, scale in [("torch_nonzero_many", 1.0), ("torch_nonzero_few", 0.3)]:
        x = (f32(name, 1, 2, 5, 6) * scale).astype(np.float32)
        write(name, m, [x], ref(x))
    m, ref = nonzero_pairs_model()
    x = np.array([1.5, -1, 2, 0.25, -3, 4, 0, -0.5], np.float32)  # 4 positive values, then 2 pairs
    write("nonzero_pairs", m, [x], ref(x))
    m, ref = nonzero_sequence_model()
    x = np.array([0.5, -2, 1.25, 3], np.float32)
    write("nonzero_sequence", m, [x], ref(x))
    d = os.path.join(OUT_DIR, "unsupported")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    onnx.save(unsupported_model(), os.path.join(d, "model.onnx"))


if __name__ == "__main__":
    main()
