// Builds a TF.js forward function from an ONNX classifier dumped by onnx_to_tfjs.py: the same
// weights, NHWC activations (TF.js's layout), weights re-laid out once here (Conv OIHW -> HWIO,
// depthwise -> HWC1, Gemm transposed). Ops: Conv (group 1 or depthwise), Relu, Clip, Add,
// MaxPool, GlobalAveragePool, Flatten, Reshape (to 2-D), Gemm.
export function buildTfjsModel(tf, graph, weights) {
  const raw = (name) => {
    const t = graph.tensors[name];
    if (!t) throw new Error(`tfjs_model: no tensor ${name}`);
    return { data: weights.subarray(t.offset / 4, t.offset / 4 + t.length), shape: t.shape };
  };
  const pads = (p, k) => {
    if (!p || p.every((v) => v === 0)) return 'valid';
    const [t, l, b, r] = p;
    if (t === b && l === r && t === l) return t;
    return [[0, 0], [t, b], [l, r], [0, 0]];
  };
  const steps = graph.nodes.map((n) => {
    const a = n.attrs;
    switch (n.op) {
      case 'Conv': {
        const w = raw(n.inputs[1]);
        const [O, I, KH, KW] = w.shape;
        const group = a.group || 1;
        const depthwise = group > 1;
        if (depthwise && !(I === 1 && O === group)) throw new Error('tfjs_model: only depthwise grouped conv');
        const filter = tf.tidy(() => tf.transpose(tf.tensor(w.data, w.shape), depthwise ? [2, 3, 0, 1] : [2, 3, 1, 0]));
        const bias = n.inputs[2] ? tf.tensor(raw(n.inputs[2]).data) : null;
        const strides = a.strides || [1, 1], dil = a.dilations || [1, 1], pad = pads(a.pads, [KH, KW]);
        return (env) => {
          const x = env.get(n.inputs[0]);
          let y = depthwise ? tf.depthwiseConv2d(x, filter, strides, pad, 'NHWC', dil)
                            : tf.conv2d(x, filter, strides, pad, 'NHWC', dil);
          if (bias) y = tf.add(y, bias);
          return y;
        };
      }
      case 'Relu': return (env) => tf.relu(env.get(n.inputs[0]));
      case 'Clip': {
        const lo = n.inputs[1] ? raw(n.inputs[1]).data[0] : -Infinity, hi = n.inputs[2] ? raw(n.inputs[2]).data[0] : Infinity;
        return (env) => (lo === 0 && hi === 6 ? tf.relu6(env.get(n.inputs[0])) : tf.clipByValue(env.get(n.inputs[0]), lo, hi));
      }
      case 'Add': return (env) => tf.add(env.get(n.inputs[0]), env.get(n.inputs[1]));
      case 'MaxPool': {
        const k = a.kernel_shape, s = a.strides || k, pad = pads(a.pads, k);
        if (Array.isArray(pad)) throw new Error('tfjs_model: asymmetric MaxPool padding');
        return (env) => tf.maxPool(env.get(n.inputs[0]), k, s, pad);
      }
      case 'GlobalAveragePool': return (env) => tf.mean(env.get(n.inputs[0]), [1, 2], true);
      case 'Flatten':
      case 'Reshape':
        // NHWC -> NCHW first: the ONNX weights after it index the channel-major order.
        return (env) => {
          const x = env.get(n.inputs[0]);
          return tf.reshape(x.rank === 4 ? tf.transpose(x, [0, 3, 1, 2]) : x, [x.shape[0], -1]);
        };
      case 'Gemm': {
        const w = raw(n.inputs[1]);
        const wt = tf.tidy(() => (a.transB ? tf.transpose(tf.tensor(w.data, w.shape)) : tf.tensor(w.data, w.shape)));
        const bias = n.inputs[2] ? tf.tensor(raw(n.inputs[2]).data) : null;
        return (env) => {
          const y = tf.matMul(env.get(n.inputs[0]), wt);
          return bias ? tf.add(y, bias) : y;
        };
      }
      default:
        throw new Error(`tfjs_model: op ${n.op} not supported`);
    }
  });
  return (x) => tf.tidy(() => {
    const env = new Map([[graph.inputs[0], x]]);
    graph.nodes.forEach((n, i) => env.set(n.outputs[0], steps[i](env)));
    return env.get(graph.outputs[0]);
  });
}
