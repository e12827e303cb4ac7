/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Declarative provisioning (DESIGN.md §8): the real daemon with a
 * [Provision NAME] rule, against the kernel-faithful netlink simulator
 * (tests/vdpa-sim.h) on a umockdev testbed that grows a ConnectX-6 Dx PF
 * with free VFs, checked from the other side by Debian's iproute2 `vdpa`.
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <linux/vdpa.h>

#include "harness.h"
#include "polkit-harness.h"
#include "testbed.h"
#include "vdpa-names.h"
#include "vdpa-sim.h"

#define WAIT_MS 20000
#define PF "0000:21:00.0"
#define N_VFS 4
#define HOTPLUG_BOUND_USEC (1 * G_USEC_PER_SEC)

#define RULE_CX6                                                                \
        "[Provision cx6]\n"                                                     \
        "ManagementDevice=pci/0000:21:00.*\n"                                   \
        "MaxQueuePairs=4\n"                                                     \
        "Mtu=9000\n"                                                            \
        "Mac=auto\n"                                                            \
        "Name=vdpa-%n\n"

static const char *const vfs[N_VFS] = { "0000:21:00.2", "0000:21:00.3", "0000:21:00.4", "0000:21:00.5" };

typedef struct {
        UMockdevTestbed *tb;
        VdpaSim *sim;
        VdpaTestBus *bus;
        VdpaTestRecorder *rec;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;

        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        g_assert_true(vdpa_testbed_add_pf_with_vfs(f->tb, PF, N_VFS, &error));
        g_assert_no_error(error);
        f->sim = vdpa_sim_start(f->tb, &error);
        g_assert_no_error(error);
        f->bus = vdpa_test_bus_new_or_die();
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        g_clear_pointer(&f->rec, vdpa_test_recorder_free);
        g_clear_pointer(&f->bus, vdpa_test_bus_free);
        g_clear_pointer(&f->sim, vdpa_sim_stop);
        g_clear_object(&f->tb);
}

static void write_config(Fixture *f, const char *contents) {
        g_autoptr(GError) error = NULL;

        g_file_set_contents(vdpa_test_bus_get_config_path(f->bus), contents, -1, &error);
        g_assert_no_error(error);
}

/* The recorder first: the daemon provisions as soon as it serves, and its
 * first DeviceAdded may come before the harness sees the name owned (the
 * bus matches the well-known sender when it delivers). */
static void start_daemon(Fixture *f) {
        g_clear_pointer(&f->rec, vdpa_test_recorder_free);
        f->rec = vdpa_test_recorder_new(f->bus);
        vdpa_test_daemon_start_or_die(f->bus, NULL);
}

/* ------------------------------------------------------------ helpers */

/* `vdpa -j dev show` (WHAT "show") or `vdpa -j dev config show NAME`
 * (WHAT the name) as a JSON object of devices. */
static JsonObject *vdpa_json(const char *what, JsonParser **ret_parser) {
        const char *const args[] = { "-j", "dev", "show", NULL };
        const char *const cfg_args[] = { "-j", "dev", "config", "show", what, NULL };
        g_autofree char *out = NULL, *err = NULL;
        JsonParser *p = json_parser_new();
        g_autoptr(GError) error = NULL;
        JsonObject *root;
        bool config = !g_str_equal(what, "show");
        int r = vdpa_test_run_vdpa(config ? cfg_args : args, &out, &err);

        if (r != 0)
                g_error("vdpa dev %s failed (%d): %s", what, r, err);
        g_assert_true(json_parser_load_from_data(p, out, -1, &error));
        g_assert_no_error(error);
        root = json_node_get_object(json_parser_get_root(p));
        *ret_parser = p;
        return json_object_get_object_member(root, config ? "config" : "dev");
}

/* The kernel's devices on management device pci/VF. */
static guint kernel_devices_on(JsonObject *devs, const char *vf, char **ret_name) {
        g_autofree char *handle = g_strdup_printf("pci/%s", vf);
        g_autoptr(GList) names = json_object_get_members(devs);
        guint n = 0;

        for (GList *l = names; l; l = l->next) {
                JsonObject *d = json_object_get_object_member(devs, l->data);

                if (g_strcmp0(json_object_get_string_member_with_default(d, "mgmtdev", ""), handle) == 0) {
                        n++;
                        if (ret_name) {
                                g_free(*ret_name);
                                *ret_name = g_strdup(l->data);
                        }
                }
        }
        return n;
}

/* ManagementDevices() entry of HANDLE. */
static GVariant *mgmtdev_entry(Fixture *f, const char *handle) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = vdpa_test_call(f->bus, "ManagementDevices", NULL, "(aa{sv})", &error);
        g_autoptr(GVariant) list = NULL;
        GVariantIter it;
        GVariant *m;

        g_assert_no_error(error);
        list = g_variant_get_child_value(reply, 0);
        g_variant_iter_init(&it, list);
        while ((m = g_variant_iter_next_value(&it))) {
                if (g_str_equal(vdpa_test_dict_str(m, VDPA_MGMT_KEY_HANDLE), handle))
                        return m;
                g_variant_unref(m);
        }
        g_error("ManagementDevices() has no %s", handle);
}

static char *state_file(Fixture *f) {
        return g_build_filename(vdpa_test_bus_get_state_dir(f->bus), "provisioned", NULL);
}

/* [Device NAME] groups of the state file. */
static GStrv recorded_devices(Fixture *f) {
        g_autofree char *path = state_file(f);
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_auto(GStrv) groups = NULL;

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL))
                return g_strv_builder_end(b);
        groups = g_key_file_get_groups(kf, NULL);
        for (size_t i = 0; groups[i]; i++)
                if (g_str_has_prefix(groups[i], "Device "))
                        g_strv_builder_add(b, groups[i] + strlen("Device "));
        return g_strv_builder_end(b);
}

/* The truth after provisioning settled: every VF has exactly one device
 * in the kernel, each recorded and shown Provisioned; every record names
 * a device the kernel has.  Returns the device names by VF. */
static GStrv assert_provisioned(Fixture *f) {
        g_autoptr(JsonParser) p = NULL;
        JsonObject *devs = vdpa_json("show", &p);
        g_auto(GStrv) recorded = recorded_devices(f);
        GStrv names = g_new0(char *, N_VFS + 1);

        for (guint i = 0; i < N_VFS; i++) {
                g_autoptr(GVariant) d = NULL;
                guint n = kernel_devices_on(devs, vfs[i], &names[i]);

                if (n != 1)
                        g_error("VF %s has %u vDPA devices in the kernel, not 1", vfs[i], n);
                if (!g_strv_contains((const char *const *) recorded, names[i]))
                        g_error("device %s on %s is not recorded", names[i], vfs[i]);
                d = vdpa_test_get_device(f->bus, names[i]);
                g_assert_true(vdpa_test_dict_b(d, VDPA_KEY_PROVISIONED));
        }
        for (size_t i = 0; recorded[i]; i++)
                if (!json_object_has_member(devs, recorded[i]))
                        g_error("device %s is recorded but the kernel does not have it", recorded[i]);
        return names;
}

/* Under valgrind (the daemon wrapped) a daemon start costs seconds: the
 * repeated cases run once per stage instead of 20 times. */
static int rounds(int full) {
        const char *w = g_getenv("VDPA_TEST_DAEMON_WRAPPER");

        return w && *w ? MIN(full, N_VFS + 1) : full;
}

static gint compare_int64(gconstpointer a, gconstpointer b) {
        gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

        return x < y ? -1 : x > y;
}

/* Idle, and every signal sent before is recorded: the daemon sends in
 * order, and GDBus queues a signal's dispatch before it hands over the
 * reply that came after it. */
static void wait_idle(Fixture *f) {
        vdpa_test_wait_operations_done(f->bus, WAIT_MS);
        while (g_main_context_iteration(NULL, FALSE))
                ;
}

static GVariant *devices(Fixture *f) {
        g_autoptr(GError) error = NULL;
        GVariant *reply = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &error);

        g_assert_no_error(error);
        return reply;
}

/* -------------------------------------------------------------- tests */

/* Four matching VFs: exactly four DEV_NEW, the rule's attributes in the
 * kernel, the devices announced as Provisioned. */
static void test_start(Fixture *f, gconstpointer data) {
        g_autoptr(JsonParser) p = NULL;
        g_auto(GStrv) names = NULL;
        JsonObject *devs;

        write_config(f, RULE_CX6);
        vdpa_sim_reset_counts(f->sim);
        start_daemon(f);
        wait_idle(f);

        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_NEW), ==, N_VFS);
        names = assert_provisioned(f);
        for (guint i = 0; i < N_VFS; i++) {
                g_autofree char *want = g_strdup_printf("vdpa-%u", i);
                g_autoptr(GVariant) d = vdpa_test_get_device(f->bus, names[i]);
                const VdpaTestSignal *added = vdpa_test_recorder_find_device(f->rec, "DeviceAdded", names[i]);
                g_autoptr(GVariant) dict = NULL;
                const char *mac = vdpa_test_dict_str(d, VDPA_KEY_DEVICE_MAC);
                unsigned b0;

                /* In the kernel's order, the lowest free index each. */
                g_assert_cmpstr(names[i], ==, want);
                g_autofree char *handle = g_strdup_printf("pci/%s", vfs[i]);

                g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_MANAGEMENT_DEVICE), ==, handle);
                g_assert_cmpuint(vdpa_test_dict_q(d, VDPA_KEY_MTU), ==, 9000);
                g_assert_cmpuint(vdpa_test_dict_q(d, VDPA_KEY_MAX_QUEUE_PAIRS), ==, 4);
                /* Locally administered unicast. */
                g_assert_cmpint(sscanf(mac, "%x:", &b0), ==, 1);
                g_assert_cmpuint(b0 & 0x03, ==, 0x02);
                g_assert_nonnull(added);
                dict = g_variant_get_child_value(added->parameters, 1);
                g_assert_true(vdpa_test_dict_b(dict, VDPA_KEY_PROVISIONED));

                g_autoptr(GVariant) m = mgmtdev_entry(f, handle);
                g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_PROVISION_RULE), ==, "cx6");
                g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_PROVISION_ERROR), ==, "");
                g_assert_true(vdpa_sim_set_features_ok(f->sim, names[i], TRUE));
        }

        /* What iproute2 sees: max_vqs 2 * 4 + 1, and once negotiated the
         * configured MAC, MTU and queue pairs. */
        devs = vdpa_json("show", &p);
        for (guint i = 0; i < N_VFS; i++) {
                JsonObject *d = json_object_get_object_member(devs, names[i]);
                g_autoptr(JsonParser) pc = NULL;
                JsonObject *cfgs = vdpa_json(names[i], &pc);
                JsonObject *c = json_object_get_object_member(cfgs, names[i]);
                g_autoptr(GVariant) bus_d = vdpa_test_get_device(f->bus, names[i]);

                g_assert_nonnull(d);
                g_assert_nonnull(c);
                g_assert_cmpint(json_object_get_int_member(d, "max_vqs"), ==, 9);
                g_assert_cmpint(json_object_get_int_member(c, "mtu"), ==, 9000);
                g_assert_cmpint(json_object_get_int_member(c, "max_vq_pairs"), ==, 4);
                g_assert_cmpstr(json_object_get_string_member(c, "mac"), ==, vdpa_test_dict_str(bus_d, VDPA_KEY_DEVICE_MAC));
        }
        /* Not matched: untouched (host.umockdev's free VF 0000:04:00.5). */
        {
                g_autoptr(GVariant) m = mgmtdev_entry(f, "pci/0000:04:00.5");
                g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_PROVISION_RULE), ==, "");
                g_assert_cmpuint(kernel_devices_on(devs, "0000:04:00.5", NULL), ==, 0);
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* A restart creates nothing twice and keeps the MACs. */
static void test_restart(Fixture *f, gconstpointer data) {
        g_auto(GStrv) names = NULL, again = NULL;
        g_autofree char *macs = NULL;
        GString *m = g_string_new(NULL);

        write_config(f, RULE_CX6);
        start_daemon(f);
        wait_idle(f);
        names = assert_provisioned(f);
        for (guint i = 0; i < N_VFS; i++) {
                g_autoptr(GVariant) d = vdpa_test_get_device(f->bus, names[i]);
                g_string_append_printf(m, "%s ", vdpa_test_dict_str(d, VDPA_KEY_DEVICE_MAC));
        }
        macs = g_string_free(m, FALSE);
        vdpa_test_daemon_stop_assert_ok(f->bus);

        for (int round = 0; round < rounds(3); round++) {
                GString *m2 = g_string_new(NULL);
                g_autofree char *macs2 = NULL;

                vdpa_sim_reset_counts(f->sim);
                start_daemon(f);
                wait_idle(f);
                g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_NEW), ==, 0);
                g_clear_pointer(&again, g_strfreev);
                again = assert_provisioned(f);
                g_assert_true(g_strv_equal((const char *const *) names, (const char *const *) again));
                for (guint i = 0; i < N_VFS; i++) {
                        g_autoptr(GVariant) d = vdpa_test_get_device(f->bus, names[i]);
                        g_string_append_printf(m2, "%s ", vdpa_test_dict_str(d, VDPA_KEY_DEVICE_MAC));
                }
                macs2 = g_string_free(m2, FALSE);
                g_assert_cmpstr(macs2, ==, macs);
                vdpa_test_daemon_stop_assert_ok(f->bus);
        }
}

/* kill -9 at every stage of provisioning: after the restart every VF has
 * exactly one device, none unrecorded, none recorded but absent. */
static void test_kill9(Fixture *f, gconstpointer data) {
        write_config(f, RULE_CX6);
        for (int round = 0; round < rounds(20); round++) {
                guint seen = (guint) round % (N_VFS + 1);
                g_auto(GStrv) names = NULL;

                start_daemon(f);
                /* Kill after SEEN devices were announced (0: as soon as it
                 * serves): each stage of the pass gets hit. */
                if (seen > 0)
                        g_assert_true(vdpa_test_recorder_wait(f->rec, "DeviceAdded", seen, WAIT_MS));
                vdpa_test_daemon_kill(f->bus, SIGKILL);

                start_daemon(f);
                wait_idle(f);
                names = assert_provisioned(f);
                vdpa_test_daemon_stop_assert_ok(f->bus);

                /* Gone while the service is away: its records must go at
                 * the next start, and the next round provisions afresh. */
                for (guint i = 0; i < N_VFS; i++) {
                        const char *const del[] = { "dev", "del", names[i], NULL };
                        g_autofree char *err = NULL;

                        if (vdpa_test_run_vdpa(del, NULL, &err) != 0)
                                g_error("vdpa dev del %s: %s", names[i], err);
                }
        }
}

/* A hot-plugged VF gets its device within a second. */
static void test_hotplug(Fixture *f, gconstpointer data) {
        g_autoptr(GArray) times = g_array_new(FALSE, FALSE, sizeof(gint64));
        g_autoptr(GError) error = NULL;

        write_config(f, RULE_CX6);
        start_daemon(f);
        wait_idle(f);

        for (int i = 0; i < rounds(20); i++) {
                g_autofree char *addr = NULL;
                g_autofree char *handle = NULL;
                gint64 t0, dt;
                const VdpaTestSignal *s = NULL;

                vdpa_test_recorder_clear(f->rec);
                t0 = g_get_monotonic_time();
                g_assert_true(vdpa_testbed_add_vf(f->tb, PF, N_VFS, &addr, &error));
                g_assert_no_error(error);
                handle = g_strdup_printf("pci/%s", addr);
                while (!s) {
                        GPtrArray *sigs = vdpa_test_recorder_get_signals(f->rec);

                        for (guint k = 0; k < sigs->len && !s; k++) {
                                const VdpaTestSignal *x = sigs->pdata[k];
                                g_autoptr(GVariant) dict = NULL;

                                if (!g_str_equal(x->member, "DeviceAdded"))
                                        continue;
                                dict = g_variant_get_child_value(x->parameters, 1);
                                if (g_str_equal(vdpa_test_dict_str(dict, VDPA_KEY_MANAGEMENT_DEVICE), handle))
                                        s = x;
                        }
                        if (s)
                                break;
                        if (g_get_monotonic_time() - t0 > 10 * G_USEC_PER_SEC)
                                g_error("no DeviceAdded for a device on hot-plugged VF %s after 10 s", addr);
                        vdpa_test_iterate(1);
                }
                dt = g_get_monotonic_time() - t0;
                g_array_append_val(times, dt);
                {
                        g_autoptr(GVariant) dict = g_variant_get_child_value(s->parameters, 1);

                        g_assert_true(vdpa_test_dict_b(dict, VDPA_KEY_PROVISIONED));
                }
                if (dt > HOTPLUG_BOUND_USEC)
                        g_error("the device on hot-plugged VF %s appeared after %" G_GINT64_FORMAT " us (bound %d us)",
                                addr, dt, (int) HOTPLUG_BOUND_USEC);
                wait_idle(f);
                g_assert_true(vdpa_testbed_remove_vf(f->tb, addr, &error));
                g_assert_no_error(error);
                wait_idle(f);
        }
        g_array_sort(times, compare_int64);
        g_test_message("hot-plugged VF to DeviceAdded: median %" G_GINT64_FORMAT " us, max %" G_GINT64_FORMAT
                       " us over %u", g_array_index(times, gint64, times->len / 2),
                       g_array_index(times, gint64, times->len - 1), times->len);
        /* Nothing left over: the removed VF's records are gone. */
        g_strfreev(assert_provisioned(f));
        {
                g_auto(GStrv) recorded = recorded_devices(f);

                g_assert_cmpuint(g_strv_length(recorded), ==, N_VFS);
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* Management devices that refuse: their error is shown, the others are
 * provisioned, the bus answers meanwhile, and a retry follows. */
static void test_errors(Fixture *f, gconstpointer data) {
        g_autoptr(GVariant) m1 = NULL, m2 = NULL, m3 = NULL;
        g_autoptr(GVariant) list = NULL;

        write_config(f, RULE_CX6);
        vdpa_sim_fail_dev_new(f->sim, "pci/0000:21:00.3", ENOSPC);
        vdpa_sim_fail_dev_new(f->sim, "pci/0000:21:00.4", EOPNOTSUPP);
        start_daemon(f);
        /* Two devices, then the two errors. */
        g_assert_true(vdpa_test_recorder_wait(f->rec, "DeviceAdded", 2, WAIT_MS));
        list = devices(f);
        g_assert_nonnull(list);

        for (int i = 0;; i++) {
                g_clear_pointer(&m1, g_variant_unref);
                g_clear_pointer(&m2, g_variant_unref);
                m1 = mgmtdev_entry(f, "pci/0000:21:00.3");
                m2 = mgmtdev_entry(f, "pci/0000:21:00.4");
                if (vdpa_test_dict_str(m1, VDPA_MGMT_KEY_PROVISION_ERROR)[0] && vdpa_test_dict_str(m2, VDPA_MGMT_KEY_PROVISION_ERROR)[0])
                        break;
                if (i >= WAIT_MS / 10)
                        g_error("ProvisionError not set after %d ms: '%s', '%s'", WAIT_MS,
                                vdpa_test_dict_str(m1, VDPA_MGMT_KEY_PROVISION_ERROR),
                                vdpa_test_dict_str(m2, VDPA_MGMT_KEY_PROVISION_ERROR));
                vdpa_test_iterate(10);
        }
        g_test_message("ENOSPC: %s", vdpa_test_dict_str(m1, VDPA_MGMT_KEY_PROVISION_ERROR));
        g_test_message("EOPNOTSUPP: %s", vdpa_test_dict_str(m2, VDPA_MGMT_KEY_PROVISION_ERROR));
        g_assert_nonnull(strstr(vdpa_test_dict_str(m1, VDPA_MGMT_KEY_PROVISION_ERROR), "no room"));
        g_assert_nonnull(strstr(vdpa_test_dict_str(m2, VDPA_MGMT_KEY_PROVISION_ERROR), "not supported"));
        m3 = mgmtdev_entry(f, "pci/0000:21:00.2");
        g_assert_cmpstr(vdpa_test_dict_str(m3, VDPA_MGMT_KEY_PROVISION_ERROR), ==, "");
        {
                g_autoptr(JsonParser) p = NULL;
                JsonObject *devs = vdpa_json("show", &p);

                g_assert_cmpuint(kernel_devices_on(devs, "0000:21:00.2", NULL), ==, 1);
                g_assert_cmpuint(kernel_devices_on(devs, "0000:21:00.3", NULL), ==, 0);
                g_assert_cmpuint(kernel_devices_on(devs, "0000:21:00.4", NULL), ==, 0);
                g_assert_cmpuint(kernel_devices_on(devs, "0000:21:00.5", NULL), ==, 1);
        }

        /* The kernel gives in: the backoff's retry provisions them. */
        vdpa_sim_fail_dev_new(f->sim, "pci/0000:21:00.3", 0);
        vdpa_sim_fail_dev_new(f->sim, "pci/0000:21:00.4", 0);
        g_assert_true(vdpa_test_recorder_wait(f->rec, "DeviceAdded", 4, WAIT_MS));
        wait_idle(f);
        g_strfreev(assert_provisioned(f));
        g_clear_pointer(&m1, g_variant_unref);
        m1 = mgmtdev_entry(f, "pci/0000:21:00.3");
        g_assert_cmpstr(vdpa_test_dict_str(m1, VDPA_MGMT_KEY_PROVISION_ERROR), ==, "");
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* A PropertiesChanged carrying ProvisionRules with N rules was recorded. */
static void assert_rules_announced(Fixture *f, gsize n) {
        GPtrArray *sigs = vdpa_test_recorder_get_signals(f->rec);

        for (guint i = 0; i < sigs->len; i++) {
                const VdpaTestSignal *x = sigs->pdata[i];
                g_autoptr(GVariant) changed = NULL, rules = NULL;

                if (!g_str_equal(x->member, "PropertiesChanged"))
                        continue;
                changed = g_variant_get_child_value(x->parameters, 1);
                rules = g_variant_lookup_value(changed, "ProvisionRules", G_VARIANT_TYPE("aa{sv}"));
                if (rules) {
                        g_assert_cmpuint(g_variant_n_children(rules), ==, n);
                        return;
                }
        }
        g_error("no PropertiesChanged of ProvisionRules was recorded");
}

/* SIGHUP with a new rule creates only what it adds. */
static void test_reload(Fixture *f, gconstpointer data) {
        g_autoptr(JsonParser) p = NULL;
        JsonObject *devs;

        write_config(f, "[Provision first]\nManagementDevice=pci/0000:21:00.2\n");
        start_daemon(f);
        wait_idle(f);
        devs = vdpa_json("show", &p);
        g_assert_cmpuint(kernel_devices_on(devs, "0000:21:00.2", NULL), ==, 1);
        g_assert_cmpuint(kernel_devices_on(devs, "0000:21:00.3", NULL), ==, 0);

        vdpa_sim_reset_counts(f->sim);
        write_config(f, "[Provision first]\nManagementDevice=pci/0000:21:00.2\n\n"
                        "[Provision second]\nManagementDevice=pci/0000:21:00.3\nName=second%n\n");
        vdpa_test_recorder_clear(f->rec);
        g_assert_cmpint(kill(vdpa_test_daemon_get_pid(f->bus), SIGHUP), ==, 0);
        vdpa_test_recorder_wait_device(f->rec, "DeviceAdded", "second0", WAIT_MS);
        wait_idle(f);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_NEW), ==, 1);
        assert_rules_announced(f, 2);
        g_clear_object(&p);
        devs = vdpa_json("show", &p);
        g_assert_cmpuint(kernel_devices_on(devs, "0000:21:00.2", NULL), ==, 1);
        g_assert_cmpuint(kernel_devices_on(devs, "0000:21:00.3", NULL), ==, 1);
        g_assert_cmpuint(kernel_devices_on(devs, "0000:21:00.4", NULL), ==, 0);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* A rule that matches nothing is a warning, not an error. */
static void test_unmatched_warning(Fixture *f, gconstpointer data) {
        g_autofree char *log = NULL;

        write_config(f, "[Provision nothing]\nManagementDevice=pci/0000:99:*\n");
        start_daemon(f);
        wait_idle(f);
        vdpa_test_daemon_stop_assert_ok(f->bus);
        g_autofree char *path = g_build_filename(vdpa_test_bus_get_tmpdir(f->bus), "daemon.log", NULL);
        g_assert_true(g_file_get_contents(path, &log, NULL, NULL));
        g_assert_nonnull(strstr(log, "[Provision nothing] ManagementDevice=pci/0000:99:* matches no management device"));
}

/* Deleted by hand while the rule stands: the rule makes it again (the
 * configuration is the declaration; remove the rule first). */
static void test_deleted_comes_back(Fixture *f, gconstpointer data) {
        VdpaTestPolkit *pk = vdpa_test_polkit_start_or_die(f->bus,
                "polkit.addRule(function(action, subject) {\n"
                "  if (action.id == 'org.vdpa.manager.provision') return polkit.Result.YES;\n"
                "});\n");
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL, d = NULL;

        write_config(f, RULE_CX6);
        start_daemon(f);
        wait_idle(f);
        g_strfreev(assert_provisioned(f));
        vdpa_sim_reset_counts(f->sim);
        vdpa_test_recorder_clear(f->rec);

        reply = vdpa_test_call(f->bus, "DeleteDevice", g_variant_new("(s@a{sv})", "vdpa-1",
                               g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)), "()", &error);
        g_assert_no_error(error);
        vdpa_test_recorder_wait_device(f->rec, "DeviceAdded", "vdpa-1", WAIT_MS);
        wait_idle(f);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_DEL), ==, 1);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_NEW), ==, 1);
        g_assert_nonnull(vdpa_test_recorder_find_device(f->rec, "DeviceRemoved", "vdpa-1"));
        d = vdpa_test_get_device(f->bus, "vdpa-1");
        g_assert_true(vdpa_test_dict_b(d, VDPA_KEY_PROVISIONED));
        g_assert_cmpstr(vdpa_test_dict_str(d, VDPA_KEY_MANAGEMENT_DEVICE), ==, "pci/0000:21:00.3");
        g_strfreev(assert_provisioned(f));
        vdpa_test_daemon_stop_assert_ok(f->bus);
        vdpa_test_polkit_stop(pk);
}

/* The record cannot be written: nothing is created (no DEV_NEW), the error
 * is shown, and once the state directory is writable again the retry
 * provisions the device. */
static void test_state_unwritable(Fixture *f, gconstpointer data) {
        g_autofree char *path = state_file(f);
        g_autofree char *addr = NULL;
        g_autofree char *handle = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) m = NULL;

        /* Matches only the VF hot-plugged below: nothing to record at start. */
        write_config(f, "[Provision late]\nManagementDevice=pci/0000:21:00.6\nName=late%n\n");
        start_daemon(f);
        wait_idle(f);
        g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
        /* A directory in the file's place: root ignores modes, not this. */
        g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
        vdpa_sim_reset_counts(f->sim);

        g_assert_true(vdpa_testbed_add_vf(f->tb, PF, N_VFS, &addr, &error));
        g_assert_no_error(error);
        handle = g_strdup_printf("pci/%s", addr);
        for (int i = 0;; i++) {
                g_clear_pointer(&m, g_variant_unref);
                m = mgmtdev_entry(f, handle);
                if (vdpa_test_dict_str(m, VDPA_MGMT_KEY_PROVISION_ERROR)[0])
                        break;
                if (i >= WAIT_MS / 10)
                        g_error("no ProvisionError on %s %d ms after its hotplug", handle, WAIT_MS);
                vdpa_test_iterate(10);
        }
        g_test_message("state unwritable: %s", vdpa_test_dict_str(m, VDPA_MGMT_KEY_PROVISION_ERROR));
        g_assert_nonnull(strstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_PROVISION_ERROR), "cannot record the device"));
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_NEW), ==, 0);

        g_assert_cmpint(g_rmdir(path), ==, 0);
        vdpa_test_recorder_wait_device(f->rec, "DeviceAdded", "late0", WAIT_MS);
        wait_idle(f);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_NEW), ==, 1);
        g_clear_pointer(&m, g_variant_unref);
        m = mgmtdev_entry(f, handle);
        g_assert_cmpstr(vdpa_test_dict_str(m, VDPA_MGMT_KEY_PROVISION_ERROR), ==, "");
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* A burst of new devices (a second card, 12 VFs): their lookups share a
 * DEV_GET and a DEV_CONFIG_GET dump, and still no device is shown before
 * its facts (Type "net" in every DeviceAdded). */
static void test_burst(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        GPtrArray *sigs;
        guint added = 0;

        g_assert_true(vdpa_testbed_add_pf_with_vfs(f->tb, "0000:31:00.0", 12, &error));
        g_assert_no_error(error);
        write_config(f, "[Provision burst]\nManagementDevice=pci/0000:31:*\nName=b%n\nMtu=1500\n");
        vdpa_sim_reset_counts(f->sim);
        start_daemon(f);
        wait_idle(f);

        sigs = vdpa_test_recorder_get_signals(f->rec);
        for (guint i = 0; i < sigs->len; i++) {
                const VdpaTestSignal *x = sigs->pdata[i];
                g_autoptr(GVariant) dict = NULL;

                if (!g_str_equal(x->member, "DeviceAdded"))
                        continue;
                dict = g_variant_get_child_value(x->parameters, 1);
                g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_TYPE), ==, "net");
                g_assert_cmpstr(vdpa_test_dict_str(dict, VDPA_KEY_MANAGEMENT_DEVICE), !=, "");
                g_assert_cmpuint(vdpa_test_dict_q(dict, VDPA_KEY_MTU), ==, 1500);
                g_assert_true(vdpa_test_dict_b(dict, VDPA_KEY_PROVISIONED));
                added++;
        }
        g_assert_cmpuint(added, ==, 12);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_NEW), ==, 12);
        /* Start-up and the pass: one DEV_GET dump each; then the burst's. */
        g_test_message("12 new devices: DEV_GET %u dumps + %u doits, DEV_CONFIG_GET %u dumps + %u doits",
                       vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_GET),
                       vdpa_sim_count(f->sim, VDPA_CMD_DEV_GET) - vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_GET),
                       vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_CONFIG_GET),
                       vdpa_sim_count(f->sim, VDPA_CMD_DEV_CONFIG_GET) -
                               vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_CONFIG_GET));
        g_assert_cmpuint(vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_GET), >=, 3);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_GET) - vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_GET),
                         <, 12);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        vdpa_testbed_isolate_uevent_queue();

        ADD("/provision/start", test_start);
        ADD("/provision/restart", test_restart);
        ADD("/provision/kill9", test_kill9);
        ADD("/provision/hotplug", test_hotplug);
        ADD("/provision/errors", test_errors);
        ADD("/provision/reload", test_reload);
        ADD("/provision/unmatched-warning", test_unmatched_warning);
        ADD("/provision/deleted-comes-back", test_deleted_comes_back);
        ADD("/provision/state-unwritable", test_state_unwritable);
        ADD("/provision/burst", test_burst);

        return g_test_run();
}
