/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* Pure parsing of libvirt domain XML with libxml2. */

/* Append the source dev of every <interface type='vdpa'> in XML to
 * OUT_CHARDEVS (char*, newly allocated).  Returns 0 or -EINVAL when XML
 * does not parse. */
int vdpa_domain_xml_vdpa_sources(const char *xml, size_t len, GPtrArray *out_chardevs);

/* Parse a libvirt cpuset/nodeset ("0-3,^2,8") into OUT (guint, sorted,
 * unique).  Returns 0 or -EINVAL. */
int vdpa_parse_cpuset(const char *s, GArray *out);

/* The host NUMA nodes a domain's memory lives on, from its XML: the
 * <numatune><memory nodeset=/> when given, else its vCPU pinning
 * (<cputune><vcpupin cpuset=/>, or <vcpu cpuset=/>) mapped to nodes with
 * the host topology of CAPS_XML (libvirt capabilities).  OUT stays empty
 * when the domain says nothing about placement.  Returns 0 or -EINVAL. */
int vdpa_domain_xml_numa_nodes(const char *domain_xml, const char *caps_xml, GArray *out);

/* Does DOMAIN_XML have an <interface type='vdpa'> on CHARDEV?  Returns 1,
 * 0, or -EINVAL when the XML does not parse. */
int vdpa_domain_xml_has_vdpa(const char *domain_xml, const char *chardev);
