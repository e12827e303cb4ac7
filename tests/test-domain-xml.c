/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <glib.h>

#include "domain-xml.h"

static GPtrArray *sources(const char *xml, int *ret) {
        GPtrArray *a = g_ptr_array_new_with_free_func(g_free);

        *ret = vdpa_domain_xml_vdpa_sources(xml, strlen(xml), a);
        return a;
}

static void test_two_vdpa_and_others(void) {
        g_autoptr(GPtrArray) a = NULL;
        int r;

        a = sources("<domain type='kvm'><name>x</name><devices>"
                    "<interface type='network'><source network='default'/></interface>"
                    "<interface type='vdpa'><source dev='/dev/vhost-vdpa-0'/></interface>"
                    "<hostdev mode='subsystem'/>"
                    "<interface type='vdpa'><mac address='52:54:00:00:00:01'/><source dev='/dev/vhost-vdpa-7'/></interface>"
                    "</devices></domain>", &r);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(a->len, ==, 2);
        g_assert_cmpstr(a->pdata[0], ==, "/dev/vhost-vdpa-0");
        g_assert_cmpstr(a->pdata[1], ==, "/dev/vhost-vdpa-7");
}

static void test_none(void) {
        g_autoptr(GPtrArray) a = NULL;
        int r;

        a = sources("<domain><name>x</name><devices/></domain>", &r);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(a->len, ==, 0);

        g_clear_pointer(&a, g_ptr_array_unref);
        /* vdpa elsewhere than /domain/devices is not an attachment. */
        a = sources("<domain><metadata><interface type='vdpa'><source dev='/dev/vhost-vdpa-1'/></interface></metadata></domain>", &r);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(a->len, ==, 0);

        g_clear_pointer(&a, g_ptr_array_unref);
        /* An empty source is not a reference. */
        a = sources("<domain><devices><interface type='vdpa'><source dev=''/></interface></devices></domain>", &r);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(a->len, ==, 0);
}

static void test_malformed(void) {
        static const char *const bad[] = {
                "",
                "<domain>",
                "not xml at all",
                "<domain><devices><interface type='vdpa'><source dev='/dev/x'/></devices></domain>",
                /* An external entity must never be fetched or expanded. */
                "<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain><devices>&e;</devices></domain",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GPtrArray) a = NULL;
                int r;

                a = sources(bad[i], &r);
                g_assert_cmpint(r, ==, -EINVAL);
                g_assert_cmpuint(a->len, ==, 0);
        }
}

static void test_entity_not_expanded(void) {
        g_autoptr(GPtrArray) a = NULL;
        int r;

        a = sources("<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/hostname'>]>"
                    "<domain><devices><interface type='vdpa'><source dev='&e;'/></interface></devices></domain>", &r);
        /* Either refused or kept unexpanded: never the file's content. */
        if (r == 0)
                for (guint i = 0; i < a->len; i++)
                        g_assert_null(strstr(a->pdata[i], "\n"));
        else
                g_assert_cmpint(r, ==, -EINVAL);
}

static char *join(GArray *a) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < a->len; i++)
                g_string_append_printf(s, "%s%u", i ? "," : "", g_array_index(a, guint, i));
        return g_string_free(s, FALSE);
}

static void test_cpuset(void) {
        static const struct {
                const char *in;
                const char *out;     /* NULL: rejected */
        } cases[] = {
                { "0", "0" },
                { "0-3", "0,1,2,3" },
                { "0-3,^2", "0,1,3" },
                { "5,1,3,1", "1,3,5" },
                { " 1 , 2 ", "1,2" },
                { "0-3,^0-1", NULL },      /* libvirt has no negated ranges */
                { "", NULL },
                { "a", NULL },
                { "1-", NULL },
                { "3-1", NULL },
                { "1,,2", NULL },
                { "99999999999999999999", NULL },
                { "16384", NULL },
                { "-1", NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GArray) a = g_array_new(FALSE, FALSE, sizeof(guint));
                int r = vdpa_parse_cpuset(cases[i].in, a);

                if (!cases[i].out) {
                        g_assert_cmpint(r, ==, -EINVAL);
                        continue;
                }
                g_assert_cmpint(r, ==, 0);
                g_autofree char *j = join(a);
                g_assert_cmpstr(j, ==, cases[i].out);
        }
}

#define CAPS \
        "<capabilities><host><topology><cells num='2'>" \
        "<cell id='0'><cpus num='2'><cpu id='0'/><cpu id='1'/></cpus></cell>" \
        "<cell id='1'><cpus num='2'><cpu id='2'/><cpu id='3'/></cpus></cell>" \
        "</cells></topology></host></capabilities>"

static void test_numa_nodes(void) {
        static const struct {
                const char *xml;
                const char *nodes;
        } cases[] = {
                { "<domain><numatune><memory mode='strict' nodeset='1'/></numatune>"
                  "<cputune><vcpupin vcpu='0' cpuset='0'/></cputune></domain>", "1" },   /* numatune wins */
                { "<domain><cputune><vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='3'/></cputune></domain>", "1" },
                { "<domain><cputune><vcpupin vcpu='0' cpuset='1-2'/></cputune></domain>", "0,1" },
                { "<domain><vcpu cpuset='0-1'>2</vcpu></domain>", "0" },
                { "<domain><vcpu>2</vcpu></domain>", "" },                              /* no placement */
                { "<domain><cputune><vcpupin vcpu='0' cpuset='7'/></cputune></domain>", "" }, /* CPU unknown to the host */
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GArray) a = g_array_new(FALSE, FALSE, sizeof(guint));
                g_autofree char *j = NULL;

                g_assert_cmpint(vdpa_domain_xml_numa_nodes(cases[i].xml, CAPS, a), ==, 0);
                j = join(a);
                g_assert_cmpstr(j, ==, cases[i].nodes);
        }

        g_autoptr(GArray) a = g_array_new(FALSE, FALSE, sizeof(guint));
        g_assert_cmpint(vdpa_domain_xml_numa_nodes("<domain><numatune><memory nodeset='x'/></numatune></domain>", CAPS, a), ==, -EINVAL);
        g_assert_cmpint(vdpa_domain_xml_numa_nodes("<domain", CAPS, a), ==, -EINVAL);
        g_assert_cmpint(vdpa_domain_xml_numa_nodes("<domain><cputune><vcpupin cpuset='0'/></cputune></domain>", "<broken", a), ==, -EINVAL);
}

/* Inputs the fuzzer's author built by hand: quadratic once (seconds per
 * domain), linear now.  The bound is generous; the old code took ~1 s
 * optimised and ~47 s under ASan on the cpuset alone. */
static void test_wide_inputs(void) {
        g_autoptr(GString) s = g_string_new(NULL);
        g_autoptr(GString) caps = g_string_new("<capabilities><host><topology><cells>");
        g_autoptr(GArray) a = g_array_new(FALSE, FALSE, sizeof(guint));
        g_autoptr(GArray) n = g_array_new(FALSE, FALSE, sizeof(guint));
        gint64 t0 = g_get_monotonic_time();
        guint negated = 0;

        for (int i = 0; i < 150; i++)
                g_string_append(s, "0-16383,");
        for (int i = 1; s->len < 4000; i++, negated++)
                g_string_append_printf(s, "^%d,", i);
        g_string_append(s, "5");
        g_assert_cmpint(vdpa_parse_cpuset(s->str, a), ==, 0);
        /* ^5 and 5: the negation wins, as in libvirt. */
        g_assert_cmpuint(a->len, ==, 16384 - negated);
        g_assert_cmpuint(g_array_index(a, guint, 0), ==, 0);

        for (int c = 0; c < 41; c++) {
                g_string_append_printf(caps, "<cell id='%d'><cpus>", c);
                for (int k = 0; k < 400; k++)
                        g_string_append_printf(caps, "<cpu id='%d'/>", c * 400 + k);
                g_string_append(caps, "</cpus></cell>");
        }
        g_string_append(caps, "</cells></topology></host></capabilities>");
        g_assert_cmpint(vdpa_domain_xml_numa_nodes("<domain><vcpu cpuset='0-16383'>1</vcpu></domain>", caps->str, n), ==, 0);
        g_assert_cmpuint(n->len, ==, 41);

        g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
}

static void test_has_vdpa(void) {
        const char *xml = "<domain><devices><interface type='vdpa'><source dev='/dev/vhost-vdpa-3'/></interface></devices></domain>";

        g_assert_cmpint(vdpa_domain_xml_has_vdpa(xml, "/dev/vhost-vdpa-3"), ==, 1);
        g_assert_cmpint(vdpa_domain_xml_has_vdpa(xml, "/dev/vhost-vdpa-30"), ==, 0);
        g_assert_cmpint(vdpa_domain_xml_has_vdpa("<x", "/dev/vhost-vdpa-3"), ==, -EINVAL);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/domain-xml/two-vdpa-and-others", test_two_vdpa_and_others);
        g_test_add_func("/domain-xml/none", test_none);
        g_test_add_func("/domain-xml/malformed", test_malformed);
        g_test_add_func("/domain-xml/entity-not-expanded", test_entity_not_expanded);
        g_test_add_func("/domain-xml/cpuset", test_cpuset);
        g_test_add_func("/domain-xml/numa-nodes", test_numa_nodes);
        g_test_add_func("/domain-xml/has-vdpa", test_has_vdpa);
        g_test_add_func("/domain-xml/wide-inputs", test_wide_inputs);
        return g_test_run();
}
