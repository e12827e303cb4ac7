/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OVS hardware-offload facts (DESIGN.md §9): Representor and PfNetdev, on a
 * umockdev testbed with the real inventory (run under umockdev-wrapper).
 *
 * tests/data/host.umockdev has the netdevs of two ConnectX-6 Dx cards as
 * mlx5 makes them:
 *   - card A (0000:04:00.x) in switchdev mode: uplinks enp4s0f0np0 (p0) and
 *     enp4s0f1np1 (p1), the representors enp4s0f0npf0vf0..vf3 (pf0vf0..3)
 *     of the VFs 0000:04:00.2..5 and enp4s0f0npf0sf4 (pf0sf4) of the SF
 *     mlx5_core.sf.4.  All sit in the PF's PCI device's net/ directory
 *     (mlx5e_build_rep_netdev: SET_NETDEV_DEV(netdev, mdev->device)).
 *     Both ports share one phys_switch_id: mlx5 uses the adapter's system
 *     image GUID (mlx5_query_nic_system_image_guid), the same for every PF
 *     of a card; the representor names (pf<P>...) tell the PFs apart.
 *   - card B (0000:81:00.x) in legacy mode: its uplink enp129s0f0np0 only,
 *     no representors.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <libudev.h>
#include <stdio.h>
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

#define PORT_A  "/sys/devices/pci0000:00/0000:00:02.0"
#define PF_A0   PORT_A "/0000:04:00.0"
#define PF_A1   PORT_A "/0000:04:00.1"
#define PF_B    "/sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0"
#define VF5     PORT_A "/0000:04:00.5"
#define SWITCH_A "5634120003f6ceb8"

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
        guint net_uevents;
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

/* As daemon/main.c routes them. */
static void on_uevent(UdevMonitor *m, struct udev_device *dev, void *userdata) {
        Fixture *f = userdata;

        if (g_strcmp0(udev_device_get_subsystem(dev), "net") == 0) {
                f->net_uevents++;
                g_assert_cmpint(inventory_handle_net_uevent(f->inv, dev), ==, 0);
        } else
                g_assert_cmpint(inventory_handle_uevent(f->inv, dev), ==, 0);
}

static void on_overflow(UdevMonitor *m, void *userdata) {
        g_error("no overflow expected in these tests");
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autofree char *host = g_build_filename(data_dir(), "host.umockdev", NULL);

        f->tb = umockdev_testbed_new();
        g_assert_true(umockdev_in_mock_environment());
        f->root = umockdev_testbed_get_root_dir(f->tb);
        g_assert_true(umockdev_testbed_add_from_file(f->tb, host, &error));
        g_assert_no_error(error);
        vdpa_testbed_add_vdpa_bus(f->tb);

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

static void start_monitor(Fixture *f) {
        static const char *const subsystems[] = { "vdpa", "net", NULL };

        g_assert_cmpint(sd_event_new(&f->loop), >=, 0);
        g_assert_cmpint(udev_monitor_source_new(f->loop, f->udev, 0, subsystems, on_uevent, on_overflow, f, &f->monitor), ==, 0);
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

static const VdpaDevice *single_changed(Fixture *f, const char *name) {
        g_assert_cmpuint(f->events->len, ==, 1);
        g_assert_cmpint(event_at(f, 0)->ev, ==, INVENTORY_DEVICE_CHANGED);
        g_assert_cmpstr(event_at(f, 0)->dev->hw.name, ==, name);
        return event_at(f, 0)->dev;
}

static void assert_net(Fixture *f, const char *name, const char *representor, const char *pf_netdev) {
        const VdpaDevice *d = inventory_lookup(f->inv, name);

        g_assert_nonnull(d);
        g_assert_cmpstr(d->hw.representor, ==, representor);
        g_assert_cmpstr(d->hw.pf_netdev, ==, pf_netdev);
}

static void enumerate(Fixture *f) {
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        /* Netdevs are not vDPA devices. */
        g_assert_cmpuint(inventory_count(f->inv), ==, 6);
}

static char *netdev_path(const char *pf, const char *name) {
        return g_strdup_printf("%s/net/%s", pf, name);
}

/* A netdev as mlx5 registers one (register_netdev: "add"). */
static void add_netdev(Fixture *f, const char *pf, const char *name, const char *switch_id, const char *port) {
        g_autofree char *rec = g_strdup_printf("P: %s/net/%s\n"
                                               "E: INTERFACE=%s\n"
                                               "E: SUBSYSTEM=net\n"
                                               "A: phys_port_name=%s\\n\n"
                                               "A: phys_switch_id=%s\\n\n",
                                               pf + strlen("/sys"), name, name, port, switch_id);
        g_autoptr(GError) error = NULL;

        g_assert_true(umockdev_testbed_add_from_string(f->tb, rec, &error));
        g_assert_no_error(error);
}

/* unregister_netdev: "remove" while sysfs still has it, then it goes. */
static void remove_netdev(Fixture *f, const char *pf, const char *name) {
        g_autofree char *p = netdev_path(pf, name);

        umockdev_testbed_uevent(f->tb, p, "remove");
        umockdev_testbed_remove_device(f->tb, p);
}

/* Before any monitor: as if the kernel never had it. */
static void drop_netdev(Fixture *f, const char *pf, const char *name) {
        g_autofree char *p = netdev_path(pf, name);

        umockdev_testbed_remove_device(f->tb, p);
        g_assert_false(g_file_test(p, G_FILE_TEST_EXISTS));
}

/* What a udev rename (NETDEV_CHANGENAME) does to sysfs: the directory and
 * its /sys/class/net link get the new name; then "move" with DEVPATH_OLD. */
static void rename_netdev(Fixture *f, const char *pf, const char *old, const char *new) {
        g_autofree char *old_sys = netdev_path(pf, old), *new_sys = netdev_path(pf, new);
        g_autofree char *old_dir = g_build_filename(f->root, old_sys, NULL);
        g_autofree char *new_dir = g_build_filename(f->root, new_sys, NULL);
        g_autofree char *old_link = g_build_filename(f->root, "sys/class/net", old, NULL);
        g_autofree char *new_link = g_build_filename(f->root, "sys/class/net", new, NULL);
        g_autofree char *target = g_file_read_link(old_link, NULL);
        g_autofree char *dir = NULL, *new_target = NULL;

        g_assert_nonnull(target);
        dir = g_path_get_dirname(target);
        new_target = g_build_filename(dir, new, NULL);
        g_assert_cmpint(rename(old_dir, new_dir), ==, 0);
        g_assert_cmpint(g_unlink(old_link), ==, 0);
        g_assert_cmpint(symlink(new_target, new_link), ==, 0);
        umockdev_testbed_set_property(f->tb, new_sys, "INTERFACE", new);
        umockdev_testbed_set_property(f->tb, new_sys, "DEVPATH_OLD", old_sys + strlen("/sys"));
        umockdev_testbed_uevent(f->tb, new_sys, "move");
}

/* ---- tests ---- */

static void test_fixture_layout(Fixture *f, gconstpointer data) {
        /* Where the kernel has them: the class link and the PF's net/. */
        g_assert_true(g_file_test("/sys/class/net/enp4s0f0npf0vf2", G_FILE_TEST_IS_SYMLINK));
        g_assert_true(g_file_test(PF_A0 "/net/enp4s0f0npf0sf4/phys_port_name", G_FILE_TEST_IS_REGULAR));
        g_assert_true(g_file_test(PF_B "/net/enp129s0f0np0", G_FILE_TEST_IS_DIR));
        g_assert_true(g_file_test(PORT_A "/0000:04:00.0/mlx5_core.sf.4/sfnum", G_FILE_TEST_IS_REGULAR));
}

static void test_present(Fixture *f, gconstpointer data) {
        enumerate(f);

        /* VFs: pf0vf<V> with V from the PF's virtfn<V> link. */
        assert_net(f, "vdpa0", "enp4s0f0npf0vf0", "enp4s0f0np0");
        assert_net(f, "vdpa1", "enp4s0f0npf0vf1", "enp4s0f0np0");
        assert_net(f, "blk0", "enp4s0f0npf0vf2", "enp4s0f0np0");
        /* SF: pf0sf<sfnum>. */
        assert_net(f, "fast1", "enp4s0f0npf0sf4", "enp4s0f0np0");
        /* Card B is in legacy mode: an uplink, no representors. */
        assert_net(f, "vdpa2", "", "enp129s0f0np0");
        /* A simulator has neither. */
        assert_net(f, "vdpa-sim0", "", "");

        /* Reported with the device's first event already. */
        for (guint i = 0; i < f->events->len; i++)
                if (g_str_equal(event_at(f, i)->dev->hw.name, "fast1"))
                        g_assert_cmpstr(event_at(f, i)->dev->hw.representor, ==, "enp4s0f0npf0sf4");

        /* Nothing changed: a second enumeration reports nothing. */
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

/* The same facts without an inventory, and PfNetdev per parent kind. */
static void test_pf_netdev(Fixture *f, gconstpointer data) {
        VdpaHardware hw = { .numa_node = -1 };

        read_hw(f, PORT_A "/0000:04:00.2/vdpa0", &hw);
        g_assert_cmpint(hw.parent_kind, ==, VDPA_PARENT_KIND_VF);
        g_assert_cmpstr(hw.pf_netdev, ==, "enp4s0f0np0");
        g_assert_cmpstr(hw.representor, ==, "enp4s0f0npf0vf0");

        read_hw(f, PF_A0 "/mlx5_core.sf.4/fast1", &hw);
        g_assert_cmpint(hw.parent_kind, ==, VDPA_PARENT_KIND_SF);
        g_assert_cmpstr(hw.pf_netdev, ==, "enp4s0f0np0");
        g_assert_cmpstr(hw.representor, ==, "enp4s0f0npf0sf4");

        read_hw(f, "/sys/devices/vdpasim_net/vdpa-sim0", &hw);
        g_assert_cmpint(hw.parent_kind, ==, VDPA_PARENT_KIND_VIRTUAL);
        g_assert_cmpstr(hw.pf_netdev, ==, "");
        g_assert_cmpstr(hw.representor, ==, "");

        /* A vDPA device on the second PF itself: its own uplink (p1, on
         * the same switch as p0), no representor. */
        g_assert_true(umockdev_testbed_add_from_string(f->tb,
                "P: /devices/pci0000:00/0000:00:02.0/0000:04:00.1/pfdev\n"
                "E: SUBSYSTEM=vdpa\n", NULL));
        read_hw(f, PF_A1 "/pfdev", &hw);
        g_assert_cmpint(hw.parent_kind, ==, VDPA_PARENT_KIND_PF);
        g_assert_cmpstr(hw.pf_netdev, ==, "enp4s0f1np1");
        g_assert_cmpstr(hw.representor, ==, "");

        /* The inventory says the same. */
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        assert_net(f, "pfdev", "", "enp4s0f1np1");
        assert_net(f, "vdpa0", "enp4s0f0npf0vf0", "enp4s0f0np0");

        vdpa_hardware_clear(&hw);
}

/* Legacy mode on card A too: no representor netdevs at all. */
static void test_legacy(Fixture *f, gconstpointer data) {
        for (guint v = 0; v < 4; v++) {
                g_autofree char *name = g_strdup_printf("enp4s0f0npf0vf%u", v);
                drop_netdev(f, PF_A0, name);
        }
        drop_netdev(f, PF_A0, "enp4s0f0npf0sf4");
        enumerate(f);

        assert_net(f, "vdpa0", "", "enp4s0f0np0");
        assert_net(f, "vdpa1", "", "enp4s0f0np0");
        assert_net(f, "blk0", "", "enp4s0f0np0");
        assert_net(f, "fast1", "", "enp4s0f0np0");
        assert_net(f, "vdpa2", "", "enp129s0f0np0");
}

/* switchdev after the fact: the representor comes after the vDPA device. */
static void test_late(Fixture *f, gconstpointer data) {
        g_autofree char *rec = g_build_filename(data_dir(), "hotplug-vf.umockdev", NULL);
        const VdpaDevice *d;

        drop_netdev(f, PF_A0, "enp4s0f0npf0vf3");
        drop_netdev(f, PF_A0, "enp4s0f0npf0vf0");
        drop_netdev(f, PF_A0, "enp4s0f0npf0sf4");
        start_monitor(f);
        enumerate(f);
        assert_net(f, "vdpa0", "", "enp4s0f0np0");
        assert_net(f, "fast1", "", "enp4s0f0np0");

        /* A new vDPA device on VF 3 (0000:04:00.5), no representor yet. */
        clear_events(f);
        g_assert_true(umockdev_testbed_add_from_file(f->tb, rec, NULL));
        run_until_idle(f);
        g_assert_cmpuint(f->events->len, ==, 1);
        g_assert_cmpint(event_at(f, 0)->ev, ==, INVENTORY_DEVICE_ADDED);
        g_assert_cmpstr(event_at(f, 0)->dev->hw.representor, ==, "");
        g_assert_cmpstr(event_at(f, 0)->dev->hw.pf_netdev, ==, "enp4s0f0np0");

        /* Its representor: exactly one CHANGED, for vdpa9 only. */
        clear_events(f);
        add_netdev(f, PF_A0, "enp4s0f0npf0vf3", SWITCH_A, "pf0vf3");
        run_until_idle(f);
        g_assert_cmpuint(f->net_uevents, ==, 1);
        d = single_changed(f, "vdpa9");
        g_assert_cmpstr(d->hw.representor, ==, "enp4s0f0npf0vf3");
        g_assert_cmpstr(d->hw.pf_netdev, ==, "enp4s0f0np0");
        assert_net(f, "vdpa9", "enp4s0f0npf0vf3", "enp4s0f0np0");

        /* And vdpa0's, which was there before. */
        clear_events(f);
        add_netdev(f, PF_A0, "enp4s0f0npf0vf0", SWITCH_A, "pf0vf0");
        run_until_idle(f);
        d = single_changed(f, "vdpa0");
        g_assert_cmpstr(d->hw.representor, ==, "enp4s0f0npf0vf0");

        /* An SF's (sfnum 4) comes late the same way. */
        clear_events(f);
        add_netdev(f, PF_A0, "enp4s0f0npf0sf4", SWITCH_A, "pf0sf4");
        run_until_idle(f);
        d = single_changed(f, "fast1");
        g_assert_cmpstr(d->hw.representor, ==, "enp4s0f0npf0sf4");
        g_assert_cmpstr(d->hw.pf_netdev, ==, "enp4s0f0np0");

        /* The representor of a VF without a vDPA device on the other card,
         * and a netdev nobody cares about: nothing. */
        clear_events(f);
        add_netdev(f, PF_B, "enp129s0f0npf0vf0", "dcba980003f6ceb8", "pf0vf7");
        g_assert_true(umockdev_testbed_add_from_string(f->tb,
                "P: /devices/virtual/net/br-int\n"
                "E: INTERFACE=br-int\n"
                "E: SUBSYSTEM=net\n", NULL));
        run_until_idle(f);
        g_assert_cmpuint(f->net_uevents, ==, 5);
        g_assert_cmpuint(f->events->len, ==, 0);

        /* Events and a full read agree. */
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 0);
}

static void test_removed(Fixture *f, gconstpointer data) {
        const VdpaDevice *d;

        start_monitor(f);
        enumerate(f);

        clear_events(f);
        remove_netdev(f, PF_A0, "enp4s0f0npf0vf0");
        run_until_idle(f);
        d = single_changed(f, "vdpa0");
        g_assert_cmpstr(d->hw.representor, ==, "");
        g_assert_cmpstr(d->hw.pf_netdev, ==, "enp4s0f0np0");

        clear_events(f);
        remove_netdev(f, PF_A0, "enp4s0f0npf0sf4");
        run_until_idle(f);
        d = single_changed(f, "fast1");
        g_assert_cmpstr(d->hw.representor, ==, "");

        /* The uplink goes (the PF's driver unbinds, say): every device on
         * that PF loses PfNetdev, each reported once; the representors of
         * a switch without a known uplink are unknown too. */
        clear_events(f);
        remove_netdev(f, PF_A0, "enp4s0f0np0");
        run_until_idle(f);
        g_assert_cmpuint(f->events->len, ==, 4); /* vdpa0, vdpa1, blk0, fast1 */
        for (guint i = 0; i < f->events->len; i++) {
                const Event *e = event_at(f, i);

                g_assert_cmpint(e->ev, ==, INVENTORY_DEVICE_CHANGED);
                g_assert_cmpstr(e->dev->hw.pf_netdev, ==, "");
                g_assert_cmpstr(e->dev->hw.representor, ==, "");
        }
        assert_net(f, "vdpa1", "", "");
        assert_net(f, "blk0", "", "");
        assert_net(f, "fast1", "", "");
        /* The other card is not touched. */
        assert_net(f, "vdpa2", "", "enp129s0f0np0");

        clear_events(f);
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 0);
}

static void test_renamed(Fixture *f, gconstpointer data) {
        const VdpaDevice *d;
        guint pf_devices = 0;

        start_monitor(f);
        enumerate(f);

        clear_events(f);
        rename_netdev(f, PF_A0, "enp4s0f0npf0vf1", "rep-vm1");
        run_until_idle(f);
        g_assert_cmpuint(f->net_uevents, ==, 1);
        d = single_changed(f, "vdpa1");
        g_assert_cmpstr(d->hw.representor, ==, "rep-vm1");
        assert_net(f, "vdpa1", "rep-vm1", "enp4s0f0np0");

        /* The uplink renamed: every device on PF 0000:04:00.0, once each. */
        clear_events(f);
        rename_netdev(f, PF_A0, "enp4s0f0np0", "uplink0");
        run_until_idle(f);
        for (guint i = 0; i < f->events->len; i++) {
                const Event *e = event_at(f, i);

                g_assert_cmpint(e->ev, ==, INVENTORY_DEVICE_CHANGED);
                g_assert_cmpstr(e->dev->hw.pf_netdev, ==, "uplink0");
                pf_devices++;
        }
        g_assert_cmpuint(pf_devices, ==, 4); /* vdpa0, vdpa1, blk0, fast1 */
        assert_net(f, "vdpa0", "enp4s0f0npf0vf0", "uplink0");
        assert_net(f, "fast1", "enp4s0f0npf0sf4", "uplink0");
        assert_net(f, "vdpa1", "rep-vm1", "uplink0");
        assert_net(f, "vdpa2", "", "enp129s0f0np0");

        /* A later removal under the new name is found. */
        clear_events(f);
        remove_netdev(f, PF_A0, "rep-vm1");
        run_until_idle(f);
        d = single_changed(f, "vdpa1");
        g_assert_cmpstr(d->hw.representor, ==, "");

        clear_events(f);
        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 0);
}

/* Net uevents lost (ENOBUFS): the re-enumeration brings them current and
 * reports exactly the differences. */
static void test_enumerate_differences(Fixture *f, gconstpointer data) {
        enumerate(f);
        clear_events(f);

        /* Behind the inventory's back: one representor gone, one new (card
         * B to switchdev), the SF's renamed. */
        drop_netdev(f, PF_A0, "enp4s0f0npf0vf2");
        add_netdev(f, PF_B, "enp129s0f0npf0vf0", "dcba980003f6ceb8", "pf0vf0");
        rename_netdev(f, PF_A0, "enp4s0f0npf0sf4", "sf4rep");

        g_assert_cmpint(inventory_enumerate(f->inv, f->udev), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 3);
        for (guint i = 0; i < f->events->len; i++)
                g_assert_cmpint(event_at(f, i)->ev, ==, INVENTORY_DEVICE_CHANGED);
        assert_net(f, "blk0", "", "enp4s0f0np0");
        assert_net(f, "vdpa2", "enp129s0f0npf0vf0", "enp129s0f0np0");
        assert_net(f, "fast1", "sf4rep", "enp4s0f0np0");
        assert_net(f, "vdpa0", "enp4s0f0npf0vf0", "enp4s0f0np0");
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        vdpa_testbed_isolate_uevent_queue();

        if (g_getenv("VDPA_TEST_VERBOSE"))
                log_set_max_level(LOG_DEBUG);

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("/representor/fixture-layout", test_fixture_layout);
        ADD("/representor/present", test_present);
        ADD("/representor/pf-netdev", test_pf_netdev);
        ADD("/representor/legacy", test_legacy);
        ADD("/representor/late", test_late);
        ADD("/representor/removed", test_removed);
        ADD("/representor/renamed", test_renamed);
        ADD("/representor/enumerate-differences", test_enumerate_differences);
#undef ADD

        return g_test_run();
}
