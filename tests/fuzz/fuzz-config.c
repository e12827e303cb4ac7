/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the configuration file parser.
 *
 * Properties checked (abort on violation): the parser never crashes or
 * leaks; every refusal carries a message naming the file; every accepted
 * configuration has a URI, valid rules and a known migration policy, and
 * can be asked about any device.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "config.h"
#include "macro.h"

#define FUZZ_PATH "fuzz.conf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define check(expr)                                                             \
        do {                                                                    \
                if (!(expr)) {                                                  \
                        fprintf(stderr, "%s:%d: check failed: %s\n",            \
                                __FILE__, __LINE__, #expr);                     \
                        abort();                                                \
                }                                                               \
        } while (0)

/* One device of each parent kind, the way inventory fills them. */
static const VdpaHardware devices[] = {
        {
                .name = (char *) "vdpa0",
                .syspath = (char *) "/sys/devices/pci0000:00/0000:00:02.0/0000:04:00.2/vdpa0",
                .driver = (char *) "vhost_vdpa",
                .chardev = (char *) "/dev/vhost-vdpa-0",
                .parent_kind = VDPA_PARENT_KIND_VF,
                .parent_device = (char *) "0000:04:00.2",
                .physical_function = (char *) "0000:04:00.0",
                .address = (char *) "0000:04:00.2",
                .vendor_id = 0x15b3,
                .product_id = 0x101e,
                .numa_node = 0,
        },
        {
                .name = (char *) "sf1",
                .syspath = (char *) "/sys/devices/pci0000:00/0000:00:02.0/0000:04:00.0/mlx5_core.sf.4/sf1",
                .driver = (char *) "virtio_vdpa",
                .chardev = (char *) "",
                .parent_kind = VDPA_PARENT_KIND_SF,
                .parent_device = (char *) "mlx5_core.sf.4",
                .physical_function = (char *) "0000:04:00.0",
                .address = (char *) "0000:04:00.0",
                .vendor_id = 0x15b3,
                .product_id = 0xa2d6,
                .numa_node = 1,
        },
        {
                .name = (char *) "pf-vdpa",
                .syspath = (char *) "/sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0/pf-vdpa",
                .driver = (char *) "",
                .chardev = (char *) "",
                .parent_kind = VDPA_PARENT_KIND_PF,
                .parent_device = (char *) "0000:81:00.0",
                .physical_function = (char *) "",
                .address = (char *) "0000:81:00.0",
                .vendor_id = 0x1af4,
                .product_id = 0x1041,
                .numa_node = -1,
        },
        {
                .name = (char *) "vdpasim0",
                .syspath = (char *) "/sys/devices/vdpasim_net/vdpasim0",
                .driver = (char *) "vhost_vdpa",
                .chardev = (char *) "/dev/vhost-vdpa-1",
                .parent_kind = VDPA_PARENT_KIND_VIRTUAL,
                .parent_device = (char *) "",
                .physical_function = (char *) "",
                .address = (char *) "",
                .vendor_id = 0,
                .product_id = 0,
                .numa_node = -1,
        },
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

static void check_accepted(const VdpaConfig *c) {
        check(streq_ptr(c->path, FUZZ_PATH));
        check(c->libvirt_uri && c->libvirt_uri[0]);
        check(vdpa_migration_policy_to_string(c->live_migration));
        check(c->rules);

        for (guint i = 0; i < c->rules->len; i++) {
                const VdpaAllowRule *r = g_ptr_array_index(c->rules, i);

                check(r->name && r->name[0]);
                /* A rule with no key would allow everything. */
                check(r->vendor || r->product || r->address || r->physical_function || r->device_name);
                for (guint j = 0; j < i; j++)
                        check(!streq_ptr(r->name, ((const VdpaAllowRule *) g_ptr_array_index(c->rules, j))->name));
        }

        for (size_t i = 0; i < ELEMENTSOF(devices); i++) {
                bool allowed = vdpa_config_device_allowed(c, &devices[i]);

                /* Virtual devices are governed by AllowVirtual alone; with
                 * no rule, every PCI-parented device is allowed. */
                if (devices[i].parent_kind == VDPA_PARENT_KIND_VIRTUAL)
                        check(allowed == c->allow_virtual);
                else if (c->rules->len == 0)
                        check(allowed);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VdpaConfig) c = NULL;

        if (size > 256 * 1024)
                return 0;

        c = vdpa_config_load_from_data((const char *) data, size, FUZZ_PATH, &error);
        if (!c) {
                check(error);
                check(error->domain == VDPA_CONFIG_ERROR);
                check(g_str_has_prefix(error->message, FUZZ_PATH ":"));
                return 0;
        }

        check(!error);
        check_accepted(c);
        return 0;
}
