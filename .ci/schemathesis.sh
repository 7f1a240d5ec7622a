#!/usr/bin/env bash
# Fuzzes the running server against its own OpenAPI document (GET /openapi.json)
# with schemathesis: no 5xx, every status and content type documented, every
# JSON body valid against its schema, declared headers present, and no route
# that declares a bearer scheme answering without one.
#
#   .ci/schemathesis.sh                    # default budget, seed 1 (reproducible)
#   SCHEMATHESIS_EXAMPLES=300 SCHEMATHESIS_SEED=7 .ci/schemathesis.sh
#   SCHEMATHESIS_CHECKS=all .ci/schemathesis.sh   # every check, for exploring
#
# schemathesis (PyPI, pinned) lives in $CARGO_TARGET_DIR/schemathesis (default
# target/schemathesis); the server is the debug `djinn` binary with a fresh data
# directory and one operator token, so the auth layer is exercised rather than
# bypassed (with no token configured every local caller is an operator).
# Exits non-zero on any failure, or when the run exceeds its time bound.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
# Per operation; each phase (examples, coverage, fuzzing, stateful) draws up to this many.
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-150}"
# Hard bound on the whole schemathesis run, seconds.
TIME_BOUND="${SCHEMATHESIS_TIME_BOUND:-420}"

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/schemathesis"

die() { echo "schemathesis.sh: error: $*" >&2; exit 1; }
step() { echo "schemathesis.sh: $*" >&2; }

command -v python3 >/dev/null || die "python3 not found"
command -v curl >/dev/null || die "curl not found"

st="$venv/bin/schemathesis"
installed="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)"
if ! { [ -x "$st" ] && [ "$installed" = "$SCHEMATHESIS_VERSION" ]; }; then
  step "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv" || die "python3 -m venv failed"
  "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" \
    || die "pip install schemathesis==$SCHEMATHESIS_VERSION failed (network? PyPI?)"
fi

step "building the debug djinn binary"
(cd "$root" && cargo build -q -p djinn-cli) || die "cargo build -p djinn-cli failed"
djinn="$target/debug/djinn"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

token="schemathesis-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
sha="$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)"
cat >"$work/djinn.toml" <<TOML
[[api.tokens]]
name = "schemathesis"
role = "operator"
sha256 = "$sha"
TOML
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"

step "starting djinn serve on $base (data in $work/data)"
DJINN_DATA_DIR="$work/data" RUST_LOG="${RUST_LOG:-warn}" \
  "$djinn" --config "$work/djinn.toml" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 240); do
  curl -sf "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "djinn serve exited before it was ready"; }
  sleep 0.5
done
curl -sf "$base/readyz" >/dev/null || { cat "$work/server.log" >&2; die "djinn serve not ready after 120 s"; }

step "schemathesis: $EXAMPLES examples per operation and phase, at most $TIME_BOUND s"
# Nothing is excluded. The SSE route's schema describes one event, so every
# streamed event's JSON data is validated too; uploads get random components
# and manifests, which the server must refuse with a documented 4xx. (Not run:
# positive_data_acceptance, since a manifest is TOML and no JSON schema can say
# which strings are valid ones. schemathesis never tests /openapi.json itself.)
status=0
cd "$work" # whatever schemathesis writes stays out of the repo
timeout --signal=INT "$TIME_BOUND" "$st" run "$base/openapi.json" \
  --checks "${SCHEMATHESIS_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,ignored_auth}" \
  --header "Authorization: Bearer $token" \
  --max-examples "$EXAMPLES" \
  --request-timeout 30 \
  --workers 2 \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --generation-database none \
  --no-color || status=$?
if [ "$status" -ne 0 ]; then
  [ "$status" -eq 124 ] && step "schemathesis ran over its $TIME_BOUND s bound"
  step "server log (last 50 lines):"
  tail -n 50 "$work/server.log" >&2
  die "schemathesis failed (exit $status)"
fi
kill -0 "$server_pid" 2>/dev/null || die "the server died during the run"
step "passed"
