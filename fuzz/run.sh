#!/usr/bin/env bash
# Builds a parser fuzzer with clang's libFuzzer (+ASan/UBSan) and runs it for a bounded
# time:  fuzz/run.sh BUILD_DIR SECONDS [rule_parser|imagefile_parser|request_parser|mcp_parser]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-build}/fuzz
secs=${2:-30}
target=${3:-rule_parser}
case "$target" in
  rule_parser) srcs=("$here/../src/codex/rules.cpp"); deps=("$here/../src/codex/codex.h"); seeds="$here/corpus"; max_len=256 ;;
  imagefile_parser) srcs=("$here/../src/imagefile/parser.cpp"); deps=("$here/../src/imagefile/parser.h"); seeds="$here/corpus-imagefile"; max_len=1024 ;;
  request_parser) srcs=("$here/../server/request.cpp" "$here/../server/openai_request.cpp"); deps=("$here/../server/request.h" "$here/../server/openai_request.h"); seeds="$here/corpus-request"; max_len=2048 ;;
  mcp_parser) srcs=("$here/../server/mcp_message.cpp" "$here/../server/request.cpp"); deps=("$here/../server/mcp_message.h"); seeds="$here/corpus-mcp"; max_len=2048 ;;
  *) echo "fuzz: unknown target $target"; exit 1 ;;
esac
mkdir -p "$out" "$out/corpus-$target"
CXX=$(command -v clang++-14 || command -v clang++ || true)
[ -n "$CXX" ] || { echo "fuzz: clang++ not found (scripts/setup.sh installs clang-14)"; exit 1; }
bin="$out/${target}_fuzz"
stale=0
[ -x "$bin" ] || stale=1
for f in "$here/${target}_fuzz.cpp" "${srcs[@]}" "${deps[@]}"; do [ "$f" -nt "$bin" ] && stale=1; done
if [ "$stale" = 1 ]; then
  "$CXX" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$here/../src" -I"$here/../include" -I"$here/../server" "$here/${target}_fuzz.cpp" "${srcs[@]}" -o "$bin"
fi
# Seeds: the shapes of real inputs; the fuzzer grows its own corpus in $out/corpus-$target.
"$bin" -max_total_time="$secs" -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus-$target" "$seeds" 2>&1 | tail -15
