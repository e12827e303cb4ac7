/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "broker.h"
#include "claims.h"

static Claim sample(const char *device, ClaimPhase phase) {
        return (Claim) {
                .device = (char *) device,
                .domain = (char *) "guest-a",
                .domain_uuid = (char *) "6695eb01-f6a4-8304-79aa-97f2502e193f",
                .chardev = (char *) "/dev/vhost-vdpa-0",
                .mac = (char *) "52:54:00:11:22:33",
                .xml = (char *) "<interface type=\"vdpa\">\n  <source dev=\"/dev/vhost-vdpa-0\"/>\n</interface>",
                .uid = 1000,
                .live = false,
                .config = true,
                .phase = phase,
        };
}

static void assert_claim_equal(const Claim *a, const Claim *b) {
        g_assert_cmpstr(a->device, ==, b->device);
        g_assert_cmpstr(a->domain, ==, b->domain);
        g_assert_cmpstr(a->domain_uuid, ==, b->domain_uuid);
        g_assert_cmpstr(a->chardev, ==, b->chardev);
        g_assert_cmpstr(a->mac, ==, b->mac);
        g_assert_cmpstr(a->xml, ==, b->xml);
        g_assert_cmpuint(a->uid, ==, b->uid);
        g_assert_cmpint(a->live, ==, b->live);
        g_assert_cmpint(a->config, ==, b->config);
        g_assert_cmpint(a->phase, ==, b->phase);
}

static char *tmpdir(void) {
        g_autoptr(GError) error = NULL;
        char *d = g_dir_make_tmp("vdpa-claims-XXXXXX", &error);

        g_assert_no_error(error);
        return d;
}

static void rm_rf(const char *dir) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *n;

        while (d && (n = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(dir, n, NULL);
                g_unlink(p);
        }
        g_rmdir(dir);
}

static void test_roundtrip(void) {
        g_autofree char *dir = tmpdir();
        g_autoptr(Claims) c = claims_new(dir);
        g_autoptr(Claims) again = NULL;
        g_autoptr(GError) error = NULL;
        Claim a = sample("vdpa0", CLAIM_PHASE_ACTIVE), b = sample("fast1", CLAIM_PHASE_INTENT);

        g_assert_cmpint(claims_load(c, &error), ==, 0);      /* no file: empty */
        g_assert_cmpuint(claims_count(c), ==, 0);
        g_assert_cmpint(claims_put(c, &a, &error), ==, 0);
        g_assert_cmpint(claims_put(c, &b, &error), ==, 0);
        g_assert_no_error(error);

        again = claims_new(dir);
        g_assert_cmpint(claims_load(again, &error), ==, 0);
        g_assert_cmpuint(claims_count(again), ==, 2);
        assert_claim_equal(claims_get(again, "vdpa0"), &a);
        assert_claim_equal(claims_get(again, "fast1"), &b);

        g_assert_cmpint(claims_remove(again, "vdpa0", &error), ==, 0);
        g_assert_cmpint(claims_remove(again, "nonexistent", &error), ==, 0);
        g_clear_pointer(&again, claims_free);
        again = claims_new(dir);
        g_assert_cmpint(claims_load(again, &error), ==, 0);
        g_assert_cmpuint(claims_count(again), ==, 1);
        g_assert_null(claims_get(again, "vdpa0"));

        rm_rf(dir);
}

/* Hostile values survive the keyfile escaping intact. */
static void test_escaping(void) {
        g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify) claim_free);
        g_autoptr(GHashTable) back = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *data = NULL;
        Claim c = sample("weird]name[", CLAIM_PHASE_ACTIVE);
        gsize len;

        c.domain = (char *) "dom\nwith=newline;and#hash\\";
        c.xml = (char *) "<a b='c'>\n\t</a>";
        g_hash_table_insert(t, c.device, claim_dup(&c));
        data = claims_to_data(t, &len);
        back = claims_from_data(data, len, &error);
        g_assert_no_error(error);
        assert_claim_equal(g_hash_table_lookup(back, c.device), &c);
}

static void test_corrupt_moved_aside(void) {
        static const char *const bad[] = {
                "garbage without a group\n",
                "[Claim 0]\nDevice=vdpa0\nPhase=intent\n",                              /* missing keys */
                "[Claim 0]\nDevice=vdpa0\nPhase=maybe\nDomain=d\nDomainUuid=\nChardev=/dev/x\nMac=m\nXml=x\nUid=1\nLive=false\nConfig=true\n",
                "[Claim 0]\nDevice=vdpa0\nPhase=active\nDomain=d\nDomainUuid=\nChardev=/dev/x\nMac=m\nXml=x\nUid=99999999999\nLive=false\nConfig=true\n",
                "[Claim 0]\nDevice=vdpa0\nPhase=active\nDomain=d\nDomainUuid=\nChardev=/dev/x\nMac=m\nXml=x\nUid=1\nLive=perhaps\nConfig=true\n",
                "[Other]\nKey=1\n",
                "[Claim 0]\nPhase=active\n",
                /* the same device twice */
                "[Claim 0]\nDevice=v\nPhase=active\nDomain=d\nDomainUuid=\nChardev=/dev/x\nMac=m\nXml=x\nUid=1\nLive=false\nConfig=true\n[Claim 1]\nDevice=v\nPhase=active\nDomain=d\nDomainUuid=\nChardev=/dev/x\nMac=m\nXml=x\nUid=1\nLive=false\nConfig=true\n",
                "[Claim 0]\nDevice=vdpa0\nPhase=active\nDomain=\nDomainUuid=\nChardev=/dev/x\nMac=m\nXml=x\nUid=1\nLive=false\nConfig=true\n",
                "\xff\xfe[Claim",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree char *dir = tmpdir();
                g_autofree char *path = g_build_filename(dir, "claims", NULL);
                g_autoptr(Claims) c = claims_new(dir);
                g_autoptr(GError) error = NULL;
                g_autoptr(GDir) d = NULL;
                const char *n;
                guint aside = 0;

                g_assert_true(g_file_set_contents(path, bad[i], -1, NULL));
                g_assert_cmpint(claims_load(c, &error), ==, -EBADMSG);
                g_assert_nonnull(error);
                g_assert_nonnull(strstr(error->message, "moved aside"));
                g_assert_cmpuint(claims_count(c), ==, 0);
                g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));

                d = g_dir_open(dir, 0, NULL);
                while ((n = g_dir_read_name(d)))
                        if (g_str_has_prefix(n, "claims.corrupt-"))
                                aside++;
                g_assert_cmpuint(aside, ==, 1);
                g_clear_pointer(&d, g_dir_close);
                rm_rf(dir);
        }
}

/* A failed write changes nothing, in memory or on disk. */
static void test_write_failure_changes_nothing(void) {
        g_autofree char *dir = tmpdir();
        g_autofree char *blocker = g_build_filename(dir, "not-a-dir", NULL);
        g_autoptr(Claims) c = NULL;
        g_autoptr(GError) error = NULL;
        Claim a = sample("vdpa0", CLAIM_PHASE_ACTIVE);

        /* A state "directory" that is a file: even root cannot write there. */
        g_assert_true(g_file_set_contents(blocker, "", -1, NULL));
        c = claims_new(blocker);
        g_assert_cmpint(claims_put(c, &a, &error), ==, -EIO);
        g_assert_nonnull(error);
        g_assert_cmpuint(claims_count(c), ==, 0);
        g_unlink(blocker);
        rm_rf(dir);
}

static void test_file_mode_and_atomic(void) {
        g_autofree char *dir = tmpdir();
        g_autofree char *path = g_build_filename(dir, "claims", NULL);
        g_autoptr(Claims) c = claims_new(dir);
        g_autoptr(GError) error = NULL;
        Claim a = sample("vdpa0", CLAIM_PHASE_ACTIVE);
        struct stat st;
        g_autoptr(GDir) d = NULL;
        const char *n;

        g_assert_cmpint(claims_put(c, &a, &error), ==, 0);
        g_assert_cmpint(g_stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0600);
        /* No temporary file is left behind. */
        d = g_dir_open(dir, 0, NULL);
        while ((n = g_dir_read_name(d)))
                g_assert_cmpstr(n, ==, "claims");
        g_clear_pointer(&d, g_dir_close);
        rm_rf(dir);
}

static void test_generated_mac(void) {
        g_autofree char *a = broker_generate_mac("vdpa0", "6695eb01-f6a4-8304-79aa-97f2502e193f");
        g_autofree char *b = broker_generate_mac("vdpa0", "6695eb01-f6a4-8304-79aa-97f2502e193f");
        g_autofree char *c = broker_generate_mac("vdpa1", "6695eb01-f6a4-8304-79aa-97f2502e193f");
        g_autofree char *d = broker_generate_mac("vdpa0", "7795eb01-f6a4-8304-79aa-97f2502e1940");
        guint first;

        g_assert_cmpstr(a, ==, b);           /* stable */
        g_assert_cmpstr(a, !=, c);
        g_assert_cmpstr(a, !=, d);
        for (guint i = 0; i < 200; i++) {
                g_autofree char *dev = g_strdup_printf("dev%u", i);
                g_autofree char *m = broker_generate_mac(dev, "u");

                g_assert_cmpuint(strlen(m), ==, 17);
                g_assert_true(sscanf(m, "%x:", &first) == 1);
                g_assert_cmpuint(first & 0x01, ==, 0);    /* unicast */
                g_assert_cmpuint(first & 0x02, ==, 0x02); /* locally administered */
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/claims/roundtrip", test_roundtrip);
        g_test_add_func("/claims/escaping", test_escaping);
        g_test_add_func("/claims/corrupt-moved-aside", test_corrupt_moved_aside);
        g_test_add_func("/claims/write-failure-changes-nothing", test_write_failure_changes_nothing);
        g_test_add_func("/claims/file-mode-and-atomic", test_file_mode_and_atomic);
        g_test_add_func("/claims/generated-mac", test_generated_mac);
        return g_test_run();
}
