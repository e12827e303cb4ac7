/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's vdpa netlink client (daemon/vdpa-netlink.c) and its worker
 * thread (daemon/netlink-worker.c), in this process, against the
 * kernel-faithful simulator (tests/vdpa-sim.h) serving tests/data/host.umockdev,
 * with Debian's iproute2 `vdpa` as the second opinion on what the simulator
 * said.  The timeout is tested against a peer of our own on the same
 * transport that answers GETFAMILY and then keeps silent.
 *
 * Runs under umockdev-wrapper with the simulator's preload in LD_PRELOAD;
 * run by hand without it, main() re-executes the program once with it.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/vdpa.h>
#include <systemd/sd-event.h>

#include "harness.h"
#include "netlink-worker.h"
#include "testbed.h"
#include "vdpa-netlink.h"
#include "vdpa-sim-proto.h"
#include "vdpa-sim.h"

#define VDPA_TOOL "/usr/sbin/vdpa"
#define TIMEOUT_USEC (5 * G_USEC_PER_SEC)
/* The bound of every wait of this test. */
#define WAIT_USEC (10 * G_USEC_PER_SEC)
#define REEXEC_ENV "VDPA_TEST_NETLINK_REEXEC"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_event, sd_event_unref)

typedef struct {
        UMockdevTestbed *tb;
        VdpaSim *sim;
        VdpaNetlink *nl;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;

        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        f->sim = vdpa_sim_start(f->tb, &error);
        g_assert_no_error(error);
        g_assert_cmpint(vdpa_netlink_open(TIMEOUT_USEC, &f->nl), ==, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        g_clear_pointer(&f->nl, vdpa_netlink_free);
        /* No simulator thread may outlive its testbed. */
        g_clear_pointer(&f->sim, vdpa_sim_stop);
        g_clear_object(&f->tb);
}

/* --- iproute2's view of the same simulator --- */

static JsonObject *run_vdpa_json(JsonParser *p, const char *const *args, const char *section) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_auto(GStrv) argv = NULL, envp = g_get_environ();
        g_autofree char *out = NULL, *err = NULL, *preload = vdpa_sim_preload_env();
        g_autoptr(GError) error = NULL;
        JsonObject *root;
        int status;

        if (!g_file_test(VDPA_TOOL, G_FILE_TEST_IS_EXECUTABLE))
                g_error("%s is missing: install Debian's iproute2 (tools/install-deps)", VDPA_TOOL);
        g_strv_builder_add_many(b, VDPA_TOOL, "-j", NULL);
        g_strv_builder_addv(b, (const char **) args);
        argv = g_strv_builder_end(b);
        envp = g_environ_setenv(envp, "LD_PRELOAD", preload, TRUE);
        if (!g_spawn_sync(NULL, argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error))
                g_error("cannot run %s: %s", VDPA_TOOL, error->message);
        if (!g_spawn_check_wait_status(status, &error))
                g_error("vdpa %s: %s: %s", args[0], error->message, err);
        if (!section)
                return NULL;
        if (!json_parser_load_from_data(p, out, -1, &error))
                g_error("vdpa %s printed no JSON (%s): %s", args[0], error->message, out);
        root = json_node_get_object(json_parser_get_root(p));
        g_assert_nonnull(root);
        return json_object_get_object_member(root, section);
}

static gint64 member_int(JsonObject *o, const char *key) {
        if (!json_object_has_member(o, key))
                g_error("iproute2's JSON lacks %s", key);
        return json_object_get_int_member(o, key);
}

/* --- open, dumps, doit --- */

static void test_open(Fixture *f, gconstpointer data) {
        /* The fixture opened one; a second socket resolves again. */
        g_autoptr(VdpaNetlink) nl = NULL;

        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_SIM_COUNT_GETFAMILY), ==, 1);
        g_assert_cmpint(vdpa_netlink_open(TIMEOUT_USEC, &nl), ==, 0);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_SIM_COUNT_GETFAMILY), ==, 2);
        g_assert_cmpuint(vdpa_sim_count_connections(f->sim), ==, 2);
}

static const VdpaNlDevice *find_device(GPtrArray *a, const char *name) {
        for (guint i = 0; i < a->len; i++)
                if (g_str_equal(((VdpaNlDevice *) a->pdata[i])->name, name))
                        return a->pdata[i];
        return NULL;
}

static void test_dev_dump(Fixture *f, gconstpointer data) {
        static const struct {
                const char *name, *mgmtdev;
                uint32_t device_id;
        } fixture[] = {
                { "vdpa0", "pci/0000:04:00.2", 1 },
                { "vdpa1", "pci/0000:04:00.3", 1 },
                { "blk0", "pci/0000:04:00.4", 1 },     /* a net device despite its name */
                { "fast1", "auxiliary/mlx5_core.sf.4", 1 },
                { "vdpa2", "pci/0000:81:00.2", 1 },
                { "vdpa-sim0", "vdpasim_net", 1 },
        };
        const char *const args[] = { "dev", "show", NULL };
        g_autoptr(JsonParser) p = json_parser_new();
        g_autoptr(GPtrArray) devs = NULL;
        g_autofree char *extack = NULL;
        JsonObject *tool;

        g_assert_cmpint(vdpa_netlink_dev_dump(f->nl, &devs, &extack), ==, 0);
        g_assert_null(extack);
        g_assert_cmpuint(vdpa_sim_count_dumps(f->sim, VDPA_CMD_DEV_GET), ==, 1);
        g_assert_cmpuint(devs->len, ==, G_N_ELEMENTS(fixture));
        for (size_t i = 0; i < G_N_ELEMENTS(fixture); i++) {
                const VdpaNlDevice *d = find_device(devs, fixture[i].name);

                if (!d)
                        g_error("the dump lacks %s", fixture[i].name);
                g_assert_cmpstr(d->mgmtdev, ==, fixture[i].mgmtdev);
                g_assert_cmpuint(d->device_id, ==, fixture[i].device_id);
        }

        /* Every field as iproute2 reads it from the same simulator. */
        tool = run_vdpa_json(p, args, "dev");
        g_assert_cmpuint(json_object_get_size(tool), ==, devs->len);
        for (guint i = 0; i < devs->len; i++) {
                const VdpaNlDevice *d = devs->pdata[i];
                JsonObject *o = json_object_get_object_member(tool, d->name);

                if (!o)
                        g_error("iproute2 does not list %s", d->name);
                g_assert_cmpstr(json_object_get_string_member(o, "mgmtdev"), ==, d->mgmtdev);
                g_assert_cmpstr(json_object_get_string_member(o, "type"), ==,
                                d->device_id == 1 ? "network" : "block");
                g_assert_cmpint(member_int(o, "vendor_id"), ==, d->vendor_id);
                g_assert_cmpint(member_int(o, "max_vqs"), ==, d->max_vqs);
                g_assert_cmpint(member_int(o, "max_vq_size"), ==, d->max_vq_size);
                g_assert_cmpuint(d->min_vq_size, >=, 1);
        }
}

static void test_mgmtdev_dump(Fixture *f, gconstpointer data) {
        const char *const args[] = { "mgmtdev", "show", NULL };
        g_autoptr(JsonParser) p = json_parser_new();
        g_autoptr(GPtrArray) m = NULL;
        bool sim_net = false, vf5 = false;
        JsonObject *tool;

        g_assert_cmpint(vdpa_netlink_mgmtdev_dump(f->nl, &m, NULL), ==, 0);
        tool = run_vdpa_json(p, args, "mgmtdev");
        g_assert_cmpuint(json_object_get_size(tool), ==, m->len);
        for (guint i = 0; i < m->len; i++) {
                const VdpaNlMgmtdev *d = m->pdata[i];
                g_autofree char *handle = vdpa_nl_mgmtdev_handle(d);
                JsonObject *o = json_object_get_object_member(tool, handle);
                JsonArray *classes;

                if (!o)
                        g_error("iproute2 does not list %s", handle);
                g_assert_cmpint(member_int(o, "max_supported_vqs"), ==, d->max_vqs);
                classes = json_object_get_array_member(o, "supported_classes");
                g_assert_cmpuint(json_array_get_length(classes), ==, __builtin_popcountll(d->supported_classes));
                g_assert_cmpstr(json_array_get_string_element(classes, 0), ==,
                                d->supported_classes == 0x2 ? "net" : "block");
                sim_net |= g_str_equal(handle, "vdpasim_net") && g_str_equal(d->bus_name, "") &&
                           d->supported_features == 0x308820028ull && d->max_vqs == 3;
                vf5 |= g_str_equal(handle, "pci/0000:04:00.5") && g_str_equal(d->bus_name, "pci");
        }
        g_assert_true(sim_net);
        g_assert_true(vf5);
}

static void test_dev_get(Fixture *f, gconstpointer data) {
        g_autoptr(VdpaNlDevice) d = NULL;
        g_autofree char *extack = NULL;

        g_assert_cmpint(vdpa_netlink_dev_get(f->nl, "fast1", &d, &extack), ==, 0);
        g_assert_null(extack);
        g_assert_cmpstr(d->name, ==, "fast1");
        g_assert_cmpstr(d->mgmtdev, ==, "auxiliary/mlx5_core.sf.4");
        g_assert_cmpuint(d->vendor_id, ==, 0x15b3);
        g_clear_pointer(&d, vdpa_nl_device_free);

        g_assert_cmpint(vdpa_netlink_dev_get(f->nl, "nosuch0", &d, &extack), ==, -ENODEV);
        g_assert_null(d);
        g_assert_cmpstr(extack, ==, "vdpa: device not found");
}

static void test_config(Fixture *f, gconstpointer data) {
        g_autoptr(JsonParser) p = json_parser_new();
        const char *const args[] = { "dev", "config", "show", "vdpa0", NULL };
        g_autoptr(VdpaNlConfig) c = NULL;
        g_autofree char *extack = NULL, *mac = NULL;
        JsonObject *tool;

        /* Until a driver negotiated features: unknown, and why. */
        g_assert_cmpint(vdpa_netlink_config_get(f->nl, "vdpa0", &c, &extack), ==, -EAGAIN);
        g_assert_null(c);
        g_assert_cmpstr(extack, ==, "vdpa: Features negotiation not completed");
        g_clear_pointer(&extack, g_free);

        g_assert_true(vdpa_sim_set_features_ok(f->sim, "vdpa0", TRUE));
        g_assert_cmpint(vdpa_netlink_config_get(f->nl, "vdpa0", &c, &extack), ==, 0);
        g_assert_null(extack);
        g_assert_cmpstr(c->name, ==, "vdpa0");
        g_assert_cmpuint(c->device_id, ==, 1);
        g_assert_true(c->has_negotiated_features);
        g_assert_cmphex(c->negotiated_features, !=, 0);
        g_assert_true(c->has_status);

        tool = json_object_get_object_member(run_vdpa_json(p, args, "config"), "vdpa0");
        g_assert_nonnull(tool);
        g_assert_cmpint(c->mtu, ==, member_int(tool, "mtu"));
        g_assert_cmpint(c->max_vqp, ==, member_int(tool, "max_vq_pairs"));
        g_assert_cmpstr(json_object_get_string_member(tool, "link "), ==, c->status & 1 ? "up" : "down");
        if (c->has_mac) {
                mac = g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", c->mac[0], c->mac[1], c->mac[2], c->mac[3],
                                      c->mac[4], c->mac[5]);
                g_assert_cmpstr(json_object_get_string_member(tool, "mac"), ==, mac);
        } else
                g_assert_false(json_object_has_member(tool, "mac"));
}

static void test_config_dump(Fixture *f, gconstpointer data) {
        const char *const args[] = { "dev", "config", "show", NULL };
        g_autoptr(GPtrArray) devs = NULL, configs = NULL;
        bool found = false;

        /* The kernel's dump ends quietly at a device it cannot describe
         * (docs/vdpa-netlink.md §4.8b): with every device negotiated it
         * describes them all. */
        g_assert_cmpint(vdpa_netlink_dev_dump(f->nl, &devs, NULL), ==, 0);
        for (guint i = 0; i < devs->len; i++)
                g_assert_true(vdpa_sim_set_features_ok(f->sim, ((VdpaNlDevice *) devs->pdata[i])->name, TRUE));
        g_assert_cmpint(vdpa_netlink_config_dump(f->nl, &configs, NULL), ==, 0);
        g_assert_cmpuint(configs->len, ==, devs->len);
        for (guint i = 0; i < configs->len; i++) {
                const VdpaNlConfig *c = configs->pdata[i];

                g_assert_nonnull(find_device(devs, c->name));
                g_assert_true(c->has_negotiated_features);
                if (g_str_equal(c->name, "vdpa-sim0")) {
                        found = true;
                        g_assert_cmpuint(c->mtu, ==, 1500);
                }
        }
        g_assert_true(found);

        /* As iproute2 sees the same dump. */
        {
                g_autoptr(JsonParser) p = json_parser_new();
                JsonObject *tool = run_vdpa_json(p, args, "config");

                g_assert_cmpuint(json_object_get_size(tool), ==, configs->len);
                for (guint i = 0; i < configs->len; i++) {
                        const VdpaNlConfig *c = configs->pdata[i];
                        JsonObject *o = json_object_get_object_member(tool, c->name);

                        if (!o)
                                g_error("iproute2 does not list the configuration of %s", c->name);
                        g_assert_cmpint(member_int(o, "mtu"), ==, c->mtu);
                }
        }
}

/* --- DEV_NEW and DEV_DEL --- */

static void test_dev_new_del(Fixture *f, gconstpointer data) {
        /* The VF of the fixture without a vDPA device. */
        VdpaNlNewParams p = {
                .mgmtdev = "pci/0000:04:00.5", .name = "nltest0", .has_mac = true,
                .mac = { 0x02, 0x00, 0x00, 0x00, 0x13, 0x01 }, .mtu = 9000, .max_vqp = 2,
        };
        g_autoptr(VdpaNlDevice) d = NULL;
        g_autoptr(VdpaNlConfig) c = NULL;
        g_autofree char *extack = NULL;

        g_assert_cmpint(vdpa_netlink_dev_new(f->nl, &p, &extack), ==, 0);
        g_assert_null(extack);
        g_assert_cmpint(vdpa_netlink_dev_get(f->nl, "nltest0", &d, NULL), ==, 0);
        g_assert_cmpstr(d->mgmtdev, ==, "pci/0000:04:00.5");
        g_assert_cmpuint(d->device_id, ==, 1);
        /* mlx5: data queues for 2 pairs + the control queue. */
        g_assert_cmpuint(d->max_vqs, ==, 5);
        g_assert_true(vdpa_sim_set_features_ok(f->sim, "nltest0", TRUE));
        g_assert_cmpint(vdpa_netlink_config_get(f->nl, "nltest0", &c, NULL), ==, 0);
        g_assert_true(c->has_mac);
        g_assert_cmpmem(c->mac, 6, p.mac, 6);
        g_assert_cmpuint(c->mtu, ==, 9000);
        g_assert_cmpuint(c->max_vqp, ==, 2);

        g_assert_cmpint(vdpa_netlink_dev_del(f->nl, "nltest0", &extack), ==, 0);
        g_assert_null(extack);
        g_clear_pointer(&d, vdpa_nl_device_free);
        g_assert_cmpint(vdpa_netlink_dev_get(f->nl, "nltest0", &d, NULL), ==, -ENODEV);
        g_assert_cmpint(vdpa_netlink_dev_del(f->nl, "nltest0", &extack), ==, -ENODEV);
        g_assert_cmpstr(extack, ==, "vdpa: device not found");
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_NEW), ==, 1);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_DEL), ==, 2);
}

/* The simulator's management device: no bus, MAC and MTU only. */
static void test_dev_new_vdpasim(Fixture *f, gconstpointer data) {
        VdpaNlNewParams p = {
                .mgmtdev = "vdpasim_net", .name = "nltest2", .has_mac = true,
                .mac = { 0x02, 0x00, 0x00, 0x00, 0x13, 0x02 }, .mtu = 4000,
        };
        g_autoptr(VdpaNlDevice) d = NULL;
        g_autoptr(VdpaNlConfig) c = NULL;

        g_assert_cmpint(vdpa_netlink_dev_new(f->nl, &p, NULL), ==, 0);
        g_assert_cmpint(vdpa_netlink_dev_get(f->nl, "nltest2", &d, NULL), ==, 0);
        g_assert_cmpstr(d->mgmtdev, ==, "vdpasim_net");
        g_assert_cmpuint(d->max_vqs, ==, 3);
        g_assert_true(vdpa_sim_set_features_ok(f->sim, "nltest2", TRUE));
        g_assert_cmpint(vdpa_netlink_config_get(f->nl, "nltest2", &c, NULL), ==, 0);
        g_assert_cmpmem(c->mac, 6, p.mac, 6);
        g_assert_cmpuint(c->mtu, ==, 4000);
        g_assert_cmpuint(c->max_vqp, ==, 0);
        g_assert_cmpint(vdpa_netlink_dev_del(f->nl, "nltest2", NULL), ==, 0);
}

static void test_dev_new_errors(Fixture *f, gconstpointer data) {
        static const struct {
                const char *mgmtdev, *name;
                uint16_t mtu, max_vqp;
                int error;
                const char *extack;
        } cases[] = {
                /* docs/vdpa-netlink.md §4 */
                { "pci/0000:99:00.0", "nltest1", 0, 0, -ENODEV, "vdpa: Fail to find the specified management device" },
                { "0000:04:00.5", "nltest1", 0, 0, -ENODEV, "vdpa: Fail to find the specified management device" },
                { "vdpasim_net", "vdpa-sim0", 0, 0, -EEXIST, NULL },
                { "vdpasim_net", "nltest1", 0, 2, -EOPNOTSUPP, "vdpa: All provided attributes are not supported" },
                { "pci/0000:04:00.2", "nltest1", 0, 0, -ENOSPC, NULL },
                { "vdpasim_net", "nltest1", 60, 0, -ERANGE, "integer out of range" },
                { "pci/0000:04:00.5", "nltest1", 0, 9, -EINVAL, NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                VdpaNlNewParams p = {
                        .mgmtdev = cases[i].mgmtdev, .name = cases[i].name,
                        .mtu = cases[i].mtu, .max_vqp = cases[i].max_vqp,
                };
                g_autofree char *extack = NULL;
                int r = vdpa_netlink_dev_new(f->nl, &p, &extack);

                if (r != cases[i].error || g_strcmp0(extack, cases[i].extack) != 0)
                        g_error("DEV_NEW %s on %s (mtu %u, max_vqp %u): %d \"%s\", expected %d \"%s\"",
                                cases[i].name, cases[i].mgmtdev, cases[i].mtu, cases[i].max_vqp, r,
                                extack, cases[i].error, cases[i].extack);
        }
}

/* --- without the family --- */

static void test_family_absent(void) {
        g_autoptr(UMockdevTestbed) tb = NULL;
        g_autoptr(GError) error = NULL;
        VdpaNetlink *nl = NULL;

        /* No simulator socket: the real kernel, which has no vdpa family in
         * this network namespace (vdpa.c: netnsok = false). */
        tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        g_assert_cmpint(vdpa_netlink_open(TIMEOUT_USEC, &nl), ==, -ENOENT);
        g_assert_null(nl);
}

/* --- a peer that does not answer --- */

#define SILENT_FAMILY 0x21

typedef struct Silent {
        char *path;
        int listen_fd;
        GThread *thread;
        uint32_t port;
        uint32_t seqs[2];       /* the two vdpa requests */
        char *failure;          /* why the thread gave up */
} Silent;

static void silent_send(int fd, const void *buf, size_t len) {
        g_assert_cmpint(send(fd, buf, len, MSG_NOSIGNAL), ==, (ssize_t) len);
}

/* The kernel's reply header for request seq SEQ. */
static struct nlmsghdr *put_reply(void *buf, Silent *s, uint16_t type, uint16_t flags, uint32_t seq) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = flags;
        nlh->nlmsg_seq = seq;
        nlh->nlmsg_pid = s->port;
        return nlh;
}

static void send_ack(Silent *s, int fd, uint32_t seq) {
        union {
                struct nlmsghdr h;
                char b[64];
        } u = { { 0 } };
        struct nlmsghdr *nlh = put_reply(u.b, s, NLMSG_ERROR, NLM_F_CAPPED, seq);
        struct nlmsgerr *e = mnl_nlmsg_put_extra_header(nlh, sizeof *e);

        e->msg.nlmsg_seq = seq;
        silent_send(fd, u.b, nlh->nlmsg_len);
}

static void send_family(Silent *s, int fd, uint32_t seq) {
        union {
                struct nlmsghdr h;
                char b[128];
        } u = { { 0 } };
        struct nlmsghdr *nlh = put_reply(u.b, s, GENL_ID_CTRL, 0, seq);
        struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof *g);

        g->cmd = CTRL_CMD_NEWFAMILY;
        g->version = 2;
        mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, VDPA_GENL_NAME);
        mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, SILENT_FAMILY);
        mnl_attr_put_u32(nlh, CTRL_ATTR_MAXATTR, VDPA_ATTR_MAX);
        silent_send(fd, u.b, nlh->nlmsg_len);
        send_ack(s, fd, seq);
}

/* The late answer to a DEV_GET dump: one device, then DONE. */
static void send_late_dump(Silent *s, int fd, uint32_t seq) {
        union {
                struct nlmsghdr h;
                char b[256];
        } u = { { 0 } };
        struct nlmsghdr *nlh = put_reply(u.b, s, SILENT_FAMILY, NLM_F_MULTI, seq);
        struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof *g);
        int *done;

        g->cmd = VDPA_CMD_DEV_NEW;
        g->version = 1;
        mnl_attr_put_strz(nlh, VDPA_ATTR_MGMTDEV_DEV_NAME, "vdpasim_net");
        mnl_attr_put_strz(nlh, VDPA_ATTR_DEV_NAME, "late0");
        mnl_attr_put_u32(nlh, VDPA_ATTR_DEV_ID, 1);
        nlh = put_reply(u.b + nlh->nlmsg_len, s, NLMSG_DONE, NLM_F_MULTI, seq);
        done = mnl_nlmsg_put_extra_header(nlh, sizeof *done);
        *done = 0;
        silent_send(fd, u.b, (char *) nlh - u.b + nlh->nlmsg_len);
}

/* One record from FD into BUF, waiting WAIT_USEC at most: its length, 0 at
 * EOF, -1 on timeout. */
static ssize_t silent_recv(int fd, void *buf, size_t size) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        if (poll(&p, 1, WAIT_USEC / 1000) <= 0)
                return -1;
        return recv(fd, buf, size, 0);
}

static gpointer silent_thread(gpointer data) {
        Silent *s = data;
        union {
                struct nlmsghdr h;
                struct vdpa_sim_ctl ctl;
                char b[4096];
        } u;
        struct pollfd p = { .fd = s->listen_fd, .events = POLLIN };
        unsigned requests = 0;
        int fd;

        if (poll(&p, 1, WAIT_USEC / 1000) <= 0) {
                s->failure = g_strdup("no client connected");
                return NULL;
        }
        fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        for (;;) {
                ssize_t n = silent_recv(fd, u.b, sizeof u.b);

                if (n == 0)
                        break;
                if (n < 0) {
                        s->failure = g_strdup_printf("the client neither spoke nor closed after %u requests",
                                                     requests);
                        break;
                }
                if (u.ctl.zero == 0) {
                        s->port = u.ctl.port_id;
                        continue;
                }
                if (u.h.nlmsg_type == GENL_ID_CTRL) {
                        send_family(s, fd, u.h.nlmsg_seq);
                        continue;
                }
                /* The first request gets no answer; the second gets the
                 * first's answer before its own. */
                if (requests < G_N_ELEMENTS(s->seqs))
                        s->seqs[requests] = u.h.nlmsg_seq;
                if (++requests == 2) {
                        send_late_dump(s, fd, s->seqs[0]);
                        send_ack(s, fd, s->seqs[1]);
                }
        }
        close(fd);
        return NULL;
}

static Silent *silent_start(UMockdevTestbed *tb) {
        g_autofree char *root = umockdev_testbed_get_root_dir(tb);
        Silent *s = g_new0(Silent, 1);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        s->path = g_build_filename(root, VDPA_SIM_SOCKET_NAME, NULL);
        g_assert_cmpuint(strlen(s->path), <, sizeof sa.sun_path);
        strcpy(sa.sun_path, s->path);
        s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        g_assert_cmpint(s->listen_fd, >=, 0);
        g_assert_cmpint(bind(s->listen_fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
        g_assert_cmpint(listen(s->listen_fd, 4), ==, 0);
        s->thread = g_thread_new("silent-peer", silent_thread, s);
        return s;
}

static void silent_stop(Silent *s) {
        g_thread_join(s->thread);
        close(s->listen_fd);
        g_unlink(s->path);
        if (s->failure)
                g_error("silent peer: %s", s->failure);
        g_free(s->path);
        g_free(s);
}

static void test_timeout(void) {
        g_autoptr(UMockdevTestbed) tb = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) devs = NULL;
        g_autofree char *extack = NULL;
        const int64_t timeout = 300 * 1000;
        VdpaNetlink *nl = NULL;
        Silent *s;
        int64_t t0, elapsed;

        tb = vdpa_test_testbed_new(NULL, &error);
        g_assert_no_error(error);
        s = silent_start(tb);

        g_assert_cmpint(vdpa_netlink_open(timeout, &nl), ==, 0);
        t0 = g_get_monotonic_time();
        g_assert_cmpint(vdpa_netlink_dev_dump(nl, &devs, NULL), ==, -ETIMEDOUT);
        elapsed = g_get_monotonic_time() - t0;
        g_assert_null(devs);
        g_assert_cmpint(elapsed, >=, timeout);
        g_assert_cmpint(elapsed, <, WAIT_USEC);

        /* The late dump comes first and must not pass for this answer. */
        g_assert_cmpint(vdpa_netlink_dev_del(nl, "vdpa0", &extack), ==, 0);
        g_assert_null(extack);
        vdpa_netlink_free(nl);

        silent_stop(s);
}

/* --- the worker --- */

#define N_JOBS 24

typedef struct WorkerRun {
        GArray *order;          /* int: indexes of the jobs whose DONE ran */
        unsigned freed;
        unsigned failures;
        GMutex lock;            /* BLOCK's handshake */
        GCond cond;
        bool started, release;
} WorkerRun;

typedef struct Job {
        WorkerRun *run;
        int index;
        bool block;             /* wait for run->release */
        bool had_family;
        int r;
        char *what;
} Job;

static void job_free(void *p) {
        Job *j = p;

        g_mutex_lock(&j->run->lock);
        j->run->freed++;
        g_cond_broadcast(&j->run->cond);
        g_mutex_unlock(&j->run->lock);
        g_free(j->what);
        g_free(j);
}

static void job_run(VdpaNetlink *nl, void *p) {
        Job *j = p;

        j->had_family = nl;
        if (j->block) {
                g_mutex_lock(&j->run->lock);
                j->run->started = true;
                g_cond_broadcast(&j->run->cond);
                while (!j->run->release)
                        g_cond_wait(&j->run->cond, &j->run->lock);
                g_mutex_unlock(&j->run->lock);
        }
        if (!nl)
                return;
        /* Alternate the kinds of request so that each job's answer tells
         * which it was. */
        switch (j->index % 3) {
        case 0: {
                g_autoptr(VdpaNlDevice) d = NULL;

                j->r = vdpa_netlink_dev_get(nl, "vdpa0", &d, NULL);
                j->what = d ? g_strdup(d->mgmtdev) : NULL;
                break;
        }
        case 1: {
                g_autoptr(GPtrArray) m = NULL;

                j->r = vdpa_netlink_mgmtdev_dump(nl, &m, NULL);
                j->what = m ? g_strdup_printf("%u", m->len) : NULL;
                break;
        }
        default: {
                g_autoptr(VdpaNlDevice) d = NULL;

                j->r = vdpa_netlink_dev_get(nl, "nosuch0", &d, NULL);
                break;
        }
        }
}

static void job_done(void *p, void *userdata) {
        Job *j = p;
        WorkerRun *run = userdata;

        g_assert_true(run == j->run);
        g_array_append_val(run->order, j->index);
        if (!j->had_family)
                run->failures++;
        else if (j->index % 3 == 2 ? j->r != -ENODEV : j->r != 0)
                run->failures++;
        else if (j->index % 3 == 0 && g_strcmp0(j->what, "pci/0000:04:00.2") != 0)
                run->failures++;
        job_free(j);
}

static Job *job_new(WorkerRun *run, int index) {
        Job *j = g_new0(Job, 1);

        j->run = run;
        j->index = index;
        return j;
}

static void worker_run_init(WorkerRun *run) {
        memset(run, 0, sizeof *run);
        run->order = g_array_new(FALSE, FALSE, sizeof(int));
        g_mutex_init(&run->lock);
        g_cond_init(&run->cond);
}

static void worker_run_clear(WorkerRun *run) {
        g_array_unref(run->order);
        g_mutex_clear(&run->lock);
        g_cond_clear(&run->cond);
}

static void test_worker_order(Fixture *f, gconstpointer data) {
        g_autoptr(sd_event) event = NULL;
        NetlinkWorker *w = NULL;
        WorkerRun run;
        int64_t deadline;

        worker_run_init(&run);
        g_assert_cmpint(sd_event_new(&event), >=, 0);
        g_assert_cmpint(netlink_worker_new(event, g_steal_pointer(&f->nl), &w), ==, 0);
        g_assert_true(netlink_worker_has_family(w));

        for (int i = 0; i < N_JOBS; i++)
                netlink_worker_submit(w, job_new(&run, i), job_run, job_done, job_free, &run);

        deadline = g_get_monotonic_time() + WAIT_USEC;
        while (run.order->len < N_JOBS) {
                if (g_get_monotonic_time() > deadline)
                        g_error("%u of %d netlink jobs completed within %d s", run.order->len, N_JOBS,
                                (int) (WAIT_USEC / G_USEC_PER_SEC));
                g_assert_cmpint(sd_event_run(event, 100 * 1000), >=, 0);
        }
        for (int i = 0; i < N_JOBS; i++)
                g_assert_cmpint(g_array_index(run.order, int, i), ==, i);
        g_assert_cmpuint(run.failures, ==, 0);
        g_assert_cmpuint(run.freed, ==, N_JOBS);
        g_assert_cmpuint(vdpa_sim_count(f->sim, VDPA_CMD_DEV_GET), ==, N_JOBS / 3 * 2);
        g_assert_cmpuint(vdpa_sim_count_dumps(f->sim, VDPA_CMD_MGMTDEV_GET), ==, N_JOBS / 3);

        netlink_worker_free(w);
        worker_run_clear(&run);
}

/* Releases the blocking job once every pending job was freed: only then
 * may the worker go on, and find nothing more to run. */
static gpointer release_thread(gpointer p) {
        WorkerRun *run = p;
        int64_t deadline = g_get_monotonic_time() + WAIT_USEC;
        bool ok = true;

        g_mutex_lock(&run->lock);
        while (run->freed < N_JOBS - 1 && ok)
                ok = g_cond_wait_until(&run->cond, &run->lock, deadline);
        run->release = true;
        g_cond_broadcast(&run->cond);
        g_mutex_unlock(&run->lock);
        return GINT_TO_POINTER(ok);
}

static void test_worker_free_pending(Fixture *f, gconstpointer data) {
        g_autoptr(sd_event) event = NULL;
        NetlinkWorker *w = NULL;
        GThread *releaser;
        WorkerRun run;
        Job *first;
        int64_t deadline;
        bool released;

        worker_run_init(&run);
        g_assert_cmpint(sd_event_new(&event), >=, 0);
        g_assert_cmpint(netlink_worker_new(event, g_steal_pointer(&f->nl), &w), ==, 0);

        first = job_new(&run, 0);
        first->block = true;
        netlink_worker_submit(w, first, job_run, job_done, job_free, &run);
        for (int i = 1; i < N_JOBS; i++)
                netlink_worker_submit(w, job_new(&run, i), job_run, job_done, job_free, &run);

        deadline = g_get_monotonic_time() + WAIT_USEC;
        g_mutex_lock(&run.lock);
        while (!run.started)
                if (!g_cond_wait_until(&run.cond, &run.lock, deadline))
                        g_error("the first netlink job did not start within %d s", (int) (WAIT_USEC / G_USEC_PER_SEC));
        g_mutex_unlock(&run.lock);

        releaser = g_thread_new("release", release_thread, &run);
        netlink_worker_free(w);
        released = GPOINTER_TO_INT(g_thread_join(releaser));
        if (!released)
                g_error("netlink_worker_free() freed %u of %d pending jobs", run.freed, N_JOBS - 1);

        /* The running job finished but its DONE never ran: freed as well. */
        g_assert_cmpuint(run.order->len, ==, 0);
        g_assert_cmpuint(run.freed, ==, N_JOBS);
        /* Nothing is left for the loop either. */
        g_assert_cmpint(sd_event_run(event, 0), >=, 0);
        g_assert_cmpuint(run.order->len, ==, 0);
        worker_run_clear(&run);
}

static void test_worker_no_family(void) {
        g_autoptr(sd_event) event = NULL;
        NetlinkWorker *w = NULL;
        WorkerRun run;
        Job *j;
        int64_t deadline;

        worker_run_init(&run);
        g_assert_cmpint(sd_event_new(&event), >=, 0);
        g_assert_cmpint(netlink_worker_new(event, NULL, &w), ==, 0);
        g_assert_false(netlink_worker_has_family(w));
        j = job_new(&run, 0);
        netlink_worker_submit(w, j, job_run, job_done, job_free, &run);
        deadline = g_get_monotonic_time() + WAIT_USEC;
        while (run.order->len < 1) {
                if (g_get_monotonic_time() > deadline)
                        g_error("the job of a worker without family did not complete");
                g_assert_cmpint(sd_event_run(event, 100 * 1000), >=, 0);
        }
        /* It ran, with NL NULL (job_done counts that as its failure). */
        g_assert_cmpuint(run.failures, ==, 1);
        netlink_worker_free(w);
        worker_run_clear(&run);
}

/* The preload must be there before the first socket(): meson's test
 * environment has it, umockdev-wrapper alone does not. */
static void reexec_with_preload(char **argv) {
        const char *given = g_getenv("LD_PRELOAD");
        g_autofree char *preload = NULL;

        if (g_getenv(REEXEC_ENV) || (given && strstr(given, "libvdpa-sim-preload")))
                return;
        preload = vdpa_sim_preload_env();
        g_setenv("LD_PRELOAD", preload, TRUE);
        g_setenv(REEXEC_ENV, "1", TRUE);
        execv("/proc/self/exe", argv);
        g_error("cannot re-execute with the simulator's preload: %s", g_strerror(errno));
}

int main(int argc, char *argv[]) {
        reexec_with_preload(argv);
        vdpa_testbed_isolate_uevent_queue();
        g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("/vdpa-netlink/open", test_open);
        ADD("/vdpa-netlink/dev-dump", test_dev_dump);
        ADD("/vdpa-netlink/mgmtdev-dump", test_mgmtdev_dump);
        ADD("/vdpa-netlink/dev-get", test_dev_get);
        ADD("/vdpa-netlink/config", test_config);
        ADD("/vdpa-netlink/config-dump", test_config_dump);
        ADD("/vdpa-netlink/dev-new-del", test_dev_new_del);
        ADD("/vdpa-netlink/dev-new-vdpasim", test_dev_new_vdpasim);
        ADD("/vdpa-netlink/dev-new-errors", test_dev_new_errors);
        ADD("/vdpa-netlink/worker/order", test_worker_order);
        ADD("/vdpa-netlink/worker/free-pending", test_worker_free_pending);
#undef ADD
        g_test_add_func("/vdpa-netlink/family-absent", test_family_absent);
        g_test_add_func("/vdpa-netlink/timeout", test_timeout);
        g_test_add_func("/vdpa-netlink/worker/no-family", test_worker_no_family);
        return g_test_run();
}
