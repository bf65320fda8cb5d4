#!/usr/bin/env bash
# Builds the rule-parser fuzzer with clang's libFuzzer (+ASan/UBSan) and runs it for a
# bounded time:  fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-build}/fuzz
secs=${2:-30}
mkdir -p "$out" "$out/corpus"
CXX=$(command -v clang++-14 || command -v clang++ || true)
[ -n "$CXX" ] || { echo "fuzz: clang++ not found (scripts/setup.sh installs clang-14)"; exit 1; }
if [ ! -x "$out/rule_parser_fuzz" ] || [ "$here/rule_parser_fuzz.cpp" -nt "$out/rule_parser_fuzz" ] ||
   [ "$here/../src/codex/rules.cpp" -nt "$out/rule_parser_fuzz" ]; then
  "$CXX" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$here/../src" "$here/rule_parser_fuzz.cpp" "$here/../src/codex/rules.cpp" -o "$out/rule_parser_fuzz"
fi
# Seeds: the shapes of real rules; the fuzzer grows its own corpus in $out/corpus.
"$out/rule_parser_fuzz" -max_total_time="$secs" -max_len=256 -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" "$here/corpus" 2>&1 | tail -15
