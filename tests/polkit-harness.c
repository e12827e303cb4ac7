/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "polkit-harness.h"
#include "spawn-util.h"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 5000

struct VdpaTestPolkit {
        VdpaTestBus *bus;       /* borrowed */
        char *tmpdir;
        char *log_path;
        GPid unshare_pid;       /* our child */
        GPid init_pid;          /* sh, PID 1 of the namespace */
        GPid polkitd_pid;
};

/* ---- processes ---- */

static void polkit_child_setup(gpointer user_data)
{
        pid_t parent = GPOINTER_TO_INT(user_data);

        /* Out of the test's session and process group, as TESTING.md's
         * `setsid`; unshare itself stays root, so its parent-death signal
         * survives and takes the whole PID namespace with it. */
        (void) setsid();
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(127);
}

/* Waits until PID is gone, reaping it when it is (or became, through the
 * harness's child subreaper) our child.  FALSE on timeout. */
static gboolean reap_gone(GPid pid, guint timeout_ms)
{
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;
        int status;

        if (pid <= 0)
                return TRUE;
        for (;;) {
                (void) waitpid(pid, &status, WNOHANG);
                if (!vdpa_test_pid_alive(pid))
                        break;
                if (g_get_monotonic_time() >= deadline)
                        return FALSE;
                g_usleep(5 * 1000);
        }
        (void) waitpid(pid, &status, WNOHANG);
        return TRUE;
}

/* ---- files ---- */

static int rm_rf_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        if (remove(path) < 0)
                g_printerr("polkit-harness: cannot remove %s: %s\n", path, g_strerror(errno));
        return 0;
}

static gboolean make_dir(const char *path, GError **error)
{
        /* polkitd reads its files as user polkitd. */
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "mkdir %s: %s", path, g_strerror(errno));
                return FALSE;
        }
        if (chmod(path, 0755) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "chmod %s: %s", path, g_strerror(errno));
                return FALSE;
        }
        return TRUE;
}

static gboolean write_file(const char *path, const char *text, gssize len, GError **error)
{
        if (!g_file_set_contents_full(path, text, len, G_FILE_SET_CONTENTS_NONE, 0644, error))
                return FALSE;
        /* g_file_set_contents_full() applies the umask-free mode only to new files. */
        if (chmod(path, 0644) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "chmod %s: %s", path, g_strerror(errno));
                return FALSE;
        }
        return TRUE;
}

static gboolean write_actions(const char *dir, GError **error)
{
        g_autofree char *src = NULL, *dst = NULL, *text = NULL;
        const char *srcdir = g_getenv("VDPA_TEST_SRCDIR");
        gsize len;

        if (!srcdir) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                            "VDPA_TEST_SRCDIR is not set (run through meson test)");
                return FALSE;
        }
        src = g_build_filename(srcdir, "policy", "org.vdpa.manager.policy", NULL);
        dst = g_build_filename(dir, "org.vdpa.manager.policy", NULL);
        if (!g_file_get_contents(src, &text, &len, error)) {
                g_prefix_error(error, "the project's polkit policy is required: ");
                return FALSE;
        }
        return make_dir(dir, error) && write_file(dst, text, (gssize) len, error);
}

static gboolean write_rules(const char *dir, const char *rules_js, GError **error)
{
        g_autofree char *path = g_build_filename(dir, "50-test.rules", NULL);

        if (!make_dir(dir, error))
                return FALSE;
        return !rules_js || write_file(path, rules_js, -1, error);
}

static void print_log(VdpaTestPolkit *pk)
{
        g_autofree char *text = vdpa_test_polkit_get_log(pk);

        g_printerr("---- polkit-harness: polkitd log (%s) ----\n%s---- end ----\n",
                   pk->log_path, text ? text : "");
}

/* ---- polkitd ---- */

static gboolean check_tools(char **ret_unshare, GError **error)
{
        if (geteuid() != 0) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                            "the real polkitd needs root (namespaces, bind mounts)");
                return FALSE;
        }
        if (!g_file_test(VDPA_TEST_POLKITD, G_FILE_TEST_IS_EXECUTABLE)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                            "%s is missing: install polkitd", VDPA_TEST_POLKITD);
                return FALSE;
        }
        *ret_unshare = g_find_program_in_path("unshare");
        if (!*ret_unshare) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                            "unshare is missing: install util-linux");
                return FALSE;
        }
        return TRUE;
}

static gboolean spawn_polkitd(VdpaTestPolkit *pk, const char *unshare, const char *actions,
                              const char *rules, GError **error)
{
        g_autofree char *q_actions = g_shell_quote(actions), *q_rules = g_shell_quote(rules);
        g_autofree char *script = NULL;
        g_auto(GStrv) envp = g_get_environ();
        gboolean ok;
        int log_fd;

        /* sh stays as the namespace's init (no exec) so that killing it
         * kills polkitd even after polkitd changed its uid.  No
         * --no-debug: only the debug output reports rules that fail to
         * compile or run. */
        script = g_strdup_printf("mount --bind %s /usr/share/polkit-1/actions && "
                                 "mount --bind %s /etc/polkit-1/rules.d && "
                                 VDPA_TEST_POLKITD,
                                 q_actions, q_rules);
        const char *argv[] = {
                unshare, "--mount", "--pid", "--fork", "--kill-child",
                "--propagation", "private", "sh", "-c", script, NULL,
        };

        /* GIO's system bus is DBUS_SYSTEM_BUS_ADDRESS when set. */
        envp = g_environ_setenv(envp, "DBUS_SYSTEM_BUS_ADDRESS",
                                vdpa_test_bus_get_address(pk->bus), TRUE);
        /* Neither the umockdev preload nor the test's fatal criticals are
         * polkitd's business. */
        envp = g_environ_unsetenv(envp, "LD_PRELOAD");
        envp = g_environ_unsetenv(envp, "UMOCKDEV_DIR");
        envp = g_environ_unsetenv(envp, "G_DEBUG");

        log_fd = open(pk->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "%s: %s", pk->log_path, g_strerror(errno));
                return FALSE;
        }
        ok = vdpa_test_spawn((const char *const *) argv, (const char *const *) envp, 0,
                             polkit_child_setup, GINT_TO_POINTER(getpid()), log_fd,
                             NULL, NULL, 0, &pk->unshare_pid, error);
        close(log_fd);
        return ok;
}

/* Polls the bus until polkitd owns its name; notices an early exit. */
static gboolean wait_for_name(VdpaTestPolkit *pk, GError **error)
{
        gint64 deadline = g_get_monotonic_time() + (gint64) START_TIMEOUT_MS * 1000;
        int status;

        for (;;) {
                GPid owner = vdpa_test_bus_get_name_owner_pid(pk->bus, POLKIT_NAME);

                if (owner > 0) {
                        pk->polkitd_pid = owner;
                        pk->init_pid = vdpa_test_pid_parent(owner);
                        return TRUE;
                }
                if (waitpid(pk->unshare_pid, &status, WNOHANG) == pk->unshare_pid) {
                        pk->unshare_pid = 0;
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                                    "polkitd exited before owning %s (status 0x%x)",
                                    POLKIT_NAME, (unsigned) status);
                        return FALSE;
                }
                if (g_get_monotonic_time() >= deadline) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                    "polkitd did not own %s within %d ms",
                                    POLKIT_NAME, START_TIMEOUT_MS);
                        return FALSE;
                }
                g_usleep(10 * 1000);
        }
}

/* A test rule that does not compile would silently grant nothing. */
static gboolean check_rules_loaded(VdpaTestPolkit *pk, GError **error)
{
        g_autofree char *log = vdpa_test_polkit_get_log(pk);

        if (log && (strstr(log, "Error compiling script") || strstr(log, "Error executing script"))) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                            "polkitd rejected a rules file (see its log)");
                return FALSE;
        }
        return TRUE;
}

VdpaTestPolkit *vdpa_test_polkit_start(VdpaTestBus *bus, const char *rules_js, GError **error)
{
        g_autoptr(VdpaTestPolkit) pk = g_new0(VdpaTestPolkit, 1);
        g_autofree char *unshare = NULL, *actions = NULL, *rules = NULL;

        pk->bus = bus;
        if (!check_tools(&unshare, error))
                return NULL;
        if (vdpa_test_bus_get_name_owner_pid(bus, POLKIT_NAME) > 0) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                            "%s is already owned on this bus", POLKIT_NAME);
                return NULL;
        }

        pk->tmpdir = g_dir_make_tmp("vdpa-polkit-XXXXXX", error);
        if (!pk->tmpdir || !make_dir(pk->tmpdir, error))
                return NULL;
        pk->log_path = g_build_filename(pk->tmpdir, "polkitd.log", NULL);
        actions = g_build_filename(pk->tmpdir, "actions", NULL);
        rules = g_build_filename(pk->tmpdir, "rules.d", NULL);
        if (!write_actions(actions, error) || !write_rules(rules, rules_js, error))
                return NULL;

        if (!spawn_polkitd(pk, unshare, actions, rules, error))
                return NULL;
        if (!wait_for_name(pk, error) || !check_rules_loaded(pk, error)) {
                print_log(pk);
                return NULL;
        }
        return g_steal_pointer(&pk);
}

VdpaTestPolkit *vdpa_test_polkit_start_or_die(VdpaTestBus *bus, const char *rules_js)
{
        g_autoptr(GError) error = NULL;
        VdpaTestPolkit *pk = vdpa_test_polkit_start(bus, rules_js, &error);

        g_assert_no_error(error);
        g_assert_nonnull(pk);
        return pk;
}

static void wait_name_released(VdpaTestPolkit *pk)
{
        gint64 deadline = g_get_monotonic_time() + (gint64) STOP_TIMEOUT_MS * 1000;

        while (vdpa_test_bus_get_name_owner_pid(pk->bus, POLKIT_NAME) > 0) {
                if (g_get_monotonic_time() >= deadline) {
                        g_printerr("polkit-harness: %s still owned after polkitd exited\n",
                                   POLKIT_NAME);
                        return;
                }
                g_usleep(5 * 1000);
        }
}

void vdpa_test_polkit_stop(VdpaTestPolkit *pk)
{
        if (!pk)
                return;

        if (pk->unshare_pid > 0) {
                /* Politely first: polkitd exits on SIGTERM, sh and unshare
                 * follow.  unshare ignores SIGTERM itself, and a PID
                 * namespace's init ignores signals it has no handler for,
                 * so the fallback is SIGKILL to unshare (--kill-child then
                 * kills sh, and with it the namespace). */
                if (pk->polkitd_pid > 0)
                        (void) kill(pk->polkitd_pid, SIGTERM);
                if (!reap_gone(pk->unshare_pid, STOP_TIMEOUT_MS)) {
                        g_printerr("polkit-harness: polkitd did not exit on SIGTERM, killing it\n");
                        print_log(pk);
                        (void) kill(pk->unshare_pid, SIGKILL);
                        (void) reap_gone(pk->unshare_pid, STOP_TIMEOUT_MS);
                }
                /* Orphans of a SIGKILL come to us (the harness's subreaper). */
                if (!reap_gone(pk->init_pid, STOP_TIMEOUT_MS) ||
                    !reap_gone(pk->polkitd_pid, STOP_TIMEOUT_MS))
                        g_printerr("polkit-harness: polkitd %d or its init %d outlived unshare\n",
                                   pk->polkitd_pid, pk->init_pid);
                wait_name_released(pk);
        }

        if (pk->tmpdir) {
                if (g_getenv("VDPA_TEST_KEEP_TMPDIR"))
                        g_printerr("polkit-harness: keeping %s\n", pk->tmpdir);
                else
                        (void) nftw(pk->tmpdir, rm_rf_cb, 16, FTW_DEPTH | FTW_PHYS);
        }
        g_free(pk->tmpdir);
        g_free(pk->log_path);
        g_free(pk);
}

GPid vdpa_test_polkit_get_pid(VdpaTestPolkit *pk)
{
        return pk->polkitd_pid;
}

char *vdpa_test_polkit_get_log(VdpaTestPolkit *pk)
{
        char *text = NULL;

        if (!g_file_get_contents(pk->log_path, &text, NULL, NULL))
                return NULL;
        return text;
}

/* ---- users ---- */

static gboolean lookup_user(const char *name, uid_t *ret_uid, gid_t *ret_gid)
{
        struct passwd pw, *result = NULL;
        char buf[4096];

        if (getpwnam_r(name, &pw, buf, sizeof(buf), &result) != 0 || !result)
                return FALSE;
        *ret_uid = result->pw_uid;
        *ret_gid = result->pw_gid;
        return TRUE;
}

gboolean vdpa_test_user_ensure(const char *name, uid_t *ret_uid, gid_t *ret_gid, GError **error)
{
        const char *useradd = g_file_test("/usr/sbin/useradd", G_FILE_TEST_IS_EXECUTABLE) ?
                              "/usr/sbin/useradd" : "useradd";
        const char *argv[] = {
                useradd, "--system", "--no-create-home", "--user-group",
                "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name, NULL,
        };
        g_autofree char *last_err = NULL;

        /* Tests run in parallel and useradd takes a lock on /etc/passwd: a
         * concurrent creator makes ours fail, after which the user exists
         * or a retry succeeds. */
        for (int attempt = 0; attempt < 50; attempt++) {
                g_autofree char *err = NULL;
                int status;

                if (lookup_user(name, ret_uid, ret_gid))
                        return TRUE;
                if (!g_spawn_sync(NULL, (char **) argv, NULL,
                                  G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                                  G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                                  NULL, NULL, NULL, &err, &status, error))
                        return FALSE;
                if (g_spawn_check_wait_status(status, NULL))
                        continue;
                g_free(last_err);
                last_err = g_steal_pointer(&err);
                g_usleep(100 * 1000);
        }
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create user %s: %s",
                    name, last_err ? last_err : "not found after useradd");
        return FALSE;
}

void vdpa_test_user_ensure_or_die(const char *name, uid_t *ret_uid, gid_t *ret_gid)
{
        g_autoptr(GError) error = NULL;

        vdpa_test_user_ensure(name, ret_uid, ret_gid, &error);
        g_assert_no_error(error);
}
