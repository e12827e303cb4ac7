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

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/domain-xml/two-vdpa-and-others", test_two_vdpa_and_others);
        g_test_add_func("/domain-xml/none", test_none);
        g_test_add_func("/domain-xml/malformed", test_malformed);
        g_test_add_func("/domain-xml/entity-not-expanded", test_entity_not_expanded);
        return g_test_run();
}
