#!/usr/bin/env bash
# The Imagefile layer cache: first build vs cached rebuild vs one changed MEMORY file, on
# the tutor example (persona, codex, a tool tested in the sandbox, LoRA training, memories)
# over a synthetic base model; each the median of ROUNDS rounds with a fresh cache.
#   bench/build_bench.sh [BUILD_DIR] [SIZE: tiny|small] [THREADS] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
size=${2:-tiny}
threads=${3:-2}
rounds=${4:-3}
tmp=$(mktemp -d /tmp/a4ps-build-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod o+x "$tmp"
"$build/a4ps-synth-gguf" --arch llama --size "$size" -o "$tmp/base.gguf" >/dev/null
secs() {  # seconds a command takes, its output dropped
  local s e
  s=$(date +%s.%N)
  "$@" >/dev/null
  e=$(date +%s.%N)
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
F=() C=() M=()
for ((r = 1; r <= rounds; r++)); do
  w="$tmp/round$r"
  mkdir -p "$w"
  cp -r "$root/examples/tutor" "$w/tutor"
  ln "$tmp/base.gguf" "$w/tutor/base.gguf"
  export A4PS_CACHE="$w/cache"
  cd "$w/tutor"
  F+=("$(secs "$build/a4ps" build -o "$w/first.a4ps" --threads "$threads")")
  C+=("$(secs "$build/a4ps" build -o "$w/cached.a4ps" --threads "$threads")")
  echo "- Week 3: adding fractions with different denominators, two slips." >> notes/progress.md
  M+=("$(secs "$build/a4ps" build -o "$w/memory.a4ps" --threads "$threads")")
done
steps=$("$build/a4ps" --json build -o "$tmp/count.a4ps" | grep -c '"index"')
echo "examples/tutor ($steps steps, synthetic llama $size base, $threads threads, median of $rounds rounds)"
awk -v f="$(median "${F[@]}")" -v c="$(median "${C[@]}")" -v m="$(median "${M[@]}")" 'BEGIN {
  printf "%-28s %8s %10s\n", "build", "seconds", "vs first"
  printf "%-28s %8.3f %10s\n", "first (nothing cached)", f, "1.00x"
  printf "%-28s %8.3f %9.0fx faster\n", "rebuild, nothing changed", c, f / c
  printf "%-28s %8.3f %9.0fx faster\n", "one MEMORY file changed", m, f / m
}'
