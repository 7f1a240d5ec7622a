#!/usr/bin/env bash
# Builds python-profanity.wasm with componentize-py against the repository's WIT.
# Needs componentize-py on PATH (pip install componentize-py==0.25.1) or COMPONENTIZE_PY set.
# Usage: ./build.sh [OUT.wasm]   (default: ./python-profanity.wasm)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/python-profanity.wasm}"
"${COMPONENTIZE_PY:-componentize-py}" -d "$here/../../../wit" -w policy-plugin \
  componentize -p "$here" app -o "$out"
