/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the domain XML parsing used in reconciliation.
 *
 * The input is a domain XML; when it holds a NUL byte, what follows the
 * first one is also used as libvirt capabilities XML.  Each parser sees
 * the input on its own: as a domain (with fixed capabilities), as
 * capabilities (with a fixed, pinned domain), and as a cpuset string.
 *
 * Properties checked (abort on violation): no crash, leak or sanitizer
 * report; every CPU or node set is sorted, unique and within libvirt's
 * bound; every vDPA source found is non-empty and is found again by
 * vdpa_domain_xml_has_vdpa(); a cpuset that parses, written back in
 * canonical form, parses to the same set.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "domain-xml.h"
#include "macro.h"

#define MAX_ID 16383

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

/* Two cells of four CPUs, as `virsh capabilities` shows them. */
static const char caps_xml[] =
        "<capabilities><host><topology><cells num='2'>"
        "<cell id='0'><cpus num='4'>"
        "<cpu id='0' socket_id='0' core_id='0' siblings='0'/>"
        "<cpu id='1' socket_id='0' core_id='1' siblings='1'/>"
        "<cpu id='2' socket_id='0' core_id='2' siblings='2'/>"
        "<cpu id='3' socket_id='0' core_id='3' siblings='3'/>"
        "</cpus></cell>"
        "<cell id='1'><cpus num='4'>"
        "<cpu id='4' socket_id='1' core_id='0' siblings='4'/>"
        "<cpu id='5' socket_id='1' core_id='1' siblings='5'/>"
        "<cpu id='6' socket_id='1' core_id='2' siblings='6'/>"
        "<cpu id='7' socket_id='1' core_id='3' siblings='7'/>"
        "</cpus></cell>"
        "</cells></topology></host></capabilities>";

/* A domain pinned across both cells, so the capabilities decide. */
static const char pinned_domain_xml[] =
        "<domain type='kvm'><name>fuzz</name><vcpu placement='static'>2</vcpu>"
        "<cputune><vcpupin vcpu='0' cpuset='0-1'/><vcpupin vcpu='1' cpuset='4,6-7'/></cputune>"
        "<devices><interface type='vdpa'><source dev='/dev/vhost-vdpa-0'/></interface></devices>"
        "</domain>";

static void silent_generic_error(void *ctx, const char *msg, ...) {
}

static void silent_structured_error(void *ctx, xmlErrorPtr error) {
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        xmlInitParser();
        xmlSetGenericErrorFunc(NULL, silent_generic_error);
        xmlSetStructuredErrorFunc(NULL, silent_structured_error);
        return 0;
}

static void check_set(const GArray *a) {
        for (guint i = 0; i < a->len; i++) {
                check(g_array_index(a, guint, i) <= MAX_ID);
                if (i > 0)
                        check(g_array_index(a, guint, i - 1) < g_array_index(a, guint, i));
        }
}

static void fuzz_sources(const uint8_t *data, size_t size, const char *text) {
        g_autoptr(GPtrArray) sources = g_ptr_array_new_with_free_func(g_free);
        int r;

        r = vdpa_domain_xml_vdpa_sources((const char *) data, size, sources);
        check(r == 0 || r == -EINVAL);
        if (r < 0) {
                check(sources->len == 0);
                return;
        }

        for (guint i = 0; i < sources->len; i++) {
                const char *s = sources->pdata[i];

                check(s && s[0]);
                /* The same text, read as a string, names the same sources
                 * (unless a NUL byte cut it short). */
                if (strlen(text) == size)
                        check(vdpa_domain_xml_has_vdpa(text, s) == 1);
        }
}

static void fuzz_numa(const char *domain, const char *caps) {
        g_autoptr(GArray) nodes = g_array_new(FALSE, FALSE, sizeof(guint));
        int r;

        r = vdpa_domain_xml_numa_nodes(domain, caps, nodes);
        check(r == 0 || r == -EINVAL);
        check_set(nodes);
}

static void fuzz_cpuset(const char *text) {
        g_autoptr(GArray) set = g_array_new(FALSE, FALSE, sizeof(guint));
        g_autoptr(GArray) again = g_array_new(FALSE, FALSE, sizeof(guint));
        g_autoptr(GString) canonical = g_string_new(NULL);
        int r;

        r = vdpa_parse_cpuset(text, set);
        check(r == 0 || r == -EINVAL);
        check_set(set);
        if (r < 0 || set->len == 0)
                return;

        for (guint i = 0; i < set->len; i++)
                g_string_append_printf(canonical, "%s%u", i > 0 ? "," : "", g_array_index(set, guint, i));
        check(vdpa_parse_cpuset(canonical->str, again) == 0);
        check(again->len == set->len);
        check(memcmp(again->data, set->data, set->len * sizeof(guint)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autofree char *text = NULL;
        const char *caps = NULL;
        int r;

        if (size > 256 * 1024)
                return 0;
        text = g_strndup((const char *) data, size);
        if (strlen(text) < size)
                caps = (const char *) memchr(data, 0, size) + 1;

        fuzz_sources(data, size, text);

        r = vdpa_domain_xml_has_vdpa(text, "/dev/vhost-vdpa-0");
        check(r == 0 || r == 1 || r == -EINVAL);

        fuzz_numa(text, caps_xml);
        fuzz_numa(pinned_domain_xml, text);
        if (caps) {
                /* What follows the NUL is not NUL-terminated by itself. */
                g_autofree char *c = g_strndup(caps, size - (caps - (const char *) data));

                fuzz_numa(text, c);
        }

        fuzz_cpuset(text);
        return 0;
}
