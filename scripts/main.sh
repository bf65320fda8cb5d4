#!/usr/bin/env bash
# The main job: set up, build, then give the agent a task on the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
A4PS=build/a4ps
DEMO=${1:-demo.a4ps}
SYNTH=build/models/synthetic-qwen2-tiny.gguf
mkdir -p build/models
[ -f "$SYNTH" ] || build/a4ps-synth-gguf --arch qwen2 --size tiny -o "$SYNTH" >/dev/null

echo
$A4PS image init "$DEMO" --force
$A4PS memory add "$DEMO" --text "Warehouse note: the warehouse holds 120 crates of 24 jars each." --source warehouse-note
echo

# 1. A task on the default model: without --model or A4PS_MODEL, a4ps pulls a pinned small
#    instruct GGUF (once, into ~/.cache/a4ps/models), as `ollama run` does.
TASK="How many jars are in the warehouse? Check the memory, then compute it."
if ! $A4PS run "$TASK" -i "$DEMO"; then
  echo
  echo "The default model is not reachable from this machine, so the same task runs on a"
  echo "synthetic model (real qwen2 architecture and tokenizer, random weights): every"
  echo "mechanism runs for real, but its words are noise."
  $A4PS run "$TASK" -i "$DEMO" --model "$SYNTH" --max-tokens 24 --max-turns 3
fi

# 2. The same task with a scripted (fake) model, to show the whole deliberation with
#    words that make sense: BABS retrieves, BRICK calls a function that does not exist,
#    the Tool Forge writes it, the run waits for a human, who approves in another process.
echo
echo "--- a scripted walkthrough (the model is a fake that replays examples/walkthrough.jsonl) ---"
SCRIPT="scripted:$PWD/examples/walkthrough.jsonl"
$A4PS run "$TASK" -i "$DEMO" -m "$SCRIPT" --thread walkthrough
ID=$($A4PS --json approvals ls "$DEMO" | sed -n 's/.*"id": \([0-9]*\).*/\1/p' | head -1)
$A4PS approvals approve "$DEMO" "$ID" --reason "reviewed: multiplies two numbers" --reviewer demo
$A4PS run --resume walkthrough -i "$DEMO" -m "$SCRIPT"
echo
$A4PS tool ls "$DEMO"
$A4PS thread ls "$DEMO"
$A4PS image check "$DEMO"
