#!/usr/bin/env bash
# Installs the LangGraph.js peer benchmark (bench/graph). Idempotent; no root needed.
set -euo pipefail
cd "$(dirname "$0")"

addon_ok() { node -e "require('better-sqlite3')(':memory:').close()" 2>/dev/null; }

if [ -d node_modules ] && npm ls --silent >/dev/null 2>&1 && addon_ok; then
  echo "bench/graph: dependencies already installed"
else
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  # npm may block/skip better-sqlite3's install script (allowScripts, ignore-scripts),
  # so build the native addon explicitly when it does not load.
  addon_ok || npm rebuild better-sqlite3 --foreground-scripts --ignore-scripts=false
fi

addon_ok || { echo "better-sqlite3 native addon failed to load" >&2; exit 1; }
echo "bench/graph ready: @langchain/langgraph $(node -p "require('@langchain/langgraph/package.json').version")," \
     "better-sqlite3 $(node -p "require('better-sqlite3/package.json').version")"
