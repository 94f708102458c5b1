"""``tandem.save`` / ``tandem.load``: safetensors files (no code runs on load, unlike pickle).

A dict of tensors (a state_dict) is stored as is; nested dicts (an optimizer's or a whole
checkpoint) are flattened with "/"-joined keys, and their numbers and strings go to the
file's metadata as JSON. Saves are atomic (a temporary file renamed into place)."""
import json
import os

from . import _C
from ._C import Tensor, Error

_META_KEY = "__tandem_values__"


def _flatten(obj, prefix, tensors, values):
    if isinstance(obj, Tensor):
        tensors[prefix] = obj.detach().contiguous()
    elif isinstance(obj, dict):
        if not obj and prefix:
            values[prefix] = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                k = str(k)
            if "/" in k:
                raise Error(f"save: key '{k}' contains '/', which separates nested keys")
            _flatten(v, f"{prefix}/{k}" if prefix else k, tensors, values)
    elif obj is None or isinstance(obj, (bool, int, float, str, list, tuple)):
        if isinstance(obj, (list, tuple)) and any(isinstance(x, Tensor) for x in obj):
            for i, x in enumerate(obj):
                _flatten(x, f"{prefix}/{i}", tensors, values)
            values[prefix + "/__list__"] = len(obj)
            return
        values[prefix] = obj
    else:
        raise Error(f"save: can't store a {type(obj).__name__} at '{prefix}' (tensors, dicts, "
                    "numbers, strings and lists of them)")


def save(obj, f):
    """Saves tensors or (nested) dicts of tensors and plain values to path ``f``."""
    path = os.fspath(f)
    tensors, values = {}, {}
    if isinstance(obj, Tensor):
        tensors[""] = obj.detach().contiguous()
    else:
        _flatten(obj, "", tensors, values)
    meta = {"format": "pt", "producer": "tandem"}
    if values or isinstance(obj, Tensor):
        meta[_META_KEY] = json.dumps({"values": values, "single": isinstance(obj, Tensor)})
    _C._io.save_safetensors(path, tensors, meta)


def _set(root, key, value):
    parts = key.split("/")
    d = root
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def _relist(d):
    if not isinstance(d, dict):
        return d
    n = d.pop("__list__", None)
    out = {k: _relist(v) for k, v in d.items()}
    if n is not None:
        return [out[str(i)] for i in range(n)]
    return out


def load(f, map_location=None, weights_only=True):
    """Loads what ``save`` wrote (or any safetensors file: a flat dict of tensors). The
    tensors map the file (zero-copy, read-only use is cheapest); clone to modify freely."""
    tensors, meta = _C._io.load_safetensors(os.fspath(f))
    extra = json.loads(meta[_META_KEY]) if _META_KEY in meta else {"values": {}, "single": False}
    if extra.get("single"):
        return tensors[""]
    out = {}
    for k, t in tensors.items():
        _set(out, k, t)
    for k, v in extra["values"].items():
        _set(out, k, v)
    return _relist(out)


def save_file(tensors, filename, metadata=None):
    """safetensors' ``save_file``: a flat dict of tensors, string metadata."""
    _C._io.save_safetensors(os.fspath(filename),
                            {k: v.detach().contiguous() for k, v in tensors.items()},
                            dict(metadata or {}))


def load_file(filename):
    """safetensors' ``load_file``: the flat dict of tensors."""
    return _C._io.load_safetensors(os.fspath(filename))[0]
