/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libudev.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "broker.h"
#include "device.h"
#include "inventory.h"
#include "netlink-worker.h"

/* The kernel's management plane on the bus (DESIGN.md §7):
 * ManagementDevices, CreateDevice and DeleteDevice.
 *
 *   CreateDevice: validate -> polkit -> hold the name -> DEV_NEW (worker) ->
 *                 wait for the inventory's ADDED -> reply
 *   DeleteDevice: validate -> polkit -> hold the name -> DEV_DEL (worker) ->
 *                 wait for the inventory's REMOVED -> reply
 *
 * A held name is busy for Claim (broker_reserve_name), and a claimed,
 * in-use or reserved device cannot be deleted.  Main thread only; netlink
 * runs on the worker. */

typedef struct Provision Provision;

typedef struct ProvisionParams {
        sd_event *event;
        struct udev *udev;            /* borrowed: management devices' parents */
        Inventory *inventory;         /* borrowed */
        Broker *broker;               /* borrowed */
        NetlinkWorker *worker;        /* borrowed */
        uint64_t timeout_usec;        /* how long a created device may take to appear */
} ProvisionParams;

Provision *provision_new(const ProvisionParams *p);
void provision_free(Provision *p);

/* main.c forwards every inventory event here (after the bus signal). */
void provision_device_event(Provision *p, InventoryEvent ev, const VdpaDevice *dev);

/* CreateDevice and DeleteDevice calls alive, and ManagementDevices calls
 * waiting for the kernel. */
unsigned provision_count_operations(const Provision *p);

/* What this service created device NAME with fills what the kernel did not
 * tell (yet): DeviceMac, Mtu, MaxQueuePairs. */
void provision_fill_created(Provision *p, const char *name, VdpaKernelInfo *k);

/* Create a device as CreateDevice does, for the configuration's rules
 * (provision-rules.c): no polkit, the same name hold, DEV_NEW, the wait
 * for the inventory's ADDED and the roll-back when it never comes.  DONE
 * gets ERROR NULL once the device is in the inventory, else the error a
 * CreateDevice would have answered; called exactly once (already from
 * within provision_create() when the name is busy). */
typedef struct ProvisionCreateParams {
        const char *mgmtdev;
        const char *name;
        const char *mac;              /* NULL or "": the driver's */
        uint16_t mtu;                 /* 0: not sent */
        uint16_t max_queue_pairs;     /* 0: not sent */
} ProvisionCreateParams;
typedef void (*ProvisionCreateDone)(const char *name, const sd_bus_error *error, void *userdata);
void provision_create(Provision *p, const ProvisionCreateParams *cp, ProvisionCreateDone done, void *userdata);

/* What ManagementDevices() shows as ProvisionRule and ProvisionError of
 * HANDLE (both never NULL). */
typedef void (*ProvisionDescribeFunc)(const char *handle, const char **rule, const char **error, void *userdata);
void provision_set_describe(Provision *p, ProvisionDescribeFunc f, void *userdata);

/* What a device was created with, known from elsewhere (the rules'
 * records after a restart): as if this service had just created it. */
void provision_remember_created(Provision *p, const char *name, const char *mac, uint16_t mtu,
                                uint16_t max_queue_pairs);

void provision_forget_created(Provision *p, const char *name);

int provision_method_management_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int provision_method_create_device(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int provision_method_delete_device(sd_bus_message *msg, void *userdata, sd_bus_error *error);
