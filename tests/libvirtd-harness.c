/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A private, real libvirtd for tests (see libvirtd-harness.h and
 * tests/private-libvirtd).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "libvirtd-harness.h"
#include "spawn-util.h"

#define START_TIMEOUT_MS 60000
#define TERM_TIMEOUT_MS 10000
#define GONE_TIMEOUT_MS 5000
#define STALE_DIR_AGE_USEC (60 * G_USEC_PER_SEC)
#define DIR_PREFIX "vdpa-libvirtd-"

struct VdpaTestLibvirtd {
        char *dir;
        char *socket;
        char *uri;
        char *caps_cache; /* NULL: no cache */
        GPid pid;         /* libvirtd, 0 while down */
        gboolean paused;
        gint64 startup_usec;
};

G_DEFINE_QUARK(vdpa-test-libvirt-error-quark, vdpa_test_libvirt_error)

static void xml_doc_free(xmlDoc *doc)
{
        xmlFreeDoc(doc);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xml_doc_free)

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

/* ---- libvirt client side ---- */

static void silent_error(void *opaque, virErrorPtr err)
{
        /* Errors are reported through GError; libvirt's default handler
         * would print every failed poll of a starting daemon. */
}

static void libvirt_init_once(void)
{
        static gsize initialized = 0;

        if (!g_once_init_enter(&initialized))
                return;
        /* As in the daemon: libvirt's writes to a libvirtd the test has
         * just killed must not kill the test with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        if (virInitialize() < 0)
                g_error("virInitialize() failed");
        virSetErrorFunc(NULL, silent_error);
        g_once_init_leave(&initialized, 1);
}

static gboolean set_libvirt_error(GError **error, const char *what)
{
        virErrorPtr err = virGetLastError();

        g_set_error(error, VDPA_TEST_LIBVIRT_ERROR, err ? err->code : VIR_ERR_INTERNAL_ERROR,
                    "%s: %s", what, err && err->message ? err->message : "unknown libvirt error");
        return FALSE;
}

typedef struct {
        gatomicrefcount ref;
        GMutex lock;
        GCond cond;
        char *uri;
        gboolean done;
        gboolean abandoned;
        virConnectPtr conn;
        int code;
        char *message;
} OpenJob;

static void open_job_unref(OpenJob *job)
{
        if (!g_atomic_ref_count_dec(&job->ref))
                return;
        g_mutex_clear(&job->lock);
        g_cond_clear(&job->cond);
        g_free(job->uri);
        g_free(job->message);
        g_free(job);
}

static gpointer open_job_run(gpointer data)
{
        OpenJob *job = data;
        virConnectPtr conn = virConnectOpen(job->uri);
        virErrorPtr err = conn ? NULL : virGetLastError();

        g_mutex_lock(&job->lock);
        job->conn = conn;
        if (!conn) {
                job->code = err ? err->code : VIR_ERR_INTERNAL_ERROR;
                job->message = g_strdup(err && err->message ? err->message : "unknown libvirt error");
        }
        job->done = TRUE;
        if (job->abandoned && conn) {
                virConnectClose(conn);
                job->conn = NULL;
        }
        g_cond_signal(&job->cond);
        g_mutex_unlock(&job->lock);
        open_job_unref(job);
        return NULL;
}

virConnectPtr vdpa_test_libvirt_open(const char *uri, guint timeout_ms, GError **error)
{
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;
        OpenJob *job = g_new0(OpenJob, 1);
        virConnectPtr conn = NULL;

        libvirt_init_once();
        g_atomic_ref_count_init(&job->ref);
        g_mutex_init(&job->lock);
        g_cond_init(&job->cond);
        job->uri = g_strdup(uri);

        g_atomic_ref_count_inc(&job->ref);
        g_thread_unref(g_thread_new("vdpa-test-open", open_job_run, job));

        g_mutex_lock(&job->lock);
        while (!job->done)
                if (!g_cond_wait_until(&job->cond, &job->lock, deadline))
                        break;
        if (!job->done) {
                job->abandoned = TRUE;
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                            "virConnectOpen(%s) did not return within %u ms", uri, timeout_ms);
        } else if (!job->conn)
                g_set_error(error, VDPA_TEST_LIBVIRT_ERROR, job->code,
                            "virConnectOpen(%s): %s", uri, job->message);
        else
                conn = g_steal_pointer(&job->conn);
        g_mutex_unlock(&job->lock);
        open_job_unref(job);
        return conn;
}

/* ---- /proc, safe in any thread ---- */

/* The reaper thread below reads /proc while the main thread creates and
 * drops umockdev testbeds.  umockdev's preload library wraps open(),
 * fopen(), opendir() & co. and calls getenv("UMOCKDEV_DIR") in each, and
 * umockdev_testbed_new() calls setenv("UMOCKDEV_DIR"), which reallocates
 * environ: a getenv() walking the old array then reads freed memory
 * (SIGSEGV in getenv() under the reaper, seen in test-libvirt and
 * test-claim under ASan).  So /proc is read with raw system calls, which
 * neither libc's environment nor umockdev's wrappers take part in. */
#define PROC_FILE_MAX 4096

/* Reads up to PROC_FILE_MAX - 1 bytes of PATH, NUL-terminated; NULL on
 * error.  *LEN (optional) is the length read. */
static char *proc_read(const char *path, gsize *len)
{
        g_autofree char *buf = g_malloc(PROC_FILE_MAX);
        gsize n = 0;
        int fd;

        fd = (int) syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        while (n < PROC_FILE_MAX - 1) {
                long r = syscall(SYS_read, fd, buf + n, PROC_FILE_MAX - 1 - n);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                n += (gsize) r;
        }
        (void) syscall(SYS_close, fd);
        buf[n] = '\0';
        if (len)
                *len = n;
        return g_steal_pointer(&buf);
}

static char pid_state(pid_t pid)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
        g_autofree char *stat = proc_read(path, NULL);
        const char *p;

        if (!stat)
                return 0;
        p = strrchr(stat, ')');
        return p && p[1] == ' ' ? p[2] : 0;
}

/* The process name, also of a zombie (whose cmdline is empty). */
static char *pid_comm(pid_t pid)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
        g_autofree char *stat = proc_read(path, NULL);
        const char *open_paren, *close_paren;

        if (!stat)
                return NULL;
        open_paren = strchr(stat, '(');
        close_paren = strrchr(stat, ')');
        if (!open_paren || !close_paren || close_paren < open_paren)
                return NULL;
        return g_strndup(open_paren + 1, (gsize) (close_paren - open_paren - 1));
}

/* The thread ids of this process, from /proc/self/task. */
static GArray *own_tasks(void)
{
        GArray *tids = g_array_new(FALSE, FALSE, sizeof(pid_t));
        char buf[4096] __attribute__((aligned(8)));
        int fd;

        fd = (int) syscall(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return tids;
        for (;;) {
                long n = syscall(SYS_getdents64, fd, buf, sizeof buf);

                if (n <= 0)
                        break;
                for (long off = 0; off < n;) {
                        const struct dirent64 *de = (const struct dirent64 *) (buf + off);
                        gint64 tid;

                        if (g_ascii_string_to_signed(de->d_name, 10, 1, G_MAXINT32, &tid, NULL)) {
                                pid_t t = (pid_t) tid;
                                g_array_append_val(tids, t);
                        }
                        off += de->d_reclen;
                }
        }
        (void) syscall(SYS_close, fd);
        return tids;
}

/* ---- processes ---- */

/* Whether /proc/PID/cmdline has an argument containing NEEDLE: a pid read
 * from a file may have been reused. */
static gboolean pid_cmdline_contains(pid_t pid, const char *needle)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", pid);
        g_autofree char *cmdline = NULL;
        gsize len;

        if (!g_file_get_contents(path, &cmdline, &len, NULL))
                return FALSE;
        for (gsize i = 0; i < len; i += strlen(cmdline + i) + 1)
                if (strstr(cmdline + i, needle))
                        return TRUE;
        return FALSE;
}

static pid_t read_pid_file(const char *path)
{
        g_autofree char *contents = NULL;
        gint64 pid;

        if (!g_file_get_contents(path, &contents, NULL, NULL))
                return 0;
        g_strstrip(contents);
        if (!g_ascii_string_to_signed(contents, 10, 1, G_MAXINT32, &pid, NULL))
                return 0;
        return (pid_t) pid;
}

static int rmdir_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        if (flag == FTW_DP)
                (void) rmdir(path);
        return 0;
}

/* libvirt removes a domain's cgroups when it sees QEMU die; for a QEMU
 * killed behind its back they stay: machine/qemu-ID-NAME.libvirt-qemu in
 * every controller (cgroup v1) or once (v2). */
static gboolean remove_domain_cgroups_once(const char *name)
{
        g_autofree char *suffix = g_strdup_printf("-%s.libvirt-qemu", name);
        g_autoptr(GDir) controllers = g_dir_open("/sys/fs/cgroup", 0, NULL);
        g_autoptr(GPtrArray) machines = g_ptr_array_new_with_free_func(g_free);
        gboolean removed_all = TRUE;
        const char *entry;

        g_ptr_array_add(machines, g_strdup("/sys/fs/cgroup/machine"));
        while (controllers && (entry = g_dir_read_name(controllers)))
                g_ptr_array_add(machines, g_build_filename("/sys/fs/cgroup", entry, "machine", NULL));
        for (guint i = 0; i < machines->len; i++) {
                g_autoptr(GDir) machine = g_dir_open(machines->pdata[i], 0, NULL);

                while (machine && (entry = g_dir_read_name(machine))) {
                        g_autofree char *path = NULL;

                        if (!g_str_has_prefix(entry, "qemu-") || !g_str_has_suffix(entry, suffix))
                                continue;
                        path = g_build_filename(machines->pdata[i], entry, NULL);
                        (void) nftw(path, rmdir_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
                        removed_all = removed_all && !g_file_test(path, G_FILE_TEST_EXISTS);
                }
        }
        return removed_all;
}

static void remove_domain_cgroups(const char *name)
{
        gint64 deadline = g_get_monotonic_time() + GONE_TIMEOUT_MS * 1000;

        /* A killed QEMU that is not our child may linger as a zombie for
         * a while, and its cgroups stay busy until it is reaped. */
        while (!remove_domain_cgroups_once(name)) {
                if (g_get_monotonic_time() >= deadline) {
                        g_printerr("libvirtd-harness: cgroups of %s stay behind\n", name);
                        return;
                }
                g_usleep(50 * 1000);
        }
}

/* The names of DIR's domains: defined (etc/qemu) or running (run/qemu). */
static GPtrArray *domain_names(const char *dir)
{
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        const char *subdirs[] = { "etc/qemu", "run/qemu" };

        for (size_t i = 0; i < G_N_ELEMENTS(subdirs); i++) {
                g_autofree char *path = g_build_filename(dir, subdirs[i], NULL);
                g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
                const char *entry;

                while (d && (entry = g_dir_read_name(d))) {
                        const char *dot = strrchr(entry, '.');

                        if (!dot || (!g_str_equal(dot, ".xml") && !g_str_equal(dot, ".pid")) ||
                            g_str_equal(entry, "driver.pid"))
                                continue;
                        g_ptr_array_add(names, g_strndup(entry, (gsize) (dot - entry)));
                }
        }
        return g_steal_pointer(&names);
}

/* Kills the QEMU processes of DIR's domains, found through libvirt's
 * DIR/run/qemu/NAME.pid files, and removes the cgroups libvirt can no
 * longer remove for them. */
static void kill_qemus(const char *dir)
{
        g_autoptr(GPtrArray) names = domain_names(dir);
        gboolean killed = FALSE;

        for (guint i = 0; i < names->len; i++) {
                const char *name = names->pdata[i];
                g_autofree char *file = g_strdup_printf("%s.pid", name);
                g_autofree char *path = g_build_filename(dir, "run", "qemu", file, NULL);
                g_autofree char *needle = g_strdup_printf("guest=%s,", name);
                pid_t pid = read_pid_file(path);

                if (!vdpa_test_pid_alive(pid) || !pid_cmdline_contains(pid, needle))
                        continue;
                g_printerr("libvirtd-harness: killing leftover QEMU %d (%s)\n", pid, name);
                kill(pid, SIGKILL);
                (void) vdpa_test_wait_gone(pid, GONE_TIMEOUT_MS);
                killed = TRUE;
        }
        for (guint i = 0; i < names->len; i++)
                if (killed)
                        remove_domain_cgroups(names->pdata[i]);
                else
                        (void) remove_domain_cgroups_once(names->pdata[i]);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        if (remove(path) < 0 && errno != ENOENT)
                g_printerr("libvirtd-harness: cannot remove %s: %s\n", path, g_strerror(errno));
        return 0;
}

/* rm -rf, staying on DIR's file system. */
static void remove_tree(const char *dir)
{
        (void) nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Cleans up after tests that crashed: their libvirtd died with them
 * (PR_SET_PDEATHSIG) but QEMU processes and the directory stayed. */
static void reap_stale_dirs(void)
{
        const char *tmp = g_get_tmp_dir();
        g_autoptr(GDir) d = g_dir_open(tmp, 0, NULL);
        const char *entry;

        if (!d)
                return;
        while ((entry = g_dir_read_name(d))) {
                g_autofree char *dir = NULL, *owner = NULL, *libvirtd_pid = NULL;
                GStatBuf st;
                pid_t pid;

                if (!g_str_has_prefix(entry, DIR_PREFIX))
                        continue;
                dir = g_build_filename(tmp, entry, NULL);
                owner = g_build_filename(dir, "owner.pid", NULL);
                pid = read_pid_file(owner);
                if (vdpa_test_pid_alive(pid))
                        continue;
                /* Without an owner yet, it may be a directory being made. */
                if (pid == 0 && (g_stat(dir, &st) < 0 ||
                                 (gint64) st.st_mtime * G_USEC_PER_SEC >
                                 g_get_real_time() - STALE_DIR_AGE_USEC))
                        continue;
                libvirtd_pid = g_build_filename(dir, "run", "libvirtd.pid", NULL);
                pid = read_pid_file(libvirtd_pid);
                if (vdpa_test_pid_alive(pid) && pid_cmdline_contains(pid, "libvirtd")) {
                        kill(pid, SIGKILL);
                        (void) vdpa_test_wait_gone(pid, GONE_TIMEOUT_MS);
                }
                kill_qemus(dir);
                g_printerr("libvirtd-harness: removing stale %s\n", dir);
                remove_tree(dir);
        }
}

/* QEMU, which libvirtd daemonizes, is an orphan, and so is virtlogd once
 * libvirtd is gone.  PID 1 does not reap here, and a dead QEMU left a
 * zombie still answers kill(pid, 0): virDomainDestroy() took ~2 s with
 * PID 1 as the adopter and ~80 s with an unreaping subreaper test process
 * (tests/harness.c makes it one).  So the test process becomes a
 * subreaper and a thread reaps its zombie children that are libvirt's:
 * QEMU, virtlogd and libvirtd's forked helpers (named after its threads,
 * e.g. "rpc-libvirtd"), never libvirtd itself or anything else.  Destroy
 * then takes ~0.2 s. */
static gboolean is_libvirt_orphan(const char *comm)
{
        if (g_str_equal(comm, "libvirtd"))
                return FALSE;
        return g_str_has_prefix(comm, "qemu-") || g_str_equal(comm, "virtlogd") ||
               strstr(comm, "libvirtd") != NULL;
}

static void reap_libvirt_zombie(const char *pid_str)
{
        g_autofree char *comm = NULL;
        gint64 pid;

        if (!g_ascii_string_to_signed(pid_str, 10, 1, G_MAXINT32, &pid, NULL) ||
            pid_state((pid_t) pid) != 'Z')
                return;
        comm = pid_comm((pid_t) pid);
        if (comm && is_libvirt_orphan(comm))
                (void) waitpid((pid_t) pid, NULL, WNOHANG);
}

static gpointer reaper_run(gpointer data)
{
        for (;;) {
                g_autoptr(GArray) tids = NULL;
                int subreaper = 0;

                g_usleep(20 * 1000);
                /* Only a subreaper adopts orphans; someone may undo it. */
                if (prctl(PR_GET_CHILD_SUBREAPER, &subreaper) < 0 || !subreaper)
                        continue;
                /* Only raw system calls and memory from here on: see
                 * proc_read(). */
                tids = own_tasks();
                for (guint i = 0; i < tids->len; i++) {
                        g_autofree char *path = g_strdup_printf("/proc/self/task/%d/children",
                                                                g_array_index(tids, pid_t, i));
                        g_autofree char *children = proc_read(path, NULL);
                        g_auto(GStrv) pids = NULL;

                        if (!children)
                                continue;
                        pids = g_strsplit(g_strstrip(children), " ", -1);
                        for (char **p = pids; *p; p++)
                                if (**p)
                                        reap_libvirt_zombie(*p);
                }
        }
        return NULL;
}

static void start_reaper_once(void)
{
        static gsize started = 0;

        if (!g_once_init_enter(&started))
                return;
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);
        g_thread_unref(g_thread_new("vdpa-test-reaper", reaper_run, NULL));
        g_once_init_leave(&started, 1);
}

static void child_setup(gpointer user_data)
{
        pid_t parent = GPOINTER_TO_INT(user_data);

        /* The pid survives the script's execs into libvirtd, and so does
         * this: libvirtd dies with the test. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(127);
}

static char *script_path(GError **error)
{
        const char *srcdir = g_getenv("VDPA_TEST_SRCDIR");
        g_autofree char *path = NULL;

        if (!srcdir) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                            "VDPA_TEST_SRCDIR is not set (run through meson test)");
                return NULL;
        }
        path = g_build_filename(srcdir, "tests", "private-libvirtd", NULL);
        if (!g_file_test(path, G_FILE_TEST_IS_EXECUTABLE)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s is not executable", path);
                return NULL;
        }
        return g_steal_pointer(&path);
}

static char *tail_of(const char *path, gsize max)
{
        g_autofree char *contents = NULL;
        gsize len;

        if (!g_file_get_contents(path, &contents, &len, NULL))
                return g_strdup("");
        return g_strdup(len > max ? contents + len - max : contents);
}

static char *logs_tail(VdpaTestLibvirtd *d)
{
        g_autofree char *script_log = g_build_filename(d->dir, "private-libvirtd.log", NULL);
        g_autofree char *daemon_log = g_build_filename(d->dir, "log", "libvirtd.log", NULL);
        g_autofree char *a = tail_of(script_log, 2000);
        g_autofree char *b = tail_of(daemon_log, 2000);

        return g_strdup_printf("---- %s ----\n%s---- %s ----\n%s", script_log, a, daemon_log, b);
}

static gboolean spawn_daemon(VdpaTestLibvirtd *d, GError **error)
{
        g_autofree char *script = script_path(error);
        g_autofree char *log_path = NULL;
        g_auto(GStrv) envp = NULL;
        const char *argv[3];
        gboolean ok;
        int fd;

        if (!script)
                return FALSE;
        envp = g_get_environ();
        /* libvirtd cannot run under umockdev and must not find a test's
         * private bus. */
        envp = g_environ_unsetenv(envp, "UMOCKDEV_DIR");
        envp = g_environ_unsetenv(envp, "LD_PRELOAD");
        envp = g_environ_unsetenv(envp, "DBUS_SYSTEM_BUS_ADDRESS");
        envp = g_environ_unsetenv(envp, "DBUS_SESSION_BUS_ADDRESS");
        if (d->caps_cache)
                envp = g_environ_setenv(envp, "PRIVATE_LIBVIRTD_CAPS_CACHE", d->caps_cache, TRUE);

        log_path = g_build_filename(d->dir, "private-libvirtd.log", NULL);
        fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "open(%s): %s", log_path, g_strerror(errno));
                return FALSE;
        }
        argv[0] = script;
        argv[1] = d->dir;
        argv[2] = NULL;
        ok = vdpa_test_spawn((const char *const *) argv, (const char *const *) envp, 0,
                             child_setup, GINT_TO_POINTER(getpid()), fd, NULL, NULL, 0, &d->pid, error);
        close(fd);
        return ok;
}

/* Fills the shared capabilities cache from this instance's, so that the
 * next private libvirtd does not probe QEMU again. */
static void update_caps_cache(VdpaTestLibvirtd *d)
{
        g_autofree char *caps = g_build_filename(d->dir, "cache", "qemu", "capabilities", NULL);
        g_autoptr(GDir) dir = NULL;
        const char *entry;

        if (!d->caps_cache)
                return;
        dir = g_dir_open(caps, 0, NULL);
        if (!dir)
                return;
        while ((entry = g_dir_read_name(dir))) {
                g_autofree char *src = g_build_filename(caps, entry, NULL);
                g_autofree char *dst = g_build_filename(d->caps_cache, entry, NULL);
                g_autofree char *ours = NULL, *cached = NULL;
                gsize ours_len, cached_len = 0;

                if (!g_str_has_suffix(entry, ".xml") ||
                    !g_file_get_contents(src, &ours, &ours_len, NULL))
                        continue;
                if (g_file_get_contents(dst, &cached, &cached_len, NULL) &&
                    cached_len == ours_len && memcmp(cached, ours, ours_len) == 0)
                        continue;
                (void) g_file_set_contents(dst, ours, (gssize) ours_len, NULL);
        }
}

static gboolean wait_ready(VdpaTestLibvirtd *d, guint timeout_ms, GError **error)
{
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;
        g_autofree char *pid_file = NULL;
        int status = 0;

        for (;;) {
                gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
                g_autoptr(GError) local = NULL;
                pid_t r = waitpid(d->pid, &status, WNOHANG);
                virConnectPtr conn;

                if (r == d->pid || (r < 0 && errno == ECHILD)) {
                        g_autofree char *logs = logs_tail(d);

                        d->pid = 0;
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                                    "private libvirtd exited during start-up (wait status 0x%x)\n%s",
                                    (unsigned) status, logs);
                        return FALSE;
                }
                if (left_ms <= 0) {
                        g_autofree char *logs = logs_tail(d);

                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                    "private libvirtd did not answer within %u ms\n%s",
                                    timeout_ms, logs);
                        return FALSE;
                }
                if (!g_file_test(d->socket, G_FILE_TEST_EXISTS)) {
                        g_usleep(10 * 1000);
                        continue;
                }
                /* libvirtd accepts connections before its drivers are up
                 * and answers once they are: this blocks until ready. */
                conn = vdpa_test_libvirt_open(d->uri, (guint) left_ms, &local);
                if (conn) {
                        virConnectClose(conn);
                        break;
                }
                if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
                        continue;
                g_usleep(10 * 1000);
        }

        /* The script execs into libvirtd: signals to our child reach it. */
        pid_file = g_build_filename(d->dir, "run", "libvirtd.pid", NULL);
        if (read_pid_file(pid_file) != d->pid) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                            "%s holds %d, not the spawned pid %d", pid_file,
                            read_pid_file(pid_file), d->pid);
                return FALSE;
        }
        return TRUE;
}

gboolean vdpa_test_libvirtd_start_daemon(VdpaTestLibvirtd *d, GError **error)
{
        gint64 start = g_get_monotonic_time();

        g_return_val_if_fail(d, FALSE);
        if (d->pid > 0) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                            "private libvirtd %d is already running", d->pid);
                return FALSE;
        }
        if (!spawn_daemon(d, error))
                return FALSE;
        if (!wait_ready(d, START_TIMEOUT_MS, error)) {
                (void) vdpa_test_libvirtd_stop_daemon(d, SIGKILL);
                return FALSE;
        }
        d->startup_usec = g_get_monotonic_time() - start;
        update_caps_cache(d);
        return TRUE;
}

gint64 vdpa_test_libvirtd_stop_daemon(VdpaTestLibvirtd *d, int signum)
{
        g_autofree char *virtlogd_pid_file = NULL, *virtlogd_comm = NULL;
        gint64 start = g_get_monotonic_time();
        pid_t virtlogd;
        int status;

        g_return_val_if_fail(d, 0);
        if (d->pid <= 0)
                return 0;
        virtlogd_pid_file = g_build_filename(d->dir, "run", "virtlogd.pid", NULL);
        virtlogd = read_pid_file(virtlogd_pid_file);
        virtlogd_comm = virtlogd > 0 ? pid_comm(virtlogd) : NULL;

        kill(d->pid, signum);
        if (d->paused)
                kill(d->pid, SIGCONT);
        d->paused = FALSE;
        if (vdpa_test_wait_child(d->pid, TERM_TIMEOUT_MS, &status) == -ETIMEDOUT) {
                g_printerr("libvirtd-harness: libvirtd %d ignored signal %d for %u ms, killing it\n",
                           d->pid, signum, TERM_TIMEOUT_MS);
                kill(d->pid, SIGKILL);
                (void) vdpa_test_wait_child(d->pid, GONE_TIMEOUT_MS, &status);
        }
        d->pid = 0;
        /* virtlogd dies with libvirtd (parent-death signal); a new one
         * cannot start while the old one holds its pid file. */
        if (g_strcmp0(virtlogd_comm, "virtlogd") == 0)
                (void) vdpa_test_wait_gone(virtlogd, GONE_TIMEOUT_MS);
        return g_get_monotonic_time() - start;
}

gboolean vdpa_test_libvirtd_restart(VdpaTestLibvirtd *d, GError **error)
{
        (void) vdpa_test_libvirtd_stop_daemon(d, SIGTERM);
        return vdpa_test_libvirtd_start_daemon(d, error);
}

static char *default_caps_cache(void)
{
        const char *env = g_getenv("VDPA_TEST_LIBVIRT_CACHE");
        const char *builddir = g_getenv("VDPA_TEST_BUILDDIR");
        g_autofree char *path = NULL;

        if (env && *env)
                path = g_strdup(env);
        else if (builddir && *builddir)
                path = g_build_filename(builddir, "libvirt-caps-cache", NULL);
        else
                return NULL;
        if (g_mkdir_with_parents(path, 0755) < 0)
                return NULL;
        return g_steal_pointer(&path);
}

VdpaTestLibvirtd *vdpa_test_libvirtd_start(GError **error)
{
        g_autoptr(VdpaTestLibvirtd) d = NULL;
        g_autofree char *owner = NULL, *owner_pid = NULL, *escaped = NULL;

        libvirt_init_once();
        start_reaper_once();
        if (geteuid() != 0) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                            "a private libvirtd needs root");
                return NULL;
        }
        reap_stale_dirs();

        d = g_new0(VdpaTestLibvirtd, 1);
        d->dir = g_build_filename(g_get_tmp_dir(), DIR_PREFIX "XXXXXX", NULL);
        if (!g_mkdtemp(d->dir)) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "mkdtemp: %s", g_strerror(errno));
                return NULL;
        }
        owner = g_build_filename(d->dir, "owner.pid", NULL);
        owner_pid = g_strdup_printf("%d\n", getpid());
        if (!g_file_set_contents(owner, owner_pid, -1, error))
                return NULL;
        d->socket = g_build_filename(d->dir, "run", "libvirt-sock", NULL);
        escaped = g_uri_escape_string(d->socket, "/", FALSE);
        d->uri = g_strdup_printf("qemu+unix:///system?socket=%s", escaped);
        d->caps_cache = default_caps_cache();

        if (!vdpa_test_libvirtd_start_daemon(d, error))
                return NULL;
        return g_steal_pointer(&d);
}

VdpaTestLibvirtd *vdpa_test_libvirtd_start_or_die(void)
{
        g_autoptr(GError) error = NULL;
        VdpaTestLibvirtd *d = vdpa_test_libvirtd_start(&error);

        g_assert_no_error(error);
        g_assert_nonnull(d);
        return d;
}

/* Destroying through libvirt lets it clean up after QEMU (cgroups, status
 * files), which killing QEMU behind its back would not. */
static void destroy_domains(VdpaTestLibvirtd *d)
{
        g_autoptr(GError) error = NULL;
        _cleanup_conn_ virConnectPtr conn = NULL;
        virDomainPtr *domains = NULL;
        int n;

        conn = vdpa_test_libvirt_open(d->uri, 5000, &error);
        if (!conn) {
                g_printerr("libvirtd-harness: cannot destroy domains: %s\n", error->message);
                return;
        }
        n = virConnectListAllDomains(conn, &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        for (int i = 0; i < n; i++) {
                if (virDomainDestroy(domains[i]) < 0)
                        g_printerr("libvirtd-harness: destroying %s: %s\n",
                                   virDomainGetName(domains[i]), virGetLastErrorMessage());
                virDomainFree(domains[i]);
        }
        free(domains);
}

void vdpa_test_libvirtd_stop(VdpaTestLibvirtd *d)
{
        if (!d)
                return;
        if (d->pid > 0) {
                vdpa_test_libvirtd_resume(d);
                destroy_domains(d);
                (void) vdpa_test_libvirtd_stop_daemon(d, SIGTERM);
        }
        if (d->dir) {
                /* QEMU is probed on first use, not at start-up. */
                update_caps_cache(d);
                kill_qemus(d->dir);
                remove_tree(d->dir);
        }
        g_free(d->dir);
        g_free(d->socket);
        g_free(d->uri);
        g_free(d->caps_cache);
        g_free(d);
}

const char *vdpa_test_libvirtd_get_uri(VdpaTestLibvirtd *d)
{
        return d->uri;
}

const char *vdpa_test_libvirtd_get_dir(VdpaTestLibvirtd *d)
{
        return d->dir;
}

pid_t vdpa_test_libvirtd_get_pid(VdpaTestLibvirtd *d)
{
        return d->pid;
}

gint64 vdpa_test_libvirtd_get_startup_usec(VdpaTestLibvirtd *d)
{
        return d->startup_usec;
}

char *vdpa_test_libvirtd_get_log_path(VdpaTestLibvirtd *d)
{
        return g_build_filename(d->dir, "log", "libvirtd.log", NULL);
}

void vdpa_test_libvirtd_pause(VdpaTestLibvirtd *d)
{
        gint64 deadline = g_get_monotonic_time() + GONE_TIMEOUT_MS * 1000;

        g_return_if_fail(d->pid > 0);
        kill(d->pid, SIGSTOP);
        d->paused = TRUE;
        /* Return only once it is stopped: the caller's next call must hang. */
        while (pid_state(d->pid) != 'T' && g_get_monotonic_time() < deadline)
                g_usleep(1000);
}

void vdpa_test_libvirtd_resume(VdpaTestLibvirtd *d)
{
        if (d->pid <= 0 || !d->paused)
                return;
        kill(d->pid, SIGCONT);
        d->paused = FALSE;
}

/* ---- domains ---- */

char *vdpa_test_domain_name_new(void)
{
        static gint counter = 0;

        return g_strdup_printf("vdpa-test-%d-%d", getpid(), g_atomic_int_add(&counter, 1));
}

static char *template_path(void)
{
        const char *data = g_getenv("VDPA_TEST_DATA");
        const char *srcdir = g_getenv("VDPA_TEST_SRCDIR");

        if (data)
                return g_build_filename(data, "domain-tiny.xml", NULL);
        return g_build_filename(srcdir ? srcdir : ".", "tests", "data", "domain-tiny.xml", NULL);
}

static xmlNode *child_element(xmlNode *parent, const char *name)
{
        for (xmlNode *n = parent->children; n; n = n->next)
                if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name))
                        return n;
        return NULL;
}

/* Replaces NODE's content with TEXT, escaped as text (xmlNodeSetContent()
 * would interpret entity references). */
static void set_text(xmlNode *node, const char *text)
{
        xmlNodeSetContent(node, NULL);
        xmlNodeAddContent(node, BAD_CAST text);
}

static void add_tuning(xmlNode *root, const VdpaTestDomainOptions *options)
{
        if (options->vcpu_pins && options->vcpu_pins[0]) {
                xmlNode *cputune = xmlNewChild(root, NULL, BAD_CAST "cputune", NULL);

                for (guint i = 0; options->vcpu_pins[i]; i++) {
                        xmlNode *pin = xmlNewChild(cputune, NULL, BAD_CAST "vcpupin", NULL);
                        char vcpu[16];

                        g_snprintf(vcpu, sizeof(vcpu), "%u", i);
                        xmlNewProp(pin, BAD_CAST "vcpu", BAD_CAST vcpu);
                        xmlNewProp(pin, BAD_CAST "cpuset", BAD_CAST options->vcpu_pins[i]);
                }
        }
        if (options->numa_nodeset) {
                xmlNode *numatune = xmlNewChild(root, NULL, BAD_CAST "numatune", NULL);
                xmlNode *memory = xmlNewChild(numatune, NULL, BAD_CAST "memory", NULL);

                xmlNewProp(memory, BAD_CAST "mode", BAD_CAST "strict");
                xmlNewProp(memory, BAD_CAST "nodeset", BAD_CAST options->numa_nodeset);
        }
}

char *vdpa_test_domain_build_xml(const char *name, const VdpaTestDomainOptions *options,
                                 GError **error)
{
        static const VdpaTestDomainOptions defaults = { 0 };
        g_autofree char *path = template_path();
        g_autoptr(xmlDoc) doc = NULL;
        xmlNode *root, *name_node, *vcpu_node;
        xmlChar *buf = NULL;
        char count[16];
        char *xml;
        guint vcpus;
        int len = 0;

        if (!options)
                options = &defaults;
        doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
        root = doc ? xmlDocGetRootElement(doc) : NULL;
        name_node = root ? child_element(root, "name") : NULL;
        vcpu_node = root ? child_element(root, "vcpu") : NULL;
        if (!name_node || !vcpu_node) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                            "%s: not a domain template with <name> and <vcpu>", path);
                return NULL;
        }
        set_text(name_node, name);

        vcpus = options->vcpus;
        if (vcpus == 0)
                vcpus = MAX(1u, options->vcpu_pins ? g_strv_length((char **) options->vcpu_pins) : 0u);
        g_snprintf(count, sizeof(count), "%u", vcpus);
        set_text(vcpu_node, count);
        add_tuning(root, options);

        xmlDocDumpFormatMemory(doc, &buf, &len, 1);
        if (!buf) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot serialize domain XML");
                return NULL;
        }
        xml = g_strndup((const char *) buf, (gsize) len);
        xmlFree(buf);
        return xml;
}

static virConnectPtr open_for_helper(const char *uri, GError **error)
{
        /* Generous: a domain helper is not the place to detect a hung
         * daemon, vdpa_test_libvirt_open() with a short timeout is. */
        return vdpa_test_libvirt_open(uri, 30000, error);
}

gboolean vdpa_test_define_domain_full(const char *uri, const char *name, gboolean start,
                                      const VdpaTestDomainOptions *options, GError **error)
{
        _cleanup_conn_ virConnectPtr conn = NULL;
        _cleanup_domain_ virDomainPtr dom = NULL;
        g_autofree char *xml = NULL;

        xml = vdpa_test_domain_build_xml(name, options, error);
        if (!xml)
                return FALSE;
        conn = open_for_helper(uri, error);
        if (!conn)
                return FALSE;
        dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
        if (!dom)
                return set_libvirt_error(error, "virDomainDefineXMLFlags");
        if (start && virDomainCreate(dom) < 0) {
                /* All or nothing: a domain that cannot start is not left
                 * defined. */
                set_libvirt_error(error, "virDomainCreate");
                (void) virDomainUndefine(dom);
                return FALSE;
        }
        return TRUE;
}

gboolean vdpa_test_define_domain(const char *uri, const char *name, gboolean start,
                                 GError **error)
{
        return vdpa_test_define_domain_full(uri, name, start, NULL, error);
}

char *vdpa_test_domain_xml(const char *uri, const char *name, gboolean inactive,
                           GError **error)
{
        _cleanup_conn_ virConnectPtr conn = NULL;
        _cleanup_domain_ virDomainPtr dom = NULL;
        char *xml, *copy;

        conn = open_for_helper(uri, error);
        if (!conn)
                return NULL;
        dom = virDomainLookupByName(conn, name);
        if (!dom) {
                set_libvirt_error(error, "virDomainLookupByName");
                return NULL;
        }
        xml = virDomainGetXMLDesc(dom, inactive ? VIR_DOMAIN_XML_INACTIVE : 0);
        if (!xml) {
                set_libvirt_error(error, "virDomainGetXMLDesc");
                return NULL;
        }
        /* Callers free with g_free(). */
        copy = g_strdup(xml);
        free(xml);
        return copy;
}

gboolean vdpa_test_undefine_domain(const char *uri, const char *name, GError **error)
{
        _cleanup_conn_ virConnectPtr conn = NULL;
        _cleanup_domain_ virDomainPtr dom = NULL;
        int persistent;

        conn = open_for_helper(uri, error);
        if (!conn)
                return FALSE;
        dom = virDomainLookupByName(conn, name);
        if (!dom)
                return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ||
                       set_libvirt_error(error, "virDomainLookupByName");
        persistent = virDomainIsPersistent(dom);
        if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0)
                return set_libvirt_error(error, "virDomainDestroy");
        if (persistent != 1)
                return TRUE;
        if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                        VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                        VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
                                        VIR_DOMAIN_UNDEFINE_NVRAM) < 0)
                return set_libvirt_error(error, "virDomainUndefineFlags");
        return TRUE;
}
