/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel's vDPA management plane over the bus (DESIGN.md §7): the real
 * daemon, with its capability bounding set cut to the unit's, against the
 * kernel-faithful netlink simulator (tests/vdpa-sim.h) serving the same
 * umockdev testbed, checked from the other side by Debian's unmodified
 * iproute2 `vdpa`.
 */
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <linux/vdpa.h>

#include "harness.h"
#include "polkit-harness.h"
#include "testbed.h"
#include "vdpa-names.h"
#include "vdpa-sim.h"

#define WAIT_MS 10000

#define GRANT_ROOT_RULE                                                         \
        "polkit.addRule(function(action, subject) {\n"                          \
        "  if (action.id == 'org.vdpa.manager.provision' &&\n"                  \
        "      subject.user == 'root')\n"                                       \
        "    return polkit.Result.YES;\n"                                       \
        "});\n"

typedef struct {
        UMockdevTestbed *tb;
        VdpaSim *sim;
        VdpaTestBus *bus;
        VdpaTestPolkit *polkit;
        VdpaTestRecorder *rec;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;

        /* Testbed, then its simulator, then the bus: everything started
         * later inherits UMOCKDEV_DIR and reaches the simulator. */
        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        f->sim = vdpa_sim_start(f->tb, &error);
        g_assert_no_error(error);
        f->bus = vdpa_test_bus_new_or_die();
        f->polkit = vdpa_test_polkit_start_or_die(f->bus, GRANT_ROOT_RULE);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        g_clear_pointer(&f->rec, vdpa_test_recorder_free);
        g_clear_pointer(&f->polkit, vdpa_test_polkit_stop);
        g_clear_pointer(&f->bus, vdpa_test_bus_free);
        /* No simulator thread may outlive its testbed. */
        g_clear_pointer(&f->sim, vdpa_sim_stop);
        g_clear_object(&f->tb);
}

static void start_daemon(Fixture *f, const char *const *args) {
        vdpa_test_daemon_start_or_die(f->bus, args);
        f->rec = vdpa_test_recorder_new(f->bus);
}

/* ------------------------------------------------------------ helpers */

/* The device names `vdpa dev show -j` lists, sorted. */
static char *kernel_devices(void) {
        const char *const args[] = { "-j", "dev", "show", NULL };
        g_autofree char *out = NULL, *err = NULL;
        g_autoptr(JsonParser) p = json_parser_new();
        g_autoptr(GError) error = NULL;
        g_autoptr(GList) names = NULL;
        JsonObject *dev;
        GString *s = g_string_new(NULL);

        g_assert_cmpint(vdpa_test_run_vdpa(args, &out, &err), ==, 0);
        g_assert_true(json_parser_load_from_data(p, out, -1, &error));
        g_assert_no_error(error);
        dev = json_object_get_object_member(json_node_get_object(json_parser_get_root(p)), "dev");
        g_assert_nonnull(dev);
        names = g_list_sort(json_object_get_members(dev), (GCompareFunc) strcmp);
        for (GList *l = names; l; l = l->next)
                g_string_append_printf(s, "%s%s", s->len ? " " : "", (const char *) l->data);
        return g_string_free(s, FALSE);
}

static GVariant *devices(Fixture *f) {
        g_autoptr(GError) error = NULL;
        GVariant *reply = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);

        g_assert_no_error(error);
        return reply;
}

/* Signals the daemon sent before an answer already received are in the
 * connection's queue: dispatch them. */
static void drain_signals(void) {
        while (g_main_context_iteration(NULL, FALSE))
                ;
}

static GVariant *create_device(Fixture *f, const char *mgmtdev, const char *name, GVariant *options, GError **error) {
        if (!options)
                options = g_variant_new("a{sv}", NULL);
        return vdpa_test_call(f->bus, "CreateDevice", g_variant_new("(ss@a{sv})", mgmtdev, name, options), "(s)", error);
}

static GVariant *delete_device(Fixture *f, const char *name, GError **error) {
        return vdpa_test_call(f->bus, "DeleteDevice", g_variant_new("(s@a{sv})", name, g_variant_new("a{sv}", NULL)),
                              NULL, error);
}

/* ------------------------------------------------------------- tests */

static void test_inventory(Fixture *f, gconstpointer data) {
        static const struct {
                const char *name, *mgmtdev;
        } expect[] = {
                { "blk0", "pci/0000:04:00.4" },
                { "fast1", "auxiliary/mlx5_core.sf.4" },
                { "vdpa-sim0", "vdpasim_net" },
                { "vdpa0", "pci/0000:04:00.2" },
                { "vdpa1", "pci/0000:04:00.3" },
                { "vdpa2", "pci/0000:81:00.2" },
        };
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) caps = NULL;
        gboolean b;

        start_daemon(f, NULL);
        caps = vdpa_test_get_property(f->bus, "Capabilities", &error);
        g_assert_no_error(error);
        g_assert_true(g_variant_lookup(caps, VDPA_CAP_VDPA_NETLINK, "b", &b));
        g_assert_true(b);

        for (size_t i = 0; i < G_N_ELEMENTS(expect); i++) {
                g_autoptr(GVariant) d = vdpa_test_get_device(f->bus, expect[i].name);

                g_test_message("%s", expect[i].name);
                /* blk0 is a network device whose name says otherwise. */
                g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_TYPE), ==, VDPA_TYPE_NET);
                g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_MANAGEMENT_DEVICE), ==, expect[i].mgmtdev);
                g_assert_cmpuint(vdpa_test_dict_u(d, VDPA_KEY_MAX_QUEUES), >, 0);
                g_assert_cmpuint(vdpa_test_dict_q(d, VDPA_KEY_MAX_QUEUE_SIZE), ==, 256);
        }

        /* DEV_CONFIG_GET answers EAGAIN until a driver negotiated features,
         * which only means "unknown": vdpa0 (vhost_vdpa, no VM) is available
         * without a configuration.  The kernel's config dump ends quietly at
         * the first device it cannot describe (blk0, first in bus order),
         * so even vdpa1, negotiated by virtio_vdpa, is unknown after the
         * start-up dump: one dump per enumeration, no round trip per
         * device (documented in vdpa-managerd(8)). */
        {
                g_autoptr(GVariant) v0 = vdpa_test_get_device(f->bus, "vdpa0"), v1 = vdpa_test_get_device(f->bus, "vdpa1");

                g_assert_cmpuint(vdpa_test_dict_q(v0, VDPA_KEY_MTU), ==, 0);
                g_assert_cmpstr(vdpa_test_dict_str(v0, VDPA_KEY_DEVICE_MAC), ==, "");
                g_assert_cmpstr(vdpa_test_dict_str(v0, VDPA_KEY_STATE), ==, VDPA_STATE_AVAILABLE);
                g_assert_cmpuint(vdpa_test_dict_q(v1, VDPA_KEY_MTU), ==, 0);
                g_assert_cmpuint(vdpa_test_dict_q(v1, VDPA_KEY_MAX_QUEUE_PAIRS), ==, 0);
        }
        g_assert_cmpuint(vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_GET), ==, 1);
        g_assert_cmpuint(vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_CONFIG_GET), ==, 1);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_GET), ==, 1);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_create_delete(Fixture *f, gconstpointer data) {
        g_autoptr(GVariant) reply = NULL, d = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *before = NULL, *with = NULL, *after = NULL;
        const char *name;

        start_daemon(f, NULL);
        before = kernel_devices();
        vdpa_sim_reset_counts(f->sim);

        reply = create_device(f, "pci/0000:04:00.5", "vdpa9",
                              g_variant_new_parsed("{'mac': <'00:11:22:33:44:55'>, 'max_queue_pairs': <@q 4>}"),
                              &error);
        g_assert_no_error(error);
        g_variant_get(reply, "(&s)", &name);
        g_assert_cmpstr(name, ==, "vdpa9");

        /* It answers only once the device is in the inventory: its
         * DeviceAdded came first. */
        drain_signals();
        g_assert_nonnull(vdpa_test_recorder_find_device(f->rec, "DeviceAdded", "vdpa9"));
        /* One DEV_NEW, and one DEV_GET for the new device: its "add" asked,
         * the "bind" right behind it did not ask again. */
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_NEW), ==, 1);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_GET), ==, 1);
        g_assert_cmpuint(vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_GET), ==, 0);
        d = vdpa_test_get_device(f->bus, "vdpa9");
        g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_TYPE), ==, VDPA_TYPE_NET);
        g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_MANAGEMENT_DEVICE), ==, "pci/0000:04:00.5");
        g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_DEVICE_MAC), ==, "00:11:22:33:44:55");
        g_assert_cmpuint(vdpa_test_dict_q(d, VDPA_KEY_MAX_QUEUE_PAIRS), ==, 4);
        g_assert_cmpuint(vdpa_test_dict_u(d, VDPA_KEY_MAX_QUEUES), ==, 9);   /* 2 x 4 + control */
        g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_STATE), ==, VDPA_STATE_AVAILABLE);
        g_assert_true(g_str_has_prefix(vdpa_test_dict_str(d, VDPA_KEY_CHARDEV), "/dev/vhost-vdpa-"));

        /* The kernel (iproute2's view of it) has it too. */
        with = kernel_devices();
        g_assert_nonnull(strstr(with, "vdpa9"));

        g_clear_pointer(&reply, g_variant_unref);
        reply = delete_device(f, "vdpa9", &error);
        g_assert_no_error(error);
        drain_signals();
        g_assert_nonnull(vdpa_test_recorder_find_device(f->rec, "DeviceRemoved", "vdpa9"));
        g_assert_null(vdpa_test_call(f->bus, "GetDevice", g_variant_new("(s)", "vdpa9"), NULL, &error));
        vdpa_test_assert_error_name(error, VDPA_ERROR_NO_SUCH_DEVICE);
        g_clear_error(&error);
        after = kernel_devices();
        g_assert_cmpstr(after, ==, before);

        vdpa_test_wait_operations_done(f->bus, WAIT_MS);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_create_auto_name(Fixture *f, gconstpointer data) {
        g_autoptr(GVariant) reply = NULL, d = NULL;
        g_autoptr(GError) error = NULL;
        const char *name;

        start_daemon(f, NULL);
        reply = create_device(f, "vdpasim_net", "", g_variant_new_parsed("{'mtu': <@q 9000>}"), &error);
        g_assert_no_error(error);
        g_variant_get(reply, "(&s)", &name);
        /* vdpa0..vdpa2 exist in the fixture. */
        g_assert_cmpstr(name, ==, "vdpa3");
        d = vdpa_test_get_device(f->bus, "vdpa3");
        g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_MANAGEMENT_DEVICE), ==, "vdpasim_net");
        g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_PARENT_KIND), ==, VDPA_PARENT_VIRTUAL);
        g_assert_cmpuint(vdpa_test_dict_q(d, VDPA_KEY_MTU), ==, 9000);
        /* A simulator device: excluded unless AllowVirtual=true. */
        g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_STATE), ==, VDPA_STATE_EXCLUDED);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* A device made by someone else's `vdpa dev add` is seen, with its type. */
static void test_external_add(Fixture *f, gconstpointer data) {
        const char *const add[] = { "dev", "add", "name", "ext0", "mgmtdev", "pci/0000:04:00.5", NULL };
        const char *const add_blk[] = { "dev", "add", "name", "disk0", "mgmtdev", "vdpasim_blk", NULL };
        const char *const del[] = { "dev", "del", "ext0", NULL };
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *err = NULL;
        GVariant *dict;

        /* Simulator devices (vdpasim_blk's) are listed as they are, not
         * excluded. */
        g_assert_true(g_file_set_contents(vdpa_test_bus_get_config_path(f->bus),
                                          "[Devices]\nAllowVirtual=true\n", -1, NULL));
        start_daemon(f, NULL);

        g_assert_cmpint(vdpa_test_run_vdpa(add, NULL, &err), ==, 0);
        dict = g_variant_get_child_value(vdpa_test_recorder_wait_device(f->rec, "DeviceAdded", "ext0", WAIT_MS)->parameters, 1);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_TYPE), ==, VDPA_TYPE_NET);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_MANAGEMENT_DEVICE), ==, "pci/0000:04:00.5");
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_STATE), ==, VDPA_STATE_AVAILABLE);
        g_variant_unref(dict);

        /* A virtio-blk device is never a NIC. */
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(vdpa_test_run_vdpa(add_blk, NULL, &err), ==, 0);
        dict = g_variant_get_child_value(vdpa_test_recorder_wait_device(f->rec, "DeviceAdded", "disk0", WAIT_MS)->parameters, 1);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_TYPE), ==, VDPA_TYPE_BLK);
        g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_STATE), ==, VDPA_STATE_UNUSABLE);
        g_variant_unref(dict);
        reply = vdpa_test_call(f->bus, "BuildInterfaceXml", g_variant_new_parsed("('disk0', @a{sv} {})"), NULL, &error);
        vdpa_test_assert_error_name(error, VDPA_ERROR_DEVICE_UNUSABLE);
        g_assert_nonnull(strstr(error->message, "blk"));
        g_clear_error(&error);

        g_clear_pointer(&err, g_free);
        g_assert_cmpint(vdpa_test_run_vdpa(del, NULL, &err), ==, 0);
        vdpa_test_recorder_wait_device(f->rec, "DeviceRemoved", "ext0", WAIT_MS);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

typedef struct {
        const char *what;
        const char *mgmtdev;
        const char *name;
        const char *options;
        const char *error;
        const char *text;       /* the kernel's extack, carried in the message; NULL if none */
} KernelErrorCase;

static const KernelErrorCase kernel_errors[] = {
        { "ENODEV", "pci/0000:09:00.0", "x0", NULL, VDPA_ERROR_NO_SUCH_MGMTDEV,
          "vdpa: Fail to find the specified management device" },
        { "ENODEV, no bus", "0000:04:00.5", "x0", NULL, VDPA_ERROR_NO_SUCH_MGMTDEV,
          "vdpa: Fail to find the specified management device" },
        { "EEXIST", "vdpasim_net", "vdpa0", NULL, VDPA_ERROR_DEVICE_EXISTS, NULL },
        { "EOPNOTSUPP", "vdpasim_net", "x0", "{'max_queue_pairs': <@q 2>}", VDPA_ERROR_NOT_SUPPORTED,
          "vdpa: All provided attributes are not supported" },
        { "EOPNOTSUPP blk", "vdpasim_blk", "x0", "{'mtu': <@q 1500>}", VDPA_ERROR_NOT_SUPPORTED,
          "vdpa: All provided attributes are not supported" },
        { "ENOSPC", "pci/0000:04:00.2", "x0", NULL, VDPA_ERROR_MGMTDEV_BUSY, NULL },
        { "EINVAL mlx5 max_vqp", "pci/0000:04:00.5", "x0", "{'max_queue_pairs': <@q 4096>}",
          "org.freedesktop.DBus.Error.InvalidArgs", NULL },
        /* The kernel's own floors (ERANGE for MTU < 68, EINVAL for no queue
         * pair) are the options' ranges: refused before the kernel is asked. */
        { "MTU below 68", "pci/0000:04:00.5", "x0", "{'mtu': <@q 67>}",
          "org.freedesktop.DBus.Error.InvalidArgs", "'mtu'" },
        { "max_vqp 0", "pci/0000:04:00.5", "x0", "{'max_queue_pairs': <@q 0>}",
          "org.freedesktop.DBus.Error.InvalidArgs", "'max_queue_pairs'" },
};

static void test_kernel_errors(Fixture *f, gconstpointer data) {
        g_autoptr(GVariant) before = NULL, after = NULL;
        g_autofree char *kbefore = NULL, *kafter = NULL;

        start_daemon(f, NULL);
        before = devices(f);
        kbefore = kernel_devices();

        for (size_t i = 0; i < G_N_ELEMENTS(kernel_errors); i++) {
                const KernelErrorCase *c = &kernel_errors[i];
                g_autoptr(GVariant) reply = NULL;
                g_autoptr(GError) error = NULL;

                g_test_message("%s: CreateDevice(%s, %s, %s)", c->what, c->mgmtdev, c->name, c->options ? c->options : "");
                reply = create_device(f, c->mgmtdev, c->name, c->options ? g_variant_new_parsed(c->options) : NULL,
                                      &error);
                vdpa_test_assert_error_name(error, c->error);
                if (c->text)
                        g_assert_nonnull(strstr(error->message, c->text));
        }

        /* Nothing changed, on either side. */
        after = devices(f);
        g_assert_true(g_variant_equal(before, after));
        kafter = kernel_devices();
        g_assert_cmpstr(kafter, ==, kbefore);
        drain_signals();
        g_assert_cmpuint(vdpa_test_recorder_count(f->rec, "DeviceAdded"), ==, 0);
        g_assert_cmpuint(vdpa_test_recorder_count(f->rec, "DeviceRemoved"), ==, 0);
        vdpa_test_wait_operations_done(f->bus, WAIT_MS);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* Without CAP_NET_ADMIN the kernel says EPERM: AccessDenied, nothing made. */
static void test_no_capability(Fixture *f, gconstpointer data) {
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *before = NULL, *after = NULL;

        vdpa_test_bus_set_daemon_bounding_set(f->bus, "-all");
        start_daemon(f, NULL);
        before = kernel_devices();
        vdpa_sim_reset_counts(f->sim);

        reply = create_device(f, "pci/0000:04:00.5", "vdpa9", NULL, &error);
        vdpa_test_assert_error_name(error, "org.freedesktop.DBus.Error.AccessDenied");
        g_assert_nonnull(strstr(error->message, "CAP_NET_ADMIN"));
        g_clear_error(&error);
        reply = delete_device(f, "vdpa0", &error);
        vdpa_test_assert_error_name(error, "org.freedesktop.DBus.Error.AccessDenied");
        g_clear_error(&error);

        after = kernel_devices();
        g_assert_cmpstr(after, ==, before);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* Deleting what someone uses is refused before anything is asked. */
static void test_delete_busy(Fixture *f, gconstpointer data) {
        g_autofree char *uri_arg = g_strdup_printf("--libvirt-uri=test://%s/libvirt-node.xml", g_getenv("VDPA_TEST_DATA"));
        const char *const args[] = { uri_arg, NULL };
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *before = NULL, *after = NULL;

        start_daemon(f, args);
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, WAIT_MS);
        before = kernel_devices();

        /* guest-a of libvirt-node.xml uses vdpa2. */
        reply = delete_device(f, "vdpa2", &error);
        vdpa_test_assert_error_name(error, VDPA_ERROR_DEVICE_BUSY);
        g_assert_nonnull(strstr(error->message, "guest-a"));
        g_clear_error(&error);
        reply = delete_device(f, "nosuch", &error);
        vdpa_test_assert_error_name(error, VDPA_ERROR_NO_SUCH_DEVICE);
        g_clear_error(&error);

        after = kernel_devices();
        g_assert_cmpstr(after, ==, before);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* An unprivileged caller without a rule is denied by polkit. */
static void test_polkit_denied(Fixture *f, gconstpointer data) {
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *before = NULL, *after = NULL;
        uid_t uid;
        gid_t gid;

        vdpa_test_user_ensure_or_die(VDPA_TEST_USER, &uid, &gid);
        start_daemon(f, NULL);
        before = kernel_devices();

        reply = vdpa_test_call_as_uid(f->bus, uid, gid, "CreateDevice",
                                      g_variant_new_parsed("('pci/0000:04:00.5', 'vdpa9', @a{sv} {})"), 0, &error);
        vdpa_test_assert_error_name(error, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired");
        g_clear_error(&error);
        reply = vdpa_test_call_as_uid(f->bus, uid, gid, "DeleteDevice",
                                      g_variant_new_parsed("('vdpa0', @a{sv} {})"), 0, &error);
        vdpa_test_assert_error_name(error, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired");
        g_clear_error(&error);

        after = kernel_devices();
        g_assert_cmpstr(after, ==, before);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_management_devices(Fixture *f, gconstpointer data) {
        g_autoptr(GVariant) reply = NULL, list = NULL;
        g_autoptr(GError) error = NULL;
        gboolean seen_vf5 = FALSE, seen_blk = FALSE, seen_sf = FALSE;

        start_daemon(f, NULL);
        reply = vdpa_test_call(f->bus, "ManagementDevices", NULL, "(aa{sv})", &error);
        g_assert_no_error(error);
        list = g_variant_get_child_value(reply, 0);
        g_assert_cmpuint(g_variant_n_children(list), >=, 4);

        for (gsize i = 0; i < g_variant_n_children(list); i++) {
                g_autoptr(GVariant) m = g_variant_get_child_value(list, i);
                g_autofree const char **classes = NULL, **devs = NULL;
                const char *handle = vdpa_test_dict_str(m, VDPA_MGMT_KEY_HANDLE);
                gint32 numa;

                g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_SUPPORTED_CLASSES, "^a&s", &classes));
                g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_DEVICES, "^a&s", &devs));
                g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_NUMA_NODE, "i", &numa));
                g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_PROVISION_ERROR), ==, "");
                if (g_str_equal(handle, "pci/0000:04:00.5")) {
                        seen_vf5 = TRUE;
                        g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_BUS_NAME), ==, "pci");
                        g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_DEVICE_NAME), ==, "0000:04:00.5");
                        g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_PARENT_KIND), ==, VDPA_PARENT_VF);
                        g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_PHYSICAL_FUNCTION), ==, "0000:04:00.0");
                        g_assert_cmpint(numa, ==, 0);
                        g_assert_cmpstrv(classes, ((const char *const[]) { "net", NULL }));
                        g_assert_cmpuint(g_strv_length((char **) devs), ==, 0);
                } else if (g_str_equal(handle, "vdpasim_blk")) {
                        seen_blk = TRUE;
                        g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_BUS_NAME), ==, "");
                        g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_PARENT_KIND), ==, VDPA_PARENT_VIRTUAL);
                        g_assert_cmpstrv(classes, ((const char *const[]) { "blk", NULL }));
                } else if (g_str_equal(handle, "auxiliary/mlx5_core.sf.4")) {
                        seen_sf = TRUE;
                        g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_PARENT_KIND), ==, VDPA_PARENT_SF);
                        g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_PHYSICAL_FUNCTION), ==, "0000:04:00.0");
                        g_assert_cmpstrv(devs, ((const char *const[]) { "fast1", NULL }));
                }
        }
        g_assert_true(seen_vf5 && seen_blk && seen_sf);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

#define ADD(path, func) \
        g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        vdpa_testbed_isolate_uevent_queue();

        ADD("/netlink/inventory", test_inventory);
        ADD("/netlink/management-devices", test_management_devices);
        ADD("/netlink/create-delete", test_create_delete);
        ADD("/netlink/create-auto-name", test_create_auto_name);
        ADD("/netlink/external-add", test_external_add);
        ADD("/netlink/kernel-errors", test_kernel_errors);
        ADD("/netlink/no-capability", test_no_capability);
        ADD("/netlink/delete-busy", test_delete_busy);
        ADD("/netlink/polkit-denied", test_polkit_denied);

        return g_test_run();
}
