/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "provision-rules.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "vdpa-names.h"

#define STATE_FILE "provisioned"
#define GROUP_DEVICE_PREFIX "Device "
#define GROUP_MACS "Mac"
#define KEY_RULE "Rule"
#define KEY_MGMTDEV "ManagementDevice"
#define KEY_MAC "Mac"
#define KEY_MTU "Mtu"
#define KEY_MAX_QUEUE_PAIRS "MaxQueuePairs"
/* Names a pattern may give before a rule gives up ("vdpa%n" → vdpa0..). */
#define NAME_INDEX_MAX 10000
#define BACKOFF_FIRST_USEC (1 * G_USEC_PER_SEC)
#define BACKOFF_MAX_USEC (300 * G_USEC_PER_SEC)
/* After a pass whose dumps failed. */
#define PASS_RETRY_USEC (5 * G_USEC_PER_SEC)
/* Creations handed to provision.c at once.  All of them would queue 256
 * DEV_NEW ahead of the lookups that let their devices appear, and a loaded
 * host then hits the 30 s appear timeout; a window keeps the wait short
 * and still lets the uevent lookups of a window share one dump. */
#define CREATES_IN_FLIGHT_MAX 32

typedef struct Failure {
        char *error;
        unsigned attempts;
        uint64_t retry_at;            /* CLOCK_MONOTONIC usec */
} Failure;

/* A creation: queued, then in provision.c until on_created(). */
typedef struct Pending {
        ProvisionRules *r;
        char *handle;
        char *name;
        char *mac;                    /* NULL: the driver's */
        uint16_t mtu;
        uint16_t max_queue_pairs;
        bool submitted;
} Pending;

struct ProvisionRules {
        sd_event *event;
        Inventory *inventory;
        Provision *provision;
        NetlinkWorker *worker;
        const VdpaConfig *config;
        char *state_path;

        GKeyFile *state;              /* [Device NAME] Rule= ManagementDevice= Mac=; [Mac] HANDLE=MAC */
        GHashTable *pending;          /* handle -> Pending*: a creation queued or in flight */
        GQueue queue;                 /* Pending* not submitted yet */
        guint submitted;              /* Pending* in provision.c */
        GHashTable *pending_names;    /* names of those */
        GHashTable *failures;         /* handle -> Failure* */
        GHashTable *warned;           /* rule names already warned about matching nothing */

        sd_event_source *defer;       /* a pass asked for */
        sd_event_source *retry_timer;
        sd_event_source *save_defer;  /* the state file needs writing */
        bool started;
        bool pass_running;
        bool pass_again;
        bool retry_pass;              /* the last pass's dumps failed */
};

typedef struct PassJob {
        ProvisionRules *r;
        int r_mgmt, r_dev;
        GPtrArray *mgmtdevs;          /* VdpaNlMgmtdev* */
        GPtrArray *devices;           /* VdpaNlDevice* */
} PassJob;

static void failure_free(Failure *f) {
        if (!f)
                return;
        g_free(f->error);
        g_free(f);
}

static void pending_free(Pending *p) {
        if (!p)
                return;
        g_free(p->handle);
        g_free(p->name);
        g_free(p->mac);
        g_free(p);
}

static void pass_job_free(PassJob *j) {
        if (!j)
                return;
        g_clear_pointer(&j->mgmtdevs, g_ptr_array_unref);
        g_clear_pointer(&j->devices, g_ptr_array_unref);
        g_free(j);
}

static uint64_t now_usec(ProvisionRules *r) {
        uint64_t t = 0;

        (void) sd_event_now(r->event, CLOCK_MONOTONIC, &t);
        return t;
}

static char *device_group(const char *name) {
        return g_strconcat(GROUP_DEVICE_PREFIX, name, NULL);
}

/* ------------------------------------------------------------ the state */

/* Atomic always; DURABLE (fsync) where it matters: the record of a device
 * must be on disk before the kernel is asked to create it.  A dropped
 * record may come back after a crash: the next pass drops it again. */
static int save_state(ProvisionRules *r, bool durable, GError **error) {
        g_autofree char *data = NULL;
        gsize len = 0;

        r->save_defer = sd_event_source_disable_unref(r->save_defer);
        data = g_key_file_to_data(r->state, &len, NULL);
        if (!g_file_set_contents_full(r->state_path, data, (gssize) len,
                                      G_FILE_SET_CONTENTS_CONSISTENT | (durable ? G_FILE_SET_CONTENTS_DURABLE : 0),
                                      0600, error))
                return -EIO;
        return 0;
}

static int on_save_defer(sd_event_source *s, void *userdata) {
        ProvisionRules *r = userdata;
        g_autoptr(GError) error = NULL;

        if (save_state(r, false, &error) < 0)
                log_warning("Cannot update %s: %s", r->state_path, error->message);
        return 0;
}

/* For what is not safety-relevant (a dropped record): once per loop turn. */
static void save_state_later(ProvisionRules *r) {
        int r_;

        if (r->save_defer)
                return;
        r_ = sd_event_add_defer(r->event, &r->save_defer, on_save_defer, r);
        if (r_ < 0) {
                g_autoptr(GError) error = NULL;

                if (save_state(r, false, &error) < 0)
                        log_warning("Cannot update %s: %s", r->state_path, error->message);
                return;
        }
        (void) sd_event_source_set_description(r->save_defer, "provision-save");
}

static void drop_record(ProvisionRules *r, const char *name) {
        g_autofree char *group = device_group(name);

        if (g_key_file_remove_group(r->state, group, NULL))
                save_state_later(r);
        inventory_set_provisioned(r->inventory, name, false);
        /* Another device of that name later is not what we made. */
        provision_forget_created(r->provision, name);
}

/* A stable locally administered unicast MAC per management device. */
static char *mac_for(ProvisionRules *r, const char *handle) {
        char *mac = g_key_file_get_string(r->state, GROUP_MACS, handle, NULL);
        uint8_t b[6];

        if (mac)
                return mac;
        for (size_t i = 0; i < sizeof b; i++)
                b[i] = (uint8_t) g_random_int_range(0, 256);
        b[0] = (uint8_t) ((b[0] & 0xfc) | 0x02);
        mac = g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
        g_key_file_set_string(r->state, GROUP_MACS, handle, mac);
        return mac;
}

static int load_state(ProvisionRules *r, GError **error) {
        g_autoptr(GError) e = NULL;
        g_auto(GStrv) groups = NULL;

        if (!g_key_file_load_from_file(r->state, r->state_path, G_KEY_FILE_NONE, &e)) {
                if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return 0;
                /* Unreadable is not corrupt: keep the file (and its MACs)
                 * and let the start fail, naming it. */
                if (e->domain != G_KEY_FILE_ERROR) {
                        g_propagate_error(error, TAKE_PTR(e));
                        return -EIO;
                }
                /* Kept aside, like a corrupt claims file: the kernel still
                 * has the devices, only the Provisioned marks are lost. */
                g_autofree char *aside = g_strconcat(r->state_path, ".corrupt", NULL);

                log_error("Corrupt %s (%s); moved to %s, starting without provisioning records", r->state_path,
                          e->message, aside);
                (void) rename(r->state_path, aside);
                g_key_file_free(r->state);
                r->state = g_key_file_new();
                return 0;
        }
        groups = g_key_file_get_groups(r->state, NULL);
        for (size_t i = 0; groups[i]; i++) {
                g_autofree char *mac = NULL;
                const char *name;
                gint mtu, mqp;

                if (!g_str_has_prefix(groups[i], GROUP_DEVICE_PREFIX))
                        continue;
                name = groups[i] + strlen(GROUP_DEVICE_PREFIX);
                inventory_set_provisioned(r->inventory, name, true);
                /* DeviceMac, Mtu and MaxQueuePairs are ours to tell until a
                 * driver negotiates (DEV_CONFIG_GET says EAGAIN before). */
                mac = g_key_file_get_string(r->state, groups[i], KEY_MAC, NULL);
                mtu = g_key_file_get_integer(r->state, groups[i], KEY_MTU, NULL);
                mqp = g_key_file_get_integer(r->state, groups[i], KEY_MAX_QUEUE_PAIRS, NULL);
                provision_remember_created(r->provision, name, mac, (uint16_t) CLAMP(mtu, 0, G_MAXUINT16),
                                           (uint16_t) CLAMP(mqp, 0, G_MAXUINT16));
        }
        return 0;
}

/* ---------------------------------------------------------------- passes */

static void request_pass(ProvisionRules *r);

static const VdpaProvisionRule *rule_for(const ProvisionRules *r, const char *handle) {
        for (guint i = 0; r->config && i < r->config->provision->len; i++) {
                const VdpaProvisionRule *rule = g_ptr_array_index(r->config->provision, i);

                if (vdpa_provision_rule_matches(rule, handle))
                        return rule;
        }
        return NULL;
}

static bool name_taken(ProvisionRules *r, const char *name) {
        g_autofree char *group = device_group(name);

        return inventory_lookup(r->inventory, name) || g_hash_table_contains(r->pending_names, name) ||
                g_key_file_has_group(r->state, group);
}

static char *pick_name(ProvisionRules *r, const VdpaProvisionRule *rule, GHashTable *kernel_names) {
        for (unsigned n = 0; n < NAME_INDEX_MAX; n++) {
                g_autofree char *name = vdpa_provision_rule_format_name(rule, n);

                if (!name_taken(r, name) && !g_hash_table_contains(kernel_names, name))
                        return TAKE_PTR(name);
        }
        return NULL;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        ProvisionRules *r = userdata;

        r->retry_pass = false;
        request_pass(r);
        return 0;
}

/* The earliest retry due: of a failed management device not being tried
 * right now, or of a pass whose dumps failed.  Never sooner than a second
 * from now, so that a retry that cannot run (the dump fails again) does
 * not spin. */
static void arm_retry_timer(ProvisionRules *r) {
        GHashTableIter i;
        gpointer k, v;
        uint64_t next = UINT64_MAX, now = now_usec(r);
        int e;

        g_hash_table_iter_init(&i, r->failures);
        while (g_hash_table_iter_next(&i, &k, &v))
                if (!g_hash_table_contains(r->pending, k))
                        next = MIN(next, ((Failure *) v)->retry_at);
        if (r->retry_pass)
                next = MIN(next, now + PASS_RETRY_USEC);
        if (next != UINT64_MAX)
                next = MAX(next, now + BACKOFF_FIRST_USEC);
        if (next == UINT64_MAX) {
                r->retry_timer = sd_event_source_disable_unref(r->retry_timer);
                return;
        }
        if (r->retry_timer) {
                (void) sd_event_source_set_time(r->retry_timer, next);
                (void) sd_event_source_set_enabled(r->retry_timer, SD_EVENT_ONESHOT);
                return;
        }
        e = sd_event_add_time(r->event, &r->retry_timer, CLOCK_MONOTONIC, next, 0, on_retry, r);
        if (e < 0)
                log_warning_errno(e, "Cannot arm the provisioning retry timer: %m");
}

static void record_failure(ProvisionRules *r, const char *handle, const char *message) {
        Failure *f = g_hash_table_lookup(r->failures, handle);
        uint64_t delay;

        if (!f) {
                f = g_new0(Failure, 1);
                g_hash_table_replace(r->failures, g_strdup(handle), f);
        }
        g_free(f->error);
        f->error = g_strdup(message);
        f->attempts++;
        delay = f->attempts >= 10 ? BACKOFF_MAX_USEC : MIN(BACKOFF_FIRST_USEC << (f->attempts - 1), BACKOFF_MAX_USEC);
        f->retry_at = now_usec(r) + delay;
        log_warning("Provisioning on %s failed (attempt %u, next in %" PRIu64 " s): %s", handle, f->attempts,
                    delay / G_USEC_PER_SEC, message);
        arm_retry_timer(r);
}

static void submit_more(ProvisionRules *r);

static void on_created(const char *name, const sd_bus_error *error, void *userdata) {
        Pending *p = userdata;
        ProvisionRules *r = p->r;

        r->submitted--;

        if (error)
                /* The record stays: after a timeout the kernel may still
                 * have made it.  The next pass drops it if it is absent. */
                record_failure(r, p->handle, error->message);
        else {
                log_info("Provisioned vDPA device %s on %s", p->name, p->handle);
                g_hash_table_remove(r->failures, p->handle);
        }
        g_hash_table_remove(r->pending_names, p->name);
        g_hash_table_remove(r->pending, p->handle);  /* frees P */
        arm_retry_timer(r);
        submit_more(r);
}

static void submit_more(ProvisionRules *r) {
        while (r->submitted < CREATES_IN_FLIGHT_MAX && !g_queue_is_empty(&r->queue)) {
                Pending *p = g_queue_pop_head(&r->queue);

                p->submitted = true;
                r->submitted++;
                provision_create(r->provision,
                                 &(ProvisionCreateParams) {
                                         .mgmtdev = p->handle,
                                         .name = p->name,
                                         .mac = p->mac,
                                         .mtu = p->mtu,
                                         .max_queue_pairs = p->max_queue_pairs,
                                 },
                                 on_created, p);
        }
}

typedef struct Plan {
        const VdpaProvisionRule *rule;
        char *handle;
        char *name;
        char *mac;
} Plan;

static void plan_free(Plan *p) {
        g_free(p->handle);
        g_free(p->name);
        g_free(p->mac);
        g_free(p);
}

static void warn_unmatched_rules(ProvisionRules *r, GPtrArray *mgmtdevs) {
        for (guint i = 0; i < r->config->provision->len; i++) {
                const VdpaProvisionRule *rule = g_ptr_array_index(r->config->provision, i);
                bool matched = false;

                for (guint k = 0; !matched && k < mgmtdevs->len; k++) {
                        g_autofree char *handle = vdpa_nl_mgmtdev_handle(mgmtdevs->pdata[k]);

                        matched = vdpa_provision_rule_matches(rule, handle);
                }
                if (matched)
                        g_hash_table_remove(r->warned, rule->name);
                else if (!g_hash_table_contains(r->warned, rule->name)) {
                        log_warning("%s:%u: [Provision %s] ManagementDevice=%s matches no management device (yet)",
                                    strempty(r->config->path), rule->line, rule->name, rule->mgmtdev);
                        g_hash_table_add(r->warned, g_strdup(rule->name));
                }
        }
}

/* What this pass creates: every matched management device without a
 * device (the kernel's DEV_GET dump is the truth), not in flight, not
 * waiting for its retry. */
static GPtrArray *plan_pass(ProvisionRules *r, PassJob *j) {
        g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GHashTable) kernel_names = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GHashTable) present = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        GPtrArray *plans = g_ptr_array_new_with_free_func((GDestroyNotify) plan_free);
        uint64_t now = now_usec(r);

        for (guint i = 0; i < j->devices->len; i++) {
                const VdpaNlDevice *d = j->devices->pdata[i];

                if (d->mgmtdev)
                        g_hash_table_add(used, d->mgmtdev);
                g_hash_table_add(kernel_names, d->name);
        }
        for (guint i = 0; i < j->mgmtdevs->len; i++) {
                g_autofree char *handle = vdpa_nl_mgmtdev_handle(j->mgmtdevs->pdata[i]);
                const VdpaProvisionRule *rule = rule_for(r, handle);
                const Failure *f = g_hash_table_lookup(r->failures, handle);
                Plan *p;

                g_hash_table_add(present, g_strdup(handle));
                if (g_hash_table_contains(used, handle) && !g_hash_table_contains(r->pending, handle))
                        /* It has a device now (made by hand, say): nothing
                         * left to retry, no error to show. */
                        g_hash_table_remove(r->failures, handle);
                if (!rule || g_hash_table_contains(used, handle) || g_hash_table_contains(r->pending, handle))
                        continue;
                if (f && f->retry_at > now)
                        continue;
                p = g_new0(Plan, 1);
                p->rule = rule;
                p->handle = TAKE_PTR(handle);
                p->name = pick_name(r, rule, kernel_names);
                if (!p->name) {
                        record_failure(r, p->handle, "no free device name for the rule's Name pattern");
                        plan_free(p);
                        continue;
                }
                /* Not picked twice in this pass. */
                g_hash_table_add(r->pending_names, g_strdup(p->name));
                p->mac = rule->mac_auto ? mac_for(r, p->handle) : NULL;
                g_ptr_array_add(plans, p);
        }

        /* Errors of management devices that went away are forgotten. */
        GHashTableIter it;
        gpointer k;
        g_hash_table_iter_init(&it, r->failures);
        while (g_hash_table_iter_next(&it, &k, NULL))
                if (!g_hash_table_contains(present, k))
                        g_hash_table_iter_remove(&it);
        return plans;
}

static void run_plans(ProvisionRules *r, GPtrArray *plans) {
        g_autoptr(GError) error = NULL;

        if (plans->len == 0)
                return;
        for (guint i = 0; i < plans->len; i++) {
                const Plan *p = plans->pdata[i];
                g_autofree char *group = device_group(p->name);

                g_key_file_set_string(r->state, group, KEY_RULE, p->rule->name);
                g_key_file_set_string(r->state, group, KEY_MGMTDEV, p->handle);
                if (p->mac)
                        g_key_file_set_string(r->state, group, KEY_MAC, p->mac);
                if (p->rule->mtu)
                        g_key_file_set_integer(r->state, group, KEY_MTU, p->rule->mtu);
                if (p->rule->max_queue_pairs)
                        g_key_file_set_integer(r->state, group, KEY_MAX_QUEUE_PAIRS, p->rule->max_queue_pairs);
        }
        /* One durable write for the whole pass, before any DEV_NEW. */
        if (save_state(r, true, &error) < 0) {
                for (guint i = 0; i < plans->len; i++) {
                        const Plan *p = plans->pdata[i];
                        g_autofree char *group = device_group(p->name);
                        g_autofree char *msg = g_strdup_printf("cannot record the device in %s: %s", r->state_path,
                                                               error->message);

                        (void) g_key_file_remove_group(r->state, group, NULL);
                        g_hash_table_remove(r->pending_names, p->name);
                        record_failure(r, p->handle, msg);
                }
                return;
        }
        for (guint i = 0; i < plans->len; i++) {
                const Plan *p = plans->pdata[i];
                Pending *pd = g_new0(Pending, 1);

                pd->r = r;
                pd->handle = g_strdup(p->handle);
                pd->name = g_strdup(p->name);
                pd->mac = g_strdup(p->mac);
                pd->mtu = p->rule->mtu;
                pd->max_queue_pairs = p->rule->max_queue_pairs;
                g_hash_table_replace(r->pending, pd->handle, pd);
                /* Known before the device, so that its DeviceAdded says so. */
                inventory_set_provisioned(r->inventory, p->name, true);
                g_queue_push_tail(&r->queue, pd);
        }
        submit_more(r);
}

static void run_pass(VdpaNetlink *nl, void *job) {
        PassJob *j = job;

        if (!nl) {
                j->r_mgmt = -ENOENT;
                return;
        }
        j->r_mgmt = vdpa_netlink_mgmtdev_dump(nl, &j->mgmtdevs, NULL);
        if (j->r_mgmt >= 0)
                j->r_dev = vdpa_netlink_dev_dump(nl, &j->devices, NULL);
}

/* The kernel's dump is the truth for the records: one whose device is
 * absent, or on another management device than recorded, is not (or no
 * longer) ours.  Creations in flight keep theirs. */
static void drop_stale_records(ProvisionRules *r, PassJob *j) {
        g_auto(GStrv) groups = g_key_file_get_groups(r->state, NULL);
        g_autoptr(GHashTable) kernel = g_hash_table_new(g_str_hash, g_str_equal);

        for (guint i = 0; i < j->devices->len; i++) {
                const VdpaNlDevice *d = j->devices->pdata[i];

                g_hash_table_insert(kernel, d->name, (gpointer) strempty(d->mgmtdev));
        }
        for (size_t i = 0; groups[i]; i++) {
                g_autofree char *recorded = NULL;
                const char *name, *mgmtdev;

                if (!g_str_has_prefix(groups[i], GROUP_DEVICE_PREFIX))
                        continue;
                name = groups[i] + strlen(GROUP_DEVICE_PREFIX);
                if (g_hash_table_contains(r->pending_names, name))
                        continue;
                recorded = g_key_file_get_string(r->state, groups[i], KEY_MGMTDEV, NULL);
                mgmtdev = g_hash_table_lookup(kernel, name);
                if (mgmtdev && streq_ptr(mgmtdev, recorded))
                        continue;
                log_info("Provisioned device %s is %s; forgetting it", name,
                         mgmtdev ? "on another management device" : "gone");
                drop_record(r, name);
        }
}

static void on_pass_done(void *job, void *userdata) {
        PassJob *j = job;
        ProvisionRules *r = j->r;
        int e = j->r_mgmt < 0 ? j->r_mgmt : j->r_dev;

        r->pass_running = false;
        if (e < 0) {
                log_warning_errno(e, "Cannot read the kernel's management devices for provisioning: %m");
                r->retry_pass = true;
        } else {
                g_autoptr(GPtrArray) plans = NULL;

                drop_stale_records(r, j);
                warn_unmatched_rules(r, j->mgmtdevs);
                plans = plan_pass(r, j);
                run_plans(r, plans);
        }
        pass_job_free(j);
        arm_retry_timer(r);
        if (r->pass_again) {
                r->pass_again = false;
                request_pass(r);
        }
}

static int on_defer(sd_event_source *s, void *userdata) {
        ProvisionRules *r = userdata;
        PassJob *j;

        r->defer = sd_event_source_disable_unref(r->defer);
        if (r->pass_running) {
                r->pass_again = true;
                return 0;
        }
        r->pass_running = true;
        j = g_new0(PassJob, 1);
        j->r = r;
        netlink_worker_submit(r->worker, j, run_pass, on_pass_done, (GDestroyNotify) pass_job_free, NULL);
        return 0;
}

/* Coalesced: a burst of uevents (sriov_numvfs=256) makes one pass, plus
 * at most one after it. */
static void request_pass(ProvisionRules *r) {
        int e;

        if (!r->started || r->config->provision->len == 0 || !netlink_worker_has_family(r->worker))
                return;
        if (r->defer)
                return;
        e = sd_event_add_defer(r->event, &r->defer, on_defer, r);
        if (e < 0) {
                log_warning_errno(e, "Cannot schedule a provisioning pass: %m");
                return;
        }
        (void) sd_event_source_set_description(r->defer, "provision-pass");
}

/* ------------------------------------------------------------ interface */

int provision_rules_new(const ProvisionRulesParams *p, ProvisionRules **ret, GError **error) {
        ProvisionRules *r = g_new0(ProvisionRules, 1);
        int e;

        r->event = sd_event_ref(p->event);
        r->inventory = p->inventory;
        r->provision = p->provision;
        r->worker = p->worker;
        r->config = p->config;
        r->state_path = g_build_filename(p->state_dir, STATE_FILE, NULL);
        r->state = g_key_file_new();
        r->pending = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify) pending_free);
        r->pending_names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        r->failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) failure_free);
        r->warned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        e = load_state(r, error);
        if (e < 0) {
                provision_rules_free(r);
                return e;
        }
        *ret = r;
        return 0;
}

void provision_rules_free(ProvisionRules *r) {
        if (!r)
                return;
        r->defer = sd_event_source_disable_unref(r->defer);
        r->retry_timer = sd_event_source_disable_unref(r->retry_timer);
        if (r->save_defer) {
                g_autoptr(GError) error = NULL;

                if (save_state(r, false, &error) < 0)
                        log_warning("Cannot update %s: %s", r->state_path, error->message);
        }
        /* Creations still in flight belong to provision.c, which is freed
         * after us without calling back. */
        g_queue_clear(&r->queue);
        g_hash_table_unref(r->pending);
        g_hash_table_unref(r->pending_names);
        g_hash_table_unref(r->failures);
        g_hash_table_unref(r->warned);
        g_key_file_free(r->state);
        g_free(r->state_path);
        sd_event_unref(r->event);
        g_free(r);
}

/* A record whose device is gone (deleted while we were away, or a DEV_NEW
 * that never happened before a kill -9) is dropped by the first pass,
 * judged by the kernel's dump rather than by sysfs; the pass then creates
 * the device afresh. */
void provision_rules_start(ProvisionRules *r) {
        r->started = true;
        if (r->config->provision->len > 0 && !netlink_worker_has_family(r->worker))
                log_warning("%u [Provision] rule(s) ignored: the kernel has no vdpa netlink family",
                            r->config->provision->len);
        request_pass(r);
}

void provision_rules_set_config(ProvisionRules *r, const VdpaConfig *config) {
        r->config = config;
        g_hash_table_remove_all(r->warned);
        /* New rules may match what failed under the old ones: retry now. */
        g_hash_table_remove_all(r->failures);
        arm_retry_timer(r);
        request_pass(r);
}

void provision_rules_parent_event(ProvisionRules *r, const char *action, const char *syspath) {
        /* A management device registers when its driver binds (mlx5_core
         * to a VF, mlx5_vdpa to an SF's vnet); an "add" comes before any
         * driver and would only cost a pass that finds nothing new. */
        if (streq_ptr(action, "bind"))
                request_pass(r);
}

void provision_rules_device_event(ProvisionRules *r, InventoryEvent ev, const VdpaDevice *dev) {
        if (ev != INVENTORY_DEVICE_REMOVED || !dev->provisioned)
                return;
        /* Deleted by hand (or its VF went): the pass drops the record if
         * the kernel agrees, and makes a new device where the rule still
         * matches a management device without one. */
        request_pass(r);
}

void provision_rules_describe(ProvisionRules *r, const char *handle, const char **rule, const char **error) {
        const VdpaProvisionRule *ru = r ? rule_for(r, handle) : NULL;
        const Failure *f = r ? g_hash_table_lookup(r->failures, handle) : NULL;

        *rule = ru ? ru->name : "";
        *error = f ? f->error : "";
}

/* Submitted creations are provision.c's operations; queued ones are ours. */
unsigned provision_rules_count_operations(const ProvisionRules *r) {
        if (!r)
                return 0;
        return (r->pass_running || r->defer ? 1 : 0) + g_queue_get_length((GQueue *) &r->queue);
}
