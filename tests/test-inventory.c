/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inventory tests on a umockdev testbed (run under umockdev-wrapper).
 *
 * tests/data/host.umockdev models a host with two ConnectX-6 Dx cards, an SF
 * and a simulator.  umockdev needs a SUBSYSTEM for every record, so the
 * vhost-vdpa-N children (class-less in the kernel) carry the made-up
 * subsystem "vhost-vdpa"; the code under test never looks at it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <libudev.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <umockdev.h>
#include <unistd.h>

#include "config.h"
#include "device.h"
#include "inventory.h"
#include "log.h"
#include "testbed.h"
#include "udev-monitor.h"

#define PORT_A "/sys/devices/pci0000:00/0000:00:02.0"
#define PORT_B "/sys/devices/pci0000:80/0000:80:01.0"
#define VF5    PORT_A "/0000:04:00.5"
#define VDPA9  VF5 "/vdpa9"

typedef struct {
        InventoryEvent ev;
        VdpaDevice *dev;
} Event;

typedef struct {
        UMockdevTestbed *tb;
        char *root;
        struct udev *udev;
        VdpaConfig *config;
        Inventory *inv;
        GArray *events;           /* Event */
        sd_event *loop;
        UdevMonitor *monitor;
        guint uevents;
        guint overflows;
} Fixture;

static const char *data_dir(void) {
        const char *d = g_getenv("VDPA_TEST_DATA");

        g_assert_nonnull(d);
        return d;
}

static void event_clear(gpointer p) {
        Event *e = p;

        vdpa_device_free(e->dev);
}

static void on_inventory(Inventory *inv, InventoryEvent ev, const VdpaDevice *dev, void *userdata) {
        Fixture *f = userdata;
        Event e = { .ev = ev, .dev = vdpa_device_dup(dev) };

        g_assert_true(inv == f->inv);
        g_array_append_val(f->events, e);
}

static void on_uevent(UdevMonitor *m, struct udev_device *dev, void *userdata) {
        Fixture *f = userdata;

        f->uevents++;
        g_assert_cmpint(inventory_handle_uevent(f->inv, dev), ==, 0);
}

static void on_overflow(UdevMonitor *m, void *userdata) {
        Fixture *f = userdata;

        f->overflows++;
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
}

/* Write a file inside the testbed's /sys directly (not through umockdev's
 * API, which has no "delete"). */
static char *tb_path(Fixture *f, const char *sys_path, const char *name) {
        return g_build_filename(f->root, sys_path, name, NULL);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autofree char *host = g_build_filename(data_dir(), "host.umockdev", NULL);

        f->tb = umockdev_testbed_new();
        g_assert_true(umockdev_in_mock_environment());
        f->root = umockdev_testbed_get_root_dir(f->tb);
        g_assert_true(umockdev_testbed_add_from_file(f->tb, host, &error));
        g_assert_no_error(error);

        /* umockdev only makes bus directories for usb and pci; the kernel
         * has /sys/bus/vdpa with its two drivers as soon as vdpa is loaded. */
        for (const char *const *d = (const char *const[]) { "devices", "drivers/vhost_vdpa", "drivers/virtio_vdpa", NULL }; *d; d++) {
                g_autofree char *p = g_build_filename(f->root, "sys/bus/vdpa", *d, NULL);
                g_assert_cmpint(g_mkdir_with_parents(p, 0755), ==, 0);
        }

        f->udev = udev_new();
        g_assert_nonnull(f->udev);
        f->config = vdpa_config_new_default();
        f->events = g_array_new(false, true, sizeof(Event));
        g_array_set_clear_func(f->events, event_clear);
        f->inv = inventory_new(f->config, on_inventory, f);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        udev_monitor_source_free(f->monitor);
        sd_event_unref(f->loop);
        inventory_free(f->inv);
        vdpa_config_free(f->config);
        g_array_unref(f->events);
        udev_unref(f->udev);
        g_free(f->root);
        g_object_unref(f->tb);
}

static void start_monitor(Fixture *f, int rcvbuf) {
        g_assert_cmpint(sd_event_new(&f->loop), >=, 0);
        g_assert_cmpint(udev_monitor_source_new(f->loop, f->udev, rcvbuf, NULL, on_uevent, on_overflow, f, &f->monitor), ==, 0);
        g_assert_nonnull(f->monitor);
}

/* umockdev delivers a uevent synchronously into the monitor's socket, so
 * once the loop has nothing left to dispatch every sent event is handled. */
static void run_until_idle(Fixture *f) {
        int r;

        do {
                r = sd_event_run(f->loop, 0);
                g_assert_cmpint(r, >=, 0);
        } while (r > 0);
}

static void clear_events(Fixture *f) {
        g_array_set_size(f->events, 0);
}

static const Event *event_at(Fixture *f, guint i) {
        g_assert_cmpuint(i, <, f->events->len);
        return &g_array_index(f->events, Event, i);
}

static void assert_single_event(Fixture *f, InventoryEvent ev, const char *name) {
        g_assert_cmpuint(f->events->len, ==, 1);
        g_assert_cmpint(event_at(f, 0)->ev, ==, ev);
        g_assert_cmpstr(event_at(f, 0)->dev->hw.name, ==, name);
}

typedef struct {
        const char *name;
        const char *syspath;
        const char *driver;
        const char *chardev;
        VdpaParentKind kind;
        const char *parent;
        const char *pf;
        const char *address;
        uint16_t vendor;
        uint16_t product;
        int32_t numa;
        VdpaDeviceState state;    /* with the default configuration */
} Expected;

static const Expected host_devices[] = {
        { "blk0", PORT_A "/0000:04:00.4/blk0", "", "",
          VDPA_PARENT_KIND_VF, "0000:04:00.4", "0000:04:00.0", "0000:04:00.4", 0x15b3, 0x101e, 0,
          VDPA_DEVICE_UNUSABLE },
        { "fast1", PORT_A "/0000:04:00.0/mlx5_core.sf.4/fast1", "vhost_vdpa", "/dev/vhost-vdpa-1",
          VDPA_PARENT_KIND_SF, "mlx5_core.sf.4", "0000:04:00.0", "0000:04:00.0", 0x15b3, 0x101d, 0,
          VDPA_DEVICE_AVAILABLE },
        { "vdpa-sim0", "/sys/devices/vdpasim_net/vdpa-sim0", "vhost_vdpa", "/dev/vhost-vdpa-3",
          VDPA_PARENT_KIND_VIRTUAL, "", "", "", 0, 0, -1,
          VDPA_DEVICE_EXCLUDED },
        { "vdpa0", PORT_A "/0000:04:00.2/vdpa0", "vhost_vdpa", "/dev/vhost-vdpa-0",
          VDPA_PARENT_KIND_VF, "0000:04:00.2", "0000:04:00.0", "0000:04:00.2", 0x15b3, 0x101e, 0,
          VDPA_DEVICE_AVAILABLE },
        { "vdpa1", PORT_A "/0000:04:00.3/vdpa1", "virtio_vdpa", "",
          VDPA_PARENT_KIND_VF, "0000:04:00.3", "0000:04:00.0", "0000:04:00.3", 0x15b3, 0x101e, 0,
          VDPA_DEVICE_UNUSABLE },
        { "vdpa2", PORT_B "/0000:81:00.2/vdpa2", "vhost_vdpa", "/dev/vhost-vdpa-2",
          VDPA_PARENT_KIND_VF, "0000:81:00.2", "0000:81:00.0", "0000:81:00.2", 0x15b3, 0x101e, 1,
          VDPA_DEVICE_AVAILABLE },
};

static void assert_device(const VdpaDevice *d, const Expected *x) {
        g_assert_nonnull(d);
        g_assert_cmpstr(d->hw.name, ==, x->name);
        g_assert_cmpstr(d->hw.syspath, ==, x->syspath);
        g_assert_cmpstr(d->hw.driver, ==, x->driver);
        g_assert_cmpstr(d->hw.chardev, ==, x->chardev);
        g_assert_cmpstr(vdpa_parent_kind_to_string(d->hw.parent_kind), ==, vdpa_parent_kind_to_string(x->kind));
        g_assert_cmpstr(d->hw.parent_device, ==, x->parent);
        g_assert_cmpstr(d->hw.physical_function, ==, x->pf);
        g_assert_cmpstr(d->hw.address, ==, x->address);
        g_assert_cmphex(d->hw.vendor_id, ==, x->vendor);
        g_assert_cmphex(d->hw.product_id, ==, x->product);
        g_assert_cmpint(d->hw.numa_node, ==, x->numa);
        g_assert_cmpstr(d->usage.domain, ==, "");
        g_assert_cmpstr(d->usage.domain_uuid, ==, "");
        g_assert_false(d->usage.claimed);
        g_assert_cmpstr(vdpa_device_state_to_string(d->state), ==, vdpa_device_state_to_string(x->state));
}

static void enumerate_host(Fixture *f) {
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(inventory_count(f->inv), ==, G_N_ELEMENTS(host_devices));
}

static bool collect_names(const VdpaDevice *d, void *userdata) {
        g_ptr_array_add(userdata, d->hw.name);
        return true;
}

static void test_fixture_layout(Fixture *f, gconstpointer data) {
        /* The daemon reports the kernel bus through this directory. */
        g_assert_true(g_file_test("/sys/bus/vdpa", G_FILE_TEST_IS_DIR));
        g_assert_true(g_file_test("/sys/bus/vdpa/drivers/vhost_vdpa", G_FILE_TEST_IS_DIR));
        /* Char devices exist exactly where the fixture says: redirected
         * into the testbed by umockdev. */
        for (int i = 0; i <= 3; i++) {
                g_autofree char *node = g_strdup_printf("/dev/vhost-vdpa-%d", i);
                g_assert_cmpint(access(node, F_OK), ==, 0);
        }
        g_assert_cmpint(access("/dev/vhost-vdpa-4", F_OK), <, 0);
        /* The driver links resolve once the bus exists. */
        g_assert_true(g_file_test(PORT_A "/0000:04:00.2/vdpa0/driver", G_FILE_TEST_IS_DIR));
        g_assert_true(g_file_test(PORT_A "/0000:04:00.2/physfn", G_FILE_TEST_IS_SYMLINK));
        g_assert_true(g_file_test(PORT_A "/0000:04:00.0/virtfn3/vendor", G_FILE_TEST_EXISTS));
}

static void test_enumerate_fixture(Fixture *f, gconstpointer data) {
        g_autoptr(GPtrArray) names = g_ptr_array_new();
        g_autoptr(GHashTable) added = g_hash_table_new(g_str_hash, g_str_equal);

        enumerate_host(f);

        /* Every device reported exactly once, as ADDED, with its full state. */
        g_assert_cmpuint(f->events->len, ==, G_N_ELEMENTS(host_devices));
        for (guint i = 0; i < f->events->len; i++) {
                const Event *e = event_at(f, i);

                g_assert_cmpint(e->ev, ==, INVENTORY_DEVICE_ADDED);
                g_assert_true(g_hash_table_add(added, e->dev->hw.name));
        }

        for (size_t i = 0; i < G_N_ELEMENTS(host_devices); i++) {
                const Expected *x = &host_devices[i];

                assert_device(inventory_lookup(f->inv, x->name), x);
                g_assert_true(g_hash_table_contains(added, x->name));
        }

        /* Name order, whatever the sysfs order. */
        inventory_foreach(f->inv, collect_names, names);
        g_assert_cmpuint(names->len, ==, G_N_ELEMENTS(host_devices));
        for (guint i = 0; i < names->len; i++)
                g_assert_cmpstr(names->pdata[i], ==, host_devices[i].name);

        g_assert_cmpuint(inventory_count_state(f->inv, VDPA_DEVICE_AVAILABLE), ==, 3);
        g_assert_cmpuint(inventory_count_state(f->inv, VDPA_DEVICE_UNUSABLE), ==, 2);
        g_assert_cmpuint(inventory_count_state(f->inv, VDPA_DEVICE_EXCLUDED), ==, 1);
        g_assert_cmpuint(inventory_count_state(f->inv, VDPA_DEVICE_IN_USE), ==, 0);
        g_assert_cmpuint(inventory_count_state(f->inv, VDPA_DEVICE_CLAIMED), ==, 0);
        g_assert_null(inventory_lookup(f->inv, "vdpa9"));
        g_assert_null(inventory_lookup(f->inv, NULL));

        /* Nothing changed: nothing reported. */
        clear_events(f);
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 0);
}

static void read_hw(Fixture *f, const char *syspath, VdpaHardware *hw) {
        struct udev_device *dev = udev_device_new_from_syspath(f->udev, syspath);

        g_assert_nonnull(dev);
        g_assert_cmpint(vdpa_hardware_from_udev(dev, hw), ==, 0);
        udev_device_unref(dev);
}

static void test_hardware_attributes(Fixture *f, gconstpointer data) {
        static const struct {
                const char *vendor, *device, *numa;
                uint16_t x_vendor, x_product;
                int32_t x_numa;
        } cases[] = {
                { "0x15b3\n",        "0x101e\n\n",    "1\n",              0x15b3, 0x101e, 1 },
                { "15b3",            "0X101E",        "0",                0x15b3, 0x101e, 0 },
                { "0x15b3 garbage\n", "0xzz\n",       "-1\n",             0,      0,      -1 },
                { "",                "0x1ffff\n",     "",                 0,      0,      -1 },
                { "0x\n",            "-1\n",          "-7\n",             0,      0,      -1 },
                { "\xff\xfe",        "0x0x101e",      "99999999999999\n", 0,      0,      -1 },
                { " 0x8086 \n",      "\t0x2030",      " 3 \n",            0x8086, 0x2030, 3 },
        };
        struct udev_device *dev;
        VdpaHardware hw = { .numa_node = -1 };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                umockdev_testbed_set_attribute(f->tb, PORT_A "/0000:04:00.4", "vendor", cases[i].vendor);
                umockdev_testbed_set_attribute(f->tb, PORT_A "/0000:04:00.4", "device", cases[i].device);
                umockdev_testbed_set_attribute(f->tb, PORT_A "/0000:04:00.4", "numa_node", cases[i].numa);
                read_hw(f, PORT_A "/0000:04:00.4/blk0", &hw);
                g_assert_cmphex(hw.vendor_id, ==, cases[i].x_vendor);
                g_assert_cmphex(hw.product_id, ==, cases[i].x_product);
                g_assert_cmpint(hw.numa_node, ==, cases[i].x_numa);
                /* The rest does not depend on the attributes. */
                g_assert_cmpstr(hw.parent_device, ==, "0000:04:00.4");
                g_assert_cmpstr(hw.physical_function, ==, "0000:04:00.0");
        }

        /* Missing attributes altogether. */
        for (const char *const *a = (const char *const[]) { "vendor", "device", "numa_node", NULL }; *a; a++) {
                g_autofree char *p = tb_path(f, PORT_A "/0000:04:00.4", *a);
                g_assert_cmpint(g_unlink(p), ==, 0);
        }
        read_hw(f, PORT_A "/0000:04:00.4/blk0", &hw);
        g_assert_cmphex(hw.vendor_id, ==, 0);
        g_assert_cmphex(hw.product_id, ==, 0);
        g_assert_cmpint(hw.numa_node, ==, -1);
        g_assert_cmpint(hw.parent_kind, ==, VDPA_PARENT_KIND_VF);

        /* A vDPA device directly on a PF (no SR-IOV). */
        g_assert_true(umockdev_testbed_add_from_string(f->tb,
                "P: /devices/pci0000:00/0000:00:02.0/0000:04:00.1/pfdev\n"
                "E: SUBSYSTEM=vdpa\n", NULL));
        read_hw(f, PORT_A "/0000:04:00.1/pfdev", &hw);
        g_assert_cmpstr(hw.name, ==, "pfdev");
        g_assert_cmpint(hw.parent_kind, ==, VDPA_PARENT_KIND_PF);
        g_assert_cmpstr(hw.parent_device, ==, "0000:04:00.1");
        g_assert_cmpstr(hw.physical_function, ==, "0000:04:00.1");
        g_assert_cmpstr(hw.address, ==, "0000:04:00.1");
        g_assert_cmphex(hw.product_id, ==, 0x101d);
        g_assert_cmpint(hw.numa_node, ==, 0);
        g_assert_cmpstr(hw.driver, ==, "");
        g_assert_cmpstr(hw.chardev, ==, "");

        /* A chardev entry whose /dev node does not exist is not usable, and
         * entries that merely look similar are ignored. */
        g_assert_true(umockdev_testbed_add_from_string(f->tb,
                "P: /devices/pci0000:00/0000:00:02.0/0000:04:00.1/pfdev/vhost-vdpa-7\n"
                "E: SUBSYSTEM=vhost-vdpa\n", NULL));
        g_assert_true(umockdev_testbed_add_from_string(f->tb,
                "P: /devices/pci0000:00/0000:00:02.0/0000:04:00.1/pfdev/vhost-vdpa-x\n"
                "N: vhost-vdpa-x\n"
                "E: SUBSYSTEM=vhost-vdpa\n", NULL));
        read_hw(f, PORT_A "/0000:04:00.1/pfdev", &hw);
        g_assert_cmpstr(hw.chardev, ==, "");

        /* Not a vDPA device. */
        dev = udev_device_new_from_syspath(f->udev, PORT_A "/0000:04:00.2");
        g_assert_nonnull(dev);
        g_assert_cmpint(vdpa_hardware_from_udev(dev, &hw), ==, -EINVAL);
        udev_device_unref(dev);

        vdpa_hardware_clear(&hw);
}

static VdpaConfig *config_from(const char *text) {
        g_autoptr(GError) error = NULL;
        VdpaConfig *c = vdpa_config_load_from_data(text, strlen(text), "test.conf", &error);

        g_assert_no_error(error);
        g_assert_nonnull(c);
        return c;
}

static void assert_state(Fixture *f, const char *name, VdpaDeviceState s) {
        const VdpaDevice *d = inventory_lookup(f->inv, name);

        g_assert_nonnull(d);
        g_assert_cmpstr(vdpa_device_state_to_string(d->state), ==, vdpa_device_state_to_string(s));
        g_assert_true(d->allowed == (s != VDPA_DEVICE_EXCLUDED));
}

static guint count_events(Fixture *f, InventoryEvent ev, const char *name) {
        guint n = 0;

        for (guint i = 0; i < f->events->len; i++)
                if (event_at(f, i)->ev == ev && g_str_equal(event_at(f, i)->dev->hw.name, name))
                        n++;
        return n;
}

static void test_config(Fixture *f, gconstpointer data) {
        g_autoptr(VdpaConfig) virt = config_from("[Devices]\nAllowVirtual=true\n");
        g_autoptr(VdpaConfig) port_b = config_from("[Devices]\nAllowVirtual=false\n\n[Allow port-b]\nAddress=0000:81:*\n");
        g_autoptr(VdpaConfig) vfs = config_from("[Allow cx6-vfs]\nVendor=15b3\nProduct=0x101e\n");

        enumerate_host(f);
        assert_state(f, "vdpa-sim0", VDPA_DEVICE_EXCLUDED);

        /* AllowVirtual=true: only the simulator changes. */
        clear_events(f);
        inventory_set_config(f->inv, virt);
        assert_single_event(f, INVENTORY_DEVICE_CHANGED, "vdpa-sim0");
        assert_state(f, "vdpa-sim0", VDPA_DEVICE_AVAILABLE);

        /* Only port B: everything else is excluded, each reported once. */
        clear_events(f);
        inventory_set_config(f->inv, port_b);
        g_assert_cmpuint(f->events->len, ==, 5);
        for (const char *const *n = (const char *const[]) { "blk0", "fast1", "vdpa-sim0", "vdpa0", "vdpa1", NULL }; *n; n++) {
                g_assert_cmpuint(count_events(f, INVENTORY_DEVICE_CHANGED, *n), ==, 1);
                assert_state(f, *n, VDPA_DEVICE_EXCLUDED);
        }
        assert_state(f, "vdpa2", VDPA_DEVICE_AVAILABLE);

        /* Same configuration again: nothing to report. */
        clear_events(f);
        inventory_set_config(f->inv, port_b);
        g_assert_cmpuint(f->events->len, ==, 0);

        /* Vendor/Product describe the nearest PCI function: for the SF that
         * is its PF (101d), so it is not a "cx6 VF". */
        clear_events(f);
        inventory_set_config(f->inv, vfs);
        assert_state(f, "vdpa0", VDPA_DEVICE_AVAILABLE);
        assert_state(f, "vdpa1", VDPA_DEVICE_UNUSABLE);
        assert_state(f, "blk0", VDPA_DEVICE_UNUSABLE);
        assert_state(f, "vdpa2", VDPA_DEVICE_AVAILABLE);
        assert_state(f, "fast1", VDPA_DEVICE_EXCLUDED);
        assert_state(f, "vdpa-sim0", VDPA_DEVICE_EXCLUDED);
        g_assert_cmpuint(f->events->len, ==, 3); /* vdpa0, vdpa1, blk0 */

        /* Back to the built-in defaults the inventory started with. */
        clear_events(f);
        inventory_set_config(f->inv, f->config);
        g_assert_cmpuint(f->events->len, ==, 1);
        for (size_t i = 0; i < G_N_ELEMENTS(host_devices); i++)
                assert_device(inventory_lookup(f->inv, host_devices[i].name), &host_devices[i]);
}

static void add_chardev(Fixture *f, const char *vdpa_syspath, int minor) {
        g_autofree char *rec = g_strdup_printf(
                "P: %s/vhost-vdpa-%d\n"
                "N: vhost-vdpa-%d\n"
                "E: DEVNAME=/dev/vhost-vdpa-%d\n"
                "E: MAJOR=509\n"
                "E: MINOR=%d\n"
                "E: SUBSYSTEM=vhost-vdpa\n"
                "A: dev=509:%d\\n\n",
                vdpa_syspath + strlen("/sys"), minor, minor, minor, minor, minor);
        g_autoptr(GError) error = NULL;

        g_assert_true(umockdev_testbed_add_from_string(f->tb, rec, &error));
        g_assert_no_error(error);
}

/* What the kernel does on "vdpa dev add" + vhost_vdpa probe: the chardev
 * child appears (no uevent of its own), the driver link, then "bind". */
static void bind_vhost(Fixture *f, const char *syspath, int minor) {
        g_autofree char *link = tb_path(f, syspath, "driver");
        g_autofree char *target = NULL;
        int depth = 0;
        GString *dots = g_string_new(NULL);

        add_chardev(f, syspath, minor);
        for (const char *p = syspath + 1; (p = strchr(p, '/')); p++)
                depth++;
        for (int i = 0; i < depth; i++)
                g_string_append(dots, "../");
        g_string_append(dots, "bus/vdpa/drivers/vhost_vdpa");
        target = g_string_free(dots, false);
        g_assert_cmpint(symlink(target, link), ==, 0);
        umockdev_testbed_set_property(f->tb, syspath, "DRIVER", "vhost_vdpa");
}

static void unbind(Fixture *f, const char *syspath, int minor) {
        g_autofree char *link = tb_path(f, syspath, "driver");
        g_autofree char *child = g_strdup_printf("%s/vhost-vdpa-%d", syspath, minor);
        g_autofree char *uevent = tb_path(f, syspath, "uevent");

        if (minor >= 0)
                umockdev_testbed_remove_device(f->tb, child);
        g_assert_cmpint(g_unlink(link), ==, 0);
        /* The kernel drops DRIVER= from uevent once unbound. */
        g_assert_true(g_file_set_contents(uevent, "MODALIAS=vdpa:d00000001v000015B3\n", -1, NULL));
}

static void test_hotplug(Fixture *f, gconstpointer data) {
        g_autofree char *rec = g_build_filename(data_dir(), "hotplug-vf.umockdev", NULL);
        g_autoptr(GError) error = NULL;
        const VdpaDevice *d;

        start_monitor(f, 0);
        enumerate_host(f);
        clear_events(f);

        /* add: a new device under the known VF 0000:04:00.5, not bound yet. */
        g_assert_true(umockdev_testbed_add_from_file(f->tb, rec, &error));
        g_assert_no_error(error);
        run_until_idle(f);
        g_assert_cmpuint(f->uevents, ==, 1);
        assert_single_event(f, INVENTORY_DEVICE_ADDED, "vdpa9");
        d = inventory_lookup(f->inv, "vdpa9");
        assert_device(d, &(Expected) {
                "vdpa9", VDPA9, "", "", VDPA_PARENT_KIND_VF, "0000:04:00.5", "0000:04:00.0",
                "0000:04:00.5", 0x15b3, 0x101e, 0, VDPA_DEVICE_UNUSABLE });
        assert_device(event_at(f, 0)->dev, &(Expected) {
                "vdpa9", VDPA9, "", "", VDPA_PARENT_KIND_VF, "0000:04:00.5", "0000:04:00.0",
                "0000:04:00.5", 0x15b3, 0x101e, 0, VDPA_DEVICE_UNUSABLE });
        g_assert_cmpuint(inventory_count(f->inv), ==, G_N_ELEMENTS(host_devices) + 1);

        /* bind to vhost_vdpa: usable, with its chardev. The child's own
         * "add" (subsystem vhost-vdpa) must not reach us. */
        clear_events(f);
        f->uevents = 0;
        bind_vhost(f, VDPA9, 9);
        umockdev_testbed_uevent(f->tb, VDPA9, "bind");
        run_until_idle(f);
        g_assert_cmpuint(f->uevents, ==, 1);
        assert_single_event(f, INVENTORY_DEVICE_CHANGED, "vdpa9");
        assert_device(inventory_lookup(f->inv, "vdpa9"), &(Expected) {
                "vdpa9", VDPA9, "vhost_vdpa", "/dev/vhost-vdpa-9", VDPA_PARENT_KIND_VF, "0000:04:00.5",
                "0000:04:00.0", "0000:04:00.5", 0x15b3, 0x101e, 0, VDPA_DEVICE_AVAILABLE });

        /* change that changes nothing visible: received, not reported. */
        clear_events(f);
        f->uevents = 0;
        umockdev_testbed_uevent(f->tb, VDPA9, "change");
        umockdev_testbed_uevent(f->tb, PORT_A "/0000:04:00.2/vdpa0", "change");
        run_until_idle(f);
        g_assert_cmpuint(f->uevents, ==, 2);
        g_assert_cmpuint(f->events->len, ==, 0);

        /* unbind: unusable again. */
        f->uevents = 0;
        unbind(f, VDPA9, 9);
        umockdev_testbed_uevent(f->tb, VDPA9, "unbind");
        run_until_idle(f);
        g_assert_cmpuint(f->uevents, ==, 1);
        assert_single_event(f, INVENTORY_DEVICE_CHANGED, "vdpa9");
        assert_device(inventory_lookup(f->inv, "vdpa9"), &(Expected) {
                "vdpa9", VDPA9, "", "", VDPA_PARENT_KIND_VF, "0000:04:00.5", "0000:04:00.0",
                "0000:04:00.5", 0x15b3, 0x101e, 0, VDPA_DEVICE_UNUSABLE });

        /* A driver change of an existing fixture device: vdpa0 goes from
         * vhost_vdpa to unbound. */
        clear_events(f);
        unbind(f, PORT_A "/0000:04:00.2/vdpa0", 0);
        umockdev_testbed_uevent(f->tb, PORT_A "/0000:04:00.2/vdpa0", "unbind");
        run_until_idle(f);
        assert_single_event(f, INVENTORY_DEVICE_CHANGED, "vdpa0");
        assert_state(f, "vdpa0", VDPA_DEVICE_UNUSABLE);
        g_assert_cmpstr(inventory_lookup(f->inv, "vdpa0")->hw.driver, ==, "");

        /* remove: the uevent has to be sent while the device still exists
         * (umockdev builds it from sysfs), as the kernel does too. */
        clear_events(f);
        f->uevents = 0;
        umockdev_testbed_uevent(f->tb, VDPA9, "remove");
        umockdev_testbed_remove_device(f->tb, VDPA9);
        run_until_idle(f);
        g_assert_cmpuint(f->uevents, ==, 1);
        assert_single_event(f, INVENTORY_DEVICE_REMOVED, "vdpa9");
        /* The last state is reported. */
        g_assert_cmpstr(event_at(f, 0)->dev->hw.parent_device, ==, "0000:04:00.5");
        g_assert_null(inventory_lookup(f->inv, "vdpa9"));
        g_assert_cmpuint(inventory_count(f->inv), ==, G_N_ELEMENTS(host_devices));

        /* A stray event for something that is not there: nothing. */
        clear_events(f);
        g_assert_true(umockdev_testbed_add_from_file(f->tb, rec, NULL));
        umockdev_testbed_uevent(f->tb, VDPA9, "remove");
        umockdev_testbed_remove_device(f->tb, VDPA9);
        umockdev_testbed_uevent(f->tb, PORT_A "/0000:04:00.3/vdpa1", "remove");
        umockdev_testbed_remove_device(f->tb, PORT_A "/0000:04:00.3/vdpa1");
        run_until_idle(f);
        /* vdpa9's add and remove were queued together: by the time the add
         * is read the device is gone, so it never becomes visible. */
        assert_single_event(f, INVENTORY_DEVICE_REMOVED, "vdpa1");
        g_assert_cmpuint(f->overflows, ==, 0);
}

/* The parent part of a device is remembered per parent directory.  A
 * device that comes and goes on the same VF (the usual "vdpa dev del/add")
 * is read right from it; a VF that is replaced at the same address (new
 * directory, other ids and NUMA node) must be read afresh. */
static void test_hotplug_parent_replaced(Fixture *f, gconstpointer data) {
        const char *vf = PORT_A "/0000:04:00.2", *vdpa0 = PORT_A "/0000:04:00.2/vdpa0";
        g_autoptr(GError) error = NULL;
        const Expected before = {
                "vdpa0", vdpa0, "vhost_vdpa", "/dev/vhost-vdpa-0", VDPA_PARENT_KIND_VF, "0000:04:00.2",
                "0000:04:00.0", "0000:04:00.2", 0x15b3, 0x101e, 0, VDPA_DEVICE_AVAILABLE };

        start_monitor(f, 0);
        enumerate_host(f);

        /* del + add on the same VF: the same facts, one event each. */
        for (int round = 0; round < 3; round++) {
                clear_events(f);
                umockdev_testbed_uevent(f->tb, vdpa0, "remove");
                umockdev_testbed_uevent(f->tb, vdpa0, "add");
                run_until_idle(f);
                g_assert_cmpuint(f->events->len, ==, 2);
                g_assert_cmpint(event_at(f, 0)->ev, ==, INVENTORY_DEVICE_REMOVED);
                g_assert_cmpint(event_at(f, 1)->ev, ==, INVENTORY_DEVICE_ADDED);
                assert_device(event_at(f, 1)->dev, &before);
        }

        /* The VF goes away with its child and another function appears at
         * the same address: other device id, other NUMA node, another PF. */
        clear_events(f);
        umockdev_testbed_uevent(f->tb, vdpa0, "remove");
        umockdev_testbed_remove_device(f->tb, PORT_A "/0000:04:00.2/vdpa0/vhost-vdpa-0");
        umockdev_testbed_remove_device(f->tb, vdpa0);
        umockdev_testbed_remove_device(f->tb, vf);
        g_assert_true(umockdev_testbed_add_from_string(f->tb,
                "P: /devices/pci0000:00/0000:00:02.0/0000:04:00.2\n"
                "E: SUBSYSTEM=pci\n"
                "A: device=0x101f\\n\n"
                "A: numa_node=1\\n\n"
                "A: vendor=0x15b3\\n\n"
                "L: physfn=../0000:04:00.1\n"
                "\n"
                "P: /devices/pci0000:00/0000:00:02.0/0000:04:00.2/vdpa0\n"
                "E: SUBSYSTEM=vdpa\n", &error));
        g_assert_no_error(error);
        run_until_idle(f);

        g_assert_cmpuint(f->events->len, ==, 2);
        g_assert_cmpint(event_at(f, 0)->ev, ==, INVENTORY_DEVICE_REMOVED);
        g_assert_cmpint(event_at(f, 1)->ev, ==, INVENTORY_DEVICE_ADDED);
        assert_device(inventory_lookup(f->inv, "vdpa0"), &(Expected) {
                "vdpa0", vdpa0, "", "", VDPA_PARENT_KIND_VF, "0000:04:00.2",
                "0000:04:00.1", "0000:04:00.2", 0x15b3, 0x101f, 1, VDPA_DEVICE_UNUSABLE });

        /* And a full enumeration agrees with what the event said. */
        clear_events(f);
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 0);
}

static char *burst_syspath(guint i) {
        return g_strdup_printf(VF5 "/burst%03u", i);
}

static void burst_add(Fixture *f, guint i) {
        g_autofree char *rec = g_strdup_printf(
                "P: /devices/pci0000:00/0000:00:02.0/0000:04:00.5/burst%03u\n"
                "E: SUBSYSTEM=vdpa\n", i);

        g_assert_true(umockdev_testbed_add_from_string(f->tb, rec, NULL));
}

static void burst_remove(Fixture *f, guint i) {
        g_autofree char *p = burst_syspath(i);

        umockdev_testbed_uevent(f->tb, p, "remove");
        umockdev_testbed_remove_device(f->tb, p);
}

static void assert_each_once(Fixture *f, InventoryEvent ev, guint from, guint to) {
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

        g_assert_cmpuint(f->events->len, ==, to - from);
        for (guint i = 0; i < f->events->len; i++) {
                const Event *e = event_at(f, i);

                g_assert_cmpint(e->ev, ==, ev);
                g_assert_true(g_str_has_prefix(e->dev->hw.name, "burst"));
                g_assert_true(g_hash_table_add(seen, e->dev->hw.name));
        }
        for (guint i = from; i < to; i++) {
                g_autofree char *name = g_strdup_printf("burst%03u", i);
                g_assert_true(g_hash_table_contains(seen, name));
        }
}

/* 500 events queued before the loop runs once; the socket must hold them
 * (umockdev's sender drops silently when it is full). */
static void test_burst(Fixture *f, gconstpointer data) {
        start_monitor(f, 0);
        enumerate_host(f);

        /* 250 adds in one burst: 250 ADDED. */
        clear_events(f);
        for (guint i = 0; i < 250; i++)
                burst_add(f, i);
        run_until_idle(f);
        g_assert_cmpuint(f->uevents, ==, 250);
        assert_each_once(f, INVENTORY_DEVICE_ADDED, 0, 250);
        g_assert_cmpuint(inventory_count(f->inv), ==, G_N_ELEMENTS(host_devices) + 250);
        assert_device(inventory_lookup(f->inv, "burst042"), &(Expected) {
                "burst042", VF5 "/burst042", "", "", VDPA_PARENT_KIND_VF, "0000:04:00.5", "0000:04:00.0",
                "0000:04:00.5", 0x15b3, 0x101e, 0, VDPA_DEVICE_UNUSABLE });

        /* 250 removes in one burst: 250 REMOVED. */
        clear_events(f);
        f->uevents = 0;
        for (guint i = 0; i < 250; i++)
                burst_remove(f, i);
        run_until_idle(f);
        g_assert_cmpuint(f->uevents, ==, 250);
        assert_each_once(f, INVENTORY_DEVICE_REMOVED, 0, 250);
        g_assert_cmpuint(inventory_count(f->inv), ==, G_N_ELEMENTS(host_devices));

        /* 500 interleaved: 300 adds, then 200 of them removed before the
         * loop looks.  Only the survivors were ever visible. */
        clear_events(f);
        f->uevents = 0;
        for (guint i = 0; i < 300; i++)
                burst_add(f, i);
        for (guint i = 0; i < 200; i++)
                burst_remove(f, i);
        run_until_idle(f);
        g_assert_cmpuint(f->uevents, ==, 500);
        assert_each_once(f, INVENTORY_DEVICE_ADDED, 200, 300);
        g_assert_cmpuint(inventory_count(f->inv), ==, G_N_ELEMENTS(host_devices) + 100);
        for (size_t i = 0; i < G_N_ELEMENTS(host_devices); i++)
                assert_device(inventory_lookup(f->inv, host_devices[i].name), &host_devices[i]);
        g_assert_null(inventory_lookup(f->inv, "burst199"));
        g_assert_nonnull(inventory_lookup(f->inv, "burst200"));
        g_assert_cmpuint(f->overflows, ==, 0);

        /* And a rescan agrees with what the events built. */
        clear_events(f);
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 0);
}

static void test_enumerate_differences(Fixture *f, gconstpointer data) {
        g_autofree char *rec = g_build_filename(data_dir(), "hotplug-vf.umockdev", NULL);

        enumerate_host(f);
        clear_events(f);

        /* Behind the inventory's back (as after lost uevents): one device
         * gone, one new, one bound, one with a new NUMA node. */
        umockdev_testbed_remove_device(f->tb, PORT_A "/0000:04:00.3/vdpa1");
        g_assert_true(umockdev_testbed_add_from_file(f->tb, rec, NULL));
        bind_vhost(f, PORT_A "/0000:04:00.4/blk0", 5);
        umockdev_testbed_set_attribute(f->tb, PORT_B "/0000:81:00.2", "numa_node", "3\n");

        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 4);
        g_assert_cmpuint(count_events(f, INVENTORY_DEVICE_REMOVED, "vdpa1"), ==, 1);
        g_assert_cmpuint(count_events(f, INVENTORY_DEVICE_ADDED, "vdpa9"), ==, 1);
        g_assert_cmpuint(count_events(f, INVENTORY_DEVICE_CHANGED, "blk0"), ==, 1);
        g_assert_cmpuint(count_events(f, INVENTORY_DEVICE_CHANGED, "vdpa2"), ==, 1);

        assert_state(f, "blk0", VDPA_DEVICE_AVAILABLE);
        g_assert_cmpstr(inventory_lookup(f->inv, "blk0")->hw.chardev, ==, "/dev/vhost-vdpa-5");
        g_assert_cmpint(inventory_lookup(f->inv, "vdpa2")->hw.numa_node, ==, 3);
        g_assert_null(inventory_lookup(f->inv, "vdpa1"));
        g_assert_cmpuint(inventory_count(f->inv), ==, G_N_ELEMENTS(host_devices));

        clear_events(f);
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 0);
}

static GHashTable *usage_table(void) {
        return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) vdpa_domain_ref_free);
}

static void usage_add(GHashTable *t, const char *chardev, const char *domain, const char *uuid) {
        VdpaDomainRef *r = g_new0(VdpaDomainRef, 1);

        r->domain = g_strdup(domain);
        r->uuid = g_strdup(uuid);
        g_hash_table_insert(t, g_strdup(chardev), r);
}

#define UUID1 "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
#define UUID2 "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

static void test_domain_usage(Fixture *f, gconstpointer data) {
        g_autoptr(GHashTable) t1 = usage_table(), t2 = usage_table();
        const VdpaDevice *d;

        enumerate_host(f);
        clear_events(f);

        usage_add(t1, "/dev/vhost-vdpa-2", "guest1", UUID1);
        inventory_set_domain_usage(f->inv, t1);
        assert_single_event(f, INVENTORY_DEVICE_CHANGED, "vdpa2");
        d = inventory_lookup(f->inv, "vdpa2");
        g_assert_cmpint(d->state, ==, VDPA_DEVICE_IN_USE);
        g_assert_cmpstr(d->usage.domain, ==, "guest1");
        g_assert_cmpstr(d->usage.domain_uuid, ==, UUID1);
        g_assert_cmpstr(event_at(f, 0)->dev->usage.domain, ==, "guest1");
        g_assert_cmpint(event_at(f, 0)->dev->state, ==, VDPA_DEVICE_IN_USE);
        g_assert_false(d->usage.claimed);
        g_assert_cmpuint(inventory_count_state(f->inv, VDPA_DEVICE_IN_USE), ==, 1);

        /* The same usage again: nothing. */
        clear_events(f);
        inventory_set_domain_usage(f->inv, t1);
        g_assert_cmpuint(f->events->len, ==, 0);

        /* The inventory keeps its own copy: the caller may empty its table. */
        g_hash_table_remove_all(t1);
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 0);
        g_assert_cmpstr(inventory_lookup(f->inv, "vdpa2")->usage.domain, ==, "guest1");

        /* vdpa2 released, the excluded simulator used by a domain (in-use
         * wins over excluded), and a chardev nobody has. */
        clear_events(f);
        usage_add(t2, "/dev/vhost-vdpa-3", "sim-guest", UUID2);
        usage_add(t2, "/dev/vhost-vdpa-77", "ghost", UUID1);
        inventory_set_domain_usage(f->inv, t2);
        g_assert_cmpuint(f->events->len, ==, 2);
        g_assert_cmpuint(count_events(f, INVENTORY_DEVICE_CHANGED, "vdpa2"), ==, 1);
        g_assert_cmpuint(count_events(f, INVENTORY_DEVICE_CHANGED, "vdpa-sim0"), ==, 1);
        assert_state(f, "vdpa2", VDPA_DEVICE_AVAILABLE);
        g_assert_cmpstr(inventory_lookup(f->inv, "vdpa2")->usage.domain, ==, "");
        d = inventory_lookup(f->inv, "vdpa-sim0");
        g_assert_cmpint(d->state, ==, VDPA_DEVICE_IN_USE);
        g_assert_cmpstr(d->usage.domain_uuid, ==, UUID2);

        /* Usage survives a re-read of the hardware. */
        clear_events(f);
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 0);

        /* NULL: nobody uses anything. */
        inventory_set_domain_usage(f->inv, NULL);
        assert_single_event(f, INVENTORY_DEVICE_CHANGED, "vdpa-sim0");
        assert_state(f, "vdpa-sim0", VDPA_DEVICE_EXCLUDED);
}

/* A usage entry for a chardev that only appears later applies once it does. */
static void test_domain_usage_follows_chardev(Fixture *f, gconstpointer data) {
        g_autoptr(GHashTable) t = usage_table();

        start_monitor(f, 0);
        enumerate_host(f);
        usage_add(t, "/dev/vhost-vdpa-5", "late", UUID1);
        inventory_set_domain_usage(f->inv, t);
        g_assert_cmpuint(inventory_count_state(f->inv, VDPA_DEVICE_IN_USE), ==, 0);

        clear_events(f);
        bind_vhost(f, PORT_A "/0000:04:00.4/blk0", 5);
        umockdev_testbed_uevent(f->tb, PORT_A "/0000:04:00.4/blk0", "bind");
        run_until_idle(f);
        assert_single_event(f, INVENTORY_DEVICE_CHANGED, "blk0");
        assert_state(f, "blk0", VDPA_DEVICE_IN_USE);
        g_assert_cmpstr(inventory_lookup(f->inv, "blk0")->usage.domain, ==, "late");
}

/* ---- overflow, on a real netlink socket ---- */

typedef struct {
        guint events;
        guint overflows;
        guint events_at_overflow;
} OverflowCounts;

static void count_event(UdevMonitor *m, struct udev_device *dev, void *userdata) {
        OverflowCounts *c = userdata;

        g_assert_cmpstr(udev_device_get_subsystem(dev), ==, "vdpa");
        c->events++;
}

static void count_overflow(UdevMonitor *m, void *userdata) {
        OverflowCounts *c = userdata;

        c->overflows++;
        /* Called once, after the queue behind the overflow was drained. */
        c->events_at_overflow = c->events;
}

/* A kernel-format uevent ("ACTION@DEVPATH\0KEY=VALUE\0..."), multicast to
 * the "udev" group as udevd would.  The test runs in a network namespace of
 * its own (see main()), so nobody else hears it. */
static void send_netlink_uevent(int fd, const char *subsystem, guint seqnum) {
        struct sockaddr_nl dst = { .nl_family = AF_NETLINK, .nl_groups = 2 /* udev */ };
        g_autofree char *devpath = g_strdup_printf("/devices/virtual/test/dev%u", seqnum);
        g_autofree char *head = g_strdup_printf("add@%s", devpath);
        g_autoptr(GString) msg = g_string_new(NULL);

        g_string_append_len(msg, head, strlen(head) + 1);
        g_string_append_printf(msg, "ACTION=add%cDEVPATH=%s%cSUBSYSTEM=%s%cSEQNUM=%u%c",
                               0, devpath, 0, subsystem, 0, seqnum, 0);
        g_assert_cmpint(sendto(fd, msg->str, msg->len, 0, (struct sockaddr *) &dst, sizeof dst), ==, (gssize) msg->len);
}

static void run_loop_until_idle(sd_event *loop) {
        int r;

        do {
                r = sd_event_run(loop, 0);
                g_assert_cmpint(r, >=, 0);
        } while (r > 0);
}

/* More events than the (deliberately tiny) receive buffer holds: the kernel
 * drops some and reports ENOBUFS once; the monitor drains the rest and asks
 * for one re-enumeration.  No testbed here: umockdev's fake socket cannot
 * overflow, the kernel's can. */
static void test_overflow(void) {
        g_autofree char *old_dir = g_strdup(g_getenv("UMOCKDEV_DIR"));
        OverflowCounts c = {};
        struct udev *udev;
        sd_event *loop = NULL;
        UdevMonitor *m = NULL;
        int fd;

        g_assert_null(old_dir);
        udev = udev_new();
        g_assert_nonnull(udev);
        g_assert_cmpint(sd_event_new(&loop), >=, 0);
        g_assert_cmpint(udev_monitor_source_new(loop, udev, 4096, NULL, count_event, count_overflow, &c, &m), ==, 0);

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
        g_assert_cmpint(fd, >=, 0);

        /* Filtered out by subsystem: never reported. */
        send_netlink_uevent(fd, "net", 1);
        send_netlink_uevent(fd, "vdpa", 2);
        run_loop_until_idle(loop);
        g_assert_cmpuint(c.events, ==, 1);
        g_assert_cmpuint(c.overflows, ==, 0);

        c.events = 0;
        for (guint i = 0; i < 2000; i++)
                send_netlink_uevent(fd, "vdpa", 100 + i);
        run_loop_until_idle(loop);
        g_assert_cmpuint(c.overflows, ==, 1);
        g_assert_cmpuint(c.events, >, 0);
        g_assert_cmpuint(c.events, <, 2000);
        g_assert_cmpuint(c.events_at_overflow, ==, c.events);

        /* The error is reported once; events flow normally afterwards. */
        c.events = 0;
        for (guint i = 0; i < 3; i++)
                send_netlink_uevent(fd, "vdpa", 5000 + i);
        run_loop_until_idle(loop);
        g_assert_cmpuint(c.events, ==, 3);
        g_assert_cmpuint(c.overflows, ==, 1);

        close(fd);
        udev_monitor_source_free(m);
        sd_event_unref(loop);
        udev_unref(udev);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        vdpa_testbed_isolate_uevent_queue();

        if (g_getenv("VDPA_TEST_VERBOSE"))
                log_set_max_level(LOG_DEBUG);

        g_test_add_func("/inventory/monitor-overflow", test_overflow);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("/inventory/fixture-layout", test_fixture_layout);
        ADD("/inventory/enumerate", test_enumerate_fixture);
        ADD("/inventory/hardware-attributes", test_hardware_attributes);
        ADD("/inventory/config", test_config);
        ADD("/inventory/hotplug", test_hotplug);
        ADD("/inventory/hotplug/parent-replaced", test_hotplug_parent_replaced);
        ADD("/inventory/burst", test_burst);
        ADD("/inventory/enumerate-differences", test_enumerate_differences);
        ADD("/inventory/domain-usage", test_domain_usage);
        ADD("/inventory/domain-usage-follows-chardev", test_domain_usage_follows_chardev);
#undef ADD

        return g_test_run();
}
