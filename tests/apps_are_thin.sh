#!/bin/sh
# The programs only parse, call the library and present (DESIGN.md, Layers): no SQL and
# no database handle in apps/. A line that needs one belongs in a library module.
set -eu
apps=$1/apps
if grep -rnE 'sqlite3|sql::|\.db\(\)|"(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA) ' "$apps"; then
  echo "apps/ holds SQL or a database handle (above): move it into the library"
  exit 1
fi
echo "1 passed, 0 failed"
