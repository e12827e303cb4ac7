#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks of the installed XML files of vdpa-manager (DESIGN.md §2, §5).

  check-xml.py introspection XML NAMES_H
      well-formed and valid against the D-Bus introspection DTD (when the
      system has it); the interface is exactly the contract of DESIGN.md §2 and §7
      (names, signatures, argument names and directions, property access
      and EmitsChangedSignal annotations as sd-bus emits them); every
      method, signal and property is documented by the comment right before
      it, which names each of its arguments; every device key, option key,
      error, state and polkit action of common/vdpa-names.h is documented.
  check-xml.py polkit POLICY
      valid against polkit's policyconfig DTD (when present); exactly the
      actions org.vdpa.manager.claim, .release and .provision, each with a description,
      a message and auth_admin_keep for any, inactive and active.
  check-xml.py busconfig CONF
      well-formed; root alone owns org.vdpa.Manager; the default context
      may send to it on its interface and the standard ones.  (The
      busconfig DTD that dbus ships predates send_destination= and rejects
      every real policy file, so it is not used; check-bus-policy.sh tests
      the behaviour on a real dbus-daemon.)

xmllint is required: a missing tool fails the check.
"""

import os
import re
import shutil
import subprocess
import sys
import xml.dom.minidom

INTROSPECT_DTD = "/usr/share/xml/dbus-1/introspect.dtd"
POLKIT_DTDS = ["/usr/share/polkit-1/policyconfig-1.dtd",
               "/usr/share/xml/polkit-1/policyconfig-1.dtd"]

EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"

# DESIGN.md §2.  Arguments: (direction, type, name); signals have no
# direction.  Properties: (type, access, EmitsChangedSignal annotation or
# None when sd-bus emits none, i.e. SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE).
METHODS = {
    "Devices": [("out", "aa{sv}", "devices")],
    "GetDevice": [("in", "s", "name"), ("out", "a{sv}", "device")],
    "BuildInterfaceXml": [("in", "s", "device"), ("in", "a{sv}", "options"),
                          ("out", "s", "xml")],
    "Claim": [("in", "s", "device"), ("in", "s", "domain"),
              ("in", "a{sv}", "options"),
              ("out", "s", "device"), ("out", "s", "xml")],
    "Release": [("in", "s", "device"), ("in", "a{sv}", "options")],
    "CheckMigration": [("in", "s", "domain")],
    # DESIGN.md §7
    "ManagementDevices": [("out", "aa{sv}", "mgmtdevs")],
    "CreateDevice": [("in", "s", "mgmtdev"), ("in", "s", "name"),
                     ("in", "a{sv}", "options"), ("out", "s", "name")],
    "DeleteDevice": [("in", "s", "name"), ("in", "a{sv}", "options")],
}
SIGNALS = {
    "DeviceAdded": [("s", "name"), ("a{sv}", "device")],
    "DeviceRemoved": [("s", "name")],
    "DeviceChanged": [("s", "name"), ("a{sv}", "device")],
}
PROPERTIES = {
    "Version": ("s", "read", "const"),
    "LibvirtUri": ("s", "read", "const"),
    "LiveMigration": ("s", "read", None),
    "LibvirtConnected": ("b", "read", None),
    "Capabilities": ("a{sv}", "read", None),
    # DESIGN.md §8 leaves the rules' listing open; vdpactl provision status.
    "ProvisionRules": ("aa{sv}", "read", None),
    # Not in DESIGN.md: what tests and monitoring wait on (README, NEWS).
    "OperationsInFlight": ("u", "read", "false"),
}
CAPABILITY_KEYS = ["KernelVdpa", "LibvirtVersion", "QemuVersion",
                   "VdpaSupported", "AvailableDevices", "VdpaNetlink"]
GENERIC_ERRORS = ["org.freedesktop.DBus.Error.InvalidArgs",
                  "org.freedesktop.DBus.Error.AccessDenied",
                  "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"]
ACTIONS = {"Claim": "org.vdpa.manager.claim",
           "Release": "org.vdpa.manager.release",
           "CreateDevice": "org.vdpa.manager.provision",
           "DeleteDevice": "org.vdpa.manager.provision"}

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", file=sys.stderr)


def xmllint(path, dtd=None):
    if shutil.which("xmllint") is None:
        sys.exit("FAIL: required tool 'xmllint' not found")
    cmd = ["xmllint", "--noout", "--nonet"]
    if dtd:
        cmd += ["--dtdvalid", dtd]
    res = subprocess.run(cmd + [path], capture_output=True, text=True)
    if res.returncode != 0 or res.stderr:
        fail(f"xmllint {'--dtdvalid ' + dtd if dtd else ''} {path}:\n{res.stderr}")
    else:
        print(f"ok: xmllint{' (valid against ' + dtd + ')' if dtd else ''}: {path}")


def elements(node, tag):
    return [c for c in node.childNodes
            if c.nodeType == c.ELEMENT_NODE and c.tagName == tag]


def preceding_comment(el):
    """The comment right before EL, whitespace between them allowed."""
    n = el.previousSibling
    while n is not None and n.nodeType == n.TEXT_NODE and not n.data.strip():
        n = n.previousSibling
    if n is not None and n.nodeType == n.COMMENT_NODE:
        return n.data
    return None


def header_values(names_h, prefix):
    text = open(names_h, encoding="utf-8").read()
    values = [v for v in re.findall(rf'#define\s+{prefix}\w*\s+"([^"]+)"', text)
              if not v.endswith(".")]  # VDPA_ERROR_PREFIX itself
    # Errors are spelled VDPA_ERROR_PREFIX "Name".
    values += [f"org.vdpa.Manager.Error.{v}" for v in
               re.findall(rf'#define\s+{prefix}\w*\s+VDPA_ERROR_PREFIX\s+"([^"]+)"', text)]
    return values


def check_introspection(path, names_h):
    failed_before = len(failures)
    xmllint(path, INTROSPECT_DTD if os.path.exists(INTROSPECT_DTD) else None)
    doc = xml.dom.minidom.parse(path)
    root = doc.documentElement
    if root.tagName != "node":
        fail(f"root element is <{root.tagName}>, expected <node>")
    ifaces = elements(root, "interface")
    if [i.getAttribute("name") for i in ifaces] != ["org.vdpa.Manager"]:
        fail("expected exactly one interface, org.vdpa.Manager; found "
             f"{[i.getAttribute('name') for i in ifaces]}")
        return
    iface = ifaces[0]
    comments = []

    def documented(el, what, args):
        c = preceding_comment(el)
        if c is None:
            fail(f"{what} has no documentation comment right before it")
            return ""
        comments.append(c)
        for a in args:
            if not re.search(rf"@{re.escape(a)}\b", c):
                fail(f"documentation of {what} does not describe @{a}")
        return c

    found = {}
    for m in elements(iface, "method"):
        name = m.getAttribute("name")
        found[name] = [(a.getAttribute("direction") or "in", a.getAttribute("type"),
                        a.getAttribute("name")) for a in elements(m, "arg")]
        if elements(m, "annotation"):
            fail(f"method {name} carries annotations: sd-bus would emit "
                 "org.freedesktop.systemd1.Privileged only for methods "
                 "without SD_BUS_VTABLE_UNPRIVILEGED, which polkit-checked "
                 "methods must not be")
        doc_text = documented(m, f"method {name}", {a[2] for a in found[name]})
        if name in ACTIONS and ACTIONS[name] not in doc_text:
            fail(f"documentation of {name} does not name polkit action {ACTIONS[name]}")
        if "Errors:" not in doc_text:
            fail(f"documentation of {name} lists no errors")
    if found != METHODS:
        fail(f"methods differ from DESIGN.md §2:\n  have {found}\n  want {METHODS}")

    found = {}
    for s in elements(iface, "signal"):
        name = s.getAttribute("name")
        args = elements(s, "arg")
        if any(a.hasAttribute("direction") for a in args):
            fail(f"signal {name}: arguments must carry no direction")
        found[name] = [(a.getAttribute("type"), a.getAttribute("name")) for a in args]
        documented(s, f"signal {name}", {a[1] for a in found[name]})
    if found != SIGNALS:
        fail(f"signals differ from DESIGN.md §2:\n  have {found}\n  want {SIGNALS}")

    found = {}
    for p in elements(iface, "property"):
        name = p.getAttribute("name")
        ann = {a.getAttribute("name"): a.getAttribute("value")
               for a in elements(p, "annotation")}
        if set(ann) - {EMITS}:
            fail(f"property {name}: unexpected annotations {set(ann) - {EMITS}}")
        found[name] = (p.getAttribute("type"), p.getAttribute("access"), ann.get(EMITS))
        documented(p, f"property {name}", [])
    if found != PROPERTIES:
        fail(f"properties differ from DESIGN.md §2:\n  have {found}\n  want {PROPERTIES}")

    if elements(iface, "annotation"):
        fail("interface-level annotations are not emitted by sd-bus")

    # Everything a caller can see or send must be documented somewhere.
    all_docs = "\n".join(comments + [c.data for c in doc.childNodes
                                     if c.nodeType == c.COMMENT_NODE])
    wanted = {
        "device dictionary key": header_values(names_h, "VDPA_KEY_"),
        "management device key": header_values(names_h, "VDPA_MGMT_KEY_"),
        "provision rule key": header_values(names_h, "VDPA_RULE_KEY_"),
        "device type": [v for v in header_values(names_h, "VDPA_TYPE_") if v],
        "option key": header_values(names_h, "VDPA_OPT_"),
        "error": header_values(names_h, "VDPA_ERROR_") + GENERIC_ERRORS,
        "device state": header_values(names_h, "VDPA_STATE_"),
        "parent kind": header_values(names_h, "VDPA_PARENT_"),
        "migration policy": header_values(names_h, "VDPA_MIGRATION_"),
        "capability key": CAPABILITY_KEYS,
        "polkit action": list(ACTIONS.values()),
    }
    for what, values in wanted.items():
        if not values:
            fail(f"no {what} values found in {names_h}")
        for v in values:
            if not re.search(rf'(?<![\w.]){re.escape(v)}(?![\w])', all_docs):
                fail(f"{what} {v!r} is not documented in {path}")
    if len(failures) == failed_before:
        print(f"ok: {path} matches DESIGN.md §2 and documents "
              f"{sum(len(v) for v in wanted.values())} names")


def check_polkit(path):
    failed_before = len(failures)
    dtd = next((d for d in POLKIT_DTDS if os.path.exists(d)), None)
    xmllint(path, dtd)
    root = xml.dom.minidom.parse(path).documentElement
    if root.tagName != "policyconfig":
        fail(f"root element is <{root.tagName}>, expected <policyconfig>")
    actions = {a.getAttribute("id"): a for a in elements(root, "action")}
    if sorted(actions) != sorted(set(ACTIONS.values())):
        fail(f"actions {sorted(actions)}, expected {sorted(set(ACTIONS.values()))}")
    for aid, a in actions.items():
        for tag in ("description", "message"):
            texts = [e.firstChild.data.strip() for e in elements(a, tag)
                     if e.firstChild is not None]
            if not texts or not all(texts):
                fail(f"{aid}: empty or missing <{tag}>")
        defaults = elements(a, "defaults")
        got = {}
        if defaults:
            got = {e.tagName: e.firstChild.data.strip() if e.firstChild else ""
                   for e in defaults[0].childNodes if e.nodeType == e.ELEMENT_NODE}
        want = {k: "auth_admin_keep" for k in ("allow_any", "allow_inactive", "allow_active")}
        if got != want:
            fail(f"{aid}: defaults {got}, expected {want}")
    if len(failures) == failed_before:
        print(f"ok: {path} declares {', '.join(sorted(actions))} (auth_admin_keep)")


def check_busconfig(path):
    failed_before = len(failures)
    xmllint(path)
    root = xml.dom.minidom.parse(path).documentElement
    if root.tagName != "busconfig":
        fail(f"root element is <{root.tagName}>, expected <busconfig>")
    owners = []
    default_sends = set()
    for pol in elements(root, "policy"):
        who = (pol.getAttribute("user"), pol.getAttribute("context"))
        for rule in elements(pol, "allow"):
            if rule.getAttribute("own") or rule.getAttribute("own_prefix"):
                owners.append((who, rule.getAttribute("own") or rule.getAttribute("own_prefix")))
            if (who == ("", "default")
                    and rule.getAttribute("send_destination") == "org.vdpa.Manager"):
                default_sends.add(rule.getAttribute("send_interface") or "*")
        if elements(pol, "deny") and who == ("", "default"):
            fail("default context must not deny anything: polkit decides")
    if owners != [(("root", ""), "org.vdpa.Manager")]:
        fail(f"ownership rules {owners}; expected only root to own org.vdpa.Manager")
    want = {"org.vdpa.Manager", "org.freedesktop.DBus.Introspectable",
            "org.freedesktop.DBus.Properties", "org.freedesktop.DBus.Peer"}
    if not (default_sends == {"*"} or want <= default_sends):
        fail(f"default context may send to {sorted(default_sends)}; expected {sorted(want)}")
    if len(failures) == failed_before:
        print(f"ok: {path}: root owns org.vdpa.Manager, everyone may call it")


def main(argv):
    usage = "usage: check-xml.py introspection XML NAMES_H | polkit POLICY | busconfig CONF"
    if len(argv) < 3:
        sys.exit(usage)
    cmd, args = argv[1], argv[2:]
    for f in args:
        if not os.access(f, os.R_OK):
            sys.exit(f"FAIL: {f} not readable")
    if cmd == "introspection" and len(args) == 2:
        check_introspection(*args)
    elif cmd == "polkit" and len(args) == 1:
        check_polkit(*args)
    elif cmd == "busconfig" and len(args) == 1:
        check_busconfig(*args)
    else:
        sys.exit(usage)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
