/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "inventory.h"
#include "sysfs-attr.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"


/* What one netdev says about itself.  Only netdevs that can matter are
 * kept: those directly on a PCI function (an uplink, or a representor,
 * which mlx5 puts under the PF's PCI device too) and those on a switch. */
typedef struct Netdev {
        char *syspath;
        char *name;
        char *pci;              /* sysname of its parent PCI function, "" none */
        char *switch_id;        /* phys_switch_id, "" none */
        char *port_name;        /* phys_port_name, "" none */
} Netdev;

/* Every netdev that matters, indexed so that a device's two names cost two
 * hash lookups and a short scan: a net uevent changes one entry, a full
 * scan (start, overflow) rebuilds it. */
typedef struct NetCache {
        GHashTable *by_path;    /* syspath -> Netdev* (owned) */
        GHashTable *by_port;    /* "switch_id/port_name" -> GPtrArray of Netdev* */
        GHashTable *by_pci;     /* PCI sysname -> GPtrArray of Netdev* */
        bool scanned;
} NetCache;

struct Inventory {
        /* name -> Entry* (keyed by the entry's own name); name order is
         * the order of Devices() and of every enumeration. */
        GTree *devices;

        const VdpaConfig *config;       /* borrowed, unless == owned_config */
        VdpaConfig *owned_config;

        GHashTable *usage;              /* chardev -> VdpaDomainRef*, may be NULL */
        GHashTable *claims;             /* name -> VdpaUsage* of this service's claims */
        GHashTable *kernel;             /* name -> KernelEntry* from netlink */
        GHashTable *provisioned;        /* names created under a [Provision] rule */
        GHashTable *parents;            /* parent directory -> ParentEntry* */

        /* OVS offload (§9): the netdevs, the VF numbers of PFs that saw
         * hotplug, and which devices hang off each PF (so that a net
         * uevent looks at those only).  Each device's representor port
         * name is in its entry. */
        NetCache net;
        GHashTable *virtfns;            /* PF syspath -> (VF name -> 1 + index) */
        GHashTable *by_pf;              /* PF name -> set of device names (the entries') */

        /* Devices per state, kept current by apply(), so that counting
         * costs nothing per event whatever the number of devices. */
        guint state_counts[VDPA_DEVICE_EXCLUDED + 1];

        InventoryCallback cb;
        void *userdata;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_device *, udev_device_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_enumerate *, udev_enumerate_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

static gint compare_names(gconstpointer a, gconstpointer b, gpointer userdata) {
        return strcmp(a, b);
}

/* ------------------------------------------------------------------ sysfs */

static void set_str(char **p, const char *s) {
        char *copy = g_strdup(s);

        g_free(*p);
        *p = copy;
}

/* The vhost char device has no class and sends no uevent of its own: it
 * only shows up as a child directory of the vDPA device.  It is usable only
 * once its node exists in /dev. */
static char *find_chardev(DIR *d) {
        g_autofree char *best = NULL;
        struct dirent *de;

        while ((de = readdir(d))) {
                g_autofree char *node = NULL;

                if (!vdpa_sysfs_is_chardev_entry(de->d_name))
                        continue;
                node = g_strconcat("/dev/", de->d_name, NULL);
                if (access(node, F_OK) < 0)
                        continue;
                /* Only one is expected; pick the smallest for determinism. */
                if (!best || strcmp(node, best) < 0)
                        set_str(&best, node);
        }

        return best ? g_steal_pointer(&best) : g_strdup("");
}

typedef struct DirId {
        uint32_t dev_major, dev_minor;
        uint64_t ino;
        /* sysfs never reuses an inode number; a testbed's tmpfs or ext4 may,
         * and there the birth time tells a new directory from the old. */
        bool has_btime;
        struct statx_timestamp btime;
} DirId;

static bool dir_id_equal(const DirId *a, const DirId *b) {
        return a->dev_major == b->dev_major && a->dev_minor == b->dev_minor && a->ino == b->ino &&
                a->has_btime == b->has_btime &&
                (!a->has_btime || (a->btime.tv_sec == b->btime.tv_sec && a->btime.tv_nsec == b->btime.tv_nsec));
}

static int dir_id(int dir_fd, const char *path, DirId *ret) {
        struct statx stx;

        if (statx(dir_fd, path, 0, STATX_INO | STATX_BTIME, &stx) < 0)
                return -errno;
        *ret = (DirId) {
                .dev_major = stx.stx_dev_major,
                .dev_minor = stx.stx_dev_minor,
                .ino = stx.stx_ino,
                .has_btime = stx.stx_mask & STATX_BTIME,
                .btime = stx.stx_btime,
        };
        return 0;
}

static struct udev_device *find_parent_with_subsystem(struct udev_device *dev, const char *subsystem) {
        for (struct udev_device *p = udev_device_get_parent(dev); p; p = udev_device_get_parent(p))
                if (streq_ptr(udev_device_get_subsystem(p), subsystem))
                        return p;
        return NULL;
}

/* A VF points at its PF with "physfn": its name, or NULL for a PF. */
static char *pci_physfn(struct udev_device *pci) {
        g_autofree char *link = NULL, *target = NULL;

        link = g_build_filename(udev_device_get_syspath(pci), "physfn", NULL);
        target = g_file_read_link(link, NULL);
        return target ? g_path_get_basename(target) : NULL;
}

/* PHYSFN: what pci_physfn() said of PCI (NULL: PCI is its own PF). */
static void fill_from_pci(VdpaHardware *hw, struct udev_device *pci, const char *physfn) {
        set_str(&hw->address, udev_device_get_sysname(pci));
        set_str(&hw->physical_function, physfn ? physfn : udev_device_get_sysname(pci));
        hw->vendor_id = vdpa_sysfs_parse_hex16(udev_device_get_sysattr_value(pci, "vendor"));
        hw->product_id = vdpa_sysfs_parse_hex16(udev_device_get_sysattr_value(pci, "device"));
        hw->numa_node = vdpa_sysfs_parse_numa_node(udev_device_get_sysattr_value(pci, "numa_node"));
}

static void clear_parent(VdpaHardware *hw) {
        hw->parent_kind = VDPA_PARENT_KIND_VIRTUAL;
        set_str(&hw->parent_device, "");
        set_str(&hw->physical_function, "");
        set_str(&hw->address, "");
        hw->vendor_id = hw->product_id = 0;
        hw->numa_node = -1;
}

/* ------------------------------------------------ OVS offload (§9): net */

static void netdev_free(Netdev *n) {
        if (!n)
                return;
        g_free(n->syspath);
        g_free(n->name);
        g_free(n->pci);
        g_free(n->switch_id);
        g_free(n->port_name);
        g_free(n);
}

static void net_cache_init(NetCache *c) {
        c->by_path = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify) netdev_free);
        c->by_port = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
        c->by_pci = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
        c->scanned = false;
}

static void net_cache_clear(NetCache *c) {
        /* The indexes borrow the entries: they go first. */
        g_clear_pointer(&c->by_port, g_hash_table_unref);
        g_clear_pointer(&c->by_pci, g_hash_table_unref);
        g_clear_pointer(&c->by_path, g_hash_table_unref);
}

static void net_cache_reset(NetCache *c) {
        g_hash_table_remove_all(c->by_port);
        g_hash_table_remove_all(c->by_pci);
        g_hash_table_remove_all(c->by_path);
}

static char *port_key(const char *switch_id, const char *port_name) {
        return g_strconcat(switch_id, "/", port_name, NULL);
}

static void index_add(GHashTable *index, char *key /* consumed */, Netdev *n) {
        GPtrArray *a = g_hash_table_lookup(index, key);

        if (!a) {
                a = g_ptr_array_new();
                g_hash_table_insert(index, key, a);
        } else
                g_free(key);
        g_ptr_array_add(a, n);
}

static void index_remove(GHashTable *index, const char *key, Netdev *n) {
        GPtrArray *a = g_hash_table_lookup(index, key);

        if (!a)
                return;
        g_ptr_array_remove_fast(a, n);
        if (a->len == 0)
                g_hash_table_remove(index, key);
}

static void net_cache_unlink(NetCache *c, Netdev *n) {
        if (n->pci[0])
                index_remove(c->by_pci, n->pci, n);
        if (n->switch_id[0] && n->port_name[0]) {
                g_autofree char *key = port_key(n->switch_id, n->port_name);

                index_remove(c->by_port, key, n);
        }
}

/* Takes N; a previous entry at the same path is replaced. */
static void net_cache_put(NetCache *c, Netdev *n) {
        Netdev *old = g_hash_table_lookup(c->by_path, n->syspath);

        if (old) {
                net_cache_unlink(c, old);
                g_hash_table_remove(c->by_path, old->syspath);
        }
        g_hash_table_insert(c->by_path, n->syspath, n);
        if (n->pci[0])
                index_add(c->by_pci, g_strdup(n->pci), n);
        if (n->switch_id[0] && n->port_name[0])
                index_add(c->by_port, port_key(n->switch_id, n->port_name), n);
}

/* Takes the entry at SYSPATH out and returns it (the caller frees it). */
static Netdev *net_cache_take(NetCache *c, const char *syspath) {
        Netdev *n = g_hash_table_lookup(c->by_path, syspath);

        if (!n)
                return NULL;
        net_cache_unlink(c, n);
        g_hash_table_steal(c->by_path, syspath);
        return n;
}

/* A sysfs attribute without its trailing newline; NULL when it cannot be
 * read (phys_switch_id and phys_port_name fail with EOPNOTSUPP on netdevs
 * that have none). */
static char *sysattr_stripped(struct udev_device *dev, const char *attr) {
        const char *v = udev_device_get_sysattr_value(dev, attr);

        return v ? g_strstrip(g_strdup(v)) : NULL;
}

/* The entry for DEV, or NULL when it cannot matter. */
static Netdev *netdev_read(struct udev_device *dev) {
        struct udev_device *parent = udev_device_get_parent(dev);
        g_autofree char *switch_id = sysattr_stripped(dev, "phys_switch_id");
        g_autofree char *port_name = sysattr_stripped(dev, "phys_port_name");
        const char *pci = NULL;
        Netdev *n;

        /* The direct parent only: an SF's own netdev sits on its auxiliary
         * device below the PF and is not the PF's. */
        if (parent && streq_ptr(udev_device_get_subsystem(parent), "pci"))
                pci = udev_device_get_sysname(parent);
        if (!pci && (!switch_id || !switch_id[0]))
                return NULL;
        if (!udev_device_get_syspath(dev) || !udev_device_get_sysname(dev))
                return NULL;

        n = g_new0(Netdev, 1);
        n->syspath = g_strdup(udev_device_get_syspath(dev));
        n->name = g_strdup(udev_device_get_sysname(dev));
        n->pci = g_strdup(strempty(pci));
        n->switch_id = g_strdup(strempty(switch_id));
        n->port_name = g_strdup(strempty(port_name));
        return n;
}

static int net_cache_scan(NetCache *c, struct udev *udev) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        struct udev_list_entry *item;
        int r;

        e = udev_enumerate_new(udev);
        if (!e)
                return -(errno ?: ENOMEM);
        r = udev_enumerate_add_match_subsystem(e, "net");
        if (r < 0)
                return r;
        r = udev_enumerate_scan_devices(e);
        if (r < 0)
                /* What was found is still better than nothing: a netdev
                 * missed now comes back with its next uevent. */
                log_debug_errno(r, "Enumerating netdevs was incomplete: %m");

        net_cache_reset(c);
        c->scanned = true;
        udev_list_entry_foreach(item, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *dev =
                        udev_device_new_from_syspath(udev, udev_list_entry_get_name(item));
                Netdev *n = dev ? netdev_read(dev) : NULL;

                if (n)
                        net_cache_put(c, n);
        }
        return 0;
}

/* Deterministic whatever the hash order: the smallest name wins. */
static const Netdev *pick_smallest(const Netdev *best, const Netdev *n) {
        return !best || strcmp(n->name, best->name) < 0 ? n : best;
}

/* "p0", "p1s0": an uplink's (physical port's) name, as devlink makes it. */
static bool is_uplink_port_name(const char *s) {
        return s[0] == 'p' && g_ascii_isdigit(s[1]);
}

/* The PF's uplink among the netdevs on PF: in switchdev mode its
 * representors sit there too and are told apart by phys_port_name; a
 * netdev without one is the uplink of a kernel or mode that names none. */
static const Netdev *net_cache_uplink(NetCache *c, const char *pf) {
        GPtrArray *a = pf && pf[0] ? g_hash_table_lookup(c->by_pci, pf) : NULL;
        const Netdev *named = NULL, *unnamed = NULL;

        for (guint i = 0; a && i < a->len; i++) {
                const Netdev *n = a->pdata[i];

                if (is_uplink_port_name(n->port_name))
                        named = pick_smallest(named, n);
                else if (!n->port_name[0])
                        unnamed = pick_smallest(unnamed, n);
        }
        return named ?: unnamed;
}

static const Netdev *net_cache_port(NetCache *c, const char *switch_id, const char *port_name) {
        g_autofree char *key = NULL;
        const Netdev *best = NULL;
        GPtrArray *a;

        if (!switch_id[0] || !port_name[0])
                return NULL;
        key = port_key(switch_id, port_name);
        a = g_hash_table_lookup(c->by_port, key);
        for (guint i = 0; a && i < a->len; i++)
                best = pick_smallest(best, a->pdata[i]);
        return best;
}

/* The PfNetdev and Representor of a device on PF from the cache (borrowed
 * from it); PORT is the phys_port_name its representor has ("pf0vf2"), ""
 * or NULL when it has none. */
static void net_cache_names(NetCache *c, const char *pf, const char *port, const char **ret_pf_netdev,
                            const char **ret_representor) {
        const Netdev *uplink = net_cache_uplink(c, pf);
        const Netdev *rep = uplink && port ? net_cache_port(c, uplink->switch_id, port) : NULL;

        *ret_pf_netdev = uplink ? uplink->name : "";
        *ret_representor = rep ? rep->name : "";
}

static void net_cache_fill(NetCache *c, VdpaHardware *hw, const char *port) {
        const char *pf_netdev, *representor;

        net_cache_names(c, hw->physical_function, port, &pf_netdev, &representor);
        set_str(&hw->pf_netdev, pf_netdev);
        set_str(&hw->representor, representor);
}

/* The representor's phys_port_name is made of numbers of the parent
 * chain, which cannot change while the parent exists: read once with the
 * parent (mlx5: pfnum is the PF's PCI function, mlx5_get_dev_index()). */
static bool pci_function_number(const char *address, unsigned *ret) {
        const char *dot = address ? strrchr(address, '.') : NULL;
        guint64 fn;

        if (!dot || !g_ascii_string_to_unsigned(dot + 1, 16, 0, 7, &fn, NULL))
                return false;
        *ret = (unsigned) fn;
        return true;
}

/* VF name -> 1 + N of the PF's "virtfnN" link to it. */
static GHashTable *virtfn_map_read(const char *pf_syspath) {
        GHashTable *map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        /* The links are numbered without gaps from 0; the kernel allows at
         * most 65535 VFs. */
        for (unsigned i = 0; i < 65535; i++) {
                g_autofree char *link = g_strdup_printf("%s/virtfn%u", pf_syspath, i);
                g_autofree char *target = g_file_read_link(link, NULL);

                if (!target)
                        break;
                g_hash_table_replace(map, g_path_get_basename(target), GUINT_TO_POINTER(i + 1));
        }
        return map;
}

/* V of VF on PF. CACHE: PF syspath -> virtfn map, or NULL to read
 * without keeping. */
static bool virtfn_index(GHashTable *cache, const char *pf_syspath, const char *vf, unsigned *ret) {
        g_autoptr(GHashTable) own = NULL;
        GHashTable *map = cache ? g_hash_table_lookup(cache, pf_syspath) : NULL;
        gpointer v = NULL;

        /* A miss re-reads: the PF may have got more VFs since. */
        if (!map || !(v = g_hash_table_lookup(map, vf))) {
                map = virtfn_map_read(pf_syspath);
                if (cache)
                        g_hash_table_replace(cache, g_strdup(pf_syspath), map);
                else
                        own = map;
                v = g_hash_table_lookup(map, vf);
        }
        if (!v)
                return false;
        *ret = GPOINTER_TO_UINT(v) - 1;
        return true;
}

/* A VF and its PF are siblings: both children of the PF's parent. */
static char *vf_port_name(GHashTable *virtfns, struct udev_device *vf, const char *physfn) {
        g_autofree char *dir = g_path_get_dirname(udev_device_get_syspath(vf));
        g_autofree char *pf_syspath = g_build_filename(dir, physfn, NULL);
        unsigned p, v;

        if (!pci_function_number(physfn, &p) || !virtfn_index(virtfns, pf_syspath, udev_device_get_sysname(vf), &v))
                return NULL;
        return g_strdup_printf("pf%uvf%u", p, v);
}

static char *sf_port_name(struct udev_device *sf, const char *pf) {
        const char *sfnum = udev_device_get_sysattr_value(sf, "sfnum");
        g_autofree char *s = sfnum ? g_strstrip(g_strdup(sfnum)) : NULL;
        guint64 n;
        unsigned p;

        if (!s || !pci_function_number(pf, &p) || !g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT32, &n, NULL))
                return NULL;
        return g_strdup_printf("pf%usf%" G_GUINT64_FORMAT, p, n);
}

/* Walk up from P, the device's nearest ancestor device (or NULL).  Also
 * says which phys_port_name its representor has (RET_PORT, NULL: none);
 * VIRTFNS as virtfn_index() takes it. */
static void fill_parent_from(VdpaHardware *hw, struct udev_device *p, GHashTable *virtfns, char **ret_port) {
        clear_parent(hw);
        *ret_port = NULL;

        /* The nearest bus ancestor decides: an auxiliary device in between
         * means a sub-function of the PCI function above it. */
        for (; p; p = udev_device_get_parent(p)) {
                const char *subsystem = udev_device_get_subsystem(p);

                if (streq_ptr(subsystem, "pci")) {
                        g_autofree char *physfn = pci_physfn(p);

                        hw->parent_kind = physfn ? VDPA_PARENT_KIND_VF : VDPA_PARENT_KIND_PF;
                        set_str(&hw->parent_device, udev_device_get_sysname(p));
                        fill_from_pci(hw, p, physfn);
                        if (physfn)
                                *ret_port = vf_port_name(virtfns, p, physfn);
                        return;
                }

                if (streq_ptr(subsystem, "auxiliary")) {
                        struct udev_device *pci;

                        hw->parent_kind = VDPA_PARENT_KIND_SF;
                        set_str(&hw->parent_device, udev_device_get_sysname(p));
                        pci = find_parent_with_subsystem(p, "pci");
                        if (pci) {
                                g_autofree char *physfn = pci_physfn(pci);

                                fill_from_pci(hw, pci, physfn);
                                *ret_port = sf_port_name(p, hw->physical_function);
                        }
                        return;
                }
        }
}

/* The nearest ancestor of SYSPATH that is a device, as libudev's own
 * get_parent finds it, without building the child first. */
static struct udev_device *nearest_parent(struct udev *udev, const char *syspath) {
        g_autofree char *dir = g_path_get_dirname(syspath);

        while (strlen(dir) > strlen("/sys/devices")) {
                struct udev_device *p = udev_device_new_from_syspath(udev, dir);
                char *up;

                if (p)
                        return p;
                up = g_path_get_dirname(dir);
                g_free(dir);
                dir = up;
        }
        return NULL;
}

/* What the directory of device NAME says now: the driver bound, the vhost
 * char device, and which directory its parent is (PARENT may be NULL).
 * Read from sysfs, not from a uevent's properties, which may be older than
 * sysfs; the directory is opened once and everything is read relative to it. */
static int read_device_dir(const char *syspath, const char *name, VdpaHardware *hw, DirId *parent) {
        _cleanup_(closedirp) DIR *d = NULL;
        char driver[PATH_MAX];
        ssize_t n;

        /* Devices received from a monitor may be gone by the time we look. */
        d = opendir(syspath);
        if (!d)
                return -ENODEV;
        if (parent && dir_id(dirfd(d), "..", parent) < 0)
                return -ENODEV;

        n = readlinkat(dirfd(d), "driver", driver, sizeof driver - 1);

        vdpa_hardware_clear(hw);
        hw->name = g_strdup(name);
        hw->syspath = g_strdup(syspath);
        if (n > 0) {
                driver[n] = '\0';
                hw->driver = g_path_get_basename(driver);
        } else
                hw->driver = g_strdup("");
        hw->chardev = find_chardev(d);
        return 0;
}

static bool is_vdpa_device(struct udev_device *dev) {
        return streq_ptr(udev_device_get_subsystem(dev), "vdpa") &&
                udev_device_get_sysname(dev) && udev_device_get_syspath(dev);
}

/* HW must be zero-initialised or hold an earlier result: it is cleared
 * before being filled, and left untouched on error. */
int vdpa_hardware_from_udev(struct udev_device *dev, VdpaHardware *hw) {
        _cleanup_(vdpa_hardware_clear) VdpaHardware n = { .numa_node = -1 };
        g_autofree char *port = NULL;
        NetCache net;
        int r;

        g_return_val_if_fail(dev, -EINVAL);
        g_return_val_if_fail(hw, -EINVAL);

        if (!is_vdpa_device(dev))
                return -EINVAL;
        r = read_device_dir(udev_device_get_syspath(dev), udev_device_get_sysname(dev), &n, NULL);
        if (r < 0)
                return r;
        fill_parent_from(&n, udev_device_get_parent(dev), NULL, &port);
        /* Without an inventory there is no cache to keep current: one
         * look at class net, for this device only. */
        net_cache_init(&net);
        (void) net_cache_scan(&net, udev_device_get_udev(dev));
        net_cache_fill(&net, &n, port);
        net_cache_clear(&net);
        vdpa_hardware_clear(hw);
        *hw = n;
        memset(&n, 0, sizeof n);
        return 0;
}

/* ---------------------------------------------------------- parent cache */

/* What a device inherits from the devices above it (PCI function, PF,
 * NUMA node, ids) cannot change while its parent directory exists: a PCI
 * function that goes away takes its children with it, and one that comes
 * back at the same address is a new directory (a new inode in sysfs).  So the
 * parent part is read once per parent directory and checked by its
 * identity: a vDPA device added again on the same VF or SF (the usual
 * hotplug) costs one statx() instead of a walk through its ancestors. */
typedef struct ParentEntry {
        DirId id;
        VdpaHardware hw;        /* only the parent fields are set */
        char *port;             /* the representor's phys_port_name, NULL none */
} ParentEntry;

static void parent_entry_free(ParentEntry *e) {
        vdpa_hardware_clear(&e->hw);
        g_free(e->port);
        g_free(e);
}

static void copy_parent_fields(VdpaHardware *dst, const VdpaHardware *src) {
        dst->parent_kind = src->parent_kind;
        set_str(&dst->parent_device, src->parent_device);
        set_str(&dst->physical_function, src->physical_function);
        set_str(&dst->address, src->address);
        dst->vendor_id = src->vendor_id;
        dst->product_id = src->product_id;
        dst->numa_node = src->numa_node;
}

/* Hotplug reads parents through the cache and fills it; enumeration does
 * not, so that the cache holds only the parents that see devices come and
 * go, not one entry per device. */
static void fill_parent_cached(Inventory *inv, struct udev *udev, VdpaHardware *hw, const DirId *id, char **ret_port) {
        _cleanup_(udev_device_unrefp) struct udev_device *p = NULL;
        g_autofree char *dir = g_path_get_dirname(hw->syspath);
        ParentEntry *e = g_hash_table_lookup(inv->parents, dir);

        if (e && dir_id_equal(&e->id, id)) {
                copy_parent_fields(hw, &e->hw);
                *ret_port = g_strdup(e->port);
                return;
        }

        p = nearest_parent(udev, hw->syspath);
        fill_parent_from(hw, p, inv->virtfns, ret_port);
        e = g_new0(ParentEntry, 1);
        e->id = *id;
        e->hw.numa_node = -1;
        copy_parent_fields(&e->hw, hw);
        e->port = g_strdup(*ret_port);
        g_hash_table_replace(inv->parents, g_steal_pointer(&dir), e);
}

/* --------------------------------------------------------------- the model */

/* One device of the model in one allocation: the device as the bus shows
 * it, with every string of it packed behind it (an identical string once,
 * so all the empty ones and a VF's Address and ParentDevice share).  A
 * device is never changed in place: a change stores a new entry, so the
 * pointers the callbacks get stay consistent.  In the tree and in by_pf
 * the device's name is the entry's own. */
typedef struct Entry {
        VdpaDevice dev;
        char *port;             /* its representor's phys_port_name, NULL none */
        char blob[];
} Entry;

#define ENTRY_STRINGS 16

static void entry_string_fields(Entry *e, char **f[static ENTRY_STRINGS]) {
        VdpaDevice *d = &e->dev;
        char **all[ENTRY_STRINGS] = {
                &d->hw.name, &d->hw.syspath, &d->hw.driver, &d->hw.chardev,
                &d->hw.parent_device, &d->hw.physical_function, &d->hw.address,
                &d->hw.representor, &d->hw.pf_netdev,
                &d->kernel.type, &d->kernel.mgmtdev, &d->kernel.mac,
                &d->usage.domain, &d->usage.domain_uuid, &d->usage.mac,
                &e->port,
        };

        memcpy(f, all, sizeof all);
}

/* A copy of VIEW (whose strings are borrowed from anywhere, even from the
 * entry it replaces) and PORT that owns its strings.  NULL strings stay
 * NULL: the device's equality tells them from "". */
static Entry *entry_new(const VdpaDevice *view, const char *port) {
        Entry tmp = { .dev = *view, .port = (char *) port }, *e;
        const char *unique[ENTRY_STRINGS];
        unsigned idx[ENTRY_STRINGS], n_unique = 0;
        char **f[ENTRY_STRINGS], *copies[ENTRY_STRINGS], *p;
        size_t size = 0;

        entry_string_fields(&tmp, f);
        for (unsigned i = 0; i < ENTRY_STRINGS; i++) {
                const char *s = *f[i];
                unsigned j;

                if (!s)
                        continue;
                for (j = 0; j < n_unique && strcmp(unique[j], s) != 0; j++)
                        ;
                if (j == n_unique) {
                        unique[n_unique++] = s;
                        size += strlen(s) + 1;
                }
                idx[i] = j;
        }

        e = g_malloc(sizeof *e + size);
        p = e->blob;
        for (unsigned j = 0; j < n_unique; j++) {
                copies[j] = p;
                p = stpcpy(p, unique[j]) + 1;
        }
        for (unsigned i = 0; i < ENTRY_STRINGS; i++)
                if (*f[i])
                        *f[i] = copies[idx[i]];
        e->dev = tmp.dev;
        e->port = tmp.port;
        return e;
}

/* Facts of the kernel's netlink family about one device, kept until its
 * "remove" (it may come before the device does), packed like Entry; its
 * name is the table's key. */
typedef struct KernelEntry {
        VdpaKernelInfo info;
        char *name;
        char blob[];
} KernelEntry;

static size_t str_size(const char *s) {
        return s ? strlen(s) + 1 : 0;
}

static char *pack_str(char **p, const char *s) {
        char *copy = *p;

        if (!s)
                return NULL;
        *p = stpcpy(copy, s) + 1;
        return copy;
}

static KernelEntry *kernel_entry_new(const char *name, const VdpaKernelInfo *src) {
        KernelEntry *k = g_malloc(sizeof *k + str_size(name) + str_size(src->type) + str_size(src->mgmtdev) +
                                  str_size(src->mac));
        char *p = k->blob;

        k->info = *src;
        k->name = pack_str(&p, name);
        k->info.type = pack_str(&p, src->type);
        k->info.mgmtdev = pack_str(&p, src->mgmtdev);
        k->info.mac = pack_str(&p, src->mac);
        return k;
}

static void kernel_put(Inventory *inv, const char *name, const VdpaKernelInfo *info) {
        KernelEntry *k = kernel_entry_new(name, info);

        /* Replacing also takes the new entry's name as the key. */
        g_hash_table_replace(inv->kernel, k->name, k);
}

void vdpa_domain_ref_free(VdpaDomainRef *r) {
        if (!r)
                return;
        g_free(r->domain);
        g_free(r->uuid);
        g_free(r);
}

static const VdpaDomainRef *usage_lookup(Inventory *inv, const char *chardev) {
        if (!inv->usage || !chardev || !chardev[0])
                return NULL;
        return g_hash_table_lookup(inv->usage, chardev);
}

/* The device HW would be now: HW plus everything that is derived rather
 * than read: who uses the device (a claim of ours first, else a domain
 * seen in libvirt), the kernel's facts, the configuration's verdict, and
 * the state.  *D borrows every string (from HW and the inventory's
 * tables): it is only good until the model changes, long enough for
 * entry_new() to copy it. */
static void derive(Inventory *inv, const VdpaHardware *hw, VdpaDevice *d) {
        const VdpaUsage *claim = g_hash_table_lookup(inv->claims, hw->name);
        const KernelEntry *k = g_hash_table_lookup(inv->kernel, hw->name);

        *d = (VdpaDevice) { .hw = *hw };
        if (k)
                d->kernel = k->info;
        if (claim)
                d->usage = *claim;
        else {
                const VdpaDomainRef *ref = usage_lookup(inv, hw->chardev);

                d->usage.domain = (char *) (ref ? strempty(ref->domain) : "");
                d->usage.domain_uuid = (char *) (ref ? strempty(ref->uuid) : "");
                d->usage.mac = (char *) "";
        }
        d->usage.claimed = claim != NULL;
        d->provisioned = g_hash_table_contains(inv->provisioned, hw->name);
        d->allowed = vdpa_config_device_allowed(inv->config, &d->hw);
        d->state = vdpa_device_derive_state(d);
}

static void notify(Inventory *inv, InventoryEvent ev, const VdpaDevice *d) {
        if (inv->cb)
                inv->cb(inv, ev, d, inv->userdata);
}

static void claim_usage_free(gpointer p) {
        VdpaUsage *u = p;

        vdpa_usage_clear(u);
        g_free(u);
}

Inventory *inventory_new(const VdpaConfig *config, InventoryCallback cb, void *userdata) {
        Inventory *inv = g_new0(Inventory, 1);

        /* The keys are the entries' own names. */
        inv->devices = g_tree_new_full(compare_names, NULL, NULL, g_free);
        inv->claims = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, claim_usage_free);
        inv->kernel = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
        inv->provisioned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        inv->parents = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) parent_entry_free);
        net_cache_init(&inv->net);
        inv->virtfns = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_hash_table_unref);
        inv->by_pf = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_hash_table_unref);
        if (!config)
                config = inv->owned_config = vdpa_config_new_default();
        inv->config = config;
        inv->cb = cb;
        inv->userdata = userdata;
        return inv;
}

void inventory_free(Inventory *inv) {
        if (!inv)
                return;
        /* by_pf borrows the entries' names: it goes first. */
        g_clear_pointer(&inv->by_pf, g_hash_table_unref);
        g_tree_destroy(inv->devices);
        g_clear_pointer(&inv->usage, g_hash_table_unref);
        g_clear_pointer(&inv->claims, g_hash_table_unref);
        g_clear_pointer(&inv->kernel, g_hash_table_unref);
        g_clear_pointer(&inv->provisioned, g_hash_table_unref);
        g_clear_pointer(&inv->parents, g_hash_table_unref);
        net_cache_clear(&inv->net);
        g_clear_pointer(&inv->virtfns, g_hash_table_unref);
        vdpa_config_free(inv->owned_config);
        g_free(inv);
}

/* Keep by_pf current.  Its sets hold the entries' own names, so every
 * entry that goes is taken out and every new one put in, even when its
 * PF stayed the same. */
static void pf_index_remove(Inventory *inv, const Entry *e) {
        const char *pf = e->dev.hw.physical_function;
        GHashTable *set;

        if (!pf || !pf[0] || !(set = g_hash_table_lookup(inv->by_pf, pf)))
                return;
        g_hash_table_remove(set, e->dev.hw.name);
        if (g_hash_table_size(set) == 0)
                g_hash_table_remove(inv->by_pf, pf);
}

static void pf_index_add(Inventory *inv, Entry *e) {
        const char *pf = e->dev.hw.physical_function;
        GHashTable *set;

        if (!pf || !pf[0])
                return;
        set = g_hash_table_lookup(inv->by_pf, pf);
        if (!set) {
                set = g_hash_table_new(g_str_hash, g_str_equal);
                g_hash_table_insert(inv->by_pf, g_strdup(pf), set);
        }
        g_hash_table_add(set, e->dev.hw.name);
}

/* Put NEW in the place of OLD (NULL: none), which is freed. */
static void store(Inventory *inv, Entry *old, Entry *new) {
        if (old) {
                pf_index_remove(inv, old);
                inv->state_counts[old->dev.state]--;
        }
        inv->state_counts[new->dev.state]++;
        /* Replacing takes the new key too, then frees OLD. */
        g_tree_replace(inv->devices, new->dev.hw.name, new);
        pf_index_add(inv, new);
}

/* Bring the device NAME to HW (NULL: it is gone), whose representor has
 * PORT as phys_port_name (NULL: none), reporting one event when and only
 * when something visible changed.  NAME, HW and PORT may point into the
 * entry that is replaced. */
static void apply(Inventory *inv, const char *name, const VdpaHardware *hw, const char *port) {
        Entry *old = g_tree_lookup(inv->devices, name), *new;
        InventoryEvent ev;
        VdpaDevice view;

        if (!hw) {
                if (!old)
                        return;
                /* Take it out before reporting, so that the callback already
                 * sees the model without it, and report its last state. */
                g_tree_steal(inv->devices, old->dev.hw.name);
                inv->state_counts[old->dev.state]--;
                pf_index_remove(inv, old);
                notify(inv, INVENTORY_DEVICE_REMOVED, &old->dev);
                g_free(old);
                return;
        }

        derive(inv, hw, &view);
        if (old && vdpa_device_equal(&old->dev, &view)) {
                /* Nothing visible changed; a new port is only kept. */
                if (!streq_ptr(old->port, port))
                        store(inv, old, entry_new(&view, port));
                return;
        }

        ev = old ? INVENTORY_DEVICE_CHANGED : INVENTORY_DEVICE_ADDED;   /* store() frees OLD */
        new = entry_new(&view, port);
        store(inv, old, new);
        notify(inv, ev, &new->dev);
}

/* Re-derive one device after a change of its usage: O(log n). */
static void rederive_one(Inventory *inv, const char *name) {
        Entry *old = g_tree_lookup(inv->devices, name);

        if (old)
                apply(inv, name, &old->dev.hw, old->port);
}

/* Re-derive every device after a change of configuration or usage. */
static void rederive_all(Inventory *inv) {
        g_autoptr(GPtrArray) names = g_ptr_array_new_full(g_tree_nnodes(inv->devices), g_free);
        GTreeNode *n;

        for (n = g_tree_node_first(inv->devices); n; n = g_tree_node_next(n))
                g_ptr_array_add(names, g_strdup(g_tree_node_key(n)));

        /* A callback may have changed the model meanwhile: look each up. */
        for (guint i = 0; i < names->len; i++)
                rederive_one(inv, names->pdata[i]);
}

/* Hotplug before any enumeration (only tests do that) reads class net once. */
static void net_cache_ensure(Inventory *inv, struct udev *udev) {
        int r;

        if (inv->net.scanned)
                return;
        r = net_cache_scan(&inv->net, udev);
        if (r < 0)
                log_warning_errno(r, "Cannot enumerate netdevs, representors unknown: %m");
}

/* Read the device at SYSPATH (named NAME) from sysfs and bring the model
 * to it.  VIRTFNS: as virtfn_index() takes it, for an enumeration (which
 * reads parents without the cache); NULL for an event. */
static void read_and_apply(Inventory *inv, struct udev *udev, const char *syspath, const char *name,
                           GHashTable *virtfns) {
        _cleanup_(vdpa_hardware_clear) VdpaHardware hw = { .numa_node = -1 };
        g_autofree char *port = NULL;
        bool from_event = !virtfns;
        DirId parent;

        if (read_device_dir(syspath, name, &hw, from_event ? &parent : NULL) < 0) {
                log_debug("vDPA device %s vanished while being read", name);
                apply(inv, name, NULL, NULL);
                return;
        }
        if (from_event)
                fill_parent_cached(inv, udev, &hw, &parent, &port);
        else {
                _cleanup_(udev_device_unrefp) struct udev_device *p = nearest_parent(udev, syspath);

                fill_parent_from(&hw, p, virtfns, &port);
        }
        net_cache_ensure(inv, udev);
        net_cache_fill(&inv->net, &hw, port);
        apply(inv, hw.name, &hw, port);
}

/* What the scan of bus "vdpa" found: syspaths in libudev's order. */
typedef struct Scan {
        struct udev *udev;
        GStringChunk *chunk;    /* holds the strings */
        GPtrArray *syspaths;
        bool partial;           /* libudev could not read everything */
        int r;
} Scan;

static void scan_clear(Scan *s) {
        g_clear_pointer(&s->syspaths, g_ptr_array_unref);
        g_clear_pointer(&s->chunk, g_string_chunk_free);
}

/* Freed whole when the scan is done.  Above glibc's initial mmap threshold
 * (128 KiB) each block is a mapping of its own; once glibc has raised the
 * threshold it may sit in the heap instead, and the heap trim that follows
 * every enumeration (main.c, heap-trim.c) hands its pages back. */
#define SCAN_CHUNK_SIZE (512 * 1024)

static gpointer scan_run(gpointer userdata) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        struct udev_list_entry *item;
        Scan *s = userdata;
        guint n = 0;

        e = udev_enumerate_new(s->udev);
        if (!e) {
                s->r = log_error_errno(errno ?: ENOMEM, "Failed to create udev enumerator: %m");
                return NULL;
        }
        s->r = udev_enumerate_add_match_subsystem(e, "vdpa");
        if (s->r < 0) {
                log_error_errno(s->r, "Failed to match subsystem vdpa: %m");
                return NULL;
        }
        /* libudev keeps going past entries it cannot read and reports the
         * last error: use what it found, but do not conclude from a partial
         * scan that anything is gone. */
        s->r = udev_enumerate_scan_devices(e);
        s->partial = s->r < 0;
        if (s->partial)
                log_warning_errno(s->r, "Enumerating vDPA devices was incomplete, keeping devices not found: %m");
        s->r = 0;

        udev_list_entry_foreach(item, udev_enumerate_get_list_entry(e))
                n++;
        s->chunk = g_string_chunk_new(SCAN_CHUNK_SIZE);
        s->syspaths = g_ptr_array_sized_new(n);
        udev_list_entry_foreach(item, udev_enumerate_get_list_entry(e))
                g_ptr_array_add(s->syspaths, g_string_chunk_insert(s->chunk, udev_list_entry_get_name(item)));
        return NULL;
}

/* libudev's enumerator builds a device per entry and frees them all again
 * (~10 MiB at 4096 devices).  Done by the main thread, that much heap
 * would be left with the model's entries, made afterwards, scattered over
 * it, and every later allocation faulting its pages in again (RssAnon
 * 6.4 MiB rather than 11.8 at 4096, bench figure rss).  A thread of its
 * own gets a malloc arena of its own (glibc makes one per thread, up to
 * M_ARENA_MAX), given back whole when the scan ends; only the list is
 * copied out, in mappings of its own.  The caller waits: nothing else
 * runs meanwhile. */
static int scan_vdpa_bus(Scan *s) {
        g_autoptr(GError) error = NULL;
        GThread *t = g_thread_try_new("vdpa-scan", scan_run, s, &error);

        if (t)
                g_thread_join(t);
        else {
                log_debug("Cannot start a thread for the scan, scanning in place: %s", error->message);
                scan_run(s);
        }
        return s->r;
}

static int compare_strings(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int inventory_enumerate(Inventory *inv, struct udev *udev) {
        _cleanup_(scan_clear) Scan scan = { .udev = udev };
        g_autoptr(GHashTable) virtfns = NULL;
        g_autoptr(GPtrArray) seen = NULL, gone = NULL;
        guint k = 0;
        int r;

        g_return_val_if_fail(inv, -EINVAL);
        g_return_val_if_fail(udev, -EINVAL);

        r = scan_vdpa_bus(&scan);
        if (r < 0)
                return r;

        /* A full read is the ground truth again: parents are re-read too
         * (a numa_node overridden by hand is picked up here), and only
         * hotplug fills the cache again.  The VF numbers of the PFs are
         * read once per PF for this read only: kept, they would cost an
         * entry per device. */
        g_hash_table_remove_all(inv->parents);
        g_hash_table_remove_all(inv->virtfns);
        virtfns = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_hash_table_unref);
        /* Net uevents may have been lost with the others: class net is
         * read again too, and every device's Representor and PfNetdev
         * come from this read. */
        r = net_cache_scan(&inv->net, udev);
        if (r < 0)
                log_warning_errno(r, "Cannot enumerate netdevs, keeping the representors known: %m");

        /* The names seen, in the scan's string chunk: nothing per device
         * is left in the heap by the scan. */
        seen = g_ptr_array_sized_new(scan.syspaths->len);
        for (guint i = 0; i < scan.syspaths->len; i++) {
                const char *syspath = scan.syspaths->pdata[i];
                g_autofree char *name = g_path_get_basename(syspath);

                /* libudev's sysname: '!' in a directory name stands for '/'. */
                g_strdelimit(name, "!", '/');
                read_and_apply(inv, udev, syspath, name, virtfns);
                if (g_tree_lookup(inv->devices, name))
                        g_ptr_array_add(seen, g_string_chunk_insert(scan.chunk, name));
        }

        if (scan.partial)
                return 0;

        /* Both in name order: what the tree has beyond SEEN is gone. */
        g_ptr_array_sort(seen, compare_strings);
        gone = g_ptr_array_new_with_free_func(g_free);
        for (GTreeNode *n = g_tree_node_first(inv->devices); n; n = g_tree_node_next(n)) {
                const char *name = g_tree_node_key(n);
                int c = 1;

                while (k < seen->len && (c = strcmp(seen->pdata[k], name)) < 0)
                        k++;
                if (c != 0)
                        g_ptr_array_add(gone, g_strdup(name));
        }
        for (guint i = 0; i < gone->len; i++)
                apply(inv, gone->pdata[i], NULL, NULL);

        return 0;
}

int inventory_handle_uevent(Inventory *inv, struct udev_device *dev) {
        const char *action, *name, *syspath;

        g_return_val_if_fail(inv, -EINVAL);
        g_return_val_if_fail(dev, -EINVAL);

        action = udev_device_get_action(dev);
        name = udev_device_get_sysname(dev);
        syspath = udev_device_get_syspath(dev);
        if (!action || !name || !syspath)
                return -EINVAL;
        if (!streq_ptr(udev_device_get_subsystem(dev), "vdpa"))
                return 0;

        log_debug("uevent %s %s", action, syspath);

        if (streq_ptr(action, "remove")) {
                apply(inv, name, NULL, NULL);
                /* A device of the same name later is another device: its
                 * facts come with its own "add". */
                g_hash_table_remove(inv->kernel, name);
                return 0;
        }

        if (streq_ptr(action, "move")) {
                const char *old = udev_device_get_property_value(dev, "DEVPATH_OLD");

                if (old) {
                        g_autofree char *old_name = g_path_get_basename(old);

                        if (!streq_ptr(old_name, name))
                                apply(inv, old_name, NULL, NULL);
                }
        }

        /* add, bind, unbind, change, move and anything new: the event only
         * says "look again"; what counts is what sysfs says now, not the
         * properties the event carried. */
        read_and_apply(inv, udev_device_get_udev(dev), syspath, name, NULL);
        return 0;
}

/* A private copy: the caller's table may be freed or reused after the call. */
static GHashTable *copy_usage(GHashTable *src) {
        GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                              (GDestroyNotify) vdpa_domain_ref_free);
        GHashTableIter i;
        gpointer k, v;

        g_hash_table_iter_init(&i, src);
        while (g_hash_table_iter_next(&i, &k, &v)) {
                const VdpaDomainRef *r = v;
                VdpaDomainRef *c;

                if (!k || !r)
                        continue;
                c = g_new0(VdpaDomainRef, 1);
                c->domain = g_strdup(r->domain);
                c->uuid = g_strdup(r->uuid);
                g_hash_table_replace(t, g_strdup(k), c);
        }
        return t;
}

void inventory_set_domain_usage(Inventory *inv, GHashTable *chardev_to_ref) {
        g_return_if_fail(inv);

        g_clear_pointer(&inv->usage, g_hash_table_unref);
        if (chardev_to_ref)
                inv->usage = copy_usage(chardev_to_ref);
        rederive_all(inv);
}

void inventory_set_config(Inventory *inv, const VdpaConfig *config) {
        g_return_if_fail(inv);

        if (!config) {
                if (!inv->owned_config)
                        inv->owned_config = vdpa_config_new_default();
                config = inv->owned_config;
        } else if (config != inv->owned_config)
                g_clear_pointer(&inv->owned_config, vdpa_config_free);

        inv->config = config;
        rederive_all(inv);
}

const VdpaDevice *inventory_lookup(Inventory *inv, const char *name) {
        g_return_val_if_fail(inv, NULL);

        Entry *e;

        if (!name)
                return NULL;
        e = g_tree_lookup(inv->devices, name);
        return e ? &e->dev : NULL;
}

guint inventory_count(Inventory *inv) {
        g_return_val_if_fail(inv, 0);

        return g_tree_nnodes(inv->devices);
}

guint inventory_count_state(Inventory *inv, VdpaDeviceState state) {
        g_return_val_if_fail(inv, 0);
        g_return_val_if_fail((size_t) state < G_N_ELEMENTS(inv->state_counts), 0);

        return inv->state_counts[state];
}

void inventory_foreach(Inventory *inv, InventoryForeachFunc func, void *userdata) {
        g_return_if_fail(inv);
        g_return_if_fail(func);

        for (GTreeNode *i = g_tree_node_first(inv->devices); i; i = g_tree_node_next(i)) {
                const Entry *e = g_tree_node_value(i);

                if (!func(&e->dev, userdata))
                        return;
        }
}

void inventory_set_claim(Inventory *inv, const char *name, const VdpaUsage *claim) {
        g_return_if_fail(inv);
        g_return_if_fail(name);

        if (claim) {
                VdpaUsage *u = g_new0(VdpaUsage, 1);

                vdpa_usage_copy(u, claim);
                u->claimed = true;
                g_hash_table_replace(inv->claims, g_strdup(name), u);
        } else
                g_hash_table_remove(inv->claims, name);
        rederive_one(inv, name);
}

void inventory_set_domain_user(Inventory *inv, const char *name, const char *domain, const char *uuid) {
        const VdpaDevice *d = inventory_lookup(inv, name);

        if (!d || !d->hw.chardev || !d->hw.chardev[0])
                return;
        if (!inv->usage)
                inv->usage = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                   (GDestroyNotify) vdpa_domain_ref_free);
        if (domain && domain[0]) {
                VdpaDomainRef *r = g_new0(VdpaDomainRef, 1);

                r->domain = g_strdup(domain);
                r->uuid = g_strdup(strempty(uuid));
                g_hash_table_replace(inv->usage, g_strdup(d->hw.chardev), r);
        } else
                g_hash_table_remove(inv->usage, d->hw.chardev);
        rederive_one(inv, name);
}

void inventory_set_kernel_info(Inventory *inv, const char *name, const VdpaKernelInfo *info) {
        g_return_if_fail(inv);
        g_return_if_fail(name);

        if (info)
                kernel_put(inv, name, info);
        else
                g_hash_table_remove(inv->kernel, name);
        rederive_one(inv, name);
}

void inventory_set_provisioned(Inventory *inv, const char *name, bool provisioned) {
        g_return_if_fail(inv);
        g_return_if_fail(name);

        if (provisioned)
                g_hash_table_add(inv->provisioned, g_strdup(name));
        else
                g_hash_table_remove(inv->provisioned, name);
        rederive_one(inv, name);
}

void inventory_replace_kernel_info(Inventory *inv, GHashTable *table) {
        GHashTableIter i;
        gpointer k, v;

        g_return_if_fail(inv);

        g_hash_table_remove_all(inv->kernel);
        if (table) {
                g_hash_table_iter_init(&i, table);
                while (g_hash_table_iter_next(&i, &k, &v))
                        kernel_put(inv, k, v);
        }
        rederive_all(inv);
}

/* ---------------------------------------------------------- net uevents */

/* Re-derive the net facts of device NAME from the cache: O(log n). */
static void refresh_net_one(Inventory *inv, const char *name) {
        Entry *old = g_tree_lookup(inv->devices, name);
        const char *pf_netdev, *representor;
        VdpaHardware hw;

        if (!old)
                return;
        net_cache_names(&inv->net, old->dev.hw.physical_function, old->port, &pf_netdev, &representor);
        /* Borrowed strings: apply() copies them before OLD goes. */
        hw = old->dev.hw;
        hw.pf_netdev = (char *) pf_netdev;
        hw.representor = (char *) representor;
        apply(inv, name, &hw, old->port);
}

/* What a changed netdev can affect: the PF it sits on, and the PFs whose
 * uplink is on its switch. */
typedef struct NetTouch {
        GHashTable *pcis;
        GHashTable *switches;
} NetTouch;

static void net_touch(NetTouch *t, const Netdev *n) {
        if (!n)
                return;
        if (n->pci[0])
                g_hash_table_add(t->pcis, g_strdup(n->pci));
        if (n->switch_id[0])
                g_hash_table_add(t->switches, g_strdup(n->switch_id));
}

/* T NULL: every PF.  Only PFs that have devices are looked at, so that
 * the cost is in the devices affected, not in the netdevs of the host. */
static void refresh_net_pfs(Inventory *inv, const NetTouch *t) {
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        GHashTableIter i;
        gpointer pf, set;

        g_hash_table_iter_init(&i, inv->by_pf);
        while (g_hash_table_iter_next(&i, &pf, &set)) {
                const Netdev *uplink = net_cache_uplink(&inv->net, pf);
                GHashTableIter j;
                gpointer name;

                if (t && !g_hash_table_contains(t->pcis, pf) &&
                    !(uplink && g_hash_table_contains(t->switches, uplink->switch_id)))
                        continue;
                g_hash_table_iter_init(&j, set);
                while (g_hash_table_iter_next(&j, &name, NULL))
                        g_ptr_array_add(names, g_strdup(name));
        }
        /* apply() changes by_pf and may call back: not while iterating. */
        for (guint k = 0; k < names->len; k++)
                refresh_net_one(inv, names->pdata[k]);
}

/* The syspath a "move" came from: DEVPATH_OLD is a devpath, relative to
 * the sysfs mount the device's own syspath shows. */
static char *old_syspath(struct udev_device *dev) {
        const char *old = udev_device_get_property_value(dev, "DEVPATH_OLD");
        const char *syspath = udev_device_get_syspath(dev), *devpath = udev_device_get_devpath(dev);
        g_autofree char *mount = NULL;
        size_t ls, ld;

        if (!old || !syspath || !devpath)
                return NULL;
        ls = strlen(syspath);
        ld = strlen(devpath);
        if (ld > ls || !streq_ptr(syspath + ls - ld, devpath))
                return NULL;
        mount = g_strndup(syspath, ls - ld);
        return g_strconcat(mount, old, NULL);
}

int inventory_handle_net_uevent(Inventory *inv, struct udev_device *dev) {
        _cleanup_(udev_device_unrefp) struct udev_device *now = NULL;
        g_autoptr(GHashTable) pcis = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GHashTable) switches = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        NetTouch t = { pcis, switches };
        const char *action, *syspath;
        Netdev *n;

        g_return_val_if_fail(inv, -EINVAL);
        g_return_val_if_fail(dev, -EINVAL);

        action = udev_device_get_action(dev);
        syspath = udev_device_get_syspath(dev);
        if (!action || !syspath)
                return -EINVAL;
        if (!streq_ptr(udev_device_get_subsystem(dev), "net"))
                return 0;

        log_debug("net uevent %s %s", action, syspath);

        if (!inv->net.scanned) {
                /* Nothing known yet to change by one entry. */
                net_cache_ensure(inv, udev_device_get_udev(dev));
                refresh_net_pfs(inv, NULL);
                return 0;
        }

        if (streq_ptr(action, "move")) {
                g_autofree char *old = old_syspath(dev);

                if (old) {
                        n = net_cache_take(&inv->net, old);
                        net_touch(&t, n);
                        netdev_free(n);
                } else
                        log_debug("net uevent move of %s without DEVPATH_OLD", syspath);
        }

        n = net_cache_take(&inv->net, syspath);
        net_touch(&t, n);
        netdev_free(n);

        /* Anything but "remove" means "look again": what counts is what
         * sysfs says now (a netdev added and gone again reads as gone). */
        if (!streq_ptr(action, "remove"))
                now = udev_device_new_from_syspath(udev_device_get_udev(dev), syspath);
        n = now ? netdev_read(now) : NULL;
        if (n) {
                net_touch(&t, n);
                net_cache_put(&inv->net, n);
        }

        if (g_hash_table_size(pcis) > 0 || g_hash_table_size(switches) > 0)
                refresh_net_pfs(inv, &t);
        return 0;
}
