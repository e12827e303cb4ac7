/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "options.h"

/* A printable, bounded rendering of untrusted input for error messages. */
char *bus_echo_string(const char *s);

/* Read an a{sv} of options from MSG through the one strict parser
 * (options.c); a bad option sets InvalidArgs naming it. */
int bus_read_options(sd_bus_message *msg, VdpaOptionSet set, VdpaOptions *o, sd_bus_error *error);
