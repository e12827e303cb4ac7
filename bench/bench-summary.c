/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The last benchmark: the whole table from the JSON lines the figures
 * wrote to $VDPA_BENCH_RESULTS, every target with PASS/MISS, and all
 * records in one JSON array, $VDPA_BENCH_RESULTS/results.json.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "bench.h"

static const char *const order[] = { "calls", "hotplug", "claim", "create", "provision", "activation", "rss" };

static double member_double(JsonObject *o, const char *name)
{
        JsonNode *n = json_object_get_member(o, name);

        return n && !json_node_is_null(n) ? json_node_get_double(n) : NAN;
}

static void print_pair(JsonObject *o)
{
        JsonObject *s = json_object_get_object_member(o, "service");
        JsonObject *f = json_object_has_member(o, "floor") ? json_object_get_object_member(o, "floor") : NULL;

        printf("%-10s %-38s %5" G_GINT64_FORMAT " %6" G_GINT64_FORMAT
               " | %11.1f %10.1f-%-10.1f | %-22s %11.1f %10.1f-%-10.1f | %7.2fx\n",
               json_object_get_string_member(o, "figure"), json_object_get_string_member(o, "what"),
               json_object_get_int_member(o, "devices"), json_object_get_int_member(o, "iterations"),
               member_double(s, "median_us"), member_double(s, "p25_us"), member_double(s, "p75_us"),
               f ? json_object_get_string_member(o, "floor_name") : "-", f ? member_double(f, "median_us") : NAN,
               f ? member_double(f, "p25_us") : NAN, f ? member_double(f, "p75_us") : NAN,
               f ? member_double(o, "ratio_of_medians") : NAN);
}

/* Every target, as issue 16 restated them (bench/README.md has the table):
 * calls 3 + 2 [netlink], hotplug 3 + 1 [netlink, N=16], claim 2, create 2,
 * provision 2, activation 1 + 1 [netlink], rss 2. */
#define BENCH_N_TARGETS 19

int bench_figure_summary(int argc, char **argv)
{
        const char *dir = g_getenv("VDPA_BENCH_RESULTS");
        g_autoptr(JsonBuilder) all = json_builder_new();
        g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func((GDestroyNotify) json_node_unref);
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *out = NULL;
        g_autoptr(GError) error = NULL;
        guint pass = 0, miss = 0, noise = 0, missing = 0;

        g_assert_nonnull(dir);
        for (size_t i = 0; i < G_N_ELEMENTS(order); i++) {
                g_autofree char *path = g_strdup_printf("%s/%s.jsonl", dir, order[i]);
                g_autofree char *text = NULL;
                g_auto(GStrv) lines = NULL;

                if (!g_file_get_contents(path, &text, NULL, NULL)) {
                        printf("# %s: no results (%s)\n", order[i], path);
                        missing++;
                        continue;
                }
                lines = g_strsplit(text, "\n", -1);
                for (char **l = lines; *l; l++) {
                        g_autoptr(JsonParser) p = json_parser_new();

                        if (!**l)
                                continue;
                        if (!json_parser_load_from_data(p, *l, -1, &error))
                                g_error("%s: %s", path, error->message);
                        g_ptr_array_add(records, json_node_copy(json_parser_get_root(p)));
                }
        }

        printf("\n================ vdpa-manager benchmarks: summary ================\n");
        printf("%-10s %-38s %5s %6s | %11s %21s | %-22s %11s %21s | %8s\n", "figure", "measurement", "N", "iters",
               "median us", "p25-p75 us", "floor", "median us", "p25-p75 us", "ratio");
        for (guint i = 0; i < records->len; i++) {
                JsonObject *o = json_node_get_object(records->pdata[i]);

                if (g_str_equal(json_object_get_string_member(o, "kind"), "pair"))
                        print_pair(o);
        }
        printf("\n%-10s %-56s %12s %s\n", "figure", "value", "", "unit");
        for (guint i = 0; i < records->len; i++) {
                JsonObject *o = json_node_get_object(records->pdata[i]);

                if (g_str_equal(json_object_get_string_member(o, "kind"), "value"))
                        printf("%-10s %-56s %12.1f %s\n", json_object_get_string_member(o, "figure"),
                               json_object_get_string_member(o, "what"), member_double(o, "value"),
                               json_object_get_string_member(o, "unit"));
        }
        printf("\n%-10s %-56s %10s %-21s %-3s %8s  %s\n", "figure", "target", "measured", "  95% interval", "",
               "limit", "verdict");
        for (guint i = 0; i < records->len; i++) {
                JsonObject *o = json_node_get_object(records->pdata[i]);
                const char *v;

                if (!g_str_equal(json_object_get_string_member(o, "kind"), "target"))
                        continue;
                v = json_object_get_string_member(o, "verdict");
                printf("%-10s %-56s %10.2f [%8.2f - %8.2f] %-3s %6g %s  %s%s%s\n",
                       json_object_get_string_member(o, "figure"), json_object_get_string_member(o, "what"),
                       member_double(o, "value"), member_double(o, "lo"), member_double(o, "hi"),
                       json_object_get_string_member(o, "op"), member_double(o, "limit"),
                       json_object_get_string_member(o, "unit"), g_str_equal(v, "NOISE") ? "NOISE (inside its noise)" : v,
                       json_object_has_member(o, "note") ? "  " : "",
                       json_object_has_member(o, "note") ? json_object_get_string_member(o, "note") : "");
                if (g_str_equal(v, "PASS"))
                        pass++;
                else if (g_str_equal(v, "NOISE"))
                        noise++;
                else
                        miss++;
        }
        /* The verdicts alone, one a line, so that runs can be diffed. */
        printf("\nverdicts:\n");
        for (guint i = 0; i < records->len; i++) {
                JsonObject *o = json_node_get_object(records->pdata[i]);

                if (g_str_equal(json_object_get_string_member(o, "kind"), "target"))
                        printf("  %-5s %s: %s\n", json_object_get_string_member(o, "verdict"),
                               json_object_get_string_member(o, "figure"), json_object_get_string_member(o, "what"));
        }
        printf("\n%u targets: %u PASS, %u MISS, %u inside their noise\n", pass + miss + noise, pass, miss, noise);

        json_builder_begin_array(all);
        for (guint i = 0; i < records->len; i++)
                json_builder_add_value(all, json_node_copy(records->pdata[i]));
        json_builder_end_array(all);
        root = json_builder_get_root(all);
        json_generator_set_root(gen, root);
        json_generator_set_pretty(gen, TRUE);
        out = g_build_filename(dir, "results.json", NULL);
        if (!json_generator_to_file(gen, out, &error))
                g_error("%s: %s", out, error->message);
        printf("JSON: %s (all records; one file per figure: %s/FIGURE.jsonl)\n", out, dir);

        /* An incomplete table is a failed run, not a shorter one. */
        if (missing > 0 || pass + miss + noise != BENCH_N_TARGETS) {
                printf("INCOMPLETE: %u figure(s) without results, %u of %u targets reported\n", missing,
                       pass + miss + noise, BENCH_N_TARGETS);
                return 1;
        }
        return 0;
}
