/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Claim and Release end to end: the real daemon on a private system bus,
 * the real polkitd with the project's policy, a real (private) libvirtd
 * with tiny TCG domains, and umockdev for sysfs.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <libvirt/libvirt.h>

#include "harness.h"
#include "libvirtd-harness.h"
#include "polkit-harness.h"
#include "testbed.h"
#include "vdpa-names.h"
#include "vdpa-sim.h"

/* One libvirtd for the whole binary: starting it costs more than a test. */
static VdpaTestLibvirtd *libvirtd;

#define GRANT_ADMIN_RULE                                                        \
        "polkit.addRule(function(action, subject) {\n"                          \
        "  if (action.id.indexOf('org.vdpa.manager.') == 0 &&\n"                \
        "      subject.user == '" VDPA_TEST_ADMIN "')\n"                        \
        "    return polkit.Result.YES;\n"                                       \
        "});\n"

typedef struct {
        UMockdevTestbed *tb;
        VdpaSim *sim;           /* the kernel's vdpa netlink family, when a test wants it */
        VdpaTestBus *bus;
        VdpaTestPolkit *polkit;
        char *uri;
        char *uri_arg;
        GPtrArray *domains;     /* names to undefine at teardown */
} Fixture;

static const char *uri(Fixture *f) {
        return vdpa_test_libvirtd_get_uri(libvirtd);
}

static void setup_common(Fixture *f, const char *rules, gboolean netlink) {
        g_autoptr(GError) error = NULL;

        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        if (netlink) {
                f->sim = vdpa_sim_start(f->tb, &error);
                g_assert_no_error(error);
        }
        f->bus = vdpa_test_bus_new_or_die();
        f->polkit = vdpa_test_polkit_start_or_die(f->bus, rules);
        f->uri_arg = g_strdup_printf("--libvirt-uri=%s", uri(f));
        f->domains = g_ptr_array_new_with_free_func(g_free);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        setup_common(f, GRANT_ADMIN_RULE, FALSE);
}

static void fixture_setup_netlink(Fixture *f, gconstpointer data) {
        setup_common(f, GRANT_ADMIN_RULE, TRUE);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        for (guint i = 0; i < f->domains->len; i++)
                vdpa_test_undefine_domain(uri(f), f->domains->pdata[i], NULL);
        g_ptr_array_unref(f->domains);
        /* polkitd lives on the bus: stop it first. */
        g_clear_pointer(&f->polkit, vdpa_test_polkit_stop);
        g_clear_pointer(&f->bus, vdpa_test_bus_free);
        /* No simulator thread may outlive its testbed. */
        g_clear_pointer(&f->sim, vdpa_sim_stop);
        g_clear_object(&f->tb);
        g_free(f->uri_arg);
}

static char *new_domain(Fixture *f, gboolean start) {
        g_autoptr(GError) error = NULL;
        char *name = vdpa_test_domain_name_new();

        g_assert_true(vdpa_test_define_domain(uri(f), name, start, &error));
        g_assert_no_error(error);
        g_ptr_array_add(f->domains, g_strdup(name));
        return name;
}

static char *new_domain_numa(Fixture *f, const char *nodeset) {
        g_autoptr(GError) error = NULL;
        char *name = vdpa_test_domain_name_new();
        VdpaTestDomainOptions o = { .numa_nodeset = nodeset };

        g_assert_true(vdpa_test_define_domain_full(uri(f), name, FALSE, &o, &error));
        g_assert_no_error(error);
        g_ptr_array_add(f->domains, g_strdup(name));
        return name;
}

static void start_daemon(Fixture *f, const char *const *more) {
        g_autoptr(GPtrArray) args = g_ptr_array_new();

        g_ptr_array_add(args, f->uri_arg);
        for (; more && *more; more++)
                g_ptr_array_add(args, (gpointer) *more);
        g_ptr_array_add(args, NULL);
        vdpa_test_daemon_start_or_die(f->bus, (const char *const *) args->pdata);

        /* Claims need libvirt; the first scan is asynchronous. */
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 5000);
}

static GVariant *claim(Fixture *f, const char *device, const char *domain, GVariant *options, GError **error) {
        if (!options)
                options = g_variant_new("a{sv}", NULL);
        return vdpa_test_call(f->bus, "Claim", g_variant_new("(ss@a{sv})", device, domain, options), "(ss)", error);
}

static GVariant *release(Fixture *f, const char *device, GVariant *options, GError **error) {
        if (!options)
                options = g_variant_new("a{sv}", NULL);
        return vdpa_test_call(f->bus, "Release", g_variant_new("(s@a{sv})", device, options), "()", error);
}

static GVariant *device_dict(Fixture *f, const char *name) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = vdpa_test_call(f->bus, "GetDevice", g_variant_new("(s)", name), "(a{sv})", &error);

        g_assert_no_error(error);
        return g_variant_get_child_value(r, 0);
}

static char *device_state(Fixture *f, const char *name) {
        g_autoptr(GVariant) d = device_dict(f, name);
        char *s = NULL;

        g_assert_true(g_variant_lookup(d, VDPA_KEY_STATE, "s", &s));
        return s;
}

static char *domain_xml(Fixture *f, const char *domain, gboolean inactive) {
        g_autoptr(GError) error = NULL;
        char *xml = vdpa_test_domain_xml(uri(f), domain, inactive, &error);

        g_assert_no_error(error);
        return xml;
}

static guint count_vdpa(const char *xml) {
        guint n = 0;

        for (const char *p = xml; (p = strstr(p, "type='vdpa'")); p++)
                n++;
        return n;
}

static char *state_file(Fixture *f) {
        g_autofree char *path = g_build_filename(vdpa_test_bus_get_state_dir(f->bus), "claims", NULL);
        char *contents = NULL;

        if (!g_file_get_contents(path, &contents, NULL, NULL))
                return g_strdup("");
        return contents;
}

/* --- the happy path --- */

static void test_config_claim_and_release(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        g_autoptr(VdpaTestRecorder) rec = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) dict = NULL;
        g_autofree char *inactive = NULL, *state = NULL;
        const char *dev, *xml, *s;
        guint32 uid;
        GVariantBuilder o;

        start_daemon(f, NULL);
        rec = vdpa_test_recorder_new(f->bus);

        g_variant_builder_init(&o, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&o, "{sv}", "queues", g_variant_new_uint32(4));
        g_variant_builder_add(&o, "{sv}", "alias", g_variant_new_string("ua-net0"));
        reply = claim(f, "vdpa0", dom, g_variant_builder_end(&o), &error);
        g_assert_no_error(error);
        g_variant_get(reply, "(&s&s)", &dev, &xml);
        g_assert_cmpstr(dev, ==, "vdpa0");
        g_assert_nonnull(strstr(xml, "/dev/vhost-vdpa-0"));
        g_assert_nonnull(strstr(xml, "queues=\"4\""));

        /* libvirt has exactly that interface in the persistent definition. */
        inactive = domain_xml(f, dom, TRUE);
        g_assert_cmpuint(count_vdpa(inactive), ==, 1);
        g_assert_nonnull(strstr(inactive, "<source dev='/dev/vhost-vdpa-0'/>"));
        g_assert_nonnull(strstr(inactive, "<driver queues='4'/>"));
        g_assert_nonnull(strstr(inactive, "<alias name='ua-net0'/>"));

        /* The bus view: claimed, by root, with the generated MAC. */
        dict = device_dict(f, "vdpa0");
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_STATE, "&s", &s));
        g_assert_cmpstr(s, ==, "claimed");
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_DOMAIN, "&s", &s));
        g_assert_cmpstr(s, ==, dom);
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_DOMAIN_UUID, "&s", &s));
        g_assert_cmpuint(strlen(s), ==, 36);
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_MAC, "&s", &s));
        g_assert_cmpuint(strlen(s), ==, 17);
        g_assert_nonnull(strstr(inactive, s));
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_CLAIMED_BY, "u", &uid));
        g_assert_cmpuint(uid, ==, 0);

        g_assert_true(vdpa_test_recorder_wait(rec, "DeviceChanged", 1, 5000));

        /* Durable: the state file holds it. */
        state = state_file(f);
        g_assert_nonnull(strstr(state, "Device=vdpa0"));
        g_assert_nonnull(strstr(state, "Phase=active"));

        /* A second claim of the same device: busy, at once. */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = claim(f, "vdpa0", dom, NULL, &e);
                g_assert_null(r);
                vdpa_test_assert_error_name(e, VDPA_ERROR_DEVICE_BUSY);
        }

        /* Release: gone from the domain, available again. */
        g_clear_pointer(&reply, g_variant_unref);
        reply = release(f, "vdpa0", NULL, &error);
        g_assert_no_error(error);
        g_free(inactive);
        inactive = domain_xml(f, dom, TRUE);
        g_assert_cmpuint(count_vdpa(inactive), ==, 0);
        g_autofree char *st = device_state(f, "vdpa0");
        g_assert_cmpstr(st, ==, "available");
        g_assert_true(vdpa_test_recorder_wait(rec, "DeviceChanged", 2, 5000));
        g_free(state);
        state = state_file(f);
        g_assert_null(strstr(state, "vdpa0"));

        /* Releasing again: not claimed. */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = release(f, "vdpa0", NULL, &e);
                g_assert_null(r);
                vdpa_test_assert_error_name(e, VDPA_ERROR_NOT_CLAIMED);
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* A claim survives a restart of the daemon. */
static void test_claim_survives_restart(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autofree char *st = NULL;

        start_daemon(f, NULL);
        reply = claim(f, "fast1", dom, NULL, &error);
        g_assert_no_error(error);
        vdpa_test_daemon_stop_assert_ok(f->bus);

        start_daemon(f, NULL);
        st = device_state(f, "fast1");
        g_assert_cmpstr(st, ==, "claimed");
        g_clear_pointer(&reply, g_variant_unref);
        reply = release(f, "fast1", NULL, &error);
        g_assert_no_error(error);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- rollback: a live attach fails here (no real vhost-vdpa device) --- */

static void test_live_claim_fails_and_rolls_back(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, TRUE);
        g_autofree char *live_before = NULL, *inactive_before = NULL, *state_before = NULL;
        g_autofree char *live_after = NULL, *inactive_after = NULL, *state_after = NULL;
        g_autoptr(GVariant) before = NULL, after = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;

        start_daemon(f, NULL);
        live_before = domain_xml(f, dom, FALSE);
        inactive_before = domain_xml(f, dom, TRUE);
        state_before = state_file(f);
        before = device_dict(f, "vdpa0");

        /* Running and persistent: the default is live + config. */
        reply = claim(f, "vdpa0", dom, NULL, &error);
        g_assert_null(reply);
        vdpa_test_assert_error_name(error, VDPA_ERROR_LIBVIRT_FAILED);
        /* libvirt's own words reach the caller. */
        g_assert_nonnull(strstr(error->message, "/dev/vhost-vdpa-0"));

        live_after = domain_xml(f, dom, FALSE);
        inactive_after = domain_xml(f, dom, TRUE);
        state_after = state_file(f);
        after = device_dict(f, "vdpa0");
        g_assert_cmpstr(live_after, ==, live_before);
        g_assert_cmpstr(inactive_after, ==, inactive_before);
        g_assert_cmpstr(state_after, ==, state_before);
        g_assert_true(g_variant_equal(before, after));

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- authorization (real polkitd) --- */

static void test_authorization(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        g_autofree char *inactive = NULL;
        uid_t user, admin;
        gid_t ugid, agid;
        guint32 claimed_by;

        vdpa_test_user_ensure_or_die(VDPA_TEST_USER, &user, &ugid);
        vdpa_test_user_ensure_or_die(VDPA_TEST_ADMIN, &admin, &agid);
        start_daemon(f, NULL);

        /* No rule: auth_admin_keep needs a password, which nobody can give
         * without interaction... */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = vdpa_test_call_as_uid(f->bus, user, ugid, "Claim",
                                                              g_variant_new("(ssa{sv})", "vdpa0", dom, NULL),
                                                              G_DBUS_CALL_FLAGS_NONE, &e);
                g_assert_null(r);
                vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired");
        }
        /* ...and with interaction allowed, there is no agent: denied. */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = vdpa_test_call_as_uid(f->bus, user, ugid, "Claim",
                                                              g_variant_new("(ssa{sv})", "vdpa0", dom, NULL),
                                                              G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, &e);
                g_assert_null(r);
                vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.AccessDenied");
        }
        /* Nothing changed. */
        inactive = domain_xml(f, dom, TRUE);
        g_assert_cmpuint(count_vdpa(inactive), ==, 0);
        g_autofree char *st = device_state(f, "vdpa0");
        g_assert_cmpstr(st, ==, "available");

        /* The granted admin may; ClaimedBy is the admin's uid. */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = vdpa_test_call_as_uid(f->bus, admin, agid, "Claim",
                                                              g_variant_new("(ssa{sv})", "vdpa0", dom, NULL),
                                                              G_DBUS_CALL_FLAGS_NONE, &e);
                g_assert_no_error(e);
                g_assert_nonnull(r);
                g_autoptr(GVariant) d = device_dict(f, "vdpa0");
                g_assert_true(g_variant_lookup(d, VDPA_KEY_CLAIMED_BY, "u", &claimed_by));
                g_assert_cmpuint(claimed_by, ==, admin);
        }
        /* The plain user may not release it. */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = vdpa_test_call_as_uid(f->bus, user, ugid, "Release",
                                                              g_variant_new("(sa{sv})", "vdpa0", NULL),
                                                              G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, &e);
                g_assert_null(r);
                vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.AccessDenied");
                g_autofree char *s2 = device_state(f, "vdpa0");
                g_assert_cmpstr(s2, ==, "claimed");
        }
        /* Root may. */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = release(f, "vdpa0", NULL, &e);
                g_assert_no_error(e);
                g_assert_nonnull(r);
        }

        /* polkitd gone: denied, quickly, fail closed. */
        g_clear_pointer(&f->polkit, vdpa_test_polkit_stop);
        {
                g_autoptr(GError) e = NULL;
                gint64 t0 = g_get_monotonic_time();
                g_autoptr(GVariant) r = claim(f, "vdpa0", dom, NULL, &e);
                g_assert_null(r);

                vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.AccessDenied");
                g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
                g_autofree char *s3 = device_state(f, "vdpa0");
                g_assert_cmpstr(s3, ==, "available");
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- every error class --- */

static void test_errors(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        static const struct {
                const char *device;
                const char *domain;
                const char *opt_key;
                const char *opt_type;   /* "s", "u", "b" */
                const char *opt_value;
                const char *error;
        } cases[] = {
                { "nonexistent", NULL, NULL, NULL, NULL, VDPA_ERROR_NO_SUCH_DEVICE },
                { "vdpa0", "no-such-domain-xyz", NULL, NULL, NULL, VDPA_ERROR_NO_SUCH_DOMAIN },
                { "vdpa1", NULL, NULL, NULL, NULL, VDPA_ERROR_DEVICE_UNUSABLE },       /* virtio_vdpa */
                { "blk0", NULL, NULL, NULL, NULL, VDPA_ERROR_DEVICE_UNUSABLE },        /* unbound */
                { "vdpa-sim0", NULL, NULL, NULL, NULL, VDPA_ERROR_DEVICE_UNUSABLE },   /* excluded */
                { "vdpa0", "", NULL, NULL, NULL, "org.freedesktop.DBus.Error.InvalidArgs" },
                { "vdpa0", NULL, "bogus", "s", "x", "org.freedesktop.DBus.Error.InvalidArgs" },
                { "vdpa0", NULL, "queues", "u", "0", "org.freedesktop.DBus.Error.InvalidArgs" },
                { "vdpa0", NULL, "force", "b", "true", "org.freedesktop.DBus.Error.InvalidArgs" },
                { "vdpa0", NULL, "numa_policy", "s", "sometimes", "org.freedesktop.DBus.Error.InvalidArgs" },
                /* live on a shut-off domain */
                { "vdpa0", NULL, "live", "b", "true", "org.freedesktop.DBus.Error.InvalidArgs" },
                /* auto-pick with an impossible constraint */
                { "", NULL, "numa_node", "u", "7", "org.freedesktop.DBus.Error.InvalidArgs" },  /* wrong type: i */
                { "", NULL, "physical_function", "s", "0000:99:00.0", VDPA_ERROR_NO_DEVICE_AVAILABLE },
        };

        start_daemon(f, NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = NULL;
                GVariantBuilder o;

                g_variant_builder_init(&o, G_VARIANT_TYPE_VARDICT);
                if (cases[i].opt_key) {
                        GVariant *v = g_str_equal(cases[i].opt_type, "u") ? g_variant_new_uint32(atoi(cases[i].opt_value)) :
                                      g_str_equal(cases[i].opt_type, "b") ? g_variant_new_boolean(g_str_equal(cases[i].opt_value, "true")) :
                                      g_variant_new_string(cases[i].opt_value);
                        g_variant_builder_add(&o, "{sv}", cases[i].opt_key, v);
                }
                r = claim(f, cases[i].device, cases[i].domain ? cases[i].domain : dom, g_variant_builder_end(&o), &e);
                g_assert_null(r);
                if (g_test_verbose())
                        g_printerr("case %zu: %s\n", i, e ? e->message : "success");
                vdpa_test_assert_error_name(e, cases[i].error);
        }

        /* Release: unknown, not claimed, bad option. */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = release(f, "nonexistent", NULL, &e);
                g_assert_null(r);
                vdpa_test_assert_error_name(e, VDPA_ERROR_NO_SUCH_DEVICE);
        }
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = release(f, "vdpa0", NULL, &e);
                g_assert_null(r);
                vdpa_test_assert_error_name(e, VDPA_ERROR_NOT_CLAIMED);
        }
        {
                g_autoptr(GError) e = NULL;
                GVariantBuilder o;

                g_variant_builder_init(&o, G_VARIANT_TYPE_VARDICT);
                g_variant_builder_add(&o, "{sv}", "live", g_variant_new_boolean(TRUE));
                g_autoptr(GVariant) r = release(f, "vdpa0", g_variant_builder_end(&o), &e);
                g_assert_null(r);
                vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.InvalidArgs");
        }

        /* Nothing of all that left a trace. */
        g_autofree char *inactive = domain_xml(f, dom, TRUE);
        g_assert_cmpuint(count_vdpa(inactive), ==, 0);
        g_autofree char *state = state_file(f);
        g_assert_null(strstr(state, "Device="));

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- auto-pick and NUMA --- */

static char *claim_auto(Fixture *f, const char *dom, const char *policy, gint32 numa_node, const char *pf, GError **error) {
        GVariantBuilder o;
        g_autoptr(GVariant) r = NULL;
        const char *dev;

        g_variant_builder_init(&o, G_VARIANT_TYPE_VARDICT);
        if (policy)
                g_variant_builder_add(&o, "{sv}", "numa_policy", g_variant_new_string(policy));
        if (numa_node >= 0)
                g_variant_builder_add(&o, "{sv}", "numa_node", g_variant_new_int32(numa_node));
        if (pf)
                g_variant_builder_add(&o, "{sv}", "physical_function", g_variant_new_string(pf));
        r = claim(f, "", dom, g_variant_builder_end(&o), error);
        if (!r)
                return NULL;
        g_variant_get(r, "(&s&s)", &dev, NULL);
        return g_strdup(dev);
}

static void release_ok(Fixture *f, const char *dev) {
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = release(f, dev, NULL, &e);

        g_assert_no_error(e);
        g_assert_nonnull(r);
}

static void test_auto_pick(Fixture *f, gconstpointer data) {
        /* Available with the defaults: fast1 (node 0), vdpa0 (node 0), vdpa2 (node 1). */
        g_autofree char *on1 = new_domain_numa(f, "1");
        g_autofree char *on0 = new_domain_numa(f, "0");
        g_autofree char *anywhere = new_domain(f, FALSE);
        g_autoptr(GError) e = NULL;
        char *dev;

        start_daemon(f, NULL);

        /* required / preferred: the device on the domain's node */
        dev = claim_auto(f, on1, "required", -1, NULL, &e);
        g_assert_no_error(e);
        g_assert_cmpstr(dev, ==, "vdpa2");
        release_ok(f, dev);
        g_free(dev);
        dev = claim_auto(f, on1, NULL, -1, NULL, &e);           /* preferred is the default */
        g_assert_no_error(e);
        g_assert_cmpstr(dev, ==, "vdpa2");

        /* vdpa2 is taken: required finds nothing, preferred falls back */
        {
                g_autoptr(GError) e2 = NULL;
                char *none = claim_auto(f, on1, "required", -1, NULL, &e2);
                g_assert_null(none);
                vdpa_test_assert_error_name(e2, VDPA_ERROR_NO_DEVICE_AVAILABLE);
        }
        {
                g_autoptr(GError) e2 = NULL;
                g_autofree char *fallback = claim_auto(f, on1, "preferred", -1, NULL, &e2);
                g_assert_no_error(e2);
                g_assert_cmpstr(fallback, ==, "fast1");     /* first by name on another node */
                release_ok(f, fallback);
        }
        release_ok(f, dev);
        g_free(dev);

        /* none: first by name, whatever the node */
        dev = claim_auto(f, on1, "none", -1, NULL, &e);
        g_assert_no_error(e);
        g_assert_cmpstr(dev, ==, "fast1");
        release_ok(f, dev);
        g_free(dev);

        /* node 0 domain, required: never vdpa2 */
        dev = claim_auto(f, on0, "required", -1, NULL, &e);
        g_assert_no_error(e);
        g_assert_cmpstr(dev, ==, "fast1");
        release_ok(f, dev);
        g_free(dev);

        /* explicit constraints, on a domain without placement */
        dev = claim_auto(f, anywhere, NULL, 1, NULL, &e);
        g_assert_no_error(e);
        g_assert_cmpstr(dev, ==, "vdpa2");
        release_ok(f, dev);
        g_free(dev);
        dev = claim_auto(f, anywhere, NULL, -1, "0000:04:00.0", &e);
        g_assert_no_error(e);
        g_assert_cmpstr(dev, ==, "fast1");
        release_ok(f, dev);
        g_free(dev);

        /* everything taken: NoDeviceAvailable */
        {
                g_autofree char *a = claim_auto(f, anywhere, NULL, -1, NULL, &e);
                g_autofree char *b = claim_auto(f, anywhere, NULL, -1, NULL, &e);
                g_autofree char *c = claim_auto(f, anywhere, NULL, -1, NULL, &e);
                g_assert_no_error(e);
                g_autoptr(GError) e2 = NULL;
                g_autofree char *d = claim_auto(f, anywhere, NULL, -1, NULL, &e2);
                g_assert_null(d);
                vdpa_test_assert_error_name(e2, VDPA_ERROR_NO_DEVICE_AVAILABLE);
                release_ok(f, a);
                release_ok(f, b);
                release_ok(f, c);
        }

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- concurrency: 64 devices, 200 concurrent claims --- */

typedef struct {
        guint replies;
        guint ok;
        guint busy;
        guint none;
        guint other;
        GHashTable *claimed;   /* device names that succeeded */
} Tally;

static void on_claim_reply(GObject *src, GAsyncResult *res, gpointer userdata) {
        Tally *t = userdata;
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &e);

        t->replies++;
        if (r) {
                const char *dev;

                g_variant_get(r, "(&s&s)", &dev, NULL);
                /* No device handed out twice. */
                g_assert_false(g_hash_table_contains(t->claimed, dev));
                g_hash_table_add(t->claimed, g_strdup(dev));
                t->ok++;
                return;
        }
        g_autofree char *name = vdpa_test_error_name(e);
        if (g_strcmp0(name, VDPA_ERROR_DEVICE_BUSY) == 0)
                t->busy++;
        else if (g_strcmp0(name, VDPA_ERROR_NO_DEVICE_AVAILABLE) == 0)
                t->none++;
        else {
                g_printerr("unexpected: %s %s\n", name, e->message);
                t->other++;
        }
}

static void test_concurrency(Fixture *f, gconstpointer data) {
        g_autoptr(GPtrArray) conns = g_ptr_array_new_with_free_func(g_object_unref);
        g_autoptr(GPtrArray) dom_names = g_ptr_array_new_with_free_func(g_free);
        const char *doms[4] = {};
        Tally t = { .claimed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL) };
        const guint n_calls = 200, n_devices = 64;
        guint attached = 0;

        /* 58 more devices: 64 available in all (vdpa0, fast1, vdpa2 + 61). */
        vdpa_testbed_add_card(f->tb, 0x40, 0, 31, "bulk", 0, 100);
        vdpa_testbed_add_card(f->tb, 0x50, 1, 30, "bulk", 31, 131);
        for (guint i = 0; i < G_N_ELEMENTS(doms); i++) {
                char *d = new_domain(f, FALSE);

                g_ptr_array_add(dom_names, d);
                doms[i] = d;
        }
        start_daemon(f, NULL);

        for (guint i = 0; i < 4; i++) {
                g_autoptr(GError) e = NULL;
                g_ptr_array_add(conns, vdpa_test_bus_connect(f->bus, &e));
                g_assert_no_error(e);
        }

        /* Half auto-pick, half named (so that named ones collide). */
        for (guint i = 0; i < n_calls; i++) {
                g_autofree char *named = g_strdup_printf("bulk%u", i % 40);
                const char *device = i % 2 ? "" : named;

                g_dbus_connection_call(conns->pdata[i % conns->len], VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                       VDPA_INTERFACE, "Claim",
                                       g_variant_new("(ssa{sv})", device, doms[i % 4], NULL),
                                       G_VARIANT_TYPE("(ss)"), G_DBUS_CALL_FLAGS_NONE, 60000, NULL,
                                       on_claim_reply, &t);
        }
        for (int i = 0; i < 6000 && t.replies < n_calls; i++)
                vdpa_test_iterate(10);

        g_test_message("200 claims: %u ok, %u busy, %u none, %u other", t.ok, t.busy, t.none, t.other);
        g_assert_cmpuint(t.replies, ==, n_calls);         /* every call answered exactly once */
        g_assert_cmpuint(t.other, ==, 0);
        g_assert_cmpuint(t.ok, ==, n_devices);
        g_assert_cmpuint(t.ok + t.busy + t.none, ==, n_calls);

        /* libvirt agrees: 64 interfaces over the four domains, each device once. */
        for (guint i = 0; i < G_N_ELEMENTS(doms); i++) {
                g_autofree char *x = domain_xml(f, doms[i], TRUE);
                attached += count_vdpa(x);
        }
        g_assert_cmpuint(attached, ==, n_devices);

        /* Every call ended with its answer: nothing is left in flight
         * (GDBus itself would drop a second reply to the same call). */
        g_assert_cmpint(vdpa_test_wait_operations_done(f->bus, 10000), >=, 0);
        g_hash_table_unref(t.claimed);

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- the caller hears first: DeviceChanged follows the reply --- */

typedef struct {
        GPtrArray *order;       /* "reply" / "signal", as the connection received them */
} Order;

static void on_order_signal(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                            const char *member, GVariant *params, gpointer userdata) {
        Order *o = userdata;
        const char *name;

        g_variant_get_child(params, 0, "&s", &name);
        if (g_str_equal(name, "vdpa0"))
                g_ptr_array_add(o->order, "signal");
}

static void on_order_reply(GObject *src, GAsyncResult *res, gpointer userdata) {
        Order *o = userdata;
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &e);

        g_assert_no_error(e);
        g_assert_nonnull(r);
        g_ptr_array_add(o->order, "reply");
}

/* One connection receives both, in the order the daemon sent them (the
 * interface documents "DeviceChanged is emitted after the reply"). */
static void assert_reply_then_signal(GDBusConnection *c, const char *method, GVariant *args) {
        Order o = { .order = g_ptr_array_new() };
        g_autoptr(GVariant) pong = NULL;
        guint sub;

        sub = g_dbus_connection_signal_subscribe(c, VDPA_BUS_NAME, VDPA_INTERFACE, "DeviceChanged", VDPA_OBJECT_PATH,
                                                 NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_order_signal, &o, NULL);
        /* The bus handles a connection's messages in order: once this is
         * answered, the subscription's AddMatch is in place. */
        pong = g_dbus_connection_call_sync(c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "GetId", NULL, NULL,
                                           G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
        g_assert_nonnull(pong);

        g_dbus_connection_call(c, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, method, args, NULL,
                               G_DBUS_CALL_FLAGS_NONE, 60000, NULL, on_order_reply, &o);
        for (int i = 0; i < 2000 && o.order->len < 2; i++)
                vdpa_test_iterate(5);
        g_assert_cmpuint(o.order->len, ==, 2);
        g_assert_cmpstr(o.order->pdata[0], ==, "reply");
        g_assert_cmpstr(o.order->pdata[1], ==, "signal");
        g_dbus_connection_signal_unsubscribe(c, sub);
        g_ptr_array_unref(o.order);
}

static void test_reply_before_signal(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GError) e = NULL;

        start_daemon(f, NULL);
        c = vdpa_test_bus_connect(f->bus, &e);
        g_assert_no_error(e);

        assert_reply_then_signal(c, "Claim", g_variant_new("(ssa{sv})", "vdpa0", dom, NULL));
        assert_reply_then_signal(c, "Release", g_variant_new("(sa{sv})", "vdpa0", NULL));
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- a caller that disconnects mid-claim never leaves a claim --- */

/* The fixture's devices that are available to a claim (host.umockdev). */
static const char *const claim_candidates[] = { "vdpa0", "fast1", "vdpa2" };

typedef struct {
        GHashTable *pending;    /* unique names of callers whose disconnect the bus has not announced */
} Vanished;

static void on_name_owner_changed(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                                  const char *member, GVariant *params, gpointer userdata) {
        Vanished *v = userdata;
        const char *name, *old_owner, *new_owner;

        g_variant_get(params, "(&s&s&s)", &name, &old_owner, &new_owner);
        if (!new_owner[0])
                g_hash_table_remove(v->pending, name);
}

static void test_disconnect_race(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        const guint rounds = 200;
        Vanished v = { .pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL) };
        g_autoptr(GDBusConnection) watch = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) pong = NULL;
        g_autofree char *inactive = NULL;
        g_autofree char *state = NULL;
        gint64 deadline;
        guint sub;

        start_daemon(f, NULL);
        watch = vdpa_test_bus_connect(f->bus, &error);
        g_assert_no_error(error);
        sub = g_dbus_connection_signal_subscribe(watch, "org.freedesktop.DBus", "org.freedesktop.DBus",
                                                 "NameOwnerChanged", "/org/freedesktop/DBus", NULL,
                                                 G_DBUS_SIGNAL_FLAGS_NONE, on_name_owner_changed, &v, NULL);
        /* Answered only after the AddMatch before it is in place. */
        pong = g_dbus_connection_call_sync(watch, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "GetId", NULL, NULL,
                                           G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        g_assert_no_error(error);

        /* libvirtd waits until the bus has announced every disconnect, so
         * that each Claim that got past polkit meets a caller the bus
         * knows to be gone at its presence check.  (Without the pause, a
         * caller closed an instant before the daemon asked could still be
         * on the bus's books under load, and its claim rightly stood: seen
         * once in 200 callers under ASan on a busy machine.) */
        vdpa_test_libvirtd_pause(libvirtd);
        for (guint i = 0; i < rounds; i++) {
                g_autoptr(GError) e = NULL;
                g_autoptr(GDBusConnection) c = vdpa_test_bus_connect(f->bus, &e);
                g_autoptr(GDBusMessage) m = g_dbus_message_new_method_call(VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                                                           VDPA_INTERFACE, "Claim");

                g_assert_no_error(e);
                g_hash_table_add(v.pending, g_strdup(g_dbus_connection_get_unique_name(c)));
                g_dbus_message_set_body(m, g_variant_new("(ssa{sv})", i % 2 ? "" : "vdpa0", dom, NULL));
                g_assert_true(g_dbus_connection_send_message(c, m, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, &e));
                g_assert_true(g_dbus_connection_flush_sync(c, NULL, &e));
                g_assert_true(g_dbus_connection_close_sync(c, NULL, &e));
        }

        /* The bus announces a caller's disconnect only after it has passed
         * on every message the caller sent: once all are announced, every
         * Claim is queued to the daemon ahead of the property reads below,
         * so OperationsInFlight == 0 means each of them has ended. */
        deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
        while (g_hash_table_size(v.pending) > 0 && g_get_monotonic_time() < deadline)
                vdpa_test_iterate(10);
        if (g_hash_table_size(v.pending) > 0)
                g_error("the bus did not announce the disconnect of %u of %u callers within 60 s",
                        g_hash_table_size(v.pending), rounds);
        vdpa_test_libvirtd_resume(libvirtd);
        g_dbus_connection_signal_unsubscribe(watch, sub);
        vdpa_test_wait_operations_done(f->bus, 120000);

        /* Then, strictly: nothing attached, nothing recorded, all free. */
        inactive = domain_xml(f, dom, TRUE);
        g_assert_cmpuint(count_vdpa(inactive), ==, 0);
        state = state_file(f);
        g_assert_null(strstr(state, "Device="));
        for (guint i = 0; i < G_N_ELEMENTS(claim_candidates); i++) {
                g_autofree char *s = device_state(f, claim_candidates[i]);
                g_assert_cmpstr(s, ==, "available");
        }
        /* And claimable: no stale reservation. */
        for (guint i = 0; i < G_N_ELEMENTS(claim_candidates); i++) {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = claim(f, claim_candidates[i], dom, NULL, &e);
                g_assert_no_error(e);
                g_assert_nonnull(r);
                release_ok(f, claim_candidates[i]);
        }
        g_hash_table_unref(v.pending);

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* The caller was authorized and then vanished while libvirt attached: the
 * presence check after the attach finds it gone, and the claim, already
 * recorded by then, is rolled back (interface detached, record dropped). */
static void test_caller_gone_during_attach(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GDBusMessage) m = g_dbus_message_new_method_call(VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                                                   VDPA_INTERFACE, "Claim");
        g_autoptr(GError) e = NULL;
        g_autofree char *inactive = NULL, *state = NULL, *log = NULL;
        gboolean reserved = FALSE;
        uid_t user;
        gid_t ugid;

        start_daemon(f, NULL);
        c = vdpa_test_bus_connect(f->bus, &e);
        g_assert_no_error(e);

        vdpa_test_libvirtd_pause(libvirtd);
        g_dbus_message_set_body(m, g_variant_new("(ssa{sv})", "vdpa0", dom, NULL));
        g_assert_true(g_dbus_connection_send_message(c, m, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, &e));
        g_assert_true(g_dbus_connection_flush_sync(c, NULL, &e));

        /* Authorized once the device is reserved: then a Claim of it is
         * refused as busy before any authorization.  The probe comes from a
         * user polkit refuses, so that it can never reserve the device. */
        vdpa_test_user_ensure_or_die(VDPA_TEST_USER, &user, &ugid);
        for (int i = 0; i < 200 && !reserved; i++) {
                g_autoptr(GError) busy = NULL;
                g_autoptr(GVariant) r = vdpa_test_call_as_uid(f->bus, user, ugid, "Claim",
                                                              g_variant_new("(ssa{sv})", "vdpa0", dom, NULL),
                                                              G_DBUS_CALL_FLAGS_NONE, &busy);
                g_autofree char *name = vdpa_test_error_name(busy);

                g_assert_null(r);
                reserved = g_strcmp0(name, VDPA_ERROR_DEVICE_BUSY) == 0;
                if (!reserved) {
                        vdpa_test_assert_error_name(busy, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired");
                        vdpa_test_iterate(10);
                }
        }
        g_assert_true(reserved);
        /* The one Claim is in flight (the refused probes never were). */
        {
                g_autoptr(GVariant) n = vdpa_test_get_property(f->bus, "OperationsInFlight", &e);
                g_assert_no_error(e);
                g_assert_cmpuint(g_variant_get_uint32(n), ==, 1);
        }

        g_assert_true(g_dbus_connection_close_sync(c, NULL, &e));
        vdpa_test_libvirtd_resume(libvirtd);

        vdpa_test_wait_operations_done(f->bus, 60000);
        log = vdpa_test_daemon_get_log(f->bus);
        g_assert_nonnull(strstr(log, "Caller of Claim(vdpa0) went away; rolling back"));
        g_assert_nonnull(strstr(log, "Rolled back the failed claim of vdpa0"));
        inactive = domain_xml(f, dom, TRUE);
        g_assert_cmpuint(count_vdpa(inactive), ==, 0);
        state = state_file(f);
        g_assert_null(strstr(state, "Device="));
        g_autofree char *s0 = device_state(f, "vdpa0");
        g_assert_cmpstr(s0, ==, "available");

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- crash safety: kill -9 at many points --- */

typedef struct {
        gboolean done;
        gboolean ok;
        char *device;
} Pending;

static void on_pending(GObject *src, GAsyncResult *res, gpointer userdata) {
        Pending *p = userdata;
        g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, NULL);

        p->done = TRUE;
        p->ok = r != NULL;
        if (r && g_variant_is_of_type(r, G_VARIANT_TYPE("(ss)")))
                g_variant_get(r, "(ss)", &p->device, NULL);
}

/* Every recorded claim has its interface in the domain and vice versa. */
static void assert_consistent(Fixture *f, const char *dom, GHashTable *acked) {
        g_autofree char *inactive = domain_xml(f, dom, TRUE);
        g_autofree char *state = state_file(f);
        const char *const devs[] = { "vdpa0", "fast1", "vdpa2" };
        const char *const chardevs[] = { "/dev/vhost-vdpa-0", "/dev/vhost-vdpa-1", "/dev/vhost-vdpa-2" };
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) e = NULL;

        /* The file always parses, and holds no unfinished intent once the
         * daemon has started (it rolled them back). */
        g_assert_true(g_key_file_load_from_data(kf, state, strlen(state), G_KEY_FILE_NONE, &e));
        g_assert_null(strstr(state, "Phase=intent"));

        for (size_t i = 0; i < G_N_ELEMENTS(devs); i++) {
                g_autofree char *key = g_strdup_printf("Device=%s\n", devs[i]);
                g_autofree char *src = g_strdup_printf("<source dev='%s'/>", chardevs[i]);
                gboolean recorded = strstr(state, key) != NULL;
                gboolean attached = strstr(inactive, src) != NULL;

                g_assert_cmpint(recorded, ==, attached);
                /* An acknowledged claim is never lost. */
                if (g_hash_table_contains(acked, devs[i]))
                        g_assert_true(recorded);
        }
}

static void test_crash_safety(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        g_autoptr(GHashTable) acked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        const guint rounds = 30;
        guint killed_in_flight = 0;

        start_daemon(f, NULL);
        for (guint i = 0; i < rounds; i++) {
                Pending p = {};
                const char *dev = (const char *[]) { "vdpa0", "fast1", "vdpa2" }[i % 3];
                g_autofree char *st = device_state(f, dev);

                /* Claim if free, release if claimed: both paths get killed. */
                if (g_str_equal(st, "available"))
                        g_dbus_connection_call(vdpa_test_bus_get_connection(f->bus), VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                               VDPA_INTERFACE, "Claim", g_variant_new("(ssa{sv})", dev, dom, NULL),
                                               G_VARIANT_TYPE("(ss)"), G_DBUS_CALL_FLAGS_NONE, 30000, NULL, on_pending, &p);
                else
                        g_dbus_connection_call(vdpa_test_bus_get_connection(f->bus), VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                               VDPA_INTERFACE, "Release", g_variant_new("(sa{sv})", dev, NULL),
                                               NULL, G_DBUS_CALL_FLAGS_NONE, 30000, NULL, on_pending, &p);

                /* Kill at a different moment each round: 0..~15 ms in. */
                g_usleep((i * 523) % 15000);
                vdpa_test_daemon_kill(f->bus, SIGKILL);
                for (int w = 0; w < 400 && !p.done; w++)
                        vdpa_test_iterate(5);
                g_assert_true(p.done);
                /* An answered Claim must survive; a Release, answered or
                 * killed mid-way, may have happened: its claim is no longer
                 * owed (consistency is still checked below). */
                if (g_str_equal(st, "available")) {
                        if (p.ok)
                                g_hash_table_add(acked, g_strdup(dev));
                } else
                        g_hash_table_remove(acked, dev);
                if (!p.ok)
                        killed_in_flight++;
                g_free(p.device);

                start_daemon(f, NULL);
                /* The roll-backs of unfinished intents are operations. */
                vdpa_test_wait_operations_done(f->bus, 30000);
                assert_consistent(f, dom, acked);
        }
        g_test_message("crash safety: %u rounds, %u killed in flight", rounds, killed_in_flight);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- a hung libvirtd never stalls reads; the claim gets an answer --- */

static void test_hung_libvirtd(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        const char *const more[] = { "--libvirt-timeout=2", NULL };
        Pending p = {};
        gint64 t0, worst = 0;
        g_autofree char *inactive = NULL;

        start_daemon(f, more);
        vdpa_test_libvirtd_pause(libvirtd);

        g_dbus_connection_call(vdpa_test_bus_get_connection(f->bus), VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                               VDPA_INTERFACE, "Claim", g_variant_new("(ssa{sv})", "vdpa0", dom, NULL),
                               G_VARIANT_TYPE("(ss)"), G_DBUS_CALL_FLAGS_NONE, 30000, NULL, on_pending, &p);

        /* Reads answer at their usual speed meanwhile. */
        for (int i = 0; i < 20; i++) {
                g_autoptr(GError) e = NULL;
                gint64 s = g_get_monotonic_time();
                g_autoptr(GVariant) r = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &e);

                g_assert_no_error(e);
                g_assert_nonnull(r);
                worst = MAX(worst, g_get_monotonic_time() - s);
                vdpa_test_iterate(20);
        }
        g_test_message("Devices() worst latency with libvirtd stopped: %" G_GINT64_FORMAT " us", worst);
        g_assert_cmpint(worst, <, 200000);

        /* The claim times out with LibvirtFailed. */
        t0 = g_get_monotonic_time();
        for (int i = 0; i < 400 && !p.done; i++)
                vdpa_test_iterate(10);
        g_assert_true(p.done);
        g_assert_false(p.ok);
        g_assert_cmpint(g_get_monotonic_time() - t0, <, 4 * G_USEC_PER_SEC);

        /* libvirtd comes back: whatever the late job did is undone, and
         * only then does the Claim's operation end (the outcome was
         * unknown until libvirt answered, so the device stayed reserved). */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) n = vdpa_test_get_property(f->bus, "OperationsInFlight", &e);
                g_assert_no_error(e);
                g_assert_cmpuint(g_variant_get_uint32(n), ==, 1);
        }
        vdpa_test_libvirtd_resume(libvirtd);
        vdpa_test_wait_operations_done(f->bus, 30000);
        inactive = domain_xml(f, dom, TRUE);
        g_assert_cmpuint(count_vdpa(inactive), ==, 0);
        g_autofree char *st = device_state(f, "vdpa0");
        g_assert_cmpstr(st, ==, "available");
        g_autofree char *state = state_file(f);
        g_assert_null(strstr(state, "Device="));

        /* And it works again at once: the device is free. */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = claim(f, "vdpa0", dom, NULL, &e);
                g_assert_no_error(e);
                g_assert_nonnull(r);
        }
        release_ok(f, "vdpa0");
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- release when the domain or the device is gone --- */

static void test_release_gone(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        g_autofree char *dom2 = new_domain(f, FALSE);
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = NULL;
        GVariantBuilder o;

        start_daemon(f, NULL);

        /* The domain goes: libvirt says so, and the claim goes with it. */
        r = claim(f, "vdpa0", dom, NULL, &e);
        g_assert_no_error(e);
        g_assert_true(vdpa_test_undefine_domain(uri(f), dom, &e));
        /* libvirt's event, then the daemon's reconciliation: 10 s is a
         * safety net (the daemon may run under valgrind). */
        for (int i = 0; i < 1000; i++) {
                g_autofree char *st = device_state(f, "vdpa0");
                if (g_str_equal(st, "available"))
                        break;
                vdpa_test_iterate(10);
        }
        g_autofree char *st = device_state(f, "vdpa0");
        g_assert_cmpstr(st, ==, "available");
        g_clear_pointer(&r, g_variant_unref);
        r = release(f, "vdpa0", NULL, &e);
        g_assert_null(r);
        vdpa_test_assert_error_name(e, VDPA_ERROR_NOT_CLAIMED);
        g_clear_error(&e);

        /* The device goes (vdpa dev del): the claim stays until released,
         * since the domain still names its chardev; release detaches it. */
        r = claim(f, "fast1", dom2, NULL, &e);
        g_assert_no_error(e);
        g_assert_nonnull(r);
        vdpa_testbed_remove(f->tb, "/sys/devices/pci0000:00/0000:00:02.0/0000:04:00.0/mlx5_core.sf.4/fast1");
        for (int i = 0;; i++) {
                g_autoptr(GError) e2 = NULL;
                g_autoptr(GVariant) d = vdpa_test_call(f->bus, "GetDevice", g_variant_new("(s)", "fast1"), NULL, &e2);
                if (!d) {
                        vdpa_test_assert_error_name(e2, VDPA_ERROR_NO_SUCH_DEVICE);
                        break;
                }
                if (i == 1000)
                        g_error("fast1 still in the inventory 10 s after its removal uevent");
                vdpa_test_iterate(10);
        }
        g_variant_builder_init(&o, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&o, "{sv}", "force", g_variant_new_boolean(TRUE));
        g_clear_pointer(&r, g_variant_unref);
        r = release(f, "fast1", g_variant_builder_end(&o), &e);
        g_assert_no_error(e);
        g_assert_nonnull(r);
        g_autofree char *x = domain_xml(f, dom2, TRUE);
        g_assert_cmpuint(count_vdpa(x), ==, 0);
        g_autofree char *state = state_file(f);
        g_assert_null(strstr(state, "Device=fast1"));

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* --- the state cannot be written: the claim fails, nothing attached --- */

static void test_state_unwritable(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        g_autofree char *path = NULL;
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = NULL;

        start_daemon(f, NULL);
        /* A directory where the file should go: even root cannot write it. */
        path = g_build_filename(vdpa_test_bus_get_state_dir(f->bus), "claims", NULL);
        g_unlink(path);
        g_assert_cmpint(g_mkdir(path, 0700), ==, 0);

        r = claim(f, "vdpa0", dom, NULL, &e);
        vdpa_test_assert_error_name(e, "org.freedesktop.DBus.Error.IOError");
        g_assert_nonnull(strstr(e->message, path));
        g_autofree char *inactive = domain_xml(f, dom, TRUE);
        g_assert_cmpuint(count_vdpa(inactive), ==, 0);
        g_autofree char *st = device_state(f, "vdpa0");
        g_assert_cmpstr(st, ==, "available");

        g_rmdir(path);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* A device created with a MAC is claimed with that MAC: the NIC filters
 * on it, a guest with another one would get no traffic. */
static void test_device_mac(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f, FALSE);
        g_autoptr(GVariant) created = NULL, reply = NULL, dict = NULL, other = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *inactive = NULL;
        const char *xml, *s;

        start_daemon(f, NULL);
        created = vdpa_test_call(f->bus, "CreateDevice",
                                 g_variant_new_parsed("('pci/0000:04:00.5', 'vdpa9', {'mac': <'00:11:22:33:44:55'>})"),
                                 "(s)", &error);
        g_assert_no_error(error);
        dict = device_dict(f, "vdpa9");
        g_assert_true(g_variant_lookup(dict, VDPA_KEY_DEVICE_MAC, "&s", &s));
        g_assert_cmpstr(s, ==, "00:11:22:33:44:55");

        reply = claim(f, "vdpa9", dom, NULL, &error);
        g_assert_no_error(error);
        g_variant_get(reply, "(&s&s)", NULL, &xml);
        g_assert_nonnull(strstr(xml, "00:11:22:33:44:55"));
        inactive = domain_xml(f, dom, TRUE);
        g_assert_nonnull(strstr(inactive, "<mac address='00:11:22:33:44:55'/>"));

        /* A claimed device cannot be deleted. */
        other = vdpa_test_call(f->bus, "DeleteDevice", g_variant_new_parsed("('vdpa9', @a{sv} {})"), NULL, &error);
        vdpa_test_assert_error_name(error, VDPA_ERROR_DEVICE_BUSY);
        g_clear_error(&error);

        g_clear_pointer(&reply, g_variant_unref);
        reply = release(f, "vdpa9", NULL, &error);
        g_assert_no_error(error);
        g_clear_pointer(&other, g_variant_unref);
        other = vdpa_test_call(f->bus, "DeleteDevice", g_variant_new_parsed("('vdpa9', @a{sv} {})"), NULL, &error);
        g_assert_no_error(error);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

#define ADD(path, func) \
        g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        libvirtd = vdpa_test_libvirtd_start_or_die();

        ADD("/claim/config-claim-and-release", test_config_claim_and_release);
        ADD("/claim/survives-restart", test_claim_survives_restart);
        ADD("/claim/live-fails-rolls-back", test_live_claim_fails_and_rolls_back);
        ADD("/claim/authorization", test_authorization);
        ADD("/claim/errors", test_errors);
        ADD("/claim/auto-pick", test_auto_pick);
        ADD("/claim/concurrency", test_concurrency);
        ADD("/claim/disconnect-race", test_disconnect_race);
        ADD("/claim/caller-gone-during-attach", test_caller_gone_during_attach);
        ADD("/claim/reply-before-signal", test_reply_before_signal);
        ADD("/claim/crash-safety", test_crash_safety);
        ADD("/claim/hung-libvirtd", test_hung_libvirtd);
        ADD("/claim/release-gone", test_release_gone);
        ADD("/claim/state-unwritable", test_state_unwritable);
        g_test_add("/claim/device-mac", Fixture, NULL, fixture_setup_netlink, test_device_mac, fixture_teardown);

        r = g_test_run();
        vdpa_test_libvirtd_stop(libvirtd);
        return r;
}
