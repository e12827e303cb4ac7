/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vdpactl against the real vdpa-managerd on the harness's private system
 * bus, over the umockdev testbed of tests/data/host.umockdev.  Every
 * answer the CLI prints is checked against what the service says over
 * D-Bus; exit codes against the table in vdpactl(1).
 */
#include <errno.h>
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

static void fixture_teardown(Fixture *f, gconstpointer data) {
        g_clear_pointer(&f->pk, vdpa_test_polkit_stop);
        g_clear_pointer(&f->bus, vdpa_test_bus_free);
        g_clear_pointer(&f->lv, vdpa_test_libvirtd_stop);
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
                                        "--no-ask-password", "--bus-address", "--page-per-vq", "--numa-policy" };
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
}

/* --- list --- */

static GVariant *devices(Fixture *f) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = dbus_call(f, "Devices", NULL, "(aa{sv})", &error);

        g_assert_no_error(error);
        return g_variant_get_child_value(reply, 0);
}

static void test_list(Fixture *f, gconstpointer data) {
        g_auto(GStrv) lines = NULL;
        g_auto(GStrv) bare = NULL;

        vdpa_test_daemon_start_or_die(f->bus, NULL);

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
        for (const char *h = "STATE KIND PARENT PF NUMA CHARDEV DOMAIN"; *h; ) {
                g_autofree char *word = g_strndup(h, strcspn(h, " "));
                g_assert_nonnull(strstr(lines[0], word));
                h += strlen(word);
                h += *h == ' ';
        }
        for (size_t i = 0; i < G_N_ELEMENTS(host_names); i++) {
                g_auto(GStrv) cols = g_strsplit_set(lines[1 + i], " ", -1);
                g_autoptr(GPtrArray) words = g_ptr_array_new();

                for (char **c = cols; *c; c++)
                        if (**c)
                                g_ptr_array_add(words, *c);
                g_assert_cmpuint(words->len, ==, 8);
                g_assert_cmpstr(g_ptr_array_index(words, 0), ==, host_names[i]);
                g_assert_cmpstr(g_ptr_array_index(words, 1), ==, host_states[i]);
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
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- show --- */

static void test_show(Fixture *f, gconstpointer data) {
        vdpa_test_daemon_start_or_die(f->bus, NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(host_names); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) reply = dbus_call(f, "GetDevice", g_variant_new("(s)", host_names[i]), "(a{sv})", &error);
                g_autoptr(GVariant) dict = NULL;
                g_autoptr(JsonNode) n = NULL;
                g_autofree char *name_line = g_strdup_printf("Name: %s\n", host_names[i]);
                g_autofree char *state_line = g_strdup_printf("State: %s\n", host_states[i]);

                g_assert_no_error(error);
                dict = g_variant_get_child_value(reply, 0);
                {
                        g_auto(Result) r = RUN(f, "show", host_names[i]);
                        assert_exit(&r, EXIT_OK);
                        g_assert_nonnull(strstr(r.out, name_line));
                        g_assert_nonnull(strstr(r.out, state_line));
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
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- check-migration --- */

/* The documented mapping, independent of the client's table. */
static int documented_exit(const char *error_name) {
        if (!error_name)
                return EXIT_OK;
        if (g_str_equal(error_name, VDPA_ERROR_NO_SUCH_DOMAIN))
                return EXIT_NOT_FOUND;
        if (g_str_equal(error_name, VDPA_ERROR_CONFLICT))
                return EXIT_CONFLICT;
        if (g_str_equal(error_name, VDPA_ERROR_LIBVIRT_UNAVAILABLE))
                return EXIT_UNAVAILABLE;
        if (g_str_equal(error_name, "org.freedesktop.DBus.Error.NotSupported"))
                return EXIT_NOT_SUPPORTED;
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
        const char *args[6];
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
        assert_completes(NULL, "vdpactl c", "check-migration\nclaim\n");
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
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

#define ADD(path, func) \
        g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)

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
        ADD("/vdpactl/color", test_color);
        ADD("/vdpactl/monitor", test_monitor);
        ADD("/vdpactl/completion", test_completion);

        return g_test_run();
}
