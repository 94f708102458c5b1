#!/usr/bin/env python3
"""Checks that includes flow down the layers (docs/architecture.md, "Layers").

Every `#include "..."` in src/, include/tandem/, tools/ and python/src/ is mapped to the
layer of the including file and of the included file. An include is upward when the target's
layer is not below the source's. The known exceptions are listed, one `FILE -> LAYER` per line,
in scripts/layer_allowlist.txt; the check fails on an upward include not listed there and on a
listed one that is gone (so the list only shrinks).

  python3 scripts/check_layers.py            check (exit 1 on a finding)
  python3 scripts/check_layers.py --graph    print the layer-to-layer include counts
"""
import collections
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOWLIST = os.path.join(ROOT, "scripts", "layer_allowlist.txt")

# Lowest first. A layer may include the layers of lower levels and its peers of the same level,
# with two exceptions: no layer includes a backend (backends register kernels into the OpDefs),
# and backend and autograd, peers, do not include each other (kernels never use autograd).
# quant: portable int8 kernels on plain arrays (no Tensor), for every layer and a small runtime.
# lite: tandem-lite (src/lite), the standalone runtime: it includes nothing outside itself, and
# the converter (src/onnx) reads its file format header.
LEVELS = [
    ["core", "quant", "lite"],
    ["ops"],
    ["backend", "autograd"],
    ["graph"],
    ["nn", "optim", "data"],
    ["io", "onnx", "summary", "models"],
    ["distributed"],
    ["train", "serve"],
    ["tools", "python", "umbrella"],
]
LEVEL = {layer: i for i, names in enumerate(LEVELS) for layer in names}

# Public headers directly under include/tandem/ that are not named after their layer.
TOP_HEADERS = {
    "tensor": "core", "dtype": "core", "error": "core", "generator": "core",
    "generator_scope": "core", "memory": "core",
    "opdef": "ops", "operators": "ops", "ops": "ops", "autocast": "ops", "vision_ops": "ops",
    "sampling": "ops", "einsum": "ops",
    "autograd": "autograd", "autograd_callback": "autograd",
    "compile": "graph", "state_dict": "nn", "tandem": "umbrella",
}

INCLUDE = re.compile(r'\s*#\s*include\s*"([^"]+)"')


def layer_of(rel):
    parts = rel.split("/")
    if parts[0] == "src" and len(parts) > 2:
        return "backend" if parts[1] == "backend" else parts[1]
    if parts[0] == "include" and len(parts) > 2 and parts[1] == "tandem":
        if len(parts) > 3:
            return parts[2]
        name = parts[2].rsplit(".", 1)[0]
        return TOP_HEADERS.get(name, name)
    if parts[0] == "tools":
        return "tools"
    if parts[0] == "python":
        return "python"
    return None


def allowed(src, dst):
    if src == dst:
        return True
    if src == "lite":
        return False
    if src not in LEVEL or dst not in LEVEL:
        return False
    if dst == "backend":
        return False
    if {src, dst} == {"backend", "autograd"}:
        return False
    return LEVEL[dst] <= LEVEL[src]


def includes():
    """Yields (including file, its layer, included file, its layer), paths relative to ROOT."""
    for base in ("src", "include/tandem", "tools", "python/src"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, base)):
            for f in sorted(files):
                if not f.endswith((".h", ".cpp")):
                    continue
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, ROOT)
                src_layer = layer_of(rel)
                with open(full, errors="replace") as fh:
                    for line in fh:
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        inc = m.group(1)
                        if inc.startswith("tandem/"):
                            target = "include/" + inc
                        else:
                            target = os.path.normpath(os.path.join(os.path.dirname(rel), inc))
                            if not os.path.exists(os.path.join(ROOT, target)):
                                target = os.path.normpath(os.path.join("src", inc))
                        yield rel, src_layer, target, layer_of(target)


def main():
    graph = collections.Counter()
    upward = set()
    for rel, src, target, dst in includes():
        if src is None or dst is None or src == dst:
            continue
        graph[(src, dst)] += 1
        if not allowed(src, dst):
            upward.add(f"{rel} -> {dst}")
    if "--graph" in sys.argv:
        for (a, b), n in sorted(graph.items()):
            print(f"{a:12s} -> {b:12s} {n:3d}{'' if allowed(a, b) else '  upward'}")
        return 0
    known = set()
    with open(ALLOWLIST) as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if line:
                known.add(" ".join(line.split()))
    new = sorted(upward - known)
    gone = sorted(known - upward)
    for entry in new:
        print(f"upward include: {entry} (include only layers below; see docs/architecture.md)")
    for entry in gone:
        print(f"fixed, remove it from scripts/layer_allowlist.txt: {entry}")
    print(f"{len(upward)} upward includes ({len(upward & known)} known, {len(new)} new), "
          f"{len(gone)} allowlist entries to remove")
    return 1 if new or gone else 0


if __name__ == "__main__":
    sys.exit(main())
