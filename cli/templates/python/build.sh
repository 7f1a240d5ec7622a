#!/usr/bin/env bash
# Builds {{name}}.wasm from app.py with componentize-py against wit/ (world `plugin`).
# Install the toolchain once:  python3 -m venv .venv && .venv/bin/pip install componentize-py==0.25.1
# (a ./.venv here is used automatically; or put componentize-py on PATH, or set COMPONENTIZE_PY).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tool="${COMPONENTIZE_PY:-}"
if [ -z "$tool" ]; then
  if [ -x "$here/.venv/bin/componentize-py" ]; then tool="$here/.venv/bin/componentize-py"; else tool=componentize-py; fi
fi
command -v "$tool" >/dev/null || { echo "build.sh: componentize-py not found; see the comment at the top of build.sh" >&2; exit 1; }
"$tool" -d "$here/wit" -w plugin componentize -p "$here" app -o "$here/{{name}}.wasm"
echo "built $here/{{name}}.wasm"
