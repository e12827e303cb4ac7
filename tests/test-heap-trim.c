/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daemon/heap-trim.c on a real sd-event loop: when the trim is considered
 * (the busy callback is its observable edge), that requests in the quiet
 * time push it back, and that a busy bus makes it wait another quiet time. */
#include <glib.h>
#include <systemd/sd-event.h>

#include "heap-trim.h"

typedef struct Probe {
        sd_event *event;
        HeapTrim *trim;
        uint64_t start;
        guint busy_answers;     /* how many times to answer "busy" */
        guint consulted;
        uint64_t at[4];         /* when each consultation came, from start */
        sd_event_source *settled;
} Probe;

/* The loop's own timestamp, the base sd-event counts relative timers
 * from: a timer is dispatched only once it is due by this clock, so the
 * lower bounds below hold exactly. */
static uint64_t loop_now(sd_event *e) {
        uint64_t t;

        g_assert_cmpint(sd_event_now(e, CLOCK_MONOTONIC, &t), >=, 0);
        return t;
}

static int on_settled(sd_event_source *s, uint64_t usec, void *userdata) {
        Probe *p = userdata;

        (void) s;
        (void) usec;
        return sd_event_exit(p->event, 0);
}

static bool on_busy(void *userdata) {
        Probe *p = userdata;

        g_assert_cmpuint(p->consulted, <, G_N_ELEMENTS(p->at));
        p->at[p->consulted++] = loop_now(p->event) - p->start;
        if (p->busy_answers > 0) {
                p->busy_answers--;
                return true;
        }
        /* The trim runs right after this answer.  One more quiet period
         * (a late timer only lengthens it) shows that nothing is scheduled
         * after it. */
        g_assert_null(p->settled);
        g_assert_cmpint(sd_event_add_time_relative(p->event, &p->settled, CLOCK_MONOTONIC,
                                                   HEAP_TRIM_QUIET_USEC + HEAP_TRIM_QUIET_USEC / 10, 0, on_settled, p), >=, 0);
        return false;
}

/* Only a safety net: the loop ends from on_settled(). */
static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Probe *p = userdata;

        (void) s;
        (void) usec;
        g_error("the trim was still pending after %u consultation(s) and %.1f s",
                p->consulted, (double) (loop_now(p->event) - p->start) / G_USEC_PER_SEC);
        return 0;
}

static int on_again(sd_event_source *s, uint64_t usec, void *userdata) {
        Probe *p = userdata;

        (void) s;
        (void) usec;
        heap_trim_request(p->trim);
        return 0;
}

/* Runs the loop until a quiet period after the trim, with a second
 * request at AGAIN_USEC (0: none). */
static void run(Probe *p, uint64_t again_usec) {
        const uint64_t deadline_usec = 20 * HEAP_TRIM_QUIET_USEC;
        sd_event_source *deadline = NULL, *again = NULL;

        p->start = loop_now(p->event);
        heap_trim_request(p->trim);
        g_assert_cmpint(sd_event_add_time_relative(p->event, &deadline, CLOCK_MONOTONIC, deadline_usec, 0,
                                                   on_deadline, p), >=, 0);
        if (again_usec)
                g_assert_cmpint(sd_event_add_time_relative(p->event, &again, CLOCK_MONOTONIC, again_usec, 0,
                                                           on_again, p), >=, 0);
        g_assert_cmpint(sd_event_loop(p->event), >=, 0);
        sd_event_source_disable_unref(deadline);
        sd_event_source_disable_unref(again);
        p->settled = sd_event_source_disable_unref(p->settled);
}

static void probe_init(Probe *p, guint busy_answers) {
        *p = (Probe) { .busy_answers = busy_answers };
        g_assert_cmpint(sd_event_new(&p->event), >=, 0);
        g_assert_cmpint(heap_trim_new(p->event, on_busy, p, &p->trim), >=, 0);
}

static void probe_clear(Probe *p) {
        p->trim = heap_trim_free(p->trim);
        p->event = sd_event_unref(p->event);
}

static void test_once_after_quiet(void) {
        Probe p;

        probe_init(&p, 0);
        run(&p, 0);
        g_assert_cmpuint(p.consulted, ==, 1);
        g_assert_cmpuint(p.at[0], >=, HEAP_TRIM_QUIET_USEC);
        probe_clear(&p);
}

static void test_request_pushes_back(void) {
        const uint64_t again = HEAP_TRIM_QUIET_USEC / 2;
        Probe p;

        probe_init(&p, 0);
        run(&p, again);
        /* One trim, a quiet period after the second request, not two. */
        g_assert_cmpuint(p.consulted, ==, 1);
        g_assert_cmpuint(p.at[0], >=, again + HEAP_TRIM_QUIET_USEC);
        probe_clear(&p);
}

static void test_busy_waits_again(void) {
        Probe p;

        probe_init(&p, 2);
        run(&p, 0);
        g_assert_cmpuint(p.consulted, ==, 3);
        g_assert_cmpuint(p.at[0], >=, HEAP_TRIM_QUIET_USEC);
        g_assert_cmpuint(p.at[1] - p.at[0], >=, HEAP_TRIM_QUIET_USEC);
        g_assert_cmpuint(p.at[2] - p.at[1], >=, HEAP_TRIM_QUIET_USEC);
        probe_clear(&p);
}

static void test_without_busy_or_object(void) {
        sd_event *e = NULL;
        HeapTrim *t = NULL;

        /* No trim object: a request is a no-op, freeing NULL too. */
        heap_trim_request(NULL);
        g_assert_null(heap_trim_free(NULL));

        /* No busy callback: the trim runs after the quiet time alone. */
        g_assert_cmpint(sd_event_new(&e), >=, 0);
        g_assert_cmpint(heap_trim_new(e, NULL, NULL, &t), >=, 0);
        heap_trim_request(t);
        g_assert_cmpint(sd_event_run(e, 3 * HEAP_TRIM_QUIET_USEC), >, 0);
        heap_trim_free(t);
        sd_event_unref(e);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/heap-trim/once-after-quiet", test_once_after_quiet);
        g_test_add_func("/heap-trim/request-pushes-back", test_request_pushes_back);
        g_test_add_func("/heap-trim/busy-waits-again", test_busy_waits_again);
        g_test_add_func("/heap-trim/without-busy-or-object", test_without_busy_or_object);
        return g_test_run();
}
