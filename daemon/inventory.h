/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libudev.h>
#include <glib.h>

#include "config.h"
#include "device.h"

/* The model of all vDPA devices: sysfs facts (from libudev), overlaid with
 * usage (domains seen in libvirt, later claims) and configuration.  It
 * reports every visible change upward through one callback; it never
 * touches the bus. */

typedef struct Inventory Inventory;

typedef enum {
        INVENTORY_DEVICE_ADDED,
        INVENTORY_DEVICE_CHANGED,
        INVENTORY_DEVICE_REMOVED,
} InventoryEvent;

/* DEV is valid only during the call. For REMOVED it is the last state. */
typedef void (*InventoryCallback)(Inventory *inv, InventoryEvent ev, const VdpaDevice *dev, void *userdata);

Inventory *inventory_new(const VdpaConfig *config, InventoryCallback cb, void *userdata);
void inventory_free(Inventory *inv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Inventory, inventory_free)

/* Read one vDPA device from sysfs into HW: its own directory, its
 * ancestors and class net (Representor, PfNetdev) through libudev (pure
 * with respect to the inventory: it only reads sysfs, and reads all of
 * class net each time; the inventory keeps that in a cache).  Returns 0, or a negative errno when DEV is not a usable
 * vDPA device (e.g. it vanished meanwhile). */
int vdpa_hardware_from_udev(struct udev_device *dev, VdpaHardware *hw);

/* Enumerate every device on bus "vdpa" (and class "net" for their
 * representors) and bring the model to exactly that set, reporting only
 * the differences.  Used at start (when the model is
 * empty every device is ADDED) and after a lost uevent (ENOBUFS). */
int inventory_enumerate(Inventory *inv, struct udev *udev);

/* Apply one uevent of subsystem "vdpa" (add, bind, unbind, change, move,
 * remove).  Costs O(log n) in the number of devices: never rescans. */
int inventory_handle_uevent(Inventory *inv, struct udev_device *dev);

/* Replace the usage that libvirt reports: a table chardev path ->
 * (domain name, uuid).  Devices whose usage changed are reported. */
typedef struct VdpaDomainRef {
        char *domain;
        char *uuid;
} VdpaDomainRef;
void vdpa_domain_ref_free(VdpaDomainRef *r);
void inventory_set_domain_usage(Inventory *inv, GHashTable *chardev_to_ref /* char* -> VdpaDomainRef* */);

/* Record (CLAIM non-NULL) or drop a claim of this service on device NAME.
 * A claim outranks what libvirt says: its domain, uuid, mac and uid are
 * shown.  The claim may exist before the device does (after a restart). */
void inventory_set_claim(Inventory *inv, const char *name, const VdpaUsage *claim);

/* Update one entry of libvirt's usage (domain NULL: nobody) for device
 * NAME's chardev, after an attach or detach of ours. */
void inventory_set_domain_user(Inventory *inv, const char *name, const char *domain, const char *uuid);

/* What the kernel's netlink family says about device NAME (INFO NULL:
 * nothing).  Like a claim it may come before the device (a DEV_GET answered
 * before its "add" uevent is applied); a "remove" uevent drops it. */
void inventory_set_kernel_info(Inventory *inv, const char *name, const VdpaKernelInfo *info);
/* All of it at once, after a dump: TABLE name -> VdpaKernelInfo* (copied;
 * NULL: nothing known).  Devices whose facts changed are reported. */
void inventory_replace_kernel_info(Inventory *inv, GHashTable *table);

/* Device NAME was created under a [Provision] rule (DESIGN.md §8): its
 * Provisioned key.  Like a claim it may be known before the device. */
void inventory_set_provisioned(Inventory *inv, const char *name, bool provisioned);

/* Apply one uevent of subsystem "net": a PF netdev or a representor came,
 * went or was renamed ("move", with DEVPATH_OLD) (DESIGN.md §9).  Only
 * the devices of the PFs it touches are looked at; those whose
 * Representor or PfNetdev changed are reported. */
int inventory_handle_net_uevent(Inventory *inv, struct udev_device *dev);

/* Swap in a new configuration; reports devices whose state changes. */
void inventory_set_config(Inventory *inv, const VdpaConfig *config);

const VdpaDevice *inventory_lookup(Inventory *inv, const char *name);
guint inventory_count(Inventory *inv);
/* O(1): kept current as devices change. */
guint inventory_count_state(Inventory *inv, VdpaDeviceState state);

/* Visit devices in name order; stop early when FUNC returns false. */
typedef bool (*InventoryForeachFunc)(const VdpaDevice *dev, void *userdata);
void inventory_foreach(Inventory *inv, InventoryForeachFunc func, void *userdata);
