#!/usr/bin/env bash
# Builds the Python and JavaScript example plugins (plugins/examples/) with the
# standard component toolchains and runs host/tests/polyglot.rs against them.
#
#   .ci/polyglot.sh            # install toolchains if needed, build, test
#   .ci/polyglot.sh --build    # install + build only
#   .ci/polyglot.sh --scaffold # also build and run `djinn plugin new --lang python|js`
#                              # output (slow: ~2-4 min, never cached)
#
# Toolchains go to $CARGO_TARGET_DIR/polyglot (default target/polyglot):
#   venv/          componentize-py (PyPI)
#   node_modules/  @bytecodealliance/componentize-js (npm)
#   out/*.wasm     the built components, read by the tests
# Everything is cached: a component is rebuilt only when its sources, the WIT or
# the toolchain version changed. Exits non-zero with a message on any failure.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
poly="$target/polyglot"
out="$poly/out"
mkdir -p "$out"

die() { echo "polyglot.sh: error: $*" >&2; exit 1; }
step() { echo "polyglot.sh: $*" >&2; }

command -v python3 >/dev/null || die "python3 not found (need Python >= 3.10 for componentize-py)"
command -v npm >/dev/null || die "npm not found (need Node >= 18 for componentize-js)"

# --- toolchains -------------------------------------------------------------
py="$poly/venv/bin/componentize-py"
if ! { [ -x "$py" ] && "$py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; }; then
  step "installing componentize-py $COMPONENTIZE_PY_VERSION into $poly/venv"
  python3 -m venv "$poly/venv" || die "python3 -m venv failed"
  "$poly/venv/bin/pip" install -q "componentize-py==$COMPONENTIZE_PY_VERSION" \
    || die "pip install componentize-py==$COMPONENTIZE_PY_VERSION failed (network? PyPI?)"
fi

js="$poly/node_modules/.bin/componentize-js"
js_pkg="$poly/node_modules/@bytecodealliance/componentize-js/package.json"
if ! { [ -x "$js" ] && [ -f "$js_pkg" ] && grep -q "\"version\": \"$COMPONENTIZE_JS_VERSION\"" "$js_pkg"; }; then
  step "installing @bytecodealliance/componentize-js $COMPONENTIZE_JS_VERSION into $poly/node_modules"
  [ -f "$poly/package.json" ] || echo '{"private": true}' > "$poly/package.json"
  (cd "$poly" && npm install --no-audit --no-fund --loglevel=error \
      "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION") \
    || die "npm install @bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION failed (network? npm registry?)"
fi

# --- components ---------------------------------------------------------------
# name -> toolchain; each plugins/examples/<name>/build.sh takes the output path.
examples=(python-budget-coach:py python-profanity:py js-currency:js)

for entry in "${examples[@]}"; do
  name="${entry%%:*}"; lang="${entry##*:}"
  dir="$root/plugins/examples/$name"
  [ -x "$dir/build.sh" ] || die "$dir/build.sh missing or not executable"
  wasm="$out/$name.wasm"
  # Cache key: the example's files, the WIT and the toolchain version.
  key="$( { cd "$dir" && find . -type f ! -name '*.wasm' ! -path './__pycache__/*' -print0 | sort -z | xargs -0 sha256sum;
            sha256sum "$root/wit/djinn.wit";
            echo "$lang $COMPONENTIZE_PY_VERSION $COMPONENTIZE_JS_VERSION"; } | sha256sum | cut -d' ' -f1)"
  if [ -f "$wasm" ] && [ "$(cat "$wasm.key" 2>/dev/null)" = "$key" ]; then
    step "$name: up to date ($(stat -c %s "$wasm") bytes)"
    continue
  fi
  step "$name: building"
  start=$SECONDS
  rm -f "$wasm" "$wasm.key"
  if [ "$lang" = py ]; then
    COMPONENTIZE_PY="$py" "$dir/build.sh" "$wasm.tmp" >"$poly/$name.log" 2>&1 \
      || { cat "$poly/$name.log" >&2; die "$name: componentize-py build failed (log above, $poly/$name.log)"; }
  else
    COMPONENTIZE_JS="$js" "$dir/build.sh" "$wasm.tmp" >"$poly/$name.log" 2>&1 \
      || { cat "$poly/$name.log" >&2; die "$name: componentize-js build failed (log above, $poly/$name.log)"; }
  fi
  [ -s "$wasm.tmp" ] || die "$name: the build reported success but wrote no component"
  mv "$wasm.tmp" "$wasm"
  echo "$key" > "$wasm.key"
  step "$name: built $(stat -c %s "$wasm") bytes in $((SECONDS - start)) s"
done
find "$root/plugins/examples" -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true

[ "${1:-}" = "--build" ] && exit 0

# --- tests ---------------------------------------------------------------------
step "running host/tests/polyglot.rs and cli/tests/scaffold_lang.rs"
cd "$root"
export DJINN_POLYGLOT_REQUIRED=1 DJINN_POLYGLOT_OUT="$out" DJINN_POLYGLOT_HOME="$poly" CARGO_TARGET_DIR="$target"
cargo test -q -p djinn --test polyglot || die "polyglot tests failed"
if [ "${1:-}" = "--scaffold" ]; then
  cargo test -q -p djinn-cli --test scaffold_lang -- --include-ignored \
    || die "scaffold_lang tests failed"
else
  cargo test -q -p djinn-cli --test scaffold_lang || die "scaffold_lang tests failed"
fi
step "ok"
