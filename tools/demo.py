#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/demo — vdpa-manager end to end on a simulated host, in one command.

(The walkthrough itself; run it through tools/demo, which installs and
checks its dependencies first.)

Builds the project, simulates a host with NVIDIA ConnectX-6 Dx VFs, a
sub-function and a vDPA simulator (umockdev, tests/data/host.umockdev, plus
a card for provisioning made by tests/testbed.h), and
starts, all private to this run: a system-type D-Bus, the real polkitd on it
(in its own mount and PID namespace, with the project's polkit actions), a
real libvirtd (tests/private-libvirtd) with two tiny TCG domains defined,
and vdpa-managerd.  Then, with vdpactl: the service's status, the inventory,
one device in detail, the libvirt <interface> for it, an automatic claim
onto the shut-off domain demo-db (which prefers the device on the NUMA node
of the domain's memory), the interface in the domain's persistent XML, a
hotplug seen live by `vdpactl monitor`, the release, and the inventory
again.  Then the kernel's management plane, its vdpa netlink family
simulated in this process (tests/vdpa-sim.h): `vdpa mgmtdev show`
(Debian's iproute2) and `vdpactl mgmtdev list`, a device deleted and one
created with vdpactl, a virtio-blk device made with iproute2 that the
service lists as unusable and builds no <interface> for, and the clean-up.
Last, declarative provisioning (DESIGN.md §8): the host has a second card,
PF 0000:21:00.0 in switchdev mode with 4 VFs and no vDPA device, and the
service's configuration a [Provision cx6] rule for them, so the service
made their devices itself at its start (`vdpactl provision status`,
`vdpactl list`); then a fifth VF is hot-plugged (tests/testbed.h, its
representor first), its vDPA device is made and announced live in
`vdpactl monitor`, and `vdpactl show` gives it with its representor.

With --once it stops there, tears everything down and exits non-zero if any
step did not do what it should (it is the 'demo' test); without, it prints
the bus address and waits for Ctrl-C so you can poke at the service with
vdpactl, busctl or virsh.  Nothing on the host is touched: buses, state,
configuration and libvirt's files live in a temporary directory, and every
process started here stops with the demo (Ctrl-C, SIGTERM, an error).
"""

import argparse
import ctypes
import glob
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ET

import gi
gi.require_version('GLib', '2.0')
gi.require_version('Gio', '2.0')
gi.require_version('UMockdev', '1.0')
from gi.repository import Gio, GLib, UMockdev  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
BUS_NAME = 'org.vdpa.Manager'
OBJECT_PATH = '/org/vdpa/Manager'
INTERFACE = 'org.vdpa.Manager'
POLKIT_NAME = 'org.freedesktop.PolicyKit1'
POLKITD = '/usr/lib/polkit-1/polkitd'

HOTPLUG_VF = '/devices/pci0000:00/0000:00:02.0/0000:04:00.5'
HOTPLUG_NAME = 'vdpa9'
HOTPLUG_CHARDEV = 'vhost-vdpa-9'
# name -> NUMA nodeset of the domain's memory (None: no <numatune>)
DOMAINS = {'demo-web': None, 'demo-db': '1'}
CLAIM_DOMAIN = 'demo-db'
CLAIM_NUMA_NODE = 1
XML_DEVICE = 'vdpa0'
XML_MAC = '52:54:00:00:00:01'
XML_QUEUES = '4'
# The management plane (tests/vdpa-sim.h): the VF the hotplug used takes
# one vDPA device; the block device goes on the simulator's vdpasim_blk.
CREATE_MGMTDEV = 'pci/0000:04:00.5'
CREATE_MAX_QUEUE_PAIRS = 4
BLK_NAME = 'blk1'
BLK_MGMTDEV = 'vdpasim_blk'
# The management devices of tests/data/host.umockdev: its VFs and SF (mlx5)
# and the simulator's two modules.
FIXTURE_MGMTDEVS = {'pci/0000:04:00.2', 'pci/0000:04:00.3', 'pci/0000:04:00.4',
                    'pci/0000:04:00.5', 'pci/0000:81:00.2', 'auxiliary/mlx5_core.sf.4',
                    'vdpasim_net', 'vdpasim_blk'}
# Declarative provisioning (DESIGN.md §8, §9): a second card, PF
# 0000:21:00.0 with 4 VFs and no vDPA device, is on the host before the
# service starts, and the demo's configuration has a [Provision cx6] rule
# for its VFs: the service makes their devices itself.  Then VF 4 is
# hot-plugged (0000:21:00.6: sriov_offset 2, stride 1) and gets one too.
# The card is in switchdev mode: its uplink and one representor per VF
# sit on the PF (tests/data/host.umockdev's first card has the same).
PROVISION_RULE = 'cx6'
PROVISION_PF = '0000:21:00.0'
PROVISION_PF_SYSPATH = '/devices/pci0000:20/0000:20:00.0/0000:21:00.0'
PROVISION_N_VFS = 4
PROVISION_GLOB = 'pci/0000:21:00.*'
PROVISION_MGMTDEVS = {'pci/0000:21:00.%x' % (2 + i) for i in range(PROVISION_N_VFS)}
PROVISION_MAX_QUEUE_PAIRS = 4
PROVISION_MTU = 9000
PROVISION_NAME = 'vdpa-%n'
PROVISION_NAME_RE = r'vdpa-\d+'
PROVISION_HOTPLUG_INDEX = 4
PROVISION_HOTPLUG_VF = '0000:21:00.6'
PROVISION_SWITCH_ID = '78563412001f2e3d'
PROVISION_UPLINK = 'enp33s0f0np0'
PROVISION_TIMEOUT = 10    # the rule's devices to be there after the start
VDPA = '/usr/sbin/vdpa'
UNUSABLE_ERROR = 'org.vdpa.Manager.Error.DeviceUnusable'

START_TIMEOUT = 10        # bus, polkitd, vdpa-managerd
LIBVIRTD_TIMEOUT = 60     # a first start probes QEMU for seconds
EVENT_TIMEOUT = 10        # a signal to show up in `vdpactl monitor`
STOP_TIMEOUT = 10
PR_SET_CHILD_SUBREAPER = 36
TMP_PREFIX = 'vdpa-demo-'


class DemoError(Exception):
    pass


def say(text=''):
    print(text, flush=True)


def step(text):
    say()
    say('\033[1m==> %s\033[0m' % text if sys.stdout.isatty() else '==> %s' % text)


def reaped(argv):
    """Children die with us, whatever happens to this script."""
    return ['setpriv', '--pdeathsig', 'KILL', '--'] + argv


def outside_env(foreign=False, **extra):
    """The environment of programs that must not see the simulated host or
    the developer's buses: libvirtd cannot run under umockdev, and neither
    it nor virsh nor polkitd nor vdpactl has anything to do with it.  The
    test suite's fatal criticals (G_DEBUG) are not FOREIGN programs'
    business."""
    drop = {'LD_PRELOAD', 'UMOCKDEV_DIR', 'DBUS_SYSTEM_BUS_ADDRESS', 'DBUS_SESSION_BUS_ADDRESS'}
    if foreign:
        drop.add('G_DEBUG')
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


# ---- processes ----

def proc_stat(pid):
    """(state, comm) of PID, also of a zombie; None when it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return None
    comm = stat[stat.index('(') + 1:stat.rindex(')')]
    return stat[stat.rindex(')') + 2], comm


def pid_alive(pid):
    s = proc_stat(pid) if pid else None
    return s is not None and s[0] not in 'ZX'


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def cmdline_has(pid, needle):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return needle.encode() in f.read()
    except OSError:
        return False


def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def our_children():
    pids = []
    for tid in os.listdir('/proc/self/task'):
        try:
            with open('/proc/self/task/%s/children' % tid) as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return pids


def is_orphan(comm):
    """libvirtd daemonizes QEMU, virtlogd dies after libvirtd (parent-death
    signal), libvirtd's forked helpers are named after its threads, and a
    killed unshare leaves polkit's namespace init: all of them come to us,
    the subreaper.  Never libvirtd itself or anything we wait for."""
    if comm == 'libvirtd':
        return False
    return (comm.startswith('qemu-') or comm in ('virtlogd', 'sh', 'polkitd') or
            'libvirtd' in comm)


def reap_orphans_forever():
    while True:
        time.sleep(0.02)
        for pid in our_children():
            s = proc_stat(pid)
            if s and s[0] == 'Z' and is_orphan(s[1]):
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass


def become_subreaper():
    """PID 1 does not reap on these machines: without a subreaper, every
    process libvirt orphans would stay behind as a zombie, and libvirt
    waits for a dead QEMU's zombie to go (tests/libvirtd-harness.c)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise DemoError('prctl(PR_SET_CHILD_SUBREAPER): %s' % os.strerror(ctypes.get_errno()))
    threading.Thread(target=reap_orphans_forever, name='reaper', daemon=True).start()


def stop_process(proc, timeout=STOP_TIMEOUT, signum=signal.SIGTERM):
    """SIGNUM, SIGKILL after TIMEOUT; the exit status (None: killed)."""
    if proc is None:
        return None
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signum)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def remove_domain_cgroups(name):
    """libvirt removes a domain's cgroups when it sees QEMU die, not for a
    QEMU killed behind its back.  Only empty cgroups can be removed: a
    running domain's are safe.  True when none is left."""
    left = False
    for machine in glob.glob('/sys/fs/cgroup/machine') + glob.glob('/sys/fs/cgroup/*/machine'):
        for path in glob.glob(os.path.join(machine, 'qemu-*-%s.libvirt-qemu' % glob.escape(name))):
            for sub, _, _ in sorted(os.walk(path), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(sub)
                except OSError:
                    left = True
    return not left


def kill_qemus(run_dir):
    """QEMU is no child of libvirtd's: kill what libvirt's pid files name,
    and clean up after it as libvirt would have."""
    qemu_dir = os.path.join(run_dir, 'qemu')
    for entry in os.listdir(qemu_dir) if os.path.isdir(qemu_dir) else []:
        name = entry[:-len('.pid')]
        if not entry.endswith('.pid') or entry == 'driver.pid':
            continue
        pid = read_pid(os.path.join(qemu_dir, entry))
        if not pid_alive(pid) or not cmdline_has(pid, 'guest=%s,' % name):
            continue
        say('killing leftover QEMU %d (%s)' % (pid, name))
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid, STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while not remove_domain_cgroups(name):
            if time.monotonic() > deadline:
                say('the cgroups of %s stay behind' % name)
                break
            time.sleep(0.05)


def remove_stale_runs():
    """A demo killed with SIGKILL took its processes with it (parent-death
    signals) except QEMU, and left its directory: clean up after it."""
    tmp = tempfile.gettempdir()
    for entry in os.listdir(tmp):
        path = os.path.join(tmp, entry)
        owner = read_pid(os.path.join(path, 'owner.pid'))
        if not entry.startswith(TMP_PREFIX) or not owner:
            continue
        if pid_alive(owner) and cmdline_has(owner, 'demo'):
            continue
        kill_qemus(os.path.join(path, 'libvirt', 'run'))
        say('removing %s, left by a demo that was killed' % path)
        shutil.rmtree(path, ignore_errors=True)


class Monitor:
    """`vdpactl monitor` in the background; its lines are collected by a
    thread and printed by whoever waits for one (live once the walkthrough
    is over)."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(reaped(argv), env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines = []
        self.shown = 0
        self.live = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self.read, name='monitor', daemon=True)
        self.thread.start()

    def read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip('\n'))
                if self.live:
                    self.show_new()
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def show_new(self):
        while self.shown < len(self.lines):
            say('  monitor| ' + self.lines[self.shown])
            self.shown += 1

    def wait_for(self, what, pattern, timeout=EVENT_TIMEOUT):
        """Prints the lines up to the first one matching PATTERN."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                while self.shown < len(self.lines):
                    line = self.lines[self.shown]
                    say('  monitor| ' + line)
                    self.shown += 1
                    if regex.search(line):
                        self.settle()
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DemoError('vdpactl monitor did not print %s within %d s' %
                                    (what, timeout))
                if self.proc.poll() is not None and not self.thread.is_alive():
                    raise DemoError('vdpactl monitor exited with %d before printing %s' %
                                    (self.proc.returncode, what))
                self.cond.wait(min(left, 0.2))

    def settle(self, quiet=0.15):
        """Prints what follows close behind (a signal's PropertiesChanged),
        so that it shows under the step that caused it.  Called locked."""
        deadline = time.monotonic() + quiet
        while True:
            self.show_new()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.cond.wait(left)

    def go_live(self):
        with self.cond:
            self.show_new()
            self.live = True

    def stop(self):
        status = stop_process(self.proc)
        self.thread.join(2)
        with self.cond:
            self.live = False
            self.show_new()
        return status


class GError(ctypes.Structure):
    _fields_ = [('domain', ctypes.c_uint32), ('code', ctypes.c_int),
                ('message', ctypes.c_char_p)]


class Simulator:
    """The kernel's vdpa generic-netlink family, simulated (tests/vdpa-sim.h)
    by threads of this process, which owns the testbed: BUILDDIR's
    tests/libvdpa-sim-py.so, loaded with ctypes.  Programs reach it with
    its preload after umockdev's (self.preload) and UMOCKDEV_DIR."""

    def __init__(self, builddir, testbed):
        path = os.path.join(builddir, 'tests', 'libvdpa-sim-py.so')
        if not os.path.exists(path):
            raise DemoError('%s is not built' % path)
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as e:
            # A sanitizer build's library wants the sanitizer's runtime,
            # which Python has not loaded (tests/meson.build builds this
            # one uninstrumented for that reason).
            raise DemoError('the vDPA netlink simulator cannot be loaded into Python: %s' % e)
        glib = ctypes.CDLL('libglib-2.0.so.0')
        self.g_free = glib.g_free
        self.g_free.argtypes = [ctypes.c_void_p]
        self.g_error_free = glib.g_error_free
        self.g_error_free.argtypes = [ctypes.c_void_p]
        self.lib.vdpa_sim_start.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        self.lib.vdpa_sim_start.restype = ctypes.c_void_p
        self.lib.vdpa_sim_stop.argtypes = [ctypes.c_void_p]
        self.lib.vdpa_sim_stop.restype = None
        self.lib.vdpa_sim_preload_env.argtypes = []
        self.lib.vdpa_sim_preload_env.restype = ctypes.c_void_p
        self.lib.vdpa_sim_get_socket_path.argtypes = [ctypes.c_void_p]
        self.lib.vdpa_sim_get_socket_path.restype = ctypes.c_char_p
        for fn in (self.lib.vdpa_testbed_lock, self.lib.vdpa_testbed_unlock):
            fn.argtypes = []
            fn.restype = None
        # tests/testbed.h: SR-IOV as the kernel does it (gboolean results).
        self.lib.vdpa_testbed_add_pf_with_vfs.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint, ctypes.POINTER(ctypes.c_void_p)]
        self.lib.vdpa_testbed_add_pf_with_vfs.restype = ctypes.c_int
        self.lib.vdpa_testbed_add_vf.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint, ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(ctypes.c_void_p)]
        self.lib.vdpa_testbed_add_vf.restype = ctypes.c_int

        get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        get_pointer.restype = ctypes.c_void_p
        # The testbed's UMockdevTestbed *; the simulator takes a reference.
        self.tb = get_pointer(testbed.__gpointer__, None)
        error = ctypes.c_void_p()
        self.sim = self.lib.vdpa_sim_start(self.tb, ctypes.byref(error))
        if not self.sim:
            raise DemoError('the vDPA netlink simulator did not start: %s' %
                            self.take_error(error))
        self.socket = self.lib.vdpa_sim_get_socket_path(self.sim).decode()
        value = self.lib.vdpa_sim_preload_env()
        self.preload = ctypes.string_at(value).decode()
        self.g_free(value)

    def take_error(self, error):
        """The message of the GError * ERROR (a c_void_p), freed."""
        if not error:
            return 'unknown error'
        message = ctypes.cast(error, ctypes.POINTER(GError)).contents.message.decode(
            errors='replace')
        self.g_error_free(error)
        return message

    def add_pf_with_vfs(self, pf_address, n_vfs):
        """A PF with N_VFS VFs bound to mlx5_core, no vDPA device,
        written without uevents: before the service starts."""
        error = ctypes.c_void_p()
        if not self.lib.vdpa_testbed_add_pf_with_vfs(self.tb, pf_address.encode(), n_vfs,
                                                     ctypes.byref(error)):
            raise DemoError('vdpa_testbed_add_pf_with_vfs(%s, %d): %s' %
                            (pf_address, n_vfs, self.take_error(error)))

    def add_vf(self, pf_address, index):
        """SR-IOV hotplug of VF INDEX of PF_ADDRESS with its "add" and
        "bind" uevents, as the kernel sends them; the VF's address."""
        error = ctypes.c_void_p()
        address = ctypes.c_void_p()
        if not self.lib.vdpa_testbed_add_vf(self.tb, pf_address.encode(), index,
                                            ctypes.byref(address), ctypes.byref(error)):
            raise DemoError('vdpa_testbed_add_vf(%s, %d): %s' %
                            (pf_address, index, self.take_error(error)))
        value = ctypes.string_at(address).decode()
        self.g_free(address)
        return value

    def locked(self):
        """The testbed lock the simulator's threads take while they read
        sysfs (tests/testbed.h), for changes made here through GI."""
        return TestbedLock(self.lib)

    def stop(self):
        """Joins its threads; before the testbed goes."""
        if self.sim:
            self.lib.vdpa_sim_stop(self.sim)
            self.sim = None


class TestbedLock:
    def __init__(self, lib):
        self.lib = lib

    def __enter__(self):
        self.lib.vdpa_testbed_lock()

    def __exit__(self, *exc):
        self.lib.vdpa_testbed_unlock()


class Demo:
    def __init__(self, args):
        self.args = args
        self.builddir = os.path.abspath(args.builddir)
        self.vdpactl_bin = os.path.join(self.builddir, 'client', 'vdpactl')
        self.tmp = tempfile.mkdtemp(prefix=TMP_PREFIX)
        # polkitd and QEMU run as other users and read below it.
        os.chmod(self.tmp, 0o755)
        with open(os.path.join(self.tmp, 'owner.pid'), 'w') as f:
            f.write('%d\n' % os.getpid())
        self.libvirt_dir = os.path.join(self.tmp, 'libvirt')
        socket = os.path.join(self.libvirt_dir, 'run', 'libvirt-sock')
        self.uri = 'qemu+unix:///system?socket=' + urllib.parse.quote(socket, safe='/')
        self.testbed = None
        self.sim = None
        self.bus = None
        self.polkit = None
        self.polkitd_pid = 0
        self.libvirtd = None
        self.daemon = None
        self.monitor = None
        self.address = None
        self.conn = None
        self.stopped = []
        self.created = []

    # ---- setup ----

    def build(self):
        if self.args.no_install:
            return
        # tools/demo has installed the dependencies already.
        step('Build')
        if not os.path.exists(os.path.join(self.builddir, 'build.ninja')):
            self.run_shown(['meson', 'setup', self.builddir, ROOT])
        self.run_shown(['ninja', '-C', self.builddir, '-j2'])

    def check_prerequisites(self):
        if os.geteuid() != 0:
            raise DemoError('the demo needs root: a private libvirtd and polkitd run in '
                            'their own mount namespaces')
        for path in (self.vdpactl_bin, os.path.join(self.builddir, 'daemon', 'vdpa-managerd')):
            if not os.access(path, os.X_OK):
                raise DemoError('%s is not built' % path)
        for tool in ('virsh', 'libvirtd', 'virtlogd', 'unshare', 'setpriv', 'dbus-daemon'):
            if not shutil.which(tool):
                raise DemoError('%s is missing: run tools/install-deps' % tool)
        if not os.access(POLKITD, os.X_OK):
            raise DemoError('%s is missing: run tools/install-deps' % POLKITD)

    def start_libvirtd(self):
        """Started first: it takes longest (seconds when QEMU must be
        probed), and the simulated host and the buses are set up meanwhile."""
        step('Private libvirtd (tests/private-libvirtd), starting in the background')
        cache = os.path.join(self.builddir, 'libvirt-caps-cache')
        os.makedirs(cache, exist_ok=True)
        self.caps_cache = cache
        script = os.path.join(ROOT, 'tests', 'private-libvirtd')
        say('$ tests/private-libvirtd %s' % self.libvirt_dir)
        log = open(os.path.join(self.tmp, 'private-libvirtd.log'), 'w')
        self.libvirtd = subprocess.Popen(
            reaped([script, self.libvirt_dir]), stdin=subprocess.DEVNULL, stdout=log,
            stderr=log, start_new_session=True,
            env=outside_env(foreign=True, PRIVATE_LIBVIRTD_CAPS_CACHE=cache))
        log.close()
        self.libvirtd_started = time.monotonic()

    def libvirtd_logs(self):
        text = ''
        for path in (os.path.join(self.tmp, 'private-libvirtd.log'),
                     os.path.join(self.libvirt_dir, 'log', 'libvirtd.log')):
            if os.path.exists(path):
                with open(path, errors='replace') as f:
                    text += '---- %s ----\n%s' % (path, f.read()[-3000:])
        return text

    def virsh(self, *args, timeout=60):
        return subprocess.run(['virsh', '-c', self.uri] + list(args), env=outside_env(True),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)

    def wait_libvirtd(self):
        step('Private libvirtd: ready?')
        socket = os.path.join(self.libvirt_dir, 'run', 'libvirt-sock')
        deadline = self.libvirtd_started + LIBVIRTD_TIMEOUT
        while True:
            if self.libvirtd.poll() is not None:
                raise DemoError('libvirtd exited with %d during start-up\n%s' %
                                (self.libvirtd.returncode, self.libvirtd_logs()))
            left = deadline - time.monotonic()
            if left <= 0:
                raise DemoError('libvirtd did not answer within %d s\n%s' %
                                (LIBVIRTD_TIMEOUT, self.libvirtd_logs()))
            # libvirtd accepts connections before its drivers are up and
            # answers once they are.
            if os.path.exists(socket):
                try:
                    if self.virsh('uri', timeout=left).returncode == 0:
                        break
                except subprocess.TimeoutExpired:
                    continue
            time.sleep(0.02)
        pid = read_pid(os.path.join(self.libvirt_dir, 'run', 'libvirtd.pid'))
        if pid != self.libvirtd.pid:
            raise DemoError('libvirtd.pid holds %d, not the started %d' % (pid, self.libvirtd.pid))
        say('libvirtd (pid %d) answers after %.1f s' %
            (pid, time.monotonic() - self.libvirtd_started))
        say('URI=%s' % self.uri)

    def define_domains(self):
        step('Two tiny TCG domains, defined, not started')
        template = os.path.join(ROOT, 'tests', 'data', 'domain-tiny.xml')
        for name, nodeset in DOMAINS.items():
            tree = ET.parse(template)
            root = tree.getroot()
            root.find('name').text = name
            if nodeset is not None:
                numatune = ET.Element('numatune')
                ET.SubElement(numatune, 'memory', mode='strict', nodeset=nodeset)
                # After <vcpu>, where libvirt's schema has it.
                root.insert(list(root).index(root.find('vcpu')) + 1, numatune)
            path = os.path.join(self.tmp, name + '.xml')
            tree.write(path, encoding='unicode')
            if nodeset is not None:
                say('(%s: <numatune><memory mode="strict" nodeset="%s"/></numatune>)' %
                    (name, nodeset))
            self.run_virsh_shown('define', path)
        self.run_virsh_shown('list', '--all')

    def make_testbed(self):
        step('Simulated host: tests/data/host.umockdev')
        self.testbed = UMockdev.Testbed.new()
        self.sysroot = self.testbed.get_root_dir()
        # /sys/bus/vdpa and its drivers, as the kernel has them once the vdpa
        # modules are loaded (umockdev makes bus directories only for usb
        # and pci); tests/testbed.c does the same for the C tests.
        for d in ('devices', 'drivers/vhost_vdpa', 'drivers/virtio_vdpa'):
            os.makedirs(os.path.join(self.sysroot, 'sys', 'bus', 'vdpa', d), exist_ok=True)
        self.testbed.add_from_file(os.path.join(ROOT, 'tests', 'data', 'host.umockdev'))
        say('umockdev testbed in %s: ConnectX-6 Dx PFs 0000:04:00.0 (NUMA node 0) and' %
            self.sysroot)
        say('0000:81:00.0 (NUMA node 1), VFs with vDPA devices, a sub-function, vdpa_sim.')
        # Before the daemon, which looks for the kernel's vdpa family once.
        self.sim = Simulator(self.builddir, self.testbed)
        say('The kernel\'s vdpa netlink family, simulated (tests/vdpa-sim.h) in this process: %s' %
            self.sim.socket)
        # Before the service starts, which must find it at its start.
        self.sim.add_pf_with_vfs(PROVISION_PF, PROVISION_N_VFS)
        with self.sim.locked():
            self.add_netdev(PROVISION_UPLINK, 'p0')
            for i in range(PROVISION_N_VFS):
                self.add_netdev(representor_name(i), 'pf0vf%d' % i)
        if not os.path.isdir(os.path.join(self.sysroot, 'sys' + PROVISION_PF_SYSPATH)):
            raise DemoError('vdpa_testbed_add_pf_with_vfs() put %s elsewhere than %s' %
                            (PROVISION_PF, PROVISION_PF_SYSPATH))
        say('A second ConnectX-6 Dx, PF %s in switchdev mode (uplink %s), with %d VFs' %
            (PROVISION_PF, PROVISION_UPLINK, PROVISION_N_VFS))
        say('bound to mlx5_core (%s) and no vDPA device.' %
            ', '.join(h[len('pci/'):] for h in sorted(PROVISION_MGMTDEVS)))

    def add_netdev(self, name, port_name):
        """A netdev of the provisioning card's PF as mlx5 registers it:
        the uplink or a VF's representor on its eswitch; "add".  Called
        with the testbed lock held."""
        self.testbed.add_from_string(
            'P: %s/net/%s\nE: INTERFACE=%s\nE: SUBSYSTEM=net\n'
            'A: phys_port_name=%s\\n\nA: phys_switch_id=%s\\n\n' %
            (PROVISION_PF_SYSPATH, name, name, port_name, PROVISION_SWITCH_ID))

    def simhost_env(self, **extra):
        """The environment of a program that sees the simulated host and
        talks netlink to the simulator (the daemon, Debian's vdpa)."""
        env = outside_env(foreign=True, LD_PRELOAD=self.sim.preload, UMOCKDEV_DIR=self.sysroot)
        env.update(extra)
        return env

    def bus_config(self):
        tree = ET.parse(os.path.join(ROOT, 'tests', 'private-bus.conf.in'))
        policy_dir = os.path.join(self.tmp, 'policy')
        service_dir = os.path.join(self.tmp, 'services')
        os.makedirs(policy_dir)
        os.makedirs(service_dir)
        shutil.copy(os.path.join(ROOT, 'policy', 'org.vdpa.Manager.conf'), policy_dir)
        values = {
            '@LISTEN@': 'unix:path=%s/bus' % self.tmp,
            '@SERVICE_DIR@': service_dir,
            '@POLICY_DIR@': policy_dir,
        }
        for element in tree.iter():
            if element.text in values:
                element.text = values.pop(element.text)
        if values:
            raise DemoError('tests/private-bus.conf.in lacks %s' % ', '.join(values))
        path = os.path.join(self.tmp, 'bus.conf')
        tree.write(path, encoding='unicode')
        return path

    def start_bus(self):
        step('Private system-type D-Bus')
        conf = self.bus_config()
        log = open(os.path.join(self.tmp, 'bus.log'), 'w')
        self.bus = subprocess.Popen(reaped(['dbus-daemon', '--config-file=' + conf, '--nofork',
                                            '--print-address=1']),
                                    stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                    text=True, start_new_session=True)
        log.close()
        ready, _, _ = select.select([self.bus.stdout], [], [], START_TIMEOUT)
        if not ready:
            raise DemoError('dbus-daemon did not print its address')
        self.address = self.bus.stdout.readline().strip()
        if not self.address:
            raise DemoError('dbus-daemon failed; see %s/bus.log' % self.tmp)
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        say('dbus-daemon (pid %d)' % self.bus.pid)
        say('BUS=%s' % self.address)

    def bus_call(self, method, params, reply):
        r = self.conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                'org.freedesktop.DBus', method, params,
                                GLib.VariantType(reply), Gio.DBusCallFlags.NONE, 5000, None)
        return r.unpack()[0]

    def name_has_owner(self, name):
        return self.bus_call('NameHasOwner', GLib.Variant('(s)', (name,)), '(b)')

    def wait_name(self, name, proc, what):
        deadline = time.monotonic() + START_TIMEOUT
        while not self.name_has_owner(name):
            if proc.poll() is not None:
                raise DemoError('%s exited with %d' % (what, proc.returncode))
            if time.monotonic() > deadline:
                raise DemoError('%s did not take %s within %d s' % (what, name, START_TIMEOUT))
            time.sleep(0.02)
        return self.bus_call('GetConnectionUnixProcessID', GLib.Variant('(s)', (name,)), '(u)')

    def start_polkitd(self):
        step('The real polkitd on the private bus, with the project\'s polkit actions')
        actions = os.path.join(self.tmp, 'polkit', 'actions')
        rules = os.path.join(self.tmp, 'polkit', 'rules.d')
        for d in (actions, rules):
            os.makedirs(d, mode=0o755)
            os.chmod(d, 0o755)   # polkitd reads them as user polkitd
        policy = os.path.join(actions, 'org.vdpa.manager.policy')
        shutil.copy(os.path.join(ROOT, 'policy', 'org.vdpa.manager.policy'), policy)
        os.chmod(policy, 0o644)
        # sh stays as the PID namespace's init (no exec): when unshare is
        # killed, --kill-child kills sh and the namespace with it.  The
        # empty rules.d keeps the host's rules out: root needs none.
        script = ('mount --bind %s /usr/share/polkit-1/actions && '
                  'mount --bind %s /etc/polkit-1/rules.d && %s' %
                  (shlex.quote(actions), shlex.quote(rules), POLKITD))
        argv = ['unshare', '--mount', '--pid', '--fork', '--kill-child', '--propagation',
                'private', 'sh', '-c', script]
        say('$ ' + ' '.join(shlex.quote(a) for a in argv))
        env = outside_env(foreign=True, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        self.polkit_log = os.path.join(self.tmp, 'polkitd.log')
        log = open(self.polkit_log, 'w')
        self.polkit = subprocess.Popen(reaped(argv), env=env, stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.polkitd_pid = self.wait_name(POLKIT_NAME, self.polkit, 'polkitd')
        say('polkitd (pid %d) owns %s' % (self.polkitd_pid, POLKIT_NAME))

    def daemon_config(self):
        kf = GLib.KeyFile()
        kf.set_boolean('Devices', 'AllowVirtual', True)
        group = 'Provision %s' % PROVISION_RULE
        kf.set_string(group, 'ManagementDevice', PROVISION_GLOB)
        kf.set_integer(group, 'MaxQueuePairs', PROVISION_MAX_QUEUE_PAIRS)
        kf.set_integer(group, 'Mtu', PROVISION_MTU)
        kf.set_string(group, 'Mac', 'auto')
        kf.set_string(group, 'Name', PROVISION_NAME)
        path = os.path.join(self.tmp, 'vdpa-manager.conf')
        kf.save_to_file(path)
        self.config_path = path
        return path

    def start_daemon(self):
        step('vdpa-managerd')
        managerd = os.path.join(self.builddir, 'daemon', 'vdpa-managerd')
        state = os.path.join(self.tmp, 'state')
        os.makedirs(state)
        env = dict(os.environ)
        env.update({
            'LD_PRELOAD': self.sim.preload,
            'UMOCKDEV_DIR': self.sysroot,
            'SYSTEMD_DEVICE_VERIFY_SYSFS': '0',
            'DBUS_SYSTEM_BUS_ADDRESS': self.address,
        })
        argv = [managerd, '--bus-address=' + self.address, '--verbose',
                '--state-dir=' + state, '--config=' + self.daemon_config(),
                '--libvirt-uri=' + self.uri]
        say('$ vdpa-managerd --bus-address=$BUS --libvirt-uri=$URI --verbose '
            '--state-dir=%s --config=%s' % (argv[3][len('--state-dir='):],
                                            argv[4][len('--config='):]))
        self.daemon_log = os.path.join(self.tmp, 'daemon.log')
        log = open(self.daemon_log, 'w')
        self.daemon = subprocess.Popen(reaped(argv), env=env, stdout=log, stderr=log,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.wait_name(BUS_NAME, self.daemon, 'vdpa-managerd')
        say('vdpa-managerd (pid %d) owns %s; its log: %s' % (self.daemon.pid, BUS_NAME,
                                                            self.daemon_log))
        self.wait_libvirt_connected()
        self.wait_provisioned()

    def call(self, method, params=None, reply='(aa{sv})'):
        r = self.conn.call_sync(BUS_NAME, OBJECT_PATH, INTERFACE, method, params,
                                GLib.VariantType(reply), Gio.DBusCallFlags.NONE, 5000, None)
        return r.unpack()[0]

    def provisioned(self):
        """Management device handle -> [(name, state)] of its devices the
        service made under a rule."""
        made = {}
        for d in self.call('Devices'):
            if d.get('Provisioned'):
                made.setdefault(d.get('ManagementDevice'), []).append((d['Name'], d['State']))
        return made

    def wait_provisioned(self):
        """The rule's devices are made at the service's start, after it
        took its name: the walkthrough starts once each VF of the rule has
        one, available, so that what it shows does not depend on timing."""
        deadline = time.monotonic() + PROVISION_TIMEOUT
        while True:
            made = self.provisioned()
            pending = sorted(h for h in PROVISION_MGMTDEVS
                             if [s for _, s in made.get(h, [])] != ['available'])
            if not pending:
                return
            if self.daemon.poll() is not None:
                raise DemoError('vdpa-managerd exited with %d' % self.daemon.returncode)
            if time.monotonic() > deadline:
                errors = {m['Handle']: m.get('ProvisionError', '')
                          for m in self.call('ManagementDevices')}
                raise DemoError(
                    'rule [Provision %s]: %d s after the start, still pending: %s' % (
                        PROVISION_RULE, PROVISION_TIMEOUT, '; '.join(
                            '%s (devices %r, ProvisionError %r)' % (
                                h, made.get(h, []), errors.get(h, '<no such mgmtdev>'))
                            for h in pending)))
            time.sleep(0.05)

    def wait_libvirt_connected(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            r = self.conn.call_sync(BUS_NAME, OBJECT_PATH, 'org.freedesktop.DBus.Properties', 'Get',
                                    GLib.Variant('(ss)', (INTERFACE, 'LibvirtConnected')),
                                    GLib.VariantType('(v)'), Gio.DBusCallFlags.NONE, 5000, None)
            if r.unpack()[0]:
                return
            if time.monotonic() > deadline:
                raise DemoError('vdpa-managerd did not connect to %s within %d s' %
                                (self.uri, START_TIMEOUT))
            time.sleep(0.05)

    # ---- commands ----

    def run_shown(self, argv, **kwargs):
        say('$ ' + ' '.join(argv))
        return subprocess.run(argv, check=True, **kwargs)

    def run_virsh_shown(self, *args):
        say('$ virsh -c $URI ' + ' '.join(args))
        r = self.virsh(*args)
        for text in (r.stdout, r.stderr):
            if text.strip():
                say(text.rstrip())
        if r.returncode != 0:
            raise DemoError('virsh %s exited with %d' % (args[0], r.returncode))
        return r.stdout

    def vdpactl(self, *args, show=True):
        argv = [self.vdpactl_bin, '--bus-address=' + self.address] + list(args)
        if show:
            say('$ vdpactl --bus-address=$BUS ' + ' '.join(args))
        r = subprocess.run(argv, env=outside_env(), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        if show or r.returncode != 0:
            for text in (r.stdout, r.stderr):
                if text.strip():
                    say(text.rstrip())
        if r.returncode != 0:
            raise DemoError('vdpactl %s exited with %d' % (' '.join(args), r.returncode))
        return r.stdout

    def vdpactl_refused(self, status, *args):
        """vdpactl ARGS, shown, which must fail with exit STATUS; its
        standard error."""
        argv = [self.vdpactl_bin, '--bus-address=' + self.address] + list(args)
        say('$ vdpactl --bus-address=$BUS ' + ' '.join(args))
        r = subprocess.run(argv, env=outside_env(), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        for text in (r.stdout, r.stderr):
            if text.strip():
                say(text.rstrip())
        if r.returncode != status:
            raise DemoError('vdpactl %s exited with %d, not %d' % (' '.join(args), r.returncode,
                                                                status))
        say('(exit status %d)' % r.returncode)
        return r.stderr

    def vdpa(self, *args, show=True):
        """Debian's iproute2 vdpa, on the simulated host."""
        if show:
            say('$ vdpa ' + ' '.join(args))
        r = subprocess.run([VDPA] + list(args), env=self.simhost_env(), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        if show or r.returncode != 0:
            for text in (r.stdout, r.stderr):
                if text.strip():
                    say(text.rstrip())
        if r.returncode != 0:
            raise DemoError('vdpa %s exited with %d' % (' '.join(args), r.returncode))
        return r.stdout

    def vdpa_json(self, *args):
        return json.loads(self.vdpa('-j', *args, show=False))

    def devices(self):
        return {d['Name']: d for d in json.loads(self.vdpactl('--json=short', 'list', show=False))}

    def expect_state(self, name, state, domain=None):
        d = self.devices().get(name)
        if d is None:
            raise DemoError('vdpactl list lacks %s' % name)
        if d.get('State') != state or (domain is not None and d.get('Domain') != domain):
            raise DemoError('%s is %s (domain %r), not %s (domain %r)' % (
                name, d.get('State'), d.get('Domain'), state, domain))
        return d

    def vdpa_interfaces(self, domain):
        """The domain's persistent XML and its <interface type='vdpa'>s."""
        r = self.virsh('dumpxml', '--inactive', domain)
        if r.returncode != 0:
            raise DemoError('virsh dumpxml %s exited with %d: %s' % (domain, r.returncode,
                                                                  r.stderr.strip()))
        root = ET.fromstring(r.stdout)
        return r.stdout, root.findall("./devices/interface[@type='vdpa']")

    # ---- the story ----

    def show_service(self):
        step('The service: vdpactl status')
        out = self.vdpactl('status')
        status = json.loads(self.vdpactl('--json=short', 'status', show=False))
        if status.get('LibvirtConnected') is not True:
            raise DemoError('vdpactl status: LibvirtConnected is %r' %
                            status.get('LibvirtConnected'))
        if self.uri not in out:
            raise DemoError('vdpactl status does not name the libvirt URI')

        step('The inventory: vdpactl list')
        self.vdpactl('list')
        devices = self.devices()
        for name in (XML_DEVICE, 'vdpa2'):
            if devices.get(name, {}).get('State') != 'available':
                raise DemoError('%s is not available: %r' % (name, devices.get(name)))

        step('One device: vdpactl show %s' % XML_DEVICE)
        self.vdpactl('show', XML_DEVICE)

    def show_xml(self):
        step('Its libvirt <interface>: vdpactl xml %s' % XML_DEVICE)
        out = self.vdpactl('xml', XML_DEVICE, '--queues', XML_QUEUES, '--mac', XML_MAC)
        iface = ET.fromstring(out)
        if (iface.tag != 'interface' or iface.get('type') != 'vdpa' or
                iface.find('mac').get('address') != XML_MAC or
                iface.find('driver').get('queues') != XML_QUEUES):
            raise DemoError('vdpactl xml printed an unexpected interface')

    def claim(self):
        step('Claim: the service picks a device for %s (shut off: config attach)' % CLAIM_DOMAIN)
        self.vdpactl('claim', '--auto', CLAIM_DOMAIN)
        claimed = [d for d in self.devices().values() if d.get('Domain') == CLAIM_DOMAIN]
        if len(claimed) != 1 or claimed[0].get('State') != 'claimed':
            raise DemoError('after the claim, %s holds %r' % (CLAIM_DOMAIN, claimed))
        self.claimed = claimed[0]
        say('Picked: %s, on NUMA node %s like %s\'s memory (PF %s, %s)' % (
            self.claimed['Name'], self.claimed.get('NumaNode'), CLAIM_DOMAIN,
            self.claimed.get('PhysicalFunction'), self.claimed.get('Chardev')))
        if self.claimed.get('NumaNode') != CLAIM_NUMA_NODE:
            raise DemoError('the auto-pick ignored the domain\'s NUMA node')

        step('libvirt has it: virsh dumpxml --inactive %s (excerpt)' % CLAIM_DOMAIN)
        say('$ virsh -c $URI dumpxml --inactive %s' % CLAIM_DOMAIN)
        text, interfaces = self.vdpa_interfaces(CLAIM_DOMAIN)
        ours = [i for i in interfaces
                if i.find('source') is not None and
                i.find('source').get('dev') == self.claimed.get('Chardev')]
        if not ours:
            raise DemoError('dumpxml of %s lacks <interface type=\'vdpa\'> with source %s' %
                            (CLAIM_DOMAIN, self.claimed.get('Chardev')))
        lines = text.splitlines()
        start = next(i for i, line in enumerate(lines) if "<interface type='vdpa'>" in line)
        end = next(i for i in range(start, len(lines)) if '</interface>' in lines[i])
        say('  ...')
        for line in lines[start:end + 1]:
            say(line)
        say('  ...')

        step('Claimed: vdpactl list')
        self.vdpactl('list')
        self.expect_state(self.claimed['Name'], 'claimed', CLAIM_DOMAIN)

    def start_monitor(self):
        step('vdpactl monitor, in the background')
        say('$ vdpactl --bus-address=$BUS monitor &')
        self.monitor = Monitor([self.vdpactl_bin, '--bus-address=' + self.address, 'monitor'],
                               outside_env())
        # Its first line comes once its match rules are in force.
        self.monitor.wait_for('its first line', r'monitoring %s: service running' %
                              re.escape(BUS_NAME))

    def hotplug(self):
        step('Hotplug: %s appears on VF 0000:04:00.5, no driver yet' % HOTPLUG_NAME)
        with self.sim.locked():
            self.testbed.add_from_file(os.path.join(ROOT, 'tests', 'data', 'hotplug-vf.umockdev'))
        self.monitor.wait_for('DeviceAdded %s' % HOTPLUG_NAME,
                              r'\bDeviceAdded %s state=unusable\b' % HOTPLUG_NAME)

        step('Hotplug: %s is bound to vhost_vdpa' % HOTPLUG_NAME)
        dev = '/sys' + HOTPLUG_VF + '/' + HOTPLUG_NAME
        # What the kernel does on bind: the vhost char device appears under
        # the vDPA device, the driver link is set, then "bind" is sent.
        with self.sim.locked():
            self.testbed.add_from_string(
                'P: %s/%s/%s\nN: %s\nE: DEVNAME=/dev/%s\nE: MAJOR=509\nE: MINOR=9\n'
                'E: SUBSYSTEM=vhost-vdpa\nA: dev=509:9\\n\n' %
                (HOTPLUG_VF, HOTPLUG_NAME, HOTPLUG_CHARDEV, HOTPLUG_CHARDEV, HOTPLUG_CHARDEV))
            os.symlink('../../../../../bus/vdpa/drivers/vhost_vdpa',
                       os.path.join(self.sysroot, dev.lstrip('/'), 'driver'))
            self.testbed.set_property(dev, 'DRIVER', 'vhost_vdpa')
            self.testbed.uevent(dev, 'bind')
        self.monitor.wait_for('DeviceChanged %s state=available' % HOTPLUG_NAME,
                              r'\bDeviceChanged %s state=available\b' % HOTPLUG_NAME)

    def release(self):
        name = self.claimed['Name']
        step('Release: vdpactl release %s' % name)
        self.vdpactl('release', name)
        self.monitor.wait_for('DeviceChanged %s state=available' % name,
                              r'\bDeviceChanged %s state=available\b' % name)
        _, interfaces = self.vdpa_interfaces(CLAIM_DOMAIN)
        if interfaces:
            raise DemoError('%s still has %d vdpa interface(s) after the release' %
                            (CLAIM_DOMAIN, len(interfaces)))
        say('virsh dumpxml --inactive %s: no <interface type=\'vdpa\'> any more' % CLAIM_DOMAIN)

        step('Back to the start, plus the hotplugged device: vdpactl list')
        self.vdpactl('list')
        self.expect_state(name, 'available')
        self.expect_state(HOTPLUG_NAME, 'available')

    def management_plane(self):
        step('The kernel\'s management plane, as Debian\'s iproute2 sees it: vdpa mgmtdev show')
        if not os.access(VDPA, os.X_OK):
            raise DemoError('%s is missing (Debian package iproute2): run tools/install-deps' %
                            VDPA)
        self.vdpa('mgmtdev', 'show')
        mgmtdevs = set(self.vdpa_json('mgmtdev', 'show').get('mgmtdev', {}))
        want = FIXTURE_MGMTDEVS | PROVISION_MGMTDEVS
        if mgmtdevs != want:
            raise DemoError('vdpa mgmtdev show: %s, not %s' % (
                ', '.join(sorted(mgmtdevs)), ', '.join(sorted(want))))

        step('The same through the service: vdpactl mgmtdev list')
        self.vdpactl('mgmtdev', 'list')
        handles = self.mgmtdevs()
        if set(handles) != want:
            raise DemoError('vdpactl mgmtdev list: %s, not %s' % (
                ', '.join(sorted(handles)), ', '.join(sorted(want))))
        if handles[CREATE_MGMTDEV].get('Devices') != [HOTPLUG_NAME]:
            raise DemoError('%s carries %r, not [%r]' % (
                CREATE_MGMTDEV, handles[CREATE_MGMTDEV].get('Devices'), HOTPLUG_NAME))

        step('Provisioning: %s has room for one device; vdpactl delete %s, then create' %
             (CREATE_MGMTDEV, HOTPLUG_NAME))
        self.vdpactl('delete', HOTPLUG_NAME)
        self.monitor.wait_for('DeviceRemoved %s' % HOTPLUG_NAME,
                              r'\bDeviceRemoved %s\b' % HOTPLUG_NAME)
        if HOTPLUG_NAME in self.devices():
            raise DemoError('vdpactl list still has %s after the delete' % HOTPLUG_NAME)
        out = self.vdpactl('create', CREATE_MGMTDEV, '--max-queue-pairs',
                           str(CREATE_MAX_QUEUE_PAIRS))
        m = re.search(r'^Created (\S+) on %s\.$' % re.escape(CREATE_MGMTDEV), out, re.M)
        if not m:
            raise DemoError('vdpactl create did not say what it created')
        net = m.group(1)
        self.created = [net]
        self.monitor.wait_for('DeviceAdded %s' % net,
                              r'\bDeviceAdded %s\b' % re.escape(net))
        self.vdpactl('show', net)
        d = json.loads(self.vdpactl('--json=short', 'show', net, show=False))
        want = {'Type': 'net', 'MaxQueuePairs': CREATE_MAX_QUEUE_PAIRS,
                'ManagementDevice': CREATE_MGMTDEV}
        wrong = {k: d.get(k) for k, v in want.items() if d.get(k) != v}
        if wrong:
            raise DemoError('vdpactl show %s: %r, not %r' % (net, wrong, want))

        step('A virtio-blk device, made with iproute2: vdpa dev add name %s mgmtdev %s' %
             (BLK_NAME, BLK_MGMTDEV))
        self.vdpa('dev', 'add', 'name', BLK_NAME, 'mgmtdev', BLK_MGMTDEV)
        self.created.append(BLK_NAME)
        self.monitor.wait_for('DeviceAdded %s' % BLK_NAME, r'\bDeviceAdded %s\b' % BLK_NAME)
        self.vdpactl('list')
        d = self.expect_state(BLK_NAME, 'unusable')
        if d.get('Type') != 'blk':
            raise DemoError('%s has Type %r, not blk' % (BLK_NAME, d.get('Type')))
        say('%s is no network device: the service lists it, unusable for libvirt\'s '
            '<interface>.' % BLK_NAME)
        stderr = self.vdpactl_refused(5, 'xml', BLK_NAME)
        if 'blk' not in stderr.replace(BLK_NAME, ''):
            raise DemoError('vdpactl xml %s was refused without naming its type blk' % BLK_NAME)
        error = self.bus_error('BuildInterfaceXml', GLib.Variant('(sa{sv})', (BLK_NAME, {})))
        if error != UNUSABLE_ERROR:
            raise DemoError('BuildInterfaceXml(%s) failed with %s, not %s' % (BLK_NAME, error,
                                                                          UNUSABLE_ERROR))
        say('(the service\'s error: %s)' % error)

        step('Clean up: vdpactl delete %s' % ', '.join(self.created))
        for name in list(self.created):
            self.vdpactl('delete', name)
            self.monitor.wait_for('DeviceRemoved %s' % name, r'\bDeviceRemoved %s\b' %
                                  re.escape(name))
            self.created.remove(name)
        self.vdpa('dev', 'show')
        left = self.vdpa_json('dev', 'show').get('dev', {})
        for name in (HOTPLUG_NAME, BLK_NAME, net):
            if name in left:
                raise DemoError('vdpa dev show still has %s' % name)
        for name in (XML_DEVICE, self.claimed['Name']):
            if name not in left:
                raise DemoError('vdpa dev show lacks %s' % name)

    def provisioning(self):
        group = 'Provision %s' % PROVISION_RULE
        step('Declarative provisioning: [%s] in the service\'s configuration' % group)
        say('$ cat %s   (excerpt)' % self.config_path)
        with open(self.config_path) as f:
            text = f.read()
        start = text.index('[%s]' % group)
        end = text.find('\n[', start)
        say(text[start:end if end >= 0 else len(text)].rstrip())
        say('At its start the service made a device on each VF of %s that had none:' %
            PROVISION_PF)
        # The command is `vdpactl provision status` (client/vdpactl.c).
        self.vdpactl('provision', 'status')
        status = json.loads(self.vdpactl('--json=short', 'provision', 'status', show=False))
        rule = [r for r in status.get('rules', []) if r.get('Name') == PROVISION_RULE]
        if len(rule) != 1 or set(rule[0].get('matches', [])) != PROVISION_MGMTDEVS:
            raise DemoError('vdpactl provision status: rule %s matches %r, not %s' % (
                PROVISION_RULE, rule and rule[0].get('matches'), sorted(PROVISION_MGMTDEVS)))
        by_handle = {m.get('Handle'): m for m in status.get('management_devices', [])}
        made = {}
        for handle in sorted(PROVISION_MGMTDEVS):
            m = by_handle.get(handle, {})
            names = m.get('provisioned', [])
            if len(names) != 1 or m.get('ProvisionRule') != PROVISION_RULE or \
                    m.get('ProvisionError'):
                raise DemoError('vdpactl provision status: %s has provisioned %r under rule %r '
                                '(ProvisionError %r), not one device under %s' % (
                                    handle, names, m.get('ProvisionRule'),
                                    m.get('ProvisionError'), PROVISION_RULE))
            made[handle] = names[0]

        step('The devices it made: vdpactl list')
        self.vdpactl('list')
        devices = self.devices()
        for handle, name in sorted(made.items()):
            self.expect_provisioned(devices.get(name), name, handle)

        step('SR-IOV hotplug: VF %d of %s appears (%s); vdpactl monitor is running' %
             (PROVISION_HOTPLUG_INDEX, PROVISION_PF, PROVISION_HOTPLUG_VF))
        rep = representor_name(PROVISION_HOTPLUG_INDEX)
        say('(as mlx5 enables a VF: its representor %s on the eswitch first, then the VF' % rep)
        say(' with "add", then mlx5_core bound to it with "bind": a new management device)')
        with self.sim.locked():
            self.add_netdev(rep, 'pf0vf%d' % PROVISION_HOTPLUG_INDEX)
        address = self.sim.add_vf(PROVISION_PF, PROVISION_HOTPLUG_INDEX)
        if address != PROVISION_HOTPLUG_VF:
            raise DemoError('VF %d of %s is %s, not %s' % (PROVISION_HOTPLUG_INDEX, PROVISION_PF,
                                                         address, PROVISION_HOTPLUG_VF))
        handle = 'pci/' + address
        line = self.monitor.wait_for(
            'DeviceAdded of the device rule %s makes on %s' % (PROVISION_RULE, handle),
            r'\bDeviceAdded %s\b' % PROVISION_NAME_RE)
        name = re.search(r'\bDeviceAdded (%s)\b' % PROVISION_NAME_RE, line).group(1)
        if name in made.values():
            raise DemoError('DeviceAdded %s again' % name)
        if not re.search(r'\bstate=available\b', line):
            self.monitor.wait_for('DeviceChanged %s state=available' % name,
                                  r'\bDeviceChanged %s state=available\b' % re.escape(name))

        step('The new device: vdpactl show %s' % name)
        self.vdpactl('show', name)
        d = json.loads(self.vdpactl('--json=short', 'show', name, show=False))
        self.expect_provisioned(d, name, handle)
        # §9's keys, when the service tells them.
        want = {'Representor': rep, 'PfNetdev': PROVISION_UPLINK}
        wrong = {k: d.get(k) for k, v in want.items() if k in d and d.get(k) != v}
        if wrong:
            raise DemoError('vdpactl show %s: %r, not %r' % (name, wrong, want))

        step('And the rule\'s view: vdpactl provision status')
        self.vdpactl('provision', 'status')
        status = json.loads(self.vdpactl('--json=short', 'provision', 'status', show=False))
        m = {m.get('Handle'): m for m in status.get('management_devices', [])}.get(handle, {})
        if m.get('provisioned') != [name]:
            raise DemoError('vdpactl provision status: %s has provisioned %r, not [%r]' % (
                handle, m.get('provisioned'), name))

    def expect_provisioned(self, d, name, handle):
        """Device dictionary D is NAME, made under the rule on HANDLE as
        the rule says."""
        if d is None:
            raise DemoError('vdpactl list lacks %s, provisioned on %s' % (name, handle))
        want = {'Provisioned': True, 'ManagementDevice': handle, 'State': 'available',
                'Type': 'net', 'MaxQueuePairs': PROVISION_MAX_QUEUE_PAIRS, 'Mtu': PROVISION_MTU}
        wrong = {k: d.get(k) for k, v in want.items() if d.get(k) != v}
        if wrong:
            raise DemoError('%s: %r, not %r' % (name, wrong, want))
        if not re.fullmatch(PROVISION_NAME_RE, name):
            raise DemoError('%s is not named as %s says' % (name, PROVISION_NAME))
        mac = d.get('DeviceMac', '')
        # Mac=auto: locally administered, unicast.
        if not re.fullmatch(r'[0-9a-f]{2}(:[0-9a-f]{2}){5}', mac) or int(mac[:2], 16) & 3 != 2:
            raise DemoError('%s has DeviceMac %r, not a locally administered unicast MAC' %
                            (name, mac))

    def bus_error(self, method, params):
        """The D-Bus error name METHOD of the service fails with (None
        if it succeeds)."""
        try:
            self.conn.call_sync(BUS_NAME, OBJECT_PATH, INTERFACE, method, params, None,
                                Gio.DBusCallFlags.NONE, 5000, None)
        except GLib.Error as e:
            return Gio.DBusError.get_remote_error(e)
        return None

    def mgmtdevs(self):
        return {m['Handle']: m for m in json.loads(self.vdpactl('--json=short', 'mgmtdev',
                                                                show=False))}

    def wait_for_ctrl_c(self):
        step('The service is yours')
        say('BUS=%s' % self.address)
        say('URI=%s' % self.uri)
        say('Try, in another terminal (as root):')
        say("  %s --bus-address='%s' list" % (self.vdpactl_bin, self.address))
        say("  %s --bus-address='%s' claim vdpa0 demo-web" % (self.vdpactl_bin, self.address))
        say("  busctl --address='%s' call %s %s %s Devices" % (self.address, BUS_NAME,
                                                              OBJECT_PATH, INTERFACE))
        say("  busctl --address='%s' get-property %s %s %s Capabilities" % (
            self.address, BUS_NAME, OBJECT_PATH, INTERFACE))
        say("  virsh -c '%s' dumpxml --inactive demo-web" % self.uri)
        say("  LD_PRELOAD='%s' UMOCKDEV_DIR='%s' vdpa dev show" % (self.sim.preload, self.sysroot))
        # The Cockpit page, straight from the source tree: cockpit-bridge
        # finds it through XDG_DATA_DIRS (DATA/cockpit/vdpa -> cockpit/),
        # and talks to this bus as its system bus.
        cockpit_data = os.path.join(self.tmp, 'cockpit-data')
        os.makedirs(os.path.join(cockpit_data, 'cockpit'), exist_ok=True)
        if not os.path.lexists(os.path.join(cockpit_data, 'cockpit', 'vdpa')):
            os.symlink(os.path.join(ROOT, 'cockpit'), os.path.join(cockpit_data, 'cockpit', 'vdpa'))
        with socket.socket() as s:      # a port free right now
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        say('The Cockpit page on this bus (cockpit-ws on 127.0.0.1 only, its bridge on the demo\'s bus):')
        say("  DBUS_SYSTEM_BUS_ADDRESS='%s' XDG_DATA_DIRS='%s:/usr/share' XDG_CONFIG_DIRS='%s' \\" % (
            self.address, cockpit_data, cockpit_data))
        say('    /usr/lib/cockpit/cockpit-ws --no-tls --local-session=cockpit-bridge --address=127.0.0.1 --port=%d'
            % port)
        say('  then open http://127.0.0.1:%d/cockpit/@localhost/vdpa/index.html' % port)
        say('vdpactl monitor keeps printing here.  Ctrl-C stops everything.')
        self.monitor.go_live()
        while self.daemon.poll() is None:
            time.sleep(0.2)
        say('vdpa-managerd exited with %d' % self.daemon.returncode)

    # ---- teardown ----

    def stop_polkitd(self):
        if self.polkit is None:
            return None
        # Politely: polkitd exits on SIGTERM, sh and unshare follow.
        # unshare ignores SIGTERM; SIGKILL to it makes --kill-child take
        # the whole PID namespace down.
        s = proc_stat(self.polkitd_pid) if self.polkitd_pid else None
        if self.polkit.poll() is None and s and s[0] not in 'ZX' and s[1] == 'polkitd':
            os.kill(self.polkitd_pid, signal.SIGTERM)
        try:
            return self.polkit.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.polkit.kill()
            self.polkit.wait()
            return None
        finally:
            wait_gone(self.polkitd_pid, STOP_TIMEOUT)

    def stop_libvirtd(self):
        if self.libvirtd is None:
            return None
        run_dir = os.path.join(self.libvirt_dir, 'run')
        if self.libvirtd.poll() is None:
            # Through libvirt, so that it cleans up after QEMU; the demo
            # starts no domain, but one may have been started by hand.
            try:
                r = self.virsh('list', '--name', '--state-running', timeout=10)
                for name in r.stdout.split() if r.returncode == 0 else []:
                    self.virsh('destroy', name, timeout=20)
            except subprocess.TimeoutExpired:
                pass
        virtlogd = read_pid(os.path.join(run_dir, 'virtlogd.pid'))
        status = stop_process(self.libvirtd)
        # virtlogd dies with libvirtd (parent-death signal).
        if virtlogd and proc_stat(virtlogd) and proc_stat(virtlogd)[1] == 'virtlogd':
            if not wait_gone(virtlogd, STOP_TIMEOUT):
                os.kill(virtlogd, signal.SIGKILL)
        kill_qemus(run_dir)
        self.update_caps_cache()
        return status

    def update_caps_cache(self):
        """The next run does not probe QEMU again (seconds)."""
        caps = os.path.join(self.libvirt_dir, 'cache', 'qemu', 'capabilities')
        for entry in os.listdir(caps) if os.path.isdir(caps) else []:
            if entry.endswith('.xml'):
                try:
                    shutil.copyfile(os.path.join(caps, entry), os.path.join(self.caps_cache, entry))
                except OSError:
                    pass

    def stop(self):
        """Stops everything, in order; each step runs whatever the last
        did.  Returns the problems found."""
        problems = []
        steps = [
            ('vdpactl monitor', lambda: self.monitor.stop() if self.monitor else None, True),
            ('vdpa-managerd', lambda: stop_process(self.daemon), True),
            ('polkitd', self.stop_polkitd, False),
            ('libvirtd', self.stop_libvirtd, False),
            ('dbus-daemon', lambda: stop_process(self.bus), False),
            # Its threads use the testbed: before it goes.
            ('the vdpa netlink simulator', lambda: self.sim.stop() if self.sim else None, False),
        ]
        for what, stop, must_exit_0 in steps:
            try:
                status = stop()
            except Exception as e:   # noqa: BLE001 — go on tearing down
                problems.append('stopping %s: %s' % (what, e))
                continue
            if status is None:
                continue
            self.stopped.append('%s (%s)' % (what, describe_status(status)))
            if must_exit_0 and status != 0:
                problems.append('%s exited with %d on SIGTERM' % (what, status))
        self.conn = None
        self.testbed = None
        leftovers = self.leftovers()
        if leftovers:
            problems.append('left behind: ' + ', '.join(leftovers))
        return problems

    def leftovers(self):
        """Our children (adopted orphans included) still there after a
        grace period for the reaper."""
        deadline = time.monotonic() + 2
        while True:
            left = []
            for pid in our_children():
                s = proc_stat(pid)
                if s:
                    left.append('%s[%d]%s' % (s[1], pid, ' <defunct>' if s[0] == 'Z' else ''))
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.05)

    def remove_tmp(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def dump_logs(self):
        for path in (os.path.join(self.tmp, 'daemon.log'), os.path.join(self.tmp, 'bus.log'),
                     os.path.join(self.tmp, 'polkitd.log')):
            if os.path.exists(path):
                with open(path, errors='replace') as f:
                    sys.stderr.write('---- %s ----\n%s' % (path, f.read()[-6000:]))
        sys.stderr.write(self.libvirtd_logs())


def representor_name(vf_index):
    """The netdev name systemd gives the representor of VF_INDEX on the
    provisioning card's PF (bus 0x21 = 33, function 0)."""
    return 'enp33s0f0npf0vf%d' % vf_index


def describe_status(status):
    """A Popen return code; unshare and sh report a signal as 128+N."""
    signum = -status if status < 0 else status - 128 if status > 128 else 0
    if signum:
        try:
            return 'ended by %s' % signal.Signals(signum).name
        except ValueError:
            pass
    return 'exit %d' % status


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main():
    # The testbed's uevents are resolved through libudev in this process,
    # so it must see the simulated /sys too: run under the preload library.
    if 'umockdev-preload' not in os.environ.get('LD_PRELOAD', ''):
        os.execvp('umockdev-wrapper', ['umockdev-wrapper', sys.executable,
                                       os.path.realpath(__file__)] + sys.argv[1:])

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--once', action='store_true',
                        help='stop after the walkthrough instead of waiting for Ctrl-C')
    parser.add_argument('--builddir', default=os.path.join(ROOT, 'build-demo'),
                        help='build directory (default: build-demo)')
    parser.add_argument('--no-install', action='store_true',
                        help='use BUILDDIR as it is: no dependency install, no build')
    args = parser.parse_args()

    # SIGTERM and SIGHUP end the demo as Ctrl-C does: through the finally.
    # SIGINT too when started in the background by a shell, which ignores it.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)

    demo = Demo(args)
    ok = False
    code = 1
    try:
        demo.build()
        demo.check_prerequisites()
        become_subreaper()
        remove_stale_runs()
        demo.start_libvirtd()
        demo.make_testbed()
        demo.start_bus()
        demo.start_polkitd()
        demo.wait_libvirtd()
        demo.define_domains()
        demo.start_daemon()
        demo.show_service()
        demo.show_xml()
        demo.claim()
        demo.start_monitor()
        demo.hotplug()
        demo.release()
        demo.management_plane()
        demo.provisioning()
        ok = True
        if not args.once:
            demo.wait_for_ctrl_c()
    except KeyboardInterrupt:
        # After the walkthrough, Ctrl-C is how the demo ends.
        if not ok:
            say()
            say('interrupted')
            code = 130
    except DemoError as e:
        say()
        say('demo FAILED: %s' % e)
        demo.dump_logs()
    except Exception as e:   # noqa: BLE001
        say()
        say('demo FAILED: %s' % e)
        traceback.print_exc()
        demo.dump_logs()
    finally:
        # A second Ctrl-C must not cut the teardown short; every wait in it
        # is bounded.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        step('Teardown')
        problems = demo.stop()
        for what in demo.stopped:
            say('stopped %s' % what)
        for problem in problems:
            say('teardown: %s' % problem)
        if problems and ok:
            demo.dump_logs()
        demo.remove_tmp()
        say('removed %s' % demo.tmp)
    if ok and problems:
        say('demo FAILED: the teardown was not clean')
        ok = False
    if ok:
        step('Done')
        code = 0
    return code


if __name__ == '__main__':
    sys.exit(main())
