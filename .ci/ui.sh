#!/usr/bin/env bash
# The embedded web UI in a real browser: starts `djinn serve` on a free
# loopback port with a fresh data dir and one operator token, then drives
# Debian's Chromium through playwright-core (host/tests/ui/ui.test.mjs): enters
# the token, asks with the sample statement, checks the agent calls stream in
# before the answer, shows a denial and a fault, opens the operator view.
#
#   .ci/ui.sh
#
# Installs what is missing: Debian `chromium` (apt-get, needs root) and npm
# playwright-core (pinned, no browser download) into $CARGO_TARGET_DIR/ui-test
# (default target/ui-test). Screenshots go there too: ask.png, ask-fault.png,
# operator.png.
# Exits non-zero with a message on any failure; the server is stopped on exit.
set -euo pipefail

PLAYWRIGHT_CORE_VERSION=1.65.1
CHROMIUM=/usr/bin/chromium

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
out="$target/ui-test"
mkdir -p "$out"

die() { echo "ui.sh: error: $*" >&2; exit 1; }
# Any other failing command still says where, not just a bare non-zero exit.
trap 'echo "ui.sh: error: line $LINENO: \`$BASH_COMMAND\` failed" >&2' ERR
step() { echo "ui.sh: $*" >&2; }

command -v npm >/dev/null || die "npm not found (need Node >= 18)"
command -v curl >/dev/null || die "curl not found"

# --- browser and driver -------------------------------------------------------
if [ ! -x "$CHROMIUM" ]; then
  step "installing Debian chromium"
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } \
    || die "apt-get install chromium failed (not root? no Debian mirror?)"
fi
[ -x "$CHROMIUM" ] || die "$CHROMIUM still missing after installing chromium"

pw_pkg="$out/node_modules/playwright-core/package.json"
if ! { [ -f "$pw_pkg" ] && grep -q "\"version\": \"$PLAYWRIGHT_CORE_VERSION\"" "$pw_pkg"; }; then
  step "installing playwright-core $PLAYWRIGHT_CORE_VERSION into $out/node_modules"
  [ -f "$out/package.json" ] || echo '{"private": true}' > "$out/package.json"
  (cd "$out" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund \
      --loglevel=error --save-exact "playwright-core@$PLAYWRIGHT_CORE_VERSION") \
    || die "npm install playwright-core@$PLAYWRIGHT_CORE_VERSION failed (network? npm registry?)"
fi

# --- server -------------------------------------------------------------------
step "building djinn (debug)"
(cd "$root" && cargo build -p djinn-cli) || die "cargo build -p djinn-cli failed"
djinn="$target/debug/djinn"
[ -x "$djinn" ] || die "$djinn not found after the build"

data="$(mktemp -d "${TMPDIR:-/tmp}/ui-sh-djinn.XXXXXX")"
log="$data/serve.log"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT INT TERM

# An operator token, so the test also covers the page's token field: without
# it the API answers 401, with it the page sends `Authorization: Bearer`.
token="ui-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
hash="$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)"
cat >"$data/djinn.toml" <<TOML
[[api.tokens]]
name = "ui-test"
role = "operator"
sha256 = "$hash"
TOML

# Port 0: the kernel picks a free port, and serve prints the one it bound, so
# two runs on one machine never race for a port.
DJINN_CONFIG="$data/djinn.toml" DJINN_DATA_DIR="$data/data" "$djinn" serve --listen 127.0.0.1:0 >"$log" 2>&1 &
pid=$!

base=""
for _ in $(seq 1 600); do
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2 || true; die "djinn serve exited during start"; }
  [ -f "$log" ] || die "$log is gone: something removed $data while the server started"
  if [ -z "$base" ]; then
    base="$(sed -n 's#^djinn listening on \(http://127\.0\.0\.1:[0-9]*\).*#\1#p' "$log" | head -n1)"
  fi
  if [ -n "$base" ] && curl -sf "$base/readyz" >/dev/null; then
    break
  fi
  sleep 0.5
done
[ -n "$base" ] && curl -sf "$base/readyz" >/dev/null \
  || { tail -n 20 "$log" >&2; die "djinn serve not ready within 300 s"; }
step "djinn serve ready at $base"

# --- browser test ---------------------------------------------------------------
DJINN_URL="$base" DJINN_TOKEN="$token" UI_TEST_OUT="$out" UI_TEST_MODULES="$out/node_modules" \
  CHROMIUM="$CHROMIUM" node "$root/host/tests/ui/ui.test.mjs" \
  || { echo "--- djinn serve log (last 20 lines but plugin loads)" >&2
       grep -v '"message":"plugin loaded"' "$log" | tail -n 20 >&2; die "the UI test failed"; }
step "screenshots: $out/ask.png $out/ask-fault.png $out/operator.png"
