/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The floor of the benchmarks: the smallest useful sd-bus service.  It owns
 * NAME on the bus at ADDRESS (or the bus that activated it) and answers
 * org.vdpa.Bench.Echo(ay) -> ay and Blob(u size) -> ay of SIZE bytes.
 *
 * With --enumerate=SUBSYSTEM it first enumerates SUBSYSTEM with libudev,
 * once, as any service must look at its devices before it can answer for
 * them (the activation floor), and answers Count() -> u with how many it saw.
 *
 * Usage: vdpa-bench-trivial [--enumerate=SUBSYSTEM] NAME [ADDRESS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libudev.h>
#include <systemd/sd-bus.h>

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
        struct udev_enumerate *e = udev ? udev_enumerate_new(udev) : NULL;
        struct udev_list_entry *entry;
        int r = -ENOMEM;

        if (e && udev_enumerate_add_match_subsystem(e, subsystem) >= 0 && udev_enumerate_scan_devices(e) >= 0) {
                udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e))
                        if (udev_list_entry_get_name(entry))
                                n_enumerated++;
                r = 0;
        }
        udev_enumerate_unref(e);
        udev_unref(udev);
        return r;
}

static const sd_bus_vtable vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Echo", "ay", "ay", method_echo, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Blob", "u", "ay", method_blob, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Count", "", "u", method_count, SD_BUS_VTABLE_UNPRIVILEGED),
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
                r = sd_bus_request_name(bus, argv[1], 0);
        while (r >= 0) {
                r = sd_bus_process(bus, NULL);
                if (r == 0)
                        r = sd_bus_wait(bus, UINT64_MAX);
        }
        sd_bus_flush_close_unref(bus);
        /* The bus going away is the normal end. */
        if (r == -ECONNRESET || r == -ENOTCONN)
                return 0;
        fprintf(stderr, "vdpa-bench-trivial %s: %s\n", argv[1], strerror(-r));
        return 1;
}
