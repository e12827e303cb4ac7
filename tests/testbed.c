/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "testbed.h"

#include <fcntl.h>
#include <sched.h>
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
