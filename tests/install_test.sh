#!/bin/sh
# Installs A4PS into a fresh prefix (cmake --install) and builds examples/simple against
# the installed package with find_package(a4ps), as a program embedding A4PS would; then
# runs it on a new image with a scripted (fake) model, away from the source tree.
set -eu
src=$1 build=$2
work=$(mktemp -d /tmp/a4ps-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
for f in lib/liba4ps.so include/a4ps/a4ps.h include/a4ps/session.h lib/cmake/a4ps/a4psConfig.cmake \
         share/a4ps/python/a4ps_runtime.py bin/a4ps; do
  [ -e "$work/prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
# Public headers stand alone: nothing from src/ or a third-party library.
if grep -rhE '#include "(util|image|graph|llm|persona|sandbox)/|nlohmann|sqlite3' "$work/prefix/include/a4ps"; then
  echo "a public header includes an internal or third-party header"; exit 1
fi
cmake -S "$src/examples/simple" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/cfg.log" 2>&1 || { cat "$work/cfg.log"; exit 1; }
cmake --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
cat >"$work/model.jsonl" <<'JSONL'
{"persona": "ALFRED", "match": "routing turn 1 ", "text": "{\"next\": \"ANSWER\", \"brief\": \"simple arithmetic\"}"}
{"persona": "ALFRED", "match": "Write the answer", "text": "17 * 23 = 391."}
JSONL
cd "$work"
out=$(./build/simple "$work/agent.a4ps" "What is 17 * 23?" "scripted:$work/model.jsonl")
echo "$out"
echo "$out" | grep -q "^answer: 17 \* 23 = 391.$" || { echo "the installed example did not answer"; exit 1; }
echo "$out" | grep -q "ALFRED → ANSWER: simple arithmetic" || { echo "no turns were streamed"; exit 1; }
ldd ./build/simple | grep -q "$work/prefix/lib/liba4ps.so" || { echo "the example is not linked to the installed library"; ldd ./build/simple; exit 1; }
"$work/prefix/bin/a4ps" image check "$work/agent.a4ps" >/dev/null
# The installed CLI finds the installed sandbox runtime (PREFIX/share/a4ps/python).
if "$work/prefix/bin/a4ps" doctor | grep -q "agent code will run in"; then
  v=$(A4PS_PYTHON_DIR= "$work/prefix/bin/a4ps" tool run "$work/agent.a4ps" "import a4ps_reflect; 6 * 7")
  [ "$v" = "42" ] || { echo "the installed CLI could not run code in the sandbox: $v"; exit 1; }
fi
echo "1 passed, 0 failed"
