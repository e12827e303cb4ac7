/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "claims.h"
#include "config.h"
#include "inventory.h"
#include "libvirt-worker.h"

/* The Claim and Release state machines (DESIGN.md §3):
 *
 *   Claim:   validate -> polkit -> reserve -> inspect domain (worker) ->
 *            [auto-pick] -> intent written -> attach (worker) ->
 *            caller still there? -> claim written -> inventory -> reply
 *   Release: validate -> polkit -> reserve -> detach (worker) ->
 *            claim removed -> inventory -> reply
 *
 * Every failure after the reservation undoes what was done, in reverse, so
 * the device ends exactly as it was.  Runs on the main thread only; it
 * replies to the method calls itself and reports device changes through the
 * inventory, whose callback emits the signals. */

typedef struct Broker Broker;

typedef struct BrokerParams {
        sd_event *event;
        Inventory *inventory;         /* borrowed */
        const VdpaConfig *config;     /* borrowed */
        LibvirtWorker *worker;        /* borrowed */
        Claims *claims;               /* borrowed, loaded */
        uint64_t libvirt_timeout_usec;
} BrokerParams;

Broker *broker_new(const BrokerParams *p);
void broker_free(Broker *b);

/* Whether libvirt is reachable; while not, Claim/Release fail fast. */
void broker_set_libvirt_connected(Broker *b, bool connected);

/* Start-up: show recorded claims and roll back unfinished intents (detach
 * what libvirt may have attached, then forget them). */
void broker_restore(Broker *b);

/* Reconcile with a libvirt scan: a claim whose domain no longer has its
 * device is dropped, and an intent left over from a failed roll-back is
 * rolled back again.  USAGE: chardev -> VdpaDomainRef*. */
void broker_reconcile(Broker *b, GHashTable *usage);

/* sd-bus method handlers; USERDATA is the Broker. */
int broker_method_claim(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int broker_method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int broker_method_check_migration(sd_bus_message *msg, void *userdata, sd_bus_error *error);

/* After a configuration reload (SIGHUP): CONFIG is borrowed. */
void broker_set_config(Broker *b, const VdpaConfig *config);

/* Stable locally-administered unicast MAC for DEVICE in DOMAIN_UUID. */
char *broker_generate_mac(const char *device, const char *domain_uuid);

/* Claim, Release, CheckMigration and start-up roll-back operations alive:
 * from the method call until the last of their work (a roll-back, a late
 * libvirt answer) is done. */
unsigned broker_count_operations(const Broker *b);

/* Whether NAME is reserved by an operation in flight. */
bool broker_is_busy(Broker *b, const char *name);

/* Provisioning holds NAME while it creates or deletes that device, so that
 * a Claim meanwhile gets DeviceBusy.  FALSE when it is reserved already. */
bool broker_reserve_name(Broker *b, const char *name);
void broker_unreserve_name(Broker *b, const char *name);
