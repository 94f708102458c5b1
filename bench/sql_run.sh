#!/usr/bin/env bash
# SqlDataset vs pandas.read_sql on SQLite and on a throwaway PostgreSQL cluster (started here on
# a free loopback port, stopped on exit): a table of ROWS rows (16 float columns + label;
# 200000 by default, --full for 1M) and Fashion-MNIST as image bytes, streamed and read by key
# as `tandem train` reads it; a generated stream of 490 MB in a 49 MB memory cgroup (peak RSS);
# then MLP training from PostgreSQL vs in-memory IDX. One run per case
# (REPS=3 for medians). Needs build/release (bench_sql, tandem) and scripts/setup.sh --bench
# (pandas, psycopg2). Prints the table (Markdown) for bench/README.md.
set -euo pipefail
ROWS=${ROWS:-200000}
if [ "${1:-}" = "--full" ]; then ROWS=1000000; fi
export REPS=${REPS:-1}
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
BENCH=$BUILD/bench/bench_sql
TANDEM=$BUILD/tools/tandem
PY=/usr/bin/python3
work=$(mktemp -d /tmp/tandem_sqlbench_XXXXXX)
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as=""; if [ "$(id -u)" -eq 0 ]; then as="runuser -u postgres --"; chown postgres "$work"; fi
cleanup() { $as "$bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
$as "$bin/initdb" -D "$work/pg" -A trust -U postgres --no-sync >/dev/null
$as "$bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
PG="postgresql://postgres@127.0.0.1:$port/postgres"
DSN="host=127.0.0.1 port=$port user=postgres dbname=postgres"
LITE="$work/bench.db"; chmod 777 "$work"

cols=""; defs=""
for k in $(seq 0 15); do cols="$cols, ((i * $((7 + 2 * k)) + $k) % 1000) / 8.0"; defs="$defs, f$k REAL"; done
psql -q "$PG" -c "CREATE TABLE big (id INTEGER$defs, label INTEGER); INSERT INTO big SELECT i$cols, i % 10 FROM generate_series(0, $((ROWS - 1))) AS g(i)"
$PY - "$LITE" "$cols" "$defs" "$ROWS" <<'PYEOF'
import sqlite3, sys
db, cols, defs, rows = sys.argv[1:5]
c = sqlite3.connect(db)
c.execute(f"CREATE TABLE big (id INTEGER{defs}, label INTEGER)")
c.execute(f"INSERT INTO big WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < {int(rows) - 1}) SELECT i{cols}, i % 10 FROM g")
c.commit()
PYEOF
$TANDEM data import fashion-mnist "sqlite:///$LITE" --no-progress >/dev/null
$TANDEM data import fashion-mnist "$PG" --no-progress >/dev/null

results="$work/results.jsonl"; : > "$results"
row() {  # name  tandem-json  pandas-json
  echo "{\"case\": \"$1\", \"tandem\": $2, \"pandas\": ${3:-null}}" >> "$results"
}
BIG="SELECT * FROM big"; IMG="SELECT image, label FROM train"
p_lite_big=$($PY bench/sql_pandas.py sqlite "$LITE" "$BIG")
p_pg_big=$($PY bench/sql_pandas.py postgres "$DSN" "$BIG")
p_lite_img=$($PY bench/sql_pandas.py sqlite "$LITE" "$IMG")
p_pg_img=$($PY bench/sql_pandas.py postgres "$DSN" "$IMG")
N="$((ROWS / 1000))k"
row "$N x 16 floats, SQLite" "$($BENCH read "sqlite:///$LITE" "$BIG" binary label)" "$p_lite_big"
for m in binary cursor text; do
  row "$N x 16 floats, PostgreSQL $m" "$($BENCH read "$PG" "$BIG" $m label)" "$p_pg_big"
done
row "Fashion-MNIST bytes, SQLite" "$($BENCH read "sqlite:///$LITE" "$IMG" binary label image)" "$p_lite_img"
for m in binary cursor text; do
  row "Fashion-MNIST bytes, PostgreSQL $m" "$($BENCH read "$PG" "$IMG" $m label image)" "$p_pg_img"
done
# Larger than the memory it may use: 60000 generated rows of 8 KiB (490 MB) through one worker,
# in a memory cgroup capped at a tenth of that (49 MB) when one can be made (root, cgroup v1 or
# v2); the cgroup's own peak is reported beside the process's VmHWM.
GEN="SELECT i % 10 AS label, convert_to(repeat(chr(65 + i % 26), 8192), 'UTF8') AS payload FROM (SELECT generate_series(0, 59999) AS i) AS s"
limit=$((49 * 1000 * 1000)); cg=""; cg_peak=""
if [ -w /sys/fs/cgroup/memory ] && mkdir "/sys/fs/cgroup/memory/tandem_sqlbench_$$" 2>/dev/null; then
  cg=/sys/fs/cgroup/memory/tandem_sqlbench_$$; echo $limit > $cg/memory.limit_in_bytes; cg_peak=$cg/memory.max_usage_in_bytes
elif [ -w /sys/fs/cgroup/cgroup.subtree_control ] && mkdir "/sys/fs/cgroup/tandem_sqlbench_$$" 2>/dev/null; then
  cg=/sys/fs/cgroup/tandem_sqlbench_$$; echo $limit > $cg/memory.max; echo 0 > $cg/memory.swap.max 2>/dev/null || true; cg_peak=$cg/memory.peak
fi
if [ -n "$cg" ]; then
  big=$(sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$cg" $BENCH read "$PG" "$GEN" binary label payload)
  peak=$(cat "$cg_peak" 2>/dev/null || echo 0); rmdir "$cg" 2>/dev/null || true
  big="${big%\}}, \"cgroup_limit_mb\": $((limit / 1000000)), \"cgroup_peak_mb\": $((peak / 1000000))}"
else
  big=$($BENCH read "$PG" "$GEN" binary label payload)
fi
# As `tandem train --data URL` reads Fashion-MNIST: a query per shuffled batch of 128 (SqlTable).
row "Fashion-MNIST by key (tandem train's reader), SQLite" "$($BENCH gather "sqlite:///$LITE")" "$p_lite_img"
row "Fashion-MNIST by key (tandem train's reader), PostgreSQL" "$($BENCH gather "$PG")" "$p_pg_img"
train=$($BENCH train "$PG")
$PY - "$results" "$train" "$big" "$ROWS" "$(uptime)" <<'PYEOF'
import json, sys, datetime
print(f"Measured {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {int(sys.argv[4]):,} rows, one run per case (REPS); "
      f"`uptime` at the end: {sys.argv[5].strip()}")
print()
print("| case | tandem rows/s | tandem MB/s | pandas rows/s | ratio |")
print("|---|---:|---:|---:|---:|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    t, p = r["tandem"], r["pandas"]
    mb = f"{t['mb_per_s']:.1f}" if "mb_per_s" in t else "-"
    print(f"| {r['case']} | {t['rows_per_s']:,.0f} | {mb} | {p['rows_per_s']:,.0f} | {t['rows_per_s'] / p['rows_per_s']:.1f}x |")
tr = json.loads(sys.argv[2])
print()
print("| MLP training, batch 128 | steps/s |")
print("|---|---:|")
print(f"| in-memory IDX | {tr['idx_steps_per_s']:.1f} |")
print(f"| from PostgreSQL (SqlTable, a query per batch, 1 worker) | {tr['db_steps_per_s']:.1f} ({100 * tr['ratio']:.0f}%) |")
big = json.loads(sys.argv[3])
print()
cap = (f", in a memory cgroup capped at {big['cgroup_limit_mb']} MB (its peak: {big['cgroup_peak_mb']} MB)"
       if "cgroup_limit_mb" in big else " (no memory cgroup could be made here)")
print(f"Generated stream of {big['rows']:,} rows x 8 KiB ({big['bytes'] / 1e6:.0f} MB) from PostgreSQL: "
      f"{big['mb_per_s']:.0f} MB/s, peak RSS of the whole process {big['peak_rss_mb']:.0f} MB{cap}")
PYEOF
