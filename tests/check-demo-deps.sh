#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/check-demo-deps.sh DEMO — a newcomer's tools/demo when a piece it
# imports is missing: with the directory of the GObject typelibs hidden
# (an empty directory bound over it in a private mount namespace), DEMO
# --once must run tools/install-deps first, then name the missing UMockdev
# typelib in one line and exit non-zero — never a Python traceback.
set -euo pipefail

demo=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

for tool in unshare mount dpkg-query; do
        command -v "$tool" >/dev/null || fail "required tool '$tool' not found"
done
(( EUID == 0 )) || fail "needs root (a private mount namespace)"

typelib=$(dpkg-query -L gir1.2-umockdev-1.0 | grep '/UMockdev-1.0.typelib$' || true)
[[ -n $typelib && -f $typelib ]] || fail "gir1.2-umockdev-1.0 has no UMockdev-1.0.typelib installed"
typelib_dir=$(dirname "$typelib")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/empty"

rc=0
unshare -m --propagation private -- sh -c 'mount --bind "$1" "$2" && exec "$3" --once --builddir "$4"' \
        sh "$tmp/empty" "$typelib_dir" "$demo" "$tmp/build" >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"

(( rc != 0 )) || fail "tools/demo exited 0 without its typelibs"
! grep -q 'Traceback' "$tmp/out" || fail "tools/demo printed a Python traceback"
grep -q '^install-deps: ' "$tmp/out" || fail "tools/demo did not run tools/install-deps first"
n=$(grep -c 'UMockdev-1.0' "$tmp/out" || true)
(( n == 1 )) || fail "expected one line naming the UMockdev-1.0 typelib, got $n"
line=$(grep 'UMockdev-1.0' "$tmp/out")
[[ $line == tools/demo:\ missing* ]] || fail "the line does not say what is missing: $line"
(( $(wc -l <"$tmp/out") == 2 )) || fail "expected exactly two lines (install-deps, the missing typelib)"
[[ ! -e $tmp/build ]] || fail "tools/demo went on to build although it could not run"
echo "ok: tools/demo names the missing typelib in one line (exit $rc), after install-deps"
