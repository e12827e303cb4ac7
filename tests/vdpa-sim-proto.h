/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The framing between libvdpa-sim-preload.so (the client side, in the
 * program that thinks it talks netlink) and the simulator (tests/vdpa-sim.c).
 * No GLib here: the preload is built without it.
 *
 * Transport: one AF_UNIX SOCK_SEQPACKET connection per netlink socket, to
 * $UMOCKDEV_DIR/vdpa-netlink.sock.  Every record is one netlink datagram,
 * as the program wrote it (client → simulator) or as the kernel would
 * deliver it (simulator → client), with one exception: a CONTROL record
 * from the client, recognisable because its first 32-bit word, where a
 * netlink message has its nlmsg_len (at least 16), is 0.
 *
 * The client sends a control record before its first datagram and again
 * whenever the state changes (bind/autobind, NETLINK_CAP_ACK,
 * NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK); the simulator applies the
 * latest one to the datagrams that follow (SEQPACKET keeps the order).
 * The simulator sends nothing but netlink datagrams.  It learns the peer's
 * pid (for the CAP_NET_ADMIN check) from SO_PEERCRED, not from the record.
 */
#pragma once

#include <stdint.h>

#define VDPA_SIM_CTL_MAGIC 0x4d495356u /* "VSIM" */
#define VDPA_SIM_CTL_VERSION 1u

#define VDPA_SIM_CTL_CAP_ACK    (1u << 0)
#define VDPA_SIM_CTL_EXT_ACK    (1u << 1)
#define VDPA_SIM_CTL_STRICT_CHK (1u << 2)

struct vdpa_sim_ctl {
        uint32_t zero;    /* 0: never a valid nlmsg_len */
        uint32_t magic;   /* VDPA_SIM_CTL_MAGIC */
        uint32_t version; /* VDPA_SIM_CTL_VERSION */
        uint32_t port_id; /* the socket's netlink port id (nl_pid) */
        uint32_t flags;   /* VDPA_SIM_CTL_* */
};
