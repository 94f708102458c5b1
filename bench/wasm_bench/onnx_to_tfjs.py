#!/usr/bin/python3
"""Dumps an ONNX classifier (Conv/Relu/Clip/Add/MaxPool/GlobalAveragePool/Flatten/Reshape/Gemm)
as OUT.json (nodes, attributes) + OUT.bin (float32 initializers) for tfjs_model.mjs, which runs
it with TF.js ops: the same weights as the .onnx that ONNX Runtime Web runs and that `tandem
convert` turns into the .tlite.

    /usr/bin/python3 bench/wasm_bench/onnx_to_tfjs.py MODEL.onnx OUT_PREFIX
"""
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main():
    model = onnx.load(sys.argv[1])
    g = model.graph
    blobs, tensors = [], {}
    offset = 0

    def add(name, array):
        nonlocal offset
        a = np.ascontiguousarray(array, dtype=np.float32)
        tensors[name] = {"shape": list(a.shape), "offset": offset, "length": int(a.size)}
        blobs.append(a.tobytes())
        offset += a.size * 4

    for init in g.initializer:
        add(init.name, numpy_helper.to_array(init).astype(np.float32))
    nodes = []
    for n in g.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Constant":
            add(n.output[0], numpy_helper.to_array(attrs["value"]).astype(np.float32))
            continue
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
        nodes.append({"op": n.op_type, "inputs": list(n.input), "outputs": list(n.output), "attrs": attrs})
    inits = {i.name for i in g.initializer}
    inputs = [i.name for i in g.input if i.name not in inits]
    with open(sys.argv[2] + ".json", "w") as f:
        json.dump({"inputs": inputs, "outputs": [o.name for o in g.output], "nodes": nodes, "tensors": tensors}, f)
    with open(sys.argv[2] + ".bin", "wb") as f:
        f.write(b"".join(blobs))


if __name__ == "__main__":
    main()
