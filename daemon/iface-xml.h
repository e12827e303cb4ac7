/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "options.h"

/* Build <interface type='vdpa'> for CHARDEV with libxml2 (never by string
 * concatenation).  Pure.  Returns 0 and a newly allocated string (free with
 * g_free), or a negative errno. */
int vdpa_iface_xml_build(const char *chardev, const VdpaIfaceOptions *o, char **ret_xml);
