/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vdpa-nl-msg.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>

#include "macro.h"

/* The highest errno a kernel sends (MAX_ERRNO); anything outside 1..4095
 * in an ACK or DONE is not an errno but a malformed message. */
#define KERNEL_MAX_ERRNO 4095

/* --- results --- */

void vdpa_nl_device_free(VdpaNlDevice *d) {
        if (!d)
                return;
        g_free(d->name);
        g_free(d->mgmtdev);
        g_free(d);
}

void vdpa_nl_config_free(VdpaNlConfig *c) {
        if (!c)
                return;
        g_free(c->name);
        g_free(c);
}

VdpaNlDevice *vdpa_nl_device_dup(const VdpaNlDevice *d) {
        VdpaNlDevice *n = g_memdup2(d, sizeof *d);

        n->name = g_strdup(d->name);
        n->mgmtdev = g_strdup(d->mgmtdev);
        return n;
}

VdpaNlConfig *vdpa_nl_config_dup(const VdpaNlConfig *c) {
        VdpaNlConfig *n = g_memdup2(c, sizeof *c);

        n->name = g_strdup(c->name);
        return n;
}

void vdpa_nl_mgmtdev_free(VdpaNlMgmtdev *m) {
        if (!m)
                return;
        g_free(m->bus_name);
        g_free(m->dev_name);
        g_free(m);
}

static char *format_handle(const char *bus, const char *dev) {
        if (bus && *bus)
                return g_strconcat(bus, "/", dev, NULL);
        return g_strdup(dev);
}

char *vdpa_nl_mgmtdev_handle(const VdpaNlMgmtdev *m) {
        return format_handle(m->bus_name, m->dev_name);
}

int vdpa_nl_split_handle(const char *handle, char **ret_bus, char **ret_dev) {
        const char *slash;

        if (!handle)
                return -EINVAL;
        slash = strchr(handle, '/');
        if (!slash) {
                *ret_bus = NULL;
                *ret_dev = g_strdup(handle);
                return 0;
        }
        if (strchr(slash + 1, '/'))
                return -EINVAL;
        *ret_bus = g_strndup(handle, slash - handle);
        *ret_dev = g_strdup(slash + 1);
        return 0;
}

/* --- requests --- */

static struct nlmsghdr *put_request(void *buf, size_t size, uint16_t type, uint16_t flags, uint32_t seq,
                                    uint8_t cmd, uint8_t version) {
        struct nlmsghdr *nlh;
        struct genlmsghdr *genl;

        if (size < MNL_NLMSG_HDRLEN + GENL_HDRLEN)
                return NULL;
        /* Padding and reserved bytes go out as zeros, whatever BUF held. */
        memset(buf, 0, size);
        nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        nlh->nlmsg_seq = seq;
        genl = mnl_nlmsg_put_extra_header(nlh, sizeof *genl);
        genl->cmd = cmd;
        genl->version = version;
        return nlh;
}

/* The family's own version: the kernel ignores it (iproute2 6.1 sends 0). */
static struct nlmsghdr *put_vdpa_request(void *buf, size_t size, uint16_t family, uint32_t seq, uint8_t cmd,
                                         bool dump) {
        return put_request(buf, size, family, dump ? NLM_F_DUMP : 0, seq, cmd, VDPA_GENL_VERSION);
}

int vdpa_nl_build_getfamily(void *buf, size_t size, uint32_t seq) {
        struct nlmsghdr *nlh = put_request(buf, size, GENL_ID_CTRL, 0, seq, CTRL_CMD_GETFAMILY, 1);

        if (!nlh || !mnl_attr_put_strz_check(nlh, size, CTRL_ATTR_FAMILY_NAME, VDPA_GENL_NAME))
                return -EMSGSIZE;
        return (int) nlh->nlmsg_len;
}

int vdpa_nl_build_mgmtdev_dump(void *buf, size_t size, uint16_t family, uint32_t seq) {
        struct nlmsghdr *nlh = put_vdpa_request(buf, size, family, seq, VDPA_CMD_MGMTDEV_GET, true);

        return nlh ? (int) nlh->nlmsg_len : -EMSGSIZE;
}

static int build_by_name(void *buf, size_t size, uint16_t family, uint32_t seq, uint8_t cmd, const char *name,
                         bool may_dump) {
        struct nlmsghdr *nlh;

        if (!name && !may_dump)
                return -EINVAL;
        nlh = put_vdpa_request(buf, size, family, seq, cmd, !name);
        if (!nlh || (name && !mnl_attr_put_strz_check(nlh, size, VDPA_ATTR_DEV_NAME, name)))
                return -EMSGSIZE;
        return (int) nlh->nlmsg_len;
}

int vdpa_nl_build_dev_get(void *buf, size_t size, uint16_t family, uint32_t seq, const char *name) {
        return build_by_name(buf, size, family, seq, VDPA_CMD_DEV_GET, name, true);
}

int vdpa_nl_build_config_get(void *buf, size_t size, uint16_t family, uint32_t seq, const char *name) {
        return build_by_name(buf, size, family, seq, VDPA_CMD_DEV_CONFIG_GET, name, true);
}

int vdpa_nl_build_dev_del(void *buf, size_t size, uint16_t family, uint32_t seq, const char *name) {
        return build_by_name(buf, size, family, seq, VDPA_CMD_DEV_DEL, name, false);
}

/* The attributes in iproute2's order (vdpa_opts_put), so that the kernel
 * sees exactly what `vdpa dev add` would send. */
static bool put_new_attrs(struct nlmsghdr *nlh, size_t size, const VdpaNlNewParams *p, const char *bus,
                          const char *dev) {
        if (bus && !mnl_attr_put_strz_check(nlh, size, VDPA_ATTR_MGMTDEV_BUS_NAME, bus))
                return false;
        if (!mnl_attr_put_strz_check(nlh, size, VDPA_ATTR_MGMTDEV_DEV_NAME, dev) ||
            !mnl_attr_put_strz_check(nlh, size, VDPA_ATTR_DEV_NAME, p->name))
                return false;
        if (p->has_mac && !mnl_attr_put_check(nlh, size, VDPA_ATTR_DEV_NET_CFG_MACADDR, sizeof p->mac, p->mac))
                return false;
        if (p->mtu != 0 && !mnl_attr_put_u16_check(nlh, size, VDPA_ATTR_DEV_NET_CFG_MTU, p->mtu))
                return false;
        if (p->max_vqp != 0 && !mnl_attr_put_u16_check(nlh, size, VDPA_ATTR_DEV_NET_CFG_MAX_VQP, p->max_vqp))
                return false;
        return true;
}

int vdpa_nl_build_dev_new(void *buf, size_t size, uint16_t family, uint32_t seq, const VdpaNlNewParams *p) {
        g_autofree char *bus = NULL, *dev = NULL;
        struct nlmsghdr *nlh;

        if (!p->name || vdpa_nl_split_handle(p->mgmtdev, &bus, &dev) < 0)
                return -EINVAL;
        nlh = put_vdpa_request(buf, size, family, seq, VDPA_CMD_DEV_NEW, false);
        if (!nlh || !put_new_attrs(nlh, size, p, bus, dev))
                return -EMSGSIZE;
        return (int) nlh->nlmsg_len;
}

/* --- attributes --- */

/* How a known attribute must look; MNL_TYPE_UNSPEC (0) marks the ones we
 * skip: VDPA_ATTR_PAD before a u64, and what we do not read. */
typedef struct AttrPolicy {
        enum mnl_attr_data_type type;
        size_t len;             /* exact payload length; 0 for strings */
} AttrPolicy;

#define NUL_STRING { MNL_TYPE_NUL_STRING, 0 }
#define U16 { MNL_TYPE_U16, sizeof(uint16_t) }
#define U32 { MNL_TYPE_U32, sizeof(uint32_t) }
#define U64 { MNL_TYPE_U64, sizeof(uint64_t) }

static const AttrPolicy family_policy[CTRL_ATTR_MAX + 1] = {
        [CTRL_ATTR_FAMILY_ID] = U16,
        [CTRL_ATTR_FAMILY_NAME] = NUL_STRING,
        [CTRL_ATTR_MAXATTR] = U32,
};

static const AttrPolicy mgmtdev_policy[VDPA_ATTR_MAX + 1] = {
        [VDPA_ATTR_MGMTDEV_BUS_NAME] = NUL_STRING,
        [VDPA_ATTR_MGMTDEV_DEV_NAME] = NUL_STRING,
        [VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES] = U64,
        [VDPA_ATTR_DEV_MGMTDEV_MAX_VQS] = U32,
        [VDPA_ATTR_DEV_SUPPORTED_FEATURES] = U64,
};

static const AttrPolicy device_policy[VDPA_ATTR_MAX + 1] = {
        [VDPA_ATTR_MGMTDEV_BUS_NAME] = NUL_STRING,
        [VDPA_ATTR_MGMTDEV_DEV_NAME] = NUL_STRING,
        [VDPA_ATTR_DEV_NAME] = NUL_STRING,
        [VDPA_ATTR_DEV_ID] = U32,
        [VDPA_ATTR_DEV_VENDOR_ID] = U32,
        [VDPA_ATTR_DEV_MAX_VQS] = U32,
        [VDPA_ATTR_DEV_MAX_VQ_SIZE] = U16,
        [VDPA_ATTR_DEV_MIN_VQ_SIZE] = U16,
};

/* Attribute 21 is left out: it means device features in 6.1, nothing in
 * 6.2, and a block device's capacity from 6.9 on (docs/vdpa-netlink.md §8). */
static const AttrPolicy config_policy[VDPA_ATTR_MAX + 1] = {
        [VDPA_ATTR_DEV_NAME] = NUL_STRING,
        [VDPA_ATTR_DEV_ID] = U32,
        [VDPA_ATTR_DEV_NEGOTIATED_FEATURES] = U64,
        [VDPA_ATTR_DEV_NET_STATUS] = U16,       /* u8 says the uapi comment; the kernel puts a u16 */
        [VDPA_ATTR_DEV_NET_CFG_MTU] = U16,
        [VDPA_ATTR_DEV_NET_CFG_MACADDR] = { MNL_TYPE_BINARY, 6 },
        [VDPA_ATTR_DEV_NET_CFG_MAX_VQP] = U16,
};

static const AttrPolicy extack_policy[NLMSGERR_ATTR_MAX + 1] = {
        [NLMSGERR_ATTR_MSG] = NUL_STRING,
};

typedef struct AttrTable {
        const AttrPolicy *policy;
        uint16_t max;
        const struct nlattr **tb;       /* max + 1 slots */
} AttrTable;

static int attr_cb(const struct nlattr *a, void *data) {
        const AttrTable *t = data;
        uint16_t type = mnl_attr_get_type(a);

        /* A newer kernel's attributes, and those we do not read. */
        if (mnl_attr_type_valid(a, t->max) < 0 || t->policy[type].type == MNL_TYPE_UNSPEC)
                return MNL_CB_OK;
        if (mnl_attr_validate2(a, t->policy[type].type, t->policy[type].len) < 0)
                return MNL_CB_ERROR;
        t->tb[type] = a;
        return MNL_CB_OK;
}

/* The attributes of NLH from payload offset OFFSET into TB, or -EPROTO. */
static int parse_attrs(const struct nlmsghdr *nlh, size_t offset, const AttrPolicy *policy, uint16_t max,
                       const struct nlattr **tb) {
        AttrTable t = { .policy = policy, .max = max, .tb = tb };

        /* mnl_attr_parse() would compute a pointer past the message. */
        if (offset > mnl_nlmsg_get_payload_len(nlh))
                return -EPROTO;
        return mnl_attr_parse(nlh, (unsigned) offset, attr_cb, &t) == MNL_CB_ERROR ? -EPROTO : 0;
}

static bool has_name(const struct nlattr *a) {
        return a && *mnl_attr_get_str(a);
}

static uint16_t get_u16(const struct nlattr *a) {
        return a ? mnl_attr_get_u16(a) : 0;
}

static uint32_t get_u32(const struct nlattr *a) {
        return a ? mnl_attr_get_u32(a) : 0;
}

static uint64_t get_u64(const struct nlattr *a) {
        return a ? mnl_attr_get_u64(a) : 0;
}

/* --- data messages --- */

static int parse_family(VdpaNlReply *r, const struct nlmsghdr *nlh) {
        const struct nlattr *tb[CTRL_ATTR_MAX + 1] = { NULL };
        uint16_t id;

        if (parse_attrs(nlh, GENL_HDRLEN, family_policy, CTRL_ATTR_MAX, tb) < 0 || !tb[CTRL_ATTR_FAMILY_ID])
                return -EPROTO;
        if (tb[CTRL_ATTR_FAMILY_NAME] && !g_str_equal(mnl_attr_get_str(tb[CTRL_ATTR_FAMILY_NAME]), VDPA_GENL_NAME))
                return -EPROTO;
        /* Ids below NLMSG_MIN_TYPE are netlink's control messages. */
        id = mnl_attr_get_u16(tb[CTRL_ATTR_FAMILY_ID]);
        if (id < NLMSG_MIN_TYPE)
                return -EPROTO;
        r->family_id = id;
        return 0;
}

static int parse_mgmtdev(VdpaNlReply *r, const struct nlmsghdr *nlh) {
        const struct nlattr *tb[VDPA_ATTR_MAX + 1] = { NULL };
        VdpaNlMgmtdev *m;

        if (parse_attrs(nlh, GENL_HDRLEN, mgmtdev_policy, VDPA_ATTR_MAX, tb) < 0 ||
            !has_name(tb[VDPA_ATTR_MGMTDEV_DEV_NAME]))
                return -EPROTO;
        m = g_new0(VdpaNlMgmtdev, 1);
        m->bus_name = g_strdup(tb[VDPA_ATTR_MGMTDEV_BUS_NAME] ? mnl_attr_get_str(tb[VDPA_ATTR_MGMTDEV_BUS_NAME]) : "");
        m->dev_name = g_strdup(mnl_attr_get_str(tb[VDPA_ATTR_MGMTDEV_DEV_NAME]));
        m->supported_classes = get_u64(tb[VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES]);
        m->max_vqs = get_u32(tb[VDPA_ATTR_DEV_MGMTDEV_MAX_VQS]);
        m->supported_features = get_u64(tb[VDPA_ATTR_DEV_SUPPORTED_FEATURES]);
        g_ptr_array_add(r->items, m);
        return 0;
}

static int parse_device(VdpaNlReply *r, const struct nlmsghdr *nlh) {
        const struct nlattr *tb[VDPA_ATTR_MAX + 1] = { NULL };
        const struct nlattr *bus;
        VdpaNlDevice *d;

        if (parse_attrs(nlh, GENL_HDRLEN, device_policy, VDPA_ATTR_MAX, tb) < 0 ||
            !has_name(tb[VDPA_ATTR_MGMTDEV_DEV_NAME]) || !has_name(tb[VDPA_ATTR_DEV_NAME]) || !tb[VDPA_ATTR_DEV_ID])
                return -EPROTO;
        bus = tb[VDPA_ATTR_MGMTDEV_BUS_NAME];
        d = g_new0(VdpaNlDevice, 1);
        d->name = g_strdup(mnl_attr_get_str(tb[VDPA_ATTR_DEV_NAME]));
        d->mgmtdev = format_handle(bus ? mnl_attr_get_str(bus) : NULL,
                                   mnl_attr_get_str(tb[VDPA_ATTR_MGMTDEV_DEV_NAME]));
        d->device_id = mnl_attr_get_u32(tb[VDPA_ATTR_DEV_ID]);
        d->vendor_id = get_u32(tb[VDPA_ATTR_DEV_VENDOR_ID]);
        d->max_vqs = get_u32(tb[VDPA_ATTR_DEV_MAX_VQS]);
        d->max_vq_size = get_u16(tb[VDPA_ATTR_DEV_MAX_VQ_SIZE]);
        d->min_vq_size = get_u16(tb[VDPA_ATTR_DEV_MIN_VQ_SIZE]);
        g_ptr_array_add(r->items, d);
        return 0;
}

static int parse_config(VdpaNlReply *r, const struct nlmsghdr *nlh) {
        const struct nlattr *tb[VDPA_ATTR_MAX + 1] = { NULL };
        VdpaNlConfig *c;

        if (parse_attrs(nlh, GENL_HDRLEN, config_policy, VDPA_ATTR_MAX, tb) < 0 ||
            !has_name(tb[VDPA_ATTR_DEV_NAME]) || !tb[VDPA_ATTR_DEV_ID])
                return -EPROTO;
        c = g_new0(VdpaNlConfig, 1);
        c->name = g_strdup(mnl_attr_get_str(tb[VDPA_ATTR_DEV_NAME]));
        c->device_id = mnl_attr_get_u32(tb[VDPA_ATTR_DEV_ID]);
        c->has_mac = tb[VDPA_ATTR_DEV_NET_CFG_MACADDR];
        if (c->has_mac)
                memcpy(c->mac, mnl_attr_get_payload(tb[VDPA_ATTR_DEV_NET_CFG_MACADDR]), sizeof c->mac);
        c->mtu = get_u16(tb[VDPA_ATTR_DEV_NET_CFG_MTU]);
        c->max_vqp = get_u16(tb[VDPA_ATTR_DEV_NET_CFG_MAX_VQP]);
        c->has_status = tb[VDPA_ATTR_DEV_NET_STATUS];
        c->status = get_u16(tb[VDPA_ATTR_DEV_NET_STATUS]);
        c->has_negotiated_features = tb[VDPA_ATTR_DEV_NEGOTIATED_FEATURES];
        c->negotiated_features = get_u64(tb[VDPA_ATTR_DEV_NEGOTIATED_FEATURES]);
        g_ptr_array_add(r->items, c);
        return 0;
}

typedef int (*ParseFunc)(VdpaNlReply *r, const struct nlmsghdr *nlh);

static const ParseFunc parsers[_VDPA_NL_REPLY_KIND_MAX] = {
        [VDPA_NL_REPLY_FAMILY] = parse_family,
        [VDPA_NL_REPLY_MGMTDEV] = parse_mgmtdev,
        [VDPA_NL_REPLY_DEVICE] = parse_device,
        [VDPA_NL_REPLY_CONFIG] = parse_config,
};

/* One answer expected: nlctrl has nothing to dump for us. */
static bool one_answer(const VdpaNlReply *r) {
        return !r->dump || r->kind == VDPA_NL_REPLY_FAMILY;
}

static unsigned answers(const VdpaNlReply *r) {
        return r->kind == VDPA_NL_REPLY_FAMILY ? (r->family_id != 0) : r->items->len;
}

static int on_data(VdpaNlReply *r, const struct nlmsghdr *nlh) {
        ParseFunc parse = parsers[r->kind];
        int k;

        /* DEV_NEW and DEV_DEL are answered by the ACK alone; a doit by one
         * message. */
        if (!parse || nlh->nlmsg_type != r->msg_type || (one_answer(r) && answers(r) > 0))
                return -EPROTO;
        if (mnl_nlmsg_get_payload_len(nlh) < GENL_HDRLEN)
                return -EPROTO;
        k = parse(r, nlh);
        return k < 0 ? k : MNL_CB_OK;
}

/* --- control messages --- */

static void take_extack(VdpaNlReply *r, const struct nlmsghdr *nlh, size_t offset) {
        const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = { NULL };

        if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
                return;
        /* A malformed extack costs the text, never the errno (iproute2
         * prints nothing then either). */
        if (parse_attrs(nlh, offset, extack_policy, NLMSGERR_ATTR_MAX, tb) < 0 || !tb[NLMSGERR_ATTR_MSG])
                return;
        g_free(r->extack);
        r->extack = g_strdup(mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]));
}

/* 0 or the negative errno an ACK or DONE carries; -EPROTO for what no
 * kernel sends (a positive value, or one beyond MAX_ERRNO). */
static int kernel_errno(int error) {
        return error <= 0 && error >= -KERNEL_MAX_ERRNO ? error : -EPROTO;
}

/* The end of a doit or dump: did the expected answer come? */
static int on_success(VdpaNlReply *r) {
        if (one_answer(r) && r->kind != VDPA_NL_REPLY_ACK && answers(r) != 1)
                return -EPROTO;
        return VDPA_NL_COMPLETE;
}

static int on_error(VdpaNlReply *r, const struct nlmsghdr *nlh) {
        const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
        size_t offset;
        int error;

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof *e)
                return -EPROTO;
        /* The TLVs follow the echoed request: its header alone when capped
         * (NETLINK_CAP_ACK), all of it otherwise. */
        offset = nlh->nlmsg_flags & NLM_F_CAPPED ? sizeof *e : sizeof e->error + (size_t) e->msg.nlmsg_len;
        take_extack(r, nlh, offset);
        error = kernel_errno(e->error);
        return error < 0 ? error : on_success(r);
}

static int on_done(VdpaNlReply *r, const struct nlmsghdr *nlh) {
        int error = 0;

        /* Every kernel since 2.6 sends the dump's errno as an int; a DONE
         * without one ends the dump as libmnl's mnl_cb_stop() would. */
        if (mnl_nlmsg_get_payload_len(nlh) >= sizeof error) {
                memcpy(&error, mnl_nlmsg_get_payload(nlh), sizeof error);
                take_extack(r, nlh, sizeof error);
        }
        error = kernel_errno(error);
        return error < 0 ? error : on_success(r);
}

/* --- datagrams --- */

/* MNL_CB_OK to go on, VDPA_NL_COMPLETE, or a negative errno. */
static int process_msg(VdpaNlReply *r, const struct nlmsghdr *nlh) {
        if (!mnl_nlmsg_portid_ok(nlh, r->portid))
                return -ESRCH;
        if (!mnl_nlmsg_seq_ok(nlh, r->seq))
                return MNL_CB_OK;
        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
                return -EINTR;
        switch (nlh->nlmsg_type) {
        case NLMSG_ERROR:
                return on_error(r, nlh);
        case NLMSG_DONE:
                return on_done(r, nlh);
        default:
                /* NOOP, OVERRUN and the reserved control types mean nothing
                 * to a request's answer (libmnl skips them as well). */
                if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
                        return MNL_CB_OK;
                return on_data(r, nlh);
        }
}

/* mnl_nlmsg_ok() casts nlmsg_len to int, so a length of 2^31 or more would
 * pass as negative and send mnl_nlmsg_next() far beyond the buffer. */
static bool msg_ok(const struct nlmsghdr *nlh, int left) {
        return left >= (int) sizeof *nlh && nlh->nlmsg_len <= (uint32_t) left && mnl_nlmsg_ok(nlh, left);
}

static int finish(VdpaNlReply *r, int result) {
        r->finished = true;
        r->result = result;
        return result;
}

int vdpa_nl_reply_process(VdpaNlReply *r, const void *buf, size_t len) {
        const struct nlmsghdr *nlh = buf;
        int left;

        if (r->finished)
                return r->result;
        if (len > VDPA_NL_RECV_SIZE)
                return finish(r, -EPROTO);

        for (left = (int) len; msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
                int k = process_msg(r, nlh);

                if (k <= 0)
                        return finish(r, k);
        }
        /* Bytes that do not make a message: a datagram cut short. */
        if (left > 0)
                return finish(r, -EPROTO);
        return VDPA_NL_MORE;
}

void vdpa_nl_reply_init(VdpaNlReply *r, VdpaNlReplyKind kind, bool dump, uint16_t msg_type, uint32_t seq,
                        uint32_t portid) {
        static const GDestroyNotify item_free[_VDPA_NL_REPLY_KIND_MAX] = {
                [VDPA_NL_REPLY_MGMTDEV] = (GDestroyNotify) vdpa_nl_mgmtdev_free,
                [VDPA_NL_REPLY_DEVICE] = (GDestroyNotify) vdpa_nl_device_free,
                [VDPA_NL_REPLY_CONFIG] = (GDestroyNotify) vdpa_nl_config_free,
        };

        g_assert(kind < _VDPA_NL_REPLY_KIND_MAX);
        *r = (VdpaNlReply) {
                .kind = kind,
                .dump = dump,
                .msg_type = msg_type,
                .seq = seq,
                .portid = portid,
                .items = g_ptr_array_new_with_free_func(item_free[kind]),
        };
}

void vdpa_nl_reply_clear(VdpaNlReply *r) {
        g_clear_pointer(&r->items, g_ptr_array_unref);
        g_clear_pointer(&r->extack, g_free);
}
