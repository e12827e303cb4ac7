/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-event.h>

#include "vdpa-netlink.h"

/* One thread owns the vdpa netlink socket; every netlink request runs there,
 * so that a slow kernel (DEV_DEL waits until QEMU closes the vhost device)
 * never stalls the bus.  Jobs run one at a time in submission order, and
 * their completions run on the main thread's sd-event loop in that same
 * order: a uevent queued behind a DEV_GET is applied after it. */

typedef struct NetlinkWorker NetlinkWorker;

/* Runs on the worker thread.  NL is NULL when the kernel has no vdpa
 * family: the job must answer for itself (e.g. -ENOENT / unknown). */
typedef void (*NetlinkJobRun)(VdpaNetlink *nl, void *job);
/* Runs on the main thread after RUN returned; owns JOB afterwards. */
typedef void (*NetlinkJobDone)(void *job, void *userdata);

/* NL: taken over (NULL: the family is absent). */
int netlink_worker_new(sd_event *event, VdpaNetlink *nl, NetlinkWorker **ret);
/* Stops the thread after the running job; pending jobs are freed with
 * their FREE_JOB, their DONE never runs. */
void netlink_worker_free(NetlinkWorker *w);
bool netlink_worker_has_family(NetlinkWorker *w);

void netlink_worker_submit(NetlinkWorker *w, void *job, NetlinkJobRun run, NetlinkJobDone done,
                           GDestroyNotify free_job, void *userdata);
