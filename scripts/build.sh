#!/usr/bin/env bash
# Set up (idempotent) and build a4ps into build/ (or $A4PS_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD=${A4PS_BUILD_DIR:-build}
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DA4PS_LLAMA="${A4PS_LLAMA:-source}" >/dev/null
fi
echo "build: compiling a4ps (ccache keeps rebuilds quick)" >&2
cmake --build "$BUILD" -j"$(nproc)"
