/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "config.h"
#include "device.h"

#define TEST_PATH "/etc/vdpa-manager/test.conf"

/* ------------------------------------------------------------------ */
/* Hardware built by hand                                              */

static void hw_fill(VdpaHardware *hw, const char *name, VdpaParentKind kind,
                    const char *parent, const char *pf, const char *address,
                    uint16_t vendor, uint16_t product) {
        *hw = (VdpaHardware) {
                .name = g_strdup(name),
                .syspath = g_strdup_printf("/sys/devices/test/%s", name),
                .driver = g_strdup("vhost_vdpa"),
                .chardev = g_strdup("/dev/vhost-vdpa-0"),
                .parent_kind = kind,
                .parent_device = g_strdup(parent),
                .physical_function = g_strdup(pf),
                .address = g_strdup(address),
                .vendor_id = vendor,
                .product_id = product,
                .numa_node = 0,
        };
}

/* A ConnectX-6 Dx VF on PF 0000:04:00.0. */
static void hw_vf(VdpaHardware *hw) {
        hw_fill(hw, "vdpa0", VDPA_PARENT_KIND_VF, "0000:04:00.2", "0000:04:00.0", "0000:04:00.2", 0x15b3, 0x101e);
}

/* A vDPA device directly on a PF; inventory leaves physical_function
 * empty here, so the PF must be matched as its own physical function. */
static void hw_pf(VdpaHardware *hw) {
        hw_fill(hw, "pfvdpa", VDPA_PARENT_KIND_PF, "0000:05:00.0", "", "0000:05:00.0", 0x1af4, 0x1041);
}

/* A sub-function of PF 0000:06:00.0: Address is the PF. */
static void hw_sf(VdpaHardware *hw) {
        hw_fill(hw, "sf4", VDPA_PARENT_KIND_SF, "mlx5_core.sf.4", "0000:06:00.0", "0000:06:00.0", 0x15b3, 0x101d);
}

static void hw_virtual(VdpaHardware *hw) {
        hw_fill(hw, "vdpasim0", VDPA_PARENT_KIND_VIRTUAL, "", "", "", 0, 0);
        hw->numa_node = -1;
}

typedef struct {
        VdpaHardware vf, pf, sf, virt;
} Hw;

static void hw_all(Hw *h) {
        hw_vf(&h->vf);
        hw_pf(&h->pf);
        hw_sf(&h->sf);
        hw_virtual(&h->virt);
}

static void hw_all_clear(Hw *h) {
        vdpa_hardware_clear(&h->vf);
        vdpa_hardware_clear(&h->pf);
        vdpa_hardware_clear(&h->sf);
        vdpa_hardware_clear(&h->virt);
}

static VdpaConfig *load_ok(const char *text) {
        g_autoptr(GError) error = NULL;
        VdpaConfig *c;

        c = vdpa_config_load_from_data(text, strlen(text), TEST_PATH, &error);
        if (!c)
                g_test_message("unexpected error for:\n%s", text);
        g_assert_no_error(error);
        g_assert_nonnull(c);
        g_assert_cmpstr(c->path, ==, TEST_PATH);
        return c;
}

/* Allowed-ness of the four hand-built devices, as "vf pf sf virtual". */
static void assert_allowed(const char *text, bool vf, bool pf, bool sf, bool virt) {
        g_autoptr(VdpaConfig) c = load_ok(text);
        Hw h;

        hw_all(&h);
        g_test_message("config:\n%s", text);
        g_assert_cmpint(vdpa_config_device_allowed(c, &h.vf), ==, vf);
        g_assert_cmpint(vdpa_config_device_allowed(c, &h.pf), ==, pf);
        g_assert_cmpint(vdpa_config_device_allowed(c, &h.sf), ==, sf);
        g_assert_cmpint(vdpa_config_device_allowed(c, &h.virt), ==, virt);
        hw_all_clear(&h);
}

/* ------------------------------------------------------------------ */
/* Defaults, loading                                                   */

static void test_defaults(void) {
        g_autoptr(VdpaConfig) c = vdpa_config_new_default();
        Hw h;

        g_assert_null(c->path);
        g_assert_cmpstr(c->libvirt_uri, ==, "qemu:///system");
        g_assert_false(c->allow_virtual);
        g_assert_nonnull(c->rules);
        g_assert_cmpuint(c->rules->len, ==, 0);
        g_assert_cmpint(c->live_migration, ==, VDPA_MIGRATION_POLICY_BLOCK);

        hw_all(&h);
        g_assert_true(vdpa_config_device_allowed(c, &h.vf));
        g_assert_true(vdpa_config_device_allowed(c, &h.pf));
        g_assert_true(vdpa_config_device_allowed(c, &h.sf));
        g_assert_false(vdpa_config_device_allowed(c, &h.virt));
        hw_all_clear(&h);
}

static void test_empty_file(void) {
        g_autoptr(VdpaConfig) c = load_ok("");
        g_autoptr(VdpaConfig) d = load_ok("# only a comment\n\n   \n");

        g_assert_cmpstr(c->libvirt_uri, ==, "qemu:///system");
        g_assert_false(c->allow_virtual);
        g_assert_cmpuint(c->rules->len, ==, 0);
        g_assert_cmpint(c->live_migration, ==, VDPA_MIGRATION_POLICY_BLOCK);
        g_assert_cmpuint(d->rules->len, ==, 0);
}

static void test_partial_groups(void) {
        /* Groups present without their keys keep the defaults. */
        g_autoptr(VdpaConfig) c = load_ok("[Libvirt]\n[Devices]\n[Migration]\n");

        g_assert_cmpstr(c->libvirt_uri, ==, "qemu:///system");
        g_assert_false(c->allow_virtual);
        g_assert_cmpint(c->live_migration, ==, VDPA_MIGRATION_POLICY_BLOCK);
}

static const char *test_data_dir(void) {
        const char *d = g_getenv("VDPA_TEST_DATA");

        /* Set by tests/meson.build; run the test through meson. */
        g_assert_nonnull(d);
        return d;
}

static void test_load_full_file(void) {
        g_autofree char *path = g_build_filename(test_data_dir(), "config", "full.conf", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(VdpaConfig) c = NULL;
        const VdpaAllowRule *r;

        c = vdpa_config_load(path, true, &error);
        g_assert_no_error(error);
        g_assert_nonnull(c);

        g_assert_cmpstr(c->path, ==, path);
        g_assert_cmpstr(c->libvirt_uri, ==, "qemu+ssh://root@host.example/system");
        g_assert_true(c->allow_virtual);
        g_assert_cmpint(c->live_migration, ==, VDPA_MIGRATION_POLICY_AUTO);
        g_assert_cmpuint(c->rules->len, ==, 3);

        r = g_ptr_array_index(c->rules, 0);
        g_assert_cmpstr(r->name, ==, "cx6-vfs");
        g_assert_cmpstr(r->vendor, ==, "15b3");     /* 0x and upper case normalised */
        g_assert_cmpstr(r->product, ==, "101e");
        g_assert_null(r->address);
        g_assert_null(r->physical_function);
        g_assert_null(r->device_name);

        r = g_ptr_array_index(c->rules, 1);
        g_assert_cmpstr(r->name, ==, "port-a");
        g_assert_null(r->vendor);
        g_assert_null(r->product);
        g_assert_cmpstr(r->address, ==, "0000:04:*");

        r = g_ptr_array_index(c->rules, 2);
        g_assert_cmpstr(r->name, ==, "by-pf");
        g_assert_cmpstr(r->physical_function, ==, "0000:0[5-6]:00.0");
        g_assert_cmpstr(r->device_name, ==, "vdpa*");

        /* vf: cx6-vfs; pf (vendor 1af4, name pfvdpa): by-pf needs vdpa*, no;
         * sf (15b3:101d, PF 06, name sf4): none; virtual: AllowVirtual. */
        Hw h;
        hw_all(&h);
        g_assert_true(vdpa_config_device_allowed(c, &h.vf));
        g_assert_false(vdpa_config_device_allowed(c, &h.pf));
        g_assert_false(vdpa_config_device_allowed(c, &h.sf));
        g_assert_true(vdpa_config_device_allowed(c, &h.virt));
        g_free(h.sf.name);
        h.sf.name = g_strdup("vdpa-sf");
        g_assert_true(vdpa_config_device_allowed(c, &h.sf));
        hw_all_clear(&h);
}

static void test_load_missing(void) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VdpaConfig) c = NULL;
        const char *path = "/nonexistent/vdpa-manager/vdpa-manager.conf";

        c = vdpa_config_load(path, false, &error);
        g_assert_no_error(error);
        g_assert_nonnull(c);
        g_assert_null(c->path);
        g_assert_cmpstr(c->libvirt_uri, ==, "qemu:///system");
        g_clear_pointer(&c, vdpa_config_free);

        c = vdpa_config_load(path, true, &error);
        g_assert_null(c);
        g_assert_error(error, VDPA_CONFIG_ERROR, VDPA_CONFIG_ERROR_NOT_FOUND);
        g_assert_nonnull(strstr(error->message, path));
}

static void test_load_unreadable(void) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VdpaConfig) c = NULL;

        /* A directory is not "missing": even with must_exist false it is
         * an error, never silently the defaults. */
        c = vdpa_config_load(test_data_dir(), false, &error);
        g_assert_null(c);
        g_assert_nonnull(error);
        g_assert_nonnull(strstr(error->message, test_data_dir()));
}

static void test_load_bad_file(void) {
        g_autofree char *path = g_build_filename(test_data_dir(), "config", "bad-key.conf", NULL);
        g_autofree char *where = g_strdup_printf("%s:6:", path);
        g_autoptr(GError) error = NULL;
        g_autoptr(VdpaConfig) c = NULL;

        c = vdpa_config_load(path, false, &error);
        g_assert_null(c);
        g_assert_error(error, VDPA_CONFIG_ERROR, VDPA_CONFIG_ERROR_UNKNOWN_KEY);
        g_test_message("%s", error->message);
        g_assert_nonnull(strstr(error->message, where));
        g_assert_nonnull(strstr(error->message, "[Allow cx6-vfs]"));
        g_assert_nonnull(strstr(error->message, "Prodcut"));
        g_assert_nonnull(strstr(error->message, "Product"));  /* the suggestion */
}

static void test_load_tmp_file(void) {
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = g_dir_make_tmp("test-config-XXXXXX", &error);
        g_autofree char *path = NULL;
        g_autoptr(VdpaConfig) c = NULL;

        g_assert_no_error(error);
        path = g_build_filename(dir, "vdpa-manager.conf", NULL);
        g_assert_true(g_file_set_contents(path, "[Migration]\nLiveMigration=allow\n", -1, &error));
        g_assert_no_error(error);

        c = vdpa_config_load(path, true, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(c->path, ==, path);
        g_assert_cmpint(c->live_migration, ==, VDPA_MIGRATION_POLICY_ALLOW);

        g_assert_cmpint(g_unlink(path), ==, 0);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void test_load_length(void) {
        /* The length is honoured: what follows is not read. */
        static const char text[] = "[Devices]\nAllowVirtual=true\n[Garbage";
        g_autoptr(GError) error = NULL;
        g_autoptr(VdpaConfig) c = NULL;

        c = vdpa_config_load_from_data(text, strlen("[Devices]\nAllowVirtual=true\n"), TEST_PATH, &error);
        g_assert_no_error(error);
        g_assert_true(c->allow_virtual);
}

static void test_crlf(void) {
        g_autoptr(VdpaConfig) c = load_ok("[Devices]\r\nAllowVirtual=true\r\n[Allow a]\r\nVendor=15b3\r\n");
        g_autoptr(GError) error = NULL;
        g_autoptr(VdpaConfig) bad = NULL;
        const VdpaAllowRule *r;

        g_assert_true(c->allow_virtual);
        g_assert_cmpuint(c->rules->len, ==, 1);
        r = g_ptr_array_index(c->rules, 0);
        g_assert_cmpstr(r->vendor, ==, "15b3");

        bad = vdpa_config_load_from_data("[Devices]\r\n\r\nAllowVirtual=true\r\nFoo=1\r\n", (gsize) -1, TEST_PATH, &error);
        g_assert_null(bad);
        g_assert_error(error, VDPA_CONFIG_ERROR, VDPA_CONFIG_ERROR_UNKNOWN_KEY);
        g_assert_nonnull(strstr(error->message, TEST_PATH ":4:"));
}

static void test_layout(void) {
        /* Indentation, spaces around '=' and after ']', comments and blank
         * lines: accepted as GKeyFile accepts them, and line numbers still
         * right. */
        static const char text[] =
                "  # comment\n"                     /* 1 */
                "\n"                                /* 2 */
                "  [Devices]   \n"                  /* 3 */
                "\tAllowVirtual   =   true\n"       /* 4 */
                "   [Allow x]\n"                    /* 5 */
                "  Vendor = 15b3\n"                 /* 6 */
                "  Product =  0x101Q\n";            /* 7 */
        g_autoptr(VdpaConfig) c = load_ok("  [Devices]   \n\tAllowVirtual   =   true\n");
        g_autoptr(GError) error = NULL;
        g_autoptr(VdpaConfig) bad = NULL;

        g_assert_true(c->allow_virtual);

        bad = vdpa_config_load_from_data(text, sizeof text - 1, TEST_PATH, &error);
        g_assert_null(bad);
        g_assert_error(error, VDPA_CONFIG_ERROR, VDPA_CONFIG_ERROR_INVALID_VALUE);
        g_test_message("%s", error->message);
        g_assert_true(g_str_has_prefix(error->message, TEST_PATH ":7: [Allow x] Product: "));
        g_assert_nonnull(strstr(error->message, "'Q'"));
}

static void test_values(void) {
        g_autoptr(VdpaConfig) a = load_ok("[Libvirt]\nUri = test:///default\n[Devices]\nAllowVirtual = 1\n[Migration]\nLiveMigration=allow\n");
        g_autoptr(VdpaConfig) b = load_ok("[Devices]\nAllowVirtual=false\n[Migration]\nLiveMigration=block\n");

        g_assert_cmpstr(a->libvirt_uri, ==, "test:///default");
        g_assert_true(a->allow_virtual);
        g_assert_cmpint(a->live_migration, ==, VDPA_MIGRATION_POLICY_ALLOW);
        g_assert_false(b->allow_virtual);
        g_assert_cmpint(b->live_migration, ==, VDPA_MIGRATION_POLICY_BLOCK);
}

static void test_policy_strings(void) {
        VdpaMigrationPolicy p = VDPA_MIGRATION_POLICY_ALLOW;

        g_assert_cmpstr(vdpa_migration_policy_to_string(VDPA_MIGRATION_POLICY_BLOCK), ==, "block");
        g_assert_cmpstr(vdpa_migration_policy_to_string(VDPA_MIGRATION_POLICY_ALLOW), ==, "allow");
        g_assert_cmpstr(vdpa_migration_policy_to_string(VDPA_MIGRATION_POLICY_AUTO), ==, "auto");
        g_assert_null(vdpa_migration_policy_to_string((VdpaMigrationPolicy) 42));

        for (int i = VDPA_MIGRATION_POLICY_BLOCK; i <= VDPA_MIGRATION_POLICY_AUTO; i++) {
                g_assert_cmpint(vdpa_migration_policy_from_string(vdpa_migration_policy_to_string(i), &p), ==, 0);
                g_assert_cmpint(p, ==, i);
        }

        p = VDPA_MIGRATION_POLICY_ALLOW;
        g_assert_cmpint(vdpa_migration_policy_from_string("Block", &p), ==, -EINVAL);
        g_assert_cmpint(vdpa_migration_policy_from_string("", &p), ==, -EINVAL);
        g_assert_cmpint(vdpa_migration_policy_from_string(NULL, &p), ==, -EINVAL);
        g_assert_cmpint(p, ==, VDPA_MIGRATION_POLICY_ALLOW);   /* untouched on failure */
        g_assert_cmpint(vdpa_migration_policy_from_string("auto", NULL), ==, 0);
}

/* ------------------------------------------------------------------ */
/* Matching: "vf pf sf virtual"                                        */

static void test_match_vendor(void) {
        assert_allowed("[Allow a]\nVendor=15b3\n", true, false, true, false);
        assert_allowed("[Allow a]\nVendor=1af4\n", false, true, false, false);
        assert_allowed("[Allow a]\nVendor=8086\n", false, false, false, false);
}

static void test_match_product(void) {
        assert_allowed("[Allow a]\nProduct=101e\n", true, false, false, false);
        assert_allowed("[Allow a]\nProduct=101d\n", false, false, true, false);
        assert_allowed("[Allow a]\nProduct=101?\n", true, false, true, false);
        assert_allowed("[Allow a]\nProduct=1041\n", false, true, false, false);
        assert_allowed("[Allow a]\nProduct=ffff\n", false, false, false, false);
}

static void test_match_address(void) {
        /* The SF's Address is its PF's. */
        assert_allowed("[Allow a]\nAddress=0000:04:00.2\n", true, false, false, false);
        assert_allowed("[Allow a]\nAddress=0000:04:00.0\n", false, false, false, false);
        assert_allowed("[Allow a]\nAddress=0000:06:00.0\n", false, false, true, false);
        assert_allowed("[Allow a]\nAddress=0000:0[45]:*\n", true, true, false, false);
        /* "*" needs an address: a rule never matches a missing attribute. */
        assert_allowed("[Allow a]\nAddress=*\n", true, true, true, false);
        assert_allowed("[Allow a]\nAddress=0000:07:*\n", false, false, false, false);
}

static void test_match_address_case(void) {
        g_autoptr(VdpaConfig) c = load_ok("[Allow a]\nAddress=0000:0A:00.*\n[Allow b]\nPhysicalFunction=0000:0B:*\n");
        VdpaHardware hw;

        hw_fill(&hw, "vdpa9", VDPA_PARENT_KIND_VF, "0000:0a:00.3", "0000:0a:00.0", "0000:0a:00.3", 0x15b3, 0x101e);
        g_assert_true(vdpa_config_device_allowed(c, &hw));
        vdpa_hardware_clear(&hw);

        hw_fill(&hw, "vdpa9", VDPA_PARENT_KIND_VF, "0000:0c:00.3", "0000:0b:00.0", "0000:0c:00.3", 0x15b3, 0x101e);
        g_assert_true(vdpa_config_device_allowed(c, &hw));
        vdpa_hardware_clear(&hw);

        hw_fill(&hw, "vdpa9", VDPA_PARENT_KIND_VF, "0000:0c:00.3", "0000:0c:00.0", "0000:0c:00.3", 0x15b3, 0x101e);
        g_assert_false(vdpa_config_device_allowed(c, &hw));
        vdpa_hardware_clear(&hw);
}

static void test_match_physical_function(void) {
        assert_allowed("[Allow a]\nPhysicalFunction=0000:04:00.0\n", true, false, false, false);
        assert_allowed("[Allow a]\nPhysicalFunction=0000:06:00.0\n", false, false, true, false);
        /* A PF-parented device is its own physical function. */
        assert_allowed("[Allow a]\nPhysicalFunction=0000:05:00.0\n", false, true, false, false);
        assert_allowed("[Allow a]\nPhysicalFunction=0000:04:00.2\n", false, false, false, false);
        assert_allowed("[Allow a]\nPhysicalFunction=*\n", true, true, true, false);
}

static void test_match_physical_function_missing(void) {
        /* A VF whose PF inventory could not find: PhysicalFunction never
         * matches it, not even "*". */
        g_autoptr(VdpaConfig) c = load_ok("[Allow a]\nPhysicalFunction=*\n");
        g_autoptr(VdpaConfig) d = load_ok("[Allow a]\nAddress=*\n");
        VdpaHardware hw;

        hw_fill(&hw, "vdpa0", VDPA_PARENT_KIND_VF, "0000:04:00.2", "", "0000:04:00.2", 0x15b3, 0x101e);
        g_assert_false(vdpa_config_device_allowed(c, &hw));
        g_assert_true(vdpa_config_device_allowed(d, &hw));
        vdpa_hardware_clear(&hw);
}

static void test_match_name(void) {
        assert_allowed("[Allow a]\nName=vdpa0\n", true, false, false, false);
        assert_allowed("[Allow a]\nName=sf*\n", false, false, true, false);
        assert_allowed("[Allow a]\nName=*\n", true, true, true, false);
        /* Names are case-sensitive, as the kernel's are. */
        assert_allowed("[Allow a]\nName=VDPA0\n", false, false, false, false);
        /* Rules never see virtual devices, even by name. */
        assert_allowed("[Allow a]\nName=vdpasim*\n", false, false, false, false);
}

static void test_match_virtual(void) {
        assert_allowed("[Devices]\nAllowVirtual=true\n", true, true, true, true);
        assert_allowed("[Devices]\nAllowVirtual=false\n", true, true, true, false);
        /* Rules do not restrict virtual devices either: AllowVirtual alone. */
        assert_allowed("[Devices]\nAllowVirtual=true\n[Allow a]\nVendor=8086\n", false, false, false, true);
        assert_allowed("[Devices]\nAllowVirtual=true\n[Allow a]\nName=nothing-like-this\n", false, false, false, true);
}

static void test_match_or(void) {
        assert_allowed("[Allow a]\nName=vdpa0\n[Allow b]\nName=sf4\n", true, false, true, false);
        assert_allowed("[Allow a]\nVendor=1af4\n[Allow b]\nAddress=0000:04:00.2\n", true, true, false, false);
        assert_allowed("[Allow a]\nVendor=8086\n[Allow b]\nName=nope\n", false, false, false, false);
}

static void test_match_and(void) {
        /* Both keys must match. */
        assert_allowed("[Allow a]\nVendor=15b3\nProduct=101e\n", true, false, false, false);
        assert_allowed("[Allow a]\nVendor=15b3\nProduct=101d\n", false, false, true, false);
        assert_allowed("[Allow a]\nVendor=15b3\nProduct=1041\n", false, false, false, false);
        assert_allowed("[Allow a]\nVendor=15b3\nName=sf4\nPhysicalFunction=0000:06:00.0\nAddress=0000:06:*\nProduct=101d\n",
                       false, false, true, false);
        assert_allowed("[Allow a]\nVendor=15b3\nName=sf4\nPhysicalFunction=0000:04:00.0\n", false, false, false, false);
}

static void test_hex_normalisation(void) {
        static const char *const vendors[] = {
                "15b3", "15B3", "0x15b3", "0X15B3", "0x15B3", "15?3", "0x15[a-c]3", "0x15[A-C]3", "*b3", "1[0-5]b?",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(vendors); i++) {
                g_autofree char *text = g_strdup_printf("[Allow a]\nVendor=%s\n", vendors[i]);
                assert_allowed(text, true, false, true, false);
        }

        assert_allowed("[Allow a]\nVendor=*\n", true, true, true, false);

        /* A short literal ID is padded: 0x1e means 001e. */
        g_autoptr(VdpaConfig) c = load_ok("[Allow a]\nProduct=0x1e\n[Allow b]\nVendor=0X15B3\n[Allow c]\nVendor=0x[A-F]*\n");
        const VdpaAllowRule *r = g_ptr_array_index(c->rules, 0);
        g_assert_cmpstr(r->product, ==, "001e");
        r = g_ptr_array_index(c->rules, 1);
        g_assert_cmpstr(r->vendor, ==, "15b3");
        r = g_ptr_array_index(c->rules, 2);
        g_assert_cmpstr(r->vendor, ==, "[a-f]*");

        VdpaHardware hw;
        hw_fill(&hw, "x", VDPA_PARENT_KIND_VF, "0000:01:00.1", "0000:01:00.0", "0000:01:00.1", 0x1234, 0x001e);
        g_assert_true(vdpa_config_device_allowed(c, &hw));
        hw.product_id = 0x101e;
        g_assert_false(vdpa_config_device_allowed(c, &hw));
        hw.vendor_id = 0xabcd;
        g_assert_true(vdpa_config_device_allowed(c, &hw));
        vdpa_hardware_clear(&hw);
}

static void test_rule_names(void) {
        g_autoptr(VdpaConfig) c = load_ok("[Allow  spaced name ]\nName=x\n[Allow b]\nName=y\n");
        const VdpaAllowRule *r;

        g_assert_cmpuint(c->rules->len, ==, 2);
        r = g_ptr_array_index(c->rules, 0);
        g_assert_cmpstr(r->name, ==, "spaced name");
        r = g_ptr_array_index(c->rules, 1);
        g_assert_cmpstr(r->name, ==, "b");
}

/* ------------------------------------------------------------------ */
/* Rejections                                                          */

typedef struct BadCase {
        const char *id;
        const char *text;
        VdpaConfigError code;
        unsigned line;            /* 0: no line number expected */
        const char *needles[4];   /* further substrings of the message */
} BadCase;

static const BadCase bad_cases[] = {
        { "unknown-group", "[Libvirt]\nUri=qemu:///system\n\n[Foo]\nBar=1\n",
          VDPA_CONFIG_ERROR_UNKNOWN_GROUP, 4, { "[Foo]", "unknown group" } },
        { "unknown-group-case", "# lower case\n[libvirt]\nUri=qemu:///system\n",
          VDPA_CONFIG_ERROR_UNKNOWN_GROUP, 2, { "[libvirt]", "did you mean [Libvirt]" } },
        { "unknown-group-allowx", "[Allowed x]\nName=x\n",
          VDPA_CONFIG_ERROR_UNKNOWN_GROUP, 1, { "[Allowed x]", "Allow NAME" } },
        { "unknown-key-libvirt", "[Libvirt]\nUri=qemu:///system\nUrl=qemu:///session\n",
          VDPA_CONFIG_ERROR_UNKNOWN_KEY, 3, { "[Libvirt] Url", "unknown key" } },
        { "unknown-key-devices", "[Devices]\n\n\nAllowVirtal=true\n",
          VDPA_CONFIG_ERROR_UNKNOWN_KEY, 4, { "[Devices] AllowVirtal", "AllowVirtual" } },
        { "unknown-key-devices-case", "[Devices]\nallowvirtual=true\n",
          VDPA_CONFIG_ERROR_UNKNOWN_KEY, 2, { "[Devices] allowvirtual", "did you mean 'AllowVirtual'" } },
        { "unknown-key-migration", "[Migration]\nLiveMigration=block\nPolicy=allow\n",
          VDPA_CONFIG_ERROR_UNKNOWN_KEY, 3, { "[Migration] Policy" } },
        { "unknown-key-allow", "[Allow cx6]\nVendor=15b3\nDevice=101e\n",
          VDPA_CONFIG_ERROR_UNKNOWN_KEY, 3, { "[Allow cx6] Device", "Product" } },
        { "unknown-key-localized", "[Allow cx6]\nName=x\nName[de]=y\n",
          VDPA_CONFIG_ERROR_UNKNOWN_KEY, 3, { "[Allow cx6] Name[de]" } },
        { "bad-bool", "[Devices]\nAllowVirtual=yes\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Devices] AllowVirtual", "'yes'", "boolean" } },
        { "bad-policy", "[Migration]\n# comment\nLiveMigration=never\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Migration] LiveMigration", "'never'", "block, allow or auto" } },
        { "bad-policy-case", "[Migration]\nLiveMigration=Block\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Migration] LiveMigration", "'Block'" } },
        { "empty-uri", "[Libvirt]\nUri=\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Libvirt] Uri", "empty" } },
        { "blank-uri", "[Libvirt]\nUri=   \\s  \n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Libvirt] Uri", "empty" } },
        { "glob-unbalanced-bracket", "[Allow a]\nAddress=0000:04:[0-9\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Address", "unbalanced '['" } },
        { "glob-unbalanced-close", "[Allow a]\nName=vdpa]\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Name", "unbalanced ']'" } },
        { "glob-trailing-backslash", "[Allow a]\nName=vdpa\\\\\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Name", "'\\'" } },
        { "glob-bad-escape", "[Allow a]\nName=vdpa\\*\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Name", "'vdpa\\*'", "escape" } },
        { "two-bad-escapes", "[Allow a]\nName=a\\q\\\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Name", "'\\q'" } },
        { "lone-backslash", "[Libvirt]\nUri=qemu:///system\\\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Libvirt] Uri", "lone" } },
        { "name-control-char", "[Allow a]\nName=vd\\tpa\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Name", "'vd\\x09pa'", "'\\x09' not allowed" } },
        { "name-not-utf8", "[Allow a]\nName=vd\xffpa\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Name", "UTF-8" } },
        { "address-bad-char", "[Allow a]\nAddress=0000:04:00.2x\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Address", "'x'" } },
        { "pf-bad-char", "[Allow a]\nPhysicalFunction=pci-0000:04:00.0\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] PhysicalFunction", "'p'" } },
        { "pf-bad-set", "[Allow a]\nPhysicalFunction=0000:04:00.[0z]\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] PhysicalFunction", "'z'" } },
        { "vendor-bad-char", "[Allow a]\nVendor=15g3\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Vendor", "'g'" } },
        { "vendor-too-long", "[Allow a]\nVendor=0x015b3\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Vendor", "more than 4" } },
        { "vendor-only-0x", "[Allow a]\nVendor=0x\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Vendor", "empty pattern" } },
        { "vendor-trailing-comment", "[Allow a]\nVendor=15b3 # ConnectX\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Allow a] Vendor", "' '" } },
        { "product-empty", "[Allow a]\nVendor=15b3\nProduct=\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Allow a] Product", "empty pattern" } },
        { "allow-no-name", "[Devices]\nAllowVirtual=true\n[Allow]\nName=x\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Allow]", "without a name" } },
        { "allow-blank-name", "[Allow   ]\nName=x\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 1, { "[Allow   ]", "without a name" } },
        { "allow-no-keys", "[Allow cx6]\n\n[Migration]\nLiveMigration=block\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 1, { "[Allow cx6]", "no keys", "every device" } },
        { "allow-same-name", "[Allow a]\nName=x\n[Allow  a]\nName=y\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Allow  a]", "already defined" } },
        { "duplicate-key", "[Allow a]\nVendor=15b3\nVendor=8086\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Allow a] Vendor", "twice" } },
        { "duplicate-key-spaced", "[Libvirt]\nUri=qemu:///system\nUri = test:///default\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Libvirt] Uri", "twice" } },
        { "duplicate-group", "[Devices]\nAllowVirtual=true\n\n[Devices]\nAllowVirtual=false\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 4, { "[Devices]", "twice" } },
        { "garbage-line", "[Devices]\nAllowVirtual=true\nthis is not a key\n",
          VDPA_CONFIG_ERROR_PARSE, 3, { "this is not a key" } },
        { "key-before-group", "# hello\nUri=qemu:///system\n[Libvirt]\n",
          VDPA_CONFIG_ERROR_PARSE, 2, { NULL } },
        { "group-name-tab", "[Libvirt]\n[Allow\tb]\nName=y\n",
          VDPA_CONFIG_ERROR_PARSE, 2, { "Invalid group name" } },
        { "unclosed-group", "[Libvirt]\nUri=qemu:///system\n[Devices\n",
          VDPA_CONFIG_ERROR_PARSE, 3, { NULL } },
        /* [Provision NAME] (DESIGN.md §8) */
        { "provision-no-mgmtdev", "[Provision cx6]\nMtu=9000\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 1, { "[Provision cx6]", "ManagementDevice missing" } },
        { "provision-no-name", "[Provision]\nManagementDevice=pci/*\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 1, { "[Provision]", "without a name" } },
        { "provision-same-name", "[Provision a]\nManagementDevice=pci/*\n[Provision  a]\nManagementDevice=x\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision  a]", "already defined" } },
        { "provision-unknown-key", "[Provision a]\nManagementDevice=pci/*\nmtu=1500\n",
          VDPA_CONFIG_ERROR_UNKNOWN_KEY, 3, { "[Provision a] mtu", "did you mean 'Mtu'" } },
        { "provision-group-case", "[provision a]\nManagementDevice=pci/*\n",
          VDPA_CONFIG_ERROR_UNKNOWN_GROUP, 1, { "[provision a]", "Provision NAME" } },
        { "provision-bad-glob", "[Provision a]\nManagementDevice=pci/0000:04:00.[2-7\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Provision a] ManagementDevice", "unbalanced '['" } },
        { "provision-glob-blank", "[Provision a]\nManagementDevice=pci/0000:04 00.*\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 2, { "[Provision a] ManagementDevice", "' '" } },
        { "provision-mtu-low", "[Provision a]\nManagementDevice=pci/*\nMtu=67\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision a] Mtu", "'67'", "68 to 65535" } },
        { "provision-mtu-word", "[Provision a]\nManagementDevice=pci/*\nMtu=jumbo\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision a] Mtu", "'jumbo'" } },
        { "provision-vqp-zero", "[Provision a]\nManagementDevice=pci/*\n\nMaxQueuePairs=0\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 4, { "[Provision a] MaxQueuePairs", "1 to 65535" } },
        { "provision-vqp-big", "[Provision a]\nManagementDevice=pci/*\nMaxQueuePairs=65536\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision a] MaxQueuePairs", "'65536'" } },
        { "provision-mac-value", "[Provision a]\nManagementDevice=pci/*\nMac=00:11:22:33:44:55\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision a] Mac", "expected auto" } },
        { "provision-name-no-index", "[Provision a]\nManagementDevice=pci/*\nName=vdpa\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision a] Name", "exactly one %n" } },
        { "provision-name-two-index", "[Provision a]\nManagementDevice=pci/*\nName=v%n-%n\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision a] Name", "exactly one %n" } },
        { "provision-name-slash", "[Provision a]\nManagementDevice=pci/*\nName=a/%n\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision a] Name", "only letters, digits" } },
        { "provision-name-bang", "[Provision a]\nManagementDevice=pci/*\nName=vf!%n\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision a] Name", "'vf!%n'" } },
        { "provision-name-bracket", "[Provision a]\nManagementDevice=pci/*\nName=vdpa[%n]\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision a] Name", "only letters, digits" } },
        { "provision-name-dash", "[Provision a]\nManagementDevice=pci/*\nName=-v%n\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision a] Name", "must not start with '-'" } },
        { "provision-name-long", "[Provision a]\nManagementDevice=pci/*\n"
          "Name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%n\n",
          VDPA_CONFIG_ERROR_INVALID_VALUE, 3, { "[Provision a] Name", "longer than 64" } },
};

/* A full [Provision] group, its defaults, matching and naming. */
static void test_provision(void) {
        static const char text[] =
                "[Provision port0]\n"
                "ManagementDevice=pci/0000:04:00.[2-7]\n"
                "MaxQueuePairs=4\n"
                "Mtu=9000\n"
                "Mac=auto\n"
                "Name=p0-%n\n"
                "\n"
                "[Provision sfs]\n"
                "ManagementDevice=auxiliary/mlx5_core.sf.*\n";
        g_autoptr(GError) error = NULL;
        g_autoptr(VdpaConfig) c = vdpa_config_load_from_data(text, strlen(text), TEST_PATH, &error);
        const VdpaProvisionRule *a, *b;
        g_autofree char *n1 = NULL, *n2 = NULL;

        g_assert_no_error(error);
        g_assert_nonnull(c);
        g_assert_cmpuint(c->provision->len, ==, 2);
        a = g_ptr_array_index(c->provision, 0);
        b = g_ptr_array_index(c->provision, 1);
        g_assert_cmpstr(a->name, ==, "port0");
        g_assert_cmpstr(a->mgmtdev, ==, "pci/0000:04:00.[2-7]");
        g_assert_cmpuint(a->max_queue_pairs, ==, 4);
        g_assert_cmpuint(a->mtu, ==, 9000);
        g_assert_true(a->mac_auto);
        g_assert_cmpuint(a->line, ==, 1);
        g_assert_cmpstr(b->name, ==, "sfs");
        g_assert_cmpuint(b->max_queue_pairs, ==, 0);
        g_assert_cmpuint(b->mtu, ==, 0);
        g_assert_false(b->mac_auto);
        g_assert_cmpstr(b->name_pattern, ==, "vdpa%n");
        g_assert_cmpuint(b->line, ==, 8);

        g_assert_true(vdpa_provision_rule_matches(a, "pci/0000:04:00.2"));
        g_assert_true(vdpa_provision_rule_matches(a, "pci/0000:04:00.7"));
        g_assert_false(vdpa_provision_rule_matches(a, "pci/0000:04:00.1"));
        g_assert_false(vdpa_provision_rule_matches(a, "auxiliary/mlx5_core.sf.4"));
        g_assert_true(vdpa_provision_rule_matches(b, "auxiliary/mlx5_core.sf.4"));
        g_assert_false(vdpa_provision_rule_matches(b, "vdpasim_net"));
        n1 = vdpa_provision_rule_format_name(a, 12);
        n2 = vdpa_provision_rule_format_name(b, 0);
        g_assert_cmpstr(n1, ==, "p0-12");
        g_assert_cmpstr(n2, ==, "vdpa0");
}

static void test_bad(gconstpointer data) {
        const BadCase *b = data;
        g_autoptr(GError) error = NULL;
        g_autoptr(VdpaConfig) c = NULL;

        c = vdpa_config_load_from_data(b->text, strlen(b->text), TEST_PATH, &error);
        g_assert_null(c);
        g_assert_nonnull(error);
        g_test_message("%s → %s", b->id, error->message);
        g_assert_error(error, VDPA_CONFIG_ERROR, (gint) b->code);

        if (b->line > 0) {
                g_autofree char *where = g_strdup_printf(TEST_PATH ":%u: ", b->line);
                g_assert_true(g_str_has_prefix(error->message, where));
        } else
                g_assert_true(g_str_has_prefix(error->message, TEST_PATH ": "));

        for (size_t i = 0; i < G_N_ELEMENTS(b->needles) && b->needles[i]; i++)
                if (!strstr(error->message, b->needles[i]))
                        g_error("%s: message '%s' lacks '%s'", b->id, error->message, b->needles[i]);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/config/defaults", test_defaults);
        g_test_add_func("/config/empty-file", test_empty_file);
        g_test_add_func("/config/partial-groups", test_partial_groups);
        g_test_add_func("/config/values", test_values);
        g_test_add_func("/config/layout", test_layout);
        g_test_add_func("/config/policy-strings", test_policy_strings);
        g_test_add_func("/config/load/full-file", test_load_full_file);
        g_test_add_func("/config/load/missing", test_load_missing);
        g_test_add_func("/config/load/unreadable", test_load_unreadable);
        g_test_add_func("/config/load/bad-file", test_load_bad_file);
        g_test_add_func("/config/load/tmp-file", test_load_tmp_file);
        g_test_add_func("/config/load/length", test_load_length);
        g_test_add_func("/config/load/crlf", test_crlf);
        g_test_add_func("/config/match/vendor", test_match_vendor);
        g_test_add_func("/config/match/product", test_match_product);
        g_test_add_func("/config/match/address", test_match_address);
        g_test_add_func("/config/match/address-case", test_match_address_case);
        g_test_add_func("/config/match/physical-function", test_match_physical_function);
        g_test_add_func("/config/match/physical-function-missing", test_match_physical_function_missing);
        g_test_add_func("/config/match/name", test_match_name);
        g_test_add_func("/config/match/virtual", test_match_virtual);
        g_test_add_func("/config/match/or", test_match_or);
        g_test_add_func("/config/match/and", test_match_and);
        g_test_add_func("/config/match/hex-normalisation", test_hex_normalisation);
        g_test_add_func("/config/rule-names", test_rule_names);
        g_test_add_func("/config/provision", test_provision);

        for (size_t i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
                g_autofree char *name = g_strdup_printf("/config/bad/%s", bad_cases[i].id);
                g_test_add_data_func(name, &bad_cases[i], test_bad);
        }

        return g_test_run();
}
