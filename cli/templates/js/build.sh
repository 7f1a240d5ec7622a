#!/usr/bin/env bash
# Builds {{name}}.wasm from plugin.js with componentize-js against wit/ (world `plugin`).
# Install the toolchain once:  npm install   (package.json pins @bytecodealliance/componentize-js)
# (or put componentize-js on PATH, or set COMPONENTIZE_JS).
# `-d http fetch-event` keeps wasi:http out of the component: djinn refuses plugins that import it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tool="${COMPONENTIZE_JS:-}"
if [ -z "$tool" ]; then
  if [ -x "$here/node_modules/.bin/componentize-js" ]; then tool="$here/node_modules/.bin/componentize-js"; else tool=componentize-js; fi
fi
command -v "$tool" >/dev/null || { echo "build.sh: componentize-js not found; run npm install here" >&2; exit 1; }
"$tool" "$here/plugin.js" --wit "$here/wit" --world-name plugin -d http fetch-event -o "$here/{{name}}.wasm"
echo "built $here/{{name}}.wasm"
