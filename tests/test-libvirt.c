/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt as the ground truth: the daemon follows libvirt's events, survives
 * libvirtd restarts and reconciles recorded claims with what the domains
 * really have.  Real daemon, real polkitd, real (private) libvirtd.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "harness.h"
#include "libvirtd-harness.h"
#include "polkit-harness.h"
#include "testbed.h"
#include "vdpa-names.h"

static VdpaTestLibvirtd *libvirtd;

typedef struct {
        UMockdevTestbed *tb;
        VdpaTestBus *bus;
        VdpaTestPolkit *polkit;
        char *uri_arg;
        GPtrArray *domains;
        virConnectPtr conn;      /* the test's own, "by hand" */
} Fixture;

static const char *uri(void) {
        return vdpa_test_libvirtd_get_uri(libvirtd);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;

        f->tb = vdpa_test_testbed_new("host.umockdev", &error);
        g_assert_no_error(error);
        f->bus = vdpa_test_bus_new_or_die();
        f->polkit = vdpa_test_polkit_start_or_die(f->bus, NULL);
        f->uri_arg = g_strdup_printf("--libvirt-uri=%s", uri());
        f->domains = g_ptr_array_new_with_free_func(g_free);
        f->conn = vdpa_test_libvirt_open(uri(), 10000, &error);
        g_assert_no_error(error);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        for (guint i = 0; i < f->domains->len; i++)
                vdpa_test_undefine_domain(uri(), f->domains->pdata[i], NULL);
        g_ptr_array_unref(f->domains);
        if (f->conn)
                virConnectClose(f->conn);
        g_clear_pointer(&f->polkit, vdpa_test_polkit_stop);
        g_clear_pointer(&f->bus, vdpa_test_bus_free);
        g_clear_object(&f->tb);
        g_free(f->uri_arg);
}

static char *new_domain(Fixture *f) {
        g_autoptr(GError) error = NULL;
        char *name = vdpa_test_domain_name_new();

        g_assert_true(vdpa_test_define_domain(uri(), name, FALSE, &error));
        g_assert_no_error(error);
        g_ptr_array_add(f->domains, g_strdup(name));
        return name;
}

static void start_daemon(Fixture *f) {
        const char *const args[] = { f->uri_arg, NULL };

        vdpa_test_daemon_start_or_die(f->bus, args);
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 10000);
}

static char *device_field(Fixture *f, const char *name, const char *key) {
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = vdpa_test_call(f->bus, "GetDevice", g_variant_new("(s)", name), "(a{sv})", &e);
        g_autoptr(GVariant) d = NULL;
        char *s = NULL;

        g_assert_no_error(e);
        d = g_variant_get_child_value(r, 0);
        g_assert_true(g_variant_lookup(d, key, "s", &s));
        return s;
}

static void by_hand(Fixture *f, const char *domain, const char *chardev, gboolean attach) {
        g_autofree char *xml = g_strdup_printf("<interface type='vdpa'><source dev='%s'/><model type='virtio'/></interface>", chardev);
        virDomainPtr d = virDomainLookupByName(f->conn, domain);
        int r;

        g_assert_nonnull(d);
        r = attach ? virDomainAttachDeviceFlags(d, xml, VIR_DOMAIN_AFFECT_CONFIG)
                   : virDomainDetachDeviceFlags(d, xml, VIR_DOMAIN_AFFECT_CONFIG);
        if (r < 0)
                g_error("%s by hand failed: %s", attach ? "attach" : "detach", virGetLastErrorMessage());
        virDomainFree(d);
}

/* libvirt 9.0 sends no event at all for a --config attach or detach on a
 * shut-off domain (checked with `virsh event --all --loop`); an admin who
 * edits the definition (virsh define / edit) does get one: DEFINED/UPDATED.
 * So "by hand" here is a redefinition with or without the interface. */
static void redefine(Fixture *f, const char *domain, const char *chardev, gboolean with) {
        virDomainPtr d = virDomainLookupByName(f->conn, domain);
        g_autofree char *xml = NULL;
        char *cur;
        virDomainPtr n;

        g_assert_nonnull(d);
        cur = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
        g_assert_nonnull(cur);
        if (with) {
                g_autofree char *iface = g_strdup_printf("<interface type='vdpa'><source dev='%s'/><model type='virtio'/></interface></devices>", chardev);
                g_auto(GStrv) parts = g_strsplit(cur, "</devices>", 2);
                xml = g_strjoin(iface, parts[0], parts[1], NULL);
        } else {
                /* drop every vdpa interface: what libvirt itself would leave */
                GString *x = g_string_new(cur);
                char *a;

                while ((a = strstr(x->str, "<interface type='vdpa'>"))) {
                        char *b = strstr(a, "</interface>");
                        g_assert_nonnull(b);
                        g_string_erase(x, a - x->str, b + strlen("</interface>") - a);
                }
                xml = g_string_free(x, FALSE);
        }
        free(cur);
        n = virDomainDefineXML(f->conn, xml);
        if (!n)
                g_error("redefine failed: %s", virGetLastErrorMessage());
        virDomainFree(n);
        virDomainFree(d);
}

static gint64 wait_state(Fixture *f, VdpaTestRecorder *rec, const char *name, const char *state, guint timeout_ms) {
        gint64 t0 = g_get_monotonic_time();

        for (;;) {
                GPtrArray *sigs = vdpa_test_recorder_get_signals(rec);

                for (guint i = 0; i < sigs->len; i++) {
                        const VdpaTestSignal *s = sigs->pdata[i];
                        g_autoptr(GVariant) dict = NULL;
                        const char *n, *st;

                        if (!g_str_equal(s->member, "DeviceChanged"))
                                continue;
                        g_variant_get_child(s->parameters, 0, "&s", &n);
                        dict = g_variant_get_child_value(s->parameters, 1);
                        if (g_str_equal(n, name) && g_variant_lookup(dict, VDPA_KEY_STATE, "&s", &st) &&
                            g_str_equal(st, state))
                                return g_get_monotonic_time() - t0;
                }
                if (g_get_monotonic_time() - t0 > (gint64) timeout_ms * 1000)
                        g_error("no DeviceChanged with %s %s within %u ms", name, state, timeout_ms);
                vdpa_test_iterate(2);
        }
}

static int compare_int64(gconstpointer a, gconstpointer b) {
        gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

        return x < y ? -1 : x > y;
}

static gint64 median(GArray *a) {
        g_array_sort(a, compare_int64);
        return g_array_index(a, gint64, a->len / 2);
}

/* A device given to a domain by hand, outside the service, is seen as
 * in-use at once (an event, not polling), and free again when taken away. */
static void test_attach_by_hand(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f);
        g_autoptr(GArray) lat = g_array_new(FALSE, FALSE, sizeof(gint64));
        const guint runs = 20;

        start_daemon(f);
        for (guint i = 0; i < runs; i++) {
                g_autoptr(VdpaTestRecorder) rec = vdpa_test_recorder_new(f->bus);
                gint64 t;

                redefine(f, dom, "/dev/vhost-vdpa-2", TRUE);
                t = wait_state(f, rec, "vdpa2", "in-use", 1000);
                g_array_append_val(lat, t);
                g_autofree char *d = device_field(f, "vdpa2", VDPA_KEY_DOMAIN);
                g_assert_cmpstr(d, ==, dom);

                vdpa_test_recorder_clear(rec);
                redefine(f, dom, "/dev/vhost-vdpa-2", FALSE);
                t = wait_state(f, rec, "vdpa2", "available", 1000);
                g_array_append_val(lat, t);
        }
        g_test_message("event -> DeviceChanged latency: median %" G_GINT64_FORMAT " us over %u",
                       median(lat), lat->len);

        /* A claim on an in-use device is refused. */
        {
                /* Listening before the change: its signal may come before
                 * a recorder made afterwards would subscribe. */
                g_autoptr(VdpaTestRecorder) rec = vdpa_test_recorder_new(f->bus);
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = NULL;

                redefine(f, dom, "/dev/vhost-vdpa-0", TRUE);
                (void) wait_state(f, rec, "vdpa0", "in-use", 1000);
                r = vdpa_test_call(f->bus, "Claim", g_variant_new("(ssa{sv})", "vdpa0", dom, NULL), "(ss)", &e);
                g_assert_null(r);
                vdpa_test_assert_error_name(e, VDPA_ERROR_DEVICE_BUSY);
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* Undefining the domain that holds a claim drops the claim. */
static void test_undefine_drops_claim(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f);
        g_autoptr(VdpaTestRecorder) rec = NULL;
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autofree char *state_path = g_build_filename(vdpa_test_bus_get_state_dir(f->bus), "claims", NULL);
        g_autofree char *state = NULL;
        gint64 t;

        start_daemon(f);
        r = vdpa_test_call(f->bus, "Claim", g_variant_new("(ssa{sv})", "fast1", dom, NULL), "(ss)", &e);
        g_assert_no_error(e);
        g_assert_nonnull(r);

        rec = vdpa_test_recorder_new(f->bus);
        g_assert_true(vdpa_test_undefine_domain(uri(), dom, &e));
        t = wait_state(f, rec, "fast1", "available", 1000);
        g_test_message("undefine -> claim dropped in %" G_GINT64_FORMAT " us", t);

        g_assert_true(g_file_get_contents(state_path, &state, NULL, NULL));
        g_assert_null(strstr(state, "Device=fast1"));
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* libvirtd goes away and comes back: the daemon notices, keeps answering
 * reads, refuses claims meanwhile, and reconnects by itself. */
static void test_reconnect(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f);
        g_autoptr(GArray) times = g_array_new(FALSE, FALSE, sizeof(gint64));
        const guint runs = 20;

        start_daemon(f);
        virConnectClose(f->conn);
        f->conn = NULL;

        for (guint i = 0; i < runs; i++) {
                g_autoptr(GError) e = NULL;
                gint64 t;

                g_assert_cmpint(vdpa_test_libvirtd_stop_daemon(libvirtd, SIGTERM), >=, 0);
                vdpa_test_wait_libvirt_connected(f->bus, FALSE, 20000);

                /* Reads go on from the last known state. */
                {
                        g_autoptr(GVariant) r = vdpa_test_call(f->bus, "Devices", NULL, "(aa{sv})", &e);
                        g_assert_no_error(e);
                        g_assert_nonnull(r);
                }
                /* Claims fail fast and precisely. */
                {
                        g_autoptr(GVariant) r = vdpa_test_call(f->bus, "Claim", g_variant_new("(ssa{sv})", "vdpa0", dom, NULL),
                                                               "(ss)", &e);
                        g_assert_null(r);
                        vdpa_test_assert_error_name(e, VDPA_ERROR_LIBVIRT_UNAVAILABLE);
                        g_clear_error(&e);
                }

                g_assert_true(vdpa_test_libvirtd_start_daemon(libvirtd, &e));
                g_assert_no_error(e);
                t = vdpa_test_wait_libvirt_connected(f->bus, TRUE, 10000);
                g_array_append_val(times, t);
                g_assert_cmpint(t, <=, 5 * G_USEC_PER_SEC);
        }
        g_test_message("reconnect after libvirtd start: median %" G_GINT64_FORMAT " us over %u", median(times), runs);

        /* And claims work again. */
        {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = vdpa_test_call(f->bus, "Claim", g_variant_new("(ssa{sv})", "vdpa0", dom, NULL), "(ss)", &e);
                g_assert_no_error(e);
                g_assert_nonnull(r);
        }
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

typedef struct {
        gboolean done;
        char *error_name;
} Pending;

static void on_pending(GObject *src, GAsyncResult *res, gpointer userdata) {
        Pending *p = userdata;
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &e);

        p->done = TRUE;
        p->error_name = r ? NULL : vdpa_test_error_name(e);
}

/* libvirtd dies while a Claim waits on it: the Claim gets a clear error,
 * and once libvirtd is back nothing is left behind. */
static void test_inflight_claim(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f);
        g_autofree char *state_path = g_build_filename(vdpa_test_bus_get_state_dir(f->bus), "claims", NULL);
        g_autoptr(GError) e = NULL;
        Pending p = {};

        start_daemon(f);
        virConnectClose(f->conn);
        f->conn = NULL;

        vdpa_test_libvirtd_pause(libvirtd);
        g_dbus_connection_call(vdpa_test_bus_get_connection(f->bus), VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE,
                               "Claim", g_variant_new("(ssa{sv})", "vdpa0", dom, NULL), G_VARIANT_TYPE("(ss)"),
                               G_DBUS_CALL_FLAGS_NONE, 30000, NULL, on_pending, &p);
        /* Read after the Claim on the same connection, so handled after it:
         * the daemon has it, and its first libvirt read (sent with the
         * polkit check) is stuck on the paused libvirtd. */
        {
                g_autoptr(GVariant) n = vdpa_test_get_property(f->bus, "OperationsInFlight", &e);

                g_assert_no_error(e);
                g_assert_cmpuint(g_variant_get_uint32(n), ==, 1);
        }
        g_assert_false(p.done);
        g_assert_cmpint(vdpa_test_libvirtd_stop_daemon(libvirtd, SIGKILL), >=, 0);

        for (int i = 0; !p.done; i++) {
                if (i >= 3000)
                        g_error("the Claim is still unanswered 30 s after libvirtd was killed under it");
                vdpa_test_iterate(10);
        }
        g_assert_true(p.done);
        g_test_message("in-flight claim ended with %s", p.error_name);
        g_assert_true(g_strcmp0(p.error_name, VDPA_ERROR_LIBVIRT_UNAVAILABLE) == 0 ||
                      g_strcmp0(p.error_name, VDPA_ERROR_LIBVIRT_FAILED) == 0);

        /* Noticed, so that Connected below is the reconnect's, whose scan
         * starts the roll-back of an intent left behind before it says so. */
        vdpa_test_wait_libvirt_connected(f->bus, FALSE, 20000);
        g_assert_true(vdpa_test_libvirtd_start_daemon(libvirtd, &e));
        g_assert_no_error(e);
        vdpa_test_wait_libvirt_connected(f->bus, TRUE, 10000);
        vdpa_test_wait_operations_done(f->bus, 60000);

        /* The truth afterwards: nothing attached, nothing recorded. */
        g_autofree char *xml = vdpa_test_domain_xml(uri(), dom, TRUE, &e);
        g_assert_no_error(e);
        g_assert_null(strstr(xml, "type='vdpa'"));
        g_autofree char *st = device_field(f, "vdpa0", VDPA_KEY_STATE);
        g_assert_cmpstr(st, ==, "available");
        g_autofree char *state = NULL;
        if (g_file_get_contents(state_path, &state, NULL, NULL))
                g_assert_null(strstr(state, "Device=vdpa0"));
        g_free(p.error_name);
        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* The state file disagrees with libvirt in every way at start. */
static void test_reconcile_at_start(Fixture *f, gconstpointer data) {
        g_autofree char *d1 = new_domain(f);
        g_autofree char *d2 = new_domain(f);
        g_autofree char *state_path = g_build_filename(vdpa_test_bus_get_state_dir(f->bus), "claims", NULL);
        g_autofree char *contents = NULL;
        g_autofree char *after = NULL;
        g_autoptr(GError) e = NULL;

        /* d2 has vdpa2 without a claim; d1 has fast1 from an unfinished
         * claim (the daemon died after the attach). */
        by_hand(f, d2, "/dev/vhost-vdpa-2", TRUE);
        by_hand(f, d1, "/dev/vhost-vdpa-1", TRUE);

#define CLAIM_GROUP(n, dev, phase, dom, chardev) \
        "[Claim " n "]\nDevice=" dev "\nPhase=" phase "\nDomain=%s\nDomainUuid=\nChardev=" chardev "\n" \
        "Mac=52:54:00:00:00:0" n "\nXml=<interface type=\"vdpa\"><source dev=\"" chardev "\"/><model type=\"virtio\"/></interface>\n" \
        "Uid=0\nLive=false\nConfig=true\n"
        contents = g_strdup_printf(
                /* stale: d1 does not have vdpa0 */
                CLAIM_GROUP("0", "vdpa0", "active", "%s", "/dev/vhost-vdpa-0")
                /* a device that is gone, in a domain that does not have it */
                CLAIM_GROUP("1", "gone0", "active", "%s", "/dev/vhost-vdpa-42")
                /* unfinished: rolled back, so fast1 leaves d1 */
                CLAIM_GROUP("2", "fast1", "intent", "%s", "/dev/vhost-vdpa-1"),
                d1, d1, d1);
        g_assert_true(g_mkdir_with_parents(vdpa_test_bus_get_state_dir(f->bus), 0700) == 0);
        g_assert_true(g_file_set_contents(state_path, contents, -1, &e));

        /* Connected: the first scan has reconciled (stale claims dropped);
         * the roll-back of the unfinished intent began before the name was
         * taken (or again in that scan).  Then wait for it to end. */
        start_daemon(f);
        vdpa_test_wait_operations_done(f->bus, 60000);
        g_file_get_contents(state_path, &after, NULL, NULL);

        g_autofree char *s0 = device_field(f, "vdpa0", VDPA_KEY_STATE);
        g_autofree char *s1 = device_field(f, "fast1", VDPA_KEY_STATE);
        g_autofree char *s2 = device_field(f, "vdpa2", VDPA_KEY_STATE);
        g_autofree char *d2name = device_field(f, "vdpa2", VDPA_KEY_DOMAIN);
        g_assert_cmpstr(s0, ==, "available");          /* stale claim dropped */
        g_assert_cmpstr(s1, ==, "available");          /* intent rolled back */
        g_assert_cmpstr(s2, ==, "in-use");             /* used without a claim */
        g_assert_cmpstr(d2name, ==, d2);
        g_assert_nonnull(after);
        g_assert_null(strstr(after, "Device="));       /* no claim survives */

        g_autofree char *x1 = vdpa_test_domain_xml(uri(), d1, TRUE, &e);
        g_assert_no_error(e);
        g_assert_null(strstr(x1, "vhost-vdpa-1"));     /* the roll-back detached it */
        g_autofree char *x2 = vdpa_test_domain_xml(uri(), d2, TRUE, &e);
        g_assert_nonnull(strstr(x2, "vhost-vdpa-2"));  /* not ours: untouched */

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

/* A claim recorded live+config whose domain has been shut off since: the
 * detach with the recorded flags fails (nothing is running), and the
 * release goes on with what the definitions say (the config copy). */
static void test_release_after_shutdown(Fixture *f, gconstpointer data) {
        g_autofree char *dom = new_domain(f);
        g_autofree char *state_path = g_build_filename(vdpa_test_bus_get_state_dir(f->bus), "claims", NULL);
        g_autofree char *contents = NULL, *after = NULL, *x = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autoptr(GError) e = NULL;

        by_hand(f, dom, "/dev/vhost-vdpa-0", TRUE);
        contents = g_strdup_printf(
                "[Claim 0]\nDevice=vdpa0\nPhase=active\nDomain=%s\nDomainUuid=\nChardev=/dev/vhost-vdpa-0\n"
                "Mac=52:54:00:00:00:01\nXml=<interface type=\"vdpa\"><source dev=\"/dev/vhost-vdpa-0\"/>"
                "<model type=\"virtio\"/></interface>\nUid=0\nLive=true\nConfig=true\n", dom);
        g_assert_true(g_mkdir_with_parents(vdpa_test_bus_get_state_dir(f->bus), 0700) == 0);
        g_assert_true(g_file_set_contents(state_path, contents, -1, &e));

        start_daemon(f);
        for (int i = 0;; i++) {
                g_autofree char *st = device_field(f, "vdpa0", VDPA_KEY_STATE);

                if (g_str_equal(st, "claimed"))
                        break;
                if (i >= 400)
                        g_error("vdpa0 is still %s, not claimed, 10 s after the daemon connected to libvirt", st);
                vdpa_test_iterate(25);
        }
        g_autofree char *before = device_field(f, "vdpa0", VDPA_KEY_STATE);
        g_assert_cmpstr(before, ==, "claimed");

        r = vdpa_test_call(f->bus, "Release", g_variant_new("(sa{sv})", "vdpa0", NULL), "()", &e);
        g_assert_no_error(e);
        g_assert_nonnull(r);

        g_autofree char *st = device_field(f, "vdpa0", VDPA_KEY_STATE);
        g_assert_cmpstr(st, ==, "available");
        x = vdpa_test_domain_xml(uri(), dom, TRUE, &e);
        g_assert_no_error(e);
        g_assert_null(strstr(x, "vhost-vdpa-0"));
        g_assert_true(g_file_get_contents(state_path, &after, NULL, NULL));
        g_assert_null(strstr(after, "Device="));

        vdpa_test_daemon_stop_assert_ok(f->bus);
}

#define ADD(path, func) \
        g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        libvirtd = vdpa_test_libvirtd_start_or_die();

        ADD("/libvirt/attach-by-hand", test_attach_by_hand);
        ADD("/libvirt/undefine-drops-claim", test_undefine_drops_claim);
        ADD("/libvirt/reconnect", test_reconnect);
        ADD("/libvirt/inflight-claim", test_inflight_claim);
        ADD("/libvirt/reconcile-at-start", test_reconcile_at_start);
        ADD("/libvirt/release-after-shutdown", test_release_after_shutdown);

        r = g_test_run();
        vdpa_test_libvirtd_stop(libvirtd);
        return r;
}
