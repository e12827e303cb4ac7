/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libudev.h>
#include <systemd/sd-event.h>

/* A libudev monitor for some subsystems ("vdpa" by default) on the sd-event loop. */

typedef struct UdevMonitor UdevMonitor;

/* One uevent; DEV is valid only during the call. */
typedef void (*UdevMonitorEventFunc)(UdevMonitor *m, struct udev_device *dev, void *userdata);
/* Events were lost (ENOBUFS): the owner must re-enumerate. */
typedef void (*UdevMonitorOverflowFunc)(UdevMonitor *m, void *userdata);

#define UDEV_MONITOR_RCVBUF_SIZE (128 * 1024 * 1024)

/* RCVBUF: requested receive buffer size (0 for UDEV_MONITOR_RCVBUF_SIZE);
 * tests force a small one to provoke ENOBUFS.  Logs the size the kernel
 * actually granted when it is smaller. */
int udev_monitor_source_new(sd_event *event, struct udev *udev, int rcvbuf, const char *const *subsystems,
                            UdevMonitorEventFunc on_event, UdevMonitorOverflowFunc on_overflow,
                            void *userdata, UdevMonitor **ret);
void udev_monitor_source_free(UdevMonitor *m);
