#!/usr/bin/env bash
# Data-parallel training on this machine (bench/README.md, "Distributed"): CNN throughput with
# 2 ranks x 1 thread vs 1 rank x 2 threads vs 1 rank x 1 thread (eager, and compiled with
# --compile), the all-reduce time share and the fraction hidden behind backward, a bucket-size
# sweep, and all_reduce bandwidth of
# tandem's process group vs MPI_Allreduce called directly (same sizes, same job shape).
#   bench/distributed_run.sh            (needs build/release: tandem_cli, bench_distributed)
# TRAIN_LIMIT (3072 images, one epoch) sets the training run's size; ROUNDS (3) how often
# each measurement repeats, interleaved (the report takes the median round).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/build/release"
tandem="$bin/tools/tandem"; bench="$bin/bench/bench_distributed"
out="$bin/bench/results/distributed"; mkdir -p "$out"
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
limit="${TRAIN_LIMIT:-3072}"; rounds="${ROUNDS:-3}"
train=(train --model cnn --epochs 1 --train-limit "$limit" --test-limit 1000 --batch-size 128
       --no-progress --no-tensorboard --json)

run() {  # name, then the command; keeps the JSON line
  local name="$1"; shift
  "$@" > "$out/$name.log" 2>&1
  grep '^{' "$out/$name.log" | tail -1 > "$out/$name.json"
}
echo "all_reduce sweeps (2 ranks)..."
for round in $(seq "$rounds"); do
  "${mpirun[@]}" -np 2 "$bench" mpi > "$out/allreduce_mpi_$round.jsonl"
  "${mpirun[@]}" -np 2 "$bench" tandem > "$out/allreduce_tandem_$round.jsonl"
done
echo "CNN training runs..."
for round in $(seq "$rounds"); do
  OMP_NUM_THREADS=1 run "1x1_$round" "$tandem" "${train[@]}" --threads 1
  OMP_NUM_THREADS=2 run "1x2_$round" "$tandem" "${train[@]}" --threads 2
  OMP_NUM_THREADS=1 run "2x1_$round" "${mpirun[@]}" -np 2 -x OMP_NUM_THREADS "$tandem" "${train[@]}" --threads 1 --distributed
  OMP_NUM_THREADS=1 run "1x1c_$round" "$tandem" "${train[@]}" --threads 1 --compile
  OMP_NUM_THREADS=1 run "2x1c_$round" "${mpirun[@]}" -np 2 -x OMP_NUM_THREADS "$tandem" "${train[@]}" --threads 1 --distributed --compile
  for mb in 1 5 100; do
    OMP_NUM_THREADS=1 run "2x1_bucket${mb}_$round" "${mpirun[@]}" -np 2 -x OMP_NUM_THREADS "$tandem" "${train[@]}" --threads 1 --distributed --bucket-mb "$mb"
  done
done
{ echo "load: $(uptime)"; /usr/bin/python3 "$root/bench/distributed_report.py" "$out"; } | tee "$out/table.md"
