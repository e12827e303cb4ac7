/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "domain-xml.h"

#include <errno.h>
#include <limits.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <string.h>

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

static int compare_uint(gconstpointer a, gconstpointer b) {
        guint x = *(const guint *) a, y = *(const guint *) b;

        return x < y ? -1 : x > y;
}

static void sort_unique(GArray *a) {
        guint w = 0;

        g_array_sort(a, compare_uint);
        for (guint i = 0; i < a->len; i++)
                if (w == 0 || g_array_index(a, guint, w - 1) != g_array_index(a, guint, i))
                        g_array_index(a, guint, w++) = g_array_index(a, guint, i);
        g_array_set_size(a, w);
}

/* The largest CPU or node number we accept: libvirt's own bound. */
#define MAX_CPUSET_ID 16383

static int parse_id(const char **p, guint *ret) {
        guint64 v;
        char *end;

        if (!g_ascii_isdigit(**p))
                return -EINVAL;
        v = g_ascii_strtoull(*p, &end, 10);
        if (v > MAX_CPUSET_ID)
                return -EINVAL;
        *p = end;
        *ret = (guint) v;
        return 0;
}

int vdpa_parse_cpuset(const char *s, GArray *out) {
        g_autoptr(GArray) add = g_array_new(FALSE, FALSE, sizeof(guint));
        g_autoptr(GArray) del = g_array_new(FALSE, FALSE, sizeof(guint));
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;

        for (;;) {
                bool negate = false;
                guint a, b;

                while (*p == ' ')
                        p++;
                if (*p == '^') {
                        negate = true;
                        p++;
                }
                if (parse_id(&p, &a) < 0)
                        return -EINVAL;
                b = a;
                if (*p == '-') {
                        p++;
                        if (negate || parse_id(&p, &b) < 0 || b < a)
                                return -EINVAL;
                }
                for (guint i = a; i <= b; i++)
                        g_array_append_val(negate ? del : add, i);
                while (*p == ' ')
                        p++;
                if (*p == '\0')
                        break;
                if (*p != ',')
                        return -EINVAL;
                p++;
        }

        for (guint i = 0; i < add->len; i++) {
                guint v = g_array_index(add, guint, i);
                bool removed = false;

                for (guint j = 0; j < del->len && !removed; j++)
                        removed = g_array_index(del, guint, j) == v;
                if (!removed)
                        g_array_append_val(out, v);
        }
        sort_unique(out);
        return 0;
}

static xmlDocPtr read_doc(const char *xml) {
        if (!xml || strlen(xml) > INT_MAX)
                return NULL;
        return xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL,
                             XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static char *xpath_string(xmlXPathContextPtr ctx, const char *expr) {
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr res = xmlXPathEvalExpression(BAD_CAST expr, ctx);

        if (!res || res->type != XPATH_STRING || !res->stringval || !res->stringval[0])
                return NULL;
        return g_strdup((const char *) res->stringval);
}

/* Map the CPUs in CPUS to their NUMA cells using the capabilities XML. */
static int cpus_to_nodes(const char *caps_xml, GArray *cpus, GArray *out) {
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr ctx = NULL;

        if (!caps_xml)
                return 0;
        doc = read_doc(caps_xml);
        if (!doc)
                return -EINVAL;
        ctx = xmlXPathNewContext(doc);
        if (!ctx)
                return -ENOMEM;

        for (guint i = 0; i < cpus->len; i++) {
                g_autofree char *expr = g_strdup_printf(
                        "string(/capabilities/host/topology/cells/cell[cpus/cpu/@id='%u']/@id)",
                        g_array_index(cpus, guint, i));
                g_autofree char *cell = xpath_string(ctx, expr);
                const char *p = cell;
                guint node;

                if (cell && parse_id(&p, &node) == 0 && *p == '\0')
                        g_array_append_val(out, node);
        }
        sort_unique(out);
        return 0;
}

int vdpa_domain_xml_numa_nodes(const char *domain_xml, const char *caps_xml, GArray *out) {
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr ctx = NULL;
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr pins = NULL;
        g_autoptr(GArray) cpus = g_array_new(FALSE, FALSE, sizeof(guint));
        g_autofree char *nodeset = NULL, *vcpu_cpuset = NULL;

        doc = read_doc(domain_xml);
        if (!doc)
                return -EINVAL;
        ctx = xmlXPathNewContext(doc);
        if (!ctx)
                return -ENOMEM;

        nodeset = xpath_string(ctx, "string(/domain/numatune/memory/@nodeset)");
        if (nodeset)
                return vdpa_parse_cpuset(nodeset, out);

        pins = xmlXPathEvalExpression(BAD_CAST "/domain/cputune/vcpupin/@cpuset", ctx);
        if (pins && pins->nodesetval)
                for (int i = 0; i < pins->nodesetval->nodeNr; i++) {
                        xmlChar *v = xmlNodeGetContent(pins->nodesetval->nodeTab[i]);
                        int r = v ? vdpa_parse_cpuset((const char *) v, cpus) : -EINVAL;

                        xmlFree(v);
                        if (r < 0)
                                return r;
                }

        vcpu_cpuset = xpath_string(ctx, "string(/domain/vcpu/@cpuset)");
        if (cpus->len == 0 && vcpu_cpuset && vdpa_parse_cpuset(vcpu_cpuset, cpus) < 0)
                return -EINVAL;

        if (cpus->len == 0)
                return 0;
        sort_unique(cpus);
        return cpus_to_nodes(caps_xml, cpus, out);
}

int vdpa_domain_xml_has_vdpa(const char *domain_xml, const char *chardev) {
        g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(g_free);
        int r;

        if (!domain_xml)
                return -EINVAL;
        r = vdpa_domain_xml_vdpa_sources(domain_xml, strlen(domain_xml), a);
        if (r < 0)
                return r;
        for (guint i = 0; i < a->len; i++)
                if (streq_ptr(a->pdata[i], chardev))
                        return 1;
        return 0;
}
