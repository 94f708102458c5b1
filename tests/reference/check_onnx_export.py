#!/usr/bin/python3
"""Independent check of a tandem-exported ONNX model (used by tests/onnx/test_export*.cpp).

    check_onnx_export.py model.onnx [--input x.npy ...] [--expected y.npy ...] [--rtol R --atol A]

1. onnx.checker.check_model(full_check=True) and strict shape inference (Python onnx 1.12);
2. with --input/--expected: runs the graph with a small PyTorch-based evaluator of the ONNX
   operators below (Debian's onnx 1.12 has no onnx.reference), written from the ONNX operator
   spec, and compares every output with the expected .npy (dtype, shape, values).
Exit status 0 when all checks pass; the message says what failed otherwise. An operator the
evaluator does not know fails the case, so a test cannot pass silently.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference
import torch
import torch.nn.functional as F

DT = {1: torch.float32, 11: torch.float64, 7: torch.int64, 6: torch.int32, 9: torch.bool,
      2: torch.uint8, 3: torch.int8, 10: torch.float16, 16: torch.bfloat16}


def attrs(node):
    out = {}
    for a in node.attribute:
        out[a.name] = onnx.helper.get_attribute_value(a)
        if isinstance(out[a.name], bytes):
            out[a.name] = out[a.name].decode()
    return out


def pads_2d(p):
    # ONNX [h_begin, w_begin, h_end, w_end] -> symmetric (ph, pw) or an explicit F.pad
    return p


def conv(x, w, b, a, transpose=False):
    k = len(w.shape) - 2
    strides = a.get("strides", [1] * k)
    dil = a.get("dilations", [1] * k)
    pads = a.get("pads", [0] * 2 * k)
    group = a.get("group", 1)
    if pads[:k] != pads[k:]:
        raise ValueError("asymmetric pads not supported by the evaluator")
    if transpose:
        return F.conv_transpose2d(x, w, b, stride=strides, padding=pads[:k],
                                  output_padding=a.get("output_padding", [0] * k), groups=group,
                                  dilation=dil)
    return F.conv2d(x, w, b, stride=strides, padding=pads[:k], dilation=dil, groups=group)


def reduce(x, ins, a, fn, axes_input=False):
    axes = None
    if axes_input and len(ins) > 1 and ins[1] is not None:
        axes = ins[1].tolist()
    elif not axes_input:
        axes = a.get("axes")
    keep = bool(a.get("keepdims", 1))
    if axes is None or len(axes) == 0:
        axes = list(range(x.dim()))
    axes = sorted([ax % x.dim() for ax in axes]) if x.dim() else []
    return fn(x, axes, keep)


def amax(x, axes, keep):
    for ax in reversed(axes):
        x = x.amax(dim=ax, keepdim=keep) if keep else x.amax(dim=ax)
    return x


def amin(x, axes, keep):
    for ax in reversed(axes):
        x = x.amin(dim=ax, keepdim=keep)
    return x


def run_node(n, ins):
    a = attrs(n)
    op = n.op_type
    x = ins[0] if ins else None
    if op == "Gemm":
        A, B = ins[0], ins[1]
        if a.get("transA", 0):
            A = A.t()
        if a.get("transB", 0):
            B = B.t()
        y = a.get("alpha", 1.0) * (A @ B)
        if len(ins) > 2 and ins[2] is not None:
            y = y + a.get("beta", 1.0) * ins[2]
        return [y]
    simple = {"Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Exp": torch.exp,
              "Log": torch.log, "Sqrt": torch.sqrt, "Abs": torch.abs, "Neg": torch.neg,
              "Sign": torch.sign, "Sin": torch.sin, "Cos": torch.cos, "Erf": torch.erf,
              "Reciprocal": torch.reciprocal, "Not": torch.logical_not, "Identity": lambda t: t,
              "Softplus": F.softplus, "Floor": torch.floor, "Ceil": torch.ceil,
              "Round": torch.round, "Tan": torch.tan, "Asin": torch.asin, "Acos": torch.acos,
              "Atan": torch.atan, "Sinh": torch.sinh, "Cosh": torch.cosh, "Asinh": torch.asinh,
              "Acosh": torch.acosh, "Atanh": torch.atanh, "IsNaN": torch.isnan}
    if op in simple:
        return [simple[op](x)]
    binary = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Pow": torch.pow,
              "MatMul": torch.matmul, "Equal": torch.eq, "Less": torch.lt, "LessOrEqual": torch.le,
              "Greater": torch.gt, "GreaterOrEqual": torch.ge, "And": torch.logical_and,
              "Or": torch.logical_or, "Xor": torch.logical_xor, "Min": torch.minimum,
              "Max": torch.maximum}
    if op in binary:
        return [binary[op](ins[0], ins[1])]
    if op == "Div":
        if ins[0].dtype.is_floating_point:
            return [ins[0] / ins[1]]
        return [torch.div(ins[0], ins[1], rounding_mode="trunc")]
    if op == "Mod":  # fmod=1: the dividend's sign (C fmod); else the divisor's (Python %)
        return [torch.fmod(ins[0], ins[1]) if a.get("fmod", 0) else torch.remainder(ins[0], ins[1])]
    if op == "IsInf":
        pos, neg = bool(a.get("detect_positive", 1)), bool(a.get("detect_negative", 1))
        return [(torch.isposinf(x) & pos) | (torch.isneginf(x) & neg)]
    if op == "ScatterElements":
        red = a.get("reduction", "none")
        axis = a.get("axis", 0)
        if red == "none":
            return [torch.scatter(x, axis, ins[1], ins[2])]
        if red == "add":
            return [torch.scatter_add(x, axis, ins[1], ins[2])]
        if red == "mul":
            return [torch.scatter_reduce(x, axis, ins[1], ins[2], "prod")]
        raise NotImplementedError("ScatterElements reduction " + red)
    if op == "LeakyRelu":
        return [F.leaky_relu(x, a.get("alpha", 0.01))]
    if op == "Conv":
        return [conv(x, ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == "ConvTranspose":
        return [conv(x, ins[1], ins[2] if len(ins) > 2 else None, a, transpose=True)]
    if op in ("MaxPool", "AveragePool"):
        k = a["kernel_shape"]
        s = a.get("strides", [1] * len(k))
        p = a.get("pads", [0] * 2 * len(k))
        assert p[:len(k)] == p[len(k):], "asymmetric pads"
        if op == "MaxPool":
            return [F.max_pool2d(x, k, s, p[:len(k)], a.get("dilations", [1] * len(k)),
                                 ceil_mode=bool(a.get("ceil_mode", 0)))]
        return [F.avg_pool2d(x, k, s, p[:len(k)], ceil_mode=bool(a.get("ceil_mode", 0)),
                             count_include_pad=bool(a.get("count_include_pad", 0)))]
    if op == "GlobalAveragePool":
        return [x.mean(dim=tuple(range(2, x.dim())), keepdim=True)]
    if op == "BatchNormalization":
        return [F.batch_norm(x, ins[3], ins[4], ins[1], ins[2], False, 0.0, a.get("epsilon", 1e-5))]
    if op == "LayerNormalization":
        axis = a.get("axis", -1) % x.dim()
        return [F.layer_norm(x, x.shape[axis:], ins[1], ins[2] if len(ins) > 2 else None,
                             a.get("epsilon", 1e-5))]
    if op == "Softmax":
        return [torch.softmax(x, a.get("axis", -1))]
    if op == "LogSoftmax":
        return [torch.log_softmax(x, a.get("axis", -1))]
    if op == "Reshape":
        shape = ins[1].tolist()
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
        return [x.reshape(shape)]
    if op == "Expand":
        return [x * torch.ones(ins[1].tolist(), dtype=x.dtype)] if x.dtype != torch.bool else \
            [torch.broadcast_to(x, torch.broadcast_shapes(x.shape, tuple(ins[1].tolist())))]
    if op == "Transpose":
        return [x.permute(a.get("perm", list(reversed(range(x.dim())))))]
    if op == "Concat":
        return [torch.cat(ins, a["axis"])]
    if op == "Slice":
        starts, ends = ins[1].tolist(), ins[2].tolist()
        axes = ins[3].tolist() if len(ins) > 3 else list(range(len(starts)))
        steps = ins[4].tolist() if len(ins) > 4 else [1] * len(starts)
        idx = [slice(None)] * x.dim()
        for s, e, ax, st in zip(starts, ends, axes, steps):
            idx[ax] = slice(s, e, st)
        return [x[tuple(idx)]]
    if op == "Gather":
        axis = a.get("axis", 0) % x.dim()
        i = ins[1]
        return [torch.index_select(x, axis, i.reshape(-1)).reshape(
            x.shape[:axis] + i.shape + x.shape[axis + 1:])]
    if op == "GatherElements":
        return [torch.gather(x, a.get("axis", 0), ins[1])]
    if op == "Cast":
        return [x.to(DT[a["to"]])]
    if op == "Clip":
        lo = ins[1] if len(ins) > 1 and ins[1] is not None else None
        hi = ins[2] if len(ins) > 2 and ins[2] is not None else None
        return [torch.clamp(x, lo, hi)]
    if op == "Where":
        return [torch.where(ins[0], ins[1], ins[2])]
    if op == "ReduceSum":
        return [reduce(x, ins, a, lambda t, ax, k: t.sum(dim=ax, keepdim=k), axes_input=True)]
    if op == "ReduceMean":
        return [reduce(x, ins, a, lambda t, ax, k: t.mean(dim=ax, keepdim=k))]
    if op == "ReduceMax":
        return [reduce(x, ins, a, amax)]
    if op == "ReduceMin":
        return [reduce(x, ins, a, amin)]
    if op == "ReduceProd":
        def prod(t, ax, k):
            for d in reversed(ax):
                t = t.prod(dim=d, keepdim=k)
            return t
        return [reduce(x, ins, a, prod)]
    if op == "ReduceLogSumExp":
        return [reduce(x, ins, a, lambda t, ax, k: torch.logsumexp(t, dim=ax, keepdim=k))]
    if op == "ReduceL2":
        return [reduce(x, ins, a, lambda t, ax, k: torch.sqrt((t * t).sum(dim=ax, keepdim=k)))]
    if op == "ReduceL1":
        return [reduce(x, ins, a, lambda t, ax, k: t.abs().sum(dim=ax, keepdim=k))]
    if op in ("ArgMax", "ArgMin"):
        f = torch.argmax if op == "ArgMax" else torch.argmin
        return [f(x, dim=a.get("axis", 0), keepdim=bool(a.get("keepdims", 1)))]
    if op == "CumSum":
        return [torch.cumsum(x, int(ins[1].item()))]
    if op == "GridSample":
        mode = a.get("mode", "bilinear")
        return [F.grid_sample(x, ins[1], mode={"linear": "bilinear", "cubic": "bicubic"}.get(mode, mode),
                              padding_mode=a.get("padding_mode", "zeros"),
                              align_corners=bool(a.get("align_corners", 0)))]
    if op == "DepthToSpace":
        b = a["blocksize"]
        N, C, H, W = x.shape
        if a.get("mode", "DCR") == "DCR":
            y = x.reshape(N, b, b, C // (b * b), H, W).permute(0, 3, 4, 1, 5, 2)
        else:
            y = x.reshape(N, C // (b * b), b, b, H, W).permute(0, 1, 4, 2, 5, 3)
        return [y.reshape(N, C // (b * b), H * b, W * b)]
    if op == "SpaceToDepth":
        b = a["blocksize"]
        N, C, H, W = x.shape
        y = x.reshape(N, C, H // b, b, W // b, b).permute(0, 3, 5, 1, 2, 4)
        return [y.reshape(N, C * b * b, H // b, W // b)]
    if op == "Pad":
        pads = ins[1].tolist()
        r = x.dim()
        tp = []
        for d in reversed(range(r)):
            tp += [pads[d], pads[r + d]]
        while len(tp) > 2 and tp[-1] == 0 and tp[-2] == 0:
            tp = tp[:-2]  # torch pads non-constant modes over the trailing dims only
        mode = a.get("mode", "constant")
        if mode == "constant":
            v = ins[2].item() if len(ins) > 2 and ins[2] is not None else 0
            return [F.pad(x, tp, "constant", v)]
        return [F.pad(x, tp, {"reflect": "reflect", "edge": "replicate"}[mode])]
    if op == "Shape":
        return [torch.tensor(list(x.shape), dtype=torch.int64)]
    if op == "OneHot":
        depth = int(ins[1].reshape(-1)[0])
        off, on = ins[2][0], ins[2][1]
        hot = F.one_hot(x, depth).to(ins[2].dtype)
        return [hot * (on - off) + off]
    if op == "Split":
        sizes = ins[1].tolist() if len(ins) > 1 and ins[1] is not None else None
        return list(torch.split(x, sizes, dim=a.get("axis", 0)))
    if op == "Squeeze":
        axes = sorted([ax % x.dim() for ax in ins[1].tolist()], reverse=True)
        for ax in axes:
            x = x.squeeze(ax)
        return [x]
    if op == "Unsqueeze":
        for ax in sorted(ins[1].tolist()):
            x = x.unsqueeze(ax)
        return [x]
    if op == "TopK":
        k = int(ins[1].reshape(-1)[0])
        v, i = torch.topk(x, k, dim=a.get("axis", -1), largest=bool(a.get("largest", 1)),
                          sorted=bool(a.get("sorted", 1)))
        return [v, i]
    if op == "RoiAlign":  # avg mode through torchvision.ops.roi_align (boxes [K, 5])
        import torchvision
        if a.get("mode", "avg") != "avg":
            raise NotImplementedError("RoiAlign mode " + a["mode"])
        boxes = torch.cat([ins[2].to(x.dtype)[:, None], ins[1].to(x.dtype)], 1)
        aligned = a.get("coordinate_transformation_mode", "half_pixel") == "half_pixel"
        return [torchvision.ops.roi_align(x, boxes, (a.get("output_height", 1), a.get("output_width", 1)),
                                          a.get("spatial_scale", 1.0), a.get("sampling_ratio", 0), aligned)]
    if op == "Resize":
        return [resize(ins, a)]
    if op in ("LSTM", "GRU", "RNN"):
        return recurrent(op, ins, a)
    raise NotImplementedError(op)


def resize(ins, a):
    """ONNX Resize (opset 13) as the operator spec writes it: one axis at a time, each output
    coordinate mapped back to the input, then nearest / linear / cubic taps (edge-clamped)."""
    x = ins[0]
    given = lambda i: ins[i] if len(ins) > i and ins[i] is not None and ins[i].numel() > 0 else None
    scales, sizes = given(2), given(3)
    if scales is not None:
        scales = [float(s) for s in scales.tolist()]
        out = [int(np.floor(n * s)) for n, s in zip(x.shape, scales)]
    else:
        out = [int(v) for v in sizes.tolist()]
        scales = [o / n for o, n in zip(out, x.shape)]
    mode = a.get("mode", "nearest")
    coord = a.get("coordinate_transformation_mode", "half_pixel")
    nearest = a.get("nearest_mode", "round_prefer_floor")
    ca, exclude = a.get("cubic_coeff_a", -0.75), a.get("exclude_outside", 0)
    y = x.detach().to(torch.float64).numpy()
    for d in range(x.dim()):
        n, m, s = x.shape[d], out[d], scales[d]
        if n == m and s == 1.0:
            continue
        w = np.zeros((m, n))
        for i in range(m):
            if coord == "half_pixel":
                c = (i + 0.5) / s - 0.5
            elif coord == "pytorch_half_pixel":
                c = (i + 0.5) / s - 0.5 if m > 1 else 0.0
            elif coord == "align_corners":
                c = i * (n - 1) / (m - 1) if m > 1 else 0.0
            elif coord == "asymmetric":
                c = i / s
            else:
                raise NotImplementedError("Resize coordinate_transformation_mode " + coord)
            if mode == "nearest":
                f = np.floor(c)
                half = c - f == 0.5
                k = {"floor": f, "ceil": np.ceil(c),
                     "round_prefer_floor": f if half else np.floor(c + 0.5),
                     "round_prefer_ceil": f + 1 if half else np.floor(c + 0.5)}[nearest]
                w[i, int(min(max(k, 0), n - 1))] = 1.0
            elif mode == "linear":
                c = min(max(c, 0.0), n - 1.0)
                lo = int(np.floor(c))
                hi, t = min(lo + 1, n - 1), c - lo
                w[i, lo] += 1 - t
                w[i, hi] += t
            elif mode == "cubic":
                f = np.floor(c)
                t = c - f
                taps = []
                for j, dist in zip(range(-1, 3), (1 + t, t, 1 - t, 2 - t)):
                    z = abs(dist)
                    wt = ((ca + 2) * z - (ca + 3)) * z * z + 1 if z <= 1 else ((ca * z - 5 * ca) * z + 8 * ca) * z - 4 * ca
                    taps.append((int(f) + j, wt))
                if exclude:
                    taps = [(k, wt) for k, wt in taps if 0 <= k < n]
                    total = sum(wt for _, wt in taps)
                    taps = [(k, wt / total) for k, wt in taps]
                for k, wt in taps:
                    w[i, min(max(k, 0), n - 1)] += wt
            else:
                raise NotImplementedError("Resize mode " + mode)
        y = np.moveaxis(np.tensordot(w, np.moveaxis(y, d, 0), axes=(1, 0)), 0, d)
    return torch.from_numpy(np.ascontiguousarray(y)).to(x.dtype)


def recurrent(op, ins, a):
    """ONNX's LSTM / GRU / RNN as the operator spec writes them (layout 0), step by step."""
    ins = ins + [None] * (8 - len(ins))
    x, W, R, B, _, h0, c0 = ins[:7]
    dirs, H = W.shape[0], a["hidden_size"]
    T, N = x.shape[0], x.shape[1]
    direction = a.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    acts = [s.decode() if isinstance(s, bytes) else s for s in a.get("activations", [])]
    f_act = {"Tanh": torch.tanh, "Relu": torch.relu, "Sigmoid": torch.sigmoid}
    ys, hs, cs = [], [], []
    for d in range(dirs):
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        w, r = W[d], R[d]
        g = w.shape[0]
        wb = B[d][:g] if B is not None else torch.zeros(g, dtype=x.dtype)
        rb = B[d][g:] if B is not None else torch.zeros(g, dtype=x.dtype)
        h = h0[d] if h0 is not None else torch.zeros(N, H, dtype=x.dtype)
        c = c0[d] if c0 is not None else torch.zeros(N, H, dtype=x.dtype)
        out = [None] * T
        for s in (reversed(range(T)) if reverse else range(T)):
            xt = x[s] @ w.t() + wb
            if op == "LSTM":
                gates = xt + h @ r.t() + rb
                i, o, f, cc = gates.split(H, dim=1)
                i, o, f, cc = torch.sigmoid(i), torch.sigmoid(o), torch.sigmoid(f), torch.tanh(cc)
                c = f * c + i * cc
                h = o * torch.tanh(c)
            elif op == "GRU":
                xz, xr, xh = xt.split(H, dim=1)
                rz, rr, rh = r.split(H, dim=0)
                bz, br, bh = rb.split(H)
                z = torch.sigmoid(xz + h @ rz.t() + bz)
                rt = torch.sigmoid(xr + h @ rr.t() + br)
                if a.get("linear_before_reset", 0):
                    n = torch.tanh(xh + rt * (h @ rh.t() + bh))
                else:
                    n = torch.tanh(xh + (rt * h) @ rh.t() + bh)
                h = (1 - z) * n + z * h
            else:
                act = f_act[acts[d] if acts else "Tanh"]
                h = act(xt + h @ r.t() + rb)
            out[s] = h
        ys.append(torch.stack(out, 0))
        hs.append(h)
        cs.append(c)
    Y = torch.stack(ys, 1)  # [T, dirs, N, H]
    res = [Y, torch.stack(hs, 0)]
    if op == "LSTM":
        res.append(torch.stack(cs, 0))
    return res


def evaluate(model, inputs):
    env = {}
    for init in model.graph.initializer:
        env[init.name] = torch.from_numpy(numpy_helper.to_array(init).copy())
    for vi, arr in zip(model.graph.input, inputs):
        env[vi.name] = torch.from_numpy(arr)
    for n in model.graph.node:
        ins = [env[i] if i else None for i in n.input]
        try:
            outs = run_node(n, ins)
        except NotImplementedError as e:
            raise RuntimeError(f"evaluator: ONNX op {e} is not implemented in check_onnx_export.py")
        for name, t in zip(n.output, outs):
            env[name] = t
    return [env[o.name].numpy() for o in model.graph.output]


def check_one(model_path, input_files, expected_files, rtol, atol):
    """Returns None when the model passes, else the reason."""
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    for o in inferred.graph.output:
        if not o.type.tensor_type.HasField("shape"):
            return f"output {o.name} has no shape"
    if not input_files:
        return None
    outs = evaluate(model, [np.load(f) for f in input_files])
    if len(outs) != len(expected_files):
        return f"{len(outs)} outputs, {len(expected_files)} expected"
    for i, (got, f) in enumerate(zip(outs, expected_files)):
        want = np.load(f)
        if got.dtype != want.dtype or got.shape != want.shape:
            return f"output {i}: got {got.dtype}{list(got.shape)}, want {want.dtype}{list(want.shape)}"
        if got.dtype.kind in "fc":
            if not np.allclose(got, want, rtol=rtol, atol=atol):
                return f"output {i}: max abs error {np.max(np.abs(got - want))}"
        elif not np.array_equal(got, want):
            return f"output {i}: values differ"
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", help="model.onnx, or a directory of cases <case>/model.onnx, "
                   "<case>/input_<i>.npy, <case>/expected_<i>.npy")
    p.add_argument("--input", action="append", default=[])
    p.add_argument("--expected", action="append", default=[])
    p.add_argument("--rtol", type=float, default=1e-4)
    p.add_argument("--atol", type=float, default=1e-5)
    args = p.parse_args()
    if os.path.isdir(args.model):
        cases = sorted(d for d in os.listdir(args.model)
                       if os.path.isfile(os.path.join(args.model, d, "model.onnx")))
        if not cases:
            print(f"FAIL: no cases under {args.model}")
            return 1
        failed = 0
        for case in cases:
            d = os.path.join(args.model, case)
            def numbered(prefix):
                names = [f for f in os.listdir(d) if f.startswith(prefix) and f.endswith(".npy")]
                names.sort(key=lambda f: int(f[len(prefix):-4]))
                return [os.path.join(d, f) for f in names]
            ins, exp = numbered("input_"), numbered("expected_")
            try:
                why = check_one(os.path.join(d, "model.onnx"), ins, exp, args.rtol, args.atol)
            except Exception as e:  # checker / inference errors
                why = f"{type(e).__name__}: {e}"
            print(f"{'ok  ' if why is None else 'FAIL'} {case}" + ("" if why is None else f": {why}"))
            failed += why is not None
        print(f"{len(cases) - failed}/{len(cases)} exported models pass")
        return 1 if failed else 0
    why = check_one(args.model, args.input, args.expected, args.rtol, args.atol)
    print("ok" if why is None else f"FAIL: {why}")
    return 0 if why is None else 1


if __name__ == "__main__":
    sys.exit(main())
