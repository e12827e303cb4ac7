/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "broker.h"

#include <errno.h>
#include <string.h>

#include "bus-util.h"
#include "domain-xml.h"
#include "iface-xml.h"
#include "log.h"
#include "macro.h"
#include "options.h"
#include "polkit.h"
#include "vdpa-names.h"

struct Broker {
        sd_event *event;
        Inventory *inventory;
        const VdpaConfig *config;
        LibvirtWorker *worker;
        Claims *claims;
        uint64_t timeout_usec;
        bool libvirt_connected;

        /* device name -> Op* that holds it: a Claim or Release in flight. */
        GHashTable *reserved;
        /* Names held by provisioning (CreateDevice, DeleteDevice). */
        GHashTable *held;
        /* Every Op alive, so that freeing the broker can drop them. */
        GHashTable *ops;

        /* Authorization checks in flight, and Ops waiting for a turn: the
         * bus limits the replies one connection may await (128 on a stock
         * system bus), so a burst of calls must not become a burst of
         * CheckAuthorization calls. */
        guint polkit_inflight;
        GQueue polkit_waiting;
};

#define MAX_POLKIT_INFLIGHT 32

typedef enum {
        OP_CLAIM,
        OP_RELEASE,
        OP_ROLLBACK,   /* start-up: undo an unfinished intent; no caller */
        OP_CHECK,      /* CheckMigration: reads only */
} OpKind;

typedef struct Op {
        Broker *b;
        OpKind kind;
        sd_bus_message *msg;          /* NULL for OP_ROLLBACK */
        sd_bus_slot *slot;            /* polkit or bus call in flight */
        sd_event_source *timer;       /* bounds the libvirt part */
        bool replied;                 /* timed out or answered already */
        bool in_worker;               /* a libvirt job of ours is queued or running */

        char *device;                 /* requested, then chosen */
        char *domain;
        VdpaOptions opts;
        LibvirtDomainInfo *info;
        Claim *claim;                 /* what is attached (or about to be) */
        bool reserved;
        bool intent_written;
        bool attached;
        bool polkit_pending;          /* counted in polkit_inflight */
        bool authorized;              /* polkit said yes */
        void (*proceed)(struct Op *op); /* Claim/Release: once authorized and prefetched */
        sd_bus_slot *uid_slot;        /* Claim: the caller's uid, asked alongside polkit */
        bool uid_known;
        uint32_t uid;
        bool committed;               /* Claim: the active record is written */
        GList *waiting_link;          /* in polkit_waiting */
        const char *action;
        VdpaPolkitCallback on_authorized;
        sd_bus_error error;           /* the answer, once a roll-back is done */
} Op;

static void op_polkit_done(Op *op);

/* Held by a Claim or Release in flight, or by provisioning. */
static bool name_reserved(const Broker *b, const char *name) {
        return g_hash_table_contains(b->reserved, name) || g_hash_table_contains(b->held, name);
}

static void op_free(Op *op) {
        if (!op)
                return;
        op_polkit_done(op);
        if (op->waiting_link)
                g_queue_delete_link(&op->b->polkit_waiting, op->waiting_link);
        if (op->reserved)
                g_hash_table_remove(op->b->reserved, op->device);
        g_hash_table_remove(op->b->ops, op);
        sd_bus_slot_unref(op->slot);
        sd_bus_slot_unref(op->uid_slot);
        sd_event_source_disable_unref(op->timer);
        sd_bus_message_unref(op->msg);
        vdpa_options_clear(&op->opts);
        libvirt_domain_info_free(op->info);
        claim_free(op->claim);
        sd_bus_error_free(&op->error);
        g_free(op->device);
        g_free(op->domain);
        g_free(op);
}

static Op *op_new(Broker *b, OpKind kind, sd_bus_message *msg) {
        Op *op = g_new0(Op, 1);

        op->b = b;
        op->kind = kind;
        op->msg = sd_bus_message_ref(msg);
        op->opts = (VdpaOptions) VDPA_OPTIONS_INIT;
        g_hash_table_add(b->ops, op);
        return op;
}

static bool op_reserve(Op *op, const char *device) {
        char *name;

        if (name_reserved(op->b, device))
                return false;
        /* DEVICE may be op->device itself. */
        name = g_strdup(device);
        g_free(op->device);
        op->device = name;
        g_hash_table_insert(op->b->reserved, op->device, op);
        op->reserved = true;
        return true;
}

/* Answer the caller once; the op may go on (e.g. rolling back). */
static void op_reply_error(Op *op, const sd_bus_error *e) {
        int r;

        if (op->replied || !op->msg)
                return;
        op->replied = true;
        log_debug("%s(%s) fails: %s: %s", sd_bus_message_get_member(op->msg), strempty(op->device),
                  strempty(e->name), strempty(e->message));
        r = sd_bus_reply_method_error(op->msg, e);
        if (r < 0)
                log_warning_errno(r, "Failed to send error reply: %m");
}

static void op_reply_errorf(Op *op, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void op_reply_errorf(Op *op, const char *name, const char *fmt, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;

        va_start(ap, fmt);
        (void) sd_bus_error_setfv(&e, name, fmt, ap);
        va_end(ap);
        op_reply_error(op, &e);
}

static const char *libvirt_error_name(LibvirtStatus s) {
        switch (s) {
        case LIBVIRT_ERR_UNAVAILABLE: return VDPA_ERROR_LIBVIRT_UNAVAILABLE;
        case LIBVIRT_ERR_NO_DOMAIN: return VDPA_ERROR_NO_SUCH_DOMAIN;
        default: return VDPA_ERROR_LIBVIRT_FAILED;
        }
}

/* --- the libvirt part is bounded --- */

static int on_op_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Op *op = userdata;

        op->timer = sd_event_source_disable_unref(op->timer);
        log_warning("libvirt did not answer within %" PRIu64 " s for %s of '%s'; giving up",
                    op->b->timeout_usec / G_USEC_PER_SEC, op->msg ? sd_bus_message_get_member(op->msg) : "roll-back",
                    op->device ? op->device : strempty(op->domain));
        /* The job still runs; its completion sees `replied` and undoes a
         * late attach.  The device stays reserved until then, since only
         * libvirt knows what happened. */
        op_reply_errorf(op, VDPA_ERROR_LIBVIRT_FAILED,
                        "libvirt did not answer within %" PRIu64 " s",
                        op->b->timeout_usec / G_USEC_PER_SEC);
        return 0;
}

static void op_arm_timer(Op *op) {
        int r;

        if (op->timer || op->b->timeout_usec == 0)
                return;
        r = sd_event_add_time_relative(op->b->event, &op->timer, CLOCK_MONOTONIC,
                                       op->b->timeout_usec, 0, on_op_timeout, op);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the libvirt timeout: %m");
}

static void op_submit_device_op(Op *op, bool detach, LibvirtJobDone done) {
        LibvirtDeviceOp *d = g_new0(LibvirtDeviceOp, 1);

        d->domain = g_strdup(op->claim->domain);
        d->xml = g_strdup(op->claim->xml);
        d->chardev = g_strdup(op->claim->chardev);
        d->detach = detach;
        d->live = op->claim->live;
        d->config = op->claim->config;
        libvirt_device_op_set_domain(d, op->info);
        op->in_worker = true;
        op_arm_timer(op);
        libvirt_worker_submit_device_op(op->b->worker, d, done, op);
}

/* --- state written durably, or not at all --- */

static int write_claim(Op *op, ClaimPhase phase, sd_bus_error *error) {
        g_autoptr(GError) e = NULL;

        op->claim->phase = phase;
        if (claims_put(op->b->claims, op->claim, &e) < 0) {
                log_error("Failed to record claim of %s: %s", op->claim->device, e->message);
                return sd_bus_error_setf(error, SD_BUS_ERROR_IO_ERROR,
                                         "Cannot record the claim in %s: %s",
                                         claims_get_path(op->b->claims), e->message);
        }
        return 0;
}

static int forget_claim(Broker *b, const char *device, sd_bus_error *error) {
        g_autoptr(GError) e = NULL;

        if (claims_remove(b->claims, device, &e) < 0) {
                log_error("Failed to forget the claim of %s: %s", device, e->message);
                return sd_bus_error_setf(error, SD_BUS_ERROR_IO_ERROR,
                                         "Cannot update %s: %s", claims_get_path(b->claims), e->message);
        }
        return 0;
}

static void show_claim(Broker *b, const Claim *c) {
        VdpaUsage u = {
                .domain = c->domain,
                .domain_uuid = c->domain_uuid,
                .mac = c->mac,
                .claimed_by = c->uid,
                .claimed = true,
        };

        /* Claim first: the domain entry under a claim changes nothing
         * visible, so the pair makes exactly one DeviceChanged. */
        inventory_set_claim(b->inventory, c->device, &u);
        inventory_set_domain_user(b->inventory, c->device, c->domain, c->domain_uuid);
}

static void hide_claim(Broker *b, const char *device) {
        /* Reverse order of show_claim(), for the same reason. */
        inventory_set_domain_user(b->inventory, device, NULL, NULL);
        inventory_set_claim(b->inventory, device, NULL);
}

/* --- undo --- */

static void on_rollback_detached(void *job, void *userdata) {
        g_autoptr(LibvirtDeviceOp) d = job;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        Op *op = userdata;

        op->in_worker = false;
        op->timer = sd_event_source_disable_unref(op->timer);
        if (d->status != LIBVIRT_OK && d->status != LIBVIRT_ERR_NO_DOMAIN)
                /* The intent stays on disk: the next start tries again. */
                log_error("Rolling back the claim of %s on '%s' failed: %s; the record is kept for the next start",
                          op->claim->device, op->claim->domain, strempty(d->error));
        else if (forget_claim(op->b, op->claim->device, &e) >= 0)
                log_info("Rolled back the %s claim of %s on '%s'", op->kind == OP_ROLLBACK ? "unfinished" : "failed",
                         op->claim->device, op->claim->domain);

        /* Only now, with the device exactly as before, does the caller
         * hear why its Claim failed. */
        if (sd_bus_error_is_set(&op->error))
                op_reply_error(op, &op->error);
        op_free(op);
}

/* Detach what may be attached, drop the intent, then answer with
 * op->error (when set).  Takes over OP. */
static void op_rollback(Op *op) {
        op_submit_device_op(op, true, on_rollback_detached);
}

/* A Claim failed with E: undo whatever was done, then answer.  Takes over OP. */
static void op_fail(Op *op, const sd_bus_error *e) {
        if (op->intent_written && !op->replied) {
                sd_bus_error_free(&op->error);
                sd_bus_error_copy(&op->error, e);
                op_rollback(op);
                return;
        }
        if (op->intent_written) {
                op_rollback(op);
                return;
        }
        op_reply_error(op, e);
        op_free(op);
}

static void op_failf(Op *op, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void op_failf(Op *op, const char *name, const char *fmt, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;

        va_start(ap, fmt);
        (void) sd_bus_error_setfv(&e, name, fmt, ap);
        va_end(ap);
        op_fail(op, &e);
}

/* --- authorization, a bounded number at a time --- */

static void op_start_prefetch(Op *op);
static void claim_query_uid(Op *op);

static int op_send_polkit(Op *op) {
        int r;

        r = vdpa_polkit_check_async(op->msg, op->action,
                                    (const char *const[]) { "device", op->device, "domain", op->domain, NULL },
                                    op->on_authorized, op, &op->slot);
        if (r < 0)
                return r;
        op->polkit_pending = true;
        op->b->polkit_inflight++;

        if (op->proceed)
                op_start_prefetch(op);
        if (op->kind == OP_CLAIM)
                claim_query_uid(op);
        return 0;
}

/* Start the next waiting check, if any may go now. */
static void polkit_schedule(Broker *b) {
        while (b->polkit_inflight < MAX_POLKIT_INFLIGHT && !g_queue_is_empty(&b->polkit_waiting)) {
                Op *op = g_queue_pop_head(&b->polkit_waiting);
                int r;

                op->waiting_link = NULL;
                r = op_send_polkit(op);
                if (r < 0) {
                        op_reply_errorf(op, SD_BUS_ERROR_ACCESS_DENIED, "Cannot check authorization: %s", g_strerror(-r));
                        op_free(op);
                }
        }
}

static void op_polkit_done(Op *op) {
        if (!op->polkit_pending)
                return;
        op->polkit_pending = false;
        op->b->polkit_inflight--;
        polkit_schedule(op->b);
}

/* Ask polkit now, or queue the Op until a check finishes. */
static int op_authorize(Op *op, const char *action, VdpaPolkitCallback cb) {
        op->action = action;
        op->on_authorized = cb;
        if (op->b->polkit_inflight < MAX_POLKIT_INFLIGHT)
                return op_send_polkit(op);
        g_queue_push_tail(&op->b->polkit_waiting, op);
        op->waiting_link = g_queue_peek_tail_link(&op->b->polkit_waiting);
        return 0;
}

/* --- what libvirt can tell while polkit decides --- */

/* The domain's inspection (Claim) or handle (Release) is read while the
 * authorization is in flight; nothing is reserved, changed or shown before
 * polkit's answer, and the libvirt timeout runs only from that answer on. */
static void on_prefetched(void *job, void *userdata) {
        Op *op = userdata;

        op->in_worker = false;
        op->timer = sd_event_source_disable_unref(op->timer);
        op->info = job;

        /* Denied, or timed out, meanwhile: nothing was done. */
        if (op->replied) {
                op_free(op);
                return;
        }
        if (op->authorized)
                op->proceed(op);
}

/* Started when the polkit check is sent, not when queued, so that at most
 * MAX_POLKIT_INFLIGHT unauthorized calls have a read in flight. */
static void op_start_prefetch(Op *op) {
        if (op->info || op->in_worker)
                return;
        op->in_worker = true;
        if (op->kind == OP_CLAIM)
                /* A named device needs no placement: only a pick compares
                 * nodes (pick_device()). */
                libvirt_worker_submit_inspect(op->b->worker, op->domain,
                                              !op->device[0] && op->opts.numa_policy != VDPA_NUMA_POLICY_NONE,
                                              on_prefetched, op);
        else
                libvirt_worker_submit_lookup(op->b->worker, op->domain, on_prefetched, op);
}

/* polkit said yes: go on now, or once the prefetch is in. */
static void op_authorized(Op *op) {
        op->authorized = true;
        if (op->in_worker) {
                op_arm_timer(op);
                return;
        }
        op->proceed(op);
}

/* polkit said no (or a re-check failed): answer now; a prefetch still in
 * the worker frees the op when it returns. */
static void op_refuse(Op *op, const sd_bus_error *e) {
        op_reply_error(op, e);
        if (!op->in_worker)
                op_free(op);
}

/* --- Claim --- */

typedef struct Pick {
        Broker *b;
        const Op *op;
        const GArray *nodes;
        bool want_nodes;
        const VdpaDevice *best;
        bool best_on_node;
} Pick;

static bool on_domain_nodes(const GArray *nodes, int32_t node) {
        for (guint i = 0; nodes && i < nodes->len; i++)
                if ((int32_t) g_array_index(nodes, guint, i) == node)
                        return true;
        return false;
}

static bool pick_visit(const VdpaDevice *d, void *userdata) {
        Pick *p = userdata;
        const VdpaOptions *o = &p->op->opts;
        bool on_node;

        if (d->state != VDPA_DEVICE_AVAILABLE || name_reserved(p->b, d->hw.name))
                return true;
        if (o->has_numa_node && d->hw.numa_node != o->numa_node)
                return true;
        if (o->physical_function && !streq_ptr(d->hw.physical_function, o->physical_function))
                return true;

        on_node = p->want_nodes && on_domain_nodes(p->nodes, d->hw.numa_node);
        if (p->want_nodes && o->numa_policy == VDPA_NUMA_POLICY_REQUIRED && !on_node)
                return true;

        /* Name order: the first fit wins, unless a later one shares the
         * domain's NUMA node under the preferred policy. */
        if (!p->best || (on_node && !p->best_on_node)) {
                p->best = d;
                p->best_on_node = on_node;
        }
        return !(p->best && (p->best_on_node || !p->want_nodes));
}

static const VdpaDevice *pick_device(Op *op) {
        Pick p = {
                .b = op->b,
                .op = op,
                .nodes = op->info->numa_nodes,
                /* A domain without placement gives the policy nothing to
                 * compare with: any node will do (documented). */
                .want_nodes = op->opts.numa_policy != VDPA_NUMA_POLICY_NONE &&
                              op->info->numa_nodes && op->info->numa_nodes->len > 0,
        };

        inventory_foreach(op->b->inventory, pick_visit, &p);
        return p.best;
}

/* Why DEVICE cannot be claimed now, as a bus error; 0 when it can. */
static int check_claimable(Broker *b, const VdpaDevice *d, sd_bus_error *error) {
        if (d->state == VDPA_DEVICE_CLAIMED)
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_BUSY,
                                         "Device '%s' is already claimed for domain '%s'", d->hw.name, d->usage.domain);
        if (d->state == VDPA_DEVICE_IN_USE)
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_BUSY,
                                         "Device '%s' is used by domain '%s' without a claim", d->hw.name, d->usage.domain);
        if (g_hash_table_contains(b->held, d->hw.name))
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_BUSY,
                                         "Device '%s' is being created or deleted", d->hw.name);
        if (name_reserved(b, d->hw.name))
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_BUSY,
                                         "Device '%s' is being claimed or released", d->hw.name);
        if (d->state == VDPA_DEVICE_EXCLUDED)
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_UNUSABLE,
                                         "Device '%s' is excluded by the configuration", d->hw.name);
        if (d->state == VDPA_DEVICE_UNUSABLE && !vdpa_kernel_type_is_usable(d->kernel.type))
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_UNUSABLE,
                                         "Device '%s' is a virtio %s device, not a network device",
                                         d->hw.name, d->kernel.type);
        if (d->state == VDPA_DEVICE_UNUSABLE)
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_UNUSABLE,
                                         "Device '%s' has no vhost-vdpa character device (driver: %s)",
                                         d->hw.name, d->hw.driver && d->hw.driver[0] ? d->hw.driver : "none");
        return 0;
}

static int check_device_name(Broker *b, const char *name, sd_bus_error *error) {
        const VdpaDevice *d = inventory_lookup(b->inventory, name);
        g_autofree char *echo = NULL;

        if (d)
                return check_claimable(b, d, error);
        echo = bus_echo_string(name);
        return sd_bus_error_setf(error, VDPA_ERROR_NO_SUCH_DEVICE, "No vDPA device '%s'", echo);
}

char *broker_generate_mac(const char *device, const char *domain_uuid) {
        g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
        guint8 digest[32];
        gsize len = sizeof digest;

        /* Stable: the same device in the same domain always gets the same
         * address, so a re-claim after a release keeps the guest's view. */
        g_checksum_update(sum, (const guchar *) "vdpa-manager-mac\n", -1);
        g_checksum_update(sum, (const guchar *) domain_uuid, -1);
        g_checksum_update(sum, (const guchar *) "\n", 1);
        g_checksum_update(sum, (const guchar *) device, -1);
        g_checksum_get_digest(sum, digest, &len);

        /* locally administered (bit 1), unicast (bit 0 clear) */
        digest[0] = (digest[0] & 0xfc) | 0x02;
        return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x",
                               digest[0], digest[1], digest[2], digest[3], digest[4], digest[5]);
}

static void on_claim_caller_checked(sd_bus_message *reply, Op *op);
static bool claim_commit(Op *op, uint32_t uid);

/* Ask the bus for the uid of the caller of OP (which fails once it is gone). */
static int ask_caller_uid(Op *op, sd_bus_slot **slot, sd_bus_message_handler_t callback) {
        return sd_bus_call_method_async(sd_bus_message_get_bus(op->msg), slot,
                                        "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                        "GetConnectionUnixUser", callback, op,
                                        "s", sd_bus_message_get_sender(op->msg));
}

static int on_get_unix_user(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Op *op = userdata;

        op->slot = sd_bus_slot_unref(op->slot);
        on_claim_caller_checked(reply, op);
        return 1;
}

static void on_claim_attached(void *job, void *userdata) {
        g_autoptr(LibvirtDeviceOp) d = job;
        Op *op = userdata;
        int r;

        op->in_worker = false;
        op->timer = sd_event_source_disable_unref(op->timer);

        if (d->status != LIBVIRT_OK) {
                log_info("Claim of %s for '%s' failed: %s", op->device, op->domain, strempty(d->error));
                /* libvirt undoes a failed attach itself; the roll-back
                 * makes sure, then drops the intent. */
                op_failf(op, libvirt_error_name(d->status), "Attaching %s to domain '%s' failed: %s",
                         op->device, op->domain, strempty(d->error));
                return;
        }
        op->attached = true;

        if (op->replied) {
                /* Timed out meanwhile: the caller was told it failed. */
                op_rollback(op);
                return;
        }

        /* Is the caller still there?  Asking the bus after the attach closes
         * the window in which a vanished caller would leave a claim behind.
         * The claim is written while the question is on its way; if the
         * caller is gone, the roll-back removes it again. */
        r = ask_caller_uid(op, &op->slot, on_get_unix_user);
        if (r < 0) {
                op_failf(op, SD_BUS_ERROR_FAILED, "Cannot identify the caller: %s", g_strerror(-r));
                return;
        }
        if (op->uid_known)
                claim_commit(op, op->uid);
}

/* Record the claim as done, for UID.  On failure the op is rolled back and
 * answered; returns false then. */
static bool claim_commit(Op *op, uint32_t uid) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        op->claim->uid = uid;
        if (write_claim(op, CLAIM_PHASE_ACTIVE, &e) < 0) {
                /* The presence check must not answer for a failed op. */
                op->slot = sd_bus_slot_unref(op->slot);
                op_fail(op, &e);
                return false;
        }
        op->committed = true;
        return true;
}

static void on_claim_caller_checked(sd_bus_message *reply, Op *op) {
        uint32_t uid;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL) || sd_bus_message_read(reply, "u", &uid) < 0) {
                log_info("Caller of Claim(%s) went away; rolling back", op->device);
                op->replied = true;
                op_rollback(op);
                return;
        }
        if (!op->committed && !claim_commit(op, uid))
                return;

        log_info("Claimed %s for domain '%s' (uid %u, %s%s%s)", op->device, op->domain, op->claim->uid,
                 op->claim->live ? "live" : "", op->claim->live && op->claim->config ? "+" : "",
                 op->claim->config ? "config" : "");
        /* The caller hears first; observers right after, before this
         * thread reads any other message, so nobody sees the old state. */
        op->replied = true;
        r = sd_bus_reply_method_return(op->msg, "ss", op->device, op->claim->xml);
        if (r < 0)
                log_warning_errno(r, "Failed to reply to Claim(%s): %m", op->device);
        show_claim(op->b, op->claim);
        op_free(op);
}

/* The domain is known: choose the device, build, record the intent, attach. */
static void claim_prepare(Op *op) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        const LibvirtDomainInfo *info = op->info;
        g_autofree char *xml = NULL;
        const VdpaDevice *d;
        int r;

        if (!op->device[0]) {
                d = pick_device(op);
                if (!d) {
                        op_reply_errorf(op, VDPA_ERROR_NO_DEVICE_AVAILABLE,
                                        "No available vDPA device matches the constraints for domain '%s'", op->domain);
                        op_free(op);
                        return;
                }
                op_reserve(op, d->hw.name);
        } else {
                d = inventory_lookup(op->b->inventory, op->device);
                /* The device may have gone or changed while we waited. */
                if (!d || (d->state != VDPA_DEVICE_AVAILABLE)) {
                        if (!d)
                                sd_bus_error_setf(&e, VDPA_ERROR_NO_SUCH_DEVICE, "Device '%s' went away", op->device);
                        else
                                (void) check_claimable(op->b, d, &e);
                        if (!sd_bus_error_is_set(&e))
                                sd_bus_error_setf(&e, VDPA_ERROR_DEVICE_BUSY, "Device '%s' is busy", op->device);
                        op_reply_error(op, &e);
                        op_free(op);
                        return;
                }
        }

        op->claim = g_new0(Claim, 1);
        op->claim->device = g_strdup(op->device);
        op->claim->domain = g_strdup(op->domain);
        op->claim->domain_uuid = g_strdup(strempty(info->uuid));
        op->claim->chardev = g_strdup(d->hw.chardev);
        op->claim->live = op->opts.live >= 0 ? op->opts.live : info->active;
        op->claim->config = op->opts.config >= 0 ? op->opts.config : info->persistent;

        if (!op->claim->live && !op->claim->config) {
                op_reply_errorf(op, SD_BUS_ERROR_INVALID_ARGS,
                                "Neither live nor config: domain '%s' is %s and %s", op->domain,
                                info->active ? "running" : "shut off", info->persistent ? "persistent" : "transient");
                op_free(op);
                return;
        }
        if (op->claim->live && !info->active) {
                op_reply_errorf(op, SD_BUS_ERROR_INVALID_ARGS, "Option 'live' needs a running domain; '%s' is shut off", op->domain);
                op_free(op);
                return;
        }
        if (op->claim->config && !info->persistent) {
                op_reply_errorf(op, SD_BUS_ERROR_INVALID_ARGS, "Option 'config' needs a persistent domain; '%s' is transient", op->domain);
                op_free(op);
                return;
        }

        /* The NIC filters on the MAC it was created with: the guest must
         * use that one. */
        if (!op->opts.iface.mac && d->kernel.mac && d->kernel.mac[0])
                op->opts.iface.mac = g_strdup(d->kernel.mac);
        if (!op->opts.iface.mac)
                op->opts.iface.mac = broker_generate_mac(op->device, op->claim->domain_uuid);
        op->claim->mac = g_strdup(op->opts.iface.mac);

        r = vdpa_iface_xml_build(d->hw.chardev, &op->opts.iface, &xml);
        if (r < 0) {
                op_reply_errorf(op, SD_BUS_ERROR_FAILED, "Failed to build interface XML for '%s': %s", op->device, g_strerror(-r));
                op_free(op);
                return;
        }
        op->claim->xml = TAKE_PTR(xml);

        /* The intent is durable before libvirt hears of it: after a crash
         * the next start knows what to undo. */
        r = write_claim(op, CLAIM_PHASE_INTENT, &e);
        if (r < 0) {
                op_reply_error(op, &e);
                op_free(op);
                return;
        }
        op->intent_written = true;

        op_submit_device_op(op, false, on_claim_attached);
}

/* Both polkit's yes and the domain's inspection are in (op->proceed). */
static void claim_continue(Op *op) {
        if (op->info->status != LIBVIRT_OK) {
                op_reply_errorf(op, libvirt_error_name(op->info->status),
                                op->info->status == LIBVIRT_ERR_NO_DOMAIN ? "No domain '%s': %s" : "Looking up domain '%s' failed: %s",
                                op->domain, strempty(op->info->error));
                op_free(op);
                return;
        }
        claim_prepare(op);
}

static int on_claim_uid(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Op *op = userdata;

        op->uid_slot = sd_bus_slot_unref(op->uid_slot);
        /* A caller already gone is polkit's to refuse, or the presence
         * check's after the attach. */
        if (!sd_bus_message_is_method_error(reply, NULL) && sd_bus_message_read(reply, "u", &op->uid) >= 0)
                op->uid_known = true;
        return 1;
}

/* The uid goes into the record written after the attach; asked now, it is
 * known by then and the write need not wait for the bus. */
static void claim_query_uid(Op *op) {
        int r;

        r = ask_caller_uid(op, &op->uid_slot, on_claim_uid);
        if (r < 0)
                log_debug_errno(r, "Cannot ask for the uid of the caller of Claim(%s) now: %m", op->device);
}

static void on_claim_authorized(int r, const sd_bus_error *error, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        Op *op = userdata;

        op->slot = sd_bus_slot_unref(op->slot);
        op_polkit_done(op);
        if (r < 0)
                sd_bus_error_copy(&e, error);
        /* Re-check: things may have moved while polkit thought. */
        else if (!op->b->libvirt_connected)
                sd_bus_error_setf(&e, VDPA_ERROR_LIBVIRT_UNAVAILABLE, "libvirt at %s is not connected", op->b->config->libvirt_uri);
        else if (op->device[0] && check_device_name(op->b, op->device, &e) >= 0)
                op_reserve(op, op->device);

        if (sd_bus_error_is_set(&e))
                op_refuse(op, &e);
        else
                op_authorized(op);
}

static int validate_domain_name(const char *domain, sd_bus_error *error) {
        if (!domain[0])
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "The domain name must not be empty");
        /* libvirt's own limit on names is far above this; longer is hostile. */
        if (strlen(domain) > 1024)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "The domain name is longer than 1024 bytes");
        for (const char *p = domain; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "The domain name contains control characters");
        return 0;
}

int broker_method_claim(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Broker *b = userdata;
        const char *device, *domain;
        Op *op;
        int r;

        r = sd_bus_message_read(msg, "ss", &device, &domain);
        if (r < 0)
                return r;

        op = op_new(b, OP_CLAIM, msg);
        op->proceed = claim_continue;
        op->device = g_strdup(device);
        op->domain = g_strdup(domain);

        /* Everything that can be said without polkit or libvirt, first. */
        r = bus_read_options(msg, VDPA_OPTION_SET_CLAIM, &op->opts, error);
        if (r >= 0)
                r = validate_domain_name(domain, error);
        if (r >= 0 && device[0])
                r = check_device_name(b, device, error);
        if (r >= 0 && !b->libvirt_connected)
                r = sd_bus_error_setf(error, VDPA_ERROR_LIBVIRT_UNAVAILABLE,
                                      "libvirt at %s is not connected", b->config->libvirt_uri);
        if (r < 0) {
                op_free(op);
                return r;
        }

        r = op_authorize(op, VDPA_POLKIT_ACTION_CLAIM, on_claim_authorized);
        if (r < 0) {
                op_free(op);
                return sd_bus_error_set_errnof(error, -r, "Cannot check authorization: %m");
        }
        return 1;
}

/* --- Release --- */

static void on_release_detached(void *job, void *userdata) {
        g_autoptr(LibvirtDeviceOp) d = job;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        Op *op = userdata;
        bool gone;

        op->in_worker = false;
        op->timer = sd_event_source_disable_unref(op->timer);

        /* A domain that no longer exists has nothing left to detach: with
         * force the claim is dropped, without it the caller is told. */
        gone = d->status == LIBVIRT_ERR_NO_DOMAIN;
        if (d->status != LIBVIRT_OK && !(gone && op->opts.force)) {
                if (!op->replied)
                        op_reply_errorf(op, libvirt_error_name(d->status), "Detaching %s from domain '%s' failed: %s%s",
                                        op->device, op->claim->domain, strempty(d->error),
                                        gone ? " (use force to drop the claim)" : "");
                op_free(op);
                return;
        }

        if (forget_claim(op->b, op->device, &e) < 0) {
                op_reply_error(op, &e);
                op_free(op);
                return;
        }
        log_info("Released %s from domain '%s'%s", op->device, op->claim->domain, gone ? " (domain gone, forced)" : "");
        /* As for Claim: the caller first, then DeviceChanged. */
        if (!op->replied) {
                op->replied = true;
                (void) sd_bus_reply_method_return(op->msg, "");
        }
        hide_claim(op->b, op->device);
        op_free(op);
}

/* Authorized, and the domain looked up (op->proceed): detach. */
static void release_continue(Op *op) {
        const Claim *c = claims_get(op->b->claims, op->device);

        if (!c || c->phase != CLAIM_PHASE_ACTIVE) {
                op_reply_errorf(op, VDPA_ERROR_NOT_CLAIMED, "Device '%s' is not claimed", op->device);
                op_free(op);
                return;
        }
        if (!op_reserve(op, op->device)) {
                op_reply_errorf(op, VDPA_ERROR_DEVICE_BUSY, "Device '%s' is being claimed or released", op->device);
                op_free(op);
                return;
        }
        op->claim = claim_dup(c);
        /* A failed lookup is no answer: the detach looks again and tells
         * NoSuchDomain (or drops the claim under force).  A handle for a
         * domain of another name than the claim's is not used. */
        if (op->info && !streq_ptr(op->info->name, c->domain))
                g_clear_pointer(&op->info, libvirt_domain_info_free);

        /* Even when the device itself is gone the domain's XML may still
         * name its chardev: detach anyway. */
        op_submit_device_op(op, true, on_release_detached);
}

static void on_release_authorized(int r, const sd_bus_error *error, void *userdata) {
        Op *op = userdata;

        op->slot = sd_bus_slot_unref(op->slot);
        op_polkit_done(op);
        if (r < 0)
                op_refuse(op, error);
        else
                op_authorized(op);
}

int broker_method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Broker *b = userdata;
        const char *device;
        const Claim *c;
        Op *op;
        int r;

        r = sd_bus_message_read(msg, "s", &device);
        if (r < 0)
                return r;

        op = op_new(b, OP_RELEASE, msg);
        op->proceed = release_continue;
        op->device = g_strdup(device);

        r = bus_read_options(msg, VDPA_OPTION_SET_RELEASE, &op->opts, error);
        if (r < 0) {
                op_free(op);
                return r;
        }

        c = claims_get(b->claims, device);
        if (!c || c->phase != CLAIM_PHASE_ACTIVE) {
                g_autofree char *echo = bus_echo_string(device);

                op_free(op);
                if (!inventory_lookup(b->inventory, device))
                        return sd_bus_error_setf(error, VDPA_ERROR_NO_SUCH_DEVICE, "No vDPA device '%s'", echo);
                return sd_bus_error_setf(error, VDPA_ERROR_NOT_CLAIMED, "Device '%s' is not claimed", echo);
        }
        if (name_reserved(b, device)) {
                op_free(op);
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_BUSY, "Device '%s' is being claimed or released", device);
        }
        if (!b->libvirt_connected) {
                op_free(op);
                return sd_bus_error_setf(error, VDPA_ERROR_LIBVIRT_UNAVAILABLE,
                                         "libvirt at %s is not connected", b->config->libvirt_uri);
        }

        op->domain = g_strdup(c->domain);
        r = op_authorize(op, VDPA_POLKIT_ACTION_RELEASE, on_release_authorized);
        if (r < 0) {
                op_free(op);
                return sd_bus_error_set_errnof(error, -r, "Cannot check authorization: %m");
        }
        return 1;
}

/* --- CheckMigration --- */

typedef struct NameCtx {
        const char *chardev;
        const char *name;
} NameCtx;

static bool find_by_chardev(const VdpaDevice *d, void *userdata) {
        NameCtx *c = userdata;

        if (!streq_ptr(d->hw.chardev, c->chardev))
                return true;
        c->name = d->hw.name;
        return false;
}

/* "vdpa0 (/dev/vhost-vdpa-0), /dev/vhost-vdpa-7" for the message. */
static char *describe_chardevs(Broker *b, GPtrArray *chardevs) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < chardevs->len; i++) {
                NameCtx c = { .chardev = chardevs->pdata[i] };

                inventory_foreach(b->inventory, find_by_chardev, &c);
                if (i > 0)
                        g_string_append(s, ", ");
                if (c.name)
                        g_string_append_printf(s, "%s (%s)", c.name, c.chardev);
                else
                        g_string_append(s, c.chardev);
        }
        return g_string_free(s, FALSE);
}

/* The first versions whose migration of a vDPA NIC we trust ("auto"). */
#define MIGRATION_MIN_LIBVIRT 9000000UL   /* 9.0.0 */
#define MIGRATION_MIN_QEMU    8000000UL   /* 8.0.0 */

static char *format_version(unsigned long v) {
        return g_strdup_printf("%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
}

static void on_migration_checked(void *job, void *userdata) {
        g_autoptr(LibvirtMigrationInfo) i = job;
        g_autofree char *devices = NULL;
        Op *op = userdata;
        VdpaMigrationPolicy policy = op->b->config->live_migration;

        op->in_worker = false;
        op->timer = sd_event_source_disable_unref(op->timer);
        if (op->replied) {
                op_free(op);
                return;
        }

        if (i->status != LIBVIRT_OK) {
                op_reply_errorf(op, libvirt_error_name(i->status),
                                i->status == LIBVIRT_ERR_NO_DOMAIN ? "No domain '%s': %s" : "Looking up domain '%s' failed: %s",
                                op->domain, strempty(i->error));
                op_free(op);
                return;
        }

        if (i->chardevs->len == 0 || policy == VDPA_MIGRATION_POLICY_ALLOW)
                goto allowed;

        devices = describe_chardevs(op->b, i->chardevs);
        if (policy == VDPA_MIGRATION_POLICY_AUTO) {
                g_autofree char *lv = format_version(i->lib_version), *qv = format_version(i->hv_version);

                if (i->lib_version >= MIGRATION_MIN_LIBVIRT && i->hv_version >= MIGRATION_MIN_QEMU)
                        goto allowed;
                op_reply_errorf(op, VDPA_ERROR_CONFLICT,
                                "Domain '%s' uses vDPA device(s) %s; live migration needs libvirt >= 9.0.0 and "
                                "QEMU >= 8.0.0 (policy 'auto'), this host has libvirt %s and QEMU %s",
                                op->domain, devices, lv, qv);
        } else
                op_reply_errorf(op, VDPA_ERROR_CONFLICT,
                                "Domain '%s' uses vDPA device(s) %s; live migration is blocked by policy 'block'",
                                op->domain, devices);
        op_free(op);
        return;

allowed:
        op->replied = true;
        (void) sd_bus_reply_method_return(op->msg, "");
        op_free(op);
}

int broker_method_check_migration(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Broker *b = userdata;
        const char *domain;
        Op *op;
        int r;

        r = sd_bus_message_read(msg, "s", &domain);
        if (r < 0)
                return r;
        r = validate_domain_name(domain, error);
        if (r < 0)
                return r;
        if (!b->libvirt_connected)
                return sd_bus_error_setf(error, VDPA_ERROR_LIBVIRT_UNAVAILABLE,
                                         "libvirt at %s is not connected", b->config->libvirt_uri);

        op = op_new(b, OP_CHECK, msg);
        op->domain = g_strdup(domain);
        op->in_worker = true;
        op_arm_timer(op);
        libvirt_worker_submit_migration_check(b->worker, domain, on_migration_checked, op);
        return 1;
}

/* --- start-up and reconciliation --- */

static void start_rollback(Broker *b, const Claim *c) {
        Op *op = op_new(b, OP_ROLLBACK, NULL);

        op->claim = claim_dup(c);
        op_reserve(op, c->device);
        op_rollback(op);
}

void broker_restore(Broker *b) {
        g_autoptr(GPtrArray) intents = g_ptr_array_new_with_free_func((GDestroyNotify) claim_free);
        GHashTableIter it;
        gpointer v;

        g_hash_table_iter_init(&it, claims_table(b->claims));
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                const Claim *c = v;

                if (c->phase == CLAIM_PHASE_ACTIVE)
                        show_claim(b, c);
                else
                        g_ptr_array_add(intents, claim_dup(c));
        }

        for (guint i = 0; i < intents->len; i++) {
                const Claim *c = intents->pdata[i];

                log_info("Found an unfinished claim of %s on '%s'; rolling it back", c->device, c->domain);
                start_rollback(b, c);
        }
}

void broker_reconcile(Broker *b, GHashTable *usage) {
        g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) intents = g_ptr_array_new_with_free_func((GDestroyNotify) claim_free);
        GHashTableIter it;
        gpointer v;

        g_hash_table_iter_init(&it, claims_table(b->claims));
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                const Claim *c = v;
                const VdpaDomainRef *ref;

                if (name_reserved(b, c->device))
                        continue;
                /* An intent nobody works on: its roll-back failed while
                 * libvirt was away.  Try again now that it is back. */
                if (c->phase == CLAIM_PHASE_INTENT) {
                        g_ptr_array_add(intents, claim_dup(c));
                        continue;
                }
                ref = g_hash_table_lookup(usage, c->chardev);
                if (!ref || !streq_ptr(ref->domain, c->domain))
                        g_ptr_array_add(stale, g_strdup(c->device));
        }

        for (guint i = 0; i < stale->len; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                const char *device = stale->pdata[i];
                g_autofree char *domain = g_strdup(claims_get(b->claims, device)->domain);

                if (forget_claim(b, device, &e) < 0)
                        continue;
                log_notice("Claim of %s dropped: domain '%s' no longer has it", device, domain);
                inventory_set_claim(b->inventory, device, NULL);
        }

        for (guint i = 0; i < intents->len; i++)
                start_rollback(b, intents->pdata[i]);
}

/* --- life cycle --- */

Broker *broker_new(const BrokerParams *p) {
        Broker *b = g_new0(Broker, 1);

        b->event = sd_event_ref(p->event);
        b->inventory = p->inventory;
        b->config = p->config;
        b->worker = p->worker;
        b->claims = p->claims;
        b->timeout_usec = p->libvirt_timeout_usec;
        b->reserved = g_hash_table_new(g_str_hash, g_str_equal);
        b->held = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        b->ops = g_hash_table_new(NULL, NULL);
        g_queue_init(&b->polkit_waiting);
        return b;
}

void broker_free(Broker *b) {
        g_autofree gpointer *ops = NULL;
        guint n;

        if (!b)
                return;
        /* Ops still queued in the worker are owned by their jobs; the worker
         * is freed first (main.c), which drops them without running DONE. */
        /* Nothing may start while everything is being dropped. */
        g_queue_clear(&b->polkit_waiting);
        ops = g_hash_table_get_keys_as_array(b->ops, &n);
        for (guint i = 0; i < n; i++) {
                ((Op *) ops[i])->waiting_link = NULL;
                ((Op *) ops[i])->polkit_pending = false;
                op_free(ops[i]);
        }
        g_hash_table_unref(b->ops);
        g_hash_table_unref(b->reserved);
        g_hash_table_unref(b->held);
        sd_event_unref(b->event);
        g_free(b);
}

void broker_set_libvirt_connected(Broker *b, bool connected) {
        b->libvirt_connected = connected;
}

void broker_set_config(Broker *b, const VdpaConfig *config) {
        b->config = config;
}

unsigned broker_count_operations(const Broker *b) {
        return g_hash_table_size(b->ops);
}

bool broker_is_busy(Broker *b, const char *name) {
        return name_reserved(b, name);
}

/* Provisioning holds a name while it creates or deletes that device: a
 * Claim meanwhile gets DeviceBusy, as for a Claim in flight. */
bool broker_reserve_name(Broker *b, const char *name) {
        if (name_reserved(b, name))
                return false;
        g_hash_table_add(b->held, g_strdup(name));
        return true;
}

void broker_unreserve_name(Broker *b, const char *name) {
        g_hash_table_remove(b->held, name);
}
