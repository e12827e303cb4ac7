/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "device.h"

#include <string.h>

#include "vdpa-names.h"

const char *vdpa_parent_kind_to_string(VdpaParentKind k) {
        switch (k) {
        case VDPA_PARENT_KIND_VF: return VDPA_PARENT_VF;
        case VDPA_PARENT_KIND_SF: return VDPA_PARENT_SF;
        case VDPA_PARENT_KIND_PF: return VDPA_PARENT_PF;
        case VDPA_PARENT_KIND_VIRTUAL: return VDPA_PARENT_VIRTUAL;
        }
        g_assert_not_reached();
}

const char *vdpa_device_state_to_string(VdpaDeviceState s) {
        switch (s) {
        case VDPA_DEVICE_AVAILABLE: return VDPA_STATE_AVAILABLE;
        case VDPA_DEVICE_CLAIMED: return VDPA_STATE_CLAIMED;
        case VDPA_DEVICE_IN_USE: return VDPA_STATE_IN_USE;
        case VDPA_DEVICE_UNUSABLE: return VDPA_STATE_UNUSABLE;
        case VDPA_DEVICE_EXCLUDED: return VDPA_STATE_EXCLUDED;
        }
        g_assert_not_reached();
}

void vdpa_hardware_clear(VdpaHardware *hw) {
        g_clear_pointer(&hw->name, g_free);
        g_clear_pointer(&hw->syspath, g_free);
        g_clear_pointer(&hw->driver, g_free);
        g_clear_pointer(&hw->chardev, g_free);
        g_clear_pointer(&hw->parent_device, g_free);
        g_clear_pointer(&hw->physical_function, g_free);
        g_clear_pointer(&hw->address, g_free);
        g_clear_pointer(&hw->representor, g_free);
        g_clear_pointer(&hw->pf_netdev, g_free);
        memset(hw, 0, sizeof *hw);
        hw->numa_node = -1;
}

void vdpa_hardware_copy(VdpaHardware *dst, const VdpaHardware *src) {
        *dst = *src;
        dst->name = g_strdup(src->name);
        dst->syspath = g_strdup(src->syspath);
        dst->driver = g_strdup(src->driver);
        dst->chardev = g_strdup(src->chardev);
        dst->parent_device = g_strdup(src->parent_device);
        dst->physical_function = g_strdup(src->physical_function);
        dst->address = g_strdup(src->address);
        dst->representor = g_strdup(src->representor);
        dst->pf_netdev = g_strdup(src->pf_netdev);
}

bool vdpa_hardware_equal(const VdpaHardware *a, const VdpaHardware *b) {
        return g_strcmp0(a->name, b->name) == 0 &&
                g_strcmp0(a->syspath, b->syspath) == 0 &&
                g_strcmp0(a->driver, b->driver) == 0 &&
                g_strcmp0(a->chardev, b->chardev) == 0 &&
                a->parent_kind == b->parent_kind &&
                g_strcmp0(a->parent_device, b->parent_device) == 0 &&
                g_strcmp0(a->physical_function, b->physical_function) == 0 &&
                g_strcmp0(a->address, b->address) == 0 &&
                a->vendor_id == b->vendor_id &&
                a->product_id == b->product_id &&
                a->numa_node == b->numa_node &&
                g_strcmp0(a->representor, b->representor) == 0 &&
                g_strcmp0(a->pf_netdev, b->pf_netdev) == 0;
}

void vdpa_kernel_info_clear(VdpaKernelInfo *k) {
        g_clear_pointer(&k->type, g_free);
        g_clear_pointer(&k->mgmtdev, g_free);
        g_clear_pointer(&k->mac, g_free);
        memset(k, 0, sizeof *k);
}

void vdpa_kernel_info_copy(VdpaKernelInfo *dst, const VdpaKernelInfo *src) {
        *dst = *src;
        dst->type = g_strdup(src->type);
        dst->mgmtdev = g_strdup(src->mgmtdev);
        dst->mac = g_strdup(src->mac);
}

bool vdpa_kernel_info_equal(const VdpaKernelInfo *a, const VdpaKernelInfo *b) {
        return g_strcmp0(a->type, b->type) == 0 &&
                g_strcmp0(a->mgmtdev, b->mgmtdev) == 0 &&
                a->max_queues == b->max_queues &&
                a->max_queue_size == b->max_queue_size &&
                g_strcmp0(a->mac, b->mac) == 0 &&
                a->mtu == b->mtu &&
                a->max_queue_pairs == b->max_queue_pairs;
}

bool vdpa_kernel_type_is_usable(const char *type) {
        return !type || !type[0] || strcmp(type, VDPA_TYPE_NET) == 0;
}

void vdpa_usage_clear(VdpaUsage *u) {
        g_clear_pointer(&u->domain, g_free);
        g_clear_pointer(&u->domain_uuid, g_free);
        g_clear_pointer(&u->mac, g_free);
        memset(u, 0, sizeof *u);
}

void vdpa_usage_copy(VdpaUsage *dst, const VdpaUsage *src) {
        *dst = *src;
        dst->domain = g_strdup(src->domain);
        dst->domain_uuid = g_strdup(src->domain_uuid);
        dst->mac = g_strdup(src->mac);
}

bool vdpa_usage_equal(const VdpaUsage *a, const VdpaUsage *b) {
        return g_strcmp0(a->domain, b->domain) == 0 &&
                g_strcmp0(a->domain_uuid, b->domain_uuid) == 0 &&
                g_strcmp0(a->mac, b->mac) == 0 &&
                a->claimed_by == b->claimed_by &&
                a->claimed == b->claimed;
}

void vdpa_device_free(VdpaDevice *d) {
        if (!d)
                return;
        vdpa_hardware_clear(&d->hw);
        vdpa_kernel_info_clear(&d->kernel);
        vdpa_usage_clear(&d->usage);
        g_free(d);
}

VdpaDevice *vdpa_device_dup(const VdpaDevice *d) {
        VdpaDevice *n = g_new0(VdpaDevice, 1);

        vdpa_hardware_copy(&n->hw, &d->hw);
        vdpa_kernel_info_copy(&n->kernel, &d->kernel);
        vdpa_usage_copy(&n->usage, &d->usage);
        n->allowed = d->allowed;
        n->provisioned = d->provisioned;
        n->state = d->state;
        return n;
}

bool vdpa_device_equal(const VdpaDevice *a, const VdpaDevice *b) {
        return vdpa_hardware_equal(&a->hw, &b->hw) &&
                vdpa_kernel_info_equal(&a->kernel, &b->kernel) &&
                vdpa_usage_equal(&a->usage, &b->usage) &&
                a->allowed == b->allowed &&
                a->provisioned == b->provisioned &&
                a->state == b->state;
}

VdpaDeviceState vdpa_device_derive_state(const VdpaDevice *d) {
        if (d->usage.claimed)
                return VDPA_DEVICE_CLAIMED;
        if (d->usage.domain && d->usage.domain[0])
                return VDPA_DEVICE_IN_USE;
        if (!d->allowed)
                return VDPA_DEVICE_EXCLUDED;
        if (!d->hw.chardev || !d->hw.chardev[0])
                return VDPA_DEVICE_UNUSABLE;
        if (!vdpa_kernel_type_is_usable(d->kernel.type))
                return VDPA_DEVICE_UNUSABLE;
        return VDPA_DEVICE_AVAILABLE;
}
