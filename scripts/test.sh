#!/usr/bin/env bash
# Set up, build, and run every test (unit, integration, end-to-end, crash safety).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd "${A4PS_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 900
