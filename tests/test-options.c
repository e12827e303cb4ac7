/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The strict option parser, table-driven: every key accepted with a good
 * value, and a table of hostile (key, signature, value) rows that must each
 * be refused with -EINVAL and a message naming the key and the rule.
 */
#include <errno.h>
#include <string.h>
#include <glib.h>

#include "macro.h"
#include "options.h"
#include "vdpa-names.h"

#define XML     VDPA_OPTION_SET_XML
#define CLAIM   VDPA_OPTION_SET_CLAIM
#define RELEASE VDPA_OPTION_SET_RELEASE

#define S(x) { .signature = "s", .s = (x) }
#define U(x) { .signature = "u", .u = (x) }
#define I(x) { .signature = "i", .i = (x) }
#define B(x) { .signature = "b", .b = (x) }
/* Non-basic variants: the bus layer skips their contents, only the
 * signature reaches the parser. */
#define T(sig) { .signature = (sig) }

typedef struct HostileCase {
        VdpaOptionSet set;
        const char *key;
        VdpaOptionValue value;
        size_t pad;          /* > 0: value.s (or the key) padded to this many bytes */
        char pad_char;
        bool pad_key;
        bool ellipsis;       /* the echoed input must have been cut short */
        bool twice;          /* give the key once with GOOD first, then the row's value */
        VdpaOptionValue good;
        const char *expect;  /* substring of the error message */
} HostileCase;

static const HostileCase hostile_cases[] = {
        /* alias: injection attempts and the character class */
        { XML, "alias", S("ua-x'/><evil/>"),  .expect = "Option 'alias' must be 'ua-' followed by 1 to 60 characters of [A-Za-z0-9_-], got 'ua-x\\'/><evil/>'" },
        { XML, "alias", S("ua-\""),           .expect = "Option 'alias' must be 'ua-' followed" },
        { XML, "alias", S("ua-&amp;"),        .expect = "Option 'alias' must be 'ua-' followed" },
        { XML, "alias", S("ua-<a>"),          .expect = "Option 'alias' must be 'ua-' followed" },
        { XML, "alias", S("ua-]]>"),          .expect = "Option 'alias' must be 'ua-' followed" },
        { XML, "alias", S("net0"),            .expect = "Option 'alias' must be 'ua-' followed" },
        { XML, "alias", S("UA-net0"),         .expect = "Option 'alias' must be 'ua-' followed" },
        { XML, "alias", S("ua-"),             .expect = "Option 'alias' must be 'ua-' followed" },
        { XML, "alias", S(""),                .expect = "Option 'alias' must be 'ua-' followed" },
        { XML, "alias", S("ua-a b"),          .expect = "Option 'alias' must be 'ua-' followed" },
        { XML, "alias", S("ua-a.b"),          .expect = "Option 'alias' must be 'ua-' followed" },
        { XML, "alias", S("ua-\xc3\xa9t\xc3\xa9"), .expect = "got 'ua-\\xc3\\xa9t\\xc3\\xa9'" },
        { XML, "alias", S("ua-a\nb"),         .expect = "Option 'alias' must not contain control characters, got \\x0a at offset 4" },
        { XML, "alias", S("ua-\x1b[31mred"),  .expect = "Option 'alias' must not contain control characters, got \\x1b" },
        { XML, "alias", S("ua-a\x7f"),        .expect = "Option 'alias' must not contain control characters, got \\x7f" },
        { XML, "alias", S("ua-"),  .pad = 64,    .pad_char = 'a', .expect = "Option 'alias' must be at most 63 bytes long, got 64" },
        { XML, "alias", S("ua-"),  .pad = 4096,  .pad_char = 'a', .expect = "Option 'alias' must be at most 63 bytes long, got 4096" },
        { XML, "alias", S("ua-"),  .pad = 65536, .pad_char = '<', .expect = "Option 'alias' must be at most 63 bytes long, got 65536" },
        { CLAIM, "alias", S("ua-x\"/><evil/>"), .expect = "Option 'alias' must be 'ua-' followed" },

        /* mac */
        { XML, "mac", S("01:00:5e:00:00:01"), .expect = "Option 'mac' must be a unicast address (multicast bit of the first octet clear), got '01:00:5e:00:00:01'" },
        { XML, "mac", S("33:33:00:00:00:01"), .expect = "multicast bit" },
        { XML, "mac", S("ff:ff:ff:ff:ff:ff"), .expect = "Option 'mac' must be a unicast address, not the broadcast address" },
        { XML, "mac", S("FF:FF:FF:FF:FF:FF"), .expect = "not the broadcast address" },
        { XML, "mac", S("00:00:00:00:00:00"), .expect = "Option 'mac' must be a unicast address, not all-zero" },
        { XML, "mac", S("52:54:00:12:34"),    .expect = "Option 'mac' must be six colon-separated hex octets (aa:bb:cc:dd:ee:ff), got '52:54:00:12:34'" },
        { XML, "mac", S("52:54:00:12:34:56:78"), .expect = "Option 'mac' must be at most 17 bytes long, got 20" },
        { XML, "mac", S("52-54-00-12-34-56"), .expect = "Option 'mac' must be six colon-separated hex octets" },
        { XML, "mac", S("52:54:00:12:34:5g"), .expect = "Option 'mac' must be six colon-separated hex octets" },
        { XML, "mac", S("5254.0012.3456"),    .expect = "Option 'mac' must be six colon-separated hex octets" },
        { XML, "mac", S(" 2:54:00:12:34:56"), .expect = "Option 'mac' must be six colon-separated hex octets" },
        { XML, "mac", S("+2:54:00:12:34:56"), .expect = "Option 'mac' must be six colon-separated hex octets" },
        { XML, "mac", S("52:54:00:1\t:34:56"), .expect = "Option 'mac' must not contain control characters, got \\x09 at offset 10" },
        { XML, "mac", S(""),                  .expect = "Option 'mac' must be six colon-separated hex octets" },
        { XML, "mac", S("52:"), .pad = 4096, .pad_char = 'f', .expect = "Option 'mac' must be at most 17 bytes long, got 4096" },
        { CLAIM, "mac", S("ff:ff:ff:ff:ff:ff"), .expect = "not the broadcast address" },

        /* queues */
        { XML, "queues", U(0),          .expect = "Option 'queues' must be between 1 and 256, got 0" },
        { XML, "queues", U(257),        .expect = "Option 'queues' must be between 1 and 256, got 257" },
        { XML, "queues", U(4294967295u), .expect = "Option 'queues' must be between 1 and 256, got 4294967295" },
        { XML, "queues", S("4"),        .expect = "Option 'queues' must have type 'u', got 's'" },
        { XML, "queues", I(4),          .expect = "Option 'queues' must have type 'u', got 'i'" },
        { XML, "queues", T("v"),        .expect = "Option 'queues' must have type 'u', got 'v'" },
        { XML, "queues", T("as"),       .expect = "Option 'queues' must have type 'u', got 'as'" },
        { XML, "queues", T("a{sv}"),    .expect = "Option 'queues' must have type 'u', got 'a{sv}'" },
        { XML, "queues", T("t"),        .expect = "Option 'queues' must have type 'u', got 't'" },
        { XML, "queues", T("q"),        .expect = "Option 'queues' must have type 'u', got 'q'" },
        { XML, "queues", T(""),         .expect = "Option 'queues' must have type 'u', got ''" },
        { XML, "queues", T(NULL),       .expect = "Option 'queues' must have type 'u', got none" },
        { CLAIM, "queues", U(0),        .expect = "Option 'queues' must be between 1 and 256, got 0" },

        /* page_per_vq */
        { XML, "page_per_vq", S("on"),  .expect = "Option 'page_per_vq' must have type 'b', got 's'" },
        { XML, "page_per_vq", U(1),     .expect = "Option 'page_per_vq' must have type 'b', got 'u'" },
        { XML, "page_per_vq", T("ab"),  .expect = "Option 'page_per_vq' must have type 'b', got 'ab'" },

        /* boot_order */
        { XML, "boot_order", U(0),      .expect = "Option 'boot_order' must be between 1 and 65535, got 0" },
        { XML, "boot_order", U(65536),  .expect = "Option 'boot_order' must be between 1 and 65535, got 65536" },
        { XML, "boot_order", U(4294967295u), .expect = "got 4294967295" },
        { XML, "boot_order", I(1),      .expect = "Option 'boot_order' must have type 'u', got 'i'" },
        { XML, "boot_order", T("(u)"),  .expect = "Option 'boot_order' must have type 'u', got '(u)'" },

        /* guest_address */
        { XML, "guest_address", S("0000:00:20.0"),  .expect = "Option 'guest_address' must be a PCI address with slot at most 0x1f, got '0000:00:20.0'" },
        { XML, "guest_address", S("0000:00:05.8"),  .expect = "Option 'guest_address' must be a PCI address with function at most 7" },
        { XML, "guest_address", S("0:0:5.0"),       .expect = "Option 'guest_address' must be a PCI address DDDD:BB:SS.F in hex, got '0:0:5.0'" },
        { XML, "guest_address", S("00:05.0"),       .expect = "must be a PCI address DDDD:BB:SS.F in hex" },
        { XML, "guest_address", S("0000:00:05.0 "), .expect = "Option 'guest_address' must be at most 12 bytes long, got 13" },
        { XML, "guest_address", S("0000:00:05.0x"), .expect = "Option 'guest_address' must be at most 12 bytes long, got 13" },
        { XML, "guest_address", S("10000:00:05.0"), .expect = "at most 12 bytes long" },
        { XML, "guest_address", S("0000:00:05:0"),  .expect = "must be a PCI address DDDD:BB:SS.F in hex" },
        { XML, "guest_address", S("0000:0x:05.0"),  .expect = "must be a PCI address DDDD:BB:SS.F in hex" },
        { XML, "guest_address", S("-000:00:05.0"),  .expect = "must be a PCI address DDDD:BB:SS.F in hex" },
        { XML, "guest_address", S("0000:00:05.\x01"), .expect = "must not contain control characters" },
        { XML, "guest_address", S(""),              .expect = "must be a PCI address DDDD:BB:SS.F in hex" },
        { XML, "guest_address", U(5),               .expect = "Option 'guest_address' must have type 's', got 'u'" },
        { XML, "guest_address", T("(qyyy)"),        .expect = "Option 'guest_address' must have type 's', got '(qyyy)'" },

        /* keys */
        { XML, "foo", S("bar"),            .expect = "Unknown option 'foo'" },
        { XML, "MAC", S("52:54:00:12:34:56"), .expect = "Unknown option 'MAC'" },
        { XML, "mac ", S("52:54:00:12:34:56"), .expect = "Unknown option 'mac '" },
        { XML, "foo\x01" "bar", S("x"),    .expect = "Unknown option 'foo\\x01bar'" },
        { XML, "x'/><evil/>", S("x"),      .expect = "Unknown option 'x\\'/><evil/>'" },
        { XML, "",    S("x"),              .expect = "Unknown option ''" },
        { XML, "k",   S("x"), .pad = 4096, .pad_char = 'k', .pad_key = true, .ellipsis = true, .expect = "Unknown option 'kkkkkkkk" },
        { XML, "\xff", S("x"), .pad = 4096, .pad_char = '\xff', .pad_key = true, .ellipsis = true,
          .expect = "Unknown option '\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff…'" },
        { XML, "live",        B(true),     .expect = "Option 'live' is not accepted by BuildInterfaceXml" },
        { XML, "config",      B(true),     .expect = "Option 'config' is not accepted by BuildInterfaceXml" },
        { XML, "numa_node",   I(0),        .expect = "Option 'numa_node' is not accepted by BuildInterfaceXml" },
        { XML, "numa_policy", S("none"),   .expect = "Option 'numa_policy' is not accepted by BuildInterfaceXml" },
        { XML, "physical_function", S("0000:04:00.0"), .expect = "Option 'physical_function' is not accepted by BuildInterfaceXml" },
        { XML, "force",       B(true),     .expect = "Option 'force' is not accepted by BuildInterfaceXml" },
        { CLAIM, "force",     B(true),     .expect = "Option 'force' is not accepted by Claim" },
        { RELEASE, "mac",     S("52:54:00:12:34:56"), .expect = "Option 'mac' is not accepted by Release" },
        { RELEASE, "live",    B(true),     .expect = "Option 'live' is not accepted by Release" },
        { 0, "mac",           S("52:54:00:12:34:56"), .expect = "Invalid option set 0x0" },
        { XML | CLAIM, "mac", S("52:54:00:12:34:56"), .expect = "Invalid option set 0x3" },

        /* Claim-only keys */
        { CLAIM, "numa_policy", S("bogus"),    .expect = "Option 'numa_policy' must be one of 'required', 'preferred', 'none', got 'bogus'" },
        { CLAIM, "numa_policy", S("Required"), .expect = "Option 'numa_policy' must be one of" },
        { CLAIM, "numa_policy", S(""),         .expect = "Option 'numa_policy' must be one of" },
        { CLAIM, "numa_policy", S("none\x1b"), .expect = "Option 'numa_policy' must not contain control characters" },
        { CLAIM, "numa_node", I(-1),           .expect = "Option 'numa_node' must be between 0 and 1023, got -1" },
        { CLAIM, "numa_node", I(G_MININT32),   .expect = "got -2147483648" },
        { CLAIM, "numa_node", I(1024),         .expect = "Option 'numa_node' must be between 0 and 1023, got 1024" },
        { CLAIM, "numa_node", U(0),            .expect = "Option 'numa_node' must have type 'i', got 'u'" },
        { CLAIM, "numa_node", T("x"),          .expect = "Option 'numa_node' must have type 'i', got 'x'" },
        { CLAIM, "physical_function", S("0000:04:00"),      .expect = "Option 'physical_function' must be a PCI address DDDD:BB:SS.F in hex" },
        { CLAIM, "physical_function", S("0000:04:00.0;rm"), .expect = "Option 'physical_function' must be at most 12 bytes long, got 15" },
        { CLAIM, "physical_function", S("0000:04:00.9"),    .expect = "with function at most 7" },
        { CLAIM, "live",   S("true"),          .expect = "Option 'live' must have type 'b', got 's'" },
        { CLAIM, "config", T("v"),             .expect = "Option 'config' must have type 'b', got 'v'" },
        { RELEASE, "force", I(1),              .expect = "Option 'force' must have type 'b', got 'i'" },
        { RELEASE, "force", T("ab"),           .expect = "Option 'force' must have type 'b', got 'ab'" },

        /* a hostile signature is echoed bounded, too */
        { XML, "queues", T("a{sa{sa{sa{sa{sa{sa{sa{sa{sa{sa{sa{sa{sa{sa{sa{sa{sa{sv}}}}}}}}}}}}}}}}}}"),
          .ellipsis = true, .expect = "Option 'queues' must have type 'u', got 'a{sa{sa{s" },

        /* duplicates, each first given once with a good value */
        { XML, "mac", S("52:54:00:12:34:56"), .twice = true, .good = S("52:54:00:12:34:56"), .expect = "Option 'mac' given twice" },
        { XML, "queues", U(2), .twice = true, .good = U(2), .expect = "Option 'queues' given twice" },
        { CLAIM, "live", B(false), .twice = true, .good = B(true), .expect = "Option 'live' given twice" },
        { RELEASE, "force", B(true), .twice = true, .good = B(true), .expect = "Option 'force' given twice" },
};

static bool message_is_tame(const char *m) {
        if (strlen(m) > 256 || !g_utf8_validate(m, -1, NULL))
                return false;
        for (const char *p = m; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

static void test_hostile(gconstpointer data) {
        const HostileCase *c = data;
        g_autofree char *padded = NULL, *errmsg = NULL;
        VdpaOptionValue v = c->value;
        const char *key = c->key;
        VdpaOptions o;
        int r;

        if (c->pad > 0) {
                const char *prefix = c->pad_key ? key : v.s;

                padded = g_malloc(c->pad + 1);
                memset(padded, c->pad_char, c->pad);
                padded[c->pad] = 0;
                memcpy(padded, prefix, strlen(prefix));
                if (prefix == key)
                        key = padded;
                else
                        v.s = padded;
        }

        vdpa_options_init(&o);

        if (c->twice) {
                g_autofree char *first = NULL;

                r = vdpa_options_set(&o, c->set, key, &c->good, &first);
                g_assert_no_errno(r);
                g_assert_null(first);
        }

        r = vdpa_options_set(&o, c->set, key, &v, &errmsg);
        g_assert_cmpint(r, ==, -EINVAL);
        g_assert_nonnull(errmsg);
        if (!strstr(errmsg, c->expect))
                g_error("message \"%s\" lacks \"%s\"", errmsg, c->expect);
        g_assert_true(message_is_tame(errmsg));
        if (c->ellipsis)
                g_assert_nonnull(strstr(errmsg, "…'"));

        vdpa_options_clear(&o);
}

/* What a key stored, spelled for comparison. */
static char *describe(const VdpaOptions *o, const char *key) {
        const VdpaPciAddress *a = &o->iface.guest_address;

        if (streq_ptr(key, VDPA_OPT_MAC))
                return g_strdup(o->iface.mac);
        if (streq_ptr(key, VDPA_OPT_QUEUES))
                return g_strdup_printf("%u", o->iface.queues);
        if (streq_ptr(key, VDPA_OPT_PAGE_PER_VQ))
                return g_strdup_printf("%d", o->iface.page_per_vq);
        if (streq_ptr(key, VDPA_OPT_ALIAS))
                return g_strdup(o->iface.alias);
        if (streq_ptr(key, VDPA_OPT_BOOT_ORDER))
                return g_strdup_printf("%u", o->iface.boot_order);
        if (streq_ptr(key, VDPA_OPT_GUEST_ADDRESS))
                return o->iface.has_guest_address ?
                        g_strdup_printf("%04x:%02x:%02x.%x", a->domain, a->bus, a->slot, a->function) : NULL;
        if (streq_ptr(key, VDPA_OPT_LIVE))
                return g_strdup_printf("%d", o->live);
        if (streq_ptr(key, VDPA_OPT_CONFIG))
                return g_strdup_printf("%d", o->config);
        if (streq_ptr(key, VDPA_OPT_NUMA_NODE))
                return o->has_numa_node ? g_strdup_printf("%d", o->numa_node) : NULL;
        if (streq_ptr(key, VDPA_OPT_PHYSICAL_FUNCTION))
                return g_strdup(o->physical_function);
        if (streq_ptr(key, VDPA_OPT_NUMA_POLICY))
                return g_strdup(vdpa_numa_policy_to_string(o->numa_policy));
        if (streq_ptr(key, VDPA_OPT_FORCE))
                return g_strdup_printf("%d", o->force);
        g_assert_not_reached();
}

typedef struct GoodCase {
        VdpaOptionSet set;
        const char *key;
        VdpaOptionValue value;
        const char *expect;  /* describe() after the call */
} GoodCase;

static const GoodCase good_cases[] = {
        { XML, "mac", S("52:54:00:AB:cd:EF"),   "52:54:00:ab:cd:ef" },
        { XML, "mac", S("02:00:00:00:00:01"),   "02:00:00:00:00:01" },  /* locally administered */
        { XML, "mac", S("fe:ff:ff:ff:ff:ff"),   "fe:ff:ff:ff:ff:ff" },
        { CLAIM, "mac", S("00:00:00:00:00:01"), "00:00:00:00:00:01" },
        { XML, "queues", U(1),                  "1" },
        { XML, "queues", U(256),                "256" },
        { CLAIM, "queues", U(8),                "8" },
        { XML, "page_per_vq", B(true),          "1" },
        { XML, "page_per_vq", B(false),         "0" },
        { CLAIM, "page_per_vq", B(true),        "1" },
        { XML, "alias", S("ua-net0"),           "ua-net0" },
        { XML, "alias", S("ua-A_b-9"),          "ua-A_b-9" },
        { XML, "alias", S("ua-x"),              "ua-x" },
        { XML, "alias", S("ua-123456789012345678901234567890123456789012345678901234567890"),
                        "ua-123456789012345678901234567890123456789012345678901234567890" },
        { CLAIM, "alias", S("ua-vdpa"),         "ua-vdpa" },
        { XML, "boot_order", U(1),              "1" },
        { XML, "boot_order", U(65535),          "65535" },
        { CLAIM, "boot_order", U(2),            "2" },
        { XML, "guest_address", S("0000:00:05.0"), "0000:00:05.0" },
        { XML, "guest_address", S("FFFF:FF:1F.7"), "ffff:ff:1f.7" },
        { CLAIM, "guest_address", S("0001:a0:00.3"), "0001:a0:00.3" },
        { CLAIM, "live", B(true),               "1" },
        { CLAIM, "live", B(false),              "0" },
        { CLAIM, "config", B(true),             "1" },
        { CLAIM, "config", B(false),            "0" },
        { CLAIM, "numa_node", I(0),             "0" },
        { CLAIM, "numa_node", I(1023),          "1023" },
        { CLAIM, "physical_function", S("0000:AF:00.1"), "0000:af:00.1" },
        { CLAIM, "numa_policy", S("required"),  "required" },
        { CLAIM, "numa_policy", S("preferred"), "preferred" },
        { CLAIM, "numa_policy", S("none"),      "none" },
        { RELEASE, "force", B(true),            "1" },
        { RELEASE, "force", B(false),           "0" },
};

static void test_good(gconstpointer data) {
        const GoodCase *c = data;
        g_autofree char *errmsg = NULL, *got = NULL;
        VdpaOptions o;

        vdpa_options_init(&o);
        g_assert_no_errno(vdpa_options_set(&o, c->set, c->key, &c->value, &errmsg));
        g_assert_null(errmsg);

        got = describe(&o, c->key);
        g_assert_cmpstr(got, ==, c->expect);
        vdpa_options_clear(&o);
}

static void test_defaults(void) {
        VdpaOptions o;

        vdpa_options_init(&o);
        g_assert_null(o.iface.mac);
        g_assert_cmpuint(o.iface.queues, ==, 0);
        g_assert_cmpint(o.iface.page_per_vq, ==, -1);
        g_assert_null(o.iface.alias);
        g_assert_cmpuint(o.iface.boot_order, ==, 0);
        g_assert_false(o.iface.has_guest_address);
        g_assert_cmpint(o.live, ==, -1);
        g_assert_cmpint(o.config, ==, -1);
        g_assert_false(o.has_numa_node);
        g_assert_null(o.physical_function);
        g_assert_cmpint(o.numa_policy, ==, VDPA_NUMA_POLICY_PREFERRED);
        g_assert_false(o.force);
        g_assert_cmpuint(o.seen, ==, 0);

        /* clear() leaves a reusable, initialised struct */
        vdpa_options_clear(&o);
        g_assert_cmpint(o.iface.page_per_vq, ==, -1);
        vdpa_options_clear(NULL);
}

/* Every Claim key together: one struct carries them all. */
static void test_claim_all(void) {
        static const struct {
                const char *key;
                VdpaOptionValue v;
        } all[] = {
                { "mac", S("52:54:00:00:00:07") },
                { "queues", U(4) },
                { "page_per_vq", B(true) },
                { "alias", S("ua-net7") },
                { "boot_order", U(3) },
                { "guest_address", S("0000:01:02.3") },
                { "live", B(true) },
                { "config", B(false) },
                { "numa_node", I(1) },
                { "physical_function", S("0000:04:00.0") },
                { "numa_policy", S("required") },
        };
        VdpaOptions o;

        vdpa_options_init(&o);
        for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
                g_autofree char *errmsg = NULL;

                g_assert_no_errno(vdpa_options_set(&o, CLAIM, all[i].key, &all[i].v, &errmsg));
        }
        g_assert_cmpstr(o.iface.mac, ==, "52:54:00:00:00:07");
        g_assert_cmpuint(o.iface.queues, ==, 4);
        g_assert_cmpint(o.iface.page_per_vq, ==, 1);
        g_assert_cmpstr(o.iface.alias, ==, "ua-net7");
        g_assert_cmpuint(o.iface.boot_order, ==, 3);
        g_assert_true(o.iface.has_guest_address);
        g_assert_cmpuint(o.iface.guest_address.bus, ==, 1);
        g_assert_cmpuint(o.iface.guest_address.slot, ==, 2);
        g_assert_cmpuint(o.iface.guest_address.function, ==, 3);
        g_assert_cmpint(o.live, ==, 1);
        g_assert_cmpint(o.config, ==, 0);
        g_assert_true(o.has_numa_node);
        g_assert_cmpint(o.numa_node, ==, 1);
        g_assert_cmpstr(o.physical_function, ==, "0000:04:00.0");
        g_assert_cmpint(o.numa_policy, ==, VDPA_NUMA_POLICY_REQUIRED);
        vdpa_options_clear(&o);
        g_assert_null(o.iface.mac);
}

/* errmsg may be NULL: the caller only wants the verdict. */
static void test_null_errmsg(void) {
        VdpaOptionValue v = U(0);
        VdpaOptions o;

        vdpa_options_init(&o);
        g_assert_cmpint(vdpa_options_set(&o, XML, "queues", &v, NULL), ==, -EINVAL);
        g_assert_cmpint(vdpa_options_set(&o, XML, "nope", &v, NULL), ==, -EINVAL);
        g_assert_cmpint(vdpa_options_set(&o, XML, NULL, &v, NULL), ==, -EINVAL);
        g_assert_cmpint(vdpa_options_set(&o, XML, "queues", NULL, NULL), ==, -EINVAL);
        v = (VdpaOptionValue) { .signature = "s", .s = NULL };
        g_assert_cmpint(vdpa_options_set(&o, XML, "alias", &v, NULL), ==, -EINVAL);
        vdpa_options_clear(&o);
}

static void test_validators(void) {
        g_autofree char *mac = NULL;
        VdpaPciAddress a;

        g_assert_no_errno(vdpa_mac_parse("52:54:00:AA:bb:0C", &mac));
        g_assert_cmpstr(mac, ==, "52:54:00:aa:bb:0c");
        g_assert_no_errno(vdpa_mac_parse("02:00:00:00:00:00", NULL));
        g_assert_cmpint(vdpa_mac_parse("03:00:00:00:00:00", NULL), ==, -EINVAL);
        g_assert_cmpint(vdpa_mac_parse("00:00:00:00:00:00", NULL), ==, -EINVAL);
        g_assert_cmpint(vdpa_mac_parse(NULL, NULL), ==, -EINVAL);
        g_assert_cmpint(vdpa_mac_parse("52:54:00:aa:bb:0c:", NULL), ==, -EINVAL);

        g_assert_no_errno(vdpa_alias_validate("ua-a"));
        g_assert_cmpint(vdpa_alias_validate("ua-"), ==, -EINVAL);
        g_assert_cmpint(vdpa_alias_validate("ua-1234567890123456789012345678901234567890123456789012345678901"), ==, -EINVAL);
        g_assert_cmpint(vdpa_alias_validate(NULL), ==, -EINVAL);

        g_assert_no_errno(vdpa_pci_address_parse("abcd:ef:1f.7", &a));
        g_assert_cmpuint(a.domain, ==, 0xabcd);
        g_assert_cmpuint(a.bus, ==, 0xef);
        g_assert_cmpuint(a.slot, ==, 0x1f);
        g_assert_cmpuint(a.function, ==, 7);
        g_assert_cmpint(vdpa_pci_address_parse("abcd:ef:1f.7\n", &a), ==, -EINVAL);
        g_assert_cmpint(vdpa_pci_address_parse(NULL, &a), ==, -EINVAL);

        g_assert_cmpstr(vdpa_numa_policy_to_string(VDPA_NUMA_POLICY_NONE), ==, "none");
        g_assert_null(vdpa_numa_policy_to_string((VdpaNumaPolicy) 42));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        /* The acceptance: at least 40 hostile rows. */
        g_assert_cmpuint(G_N_ELEMENTS(hostile_cases), >=, 40);

        for (size_t i = 0; i < G_N_ELEMENTS(hostile_cases); i++) {
                g_autofree char *name = g_strdup_printf("/options/hostile/%03zu", i);

                g_test_add_data_func(name, hostile_cases + i, test_hostile);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(good_cases); i++) {
                g_autofree char *name = g_strdup_printf("/options/good/%03zu-%s", i, good_cases[i].key);

                g_test_add_data_func(name, good_cases + i, test_good);
        }
        g_test_add_func("/options/defaults", test_defaults);
        g_test_add_func("/options/claim-all", test_claim_all);
        g_test_add_func("/options/null-errmsg", test_null_errmsg);
        g_test_add_func("/options/validators", test_validators);

        return g_test_run();
}
