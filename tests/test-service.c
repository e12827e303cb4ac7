/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Service tests: the real vdpa-managerd on a private system-type bus, over
 * a umockdev testbed of tests/data/host.umockdev, talked to over D-Bus as
 * any client would.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

#include "build-config.h"
#include "harness.h"
#include "testbed.h"
#include "vdpa-names.h"

#define GUEST_A_UUID "6695eb01-f6a4-8304-79aa-97f2502e193f"

typedef struct {
        UMockdevTestbed *tb;
        VdpaTestBus *bus;
} Fixture;

typedef struct {
        const char *name;
        const char *sysfs;         /* below /sys/devices */
        const char *driver;
        const char *chardev;
        const char *kind;
        const char *parent;
        const char *pf;
        guint16 vendor;
        guint16 product;
        gint32 numa;
        const char *state;         /* with the default configuration, no libvirt user */
} Expected;

static const Expected host_devices[] = {
        { "blk0", "pci0000:00/0000:00:02.0/0000:04:00.4/blk0", "", "",
          "vf", "0000:04:00.4", "0000:04:00.0", 0x15b3, 0x101e, 0, "unusable" },
        { "fast1", "pci0000:00/0000:00:02.0/0000:04:00.0/mlx5_core.sf.4/fast1", "vhost_vdpa", "/dev/vhost-vdpa-1",
          "sf", "mlx5_core.sf.4", "0000:04:00.0", 0x15b3, 0x101d, 0, "available" },
        { "vdpa-sim0", "vdpasim_net/vdpa-sim0", "vhost_vdpa", "/dev/vhost-vdpa-3",
          "virtual", "", "", 0, 0, -1, "excluded" },
        { "vdpa0", "pci0000:00/0000:00:02.0/0000:04:00.2/vdpa0", "vhost_vdpa", "/dev/vhost-vdpa-0",
          "vf", "0000:04:00.2", "0000:04:00.0", 0x15b3, 0x101e, 0, "available" },
        { "vdpa1", "pci0000:00/0000:00:02.0/0000:04:00.3/vdpa1", "virtio_vdpa", "",
          "vf", "0000:04:00.3", "0000:04:00.0", 0x15b3, 0x101e, 0, "unusable" },
        { "vdpa2", "pci0000:80/0000:80:01.0/0000:81:00.2/vdpa2", "vhost_vdpa", "/dev/vhost-vdpa-2",
          "vf", "0000:81:00.2", "0000:81:00.0", 0x15b3, 0x101e, 1, "available" },
};

static const char *const dict_keys[] = {
        VDPA_KEY_NAME, VDPA_KEY_SYSFS_PATH, VDPA_KEY_DRIVER, VDPA_KEY_CHARDEV,
        VDPA_KEY_PARENT_KIND, VDPA_KEY_PARENT_DEVICE, VDPA_KEY_PHYSICAL_FUNCTION,
        VDPA_KEY_VENDOR_ID, VDPA_KEY_PRODUCT_ID, VDPA_KEY_NUMA_NODE, VDPA_KEY_STATE,
        VDPA_KEY_DOMAIN, VDPA_KEY_DOMAIN_UUID, VDPA_KEY_MAC, VDPA_KEY_CLAIMED_BY,
        VDPA_KEY_TYPE, VDPA_KEY_MANAGEMENT_DEVICE, VDPA_KEY_MAX_QUEUES, VDPA_KEY_MAX_QUEUE_SIZE,
        VDPA_KEY_DEVICE_MAC, VDPA_KEY_MTU, VDPA_KEY_MAX_QUEUE_PAIRS,
        VDPA_KEY_PROVISIONED, VDPA_KEY_REPRESENTOR, VDPA_KEY_PF_NETDEV,
};

static char *node_uri(void) {
        return g_strdup_printf("test://%s/libvirt-node.xml", g_getenv("VDPA_TEST_DATA"));
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;

        /* The testbed first, so that the bus and the daemon inherit it. */
        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        f->bus = vdpa_test_bus_new_or_die();
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        g_clear_pointer(&f->bus, vdpa_test_bus_free);
        g_clear_object(&f->tb);
}

static void write_config(Fixture *f, const char *contents) {
        g_autoptr(GError) error = NULL;

        g_file_set_contents(vdpa_test_bus_get_config_path(f->bus), contents, -1, &error);
        g_assert_no_error(error);
}

/* A round trip to the daemon on the recorders' connection, then the
 * recorders' pending dispatches: every signal the daemon emitted before it
 * answered is recorded when this returns (it sends in order, the bus keeps
 * one sender's order, GDBus queues signals before it hands over a reply). */
static void signal_barrier(Fixture *f) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;

        reply = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);
        g_assert_nonnull(reply);
        while (g_main_context_iteration(NULL, FALSE))
                ;
}

static void assert_dict_complete(GVariant *dict) {
        g_assert_cmpuint(g_variant_n_children(dict), ==, G_N_ELEMENTS(dict_keys));
        for (size_t i = 0; i < G_N_ELEMENTS(dict_keys); i++) {
                g_autoptr(GVariant) v = g_variant_lookup_value(dict, dict_keys[i], NULL);
                g_assert_nonnull(v);
        }
}

static void assert_device(GVariant *dict, const Expected *e, const char *state) {
        g_autofree char *syspath = g_strdup_printf("/sys/devices/%s", e->sysfs);
        guint16 q;
        gint32 i;
        guint32 u;

        assert_dict_complete(dict);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_NAME), ==, e->name);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_SYSFS_PATH), ==, syspath);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_DRIVER), ==, e->driver);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_CHARDEV), ==, e->chardev);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_PARENT_KIND), ==, e->kind);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_PARENT_DEVICE), ==, e->parent);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_PHYSICAL_FUNCTION), ==, e->pf);
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_VENDOR_ID, "q", &q));
        g_assert_cmphex(q, ==, e->vendor);
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_PRODUCT_ID, "q", &q));
        g_assert_cmphex(q, ==, e->product);
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_NUMA_NODE, "i", &i));
        g_assert_cmpint(i, ==, e->numa);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_STATE), ==, state ? state : e->state);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_MAC), ==, "");
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_CLAIMED_BY, "u", &u));
        g_assert_cmpuint(u, ==, 0);
        /* No netlink family here (no simulator): the kernel's keys read
         * unknown, and the device is judged by sysfs as before. */
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_TYPE), ==, "");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_MANAGEMENT_DEVICE), ==, "");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_DEVICE_MAC), ==, "");
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_MAX_QUEUES, "u", &u));
        g_assert_cmpuint(u, ==, 0);
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_MTU, "q", &q));
        g_assert_cmpuint(q, ==, 0);
}

static const Expected *expected(const char *name) {
        for (size_t i = 0; i < G_N_ELEMENTS(host_devices); i++)
                if (g_str_equal(host_devices[i].name, name))
                        return &host_devices[i];
        g_error("unexpected device %s", name);
}

/* --- inventory over the bus --- */

static void test_devices(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) list = NULL;
        const char *prev = "";

        vdpa_test_daemon_start_or_die(f->bus, NULL);

        reply = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);
        list = g_variant_get_child_value(reply, 0);
        g_assert_cmpuint(g_variant_n_children(list), ==, G_N_ELEMENTS(host_devices));

        for (gsize n = 0; n < g_variant_n_children(list); n++) {
                g_autoptr(GVariant) dict = g_variant_get_child_value(list, n);
                g_autoptr(GVariant) single = NULL;
                const char *name = vdpa_test_dict_str(dict, VDPA_KEY_NAME);

                /* Name order, so that output is stable for scripts. */
                g_assert_cmpint(strcmp(prev, name), <, 0);
                prev = name;
                assert_device(dict, expected(name), NULL);
                g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_DOMAIN), ==, "");
                g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_DOMAIN_UUID), ==, "");

                /* GetDevice gives exactly the same dictionary. */
                single = vdpa_test_get_device(f->bus, name);
                g_assert_true(g_variant_equal(single, dict));
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_get_device_unknown(Fixture *f, gconstpointer data) {
        g_autofree char *long_name = g_strnfill(4096, 'x');
        g_autofree char *huge_name = g_strnfill(64 * 1024, 'y');
        const char *const names[] = {
                "", "../x", "../../sys/devices", "/dev/vhost-vdpa-0", "vdpa0/",
                "vdpa0 ", " vdpa0", "VDPA0", "vdpa0\n", "%s%s%n", "<evil/>",
                "vdpa0'; rm -rf /", "\xc3\xa9t\xc3\xa9", long_name, huge_name,
        };
        GPid pid = vdpa_test_daemon_start_or_die(f->bus, NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) r = vdpa_test_call(f->bus, "GetDevice", g_variant_new("(s)", names[i]), NULL, &error);

                g_assert_null(r);
                vdpa_test_assert_error_name(error, VDPA_ERROR_NO_SUCH_DEVICE);
                /* The message names the thing, bounded: a 64 KiB name is not echoed whole. */
                g_assert_cmpuint(strlen(error->message), <, 512);
        }

        /* Still the same process, still answering. */
        g_assert_cmpint(vdpa_test_daemon_get_pid(f->bus), ==, pid);
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) ok = vdpa_test_call(f->bus, "GetDevice", g_variant_new("(s)", "vdpa0"), NULL, &error);
        g_assert_no_error(error);
        g_assert_nonnull(ok);

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_non_utf8_rejected_by_bus(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusMessage) msg = NULL;
        g_autoptr(GDBusMessage) reply = NULL;
        GDBusConnection *c = vdpa_test_bus_get_connection(f->bus);
        GPid pid = vdpa_test_daemon_start_or_die(f->bus, NULL);

        /* GVariant refuses to build an invalid string, and so does every
         * conforming bus: a raw blob is the most hostile a client can send
         * through GDBus.  A wrong signature must be refused with InvalidArgs. */
        msg = g_dbus_message_new_method_call(VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "GetDevice");
        g_dbus_message_set_body(msg, g_variant_new("(ay)", NULL));
        reply = g_dbus_connection_send_message_with_reply_sync(c, msg, G_DBUS_SEND_MESSAGE_FLAGS_NONE, 5000, NULL, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpint(g_dbus_message_get_message_type(reply), ==, G_DBUS_MESSAGE_TYPE_ERROR);
        g_assert_cmpstr(g_dbus_message_get_error_name(reply), ==, "org.freedesktop.DBus.Error.InvalidArgs");

        g_assert_true(vdpa_test_daemon_is_running(f->bus));
        g_assert_cmpint(vdpa_test_daemon_get_pid(f->bus), ==, pid);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void check_migration_case(Fixture *f, const char *policy, const char *domain,
                                 const char *error_name, const char *needle) {
        g_autofree char *uri = node_uri();
        g_autofree char *uri_arg = g_strdup_printf("--libvirt-uri=%s", uri);
        g_autofree char *conf = g_strdup_printf("[Migration]\nLiveMigration=%s\n", policy);
        const char *const args[] = { uri_arg, NULL };
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = NULL;

        write_config(f, conf);
        vdpa_test_daemon_start_or_die(f->bus, args);
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 5000);
        r = vdpa_test_call(f->bus, "CheckMigration", g_variant_new("(s)", domain), "()", &e);
        if (!error_name) {
                g_assert_no_error(e);
                g_assert_nonnull(r);
        } else {
                g_assert_null(r);
                vdpa_test_assert_error_name(e, error_name);
                g_assert_nonnull(strstr(e->message, needle));
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* guest-a uses vdpa2 (/dev/vhost-vdpa-2); guest-b uses no vDPA device; the
 * test driver reports libvirt 9.0.0 and a "QEMU" 0.0.2. */
static void test_check_migration(Fixture *f, gconstpointer data) {
        check_migration_case(f, "block", "guest-a", VDPA_ERROR_CONFLICT, "vdpa2 (/dev/vhost-vdpa-2)");
        check_migration_case(f, "block", "guest-b", NULL, NULL);
        check_migration_case(f, "allow", "guest-a", NULL, NULL);
        check_migration_case(f, "auto", "guest-a", VDPA_ERROR_CONFLICT, "QEMU 0.0.2");
        check_migration_case(f, "auto", "guest-b", NULL, NULL);
        check_migration_case(f, "block", "no-such-guest", VDPA_ERROR_NO_SUCH_DOMAIN, "no-such-guest");
        check_migration_case(f, "block", "", "org.freedesktop.DBus.Error.InvalidArgs", "domain");
}

static void test_check_migration_unavailable(Fixture *f, gconstpointer data) {
        g_autofree char *sock = g_build_filename(vdpa_test_bus_get_tmpdir(f->bus), "no-libvirt-sock", NULL);
        g_autofree char *uri_arg = g_strdup_printf("--libvirt-uri=qemu+unix:///system?socket=%s", sock);
        const char *const args[] = { uri_arg, NULL };
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = NULL;

        vdpa_test_daemon_start_or_die(f->bus, args);
        r = vdpa_test_call(f->bus, "CheckMigration", g_variant_new("(s)", "guest-a"), "()", &e);
        g_assert_null(r);
        vdpa_test_assert_error_name(e, VDPA_ERROR_LIBVIRT_UNAVAILABLE);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* SIGHUP re-reads the configuration; a bad file keeps the old one. */
static void test_config_reload(Fixture *f, gconstpointer data) {
        g_autoptr(VdpaTestRecorder) rec = NULL;
        g_autoptr(GVariant) mig = NULL;
        g_autoptr(GVariant) d = NULL;
        g_autofree char *log = NULL;
        GPid pid;

        pid = vdpa_test_daemon_start_or_die(f->bus, NULL);
        rec = vdpa_test_recorder_new(f->bus);

        /* A good file: the policy changes, vdpa0 is excluded, signals say so. */
        write_config(f, "[Migration]\nLiveMigration=allow\n\n[Allow b]\nPhysicalFunction=0000:81:00.0\n");
        g_assert_cmpint(kill(pid, SIGHUP), ==, 0);
        g_assert_true(vdpa_test_recorder_wait(rec, "PropertiesChanged", 1, 5000));
        /* vdpa0 and fast1 lose their place; blk0 and vdpa1 go from
         * unusable to excluded (excluded outranks unusable). */
        g_assert_true(vdpa_test_recorder_wait(rec, "DeviceChanged", 4, 5000));
        /* The reload emits all of its signals in one go: a fifth would be
         * recorded by now. */
        signal_barrier(f);
        g_assert_cmpuint(vdpa_test_recorder_count(rec, "DeviceChanged"), ==, 4);
        mig = vdpa_test_get_property(f->bus, "LiveMigration", NULL);
        g_assert_cmpstr(g_variant_get_string(mig, NULL), ==, "allow");
        d = vdpa_test_get_device(f->bus, "vdpa0");
        assert_device(d, expected("vdpa0"), "excluded");
        g_clear_pointer(&d, g_variant_unref);
        g_clear_pointer(&mig, g_variant_unref);

        /* A bad file: logged, nothing changes, the daemon lives on. */
        vdpa_test_recorder_clear(rec);
        write_config(f, "[Migration]\nLiveMigration=sometimes\n");
        g_assert_cmpint(kill(pid, SIGHUP), ==, 0);
        for (int i = 0;; i++) {
                log = vdpa_test_daemon_get_log(f->bus);
                if (strstr(log, "Not reloading"))
                        break;
                if (i >= 200)
                        g_error("the daemon did not log \"Not reloading\" within 10 s of SIGHUP with a bad file:\n%s",
                                log);
                g_clear_pointer(&log, g_free);
                vdpa_test_iterate(50);
        }
        g_assert_nonnull(log);
        g_assert_nonnull(strstr(log, "LiveMigration"));
        mig = vdpa_test_get_property(f->bus, "LiveMigration", NULL);
        g_assert_cmpstr(g_variant_get_string(mig, NULL), ==, "allow");
        d = vdpa_test_get_device(f->bus, "vdpa0");
        assert_device(d, expected("vdpa0"), "excluded");
        signal_barrier(f);
        g_assert_cmpuint(vdpa_test_recorder_count(rec, "DeviceChanged"), ==, 0);
        g_assert_cmpint(vdpa_test_daemon_get_pid(f->bus), ==, pid);

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* The standard interfaces refuse extra or wrong arguments too. */
static void test_standard_interfaces_strict(Fixture *f, gconstpointer data) {
        static const struct {
                const char *interface;
                const char *member;
                const char *body;       /* GVariant text, NULL for none */
        } bad[] = {
                { "org.freedesktop.DBus.Properties", "GetAll", "('org.vdpa.Manager', 'extra')" },
                { "org.freedesktop.DBus.Properties", "GetAll", "('org.vdpa.Manager', <1>)" },
                { "org.freedesktop.DBus.Properties", "GetAll", NULL },
                { "org.freedesktop.DBus.Properties", "Get", "('org.vdpa.Manager',)" },
                { "org.freedesktop.DBus.Properties", "Get", "('org.vdpa.Manager', 'Version', 'x')" },
                { "org.freedesktop.DBus.Properties", "Set", "('org.vdpa.Manager', 'Version')" },
                { "org.freedesktop.DBus.Introspectable", "Introspect", "('x',)" },
                { "org.freedesktop.DBus.Peer", "Ping", "(uint32 1,)" },
                { "org.freedesktop.DBus.Peer", "GetMachineId", "('x',)" },
        };
        GDBusConnection *c = vdpa_test_bus_get_connection(f->bus);
        GPid pid = vdpa_test_daemon_start_or_die(f->bus, NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = g_dbus_connection_call_sync(
                        c, VDPA_BUS_NAME, VDPA_OBJECT_PATH, bad[i].interface, bad[i].member,
                        bad[i].body ? g_variant_new_parsed(bad[i].body) : NULL, NULL,
                        G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &e);

                g_assert_null(r);
                vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.InvalidArgs");
                g_assert_nonnull(strstr(e->message, bad[i].member));
        }

        /* The right calls still work. */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = g_dbus_connection_call_sync(
                        c, VDPA_BUS_NAME, VDPA_OBJECT_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                        g_variant_new("(s)", VDPA_INTERFACE), G_VARIANT_TYPE("(a{sv})"),
                        G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &e);
                g_assert_no_error(e);
                g_assert_nonnull(r);
        }
        g_assert_cmpint(vdpa_test_daemon_get_pid(f->bus), ==, pid);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- properties --- */

static void test_properties(Fixture *f, gconstpointer data) {
        g_autofree char *uri = node_uri();
        g_autofree char *uri_arg = g_strdup_printf("--libvirt-uri=%s", uri);
        const char *const args[] = { uri_arg, NULL };
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) version = NULL, luri = NULL, mig = NULL, caps = NULL;
        const char *s;
        gboolean b;
        guint32 u;

        write_config(f, "[Migration]\nLiveMigration=auto\n");
        vdpa_test_daemon_start_or_die(f->bus, args);

        version = vdpa_test_get_property(f->bus, "Version", &error);
        g_assert_no_error(error);
        g_assert_cmpstr(g_variant_get_string(version, NULL), ==, PACKAGE_VERSION);

        luri = vdpa_test_get_property(f->bus, "LibvirtUri", &error);
        g_assert_no_error(error);
        g_assert_cmpstr(g_variant_get_string(luri, NULL), ==, uri);

        mig = vdpa_test_get_property(f->bus, "LiveMigration", &error);
        g_assert_no_error(error);
        g_assert_cmpstr(g_variant_get_string(mig, NULL), ==, "auto");

        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 5000);

        caps = vdpa_test_get_property(f->bus, "Capabilities", &error);
        g_assert_no_error(error);
        g_assert_true(g_variant_lookup(caps, "KernelVdpa", "b", &b));
        g_assert_true(b);      /* the testbed has /sys/bus/vdpa */
        g_assert_true(g_variant_lookup(caps, "LibvirtVersion", "&s", &s));
        g_assert_cmpstr(s, !=, "");
        g_assert_true(g_variant_lookup(caps, "QemuVersion", "&s", &s));
        /* The test driver reports hypervisor version 0.0.2: not a QEMU that can do vDPA. */
        g_assert_cmpstr(s, ==, "0.0.2");
        g_assert_true(g_variant_lookup(caps, "VdpaSupported", "b", &b));
        g_assert_false(b);
        /* This kernel has no vdpa family, and no simulator runs here. */
        g_assert_true(g_variant_lookup(caps, "VdpaNetlink", "b", &b));
        g_assert_false(b);
        g_assert_true(g_variant_lookup(caps, "AvailableDevices", "u", &u));
        g_assert_cmpuint(u, ==, 2);    /* vdpa0 and fast1; vdpa2 is used by guest-a */

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_libvirt_in_use(Fixture *f, gconstpointer data) {
        g_autofree char *uri = node_uri();
        g_autofree char *uri_arg = g_strdup_printf("--libvirt-uri=%s", uri);
        const char *const args[] = { uri_arg, NULL };
        g_autoptr(GVariant) d = NULL;

        vdpa_test_daemon_start_or_die(f->bus, args);
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 5000);

        d = vdpa_test_get_device(f->bus, "vdpa2");
        assert_device(d, expected("vdpa2"), "in-use");
        g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_DOMAIN), ==, "guest-a");
        g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_DOMAIN_UUID), ==, GUEST_A_UUID);

        g_clear_pointer(&d, g_variant_unref);
        d = vdpa_test_get_device(f->bus, "vdpa0");
        assert_device(d, expected("vdpa0"), NULL);
        g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_DOMAIN), ==, "");

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* An unreachable libvirt never delays the name or the reads. */
static void test_libvirt_unreachable(Fixture *f, gconstpointer data) {
        g_autofree char *sock = g_build_filename(vdpa_test_bus_get_tmpdir(f->bus), "no-libvirt-sock", NULL);
        g_autofree char *uri_arg = g_strdup_printf("--libvirt-uri=qemu+unix:///system?socket=%s", sock);
        const char *const args[] = { uri_arg, NULL };
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) connected = NULL;
        g_autofree char *log = NULL;

        vdpa_test_daemon_start_or_die(f->bus, args);

        reply = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);

        /* Wait for the worker to fail, then check it is reported. */
        for (int i = 0;; i++) {
                log = vdpa_test_daemon_get_log(f->bus);
                if (strstr(log, "Cannot reach libvirt"))
                        break;
                if (i >= 200)
                        g_error("the daemon did not log \"Cannot reach libvirt\" within 10 s:\n%s", log);
                g_clear_pointer(&log, g_free);
                vdpa_test_iterate(50);
        }
        g_assert_nonnull(log);
        g_assert_nonnull(strstr(log, sock));

        connected = vdpa_test_get_property(f->bus, "LibvirtConnected", &error);
        g_assert_no_error(error);
        g_assert_false(g_variant_get_boolean(connected));

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* A libvirtd that accepts the connection but never answers (a socket
 * nobody reads from): the name is taken and reads answer at once. */
static void test_libvirt_hung(Fixture *f, gconstpointer data) {
        g_autofree char *sock_path = g_build_filename(vdpa_test_bus_get_tmpdir(f->bus), "hung-libvirt-sock", NULL);
        g_autofree char *uri_arg = g_strdup_printf("--libvirt-uri=qemu+unix:///system?socket=%s", sock_path);
        const char *const args[] = { uri_arg, NULL };
        g_autoptr(GSocket) sock = NULL;
        g_autoptr(GSocketAddress) addr = NULL;
        g_autoptr(GError) error = NULL;
        gint64 start;

        sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
        g_assert_no_error(error);
        addr = g_unix_socket_address_new(sock_path);
        g_assert_true(g_socket_bind(sock, addr, TRUE, &error));
        g_assert_true(g_socket_listen(sock, &error));

        vdpa_test_daemon_start_or_die(f->bus, args);

        start = g_get_monotonic_time();
        for (int i = 0; i < 20; i++) {
                g_autoptr(GVariant) reply = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);
                g_assert_no_error(error);
                g_assert_nonnull(reply);
        }
        /* 20 reads in well under a second although libvirt never answers. */
        g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * G_USEC_PER_SEC);

        g_autoptr(GVariant) connected = vdpa_test_get_property(f->bus, "LibvirtConnected", &error);
        g_assert_no_error(error);
        g_assert_false(g_variant_get_boolean(connected));

        /* SIGTERM is honoured promptly even with the worker stuck. */
        start = g_get_monotonic_time();
        g_assert_cmpint(vdpa_test_daemon_stop(f->bus), ==, 0);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 8 * G_USEC_PER_SEC);
}

/* A corrupt state file: the daemon starts anyway, says so precisely, keeps
 * the file aside and takes the truth from libvirt. */
static void test_corrupt_state_at_start(Fixture *f, gconstpointer data) {
        g_autofree char *uri = node_uri();
        g_autofree char *uri_arg = g_strdup_printf("--libvirt-uri=%s", uri);
        const char *const args[] = { uri_arg, NULL };
        const char *state_dir = vdpa_test_bus_get_state_dir(f->bus);
        g_autofree char *path = g_build_filename(state_dir, "claims", NULL);
        static const char garbage[] = "[Claim 0]\nDevice=vdpa0\nPhase=half-writ";
        g_autoptr(GDir) dir = NULL;
        g_autofree char *aside = NULL;
        g_autofree char *log = NULL;
        g_autoptr(GVariant) d = NULL;
        const char *n;

        g_assert_cmpint(g_mkdir_with_parents(state_dir, 0700), ==, 0);
        g_assert_true(g_file_set_contents(path, garbage, -1, NULL));

        vdpa_test_daemon_start_or_die(f->bus, args);
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 5000);

        log = vdpa_test_daemon_get_log(f->bus);
        g_assert_nonnull(strstr(log, "Corrupt claims file"));
        g_assert_nonnull(strstr(log, path));
        g_assert_nonnull(strstr(log, "moved aside"));

        /* Kept aside, byte for byte; no claims file any more. */
        g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
        dir = g_dir_open(state_dir, 0, NULL);
        g_assert_nonnull(dir);
        while ((n = g_dir_read_name(dir)))
                if (g_str_has_prefix(n, "claims.corrupt-"))
                        aside = g_build_filename(state_dir, n, NULL);
        g_assert_nonnull(aside);
        {
                g_autofree char *kept = NULL;
                g_assert_true(g_file_get_contents(aside, &kept, NULL, NULL));
                g_assert_cmpstr(kept, ==, garbage);
        }

        /* libvirt's truth: guest-a uses vdpa2; nothing is claimed. */
        d = vdpa_test_get_device(f->bus, "vdpa2");
        assert_device(d, expected("vdpa2"), "in-use");
        g_clear_pointer(&d, g_variant_unref);
        d = vdpa_test_get_device(f->bus, "vdpa0");
        assert_device(d, expected("vdpa0"), NULL);

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- configuration --- */

static void test_config_allow_list(Fixture *f, gconstpointer data) {
        g_autoptr(GVariant) d = NULL;

        write_config(f,
                     "[Devices]\n"
                     "AllowVirtual=true\n"
                     "\n"
                     "# only the second card, and the simulator\n"
                     "[Allow card-b]\n"
                     "PhysicalFunction=0000:81:*\n"
                     "\n"
                     "[Allow sim]\n"
                     "Name=vdpa-sim*\n");
        vdpa_test_daemon_start_or_die(f->bus, NULL);

        d = vdpa_test_get_device(f->bus, "vdpa2");
        assert_device(d, expected("vdpa2"), "available");
        g_clear_pointer(&d, g_variant_unref);
        d = vdpa_test_get_device(f->bus, "vdpa-sim0");
        assert_device(d, expected("vdpa-sim0"), "available");
        g_clear_pointer(&d, g_variant_unref);
        d = vdpa_test_get_device(f->bus, "vdpa0");
        assert_device(d, expected("vdpa0"), "excluded");
        g_clear_pointer(&d, g_variant_unref);
        d = vdpa_test_get_device(f->bus, "fast1");
        assert_device(d, expected("fast1"), "excluded");

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_config_bad(Fixture *f, gconstpointer data) {
        static const struct {
                const char *contents;
                const char *needle;    /* in the log besides the file name */
        } cases[] = {
                { "[Devices]\nAllowVirtual=perhaps\n", "AllowVirtual" },
                { "[Devices]\nBogus=1\n", "Bogus" },
                { "[Nonsense]\n", "Nonsense" },
                { "[Migration]\nLiveMigration=sometimes\n", "LiveMigration" },
                { "[Allow x]\nVendor=[15b3\n", "Vendor" },
                { "this is not a keyfile\n", "vdpa-manager.conf" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error = NULL;
                g_autofree char *log = NULL;
                GPid pid;

                write_config(f, cases[i].contents);
                pid = vdpa_test_daemon_start(f->bus, NULL, &error);
                /* It must refuse to start, not run half-configured. */
                g_assert_cmpint(pid, ==, 0);
                g_assert_nonnull(error);
                log = vdpa_test_daemon_get_log(f->bus);
                g_assert_nonnull(strstr(log, vdpa_test_bus_get_config_path(f->bus)));
                g_assert_nonnull(strstr(log, cases[i].needle));
                g_assert_cmpuint(vdpa_test_bus_get_name_owner_pid(f->bus, VDPA_BUS_NAME), ==, 0);
        }
}

static void test_config_missing_explicit(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autofree char *log = NULL;
        const char *const args[] = { "--config=/nonexistent/vdpa-manager.conf", NULL };

        g_assert_cmpint(vdpa_test_daemon_start(f->bus, args, &error), ==, 0);
        log = vdpa_test_daemon_get_log(f->bus);
        g_assert_nonnull(strstr(log, "/nonexistent/vdpa-manager.conf"));
}

/* --- hotplug --- */

static GVariant *signal_dict(const VdpaTestSignal *s) {
        return g_variant_get_child_value(s->parameters, 1);
}

static const char *signal_name(const VdpaTestSignal *s) {
        const char *name;

        g_variant_get_child(s->parameters, 0, "&s", &name);
        return name;
}

static void test_hotplug(Fixture *f, gconstpointer data) {
        g_autoptr(VdpaTestRecorder) rec = NULL;
        g_autoptr(GVariant) dict = NULL;
        const VdpaTestSignal *s;

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        rec = vdpa_test_recorder_new(f->bus);

        /* add: a new device under the already known VF 0000:04:00.5 */
        vdpa_testbed_add_vdpa(f->tb, VDPA_TESTBED_VF5 "/vdpa9");
        g_assert_true(vdpa_test_recorder_wait(rec, "DeviceAdded", 1, 5000));
        s = vdpa_test_recorder_nth(rec, "DeviceAdded", 0);
        g_assert_cmpstr(signal_name(s), ==, "vdpa9");
        dict = signal_dict(s);
        assert_dict_complete(dict);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_PARENT_KIND), ==, "vf");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_PARENT_DEVICE), ==, "0000:04:00.5");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_PHYSICAL_FUNCTION), ==, "0000:04:00.0");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_STATE), ==, "unusable");
        g_clear_pointer(&dict, g_variant_unref);

        /* bind to vhost_vdpa: available with its chardev */
        vdpa_testbed_bind_vhost(f->tb, VDPA_TESTBED_VF5 "/vdpa9", 9);
        g_assert_true(vdpa_test_recorder_wait(rec, "DeviceChanged", 1, 5000));
        dict = signal_dict(vdpa_test_recorder_nth(rec, "DeviceChanged", 0));
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_DRIVER), ==, "vhost_vdpa");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_CHARDEV), ==, "/dev/vhost-vdpa-9");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_STATE), ==, "available");
        g_clear_pointer(&dict, g_variant_unref);

        /* The bus view agrees with the signal. */
        dict = vdpa_test_get_device(f->bus, "vdpa9");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_STATE), ==, "available");
        g_clear_pointer(&dict, g_variant_unref);

        /* unbind: unusable again */
        vdpa_testbed_unbind(f->tb, VDPA_TESTBED_VF5 "/vdpa9", 9);
        g_assert_true(vdpa_test_recorder_wait(rec, "DeviceChanged", 2, 5000));
        dict = signal_dict(vdpa_test_recorder_nth(rec, "DeviceChanged", 1));
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_DRIVER), ==, "");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_CHARDEV), ==, "");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_STATE), ==, "unusable");
        g_clear_pointer(&dict, g_variant_unref);

        /* A change that changes nothing visible: no signal.  (Sent right
         * before the removal: whether the daemon reads it before or after
         * sysfs loses the device, the pair makes exactly one DeviceRemoved.
         * Before an unbind it would race with the sysfs edits.) */
        umockdev_testbed_uevent(f->tb, VDPA_TESTBED_VF5 "/vdpa9", "change");

        /* remove */
        vdpa_testbed_remove(f->tb, VDPA_TESTBED_VF5 "/vdpa9");
        g_assert_true(vdpa_test_recorder_wait(rec, "DeviceRemoved", 1, 5000));
        g_assert_cmpstr(signal_name(vdpa_test_recorder_nth(rec, "DeviceRemoved", 0)), ==, "vdpa9");

        /* Exactly one signal per visible change: the no-op change sent
         * nothing.  Both uevents were queued to the daemon before sysfs lost
         * the device, and it drains its queue in one go: by DeviceRemoved it
         * has handled the change too, and a signal for it is in by now. */
        signal_barrier(f);
        g_assert_cmpuint(vdpa_test_recorder_count(rec, "DeviceAdded"), ==, 1);
        g_assert_cmpuint(vdpa_test_recorder_count(rec, "DeviceChanged"), ==, 2);
        g_assert_cmpuint(vdpa_test_recorder_count(rec, "DeviceRemoved"), ==, 1);

        {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) r = vdpa_test_call(f->bus, "GetDevice", g_variant_new("(s)", "vdpa9"), NULL, &error);
                g_assert_null(r);
                vdpa_test_assert_error_name(error, VDPA_ERROR_NO_SUCH_DEVICE);
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* 500 add/remove events in a burst: the exact inventory at the end and
 * exactly one signal per change. */
static void test_hotplug_burst(Fixture *f, gconstpointer data) {
        g_autoptr(VdpaTestRecorder) rec = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) list = NULL;
        const guint rounds = 250;    /* 250 adds + 250 removes */
        guint survivors = 0;

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        rec = vdpa_test_recorder_new(f->bus);

        for (guint i = 0; i < rounds; i++) {
                g_autofree char *path = g_strdup_printf(VDPA_TESTBED_VF5 "/burst%u", i);

                vdpa_testbed_add_vdpa(f->tb, path);
                /* Remove all but every tenth again, interleaved with the adds. */
                if (i % 10 != 0) {
                        vdpa_testbed_remove(f->tb, path);
                } else
                        survivors++;
        }

        /* Every survivor is announced once.  A device added and removed
         * before the daemon read either event was never visible: it may be
         * announced as added and removed, or not at all, but never only
         * half, and never twice. */
        g_assert_true(vdpa_test_recorder_wait(rec, "DeviceAdded", survivors, 20000));
        /* That count is also reached while the daemon is still at work (a
         * transient device counts too).  It handles uevents in order: once
         * it announced a sentinel added after the burst, every signal of the
         * burst is recorded.  The sentinel goes again before the counts. */
        vdpa_testbed_add_vdpa(f->tb, VDPA_TESTBED_VF5 "/burst-end");
        vdpa_test_recorder_wait_device(rec, "DeviceAdded", "burst-end", 20000);
        vdpa_testbed_remove(f->tb, VDPA_TESTBED_VF5 "/burst-end");
        vdpa_test_recorder_wait_device(rec, "DeviceRemoved", "burst-end", 20000);
        {
                g_autoptr(GHashTable) added = g_hash_table_new(g_str_hash, g_str_equal);
                g_autoptr(GHashTable) removed = g_hash_table_new(g_str_hash, g_str_equal);
                GPtrArray *sigs = vdpa_test_recorder_get_signals(rec);

                for (guint i = 0; i < sigs->len; i++) {
                        const VdpaTestSignal *s = sigs->pdata[i];
                        const char *name;

                        if (g_str_equal(s->member, "PropertiesChanged"))
                                continue;
                        g_assert_cmpstr(s->member, !=, "DeviceChanged");
                        name = signal_name(s);
                        if (g_str_equal(s->member, "DeviceAdded")) {
                                g_assert_false(g_hash_table_contains(added, name));
                                g_hash_table_add(added, (gpointer) name);
                        } else {
                                g_assert_true(g_hash_table_contains(added, name));
                                g_assert_false(g_hash_table_contains(removed, name));
                                g_hash_table_add(removed, (gpointer) name);
                        }
                }
                for (guint i = 0; i < rounds; i++) {
                        g_autofree char *name = g_strdup_printf("burst%u", i);

                        if (i % 10 == 0) {
                                g_assert_true(g_hash_table_contains(added, name));
                                g_assert_false(g_hash_table_contains(removed, name));
                        } else
                                g_assert_cmpint(g_hash_table_contains(added, name), ==,
                                                g_hash_table_contains(removed, name));
                }
                g_test_message("burst: %u added and removed signals for %u transient devices",
                               g_hash_table_size(removed) - 1 /* the sentinel */, rounds - survivors);
        }

        reply = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);
        list = g_variant_get_child_value(reply, 0);
        g_assert_cmpuint(g_variant_n_children(list), ==, G_N_ELEMENTS(host_devices) + survivors);
        for (guint i = 0; i < rounds; i++) {
                g_autofree char *name = g_strdup_printf("burst%u", i);
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = vdpa_test_call(f->bus, "GetDevice", g_variant_new("(s)", name), NULL, &e);

                g_assert_cmpint(r != NULL, ==, i % 10 == 0);
                if (i % 10 == 0)
                        g_assert_no_error(e);
                else
                        vdpa_test_assert_error_name(e, VDPA_ERROR_NO_SUCH_DEVICE);
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- BuildInterfaceXml --- */

static GVariant *build_xml(Fixture *f, const char *device, GVariant *options, GError **error) {
        g_autoptr(GVariant) r = NULL;
        GVariant *xml;

        if (!options)
                options = g_variant_new("a{sv}", NULL);
        r = vdpa_test_call(f->bus, "BuildInterfaceXml", g_variant_new("(s@a{sv})", device, options), "(s)", error);
        if (!r)
                return NULL;
        xml = g_variant_get_child_value(r, 0);
        return xml;
}

static GVariant *one_option(const char *key, GVariant *value) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", key, value);
        return g_variant_builder_end(&b);
}

/* OVS offload facts (DESIGN.md §9) from the real daemon: the fixture's
 * card A is in switchdev mode, card B in legacy mode; then a representor
 * goes, which only a net uevent tells. */
static void test_representor(Fixture *f, gconstpointer data) {
        static const struct {
                const char *name, *representor, *pf_netdev;
        } cases[] = {
                { "vdpa0", "enp4s0f0npf0vf0", "enp4s0f0np0" },
                { "fast1", "enp4s0f0npf0sf4", "enp4s0f0np0" },
                { "vdpa2", "", "enp129s0f0np0" },
                { "vdpa-sim0", "", "" },
        };
        const char *rep = "/sys/devices/pci0000:00/0000:00:02.0/0000:04:00.0/net/enp4s0f0npf0vf0";
        g_autoptr(VdpaTestRecorder) rec = NULL;
        g_autoptr(GVariant) dict = NULL;

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        rec = vdpa_test_recorder_new(f->bus);

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GVariant) d = vdpa_test_get_device(f->bus, cases[i].name);

                assert_dict_complete(d);
                g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_REPRESENTOR), ==, cases[i].representor);
                g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_PF_NETDEV), ==, cases[i].pf_netdev);
        }

        umockdev_testbed_uevent(f->tb, rep, "remove");
        umockdev_testbed_remove_device(f->tb, rep);
        dict = signal_dict(vdpa_test_recorder_wait_device(rec, "DeviceChanged", "vdpa0", 5000));
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_REPRESENTOR), ==, "");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_PF_NETDEV), ==, "enp4s0f0np0");
        g_clear_pointer(&dict, g_variant_unref);

        /* That device only, once. */
        signal_barrier(f);
        g_assert_cmpuint(vdpa_test_recorder_count(rec, "DeviceChanged"), ==, 1);
        g_assert_cmpuint(vdpa_test_recorder_count(rec, "DeviceAdded"), ==, 0);
        g_assert_cmpuint(vdpa_test_recorder_count(rec, "DeviceRemoved"), ==, 0);
        dict = vdpa_test_get_device(f->bus, "vdpa0");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_REPRESENTOR), ==, "");

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_build_xml(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) xml = NULL;
        GVariantBuilder b;
        const char *s;

        vdpa_test_daemon_start_or_die(f->bus, NULL);

        xml = build_xml(f, "vdpa0", NULL, &error);
        g_assert_no_error(error);
        s = g_variant_get_string(xml, NULL);
        g_assert_true(g_str_has_prefix(s, "<interface type=\"vdpa\">"));
        g_assert_nonnull(strstr(s, "<source dev=\"/dev/vhost-vdpa-0\"/>"));
        g_assert_nonnull(strstr(s, "<model type=\"virtio\"/>"));
        g_assert_null(strstr(s, "<mac"));      /* nothing generated: read-only */
        g_clear_pointer(&xml, g_variant_unref);

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "mac", g_variant_new_string("52:54:00:AA:bb:01"));
        g_variant_builder_add(&b, "{sv}", "queues", g_variant_new_uint32(8));
        g_variant_builder_add(&b, "{sv}", "page_per_vq", g_variant_new_boolean(TRUE));
        g_variant_builder_add(&b, "{sv}", "alias", g_variant_new_string("ua-net_1-x"));
        g_variant_builder_add(&b, "{sv}", "boot_order", g_variant_new_uint32(2));
        g_variant_builder_add(&b, "{sv}", "guest_address", g_variant_new_string("0000:00:05.0"));
        xml = build_xml(f, "fast1", g_variant_builder_end(&b), &error);
        g_assert_no_error(error);
        s = g_variant_get_string(xml, NULL);
        g_assert_nonnull(strstr(s, "<source dev=\"/dev/vhost-vdpa-1\"/>"));
        g_assert_nonnull(strstr(s, "<mac address=\"52:54:00:aa:bb:01\"/>"));
        g_assert_nonnull(strstr(s, "<driver queues=\"8\" page_per_vq=\"on\"/>"));
        g_assert_nonnull(strstr(s, "<alias name=\"ua-net_1-x\"/>"));
        g_assert_nonnull(strstr(s, "<boot order=\"2\"/>"));
        g_assert_nonnull(strstr(s, "<address type=\"pci\" domain=\"0x0000\" bus=\"0x00\" slot=\"0x05\" function=\"0x0\"/>"));

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_build_xml_errors(Fixture *f, gconstpointer data) {
        static const struct {
                const char *device;
                const char *error;
                const char *needle;
        } cases[] = {
                { "nonexistent", VDPA_ERROR_NO_SUCH_DEVICE, "nonexistent" },
                { "", VDPA_ERROR_NO_SUCH_DEVICE, "''" },
                { "vdpa-sim0", VDPA_ERROR_DEVICE_UNUSABLE, "excluded" },
                { "vdpa1", VDPA_ERROR_DEVICE_UNUSABLE, "virtio_vdpa" },
                { "blk0", VDPA_ERROR_DEVICE_UNUSABLE, "none" },
        };
        GPid pid = vdpa_test_daemon_start_or_die(f->bus, NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = build_xml(f, cases[i].device, NULL, &e);

                g_assert_null(r);
                vdpa_test_assert_error_name(e, cases[i].error);
                g_assert_nonnull(strstr(e->message, cases[i].needle));
        }

        /* A bad option is reported before the device is even looked up. */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = build_xml(f, "nonexistent", one_option("queues", g_variant_new_uint32(0)), &e);
                g_assert_null(r);
                vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.InvalidArgs");
        }
        g_assert_cmpint(vdpa_test_daemon_get_pid(f->bus), ==, pid);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* Hostile options over the bus: each row must come back as InvalidArgs,
 * naming the key, and leave the daemon as it was. */
static void test_build_xml_hostile(Fixture *f, gconstpointer data) {
        g_autofree char *k4 = g_strnfill(4096, 'q');
        g_autofree char *pad64k = g_strnfill(65536, 'a');
        g_autofree char *a64k = g_strconcat("ua-", pad64k, NULL);
        g_autofree char *s4k = g_strnfill(4096, '5');
        GVariant *arr_s = g_variant_new_strv((const char *const[]) { "52:54:00:00:00:01", NULL }, -1);
        struct {
                const char *key;
                GVariant *value;
                const char *needle;
        } rows[] = {
                { "alias", g_variant_new_string("ua-x'/><evil/>"), "alias" },
                { "alias", g_variant_new_string("ua-\"onload=\""), "alias" },
                { "alias", g_variant_new_string("ua-&amp;"), "alias" },
                { "alias", g_variant_new_string("ua-<![CDATA[x]]>"), "alias" },
                { "alias", g_variant_new_string("net0"), "alias" },
                { "alias", g_variant_new_string("ua-"), "alias" },
                { "alias", g_variant_new_string("ua-a\tb"), "alias" },
                { "alias", g_variant_new_string("ua-\x1b[2J"), "alias" },
                { "alias", g_variant_new_string("ua-\xc3\xa9"), "alias" },
                { "alias", g_variant_new_string(a64k), "alias" },
                { "alias", g_variant_new_uint32(1), "alias" },
                { "mac", g_variant_new_string("01:00:5e:00:00:01"), "mac" },
                { "mac", g_variant_new_string("ff:ff:ff:ff:ff:ff"), "mac" },
                { "mac", g_variant_new_string("00:00:00:00:00:00"), "mac" },
                { "mac", g_variant_new_string("52:54:00:12:34"), "mac" },
                { "mac", g_variant_new_string("52:54:00:12:34:56:78"), "mac" },
                { "mac", g_variant_new_string("52-54-00-12-34-56"), "mac" },
                { "mac", g_variant_new_string("%s%s%s%n"), "mac" },
                { "mac", g_variant_new_string(""), "mac" },
                { "mac", arr_s, "mac" },
                { "mac", g_variant_new_variant(g_variant_new_string("52:54:00:00:00:01")), "mac" },
                { "queues", g_variant_new_uint32(0), "queues" },
                { "queues", g_variant_new_uint32(257), "queues" },
                { "queues", g_variant_new_uint32(G_MAXUINT32), "queues" },
                { "queues", g_variant_new_string("4"), "queues" },
                { "queues", g_variant_new_int32(4), "queues" },
                { "queues", g_variant_new_uint64(4), "queues" },
                { "queues", g_variant_new_variant(g_variant_new_uint32(4)), "queues" },
                { "page_per_vq", g_variant_new_string("on"), "page_per_vq" },
                { "page_per_vq", g_variant_new_uint32(1), "page_per_vq" },
                { "boot_order", g_variant_new_uint32(0), "boot_order" },
                { "boot_order", g_variant_new_int32(1), "boot_order" },
                { "boot_order", g_variant_new_uint32(G_MAXUINT32), "boot_order" },
                { "guest_address", g_variant_new_string("0000:00:20.0"), "guest_address" },
                { "guest_address", g_variant_new_string("0000:00:05.8"), "guest_address" },
                { "guest_address", g_variant_new_string("00:05.0"), "guest_address" },
                { "guest_address", g_variant_new_string("0000:00:05.0 "), "guest_address" },
                { "guest_address", g_variant_new_string("../../etc"), "guest_address" },
                { "guest_address", g_variant_new_string(s4k), "guest_address" },
                { "live", g_variant_new_boolean(TRUE), "live" },           /* Claim only */
                { "config", g_variant_new_boolean(TRUE), "config" },       /* Claim only */
                { "numa_node", g_variant_new_int32(0), "numa_node" },      /* Claim only */
                { "force", g_variant_new_boolean(TRUE), "force" },         /* Release only */
                { "bogus", g_variant_new_string("x"), "bogus" },
                { "", g_variant_new_string("x"), "''" },
                { "MAC", g_variant_new_string("52:54:00:00:00:01"), "MAC" },
                { k4, g_variant_new_string("x"), "qqqq" },
                { "mac\n", g_variant_new_string("52:54:00:00:00:01"), "mac" },
        };
        GPid pid = vdpa_test_daemon_start_or_die(f->bus, NULL);
        g_autoptr(GVariant) before = vdpa_test_get_device(f->bus, "vdpa0");

        g_assert_cmpuint(G_N_ELEMENTS(rows), >=, 40);
        for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = build_xml(f, "vdpa0", one_option(rows[i].key, rows[i].value), &e);

                g_assert_null(r);
                if (g_test_verbose())
                        g_printerr("row %zu: %s\n", i, e->message);
                vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.InvalidArgs");
                g_assert_nonnull(strstr(e->message, rows[i].needle));
                g_assert_cmpuint(strlen(e->message), <, 512);
        }

        /* The same key twice is refused too. */
        {
                GVariantBuilder b;
                g_autoptr(GError) e = NULL;

                g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
                g_variant_builder_add(&b, "{sv}", "queues", g_variant_new_uint32(2));
                g_variant_builder_add(&b, "{sv}", "queues", g_variant_new_uint32(4));
                g_autoptr(GVariant) r = build_xml(f, "vdpa0", g_variant_builder_end(&b), &e);
                g_assert_null(r);
                vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.InvalidArgs");
                g_assert_nonnull(strstr(e->message, "queues"));
        }

        /* Same process, same answers, nothing changed. */
        g_assert_cmpint(vdpa_test_daemon_get_pid(f->bus), ==, pid);
        g_autoptr(GVariant) after = vdpa_test_get_device(f->bus, "vdpa0");
        g_assert_true(g_variant_equal(before, after));
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- lifecycle --- */

static void test_activation(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) list = NULL;
        GPid pid;

        g_assert_true(vdpa_test_bus_write_activation(f->bus, NULL, &error));
        g_assert_no_error(error);
        g_assert_cmpint(vdpa_test_bus_get_name_owner_pid(f->bus, VDPA_BUS_NAME), ==, 0);

        /* The first call starts the service, exactly as in production. */
        reply = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);
        list = g_variant_get_child_value(reply, 0);
        g_assert_cmpuint(g_variant_n_children(list), ==, G_N_ELEMENTS(host_devices));

        pid = vdpa_test_bus_get_name_owner_pid(f->bus, VDPA_BUS_NAME);
        g_assert_cmpint(pid, >, 0);
        g_assert_cmpint(kill(pid, SIGTERM), ==, 0);
        for (int i = 0; vdpa_test_pid_alive(pid); i++) {
                if (i >= 200)
                        g_error("the bus-activated daemon (pid %d) is still alive 10 s after SIGTERM", pid);
                vdpa_test_iterate(50);
        }
        g_assert_false(vdpa_test_pid_alive(pid));
}

static void test_exit_on_bus_disconnect(Fixture *f, gconstpointer data) {
        GPid bus_pid;

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        bus_pid = vdpa_test_bus_get_pid(f->bus);
        g_assert_cmpint(kill(bus_pid, SIGTERM), ==, 0);
        /* Clean exit, status 0, within a few seconds. */
        g_assert_cmpint(vdpa_test_daemon_wait_exit(f->bus, 5000), ==, 0);
}

/* libvirt writes to its socket without MSG_NOSIGNAL, so a libvirtd that
 * dies under a call raises SIGPIPE in the daemon (seen under valgrind,
 * where it killed the daemon mid-Claim).  It must be ignored. */
static void test_sigpipe_ignored(Fixture *f, gconstpointer data) {
        GPid pid = vdpa_test_daemon_start_or_die(f->bus, NULL);

        g_assert_cmpint(kill(pid, SIGPIPE), ==, 0);
        /* Two round trips: the signal is delivered before the daemon's
         * main thread handles the first call. */
        for (int i = 0; i < 2; i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) reply = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);

                g_assert_no_error(error);
                g_assert_nonnull(reply);
        }
        g_assert_cmpint(vdpa_test_daemon_get_pid(f->bus), ==, pid);
        g_assert_true(vdpa_test_pid_alive(pid));
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_help_version(void) {
        const char *daemon = g_getenv("VDPA_MANAGERD");
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;
        g_autoptr(GError) error = NULL;
        int status;
        const char *version_argv[] = { daemon, "--version", NULL };
        const char *help_argv[] = { daemon, "--help", NULL };
        const char *bad_argv[] = { daemon, "--no-such-flag", NULL };
        const char *extra_argv[] = { daemon, "stray", NULL };

        g_assert_true(g_spawn_sync(NULL, (char **) version_argv, NULL, 0, NULL, NULL, &out, &err, &status, &error));
        g_assert_no_error(error);
        g_assert_true(g_spawn_check_wait_status(status, NULL));
        g_assert_cmpstr(out, ==, "vdpa-managerd " PACKAGE_VERSION "\n");
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);

        g_assert_true(g_spawn_sync(NULL, (char **) help_argv, NULL, 0, NULL, NULL, &out, &err, &status, &error));
        g_assert_true(g_spawn_check_wait_status(status, NULL));
        g_assert_nonnull(strstr(out, "--bus-address"));
        g_assert_nonnull(strstr(out, "--libvirt-uri"));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);

        g_assert_true(g_spawn_sync(NULL, (char **) bad_argv, NULL, 0, NULL, NULL, &out, &err, &status, &error));
        g_assert_false(g_spawn_check_wait_status(status, NULL));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);

        g_assert_true(g_spawn_sync(NULL, (char **) extra_argv, NULL, 0, NULL, NULL, &out, &err, &status, &error));
        g_assert_false(g_spawn_check_wait_status(status, NULL));
        g_assert_nonnull(strstr(err, "stray"));
}

/* --- introspection: the live object and the written file agree --- */

static void assert_args_equal(GDBusArgInfo **a, GDBusArgInfo **b, const char *what) {
        guint i;

        for (i = 0; a && a[i] && b && b[i]; i++) {
                g_assert_cmpstr(a[i]->name, ==, b[i]->name);
                g_assert_cmpstr(a[i]->signature, ==, b[i]->signature);
        }
        if ((a && a[i]) || (b && b[i]))
                g_error("argument count differs for %s", what);
}

static void assert_annotations_equal(GDBusAnnotationInfo **a, GDBusAnnotationInfo **b, const char *what) {
        guint na = 0, nb = 0;

        for (; a && a[na]; na++) {
                const char *v = g_dbus_annotation_info_lookup(b, a[na]->key);
                if (g_strcmp0(v, a[na]->value) != 0)
                        g_error("annotation %s of %s: live '%s', file '%s'", a[na]->key, what, a[na]->value, v);
        }
        for (; b && b[nb]; nb++)
                ;
        if (na != nb)
                g_error("annotations of %s differ in number: live %u, file %u", what, na, nb);
}

static void test_introspection(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GDBusNodeInfo) live = NULL, file = NULL;
        g_autofree char *path = g_build_filename(g_getenv("VDPA_TEST_SRCDIR"), "introspection", "org.vdpa.Manager.xml", NULL);
        g_autofree char *contents = NULL;
        GDBusInterfaceInfo *li, *fi;
        const char *xml;
        guint n;

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        reply = vdpa_test_call_full(vdpa_test_bus_get_connection(f->bus), VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                    "org.freedesktop.DBus.Introspectable", "Introspect", NULL, "(s)",
                                    G_DBUS_CALL_FLAGS_NONE, 5000, &error);
        g_assert_no_error(error);
        g_variant_get(reply, "(&s)", &xml);
        live = g_dbus_node_info_new_for_xml(xml, &error);
        g_assert_no_error(error);

        g_assert_true(g_file_get_contents(path, &contents, NULL, &error));
        file = g_dbus_node_info_new_for_xml(contents, &error);
        g_assert_no_error(error);

        li = g_dbus_node_info_lookup_interface(live, VDPA_INTERFACE);
        fi = g_dbus_node_info_lookup_interface(file, VDPA_INTERFACE);
        g_assert_nonnull(li);
        g_assert_nonnull(fi);

        /* The file documents only our interface. */
        for (n = 0; file->interfaces[n]; n++)
                ;
        g_assert_cmpuint(n, ==, 1);

        for (n = 0; li->methods[n]; n++) {
                GDBusMethodInfo *fm = g_dbus_interface_info_lookup_method(fi, li->methods[n]->name);
                if (!fm)
                        g_error("method %s is not in %s", li->methods[n]->name, path);
                assert_args_equal(li->methods[n]->in_args, fm->in_args, fm->name);
                assert_args_equal(li->methods[n]->out_args, fm->out_args, fm->name);
                assert_annotations_equal(li->methods[n]->annotations, fm->annotations, fm->name);
        }
        for (guint m = 0; fi->methods[m]; m++)
                if (!g_dbus_interface_info_lookup_method(li, fi->methods[m]->name))
                        g_error("method %s is documented but not served", fi->methods[m]->name);
        g_assert_cmpuint(n, ==, 9);

        for (n = 0; li->signals[n]; n++) {
                GDBusSignalInfo *fs = g_dbus_interface_info_lookup_signal(fi, li->signals[n]->name);
                if (!fs)
                        g_error("signal %s is not in %s", li->signals[n]->name, path);
                assert_args_equal(li->signals[n]->args, fs->args, fs->name);
        }
        for (guint m = 0; fi->signals[m]; m++)
                g_assert_nonnull(g_dbus_interface_info_lookup_signal(li, fi->signals[m]->name));
        g_assert_cmpuint(n, ==, 3);

        for (n = 0; li->properties[n]; n++) {
                GDBusPropertyInfo *fp = g_dbus_interface_info_lookup_property(fi, li->properties[n]->name);
                if (!fp)
                        g_error("property %s is not in %s", li->properties[n]->name, path);
                g_assert_cmpstr(li->properties[n]->signature, ==, fp->signature);
                g_assert_cmpint(li->properties[n]->flags, ==, fp->flags);
                assert_annotations_equal(li->properties[n]->annotations, fp->annotations, fp->name);
        }
        for (guint m = 0; fi->properties[m]; m++)
                g_assert_nonnull(g_dbus_interface_info_lookup_property(li, fi->properties[m]->name));
        g_assert_cmpuint(n, ==, 7);

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* Without the kernel's vdpa netlink family: arguments are still checked
 * first, then NotSupported, and nothing changes. */
/* [Provision] rules without the kernel's netlink family: listed in
 * ProvisionRules, ignored with a warning, nothing else changes. */
static void test_provision_rules_no_netlink(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) rules = NULL, rule = NULL, list = NULL;
        g_autofree char *log = NULL;
        g_autofree char *log_path = g_build_filename(vdpa_test_bus_get_tmpdir(f->bus), "daemon.log", NULL);
        const char *s;
        guint16 q;

        write_config(f, "[Provision cx6]\nManagementDevice=pci/0000:04:00.*\nMtu=9000\nMac=auto\n\n"
                        "[Provision sfs]\nManagementDevice=auxiliary/*\nName=sf-%n\n");
        vdpa_test_daemon_start_or_die(f->bus, NULL);
        rules = vdpa_test_get_property(f->bus, "ProvisionRules", &error);
        g_assert_no_error(error);
        g_assert_cmpuint(g_variant_n_children(rules), ==, 2);
        rule = g_variant_get_child_value(rules, 0);
        g_assert_true(g_variant_lookup(rule, VDPA_RULE_KEY_NAME, "&s", &s));
        g_assert_cmpstr(s, ==, "cx6");
        g_assert_true(g_variant_lookup(rule, VDPA_RULE_KEY_MANAGEMENT_DEVICE, "&s", &s));
        g_assert_cmpstr(s, ==, "pci/0000:04:00.*");
        g_assert_true(g_variant_lookup(rule, VDPA_RULE_KEY_MTU, "q", &q));
        g_assert_cmpuint(q, ==, 9000);
        g_assert_true(g_variant_lookup(rule, VDPA_RULE_KEY_MAX_QUEUE_PAIRS, "q", &q));
        g_assert_cmpuint(q, ==, 0);
        g_assert_true(g_variant_lookup(rule, VDPA_RULE_KEY_MAC, "&s", &s));
        g_assert_cmpstr(s, ==, "auto");
        g_assert_true(g_variant_lookup(rule, VDPA_RULE_KEY_NAME_PATTERN, "&s", &s));
        g_assert_cmpstr(s, ==, "vdpa%n");
        g_clear_pointer(&rule, g_variant_unref);
        rule = g_variant_get_child_value(rules, 1);
        g_assert_true(g_variant_lookup(rule, VDPA_RULE_KEY_NAME_PATTERN, "&s", &s));
        g_assert_cmpstr(s, ==, "sf-%n");
        g_assert_true(g_variant_lookup(rule, VDPA_RULE_KEY_MAC, "&s", &s));
        g_assert_cmpstr(s, ==, "");

        /* Still the same devices, none provisioned. */
        list = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);
        {
                g_autoptr(GVariant) devs = g_variant_get_child_value(list, 0);

                g_assert_cmpuint(g_variant_n_children(devs), ==, G_N_ELEMENTS(host_devices));
        }
        vdpa_test_wait_operations_done(f->bus, 10000);
        vdpa_test_daemon_stop_assert_ok(f->bus);
        g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
        g_assert_nonnull(strstr(log, "2 [Provision] rule(s) ignored: the kernel has no vdpa netlink family"));
}

static void test_provision_unsupported(Fixture *f, gconstpointer data) {
        static const struct {
                const char *method;
                const char *args;
                const char *error;
        } cases[] = {
                { "ManagementDevices", NULL, VDPA_ERROR_NOT_SUPPORTED },
                { "CreateDevice", "('pci/0000:04:00.5', 'vdpa9', @a{sv} {})", VDPA_ERROR_NOT_SUPPORTED },
                { "CreateDevice", "('pci/0000:04:00.5', '', {'mtu': <@q 9000>, 'max_queue_pairs': <@q 4>})",
                  VDPA_ERROR_NOT_SUPPORTED },
                { "CreateDevice", "('pci/0000:04:00.5', 'vdpa9', {'mtu': <@q 67>})", "org.freedesktop.DBus.Error.InvalidArgs" },
                { "CreateDevice", "('pci/0000:04:00.5', 'vdpa9', {'mtu': <9000>})", "org.freedesktop.DBus.Error.InvalidArgs" },
                { "CreateDevice", "('pci/0000:04:00.5', 'vdpa9', {'max_queue_pairs': <@q 0>})",
                  "org.freedesktop.DBus.Error.InvalidArgs" },
                { "CreateDevice", "('pci/0000:04:00.5', 'vdpa9', {'mac': <'01:00:00:00:00:01'>})",
                  "org.freedesktop.DBus.Error.InvalidArgs" },
                { "CreateDevice", "('pci/0000:04:00.5', 'vdpa9', {'queues': <@u 2>})", "org.freedesktop.DBus.Error.InvalidArgs" },
                { "CreateDevice", "('', 'vdpa9', @a{sv} {})", "org.freedesktop.DBus.Error.InvalidArgs" },
                { "CreateDevice", "('a/b/c', 'vdpa9', @a{sv} {})", "org.freedesktop.DBus.Error.InvalidArgs" },
                { "CreateDevice", "('pci/0000:04:00.5', '../x', @a{sv} {})", "org.freedesktop.DBus.Error.InvalidArgs" },
                { "CreateDevice", "('pci/0000:04:00.5', '-x', @a{sv} {})", "org.freedesktop.DBus.Error.InvalidArgs" },
                { "DeleteDevice", "('vdpa0', @a{sv} {})", VDPA_ERROR_NOT_SUPPORTED },
                { "DeleteDevice", "('vdpa0', {'force': <true>})", "org.freedesktop.DBus.Error.InvalidArgs" },
                { "DeleteDevice", "('', @a{sv} {})", "org.freedesktop.DBus.Error.InvalidArgs" },
        };
        g_autoptr(GVariant) before = NULL, after = NULL;
        g_autoptr(GError) error = NULL;

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        before = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GVariant) reply = NULL;
                GVariant *args = cases[i].args ? g_variant_new_parsed(cases[i].args) : NULL;

                g_test_message("%s%s", cases[i].method, cases[i].args ? cases[i].args : "()");
                reply = vdpa_test_call(f->bus, cases[i].method, args, NULL, &error);
                vdpa_test_assert_error_name(error, cases[i].error);
                g_clear_error(&error);
        }

        after = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);
        g_assert_true(g_variant_equal(before, after));
        vdpa_test_wait_operations_done(f->bus, 5000);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

#define ADD(path, func) \
        g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        vdpa_testbed_isolate_uevent_queue();

        ADD("/service/devices", test_devices);
        ADD("/service/get-device/unknown", test_get_device_unknown);
        ADD("/service/get-device/wrong-signature", test_non_utf8_rejected_by_bus);
        ADD("/service/standard-interfaces-strict", test_standard_interfaces_strict);
        ADD("/service/check-migration/policies", test_check_migration);
        ADD("/service/check-migration/unavailable", test_check_migration_unavailable);
        ADD("/service/config/reload", test_config_reload);
        ADD("/service/state/corrupt-at-start", test_corrupt_state_at_start);
        ADD("/service/properties", test_properties);
        ADD("/service/libvirt/in-use", test_libvirt_in_use);
        ADD("/service/libvirt/unreachable", test_libvirt_unreachable);
        ADD("/service/libvirt/hung", test_libvirt_hung);
        ADD("/service/config/allow-list", test_config_allow_list);
        ADD("/service/config/bad", test_config_bad);
        ADD("/service/config/missing-explicit", test_config_missing_explicit);
        ADD("/service/hotplug/paths", test_hotplug);
        ADD("/service/hotplug/burst", test_hotplug_burst);
        ADD("/service/representor", test_representor);
        ADD("/service/build-xml/ok", test_build_xml);
        ADD("/service/build-xml/errors", test_build_xml_errors);
        ADD("/service/build-xml/hostile", test_build_xml_hostile);
        ADD("/service/lifecycle/activation", test_activation);
        ADD("/service/lifecycle/exit-on-bus-disconnect", test_exit_on_bus_disconnect);
        ADD("/service/lifecycle/sigpipe-ignored", test_sigpipe_ignored);
        ADD("/service/introspection", test_introspection);
        ADD("/service/provision/unsupported", test_provision_unsupported);
        ADD("/service/provision/rules-without-netlink", test_provision_rules_no_netlink);
        g_test_add_func("/service/lifecycle/help-version", test_help_version);

        return g_test_run();
}
