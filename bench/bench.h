/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vdpa-bench: the service measured against its floors, in the same run.
 *
 * Every figure builds its own umockdev host (bench_host_new()), a private
 * system-type bus (tests/harness.h) and the real vdpa-managerd, started
 * with the flags a production unit would give it (no --verbose), then
 * interleaves service and floor samples.  Results are printed as a table
 * and as one JSON object per line, and written to $VDPA_BENCH_RESULTS.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>
#include <libudev.h>
#include <systemd/sd-bus.h>
#include <umockdev.h>

#include "harness.h"
#include "vdpa-netlink.h"
#include "vdpa-sim.h"

/* ---- time and samples ---- */

uint64_t bench_now_ns(void);

typedef struct BenchSamples {
        GArray *ns;             /* uint64_t, in the order taken: rounds pair up by index */
        GArray *sorted;         /* uint64_t, a sorted copy for percentiles; NULL when stale */
} BenchSamples;

BenchSamples *bench_samples_new(void);
void bench_samples_free(BenchSamples *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchSamples, bench_samples_free)
void bench_samples_add(BenchSamples *s, uint64_t ns);
guint bench_samples_count(BenchSamples *s);
/* Percentile P (0..100) by nearest rank, in microseconds. */
double bench_samples_pct_us(BenchSamples *s, double p);
double bench_samples_median_us(BenchSamples *s);
double bench_samples_p99_us(BenchSamples *s);
/* Sample I (in the order taken), in microseconds. */
double bench_samples_get_us(BenchSamples *s, guint i);

/* ---- results: a table for people, JSON lines for tracking ---- */

typedef enum {
        BENCH_INFO,     /* no target */
        BENCH_PASS,
        BENCH_MISS,
        BENCH_NOISE,    /* the limit lies inside the value's own interval */
} BenchVerdict;

/* Opens $VDPA_BENCH_RESULTS/FIGURE.jsonl (truncated) and prints the
 * figure's heading. */
void bench_report_begin(const char *figure, const char *title);
/* One measured series: service vs floor, both in microseconds (or KiB
 * when UNIT is "KiB").  FLOOR may be NULL.  Prints a table row and
 * records a JSON line. */
void bench_report_pair(const char *figure, const char *what, guint n_devices,
                       BenchSamples *service, const char *floor_name, BenchSamples *floor,
                       guint iterations);
/* A derived figure with its target: VALUE compared with LIMIT ("<=" or
 * ">="), e.g. a ratio of medians. */
BenchVerdict bench_report_target(const char *figure, const char *what, double value,
                                 const char *op, double limit, const char *unit,
                                 const char *note);
/* A target computed from the medians of N_SERIES series: VALUE(medians,
 * DATA) compared with LIMIT (OP "<=" or ">="), with its spread: a 95 %
 * moving-block bootstrap interval (blocks of consecutive samples, so that
 * the drift of a run widens it; PAIRED: the series were taken in the same
 * rounds and are resampled by the same indices, which cancels what a round
 * shares).  Verdict PASS when the whole interval meets the limit, MISS when
 * none of it does, NOISE when the limit lies inside it. */
typedef double (*BenchStatFn)(const double *medians, gpointer data);
BenchVerdict bench_report_target_fn(const char *figure, const char *what, BenchSamples *const *series,
                                    guint n_series, gboolean paired, BenchStatFn value, gpointer data,
                                    const char *op, double limit, const char *unit, const char *note);
/* The ratio of the medians of SERVICE and FLOOR, as above (unit "x"). */
BenchVerdict bench_report_ratio_target(const char *figure, const char *what, BenchSamples *service,
                                       BenchSamples *floor, gboolean paired, const char *op, double limit,
                                       const char *note);
/* A target whose value has no sampling noise (a count, a size measured
 * once): VALUE with the interval [LO, HI] it was seen in (LO = HI = VALUE
 * when measured once), verdict as above. */
BenchVerdict bench_report_target_range(const char *figure, const char *what, double value, double lo,
                                       double hi, const char *op, double limit, const char *unit,
                                       const char *note);
/* Any other number worth keeping (sizes, iteration counts, KiB). */
void bench_report_value(const char *figure, const char *what, double value, const char *unit);
/* Prints the JSON lines of the figure after its table, closes the file. */
void bench_report_end(const char *figure);

/* ---- the simulated host ---- */

/* A umockdev testbed with /sys/bus/vdpa and N vDPA devices (names
 * vdpa0..vdpaN-1, /dev/vhost-vdpa-0..N-1) on VFs of ConnectX-6 Dx-like
 * PFs of at most 127 VFs each, cards alternating between NUMA nodes 0
 * and 1 (at least two cards when N > 0).  Must be called before the bus
 * is created. */
UMockdevTestbed *bench_host_new(guint n_devices);
/* /sys path of device vdpaI in such a host. */
char *bench_host_device_syspath(guint n_devices, guint i);

/* ---- the bus ---- */

/* vdpa_test_bus_new_or_die() plus bench/bench-policy.conf, which lets
 * root own org.vdpa.Bench.* (the floor services) and anyone call them. */
VdpaTestBus *bench_bus_new(void);

/* ---- processes ---- */

/* Starts vdpa-managerd on BUS as a production unit would (no --verbose),
 * with the harness's state dir and empty config, and LIBVIRT_URI
 * (NULL: test:///default), and waits for org.vdpa.Manager.  Its output
 * goes to TMP/bench-daemon.log. */
GPid bench_daemon_start(VdpaTestBus *bus, const char *libvirt_uri);
/* The same without waiting: the caller watches the name itself. */
GPid bench_daemon_spawn(VdpaTestBus *bus, const char *libvirt_uri);
/* SIGTERM, reap; returns the exit code (0 on a clean exit). */
int bench_daemon_stop(VdpaTestBus *bus, GPid pid);
/* The same, asserting a clean exit (unless VDPA_BENCH_DAEMON_WRAPPER is set). */
void bench_daemon_stop_ok(VdpaTestBus *bus, GPid pid);

/* The trivial sd-bus service (bench/trivial-service) owning NAME on BUS. */
GPid bench_trivial_start(VdpaTestBus *bus, const char *name);
void bench_child_stop(GPid pid);

/* Writes an activation file TMP/services/NAME.service running ARGV. */
void bench_write_activation(VdpaTestBus *bus, const char *name, const char *const *argv);
/* The daemon's command line as bench_daemon_start() builds it (without
 * --bus-address when ACTIVATED: the bus tells it). */
GStrv bench_daemon_argv(VdpaTestBus *bus, const char *libvirt_uri, bool activated);

/* ---- sd-bus client ---- */

sd_bus *bench_bus_connect(VdpaTestBus *bus);
/* One call, asserting success; the reply is returned (unref it) or dropped
 * when RET is NULL. */
void bench_call_ok(sd_bus *bus, const char *dest, const char *path, const char *iface,
                   const char *method, sd_bus_message **ret, const char *types, ...);
uint64_t bench_time_ping(sd_bus *bus, const char *dest);

/* User + system CPU time of process PID (0: this one), all threads; the
 * kernel counts it in clock ticks (10 ms here), so measure long stretches. */
uint64_t bench_cpu_ns(GPid pid);

/* Peak-free process memory: VmRSS and Pss (KiB) of PID. */
bool bench_read_memory(GPid pid, guint64 *rss_kib, guint64 *pss_kib, guint64 *anon_kib);

/* The D-Bus serialized size of the body of a reply to METHOD (no args),
 * as sent on the wire (from the body-length header field). */
gsize bench_reply_body_size(VdpaTestBus *bus, const char *dest, const char *method);

/* How many samples: VDPA_BENCH_SCALE (default 1.0) times BASE, at least MIN. */
guint bench_iterations(guint base, guint min);

/* ---- the kernel's vdpa netlink family: the simulator (tests/vdpa-sim.h) ---- */

/* vdpa_sim_start() on the built host TB, asserting success; the daemons
 * started afterwards and this process's bare client (bench_nl_open())
 * reach it through libvdpa-sim-preload.so (bench/meson.build preloads it
 * everywhere; without a simulator it passes to the kernel, which has no
 * vdpa family here: the "netlink absent" variant).  vdpa_sim_stop() before
 * the testbed is freed. */
VdpaSim *bench_sim_start(UMockdevTestbed *tb);

/* vdpa requests the simulator received since the last check, by kind. */
typedef struct BenchNlCounts {
        guint dev_dump, dev_get;            /* VDPA_CMD_DEV_GET dumps, doits */
        guint config_dump, config_get;      /* VDPA_CMD_DEV_CONFIG_GET */
        guint dev_new, dev_del, mgmtdev;    /* DEV_NEW, DEV_DEL, MGMTDEV_GET (any) */
} BenchNlCounts;

/* Asserts that the simulator received exactly WANT since the last check
 * (or reset) -- every vdpa command, nothing else -- naming PHASE and every
 * count when not; then resets the counters. */
void bench_sim_check(VdpaSim *sim, const char *phase, const BenchNlCounts *want);
/* The same with bounds: MIN <= count <= MAX for every kind.  HAVE (may be
 * NULL) receives the counts. */
void bench_sim_check_range(VdpaSim *sim, const char *phase, const BenchNlCounts *min, const BenchNlCounts *max,
                           BenchNlCounts *have);

/* A bare client of the family (daemon/vdpa-netlink.c, the daemon's own),
 * in this process: the netlink part of the floors.  Owned by bench-util.c
 * and never closed: closing it would leave libvdpa-sim-preload.so taking
 * the fd number for a netlink socket (umockdev's close() wrapper reaches
 * libc without passing the preload's), and the next file to get the
 * number would be written with send(). */
VdpaNetlink *bench_nl_open(void);
/* One DEV_GET doit and one DEV_CONFIG_GET doit of NAME, as the daemon asks
 * them for a new device (CONFIG_GET may answer EAGAIN: not negotiated). */
uint64_t bench_nl_time_lookup(VdpaNetlink *nl, const char *name);
/* One DEV_GET dump and one DEV_CONFIG_GET dump, as at the daemon's
 * start-up; asserts EXPECT devices in the first. */
uint64_t bench_nl_time_dumps(VdpaNetlink *nl, guint expect);

/* ---- the peer a user would otherwise pick: a sysfs scan ---- */

typedef struct BenchScanDevice {
        char *name;
        char *driver;
        char *chardev;
        guint16 vendor, device;
        int numa_node;
} BenchScanDevice;

/* Scans ROOT/sys/bus/vdpa/devices the way govdpa does (ROOT "" for the
 * real or umockdev'd /sys); returns the number of devices with a
 * chardev.  DEVICES (may be NULL) receives BenchScanDevice*. */
guint bench_sysfs_scan(const char *root, GPtrArray *devices);
void bench_scan_device_free(BenchScanDevice *d);
/* The same for the one device NAME (NULL when it cannot be read). */
BenchScanDevice *bench_sysfs_read_device(const char *root, const char *name);

/* ---- figures ---- */

int bench_figure_calls(int argc, char **argv);
int bench_figure_hotplug(int argc, char **argv);
int bench_figure_claim(int argc, char **argv);
int bench_figure_activation(int argc, char **argv);
int bench_figure_rss(int argc, char **argv);
int bench_figure_create(int argc, char **argv);
int bench_figure_provision(int argc, char **argv);
int bench_figure_summary(int argc, char **argv);

/* A bare libudev monitor of subsystem vdpa, read synchronously: what the
 * simplest consumer of a uevent pays (figures 7 and 8's floors). */
typedef struct BenchMonitor {
        struct udev *udev;
        struct udev_monitor *monitor;
} BenchMonitor;

void bench_monitor_init(BenchMonitor *m);
void bench_monitor_clear(BenchMonitor *m);
/* Reads uevents until ACTION of device NAME (earlier ones, e.g. the
 * service's, are dropped); returns bench_now_ns() when it was read.  Fails
 * the figure after TIMEOUT_US. */
uint64_t bench_monitor_wait(BenchMonitor *m, const char *name, const char *action, gint64 timeout_us);
