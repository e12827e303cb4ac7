/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "broker.h"
#include "config.h"
#include "inventory.h"

/* The org.vdpa.Manager D-Bus object.  Only the main thread calls into it;
 * lower modules report to main.c, which forwards here. */

typedef struct Manager Manager;

typedef struct ManagerLibvirtState {
        bool connected;
        unsigned long lib_version;   /* 0 unknown */
        unsigned long hv_version;    /* 0 unknown */
} ManagerLibvirtState;

/* BUS must already be connected; INVENTORY, BROKER and CONFIG are borrowed and must
 * outlive the manager.  KERNEL_VDPA: whether /sys/bus/vdpa exists. */
int manager_new(sd_bus *bus, Inventory *inventory, Broker *broker, const VdpaConfig *config,
                bool kernel_vdpa, Manager **ret);
Manager *manager_free(Manager *m);

/* Emit the signal for one inventory change (and Capabilities when the
 * number of available devices moved). */
void manager_device_event(Manager *m, InventoryEvent ev, const VdpaDevice *dev);

void manager_set_libvirt_state(Manager *m, const ManagerLibvirtState *s);

/* After a reload; CONFIG is borrowed.  Announces a new LiveMigration. */
void manager_set_config(Manager *m, const VdpaConfig *config);

/* Serialise one device as the a{sv} of DESIGN.md §2. */
int manager_append_device(sd_bus_message *reply, const VdpaDevice *d);
