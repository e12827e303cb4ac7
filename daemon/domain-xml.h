/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* Pure parsing of libvirt domain XML with libxml2. */

/* Append the source dev of every <interface type='vdpa'> in XML to
 * OUT_CHARDEVS (char*, newly allocated).  Returns 0 or -EINVAL when XML
 * does not parse. */
int vdpa_domain_xml_vdpa_sources(const char *xml, size_t len, GPtrArray *out_chardevs);
