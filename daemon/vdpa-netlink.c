/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vdpa-netlink.h"

#include <errno.h>
#include <poll.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>

#include "log.h"
#include "macro.h"

struct VdpaNetlink {
        struct mnl_socket *sock;
        uint32_t portid;
        uint32_t seq;           /* of the last request */
        uint16_t family;
        uint64_t timeout_usec;
        /* Requests and answers are built and read here, never on the stack:
         * a dump datagram is up to 32 KiB. */
        union {
                struct nlmsghdr nlh;
                char bytes[VDPA_NL_REQUEST_SIZE];
        } req;
        union {
                struct nlmsghdr nlh;
                char bytes[VDPA_NL_RECV_SIZE];
        } recv;
};

void vdpa_netlink_free(VdpaNetlink *nl) {
        if (!nl)
                return;
        if (nl->sock)
                mnl_socket_close(nl->sock);
        g_free(nl);
}

/* Never 0: a message with sequence number 0 is not an answer to anything. */
static uint32_t next_seq(VdpaNetlink *nl) {
        if (++nl->seq == 0)
                nl->seq = 1;
        return nl->seq;
}

/* Waits until FD has EVENTS or DEADLINE (monotonic µs, 0: none) passed. */
static int wait_fd(int fd, short events, int64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                int ms = -1, n;

                if (deadline > 0) {
                        int64_t left = deadline - g_get_monotonic_time();

                        if (left <= 0)
                                return -ETIMEDOUT;
                        /* Rounded up: waking before the deadline would only
                         * spin once more. */
                        ms = (int) MIN((left + 999) / 1000, (int64_t) INT_MAX);
                }
                n = poll(&p, 1, ms);
                if (n > 0)
                        return 0;
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

static int send_request(VdpaNetlink *nl, size_t len, int64_t deadline) {
        int fd = mnl_socket_get_fd(nl->sock);

        for (;;) {
                int r;

                if (mnl_socket_sendto(nl->sock, nl->req.bytes, len) >= 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
        }
}

/* One datagram into nl->recv: its length, 0 when there was none after
 * all, or a negative errno. */
static ssize_t receive_one(VdpaNetlink *nl) {
        ssize_t n = mnl_socket_recvfrom(nl->sock, nl->recv.bytes, sizeof nl->recv.bytes);

        if (n >= 0)
                return n;
        if (errno == EAGAIN || errno == EINTR)
                return 0;
        /* libmnl's ENOSPC means a truncated datagram; the kernel's ENOSPC
         * (a management device that is full) must not be confused with it. */
        return errno == ENOSPC ? -EMSGSIZE : -errno;
}

static int receive_reply(VdpaNetlink *nl, VdpaNlReply *r, int64_t deadline) {
        int fd = mnl_socket_get_fd(nl->sock);

        for (;;) {
                ssize_t n;
                int k;

                k = wait_fd(fd, POLLIN, deadline);
                if (k < 0)
                        return k;
                n = receive_one(nl);
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        continue;
                k = vdpa_nl_reply_process(r, nl->recv.bytes, (size_t) n);
                if (k != VDPA_NL_MORE)
                        return k;
        }
}

/* Sends the LEN bytes of nl->req, built with sequence number SEQ, and
 * collects the answer into R, all within the timeout. */
static int exchange(VdpaNetlink *nl, int len, VdpaNlReply *r, char **ret_extack) {
        int64_t deadline = nl->timeout_usec > 0 ? g_get_monotonic_time() + (int64_t) nl->timeout_usec : 0;
        int k;

        if (ret_extack)
                *ret_extack = NULL;
        if (len < 0)
                return len;
        k = send_request(nl, (size_t) len, deadline);
        if (k >= 0)
                k = receive_reply(nl, r, deadline);
        if (ret_extack)
                *ret_extack = g_steal_pointer(&r->extack);
        return k;
}

static int resolve_family(VdpaNetlink *nl) {
        g_auto(VdpaNlReply) r = { 0 };
        uint32_t seq = next_seq(nl);
        int k;

        vdpa_nl_reply_init(&r, VDPA_NL_REPLY_FAMILY, false, GENL_ID_CTRL, seq, nl->portid);
        k = exchange(nl, vdpa_nl_build_getfamily(nl->req.bytes, sizeof nl->req.bytes, seq), &r, NULL);
        if (k < 0)
                return k;
        nl->family = r.family_id;
        return 0;
}

static void enable_option(VdpaNetlink *nl, int option, const char *name) {
        int one = 1;

        /* As iproute2: without it the answers are only longer (CAP_ACK) or
         * come without the kernel's explanation (EXT_ACK). */
        if (mnl_socket_setsockopt(nl->sock, option, &one, sizeof one) < 0)
                log_debug_errno(errno, "Cannot set %s on the netlink socket: %m", name);
}

int vdpa_netlink_open(uint64_t timeout_usec, VdpaNetlink **ret) {
        g_autoptr(VdpaNetlink) nl = g_new0(VdpaNetlink, 1);
        int r;

        nl->timeout_usec = timeout_usec;
        nl->sock = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!nl->sock)
                return -errno;
        enable_option(nl, NETLINK_CAP_ACK, "NETLINK_CAP_ACK");
        enable_option(nl, NETLINK_EXT_ACK, "NETLINK_EXT_ACK");
        if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0)
                return -errno;
        nl->portid = mnl_socket_get_portid(nl->sock);

        r = resolve_family(nl);
        if (r < 0)
                return r;
        *ret = g_steal_pointer(&nl);
        return 0;
}

#define BUF(nl) (nl)->req.bytes, sizeof (nl)->req.bytes

/* A request with data messages in its answer: R gets them. */
static int query(VdpaNetlink *nl, VdpaNlReply *r, VdpaNlReplyKind kind, uint8_t cmd, const char *name,
                 char **ret_extack) {
        uint32_t seq = next_seq(nl);
        int len;

        vdpa_nl_reply_init(r, kind, !name, nl->family, seq, nl->portid);
        switch (cmd) {
        case VDPA_CMD_MGMTDEV_GET:
                len = vdpa_nl_build_mgmtdev_dump(BUF(nl), nl->family, seq);
                break;
        case VDPA_CMD_DEV_GET:
                len = vdpa_nl_build_dev_get(BUF(nl), nl->family, seq, name);
                break;
        default:
                len = vdpa_nl_build_config_get(BUF(nl), nl->family, seq, name);
                break;
        }
        return exchange(nl, len, r, ret_extack);
}

static int query_dump(VdpaNetlink *nl, VdpaNlReplyKind kind, uint8_t cmd, GPtrArray **ret, char **ret_extack) {
        g_auto(VdpaNlReply) r = { 0 };
        int k = query(nl, &r, kind, cmd, NULL, ret_extack);

        if (k < 0)
                return k;
        *ret = g_steal_pointer(&r.items);
        return 0;
}

static int query_one(VdpaNetlink *nl, VdpaNlReplyKind kind, uint8_t cmd, const char *name, void **ret,
                     char **ret_extack) {
        g_auto(VdpaNlReply) r = { 0 };
        int k;

        if (!name) {
                if (ret_extack)
                        *ret_extack = NULL;
                return -EINVAL;
        }
        k = query(nl, &r, kind, cmd, name, ret_extack);
        if (k < 0)
                return k;
        /* A complete doit has exactly one (vdpa_nl_reply_process()). */
        *ret = g_ptr_array_steal_index(r.items, 0);
        return 0;
}

int vdpa_netlink_dev_dump(VdpaNetlink *nl, GPtrArray **ret, char **ret_extack) {
        return query_dump(nl, VDPA_NL_REPLY_DEVICE, VDPA_CMD_DEV_GET, ret, ret_extack);
}

int vdpa_netlink_dev_get(VdpaNetlink *nl, const char *name, VdpaNlDevice **ret, char **ret_extack) {
        return query_one(nl, VDPA_NL_REPLY_DEVICE, VDPA_CMD_DEV_GET, name, (void **) ret, ret_extack);
}

int vdpa_netlink_config_dump(VdpaNetlink *nl, GPtrArray **ret, char **ret_extack) {
        return query_dump(nl, VDPA_NL_REPLY_CONFIG, VDPA_CMD_DEV_CONFIG_GET, ret, ret_extack);
}

int vdpa_netlink_config_get(VdpaNetlink *nl, const char *name, VdpaNlConfig **ret, char **ret_extack) {
        return query_one(nl, VDPA_NL_REPLY_CONFIG, VDPA_CMD_DEV_CONFIG_GET, name, (void **) ret, ret_extack);
}

int vdpa_netlink_mgmtdev_dump(VdpaNetlink *nl, GPtrArray **ret, char **ret_extack) {
        return query_dump(nl, VDPA_NL_REPLY_MGMTDEV, VDPA_CMD_MGMTDEV_GET, ret, ret_extack);
}

int vdpa_netlink_dev_new(VdpaNetlink *nl, const VdpaNlNewParams *p, char **ret_extack) {
        g_auto(VdpaNlReply) r = { 0 };
        uint32_t seq = next_seq(nl);

        vdpa_nl_reply_init(&r, VDPA_NL_REPLY_ACK, false, nl->family, seq, nl->portid);
        return exchange(nl, vdpa_nl_build_dev_new(BUF(nl), nl->family, seq, p), &r, ret_extack);
}

int vdpa_netlink_dev_del(VdpaNetlink *nl, const char *name, char **ret_extack) {
        g_auto(VdpaNlReply) r = { 0 };
        uint32_t seq = next_seq(nl);

        vdpa_nl_reply_init(&r, VDPA_NL_REPLY_ACK, false, nl->family, seq, nl->portid);
        return exchange(nl, vdpa_nl_build_dev_del(BUF(nl), nl->family, seq, name), &r, ret_extack);
}
