/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <string.h>

#include "build-config.h"
#include "macro.h"

#define GROUP_LIBVIRT   "Libvirt"
#define GROUP_DEVICES   "Devices"
#define GROUP_MIGRATION "Migration"
#define GROUP_ALLOW     "Allow"
#define GROUP_PROVISION "Provision"
#define DEFAULT_NAME_PATTERN "vdpa%n"
/* A device name: the kernel sets no limit, sysfs wants no '/', and the
 * daemon's CreateDevice takes at most 64 characters. */
#define NAME_MAX_LEN 64

G_DEFINE_QUARK(vdpa-config-error-quark, vdpa_config_error)

/* ------------------------------------------------------------------ */
/* Rules and the configuration object                                  */

static void allow_rule_free(VdpaAllowRule *r) {
        if (!r)
                return;
        g_free(r->name);
        g_free(r->vendor);
        g_free(r->product);
        g_free(r->address);
        g_free(r->physical_function);
        g_free(r->device_name);
        g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaAllowRule, allow_rule_free)

static void provision_rule_free(VdpaProvisionRule *r) {
        if (!r)
                return;
        g_free(r->name);
        g_free(r->mgmtdev);
        g_free(r->name_pattern);
        g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaProvisionRule, provision_rule_free)

bool vdpa_provision_rule_matches(const VdpaProvisionRule *rule, const char *handle) {
        return rule && handle && fnmatch(rule->mgmtdev, handle, 0) == 0;
}

char *vdpa_provision_rule_format_name(const VdpaProvisionRule *rule, unsigned n) {
        const char *pattern = rule->name_pattern ? rule->name_pattern : DEFAULT_NAME_PATTERN;
        const char *at = strstr(pattern, "%n");

        /* Validated at load: exactly one "%n". */
        g_return_val_if_fail(at, NULL);
        return g_strdup_printf("%.*s%u%s", (int) (at - pattern), pattern, n, at + 2);
}

VdpaConfig *vdpa_config_new_default(void) {
        VdpaConfig *c = g_new0(VdpaConfig, 1);

        c->path = NULL;
        c->libvirt_uri = g_strdup(VDPA_DEFAULT_LIBVIRT_URI);
        c->allow_virtual = false;
        c->rules = g_ptr_array_new_with_free_func((GDestroyNotify) allow_rule_free);
        c->provision = g_ptr_array_new_with_free_func((GDestroyNotify) provision_rule_free);
        c->live_migration = VDPA_MIGRATION_POLICY_BLOCK;
        return c;
}

void vdpa_config_free(VdpaConfig *c) {
        if (!c)
                return;
        g_free(c->path);
        g_free(c->libvirt_uri);
        if (c->rules)
                g_ptr_array_unref(c->rules);
        if (c->provision)
                g_ptr_array_unref(c->provision);
        g_free(c);
}

/* ------------------------------------------------------------------ */
/* Migration policy                                                    */

static const char *const migration_policy_table[] = {
        [VDPA_MIGRATION_POLICY_BLOCK] = "block",
        [VDPA_MIGRATION_POLICY_ALLOW] = "allow",
        [VDPA_MIGRATION_POLICY_AUTO]  = "auto",
};

const char *vdpa_migration_policy_to_string(VdpaMigrationPolicy p) {
        if ((size_t) p >= ELEMENTSOF(migration_policy_table))
                return NULL;
        return migration_policy_table[p];
}

int vdpa_migration_policy_from_string(const char *s, VdpaMigrationPolicy *ret) {
        if (!s)
                return -EINVAL;

        for (size_t i = 0; i < ELEMENTSOF(migration_policy_table); i++)
                if (streq_ptr(s, migration_policy_table[i])) {
                        if (ret)
                                *ret = (VdpaMigrationPolicy) i;
                        return 0;
                }

        return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Matching                                                            */

/* A key of a rule never matches an attribute the device does not have
 * (NULL or ""): "Address=*" means "has a PCI address", not "anything". */
static bool glob_matches(const char *pattern, const char *value, int flags) {
        if (!pattern)
                return true;
        if (!value || value[0] == '\0')
                return false;
        return fnmatch(pattern, value, flags) == 0;
}

static bool id_matches(const char *pattern, uint16_t id) {
        char buf[5];

        if (!pattern)
                return true;
        /* Patterns are normalised to lower case at load time, so no
         * FNM_CASEFOLD is needed here. */
        g_snprintf(buf, sizeof buf, "%04x", id);
        return fnmatch(pattern, buf, 0) == 0;
}

static const char *hw_physical_function(const VdpaHardware *hw) {
        /* A vDPA device sitting directly on a PF is its own physical
         * function, whether or not inventory filled the field. */
        if (hw->parent_kind == VDPA_PARENT_KIND_PF &&
            (!hw->physical_function || hw->physical_function[0] == '\0'))
                return hw->address;
        return hw->physical_function;
}

static bool rule_matches(const VdpaAllowRule *r, const VdpaHardware *hw) {
        /* PCI addresses in sysfs are lower-case hex; FNM_CASEFOLD lets a
         * user write them either way.  Device names are case-sensitive,
         * as the kernel's are. */
        return id_matches(r->vendor, hw->vendor_id) &&
                id_matches(r->product, hw->product_id) &&
                glob_matches(r->address, hw->address, FNM_CASEFOLD) &&
                glob_matches(r->physical_function, hw_physical_function(hw), FNM_CASEFOLD) &&
                glob_matches(r->device_name, hw->name, 0);
}

/* Virtual devices (simulators, VDUSE) have no PCI identity for a rule to
 * describe: they are governed by [Devices] AllowVirtual alone and the
 * [Allow ...] rules never see them.  PCI-parented devices (VF, SF, PF)
 * are governed by the rules alone: all allowed when there is no rule,
 * else allowed when every key of at least one rule matches. */
bool vdpa_config_device_allowed(const VdpaConfig *c, const VdpaHardware *hw) {
        g_return_val_if_fail(c, false);
        g_return_val_if_fail(hw, false);

        if (hw->parent_kind == VDPA_PARENT_KIND_VIRTUAL)
                return c->allow_virtual;

        if (!c->rules || c->rules->len == 0)
                return true;

        for (guint i = 0; i < c->rules->len; i++)
                if (rule_matches(g_ptr_array_index(c->rules, i), hw))
                        return true;

        return false;
}

/* ------------------------------------------------------------------ */
/* Line numbers                                                        */

/* GKeyFile reports no line numbers, and silently merges a repeated group
 * and keeps only the last of a repeated key.  So this is the one piece
 * written by hand: a small scan of the text that records the line of
 * each group header and key, following GKeyFile's own lexical rules
 * (leading whitespace ignored, '#' comments, "[group]", "key=value" with
 * the key's trailing whitespace ignored).  It runs only on text GKeyFile
 * has accepted (or, after a syntax error, only to find the bad line);
 * GKeyFile stays the parser of record for every value. */

typedef struct LineEntry {
        char *group;
        char *key;                /* NULL for the group header itself */
        unsigned line;
} LineEntry;

static void line_entry_free(LineEntry *e) {
        g_free(e->group);
        g_free(e->key);
        g_free(e);
}

typedef enum {
        LINE_BLANK,
        LINE_GROUP,
        LINE_KEY,
        LINE_BAD,
} LineKind;

/* As g_key_file_is_key_name(): no brackets but an optional trailing
 * "[locale]", no space at either end. */
static bool key_name_ok(const char *p, const char *e) {
        const char *q = p;

        while (q < e && *q != '[' && *q != ']')
                q++;
        if (q == p || *p == ' ' || q[-1] == ' ')
                return false;
        if (q == e)
                return true;
        if (*q != '[')
                return false;
        for (q++; q < e && (g_ascii_isalnum(*q) || strchr("-_.@", *q) || (unsigned char) *q >= 0x80); q++)
                ;
        return q + 1 == e && *q == ']';
}

/* Classifies one line (without its newline); on LINE_GROUP / LINE_KEY
 * returns the group name / key name in *ret. */
static LineKind classify_line(const char *p, size_t n, char **ret) {
        const char *e = p + n;

        if (n > 0 && e[-1] == '\r')
                e--;
        while (p < e && g_ascii_isspace(*p))
                p++;
        if (p == e || *p == '#')
                return LINE_BLANK;

        if (*p == '[') {
                /* As g_key_file_line_is_group(): up to the first ']',
                 * not empty, followed only by blanks; and, as
                 * g_key_file_is_group_name(), no control characters. */
                const char *close = memchr(p, ']', e - p);

                if (!close || close == p + 1)
                        return LINE_BAD;
                for (const char *t = close + 1; t < e; t++)
                        if (*t != ' ' && *t != '\t')
                                return LINE_BAD;
                for (const char *g = p + 1; g < close; g++)
                        if (*g == '[' || g_ascii_iscntrl(*g))
                                return LINE_BAD;
                *ret = g_strndup(p + 1, close - (p + 1));
                return LINE_GROUP;
        }

        const char *eq = memchr(p, '=', e - p);
        if (!eq || eq == p)
                return LINE_BAD;

        const char *k = eq;
        while (k > p && g_ascii_isspace(k[-1]))
                k--;
        if (!key_name_ok(p, k))
                return LINE_BAD;
        *ret = g_strndup(p, k - p);
        return LINE_KEY;
}

typedef struct LineScan {
        GPtrArray *entries;       /* LineEntry*, file order */
        unsigned bad_line;        /* first line GKeyFile cannot parse, 0 if none */
        unsigned dup_line;        /* first repeated group or key, 0 if none */
        char *dup_group;
        char *dup_key;            /* NULL when the group itself is repeated */
} LineScan;

static void line_scan_clear(LineScan *s) {
        g_clear_pointer(&s->entries, g_ptr_array_unref);
        g_clear_pointer(&s->dup_group, g_free);
        g_clear_pointer(&s->dup_key, g_free);
}

static const LineEntry *line_scan_find(const LineScan *s, const char *group, const char *key) {
        for (guint i = 0; i < s->entries->len; i++) {
                const LineEntry *e = g_ptr_array_index(s->entries, i);

                if (streq_ptr(e->group, group) && streq_ptr(e->key, key))
                        return e;
        }
        return NULL;
}

static unsigned line_of(const LineScan *s, const char *group, const char *key) {
        const LineEntry *e = line_scan_find(s, group, key);
        return e ? e->line : 0;
}

static void line_scan_add(LineScan *s, const char *group, char *key, unsigned line) {
        LineEntry *e;

        if (!s->dup_line && line_scan_find(s, group, key)) {
                s->dup_line = line;
                s->dup_group = g_strdup(group);
                s->dup_key = g_strdup(key);
        }

        e = g_new0(LineEntry, 1);
        e->group = g_strdup(group);
        e->key = key;
        e->line = line;
        g_ptr_array_add(s->entries, e);
}

static void line_scan(LineScan *s, const char *data, size_t len) {
        const char *group = NULL;
        unsigned line = 0;

        *s = (LineScan) {
                .entries = g_ptr_array_new_with_free_func((GDestroyNotify) line_entry_free),
        };

        for (const char *p = data, *end = data + len; p < end; ) {
                const char *nl = memchr(p, '\n', end - p);
                size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
                char *name = NULL;

                line++;
                switch (classify_line(p, n, &name)) {
                case LINE_BLANK:
                        break;
                case LINE_GROUP:
                        line_scan_add(s, name, NULL, line);
                        /* Owned by the entry just added. */
                        group = ((LineEntry *) g_ptr_array_index(s->entries, s->entries->len - 1))->group;
                        g_free(name);
                        break;
                case LINE_KEY:
                        if (!group) {
                                /* GKeyFile: the file must start with a group. */
                                if (!s->bad_line)
                                        s->bad_line = line;
                                g_free(name);
                                break;
                        }
                        line_scan_add(s, group, name, line);
                        break;
                case LINE_BAD:
                        if (!s->bad_line)
                                s->bad_line = line;
                        break;
                }

                p += n + 1;
        }
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */

typedef struct ParseContext {
        const char *path;         /* for messages */
        GKeyFile *kf;
        LineScan scan;
} ParseContext;

static void parse_context_clear(ParseContext *ctx) {
        line_scan_clear(&ctx->scan);
}

/* "PATH:LINE: [GROUP] KEY: message", leaving out what is not known. */
static gboolean G_GNUC_PRINTF(6, 7) config_error(
                const ParseContext *ctx, GError **error, VdpaConfigError code,
                const char *group, const char *key, const char *fmt, ...) {

        g_autofree char *msg = NULL;
        g_autofree char *where = NULL;
        unsigned line = group ? line_of(&ctx->scan, group, key) : 0;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);

        if (line > 0)
                where = g_strdup_printf("%s:%u", ctx->path, line);
        else
                where = g_strdup(ctx->path);

        if (group && key)
                g_set_error(error, VDPA_CONFIG_ERROR, code, "%s: [%s] %s: %s", where, group, key, msg);
        else if (group)
                g_set_error(error, VDPA_CONFIG_ERROR, code, "%s: [%s]: %s", where, group, msg);
        else
                g_set_error(error, VDPA_CONFIG_ERROR, code, "%s: %s", where, msg);
        return FALSE;
}

/* A value as it may be shown in a message: control characters (a tab
 * from "\t", say) escaped, so the message stays one readable line. */
static char *printable(const char *s) {
        GString *b = g_string_new(NULL);

        for (const unsigned char *p = (const unsigned char *) strempty(s); *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        g_string_append_printf(b, "\\x%02x", *p);
                else
                        g_string_append_c(b, (char) *p);

        return g_string_free(b, FALSE);
}

/* ------------------------------------------------------------------ */
/* Glob validation                                                     */

typedef enum {
        GLOB_HEX,                 /* Vendor, Product */
        GLOB_PCI_ADDRESS,         /* Address, PhysicalFunction */
        GLOB_NAME,                /* Name */
        GLOB_HANDLE,              /* [Provision] ManagementDevice */
} GlobKind;

static bool glob_char_ok(GlobKind kind, gunichar c) {
        switch (kind) {
        case GLOB_HEX:
                return c < 0x80 && g_ascii_isxdigit((char) c);
        case GLOB_PCI_ADDRESS:
                return c < 0x80 && (g_ascii_isxdigit((char) c) || c == ':' || c == '.');
        case GLOB_NAME:
                return g_unichar_isprint(c);
        case GLOB_HANDLE:
                return c < 0x80 && (g_ascii_isalnum((char) c) || strchr("/:._-", (int) c));
        }
        g_assert_not_reached();
}

static const char *glob_kind_describe(GlobKind kind) {
        switch (kind) {
        case GLOB_HEX:
                return "hexadecimal digits";
        case GLOB_PCI_ADDRESS:
                return "hexadecimal digits, ':' and '.'";
        case GLOB_NAME:
                return "printable characters";
        case GLOB_HANDLE:
                return "letters, digits and / : . _ -";
        }
        g_assert_not_reached();
}

static char *bad_char(const char *p, GlobKind kind, bool in_set) {
        g_autofree char *c = g_strndup(p, g_utf8_next_char(p) - p);
        g_autofree char *shown = printable(c);

        if (in_set)
                return g_strdup_printf("character '%s' not allowed in a [...] set (only %s)",
                                       shown, glob_kind_describe(kind));
        return g_strdup_printf("character '%s' not allowed (only %s and the glob characters * ? [ ])",
                               shown, glob_kind_describe(kind));
}

static bool is_glob(const char *p) {
        return strpbrk(p, "*?[\\") != NULL;
}

/* Checks what fnmatch(3) would silently accept but can never be meant:
 * an unbalanced '[' (fnmatch takes it literally), a trailing '\', and
 * characters the matched attribute cannot contain.  Returns NULL when
 * fine, else a description of the problem. */
static char *glob_check(const char *pattern, GlobKind kind) {
        const char *p = pattern;

        if (pattern[0] == '\0')
                return g_strdup("empty pattern");
        if (!g_utf8_validate(pattern, -1, NULL))
                return g_strdup("pattern is not valid UTF-8");

        while (*p) {
                gunichar c = g_utf8_get_char(p);

                if (c == '*' || c == '?') {
                        p++;
                        continue;
                }

                if (c == '\\') {
                        p++;
                        if (*p == '\0')
                                return g_strdup("pattern ends with an unescaped '\\'");
                        c = g_utf8_get_char(p);
                        if (!glob_char_ok(kind, c))
                                return bad_char(p, kind, false);
                        p = g_utf8_next_char(p);
                        continue;
                }

                if (c == ']')
                        return g_strdup("unbalanced ']' in pattern");

                if (c == '[') {
                        const char *q = p + 1;

                        if (*q == '!' || *q == '^')
                                q++;
                        if (*q == ']')  /* a leading ']' is a member, not the end */
                                q++;
                        while (*q && *q != ']') {
                                gunichar m = g_utf8_get_char(q);

                                if (m != '-' && !glob_char_ok(kind, m))
                                        return bad_char(q, kind, true);
                                q = g_utf8_next_char(q);
                        }
                        if (*q != ']')
                                return g_strdup("unbalanced '[' in pattern");
                        p = q + 1;
                        continue;
                }

                if (!glob_char_ok(kind, c))
                        return bad_char(p, kind, false);
                p = g_utf8_next_char(p);
        }

        return NULL;
}

/* Vendor and Product: strip "0x", lower-case, and pad a literal ID to the
 * four digits it is compared against ("1e" means 001e). */
static char *normalise_hex_id(const char *value, char **ret_problem) {
        const char *v = value;
        g_autofree char *lower = NULL;

        if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
                v += 2;

        /* Checked before lower-casing, so a message quotes what the user
         * wrote. */
        *ret_problem = glob_check(v, GLOB_HEX);
        if (*ret_problem)
                return NULL;

        lower = g_ascii_strdown(v, -1);

        if (!is_glob(lower)) {
                size_t n = strlen(lower);

                if (n > 4) {
                        *ret_problem = g_strdup("more than 4 hexadecimal digits");
                        return NULL;
                }
                return g_strdup_printf("%.*s%s", (int) (4 - n), "0000", lower);
        }

        return TAKE_PTR(lower);
}

/* ------------------------------------------------------------------ */
/* Groups                                                              */

/* The escapes g_key_file_get_string() understands.  Checked here first
 * because GLib 2.74 sets its GError twice (a GLib-WARNING) for a value
 * with two bad escapes, and because this can say which one is bad. */
static char *check_escapes(const char *raw) {
        for (const char *p = raw; *p; p++) {
                if (*p != '\\')
                        continue;
                p++;
                if (*p == '\0')
                        return g_strdup("value ends with a lone '\\' (write '\\\\' for a backslash)");
                if (!strchr("sntr\\", *p)) {
                        g_autofree char *c = g_strndup(p, g_utf8_next_char(p) - p);
                        g_autofree char *shown = printable(c);
                        return g_strdup_printf("invalid escape sequence '\\%s' (write '\\\\' for a backslash)", shown);
                }
        }
        return NULL;
}

static bool get_string(const ParseContext *ctx, const char *group, const char *key, char **ret, GError **error) {
        g_autoptr(GError) e = NULL;
        g_autofree char *raw = NULL;
        g_autofree char *problem = NULL;
        char *v;

        raw = g_key_file_get_value(ctx->kf, group, key, NULL);
        if (!raw)
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, key, "no value");
        if (!g_utf8_validate(raw, -1, NULL))
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, key,
                                    "value is not valid UTF-8");
        problem = check_escapes(raw);
        if (problem) {
                g_autofree char *shown = printable(raw);
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, key,
                                    "cannot read '%s': %s", shown, problem);
        }

        /* GKeyFile may also return a value *and* set an error. */
        v = g_key_file_get_string(ctx->kf, group, key, &e);
        if (!v || e) {
                g_free(v);
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, key,
                                    "%s", e ? e->message : "cannot read value");
        }

        *ret = v;
        return true;
}

static const char *suggest(const char *word, const char *const *valid) {
        for (size_t i = 0; valid[i]; i++)
                if (g_ascii_strcasecmp(word, valid[i]) == 0)
                        return valid[i];
        return NULL;
}

static bool check_keys(const ParseContext *ctx, const char *group, const char *const *valid, GError **error) {
        g_auto(GStrv) keys = NULL;

        keys = g_key_file_get_keys(ctx->kf, group, NULL, NULL);
        for (size_t i = 0; keys && keys[i]; i++) {
                const char *s;

                if (g_strv_contains(valid, keys[i]))
                        continue;

                s = suggest(keys[i], valid);
                if (s)
                        return config_error(ctx, error, VDPA_CONFIG_ERROR_UNKNOWN_KEY, group, keys[i],
                                            "unknown key (did you mean '%s'?)", s);

                g_autofree char *list = g_strjoinv(", ", (char **) valid);
                return config_error(ctx, error, VDPA_CONFIG_ERROR_UNKNOWN_KEY, group, keys[i],
                                    "unknown key (known keys: %s)", list);
        }
        return true;
}

static bool parse_libvirt(const ParseContext *ctx, const char *group, VdpaConfig *c, GError **error) {
        static const char *const keys[] = { "Uri", NULL };
        g_autofree char *uri = NULL;

        if (!check_keys(ctx, group, keys, error))
                return false;

        if (!g_key_file_has_key(ctx->kf, group, "Uri", NULL))
                return true;

        if (!get_string(ctx, group, "Uri", &uri, error))
                return false;

        /* libvirt URIs may be aliases (libvirt.conf uri_aliases) with no
         * scheme at all, so only libvirt can judge one; but an empty one
         * is surely a mistake, not a request for libvirt's default. */
        g_strstrip(uri);
        if (uri[0] == '\0')
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, "Uri",
                                    "empty URI (leave the key out for the default %s)", VDPA_DEFAULT_LIBVIRT_URI);

        g_free(c->libvirt_uri);
        c->libvirt_uri = TAKE_PTR(uri);
        return true;
}

static bool parse_devices(const ParseContext *ctx, const char *group, VdpaConfig *c, GError **error) {
        static const char *const keys[] = { "AllowVirtual", NULL };
        g_autoptr(GError) e = NULL;
        gboolean b;

        if (!check_keys(ctx, group, keys, error))
                return false;

        if (!g_key_file_has_key(ctx->kf, group, "AllowVirtual", NULL))
                return true;

        b = g_key_file_get_boolean(ctx->kf, group, "AllowVirtual", &e);
        if (e) {
                g_autofree char *raw = g_key_file_get_value(ctx->kf, group, "AllowVirtual", NULL);
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, "AllowVirtual",
                                    "invalid boolean '%s' (expected true or false)", strempty(raw));
        }

        c->allow_virtual = b;
        return true;
}

static bool parse_migration(const ParseContext *ctx, const char *group, VdpaConfig *c, GError **error) {
        static const char *const keys[] = { "LiveMigration", NULL };
        g_autofree char *v = NULL;

        if (!check_keys(ctx, group, keys, error))
                return false;

        if (!g_key_file_has_key(ctx->kf, group, "LiveMigration", NULL))
                return true;

        if (!get_string(ctx, group, "LiveMigration", &v, error))
                return false;

        if (vdpa_migration_policy_from_string(v, &c->live_migration) < 0)
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, "LiveMigration",
                                    "invalid policy '%s' (expected block, allow or auto)", v);
        return true;
}

static bool parse_rule_glob(const ParseContext *ctx, const char *group, const char *key,
                            GlobKind kind, char **ret, GError **error) {
        g_autofree char *v = NULL;
        g_autofree char *problem = NULL;

        if (!g_key_file_has_key(ctx->kf, group, key, NULL))
                return true;

        if (!get_string(ctx, group, key, &v, error))
                return false;

        if (kind == GLOB_HEX) {
                char *n = normalise_hex_id(v, &problem);
                if (!n) {
                        g_autofree char *shown = printable(v);
                        return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, key,
                                            "invalid pattern '%s': %s", shown, problem);
                }
                *ret = n;
                return true;
        }

        problem = glob_check(v, kind);
        if (problem) {
                g_autofree char *shown = printable(v);
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, key,
                                    "invalid pattern '%s': %s", shown, problem);
        }

        *ret = TAKE_PTR(v);
        return true;
}

/* "Allow NAME" → NAME (stripped), or NULL when GROUP is not an Allow
 * group at all.  "Allow" alone yields "". */
static char *allow_group_name(const char *group) {
        if (!g_str_has_prefix(group, GROUP_ALLOW))
                return NULL;

        const char *rest = group + strlen(GROUP_ALLOW);
        if (rest[0] != '\0' && !g_ascii_isspace(rest[0]))
                return NULL;

        return g_strstrip(g_strdup(rest));
}

static bool parse_allow(const ParseContext *ctx, const char *group, const char *name,
                        VdpaConfig *c, GError **error) {
        static const char *const keys[] = { "Vendor", "Product", "Address", "PhysicalFunction", "Name", NULL };
        g_autoptr(VdpaAllowRule) r = NULL;
        gsize n_keys = 0;
        g_auto(GStrv) present = NULL;

        if (name[0] == '\0')
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, NULL,
                                    "rule without a name (write [Allow NAME])");

        for (guint i = 0; i < c->rules->len; i++) {
                const VdpaAllowRule *o = g_ptr_array_index(c->rules, i);
                if (streq_ptr(o->name, name))
                        return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, NULL,
                                            "a rule named '%s' is already defined", name);
        }

        if (!check_keys(ctx, group, keys, error))
                return false;

        present = g_key_file_get_keys(ctx->kf, group, &n_keys, NULL);
        if (n_keys == 0)
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, NULL,
                                    "rule has no keys and would allow every device; "
                                    "give at least one of Vendor, Product, Address, PhysicalFunction, Name "
                                    "(or remove all [Allow ...] groups to allow every device)");

        r = g_new0(VdpaAllowRule, 1);
        r->name = g_strdup(name);

        if (!parse_rule_glob(ctx, group, "Vendor", GLOB_HEX, &r->vendor, error) ||
            !parse_rule_glob(ctx, group, "Product", GLOB_HEX, &r->product, error) ||
            !parse_rule_glob(ctx, group, "Address", GLOB_PCI_ADDRESS, &r->address, error) ||
            !parse_rule_glob(ctx, group, "PhysicalFunction", GLOB_PCI_ADDRESS, &r->physical_function, error) ||
            !parse_rule_glob(ctx, group, "Name", GLOB_NAME, &r->device_name, error))
                return false;

        g_ptr_array_add(c->rules, TAKE_PTR(r));
        return true;
}

/* "Provision NAME" → NAME, as allow_group_name(). */
static char *provision_group_name(const char *group) {
        if (!g_str_has_prefix(group, GROUP_PROVISION))
                return NULL;

        const char *rest = group + strlen(GROUP_PROVISION);
        if (rest[0] != '\0' && !g_ascii_isspace(rest[0]))
                return NULL;

        return g_strstrip(g_strdup(rest));
}

static bool parse_u16(const ParseContext *ctx, const char *group, const char *key, unsigned min, unsigned max,
                      uint16_t *ret, GError **error) {
        g_autofree char *v = NULL;
        guint64 n;

        if (!g_key_file_has_key(ctx->kf, group, key, NULL))
                return true;
        if (!get_string(ctx, group, key, &v, error))
                return false;
        g_strstrip(v);
        if (!g_ascii_string_to_unsigned(v, 10, min, max, &n, NULL)) {
                g_autofree char *shown = printable(v);
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, key,
                                    "invalid value '%s' (expected a number from %u to %u)", shown, min, max);
        }
        *ret = (uint16_t) n;
        return true;
}

/* Name=: printable, no '/', exactly one %n (the index), short enough. */
static bool parse_name_pattern(const ParseContext *ctx, const char *group, char **ret, GError **error) {
        g_autofree char *v = NULL;
        const char *at;

        if (!g_key_file_has_key(ctx->kf, group, "Name", NULL))
                return true;
        if (!get_string(ctx, group, "Name", &v, error))
                return false;
        g_autofree char *shown = printable(v);
        at = strstr(v, "%n");
        if (!at || strstr(at + 2, "%n"))
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, "Name",
                                    "invalid pattern '%s': it needs exactly one %%n (the index), e.g. vdpa-%%n",
                                    shown);
        /* What CreateDevice accepts as a name: sysfs and libudev keep
         * these as they are (udev turns '!' into '/'), and GKeyFile takes
         * them in a group name of the records. */
        if (v[0] == '.' || v[0] == '-')
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, "Name",
                                    "invalid pattern '%s': a device name must not start with '%c'", shown, v[0]);
        for (const char *p = v; *p; p++) {
                if (p == at || p == at + 1)
                        continue;
                if (!g_ascii_isalnum(*p) && !strchr("_.:-", *p))
                        return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, "Name",
                                            "invalid pattern '%s': only letters, digits, '_', '.', ':' and '-' "
                                            "besides %%n", shown);
        }
        if (strlen(v) - 2 + 5 > NAME_MAX_LEN)
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, "Name",
                                    "invalid pattern '%s': names would be longer than %d characters",
                                    shown, NAME_MAX_LEN);
        *ret = TAKE_PTR(v);
        return true;
}

static bool parse_provision(const ParseContext *ctx, const char *group, const char *name,
                            VdpaConfig *c, GError **error) {
        static const char *const keys[] = { "ManagementDevice", "MaxQueuePairs", "Mtu", "Mac", "Name", NULL };
        g_autoptr(VdpaProvisionRule) r = NULL;
        g_autofree char *mac = NULL;

        if (name[0] == '\0')
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, NULL,
                                    "rule without a name (write [Provision NAME])");
        for (guint i = 0; i < c->provision->len; i++) {
                const VdpaProvisionRule *o = g_ptr_array_index(c->provision, i);
                if (streq_ptr(o->name, name))
                        return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, NULL,
                                            "a provisioning rule named '%s' is already defined", name);
        }
        if (!check_keys(ctx, group, keys, error))
                return false;
        if (!g_key_file_has_key(ctx->kf, group, "ManagementDevice", NULL))
                /* No line of its own: the group's line is named. */
                return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, NULL,
                                    "key ManagementDevice missing: a provisioning rule needs the management "
                                    "devices it applies to "
                                    "(a glob over handles, e.g. pci/0000:04:00.*)");

        r = g_new0(VdpaProvisionRule, 1);
        r->name = g_strdup(name);
        r->line = line_of(&ctx->scan, group, NULL);
        if (!parse_rule_glob(ctx, group, "ManagementDevice", GLOB_HANDLE, &r->mgmtdev, error) ||
            !parse_u16(ctx, group, "MaxQueuePairs", 1, G_MAXUINT16, &r->max_queue_pairs, error) ||
            !parse_u16(ctx, group, "Mtu", 68, G_MAXUINT16, &r->mtu, error) ||
            !parse_name_pattern(ctx, group, &r->name_pattern, error))
                return false;
        if (g_key_file_has_key(ctx->kf, group, "Mac", NULL)) {
                if (!get_string(ctx, group, "Mac", &mac, error))
                        return false;
                g_strstrip(mac);
                if (!streq_ptr(mac, "auto")) {
                        g_autofree char *shown = printable(mac);
                        return config_error(ctx, error, VDPA_CONFIG_ERROR_INVALID_VALUE, group, "Mac",
                                            "invalid value '%s' (expected auto, or leave the key out for the "
                                            "driver's MAC)", shown);
                }
                r->mac_auto = true;
        }
        if (!r->name_pattern)
                r->name_pattern = g_strdup(DEFAULT_NAME_PATTERN);
        g_ptr_array_add(c->provision, TAKE_PTR(r));
        return true;
}

static bool parse_group(const ParseContext *ctx, const char *group, VdpaConfig *c, GError **error) {
        static const char *const known[] = { GROUP_LIBVIRT, GROUP_DEVICES, GROUP_MIGRATION, NULL };
        g_autofree char *rule = NULL;
        const char *s;

        if (streq_ptr(group, GROUP_LIBVIRT))
                return parse_libvirt(ctx, group, c, error);
        if (streq_ptr(group, GROUP_DEVICES))
                return parse_devices(ctx, group, c, error);
        if (streq_ptr(group, GROUP_MIGRATION))
                return parse_migration(ctx, group, c, error);

        rule = allow_group_name(group);
        if (rule)
                return parse_allow(ctx, group, rule, c, error);
        rule = provision_group_name(group);
        if (rule)
                return parse_provision(ctx, group, rule, c, error);

        s = suggest(group, known);
        if (!s && g_ascii_strncasecmp(group, GROUP_ALLOW, strlen(GROUP_ALLOW)) == 0)
                s = "Allow NAME";
        if (!s && g_ascii_strncasecmp(group, GROUP_PROVISION, strlen(GROUP_PROVISION)) == 0)
                s = "Provision NAME";
        if (s)
                return config_error(ctx, error, VDPA_CONFIG_ERROR_UNKNOWN_GROUP, group, NULL,
                                    "unknown group (did you mean [%s]?)", s);

        return config_error(ctx, error, VDPA_CONFIG_ERROR_UNKNOWN_GROUP, group, NULL,
                            "unknown group (known groups: [Libvirt], [Devices], [Allow NAME], [Provision NAME], "
                            "[Migration])");
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */

VdpaConfig *vdpa_config_load_from_data(const char *data, gsize len, const char *path, GError **error) {
        _cleanup_(parse_context_clear) ParseContext ctx = {};
        g_autoptr(GKeyFile) kf = NULL;
        g_autoptr(GError) e = NULL;
        g_autoptr(VdpaConfig) c = NULL;
        g_auto(GStrv) groups = NULL;

        g_return_val_if_fail(data || len == 0, NULL);

        if (!path)
                path = "(config)";
        if (!data)
                data = "";
        if (len == (gsize) -1)
                len = strlen(data);

        ctx.path = path;
        line_scan(&ctx.scan, data, len);

        /* KEEP_TRANSLATIONS: otherwise GKeyFile silently drops "Key[xx]"
         * entries depending on the locale; kept, they are rejected as
         * unknown keys whatever the locale. */
        kf = g_key_file_new();
        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_KEEP_TRANSLATIONS, &e)) {
                if (ctx.scan.bad_line > 0)
                        g_set_error(error, VDPA_CONFIG_ERROR, VDPA_CONFIG_ERROR_PARSE,
                                    "%s:%u: %s", path, ctx.scan.bad_line, e->message);
                else
                        g_set_error(error, VDPA_CONFIG_ERROR, VDPA_CONFIG_ERROR_PARSE,
                                    "%s: %s", path, e->message);
                return NULL;
        }
        ctx.kf = kf;

        if (ctx.scan.dup_line > 0) {
                g_autofree char *rule_name = allow_group_name(ctx.scan.dup_group);
                bool rule = rule_name != NULL;

                if (ctx.scan.dup_key)
                        g_set_error(error, VDPA_CONFIG_ERROR, VDPA_CONFIG_ERROR_INVALID_VALUE,
                                    "%s:%u: [%s] %s: key given twice in the same group (only one value could apply%s)",
                                    path, ctx.scan.dup_line, ctx.scan.dup_group, ctx.scan.dup_key,
                                    rule ? "; write another [Allow NAME] group for another rule" : "");
                else
                        g_set_error(error, VDPA_CONFIG_ERROR, VDPA_CONFIG_ERROR_INVALID_VALUE,
                                    "%s:%u: [%s]: group given twice (write each group once)",
                                    path, ctx.scan.dup_line, ctx.scan.dup_group);
                return NULL;
        }

        c = vdpa_config_new_default();
        c->path = g_strdup(path);

        groups = g_key_file_get_groups(kf, NULL);
        for (size_t i = 0; groups[i]; i++)
                if (!parse_group(&ctx, groups[i], c, error))
                        return NULL;

        return TAKE_PTR(c);
}

VdpaConfig *vdpa_config_load(const char *path, bool must_exist, GError **error) {
        g_autoptr(GError) e = NULL;
        g_autofree char *data = NULL;
        gsize len = 0;

        g_return_val_if_fail(path, NULL);

        if (!g_file_get_contents(path, &data, &len, &e)) {
                if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                        if (!must_exist)
                                return vdpa_config_new_default();
                        g_set_error(error, VDPA_CONFIG_ERROR, VDPA_CONFIG_ERROR_NOT_FOUND,
                                    "%s: configuration file not found", path);
                        return NULL;
                }
                /* Anything else (permissions, a directory, I/O): GLib's
                 * own error, which names the file. */
                g_propagate_error(error, TAKE_PTR(e));
                return NULL;
        }

        return vdpa_config_load_from_data(data, len, path, error);
}
