/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "provision.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bus-util.h"
#include "kernel-info.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "options.h"
#include "polkit.h"
#include "vdpa-names.h"

/* As the broker: a burst of calls must not become a burst of
 * CheckAuthorization calls past the bus's limit of pending replies. */
#define MAX_POLKIT_INFLIGHT 16
/* Longest device name accepted: the kernel sets none, sysfs wants no '/',
 * and a name has to fit in a line of `vdpa dev show`. */
#define NAME_MAX_LEN 64
/* "vdpa<N>" for CreateDevice with name "". */
#define AUTO_NAME_MAX 10000

typedef enum {
        PROV_LIST,
        PROV_CREATE,
        PROV_DELETE,
} ProvKind;

typedef struct Created {
        char *mac;
        uint16_t mtu;
        uint16_t max_queue_pairs;
} Created;

struct Provision {
        sd_event *event;
        struct udev *udev;
        Inventory *inventory;
        Broker *broker;
        NetlinkWorker *worker;
        uint64_t timeout_usec;

        GHashTable *ops;              /* ProvOp* alive */
        GHashTable *waiting;          /* device name -> ProvOp* waiting for the inventory */
        GHashTable *created;          /* device name -> Created* */
        guint polkit_inflight;
        GQueue polkit_waiting;

        ProvisionDescribeFunc describe;
        void *describe_userdata;
};

typedef struct ProvOp {
        Provision *p;
        ProvKind kind;
        sd_bus_message *msg;
        sd_bus_slot *polkit_slot;
        sd_event_source *timer;
        GList *waiting_link;          /* in polkit_waiting */
        bool polkit_pending;
        bool held;                    /* the name is held in the broker */
        bool in_worker;
        bool replied;
        bool waiting_inventory;
        bool timed_out;               /* created but never seen: being deleted again */

        char *mgmtdev;
        char *name;
        VdpaOptions opts;

        /* provision_create(): no bus message, the answer goes here. */
        ProvisionCreateDone done;
        void *done_userdata;

        /* Worker results. */
        int r;
        char *extack;
        GPtrArray *mgmtdevs;          /* VdpaNlMgmtdev* */
} ProvOp;

static void created_free(Created *c) {
        if (!c)
                return;
        g_free(c->mac);
        g_free(c);
}

static void op_free(ProvOp *op) {
        Provision *p;

        if (!op)
                return;
        p = op->p;
        if (op->polkit_pending) {
                op->polkit_pending = false;
                p->polkit_inflight--;
        }
        if (op->waiting_link)
                g_queue_delete_link(&p->polkit_waiting, op->waiting_link);
        if (op->held)
                broker_unreserve_name(p->broker, op->name);
        if (op->waiting_inventory)
                g_hash_table_remove(p->waiting, op->name);
        g_hash_table_remove(p->ops, op);
        sd_bus_slot_unref(op->polkit_slot);
        sd_event_source_disable_unref(op->timer);
        sd_bus_message_unref(op->msg);
        vdpa_options_clear(&op->opts);
        g_clear_pointer(&op->mgmtdevs, g_ptr_array_unref);
        g_free(op->extack);
        g_free(op->mgmtdev);
        g_free(op->name);
        g_free(op);
}

static void polkit_schedule(Provision *p);

/* The op is finished; the next waiting authorization may go. */
static void op_finish(ProvOp *op) {
        Provision *p = op->p;

        op_free(op);
        polkit_schedule(p);
}

static ProvOp *op_new(Provision *p, ProvKind kind, sd_bus_message *msg) {
        ProvOp *op = g_new0(ProvOp, 1);

        op->p = p;
        op->kind = kind;
        op->msg = msg ? sd_bus_message_ref(msg) : NULL;
        vdpa_options_init(&op->opts);
        g_hash_table_add(p->ops, op);
        return op;
}

static void op_reply_error(ProvOp *op, const sd_bus_error *e) {
        int r;

        if (op->replied)
                return;
        op->replied = true;
        if (!op->msg) {
                if (op->done)
                        op->done(op->name, e, op->done_userdata);
                return;
        }
        r = sd_bus_reply_method_error(op->msg, e);
        if (r < 0)
                log_debug_errno(r, "Cannot answer %s: %m", sd_bus_message_get_member(op->msg));
}

G_GNUC_PRINTF(3, 4)
static void op_reply_errorf(ProvOp *op, const char *name, const char *fmt, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        sd_bus_error_set(&e, name, text);
        op_reply_error(op, &e);
}

/* ------------------------------------------------------------ validation */

/* The name becomes a sysfs directory and a word in `vdpa dev show`. */
static int validate_name(const char *name, sd_bus_error *error) {
        g_autofree char *echo = bus_echo_string(name);
        size_t n = strnlen(name, NAME_MAX_LEN + 1);

        if (n == 0 || n > NAME_MAX_LEN)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Device name '%s' must be 1 to %d characters long", echo, NAME_MAX_LEN);
        if (name[0] == '.' || name[0] == '-')
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Device name '%s' must not start with '%c'", echo, name[0]);
        for (size_t i = 0; i < n; i++)
                if (!g_ascii_isalnum(name[i]) && !strchr("_.:-", name[i]))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Device name '%s' may only contain [A-Za-z0-9_.:-]", echo);
        return 0;
}

/* A handle is "bus/device" or "device" (the kernel's mgmtdev_handle_match). */
static int validate_handle(const char *handle, sd_bus_error *error) {
        g_autofree char *echo = bus_echo_string(handle);
        const char *slash = strchr(handle, '/');
        size_t n = strnlen(handle, 256);

        if (n == 0 || n >= 256)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Management device handle '%s' must be 1 to 255 characters long", echo);
        if (slash && (slash == handle || !slash[1] || strchr(slash + 1, '/')))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Management device handle '%s' must be \"BUS/DEVICE\" or \"DEVICE\"", echo);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) handle[i] <= ' ' || handle[i] == 0x7f)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Management device handle '%s' must not contain blanks or control characters",
                                                 echo);
        return 0;
}

static int require_netlink(Provision *p, sd_bus_error *error) {
        if (netlink_worker_has_family(p->worker))
                return 0;
        return sd_bus_error_set(error, VDPA_ERROR_NOT_SUPPORTED,
                                "The kernel has no vdpa netlink family (vdpa module not loaded, or kernel older than 5.12)");
}

/* Busy for deletion: what a Claim would also refuse, and a domain's use. */
static int check_deletable(Provision *p, const VdpaDevice *d, sd_bus_error *error) {
        if (d->usage.claimed)
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_BUSY,
                                         "Device '%s' is claimed for domain '%s'", d->hw.name, strempty(d->usage.domain));
        if (d->usage.domain && d->usage.domain[0])
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_BUSY,
                                         "Device '%s' is used by domain '%s'", d->hw.name, d->usage.domain);
        if (broker_is_busy(p->broker, d->hw.name))
                return sd_bus_error_setf(error, VDPA_ERROR_DEVICE_BUSY,
                                         "Device '%s' is being claimed, released, created or deleted", d->hw.name);
        return 0;
}

/* ------------------------------------------------------- kernel answers */

/* The kernel's errno and extack text as the bus error of DESIGN.md §7. */
static void reply_kernel_error(ProvOp *op, const char *what) {
        g_autofree char *detail = op->extack ? g_strdup_printf(": %s", op->extack) : g_strdup("");
        const char *mgmtdev = strempty(op->mgmtdev);
        const char *name = strempty(op->name);

        switch (-op->r) {
        case EEXIST:
                op_reply_errorf(op, VDPA_ERROR_DEVICE_EXISTS, "A vDPA device named '%s' exists%s", name, detail);
                return;
        case ENODEV:
                if (op->kind == PROV_CREATE)
                        op_reply_errorf(op, VDPA_ERROR_NO_SUCH_MGMTDEV, "No management device '%s'%s", mgmtdev, detail);
                else
                        op_reply_errorf(op, VDPA_ERROR_NO_SUCH_DEVICE, "No vDPA device '%s' in the kernel%s", name, detail);
                return;
        case ENOSPC:
                op_reply_errorf(op, VDPA_ERROR_MGMTDEV_BUSY,
                                       "Management device '%s' has no room for another vDPA device%s", mgmtdev, detail);
                return;
        case EOPNOTSUPP:
                op_reply_errorf(op, VDPA_ERROR_NOT_SUPPORTED,
                                       "%s: not supported by the kernel or management device '%s'%s",
                                       what, mgmtdev, detail);
                return;
        case EPERM:
        case EACCES:
                op_reply_errorf(op, SD_BUS_ERROR_ACCESS_DENIED,
                                       "%s: the kernel refused (the service lacks CAP_NET_ADMIN)%s", what, detail);
                return;
        case EINVAL:
                /* DEV_DEL: "Only user created device can be deleted by user". */
                if (op->kind == PROV_DELETE) {
                        op_reply_errorf(op, VDPA_ERROR_NOT_SUPPORTED,
                                        "%s: the kernel cannot delete device '%s'%s", what, name, detail);
                        return;
                }
                G_GNUC_FALLTHROUGH;
        case ERANGE:
                op_reply_errorf(op, SD_BUS_ERROR_INVALID_ARGS, "%s: the kernel refused the arguments (%s)%s",
                                       what, g_strerror(-op->r), detail);
                return;
        case ETIMEDOUT:
                op_reply_errorf(op, SD_BUS_ERROR_TIMEOUT, "%s: the kernel did not answer in time", what);
                return;
        default:
                op_reply_errorf(op, SD_BUS_ERROR_FAILED, "%s failed: %s%s", what, g_strerror(-op->r), detail);
                return;
        }
}

/* Wait (bounded) for the inventory to show the change; or answer now. */
static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata);
static void reply_created(ProvOp *op);

static void wait_for_inventory(ProvOp *op) {
        int r;

        op->waiting_inventory = true;
        g_hash_table_replace(op->p->waiting, op->name, op);
        r = sd_event_add_time_relative(op->p->event, &op->timer, CLOCK_MONOTONIC, op->p->timeout_usec, 0,
                                       on_timeout, op);
        if (r >= 0)
                return;
        /* Never an unbounded wait: the kernel did it, say so now. */
        log_warning_errno(r, "Cannot bound the wait for device %s, answering at once: %m", op->name);
        if (op->kind == PROV_CREATE)
                reply_created(op);
        else {
                (void) sd_bus_reply_method_return(op->msg, "");
                op->replied = true;
        }
        op_finish(op);
}

/* ---------------------------------------------------------------- create */

static void run_dev_new(VdpaNetlink *nl, void *job) {
        ProvOp *op = job;
        VdpaNlNewParams np = {
                .mgmtdev = op->mgmtdev,
                .name = op->name,
                .mtu = op->opts.mtu,
                .max_vqp = op->opts.max_queue_pairs,
        };

        if (!nl) {
                op->r = -ENOENT;
                return;
        }
        if (op->opts.iface.mac) {
                unsigned m[6];

                /* Normalised by the option parser: six hex pairs. */
                if (sscanf(op->opts.iface.mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6) {
                        np.has_mac = true;
                        for (size_t i = 0; i < 6; i++)
                                np.mac[i] = (uint8_t) m[i];
                }
        }
        op->r = vdpa_netlink_dev_new(nl, &np, &op->extack);
}

static void run_dev_del(VdpaNetlink *nl, void *job) {
        ProvOp *op = job;

        op->r = nl ? vdpa_netlink_dev_del(nl, op->name, &op->extack) : -ENOENT;
}

void provision_remember_created(Provision *p, const char *name, const char *mac, uint16_t mtu,
                                uint16_t max_queue_pairs) {
        Created *c = g_new0(Created, 1);
        const VdpaDevice *d;

        c->mac = g_strdup(strempty(mac));
        c->mtu = mtu;
        c->max_queue_pairs = max_queue_pairs;
        g_hash_table_replace(p->created, g_strdup(name), c);

        /* Facts the kernel gave already are completed now. */
        d = inventory_lookup(p->inventory, name);
        if (d) {
                _cleanup_(vdpa_kernel_info_clear) VdpaKernelInfo k = {};

                vdpa_kernel_info_copy(&k, &d->kernel);
                provision_fill_created(p, name, &k);
                if (!vdpa_kernel_info_equal(&k, &d->kernel))
                        inventory_set_kernel_info(p->inventory, name, &k);
        }
}

void provision_forget_created(Provision *p, const char *name) {
        g_hash_table_remove(p->created, name);
}

static void remember_created(ProvOp *op) {
        provision_remember_created(op->p, op->name, op->opts.iface.mac, op->opts.mtu, op->opts.max_queue_pairs);
}

static void reply_created(ProvOp *op) {
        int r;

        if (op->replied)
                return;
        op->replied = true;
        if (!op->msg) {
                if (op->done)
                        op->done(op->name, NULL, op->done_userdata);
                return;
        }
        r = sd_bus_reply_method_return(op->msg, "s", op->name);
        if (r < 0)
                log_debug_errno(r, "Cannot answer CreateDevice: %m");
}

static void on_dev_new_done(void *job, void *userdata) {
        ProvOp *op = job;

        op->in_worker = false;
        if (op->timed_out) {
                /* The roll-back of a device that never showed up. */
                if (op->r < 0 && op->r != -ENODEV)
                        log_error("Could not delete device %s again after it failed to appear: %s",
                                  op->name, g_strerror(-op->r));
                g_hash_table_remove(op->p->created, op->name);
                op_reply_errorf(op, SD_BUS_ERROR_TIMEOUT,
                                "Device '%s' was created but did not appear within %" PRIu64 " s; it was deleted again",
                                op->name, op->p->timeout_usec / G_USEC_PER_SEC);
                op_finish(op);
                return;
        }
        if (op->r < 0) {
                reply_kernel_error(op, "Creating the vDPA device");
                op_finish(op);
                return;
        }

        log_info("Created vDPA device %s on %s", op->name, op->mgmtdev);
        remember_created(op);
        if (inventory_lookup(op->p->inventory, op->name)) {
                reply_created(op);
                op_finish(op);
                return;
        }
        wait_for_inventory(op);
}

static char *pick_free_name(Provision *p) {
        for (unsigned n = 0; n < AUTO_NAME_MAX; n++) {
                g_autofree char *name = g_strdup_printf("vdpa%u", n);

                if (!inventory_lookup(p->inventory, name) && !broker_is_busy(p->broker, name))
                        return TAKE_PTR(name);
        }
        return NULL;
}

static void create_authorized(ProvOp *op) {
        if (!op->name[0]) {
                g_free(op->name);
                op->name = pick_free_name(op->p);
                if (!op->name) {
                        op->name = g_strdup("");
                        op_reply_errorf(op, VDPA_ERROR_DEVICE_EXISTS, "No free name vdpa0..vdpa%d", AUTO_NAME_MAX - 1);
                        op_finish(op);
                        return;
                }
        }
        if (!broker_reserve_name(op->p->broker, op->name)) {
                op_reply_errorf(op, VDPA_ERROR_DEVICE_BUSY, "Device '%s' is being claimed, released, created or deleted",
                                op->name);
                op_finish(op);
                return;
        }
        op->held = true;
        op->in_worker = true;
        netlink_worker_submit(op->p->worker, op, run_dev_new, on_dev_new_done, (GDestroyNotify) op_free, NULL);
}

/* The rules engine's way in: CreateDevice without the bus and polkit (the
 * configuration is the authority), same name hold, DEV_NEW, wait for the
 * inventory and roll-back on timeout. */
void provision_create(Provision *p, const ProvisionCreateParams *cp, ProvisionCreateDone done, void *userdata) {
        ProvOp *op = op_new(p, PROV_CREATE, NULL);

        op->mgmtdev = g_strdup(cp->mgmtdev);
        op->name = g_strdup(cp->name);
        op->opts.iface.mac = cp->mac && cp->mac[0] ? g_strdup(cp->mac) : NULL;
        op->opts.mtu = cp->mtu;
        op->opts.max_queue_pairs = cp->max_queue_pairs;
        op->done = done;
        op->done_userdata = userdata;
        create_authorized(op);
}

/* ---------------------------------------------------------------- delete */

static void on_dev_del_done(void *job, void *userdata) {
        ProvOp *op = job;

        op->in_worker = false;
        if (op->r < 0) {
                reply_kernel_error(op, "Deleting the vDPA device");
                op_finish(op);
                return;
        }
        log_info("Deleted vDPA device %s", op->name);
        g_hash_table_remove(op->p->created, op->name);
        if (!inventory_lookup(op->p->inventory, op->name)) {
                (void) sd_bus_reply_method_return(op->msg, "");
                op->replied = true;
                op_finish(op);
                return;
        }
        wait_for_inventory(op);
}

static void delete_authorized(ProvOp *op) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        const VdpaDevice *d = inventory_lookup(op->p->inventory, op->name);

        /* It may have gone or been claimed while polkit decided. */
        if (!d)
                sd_bus_error_setf(&e, VDPA_ERROR_NO_SUCH_DEVICE, "Device '%s' went away", op->name);
        else
                (void) check_deletable(op->p, d, &e);
        if (sd_bus_error_is_set(&e)) {
                op_reply_error(op, &e);
                op_finish(op);
                return;
        }
        if (!broker_reserve_name(op->p->broker, op->name)) {
                op_reply_errorf(op, VDPA_ERROR_DEVICE_BUSY, "Device '%s' is being claimed, released, created or deleted",
                                op->name);
                op_finish(op);
                return;
        }
        op->held = true;
        op->in_worker = true;
        netlink_worker_submit(op->p->worker, op, run_dev_del, on_dev_del_done, (GDestroyNotify) op_free, NULL);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ProvOp *op = userdata;

        op->timer = sd_event_source_disable_unref(op->timer);
        g_hash_table_remove(op->p->waiting, op->name);
        op->waiting_inventory = false;

        if (op->kind == PROV_DELETE) {
                op_reply_errorf(op, SD_BUS_ERROR_TIMEOUT,
                                "The kernel deleted device '%s', but it did not leave the inventory within %" PRIu64 " s",
                                op->name, op->p->timeout_usec / G_USEC_PER_SEC);
                op_finish(op);
                return 0;
        }
        /* Nothing left behind: a device nobody sees is deleted again. */
        log_warning("Device %s did not appear within %" PRIu64 " s of its creation; deleting it",
                    op->name, op->p->timeout_usec / G_USEC_PER_SEC);
        op->timed_out = true;
        op->in_worker = true;
        g_clear_pointer(&op->extack, g_free);
        netlink_worker_submit(op->p->worker, op, run_dev_del, on_dev_new_done, (GDestroyNotify) op_free, NULL);
        return 0;
}

void provision_device_event(Provision *p, InventoryEvent ev, const VdpaDevice *dev) {
        ProvOp *op = g_hash_table_lookup(p->waiting, dev->hw.name);

        if (!op)
                return;
        if (op->kind == PROV_CREATE && ev == INVENTORY_DEVICE_ADDED)
                reply_created(op);
        else if (op->kind == PROV_DELETE && ev == INVENTORY_DEVICE_REMOVED) {
                (void) sd_bus_reply_method_return(op->msg, "");
                op->replied = true;
        } else
                return;
        op_finish(op);
}

/* ---------------------------------------------------------------- polkit */

static void on_polkit(int r, const sd_bus_error *error, void *userdata) {
        ProvOp *op = userdata;
        Provision *p = op->p;

        op->polkit_slot = sd_bus_slot_unref(op->polkit_slot);
        op->polkit_pending = false;
        op->p->polkit_inflight--;

        if (r < 0) {
                op_reply_error(op, error);
                op_finish(op);
                return;
        }
        /* Either may finish (free) the op. */
        if (op->kind == PROV_CREATE)
                create_authorized(op);
        else
                delete_authorized(op);
        polkit_schedule(p);
}

static int op_send_polkit(ProvOp *op) {
        const char *const details[] = { "device", op->name, "mgmtdev", strempty(op->mgmtdev), NULL };
        int r;

        r = vdpa_polkit_check_async(op->msg, VDPA_POLKIT_ACTION_PROVISION, details, on_polkit, op, &op->polkit_slot);
        if (r < 0)
                return r;
        op->polkit_pending = true;
        op->p->polkit_inflight++;
        return 0;
}

static void polkit_schedule(Provision *p) {
        while (p->polkit_inflight < MAX_POLKIT_INFLIGHT && !g_queue_is_empty(&p->polkit_waiting)) {
                ProvOp *op = g_queue_pop_head(&p->polkit_waiting);
                int r;

                op->waiting_link = NULL;
                r = op_send_polkit(op);
                if (r < 0) {
                        op_reply_errorf(op, SD_BUS_ERROR_ACCESS_DENIED, "Cannot check authorization: %s", g_strerror(-r));
                        op_free(op);
                }
        }
}

static int op_authorize(ProvOp *op) {
        if (op->p->polkit_inflight < MAX_POLKIT_INFLIGHT)
                return op_send_polkit(op);
        g_queue_push_tail(&op->p->polkit_waiting, op);
        op->waiting_link = g_queue_peek_tail_link(&op->p->polkit_waiting);
        return 0;
}

/* --------------------------------------------------------------- methods */

int provision_method_create_device(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Provision *p = userdata;
        const char *mgmtdev, *name;
        ProvOp *op;
        int r;

        r = sd_bus_message_read(msg, "ss", &mgmtdev, &name);
        if (r < 0)
                return r;

        op = op_new(p, PROV_CREATE, msg);
        op->mgmtdev = g_strdup(mgmtdev);
        op->name = g_strdup(name);
        r = bus_read_options(msg, VDPA_OPTION_SET_CREATE, &op->opts, error);
        if (r >= 0)
                r = validate_handle(mgmtdev, error);
        if (r >= 0 && name[0])
                r = validate_name(name, error);
        if (r >= 0)
                r = require_netlink(p, error);
        if (r >= 0)
                r = op_authorize(op);
        if (r < 0) {
                op_free(op);
                return r;
        }
        return 1;
}

int provision_method_delete_device(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Provision *p = userdata;
        const VdpaDevice *d = NULL;
        const char *name;
        ProvOp *op;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;

        op = op_new(p, PROV_DELETE, msg);
        op->name = g_strdup(name);
        r = bus_read_options(msg, VDPA_OPTION_SET_DELETE, &op->opts, error);
        /* Any name the kernel gave a device may be deleted: only the
         * inventory decides whether it exists. */
        if (r >= 0 && !name[0])
                r = sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "No device name given");
        if (r >= 0)
                r = require_netlink(p, error);
        if (r >= 0) {
                d = inventory_lookup(p->inventory, name);
                if (!d) {
                        g_autofree char *echo = bus_echo_string(name);

                        r = sd_bus_error_setf(error, VDPA_ERROR_NO_SUCH_DEVICE, "No vDPA device '%s'", echo);
                }
        }
        if (r >= 0)
                r = check_deletable(p, d, error);
        if (r >= 0) {
                op->mgmtdev = g_strdup(strempty(d->kernel.mgmtdev));
                r = op_authorize(op);
        }
        if (r < 0) {
                op_free(op);
                return r;
        }
        return 1;
}

/* ----------------------------------------------------- ManagementDevices */

static void run_mgmtdev_dump(VdpaNetlink *nl, void *job) {
        ProvOp *op = job;

        op->r = nl ? vdpa_netlink_mgmtdev_dump(nl, &op->mgmtdevs, &op->extack) : -ENOENT;
}

typedef struct MgmtParent {
        const char *kind;
        char *physical_function;
        int32_t numa_node;
} MgmtParent;

static int32_t read_numa_node(struct udev_device *pci) {
        const char *v = udev_device_get_sysattr_value(pci, "numa_node");
        g_autofree char *copy = g_strdup(v);
        gint64 n;

        if (!copy || !g_ascii_string_to_signed(g_strstrip(copy), 10, -1, INT32_MAX, &n, NULL))
                return -1;
        return (int32_t) n;
}

/* What sysfs tells about the management device's own device: a VF or PF
 * (bus pci), an SF (bus auxiliary, under its PF), or none (a simulator). */
static void mgmt_parent(Provision *p, const VdpaNlMgmtdev *m, MgmtParent *out) {
        struct udev_device *dev = NULL, *pci = NULL, *physfn = NULL;

        *out = (MgmtParent) { .kind = VDPA_PARENT_VIRTUAL, .numa_node = -1 };
        if (!m->bus_name || !m->bus_name[0])
                goto done;

        out->kind = streq_ptr(m->bus_name, "auxiliary") ? VDPA_PARENT_SF :
                    streq_ptr(m->bus_name, "pci") ? VDPA_PARENT_PF : VDPA_PARENT_VIRTUAL;
        dev = udev_device_new_from_subsystem_sysname(p->udev, m->bus_name, m->dev_name);
        if (!dev)
                goto done;
        pci = streq_ptr(m->bus_name, "pci") ? udev_device_ref(dev)
                : udev_device_ref(udev_device_get_parent_with_subsystem_devtype(dev, "pci", NULL));
        if (!pci)
                goto done;
        if (streq_ptr(m->bus_name, "pci")) {
                g_autofree char *link = g_build_filename(udev_device_get_syspath(pci), "physfn", NULL);

                physfn = udev_device_new_from_syspath(p->udev, link);
        }
        if (physfn)
                out->kind = VDPA_PARENT_VF;
        out->physical_function = g_strdup(udev_device_get_sysname(physfn ? physfn : pci));
        out->numa_node = read_numa_node(pci);
done:
        if (!out->physical_function)
                out->physical_function = g_strdup("");
        if (physfn)
                udev_device_unref(physfn);
        if (pci)
                udev_device_unref(pci);
        if (dev)
                udev_device_unref(dev);
}

typedef struct DevicesOn {
        const char *handle;
        GPtrArray *names;
} DevicesOn;

static bool collect_devices_on(const VdpaDevice *d, void *userdata) {
        DevicesOn *c = userdata;

        if (streq_ptr(d->kernel.mgmtdev, c->handle))
                g_ptr_array_add(c->names, d->hw.name);
        return true;
}

static int append_mgmtdev(Provision *p, sd_bus_message *reply, const VdpaNlMgmtdev *m) {
        g_autofree char *handle = vdpa_nl_mgmtdev_handle(m);
        g_auto(GStrv) classes = vdpa_kernel_classes_to_strv(m->supported_classes);
        g_autoptr(GPtrArray) names = g_ptr_array_new();
        DevicesOn c = { .handle = handle, .names = names };
        const char *prov_rule = "", *prov_error = "";
        MgmtParent parent;
        int r;

        if (p->describe)
                p->describe(handle, &prov_rule, &prov_error, p->describe_userdata);

        inventory_foreach(p->inventory, collect_devices_on, &c);
        g_ptr_array_add(names, NULL);
        mgmt_parent(p, m, &parent);

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}", VDPA_MGMT_KEY_HANDLE, "s", handle,
                                          VDPA_MGMT_KEY_BUS_NAME, "s", strempty(m->bus_name),
                                          VDPA_MGMT_KEY_DEVICE_NAME, "s", strempty(m->dev_name));
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", VDPA_MGMT_KEY_SUPPORTED_CLASSES);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(reply, classes);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}", VDPA_MGMT_KEY_MAX_QUEUES, "u", m->max_vqs,
                                          VDPA_MGMT_KEY_SUPPORTED_FEATURES, "t", m->supported_features);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", VDPA_MGMT_KEY_DEVICES);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(reply, (char **) names->pdata);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}",
                                          VDPA_MGMT_KEY_PARENT_KIND, "s", parent.kind,
                                          VDPA_MGMT_KEY_PHYSICAL_FUNCTION, "s", parent.physical_function,
                                          VDPA_MGMT_KEY_NUMA_NODE, "i", parent.numa_node,
                                          VDPA_MGMT_KEY_PROVISION_ERROR, "s", prov_error);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", VDPA_MGMT_KEY_PROVISION_RULE, "s", prov_rule);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        g_free(parent.physical_function);
        return r;
}

static void on_mgmtdev_dump_done(void *job, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        ProvOp *op = job;
        int r;

        op->in_worker = false;
        if (op->r < 0) {
                reply_kernel_error(op, "Listing management devices");
                op_finish(op);
                return;
        }

        r = sd_bus_message_new_method_return(op->msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (guint i = 0; r >= 0 && i < op->mgmtdevs->len; i++)
                r = append_mgmtdev(op->p, reply, op->mgmtdevs->pdata[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

                sd_bus_error_set_errnof(&e, -r, "Cannot build the list of management devices: %m");
                op_reply_error(op, &e);
        }
        op->replied = true;
        op_finish(op);
}

int provision_method_management_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Provision *p = userdata;
        ProvOp *op;
        int r;

        r = require_netlink(p, error);
        if (r < 0)
                return r;
        op = op_new(p, PROV_LIST, msg);
        op->in_worker = true;
        netlink_worker_submit(p->worker, op, run_mgmtdev_dump, on_mgmtdev_dump_done, (GDestroyNotify) op_free, NULL);
        return 1;
}

/* ------------------------------------------------------------ life cycle */

void provision_fill_created(Provision *p, const char *name, VdpaKernelInfo *k) {
        const Created *c = p ? g_hash_table_lookup(p->created, name) : NULL;

        if (!c)
                return;
        if ((!k->mac || !k->mac[0]) && c->mac[0]) {
                g_free(k->mac);
                k->mac = g_strdup(c->mac);
        }
        if (!k->mtu)
                k->mtu = c->mtu;
        if (!k->max_queue_pairs)
                k->max_queue_pairs = c->max_queue_pairs;
}

void provision_set_describe(Provision *p, ProvisionDescribeFunc f, void *userdata) {
        p->describe = f;
        p->describe_userdata = userdata;
}

unsigned provision_count_operations(const Provision *p) {
        return p ? g_hash_table_size(p->ops) : 0;
}

Provision *provision_new(const ProvisionParams *params) {
        Provision *p = g_new0(Provision, 1);

        p->event = sd_event_ref(params->event);
        p->udev = udev_ref(params->udev);
        p->inventory = params->inventory;
        p->broker = params->broker;
        p->worker = params->worker;
        p->timeout_usec = params->timeout_usec;
        p->ops = g_hash_table_new(NULL, NULL);
        p->waiting = g_hash_table_new(g_str_hash, g_str_equal);
        p->created = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) created_free);
        g_queue_init(&p->polkit_waiting);
        return p;
}

void provision_free(Provision *p) {
        g_autofree gpointer *ops = NULL;
        guint n;

        if (!p)
                return;
        /* Ops that were in the worker went with it (main.c frees it first;
         * it frees queued jobs with op_free). */
        g_queue_clear(&p->polkit_waiting);
        ops = g_hash_table_get_keys_as_array(p->ops, &n);
        for (guint i = 0; i < n; i++) {
                ProvOp *op = ops[i];

                op->waiting_link = NULL;
                op->polkit_pending = false;
                op_free(op);
        }
        g_hash_table_unref(p->ops);
        g_hash_table_unref(p->waiting);
        g_hash_table_unref(p->created);
        udev_unref(p->udev);
        sd_event_unref(p->event);
        g_free(p);
}
