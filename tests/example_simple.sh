#!/bin/sh
# Runs examples/simple (built in this tree) on a new image with a scripted (fake) model.
set -eu
work=$(mktemp -d /tmp/a4ps-simple-XXXXXX)
trap 'rm -rf "$work"' EXIT
cat >"$work/model.jsonl" <<'JSONL'
{"persona": "ALFRED", "match": "routing turn 1 ", "text": "{\"next\": \"ANSWER\", \"brief\": \"easy\"}"}
{"persona": "ALFRED", "match": "Write the answer", "text": "Four."}
JSONL
"$1" "$work/agent.a4ps" "What is 2 + 2?" "scripted:$work/model.jsonl"
