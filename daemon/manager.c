/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manager.h"

#include <errno.h>
#include <string.h>

#include "config.h"
#include "heap-trim.h"
#include "broker.h"
#include "bus-util.h"
#include "iface-xml.h"
#include "log.h"
#include "macro.h"
#include "options.h"
#include "vdpa-names.h"
#include "build-config.h"

/* The seed's minimums for a working vDPA stack. */
#define MIN_LIBVIRT_VERSION 6009000UL   /* 6.9.0 */
#define MIN_QEMU_VERSION    5001000UL   /* 5.1.0 */

struct Manager {
        sd_bus *bus;
        sd_bus_slot *vtable_slot;
        sd_bus_slot *filter_slot;
        Inventory *inventory;
        Broker *broker;
        Provision *provision;
        ProvisionRules *rules;
        const VdpaConfig *config;
        bool kernel_vdpa;
        bool vdpa_netlink;
        ManagerLibvirtState libvirt;
        guint last_available;    /* AvailableDevices last announced */
        HeapTrim *trim;
};

/* One {sv} entry.  Built with the container calls rather than a format
 * string: Devices() appends 25 entries per device, and parsing "{sv}"
 * each time was most of its cost at 4096 devices (bench/, calls).  With
 * every entry built so, Devices() makes exactly the sd-bus calls of the
 * benchmark's same-shape floor (bench/trivial-service.c, Shaped()). */
static int append_entry(sd_bus_message *m, const char *key, char type, const void *value) {
        const char sig[2] = { type, 0 };
        int r;

        if ((r = sd_bus_message_open_container(m, 'e', "sv")) < 0 ||
            (r = sd_bus_message_append_basic(m, 's', key)) < 0 ||
            (r = sd_bus_message_open_container(m, 'v', sig)) < 0 ||
            (r = sd_bus_message_append_basic(m, type, value)) < 0 ||
            (r = sd_bus_message_close_container(m)) < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static int append_str(sd_bus_message *m, const char *key, const char *value) {
        return append_entry(m, key, 's', strempty(value));
}

int manager_append_device(sd_bus_message *m, const VdpaDevice *d) {
        const int provisioned = d->provisioned;    /* sd-bus reads a 'b' as an int */
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;

        if ((r = append_str(m, VDPA_KEY_NAME, d->hw.name)) < 0 ||
            (r = append_str(m, VDPA_KEY_SYSFS_PATH, d->hw.syspath)) < 0 ||
            (r = append_str(m, VDPA_KEY_DRIVER, d->hw.driver)) < 0 ||
            (r = append_str(m, VDPA_KEY_CHARDEV, d->hw.chardev)) < 0 ||
            (r = append_str(m, VDPA_KEY_PARENT_KIND, vdpa_parent_kind_to_string(d->hw.parent_kind))) < 0 ||
            (r = append_str(m, VDPA_KEY_PARENT_DEVICE, d->hw.parent_device)) < 0 ||
            (r = append_str(m, VDPA_KEY_PHYSICAL_FUNCTION, d->hw.physical_function)) < 0 ||
            (r = append_entry(m, VDPA_KEY_VENDOR_ID, 'q', &d->hw.vendor_id)) < 0 ||
            (r = append_entry(m, VDPA_KEY_PRODUCT_ID, 'q', &d->hw.product_id)) < 0 ||
            (r = append_entry(m, VDPA_KEY_NUMA_NODE, 'i', &d->hw.numa_node)) < 0 ||
            (r = append_str(m, VDPA_KEY_STATE, vdpa_device_state_to_string(d->state))) < 0 ||
            (r = append_str(m, VDPA_KEY_DOMAIN, d->usage.domain)) < 0 ||
            (r = append_str(m, VDPA_KEY_DOMAIN_UUID, d->usage.domain_uuid)) < 0 ||
            (r = append_str(m, VDPA_KEY_MAC, d->usage.mac)) < 0 ||
            (r = append_entry(m, VDPA_KEY_CLAIMED_BY, 'u', &d->usage.claimed_by)) < 0 ||
            (r = append_str(m, VDPA_KEY_TYPE, d->kernel.type)) < 0 ||
            (r = append_str(m, VDPA_KEY_MANAGEMENT_DEVICE, d->kernel.mgmtdev)) < 0 ||
            (r = append_entry(m, VDPA_KEY_MAX_QUEUES, 'u', &d->kernel.max_queues)) < 0 ||
            (r = append_entry(m, VDPA_KEY_MAX_QUEUE_SIZE, 'q', &d->kernel.max_queue_size)) < 0 ||
            (r = append_str(m, VDPA_KEY_DEVICE_MAC, d->kernel.mac)) < 0 ||
            (r = append_entry(m, VDPA_KEY_MTU, 'q', &d->kernel.mtu)) < 0 ||
            (r = append_entry(m, VDPA_KEY_MAX_QUEUE_PAIRS, 'q', &d->kernel.max_queue_pairs)) < 0 ||
            (r = append_entry(m, VDPA_KEY_PROVISIONED, 'b', &provisioned)) < 0 ||
            (r = append_str(m, VDPA_KEY_REPRESENTOR, d->hw.representor)) < 0 ||
            (r = append_str(m, VDPA_KEY_PF_NETDEV, d->hw.pf_netdev)) < 0)
                return r;

        return sd_bus_message_close_container(m);
}

static const VdpaDevice *lookup_device(Manager *m, const char *name, sd_bus_error *error) {
        const VdpaDevice *d = inventory_lookup(m->inventory, name);
        g_autofree char *echo = NULL;

        if (d)
                return d;
        echo = bus_echo_string(name);
        sd_bus_error_setf(error, VDPA_ERROR_NO_SUCH_DEVICE, "No vDPA device '%s'", echo);
        return NULL;
}

/* --- methods --- */

typedef struct AppendCtx {
        int r;
        sd_bus_message *reply;
} AppendCtx;

static bool append_visit(const VdpaDevice *d, void *userdata) {
        AppendCtx *c = userdata;

        c->r = manager_append_device(c->reply, d);
        return c->r >= 0;
}

static int method_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        AppendCtx c = {};
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;

        c.reply = reply;
        inventory_foreach(m->inventory, append_visit, &c);
        if (c.r < 0)
                return c.r;

        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        r = sd_bus_send(NULL, reply, NULL);
        if (r >= 0)
                heap_trim_request(m->trim);
        return r;
}

static int method_get_device(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        const VdpaDevice *d;
        const char *name;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;

        d = lookup_device(m, name, error);
        if (!d)
                return -ENOENT;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = manager_append_device(reply, d);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* Why a device cannot be handed out or built for, or NULL when it can. */
static int check_usable(const VdpaDevice *d, sd_bus_error *error) {
        if (!d->allowed)
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_UNUSABLE,
                                         "Device '%s' is excluded by the configuration", d->hw.name);
        if (!vdpa_kernel_type_is_usable(d->kernel.type))
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_UNUSABLE,
                                         "Device '%s' is a virtio %s device, not a network device",
                                         d->hw.name, d->kernel.type);
        if (!d->hw.chardev || !d->hw.chardev[0])
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_UNUSABLE,
                                         "Device '%s' has no vhost-vdpa character device (driver: %s)",
                                         d->hw.name, d->hw.driver && d->hw.driver[0] ? d->hw.driver : "none");
        return 0;
}

static int method_build_interface_xml(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(vdpa_options_clear) VdpaOptions o = VDPA_OPTIONS_INIT;
        g_autofree char *xml = NULL;
        Manager *m = userdata;
        const VdpaDevice *d;
        const char *name;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;

        /* Arguments first: a bad option is the caller's error whatever the device. */
        r = bus_read_options(msg, VDPA_OPTION_SET_XML, &o, error);
        if (r < 0)
                return r;

        d = lookup_device(m, name, error);
        if (!d)
                return -ENOENT;
        r = check_usable(d, error);
        if (r < 0)
                return r;

        r = vdpa_iface_xml_build(d->hw.chardev, &o.iface, &xml);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "Failed to build interface XML for '%s': %m", d->hw.name);

        return sd_bus_reply_method_return(msg, "s", xml);
}

static int method_claim(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return broker_method_claim(msg, m->broker, error);
}

static int method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return broker_method_release(msg, m->broker, error);
}

static int method_check_migration(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return broker_method_check_migration(msg, m->broker, error);
}

static int method_management_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return provision_method_management_devices(msg, m->provision, error);
}

static int method_create_device(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return provision_method_create_device(msg, m->provision, error);
}

static int method_delete_device(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return provision_method_delete_device(msg, m->provision, error);
}

/* --- properties --- */

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_get_libvirt_uri(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "s", m->config->libvirt_uri);
}

static int property_get_live_migration(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "s", vdpa_migration_policy_to_string(m->config->live_migration));
}

static int property_get_libvirt_connected(sd_bus *bus, const char *path, const char *interface, const char *property,
                                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "b", m->libvirt.connected);
}

static int property_get_operations_in_flight(sd_bus *bus, const char *path, const char *interface,
                                             const char *property, sd_bus_message *reply, void *userdata,
                                             sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "u", (uint32_t) (broker_count_operations(m->broker) +
                                                              provision_count_operations(m->provision) +
                                                              provision_rules_count_operations(m->rules)));
}

static char *format_version(unsigned long v) {
        if (v == 0)
                return g_strdup("");
        return g_strdup_printf("%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
}

static int property_get_capabilities(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        g_autofree char *lv = format_version(m->libvirt.lib_version);
        g_autofree char *qv = format_version(m->libvirt.hv_version);
        bool supported = m->kernel_vdpa &&
                m->libvirt.lib_version >= MIN_LIBVIRT_VERSION &&
                m->libvirt.hv_version >= MIN_QEMU_VERSION;

        return sd_bus_message_append(reply, "a{sv}", 6,
                                     VDPA_CAP_KERNEL_VDPA, "b", m->kernel_vdpa,
                                     VDPA_CAP_VDPA_NETLINK, "b", m->vdpa_netlink,
                                     "LibvirtVersion", "s", lv,
                                     "QemuVersion", "s", qv,
                                     "VdpaSupported", "b", supported,
                                     "AvailableDevices", "u", (uint32_t) inventory_count_state(m->inventory, VDPA_DEVICE_AVAILABLE));
}

static int append_provision_rule(sd_bus_message *reply, const VdpaProvisionRule *r) {
        return sd_bus_message_append(reply, "a{sv}", 6,
                                     VDPA_RULE_KEY_NAME, "s", r->name,
                                     VDPA_RULE_KEY_MANAGEMENT_DEVICE, "s", r->mgmtdev,
                                     VDPA_RULE_KEY_MAX_QUEUE_PAIRS, "q", r->max_queue_pairs,
                                     VDPA_RULE_KEY_MTU, "q", r->mtu,
                                     VDPA_RULE_KEY_MAC, "s", r->mac_auto ? "auto" : "",
                                     VDPA_RULE_KEY_NAME_PATTERN, "s", r->name_pattern);
}

static int property_get_provision_rules(sd_bus *bus, const char *path, const char *interface,
                                        const char *property, sd_bus_message *reply, void *userdata,
                                        sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (guint i = 0; r >= 0 && i < m->config->provision->len; i++)
                r = append_provision_rule(reply, g_ptr_array_index(m->config->provision, i));
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static bool provision_rules_equal(const GPtrArray *a, const GPtrArray *b) {
        if (a->len != b->len)
                return false;
        for (guint i = 0; i < a->len; i++) {
                const VdpaProvisionRule *x = g_ptr_array_index(a, i), *y = g_ptr_array_index(b, i);

                if (g_strcmp0(x->name, y->name) != 0 || g_strcmp0(x->mgmtdev, y->mgmtdev) != 0 ||
                    x->max_queue_pairs != y->max_queue_pairs || x->mtu != y->mtu ||
                    x->mac_auto != y->mac_auto || g_strcmp0(x->name_pattern, y->name_pattern) != 0)
                        return false;
        }
        return true;
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),

        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("LibvirtUri", "s", property_get_libvirt_uri, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("LiveMigration", "s", property_get_live_migration, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LibvirtConnected", "b", property_get_libvirt_connected, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Capabilities", "a{sv}", property_get_capabilities, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ProvisionRules", "aa{sv}", property_get_provision_rules, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* Changes with every call: read, never announced. */
        SD_BUS_PROPERTY("OperationsInFlight", "u", property_get_operations_in_flight, 0, 0),

        SD_BUS_METHOD_WITH_ARGS("Devices",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("aa{sv}", devices),
                                method_devices, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetDevice",
                                SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("a{sv}", device),
                                method_get_device, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("BuildInterfaceXml",
                                SD_BUS_ARGS("s", device, "a{sv}", options),
                                SD_BUS_RESULT("s", xml),
                                method_build_interface_xml, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Claim",
                                SD_BUS_ARGS("s", device, "s", domain, "a{sv}", options),
                                SD_BUS_RESULT("s", device, "s", xml),
                                method_claim, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Release",
                                SD_BUS_ARGS("s", device, "a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_release, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CheckMigration",
                                SD_BUS_ARGS("s", domain),
                                SD_BUS_NO_RESULT,
                                method_check_migration, SD_BUS_VTABLE_UNPRIVILEGED),

        SD_BUS_METHOD_WITH_ARGS("ManagementDevices",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("aa{sv}", mgmtdevs),
                                method_management_devices, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CreateDevice",
                                SD_BUS_ARGS("s", mgmtdev, "s", name, "a{sv}", options),
                                SD_BUS_RESULT("s", name),
                                method_create_device, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeleteDevice",
                                SD_BUS_ARGS("s", name, "a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_delete_device, SD_BUS_VTABLE_UNPRIVILEGED),

        SD_BUS_SIGNAL_WITH_ARGS("DeviceAdded", SD_BUS_ARGS("s", name, "a{sv}", device), 0),
        SD_BUS_SIGNAL_WITH_ARGS("DeviceRemoved", SD_BUS_ARGS("s", name), 0),
        SD_BUS_SIGNAL_WITH_ARGS("DeviceChanged", SD_BUS_ARGS("s", name, "a{sv}", device), 0),

        SD_BUS_VTABLE_END
};

/* --- signals --- */

static void emit_capabilities_if_changed(Manager *m) {
        guint available = inventory_count_state(m->inventory, VDPA_DEVICE_AVAILABLE);
        int r;

        if (available == m->last_available)
                return;
        m->last_available = available;
        r = sd_bus_emit_properties_changed(m->bus, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Capabilities", NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to emit PropertiesChanged(Capabilities): %m");
}

void manager_device_event(Manager *m, InventoryEvent ev, const VdpaDevice *dev) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        const char *member;
        int r;

        switch (ev) {
        case INVENTORY_DEVICE_ADDED:   member = "DeviceAdded"; break;
        case INVENTORY_DEVICE_CHANGED: member = "DeviceChanged"; break;
        case INVENTORY_DEVICE_REMOVED: member = "DeviceRemoved"; break;
        default: g_assert_not_reached();
        }

        r = sd_bus_message_new_signal(m->bus, &sig, VDPA_OBJECT_PATH, VDPA_INTERFACE, member);
        if (r >= 0)
                r = sd_bus_message_append(sig, "s", dev->hw.name);
        if (r >= 0 && ev != INVENTORY_DEVICE_REMOVED)
                r = manager_append_device(sig, dev);
        if (r >= 0)
                r = sd_bus_send(m->bus, sig, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to emit %s(%s): %m", member, dev->hw.name);

        emit_capabilities_if_changed(m);
}

void manager_set_config(Manager *m, const VdpaConfig *config) {
        bool policy_changed = m->config->live_migration != config->live_migration;
        bool rules_changed = !provision_rules_equal(m->config->provision, config->provision);
        int r;

        m->config = config;
        if (policy_changed) {
                r = sd_bus_emit_properties_changed(m->bus, VDPA_OBJECT_PATH, VDPA_INTERFACE, "LiveMigration", NULL);
                if (r < 0)
                        log_warning_errno(r, "Failed to emit PropertiesChanged(LiveMigration): %m");
        }
        if (rules_changed) {
                r = sd_bus_emit_properties_changed(m->bus, VDPA_OBJECT_PATH, VDPA_INTERFACE, "ProvisionRules", NULL);
                if (r < 0)
                        log_warning_errno(r, "Failed to emit PropertiesChanged(ProvisionRules): %m");
        }
}

void manager_set_libvirt_state(Manager *m, const ManagerLibvirtState *s) {
        bool connected_changed = m->libvirt.connected != s->connected;
        bool caps_changed = m->libvirt.lib_version != s->lib_version ||
                m->libvirt.hv_version != s->hv_version;
        int r;

        m->libvirt = *s;

        if (!connected_changed && !caps_changed)
                return;
        r = sd_bus_emit_properties_changed(m->bus, VDPA_OBJECT_PATH, VDPA_INTERFACE,
                                           connected_changed ? "LibvirtConnected" : "Capabilities",
                                           connected_changed && caps_changed ? "Capabilities" : NULL,
                                           NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to emit PropertiesChanged: %m");
}

/* sd-bus's built-in Properties, Introspectable and Peer handlers read the
 * arguments they need and ignore the rest: GetAll("s", "s", ...) succeeds.
 * Our contract is that bad input gets a precise error, so calls to these
 * standard interfaces with the wrong signature are answered here first.
 * (Found by tests/fuzz-bus.c.) */
static const struct {
        const char *interface;
        const char *member;
        const char *signature;
} standard_methods[] = {
        { "org.freedesktop.DBus.Properties",    "Get",          "ss"  },
        { "org.freedesktop.DBus.Properties",    "GetAll",       "s"   },
        { "org.freedesktop.DBus.Properties",    "Set",          "ssv" },
        { "org.freedesktop.DBus.Introspectable", "Introspect",   ""    },
        { "org.freedesktop.DBus.Peer",          "Ping",         ""    },
        { "org.freedesktop.DBus.Peer",          "GetMachineId", ""    },
};

static int filter_standard_signatures(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *interface, *member, *signature;

        if (!sd_bus_message_is_method_call(m, NULL, NULL))
                return 0;
        interface = sd_bus_message_get_interface(m);
        member = sd_bus_message_get_member(m);
        if (!interface || !member)
                return 0;
        signature = strempty(sd_bus_message_get_signature(m, true));

        for (size_t i = 0; i < ELEMENTSOF(standard_methods); i++) {
                if (!streq_ptr(interface, standard_methods[i].interface) ||
                    !streq_ptr(member, standard_methods[i].member))
                        continue;
                if (streq_ptr(signature, standard_methods[i].signature))
                        return 0;
                (void) sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS,
                                                  "%s.%s takes arguments of type '%s', not '%s'",
                                                  interface, member, standard_methods[i].signature,
                                                  signature);
                return 1;
        }
        return 0;
}

int manager_new(const ManagerParams *p, Manager **ret) {
        g_autofree Manager *m = g_new0(Manager, 1);
        sd_bus *bus = p->bus;
        int r;

        m->bus = sd_bus_ref(bus);
        m->inventory = p->inventory;
        m->broker = p->broker;
        m->provision = p->provision;
        m->rules = p->rules;
        m->config = p->config;
        m->trim = p->trim;
        m->kernel_vdpa = p->kernel_vdpa;
        m->vdpa_netlink = p->vdpa_netlink;
        m->last_available = inventory_count_state(p->inventory, VDPA_DEVICE_AVAILABLE);

        r = sd_bus_add_object_vtable(bus, &m->vtable_slot, VDPA_OBJECT_PATH, VDPA_INTERFACE, manager_vtable, m);
        if (r < 0) {
                sd_bus_unref(m->bus);
                return log_error_errno(r, "Failed to register %s: %m", VDPA_OBJECT_PATH);
        }

        r = sd_bus_add_filter(bus, &m->filter_slot, filter_standard_signatures, m);
        if (r < 0) {
                sd_bus_slot_unref(m->vtable_slot);
                sd_bus_unref(m->bus);
                return log_error_errno(r, "Failed to add the signature filter: %m");
        }

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        sd_bus_slot_unref(m->filter_slot);
        sd_bus_slot_unref(m->vtable_slot);
        sd_bus_unref(m->bus);
        g_free(m);
        return NULL;
}
