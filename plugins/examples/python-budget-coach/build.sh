#!/usr/bin/env bash
# Builds python-budget-coach.wasm with componentize-py against the repository's WIT.
# Needs componentize-py on PATH (pip install componentize-py==0.25.1) or COMPONENTIZE_PY set.
# Usage: ./build.sh [OUT.wasm]   (default: ./python-budget-coach.wasm)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/python-budget-coach.wasm}"
"${COMPONENTIZE_PY:-componentize-py}" -d "$here/../../../wit" -w agent-plugin \
  componentize -p "$here" app -o "$out"
