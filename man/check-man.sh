#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# check-man.sh PAGE... — renders each built man page the way man(1) shows
# it and fails on any warning from man or groff (all groff warnings on),
# on empty output, or on a page without its NAME and SEE ALSO sections.
set -euo pipefail

export LC_ALL=C.UTF-8 MANWIDTH=80
status=0
for page in "$@"; do
        err=$(mktemp)
        out=$(man --warnings=w -l "$page" 2>"$err") || { echo "FAIL: man -l $page exited $?"; status=1; }
        if [[ -s $err ]]; then
                echo "FAIL: $page: warnings:"
                cat "$err"
                status=1
        fi
        # groff directly too: man may filter some diagnostics.
        if ! groff -ww -mandoc -Tutf8 -z "$page" 2>"$err" || [[ -s $err ]]; then
                echo "FAIL: $page: groff -ww:"
                cat "$err"
                status=1
        fi
        rm -f "$err"
        for section in NAME SYNOPSIS "SEE ALSO"; do
                if [[ $section == SYNOPSIS && $page == *org.vdpa.Manager.5 ]]; then
                        continue
                fi
                grep -q "^$section\$" <<<"$out" || { echo "FAIL: $page: no $section section"; status=1; }
        done
        lines=$(wc -l <<<"$out")
        if (( lines < 40 )); then
                echo "FAIL: $page: only $lines lines rendered"
                status=1
        fi
        echo "ok: $page ($lines lines)"
done
exit $status
