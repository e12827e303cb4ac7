/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-util.h"

#include <string.h>

#include "macro.h"

/* Hostile names can be megabytes long; never echo more than this. */
#define MAX_ECHO 64

/* A printable, bounded rendering of untrusted input for error messages. */
char *bus_echo_string(const char *s) {
        g_autofree char *head = g_utf8_make_valid(s, MIN(strlen(s), (size_t) MAX_ECHO * 4));
        g_autofree char *cut = NULL;
        GString *out;

        if (g_utf8_strlen(head, -1) > MAX_ECHO)
                cut = g_utf8_substring(head, 0, MAX_ECHO);
        out = g_string_new(NULL);
        for (const char *p = cut ? cut : head; *p; p = g_utf8_next_char(p)) {
                gunichar c = g_utf8_get_char(p);

                if (g_unichar_isprint(c))
                        g_string_append_unichar(out, c);
                else
                        g_string_append_printf(out, "\\u%04x", c);
        }
        if (cut || strlen(s) > strlen(head))
                g_string_append(out, "…");
        return g_string_free(out, FALSE);
}

/* Read an a{sv} of options into O through the one strict parser. */
int bus_read_options(sd_bus_message *msg, VdpaOptionSet set, VdpaOptions *o, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;

        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                g_autofree char *errmsg = NULL;
                VdpaOptionValue v = {};
                const char *key, *contents;

                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(msg, NULL, &contents);
                if (r < 0)
                        return r;
                r = sd_bus_message_enter_container(msg, 'v', contents);
                if (r < 0)
                        return r;

                v.signature = contents;
                if (streq_ptr(contents, "s"))
                        r = sd_bus_message_read(msg, "s", &v.s);
                else if (streq_ptr(contents, "u"))
                        r = sd_bus_message_read(msg, "u", &v.u);
                else if (streq_ptr(contents, "q"))
                        r = sd_bus_message_read(msg, "q", &v.q);
                else if (streq_ptr(contents, "i"))
                        r = sd_bus_message_read(msg, "i", &v.i);
                else if (streq_ptr(contents, "b")) {
                        int b;

                        r = sd_bus_message_read(msg, "b", &b);
                        v.b = b;
                } else
                        r = sd_bus_message_skip(msg, contents);
                if (r < 0)
                        return r;

                if (vdpa_options_set(o, set, key, &v, &errmsg) < 0)
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, errmsg);

                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        return sd_bus_message_exit_container(msg);
}

