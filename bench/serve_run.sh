#!/usr/bin/env bash
# tandem serve under wrk on loopback (client and server share the machine's cores):
# requests/s and p50/p99 latency for
#   mlp    (Fashion-MNIST MLP, batch 1, TF Serving JSON)
#   image  (ResNet-18 layout, 1x3x224x224, TF Serving JSON and v2 binary)
# each without and with dynamic batching, at 1, 16 and 64 connections; and the server's own
# in-process model time (its runtime_latency metric) to get the serving overhead at batch 1.
# Environment: BUILD_DIR (build/release), SECONDS_PER_RUN (30), CONNS ("1 16 64"), OUT (bench/serve_results.tsv)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/release}
SECS=${SECONDS_PER_RUN:-30}
CONNS=${CONNS:-1 16 64}
OUT=${OUT:-bench/serve_results.tsv}
TANDEM=$BUILD_DIR/tools/tandem
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER=

mkdir -p "$WORK/mlp/1"
"$TANDEM" export --model mlp --random-weights --dynamic-batch --out "$WORK/mlp/1/model.onnx" >/dev/null
/usr/bin/python3 bench/serve_models.py "$WORK" 2>/dev/null
cat > "$WORK/models.config" <<CFG
model_config_list {
  config { name: "mlp" base_path: "$WORK/mlp" }
  config { name: "resnet18" base_path: "$WORK/resnet18" }
}
CFG
cat > "$WORK/batching.config" <<CFG
max_batch_size { value: 64 }
batch_timeout_micros { value: 2000 }
num_batch_threads { value: 1 }
max_enqueued_batches { value: 64 }
allowed_batch_sizes: 1
allowed_batch_sizes: 2
allowed_batch_sizes: 4
allowed_batch_sizes: 8
allowed_batch_sizes: 16
allowed_batch_sizes: 32
allowed_batch_sizes: 64
CFG

start_server() {  # extra flags...
  "$TANDEM" serve --host 127.0.0.1 --rest_api_port 0 --model_config_file "$WORK/models.config" \
    --file_system_poll_wait_seconds 0 "$@" >"$WORK/server.out" 2>"$WORK/server.err" &
  SERVER=$!
  for _ in $(seq 600); do
    PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$WORK/server.out")
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  echo "server did not start: $(cat "$WORK/server.err")" >&2
  exit 1
}
stop_server() { kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=; }

# mean in-process model time (µs) of a model from the server's runtime_latency histogram
runtime_us() {
  curl -s "http://127.0.0.1:$PORT/monitoring/prometheus/metrics" |
    awk -v m="model_name=\"$1\"" '$0 ~ /runtime_latency_sum/ && index($0, m) {s=$2} $0 ~ /runtime_latency_count/ && index($0, m) {c=$2} END {if (c > 0) printf "%.0f", s / c; else print "-"}'
}

to_us() {  # wrk latency (e.g. 1.23ms, 850.00us, 1.02s) -> microseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1e6; else print n }'
}

run() {  # label model body content-type hlen conns
  local label=$1 model=$2 body=$3 ctype=$4 hlen=$5 c=$6 path
  if [ -n "$hlen" ]; then path="/v2/models/$model/infer"; else path="/v1/models/$model:predict"; fi
  local threads=$(( c < 2 ? 1 : 2 ))
  local out errors
  out=$(BODY="$body" CONTENT_TYPE="$ctype" HLEN="$hlen" wrk -t"$threads" -c"$c" -d"${SECS}s" --timeout 30s --latency \
        -s bench/serve_post.lua "http://127.0.0.1:$PORT$path")
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(to_us "$(echo "$out" | awk '$1 == "50%" {print $2}')")
  p99=$(to_us "$(echo "$out" | awk '$1 == "99%" {print $2}')")
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  errors=$(echo "$out" | awk '/Socket errors/ {print $0}')
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$label" "$c" "$rps" "$p50" "$p99" "${non2xx:-0}" "${errors:-}" | tee -a "$OUT"
}

printf "run\tconnections\treq_per_s\tp50_us\tp99_us\tnon_2xx\tsocket_errors\n" | tee "$OUT"
for batching in off on; do
  flags=()
  [ "$batching" = on ] && flags=(--batching_parameters_file "$WORK/batching.config")
  start_server "${flags[@]}"
  # The in-process model time is read after the 1-connection runs (the metric is cumulative).
  for c in $CONNS; do
    run "mlp-json-batching-$batching" mlp "$WORK/mlp.json" application/json "" "$c"
    [ "$batching$c" = off1 ] && echo "# mlp in-process Model::run mean at 1 connection: $(runtime_us mlp) us" | tee -a "$OUT"
  done
  for c in $CONNS; do
    run "image-json-batching-$batching" resnet18 "$WORK/image.json" application/json "" "$c"
    run "image-v2bin-batching-$batching" resnet18 "$WORK/image.v2" application/octet-stream "$(cat "$WORK/image.v2.hlen")" "$c"
    [ "$batching$c" = off1 ] && echo "# resnet18 in-process Model::run mean at 1 connection: $(runtime_us resnet18) us" | tee -a "$OUT"
  done
  stop_server
done
