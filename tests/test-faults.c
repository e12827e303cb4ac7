/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fault tests: the real daemon on a private system bus, over umockdev,
 * under a uevent storm and with a full state directory (a tiny tmpfs in a
 * private mount namespace of this process, so nothing reaches the host).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

#include "harness.h"
#include "libvirtd-harness.h"
#include "polkit-harness.h"
#include "testbed.h"
#include "vdpa-names.h"

#define GRANT_ADMIN_RULE                                                        \
        "polkit.addRule(function(action, subject) {\n"                          \
        "  if (action.id.indexOf('org.vdpa.manager.') == 0 &&\n"                \
        "      subject.user == '" VDPA_TEST_ADMIN "')\n"                        \
        "    return polkit.Result.YES;\n"                                       \
        "});\n"

/* The storm: STORM_DEVICES adds, all but every tenth removed again, and the
 * survivors bound to vhost_vdpa: 5000 + 4500 + 500 = 10^4 uevents. */
#define STORM_DEVICES 5000u
#define STORM_EVENTS (STORM_DEVICES + STORM_DEVICES * 9 / 10 + STORM_DEVICES / 10)
#define STORM_FIRST_MINOR 1000

/* The devices of tests/data/host.umockdev. */
#define HOST_DEVICES 6u

typedef struct {
        UMockdevTestbed *tb;
        VdpaTestBus *bus;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;

        /* The testbed first, so that the bus and the daemon inherit it. */
        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        f->bus = vdpa_test_bus_new_or_die();
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        g_clear_pointer(&f->bus, vdpa_test_bus_free);
        g_clear_object(&f->tb);
}

/* name -> device dictionary of Devices(). */
static GHashTable *devices_by_name_bus(VdpaTestBus *bus) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = vdpa_test_call(bus, "Devices", NULL, "(aa{sv})", &error);
        g_autoptr(GVariant) list = NULL;
        GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                              (GDestroyNotify) g_variant_unref);
        GVariantIter iter;
        GVariant *dict;

        g_assert_no_error(error);
        list = g_variant_get_child_value(reply, 0);
        g_variant_iter_init(&iter, list);
        while ((dict = g_variant_iter_next_value(&iter))) {
                char *name = NULL;

                g_assert_true(g_variant_lookup(dict, VDPA_KEY_NAME, "s", &name));
                g_assert_false(g_hash_table_contains(t, name));
                g_hash_table_insert(t, name, dict);
        }
        return t;
}

static GHashTable *devices_by_name(Fixture *f) {
        return devices_by_name_bus(f->bus);
}

static void assert_same_devices(GHashTable *seen, GHashTable *fresh) {
        GHashTableIter it;
        gpointer k, v;

        g_assert_cmpuint(g_hash_table_size(fresh), ==, g_hash_table_size(seen));
        g_hash_table_iter_init(&it, seen);
        while (g_hash_table_iter_next(&it, &k, &v)) {
                GVariant *other = g_hash_table_lookup(fresh, k);

                g_assert_nonnull(other);
                if (!g_variant_equal(v, other)) {
                        g_autofree char *a = g_variant_print(v, TRUE);
                        g_autofree char *b = g_variant_print(other, TRUE);
                        g_error("%s differs from a fresh enumeration:\n%s\nfresh:\n%s", (char *) k, a, b);
                }
        }
}

static const char *signal_name(const VdpaTestSignal *s) {
        const char *name;

        g_variant_get_child(s->parameters, 0, "&s", &name);
        return name;
}

static guint count_lines(const char *log, const char *needle) {
        guint n = 0;

        for (const char *p = log; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

/* --- a genuine overflow: the kernel's netlink socket, no umockdev --- */

/* A uevent in the kernel's format, multicast to the "udev" group as udevd
 * would (as test-inventory's monitor test does).  This process and the
 * daemon share a network namespace of their own (main()), so nobody else
 * hears it.  The paths do not exist in sysfs: the daemon looks and finds
 * nothing, as for a device already gone again. */
static void send_netlink_uevent(int fd, const char *action, guint n) {
        struct sockaddr_nl dst = { .nl_family = AF_NETLINK, .nl_groups = 2 /* udev */ };
        g_autofree char *devpath = g_strdup_printf("/devices/virtual/vdpa-fault/storm%u", n);
        g_autofree char *head = g_strdup_printf("%s@%s", action, devpath);
        g_autoptr(GString) msg = g_string_new(NULL);

        g_string_append_len(msg, head, strlen(head) + 1);
        g_string_append_printf(msg, "ACTION=%s%cDEVPATH=%s%cSUBSYSTEM=vdpa%cSEQNUM=%u%c",
                               action, 0, devpath, 0, 0, n + 1, 0);
        g_assert_cmpint(sendto(fd, msg->str, msg->len, 0, (struct sockaddr *) &dst, sizeof dst),
                        ==, (gssize) msg->len);
}

/* The kernel's counters of PID's uevent socket (/proc/net/netlink of this
 * network namespace): how many events it really lost, and how many bytes
 * are queued for the daemon to read. */
static guint64 netlink_stats(GPid pid, guint64 *ret_rmem) {
        g_autofree char *contents = NULL;
        g_auto(GStrv) lines = NULL;

        g_assert_true(g_file_get_contents("/proc/net/netlink", &contents, NULL, NULL));
        lines = g_strsplit(contents, "\n", -1);
        for (char **l = lines; *l; l++) {
                unsigned eth, groups;
                guint64 rmem, drops;
                int portid;

                /* sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode */
                if (sscanf(*l, "%*s %u %d %x %" G_GUINT64_FORMAT " %*s %*s %*s %" G_GUINT64_FORMAT,
                           &eth, &portid, &groups, &rmem, &drops) != 5)
                        continue;
                if (eth == NETLINK_KOBJECT_UEVENT && portid == pid && (groups & 2)) {
                        if (ret_rmem)
                                *ret_rmem = rmem;
                        return drops;
                }
        }
        g_error("no uevent socket of pid %d in /proc/net/netlink", pid);
}

static guint64 netlink_drops(GPid pid) {
        return netlink_stats(pid, NULL);
}

static void set_pdeathsig(gpointer data) {
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* The harness starts the daemon only under umockdev, so that no test reads
 * the host by accident.  This one must not: umockdev's uevent socket cannot
 * overflow.  So it is started here, with everything it could write in the
 * bus's temporary directory and libvirt's test driver; of the host it only
 * reads /sys (which has no vDPA devices the test relies on: it compares with
 * a fresh enumeration, whatever that finds). */
static GPid host_daemon_start(VdpaTestBus *bus, const char *log_path, const char *extra) {
        g_autofree char *bus_arg = g_strdup_printf("--bus-address=%s", vdpa_test_bus_get_address(bus));
        g_autofree char *state_arg = g_strdup_printf("--state-dir=%s", vdpa_test_bus_get_state_dir(bus));
        g_autofree char *config_arg = g_strdup_printf("--config=%s", vdpa_test_bus_get_config_path(bus));
        const char *argv[] = { g_getenv("VDPA_MANAGERD"), bus_arg, "--verbose", state_arg, config_arg,
                               "--libvirt-uri=test:///default", extra, NULL };
        g_autoptr(GError) error = NULL;
        GPid pid = 0;
        int fd;

        g_assert_nonnull(argv[0]);
        fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        g_assert_cmpint(fd, >=, 0);
        g_assert_true(vdpa_test_spawn(argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, set_pdeathsig, NULL,
                                      fd, NULL, NULL, 0, &pid, &error));
        g_assert_no_error(error);
        g_assert_cmpint(close(fd), ==, 0);

        for (int i = 0; vdpa_test_bus_get_name_owner_pid(bus, VDPA_BUS_NAME) != pid; i++) {
                int status;

                if (i >= 400 || waitpid(pid, &status, WNOHANG) == pid) {
                        g_autofree char *log = NULL;

                        g_file_get_contents(log_path, &log, NULL, NULL);
                        g_error("daemon did not come up on the bus:\n%s", log ?: "");
                }
                vdpa_test_iterate(25);
        }
        return pid;
}

static void host_daemon_stop_assert_ok(GPid pid, const char *log_path) {
        int status = 0;

        g_assert_cmpint(kill(pid, SIGTERM), ==, 0);
        for (int i = 0; waitpid(pid, &status, WNOHANG) != pid; i++) {
                if (i >= 400) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, &status, 0);
                        g_error("daemon did not exit on SIGTERM");
                }
                g_usleep(25000);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                g_autofree char *log = NULL;

                g_file_get_contents(log_path, &log, NULL, NULL);
                g_error("daemon failed (status %d):\n%s", status, log ?: "");
        }
}

static char *read_log(const char *path) {
        char *log = NULL;

        g_assert_true(g_file_get_contents(path, &log, NULL, NULL));
        return log;
}

static void test_uevent_overflow_netlink(void) {
        g_autoptr(VdpaTestBus) bus = NULL;
        g_autofree char *log_path = NULL;
        g_autoptr(VdpaTestRecorder) rec = NULL;
        g_autoptr(GHashTable) after = NULL, fresh = NULL;
        g_autofree char *log = NULL;
        guint sent = 0, resyncs, enobufs;
        guint64 drops;
        gint64 t0, t_sent;
        GPid pid;
        int fd;

        /* No testbed: umockdev's socket cannot overflow, the kernel's can. */
        g_assert_null(g_getenv("UMOCKDEV_DIR"));
        bus = vdpa_test_bus_new_or_die();
        log_path = g_build_filename(vdpa_test_bus_get_tmpdir(bus), "host-daemon.log", NULL);
        pid = host_daemon_start(bus, log_path, "--uevent-rcvbuf=4096");
        rec = vdpa_test_recorder_new(bus);
        log = read_log(log_path);
        g_assert_nonnull(strstr(log, "uevent receive buffer: 8192 bytes"));
        g_clear_pointer(&log, g_free);
        g_assert_cmpuint(netlink_drops(pid), ==, 0);

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
        g_assert_cmpint(fd, >=, 0);
        /* Stopped while the storm arrives, so that its buffer does fill
         * whatever the machine's load (a loaded sender was once slow
         * enough for the daemon to keep up). */
        g_assert_cmpint(kill(pid, SIGSTOP), ==, 0);
        t0 = g_get_monotonic_time();
        for (guint i = 0; i < 5000; i++) {
                send_netlink_uevent(fd, "add", i);
                send_netlink_uevent(fd, "remove", i);
                sent += 2;
        }
        t_sent = g_get_monotonic_time();
        g_assert_cmpint(close(fd), ==, 0);
        g_assert_cmpint(kill(pid, SIGCONT), ==, 0);

        /* Settled: the daemon has read its socket empty and re-enumerated
         * (it logs that before it starts); Devices() is answered after it
         * finished, and every signal it sent before is recorded then. */
        for (gint64 t = g_get_monotonic_time();;) {
                guint64 rmem = 0;

                (void) netlink_stats(pid, &rmem);
                log = read_log(log_path);
                if (rmem == 0 && strstr(log, "uevents were lost"))
                        break;
                if (g_get_monotonic_time() - t > 60 * G_USEC_PER_SEC)
                        g_error("60 s after SIGCONT the daemon has %" G_GUINT64_FORMAT " bytes of uevents unread "
                                "and %s re-enumerated; its log:\n%s", rmem,
                                strstr(log, "uevents were lost") ? "has" : "has not", log);
                g_clear_pointer(&log, g_free);
                vdpa_test_iterate(10);
        }
        g_clear_pointer(&log, g_free);
        after = devices_by_name_bus(bus);
        while (g_main_context_iteration(NULL, FALSE))
                ;
        drops = netlink_drops(pid);
        log = read_log(log_path);
        resyncs = count_lines(log, "uevents were lost");
        enobufs = count_lines(log, "uevent receive queue overflowed");

        /* The kernel really dropped events and said so; the daemon
         * re-enumerated at least once, and at most once per ENOBUFS, not
         * once per event. */
        g_assert_cmpuint(drops, >, 0);
        g_assert_cmpuint(enobufs, >=, 1);
        g_assert_cmpuint(resyncs, >=, 1);
        g_assert_cmpuint(resyncs, <=, enobufs);
        g_assert_cmpuint(resyncs, <, sent / 10);
        g_assert_true(vdpa_test_pid_alive(pid));
        g_assert_cmpint(vdpa_test_bus_get_name_owner_pid(bus, VDPA_BUS_NAME), ==, pid);

        /* None of those devices exists: nothing was announced. */
        g_assert_cmpuint(vdpa_test_recorder_count(rec, "DeviceAdded"), ==, 0);
        g_assert_cmpuint(vdpa_test_recorder_count(rec, "DeviceRemoved"), ==, 0);
        host_daemon_stop_assert_ok(pid, log_path);

        /* A fresh enumeration sees the same. */
        pid = host_daemon_start(bus, log_path, NULL);
        fresh = devices_by_name_bus(bus);
        assert_same_devices(after, fresh);
        host_daemon_stop_assert_ok(pid, log_path);

        g_test_message("netlink overflow: %u uevents sent in %.3f s, %" G_GUINT64_FORMAT
                       " dropped by the kernel, %u ENOBUFS seen, %u re-enumerations",
                       sent, (t_sent - t0) / 1e6, drops, enobufs, resyncs);
}

static void test_uevent_storm(Fixture *f, gconstpointer data) {
        static const char *const args[] = { "--uevent-rcvbuf=4096", NULL };
        g_autoptr(VdpaTestRecorder) rec = NULL;
        g_autoptr(GHashTable) seen = NULL, fresh = NULL;
        g_autoptr(GHashTable) added = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GHashTable) removed = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GHashTable) changed = g_hash_table_new(g_str_hash, g_str_equal);
        g_autofree char *log = NULL;
        GPtrArray *sigs;
        guint sent = 0, survivors = 0;
        gint64 t0, t_sent, t_settled;

        vdpa_test_daemon_start_or_die(f->bus, args);
        rec = vdpa_test_recorder_new(f->bus);

        /* The flag reached the socket: SO_RCVBUF(FORCE) 4096, doubled. */
        log = vdpa_test_daemon_get_log(f->bus);
        g_assert_nonnull(strstr(log, "uevent receive buffer: 8192 bytes"));
        g_clear_pointer(&log, g_free);

        t0 = g_get_monotonic_time();
        for (guint i = 0; i < STORM_DEVICES; i++) {
                g_autofree char *path = g_strdup_printf(VDPA_TESTBED_VF5 "/storm%u", i);

                vdpa_testbed_add_vdpa(f->tb, path);
                sent++;
                if (i % 10 != 0) {
                        vdpa_testbed_remove(f->tb, path);
                        sent++;
                }
        }
        for (guint i = 0; i < STORM_DEVICES; i += 10) {
                g_autofree char *path = g_strdup_printf(VDPA_TESTBED_VF5 "/storm%u", i);

                vdpa_testbed_bind_vhost(f->tb, path, STORM_FIRST_MINOR + (int) i);
                sent++;
                survivors++;
        }
        t_sent = g_get_monotonic_time();
        g_assert_cmpuint(sent, ==, STORM_EVENTS);
        g_assert_cmpuint(sent, ==, 10000);

        /* Settled: every survivor announced, and the whole storm handled.
         * The first is also true while the daemon is still at work (a
         * transient device counts too).  It handles uevents in order: once
         * it announced a sentinel added after the storm, every signal of the
         * storm is recorded.  The sentinel goes again before the counts. */
        g_assert_true(vdpa_test_recorder_wait(rec, "DeviceAdded", survivors, 120000));
        vdpa_testbed_add_vdpa(f->tb, VDPA_TESTBED_VF5 "/storm-end");
        vdpa_test_recorder_wait_device(rec, "DeviceAdded", "storm-end", 120000);
        vdpa_testbed_remove(f->tb, VDPA_TESTBED_VF5 "/storm-end");
        vdpa_test_recorder_wait_device(rec, "DeviceRemoved", "storm-end", 120000);
        seen = devices_by_name(f);
        t_settled = g_get_monotonic_time();

        /* Exactly one signal per change, never half of a pair. */
        sigs = vdpa_test_recorder_get_signals(rec);
        for (guint i = 0; i < sigs->len; i++) {
                const VdpaTestSignal *s = sigs->pdata[i];
                const char *name;

                if (g_str_equal(s->member, "PropertiesChanged"))
                        continue;
                name = signal_name(s);
                g_assert_true(g_str_has_prefix(name, "storm"));
                if (g_str_equal(s->member, "DeviceAdded")) {
                        g_assert_false(g_hash_table_contains(added, name));
                        g_hash_table_add(added, (gpointer) name);
                } else if (g_str_equal(s->member, "DeviceRemoved")) {
                        g_assert_true(g_hash_table_contains(added, name));
                        g_assert_false(g_hash_table_contains(removed, name));
                        g_hash_table_add(removed, (gpointer) name);
                } else {
                        /* The bind of a survivor the daemon saw unbound. */
                        g_assert_cmpstr(s->member, ==, "DeviceChanged");
                        g_assert_true(g_hash_table_contains(added, name));
                        g_assert_false(g_hash_table_contains(changed, name));
                        g_hash_table_add(changed, (gpointer) name);
                }
        }
        for (guint i = 0; i < STORM_DEVICES; i++) {
                g_autofree char *name = g_strdup_printf("storm%u", i);

                if (i % 10 == 0) {
                        g_assert_true(g_hash_table_contains(added, name));
                        g_assert_false(g_hash_table_contains(removed, name));
                } else {
                        g_assert_cmpint(g_hash_table_contains(added, name), ==,
                                        g_hash_table_contains(removed, name));
                        g_assert_false(g_hash_table_contains(changed, name));
                }
        }

        /* The exact inventory, bound survivors included. */
        g_assert_cmpuint(g_hash_table_size(seen), ==, HOST_DEVICES + survivors);
        for (guint i = 0; i < STORM_DEVICES; i += 10) {
                g_autofree char *name = g_strdup_printf("storm%u", i);
                g_autofree char *chardev = g_strdup_printf("/dev/vhost-vdpa-%u", STORM_FIRST_MINOR + i);
                GVariant *d = g_hash_table_lookup(seen, name);
                const char *s;

                g_assert_nonnull(d);
                g_assert_true(g_variant_lookup(d, VDPA_KEY_DRIVER, "&s", &s));
                g_assert_cmpstr(s, ==, "vhost_vdpa");
                g_assert_true(g_variant_lookup(d, VDPA_KEY_CHARDEV, "&s", &s));
                g_assert_cmpstr(s, ==, chardev);
        }

        /* umockdev delivers uevents over an AF_UNIX datagram socket: the
         * receiver's SO_RCVBUF does not bound its queue (max_dgram_qlen
         * does) and a full queue fails the SENDER (umockdev aborts), so the
         * daemon can never see ENOBUFS here.  No overflow, so no resync. */
        log = vdpa_test_daemon_get_log(f->bus);
        g_assert_cmpuint(count_lines(log, "uevents were lost"), ==, 0);
        vdpa_test_daemon_stop_assert_ok(f->bus);

        /* A fresh enumeration of the same testbed sees exactly the same. */
        vdpa_test_daemon_start_or_die(f->bus, NULL);
        fresh = devices_by_name(f);
        assert_same_devices(seen, fresh);
        vdpa_test_daemon_stop_assert_ok(f->bus);

        g_test_message("storm: %u uevents sent in %.2f s, inventory settled after %.2f s; "
                       "%u added / %u removed / %u changed signals; 0 overflows (umockdev cannot overflow)",
                       sent, (t_sent - t0) / 1e6, (t_settled - t0) / 1e6,
                       /* less the sentinel's */
                       g_hash_table_size(added) - 1, g_hash_table_size(removed) - 1, g_hash_table_size(changed));
}

/* --- the state directory is full --- */

static VdpaTestLibvirtd *libvirtd;

static void fill(const char *path) {
        g_autofree char *block = g_malloc0(4096);
        int fd;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        g_assert_cmpint(fd, >=, 0);
        for (;;) {
                ssize_t n = write(fd, block, 4096);

                if (n < 0) {
                        g_assert_cmpint(errno, ==, ENOSPC);
                        break;
                }
                g_assert_cmpint(n, >, 0);
        }
        /* Byte by byte into the last page, if any is left. */
        while (write(fd, block, 1) == 1)
                ;
        g_assert_cmpint(errno, ==, ENOSPC);
        g_assert_cmpint(close(fd), ==, 0);
}

static guint count_entries(const char *dir, const char *except) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;
        guint n = 0;

        g_assert_nonnull(d);
        while ((name = g_dir_read_name(d))) {
                if (except && g_str_equal(name, except))
                        continue;
                g_test_message("state dir entry: %s", name);
                n++;
        }
        return n;
}

static char *device_state(Fixture *f, const char *name) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = vdpa_test_call(f->bus, "GetDevice", g_variant_new("(s)", name), "(a{sv})", &error);
        g_autoptr(GVariant) d = NULL;
        char *s = NULL;

        g_assert_no_error(error);
        d = g_variant_get_child_value(r, 0);
        g_assert_true(g_variant_lookup(d, VDPA_KEY_STATE, "s", &s));
        return s;
}

static guint count_vdpa(const char *xml) {
        guint n = 0;

        for (const char *p = xml; (p = strstr(p, "type='vdpa'")); p++)
                n++;
        return n;
}

/* A 16 KiB tmpfs at TMP/NAME as the daemon's state directory, a shut-off
 * domain DOM, and the daemon started on them, connected to libvirt.
 * Returns the directory; unmount it with umount2(MNT_DETACH). */
static char *start_on_tiny_state_dir(Fixture *f, const char *name, const char *dom) {
        const char *uri = vdpa_test_libvirtd_get_uri(libvirtd);
        char *dir = g_build_filename(vdpa_test_bus_get_tmpdir(f->bus), name, NULL);
        g_autofree char *dir_arg = g_strdup_printf("--state-dir=%s", dir);
        g_autofree char *uri_arg = g_strdup_printf("--libvirt-uri=%s", uri);
        const char *const args[] = { dir_arg, uri_arg, NULL };
        g_autoptr(GError) e = NULL;

        g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
        g_assert_cmpint(mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=16k,mode=0700"), ==, 0);
        g_assert_true(vdpa_test_define_domain(uri, dom, FALSE, &e));
        g_assert_no_error(e);

        vdpa_test_daemon_start_or_die(f->bus, args);
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 10000);
        return dir;
}

static void test_state_dir_full(Fixture *f, gconstpointer data) {
        const char *uri = vdpa_test_libvirtd_get_uri(libvirtd);
        g_autoptr(VdpaTestPolkit) polkit = vdpa_test_polkit_start_or_die(f->bus, GRANT_ADMIN_RULE);
        g_autofree char *dom = vdpa_test_domain_name_new();
        g_autofree char *dir = start_on_tiny_state_dir(f, "tiny-state", dom);
        g_autofree char *filler = g_build_filename(dir, "filler", NULL);
        g_autofree char *state = g_build_filename(dir, "claims", NULL);
        g_autofree char *xml = NULL, *st = NULL;
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = NULL;

        fill(filler);
        r = vdpa_test_call(f->bus, "Claim", g_variant_new("(ssa{sv})", "vdpa0", dom, NULL), "(ss)", &e);
        g_assert_null(r);
        vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.IOError");
        g_test_message("Claim on a full state dir: %s", e->message);
        g_assert_nonnull(strstr(e->message, state));
        g_clear_error(&e);

        /* Nothing half-done: not in libvirt, not claimed, no temporary file
         * (nor a state file) beside the filler. */
        xml = vdpa_test_domain_xml(uri, dom, TRUE, &e);
        g_assert_no_error(e);
        g_assert_cmpuint(count_vdpa(xml), ==, 0);
        st = device_state(f, "vdpa0");
        g_assert_cmpstr(st, ==, "available");
        g_assert_cmpuint(count_entries(dir, "filler"), ==, 0);

        /* Space again: the same claim goes through. */
        g_assert_cmpint(g_unlink(filler), ==, 0);
        r = vdpa_test_call(f->bus, "Claim", g_variant_new("(ssa{sv})", "vdpa0", dom, NULL), "(ss)", &e);
        g_assert_no_error(e);
        g_assert_nonnull(r);
        g_clear_pointer(&xml, g_free);
        xml = vdpa_test_domain_xml(uri, dom, TRUE, &e);
        g_assert_no_error(e);
        g_assert_cmpuint(count_vdpa(xml), ==, 1);
        g_clear_pointer(&st, g_free);
        st = device_state(f, "vdpa0");
        g_assert_cmpstr(st, ==, "claimed");
        g_assert_true(g_file_test(state, G_FILE_TEST_IS_REGULAR));
        g_assert_cmpuint(count_entries(dir, "claims"), ==, 0);

        g_clear_pointer(&r, g_variant_unref);
        r = vdpa_test_call(f->bus, "Release", g_variant_new("(sa{sv})", "vdpa0", NULL), "()", &e);
        g_assert_no_error(e);

        vdpa_test_daemon_stop_assert_ok(f->bus);
        /* polkitd lives on the bus: stop it before the fixture frees it. */
        g_clear_pointer(&polkit, vdpa_test_polkit_stop);
        vdpa_test_undefine_domain(uri, dom, NULL);
        g_assert_cmpint(umount2(dir, MNT_DETACH), ==, 0);
}

/* Room for the intent but not for the claim: with one page left, the
 * intent (the first state file) fits, the claim after the attach does not
 * (its temporary file and the intent need two pages at once).  The attach
 * is rolled back before the caller hears IOError, and the record of the
 * roll-back (an empty state) fits again. */
static void test_state_dir_full_at_commit(Fixture *f, gconstpointer data) {
        const char *uri = vdpa_test_libvirtd_get_uri(libvirtd);
        g_autoptr(VdpaTestPolkit) polkit = vdpa_test_polkit_start_or_die(f->bus, GRANT_ADMIN_RULE);
        g_autofree char *dom = vdpa_test_domain_name_new();
        g_autofree char *dir = start_on_tiny_state_dir(f, "tiny-state-2", dom);
        g_autofree char *filler = g_build_filename(dir, "filler", NULL);
        g_autofree char *state = g_build_filename(dir, "claims", NULL);
        g_autofree char *xml = NULL, *st = NULL, *log = NULL, *contents = NULL;
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = NULL;
        struct stat sb;

        g_assert_false(g_file_test(state, G_FILE_TEST_EXISTS));

        /* Full, then exactly one page free again. */
        fill(filler);
        g_assert_cmpint(stat(filler, &sb), ==, 0);
        g_assert_cmpint(truncate(filler, ((sb.st_size + 4095) / 4096 - 1) * 4096), ==, 0);

        r = vdpa_test_call(f->bus, "Claim", g_variant_new("(ssa{sv})", "vdpa0", dom, NULL), "(ss)", &e);
        g_assert_null(r);
        vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.IOError");
        g_assert_nonnull(strstr(e->message, state));
        g_clear_error(&e);

        /* It was the claim after the attach that failed, and the attach was
         * undone before the answer. */
        log = vdpa_test_daemon_get_log(f->bus);
        g_assert_nonnull(strstr(log, "Rolled back the failed claim of vdpa0"));
        xml = vdpa_test_domain_xml(uri, dom, TRUE, &e);
        g_assert_no_error(e);
        g_assert_cmpuint(count_vdpa(xml), ==, 0);
        st = device_state(f, "vdpa0");
        g_assert_cmpstr(st, ==, "available");
        g_assert_true(g_file_get_contents(state, &contents, NULL, NULL));
        g_assert_null(strstr(contents, "Device="));
        g_assert_cmpuint(count_entries(dir, "filler"), ==, 1);      /* the state file, no temporary */

        vdpa_test_daemon_stop_assert_ok(f->bus);
        g_clear_pointer(&polkit, vdpa_test_polkit_stop);
        vdpa_test_undefine_domain(uri, dom, NULL);
        g_assert_cmpint(umount2(dir, MNT_DETACH), ==, 0);
}

/* Mounts made by the tests stay in a mount namespace of this process. */
static void private_mount_namespace(void) {
        g_assert_cmpint(unshare(CLONE_NEWNS), ==, 0);
        g_assert_cmpint(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), ==, 0);
}

#define ADD(path, func) \
        g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int main(int argc, char *argv[]) {
        int r;

        vdpa_testbed_isolate_uevent_queue();
        /* This network namespace is ours: let the datagram queue hold the
         * whole storm, so that umockdev's sender never finds it full (it
         * aborts then) however far the daemon lags. */
        {
                int fd = open("/proc/sys/net/unix/max_dgram_qlen", O_WRONLY | O_CLOEXEC);

                g_assert_cmpint(fd, >=, 0);
                g_assert_cmpint(write(fd, "16384", 5), ==, 5);
                g_assert_cmpint(close(fd), ==, 0);
        }
        private_mount_namespace();
        g_test_init(&argc, &argv, NULL);
        libvirtd = vdpa_test_libvirtd_start_or_die();

        /* First, before any testbed set UMOCKDEV_DIR. */
        g_test_add_func("/faults/uevent-overflow-netlink", test_uevent_overflow_netlink);
        ADD("/faults/uevent-storm", test_uevent_storm);
        ADD("/faults/state-dir-full", test_state_dir_full);
        ADD("/faults/state-dir-full-at-commit", test_state_dir_full_at_commit);

        r = g_test_run();
        vdpa_test_libvirtd_stop(libvirtd);
        return r;
}
