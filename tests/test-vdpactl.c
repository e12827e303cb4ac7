/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vdpactl against the real vdpa-managerd on the harness's private system
 * bus, over the umockdev testbed of tests/data/host.umockdev.  Every
 * answer the CLI prints is checked against what the service says over
 * D-Bus; exit codes against the table in vdpactl(1).
 */
#include <errno.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "build-config.h"
#include "harness.h"
#include "libvirtd-harness.h"
#include "polkit-harness.h"
#include "testbed.h"
#include "vdpa-names.h"
/* tests/meson.build defines it when test-vdpactl links the netlink
 * simulator; without it the tests that need a netlink family skip. */
#ifdef VDPA_TEST_HAVE_SIM
#include "vdpa-sim.h"
#endif

/* Exit codes of vdpactl(1). */
enum {
        EXIT_OK = 0,
        EXIT_FAIL = 1,
        EXIT_USAGE = 2,
        EXIT_NOT_AUTHORIZED = 3,
        EXIT_NOT_FOUND = 4,
        EXIT_UNAVAILABLE = 5,
        EXIT_CONFLICT = 6,
        EXIT_NOT_SUPPORTED = 7,
};

/* Name order, as the service lists them. */
static const char *const host_names[] = { "blk0", "fast1", "vdpa-sim0", "vdpa0", "vdpa1", "vdpa2" };
static const char *const host_states[] = { "unusable", "available", "excluded", "available", "unusable", "available" };

typedef struct {
        UMockdevTestbed *tb;
        VdpaTestBus *bus;
        VdpaTestPolkit *pk;
        VdpaTestLibvirtd *lv;
#ifdef VDPA_TEST_HAVE_SIM
        VdpaSim *sim;
        char *saved_preload;
#endif
} Fixture;

typedef struct {
        int code;
        char *out;
        char *err;
} Result;

static void result_clear(Result *r) {
        g_clear_pointer(&r->out, g_free);
        g_clear_pointer(&r->err, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Result, result_clear)

static const char *vdpactl_path(void) {
        static char *path;

        if (!path)
                path = g_build_filename(g_getenv("VDPA_TEST_BUILDDIR"), "client", "vdpactl", NULL);
        return path;
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;

        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        f->bus = vdpa_test_bus_new_or_die();
}

/* The testbed with the kernel's vdpa netlink family: the simulator
 * (tests/vdpa-sim.h) serves it, and the daemon, started by this process,
 * inherits the preload that takes it there.  vdpactl does not get it
 * (client_env()). */
static void fixture_setup_sim(Fixture *f, gconstpointer data) {
#ifdef VDPA_TEST_HAVE_SIM
        g_autoptr(GError) error = NULL;
        g_autofree char *preload = NULL;

        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        vdpa_testbed_add_vdpa_bus(f->tb);
        f->sim = vdpa_sim_start(f->tb, &error);
        g_assert_no_error(error);
        f->saved_preload = g_strdup(g_getenv("LD_PRELOAD"));
        preload = vdpa_sim_preload_env();
        g_setenv("LD_PRELOAD", preload, TRUE);
        f->bus = vdpa_test_bus_new_or_die();
#else
        fixture_setup(f, data);
#endif
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        g_clear_pointer(&f->pk, vdpa_test_polkit_stop);
        g_clear_pointer(&f->bus, vdpa_test_bus_free);
        g_clear_pointer(&f->lv, vdpa_test_libvirtd_stop);
#ifdef VDPA_TEST_HAVE_SIM
        /* Before the testbed goes (vdpa-sim.h). */
        g_clear_pointer(&f->sim, vdpa_sim_stop);
        if (f->saved_preload)
                g_setenv("LD_PRELOAD", f->saved_preload, TRUE);
        g_clear_pointer(&f->saved_preload, g_free);
#endif
        g_clear_object(&f->tb);
}

/* GLib 2.74 has no g_strv_builder_take(). */
static void strv_add_printf(GStrvBuilder *b, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void strv_add_printf(GStrvBuilder *b, const char *fmt, ...) {
        g_autofree char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        s = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_strv_builder_add(b, s);
}

static char **client_env(const char *const *extra) {
        char **envp = g_get_environ();

        /* The client never needs the testbed, and a non-root one must not
         * get root's preload library. */
        envp = g_environ_unsetenv(envp, "LD_PRELOAD");
        envp = g_environ_unsetenv(envp, "UMOCKDEV_DIR");
        envp = g_environ_unsetenv(envp, "NO_COLOR");
        for (size_t i = 0; extra && extra[i]; i += 2)
                envp = g_environ_setenv(envp, extra[i], extra[i + 1], TRUE);
        return envp;
}

/* VDPA_TEST_VDPACTL_WRAPPER (e.g. "valgrind --error-exitcode=97
 * --leak-check=full --errors-for-leak-kinds=definite") runs every vdpactl
 * under a checker: its error exit code then fails the test. */
static void add_wrapper(GStrvBuilder *b) {
        const char *w = g_getenv("VDPA_TEST_VDPACTL_WRAPPER");
        g_auto(GStrv) argv = NULL;

        if (!w || !w[0])
                return;
        g_assert_true(g_shell_parse_argv(w, NULL, &argv, NULL));
        g_strv_builder_addv(b, (const char **) argv);
}

/* Runs ARGV with the client environment and collects. */
static Result run_argv(const char *const *argv, const char *const *env) {
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) envp = client_env(env);
        Result r = {};
        int status;

        g_assert_true(g_spawn_sync(NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                                   NULL, NULL, &r.out, &r.err, &status, &error));
        g_assert_no_error(error);
        g_assert_true(WIFEXITED(status));
        r.code = WEXITSTATUS(status);
        return r;
}

/* Runs PREFIX... vdpactl --bus-address=ADDR ARGS... and collects. */
static Result run_full(Fixture *f, const char *const *prefix, const char *const *env, const char *const *args) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_auto(GStrv) argv = NULL;

        if (prefix)
                g_strv_builder_addv(b, (const char **) prefix);
        add_wrapper(b);
        g_strv_builder_add(b, vdpactl_path());
        if (f && f->bus)
                strv_add_printf(b, "--bus-address=%s", vdpa_test_bus_get_address(f->bus));
        g_strv_builder_addv(b, (const char **) args);
        argv = g_strv_builder_end(b);
        return run_argv((const char *const *) argv, env);
}

#define RUN(f, ...) run_full((f), NULL, NULL, (const char *const[]) { __VA_ARGS__, NULL })

static Result run_as_user(Fixture *f, uid_t uid, gid_t gid, const char *const *args) {
        g_autofree char *reuid = g_strdup_printf("--reuid=%u", (unsigned) uid);
        g_autofree char *regid = g_strdup_printf("--regid=%u", (unsigned) gid);
        const char *const prefix[] = { "setpriv", reuid, regid, "--clear-groups", NULL };

        return run_full(f, prefix, NULL, args);
}

static void assert_exit(const Result *r, int code) {
        if (r->code != code)
                g_error("vdpactl exited %d, expected %d\nstdout: %s\nstderr: %s", r->code, code, r->out, r->err);
}

/* stderr is exactly "vdpactl: MESSAGE\n" with the service's MESSAGE. */
static void assert_error_message(const Result *r, const GError *dbus_error) {
        g_autoptr(GError) copy = g_error_copy(dbus_error);
        g_autofree char *expected = NULL;

        g_dbus_error_strip_remote_error(copy);
        expected = g_strdup_printf("vdpactl: %s\n", copy->message);
        g_assert_cmpstr(r->err, ==, expected);
        g_assert_null(strstr(r->err, "GDBus.Error"));
        g_assert_cmpstr(r->out, ==, "");
}

static GVariant *dbus_call(Fixture *f, const char *method, GVariant *params, const char *type, GError **error) {
        return vdpa_test_call(f->bus, method, params, type, error);
}

/* --- JSON against GVariant, type for type --- */

static void assert_json_equals_variant(JsonNode *n, GVariant *v, const char *where) {
        switch (g_variant_classify(v)) {
        case G_VARIANT_CLASS_VARIANT: {
                g_autoptr(GVariant) inner = g_variant_get_variant(v);
                assert_json_equals_variant(n, inner, where);
                return;
        }
        case G_VARIANT_CLASS_STRING:
                if (json_node_get_value_type(n) != G_TYPE_STRING)
                        g_error("%s: expected a JSON string", where);
                g_assert_cmpstr(json_node_get_string(n), ==, g_variant_get_string(v, NULL));
                return;
        case G_VARIANT_CLASS_BOOLEAN:
                if (json_node_get_value_type(n) != G_TYPE_BOOLEAN)
                        g_error("%s: expected a JSON boolean", where);
                g_assert_cmpint(json_node_get_boolean(n), ==, g_variant_get_boolean(v));
                return;
        case G_VARIANT_CLASS_UINT16:
        case G_VARIANT_CLASS_INT32:
        case G_VARIANT_CLASS_UINT32: {
                gint64 want;

                if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT16))
                        want = g_variant_get_uint16(v);
                else if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT32))
                        want = g_variant_get_int32(v);
                else
                        want = g_variant_get_uint32(v);
                if (json_node_get_value_type(n) != G_TYPE_INT64)
                        g_error("%s: expected a JSON integer", where);
                g_assert_cmpint(json_node_get_int(n), ==, want);
                return;
        }
        case G_VARIANT_CLASS_UINT64:
                /* SupportedFeatures: feature bits stay below bit 63. */
                g_assert_cmpuint(g_variant_get_uint64(v), <=, G_MAXINT64);
                if (json_node_get_value_type(n) != G_TYPE_INT64)
                        g_error("%s: expected a JSON integer", where);
                g_assert_cmpint(json_node_get_int(n), ==, (gint64) g_variant_get_uint64(v));
                return;
        case G_VARIANT_CLASS_ARRAY:
                if (g_variant_is_of_type(v, G_VARIANT_TYPE_VARDICT)) {
                        JsonObject *o;
                        GVariantIter it;
                        const char *key;
                        GVariant *value;

                        g_assert_true(JSON_NODE_HOLDS_OBJECT(n));
                        o = json_node_get_object(n);
                        g_assert_cmpuint(json_object_get_size(o), ==, g_variant_n_children(v));
                        g_variant_iter_init(&it, v);
                        while (g_variant_iter_next(&it, "{&sv}", &key, &value)) {
                                g_autofree char *w = g_strdup_printf("%s.%s", where, key);
                                JsonNode *m = json_object_get_member(o, key);

                                if (!m)
                                        g_error("%s missing in JSON", w);
                                assert_json_equals_variant(m, value, w);
                                g_variant_unref(value);
                        }
                        return;
                }
                g_assert_true(JSON_NODE_HOLDS_ARRAY(n));
                g_assert_cmpuint(json_array_get_length(json_node_get_array(n)), ==, g_variant_n_children(v));
                for (gsize i = 0; i < g_variant_n_children(v); i++) {
                        g_autoptr(GVariant) child = g_variant_get_child_value(v, i);
                        g_autofree char *w = g_strdup_printf("%s[%zu]", where, i);

                        assert_json_equals_variant(json_array_get_element(json_node_get_array(n), i), child, w);
                }
                return;
        default:
                g_error("%s: unexpected type %s", where, g_variant_get_type_string(v));
        }
}

static JsonNode *parse_json(const char *text) {
        g_autoptr(JsonParser) p = json_parser_new();
        g_autoptr(GError) error = NULL;

        json_parser_load_from_data(p, text, -1, &error);
        g_assert_no_error(error);
        return json_node_copy(json_parser_get_root(p));
}

/* --- without a service --- */

static void test_usage(void) {
        static const struct {
                const char *args[6];
                const char *needle;
        } cases[] = {
                { { "frobnicate" }, "unknown command 'frobnicate'" },
                { { "show" }, "'show' needs a device name" },
                { { "show", "a", "b" }, "unexpected argument 'b'" },
                { { "list", "--mac=52:54:00:00:00:01" }, "--mac does not apply to 'list'" },
                { { "release", "vdpa0", "--queues=2" }, "--queues does not apply to 'release'" },
                { { "xml", "vdpa0", "--force" }, "--force does not apply to 'xml'" },
                { { "claim", "vdpa0" }, "a device and a domain" },
                { { "claim", "vdpa0", "guest", "extra" }, "unexpected argument 'extra'" },
                { { "claim", "--auto", "vdpa0", "guest" }, "'claim --auto' takes one argument" },
                { { "claim", "vdpa0", "guest", "--numa-node=1" }, "--numa-node chooses among devices" },
                { { "claim", "", "guest" }, "must not be empty" },
                { { "xml", "vdpa0", "--queues=four" }, "--queues takes a non-negative integer" },
                { { "xml", "vdpa0", "--boot-order=-1" }, "--boot-order takes a non-negative integer" },
                { { "claim", "--auto", "g", "--numa-node=x" }, "--numa-node takes an integer" },
                { { "--json=yaml", "list" }, "--json takes 'short' or 'pretty'" },
                { { "--no-such-option" }, "unknown option '--no-such-option'" },
                { { "xml", "vdpa0", "--mac" }, "option '--mac' needs an argument" },
                { { "check-migration" }, "needs a domain name" },
                /* mgmtdev, create, delete */
                { { "mgmtdev", "show" }, "unknown 'mgmtdev' command 'show'" },
                { { "mgmtdev", "list", "x" }, "unexpected argument 'x' for 'mgmtdev'" },
                { { "mgmtdev", "--mtu=1500" }, "--mtu does not apply to 'mgmtdev'" },
                { { "create" }, "'create' needs a management device" },
                { { "create", "pci/0000:04:00.2", "vdpa9", "extra" }, "unexpected argument 'extra' for 'create'" },
                { { "create", "" }, "the management device must not be empty" },
                { { "create", "vdpasim_net", "" }, "the device name must not be empty; leave it out" },
                { { "create", "vdpasim_net", "--mtu=abc" }, "--mtu takes a non-negative integer up to 65535, not 'abc'" },
                { { "create", "vdpasim_net", "--mtu=65536" }, "--mtu takes a non-negative integer up to 65535, not '65536'" },
                { { "create", "vdpasim_net", "--mtu=-1" }, "--mtu takes a non-negative integer up to 65535, not '-1'" },
                { { "create", "vdpasim_net", "--mtu=" }, "--mtu takes a non-negative integer up to 65535, not ''" },
                { { "create", "vdpasim_net", "--max-queue-pairs=two" }, "--max-queue-pairs takes a non-negative integer" },
                { { "create", "vdpasim_net", "--max-queue-pairs=70000" }, "--max-queue-pairs takes a non-negative integer" },
                { { "create", "vdpasim_net", "--mtu" }, "option '--mtu' needs an argument" },
                { { "create", "vdpasim_net", "--queues=2" }, "--queues does not apply to 'create'" },
                { { "create", "vdpasim_net", "--force" }, "--force does not apply to 'create'" },
                { { "claim", "vdpa0", "guest", "--mtu=1500" }, "--mtu does not apply to 'claim'" },
                { { "xml", "vdpa0", "--max-queue-pairs=2" }, "--max-queue-pairs does not apply to 'xml'" },
                { { "delete" }, "'delete' needs a device name" },
                { { "delete", "vdpa0", "vdpa1" }, "unexpected argument 'vdpa1' for 'delete'" },
                { { "delete", "vdpa0", "--mac=52:54:00:00:00:01" }, "--mac does not apply to 'delete'" },
                /* provision */
                { { "provision", "list" }, "unknown 'provision' command 'list'; 'provision status'" },
                { { "provision", "status", "x" }, "unexpected argument 'x' for 'provision'" },
                { { "provision", "--mtu=1500" }, "--mtu does not apply to 'provision'" },
                { { "provision", "status", "--force" }, "--force does not apply to 'provision'" },
        };
        g_autofree char *version = g_strdup_printf("vdpactl %s\n", PACKAGE_VERSION);

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                /* No --bus-address and no bus at all: a usage error is
                 * reported before anything is connected. */
                g_auto(Result) r = run_full(NULL, NULL,
                                            (const char *const[]) { "DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent", NULL },
                                            cases[i].args);

                assert_exit(&r, EXIT_USAGE);
                if (!strstr(r.err, cases[i].needle))
                        g_error("case %zu: '%s' not in: %s", i, cases[i].needle, r.err);
                g_assert_true(g_str_has_prefix(r.err, "vdpactl: "));
                g_assert_cmpstr(r.out, ==, "");
        }

        {
                g_auto(Result) r = RUN(NULL, "--version");
                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(r.out, ==, version);
        }
        {
                g_auto(Result) r = RUN(NULL, "--help");
                const char *verbs[] = { "list", "show NAME", "xml NAME", "claim NAME DOMAIN", "claim --auto DOMAIN",
                                        "release NAME", "check-migration DOMAIN", "monitor", "status", "--json",
                                        "--no-ask-password", "--bus-address", "--page-per-vq", "--numa-policy",
                                        "mgmtdev [list]", "create MGMTDEV [NAME]", "delete NAME", "--mtu=N",
                                        "--max-queue-pairs=N", "provision [status]" };
                assert_exit(&r, EXIT_OK);
                for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
                        g_assert_nonnull(strstr(r.out, verbs[i]));
        }
        {
                /* A bus that is not there: a failure, not a usage error. */
                g_auto(Result) r = RUN(NULL, "--bus-address=unix:path=/nonexistent/bus", "list");
                assert_exit(&r, EXIT_FAIL);
                g_assert_true(g_str_has_prefix(r.err, "vdpactl: cannot connect to the bus"));
        }
        /* Accepted command lines get as far as the bus: --mac serves
         * create as it serves xml and claim, the bounds of a q pass. */
        {
                static const char *const ok[][8] = {
                        { "mgmtdev" },
                        { "mgmtdev", "list" },
                        { "create", "vdpasim_net" },
                        { "create", "pci/0000:04:00.2", "vdpa9", "--mac=52:54:00:00:00:01", "--mtu=65535",
                          "--max-queue-pairs=0" },
                        { "create", "vdpasim_net", "--mtu", "0", "--max-queue-pairs", "65535" },
                        { "delete", "vdpa0" },
                        { "--json", "delete", "vdpa0" },
                        { "provision" },
                        { "provision", "status" },
                        { "--json", "--no-legend", "provision", "status" },
                };

                for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
                        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
                        g_auto(GStrv) args = NULL;
                        g_auto(Result) r = { 0 };

                        g_strv_builder_add(b, "--bus-address=unix:path=/nonexistent/bus");
                        g_strv_builder_addv(b, (const char **) ok[i]);
                        args = g_strv_builder_end(b);
                        r = run_full(NULL, NULL, NULL, (const char *const *) args);
                        assert_exit(&r, EXIT_FAIL);
                        if (!g_str_has_prefix(r.err, "vdpactl: cannot connect to the bus"))
                                g_error("case %zu: %s", i, r.err);
                }
        }
}

/* --- list --- */

static GVariant *devices(Fixture *f) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = dbus_call(f, "Devices", NULL, "(aa{sv})", &error);

        g_assert_no_error(error);
        return g_variant_get_child_value(reply, 0);
}

/* The TYPE cell the CLI shows for a device dictionary: "-" for "". */
static const char *type_cell(GVariant *d) {
        const char *type = "";

        (void) g_variant_lookup(d, VDPA_KEY_TYPE, "&s", &type);
        return type[0] ? type : "-";
}

static void test_list(Fixture *f, gconstpointer data) {
        g_auto(GStrv) lines = NULL;
        g_auto(GStrv) bare = NULL;
        g_autoptr(GVariant) list = NULL;

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        list = devices(f);

        {
                g_auto(Result) r = RUN(f, "list");
                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(r.err, ==, "");
                /* Not a terminal: no colour. */
                g_assert_null(strchr(r.out, '\x1b'));
                lines = g_strsplit(r.out, "\n", -1);
        }
        /* header, 6 rows, blank, footer, "" after the last newline */
        g_assert_cmpuint(g_strv_length(lines), ==, 1 + 6 + 1 + 1 + 1);
        g_assert_true(g_str_has_prefix(lines[0], "NAME "));
        /* The columns, in this order: TYPE is second (vdpactl(1)). */
        {
                g_auto(GStrv) cols = g_strsplit_set(lines[0], " ", -1);
                g_autoptr(GPtrArray) words = g_ptr_array_new();
                g_autofree char *joined = NULL;

                for (char **c = cols; *c; c++)
                        if (**c)
                                g_ptr_array_add(words, *c);
                g_ptr_array_add(words, NULL);
                joined = g_strjoinv(" ", (char **) words->pdata);
                g_assert_cmpstr(joined, ==, "NAME TYPE STATE KIND PARENT PF NUMA CHARDEV DOMAIN");
        }
        for (size_t i = 0; i < G_N_ELEMENTS(host_names); i++) {
                g_auto(GStrv) cols = g_strsplit_set(lines[1 + i], " ", -1);
                g_autoptr(GPtrArray) words = g_ptr_array_new();
                g_autoptr(GVariant) d = g_variant_get_child_value(list, i);

                for (char **c = cols; *c; c++)
                        if (**c)
                                g_ptr_array_add(words, *c);
                g_assert_cmpuint(words->len, ==, 9);
                g_assert_cmpstr(g_ptr_array_index(words, 0), ==, host_names[i]);
                g_assert_cmpstr(g_ptr_array_index(words, 1), ==, type_cell(d));
                g_assert_cmpstr(g_ptr_array_index(words, 2), ==, host_states[i]);
        }
        /* Aligned: every row's STATE column starts where the header's does. */
        {
                const char *h = strstr(lines[0], "STATE");
                size_t col = h - lines[0];

                for (size_t i = 0; i < G_N_ELEMENTS(host_names); i++)
                        g_assert_true(g_str_has_prefix(lines[1 + i] + col, host_states[i]));
        }
        g_assert_nonnull(strstr(lines[3 + 1], "vdpa0"));
        g_assert_nonnull(strstr(lines[3 + 1], "0000:04:00.2"));
        g_assert_nonnull(strstr(lines[3 + 1], "/dev/vhost-vdpa-0"));
        g_assert_cmpstr(lines[7], ==, "");
        g_assert_cmpstr(lines[8], ==, "6 vDPA devices listed.");

        {
                /* No verb at all means list. */
                g_auto(Result) r = RUN(f, "--no-legend");
                assert_exit(&r, EXIT_OK);
                bare = g_strsplit(r.out, "\n", -1);
        }
        g_assert_cmpuint(g_strv_length(bare), ==, 6 + 1);
        for (size_t i = 0; i < G_N_ELEMENTS(host_names); i++) {
                g_autofree char *first = g_strndup(bare[i], strcspn(bare[i], " "));
                g_assert_cmpstr(first, ==, host_names[i]);
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_list_json(Fixture *f, gconstpointer data) {
        g_autoptr(GVariant) list = NULL;
        const char *modes[] = { "--json", "--json=short", "--json=pretty" };

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        list = devices(f);
        g_assert_cmpuint(g_variant_n_children(list), ==, G_N_ELEMENTS(host_names));

        for (size_t m = 0; m < G_N_ELEMENTS(modes); m++) {
                g_auto(Result) r = RUN(f, modes[m], "list");
                g_autoptr(JsonNode) n = NULL;

                assert_exit(&r, EXIT_OK);
                n = parse_json(r.out);
                assert_json_equals_variant(n, list, "Devices");
                /* short is one line; pretty is indented */
                if (m < 2)
                        g_assert_cmpuint(strchr(r.out, '\n') - r.out, ==, strlen(r.out) - 1);
                else
                        g_assert_nonnull(strstr(r.out, "\n  "));
                /* A few fields spelled out, so that a bug shared by the
                 * converter and the checker cannot hide. */
                {
                        JsonObject *vdpa2 = json_array_get_object_element(json_node_get_array(n), 5);
                        g_assert_cmpstr(json_object_get_string_member(vdpa2, "Name"), ==, "vdpa2");
                        g_assert_cmpint(json_object_get_int_member(vdpa2, "NumaNode"), ==, 1);
                        g_assert_cmpint(json_object_get_int_member(vdpa2, "VendorId"), ==, 0x15b3);
                        g_assert_cmpint(json_object_get_int_member(vdpa2, "ProductId"), ==, 0x101e);
                        g_assert_cmpint(json_object_get_int_member(vdpa2, "ClaimedBy"), ==, 0);
                        g_assert_cmpstr(json_object_get_string_member(vdpa2, "Chardev"), ==, "/dev/vhost-vdpa-2");
                }
                /* §8/§9 keys: typed as the D-Bus API says, on every
                 * device (nothing here was made under a rule). */
                for (guint i = 0; i < json_array_get_length(json_node_get_array(n)); i++) {
                        JsonObject *o = json_array_get_object_element(json_node_get_array(n), i);

                        g_assert_cmpint(json_node_get_value_type(json_object_get_member(o, VDPA_KEY_PROVISIONED)), ==,
                                        G_TYPE_BOOLEAN);
                        g_assert_false(json_object_get_boolean_member(o, VDPA_KEY_PROVISIONED));
                        g_assert_cmpint(json_node_get_value_type(json_object_get_member(o, VDPA_KEY_REPRESENTOR)), ==,
                                        G_TYPE_STRING);
                        g_assert_cmpint(json_node_get_value_type(json_object_get_member(o, VDPA_KEY_PF_NETDEV)), ==,
                                        G_TYPE_STRING);
                }
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- show --- */

/* OUT of `show` has the line "LABEL: VALUE" (labels are right-aligned). */
static gboolean has_field(const char *out, const char *label, const char *value) {
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        g_autofree char *want = g_strdup_printf("%s: %s", label, value);

        for (char **l = lines; *l; l++)
                if (g_str_equal(*l + strspn(*l, " "), want))
                        return TRUE;
        return FALSE;
}

/* The line of a string key of D in `show`: "" is shown as "none". */
static void assert_show_string_line(const char *out, GVariant *d, const char *key, const char *label) {
        const char *v;

        g_assert_true(g_variant_lookup(d, key, "&s", &v));
        if (!has_field(out, label, v[0] ? v : "none"))
                g_error("'%s: %s' not in:\n%s", label, v[0] ? v : "none", out);
}

/* The lines of the §8 and §9 keys (vdpactl(1)), always there. */
static void assert_show_provision_lines(const char *out, GVariant *d) {
        gboolean provisioned;

        g_assert_true(g_variant_lookup(d, VDPA_KEY_PROVISIONED, "b", &provisioned));
        g_assert_true(has_field(out, "Provisioned", provisioned ? "yes" : "no"));
        assert_show_string_line(out, d, VDPA_KEY_REPRESENTOR, "Representor");
        assert_show_string_line(out, d, VDPA_KEY_PF_NETDEV, "PF netdev");
}

static void test_show(Fixture *f, gconstpointer data) {
        vdpa_test_daemon_start_or_die(f->bus, NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(host_names); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) reply = dbus_call(f, "GetDevice", g_variant_new("(s)", host_names[i]), "(a{sv})", &error);
                g_autoptr(GVariant) dict = NULL;
                g_autoptr(JsonNode) n = NULL;
                g_autofree char *name_line = g_strdup_printf("Name: %s\n", host_names[i]);
                g_autofree char *state_line = g_strdup_printf("State: %s\n", host_states[i]);
                g_autofree char *type_line = NULL;

                g_assert_no_error(error);
                dict = g_variant_get_child_value(reply, 0);
                type_line = g_strdup_printf("Type: %s\n", g_str_equal(type_cell(dict), "-") ? "unknown" : type_cell(dict));
                {
                        g_auto(Result) r = RUN(f, "show", host_names[i]);
                        assert_exit(&r, EXIT_OK);
                        g_assert_nonnull(strstr(r.out, name_line));
                        g_assert_nonnull(strstr(r.out, state_line));
                        g_assert_nonnull(strstr(r.out, type_line));
                        assert_show_provision_lines(r.out, dict);
                        /* Without the netlink family the kernel told
                         * nothing more: those lines are left out. */
                        if (g_str_equal(type_cell(dict), "-")) {
                                g_assert_null(strstr(r.out, "Management device:"));
                                g_assert_null(strstr(r.out, "Max queue"));
                                g_assert_null(strstr(r.out, "Device MAC:"));
                                g_assert_null(strstr(r.out, "MTU:"));
                        }
                }
                {
                        g_auto(Result) r = RUN(f, "--json", "show", host_names[i]);
                        assert_exit(&r, EXIT_OK);
                        n = parse_json(r.out);
                        assert_json_equals_variant(n, dict, host_names[i]);
                }
        }

        {
                g_auto(Result) r = RUN(f, "show", "vdpa2");
                const char *expect[] = { "Driver: vhost_vdpa\n", "Char device: /dev/vhost-vdpa-2\n",
                                         "Parent: 0000:81:00.2 (vf)\n", "Physical function: 0000:81:00.0\n",
                                         "PCI ID: 15b3:101e\n", "NUMA node: 1\n",
                                         "Sysfs path: /sys/devices/pci0000:80/0000:80:01.0/0000:81:00.2/vdpa2\n" };
                for (size_t i = 0; i < G_N_ELEMENTS(expect); i++)
                        g_assert_nonnull(strstr(r.out, expect[i]));
        }
        {
                g_auto(Result) r = RUN(f, "show", "vdpa-sim0");
                g_assert_nonnull(strstr(r.out, "Parent: virtual\n"));
                g_assert_nonnull(strstr(r.out, "NUMA node: unknown\n"));
                /* No PF, no eswitch: the empty values read "none". */
                g_assert_true(has_field(r.out, "PF netdev", "none"));
                g_assert_true(has_field(r.out, "Representor", "none"));
                g_assert_true(has_field(r.out, "Provisioned", "no"));
        }
        {
                /* host.umockdev's PF 0000:04:00.0 is in switchdev mode. */
                g_auto(Result) r = RUN(f, "show", "vdpa0");
                g_assert_true(has_field(r.out, "PF netdev", "enp4s0f0np0"));
                g_assert_true(has_field(r.out, "Representor", "enp4s0f0npf0vf0"));
        }

        /* Unknown device: the service's message, exit 4. */
        {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) reply = dbus_call(f, "GetDevice", g_variant_new("(s)", "nosuch0"), NULL, &error);
                g_auto(Result) r = RUN(f, "show", "nosuch0");
                g_auto(Result) rj = RUN(f, "--json", "show", "nosuch0");

                g_assert_null(reply);
                vdpa_test_assert_error_name(error, VDPA_ERROR_NO_SUCH_DEVICE);
                assert_exit(&r, EXIT_NOT_FOUND);
                assert_error_message(&r, error);
                g_assert_nonnull(strstr(r.err, "nosuch0"));
                assert_exit(&rj, EXIT_NOT_FOUND);
                assert_error_message(&rj, error);
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- xml --- */

static char *build_xml(Fixture *f, const char *device, GVariant *opts, GError **error) {
        g_autoptr(GVariant) reply = dbus_call(f, "BuildInterfaceXml", g_variant_new("(s@a{sv})", device, opts), "(s)", error);
        char *xml;

        if (!reply)
                return NULL;
        g_variant_get(reply, "(s)", &xml);
        return xml;
}

static void test_xml(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autofree char *plain = NULL;
        g_autofree char *full = NULL;
        GVariantBuilder b;

        vdpa_test_daemon_start_or_die(f->bus, NULL);

        plain = build_xml(f, "vdpa0", g_variant_new("a{sv}", NULL), &error);
        g_assert_no_error(error);
        {
                g_auto(Result) r = RUN(f, "xml", "vdpa0");
                g_autofree char *want = g_str_has_suffix(plain, "\n") ? g_strdup(plain) : g_strconcat(plain, "\n", NULL);
                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(r.out, ==, want);
                g_assert_nonnull(strstr(r.out, "/dev/vhost-vdpa-0"));
        }

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", VDPA_OPT_MAC, g_variant_new_string("52:54:00:aa:bb:cc"));
        g_variant_builder_add(&b, "{sv}", VDPA_OPT_QUEUES, g_variant_new_uint32(4));
        g_variant_builder_add(&b, "{sv}", VDPA_OPT_PAGE_PER_VQ, g_variant_new_boolean(TRUE));
        g_variant_builder_add(&b, "{sv}", VDPA_OPT_ALIAS, g_variant_new_string("ua-net0"));
        g_variant_builder_add(&b, "{sv}", VDPA_OPT_BOOT_ORDER, g_variant_new_uint32(2));
        g_variant_builder_add(&b, "{sv}", VDPA_OPT_GUEST_ADDRESS, g_variant_new_string("0000:00:05.0"));
        full = build_xml(f, "fast1", g_variant_builder_end(&b), &error);
        g_assert_no_error(error);
        {
                g_auto(Result) r = RUN(f, "--json", "xml", "fast1", "--mac=52:54:00:aa:bb:cc", "--queues", "4",
                                       "--page-per-vq", "--alias=ua-net0", "--boot-order=2",
                                       "--guest-address=0000:00:05.0");
                g_autoptr(JsonNode) n = NULL;
                JsonObject *o;

                assert_exit(&r, EXIT_OK);
                n = parse_json(r.out);
                o = json_node_get_object(n);
                g_assert_cmpuint(json_object_get_size(o), ==, 2);
                g_assert_cmpstr(json_object_get_string_member(o, "device"), ==, "fast1");
                g_assert_cmpstr(json_object_get_string_member(o, "xml"), ==, full);
                g_assert_nonnull(strstr(full, "52:54:00:aa:bb:cc"));
                g_assert_nonnull(strstr(full, "ua-net0"));
        }

        /* --no-page-per-vq sends false. */
        {
                g_autofree char *off = NULL;
                g_auto(Result) r = RUN(f, "xml", "vdpa0", "--no-page-per-vq");

                g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
                g_variant_builder_add(&b, "{sv}", VDPA_OPT_PAGE_PER_VQ, g_variant_new_boolean(FALSE));
                off = build_xml(f, "vdpa0", g_variant_builder_end(&b), &error);
                g_assert_no_error(error);
                assert_exit(&r, EXIT_OK);
                g_assert_true(g_str_has_prefix(r.out, off));
                g_assert_cmpstr(off, !=, plain);
        }

        /* The service's errors, with their exit codes. */
        {
                static const struct {
                        const char *args[4];
                        const char *device;
                        const char *opt;      /* queues value, or NULL */
                        const char *error;
                        int code;
                } cases[] = {
                        { { "xml", "vdpa0", "--queues=0" }, "vdpa0", "0", "org.freedesktop.DBus.Error.InvalidArgs", EXIT_USAGE },
                        { { "xml", "vdpa0", "--queues=257" }, "vdpa0", "257", "org.freedesktop.DBus.Error.InvalidArgs", EXIT_USAGE },
                        { { "xml", "nosuch" }, "nosuch", NULL, VDPA_ERROR_NO_SUCH_DEVICE, EXIT_NOT_FOUND },
                        { { "xml", "vdpa1" }, "vdpa1", NULL, VDPA_ERROR_DEVICE_UNUSABLE, EXIT_UNAVAILABLE },
                        { { "xml", "vdpa-sim0" }, "vdpa-sim0", NULL, VDPA_ERROR_DEVICE_UNUSABLE, EXIT_UNAVAILABLE },
                        { { "xml", "blk0" }, "blk0", NULL, VDPA_ERROR_DEVICE_UNUSABLE, EXIT_UNAVAILABLE },
                };

                for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                        g_autoptr(GError) e = NULL;
                        g_autofree char *x = NULL;
                        g_auto(Result) r = run_full(f, NULL, NULL, cases[i].args);

                        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
                        if (cases[i].opt)
                                g_variant_builder_add(&b, "{sv}", VDPA_OPT_QUEUES,
                                                      g_variant_new_uint32((guint32) g_ascii_strtoull(cases[i].opt, NULL, 10)));
                        x = build_xml(f, cases[i].device, g_variant_builder_end(&b), &e);
                        g_assert_null(x);
                        vdpa_test_assert_error_name(e, cases[i].error);
                        assert_exit(&r, cases[i].code);
                        assert_error_message(&r, e);
                }
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- status --- */

static void test_status(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) props = NULL;
        g_autofree char *version_line = g_strdup_printf("Version: %s\n", PACKAGE_VERSION);

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        /* test:///default connects at once; wait so both reads agree. */
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 10000);

        reply = vdpa_test_call_full(vdpa_test_bus_get_connection(f->bus), VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                    "org.freedesktop.DBus.Properties", "GetAll",
                                    g_variant_new("(s)", VDPA_INTERFACE), "(a{sv})",
                                    G_DBUS_CALL_FLAGS_NONE, 5000, &error);
        g_assert_no_error(error);
        props = g_variant_get_child_value(reply, 0);
        {
                g_auto(Result) r = RUN(f, "--json", "status");
                g_autoptr(JsonNode) n = NULL;
                JsonObject *caps;

                assert_exit(&r, EXIT_OK);
                n = parse_json(r.out);
                assert_json_equals_variant(n, props, "properties");
                g_assert_cmpstr(json_object_get_string_member(json_node_get_object(n), "LibvirtUri"), ==, "test:///default");
                g_assert_true(json_object_get_boolean_member(json_node_get_object(n), "LibvirtConnected"));
                caps = json_object_get_object_member(json_node_get_object(n), "Capabilities");
                g_assert_cmpint(json_object_get_int_member(caps, "AvailableDevices"), ==, 3);
        }
        {
                g_auto(Result) r = RUN(f, "status");
                assert_exit(&r, EXIT_OK);
                g_assert_nonnull(strstr(r.out, version_line));
                g_assert_nonnull(strstr(r.out, "libvirt URI: test:///default\n"));
                g_assert_nonnull(strstr(r.out, "libvirt: connected"));
                g_assert_nonnull(strstr(r.out, "Live migration: block\n"));
                g_assert_nonnull(strstr(r.out, "Available devices: 3\n"));
                /* The harness's daemon has no netlink family; an older
                 * service does not tell, and nothing is shown. */
                {
                        g_autoptr(GVariant) caps = g_variant_lookup_value(props, "Capabilities", G_VARIANT_TYPE_VARDICT);
                        gboolean netlink;

                        if (g_variant_lookup(caps, VDPA_CAP_VDPA_NETLINK, "b", &netlink))
                                g_assert_nonnull(strstr(r.out, netlink ? "vDPA netlink: yes\n" : "vDPA netlink: no\n"));
                        else
                                g_assert_null(strstr(r.out, "vDPA netlink:"));
                }
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- check-migration --- */

/* The documented mapping (vdpactl(1), EXIT STATUS), independent of the
 * client's table. */
static int documented_exit(const char *error_name) {
        static const struct {
                const char *name;
                int code;
        } table[] = {
                { "org.freedesktop.DBus.Error.InvalidArgs", EXIT_USAGE },
                { "org.freedesktop.DBus.Error.AccessDenied", EXIT_NOT_AUTHORIZED },
                { "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", EXIT_NOT_AUTHORIZED },
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
                { VDPA_ERROR_NOT_SUPPORTED, EXIT_NOT_SUPPORTED },
                { "org.freedesktop.DBus.Error.NotSupported", EXIT_NOT_SUPPORTED },
                { "org.freedesktop.DBus.Error.UnknownMethod", EXIT_NOT_SUPPORTED },
                { "org.freedesktop.DBus.Error.UnknownProperty", EXIT_NOT_SUPPORTED },
        };

        if (!error_name)
                return EXIT_OK;
        for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
                if (g_str_equal(error_name, table[i].name))
                        return table[i].code;
        return EXIT_FAIL;
}


static void test_check_migration(Fixture *f, gconstpointer data) {
        const char *domains[] = { "test", "no-such-domain" };

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        /* CheckMigration asks libvirt: answers differ until it is connected. */
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 10000);

        for (size_t i = 0; i < G_N_ELEMENTS(domains); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) reply = dbus_call(f, "CheckMigration", g_variant_new("(s)", domains[i]), "()", &error);
                g_autofree char *name = vdpa_test_error_name(error);
                g_auto(Result) r = RUN(f, "check-migration", domains[i]);

                assert_exit(&r, documented_exit(name));
                g_assert_true((reply == NULL) == (error != NULL));
                if (!error) {
                        g_assert_nonnull(strstr(r.out, domains[i]));
                        continue;
                }
                if (g_str_equal(name, "org.freedesktop.DBus.Error.NotSupported")) {
                        /* Not yet in the service: said so plainly. */
                        g_autoptr(GError) copy = g_error_copy(error);
                        g_autofree char *want = NULL;

                        g_dbus_error_strip_remote_error(copy);
                        want = g_strdup_printf("vdpactl: CheckMigration is not supported by the running vdpa-managerd: %s\n",
                                               copy->message);
                        g_assert_cmpstr(r.err, ==, want);
                } else
                        assert_error_message(&r, error);
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- claim and release: errors --- */

typedef struct {
        const char *args[8];
        const char *method;       /* the same request over D-Bus */
        GVariant *(*params)(void);
        int code;
        const char *error;
} ErrorCase;

static GVariant *p_claim_nosuch(void) { return g_variant_new("(ssa{sv})", "nosuch", "test", NULL); }
static GVariant *p_claim_nodomain(void) { return g_variant_new("(ssa{sv})", "vdpa0", "no-such-domain", NULL); }
static GVariant *p_claim_auto_nodomain(void) { return g_variant_new("(ssa{sv})", "", "no-such-domain", NULL); }
static GVariant *p_claim_empty_domain(void) { return g_variant_new("(ssa{sv})", "vdpa0", "", NULL); }
static GVariant *p_claim_unusable(void) { return g_variant_new("(ssa{sv})", "vdpa1", "test", NULL); }
static GVariant *p_claim_bad_policy(void) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", VDPA_OPT_NUMA_POLICY, g_variant_new_string("sometimes"));
        return g_variant_new("(ssa{sv})", "", "test", &b);
}
static GVariant *p_claim_unsupported(void) { return g_variant_new("(ssa{sv})", "vdpa0", "test", NULL); }
static GVariant *p_release_nosuch(void) { return g_variant_new("(sa{sv})", "nosuch", NULL); }
static GVariant *p_release_unclaimed(void) { return g_variant_new("(sa{sv})", "vdpa0", NULL); }

static void run_error_cases(Fixture *f, const ErrorCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) reply = dbus_call(f, cases[i].method, cases[i].params(), NULL, &error);
                g_auto(Result) r = run_full(f, NULL, NULL, cases[i].args);

                g_assert_null(reply);
                vdpa_test_assert_error_name(error, cases[i].error);
                assert_exit(&r, cases[i].code);
                assert_error_message(&r, error);
        }
}

static void test_claim_errors(Fixture *f, gconstpointer data) {
        const ErrorCase cases[] = {
                { { "claim", "nosuch", "test" }, "Claim", p_claim_nosuch, EXIT_NOT_FOUND, VDPA_ERROR_NO_SUCH_DEVICE },
                { { "claim", "vdpa0", "no-such-domain" }, "Claim", p_claim_nodomain, EXIT_NOT_FOUND, VDPA_ERROR_NO_SUCH_DOMAIN },
                { { "claim", "--auto", "no-such-domain" }, "Claim", p_claim_auto_nodomain, EXIT_NOT_FOUND, VDPA_ERROR_NO_SUCH_DOMAIN },
                { { "claim", "vdpa0", "" }, "Claim", p_claim_empty_domain, EXIT_USAGE, "org.freedesktop.DBus.Error.InvalidArgs" },
                { { "claim", "--auto", "--numa-policy=sometimes", "test" }, "Claim", p_claim_bad_policy, EXIT_USAGE,
                  "org.freedesktop.DBus.Error.InvalidArgs" },
                { { "claim", "vdpa1", "test" }, "Claim", p_claim_unusable, EXIT_UNAVAILABLE, VDPA_ERROR_DEVICE_UNUSABLE },
                /* The test driver cannot attach: libvirt's own refusal. */
                { { "claim", "vdpa0", "test" }, "Claim", p_claim_unsupported, EXIT_FAIL, VDPA_ERROR_LIBVIRT_FAILED },
                { { "release", "nosuch" }, "Release", p_release_nosuch, EXIT_NOT_FOUND, VDPA_ERROR_NO_SUCH_DEVICE },
                { { "release", "vdpa0" }, "Release", p_release_unclaimed, EXIT_UNAVAILABLE, VDPA_ERROR_NOT_CLAIMED },
                { { "release", "--force", "vdpa0" }, "Release", p_release_unclaimed, EXIT_UNAVAILABLE, VDPA_ERROR_NOT_CLAIMED },
        };

        f->pk = vdpa_test_polkit_start_or_die(f->bus, NULL);
        vdpa_test_daemon_start_or_die(f->bus, NULL);
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 10000);

        run_error_cases(f, cases, G_N_ELEMENTS(cases));

        /* Nothing was left claimed by any of it. */
        {
                g_autoptr(GVariant) list = devices(f);
                for (gsize i = 0; i < g_variant_n_children(list); i++) {
                        g_autoptr(GVariant) d = g_variant_get_child_value(list, i);
                        const char *state;

                        g_assert_true(g_variant_lookup(d, VDPA_KEY_STATE, "&s", &state));
                        g_assert_cmpstr(state, !=, VDPA_STATE_CLAIMED);
                }
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_claim_libvirt_unavailable(Fixture *f, gconstpointer data) {
        g_autofree char *uri = g_strdup_printf("--libvirt-uri=qemu+unix:///system?socket=%s/no-such-sock",
                                               vdpa_test_bus_get_tmpdir(f->bus));
        const char *const args[] = { uri, NULL };
        const ErrorCase cases[] = {
                { { "claim", "vdpa0", "guest1" }, "Claim", p_claim_nodomain, EXIT_UNAVAILABLE, VDPA_ERROR_LIBVIRT_UNAVAILABLE },
                { { "claim", "--auto", "guest1" }, "Claim", p_claim_auto_nodomain, EXIT_UNAVAILABLE, VDPA_ERROR_LIBVIRT_UNAVAILABLE },
        };

        vdpa_test_daemon_start_or_die(f->bus, args);
        vdpa_test_wait_libvirt_connected(f->bus, FALSE, 10000);
        run_error_cases(f, cases, G_N_ELEMENTS(cases));

        {
                g_auto(Result) r = RUN(f, "status");
                assert_exit(&r, EXIT_OK);
                g_assert_nonnull(strstr(r.out, "libvirt: not connected\n"));
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static const char rules_user_no[] =
        "polkit.addRule(function(action, subject) {\n"
        "        if (action.id.indexOf(\"org.vdpa.manager.\") == 0 &&\n"
        "            subject.user == \"" VDPA_TEST_USER "\")\n"
        "                return polkit.Result.NO;\n"
        "});\n";

static void test_claim_unauthorized(Fixture *f, gconstpointer data) {
        uid_t uid, admin_uid;
        gid_t gid, admin_gid;

        vdpa_test_user_ensure_or_die(VDPA_TEST_USER, &uid, &gid);
        vdpa_test_user_ensure_or_die(VDPA_TEST_ADMIN, &admin_uid, &admin_gid);
        f->pk = vdpa_test_polkit_start_or_die(f->bus, rules_user_no);
        vdpa_test_daemon_start_or_die(f->bus, NULL);
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 10000);

        /* polkit says NO: AccessDenied, exit 3, the service's message. */
        for (int interactive = 0; interactive < 2; interactive++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) reply = vdpa_test_call_as_uid(f->bus, uid, gid, "Claim",
                                                                  g_variant_new("(ssa{sv})", "vdpa0", "test", NULL),
                                                                  G_DBUS_CALL_FLAGS_NONE, &error);
                const char *const args[] = { "claim", "vdpa0", "test", interactive ? NULL : "--no-ask-password", NULL };
                g_auto(Result) r = run_as_user(f, uid, gid, args);

                g_assert_null(reply);
                vdpa_test_assert_error_name(error, "org.freedesktop.DBus.Error.AccessDenied");
                assert_exit(&r, EXIT_NOT_AUTHORIZED);
                assert_error_message(&r, error);
        }

        /* No rule for the would-be admin: auth_admin_keep, and without a
         * terminal no interaction is offered: InteractiveAuthorizationRequired. */
        {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) reply = vdpa_test_call_as_uid(f->bus, admin_uid, admin_gid, "Claim",
                                                                  g_variant_new("(ssa{sv})", "", "test", NULL),
                                                                  G_DBUS_CALL_FLAGS_NONE, &error);
                g_auto(Result) r = run_as_user(f, admin_uid, admin_gid,
                                               (const char *const[]) { "claim", "--auto", "test", NULL });

                g_assert_null(reply);
                vdpa_test_assert_error_name(error, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired");
                assert_exit(&r, EXIT_NOT_AUTHORIZED);
                assert_error_message(&r, error);
        }

        /* On a terminal, interaction is allowed and a text agent is
         * started; with nobody to type a password, polkit gives up:
         * AccessDenied rather than InteractiveAuthorizationRequired. */
        for (int ask = 0; ask < 2; ask++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) reply = vdpa_test_call_as_uid(f->bus, admin_uid, admin_gid, "Claim",
                                                                  g_variant_new("(ssa{sv})", "", "test", NULL),
                                                                  ask ? G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION :
                                                                        G_DBUS_CALL_FLAGS_NONE, &error);
                g_autofree char *cmd = g_strdup_printf("setpriv --reuid=%u --regid=%u --clear-groups %s --bus-address=%s "
                                                       "%s claim --auto test",
                                                       (unsigned) admin_uid, (unsigned) admin_gid, vdpactl_path(),
                                                       vdpa_test_bus_get_address(f->bus),
                                                       ask ? "" : "--no-ask-password");
                /* script(1) gives it a terminal and exits with its status;
                 * its output is the terminal's, stdout and stderr merged. */
                g_auto(Result) r = run_argv((const char *const[]) { "timeout", "60", "script", "-qec", cmd, "/dev/null", NULL },
                                            NULL);
                g_autofree char *want = NULL;

                g_assert_null(reply);
                vdpa_test_assert_error_name(error, ask ? "org.freedesktop.DBus.Error.AccessDenied" :
                                                         "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired");
                g_dbus_error_strip_remote_error(error);
                want = g_strdup_printf("vdpactl: %s\r\n", error->message);
                assert_exit(&r, EXIT_NOT_AUTHORIZED);
                g_assert_true(g_str_has_suffix(r.out, want));
        }

        /* Reads need no authorization. */
        {
                g_auto(Result) r = run_as_user(f, uid, gid, (const char *const[]) { "--json", "list", NULL });
                g_autoptr(JsonNode) n = NULL;
                g_autoptr(GVariant) list = devices(f);

                assert_exit(&r, EXIT_OK);
                n = parse_json(r.out);
                assert_json_equals_variant(n, list, "Devices");
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- claim and release for real: a private libvirtd --- */

static char *device_state(Fixture *f, const char *name, char **ret_domain) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = dbus_call(f, "GetDevice", g_variant_new("(s)", name), "(a{sv})", &error);
        g_autoptr(GVariant) d = NULL;
        char *state = NULL;

        g_assert_no_error(error);
        d = g_variant_get_child_value(reply, 0);
        g_assert_true(g_variant_lookup(d, VDPA_KEY_STATE, "s", &state));
        if (ret_domain)
                g_assert_true(g_variant_lookup(d, VDPA_KEY_DOMAIN, "s", ret_domain));
        return state;
}

static void test_claim_release_libvirtd(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autofree char *dom = vdpa_test_domain_name_new();
        g_autofree char *dom2 = vdpa_test_domain_name_new();
        g_autofree char *uri_arg = NULL;
        g_autofree char *picked = NULL;
        const char *uri;

        f->lv = vdpa_test_libvirtd_start_or_die();
        uri = vdpa_test_libvirtd_get_uri(f->lv);
        g_assert_true(vdpa_test_define_domain(uri, dom, FALSE, &error));
        g_assert_no_error(error);
        g_assert_true(vdpa_test_define_domain(uri, dom2, FALSE, &error));
        g_assert_no_error(error);

        uri_arg = g_strdup_printf("--libvirt-uri=%s", uri);
        f->pk = vdpa_test_polkit_start_or_die(f->bus, NULL);
        vdpa_test_daemon_start_or_die(f->bus, (const char *const[]) { uri_arg, NULL });
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 10000);

        /* claim NAME DOMAIN onto a shut-off persistent domain: config. */
        {
                g_autofree char *want = g_strdup_printf("Claimed vdpa0 for domain '%s'.\n", dom);
                g_auto(Result) r = RUN(f, "claim", "vdpa0", dom, "--mac=52:54:00:12:34:56");
                g_autofree char *state = NULL, *holder = NULL, *xml = NULL;

                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(r.out, ==, want);
                state = device_state(f, "vdpa0", &holder);
                g_assert_cmpstr(state, ==, VDPA_STATE_CLAIMED);
                g_assert_cmpstr(holder, ==, dom);
                xml = vdpa_test_domain_xml(uri, dom, TRUE, &error);
                g_assert_no_error(error);
                g_assert_nonnull(strstr(xml, "/dev/vhost-vdpa-0"));
                g_assert_nonnull(strstr(xml, "52:54:00:12:34:56"));
        }
        /* The CLI shows it. */
        {
                g_auto(Result) r = RUN(f, "show", "vdpa0");
                g_autofree char *dline = g_strdup_printf("Domain: %s (", dom);

                g_assert_nonnull(strstr(r.out, "State: claimed\n"));
                g_assert_nonnull(strstr(r.out, dline));
                g_assert_nonnull(strstr(r.out, "MAC: 52:54:00:12:34:56\n"));
                g_assert_nonnull(strstr(r.out, "Claimed by: root (uid 0)\n"));
        }
        /* Claimed twice: busy. */
        {
                g_auto(Result) r = RUN(f, "claim", "vdpa0", dom2);
                assert_exit(&r, EXIT_UNAVAILABLE);
                g_assert_true(g_str_has_prefix(r.err, "vdpactl: "));
                g_assert_nonnull(strstr(r.err, "vdpa0"));
        }
        /* claim --auto, JSON: the service picks an available device. */
        {
                g_auto(Result) r = RUN(f, "--json", "claim", "--auto", dom2, "--numa-policy=none");
                g_autoptr(JsonNode) n = NULL;
                JsonObject *o;
                g_autofree char *state = NULL, *holder = NULL, *xml = NULL;

                assert_exit(&r, EXIT_OK);
                n = parse_json(r.out);
                o = json_node_get_object(n);
                picked = g_strdup(json_object_get_string_member(o, "device"));
                g_assert_true(g_str_equal(picked, "fast1") || g_str_equal(picked, "vdpa2"));
                g_assert_cmpstr(json_object_get_string_member(o, "domain"), ==, dom2);
                g_assert_nonnull(strstr(json_object_get_string_member(o, "xml"), "<interface type=\"vdpa\""));
                state = device_state(f, picked, &holder);
                g_assert_cmpstr(state, ==, VDPA_STATE_CLAIMED);
                g_assert_cmpstr(holder, ==, dom2);
                xml = vdpa_test_domain_xml(uri, dom2, TRUE, &error);
                g_assert_no_error(error);
                g_assert_nonnull(strstr(xml, "vhost-vdpa"));
        }
        /* release, both */
        {
                g_auto(Result) r = RUN(f, "release", "vdpa0");
                g_autofree char *state = NULL, *xml = NULL;

                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(r.out, ==, "Released vdpa0.\n");
                state = device_state(f, "vdpa0", NULL);
                g_assert_cmpstr(state, ==, VDPA_STATE_AVAILABLE);
                xml = vdpa_test_domain_xml(uri, dom, TRUE, &error);
                g_assert_no_error(error);
                g_assert_null(strstr(xml, "vhost-vdpa"));
        }
        {
                g_auto(Result) r = RUN(f, "--json", "release", picked);
                g_autoptr(JsonNode) n = NULL;
                g_autofree char *state = NULL;

                assert_exit(&r, EXIT_OK);
                n = parse_json(r.out);
                g_assert_cmpstr(json_object_get_string_member(json_node_get_object(n), "device"), ==, picked);
                state = device_state(f, picked, NULL);
                g_assert_cmpstr(state, ==, VDPA_STATE_AVAILABLE);
        }
        /* Released already: NotClaimed. */
        {
                g_auto(Result) r = RUN(f, "release", "vdpa0");
                assert_exit(&r, EXIT_UNAVAILABLE);
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
        g_assert_true(vdpa_test_undefine_domain(uri, dom, &error));
        g_assert_true(vdpa_test_undefine_domain(uri, dom2, &error));
}

/* --- mgmtdev, create and delete: the kernel's management plane --- */

static GVariant *p_none(void) { return NULL; }
static GVariant *p_create_auto(void) { return g_variant_new("(ssa{sv})", "vdpasim_net", "", NULL); }
static GVariant *p_create_full(void) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", VDPA_OPT_MAC, g_variant_new_string("52:54:00:00:00:09"));
        g_variant_builder_add(&b, "{sv}", VDPA_OPT_MTU, g_variant_new_uint16(1500));
        g_variant_builder_add(&b, "{sv}", VDPA_OPT_MAX_QUEUE_PAIRS, g_variant_new_uint16(2));
        return g_variant_new("(ssa{sv})", "pci/0000:04:00.2", "vdpa9", &b);
}
static GVariant *p_create_mtu_low(void) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", VDPA_OPT_MTU, g_variant_new_uint16(10));
        return g_variant_new("(ssa{sv})", "vdpasim_net", "", &b);
}
static GVariant *p_create_bad_name(void) { return g_variant_new("(ssa{sv})", "vdpasim_net", "-x", NULL); }
static GVariant *p_delete_vdpa0(void) { return g_variant_new("(sa{sv})", "vdpa0", NULL); }

static gboolean capability_netlink(Fixture *f) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) caps = vdpa_test_get_property(f->bus, "Capabilities", &error);
        gboolean netlink = FALSE;

        g_assert_no_error(error);
        (void) g_variant_lookup(caps, VDPA_CAP_VDPA_NETLINK, "b", &netlink);
        return netlink;
}

/* The harness's daemon on its own: the machine's kernel has no vdpa
 * netlink family (TESTING.md), so the service says NotSupported, and
 * vdpactl passes its words on with exit status 7. */
static void test_mgmtdev_not_supported(Fixture *f, gconstpointer data) {
        const ErrorCase cases[] = {
                { { "mgmtdev" }, "ManagementDevices", p_none, EXIT_NOT_SUPPORTED, VDPA_ERROR_NOT_SUPPORTED },
                { { "--json", "mgmtdev", "list" }, "ManagementDevices", p_none, EXIT_NOT_SUPPORTED,
                  VDPA_ERROR_NOT_SUPPORTED },
                { { "create", "vdpasim_net" }, "CreateDevice", p_create_auto, EXIT_NOT_SUPPORTED, VDPA_ERROR_NOT_SUPPORTED },
                { { "--json", "create", "pci/0000:04:00.2", "vdpa9", "--mac=52:54:00:00:00:09", "--mtu=1500",
                    "--max-queue-pairs=2" }, "CreateDevice", p_create_full, EXIT_NOT_SUPPORTED, VDPA_ERROR_NOT_SUPPORTED },
                { { "delete", "vdpa0" }, "DeleteDevice", p_delete_vdpa0, EXIT_NOT_SUPPORTED, VDPA_ERROR_NOT_SUPPORTED },
                /* What the service checks before it looks for netlink. */
                { { "create", "vdpasim_net", "--mtu=10" }, "CreateDevice", p_create_mtu_low, EXIT_USAGE,
                  "org.freedesktop.DBus.Error.InvalidArgs" },
                { { "create", "vdpasim_net", "--", "-x" }, "CreateDevice", p_create_bad_name, EXIT_USAGE,
                  "org.freedesktop.DBus.Error.InvalidArgs" },
        };

        f->pk = vdpa_test_polkit_start_or_die(f->bus, NULL);
        vdpa_test_daemon_start_or_die(f->bus, NULL);
        g_assert_false(capability_netlink(f));

        run_error_cases(f, cases, G_N_ELEMENTS(cases));
        {
                /* Not the "older vdpa-managerd" wording: this service has
                 * the method, the kernel lacks the family. */
                g_auto(Result) r = RUN(f, "mgmtdev");
                g_assert_null(strstr(r.err, "is not supported by the running vdpa-managerd"));
                g_assert_nonnull(strstr(r.err, "netlink"));
        }
        /* Nothing was created or deleted. */
        {
                g_autoptr(GVariant) list = devices(f);
                g_assert_cmpuint(g_variant_n_children(list), ==, G_N_ELEMENTS(host_names));
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* The daemon on a vdpa netlink family, in a fixture_setup_sim() fixture.
 * This machine's kernel has none: the simulator provides it.  Built
 * without the simulator, the tests that need it are skipped (and say so);
 * returns FALSE then. */
static gboolean daemon_start_netlink(Fixture *f) {
#ifdef VDPA_TEST_HAVE_SIM
        vdpa_test_daemon_start_or_die(f->bus, NULL);
        g_assert_true(capability_netlink(f));
        return TRUE;
#else
        g_test_skip("built without the vdpa netlink simulator (tests/vdpa-sim.h): no netlink family to test on");
        return FALSE;
#endif
}

static GVariant *management_devices(Fixture *f) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = dbus_call(f, "ManagementDevices", NULL, "(aa{sv})", &error);

        g_assert_no_error(error);
        return g_variant_get_child_value(reply, 0);
}

static char *strv_key_joined(GVariant *d, const char *key) {
        g_autofree const char **v = NULL;

        g_assert_true(g_variant_lookup(d, key, "^a&s", &v));
        return v[0] ? g_strjoinv(",", (char **) v) : g_strdup("-");
}

/* The cells vdpactl shows for a management device dictionary. */
static char *mgmtdev_row_words(GVariant *m) {
        const char *handle, *kind, *pf;
        guint32 max_vqs;
        gint32 numa;
        g_autofree char *classes = strv_key_joined(m, VDPA_MGMT_KEY_SUPPORTED_CLASSES);
        g_autofree char *devs = strv_key_joined(m, VDPA_MGMT_KEY_DEVICES);
        g_autofree char *vqs = NULL, *node = NULL;

        g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_HANDLE, "&s", &handle));
        g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_PARENT_KIND, "&s", &kind));
        g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_PHYSICAL_FUNCTION, "&s", &pf));
        g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_MAX_QUEUES, "u", &max_vqs));
        g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_NUMA_NODE, "i", &numa));
        vqs = max_vqs ? g_strdup_printf("%u", max_vqs) : g_strdup("-");
        node = numa >= 0 ? g_strdup_printf("%d", numa) : g_strdup("-");
        return g_strjoin(" ", handle, kind[0] ? kind : "-", classes, vqs, pf[0] ? pf : "-", node, devs, NULL);
}

/* A line of a table with its runs of blanks squeezed to one. */
static char *squeeze(const char *line) {
        g_auto(GStrv) cols = g_strsplit_set(line, " ", -1);
        g_autoptr(GPtrArray) words = g_ptr_array_new();

        for (char **c = cols; *c; c++)
                if (**c)
                        g_ptr_array_add(words, *c);
        g_ptr_array_add(words, NULL);
        return g_strjoinv(" ", (char **) words->pdata);
}

static void test_mgmtdev_list(Fixture *f, gconstpointer data) {
        g_autoptr(GVariant) mgmt = NULL;
        const char *modes[] = { "--json", "--json=short", "--json=pretty" };
        gsize n;

        if (!daemon_start_netlink(f))
                return;
        mgmt = management_devices(f);
        n = g_variant_n_children(mgmt);
        g_assert_cmpuint(n, >, 0);

        /* `mgmtdev` alone is `mgmtdev list`. */
        for (int alone = 0; alone < 2; alone++) {
                g_auto(Result) r = alone ? RUN(f, "mgmtdev") : RUN(f, "mgmtdev", "list");
                g_auto(GStrv) lines = NULL;
                g_autofree char *header = NULL;
                g_autofree char *footer = g_strdup_printf("%zu management device%s listed.", (size_t) n,
                                                          n == 1 ? "" : "s");
                size_t col;

                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(r.err, ==, "");
                g_assert_null(strchr(r.out, '\x1b'));
                lines = g_strsplit(r.out, "\n", -1);
                /* header, rows, blank, footer, "" */
                g_assert_cmpuint(g_strv_length(lines), ==, 1 + n + 1 + 1 + 1);
                header = squeeze(lines[0]);
                g_assert_cmpstr(header, ==, "HANDLE KIND CLASSES MAX-VQS PF NUMA DEVICES");
                col = strstr(lines[0], "CLASSES") - lines[0];
                for (gsize i = 0; i < n; i++) {
                        g_autoptr(GVariant) m = g_variant_get_child_value(mgmt, i);
                        g_autofree char *want = mgmtdev_row_words(m);
                        g_autofree char *got = squeeze(lines[1 + i]);

                        g_assert_cmpstr(got, ==, want);
                        /* Aligned: CLASSES starts under its header. */
                        g_assert_cmpint(lines[1 + i][col - 1], ==, ' ');
                        g_assert_cmpint(lines[1 + i][col], !=, ' ');
                }
                g_assert_cmpstr(lines[1 + n], ==, "");
                g_assert_cmpstr(lines[2 + n], ==, footer);
        }
        {
                g_auto(Result) r = RUN(f, "--no-legend", "mgmtdev");
                g_auto(GStrv) lines = g_strsplit(r.out, "\n", -1);

                assert_exit(&r, EXIT_OK);
                g_assert_cmpuint(g_strv_length(lines), ==, n + 1);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
                g_auto(Result) r = RUN(f, modes[i], "mgmtdev", "list");
                g_autoptr(JsonNode) j = NULL;

                assert_exit(&r, EXIT_OK);
                j = parse_json(r.out);
                assert_json_equals_variant(j, mgmt, "ManagementDevices");
                if (i < 2)
                        g_assert_cmpuint(strchr(r.out, '\n') - r.out, ==, strlen(r.out) - 1);
                else
                        g_assert_nonnull(strstr(r.out, "\n  "));
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* The handle of a management device that can create net devices, and
 * more than one: a simulator's ("vdpasim_net", no bus part), not an mlx5
 * VF or SF, which takes one device. */
static char *net_mgmtdev(Fixture *f) {
        g_autoptr(GVariant) mgmt = management_devices(f);

        for (gsize i = 0; i < g_variant_n_children(mgmt); i++) {
                g_autoptr(GVariant) m = g_variant_get_child_value(mgmt, i);
                g_autofree const char **classes = NULL;
                const char *handle;

                g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_SUPPORTED_CLASSES, "^a&s", &classes));
                g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_HANDLE, "&s", &handle));
                if (g_strv_contains(classes, VDPA_TYPE_NET) && !strchr(handle, '/'))
                        return g_strdup(handle);
        }
        g_error("no simulator management device supports net devices");
}

static GVariant *get_device(Fixture *f, const char *name, GError **error) {
        g_autoptr(GVariant) reply = dbus_call(f, "GetDevice", g_variant_new("(s)", name), "(a{sv})", error);

        return reply ? g_variant_get_child_value(reply, 0) : NULL;
}

static gboolean mgmtdev_has_device(Fixture *f, const char *handle, const char *name) {
        g_autoptr(GVariant) mgmt = management_devices(f);

        for (gsize i = 0; i < g_variant_n_children(mgmt); i++) {
                g_autoptr(GVariant) m = g_variant_get_child_value(mgmt, i);
                g_autofree const char **devs = NULL;
                const char *h;

                g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_HANDLE, "&s", &h));
                g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_DEVICES, "^a&s", &devs));
                if (g_str_equal(h, handle))
                        return g_strv_contains(devs, name);
        }
        return FALSE;
}

/* Created by HANDLE: in the inventory, a net device of that management
 * device, and listed by it. */
static void assert_created(Fixture *f, const char *handle, const char *name) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) d = get_device(f, name, &error);
        const char *s;

        g_assert_no_error(error);
        g_assert_true(g_variant_lookup(d, VDPA_KEY_TYPE, "&s", &s));
        g_assert_cmpstr(s, ==, VDPA_TYPE_NET);
        g_assert_true(g_variant_lookup(d, VDPA_KEY_MANAGEMENT_DEVICE, "&s", &s));
        g_assert_cmpstr(s, ==, handle);
        g_assert_true(mgmtdev_has_device(f, handle, name));
}

static void assert_gone(Fixture *f, const char *name) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) d = get_device(f, name, &error);

        g_assert_null(d);
        vdpa_test_assert_error_name(error, VDPA_ERROR_NO_SUCH_DEVICE);
}

static void test_create_delete(Fixture *f, gconstpointer data) {
        g_autofree char *handle = NULL;
        g_autofree char *picked = NULL;
        const char *mac = "52:54:00:12:34:57";

        f->pk = vdpa_test_polkit_start_or_die(f->bus, NULL);
        if (!daemon_start_netlink(f))
                return;
        handle = net_mgmtdev(f);

        /* Without NAME: the service picks one and vdpactl says which. */
        {
                g_auto(Result) r = RUN(f, "create", handle);
                g_autofree char *suffix = g_strdup_printf(" on %s.\n", handle);

                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(r.err, ==, "");
                g_assert_true(g_str_has_prefix(r.out, "Created "));
                g_assert_true(g_str_has_suffix(r.out, suffix));
                picked = g_strndup(r.out + strlen("Created "), strlen(r.out) - strlen("Created ") - strlen(suffix));
                g_assert_true(g_regex_match_simple("^vdpa[0-9]+$", picked, 0, 0));
                assert_created(f, handle, picked);
        }
        /* With NAME and a MAC, JSON. */
        {
                g_autofree char *mac_opt = g_strdup_printf("--mac=%s", mac);
                g_auto(Result) r = RUN(f, "--json", "create", handle, "ctl-test0", mac_opt);
                g_autoptr(JsonNode) n = NULL;
                JsonObject *o;

                assert_exit(&r, EXIT_OK);
                n = parse_json(r.out);
                o = json_node_get_object(n);
                g_assert_cmpuint(json_object_get_size(o), ==, 2);
                g_assert_cmpstr(json_object_get_string_member(o, "device"), ==, "ctl-test0");
                g_assert_cmpstr(json_object_get_string_member(o, "mgmtdev"), ==, handle);
                assert_created(f, handle, "ctl-test0");
        }
        /* list, show and JSON show the netlink keys. */
        {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) d = get_device(f, "ctl-test0", &error);
                g_autofree char *mgmt_line = g_strdup_printf("Management device: %s\n", handle);
                g_autofree char *mac_line = g_strdup_printf("Device MAC: %s\n", mac);
                g_auto(Result) r = RUN(f, "show", "ctl-test0");
                g_auto(Result) rj = RUN(f, "--json", "show", "ctl-test0");
                g_auto(Result) rl = RUN(f, "--no-legend", "list");
                g_autoptr(JsonNode) n = NULL;
                guint32 max_vqs;
                guint16 max_vq_size;
                const char *s;

                g_assert_no_error(error);
                assert_exit(&r, EXIT_OK);
                g_assert_nonnull(strstr(r.out, "Type: net\n"));
                g_assert_nonnull(strstr(r.out, mgmt_line));
                g_assert_true(g_variant_lookup(d, VDPA_KEY_DEVICE_MAC, "&s", &s));
                g_assert_cmpstr(s, ==, mac);
                g_assert_nonnull(strstr(r.out, mac_line));
                g_assert_true(g_variant_lookup(d, VDPA_KEY_MAX_QUEUES, "u", &max_vqs));
                if (max_vqs) {
                        g_autofree char *l = g_strdup_printf("Max queues: %u\n", max_vqs);
                        g_assert_nonnull(strstr(r.out, l));
                }
                g_assert_true(g_variant_lookup(d, VDPA_KEY_MAX_QUEUE_SIZE, "q", &max_vq_size));
                if (max_vq_size) {
                        g_autofree char *l = g_strdup_printf("Max queue size: %u\n", max_vq_size);
                        g_assert_nonnull(strstr(r.out, l));
                }

                assert_exit(&rj, EXIT_OK);
                n = parse_json(rj.out);
                assert_json_equals_variant(n, d, "ctl-test0");

                assert_exit(&rl, EXIT_OK);
                {
                        g_auto(GStrv) lines = g_strsplit(rl.out, "\n", -1);
                        gboolean found = FALSE;

                        for (char **l = lines; *l; l++)
                                if (g_str_has_prefix(*l, "ctl-test0 ")) {
                                        g_autofree char *w = squeeze(*l);
                                        g_assert_true(g_str_has_prefix(w, "ctl-test0 net "));
                                        found = TRUE;
                                }
                        g_assert_true(found);
                }
        }
        /* MTU and queue pairs: set, or refused by a management device
         * that does not support them (exit 7, the service's words). */
        {
                GVariantBuilder b;
                g_auto(Result) r = RUN(f, "create", handle, "ctl-test1", "--mtu=9000", "--max-queue-pairs=1");

                if (r.code == EXIT_OK) {
                        g_auto(Result) rs = RUN(f, "show", "ctl-test1");
                        g_auto(Result) rd = RUN(f, "delete", "ctl-test1");

                        g_assert_nonnull(strstr(rs.out, "MTU: 9000\n"));
                        g_assert_nonnull(strstr(rs.out, "Max queue pairs: 1\n"));
                        assert_exit(&rd, EXIT_OK);
                } else {
                        g_autoptr(GError) error = NULL;
                        g_autoptr(GVariant) reply = NULL;

                        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
                        g_variant_builder_add(&b, "{sv}", VDPA_OPT_MTU, g_variant_new_uint16(9000));
                        g_variant_builder_add(&b, "{sv}", VDPA_OPT_MAX_QUEUE_PAIRS, g_variant_new_uint16(1));
                        reply = dbus_call(f, "CreateDevice", g_variant_new("(ssa{sv})", handle, "ctl-test1", &b), NULL,
                                          &error);
                        g_assert_null(reply);
                        vdpa_test_assert_error_name(error, VDPA_ERROR_NOT_SUPPORTED);
                        assert_exit(&r, EXIT_NOT_SUPPORTED);
                        assert_error_message(&r, error);
                }
                assert_gone(f, "ctl-test1");
        }
        /* delete, text and JSON */
        {
                g_autofree char *want = g_strdup_printf("Deleted %s.\n", picked);
                g_auto(Result) r = RUN(f, "delete", picked);

                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(r.out, ==, want);
                g_assert_cmpstr(r.err, ==, "");
                assert_gone(f, picked);
                g_assert_false(mgmtdev_has_device(f, handle, picked));
        }
        {
                g_auto(Result) r = RUN(f, "--json", "delete", "ctl-test0");
                g_autoptr(JsonNode) n = NULL;
                JsonObject *o;

                assert_exit(&r, EXIT_OK);
                n = parse_json(r.out);
                o = json_node_get_object(n);
                g_assert_cmpuint(json_object_get_size(o), ==, 1);
                g_assert_cmpstr(json_object_get_string_member(o, "device"), ==, "ctl-test0");
                assert_gone(f, "ctl-test0");
        }
        /* The testbed's own devices are still all there. */
        {
                g_autoptr(GVariant) list = devices(f);
                g_assert_cmpuint(g_variant_n_children(list), ==, G_N_ELEMENTS(host_names));
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static void test_create_delete_errors(Fixture *f, gconstpointer data) {
        g_autofree char *handle = NULL;

        f->pk = vdpa_test_polkit_start_or_die(f->bus, NULL);
        if (!daemon_start_netlink(f))
                return;
        handle = net_mgmtdev(f);
        {
                g_auto(Result) r = RUN(f, "create", handle, "ctl-dup0");
                assert_exit(&r, EXIT_OK);
        }
        {
                struct {
                        const char *args[4];
                        const char *method;
                        GVariant *params;
                        int code;
                        const char *error;
                        const char *needle;
                } cases[] = {
                        { { "create", handle, "ctl-dup0" }, "CreateDevice",
                          g_variant_new("(ssa{sv})", handle, "ctl-dup0", NULL), EXIT_UNAVAILABLE,
                          VDPA_ERROR_DEVICE_EXISTS, "ctl-dup0" },
                        { { "create", "pci/0000:7f:1f.7", "ctl-x0" }, "CreateDevice",
                          g_variant_new("(ssa{sv})", "pci/0000:7f:1f.7", "ctl-x0", NULL), EXIT_NOT_FOUND,
                          VDPA_ERROR_NO_SUCH_MGMTDEV, "pci/0000:7f:1f.7" },
                        { { "create", handle, "--mtu=10" }, "CreateDevice", NULL, EXIT_USAGE,
                          "org.freedesktop.DBus.Error.InvalidArgs", "mtu" },
                        { { "delete", "nosuch0" }, "DeleteDevice", g_variant_new("(sa{sv})", "nosuch0", NULL),
                          EXIT_NOT_FOUND, VDPA_ERROR_NO_SUCH_DEVICE, "nosuch0" },
                        /* An mlx5 VF takes one vDPA device; this one has vdpa0. */
                        { { "create", "pci/0000:04:00.2", "ctl-x1" }, "CreateDevice",
                          g_variant_new("(ssa{sv})", "pci/0000:04:00.2", "ctl-x1", NULL), EXIT_UNAVAILABLE,
                          VDPA_ERROR_MGMTDEV_BUSY, "pci/0000:04:00.2" },
                };
                GVariantBuilder b;

                g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
                g_variant_builder_add(&b, "{sv}", VDPA_OPT_MTU, g_variant_new_uint16(10));
                cases[2].params = g_variant_new("(ssa{sv})", handle, "", &b);

                for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                        g_autoptr(GError) error = NULL;
                        g_autoptr(GVariant) reply = dbus_call(f, cases[i].method, cases[i].params, NULL, &error);
                        g_auto(Result) r = run_full(f, NULL, NULL, cases[i].args);

                        g_assert_null(reply);
                        vdpa_test_assert_error_name(error, cases[i].error);
                        assert_exit(&r, cases[i].code);
                        assert_error_message(&r, error);
                        g_assert_nonnull(strstr(r.err, cases[i].needle));
                }
        }
        assert_gone(f, "ctl-x0");
        assert_gone(f, "ctl-x1");
        {
                g_auto(Result) r = RUN(f, "delete", "ctl-dup0");
                assert_exit(&r, EXIT_OK);
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* polkit says NO to a user: create and delete exit 3 with the service's
 * message, and nothing changes. */
static void test_create_delete_unauthorized(Fixture *f, gconstpointer data) {
        g_autofree char *handle = NULL;
        uid_t uid;
        gid_t gid;

        vdpa_test_user_ensure_or_die(VDPA_TEST_USER, &uid, &gid);
        f->pk = vdpa_test_polkit_start_or_die(f->bus, rules_user_no);
        if (!daemon_start_netlink(f))
                return;
        handle = net_mgmtdev(f);
        {
                g_auto(Result) r = RUN(f, "create", handle, "ctl-auth0");
                assert_exit(&r, EXIT_OK);
        }
        for (int del = 0; del < 2; del++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) reply = vdpa_test_call_as_uid(f->bus, uid, gid, del ? "DeleteDevice" : "CreateDevice",
                                                                  del ? g_variant_new("(sa{sv})", "ctl-auth0", NULL) :
                                                                        g_variant_new("(ssa{sv})", handle, "ctl-auth1", NULL),
                                                                  G_DBUS_CALL_FLAGS_NONE, &error);
                const char *const create_args[] = { "create", handle, "ctl-auth1", NULL };
                const char *const delete_args[] = { "delete", "ctl-auth0", NULL };
                g_auto(Result) r = run_as_user(f, uid, gid, del ? delete_args : create_args);

                g_assert_null(reply);
                vdpa_test_assert_error_name(error, "org.freedesktop.DBus.Error.AccessDenied");
                assert_exit(&r, EXIT_NOT_AUTHORIZED);
                assert_error_message(&r, error);
        }
        assert_gone(f, "ctl-auth1");
        assert_created(f, handle, "ctl-auth0");
        {
                g_auto(Result) r = RUN(f, "delete", "ctl-auth0");
                assert_exit(&r, EXIT_OK);
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- colour --- */

static void test_color(Fixture *f, gconstpointer data) {
        g_autofree char *cmd = g_strdup_printf("%s --bus-address=%s list", vdpactl_path(),
                                               vdpa_test_bus_get_address(f->bus));

        vdpa_test_daemon_start_or_die(f->bus, NULL);

        /* script(1) gives vdpactl a terminal. */
        {
                g_autoptr(GError) error = NULL;
                g_auto(GStrv) envp = client_env((const char *const[]) { "TERM", "xterm", NULL });
                const char *argv[] = { "script", "-qec", cmd, "/dev/null", NULL };
                g_autofree char *out = NULL;
                int status;

                g_assert_true(g_spawn_sync(NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                                           NULL, NULL, &out, NULL, &status, &error));
                g_assert_no_error(error);
                g_assert_true(g_spawn_check_wait_status(status, NULL));
                g_assert_nonnull(strstr(out, "\x1b[0;32mavailable\x1b[0m"));
                g_assert_nonnull(strstr(out, "\x1b[0;31munusable\x1b[0m"));
                g_assert_nonnull(strstr(out, "\x1b[0;90mexcluded\x1b[0m"));

                g_strfreev(envp);
                envp = client_env((const char *const[]) { "TERM", "xterm", "NO_COLOR", "1", NULL });
                g_clear_pointer(&out, g_free);
                g_assert_true(g_spawn_sync(NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                                           NULL, NULL, &out, NULL, &status, &error));
                g_assert_no_error(error);
                g_assert_nonnull(strstr(out, "available"));
                g_assert_null(strchr(out, '\x1b'));
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- monitor --- */

typedef struct {
        GPid pid;
        int out_fd;
        GString *buf;
} Proc;

static void proc_start(Fixture *f, Proc *p, const char *const *args) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) argv = NULL;
        g_auto(GStrv) envp = client_env(NULL);

        add_wrapper(b);
        g_strv_builder_add(b, vdpactl_path());
        strv_add_printf(b, "--bus-address=%s", vdpa_test_bus_get_address(f->bus));
        g_strv_builder_addv(b, (const char **) args);
        argv = g_strv_builder_end(b);

        g_assert_true(g_spawn_async_with_pipes(NULL, argv, envp, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_SEARCH_PATH | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                                               NULL, NULL, &p->pid, NULL, &p->out_fd, NULL, &error));
        g_assert_no_error(error);
        p->buf = g_string_new(NULL);
}

/* The next line of output, within TIMEOUT_MS; NULL on timeout or EOF. */
static char *proc_read_line(Proc *p, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        for (;;) {
                char *nl = strchr(p->buf->str, '\n');
                struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
                char chunk[4096];
                gint64 left;
                ssize_t n;

                if (nl) {
                        char *line = g_strndup(p->buf->str, nl - p->buf->str);
                        g_string_erase(p->buf, 0, nl - p->buf->str + 1);
                        return line;
                }
                left = (deadline - g_get_monotonic_time()) / 1000;
                if (left <= 0 || poll(&pfd, 1, (int) left) <= 0)
                        return NULL;
                n = read(p->out_fd, chunk, sizeof chunk);
                if (n <= 0)
                        return NULL;
                g_string_append_len(p->buf, chunk, n);
        }
}

/* Reads lines until one contains NEEDLE; returns it. */
static char *proc_expect(Proc *p, const char *needle) {
        for (;;) {
                char *line = proc_read_line(p, 10000);

                if (!line)
                        g_error("monitor output ended or timed out waiting for '%s'", needle);
                if (strstr(line, needle))
                        return line;
                g_free(line);
        }
}

static int proc_stop(Proc *p) {
        int status;

        g_assert_cmpint(kill(p->pid, SIGTERM), ==, 0);
        g_assert_cmpint(waitpid(p->pid, &status, 0), ==, p->pid);
        g_spawn_close_pid(p->pid);
        close(p->out_fd);
        g_string_free(p->buf, TRUE);
        g_assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void assert_timestamp(const char *line) {
        g_assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} ", line, 0, 0));
}

static JsonObject *json_line(const char *line, JsonNode **keep) {
        *keep = parse_json(line);
        g_assert_true(JSON_NODE_HOLDS_OBJECT(*keep));
        g_assert_nonnull(json_object_get_string_member(json_node_get_object(*keep), "timestamp"));
        return json_node_get_object(*keep);
}

static void test_monitor(Fixture *f, gconstpointer data) {
        Proc text = {}, json = {};
        g_autofree char *l = NULL;
        g_autoptr(JsonNode) n = NULL;
        JsonObject *o;

        /* Started before the service: it waits for it. */
        proc_start(f, &text, (const char *const[]) { "monitor", NULL });
        l = proc_expect(&text, "service not running");
        assert_timestamp(l);
        g_clear_pointer(&l, g_free);

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        l = proc_expect(&text, "service started");
        g_clear_pointer(&l, g_free);

        proc_start(f, &json, (const char *const[]) { "--json=pretty", "monitor", NULL });
        l = proc_expect(&json, "\"Monitoring\"");
        o = json_line(l, &n);
        g_assert_true(json_object_get_boolean_member(o, "running"));
        g_clear_pointer(&l, g_free);
        g_clear_pointer(&n, json_node_unref);

        /* hotplug: add, then bind */
        vdpa_testbed_add_vdpa(f->tb, VDPA_TESTBED_VF5 "/vdpa9");
        l = proc_expect(&text, "DeviceAdded vdpa9");
        assert_timestamp(l);
        g_assert_nonnull(strstr(l, "state=unusable"));
        g_clear_pointer(&l, g_free);

        l = proc_expect(&json, "\"DeviceAdded\"");
        o = json_line(l, &n);
        g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, "vdpa9");
        {
                JsonObject *d = json_object_get_object_member(o, "device");
                g_assert_cmpstr(json_object_get_string_member(d, "ParentDevice"), ==, "0000:04:00.5");
                g_assert_cmpint(json_object_get_int_member(d, "NumaNode"), ==, 0);
                g_assert_cmpint(json_object_get_int_member(d, "VendorId"), ==, 0x15b3);
        }
        g_clear_pointer(&l, g_free);
        g_clear_pointer(&n, json_node_unref);

        vdpa_testbed_bind_vhost(f->tb, VDPA_TESTBED_VF5 "/vdpa9", 9);
        l = proc_expect(&text, "DeviceChanged vdpa9");
        g_assert_nonnull(strstr(l, "state=available driver=vhost_vdpa chardev=/dev/vhost-vdpa-9"));
        g_clear_pointer(&l, g_free);

        /* The service restarts: both notice, and keep listening. */
        vdpa_test_daemon_stop_assert_ok(f->bus);
        l = proc_expect(&text, "service stopped");
        assert_timestamp(l);
        g_clear_pointer(&l, g_free);
        l = proc_expect(&json, "\"ServiceStopped\"");
        g_clear_pointer(&l, g_free);

        vdpa_test_daemon_start_or_die(f->bus, NULL);
        l = proc_expect(&text, "service started");
        g_clear_pointer(&l, g_free);
        l = proc_expect(&json, "\"ServiceStarted\"");
        g_clear_pointer(&l, g_free);

        vdpa_testbed_remove(f->tb, VDPA_TESTBED_VF5 "/vdpa9");
        l = proc_expect(&text, "DeviceRemoved vdpa9");
        g_clear_pointer(&l, g_free);
        l = proc_expect(&json, "\"DeviceRemoved\"");
        o = json_line(l, &n);
        g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, "vdpa9");
        g_assert_false(json_object_has_member(o, "device"));
        g_clear_pointer(&l, g_free);
        g_clear_pointer(&n, json_node_unref);

        /* SIGTERM ends it cleanly. */
        g_assert_cmpint(proc_stop(&text), ==, 0);
        g_assert_cmpint(proc_stop(&json), ==, 0);

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- bash completion --- */

/* Completes LINE as readline would: "=" and ":" are words of their own
 * (COMP_WORDBREAKS), bash-completion's _init_completion puts them back. */
static const char complete_sh[] =
        "set -e\n"
        "source /usr/share/bash-completion/bash_completion\n"
        "source \"$1\"\n"
        "COMP_LINE=$2\n"
        "COMP_POINT=${#COMP_LINE}\n"
        "read -ra COMP_WORDS <<<\"$(sed -e 's/[=:]/ & /g' <<<\"$COMP_LINE\")\"\n"
        "[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')\n"
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
        "COMPREPLY=()\n"
        "set +e\n"
        "_vdpactl vdpactl \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD - 1]}\"\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\" | sort\n";

static char *complete(Fixture *f, const char *line_fmt) {
        g_autofree char *script = g_build_filename(g_getenv("VDPA_TEST_SRCDIR"), "completion", "vdpactl", NULL);
        g_autofree char *bindir = g_path_get_dirname(vdpactl_path());
        g_autofree char *path = g_strdup_printf("%s:%s", bindir, g_getenv("PATH"));
        g_autofree char *line = NULL;
        g_autofree char *out = NULL, *err = NULL;
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) envp = client_env((const char *const[]) { "PATH", path, NULL });
        int status;

        {
                /* "@BUS@" stands for the bus address. */
                g_auto(GStrv) parts = g_strsplit(line_fmt, "@BUS@", -1);
                line = g_strjoinv(f ? vdpa_test_bus_get_address(f->bus) : "", parts);
        }
        const char *argv[] = { "bash", "-c", complete_sh, "complete", script, line, NULL };
        g_assert_true(g_spawn_sync(NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                                   NULL, NULL, &out, &err, &status, &error));
        g_assert_no_error(error);
        if (!g_spawn_check_wait_status(status, NULL) || err[0])
                g_error("completing '%s' failed: %s", line, err);
        return g_steal_pointer(&out);
}

#define assert_completes(f, line, want)                                 \
        G_STMT_START {                                                  \
                g_autofree char *_got = complete((f), (line));          \
                g_assert_cmpstr(_got, ==, (want));                      \
        } G_STMT_END

static void test_completion(Fixture *f, gconstpointer data) {
        /* Verbs and options need no service. */
        assert_completes(NULL, "vdpactl sh", "show\n");
        assert_completes(NULL, "vdpactl c", "check-migration\nclaim\ncreate\n");
        assert_completes(NULL, "vdpactl d", "delete\n");
        assert_completes(NULL, "vdpactl mg", "mgmtdev\n");
        assert_completes(NULL, "vdpactl mgmtdev ", "list\n");
        assert_completes(NULL, "vdpactl mgmtdev list ", "\n");
        assert_completes(NULL, "vdpactl pro", "provision\n");
        assert_completes(NULL, "vdpactl provision ", "status\n");
        assert_completes(NULL, "vdpactl provision st", "status\n");
        assert_completes(NULL, "vdpactl provision status ", "\n");
        assert_completes(NULL, "vdpactl provision --m", "\n");   /* no options of its own */
        assert_completes(NULL, "vdpactl provision --no-l", "--no-legend\n");
        assert_completes(NULL, "vdpactl create --m", "--mac=\n--max-queue-pairs=\n--mtu=\n");
        assert_completes(NULL, "vdpactl create vdpasim_net --mtu ", "\n");
        assert_completes(NULL, "vdpactl delete --m", "\n");     /* delete takes no options */
        assert_completes(NULL, "vdpactl claim --mt", "\n");      /* --mtu is for create */
        assert_completes(NULL, "vdpactl release --f", "--force\n");
        assert_completes(NULL, "vdpactl claim --numa-p", "--numa-policy=\n");
        assert_completes(NULL, "vdpactl claim --auto --numa-policy=re", "required\n");
        assert_completes(NULL, "vdpactl --json=p", "pretty\n");
        assert_completes(NULL, "vdpactl list --ma", "\n");    /* --mac is not for list */

        /* Device names, live, from the bus on the command line. */
        vdpa_test_daemon_start_or_die(f->bus, NULL);
        assert_completes(f, "vdpactl --bus-address=@BUS@ show vd", "vdpa-sim0\nvdpa0\nvdpa1\nvdpa2\n");
        assert_completes(f, "vdpactl --bus-address @BUS@ xml ", "blk0\nfast1\nvdpa-sim0\nvdpa0\nvdpa1\nvdpa2\n");
        /* claim offers what can be claimed; release what is claimed. */
        assert_completes(f, "vdpactl claim --bus-address=@BUS@ ", "fast1\nvdpa0\nvdpa2\n");
        assert_completes(f, "vdpactl --bus-address=@BUS@ release ", "\n");
        assert_completes(f, "vdpactl --bus-address=@BUS@ claim --auto --pf=0000:81", "81:00.0\n");
        assert_completes(f, "vdpactl --bus-address=@BUS@ show vdpa0 ", "\n");
        /* No netlink family: no management devices, nothing to delete. */
        assert_completes(f, "vdpactl --bus-address=@BUS@ create ", "\n");
        assert_completes(f, "vdpactl --bus-address=@BUS@ delete ", "\n");
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

static int cmp_strp(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* LINES ("a\nb\n") sorted bytewise, whatever sort(1)'s locale did. */
static char *sorted_lines(const char *lines) {
        g_auto(GStrv) v = g_strsplit(lines, "\n", -1);
        g_autoptr(GPtrArray) a = g_ptr_array_new();
        g_autoptr(GString) out = g_string_new(NULL);

        for (char **l = v; *l; l++)
                if (**l)
                        g_ptr_array_add(a, *l);
        g_ptr_array_sort(a, cmp_strp);
        for (guint i = 0; i < a->len; i++)
                g_string_append_printf(out, "%s\n", (const char *) g_ptr_array_index(a, i));
        if (a->len == 0)
                g_string_append_c(out, '\n');
        return g_string_free(g_steal_pointer(&out), FALSE);
}

/* The values of KEY (s or as) over all management devices, one a line. */
static char *mgmtdev_values(Fixture *f, const char *key) {
        g_autoptr(GVariant) mgmt = management_devices(f);
        g_autoptr(GString) out = g_string_new(NULL);

        for (gsize i = 0; i < g_variant_n_children(mgmt); i++) {
                g_autoptr(GVariant) m = g_variant_get_child_value(mgmt, i);
                g_autoptr(GVariant) v = g_variant_lookup_value(m, key, NULL);

                g_assert_nonnull(v);
                if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING)) {
                        g_string_append_printf(out, "%s\n", g_variant_get_string(v, NULL));
                        continue;
                }
                for (gsize j = 0; j < g_variant_n_children(v); j++) {
                        g_autoptr(GVariant) e = g_variant_get_child_value(v, j);
                        g_string_append_printf(out, "%s\n", g_variant_get_string(e, NULL));
                }
        }
        return sorted_lines(out->str);
}

/* create completes the management devices' handles, delete the devices
 * on them (none is claimed or in use here). */
static void test_completion_mgmtdev(Fixture *f, gconstpointer data) {
        g_autofree char *handle = NULL;

        f->pk = vdpa_test_polkit_start_or_die(f->bus, NULL);
        if (!daemon_start_netlink(f))
                return;
        {
                g_autofree char *want = mgmtdev_values(f, VDPA_MGMT_KEY_HANDLE);
                g_autofree char *raw = complete(f, "vdpactl --bus-address=@BUS@ create ");
                g_autofree char *got = sorted_lines(raw);

                g_assert_cmpstr(got, ==, want);
        }
        handle = net_mgmtdev(f);
        {
                g_auto(Result) r = RUN(f, "create", handle, "ctl-comp0");
                g_autofree char *want = NULL;
                g_autofree char *raw = NULL;
                g_autofree char *got = NULL;

                assert_exit(&r, EXIT_OK);
                want = mgmtdev_values(f, VDPA_MGMT_KEY_DEVICES);
                g_assert_nonnull(strstr(want, "ctl-comp0\n"));
                raw = complete(f, "vdpactl --bus-address=@BUS@ delete ");
                got = sorted_lines(raw);
                g_assert_cmpstr(got, ==, want);
                assert_completes(f, "vdpactl --bus-address=@BUS@ delete ctl-", "ctl-comp0\n");
                /* The new device's name is the user's to choose. */
                assert_completes(f, "vdpactl --bus-address=@BUS@ create vdpasim_net ", "\n");
        }
        {
                g_auto(Result) r = RUN(f, "delete", "ctl-comp0");
                assert_exit(&r, EXIT_OK);
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- provision status (DESIGN.md §8) --- */

static void write_config(Fixture *f, const char *text) {
        g_autoptr(GError) error = NULL;

        g_file_set_contents(vdpa_test_bus_get_config_path(f->bus), text, -1, &error);
        g_assert_no_error(error);
}

static GVariant *provision_rules(Fixture *f) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        GVariant *v = NULL;

        reply = vdpa_test_call_full(vdpa_test_bus_get_connection(f->bus), VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                    "org.freedesktop.DBus.Properties", "Get",
                                    g_variant_new("(ss)", VDPA_INTERFACE, "ProvisionRules"), "(v)",
                                    G_DBUS_CALL_FLAGS_NONE, 5000, &error);
        g_assert_no_error(error);
        g_variant_get(reply, "(v)", &v);
        g_assert_true(g_variant_is_of_type(v, G_VARIANT_TYPE("aa{sv}")));
        return v;
}

static const char *str_of(GVariant *d, const char *key) {
        const char *s;

        g_assert_true(g_variant_lookup(d, key, "&s", &s));
        return s;
}

static guint16 q_of(GVariant *d, const char *key) {
        guint16 q;

        g_assert_true(g_variant_lookup(d, key, "q", &q));
        return q;
}

static const char *or_dash(const char *s) {
        return s[0] ? s : "-";
}

/* Handles that RULE's glob matches, as vdpa-manager.conf(5) says the
 * service matches them (fnmatch(3)), one a line. */
static char *rule_matches(GVariant *rule, GVariant *mgmt) {
        g_autoptr(GString) out = g_string_new(NULL);

        for (gsize i = 0; i < g_variant_n_children(mgmt); i++) {
                g_autoptr(GVariant) m = g_variant_get_child_value(mgmt, i);
                const char *handle = str_of(m, VDPA_MGMT_KEY_HANDLE);

                if (fnmatch(str_of(rule, VDPA_RULE_KEY_MANAGEMENT_DEVICE), handle, 0) == 0)
                        g_string_append_printf(out, "%s\n", handle);
        }
        return g_string_free(g_steal_pointer(&out), FALSE);
}

static guint count_lines(const char *s) {
        guint n = 0;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static char *count_or_dash(guint16 n) {
        return n ? g_strdup_printf("%u", n) : g_strdup("-");
}

/* The words of a rule row: RULE MANAGEMENT-DEVICE MAX-QP MTU MAC NAME MATCHES. */
static char *rule_row_words(GVariant *rule, GVariant *mgmt) {
        g_autofree char *matches = rule_matches(rule, mgmt);
        g_autofree char *qp = count_or_dash(q_of(rule, VDPA_RULE_KEY_MAX_QUEUE_PAIRS));
        g_autofree char *mtu = count_or_dash(q_of(rule, VDPA_RULE_KEY_MTU));
        g_autofree char *n = matches[0] ? g_strdup_printf("%u", count_lines(matches)) : g_strdup("no match");

        return g_strjoin(" ", str_of(rule, VDPA_RULE_KEY_NAME), str_of(rule, VDPA_RULE_KEY_MANAGEMENT_DEVICE),
                         qp, mtu, or_dash(str_of(rule, VDPA_RULE_KEY_MAC)),
                         str_of(rule, VDPA_RULE_KEY_NAME_PATTERN), n, NULL);
}

static gboolean device_provisioned(GVariant *list, const char *name) {
        for (gsize i = 0; i < g_variant_n_children(list); i++) {
                g_autoptr(GVariant) d = g_variant_get_child_value(list, i);
                gboolean provisioned;

                g_assert_true(g_variant_lookup(d, VDPA_KEY_PROVISIONED, "b", &provisioned));
                if (g_str_equal(str_of(d, VDPA_KEY_NAME), name))
                        return provisioned;
        }
        return FALSE;
}

/* Names of the devices on M made under a rule, one a line. */
static char *mgmtdev_provisioned(GVariant *m, GVariant *list) {
        g_autofree const char **devs = NULL;
        g_autoptr(GString) out = g_string_new(NULL);

        g_assert_true(g_variant_lookup(m, VDPA_MGMT_KEY_DEVICES, "^a&s", &devs));
        for (size_t i = 0; devs[i]; i++)
                if (device_provisioned(list, devs[i]))
                        g_string_append_printf(out, "%s\n", devs[i]);
        return g_string_free(g_steal_pointer(&out), FALSE);
}

/* The words of a management device row: HANDLE RULE DEVICES PROVISIONED ERROR. */
static char *provision_mgmtdev_row_words(GVariant *m, GVariant *list) {
        g_autofree char *devs = strv_key_joined(m, VDPA_MGMT_KEY_DEVICES);
        g_autofree char *made = mgmtdev_provisioned(m, list);
        g_autofree char *joined = g_strjoin(" ", str_of(m, VDPA_MGMT_KEY_HANDLE),
                                            or_dash(str_of(m, VDPA_MGMT_KEY_PROVISION_RULE)), devs,
                                            made[0] ? "yes" : g_str_equal(devs, "-") ? "-" : "no",
                                            or_dash(str_of(m, VDPA_MGMT_KEY_PROVISION_ERROR)), NULL);

        return squeeze(joined);
}

/* OUT is `provision status` for what the service says now: the rule
 * table, a blank line, the management device table, each with header
 * and the footer under LEGEND, else the rows only (the blank line
 * always).  Checked line by line and column by column. */
static void assert_provision_text(Fixture *f, const char *out, gboolean legend) {
        g_autoptr(GVariant) rules = provision_rules(f);
        g_autoptr(GVariant) mgmt = management_devices(f);
        g_autoptr(GVariant) list = devices(f);
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        gsize nr = g_variant_n_children(rules), nm = g_variant_n_children(mgmt);
        guint i = 0;

        g_assert_null(strchr(out, '\x1b'));
        if (legend && nr > 0) {
                g_autofree char *h = squeeze(lines[i++]);
                g_assert_cmpstr(h, ==, "RULE MANAGEMENT-DEVICE MAX-QP MTU MAC NAME MATCHES");
        }
        for (gsize r = 0; r < nr; r++) {
                g_autoptr(GVariant) rule = g_variant_get_child_value(rules, r);
                g_autofree char *want = rule_row_words(rule, mgmt);
                g_autofree char *got = NULL;

                g_assert_nonnull(lines[i]);
                got = squeeze(lines[i++]);
                g_assert_cmpstr(got, ==, want);
        }
        if (!legend || (nr > 0 && nm > 0))
                g_assert_cmpstr(lines[i++], ==, "");
        if (legend && nm > 0) {
                g_autofree char *h = squeeze(lines[i++]);
                g_assert_cmpstr(h, ==, "HANDLE RULE DEVICES PROVISIONED ERROR");
        }
        for (gsize k = 0; k < nm; k++) {
                g_autoptr(GVariant) m = g_variant_get_child_value(mgmt, k);
                g_autofree char *want = provision_mgmtdev_row_words(m, list);
                g_autofree char *got = NULL;

                g_assert_nonnull(lines[i]);
                got = squeeze(lines[i++]);
                g_assert_cmpstr(got, ==, want);
        }
        if (legend) {
                g_autofree char *footer = g_strdup_printf("%zu provisioning rule%s, %zu management device%s listed.",
                                                          (size_t) nr, nr == 1 ? "" : "s",
                                                          (size_t) nm, nm == 1 ? "" : "s");
                if (nr + nm > 0)
                        g_assert_cmpstr(lines[i++], ==, "");
                g_assert_cmpstr(lines[i++], ==, footer);
        }
        /* Nothing more: "" after the last newline. */
        g_assert_cmpstr(lines[i], ==, "");
        g_assert_null(lines[i + 1]);
}

static void assert_json_strings(JsonNode *n, const char *lines) {
        g_auto(GStrv) want = g_strsplit(lines, "\n", -1);
        JsonArray *a;

        g_assert_true(JSON_NODE_HOLDS_ARRAY(n));
        a = json_node_get_array(n);
        g_assert_cmpuint(json_array_get_length(a), ==, count_lines(lines));
        for (guint i = 0; i < json_array_get_length(a); i++)
                g_assert_cmpstr(json_array_get_string_element(a, i), ==, want[i]);
}

/* `--json provision status`: the service's ProvisionRules and
 * ManagementDevices() dictionaries as they are, plus vdpactl's "matches"
 * and "provisioned". */
static void assert_provision_json(Fixture *f, const char *out) {
        g_autoptr(GVariant) rules = provision_rules(f);
        g_autoptr(GVariant) mgmt = management_devices(f);
        g_autoptr(GVariant) list = devices(f);
        g_autoptr(JsonNode) n = parse_json(out);
        JsonObject *o;
        JsonArray *a;

        g_assert_true(JSON_NODE_HOLDS_OBJECT(n));
        o = json_node_get_object(n);
        g_assert_cmpuint(json_object_get_size(o), ==, 2);
        a = json_object_get_array_member(o, "rules");
        g_assert_cmpuint(json_array_get_length(a), ==, g_variant_n_children(rules));
        for (guint i = 0; i < json_array_get_length(a); i++) {
                g_autoptr(GVariant) rule = g_variant_get_child_value(rules, i);
                g_autofree char *matches = rule_matches(rule, mgmt);
                JsonObject *r = json_array_get_object_element(a, i);

                assert_json_strings(json_object_get_member(r, "matches"), matches);
                json_object_remove_member(r, "matches");
                assert_json_equals_variant(json_array_get_element(a, i), rule, "ProvisionRules");
        }
        a = json_object_get_array_member(o, "management_devices");
        g_assert_cmpuint(json_array_get_length(a), ==, g_variant_n_children(mgmt));
        for (guint i = 0; i < json_array_get_length(a); i++) {
                g_autoptr(GVariant) m = g_variant_get_child_value(mgmt, i);
                g_autofree char *made = mgmtdev_provisioned(m, list);
                JsonObject *r = json_array_get_object_element(a, i);

                assert_json_strings(json_object_get_member(r, "provisioned"), made);
                json_object_remove_member(r, "provisioned");
                assert_json_equals_variant(json_array_get_element(a, i), m, "ManagementDevices");
        }
}

/* `provision status`, `provision` and their --no-legend and --json forms
 * all agree with the service. */
static void assert_provision_all_forms(Fixture *f) {
        const char *modes[] = { "--json", "--json=short", "--json=pretty" };
        g_autofree char *status_out = NULL;

        {
                g_auto(Result) r = RUN(f, "provision", "status");
                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(r.err, ==, "");
                assert_provision_text(f, r.out, TRUE);
                status_out = g_strdup(r.out);
        }
        {
                /* `provision` alone is `provision status`. */
                g_auto(Result) r = RUN(f, "provision");
                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(r.out, ==, status_out);
        }
        {
                g_auto(Result) r = RUN(f, "--no-legend", "provision", "status");
                assert_exit(&r, EXIT_OK);
                assert_provision_text(f, r.out, FALSE);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
                g_auto(Result) r = RUN(f, modes[i], "provision");
                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(r.err, ==, "");
                assert_provision_json(f, r.out);
                if (i < 2)
                        g_assert_cmpuint(strchr(r.out, '\n') - r.out, ==, strlen(r.out) - 1);
                else
                        g_assert_nonnull(strstr(r.out, "\n  "));
        }
}

/* No netlink family: nothing to provision on.  ManagementDevices'
 * NotSupported, in the service's words, exit 7, as `mgmtdev`; the rules
 * are served all the same. */
static void test_provision_not_supported(Fixture *f, gconstpointer data) {
        const ErrorCase cases[] = {
                { { "provision" }, "ManagementDevices", p_none, EXIT_NOT_SUPPORTED, VDPA_ERROR_NOT_SUPPORTED },
                { { "provision", "status" }, "ManagementDevices", p_none, EXIT_NOT_SUPPORTED,
                  VDPA_ERROR_NOT_SUPPORTED },
                { { "--json", "provision", "status" }, "ManagementDevices", p_none, EXIT_NOT_SUPPORTED,
                  VDPA_ERROR_NOT_SUPPORTED },
        };
        g_autoptr(GVariant) rules = NULL;

        write_config(f, "[Provision port0]\nManagementDevice=pci/0000:04:00.*\nMtu=9000\n");
        vdpa_test_daemon_start_or_die(f->bus, NULL);
        g_assert_false(capability_netlink(f));
        rules = provision_rules(f);
        g_assert_cmpuint(g_variant_n_children(rules), ==, 1);

        run_error_cases(f, cases, G_N_ELEMENTS(cases));
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* No [Provision] group: no rules listed, every management device with
 * RULE "-", exit 0. */
static void test_provision_no_rules(Fixture *f, gconstpointer data) {
        if (!daemon_start_netlink(f))
                return;
        {
                g_autoptr(GVariant) rules = provision_rules(f);
                g_assert_cmpuint(g_variant_n_children(rules), ==, 0);
        }
        {
                g_autoptr(GVariant) mgmt = management_devices(f);
                g_autofree char *footer = g_strdup_printf("\n0 provisioning rules, %zu management devices listed.\n",
                                                          (size_t) g_variant_n_children(mgmt));
                g_auto(Result) r = RUN(f, "provision", "status");

                assert_exit(&r, EXIT_OK);
                g_assert_true(g_str_has_prefix(r.out, "HANDLE "));
                g_assert_true(g_str_has_suffix(r.out, footer));
        }
        {
                g_auto(Result) r = RUN(f, "--json=short", "provision");
                assert_exit(&r, EXIT_OK);
                g_assert_true(g_str_has_prefix(r.out, "{\"rules\":[],\"management_devices\":[{"));
        }
        assert_provision_all_forms(f);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* Rules over management devices that already have a device (the rules
 * create nothing there, engine or not), one shadowed by the first, one
 * matching nothing. */
static const char provision_conf[] =
        "[Provision port0]\n"
        "ManagementDevice=pci/0000:04:00.[23]\n"
        "MaxQueuePairs=4\n"
        "Mtu=9000\n"
        "Mac=auto\n"
        "Name=p0v%n\n"
        "\n"
        "[Provision later]\n"
        "ManagementDevice=pci/0000:04:00.3\n"
        "\n"
        "[Provision nothing]\n"
        "ManagementDevice=pci/0000:ff:*\n";

static void test_provision_rules(Fixture *f, gconstpointer data) {
        write_config(f, provision_conf);
        if (!daemon_start_netlink(f))
                return;
        {
                g_autoptr(GVariant) rules = provision_rules(f);
                g_assert_cmpuint(g_variant_n_children(rules), ==, 3);
        }
        assert_provision_all_forms(f);

        /* Spelled out, so that a bug shared by vdpactl and the checks
         * above cannot hide. */
        {
                g_auto(Result) r = RUN(f, "--no-legend", "provision");
                g_auto(GStrv) lines = g_strsplit(r.out, "\n", -1);
                g_autofree char *l0 = squeeze(lines[0]);
                g_autofree char *l1 = squeeze(lines[1]);
                g_autofree char *l2 = squeeze(lines[2]);

                assert_exit(&r, EXIT_OK);
                g_assert_cmpstr(l0, ==, "port0 pci/0000:04:00.[23] 4 9000 auto p0v%n 2");
                g_assert_cmpstr(l1, ==, "later pci/0000:04:00.3 - - - vdpa%n 1");
                g_assert_cmpstr(l2, ==, "nothing pci/0000:ff:* - - - vdpa%n no match");
                g_assert_cmpstr(lines[3], ==, "");
        }
        {
                g_auto(Result) r = RUN(f, "--json", "provision", "status");
                g_autoptr(JsonNode) n = parse_json(r.out);
                JsonArray *rules = json_object_get_array_member(json_node_get_object(n), "rules");
                JsonObject *port0 = json_array_get_object_element(rules, 0);
                JsonArray *matches = json_object_get_array_member(port0, "matches");

                g_assert_cmpstr(json_object_get_string_member(port0, "Name"), ==, "port0");
                g_assert_cmpint(json_object_get_int_member(port0, "MaxQueuePairs"), ==, 4);
                g_assert_cmpint(json_object_get_int_member(port0, "Mtu"), ==, 9000);
                g_assert_cmpstr(json_object_get_string_member(port0, "Mac"), ==, "auto");
                g_assert_cmpstr(json_object_get_string_member(port0, "NamePattern"), ==, "p0v%n");
                g_assert_cmpuint(json_array_get_length(matches), ==, 2);
                g_assert_cmpstr(json_array_get_string_element(matches, 0), ==, "pci/0000:04:00.2");
                g_assert_cmpstr(json_array_get_string_element(matches, 1), ==, "pci/0000:04:00.3");
                g_assert_cmpuint(json_array_get_length(json_object_get_array_member(
                                         json_array_get_object_element(rules, 2), "matches")), ==, 0);
        }
        /* The first matching rule in file order applies: port0 on .3, not
         * later (empty while the service has no rules engine). */
        {
                g_autoptr(GVariant) mgmt = management_devices(f);

                for (gsize i = 0; i < g_variant_n_children(mgmt); i++) {
                        g_autoptr(GVariant) m = g_variant_get_child_value(mgmt, i);
                        const char *rule = str_of(m, VDPA_MGMT_KEY_PROVISION_RULE);

                        if (g_str_has_prefix(str_of(m, VDPA_MGMT_KEY_HANDLE), "pci/0000:04:00.") && rule[0])
                                g_assert_cmpstr(rule, ==, "port0");
                }
        }
        /* The rules made nothing: .2 and .3 had their devices. */
        {
                g_autoptr(GVariant) list = devices(f);
                g_assert_cmpuint(g_variant_n_children(list), ==, G_N_ELEMENTS(host_names));
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* Rows of OUT with their blanks squeezed, each after a "\n". */
static char *squeeze_lines(const char *out) {
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        g_autoptr(GString) s = g_string_new(NULL);

        for (char **l = lines; *l; l++) {
                g_autofree char *w = squeeze(*l);
                g_string_append_printf(s, "\n%s", w);
        }
        return g_string_free(g_steal_pointer(&s), FALSE);
}

/* The rules engine at work: a rule over the free VF pci/0000:04:00.5
 * makes "prov0" there (the lowest free index), Provisioned, and both
 * `show` and `provision status` say so. */
static void test_provision_created(Fixture *f, gconstpointer data) {
        const char *handle = "pci/0000:04:00.5";
        g_autoptr(GVariant) d = NULL;

        write_config(f, "[Provision free]\nManagementDevice=pci/0000:04:00.5\nName=prov%n\n");
        if (!daemon_start_netlink(f))
                return;
        for (int i = 0; i < 200 && !d; i++) {
                g_autoptr(GError) error = NULL;

                d = get_device(f, "prov0", &error);
                if (!d)
                        g_usleep(50 * 1000);
        }
        if (!d)
                g_error("rule 'free' made no device prov0 on %s in 10 s", handle);
        assert_created(f, handle, "prov0");
        {
                g_auto(Result) r = RUN(f, "show", "prov0");

                assert_exit(&r, EXIT_OK);
                g_assert_true(has_field(r.out, "Provisioned", "yes"));
                assert_show_provision_lines(r.out, d);
        }
        {
                g_auto(Result) r = RUN(f, "--json", "show", "prov0");
                g_autoptr(JsonNode) n = parse_json(r.out);

                assert_exit(&r, EXIT_OK);
                g_assert_true(json_object_get_boolean_member(json_node_get_object(n), VDPA_KEY_PROVISIONED));
        }
        {
                g_auto(Result) r = RUN(f, "--no-legend", "provision");
                g_autofree char *got = squeeze_lines(r.out);
                g_autofree char *row = g_strdup_printf("\n%s free prov0 yes -\n", handle);

                assert_exit(&r, EXIT_OK);
                g_assert_nonnull(strstr(got, "\nfree pci/0000:04:00.5 - - - prov%n 1\n"));
                g_assert_nonnull(strstr(got, row));
        }
        assert_provision_all_forms(f);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* A rule that cannot be applied: ManagementDevices()' ProvisionError is
 * what the ERROR column and --json show, and nothing is made. */
static void test_provision_error(Fixture *f, gconstpointer data) {
#ifdef VDPA_TEST_HAVE_SIM
        const char *handle = "pci/0000:04:00.5";
        g_autofree char *error = NULL;

        write_config(f, "[Provision free]\nManagementDevice=pci/0000:04:00.5\n");
        vdpa_sim_fail_dev_new(f->sim, handle, ENOSPC);
        if (!daemon_start_netlink(f))
                return;
        for (int i = 0; i < 200 && !error; i++) {
                g_autoptr(GVariant) mgmt = management_devices(f);

                for (gsize k = 0; k < g_variant_n_children(mgmt); k++) {
                        g_autoptr(GVariant) m = g_variant_get_child_value(mgmt, k);

                        if (g_str_equal(str_of(m, VDPA_MGMT_KEY_HANDLE), handle) &&
                            str_of(m, VDPA_MGMT_KEY_PROVISION_ERROR)[0])
                                error = g_strdup(str_of(m, VDPA_MGMT_KEY_PROVISION_ERROR));
                }
                if (!error)
                        g_usleep(50 * 1000);
        }
        if (!error)
                g_error("no ProvisionError on %s in 10 s", handle);
        {
                g_auto(Result) r = RUN(f, "--no-legend", "provision");
                g_autofree char *got = squeeze_lines(r.out);
                g_autofree char *joined = g_strdup_printf("%s free - - %s", handle, error);
                g_autofree char *row = squeeze(joined);
                g_autofree char *want = g_strdup_printf("\n%s\n", row);

                assert_exit(&r, EXIT_OK);
                if (!strstr(got, want))
                        g_error("'%s' not in:\n%s", row, r.out);
        }
        /* The retries may change the message while these run: compared
         * with what the service says right after. */
        assert_provision_all_forms(f);
        vdpa_test_daemon_stop_assert_ok(f->bus);
#else
        g_test_skip("built without the vdpa netlink simulator (tests/vdpa-sim.h)");
#endif
}

#define ADD(path, func) \
        g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
#define ADD_SIM(path, func) \
        g_test_add(path, Fixture, NULL, fixture_setup_sim, func, fixture_teardown)

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/vdpactl/usage", test_usage);
        ADD("/vdpactl/list", test_list);
        ADD("/vdpactl/list-json", test_list_json);
        ADD("/vdpactl/show", test_show);
        ADD("/vdpactl/xml", test_xml);
        ADD("/vdpactl/status", test_status);
        ADD("/vdpactl/check-migration", test_check_migration);
        ADD("/vdpactl/claim/errors", test_claim_errors);
        ADD("/vdpactl/claim/libvirt-unavailable", test_claim_libvirt_unavailable);
        ADD("/vdpactl/claim/unauthorized", test_claim_unauthorized);
        ADD("/vdpactl/claim/libvirtd", test_claim_release_libvirtd);
        ADD("/vdpactl/mgmtdev/not-supported", test_mgmtdev_not_supported);
        ADD_SIM("/vdpactl/mgmtdev/list", test_mgmtdev_list);
        ADD_SIM("/vdpactl/create-delete", test_create_delete);
        ADD_SIM("/vdpactl/create-delete/errors", test_create_delete_errors);
        ADD_SIM("/vdpactl/create-delete/unauthorized", test_create_delete_unauthorized);
        ADD("/vdpactl/color", test_color);
        ADD("/vdpactl/monitor", test_monitor);
        ADD("/vdpactl/completion", test_completion);
        ADD_SIM("/vdpactl/completion/mgmtdev", test_completion_mgmtdev);
        ADD("/vdpactl/provision/not-supported", test_provision_not_supported);
        ADD_SIM("/vdpactl/provision/no-rules", test_provision_no_rules);
        ADD_SIM("/vdpactl/provision/rules", test_provision_rules);
        ADD_SIM("/vdpactl/provision/created", test_provision_created);
        ADD_SIM("/vdpactl/provision/error", test_provision_error);

        return g_test_run();
}
