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
        /* A bitmap over every id libvirt allows: linear in the input, and
         * sorted and unique by construction.  (Expanding ranges into lists
         * made "0-16383,..." with many "^N" quadratic: seconds per domain.) */
        g_autofree guint8 *set = g_malloc0((MAX_CPUSET_ID + 1) / 8);
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
                /* libvirt applies negations after all additions. */
                if (!negate)
                        for (guint i = a; i <= b; i++)
                                set[i / 8] |= 1u << (i % 8);
                while (*p == ' ')
                        p++;
                if (*p == '\0')
                        break;
                if (*p != ',')
                        return -EINVAL;
                p++;
        }

        /* Second pass for the negations, now that every addition is in. */
        for (p = s; *p; ) {
                guint a;

                while (*p == ' ' || *p == ',')
                        p++;
                if (*p != '^') {
                        while (*p && *p != ',')
                                p++;
                        continue;
                }
                p++;
                if (parse_id(&p, &a) == 0)
                        set[a / 8] &= (guint8) ~(1u << (a % 8));
        }

        for (guint i = 0; i <= MAX_CPUSET_ID; i++)
                if (set[i / 8] & (1u << (i % 8)))
                        g_array_append_val(out, i);
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

/* Map the CPUs in CPUS to their NUMA cells using the capabilities XML:
 * one walk over the cells into a CPU -> cell table, then lookups (a query
 * per CPU scanned the whole document 16384 times for a wide cpuset). */
static int cpus_to_nodes(const char *caps_xml, GArray *cpus, GArray *out) {
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr ctx = NULL;
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr cpu_ids = NULL;
        g_autofree gint32 *cell_of = NULL;

        if (!caps_xml)
                return 0;
        doc = read_doc(caps_xml);
        if (!doc)
                return -EINVAL;
        ctx = xmlXPathNewContext(doc);
        if (!ctx)
                return -ENOMEM;

        cell_of = g_new(gint32, MAX_CPUSET_ID + 1);
        for (guint i = 0; i <= MAX_CPUSET_ID; i++)
                cell_of[i] = -1;

        cpu_ids = xmlXPathEvalExpression(BAD_CAST "/capabilities/host/topology/cells/cell/cpus/cpu/@id", ctx);
        if (cpu_ids && cpu_ids->nodesetval)
                for (int i = 0; i < cpu_ids->nodesetval->nodeNr; i++) {
                        xmlNodePtr attr = cpu_ids->nodesetval->nodeTab[i];
                        /* attribute -> <cpu> -> <cpus> -> <cell> */
                        xmlNodePtr cell = attr->parent && attr->parent->parent ? attr->parent->parent->parent : NULL;
                        xmlChar *cpu = xmlNodeGetContent(attr);
                        xmlChar *id = cell ? xmlGetProp(cell, BAD_CAST "id") : NULL;
                        const char *p = (const char *) cpu, *q = (const char *) id;
                        guint c, n;

                        if (cpu && id && parse_id(&p, &c) == 0 && *p == '\0' &&
                            parse_id(&q, &n) == 0 && *q == '\0')
                                cell_of[c] = (gint32) n;
                        xmlFree(cpu);
                        xmlFree(id);
                }

        for (guint i = 0; i < cpus->len; i++) {
                guint c = g_array_index(cpus, guint, i);

                if (c <= MAX_CPUSET_ID && cell_of[c] >= 0) {
                        guint n = (guint) cell_of[c];
                        g_array_append_val(out, n);
                }
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
