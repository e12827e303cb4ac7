/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The floor of the benchmarks: the smallest useful sd-bus service.  It owns
 * NAME on the bus at ADDRESS (or the bus that activated it) and answers, on
 * / as org.vdpa.Bench:
 *
 *   Echo(ay) -> ay           the bytes it was given
 *   Blob(u size) -> ay       SIZE bytes, prepared once
 *   Shape(aa{sv} sample)     keeps SAMPLE (e.g. the reply Devices() gave) as
 *                            a flat array of (key, type, value)
 *   Shaped() -> aa{sv}       that sample, built afresh on every call
 *
 * and Shaped() also on /org/vdpa/Manager as org.vdpa.Manager, so that a
 * call to it differs from a Devices() call only in destination and member
 * (and bench_reply_body_size(), which asks that path, can measure it).
 *
 * With --enumerate=SUBSYSTEM it first enumerates SUBSYSTEM with libudev,
 * once, as any service must look at its devices before it can answer for
 * them (the activation floor), and answers Count() -> u with how many it saw.
 *
 * Usage: vdpa-bench-trivial [--enumerate=SUBSYSTEM] NAME [ADDRESS]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libudev.h>
#include <systemd/sd-bus.h>

#include "vdpa-names.h"

static uint32_t n_enumerated;

static int method_echo(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        sd_bus_message *reply = NULL;
        const void *data;
        size_t size;
        int r;

        r = sd_bus_message_read_array(m, 'y', &data, &size);
        if (r >= 0)
                r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'y', data, size);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

static int method_blob(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        static void *blob;
        static uint32_t blob_size;
        sd_bus_message *reply = NULL;
        uint32_t size;
        int r;

        r = sd_bus_message_read(m, "u", &size);
        if (r < 0)
                return r;
        /* Prepared once: the floor moves bytes, it does not make them. */
        if (size != blob_size) {
                free(blob);
                blob = calloc(1, size ? size : 1);
                blob_size = size;
        }
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'y', blob, size);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

static int method_count(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "u", n_enumerated);
}

/* One libudev enumeration of SUBSYSTEM: what udev_enumerate_scan_devices()
 * builds, and each device's name, which every consumer reads. */
static int enumerate(const char *subsystem) {
        struct udev *udev = udev_new();
        struct udev_enumerate *en = udev ? udev_enumerate_new(udev) : NULL;
        struct udev_list_entry *entry;
        int r = -ENOMEM;

        if (en && udev_enumerate_add_match_subsystem(en, subsystem) >= 0 && udev_enumerate_scan_devices(en) >= 0) {
                udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(en))
                        if (udev_list_entry_get_name(entry))
                                n_enumerated++;
                r = 0;
        }
        udev_enumerate_unref(en);
        udev_unref(udev);
        return r;
}

/* ---- the same-shape floor: Shape(aa{sv}) once, then Shaped() -> aa{sv} ---- */

/* One {sv} entry of the sample, ready to append: the key, the variant's
 * one-letter signature and its value.  Strings point into the sample
 * message, which is kept. */
typedef struct {
        const char *key;
        char sig[2];
        union {
                const char *s;
                uint8_t y;
                int b;          /* sd-bus reads and writes booleans as int */
                int16_t n;
                uint16_t q;
                int32_t i;
                uint32_t u;
                int64_t x;
                uint64_t t;
                double d;
        } v;
} ShapeEntry;

static struct {
        sd_bus_message *sample;  /* owns the strings */
        ShapeEntry *entries;     /* all dictionaries' entries, one after the other */
        size_t n_entries;
        size_t *dict_len;        /* entries of each dictionary */
        size_t n_dicts;
} shape;

static void shape_clear(void) {
        shape.sample = sd_bus_message_unref(shape.sample);
        free(shape.entries);
        free(shape.dict_len);
        shape.entries = NULL;
        shape.dict_len = NULL;
        shape.n_entries = shape.n_dicts = 0;
}

static bool grow(void **p, size_t *allocated, size_t need, size_t size) {
        void *n;

        if (need <= *allocated)
                return true;
        n = realloc(*p, (need * 2) * size);
        if (!n)
                return false;
        *p = n;
        *allocated = need * 2;
        return true;
}

/* Reads one entry's variant, which must hold a basic type. */
static int read_entry(sd_bus_message *m, ShapeEntry *e, sd_bus_error *error) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_read_basic(m, 's', &e->key);
        if (r < 0)
                return r;
        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (type != 'v' || !contents || strlen(contents) != 1 || !strchr("ybnqiuxtdsog", contents[0]))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "entry '%s': only variants of a basic type are supported", e->key);
        e->sig[0] = contents[0];
        e->sig[1] = 0;
        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;
        r = sd_bus_message_read_basic(m, contents[0], &e->v);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int method_shape(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        size_t entries_allocated = 0, dicts_allocated = 0;
        int r;

        shape_clear();
        r = sd_bus_message_enter_container(m, 'a', "a{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'a', "{sv}")) > 0) {
                size_t len = 0;

                while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                        if (!grow((void **) &shape.entries, &entries_allocated, shape.n_entries + 1,
                                  sizeof *shape.entries)) {
                                r = -ENOMEM;
                                break;
                        }
                        r = read_entry(m, &shape.entries[shape.n_entries], error);
                        if (r < 0)
                                break;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                break;
                        shape.n_entries++;
                        len++;
                }
                if (r < 0)
                        break;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        break;
                if (!grow((void **) &shape.dict_len, &dicts_allocated, shape.n_dicts + 1, sizeof *shape.dict_len)) {
                        r = -ENOMEM;
                        break;
                }
                shape.dict_len[shape.n_dicts++] = len;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                shape_clear();
                return r;
        }
        shape.sample = sd_bus_message_ref(m);
        return sd_bus_reply_method_return(m, NULL);
}

/* The reply built every call, with nothing but sd-bus's cheapest appends:
 * container calls and append_basic, no format string. */
static int method_shaped(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        sd_bus_message *reply = NULL;
        const ShapeEntry *e = shape.entries;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < shape.n_dicts; i++) {
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
                for (size_t k = 0; r >= 0 && k < shape.dict_len[i]; k++, e++) {
                        const void *value = e->sig[0] == 's' || e->sig[0] == 'o' || e->sig[0] == 'g' ?
                                (const void *) e->v.s : (const void *) &e->v;

                        if ((r = sd_bus_message_open_container(reply, 'e', "sv")) < 0 ||
                            (r = sd_bus_message_append_basic(reply, 's', e->key)) < 0 ||
                            (r = sd_bus_message_open_container(reply, 'v', e->sig)) < 0 ||
                            (r = sd_bus_message_append_basic(reply, e->sig[0], value)) < 0 ||
                            (r = sd_bus_message_close_container(reply)) < 0)
                                break;
                        r = sd_bus_message_close_container(reply);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

static const sd_bus_vtable vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Echo", "ay", "ay", method_echo, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Blob", "u", "ay", method_blob, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Count", "", "u", method_count, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Shape", "aa{sv}", "", method_shape, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Shaped", "", "aa{sv}", method_shaped, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

static const sd_bus_vtable manager_path_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Shaped", "", "aa{sv}", method_shaped, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int main(int argc, char *argv[]) {
        const char *subsystem = NULL, *address;
        sd_bus *bus = NULL;
        int r;

        if (argc > 1 && strncmp(argv[1], "--enumerate=", 12) == 0) {
                subsystem = argv[1] + 12;
                argv++;
                argc--;
        }
        address = argc > 2 ? argv[2] : getenv("DBUS_STARTER_ADDRESS");
        if (argc < 2 || !address)
                return 2;
        /* before the name, as the daemon looks before it takes its own */
        r = subsystem ? enumerate(subsystem) : 0;
        if (r < 0) {
                fprintf(stderr, "vdpa-bench-trivial %s: enumerating %s: %s\n", argv[1], subsystem, strerror(-r));
                return 1;
        }
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, "/", "org.vdpa.Bench", vtable, NULL);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, VDPA_OBJECT_PATH, VDPA_INTERFACE, manager_path_vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, argv[1], 0);
        while (r >= 0) {
                r = sd_bus_process(bus, NULL);
                if (r == 0)
                        r = sd_bus_wait(bus, UINT64_MAX);
        }
        shape_clear();
        sd_bus_flush_close_unref(bus);
        /* The bus going away is the normal end. */
        if (r == -ECONNRESET || r == -ENOTCONN)
                return 0;
        fprintf(stderr, "vdpa-bench-trivial %s: %s\n", argv[1], strerror(-r));
        return 1;
}
