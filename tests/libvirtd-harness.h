/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A private, real libvirtd for tests: tests/private-libvirtd runs libvirtd
 * (and its virtlogd) in a private mount namespace where /etc/libvirt,
 * /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt
 * are subdirectories of a temporary directory DIR, so a test never sees or
 * touches the developer's own domains.  Clients connect to
 *   qemu+unix:///system?socket=DIR/run/libvirt-sock
 *
 * What to know:
 *  - Must run as root.  The script is found through VDPA_TEST_SRCDIR (set by
 *    tests/meson.build), the domain template through VDPA_TEST_DATA or
 *    VDPA_TEST_SRCDIR.
 *  - The first start in a fresh DIR probes QEMU's capabilities (~7 s here).
 *    The result is kept in VDPA_TEST_LIBVIRT_CACHE, default
 *    VDPA_TEST_BUILDDIR/libvirt-caps-cache, and seeds later instances
 *    (~0.1 s), see PRIVATE_LIBVIRTD_CAPS_CACHE in the script.
 *  - libvirtd is spawned with PR_SET_PDEATHSIG and its virtlogd dies with
 *    it, so neither outlives a crashed test.  QEMU processes are not
 *    libvirtd's children: vdpa_test_libvirtd_stop() destroys the domains
 *    and kills what is left; a later vdpa_test_libvirtd_start() cleans up
 *    after a test that crashed (dead owner pid in DIR/owner.pid).
 *  - The test process becomes a child subreaper (PR_SET_CHILD_SUBREAPER),
 *    and a harness thread reaps the orphans that are libvirt's (QEMU,
 *    virtlogd, libvirtd's helpers: by process name, see
 *    is_libvirt_orphan()): unreaped QEMU zombies make every
 *    virDomainDestroy() take seconds.  Other orphans are left alone.
 *  - libvirtd does not inherit UMOCKDEV_DIR, LD_PRELOAD or
 *    DBUS_SYSTEM_BUS_ADDRESS: it cannot run under umockdev and must not
 *    talk to a test's private bus.
 *  - The harness silences libvirt's default error printing in the test
 *    process (virSetErrorFunc); errors come back as GErrors in the
 *    VDPA_TEST_LIBVIRT_ERROR domain with libvirt's virErrorNumber as code
 *    and libvirt's message.
 */
#pragma once

#include <sys/types.h>

#include <gio/gio.h> /* G_IO_ERROR */
#include <libvirt/libvirt.h>

typedef struct VdpaTestLibvirtd VdpaTestLibvirtd;

#define VDPA_TEST_LIBVIRT_ERROR (vdpa_test_libvirt_error_quark())
GQuark vdpa_test_libvirt_error_quark(void);

/* ---- the private daemon ---- */

/* Makes a temporary DIR, starts tests/private-libvirtd DIR and waits
 * (bounded: 60 s) until virConnectOpen() on its URI succeeds. */
VdpaTestLibvirtd *vdpa_test_libvirtd_start(GError **error);
/* Like vdpa_test_libvirtd_start(), but g_assert_no_error() on failure. */
VdpaTestLibvirtd *vdpa_test_libvirtd_start_or_die(void);

/* Destroys the running domains, terminates libvirtd (SIGCONT, SIGTERM,
 * SIGKILL after 10 s) and virtlogd, kills leftover QEMU processes, removes
 * DIR and frees. NULL is fine. */
void vdpa_test_libvirtd_stop(VdpaTestLibvirtd *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaTestLibvirtd, vdpa_test_libvirtd_stop)

const char *vdpa_test_libvirtd_get_uri(VdpaTestLibvirtd *d);
const char *vdpa_test_libvirtd_get_dir(VdpaTestLibvirtd *d);
/* libvirtd's pid, 0 while it is down. */
pid_t vdpa_test_libvirtd_get_pid(VdpaTestLibvirtd *d);
/* How long the last start (or restart) took until the URI answered. */
gint64 vdpa_test_libvirtd_get_startup_usec(VdpaTestLibvirtd *d);
/* DIR/log/libvirtd.log: libvirtd's stderr (warnings and errors). */
char *vdpa_test_libvirtd_get_log_path(VdpaTestLibvirtd *d);

/* SIGSTOP / SIGCONT libvirtd itself: a hung daemon. */
void vdpa_test_libvirtd_pause(VdpaTestLibvirtd *d);
void vdpa_test_libvirtd_resume(VdpaTestLibvirtd *d);

/* Takes libvirtd down without touching DIR or the domains (running QEMU
 * processes keep running, as on a real libvirtd restart): SIGNUM is
 * SIGTERM for an orderly shutdown (SIGKILL after 10 s) or SIGKILL for a
 * crash.  Returns the elapsed time in microseconds. */
gint64 vdpa_test_libvirtd_stop_daemon(VdpaTestLibvirtd *d, int signum);
/* Starts libvirtd again on the same DIR and waits until it answers. */
gboolean vdpa_test_libvirtd_start_daemon(VdpaTestLibvirtd *d, GError **error);
/* stop_daemon(SIGTERM) + start_daemon(): persistent domains come back,
 * running ones are reconnected. */
gboolean vdpa_test_libvirtd_restart(VdpaTestLibvirtd *d, GError **error);

/* ---- libvirt client helpers (any URI) ---- */

/* virConnectOpen() in a thread, giving up after TIMEOUT_MS with
 * G_IO_ERROR_TIMED_OUT (a hung daemon); the abandoned attempt finishes
 * and closes its connection in the background. */
virConnectPtr vdpa_test_libvirt_open(const char *uri, guint timeout_ms, GError **error);

/* "vdpa-test-PID-N", unique per process and call. */
char *vdpa_test_domain_name_new(void);

typedef struct {
        /* <numatune><memory mode='strict' nodeset=NUMA_NODESET/>, or NULL. */
        const char *numa_nodeset;
        /* NULL or a NULL-terminated list of cpusets: vCPU i is pinned to
         * vcpu_pins[i] (<cputune><vcpupin>). */
        const char *const *vcpu_pins;
        /* The number of vCPUs; 0 means max(1, number of pins). */
        guint vcpus;
} VdpaTestDomainOptions;

/* Defines the tiny TCG domain of tests/data/domain-tiny.xml named NAME
 * (persistent) and starts it when START. */
gboolean vdpa_test_define_domain(const char *uri, const char *name, gboolean start,
                                 GError **error);
gboolean vdpa_test_define_domain_full(const char *uri, const char *name, gboolean start,
                                      const VdpaTestDomainOptions *options, GError **error);
/* The domain XML as built by libxml2 from the template (for callers that
 * define it themselves, e.g. with virDomainDefineXML() on their own
 * connection). */
char *vdpa_test_domain_build_xml(const char *name, const VdpaTestDomainOptions *options,
                                 GError **error);

/* virDomainGetXMLDesc(), with VIR_DOMAIN_XML_INACTIVE when INACTIVE. */
char *vdpa_test_domain_xml(const char *uri, const char *name, gboolean inactive,
                           GError **error);

/* Destroys NAME if it runs and undefines it; a missing domain is not an
 * error. */
gboolean vdpa_test_undefine_domain(const char *uri, const char *name, GError **error);
