/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Process helpers shared by the test harnesses (harness.c, polkit-harness.c,
 * libvirtd-harness.c).
 */
#pragma once

#include <glib.h>

/* Start ARGV as a child that GLib does not reap, with stdin from /dev/null
 * and stdout and stderr on OUT_FD, passing SOURCE_FDS as TARGET_FDS.
 * SETUP runs in the child before exec (e.g. PR_SET_PDEATHSIG).
 *
 * The /dev/null descriptor is opened here, and no working directory is
 * set: a fork()ed child of a threaded test runs under umockdev's preload,
 * whose chdir()/open() wrappers take a lock that another thread may have
 * held at fork time, and then the child hangs forever.  The child only
 * dup2()s and execs. */
gboolean vdpa_test_spawn(const char *const *argv, const char *const *envp, GSpawnFlags flags,
                         GSpawnChildSetupFunc setup, gpointer setup_data, int out_fd,
                         const int *source_fds, const int *target_fds, gsize n_fds,
                         GPid *ret_pid, GError **error);

/* TRUE while PID exists and is not a zombie. */
gboolean vdpa_test_pid_alive(GPid pid);

/* The parent of PID from /proc, 0 when unknown. */
GPid vdpa_test_pid_parent(GPid pid);

/* Waits up to TIMEOUT_MS for PID (our child or not) to end: its pidfd
 * turns readable then, so nothing is polled on a timer.  TRUE once it has
 * ended (a zombie has), or when there is no such process. */
gboolean vdpa_test_wait_ended(GPid pid, guint timeout_ms);

/* Reaps our child PID within TIMEOUT_MS: 0 and *STATUS (may be NULL),
 * -ETIMEDOUT, or -errno of waitpid() (-ECHILD: reaped by someone else). */
int vdpa_test_wait_child(GPid pid, guint timeout_ms, int *status);

/* Waits for PID (not necessarily our child) to end, reaping it if it was
 * adopted by this (subreaper) process; SIGKILL after TIMEOUT_MS, FALSE
 * then. */
gboolean vdpa_test_wait_gone(GPid pid, guint timeout_ms);
