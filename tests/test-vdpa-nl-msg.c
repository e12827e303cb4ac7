/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pure vdpa netlink message code (daemon/vdpa-nl-msg.c): requests byte
 * for byte, and answers shaped as the 6.1 kernel sends them
 * (docs/vdpa-netlink.md §1, §2, §5) built here by hand.  With
 * --write-corpus DIR it writes those answers as the fuzz seed corpus
 * (tests/fuzz/corpus-vdpa-nl/) instead.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>

#include "vdpa-nl-msg.h"
#include "fuzz/vdpa-nl-fuzz.h"

#define FAMILY VDPA_NL_FUZZ_FAMILY
#define SEQ VDPA_NL_FUZZ_SEQ
#define PORTID VDPA_NL_FUZZ_PORTID

/* --- datagrams as the kernel builds them --- */

typedef struct Dgram {
        union {
                struct nlmsghdr nlh;
                char bytes[8192];
        } u;
        size_t len;
        struct nlmsghdr *cur;   /* the message being built */
} Dgram;

static void dg_reset(Dgram *d) {
        memset(d, 0, sizeof *d);
}

/* Ends the message being built: the next one starts after it. */
static void dg_close(Dgram *d) {
        if (d->cur)
                d->len += NLMSG_ALIGN(d->cur->nlmsg_len);
        d->cur = NULL;
}

static struct nlmsghdr *dg_put(Dgram *d, uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid) {
        struct nlmsghdr *nlh;

        dg_close(d);
        nlh = mnl_nlmsg_put_header(d->u.bytes + d->len);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = flags;
        nlh->nlmsg_seq = seq;
        nlh->nlmsg_pid = pid;
        d->cur = nlh;
        return nlh;
}

/* A genl data message (replies carry version 1); a dump's with NLM_F_MULTI. */
static struct nlmsghdr *dg_genl(Dgram *d, uint16_t type, bool multi, uint8_t cmd) {
        struct nlmsghdr *nlh = dg_put(d, type, multi ? NLM_F_MULTI : 0, SEQ, PORTID);
        struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof *g);

        g->cmd = cmd;
        g->version = 1;
        return nlh;
}

/* nla_put_u64_64bit(): a zero-length VDPA_ATTR_PAD first when the payload
 * would not be 8-byte aligned. */
static void put_u64_padded(Dgram *d, uint16_t type, uint64_t v) {
        size_t tail = (const char *) mnl_nlmsg_get_payload_tail(d->cur) - d->u.bytes;

        if ((tail + MNL_ATTR_HDRLEN) % 8 != 0)
                mnl_attr_put(d->cur, VDPA_ATTR_PAD, 0, NULL);
        mnl_attr_put_u64(d->cur, type, v);
}

static void dg_ack(Dgram *d, uint32_t seq, int error, const char *extack, bool capped) {
        /* The request the ERROR echoes: a GETFAMILY-sized header + genl. */
        struct {
                struct nlmsghdr h;
                struct genlmsghdr g;
                char attrs[8];
        } req = { { sizeof req, FAMILY, NLM_F_REQUEST | NLM_F_ACK, seq, 0 }, { 3, 1, 0 }, "ABCDEFG" };
        struct nlmsghdr *nlh = dg_put(d, NLMSG_ERROR, capped ? NLM_F_CAPPED : 0, seq, PORTID);
        struct nlmsgerr *e = mnl_nlmsg_put_extra_header(nlh, capped ? sizeof *e : sizeof(int) + sizeof req);

        e->error = error;
        memcpy(&e->msg, &req, capped ? sizeof req.h : sizeof req);
        if (extack) {
                nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
                mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, extack);
                mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 20);
        }
}

static void dg_done(Dgram *d, int error, const char *extack) {
        struct nlmsghdr *nlh = dg_put(d, NLMSG_DONE, NLM_F_MULTI, SEQ, PORTID);
        int *e = mnl_nlmsg_put_extra_header(nlh, sizeof(int));

        *e = error;
        if (extack) {
                nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
                mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, extack);
        }
}

static size_t dg_len(Dgram *d) {
        dg_close(d);
        return d->len;
}

/* ctrl_fill_info()'s NEWFAMILY, plus an attribute newer than our header. */
static void put_family(Dgram *d) {
        struct nlattr *ops, *op;

        dg_genl(d, GENL_ID_CTRL, false, CTRL_CMD_NEWFAMILY);
        mnl_attr_put_strz(d->cur, CTRL_ATTR_FAMILY_NAME, "vdpa");
        mnl_attr_put_u16(d->cur, CTRL_ATTR_FAMILY_ID, FAMILY);
        mnl_attr_put_u32(d->cur, CTRL_ATTR_VERSION, 1);
        mnl_attr_put_u32(d->cur, CTRL_ATTR_HDRSIZE, 0);
        mnl_attr_put_u32(d->cur, CTRL_ATTR_MAXATTR, VDPA_ATTR_MAX);
        ops = mnl_attr_nest_start(d->cur, CTRL_ATTR_OPS);
        for (uint32_t i = 1; i <= 2; i++) {
                op = mnl_attr_nest_start(d->cur, i);
                mnl_attr_put_u32(d->cur, CTRL_ATTR_OP_ID, VDPA_CMD_MGMTDEV_GET + i - 1);
                mnl_attr_put_u32(d->cur, CTRL_ATTR_OP_FLAGS, 0xe);
                mnl_attr_nest_end(d->cur, op);
        }
        mnl_attr_nest_end(d->cur, ops);
        mnl_attr_put_u32(d->cur, CTRL_ATTR_MAX + 5, 7);
}

/* vdpa_mgmtdev_fill(); BUS NULL: a device without a bus (vdpasim). */
static void put_mgmtdev(Dgram *d, const char *bus, const char *dev, uint64_t classes, uint32_t max_vqs,
                        uint64_t features) {
        dg_genl(d, FAMILY, true, VDPA_CMD_MGMTDEV_NEW);
        if (bus)
                mnl_attr_put_strz(d->cur, VDPA_ATTR_MGMTDEV_BUS_NAME, bus);
        mnl_attr_put_strz(d->cur, VDPA_ATTR_MGMTDEV_DEV_NAME, dev);
        put_u64_padded(d, VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES, classes);
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_MGMTDEV_MAX_VQS, max_vqs);
        put_u64_padded(d, VDPA_ATTR_DEV_SUPPORTED_FEATURES, features);
}

/* vdpa_dev_fill(). */
static void put_device(Dgram *d, bool multi, const char *bus, const char *mdev, const char *name, uint32_t id,
                       uint32_t vendor, uint32_t max_vqs) {
        dg_genl(d, FAMILY, multi, VDPA_CMD_DEV_NEW);
        if (bus)
                mnl_attr_put_strz(d->cur, VDPA_ATTR_MGMTDEV_BUS_NAME, bus);
        mnl_attr_put_strz(d->cur, VDPA_ATTR_MGMTDEV_DEV_NAME, mdev);
        mnl_attr_put_strz(d->cur, VDPA_ATTR_DEV_NAME, name);
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_ID, id);
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_VENDOR_ID, vendor);
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_MAX_VQS, max_vqs);
        mnl_attr_put_u16(d->cur, VDPA_ATTR_DEV_MAX_VQ_SIZE, 256);
        mnl_attr_put_u16(d->cur, VDPA_ATTR_DEV_MIN_VQ_SIZE, 1);
}

static const uint8_t MAC[6] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 };

/* vdpa_dev_config_fill() + vdpa_dev_net_config_fill() of 6.1.192 for an
 * mlx5 device with MTU, MAC and MQ; FEATURES_OK when NEGOTIATED != 0. */
static void put_config(Dgram *d, bool multi, const char *name, uint64_t negotiated) {
        dg_genl(d, FAMILY, multi, VDPA_CMD_DEV_CONFIG_GET);
        mnl_attr_put_strz(d->cur, VDPA_ATTR_DEV_NAME, name);
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_ID, 1);
        if (negotiated)
                put_u64_padded(d, VDPA_ATTR_DEV_NEGOTIATED_FEATURES, negotiated);
        mnl_attr_put_u16(d->cur, VDPA_ATTR_DEV_NET_STATUS, 1);
        put_u64_padded(d, VDPA_ATTR_VDPA_DEV_SUPPORTED_FEATURES, 0x1000000000ull);
        mnl_attr_put_u16(d->cur, VDPA_ATTR_DEV_NET_CFG_MTU, 9000);
        mnl_attr_put(d->cur, VDPA_ATTR_DEV_NET_CFG_MACADDR, sizeof MAC, MAC);
        mnl_attr_put_u16(d->cur, VDPA_ATTR_DEV_NET_CFG_MAX_VQP, 4);
        /* A newer kernel's attribute. */
        mnl_attr_put_u32(d->cur, VDPA_ATTR_MAX + 3, 0xdead);
}

static void put_mgmtdev_dump(Dgram *d) {
        put_mgmtdev(d, "pci", "0000:04:00.2", 0x2, 9, 0x1300c3001ull);
        put_mgmtdev(d, NULL, "vdpasim_net", 0x2, 3, 0x308820028ull);
        put_mgmtdev(d, NULL, "vdpasim_blk", 0x4, 0, 0);
}

static void put_device_dump(Dgram *d) {
        put_device(d, true, "pci", "0000:04:00.2", "vdpa0", 1, 0x15b3, 9);
        put_device(d, true, "auxiliary", "mlx5_core.sf.4", "fast1", 1, 0x15b3, 3);
        put_device(d, true, NULL, "vdpasim_net", "vdpa-sim0", 1, 0, 3);
        put_device(d, true, NULL, "vdpasim_blk", "vdpa-blk0", 2, 0, 1);
}

/* --- running a reply over datagrams --- */

static void reply_init(VdpaNlReply *r, VdpaNlReplyKind kind, bool dump) {
        vdpa_nl_reply_init(r, kind, dump, kind == VDPA_NL_REPLY_FAMILY ? GENL_ID_CTRL : FAMILY, SEQ, PORTID);
}

static int process(VdpaNlReply *r, Dgram *d) {
        return vdpa_nl_reply_process(r, d->u.bytes, dg_len(d));
}

/* One datagram answering a request of KIND; the result of processing it. */
static int process_one(VdpaNlReply *r, VdpaNlReplyKind kind, bool dump, Dgram *d) {
        reply_init(r, kind, dump);
        return process(r, d);
}

/* --- requests --- */

static void test_split_handle(void) {
        g_autofree char *bus = NULL, *dev = NULL;

        g_assert_cmpint(vdpa_nl_split_handle("pci/0000:04:00.2", &bus, &dev), ==, 0);
        g_assert_cmpstr(bus, ==, "pci");
        g_assert_cmpstr(dev, ==, "0000:04:00.2");
        g_clear_pointer(&bus, g_free);
        g_clear_pointer(&dev, g_free);

        g_assert_cmpint(vdpa_nl_split_handle("vdpasim_net", &bus, &dev), ==, 0);
        g_assert_null(bus);
        g_assert_cmpstr(dev, ==, "vdpasim_net");
        g_clear_pointer(&dev, g_free);

        /* iproute2 splits at the one slash, empty halves and all. */
        g_assert_cmpint(vdpa_nl_split_handle("/x", &bus, &dev), ==, 0);
        g_assert_cmpstr(bus, ==, "");
        g_assert_cmpstr(dev, ==, "x");
        g_clear_pointer(&bus, g_free);
        g_clear_pointer(&dev, g_free);

        g_assert_cmpint(vdpa_nl_split_handle("a/b/c", &bus, &dev), ==, -EINVAL);
        g_assert_cmpint(vdpa_nl_split_handle(NULL, &bus, &dev), ==, -EINVAL);
        g_assert_null(bus);
        g_assert_null(dev);
}

static void test_mgmtdev_handle(void) {
        VdpaNlMgmtdev pci = { .bus_name = (char *) "pci", .dev_name = (char *) "0000:04:00.2" };
        VdpaNlMgmtdev sim = { .bus_name = (char *) "", .dev_name = (char *) "vdpasim_net" };
        g_autofree char *a = vdpa_nl_mgmtdev_handle(&pci), *b = vdpa_nl_mgmtdev_handle(&sim);

        g_assert_cmpstr(a, ==, "pci/0000:04:00.2");
        g_assert_cmpstr(b, ==, "vdpasim_net");
}

/* `vdpa dev add name vdpa0 mgmtdev pci/0000:04:00.2 mac 00:11:22:33:44:55
 * mtu 9000 max_vqp 4` as iproute2 6.1 puts it on the wire (vdpa_opts_put()),
 * but for the genl version (iproute2 sends 0; the kernel ignores it), written
 * out byte by byte rather than with libmnl. */
static const uint8_t dev_new_bytes[] = {
        0x58, 0x00, 0x00, 0x00, FAMILY, 0x00, 0x05, 0x00,       /* len 88, type, REQUEST|ACK */
        0xed, 0x5e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,         /* seq, pid 0 */
        VDPA_CMD_DEV_NEW, VDPA_GENL_VERSION, 0x00, 0x00,
        0x08, 0x00, 0x01, 0x00, 'p', 'c', 'i', 0x00,            /* MGMTDEV_BUS_NAME */
        0x11, 0x00, 0x02, 0x00, '0', '0', '0', '0', ':', '0', '4', ':', '0', '0', '.', '2', 0x00,
        0x00, 0x00, 0x00,                                       /* MGMTDEV_DEV_NAME, padded */
        0x0a, 0x00, 0x04, 0x00, 'v', 'd', 'p', 'a', '0', 0x00, 0x00, 0x00,      /* DEV_NAME */
        0x0a, 0x00, 0x0a, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x00, /* MACADDR */
        0x06, 0x00, 0x0d, 0x00, 0x28, 0x23, 0x00, 0x00,         /* MTU 9000 */
        0x06, 0x00, 0x0c, 0x00, 0x04, 0x00, 0x00, 0x00,         /* MAX_VQP 4 */
};

static void test_build_dev_new(void) {
        VdpaNlNewParams p = {
                .mgmtdev = "pci/0000:04:00.2", .name = "vdpa0", .has_mac = true,
                .mac = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 }, .mtu = 9000, .max_vqp = 4,
        };
        VdpaNlNewParams sim = { .mgmtdev = "vdpasim_net", .name = "vdpa-sim1" };
        union {
                struct nlmsghdr nlh;
                uint8_t bytes[VDPA_NL_REQUEST_SIZE];
        } buf;
        const struct nlattr *a;
        int n;

        if (G_BYTE_ORDER != G_LITTLE_ENDIAN) {
                g_test_skip("the expected bytes are little-endian");
                return;
        }
        memset(buf.bytes, 0xa5, sizeof buf.bytes);
        n = vdpa_nl_build_dev_new(buf.bytes, sizeof buf.bytes, FAMILY, SEQ, &p);
        g_assert_cmpmem(buf.bytes, n, dev_new_bytes, sizeof dev_new_bytes);

        /* No bus, nothing optional: the two names alone, in that order. */
        n = vdpa_nl_build_dev_new(buf.bytes, sizeof buf.bytes, FAMILY, SEQ, &sim);
        g_assert_cmpint(n, ==, 20 + 16 + 16);
        a = mnl_nlmsg_get_payload_offset(&buf.nlh, GENL_HDRLEN);
        g_assert_cmpuint(mnl_attr_get_type(a), ==, VDPA_ATTR_MGMTDEV_DEV_NAME);
        g_assert_cmpstr(mnl_attr_get_str(a), ==, "vdpasim_net");
        a = mnl_attr_next(a);
        g_assert_cmpuint(mnl_attr_get_type(a), ==, VDPA_ATTR_DEV_NAME);
        g_assert_cmpstr(mnl_attr_get_str(a), ==, "vdpa-sim1");
}

static void test_build_dev_new_invalid(void) {
        char buf[VDPA_NL_REQUEST_SIZE];
        g_autofree char *long_name = g_strnfill(VDPA_NL_REQUEST_SIZE, 'x');
        VdpaNlNewParams p = { .mgmtdev = "a/b/c", .name = "vdpa0" };

        g_assert_cmpint(vdpa_nl_build_dev_new(buf, sizeof buf, FAMILY, SEQ, &p), ==, -EINVAL);
        p.mgmtdev = NULL;
        g_assert_cmpint(vdpa_nl_build_dev_new(buf, sizeof buf, FAMILY, SEQ, &p), ==, -EINVAL);
        p.mgmtdev = "vdpasim_net";
        p.name = NULL;
        g_assert_cmpint(vdpa_nl_build_dev_new(buf, sizeof buf, FAMILY, SEQ, &p), ==, -EINVAL);
        p.name = long_name;
        g_assert_cmpint(vdpa_nl_build_dev_new(buf, sizeof buf, FAMILY, SEQ, &p), ==, -EMSGSIZE);
        g_assert_cmpint(vdpa_nl_build_dev_del(buf, sizeof buf, FAMILY, SEQ, long_name), ==, -EMSGSIZE);
        g_assert_cmpint(vdpa_nl_build_dev_del(buf, sizeof buf, FAMILY, SEQ, NULL), ==, -EINVAL);
        g_assert_cmpint(vdpa_nl_build_mgmtdev_dump(buf, 8, FAMILY, SEQ), ==, -EMSGSIZE);
}

static const struct genlmsghdr *genl_of(const struct nlmsghdr *nlh) {
        return mnl_nlmsg_get_payload(nlh);
}

static void test_build_getfamily(void) {
        union {
                struct nlmsghdr nlh;
                char bytes[VDPA_NL_REQUEST_SIZE];
        } buf;
        const struct nlattr *a;
        int n = vdpa_nl_build_getfamily(buf.bytes, sizeof buf.bytes, SEQ);

        /* docs/vdpa-netlink.md §1: what iproute2 sends, seq aside. */
        g_assert_cmpint(n, ==, 16 + 4 + 12);
        g_assert_cmpuint(buf.nlh.nlmsg_type, ==, GENL_ID_CTRL);
        g_assert_cmphex(buf.nlh.nlmsg_flags, ==, NLM_F_REQUEST | NLM_F_ACK);
        g_assert_cmpuint(buf.nlh.nlmsg_seq, ==, SEQ);
        g_assert_cmpuint(buf.nlh.nlmsg_pid, ==, 0);
        g_assert_cmpuint(genl_of(&buf.nlh)->cmd, ==, CTRL_CMD_GETFAMILY);
        g_assert_cmpuint(genl_of(&buf.nlh)->version, ==, 1);
        a = mnl_nlmsg_get_payload_offset(&buf.nlh, GENL_HDRLEN);
        g_assert_cmpuint(mnl_attr_get_type(a), ==, CTRL_ATTR_FAMILY_NAME);
        g_assert_cmpuint(mnl_attr_get_payload_len(a), ==, 5);
        g_assert_cmpmem(mnl_attr_get_payload(a), 5, "vdpa", 5);
}

static void assert_request(const void *buf, int n, uint8_t cmd, uint16_t flags, const char *name) {
        const struct nlmsghdr *nlh = buf;
        const struct nlattr *a = mnl_nlmsg_get_payload_offset(nlh, GENL_HDRLEN);

        g_assert_cmpint(n, ==, (int) nlh->nlmsg_len);
        g_assert_cmpuint(nlh->nlmsg_type, ==, FAMILY);
        g_assert_cmphex(nlh->nlmsg_flags, ==, flags);
        g_assert_cmpuint(nlh->nlmsg_seq, ==, SEQ);
        g_assert_cmpuint(genl_of(nlh)->cmd, ==, cmd);
        if (!name) {
                /* A dump request carries no attribute (6.1 validates and
                 * ignores them). */
                g_assert_cmpint(n, ==, MNL_NLMSG_HDRLEN + GENL_HDRLEN);
                return;
        }
        g_assert_cmpuint(mnl_attr_get_type(a), ==, VDPA_ATTR_DEV_NAME);
        g_assert_cmpuint(mnl_attr_get_payload_len(a), ==, strlen(name) + 1);
        g_assert_cmpstr(mnl_attr_get_str(a), ==, name);
        g_assert_cmpint(n, ==, MNL_NLMSG_HDRLEN + GENL_HDRLEN + MNL_ALIGN(MNL_ATTR_HDRLEN + strlen(name) + 1));
}

static void test_build_queries(void) {
        union {
                struct nlmsghdr nlh;
                char bytes[VDPA_NL_REQUEST_SIZE];
        } buf;
        const uint16_t doit = NLM_F_REQUEST | NLM_F_ACK, dump = doit | NLM_F_DUMP;
        char *b = buf.bytes;
        size_t s = sizeof buf.bytes;

        assert_request(b, vdpa_nl_build_mgmtdev_dump(b, s, FAMILY, SEQ), VDPA_CMD_MGMTDEV_GET, dump, NULL);
        assert_request(b, vdpa_nl_build_dev_get(b, s, FAMILY, SEQ, NULL), VDPA_CMD_DEV_GET, dump, NULL);
        assert_request(b, vdpa_nl_build_dev_get(b, s, FAMILY, SEQ, "vdpa0"), VDPA_CMD_DEV_GET, doit, "vdpa0");
        assert_request(b, vdpa_nl_build_config_get(b, s, FAMILY, SEQ, NULL), VDPA_CMD_DEV_CONFIG_GET, dump, NULL);
        assert_request(b, vdpa_nl_build_config_get(b, s, FAMILY, SEQ, "vdpa1"), VDPA_CMD_DEV_CONFIG_GET, doit,
                       "vdpa1");
        assert_request(b, vdpa_nl_build_dev_del(b, s, FAMILY, SEQ, "vdpa-sim0"), VDPA_CMD_DEV_DEL, doit,
                       "vdpa-sim0");
}

/* --- answers --- */

static void test_family(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        /* NEWFAMILY and its ACK come as two datagrams. */
        dg_reset(&d);
        put_family(&d);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_FAMILY, false, &d), ==, VDPA_NL_MORE);
        dg_reset(&d);
        dg_ack(&d, SEQ, 0, NULL, true);
        g_assert_cmpint(process(&r, &d), ==, VDPA_NL_COMPLETE);
        g_assert_cmpuint(r.family_id, ==, FAMILY);
        g_assert_null(r.extack);
        /* Finished: the same answer again. */
        g_assert_cmpint(process(&r, &d), ==, VDPA_NL_COMPLETE);
}

static void test_family_absent(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        /* docs/vdpa-netlink.md §1 (OBS): -ENOENT, CAPPED, no TLVs. */
        dg_reset(&d);
        dg_ack(&d, SEQ, -ENOENT, NULL, true);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_FAMILY, false, &d), ==, -ENOENT);
        g_assert_null(r.extack);
        g_assert_cmpint(process(&r, &d), ==, -ENOENT);
}

static void test_family_malformed(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        /* An id among the control messages. */
        dg_reset(&d);
        dg_genl(&d, GENL_ID_CTRL, false, CTRL_CMD_NEWFAMILY);
        mnl_attr_put_u16(d.cur, CTRL_ATTR_FAMILY_ID, NLMSG_DONE);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_FAMILY, false, &d), ==, -EPROTO);
        vdpa_nl_reply_clear(&r);

        /* Another family's answer. */
        dg_reset(&d);
        dg_genl(&d, GENL_ID_CTRL, false, CTRL_CMD_NEWFAMILY);
        mnl_attr_put_strz(d.cur, CTRL_ATTR_FAMILY_NAME, "devlink");
        mnl_attr_put_u16(d.cur, CTRL_ATTR_FAMILY_ID, FAMILY);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_FAMILY, false, &d), ==, -EPROTO);
        vdpa_nl_reply_clear(&r);

        /* No id, then the ACK. */
        dg_reset(&d);
        dg_genl(&d, GENL_ID_CTRL, false, CTRL_CMD_NEWFAMILY);
        mnl_attr_put_strz(d.cur, CTRL_ATTR_FAMILY_NAME, "vdpa");
        dg_ack(&d, SEQ, 0, NULL, true);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_FAMILY, false, &d), ==, -EPROTO);
        vdpa_nl_reply_clear(&r);

        /* The ACK alone. */
        dg_reset(&d);
        dg_ack(&d, SEQ, 0, NULL, true);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_FAMILY, false, &d), ==, -EPROTO);
        vdpa_nl_reply_clear(&r);

        /* Taken for a dump, a DONE alone is no family either (found by
         * fuzz-vdpa-nl: corpus-vdpa-nl/crash-family-dump-without-id). */
        dg_reset(&d);
        dg_done(&d, 0, NULL);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_FAMILY, true, &d), ==, -EPROTO);
}

static void test_mgmtdev_dump(void) {
        g_auto(VdpaNlReply) r = { 0 };
        const VdpaNlMgmtdev *m;
        Dgram d;

        dg_reset(&d);
        put_mgmtdev_dump(&d);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_MGMTDEV, true, &d), ==, VDPA_NL_MORE);
        dg_reset(&d);
        dg_done(&d, 0, NULL);
        g_assert_cmpint(process(&r, &d), ==, VDPA_NL_COMPLETE);

        g_assert_cmpuint(r.items->len, ==, 3);
        m = r.items->pdata[0];
        g_assert_cmpstr(m->bus_name, ==, "pci");
        g_assert_cmpstr(m->dev_name, ==, "0000:04:00.2");
        g_assert_cmphex(m->supported_classes, ==, 0x2);
        g_assert_cmpuint(m->max_vqs, ==, 9);
        g_assert_cmphex(m->supported_features, ==, 0x1300c3001ull);
        m = r.items->pdata[1];
        g_assert_cmpstr(m->bus_name, ==, "");
        g_assert_cmpstr(m->dev_name, ==, "vdpasim_net");
        g_assert_cmphex(m->supported_features, ==, 0x308820028ull);
        m = r.items->pdata[2];
        g_assert_cmpstr(m->dev_name, ==, "vdpasim_blk");
        g_assert_cmphex(m->supported_classes, ==, 0x4);
        g_assert_cmpuint(m->max_vqs, ==, 0);
        g_assert_cmphex(m->supported_features, ==, 0);
}

static void test_empty_dump(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        dg_reset(&d);
        dg_done(&d, 0, NULL);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_DEVICE, true, &d), ==, VDPA_NL_COMPLETE);
        g_assert_cmpuint(r.items->len, ==, 0);
}

static void assert_device(const VdpaNlDevice *dev, const char *name, const char *mgmtdev, uint32_t id,
                          uint32_t vendor, uint32_t max_vqs) {
        g_assert_cmpstr(dev->name, ==, name);
        g_assert_cmpstr(dev->mgmtdev, ==, mgmtdev);
        g_assert_cmpuint(dev->device_id, ==, id);
        g_assert_cmpuint(dev->vendor_id, ==, vendor);
        g_assert_cmpuint(dev->max_vqs, ==, max_vqs);
        g_assert_cmpuint(dev->max_vq_size, ==, 256);
        g_assert_cmpuint(dev->min_vq_size, ==, 1);
}

static void test_dev_dump(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        /* Two datagrams; DONE shares the second with the last devices. */
        dg_reset(&d);
        put_device(&d, true, "pci", "0000:04:00.2", "vdpa0", 1, 0x15b3, 9);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_DEVICE, true, &d), ==, VDPA_NL_MORE);
        dg_reset(&d);
        put_device(&d, true, "auxiliary", "mlx5_core.sf.4", "fast1", 1, 0x15b3, 3);
        put_device(&d, true, NULL, "vdpasim_net", "vdpa-sim0", 1, 0, 3);
        put_device(&d, true, NULL, "vdpasim_blk", "vdpa-blk0", 2, 0, 1);
        dg_done(&d, 0, NULL);
        g_assert_cmpint(process(&r, &d), ==, VDPA_NL_COMPLETE);

        g_assert_cmpuint(r.items->len, ==, 4);
        assert_device(r.items->pdata[0], "vdpa0", "pci/0000:04:00.2", 1, 0x15b3, 9);
        assert_device(r.items->pdata[1], "fast1", "auxiliary/mlx5_core.sf.4", 1, 0x15b3, 3);
        assert_device(r.items->pdata[2], "vdpa-sim0", "vdpasim_net", 1, 0, 3);
        assert_device(r.items->pdata[3], "vdpa-blk0", "vdpasim_blk", 2, 0, 1);
}

static void test_dev_get(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        /* The reply and its ACK in one datagram (they may come in two). */
        dg_reset(&d);
        put_device(&d, false, "pci", "0000:04:00.2", "vdpa0", 1, 0x15b3, 9);
        dg_ack(&d, SEQ, 0, NULL, true);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_DEVICE, false, &d), ==, VDPA_NL_COMPLETE);
        g_assert_cmpuint(r.items->len, ==, 1);
        assert_device(r.items->pdata[0], "vdpa0", "pci/0000:04:00.2", 1, 0x15b3, 9);
}

static void test_doit_twice(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        dg_reset(&d);
        put_device(&d, false, "pci", "0000:04:00.2", "vdpa0", 1, 0x15b3, 9);
        put_device(&d, false, "pci", "0000:04:00.2", "vdpa1", 1, 0x15b3, 9);
        dg_ack(&d, SEQ, 0, NULL, true);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_DEVICE, false, &d), ==, -EPROTO);
}

static void test_config_get(void) {
        g_auto(VdpaNlReply) r = { 0 };
        const VdpaNlConfig *c;
        Dgram d;

        dg_reset(&d);
        put_config(&d, false, "vdpa0", 0x1300c3001ull);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_CONFIG, false, &d), ==, VDPA_NL_MORE);
        dg_reset(&d);
        dg_ack(&d, SEQ, 0, NULL, true);
        g_assert_cmpint(process(&r, &d), ==, VDPA_NL_COMPLETE);

        g_assert_cmpuint(r.items->len, ==, 1);
        c = r.items->pdata[0];
        g_assert_cmpstr(c->name, ==, "vdpa0");
        g_assert_cmpuint(c->device_id, ==, 1);
        g_assert_true(c->has_mac);
        g_assert_cmpmem(c->mac, 6, MAC, 6);
        g_assert_cmpuint(c->mtu, ==, 9000);
        g_assert_cmpuint(c->max_vqp, ==, 4);
        g_assert_true(c->has_status);
        g_assert_cmpuint(c->status, ==, 1);
        g_assert_true(c->has_negotiated_features);
        g_assert_cmphex(c->negotiated_features, ==, 0x1300c3001ull);
}

static void test_config_minimal(void) {
        g_auto(VdpaNlReply) r = { 0 };
        const VdpaNlConfig *c;
        Dgram d;

        /* Before FEATURES_OK, of a device without MAC, MTU, MQ features. */
        dg_reset(&d);
        dg_genl(&d, FAMILY, true, VDPA_CMD_DEV_CONFIG_GET);
        mnl_attr_put_strz(d.cur, VDPA_ATTR_DEV_NAME, "vdpa-sim0");
        mnl_attr_put_u32(d.cur, VDPA_ATTR_DEV_ID, 1);
        put_config(&d, true, "vdpa0", 0);
        dg_done(&d, 0, NULL);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_CONFIG, true, &d), ==, VDPA_NL_COMPLETE);
        g_assert_cmpuint(r.items->len, ==, 2);
        c = r.items->pdata[0];
        g_assert_cmpstr(c->name, ==, "vdpa-sim0");
        g_assert_false(c->has_mac);
        g_assert_false(c->has_status);
        g_assert_false(c->has_negotiated_features);
        g_assert_cmpuint(c->mtu, ==, 0);
        g_assert_cmpuint(c->max_vqp, ==, 0);
        c = r.items->pdata[1];
        g_assert_true(c->has_mac);
        g_assert_false(c->has_negotiated_features);
}

static void test_ack_only(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        dg_reset(&d);
        dg_ack(&d, SEQ, 0, NULL, true);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_ACK, false, &d), ==, VDPA_NL_COMPLETE);
        vdpa_nl_reply_clear(&r);

        /* A success with a warning keeps the text. */
        dg_reset(&d);
        dg_ack(&d, SEQ, 0, "vdpa: take care", true);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_ACK, false, &d), ==, VDPA_NL_COMPLETE);
        g_assert_cmpstr(r.extack, ==, "vdpa: take care");
        vdpa_nl_reply_clear(&r);

        /* DEV_NEW has no data message. */
        dg_reset(&d);
        put_device(&d, false, "pci", "0000:04:00.2", "vdpa0", 1, 0x15b3, 9);
        dg_ack(&d, SEQ, 0, NULL, true);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_ACK, false, &d), ==, -EPROTO);
}

static void test_errors(void) {
        static const struct {
                int error;
                const char *extack;
        } cases[] = {
                { -ENODEV, "vdpa: Fail to find the specified management device" },
                { -EEXIST, NULL },
                { -EOPNOTSUPP, "vdpa: All provided attributes are not supported" },
                { -ENOSPC, NULL },
                { -ERANGE, "integer out of range" },
                { -EINVAL, "vdpa: At least one pair of VQs is required" },
                { -EPERM, NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
                for (int capped = 0; capped <= 1; capped++) {
                        g_auto(VdpaNlReply) r = { 0 };
                        Dgram d;

                        dg_reset(&d);
                        dg_ack(&d, SEQ, cases[i].error, cases[i].extack, capped);
                        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_ACK, false, &d), ==, cases[i].error);
                        g_assert_cmpstr(r.extack, ==, cases[i].extack);
                }
}

static void test_error_tlvs_without_flag(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        /* The text is there, but NLM_F_ACK_TLVS does not say so. */
        dg_reset(&d);
        dg_ack(&d, SEQ, -ENODEV, "vdpa: device not found", true);
        d.cur->nlmsg_flags &= ~NLM_F_ACK_TLVS;
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_ACK, false, &d), ==, -ENODEV);
        g_assert_null(r.extack);
}

static void test_error_bogus_echo(void) {
        g_auto(VdpaNlReply) r = { 0 };
        struct nlmsgerr *e;
        Dgram d;

        /* Not capped, and the echoed request claims more than there is:
         * no text, the errno stands. */
        dg_reset(&d);
        dg_ack(&d, SEQ, -ENODEV, "vdpa: device not found", false);
        e = mnl_nlmsg_get_payload(d.cur);
        e->msg.nlmsg_len = 0xfffffff0u;
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_ACK, false, &d), ==, -ENODEV);
        g_assert_null(r.extack);
        vdpa_nl_reply_clear(&r);

        /* A malformed text (no NUL) is dropped the same way. */
        dg_reset(&d);
        dg_ack(&d, SEQ, -ENODEV, NULL, true);
        d.cur->nlmsg_flags |= NLM_F_ACK_TLVS;
        mnl_attr_put(d.cur, NLMSGERR_ATTR_MSG, 3, "abc");
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_ACK, false, &d), ==, -ENODEV);
        g_assert_null(r.extack);
}

static void test_error_malformed(void) {
        g_auto(VdpaNlReply) r = { 0 };
        struct nlmsgerr *e;
        Dgram d;

        /* Shorter than struct nlmsgerr. */
        dg_reset(&d);
        dg_put(&d, NLMSG_ERROR, 0, SEQ, PORTID);
        mnl_nlmsg_put_extra_header(d.cur, sizeof(int));
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_ACK, false, &d), ==, -EPROTO);
        vdpa_nl_reply_clear(&r);

        /* Not an errno. */
        dg_reset(&d);
        dg_ack(&d, SEQ, 0, NULL, true);
        e = mnl_nlmsg_get_payload(d.cur);
        e->error = ENODEV;
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_ACK, false, &d), ==, -EPROTO);
        vdpa_nl_reply_clear(&r);

        dg_reset(&d);
        dg_ack(&d, SEQ, G_MININT, NULL, true);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_ACK, false, &d), ==, -EPROTO);
}

static void test_done_negative(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        dg_reset(&d);
        put_device(&d, true, "pci", "0000:04:00.2", "vdpa0", 1, 0x15b3, 9);
        dg_done(&d, -EMSGSIZE, "vdpa: dump went wrong");
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_DEVICE, true, &d), ==, -EMSGSIZE);
        g_assert_cmpstr(r.extack, ==, "vdpa: dump went wrong");
        vdpa_nl_reply_clear(&r);

        dg_reset(&d);
        dg_done(&d, -EINVAL, NULL);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_MGMTDEV, true, &d), ==, -EINVAL);
        g_assert_null(r.extack);
        vdpa_nl_reply_clear(&r);

        /* A DONE without its int ends the dump as libmnl would. */
        dg_reset(&d);
        dg_put(&d, NLMSG_DONE, NLM_F_MULTI, SEQ, PORTID);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_MGMTDEV, true, &d), ==, VDPA_NL_COMPLETE);
}

/* Each case builds one datagram answering a DEV_GET or CONFIG_GET doit
 * that must be refused as malformed. */
typedef void (*PutBad)(Dgram *d);

static void bad_dev_id_u16(Dgram *d) {
        dg_genl(d, FAMILY, false, VDPA_CMD_DEV_NEW);
        mnl_attr_put_strz(d->cur, VDPA_ATTR_MGMTDEV_DEV_NAME, "vdpasim_net");
        mnl_attr_put_strz(d->cur, VDPA_ATTR_DEV_NAME, "vdpa0");
        mnl_attr_put_u16(d->cur, VDPA_ATTR_DEV_ID, 1);
}

static void bad_name_unterminated(Dgram *d) {
        dg_genl(d, FAMILY, false, VDPA_CMD_DEV_NEW);
        mnl_attr_put(d->cur, VDPA_ATTR_MGMTDEV_DEV_NAME, 11, "vdpasim_net");
        mnl_attr_put_strz(d->cur, VDPA_ATTR_DEV_NAME, "vdpa0");
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_ID, 1);
}

static void bad_name_empty(Dgram *d) {
        dg_genl(d, FAMILY, false, VDPA_CMD_DEV_NEW);
        mnl_attr_put_strz(d->cur, VDPA_ATTR_MGMTDEV_DEV_NAME, "vdpasim_net");
        mnl_attr_put_strz(d->cur, VDPA_ATTR_DEV_NAME, "");
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_ID, 1);
}

static void bad_no_mgmtdev(Dgram *d) {
        dg_genl(d, FAMILY, false, VDPA_CMD_DEV_NEW);
        mnl_attr_put_strz(d->cur, VDPA_ATTR_DEV_NAME, "vdpa0");
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_ID, 1);
}

static void bad_max_vq_size_u32(Dgram *d) {
        put_device(d, false, NULL, "vdpasim_net", "vdpa0", 1, 0, 3);
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_MAX_VQ_SIZE, 256);
}

static void bad_wrong_type(Dgram *d) {
        put_device(d, false, NULL, "vdpasim_net", "vdpa0", 1, 0, 3);
        d->cur->nlmsg_type = FAMILY + 1;
}

static void bad_no_genl_header(Dgram *d) {
        dg_put(d, FAMILY, 0, SEQ, PORTID);
        d->cur->nlmsg_len = MNL_NLMSG_HDRLEN + 2;
}

static void bad_truncated(Dgram *d) {
        put_device(d, false, NULL, "vdpasim_net", "vdpa0", 1, 0, 3);
        dg_ack(d, SEQ, 0, NULL, true);
        /* The ACK cut short: dg_len() sees only its first 8 bytes. */
        d->cur->nlmsg_len = 8;
}

static void bad_dump_intr(Dgram *d) {
        put_device(d, false, NULL, "vdpasim_net", "vdpa0", 1, 0, 3);
        d->cur->nlmsg_flags |= NLM_F_DUMP_INTR;
}

static void bad_other_port(Dgram *d) {
        put_device(d, false, NULL, "vdpasim_net", "vdpa0", 1, 0, 3);
        d->cur->nlmsg_pid = PORTID + 1;
}

static void bad_mac_5(Dgram *d) {
        dg_genl(d, FAMILY, false, VDPA_CMD_DEV_CONFIG_GET);
        mnl_attr_put_strz(d->cur, VDPA_ATTR_DEV_NAME, "vdpa0");
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_ID, 1);
        mnl_attr_put(d->cur, VDPA_ATTR_DEV_NET_CFG_MACADDR, 5, MAC);
}

static void bad_status_u8(Dgram *d) {
        dg_genl(d, FAMILY, false, VDPA_CMD_DEV_CONFIG_GET);
        mnl_attr_put_strz(d->cur, VDPA_ATTR_DEV_NAME, "vdpa0");
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_ID, 1);
        mnl_attr_put_u8(d->cur, VDPA_ATTR_DEV_NET_STATUS, 1);
}

static void bad_features_u32(Dgram *d) {
        dg_genl(d, FAMILY, false, VDPA_CMD_DEV_CONFIG_GET);
        mnl_attr_put_strz(d->cur, VDPA_ATTR_DEV_NAME, "vdpa0");
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_ID, 1);
        mnl_attr_put_u32(d->cur, VDPA_ATTR_DEV_NEGOTIATED_FEATURES, 1);
}

static void bad_config_no_id(Dgram *d) {
        dg_genl(d, FAMILY, false, VDPA_CMD_DEV_CONFIG_GET);
        mnl_attr_put_strz(d->cur, VDPA_ATTR_DEV_NAME, "vdpa0");
        mnl_attr_put_u16(d->cur, VDPA_ATTR_DEV_NET_CFG_MTU, 1500);
}

static void test_malformed(void) {
        static const struct {
                const char *what;
                PutBad put;
                VdpaNlReplyKind kind;
                int expected;
        } cases[] = {
                { "DEV_ID as u16", bad_dev_id_u16, VDPA_NL_REPLY_DEVICE, -EPROTO },
                { "name without NUL", bad_name_unterminated, VDPA_NL_REPLY_DEVICE, -EPROTO },
                { "empty name", bad_name_empty, VDPA_NL_REPLY_DEVICE, -EPROTO },
                { "no MGMTDEV_DEV_NAME", bad_no_mgmtdev, VDPA_NL_REPLY_DEVICE, -EPROTO },
                { "MAX_VQ_SIZE twice, once as u32", bad_max_vq_size_u32, VDPA_NL_REPLY_DEVICE, -EPROTO },
                { "another message type", bad_wrong_type, VDPA_NL_REPLY_DEVICE, -EPROTO },
                { "no genl header", bad_no_genl_header, VDPA_NL_REPLY_DEVICE, -EPROTO },
                { "truncated datagram", bad_truncated, VDPA_NL_REPLY_DEVICE, -EPROTO },
                { "DUMP_INTR", bad_dump_intr, VDPA_NL_REPLY_DEVICE, -EINTR },
                { "another port", bad_other_port, VDPA_NL_REPLY_DEVICE, -ESRCH },
                { "5-byte MAC", bad_mac_5, VDPA_NL_REPLY_CONFIG, -EPROTO },
                { "NET_STATUS as u8", bad_status_u8, VDPA_NL_REPLY_CONFIG, -EPROTO },
                { "NEGOTIATED_FEATURES as u32", bad_features_u32, VDPA_NL_REPLY_CONFIG, -EPROTO },
                { "config without DEV_ID", bad_config_no_id, VDPA_NL_REPLY_CONFIG, -EPROTO },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_auto(VdpaNlReply) r = { 0 };
                Dgram d;
                int k;

                dg_reset(&d);
                cases[i].put(&d);
                if (cases[i].put != bad_truncated)
                        dg_ack(&d, SEQ, 0, NULL, true);
                k = process_one(&r, cases[i].kind, false, &d);
                if (k != cases[i].expected)
                        g_error("%s: %d, expected %d", cases[i].what, k, cases[i].expected);
        }
}

static void test_stale_answer(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        /* The answer to an earlier request that timed out comes first, in
         * the same datagram and in one of its own: skipped. */
        dg_reset(&d);
        put_device(&d, true, NULL, "vdpasim_net", "old0", 1, 0, 3);
        d.cur->nlmsg_seq = SEQ - 1;
        dg_done(&d, 0, NULL);
        d.cur->nlmsg_seq = SEQ - 1;
        put_device(&d, false, NULL, "vdpasim_net", "vdpa0", 1, 0, 3);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_DEVICE, false, &d), ==, VDPA_NL_MORE);

        dg_reset(&d);
        dg_ack(&d, SEQ - 1, -ETIMEDOUT, "vdpa: late", true);
        g_assert_cmpint(process(&r, &d), ==, VDPA_NL_MORE);
        g_assert_null(r.extack);

        dg_reset(&d);
        dg_ack(&d, SEQ, 0, NULL, true);
        g_assert_cmpint(process(&r, &d), ==, VDPA_NL_COMPLETE);
        g_assert_cmpuint(r.items->len, ==, 1);
        g_assert_cmpstr(((VdpaNlDevice *) r.items->pdata[0])->name, ==, "vdpa0");
}

static void test_control_skipped(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        /* NOOP and OVERRUN mean nothing here; port 0 and seq 0 pass as
         * libmnl lets them. */
        dg_reset(&d);
        dg_put(&d, NLMSG_NOOP, 0, SEQ, PORTID);
        dg_put(&d, NLMSG_OVERRUN, 0, SEQ, PORTID);
        put_device(&d, false, NULL, "vdpasim_net", "vdpa0", 1, 0, 3);
        d.cur->nlmsg_pid = 0;
        dg_ack(&d, 0, 0, NULL, true);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_DEVICE, false, &d), ==, VDPA_NL_COMPLETE);
        g_assert_cmpuint(r.items->len, ==, 1);
}

static void test_empty_datagram(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        dg_reset(&d);
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_DEVICE, true, &d), ==, VDPA_NL_MORE);
        /* Shorter than a header. */
        g_assert_cmpint(vdpa_nl_reply_process(&r, d.u.bytes, 3), ==, -EPROTO);
}

static void test_huge_length(void) {
        g_auto(VdpaNlReply) r = { 0 };
        Dgram d;

        /* 2^31 and more would pass mnl_nlmsg_ok() as a negative int. */
        dg_reset(&d);
        put_device(&d, false, NULL, "vdpasim_net", "vdpa0", 1, 0, 3);
        dg_len(&d);
        d.u.nlh.nlmsg_len = 0x80000010u;
        g_assert_cmpint(process_one(&r, VDPA_NL_REPLY_DEVICE, false, &d), ==, -EPROTO);
}

/* --- the fuzz seed corpus --- */

typedef struct Seed {
        const char *name;
        VdpaNlReplyKind kind;
        bool dump;
        void (*put)(Dgram *d);
} Seed;

static void seed_family(Dgram *d) {
        put_family(d);
        dg_ack(d, SEQ, 0, NULL, true);
}

static void seed_family_enoent(Dgram *d) {
        dg_ack(d, SEQ, -ENOENT, NULL, true);
}

static void seed_mgmtdev_dump(Dgram *d) {
        put_mgmtdev_dump(d);
        dg_done(d, 0, NULL);
}

static void seed_dev_dump(Dgram *d) {
        put_device_dump(d);
        dg_done(d, 0, NULL);
}

static void seed_dev_get(Dgram *d) {
        put_device(d, false, "pci", "0000:04:00.2", "vdpa0", 1, 0x15b3, 9);
        dg_ack(d, SEQ, 0, NULL, true);
}

static void seed_dev_get_enodev(Dgram *d) {
        dg_ack(d, SEQ, -ENODEV, "vdpa: device not found", true);
}

static void seed_config_get(Dgram *d) {
        put_config(d, false, "vdpa0", 0x1300c3001ull);
        dg_ack(d, SEQ, 0, NULL, true);
}

static void seed_config_dump(Dgram *d) {
        put_config(d, true, "vdpa0", 0);
        put_config(d, true, "fast1", 0x300000000ull);
        dg_done(d, 0, NULL);
}

static void seed_config_eagain(Dgram *d) {
        dg_ack(d, SEQ, -EAGAIN, "vdpa: Features negotiation not completed", true);
}

static void seed_dev_new_ack(Dgram *d) {
        dg_ack(d, SEQ, 0, NULL, true);
}

static void seed_dev_new_eopnotsupp(Dgram *d) {
        dg_ack(d, SEQ, -EOPNOTSUPP, "vdpa: All provided attributes are not supported", false);
}

static void seed_dev_new_erange(Dgram *d) {
        dg_ack(d, SEQ, -ERANGE, "integer out of range", true);
}

static void seed_stale_then_done(Dgram *d) {
        put_device(d, true, NULL, "vdpasim_net", "old0", 1, 0, 3);
        d->cur->nlmsg_seq = SEQ - 1;
        dg_done(d, -EINVAL, "vdpa: dump went wrong");
}

static const Seed seeds[] = {
        { "family", VDPA_NL_REPLY_FAMILY, false, seed_family },
        { "family-enoent", VDPA_NL_REPLY_FAMILY, false, seed_family_enoent },
        { "mgmtdev-dump", VDPA_NL_REPLY_MGMTDEV, true, seed_mgmtdev_dump },
        { "dev-dump", VDPA_NL_REPLY_DEVICE, true, seed_dev_dump },
        { "dev-get", VDPA_NL_REPLY_DEVICE, false, seed_dev_get },
        { "dev-get-enodev", VDPA_NL_REPLY_DEVICE, false, seed_dev_get_enodev },
        { "config-get", VDPA_NL_REPLY_CONFIG, false, seed_config_get },
        { "config-dump", VDPA_NL_REPLY_CONFIG, true, seed_config_dump },
        { "config-eagain", VDPA_NL_REPLY_CONFIG, false, seed_config_eagain },
        { "dev-new-ack", VDPA_NL_REPLY_ACK, false, seed_dev_new_ack },
        { "dev-new-eopnotsupp-uncapped", VDPA_NL_REPLY_ACK, false, seed_dev_new_eopnotsupp },
        { "dev-new-erange", VDPA_NL_REPLY_ACK, false, seed_dev_new_erange },
        { "stale-then-done-einval", VDPA_NL_REPLY_DEVICE, true, seed_stale_then_done },
};

static int write_corpus(const char *dir) {
        for (size_t i = 0; i < G_N_ELEMENTS(seeds); i++) {
                g_autoptr(GError) error = NULL;
                g_autofree char *path = g_build_filename(dir, seeds[i].name, NULL);
                g_autofree uint8_t *data = NULL;
                Dgram d;
                size_t len;

                dg_reset(&d);
                seeds[i].put(&d);
                len = dg_len(&d);
                data = g_malloc(len + 1);
                data[0] = seeds[i].kind | (seeds[i].dump ? VDPA_NL_FUZZ_DUMP : 0);
                memcpy(data + 1, d.u.bytes, len);
                if (!g_file_set_contents(path, (const char *) data, len + 1, &error)) {
                        fprintf(stderr, "%s\n", error->message);
                        return 1;
                }
        }
        return 0;
}

/* Every seed is an answer the code takes as such. */
static void test_seeds(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(seeds); i++) {
                g_auto(VdpaNlReply) r = { 0 };
                Dgram d;
                int k;

                dg_reset(&d);
                seeds[i].put(&d);
                k = process_one(&r, seeds[i].kind, seeds[i].dump, &d);
                if (k == VDPA_NL_MORE || k == -EPROTO || k == -ESRCH)
                        g_error("seed %s: %d", seeds[i].name, k);
        }
}

int main(int argc, char *argv[]) {
        if (argc == 3 && g_str_equal(argv[1], "--write-corpus"))
                return write_corpus(argv[2]);

        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/vdpa-nl/split-handle", test_split_handle);
        g_test_add_func("/vdpa-nl/mgmtdev-handle", test_mgmtdev_handle);
        g_test_add_func("/vdpa-nl/build/dev-new", test_build_dev_new);
        g_test_add_func("/vdpa-nl/build/dev-new-invalid", test_build_dev_new_invalid);
        g_test_add_func("/vdpa-nl/build/getfamily", test_build_getfamily);
        g_test_add_func("/vdpa-nl/build/queries", test_build_queries);
        g_test_add_func("/vdpa-nl/family", test_family);
        g_test_add_func("/vdpa-nl/family-absent", test_family_absent);
        g_test_add_func("/vdpa-nl/family-malformed", test_family_malformed);
        g_test_add_func("/vdpa-nl/mgmtdev-dump", test_mgmtdev_dump);
        g_test_add_func("/vdpa-nl/empty-dump", test_empty_dump);
        g_test_add_func("/vdpa-nl/dev-dump", test_dev_dump);
        g_test_add_func("/vdpa-nl/dev-get", test_dev_get);
        g_test_add_func("/vdpa-nl/doit-twice", test_doit_twice);
        g_test_add_func("/vdpa-nl/config-get", test_config_get);
        g_test_add_func("/vdpa-nl/config-minimal", test_config_minimal);
        g_test_add_func("/vdpa-nl/ack-only", test_ack_only);
        g_test_add_func("/vdpa-nl/errors", test_errors);
        g_test_add_func("/vdpa-nl/error-tlvs-without-flag", test_error_tlvs_without_flag);
        g_test_add_func("/vdpa-nl/error-bogus-echo", test_error_bogus_echo);
        g_test_add_func("/vdpa-nl/error-malformed", test_error_malformed);
        g_test_add_func("/vdpa-nl/done-negative", test_done_negative);
        g_test_add_func("/vdpa-nl/malformed", test_malformed);
        g_test_add_func("/vdpa-nl/stale-answer", test_stale_answer);
        g_test_add_func("/vdpa-nl/control-skipped", test_control_skipped);
        g_test_add_func("/vdpa-nl/empty-datagram", test_empty_datagram);
        g_test_add_func("/vdpa-nl/huge-length", test_huge_length);
        g_test_add_func("/vdpa-nl/seeds", test_seeds);
        return g_test_run();
}
