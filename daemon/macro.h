/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <glib.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Declare a `NAMEp` cleanup helper that frees *p with FUNC when non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)         \
        static inline void func##p(type *p) {           \
                if (*p)                                 \
                        func(*p);                       \
        }

static inline void *steal_pointer(void *pp) {
        void **p = pp, *q = *p;
        *p = NULL;
        return q;
}
#define TAKE_PTR(p) ((__typeof__(p)) steal_pointer(&(p)))

static inline bool streq_ptr(const char *a, const char *b) {
        return g_strcmp0(a, b) == 0;
}

static inline const char *strempty(const char *s) {
        return s ? s : "";
}

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
