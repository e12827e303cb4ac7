/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A client of the kernel's generic-netlink family "vdpa" (linux/vdpa.h,
 * drivers/vdpa/vdpa.c; docs/vdpa-netlink.md), with libmnl.  Every call
 * blocks, bounded by the timeout given to vdpa_netlink_open(): run them off
 * the bus thread (netlink-worker.h).  Not thread-safe: one VdpaNetlink per
 * thread.  The messages themselves are built and parsed by vdpa-nl-msg.c,
 * which is pure. */

#include <stdint.h>

#include "vdpa-nl-msg.h"

typedef struct VdpaNetlink VdpaNetlink;

/* Opens a NETLINK_GENERIC socket and resolves family "vdpa" through nlctrl.
 * -ENOENT: the kernel has no such family (older than 5.12, module not
 * loaded, another network namespace); any other negative errno is a
 * failure of the socket.  TIMEOUT_USEC bounds each request's wait for its
 * answer (-ETIMEDOUT). */
int vdpa_netlink_open(uint64_t timeout_usec, VdpaNetlink **ret);
void vdpa_netlink_free(VdpaNetlink *nl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaNetlink, vdpa_netlink_free)

/* Each call returns 0 or a negative errno: the kernel's (-ENODEV, -EEXIST,
 * -EOPNOTSUPP, -ENOSPC, -EPERM, -EINVAL, -ERANGE, -EAGAIN ...) or the
 * transport's (-ETIMEDOUT, -EPROTO for a malformed answer).  When the
 * kernel sent an extack message, *RET_EXTACK (if not NULL) receives it
 * ("vdpa: Fail to find the specified management device"), else NULL. */

/* DEV_GET dump: every vDPA device that has a management device.
 * RET: VdpaNlDevice*, freed by the array. */
int vdpa_netlink_dev_dump(VdpaNetlink *nl, GPtrArray **ret, char **ret_extack);
int vdpa_netlink_dev_get(VdpaNetlink *nl, const char *name, VdpaNlDevice **ret, char **ret_extack);

/* DEV_CONFIG_GET.  -EAGAIN (features not negotiated yet) only means the
 * configuration is unknown for now.  The dump holds what the kernel gave:
 * a device it could not describe is missing from it. RET: VdpaNlConfig*. */
int vdpa_netlink_config_dump(VdpaNetlink *nl, GPtrArray **ret, char **ret_extack);
int vdpa_netlink_config_get(VdpaNetlink *nl, const char *name, VdpaNlConfig **ret, char **ret_extack);

/* MGMTDEV_GET dump.  RET: VdpaNlMgmtdev*. */
int vdpa_netlink_mgmtdev_dump(VdpaNetlink *nl, GPtrArray **ret, char **ret_extack);

/* DEV_NEW and DEV_DEL (the kernel wants CAP_NET_ADMIN: -EPERM). */
int vdpa_netlink_dev_new(VdpaNetlink *nl, const VdpaNlNewParams *p, char **ret_extack);
int vdpa_netlink_dev_del(VdpaNetlink *nl, const char *name, char **ret_extack);
