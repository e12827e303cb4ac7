/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Self-test of the private libvirtd harness, and the libvirt facts the
 * Claim/Release and reconciliation tests build on: config attach/detach of
 * a vdpa interface, the live-attach failure, pause/resume, restart, and
 * isolation from the host's libvirt.  Prints latency floors for benchmarks.
 *
 * Needs root, libvirtd, virtlogd and qemu-system-x86_64: fails without them.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "libvirtd-harness.h"

#define VDPA_IFACE_XML                                                                  \
        "<interface type='vdpa'><source dev='/dev/vhost-vdpa-0'/>"                      \
        "<model type='virtio'/></interface>"
#define REPETITIONS 10

static VdpaTestLibvirtd *libvirtd;
static char *dom_off;     /* persistent, shut off */
static char *dom_running; /* persistent, running */
static GPtrArray *all_names;

static const char *uri(void)
{
        return vdpa_test_libvirtd_get_uri(libvirtd);
}

static void conn_closep(virConnectPtr *conn)
{
        if (*conn)
                virConnectClose(*conn);
}

static void domain_freep(virDomainPtr *dom)
{
        if (*dom)
                virDomainFree(*dom);
}

#define _cleanup_conn_ __attribute__((cleanup(conn_closep)))
#define _cleanup_domain_ __attribute__((cleanup(domain_freep)))

static virConnectPtr open_or_die(void)
{
        g_autoptr(GError) error = NULL;
        virConnectPtr conn = vdpa_test_libvirt_open(uri(), 10000, &error);

        g_assert_no_error(error);
        return conn;
}

static char *new_name(void)
{
        char *name = vdpa_test_domain_name_new();

        g_ptr_array_add(all_names, g_strdup(name));
        return name;
}

static int compare_i64(gconstpointer a, gconstpointer b)
{
        gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

        return x < y ? -1 : x > y;
}

static double median_ms(gint64 *usec, guint n)
{
        qsort(usec, n, sizeof(*usec), compare_i64);
        return (n % 2 ? (double) usec[n / 2] : (usec[n / 2 - 1] + usec[n / 2]) / 2.0) / 1000.0;
}

/* The number of <interface type='vdpa'> with source dev DEV in XML. */
static int count_vdpa(const char *xml, const char *dev)
{
        g_autofree char *expr = g_strdup_printf(
                "count(/domain/devices/interface[@type='vdpa'][source/@dev='%s']"
                "[model/@type='virtio'])", dev);
        xmlDoc *doc = xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
        xmlXPathContext *ctx;
        xmlXPathObject *obj;
        int n;

        g_assert_nonnull(doc);
        ctx = xmlXPathNewContext(doc);
        obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);
        g_assert_nonnull(obj);
        n = (int) xmlXPathCastToNumber(obj);
        xmlXPathFreeObject(obj);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
        return n;
}

static int vdpa_in_domain(const char *name, gboolean inactive)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *xml = vdpa_test_domain_xml(uri(), name, inactive, &error);

        g_assert_no_error(error);
        return count_vdpa(xml, "/dev/vhost-vdpa-0");
}

static int domain_state(virConnectPtr conn, const char *name)
{
        _cleanup_domain_ virDomainPtr dom = virDomainLookupByName(conn, name);
        int state = -1, reason;

        g_assert_nonnull(dom);
        g_assert_cmpint(virDomainGetState(dom, &state, &reason, 0), ==, 0);
        return state;
}

static gboolean host_has_trace(const char *name)
{
        g_autofree char *etc = g_strdup_printf("/etc/libvirt/qemu/%s.xml", name);
        g_autofree char *run = g_strdup_printf("/run/libvirt/qemu/%s.xml", name);
        g_autofree char *log = g_strdup_printf("/var/log/libvirt/qemu/%s.log", name);
        g_autofree char *suffix = g_strdup_printf("-%s", name);
        g_autoptr(GDir) lib = g_dir_open("/var/lib/libvirt/qemu", 0, NULL);
        const char *entry;

        if (g_file_test(etc, G_FILE_TEST_EXISTS) || g_file_test(run, G_FILE_TEST_EXISTS) ||
            g_file_test(log, G_FILE_TEST_EXISTS))
                return TRUE;
        while (lib && (entry = g_dir_read_name(lib)))
                if (g_str_has_suffix(entry, suffix) || strstr(entry, name))
                        return TRUE;
        return FALSE;
}

static char *in_dir(const char *first, ...)
{
        g_autoptr(GPtrArray) parts = g_ptr_array_new();
        va_list ap;

        g_ptr_array_add(parts, (char *) vdpa_test_libvirtd_get_dir(libvirtd));
        va_start(ap, first);
        for (const char *p = first; p; p = va_arg(ap, const char *))
                g_ptr_array_add(parts, (char *) p);
        va_end(ap);
        g_ptr_array_add(parts, NULL);
        return g_build_filenamev((char **) parts->pdata);
}

/* ---- tests ---- */

static void test_start(void)
{
        g_autofree char *cmdline_path = NULL, *cmdline = NULL;
        _cleanup_conn_ virConnectPtr conn = NULL;
        g_autofree char *socket = NULL;
        char *conn_uri;
        unsigned long version = 0;
        pid_t pid;

        g_assert_true(g_file_test("/usr/bin/qemu-system-x86_64", G_FILE_TEST_IS_EXECUTABLE));
        libvirtd = vdpa_test_libvirtd_start_or_die();
        g_print("# private libvirtd in %s, first start-up %.0f ms\n",
                vdpa_test_libvirtd_get_dir(libvirtd),
                vdpa_test_libvirtd_get_startup_usec(libvirtd) / 1000.0);

        /* The spawned pid is libvirtd itself: signals reach it. */
        pid = vdpa_test_libvirtd_get_pid(libvirtd);
        cmdline_path = g_strdup_printf("/proc/%d/cmdline", pid);
        g_assert_true(g_file_get_contents(cmdline_path, &cmdline, NULL, NULL));
        g_assert_true(g_str_has_suffix(cmdline, "libvirtd"));

        socket = in_dir("run", "libvirt-sock", NULL);
        g_assert_true(g_file_test(socket, G_FILE_TEST_EXISTS));
        g_assert_nonnull(strstr(uri(), socket));

        conn = open_or_die();
        conn_uri = virConnectGetURI(conn);
        g_assert_cmpstr(conn_uri, ==, uri());
        free(conn_uri);
        g_assert_cmpint(virConnectGetLibVersion(conn, &version), ==, 0);
        g_assert_cmpuint(version, >=, 6009000);
}

/* The harness's reaper thread reads /proc all the time.  Through umockdev's
 * preload library that used to call getenv(), and setenv() in the main
 * thread (umockdev_testbed_new() sets UMOCKDEV_DIR in every service test)
 * reallocates environ under it: SIGSEGV in getenv() from the reaper, one
 * run in a few of test-claim and test-libvirt under ASan.  Grow and shrink
 * the environment for a while with the reaper running: the process must
 * live.  (It runs under umockdev-wrapper, as the service tests do.) */
static void test_reaper_vs_setenv(void)
{
        const char *preload = g_getenv("LD_PRELOAD");
        gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
        guint64 rounds = 0;
        int subreaper = 0;

        /* Without the preload library or the reaper this could not fail. */
        g_assert_nonnull(preload);
        g_assert_nonnull(strstr(preload, "umockdev"));
        g_assert_nonnull(libvirtd);
        g_assert_cmpint(prctl(PR_GET_CHILD_SUBREAPER, &subreaper), ==, 0);
        g_assert_cmpint(subreaper, ==, 1);

        while (g_get_monotonic_time() < end) {
                char name[32];

                /* Each new name makes glibc reallocate environ. */
                for (int i = 0; i < 64; i++) {
                        g_snprintf(name, sizeof name, "VDPA_TEST_GROW_%d", i);
                        g_assert_cmpint(setenv(name, "1", 1), ==, 0);
                }
                for (int i = 0; i < 64; i++) {
                        g_snprintf(name, sizeof name, "VDPA_TEST_GROW_%d", i);
                        g_assert_cmpint(unsetenv(name), ==, 0);
                }
                rounds++;
        }
        g_test_message("%" G_GUINT64_FORMAT " rounds of 64 setenv() + 64 unsetenv() beside the reaper", rounds);
        g_assert_cmpuint(rounds, >, 0);
}

static void test_define(void)
{
        g_autoptr(GError) error = NULL;
        _cleanup_conn_ virConnectPtr conn = open_or_die();
        g_autofree char *private_xml = NULL;

        dom_off = new_name();
        dom_running = new_name();
        g_assert_true(vdpa_test_define_domain(uri(), dom_off, FALSE, &error));
        g_assert_no_error(error);
        g_assert_true(vdpa_test_define_domain(uri(), dom_running, FALSE, &error));
        g_assert_no_error(error);
        g_assert_cmpint(domain_state(conn, dom_off), ==, VIR_DOMAIN_SHUTOFF);
        g_assert_cmpint(domain_state(conn, dom_running), ==, VIR_DOMAIN_SHUTOFF);

        /* The definition lands in DIR, not in the host's /etc/libvirt. */
        private_xml = g_strdup_printf("%s/etc/qemu/%s.xml",
                                      vdpa_test_libvirtd_get_dir(libvirtd), dom_off);
        g_assert_true(g_file_test(private_xml, G_FILE_TEST_EXISTS));
        g_assert_false(host_has_trace(dom_off));

        /* Defining an existing name again fails (a new UUID each time). */
        g_assert_false(vdpa_test_define_domain(uri(), dom_off, FALSE, &error));
        g_assert_nonnull(error);
        g_assert_true(error->domain == VDPA_TEST_LIBVIRT_ERROR);
        g_print("# defining %s twice: %s\n", dom_off, error->message);
        g_clear_error(&error);
        g_assert_null(vdpa_test_domain_xml(uri(), "vdpa-test-no-such-domain", TRUE, &error));
        g_assert_error(error, VDPA_TEST_LIBVIRT_ERROR, VIR_ERR_NO_DOMAIN);
}

static void test_attach_config(void)
{
        _cleanup_conn_ virConnectPtr conn = open_or_die();
        _cleanup_domain_ virDomainPtr dom = virDomainLookupByName(conn, dom_off);

        g_assert_nonnull(dom);
        g_assert_cmpint(vdpa_in_domain(dom_off, TRUE), ==, 0);
        g_assert_cmpint(virDomainAttachDeviceFlags(dom, VDPA_IFACE_XML,
                                                   VIR_DOMAIN_AFFECT_CONFIG), ==, 0);
        g_assert_cmpint(vdpa_in_domain(dom_off, TRUE), ==, 1);

        g_assert_cmpint(virDomainDetachDeviceFlags(dom, VDPA_IFACE_XML,
                                                   VIR_DOMAIN_AFFECT_CONFIG), ==, 0);
        g_assert_cmpint(vdpa_in_domain(dom_off, TRUE), ==, 0);

        /* A shut-off domain has no live side to attach to. */
        g_assert_cmpint(virDomainAttachDeviceFlags(dom, VDPA_IFACE_XML,
                                                   VIR_DOMAIN_AFFECT_LIVE), <, 0);
        g_print("# live attach to a shut-off domain: %s\n", virGetLastErrorMessage());
        g_assert_cmpint(vdpa_in_domain(dom_off, TRUE), ==, 0);
}

static void test_live_attach_fails(void)
{
        _cleanup_conn_ virConnectPtr conn = open_or_die();
        _cleanup_domain_ virDomainPtr dom = virDomainLookupByName(conn, dom_running);
        g_autofree char *before = NULL, *after = NULL;
        g_autofree char *qemu_log = NULL;
        const char *message;

        g_assert_nonnull(dom);
        g_assert_cmpint(virDomainCreate(dom), ==, 0);
        g_assert_cmpint(domain_state(conn, dom_running), ==, VIR_DOMAIN_RUNNING);
        before = vdpa_test_domain_xml(uri(), dom_running, FALSE, NULL);
        g_assert_nonnull(before);

        g_assert_cmpint(virDomainAttachDeviceFlags(dom, VDPA_IFACE_XML,
                                                   VIR_DOMAIN_AFFECT_LIVE), <, 0);
        message = virGetLastErrorMessage();
        g_print("# live attach of a vdpa interface: [%d] %s\n", virGetLastErrorCode(), message);
        g_assert_nonnull(strstr(message, "Unable to open '/dev/vhost-vdpa-0'"));

        /* libvirt rolled back: the live and config XML are unchanged. */
        after = vdpa_test_domain_xml(uri(), dom_running, FALSE, NULL);
        g_assert_cmpstr(before, ==, after);
        g_assert_cmpint(vdpa_in_domain(dom_running, TRUE), ==, 0);
        g_assert_cmpint(domain_state(conn, dom_running), ==, VIR_DOMAIN_RUNNING);

        /* QEMU's log is in DIR, not on the host. */
        qemu_log = g_strdup_printf("%s/log/qemu/%s.log",
                                   vdpa_test_libvirtd_get_dir(libvirtd), dom_running);
        g_assert_true(g_file_test(qemu_log, G_FILE_TEST_EXISTS));
        g_assert_false(host_has_trace(dom_running));
}

static void test_numa(void)
{
        static const char *const pins[] = { "1", "0-1", NULL };
        const VdpaTestDomainOptions node0 = { .numa_nodeset = "0", .vcpu_pins = pins };
        const VdpaTestDomainOptions node1 = { .numa_nodeset = "1", .vcpu_pins = pins };
        g_autoptr(GError) error = NULL;
        g_autofree char *a = new_name(), *b = new_name();
        g_autofree char *xml = NULL;
        _cleanup_conn_ virConnectPtr conn = open_or_die();

        /* Node 0 exists: defined and running, pinned. */
        g_assert_true(vdpa_test_define_domain_full(uri(), a, TRUE, &node0, &error));
        g_assert_no_error(error);
        xml = vdpa_test_domain_xml(uri(), a, TRUE, &error);
        g_assert_no_error(error);
        g_assert_nonnull(strstr(xml, "<memory mode='strict' nodeset='0'/>"));
        g_assert_nonnull(strstr(xml, "<vcpupin vcpu='0' cpuset='1'/>"));
        g_assert_nonnull(strstr(xml, "<vcpu placement='static'>2</vcpu>"));
        g_assert_cmpint(domain_state(conn, a), ==, VIR_DOMAIN_RUNNING);
        g_assert_true(vdpa_test_undefine_domain(uri(), a, &error));

        /* A node this host lacks: defining works, starting does not, and
         * the helper leaves nothing behind. */
        g_assert_true(vdpa_test_define_domain_full(uri(), b, FALSE, &node1, &error));
        g_assert_no_error(error);
        g_assert_true(vdpa_test_undefine_domain(uri(), b, &error));
        if (g_file_test("/sys/devices/system/node/node1", G_FILE_TEST_EXISTS)) {
                g_print("# host has NUMA node 1: start of a node-1 domain not tested\n");
                return;
        }
        g_assert_false(vdpa_test_define_domain_full(uri(), b, TRUE, &node1, &error));
        g_print("# start with nodeset 1 on a one-node host: %s\n", error->message);
        g_assert_error(error, VDPA_TEST_LIBVIRT_ERROR, VIR_ERR_CONFIG_UNSUPPORTED);
        g_clear_error(&error);
        g_assert_null(vdpa_test_domain_xml(uri(), b, TRUE, &error));
        g_assert_error(error, VDPA_TEST_LIBVIRT_ERROR, VIR_ERR_NO_DOMAIN);
}

typedef struct {
        virConnectPtr conn;
        GMutex lock;
        gboolean done;
        int result;
} CallJob;

static gpointer call_in_thread(gpointer data)
{
        CallJob *job = data;
        unsigned long version;
        int r = virConnectGetLibVersion(job->conn, &version);

        g_mutex_lock(&job->lock);
        job->result = r;
        job->done = TRUE;
        g_mutex_unlock(&job->lock);
        return NULL;
}

static gboolean call_done(CallJob *job)
{
        gboolean done;

        g_mutex_lock(&job->lock);
        done = job->done;
        g_mutex_unlock(&job->lock);
        return done;
}

static void test_pause_resume(void)
{
        g_autoptr(GError) error = NULL;
        _cleanup_conn_ virConnectPtr conn = open_or_die();
        virConnectPtr hung;
        CallJob job = { .conn = conn };
        GThread *thread;
        gint64 start, elapsed;

        g_mutex_init(&job.lock);
        vdpa_test_libvirtd_pause(libvirtd);

        /* A new connection hangs... */
        start = g_get_monotonic_time();
        hung = vdpa_test_libvirt_open(uri(), 1000, &error);
        elapsed = g_get_monotonic_time() - start;
        g_assert_null(hung);
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
        g_assert_cmpint(elapsed, >=, 1000 * 1000);
        g_clear_error(&error);

        /* ...and so does a call on an open one, until SIGCONT. */
        thread = g_thread_new("call", call_in_thread, &job);
        g_usleep(500 * 1000);
        g_assert_false(call_done(&job));
        start = g_get_monotonic_time();
        vdpa_test_libvirtd_resume(libvirtd);
        g_thread_join(thread);
        elapsed = g_get_monotonic_time() - start;
        g_assert_true(job.done);
        g_assert_cmpint(job.result, ==, 0);
        g_print("# paused libvirtd: open timed out after 1 s; a pending call finished %.1f ms after SIGCONT\n",
                elapsed / 1000.0);
        g_mutex_clear(&job.lock);

        hung = vdpa_test_libvirt_open(uri(), 5000, &error);
        g_assert_no_error(error);
        virConnectClose(hung);
}

static void test_restart(void)
{
        g_autoptr(GError) error = NULL;
        virConnectPtr conn;
        gint64 stop_usec;
        pid_t old = vdpa_test_libvirtd_get_pid(libvirtd);

        g_assert_true(vdpa_test_libvirtd_restart(libvirtd, &error));
        g_assert_no_error(error);
        g_assert_cmpint(vdpa_test_libvirtd_get_pid(libvirtd), !=, old);
        g_print("# restart (SIGTERM, start on the same DIR): up again in %.0f ms\n",
                vdpa_test_libvirtd_get_startup_usec(libvirtd) / 1000.0);

        /* Persistent domains are back; the running one was reconnected. */
        conn = open_or_die();
        g_assert_cmpint(domain_state(conn, dom_off), ==, VIR_DOMAIN_SHUTOFF);
        g_assert_cmpint(domain_state(conn, dom_running), ==, VIR_DOMAIN_RUNNING);
        virConnectClose(conn);

        /* A crash (SIGKILL) and a start: the same. */
        stop_usec = vdpa_test_libvirtd_stop_daemon(libvirtd, SIGKILL);
        g_assert_cmpint(vdpa_test_libvirtd_get_pid(libvirtd), ==, 0);
        g_assert_null(vdpa_test_libvirt_open(uri(), 2000, &error));
        g_assert_nonnull(error);
        g_print("# while libvirtd is down: %s\n", error->message);
        g_assert_false(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
        g_clear_error(&error);
        g_assert_true(vdpa_test_libvirtd_start_daemon(libvirtd, &error));
        g_assert_no_error(error);
        g_print("# SIGKILL took %.1f ms; start after a crash: %.0f ms\n", stop_usec / 1000.0,
                vdpa_test_libvirtd_get_startup_usec(libvirtd) / 1000.0);
        conn = open_or_die();
        g_assert_cmpint(domain_state(conn, dom_off), ==, VIR_DOMAIN_SHUTOFF);
        g_assert_cmpint(domain_state(conn, dom_running), ==, VIR_DOMAIN_RUNNING);
        virConnectClose(conn);
}

static void test_timings(void)
{
        gint64 connect[REPETITIONS], define[REPETITIONS], undefine[REPETITIONS];
        gint64 attach[REPETITIONS], detach[REPETITIONS], xml[REPETITIONS];
        _cleanup_conn_ virConnectPtr conn = open_or_die();
        _cleanup_domain_ virDomainPtr dom = virDomainLookupByName(conn, dom_off);
        g_autofree char *name = new_name();
        g_autofree char *domain_xml = vdpa_test_domain_build_xml(name, NULL, NULL);

        g_assert_nonnull(dom);
        g_assert_nonnull(domain_xml);
        for (guint i = 0; i < REPETITIONS; i++) {
                virConnectPtr c;
                virDomainPtr d;
                char *desc;
                gint64 t0;

                t0 = g_get_monotonic_time();
                c = virConnectOpen(uri());
                connect[i] = g_get_monotonic_time() - t0;
                g_assert_nonnull(c);
                virConnectClose(c);

                t0 = g_get_monotonic_time();
                d = virDomainDefineXML(conn, domain_xml);
                define[i] = g_get_monotonic_time() - t0;
                g_assert_nonnull(d);
                t0 = g_get_monotonic_time();
                g_assert_cmpint(virDomainUndefine(d), ==, 0);
                undefine[i] = g_get_monotonic_time() - t0;
                virDomainFree(d);

                t0 = g_get_monotonic_time();
                g_assert_cmpint(virDomainAttachDeviceFlags(dom, VDPA_IFACE_XML,
                                                           VIR_DOMAIN_AFFECT_CONFIG), ==, 0);
                attach[i] = g_get_monotonic_time() - t0;
                t0 = g_get_monotonic_time();
                desc = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
                xml[i] = g_get_monotonic_time() - t0;
                g_assert_cmpint(count_vdpa(desc, "/dev/vhost-vdpa-0"), ==, 1);
                free(desc);
                t0 = g_get_monotonic_time();
                g_assert_cmpint(virDomainDetachDeviceFlags(dom, VDPA_IFACE_XML,
                                                           VIR_DOMAIN_AFFECT_CONFIG), ==, 0);
                detach[i] = g_get_monotonic_time() - t0;
        }
        g_print("# medians over %d: connect %.2f ms, define %.2f ms, undefine %.2f ms, "
                "attach-config %.2f ms, dumpxml-inactive %.2f ms, detach-config %.2f ms\n",
                REPETITIONS, median_ms(connect, REPETITIONS), median_ms(define, REPETITIONS),
                median_ms(undefine, REPETITIONS), median_ms(attach, REPETITIONS),
                median_ms(xml, REPETITIONS), median_ms(detach, REPETITIONS));
        g_assert_cmpint(vdpa_in_domain(dom_off, TRUE), ==, 0);
}

static void test_cleanup(void)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = g_strdup(vdpa_test_libvirtd_get_dir(libvirtd));
        g_autofree char *needle = g_strdup_printf("guest=vdpa-test-%d-", getpid());
        _cleanup_conn_ virConnectPtr conn = open_or_die();
        pid_t pid = vdpa_test_libvirtd_get_pid(libvirtd);
        virDomainPtr *domains = NULL;
        g_autoptr(GDir) proc = NULL;
        const char *entry;
        gint64 start;
        int n;

        /* dom_running still runs: destroyed, then undefined. */
        start = g_get_monotonic_time();
        g_assert_true(vdpa_test_undefine_domain(uri(), dom_running, &error));
        g_assert_no_error(error);
        g_print("# destroy + undefine of a running domain: %.0f ms\n",
                (g_get_monotonic_time() - start) / 1000.0);
        for (guint i = 0; i < all_names->len; i++) {
                g_assert_true(vdpa_test_undefine_domain(uri(), all_names->pdata[i], &error));
                g_assert_no_error(error);
        }
        /* Undefining twice is fine. */
        g_assert_true(vdpa_test_undefine_domain(uri(), dom_off, &error));
        n = virConnectListAllDomains(conn, &domains, 0);
        g_assert_cmpint(n, ==, 0);
        free(domains);
        virConnectClose(g_steal_pointer(&conn));

        for (guint i = 0; i < all_names->len; i++)
                g_assert_false(host_has_trace(all_names->pdata[i]));

        start = g_get_monotonic_time();
        vdpa_test_libvirtd_stop(g_steal_pointer(&libvirtd));
        g_print("# stop: %.0f ms\n", (g_get_monotonic_time() - start) / 1000.0);
        g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
        g_assert_cmpint(kill(pid, 0), ==, -1);
        g_assert_cmpint(errno, ==, ESRCH);

        /* No QEMU of ours is left. */
        proc = g_dir_open("/proc", 0, NULL);
        g_assert_nonnull(proc);
        while ((entry = g_dir_read_name(proc))) {
                g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", entry);
                g_autofree char *cmdline = NULL;
                gsize len;

                if (!g_ascii_isdigit(entry[0]) ||
                    !g_file_get_contents(path, &cmdline, &len, NULL))
                        continue;
                for (gsize i = 0; i + 1 < len; i++)
                        if (cmdline[i] == '\0')
                                cmdline[i] = ' ';
                g_assert_null(strstr(cmdline, needle));
        }
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        all_names = g_ptr_array_new_with_free_func(g_free);

        g_test_add_func("/libvirtd/start", test_start);
        g_test_add_func("/libvirtd/reaper-vs-setenv", test_reaper_vs_setenv);
        g_test_add_func("/libvirtd/define", test_define);
        g_test_add_func("/libvirtd/attach-config", test_attach_config);
        g_test_add_func("/libvirtd/live-attach-fails", test_live_attach_fails);
        g_test_add_func("/libvirtd/numa", test_numa);
        g_test_add_func("/libvirtd/pause-resume", test_pause_resume);
        g_test_add_func("/libvirtd/restart", test_restart);
        g_test_add_func("/libvirtd/timings", test_timings);
        g_test_add_func("/libvirtd/cleanup", test_cleanup);

        return g_test_run();
}
