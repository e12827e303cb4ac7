/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernel-info.h"

#include <string.h>

#include "vdpa-names.h"

#define VIRTIO_ID_NET   1
#define VIRTIO_ID_BLOCK 2

char *vdpa_kernel_type_from_id(uint32_t device_id) {
        switch (device_id) {
        case 0:
                return g_strdup(VDPA_TYPE_UNKNOWN);
        case VIRTIO_ID_NET:
                return g_strdup(VDPA_TYPE_NET);
        case VIRTIO_ID_BLOCK:
                return g_strdup(VDPA_TYPE_BLK);
        default:
                return g_strdup_printf("virtio-%u", device_id);
        }
}

char **vdpa_kernel_classes_to_strv(uint64_t classes) {
        GPtrArray *a = g_ptr_array_new();

        /* Bit 0 is no device id (VIRTIO_ID 0 is reserved). */
        for (unsigned bit = 1; bit < 64; bit++)
                if (classes & (UINT64_C(1) << bit))
                        g_ptr_array_add(a, vdpa_kernel_type_from_id(bit));
        g_ptr_array_add(a, NULL);
        return (char **) g_ptr_array_free(a, FALSE);
}

static char *format_mac(const uint8_t mac[6]) {
        static const uint8_t zero[6];

        if (memcmp(mac, zero, sizeof zero) == 0)
                return g_strdup("");
        return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x",
                               mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

void vdpa_kernel_info_from_netlink(VdpaKernelInfo *out, const VdpaNlDevice *dev, const VdpaNlConfig *cfg) {
        *out = (VdpaKernelInfo) {
                .type = vdpa_kernel_type_from_id(dev->device_id),
                .mgmtdev = g_strdup(dev->mgmtdev ? dev->mgmtdev : ""),
                .max_queues = dev->max_vqs,
                .max_queue_size = dev->max_vq_size,
        };
        out->mac = cfg && cfg->has_mac ? format_mac(cfg->mac) : g_strdup("");
        if (cfg) {
                out->mtu = cfg->mtu;
                out->max_queue_pairs = cfg->max_vqp;
        }
}

void vdpa_kernel_info_free(VdpaKernelInfo *k) {
        if (!k)
                return;
        vdpa_kernel_info_clear(k);
        g_free(k);
}

GHashTable *vdpa_kernel_info_table_new(GPtrArray *devices, GPtrArray *configs) {
        g_autoptr(GHashTable) cfg_by_name = g_hash_table_new(g_str_hash, g_str_equal);
        GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                              (GDestroyNotify) vdpa_kernel_info_free);

        for (guint i = 0; configs && i < configs->len; i++) {
                const VdpaNlConfig *c = configs->pdata[i];

                if (c->name)
                        g_hash_table_insert(cfg_by_name, c->name, (gpointer) c);
        }
        for (guint i = 0; devices && i < devices->len; i++) {
                const VdpaNlDevice *d = devices->pdata[i];
                VdpaKernelInfo *k;

                if (!d->name)
                        continue;
                k = g_new0(VdpaKernelInfo, 1);
                vdpa_kernel_info_from_netlink(k, d, g_hash_table_lookup(cfg_by_name, d->name));
                g_hash_table_replace(t, g_strdup(d->name), k);
        }
        return t;
}
