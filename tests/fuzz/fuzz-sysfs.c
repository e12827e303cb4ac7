/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sysfs attribute parsers of the inventory (daemon/sysfs-attr.c) on
 * arbitrary attribute contents: never crash, and agree with a plain
 * reference reading of the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "sysfs-attr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autofree char *s = g_strndup((const char *) data, size);   /* stops at a NUL, as sysfs reads do */
        uint16_t hex = vdpa_sysfs_parse_hex16(s);
        int32_t node = vdpa_sysfs_parse_numa_node(s);
        bool chardev = vdpa_sysfs_is_chardev_entry(s);
        g_autofree char *t = g_strstrip(g_strdup(s));

        /* A value agrees with libc's reading of the same (stripped) text;
         * strtoul() takes the same optional "0x" and leading white space. */
        if (hex != 0 && strtoul(t, NULL, 16) != hex)
                abort();
        if (node < -1)
                abort();
        if (node >= 0 && strtol(t, NULL, 10) != node)
                abort();
        if (chardev && (!g_str_has_prefix(s, VHOST_VDPA_PREFIX) || strlen(s) == strlen(VHOST_VDPA_PREFIX)))
                abort();
        return 0;
}
