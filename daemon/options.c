/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one strict parser for the a{sv} options of BuildInterfaceXml, Claim
 * and Release.  Every key is described once, in option_table[]: its D-Bus
 * signature, the methods that accept it and how its value is checked and
 * stored.  Error messages name the key and the rule; any piece of caller
 * input echoed back is bounded and escaped (see escape_for_message()).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "macro.h"
#include "options.h"
#include "vdpa-names.h"

/* Longest piece of caller input ever echoed back in a message, escaped. */
#define ECHO_MAX 64

/* libvirt stores <boot order> as unsigned int and accepts 1..UINT_MAX, but
 * QEMU's bootindex is an int32; no guest has anywhere near this many boot
 * devices, so keep well inside both. */
#define BOOT_ORDER_MAX 65535

/* Linux caps NODES_SHIFT at 10 (MAX_NUMNODES 1024). */
#define NUMA_NODE_MAX 1023

#define QUEUES_MAX 256

/* "ua-" and at most 60 characters of [A-Za-z0-9_-]. */
#define ALIAS_PREFIX "ua-"
#define ALIAS_BODY_MAX 60

#define SETS_IFACE (VDPA_OPTION_SET_XML | VDPA_OPTION_SET_CLAIM)

typedef struct OptionDef OptionDef;
typedef int (*OptionStore)(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg);

struct OptionDef {
        const char *name;
        const char *signature;  /* "s", "u", "q", "i" or "b" */
        VdpaOptionSet sets;     /* the methods accepting this key */
        OptionStore store;
        int64_t min, max;       /* integers: inclusive range */
        size_t max_len;         /* strings: longest value accepted, in bytes */
};

static int store_mac(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg);
static int store_alias(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg);
static int store_guest_address(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg);
static int store_physical_function(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg);
static int store_numa_policy(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg);
static int store_uint(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg);
static int store_int(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg);
static int store_bool(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg);
static int store_uint16(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg);

static const OptionDef option_table[] = {
        { VDPA_OPT_MAC,               "s", SETS_IFACE | VDPA_OPTION_SET_CREATE, store_mac,   .max_len = 17 },
        { VDPA_OPT_QUEUES,            "u", SETS_IFACE,              store_uint,              1, QUEUES_MAX },
        { VDPA_OPT_PAGE_PER_VQ,       "b", SETS_IFACE,              store_bool },
        { VDPA_OPT_ALIAS,             "s", SETS_IFACE,              store_alias,             .max_len = 3 + ALIAS_BODY_MAX },
        { VDPA_OPT_BOOT_ORDER,        "u", SETS_IFACE,              store_uint,              1, BOOT_ORDER_MAX },
        { VDPA_OPT_GUEST_ADDRESS,     "s", SETS_IFACE,              store_guest_address,     .max_len = 12 },
        { VDPA_OPT_LIVE,              "b", VDPA_OPTION_SET_CLAIM,   store_bool },
        { VDPA_OPT_CONFIG,            "b", VDPA_OPTION_SET_CLAIM,   store_bool },
        { VDPA_OPT_NUMA_NODE,         "i", VDPA_OPTION_SET_CLAIM,   store_int,               0, NUMA_NODE_MAX },
        { VDPA_OPT_PHYSICAL_FUNCTION, "s", VDPA_OPTION_SET_CLAIM,   store_physical_function, .max_len = 12 },
        { VDPA_OPT_NUMA_POLICY,       "s", VDPA_OPTION_SET_CLAIM,   store_numa_policy,       .max_len = 9 },
        { VDPA_OPT_FORCE,             "b", VDPA_OPTION_SET_RELEASE, store_bool },
        /* The kernel's own floor for an MTU (ETH_MIN_MTU, its DEV_NEW policy). */
        { VDPA_OPT_MTU,               "q", VDPA_OPTION_SET_CREATE,  store_uint16,            68, UINT16_MAX },
        { VDPA_OPT_MAX_QUEUE_PAIRS,   "q", VDPA_OPTION_SET_CREATE,  store_uint16,            1, UINT16_MAX },
};

G_STATIC_ASSERT(ELEMENTSOF(option_table) <= sizeof(guint) * 8);

static const char *const numa_policy_table[] = {
        [VDPA_NUMA_POLICY_PREFERRED] = "preferred",
        [VDPA_NUMA_POLICY_REQUIRED]  = "required",
        [VDPA_NUMA_POLICY_NONE]      = "none",
};

const char *vdpa_numa_policy_to_string(VdpaNumaPolicy p) {
        if ((size_t) p >= ELEMENTSOF(numa_policy_table))
                return NULL;
        return numa_policy_table[p];
}

static const char *set_to_method(VdpaOptionSet set) {
        switch (set) {
        case VDPA_OPTION_SET_XML:
                return "BuildInterfaceXml";
        case VDPA_OPTION_SET_CLAIM:
                return "Claim";
        case VDPA_OPTION_SET_RELEASE:
                return "Release";
        case VDPA_OPTION_SET_CREATE:
                return "CreateDevice";
        case VDPA_OPTION_SET_DELETE:
                return "DeleteDevice";
        }
        return NULL;
}

/* Caller input made safe to quote: printable ASCII as is, everything else
 * (and the quote and backslash) escaped, at most ECHO_MAX characters of
 * that, and an ellipsis when cut short. */
static char *escape_for_message(const char *s) {
        GString *out;
        const char *p;

        if (!s)
                return g_strdup("");

        out = g_string_sized_new(ECHO_MAX + 4);
        for (p = s; *p; p++) {
                unsigned char c = (unsigned char) *p;
                char piece[8];

                if (c == '\'' || c == '\\')
                        g_snprintf(piece, sizeof(piece), "\\%c", c);
                else if (c >= 0x20 && c < 0x7f)
                        g_snprintf(piece, sizeof(piece), "%c", c);
                else
                        g_snprintf(piece, sizeof(piece), "\\x%02x", c);

                if (out->len + strlen(piece) > ECHO_MAX)
                        break;
                g_string_append(out, piece);
        }
        if (*p)
                g_string_append(out, "…");

        return g_string_free(out, FALSE);
}

static int fail(char **errmsg, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int fail(char **errmsg, const char *fmt, ...) {
        va_list ap;

        if (errmsg) {
                g_free(*errmsg);
                va_start(ap, fmt);
                *errmsg = g_strdup_vprintf(fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static int fail_value(char **errmsg, const OptionDef *def, const char *rule, const char *value) {
        g_autofree char *echo = escape_for_message(value);

        return fail(errmsg, "Option '%s' must be %s, got '%s'", def->name, rule, echo);
}

/* Exactly N hex digits at S, no sign, no prefix, no whitespace (which is
 * what strtoul() would let through). */
static int parse_hex_fixed(const char *s, size_t n, unsigned *ret) {
        unsigned v = 0;

        for (size_t i = 0; i < n; i++) {
                int d = g_ascii_xdigit_value(s[i]);

                if (d < 0)
                        return -EINVAL;
                v = v << 4 | (unsigned) d;
        }
        *ret = v;
        return 0;
}

static int mac_parse_reason(const char *s, uint8_t mac[static 6], const char **reason) {
        static const uint8_t zero[6], broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

        *reason = "six colon-separated hex octets (aa:bb:cc:dd:ee:ff)";
        if (!s || strnlen(s, 18) != 17)
                return -EINVAL;

        for (size_t i = 0; i < 6; i++) {
                unsigned v;

                if (i > 0 && s[i * 3 - 1] != ':')
                        return -EINVAL;
                if (parse_hex_fixed(s + i * 3, 2, &v) < 0)
                        return -EINVAL;
                mac[i] = (uint8_t) v;
        }

        if (memcmp(mac, zero, 6) == 0) {
                *reason = "a unicast address, not all-zero";
                return -EINVAL;
        }
        if (memcmp(mac, broadcast, 6) == 0) {
                *reason = "a unicast address, not the broadcast address";
                return -EINVAL;
        }
        if (mac[0] & 0x01) {
                *reason = "a unicast address (multicast bit of the first octet clear)";
                return -EINVAL;
        }

        *reason = NULL;
        return 0;
}

int vdpa_mac_parse(const char *s, char **ret_normalised) {
        const char *reason;
        uint8_t mac[6];
        int r;

        r = mac_parse_reason(s, mac, &reason);
        if (r < 0)
                return r;

        if (ret_normalised)
                *ret_normalised = g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x",
                                                  mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
        return 0;
}

static bool alias_char_ok(char c) {
        return g_ascii_isalnum(c) || c == '_' || c == '-';
}

int vdpa_alias_validate(const char *s) {
        size_t n;

        if (!s || !g_str_has_prefix(s, ALIAS_PREFIX))
                return -EINVAL;

        s += strlen(ALIAS_PREFIX);
        n = strnlen(s, ALIAS_BODY_MAX + 1);
        if (n < 1 || n > ALIAS_BODY_MAX)
                return -EINVAL;

        for (size_t i = 0; i < n; i++)
                if (!alias_char_ok(s[i]))
                        return -EINVAL;
        return 0;
}

/* "DDDD:BB:SS.F", hex, fixed width; ranges as libvirt's
 * virPCIDeviceAddressIsValid(): slot ≤ 0x1f, function ≤ 7. */
static int pci_address_parse_reason(const char *s, VdpaPciAddress *ret, const char **reason) {
        unsigned domain, bus, slot, function;

        *reason = "a PCI address DDDD:BB:SS.F in hex";
        if (!s || strnlen(s, 13) != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.')
                return -EINVAL;
        if (parse_hex_fixed(s, 4, &domain) < 0 ||
            parse_hex_fixed(s + 5, 2, &bus) < 0 ||
            parse_hex_fixed(s + 8, 2, &slot) < 0 ||
            parse_hex_fixed(s + 11, 1, &function) < 0)
                return -EINVAL;

        if (slot > 0x1f) {
                *reason = "a PCI address with slot at most 0x1f";
                return -EINVAL;
        }
        if (function > 7) {
                *reason = "a PCI address with function at most 7";
                return -EINVAL;
        }

        *reason = NULL;
        if (ret)
                *ret = (VdpaPciAddress) {
                        .domain = (uint16_t) domain,
                        .bus = (uint8_t) bus,
                        .slot = (uint8_t) slot,
                        .function = (uint8_t) function,
                };
        return 0;
}

int vdpa_pci_address_parse(const char *s, VdpaPciAddress *ret) {
        const char *reason;

        return pci_address_parse_reason(s, ret, &reason);
}

static int store_mac(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg) {
        const char *reason;
        uint8_t mac[6];

        if (mac_parse_reason(v->s, mac, &reason) < 0)
                return fail_value(errmsg, def, reason, v->s);

        g_free(o->iface.mac);
        o->iface.mac = g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x",
                                       mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
        return 0;
}

static int store_alias(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg) {
        if (vdpa_alias_validate(v->s) < 0)
                return fail_value(errmsg, def, "'ua-' followed by 1 to 60 characters of [A-Za-z0-9_-]", v->s);

        g_free(o->iface.alias);
        o->iface.alias = g_strdup(v->s);
        return 0;
}

static int store_guest_address(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg) {
        const char *reason;

        if (pci_address_parse_reason(v->s, &o->iface.guest_address, &reason) < 0)
                return fail_value(errmsg, def, reason, v->s);

        o->iface.has_guest_address = true;
        return 0;
}

static int store_physical_function(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg) {
        const char *reason;
        VdpaPciAddress a;

        if (pci_address_parse_reason(v->s, &a, &reason) < 0)
                return fail_value(errmsg, def, reason, v->s);

        /* Normalised as sysfs spells it, so that it compares with the
         * inventory's PhysicalFunction. */
        g_free(o->physical_function);
        o->physical_function = g_strdup_printf("%04x:%02x:%02x.%x", a.domain, a.bus, a.slot, a.function);
        return 0;
}

static int store_numa_policy(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg) {
        for (size_t i = 0; i < ELEMENTSOF(numa_policy_table); i++)
                if (streq_ptr(v->s, numa_policy_table[i])) {
                        o->numa_policy = (VdpaNumaPolicy) i;
                        return 0;
                }

        return fail_value(errmsg, def, "one of 'required', 'preferred', 'none'", v->s);
}

static int store_uint(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg) {
        if ((int64_t) v->u < def->min || (int64_t) v->u > def->max)
                return fail(errmsg, "Option '%s' must be between %" PRIi64 " and %" PRIi64 ", got %" PRIu32,
                            def->name, def->min, def->max, v->u);

        if (streq_ptr(def->name, VDPA_OPT_QUEUES))
                o->iface.queues = v->u;
        else if (streq_ptr(def->name, VDPA_OPT_BOOT_ORDER))
                o->iface.boot_order = v->u;
        else
                g_assert_not_reached();
        return 0;
}

static int store_uint16(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg) {
        if ((int64_t) v->q < def->min || (int64_t) v->q > def->max)
                return fail(errmsg, "Option '%s' must be between %" PRIi64 " and %" PRIi64 ", got %u",
                            def->name, def->min, def->max, (unsigned) v->q);

        if (streq_ptr(def->name, VDPA_OPT_MTU))
                o->mtu = v->q;
        else if (streq_ptr(def->name, VDPA_OPT_MAX_QUEUE_PAIRS))
                o->max_queue_pairs = v->q;
        else
                g_assert_not_reached();
        return 0;
}

static int store_int(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg) {
        if (v->i < def->min || v->i > def->max)
                return fail(errmsg, "Option '%s' must be between %" PRIi64 " and %" PRIi64 ", got %" PRIi32,
                            def->name, def->min, def->max, v->i);

        if (streq_ptr(def->name, VDPA_OPT_NUMA_NODE)) {
                o->has_numa_node = true;
                o->numa_node = v->i;
        } else
                g_assert_not_reached();
        return 0;
}

static int store_bool(VdpaOptions *o, const OptionDef *def, const VdpaOptionValue *v, char **errmsg) {
        if (streq_ptr(def->name, VDPA_OPT_PAGE_PER_VQ))
                o->iface.page_per_vq = v->b;
        else if (streq_ptr(def->name, VDPA_OPT_LIVE))
                o->live = v->b;
        else if (streq_ptr(def->name, VDPA_OPT_CONFIG))
                o->config = v->b;
        else if (streq_ptr(def->name, VDPA_OPT_FORCE))
                o->force = v->b;
        else
                g_assert_not_reached();
        return 0;
}

/* What every string must pass before its own rule looks at it: bounded
 * length first (so nothing scans a huge value), then no control
 * characters. */
static int check_string(const OptionDef *def, const char *s, char **errmsg) {
        size_t n;

        if (!s)
                return fail(errmsg, "Option '%s' has no value", def->name);

        n = strnlen(s, def->max_len + 1);
        if (n > def->max_len)
                return fail(errmsg, "Option '%s' must be at most %zu bytes long, got %zu",
                            def->name, def->max_len, strlen(s));

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c < 0x20 || c == 0x7f)
                        return fail(errmsg, "Option '%s' must not contain control characters, got \\x%02x at offset %zu",
                                    def->name, c, i);
        }
        return 0;
}

static const OptionDef *option_lookup(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(option_table); i++)
                if (streq_ptr(option_table[i].name, key))
                        return option_table + i;
        return NULL;
}

void vdpa_options_init(VdpaOptions *o) {
        g_assert(o);

        *o = (VdpaOptions) VDPA_OPTIONS_INIT;
}

void vdpa_options_clear(VdpaOptions *o) {
        if (!o)
                return;

        g_free(o->iface.mac);
        g_free(o->iface.alias);
        g_free(o->physical_function);
        vdpa_options_init(o);
}

int vdpa_options_set(VdpaOptions *o, VdpaOptionSet set, const char *key,
                     const VdpaOptionValue *value, char **errmsg) {
        const OptionDef *def;
        const char *method;
        guint bit;
        int r;

        g_assert(o);

        method = set_to_method(set);
        if (!method)
                return fail(errmsg, "Invalid option set 0x%x", (unsigned) set);
        if (!key)
                return fail(errmsg, "Option without a name");

        def = option_lookup(key);
        if (!def) {
                g_autofree char *echo = escape_for_message(key);

                return fail(errmsg, "Unknown option '%s'", echo);
        }
        if (!(def->sets & set))
                return fail(errmsg, "Option '%s' is not accepted by %s", def->name, method);

        if (!value || !value->signature)
                return fail(errmsg, "Option '%s' must have type '%s', got none", def->name, def->signature);
        if (!streq_ptr(value->signature, def->signature)) {
                g_autofree char *echo = escape_for_message(value->signature);

                return fail(errmsg, "Option '%s' must have type '%s', got '%s'", def->name, def->signature, echo);
        }

        bit = 1u << (def - option_table);
        if (o->seen & bit)
                return fail(errmsg, "Option '%s' given twice", def->name);
        o->seen |= bit;

        if (def->signature[0] == 's') {
                r = check_string(def, value->s, errmsg);
                if (r < 0)
                        return r;
        }

        return def->store(o, def, value, errmsg);
}
