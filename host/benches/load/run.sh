#!/usr/bin/env bash
# Load run of POST /v1/ask on loopback: a release `djinn serve` with the bundled
# plugins and the mock LLM, wrk for a bounded time. Usage (from the repo root):
#   host/benches/load/run.sh [seconds=20] [connections=4]
# Needs wrk (Debian: apt-get install wrk).
#
# Then, in the same run, the in-process cost of the same question with the server
# stopped: the api bench's `bus, no audit` (Bus::ask on a tokio worker, no HTTP,
# no audit), so the p50 above reads against it.
set -euo pipefail
cd "$(dirname "$0")/../../.."
secs=${1:-20}
conns=${2:-4}
cargo build --release -p djinn-cli >/dev/null
data=$(mktemp -d)
port=18765
DJINN_DATA_DIR="$data" DJINN_LOG=error target/release/djinn serve --listen "127.0.0.1:$port" 2>"$data/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
threads=$(( conns < 2 ? conns : 2 ))
DJINN_STATEMENT=examples/statement.csv wrk -t"$threads" -c"$conns" -d"${secs}s" --latency \
  -s host/benches/load/ask.lua "http://127.0.0.1:$port/v1/ask"
kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
echo
echo "in-process Bus::ask, same build, server stopped:"
env -u RUST_BACKTRACE cargo bench -q -p djinn --bench api -- "bus, no audit" \
  --warm-up-time 2 --measurement-time 5 --noplot 2>/dev/null | grep -E "^ask|time:"
