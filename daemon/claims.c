/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "claims.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <glib/gstdio.h>

#include "macro.h"

#define GROUP_PREFIX "Claim "
#define STATE_FILE   "claims"
/* The longest value we accept from the file: a claim's XML is a few hundred
 * bytes; anything near this is not ours. */
#define MAX_VALUE    (64 * 1024)

struct Claims {
        char *path;
        GHashTable *table;     /* device -> Claim* */
};

const char *claim_phase_to_string(ClaimPhase p) {
        return p == CLAIM_PHASE_ACTIVE ? "active" : "intent";
}

static int claim_phase_from_string(const char *s, ClaimPhase *ret) {
        if (streq_ptr(s, "active"))
                *ret = CLAIM_PHASE_ACTIVE;
        else if (streq_ptr(s, "intent"))
                *ret = CLAIM_PHASE_INTENT;
        else
                return -EINVAL;
        return 0;
}

Claim *claim_dup(const Claim *c) {
        Claim *n = g_new0(Claim, 1);

        *n = *c;
        n->device = g_strdup(c->device);
        n->domain = g_strdup(c->domain);
        n->domain_uuid = g_strdup(c->domain_uuid);
        n->chardev = g_strdup(c->chardev);
        n->mac = g_strdup(c->mac);
        n->xml = g_strdup(c->xml);
        return n;
}

void claim_free(Claim *c) {
        if (!c)
                return;
        g_free(c->device);
        g_free(c->domain);
        g_free(c->domain_uuid);
        g_free(c->chardev);
        g_free(c->mac);
        g_free(c->xml);
        g_free(c);
}

static GHashTable *table_new(void) {
        return g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify) claim_free);
}

static GHashTable *table_copy(GHashTable *t) {
        GHashTable *n = table_new();
        GHashTableIter it;
        gpointer v;

        g_hash_table_iter_init(&it, t);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                Claim *c = claim_dup(v);
                g_hash_table_insert(n, c->device, c);
        }
        return n;
}

static int compare_names(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

char *claims_to_data(GHashTable *claims, gsize *len) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autofree gpointer *keys = NULL;
        guint n;

        /* Sorted, so that the same state is always the same bytes. */
        keys = g_hash_table_get_keys_as_array(claims, &n);
        qsort(keys, n, sizeof *keys, compare_names);

        for (guint i = 0; i < n; i++) {
                const Claim *c = g_hash_table_lookup(claims, keys[i]);
                /* Device names are arbitrary and may hold what a group name
                 * cannot ('[', ']'), so the name is a value, not the group. */
                g_autofree char *group = g_strdup_printf(GROUP_PREFIX "%u", i);

                g_key_file_set_string(kf, group, "Device", c->device);
                g_key_file_set_string(kf, group, "Phase", claim_phase_to_string(c->phase));
                g_key_file_set_string(kf, group, "Domain", strempty(c->domain));
                g_key_file_set_string(kf, group, "DomainUuid", strempty(c->domain_uuid));
                g_key_file_set_string(kf, group, "Chardev", strempty(c->chardev));
                g_key_file_set_string(kf, group, "Mac", strempty(c->mac));
                g_key_file_set_string(kf, group, "Xml", strempty(c->xml));
                g_key_file_set_uint64(kf, group, "Uid", c->uid);
                g_key_file_set_boolean(kf, group, "Live", c->live);
                g_key_file_set_boolean(kf, group, "Config", c->config);
        }
        return g_key_file_to_data(kf, len, NULL);
}

static char *get_string(GKeyFile *kf, const char *group, const char *key, bool may_be_empty, GError **error) {
        g_autofree char *v = g_key_file_get_string(kf, group, key, error);

        if (!v)
                return NULL;
        if ((!may_be_empty && !v[0]) || strlen(v) > MAX_VALUE) {
                g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                            "[%s] %s: empty or overlong value", group, key);
                return NULL;
        }
        return TAKE_PTR(v);
}

static Claim *claim_from_group(GKeyFile *kf, const char *group, GError **error) {
        g_autoptr(Claim) c = g_new0(Claim, 1);
        g_autofree char *phase = NULL;
        guint64 uid;

        if (!(c->device = get_string(kf, group, "Device", false, error)) ||
            !(phase = get_string(kf, group, "Phase", false, error)) ||
            !(c->domain = get_string(kf, group, "Domain", false, error)) ||
            !(c->domain_uuid = get_string(kf, group, "DomainUuid", true, error)) ||
            !(c->chardev = get_string(kf, group, "Chardev", false, error)) ||
            !(c->mac = get_string(kf, group, "Mac", false, error)) ||
            !(c->xml = get_string(kf, group, "Xml", false, error)))
                return NULL;

        if (claim_phase_from_string(phase, &c->phase) < 0) {
                g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                            "[%s] Phase: unknown phase", group);
                return NULL;
        }

        uid = g_key_file_get_uint64(kf, group, "Uid", error);
        if (error && *error)
                return NULL;
        if (uid > UINT32_MAX) {
                g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "[%s] Uid: out of range", group);
                return NULL;
        }
        c->uid = (uint32_t) uid;

        c->live = g_key_file_get_boolean(kf, group, "Live", error);
        if (error && *error)
                return NULL;
        c->config = g_key_file_get_boolean(kf, group, "Config", error);
        if (error && *error)
                return NULL;

        return TAKE_PTR(c);
}

GHashTable *claims_from_data(const char *data, gsize len, GError **error) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GHashTable) t = table_new();
        g_auto(GStrv) groups = NULL;

        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, error))
                return NULL;

        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++) {
                Claim *c;

                if (!g_str_has_prefix(*g, GROUP_PREFIX)) {
                        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                                    "unknown group [%s]", *g);
                        return NULL;
                }
                c = claim_from_group(kf, *g, error);
                if (!c)
                        return NULL;
                if (g_hash_table_contains(t, c->device)) {
                        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                    "device '%s' is claimed twice", c->device);
                        claim_free(c);
                        return NULL;
                }
                g_hash_table_insert(t, c->device, c);
        }
        return TAKE_PTR(t);
}

Claims *claims_new(const char *state_dir) {
        Claims *c = g_new0(Claims, 1);

        c->path = g_build_filename(state_dir, STATE_FILE, NULL);
        c->table = table_new();
        return c;
}

void claims_free(Claims *c) {
        if (!c)
                return;
        g_hash_table_unref(c->table);
        g_free(c->path);
        g_free(c);
}

const char *claims_get_path(Claims *c) {
        return c->path;
}

static void move_aside(Claims *c, GError **error) {
        g_autofree char *aside = g_strdup_printf("%s.corrupt-%" G_GINT64_FORMAT, c->path, g_get_real_time() / G_USEC_PER_SEC);
        const char *why = (*error)->message;
        g_autofree char *msg = NULL;

        if (g_rename(c->path, aside) < 0)
                msg = g_strdup_printf("%s: %s; could not move it aside: %s", c->path, why, g_strerror(errno));
        else
                msg = g_strdup_printf("%s: %s; moved aside to %s", c->path, why, aside);
        g_clear_error(error);
        g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, msg);
}

int claims_load(Claims *c, GError **error) {
        g_autofree char *data = NULL;
        g_autoptr(GError) local = NULL;
        GHashTable *t;
        gsize len;

        if (!g_file_get_contents(c->path, &data, &len, &local)) {
                if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return 0;
                g_propagate_error(error, TAKE_PTR(local));
                return -EIO;
        }

        t = claims_from_data(data, len, &local);
        if (!t) {
                move_aside(c, &local);
                g_propagate_error(error, TAKE_PTR(local));
                return -EBADMSG;
        }

        g_hash_table_unref(c->table);
        c->table = t;
        return 0;
}

/* Write NEXT; adopt it only when it is durably on disk. */
static int commit(Claims *c, GHashTable *next, GError **error) {
        g_autofree char *data = NULL;
        gsize len;

        data = claims_to_data(next, &len);
        if (!g_file_set_contents_full(c->path, data, len,
                                      G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                      0600, error)) {
                g_hash_table_unref(next);
                return -EIO;
        }

        g_hash_table_unref(c->table);
        c->table = next;
        return 0;
}

int claims_put(Claims *c, const Claim *claim, GError **error) {
        GHashTable *next = table_copy(c->table);
        Claim *n = claim_dup(claim);

        g_hash_table_replace(next, n->device, n);
        return commit(c, next, error);
}

int claims_remove(Claims *c, const char *device, GError **error) {
        GHashTable *next;

        if (!g_hash_table_contains(c->table, device))
                return 0;
        next = table_copy(c->table);
        g_hash_table_remove(next, device);
        return commit(c, next, error);
}

const Claim *claims_get(Claims *c, const char *device) {
        return g_hash_table_lookup(c->table, device);
}

guint claims_count(Claims *c) {
        return g_hash_table_size(c->table);
}

GHashTable *claims_table(Claims *c) {
        return c->table;
}
