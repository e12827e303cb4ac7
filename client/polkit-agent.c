/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "polkit-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <gio/gio.h>

#define PKTTYAGENT "/usr/bin/pkttyagent"
/* fd number of the notification pipe in the agent. */
#define NOTIFY_FD 3
/* Registration takes milliseconds; do not hang on a broken agent. */
#define REGISTER_TIMEOUT_MS 10000

GPid polkit_agent_open(const char *bus_address) {
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) envp = NULL;
        g_autofree char *notify_arg = g_strdup_printf("%d", NOTIFY_FD);
        g_autofree char *process_arg = g_strdup_printf("%d", (int) getpid());
        const char *argv[] = { PKTTYAGENT, "--notify-fd", notify_arg, "--fallback",
                               "--process", process_arg, NULL };
        int pipefd[2];
        int target = NOTIFY_FD;
        struct pollfd pfd;
        GPid pid = 0;
        char c;

        /* Root is always authorized; without a terminal there is nobody
         * to type a password. */
        if (geteuid() == 0 || !isatty(STDIN_FILENO) || access(PKTTYAGENT, X_OK) < 0)
                return 0;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return 0;

        envp = g_get_environ();
        if (bus_address)
                envp = g_environ_setenv(envp, "DBUS_SYSTEM_BUS_ADDRESS", bus_address, TRUE);

        if (!g_spawn_async_with_pipes_and_fds(NULL, argv, (const char *const *) envp,
                                              G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CHILD_INHERITS_STDIN,
                                              NULL, NULL, -1, -1, -1,
                                              &pipefd[1], &target, 1,
                                              &pid, NULL, NULL, NULL, &error)) {
                g_debug("Cannot start %s: %s", PKTTYAGENT, error->message);
                close(pipefd[0]);
                close(pipefd[1]);
                return 0;
        }
        close(pipefd[1]);

        /* The agent closes (or writes to) the pipe once it is registered. */
        pfd = (struct pollfd) { .fd = pipefd[0], .events = POLLIN };
        while (poll(&pfd, 1, REGISTER_TIMEOUT_MS) < 0 && errno == EINTR)
                ;
        (void) !read(pipefd[0], &c, 1);
        close(pipefd[0]);
        return pid;
}

void polkit_agent_close(GPid pid) {
        if (pid <= 0)
                return;
        (void) kill(pid, SIGTERM);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}
