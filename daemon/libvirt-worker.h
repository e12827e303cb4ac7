/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <glib.h>
#include <systemd/sd-event.h>

/* One thread owns the libvirt connection; every libvirt call runs there.
 * Jobs go in through a queue; their completion runs on the sd-event loop of
 * the main thread, which alone touches sd-bus.  A hung libvirtd therefore
 * stalls only the worker, never the bus. */

typedef struct LibvirtWorker LibvirtWorker;
typedef struct _virConnect *virConnectPtr;
typedef struct _virDomain *virDomainPtr;

/* Runs on the worker thread, which owns the connection. */
typedef void (*LibvirtJobRun)(LibvirtWorker *w, void *job);
/* Runs on the main thread after RUN returned; owns JOB afterwards. */
typedef void (*LibvirtJobDone)(void *job, void *userdata);

int libvirt_worker_new(sd_event *event, const char *uri, LibvirtWorker **ret);
/* Stop the thread.  Waits for a running job only up to a short bound: a
 * worker stuck in a hung libvirtd is abandoned rather than hanging exit. */
void libvirt_worker_free(LibvirtWorker *w);

/* FREE_JOB releases JOB when DONE never runs (the worker is freed first). */
void libvirt_worker_submit(LibvirtWorker *w, void *job, LibvirtJobRun run, LibvirtJobDone done,
                           GDestroyNotify free_job, void *userdata);

/* A snapshot of which domains reference which vDPA chardevs, and the
 * versions libvirt reports; produced by libvirt_scan_job. */
typedef struct LibvirtScan {
        bool connected;
        char *error;                 /* why not, when !connected */
        GHashTable *usage;           /* chardev -> VdpaDomainRef* */
        unsigned long lib_version;   /* 1000000*major + 1000*minor + release */
        unsigned long hv_version;
} LibvirtScan;

void libvirt_scan_free(LibvirtScan *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LibvirtScan, libvirt_scan_free)

/* Submit a scan: connect if needed, list all domains, read live and inactive
 * XML, collect vDPA sources.  DONE receives the LibvirtScan*. */
void libvirt_worker_submit_scan(LibvirtWorker *w, LibvirtJobDone done, void *userdata);

/* How a libvirt job failed, so that the bus can answer precisely. */
typedef enum {
        LIBVIRT_OK = 0,
        LIBVIRT_ERR_UNAVAILABLE,    /* no connection */
        LIBVIRT_ERR_NO_DOMAIN,
        LIBVIRT_ERR_FAILED,         /* libvirt refused; error holds its text */
} LibvirtStatus;

/* What a Claim needs to know about its domain. */
typedef struct LibvirtDomainInfo {
        char *name;                  /* in */
        bool handle_only;            /* in: only look it up (status, dom) */
        bool placement;              /* in: also read numa_nodes (the domain's XML) */
        LibvirtStatus status;
        char *error;
        char *uuid;
        bool active;
        bool persistent;
        GArray *numa_nodes;          /* guint: host nodes of its memory; empty = unknown */
        virDomainPtr dom;            /* the handle: a later job on it needs no lookup */
} LibvirtDomainInfo;

void libvirt_domain_info_free(LibvirtDomainInfo *i);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LibvirtDomainInfo, libvirt_domain_info_free)
/* PLACEMENT: the domain's NUMA nodes are wanted too (choosing a device for
 * it); they cost a read and parse of its XML. */
void libvirt_worker_submit_inspect(LibvirtWorker *w, const char *domain, bool placement, LibvirtJobDone done,
                                   void *userdata);
/* Only the handle (a Release's detach then needs no lookup of its own). */
void libvirt_worker_submit_lookup(LibvirtWorker *w, const char *domain, LibvirtJobDone done, void *userdata);

/* Attach or detach one device. */
typedef struct LibvirtDeviceOp {
        char *domain;                /* in: name */
        char *xml;                   /* in */
        bool detach;                 /* in */
        bool live;                   /* in: VIR_DOMAIN_AFFECT_LIVE */
        bool config;                 /* in: VIR_DOMAIN_AFFECT_CONFIG */
        char *chardev;               /* in, detach: the source dev to look for */
        virDomainPtr dom;            /* in, optional: the domain as inspected (saves a lookup) */
        LibvirtStatus status;        /* out */
        bool absent;                 /* out, detach: nothing to detach was there */
        char *error;                 /* out */
} LibvirtDeviceOp;

void libvirt_device_op_free(LibvirtDeviceOp *op);
/* Aim OP at the very domain INFO inspected: a domain redefined under the same
 * name meanwhile is not the one the interface was built for. */
void libvirt_device_op_set_domain(LibvirtDeviceOp *op, const LibvirtDomainInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LibvirtDeviceOp, libvirt_device_op_free)
/* Takes ownership of OP. */
void libvirt_worker_submit_device_op(LibvirtWorker *w, LibvirtDeviceOp *op, LibvirtJobDone done, void *userdata);

/* Is live migration of a domain possible: its vDPA sources and the
 * versions that policy "auto" judges by. */
typedef struct LibvirtMigrationInfo {
        char *name;                  /* in */
        LibvirtStatus status;
        char *error;
        bool active;
        GPtrArray *chardevs;         /* char*: vDPA sources of its running definition */
        unsigned long lib_version;
        unsigned long hv_version;
} LibvirtMigrationInfo;

void libvirt_migration_info_free(LibvirtMigrationInfo *i);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LibvirtMigrationInfo, libvirt_migration_info_free)
void libvirt_worker_submit_migration_check(LibvirtWorker *w, const char *domain, LibvirtJobDone done, void *userdata);

/* What libvirt tells without being asked. */
typedef enum {
        LIBVIRT_EVENT_DOMAIN,        /* a domain was defined, undefined, started, stopped, or
                                      * gained or lost a device */
        LIBVIRT_EVENT_CLOSED,        /* the connection is gone */
} LibvirtEventKind;

typedef struct LibvirtEvent {
        LibvirtEventKind kind;
        char *domain;                /* NULL for CLOSED */
} LibvirtEvent;

void libvirt_event_free(LibvirtEvent *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LibvirtEvent, libvirt_event_free)

/* HANDLER receives each LibvirtEvent* (and owns it) on the main loop.  Set
 * it before the first job. */
void libvirt_worker_set_event_handler(LibvirtWorker *w, LibvirtJobDone handler, void *userdata);
