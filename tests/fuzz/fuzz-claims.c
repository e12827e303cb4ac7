/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the claims state file parser.
 *
 * Properties checked (abort on violation): the parser never crashes or
 * leaks; a refusal always carries an error; what it accepts is written
 * back by claims_to_data() to text that parses again to the same claims,
 * field by field, and that is a fixed point of the serialiser (the same
 * state is always the same bytes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "claims.h"
#include "macro.h"

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

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

static void check_claim(const char *device, const Claim *c) {
        check(c);
        check(streq_ptr(c->device, device));
        check(c->device[0]);
        check(c->domain && c->domain[0]);
        check(c->domain_uuid);
        check(c->chardev && c->chardev[0]);
        check(c->mac && c->mac[0]);
        check(c->xml && c->xml[0]);
        check(c->phase == CLAIM_PHASE_INTENT || c->phase == CLAIM_PHASE_ACTIVE);
}

static void check_equal(const Claim *a, const Claim *b) {
        check(streq_ptr(a->device, b->device));
        check(streq_ptr(a->domain, b->domain));
        check(streq_ptr(a->domain_uuid, b->domain_uuid));
        check(streq_ptr(a->chardev, b->chardev));
        check(streq_ptr(a->mac, b->mac));
        check(streq_ptr(a->xml, b->xml));
        check(a->uid == b->uid);
        check(a->live == b->live);
        check(a->config == b->config);
        check(a->phase == b->phase);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GHashTable) first = NULL, second = NULL, third = NULL;
        g_autofree char *text = NULL, *text2 = NULL;
        GHashTableIter it;
        gpointer key, value;
        gsize len = 0, len2 = 0;

        if (size > 256 * 1024)
                return 0;

        first = claims_from_data((const char *) data, size, &error);
        if (!first) {
                check(error);
                check(error->message && error->message[0]);
                return 0;
        }
        check(!error);

        g_hash_table_iter_init(&it, first);
        while (g_hash_table_iter_next(&it, &key, &value))
                check_claim(key, value);

        text = claims_to_data(first, &len);
        check(text);
        check(strlen(text) == len);

        second = claims_from_data(text, len, &error);
        if (!second) {
                fprintf(stderr, "re-parse failed: %s\n--- input ---\n%.*s\n--- written ---\n%s\n",
                        error ? error->message : "(no error)", (int) size, (const char *) data, text);
                abort();
        }
        check(g_hash_table_size(second) == g_hash_table_size(first));

        g_hash_table_iter_init(&it, first);
        while (g_hash_table_iter_next(&it, &key, &value)) {
                const Claim *again = g_hash_table_lookup(second, key);

                check(again);
                check_equal(value, again);
        }

        /* Serialising is deterministic: the re-read state writes the same
         * bytes, and they read back once more. */
        text2 = claims_to_data(second, &len2);
        check(len2 == len && memcmp(text, text2, len) == 0);
        third = claims_from_data(text2, len2, &error);
        check(third && g_hash_table_size(third) == g_hash_table_size(first));
        return 0;
}
