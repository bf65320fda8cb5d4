#!/usr/bin/env bash
# The main job: set up, build, then create an agent image and show it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
A4PS=build/a4ps
DEMO=${1:-demo.a4ps}
MODEL=build/models/synthetic-qwen2-tiny.gguf
mkdir -p build/models
# No weights can be downloaded here: the demo's base model is a synthetic GGUF
# (real qwen2 architecture and tokenizer, random weights).
[ -f "$MODEL" ] || build/a4ps-synth-gguf --arch qwen2 --size tiny -o "$MODEL"
echo
$A4PS model info "$MODEL"
echo
$A4PS image init "$DEMO" --base-model "$MODEL" --force
echo
# A graph thread that stops for a human, then resumes (each command is its own process).
$A4PS thread run "$DEMO" --graph review --thread hello --input '{"topic": "the agent image"}'
$A4PS thread resume "$DEMO" hello --value yes
echo
# A self-modification: the agent proposes a tool; it lands only after a human's yes.
$A4PS thread run "$DEMO" --graph propose-tool --thread forge \
  --input '{"name": "add", "source": "def add(a, b):\n    return a + b\n"}'
$A4PS approvals approve "$DEMO" 1 --reason "reviewed the diff" --reviewer demo
$A4PS thread resume "$DEMO" forge
echo
$A4PS image info "$DEMO"
$A4PS image check "$DEMO"
