/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Debian's unmodified /usr/sbin/vdpa (iproute2 6.1) against the vdpa
 * netlink simulator (tests/vdpa-sim.h) on the host of tests/data/host.umockdev:
 * exact output and error texts (docs/vdpa-netlink.md §4, §6), the sysfs and
 * uevent side effects of "dev add"/"dev del", the family-absent case, and
 * tools/simhost.  The /iproute2/raw/ cases speak the protocol with libmnl
 * from this process (through the preload, which meson's LD_PRELOAD and
 * umockdev-wrapper load here after umockdev's) for what vdpa cannot send.
 *
 * Nothing waits on time: "dev add" returns after the simulator made its
 * side effects (they precede the ACK), so they are checked at once; only
 * the uevents are read with a bounded poll that names what is missing.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libmnl/libmnl.h>
#include <libudev.h>

#include "harness.h"
#include "testbed.h"
#include "vdpa-sim.h"

#define VDPA_BIN "/usr/sbin/vdpa"
#define VF5 "/sys/devices/pci0000:00/0000:00:02.0/0000:04:00.5"
#define UEVENT_TIMEOUT_MS 5000

/* mlx5's supported features as iproute2 names them */
#define MLX5_FEATURES_TEXT "CSUM GUEST_CSUM MTU HOST_TSO4 HOST_TSO6 STATUS CTRL_VQ CTRL_VLAN MQ CTRL_MAC_ADDR VERSION_1 ACCESS_PLATFORM"
#define SIMNET_FEATURES_TEXT "MTU MAC CTRL_VQ CTRL_MAC_ADDR ANY_LAYOUT VERSION_1 ACCESS_PLATFORM"

typedef struct {
        UMockdevTestbed *tb;
        VdpaSim *sim;
        char *root;
        struct udev *udev;
        struct udev_monitor *mon;
} Fixture;

typedef struct {
        int status; /* exit status, 128+N for signal N */
        char *out, *err;
} Run;

static void run_clear(Run *r) {
        g_free(r->out);
        g_free(r->err);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Run, run_clear)

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;

        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        f->root = umockdev_testbed_get_root_dir(f->tb);
        f->sim = vdpa_sim_start(f->tb, &error);
        g_assert_no_error(error);
        f->udev = udev_new();
        f->mon = udev_monitor_new_from_netlink(f->udev, "udev");
        g_assert_nonnull(f->mon);
        g_assert_cmpint(udev_monitor_filter_add_match_subsystem_devtype(f->mon, "vdpa", NULL), ==, 0);
        g_assert_cmpint(udev_monitor_enable_receiving(f->mon), ==, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        udev_monitor_unref(f->mon);
        udev_unref(f->udev);
        /* before the testbed: no simulator thread may outlive it */
        vdpa_sim_stop(f->sim);
        g_object_unref(f->tb);
        g_free(f->root);
}

static char **child_env(Fixture *f) {
        g_autofree char *preload = vdpa_sim_preload_env();
        char **env = g_get_environ();

        env = g_environ_setenv(env, "UMOCKDEV_DIR", f->root, TRUE);
        return g_environ_setenv(env, "LD_PRELOAD", preload, TRUE);
}

/* Runs ARGV (NULL-terminated) on the simulated host, bounded by
 * timeout(1) so a reply the simulator never sends fails the test. */
static Run run_argv(Fixture *f, const char *const *argv) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_auto(GStrv) full = NULL;
        g_auto(GStrv) env = child_env(f);
        g_autoptr(GError) error = NULL;
        Run r = { 0 };
        int ws = 0;

        g_strv_builder_add_many(b, "timeout", "30", NULL);
        g_strv_builder_addv(b, (const char **) argv);
        full = g_strv_builder_end(b);
        g_spawn_sync(NULL, full, env, G_SPAWN_SEARCH_PATH, NULL, NULL, &r.out, &r.err, &ws, &error);
        g_assert_no_error(error);
        r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        if (r.status == 124)
                g_error("%s did not finish within 30 s (a reply or ACK missing?); stderr: %s", argv[0], r.err);
        return r;
}

#define VDPA(f, ...) run_argv((f), (const char *const[]) { VDPA_BIN, __VA_ARGS__, NULL })

static void assert_run(const Run *r, int status, const char *out, const char *err) {
        if (r->status != status || g_strcmp0(r->out, out) || g_strcmp0(r->err, err))
                g_error("vdpa: status %d (want %d)\nstdout:\n%s\n(want)\n%s\nstderr:\n%s\n(want)\n%s", r->status,
                        status, r->out, out, r->err, err);
}

static JsonObject *parse_json(const char *text, const char *section) {
        g_autoptr(JsonParser) p = json_parser_new();
        g_autoptr(GError) error = NULL;
        JsonObject *top;

        json_parser_load_from_data(p, text, -1, &error);
        g_assert_no_error(error);
        top = json_node_get_object(json_parser_get_root(p));
        g_assert_true(json_object_has_member(top, section));
        return json_object_ref(json_object_get_object_member(top, section));
}

static char *join_strings(JsonArray *a) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < json_array_get_length(a); i++)
                g_string_append_printf(s, "%s%s", i ? " " : "", json_array_get_string_element(a, i));
        return g_string_free(s, FALSE);
}

static char *path_in(Fixture *f, const char *sys) {
        return g_build_filename(f->root, sys, NULL);
}

static gboolean exists_in(Fixture *f, const char *sys) {
        g_autofree char *p = path_in(f, sys);

        return g_file_test(p, G_FILE_TEST_EXISTS) || g_file_test(p, G_FILE_TEST_IS_SYMLINK);
}

/* Reads uevents from MON until the "ACTION NAME" list WANT has been seen
 * in order (with DRIVER: "ACTION NAME DRIVER", "-" for none); fails naming
 * the first one still pending. */
static void expect_uevents_on(struct udev_monitor *mon, const char *const *want, gboolean driver) {
        int fd = udev_monitor_get_fd(mon);
        gint64 deadline = g_get_monotonic_time() + UEVENT_TIMEOUT_MS * 1000;

        for (; *want; want++) {
                for (;;) {
                        struct pollfd p = { .fd = fd, .events = POLLIN };
                        struct udev_device *d;
                        const char *drv;
                        g_autofree char *got = NULL;
                        gint64 left = (deadline - g_get_monotonic_time()) / 1000;

                        if (left <= 0 || poll(&p, 1, (int) left) <= 0)
                                g_error("uevent \"%s\" still pending after %d ms", *want, UEVENT_TIMEOUT_MS);
                        d = udev_monitor_receive_device(mon);
                        if (!d)
                                continue;
                        /* the event's DRIVER=, not the sysfs link libudev
                         * would read now */
                        drv = udev_device_get_property_value(d, "DRIVER");
                        got = g_strdup_printf("%s %s%s%s", udev_device_get_action(d), udev_device_get_sysname(d),
                                              driver ? " " : "", driver ? (drv ? drv : "-") : "");
                        udev_device_unref(d);
                        g_assert_cmpstr(got, ==, *want);
                        break;
                }
        }
}

static void expect_uevents(Fixture *f, const char *const *want) {
        expect_uevents_on(f->mon, want, FALSE);
}

static void expect_no_uevent_on(struct udev_monitor *mon) {
        struct pollfd p = { .fd = udev_monitor_get_fd(mon), .events = POLLIN };

        /* the simulator and the testbed send uevents before they return:
         * none is in flight afterwards */
        g_assert_cmpint(poll(&p, 1, 0), ==, 0);
}

static void expect_no_uevent(Fixture *f) {
        expect_no_uevent_on(f->mon);
}

/* ---- mgmtdev ---- */

static const char *const fixture_mgmtdevs[] = {
        "auxiliary/mlx5_core.sf.4", "pci/0000:04:00.2", "pci/0000:04:00.3", "pci/0000:04:00.4",
        "pci/0000:04:00.5",         "pci/0000:81:00.2", "vdpasim_net",      "vdpasim_blk", NULL,
};

static void assert_mgmtdev_json(const char *text) {
        g_autoptr(JsonObject) m = parse_json(text, "mgmtdev");
        g_autoptr(GList) names = json_object_get_members(m);
        guint i = 0;

        for (GList *l = names; l; l = l->next, i++) {
                JsonObject *o = json_object_get_object_member(m, l->data);
                g_autofree char *classes = join_strings(json_object_get_array_member(o, "supported_classes"));
                g_autofree char *features = join_strings(json_object_get_array_member(o, "dev_features"));
                gboolean blk = strcmp(l->data, "vdpasim_blk") == 0;
                gboolean simnet = strcmp(l->data, "vdpasim_net") == 0;

                g_assert_cmpstr(l->data, ==, fixture_mgmtdevs[i]);
                g_assert_cmpstr(classes, ==, blk ? "block" : "net");
                g_assert_cmpint(json_object_get_int_member(o, "max_supported_vqs"), ==, blk ? 0 : simnet ? 3 : 17);
                g_assert_cmpstr(features, ==, blk ? "" : simnet ? SIMNET_FEATURES_TEXT : MLX5_FEATURES_TEXT);
        }
        g_assert_cmpuint(i, ==, g_strv_length((char **) fixture_mgmtdevs));
}

static void test_mgmtdev_json(Fixture *f, gconstpointer data) {
        g_auto(Run) r = VDPA(f, "mgmtdev", "show", "-jp");

        g_assert_cmpint(r.status, ==, 0);
        g_assert_cmpstr(r.err, ==, "");
        assert_mgmtdev_json(r.out);
}

static void test_mgmtdev_text(Fixture *f, gconstpointer data) {
        GString *want = g_string_new(NULL);
        g_autofree char *w = NULL;

        for (const char *const *m = fixture_mgmtdevs; *m; m++) {
                if (strcmp(*m, "vdpasim_blk") == 0)
                        g_string_append(want, "vdpasim_blk: \n  supported_classes block\n  max_supported_vqs 0\n  dev_features\n");
                else
                        g_string_append_printf(want, "%s: \n  supported_classes net\n  max_supported_vqs %d\n  dev_features %s\n", *m,
                                               strcmp(*m, "vdpasim_net") ? 17 : 3,
                                               strcmp(*m, "vdpasim_net") ? MLX5_FEATURES_TEXT : SIMNET_FEATURES_TEXT);
        }
        w = g_string_free(want, FALSE);
        {
                g_auto(Run) r = VDPA(f, "mgmtdev", "show");
                assert_run(&r, 0, w, "");
        }
        {
                g_auto(Run) r = VDPA(f, "mgmtdev", "show", "pci/0000:04:00.5");
                assert_run(&r, 0, "pci/0000:04:00.5: \n  supported_classes net\n  max_supported_vqs 17\n  dev_features " MLX5_FEATURES_TEXT "\n", "");
        }
        {
                /* no bus part: only bus-less management devices match */
                g_auto(Run) r = VDPA(f, "mgmtdev", "show", "0000:04:00.5");
                assert_run(&r, 1, "", "Error: vdpa: Fail to find the specified mgmt device.\nkernel answers: No such device\n");
        }
}

/* ---- dev ---- */

static void test_dev_show(Fixture *f, gconstpointer data) {
        g_auto(Run) r = VDPA(f, "dev", "show");

        assert_run(&r, 0,
                   "blk0: type network mgmtdev pci/0000:04:00.4 vendor_id 5555 max_vqs 3 max_vq_size 256\n"
                   "fast1: type network mgmtdev auxiliary/mlx5_core.sf.4 vendor_id 5555 max_vqs 3 max_vq_size 256\n"
                   "vdpa-sim0: type network mgmtdev vdpasim_net vendor_id 0 max_vqs 3 max_vq_size 256\n"
                   "vdpa0: type network mgmtdev pci/0000:04:00.2 vendor_id 5555 max_vqs 3 max_vq_size 256\n"
                   "vdpa1: type network mgmtdev pci/0000:04:00.3 vendor_id 5555 max_vqs 3 max_vq_size 256\n"
                   "vdpa2: type network mgmtdev pci/0000:81:00.2 vendor_id 5555 max_vqs 3 max_vq_size 256\n",
                   "");
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_SIM_COUNT_GETFAMILY), ==, 1);
        g_assert_cmpuint(vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_GET), ==, 1);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_GET), ==, 1);
}

static void test_dev_add_del(Fixture *f, gconstpointer data) {
        static const char *const added[] = { "add vdpa9", "bind vdpa9", NULL };
        static const char *const deleted[] = { "unbind vdpa9", "remove vdpa9", NULL };

        {
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "vdpa9", "mgmtdev", "pci/0000:04:00.5", "mac",
                                     "00:11:22:33:44:55", "max_vqp", "4");
                assert_run(&r, 0, "", "");
        }
        /* the side effects came before the ACK */
        g_assert_true(exists_in(f, VF5 "/vdpa9/vhost-vdpa-4/dev"));
        g_assert_true(exists_in(f, "/dev/vhost-vdpa-4"));
        {
                g_autofree char *drv = path_in(f, VF5 "/vdpa9/driver");
                g_autofree char *t = g_file_read_link(drv, NULL);
                g_assert_cmpstr(t, ==, "../../../../../bus/vdpa/drivers/vhost_vdpa");
        }
        expect_uevents(f, added);
        {
                /* and through the umockdev preload, as the daemon sees it */
                struct udev_device *d = udev_device_new_from_syspath(f->udev, VF5 "/vdpa9");
                g_assert_nonnull(d);
                g_assert_cmpstr(udev_device_get_subsystem(d), ==, "vdpa");
                g_assert_cmpstr(udev_device_get_driver(d), ==, "vhost_vdpa");
                udev_device_unref(d);
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "show", "vdpa9", "-jp");
                assert_run(&r, 0,
                           "{\n    \"dev\": {\n        \"vdpa9\": {\n            \"type\": \"network\",\n"
                           "            \"mgmtdev\": \"pci/0000:04:00.5\",\n            \"vendor_id\": 5555,\n"
                           "            \"max_vqs\": 9,\n            \"max_vq_size\": 256\n        }\n    }\n}\n",
                           "");
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "config", "show", "vdpa9");
                assert_run(&r, 1, "", "Error: vdpa: Features negotiation not completed.\nkernel answers: Resource temporarily unavailable\n");
        }
        g_assert_true(vdpa_sim_set_features_ok(f->sim, "vdpa9", TRUE));
        {
                g_auto(Run) r = VDPA(f, "dev", "config", "show", "vdpa9");
                assert_run(&r, 0,
                           "vdpa9: mac 00:11:22:33:44:55 link up link_announce false max_vq_pairs 4 mtu 1500 \n"
                           "  negotiated_features CSUM GUEST_CSUM MTU MAC HOST_TSO4 HOST_TSO6 STATUS CTRL_VQ CTRL_VLAN MQ "
                           "CTRL_MAC_ADDR VERSION_1 ACCESS_PLATFORM\n",
                           "");
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "config", "show", "vdpa9", "-j");
                assert_run(&r, 0,
                           "{\"config\":{\"vdpa9\":{\"mac\":\"00:11:22:33:44:55\",\"link \":\"up\",\"link_announce \":false,"
                           "\"max_vq_pairs\":4,\"mtu\":1500,\"negotiated_features\":[\"CSUM\",\"GUEST_CSUM\",\"MTU\",\"MAC\","
                           "\"HOST_TSO4\",\"HOST_TSO6\",\"STATUS\",\"CTRL_VQ\",\"CTRL_VLAN\",\"MQ\",\"CTRL_MAC_ADDR\","
                           "\"VERSION_1\",\"ACCESS_PLATFORM\"]}}}\n",
                           "");
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "del", "vdpa9");
                assert_run(&r, 0, "", "");
        }
        g_assert_false(exists_in(f, VF5 "/vdpa9"));
        g_assert_false(exists_in(f, "/dev/vhost-vdpa-4"));
        expect_uevents(f, deleted);
        {
                g_auto(Run) r = VDPA(f, "dev", "show", "vdpa9");
                assert_run(&r, 1, "", "Error: vdpa: device not found.\nkernel answers: No such device\n");
        }
        /* the VF is free again, the name too; the new device has forgotten
         * the old one's negotiation */
        {
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "vdpa9", "mgmtdev", "pci/0000:04:00.5");
                assert_run(&r, 0, "", "");
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "config", "show", "vdpa9");
                assert_run(&r, 1, "", "Error: vdpa: Features negotiation not completed.\nkernel answers: Resource temporarily unavailable\n");
        }
}

static void test_dev_vdpasim(Fixture *f, gconstpointer data) {
        static const char *const added[] = { "add s1", "bind s1", "add b1", "bind b1", NULL };

        {
                g_auto(Run) r = VDPA(f, "dev", "add", "mgmtdev", "vdpasim_net", "name", "s1", "mac", "02:00:00:00:00:01",
                                     "mtu", "9000");
                assert_run(&r, 0, "", "");
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "b1", "mgmtdev", "vdpasim_blk");
                assert_run(&r, 0, "", "");
        }
        /* no parent: at the top of /sys/devices */
        g_assert_true(exists_in(f, "/sys/devices/s1/vhost-vdpa-4"));
        g_assert_true(exists_in(f, "/sys/devices/b1/vhost-vdpa-5"));
        expect_uevents(f, added);
        {
                g_auto(Run) r = VDPA(f, "dev", "show", "b1");
                assert_run(&r, 0, "b1: type block mgmtdev vdpasim_blk vendor_id 0 max_vqs 1 max_vq_size 256\n", "");
        }
        g_assert_true(vdpa_sim_set_features_ok(f->sim, "s1", TRUE));
        g_assert_true(vdpa_sim_set_features_ok(f->sim, "b1", TRUE));
        {
                g_auto(Run) r = VDPA(f, "dev", "config", "show", "s1");
                assert_run(&r, 0, "s1: mac 02:00:00:00:00:01 link up link_announce false mtu 9000 \n  negotiated_features " SIMNET_FEATURES_TEXT "\n", "");
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "config", "show", "b1");
                assert_run(&r, 1, "", "kernel answers: Operation not supported\n");
        }
        g_assert_false(vdpa_sim_set_features_ok(f->sim, "nosuch", TRUE));
}

static void test_config_virtio(Fixture *f, gconstpointer data) {
        /* vdpa1 is bound to virtio_vdpa: virtio_net negotiated its features */
        g_auto(Run) r = VDPA(f, "dev", "config", "show", "vdpa1");

        assert_run(&r, 0, "vdpa1: link up link_announce false max_vq_pairs 1 mtu 1500 \n  negotiated_features " MLX5_FEATURES_TEXT "\n", "");
}

static void test_config_dump(Fixture *f, gconstpointer data) {
        /* the dump ends quietly at the first device it cannot describe:
         * blk0 (not negotiated) comes first */
        {
                g_auto(Run) r = VDPA(f, "dev", "config", "show");
                assert_run(&r, 0, "", "");
        }
        g_assert_true(vdpa_sim_set_features_ok(f->sim, "blk0", TRUE));
        g_assert_true(vdpa_sim_set_features_ok(f->sim, "fast1", TRUE));
        {
                g_auto(Run) r = VDPA(f, "dev", "config", "show");
                assert_run(&r, 0,
                           "blk0: link up link_announce false max_vq_pairs 1 mtu 1500 \n  negotiated_features " MLX5_FEATURES_TEXT "\n"
                           "fast1: link up link_announce false max_vq_pairs 1 mtu 1500 \n  negotiated_features " MLX5_FEATURES_TEXT "\n",
                           "");
        }
}

/* ---- errors, exactly as docs/vdpa-netlink.md §4 ---- */

typedef struct {
        const char *const argv[16];
        const char *err;
} ErrCase;

static const ErrCase err_cases[] = {
        { { "dev", "add", "name", "x", "mgmtdev", "pci/0000:99:00.0" },
          "Error: vdpa: Fail to find the specified management device.\nkernel answers: No such device\n" },
        { { "dev", "del", "nosuch" }, "Error: vdpa: device not found.\nkernel answers: No such device\n" },
        { { "dev", "config", "show", "nosuch" }, "Error: vdpa: device not found.\nkernel answers: No such device\n" },
        { { "dev", "add", "name", "vdpa0", "mgmtdev", "vdpasim_net" }, "kernel answers: File exists\n" },
        { { "dev", "add", "name", "x", "mgmtdev", "vdpasim_net", "max_vqp", "2" },
          "Error: vdpa: All provided attributes are not supported.\nkernel answers: Operation not supported\n" },
        { { "dev", "add", "name", "x", "mgmtdev", "vdpasim_blk", "mac", "00:11:22:33:44:55" },
          "Error: vdpa: All provided attributes are not supported.\nkernel answers: Operation not supported\n" },
        /* mlx5: one device per VF (before the name check) */
        { { "dev", "add", "name", "vdpa0", "mgmtdev", "pci/0000:04:00.2" }, "kernel answers: No space left on device\n" },
        { { "dev", "add", "name", "x", "mgmtdev", "vdpasim_net", "mtu", "67" },
          "Error: integer out of range.\nkernel answers: Numerical result out of range\n" },
        { { "dev", "add", "name", "x", "mgmtdev", "pci/0000:04:00.5", "max_vqp", "0" },
          "Error: vdpa: At least one pair of VQs is required.\nkernel answers: Invalid argument\n" },
        /* 16 hardware queues: at most 8 pairs */
        { { "dev", "add", "name", "x", "mgmtdev", "pci/0000:04:00.5", "max_vqp", "9" }, "kernel answers: Invalid argument\n" },
};

static void test_errors(Fixture *f, gconstpointer data) {
        for (size_t i = 0; i < G_N_ELEMENTS(err_cases); i++) {
                g_autoptr(GStrvBuilder) b = g_strv_builder_new();
                g_auto(GStrv) argv = NULL;
                g_auto(Run) r = { 0 };

                g_strv_builder_add(b, VDPA_BIN);
                g_strv_builder_addv(b, (const char **) err_cases[i].argv);
                argv = g_strv_builder_end(b);
                r = run_argv(f, (const char *const *) argv);
                assert_run(&r, 1, "", err_cases[i].err);
        }
        /* nothing was made */
        g_assert_false(exists_in(f, VF5 "/x"));
        g_assert_false(exists_in(f, "/sys/devices/x"));
        expect_no_uevent(f);
}

static void test_eperm(Fixture *f, gconstpointer data) {
        const char *const add[] = { "setpriv", "--inh-caps=-all", "--bounding-set=-all", VDPA_BIN, "dev", "add",
                                    "name", "x", "mgmtdev", "vdpasim_net", NULL };
        const char *const del[] = { "setpriv", "--inh-caps=-all", "--bounding-set=-all", VDPA_BIN, "dev", "del",
                                    "vdpa0", NULL };
        const char *const show[] = { "setpriv", "--inh-caps=-all", "--bounding-set=-all", VDPA_BIN, "dev", "show",
                                     "vdpa0", NULL };

        {
                g_auto(Run) r = run_argv(f, add);
                assert_run(&r, 1, "", "kernel answers: Operation not permitted\n");
        }
        {
                g_auto(Run) r = run_argv(f, del);
                assert_run(&r, 1, "", "kernel answers: Operation not permitted\n");
        }
        {
                /* reading needs no capability */
                g_auto(Run) r = run_argv(f, show);
                assert_run(&r, 0, "vdpa0: type network mgmtdev pci/0000:04:00.2 vendor_id 5555 max_vqs 3 max_vq_size 256\n", "");
        }
        g_assert_true(exists_in(f, "/sys/devices/pci0000:00/0000:00:02.0/0000:04:00.2/vdpa0"));
        expect_no_uevent(f);
}

static void test_family_absent(Fixture *f, gconstpointer data) {
        vdpa_sim_stop(f->sim);
        f->sim = NULL;
        g_assert_false(exists_in(f, VDPA_SIM_SOCKET_NAME));
        {
                g_auto(Run) r = VDPA(f, "mgmtdev", "show", "-jp");
                assert_run(&r, 1, "", "Failed to connect to vdpa Netlink\n");
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "show");
                assert_run(&r, 1, "", "Failed to connect to vdpa Netlink\n");
        }
}

/* A dump of 260 devices spans several datagrams. */
static void test_big_dump(Fixture *f, gconstpointer data) {
        g_autoptr(JsonObject) devs = NULL;
        g_auto(Run) r = { 0 };

        vdpa_testbed_add_card(f->tb, 0x10, 0, 254, "bulk", 0, 100);
        r = VDPA(f, "dev", "show", "-j");
        g_assert_cmpint(r.status, ==, 0);
        devs = parse_json(r.out, "dev");
        g_assert_cmpuint(json_object_get_size(devs), ==, 254 + 6);
        g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(devs, "bulk253"), "mgmtdev"), ==,
                        "pci/0000:11:1f.7");
        g_assert_cmpuint(vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_GET), ==, 1);
}

/* ---- SR-IOV hotplug, provisioning fixtures, fault injection ---- */

#define PF0 "/sys/devices/pci0000:00/0000:00:02.0/0000:04:00.0"
#define HOT_VF "/sys/devices/pci0000:00/0000:00:02.0/0000:04:00.6"

static struct udev_monitor *pci_monitor(Fixture *f) {
        struct udev_monitor *mon = udev_monitor_new_from_netlink(f->udev, "udev");

        g_assert_nonnull(mon);
        g_assert_cmpint(udev_monitor_filter_add_match_subsystem_devtype(mon, "pci", NULL), ==, 0);
        g_assert_cmpint(udev_monitor_enable_receiving(mon), ==, 0);
        return mon;
}

/* The management devices `vdpa mgmtdev show -j` lists, space-separated. */
static char *mgmtdev_names(Fixture *f) {
        g_auto(Run) r = VDPA(f, "mgmtdev", "show", "-j");
        g_autoptr(JsonObject) m = NULL;
        g_autoptr(GList) names = NULL;
        GString *s = g_string_new(NULL);

        g_assert_cmpint(r.status, ==, 0);
        g_assert_cmpstr(r.err, ==, "");
        m = parse_json(r.out, "mgmtdev");
        names = json_object_get_members(m);
        for (GList *l = names; l; l = l->next)
                g_string_append_printf(s, "%s%s", s->len ? " " : "", (const char *) l->data);
        return g_string_free(s, FALSE);
}

static char *read_link_in(Fixture *f, const char *sys) {
        g_autofree char *p = path_in(f, sys);

        return g_file_read_link(p, NULL);
}

static char *read_attr_in(Fixture *f, const char *sys) {
        g_autofree char *p = path_in(f, sys);
        char *text = NULL;

        g_assert_true(g_file_get_contents(p, &text, NULL, NULL));
        return text;
}

#define FIXTURE_MGMTDEVS_PCI04 "auxiliary/mlx5_core.sf.4 pci/0000:04:00.2 pci/0000:04:00.3 pci/0000:04:00.4 pci/0000:04:00.5"
#define FIXTURE_MGMTDEVS_REST "pci/0000:81:00.2 vdpasim_net vdpasim_blk"

static void test_hotplug_vf(Fixture *f, gconstpointer data) {
        static const char *const pci_added[] = { "add 0000:04:00.6 -", "bind 0000:04:00.6 mlx5_core", NULL };
        static const char *const pci_removed[] = { "unbind 0000:04:00.6 -", "remove 0000:04:00.6 -", NULL };
        static const char *const vdpa_added[] = { "add hot0", "bind hot0", NULL };
        static const char *const vdpa_removed[] = { "unbind hot0", "remove hot0", NULL };
        struct udev_monitor *pci = pci_monitor(f);
        g_autoptr(GError) error = NULL;
        g_autofree char *addr = NULL;

        g_assert_true(vdpa_testbed_add_vf(f->tb, "0000:04:00.0", 4, &addr, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(addr, ==, "0000:04:00.6");
        expect_uevents_on(pci, pci_added, TRUE);
        {
                g_autofree char *physfn = read_link_in(f, HOT_VF "/physfn");
                g_autofree char *virtfn = read_link_in(f, PF0 "/virtfn4");
                g_autofree char *drv = read_link_in(f, HOT_VF "/driver");
                g_autofree char *numvfs = read_attr_in(f, PF0 "/sriov_numvfs");
                g_autofree char *device = read_attr_in(f, HOT_VF "/device");
                g_autofree char *numa = read_attr_in(f, HOT_VF "/numa_node");

                g_assert_cmpstr(physfn, ==, "../0000:04:00.0");
                g_assert_cmpstr(virtfn, ==, "../0000:04:00.6");
                g_assert_cmpstr(drv, ==, "../../../../bus/pci/drivers/mlx5_core");
                g_assert_cmpstr(numvfs, ==, "5\n");
                g_assert_cmpstr(device, ==, "0x101e\n");
                g_assert_cmpstr(numa, ==, "0\n");
        }
        {
                /* as libudev (the daemon) sees it */
                struct udev_device *d = udev_device_new_from_syspath(f->udev, HOT_VF);
                g_assert_nonnull(d);
                g_assert_cmpstr(udev_device_get_subsystem(d), ==, "pci");
                g_assert_cmpstr(udev_device_get_driver(d), ==, "mlx5_core");
                g_assert_cmpstr(udev_device_get_property_value(d, "PCI_ID"), ==, "15B3:101E");
                g_assert_cmpstr(udev_device_get_property_value(d, "PCI_SLOT_NAME"), ==, "0000:04:00.6");
                udev_device_unref(d);
        }
        {
                g_autofree char *names = mgmtdev_names(f);
                g_assert_cmpstr(names, ==, FIXTURE_MGMTDEVS_PCI04 " pci/0000:04:00.6 " FIXTURE_MGMTDEVS_REST);
        }
        {
                g_auto(Run) r = VDPA(f, "mgmtdev", "show", "pci/0000:04:00.6");
                assert_run(&r, 0, "pci/0000:04:00.6: \n  supported_classes net\n  max_supported_vqs 17\n  dev_features " MLX5_FEATURES_TEXT "\n", "");
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "hot0", "mgmtdev", "pci/0000:04:00.6");
                assert_run(&r, 0, "", "");
        }
        g_assert_true(exists_in(f, HOT_VF "/hot0"));
        expect_uevents(f, vdpa_added);
        {
                g_auto(Run) r = VDPA(f, "dev", "show", "hot0");
                assert_run(&r, 0, "hot0: type network mgmtdev pci/0000:04:00.6 vendor_id 5555 max_vqs 3 max_vq_size 256\n", "");
        }
        g_assert_cmpuint(vdpa_sim_count_dev_new(f->sim, "pci/0000:04:00.6"), ==, 1);

        /* disabling the VF takes its vDPA device along, as mlx5 does */
        g_assert_true(vdpa_testbed_remove_vf(f->tb, "0000:04:00.6", &error));
        g_assert_no_error(error);
        expect_uevents(f, vdpa_removed);
        expect_uevents_on(pci, pci_removed, TRUE);
        g_assert_false(exists_in(f, HOT_VF));
        g_assert_false(exists_in(f, PF0 "/virtfn4"));
        g_assert_false(exists_in(f, "/sys/bus/pci/devices/0000:04:00.6"));
        {
                g_autofree char *numvfs = read_attr_in(f, PF0 "/sriov_numvfs");
                g_assert_cmpstr(numvfs, ==, "4\n");
        }
        {
                g_autofree char *names = mgmtdev_names(f);
                g_assert_cmpstr(names, ==, FIXTURE_MGMTDEVS_PCI04 " " FIXTURE_MGMTDEVS_REST);
        }
        {
                g_auto(Run) r = VDPA(f, "mgmtdev", "show", "pci/0000:04:00.6");
                assert_run(&r, 1, "", "Error: vdpa: Fail to find the specified mgmt device.\nkernel answers: No such device\n");
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "show", "hot0");
                assert_run(&r, 1, "", "Error: vdpa: device not found.\nkernel answers: No such device\n");
        }
        /* the same VF can come back */
        g_assert_true(vdpa_testbed_add_vf(f->tb, "0000:04:00.0", 4, NULL, &error));
        g_assert_no_error(error);
        expect_uevents_on(pci, pci_added, TRUE);
        {
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "hot0", "mgmtdev", "pci/0000:04:00.6");
                assert_run(&r, 0, "", "");
        }
        udev_monitor_unref(pci);
}

/* A VF of the fixture with a bound vDPA device: mlx5's remove deletes it
 * first. */
static void test_remove_fixture_vf(Fixture *f, gconstpointer data) {
        static const char *const vdpa_removed[] = { "unbind vdpa0", "remove vdpa0", NULL };
        static const char *const pci_removed[] = { "unbind 0000:04:00.2 -", "remove 0000:04:00.2 -", NULL };
        struct udev_monitor *pci = pci_monitor(f);
        g_autoptr(GError) error = NULL;

        g_assert_true(vdpa_testbed_remove_vf(f->tb, "0000:04:00.2", &error));
        g_assert_no_error(error);
        expect_uevents(f, vdpa_removed);
        expect_uevents_on(pci, pci_removed, TRUE);
        g_assert_false(exists_in(f, "/dev/vhost-vdpa-0"));
        g_assert_false(exists_in(f, PF0 "/virtfn0"));
        {
                g_autofree char *names = mgmtdev_names(f);
                g_assert_cmpstr(names, ==, "auxiliary/mlx5_core.sf.4 pci/0000:04:00.3 pci/0000:04:00.4 pci/0000:04:00.5 "
                                           FIXTURE_MGMTDEVS_REST);
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "show", "vdpa0");
                assert_run(&r, 1, "", "Error: vdpa: device not found.\nkernel answers: No such device\n");
        }
        udev_monitor_unref(pci);
}

/* Routing IDs: devfn = PF devfn + offset + stride * N, carried into the
 * slot number; and the refusals. */
static void test_hotplug_vf_addresses(Fixture *f, gconstpointer data) {
        static const struct {
                const char *pf;
                guint index;
                const char *vf;
        } cases[] = {
                { "0000:04:00.0", 5, "0000:04:00.7" },
                { "0000:04:00.0", 6, "0000:04:01.0" },
                { "0000:04:00.0", 7, "0000:04:01.1" },
                /* the second port: offset 2 + 1 * (8 - 1), after the first port's 8 */
                { "0000:04:00.1", 0, "0000:04:01.2" },
                { "0000:81:00.0", 1, "0000:81:00.3" },
        };
        g_autoptr(GError) error = NULL;

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *addr = NULL;
                g_autofree char *physfn = NULL;
                g_autofree char *link = NULL;

                g_assert_true(vdpa_testbed_add_vf(f->tb, cases[i].pf, cases[i].index, &addr, &error));
                g_assert_no_error(error);
                g_assert_cmpstr(addr, ==, cases[i].vf);
                link = g_strdup_printf("/sys/bus/pci/devices/%s/physfn", addr);
                physfn = read_link_in(f, link);
                g_assert_cmpstr(physfn + strlen("../"), ==, cases[i].pf);
        }
        {
                g_autofree char *names = mgmtdev_names(f);
                g_assert_cmpstr(names, ==, FIXTURE_MGMTDEVS_PCI04 " pci/0000:04:00.7 pci/0000:04:01.0 pci/0000:04:01.1 "
                                           "pci/0000:04:01.2 pci/0000:81:00.2 pci/0000:81:00.3 vdpasim_net vdpasim_blk");
        }
        g_assert_false(vdpa_testbed_add_vf(f->tb, "0000:04:00.0", 5, NULL, &error));
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
        g_clear_error(&error);
        /* sriov_totalvfs is 8 */
        g_assert_false(vdpa_testbed_add_vf(f->tb, "0000:04:00.0", 8, NULL, &error));
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        /* a VF is no PF */
        g_assert_false(vdpa_testbed_add_vf(f->tb, "0000:04:00.2", 0, NULL, &error));
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
        g_clear_error(&error);
        g_assert_false(vdpa_testbed_add_vf(f->tb, "0000:99:00.0", 0, NULL, &error));
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
        g_clear_error(&error);
        g_assert_false(vdpa_testbed_add_vf(f->tb, "04:00.0", 0, NULL, &error));
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        /* a PF is no VF */
        g_assert_false(vdpa_testbed_remove_vf(f->tb, "0000:04:00.0", &error));
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
        g_clear_error(&error);
        g_assert_false(vdpa_testbed_remove_vf(f->tb, "0000:99:00.2", &error));
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

static void test_pf_with_vfs(Fixture *f, gconstpointer data) {
        static const char *const vfs[] = { "0000:21:00.2", "0000:21:00.3", "0000:21:00.4", "0000:21:00.5" };
        struct udev_monitor *pci = pci_monitor(f);
        g_autoptr(GError) error = NULL;

        g_assert_true(vdpa_testbed_add_pf_with_vfs(f->tb, "0000:21:00.0", 4, &error));
        g_assert_no_error(error);
        /* built for before the daemon starts: not a single uevent */
        expect_no_uevent_on(pci);
        {
                g_autofree char *names = mgmtdev_names(f);
                g_assert_cmpstr(names, ==, FIXTURE_MGMTDEVS_PCI04 " pci/0000:21:00.2 pci/0000:21:00.3 pci/0000:21:00.4 "
                                           "pci/0000:21:00.5 " FIXTURE_MGMTDEVS_REST);
        }
        {
                /* a VF and its parent, the root port (the PF is a
                 * sibling), as libudev reads them */
                struct udev_device *d = udev_device_new_from_subsystem_sysname(f->udev, "pci", "0000:21:00.3");
                struct udev_device *port;

                g_assert_nonnull(d);
                g_assert_cmpstr(udev_device_get_syspath(d), ==, "/sys/devices/pci0000:20/0000:20:00.0/0000:21:00.3");
                g_assert_cmpstr(udev_device_get_driver(d), ==, "mlx5_core");
                g_assert_cmpstr(udev_device_get_sysattr_value(d, "numa_node"), ==, "0");
                port = udev_device_get_parent(d);
                g_assert_cmpstr(udev_device_get_sysname(port), ==, "0000:20:00.0");
                g_assert_cmpstr(udev_device_get_driver(port), ==, "pcieport");
                g_assert_cmpstr(udev_device_get_sysattr_value(port, "class"), ==, "0x060400");
                udev_device_unref(d);
        }
        {
                g_autofree char *numvfs = read_attr_in(f, "/sys/bus/pci/devices/0000:21:00.0/sriov_numvfs");
                g_autofree char *virtfn = read_link_in(f, "/sys/bus/pci/devices/0000:21:00.0/virtfn3");
                g_assert_cmpstr(numvfs, ==, "4\n");
                g_assert_cmpstr(virtfn, ==, "../0000:21:00.5");
        }
        for (size_t i = 0; i < G_N_ELEMENTS(vfs); i++) {
                g_autofree char *name = g_strdup_printf("p%zu", i);
                g_autofree char *handle = g_strconcat("pci/", vfs[i], NULL);
                g_auto(Run) r = VDPA(f, "dev", "add", "name", name, "mgmtdev", handle);

                assert_run(&r, 0, "", "");
                g_assert_cmpuint(vdpa_sim_count_dev_new(f->sim, handle), ==, 1);
        }
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_NEW), ==, 4);
        {
                /* mlx5: one each */
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "again", "mgmtdev", "pci/0000:21:00.2");
                assert_run(&r, 1, "", "kernel answers: No space left on device\n");
        }
        g_assert_cmpuint(vdpa_sim_count_dev_new(f->sim, "pci/0000:21:00.2"), ==, 2);
        /* a second port shares the root port; a PF twice is refused */
        g_assert_true(vdpa_testbed_add_pf_with_vfs(f->tb, "0000:21:00.1", 1, &error));
        g_assert_no_error(error);
        g_assert_true(exists_in(f, "/sys/devices/pci0000:20/0000:20:00.0/0000:21:01.2/physfn"));
        g_assert_false(vdpa_testbed_add_pf_with_vfs(f->tb, "0000:21:00.0", 4, &error));
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
        g_clear_error(&error);
        /* 0000:04:00.0 is a PF, not a root port */
        g_assert_false(vdpa_testbed_add_pf_with_vfs(f->tb, "0000:05:00.0", 1, &error));
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
        g_clear_error(&error);
        /* hotplug onto it goes on where it ended */
        {
                g_autofree char *addr = NULL;
                g_assert_true(vdpa_testbed_add_vf(f->tb, "0000:21:00.0", 4, &addr, &error));
                g_assert_no_error(error);
                g_assert_cmpstr(addr, ==, "0000:21:00.6");
        }
        udev_monitor_unref(pci);
}

static void test_pf_with_256_vfs(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autofree char *names = NULL;
        gint64 t0 = g_get_monotonic_time();
        gint64 took;

        g_assert_true(vdpa_testbed_add_pf_with_vfs(f->tb, "0000:21:00.0", 256, &error));
        took = g_get_monotonic_time() - t0;
        g_assert_no_error(error);
        /* a note, not an assertion: the time is the file system's (13
         * files a VF; tmpfs ~0.1 s, a busy ext4 seconds) */
        g_test_message("vdpa_testbed_add_pf_with_vfs(256): %.1f ms, testbed in %s", took / 1000.0, f->root);
        names = mgmtdev_names(f);
        /* 256 VFs from devfn 2 on: the last ones on bus 0x22 */
        g_assert_true(g_str_has_prefix(names, FIXTURE_MGMTDEVS_PCI04 " pci/0000:21:00.2 pci/0000:21:00.3 "));
        g_assert_true(g_str_has_suffix(names, " pci/0000:21:1f.7 pci/0000:22:00.0 pci/0000:22:00.1 " FIXTURE_MGMTDEVS_REST));
        {
                g_auto(GStrv) parts = g_strsplit(names, " ", -1);
                g_assert_cmpuint(g_strv_length(parts), ==, g_strv_length((char **) fixture_mgmtdevs) + 256);
        }
        {
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "last", "mgmtdev", "pci/0000:22:00.1");
                assert_run(&r, 0, "", "");
        }
}

static void test_fail_dev_new(Fixture *f, gconstpointer data) {
        const char *vf5 = "pci/0000:04:00.5";

        vdpa_sim_fail_dev_new(f->sim, vf5, ENOSPC);
        {
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "x", "mgmtdev", vf5);
                assert_run(&r, 1, "", "kernel answers: No space left on device\n");
        }
        {
                /* the others still work */
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "s1", "mgmtdev", "vdpasim_net");
                assert_run(&r, 0, "", "");
        }
        vdpa_sim_fail_dev_new(f->sim, vf5, EOPNOTSUPP);
        {
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "x", "mgmtdev", vf5);
                assert_run(&r, 1, "", "Error: vdpa: All provided attributes are not supported.\nkernel answers: Operation not supported\n");
        }
        /* a fault on a management device that is not there yet waits for it */
        vdpa_sim_fail_dev_new(f->sim, "pci/0000:04:00.6", ENOMEM);
        {
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "x", "mgmtdev", "pci/0000:04:00.6");
                assert_run(&r, 1, "", "Error: vdpa: Fail to find the specified management device.\nkernel answers: No such device\n");
        }
        g_assert_true(vdpa_testbed_add_vf(f->tb, "0000:04:00.0", 4, NULL, NULL));
        {
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "x", "mgmtdev", "pci/0000:04:00.6");
                assert_run(&r, 1, "", "kernel answers: Cannot allocate memory\n");
        }
        g_assert_false(exists_in(f, VF5 "/x"));
        g_assert_false(exists_in(f, HOT_VF "/x"));
        vdpa_sim_fail_dev_new(f->sim, vf5, 0);
        {
                g_auto(Run) r = VDPA(f, "dev", "add", "name", "x", "mgmtdev", vf5);
                assert_run(&r, 0, "", "");
        }
        g_assert_true(exists_in(f, VF5 "/x"));
        g_assert_cmpuint(vdpa_sim_count_dev_new(f->sim, vf5), ==, 3);
        g_assert_cmpuint(vdpa_sim_count_dev_new(f->sim, "vdpasim_net"), ==, 1);
        g_assert_cmpuint(vdpa_sim_count_dev_new(f->sim, "pci/0000:04:00.6"), ==, 2);
        g_assert_cmpuint(vdpa_sim_count_dev_new(f->sim, "pci/0000:04:00.2"), ==, 0);
        vdpa_sim_reset_counts(f->sim);
        g_assert_cmpuint(vdpa_sim_count_dev_new(f->sim, vf5), ==, 0);
}

/* ---- tools/simhost ---- */

static void test_simhost(Fixture *f, gconstpointer data) {
        const char *src = g_getenv("VDPA_TEST_SRCDIR");
        const char *build = g_getenv("VDPA_TEST_BUILDDIR");
        g_autofree char *tool = g_build_filename(src, "tools", "simhost", NULL);
        const char *argv[] = { tool, "--no-build", "--builddir", build, "--", "vdpa", "mgmtdev", "show", "-j", NULL };
        char **env = g_get_environ();
        g_autofree char *out = NULL, *err = NULL;
        g_autoptr(GError) error = NULL;
        int ws;

        /* simhost makes a host of its own: nothing of this test's */
        env = g_environ_unsetenv(env, "UMOCKDEV_DIR");
        env = g_environ_unsetenv(env, "LD_PRELOAD");
        g_spawn_sync(NULL, (char **) argv, env, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &ws, &error);
        g_strfreev(env);
        g_assert_no_error(error);
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
                g_error("tools/simhost failed (%d): %s", ws, err);
        g_assert_cmpstr(err, ==, "");
        assert_mgmtdev_json(out);
}

/* ---- the protocol from this process (libmnl through the preload) ---- */

typedef struct {
        struct mnl_socket *nl;
        guint32 seq;
        guint16 family;
        char buf[65536] __attribute__((aligned(8)));
} Raw;

static void raw_sockopt(Raw *r, int opt, int v) {
        g_assert_cmpint(mnl_socket_setsockopt(r->nl, opt, &v, sizeof(v)), ==, 0);
}

static struct nlmsghdr *raw_msg(Raw *r, guint16 type, guint16 flags, guint8 cmd) {
        struct nlmsghdr *h = mnl_nlmsg_put_header(r->buf);
        struct genlmsghdr *g = mnl_nlmsg_put_extra_header(h, sizeof(*g));

        h->nlmsg_type = type;
        h->nlmsg_flags = NLM_F_REQUEST | flags;
        h->nlmsg_seq = ++r->seq;
        g->cmd = cmd;
        g->version = 1;
        return h;
}

static void raw_send(Raw *r, struct nlmsghdr *h) {
        g_assert_cmpint(mnl_socket_sendto(r->nl, h, h->nlmsg_len), ==, (ssize_t) h->nlmsg_len);
}

/* One datagram. */
static struct nlmsghdr *raw_recv(Raw *r, ssize_t *len) {
        *len = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
        g_assert_cmpint(*len, >=, (ssize_t) sizeof(struct nlmsghdr));
        return (struct nlmsghdr *) r->buf;
}

static void raw_open(Fixture *f, Raw *r) {
        struct nlmsghdr *h;
        ssize_t n;

        memset(r, 0, sizeof(*r));
        r->nl = mnl_socket_open(NETLINK_GENERIC);
        g_assert_nonnull(r->nl);
        raw_sockopt(r, NETLINK_CAP_ACK, 1);
        raw_sockopt(r, NETLINK_EXT_ACK, 1);
        g_assert_cmpint(mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID), ==, 0);
        h = raw_msg(r, GENL_ID_CTRL, NLM_F_ACK, CTRL_CMD_GETFAMILY);
        mnl_attr_put_strz(h, CTRL_ATTR_FAMILY_NAME, VDPA_GENL_NAME);
        raw_send(r, h);
        h = raw_recv(r, &n);
        g_assert_cmpint(h->nlmsg_type, ==, GENL_ID_CTRL);
        g_assert_cmpuint(h->nlmsg_pid, ==, mnl_socket_get_portid(r->nl));
        g_assert_cmpuint(h->nlmsg_seq, ==, r->seq);
        {
                struct nlattr *a;
                mnl_attr_for_each(a, h, GENL_HDRLEN) {
                        if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID)
                                r->family = mnl_attr_get_u16(a);
                        if (mnl_attr_get_type(a) == CTRL_ATTR_MAXATTR)
                                g_assert_cmpuint(mnl_attr_get_u32(a), ==, VDPA_ATTR_MAX);
                }
        }
        g_assert_cmpuint(r->family, ==, VDPA_SIM_FAMILY_ID);
        h = raw_recv(r, &n);
        g_assert_cmpint(h->nlmsg_type, ==, NLMSG_ERROR);
        g_assert_cmpint(((struct nlmsgerr *) mnl_nlmsg_get_payload(h))->error, ==, 0);
}

/* The NLMSG_ERROR H carries ERR and (EXT_ACK) MSG and, if OFFS >= 0, OFFS. */
static void assert_error(struct nlmsghdr *h, int err, const char *msg, int offs) {
        struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
        const char *got = NULL;
        int got_offs = -1;
        struct nlattr *a;

        g_assert_cmpint(h->nlmsg_type, ==, NLMSG_ERROR);
        g_assert_cmpint(e->error, ==, err);
        g_assert_true(h->nlmsg_flags & NLM_F_CAPPED);
        if (h->nlmsg_flags & NLM_F_ACK_TLVS)
                mnl_attr_for_each(a, h, sizeof(*e)) {
                        if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG)
                                got = mnl_attr_get_str(a);
                        if (mnl_attr_get_type(a) == NLMSGERR_ATTR_OFFS)
                                got_offs = (int) mnl_attr_get_u32(a);
                }
        g_assert_cmpstr(got, ==, msg);
        g_assert_cmpint(got_offs, ==, offs);
}

static void test_raw_validation(Fixture *f, gconstpointer data) {
        Raw *r = g_new0(Raw, 1);
        struct nlmsghdr *h;
        ssize_t n;

        raw_open(f, r);
        /* the first netlink socket of a process gets its pid */
        g_assert_cmpuint(mnl_socket_get_portid(r->nl), ==, (guint32) getpid());

        h = raw_msg(r, r->family, NLM_F_ACK, VDPA_CMD_DEV_GET);
        mnl_attr_put_strz(h, VDPA_ATTR_DEV_NAME, "vdpa0");
        mnl_attr_put_u32(h, 30, 1);
        raw_send(r, h);
        assert_error(raw_recv(r, &n), -EINVAL, "Unknown attribute type", 32);

        h = raw_msg(r, r->family, NLM_F_ACK, VDPA_CMD_DEV_GET);
        mnl_attr_put_u32(h, VDPA_ATTR_DEV_ID, 1);
        raw_send(r, h);
        assert_error(raw_recv(r, &n), -EINVAL, "Unsupported attribute", 20);

        h = raw_msg(r, r->family, NLM_F_ACK, VDPA_CMD_DEV_NEW);
        mnl_attr_put_strz(h, VDPA_ATTR_DEV_NAME, "x");
        mnl_attr_put_u32(h, VDPA_ATTR_DEV_NET_CFG_MTU, 1500);
        raw_send(r, h);
        assert_error(raw_recv(r, &n), -EINVAL, "invalid attribute length", 28);

        /* dump requests are validated too */
        h = raw_msg(r, r->family, NLM_F_ACK | NLM_F_DUMP, VDPA_CMD_DEV_GET);
        mnl_attr_put_u32(h, VDPA_ATTR_DEV_VENDOR_ID, 1);
        raw_send(r, h);
        assert_error(raw_recv(r, &n), -EINVAL, "Unsupported attribute", 20);

        /* no name: plain EINVAL; an unknown command: EOPNOTSUPP */
        raw_send(r, raw_msg(r, r->family, NLM_F_ACK, VDPA_CMD_DEV_GET));
        assert_error(raw_recv(r, &n), -EINVAL, NULL, -1);
        raw_send(r, raw_msg(r, r->family, NLM_F_ACK, VDPA_CMD_MGMTDEV_NEW));
        assert_error(raw_recv(r, &n), -EOPNOTSUPP, NULL, -1);
        raw_send(r, raw_msg(r, r->family, NLM_F_ACK | NLM_F_DUMP, VDPA_CMD_DEV_NEW));
        assert_error(raw_recv(r, &n), -EOPNOTSUPP, NULL, -1);
        /* another family id */
        raw_send(r, raw_msg(r, r->family + 1, NLM_F_ACK, VDPA_CMD_DEV_GET));
        assert_error(raw_recv(r, &n), -ENOENT, NULL, -1);

        mnl_socket_close(r->nl);
        g_free(r);
}

static void test_raw_acks(Fixture *f, gconstpointer data) {
        Raw *r = g_new0(Raw, 1);
        struct nlmsghdr *h;
        guint32 first;
        ssize_t n;

        raw_open(f, r);
        /* without NLM_F_ACK a doit gets its reply and no ACK: the next
         * datagram is the second request's reply */
        h = raw_msg(r, r->family, 0, VDPA_CMD_DEV_GET);
        mnl_attr_put_strz(h, VDPA_ATTR_DEV_NAME, "vdpa0");
        raw_send(r, h);
        first = r->seq;
        h = raw_msg(r, r->family, NLM_F_ACK, VDPA_CMD_DEV_GET);
        mnl_attr_put_strz(h, VDPA_ATTR_DEV_NAME, "vdpa1");
        raw_send(r, h);
        h = raw_recv(r, &n);
        g_assert_cmpint(h->nlmsg_type, ==, r->family);
        g_assert_cmpuint(h->nlmsg_seq, ==, first);
        g_assert_cmpint(h->nlmsg_flags, ==, 0);
        h = raw_recv(r, &n);
        g_assert_cmpint(h->nlmsg_type, ==, r->family);
        g_assert_cmpuint(h->nlmsg_seq, ==, r->seq);
        h = raw_recv(r, &n);
        assert_error(h, 0, NULL, -1);

        /* MSG_TRUNC as netlink: a short read says so; MSG_PEEK|MSG_TRUNC
         * gives the real length and leaves the datagram */
        h = raw_msg(r, r->family, 0, VDPA_CMD_DEV_GET);
        mnl_attr_put_strz(h, VDPA_ATTR_DEV_NAME, "vdpa0");
        raw_send(r, h);
        {
                int fd = mnl_socket_get_fd(r->nl);
                char small[8];
                struct iovec iov = { .iov_base = small, .iov_len = sizeof(small) };
                struct sockaddr_nl sa;
                struct msghdr m = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t real = recv(fd, small, sizeof(small), MSG_PEEK | MSG_TRUNC);

                g_assert_cmpint(real, >, (ssize_t) sizeof(small));
                g_assert_cmpint(recvmsg(fd, &m, 0), ==, (ssize_t) sizeof(small));
                g_assert_true(m.msg_flags & MSG_TRUNC);
                g_assert_cmpuint(m.msg_namelen, ==, sizeof(struct sockaddr_nl));
                g_assert_cmpint(sa.nl_family, ==, AF_NETLINK);
                g_assert_cmpuint(sa.nl_pid, ==, 0);
        }

        /* without CAP_ACK an error echoes the whole request; without
         * EXT_ACK it has no TLVs */
        raw_sockopt(r, NETLINK_CAP_ACK, 0);
        raw_sockopt(r, NETLINK_EXT_ACK, 0);
        h = raw_msg(r, r->family, NLM_F_ACK, VDPA_CMD_DEV_DEL);
        mnl_attr_put_strz(h, VDPA_ATTR_DEV_NAME, "nosuch");
        raw_send(r, h);
        {
                guint32 reqlen = h->nlmsg_len;
                struct nlmsgerr *e;

                h = raw_recv(r, &n);
                e = mnl_nlmsg_get_payload(h);
                g_assert_cmpint(e->error, ==, -ENODEV);
                g_assert_cmpint(h->nlmsg_flags, ==, 0);
                g_assert_cmpuint(h->nlmsg_len, ==, NLMSG_HDRLEN + sizeof(int) + reqlen);
        }
        mnl_socket_close(r->nl);
        g_free(r);
}

/* Dumps: NLM_F_MULTI messages in datagrams of at most 4096 bytes, then
 * NLMSG_DONE alone. */
static void test_raw_dump(Fixture *f, gconstpointer data) {
        Raw *r = g_new0(Raw, 1);
        Raw *r2 = g_new0(Raw, 1);
        guint devices = 0, dgrams = 0;
        gboolean done = FALSE;

        vdpa_testbed_add_card(f->tb, 0x10, 0, 254, "bulk", 0, 100);
        raw_open(f, r);
        raw_open(f, r2);
        /* the second socket: the kernel's rover */
        g_assert_cmpuint(mnl_socket_get_portid(r2->nl), ==, (guint32) -4096);
        raw_send(r, raw_msg(r, r->family, NLM_F_ACK | NLM_F_DUMP, VDPA_CMD_DEV_GET));
        while (!done) {
                ssize_t n;
                struct nlmsghdr *h = raw_recv(r, &n);
                guint in_dgram = 0;

                g_assert_cmpint(n, <=, 4096);
                dgrams++;
                for (; mnl_nlmsg_ok(h, (int) n); h = mnl_nlmsg_next(h, (int *) &n), in_dgram++) {
                        g_assert_true(h->nlmsg_flags & NLM_F_MULTI);
                        g_assert_cmpuint(h->nlmsg_seq, ==, r->seq);
                        if (h->nlmsg_type == NLMSG_DONE) {
                                g_assert_cmpint(*(int *) mnl_nlmsg_get_payload(h), ==, 0);
                                g_assert_cmpuint(in_dgram, ==, 0);
                                done = TRUE;
                        } else {
                                g_assert_cmpint(h->nlmsg_type, ==, r->family);
                                devices++;
                        }
                }
        }
        g_assert_cmpuint(devices, ==, 254 + 6);
        g_assert_cmpuint(dgrams, >, 3);
        mnl_socket_close(r->nl);
        mnl_socket_close(r2->nl);
        g_free(r);
        g_free(r2);
}

static void add(const char *path, void (*fn)(Fixture *, gconstpointer)) {
        g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown);
}

int main(int argc, char **argv) {
        vdpa_testbed_isolate_uevent_queue();
        g_test_init(&argc, &argv, NULL);
        /* a missing tool fails, it does not skip */
        if (!g_file_test(VDPA_BIN, G_FILE_TEST_IS_EXECUTABLE))
                g_error("%s is missing (Debian package iproute2): this test needs it", VDPA_BIN);

        add("/iproute2/mgmtdev/show-json", test_mgmtdev_json);
        add("/iproute2/mgmtdev/show-text", test_mgmtdev_text);
        add("/iproute2/dev/show", test_dev_show);
        add("/iproute2/dev/add-del", test_dev_add_del);
        add("/iproute2/dev/vdpasim", test_dev_vdpasim);
        add("/iproute2/dev/config-virtio", test_config_virtio);
        add("/iproute2/dev/config-dump", test_config_dump);
        add("/iproute2/errors", test_errors);
        add("/iproute2/eperm", test_eperm);
        add("/iproute2/family-absent", test_family_absent);
        add("/iproute2/big-dump", test_big_dump);
        add("/iproute2/hotplug/vf", test_hotplug_vf);
        add("/iproute2/hotplug/vf-addresses", test_hotplug_vf_addresses);
        add("/iproute2/hotplug/remove-fixture-vf", test_remove_fixture_vf);
        add("/iproute2/provision/pf-with-vfs", test_pf_with_vfs);
        add("/iproute2/provision/pf-with-256-vfs", test_pf_with_256_vfs);
        add("/iproute2/provision/fail-dev-new", test_fail_dev_new);
        add("/iproute2/simhost", test_simhost);
        add("/iproute2/raw/validation", test_raw_validation);
        add("/iproute2/raw/acks", test_raw_acks);
        add("/iproute2/raw/dump", test_raw_dump);
        return g_test_run();
}
