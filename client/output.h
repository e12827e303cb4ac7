/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vdpactl's output: aligned tables, "Label: value" blocks, colour and
 * GVariant → JSON.  Nothing here talks to the bus.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#define ANSI_RED        "\x1b[0;31m"
#define ANSI_GREEN      "\x1b[0;32m"
#define ANSI_YELLOW     "\x1b[0;33m"
#define ANSI_BLUE       "\x1b[0;34m"
#define ANSI_GREY       "\x1b[0;90m"
#define ANSI_BOLD       "\x1b[1m"
#define ANSI_NORMAL     "\x1b[0m"

/* Colour only on a terminal, never with NO_COLOR set (no-color.org) or
 * TERM=dumb.  Decided once per process. */
bool output_use_color(void);

/* The colour of a device State value, or NULL. */
const char *output_state_color(const char *state);

/* Columns a string occupies on a terminal: wide (East Asian) characters
 * count two, combining ones zero, invalid UTF-8 one per byte. */
size_t output_display_width(const char *s);

/* S with control characters written as \xNN, so that one value stays on
 * one line of a table. */
char *output_printable(const char *s);

typedef struct Table Table;

/* HEADERS: NULL-terminated, one per column. */
Table *table_new(const char *const *headers);
void table_free(Table *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Table, table_free)

/* Appends the next cell, row by row; "" is shown as "-".  COLOR may be
 * NULL; it is used only when output_use_color(). */
void table_add_cell(Table *t, const char *text, const char *color);
guint table_get_rows(const Table *t);
/* LEGEND: print the header line. */
void table_print(const Table *t, FILE *f, bool legend);

/* "     Label: value" lines, labels right-aligned as hostnamectl does. */
typedef struct Fields Fields;
Fields *fields_new(void);
void fields_free(Fields *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fields, fields_free)
void fields_add(Fields *f, const char *label, const char *value, const char *color);
void fields_addf(Fields *f, const char *label, const char *color, const char *fmt, ...) G_GNUC_PRINTF(4, 5);
void fields_print(const Fields *f, FILE *out);

/* JSON with natural types: a{sv} and other string-keyed dictionaries
 * become objects, variants are unwrapped, integers are numbers, other
 * arrays and tuples are arrays. */
JsonNode *output_json_from_variant(GVariant *v);

typedef enum {
        JSON_OFF,
        JSON_SHORT,     /* one line */
        JSON_PRETTY,    /* indented */
} JsonMode;

/* Prints NODE followed by a newline and flushes. */
void output_json_print(JsonNode *node, JsonMode mode, FILE *f);
