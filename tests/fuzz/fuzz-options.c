/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the option parser and the interface XML builder.
 *
 * Input, one record a line (so that seeds stay readable):
 *   METHOD CHARDEV            first line: xml | claim | release
 *   SIG KEY VALUE             each further line: a variant of signature SIG
 * u and i values are read with strtoull/strtoll (base 0) and truncated like
 * a careless client would; b is true for "1"/"t…"; for any other signature
 * only the signature reaches the parser, as from the bus.
 *
 * Properties checked (abort on violation): every refusal is -EINVAL with a
 * bounded, printable, UTF-8 message; every XML built parses, holds only the
 * elements and attributes libvirt's <interface type='vdpa'> may have here,
 * and carries exactly the values that were accepted.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "iface-xml.h"
#include "macro.h"
#include "options.h"

#define MAX_RECORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define check(expr)                                                             \
        do {                                                                    \
                if (!(expr)) {                                                  \
                        fprintf(stderr, "%s:%d: check failed: %s\n",            \
                                __FILE__, __LINE__, #expr);                     \
                        abort();                                                \
                }                                                               \
        } while (0)

static const struct {
        const char *element;
        const char *attributes[6];
} allowed[] = {
        { "mac",     { "address" } },
        { "source",  { "dev" } },
        { "model",   { "type" } },
        { "driver",  { "queues", "page_per_vq" } },
        { "boot",    { "order" } },
        { "alias",   { "name" } },
        { "address", { "type", "domain", "bus", "slot", "function" } },
};

static void silent_xml_error(void *ctx, const char *msg, ...) {
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        xmlInitParser();
        xmlSetGenericErrorFunc(NULL, silent_xml_error);
        return 0;
}

static void check_message(int r, const char *errmsg) {
        check(r == -EINVAL);
        check(errmsg);
        check(strlen(errmsg) <= 256);
        check(g_utf8_validate(errmsg, -1, NULL));
        for (const char *p = errmsg; *p; p++)
                check((unsigned char) *p >= 0x20 && *p != 0x7f);
}

static bool attribute_allowed(size_t e, const char *name) {
        for (size_t i = 0; i < G_N_ELEMENTS(allowed[e].attributes) && allowed[e].attributes[i]; i++)
                if (streq_ptr(allowed[e].attributes[i], name))
                        return true;
        return false;
}

static void check_prop(xmlNode *n, const char *name, const char *expect) {
        xmlChar *v = xmlGetProp(n, BAD_CAST name);

        check(v);
        check(streq_ptr((const char *) v, expect));
        xmlFree(v);
}

static void check_element(xmlNode *n, const char *chardev, const VdpaIfaceOptions *o) {
        size_t e;

        for (e = 0; e < G_N_ELEMENTS(allowed); e++)
                if (streq_ptr(allowed[e].element, (const char *) n->name))
                        break;
        check(e < G_N_ELEMENTS(allowed));
        check(!n->children);
        for (xmlAttr *a = n->properties; a; a = a->next)
                check(attribute_allowed(e, (const char *) a->name));

        if (streq_ptr((const char *) n->name, "source"))
                check_prop(n, "dev", chardev);
        else if (streq_ptr((const char *) n->name, "mac"))
                check_prop(n, "address", o->mac);
        else if (streq_ptr((const char *) n->name, "alias"))
                check_prop(n, "name", o->alias);
        else if (streq_ptr((const char *) n->name, "model"))
                check_prop(n, "type", "virtio");
}

static void check_xml(const char *xml, const char *chardev, const VdpaIfaceOptions *o) {
        xmlDoc *doc;
        xmlNode *root;
        xmlChar *type;
        unsigned n = 0;

        doc = xmlReadMemory(xml, (int) strlen(xml), NULL, NULL, XML_PARSE_NONET);
        check(doc);
        root = xmlDocGetRootElement(doc);
        check(root && streq_ptr((const char *) root->name, "interface"));
        check(!root->next);
        type = xmlGetProp(root, BAD_CAST "type");
        check(streq_ptr((const char *) type, "vdpa"));
        xmlFree(type);

        for (xmlNode *c = root->children; c; c = c->next) {
                if (c->type == XML_TEXT_NODE) {
                        xmlChar *t = xmlNodeGetContent(c);

                        for (const xmlChar *p = t; p && *p; p++)
                                check(g_ascii_isspace(*p));
                        xmlFree(t);
                        continue;
                }
                check(c->type == XML_ELEMENT_NODE);
                check_element(c, chardev, o);
                n++;
        }
        check(n >= 2 && n <= G_N_ELEMENTS(allowed));
        xmlFreeDoc(doc);
}

static VdpaOptionSet parse_method(const char *m) {
        if (streq_ptr(m, "xml"))
                return VDPA_OPTION_SET_XML;
        if (streq_ptr(m, "claim"))
                return VDPA_OPTION_SET_CLAIM;
        if (streq_ptr(m, "release"))
                return VDPA_OPTION_SET_RELEASE;
        if (streq_ptr(m, "create"))
                return VDPA_OPTION_SET_CREATE;
        if (streq_ptr(m, "delete"))
                return VDPA_OPTION_SET_DELETE;
        return 0;
}

/* The pure validators on their own: a value they accept is well formed. */
static void fuzz_validators(const char *value) {
        g_autofree char *mac = NULL;
        VdpaPciAddress a;

        if (vdpa_mac_parse(value, &mac) == 0)
                check(strlen(mac) == 17 && !(g_ascii_xdigit_value(mac[1]) & 1));
        if (vdpa_alias_validate(value) == 0)
                check(g_str_has_prefix(value, "ua-") && strlen(value) <= 63);
        if (vdpa_pci_address_parse(value, &a) == 0)
                check(a.slot <= 0x1f && a.function <= 7);
}

static int feed_record(VdpaOptions *o, VdpaOptionSet set, char *line) {
        g_autofree char *errmsg = NULL;
        char *sig = line, *key, *value;
        VdpaOptionValue v = {};
        int r;

        key = strchr(sig, ' ');
        if (!key)
                return 0;
        *key++ = 0;
        value = strchr(key, ' ');
        if (value)
                *value++ = 0;
        else
                value = (char *) "";

        fuzz_validators(value);

        v.signature = sig;
        if (streq_ptr(sig, "s"))
                v.s = value;
        else if (streq_ptr(sig, "u"))
                v.u = (uint32_t) g_ascii_strtoull(value, NULL, 0);
        else if (streq_ptr(sig, "q"))
                v.q = (uint16_t) g_ascii_strtoull(value, NULL, 0);
        else if (streq_ptr(sig, "i"))
                v.i = (int32_t) g_ascii_strtoll(value, NULL, 0);
        else if (streq_ptr(sig, "b"))
                v.b = value[0] == '1' || value[0] == 't';
        else if (streq_ptr(sig, "-"))
                v.signature = NULL;

        r = vdpa_options_set(o, set, key, &v, &errmsg);
        if (r < 0) {
                check_message(r, errmsg);
                return r;
        }
        check(!errmsg);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(vdpa_options_clear) VdpaOptions o;
        g_autofree char *text = NULL, *xml = NULL;
        g_auto(GStrv) lines = NULL;
        const char *chardev;
        VdpaOptionSet set;
        char *space;
        int r;

        vdpa_options_init(&o);

        if (size == 0 || size > 256 * 1024)
                return 0;
        text = g_strndup((const char *) data, size);
        lines = g_strsplit(text, "\n", MAX_RECORDS + 1);
        if (!lines[0])
                return 0;

        space = strchr(lines[0], ' ');
        chardev = space ? space + 1 : "/dev/vhost-vdpa-0";
        if (space)
                *space = 0;
        set = parse_method(lines[0]);
        if (set == 0)
                set = 1u << (data[0] % 5);

        for (size_t i = 1; lines[i] && i <= MAX_RECORDS; i++)
                if (feed_record(&o, set, lines[i]) < 0)
                        return 0;

        if (set == VDPA_OPTION_SET_RELEASE || set == VDPA_OPTION_SET_DELETE)
                return 0;
        if (set == VDPA_OPTION_SET_CREATE) {
                /* Accepted values are within the kernel's bounds. */
                check(o.mtu == 0 || o.mtu >= 68);
                return 0;
        }

        r = vdpa_iface_xml_build(chardev, &o.iface, &xml);
        if (r < 0) {
                /* Options the parser accepted are always buildable: only
                 * the chardev can be refused. */
                check(r == -EINVAL);
                check(!xml);
                check(vdpa_iface_xml_build("/dev/vhost-vdpa-0", &o.iface, &xml) == 0);
                chardev = "/dev/vhost-vdpa-0";
        }
        check_xml(xml, chardev, &o.iface);
        return 0;
}
