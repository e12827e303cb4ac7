/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <linux/vdpa.h>

#include "bench.h"
#include "spawn-util.h"
#include "testbed.h"
#include "vdpa-names.h"

#define VFS_PER_PF 127

/* ---- time and samples ---- */

uint64_t bench_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

BenchSamples *bench_samples_new(void)
{
        BenchSamples *s = g_new0(BenchSamples, 1);

        s->ns = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        return s;
}

void bench_samples_free(BenchSamples *s)
{
        if (!s)
                return;
        g_array_unref(s->ns);
        if (s->sorted)
                g_array_unref(s->sorted);
        g_free(s);
}

void bench_samples_add(BenchSamples *s, uint64_t ns)
{
        g_array_append_val(s->ns, ns);
        g_clear_pointer(&s->sorted, g_array_unref);
}

guint bench_samples_count(BenchSamples *s)
{
        return s ? s->ns->len : 0;
}

double bench_samples_get_us(BenchSamples *s, guint i)
{
        g_assert_cmpuint(i, <, bench_samples_count(s));
        return g_array_index(s->ns, uint64_t, i) / 1000.0;
}

static gint cmp_u64(gconstpointer a, gconstpointer b)
{
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest of the N sorted values with at least P % at
 * or below it. */
static guint nearest_rank(guint n, double p)
{
        guint rank = (guint) ceil(p / 100.0 * n);

        return CLAMP(rank, 1, n) - 1;
}

double bench_samples_pct_us(BenchSamples *s, double p)
{
        guint n = bench_samples_count(s);

        if (n == 0)
                return NAN;
        /* Sorting a copy keeps the order taken: rounds pair up by index. */
        if (!s->sorted) {
                s->sorted = g_array_sized_new(FALSE, FALSE, sizeof(uint64_t), n);
                g_array_append_vals(s->sorted, s->ns->data, n);
                g_array_sort(s->sorted, cmp_u64);
        }
        return g_array_index(s->sorted, uint64_t, nearest_rank(n, p)) / 1000.0;
}

double bench_samples_median_us(BenchSamples *s)
{
        return bench_samples_pct_us(s, 50);
}

double bench_samples_p99_us(BenchSamples *s)
{
        return bench_samples_pct_us(s, 99);
}

/* ---- spread: the moving-block bootstrap ---- */

#define BOOTSTRAP_RESAMPLES 2000
#define BOOTSTRAP_SEED 20261207

static gint cmp_double(gconstpointer a, gconstpointer b)
{
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static double median_of(double *v, guint n)
{
        qsort(v, n, sizeof(double), (int (*)(const void *, const void *)) cmp_double);
        return v[nearest_rank(n, 50)];
}

/* Blocks of about sqrt(n) consecutive samples: long enough that a slow
 * drift within the run (a busier minute, a colder cache) shows as spread
 * rather than averaging out. */
static guint block_length(guint n)
{
        return MAX(1u, (guint) ceil(sqrt((double) n)));
}

/* Fills IDX[0..N) with the indices of one moving-block resample. */
static void resample_indices(GRand *rand, guint n, guint *idx)
{
        guint len = MIN(block_length(n), n);

        for (guint k = 0; k < n;) {
                guint start = (guint) g_rand_int_range(rand, 0, (gint32) (n - len + 1));

                for (guint j = 0; j < len && k < n; j++)
                        idx[k++] = start + j;
        }
}

/* The 2.5 % and 97.5 % points of VALUE(medians) over the resamples. */
static void bootstrap_interval(BenchSamples *const *series, guint n_series, gboolean paired, BenchStatFn value,
                               gpointer data, double *lo, double *hi)
{
        g_autoptr(GRand) rand = g_rand_new_with_seed(BOOTSTRAP_SEED);
        g_autofree double *stats = g_new(double, BOOTSTRAP_RESAMPLES);
        g_autofree double *medians = g_new(double, n_series);
        guint max_n = 0, n_stats = 0;
        g_autofree guint *idx = NULL;
        g_autofree double *buf = NULL;

        for (guint s = 0; s < n_series; s++)
                max_n = MAX(max_n, bench_samples_count(series[s]));
        idx = g_new(guint, max_n);
        buf = g_new(double, max_n);
        for (guint b = 0; b < BOOTSTRAP_RESAMPLES; b++) {
                double v;

                for (guint s = 0; s < n_series; s++) {
                        guint n = bench_samples_count(series[s]);

                        /* paired: one draw of indices for every series */
                        if (!paired || s == 0)
                                resample_indices(rand, n, idx);
                        for (guint k = 0; k < n; k++)
                                buf[k] = bench_samples_get_us(series[s], idx[k]);
                        medians[s] = median_of(buf, n);
                }
                v = value(medians, data);
                if (!isnan(v))
                        stats[n_stats++] = v;
        }
        if (n_stats == 0) {
                *lo = *hi = NAN;
                return;
        }
        qsort(stats, n_stats, sizeof(double), (int (*)(const void *, const void *)) cmp_double);
        *lo = stats[nearest_rank(n_stats, 2.5)];
        *hi = stats[nearest_rank(n_stats, 97.5)];
}

guint bench_iterations(guint base, guint min)
{
        const char *e = g_getenv("VDPA_BENCH_SCALE");
        double scale = e && *e ? g_ascii_strtod(e, NULL) : 1.0;

        if (!(scale > 0))
                scale = 1.0;
        return MAX(min, (guint) (base * scale));
}

/* ---- results ---- */

static GPtrArray *json_lines;   /* char*, of the current figure */
static FILE *json_file;
static char *run_stamp;

static void json_emit(JsonBuilder *b)
{
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        char *line;

        json_generator_set_root(gen, root);
        line = json_generator_to_data(gen, NULL);
        g_ptr_array_add(json_lines, line);
        if (json_file) {
                fprintf(json_file, "%s\n", line);
                fflush(json_file);
        }
}

static JsonBuilder *json_record(const char *figure, const char *kind, const char *what)
{
        JsonBuilder *b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "run");
        json_builder_add_string_value(b, run_stamp);
        json_builder_set_member_name(b, "figure");
        json_builder_add_string_value(b, figure);
        json_builder_set_member_name(b, "kind");
        json_builder_add_string_value(b, kind);
        json_builder_set_member_name(b, "what");
        json_builder_add_string_value(b, what);
        return b;
}

static void json_add_double(JsonBuilder *b, const char *name, double v)
{
        json_builder_set_member_name(b, name);
        if (isnan(v))
                json_builder_add_null_value(b);
        else
                json_builder_add_double_value(b, round(v * 1000.0) / 1000.0);
}

static void json_add_series(JsonBuilder *b, const char *name, BenchSamples *s)
{
        json_builder_set_member_name(b, name);
        json_builder_begin_object(b);
        json_add_double(b, "median_us", bench_samples_median_us(s));
        json_add_double(b, "p25_us", bench_samples_pct_us(s, 25));
        json_add_double(b, "p75_us", bench_samples_pct_us(s, 75));
        json_add_double(b, "p99_us", bench_samples_p99_us(s));
        json_builder_set_member_name(b, "samples");
        json_builder_add_int_value(b, bench_samples_count(s));
        json_builder_end_object(b);
}

void bench_report_begin(const char *figure, const char *title)
{
        const char *dir = g_getenv("VDPA_BENCH_RESULTS");
        g_autoptr(GDateTime) now = g_date_time_new_now_local();

        g_clear_pointer(&json_lines, g_ptr_array_unref);
        json_lines = g_ptr_array_new_with_free_func(g_free);
        g_free(run_stamp);
        run_stamp = g_date_time_format_iso8601(now);

        if (dir && *dir) {
                g_autofree char *path = g_strdup_printf("%s/%s.jsonl", dir, figure);

                g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
                json_file = fopen(path, "we");
                g_assert_nonnull(json_file);
                printf("# results: %s\n", path);
        }
        printf("\n== %s: %s ==\n", figure, title);
        printf("%-40s %6s %6s | %10s %21s %10s | %-22s %10s %21s %10s | %8s\n",
               "measurement", "N", "iters", "median us", "p25-p75", "p99 us", "floor", "median us", "p25-p75",
               "p99 us", "ratio");
        fflush(stdout);
}

void bench_report_pair(const char *figure, const char *what, guint n_devices,
                       BenchSamples *service, const char *floor_name, BenchSamples *floor,
                       guint iterations)
{
        g_autoptr(JsonBuilder) b = json_record(figure, "pair", what);
        double sm = bench_samples_median_us(service);
        double fm = floor ? bench_samples_median_us(floor) : NAN;
        double ratio = floor ? sm / fm : NAN;

        printf("%-40s %6u %6u | %10.1f %10.1f-%-10.1f %10.1f | %-22s %10.1f %10.1f-%-10.1f %10.1f | %7.2fx\n",
               what, n_devices, iterations, sm, bench_samples_pct_us(service, 25), bench_samples_pct_us(service, 75),
               bench_samples_p99_us(service), floor_name ? floor_name : "-", fm,
               floor ? bench_samples_pct_us(floor, 25) : NAN, floor ? bench_samples_pct_us(floor, 75) : NAN,
               floor ? bench_samples_p99_us(floor) : NAN, ratio);
        fflush(stdout);

        json_builder_set_member_name(b, "devices");
        json_builder_add_int_value(b, n_devices);
        json_builder_set_member_name(b, "iterations");
        json_builder_add_int_value(b, iterations);
        json_add_series(b, "service", service);
        if (floor) {
                json_builder_set_member_name(b, "floor_name");
                json_builder_add_string_value(b, floor_name);
                json_add_series(b, "floor", floor);
                json_add_double(b, "ratio_of_medians", ratio);
        }
        json_builder_end_object(b);
        json_emit(b);
}

static BenchVerdict judge(double lo, double hi, const char *op, double limit)
{
        bool le = g_str_equal(op, "<=");

        g_assert_true(le || g_str_equal(op, ">="));
        if (isnan(lo) || isnan(hi))
                return BENCH_MISS;
        if (le ? hi <= limit : lo >= limit)
                return BENCH_PASS;
        if (le ? lo > limit : hi < limit)
                return BENCH_MISS;
        return BENCH_NOISE;
}

static const char *verdict_name(BenchVerdict v)
{
        switch (v) {
        case BENCH_PASS:
                return "PASS";
        case BENCH_MISS:
                return "MISS";
        case BENCH_NOISE:
                return "NOISE";
        default:
                return "INFO";
        }
}

static BenchVerdict report_target(const char *figure, const char *what, double value, double lo, double hi,
                                  const char *spread, const char *op, double limit, const char *unit,
                                  const char *note)
{
        g_autoptr(JsonBuilder) b = json_record(figure, "target", what);
        BenchVerdict v = judge(lo, hi, op, limit);

        printf("  target: %-52s %10.2f [%.2f-%.2f] %s %s %-6g %s%s%s\n", what, value, lo, hi, unit, op, limit,
               v == BENCH_NOISE ? "NOISE (the limit is inside the interval)" : verdict_name(v), note ? "  " : "",
               note ? note : "");
        fflush(stdout);

        json_add_double(b, "value", value);
        json_add_double(b, "lo", lo);
        json_add_double(b, "hi", hi);
        json_builder_set_member_name(b, "spread");
        json_builder_add_string_value(b, spread);
        json_builder_set_member_name(b, "op");
        json_builder_add_string_value(b, op);
        json_add_double(b, "limit", limit);
        json_builder_set_member_name(b, "unit");
        json_builder_add_string_value(b, unit);
        json_builder_set_member_name(b, "verdict");
        json_builder_add_string_value(b, verdict_name(v));
        if (note) {
                json_builder_set_member_name(b, "note");
                json_builder_add_string_value(b, note);
        }
        json_builder_end_object(b);
        json_emit(b);
        return v;
}

BenchVerdict bench_report_target_range(const char *figure, const char *what, double value, double lo,
                                       double hi, const char *op, double limit, const char *unit,
                                       const char *note)
{
        return report_target(figure, what, value, MIN(lo, value), MAX(hi, value), "range seen", op, limit, unit,
                             note);
}

BenchVerdict bench_report_target(const char *figure, const char *what, double value,
                                 const char *op, double limit, const char *unit,
                                 const char *note)
{
        return report_target(figure, what, value, value, value, "exact", op, limit, unit, note);
}

BenchVerdict bench_report_target_fn(const char *figure, const char *what, BenchSamples *const *series,
                                    guint n_series, gboolean paired, BenchStatFn value, gpointer data,
                                    const char *op, double limit, const char *unit, const char *note)
{
        g_autofree double *medians = g_new(double, n_series);
        g_autofree char *spread = NULL;
        double lo, hi;
        guint n = bench_samples_count(series[0]);

        for (guint s = 0; s < n_series; s++) {
                g_assert_cmpuint(bench_samples_count(series[s]), >, 0);
                if (paired)
                        g_assert_cmpuint(bench_samples_count(series[s]), ==, n);
                medians[s] = bench_samples_median_us(series[s]);
        }
        bootstrap_interval(series, n_series, paired, value, data, &lo, &hi);
        spread = g_strdup_printf("95%% moving-block bootstrap (%u resamples, blocks of %u%s)", BOOTSTRAP_RESAMPLES,
                                 block_length(n), paired ? ", paired rounds" : "");
        return report_target(figure, what, value(medians, data), lo, hi, spread, op, limit, unit, note);
}

static double ratio_of_medians(const double *m, gpointer data)
{
        (void) data;
        return m[0] / m[1];
}

BenchVerdict bench_report_ratio_target(const char *figure, const char *what, BenchSamples *service,
                                       BenchSamples *floor, gboolean paired, const char *op, double limit,
                                       const char *note)
{
        BenchSamples *series[] = { service, floor };

        return bench_report_target_fn(figure, what, series, 2, paired, ratio_of_medians, NULL, op, limit, "x",
                                      note);
}

void bench_report_value(const char *figure, const char *what, double value, const char *unit)
{
        g_autoptr(JsonBuilder) b = json_record(figure, "value", what);

        printf("  %-60s %12.1f %s\n", what, value, unit);
        fflush(stdout);
        json_add_double(b, "value", value);
        json_builder_set_member_name(b, "unit");
        json_builder_add_string_value(b, unit);
        json_builder_end_object(b);
        json_emit(b);
}

void bench_report_end(const char *figure)
{
        printf("-- %s: JSON --\n", figure);
        for (guint i = 0; json_lines && i < json_lines->len; i++)
                printf("%s\n", (const char *) json_lines->pdata[i]);
        fflush(stdout);
        if (json_file) {
                fclose(json_file);
                json_file = NULL;
        }
}

/* ---- the simulated host ---- */

typedef struct {
        guint cards;
        guint first[64 + 1];    /* first device of each card, then N */
} HostLayout;

static void host_layout(guint n_devices, HostLayout *l)
{
        l->cards = MAX(2, (n_devices + VFS_PER_PF - 1) / VFS_PER_PF);
        g_assert_cmpuint(l->cards, <=, 64);
        l->first[0] = 0;
        /* the remainder goes to the first cards */
        for (guint c = 0; c < l->cards; c++)
                l->first[c + 1] = l->first[c] + n_devices / l->cards + (c < n_devices % l->cards ? 1 : 0);
        g_assert_cmpuint(l->first[l->cards], ==, n_devices);
}

/* Card C: root port pci0000:RR/0000:RR:00.0, PF 0000:(RR+1):00.0, VFs from
 * function .2 on, as in tests/data/host.umockdev. */
static guint card_root_bus(guint c)
{
        return 0x10 + 2 * c;
}

static char *vf_address(guint c, guint k)
{
        guint fn = k + 2;

        return g_strdup_printf("0000:%02x:%02x.%x", card_root_bus(c) + 1, fn / 8, fn % 8);
}

static char *vf_devpath(guint c, guint k)
{
        g_autofree char *addr = vf_address(c, k);

        return g_strdup_printf("/devices/pci0000:%02x/0000:%02x:00.0/%s",
                               card_root_bus(c), card_root_bus(c), addr);
}

char *bench_host_device_syspath(guint n_devices, guint i)
{
        HostLayout l;

        host_layout(n_devices, &l);
        for (guint c = 0; c < l.cards; c++)
                if (i < l.first[c + 1]) {
                        g_autofree char *vf = vf_devpath(c, i - l.first[c]);

                        return g_strdup_printf("/sys%s/vdpa%u", vf, i);
                }
        g_assert_not_reached();
}

static void add_pci_record(GString *s, const char *devpath, const char *addr, guint16 device,
                           const char *driver, int numa_node, const char *extra)
{
        guint depth = 0;

        for (const char *p = devpath; (p = strchr(p, '/')); p++)
                depth++;
        g_string_append_printf(s, "P: %s\n"
                               "E: DRIVER=%s\n"
                               "E: MODALIAS=pci:v000015B3d0000%04Xsv000015B3sd00000016bc02sc00i00\n"
                               "E: PCI_CLASS=20000\n"
                               "E: PCI_ID=15B3:%04X\n"
                               "E: PCI_SLOT_NAME=%s\n"
                               "E: PCI_SUBSYS_ID=15B3:0016\n"
                               "E: SUBSYSTEM=pci\n"
                               "A: class=0x020000\\n\n"
                               "A: device=0x%04x\\n\n"
                               "A: local_cpulist=%s\\n\n"
                               "A: numa_node=%d\\n\n"
                               "A: subsystem_device=0x0016\\n\n"
                               "A: subsystem_vendor=0x15b3\\n\n"
                               "A: vendor=0x15b3\\n\n"
                               "L: driver=",
                               devpath, driver, device, device, addr, device,
                               numa_node == 0 ? "0-15" : "16-31", numa_node);
        for (guint i = 0; i < depth; i++)
                g_string_append(s, "../");
        g_string_append_printf(s, "bus/pci/drivers/%s\n%s\n", driver, extra ? extra : "");
}

static void add_records(UMockdevTestbed *tb, GString *s)
{
        g_autoptr(GError) error = NULL;

        if (!umockdev_testbed_add_from_string(tb, s->str, &error))
                g_error("umockdev rejected the generated host: %s\n%s", error->message, s->str);
        g_string_truncate(s, 0);
}

/* One card: the vDPA devices and their chardevs, the VFs, the PF and the
 * root port, children before parents as umockdev-record writes them.
 * Added a device at a time: umockdev copies the rest of the string for
 * every line it parses, so one big string costs quadratic time. */
static void add_card(UMockdevTestbed *tb, guint c, guint first, guint n_vfs)
{
        g_autoptr(GString) s = g_string_new(NULL);
        int node = (int) (c % 2);
        guint bus = card_root_bus(c) + 1;
        g_autofree char *root = g_strdup_printf("/devices/pci0000:%02x/0000:%02x:00.0",
                                                card_root_bus(c), card_root_bus(c));
        g_autofree char *root_addr = g_strdup_printf("0000:%02x:00.0", card_root_bus(c));
        g_autofree char *pf_addr = g_strdup_printf("0000:%02x:00.0", bus);
        g_autofree char *pf = g_strdup_printf("%s/%s", root, pf_addr);
        g_autoptr(GString) virtfns = g_string_new(NULL);

        for (guint k = 0; k < n_vfs; k++) {
                guint i = first + k;
                g_autofree char *vf = vf_devpath(c, k);
                g_autofree char *addr = vf_address(c, k);
                g_autofree char *physfn = g_strdup_printf("L: physfn=../%s\n", pf_addr);

                /* A node with contents is a plain file: umockdev would
                 * otherwise back each chardev with a pty, and a host of
                 * 4096 devices would exhaust kernel.pty.max. */
                g_string_append_printf(s, "P: %s/vdpa%u/vhost-vdpa-%u\n"
                                       "N: vhost-vdpa-%u=00\n"
                                       "E: DEVNAME=/dev/vhost-vdpa-%u\n"
                                       "E: MAJOR=509\nE: MINOR=%u\n"
                                       "E: SUBSYSTEM=vhost-vdpa\n"
                                       "A: dev=509:%u\\n\n\n",
                                       vf, i, i, i, i, i, i);
                g_string_append_printf(s, "P: %s/vdpa%u\n"
                                       "E: DRIVER=vhost_vdpa\n"
                                       "E: MODALIAS=vdpa:d00000001v000015B3\n"
                                       "E: SUBSYSTEM=vdpa\n"
                                       "A: driver_override=(null)\\n\n"
                                       "L: driver=../../../../../bus/vdpa/drivers/vhost_vdpa\n\n",
                                       vf, i);
                add_pci_record(s, vf, addr, 0x101e, "mlx5_core", node, physfn);
                g_string_append_printf(virtfns, "L: virtfn%u=../%s\n", k, addr);
                add_records(tb, s);
        }
        add_pci_record(s, pf, pf_addr, 0x101d, "mlx5_core", node, virtfns->str);
        add_pci_record(s, root, root_addr, 0x0000, "pcieport", node, NULL);
        add_records(tb, s);
}

UMockdevTestbed *bench_host_new(guint n_devices)
{
        g_autoptr(GError) error = NULL;
        UMockdevTestbed *tb = vdpa_test_testbed_new(NULL, &error);
        HostLayout l;

        g_assert_no_error(error);
        if (n_devices == 0)
                return tb;
        host_layout(n_devices, &l);
        for (guint c = 0; c < l.cards; c++)
                add_card(tb, c, l.first[c], l.first[c + 1] - l.first[c]);

        /* umockdev files vdpa devices under /sys/class/vdpa; the kernel
         * lists them in /sys/bus/vdpa/devices (what a sysfs scan and
         * libudev's enumerator read) and has no vdpa class: lay them out
         * as the kernel does. */
        g_autofree char *root = umockdev_testbed_get_root_dir(tb);   /* a new string */

        for (guint i = 0; i < n_devices; i++) {
                g_autofree char *syspath = bench_host_device_syspath(n_devices, i);
                g_autofree char *sub = NULL, *cls = NULL;
                g_autofree char *target = g_strconcat("../../..", syspath + strlen("/sys"), NULL);
                g_autofree char *name = g_path_get_basename(syspath);
                g_autofree char *link = g_build_filename(root, "sys/bus/vdpa/devices", name, NULL);

                if (symlink(target, link) < 0)
                        g_error("symlink %s: %s", link, g_strerror(errno));
                /* and vdpa is a bus, not a class */
                sub = g_build_filename(root, syspath, "subsystem", NULL);
                cls = g_build_filename(root, "sys/class/vdpa", name, NULL);
                if (unlink(sub) < 0 || symlink("../../../../../bus/vdpa", sub) < 0 || unlink(cls) < 0)
                        g_error("moving %s from class to bus: %s", name, g_strerror(errno));
        }
        return tb;
}

/* ---- the bus ---- */

static void reload_bus_config(VdpaTestBus *bus)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;

        r = vdpa_test_call_full(vdpa_test_bus_get_connection(bus), "org.freedesktop.DBus",
                                "/org/freedesktop/DBus", "org.freedesktop.DBus", "ReloadConfig",
                                NULL, NULL, G_DBUS_CALL_FLAGS_NONE, 5000, &error);
        g_assert_no_error(error);
}

VdpaTestBus *bench_bus_new(void)
{
        VdpaTestBus *bus = vdpa_test_bus_new_or_die();
        g_autofree char *src = g_build_filename(g_getenv("VDPA_TEST_SRCDIR"), "bench", "bench-policy.conf", NULL);
        g_autofree char *dst = g_build_filename(vdpa_test_bus_get_tmpdir(bus), "policy", "bench-policy.conf", NULL);
        g_autofree char *text = NULL;
        g_autoptr(GError) error = NULL;
        gsize len;

        g_assert_true(g_file_get_contents(src, &text, &len, &error));
        g_assert_true(g_file_set_contents(dst, text, (gssize) len, &error));
        g_assert_no_error(error);
        reload_bus_config(bus);
        return bus;
}

/* ---- processes ---- */

static void child_setup(gpointer user_data)
{
        pid_t parent = GPOINTER_TO_INT(user_data);

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(127);
}

static const char *require_env(const char *name)
{
        const char *v = g_getenv(name);

        if (!v || !*v)
                g_error("%s is not set: run the benchmarks with `meson benchmark`", name);
        return v;
}

GStrv bench_daemon_argv(VdpaTestBus *bus, const char *libvirt_uri, bool activated)
{
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_autofree char *state = g_strdup_printf("--state-dir=%s", vdpa_test_bus_get_state_dir(bus));
        g_autofree char *config = g_strdup_printf("--config=%s", vdpa_test_bus_get_config_path(bus));
        g_autofree char *uri = g_strdup_printf("--libvirt-uri=%s", libvirt_uri ? libvirt_uri : "test:///default");
        g_autofree char *address = g_strdup_printf("--bus-address=%s", vdpa_test_bus_get_address(bus));

        const char *wrapper = g_getenv("VDPA_BENCH_DAEMON_WRAPPER");

        /* For profiling a figure's daemon: "valgrind --tool=callgrind", "perf record -g" */
        if (!activated && wrapper && *wrapper) {
                g_auto(GStrv) words = NULL;

                g_assert_true(g_shell_parse_argv(wrapper, NULL, &words, NULL));
                g_strv_builder_addv(b, (const char **) words);
        }
        g_strv_builder_add(b, require_env("VDPA_MANAGERD"));
        if (!activated)
                g_strv_builder_add(b, address);
        g_strv_builder_addv(b, (const char *[]) { state, config, uri, NULL });
        return g_strv_builder_end(b);
}

static GPid spawn(VdpaTestBus *bus, const char *const *argv, const char *log_name)
{
        g_autofree char *log = g_build_filename(vdpa_test_bus_get_tmpdir(bus), log_name, NULL);
        g_auto(GStrv) envp = g_get_environ();
        g_autoptr(GError) error = NULL;
        GPid pid = 0;
        int fd;

        /* G_SPAWN_SEARCH_PATH for a wrapper; the binaries are absolute paths */
        envp = g_environ_setenv(envp, "SYSTEMD_DEVICE_VERIFY_SYSFS", "0", TRUE);
        envp = g_environ_setenv(envp, "DBUS_SYSTEM_BUS_ADDRESS", vdpa_test_bus_get_address(bus), TRUE);
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        g_assert_cmpint(fd, >=, 0);
        /* Not g_spawn with a working directory: the child would chdir()
         * through umockdev's preload and may hang on its lock (spawn-util.h). */
        (void) vdpa_test_spawn(argv, (const char *const *) envp, G_SPAWN_SEARCH_PATH, child_setup,
                               GINT_TO_POINTER(getpid()), fd, NULL, NULL, 0, &pid, &error);
        close(fd);
        g_assert_no_error(error);
        return pid;
}

static void wait_for_owner(VdpaTestBus *bus, const char *name, GPid pid)
{
        for (guint i = 0; i < 6000; i++) {
                GPid owner = vdpa_test_bus_get_name_owner_pid(bus, name);
                const char *wrapper = g_getenv("VDPA_BENCH_DAEMON_WRAPPER");
                int status;

                /* under a wrapper, the owner is the wrapper's child */
                if (owner == pid || (owner > 0 && wrapper && *wrapper))
                        return;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        g_autofree char *log = g_build_filename(vdpa_test_bus_get_tmpdir(bus), "bench-daemon.log", NULL);
                        g_autofree char *text = NULL;

                        (void) g_file_get_contents(log, &text, NULL, NULL);
                        g_error("pid %d exited (status %d) before owning %s:\n%s", pid, status, name,
                                text ? text : "");
                }
                g_usleep(10 * 1000);
        }
        g_error("pid %d did not own %s within 60 s", pid, name);
}

GPid bench_daemon_spawn(VdpaTestBus *bus, const char *libvirt_uri)
{
        g_auto(GStrv) argv = bench_daemon_argv(bus, libvirt_uri, false);

        return spawn(bus, (const char *const *) argv, "bench-daemon.log");
}

GPid bench_daemon_start(VdpaTestBus *bus, const char *libvirt_uri)
{
        GPid pid = bench_daemon_spawn(bus, libvirt_uri);

        wait_for_owner(bus, VDPA_BUS_NAME, pid);
        return pid;
}

static int wait_exit(GPid pid, guint timeout_ms)
{
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;
        int status;

        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);

                if (r == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                if (r < 0 && errno != EINTR)
                        return -1;
                if (g_get_monotonic_time() > deadline) {
                        kill(pid, SIGKILL);
                        (void) waitpid(pid, &status, 0);
                        return -1;
                }
                g_usleep(2000);
        }
}

int bench_daemon_stop(VdpaTestBus *bus, GPid pid)
{
        if (pid <= 0)
                return -1;
        kill(pid, SIGTERM);
        return wait_exit(pid, 10000);
}

void bench_daemon_stop_ok(VdpaTestBus *bus, GPid pid)
{
        int r = bench_daemon_stop(bus, pid);
        const char *wrapper = g_getenv("VDPA_BENCH_DAEMON_WRAPPER");

        /* a profiler's exit code is its own business */
        if (wrapper && *wrapper)
                return;
        g_assert_cmpint(r, ==, 0);
}

GPid bench_trivial_start(VdpaTestBus *bus, const char *name)
{
        const char *argv[] = { require_env("VDPA_BENCH_TRIVIAL"), name, vdpa_test_bus_get_address(bus), NULL };
        GPid pid = spawn(bus, argv, "bench-trivial.log");

        wait_for_owner(bus, name, pid);
        return pid;
}

void bench_child_stop(GPid pid)
{
        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        (void) wait_exit(pid, 5000);
}

void bench_write_activation(VdpaTestBus *bus, const char *name, const char *const *argv)
{
        g_autofree char *dir = g_build_filename(vdpa_test_bus_get_tmpdir(bus), "services", NULL);
        g_autofree char *path = NULL, *exec = NULL, *file = NULL;
        g_autoptr(GStrvBuilder) words = g_strv_builder_new();
        g_auto(GStrv) quoted = NULL;
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) error = NULL;

        for (const char *const *a = argv; *a; a++) {
                g_autofree char *q = g_shell_quote(*a);

                g_strv_builder_add(words, q);
        }
        quoted = g_strv_builder_end(words);
        exec = g_strjoinv(" ", quoted);
        g_key_file_set_string(kf, "D-BUS Service", "Name", name);
        /* dbus-daemon parses Exec= with shell quoting, not key-file escapes */
        g_key_file_set_value(kf, "D-BUS Service", "Exec", exec);
        g_key_file_set_string(kf, "D-BUS Service", "User", "root");
        file = g_strdup_printf("%s.service", name);
        path = g_build_filename(dir, file, NULL);
        g_assert_true(g_key_file_save_to_file(kf, path, &error));
        g_assert_no_error(error);
        reload_bus_config(bus);
}

/* ---- the netlink simulator ---- */

VdpaSim *bench_sim_start(UMockdevTestbed *tb)
{
        g_autoptr(GError) error = NULL;
        VdpaSim *sim = vdpa_sim_start(tb, &error);

        g_assert_no_error(error);
        vdpa_sim_reset_counts(sim);
        return sim;
}

#define N_KINDS (sizeof(BenchNlCounts) / sizeof(guint))

static void counts_describe(GString *s, const char *label, const BenchNlCounts *c)
{
        g_string_append_printf(s, "%s DEV_GET %u dumps + %u doits, DEV_CONFIG_GET %u dumps + %u doits, DEV_NEW %u, "
                               "DEV_DEL %u, MGMTDEV_GET %u", label, c->dev_dump, c->dev_get, c->config_dump,
                               c->config_get, c->dev_new, c->dev_del, c->mgmtdev);
}

void bench_sim_check_range(VdpaSim *sim, const char *phase, const BenchNlCounts *min, const BenchNlCounts *max,
                           BenchNlCounts *ret)
{
        static const guint8 others[] = { VDPA_CMD_MGMTDEV_NEW, VDPA_CMD_DEV_VSTATS_GET };
        guint dev_dumps = vdpa_sim_count_dumps(sim, VDPA_CMD_DEV_GET);
        guint cfg_dumps = vdpa_sim_count_dumps(sim, VDPA_CMD_DEV_CONFIG_GET);
        BenchNlCounts have = {
                .dev_dump = dev_dumps,
                .dev_get = vdpa_sim_count(sim, VDPA_CMD_DEV_GET) - dev_dumps,
                .config_dump = cfg_dumps,
                .config_get = vdpa_sim_count(sim, VDPA_CMD_DEV_CONFIG_GET) - cfg_dumps,
                .dev_new = vdpa_sim_count(sim, VDPA_CMD_DEV_NEW),
                .dev_del = vdpa_sim_count(sim, VDPA_CMD_DEV_DEL),
                .mgmtdev = vdpa_sim_count(sim, VDPA_CMD_MGMTDEV_GET),
        };
        const guint *h = (const guint *) &have, *lo = (const guint *) min, *hi = (const guint *) max;
        guint other = 0;
        bool ok = true;

        for (size_t i = 0; i < G_N_ELEMENTS(others); i++)
                other += vdpa_sim_count(sim, others[i]);
        for (size_t i = 0; i < N_KINDS; i++)
                ok = ok && lo[i] <= h[i] && h[i] <= hi[i];
        if (!ok || other) {
                g_autoptr(GString) s = g_string_new(NULL);

                counts_describe(s, "the simulator received", &have);
                g_string_append_printf(s, " and %u other vdpa requests; expected", other);
                if (memcmp(min, max, sizeof *min) == 0)
                        counts_describe(s, "", min);
                else {
                        counts_describe(s, " at least", min);
                        counts_describe(s, "; at most", max);
                }
                g_error("%s: %s, nothing else", phase, s->str);
        }
        if (ret)
                *ret = have;
        vdpa_sim_reset_counts(sim);
}

void bench_sim_check(VdpaSim *sim, const char *phase, const BenchNlCounts *want)
{
        bench_sim_check_range(sim, phase, want, want, NULL);
}

VdpaNetlink *bench_nl_open(void)
{
        static GPtrArray *kept;         /* VdpaNetlink*, reachable to the end */
        VdpaNetlink *nl = NULL;
        int r = vdpa_netlink_open(5 * G_USEC_PER_SEC, &nl);

        if (r < 0)
                g_error("bare netlink client: cannot open the vdpa family: %s (is libvdpa-sim-preload.so in "
                        "LD_PRELOAD?)", g_strerror(-r));
        if (!kept)
                kept = g_ptr_array_new();
        g_ptr_array_add(kept, nl);
        return nl;
}

uint64_t bench_nl_time_lookup(VdpaNetlink *nl, const char *name)
{
        g_autoptr(VdpaNlDevice) dev = NULL;
        g_autoptr(VdpaNlConfig) cfg = NULL;
        uint64_t t0 = bench_now_ns(), dt;
        int r, rc;

        r = vdpa_netlink_dev_get(nl, name, &dev, NULL);
        rc = r < 0 ? r : vdpa_netlink_config_get(nl, name, &cfg, NULL);
        dt = bench_now_ns() - t0;
        if (r < 0)
                g_error("bare DEV_GET %s: %s", name, g_strerror(-r));
        if (rc < 0 && rc != -EAGAIN)
                g_error("bare DEV_CONFIG_GET %s: %s", name, g_strerror(-rc));
        g_assert_cmpstr(dev->name, ==, name);
        return dt;
}

uint64_t bench_nl_time_dumps(VdpaNetlink *nl, guint expect)
{
        g_autoptr(GPtrArray) devs = NULL, cfgs = NULL;
        uint64_t t0 = bench_now_ns(), dt;
        int r, rc;

        r = vdpa_netlink_dev_dump(nl, &devs, NULL);
        rc = r < 0 ? r : vdpa_netlink_config_dump(nl, &cfgs, NULL);
        dt = bench_now_ns() - t0;
        if (r < 0 || rc < 0)
                g_error("bare DEV_GET / DEV_CONFIG_GET dump: %s", g_strerror(-(r < 0 ? r : rc)));
        g_assert_cmpuint(devs->len, ==, expect);
        return dt;
}

/* ---- sd-bus client ---- */

sd_bus *bench_bus_connect(VdpaTestBus *bus)
{
        sd_bus *b = NULL;

        g_assert_cmpint(sd_bus_new(&b), >=, 0);
        g_assert_cmpint(sd_bus_set_address(b, vdpa_test_bus_get_address(bus)), >=, 0);
        g_assert_cmpint(sd_bus_set_bus_client(b, true), >=, 0);
        g_assert_cmpint(sd_bus_start(b), >=, 0);
        return b;
}

void bench_call_ok(sd_bus *bus, const char *dest, const char *path, const char *iface,
                   const char *method, sd_bus_message **ret, const char *types, ...)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, dest, path, iface, method);
        g_assert_cmpint(r, >=, 0);
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                g_assert_cmpint(r, >=, 0);
        }
        r = sd_bus_call(bus, m, 120 * 1000000ULL, &error, &reply);
        if (r < 0)
                g_error("%s.%s on %s failed: %s: %s", iface, method, dest,
                        error.name ? error.name : "", error.message ? error.message : g_strerror(-r));
        sd_bus_message_unref(m);
        sd_bus_error_free(&error);
        if (ret)
                *ret = reply;
        else
                sd_bus_message_unref(reply);
}

uint64_t bench_time_ping(sd_bus *bus, const char *dest)
{
        uint64_t t0 = bench_now_ns();

        bench_call_ok(bus, dest, "/", "org.freedesktop.DBus.Peer", "Ping", NULL, NULL);
        return bench_now_ns() - t0;
}

uint64_t bench_cpu_ns(GPid pid)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid ? pid : getpid());
        g_autofree char *text = NULL;
        unsigned long long utime = 0, stime = 0;
        const char *p;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return 0;
        p = strrchr(text, ')');
        /* after "pid (comm)": state is field 3, utime 14, stime 15 */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return 0;
        return (utime + stime) * (1000000000ULL / (uint64_t) sysconf(_SC_CLK_TCK));
}

static bool read_kib(const char *text, const char *key, guint64 *ret)
{
        const char *p = strstr(text, key);

        if (!p)
                return false;
        p += strlen(key);
        *ret = g_ascii_strtoull(p + strspn(p, " \t"), NULL, 10);
        return true;
}

bool bench_read_memory(GPid pid, guint64 *rss_kib, guint64 *pss_kib, guint64 *anon_kib)
{
        g_autofree char *status_path = g_strdup_printf("/proc/%d/status", pid);
        g_autofree char *rollup_path = g_strdup_printf("/proc/%d/smaps_rollup", pid);
        g_autofree char *status = NULL, *rollup = NULL;

        if (!g_file_get_contents(status_path, &status, NULL, NULL) ||
            !g_file_get_contents(rollup_path, &rollup, NULL, NULL))
                return false;
        return read_kib(status, "\nVmRSS:", rss_kib) && read_kib(rollup, "\nPss:", pss_kib) &&
                read_kib(status, "\nRssAnon:", anon_kib);
}

gsize bench_reply_body_size(VdpaTestBus *bus, const char *dest, const char *method)
{
        GDBusConnection *c = vdpa_test_bus_get_connection(bus);
        g_autoptr(GDBusMessage) call = g_dbus_message_new_method_call(dest, VDPA_OBJECT_PATH,
                                                                      VDPA_INTERFACE, method);
        g_autoptr(GDBusMessage) reply = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree guchar *blob = NULL;
        gsize len = 0;
        guint32 body;

        reply = g_dbus_connection_send_message_with_reply_sync(c, call, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
                                                                120000, NULL, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpint(g_dbus_message_get_message_type(reply), ==, G_DBUS_MESSAGE_TYPE_METHOD_RETURN);
        blob = g_dbus_message_to_blob(reply, &len, G_DBUS_CAPABILITY_FLAGS_NONE, &error);
        g_assert_no_error(error);
        /* bytes 4..7: the body length, in the message's byte order */
        memcpy(&body, blob + 4, sizeof body);
        return blob[0] == 'l' ? GUINT32_FROM_LE(body) : GUINT32_FROM_BE(body);
}

/* ---- a bare libudev monitor ---- */

void bench_monitor_init(BenchMonitor *m)
{
        m->udev = udev_new();
        g_assert_nonnull(m->udev);
        m->monitor = udev_monitor_new_from_netlink(m->udev, "udev");
        g_assert_nonnull(m->monitor);
        g_assert_cmpint(udev_monitor_filter_add_match_subsystem_devtype(m->monitor, "vdpa", NULL), >=, 0);
        g_assert_cmpint(udev_monitor_enable_receiving(m->monitor), >=, 0);
}

void bench_monitor_clear(BenchMonitor *m)
{
        udev_monitor_unref(m->monitor);
        udev_unref(m->udev);
}

uint64_t bench_monitor_wait(BenchMonitor *m, const char *name, const char *action, gint64 timeout_us)
{
        gint64 deadline = g_get_monotonic_time() + timeout_us;
        struct pollfd p = { .fd = udev_monitor_get_fd(m->monitor), .events = POLLIN };

        for (;;) {
                struct udev_device *dev;
                gint64 left = deadline - g_get_monotonic_time();
                bool match;

                if (left <= 0)
                        g_error("no '%s' uevent of %s at the bare libudev monitor within %d s", action, name,
                                (int) (timeout_us / G_USEC_PER_SEC));
                if (poll(&p, 1, (int) ((left + 999) / 1000)) < 0 && errno != EINTR)
                        g_error("poll: %s", g_strerror(errno));
                if (!(p.revents & POLLIN))
                        continue;
                dev = udev_monitor_receive_device(m->monitor);
                if (!dev)
                        continue;
                match = g_strcmp0(udev_device_get_sysname(dev), name) == 0 &&
                        g_strcmp0(udev_device_get_action(dev), action) == 0;
                udev_device_unref(dev);
                if (match)
                        return bench_now_ns();
        }
}
