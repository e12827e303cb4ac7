/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "netlink-worker.h"

#include "job-queue.h"
#include "log.h"
#include "macro.h"

struct NetlinkWorker {
        JobQueue *queue;
        GThread *thread;
        VdpaNetlink *nl;        /* the worker thread's alone while it runs */
};

static gpointer worker_thread(gpointer p) {
        NetlinkWorker *w = p;
        QueuedJob *j;

        while ((j = job_queue_pop(w->queue))) {
                ((NetlinkJobRun) j->run)(w->nl, j->job);
                job_queue_finish(w->queue, j);
        }
        return NULL;
}

int netlink_worker_new(sd_event *event, VdpaNetlink *nl, NetlinkWorker **ret) {
        g_autofree NetlinkWorker *w = g_new0(NetlinkWorker, 1);
        g_autoptr(GError) error = NULL;
        int r;

        r = job_queue_new(event, "netlink-results", &w->queue);
        if (r < 0) {
                vdpa_netlink_free(nl);
                return r;
        }
        w->nl = nl;
        w->thread = g_thread_try_new("vdpa-netlink", worker_thread, w, &error);
        if (!w->thread) {
                job_queue_free(w->queue);
                vdpa_netlink_free(nl);
                return log_error_errno(EAGAIN, "Failed to start the netlink worker: %s", error->message);
        }
        *ret = g_steal_pointer(&w);
        return 0;
}

void netlink_worker_free(NetlinkWorker *w) {
        if (!w)
                return;
        /* Unlike libvirt's, the running job cannot hang: every request it
         * makes is bounded by the socket's timeout. */
        job_queue_quit(w->queue);
        g_thread_join(w->thread);
        job_queue_free(w->queue);
        vdpa_netlink_free(w->nl);
        g_free(w);
}

bool netlink_worker_has_family(NetlinkWorker *w) {
        return w->nl;
}

void netlink_worker_submit(NetlinkWorker *w, void *job, NetlinkJobRun run, NetlinkJobDone done,
                           GDestroyNotify free_job, void *userdata) {
        job_queue_submit(w->queue, job, (JobRunFunc) run, done, free_job, userdata);
}
