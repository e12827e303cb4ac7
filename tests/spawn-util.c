/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "spawn-util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <gio/gio.h>

gboolean vdpa_test_spawn(const char *const *argv, const char *const *envp, GSpawnFlags flags,
                         GSpawnChildSetupFunc setup, gpointer setup_data, int out_fd,
                         const int *source_fds, const int *target_fds, gsize n_fds,
                         GPid *ret_pid, GError **error)
{
        int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        gboolean ok;

        if (null_fd < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "/dev/null: %s", g_strerror(errno));
                return FALSE;
        }
        ok = g_spawn_async_with_pipes_and_fds(NULL, argv, envp, flags | G_SPAWN_DO_NOT_REAP_CHILD,
                                              setup, setup_data, null_fd, out_fd, out_fd,
                                              source_fds, target_fds, n_fds,
                                              ret_pid, NULL, NULL, NULL, error);
        close(null_fd);
        return ok;
}

gboolean vdpa_test_pid_alive(GPid pid)
{
        g_autofree char *path = NULL, *stat = NULL;
        const char *p;

        if (pid <= 0)
                return FALSE;
        path = g_strdup_printf("/proc/%d/stat", pid);
        if (!g_file_get_contents(path, &stat, NULL, NULL))
                return FALSE;
        p = strrchr(stat, ')');
        if (!p || p[1] != ' ')
                return TRUE;
        return p[2] != 'Z' && p[2] != 'X';
}

GPid vdpa_test_pid_parent(GPid pid)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
        g_autofree char *stat = NULL;
        const char *p;
        int ppid;

        if (!g_file_get_contents(path, &stat, NULL, NULL))
                return 0;
        p = strrchr(stat, ')');
        if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
                return 0;
        return ppid;
}

gboolean vdpa_test_wait_ended(GPid pid, guint timeout_ms)
{
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;
        struct pollfd p = { .events = POLLIN };
        gboolean ended = FALSE;

        p.fd = pidfd_open(pid, 0);
        if (p.fd < 0)
                return errno == ESRCH;
        for (;;) {
                gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
                int r = poll(&p, 1, (int) CLAMP(left_ms, 0, G_MAXINT));

                if (r > 0 || (r < 0 && errno != EINTR)) {
                        ended = r > 0;
                        break;
                }
                if (r == 0)
                        break;
        }
        close(p.fd);
        return ended;
}

int vdpa_test_wait_child(GPid pid, guint timeout_ms, int *status)
{
        pid_t r;

        if (!vdpa_test_wait_ended(pid, timeout_ms))
                return -ETIMEDOUT;
        do
                r = waitpid(pid, status, 0);
        while (r < 0 && errno == EINTR);
        return r == pid ? 0 : -errno;
}

gboolean vdpa_test_wait_gone(GPid pid, guint timeout_ms)
{
        gboolean gone = vdpa_test_wait_ended(pid, timeout_ms);

        if (!gone) {
                kill(pid, SIGKILL);
                (void) vdpa_test_wait_ended(pid, 1000);
        }
        (void) waitpid(pid, NULL, WNOHANG);
        return gone;
}
