/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "libvirt-worker.h"

#include <errno.h>
#include <string.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "domain-xml.h"
#include "inventory.h"
#include "job-queue.h"
#include "log.h"
#include "macro.h"

/* How long freeing the worker waits for a job in progress.  Longer than any
 * healthy libvirt call, short enough that a hung libvirtd cannot hold up a
 * SIGTERM for long. */
#define WORKER_JOIN_TIMEOUT_USEC (3 * G_USEC_PER_SEC)

struct LibvirtWorker {
        JobQueue *queue;        /* jobs; their results and events */
        char *uri;
        GThread *thread;

        GMutex lock;
        GCond exited_cond;
        bool exited;

        /* Set before the first connection; read on the worker thread, where
         * libvirt dispatches its events. */
        LibvirtJobDone event_handler;
        void *event_userdata;

        /* Only the worker thread touches these. */
        virConnectPtr conn;
        int callback_ids[4];
        char *capabilities;     /* of this connection's host, fetched when first needed */
};

/* libvirt's event loop (its default implementation: GLib's default main
 * context) runs on the worker thread, between jobs: it delivers domain
 * events, keepalives and the close callback without the main loop ever
 * calling into libvirt, so a wedged libvirtd can only stall the worker.  (A
 * virEventRegisterImpl() on top of sd-event would put libvirt's socket
 * handling on the bus thread; we want them apart.)  Not a thread of its
 * own: libvirt's client updates its watches and timers a few times per
 * call, and each update made from another thread than the loop's wakes
 * that thread and contends for the context's lock -- about 0.2 ms per call
 * on a busy 2-core host.  Made from the loop's own thread, an update wakes
 * nothing.  During a call the calling thread reads the socket itself and
 * answers keepalives (libvirt's client does that for whichever thread
 * waits); events that arrive then are dispatched when the job is done. */
static int register_event_impl(void) {
        static gsize registered = 0;

        if (g_once_init_enter(&registered))
                g_once_init_leave(&registered, virEventRegisterDefaultImpl() == 0 ? 1 : 2);
        return registered == 1 ? 0 : -EIO;
}

static void silent_libvirt_error(void *userdata, virErrorPtr error) {
        /* libvirt prints every error on stderr by default; we log the ones
         * that matter ourselves, with context. */
}

/* --- events: from libvirt's loop on the worker thread to the main loop --- */

void libvirt_event_free(LibvirtEvent *e) {
        if (!e)
                return;
        g_free(e->domain);
        g_free(e);
}

static void post_event(LibvirtWorker *w, LibvirtEventKind kind, virDomainPtr dom) {
        LibvirtEvent *e;

        if (!w->event_handler)
                return;
        e = g_new0(LibvirtEvent, 1);
        e->kind = kind;
        e->domain = dom ? g_strdup(virDomainGetName(dom)) : NULL;
        job_queue_post(w->queue, e, w->event_handler, (GDestroyNotify) libvirt_event_free, w->event_userdata);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        post_event(opaque, LIBVIRT_EVENT_DOMAIN, dom);
        return 0;
}

static void on_device_event(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque) {
        post_event(opaque, LIBVIRT_EVENT_DOMAIN, dom);
}

static void on_close(virConnectPtr conn, int reason, void *opaque) {
        post_event(opaque, LIBVIRT_EVENT_CLOSED, NULL);
}

static void drop_connection(LibvirtWorker *w) {
        if (!w->conn)
                return;
        for (size_t i = 0; i < ELEMENTSOF(w->callback_ids); i++)
                if (w->callback_ids[i] >= 0)
                        (void) virConnectDomainEventDeregisterAny(w->conn, w->callback_ids[i]);
        (void) virConnectUnregisterCloseCallback(w->conn, on_close);
        virConnectClose(w->conn);
        w->conn = NULL;
        g_clear_pointer(&w->capabilities, g_free);
}

/* The host topology, which only vCPU pinning needs; ~2 ms to fetch, so it
 * is asked for once per connection. */
static const char *worker_capabilities(LibvirtWorker *w) {
        char *caps;

        if (w->capabilities || !w->conn)
                return w->capabilities;
        caps = virConnectGetCapabilities(w->conn);
        w->capabilities = g_strdup(caps);
        free(caps);
        return w->capabilities;
}

static void watch_connection(LibvirtWorker *w) {
        static const int ids[] = {
                VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED,
        };

        G_STATIC_ASSERT(G_N_ELEMENTS(ids) == G_N_ELEMENTS(((LibvirtWorker *) NULL)->callback_ids));
        for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
                virConnectDomainEventGenericCallback cb = ids[i] == VIR_DOMAIN_EVENT_ID_LIFECYCLE
                        ? VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle)
                        : VIR_DOMAIN_EVENT_CALLBACK(on_device_event);

                w->callback_ids[i] = virConnectDomainEventRegisterAny(w->conn, NULL, ids[i], cb, w, NULL);
                if (w->callback_ids[i] < 0)
                        log_warning("Cannot follow libvirt event %d: %s", ids[i], virGetLastErrorMessage());
        }
        /* A dead peer is noticed within interval * (count + 1) seconds even
         * when its socket stays open (a hung libvirtd). */
        if (virConnectSetKeepAlive(w->conn, 5, 3) < 0)
                log_debug("No libvirt keepalive: %s", virGetLastErrorMessage());
        if (virConnectRegisterCloseCallback(w->conn, on_close, w, NULL) < 0)
                log_warning("Cannot watch the libvirt connection: %s", virGetLastErrorMessage());
}

/* The worker's connection, alive, or NULL with *ERROR set.  Opens (and
 * watches) a new one when there is none or the old one died. */
static virConnectPtr worker_connection(LibvirtWorker *w, char **error) {
        if (w->conn && virConnectIsAlive(w->conn) == 1)
                return w->conn;
        drop_connection(w);

        w->conn = virConnectOpen(w->uri);
        if (!w->conn) {
                if (error)
                        *error = g_strdup(virGetLastErrorMessage());
                return NULL;
        }
        watch_connection(w);
        return w->conn;
}

/* A submit wakes the worker's blocking iteration (any thread may call it). */
static void wake_worker(void *data) {
        g_main_context_wakeup(data);
}

static gpointer worker_thread(gpointer p) {
        LibvirtWorker *w = p;
        GMainContext *loop = g_main_context_default();
        bool owner = g_main_context_acquire(loop);
        QueuedJob *j;

        /* Nothing else in the daemon uses GLib's default context. */
        if (!owner)
                log_warning("Another thread owns GLib's default main context; libvirt events may be late");

        while (job_queue_try_pop(w->queue, &j)) {
                if (!j) {
                        /* Idle: libvirt's events, keepalives and deferred
                         * frees, until the next submit wakes the loop.  A
                         * submit between the empty queue and the poll is
                         * not lost: its wakeup stays pending. */
                        g_main_context_iteration(loop, TRUE);
                        continue;
                }
                ((LibvirtJobRun) j->run)(w, j->job);
                job_queue_finish(w->queue, j);
                /* What the job left to the loop (libvirt frees replaced
                 * watches from idle callbacks) and events that came
                 * meanwhile, without waiting. */
                g_main_context_iteration(loop, FALSE);
        }

        drop_connection(w);
        /* Let libvirt finish tearing the connection down (its removals are
         * idle callbacks); bounded, should a timer keep firing. */
        for (guint i = 0; i < 64 && g_main_context_iteration(loop, FALSE); i++)
                ;
        if (owner)
                g_main_context_release(loop);

        g_mutex_lock(&w->lock);
        w->exited = true;
        g_cond_signal(&w->exited_cond);
        g_mutex_unlock(&w->lock);
        return NULL;
}

int libvirt_worker_new(sd_event *event, const char *uri, LibvirtWorker **ret) {
        g_autofree LibvirtWorker *w = NULL;
        int r;

        if (virInitialize() < 0)
                return log_error_errno(EIO, "Failed to initialise libvirt");
        virSetErrorFunc(NULL, silent_libvirt_error);
        if (register_event_impl() < 0)
                return log_error_errno(EIO, "Failed to register libvirt's event loop: %s", virGetLastErrorMessage());

        w = g_new0(LibvirtWorker, 1);
        r = job_queue_new(event, "libvirt-results", &w->queue);
        if (r < 0)
                return r;

        job_queue_set_wake(w->queue, wake_worker, g_main_context_default());
        w->uri = g_strdup(uri);
        for (size_t i = 0; i < ELEMENTSOF(w->callback_ids); i++)
                w->callback_ids[i] = -1;
        g_mutex_init(&w->lock);
        g_cond_init(&w->exited_cond);
        w->thread = g_thread_new("libvirt", worker_thread, w);

        *ret = TAKE_PTR(w);
        return 0;
}

void libvirt_worker_submit(LibvirtWorker *w, void *job, LibvirtJobRun run, LibvirtJobDone done,
                           GDestroyNotify free_job, void *userdata) {
        job_queue_submit(w->queue, job, (JobRunFunc) run, done, free_job, userdata);
}

void libvirt_worker_free(LibvirtWorker *w) {
        bool exited;

        if (!w)
                return;

        job_queue_quit(w->queue);

        g_mutex_lock(&w->lock);
        gint64 deadline = g_get_monotonic_time() + WORKER_JOIN_TIMEOUT_USEC;
        while (!w->exited)
                if (!g_cond_wait_until(&w->exited_cond, &w->lock, deadline))
                        break;
        exited = w->exited;
        g_mutex_unlock(&w->lock);

        job_queue_stop_delivery(w->queue);

        if (!exited) {
                /* Stuck in libvirt.  Abandon the thread and what it still
                 * references rather than hang the daemon's exit. */
                log_warning("libvirt worker did not finish within %llu s, abandoning it",
                            (unsigned long long) (WORKER_JOIN_TIMEOUT_USEC / G_USEC_PER_SEC));
                g_thread_unref(w->thread);
                return;
        }

        g_thread_join(w->thread);
        job_queue_free(w->queue);
        g_mutex_clear(&w->lock);
        g_cond_clear(&w->exited_cond);
        g_free(w->uri);
        g_free(w);
}

/* --- the scan job --- */

void libvirt_scan_free(LibvirtScan *s) {
        if (!s)
                return;
        g_free(s->error);
        if (s->usage)
                g_hash_table_unref(s->usage);
        g_free(s);
}

static void scan_add_xml(LibvirtScan *s, const char *name, const char *uuid, const char *xml) {
        g_autoptr(GPtrArray) chardevs = g_ptr_array_new_with_free_func(g_free);

        if (vdpa_domain_xml_vdpa_sources(xml, strlen(xml), chardevs) < 0) {
                log_warning("Cannot parse the XML of domain '%s', ignoring it", name);
                return;
        }

        for (guint i = 0; i < chardevs->len; i++) {
                const char *dev = chardevs->pdata[i];
                VdpaDomainRef *ref;

                if (g_hash_table_contains(s->usage, dev)) {
                        ref = g_hash_table_lookup(s->usage, dev);
                        if (!streq_ptr(ref->domain, name))
                                log_warning("%s is referenced by domains '%s' and '%s'", dev, ref->domain, name);
                        continue;
                }

                ref = g_new0(VdpaDomainRef, 1);
                ref->domain = g_strdup(name);
                ref->uuid = g_strdup(uuid);
                g_hash_table_insert(s->usage, g_strdup(dev), ref);
        }
}

static void scan_domain(LibvirtScan *s, virDomainPtr d) {
        char uuid[VIR_UUID_STRING_BUFLEN] = "";
        const char *name = virDomainGetName(d);
        char *xml;

        if (!name)
                return;
        (void) virDomainGetUUIDString(d, uuid);

        /* The live definition of a running domain and the persistent one
         * can differ (a --config-only attach); a device named by either is
         * in use. */
        xml = virDomainGetXMLDesc(d, 0);
        if (xml) {
                scan_add_xml(s, name, uuid, xml);
                free(xml);
        }

        if (virDomainIsActive(d) == 1 && virDomainIsPersistent(d) == 1) {
                xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
                if (xml) {
                        scan_add_xml(s, name, uuid, xml);
                        free(xml);
                }
        }
}

static void scan_run(LibvirtWorker *w, void *job) {
        LibvirtScan *s = job;
        virDomainPtr *domains = NULL;
        virConnectPtr conn;
        int n;

        conn = worker_connection(w, &s->error);
        if (!conn)
                return;

        n = virConnectListAllDomains(conn, &domains, 0);
        if (n < 0) {
                s->error = g_strdup(virGetLastErrorMessage());
                drop_connection(w);
                return;
        }

        for (int i = 0; i < n; i++) {
                scan_domain(s, domains[i]);
                virDomainFree(domains[i]);
        }
        free(domains);

        if (virConnectGetLibVersion(conn, &s->lib_version) < 0)
                s->lib_version = 0;
        if (virConnectGetVersion(conn, &s->hv_version) < 0)
                s->hv_version = 0;

        s->connected = true;
}

static void scan_free_notify(void *p) {
        libvirt_scan_free(p);
}

void libvirt_worker_submit_scan(LibvirtWorker *w, LibvirtJobDone done, void *userdata) {
        LibvirtScan *s = g_new0(LibvirtScan, 1);

        s->usage = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) vdpa_domain_ref_free);
        libvirt_worker_submit(w, s, scan_run, done, scan_free_notify, userdata);
}

/* --- per-domain jobs --- */

static LibvirtStatus lookup_domain(LibvirtWorker *w, const char *name, virDomainPtr *ret, char **error) {
        virConnectPtr c = worker_connection(w, error);
        virErrorPtr e;

        if (!c)
                return LIBVIRT_ERR_UNAVAILABLE;

        *ret = virDomainLookupByName(c, name);
        if (*ret)
                return LIBVIRT_OK;

        e = virGetLastError();
        *error = g_strdup(virGetLastErrorMessage());
        if (e && e->code == VIR_ERR_NO_DOMAIN)
                return LIBVIRT_ERR_NO_DOMAIN;
        if (virConnectIsAlive(c) != 1)
                return LIBVIRT_ERR_UNAVAILABLE;
        return LIBVIRT_ERR_FAILED;
}

void libvirt_domain_info_free(LibvirtDomainInfo *i) {
        if (!i)
                return;
        g_free(i->name);
        g_free(i->error);
        g_free(i->uuid);
        if (i->numa_nodes)
                g_array_unref(i->numa_nodes);
        if (i->dom)
                virDomainFree(i->dom);
        g_free(i);
}

static void inspect_run(LibvirtWorker *w, void *job) {
        LibvirtDomainInfo *i = job;
        char uuid[VIR_UUID_STRING_BUFLEN] = "";
        virDomainPtr d = NULL;
        const char *caps;
        char *xml;

        i->status = lookup_domain(w, i->name, &d, &i->error);
        if (i->status != LIBVIRT_OK)
                return;
        if (i->handle_only) {
                i->dom = d;
                return;
        }

        (void) virDomainGetUUIDString(d, uuid);
        i->uuid = g_strdup(uuid);
        i->active = virDomainIsActive(d) == 1;
        i->persistent = virDomainIsPersistent(d) == 1;

        i->dom = d;
        if (!i->placement)
                return;

        xml = virDomainGetXMLDesc(d, 0);
        /* Pinning is mapped to nodes through the host topology; a domain
         * without any cpuset needs none. */
        caps = xml && strstr(xml, "cpuset=") ? worker_capabilities(w) : NULL;
        if (xml && vdpa_domain_xml_numa_nodes(xml, caps, i->numa_nodes) < 0)
                log_warning("Cannot read the NUMA placement of domain '%s'", i->name);
        free(xml);
}

static void inspect_free_notify(void *p) {
        libvirt_domain_info_free(p);
}

static void submit_domain_job(LibvirtWorker *w, const char *domain, bool handle_only, bool placement,
                              LibvirtJobDone done, void *userdata) {
        LibvirtDomainInfo *i = g_new0(LibvirtDomainInfo, 1);

        i->name = g_strdup(domain);
        i->handle_only = handle_only;
        i->placement = placement;
        i->numa_nodes = g_array_new(FALSE, FALSE, sizeof(guint));
        libvirt_worker_submit(w, i, inspect_run, done, inspect_free_notify, userdata);
}

void libvirt_worker_submit_inspect(LibvirtWorker *w, const char *domain, bool placement, LibvirtJobDone done,
                                   void *userdata) {
        submit_domain_job(w, domain, false, placement, done, userdata);
}

void libvirt_worker_submit_lookup(LibvirtWorker *w, const char *domain, LibvirtJobDone done, void *userdata) {
        submit_domain_job(w, domain, true, false, done, userdata);
}

void libvirt_device_op_free(LibvirtDeviceOp *op) {
        if (!op)
                return;
        g_free(op->domain);
        g_free(op->xml);
        g_free(op->chardev);
        g_free(op->error);
        if (op->dom)
                virDomainFree(op->dom);
        g_free(op);
}

void libvirt_device_op_set_domain(LibvirtDeviceOp *op, const LibvirtDomainInfo *info) {
        if (!info || !info->dom || virDomainRef(info->dom) < 0)
                return;
        op->dom = info->dom;
}

/* Whether the definition selected by XML_FLAGS names CHARDEV. */
static bool domain_has(virDomainPtr d, unsigned xml_flags, const char *chardev) {
        char *xml = virDomainGetXMLDesc(d, xml_flags);
        int r = xml ? vdpa_domain_xml_has_vdpa(xml, chardev) : -EIO;

        free(xml);
        /* When unsure, try the detach and let libvirt say. */
        return r != 0;
}

/* Detach only from the definitions that have the interface: a roll-back
 * or release must succeed when an earlier attempt, a crash or the admin
 * already removed it. */
static unsigned detach_flags(virDomainPtr d, const LibvirtDeviceOp *op) {
        unsigned flags = 0;

        if (op->live && virDomainIsActive(d) == 1 && domain_has(d, 0, op->chardev))
                flags |= VIR_DOMAIN_AFFECT_LIVE;
        if (op->config && virDomainIsPersistent(d) == 1 && domain_has(d, VIR_DOMAIN_XML_INACTIVE, op->chardev))
                flags |= VIR_DOMAIN_AFFECT_CONFIG;
        return flags;
}

/* The handle the job came with, when it belongs to the live connection
 * (a reconnect in between makes it useless), else a fresh lookup. */
static LibvirtStatus device_op_domain(LibvirtWorker *w, LibvirtDeviceOp *op, virDomainPtr *ret) {
        if (op->dom && w->conn && virDomainGetConnect(op->dom) == w->conn && virConnectIsAlive(w->conn) == 1 &&
            virDomainRef(op->dom) == 0) {
                *ret = op->dom;
                return LIBVIRT_OK;
        }
        return lookup_domain(w, op->domain, ret, &op->error);
}

static unsigned recorded_flags(const LibvirtDeviceOp *op) {
        return (op->live ? VIR_DOMAIN_AFFECT_LIVE : 0) | (op->config ? VIR_DOMAIN_AFFECT_CONFIG : 0);
}

static void device_op_failed(LibvirtWorker *w, LibvirtDeviceOp *op) {
        g_free(op->error);
        op->error = g_strdup(virGetLastErrorMessage());
        op->status = virConnectIsAlive(w->conn) == 1 ? LIBVIRT_ERR_FAILED : LIBVIRT_ERR_UNAVAILABLE;
}

/* Detach what the claim recorded, in one call when the domain still has it
 * there; only when that fails look at the definitions and detach from those
 * that name the device (a roll-back or release must succeed when an earlier
 * attempt, a crash, a shutdown or the admin already removed it). */
static void detach_run(LibvirtWorker *w, LibvirtDeviceOp *op, virDomainPtr d) {
        unsigned flags;

        if (virDomainDetachDeviceFlags(d, op->xml, recorded_flags(op)) == 0)
                return;
        flags = op->chardev ? detach_flags(d, op) : recorded_flags(op);
        if (flags == 0) {
                op->absent = true;
                return;
        }
        if (virDomainDetachDeviceFlags(d, op->xml, flags) < 0)
                device_op_failed(w, op);
}

static void device_op_run(LibvirtWorker *w, void *job) {
        LibvirtDeviceOp *op = job;
        virDomainPtr d = NULL;

        op->status = device_op_domain(w, op, &d);
        if (op->status != LIBVIRT_OK)
                return;

        if (op->detach)
                detach_run(w, op, d);
        else if (virDomainAttachDeviceFlags(d, op->xml, recorded_flags(op)) < 0)
                device_op_failed(w, op);
        virDomainFree(d);
}

static void device_op_free_notify(void *p) {
        libvirt_device_op_free(p);
}

void libvirt_worker_submit_device_op(LibvirtWorker *w, LibvirtDeviceOp *op, LibvirtJobDone done, void *userdata) {
        libvirt_worker_submit(w, op, device_op_run, done, device_op_free_notify, userdata);
}

/* --- migration check --- */

void libvirt_migration_info_free(LibvirtMigrationInfo *i) {
        if (!i)
                return;
        g_free(i->name);
        g_free(i->error);
        if (i->chardevs)
                g_ptr_array_unref(i->chardevs);
        g_free(i);
}

static void migration_run(LibvirtWorker *w, void *job) {
        LibvirtMigrationInfo *i = job;
        virDomainPtr d = NULL;
        char *xml;

        i->status = lookup_domain(w, i->name, &d, &i->error);
        if (i->status != LIBVIRT_OK)
                return;

        /* What would move is the running definition. */
        i->active = virDomainIsActive(d) == 1;
        xml = virDomainGetXMLDesc(d, 0);
        if (!xml || vdpa_domain_xml_vdpa_sources(xml, strlen(xml), i->chardevs) < 0) {
                i->status = LIBVIRT_ERR_FAILED;
                i->error = g_strdup(xml ? "cannot parse the domain XML" : virGetLastErrorMessage());
        }
        free(xml);
        if (virConnectGetLibVersion(w->conn, &i->lib_version) < 0)
                i->lib_version = 0;
        if (virConnectGetVersion(w->conn, &i->hv_version) < 0)
                i->hv_version = 0;
        virDomainFree(d);
}

void libvirt_worker_submit_migration_check(LibvirtWorker *w, const char *domain, LibvirtJobDone done, void *userdata) {
        LibvirtMigrationInfo *i = g_new0(LibvirtMigrationInfo, 1);

        i->name = g_strdup(domain);
        i->chardevs = g_ptr_array_new_with_free_func(g_free);
        libvirt_worker_submit(w, i, migration_run, done, (GDestroyNotify) libvirt_migration_info_free, userdata);
}

void libvirt_worker_set_event_handler(LibvirtWorker *w, LibvirtJobDone handler, void *userdata) {
        w->event_handler = handler;
        w->event_userdata = userdata;
}
