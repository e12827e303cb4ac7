/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <glib.h>

#include "device.h"

typedef enum {
        VDPA_MIGRATION_POLICY_BLOCK,
        VDPA_MIGRATION_POLICY_ALLOW,
        VDPA_MIGRATION_POLICY_AUTO,
} VdpaMigrationPolicy;

/* One [Allow NAME] group.  NULL fields match anything.  Vendor and Product
 * globs are stored normalised: lower case, without "0x". */
typedef struct VdpaAllowRule {
        char *name;               /* the NAME of [Allow NAME] */
        char *vendor;
        char *product;
        char *address;
        char *physical_function;
        char *device_name;        /* the Name= key */
} VdpaAllowRule;

/* One [Provision NAME] group (DESIGN.md §8). */
typedef struct VdpaProvisionRule {
        char *name;               /* the NAME of [Provision NAME] */
        char *mgmtdev;            /* ManagementDevice=: glob over handles */
        uint16_t max_queue_pairs; /* 0: not given */
        uint16_t mtu;             /* 0: not given */
        bool mac_auto;            /* Mac=auto */
        char *name_pattern;       /* Name=, "vdpa%n" by default */
        unsigned line;            /* of the group header, for messages */
} VdpaProvisionRule;

/* Does RULE's ManagementDevice glob match HANDLE ("pci/0000:04:00.2")? */
bool vdpa_provision_rule_matches(const VdpaProvisionRule *rule, const char *handle);
/* The device name PATTERN gives for index N ("vdpa-%n" -> "vdpa-3"). */
char *vdpa_provision_rule_format_name(const VdpaProvisionRule *rule, unsigned n);

typedef struct VdpaConfig {
        char *path;               /* file it was read from, NULL for built-in defaults */
        char *libvirt_uri;
        bool allow_virtual;
        GPtrArray *rules;         /* VdpaAllowRule*, file order */
        GPtrArray *provision;     /* VdpaProvisionRule*, file order */
        VdpaMigrationPolicy live_migration;
} VdpaConfig;

#define VDPA_CONFIG_ERROR (vdpa_config_error_quark())
GQuark vdpa_config_error_quark(void);
typedef enum {
        VDPA_CONFIG_ERROR_PARSE,          /* GKeyFile syntax */
        VDPA_CONFIG_ERROR_UNKNOWN_GROUP,
        VDPA_CONFIG_ERROR_UNKNOWN_KEY,
        VDPA_CONFIG_ERROR_INVALID_VALUE,
        VDPA_CONFIG_ERROR_NOT_FOUND,
} VdpaConfigError;

/* Built-in defaults: qemu:///system, AllowVirtual=false, no rules (every
 * device with a PCI parent allowed), LiveMigration=block. */
VdpaConfig *vdpa_config_new_default(void);

/* Load PATH.  When MUST_EXIST is false a missing file yields the defaults
 * (the packaged default path need not exist).  Every error message names
 * the file, the group and key, and the line where one can be found. */
VdpaConfig *vdpa_config_load(const char *path, bool must_exist, GError **error);

/* Parse from memory; PATH is only used in messages. */
VdpaConfig *vdpa_config_load_from_data(const char *data, gsize len, const char *path, GError **error);

void vdpa_config_free(VdpaConfig *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaConfig, vdpa_config_free)

/* Does the configuration allow this device?  Pure: looks only at HW. */
bool vdpa_config_device_allowed(const VdpaConfig *c, const VdpaHardware *hw);

const char *vdpa_migration_policy_to_string(VdpaMigrationPolicy p);
int vdpa_migration_policy_from_string(const char *s, VdpaMigrationPolicy *ret);
