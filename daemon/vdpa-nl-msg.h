/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The messages of the kernel's "vdpa" generic-netlink family, built and
 * parsed without any I/O (fuzzed by tests/fuzz/fuzz-vdpa-nl.c).  Parsing
 * follows what the kernel sends (docs/vdpa-netlink.md §2, §3): attributes
 * it does not know are skipped, a known attribute of the wrong size makes
 * the message malformed (-EPROTO), never a crash or a short read. */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

/* What DEV_GET tells about one vDPA device. */
typedef struct VdpaNlDevice {
        char *name;
        char *mgmtdev;          /* handle: "pci/0000:04:00.2", "auxiliary/mlx5_core.sf.4", "vdpasim_net" */
        uint32_t device_id;     /* virtio device id: 1 net, 2 block; 0 when not sent */
        uint32_t vendor_id;
        uint32_t max_vqs;       /* 0 when not sent */
        uint16_t max_vq_size;   /* 0 when not sent */
        uint16_t min_vq_size;
} VdpaNlDevice;

/* What DEV_CONFIG_GET tells. */
typedef struct VdpaNlConfig {
        char *name;
        uint32_t device_id;
        bool has_mac;
        uint8_t mac[6];
        uint16_t mtu;           /* 0 when not sent */
        uint16_t max_vqp;       /* 0 when not sent */
        bool has_status;
        uint16_t status;        /* virtio_net_config.status (VIRTIO_NET_S_LINK_UP 1) */
        bool has_negotiated_features;
        uint64_t negotiated_features;
} VdpaNlConfig;

/* One management device of MGMTDEV_GET. */
typedef struct VdpaNlMgmtdev {
        char *bus_name;         /* "pci", "auxiliary", or "" when it has no bus */
        char *dev_name;         /* "0000:04:00.2", "vdpasim_net" */
        uint64_t supported_classes;   /* bit N: virtio device id N */
        uint32_t max_vqs;
        uint64_t supported_features;
} VdpaNlMgmtdev;

/* DEV_NEW parameters.  Zero/false fields are not sent. */
typedef struct VdpaNlNewParams {
        const char *mgmtdev;    /* handle "bus/dev" or "dev" */
        const char *name;
        bool has_mac;
        uint8_t mac[6];
        uint16_t mtu;
        uint16_t max_vqp;
} VdpaNlNewParams;

void vdpa_nl_device_free(VdpaNlDevice *d);
void vdpa_nl_config_free(VdpaNlConfig *c);
void vdpa_nl_mgmtdev_free(VdpaNlMgmtdev *m);
VdpaNlDevice *vdpa_nl_device_dup(const VdpaNlDevice *d);
VdpaNlConfig *vdpa_nl_config_dup(const VdpaNlConfig *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaNlDevice, vdpa_nl_device_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaNlConfig, vdpa_nl_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaNlMgmtdev, vdpa_nl_mgmtdev_free)

/* "pci/0000:04:00.2" for a management device with a bus, else its name. */
char *vdpa_nl_mgmtdev_handle(const VdpaNlMgmtdev *m);

/* --- requests --- */

/* Big enough for every request: the page-sized buffer iproute2 uses. */
#define VDPA_NL_REQUEST_SIZE 4096
/* Big enough for every datagram the kernel sends: netlink_recvmsg() caps a
 * dump's skb at 32 KiB, whatever buffer the reader offers (libmnl 1.0.5's
 * MNL_SOCKET_DUMP_SIZE; Debian 12 has 1.0.4, which lacks it). */
#define VDPA_NL_RECV_SIZE 32768

/* Each builder writes one request with sequence number SEQ into BUF (SIZE
 * bytes, 4-byte aligned) and returns its length, or -EMSGSIZE when it does
 * not fit.  Every request asks for an ACK; FAMILY is the resolved id of
 * "vdpa".  Strings go NUL-terminated (the kernel reads them as C strings). */
int vdpa_nl_build_getfamily(void *buf, size_t size, uint32_t seq);
int vdpa_nl_build_mgmtdev_dump(void *buf, size_t size, uint16_t family, uint32_t seq);
/* NAME NULL: the dump. */
int vdpa_nl_build_dev_get(void *buf, size_t size, uint16_t family, uint32_t seq, const char *name);
int vdpa_nl_build_config_get(void *buf, size_t size, uint16_t family, uint32_t seq, const char *name);
/* -EINVAL: no name or management device, or a handle with more than one '/'. */
int vdpa_nl_build_dev_new(void *buf, size_t size, uint16_t family, uint32_t seq, const VdpaNlNewParams *p);
int vdpa_nl_build_dev_del(void *buf, size_t size, uint16_t family, uint32_t seq, const char *name);

/* A handle as iproute2 reads it: no '/' is a device without a bus (*RET_BUS
 * NULL), one '/' separates bus and device, more is -EINVAL. */
int vdpa_nl_split_handle(const char *handle, char **ret_bus, char **ret_dev);

/* --- replies --- */

typedef enum VdpaNlReplyKind {
        VDPA_NL_REPLY_FAMILY,   /* nlctrl NEWFAMILY: family_id */
        VDPA_NL_REPLY_MGMTDEV,  /* items: VdpaNlMgmtdev* */
        VDPA_NL_REPLY_DEVICE,   /* items: VdpaNlDevice* */
        VDPA_NL_REPLY_CONFIG,   /* items: VdpaNlConfig* */
        VDPA_NL_REPLY_ACK,      /* DEV_NEW, DEV_DEL: nothing but the ACK */
        _VDPA_NL_REPLY_KIND_MAX,
} VdpaNlReplyKind;

/* vdpa_nl_reply_process() results besides a negative errno. */
enum {
        VDPA_NL_COMPLETE = 0,   /* the ACK or NLMSG_DONE arrived */
        VDPA_NL_MORE = 1,       /* the answer goes on in a later datagram */
};

/* The answer to one request, collected datagram by datagram.  The socket
 * client and the fuzz target feed it the same way. */
typedef struct VdpaNlReply {
        /* What is expected (vdpa_nl_reply_init). */
        VdpaNlReplyKind kind;
        bool dump;              /* several data messages, else exactly one (or none for ACK) */
        uint16_t msg_type;      /* data messages carry the family id */
        uint32_t seq;
        uint32_t portid;

        /* What came. */
        GPtrArray *items;       /* of KIND; complete doit: exactly one */
        uint16_t family_id;     /* FAMILY, complete: >= NLMSG_MIN_TYPE */
        char *extack;           /* NLMSGERR_ATTR_MSG of the ACK, ERROR or DONE, or NULL */
        bool finished;
        int result;             /* once finished: VDPA_NL_COMPLETE or a negative errno */
} VdpaNlReply;

void vdpa_nl_reply_init(VdpaNlReply *r, VdpaNlReplyKind kind, bool dump, uint16_t msg_type, uint32_t seq,
                        uint32_t portid);
void vdpa_nl_reply_clear(VdpaNlReply *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VdpaNlReply, vdpa_nl_reply_clear)

/* Takes one received datagram (BUF 4-byte aligned, as any receive buffer
 * from malloc or a union with struct nlmsghdr).  Messages with another
 * sequence number are skipped: they answer an earlier request that timed
 * out.  Returns VDPA_NL_MORE, VDPA_NL_COMPLETE, the kernel's negative errno
 * (NLMSG_ERROR, or a negative NLMSG_DONE) or -EPROTO (malformed: a bad
 * header, a known attribute of the wrong size, a string without its NUL, a
 * required attribute missing, a doit answered twice), -ESRCH (another
 * port's message), -EINTR (an interrupted dump).  Once finished, it keeps
 * returning the same result. */
int vdpa_nl_reply_process(VdpaNlReply *r, const void *buf, size_t len);
