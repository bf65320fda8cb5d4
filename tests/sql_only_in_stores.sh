#!/bin/sh
# SQL lives in the image (src/image/) and in each module's store, which registers its own
# tables with the image (image/schema.h): no other library file holds a database handle,
# the SQLite API or the image's SQL helpers. Tests beside the code may look inside.
#   src/memory/store.cpp, src/learn/store.cpp   the memory and learn modules' tables
#   src/graph/checkpoint_image.cpp              the graph's checkpointer over the image
#   src/runs/store.cpp                          the runs module's table (a service's run records)
#   src/live/store.cpp                          the live module's tables (goals, attempts, decisions)
set -eu
root=$1
cd "$root"
bad=$(grep -rlE 'sqlite3|\.db\(\)|image/sqlite\.h|sql::' src | grep -v '_test\.cpp$' |
      grep -vE '^src/image/|^src/memory/store\.cpp$|^src/learn/store\.cpp$|^src/graph/checkpoint_image\.cpp$|^src/runs/store\.cpp$|^src/live/store\.cpp$' || true)
if [ -n "$bad" ]; then
  printf '%s\n' "$bad"
  echo "these files speak SQL outside the image and the modules' stores: move it into the module's store.cpp"
  exit 1
fi
echo "1 passed, 0 failed"
