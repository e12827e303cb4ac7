/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "heap-trim.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#include "log.h"

struct HeapTrim {
        sd_event *event;
        sd_event_source *timer;
        HeapTrimBusyFunc busy;
        void *userdata;
};

static int arm(HeapTrim *t) {
        int r;

        r = sd_event_source_set_time_relative(t->timer, HEAP_TRIM_QUIET_USEC);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(t->timer, SD_EVENT_ONESHOT);
}

static int on_quiet(sd_event_source *s, uint64_t usec, void *userdata) {
        HeapTrim *t = userdata;

        (void) s;
        (void) usec;
        /* A reply that never drains (a client that stopped reading) keeps
         * this at one wake-up per quiet period, never more: the trim
         * waits for the bus to drop that client. */
        if (t->busy && t->busy(t->userdata)) {
                int r = arm(t);

                if (r < 0)
                        log_debug_errno(r, "Cannot wait for the heap trim: %m");
                return 0;
        }
        (void) malloc_trim(0);
        return 0;
}

int heap_trim_new(sd_event *event, HeapTrimBusyFunc busy, void *userdata, HeapTrim **ret) {
        HeapTrim *t;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->event = sd_event_ref(event);
        t->busy = busy;
        t->userdata = userdata;

        /* Created off: the first request arms it. */
        r = sd_event_add_time_relative(event, &t->timer, CLOCK_MONOTONIC, HEAP_TRIM_QUIET_USEC, 0, on_quiet, t);
        if (r < 0) {
                heap_trim_free(t);
                return r;
        }
        (void) sd_event_source_set_enabled(t->timer, SD_EVENT_OFF);
        /* sd-event's default 250 ms slack would make "quiet for a second"
         * anything up to 1.25 s; a reader of RssAnon waits for it. */
        (void) sd_event_source_set_time_accuracy(t->timer, HEAP_TRIM_ACCURACY_USEC);
        (void) sd_event_source_set_priority(t->timer, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_description(t->timer, "heap-trim");
        *ret = t;
        return 0;
}

HeapTrim *heap_trim_free(HeapTrim *t) {
        if (!t)
                return NULL;
        sd_event_source_disable_unref(t->timer);
        sd_event_unref(t->event);
        free(t);
        return NULL;
}

void heap_trim_request(HeapTrim *t) {
        int r;

        if (!t)
                return;
        r = arm(t);
        if (r < 0)
                log_debug_errno(r, "Cannot schedule the heap trim: %m");
}
