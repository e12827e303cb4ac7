/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Figure 6: the daemon's memory (VmRSS from /proc/PID/status, Pss from
 * smaps_rollup) at N = 0, 1024 and 4096 devices after start-up and a first
 * round of calls, and its growth over a soak of 10^5 calls and 10^3
 * hotplug cycles at the largest N.  libvirt is a private, real libvirtd
 * (the remote driver, as qemu:///system would be), not the in-process
 * test driver.
 */
#include <stdarg.h>
#include <stdio.h>

#include "bench.h"
#include "heap-trim.h"
#include "libvirtd-harness.h"
#include "vdpa-names.h"

#define FIGURE "rss"

typedef struct {
        const char *member;
        const char *name;
        bool got;
} Wanted;

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        Wanted *w = userdata;
        const char *name = NULL;

        if (sd_bus_message_is_signal(m, VDPA_INTERFACE, w->member) &&
            sd_bus_message_read(m, "s", &name) >= 0 && g_str_equal(name, w->name))
                w->got = true;
        return 0;
}

static void event_and_wait(UMockdevTestbed *tb, sd_bus *sd, const char *syspath, const char *action,
                           Wanted *w)
{
        uint64_t deadline = bench_now_ns() + 10000000000ULL;

        w->got = false;
        umockdev_testbed_uevent(tb, syspath, action);
        while (!w->got) {
                int r = sd_bus_process(sd, NULL);

                g_assert_cmpint(r, >=, 0);
                if (r > 0)
                        continue;
                if (bench_now_ns() > deadline)
                        g_error("no %s(%s) after uevent %s", w->member, w->name, action);
                g_assert_cmpint(sd_bus_wait(sd, 100000), >=, 0);
        }
}

static void wait_libvirt_connected(VdpaTestBus *bus)
{
        for (guint i = 0; i < 1000; i++) {
                g_autoptr(GVariant) v = vdpa_test_get_property(bus, "LibvirtConnected", NULL);

                if (v && g_variant_get_boolean(v))
                        return;
                g_usleep(20 * 1000);
        }
        g_error("the daemon never connected to libvirt");
}

/* A call that may fail the way it is meant to (NoSuchDevice). */
static void call_any(sd_bus *sd, const char *method, const char *types, ...)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        va_list ap;

        g_assert_cmpint(sd_bus_message_new_method_call(sd, &m, VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                                       VDPA_INTERFACE, method), >=, 0);
        va_start(ap, types);
        g_assert_cmpint(sd_bus_message_appendv(m, types, ap), >=, 0);
        va_end(ap);
        (void) sd_bus_call(sd, m, 60 * 1000000ULL, &error, &reply);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        sd_bus_error_free(&error);
}

static void one_call(sd_bus *sd, guint i, guint n)
{
        g_autofree char *name = g_strdup_printf("vdpa%u", n ? (i * 7919u) % n : 0);

        if (n && i % 1000 == 999) {
                bench_call_ok(sd, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Devices", NULL, NULL);
                return;
        }
        switch (i % 10) {
        case 6:
                (void) bench_time_ping(sd, VDPA_BUS_NAME);
                break;
        case 7:
                call_any(sd, "BuildInterfaceXml", "sa{sv}", name, 1, VDPA_OPT_QUEUES, "u", 4);
                break;
        case 8:
                call_any(sd, "GetDevice", "s", "no-such-device");
                break;
        case 9:
                bench_call_ok(sd, VDPA_BUS_NAME, VDPA_OBJECT_PATH, "org.freedesktop.DBus.Properties", "Get",
                              NULL, "ss", VDPA_INTERFACE, "Capabilities");
                break;
        default:
                call_any(sd, "GetDevice", "s", name);
        }
}

/* RssAnon readings at the largest N: the target's value and the range it
 * was seen in. */
static guint64 anon_first, anon_min = G_MAXUINT64, anon_max;

static void report_memory(GPid pid, const char *when, guint n, guint64 *ret_rss, guint64 *ret_pss)
{
        guint64 rss, pss, anon;
        g_autofree char *a = g_strdup_printf("VmRSS  %s, N=%u", when, n);
        g_autofree char *b = g_strdup_printf("Pss    %s, N=%u", when, n);
        g_autofree char *c = g_strdup_printf("RssAnon %s, N=%u", when, n);

        /* Let the loop settle, nothing in flight: the reading is of the
         * service at rest, after its quiet-time heap trim. */
        g_usleep(HEAP_TRIM_QUIET_USEC + HEAP_TRIM_ACCURACY_USEC + 200 * 1000);
        g_assert_true(bench_read_memory(pid, &rss, &pss, &anon));
        bench_report_value(FIGURE, a, (double) rss, "KiB");
        bench_report_value(FIGURE, b, (double) pss, "KiB");
        bench_report_value(FIGURE, c, (double) anon, "KiB");
        if (ret_rss)
                *ret_rss = rss;
        if (ret_pss)
                *ret_pss = pss;
        if (!anon_first)
                anon_first = anon;
        anon_min = MIN(anon_min, anon);
        anon_max = MAX(anon_max, anon);
}

static void run_n(VdpaTestLibvirtd *lv, guint n, bool soak, guint64 *ret_rss)
{
        g_autoptr(UMockdevTestbed) tb = bench_host_new(n);
        g_autoptr(VdpaTestBus) bus = bench_bus_new();
        guint calls = bench_iterations(100000, 1000), cycles = bench_iterations(1000, 10);
        GPid daemon = bench_daemon_start(bus, vdpa_test_libvirtd_get_uri(lv));
        sd_bus *sd = bench_bus_connect(bus);

        wait_libvirt_connected(bus);
        /* the first round: what any client would do right away */
        for (guint i = 0; i < 1000; i++)
                one_call(sd, i, n);
        if (n)
                bench_call_ok(sd, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Devices", NULL, NULL);
        report_memory(daemon, "after start + 10^3 calls", n, ret_rss, NULL);

        if (soak) {
                g_autofree char *syspath = bench_host_device_syspath(n, n - 1);
                g_autofree char *name = g_path_get_basename(syspath);
                Wanted added = { .member = "DeviceAdded", .name = name };
                Wanted removed = { .member = "DeviceRemoved", .name = name };
                sd_bus_slot *s1 = NULL, *s2 = NULL;
                guint64 rss0, pss0, rss1, pss1, rss2, pss2;
                guint every = MAX(1, calls / cycles), done_cycles = 0;
                uint64_t t0 = bench_now_ns();

                g_assert_cmpint(sd_bus_match_signal(sd, &s1, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE,
                                                    "DeviceAdded", on_signal, &added), >=, 0);
                g_assert_cmpint(sd_bus_match_signal(sd, &s2, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE,
                                                    "DeviceRemoved", on_signal, &removed), >=, 0);
                report_memory(daemon, "before soak", n, &rss0, &pss0);
                for (guint i = 0; i < calls; i++) {
                        one_call(sd, i, n);
                        if (i % every == every - 1 && done_cycles < cycles) {
                                event_and_wait(tb, sd, syspath, "remove", &removed);
                                event_and_wait(tb, sd, syspath, "add", &added);
                                done_cycles++;
                        }
                        if (i == calls / 10)
                                report_memory(daemon, "after 10% of soak", n, &rss1, &pss1);
                }
                g_assert_cmpuint(done_cycles, ==, cycles);
                report_memory(daemon, "after soak", n, &rss2, &pss2);
                bench_report_value(FIGURE, "soak: calls", calls, "calls");
                bench_report_value(FIGURE, "soak: hotplug cycles (remove + add)", cycles, "cycles");
                bench_report_value(FIGURE, "soak: wall time", (bench_now_ns() - t0) / 1e9, "s");
                bench_report_value(FIGURE, "(info) VmRSS growth, last 90% of soak", (double) rss2 - (double) rss1, "KiB");
                bench_report_value(FIGURE, "(info) Pss growth over soak", (double) pss2 - (double) pss0, "KiB");
                {
                        g_autofree char *what = g_strdup_printf("VmRSS growth over soak at N=%u", n);

                        bench_report_target(FIGURE, what, ((double) rss2 - (double) rss0) / 1024.0, "<=", 1.0, "MiB", NULL);
                }
                sd_bus_slot_unref(s1);
                sd_bus_slot_unref(s2);
        }

        sd_bus_flush_close_unref(sd);
        bench_daemon_stop_ok(bus, daemon);
}

int bench_figure_rss(int argc, char **argv)
{
        g_autoptr(VdpaTestLibvirtd) lv = vdpa_test_libvirtd_start_or_die();
        guint sizes[8] = { 0, 1024, 4096 }, n_sizes = 3;
        g_autofree char *what = NULL;
        guint64 rss = 0;

        if (argc > 0) {
                n_sizes = MIN((guint) argc, G_N_ELEMENTS(sizes));
                for (guint i = 0; i < n_sizes; i++)
                        sizes[i] = (guint) g_ascii_strtoull(argv[i], NULL, 10);
        }
        bench_report_begin(FIGURE, "6. Daemon memory at N devices, and its growth in a soak");
        /* the soak runs on the largest host, the last one */
        for (guint i = 0; i < n_sizes; i++) {
                /* only the largest host's readings count for the target */
                anon_first = anon_max = 0;
                anon_min = G_MAXUINT64;
                run_n(lv, sizes[i], i == n_sizes - 1 && sizes[i] > 0, &rss);
        }
        /* What the daemon itself holds: the shared libraries' text in VmRSS
         * (libvirt alone maps ~17 MiB at N=0) is no per-service cost. */
        what = g_strdup_printf("RssAnon at N=%u", sizes[n_sizes - 1]);
        bench_report_target_range(FIGURE, what, anon_first / 1024.0, anon_min / 1024.0, anon_max / 1024.0, "<=", 6.0,
                                  "MiB", "after start + 10^3 calls; range: every reading at this N, soak included");
        g_free(what);
        what = g_strdup_printf("(info, the old target <= 8 MiB) VmRSS at N=%u", sizes[n_sizes - 1]);
        bench_report_value(FIGURE, what, rss / 1024.0, "MiB");
        bench_report_end(FIGURE);
        return 0;
}
