/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Cockpit page (cockpit/, issue 15) in a real browser, served by real
 * Cockpit: Debian's cockpit-ws and cockpit-bridge, headless Chromium
 * driven by playwright-core (tests/browser/cockpit-page.mjs), the real
 * daemon on the harness's private system bus, the real polkitd with a
 * rules file, a private real libvirtd with a tiny domain, and the umockdev
 * testbed of tests/data/host.umockdev with the vdpa netlink simulator.
 *
 * Nothing is installed: the page is found by cockpit-bridge through
 * XDG_DATA_DIRS=TMP/xdg:/usr/share, where TMP/xdg/cockpit/vdpa is a
 * symlink to $srcdir/cockpit (the unprivileged bridge reads a copy, see
 * fixture_setup()).  Two cockpit-ws, each bound to 127.0.0.1
 * on a free port with --local-session=cockpit-bridge, their bridges on the
 * private bus (DBUS_SYSTEM_BUS_ADDRESS): one as root, one as
 * VDPA_TEST_USER, whom no polkit rule grants anything.
 *
 * The browser script and this driver talk over two pipes (the script's
 * fds 3 and 4), one line per message:
 *   script -> here          here -> script
 *   hotplug                 ok NAME CHARDEV    (added, then bound to vhost_vdpa)
 *   claimed DEV DOMAIN      ok                 (libvirt and the daemon agree)
 *   released DEV DOMAIN     ok
 *   refused DEV DOMAIN      ok                 (nothing changed)
 *   done
 * Whatever this side checks fails the test here (g_error), which kills
 * the script and its browser (parent-death signal).  The script's own
 * checks make it exit non-zero, with a message naming what was pending.
 *
 * Screenshots of every step go to BUILDDIR/meson-logs/cockpit/; their
 * paths are printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <glib-unix.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "harness.h"
#include "libvirtd-harness.h"
#include "polkit-harness.h"
#include "testbed.h"
#include "vdpa-names.h"
#include "vdpa-sim.h"

#define COCKPIT_WS "/usr/lib/cockpit/cockpit-ws"
#define COCKPIT_BRIDGE "/usr/bin/cockpit-bridge"
#define CHROMIUM "/usr/bin/chromium"

/* The admin rule of the other service tests: it grants VDPA_TEST_ADMIN,
 * and so nothing to VDPA_TEST_USER, whose bridge makes the refused claim. */
#define RULES                                                                   \
        "polkit.addRule(function(action, subject) {\n"                          \
        "  if (action.id.indexOf('org.vdpa.manager.') == 0 &&\n"                \
        "      subject.user == '" VDPA_TEST_ADMIN "')\n"                        \
        "    return polkit.Result.YES;\n"                                       \
        "});\n"

/* Bounds: a message from the script (each of its steps has its own,
 * shorter bounds), cockpit-ws answering on its port, the script's exit. */
#define SCRIPT_LINE_TIMEOUT_MS (120 * 1000)
#define WS_PORT_TIMEOUT_MS (15 * 1000)
#define SCRIPT_EXIT_TIMEOUT_MS (30 * 1000)

typedef struct {
        const char *label;
        GPid pid;
        GPid session_bus;       /* its bridge's session bus, ours to stop */
        int port;
        char *log_path;
        char *url;
} CockpitWs;

typedef struct {
        UMockdevTestbed *tb;
        VdpaSim *sim;
        char *saved_preload;
        VdpaTestBus *bus;
        VdpaTestPolkit *pk;
        VdpaTestLibvirtd *lv;
        char *domain;
        char *tmp;              /* ours: 0755, readable by VDPA_TEST_USER */
        CockpitWs ws_root;
        CockpitWs ws_user;
        GPid node;
        int to_node;            /* our end of the script's fd 3 */
        int from_node;          /* our end of the script's fd 4 */
        GString *inbuf;
} Fixture;

static void child_setup(gpointer data) {
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void fail_with_log(const char *what, const char *log_path) G_GNUC_NORETURN;
static void fail_with_log(const char *what, const char *log_path) {
        g_autofree char *log = NULL;

        if (log_path)
                g_file_get_contents(log_path, &log, NULL, NULL);
        g_printerr("---- %s ----\n%s\n----\n", log_path ? log_path : "", log ? log : "");
        g_error("%s", what);
}

/* The environment of what runs outside the testbed: cockpit-ws and its
 * bridge, node and its Chromium.  No umockdev or simulator preload (a
 * non-root bridge must not get root's preload either), no G_DEBUG (a
 * warning of cockpit's is not this test's failure), the private bus as the
 * system bus, the page found through XDG_DATA_DIRS, /etc/cockpit not read
 * (XDG_CONFIG_DIRS, as cockpit-desktop does). */
static char **outside_env(Fixture *f, const char *home, const char *data_dir) {
        char **envp = g_get_environ();
        g_autofree char *data_dirs = g_strdup_printf("%s:/usr/share", data_dir);
        g_autofree char *config_dirs = g_strdup_printf("%s/etc", f->tmp);

        envp = g_environ_unsetenv(envp, "LD_PRELOAD");
        envp = g_environ_unsetenv(envp, "UMOCKDEV_DIR");
        envp = g_environ_unsetenv(envp, "G_DEBUG");
        envp = g_environ_unsetenv(envp, "LC_ALL");
        envp = g_environ_unsetenv(envp, "XDG_RUNTIME_DIR");
        envp = g_environ_unsetenv(envp, "DBUS_SESSION_BUS_ADDRESS");
        envp = g_environ_setenv(envp, "LANG", "C.UTF-8", TRUE);
        envp = g_environ_setenv(envp, "DBUS_SYSTEM_BUS_ADDRESS", vdpa_test_bus_get_address(f->bus), TRUE);
        envp = g_environ_setenv(envp, "XDG_DATA_DIRS", data_dirs, TRUE);
        envp = g_environ_setenv(envp, "XDG_CONFIG_DIRS", config_dirs, TRUE);
        envp = g_environ_setenv(envp, "HOME", home, TRUE);
        envp = g_environ_setenv(envp, "XDG_CACHE_HOME", home, TRUE);
        return envp;
}

/* A port on 127.0.0.1 that nothing listens on right now.  cockpit-ws may
 * still lose it to someone else before it binds: ws_start() then tries
 * another. */
static int free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &a, sizeof(a)), ==, 0);
        g_assert_cmpint(getsockname(fd, (struct sockaddr *) &a, &len), ==, 0);
        close(fd);
        return ntohs(a.sin_port);
}

static gboolean port_answers(int port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                 .sin_port = htons(port) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        gboolean ok;

        g_assert_cmpint(fd, >=, 0);
        ok = connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0;
        close(fd);
        return ok;
}

/* Reaps PID if it has exited; TRUE then. */
static gboolean reaped(GPid pid, int *ret_status) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid || (r < 0 && errno == ECHILD)) {
                if (ret_status)
                        *ret_status = r == pid ? status : -1;
                return TRUE;
        }
        return FALSE;
}

/* Waits for the child PID to exit (bounded), SIGKILL after TIMEOUT_MS.
 * Returns its wait status, -1 when it had to be killed (or someone else
 * reaped it). */
static int wait_child(GPid pid, guint timeout_ms) {
        int status = 0;
        int r = vdpa_test_wait_child(pid, timeout_ms, &status);

        if (r == 0)
                return status;
        if (r == -ETIMEDOUT) {
                kill(pid, SIGKILL);
                (void) vdpa_test_wait_child(pid, 5000, NULL);
        }
        return -1;
}

/* A session bus of the bridge's user for the bridge: without one, the
 * bridge autolaunches a forking dbus-daemon that outlives the test. */
static void session_bus_start(Fixture *f, CockpitWs *ws, const char *home, uid_t uid, gid_t gid,
                              char ***envp) {
        g_autofree char *listen = g_strdup_printf("--address=unix:path=%s/session-bus", home);
        g_autofree char *reuid = g_strdup_printf("--reuid=%u", (unsigned) uid);
        g_autofree char *regid = g_strdup_printf("--regid=%u", (unsigned) gid);
        g_autofree char *address = NULL;
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) argv = NULL;
        int pipe_fds[2], log_fd, target = 3;

        if (uid != 0)
                g_strv_builder_addv(b, (const char *[]) { "/usr/bin/setpriv", reuid, regid, "--clear-groups",
                                                          "--pdeathsig=KILL", "--", NULL });
        g_strv_builder_addv(b, (const char *[]) { "/usr/bin/dbus-daemon", "--session", "--nofork", "--nopidfile",
                                                  listen, "--print-address=3", NULL });
        argv = g_strv_builder_end(b);
        log_fd = open(ws->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        g_assert_cmpint(log_fd, >=, 0);
        g_assert_true(g_unix_open_pipe(pipe_fds, FD_CLOEXEC, &error));
        g_assert_no_error(error);
        vdpa_test_spawn((const char *const *) argv, (const char *const *) *envp, G_SPAWN_DEFAULT, child_setup,
                        NULL, log_fd, &pipe_fds[1], &target, 1, &ws->session_bus, &error);
        g_assert_no_error(error);
        close(pipe_fds[1]);
        close(log_fd);
        /* Printed once it listens. */
        if (!vdpa_test_read_bus_address(pipe_fds[0], WS_PORT_TIMEOUT_MS, &address, &error))
                fail_with_log(error->message, ws->log_path);
        close(pipe_fds[0]);
        *envp = g_environ_setenv(*envp, "DBUS_SESSION_BUS_ADDRESS", address, TRUE);
}

static void ws_start(Fixture *f, CockpitWs *ws, const char *label, uid_t uid, gid_t gid,
                     const char *data_dir) {
        g_autofree char *home = g_build_filename(f->tmp, label, NULL);
        g_auto(GStrv) envp = outside_env(f, home, data_dir);

        ws->label = label;
        ws->log_path = g_strdup_printf("%s/cockpit-ws-%s.log", f->tmp, label);
        g_assert_cmpint(g_mkdir_with_parents(home, 0700), ==, 0);
        if (uid != 0)
                g_assert_cmpint(chown(home, uid, gid), ==, 0);
        session_bus_start(f, ws, home, uid, gid, &envp);

        for (int attempt = 1;; attempt++) {
                g_autoptr(GStrvBuilder) b = g_strv_builder_new();
                g_autoptr(GError) error = NULL;
                g_auto(GStrv) argv = NULL;
                g_autofree char *reuid = g_strdup_printf("--reuid=%u", (unsigned) uid);
                g_autofree char *regid = g_strdup_printf("--regid=%u", (unsigned) gid);
                g_autofree char *port_arg = NULL;
                gint64 deadline;
                int log_fd;

                ws->port = free_port();
                port_arg = g_strdup_printf("--port=%d", ws->port);
                if (uid != 0)
                        g_strv_builder_addv(b, (const char *[]) { "/usr/bin/setpriv", reuid, regid, "--clear-groups",
                                                                  "--pdeathsig=KILL", "--", NULL });
                g_strv_builder_addv(b, (const char *[]) { COCKPIT_WS, "--no-tls",
                                                          "--local-session=" COCKPIT_BRIDGE,
                                                          "--address=127.0.0.1", port_arg, NULL });
                argv = g_strv_builder_end(b);

                log_fd = open(ws->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                g_assert_cmpint(log_fd, >=, 0);
                vdpa_test_spawn((const char *const *) argv, (const char *const *) envp,
                                G_SPAWN_DEFAULT, child_setup, NULL, log_fd, NULL, NULL, 0, &ws->pid, &error);
                g_assert_no_error(error);
                close(log_fd);

                deadline = g_get_monotonic_time() + WS_PORT_TIMEOUT_MS * 1000;
                while (!port_answers(ws->port)) {
                        if (reaped(ws->pid, NULL)) {
                                ws->pid = 0;
                                break;
                        }
                        if (g_get_monotonic_time() > deadline) {
                                g_autofree char *msg = g_strdup_printf(
                                        "cockpit-ws (%s) did not answer on 127.0.0.1:%d within %d s",
                                        label, ws->port, WS_PORT_TIMEOUT_MS / 1000);
                                fail_with_log(msg, ws->log_path);
                        }
                        g_usleep(20 * 1000);
                }
                if (ws->pid)
                        break;
                /* It exited: most likely the port was taken meanwhile. */
                if (attempt == 3)
                        fail_with_log("cockpit-ws exited before it answered, three times", ws->log_path);
        }
        ws->url = g_strdup_printf("http://127.0.0.1:%d/cockpit/@localhost/vdpa/index.html", ws->port);
        g_printerr("# cockpit-ws (%s, pid %d, packages from %s): %s\n", label, (int) ws->pid, data_dir, ws->url);
}

/* The processes whose parent is PID (cockpit-ws's bridge). */
static GArray *children_of(GPid pid) {
        GArray *pids = g_array_new(FALSE, FALSE, sizeof(GPid));
        g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
                GPid p = (GPid) g_ascii_strtoll(name, NULL, 10);

                if (p > 0 && vdpa_test_pid_parent(p) == pid)
                        g_array_append_val(pids, p);
        }
        return pids;
}

/* SIGTERM to cockpit-ws; its bridge exits when ws goes.  Both are reaped
 * here (the test process is a child subreaper: the bridge becomes ours). */
static void ws_stop(CockpitWs *ws) {
        g_autoptr(GArray) bridges = NULL;

        if (ws->pid > 0) {
                bridges = children_of(ws->pid);
                kill(ws->pid, SIGTERM);
                if (wait_child(ws->pid, 10 * 1000) == -1)
                        g_printerr("# cockpit-ws (%s) had to be killed\n", ws->label);
                for (guint i = 0; i < bridges->len; i++) {
                        GPid b = g_array_index(bridges, GPid, i);

                        if (!vdpa_test_wait_gone(b, 10 * 1000))
                                g_printerr("# cockpit-bridge %d outlived cockpit-ws (%s): killed\n", (int) b, ws->label);
                }
        }
        ws->pid = 0;
        if (ws->session_bus > 0) {
                kill(ws->session_bus, SIGTERM);
                if (wait_child(ws->session_bus, 10 * 1000) == -1)
                        g_printerr("# the session bus of cockpit-ws (%s) had to be killed\n", ws->label);
                ws->session_bus = 0;
        }
        g_clear_pointer(&ws->log_path, g_free);
        g_clear_pointer(&ws->url, g_free);
}

/* --- the script's line protocol --- */

static void send_line(Fixture *f, const char *line) {
        g_autofree char *s = g_strconcat(line, "\n", NULL);
        size_t n = strlen(s), done = 0;

        while (done < n) {
                ssize_t w = write(f->to_node, s + done, n - done);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        g_error("writing to the browser script: %s", g_strerror(errno));
                done += w;
        }
}

/* The next line from the script, NULL when it closed its end or exited. */
static char *read_line(Fixture *f) {
        gint64 deadline = g_get_monotonic_time() + SCRIPT_LINE_TIMEOUT_MS * (gint64) 1000;

        for (;;) {
                char *nl = memchr(f->inbuf->str, '\n', f->inbuf->len);
                struct pollfd p = { .fd = f->from_node, .events = POLLIN };
                char buf[4096];
                ssize_t r;
                int pr;

                if (nl) {
                        char *line = g_strndup(f->inbuf->str, nl - f->inbuf->str);

                        g_string_erase(f->inbuf, 0, nl - f->inbuf->str + 1);
                        return line;
                }
                if (g_get_monotonic_time() > deadline)
                        g_error("the browser script sent nothing for %d s", SCRIPT_LINE_TIMEOUT_MS / 1000);
                pr = poll(&p, 1, 200);
                if (pr < 0 && errno == EINTR)
                        continue;
                g_assert_cmpint(pr, >=, 0);
                if (pr == 0) {
                        /* Its Chromium may hold the pipe open after it died. */
                        if (!vdpa_test_pid_alive(f->node))
                                return NULL;
                        continue;
                }
                r = read(f->from_node, buf, sizeof(buf));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return NULL;
                g_string_append_len(f->inbuf, buf, r);
        }
}

/* --- what the daemon and libvirt say --- */

static char *variant_to_json(GVariant *v) {
        g_autoptr(JsonNode) n = json_gvariant_serialize(v);

        return json_to_string(n, FALSE);
}

static GVariant *device_dict(Fixture *f, const char *name) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = vdpa_test_call(f->bus, "GetDevice", g_variant_new("(s)", name), "(a{sv})", &error);

        g_assert_no_error(error);
        return g_variant_get_child_value(r, 0);
}

static char *device_string(Fixture *f, const char *name, const char *key) {
        g_autoptr(GVariant) d = device_dict(f, name);
        char *s = NULL;

        g_assert_true(g_variant_lookup(d, key, "s", &s));
        return s;
}

static guint count_vdpa(const char *xml) {
        guint n = 0;

        for (const char *p = xml; (p = strstr(p, "type='vdpa'")); p++)
                n++;
        return n;
}

static char *domain_xml(Fixture *f) {
        g_autoptr(GError) error = NULL;
        char *xml = vdpa_test_domain_xml(vdpa_test_libvirtd_get_uri(f->lv), f->domain, TRUE, &error);

        g_assert_no_error(error);
        return xml;
}

/* "hotplug": a vDPA device appears on the fixture's free VF, unbound
 * (DeviceAdded, unusable), then is bound to vhost_vdpa (DeviceChanged,
 * available), as "vdpa dev add" and the driver core make it. */
static void do_hotplug(Fixture *f) {
        const char *path = VDPA_TESTBED_VF5 "/vdpa9";
        int minor = vdpa_testbed_free_vhost_minor(f->tb);
        g_autofree char *reply = g_strdup_printf("ok vdpa9 /dev/vhost-vdpa-%d", minor);

        vdpa_testbed_add_vdpa(f->tb, path);
        vdpa_testbed_bind_vhost(f->tb, path, minor);
        send_line(f, reply);
}

static void check_claimed(Fixture *f, const char *dev, const char *domain) {
        g_autofree char *state = device_string(f, dev, VDPA_KEY_STATE);
        g_autofree char *dom = device_string(f, dev, VDPA_KEY_DOMAIN);
        g_autofree char *chardev = device_string(f, dev, VDPA_KEY_CHARDEV);
        g_autofree char *source = g_strdup_printf("<source dev='%s'/>", chardev);
        g_autofree char *xml = domain_xml(f);

        g_assert_cmpstr(domain, ==, f->domain);
        g_assert_cmpstr(state, ==, "claimed");
        g_assert_cmpstr(dom, ==, f->domain);
        if (count_vdpa(xml) != 1 || !strstr(xml, source))
                g_error("after the claim through the page, libvirt's definition of %s has no (or more than one) "
                        "interface with %s:\n%s", f->domain, source, xml);
        g_printerr("# libvirt: %s has <interface type='vdpa'> with %s\n", f->domain, source);
}

static void check_unclaimed(Fixture *f, const char *dev, const char *what) {
        g_autofree char *state = device_string(f, dev, VDPA_KEY_STATE);
        g_autofree char *xml = domain_xml(f);

        g_assert_cmpstr(state, ==, "available");
        if (count_vdpa(xml) != 0)
                g_error("after %s, libvirt's definition of %s still has a vdpa interface:\n%s", what, f->domain, xml);
        g_printerr("# libvirt: %s has no vdpa interface (%s)\n", f->domain, what);
}

/* --- the fixture --- */

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autofree char *preload = NULL;
        g_autofree char *link_dir = NULL, *link = NULL, *page_dir = NULL, *manifest = NULL;
        g_autofree char *uri_arg = NULL;
        const char *srcdir = g_getenv("VDPA_TEST_SRCDIR");

        g_assert_nonnull(srcdir);
        f->to_node = f->from_node = -1;
        f->inbuf = g_string_new(NULL);

        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        vdpa_testbed_add_vdpa_bus(f->tb);
        /* The management devices (#vdpa-mgmtdevs) come from the kernel's
         * vdpa netlink family: the simulator's, reached by the daemon
         * through the preload it inherits. */
        f->sim = vdpa_sim_start(f->tb, &error);
        g_assert_no_error(error);
        f->saved_preload = g_strdup(g_getenv("LD_PRELOAD"));
        preload = vdpa_sim_preload_env();
        g_setenv("LD_PRELOAD", preload, TRUE);
        f->bus = vdpa_test_bus_new_or_die();
        f->pk = vdpa_test_polkit_start_or_die(f->bus, RULES);
        f->lv = vdpa_test_libvirtd_start_or_die();
        f->domain = vdpa_test_domain_name_new();
        g_assert_true(vdpa_test_define_domain(vdpa_test_libvirtd_get_uri(f->lv), f->domain, FALSE, &error));
        g_assert_no_error(error);

        uri_arg = g_strdup_printf("--libvirt-uri=%s", vdpa_test_libvirtd_get_uri(f->lv));
        vdpa_test_daemon_start_or_die(f->bus, (const char *const[]) { uri_arg, NULL });
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 10000);

        /* The page, where cockpit-bridge looks: TMP/xdg/cockpit/vdpa ->
         * $srcdir/cockpit, for root's bridge.  VDPA_TEST_USER's bridge gets
         * a copy in TMP/xdg-user/cockpit/vdpa: a checkout under a directory
         * closed to other users (a home, CI's folder) would hide the page
         * from it, and the refused claim must fail on polkit, not on a 404. */
        f->tmp = g_dir_make_tmp("vdpa-cockpit-XXXXXX", &error);
        g_assert_no_error(error);
        g_assert_cmpint(chmod(f->tmp, 0755), ==, 0);
        page_dir = g_build_filename(srcdir, "cockpit", NULL);
        manifest = g_build_filename(page_dir, "manifest.json", NULL);
        if (!g_file_test(manifest, G_FILE_TEST_EXISTS))
                g_error("%s is missing: the Cockpit package 'vdpa' is not there", manifest);
        link_dir = g_build_filename(f->tmp, "xdg", "cockpit", NULL);
        g_assert_cmpint(g_mkdir_with_parents(link_dir, 0755), ==, 0);
        link = g_build_filename(link_dir, "vdpa", NULL);
        g_assert_cmpint(symlink(page_dir, link), ==, 0);
        {
                g_autofree char *etc = g_build_filename(f->tmp, "etc", NULL);
                g_autofree char *user_dir = g_build_filename(f->tmp, "xdg-user", "cockpit", NULL);
                g_autofree char *copy = g_build_filename(user_dir, "vdpa", NULL);
                g_autofree char *err = NULL;
                int status;

                g_assert_cmpint(g_mkdir_with_parents(etc, 0755), ==, 0);
                g_assert_cmpint(g_mkdir_with_parents(user_dir, 0755), ==, 0);
                g_spawn_sync(NULL, (char *[]) { "/bin/cp", "-R", "--no-preserve=mode,ownership", page_dir, copy, NULL },
                             NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err, &status, &error);
                g_assert_no_error(error);
                if (!g_spawn_check_wait_status(status, NULL))
                        g_error("cp -R %s %s failed: %s", page_dir, copy, err);
        }
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        if (f->node > 0) {
                kill(f->node, SIGKILL);
                (void) waitpid(f->node, NULL, 0);
        }
        if (f->to_node >= 0)
                close(f->to_node);
        if (f->from_node >= 0)
                close(f->from_node);
        g_string_free(f->inbuf, TRUE);
        ws_stop(&f->ws_user);
        ws_stop(&f->ws_root);
        if (f->lv && f->domain)
                vdpa_test_undefine_domain(vdpa_test_libvirtd_get_uri(f->lv), f->domain, NULL);
        g_clear_pointer(&f->pk, vdpa_test_polkit_stop);
        g_clear_pointer(&f->bus, vdpa_test_bus_free);
        g_clear_pointer(&f->lv, vdpa_test_libvirtd_stop);
        g_clear_pointer(&f->sim, vdpa_sim_stop);
        if (f->saved_preload)
                g_setenv("LD_PRELOAD", f->saved_preload, TRUE);
        g_clear_pointer(&f->saved_preload, g_free);
        g_clear_object(&f->tb);
        if (f->tmp) {
                g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->tmp);
                g_assert_cmpint(system(cmd), ==, 0);
        }
        g_clear_pointer(&f->tmp, g_free);
        g_clear_pointer(&f->domain, g_free);
}

/* BUILDDIR/meson-logs/cockpit, emptied. */
static char *screenshot_dir(void) {
        const char *builddir = g_getenv("VDPA_TEST_BUILDDIR");
        char *dir = g_build_filename(builddir ? builddir : ".", "meson-logs", "cockpit", NULL);
        g_autoptr(GDir) d = NULL;
        const char *name;

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        d = g_dir_open(dir, 0, NULL);
        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(dir, name, NULL);

                if (g_str_has_suffix(name, ".png"))
                        g_unlink(p);
        }
        return dir;
}

static void test_page(Fixture *f, gconstpointer data) {
        const char *srcdir = g_getenv("VDPA_TEST_SRCDIR");
        g_autofree char *script = g_build_filename(srcdir, "tests", "browser", "cockpit-page.mjs", NULL);
        g_autofree char *playwright = g_build_filename(srcdir, "tests", "browser", "node_modules", "playwright-core",
                                                      "package.json", NULL);
        g_autofree char *shots = screenshot_dir();
        g_autofree char *devices_json = NULL, *mgmt_json = NULL, *version = NULL, *migration = NULL;
        g_autofree char *node_home = NULL;
        g_autoptr(GVariant) devices = NULL, mgmtdevs = NULL, v = NULL;
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) envp = NULL;
        uid_t uid;
        gid_t gid;
        int to_node[2], from_node[2], status;
        gint64 t0;

        if (!g_file_test(COCKPIT_WS, G_FILE_TEST_IS_EXECUTABLE) || !g_file_test(COCKPIT_BRIDGE, G_FILE_TEST_IS_EXECUTABLE))
                g_error("%s or %s is missing (Debian packages cockpit-ws, cockpit-bridge): run tools/install-deps",
                        COCKPIT_WS, COCKPIT_BRIDGE);
        if (!g_file_test(CHROMIUM, G_FILE_TEST_IS_EXECUTABLE))
                g_error("%s is missing (Debian package chromium): run tools/install-deps", CHROMIUM);
        if (!g_file_test(playwright, G_FILE_TEST_EXISTS))
                g_error("%s is missing: run tools/install-deps (npm ci in tests/browser)", playwright);

        vdpa_test_user_ensure_or_die(VDPA_TEST_USER, &uid, &gid);

        /* What the page must show: the daemon's own answers. */
        v = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);
        devices = g_variant_get_child_value(v, 0);
        devices_json = variant_to_json(devices);
        g_clear_pointer(&v, g_variant_unref);
        v = vdpa_test_call(f->bus, "ManagementDevices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);
        mgmtdevs = g_variant_get_child_value(v, 0);
        mgmt_json = variant_to_json(mgmtdevs);
        g_clear_pointer(&v, g_variant_unref);
        v = vdpa_test_get_property(f->bus, "Version", &error);
        g_assert_no_error(error);
        version = g_variant_dup_string(v, NULL);
        g_clear_pointer(&v, g_variant_unref);
        v = vdpa_test_get_property(f->bus, "LiveMigration", &error);
        g_assert_no_error(error);
        migration = g_variant_dup_string(v, NULL);

        {
                g_autofree char *root_data = g_build_filename(f->tmp, "xdg", NULL);
                g_autofree char *user_data = g_build_filename(f->tmp, "xdg-user", NULL);

                ws_start(f, &f->ws_root, "root", 0, 0, root_data);
                ws_start(f, &f->ws_user, "user", uid, gid, user_data);
        }

        node_home = g_build_filename(f->tmp, "node", NULL);
        g_assert_cmpint(g_mkdir_with_parents(node_home, 0700), ==, 0);
        {
                g_autofree char *root_data = g_build_filename(f->tmp, "xdg", NULL);
                envp = outside_env(f, node_home, root_data);
        }
        envp = g_environ_setenv(envp, "VDPA_COCKPIT_URL", f->ws_root.url, TRUE);
        envp = g_environ_setenv(envp, "VDPA_COCKPIT_URL_DENIED", f->ws_user.url, TRUE);
        envp = g_environ_setenv(envp, "VDPA_COCKPIT_DEVICES", devices_json, TRUE);
        envp = g_environ_setenv(envp, "VDPA_COCKPIT_MGMTDEVS", mgmt_json, TRUE);
        envp = g_environ_setenv(envp, "VDPA_COCKPIT_VERSION", version, TRUE);
        envp = g_environ_setenv(envp, "VDPA_COCKPIT_LIVE_MIGRATION", migration, TRUE);
        envp = g_environ_setenv(envp, "VDPA_COCKPIT_DOMAIN", f->domain, TRUE);
        envp = g_environ_setenv(envp, "VDPA_COCKPIT_CLAIM_DEVICE", "vdpa0", TRUE);
        envp = g_environ_setenv(envp, "VDPA_COCKPIT_SHOTS", shots, TRUE);
        envp = g_environ_setenv(envp, "VDPA_COCKPIT_TMP", f->tmp, TRUE);
        envp = g_environ_setenv(envp, "VDPA_COCKPIT_CHROMIUM", CHROMIUM, TRUE);

        g_assert_true(g_unix_open_pipe(to_node, FD_CLOEXEC, &error));
        g_assert_no_error(error);
        g_assert_true(g_unix_open_pipe(from_node, FD_CLOEXEC, &error));
        g_assert_no_error(error);
        {
                const char *argv[] = { "node", script, NULL };
                const int source[] = { to_node[0], from_node[1] };
                const int target[] = { 3, 4 };

                /* Its output goes to ours; GLib wants an fd of its own for that. */
                int out = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 10);

                g_assert_cmpint(out, >=, 0);
                vdpa_test_spawn(argv, (const char *const *) envp, G_SPAWN_SEARCH_PATH_FROM_ENVP,
                                child_setup, NULL, out, source, target, 2, &f->node, &error);
                g_assert_no_error(error);
                close(out);
        }
        close(to_node[0]);
        close(from_node[1]);
        f->to_node = to_node[1];
        f->from_node = from_node[0];
        t0 = g_get_monotonic_time();

        for (;;) {
                g_autofree char *line = read_line(f);
                g_auto(GStrv) w = NULL;

                if (!line)
                        break;
                g_printerr("# script: %s\n", line);
                w = g_strsplit(line, " ", -1);
                if (g_str_equal(w[0], "hotplug")) {
                        do_hotplug(f);
                } else if (g_str_equal(w[0], "claimed") && g_strv_length(w) == 3) {
                        check_claimed(f, w[1], w[2]);
                        send_line(f, "ok");
                } else if (g_str_equal(w[0], "released") && g_strv_length(w) == 3) {
                        check_unclaimed(f, w[1], "the release through the page");
                        send_line(f, "ok");
                } else if (g_str_equal(w[0], "refused") && g_strv_length(w) == 3) {
                        check_unclaimed(f, w[1], "the refused claim");
                        send_line(f, "ok");
                } else if (g_str_equal(w[0], "done")) {
                        break;
                } else {
                        g_error("the browser script sent '%s'", line);
                }
        }

        /* Nothing more to say to it. */
        close(f->to_node);
        f->to_node = -1;
        status = wait_child(f->node, SCRIPT_EXIT_TIMEOUT_MS);
        f->node = 0;
        if (status == -1)
                g_error("the browser script did not exit within %d s", SCRIPT_EXIT_TIMEOUT_MS / 1000);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                g_error("the browser script failed (wait status 0x%x): see its messages above; screenshots in %s",
                        status, shots);
        g_printerr("# browser script passed in %.1f s; screenshots in %s\n",
                   (g_get_monotonic_time() - t0) / 1e6, shots);
        g_assert_true(vdpa_test_daemon_is_running(f->bus));
}

int main(int argc, char *argv[]) {
        /* A script that died must not kill us when we answer it. */
        signal(SIGPIPE, SIG_IGN);
        g_test_init(&argc, &argv, NULL);
        g_test_add("/cockpit/page", Fixture, NULL, fixture_setup, test_page, fixture_teardown);
        return g_test_run();
}
