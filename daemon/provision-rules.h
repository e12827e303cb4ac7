/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "inventory.h"
#include "netlink-worker.h"
#include "provision.h"

/* Declarative provisioning (DESIGN.md §8): every management device that a
 * [Provision NAME] rule matches and that has no vDPA device gets one, made
 * as CreateDevice makes it (provision_create()).
 *
 *   trigger (start, reload, a pci/auxiliary uevent, a provisioned device
 *   removed, a retry timer) -> MGMTDEV_GET dump (worker) -> per management
 *   device, in the kernel's order: first matching rule -> record the intent
 *   durably -> provision_create() -> drop the record if it failed
 *
 * The record (state directory, file "provisioned") is written before
 * DEV_NEW, so that after a kill -9 every device made under a rule has one;
 * a record whose device is absent from a pass's DEV_GET dump (or on
 * another management device) is dropped.  A failing
 * management device is retried with exponential backoff; its last error is
 * shown by ManagementDevices() (ProvisionError).  Main thread only. */

typedef struct ProvisionRules ProvisionRules;

typedef struct ProvisionRulesParams {
        sd_event *event;
        Inventory *inventory;         /* borrowed */
        Provision *provision;         /* borrowed: creates the devices */
        NetlinkWorker *worker;        /* borrowed: MGMTDEV_GET dumps */
        const char *state_dir;
        const VdpaConfig *config;     /* borrowed until provision_rules_set_config() */
} ProvisionRulesParams;

/* Loads the records and MACs of the state directory. */
int provision_rules_new(const ProvisionRulesParams *p, ProvisionRules **ret, GError **error);
void provision_rules_free(ProvisionRules *r);

/* The inventory is complete: the first pass (it drops the records of
 * absent devices). */
void provision_rules_start(ProvisionRules *r);
/* A reloaded configuration: its rules apply from now on (nothing is
 * deleted); a pass follows. */
void provision_rules_set_config(ProvisionRules *r, const VdpaConfig *config);

/* uevent of subsystem pci or auxiliary (ACTION may be NULL). */
void provision_rules_parent_event(ProvisionRules *r, const char *action, const char *syspath);
/* main.c forwards every inventory event here. */
void provision_rules_device_event(ProvisionRules *r, InventoryEvent ev, const VdpaDevice *dev);

/* For ManagementDevices(): the first rule matching HANDLE ("" none) and
 * the last provisioning error on it ("" none).  Never NULL. */
void provision_rules_describe(ProvisionRules *r, const char *handle, const char **rule, const char **error);

/* A pass asked for or in flight (1 or 0) plus the creations queued, for
 * OperationsInFlight; those handed to provision.c count there. */
unsigned provision_rules_count_operations(const ProvisionRules *r);
