#!/usr/bin/env bash
# make refdata: reruns every generator of committed reference data (PyTorch, NumPy, ONNX)
# in a temporary copy of the tree and fails when anything differs from the committed files,
# so the data in tests/data always is what the scripts in tests/reference produce.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The generators write relative to their own location: copy them, not the data.
mkdir -p "$tmp/tests/data/onnx" "$tmp/fuzz"
cp -r "$root/tests/reference" "$tmp/tests/"
cp "$root/tests/data/onnx/gen_onnx.py" "$tmp/tests/data/onnx/"

gens=(tests/reference/gen_reference.py tests/reference/gen_nn.py tests/reference/gen_nn_seq.py
      tests/reference/gen_optim.py tests/reference/gen_dataio.py tests/reference/gen_safetensors.py
      tests/reference/gen_onnx_torch.py tests/data/onnx/gen_onnx.py
      tests/reference/gen_distributed.py tests/reference/gen_bf16.py tests/reference/gen_detection.py
      tests/reference/gen_grid_sample.py tests/reference/gen_control_flow.py
      tests/reference/gen_scatter.py tests/reference/gen_int16.py tests/reference/gen_quant_calib.py)
# Two at a time, each from its own folder (ONNX's checker finds external data relative to the
# working directory); one thread each keeps the results deterministic.
printf '%s\n' "${gens[@]}" |
  OMP_NUM_THREADS=1 PYTHONHASHSEED=0 xargs -P 2 -I{} sh -c \
    'cd "$0/$(dirname {})" && '"$py"' "$(basename {})" > "$0/$(basename {}).log" 2>&1 ||
     { echo "refdata: {} failed:"; cat "$0/$(basename {}).log"; exit 255; }' "$tmp"
rm -f "$tmp"/*.log
"$py" "$root/tests/reference/compare_refdata.py" "$tmp" "$root"
