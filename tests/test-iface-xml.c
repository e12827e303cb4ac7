/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The interface XML builder against libvirt itself: every XML built here is
 * wrapped in a minimal domain, validated with virt-xml-validate (libvirt's
 * RNG schema), defined on test:///default and read back with
 * virDomainGetXMLDesc; each attribute must come back unchanged, and our
 * element order must be libvirt's.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "iface-xml.h"
#include "macro.h"
#include "options.h"

#define CHARDEV "/dev/vhost-vdpa-0"

/* TESTING.md's minimal domain; the interface goes into <devices>. */
#define DOMAIN_TEMPLATE                                                         \
        "<domain type='qemu'><name>x</name><memory unit='MiB'>128</memory>"     \
        "<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>"    \
        "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"             \
        "<console type='pty'/></devices></domain>"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)

static virConnectPtr conn;

typedef struct Opt {
        const char *key;
        VdpaOptionValue v;
} Opt;

/* One expected attribute: XPath relative to the <interface>. */
typedef struct Attr {
        const char *xpath;
        const char *value;
} Attr;

typedef struct IfaceCase {
        const char *name;
        const char *chardev;
        Opt opts[8];
        const char *elements;   /* children of <interface>, in order */
        Attr attrs[12];
} IfaceCase;

#define S(x) { .signature = "s", .s = (x) }
#define U(x) { .signature = "u", .u = (x) }
#define B(x) { .signature = "b", .b = (x) }

static const IfaceCase iface_cases[] = {
        { "bare", CHARDEV, {},
          "source model",
          { { "source/@dev", CHARDEV }, { "model/@type", "virtio" } } },
        { "mac", CHARDEV, { { "mac", S("52:54:00:AA:BB:CC") } },
          "mac source model",
          { { "mac/@address", "52:54:00:aa:bb:cc" }, { "source/@dev", CHARDEV } } },
        { "local-mac", "/dev/vhost-vdpa-17", { { "mac", S("02:00:00:00:00:01") } },
          "mac source model",
          { { "mac/@address", "02:00:00:00:00:01" }, { "source/@dev", "/dev/vhost-vdpa-17" } } },
        { "queues", CHARDEV, { { "queues", U(4) } },
          "source model driver",
          { { "driver/@queues", "4" } } },
        { "page-per-vq-on", CHARDEV, { { "page_per_vq", B(true) } },
          "source model driver",
          { { "driver/@page_per_vq", "on" } } },
        { "page-per-vq-off", CHARDEV, { { "page_per_vq", B(false) } },
          "source model driver",
          { { "driver/@page_per_vq", "off" } } },
        { "driver-both", CHARDEV, { { "page_per_vq", B(true) }, { "queues", U(256) } },
          "source model driver",
          { { "driver/@queues", "256" }, { "driver/@page_per_vq", "on" } } },
        { "alias", CHARDEV, { { "alias", S("ua-net0") } },
          "source model alias",
          { { "alias/@name", "ua-net0" } } },
        { "boot", CHARDEV, { { "boot_order", U(1) } },
          "source model boot",
          { { "boot/@order", "1" } } },
        { "address", CHARDEV, { { "guest_address", S("0000:00:05.0") } },
          "source model address",
          { { "address/@type", "pci" }, { "address/@domain", "0x0000" }, { "address/@bus", "0x00" },
            { "address/@slot", "0x05" }, { "address/@function", "0x0" } } },
        { "all", CHARDEV,
          { { "guest_address", S("0000:00:07.0") }, { "alias", S("ua-vdpa_net-1") }, { "boot_order", U(2) },
            { "page_per_vq", B(false) }, { "queues", U(8) }, { "mac", S("52:54:00:12:34:56") } },
          "mac source model driver boot alias address",
          { { "mac/@address", "52:54:00:12:34:56" }, { "source/@dev", CHARDEV }, { "model/@type", "virtio" },
            { "driver/@queues", "8" }, { "driver/@page_per_vq", "off" }, { "boot/@order", "2" },
            { "alias/@name", "ua-vdpa_net-1" }, { "address/@type", "pci" }, { "address/@bus", "0x00" },
            { "address/@slot", "0x07" }, { "address/@function", "0x0" } } },
        { "all-max", "/dev/vhost-vdpa-255",
          { { "mac", S("FE:FF:FF:FF:FF:FF") }, { "queues", U(256) }, { "page_per_vq", B(true) },
            { "alias", S("ua-Zz_-123456789012345678901234567890123456789012345678901234") },
            { "boot_order", U(65535) }, { "guest_address", S("FFFF:FF:1F.7") } },
          "mac source model driver boot alias address",
          { { "mac/@address", "fe:ff:ff:ff:ff:ff" }, { "driver/@queues", "256" }, { "driver/@page_per_vq", "on" },
            { "alias/@name", "ua-Zz_-123456789012345678901234567890123456789012345678901234" },
            { "boot/@order", "65535" }, { "address/@domain", "0xffff" }, { "address/@bus", "0xff" },
            { "address/@slot", "0x1f" }, { "address/@function", "0x7" } } },
};

static char *xpath_string(xmlDoc *doc, xmlNode *ctx_node, const char *expr) {
        g_autoptr(xmlXPathContext) ctx = xmlXPathNewContext(doc);
        g_autoptr(xmlXPathObject) obj = NULL;
        g_autofree char *wrapped = g_strdup_printf("string(%s)", expr);

        g_assert_nonnull(ctx);
        ctx->node = ctx_node;
        obj = xmlXPathEvalExpression(BAD_CAST wrapped, ctx);
        g_assert_nonnull(obj);
        g_assert_cmpint(obj->type, ==, XPATH_STRING);
        return g_strdup((const char *) obj->stringval);
}

static double xpath_count(xmlDoc *doc, xmlNode *ctx_node, const char *expr) {
        g_autoptr(xmlXPathContext) ctx = xmlXPathNewContext(doc);
        g_autoptr(xmlXPathObject) obj = NULL;
        g_autofree char *wrapped = g_strdup_printf("count(%s)", expr);

        ctx->node = ctx_node;
        obj = xmlXPathEvalExpression(BAD_CAST wrapped, ctx);
        g_assert_nonnull(obj);
        return obj->floatval;
}

static xmlNode *find_vdpa_interface(xmlDoc *doc) {
        g_autoptr(xmlXPathContext) ctx = xmlXPathNewContext(doc);
        g_autoptr(xmlXPathObject) obj = NULL;

        obj = xmlXPathEvalExpression(BAD_CAST "/domain/devices/interface[@type='vdpa']", ctx);
        g_assert_nonnull(obj);
        g_assert_nonnull(obj->nodesetval);
        g_assert_cmpint(obj->nodesetval->nodeNr, ==, 1);
        return obj->nodesetval->nodeTab[0];
}

/* Space-separated element children of NODE, only those in ONLY if given. */
static char *child_names(xmlNode *node, const char *only) {
        g_auto(GStrv) allowed = only ? g_strsplit(only, " ", -1) : NULL;
        GString *s = g_string_new(NULL);

        for (xmlNode *c = node->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE)
                        continue;
                if (allowed && !g_strv_contains((const char *const *) allowed, (const char *) c->name))
                        continue;
                if (s->len > 0)
                        g_string_append_c(s, ' ');
                g_string_append(s, (const char *) c->name);
        }
        return g_string_free(s, FALSE);
}

static void assert_attrs(xmlDoc *doc, xmlNode *iface, const IfaceCase *c) {
        for (size_t i = 0; i < G_N_ELEMENTS(c->attrs) && c->attrs[i].xpath; i++) {
                g_autofree char *got = xpath_string(doc, iface, c->attrs[i].xpath);

                if (!streq_ptr(got, c->attrs[i].value))
                        g_error("%s: %s is '%s', expected '%s'", c->name, c->attrs[i].xpath, got, c->attrs[i].value);
        }
        /* queues and page_per_vq share one <driver>. */
        g_assert_cmpfloat(xpath_count(doc, iface, "driver"), <=, 1);
}

static char *build_case(const IfaceCase *c) {
        _cleanup_(vdpa_options_clear) VdpaOptions o;
        char *xml = NULL;

        vdpa_options_init(&o);
        for (size_t i = 0; i < G_N_ELEMENTS(c->opts) && c->opts[i].key; i++) {
                g_autofree char *errmsg = NULL;
                int r = vdpa_options_set(&o, VDPA_OPTION_SET_XML, c->opts[i].key, &c->opts[i].v, &errmsg);

                if (r < 0)
                        g_error("%s: option %s: %s", c->name, c->opts[i].key, errmsg);
        }

        g_assert_no_errno(vdpa_iface_xml_build(c->chardev, &o.iface, &xml));
        g_assert_nonnull(xml);
        return xml;
}

/* The interface inside TESTING.md's minimal domain, assembled with the
 * libxml2 tree API. */
static char *wrap_in_domain(const char *iface_xml, const char *name) {
        g_autoptr(xmlDoc) dom = xmlReadMemory(DOMAIN_TEMPLATE, strlen(DOMAIN_TEMPLATE), NULL, NULL, XML_PARSE_NONET);
        g_autoptr(xmlDoc) frag = xmlReadMemory(iface_xml, strlen(iface_xml), NULL, NULL, XML_PARSE_NONET);
        g_autoptr(xmlXPathContext) ctx = NULL;
        g_autoptr(xmlXPathObject) names = NULL, devices = NULL;
        xmlNode *copy;
        xmlChar *out = NULL;
        int len = 0;
        char *ret;

        g_assert_nonnull(dom);
        g_assert_nonnull(frag);

        ctx = xmlXPathNewContext(dom);
        names = xmlXPathEvalExpression(BAD_CAST "/domain/name", ctx);
        devices = xmlXPathEvalExpression(BAD_CAST "/domain/devices", ctx);
        g_assert_cmpint(names->nodesetval->nodeNr, ==, 1);
        g_assert_cmpint(devices->nodesetval->nodeNr, ==, 1);

        xmlNodeSetContent(names->nodesetval->nodeTab[0], BAD_CAST name);
        copy = xmlDocCopyNode(xmlDocGetRootElement(frag), dom, 1);
        g_assert_nonnull(copy);
        g_assert_nonnull(xmlAddChild(devices->nodesetval->nodeTab[0], copy));

        xmlDocDumpMemory(dom, &out, &len);
        g_assert_nonnull(out);
        ret = g_strndup((const char *) out, len);
        xmlFree(out);
        return ret;
}

/* libvirt's RNG schema on a whole domain: true when valid. */
static bool virt_xml_validate(const char *domain_xml) {
        g_autofree char *tool = g_find_program_in_path("virt-xml-validate");
        g_autofree char *path = NULL, *out = NULL, *err = NULL;
        g_autoptr(GError) error = NULL;
        int fd, status;

        if (!tool)
                g_error("virt-xml-validate not found in PATH (package libvirt-clients)");

        fd = g_file_open_tmp("vdpa-iface-XXXXXX.xml", &path, &error);
        g_assert_no_error(error);
        close(fd);
        g_assert_true(g_file_set_contents(path, domain_xml, -1, &error));
        g_assert_no_error(error);

        const char *argv[] = { tool, path, "domain", NULL };
        g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error));
        g_assert_no_error(error);
        g_unlink(path);

        if (!g_spawn_check_wait_status(status, NULL)) {
                g_test_message("virt-xml-validate: %s%s", out, err);
                return false;
        }
        return true;
}

/* Define DOMAIN_XML on test:///default and return what libvirt formats. */
static char *libvirt_round_trip(const char *domain_xml) {
        virDomainPtr dom;
        char *desc;

        dom = virDomainDefineXML(conn, domain_xml);
        if (!dom)
                g_error("virDomainDefineXML: %s\n%s", virGetLastErrorMessage(), domain_xml);
        desc = virDomainGetXMLDesc(dom, 0);
        if (!desc)
                g_error("virDomainGetXMLDesc: %s", virGetLastErrorMessage());
        g_assert_cmpint(virDomainUndefine(dom), ==, 0);
        virDomainFree(dom);
        return desc;
}

static void test_iface_case(gconstpointer data) {
        const IfaceCase *c = data;
        g_autofree char *xml = NULL, *domain_xml = NULL, *desc = NULL, *ours = NULL, *theirs = NULL;
        g_autofree char *dom_name = g_strdup_printf("vdpa-iface-xml-%s", c->name);
        g_autoptr(xmlDoc) own = NULL, back = NULL;
        xmlNode *root, *iface;

        xml = build_case(c);
        g_test_message("%s:\n%s", c->name, xml);

        /* Our own output: one <interface type='vdpa'>, the expected
         * children in the expected order, the expected attributes. */
        own = xmlReadMemory(xml, strlen(xml), NULL, NULL, XML_PARSE_NONET);
        g_assert_nonnull(own);
        root = xmlDocGetRootElement(own);
        g_assert_cmpstr((const char *) root->name, ==, "interface");
        g_assert_null(root->next);
        {
                g_autofree char *type = (char *) xmlGetProp(root, BAD_CAST "type");

                g_assert_cmpstr(type, ==, "vdpa");
        }
        ours = child_names(root, NULL);
        g_assert_cmpstr(ours, ==, c->elements);
        assert_attrs(own, root, c);
        g_assert_false(g_str_has_suffix(xml, "\n"));
        g_assert_false(g_str_has_prefix(xml, "<?xml"));

        /* libvirt's schema. */
        domain_xml = wrap_in_domain(xml, dom_name);
        if (!virt_xml_validate(domain_xml))
                g_error("%s: virt-xml-validate rejected:\n%s", c->name, domain_xml);

        /* libvirt's parser and formatter. */
        desc = libvirt_round_trip(domain_xml);
        back = xmlReadMemory(desc, strlen(desc), NULL, NULL, XML_PARSE_NONET);
        g_assert_nonnull(back);
        iface = find_vdpa_interface(back);
        assert_attrs(back, iface, c);
        /* libvirt adds elements (<target>), but ours come in its order. */
        theirs = child_names(iface, c->elements);
        g_assert_cmpstr(theirs, ==, c->elements);
}

typedef struct BadChardev {
        const char *chardev;
        size_t pad;
} BadChardev;

static void test_bad_chardev(void) {
        static const BadChardev bad[] = {
                { NULL }, { "" }, { "/dev/" }, { "/dev" }, { "vhost-vdpa-0" }, { "dev/vhost-vdpa-0" },
                { "/tmp/vhost-vdpa-0" }, { "/dev/../etc/passwd" }, { "/dev/.." }, { "/dev/./x" },
                { "/dev/." }, { "/dev//x" }, { "/dev/x/" }, { "/dev/x\n" }, { "/dev/x\ty" }, { "/dev/x y" },
                { "/dev/a'b" }, { "/dev/a\"b" }, { "/dev/a<b" }, { "/dev/a>b" }, { "/dev/a&b" },
                { "/dev/a\\b" }, { "/dev/x'/><evil/>" }, { "/dev/\xc3\xa9" }, { "/dev/x\x7f" },
                { "/dev/", 256 }, { "/dev/", 65536 },
        };
        VdpaOptions o;

        vdpa_options_init(&o);
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree char *padded = NULL;
                const char *chardev = bad[i].chardev;
                char *xml = NULL;

                if (bad[i].pad > 0) {
                        padded = g_malloc(bad[i].pad + 1);
                        memset(padded, 'v', bad[i].pad);
                        padded[bad[i].pad] = 0;
                        memcpy(padded, chardev, strlen(chardev));
                        chardev = padded;
                }
                g_assert_cmpint(vdpa_iface_xml_build(chardev, &o.iface, &xml), ==, -EINVAL);
                g_assert_null(xml);
        }

        /* The longest accepted, and characters the schema allows. */
        {
                g_autofree char *xml = NULL;
                char longest[256];

                memset(longest, 'v', sizeof(longest) - 1);
                memcpy(longest, "/dev/", 5);
                longest[255] = 0;
                g_assert_no_errno(vdpa_iface_xml_build(longest, &o.iface, &xml));
                g_free(g_steal_pointer(&xml));
                g_assert_no_errno(vdpa_iface_xml_build("/dev/vdpa/a_b-c.d:0", &o.iface, &xml));
                g_assert_nonnull(strstr(xml, "dev=\"/dev/vdpa/a_b-c.d:0\""));
        }
}

/* The builder re-checks options filled by hand (Claim fills in a MAC)
 * through the same parser, so nothing hostile slips past it. */
static void test_bad_iface_options(void) {
        static const struct {
                const char *mac, *alias;
                uint32_t queues, boot_order;
                int page_per_vq;
                bool has_address;
                VdpaPciAddress address;
        } bad[] = {
                { .mac = "zz", .page_per_vq = -1 },
                { .mac = "01:00:5e:00:00:01", .page_per_vq = -1 },
                { .mac = "ff:ff:ff:ff:ff:ff", .page_per_vq = -1 },
                { .mac = "00:00:00:00:00:00", .page_per_vq = -1 },
                { .mac = "52:54:00:00:00:01\"/><evil/>", .page_per_vq = -1 },
                { .alias = "ua-x'/><evil/>", .page_per_vq = -1 },
                { .alias = "net0", .page_per_vq = -1 },
                { .queues = 257, .page_per_vq = -1 },
                { .queues = UINT32_MAX, .page_per_vq = -1 },
                { .boot_order = 65536, .page_per_vq = -1 },
                { .page_per_vq = 2 },
                { .page_per_vq = -2 },
                { .page_per_vq = -1, .has_address = true, .address = { .slot = 0x20 } },
                { .page_per_vq = -1, .has_address = true, .address = { .function = 8 } },
                { .page_per_vq = -1, .has_address = true, .address = { .slot = 0xff, .function = 0xff } },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                VdpaIfaceOptions o = {
                        .mac = (char *) bad[i].mac,
                        .alias = (char *) bad[i].alias,
                        .queues = bad[i].queues,
                        .boot_order = bad[i].boot_order,
                        .page_per_vq = bad[i].page_per_vq,
                        .has_guest_address = bad[i].has_address,
                        .guest_address = bad[i].address,
                };
                char *xml = NULL;

                g_assert_cmpint(vdpa_iface_xml_build(CHARDEV, &o, &xml), ==, -EINVAL);
                g_assert_null(xml);
        }
}

/* A hand-filled MAC in upper case comes out normalised, and the output
 * is exactly the documented shape. */
static void test_exact_output(void) {
        VdpaIfaceOptions o = {
                .mac = (char *) "52:54:00:AA:BB:CC",
                .queues = 4,
                .page_per_vq = 1,
                .alias = (char *) "ua-net0",
                .boot_order = 1,
                .has_guest_address = true,
                .guest_address = { .domain = 0, .bus = 0, .slot = 5, .function = 0 },
        };
        g_autofree char *xml = NULL;

        g_assert_no_errno(vdpa_iface_xml_build(CHARDEV, &o, &xml));
        g_assert_cmpstr(xml, ==,
                        "<interface type=\"vdpa\">\n"
                        "  <mac address=\"52:54:00:aa:bb:cc\"/>\n"
                        "  <source dev=\"/dev/vhost-vdpa-0\"/>\n"
                        "  <model type=\"virtio\"/>\n"
                        "  <driver queues=\"4\" page_per_vq=\"on\"/>\n"
                        "  <boot order=\"1\"/>\n"
                        "  <alias name=\"ua-net0\"/>\n"
                        "  <address type=\"pci\" domain=\"0x0000\" bus=\"0x00\" slot=\"0x05\" function=\"0x0\"/>\n"
                        "</interface>");
}

/* An injection attempt is refused by the parser, and nothing built from
 * the remaining options carries it. */
static void test_injection(void) {
        static const char *const hostile[] = {
                "ua-x'/><evil/>", "ua-x\"/><evil/>", "ua-&amp;", "ua-<evil/>", "ua-]]><evil/>",
        };
        _cleanup_(vdpa_options_clear) VdpaOptions o;
        g_autofree char *xml = NULL;

        vdpa_options_init(&o);
        for (size_t i = 0; i < G_N_ELEMENTS(hostile); i++) {
                g_autofree char *errmsg = NULL;
                VdpaOptionValue v = { .signature = "s", .s = hostile[i] };

                g_assert_cmpint(vdpa_options_set(&o, VDPA_OPTION_SET_XML, "alias", &v, &errmsg), ==, -EINVAL);
                g_assert_nonnull(strstr(errmsg, "Option 'alias'"));
                /* O is unspecified after an error: start afresh. */
                vdpa_options_clear(&o);
        }
        g_assert_null(o.iface.alias);
        g_assert_no_errno(vdpa_iface_xml_build(CHARDEV, &o.iface, &xml));
        g_assert_null(strstr(xml, "evil"));
        g_assert_null(strstr(xml, "alias"));
}

/* The schema check has teeth: interfaces libvirt's schema refuses are
 * refused here too, so a pass above means something. */
static void test_validator_rejects(void) {
        static const char *const invalid[] = {
                "<interface type='vdpa'><model type='virtio'/></interface>",
                "<interface type='vdpa'><source dev='/dev/vhost vdpa'/></interface>",
                "<interface type='vdpa'><source dev='/dev/vhost-vdpa-0'/><boot order='0'/></interface>",
                "<interface type='vdpa'><source dev='/dev/vhost-vdpa-0'/><mac address='52:54:00:12:34'/></interface>",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(invalid); i++) {
                g_autofree char *domain_xml = wrap_in_domain(invalid[i], "vdpa-iface-xml-invalid");

                g_assert_false(virt_xml_validate(domain_xml));
        }
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        xmlInitParser();

        conn = virConnectOpen("test:///default");
        if (!conn)
                g_error("virConnectOpen(test:///default): %s", virGetLastErrorMessage());

        for (size_t i = 0; i < G_N_ELEMENTS(iface_cases); i++) {
                g_autofree char *name = g_strdup_printf("/iface-xml/libvirt/%s", iface_cases[i].name);

                g_test_add_data_func(name, iface_cases + i, test_iface_case);
        }
        g_test_add_func("/iface-xml/bad-chardev", test_bad_chardev);
        g_test_add_func("/iface-xml/bad-options", test_bad_iface_options);
        g_test_add_func("/iface-xml/exact-output", test_exact_output);
        g_test_add_func("/iface-xml/injection", test_injection);
        g_test_add_func("/iface-xml/schema-rejects", test_validator_rejects);

        r = g_test_run();
        virConnectClose(conn);
        return r;
}
