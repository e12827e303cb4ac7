/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef enum {
        VDPA_PARENT_KIND_VF,
        VDPA_PARENT_KIND_SF,
        VDPA_PARENT_KIND_PF,
        VDPA_PARENT_KIND_VIRTUAL,
} VdpaParentKind;

typedef enum {
        VDPA_DEVICE_AVAILABLE,
        VDPA_DEVICE_CLAIMED,
        VDPA_DEVICE_IN_USE,
        VDPA_DEVICE_UNUSABLE,
        VDPA_DEVICE_EXCLUDED,
} VdpaDeviceState;

/* What sysfs says about one vDPA device.  Filled by inventory.c from
 * libudev; never changed by anything else. */
typedef struct VdpaHardware {
        char *name;               /* vDPA device name, e.g. "vdpa0" */
        char *syspath;            /* /sys/devices/... */
        char *driver;             /* "vhost_vdpa", "virtio_vdpa" or "" */
        char *chardev;            /* "/dev/vhost-vdpa-N" or "" */
        VdpaParentKind parent_kind;
        char *parent_device;      /* "0000:04:00.2", "mlx5_core.sf.4" or "" */
        char *physical_function;  /* "0000:04:00.0" or "" */
        char *address;            /* nearest PCI device (VF; PF for SF), "" for virtual */
        uint16_t vendor_id;       /* of the nearest PCI device */
        uint16_t product_id;
        int32_t numa_node;        /* -1 unknown */
        /* OVS hardware offload (DESIGN.md §9), from class net; "" unknown */
        char *representor;        /* "enp4s0f0npf0vf2" */
        char *pf_netdev;          /* "enp4s0f0np0" */
} VdpaHardware;

/* What the kernel's vdpa netlink family tells about a device (DESIGN.md
 * §7): DEV_GET, DEV_CONFIG_GET, and what this service created it with.
 * Every field empty or 0 when unknown (no netlink family, or not asked
 * yet).  Filled from netlink replies only (kernel-info.c). */
typedef struct VdpaKernelInfo {
        char *type;               /* "net", "blk", "virtio-N", or "" */
        char *mgmtdev;            /* "pci/0000:04:00.2", "vdpasim_net", or "" */
        uint32_t max_queues;
        uint16_t max_queue_size;
        char *mac;                /* "00:11:22:33:44:55" or "" */
        uint16_t mtu;
        uint16_t max_queue_pairs;
} VdpaKernelInfo;

/* Who uses a device: a claim of this service or a domain seen in libvirt. */
typedef struct VdpaUsage {
        char *domain;             /* "" if none */
        char *domain_uuid;        /* "" if none */
        char *mac;                /* "" if none */
        uint32_t claimed_by;      /* uid, 0 if none */
        bool claimed;             /* by this service */
} VdpaUsage;

/* The device as the bus shows it. */
typedef struct VdpaDevice {
        VdpaHardware hw;
        VdpaKernelInfo kernel;
        VdpaUsage usage;
        bool allowed;             /* by configuration */
        bool provisioned;         /* created under a [Provision] rule (§8) */
        VdpaDeviceState state;    /* derived: see vdpa_device_derive_state() */
} VdpaDevice;

const char *vdpa_parent_kind_to_string(VdpaParentKind k);
const char *vdpa_device_state_to_string(VdpaDeviceState s);

void vdpa_hardware_clear(VdpaHardware *hw);
void vdpa_hardware_copy(VdpaHardware *dst, const VdpaHardware *src);
bool vdpa_hardware_equal(const VdpaHardware *a, const VdpaHardware *b);

void vdpa_kernel_info_clear(VdpaKernelInfo *k);
void vdpa_kernel_info_copy(VdpaKernelInfo *dst, const VdpaKernelInfo *src);
bool vdpa_kernel_info_equal(const VdpaKernelInfo *a, const VdpaKernelInfo *b);
/* A Type the service can hand out as a NIC: "net", or "" (not known: the
 * kernel has no netlink family, judged by sysfs alone as before). */
bool vdpa_kernel_type_is_usable(const char *type);

void vdpa_usage_clear(VdpaUsage *u);
void vdpa_usage_copy(VdpaUsage *dst, const VdpaUsage *src);
bool vdpa_usage_equal(const VdpaUsage *a, const VdpaUsage *b);

void vdpa_device_free(VdpaDevice *d);
VdpaDevice *vdpa_device_dup(const VdpaDevice *d);
bool vdpa_device_equal(const VdpaDevice *a, const VdpaDevice *b);

/* State precedence (documented in docs and NEWS): claimed > in-use >
 * excluded > unusable > available.  Unusable: no vhost chardev, or a
 * Type other than net.   A domain that really uses a device is
 * the truth even when configuration would not let us hand it out. */
VdpaDeviceState vdpa_device_derive_state(const VdpaDevice *d);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaDevice, vdpa_device_free)
