/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Figure 3: a uevent to the DeviceAdded signal received by a bus client,
 * against a bare libudev monitor receiving the same uevent (a thread of
 * this process), at N = 16 and 4096.  Each uevent yields one sample of
 * each, so service and floor are interleaved by construction.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <libudev.h>

#include "bench.h"
#include "vdpa-names.h"

#define FIGURE "hotplug"
#define WAIT_NS (10ULL * 1000000000ULL)

/* ---- the floor: a bare libudev monitor in its own thread ---- */

typedef struct {
        struct udev *udev;
        struct udev_monitor *monitor;
        int stop_fd;
        GThread *thread;
        GMutex lock;
        GCond cond;
        guint64 count;
        uint64_t last_ns;
} Floor;

static gpointer floor_thread(gpointer p)
{
        Floor *f = p;
        struct pollfd fds[2] = {
                { .fd = udev_monitor_get_fd(f->monitor), .events = POLLIN },
                { .fd = f->stop_fd, .events = POLLIN },
        };

        for (;;) {
                struct udev_device *dev;
                uint64_t t;

                if (poll(fds, 2, -1) < 0 && errno != EINTR)
                        g_error("poll: %s", g_strerror(errno));
                if (fds[1].revents)
                        return NULL;
                if (!fds[0].revents)
                        continue;
                dev = udev_monitor_receive_device(f->monitor);
                t = bench_now_ns();
                if (!dev)
                        continue;
                g_mutex_lock(&f->lock);
                f->count++;
                f->last_ns = t;
                g_cond_signal(&f->cond);
                g_mutex_unlock(&f->lock);
                udev_device_unref(dev);
        }
}

static Floor *floor_new(void)
{
        Floor *f = g_new0(Floor, 1);

        f->udev = udev_new();
        g_assert_nonnull(f->udev);
        f->monitor = udev_monitor_new_from_netlink(f->udev, "udev");
        g_assert_nonnull(f->monitor);
        g_assert_cmpint(udev_monitor_filter_add_match_subsystem_devtype(f->monitor, "vdpa", NULL), >=, 0);
        g_assert_cmpint(udev_monitor_enable_receiving(f->monitor), >=, 0);
        f->stop_fd = eventfd(0, EFD_CLOEXEC);
        g_mutex_init(&f->lock);
        g_cond_init(&f->cond);
        f->thread = g_thread_new("floor-monitor", floor_thread, f);
        return f;
}

static void floor_free(Floor *f)
{
        uint64_t one = 1;

        g_assert_cmpint(write(f->stop_fd, &one, sizeof one), ==, sizeof one);
        g_thread_join(f->thread);
        close(f->stop_fd);
        udev_monitor_unref(f->monitor);
        udev_unref(f->udev);
        g_mutex_clear(&f->lock);
        g_cond_clear(&f->cond);
        g_free(f);
}

static guint64 floor_count(Floor *f)
{
        guint64 n;

        g_mutex_lock(&f->lock);
        n = f->count;
        g_mutex_unlock(&f->lock);
        return n;
}

/* The time the event numbered WANT (1-based) arrived. */
static uint64_t floor_wait(Floor *f, guint64 want)
{
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        uint64_t t;

        g_mutex_lock(&f->lock);
        while (f->count < want)
                if (!g_cond_wait_until(&f->cond, &f->lock, deadline))
                        g_error("the bare libudev monitor received no uevent within 10 s");
        g_assert_cmpuint(f->count, ==, want);
        t = f->last_ns;
        g_mutex_unlock(&f->lock);
        return t;
}

/* ---- the service: the signal at a bus client ---- */

typedef struct {
        const char *member;     /* expected */
        const char *name;
        bool got;
        uint64_t t;
} Expect;

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        uint64_t t = bench_now_ns();
        Expect *e = userdata;
        const char *name = NULL;

        if (e->got || !sd_bus_message_is_signal(m, VDPA_INTERFACE, e->member))
                return 0;
        g_assert_cmpint(sd_bus_message_read(m, "s", &name), >=, 0);
        g_assert_cmpstr(name, ==, e->name);
        e->got = true;
        e->t = t;
        return 0;
}

static uint64_t signal_wait(sd_bus *bus, Expect *e)
{
        uint64_t deadline = bench_now_ns() + WAIT_NS;

        while (!e->got) {
                int r = sd_bus_process(bus, NULL);

                g_assert_cmpint(r, >=, 0);
                if (r > 0)
                        continue;
                if (bench_now_ns() > deadline)
                        g_error("no %s(%s) within 10 s", e->member, e->name);
                g_assert_cmpint(sd_bus_wait(bus, 100000), >=, 0);
        }
        return e->t;
}

typedef struct {
        guint n;
        double add_us, floor_us, ping_us;
} HotplugResult;

/* One uevent; returns the service and floor latencies. */
static void one_event(UMockdevTestbed *tb, sd_bus *sd, Floor *f, Expect *e, const char *syspath,
                      const char *action, BenchSamples *service, BenchSamples *floor)
{
        guint64 want = floor_count(f) + 1;
        uint64_t t0, ts, tf;

        e->got = false;
        t0 = bench_now_ns();
        umockdev_testbed_uevent(tb, syspath, action);
        ts = signal_wait(sd, e);
        tf = floor_wait(f, want);
        if (service)
                bench_samples_add(service, ts - t0);
        if (floor)
                bench_samples_add(floor, tf - t0);
}

static void run_n(guint n, HotplugResult *res)
{
        g_autoptr(UMockdevTestbed) tb = bench_host_new(n);
        g_autoptr(VdpaTestBus) bus = bench_bus_new();
        g_autoptr(BenchSamples) add = bench_samples_new(), add_floor = bench_samples_new();
        g_autoptr(BenchSamples) rm = bench_samples_new(), rm_floor = bench_samples_new();
        g_autoptr(BenchSamples) ping = bench_samples_new();
        g_autofree char *syspath = bench_host_device_syspath(n, n - 1);
        g_autofree char *name = g_path_get_basename(syspath);
        Expect added = { .member = "DeviceAdded", .name = name };
        Expect removed = { .member = "DeviceRemoved", .name = name };
        sd_bus_slot *slot_add = NULL, *slot_rm = NULL;
        guint iters = bench_iterations(600, 20);
        GPid daemon;
        Floor *f;
        sd_bus *sd;

        daemon = bench_daemon_start(bus, NULL);
        sd = bench_bus_connect(bus);
        /* synchronous AddMatch: in force when it returns */
        g_assert_cmpint(sd_bus_match_signal(sd, &slot_add, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE,
                                            "DeviceAdded", on_signal, &added), >=, 0);
        g_assert_cmpint(sd_bus_match_signal(sd, &slot_rm, VDPA_BUS_NAME, VDPA_OBJECT_PATH, VDPA_INTERFACE,
                                            "DeviceRemoved", on_signal, &removed), >=, 0);
        f = floor_new();

        /* The device stays in sysfs: on "remove" the daemon reads nothing,
         * on "add" it reads the device afresh, as it would a new one. */
        for (guint i = 0; i < 20; i++) {
                one_event(tb, sd, f, &removed, syspath, "remove", NULL, NULL);
                one_event(tb, sd, f, &added, syspath, "add", NULL, NULL);
        }
        for (guint i = 0; i < iters; i++) {
                one_event(tb, sd, f, &removed, syspath, "remove", rm, rm_floor);
                one_event(tb, sd, f, &added, syspath, "add", add, add_floor);
                bench_samples_add(ping, bench_time_ping(sd, VDPA_BUS_NAME));
        }

        bench_report_pair(FIGURE, "uevent add -> DeviceAdded at client", n, add, "bare libudev monitor", add_floor, iters);
        bench_report_pair(FIGURE, "uevent remove -> DeviceRemoved", n, rm, "bare libudev monitor", rm_floor, iters);
        bench_report_pair(FIGURE, "Peer.Ping (for the target)", n, ping, NULL, NULL, iters);
        res->n = n;
        res->add_us = bench_samples_median_us(add);
        res->floor_us = bench_samples_median_us(add_floor);
        res->ping_us = bench_samples_median_us(ping);
        {
                g_autofree char *what = g_strdup_printf("DeviceAdded <= floor + 1.5 x Ping at N=%u (us)", n);
                g_autofree char *note = g_strdup_printf("floor %.1f + 1.5 x %.1f = %.1f us",
                                                        res->floor_us, res->ping_us,
                                                        res->floor_us + 1.5 * res->ping_us);

                bench_report_target(FIGURE, what, res->add_us, "<=", res->floor_us + 1.5 * res->ping_us,
                                    "us", note);
        }

        floor_free(f);
        sd_bus_slot_unref(slot_add);
        sd_bus_slot_unref(slot_rm);
        sd_bus_flush_close_unref(sd);
        bench_daemon_stop_ok(bus, daemon);
}

/* umockdev carries uevents over AF_UNIX datagram sockets whose queue holds
 * net.unix.max_dgram_qlen (10) messages, and its sender aborts on a full
 * queue: a network namespace of our own gets a kernel-sized one. */
static void make_uevent_queue_kernel_sized(void)
{
        int fd;

        g_assert_cmpint(unshare(CLONE_NEWNET), ==, 0);
        fd = open("/proc/sys/net/unix/max_dgram_qlen", O_WRONLY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, "1024", 4), ==, 4);
        g_assert_cmpint(close(fd), ==, 0);
}

int bench_figure_hotplug(int argc, char **argv)
{
        HotplugResult small = {}, big = {};

        make_uevent_queue_kernel_sized();
        bench_report_begin(FIGURE, "3. uevent -> DeviceAdded at a client vs a bare libudev monitor");
        run_n(argc > 0 ? (guint) g_ascii_strtoull(argv[0], NULL, 10) : 16, &small);
        run_n(argc > 1 ? (guint) g_ascii_strtoull(argv[1], NULL, 10) : 4096, &big);
        {
                g_autofree char *what = g_strdup_printf("DeviceAdded latency N=%u / N=%u (flat)", big.n, small.n);

                bench_report_target(FIGURE, what, big.add_us / small.add_us, "<=", 1.2, "x", NULL);
        }
        bench_report_end(FIGURE);
        return 0;
}
