#!/usr/bin/env bash
# `tandem train --distributed --zero --checkpoint-every N` under mpirun: only rank 0 has the
# checkpoint callback, yet every rank must gather ZeRO's optimizer shards before each save;
# the mid-epoch checkpoint then resumes like an uninterrupted run. The reported train loss
# is the global one (all ranks' rows), i.e. the single process's on the same global batches.
#   2 ranks, 2 epochs, a checkpoint every 5 steps, uninterrupted     -> a
#   the same stopped after epoch 1 (last checkpoint: step 30 of 32)  -> b, resumed on 2 ranks
#   that checkpoint resumed by one process (ZeRO over a world of 1)  -> b1
#   one process, plain (no MPI), 2 epochs                            -> s  (train loss vs a)
#   run_checkpoint_every.sh MPIRUN TANDEM
set -euo pipefail
mpirun=("$1" --allow-run-as-root --oversubscribe); tandem="$2"
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
common=(train --model mlp --epochs 2 --train-limit 2048 --test-limit 200 --batch-size 64
        --optimizer adam --schedule cosine --no-progress --no-tensorboard --threads 1 --seed 4)
zero=(--distributed --zero --checkpoint-every 5)
set -x
"${mpirun[@]}" -np 2 "$tandem" "${common[@]}" "${zero[@]}" --out "$dir/a"
"${mpirun[@]}" -np 2 "$tandem" "${common[@]}" "${zero[@]}" --stop-after 1 --out "$dir/b"
cp -r "$dir/b" "$dir/b1"
"${mpirun[@]}" -np 2 "$tandem" train --resume "$dir/b/checkpoint.safetensors" "${zero[@]}" --no-progress --threads 1
"${mpirun[@]}" -np 1 "$tandem" train --resume "$dir/b1/checkpoint.safetensors" "${zero[@]}" --no-progress --threads 1
"$tandem" "${common[@]}" --out "$dir/s"
py=/usr/bin/python3
"$py" "$here/compare_models.py" "$dir/a/model.safetensors" "$dir/b/model.safetensors" --atol 1e-6
"$py" "$here/compare_models.py" "$dir/a/model.safetensors" "$dir/b1/model.safetensors" --atol 1e-4
"$py" - "$dir/a/metrics.jsonl" "$dir/s/metrics.jsonl" <<'EOF'
import json, sys
a, s = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
assert len(a) == len(s) == 2, (a, s)
for x, y in zip(a, s):
    # The global batches are the same, the arithmetic differs in order only: a rank's share
    # of the loss would be off by far more (each sees half of every batch).
    rel = abs(x["train_loss"] - y["train_loss"]) / abs(y["train_loss"])
    print(f"epoch {x['epoch']}: train loss 2 ranks {x['train_loss']:.6f}, 1 process {y['train_loss']:.6f}")
    assert rel < 1e-4, f"2-rank train loss {x['train_loss']} vs single process {y['train_loss']}"
EOF
