#!/usr/bin/env bash
# Rank 1 of `mpirun -np 2 tandem train --distributed` is SIGKILLed in the middle of epoch 2:
# the job must end non-zero within the collective timeout (--comm-timeout 5) plus slack,
# naming rank 1 (our timeout's error, or mpirun's report if it ends rank 0 first); the
# checkpoint of epoch 1 must be intact and resumable (here by a single process).
#   run_kill.sh MPIRUN TANDEM
set -uo pipefail
mpirun="$1"; tandem="$2"
dir="$(mktemp -d)"
mp=""
cleanup() { [ -n "$mp" ] && kill -9 "$mp" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "run_kill.sh: $*" >&2; cat "$dir/log" >&2; exit 1; }
"$mpirun" --allow-run-as-root --oversubscribe -np 2 "$tandem" train --model mlp --epochs 4 \
  --train-limit 12000 --test-limit 500 --batch-size 64 --no-progress --no-tensorboard --threads 1 \
  --distributed --comm-timeout 5 --out "$dir/run" >"$dir/log" 2>&1 &
mp=$!
for _ in $(seq 1200); do [ -f "$dir/run/checkpoint.safetensors" ] && break; sleep 0.05; done
[ -f "$dir/run/checkpoint.safetensors" ] || fail "no checkpoint after 60 s"
sleep 0.2  # into epoch 2
victim=""
for pid in $(pgrep -P "$mp"); do
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$pid
done
[ -n "$victim" ] || fail "rank 1 not found among mpirun's children"
start=$(date +%s%N)
kill -9 "$victim"
wait "$mp"; rc=$?; mp=""
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
cat "$dir/log"
echo "run_kill.sh: mpirun exit status $rc, ${elapsed} ms after the SIGKILL"
[ "$rc" -ne 0 ] || fail "the job exited 0"
[ "$elapsed" -lt 20000 ] || fail "took ${elapsed} ms (timeout 5 s)"
grep -Eq "rank 1( |\b)" "$dir/log" || fail "no message names rank 1"
grep -q "epoch 1/4" "$dir/log" || fail "epoch 1 did not finish before the kill"
grep -q "epoch 2/4" "$dir/log" && fail "epoch 2 finished: the kill was not mid-epoch"
# The checkpoint is intact: a single process resumes it to the end.
"$tandem" train --resume "$dir/run/checkpoint.safetensors" --no-progress --threads 1 \
  >"$dir/resume.log" 2>&1 || { cat "$dir/resume.log"; fail "resume failed"; }
cat "$dir/resume.log"
grep -q "epoch 4/4" "$dir/resume.log" || fail "the resumed run did not reach epoch 4"
