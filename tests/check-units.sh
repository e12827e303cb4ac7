#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Checks of the installed systemd/D-Bus/udev files (DESIGN.md §5).
#
#   check-units.sh security UNIT MAX
#       systemd-analyze security --offline: the overall exposure of UNIT must
#       be at most MAX (e.g. 1.5), both by --threshold (0-100 scale) and by
#       the "Overall exposure level" it prints.
#   check-units.sh verify UNIT BINARY
#       systemd-analyze verify on a copy of UNIT whose ExecStart= is BINARY
#       (verify needs the executable to exist); any diagnostic fails.
#   check-units.sh activation UNIT DBUS_SERVICE
#       the D-Bus activation file and the unit agree on the bus name, the
#       unit name and the executable.
#   check-units.sh udev-rules RULES
#       udevadm parses the rules file without a complaint, and on a
#       simulated (umockdev) vDPA device it tags it for systemd and wants
#       vdpa-manager.service; it leaves other devices and "remove" alone.
#
# A missing tool is a failure, never a skip.

set -eu

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

need() {
        command -v "$1" >/dev/null 2>&1 || fail "required tool '$1' not found"
}

# key_of FILE SECTION KEY: the last value of KEY in [SECTION] (systemd and
# D-Bus .service files share this ini syntax; the last assignment wins).
key_of() {
        awk -v sec="[$2]" -v key="$3" '
                /^[ \t]*[#;]/ { next }
                /^\[/ { in_sec = ($0 == sec); next }
                in_sec {
                        i = index($0, "=")
                        if (i == 0) next
                        k = substr($0, 1, i - 1); gsub(/[ \t]+$/, "", k)
                        if (k != key) next
                        v = substr($0, i + 1); gsub(/^[ \t]+|[ \t]+$/, "", v)
                        val = v; found = 1
                }
                END { if (found) print val; else exit 1 }' "$1"
}

check_security() {
        unit=$1
        max=$2
        need systemd-analyze
        [ -r "$unit" ] || fail "$unit not readable"

        # --threshold takes the 0-100 scale the tool uses internally;
        # 1.5 is 15.  Above it the tool must exit non-zero.
        threshold=$(awk -v m="$max" 'BEGIN { printf "%d", m * 10 + 0.5 }')
        out=$(systemd-analyze security --offline=true --no-pager \
                --threshold="$threshold" "$unit" 2>&1) ||
                { printf '%s\n' "$out" >&2
                  fail "exposure of $unit is above threshold $threshold"; }

        level=$(printf '%s\n' "$out" |
                sed -n 's/^.*Overall exposure level for .*: \([0-9][0-9]*\.[0-9]\).*$/\1/p')
        [ -n "$level" ] || { printf '%s\n' "$out" >&2
                             fail "no overall exposure level in the output"; }
        awk -v l="$level" -v m="$max" 'BEGIN { exit !(l <= m) }' ||
                fail "exposure $level of $unit is above $max"

        # The threshold must really bite: one step below the measured level
        # the same command has to fail, or the check above proves nothing.
        below=$(awk -v l="$level" 'BEGIN { printf "%d", l * 10 - 1.5 }')
        if systemd-analyze security --offline=true --no-pager \
                --threshold="$below" "$unit" >/dev/null 2>&1; then
                fail "--threshold=$below did not fail for exposure $level"
        fi

        echo "ok: exposure of $(basename "$unit") is $level (max $max)"
}

check_verify() {
        unit=$1
        need systemd-analyze
        need realpath
        # ExecStart= wants an absolute path; meson may pass a relative one.
        binary=$(realpath "$2") || fail "$2 not found"
        [ -x "$binary" ] || fail "$binary is not executable"

        dir=$(mktemp -d)
        trap 'rm -rf "$dir"' EXIT
        copy="$dir/$(basename "$unit")"
        sed "s|^ExecStart=.*|ExecStart=$binary|" "$unit" > "$copy"
        grep -q "^ExecStart=$binary\$" "$copy" || fail "no ExecStart= in $unit"

        # Unknown keys and bad values are only warnings (exit 0): any output
        # at all is treated as a failure.  Man pages are not installed in
        # the build tree, so they are not looked up.
        out=$(systemd-analyze verify --man=no "$copy" 2>&1) ||
                { printf '%s\n' "$out" >&2; fail "systemd-analyze verify failed"; }
        [ -z "$out" ] || { printf '%s\n' "$out" >&2
                           fail "systemd-analyze verify complained"; }
        echo "ok: systemd-analyze verify $(basename "$unit")"
}

check_activation() {
        unit=$1
        svc=$2
        [ -r "$unit" ] || fail "$unit not readable"
        [ -r "$svc" ] || fail "$svc not readable"

        bus_name=$(key_of "$unit" Service BusName) || fail "no BusName= in $unit"
        type=$(key_of "$unit" Service Type) || fail "no Type= in $unit"
        exec_start=$(key_of "$unit" Service ExecStart) || fail "no ExecStart= in $unit"
        name=$(key_of "$svc" "D-BUS Service" Name) || fail "no Name= in $svc"
        sd_service=$(key_of "$svc" "D-BUS Service" SystemdService) ||
                fail "no SystemdService= in $svc"
        exec=$(key_of "$svc" "D-BUS Service" Exec) || fail "no Exec= in $svc"
        user=$(key_of "$svc" "D-BUS Service" User) || fail "no User= in $svc"

        [ "$type" = dbus ] || fail "Type=$type in $unit, expected dbus"
        [ "$bus_name" = org.vdpa.Manager ] || fail "BusName=$bus_name, expected org.vdpa.Manager"
        [ "$name" = "$bus_name" ] || fail "Name=$name in $svc but BusName=$bus_name in $unit"
        [ "$sd_service" = "$(basename "$unit")" ] ||
                fail "SystemdService=$sd_service but the unit is $(basename "$unit")"
        [ "$exec" = "$exec_start" ] || fail "Exec=$exec but ExecStart=$exec_start"
        [ "$user" = root ] || fail "User=$user in $svc, expected root"
        # dbus-daemon looks activation files up by "NAME.service".
        [ "$(basename "$svc")" = "$name.service" ] ||
                fail "$svc must be named $name.service"
        echo "ok: $(basename "$svc") activates $sd_service as $name"
}

# udev_test RULES DEVICE_RECORD SYSPATH ACTION: run "udevadm test" on a
# umockdev-simulated device with RULES as the only rules file.  udevadm
# reads rules only from the system directories and writes the udev
# database below /run, so it runs in a private mount namespace with tmpfs
# over all of them: the host is neither read nor changed.
udev_test() {
        unshare -m --propagation private sh -c '
                set -e
                mount -t tmpfs tmpfs /run
                for d in /etc/udev/rules.d /usr/lib/udev/rules.d /lib/udev/rules.d; do
                        [ -d "$d" ] && mount -t tmpfs tmpfs "$d"
                done
                cp "$1" /etc/udev/rules.d/
                SYSTEMD_DEVICE_VERIFY_SYSFS=0 \
                        umockdev-run --device "$2" -- udevadm test --action="$4" "$3" 2>&1
        ' sh "$@"
}

check_udev_rules() {
        rules=$1
        need udevadm
        need unshare
        need umockdev-run
        [ -r "$rules" ] || fail "$rules not readable"
        base=$(basename "$rules")

        dir=$(mktemp -d)
        trap 'rm -rf "$dir"' EXIT
        # A vDPA simulator device (no PCI parent) and an unrelated one.
        printf 'P: /devices/vdpa0\nE: SUBSYSTEM=vdpa\nE: DRIVER=vhost_vdpa\n' > "$dir/vdpa.umockdev"
        printf 'P: /devices/virtual/net/dummy0\nE: SUBSYSTEM=net\nE: INTERFACE=dummy0\n' > "$dir/net.umockdev"

        for action in add bind change; do
                out=$(udev_test "$rules" "$dir/vdpa.umockdev" /sys/devices/vdpa0 $action) ||
                        { printf '%s\n' "$out" >&2; fail "udevadm test ($action) failed"; }
                printf '%s\n' "$out" | grep -q "Reading rules file: /etc/udev/rules.d/$base" ||
                        { printf '%s\n' "$out" >&2; fail "udevadm did not read $rules"; }
                # Syntax errors are logged with the file name and line.
                bad=$(printf '%s\n' "$out" | grep -F "$base:" || true)
                [ -z "$bad" ] || { printf '%s\n' "$bad" >&2; fail "udevadm complained about $rules"; }
                printf '%s\n' "$out" | grep -qx 'CURRENT_TAGS=.*:systemd:.*' ||
                        { printf '%s\n' "$out" >&2; fail "vdpa device ($action) not tagged for systemd"; }
                printf '%s\n' "$out" | grep -qx 'SYSTEMD_WANTS=\(.* \)\{0,1\}vdpa-manager.service\( .*\)\{0,1\}' ||
                        { printf '%s\n' "$out" >&2; fail "vdpa device ($action) does not want vdpa-manager.service"; }
        done

        out=$(udev_test "$rules" "$dir/vdpa.umockdev" /sys/devices/vdpa0 remove) ||
                { printf '%s\n' "$out" >&2; fail "udevadm test (remove) failed"; }
        ! printf '%s\n' "$out" | grep -q 'vdpa-manager.service' ||
                fail "removing a vdpa device wants vdpa-manager.service"

        out=$(udev_test "$rules" "$dir/net.umockdev" /sys/devices/virtual/net/dummy0 add) ||
                { printf '%s\n' "$out" >&2; fail "udevadm test (net) failed"; }
        ! printf '%s\n' "$out" | grep -q 'vdpa-manager.service' ||
                fail "a non-vdpa device wants vdpa-manager.service"

        echo "ok: $base starts vdpa-manager.service for vdpa devices (add/bind/change) only"
}

[ $# -ge 1 ] || fail "usage: $0 security|verify|activation|udev-rules ARGS..."
cmd=$1
shift
case "$cmd" in
        security)   [ $# -eq 2 ] || fail "usage: security UNIT MAX"; check_security "$@" ;;
        verify)     [ $# -eq 2 ] || fail "usage: verify UNIT BINARY"; check_verify "$@" ;;
        activation) [ $# -eq 2 ] || fail "usage: activation UNIT DBUS_SERVICE"; check_activation "$@" ;;
        udev-rules) [ $# -eq 1 ] || fail "usage: udev-rules RULES"; check_udev_rules "$@" ;;
        *)          fail "unknown check '$cmd'" ;;
esac
