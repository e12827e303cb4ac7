/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Figures 1 and 2: a small call and the bulk call, each against its floor
 * on the same bus in the same run, at N = 16, 256, 1024 and 4096 devices;
 * the bulk call's floor is the trivial service answering the very reply
 * Devices() gave (Shape() once, then Shaped() builds it on every call: the
 * same aa{sv}, the same size, dbus-daemon validating the same entries);
 * Echo(ay) and Blob of the same byte size are printed for information;
 * each N twice on the same host: without the vdpa netlink family, then
 * with the simulator serving it (the daemon then starts with one DEV_GET
 * and one DEV_CONFIG_GET dump, and no call may ask the kernel anything).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "vdpa-names.h"

#define ECHO_NAME "org.vdpa.Bench.Echo"
#define FIGURE "calls"

/* The two variants of every N: the label's suffix. */
#define NL_TAG " [netlink]"

/* What the targets need of one variant at one N; the samples of the bulk
 * series are kept for the intervals of the targets at the largest N. */
typedef struct {
        guint n;
        double get_ratio;
        BenchSamples *get, *ping;
        BenchSamples *devices, *shaped, *echo, *blob, *scan;
} CallsResult;

static void calls_result_clear(CallsResult *r)
{
        g_clear_pointer(&r->get, bench_samples_free);
        g_clear_pointer(&r->ping, bench_samples_free);
        g_clear_pointer(&r->devices, bench_samples_free);
        g_clear_pointer(&r->shaped, bench_samples_free);
        g_clear_pointer(&r->echo, bench_samples_free);
        g_clear_pointer(&r->blob, bench_samples_free);
        g_clear_pointer(&r->scan, bench_samples_free);
}

static uint64_t call_timed(sd_bus *bus, sd_bus_message *m)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t t0 = bench_now_ns(), dt;
        int r;

        r = sd_bus_call(bus, m, 120 * 1000000ULL, &error, &reply);
        dt = bench_now_ns() - t0;
        if (r < 0)
                g_error("%s failed: %s", sd_bus_message_get_member(m), error.message ? error.message : g_strerror(-r));
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        return dt;
}

static uint64_t time_get_device(sd_bus *bus, const char *name)
{
        uint64_t t0 = bench_now_ns();
        sd_bus_message *m = NULL;

        g_assert_cmpint(sd_bus_message_new_method_call(bus, &m, VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                                       VDPA_INTERFACE, "GetDevice"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", name), >=, 0);
        (void) call_timed(bus, m);
        sd_bus_message_unref(m);
        return bench_now_ns() - t0;
}

static uint64_t time_simple(sd_bus *bus, const char *dest, const char *path, const char *iface,
                            const char *method)
{
        uint64_t t0 = bench_now_ns();
        sd_bus_message *m = NULL;

        g_assert_cmpint(sd_bus_message_new_method_call(bus, &m, dest, path, iface, method), >=, 0);
        (void) call_timed(bus, m);
        sd_bus_message_unref(m);
        return bench_now_ns() - t0;
}

static uint64_t time_echo(sd_bus *bus, const void *data, size_t size)
{
        uint64_t t0 = bench_now_ns();
        sd_bus_message *m = NULL;

        g_assert_cmpint(sd_bus_message_new_method_call(bus, &m, ECHO_NAME, "/", "org.vdpa.Bench", "Echo"), >=, 0);
        g_assert_cmpint(sd_bus_message_append_array(m, 'y', data, size), >=, 0);
        (void) call_timed(bus, m);
        sd_bus_message_unref(m);
        return bench_now_ns() - t0;
}

static uint64_t time_blob(sd_bus *bus, uint32_t size)
{
        uint64_t t0 = bench_now_ns();
        sd_bus_message *m = NULL;

        g_assert_cmpint(sd_bus_message_new_method_call(bus, &m, ECHO_NAME, "/", "org.vdpa.Bench", "Blob"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "u", size), >=, 0);
        (void) call_timed(bus, m);
        sd_bus_message_unref(m);
        return bench_now_ns() - t0;
}

/* The same-shape floor: the trivial service's Shaped() on the daemon's
 * path and interface, so that the call differs from Devices() only in
 * destination and member. */
static uint64_t time_shaped(sd_bus *bus)
{
        return time_simple(bus, ECHO_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Shaped");
}

/* Hands the trivial service the very reply Devices() gives, as the sample
 * Shaped() rebuilds on every call, then checks that the floor answers the
 * same thing: the same signature, the same wire body size (BODY, from the
 * header of Devices()' reply) and the same value. */
static void shape_floor(VdpaTestBus *bus, sd_bus *sd, gsize body)
{
        GDBusConnection *c = vdpa_test_bus_get_connection(bus);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *devices = NULL, *shape = NULL, *reply = NULL;
        g_autoptr(GVariant) a = NULL, b = NULL;
        g_autoptr(GError) gerror = NULL;
        const char *sig;

        g_assert_cmpint(sd_bus_call_method(sd, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Devices", &error,
                                           &devices, NULL), >=, 0);
        g_assert_cmpstr(sd_bus_message_get_signature(devices, true), ==, "aa{sv}");
        g_assert_cmpint(sd_bus_message_new_method_call(sd, &shape, ECHO_NAME, "/", "org.vdpa.Bench", "Shape"), >=, 0);
        g_assert_cmpint(sd_bus_message_copy(shape, devices, true), >=, 0);
        if (sd_bus_call(sd, shape, 120 * 1000000ULL, &error, NULL) < 0)
                g_error("Shape failed: %s", error.message);
        sd_bus_message_unref(shape);
        sd_bus_message_unref(devices);

        g_assert_cmpint(sd_bus_call_method(sd, ECHO_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Shaped", &error, &reply,
                                           NULL), >=, 0);
        sig = sd_bus_message_get_signature(reply, true);
        if (g_strcmp0(sig, "aa{sv}") != 0)
                g_error("the same-shape floor answers '%s', not aa{sv}", sig);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);

        if (bench_reply_body_size(bus, ECHO_NAME, "Shaped") != body)
                g_error("the same-shape floor's reply body is %zu bytes, Devices()' %zu",
                        bench_reply_body_size(bus, ECHO_NAME, "Shaped"), body);
        a = vdpa_test_call_full(c, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Devices", NULL, "(aa{sv})",
                                G_DBUS_CALL_FLAGS_NONE, 120000, &gerror);
        g_assert_no_error(gerror);
        b = vdpa_test_call_full(c, ECHO_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Shaped", NULL, "(aa{sv})",
                                G_DBUS_CALL_FLAGS_NONE, 120000, &gerror);
        g_assert_no_error(gerror);
        if (!g_variant_equal(a, b))
                g_error("the same-shape floor's reply differs from Devices()'");
}

static uint64_t time_scan(const char *root, guint expect)
{
        g_autoptr(GPtrArray) devs = g_ptr_array_new_with_free_func((GDestroyNotify) bench_scan_device_free);
        uint64_t t0 = bench_now_ns(), dt;
        guint n;

        n = bench_sysfs_scan(root, devs);
        dt = bench_now_ns() - t0;
        g_assert_cmpuint(n, ==, expect);
        return dt;
}

/* The service answers what the testbed holds: N devices, all available. */
static void check_devices(VdpaTestBus *bus, guint n)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = vdpa_test_call(bus, "Devices", NULL, "(aa{sv})", &error);
        g_autoptr(GVariant) list = NULL;
        g_autoptr(GPtrArray) scanned = g_ptr_array_new_with_free_func((GDestroyNotify) bench_scan_device_free);

        g_assert_no_error(error);
        list = g_variant_get_child_value(r, 0);
        g_assert_cmpuint(g_variant_n_children(list), ==, n);
        for (gsize i = 0; i < n; i++) {
                g_autoptr(GVariant) d = g_variant_get_child_value(list, i);
                const char *state;

                g_assert_true(g_variant_lookup(d, VDPA_KEY_STATE, "&s", &state));
                g_assert_cmpstr(state, ==, VDPA_STATE_AVAILABLE);
        }
        g_assert_cmpuint(bench_sysfs_scan("", scanned), ==, n);
        for (guint i = 0; i < scanned->len; i++) {
                const BenchScanDevice *d = scanned->pdata[i];

                g_assert_cmpstr(d->driver, ==, "vhost_vdpa");
                g_assert_cmphex(d->vendor, ==, 0x15b3);
                g_assert_cmphex(d->device, ==, 0x101e);
                g_assert_true(d->numa_node == 0 || d->numa_node == 1);
        }
}

/* Where the time of one bulk call goes: CPU of the daemon (or the echo
 * peer), of dbus-daemon and of this client, over K calls in a row. */
typedef enum { ATTR_DEVICES, ATTR_SHAPED, ATTR_ECHO } AttrCall;

static void attribute_one(VdpaTestBus *bus, sd_bus *sd, GPid server, const char *label, guint n,
                          const char *tag, AttrCall call, const void *payload, size_t size)
{
        const guint k = 40;
        GPid broker = vdpa_test_bus_get_pid(bus);
        uint64_t s0 = bench_cpu_ns(server), b0 = bench_cpu_ns(broker), c0 = bench_cpu_ns(0);
        uint64_t t0 = bench_now_ns();
        const char *parts[] = { "server", "dbus-daemon", "client", "wall" };
        double v[4];

        for (guint i = 0; i < k; i++)
                switch (call) {
                case ATTR_DEVICES:
                        (void) time_simple(sd, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Devices");
                        break;
                case ATTR_SHAPED:
                        (void) time_shaped(sd);
                        break;
                case ATTR_ECHO:
                        (void) time_echo(sd, payload, size);
                        break;
                }
        v[0] = (bench_cpu_ns(server) - s0) / 1e6 / k;
        v[1] = (bench_cpu_ns(broker) - b0) / 1e6 / k;
        v[2] = (bench_cpu_ns(0) - c0) / 1e6 / k;
        v[3] = (bench_now_ns() - t0) / 1e6 / k;
        for (guint i = 0; i < 4; i++) {
                g_autofree char *what = g_strdup_printf("(cpu) %s per call, N=%u: %s%s", label, n, parts[i], tag);

                bench_report_value(FIGURE, what, v[i], "ms");
        }
}

static void attribute_cpu(VdpaTestBus *bus, sd_bus *sd, GPid daemon, GPid echo, guint n, const char *tag,
                          const void *payload, size_t size)
{
        attribute_one(bus, sd, daemon, "Devices()", n, tag, ATTR_DEVICES, NULL, 0);
        attribute_one(bus, sd, echo, "Shaped()", n, tag, ATTR_SHAPED, NULL, 0);
        attribute_one(bus, sd, echo, "Echo(ay)", n, tag, ATTR_ECHO, payload, size);
}

static char *tagged(const char *what, const char *tag)
{
        return g_strconcat(what, tag, NULL);
}

/* One variant at N: a fresh bus and daemon on host TB, with the netlink
 * simulator serving the host (NETLINK) or without (the family is absent).
 * The simulator runs only while the daemon does: it is stopped before the
 * bus goes (vdpa_test_bus_free() was seen to hang in GDBus's close when
 * the simulator's threads were still running). */
static void run_variant(UMockdevTestbed *tb, guint n, bool netlink, CallsResult *res)
{
        g_autoptr(VdpaTestBus) bus = NULL;
        VdpaSim *sim = netlink ? bench_sim_start(tb) : NULL;
        BenchSamples *get = res->get = bench_samples_new(), *ping = res->ping = bench_samples_new();
        BenchSamples *devices = res->devices = bench_samples_new(), *shaped = res->shaped = bench_samples_new();
        BenchSamples *echo = res->echo = bench_samples_new(), *blob = res->blob = bench_samples_new();
        BenchSamples *scan = res->scan = bench_samples_new();
        g_autofree char *body_what = NULL;
        g_autofree void *payload = NULL;
        const char *tag = sim ? NL_TAG : "";
        g_autofree char *w_get = tagged("GetDevice", tag), *w_devices = tagged("Devices()", tag);
        g_autofree char *w_scan = tagged("fresh sysfs scan (umockdev)", tag);
        g_autoptr(GRand) rng = g_rand_new_with_seed(n);
        GPid daemon, echo_pid;
        sd_bus *sd;
        guint small_iters, bulk_iters;
        gsize body;

        bus = bench_bus_new();
        echo_pid = bench_trivial_start(bus, ECHO_NAME);
        if (sim)
                vdpa_sim_reset_counts(sim);
        daemon = bench_daemon_start(bus, NULL);
        sd = bench_bus_connect(bus);
        /* The daemon asks the kernel before it takes its name: one dump of
         * each, never a request per device. */
        if (sim)
                bench_sim_check(sim, "start-up enumeration", &(BenchNlCounts) { .dev_dump = 1, .config_dump = 1 });
        check_devices(bus, n);

        /* 1: the small call against the smallest call the daemon answers */
        small_iters = bench_iterations(2000, 50);
        for (guint i = 0; i < 100; i++) {
                (void) time_get_device(sd, "vdpa0");
                (void) bench_time_ping(sd, VDPA_BUS_NAME);
        }
        for (guint i = 0; i < small_iters; i++) {
                g_autofree char *name = g_strdup_printf("vdpa%u", (i * 7919u) % n);

                /* ABAB, with the order flipped every round */
                if (i % 2) {
                        bench_samples_add(get, time_get_device(sd, name));
                        bench_samples_add(ping, bench_time_ping(sd, VDPA_BUS_NAME));
                } else {
                        bench_samples_add(ping, bench_time_ping(sd, VDPA_BUS_NAME));
                        bench_samples_add(get, time_get_device(sd, name));
                }
        }
        bench_report_pair(FIGURE, w_get, n, get, "Peer.Ping", ping, small_iters);
        res->get_ratio = bench_samples_median_us(get) / bench_samples_median_us(ping);

        /* 2: the bulk call against the same reply built by the trivial
         * service (the same shape), against moving as many bytes, and
         * against a scan */
        body = bench_reply_body_size(bus, VDPA_BUS_NAME, "Devices");
        g_assert_cmpuint(body, >=, 4);
        payload = g_malloc0(body - 4);     /* ay: 4 bytes of length, then the bytes */
        body_what = g_strdup_printf("Devices() reply body at N=%u%s", n, tag);
        bench_report_value(FIGURE, body_what, (double) body, "bytes");
        shape_floor(bus, sd, body);
        bulk_iters = bench_iterations(n <= 16 ? 1000 : n <= 256 ? 300 : n <= 1024 ? 100 : 50, 5);
        for (guint i = 0; i < 3; i++) {
                (void) time_simple(sd, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE, "Devices");
                (void) time_shaped(sd);
                (void) time_echo(sd, payload, body - 4);
                (void) time_blob(sd, body - 4);
                (void) time_scan("", n);
        }
        for (guint i = 0; i < bulk_iters; i++) {
                guint order[5] = { 0, 1, 2, 3, 4 };

                /* A fresh order every round (seeded: the same every run):
                 * a fixed rotation let Shaped() always run right behind
                 * Devices() (a warm dbus-daemon, buffers of the right size)
                 * and Devices() mostly behind the scan (400 ms of this
                 * process's CPU at 4096), which was worth 2-4 % between
                 * the two. */
                for (guint k = 4; k > 0; k--) {
                        guint j = (guint) g_rand_int_range(rng, 0, (gint32) k + 1), t = order[k];

                        order[k] = order[j];
                        order[j] = t;
                }
                for (guint k = 0; k < 5; k++)
                        switch (order[k]) {
                        case 0:
                                bench_samples_add(devices, time_simple(sd, VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                                                       VDPA_INTERFACE, "Devices"));
                                break;
                        case 1:
                                bench_samples_add(shaped, time_shaped(sd));
                                break;
                        case 2:
                                bench_samples_add(echo, time_echo(sd, payload, body - 4));
                                break;
                        case 3:
                                bench_samples_add(blob, time_blob(sd, body - 4));
                                break;
                        case 4:
                                bench_samples_add(scan, time_scan("", n));
                                break;
                        }
        }

        bench_report_pair(FIGURE, w_devices, n, devices, "Shaped() same shape", shaped, bulk_iters);
        bench_report_pair(FIGURE, w_devices, n, devices, "Echo(ay) same size", echo, bulk_iters);
        bench_report_pair(FIGURE, w_devices, n, devices, "Blob(u)->ay same size", blob, bulk_iters);
        bench_report_pair(FIGURE, w_scan, n, scan, "Devices()", devices, bulk_iters);
        if (n >= 1024)
                attribute_cpu(bus, sd, daemon, echo_pid, n, tag, payload, body - 4);
        /* Calls are answered from what the daemon knows: not one request. */
        if (sim)
                bench_sim_check(sim, "GetDevice and Devices() calls", &(BenchNlCounts) {});
        res->n = n;

        sd_bus_flush_close_unref(sd);
        bench_daemon_stop_ok(bus, daemon);
        bench_child_stop(echo_pid);
        vdpa_sim_stop(sim);
}

/* Both variants on one host: without netlink (the kernel has no vdpa
 * family), then with the simulator serving it. */
static void run_n(guint n, CallsResult *plain, CallsResult *nl)
{
        g_autoptr(UMockdevTestbed) tb = NULL;
        uint64_t t0 = bench_now_ns();

        tb = bench_host_new(n);
        printf("# N=%u: host generated in %.1f s\n", n, (bench_now_ns() - t0) / 1e9);
        run_variant(tb, n, false, plain);
        run_variant(tb, n, true, nl);
}

static void report_targets(GArray *results, const char *tag)
{
        const CallsResult *big = NULL, *worst = NULL;

        for (guint i = 0; i < results->len; i++) {
                const CallsResult *r = &g_array_index(results, CallsResult, i);

                if (!worst || r->get_ratio > worst->get_ratio)
                        worst = r;
                if (!big || r->n > big->n)
                        big = r;
        }
        if (worst) {
                g_autofree char *w = g_strdup_printf("GetDevice / Ping, worst N (medians)%s", tag);
                g_autofree char *note = g_strdup_printf("N=%u", worst->n);

                bench_report_ratio_target(FIGURE, w, worst->get, worst->ping, TRUE, "<=", 1.3, note);
        }
        if (big) {
                g_autofree char *a = g_strdup_printf("Devices / same-shape floor at N=%u (medians)%s", big->n, tag);
                g_autofree char *b = g_strdup_printf("fresh scan / Devices at N=%u (medians)%s", big->n, tag);
                g_autofree char *c = g_strdup_printf("(info) Devices / Echo(ay) same size at N=%u%s", big->n, tag);
                g_autofree char *d = g_strdup_printf("(info) Devices / Blob one-way at N=%u%s", big->n, tag);
                double devices = bench_samples_median_us(big->devices);

                /* paired: the series were taken in the same rounds */
                bench_report_ratio_target(FIGURE, a, big->devices, big->shaped, TRUE, "<=", 1.2, NULL);
                /* the scan is the same with or without netlink: one target */
                if (!*tag)
                        bench_report_ratio_target(FIGURE, b, big->scan, big->devices, TRUE, ">=", 5.0, NULL);
                else
                        bench_report_value(FIGURE, b, bench_samples_median_us(big->scan) / devices, "x");
                bench_report_value(FIGURE, c, devices / bench_samples_median_us(big->echo), "x");
                bench_report_value(FIGURE, d, devices / bench_samples_median_us(big->blob), "x");
        }
}

int bench_figure_calls(int argc, char **argv)
{
        g_autoptr(GArray) sizes = g_array_new(FALSE, FALSE, sizeof(guint));
        g_autoptr(GArray) plain = g_array_new(FALSE, TRUE, sizeof(CallsResult));
        g_autoptr(GArray) nl = g_array_new(FALSE, TRUE, sizeof(CallsResult));

        for (int i = 0; i < argc; i++) {
                guint n = (guint) g_ascii_strtoull(argv[i], NULL, 10);

                g_array_append_val(sizes, n);
        }
        if (sizes->len == 0)
                g_array_append_vals(sizes, (guint[]) { 16, 256, 1024, 4096 }, 4);

        bench_report_begin(FIGURE, "1. GetDevice vs Peer.Ping; 2. Devices() vs the same-shape floor and a fresh sysfs scan; "
                                   "without netlink, then" NL_TAG);
        g_array_set_size(plain, sizes->len);
        g_array_set_size(nl, sizes->len);
        for (guint i = 0; i < sizes->len; i++)
                run_n(g_array_index(sizes, guint, i), &g_array_index(plain, CallsResult, i),
                      &g_array_index(nl, CallsResult, i));

        report_targets(plain, "");
        report_targets(nl, NL_TAG);
        for (guint i = 0; i < sizes->len; i++) {
                calls_result_clear(&g_array_index(plain, CallsResult, i));
                calls_result_clear(&g_array_index(nl, CallsResult, i));
        }
        bench_report_end(FIGURE);
        return 0;
}
