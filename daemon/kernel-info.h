/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* From the netlink replies (vdpa-nl-msg.h) to what the bus shows
 * (VdpaKernelInfo, DESIGN.md §7).  Pure. */

#include "device.h"
#include "vdpa-nl-msg.h"

/* "net" (virtio id 1), "blk" (2), "virtio-N", or "" for 0 (not sent). */
char *vdpa_kernel_type_from_id(uint32_t device_id);

/* Bit N of a management device's supported classes is virtio id N. */
char **vdpa_kernel_classes_to_strv(uint64_t classes);

/* OUT from DEV (DEV_GET) and CFG (DEV_CONFIG_GET; NULL when the kernel
 * could not tell yet).  An all-zero MAC is the driver's "none": "". */
void vdpa_kernel_info_from_netlink(VdpaKernelInfo *out, const VdpaNlDevice *dev, const VdpaNlConfig *cfg);

/* name -> VdpaKernelInfo* from one DEV_GET dump (VdpaNlDevice*) and one
 * DEV_CONFIG_GET dump (VdpaNlConfig*, may be NULL or miss devices). */
GHashTable *vdpa_kernel_info_table_new(GPtrArray *devices, GPtrArray *configs);
void vdpa_kernel_info_free(VdpaKernelInfo *k);
