#!/usr/bin/env bash
# `tandem train --distributed` under mpirun: checkpoints resume on any world size.
#   2 ranks, 2 epochs uninterrupted                          -> a
#   2 ranks stopped after epoch 1, resumed on 2 ranks        -> b   (bit-exact with a)
#   the same checkpoint resumed by one process               -> b1  (within 1e-4 of a)
#   one process stopped after epoch 1, resumed on 2 ranks    -> c   (within 1e-4 of a)
# The global batch (--batch-size) stays 64 whatever the world size.
# With --zero every run shards the optimizer (ZeRO-1; the single process is a world of one):
# its checkpoint holds the whole optimizer state, so it resumes on any world size too.
#   run_resume.sh MPIRUN TANDEM [--zero]
set -euo pipefail
mpirun=("$1" --allow-run-as-root --oversubscribe); tandem="$2"; zero="${3:-}"
dist=(--distributed); single=("$tandem"); single_flags=()
if [[ "$zero" == "--zero" ]]; then
  dist=(--distributed --zero); single=("${mpirun[@]}" -np 1 "$tandem"); single_flags=("${dist[@]}")
fi
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
common=(train --model mlp --epochs 2 --train-limit 2048 --test-limit 500 --batch-size 64
        --optimizer adam --schedule cosine --no-progress --no-tensorboard --threads 1 --seed 3)
resume=(--no-progress --threads 1)
set -x
"${mpirun[@]}" -np 2 "$tandem" "${common[@]}" "${dist[@]}" --out "$dir/a"
"${mpirun[@]}" -np 2 "$tandem" "${common[@]}" "${dist[@]}" --stop-after 1 --out "$dir/b"
cp -r "$dir/b" "$dir/b1"
"${mpirun[@]}" -np 2 "$tandem" train --resume "$dir/b/checkpoint.safetensors" "${dist[@]}" "${resume[@]}"
"${single[@]}" train --resume "$dir/b1/checkpoint.safetensors" "${single_flags[@]}" "${resume[@]}"
"${single[@]}" "${common[@]}" "${single_flags[@]}" --stop-after 1 --out "$dir/c"
"${mpirun[@]}" -np 2 "$tandem" train --resume "$dir/c/checkpoint.safetensors" "${dist[@]}" "${resume[@]}"
py=/usr/bin/python3
"$py" "$here/compare_models.py" "$dir/a/model.safetensors" "$dir/b/model.safetensors" --exact
"$py" "$here/compare_models.py" "$dir/a/model.safetensors" "$dir/b1/model.safetensors" --atol 1e-4
"$py" "$here/compare_models.py" "$dir/a/model.safetensors" "$dir/c/model.safetensors" --atol 1e-4
# The world size may change; the recipe may not: a different global batch is refused.
if "$tandem" train --resume "$dir/a/checkpoint.safetensors" --batch-size 32 --epochs 3 >"$dir/err" 2>&1; then
  echo "run_resume.sh: a resume with another --batch-size was accepted" >&2; exit 1
fi
grep -q "batch-size" "$dir/err"
