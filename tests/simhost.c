/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simhost [--fixture FILE] -- COMMAND [ARG...]
 *
 * Runs COMMAND inside a simulated host: a umockdev testbed loaded from
 * FILE (default tests/data/host.umockdev) with the vdpa bus, and the vdpa
 * netlink simulator (tests/vdpa-sim.h) serving it.  COMMAND gets
 * UMOCKDEV_DIR and LD_PRELOAD (umockdev's preload, then ours), so it sees
 * the testbed's /sys and /dev, its uevents, and the "vdpa" family.  Exits
 * with COMMAND's status (128+N when killed by signal N).  Meant to be
 * started through tools/simhost, which finds or builds this binary.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "testbed.h"
#include "vdpa-sim.h"

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig) {
        if (child_pid > 0)
                kill((pid_t) child_pid, sig);
}

/* As vdpa_testbed_isolate_uevent_queue(), but only when allowed (root):
 * a larger uevent queue in a network namespace of our own.  Without it
 * umockdev's sender aborts after 10 queued uevents. */
static void try_isolate(void) {
        int fd;

        if (unshare(CLONE_NEWNET) < 0)
                return;
        fd = open("/proc/sys/net/unix/max_dgram_qlen", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (write(fd, "1024", 4) != 4)
                        perror("simhost: max_dgram_qlen");
                close(fd);
        }
}

static char **child_env(UMockdevTestbed *tb) {
        g_autofree char *root = umockdev_testbed_get_root_dir(tb);
        g_autofree char *preload = vdpa_sim_preload_env();
        char **env = g_get_environ();

        env = g_environ_setenv(env, "UMOCKDEV_DIR", root, TRUE);
        env = g_environ_setenv(env, "LD_PRELOAD", preload, TRUE);
        return env;
}

static int run(char **argv, char **envp) {
        int status;
        pid_t pid = fork();

        if (pid < 0) {
                perror("simhost: fork");
                return 1;
        }
        if (pid == 0) {
                execvpe(argv[0], argv, envp);
                fprintf(stderr, "simhost: %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        child_pid = pid;
        signal(SIGINT, forward_signal);
        signal(SIGTERM, forward_signal);
        signal(SIGHUP, forward_signal);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        perror("simhost: waitpid");
                        return 1;
                }
        child_pid = 0;
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

/* umockdev_testbed_uevent() needs umockdev's preload in this process
 * too (it resolves the device's /sys path through it): re-exec with it. */
static void ensure_umockdev_preload(char **argv) {
        const char *preload = getenv("LD_PRELOAD");
        g_autofree char *value = NULL;

        if (preload && strstr(preload, "libumockdev-preload"))
                return;
        value = g_strdup_printf("libumockdev-preload.so.0%s%s", preload && *preload ? ":" : "",
                                preload ? preload : "");
        setenv("LD_PRELOAD", value, 1);
        execv("/proc/self/exe", argv);
        perror("simhost: re-exec with umockdev's preload");
        exit(1);
}

int main(int argc, char **argv) {
        g_autofree char *fixture = NULL;
        g_autoptr(GOptionContext) ctx = g_option_context_new("-- COMMAND [ARG...]");
        GOptionEntry entries[] = {
                { "fixture", 0, 0, G_OPTION_ARG_FILENAME, &fixture, "umockdev file of the host (default: tests/data/host.umockdev)", "FILE" },
                { NULL },
        };
        g_autoptr(GError) error = NULL;
        g_autoptr(UMockdevTestbed) tb = NULL;
        g_auto(GStrv) envp = NULL;
        VdpaSim *sim;
        int status;

        ensure_umockdev_preload(argv);
        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_summary(ctx, "Runs COMMAND on a simulated host: umockdev testbed + vdpa netlink simulator.");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "simhost: %s\n", error->message);
                return 2;
        }
        /* GOption leaves "--" in place when it is not first. */
        if (argc > 1 && strcmp(argv[1], "--") == 0) {
                argv++;
                argc--;
        }
        if (argc < 2) {
                fprintf(stderr, "usage: simhost [--fixture FILE] -- COMMAND [ARG...]\n");
                return 2;
        }

        try_isolate();
        tb = umockdev_testbed_new();
        /* the bus first, so umockdev files the fixture's vdpa devices
         * under /sys/bus/vdpa as the kernel has them */
        vdpa_testbed_add_vdpa_bus(tb);
        if (!umockdev_testbed_add_from_file(tb, fixture ? fixture : VDPA_SIMHOST_FIXTURE, &error)) {
                fprintf(stderr, "simhost: %s\n", error->message);
                return 1;
        }
        sim = vdpa_sim_start(tb, &error);
        if (!sim) {
                fprintf(stderr, "simhost: %s\n", error->message);
                return 1;
        }
        envp = child_env(tb);
        status = run(argv + 1, envp);
        vdpa_sim_stop(sim);
        return status;
}
