/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sysfs-attr.h"

#include <string.h>
#include <glib.h>

/* sysfs attributes end in "\n"; anything else that does not parse is
 * treated as unknown rather than trusted. */
uint16_t vdpa_sysfs_parse_hex16(const char *s) {
        g_autofree char *t = NULL;
        const char *p;
        guint64 v;

        if (!s)
                return 0;
        t = g_strstrip(g_strdup(s));
        p = t;
        if (g_str_has_prefix(p, "0x") || g_str_has_prefix(p, "0X"))
                p += 2;
        /* strtoull() would skip white space after the "0x" ("0x\v1"). */
        if (!g_ascii_isxdigit(*p) ||
            !g_ascii_string_to_unsigned(p, 16, 0, UINT16_MAX, &v, NULL))
                return 0;
        return (uint16_t) v;
}

int32_t vdpa_sysfs_parse_numa_node(const char *s) {
        g_autofree char *t = NULL;
        gint64 v;

        if (!s)
                return -1;
        t = g_strstrip(g_strdup(s));
        if (!(g_ascii_isdigit(t[0]) || (t[0] == '-' && g_ascii_isdigit(t[1]))) ||
            !g_ascii_string_to_signed(t, 10, -1, INT32_MAX, &v, NULL))
                return -1;
        return (int32_t) v;
}

bool vdpa_sysfs_is_chardev_entry(const char *name) {
        const char *n;

        if (!g_str_has_prefix(name, VHOST_VDPA_PREFIX))
                return false;
        n = name + strlen(VHOST_VDPA_PREFIX);
        if (!*n)
                return false;
        for (; *n; n++)
                if (!g_ascii_isdigit(*n))
                        return false;
        return true;
}
