#!/usr/bin/env bash
# Builds js-currency.wasm with componentize-js.
# Needs the componentize-js CLI (npm install @bytecodealliance/componentize-js@0.23.0)
# on PATH or COMPONENTIZE_JS set. `-d http fetch-event` keeps wasi:http out of the
# component: djinn refuses plugins that import it.
# The world is world.wit (log + config only), resolved against the repository's
# wit/djinn.wit, copied as a dependency into a temporary WIT folder.
# Usage: ./build.sh [OUT.wasm]   (default: ./js-currency.wasm)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/js-currency.wasm}"
wit="$(mktemp -d)"
trap 'rm -rf "$wit"' EXIT
mkdir -p "$wit/deps/djinn-plugin"
cp "$here/world.wit" "$wit/"
cp "$here/../../../wit/djinn.wit" "$wit/deps/djinn-plugin/"
"${COMPONENTIZE_JS:-componentize-js}" "$here/currency.js" \
  --wit "$wit" --world-name currency-agent -d http fetch-event -o "$out"
