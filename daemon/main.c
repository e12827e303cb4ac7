/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vdpa-managerd: wiring.  Data flows one way: udev -> inventory -> bus, and
 * libvirt worker -> inventory -> bus.  Everything here runs on the main
 * thread's sd-event loop, the only thread that touches sd-bus.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libudev.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "broker.h"
#include "build-config.h"
#include "claims.h"
#include "config.h"
#include "heap-trim.h"
#include "inventory.h"
#include "kernel-info.h"
#include "libvirt-worker.h"
#include "netlink-worker.h"
#include "provision.h"
#include "provision-rules.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "udev-monitor.h"
#include "vdpa-names.h"

/* libvirt answers attach/detach in well under a second; a minute means it
 * is stuck, and the caller deserves an answer. */
#define DEFAULT_LIBVIRT_TIMEOUT_SEC 60
/* One netlink request: the kernel answers in microseconds; seconds mean
 * something is wrong, and start-up must not hang on it. */
#define NETLINK_TIMEOUT_USEC (5 * G_USEC_PER_SEC)
/* A created device whose uevent has not come by then is deleted again. */
#define CREATE_APPEAR_TIMEOUT_USEC (30 * G_USEC_PER_SEC)

static uint64_t now(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * G_USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

typedef struct Options {
        char *bus_address;
        char *config_path;
        bool config_given;
        char *state_dir;
        char *libvirt_uri;
        uint64_t libvirt_timeout_usec;
        int uevent_rcvbuf;
        bool verbose;
} Options;

typedef struct UeventBatch UeventBatch;

typedef struct Context {
        sd_event *event;
        sd_bus *bus;
        struct udev *udev;
        VdpaConfig *config;
        Inventory *inventory;
        UdevMonitor *monitor;
        LibvirtWorker *worker;
        NetlinkWorker *nl_worker;
        Claims *claims;
        Broker *broker;
        Provision *provision;
        ProvisionRules *rules;
        Manager *manager;
        HeapTrim *trim;
        /* Device name -> number of its netlink lookups queued or running:
         * the "bind" right behind an "add" needs no lookup of its own. */
        GHashTable *lookups;
        UeventBatch *open_batch;      /* queued in the netlink worker, not started yet */
        char *state_dir;
        char *config_path;
        bool config_must_exist;
        char *libvirt_uri_override;

        /* libvirt: one scan at a time; events during a scan ask for one
         * more.  A lost connection is retried with a growing delay. */
        bool scan_pending;
        bool rescan_wanted;
        bool libvirt_connected;
        sd_event_source *reconnect_timer;
        uint64_t reconnect_delay_usec;
        uint64_t disconnected_since;
} Context;

/* Reconnect quickly after a libvirtd restart, without spinning when it is
 * down for good. */
#define RECONNECT_MIN_USEC (250 * 1000ULL)
#define RECONNECT_MAX_USEC (2 * 1000 * 1000ULL)


static void options_clear(Options *o) {
        g_free(o->bus_address);
        g_free(o->config_path);
        g_free(o->state_dir);
        g_free(o->libvirt_uri);
}

static void help(void) {
        printf("Usage: vdpa-managerd [OPTIONS...]\n\n"
               "Broker vDPA network devices to libvirt domains over D-Bus (%s).\n\n"
               "  -h --help                Show this help\n"
               "     --version            Show the version\n"
               "     --bus-address=ADDR   Connect to this bus instead of the system bus\n"
               "     --config=FILE        Read this configuration file (default %s)\n"
               "     --state-dir=DIR      Keep state here (default $STATE_DIRECTORY or %s)\n"
               "     --libvirt-uri=URI    libvirt connection URI (overrides [Libvirt] Uri=)\n"
               "     --libvirt-timeout=SEC  Give up on a libvirt call of Claim/Release after SEC\n"
               "                          seconds (default %d)\n"
               "     --uevent-rcvbuf=BYTES  Receive buffer for uevents (default 128 MiB;\n"
               "                          tests use a small one to provoke overflows)\n"
               "  -v --verbose            Log debug messages\n",
               VDPA_BUS_NAME, VDPA_DEFAULT_CONFIG_FILE, VDPA_DEFAULT_STATE_DIR, DEFAULT_LIBVIRT_TIMEOUT_SEC);
}

/* Returns 1 to go on, 0 to exit successfully, negative on a usage error. */
static int parse_argv(int argc, char *argv[], Options *o) {
        enum {
                ARG_VERSION = 0x100,
                ARG_BUS_ADDRESS,
                ARG_CONFIG,
                ARG_STATE_DIR,
                ARG_LIBVIRT_URI,
                ARG_LIBVIRT_TIMEOUT,
                ARG_UEVENT_RCVBUF,
        };
        static const struct option options[] = {
                { "help",        no_argument,       NULL, 'h'             },
                { "version",     no_argument,       NULL, ARG_VERSION     },
                { "bus-address", required_argument, NULL, ARG_BUS_ADDRESS },
                { "config",      required_argument, NULL, ARG_CONFIG      },
                { "state-dir",   required_argument, NULL, ARG_STATE_DIR   },
                { "libvirt-uri", required_argument, NULL, ARG_LIBVIRT_URI },
                { "libvirt-timeout", required_argument, NULL, ARG_LIBVIRT_TIMEOUT },
                { "uevent-rcvbuf", required_argument, NULL, ARG_UEVENT_RCVBUF },
                { "verbose",     no_argument,       NULL, 'v'             },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "hv", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vdpa-managerd %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_BUS_ADDRESS:
                        g_free(o->bus_address);
                        o->bus_address = g_strdup(optarg);
                        break;
                case ARG_CONFIG:
                        g_free(o->config_path);
                        o->config_path = g_strdup(optarg);
                        o->config_given = true;
                        break;
                case ARG_STATE_DIR:
                        g_free(o->state_dir);
                        o->state_dir = g_strdup(optarg);
                        break;
                case ARG_LIBVIRT_URI:
                        if (!optarg[0]) {
                                log_error("--libvirt-uri= must not be empty");
                                return -EINVAL;
                        }
                        g_free(o->libvirt_uri);
                        o->libvirt_uri = g_strdup(optarg);
                        break;
                case ARG_LIBVIRT_TIMEOUT: {
                        guint64 sec;

                        if (!g_ascii_string_to_unsigned(optarg, 10, 1, 3600, &sec, NULL)) {
                                log_error("--libvirt-timeout= takes seconds from 1 to 3600, not '%s'", optarg);
                                return -EINVAL;
                        }
                        o->libvirt_timeout_usec = sec * G_USEC_PER_SEC;
                        break;
                }
                case ARG_UEVENT_RCVBUF: {
                        guint64 bytes;

                        if (!g_ascii_string_to_unsigned(optarg, 10, 4096, UDEV_MONITOR_RCVBUF_SIZE, &bytes, NULL)) {
                                log_error("--uevent-rcvbuf= takes bytes from 4096 to %d, not '%s'",
                                          UDEV_MONITOR_RCVBUF_SIZE, optarg);
                                return -EINVAL;
                        }
                        o->uevent_rcvbuf = (int) bytes;
                        break;
                }
                case 'v':
                        o->verbose = true;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        g_assert_not_reached();
                }

        if (optind < argc) {
                log_error("Unexpected argument '%s'; see --help", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* The bus that activated us (DBUS_STARTER_ADDRESS) is the right one even
 * when it is not the system bus at the standard path, as in tests and the
 * demo; --bus-address overrides both. */
static int connect_bus(const char *address, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        const char *starter = getenv("DBUS_STARTER_ADDRESS");
        int r;

        if (!address && starter && starter[0])
                address = starter;

        if (!address) {
                r = sd_bus_open_system_with_description(&bus, "vdpa-managerd");
                if (r < 0)
                        return log_error_errno(r, "Failed to connect to the system bus: %m");
        } else {
                r = sd_bus_new(&bus);
                if (r < 0)
                        return log_error_errno(r, "Failed to allocate bus: %m");
                (void) sd_bus_set_description(bus, "vdpa-managerd");
                r = sd_bus_set_address(bus, address);
                if (r < 0)
                        return log_error_errno(r, "Invalid bus address '%s': %m", address);
                r = sd_bus_set_bus_client(bus, true);
                if (r < 0)
                        return log_error_errno(r, "Failed to set bus client: %m");
                r = sd_bus_start(bus);
                if (r < 0)
                        return log_error_errno(r, "Failed to connect to bus at '%s': %m", address);
        }

        *ret = TAKE_PTR(bus);
        return 0;
}

static void notify_status(Context *c) {
        (void) sd_notifyf(false, "STATUS=%u vDPA devices, %u available",
                          inventory_count(c->inventory),
                          inventory_count_state(c->inventory, VDPA_DEVICE_AVAILABLE));
}

static void on_inventory_event(Inventory *inv, InventoryEvent ev, const VdpaDevice *dev, void *userdata) {
        Context *c = userdata;
        static const char *const verbs[] = {
                [INVENTORY_DEVICE_ADDED] = "added",
                [INVENTORY_DEVICE_CHANGED] = "changed",
                [INVENTORY_DEVICE_REMOVED] = "removed",
        };

        log_debug("Device %s %s (%s)", dev->hw.name, verbs[ev], vdpa_device_state_to_string(dev->state));

        /* No bus yet during the initial enumeration: nobody could listen. */
        if (!c->manager)
                return;
        manager_device_event(c->manager, ev, dev);
        if (c->provision)
                provision_device_event(c->provision, ev, dev);
        if (c->rules)
                provision_rules_device_event(c->rules, ev, dev);
        notify_status(c);
}

static void apply_uevent(Context *c, struct udev_device *dev) {
        int r;

        r = inventory_handle_uevent(c->inventory, dev);
        if (r < 0)
                log_debug_errno(r, "Ignoring uevent for %s: %m", strempty(udev_device_get_sysname(dev)));
}

/* A uevent on its way through the netlink worker: a new device's facts
 * (one DEV_GET, one DEV_CONFIG_GET) are asked before the device is shown,
 * so that it never appears with an unknown Type.  Every uevent takes this
 * path, in order, so that a "bind" is never applied before its "add". */
typedef struct UeventJob {
        Context *c;
        struct udev_device *dev;
        char *name;
        bool lookup;
        int r;
        VdpaNlDevice *nldev;
        VdpaNlConfig *nlcfg;
} UeventJob;

static void uevent_job_free(UeventJob *j) {
        udev_device_unref(j->dev);
        vdpa_nl_device_free(j->nldev);
        vdpa_nl_config_free(j->nlcfg);
        g_free(j->name);
        g_free(j);
}

/* A burst of uevents (a provisioning pass, sriov_numvfs=256) rides in one
 * job: whatever arrives while the job is still queued joins it, and from
 * LOOKUP_DUMP_MIN new devices on, one DEV_GET and one DEV_CONFIG_GET dump
 * answer all of them instead of a pair of requests each.  Their order is
 * kept: the job applies its uevents as they came. */
#define LOOKUP_DUMP_MIN 8

struct UeventBatch {
        Context *c;
        GMutex lock;
        bool started;                 /* the worker has it: nothing joins any more */
        GPtrArray *jobs;              /* UeventJob*, in arrival order */
};

static void uevent_batch_free(UeventBatch *b) {
        if (!b)
                return;
        g_ptr_array_unref(b->jobs);
        g_mutex_clear(&b->lock);
        g_free(b);
}

/* Main thread: false once the worker took B. */
static bool uevent_batch_add(UeventBatch *b, UeventJob *j) {
        bool added;

        g_mutex_lock(&b->lock);
        added = !b->started;
        if (added)
                g_ptr_array_add(b->jobs, j);
        g_mutex_unlock(&b->lock);
        return added;
}

static void lookup_one(VdpaNetlink *nl, UeventJob *j) {
        j->r = vdpa_netlink_dev_get(nl, j->name, &j->nldev, NULL);
        /* EAGAIN: features not negotiated yet; the configuration is unknown. */
        if (j->r >= 0)
                (void) vdpa_netlink_config_get(nl, j->name, &j->nlcfg, NULL);
}

static GHashTable *index_by_name(GPtrArray *items, size_t name_offset) {
        GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);

        for (guint i = 0; items && i < items->len; i++) {
                const char *name = *(char *const *) ((const char *) items->pdata[i] + name_offset);

                if (name)
                        g_hash_table_insert(h, (gpointer) name, items->pdata[i]);
        }
        return h;
}

static void lookup_by_dumps(VdpaNetlink *nl, GPtrArray *jobs, guint n) {
        g_autoptr(GPtrArray) devs = NULL, cfgs = NULL;
        g_autoptr(GHashTable) dev_by_name = NULL, cfg_by_name = NULL;
        int r;

        r = vdpa_netlink_dev_dump(nl, &devs, NULL);
        if (r < 0) {
                for (guint i = 0; i < n; i++)
                        if (((UeventJob *) jobs->pdata[i])->lookup)
                                lookup_one(nl, jobs->pdata[i]);
                return;
        }
        /* EAGAIN of a device inside the dump is not an error of the dump;
         * a failed dump only leaves the configurations unknown. */
        (void) vdpa_netlink_config_dump(nl, &cfgs, NULL);
        dev_by_name = index_by_name(devs, G_STRUCT_OFFSET(VdpaNlDevice, name));
        cfg_by_name = index_by_name(cfgs, G_STRUCT_OFFSET(VdpaNlConfig, name));
        for (guint i = 0; i < n; i++) {
                UeventJob *j = jobs->pdata[i];
                const VdpaNlDevice *d;
                const VdpaNlConfig *cfg;

                if (!j->lookup)
                        continue;
                d = g_hash_table_lookup(dev_by_name, j->name);
                if (!d) {
                        j->r = -ENODEV;
                        continue;
                }
                j->nldev = vdpa_nl_device_dup(d);
                cfg = g_hash_table_lookup(cfg_by_name, j->name);
                if (cfg)
                        j->nlcfg = vdpa_nl_config_dup(cfg);
        }
}

static void run_uevent_batch(VdpaNetlink *nl, void *job) {
        UeventBatch *b = job;
        guint n, lookups = 0;

        g_mutex_lock(&b->lock);
        b->started = true;
        n = b->jobs->len;
        g_mutex_unlock(&b->lock);
        if (!nl)
                return;
        for (guint i = 0; i < n; i++)
                lookups += ((UeventJob *) b->jobs->pdata[i])->lookup;
        if (lookups >= LOOKUP_DUMP_MIN) {
                lookup_by_dumps(nl, b->jobs, n);
                return;
        }
        for (guint i = 0; i < n; i++)
                if (((UeventJob *) b->jobs->pdata[i])->lookup)
                        lookup_one(nl, b->jobs->pdata[i]);
}

static void apply_looked_up(Context *c, UeventJob *j) {
        if (j->lookup) {
                guint n = GPOINTER_TO_UINT(g_hash_table_lookup(c->lookups, j->name));

                if (n > 1)
                        g_hash_table_insert(c->lookups, g_strdup(j->name), GUINT_TO_POINTER(n - 1));
                else
                        g_hash_table_remove(c->lookups, j->name);
        }
        if (j->lookup && j->nldev) {
                _cleanup_(vdpa_kernel_info_clear) VdpaKernelInfo k = {};

                vdpa_kernel_info_from_netlink(&k, j->nldev, j->nlcfg);
                provision_fill_created(c->provision, j->name, &k);
                inventory_set_kernel_info(c->inventory, j->name, &k);
        } else if (j->lookup && j->r < 0)
                /* ENODEV: a device without a management device (the kernel's
                 * dumps skip those too), or gone again. */
                log_debug_errno(j->r, "No netlink facts for vDPA device %s: %m", j->name);
        apply_uevent(c, j->dev);
}

static void on_uevent_batch_done(void *job, void *userdata) {
        UeventBatch *b = job;
        Context *c = b->c;

        if (c->open_batch == b)
                c->open_batch = NULL;
        for (guint i = 0; i < b->jobs->len; i++)
                apply_looked_up(c, b->jobs->pdata[i]);
        uevent_batch_free(b);
}

/* vdpa: the devices.  net: PF netdevs and representors (§9).  pci and
 * auxiliary: management devices appear with their functions (§8). */
static const char *const monitored_subsystems[] = { "vdpa", "net", "pci", "auxiliary", NULL };

/* A PCI function or an auxiliary device (an SF, mlx5's vnet) came, went or
 * bound: a management device may have come with it (DESIGN.md §8). */
static void on_parent_uevent(Context *c, struct udev_device *dev) {
        if (c->rules)
                provision_rules_parent_event(c->rules, udev_device_get_action(dev), udev_device_get_syspath(dev));
}

static void on_uevent(UdevMonitor *m, struct udev_device *dev, void *userdata) {
        Context *c = userdata;
        const char *subsystem = udev_device_get_subsystem(dev);
        const char *action = udev_device_get_action(dev);
        const char *name = udev_device_get_sysname(dev);
        UeventJob *j;

        if (streq_ptr(subsystem, "net")) {
                int r = inventory_handle_net_uevent(c->inventory, dev);

                if (r < 0)
                        log_debug_errno(r, "Ignoring net uevent for %s: %m", strempty(name));
                return;
        }
        if (streq_ptr(subsystem, "pci") || streq_ptr(subsystem, "auxiliary")) {
                on_parent_uevent(c, dev);
                return;
        }

        if (!netlink_worker_has_family(c->nl_worker) || !name) {
                apply_uevent(c, dev);
                return;
        }
        j = g_new0(UeventJob, 1);
        j->c = c;
        j->dev = udev_device_ref(dev);
        j->name = g_strdup(name);
        /* An "add" is a new device: always asked about.  Another event for a
         * device the inventory does not know yet is asked about only when
         * no lookup for it is on its way already. */
        j->lookup = streq_ptr(action, "add") ||
                    (!streq_ptr(action, "remove") && !inventory_lookup(c->inventory, name) &&
                     !g_hash_table_contains(c->lookups, name));
        if (j->lookup)
                g_hash_table_insert(c->lookups, g_strdup(name),
                                    GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(c->lookups, name)) + 1));
        if (c->open_batch && uevent_batch_add(c->open_batch, j))
                return;
        c->open_batch = g_new0(UeventBatch, 1);
        c->open_batch->c = c;
        g_mutex_init(&c->open_batch->lock);
        c->open_batch->jobs = g_ptr_array_new_with_free_func((GDestroyNotify) uevent_job_free);
        g_ptr_array_add(c->open_batch->jobs, j);
        netlink_worker_submit(c->nl_worker, c->open_batch, run_uevent_batch, on_uevent_batch_done,
                              (GDestroyNotify) uevent_batch_free, NULL);
}

/* The kernel's facts about every device: one DEV_GET dump, one
 * DEV_CONFIG_GET dump (a device it could not describe stays unknown). */
typedef struct DumpJob {
        Context *c;
        int r;
        GPtrArray *devices;
        GPtrArray *configs;
} DumpJob;

static void dump_job_free(DumpJob *j) {
        g_clear_pointer(&j->devices, g_ptr_array_unref);
        g_clear_pointer(&j->configs, g_ptr_array_unref);
        g_free(j);
}

static int dump_kernel_facts(VdpaNetlink *nl, GPtrArray **devices, GPtrArray **configs) {
        int r;

        r = vdpa_netlink_dev_dump(nl, devices, NULL);
        if (r < 0)
                return r;
        r = vdpa_netlink_config_dump(nl, configs, NULL);
        if (r < 0)
                log_debug_errno(r, "DEV_CONFIG_GET dump failed, configurations unknown: %m");
        return 0;
}

static void apply_kernel_facts(Context *c, GPtrArray *devices, GPtrArray *configs) {
        g_autoptr(GHashTable) t = vdpa_kernel_info_table_new(devices, configs);
        GHashTableIter i;
        gpointer k, v;

        g_hash_table_iter_init(&i, t);
        while (c->provision && g_hash_table_iter_next(&i, &k, &v))
                provision_fill_created(c->provision, k, v);
        inventory_replace_kernel_info(c->inventory, t);
}

static void run_dump(VdpaNetlink *nl, void *job) {
        DumpJob *j = job;

        j->r = nl ? dump_kernel_facts(nl, &j->devices, &j->configs) : -ENOENT;
}

static void on_overflow_dump_done(void *job, void *userdata) {
        DumpJob *j = job;
        Context *c = j->c;
        int r;

        if (j->r < 0)
                log_warning_errno(j->r, "Cannot read the kernel's vDPA devices over netlink, keeping what was known: %m");
        else
                apply_kernel_facts(c, j->devices, j->configs);
        dump_job_free(j);

        r = inventory_enumerate(c->inventory, c->udev);
        if (r < 0)
                log_error_errno(r, "Failed to re-enumerate vDPA devices: %m");
        heap_trim_request(c->trim);
}

static void on_overflow(UdevMonitor *m, void *userdata) {
        Context *c = userdata;
        DumpJob *j;

        log_warning("uevents were lost (receive buffer overflow), re-enumerating vDPA devices");
        if (!netlink_worker_has_family(c->nl_worker)) {
                int r = inventory_enumerate(c->inventory, c->udev);

                if (r < 0)
                        log_error_errno(r, "Failed to re-enumerate vDPA devices: %m");
                heap_trim_request(c->trim);
                return;
        }
        /* Behind the uevents already queued, and before the sysfs read, so
         * that no device is shown without its facts. */
        j = g_new0(DumpJob, 1);
        j->c = c;
        netlink_worker_submit(c->nl_worker, j, run_dump, on_overflow_dump_done, (GDestroyNotify) dump_job_free, NULL);
}

static void request_scan(Context *c);

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Context *c = userdata;

        c->reconnect_timer = sd_event_source_disable_unref(c->reconnect_timer);
        request_scan(c);
        return 0;
}

static void schedule_reconnect(Context *c) {
        int r;

        if (c->reconnect_timer)
                return;
        c->reconnect_delay_usec = c->reconnect_delay_usec == 0 ? RECONNECT_MIN_USEC
                : MIN(c->reconnect_delay_usec * 2, RECONNECT_MAX_USEC);
        r = sd_event_add_time_relative(c->event, &c->reconnect_timer, CLOCK_MONOTONIC,
                                       c->reconnect_delay_usec, 0, on_reconnect_timer, c);
        if (r < 0)
                log_error_errno(r, "Cannot schedule a libvirt reconnect: %m");
}

static void set_connected(Context *c, bool connected, unsigned long lib_version, unsigned long hv_version) {
        ManagerLibvirtState s = {
                .connected = connected,
                .lib_version = lib_version,
                .hv_version = hv_version,
        };

        if (connected && !c->libvirt_connected && c->disconnected_since)
                log_info("Reconnected to libvirt at %s after %.1f s", c->config->libvirt_uri,
                         (double) (now(CLOCK_MONOTONIC) - c->disconnected_since) / G_USEC_PER_SEC);
        if (!connected && c->libvirt_connected)
                c->disconnected_since = now(CLOCK_MONOTONIC);
        c->libvirt_connected = connected;
        broker_set_libvirt_connected(c->broker, connected);
        manager_set_libvirt_state(c->manager, &s);
}

static void on_scan_done(void *job, void *userdata) {
        g_autoptr(LibvirtScan) scan = job;
        Context *c = userdata;

        c->scan_pending = false;
        if (!scan->connected) {
                log_warning("Cannot reach libvirt at %s: %s", c->config->libvirt_uri,
                            scan->error ? scan->error : "unknown error");
                /* Keep what we knew: reads go on from the last known state. */
                set_connected(c, false, 0, 0);
                schedule_reconnect(c);
                return;
        }

        log_debug("libvirt at %s: %u vDPA device(s) used by domains",
                  c->config->libvirt_uri, g_hash_table_size(scan->usage));
        c->reconnect_delay_usec = 0;
        inventory_set_domain_usage(c->inventory, scan->usage);
        broker_reconcile(c->broker, scan->usage);
        set_connected(c, true, scan->lib_version, scan->hv_version);

        if (c->rescan_wanted) {
                c->rescan_wanted = false;
                request_scan(c);
        }
}

/* libvirt is the ground truth: whatever it tells, re-read it whole.  A scan
 * is a handful of calls per domain, events are rare, and a full re-read
 * cannot get out of step the way incremental patching can. */
static void request_scan(Context *c) {
        if (c->scan_pending) {
                c->rescan_wanted = true;
                return;
        }
        c->scan_pending = true;
        libvirt_worker_submit_scan(c->worker, on_scan_done, c);
}

static void on_libvirt_event(void *job, void *userdata) {
        g_autoptr(LibvirtEvent) e = job;
        Context *c = userdata;

        switch (e->kind) {
        case LIBVIRT_EVENT_DOMAIN:
                log_debug("libvirt: domain '%s' changed", strempty(e->domain));
                request_scan(c);
                break;
        case LIBVIRT_EVENT_CLOSED:
                log_warning("Lost the connection to libvirt at %s; reconnecting", c->config->libvirt_uri);
                set_connected(c, false, 0, 0);
                request_scan(c);
                break;
        }
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Context *c = userdata;

        log_info("Received %s, exiting", strsignal(si->ssi_signo));
        return sd_event_exit(c->event, 0);
}

/* A reply still queued is freed once written: trimming before that would
 * leave its pages resident. */
static bool reply_queued(void *userdata) {
        Context *c = userdata;
        uint64_t queued = 0;

        return c->bus && sd_bus_get_n_queued_write(c->bus, &queued) >= 0 && queued > 0;
}

static void context_clear(Context *c) {
        c->manager = manager_free(c->manager);
        /* The workers before the broker, provisioning and the inventory: a
         * late result must not land on freed state. */
        g_clear_pointer(&c->nl_worker, netlink_worker_free);
        g_clear_pointer(&c->worker, libvirt_worker_free);
        g_clear_pointer(&c->rules, provision_rules_free);
        g_clear_pointer(&c->provision, provision_free);
        g_clear_pointer(&c->lookups, g_hash_table_unref);
        g_clear_pointer(&c->broker, broker_free);
        g_clear_pointer(&c->claims, claims_free);
        g_clear_pointer(&c->monitor, udev_monitor_source_free);
        g_clear_pointer(&c->inventory, inventory_free);
        if (c->bus) {
                sd_bus_flush(c->bus);
                c->bus = sd_bus_flush_close_unref(c->bus);
        }
        g_clear_pointer(&c->udev, udev_unref);
        g_clear_pointer(&c->config, vdpa_config_free);
        g_clear_pointer(&c->state_dir, g_free);
        g_clear_pointer(&c->config_path, g_free);
        g_clear_pointer(&c->libvirt_uri_override, g_free);
        c->reconnect_timer = sd_event_source_disable_unref(c->reconnect_timer);
        g_clear_pointer(&c->trim, heap_trim_free);
        c->event = sd_event_unref(c->event);
}

static VdpaConfig *read_config(Context *c, GError **error) {
        VdpaConfig *config = vdpa_config_load(c->config_path, c->config_must_exist, error);

        if (config && c->libvirt_uri_override) {
                g_free(config->libvirt_uri);
                config->libvirt_uri = g_strdup(c->libvirt_uri_override);
        }
        return config;
}

static int load_config(const Options *o, Context *c) {
        g_autoptr(GError) error = NULL;

        c->config_path = g_strdup(o->config_path ? o->config_path : VDPA_DEFAULT_CONFIG_FILE);
        c->config_must_exist = o->config_given;
        c->libvirt_uri_override = g_strdup(o->libvirt_uri);

        c->config = read_config(c, &error);
        if (!c->config)
                return log_error_errno(EINVAL, "%s", error->message);
        return 0;
}

/* SIGHUP: read the configuration again; a bad file keeps the old one. */
static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VdpaConfig) next = NULL;
        Context *c = userdata;
        VdpaConfig *old;

        (void) sd_notify(false, "RELOADING=1");
        next = read_config(c, &error);
        if (!next) {
                log_error("Not reloading: %s; keeping the configuration in force", error->message);
                (void) sd_notify(false, "READY=1");
                return 0;
        }
        if (!streq_ptr(next->libvirt_uri, c->config->libvirt_uri))
                log_warning("[Libvirt] Uri changed to %s; it takes effect at the next start", next->libvirt_uri);
        /* The URI is fixed for the life of the process (LibvirtUri is const). */
        g_free(next->libvirt_uri);
        next->libvirt_uri = g_strdup(c->config->libvirt_uri);

        old = c->config;
        c->config = TAKE_PTR(next);
        inventory_set_config(c->inventory, c->config);
        broker_set_config(c->broker, c->config);
        manager_set_config(c->manager, c->config);
        provision_rules_set_config(c->rules, c->config);
        vdpa_config_free(old);

        log_info("Reloaded %s", c->config_path);
        (void) sd_notify(false, "READY=1");
        return 0;
}

static void describe_mgmtdev(const char *handle, const char **rule, const char **error, void *userdata) {
        provision_rules_describe(userdata, handle, rule, error);
}

static int setup_signals(Context *c) {
        static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
        sigset_t mask;
        int r;

        /* libvirt writes to its socket without MSG_NOSIGNAL: a libvirtd
         * that dies under a call would otherwise kill us with SIGPIPE
         * (systemd ignores it for services; bus activation and a shell do
         * not).  Before any thread exists, so that all inherit it. */
        if (sigaction(SIGPIPE, &(struct sigaction) { .sa_handler = SIG_IGN }, NULL) < 0)
                return log_error_errno(errno, "Failed to ignore SIGPIPE: %m");

        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                sigaddset(&mask, sigs[i]);
        r = -pthread_sigmask(SIG_BLOCK, &mask, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to block signals: %m");

        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
                r = sd_event_add_signal(c->event, NULL, sigs[i], sigs[i] == SIGHUP ? on_reload : on_signal, c);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch signal %d: %m", sigs[i]);
        }
        return 0;
}

/* The kernel's vdpa netlink family, if it has one: read every device's
 * facts now (bounded), before the first enumeration shows any device. */
static int setup_netlink(Context *c) {
        g_autoptr(GPtrArray) devices = NULL, configs = NULL;
        VdpaNetlink *nl = NULL;
        int r;

        r = vdpa_netlink_open(NETLINK_TIMEOUT_USEC, &nl);
        if (r == -ENOENT)
                log_info("The kernel has no vdpa netlink family: device types and provisioning are unavailable");
        else if (r < 0)
                log_warning_errno(r, "Cannot open the vdpa netlink family, going on without it: %m");
        else {
                r = dump_kernel_facts(nl, &devices, &configs);
                if (r < 0)
                        log_warning_errno(r, "Cannot read the kernel's vDPA devices over netlink: %m");
                else
                        apply_kernel_facts(c, devices, configs);
        }

        return netlink_worker_new(c->event, nl, &c->nl_worker);
}

static int setup_inventory(const Options *o, Context *c) {
        int r;

        c->udev = udev_new();
        if (!c->udev)
                return log_error_errno(ENOMEM, "Failed to create udev context");

        c->inventory = inventory_new(c->config, on_inventory_event, c);
        c->lookups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        r = setup_netlink(c);
        if (r < 0)
                return log_error_errno(r, "Failed to start the netlink worker: %m");

        /* Monitor before enumerating, so that nothing happening in between
         * is lost: a queued event for a known device is only a no-op. */
        r = udev_monitor_source_new(c->event, c->udev, o->uevent_rcvbuf, monitored_subsystems, on_uevent, on_overflow,
                                    c, &c->monitor);
        if (r < 0)
                return r;

        r = inventory_enumerate(c->inventory, c->udev);
        if (r < 0)
                return log_error_errno(r, "Failed to enumerate vDPA devices: %m");

        log_info("Found %u vDPA device(s)", inventory_count(c->inventory));
        /* Enumeration holds every udev device at once; hand that back. */
        heap_trim_request(c->trim);
        return 0;
}

static int setup_claims(const Options *o, Context *c) {
        g_autoptr(GError) error = NULL;
        BrokerParams p;
        int r;

        if (g_mkdir_with_parents(c->state_dir, 0700) < 0)
                return log_error_errno(errno, "Cannot create state directory %s: %m", c->state_dir);

        c->claims = claims_new(c->state_dir);
        r = claims_load(c->claims, &error);
        if (r == -EBADMSG)
                /* The file is kept aside; libvirt still knows the truth. */
                log_error("Corrupt claims file: %s; starting without recorded claims", error->message);
        else if (r < 0)
                return log_error_errno(r, "Cannot read claims: %s", error->message);

        r = libvirt_worker_new(c->event, c->config->libvirt_uri, &c->worker);
        if (r < 0)
                return r;
        libvirt_worker_set_event_handler(c->worker, on_libvirt_event, c);

        p = (BrokerParams) {
                .event = c->event,
                .inventory = c->inventory,
                .config = c->config,
                .worker = c->worker,
                .claims = c->claims,
                .libvirt_timeout_usec = o->libvirt_timeout_usec ? o->libvirt_timeout_usec
                                                                : DEFAULT_LIBVIRT_TIMEOUT_SEC * G_USEC_PER_SEC,
        };
        c->broker = broker_new(&p);
        broker_restore(c->broker);
        c->provision = provision_new(&(ProvisionParams) {
                .event = c->event,
                .udev = c->udev,
                .inventory = c->inventory,
                .broker = c->broker,
                .worker = c->nl_worker,
                .timeout_usec = CREATE_APPEAR_TIMEOUT_USEC,
        });
        g_autoptr(GError) rules_error = NULL;
        r = provision_rules_new(&(ProvisionRulesParams) {
                        .event = c->event,
                        .inventory = c->inventory,
                        .provision = c->provision,
                        .worker = c->nl_worker,
                        .state_dir = c->state_dir,
                        .config = c->config,
                }, &c->rules, &rules_error);
        if (r < 0)
                return log_error_errno(r, "Cannot read the provisioning records: %s", rules_error->message);
        provision_set_describe(c->provision, describe_mgmtdev, c->rules);
        log_info("%u claim(s) recorded in %s", claims_count(c->claims), claims_get_path(c->claims));
        return 0;
}

static int setup_bus(const Options *o, Context *c) {
        int r;

        r = connect_bus(o->bus_address, &c->bus);
        if (r < 0)
                return r;

        /* When the bus goes away the daemon has no purpose; exiting lets
         * activation start a fresh one. */
        r = sd_bus_set_exit_on_disconnect(c->bus, true);
        if (r < 0)
                return log_error_errno(r, "Failed to set exit-on-disconnect: %m");

        r = sd_bus_attach_event(c->bus, c->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach bus to event loop: %m");

        r = manager_new(&(ManagerParams) {
                                .bus = c->bus,
                                .inventory = c->inventory,
                                .broker = c->broker,
                                .provision = c->provision,
                                .rules = c->rules,
                                .config = c->config,
                                .trim = c->trim,
                                .kernel_vdpa = access("/sys/bus/vdpa", F_OK) == 0,
                                .vdpa_netlink = netlink_worker_has_family(c->nl_worker),
                        }, &c->manager);
        if (r < 0)
                return r;

        r = sd_bus_request_name(c->bus, VDPA_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to acquire %s: %m", VDPA_BUS_NAME);
        return 0;
}

static int run(int argc, char *argv[]) {
        _cleanup_(options_clear) Options o = {};
        _cleanup_(context_clear) Context c = {};
        const char *e;
        int r;

        r = parse_argv(argc, argv, &o);
        if (r <= 0)
                return r;

        if (o.verbose)
                log_set_max_level(LOG_DEBUG);

        r = load_config(&o, &c);
        if (r < 0)
                return r;

        e = getenv("STATE_DIRECTORY");
        c.state_dir = g_strdup(o.state_dir ? o.state_dir : (e && e[0] ? e : VDPA_DEFAULT_STATE_DIR));

        r = sd_event_default(&c.event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %m");
        (void) sd_event_set_watchdog(c.event, true);

        r = heap_trim_new(c.event, reply_queued, &c, &c.trim);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the heap trim: %m");

        r = setup_signals(&c);
        if (r < 0)
                return r;

        r = setup_inventory(&o, &c);
        if (r < 0)
                return r;

        r = setup_claims(&o, &c);
        if (r < 0)
                return r;

        r = setup_bus(&o, &c);
        if (r < 0)
                return r;

        /* libvirt asynchronous: an unreachable or hung libvirtd must not
         * delay the name or the first answer.  Roll-backs of unfinished
         * claims were queued first, so the scan sees their outcome. */
        request_scan(&c);
        /* The inventory is complete and the bus can tell: provisioning may
         * start (its devices are announced like any other). */
        provision_rules_start(c.rules);

        (void) sd_notify(false, "READY=1");
        notify_status(&c);
        log_info("Serving %s (%s)", VDPA_BUS_NAME, PACKAGE_VERSION);

        r = sd_event_loop(c.event);
        (void) sd_notify(false, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        /* exit-on-disconnect ends the loop without a word otherwise; it
         * is a clean exit (status 0): activation starts a fresh daemon. */
        if (sd_bus_is_open(c.bus) <= 0)
                log_info("The bus connection is gone, exiting");
        return 0;
}

int main(int argc, char *argv[]) {
        return run(argc, argv) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
