#!/bin/sh
# The programs only parse, call the library and present (DESIGN.md, Layers): no SQL, no
# database handle, and nothing but the public API (include/a4ps/) from the library. A line
# that needs more belongs in a library module.
set -eu
root=$1
status=0
for dir in "$root/apps" "$root/server"; do
  [ -d "$dir" ] || continue
  if grep -rnE 'sqlite3|sql::|\.db\(\)|"(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA) ' "$dir"; then
    echo "$dir holds SQL or a database handle (above): move it into the library"
    status=1
  fi
  # Quoted includes must name a public header (a4ps/...) or a file of the program itself.
  bad=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$dir" | while IFS= read -r line; do
    file=${line%%:*}
    inc=$(printf '%s\n' "$line" | sed -E 's/.*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/')
    case $inc in a4ps/*) continue ;; esac
    [ -f "$(dirname "$file")/$inc" ] && continue
    printf '%s\n' "$line"
  done)
  if [ -n "$bad" ]; then
    printf '%s\n' "$bad"
    echo "$dir includes internal headers (above): programs see only include/a4ps/"
    status=1
  fi
done
[ $status -eq 0 ] && echo "1 passed, 0 failed"
exit $status
