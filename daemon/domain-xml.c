/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "domain-xml.h"

#include <errno.h>
#include <limits.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathContextPtr, xmlXPathFreeContext);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathObjectPtr, xmlXPathFreeObject);

int vdpa_domain_xml_vdpa_sources(const char *xml, size_t len, GPtrArray *out_chardevs) {
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr ctx = NULL;
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr res = NULL;

        if (!xml || len > INT_MAX)
                return -EINVAL;

        /* Domain XML comes from libvirt, but still: no network, no entity
         * expansion, no DTD loading, and no messages on stderr. */
        doc = xmlReadMemory(xml, (int) len, "domain.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc)
                return -EINVAL;

        ctx = xmlXPathNewContext(doc);
        if (!ctx)
                return -ENOMEM;

        res = xmlXPathEvalExpression(BAD_CAST "/domain/devices/interface[@type='vdpa']/source/@dev", ctx);
        if (!res)
                return -EINVAL;

        if (!res->nodesetval)
                return 0;

        for (int i = 0; i < res->nodesetval->nodeNr; i++) {
                xmlNodePtr attr = res->nodesetval->nodeTab[i];
                xmlChar *v = xmlNodeGetContent(attr);

                if (!v)
                        continue;
                if (v[0])
                        g_ptr_array_add(out_chardevs, g_strdup((const char *) v));
                xmlFree(v);
        }
        return 0;
}
