/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

/* The durable record of claims in $STATE_DIRECTORY/claims (a GKeyFile,
 * one [Claim N] group each, with the device name in Device=), written whole, atomically and durably on
 * every change.  A change is applied in memory only once it is on disk, so
 * memory never claims more than the disk would after a crash. */

typedef enum {
        CLAIM_PHASE_INTENT,    /* recorded before the libvirt attach */
        CLAIM_PHASE_ACTIVE,    /* attached and acknowledged */
} ClaimPhase;

typedef struct Claim {
        char *device;
        char *domain;
        char *domain_uuid;
        char *chardev;
        char *mac;
        char *xml;             /* the interface as attached: what Release detaches */
        uint32_t uid;
        bool live;
        bool config;
        ClaimPhase phase;
} Claim;

typedef struct Claims Claims;

Claim *claim_dup(const Claim *c);
void claim_free(Claim *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Claim, claim_free)

const char *claim_phase_to_string(ClaimPhase p);

Claims *claims_new(const char *state_dir);
void claims_free(Claims *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Claims, claims_free)

const char *claims_get_path(Claims *c);

/* Read the state file.  A missing file is an empty state.  On a file that
 * cannot be parsed it is renamed aside to claims.corrupt-TIMESTAMP (named in
 * ERROR), the state is empty, and -EBADMSG is returned so the caller can log
 * and go on from libvirt's truth. */
int claims_load(Claims *c, GError **error);

/* Serialise CLAIMS to keyfile text / parse it back.  Pure; for tests and
 * fuzzing.  Parse returns NULL and ERROR on any malformed content. */
char *claims_to_data(GHashTable *claims, gsize *len);
GHashTable *claims_from_data(const char *data, gsize len, GError **error);

/* Insert or replace a claim / drop one, writing the file first. */
int claims_put(Claims *c, const Claim *claim, GError **error);
int claims_remove(Claims *c, const char *device, GError **error);

const Claim *claims_get(Claims *c, const char *device);
guint claims_count(Claims *c);
/* device name -> const Claim*; owned by C, valid until the next change. */
GHashTable *claims_table(Claims *c);
