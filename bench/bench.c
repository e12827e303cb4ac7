/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vdpa-bench FIGURE [ARGS...]: one figure of the benchmarks (bench/README.md).
 * Run under umockdev-wrapper, as bench/meson.build does.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
} figures[] = {
        { "calls",      bench_figure_calls },
        { "hotplug",    bench_figure_hotplug },
        { "claim",      bench_figure_claim },
        { "activation", bench_figure_activation },
        { "create",     bench_figure_create },
        { "provision",  bench_figure_provision },
        { "rss",        bench_figure_rss },
        { "summary",    bench_figure_summary },
};

int main(int argc, char *argv[])
{
        uint64_t t0 = bench_now_ns();
        int r;

        /* Results are read by people and by the summary as they come. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 2) {
                fprintf(stderr, "Usage: %s FIGURE [ARGS...]\n", argv[0]);
                return 2;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(figures); i++) {
                if (!g_str_equal(argv[1], figures[i].name))
                        continue;
                r = figures[i].run(argc - 2, argv + 2);
                printf("# %s: %.1f s wall\n", argv[1], (bench_now_ns() - t0) / 1e9);
                return r;
        }
        fprintf(stderr, "Unknown figure '%s'\n", argv[1]);
        return 2;
}
