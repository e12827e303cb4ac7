#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run a libFuzzer target for a bounded number of executions over a copy of
# its seed corpus; fail on any crash, leak, sanitizer report or timeout.
# Usage: run-fuzz.sh FUZZER CORPUS DICT RUNS MAX_SECONDS
set -eu

fuzzer=$1 corpus=$2 dict=$3 runs=$4 max_time=$5

# Any sanitizer report is a failure (meson test sets these too).
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/corpus"
cp "$corpus"/* "$tmp/corpus/"

# Reproducers of a failure are kept next to the build, not in $tmp.
# libFuzzer's default failure exit code is 77, which meson reads as "skip":
# any failure must be a plain 1.
rc=0
"$fuzzer" \
        -error_exitcode=1 \
        -timeout_exitcode=1 \
        -runs="$runs" \
        -max_total_time="$max_time" \
        -timeout=10 \
        -max_len=4096 \
        -dict="$dict" \
        -print_final_stats=1 \
        -artifact_prefix="$PWD/$(basename "$fuzzer")-" \
        "$tmp/corpus" || rc=$?

if [ "$rc" -ne 0 ]; then
        echo "run-fuzz.sh: $fuzzer failed (exit status $rc)" >&2
        exit 1
fi
