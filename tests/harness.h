/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Service-test harness: a private system-type dbus-daemon in a temporary
 * directory, with the project's bus policy, and the real vdpa-managerd
 * started on it (directly or by bus activation).
 *
 * Rules the harness enforces or relies on:
 *  - The test binary runs under umockdev-wrapper (tests/meson.build wraps
 *    it) and creates its UMockdevTestbed (vdpa_test_testbed_new()) BEFORE
 *    vdpa_test_bus_new(), so that dbus-daemon and every daemon it starts
 *    inherit UMOCKDEV_DIR and LD_PRELOAD.
 *  - Environment set by tests/meson.build: VDPA_MANAGERD (the daemon
 *    binary), VDPA_TEST_SRCDIR (for policy/org.vdpa.Manager.conf and
 *    tests/private-bus.conf.in), VDPA_TEST_DATA (umockdev files).
 *    VDPA_TEST_DAEMON_WRAPPER (e.g. "valgrind --error-exitcode=97 ...",
 *    set by `meson test --setup=valgrind`) is prefixed to the daemon's
 *    command line.
 *  - Every process the harness starts is killed and reaped by
 *    vdpa_test_bus_free(), and also when the test aborts (a failed
 *    g_assert) or is terminated: children get PR_SET_PDEATHSIG, and a
 *    SIGABRT/SIGTERM handler kills them after copying the daemon's log to
 *    stderr.  The test process is a child subreaper, so a bus-activated
 *    daemon (a grandchild) is reaped here too.
 *
 * Unless the caller passes them itself, the daemon gets
 * --state-dir=TMP/state, --config=TMP/vdpa-manager.conf (an empty file:
 * the built-in defaults) and --libvirt-uri=test:///default, so a test never
 * touches the host's state or libvirt by accident.
 */
#pragma once

#include <sys/types.h>

#include <gio/gio.h>
#include <umockdev.h>

#include "spawn-util.h"

typedef struct VdpaTestBus VdpaTestBus;

/* ---- umockdev ---- */

/* Creates the testbed; FILE (may be NULL) is loaded from VDPA_TEST_DATA
 * unless it is an absolute path. */
UMockdevTestbed *vdpa_test_testbed_new(const char *file, GError **error);

/* ---- the bus ---- */

VdpaTestBus *vdpa_test_bus_new(GError **error);
void vdpa_test_bus_free(VdpaTestBus *bus);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaTestBus, vdpa_test_bus_free)

/* Like vdpa_test_bus_new(), but g_assert_no_error() on failure. */
VdpaTestBus *vdpa_test_bus_new_or_die(void);

const char *vdpa_test_bus_get_address(VdpaTestBus *bus);
GDBusConnection *vdpa_test_bus_get_connection(VdpaTestBus *bus);
const char *vdpa_test_bus_get_tmpdir(VdpaTestBus *bus);
const char *vdpa_test_bus_get_state_dir(VdpaTestBus *bus);
/* The config file passed by default; tests may rewrite it before start. */
const char *vdpa_test_bus_get_config_path(VdpaTestBus *bus);
GPid vdpa_test_bus_get_pid(VdpaTestBus *bus);

/* Opens one more client connection to the bus (e.g. a second caller). */
GDBusConnection *vdpa_test_bus_connect(VdpaTestBus *bus, GError **error);

/* The pid of the current owner of NAME, 0 when it has none. */
GPid vdpa_test_bus_get_name_owner_pid(VdpaTestBus *bus, const char *name);

/* Writes TMP/services/org.vdpa.Manager.service (Exec=[wrapper]
 * VDPA_MANAGERD [--verbose] daemon_args + the defaults above, User=root),
 * so that the first call to org.vdpa.Manager activates the daemon. */
gboolean vdpa_test_bus_write_activation(VdpaTestBus *bus,
                                        const char *const *daemon_args,
                                        GError **error);

/* The daemon runs under `setpriv --bounding-set=CAPS` (default
 * "-all,+net_admin": exactly the unit's CapabilityBoundingSet=), for the
 * starts and activation files written after this call; NULL restores the
 * default.  "-all" gives a daemon without CAP_NET_ADMIN. */
void vdpa_test_bus_set_daemon_bounding_set(VdpaTestBus *bus, const char *caps);

/* ---- the daemon, started directly ---- */

/* Spawns VDPA_MANAGERD --bus-address=ADDR --verbose EXTRA_ARGS (+ the
 * defaults above) with stdout/stderr appended to TMP/daemon.log, then waits
 * (10 s, 20 s with a wrapper) until it owns org.vdpa.Manager.  On failure
 * (early exit, timeout) the daemon is reaped, its log is printed, and 0 is
 * returned with ERROR set. */
GPid vdpa_test_daemon_start(VdpaTestBus *bus, const char *const *extra_args,
                            GError **error);
/* The same, g_assert_no_error() on failure. */
GPid vdpa_test_daemon_start_or_die(VdpaTestBus *bus, const char *const *extra_args);

/* Sends SIGTERM and waits (bounded; then SIGKILL).  Returns the exit code,
 * 128+N if killed by signal N, -1 if it had to be killed after the timeout
 * or no daemon was running.  The log is printed when the result is not 0. */
int vdpa_test_daemon_stop(VdpaTestBus *bus);
/* Stops the daemon and asserts it exited 0: leaks under valgrind or
 * ASan/LSan make it exit non-zero, so they fail the test. */
void vdpa_test_daemon_stop_assert_ok(VdpaTestBus *bus);

/* Sends SIGNUM (e.g. SIGKILL for crash tests) and reaps; returns as
 * vdpa_test_daemon_stop(). */
int vdpa_test_daemon_kill(VdpaTestBus *bus, int signum);

/* Waits up to TIMEOUT_MS for a daemon that should exit on its own (bad
 * config, bus gone).  Returns as vdpa_test_daemon_stop(); -2 on timeout
 * (the daemon is left running). */
int vdpa_test_daemon_wait_exit(VdpaTestBus *bus, guint timeout_ms);

/* FALSE once it has exited (then reaped, its log printed if it failed). */
gboolean vdpa_test_daemon_is_running(VdpaTestBus *bus);
GPid vdpa_test_daemon_get_pid(VdpaTestBus *bus);
/* Output of the most recent start (not of earlier ones). */
char *vdpa_test_daemon_get_log(VdpaTestBus *bus);

/* ---- calls ---- */

/* Calls org.vdpa.Manager.METHOD on /org/vdpa/Manager (PARAMETERS is
 * consumed if floating; NULL for no arguments).  REPLY_TYPE may be NULL. */
GVariant *vdpa_test_call(VdpaTestBus *bus, const char *method,
                         GVariant *parameters, const char *reply_type,
                         GError **error);
GVariant *vdpa_test_call_full(GDBusConnection *connection,
                              const char *destination, const char *path,
                              const char *interface, const char *method,
                              GVariant *parameters, const char *reply_type,
                              GDBusCallFlags flags, int timeout_ms,
                              GError **error);
/* Reads a property of org.vdpa.Manager (the unboxed value). */
GVariant *vdpa_test_get_property(VdpaTestBus *bus, const char *name, GError **error);
/* Wait until the daemon's LibvirtConnected is WANT (its first libvirt scan
 * runs after it took the name); g_error() after TIMEOUT_MS.  Returns the
 * time it took, in microseconds. */
gint64 vdpa_test_wait_libvirt_connected(VdpaTestBus *bus, gboolean want, guint timeout_ms);
/* Waits until the daemon's OperationsInFlight is 0: every Claim, Release,
 * CheckMigration and roll-back it was given has ended.  Only calls the
 * daemon has received count: a caller must know its calls arrived (e.g.
 * they were answered, or their senders' NameOwnerChanged was seen, which
 * the bus sends after it forwarded their messages).  Fails the test naming
 * the count still in flight after TIMEOUT_MS.  Returns the time waited. */
gint64 vdpa_test_wait_operations_done(VdpaTestBus *bus, guint timeout_ms);

/* The D-Bus error name carried by ERROR, or NULL. */
char *vdpa_test_error_name(const GError *error);

#define vdpa_test_assert_error_name(error, name)                        \
        G_STMT_START {                                                  \
                g_autofree char *_n = vdpa_test_error_name(error);      \
                if (!(error))                                           \
                        g_error("expected D-Bus error %s, got success", (name)); \
                g_assert_cmpstr(_n, ==, (name));                        \
        } G_STMT_END

/* ---- calls from another user ---- */

/* Runs `gdbus call` as UID/GID (setresgid/setresuid, no supplementary
 * groups) on the bus and parses its result, so policy and polkit see a
 * genuine non-root peer.  Errors come back as D-Bus errors
 * (vdpa_test_error_name() works on them).  FLAGS: only
 * G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION is honoured. */
GVariant *vdpa_test_call_as_uid(VdpaTestBus *bus, uid_t uid, gid_t gid,
                                const char *method, GVariant *parameters,
                                GDBusCallFlags flags, GError **error);
GVariant *vdpa_test_call_as_uid_full(VdpaTestBus *bus, uid_t uid, gid_t gid,
                                     const char *destination, const char *path,
                                     const char *interface, const char *method,
                                     GVariant *parameters, GDBusCallFlags flags,
                                     GError **error);

/* ---- signals ---- */

typedef struct {
        char *interface;
        char *member;
        GVariant *parameters;
} VdpaTestSignal;

typedef struct VdpaTestRecorder VdpaTestRecorder;

/* Records every signal org.vdpa.Manager emits on /org/vdpa/Manager (any
 * interface, so PropertiesChanged too), dispatched in the thread-default
 * main context.  The match rule is in force when this returns. */
VdpaTestRecorder *vdpa_test_recorder_new(VdpaTestBus *bus);
void vdpa_test_recorder_free(VdpaTestRecorder *rec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaTestRecorder, vdpa_test_recorder_free)

/* Array of VdpaTestSignal*, in arrival order. */
GPtrArray *vdpa_test_recorder_get_signals(VdpaTestRecorder *rec);
/* Signals named MEMBER (NULL: all) received so far. */
guint vdpa_test_recorder_count(VdpaTestRecorder *rec, const char *member);
/* Iterates the main context until COUNT signals named MEMBER (NULL: any)
 * have arrived; FALSE on timeout. */
gboolean vdpa_test_recorder_wait(VdpaTestRecorder *rec, const char *member,
                                 guint count, guint timeout_ms);
/* The N-th (0-based) signal named MEMBER, or NULL. */
const VdpaTestSignal *vdpa_test_recorder_nth(VdpaTestRecorder *rec,
                                             const char *member, guint n);
void vdpa_test_recorder_clear(VdpaTestRecorder *rec);
/* The first signal MEMBER whose first argument (a device name) is NAME
 * recorded so far, or NULL. */
const VdpaTestSignal *vdpa_test_recorder_find_device(VdpaTestRecorder *rec, const char *member, const char *name);
/* Iterates the main context until such a signal is recorded; fails the
 * test naming MEMBER and NAME after TIMEOUT_MS. */
const VdpaTestSignal *vdpa_test_recorder_wait_device(VdpaTestRecorder *rec, const char *member, const char *name,
                                                     guint timeout_ms);

/* The address a dbus-daemon started with --print-address=N writes on FD
 * once it listens (its first line), within TIMEOUT_MS. */
gboolean vdpa_test_read_bus_address(int fd, guint timeout_ms, char **out, GError **error);

/* ---- device dictionaries and iproute2 ---- */

/* GetDevice(NAME)'s a{sv}; fails the test on an error. */
GVariant *vdpa_test_get_device(VdpaTestBus *bus, const char *name);
/* The value of KEY in an a{sv}; fails the test naming KEY when it is
 * missing or of another type. */
const char *vdpa_test_dict_str(GVariant *dict, const char *key);
guint vdpa_test_dict_q(GVariant *dict, const char *key);
guint vdpa_test_dict_u(GVariant *dict, const char *key);
gboolean vdpa_test_dict_b(GVariant *dict, const char *key);
/* Runs Debian's iproute2 /usr/sbin/vdpa with ARGS (fails the test when it
 * is missing); its exit status, 128+N for signal N. */
int vdpa_test_run_vdpa(const char *const *args, char **ret_out, char **ret_err);

/* ---- misc ---- */

/* vdpa_test_pid_alive() is in spawn-util.h. */
/* Iterates the thread-default main context for MS milliseconds. */
void vdpa_test_iterate(guint ms);
