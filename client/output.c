/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "output.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdpa-names.h"

bool output_use_color(void) {
        static int cached = -1;

        if (cached < 0) {
                const char *no_color = getenv("NO_COLOR");
                const char *term = getenv("TERM");

                cached = isatty(STDOUT_FILENO) &&
                        !(no_color && no_color[0]) &&
                        !(term && g_str_equal(term, "dumb"));
        }
        return cached;
}

const char *output_state_color(const char *state) {
        static const struct {
                const char *state;
                const char *color;
        } colors[] = {
                { VDPA_STATE_AVAILABLE, ANSI_GREEN },
                { VDPA_STATE_CLAIMED, ANSI_BLUE },
                { VDPA_STATE_IN_USE, ANSI_YELLOW },
                { VDPA_STATE_UNUSABLE, ANSI_RED },
                { VDPA_STATE_EXCLUDED, ANSI_GREY },
        };

        for (size_t i = 0; state && i < G_N_ELEMENTS(colors); i++)
                if (g_str_equal(state, colors[i].state))
                        return colors[i].color;
        return NULL;
}

size_t output_display_width(const char *s) {
        size_t w = 0;

        if (!g_utf8_validate(s, -1, NULL))
                return strlen(s);

        for (const char *p = s; *p; p = g_utf8_next_char(p)) {
                gunichar c = g_utf8_get_char(p);

                if (g_unichar_iszerowidth(c))
                        continue;
                w += g_unichar_iswide(c) ? 2 : 1;
        }
        return w;
}

char *output_printable(const char *s) {
        GString *b = g_string_sized_new(strlen(s));

        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        g_string_append_printf(b, "\\x%02x", *p);
                else
                        g_string_append_c(b, (char) *p);
        return g_string_free(b, FALSE);
}

/* --- tables --- */

typedef struct Cell {
        char *text;
        const char *color;
} Cell;

struct Table {
        guint n_columns;
        GPtrArray *headers;     /* char* */
        GArray *cells;          /* Cell, row-major */
};

static void cell_clear(gpointer p) {
        Cell *c = p;

        g_free(c->text);
}

Table *table_new(const char *const *headers) {
        Table *t = g_new0(Table, 1);

        t->headers = g_ptr_array_new_with_free_func(g_free);
        for (size_t i = 0; headers[i]; i++)
                g_ptr_array_add(t->headers, g_strdup(headers[i]));
        t->n_columns = t->headers->len;
        t->cells = g_array_new(FALSE, TRUE, sizeof(Cell));
        g_array_set_clear_func(t->cells, cell_clear);
        return t;
}

void table_free(Table *t) {
        if (!t)
                return;
        g_ptr_array_unref(t->headers);
        g_array_unref(t->cells);
        g_free(t);
}

void table_add_cell(Table *t, const char *text, const char *color) {
        Cell c = {
                .text = output_printable(text && text[0] ? text : "-"),
                .color = color,
        };

        g_array_append_val(t->cells, c);
}

guint table_get_rows(const Table *t) {
        return t->cells->len / t->n_columns;
}

static void print_padded(FILE *f, const char *text, const char *color, size_t width, bool last) {
        bool colored = color && output_use_color();

        fprintf(f, "%s%s%s", colored ? color : "", text, colored ? ANSI_NORMAL : "");
        if (last)
                return;
        for (size_t w = output_display_width(text); w < width; w++)
                fputc(' ', f);
        fputc(' ', f);
}

void table_print(const Table *t, FILE *f, bool legend) {
        g_autofree size_t *widths = g_new0(size_t, t->n_columns);
        guint rows = table_get_rows(t);

        for (guint c = 0; c < t->n_columns; c++) {
                if (legend)
                        widths[c] = output_display_width(g_ptr_array_index(t->headers, c));
                for (guint r = 0; r < rows; r++) {
                        const Cell *cell = &g_array_index(t->cells, Cell, r * t->n_columns + c);
                        widths[c] = MAX(widths[c], output_display_width(cell->text));
                }
        }

        if (legend) {
                for (guint c = 0; c < t->n_columns; c++)
                        print_padded(f, g_ptr_array_index(t->headers, c), ANSI_BOLD, widths[c],
                                     c + 1 == t->n_columns);
                fputc('\n', f);
        }

        for (guint r = 0; r < rows; r++) {
                for (guint c = 0; c < t->n_columns; c++) {
                        const Cell *cell = &g_array_index(t->cells, Cell, r * t->n_columns + c);
                        print_padded(f, cell->text, cell->color, widths[c], c + 1 == t->n_columns);
                }
                fputc('\n', f);
        }
}

/* --- label: value blocks --- */

struct Fields {
        GPtrArray *labels;
        GPtrArray *values;
        GPtrArray *colors;      /* const char*, not owned */
};

Fields *fields_new(void) {
        Fields *f = g_new0(Fields, 1);

        f->labels = g_ptr_array_new_with_free_func(g_free);
        f->values = g_ptr_array_new_with_free_func(g_free);
        f->colors = g_ptr_array_new();
        return f;
}

void fields_free(Fields *f) {
        if (!f)
                return;
        g_ptr_array_unref(f->labels);
        g_ptr_array_unref(f->values);
        g_ptr_array_unref(f->colors);
        g_free(f);
}

void fields_add(Fields *f, const char *label, const char *value, const char *color) {
        g_ptr_array_add(f->labels, g_strdup(label));
        g_ptr_array_add(f->values, output_printable(value));
        g_ptr_array_add(f->colors, (gpointer) color);
}

void fields_addf(Fields *f, const char *label, const char *color, const char *fmt, ...) {
        g_autofree char *v = NULL;
        va_list ap;

        va_start(ap, fmt);
        v = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        fields_add(f, label, v, color);
}

void fields_print(const Fields *f, FILE *out) {
        size_t width = 0;

        for (guint i = 0; i < f->labels->len; i++)
                width = MAX(width, output_display_width(g_ptr_array_index(f->labels, i)));

        for (guint i = 0; i < f->labels->len; i++) {
                const char *label = g_ptr_array_index(f->labels, i);
                const char *color = g_ptr_array_index(f->colors, i);
                bool colored = color && output_use_color();

                for (size_t w = output_display_width(label); w < width; w++)
                        fputc(' ', out);
                fprintf(out, "%s: %s%s%s\n", label, colored ? color : "",
                        (const char *) g_ptr_array_index(f->values, i), colored ? ANSI_NORMAL : "");
        }
}

/* --- JSON --- */

static bool is_string_keyed_dict(const GVariantType *t) {
        const GVariantType *entry;

        if (!g_variant_type_is_array(t))
                return false;
        entry = g_variant_type_element(t);
        if (!g_variant_type_is_dict_entry(entry))
                return false;
        return g_variant_type_equal(g_variant_type_key(entry), G_VARIANT_TYPE_STRING) ||
                g_variant_type_equal(g_variant_type_key(entry), G_VARIANT_TYPE_OBJECT_PATH);
}

static JsonNode *json_from_dict(GVariant *v) {
        g_autoptr(JsonObject) o = json_object_new();
        JsonNode *n = json_node_new(JSON_NODE_OBJECT);
        GVariantIter it;
        GVariant *value;
        const char *key;

        g_variant_iter_init(&it, v);
        while (g_variant_iter_next(&it, "{&s@*}", &key, &value)) {
                json_object_set_member(o, key, output_json_from_variant(value));
                g_variant_unref(value);
        }
        json_node_set_object(n, o);
        return n;
}

static JsonNode *json_from_container(GVariant *v) {
        g_autoptr(JsonArray) a = json_array_new();
        JsonNode *n = json_node_new(JSON_NODE_ARRAY);
        GVariantIter it;
        GVariant *child;

        g_variant_iter_init(&it, v);
        while ((child = g_variant_iter_next_value(&it))) {
                json_array_add_element(a, output_json_from_variant(child));
                g_variant_unref(child);
        }
        json_node_set_array(n, a);
        return n;
}

JsonNode *output_json_from_variant(GVariant *v) {
        JsonNode *n;

        switch (g_variant_classify(v)) {
        case G_VARIANT_CLASS_BOOLEAN:
                n = json_node_new(JSON_NODE_VALUE);
                json_node_set_boolean(n, g_variant_get_boolean(v));
                return n;
        case G_VARIANT_CLASS_BYTE:
                n = json_node_new(JSON_NODE_VALUE);
                json_node_set_int(n, g_variant_get_byte(v));
                return n;
        case G_VARIANT_CLASS_INT16:
                n = json_node_new(JSON_NODE_VALUE);
                json_node_set_int(n, g_variant_get_int16(v));
                return n;
        case G_VARIANT_CLASS_UINT16:
                n = json_node_new(JSON_NODE_VALUE);
                json_node_set_int(n, g_variant_get_uint16(v));
                return n;
        case G_VARIANT_CLASS_INT32:
                n = json_node_new(JSON_NODE_VALUE);
                json_node_set_int(n, g_variant_get_int32(v));
                return n;
        case G_VARIANT_CLASS_HANDLE:
                n = json_node_new(JSON_NODE_VALUE);
                json_node_set_int(n, g_variant_get_handle(v));
                return n;
        case G_VARIANT_CLASS_UINT32:
                n = json_node_new(JSON_NODE_VALUE);
                json_node_set_int(n, g_variant_get_uint32(v));
                return n;
        case G_VARIANT_CLASS_INT64:
                n = json_node_new(JSON_NODE_VALUE);
                json_node_set_int(n, g_variant_get_int64(v));
                return n;
        case G_VARIANT_CLASS_UINT64: {
                guint64 u = g_variant_get_uint64(v);

                n = json_node_new(JSON_NODE_VALUE);
                if (u <= G_MAXINT64)
                        json_node_set_int(n, (gint64) u);
                else
                        json_node_set_double(n, (double) u);
                return n;
        }
        case G_VARIANT_CLASS_DOUBLE:
                n = json_node_new(JSON_NODE_VALUE);
                json_node_set_double(n, g_variant_get_double(v));
                return n;
        case G_VARIANT_CLASS_STRING:
        case G_VARIANT_CLASS_OBJECT_PATH:
        case G_VARIANT_CLASS_SIGNATURE:
                n = json_node_new(JSON_NODE_VALUE);
                json_node_set_string(n, g_variant_get_string(v, NULL));
                return n;
        case G_VARIANT_CLASS_VARIANT: {
                g_autoptr(GVariant) inner = g_variant_get_variant(v);
                return output_json_from_variant(inner);
        }
        case G_VARIANT_CLASS_MAYBE: {
                g_autoptr(GVariant) inner = g_variant_get_maybe(v);
                return inner ? output_json_from_variant(inner) : json_node_new(JSON_NODE_NULL);
        }
        case G_VARIANT_CLASS_ARRAY:
                if (is_string_keyed_dict(g_variant_get_type(v)))
                        return json_from_dict(v);
                return json_from_container(v);
        case G_VARIANT_CLASS_TUPLE:
        case G_VARIANT_CLASS_DICT_ENTRY:
                return json_from_container(v);
        }
        g_assert_not_reached();
}

void output_json_print(JsonNode *node, JsonMode mode, FILE *f) {
        g_autofree char *s = json_to_string(node, mode == JSON_PRETTY);

        fprintf(f, "%s\n", s);
        fflush(f);
}
