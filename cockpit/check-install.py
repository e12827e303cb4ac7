#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What `meson install` puts in $datadir/cockpit/vdpa is a package that
Cockpit finds: the installed files, copied into a data directory of their
own, are listed by `cockpit-bridge --packages` as "vdpa".

Usage: check-install.py BUILDDIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

BRIDGE = "/usr/bin/cockpit-bridge"


def main(builddir):
    if not os.access(BRIDGE, os.X_OK):
        sys.exit(f"FAIL: {BRIDGE} is missing: install Debian's cockpit-bridge (tools/install-deps)")
    installed = json.loads(subprocess.run(["meson", "introspect", "--installed", builddir],
                                          check=True, capture_output=True, text=True).stdout)
    ours = {src: dst for src, dst in installed.items()
            if os.sep.join(["", "cockpit", "vdpa", ""]) in dst}
    names = sorted(os.path.basename(d) for d in ours.values())
    print("installed:", ", ".join(sorted(ours.values())))
    for want in ("manifest.json", "index.html"):
        if want not in names:
            sys.exit(f"FAIL: meson installs no {want} under .../cockpit/vdpa/ (it installs {names})")
    datadir = {os.path.dirname(os.path.dirname(os.path.dirname(d))) for d in ours.values()}
    if len(datadir) != 1 or not datadir.pop().endswith("share"):
        sys.exit(f"FAIL: the package is not installed as DATADIR/cockpit/vdpa: {sorted(ours.values())}")

    with tempfile.TemporaryDirectory() as tmp:
        pkg = os.path.join(tmp, "share", "cockpit", "vdpa")
        os.makedirs(pkg)
        for src, dst in ours.items():
            shutil.copy(src, os.path.join(pkg, os.path.basename(dst)))
        env = dict(os.environ, XDG_DATA_DIRS=os.path.join(tmp, "share"),
                   XDG_DATA_HOME=os.path.join(tmp, "home-share"))
        out = subprocess.run([BRIDGE, "--packages"], env=env, check=True,
                             capture_output=True, text=True).stdout
        print(out, end="")
        listed = [line.split()[0] for line in out.splitlines() if line.strip()]
        if "vdpa" not in listed:
            sys.exit(f"FAIL: cockpit-bridge --packages does not list vdpa: {listed}")
    print("ok: cockpit-bridge finds the installed package vdpa")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
