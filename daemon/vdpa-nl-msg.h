/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The messages of the kernel's "vdpa" generic-netlink family, built and
 * parsed without any I/O (fuzzed by tests/fuzz/fuzz-vdpa-nl.c).  Parsing
 * follows what the kernel sends (docs/vdpa-netlink.md §2, §3): attributes
 * it does not know are skipped, a known attribute of the wrong size makes
 * the message malformed (-EPROTO), never a crash or a short read. */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

/* What DEV_GET tells about one vDPA device. */
typedef struct VdpaNlDevice {
        char *name;
        char *mgmtdev;          /* handle: "pci/0000:04:00.2", "auxiliary/mlx5_core.sf.4", "vdpasim_net" */
        uint32_t device_id;     /* virtio device id: 1 net, 2 block; 0 when not sent */
        uint32_t vendor_id;
        uint32_t max_vqs;       /* 0 when not sent */
        uint16_t max_vq_size;   /* 0 when not sent */
        uint16_t min_vq_size;
} VdpaNlDevice;

/* What DEV_CONFIG_GET tells. */
typedef struct VdpaNlConfig {
        char *name;
        uint32_t device_id;
        bool has_mac;
        uint8_t mac[6];
        uint16_t mtu;           /* 0 when not sent */
        uint16_t max_vqp;       /* 0 when not sent */
        bool has_status;
        uint16_t status;        /* virtio_net_config.status (VIRTIO_NET_S_LINK_UP 1) */
        bool has_negotiated_features;
        uint64_t negotiated_features;
} VdpaNlConfig;

/* One management device of MGMTDEV_GET. */
typedef struct VdpaNlMgmtdev {
        char *bus_name;         /* "pci", "auxiliary", or "" when it has no bus */
        char *dev_name;         /* "0000:04:00.2", "vdpasim_net" */
        uint64_t supported_classes;   /* bit N: virtio device id N */
        uint32_t max_vqs;
        uint64_t supported_features;
} VdpaNlMgmtdev;

/* DEV_NEW parameters.  Zero/false fields are not sent. */
typedef struct VdpaNlNewParams {
        const char *mgmtdev;    /* handle "bus/dev" or "dev" */
        const char *name;
        bool has_mac;
        uint8_t mac[6];
        uint16_t mtu;
        uint16_t max_vqp;
} VdpaNlNewParams;

void vdpa_nl_device_free(VdpaNlDevice *d);
void vdpa_nl_config_free(VdpaNlConfig *c);
void vdpa_nl_mgmtdev_free(VdpaNlMgmtdev *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaNlDevice, vdpa_nl_device_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaNlConfig, vdpa_nl_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaNlMgmtdev, vdpa_nl_mgmtdev_free)

/* "pci/0000:04:00.2" for a management device with a bus, else its name. */
char *vdpa_nl_mgmtdev_handle(const VdpaNlMgmtdev *m);
