/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the service-test harness itself: the private bus is a real
 * system-type bus with the project's policy, the daemon starts and stops
 * on it (directly and by activation), and nothing outlives the harness.
 */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "harness.h"
#include "vdpa-names.h"

static void assert_gone(GPid pid)
{
        gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

        while (vdpa_test_pid_alive(pid)) {
                if (g_get_monotonic_time() > deadline)
                        g_error("pid %d is still alive 5 s after the harness was to end it", pid);
                (void) waitpid(pid, NULL, WNOHANG);
                g_usleep(10 * 1000);
        }
        g_assert_false(vdpa_test_pid_alive(pid));
}

static void get_nobody(uid_t *uid, gid_t *gid)
{
        const struct passwd *pw = getpwnam("nobody");

        g_assert_nonnull(pw);
        g_assert_cmpuint(pw->pw_uid, !=, 0);
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
}

static guint32 request_name(GDBusConnection *c, const char *name, GError **error)
{
        g_autoptr(GVariant) r = NULL;
        guint32 ret = 0;

        r = vdpa_test_call_full(c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus", "RequestName",
                                g_variant_new("(su)", name, 4 /* DO_NOT_QUEUE */), "(u)",
                                G_DBUS_CALL_FLAGS_NONE, 5000, error);
        if (r)
                g_variant_get(r, "(u)", &ret);
        return ret;
}

static void test_bus_basic(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) names = NULL, creds = NULL, uid = NULL;
        g_autofree char *tmpdir = NULL;
        VdpaTestBus *bus;
        GPid bus_pid;

        bus = vdpa_test_bus_new(&error);
        g_assert_no_error(error);
        g_assert_nonnull(bus);
        g_assert_true(g_str_has_prefix(vdpa_test_bus_get_address(bus), "unix:path="));
        bus_pid = vdpa_test_bus_get_pid(bus);
        g_assert_true(vdpa_test_pid_alive(bus_pid));
        tmpdir = g_strdup(vdpa_test_bus_get_tmpdir(bus));
        g_assert_true(g_file_test(tmpdir, G_FILE_TEST_IS_DIR));

        names = vdpa_test_call_full(vdpa_test_bus_get_connection(bus), "org.freedesktop.DBus",
                                    "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                    "ListNames", NULL, "(as)", G_DBUS_CALL_FLAGS_NONE, 5000,
                                    &error);
        g_assert_no_error(error);
        {
                g_autofree const char **list = NULL;

                g_variant_get(names, "(^a&s)", &list);
                g_assert_true(g_strv_contains(list, "org.freedesktop.DBus"));
                g_assert_false(g_strv_contains(list, VDPA_BUS_NAME));
        }

        /* The bus sees us as root: what policy and polkit will key on. */
        creds = vdpa_test_call_full(vdpa_test_bus_get_connection(bus), "org.freedesktop.DBus",
                                    "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                    "GetConnectionCredentials",
                                    g_variant_new("(s)", g_dbus_connection_get_unique_name(
                                                          vdpa_test_bus_get_connection(bus))),
                                    "(a{sv})", G_DBUS_CALL_FLAGS_NONE, 5000, &error);
        g_assert_no_error(error);
        {
                g_autoptr(GVariant) dict = g_variant_get_child_value(creds, 0);

                uid = g_variant_lookup_value(dict, "UnixUserID", G_VARIANT_TYPE_UINT32);
                g_assert_nonnull(uid);
                g_assert_cmpuint(g_variant_get_uint32(uid), ==, getuid());
        }

        vdpa_test_bus_free(bus);
        assert_gone(bus_pid);
        g_assert_false(g_file_test(tmpdir, G_FILE_TEST_EXISTS));
}

static void test_bus_policy(void)
{
        g_autoptr(VdpaTestBus) bus = vdpa_test_bus_new_or_die();
        g_autoptr(GDBusConnection) other = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *copy = NULL;
        uid_t uid;
        gid_t gid;

        copy = g_build_filename(vdpa_test_bus_get_tmpdir(bus), "policy",
                                "org.vdpa.Manager.conf", NULL);
        g_assert_true(g_file_test(copy, G_FILE_TEST_IS_REGULAR));

        /* System-type default deny: even root owns no name without a policy. */
        other = vdpa_test_bus_connect(bus, &error);
        g_assert_no_error(error);
        request_name(other, "org.vdpa.NotInAnyPolicy", &error);
        vdpa_test_assert_error_name(error, "org.freedesktop.DBus.Error.AccessDenied");
        g_clear_error(&error);

        /* The project's policy is read: root may own org.vdpa.Manager... */
        g_assert_cmpuint(request_name(other, VDPA_BUS_NAME, &error), ==, 1 /* PRIMARY_OWNER */);
        g_assert_no_error(error);
        g_assert_cmpint(vdpa_test_bus_get_name_owner_pid(bus, VDPA_BUS_NAME), ==, getpid());

        /* ...and nobody else may. */
        get_nobody(&uid, &gid);
        r = vdpa_test_call_as_uid_full(bus, uid, gid, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "ListNames", NULL, 0, &error);
        g_assert_no_error(error);
        g_assert_true(g_variant_is_of_type(r, G_VARIANT_TYPE("(as)")));
        g_clear_pointer(&r, g_variant_unref);

        r = vdpa_test_call_as_uid_full(bus, uid, gid, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "RequestName", g_variant_new("(su)", VDPA_BUS_NAME, 4),
                                       0, &error);
        g_assert_null(r);
        vdpa_test_assert_error_name(error, "org.freedesktop.DBus.Error.AccessDenied");
}

static void test_call_errors(void)
{
        g_autoptr(VdpaTestBus) bus = vdpa_test_bus_new_or_die();
        g_autoptr(GVariant) r = NULL;
        g_autoptr(GError) error = NULL;

        /* No owner and no service file: not activatable. */
        r = vdpa_test_call(bus, "Devices", NULL, "(aa{sv})", &error);
        g_assert_null(r);
        vdpa_test_assert_error_name(error, "org.freedesktop.DBus.Error.ServiceUnknown");
        g_clear_error(&error);

        r = vdpa_test_call_full(vdpa_test_bus_get_connection(bus), "org.freedesktop.DBus",
                                "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                "NoSuchMethod", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, 5000, &error);
        g_assert_null(r);
        vdpa_test_assert_error_name(error, "org.freedesktop.DBus.Error.UnknownMethod");
}

static void test_recorder(void)
{
        g_autoptr(VdpaTestBus) bus = vdpa_test_bus_new_or_die();
        g_autoptr(VdpaTestRecorder) rec = vdpa_test_recorder_new(bus);
        g_autoptr(GDBusConnection) fake = NULL;
        g_autoptr(GError) error = NULL;
        const VdpaTestSignal *s;
        const char *name;

        /* A stand-in for the service: the recorder must not care who it is. */
        fake = vdpa_test_bus_connect(bus, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(request_name(fake, VDPA_BUS_NAME, &error), ==, 1);
        g_assert_no_error(error);

        g_dbus_connection_emit_signal(fake, NULL, "/elsewhere", VDPA_INTERFACE, "DeviceRemoved",
                                      g_variant_new("(s)", "ignored"), &error);
        g_assert_no_error(error);
        g_dbus_connection_emit_signal(fake, NULL, VDPA_OBJECT_PATH, VDPA_INTERFACE, "DeviceAdded",
                                      g_variant_new("(s@a{sv})", "vdpa0",
                                                    g_variant_new_array(G_VARIANT_TYPE("{sv}"),
                                                                        NULL, 0)),
                                      &error);
        g_assert_no_error(error);
        g_dbus_connection_emit_signal(fake, NULL, VDPA_OBJECT_PATH, VDPA_INTERFACE,
                                      "DeviceRemoved", g_variant_new("(s)", "vdpa0"), &error);
        g_assert_no_error(error);
        g_dbus_connection_flush_sync(fake, NULL, &error);
        g_assert_no_error(error);

        g_assert_true(vdpa_test_recorder_wait(rec, "DeviceRemoved", 1, 5000));
        g_assert_cmpuint(vdpa_test_recorder_count(rec, NULL), ==, 2);
        s = vdpa_test_recorder_nth(rec, NULL, 0);
        g_assert_cmpstr(s->member, ==, "DeviceAdded");
        g_assert_cmpstr(s->interface, ==, VDPA_INTERFACE);
        g_variant_get(s->parameters, "(&sa{sv})", &name, NULL);
        g_assert_cmpstr(name, ==, "vdpa0");
        g_assert_null(vdpa_test_recorder_nth(rec, "DeviceAdded", 1));

        /* Nothing more arrives, and a wait for it times out. */
        g_assert_false(vdpa_test_recorder_wait(rec, "DeviceAdded", 2, 200));
        vdpa_test_recorder_clear(rec);
        g_assert_cmpuint(vdpa_test_recorder_count(rec, NULL), ==, 0);
}

static void test_daemon_start_stop(void)
{
        g_autoptr(VdpaTestBus) bus = vdpa_test_bus_new_or_die();
        g_autoptr(GVariant) devices = NULL;
        g_autoptr(GError) error = NULL;
        GPid pid;

        pid = vdpa_test_daemon_start_or_die(bus, NULL);
        g_assert_true(vdpa_test_daemon_is_running(bus));
        g_assert_cmpint(vdpa_test_bus_get_name_owner_pid(bus, VDPA_BUS_NAME), ==, pid);

        devices = vdpa_test_call(bus, "Devices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);

        vdpa_test_daemon_stop_assert_ok(bus);
        g_assert_false(vdpa_test_pid_alive(pid));
        g_assert_cmpint(vdpa_test_bus_get_name_owner_pid(bus, VDPA_BUS_NAME), ==, 0);

        /* A second start on the same bus works and logs afresh. */
        vdpa_test_daemon_start_or_die(bus, NULL);
        vdpa_test_daemon_stop_assert_ok(bus);
}

static void test_daemon_exits_with_bus(void)
{
        VdpaTestBus *bus = vdpa_test_bus_new_or_die();
        GPid pid, bus_pid = vdpa_test_bus_get_pid(bus);

        pid = vdpa_test_daemon_start_or_die(bus, NULL);
        /* DESIGN: the daemon exits 0 when its bus disconnects. */
        kill(bus_pid, SIGTERM);
        g_assert_cmpint(vdpa_test_daemon_wait_exit(bus, 20000), ==, 0);
        g_assert_false(vdpa_test_pid_alive(pid));
        vdpa_test_bus_free(bus);
        assert_gone(bus_pid);
}

static void test_daemon_activation(void)
{
        VdpaTestBus *bus = vdpa_test_bus_new_or_die();
        g_autoptr(GVariant) r = NULL;
        g_autoptr(GError) error = NULL;
        GPid owner, bus_pid = vdpa_test_bus_get_pid(bus);

        g_assert_true(vdpa_test_bus_write_activation(bus, NULL, &error));
        g_assert_no_error(error);

        /* Any call to the name starts the daemon, as in production. */
        r = vdpa_test_call_full(vdpa_test_bus_get_connection(bus), VDPA_BUS_NAME,
                                VDPA_OBJECT_PATH, "org.freedesktop.DBus.Peer", "Ping", NULL,
                                NULL, G_DBUS_CALL_FLAGS_NONE, 30000, &error);
        g_assert_no_error(error);
        owner = vdpa_test_bus_get_name_owner_pid(bus, VDPA_BUS_NAME);
        g_assert_cmpint(owner, >, 0);
        g_assert_cmpint(owner, !=, getpid());
        g_assert_cmpint(vdpa_test_daemon_get_pid(bus), ==, 0);

        /* It was started by dbus-daemon, and still sees the testbed. */
        {
                g_autofree char *path = g_strdup_printf("/proc/%d/environ", owner);
                g_autofree char *env = NULL;
                g_autofree char *want = g_strdup_printf("UMOCKDEV_DIR=%s", g_getenv("UMOCKDEV_DIR"));
                gsize len = 0;
                gboolean found = FALSE;

                g_assert_true(g_file_get_contents(path, &env, &len, NULL));
                for (const char *e = env; e < env + len; e += strlen(e) + 1)
                        found = found || g_str_equal(e, want);
                g_assert_true(found);
        }

        vdpa_test_bus_free(bus);
        assert_gone(owner);
        assert_gone(bus_pid);
}

static G_NORETURN void test_cleanup_on_abort_child(void)
{
        VdpaTestBus *bus = vdpa_test_bus_new_or_die();
        g_autofree char *pid = g_strdup_printf("%d %s", vdpa_test_bus_get_pid(bus),
                                               vdpa_test_bus_get_tmpdir(bus));

        g_assert_true(g_file_set_contents(g_getenv("HARNESS_PID_FILE"), pid, -1, NULL));
        g_error("deliberate failure with a live bus");
}

static void test_cleanup_on_abort(void)
{
        g_autofree char *dir = g_dir_make_tmp("harness-abort-XXXXXX", NULL);
        g_autofree char *file = g_build_filename(dir, "pid", NULL);
        g_autofree char *text = NULL;
        char *tmpdir;
        GPid bus_pid;

        if (g_test_subprocess()) {
                test_cleanup_on_abort_child();
                return;
        }
        g_setenv("HARNESS_PID_FILE", file, TRUE);
        g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
        g_test_trap_assert_failed();
        g_test_trap_assert_stderr("*deliberate failure*");
        g_assert_true(g_file_get_contents(file, &text, NULL, NULL));
        bus_pid = (GPid) g_ascii_strtoll(text, &tmpdir, 10);
        g_assert_cmpint(bus_pid, >, 0);
        assert_gone(bus_pid);
        /* An aborted test keeps its logs for inspection; this one is ours. */
        tmpdir = g_strstrip(tmpdir);
        g_assert_true(g_str_has_prefix(tmpdir, g_get_tmp_dir()));
        g_assert_true(g_file_test(tmpdir, G_FILE_TEST_IS_DIR));
        g_assert_true(g_spawn_sync(NULL, (char *[]) { "rm", "-rf", "--", tmpdir, NULL }, NULL,
                                   G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL));
        g_unlink(file);
        g_rmdir(dir);
}

int main(int argc, char **argv)
{
        g_autoptr(UMockdevTestbed) testbed = NULL;
        g_autoptr(GError) error = NULL;
        int r;

        g_test_init(&argc, &argv, NULL);

        /* Before any bus, so dbus-daemon and the daemon inherit it. */
        testbed = vdpa_test_testbed_new(NULL, &error);
        g_assert_no_error(error);
        g_assert_true(umockdev_in_mock_environment());

        g_test_add_func("/harness/bus/basic", test_bus_basic);
        g_test_add_func("/harness/bus/policy", test_bus_policy);
        g_test_add_func("/harness/call/errors", test_call_errors);
        g_test_add_func("/harness/recorder", test_recorder);
        g_test_add_func("/harness/cleanup-on-abort", test_cleanup_on_abort);
        g_test_add_func("/harness/daemon/start-stop", test_daemon_start_stop);
        g_test_add_func("/harness/daemon/exits-with-bus", test_daemon_exits_with_bus);
        g_test_add_func("/harness/daemon/activation", test_daemon_activation);

        r = g_test_run();
        return r;
}
