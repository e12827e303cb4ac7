#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-bus-policy.sh CONF INTROSPECTION_XML
#
# The system bus policy (policy/org.vdpa.Manager.conf) on a real, private
# system-type dbus-daemon with the stock default-deny policy:
#   - an unprivileged user cannot own org.vdpa.Manager, root can;
#   - an unprivileged user can call every interface the service serves
#     (org.vdpa.Manager, Introspectable, Properties, Peer): polkit, not the
#     bus, decides;
#   - an unprivileged user cannot call anything else on it.
# The name is owned by a stand-in (GDBus, /usr/bin/python3) exporting the
# interface from INTROSPECTION_XML and answering each of its methods with
# the error org.vdpa.Test.Reached, so "the call got through" is visible.
#
# Must run as root (to switch to the unprivileged user).  A missing tool is
# a failure, never a skip.

set -eu

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

[ $# -eq 2 ] || fail "usage: $0 CONF INTROSPECTION_XML"
conf=$(realpath "$1")
introspection=$(realpath "$2")
for tool in dbus-daemon gdbus setpriv /usr/bin/python3; do
        command -v "$tool" >/dev/null 2>&1 || fail "required tool '$tool' not found"
done
/usr/bin/python3 -c 'import gi; gi.require_version("Gio", "2.0"); from gi.repository import Gio' ||
        fail "/usr/bin/python3 cannot import gi (python3-gi)"
[ "$(id -u)" -eq 0 ] || fail "must run as root"
nobody_uid=$(id -u nobody) || fail "no user 'nobody'"
nobody_gid=$(id -g nobody)

dir=$(mktemp -d)
bus_pid=
owner_pid=
cleanup() {
        [ -n "$owner_pid" ] && kill "$owner_pid" 2>/dev/null || true
        [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null || true
        rm -rf "$dir"
}
trap cleanup EXIT
# The unprivileged user must reach the socket.
chmod 0755 "$dir"
mkdir "$dir/system.d"
cp "$conf" "$dir/system.d/"

# The default context of /usr/share/dbus-1/system.conf, trimmed to what a
# private bus can run (no <user>, <servicehelper>, <pidfile>, <syslog/>).
cat > "$dir/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=$dir/bus.sock</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <includedir>$dir/system.d</includedir>
</busconfig>
EOF

dbus-daemon --config-file="$dir/bus.conf" --fork --print-address=1 --print-pid=1 > "$dir/bus.info" ||
        fail "dbus-daemon did not start with $conf included"
bus_pid=$(sed -n 2p "$dir/bus.info")
DBUS_SYSTEM_BUS_ADDRESS=$(sed -n 1p "$dir/bus.info")
export DBUS_SYSTEM_BUS_ADDRESS

as_nobody() {
        setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups -- "$@"
}

# An unprivileged user may not own the name.
out=$(as_nobody gdbus call --system --dest org.freedesktop.DBus \
        --object-path /org/freedesktop/DBus \
        --method org.freedesktop.DBus.RequestName org.vdpa.Manager 4 2>&1 || true)
case "$out" in
        *org.freedesktop.DBus.Error.AccessDenied*) echo "ok: nobody cannot own org.vdpa.Manager" ;;
        *) fail "nobody's RequestName(org.vdpa.Manager) was not denied: $out" ;;
esac

# Root may: the stand-in owns it.
cat > "$dir/owner.py" <<'EOF'
import sys
import gi
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib

xml = open(sys.argv[1], encoding="utf-8").read()
iface = Gio.DBusNodeInfo.new_for_xml(xml).lookup_interface("org.vdpa.Manager")
conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)


def method_call(conn, sender, path, iface_name, method, params, invocation):
    invocation.return_dbus_error("org.vdpa.Test.Reached", method)


conn.register_object("/org/vdpa/Manager", iface, method_call, None, None)
reply = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                       "org.freedesktop.DBus", "RequestName",
                       GLib.Variant("(su)", ("org.vdpa.Manager", 4)),
                       GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, -1, None)
if reply.unpack()[0] != 1:
    sys.exit("RequestName did not make root the primary owner")
print("ready", flush=True)
GLib.MainLoop().run()
EOF
/usr/bin/python3 "$dir/owner.py" "$introspection" > "$dir/owner.out" 2>&1 &
owner_pid=$!
for _ in $(seq 50); do
        grep -q ready "$dir/owner.out" && break
        kill -0 "$owner_pid" 2>/dev/null || break
        sleep 0.1
done
grep -q ready "$dir/owner.out" || { cat "$dir/owner.out" >&2; fail "root could not own org.vdpa.Manager"; }
echo "ok: root owns org.vdpa.Manager"

# Every method of the interface gets through for an unprivileged caller.
# (GDBus checks the arguments against the introspection data, so pass them.)
for method in Devices GetDevice BuildInterfaceXml Claim Release CheckMigration; do
        case $method in
                Devices)           set -- ;;
                GetDevice)         set -- vdpa0 ;;
                BuildInterfaceXml) set -- vdpa0 '@a{sv} {}' ;;
                Claim)             set -- vdpa0 vm1 '@a{sv} {}' ;;
                Release)           set -- vdpa0 '@a{sv} {}' ;;
                CheckMigration)    set -- vm1 ;;
        esac
        out=$(as_nobody gdbus call --system --timeout 5 --dest org.vdpa.Manager \
                --object-path /org/vdpa/Manager --method "org.vdpa.Manager.$method" "$@" 2>&1 || true)
        case "$out" in
                *org.vdpa.Test.Reached*) ;;
                *) fail "nobody's call of $method did not reach the service: $out" ;;
        esac
done
echo "ok: nobody reaches every org.vdpa.Manager method"

out=$(as_nobody gdbus introspect --system --dest org.vdpa.Manager --object-path /org/vdpa/Manager 2>&1) ||
        fail "nobody cannot introspect: $out"
printf '%s\n' "$out" | grep -q 'interface org.vdpa.Manager' ||
        fail "nobody's Introspect lacks org.vdpa.Manager: $out"
out=$(as_nobody gdbus call --system --timeout 5 --dest org.vdpa.Manager --object-path /org/vdpa/Manager \
        --method org.freedesktop.DBus.Peer.Ping 2>&1) || fail "nobody cannot Ping: $out"
out=$(as_nobody gdbus call --system --timeout 5 --dest org.vdpa.Manager --object-path /org/vdpa/Manager \
        --method org.freedesktop.DBus.Properties.GetAll org.vdpa.Manager 2>&1 || true)
case "$out" in
        *AccessDenied*) fail "nobody's Properties.GetAll was denied: $out" ;;
esac
echo "ok: nobody may use Introspectable, Peer and Properties"

# Nothing else: the default-deny policy still applies to other interfaces.
out=$(as_nobody gdbus call --system --timeout 5 --dest org.vdpa.Manager --object-path /org/vdpa/Manager \
        --method org.example.Other.Method 2>&1 || true)
case "$out" in
        *org.freedesktop.DBus.Error.AccessDenied*) ;;
        *) fail "nobody's call of a foreign interface was not denied by the bus: $out" ;;
esac
out=$(gdbus call --system --timeout 5 --dest org.vdpa.Manager --object-path /org/vdpa/Manager \
        --method org.example.Other.Method 2>&1 || true)
case "$out" in
        *AccessDenied*) fail "root's call was denied: $out" ;;
esac
echo "ok: other interfaces are denied to nobody (root may send anything)"
