/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-bus: calls every method of the running vdpa-managerd with generated
 * hostile arguments and checks, batch after batch, that nothing was lost
 * and nothing changed.
 *
 * The real daemon runs on the private bus of harness.h over
 * tests/data/host.umockdev and the vdpa netlink simulator (tests/vdpa-sim.h),
 * with the real polkitd, libvirt's
 * test:///default and no CAP_NET_ADMIN (so that provisioning, authorized
 * for root, is refused by the kernel).  Methods and signatures come from the live
 * introspection data, so a method added later is fuzzed without a change
 * here.  Calls go out asynchronously on several root connections (a
 * window of them in flight), a small fraction as an unprivileged user
 * through `gdbus call`, and hotplug events under VF 0000:04:00.5 are
 * interleaved.  After each batch: the same daemon process still owns the
 * name, answers Ping and Devices(), the inventory is exactly the fixture
 * plus hotplugged minus removed devices, and no device is claimed (no Claim
 * can succeed: the fuzzer never names the one domain test:///default has).
 *
 * Every call must be answered exactly once, with an error wherever the
 * input was wrong; a timeout, a lost connection, a success for Claim,
 * Release or Properties.Set, or a reply whose signature is not the
 * introspected one, is a failure.
 *
 * Standalone (under umockdev-wrapper, with the test environment of
 * tests/meson.build):
 *   fuzz-bus [--seed=N] [--calls=N] [--seconds=S] [--batch=N]
 * As a test the call count is $VDPA_FUZZ_CALLS, or 100000, or 1000 when
 * $VDPA_TEST_DAEMON_WRAPPER is set (the daemon runs under valgrind).
 * Exit status 0 when no failure was found.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <gio/gio.h>

#include "harness.h"
#include "polkit-harness.h"
#include "testbed.h"
#include "vdpa-names.h"
#include "vdpa-sim.h"

#define N_CONNECTIONS     4
#define WINDOW            32            /* calls in flight, all connections */
#define CALL_TIMEOUT_MS   (120 * 1000)  /* generous: a lost reply is the bug */
#define HUGE_STRING_LEN   (64 * 1024)
#define HUGE_ARRAY_MAX    3000
#define MAX_VARIANT_NEST  24
#define SETTLE_MS         10000
#define MAX_PRINTED_FAILURES 50

#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"
#define PEER_IFACE       "org.freedesktop.DBus.Peer"
#define FORBIDDEN_DOMAIN "test"        /* the only domain of test:///default */
/* polkitd authorizes uid 0 for every action, rules or not: CreateDevice and
 * DeleteDevice from root go all the way to the kernel's family (the
 * simulator), which refuses them because the daemon runs without
 * CAP_NET_ADMIN here (EPERM -> AccessDenied).  The inventory stays the
 * fixture's, and any success is a failure. */

typedef struct {
        guint64 seed;
        guint64 calls;
        gint64 seconds;
        guint batch;
        guint hotplug_every;
        guint uid_permille;
} Options;

typedef struct {
        const char *interface;
        GDBusMethodInfo *method;
        char *in_sig;           /* "(...)" */
        char *out_sig;          /* "(...)" */
} Target;

typedef struct Fuzzer Fuzzer;

typedef struct {
        Fuzzer *f;
        guint64 index;
        const Target *target;
        gboolean valid_sig;     /* the body matched the in-signature */
        gboolean unknown;       /* a method that does not exist */
        char *claim_domain;     /* Claim only */
        char *body_sig;         /* what was sent, "()" for no body */
        gint64 sent_us;
} Call;

struct Fuzzer {
        Options opt;
        GRand *rand;
        UMockdevTestbed *tb;
        VdpaTestBus *bus;
        VdpaTestPolkit *polkit;
        VdpaSim *sim;           /* the kernel's vdpa netlink family */
        GDBusConnection *conns[N_CONNECTIONS];
        guint filter_ids[N_CONNECTIONS];
        GDBusConnection *check_conn;
        GDBusNodeInfo *node;
        GPtrArray *targets;     /* Target* */
        GPid daemon_pid;
        uid_t uid;
        gid_t gid;

        guint64 sent;
        guint64 answered;
        guint in_flight;
        gint replies_seen;      /* counted by the filters, in GDBus' thread */
        guint64 uid_calls;
        guint64 barriers;       /* replies to end_barrier()'s Pings, seen by the filters too */
        guint64 hotplug_events;
        guint64 batches;
        guint64 max_latency_us;
        GHashTable *outcomes;   /* "Method: error name" -> count */
        guint failures;
        gsize max_error_len;
        char *max_error_what;   /* the call that got the longest error message */
        const char *method;     /* whose arguments are being generated */

        GHashTable *expected;   /* device names the daemon must list */
        GPtrArray *real_names;  /* device names, fixture and hotplugged */
        char *huge_ascii;
        char *huge_utf8;

        /* hotplug state machine under VF5 */
        guint hp_step;
        guint hp_serial;
        char *hp_name;
};

static const char *const fixture_devices[] = {
        "blk0", "fast1", "vdpa-sim0", "vdpa0", "vdpa1", "vdpa2",
};

static const char *const hostile_strings[] = {
        "", "../", "../../../../etc/passwd", "..", ".", "/", "/dev/vhost-vdpa-0",
        "/sys/devices/pci0000:00/0000:00:02.0/0000:04:00.2/vdpa0",
        "%s%s%s%s%n", "%n%n%n%n", "%x%x%x%p", "%99999999d", "{}", "%m",
        "<evil/>", "<![CDATA[x]]>", "]]>", "&amp;&lt;&#0;", "'\"><x a='", "<!DOCTYPE x [<!ENTITY e SYSTEM '/etc/shadow'>]>",
        "vdpa0\n", " vdpa0", "vdpa0 ", "VDPA0", "vdpa0/", "vdpa0\t", "vdpa0;vdpa1",
        "\xc3\xa9t\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xf0\x9f\x99\x82\xf0\x9f\x99\x83",
        "\xe2\x80\xae" "0adpv", "\xef\xbb\xbf" "vdpa0", "\xc2\xa0", "\t\r\n\v\f", "\x1b[2J\x1b]0;x\x07", "\x7f",
        "-1", "0", "4294967296", "18446744073709551616", "1e999", "NaN", "true",
        "0000:04:00.5", "0000:04:00.0", "0000:81:00.0", "ffff:ff:1f.7", "0000:04:00", "mlx5_core.sf.4",
        "52:54:00:12:34:56", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "00:00:00:00:00:00",
        "required", "preferred", "none", "block", "allow", "auto",
        "org.vdpa.Manager", PROPERTIES_IFACE, "Version", "LibvirtUri", "LiveMigration",
        "LibvirtConnected", "Capabilities", "guest-a", "guest-b", "*", "?", "[a-z]*",
        "$(reboot)", "`id`", ";", "a\\b", "\\", "\"", "'", "net0", "ua-net0", "ua-",
        "6695eb01-f6a4-8304-79aa-97f2502e193f",
};

static const char *const option_keys[] = {
        VDPA_OPT_MAC, VDPA_OPT_QUEUES, VDPA_OPT_PAGE_PER_VQ, VDPA_OPT_ALIAS,
        VDPA_OPT_BOOT_ORDER, VDPA_OPT_GUEST_ADDRESS, VDPA_OPT_LIVE, VDPA_OPT_CONFIG,
        VDPA_OPT_NUMA_NODE, VDPA_OPT_PHYSICAL_FUNCTION, VDPA_OPT_NUMA_POLICY, VDPA_OPT_FORCE,
        "bogus", "", "MAC", "mac ", "Queues", "force\n",
};

/* The type each option really takes, for values that reach the range checks. */
static const char *option_type(const char *key) {
        static const char *const table[][2] = {
                { VDPA_OPT_MAC, "s" }, { VDPA_OPT_QUEUES, "u" }, { VDPA_OPT_PAGE_PER_VQ, "b" },
                { VDPA_OPT_ALIAS, "s" }, { VDPA_OPT_BOOT_ORDER, "u" }, { VDPA_OPT_GUEST_ADDRESS, "s" },
                { VDPA_OPT_LIVE, "b" }, { VDPA_OPT_CONFIG, "b" }, { VDPA_OPT_NUMA_NODE, "i" },
                { VDPA_OPT_PHYSICAL_FUNCTION, "s" }, { VDPA_OPT_NUMA_POLICY, "s" }, { VDPA_OPT_FORCE, "b" },
                { VDPA_OPT_MTU, "q" }, { VDPA_OPT_MAX_QUEUE_PAIRS, "q" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
                if (g_str_equal(table[i][0], key))
                        return table[i][1];
        return NULL;
}

/* Types put in variant slots: every basic type D-Bus has except h (a
 * handle without a file descriptor is refused by the bus, not the daemon),
 * and the containers the brief names. */
static const char *const variant_types[] = {
        "s", "u", "i", "b", "q", "n", "y", "x", "t", "d", "o", "g",
        "as", "a{sv}", "(su)", "v", "ay", "au", "a(ss)", "aa{sv}", "a{ss}", "(sa{sv})", "((s))",
};

static const char *const wrong_signatures[] = {
        "()", "(s)", "(u)", "(ay)", "(ss)", "(sss)", "(sa{ss})", "(sa{sv}s)", "(a{sv})",
        "(sv)", "(ssa{sv}a{sv})", "(us)", "(as)", "(ssv)", "(sa{sv})", "(ssa{sv})", "(v)",
        "(ssss)", "(o)", "(g)", "(x)", "(sas)", "(aa{sv})", "((s))",
};

static gboolean chance(Fuzzer *f, guint permille) {
        return (guint) g_rand_int_range(f->rand, 0, 1000) < permille;
}

static guint pick(Fuzzer *f, guint n) {
        return (guint) g_rand_int_range(f->rand, 0, (gint32) n);
}

static void outcome(Fuzzer *f, const char *what, const char *name) {
        g_autofree char *key = g_strdup_printf("%s: %s", what, name);
        gpointer old = g_hash_table_lookup(f->outcomes, key);

        g_hash_table_insert(f->outcomes, g_steal_pointer(&key), GUINT_TO_POINTER(GPOINTER_TO_UINT(old) + 1));
}

static void G_GNUC_PRINTF(2, 3) failure(Fuzzer *f, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        f->failures++;
        if (f->failures <= MAX_PRINTED_FAILURES)
                fprintf(stderr, "FAILURE (seed %" G_GUINT64_FORMAT "): %s\n", f->opt.seed, msg);
}

/* --- values --- */

static char *random_ascii(Fuzzer *f, guint max_len) {
        guint len = pick(f, max_len + 1);
        char *s = g_malloc(len + 1);

        /* Anything but NUL, which a D-Bus string cannot carry. */
        for (guint i = 0; i < len; i++)
                s[i] = (char) g_rand_int_range(f->rand, 1, 128);
        s[len] = '\0';
        return s;
}

static char *random_utf8(Fuzzer *f, guint max_chars) {
        guint n = pick(f, max_chars + 1);
        GString *s = g_string_sized_new(n * 4);

        for (guint i = 0; i < n; i++) {
                gunichar c;

                /* Valid scalar values only (GVariant and the bus reject the
                 * rest), and no noncharacters, which some validators refuse. */
                do
                        c = (gunichar) g_rand_int_range(f->rand, 1, 0x110000);
                while (!g_unichar_validate(c) || (c & 0xfffe) == 0xfffe || (c >= 0xfdd0 && c <= 0xfdef));
                g_string_append_unichar(s, c);
        }
        return g_string_free(s, FALSE);
}

static char *random_string(Fuzzer *f, gboolean small) {
        switch (pick(f, 10)) {
        case 0:
        case 1:
        case 2:
                return g_strdup(hostile_strings[pick(f, G_N_ELEMENTS(hostile_strings))]);
        case 3:
        case 4:
                return g_strdup(f->real_names->pdata[pick(f, f->real_names->len)]);
        case 5:
                return random_ascii(f, small ? 16 : 300);
        case 6:
                return random_utf8(f, small ? 8 : 200);
        case 7:
                if (small)
                        return random_ascii(f, 4096);
                return g_strdup(chance(f, 500) ? f->huge_ascii : f->huge_utf8);
        case 8:
                /* A real name with something hostile around it. */
                return g_strconcat(hostile_strings[pick(f, G_N_ELEMENTS(hostile_strings))],
                                   (const char *) f->real_names->pdata[pick(f, f->real_names->len)],
                                   hostile_strings[pick(f, G_N_ELEMENTS(hostile_strings))], NULL);
        default:
                return g_strdup(option_keys[pick(f, G_N_ELEMENTS(option_keys))]);
        }
}

static char *random_object_path(Fuzzer *f) {
        static const char *const fixed[] = { "/", "/org/vdpa/Manager", "/org/vdpa/Manager/vdpa0", "/_/_" };
        GString *s;
        guint n;

        if (chance(f, 500))
                return g_strdup(fixed[pick(f, G_N_ELEMENTS(fixed))]);
        s = g_string_new(NULL);
        n = 1 + pick(f, 6);
        for (guint i = 0; i < n; i++) {
                static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
                guint len = 1 + pick(f, 12);

                g_string_append_c(s, '/');
                for (guint j = 0; j < len; j++)
                        g_string_append_c(s, alphabet[pick(f, sizeof(alphabet) - 1)]);
        }
        return g_string_free(s, FALSE);
}

static GVariant *random_value(Fuzzer *f, const GVariantType *type, guint depth, gboolean small);

static GVariant *random_variant(Fuzzer *f, guint depth, gboolean small) {
        const char *t;

        /* Deeply nested variants, bounded below what the bus accepts. */
        if (chance(f, 30)) {
                GVariant *v = g_variant_new_string("bottom");
                guint n = 2 + pick(f, MAX_VARIANT_NEST - 1);

                for (guint i = 0; i < n; i++)
                        v = g_variant_new_variant(v);
                return v;
        }
        t = variant_types[pick(f, depth >= 3 ? 12 : G_N_ELEMENTS(variant_types))];
        return random_value(f, G_VARIANT_TYPE(t), depth + 1, small);
}

static GVariant *random_options(Fuzzer *f, guint depth, gboolean small);

static GVariant *random_basic(Fuzzer *f, const GVariantType *type, gboolean small) {
        static const guint32 u32[] = { 0, 1, 2, 4, 8, 256, 257, 65535, 65536, G_MAXINT32, G_MAXUINT32 };
        static const gint32 i32[] = { 0, 1, -1, 2, G_MININT32, G_MAXINT32, 255, -2 };
        static const double dbl[] = { 0.0, -0.0, 1.5, -1e308, 1e308, 4.9e-324 };
        static const char *const sigs[] = { "", "s", "a{sv}", "(susa{sv})", "aaaai", "v", "h", "a(ss)" };
        char c = g_variant_type_peek_string(type)[0];

        switch (c) {
        case 'b':
                return g_variant_new_boolean(chance(f, 500));
        case 'y':
                return g_variant_new_byte((guint8) pick(f, 256));
        case 'n':
                return g_variant_new_int16((gint16) g_rand_int_range(f->rand, G_MININT16, G_MAXINT16 + 1));
        case 'q':
                return g_variant_new_uint16((guint16) pick(f, 65536));
        case 'i':
                return g_variant_new_int32(chance(f, 600) ? i32[pick(f, G_N_ELEMENTS(i32))] : (gint32) g_rand_int(f->rand));
        case 'u':
                return g_variant_new_uint32(chance(f, 600) ? u32[pick(f, G_N_ELEMENTS(u32))] : g_rand_int(f->rand));
        case 'x':
                return g_variant_new_int64(chance(f, 500) ? G_MININT64 : (gint64) (((guint64) g_rand_int(f->rand) << 32) | g_rand_int(f->rand)));
        case 't':
                return g_variant_new_uint64(chance(f, 500) ? G_MAXUINT64 : ((guint64) g_rand_int(f->rand) << 32) | g_rand_int(f->rand));
        case 'd':
                return g_variant_new_double(chance(f, 100) ? NAN : dbl[pick(f, G_N_ELEMENTS(dbl))]);
        case 's':
                return g_variant_new_take_string(random_string(f, small));
        case 'o': {
                g_autofree char *path = random_object_path(f);

                return g_variant_new_object_path(path);
        }
        case 'g':
                return g_variant_new_signature(sigs[pick(f, G_N_ELEMENTS(sigs))]);
        default:
                g_assert_not_reached();
        }
}

static GVariant *random_array(Fuzzer *f, const GVariantType *type, guint depth, gboolean small) {
        const GVariantType *elem = g_variant_type_element(type);
        GVariantBuilder b;
        guint n;

        if (g_variant_type_equal(type, G_VARIANT_TYPE_VARDICT))
                return random_options(f, depth, small);
        if (!small && depth <= 2 && chance(f, 40)) {
                n = 1000 + pick(f, HUGE_ARRAY_MAX - 999);
                small = TRUE;
        } else
                n = pick(f, depth >= 3 ? 3 : 9);
        g_variant_builder_init(&b, type);
        for (guint i = 0; i < n; i++)
                g_variant_builder_add_value(&b, random_value(f, elem, depth + 1, small || n > 8));
        return g_variant_builder_end(&b);
}

static GVariant *random_tuple(Fuzzer *f, const GVariantType *type, guint depth, gboolean small) {
        GVariantBuilder b;

        g_variant_builder_init(&b, type);
        for (const GVariantType *t = g_variant_type_first(type); t; t = g_variant_type_next(t))
                g_variant_builder_add_value(&b, random_value(f, t, depth + 1, small));
        return g_variant_builder_end(&b);
}

static GVariant *random_value(Fuzzer *f, const GVariantType *type, guint depth, gboolean small) {
        if (g_variant_type_is_basic(type))
                return random_basic(f, type, small);
        if (g_variant_type_is_variant(type))
                return g_variant_new_variant(random_variant(f, depth, small));
        if (g_variant_type_is_array(type))
                return random_array(f, type, depth, small);
        if (g_variant_type_is_tuple(type))
                return random_tuple(f, type, depth, small);
        if (g_variant_type_is_dict_entry(type)) {
                const GVariantType *k = g_variant_type_key(type);
                const GVariantType *v = g_variant_type_value(type);

                return g_variant_new_dict_entry(random_value(f, k, depth + 1, small),
                                                random_value(f, v, depth + 1, small));
        }
        g_error("cannot generate type %s", g_variant_type_peek_string(type));
}

/* A value the daemon should accept for KEY, or one just beside it. */
static GVariant *plausible_option(Fuzzer *f, const char *key) {
        static const char *const pfs[] = { "0000:04:00.0", "0000:81:00.0", "0000:04:00.2", "" };
        static const char *const policies[] = { "required", "preferred", "none", "" };
        const char *t = option_type(key);

        if (g_str_equal(key, VDPA_OPT_MAC))
                return g_variant_new_take_string(g_strdup_printf("%02x:54:00:%02x:%02x:%02x", chance(f, 900) ? 0x52 : pick(f, 256),
                                                                 pick(f, 256), pick(f, 256), pick(f, 256)));
        if (g_str_equal(key, VDPA_OPT_QUEUES))
                return g_variant_new_uint32(pick(f, 20));
        if (g_str_equal(key, VDPA_OPT_BOOT_ORDER))
                return g_variant_new_uint32(pick(f, 12));
        if (g_str_equal(key, VDPA_OPT_ALIAS))
                return g_variant_new_take_string(g_strdup_printf("ua-fuzz%u", pick(f, 100)));
        if (g_str_equal(key, VDPA_OPT_GUEST_ADDRESS))
                return g_variant_new_take_string(g_strdup_printf("0000:%02x:%02x.%x", pick(f, 3), pick(f, 33), pick(f, 9)));
        if (g_str_equal(key, VDPA_OPT_NUMA_NODE))
                return g_variant_new_int32(g_rand_int_range(f->rand, -2, 3));
        if (g_str_equal(key, VDPA_OPT_PHYSICAL_FUNCTION))
                return g_variant_new_string(pfs[pick(f, G_N_ELEMENTS(pfs))]);
        if (g_str_equal(key, VDPA_OPT_NUMA_POLICY))
                return g_variant_new_string(policies[pick(f, G_N_ELEMENTS(policies))]);
        if (g_str_equal(key, VDPA_OPT_MTU))
                return g_variant_new_uint16((guint16) g_rand_int_range(f->rand, 60, 9100));
        if (g_str_equal(key, VDPA_OPT_MAX_QUEUE_PAIRS))
                return g_variant_new_uint16(pick(f, 10));
        g_assert(g_str_equal(t, "b"));
        return g_variant_new_boolean(chance(f, 500));
}

/* Options that mostly pass validation, so that calls reach polkit, the
 * inventory and libvirt: distinct known keys of the method, right types. */
static GVariant *plausible_options(Fuzzer *f) {
        static const char *const xml_keys[] = {
                VDPA_OPT_MAC, VDPA_OPT_QUEUES, VDPA_OPT_PAGE_PER_VQ, VDPA_OPT_ALIAS,
                VDPA_OPT_BOOT_ORDER, VDPA_OPT_GUEST_ADDRESS,
        };
        static const char *const claim_keys[] = {
                VDPA_OPT_MAC, VDPA_OPT_QUEUES, VDPA_OPT_PAGE_PER_VQ, VDPA_OPT_ALIAS,
                VDPA_OPT_BOOT_ORDER, VDPA_OPT_GUEST_ADDRESS, VDPA_OPT_LIVE, VDPA_OPT_CONFIG,
                VDPA_OPT_NUMA_NODE, VDPA_OPT_PHYSICAL_FUNCTION, VDPA_OPT_NUMA_POLICY,
        };
        static const char *const release_keys[] = { VDPA_OPT_FORCE };
        static const char *const create_keys[] = { VDPA_OPT_MAC, VDPA_OPT_MTU, VDPA_OPT_MAX_QUEUE_PAIRS };
        const char *const *keys = claim_keys;
        guint n_keys = G_N_ELEMENTS(claim_keys);
        GVariantBuilder b;

        if (g_strcmp0(f->method, "BuildInterfaceXml") == 0) {
                keys = xml_keys;
                n_keys = G_N_ELEMENTS(xml_keys);
        } else if (g_strcmp0(f->method, "Release") == 0) {
                keys = release_keys;
                n_keys = G_N_ELEMENTS(release_keys);
        } else if (g_strcmp0(f->method, "CreateDevice") == 0) {
                keys = create_keys;
                n_keys = G_N_ELEMENTS(create_keys);
        } else if (g_strcmp0(f->method, "DeleteDevice") == 0)
                n_keys = 0;
        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        for (guint i = 0; i < n_keys; i++)
                if (chance(f, 300))
                        g_variant_builder_add(&b, "{sv}", keys[i], plausible_option(f, keys[i]));
        return g_variant_builder_end(&b);
}

/* a{sv} options: known keys with their own type (to reach the range checks)
 * or any type, unknown keys, repeated keys, and now and then thousands. */
static GVariant *random_options(Fuzzer *f, guint depth, gboolean small) {
        GVariantBuilder b;
        guint n;

        if (depth <= 1 && chance(f, 500))
                return plausible_options(f);

        if (!small && depth <= 2 && chance(f, 20))
                n = 1000 + pick(f, HUGE_ARRAY_MAX - 999);
        else
                n = pick(f, 7);
        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        for (guint i = 0; i < n; i++) {
                g_autofree char *key = NULL;
                const char *t;
                GVariant *v;

                key = n > 8 || chance(f, 800) ? g_strdup(option_keys[pick(f, G_N_ELEMENTS(option_keys))])
                                              : random_string(f, TRUE);
                t = option_type(key);
                if (t && chance(f, 500))
                        v = random_value(f, G_VARIANT_TYPE(t), depth + 1, small || n > 8);
                else
                        v = random_variant(f, depth + 1, small || n > 8);
                g_variant_builder_add(&b, "{sv}", key, v);
        }
        return g_variant_builder_end(&b);
}

/* Arguments that match the signature, with the slots that name things
 * steered towards what the daemon knows. */
static GVariant *valid_args(Fuzzer *f, const Target *t, gboolean small, char **ret_domain) {
        const char *m = t->method->name;
        GDBusInterfaceInfo *iface = g_dbus_node_info_lookup_interface(f->node, VDPA_INTERFACE);
        GVariant *args;

        f->method = m;
        args = random_value(f, G_VARIANT_TYPE(t->in_sig), 0, small);
        f->method = NULL;

        if (g_str_equal(t->interface, PROPERTIES_IFACE) && g_variant_n_children(args) >= 1 && chance(f, 800)) {
                /* Our interface and, mostly, a real property. */
                GVariantBuilder b;
                guint n = g_variant_n_children(args);

                g_variant_builder_init(&b, G_VARIANT_TYPE(t->in_sig));
                g_variant_builder_add(&b, "s", VDPA_INTERFACE);
                for (guint i = 1; i < n; i++) {
                        guint np = 0;

                        while (iface->properties[np])
                                np++;
                        if (i == 1 && np > 0 && chance(f, 800))
                                g_variant_builder_add(&b, "s", iface->properties[pick(f, np)]->name);
                        else {
                                g_autoptr(GVariant) child = g_variant_get_child_value(args, i);

                                g_variant_builder_add_value(&b, child);
                        }
                }
                g_variant_unref(g_variant_ref_sink(args));
                args = g_variant_builder_end(&b);
        }

        /* The device slot: mostly a device the daemon has. */
        if (g_str_equal(t->interface, VDPA_INTERFACE) && g_str_has_prefix(t->in_sig, "(s") &&
            !g_str_equal(m, "CheckMigration") && chance(f, 400)) {
                GVariantBuilder b;
                guint n = g_variant_n_children(args);

                static const char *const handles[] = {
                        "pci/0000:04:00.5", "pci/0000:04:00.2", "auxiliary/mlx5_core.sf.4", "vdpasim_net",
                        "vdpasim_blk", "pci/0000:09:00.0", "0000:04:00.5",
                };

                g_variant_builder_init(&b, G_VARIANT_TYPE(t->in_sig));
                /* CreateDevice's first slot is a management device. */
                if (g_str_equal(m, "CreateDevice"))
                        g_variant_builder_add(&b, "s", handles[pick(f, G_N_ELEMENTS(handles))]);
                else
                        g_variant_builder_add(&b, "s", (const char *) f->real_names->pdata[pick(f, f->real_names->len)]);
                for (guint i = 1; i < n; i++) {
                        g_autoptr(GVariant) child = g_variant_get_child_value(args, i);

                        g_variant_builder_add_value(&b, child);
                }
                g_variant_unref(g_variant_ref_sink(args));
                args = g_variant_builder_end(&b);
        }

        if (g_str_equal(t->interface, VDPA_INTERFACE) && g_str_equal(m, "Claim")) {
                const char *domain;

                g_variant_get_child(args, 1, "&s", &domain);
                if (g_str_equal(domain, FORBIDDEN_DOMAIN)) {
                        /* Rebuild without the one domain a claim could succeed on. */
                        g_autoptr(GVariant) dev = g_variant_get_child_value(args, 0);
                        g_autoptr(GVariant) opts = g_variant_get_child_value(args, 2);

                        g_variant_unref(g_variant_ref_sink(args));
                        args = g_variant_new("(s@s@a{sv})", g_variant_get_string(dev, NULL),
                                             g_variant_new_string(FORBIDDEN_DOMAIN "-not"), opts);
                        g_variant_get_child(args, 1, "&s", &domain);
                }
                *ret_domain = g_strdup(domain);
        }
        return args;
}

/* --- introspection --- */

static char *args_signature(GDBusArgInfo **args) {
        GString *s = g_string_new("(");

        for (guint i = 0; args && args[i]; i++)
                g_string_append(s, args[i]->signature);
        g_string_append_c(s, ')');
        return g_string_free(s, FALSE);
}

static void add_targets(Fuzzer *f, const char *interface, const char *const *only) {
        GDBusInterfaceInfo *iface = g_dbus_node_info_lookup_interface(f->node, interface);

        if (!iface)
                g_error("the service does not introspect interface %s", interface);
        for (guint i = 0; iface->methods && iface->methods[i]; i++) {
                GDBusMethodInfo *m = iface->methods[i];
                Target *t;

                if (only && !g_strv_contains(only, m->name))
                        continue;
                t = g_new0(Target, 1);
                t->interface = interface;
                t->method = m;
                t->in_sig = args_signature(m->in_args);
                t->out_sig = args_signature(m->out_args);
                g_ptr_array_add(f->targets, t);
        }
}

static void target_free(gpointer p) {
        Target *t = p;

        g_free(t->in_sig);
        g_free(t->out_sig);
        g_free(t);
}

static void introspect(Fuzzer *f) {
        static const char *const props[] = { "Get", "GetAll", "Set", NULL };
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        const char *xml;

        reply = vdpa_test_call_full(f->check_conn, VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                    "org.freedesktop.DBus.Introspectable", "Introspect", NULL, "(s)",
                                    G_DBUS_CALL_FLAGS_NONE, 30000, &error);
        g_assert_no_error(error);
        g_variant_get(reply, "(&s)", &xml);
        f->node = g_dbus_node_info_new_for_xml(xml, &error);
        g_assert_no_error(error);
        add_targets(f, VDPA_INTERFACE, NULL);
        add_targets(f, PROPERTIES_IFACE, props);
        g_assert_cmpuint(f->targets->len, >=, 9);
}

/* --- calls --- */

static GDBusMessage *filter_cb(GDBusConnection *c G_GNUC_UNUSED, GDBusMessage *msg, gboolean incoming, gpointer data) {
        Fuzzer *f = data;
        GDBusMessageType type = g_dbus_message_get_message_type(msg);

        /* Every reply that reaches this process, so that a second reply to
         * one call (which GDBus would drop silently) is seen. */
        if (incoming && (type == G_DBUS_MESSAGE_TYPE_METHOD_RETURN || type == G_DBUS_MESSAGE_TYPE_ERROR))
                g_atomic_int_inc(&f->replies_seen);
        return msg;
}

static gboolean markup_ok(const char *xml) {
        static const GMarkupParser parser = { 0 };
        g_autoptr(GMarkupParseContext) ctx = g_markup_parse_context_new(&parser, 0, NULL, NULL);

        return g_markup_parse_context_parse(ctx, xml, -1, NULL) &&
               g_markup_parse_context_end_parse(ctx, NULL);
}

static const char *call_name(const Call *c) {
        return c->unknown ? "(unknown method)" : c->target->method->name;
}

static void check_success(Fuzzer *f, Call *c, GDBusMessage *reply) {
        const char *m = call_name(c);
        const char *sig = g_dbus_message_get_signature(reply);
        g_autofree char *want = NULL;
        GVariant *body = g_dbus_message_get_body(reply);

        outcome(f, m, c->valid_sig ? "(success)" : "(success, wrong signature sent)");
        if (c->unknown) {
                failure(f, "call #%" G_GUINT64_FORMAT ": a method that does not exist succeeded", c->index);
                return;
        }
        if (!c->valid_sig)
                failure(f, "call #%" G_GUINT64_FORMAT " %s: a body of signature %s (not %s) was accepted",
                        c->index, m, c->body_sig, c->target->in_sig);
        if (g_str_equal(c->target->interface, VDPA_INTERFACE) &&
            (g_str_equal(m, "Claim") || g_str_equal(m, "Release")))
                failure(f, "call #%" G_GUINT64_FORMAT " %s succeeded (domain '%s'): no claim can be made here",
                        c->index, m, c->claim_domain ? c->claim_domain : "");
        /* The daemon lacks CAP_NET_ADMIN here: the kernel refuses. */
        if (g_str_equal(c->target->interface, VDPA_INTERFACE) &&
            (g_str_equal(m, "CreateDevice") || g_str_equal(m, "DeleteDevice")))
                failure(f, "call #%" G_GUINT64_FORMAT " %s succeeded: the daemon has no CAP_NET_ADMIN here",
                        c->index, m);
        if (g_str_equal(c->target->interface, PROPERTIES_IFACE) && g_str_equal(m, "Set"))
                failure(f, "call #%" G_GUINT64_FORMAT ": Properties.Set succeeded on a read-only interface", c->index);

        want = g_strndup(c->target->out_sig + 1, strlen(c->target->out_sig) - 2);
        if (g_strcmp0(sig ? sig : "", want) != 0)
                failure(f, "call #%" G_GUINT64_FORMAT " %s: reply signature '%s', introspection says '%s'",
                        c->index, m, sig ? sig : "", want);
        else if (g_str_equal(m, "BuildInterfaceXml") && body) {
                const char *xml;

                g_variant_get(body, "(&s)", &xml);
                if (!markup_ok(xml))
                        failure(f, "call #%" G_GUINT64_FORMAT ": BuildInterfaceXml returned malformed XML: %.200s",
                                c->index, xml);
        }
}

static void on_reply(GObject *source, GAsyncResult *res, gpointer data) {
        Call *c = data;
        Fuzzer *f = c->f;
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusMessage) reply = NULL;
        guint64 latency = (guint64) (g_get_monotonic_time() - c->sent_us);

        reply = g_dbus_connection_send_message_with_reply_finish(G_DBUS_CONNECTION(source), res, &error);
        f->answered++;
        f->in_flight--;
        f->max_latency_us = MAX(f->max_latency_us, latency);

        if (!reply) {
                /* Timeout, closed connection: the call was never answered. */
                failure(f, "call #%" G_GUINT64_FORMAT " %s: no reply: %s", c->index, call_name(c), error->message);
                outcome(f, call_name(c), "(no reply)");
        } else if (g_dbus_message_get_message_type(reply) == G_DBUS_MESSAGE_TYPE_ERROR) {
                const char *name = g_dbus_message_get_error_name(reply);
                const char *msg = NULL;
                GVariant *body = g_dbus_message_get_body(reply);

                outcome(f, call_name(c), name);
                if (body && g_variant_is_of_type(body, G_VARIANT_TYPE("(s)")))
                        g_variant_get(body, "(&s)", &msg);
                if (msg && strlen(msg) > f->max_error_len) {
                        f->max_error_len = strlen(msg);
                        g_free(f->max_error_what);
                        f->max_error_what = g_strdup_printf("call #%" G_GUINT64_FORMAT " %s%s with %s: %s: %.120s...",
                                                            c->index, call_name(c), c->valid_sig ? "" : " (wrong signature)",
                                                            c->body_sig, name, msg);
                }
                /* The daemon's own messages stay bounded whatever the input
                 * (a 64 KiB name is not echoed whole); sd-bus's Properties
                 * errors are only reported. */
                if (msg && strlen(msg) > 4096 && !c->unknown &&
                    g_str_equal(c->target->interface, VDPA_INTERFACE))
                        failure(f, "call #%" G_GUINT64_FORMAT " %s: %s message of %zu bytes: %.100s...",
                                c->index, call_name(c), name, strlen(msg), msg);
                /* The bus answering for a vanished or silent daemon. */
                if (g_str_equal(name, "org.freedesktop.DBus.Error.NoReply") ||
                    g_str_equal(name, "org.freedesktop.DBus.Error.ServiceUnknown") ||
                    g_str_equal(name, "org.freedesktop.DBus.Error.NameHasNoOwner") ||
                    g_str_equal(name, "org.freedesktop.DBus.Error.LimitsExceeded") ||
                    g_str_equal(name, "org.freedesktop.DBus.Error.NoMemory"))
                        failure(f, "call #%" G_GUINT64_FORMAT " %s: %s: %s", c->index, call_name(c), name, msg ? msg : "");
        } else
                check_success(f, c, reply);

        g_free(c->claim_domain);
        g_free(c->body_sig);
        g_free(c);
}

static GVariant *wrong_body(Fuzzer *f) {
        const char *sig = wrong_signatures[pick(f, G_N_ELEMENTS(wrong_signatures))];

        if (chance(f, 100))
                return NULL;
        return random_value(f, G_VARIANT_TYPE(sig), 0, FALSE);
}

static void send_one(Fuzzer *f) {
        Call *c = g_new0(Call, 1);
        g_autoptr(GDBusMessage) msg = NULL;
        GDBusConnection *conn = f->conns[pick(f, N_CONNECTIONS)];
        const char *interface, *member;
        GVariant *body;

        c->f = f;
        c->index = f->sent;
        c->target = f->targets->pdata[pick(f, f->targets->len)];
        interface = c->target->interface;
        member = c->target->method->name;

        if (chance(f, 20)) {
                /* Methods and interfaces that do not exist. */
                c->unknown = TRUE;
                interface = chance(f, 500) ? VDPA_INTERFACE : "org.vdpa.Manager.Nope";
                member = chance(f, 500) ? "Destroy" : "claim";
                body = wrong_body(f);
        } else if (chance(f, 250)) {
                body = wrong_body(f);
                c->valid_sig = g_strcmp0(body ? g_variant_get_type_string(body) : "()", c->target->in_sig) == 0;
        } else {
                body = valid_args(f, c->target, FALSE, &c->claim_domain);
                c->valid_sig = TRUE;
        }

        c->body_sig = g_strdup(body ? g_variant_get_type_string(body) : "()");
        msg = g_dbus_message_new_method_call(VDPA_BUS_NAME, VDPA_OBJECT_PATH, interface, member);
        if (body)
                g_dbus_message_set_body(msg, body);
        f->sent++;
        f->in_flight++;
        c->sent_us = g_get_monotonic_time();
        g_dbus_connection_send_message_with_reply(conn, msg, G_DBUS_SEND_MESSAGE_FLAGS_NONE, CALL_TIMEOUT_MS,
                                                  NULL, NULL, on_reply, c);
}

/* TRUE when `gdbus call` can carry ARGS: it re-parses the printed form of
 * each argument, which does not round-trip for every value (a uint64 in a
 * variant, for one). */
static gboolean printable_args(GVariant *args) {
        for (gsize i = 0; i < g_variant_n_children(args); i++) {
                g_autoptr(GVariant) child = g_variant_get_child_value(args, i);
                g_autofree char *text = g_variant_print(child, TRUE);
                g_autoptr(GVariant) back = g_variant_parse(g_variant_get_type(child), text, NULL, NULL, NULL);

                if (!back || !g_variant_equal(back, child))
                        return FALSE;
        }
        return TRUE;
}

/* One call as an unprivileged user: through `gdbus call`, so slow; the
 * arguments are kept small enough for a command line. */
static void send_one_as_user(Fuzzer *f) {
        const Target *t = f->targets->pdata[pick(f, f->targets->len)];
        g_autofree char *domain = NULL;
        g_autofree char *what = g_strdup_printf("uid %u %s", (unsigned) f->uid, t->method->name);
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        GVariant *args = NULL;
        guint64 index = f->sent;

        for (;;) {
                args = g_variant_ref_sink(valid_args(f, t, TRUE, &domain));
                if (printable_args(args))
                        break;
                g_clear_pointer(&domain, g_free);
                g_variant_unref(args);
        }

        f->sent++;
        f->uid_calls++;
        reply = vdpa_test_call_as_uid_full(f->bus, f->uid, f->gid, VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                           t->interface, t->method->name, args, G_DBUS_CALL_FLAGS_NONE, &error);
        g_variant_unref(args);
        f->answered++;
        if (reply) {
                outcome(f, what, "(success)");
                if ((g_str_equal(t->interface, VDPA_INTERFACE) &&
                     (g_str_equal(t->method->name, "Claim") || g_str_equal(t->method->name, "Release") ||
                      g_str_equal(t->method->name, "CreateDevice") || g_str_equal(t->method->name, "DeleteDevice"))) ||
                    (g_str_equal(t->interface, PROPERTIES_IFACE) && g_str_equal(t->method->name, "Set")))
                        failure(f, "call #%" G_GUINT64_FORMAT ": %s succeeded for an unprivileged user", index, what);
                return;
        }

        g_autofree char *name = vdpa_test_error_name(error);
        outcome(f, what, name ? name : "(no D-Bus error)");
        if (!name || g_str_equal(name, "org.freedesktop.DBus.Error.NoReply") ||
            g_str_equal(name, "org.freedesktop.DBus.Error.ServiceUnknown") ||
            g_str_equal(name, "org.freedesktop.DBus.Error.Timeout") ||
            g_str_equal(name, "org.freedesktop.DBus.Error.TimedOut"))
                failure(f, "call #%" G_GUINT64_FORMAT " %s: %s", index, what, error->message);
}

/* --- hotplug --- */

static void hotplug_step(Fuzzer *f) {
        g_autofree char *syspath = NULL;
        guint minor = 40 + f->hp_serial % 200;

        f->hotplug_events++;
        if (f->hp_step == 0) {
                f->hp_serial++;
                minor = 40 + f->hp_serial % 200;
                g_free(f->hp_name);
                f->hp_name = g_strdup_printf("fuzz%u", f->hp_serial);
        }
        syspath = g_strdup_printf("%s/%s", VDPA_TESTBED_VF5, f->hp_name);

        switch (f->hp_step) {
        case 0:
                vdpa_testbed_add_vdpa(f->tb, syspath);
                g_hash_table_add(f->expected, g_strdup(f->hp_name));
                g_ptr_array_add(f->real_names, g_strdup(f->hp_name));
                break;
        case 1:
                vdpa_testbed_bind_vhost(f->tb, syspath, (int) minor);
                break;
        case 2:
                vdpa_testbed_unbind(f->tb, syspath, (int) minor);
                break;
        default:
                vdpa_testbed_remove(f->tb, syspath);
                g_hash_table_remove(f->expected, f->hp_name);
                break;
        }
        f->hp_step = (f->hp_step + 1) % 4;
}

/* --- checks --- */

static void drain(Fuzzer *f) {
        while (f->in_flight > 0)
                g_main_context_iteration(NULL, TRUE);
}

/* Compares Devices() with the expected set; FALSE with a description when
 * they differ or a device is claimed. */
static gboolean devices_match(Fuzzer *f, char **ret_why) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) list = NULL;
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        GVariantIter iter;
        GVariant *dict;

        reply = vdpa_test_call_full(f->check_conn, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE,
                                    "Devices", NULL, "(aa{sv})", G_DBUS_CALL_FLAGS_NONE, 30000, &error);
        if (!reply) {
                *ret_why = g_strdup_printf("Devices() failed: %s", error->message);
                return FALSE;
        }
        list = g_variant_get_child_value(reply, 0);
        g_variant_iter_init(&iter, list);
        while ((dict = g_variant_iter_next_value(&iter))) {
                g_autoptr(GVariant) d = dict;
                const char *name = "", *state = "";
                guint32 by = 0;

                g_variant_lookup(d, VDPA_KEY_NAME, "&s", &name);
                g_variant_lookup(d, VDPA_KEY_STATE, "&s", &state);
                g_variant_lookup(d, VDPA_KEY_CLAIMED_BY, "u", &by);
                if (g_str_equal(state, VDPA_STATE_CLAIMED) || by != 0) {
                        *ret_why = g_strdup_printf("device %s is %s (ClaimedBy %u) without a successful Claim",
                                                   name, state, by);
                        return FALSE;
                }
                if (!g_hash_table_contains(f->expected, name)) {
                        *ret_why = g_strdup_printf("Devices() lists unexpected device '%s'", name);
                        return FALSE;
                }
                g_hash_table_add(seen, (gpointer) g_intern_string(name));
        }
        if (g_hash_table_size(seen) != g_hash_table_size(f->expected)) {
                *ret_why = g_strdup_printf("Devices() lists %u devices, %u expected",
                                           g_hash_table_size(seen), g_hash_table_size(f->expected));
                return FALSE;
        }
        return TRUE;
}

/* FALSE when the daemon is gone: no point going on. */
static gboolean check_batch(Fuzzer *f) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) ping = NULL;
        g_autofree char *why = NULL;
        gint64 deadline;
        guint seen;

        drain(f);
        f->batches++;

        for (guint i = 0; i < N_CONNECTIONS; i++)
                if (g_dbus_connection_is_closed(f->conns[i]))
                        failure(f, "batch %" G_GUINT64_FORMAT ": the bus closed fuzzing connection %u",
                                f->batches, i);

        if (!vdpa_test_daemon_is_running(f->bus)) {
                failure(f, "batch %" G_GUINT64_FORMAT ": the daemon exited (see its log above)", f->batches);
                return FALSE;
        }
        if (vdpa_test_daemon_get_pid(f->bus) != f->daemon_pid ||
            vdpa_test_bus_get_name_owner_pid(f->bus, VDPA_BUS_NAME) != f->daemon_pid) {
                failure(f, "batch %" G_GUINT64_FORMAT ": daemon pid %d, name owner %d, started as %d", f->batches,
                        vdpa_test_daemon_get_pid(f->bus), vdpa_test_bus_get_name_owner_pid(f->bus, VDPA_BUS_NAME),
                        f->daemon_pid);
                return FALSE;
        }

        ping = vdpa_test_call_full(f->check_conn, VDPA_BUS_NAME, VDPA_OBJECT_PATH, PEER_IFACE, "Ping",
                                   NULL, "()", G_DBUS_CALL_FLAGS_NONE, 30000, &error);
        if (!ping)
                failure(f, "batch %" G_GUINT64_FORMAT ": Ping failed: %s", f->batches, error->message);

        /* Hotplug events are asynchronous: let the last one arrive. */
        deadline = g_get_monotonic_time() + SETTLE_MS * 1000;
        while (!devices_match(f, &why)) {
                if (g_get_monotonic_time() > deadline) {
                        failure(f, "batch %" G_GUINT64_FORMAT ": %s", f->batches, why);
                        break;
                }
                g_clear_pointer(&why, g_free);
                vdpa_test_iterate(50);
        }

        /* Exactly one reply per call: none lost (drain() returned), none
         * doubled (the filters saw no more than were answered). */
        seen = (guint) g_atomic_int_get(&f->replies_seen);
        if (seen != f->answered - f->uid_calls + f->barriers)
                failure(f, "batch %" G_GUINT64_FORMAT ": %u replies arrived for %" G_GUINT64_FORMAT " calls",
                        f->batches, seen - (guint) f->barriers, f->answered - f->uid_calls);
        return TRUE;
}

/* After drain(): a late second reply to a call would have arrived once this
 * returns.  The daemon ends every operation it was given, then answers a
 * Ping on each fuzzing connection after anything it sent there before (it
 * sends in order, the bus keeps one sender's order). */
static void end_barrier(Fuzzer *f) {
        vdpa_test_wait_operations_done(f->bus, CALL_TIMEOUT_MS);
        for (guint i = 0; i < N_CONNECTIONS; i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) pong = NULL;

                pong = vdpa_test_call_full(f->conns[i], VDPA_BUS_NAME, VDPA_OBJECT_PATH, PEER_IFACE, "Ping",
                                           NULL, "()", G_DBUS_CALL_FLAGS_NONE, 30000, &error);
                if (pong || g_dbus_error_is_remote_error(error))
                        f->barriers++;
                if (!pong)
                        failure(f, "the last Ping on fuzzing connection %u failed: %s", i, error->message);
        }
}

static long rss_kib(GPid pid) {
        g_autofree char *path = g_strdup_printf("/proc/%d/status", pid);
        g_autofree char *s = NULL;
        const char *p;

        if (!g_file_get_contents(path, &s, NULL, NULL) || !(p = strstr(s, "VmRSS:")))
                return -1;
        return strtol(p + strlen("VmRSS:"), NULL, 10);
}

/* --- main --- */

static int compare_outcomes(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void report(Fuzzer *f, double wall, long rss_before, long rss_after) {
        guint n = 0;
        g_autofree gpointer *keys = g_hash_table_get_keys_as_array(f->outcomes, &n);

        qsort(keys, n, sizeof(gpointer), compare_outcomes);
        printf("fuzz-bus: seed %" G_GUINT64_FORMAT "\n", f->opt.seed);
        printf("fuzz-bus: %" G_GUINT64_FORMAT " calls (%" G_GUINT64_FORMAT " as uid %u), %" G_GUINT64_FORMAT
               " answered, %" G_GUINT64_FORMAT " hotplug events, %" G_GUINT64_FORMAT " batches\n",
               f->sent, f->uid_calls, (unsigned) f->uid, f->answered, f->hotplug_events, f->batches);
        printf("fuzz-bus: wall time %.1f s, %.0f calls/s, slowest reply %.3f s, longest error message %zu bytes\n",
               wall, wall > 0 ? (double) f->sent / wall : 0.0, (double) f->max_latency_us / G_USEC_PER_SEC,
               f->max_error_len);
        if (f->max_error_what)
                printf("fuzz-bus: longest error message: %s\n", f->max_error_what);
        printf("fuzz-bus: daemon RSS %ld KiB before, %ld KiB after\n", rss_before, rss_after);
        printf("fuzz-bus: outcomes:\n");
        for (guint i = 0; i < n; i++)
                printf("  %8u  %s\n", GPOINTER_TO_UINT(g_hash_table_lookup(f->outcomes, keys[i])),
                       (const char *) keys[i]);
        printf("fuzz-bus: %u failures\n", f->failures);
        fflush(stdout);
}

static void parse_options(Options *o, int *argc, char ***argv) {
        const char *wrapper = g_getenv("VDPA_TEST_DAEMON_WRAPPER");
        const char *env_calls = g_getenv("VDPA_FUZZ_CALLS");
        gint64 seed = 20261126, calls = -1, seconds = 0, batch = 1000, hotplug = 250, uid_permille = 10;
        GOptionEntry entries[] = {
                { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed", "N" },
                { "calls", 0, 0, G_OPTION_ARG_INT64, &calls, "Calls to make", "N" },
                { "seconds", 0, 0, G_OPTION_ARG_INT64, &seconds, "Stop sending after S seconds (0: no limit)", "S" },
                { "batch", 0, 0, G_OPTION_ARG_INT64, &batch, "Calls between checks", "N" },
                { "hotplug-every", 0, 0, G_OPTION_ARG_INT64, &hotplug, "Calls between hotplug events (0: none)", "N" },
                { "uid-permille", 0, 0, G_OPTION_ARG_INT64, &uid_permille, "Calls per 1000 made as an unprivileged user", "N" },
                G_OPTION_ENTRY_NULL
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("- call vdpa-managerd with hostile arguments");
        g_autoptr(GError) error = NULL;

        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, argc, argv, &error)) {
                fprintf(stderr, "fuzz-bus: %s\n", error->message);
                exit(2);
        }
        /* Under valgrind (a daemon wrapper) the daemon is some 5 times
         * slower and the point is its leak check, not volume. */
        if (calls < 0 && env_calls)
                calls = g_ascii_strtoll(env_calls, NULL, 10);
        else if (calls < 0)
                calls = wrapper && *wrapper ? 1000 : 100000;
        if (calls <= 0 || batch <= 0 || seconds < 0 || hotplug < 0 || uid_permille < 0 || uid_permille > 1000) {
                fprintf(stderr, "fuzz-bus: bad counts\n");
                exit(2);
        }
        o->seed = (guint64) seed;
        o->calls = (guint64) calls;
        o->seconds = seconds;
        o->batch = (guint) batch;
        o->hotplug_every = (guint) hotplug;
        o->uid_permille = (guint) uid_permille;
}

int main(int argc, char *argv[]) {
        Fuzzer fz = { 0 }, *f = &fz;
        g_autoptr(GError) error = NULL;
        gint64 start, deadline;
        long rss_before, rss_after;
        guint64 next_hotplug, next_check;

        vdpa_testbed_isolate_uevent_queue();
        parse_options(&f->opt, &argc, &argv);
        /* GRand takes 32-bit seeds; fold the 64-bit one. */
        f->rand = g_rand_new_with_seed((guint32) (f->opt.seed ^ (f->opt.seed >> 32)));
        f->outcomes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        f->expected = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        f->real_names = g_ptr_array_new_with_free_func(g_free);
        f->targets = g_ptr_array_new_with_free_func(target_free);
        for (size_t i = 0; i < G_N_ELEMENTS(fixture_devices); i++) {
                g_hash_table_add(f->expected, g_strdup(fixture_devices[i]));
                g_ptr_array_add(f->real_names, g_strdup(fixture_devices[i]));
        }
        g_ptr_array_add(f->real_names, g_strdup(""));   /* Claim: auto-pick */
        f->huge_ascii = g_strnfill(HUGE_STRING_LEN, 'A');
        {
                GString *s = g_string_sized_new(HUGE_STRING_LEN + 4);

                while (s->len < HUGE_STRING_LEN)
                        g_string_append(s, "\xe6\x97\xa5<&%n");
                f->huge_utf8 = g_string_free(s, FALSE);
        }

        /* The testbed first, so that the bus and the daemon inherit it. */
        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        f->sim = vdpa_sim_start(f->tb, &error);
        g_assert_no_error(error);
        f->bus = vdpa_test_bus_new_or_die();
        f->polkit = vdpa_test_polkit_start_or_die(f->bus, NULL);
        vdpa_test_bus_set_daemon_bounding_set(f->bus, "-all");
        vdpa_test_user_ensure_or_die(VDPA_TEST_USER, &f->uid, &f->gid);
        f->daemon_pid = vdpa_test_daemon_start_or_die(f->bus, NULL);
        rss_before = rss_kib(f->daemon_pid);

        f->check_conn = vdpa_test_bus_connect(f->bus, &error);
        g_assert_no_error(error);
        for (guint i = 0; i < N_CONNECTIONS; i++) {
                f->conns[i] = vdpa_test_bus_connect(f->bus, &error);
                g_assert_no_error(error);
                f->filter_ids[i] = g_dbus_connection_add_filter(f->conns[i], filter_cb, f, NULL);
        }
        introspect(f);
        printf("fuzz-bus: seed %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT " calls, daemon pid %d, %u methods\n",
               f->opt.seed, f->opt.calls, f->daemon_pid, f->targets->len);
        fflush(stdout);

        start = g_get_monotonic_time();
        deadline = f->opt.seconds > 0 ? start + f->opt.seconds * G_USEC_PER_SEC : G_MAXINT64;
        next_hotplug = f->opt.hotplug_every;
        next_check = f->opt.batch;
        while (f->sent < f->opt.calls && g_get_monotonic_time() < deadline) {
                while (f->in_flight >= WINDOW)
                        g_main_context_iteration(NULL, TRUE);
                while (g_main_context_iteration(NULL, FALSE))
                        ;
                if (f->opt.hotplug_every > 0 && f->sent >= next_hotplug) {
                        hotplug_step(f);
                        next_hotplug += f->opt.hotplug_every;
                }
                if (chance(f, f->opt.uid_permille))
                        send_one_as_user(f);
                else
                        send_one(f);
                if (f->sent >= next_check) {
                        if (!check_batch(f))
                                break;
                        next_check += f->opt.batch;
                }
        }
        drain(f);
        /* A late duplicate reply would have arrived after this. */
        if (vdpa_test_daemon_is_running(f->bus))
                end_barrier(f);
        if (vdpa_test_daemon_is_running(f->bus))
                check_batch(f);
        rss_after = rss_kib(f->daemon_pid);
        report(f, (double) (g_get_monotonic_time() - start) / G_USEC_PER_SEC, rss_before, rss_after);

        for (guint i = 0; i < N_CONNECTIONS; i++) {
                g_dbus_connection_remove_filter(f->conns[i], f->filter_ids[i]);
                g_clear_object(&f->conns[i]);
        }
        g_clear_object(&f->check_conn);
        if (vdpa_test_daemon_is_running(f->bus)) {
                int r = vdpa_test_daemon_stop(f->bus);

                if (r != 0)
                        failure(f, "the daemon exited with status %d at the end", r);
        }
        g_clear_pointer(&f->polkit, vdpa_test_polkit_stop);
        g_clear_pointer(&f->bus, vdpa_test_bus_free);
        g_clear_pointer(&f->sim, vdpa_sim_stop);
        g_clear_object(&f->tb);
        g_clear_pointer(&f->node, g_dbus_node_info_unref);
        g_ptr_array_unref(f->targets);
        g_ptr_array_unref(f->real_names);
        g_hash_table_unref(f->expected);
        g_hash_table_unref(f->outcomes);
        g_free(f->huge_ascii);
        g_free(f->huge_utf8);
        g_free(f->hp_name);
        g_free(f->max_error_what);
        g_rand_free(f->rand);

        if (f->failures > 0) {
                fprintf(stderr, "fuzz-bus: %u failures; reproduce with --seed=%" G_GUINT64_FORMAT " --calls=%" G_GUINT64_FORMAT "\n",
                        f->failures, f->opt.seed, f->opt.calls);
                return 1;
        }
        return 0;
}
