#!/usr/bin/env bash
# Runs Failure.StalledRankIsNamedWithinTheTimeout under mpirun -np 2: rank 1 stalls, rank 0's
# all_reduce must time out (1.5 s) with an error naming rank 1; the job must end, non-zero
# (rank 0 leaves without MPI_Finalize), well before the stalled rank would have woken twice.
#   run_stall.sh MPIRUN TEST_BINARY
set -uo pipefail
mpirun="$1"; bin="$2"
out="$(mktemp)"; trap 'rm -f "$out"' EXIT
start=$(date +%s%N)
timeout 40 "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$bin" \
  --gtest_filter=Failure.StalledRankIsNamedWithinTheTimeout --gtest_color=no >"$out" 2>&1
rc=$?
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
cat "$out"
fail() { echo "run_stall.sh: $*" >&2; exit 1; }
[ "$rc" -ne 124 ] || fail "mpirun hung (killed after 40 s)"
grep -q "\[  PASSED  \] 1 test" "$out" || fail "no rank passed the test (the error did not name rank 1 in time)"
grep -q "rank 0 got: .*timed out.*rank 1 has not joined" "$out" || fail "rank 0's error does not name rank 1"
echo "run_stall.sh: mpirun exit status $rc after ${elapsed} ms"
[ "$rc" -ne 0 ] || fail "the job exited 0 although a collective failed"
[ "$elapsed" -lt 30000 ] || fail "took ${elapsed} ms"
