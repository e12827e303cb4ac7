/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel model and server behind tests/vdpa-sim.h.  The kernel code
 * it follows is Linux 6.1: drivers/vdpa/vdpa.c (commands, errors),
 * net/netlink/genetlink.c and af_netlink.c (nlctrl, dumps, ACKs),
 * lib/nlattr.c (strict validation), net/netlink/policy.c (the policy TLV of
 * an extended ACK), drivers/vdpa/vdpa_sim/ and mlx5/net/mlx5_vnet.c (the
 * management devices).  docs/vdpa-netlink.md describes all of it.
 */
#include "vdpa-sim.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "testbed.h"
#include "vdpa-sim-proto.h"

/* ---- kernel constants the uapi headers do not carry ---- */

#define GENL_ADMIN_PERM 0x01
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define CAP_NET_ADMIN_BIT 12
#define DGRAM_MAX 4096 /* what iproute2/libmnl receive with (MNL_SOCKET_BUFFER_SIZE) */
#define REQ_MAX (64 * 1024)

#define F(bit) (G_GUINT64_CONSTANT(1) << (bit))
/* virtio feature bits */
enum {
        NET_F_CSUM = 0, NET_F_GUEST_CSUM = 1, NET_F_MTU = 3, NET_F_MAC = 5, NET_F_HOST_TSO4 = 11,
        NET_F_HOST_TSO6 = 12, NET_F_STATUS = 16, NET_F_CTRL_VQ = 17, NET_F_CTRL_VLAN = 19,
        NET_F_MQ = 22, NET_F_CTRL_MAC_ADDR = 23, F_ANY_LAYOUT = 27, F_VERSION_1 = 32,
        F_ACCESS_PLATFORM = 33, NET_F_RSS = 60,
};
#define NET_S_LINK_UP 1

/* vdpa_sim.h VDPASIM_FEATURES + vdpa_sim_net.c VDPASIM_NET_FEATURES */
#define VDPASIM_FEATURES (F(F_ANY_LAYOUT) | F(F_VERSION_1) | F(F_ACCESS_PLATFORM))
#define VDPASIM_NET_FEATURES (VDPASIM_FEATURES | F(NET_F_MAC) | F(NET_F_MTU) | F(NET_F_CTRL_VQ) | F(NET_F_CTRL_MAC_ADDR))
/* vdpa_sim_blk.c: SIZE_MAX SEG_MAX BLK_SIZE FLUSH DISCARD WRITE_ZEROES + common */
#define VDPASIM_BLK_FEATURES G_GUINT64_CONSTANT(0x308007646)
/* mlx5_vnet.c get_supported_features() on hardware that offers the four
 * offloads mlx_to_vritio_features() maps, and virtio 1.0. */
#define MLX5_FEATURES (F(NET_F_CSUM) | F(NET_F_GUEST_CSUM) | F(NET_F_HOST_TSO4) | F(NET_F_HOST_TSO6) | \
                       F(F_VERSION_1) | F(F_ACCESS_PLATFORM) | F(NET_F_CTRL_VQ) | F(NET_F_CTRL_MAC_ADDR) | \
                       F(NET_F_MQ) | F(NET_F_STATUS) | F(NET_F_MTU) | F(NET_F_CTRL_VLAN))
/* MLX5_CAP_DEV_VDPA_EMULATION(max_num_virtio_queues) of the simulated card */
#define MLX5_HW_VQS 16
#define MLX5_MTU 1500

/* ---- the model ---- */

typedef enum { MD_MLX5, MD_SIM_NET, MD_SIM_BLK } MgmtKind;

typedef struct {
        MgmtKind kind;
        char *bus; /* NULL: the device has no bus */
        char *name;
        char *path; /* canonical directory in the testbed */
} Mgmt;

/* What DEV_NEW was given, kept for the device's life. */
typedef struct {
        guint64 mask; /* BIT(VDPA_ATTR_*) as the kernel's config.mask */
        guint8 mac[6];
        guint16 mtu, max_vqp;
        guint64 features;
        /* vdpasim devices have no parent (/sys/devices/NAME): only the
         * kernel's vdev->mdev, this, ties them to their management device */
        MgmtKind kind;
} Created;

typedef struct {
        char *name;
        char *path;       /* canonical directory in the testbed */
        const Mgmt *mgmt; /* NULL: not made through a management device */
        char *driver;     /* bound driver or NULL */
        guint32 device_id, vendor_id, max_vqs;
        guint16 max_vq_size, min_vq_size;
        guint64 features; /* the device's features */
        guint8 mac[6];
        guint16 status, mtu, max_vqp;
        gboolean negotiated;
} Dev;

typedef struct {
        GPtrArray *mgmts; /* Mgmt*, registration order */
        GPtrArray *devs;  /* Dev*, bus order */
} Model;

struct VdpaSim {
        UMockdevTestbed *tb;
        char *root; /* canonical */
        char *sock_path;
        int listen_fd, stop_fd;
        GThread *listener;

        GMutex lock; /* everything below */
        GPtrArray *conns;
        GHashTable *created;     /* name → Created* */
        GHashTable *features_ok; /* names */
        GPtrArray *order;        /* device names in registration order */
        GHashTable *minors;      /* vhost-vdpa minors this testbed has had */
        GHashTable *dev_new;     /* mgmtdev handle → DEV_NEW requests */
        GHashTable *faults;      /* mgmtdev handle → errno DEV_NEW answers */
        guint counts[256], dumps[256], connections;
        guint64 busy_ns;         /* atomic, not under the lock: vdpa_sim_busy_ns() */
};

typedef struct {
        VdpaSim *sim;
        int fd;
        pid_t peer_pid;
        guint32 port_id;
        guint32 flags; /* VDPA_SIM_CTL_* */
        GThread *thread;
        gint done;
        guint64 work_start_ns;   /* when the request being answered came, or the last send */
} Conn;

static guint64 monotonic_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (guint64) ts.tv_sec * G_GUINT64_CONSTANT(1000000000) + (guint64) ts.tv_nsec;
}

static void mgmt_free(Mgmt *m) {
        g_free(m->bus);
        g_free(m->name);
        g_free(m->path);
        g_free(m);
}

static void dev_free(Dev *d) {
        g_free(d->name);
        g_free(d->path);
        g_free(d->driver);
        g_free(d);
}

static void model_free(Model *m) {
        g_ptr_array_unref(m->mgmts);
        g_ptr_array_unref(m->devs);
        g_free(m);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Model, model_free)

/* ---- reading the testbed ---- */

static char *canonical(const char *path) {
        char *r = realpath(path, NULL);
        char *g = r ? g_strdup(r) : NULL;

        free(r);
        return g;
}

static char *link_basename(const char *dir, const char *leaf) {
        g_autofree char *p = g_build_filename(dir, leaf, NULL);
        g_autofree char *t = g_file_read_link(p, NULL);

        return t ? g_path_get_basename(t) : NULL;
}

static gboolean path_exists(const char *p) {
        return g_file_test(p, G_FILE_TEST_EXISTS) || g_file_test(p, G_FILE_TEST_IS_SYMLINK);
}

static gboolean has_entry(const char *dir, const char *leaf) {
        g_autofree char *p = g_build_filename(dir, leaf, NULL);

        return path_exists(p);
}

static int cmp_strp(gconstpointer a, gconstpointer b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static GPtrArray *sorted_entries(const char *dir) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        const char *e;

        while (d && (e = g_dir_read_name(d)))
                g_ptr_array_add(names, g_strdup(e));
        g_ptr_array_sort(names, cmp_strp);
        return names;
}

static Mgmt *mgmt_new(MgmtKind kind, const char *bus, const char *name, const char *path) {
        Mgmt *m = g_new0(Mgmt, 1);

        m->kind = kind;
        m->bus = g_strdup(bus);
        m->name = g_strdup(name);
        m->path = g_strdup(path);
        return m;
}

/* The SFs of an mlx5 PF: its mlx5_core.sf.N children. */
static void scan_sfs(GPtrArray *out, const char *pf) {
        g_autoptr(GPtrArray) names = sorted_entries(pf);

        for (guint i = 0; i < names->len; i++) {
                const char *n = names->pdata[i];
                g_autofree char *p = g_build_filename(pf, n, NULL);

                if (g_str_has_prefix(n, "mlx5_core.sf.") && g_file_test(p, G_FILE_TEST_IS_DIR))
                        g_ptr_array_add(out, mgmt_new(MD_MLX5, "auxiliary", n, p));
        }
}

/* mlx5 registers one management device per VF and per SF (mlx5v_probe). */
static void scan_mlx5(VdpaSim *sim, GPtrArray *out) {
        g_autofree char *pci = g_build_filename(sim->root, "sys/bus/pci/devices", NULL);
        g_autoptr(GPtrArray) names = sorted_entries(pci);

        for (guint i = 0; i < names->len; i++) {
                g_autofree char *link = g_build_filename(pci, names->pdata[i], NULL);
                g_autofree char *path = canonical(link);
                g_autofree char *driver = path ? link_basename(path, "driver") : NULL;

                if (g_strcmp0(driver, "mlx5_core") != 0)
                        continue;
                if (has_entry(path, "physfn"))
                        g_ptr_array_add(out, mgmt_new(MD_MLX5, "pci", names->pdata[i], path));
                else
                        scan_sfs(out, path);
        }
}

static void scan_sim_mgmts(VdpaSim *sim, GPtrArray *out) {
        static const struct { MgmtKind kind; const char *name; } sims[] = {
                { MD_SIM_NET, "vdpasim_net" },
                { MD_SIM_BLK, "vdpasim_blk" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(sims); i++) {
                g_autofree char *p = g_build_filename(sim->root, "sys/devices", sims[i].name, NULL);
                g_autofree char *c = canonical(p);

                if (c && g_file_test(c, G_FILE_TEST_IS_DIR))
                        g_ptr_array_add(out, mgmt_new(sims[i].kind, NULL, sims[i].name, c));
        }
}

/* name → canonical path of every device on bus vdpa.  umockdev files them
 * under /sys/class/vdpa when /sys/bus/vdpa did not exist yet at loading. */
static GHashTable *scan_vdpa_paths(VdpaSim *sim) {
        static const char *const lists[] = { "sys/bus/vdpa/devices", "sys/class/vdpa" };
        GHashTable *paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

        for (size_t i = 0; i < G_N_ELEMENTS(lists); i++) {
                g_autofree char *dir = g_build_filename(sim->root, lists[i], NULL);
                g_autoptr(GPtrArray) names = sorted_entries(dir);

                for (guint j = 0; j < names->len; j++) {
                        g_autofree char *link = g_build_filename(dir, names->pdata[j], NULL);
                        char *path = canonical(link);

                        if (path && g_file_test(path, G_FILE_TEST_IS_DIR))
                                g_hash_table_replace(paths, g_strdup(names->pdata[j]), path);
                        else
                                g_free(path);
                }
        }
        return paths;
}

/* Keeps sim->order in registration order: devices gone are dropped,
 * devices new to the simulator are appended (sorted among themselves). */
static void update_order(VdpaSim *sim, GHashTable *paths) {
        g_autoptr(GHashTable) known = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GPtrArray) fresh = g_ptr_array_new();
        GHashTableIter it;
        gpointer key;

        for (guint i = sim->order->len; i-- > 0;)
                if (!g_hash_table_contains(paths, sim->order->pdata[i]))
                        g_ptr_array_remove_index(sim->order, i);
        for (guint i = 0; i < sim->order->len; i++)
                g_hash_table_add(known, sim->order->pdata[i]);
        g_hash_table_iter_init(&it, paths);
        while (g_hash_table_iter_next(&it, &key, NULL))
                if (!g_hash_table_contains(known, key))
                        g_ptr_array_add(fresh, key);
        g_ptr_array_sort(fresh, cmp_strp);
        for (guint i = 0; i < fresh->len; i++)
                g_ptr_array_add(sim->order, g_strdup(fresh->pdata[i]));
}

static const Mgmt *mgmt_of_parent(const Model *m, const char *path) {
        g_autofree char *parent = g_path_get_dirname(path);

        for (guint i = 0; i < m->mgmts->len; i++) {
                const Mgmt *md = m->mgmts->pdata[i];
                if (strcmp(md->path, parent) == 0)
                        return md;
        }
        return NULL;
}

static int vhost_minor(const char *path);

static const Mgmt *mgmt_of_kind(const Model *m, MgmtKind kind) {
        for (guint i = 0; i < m->mgmts->len; i++) {
                const Mgmt *md = m->mgmts->pdata[i];
                if (md->kind == kind && kind != MD_MLX5)
                        return md;
        }
        return NULL;
}

/* The driver's view of a device: dev_add's defaults, then what DEV_NEW
 * was given (mlx5_vdpa_dev_add, vdpasim_net_dev_add, vdpasim_blk). */
static void dev_describe(Dev *d, const Created *c) {
        guint64 mask = c ? c->mask : 0;
        guint16 vqp = (mask & F(VDPA_ATTR_DEV_NET_CFG_MAX_VQP)) ? c->max_vqp : 1;

        d->max_vq_size = 256;
        d->min_vq_size = 1;
        d->status = NET_S_LINK_UP;
        d->mtu = (mask & F(VDPA_ATTR_DEV_NET_CFG_MTU)) ? c->mtu : MLX5_MTU;
        if (mask & F(VDPA_ATTR_DEV_NET_CFG_MACADDR))
                memcpy(d->mac, c->mac, sizeof(d->mac));
        if (!d->mgmt)
                return;
        switch (d->mgmt->kind) {
        case MD_MLX5:
                d->device_id = VIRTIO_ID_NET;
                d->vendor_id = 0x15b3;
                d->max_vqp = vqp;
                d->max_vqs = 2u * vqp + 1;
                d->features = MLX5_FEATURES;
                /* the vport MAC of the simulated VFs is zero */
                for (size_t i = 0; i < sizeof(d->mac); i++)
                        if (d->mac[i])
                                d->features |= F(NET_F_MAC);
                break;
        case MD_SIM_NET:
                d->device_id = VIRTIO_ID_NET;
                d->max_vqs = 3;
                d->features = (mask & F(VDPA_ATTR_DEV_FEATURES)) ? c->features : VDPASIM_NET_FEATURES;
                break;
        case MD_SIM_BLK:
                d->device_id = VIRTIO_ID_BLOCK;
                d->max_vqs = 1;
                d->features = VDPASIM_BLK_FEATURES;
                break;
        }
}

/* The management and vDPA devices as the kernel would have them now.
 * Called with the testbed lock and sim->lock held. */
static Model *model_scan(VdpaSim *sim) {
        Model *m = g_new0(Model, 1);
        g_autoptr(GHashTable) paths = scan_vdpa_paths(sim);

        m->mgmts = g_ptr_array_new_with_free_func((GDestroyNotify) mgmt_free);
        m->devs = g_ptr_array_new_with_free_func((GDestroyNotify) dev_free);
        scan_mlx5(sim, m->mgmts);
        scan_sim_mgmts(sim, m->mgmts);
        update_order(sim, paths);

        /* A name forgotten by the bus is forgotten by the simulator. */
        GHashTableIter it;
        gpointer key;
        g_hash_table_iter_init(&it, sim->created);
        while (g_hash_table_iter_next(&it, &key, NULL))
                if (!g_hash_table_contains(paths, key))
                        g_hash_table_iter_remove(&it);
        g_hash_table_iter_init(&it, sim->features_ok);
        while (g_hash_table_iter_next(&it, &key, NULL))
                if (!g_hash_table_contains(paths, key))
                        g_hash_table_iter_remove(&it);

        for (guint i = 0; i < sim->order->len; i++) {
                const char *name = sim->order->pdata[i];
                Dev *d = g_new0(Dev, 1);

                d->name = g_strdup(name);
                d->path = g_strdup(g_hash_table_lookup(paths, name));
                const Created *c = g_hash_table_lookup(sim->created, name);

                d->mgmt = mgmt_of_parent(m, d->path);
                if (!d->mgmt && c)
                        d->mgmt = mgmt_of_kind(m, c->kind);
                d->driver = link_basename(d->path, "driver");
                dev_describe(d, c);
                if (vhost_minor(d->path) >= 0)
                        g_hash_table_add(sim->minors, GINT_TO_POINTER(vhost_minor(d->path)));
                d->negotiated = g_hash_table_contains(sim->features_ok, name) ||
                                g_strcmp0(d->driver, "virtio_vdpa") == 0;
                g_ptr_array_add(m->devs, d);
        }
        return m;
}

static const Dev *model_find_dev(const Model *m, const char *name) {
        for (guint i = 0; i < m->devs->len; i++) {
                const Dev *d = m->devs->pdata[i];
                if (strcmp(d->name, name) == 0)
                        return d;
        }
        return NULL;
}

/* mgmtdev_handle_match(): without a bus name only bus-less devices match. */
static const Mgmt *model_find_mgmt(const Model *m, const char *bus, const char *name) {
        for (guint i = 0; i < m->mgmts->len; i++) {
                const Mgmt *md = m->mgmts->pdata[i];

                if ((bus == NULL) != (md->bus == NULL))
                        continue;
                if (bus && strcmp(bus, md->bus) != 0)
                        continue;
                if (strcmp(name, md->name) == 0)
                        return md;
        }
        return NULL;
}

/* ---- building netlink messages ---- */

static gsize msg_start(GByteArray *b, guint16 type, guint16 flags, guint32 seq, guint32 pid) {
        struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq, .nlmsg_pid = pid };
        gsize off = b->len;

        g_byte_array_append(b, (const guint8 *) &h, sizeof(h));
        return off;
}

static void msg_end(GByteArray *b, gsize off) {
        struct nlmsghdr *h = (struct nlmsghdr *) (b->data + off);

        h->nlmsg_len = (guint32) (b->len - off);
}

static void put_genl(GByteArray *b, guint8 cmd, guint8 version) {
        struct genlmsghdr g = { .cmd = cmd, .version = version };

        g_byte_array_append(b, (const guint8 *) &g, sizeof(g));
}

static void put_attr(GByteArray *b, guint16 type, const void *data, gsize len) {
        struct nlattr a = { .nla_len = (guint16) (NLA_HDRLEN + len), .nla_type = type };
        static const guint8 zeros[NLA_ALIGNTO] = { 0 };

        g_byte_array_append(b, (const guint8 *) &a, sizeof(a));
        if (len)
                g_byte_array_append(b, data, (guint) len);
        g_byte_array_append(b, zeros, (guint) (NLA_ALIGN(len) - len));
}

static void put_str(GByteArray *b, guint16 type, const char *s) {
        put_attr(b, type, s, strlen(s) + 1);
}

static void put_u16(GByteArray *b, guint16 type, guint16 v) {
        put_attr(b, type, &v, sizeof(v));
}

static void put_u32(GByteArray *b, guint16 type, guint32 v) {
        put_attr(b, type, &v, sizeof(v));
}

/* nla_put_u64_64bit(): x86-64 has efficient unaligned access, so the
 * kernel never inserts the PAD attribute there. */
static void put_u64(GByteArray *b, guint16 type, guint64 v) {
        put_attr(b, type, &v, sizeof(v));
}

static gsize nest_start(GByteArray *b, guint16 type) {
        gsize off = b->len;

        put_attr(b, type, NULL, 0);
        return off;
}

static void nest_end(GByteArray *b, gsize off) {
        struct nlattr *a = (struct nlattr *) (b->data + off);

        a->nla_len = (guint16) (b->len - off);
}

/* ---- extended ACK ---- */

typedef enum { P_NONE, P_STRING, P_NUL_STRING, P_U16, P_U32, P_U64, P_BINARY } PType;

typedef struct {
        PType type;
        guint16 len;       /* max string length, 0 none */
        gboolean range;    /* NLA_POLICY_MIN / NLA_POLICY_EXACT_LEN */
        guint64 min, max;
} Policy;

typedef struct {
        const char *msg;
        gssize bad_off;      /* offset of the bad attribute in the request, -1 none */
        const Policy *policy; /* for NLMSGERR_ATTR_POLICY */
} Extack;

#define EXTACK_INIT { NULL, -1, NULL }

static guint64 type_max(PType t) {
        return t == P_U16 ? G_MAXUINT16 : t == P_U32 ? G_MAXUINT32 : G_MAXUINT64;
}

/* netlink_policy_dump_write_attr() for the policy entries vdpa and
 * nlctrl have. */
static void put_policy(GByteArray *b, const Policy *p) {
        static const guint32 nl_type[] = {
                [P_STRING] = NL_ATTR_TYPE_STRING, [P_NUL_STRING] = NL_ATTR_TYPE_NUL_STRING,
                [P_U16] = NL_ATTR_TYPE_U16, [P_U32] = NL_ATTR_TYPE_U32,
                [P_U64] = NL_ATTR_TYPE_U64, [P_BINARY] = NL_ATTR_TYPE_BINARY,
        };
        gsize nest;

        if (p->type == P_NONE)
                return; /* NLA_UNSPEC: the kernel cancels the nest */
        nest = nest_start(b, NLA_F_NESTED | NLMSGERR_ATTR_POLICY);
        switch (p->type) {
        case P_U16:
        case P_U32:
        case P_U64:
                put_u64(b, NL_POLICY_TYPE_ATTR_MIN_VALUE_U, p->range ? p->min : 0);
                put_u64(b, NL_POLICY_TYPE_ATTR_MAX_VALUE_U, p->range ? p->max : type_max(p->type));
                break;
        default:
                if (p->range) {
                        if (p->min)
                                put_u32(b, NL_POLICY_TYPE_ATTR_MIN_LENGTH, (guint32) p->min);
                        if (p->max < G_MAXUINT16)
                                put_u32(b, NL_POLICY_TYPE_ATTR_MAX_LENGTH, (guint32) p->max);
                } else if (p->len) {
                        put_u32(b, NL_POLICY_TYPE_ATTR_MAX_LENGTH, p->len);
                }
                break;
        }
        put_u32(b, NL_POLICY_TYPE_ATTR_TYPE, nl_type[p->type]);
        nest_end(b, nest);
}

/* ---- sending ---- */

/* Blocks while the peer's queue is full (a big dump to a slow reader),
 * but not past vdpa_sim_stop(). */
static void conn_send(Conn *c, const guint8 *data, gsize len) {
        struct pollfd p[2] = { { .fd = c->fd, .events = POLLOUT }, { .fd = c->sim->stop_fd, .events = POLLIN } };
        guint64 now = monotonic_ns();

        /* Counted before the answer leaves: whoever has it can read the
         * time it took (a send blocked on a full peer is the peer's). */
        __atomic_add_fetch(&c->sim->busy_ns, now - c->work_start_ns, __ATOMIC_SEQ_CST);

        while (send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN) {
                        /* a peer that went away is noticed by the receive loop */
                        if (errno != EPIPE && errno != ECONNRESET)
                                g_warning("vdpa-sim: send: %s", g_strerror(errno));
                        break;
                }
                if ((poll(p, 2, -1) < 0 && errno != EINTR) || p[1].revents)
                        break;
        }
        c->work_start_ns = monotonic_ns();
}

static void conn_send_array(Conn *c, GByteArray *b) {
        conn_send(c, b->data, b->len);
}

/* netlink_ack() */
static void send_ack(Conn *c, const struct nlmsghdr *req, int err, const Extack *ext) {
        g_autoptr(GByteArray) b = g_byte_array_new();
        gboolean capped = !err || (c->flags & VDPA_SIM_CTL_CAP_ACK);
        gboolean tlvs = FALSE;
        struct nlmsgerr e = { .error = err, .msg = *req };
        guint16 flags = 0;
        gsize off;

        if (ext && (c->flags & VDPA_SIM_CTL_EXT_ACK))
                tlvs = ext->msg || (err && (ext->bad_off >= 0 || (ext->policy && ext->policy->type != P_NONE)));
        if (capped)
                flags |= NLM_F_CAPPED;
        if (tlvs)
                flags |= NLM_F_ACK_TLVS;
        off = msg_start(b, NLMSG_ERROR, flags, req->nlmsg_seq, c->port_id);
        g_byte_array_append(b, (const guint8 *) &e, sizeof(e));
        if (!capped)
                g_byte_array_append(b, (const guint8 *) NLMSG_DATA(req), req->nlmsg_len - NLMSG_HDRLEN);
        if (tlvs) {
                if (ext->msg)
                        put_str(b, NLMSGERR_ATTR_MSG, ext->msg);
                if (err && ext->bad_off >= 0)
                        put_u32(b, NLMSGERR_ATTR_OFFS, (guint32) ext->bad_off);
                if (err && ext->policy)
                        put_policy(b, ext->policy);
        }
        msg_end(b, off);
        conn_send_array(c, b);
}

/* Packs dump messages into datagrams as netlink_dump() does: as many as
 * fit, then NLMSG_DONE in a datagram of its own (the vdpa dump callbacks
 * return the length written, so DONE comes on the next round). */
typedef struct {
        Conn *c;
        const struct nlmsghdr *req;
        GByteArray *dgram;
        GByteArray *msg;
} Dump;

static void dump_begin(Dump *d, Conn *c, const struct nlmsghdr *req) {
        d->c = c;
        d->req = req;
        d->dgram = g_byte_array_new();
        d->msg = g_byte_array_new();
}

static void dump_flush(Dump *d) {
        if (d->dgram->len)
                conn_send_array(d->c, d->dgram);
        g_byte_array_set_size(d->dgram, 0);
}

/* d->msg holds one complete message: queue it. */
static void dump_commit(Dump *d) {
        if (d->dgram->len + d->msg->len > DGRAM_MAX)
                dump_flush(d);
        g_byte_array_append(d->dgram, d->msg->data, d->msg->len);
        g_byte_array_set_size(d->msg, 0);
}

static void dump_finish(Dump *d) {
        gint32 zero = 0;
        gsize off;

        dump_flush(d);
        off = msg_start(d->dgram, NLMSG_DONE, NLM_F_MULTI, d->req->nlmsg_seq, d->c->port_id);
        g_byte_array_append(d->dgram, (const guint8 *) &zero, sizeof(zero));
        msg_end(d->dgram, off);
        dump_flush(d);
        g_byte_array_unref(d->dgram);
        g_byte_array_unref(d->msg);
}

/* ---- attribute validation (lib/nlattr.c, NL_VALIDATE_STRICT) ---- */

static const Policy vdpa_policy[VDPA_ATTR_MAX + 1] = {
        [VDPA_ATTR_MGMTDEV_BUS_NAME] = { .type = P_NUL_STRING },
        [VDPA_ATTR_MGMTDEV_DEV_NAME] = { .type = P_STRING },
        [VDPA_ATTR_DEV_NAME] = { .type = P_STRING },
        [VDPA_ATTR_DEV_NET_CFG_MACADDR] = { .type = P_BINARY, .range = TRUE, .min = 6, .max = 6 },
        [VDPA_ATTR_DEV_NET_CFG_MAX_VQP] = { .type = P_U16 },
        [VDPA_ATTR_DEV_NET_CFG_MTU] = { .type = P_U16, .range = TRUE, .min = 68, .max = G_MAXUINT16 },
        [VDPA_ATTR_DEV_QUEUE_INDEX] = { .type = P_U32 },
        [VDPA_ATTR_DEV_FEATURES] = { .type = P_U64 },
};

static const Policy ctrl_policy[CTRL_ATTR_FAMILY_NAME + 1] = {
        [CTRL_ATTR_FAMILY_ID] = { .type = P_U16 },
        [CTRL_ATTR_FAMILY_NAME] = { .type = P_NUL_STRING, .len = GENL_NAMSIZ - 1 },
};

static gsize fixed_len(PType t) {
        return t == P_U16 ? 2 : t == P_U32 ? 4 : t == P_U64 ? 8 : 0;
}

static int attr_fail(Extack *ext, const struct nlmsghdr *req, const struct nlattr *a, const Policy *p,
                     const char *msg, int err) {
        ext->msg = msg;
        ext->bad_off = (const guint8 *) a - (const guint8 *) req;
        ext->policy = p;
        return err;
}

static guint64 attr_uint(const struct nlattr *a, PType t) {
        const void *data = (const guint8 *) a + NLA_HDRLEN;
        guint16 v16;
        guint32 v32;
        guint64 v64;

        switch (t) {
        case P_U16:
                memcpy(&v16, data, sizeof(v16));
                return v16;
        case P_U32:
                memcpy(&v32, data, sizeof(v32));
                return v32;
        default:
                memcpy(&v64, data, sizeof(v64));
                return v64;
        }
}

/* validate_nla() for one attribute. */
static int validate_attr(const struct nlmsghdr *req, const struct nlattr *a, const Policy *p, gboolean strict,
                         Extack *ext) {
        gsize len = a->nla_len - NLA_HDRLEN;
        const char *data = (const char *) a + NLA_HDRLEN;

        if (fixed_len(p->type) && len != fixed_len(p->type) && strict)
                return attr_fail(ext, req, a, p, "invalid attribute length", -EINVAL);
        if (strict && p->type != P_NONE && (a->nla_type & NLA_F_NESTED))
                return attr_fail(ext, req, a, p, "NLA_F_NESTED not expected", -EINVAL);
        switch (p->type) {
        case P_NONE:
                if (strict)
                        return attr_fail(ext, req, a, NULL, "Unsupported attribute", -EINVAL);
                return 0;
        case P_NUL_STRING: {
                gsize minlen = p->len ? MIN(len, (gsize) p->len + 1) : len;
                if (!minlen || !memchr(data, '\0', minlen))
                        return attr_fail(ext, req, a, p, "Attribute failed policy validation", -EINVAL);
        }
                G_GNUC_FALLTHROUGH;
        case P_STRING:
                if (len < 1)
                        return attr_fail(ext, req, a, p, "Attribute failed policy validation", -ERANGE);
                if (p->len && (data[len - 1] == '\0' ? len - 1 : len) > p->len)
                        return attr_fail(ext, req, a, p, "Attribute failed policy validation", -ERANGE);
                return 0;
        case P_BINARY:
                if (p->range && (len < p->min || len > p->max))
                        return attr_fail(ext, req, a, p, "binary attribute size out of range", -ERANGE);
                return 0;
        default:
                if (len < fixed_len(p->type))
                        return attr_fail(ext, req, a, p, "Attribute failed policy validation", -ERANGE);
                if (p->range) {
                        guint64 v = attr_uint(a, p->type);
                        if (v < p->min || v > p->max)
                                return attr_fail(ext, req, a, p, "integer out of range", -ERANGE);
                }
                return 0;
        }
}

/* __nla_validate_parse(): TB[type] = the attribute, the last one wins. */
static int parse_attrs(const struct nlmsghdr *req, gsize hdrlen, const Policy *policy, guint16 maxtype,
                       gboolean strict, const struct nlattr **tb, Extack *ext) {
        const guint8 *p = (const guint8 *) NLMSG_DATA(req) + hdrlen;
        gssize rem = (gssize) (req->nlmsg_len - NLMSG_HDRLEN - hdrlen);

        memset(tb, 0, sizeof(*tb) * (maxtype + 1u));
        while (rem >= NLA_HDRLEN) {
                const struct nlattr *a = (const struct nlattr *) p;
                guint16 type = a->nla_type & NLA_TYPE_MASK;
                int err;

                if (a->nla_len < NLA_HDRLEN || a->nla_len > rem)
                        break;
                if (type == 0 || type > maxtype) {
                        if (strict)
                                return attr_fail(ext, req, a, NULL, "Unknown attribute type", -EINVAL);
                } else {
                        err = validate_attr(req, a, &policy[type], strict, ext);
                        if (err < 0)
                                return err;
                        tb[type] = a;
                }
                p += NLA_ALIGN(a->nla_len);
                rem -= NLA_ALIGN(a->nla_len);
        }
        if (rem > 0 && strict) {
                ext->msg = "bytes leftover after parsing attributes";
                return -EINVAL;
        }
        return 0;
}

static const char *attr_str(const struct nlattr *a) {
        return a ? (const char *) a + NLA_HDRLEN : NULL;
}

/* The kernel reads NLA_STRING names with nla_data() as C strings and
 * relies on the sender's NUL; a name without one is cut at its end here. */
static char *attr_strdup(const struct nlattr *a) {
        return a ? g_strndup(attr_str(a), a->nla_len - NLA_HDRLEN) : NULL;
}

/* ---- nlctrl ---- */

static const struct {
        guint8 cmd;
        guint32 flags;
} vdpa_ops[] = {
        { VDPA_CMD_MGMTDEV_GET, GENL_CMD_CAP_DO | GENL_CMD_CAP_DUMP },
        { VDPA_CMD_DEV_NEW, GENL_ADMIN_PERM | GENL_CMD_CAP_DO },
        { VDPA_CMD_DEV_DEL, GENL_ADMIN_PERM | GENL_CMD_CAP_DO },
        { VDPA_CMD_DEV_GET, GENL_CMD_CAP_DO | GENL_CMD_CAP_DUMP },
        { VDPA_CMD_DEV_CONFIG_GET, GENL_CMD_CAP_DO | GENL_CMD_CAP_DUMP },
        { VDPA_CMD_DEV_VSTATS_GET, GENL_ADMIN_PERM | GENL_CMD_CAP_DO },
};

static const void *vdpa_op(guint8 cmd, guint32 *flags) {
        for (size_t i = 0; i < G_N_ELEMENTS(vdpa_ops); i++)
                if (vdpa_ops[i].cmd == cmd) {
                        /* every op has the family policy: HASPOL */
                        *flags = vdpa_ops[i].flags | GENL_CMD_CAP_HASPOL;
                        return &vdpa_ops[i];
                }
        return NULL;
}

/* ctrl_fill_info() */
static void put_family(GByteArray *b, guint16 flags, guint32 seq, guint32 port) {
        gsize off = msg_start(b, GENL_ID_CTRL, flags, seq, port);
        gsize ops;

        put_genl(b, CTRL_CMD_NEWFAMILY, 2 /* nlctrl's version */);
        put_str(b, CTRL_ATTR_FAMILY_NAME, VDPA_GENL_NAME);
        put_u16(b, CTRL_ATTR_FAMILY_ID, VDPA_SIM_FAMILY_ID);
        put_u32(b, CTRL_ATTR_VERSION, VDPA_GENL_VERSION);
        put_u32(b, CTRL_ATTR_HDRSIZE, 0);
        put_u32(b, CTRL_ATTR_MAXATTR, VDPA_ATTR_MAX);
        ops = nest_start(b, CTRL_ATTR_OPS);
        for (size_t i = 0; i < G_N_ELEMENTS(vdpa_ops); i++) {
                gsize n = nest_start(b, (guint16) (i + 1));
                guint32 f = 0;

                vdpa_op(vdpa_ops[i].cmd, &f);
                put_u32(b, CTRL_ATTR_OP_ID, vdpa_ops[i].cmd);
                put_u32(b, CTRL_ATTR_OP_FLAGS, f);
                nest_end(b, n);
        }
        nest_end(b, ops);
        msg_end(b, off);
}

/* Returns the error to ACK with; 1 when the reply (a dump) needs no ACK. */
static int handle_ctrl(Conn *c, const struct nlmsghdr *req, Extack *ext) {
        const struct genlmsghdr *g = NLMSG_DATA(req);
        const struct nlattr *tb[CTRL_ATTR_FAMILY_NAME + 1];
        g_autoptr(GByteArray) b = g_byte_array_new();
        gboolean dump = (req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
        int err;

        if (req->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
                return -EINVAL;
        if (g->cmd != CTRL_CMD_GETFAMILY)
                return -EOPNOTSUPP; /* nlctrl's other commands are not simulated */
        g_atomic_int_inc(&c->sim->counts[VDPA_SIM_COUNT_GETFAMILY]);
        if (dump) {
                /* Only the vdpa family exists here. */
                Dump d;
                g_atomic_int_inc(&c->sim->dumps[VDPA_SIM_COUNT_GETFAMILY]);
                dump_begin(&d, c, req);
                put_family(d.msg, NLM_F_MULTI, req->nlmsg_seq, c->port_id);
                dump_commit(&d);
                dump_finish(&d);
                return 1;
        }
        /* GETFAMILY is GENL_DONT_VALIDATE_STRICT */
        err = parse_attrs(req, GENL_HDRLEN, ctrl_policy, CTRL_ATTR_FAMILY_NAME, FALSE, tb, ext);
        if (err < 0)
                return err;
        if (tb[CTRL_ATTR_FAMILY_ID] && !tb[CTRL_ATTR_FAMILY_NAME] &&
            attr_uint(tb[CTRL_ATTR_FAMILY_ID], P_U16) != VDPA_SIM_FAMILY_ID)
                return -ENOENT;
        if (tb[CTRL_ATTR_FAMILY_NAME] && strcmp(attr_str(tb[CTRL_ATTR_FAMILY_NAME]), VDPA_GENL_NAME) != 0)
                return -ENOENT;
        if (!tb[CTRL_ATTR_FAMILY_ID] && !tb[CTRL_ATTR_FAMILY_NAME])
                return -EINVAL;
        put_family(b, 0, req->nlmsg_seq, c->port_id);
        conn_send_array(c, b);
        return 0;
}

/* ---- vdpa commands ---- */

typedef struct {
        Conn *c;
        const struct nlmsghdr *req;
        const struct nlattr *tb[VDPA_ATTR_MAX + 1];
        Extack *ext;
} Req;

static gsize vdpa_msg_start(GByteArray *b, const Req *r, guint8 cmd, guint16 flags) {
        gsize off = msg_start(b, VDPA_SIM_FAMILY_ID, flags, r->req->nlmsg_seq, r->c->port_id);

        put_genl(b, cmd, VDPA_GENL_VERSION);
        return off;
}

static void put_handle(GByteArray *b, const Mgmt *m) {
        if (m->bus)
                put_str(b, VDPA_ATTR_MGMTDEV_BUS_NAME, m->bus);
        put_str(b, VDPA_ATTR_MGMTDEV_DEV_NAME, m->name);
}

/* vdpa_mgmtdev_fill() with the drivers' constants */
static void fill_mgmt(GByteArray *b, const Req *r, const Mgmt *m, guint16 flags) {
        gsize off = vdpa_msg_start(b, r, VDPA_CMD_MGMTDEV_NEW, flags);

        put_handle(b, m);
        switch (m->kind) {
        case MD_MLX5:
                put_u64(b, VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES, F(VIRTIO_ID_NET));
                put_u32(b, VDPA_ATTR_DEV_MGMTDEV_MAX_VQS, MLX5_HW_VQS + 1);
                put_u64(b, VDPA_ATTR_DEV_SUPPORTED_FEATURES, MLX5_FEATURES);
                break;
        case MD_SIM_NET:
                put_u64(b, VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES, F(VIRTIO_ID_NET));
                put_u32(b, VDPA_ATTR_DEV_MGMTDEV_MAX_VQS, 3);
                put_u64(b, VDPA_ATTR_DEV_SUPPORTED_FEATURES, VDPASIM_NET_FEATURES);
                break;
        case MD_SIM_BLK:
                put_u64(b, VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES, F(VIRTIO_ID_BLOCK));
                put_u32(b, VDPA_ATTR_DEV_MGMTDEV_MAX_VQS, 0);
                put_u64(b, VDPA_ATTR_DEV_SUPPORTED_FEATURES, 0);
                break;
        }
        msg_end(b, off);
}

/* vdpa_dev_fill() */
static void fill_dev(GByteArray *b, const Req *r, const Dev *d, guint16 flags) {
        gsize off = vdpa_msg_start(b, r, VDPA_CMD_DEV_NEW, flags);

        put_handle(b, d->mgmt);
        put_str(b, VDPA_ATTR_DEV_NAME, d->name);
        put_u32(b, VDPA_ATTR_DEV_ID, d->device_id);
        put_u32(b, VDPA_ATTR_DEV_VENDOR_ID, d->vendor_id);
        put_u32(b, VDPA_ATTR_DEV_MAX_VQS, d->max_vqs);
        put_u16(b, VDPA_ATTR_DEV_MAX_VQ_SIZE, d->max_vq_size);
        put_u16(b, VDPA_ATTR_DEV_MIN_VQ_SIZE, d->min_vq_size);
        msg_end(b, off);
}

/* vdpa_dev_config_fill() + vdpa_dev_net_config_fill(), with the 5.19
 * refusal before FEATURES_OK (see vdpa-sim.h).  Nothing is left in B on
 * error. */
static int fill_config(GByteArray *b, const Req *r, const Dev *d, guint16 flags, Extack *ext) {
        gsize start = b->len;
        gsize off;

        if (!d->negotiated) {
                if (ext)
                        ext->msg = "vdpa: Features negotiation not completed";
                return -EAGAIN;
        }
        if (d->device_id != VIRTIO_ID_NET)
                return -EOPNOTSUPP;
        off = vdpa_msg_start(b, r, VDPA_CMD_DEV_CONFIG_GET, flags);
        put_str(b, VDPA_ATTR_DEV_NAME, d->name);
        put_u32(b, VDPA_ATTR_DEV_ID, d->device_id);
        /* the driver acked every device feature */
        put_u64(b, VDPA_ATTR_DEV_NEGOTIATED_FEATURES, d->features);
        put_u16(b, VDPA_ATTR_DEV_NET_STATUS, d->status);
        put_u64(b, VDPA_ATTR_VDPA_DEV_SUPPORTED_FEATURES, d->features);
        if (d->features & F(NET_F_MTU))
                put_u16(b, VDPA_ATTR_DEV_NET_CFG_MTU, d->mtu);
        if (d->features & F(NET_F_MAC))
                put_attr(b, VDPA_ATTR_DEV_NET_CFG_MACADDR, d->mac, sizeof(d->mac));
        if (d->features & (F(NET_F_MQ) | F(NET_F_RSS)))
                put_u16(b, VDPA_ATTR_DEV_NET_CFG_MAX_VQP, d->max_vqp);
        msg_end(b, off);
        g_assert(b->len > start);
        return 0;
}

/* Both locks for the time of one request, testbed first (the order
 * testbed.c callers from other threads take them in too). */
static Model *lock_model(VdpaSim *sim) {
        vdpa_testbed_lock();
        g_mutex_lock(&sim->lock);
        return model_scan(sim);
}

static void unlock_model(VdpaSim *sim, Model *m) {
        model_free(m);
        g_mutex_unlock(&sim->lock);
        vdpa_testbed_unlock();
}

static int cmd_mgmtdev_get(const Req *r, gboolean dump) {
        VdpaSim *sim = r->c->sim;
        Model *m = lock_model(sim);
        g_autoptr(GByteArray) b = g_byte_array_new();
        g_autofree char *bus = attr_strdup(r->tb[VDPA_ATTR_MGMTDEV_BUS_NAME]);
        g_autofree char *name = attr_strdup(r->tb[VDPA_ATTR_MGMTDEV_DEV_NAME]);
        const Mgmt *md;
        int err = 0;

        if (dump) {
                Dump d;
                dump_begin(&d, r->c, r->req);
                for (guint i = 0; i < m->mgmts->len; i++) {
                        fill_mgmt(d.msg, r, m->mgmts->pdata[i], NLM_F_MULTI);
                        dump_commit(&d);
                }
                dump_finish(&d);
                unlock_model(sim, m);
                return 1;
        }
        md = name ? model_find_mgmt(m, bus, name) : NULL;
        if (!md) {
                r->ext->msg = "vdpa: Fail to find the specified mgmt device";
                err = name ? -ENODEV : -EINVAL;
        } else {
                fill_mgmt(b, r, md, 0);
        }
        unlock_model(sim, m);
        if (!err)
                conn_send_array(r->c, b);
        return err;
}

static int cmd_dev_get(const Req *r, gboolean dump) {
        VdpaSim *sim = r->c->sim;
        g_autoptr(GByteArray) b = g_byte_array_new();
        g_autofree char *name = attr_strdup(r->tb[VDPA_ATTR_DEV_NAME]);
        const Dev *dev;
        Model *m;
        int err = 0;

        if (!dump && !name)
                return -EINVAL;
        m = lock_model(sim);
        if (dump) {
                Dump d;
                dump_begin(&d, r->c, r->req);
                for (guint i = 0; i < m->devs->len; i++) {
                        const Dev *x = m->devs->pdata[i];
                        if (!x->mgmt)
                                continue;
                        fill_dev(d.msg, r, x, NLM_F_MULTI);
                        dump_commit(&d);
                }
                dump_finish(&d);
                unlock_model(sim, m);
                return 1;
        }
        dev = model_find_dev(m, name);
        if (!dev) {
                r->ext->msg = "vdpa: device not found";
                err = -ENODEV;
        } else if (!dev->mgmt) {
                err = -EINVAL;
        } else {
                fill_dev(b, r, dev, 0);
        }
        unlock_model(sim, m);
        if (!err)
                conn_send_array(r->c, b);
        return err;
}

static int cmd_config_get(const Req *r, gboolean dump) {
        VdpaSim *sim = r->c->sim;
        g_autoptr(GByteArray) b = g_byte_array_new();
        g_autofree char *name = attr_strdup(r->tb[VDPA_ATTR_DEV_NAME]);
        const Dev *dev;
        Model *m;
        int err = 0;

        if (!dump && !name)
                return -EINVAL;
        m = lock_model(sim);
        if (dump) {
                Dump d;
                dump_begin(&d, r->c, r->req);
                /* vdpa_dev_config_dump(): the first device it cannot
                 * describe ends the walk, and the dump, quietly. */
                for (guint i = 0; i < m->devs->len; i++) {
                        const Dev *x = m->devs->pdata[i];
                        if (!x->mgmt)
                                continue;
                        if (fill_config(d.msg, r, x, NLM_F_MULTI, NULL) < 0)
                                break;
                        dump_commit(&d);
                }
                dump_finish(&d);
                unlock_model(sim, m);
                return 1;
        }
        dev = model_find_dev(m, name);
        if (!dev) {
                r->ext->msg = "vdpa: device not found";
                err = -ENODEV;
        } else if (!dev->mgmt) {
                r->ext->msg = "vdpa: unmanaged vdpa device";
                err = -EINVAL;
        } else {
                err = fill_config(b, r, dev, 0, r->ext);
        }
        unlock_model(sim, m);
        if (!err)
                conn_send_array(r->c, b);
        return err;
}

/* vdpa_nl_cmd_dev_stats_get_doit(): neither simulated driver has
 * get_vendor_vq_stats... except mlx5, whose counters need a running
 * queue; a device that has not negotiated gets the kernel's EAGAIN, one
 * that has gets EOPNOTSUPP (no counters simulated). */
static int cmd_vstats_get(const Req *r) {
        VdpaSim *sim = r->c->sim;
        g_autofree char *name = attr_strdup(r->tb[VDPA_ATTR_DEV_NAME]);
        const Dev *dev;
        Model *m;
        int err;

        if (!name || !r->tb[VDPA_ATTR_DEV_QUEUE_INDEX])
                return -EINVAL;
        m = lock_model(sim);
        dev = model_find_dev(m, name);
        if (!dev) {
                r->ext->msg = "vdpa: device not found";
                err = -ENODEV;
        } else if (!dev->mgmt) {
                r->ext->msg = "vdpa: unmanaged vdpa device";
                err = -EINVAL;
        } else if (dev->device_id != VIRTIO_ID_NET || dev->mgmt->kind != MD_MLX5) {
                err = -EOPNOTSUPP;
        } else if (attr_uint(r->tb[VDPA_ATTR_DEV_QUEUE_INDEX], P_U32) > 0x8000) {
                r->ext->msg = "vdpa: queue index excceeds max value";
                err = -ERANGE;
        } else if (!dev->negotiated) {
                r->ext->msg = "vdpa: feature negotiation not complete";
                err = -EAGAIN;
        } else {
                err = -EOPNOTSUPP;
        }
        unlock_model(sim, m);
        return err;
}

static gboolean mgmt_busy(const Model *m, const Mgmt *md) {
        for (guint i = 0; i < m->devs->len; i++)
                if (((const Dev *) m->devs->pdata[i])->mgmt == md)
                        return TRUE;
        return FALSE;
}

/* The path under /sys of a canonical testbed path. */
static const char *sys_path(VdpaSim *sim, const char *path) {
        return path + strlen(sim->root);
}

/* The kernel's IDA gives the lowest free minor.  umockdev (0.17) keeps a
 * removed node's name and asserts when it is created again, so a minor
 * this testbed has had is not given twice. */
static int pick_minor(VdpaSim *sim) {
        int m = 0;

        while (g_hash_table_contains(sim->minors, GINT_TO_POINTER(m)))
                m++;
        g_hash_table_add(sim->minors, GINT_TO_POINTER(m));
        return m;
}

/* The driver's dev_add() and the driver core after it: checks, then the
 * device appears ("add"), vhost_vdpa binds ("bind"). */
static int dev_add(VdpaSim *sim, const Model *m, const Mgmt *md, const char *name, const Created *cfg) {
        g_autofree char *kname = g_strdelimit(g_strdup(name), "/", '!'); /* kobject_set_name() */
        g_autofree char *path = NULL;
        guint32 device_id = md->kind == MD_SIM_BLK ? VIRTIO_ID_BLOCK : VIRTIO_ID_NET;
        guint32 vendor_id = md->kind == MD_MLX5 ? 0x15b3 : 0;

        if (md->kind == MD_MLX5) {
                if (mgmt_busy(m, md))
                        return -ENOSPC;
                if ((cfg->mask & F(VDPA_ATTR_DEV_NET_CFG_MAX_VQP)) && cfg->max_vqp > MLX5_HW_VQS / 2)
                        return -EINVAL;
        }
        if (md->kind == MD_SIM_NET && (cfg->mask & F(VDPA_ATTR_DEV_FEATURES)) &&
            (cfg->features & ~VDPASIM_NET_FEATURES))
                return -EINVAL;
        if (!*kname)
                return -EINVAL; /* kobject_add_internal() */
        /* __vdpa_register_device(): the name is unique on the bus; and
         * device_add() fails on a name its parent directory already has. */
        path = md->kind == MD_MLX5 ? g_build_filename(md->path, kname, NULL)
                                   : g_build_filename(sim->root, "sys/devices", kname, NULL);
        if (model_find_dev(m, kname) || path_exists(path))
                return -EEXIST;

        Created *keep = g_memdup2(cfg, sizeof(*cfg));
        keep->kind = md->kind;
        g_hash_table_replace(sim->created, g_strdup(kname), keep);
        vdpa_testbed_add_vdpa_full(sim->tb, sys_path(sim, path), device_id, vendor_id);
        vdpa_testbed_bind_vhost(sim->tb, sys_path(sim, path), pick_minor(sim));
        return 0;
}

/* The handle as `vdpa` writes it: "bus/name", or "name" without a bus. */
static char *handle_of(const char *bus, const char *name) {
        return bus ? g_strconcat(bus, "/", name, NULL) : g_strdup(name);
}

/* The extack text the kernel gives with ERR where dev_add() fails, for
 * vdpa_sim_fail_dev_new() (docs/vdpa-netlink.md §4.2-4.6). */
static const char *fault_message(int err) {
        switch (err) {
        case EOPNOTSUPP:
                return "vdpa: All provided attributes are not supported";
        case ENODEV:
                return "vdpa: Fail to find the specified management device";
        default:
                return NULL; /* ENOSPC, EEXIST, EINVAL (mlx5), ENOMEM: none */
        }
}

/* Counts the request; the injected errno for MD, 0 if none.  Called with
 * sim->lock held. */
static int note_dev_new(VdpaSim *sim, const char *bus, const char *mname, const Mgmt *md) {
        g_autofree char *handle = NULL;

        if (!mname)
                return 0;
        handle = handle_of(bus, mname);
        g_hash_table_replace(sim->dev_new, g_strdup(handle),
                             GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(sim->dev_new, handle)) + 1));
        return md ? GPOINTER_TO_INT(g_hash_table_lookup(sim->faults, handle)) : 0;
}

static int cmd_dev_new(const Req *r) {
        VdpaSim *sim = r->c->sim;
        const struct nlattr *const *tb = r->tb;
        g_autofree char *name = attr_strdup(tb[VDPA_ATTR_DEV_NAME]);
        g_autofree char *bus = attr_strdup(tb[VDPA_ATTR_MGMTDEV_BUS_NAME]);
        g_autofree char *mname = attr_strdup(tb[VDPA_ATTR_MGMTDEV_DEV_NAME]);
        Created cfg = { 0 };
        guint64 supported;
        const Mgmt *md;
        Model *m;
        int fault;
        int err;

        if (!name)
                return -EINVAL;
        if (tb[VDPA_ATTR_DEV_NET_CFG_MACADDR]) {
                memcpy(cfg.mac, attr_str(tb[VDPA_ATTR_DEV_NET_CFG_MACADDR]), sizeof(cfg.mac));
                cfg.mask |= F(VDPA_ATTR_DEV_NET_CFG_MACADDR);
        }
        if (tb[VDPA_ATTR_DEV_NET_CFG_MTU]) {
                cfg.mtu = (guint16) attr_uint(tb[VDPA_ATTR_DEV_NET_CFG_MTU], P_U16);
                cfg.mask |= F(VDPA_ATTR_DEV_NET_CFG_MTU);
        }
        if (tb[VDPA_ATTR_DEV_NET_CFG_MAX_VQP]) {
                cfg.max_vqp = (guint16) attr_uint(tb[VDPA_ATTR_DEV_NET_CFG_MAX_VQP], P_U16);
                if (!cfg.max_vqp) {
                        r->ext->msg = "vdpa: At least one pair of VQs is required";
                        return -EINVAL;
                }
                cfg.mask |= F(VDPA_ATTR_DEV_NET_CFG_MAX_VQP);
        }
        if (tb[VDPA_ATTR_DEV_FEATURES]) {
                cfg.features = attr_uint(tb[VDPA_ATTR_DEV_FEATURES], P_U64);
                cfg.mask |= F(VDPA_ATTR_DEV_FEATURES);
        }
        /* (the CAP_NET_ADMIN check for net attributes is GENL_ADMIN_PERM's,
         * already passed) */
        m = lock_model(sim);
        md = mname ? model_find_mgmt(m, bus, mname) : NULL;
        fault = note_dev_new(sim, bus, mname, md);
        if (!md) {
                r->ext->msg = "vdpa: Fail to find the specified management device";
                err = mname ? -ENODEV : -EINVAL;
                goto out;
        }
        supported = md->kind == MD_MLX5     ? F(VDPA_ATTR_DEV_NET_CFG_MACADDR) | F(VDPA_ATTR_DEV_NET_CFG_MAX_VQP) |
                                                  F(VDPA_ATTR_DEV_NET_CFG_MTU)
                    : md->kind == MD_SIM_NET ? F(VDPA_ATTR_DEV_NET_CFG_MACADDR) | F(VDPA_ATTR_DEV_NET_CFG_MTU) |
                                                  F(VDPA_ATTR_DEV_FEATURES)
                                             : 0;
        if ((cfg.mask & supported) != cfg.mask) {
                r->ext->msg = "vdpa: All provided attributes are not supported";
                err = -EOPNOTSUPP;
                goto out;
        }
        if (fault) {
                r->ext->msg = fault_message(fault);
                err = -fault;
                goto out;
        }
        err = dev_add(sim, m, md, name, &cfg);
out:
        unlock_model(sim, m);
        return err;
}

static int vhost_minor(const char *path) {
        g_autoptr(GPtrArray) names = sorted_entries(path);
        guint64 n;

        for (guint i = 0; i < names->len; i++) {
                const char *e = names->pdata[i];
                if (g_str_has_prefix(e, "vhost-vdpa-") &&
                    g_ascii_string_to_unsigned(e + strlen("vhost-vdpa-"), 10, 0, G_MAXINT, &n, NULL))
                        return (int) n;
        }
        return -1;
}

static int cmd_dev_del(const Req *r) {
        VdpaSim *sim = r->c->sim;
        g_autofree char *name = attr_strdup(r->tb[VDPA_ATTR_DEV_NAME]);
        const Dev *dev;
        Model *m;
        int err = 0;

        if (!name)
                return -EINVAL;
        m = lock_model(sim);
        dev = model_find_dev(m, name);
        if (!dev) {
                r->ext->msg = "vdpa: device not found";
                err = -ENODEV;
        } else if (!dev->mgmt) {
                r->ext->msg = "vdpa: Only user created device can be deleted by user";
                err = -EINVAL;
        } else {
                /* device_unregister(): the driver lets go ("unbind"), then
                 * "remove" and the directory goes. */
                if (dev->driver)
                        vdpa_testbed_unbind(sim->tb, sys_path(sim, dev->path), vhost_minor(dev->path));
                vdpa_testbed_remove(sim->tb, sys_path(sim, dev->path));
                g_hash_table_remove(sim->created, name);
                g_hash_table_remove(sim->features_ok, name);
        }
        unlock_model(sim, m);
        return err;
}

/* netlink_capable(skb, CAP_NET_ADMIN): the sender's effective set, read
 * at each request. */
static gboolean peer_has_net_admin(pid_t pid) {
        g_autofree char *path = g_strdup_printf("/proc/%d/status", (int) pid);
        g_autofree char *text = NULL;
        const char *line;
        guint64 caps;

        if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
                return FALSE;
        line = strstr(text, "\nCapEff:");
        if (!line)
                return FALSE;
        caps = g_ascii_strtoull(line + strlen("\nCapEff:"), NULL, 16);
        return (caps >> CAP_NET_ADMIN_BIT) & 1;
}

/* genl_family_rcv_msg() + the op's handler. */
static int handle_vdpa(Conn *c, const struct nlmsghdr *req, Extack *ext) {
        const struct genlmsghdr *g = NLMSG_DATA(req);
        gboolean dump = (req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
        Req r = { .c = c, .req = req, .ext = ext };
        guint32 flags;
        int err;

        if (req->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
                return -EINVAL;
        g_atomic_int_inc(&c->sim->counts[g->cmd]);
        if (dump)
                g_atomic_int_inc(&c->sim->dumps[g->cmd]);
        if (!vdpa_op(g->cmd, &flags))
                return -EOPNOTSUPP;
        if ((flags & GENL_ADMIN_PERM) && !peer_has_net_admin(c->peer_pid))
                return -EPERM;
        if (dump && !(flags & GENL_CMD_CAP_DUMP))
                return -EOPNOTSUPP;
        if (!dump && !(flags & GENL_CMD_CAP_DO))
                return -EOPNOTSUPP;
        err = parse_attrs(req, GENL_HDRLEN, vdpa_policy, VDPA_ATTR_MAX, TRUE, r.tb, ext);
        if (err < 0)
                return err;
        switch (g->cmd) {
        case VDPA_CMD_MGMTDEV_GET:
                return cmd_mgmtdev_get(&r, dump);
        case VDPA_CMD_DEV_NEW:
                return cmd_dev_new(&r);
        case VDPA_CMD_DEV_DEL:
                return cmd_dev_del(&r);
        case VDPA_CMD_DEV_GET:
                return cmd_dev_get(&r, dump);
        case VDPA_CMD_DEV_CONFIG_GET:
                return cmd_config_get(&r, dump);
        default:
                return cmd_vstats_get(&r);
        }
}

/* netlink_rcv_skb(): every message of the datagram, each ACKed when it
 * failed or asked for it. */
static void handle_datagram(Conn *c, const guint8 *buf, gsize len) {
        while (len >= NLMSG_HDRLEN) {
                const struct nlmsghdr *req = (const struct nlmsghdr *) buf;
                Extack ext = EXTACK_INIT;
                int err = 0;
                gsize msglen;

                if (req->nlmsg_len < NLMSG_HDRLEN || len < req->nlmsg_len)
                        return;
                if ((req->nlmsg_flags & NLM_F_REQUEST) && req->nlmsg_type >= NLMSG_MIN_TYPE) {
                        if (req->nlmsg_type == GENL_ID_CTRL)
                                err = handle_ctrl(c, req, &ext);
                        else if (req->nlmsg_type == VDPA_SIM_FAMILY_ID)
                                err = handle_vdpa(c, req, &ext);
                        else
                                err = -ENOENT;
                }
                /* a dump was answered; no ACK (netlink_dump_start's -EINTR) */
                if (err != 1 && ((req->nlmsg_flags & NLM_F_ACK) || err))
                        send_ack(c, req, err, &ext);
                msglen = NLMSG_ALIGN(req->nlmsg_len);
                if (msglen > len)
                        msglen = len;
                buf += msglen;
                len -= msglen;
        }
}

static void handle_ctl(Conn *c, const guint8 *buf, gsize len) {
        struct vdpa_sim_ctl ctl;

        if (len < sizeof(ctl))
                return;
        memcpy(&ctl, buf, sizeof(ctl));
        if (ctl.magic != VDPA_SIM_CTL_MAGIC || ctl.version != VDPA_SIM_CTL_VERSION)
                return;
        c->port_id = ctl.port_id;
        c->flags = ctl.flags;
}

/* ---- threads ---- */

static gpointer conn_thread(gpointer data) {
        Conn *c = data;
        g_autofree guint8 *buf = g_malloc(REQ_MAX);
        struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN }, { .fd = c->sim->stop_fd, .events = POLLIN } };

        for (;;) {
                ssize_t n;

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[1].revents)
                        break;
                n = recv(c->fd, buf, REQ_MAX, MSG_DONTWAIT);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n <= 0)
                        break; /* peer closed its socket */
                c->work_start_ns = monotonic_ns();
                if (n >= 4 && memcmp(buf, "\0\0\0\0", 4) == 0)
                        handle_ctl(c, buf, (gsize) n);
                else
                        handle_datagram(c, buf, (gsize) n);
        }
        g_atomic_int_set(&c->done, 1);
        return NULL;
}

static void conn_free(Conn *c) {
        g_thread_join(c->thread);
        close(c->fd);
        g_free(c);
}

/* Joins connections whose peer went away, so a long benchmark does not
 * pile up threads. */
static void reap_conns(VdpaSim *sim) {
        g_mutex_lock(&sim->lock);
        for (guint i = sim->conns->len; i-- > 0;)
                if (g_atomic_int_get(&((Conn *) sim->conns->pdata[i])->done))
                        g_ptr_array_remove_index_fast(sim->conns, i);
        g_mutex_unlock(&sim->lock);
}

static void accept_one(VdpaSim *sim) {
        struct ucred cred = { 0 };
        socklen_t len = sizeof(cred);
        Conn *c;
        int fd = accept4(sim->listen_fd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0)
                return;
        c = g_new0(Conn, 1);
        c->sim = sim;
        c->fd = fd;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
                c->peer_pid = cred.pid;
        c->thread = g_thread_new("vdpa-sim-conn", conn_thread, c);
        g_mutex_lock(&sim->lock);
        g_ptr_array_add(sim->conns, c);
        sim->connections++;
        g_mutex_unlock(&sim->lock);
}

static gpointer listener_thread(gpointer data) {
        VdpaSim *sim = data;
        struct pollfd p[2] = { { .fd = sim->listen_fd, .events = POLLIN }, { .fd = sim->stop_fd, .events = POLLIN } };

        for (;;) {
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[1].revents)
                        break;
                reap_conns(sim);
                if (p[0].revents)
                        accept_one(sim);
        }
        return NULL;
}

/* ---- API ---- */

static gboolean ensure_dir(const char *root, const char *rel, GError **error) {
        g_autofree char *p = g_build_filename(root, rel, NULL);

        if (g_mkdir_with_parents(p, 0755) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "mkdir %s: %s", p, g_strerror(errno));
                return FALSE;
        }
        return TRUE;
}

static int listen_on(const char *path, GError **error) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sun.sun_path)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG, "socket path too long: %s", path);
                return -1;
        }
        strcpy(sun.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0 || listen(fd, 128) < 0) {
                int e = errno;
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "socket %s: %s", path, g_strerror(e));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        return fd;
}

VdpaSim *vdpa_sim_start(UMockdevTestbed *tb, GError **error) {
        g_autofree char *root = umockdev_testbed_get_root_dir(tb);
        VdpaSim *sim;

        /* the vdpa_sim_net and vdpa_sim_blk modules are loaded */
        vdpa_testbed_lock();
        if (!ensure_dir(root, "sys/devices/vdpasim_net", error) || !ensure_dir(root, "sys/devices/vdpasim_blk", error)) {
                vdpa_testbed_unlock();
                return NULL;
        }
        vdpa_testbed_unlock();

        sim = g_new0(VdpaSim, 1);
        sim->tb = g_object_ref(tb);
        sim->root = canonical(root);
        sim->sock_path = g_build_filename(root, VDPA_SIM_SOCKET_NAME, NULL);
        g_mutex_init(&sim->lock);
        sim->conns = g_ptr_array_new_with_free_func((GDestroyNotify) conn_free);
        sim->created = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        sim->features_ok = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        sim->order = g_ptr_array_new_with_free_func(g_free);
        sim->minors = g_hash_table_new(NULL, NULL);
        sim->dev_new = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        sim->faults = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        sim->stop_fd = eventfd(0, EFD_CLOEXEC);
        sim->listen_fd = listen_on(sim->sock_path, error);
        if (sim->listen_fd < 0 || sim->stop_fd < 0) {
                if (sim->stop_fd < 0)
                        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "eventfd: %s", g_strerror(errno));
                vdpa_sim_stop(sim);
                return NULL;
        }
        /* First scan now: the fixture's devices are registered before any
         * a test adds. */
        unlock_model(sim, lock_model(sim));
        sim->listener = g_thread_new("vdpa-sim", listener_thread, sim);
        return sim;
}

void vdpa_sim_stop(VdpaSim *sim) {
        guint64 one = 1;

        if (!sim)
                return;
        if (sim->stop_fd >= 0 && write(sim->stop_fd, &one, sizeof(one)) != sizeof(one))
                g_warning("vdpa-sim: eventfd: %s", g_strerror(errno));
        if (sim->listener)
                g_thread_join(sim->listener);
        /* every connection thread sees stop_fd too; conn_free joins */
        g_ptr_array_unref(sim->conns);
        if (sim->listen_fd >= 0) {
                close(sim->listen_fd);
                g_unlink(sim->sock_path);
        }
        if (sim->stop_fd >= 0)
                close(sim->stop_fd);
        g_hash_table_unref(sim->created);
        g_hash_table_unref(sim->features_ok);
        g_ptr_array_unref(sim->order);
        g_hash_table_unref(sim->minors);
        g_hash_table_unref(sim->dev_new);
        g_hash_table_unref(sim->faults);
        g_mutex_clear(&sim->lock);
        g_object_unref(sim->tb);
        g_free(sim->root);
        g_free(sim->sock_path);
        g_free(sim);
}

gboolean vdpa_sim_set_features_ok(VdpaSim *sim, const char *name, gboolean ok) {
        Model *m = lock_model(sim);
        gboolean found = model_find_dev(m, name) != NULL;

        if (found && ok)
                g_hash_table_add(sim->features_ok, g_strdup(name));
        else if (found)
                g_hash_table_remove(sim->features_ok, name);
        unlock_model(sim, m);
        return found;
}

guint vdpa_sim_count(VdpaSim *sim, guint8 cmd) {
        return (guint) g_atomic_int_get(&sim->counts[cmd]);
}

guint vdpa_sim_count_dumps(VdpaSim *sim, guint8 cmd) {
        return (guint) g_atomic_int_get(&sim->dumps[cmd]);
}

void vdpa_sim_reset_counts(VdpaSim *sim) {
        for (guint i = 0; i < G_N_ELEMENTS(sim->counts); i++) {
                g_atomic_int_set(&sim->counts[i], 0);
                g_atomic_int_set(&sim->dumps[i], 0);
        }
        g_mutex_lock(&sim->lock);
        g_hash_table_remove_all(sim->dev_new);
        g_mutex_unlock(&sim->lock);
}

guint vdpa_sim_count_dev_new(VdpaSim *sim, const char *mgmtdev_handle) {
        guint n;

        g_mutex_lock(&sim->lock);
        n = GPOINTER_TO_UINT(g_hash_table_lookup(sim->dev_new, mgmtdev_handle));
        g_mutex_unlock(&sim->lock);
        return n;
}

void vdpa_sim_fail_dev_new(VdpaSim *sim, const char *mgmtdev_handle, int err) {
        g_return_if_fail(err >= 0);
        g_mutex_lock(&sim->lock);
        if (err)
                g_hash_table_replace(sim->faults, g_strdup(mgmtdev_handle), GINT_TO_POINTER(err));
        else
                g_hash_table_remove(sim->faults, mgmtdev_handle);
        g_mutex_unlock(&sim->lock);
}

guint64 vdpa_sim_busy_ns(VdpaSim *sim) {
        return __atomic_load_n(&sim->busy_ns, __ATOMIC_SEQ_CST);
}

guint vdpa_sim_count_connections(VdpaSim *sim) {
        guint n;

        g_mutex_lock(&sim->lock);
        n = sim->connections;
        g_mutex_unlock(&sim->lock);
        return n;
}

const char *vdpa_sim_get_socket_path(VdpaSim *sim) {
        return sim->sock_path;
}

char *vdpa_sim_preload_env(void) {
        const char *ours = g_getenv("VDPA_SIM_PRELOAD");

        return g_strdup_printf("libumockdev-preload.so.0:%s", ours && *ours ? ours : VDPA_SIM_PRELOAD_PATH);
}
