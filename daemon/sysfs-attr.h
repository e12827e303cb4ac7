/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Pure parsers for what the inventory reads from sysfs; kept apart so that
 * they can be fuzzed (tests/fuzz/fuzz-sysfs.c). */

#define VHOST_VDPA_PREFIX "vhost-vdpa-"

/* "0x15b3\n" -> 0x15b3; garbage, overflow or NULL -> 0. */
uint16_t vdpa_sysfs_parse_hex16(const char *s);

/* "1\n" -> 1; "-1", garbage or NULL -> -1. */
int32_t vdpa_sysfs_parse_numa_node(const char *s);

/* Is NAME a vhost-vdpa char device entry ("vhost-vdpa-<digits>")? */
bool vdpa_sysfs_is_chardev_entry(const char *name);
