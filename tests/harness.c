/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "harness.h"
#include "spawn-util.h"
#include "testbed.h"
#include "vdpa-names.h"

#define DEFAULT_LIBVIRT_URI "test:///default"
#define SETPRIV "/usr/bin/setpriv"
/* units/vdpa-manager.service.in: CapabilityBoundingSet=CAP_NET_ADMIN */
#define UNIT_BOUNDING_SET "-all,+net_admin"
#define BUS_TIMEOUT_MS 5000
#define MAX_LIVE_BUSES 8

struct VdpaTestBus {
        char *tmpdir;
        char *conf_path;
        char *policy_dir;
        char *service_dir;
        char *state_dir;
        char *config_path;
        char *bus_log;
        char *daemon_log;
        char *address;
        char *umockdev_dir;     /* UMOCKDEV_DIR at creation, NULL if none */
        char *bounding_set;     /* setpriv --bounding-set= of the daemon */
        GPid bus_pid;
        GDBusConnection *connection;
        GPid daemon_pid;
        goffset daemon_log_offset;
};

/*
 * What the fatal-signal handler needs: plain pids and paths that are set
 * before a slot is published and freed only after it is cleared, so the
 * handler can read them without locks.
 */
static VdpaTestBus *volatile live_buses[MAX_LIVE_BUSES];
static gboolean fatal_handlers_installed;

static gboolean have_wrapper(void)
{
        const char *w = g_getenv("VDPA_TEST_DAEMON_WRAPPER");

        return w && *w;
}

/* Only a safety net: a start is waited for by its name on the bus.  Under
 * valgrind a daemon enumerating thousands of devices on a busy machine
 * was seen to need more than 20 s. */
static guint start_timeout_ms(void)
{
        return have_wrapper() ? 90000 : 30000;
}

static guint stop_timeout_ms(void)
{
        return have_wrapper() ? 30000 : 10000;
}

/* ---- async-signal-safe cleanup on abort ---- */

static void raw_write(int fd, const char *buf, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, buf, n);

                if (k <= 0)
                        return;
                buf += k;
                n -= (size_t) k;
        }
}

static void raw_puts(const char *s)
{
        raw_write(STDERR_FILENO, s, strlen(s));
}

static void raw_dump(const char *title, const char *path)
{
        char buf[4096];
        ssize_t n;
        int fd;

        if (!path)
                return;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        raw_puts(title);
        raw_puts(path);
        raw_puts(" ----\n");
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                raw_write(STDERR_FILENO, buf, (size_t) n);
        close(fd);
}

static void on_fatal_signal(int signum)
{
        for (size_t i = 0; i < MAX_LIVE_BUSES; i++) {
                VdpaTestBus *bus = live_buses[i];

                if (!bus)
                        continue;
                if (bus->daemon_pid > 0)
                        kill(bus->daemon_pid, SIGKILL);
                if (bus->bus_pid > 0)
                        kill(bus->bus_pid, SIGKILL);
                raw_dump("\n---- harness: daemon log ", bus->daemon_log);
                raw_dump("\n---- harness: dbus-daemon log (activated services too) ", bus->bus_log);
                raw_puts("\n---- harness: left for inspection: ");
                raw_puts(bus->tmpdir);
                raw_puts("\n");
        }
        signal(signum, SIG_DFL);
        raise(signum);
}

static void install_fatal_handlers(void)
{
        struct sigaction sa = { .sa_handler = on_fatal_signal };

        if (fatal_handlers_installed)
                return;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGABRT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        /* Orphans (a bus-activated daemon once dbus-daemon is gone) come to
         * us rather than to a PID 1 that never reaps them. */
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);
        fatal_handlers_installed = TRUE;
}

static gboolean register_bus(VdpaTestBus *bus)
{
        for (size_t i = 0; i < MAX_LIVE_BUSES; i++)
                if (!live_buses[i]) {
                        live_buses[i] = bus;
                        return TRUE;
                }
        return FALSE;
}

static void unregister_bus(VdpaTestBus *bus)
{
        for (size_t i = 0; i < MAX_LIVE_BUSES; i++)
                if (live_buses[i] == bus)
                        live_buses[i] = NULL;
}

/* ---- processes ---- */

static void child_setup(gpointer user_data)
{
        pid_t parent = GPOINTER_TO_INT(user_data);

        /* If the test dies without cleaning up, so does the child. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(127);
}

static int status_to_code(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return -1;
}

/* Terminates our child PID: SIGTERM, then SIGKILL after TIMEOUT_MS.
 * Returns its exit code (see status_to_code()), -1 if it had to be killed. */
static int terminate_child(GPid pid, guint timeout_ms)
{
        int status = 0;

        if (kill(pid, SIGTERM) < 0 && errno == ESRCH)
                return -1;
        if (vdpa_test_wait_child(pid, timeout_ms, &status) == 0)
                return status_to_code(status);
        g_printerr("harness: pid %d did not exit within %u ms of SIGTERM, killing it\n",
                   pid, timeout_ms);
        kill(pid, SIGKILL);
        (void) vdpa_test_wait_child(pid, 5000, &status);
        return -1;
}

void vdpa_test_iterate(guint ms)
{
        GMainContext *ctx = g_main_context_get_thread_default();
        gint64 deadline = g_get_monotonic_time() + (gint64) ms * 1000;

        while (g_get_monotonic_time() < deadline) {
                while (g_main_context_iteration(ctx, FALSE))
                        ;
                g_usleep(5 * 1000);
        }
}

/* ---- files ---- */

static int rm_rf_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        if (remove(path) < 0)
                g_printerr("harness: cannot remove %s: %s\n", path, g_strerror(errno));
        return 0;
}

static void rm_rf(const char *dir)
{
        if (dir)
                (void) nftw(dir, rm_rf_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void dump_file(const char *title, const char *path, goffset offset)
{
        g_autofree char *text = NULL;
        gsize len = 0;

        if (!path || !g_file_get_contents(path, &text, &len, NULL))
                return;
        if ((gsize) offset > len)
                offset = 0;
        g_printerr("---- harness: %s (%s) ----\n%s---- end ----\n",
                   title, path, text + offset);
}

static const char *require_env(const char *name, GError **error)
{
        const char *v = g_getenv(name);

        if (!v || !*v)
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                            "%s is not set (run the test with `meson test`)", name);
        return v && *v ? v : NULL;
}

static gboolean replace_placeholders(xmlNode *node, const char *const *map, guint *replaced)
{
        for (xmlNode *n = node; n; n = n->next) {
                if (n->type != XML_ELEMENT_NODE)
                        continue;
                if (n->children && n->children->type == XML_TEXT_NODE && !n->children->next) {
                        const char *text = (const char *) n->children->content;

                        for (size_t i = 0; map[i]; i += 2) {
                                if (!g_str_equal(text, map[i]))
                                        continue;
                                /* A text node, so the value is escaped on output. */
                                xmlNodeSetContent(n, NULL);
                                xmlAddChild(n, xmlNewText(BAD_CAST map[i + 1]));
                                (*replaced)++;
                                break;
                        }
                }
                replace_placeholders(n->children, map, replaced);
        }
        return TRUE;
}

static gboolean write_bus_config(VdpaTestBus *bus, const char *srcdir, GError **error)
{
        g_autofree char *template = g_build_filename(srcdir, "tests", "private-bus.conf.in", NULL);
        g_autofree char *listen = g_strdup_printf("unix:path=%s/bus", bus->tmpdir);
        const char *map[] = {
                "@LISTEN@", listen,
                "@SERVICE_DIR@", bus->service_dir,
                "@POLICY_DIR@", bus->policy_dir,
                NULL,
        };
        guint replaced = 0;
        xmlDoc *doc;
        int r;

        doc = xmlReadFile(template, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
        if (!doc) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot parse %s", template);
                return FALSE;
        }
        replace_placeholders(xmlDocGetRootElement(doc), map, &replaced);
        r = replaced == 3 ? xmlSaveFormatFile(bus->conf_path, doc, 1) : -1;
        xmlFreeDoc(doc);
        if (r < 0) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                            "cannot write %s from %s (%u of 3 placeholders)",
                            bus->conf_path, template, replaced);
                return FALSE;
        }
        return TRUE;
}

static gboolean copy_policy(VdpaTestBus *bus, const char *srcdir, GError **error)
{
        g_autofree char *src = g_build_filename(srcdir, "policy", "org.vdpa.Manager.conf", NULL);
        g_autofree char *dst = g_build_filename(bus->policy_dir, "org.vdpa.Manager.conf", NULL);
        g_autofree char *text = NULL;
        gsize len;

        if (!g_file_get_contents(src, &text, &len, error)) {
                g_prefix_error(error, "the project's bus policy is required: ");
                return FALSE;
        }
        return g_file_set_contents(dst, text, (gssize) len, error);
}

/* ---- the bus ---- */

gboolean vdpa_test_read_bus_address(int fd, guint timeout_ms, char **out, GError **error)
{
        g_autoptr(GString) s = g_string_new(NULL);
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        while (!strchr(s->str, '\n')) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                gint64 left = (deadline - g_get_monotonic_time()) / 1000;
                char buf[256];
                ssize_t n;

                if (left <= 0 || poll(&p, 1, (int) left) == 0) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                    "dbus-daemon did not print its address");
                        return FALSE;
                }
                n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                                    "dbus-daemon exited before printing its address");
                        return FALSE;
                }
                g_string_append_len(s, buf, n);
        }
        *strchr(s->str, '\n') = '\0';
        *out = g_strdup(s->str);
        return TRUE;
}

static gboolean spawn_bus(VdpaTestBus *bus, GError **error)
{
        g_autofree char *conf_arg = g_strdup_printf("--config-file=%s", bus->conf_path);
        g_autofree char *sys_addr = g_strdup_printf("unix:path=%s/bus", bus->tmpdir);
        const char *argv[] = { "dbus-daemon", conf_arg, "--nofork", "--print-address=3", NULL };
        g_auto(GStrv) envp = g_get_environ();
        int pipe_fds[2], log_fd, target = 3;
        gboolean ok;

        /* Services it activates inherit this, for any system-bus client. */
        envp = g_environ_setenv(envp, "DBUS_SYSTEM_BUS_ADDRESS", sys_addr, TRUE);
        envp = g_environ_setenv(envp, "SYSTEMD_DEVICE_VERIFY_SYSFS", "0", TRUE);

        log_fd = open(bus->bus_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "%s: %s", bus->bus_log, g_strerror(errno));
                return FALSE;
        }
        if (!g_unix_open_pipe(pipe_fds, FD_CLOEXEC, error)) {
                close(log_fd);
                return FALSE;
        }
        ok = vdpa_test_spawn((const char *const *) argv, (const char *const *) envp, G_SPAWN_SEARCH_PATH,
                             child_setup, GINT_TO_POINTER(getpid()), log_fd,
                             &pipe_fds[1], &target, 1, &bus->bus_pid, error);
        close(pipe_fds[1]);
        close(log_fd);
        if (ok)
                ok = vdpa_test_read_bus_address(pipe_fds[0], BUS_TIMEOUT_MS, &bus->address, error);
        close(pipe_fds[0]);
        if (!ok)
                dump_file("dbus-daemon log", bus->bus_log, 0);
        return ok;
}

UMockdevTestbed *vdpa_test_testbed_new(const char *file, GError **error)
{
        g_autoptr(UMockdevTestbed) tb = umockdev_testbed_new();
        g_autofree char *path = NULL;

        vdpa_testbed_add_vdpa_bus(tb);
        if (!file)
                return g_steal_pointer(&tb);
        if (g_path_is_absolute(file))
                path = g_strdup(file);
        else {
                const char *data = require_env("VDPA_TEST_DATA", error);

                if (!data)
                        return NULL;
                path = g_build_filename(data, file, NULL);
        }
        if (!umockdev_testbed_add_from_file(tb, path, error)) {
                g_prefix_error(error, "%s: ", path);
                return NULL;
        }
        return g_steal_pointer(&tb);
}

VdpaTestBus *vdpa_test_bus_new(GError **error)
{
        g_autoptr(VdpaTestBus) bus = g_new0(VdpaTestBus, 1);
        const char *srcdir;

        srcdir = require_env("VDPA_TEST_SRCDIR", error);
        if (!srcdir)
                return NULL;
        install_fatal_handlers();

        bus->tmpdir = g_dir_make_tmp("vdpa-test-XXXXXX", error);
        if (!bus->tmpdir)
                return NULL;
        /* Other uids (vdpa_test_call_as_uid(), polkitd) must reach the socket. */
        if (chmod(bus->tmpdir, 0755) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "chmod %s: %s", bus->tmpdir, g_strerror(errno));
                return NULL;
        }
        bus->conf_path = g_build_filename(bus->tmpdir, "bus.conf", NULL);
        bus->policy_dir = g_build_filename(bus->tmpdir, "policy", NULL);
        bus->service_dir = g_build_filename(bus->tmpdir, "services", NULL);
        bus->state_dir = g_build_filename(bus->tmpdir, "state", NULL);
        bus->config_path = g_build_filename(bus->tmpdir, "vdpa-manager.conf", NULL);
        bus->bus_log = g_build_filename(bus->tmpdir, "bus.log", NULL);
        bus->daemon_log = g_build_filename(bus->tmpdir, "daemon.log", NULL);
        bus->umockdev_dir = g_strdup(g_getenv("UMOCKDEV_DIR"));
        bus->bounding_set = g_strdup(UNIT_BOUNDING_SET);

        if (mkdir(bus->policy_dir, 0755) < 0 || mkdir(bus->service_dir, 0755) < 0 ||
            mkdir(bus->state_dir, 0755) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "mkdir in %s: %s", bus->tmpdir, g_strerror(errno));
                return NULL;
        }
        if (!g_file_set_contents(bus->config_path, "", 0, error))
                return NULL;
        if (!copy_policy(bus, srcdir, error) || !write_bus_config(bus, srcdir, error))
                return NULL;
        if (!register_bus(bus)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES,
                            "more than %d test buses at once", MAX_LIVE_BUSES);
                return NULL;
        }
        if (!spawn_bus(bus, error))
                return NULL;
        bus->connection = vdpa_test_bus_connect(bus, error);
        if (!bus->connection)
                return NULL;
        return g_steal_pointer(&bus);
}

VdpaTestBus *vdpa_test_bus_new_or_die(void)
{
        g_autoptr(GError) error = NULL;
        VdpaTestBus *bus = vdpa_test_bus_new(&error);

        g_assert_no_error(error);
        g_assert_nonnull(bus);
        return bus;
}

GDBusConnection *vdpa_test_bus_connect(VdpaTestBus *bus, GError **error)
{
        GDBusConnection *c;

        c = g_dbus_connection_new_for_address_sync(bus->address,
                                                   G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                   NULL, NULL, error);
        if (c)
                g_dbus_connection_set_exit_on_close(c, FALSE);
        return c;
}

const char *vdpa_test_bus_get_address(VdpaTestBus *bus) { return bus->address; }
GDBusConnection *vdpa_test_bus_get_connection(VdpaTestBus *bus) { return bus->connection; }
const char *vdpa_test_bus_get_tmpdir(VdpaTestBus *bus) { return bus->tmpdir; }
const char *vdpa_test_bus_get_state_dir(VdpaTestBus *bus) { return bus->state_dir; }
const char *vdpa_test_bus_get_config_path(VdpaTestBus *bus) { return bus->config_path; }
GPid vdpa_test_bus_get_pid(VdpaTestBus *bus) { return bus->bus_pid; }
GPid vdpa_test_daemon_get_pid(VdpaTestBus *bus) { return bus->daemon_pid; }

GPid vdpa_test_bus_get_name_owner_pid(VdpaTestBus *bus, const char *name)
{
        g_autoptr(GVariant) r = NULL;
        guint32 pid = 0;

        r = g_dbus_connection_call_sync(bus->connection, "org.freedesktop.DBus",
                                        "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                        "GetConnectionUnixProcessID", g_variant_new("(s)", name),
                                        G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE,
                                        BUS_TIMEOUT_MS, NULL, NULL);
        if (r)
                g_variant_get(r, "(u)", &pid);
        return (GPid) pid;
}

void vdpa_test_bus_free(VdpaTestBus *bus)
{
        GPid activated = 0, babysitter = 0;

        if (!bus)
                return;
        if (bus->daemon_pid > 0) {
                int r = vdpa_test_daemon_stop(bus);

                if (r != 0)
                        g_printerr("harness: daemon still running at teardown exited with %d\n", r);
        }
        if (bus->connection) {
                /* A bus-activated daemon is no child of ours: remember it so it
                 * can be waited for once its bus is gone. */
                activated = vdpa_test_bus_get_name_owner_pid(bus, VDPA_BUS_NAME);
                if (activated > 0)
                        babysitter = vdpa_test_pid_parent(activated);
                g_dbus_connection_close_sync(bus->connection, NULL, NULL);
                g_clear_object(&bus->connection);
        }
        if (bus->bus_pid > 0) {
                (void) terminate_child(bus->bus_pid, BUS_TIMEOUT_MS);
                bus->bus_pid = 0;
        }
        if (activated > 0 && !vdpa_test_wait_gone(activated, stop_timeout_ms())) {
                g_printerr("harness: activated daemon %d did not exit when its bus went away\n",
                           activated);
                dump_file("dbus-daemon log (activated services too)", bus->bus_log, 0);
        }
        if (babysitter > 0 && babysitter != getpid())
                (void) vdpa_test_wait_gone(babysitter, 1000);
        unregister_bus(bus);

        if (g_getenv("VDPA_TEST_KEEP_TMPDIR"))
                g_printerr("harness: keeping %s\n", bus->tmpdir);
        else
                rm_rf(bus->tmpdir);

        g_free(bus->tmpdir);
        g_free(bus->conf_path);
        g_free(bus->policy_dir);
        g_free(bus->service_dir);
        g_free(bus->state_dir);
        g_free(bus->config_path);
        g_free(bus->bus_log);
        g_free(bus->daemon_log);
        g_free(bus->address);
        g_free(bus->umockdev_dir);
        g_free(bus->bounding_set);
        g_free(bus);
}

/* ---- the daemon ---- */

static gboolean has_option(const char *const *args, const char *opt)
{
        size_t len = strlen(opt);

        for (; args && *args; args++)
                if (g_str_has_prefix(*args, opt) && ((*args)[len] == '\0' || (*args)[len] == '='))
                        return TRUE;
        return FALSE;
}

static void strv_take(GStrvBuilder *b, char *s)
{
        g_strv_builder_add(b, s);
        g_free(s);
}

/* WRAPPER... VDPA_MANAGERD FIRST... ARGS... DEFAULTS... */
static GStrv daemon_argv(VdpaTestBus *bus, const char *const *first, const char *const *args,
                         GError **error)
{
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        const char *managerd, *wrapper = g_getenv("VDPA_TEST_DAEMON_WRAPPER");

        managerd = require_env("VDPA_MANAGERD", error);
        if (!managerd)
                return NULL;
        /* The unit's CapabilityBoundingSet= (units/vdpa-manager.service.in):
         * what the daemon lacks there it must lack here, or a test passes
         * that production fails.  Root's capabilities after exec are its
         * bounding set. */
        g_strv_builder_add(b, SETPRIV);
        strv_take(b, g_strdup_printf("--bounding-set=%s", bus->bounding_set));
        if (wrapper && *wrapper) {
                g_auto(GStrv) words = NULL;

                if (!g_shell_parse_argv(wrapper, NULL, &words, error)) {
                        g_prefix_error(error, "VDPA_TEST_DAEMON_WRAPPER: ");
                        return NULL;
                }
                /* dbus-daemon execs Exec= without a PATH search. */
                if (words[0] && !g_path_is_absolute(words[0])) {
                        char *abs = g_find_program_in_path(words[0]);

                        if (!abs) {
                                g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                            "VDPA_TEST_DAEMON_WRAPPER: %s not found", words[0]);
                                return NULL;
                        }
                        g_free(words[0]);
                        words[0] = abs;
                }
                g_strv_builder_addv(b, (const char **) words);
        }
        g_strv_builder_add(b, managerd);
        if (first)
                g_strv_builder_addv(b, (const char **) first);
        if (args)
                g_strv_builder_addv(b, (const char **) args);
        if (!has_option(args, "--state-dir"))
                strv_take(b, g_strdup_printf("--state-dir=%s", bus->state_dir));
        if (!has_option(args, "--config"))
                strv_take(b, g_strdup_printf("--config=%s", bus->config_path));
        if (!has_option(args, "--libvirt-uri"))
                g_strv_builder_add(b, "--libvirt-uri=" DEFAULT_LIBVIRT_URI);
        return g_strv_builder_end(b);
}

static gboolean check_umockdev(VdpaTestBus *bus, GError **error)
{
        const char *preload = g_getenv("LD_PRELOAD");

        if (!bus->umockdev_dir || !g_getenv("UMOCKDEV_DIR") ||
            !preload || !strstr(preload, "umockdev")) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                            "the daemon must run under umockdev: run the test under "
                            "umockdev-wrapper and create the testbed before vdpa_test_bus_new()");
                return FALSE;
        }
        return TRUE;
}

static gboolean wait_for_name(VdpaTestBus *bus, GError **error)
{
        gint64 deadline = g_get_monotonic_time() + (gint64) start_timeout_ms() * 1000;

        for (;;) {
                GPid owner;
                int status;

                if (waitpid(bus->daemon_pid, &status, WNOHANG) == bus->daemon_pid) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                                    "vdpa-managerd exited with status %d before owning %s",
                                    status_to_code(status), VDPA_BUS_NAME);
                        bus->daemon_pid = 0;
                        return FALSE;
                }
                owner = vdpa_test_bus_get_name_owner_pid(bus, VDPA_BUS_NAME);
                if (owner == bus->daemon_pid)
                        return TRUE;
                if (owner > 0) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                                    "%s is owned by pid %d, not by the daemon we started (%d)",
                                    VDPA_BUS_NAME, owner, bus->daemon_pid);
                        return FALSE;
                }
                if (g_get_monotonic_time() >= deadline) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                    "vdpa-managerd did not own %s within %u ms",
                                    VDPA_BUS_NAME, start_timeout_ms());
                        return FALSE;
                }
                g_usleep(20 * 1000);
        }
}

GPid vdpa_test_daemon_start(VdpaTestBus *bus, const char *const *extra_args, GError **error)
{
        g_autofree char *bus_arg = g_strdup_printf("--bus-address=%s", bus->address);
        const char *first[] = { bus_arg, "--verbose", NULL };
        g_auto(GStrv) argv = NULL, envp = g_get_environ();
        g_autofree char *cmdline = NULL;
        struct stat st;
        int log_fd;
        gboolean ok;

        if (bus->daemon_pid > 0) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY, "the daemon is already running");
                return 0;
        }
        if (!check_umockdev(bus, error))
                return 0;
        argv = daemon_argv(bus, first, extra_args, error);
        if (!argv)
                return 0;

        envp = g_environ_setenv(envp, "SYSTEMD_DEVICE_VERIFY_SYSFS", "0", TRUE);
        envp = g_environ_setenv(envp, "DBUS_SYSTEM_BUS_ADDRESS", bus->address, TRUE);
        envp = g_environ_unsetenv(envp, "DBUS_STARTER_ADDRESS");
        envp = g_environ_unsetenv(envp, "DBUS_STARTER_BUS_TYPE");

        log_fd = open(bus->daemon_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "%s: %s", bus->daemon_log, g_strerror(errno));
                return 0;
        }
        bus->daemon_log_offset = fstat(log_fd, &st) == 0 ? st.st_size : 0;
        cmdline = g_strjoinv(" ", argv);
        g_test_message("harness: starting %s", cmdline);

        ok = vdpa_test_spawn((const char *const *) argv, (const char *const *) envp, G_SPAWN_SEARCH_PATH,
                             child_setup, GINT_TO_POINTER(getpid()), log_fd,
                             NULL, NULL, 0, &bus->daemon_pid, error);
        close(log_fd);
        if (!ok)
                return 0;
        if (!wait_for_name(bus, error)) {
                if (bus->daemon_pid > 0) {
                        kill(bus->daemon_pid, SIGKILL);
                        (void) vdpa_test_wait_child(bus->daemon_pid, 5000, &(int){0});
                        bus->daemon_pid = 0;
                }
                dump_file("daemon log", bus->daemon_log, bus->daemon_log_offset);
                return 0;
        }
        return bus->daemon_pid;
}

GPid vdpa_test_daemon_start_or_die(VdpaTestBus *bus, const char *const *extra_args)
{
        g_autoptr(GError) error = NULL;
        GPid pid = vdpa_test_daemon_start(bus, extra_args, &error);

        g_assert_no_error(error);
        g_assert_cmpint(pid, >, 0);
        return pid;
}

static int daemon_reaped(VdpaTestBus *bus, int code, const char *how)
{
        if (code != 0) {
                g_printerr("harness: vdpa-managerd (pid %d) %s: result %d\n",
                           bus->daemon_pid, how, code);
                dump_file("daemon log", bus->daemon_log, bus->daemon_log_offset);
        }
        bus->daemon_pid = 0;
        return code;
}

int vdpa_test_daemon_stop(VdpaTestBus *bus)
{
        if (bus->daemon_pid <= 0)
                return -1;
        return daemon_reaped(bus, terminate_child(bus->daemon_pid, stop_timeout_ms()),
                             "stopped with SIGTERM");
}

void vdpa_test_daemon_stop_assert_ok(VdpaTestBus *bus)
{
        g_assert_cmpint(bus->daemon_pid, >, 0);
        g_assert_cmpint(vdpa_test_daemon_stop(bus), ==, 0);
}

int vdpa_test_daemon_kill(VdpaTestBus *bus, int signum)
{
        int status = 0;

        if (bus->daemon_pid <= 0)
                return -1;
        kill(bus->daemon_pid, signum);
        if (vdpa_test_wait_child(bus->daemon_pid, stop_timeout_ms(), &status) < 0) {
                kill(bus->daemon_pid, SIGKILL);
                (void) vdpa_test_wait_child(bus->daemon_pid, 5000, &status);
                bus->daemon_pid = 0;
                return -1;
        }
        bus->daemon_pid = 0;
        return status_to_code(status);
}

int vdpa_test_daemon_wait_exit(VdpaTestBus *bus, guint timeout_ms)
{
        int status = 0;

        if (bus->daemon_pid <= 0)
                return -1;
        if (vdpa_test_wait_child(bus->daemon_pid, timeout_ms, &status) < 0)
                return -2;
        bus->daemon_pid = 0;
        return status_to_code(status);
}

gboolean vdpa_test_daemon_is_running(VdpaTestBus *bus)
{
        int status;

        if (bus->daemon_pid <= 0)
                return FALSE;
        if (waitpid(bus->daemon_pid, &status, WNOHANG) != bus->daemon_pid)
                return TRUE;
        /* Reaped here, so report it here: nobody else can any more. */
        (void) daemon_reaped(bus, status_to_code(status), "exited on its own");
        return FALSE;
}

char *vdpa_test_daemon_get_log(VdpaTestBus *bus)
{
        g_autofree char *text = NULL;
        gsize len = 0;

        if (!g_file_get_contents(bus->daemon_log, &text, &len, NULL))
                return g_strdup("");
        if ((gsize) bus->daemon_log_offset > len)
                return g_strdup("");
        return g_strdup(text + bus->daemon_log_offset);
}

gboolean vdpa_test_bus_write_activation(VdpaTestBus *bus, const char *const *daemon_args,
                                        GError **error)
{
        const char *first[] = { "--verbose", NULL };
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GStrvBuilder) words = g_strv_builder_new();
        g_auto(GStrv) argv = NULL, quoted = NULL;
        g_autofree char *exec = NULL, *path = NULL;
        g_autoptr(GVariant) reply = NULL;

        if (!check_umockdev(bus, error))
                return FALSE;
        argv = daemon_argv(bus, has_option(daemon_args, "--verbose") ? NULL : first,
                           daemon_args, error);
        if (!argv)
                return FALSE;
        for (char **a = argv; *a; a++)
                strv_take(words, g_shell_quote(*a));
        quoted = g_strv_builder_end(words);
        exec = g_strjoinv(" ", quoted);

        g_key_file_set_string(kf, "D-BUS Service", "Name", VDPA_BUS_NAME);
        /* Raw: dbus-daemon parses Exec= with shell quoting, not key-file escapes. */
        g_key_file_set_value(kf, "D-BUS Service", "Exec", exec);
        g_key_file_set_string(kf, "D-BUS Service", "User", "root");
        path = g_build_filename(bus->service_dir, VDPA_BUS_NAME ".service", NULL);
        if (!g_key_file_save_to_file(kf, path, error))
                return FALSE;
        /* dbus-daemon notices new service files by inotify; reloading makes
         * it deterministic. */
        reply = vdpa_test_call_full(bus->connection, "org.freedesktop.DBus",
                                    "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                    "ReloadConfig", NULL, NULL, G_DBUS_CALL_FLAGS_NONE,
                                    BUS_TIMEOUT_MS, error);
        return reply != NULL;
}

/* ---- calls ---- */

GVariant *vdpa_test_call_full(GDBusConnection *connection, const char *destination,
                              const char *path, const char *interface, const char *method,
                              GVariant *parameters, const char *reply_type,
                              GDBusCallFlags flags, int timeout_ms, GError **error)
{
        return g_dbus_connection_call_sync(connection, destination, path, interface, method,
                                           parameters,
                                           reply_type ? G_VARIANT_TYPE(reply_type) : NULL,
                                           flags, timeout_ms, NULL, error);
}

GVariant *vdpa_test_call(VdpaTestBus *bus, const char *method, GVariant *parameters,
                         const char *reply_type, GError **error)
{
        return vdpa_test_call_full(bus->connection, VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                   VDPA_INTERFACE, method, parameters, reply_type,
                                   G_DBUS_CALL_FLAGS_NONE, 30000, error);
}

GVariant *vdpa_test_get_property(VdpaTestBus *bus, const char *name, GError **error)
{
        g_autoptr(GVariant) r = NULL;
        GVariant *v;

        r = vdpa_test_call_full(bus->connection, VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                "org.freedesktop.DBus.Properties", "Get",
                                g_variant_new("(ss)", VDPA_INTERFACE, name), "(v)",
                                G_DBUS_CALL_FLAGS_NONE, 30000, error);
        if (!r)
                return NULL;
        g_variant_get(r, "(v)", &v);
        return v;
}

gint64 vdpa_test_wait_libvirt_connected(VdpaTestBus *bus, gboolean want, guint timeout_ms)
{
        gint64 t0 = g_get_monotonic_time();

        for (;;) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) v = vdpa_test_get_property(bus, "LibvirtConnected", &error);

                g_assert_no_error(error);
                if (g_variant_get_boolean(v) == want)
                        return g_get_monotonic_time() - t0;
                if (g_get_monotonic_time() - t0 > (gint64) timeout_ms * 1000)
                        g_error("LibvirtConnected never became %s within %u ms", want ? "true" : "false", timeout_ms);
                vdpa_test_iterate(10);
        }
}

gint64 vdpa_test_wait_operations_done(VdpaTestBus *bus, guint timeout_ms)
{
        gint64 t0 = g_get_monotonic_time();

        for (;;) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) v = vdpa_test_get_property(bus, "OperationsInFlight", &error);

                g_assert_no_error(error);
                if (g_variant_get_uint32(v) == 0)
                        return g_get_monotonic_time() - t0;
                if (g_get_monotonic_time() - t0 > (gint64) timeout_ms * 1000)
                        g_error("%u operations still in flight in the daemon after %u ms",
                                g_variant_get_uint32(v), timeout_ms);
                vdpa_test_iterate(10);
        }
}

char *vdpa_test_error_name(const GError *error)
{
        if (!error)
                return NULL;
        return g_dbus_error_get_remote_error(error);
}

/* ---- calls from another user ---- */

/* "Error: GDBus.Error:NAME: MESSAGE" → a GError carrying NAME. */
static GError *error_from_gdbus_output(const char *err, int code)
{
        const char *p = strstr(err, "GDBus.Error:");
        g_autofree char *name = NULL, *message = NULL;
        const char *colon;

        if (!p)
                return g_error_new(G_IO_ERROR, G_IO_ERROR_FAILED,
                                   "gdbus call failed (%d): %s", code, err);
        p += strlen("GDBus.Error:");
        colon = strstr(p, ": ");
        name = colon ? g_strndup(p, colon - p) : g_strdup(p);
        message = g_strdup(colon ? colon + 2 : "");
        g_strstrip(name);
        g_strstrip(message);
        return g_dbus_error_new_for_dbus_error(name, message);
}

GVariant *vdpa_test_call_as_uid_full(VdpaTestBus *bus, uid_t uid, gid_t gid,
                                     const char *destination, const char *path,
                                     const char *interface, const char *method,
                                     GVariant *parameters, GDBusCallFlags flags,
                                     GError **error)
{
        g_autoptr(GVariant) params = parameters ? g_variant_ref_sink(parameters) : NULL;
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_auto(GStrv) argv = NULL, envp = g_get_environ();
        g_autofree char *out = NULL, *err = NULL;
        int status;

        /* setpriv rather than a child_setup function: without one GLib
         * spawns through posix_spawn(), whose child never runs code that
         * umockdev's preload intercepts (a fork()ed child of this threaded
         * process could block on a lock another thread held at fork time). */
        strv_take(b, g_strdup("setpriv"));
        strv_take(b, g_strdup_printf("--reuid=%u", (unsigned) uid));
        strv_take(b, g_strdup_printf("--regid=%u", (unsigned) gid));
        g_strv_builder_addv(b, (const char *[]) { "--clear-groups", "--pdeathsig=KILL", "--", NULL });
        g_strv_builder_addv(b, (const char *[]) {
                "gdbus", "call", "--address", bus->address, "--dest", destination,
                "--object-path", path, "--timeout", "30", NULL });
        strv_take(b, g_strdup_printf("--method=%s.%s", interface, method));
        if (flags & G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
                g_strv_builder_add(b, "--interactive");
        g_strv_builder_add(b, "--");
        for (gsize i = 0; params && i < g_variant_n_children(params); i++) {
                g_autoptr(GVariant) child = g_variant_get_child_value(params, i);

                strv_take(b, g_variant_print(child, TRUE));
        }
        argv = g_strv_builder_end(b);

        /* The preload library and the testbed are root's business. */
        envp = g_environ_unsetenv(envp, "LD_PRELOAD");
        envp = g_environ_unsetenv(envp, "UMOCKDEV_DIR");

        if (!g_spawn_sync(NULL, argv, envp, G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                          NULL, NULL, &out, &err, &status, error))
                return NULL;
        if (!g_spawn_check_wait_status(status, NULL)) {
                g_propagate_error(error, error_from_gdbus_output(err, status_to_code(status)));
                return NULL;
        }
        return g_variant_parse(NULL, out, NULL, NULL, error);
}

GVariant *vdpa_test_call_as_uid(VdpaTestBus *bus, uid_t uid, gid_t gid, const char *method,
                                GVariant *parameters, GDBusCallFlags flags, GError **error)
{
        return vdpa_test_call_as_uid_full(bus, uid, gid, VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                          VDPA_INTERFACE, method, parameters, flags, error);
}

/* ---- signals ---- */

struct VdpaTestRecorder {
        GDBusConnection *connection;
        GMainContext *context;
        guint subscription;
        GPtrArray *signals;
};

static void signal_free(gpointer p)
{
        VdpaTestSignal *s = p;

        g_free(s->interface);
        g_free(s->member);
        g_clear_pointer(&s->parameters, g_variant_unref);
        g_free(s);
}

static void on_signal(GDBusConnection *c, const char *sender, const char *path,
                      const char *interface, const char *member, GVariant *parameters,
                      gpointer user_data)
{
        VdpaTestRecorder *rec = user_data;
        VdpaTestSignal *s = g_new0(VdpaTestSignal, 1);
        g_autofree char *text = g_variant_print(parameters, TRUE);

        s->interface = g_strdup(interface);
        s->member = g_strdup(member);
        s->parameters = g_variant_ref(parameters);
        g_ptr_array_add(rec->signals, s);
        g_test_message("harness: signal %s.%s %s", interface, member, text);
}

VdpaTestRecorder *vdpa_test_recorder_new(VdpaTestBus *bus)
{
        VdpaTestRecorder *rec = g_new0(VdpaTestRecorder, 1);
        g_autoptr(GVariant) r = NULL;
        g_autoptr(GError) error = NULL;

        rec->connection = g_object_ref(bus->connection);
        rec->context = g_main_context_ref_thread_default();
        rec->signals = g_ptr_array_new_with_free_func(signal_free);
        rec->subscription = g_dbus_connection_signal_subscribe(rec->connection, VDPA_BUS_NAME,
                                                               NULL, NULL, VDPA_OBJECT_PATH,
                                                               NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                                               on_signal, rec, NULL);
        /* The bus handles one connection's messages in order: once this
         * returns, the AddMatch sent by subscribe is in force. */
        r = vdpa_test_call_full(rec->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus", "GetId", NULL, "(s)",
                                G_DBUS_CALL_FLAGS_NONE, BUS_TIMEOUT_MS, &error);
        g_assert_no_error(error);
        return rec;
}

void vdpa_test_recorder_free(VdpaTestRecorder *rec)
{
        if (!rec)
                return;
        g_dbus_connection_signal_unsubscribe(rec->connection, rec->subscription);
        g_object_unref(rec->connection);
        g_main_context_unref(rec->context);
        g_ptr_array_unref(rec->signals);
        g_free(rec);
}

GPtrArray *vdpa_test_recorder_get_signals(VdpaTestRecorder *rec)
{
        return rec->signals;
}

guint vdpa_test_recorder_count(VdpaTestRecorder *rec, const char *member)
{
        guint n = 0;

        for (guint i = 0; i < rec->signals->len; i++) {
                const VdpaTestSignal *s = g_ptr_array_index(rec->signals, i);

                if (!member || g_str_equal(s->member, member))
                        n++;
        }
        return n;
}

const VdpaTestSignal *vdpa_test_recorder_nth(VdpaTestRecorder *rec, const char *member, guint n)
{
        for (guint i = 0; i < rec->signals->len; i++) {
                const VdpaTestSignal *s = g_ptr_array_index(rec->signals, i);

                if (member && !g_str_equal(s->member, member))
                        continue;
                if (n-- == 0)
                        return s;
        }
        return NULL;
}

static gboolean is_device_signal(const VdpaTestSignal *s, const char *member, const char *name)
{
        const char *first = NULL;

        if (!g_str_equal(s->member, member) || !s->parameters ||
            g_variant_n_children(s->parameters) == 0)
                return FALSE;
        g_variant_get_child(s->parameters, 0, "&s", &first);
        return g_str_equal(first, name);
}

const VdpaTestSignal *vdpa_test_recorder_find_device(VdpaTestRecorder *rec, const char *member, const char *name)
{
        for (guint i = 0; i < rec->signals->len; i++) {
                const VdpaTestSignal *s = g_ptr_array_index(rec->signals, i);

                if (is_device_signal(s, member, name))
                        return s;
        }
        return NULL;
}

const VdpaTestSignal *vdpa_test_recorder_wait_device(VdpaTestRecorder *rec, const char *member, const char *name,
                                                     guint timeout_ms)
{
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;
        const VdpaTestSignal *s;

        while (!(s = vdpa_test_recorder_find_device(rec, member, name))) {
                if (g_get_monotonic_time() > deadline)
                        g_error("no %s for %s within %u ms (%u signals recorded)", member, name, timeout_ms,
                                rec->signals->len);
                vdpa_test_iterate(10);
        }
        return s;
}

static gboolean on_timeout(gpointer user_data)
{
        *(gboolean *) user_data = TRUE;
        return G_SOURCE_REMOVE;
}

gboolean vdpa_test_recorder_wait(VdpaTestRecorder *rec, const char *member, guint count,
                                 guint timeout_ms)
{
        g_autoptr(GSource) timeout = g_timeout_source_new(timeout_ms);
        gboolean timed_out = FALSE;

        g_source_set_callback(timeout, on_timeout, &timed_out, NULL);
        g_source_attach(timeout, rec->context);
        while (vdpa_test_recorder_count(rec, member) < count && !timed_out)
                g_main_context_iteration(rec->context, TRUE);
        g_source_destroy(timeout);
        return vdpa_test_recorder_count(rec, member) >= count;
}

void vdpa_test_recorder_clear(VdpaTestRecorder *rec)
{
        g_ptr_array_set_size(rec->signals, 0);
}

void vdpa_test_bus_set_daemon_bounding_set(VdpaTestBus *bus, const char *caps)
{
        g_free(bus->bounding_set);
        bus->bounding_set = g_strdup(caps ? caps : UNIT_BOUNDING_SET);
}

/* ---- device dictionaries and iproute2 ---- */

GVariant *vdpa_test_get_device(VdpaTestBus *bus, const char *name)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = vdpa_test_call(bus, "GetDevice", g_variant_new("(s)", name), "(a{sv})", &error);

        g_assert_no_error(error);
        return g_variant_get_child_value(reply, 0);
}

const char *vdpa_test_dict_str(GVariant *dict, const char *key)
{
        const char *s = NULL;

        if (!g_variant_lookup(dict, key, "&s", &s))
                g_error("dictionary lacks string key %s", key);
        return s;
}

guint vdpa_test_dict_q(GVariant *dict, const char *key)
{
        guint16 q;

        if (!g_variant_lookup(dict, key, "q", &q))
                g_error("dictionary lacks uint16 key %s", key);
        return q;
}

guint vdpa_test_dict_u(GVariant *dict, const char *key)
{
        guint32 u;

        if (!g_variant_lookup(dict, key, "u", &u))
                g_error("dictionary lacks uint32 key %s", key);
        return u;
}

gboolean vdpa_test_dict_b(GVariant *dict, const char *key)
{
        gboolean b;

        if (!g_variant_lookup(dict, key, "b", &b))
                g_error("dictionary lacks boolean key %s", key);
        return b;
}

int vdpa_test_run_vdpa(const char *const *args, char **ret_out, char **ret_err)
{
        static const char tool[] = "/usr/sbin/vdpa";
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_auto(GStrv) argv = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL, *err = NULL;
        int status;

        if (!g_file_test(tool, G_FILE_TEST_IS_EXECUTABLE))
                g_error("%s is missing: install Debian's iproute2 (tools/install-deps)", tool);
        g_strv_builder_add(b, tool);
        g_strv_builder_addv(b, (const char **) args);
        argv = g_strv_builder_end(b);
        if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error))
                g_error("cannot run %s: %s", tool, error->message);
        if (ret_out)
                *ret_out = g_steal_pointer(&out);
        if (ret_err)
                *ret_err = g_steal_pointer(&err);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
