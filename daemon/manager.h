/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "broker.h"
#include "config.h"
#include "heap-trim.h"
#include "inventory.h"
#include "provision.h"
#include "provision-rules.h"

/* The org.vdpa.Manager D-Bus object.  Only the main thread calls into it;
 * lower modules report to main.c, which forwards here. */

typedef struct Manager Manager;

typedef struct ManagerLibvirtState {
        bool connected;
        unsigned long lib_version;   /* 0 unknown */
        unsigned long hv_version;    /* 0 unknown */
} ManagerLibvirtState;

typedef struct ManagerParams {
        sd_bus *bus;                  /* connected */
        Inventory *inventory;         /* borrowed, like the rest: must outlive the manager */
        Broker *broker;
        Provision *provision;
        ProvisionRules *rules;
        const VdpaConfig *config;
        HeapTrim *trim;               /* asked after each Devices() reply; may be NULL */
        bool kernel_vdpa;             /* /sys/bus/vdpa exists */
        bool vdpa_netlink;            /* the kernel's vdpa netlink family answered */
} ManagerParams;

int manager_new(const ManagerParams *p, Manager **ret);
Manager *manager_free(Manager *m);

/* Emit the signal for one inventory change (and Capabilities when the
 * number of available devices moved). */
void manager_device_event(Manager *m, InventoryEvent ev, const VdpaDevice *dev);

void manager_set_libvirt_state(Manager *m, const ManagerLibvirtState *s);

/* After a reload; CONFIG is borrowed.  Announces a new LiveMigration. */
void manager_set_config(Manager *m, const VdpaConfig *config);

/* Serialise one device as the a{sv} of DESIGN.md §2. */
int manager_append_device(sd_bus_message *reply, const VdpaDevice *d);
