#!/usr/bin/env bash
# SqlDataset vs pandas.read_sql on SQLite and on a throwaway PostgreSQL cluster (started here on
# a free loopback port, stopped on exit): a 1M-row table (16 float columns + label) and
# Fashion-MNIST as image bytes; then MLP training streamed from PostgreSQL vs in-memory IDX.
# Needs build/release (bench_sql, tandem) and scripts/setup.sh --bench (pandas, psycopg2).
set -euo pipefail
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
psql -q "$PG" -c "CREATE TABLE big (id INTEGER$defs, label INTEGER); INSERT INTO big SELECT i$cols, i % 10 FROM generate_series(0, 999999) AS g(i)"
$PY - "$LITE" "$cols" "$defs" <<'PYEOF'
import sqlite3, sys
db, cols, defs = sys.argv[1:4]
c = sqlite3.connect(db)
c.execute(f"CREATE TABLE big (id INTEGER{defs}, label INTEGER)")
c.execute(f"INSERT INTO big WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < 999999) SELECT i{cols}, i % 10 FROM g")
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
row "1M x 16 floats, SQLite" "$($BENCH read "sqlite:///$LITE" "$BIG" binary label)" "$p_lite_big"
for m in binary cursor text; do
  row "1M x 16 floats, PostgreSQL $m" "$($BENCH read "$PG" "$BIG" $m label)" "$p_pg_big"
done
row "Fashion-MNIST bytes, SQLite" "$($BENCH read "sqlite:///$LITE" "$IMG" binary label image)" "$p_lite_img"
for m in binary cursor text; do
  row "Fashion-MNIST bytes, PostgreSQL $m" "$($BENCH read "$PG" "$IMG" $m label image)" "$p_pg_img"
done
train=$($BENCH train "$PG")
$PY - "$results" "$train" <<'PYEOF'
import json, sys
print("| case | tandem rows/s | tandem MB/s | pandas rows/s | ratio |")
print("|---|---:|---:|---:|---:|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    t, p = r["tandem"], r["pandas"]
    print(f"| {r['case']} | {t['rows_per_s']:,.0f} | {t['mb_per_s']:.1f} | {p['rows_per_s']:,.0f} | {t['rows_per_s'] / p['rows_per_s']:.1f}x |")
tr = json.loads(sys.argv[2])
print()
print("| MLP training, batch 128 | steps/s |")
print("|---|---:|")
print(f"| in-memory IDX | {tr['idx_steps_per_s']:.1f} |")
print(f"| streamed from PostgreSQL (binary COPY, 1 worker) | {tr['db_steps_per_s']:.1f} ({100 * tr['ratio']:.0f}%) |")
PYEOF
