/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Figure 4: Claim and Release (config attach/detach on a private, real
 * libvirtd; authorization by the real polkitd) against what they cannot
 * avoid: polkit's CheckAuthorization and virDomainAttachDeviceFlags /
 * virDomainDetachDeviceFlags called directly, on a second, identical
 * domain, with the same interface XML.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "bench.h"
#include "libvirtd-harness.h"
#include "polkit-harness.h"
#include "vdpa-names.h"

#define FIGURE "claim"
#define MAC_SERVICE "52:54:00:be:00:01"
#define MAC_FLOOR   "52:54:00:be:00:02"

typedef struct {
        sd_bus *sd;
        const char *unique;
        virConnectPtr conn;
        virDomainPtr floor_dom;
        const char *floor_xml;
        const char *service_dom;
        const char *floor_dom_name;
        const char *probe;          /* a file in the state directory */
} Ctx;

static uint64_t time_claim(Ctx *c)
{
        uint64_t t0 = bench_now_ns();
        sd_bus_message *reply = NULL;
        const char *dev = NULL, *xml = NULL;

        bench_call_ok(c->sd, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Claim", &reply,
                      "ssa{sv}", "vdpa0", c->service_dom, 1, VDPA_OPT_MAC, "s", MAC_SERVICE);
        t0 = bench_now_ns() - t0;
        g_assert_cmpint(sd_bus_message_read(reply, "ss", &dev, &xml), >=, 0);
        g_assert_cmpstr(dev, ==, "vdpa0");
        sd_bus_message_unref(reply);
        return t0;
}

static uint64_t time_release(Ctx *c)
{
        uint64_t t0 = bench_now_ns();

        bench_call_ok(c->sd, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Release", NULL,
                      "sa{sv}", "vdpa0", 0);
        return bench_now_ns() - t0;
}

static void check_authorization(Ctx *c, const char *action)
{
        sd_bus_message *reply = NULL;
        int authorized = 0, challenge = 0;

        bench_call_ok(c->sd, "org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority",
                      "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization", &reply,
                      "(sa{sv})sa{ss}us",
                      "system-bus-name", 1, "name", "s", c->unique,
                      action,
                      2, "device", "vdpa1", "domain", c->floor_dom_name,
                      0, "");
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'r', "bba{ss}"), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "bb", &authorized, &challenge), >=, 0);
        g_assert_true(authorized);
        sd_bus_message_unref(reply);
}

static uint64_t time_floor(Ctx *c, bool attach)
{
        uint64_t t0 = bench_now_ns();
        int r;

        check_authorization(c, attach ? "org.vdpa.manager.claim" : "org.vdpa.manager.release");
        r = attach ? virDomainAttachDeviceFlags(c->floor_dom, c->floor_xml, VIR_DOMAIN_AFFECT_CONFIG)
                   : virDomainDetachDeviceFlags(c->floor_dom, c->floor_xml, VIR_DOMAIN_AFFECT_CONFIG);
        if (r < 0)
                g_error("virDomain%sDeviceFlags: %s", attach ? "Attach" : "Detach", virGetLastErrorMessage());
        return bench_now_ns() - t0;
}

static void durable_write(Ctx *c)
{
        static const char data[400] = "x";

        g_assert_true(g_file_set_contents_full(c->probe, data, sizeof data, G_FILE_SET_CONTENTS_CONSISTENT |
                                               G_FILE_SET_CONTENTS_DURABLE, 0600, NULL));
}

/* What the contract itself costs: the floor plus what DESIGN.md puts on
 * the path -- the domain's lookup (a caller names the domain; whoever
 * attaches must find it first, as virsh does for each attach-device), for
 * a Claim the domain's state (its defaults are "live if the domain is
 * running, config if it is persistent": IsActive and IsPersistent), and
 * the durable state writes (an intent before the attach and the claim
 * before the reply; the release before the reply), in the same order. */
static uint64_t time_contract_floor(Ctx *c, bool attach)
{
        uint64_t t0 = bench_now_ns();
        virDomainPtr d;
        int r;

        check_authorization(c, attach ? "org.vdpa.manager.claim" : "org.vdpa.manager.release");
        d = virDomainLookupByName(c->conn, c->floor_dom_name);
        if (!d)
                g_error("virDomainLookupByName: %s", virGetLastErrorMessage());
        if (attach) {
                if (virDomainIsActive(d) < 0 || virDomainIsPersistent(d) < 0)
                        g_error("virDomainIsActive/IsPersistent: %s", virGetLastErrorMessage());
                durable_write(c);
        }
        r = attach ? virDomainAttachDeviceFlags(d, c->floor_xml, VIR_DOMAIN_AFFECT_CONFIG)
                   : virDomainDetachDeviceFlags(d, c->floor_xml, VIR_DOMAIN_AFFECT_CONFIG);
        if (r < 0)
                g_error("virDomain%sDeviceFlags: %s", attach ? "Attach" : "Detach", virGetLastErrorMessage());
        virDomainFree(d);
        durable_write(c);
        return bench_now_ns() - t0;
}

static guint count_vdpa(const char *uri, const char *dom)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *xml = vdpa_test_domain_xml(uri, dom, TRUE, &error);
        guint n = 0;

        g_assert_no_error(error);
        for (const char *p = xml; (p = strstr(p, "type='vdpa'")); p++)
                n++;
        return n;
}

/* What Claim and Release do beyond the floor, each step timed on its own
 * in the same run: how the gap between service and floor is made up. */
static void attribute_steps(Ctx *c, virConnectPtr conn, const char *state_dir)
{
        const guint k = bench_iterations(40, 5);
        g_autofree char *probe = g_build_filename(state_dir, "bench-probe", NULL);
        g_autofree char *data = g_strnfill(400, 'x');
        const char *names[] = {
                "virDomainLookupByName", "virDomainIsActive + IsPersistent", "virDomainGetXMLDesc",
                "virConnectGetCapabilities", "durable state write (GLib, fsync)", "GetConnectionUnixUser",
                "polkit CheckAuthorization",
        };
        BenchSamples *s[G_N_ELEMENTS(names)];

        for (size_t j = 0; j < G_N_ELEMENTS(names); j++)
                s[j] = bench_samples_new();
        for (guint i = 0; i < k; i++) {
                virDomainPtr d;
                uint64_t t;
                char *x;

                t = bench_now_ns();
                d = virDomainLookupByName(conn, c->service_dom);
                bench_samples_add(s[0], bench_now_ns() - t);
                g_assert_nonnull(d);
                t = bench_now_ns();
                (void) virDomainIsActive(d);
                (void) virDomainIsPersistent(d);
                bench_samples_add(s[1], bench_now_ns() - t);
                t = bench_now_ns();
                x = virDomainGetXMLDesc(d, 0);
                bench_samples_add(s[2], bench_now_ns() - t);
                free(x);
                t = bench_now_ns();
                x = virConnectGetCapabilities(conn);
                bench_samples_add(s[3], bench_now_ns() - t);
                free(x);
                virDomainFree(d);
                t = bench_now_ns();
                g_assert_true(g_file_set_contents_full(probe, data, -1, G_FILE_SET_CONTENTS_CONSISTENT |
                                                       G_FILE_SET_CONTENTS_DURABLE, 0600, NULL));
                bench_samples_add(s[4], bench_now_ns() - t);
                t = bench_now_ns();
                bench_call_ok(c->sd, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              "GetConnectionUnixUser", NULL, "s", c->unique);
                bench_samples_add(s[5], bench_now_ns() - t);
                t = bench_now_ns();
                check_authorization(c, "org.vdpa.manager.claim");
                bench_samples_add(s[6], bench_now_ns() - t);
        }
        for (size_t j = 0; j < G_N_ELEMENTS(names); j++) {
                g_autofree char *what = g_strdup_printf("(step) %s", names[j]);

                bench_report_pair(FIGURE, what, 16, s[j], NULL, NULL, k);
                bench_samples_free(s[j]);
        }
        (void) unlink(probe);
}

int bench_figure_claim(int argc, char **argv)
{
        g_autoptr(UMockdevTestbed) tb = bench_host_new(16);
        g_autoptr(VdpaTestBus) bus = bench_bus_new();
        g_autoptr(VdpaTestPolkit) pk = vdpa_test_polkit_start_or_die(bus, NULL);
        g_autoptr(VdpaTestLibvirtd) lv = vdpa_test_libvirtd_start_or_die();
        g_autoptr(BenchSamples) claim = bench_samples_new(), release = bench_samples_new();
        g_autoptr(BenchSamples) attach = bench_samples_new(), detach = bench_samples_new();
        g_autoptr(BenchSamples) attach_w = bench_samples_new(), detach_w = bench_samples_new();
        g_autoptr(BenchSamples) attach_wh = bench_samples_new(), detach_wh = bench_samples_new();
        g_autoptr(BenchSamples) ping = bench_samples_new();
        g_autofree char *probe = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) built = NULL;
        g_autofree char *dom_s = vdpa_test_domain_name_new(), *dom_f = vdpa_test_domain_name_new();
        const char *uri = vdpa_test_libvirtd_get_uri(lv);
        guint iters = bench_iterations(150, 10);
        virConnectPtr conn;
        GVariantBuilder o;
        const char *xml;
        GPid daemon;
        Ctx c = {};

        /* the host and polkitd only have to exist while the figure runs */
        g_assert_nonnull(tb);
        g_assert_nonnull(pk);
        bench_report_begin(FIGURE, "4. Claim/Release vs CheckAuthorization + virDomainAttach/DetachDeviceFlags");
        g_assert_true(vdpa_test_define_domain(uri, dom_s, FALSE, &error));
        g_assert_true(vdpa_test_define_domain(uri, dom_f, FALSE, &error));
        g_assert_no_error(error);

        daemon = bench_daemon_start(bus, uri);
        vdpa_test_wait_libvirt_connected(bus, TRUE, 20000);
        c.sd = bench_bus_connect(bus);
        g_assert_cmpint(sd_bus_get_unique_name(c.sd, &c.unique), >=, 0);
        c.service_dom = dom_s;
        c.floor_dom_name = dom_f;
        probe = g_build_filename(vdpa_test_bus_get_state_dir(bus), "bench-contract-floor", NULL);
        c.probe = probe;

        /* The floor attaches the interface the service would build. */
        g_variant_builder_init(&o, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&o, "{sv}", VDPA_OPT_MAC, g_variant_new_string(MAC_FLOOR));
        built = vdpa_test_call(bus, "BuildInterfaceXml", g_variant_new("(sa{sv})", "vdpa1", &o), "(s)", &error);
        g_assert_no_error(error);
        g_variant_get(built, "(&s)", &xml);
        c.floor_xml = xml;
        conn = vdpa_test_libvirt_open(uri, 10000, &error);
        g_assert_no_error(error);
        c.conn = conn;
        c.floor_dom = virDomainLookupByName(conn, dom_f);
        g_assert_nonnull(c.floor_dom);

        for (guint i = 0; i < 3; i++) {
                (void) time_claim(&c);
                (void) time_release(&c);
                (void) time_floor(&c, true);
                (void) time_floor(&c, false);
        }
        for (guint i = 0; i < iters; i++) {
                if (i % 2) {
                        bench_samples_add(claim, time_claim(&c));
                        bench_samples_add(attach, time_floor(&c, true));
                        bench_samples_add(release, time_release(&c));
                        bench_samples_add(detach, time_floor(&c, false));
                        bench_samples_add(attach_w, time_contract_floor(&c, true));
                        bench_samples_add(detach_w, time_contract_floor(&c, false));
                } else {
                        bench_samples_add(attach_w, time_contract_floor(&c, true));
                        bench_samples_add(detach_w, time_contract_floor(&c, false));
                        bench_samples_add(attach, time_floor(&c, true));
                        bench_samples_add(claim, time_claim(&c));
                        bench_samples_add(detach, time_floor(&c, false));
                        bench_samples_add(release, time_release(&c));
                }
                /* The one bus round trip any D-Bus service costs its caller,
                 * in the same round: the contract floor's last part. */
                bench_samples_add(ping, bench_time_ping(c.sd, VDPA_BUS_NAME));
                bench_samples_add(attach_wh, g_array_index(attach_w->ns, uint64_t, i) +
                                                     g_array_index(ping->ns, uint64_t, i));
                bench_samples_add(detach_wh, g_array_index(detach_w->ns, uint64_t, i) +
                                                     g_array_index(ping->ns, uint64_t, i));
        }
        attribute_steps(&c, conn, vdpa_test_bus_get_state_dir(bus));
        /* Nothing left behind on either side. */
        g_assert_cmpuint(count_vdpa(uri, dom_s), ==, 0);
        g_assert_cmpuint(count_vdpa(uri, dom_f), ==, 0);

        bench_report_pair(FIGURE, "Claim (config attach)", 16, claim, "CheckAuth + Attach", attach, iters);
        bench_report_pair(FIGURE, "Release (config detach)", 16, release, "CheckAuth + Detach", detach, iters);
        bench_report_pair(FIGURE, "Claim (config attach)", 16, claim, "same + lookup, state, 2 writes", attach_w, iters);
        bench_report_pair(FIGURE, "Release (config detach)", 16, release, "same + lookup + 1 write", detach_w, iters);
        bench_report_pair(FIGURE, "Claim (config attach)", 16, claim, "contract floor + Ping", attach_wh, iters);
        bench_report_pair(FIGURE, "Release (config detach)", 16, release, "contract floor + Ping", detach_wh, iters);
        bench_report_pair(FIGURE, "Peer.Ping (the bus hop)", 16, ping, NULL, NULL, iters);
        /* DESIGN.md §3 puts the durable writes on the path, and a caller
         * pays one bus round trip: what is left is the service's own. */
        bench_report_ratio_target(FIGURE, "Claim / (contract floor + bus hop)", claim, attach_wh, TRUE, "<=", 1.1,
                                  "CheckAuth + LookupByName + IsActive + IsPersistent + Attach + 2 durable writes + Ping, in the same round");
        bench_report_ratio_target(FIGURE, "Release / (contract floor + bus hop)", release, detach_wh, TRUE, "<=", 1.1,
                                  "CheckAuth + LookupByName + Detach + 1 durable write + Ping, in the same round");
        bench_report_value(FIGURE, "(info, the old target <= 1.1x) Claim / (CheckAuth + Attach)",
                           bench_samples_median_us(claim) / bench_samples_median_us(attach), "x");
        bench_report_value(FIGURE, "(info, the old target <= 1.1x) Release / (CheckAuth + Detach)",
                           bench_samples_median_us(release) / bench_samples_median_us(detach), "x");
        bench_report_end(FIGURE);

        (void) unlink(probe);
        virDomainFree(c.floor_dom);
        virConnectClose(conn);
        sd_bus_flush_close_unref(c.sd);
        bench_daemon_stop_ok(bus, daemon);
        vdpa_test_undefine_domain(uri, dom_s, NULL);
        vdpa_test_undefine_domain(uri, dom_f, NULL);
        return 0;
}
