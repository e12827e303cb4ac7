/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Figure 5: cold bus activation to the first Devices() answer at N = 4096,
 * against activating the trivial sd-bus service to its first answer.  Both
 * are activated by the private bus from files in its service directory,
 * alternately, each stopped before the next start.
 */
#include <signal.h>
#include <stdio.h>

#include "bench.h"
#include "vdpa-names.h"

#define FIGURE "activation"
#define TRIVIAL_NAME "org.vdpa.Bench.Trivial"

static bool has_owner(sd_bus *sd, const char *name)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(sd, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", &error, &reply, "s", name);
        g_assert_cmpint(r, >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "b", &r), >=, 0);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        return r;
}

/* Stops the activated owner of NAME and waits until it is gone. */
static void stop_activated(VdpaTestBus *bus, sd_bus *sd, const char *name)
{
        GPid pid = vdpa_test_bus_get_name_owner_pid(bus, name);

        g_assert_cmpint(pid, >, 0);
        kill(pid, SIGTERM);
        for (guint i = 0; vdpa_test_pid_alive(pid) || has_owner(sd, name); i++) {
                if (i > 5000)
                        g_error("activated %s (pid %d) did not exit", name, pid);
                g_usleep(2000);
        }
}

static uint64_t time_first_devices(sd_bus *sd, guint expect)
{
        uint64_t t0 = bench_now_ns(), dt;
        sd_bus_message *reply = NULL;
        guint n = 0;

        bench_call_ok(sd, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Devices", &reply, NULL);
        dt = bench_now_ns() - t0;
        /* the answer, not merely an answer: every device is in it */
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "a{sv}"), >=, 0);
        while (sd_bus_message_skip(reply, "a{sv}") > 0)
                n++;
        g_assert_cmpuint(n, ==, expect);
        sd_bus_message_unref(reply);
        return dt;
}

static uint64_t time_first_echo(sd_bus *sd)
{
        uint64_t t0 = bench_now_ns();

        bench_call_ok(sd, TRIVIAL_NAME, "/", "org.vdpa.Bench", "Echo", NULL, "ay", 0);
        return bench_now_ns() - t0;
}

static uint64_t time_scan(guint expect)
{
        uint64_t t0 = bench_now_ns(), dt;

        g_assert_cmpuint(bench_sysfs_scan("", NULL), ==, expect);
        dt = bench_now_ns() - t0;
        return dt;
}

int bench_figure_activation(int argc, char **argv)
{
        guint n = argc > 0 ? (guint) g_ascii_strtoull(argv[0], NULL, 10) : 4096;
        g_autoptr(UMockdevTestbed) tb = bench_host_new(n);
        g_autoptr(VdpaTestBus) bus = bench_bus_new();
        g_autoptr(BenchSamples) daemon = bench_samples_new(), trivial = bench_samples_new();
        g_autoptr(BenchSamples) scan = bench_samples_new();
        g_auto(GStrv) daemon_argv = bench_daemon_argv(bus, NULL, true);
        const char *trivial_argv[] = { g_getenv("VDPA_BENCH_TRIVIAL"), TRIVIAL_NAME, NULL };
        guint iters = bench_iterations(20, 3);
        g_autofree char *what = g_strdup_printf("cold activation -> first Devices() N=%u", n);
        sd_bus *sd;

        g_assert_nonnull(tb);   /* the simulated host, for the activated daemon */
        bench_report_begin(FIGURE, "5. Cold bus activation to the first answer");
        g_assert_nonnull(trivial_argv[0]);
        bench_write_activation(bus, VDPA_BUS_NAME, (const char *const *) daemon_argv);
        bench_write_activation(bus, TRIVIAL_NAME, trivial_argv);
        sd = bench_bus_connect(bus);

        /* one of each first, so that both binaries are in the page cache */
        (void) time_first_devices(sd, n);
        stop_activated(bus, sd, VDPA_BUS_NAME);
        (void) time_first_echo(sd);
        stop_activated(bus, sd, TRIVIAL_NAME);

        for (guint i = 0; i < iters; i++) {
                if (i % 2) {
                        bench_samples_add(trivial, time_first_echo(sd));
                        stop_activated(bus, sd, TRIVIAL_NAME);
                }
                bench_samples_add(daemon, time_first_devices(sd, n));
                stop_activated(bus, sd, VDPA_BUS_NAME);
                bench_samples_add(scan, time_scan(n));
                if (!(i % 2)) {
                        bench_samples_add(trivial, time_first_echo(sd));
                        stop_activated(bus, sd, TRIVIAL_NAME);
                }
        }
        bench_report_pair(FIGURE, what, n, daemon, "trivial sd-bus service", trivial, iters);
        bench_report_pair(FIGURE, "(info) one fresh sysfs scan", n, scan, NULL, NULL, iters);
        bench_report_target(FIGURE, "activation: daemon / trivial (medians)",
                            bench_samples_median_us(daemon) / bench_samples_median_us(trivial), "<=", 3.0, "x", NULL);
        /* No service can answer before it has looked at the devices once. */
        bench_report_value(FIGURE, "(info) activation: daemon / (trivial + one fresh scan)",
                           bench_samples_median_us(daemon) /
                           (bench_samples_median_us(trivial) + bench_samples_median_us(scan)), "x");
        bench_report_end(FIGURE);
        sd_bus_flush_close_unref(sd);
        return 0;
}
