/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "udev-monitor.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"
#include "macro.h"

struct UdevMonitor {
        struct udev_monitor *monitor;
        sd_event_source *source;
        UdevMonitorEventFunc on_event;
        UdevMonitorOverflowFunc on_overflow;
        void *userdata;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(UdevMonitor *, udev_monitor_source_free);

static void check_rcvbuf(int fd, int requested) {
        int granted = 0;
        socklen_t len = sizeof granted;

        if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &len) < 0) {
                log_warning_errno(errno, "Failed to read back the uevent receive buffer size: %m");
                return;
        }
        /* The kernel reports twice what it accounts for payload; anything
         * below the request means a burst can overflow earlier than intended. */
        if (granted < requested)
                log_warning("Kernel granted a uevent receive buffer of %d bytes instead of %d; "
                            "bursts of device events may be lost and trigger re-enumeration",
                            granted, requested);
        else
                log_debug("uevent receive buffer: %d bytes", granted);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        UdevMonitor *m = userdata;
        bool overflow = false;

        /* Drain everything queued: one wake-up may stand for many events. */
        for (;;) {
                struct udev_device *dev;

                errno = 0;
                dev = udev_monitor_receive_device(m->monitor);
                if (dev) {
                        if (m->on_event)
                                m->on_event(m, dev, m->userdata);
                        udev_device_unref(dev);
                        continue;
                }

                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno == ENOBUFS) {
                        /* The kernel dropped events: the error is reported
                         * once and cleared, the queue behind it is intact. */
                        log_debug("uevent receive queue overflowed, events were lost");
                        overflow = true;
                        continue;
                }
                /* Anything else (e.g. a message that failed validation):
                 * give up this round, the loop wakes us again if more is
                 * queued. */
                log_debug_errno(errno, "Failed to receive uevent: %m");
                break;
        }

        /* After the drain, so the owner re-reads sysfs once, at its newest. */
        if (overflow && m->on_overflow)
                m->on_overflow(m, m->userdata);

        return 0;
}

int udev_monitor_source_new(sd_event *event, struct udev *udev, int rcvbuf, const char *const *subsystems,
                            UdevMonitorEventFunc on_event, UdevMonitorOverflowFunc on_overflow,
                            void *userdata, UdevMonitor **ret) {
        static const char *const vdpa_only[] = { "vdpa", NULL };
        _cleanup_(udev_monitor_source_freep) UdevMonitor *m = NULL;
        int fd, r;

        g_return_val_if_fail(event, -EINVAL);
        g_return_val_if_fail(udev, -EINVAL);
        g_return_val_if_fail(rcvbuf >= 0, -EINVAL);
        g_return_val_if_fail(ret, -EINVAL);

        if (rcvbuf == 0)
                rcvbuf = UDEV_MONITOR_RCVBUF_SIZE;

        m = g_new0(UdevMonitor, 1);
        m->on_event = on_event;
        m->on_overflow = on_overflow;
        m->userdata = userdata;

        /* "udev": events after udevd processed them, so that device nodes
         * and the udev database are in place. */
        m->monitor = udev_monitor_new_from_netlink(udev, "udev");
        if (!m->monitor)
                return log_error_errno(errno ?: ENOMEM, "Failed to create udev monitor: %m");

        /* Filtered in the kernel's socket filter: other subsystems never
         * wake us. */
        for (const char *const *sub = subsystems ?: vdpa_only; *sub; sub++) {
                r = udev_monitor_filter_add_match_subsystem_devtype(m->monitor, *sub, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to filter udev monitor on subsystem %s: %m", *sub);
        }

        /* Falls back to what SO_RCVBUF allows without CAP_NET_ADMIN;
         * check_rcvbuf() below tells what we really got. */
        r = udev_monitor_set_receive_buffer_size(m->monitor, rcvbuf);
        if (r < 0)
                log_debug_errno(r, "Failed to set uevent receive buffer to %d bytes: %m", rcvbuf);

        r = udev_monitor_enable_receiving(m->monitor);
        if (r < 0)
                return log_error_errno(r, "Failed to enable udev monitor: %m");

        fd = udev_monitor_get_fd(m->monitor);
        if (fd < 0)
                return log_error_errno(fd, "Failed to get udev monitor socket: %m");

        check_rcvbuf(fd, rcvbuf);

        r = sd_event_add_io(event, &m->source, fd, EPOLLIN, on_io, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch udev monitor: %m");
        (void) sd_event_source_set_description(m->source, "udev-monitor");

        *ret = TAKE_PTR(m);
        return 0;
}

void udev_monitor_source_free(UdevMonitor *m) {
        if (!m)
                return;
        m->source = sd_event_source_disable_unref(m->source);
        udev_monitor_unref(m->monitor);
        g_free(m);
}
