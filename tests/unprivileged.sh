#!/bin/sh
# Runs the given test programs as an unprivileged user (nobody), the way most people run
# a4ps: the sandbox, containment and forge tests must pass there too. The programs and the
# sandbox runtime are copied to a folder that user can reach (a clone under /root is not).
# Exit 77 (skipped) when not root: the suite already ran as the unprivileged user it is.
set -eu
[ "$(id -u)" = 0 ] || { echo "not root: the tests already ran unprivileged"; exit 77; }
command -v setpriv >/dev/null || { echo "setpriv (util-linux) is missing"; exit 77; }
src=$1; shift
dir=$(mktemp -d /tmp/a4ps-unprivileged-XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
cp -r "$src/python" "$dir/python"
chmod -R a+rX "$dir/python"
status=0
for prog in "$@"; do
  cp "$prog" "$dir/"
  chmod 755 "$dir/$(basename "$prog")"
  echo "== $(basename "$prog") as nobody"
  (cd "$dir" && setpriv --reuid=65534 --regid=65534 --clear-groups \
     env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$dir" TMPDIR=/tmp A4PS_PYTHON_DIR="$dir/python" \
     "./$(basename "$prog")") || status=1
done
exit $status
