/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "testbed.h"

#include <fcntl.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>

#define VHOST_VDPA_MAJOR 509

/* Recursive: the public functions call each other (add_card calls
 * add_vdpa and bind_vhost). */
static GRecMutex tb_lock;

void vdpa_testbed_lock(void) {
        g_rec_mutex_lock(&tb_lock);
}

void vdpa_testbed_unlock(void) {
        g_rec_mutex_unlock(&tb_lock);
}

#define TB_LOCKED() G_GNUC_UNUSED g_autoptr(GRecMutexLocker) _tb_locker = g_rec_mutex_locker_new(&tb_lock)

static char *tb_path(UMockdevTestbed *tb, const char *syspath, const char *leaf) {
        /* get_root_dir() returns a new string (Vala "owned"). */
        g_autofree char *root = umockdev_testbed_get_root_dir(tb);

        return g_build_filename(root, syspath, leaf, NULL);
}

static void add_record(UMockdevTestbed *tb, const char *record) {
        g_autoptr(GError) error = NULL;

        if (!umockdev_testbed_add_from_string(tb, record, &error))
                g_error("umockdev rejected a record: %s\n%s", error->message, record);
}

void vdpa_testbed_add_vdpa_bus(UMockdevTestbed *tb) {
        static const char *const dirs[] = {
                "sys/bus/vdpa/devices",
                "sys/bus/vdpa/drivers/vhost_vdpa",
                "sys/bus/vdpa/drivers/virtio_vdpa",
        };

        TB_LOCKED();
        g_autofree char *root = umockdev_testbed_get_root_dir(tb);

        for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
                g_autofree char *p = g_build_filename(root, dirs[i], NULL);
                g_assert_cmpint(g_mkdir_with_parents(p, 0755), ==, 0);
        }
}

void vdpa_testbed_add_vdpa_full(UMockdevTestbed *tb, const char *syspath,
                                guint32 device_id, guint32 vendor_id) {
        TB_LOCKED();
        g_autofree char *rec = NULL;

        g_assert_true(g_str_has_prefix(syspath, "/sys/devices/"));
        rec = g_strdup_printf("P: %s\n"
                              "E: SUBSYSTEM=vdpa\n"
                              "E: MODALIAS=vdpa:d%08Xv%08X\n"
                              "A: driver_override=(null)\\n\n",
                              syspath + strlen("/sys"), device_id, vendor_id);
        add_record(tb, rec);
}

void vdpa_testbed_add_vdpa(UMockdevTestbed *tb, const char *syspath) {
        vdpa_testbed_add_vdpa_full(tb, syspath, 1, 0x15b3);
}

static void note_minors(const char *dir, GHashTable *used) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *e;
        guint64 n;

        while (d && (e = g_dir_read_name(d)))
                if (g_str_has_prefix(e, "vhost-vdpa-") &&
                    g_ascii_string_to_unsigned(e + strlen("vhost-vdpa-"), 10, 0, G_MAXINT, &n, NULL))
                        g_hash_table_add(used, GINT_TO_POINTER((int) n));
}

int vdpa_testbed_free_vhost_minor(UMockdevTestbed *tb) {
        static const char *const lists[] = { "sys/bus/vdpa/devices", "sys/class/vdpa" };
        TB_LOCKED();
        g_autofree char *root = umockdev_testbed_get_root_dir(tb);
        g_autofree char *dev = g_build_filename(root, "dev", NULL);
        g_autoptr(GHashTable) used = g_hash_table_new(NULL, NULL);
        int minor = 0;

        /* umockdev files vdpa devices under /sys/class unless /sys/bus/vdpa
         * existed when they were added: look in both. */
        for (size_t i = 0; i < G_N_ELEMENTS(lists); i++) {
                g_autofree char *p = g_build_filename(root, lists[i], NULL);
                g_autoptr(GDir) d = g_dir_open(p, 0, NULL);
                const char *e;

                while (d && (e = g_dir_read_name(d))) {
                        g_autofree char *sub = g_build_filename(p, e, NULL);
                        note_minors(sub, used);
                }
        }
        note_minors(dev, used);
        while (g_hash_table_contains(used, GINT_TO_POINTER(minor)))
                minor++;
        return minor;
}

/* The driver link is relative, as the kernel makes it. */
static char *driver_link_target(const char *syspath, const char *driver) {
        GString *t = g_string_new(NULL);

        /* one "../" per component below /sys */
        for (const char *p = syspath + strlen("/sys"); (p = strchr(p, '/')); p++)
                g_string_append(t, "../");
        g_string_append_printf(t, "bus/vdpa/drivers/%s", driver);
        return g_string_free(t, FALSE);
}

void vdpa_testbed_bind_vhost(UMockdevTestbed *tb, const char *syspath, int minor) {
        g_autofree char *rec = g_strdup_printf(
                "P: %s/vhost-vdpa-%d\n"
                "N: vhost-vdpa-%d\n"
                "E: DEVNAME=/dev/vhost-vdpa-%d\n"
                "E: MAJOR=%d\n"
                "E: MINOR=%d\n"
                "E: SUBSYSTEM=vhost-vdpa\n"
                "A: dev=%d:%d\\n\n",
                syspath + strlen("/sys"), minor, minor, minor,
                VHOST_VDPA_MAJOR, minor, VHOST_VDPA_MAJOR, minor);
        TB_LOCKED();
        g_autofree char *link = tb_path(tb, syspath, "driver");
        g_autofree char *target = driver_link_target(syspath, "vhost_vdpa");

        add_record(tb, rec);
        g_assert_cmpint(symlink(target, link), ==, 0);
        umockdev_testbed_set_property(tb, syspath, "DRIVER", "vhost_vdpa");
        umockdev_testbed_uevent(tb, syspath, "bind");
}

/* The uevent file without its DRIVER= line. */
static char *uevent_without_driver(const char *path) {
        g_autofree char *old = NULL;
        g_auto(GStrv) lines = NULL;
        GString *out = g_string_new(NULL);

        g_assert_true(g_file_get_contents(path, &old, NULL, NULL));
        lines = g_strsplit(old, "\n", -1);
        for (char **l = lines; *l; l++)
                if (**l && !g_str_has_prefix(*l, "DRIVER="))
                        g_string_append_printf(out, "%s\n", *l);
        return g_string_free(out, FALSE);
}

void vdpa_testbed_unbind(UMockdevTestbed *tb, const char *syspath, int minor) {
        TB_LOCKED();
        g_autofree char *link = tb_path(tb, syspath, "driver");
        g_autofree char *uevent = tb_path(tb, syspath, "uevent");
        g_autofree char *contents = NULL;

        if (minor >= 0) {
                g_autofree char *child = g_strdup_printf("%s/vhost-vdpa-%d", syspath, minor);
                umockdev_testbed_remove_device(tb, child);
        }
        g_assert_cmpint(g_unlink(link), ==, 0);
        /* The kernel drops DRIVER= from the uevent file once unbound. */
        contents = uevent_without_driver(uevent);
        g_assert_true(g_file_set_contents(uevent, contents, -1, NULL));
        umockdev_testbed_uevent(tb, syspath, "unbind");
}

void vdpa_testbed_remove(UMockdevTestbed *tb, const char *syspath) {
        TB_LOCKED();
        umockdev_testbed_uevent(tb, syspath, "remove");
        umockdev_testbed_remove_device(tb, syspath);
}

static void add_pci(UMockdevTestbed *tb, const char *path, guint16 vendor, guint16 device,
                    int numa_node, const char *driver, const char *physfn) {
        g_autofree char *drv = NULL;
        g_autofree char *rec = NULL;
        GString *t = g_string_new(NULL);

        for (const char *p = path; (p = strchr(p, '/')); p++)
                g_string_append(t, "../");
        g_string_append_printf(t, "bus/pci/drivers/%s", driver);
        drv = g_string_free(t, FALSE);

        rec = g_strdup_printf("P: %s\n"
                              "E: SUBSYSTEM=pci\n"
                              "E: DRIVER=%s\n"
                              "A: vendor=0x%04x\\n\n"
                              "A: device=0x%04x\\n\n"
                              "A: numa_node=%d\\n\n"
                              "L: driver=%s\n"
                              "%s%s%s",
                              path, driver, vendor, device, numa_node, drv,
                              physfn ? "L: physfn=../" : "", physfn ? physfn : "", physfn ? "\n" : "");
        add_record(tb, rec);
}

void vdpa_testbed_add_card(UMockdevTestbed *tb, guint root_bus, int numa_node, guint n_vfs,
                           const char *prefix, guint first, guint first_minor) {
        TB_LOCKED();
        guint bus = root_bus + 1;
        g_autofree char *root = g_strdup_printf("/devices/pci0000:%02x/0000:%02x:00.0", root_bus, root_bus);
        g_autofree char *pf_addr = g_strdup_printf("0000:%02x:00.0", bus);
        g_autofree char *pf = g_strdup_printf("%s/%s", root, pf_addr);

        g_assert_cmpuint(n_vfs, <=, 254);
        add_pci(tb, root, 0x8086, 0x2030, numa_node, "pcieport", NULL);
        add_pci(tb, pf, 0x15b3, 0x101d, numa_node, "mlx5_core", NULL);

        for (guint i = 0; i < n_vfs; i++) {
                guint fn = i + 2;
                g_autofree char *vf = g_strdup_printf("%s/0000:%02x:%02x.%x", root, bus, fn / 8, fn % 8);
                g_autofree char *vdpa = g_strdup_printf("/sys%s/%s%u", vf, prefix, first + i);

                add_pci(tb, vf, 0x15b3, 0x101e, numa_node, "mlx5_core", pf_addr);
                vdpa_testbed_add_vdpa(tb, vdpa);
                vdpa_testbed_bind_vhost(tb, vdpa, (int) (first_minor + i));
        }
}

void vdpa_testbed_isolate_uevent_queue(void) {
        int fd;

        g_assert_cmpint(unshare(CLONE_NEWNET), ==, 0);
        fd = open("/proc/sys/net/unix/max_dgram_qlen", O_WRONLY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, "1024", 4), ==, 4);
        g_assert_cmpint(close(fd), ==, 0);
}

/* ---- PCI functions and SR-IOV ---- */

typedef struct {
        guint domain, bus, devfn; /* bus may pass 0xff only transiently */
} PciAddr;

static gboolean pci_addr_parse(const char *s, PciAddr *a) {
        static const char shape[] = "xxxx:xx:xx.x";
        guint v[4] = { 0 }, field = 0;

        if (!s || strlen(s) != strlen(shape))
                return FALSE;
        for (size_t i = 0; shape[i]; i++) {
                if (shape[i] != 'x') {
                        if (s[i] != shape[i])
                                return FALSE;
                        field++;
                } else if (!g_ascii_isxdigit(s[i])) {
                        return FALSE;
                } else {
                        v[field] = v[field] * 16 + (guint) g_ascii_xdigit_value(s[i]);
                }
        }
        if (v[2] > 0x1f || v[3] > 7)
                return FALSE;
        a->domain = v[0];
        a->bus = v[1];
        a->devfn = v[2] << 3 | v[3];
        return TRUE;
}

static char *pci_addr_format(const PciAddr *a) {
        return g_strdup_printf("%04x:%02x:%02x.%x", a->domain, a->bus, a->devfn >> 3, a->devfn & 7);
}

/* The routing ID arithmetic of pci_iov_virtfn_bus()/_devfn(). */
static PciAddr vf_addr(const PciAddr *pf, guint offset, guint stride, guint index) {
        guint rid = (pf->bus << 8 | pf->devfn) + offset + stride * index;
        PciAddr a = { pf->domain, rid >> 8, rid & 0xff };

        return a;
}

/* A function as its sysfs directory and uevent file show it. */
typedef struct {
        const char *syspath; /* /sys/devices/... */
        const char *address;
        guint vendor, device, subsys_vendor, subsys_device, class;
        const char *numa_node, *cpulist; /* attribute contents, with "\n" */
        const char *driver;               /* NULL: unbound */
} PciFn;

static const char *sys_rel(const char *syspath) {
        return syspath + strlen("/sys");
}

/* "../" from the directory SYSPATH up to /sys. */
static char *up_to_sys(const char *syspath) {
        GString *t = g_string_new(NULL);

        for (const char *p = sys_rel(syspath); (p = strchr(p, '/')); p++)
                g_string_append(t, "../");
        return g_string_free(t, FALSE);
}

/* Plain writes: umockdev's per-attribute API costs milliseconds a file,
 * and the preload reads nothing but the files. */
static void put_file(const char *dir, const char *name, const char *value) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        gssize len = (gssize) strlen(value);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || write(fd, value, (size_t) len) != len || close(fd) != 0)
                g_error("testbed: writing %s: %s", p, g_strerror(errno));
}

static void put_link(const char *dir, const char *name, const char *target) {
        g_autofree char *p = g_build_filename(dir, name, NULL);

        if (symlink(target, p) != 0)
                g_error("testbed: symlink %s: %s", p, g_strerror(errno));
}

static void drop_link(const char *dir, const char *name) {
        g_autofree char *p = g_build_filename(dir, name, NULL);

        if (unlink(p) != 0)
                g_error("testbed: unlink %s: %s", p, g_strerror(errno));
}

/* dev_uevent() puts DRIVER= before the bus's variables. */
static char *pci_uevent(const PciFn *f, gboolean bound) {
        return g_strdup_printf("%s%s%s"
                               "MODALIAS=pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n"
                               "PCI_CLASS=%X\n"
                               "PCI_ID=%04X:%04X\n"
                               "PCI_SLOT_NAME=%s\n"
                               "PCI_SUBSYS_ID=%04X:%04X\n"
                               "SUBSYSTEM=pci\n",
                               bound ? "DRIVER=" : "", bound ? f->driver : "", bound ? "\n" : "", f->vendor, f->device,
                               f->subsys_vendor, f->subsys_device, f->class >> 16, (f->class >> 8) & 0xff,
                               f->class & 0xff, f->class, f->vendor, f->device, f->address, f->subsys_vendor,
                               f->subsys_device);
}

/* Files relative to an open directory: the testbed's paths are long and
 * a VF takes a dozen files. */
static void put_file_at(int dfd, const char *name, const char *value) {
        gssize len = (gssize) strlen(value);
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || write(fd, value, (size_t) len) != len || close(fd) != 0)
                g_error("testbed: writing %s: %s", name, g_strerror(errno));
}

static void put_link_at(int dfd, const char *name, const char *target) {
        if (symlinkat(target, dfd, name) != 0)
                g_error("testbed: symlink %s: %s", name, g_strerror(errno));
}

/* "0x<DIGITS hex digits>\n" as the PCI core prints IDs; DIGITS 0: decimal */
static void put_uint_at(int dfd, const char *name, int digits, guint value) {
        char buf[32];

        if (digits)
                g_snprintf(buf, sizeof(buf), "0x%0*x\n", digits, value);
        else
                g_snprintf(buf, sizeof(buf), "%u\n", value);
        put_file_at(dfd, name, buf);
}

static int open_dir(const char *dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd < 0)
                g_error("testbed: open %s: %s", dir, g_strerror(errno));
        return dfd;
}

static void pci_bind_files(const char *root, const PciFn *f) {
        g_autofree char *dir = g_build_filename(root, f->syspath, NULL);
        g_autofree char *up = up_to_sys(f->syspath);
        g_autofree char *drv = g_strdup_printf("%sbus/pci/drivers/%s", up, f->driver);
        g_autofree char *uevent = pci_uevent(f, TRUE);

        put_link(dir, "driver", drv);
        put_file(dir, "uevent", uevent);
}

/* The function's directory (its parent exists), bound to F->driver unless
 * BOUND is FALSE; BUS_DFD is /sys/bus/pci/devices.  The bus link comes
 * last: an enumeration meanwhile does not see half a device. */
static void pci_write(const char *root, int bus_dfd, const PciFn *f, gboolean bound) {
        g_autofree char *dir = g_build_filename(root, f->syspath, NULL);
        g_autofree char *up = up_to_sys(f->syspath);
        g_autofree char *subsystem = g_strconcat(up, "bus/pci", NULL);
        g_autofree char *drv = g_strdup_printf("%sbus/pci/drivers/%s", up, f->driver);
        g_autofree char *dev_link = g_strconcat("../../..", sys_rel(f->syspath), NULL);
        g_autofree char *uevent = pci_uevent(f, bound);
        int dfd;

        if (g_mkdir(dir, 0755) != 0)
                g_error("testbed: mkdir %s: %s", dir, g_strerror(errno));
        dfd = open_dir(dir);
        put_uint_at(dfd, "class", 6, f->class);
        put_uint_at(dfd, "vendor", 4, f->vendor);
        put_uint_at(dfd, "device", 4, f->device);
        put_uint_at(dfd, "subsystem_vendor", 4, f->subsys_vendor);
        put_uint_at(dfd, "subsystem_device", 4, f->subsys_device);
        put_file_at(dfd, "numa_node", f->numa_node);
        put_file_at(dfd, "local_cpulist", f->cpulist);
        put_file_at(dfd, "uevent", uevent);
        put_link_at(dfd, "subsystem", subsystem);
        if (bound)
                put_link_at(dfd, "driver", drv);
        close(dfd);
        put_link_at(bus_dfd, f->address, dev_link);
}

static int open_bus_dir(const char *root) {
        g_autofree char *bus = g_build_filename(root, "sys/bus/pci/devices", NULL);

        if (g_mkdir_with_parents(bus, 0755) != 0)
                g_error("testbed: mkdir %s: %s", bus, g_strerror(errno));
        return open_dir(bus);
}

/* realpath() in GLib's allocator; NULL when PATH does not resolve. */
static char *canonical_path(const char *path) {
        char *c = realpath(path, NULL);
        char *r = g_strdup(c);

        free(c);
        return r;
}

/* The simulator works on canonical paths: so do the functions that
 * compute syspaths from the bus links. */
static char *canonical_root(UMockdevTestbed *tb) {
        g_autofree char *root = umockdev_testbed_get_root_dir(tb);
        char *c = canonical_path(root);

        return c ? c : g_strdup(root);
}

/* "/sys/devices/..." of the PCI function ADDRESS, or NULL. */
static char *pci_syspath(const char *root, const char *address) {
        g_autofree char *link = g_build_filename(root, "sys/bus/pci/devices", address, NULL);
        g_autofree char *c = canonical_path(link);

        if (c && g_str_has_prefix(c, root) && g_str_has_prefix(c + strlen(root), "/sys/devices/"))
                return g_strdup(c + strlen(root));
        return NULL;
}

static gboolean pci_exists(const char *root, const char *address) {
        g_autofree char *link = g_build_filename(root, "sys/bus/pci/devices", address, NULL);

        return g_file_test(link, G_FILE_TEST_IS_SYMLINK) || g_file_test(link, G_FILE_TEST_EXISTS);
}

static guint read_uint_attr(const char *dir, const char *name, guint fallback) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        g_autofree char *text = NULL;

        if (!g_file_get_contents(p, &text, NULL, NULL))
                return fallback;
        return (guint) g_ascii_strtoull(text, NULL, 0);
}

static char *read_attr(const char *dir, const char *name, const char *fallback) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        char *text = NULL;

        return g_file_get_contents(p, &text, NULL, NULL) ? text : g_strdup(fallback);
}

/* The routing of PF FN's VFs when the PF does not publish it: the layout
 * of a two-port card whose PFs' VFs follow the PFs, PF by PF. */
static guint default_vf_offset(guint fn, guint totalvfs) {
        return 2 + fn * (totalvfs - 1);
}

/* The VFs' part of the PF's sysfs (sriov_numvfs = its virtfn links). */
static void count_vfs(const char *pf_dir) {
        g_autoptr(GDir) d = g_dir_open(pf_dir, 0, NULL);
        const char *e;
        guint n = 0;
        char buf[16];

        while (d && (e = g_dir_read_name(d)))
                n += g_str_has_prefix(e, "virtfn");
        g_snprintf(buf, sizeof(buf), "%u\n", n);
        put_file(pf_dir, "sriov_numvfs", buf);
}

static const PciFn CX6DX_VF = {
        .vendor = 0x15b3, .device = 0x101e, .subsys_vendor = 0x15b3, .subsys_device = 0x0016,
        .class = 0x020000, .numa_node = "0\n", .cpulist = "0-15\n", .driver = "mlx5_core",
};
static const PciFn CX6DX_PF = {
        .vendor = 0x15b3, .device = 0x101d, .subsys_vendor = 0x15b3, .subsys_device = 0x0016,
        .class = 0x020000, .numa_node = "0\n", .cpulist = "0-15\n", .driver = "mlx5_core",
};
static const PciFn ROOT_PORT = {
        .vendor = 0x8086, .device = 0x2030, .subsys_vendor = 0x8086, .subsys_device = 0x0000,
        .class = 0x060400, .numa_node = "0\n", .cpulist = "0-15\n", .driver = "pcieport",
};

/* What a PF's VFs inherit and where they go, read once. */
typedef struct {
        PciAddr addr;
        const char *address;
        char *syspath, *dir, *parent;
        guint total, offset, stride;
        PciFn vf; /* the VFs' template; its strings are the two below */
        char *numa_node, *cpulist;
} Pf;

static void pf_clear(Pf *pf) {
        g_free(pf->syspath);
        g_free(pf->dir);
        g_free(pf->parent);
        g_free(pf->numa_node);
        g_free(pf->cpulist);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Pf, pf_clear)

static void pf_load(Pf *pf, const char *root, const char *syspath, const char *address, const PciAddr *addr) {
        pf->addr = *addr;
        pf->address = address;
        pf->syspath = g_strdup(syspath);
        pf->dir = g_build_filename(root, syspath, NULL);
        pf->parent = g_path_get_dirname(syspath);
        pf->total = read_uint_attr(pf->dir, "sriov_totalvfs", 8);
        pf->offset = read_uint_attr(pf->dir, "sriov_offset", default_vf_offset(addr->devfn & 7, pf->total));
        pf->stride = read_uint_attr(pf->dir, "sriov_stride", 1);
        pf->vf = CX6DX_VF;
        pf->numa_node = read_attr(pf->dir, "numa_node", CX6DX_VF.numa_node);
        pf->cpulist = read_attr(pf->dir, "local_cpulist", CX6DX_VF.cpulist);
        pf->vf.numa_node = pf->numa_node;
        pf->vf.cpulist = pf->cpulist;
        pf->vf.subsys_vendor = read_uint_attr(pf->dir, "subsystem_vendor", CX6DX_VF.subsys_vendor);
        pf->vf.subsys_device = read_uint_attr(pf->dir, "subsystem_device", CX6DX_VF.subsys_device);
}

/* A VF to be: FN's syspath and address point into the other members. */
typedef struct {
        PciFn fn;
        char *syspath, *address;
} VfSpec;

static void vf_spec_clear(VfSpec *v) {
        g_free(v->syspath);
        g_free(v->address);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VfSpec, vf_spec_clear)

/* FALSE when INDEX is beyond the PF's sriov_totalvfs (or bus ff). */
static gboolean vf_spec(const Pf *pf, guint index, VfSpec *v) {
        PciAddr a = vf_addr(&pf->addr, pf->offset, pf->stride, index);

        if (index >= pf->total || a.bus > 0xff)
                return FALSE;
        v->fn = pf->vf;
        v->address = pci_addr_format(&a);
        v->syspath = g_build_filename(pf->parent, v->address, NULL);
        v->fn.syspath = v->syspath;
        v->fn.address = v->address;
        return TRUE;
}

/* pci_iov_sysfs_link() */
static void link_vf(const char *root, const Pf *pf, guint index, const VfSpec *v) {
        g_autofree char *vf_dir = g_build_filename(root, v->syspath, NULL);
        g_autofree char *physfn = g_strconcat("../", pf->address, NULL);
        g_autofree char *virtfn = g_strconcat("../", v->address, NULL);
        g_autofree char *name = g_strdup_printf("virtfn%u", index);

        put_link(vf_dir, "physfn", physfn);
        put_link(pf->dir, name, virtfn);
}

/* The PF at ADDRESS, as its syspath; NULL and ERROR when it is missing or
 * a VF. */
static char *find_pf(const char *root, const char *address, GError **error) {
        g_autofree char *syspath = pci_syspath(root, address);
        g_autofree char *dir = syspath ? g_build_filename(root, syspath, NULL) : NULL;
        g_autofree char *physfn = dir ? g_build_filename(dir, "physfn", NULL) : NULL;

        if (!syspath || g_file_test(physfn, G_FILE_TEST_IS_SYMLINK)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no PCI physical function %s", address);
                return NULL;
        }
        return g_steal_pointer(&syspath);
}

gboolean vdpa_testbed_add_vf(UMockdevTestbed *tb, const char *pf_address, guint vf_index, char **ret_vf_address,
                             GError **error) {
        TB_LOCKED();
        g_autofree char *root = canonical_root(tb);
        g_autofree char *pf_syspath = NULL;
        g_auto(Pf) pf = { 0 };
        g_auto(VfSpec) v = { 0 };
        PciAddr pa;
        int bus_dfd;

        if (!pci_addr_parse(pf_address, &pa)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "not a PCI address: %s", pf_address);
                return FALSE;
        }
        if (!(pf_syspath = find_pf(root, pf_address, error)))
                return FALSE;
        pf_load(&pf, root, pf_syspath, pf_address, &pa);
        if (!vf_spec(&pf, vf_index, &v)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s has no VF %u (sriov_totalvfs %u)",
                            pf_address, vf_index, pf.total);
                return FALSE;
        }
        if (pci_exists(root, v.address)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS, "PCI function %s exists", v.address);
                return FALSE;
        }
        /* pci_device_add(), pci_iov_sysfs_link(): the links are there
         * before anyone can act on "add" */
        bus_dfd = open_bus_dir(root);
        pci_write(root, bus_dfd, &v.fn, FALSE);
        close(bus_dfd);
        link_vf(root, &pf, vf_index, &v);
        count_vfs(pf.dir);
        umockdev_testbed_uevent(tb, v.syspath, "add");
        /* pci_bus_add_device(): mlx5_core probes (registering the vdpa
         * management device), then the driver core says "bind" */
        pci_bind_files(root, &v.fn);
        umockdev_testbed_uevent(tb, v.syspath, "bind");
        if (ret_vf_address)
                *ret_vf_address = g_strdup(v.address);
        return TRUE;
}

static gboolean has_link(const char *dir, const char *name) {
        g_autofree char *p = g_build_filename(dir, name, NULL);

        return g_file_test(p, G_FILE_TEST_IS_SYMLINK);
}

static gboolean is_vdpa_dir(const char *dir) {
        g_autofree char *link = g_build_filename(dir, "subsystem", NULL);
        g_autofree char *target = g_file_read_link(link, NULL);
        g_autofree char *base = target ? g_path_get_basename(target) : NULL;

        return g_strcmp0(base, "vdpa") == 0;
}

static int vhost_minor_of(const char *dir) {
        g_autoptr(GHashTable) used = g_hash_table_new(NULL, NULL);
        GHashTableIter it;
        gpointer key;

        note_minors(dir, used);
        g_hash_table_iter_init(&it, used);
        return g_hash_table_iter_next(&it, &key, NULL) ? GPOINTER_TO_INT(key) : -1;
}

/* vdpa_mgmtdev_unregister() in mlx5's remove: every vDPA device on the
 * VF is deleted as "vdpa dev del" deletes it. */
static void remove_vdpa_children(UMockdevTestbed *tb, const char *root, const char *syspath) {
        g_autofree char *dir = g_build_filename(root, syspath, NULL);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        g_autoptr(GPtrArray) children = g_ptr_array_new_with_free_func(g_free);
        const char *e;

        while (d && (e = g_dir_read_name(d))) {
                g_autofree char *sub = g_build_filename(dir, e, NULL);
                if (!g_file_test(sub, G_FILE_TEST_IS_SYMLINK) && is_vdpa_dir(sub))
                        g_ptr_array_add(children, g_build_filename(syspath, e, NULL));
        }
        for (guint i = 0; i < children->len; i++) {
                const char *child = children->pdata[i];
                g_autofree char *cdir = g_build_filename(root, child, NULL);

                if (has_link(cdir, "driver"))
                        vdpa_testbed_unbind(tb, child, vhost_minor_of(cdir));
                vdpa_testbed_remove(tb, child);
        }
}

/* The PF's virtfnN link to the VF called ADDRESS. */
static void unlink_virtfn(const char *pf_dir, const char *address) {
        g_autoptr(GDir) d = g_dir_open(pf_dir, 0, NULL);
        g_autofree char *want = g_strconcat("../", address, NULL);
        const char *e;

        while (d && (e = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(pf_dir, e, NULL);
                g_autofree char *t = g_str_has_prefix(e, "virtfn") ? g_file_read_link(p, NULL) : NULL;

                if (g_strcmp0(t, want) == 0) {
                        drop_link(pf_dir, e);
                        return;
                }
        }
}

gboolean vdpa_testbed_remove_vf(UMockdevTestbed *tb, const char *vf_address, GError **error) {
        TB_LOCKED();
        g_autofree char *root = canonical_root(tb);
        g_autofree char *vf = pci_syspath(root, vf_address);
        g_autofree char *dir = vf ? g_build_filename(root, vf, NULL) : NULL;
        g_autofree char *physfn = dir ? g_build_filename(dir, "physfn", NULL) : NULL;
        g_autofree char *pf_dir = physfn ? canonical_path(physfn) : NULL;
        g_autofree char *uevent = NULL;

        if (!pf_dir) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no PCI virtual function %s", vf_address);
                return FALSE;
        }
        /* pci_iov_remove_virtfn(): the links go first ... */
        unlink_virtfn(pf_dir, vf_address);
        drop_link(dir, "physfn");
        count_vfs(pf_dir);
        /* ... then device_release_driver() (mlx5 takes its vDPA devices
         * along), then device_del() */
        if (has_link(dir, "driver")) {
                g_autofree char *ue_path = g_build_filename(dir, "uevent", NULL);
                remove_vdpa_children(tb, root, vf);
                drop_link(dir, "driver");
                uevent = uevent_without_driver(ue_path);
                put_file(dir, "uevent", uevent);
                umockdev_testbed_uevent(tb, vf, "unbind");
        }
        umockdev_testbed_uevent(tb, vf, "remove");
        umockdev_testbed_remove_device(tb, vf);
        return TRUE;
}

/* Root complex pci<dom>:<bus-1> and its root port <dom>:<bus-1>:00.0
 * above the PF's bus, unless they exist; NULL and ERROR when something
 * else has that address. */
static char *ensure_root_port(const char *root, int bus_dfd, const PciAddr *pf, GError **error) {
        PciAddr port = { pf->domain, pf->bus - 1, 0 };
        g_autofree char *address = pci_addr_format(&port);
        g_autofree char *syspath = g_strdup_printf("/sys/devices/pci%04x:%02x/%s", port.domain, port.bus, address);
        g_autofree char *found = pci_syspath(root, address);
        g_autofree char *complex = g_strdup_printf("%s/sys/devices/pci%04x:%02x", root, port.domain, port.bus);
        PciFn f = ROOT_PORT;

        if (found && strcmp(found, syspath) != 0) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS, "%s is not a root port at %s", address, syspath);
                return NULL;
        }
        if (!found) {
                g_assert_cmpint(g_mkdir_with_parents(complex, 0755), ==, 0);
                f.syspath = syspath;
                f.address = address;
                pci_write(root, bus_dfd, &f, TRUE);
        }
        return g_steal_pointer(&syspath);
}

/* Every function the PF and its N_VFS VFs would take is free. */
static gboolean pf_addresses_free(const char *root, const char *pf_address, const PciAddr *pa, guint n_vfs,
                                  GError **error) {
        guint total = MAX(n_vfs, 8);

        for (guint i = 0; i <= n_vfs; i++) {
                PciAddr a = i ? vf_addr(pa, default_vf_offset(pa->devfn & 7, total), 1, i - 1) : *pa;
                g_autofree char *address = pci_addr_format(&a);

                if (a.bus > 0xff || pci_exists(root, address)) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS, "PCI function %s (for %s) exists or is past bus ff",
                                    address, pf_address);
                        return FALSE;
                }
        }
        return TRUE;
}

gboolean vdpa_testbed_add_pf_with_vfs(UMockdevTestbed *tb, const char *pf_address, guint n_vfs, GError **error) {
        TB_LOCKED();
        g_autofree char *root = canonical_root(tb);
        g_autofree char *port = NULL;
        g_autofree char *pf_syspath = NULL;
        g_autofree char *pf_dir = NULL;
        g_auto(Pf) pf = { 0 };
        PciFn f = CX6DX_PF;
        PciAddr pa;
        int bus_dfd, pf_dfd;

        if (!pci_addr_parse(pf_address, &pa) || pa.bus == 0) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "not a PCI address on a bus >= 1: %s",
                            pf_address);
                return FALSE;
        }
        if (!pf_addresses_free(root, pf_address, &pa, n_vfs, error))
                return FALSE;
        bus_dfd = open_bus_dir(root);
        if (!(port = ensure_root_port(root, bus_dfd, &pa, error))) {
                close(bus_dfd);
                return FALSE;
        }
        pf_syspath = g_strdup_printf("%s/%s", port, pf_address);
        f.syspath = pf_syspath;
        f.address = pf_address;
        pci_write(root, bus_dfd, &f, TRUE);
        pf_dir = g_build_filename(root, pf_syspath, NULL);
        pf_dfd = open_dir(pf_dir);
        put_uint_at(pf_dfd, "sriov_totalvfs", 0, MAX(n_vfs, 8));
        put_uint_at(pf_dfd, "sriov_offset", 0, default_vf_offset(pa.devfn & 7, MAX(n_vfs, 8)));
        put_uint_at(pf_dfd, "sriov_stride", 0, 1);
        put_uint_at(pf_dfd, "sriov_numvfs", 0, n_vfs);
        close(pf_dfd);
        pf_load(&pf, root, pf_syspath, pf_address, &pa);
        for (guint i = 0; i < n_vfs; i++) {
                g_auto(VfSpec) v = { 0 };

                g_assert_true(vf_spec(&pf, i, &v));
                pci_write(root, bus_dfd, &v.fn, TRUE);
                link_vf(root, &pf, i, &v);
        }
        close(bus_dfd);
        return TRUE;
}
