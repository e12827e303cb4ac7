/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

/* The strict a{sv} option parser shared by BuildInterfaceXml, Claim,
 * Release, CreateDevice and DeleteDevice (DESIGN.md §2, §7).  Pure: no bus, no I/O.  The bus layer reads each
 * (key, variant) pair into a VdpaOptionValue and hands it here. */

typedef enum {
        VDPA_OPTION_SET_XML     = 1 << 0,  /* BuildInterfaceXml */
        VDPA_OPTION_SET_CLAIM   = 1 << 1,  /* Claim: the XML options and more */
        VDPA_OPTION_SET_RELEASE = 1 << 2,  /* Release */
        VDPA_OPTION_SET_CREATE  = 1 << 3,  /* CreateDevice: mac, mtu, max_queue_pairs */
        VDPA_OPTION_SET_DELETE  = 1 << 4,  /* DeleteDevice: none yet */
} VdpaOptionSet;

typedef enum {
        VDPA_NUMA_POLICY_PREFERRED = 0,    /* default */
        VDPA_NUMA_POLICY_REQUIRED,
        VDPA_NUMA_POLICY_NONE,
} VdpaNumaPolicy;

typedef struct VdpaPciAddress {
        uint16_t domain;
        uint8_t bus;
        uint8_t slot;
        uint8_t function;
} VdpaPciAddress;

/* What goes into <interface type='vdpa'>. */
typedef struct VdpaIfaceOptions {
        char *mac;                 /* normalised "52:54:00:aa:bb:cc", NULL if unset */
        uint32_t queues;           /* 0 if unset */
        int page_per_vq;           /* -1 unset, 0 off, 1 on */
        char *alias;               /* "ua-...", NULL if unset */
        uint32_t boot_order;       /* 0 if unset */
        bool has_guest_address;
        VdpaPciAddress guest_address;
} VdpaIfaceOptions;

typedef struct VdpaOptions {
        VdpaIfaceOptions iface;
        int live;                  /* -1 unset (default decided from the domain) */
        int config;                /* -1 unset */
        bool has_numa_node;
        int32_t numa_node;
        char *physical_function;   /* NULL if unset */
        VdpaNumaPolicy numa_policy;
        bool force;
        uint16_t mtu;              /* CreateDevice: 0 if unset */
        uint16_t max_queue_pairs;  /* CreateDevice: 0 if unset */
        guint seen;                /* bitmask of keys already given: duplicates are rejected */
} VdpaOptions;

/* One (key, value) pair as read from the bus.  SIGNATURE is the variant's
 * full D-Bus signature ("s", "u", "as", "v", ...); only for the basic types
 * s, u, q, i and b is the matching member meaningful. */
typedef struct VdpaOptionValue {
        const char *signature;
        union {
                const char *s;
                uint32_t u;
                uint16_t q;
                int32_t i;
                bool b;
        };
} VdpaOptionValue;

#define VDPA_OPTIONS_INIT { .iface.page_per_vq = -1, .live = -1, .config = -1, .numa_node = -1, .numa_policy = VDPA_NUMA_POLICY_PREFERRED }

void vdpa_options_init(VdpaOptions *o);
void vdpa_options_clear(VdpaOptions *o);

/* Validate and store one pair.  On error returns -EINVAL and sets *ERRMSG
 * to a message naming the key and the rule it broke (caller frees); O is
 * then unspecified and must only be cleared. */
int vdpa_options_set(VdpaOptions *o, VdpaOptionSet set, const char *key,
                     const VdpaOptionValue *value, char **errmsg);

/* The value validators, also used by vdpactl's own parsing through the same
 * rules (kept pure so they can be fuzzed).  Each returns 0 or -EINVAL. */
int vdpa_mac_parse(const char *s, char **ret_normalised);
int vdpa_alias_validate(const char *s);
int vdpa_pci_address_parse(const char *s, VdpaPciAddress *ret);

const char *vdpa_numa_policy_to_string(VdpaNumaPolicy p);
