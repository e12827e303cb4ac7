/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vdpactl: the command-line client of vdpa-managerd (DESIGN.md §6).
 *
 * GDBus, because the client needs no event loop of its own beyond
 * `monitor` and GLib is already there for JSON (json-glib) and GVariant.
 * The service's parser is authoritative for option values: vdpactl only
 * checks types (a number is a number) and prints the service's
 * InvalidArgs message otherwise.
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <locale.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>
#include <glib-unix.h>

#include "build-config.h"
#include "output.h"
#include "polkit-agent.h"
#include "vdpa-names.h"

/* Exit codes: the contract with scripts, documented in vdpactl(1). */
enum {
        EXIT_OK = 0,
        EXIT_FAIL = 1,            /* anything not listed below */
        EXIT_USAGE = 2,           /* bad command line, or InvalidArgs */
        EXIT_NOT_AUTHORIZED = 3,  /* AccessDenied, InteractiveAuthorizationRequired */
        EXIT_NOT_FOUND = 4,       /* NoSuchDevice, NoSuchDomain, NoSuchManagementDevice */
        EXIT_UNAVAILABLE = 5,     /* DeviceBusy, DeviceUnusable, NotClaimed, NoDeviceAvailable,
                                   * LibvirtUnavailable, DeviceExists, ManagementDeviceBusy */
        EXIT_CONFLICT = 6,        /* Conflict: live migration blocked */
        EXIT_NOT_SUPPORTED = 7,   /* the running service does not implement the method, or
                                   * the kernel or management device cannot do it (NotSupported) */
};

#define DBUS_ERROR_PREFIX "org.freedesktop.DBus.Error."

/* Claim, Release, CreateDevice and DeleteDevice are bounded by the
 * service (--libvirt-timeout, the polkit timeout, the wait for a created
 * device), and an interactive authorization waits for a human: the client
 * adds no timeout of its own. */
#define CHANGE_TIMEOUT_MS G_MAXINT

/* Groups of options, and the verbs accepting them. */
enum {
        OPTS_IFACE = 1 << 0,      /* --mac ... --guest-address: xml, claim */
        OPTS_CLAIM = 1 << 1,      /* --auto ... --config: claim */
        OPTS_RELEASE = 1 << 2,    /* --force: release */
        OPTS_CREATE = 1 << 3,     /* --mac, --mtu, --max-queue-pairs: create */
};

/* The options given (each once, in the order first given), with the
 * groups they belong to, for "does not apply" messages.  Bounded by the
 * number of distinct options. */
#define MAX_GIVEN_OPTS 32

typedef struct GivenOpt {
        const char *name;
        unsigned groups;
} GivenOpt;

typedef struct Args {
        char *bus_address;
        JsonMode json;
        bool legend;
        bool ask_password;

        /* interface options; "has_" or NULL/-1 when not given */
        char *mac;
        bool has_queues;
        guint32 queues;
        int page_per_vq;
        char *alias;
        bool has_boot_order;
        guint32 boot_order;
        char *guest_address;

        /* claim */
        bool auto_pick;
        int live;
        int config;
        bool has_numa_node;
        gint32 numa_node;
        char *pf;
        char *numa_policy;

        /* release */
        bool force;

        /* create */
        bool has_mtu;
        guint16 mtu;
        bool has_max_queue_pairs;
        guint16 max_queue_pairs;

        GivenOpt given[MAX_GIVEN_OPTS];
        size_t n_given;
        const char *first_pick_opt;   /* --numa-node, --pf, --numa-policy */
} Args;

typedef struct Ctx {
        Args *args;
        GDBusConnection *bus;
} Ctx;

typedef int (*VerbFunc)(Ctx *c, int argc, char **argv);

typedef struct Verb {
        const char *name;
        int min_args;
        int max_args;
        unsigned opts;
        VerbFunc run;
        /* Optional check of the arguments before connecting: -1 to go
         * on, else the exit code. */
        int (*check)(const Args *a, int argc, char **argv);
} Verb;

static void args_clear(Args *a) {
        g_free(a->bus_address);
        g_free(a->mac);
        g_free(a->alias);
        g_free(a->guest_address);
        g_free(a->pf);
        g_free(a->numa_policy);
}

/* --- errors --- */

static int exit_code_for_error(const char *name) {
        static const struct {
                const char *name;
                int code;
        } table[] = {
                { DBUS_ERROR_PREFIX "InvalidArgs", EXIT_USAGE },
                { DBUS_ERROR_PREFIX "AccessDenied", EXIT_NOT_AUTHORIZED },
                { DBUS_ERROR_PREFIX "InteractiveAuthorizationRequired", EXIT_NOT_AUTHORIZED },
                { VDPA_ERROR_NO_SUCH_DEVICE, EXIT_NOT_FOUND },
                { VDPA_ERROR_NO_SUCH_DOMAIN, EXIT_NOT_FOUND },
                { VDPA_ERROR_NO_SUCH_MGMTDEV, EXIT_NOT_FOUND },
                { VDPA_ERROR_DEVICE_BUSY, EXIT_UNAVAILABLE },
                { VDPA_ERROR_DEVICE_UNUSABLE, EXIT_UNAVAILABLE },
                { VDPA_ERROR_NOT_CLAIMED, EXIT_UNAVAILABLE },
                { VDPA_ERROR_NO_DEVICE_AVAILABLE, EXIT_UNAVAILABLE },
                { VDPA_ERROR_LIBVIRT_UNAVAILABLE, EXIT_UNAVAILABLE },
                { VDPA_ERROR_DEVICE_EXISTS, EXIT_UNAVAILABLE },
                { VDPA_ERROR_MGMTDEV_BUSY, EXIT_UNAVAILABLE },
                { VDPA_ERROR_CONFLICT, EXIT_CONFLICT },
                /* The kernel or the management device cannot: the
                 * service's message says what, printed as it is. */
                { VDPA_ERROR_NOT_SUPPORTED, EXIT_NOT_SUPPORTED },
                { DBUS_ERROR_PREFIX "NotSupported", EXIT_NOT_SUPPORTED },
                { DBUS_ERROR_PREFIX "UnknownMethod", EXIT_NOT_SUPPORTED },
                { DBUS_ERROR_PREFIX "UnknownProperty", EXIT_NOT_SUPPORTED },
        };

        for (size_t i = 0; name && i < G_N_ELEMENTS(table); i++)
                if (g_str_equal(name, table[i].name))
                        return table[i].code;
        return EXIT_FAIL;
}

/* The service lacks the method or property (an older vdpa-managerd), as opposed to
 * the service's own NotSupported about the kernel. */
static bool is_missing_method(const char *name) {
        return name && (g_str_equal(name, DBUS_ERROR_PREFIX "NotSupported") ||
                        g_str_equal(name, DBUS_ERROR_PREFIX "UnknownMethod") ||
                        g_str_equal(name, DBUS_ERROR_PREFIX "UnknownProperty"));
}

/* Prints "vdpactl: MESSAGE" (the service's own words, without GDBus's
 * "GDBus.Error:NAME:" prefix) and returns the exit code for it. */
static int report_error(GError *error, const char *method) {
        g_autofree char *name = g_dbus_error_get_remote_error(error);
        int code = exit_code_for_error(name);

        if (name)
                g_dbus_error_strip_remote_error(error);

        if (is_missing_method(name))
                fprintf(stderr, "vdpactl: %s is not supported by the running vdpa-managerd: %s\n",
                        method, error->message);
        else
                fprintf(stderr, "vdpactl: %s\n", error->message);
        return code;
}

static int usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("vdpactl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nSee 'vdpactl --help'.\n", stderr);
        return EXIT_USAGE;
}

/* --- the bus --- */

static int connect_bus(Ctx *c) {
        g_autoptr(GError) error = NULL;

        if (c->bus)
                return EXIT_OK;

        if (c->args->bus_address)
                c->bus = g_dbus_connection_new_for_address_sync(
                                c->args->bus_address,
                                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                NULL, NULL, &error);
        else
                c->bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, &error);
        if (!c->bus) {
                fprintf(stderr, "vdpactl: cannot connect to the %s: %s\n",
                        c->args->bus_address ? "bus" : "system bus", error->message);
                return EXIT_FAIL;
        }
        /* `monitor` reports a lost bus itself instead of exit(1) behind
         * its back. */
        g_dbus_connection_set_exit_on_close(c->bus, FALSE);
        return EXIT_OK;
}

static GVariant *call(Ctx *c, const char *method, GVariant *params, const char *reply_type,
                      GDBusCallFlags flags, int timeout_ms, GError **error) {
        return g_dbus_connection_call_sync(c->bus, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE,
                                           method, params,
                                           reply_type ? G_VARIANT_TYPE(reply_type) : NULL,
                                           flags, timeout_ms, NULL, error);
}

/* Interactive authorization (a password prompt through polkit) only when
 * somebody can answer it: on a terminal, unless --no-ask-password. */
static bool want_interactive(const Ctx *c) {
        return c->args->ask_password && isatty(STDIN_FILENO);
}

/* A call that changes something and is authorized by polkit: allows
 * interactive authorization (with a text agent) when somebody can answer. */
static GVariant *call_change(Ctx *c, const char *method, GVariant *params, const char *reply_type,
                             GError **error) {
        GDBusCallFlags flags = G_DBUS_CALL_FLAGS_NONE;
        GVariant *reply;
        GPid agent = 0;

        if (want_interactive(c)) {
                flags |= G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION;
                agent = polkit_agent_open(c->args->bus_address);
        }
        reply = call(c, method, params, reply_type, flags, CHANGE_TIMEOUT_MS, error);
        polkit_agent_close(agent);
        return reply;
}

/* --- small formatting helpers --- */

static const char *dict_str(GVariant *dict, const char *key) {
        const char *s = NULL;

        if (!g_variant_lookup(dict, key, "&s", &s))
                return "";
        return s;
}

static gint64 dict_int(GVariant *dict, const char *key, gint64 fallback) {
        g_autoptr(GVariant) v = g_variant_lookup_value(dict, key, NULL);

        if (!v)
                return fallback;
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT32))
                return g_variant_get_int32(v);
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
                return g_variant_get_uint32(v);
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT16))
                return g_variant_get_uint16(v);
        return fallback;
}

static char *numa_to_string(gint64 numa) {
        return numa < 0 ? g_strdup("") : g_strdup_printf("%" G_GINT64_FORMAT, numa);
}

/* 0 is "unknown" for the netlink counts: "" (shown as "-"). */
static char *count_to_string(gint64 n) {
        return n <= 0 ? g_strdup("") : g_strdup_printf("%" G_GINT64_FORMAT, n);
}

/* An "as" value of DICT joined with SEP; "" when absent or empty. */
static char *dict_strv_join(GVariant *dict, const char *key, const char *sep) {
        g_autofree const char **v = NULL;

        if (!g_variant_lookup(dict, key, "^a&s", &v))
                return g_strdup("");
        return g_strjoinv(sep, (char **) v);
}

static void print_json_variant(Ctx *c, GVariant *v) {
        g_autoptr(JsonNode) n = output_json_from_variant(v);

        output_json_print(n, c->args->json, stdout);
}

/* --- list --- */

static int verb_list(Ctx *c, int argc, char **argv) {
        static const char *const headers[] = {
                "NAME", "TYPE", "STATE", "KIND", "PARENT", "PF", "NUMA", "CHARDEV", "DOMAIN", NULL
        };
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) devices = NULL;
        g_autoptr(Table) t = NULL;
        GVariantIter it;
        GVariant *d;

        reply = call(c, "Devices", NULL, "(aa{sv})", G_DBUS_CALL_FLAGS_NONE, -1, &error);
        if (!reply)
                return report_error(error, "Devices");
        devices = g_variant_get_child_value(reply, 0);

        if (c->args->json) {
                print_json_variant(c, devices);
                return EXIT_OK;
        }

        t = table_new(headers);
        g_variant_iter_init(&it, devices);
        while ((d = g_variant_iter_next_value(&it))) {
                const char *state = dict_str(d, VDPA_KEY_STATE);
                g_autofree char *numa = numa_to_string(dict_int(d, VDPA_KEY_NUMA_NODE, -1));

                table_add_cell(t, dict_str(d, VDPA_KEY_NAME), NULL);
                table_add_cell(t, dict_str(d, VDPA_KEY_TYPE), NULL);
                table_add_cell(t, state, output_state_color(state));
                table_add_cell(t, dict_str(d, VDPA_KEY_PARENT_KIND), NULL);
                table_add_cell(t, dict_str(d, VDPA_KEY_PARENT_DEVICE), NULL);
                table_add_cell(t, dict_str(d, VDPA_KEY_PHYSICAL_FUNCTION), NULL);
                table_add_cell(t, numa, NULL);
                table_add_cell(t, dict_str(d, VDPA_KEY_CHARDEV), NULL);
                table_add_cell(t, dict_str(d, VDPA_KEY_DOMAIN), NULL);
                g_variant_unref(d);
        }

        if (table_get_rows(t) > 0)
                table_print(t, stdout, c->args->legend);
        if (c->args->legend)
                printf("%s%u vDPA device%s listed.\n", table_get_rows(t) > 0 ? "\n" : "",
                       table_get_rows(t), table_get_rows(t) == 1 ? "" : "s");
        return EXIT_OK;
}

/* --- show --- */

/* The keys from the kernel's netlink family but Type, when known. */
static void add_netlink_fields(Fields *f, GVariant *d) {
        const char *mgmtdev = dict_str(d, VDPA_KEY_MANAGEMENT_DEVICE);
        const char *mac = dict_str(d, VDPA_KEY_DEVICE_MAC);
        gint64 v;

        if (mgmtdev[0])
                fields_add(f, "Management device", mgmtdev, NULL);
        if ((v = dict_int(d, VDPA_KEY_MAX_QUEUES, 0)) > 0)
                fields_addf(f, "Max queues", NULL, "%" G_GINT64_FORMAT, v);
        if ((v = dict_int(d, VDPA_KEY_MAX_QUEUE_SIZE, 0)) > 0)
                fields_addf(f, "Max queue size", NULL, "%" G_GINT64_FORMAT, v);
        if (mac[0])
                fields_add(f, "Device MAC", mac, NULL);
        if ((v = dict_int(d, VDPA_KEY_MTU, 0)) > 0)
                fields_addf(f, "MTU", NULL, "%" G_GINT64_FORMAT, v);
        if ((v = dict_int(d, VDPA_KEY_MAX_QUEUE_PAIRS, 0)) > 0)
                fields_addf(f, "Max queue pairs", NULL, "%" G_GINT64_FORMAT, v);
}

/* Declarative provisioning (§8) and OVS offload (§9), when the service
 * tells (an older one has none of these keys).  "" is "unknown or none",
 * shown as "none" like an empty Driver or Char device. */
static void add_provision_fields(Fields *f, GVariant *d) {
        gboolean provisioned;
        const char *s;

        if (g_variant_lookup(d, VDPA_KEY_PF_NETDEV, "&s", &s))
                fields_add(f, "PF netdev", s[0] ? s : "none", NULL);
        if (g_variant_lookup(d, VDPA_KEY_REPRESENTOR, "&s", &s))
                fields_add(f, "Representor", s[0] ? s : "none", NULL);
        if (g_variant_lookup(d, VDPA_KEY_PROVISIONED, "b", &provisioned))
                fields_add(f, "Provisioned", provisioned ? "yes" : "no", NULL);
}

static void print_device(GVariant *d) {
        g_autoptr(Fields) f = fields_new();
        const char *state = dict_str(d, VDPA_KEY_STATE);
        const char *type = dict_str(d, VDPA_KEY_TYPE);
        const char *driver = dict_str(d, VDPA_KEY_DRIVER);
        const char *parent = dict_str(d, VDPA_KEY_PARENT_DEVICE);
        const char *kind = dict_str(d, VDPA_KEY_PARENT_KIND);
        const char *domain = dict_str(d, VDPA_KEY_DOMAIN);
        const char *uuid = dict_str(d, VDPA_KEY_DOMAIN_UUID);
        gint64 numa = dict_int(d, VDPA_KEY_NUMA_NODE, -1);
        gint64 uid = dict_int(d, VDPA_KEY_CLAIMED_BY, 0);

        fields_add(f, "Name", dict_str(d, VDPA_KEY_NAME), ANSI_BOLD);
        /* Always shown: it decides whether the device is usable. */
        fields_add(f, "Type", type[0] ? type : "unknown", NULL);
        fields_add(f, "State", state, output_state_color(state));
        fields_add(f, "Driver", driver[0] ? driver : "none", NULL);
        fields_add(f, "Char device", dict_str(d, VDPA_KEY_CHARDEV)[0] ? dict_str(d, VDPA_KEY_CHARDEV) : "none", NULL);
        if (parent[0])
                fields_addf(f, "Parent", NULL, "%s (%s)", parent, kind);
        else
                fields_add(f, "Parent", kind, NULL);
        if (dict_str(d, VDPA_KEY_PHYSICAL_FUNCTION)[0])
                fields_add(f, "Physical function", dict_str(d, VDPA_KEY_PHYSICAL_FUNCTION), NULL);
        if (dict_int(d, VDPA_KEY_VENDOR_ID, 0) || dict_int(d, VDPA_KEY_PRODUCT_ID, 0))
                fields_addf(f, "PCI ID", NULL, "%04x:%04x",
                            (unsigned) dict_int(d, VDPA_KEY_VENDOR_ID, 0),
                            (unsigned) dict_int(d, VDPA_KEY_PRODUCT_ID, 0));
        if (numa >= 0)
                fields_addf(f, "NUMA node", NULL, "%" G_GINT64_FORMAT, numa);
        else
                fields_add(f, "NUMA node", "unknown", NULL);
        add_netlink_fields(f, d);
        add_provision_fields(f, d);
        fields_add(f, "Sysfs path", dict_str(d, VDPA_KEY_SYSFS_PATH), NULL);
        if (domain[0]) {
                if (uuid[0])
                        fields_addf(f, "Domain", NULL, "%s (%s)", domain, uuid);
                else
                        fields_add(f, "Domain", domain, NULL);
        }
        if (dict_str(d, VDPA_KEY_MAC)[0])
                fields_add(f, "MAC", dict_str(d, VDPA_KEY_MAC), NULL);
        if (g_str_equal(state, VDPA_STATE_CLAIMED)) {
                struct passwd *pw = getpwuid((uid_t) uid);

                if (pw)
                        fields_addf(f, "Claimed by", NULL, "%s (uid %" G_GINT64_FORMAT ")", pw->pw_name, uid);
                else
                        fields_addf(f, "Claimed by", NULL, "uid %" G_GINT64_FORMAT, uid);
        }
        fields_print(f, stdout);
}

static int verb_show(Ctx *c, int argc, char **argv) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) dict = NULL;

        reply = call(c, "GetDevice", g_variant_new("(s)", argv[0]), "(a{sv})", G_DBUS_CALL_FLAGS_NONE, -1, &error);
        if (!reply)
                return report_error(error, "GetDevice");
        dict = g_variant_get_child_value(reply, 0);

        if (c->args->json)
                print_json_variant(c, dict);
        else
                print_device(dict);
        return EXIT_OK;
}

/* --- xml and claim --- */

static void add_iface_options(const Args *a, GVariantBuilder *b) {
        if (a->mac)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_MAC, g_variant_new_string(a->mac));
        if (a->has_queues)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_QUEUES, g_variant_new_uint32(a->queues));
        if (a->page_per_vq >= 0)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_PAGE_PER_VQ, g_variant_new_boolean(a->page_per_vq));
        if (a->alias)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_ALIAS, g_variant_new_string(a->alias));
        if (a->has_boot_order)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_BOOT_ORDER, g_variant_new_uint32(a->boot_order));
        if (a->guest_address)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_GUEST_ADDRESS, g_variant_new_string(a->guest_address));
}

static void add_claim_options(const Args *a, GVariantBuilder *b) {
        if (a->live >= 0)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_LIVE, g_variant_new_boolean(a->live));
        if (a->config >= 0)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_CONFIG, g_variant_new_boolean(a->config));
        if (a->has_numa_node)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_NUMA_NODE, g_variant_new_int32(a->numa_node));
        if (a->pf)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_PHYSICAL_FUNCTION, g_variant_new_string(a->pf));
        if (a->numa_policy)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_NUMA_POLICY, g_variant_new_string(a->numa_policy));
}

static void print_named_strings(Ctx *c, const char *const *kv) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        for (size_t i = 0; kv[i]; i += 2) {
                json_builder_set_member_name(b, kv[i]);
                json_builder_add_string_value(b, kv[i + 1]);
        }
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        output_json_print(root, c->args->json, stdout);
}

static int verb_xml(Ctx *c, int argc, char **argv) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        GVariantBuilder opts;
        const char *xml;

        g_variant_builder_init(&opts, G_VARIANT_TYPE_VARDICT);
        add_iface_options(c->args, &opts);

        reply = call(c, "BuildInterfaceXml", g_variant_new("(sa{sv})", argv[0], &opts), "(s)",
                     G_DBUS_CALL_FLAGS_NONE, -1, &error);
        if (!reply)
                return report_error(error, "BuildInterfaceXml");
        g_variant_get(reply, "(&s)", &xml);

        if (c->args->json)
                print_named_strings(c, (const char *const[]) { "device", argv[0], "xml", xml, NULL });
        else
                printf("%s%s", xml, g_str_has_suffix(xml, "\n") ? "" : "\n");
        return EXIT_OK;
}

/* The grammar: `claim NAME DOMAIN` or `claim --auto DOMAIN`; the
 * auto-pick constraints only with --auto. */
static int check_claim(const Args *a, int argc, char **argv) {
        if (a->auto_pick) {
                if (argc != 1)
                        return usage_error("'claim --auto' takes one argument, the domain");
                return -1;
        }
        if (argc != 2)
                return usage_error("'claim' takes a device and a domain (or --auto and a domain)");
        if (a->first_pick_opt)
                return usage_error("%s chooses among devices and applies only with --auto", a->first_pick_opt);
        if (!argv[0][0])
                return usage_error("the device name must not be empty; use --auto to let the service pick one");
        return -1;
}

static int verb_claim(Ctx *c, int argc, char **argv) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        const Args *a = c->args;
        const char *device = a->auto_pick ? "" : argv[0];
        const char *domain = a->auto_pick ? argv[0] : argv[1];
        const char *claimed, *xml;
        GVariantBuilder opts;

        g_variant_builder_init(&opts, G_VARIANT_TYPE_VARDICT);
        add_iface_options(a, &opts);
        add_claim_options(a, &opts);

        reply = call_change(c, "Claim", g_variant_new("(ssa{sv})", device, domain, &opts), "(ss)", &error);
        if (!reply)
                return report_error(error, "Claim");
        g_variant_get(reply, "(&s&s)", &claimed, &xml);

        if (a->json)
                print_named_strings(c, (const char *const[]) {
                        "device", claimed, "domain", domain, "xml", xml, NULL });
        else
                printf("Claimed %s for domain '%s'.\n", claimed, domain);
        return EXIT_OK;
}

/* --- release --- */

static int verb_release(Ctx *c, int argc, char **argv) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        GVariantBuilder opts;

        g_variant_builder_init(&opts, G_VARIANT_TYPE_VARDICT);
        if (c->args->force)
                g_variant_builder_add(&opts, "{sv}", VDPA_OPT_FORCE, g_variant_new_boolean(TRUE));

        reply = call_change(c, "Release", g_variant_new("(sa{sv})", argv[0], &opts), "()", &error);
        if (!reply)
                return report_error(error, "Release");

        if (c->args->json)
                print_named_strings(c, (const char *const[]) { "device", argv[0], NULL });
        else
                printf("Released %s.\n", argv[0]);
        return EXIT_OK;
}

/* --- mgmtdev, create and delete: the kernel's management plane --- */

/* `mgmtdev` alone is `mgmtdev list`. */
static int check_mgmtdev(const Args *a, int argc, char **argv) {
        if (argc == 1 && !g_str_equal(argv[0], "list")) {
                g_autofree char *shown = output_printable(argv[0]);
                return usage_error("unknown 'mgmtdev' command '%s'; 'mgmtdev list' lists management devices",
                                   shown);
        }
        return -1;
}

static void add_mgmtdev_row(Table *t, GVariant *m) {
        g_autofree char *classes = dict_strv_join(m, VDPA_MGMT_KEY_SUPPORTED_CLASSES, ",");
        g_autofree char *max_vqs = count_to_string(dict_int(m, VDPA_MGMT_KEY_MAX_QUEUES, 0));
        g_autofree char *numa = numa_to_string(dict_int(m, VDPA_MGMT_KEY_NUMA_NODE, -1));
        g_autofree char *devices = dict_strv_join(m, VDPA_MGMT_KEY_DEVICES, ",");

        table_add_cell(t, dict_str(m, VDPA_MGMT_KEY_HANDLE), NULL);
        table_add_cell(t, dict_str(m, VDPA_MGMT_KEY_PARENT_KIND), NULL);
        table_add_cell(t, classes, NULL);
        table_add_cell(t, max_vqs, NULL);
        table_add_cell(t, dict_str(m, VDPA_MGMT_KEY_PHYSICAL_FUNCTION), NULL);
        table_add_cell(t, numa, NULL);
        table_add_cell(t, devices, NULL);
}

static int verb_mgmtdev(Ctx *c, int argc, char **argv) {
        static const char *const headers[] = {
                "HANDLE", "KIND", "CLASSES", "MAX-VQS", "PF", "NUMA", "DEVICES", NULL
        };
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) mgmtdevs = NULL;
        g_autoptr(Table) t = NULL;
        GVariantIter it;
        GVariant *m;

        reply = call(c, "ManagementDevices", NULL, "(aa{sv})", G_DBUS_CALL_FLAGS_NONE, -1, &error);
        if (!reply)
                return report_error(error, "ManagementDevices");
        mgmtdevs = g_variant_get_child_value(reply, 0);

        if (c->args->json) {
                print_json_variant(c, mgmtdevs);
                return EXIT_OK;
        }

        t = table_new(headers);
        g_variant_iter_init(&it, mgmtdevs);
        while ((m = g_variant_iter_next_value(&it))) {
                add_mgmtdev_row(t, m);
                g_variant_unref(m);
        }

        if (table_get_rows(t) > 0)
                table_print(t, stdout, c->args->legend);
        if (c->args->legend)
                printf("%s%u management device%s listed.\n", table_get_rows(t) > 0 ? "\n" : "",
                       table_get_rows(t), table_get_rows(t) == 1 ? "" : "s");
        return EXIT_OK;
}

/* `create MGMTDEV [NAME]`: an empty NAME would mean "pick one", which is
 * what leaving it out says. */
static int check_create(const Args *a, int argc, char **argv) {
        if (!argv[0][0])
                return usage_error("the management device must not be empty; 'vdpactl mgmtdev' lists them");
        if (argc > 1 && !argv[1][0])
                return usage_error("the device name must not be empty; leave it out to let the service pick one");
        return -1;
}

static void add_create_options(const Args *a, GVariantBuilder *b) {
        if (a->mac)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_MAC, g_variant_new_string(a->mac));
        if (a->has_mtu)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_MTU, g_variant_new_uint16(a->mtu));
        if (a->has_max_queue_pairs)
                g_variant_builder_add(b, "{sv}", VDPA_OPT_MAX_QUEUE_PAIRS,
                                      g_variant_new_uint16(a->max_queue_pairs));
}

static int verb_create(Ctx *c, int argc, char **argv) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        const char *mgmtdev = argv[0];
        const char *name = argc > 1 ? argv[1] : "";
        const char *created;
        GVariantBuilder opts;

        g_variant_builder_init(&opts, G_VARIANT_TYPE_VARDICT);
        add_create_options(c->args, &opts);

        reply = call_change(c, "CreateDevice", g_variant_new("(ssa{sv})", mgmtdev, name, &opts), "(s)", &error);
        if (!reply)
                return report_error(error, "CreateDevice");
        g_variant_get(reply, "(&s)", &created);

        if (c->args->json)
                print_named_strings(c, (const char *const[]) { "device", created, "mgmtdev", mgmtdev, NULL });
        else
                printf("Created %s on %s.\n", created, mgmtdev);
        return EXIT_OK;
}

static int verb_delete(Ctx *c, int argc, char **argv) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;

        reply = call_change(c, "DeleteDevice", g_variant_new("(sa{sv})", argv[0], NULL), "()", &error);
        if (!reply)
                return report_error(error, "DeleteDevice");

        if (c->args->json)
                print_named_strings(c, (const char *const[]) { "device", argv[0], NULL });
        else
                printf("Deleted %s.\n", argv[0]);
        return EXIT_OK;
}

/* --- provision: declarative provisioning (DESIGN.md §8) --- */

/* `provision` alone is `provision status`. */
static int check_provision(const Args *a, int argc, char **argv) {
        if (argc == 1 && !g_str_equal(argv[0], "status")) {
                g_autofree char *shown = output_printable(argv[0]);
                return usage_error("unknown 'provision' command '%s'; 'provision status' shows the rules "
                                   "and what they provisioned", shown);
        }
        return -1;
}

/* Property NAME of the service, unwrapped; a value of another type than
 * TYPE is the service's bug, reported as such. */
static GVariant *get_property(Ctx *c, const char *name, const char *type, GError **error) {
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) v = NULL;

        reply = g_dbus_connection_call_sync(c->bus, VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                            "org.freedesktop.DBus.Properties", "Get",
                                            g_variant_new("(ss)", VDPA_INTERFACE, name),
                                            G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
        if (!reply)
                return NULL;
        g_variant_get(reply, "(v)", &v);
        if (!g_variant_is_of_type(v, G_VARIANT_TYPE(type))) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                            "property %s has type %s, expected %s", name, g_variant_get_type_string(v), type);
                return NULL;
        }
        return g_steal_pointer(&v);
}

/* The child array of a reply of type "(aa{sv})" of METHOD, or NULL with
 * the exit code in *CODE (the error reported). */
static GVariant *call_list(Ctx *c, const char *method, int *code) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;

        reply = call(c, method, NULL, "(aa{sv})", G_DBUS_CALL_FLAGS_NONE, -1, &error);
        if (!reply) {
                *code = report_error(error, method);
                return NULL;
        }
        return g_variant_get_child_value(reply, 0);
}

/* Names of the devices the service created under a rule (Provisioned). */
static GHashTable *provisioned_set(GVariant *devices) {
        GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        GVariantIter it;
        GVariant *d;

        g_variant_iter_init(&it, devices);
        while ((d = g_variant_iter_next_value(&it))) {
                gboolean provisioned = FALSE;

                if (g_variant_lookup(d, VDPA_KEY_PROVISIONED, "b", &provisioned) && provisioned)
                        g_hash_table_add(set, g_strdup(dict_str(d, VDPA_KEY_NAME)));
                g_variant_unref(d);
        }
        return set;
}

/* The handles of MGMTDEVS that RULE's glob matches, matched as the
 * service matches them (fnmatch(3), no flags): "no match" is the case
 * the service warns about.  A handle matched by an earlier rule as well
 * is still listed; its ProvisionRule tells which rule applies. */
static GPtrArray *rule_matches(GVariant *rule, GVariant *mgmtdevs) {
        GPtrArray *handles = g_ptr_array_new_with_free_func(g_free);
        const char *glob = dict_str(rule, VDPA_RULE_KEY_MANAGEMENT_DEVICE);
        GVariantIter it;
        GVariant *m;

        g_variant_iter_init(&it, mgmtdevs);
        while ((m = g_variant_iter_next_value(&it))) {
                const char *handle = dict_str(m, VDPA_MGMT_KEY_HANDLE);

                if (glob[0] && fnmatch(glob, handle, 0) == 0)
                        g_ptr_array_add(handles, g_strdup(handle));
                g_variant_unref(m);
        }
        return handles;
}

/* The devices on management device M that were made under a rule. */
static GPtrArray *mgmtdev_provisioned(GVariant *m, GHashTable *provisioned) {
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        g_autofree const char **devs = NULL;

        if (g_variant_lookup(m, VDPA_MGMT_KEY_DEVICES, "^a&s", &devs))
                for (size_t i = 0; devs[i]; i++)
                        if (g_hash_table_contains(provisioned, devs[i]))
                                g_ptr_array_add(names, g_strdup(devs[i]));
        return names;
}

static JsonNode *json_string_array(GPtrArray *strings) {
        g_autoptr(JsonArray) a = json_array_new();
        JsonNode *n = json_node_new(JSON_NODE_ARRAY);

        for (guint i = 0; i < strings->len; i++)
                json_array_add_string_element(a, g_ptr_array_index(strings, i));
        json_node_set_array(n, a);
        return n;
}

/* --json: {"rules": [...], "management_devices": [...]}, the service's
 * dictionaries as they are, each with vdpactl's own lower-case member:
 * "matches" (handles the glob matches) and "provisioned" (its devices
 * made under a rule). */
static void print_provision_json(Ctx *c, GVariant *rules, GVariant *mgmtdevs, GHashTable *provisioned) {
        g_autoptr(JsonObject) root = json_object_new();
        g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);
        g_autoptr(JsonArray) jr = json_array_new();
        g_autoptr(JsonArray) jm = json_array_new();
        GVariantIter it;
        GVariant *v;

        g_variant_iter_init(&it, rules);
        while ((v = g_variant_iter_next_value(&it))) {
                g_autoptr(GPtrArray) matches = rule_matches(v, mgmtdevs);
                JsonNode *o = output_json_from_variant(v);

                json_object_set_member(json_node_get_object(o), "matches", json_string_array(matches));
                json_array_add_element(jr, o);
                g_variant_unref(v);
        }
        g_variant_iter_init(&it, mgmtdevs);
        while ((v = g_variant_iter_next_value(&it))) {
                g_autoptr(GPtrArray) names = mgmtdev_provisioned(v, provisioned);
                JsonNode *o = output_json_from_variant(v);

                json_object_set_member(json_node_get_object(o), "provisioned", json_string_array(names));
                json_array_add_element(jm, o);
                g_variant_unref(v);
        }
        json_object_set_array_member(root, "rules", g_steal_pointer(&jr));
        json_object_set_array_member(root, "management_devices", g_steal_pointer(&jm));
        json_node_set_object(n, root);
        output_json_print(n, c->args->json, stdout);
}

static void add_rule_row(Table *t, GVariant *rule, GVariant *mgmtdevs) {
        g_autoptr(GPtrArray) matches = rule_matches(rule, mgmtdevs);
        g_autofree char *qp = count_to_string(dict_int(rule, VDPA_RULE_KEY_MAX_QUEUE_PAIRS, 0));
        g_autofree char *mtu = count_to_string(dict_int(rule, VDPA_RULE_KEY_MTU, 0));
        g_autofree char *n = g_strdup_printf("%u", matches->len);

        table_add_cell(t, dict_str(rule, VDPA_RULE_KEY_NAME), NULL);
        table_add_cell(t, dict_str(rule, VDPA_RULE_KEY_MANAGEMENT_DEVICE), NULL);
        table_add_cell(t, qp, NULL);
        table_add_cell(t, mtu, NULL);
        table_add_cell(t, dict_str(rule, VDPA_RULE_KEY_MAC), NULL);
        table_add_cell(t, dict_str(rule, VDPA_RULE_KEY_NAME_PATTERN), NULL);
        /* Last: "no match" is two words. */
        if (matches->len > 0)
                table_add_cell(t, n, NULL);
        else
                table_add_cell(t, "no match", ANSI_YELLOW);
}

static void add_provision_mgmtdev_row(Table *t, GVariant *m, GHashTable *provisioned) {
        g_autoptr(GPtrArray) names = mgmtdev_provisioned(m, provisioned);
        g_autofree char *devices = dict_strv_join(m, VDPA_MGMT_KEY_DEVICES, ",");
        const char *error = dict_str(m, VDPA_MGMT_KEY_PROVISION_ERROR);
        const char *made = names->len > 0 ? "yes" : devices[0] ? "no" : "";

        table_add_cell(t, dict_str(m, VDPA_MGMT_KEY_HANDLE), NULL);
        table_add_cell(t, dict_str(m, VDPA_MGMT_KEY_PROVISION_RULE), NULL);
        table_add_cell(t, devices, NULL);
        table_add_cell(t, made, NULL);
        /* Last: the kernel's words have blanks. */
        table_add_cell(t, error, error[0] ? ANSI_RED : NULL);
}

/* Two tables, the rules and the management devices; without the legend a
 * blank line still separates them, so that a script can tell which rows
 * are which (--json is the better way). */
static void print_provision_tables(Ctx *c, GVariant *rules, GVariant *mgmtdevs, GHashTable *provisioned) {
        static const char *const rule_headers[] = {
                "RULE", "MANAGEMENT-DEVICE", "MAX-QP", "MTU", "MAC", "NAME", "MATCHES", NULL
        };
        static const char *const mgmt_headers[] = {
                "HANDLE", "RULE", "DEVICES", "PROVISIONED", "ERROR", NULL
        };
        g_autoptr(Table) tr = table_new(rule_headers);
        g_autoptr(Table) tm = table_new(mgmt_headers);
        bool legend = c->args->legend;
        GVariantIter it;
        GVariant *v;

        g_variant_iter_init(&it, rules);
        while ((v = g_variant_iter_next_value(&it))) {
                add_rule_row(tr, v, mgmtdevs);
                g_variant_unref(v);
        }
        g_variant_iter_init(&it, mgmtdevs);
        while ((v = g_variant_iter_next_value(&it))) {
                add_provision_mgmtdev_row(tm, v, provisioned);
                g_variant_unref(v);
        }

        if (table_get_rows(tr) > 0)
                table_print(tr, stdout, legend);
        if (!legend || (table_get_rows(tr) > 0 && table_get_rows(tm) > 0))
                putchar('\n');
        if (table_get_rows(tm) > 0)
                table_print(tm, stdout, legend);
        if (legend)
                printf("%s%u provisioning rule%s, %u management device%s listed.\n",
                       table_get_rows(tr) + table_get_rows(tm) > 0 ? "\n" : "",
                       table_get_rows(tr), table_get_rows(tr) == 1 ? "" : "s",
                       table_get_rows(tm), table_get_rows(tm) == 1 ? "" : "s");
}

static int verb_provision(Ctx *c, int argc, char **argv) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) rules = NULL;
        g_autoptr(GVariant) mgmtdevs = NULL;
        g_autoptr(GVariant) devices = NULL;
        g_autoptr(GHashTable) provisioned = NULL;
        int code = EXIT_FAIL;

        rules = get_property(c, "ProvisionRules", "aa{sv}", &error);
        if (!rules)
                return report_error(error, "ProvisionRules");
        /* Without the netlink family there is nothing to provision on:
         * ManagementDevices' NotSupported, exit 7, as `mgmtdev`. */
        mgmtdevs = call_list(c, "ManagementDevices", &code);
        if (!mgmtdevs)
                return code;
        devices = call_list(c, "Devices", &code);
        if (!devices)
                return code;
        provisioned = provisioned_set(devices);

        if (c->args->json)
                print_provision_json(c, rules, mgmtdevs, provisioned);
        else
                print_provision_tables(c, rules, mgmtdevs, provisioned);
        return EXIT_OK;
}

/* --- check-migration --- */

static int verb_check_migration(Ctx *c, int argc, char **argv) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;

        reply = call(c, "CheckMigration", g_variant_new("(s)", argv[0]), "()",
                     G_DBUS_CALL_FLAGS_NONE, -1, &error);
        if (!reply)
                return report_error(error, "CheckMigration");

        if (c->args->json) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                g_autoptr(JsonNode) root = NULL;

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "domain");
                json_builder_add_string_value(b, argv[0]);
                json_builder_set_member_name(b, "migratable");
                json_builder_add_boolean_value(b, TRUE);
                json_builder_end_object(b);
                root = json_builder_get_root(b);
                output_json_print(root, c->args->json, stdout);
        } else
                printf("Domain '%s' may be live-migrated.\n", argv[0]);
        return EXIT_OK;
}

/* --- status --- */

static int verb_status(Ctx *c, int argc, char **argv) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) props = NULL;
        g_autoptr(GVariant) caps = NULL;
        g_autoptr(Fields) f = NULL;
        const char *s, *lv = "", *qv = "";
        gboolean connected = FALSE, kernel = FALSE, supported = FALSE, netlink = FALSE;
        bool has_netlink = false;
        guint32 available = 0;

        reply = g_dbus_connection_call_sync(c->bus, VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                            "org.freedesktop.DBus.Properties", "GetAll",
                                            g_variant_new("(s)", VDPA_INTERFACE),
                                            G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NONE,
                                            -1, NULL, &error);
        if (!reply)
                return report_error(error, "GetAll");
        props = g_variant_get_child_value(reply, 0);

        if (c->args->json) {
                print_json_variant(c, props);
                return EXIT_OK;
        }

        f = fields_new();
        if (g_variant_lookup(props, "Version", "&s", &s))
                fields_add(f, "Version", s, NULL);
        if (g_variant_lookup(props, "LibvirtUri", "&s", &s))
                fields_add(f, "libvirt URI", s, NULL);
        (void) g_variant_lookup(props, "LibvirtConnected", "b", &connected);
        caps = g_variant_lookup_value(props, "Capabilities", G_VARIANT_TYPE_VARDICT);
        if (caps) {
                (void) g_variant_lookup(caps, "LibvirtVersion", "&s", &lv);
                (void) g_variant_lookup(caps, "QemuVersion", "&s", &qv);
                (void) g_variant_lookup(caps, "KernelVdpa", "b", &kernel);
                (void) g_variant_lookup(caps, "VdpaSupported", "b", &supported);
                (void) g_variant_lookup(caps, "AvailableDevices", "u", &available);
                /* An older service does not tell. */
                has_netlink = g_variant_lookup(caps, VDPA_CAP_VDPA_NETLINK, "b", &netlink);
        }
        if (connected)
                fields_addf(f, "libvirt", ANSI_GREEN, "connected (libvirt %s, QEMU %s)",
                            lv[0] ? lv : "unknown", qv[0] ? qv : "unknown");
        else
                fields_add(f, "libvirt", "not connected", ANSI_RED);
        if (g_variant_lookup(props, "LiveMigration", "&s", &s))
                fields_add(f, "Live migration", s, NULL);
        if (caps) {
                fields_add(f, "Kernel vDPA bus", kernel ? "yes" : "no", kernel ? NULL : ANSI_RED);
                if (has_netlink)
                        fields_add(f, "vDPA netlink", netlink ? "yes" : "no", NULL);
                fields_add(f, "vDPA supported", supported ? "yes" : "no", supported ? ANSI_GREEN : ANSI_RED);
                fields_addf(f, "Available devices", NULL, "%" G_GUINT32_FORMAT, available);
        }
        fields_print(f, stdout);
        return EXIT_OK;
}

/* --- monitor --- */

typedef struct Monitor {
        Ctx *ctx;
        GMainLoop *loop;
        int ret;
        bool running;             /* the service has an owner */
} Monitor;

static char *timestamp(bool iso) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *base = NULL;

        if (iso)
                return g_date_time_format_iso8601(now);
        base = g_date_time_format(now, "%Y-%m-%d %H:%M:%S");
        return g_strdup_printf("%s.%03d", base, g_date_time_get_microsecond(now) / 1000);
}

/* One event: a line of text, or one JSON object per line whatever the
 * --json mode, so that the stream can be read line by line. */
static void monitor_emit(Monitor *m, const char *event, const char *text, JsonObject *extra) {
        if (m->ctx->args->json) {
                g_autoptr(JsonObject) o = extra ? json_object_ref(extra) : json_object_new();
                g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);
                g_autofree char *ts = timestamp(true);

                json_object_set_string_member(o, "timestamp", ts);
                json_object_set_string_member(o, "event", event);
                json_node_set_object(n, o);
                output_json_print(n, JSON_SHORT, stdout);
                return;
        }

        g_autofree char *ts = timestamp(false);
        printf("%s %s\n", ts, text);
        fflush(stdout);
}

static void append_kv(GString *s, const char *key, const char *value, bool always) {
        g_autofree char *p = NULL;

        if (!always && (!value || !value[0]))
                return;
        p = output_printable(value);
        g_string_append_printf(s, " %s=%s", key, p);
}

static void monitor_device_signal(Monitor *m, const char *member, GVariant *params) {
        g_autoptr(JsonObject) o = json_object_new();
        g_autoptr(GString) text = g_string_new(member);
        g_autoptr(GVariant) dict = NULL;
        const char *name;

        g_variant_get_child(params, 0, "&s", &name);
        json_object_set_string_member(o, "name", name);
        g_string_append_printf(text, " %s", name);

        if (g_variant_n_children(params) > 1) {
                dict = g_variant_get_child_value(params, 1);
                json_object_set_member(o, "device", output_json_from_variant(dict));
                append_kv(text, "state", dict_str(dict, VDPA_KEY_STATE), true);
                append_kv(text, "driver", dict_str(dict, VDPA_KEY_DRIVER), false);
                append_kv(text, "chardev", dict_str(dict, VDPA_KEY_CHARDEV), false);
                append_kv(text, "domain", dict_str(dict, VDPA_KEY_DOMAIN), false);
        }
        monitor_emit(m, member, text->str, o);
}

static void monitor_properties_changed(Monitor *m, GVariant *params) {
        g_autoptr(JsonObject) o = json_object_new();
        g_autoptr(GString) text = g_string_new("PropertiesChanged");
        g_autoptr(GVariant) changed = g_variant_get_child_value(params, 1);
        g_autoptr(GVariant) invalidated = g_variant_get_child_value(params, 2);
        GVariantIter it;
        const char *key;
        GVariant *value;

        json_object_set_member(o, "changed", output_json_from_variant(changed));
        json_object_set_member(o, "invalidated", output_json_from_variant(invalidated));

        g_variant_iter_init(&it, changed);
        while (g_variant_iter_next(&it, "{&sv}", &key, &value)) {
                if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)) {
                        append_kv(text, key, g_variant_get_string(value, NULL), true);
                } else {
                        g_autoptr(JsonNode) n = output_json_from_variant(value);
                        g_autofree char *s = json_to_string(n, FALSE);
                        append_kv(text, key, s, true);
                }
                g_variant_unref(value);
        }
        g_variant_iter_init(&it, invalidated);
        while (g_variant_iter_next(&it, "&s", &key))
                g_string_append_printf(text, " %s (invalidated)", key);

        monitor_emit(m, "PropertiesChanged", text->str, o);
}

static void on_manager_signal(GDBusConnection *bus, const char *sender, const char *path,
                              const char *interface, const char *member, GVariant *params,
                              gpointer userdata) {
        Monitor *m = userdata;

        if (g_str_equal(interface, VDPA_INTERFACE) &&
            (g_variant_is_of_type(params, G_VARIANT_TYPE("(sa{sv})")) ||
             g_variant_is_of_type(params, G_VARIANT_TYPE("(s)"))))
                monitor_device_signal(m, member, params);
        else if (g_str_equal(interface, "org.freedesktop.DBus.Properties") &&
                 g_str_equal(member, "PropertiesChanged") &&
                 g_variant_is_of_type(params, G_VARIANT_TYPE("(sa{sv}as)")))
                monitor_properties_changed(m, params);
        else {
                /* A signal this client does not know: still shown. */
                g_autoptr(JsonObject) o = json_object_new();
                g_autofree char *p = g_variant_print(params, FALSE);
                g_autofree char *text = g_strdup_printf("%s.%s %s", interface, member, p);

                json_object_set_string_member(o, "interface", interface);
                json_object_set_member(o, "parameters", output_json_from_variant(params));
                monitor_emit(m, member, text, o);
        }
}

static void on_name_owner_changed(GDBusConnection *bus, const char *sender, const char *path,
                                  const char *interface, const char *member, GVariant *params,
                                  gpointer userdata) {
        Monitor *m = userdata;
        const char *name, *old_owner, *new_owner;

        g_variant_get(params, "(&s&s&s)", &name, &old_owner, &new_owner);
        if (!g_str_equal(name, VDPA_BUS_NAME))
                return;

        if (old_owner[0] && m->running) {
                m->running = false;
                monitor_emit(m, "ServiceStopped", "service stopped", NULL);
        }
        if (new_owner[0]) {
                g_autoptr(JsonObject) o = json_object_new();
                g_autofree char *text = g_strdup_printf("service started (%s)", new_owner);

                m->running = true;
                json_object_set_string_member(o, "owner", new_owner);
                monitor_emit(m, "ServiceStarted", text, o);
        }
}

static void on_bus_closed(GDBusConnection *bus, gboolean remote_peer_vanished, GError *error, gpointer userdata) {
        Monitor *m = userdata;

        fprintf(stderr, "vdpactl: connection to the bus lost%s%s\n",
                error ? ": " : "", error ? error->message : "");
        m->ret = EXIT_FAIL;
        g_main_loop_quit(m->loop);
}

static gboolean on_quit_signal(gpointer userdata) {
        Monitor *m = userdata;

        g_main_loop_quit(m->loop);
        return G_SOURCE_CONTINUE;
}

static int verb_monitor(Ctx *c, int argc, char **argv) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) owner = NULL;
        g_autoptr(JsonObject) o = json_object_new();
        g_autofree char *text = NULL;
        Monitor m = { .ctx = c, .ret = EXIT_OK };
        guint sub_manager, sub_owner, sig_int, sig_term;
        gulong closed_id;

        m.loop = g_main_loop_new(NULL, FALSE);

        /* Subscribed to the well-known name, so the subscription holds
         * across restarts of the service.  Both match rules are in force
         * when GetNameOwner answers: the bus handles messages in order. */
        sub_manager = g_dbus_connection_signal_subscribe(c->bus, VDPA_BUS_NAME, NULL, NULL,
                                                         VDPA_OBJECT_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                                         on_manager_signal, &m, NULL);
        sub_owner = g_dbus_connection_signal_subscribe(c->bus, "org.freedesktop.DBus", "org.freedesktop.DBus",
                                                       "NameOwnerChanged", "/org/freedesktop/DBus",
                                                       VDPA_BUS_NAME, G_DBUS_SIGNAL_FLAGS_NONE,
                                                       on_name_owner_changed, &m, NULL);
        closed_id = g_signal_connect(c->bus, "closed", G_CALLBACK(on_bus_closed), &m);

        owner = g_dbus_connection_call_sync(c->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                            "org.freedesktop.DBus", "GetNameOwner",
                                            g_variant_new("(s)", VDPA_BUS_NAME), G_VARIANT_TYPE("(s)"),
                                            G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        m.running = owner != NULL;
        json_object_set_boolean_member(o, "running", m.running);
        if (owner) {
                const char *unique;

                g_variant_get(owner, "(&s)", &unique);
                json_object_set_string_member(o, "owner", unique);
                text = g_strdup_printf("monitoring %s: service running (%s)", VDPA_BUS_NAME, unique);
        } else
                text = g_strdup_printf("monitoring %s: service not running", VDPA_BUS_NAME);
        monitor_emit(&m, "Monitoring", text, o);

        sig_int = g_unix_signal_add(SIGINT, on_quit_signal, &m);
        sig_term = g_unix_signal_add(SIGTERM, on_quit_signal, &m);
        g_main_loop_run(m.loop);

        g_source_remove(sig_int);
        g_source_remove(sig_term);
        g_signal_handler_disconnect(c->bus, closed_id);
        g_dbus_connection_signal_unsubscribe(c->bus, sub_manager);
        g_dbus_connection_signal_unsubscribe(c->bus, sub_owner);
        g_main_loop_unref(m.loop);
        return m.ret;
}

/* --- command line --- */

static void help(void) {
        printf("Usage: vdpactl [OPTIONS...] COMMAND ...\n\n"
               "Query and broker vDPA network devices through vdpa-managerd (%s).\n\n"
               "Commands:\n"
               "  list                     List vDPA devices (default)\n"
               "  show NAME                Show one vDPA device\n"
               "  status                   Show the service's version, libvirt connection\n"
               "                           and capabilities\n"
               "  xml NAME                 Print the libvirt <interface> XML for a device\n"
               "  claim NAME DOMAIN        Attach a device to a libvirt domain\n"
               "  claim --auto DOMAIN      Attach an available device the service picks\n"
               "  release NAME             Detach a claimed device from its domain\n"
               "  check-migration DOMAIN   Tell whether DOMAIN may be live-migrated\n"
               "  monitor                  Print every change as it happens\n"
               "  mgmtdev [list]           List the kernel's vDPA management devices\n"
               "  create MGMTDEV [NAME]    Create a vDPA device on a management device\n"
               "  delete NAME              Delete a vDPA device\n"
               "  provision [status]       Show the [Provision] rules and what they made on\n"
               "                           each management device\n\n"
               "Options:\n"
               "  -h --help                Show this help\n"
               "     --version            Show the version\n"
               "     --bus-address=ADDR   Talk to the service on this bus, not the system bus\n"
               "     --json[=MODE]        JSON output: short, pretty (default on a terminal)\n"
               "     --no-legend          No table header and footer\n"
               "     --no-ask-password    Never ask for a password (polkit)\n\n"
               "Interface options (xml, claim):\n"
               "     --mac=MAC            Guest MAC address\n"
               "     --queues=N           Number of queue pairs\n"
               "     --page-per-vq        <driver page_per_vq='on'> (--no-page-per-vq: off)\n"
               "     --alias=ua-NAME      libvirt user alias\n"
               "     --boot-order=N       Boot order\n"
               "     --guest-address=ADDR Guest PCI address DDDD:BB:SS.F\n\n"
               "Claim options:\n"
               "     --auto               Let the service pick an available device\n"
               "     --live, --no-live    Attach to the running domain (default: if running)\n"
               "     --config, --no-config\n"
               "                          Attach to the persistent definition (default: if\n"
               "                          persistent)\n"
               "     --numa-node=N        With --auto: a device on NUMA node N\n"
               "     --pf=ADDR            With --auto: a device below this physical function\n"
               "     --numa-policy=P      With --auto: required, preferred (default) or none\n\n"
               "Release options:\n"
               "     --force              Drop the claim even if the domain or device is gone\n\n"
               "Create options:\n"
               "     --mac=MAC            MAC address of the new device\n"
               "     --mtu=N              MTU of the new device\n"
               "     --max-queue-pairs=N  Maximum number of queue pairs\n\n"
               "See the vdpactl(1) man page for details and exit codes.\n",
               VDPA_BUS_NAME);
}

static const Verb verbs[] = {
        { "list",            0, 0, 0,                        verb_list },
        { "show",            1, 1, 0,                        verb_show },
        { "status",          0, 0, 0,                        verb_status },
        { "xml",             1, 1, OPTS_IFACE,               verb_xml },
        { "claim",           1, 2, OPTS_IFACE | OPTS_CLAIM,  verb_claim, check_claim },
        { "release",         1, 1, OPTS_RELEASE,             verb_release },
        { "check-migration", 1, 1, 0,                        verb_check_migration },
        { "monitor",         0, 0, 0,                        verb_monitor },
        { "mgmtdev",         0, 1, 0,                        verb_mgmtdev, check_mgmtdev },
        { "create",          1, 2, OPTS_CREATE,              verb_create, check_create },
        { "delete",          1, 1, 0,                        verb_delete },
        { "provision",       0, 1, 0,                        verb_provision, check_provision },
};

static bool parse_u32(const char *opt, const char *s, guint32 *ret) {
        guint64 v;

        if (!g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT32, &v, NULL)) {
                usage_error("%s takes a non-negative integer, not '%s'", opt, s);
                return false;
        }
        *ret = (guint32) v;
        return true;
}

static bool parse_u16(const char *opt, const char *s, guint16 *ret) {
        guint64 v;

        if (!g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT16, &v, NULL)) {
                usage_error("%s takes a non-negative integer up to %u, not '%s'", opt, G_MAXUINT16, s);
                return false;
        }
        *ret = (guint16) v;
        return true;
}

/* Records option NAME (a string literal) as given; GROUPS are the option
 * groups (OPTS_*) it belongs to. */
static void note_opt(Args *a, unsigned groups, const char *name) {
        for (size_t i = 0; i < a->n_given; i++)
                if (g_str_equal(a->given[i].name, name))
                        return;
        g_assert(a->n_given < G_N_ELEMENTS(a->given));
        a->given[a->n_given++] = (GivenOpt) { .name = name, .groups = groups };
}

/* Returns -1 to go on, else the exit code. */
static int parse_argv(int argc, char *argv[], Args *a) {
        enum {
                ARG_VERSION = 0x100,
                ARG_BUS_ADDRESS,
                ARG_JSON,
                ARG_NO_LEGEND,
                ARG_NO_ASK_PASSWORD,
                ARG_MAC,
                ARG_QUEUES,
                ARG_PAGE_PER_VQ,
                ARG_NO_PAGE_PER_VQ,
                ARG_ALIAS,
                ARG_BOOT_ORDER,
                ARG_GUEST_ADDRESS,
                ARG_AUTO,
                ARG_LIVE,
                ARG_NO_LIVE,
                ARG_CONFIG,
                ARG_NO_CONFIG,
                ARG_NUMA_NODE,
                ARG_PF,
                ARG_NUMA_POLICY,
                ARG_FORCE,
                ARG_MTU,
                ARG_MAX_QUEUE_PAIRS,
        };
        static const struct option options[] = {
                { "help",            no_argument,       NULL, 'h'                 },
                { "version",         no_argument,       NULL, ARG_VERSION         },
                { "bus-address",     required_argument, NULL, ARG_BUS_ADDRESS     },
                { "json",            optional_argument, NULL, ARG_JSON            },
                { "no-legend",       no_argument,       NULL, ARG_NO_LEGEND       },
                { "no-ask-password", no_argument,       NULL, ARG_NO_ASK_PASSWORD },
                { "mac",             required_argument, NULL, ARG_MAC             },
                { "queues",          required_argument, NULL, ARG_QUEUES          },
                { "page-per-vq",     no_argument,       NULL, ARG_PAGE_PER_VQ     },
                { "no-page-per-vq",  no_argument,       NULL, ARG_NO_PAGE_PER_VQ  },
                { "alias",           required_argument, NULL, ARG_ALIAS           },
                { "boot-order",      required_argument, NULL, ARG_BOOT_ORDER      },
                { "guest-address",   required_argument, NULL, ARG_GUEST_ADDRESS   },
                { "auto",            no_argument,       NULL, ARG_AUTO            },
                { "live",            no_argument,       NULL, ARG_LIVE            },
                { "no-live",         no_argument,       NULL, ARG_NO_LIVE         },
                { "config",          no_argument,       NULL, ARG_CONFIG          },
                { "no-config",       no_argument,       NULL, ARG_NO_CONFIG       },
                { "numa-node",       required_argument, NULL, ARG_NUMA_NODE       },
                { "pf",              required_argument, NULL, ARG_PF              },
                { "numa-policy",     required_argument, NULL, ARG_NUMA_POLICY     },
                { "force",           no_argument,       NULL, ARG_FORCE           },
                { "mtu",             required_argument, NULL, ARG_MTU             },
                { "max-queue-pairs", required_argument, NULL, ARG_MAX_QUEUE_PAIRS },
                {}
        };
        int c;

        /* Our own messages, naming the program "vdpactl" whatever argv[0]. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case ARG_VERSION:
                        printf("vdpactl %s\n", PACKAGE_VERSION);
                        return EXIT_OK;
                case ARG_BUS_ADDRESS:
                        g_free(a->bus_address);
                        a->bus_address = g_strdup(optarg);
                        break;
                case ARG_JSON:
                        if (!optarg)
                                a->json = isatty(STDOUT_FILENO) ? JSON_PRETTY : JSON_SHORT;
                        else if (g_str_equal(optarg, "short"))
                                a->json = JSON_SHORT;
                        else if (g_str_equal(optarg, "pretty"))
                                a->json = JSON_PRETTY;
                        else
                                return usage_error("--json takes 'short' or 'pretty', not '%s'", optarg);
                        break;
                case ARG_NO_LEGEND:
                        a->legend = false;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        a->ask_password = false;
                        break;
                case ARG_MAC:
                        g_free(a->mac);
                        a->mac = g_strdup(optarg);
                        note_opt(a, OPTS_IFACE | OPTS_CREATE, "--mac");
                        break;
                case ARG_QUEUES:
                        if (!parse_u32("--queues", optarg, &a->queues))
                                return EXIT_USAGE;
                        a->has_queues = true;
                        note_opt(a, OPTS_IFACE, "--queues");
                        break;
                case ARG_PAGE_PER_VQ:
                case ARG_NO_PAGE_PER_VQ:
                        a->page_per_vq = c == ARG_PAGE_PER_VQ;
                        note_opt(a, OPTS_IFACE, c == ARG_PAGE_PER_VQ ? "--page-per-vq" : "--no-page-per-vq");
                        break;
                case ARG_ALIAS:
                        g_free(a->alias);
                        a->alias = g_strdup(optarg);
                        note_opt(a, OPTS_IFACE, "--alias");
                        break;
                case ARG_BOOT_ORDER:
                        if (!parse_u32("--boot-order", optarg, &a->boot_order))
                                return EXIT_USAGE;
                        a->has_boot_order = true;
                        note_opt(a, OPTS_IFACE, "--boot-order");
                        break;
                case ARG_GUEST_ADDRESS:
                        g_free(a->guest_address);
                        a->guest_address = g_strdup(optarg);
                        note_opt(a, OPTS_IFACE, "--guest-address");
                        break;
                case ARG_AUTO:
                        a->auto_pick = true;
                        note_opt(a, OPTS_CLAIM, "--auto");
                        break;
                case ARG_LIVE:
                case ARG_NO_LIVE:
                        a->live = c == ARG_LIVE;
                        note_opt(a, OPTS_CLAIM, c == ARG_LIVE ? "--live" : "--no-live");
                        break;
                case ARG_CONFIG:
                case ARG_NO_CONFIG:
                        a->config = c == ARG_CONFIG;
                        note_opt(a, OPTS_CLAIM, c == ARG_CONFIG ? "--config" : "--no-config");
                        break;
                case ARG_NUMA_NODE: {
                        gint64 v;

                        if (!g_ascii_string_to_signed(optarg, 10, G_MININT32, G_MAXINT32, &v, NULL))
                                return usage_error("--numa-node takes an integer, not '%s'", optarg);
                        a->numa_node = (gint32) v;
                        a->has_numa_node = true;
                        note_opt(a, OPTS_CLAIM, "--numa-node");
                        if (!a->first_pick_opt)
                                a->first_pick_opt = "--numa-node";
                        break;
                }
                case ARG_PF:
                        g_free(a->pf);
                        a->pf = g_strdup(optarg);
                        note_opt(a, OPTS_CLAIM, "--pf");
                        if (!a->first_pick_opt)
                                a->first_pick_opt = "--pf";
                        break;
                case ARG_NUMA_POLICY:
                        g_free(a->numa_policy);
                        a->numa_policy = g_strdup(optarg);
                        note_opt(a, OPTS_CLAIM, "--numa-policy");
                        if (!a->first_pick_opt)
                                a->first_pick_opt = "--numa-policy";
                        break;
                case ARG_FORCE:
                        a->force = true;
                        note_opt(a, OPTS_RELEASE, "--force");
                        break;
                case ARG_MTU:
                        if (!parse_u16("--mtu", optarg, &a->mtu))
                                return EXIT_USAGE;
                        a->has_mtu = true;
                        note_opt(a, OPTS_CREATE, "--mtu");
                        break;
                case ARG_MAX_QUEUE_PAIRS:
                        if (!parse_u16("--max-queue-pairs", optarg, &a->max_queue_pairs))
                                return EXIT_USAGE;
                        a->has_max_queue_pairs = true;
                        note_opt(a, OPTS_CREATE, "--max-queue-pairs");
                        break;
                case ':':
                        return usage_error("option '%s' needs an argument", argv[optind - 1]);
                case '?':
                        if (optopt > 0 && optopt < 0x100)
                                return usage_error("unknown option '-%c'", optopt);
                        return usage_error("unknown option '%s'", argv[optind - 1]);
                default:
                        g_assert_not_reached();
                }
        }
        return -1;
}

/* What a verb with too few arguments needs, for its usage message. */
static const char *verb_needs(const Verb *v) {
        if (g_str_equal(v->name, "claim"))
                return "a device and a domain, or --auto and a domain";
        if (g_str_equal(v->name, "check-migration"))
                return "a domain name";
        if (g_str_equal(v->name, "create"))
                return "a management device (and optionally a name for the new device)";
        return "a device name";
}

static int dispatch(Ctx *c, int argc, char **argv) {
        const char *name = argc > 0 ? argv[0] : "list";
        const Verb *v = NULL;
        int n_args = argc > 0 ? argc - 1 : 0;
        int r;

        for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
                if (g_str_equal(verbs[i].name, name))
                        v = &verbs[i];
        if (!v) {
                g_autofree char *shown = output_printable(name);
                return usage_error("unknown command '%s'", shown);
        }

        for (size_t i = 0; i < c->args->n_given; i++)
                if (!(v->opts & c->args->given[i].groups))
                        return usage_error("option %s does not apply to '%s'", c->args->given[i].name, v->name);

        if (n_args < v->min_args)
                return usage_error("'%s' needs %s", v->name, verb_needs(v));
        if (n_args > v->max_args) {
                g_autofree char *shown = output_printable(argv[v->max_args + 1]);
                return usage_error("unexpected argument '%s' for '%s'", shown, v->name);
        }

        if (v->check) {
                r = v->check(c->args, n_args, argc > 0 ? argv + 1 : argv);
                if (r >= 0)
                        return r;
        }

        r = connect_bus(c);
        if (r != EXIT_OK)
                return r;
        return v->run(c, n_args, argc > 0 ? argv + 1 : argv);
}

int main(int argc, char *argv[]) {
        Args a = {
                .legend = true,
                .ask_password = true,
                .page_per_vq = -1,
                .live = -1,
                .config = -1,
        };
        Ctx c = { .args = &a };
        int r;

        setlocale(LC_ALL, "");

        r = parse_argv(argc, argv, &a);
        if (r < 0)
                r = dispatch(&c, argc - optind, argv + optind);

        if (c.bus) {
                g_dbus_connection_flush_sync(c.bus, NULL, NULL);
                g_object_unref(c.bus);
        }
        args_clear(&a);
        return r;
}
