"""``tandem.onnx``: export a Module or function to ONNX (traced by tandem's tracer) and run
ONNX models with tandem's importer."""
import os

from . import _C
from ._C import Tensor, Error


def export(model, args, f, input_names=None, output_names=None, opset_version=17,
           dynamic_axes=None, do_constant_folding=True, verbose=False):
    """As ``torch.onnx.export``: ``args`` a tensor or a tuple of tensors. ``dynamic_axes``
    may only mark dim 0 (the batch) of the inputs and outputs."""
    from .nn import Module
    xs = [args] if isinstance(args, Tensor) else list(args)
    dynamic = False
    if dynamic_axes:
        for name, axes in dynamic_axes.items():
            dims = list(axes.keys()) if isinstance(axes, dict) else list(axes)
            if dims != [0]:
                raise Error(f"onnx.export: only dim 0 can be dynamic, got {dims} for '{name}'")
        dynamic = True
    path = os.fspath(f)
    names_in = list(input_names or [])
    names_out = list(output_names or [])
    was_training = getattr(model, "training", False)
    if isinstance(model, Module):
        model.eval()
    try:
        if isinstance(model, Module) and model._cpp is not None and len(xs) == 1:
            _C._onnx.export_module(model._cpp, xs[0], path, opset_version, dynamic, names_in,
                                   names_out)
            return

        def fn(ts):
            out = model(*ts)
            return [out] if isinstance(out, Tensor) else list(out)
        mods = []
        if isinstance(model, Module):
            mods = [m._cpp for m in model.modules() if m._cpp is not None]
        _C._onnx.export_function(fn, xs, path, opset_version, dynamic, names_in, names_out, mods)
    finally:
        if isinstance(model, Module) and was_training:
            model.train()


class InferenceSession:
    """An ONNX model loaded by tandem's importer (a subset of onnxruntime's API)."""

    def __init__(self, path):
        self._model = _C._onnx.Model.load(os.fspath(path))

    def input_names(self):
        return self._model.input_names()

    def output_names(self):
        return self._model.output_names()

    def run(self, inputs):
        """``inputs``: {name: Tensor or NumPy array}; returns the outputs as a list of tensors."""
        import numpy as np
        ts = {k: (_C.from_numpy(np.asarray(v, order="C")) if isinstance(v, np.ndarray) else v)
              for k, v in inputs.items()}
        return self._model.run(ts)

    def plan_summary(self):
        """How the last run() executed the nodes: "planned segments: N (M nodes), eager nodes:
        K: ..." (nodes that read run-time values, such as NonZero, run eagerly between plans)."""
        return self._model.plan_summary()

    def __repr__(self):
        return str(self._model)


def load(path):
    return InferenceSession(path)
