/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Figure 5: cold bus activation to the first Devices() answer at N = 4096,
 * against activating the trivial sd-bus service to its first answer after
 * one libudev enumeration of the same devices (the floor: no service can
 * answer for devices it has not looked at once), and the bare trivial
 * service for information.  All are activated by the private bus from
 * files in its service directory, in rotating order, each stopped before
 * the next start.
 *
 * Twice on the same host: without the vdpa netlink family, then with the
 * simulator serving it, when the daemon's start-up asks one DEV_GET dump
 * and one DEV_CONFIG_GET dump before its first enumeration (checked for
 * every activation); a bare client's two dumps are timed in each round.
 */
#include <signal.h>
#include <stdio.h>

#include "bench.h"
#include "vdpa-names.h"

#define FIGURE "activation"
#define TRIVIAL_NAME "org.vdpa.Bench.Trivial"
#define ENUM_NAME "org.vdpa.Bench.Enumerating"

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

/* The enumerating floor's first answer: how many devices it saw. */
static uint64_t time_first_count(sd_bus *sd, guint expect)
{
        uint64_t t0 = bench_now_ns(), dt;
        sd_bus_message *reply = NULL;
        uint32_t n = 0;

        bench_call_ok(sd, ENUM_NAME, "/", "org.vdpa.Bench", "Count", &reply, NULL);
        dt = bench_now_ns() - t0;
        g_assert_cmpint(sd_bus_message_read(reply, "u", &n), >=, 0);
        g_assert_cmpuint(n, ==, expect);
        sd_bus_message_unref(reply);
        return dt;
}

static uint64_t time_scan(guint expect)
{
        uint64_t t0 = bench_now_ns(), dt;

        g_assert_cmpuint(bench_sysfs_scan("", NULL), ==, expect);
        dt = bench_now_ns() - t0;
        return dt;
}

#define NL_TAG " [netlink]"

typedef struct {
        BenchSamples *daemon, *trivial, *enumerating, *scan, *dumps;
} Rounds;

static void activate_one(VdpaTestBus *bus, sd_bus *sd, guint n, guint which, VdpaSim *sim, VdpaNetlink *nl,
                         Rounds *r)
{
        switch (which) {
        case 0:
                bench_samples_add(r->daemon, time_first_devices(sd, n));
                stop_activated(bus, sd, VDPA_BUS_NAME);
                if (sim) {
                        bench_sim_check(sim, "start-up enumeration of an activated daemon",
                                        &(BenchNlCounts) { .dev_dump = 1, .config_dump = 1 });
                        bench_samples_add(r->dumps, bench_nl_time_dumps(nl, n));
                        vdpa_sim_reset_counts(sim);
                } else {
                        bench_samples_add(r->scan, time_scan(n));
                }
                break;
        case 1:
                bench_samples_add(r->enumerating, time_first_count(sd, n));
                stop_activated(bus, sd, ENUM_NAME);
                break;
        default:
                bench_samples_add(r->trivial, time_first_echo(sd));
                stop_activated(bus, sd, TRIVIAL_NAME);
                break;
        }
}

/* ITERS rounds of the daemon, the enumerating floor and the bare trivial
 * service, which goes first rotating every round; with SIM, each
 * activation is checked to ask exactly one dump of each and the bare
 * client's dumps are timed. */
static void run_rounds(VdpaTestBus *bus, sd_bus *sd, guint n, guint iters, VdpaSim *sim, VdpaNetlink *nl, Rounds *r)
{
        for (guint i = 0; i < iters; i++)
                for (guint k = 0; k < 3; k++)
                        activate_one(bus, sd, n, (i + k) % 3, sim, nl, r);
}

static void rounds_init(Rounds *r)
{
        *r = (Rounds) { bench_samples_new(), bench_samples_new(), bench_samples_new(), bench_samples_new(),
                        bench_samples_new() };
}

static void rounds_clear(Rounds *r)
{
        bench_samples_free(r->daemon);
        bench_samples_free(r->trivial);
        bench_samples_free(r->enumerating);
        bench_samples_free(r->scan);
        bench_samples_free(r->dumps);
}

/* daemon / (enumerating floor + the bare dumps), [netlink] */
static double over_enum_and_dumps(const double *m, gpointer data)
{
        (void) data;
        return m[0] / (m[1] + m[2]);
}

int bench_figure_activation(int argc, char **argv)
{
        guint n = argc > 0 ? (guint) g_ascii_strtoull(argv[0], NULL, 10) : 4096;
        g_autoptr(UMockdevTestbed) tb = bench_host_new(n);
        g_autoptr(VdpaTestBus) bus = bench_bus_new();
        g_auto(GStrv) daemon_argv = bench_daemon_argv(bus, NULL, true);
        const char *trivial_argv[] = { g_getenv("VDPA_BENCH_TRIVIAL"), TRIVIAL_NAME, NULL };
        const char *enum_argv[] = { g_getenv("VDPA_BENCH_TRIVIAL"), "--enumerate=vdpa", ENUM_NAME, NULL };
        guint iters = bench_iterations(20, 3);
        g_autofree char *what = g_strdup_printf("cold activation -> first Devices() N=%u", n);
        g_autofree char *what_nl = g_strdup_printf("cold activation -> first Devices() N=%u" NL_TAG, n);
        Rounds plain, nl;
        VdpaNetlink *client;
        VdpaSim *sim;
        sd_bus *sd;

        g_assert_nonnull(tb);   /* the simulated host, for the activated daemon */
        bench_report_begin(FIGURE, "5. Cold bus activation to the first answer; without netlink, then" NL_TAG);
        g_assert_nonnull(trivial_argv[0]);
        bench_write_activation(bus, VDPA_BUS_NAME, (const char *const *) daemon_argv);
        bench_write_activation(bus, TRIVIAL_NAME, trivial_argv);
        bench_write_activation(bus, ENUM_NAME, enum_argv);
        sd = bench_bus_connect(bus);
        rounds_init(&plain);
        rounds_init(&nl);

        /* one of each first, so that both binaries are in the page cache */
        (void) time_first_devices(sd, n);
        stop_activated(bus, sd, VDPA_BUS_NAME);
        (void) time_first_echo(sd);
        stop_activated(bus, sd, TRIVIAL_NAME);
        (void) time_first_count(sd, n);
        stop_activated(bus, sd, ENUM_NAME);

        run_rounds(bus, sd, n, iters, NULL, NULL, &plain);
        /* The simulator only while daemons are activated: stopped before
         * the bus goes (see bench-calls.c). */
        sim = bench_sim_start(tb);
        client = bench_nl_open();
        run_rounds(bus, sd, n, iters, sim, client, &nl);
        vdpa_sim_stop(sim);

        bench_report_pair(FIGURE, what, n, plain.daemon, "trivial + libudev enum", plain.enumerating, iters);
        bench_report_pair(FIGURE, what, n, plain.daemon, "trivial sd-bus service", plain.trivial, iters);
        bench_report_pair(FIGURE, "(info) one fresh sysfs scan", n, plain.scan, NULL, NULL, iters);
        bench_report_pair(FIGURE, what_nl, n, nl.daemon, "trivial + libudev enum", nl.enumerating, iters);
        bench_report_pair(FIGURE, what_nl, n, nl.daemon, "without netlink", plain.daemon, iters);
        bench_report_pair(FIGURE, "(step) bare DEV_GET + DEV_CONFIG_GET dumps", n, nl.dumps, NULL, NULL, iters);
        /* No service can answer before it has looked at the devices once:
         * the floor enumerates them with libudev before it takes its name. */
        bench_report_ratio_target(FIGURE, "activation: daemon / (trivial + one libudev enumeration)", plain.daemon,
                                  plain.enumerating, TRUE, "<=", 2.0, NULL);
        /* ... and, with netlink, before it has asked the kernel once */
        {
                BenchSamples *series[] = { nl.daemon, nl.enumerating, nl.dumps };

                bench_report_target_fn(FIGURE, "activation: daemon / (trivial + enumeration + bare dumps)" NL_TAG,
                                       series, 3, TRUE, over_enum_and_dumps, NULL, "<=", 2.0, "x", NULL);
        }
        bench_report_value(FIGURE, "(info, the old target <= 3x) activation: daemon / bare trivial",
                           bench_samples_median_us(plain.daemon) / bench_samples_median_us(plain.trivial), "x");
        bench_report_value(FIGURE, "(info) activation: daemon / (trivial + one fresh scan)",
                           bench_samples_median_us(plain.daemon) /
                           (bench_samples_median_us(plain.trivial) + bench_samples_median_us(plain.scan)), "x");
        bench_report_value(FIGURE, "(info) activation" NL_TAG ": daemon - without netlink - bare dumps",
                           (bench_samples_median_us(nl.daemon) - bench_samples_median_us(plain.daemon) -
                            bench_samples_median_us(nl.dumps)) / 1000, "ms");
        bench_report_end(FIGURE);
        rounds_clear(&plain);
        rounds_clear(&nl);
        sd_bus_flush_close_unref(sd);
        return 0;
}
