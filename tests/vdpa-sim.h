/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A simulator of the kernel's "vdpa" generic-netlink family (Linux 6.1,
 * drivers/vdpa/vdpa.c; docs/vdpa-netlink.md is the spec), for tests and
 * the demo only: nothing of it is linked into the daemon.
 *
 * How it reaches a program.  tests/vdpa-sim-preload.c builds
 * libvdpa-sim-preload.so, loaded after umockdev's preload
 * (LD_PRELOAD=libumockdev-preload.so.0:.../libvdpa-sim-preload.so).  When
 * $UMOCKDEV_DIR/vdpa-netlink.sock exists, socket(AF_NETLINK, *,
 * NETLINK_GENERIC) gives an AF_UNIX SOCK_SEQPACKET socket connected to this
 * simulator instead; bind/getsockname/sockopts/send/recv are translated so
 * that libmnl and iproute2 see a netlink socket.  Without the socket file
 * everything goes to the real kernel (which has no "vdpa" family: the
 * "netlink absent" case).
 *
 * The model.  Management devices and vDPA devices are derived from the
 * testbed's sysfs at every request, so hotplug done by a test is seen:
 *  - an mlx5 management device `pci/<addr>` for every PCI function bound
 *    to mlx5_core that has a `physfn` link (a VF), and
 *    `auxiliary/mlx5_core.sf.N` for every `mlx5_core.sf.N` directory under
 *    an mlx5 PF; hardware with 16 virtio queues (max_supported_vqs 17,
 *    max_vqp at most 8), vendor 0x15b3, one vDPA device each (ENOSPC);
 *  - `vdpasim_net` and `vdpasim_blk` (the modules are "loaded":
 *    vdpa_sim_start() creates /sys/devices/vdpasim_{net,blk}).
 *  - every device on bus vdpa gets its management device from its sysfs
 *    parent.  Devices the fixture brought (vdpa0, blk0, ...) have the
 *    drivers' defaults; devices made by DEV_NEW remember MAC, MTU, max_vqp.
 *
 * Deliberate choices where the kernels differ (docs/vdpa-netlink.md §4.10,
 * §8): DEV_CONFIG_GET answers EAGAIN "vdpa: Features negotiation not
 * completed" until the device's features are negotiated (the 5.19
 * behaviour DESIGN.md §7 relies on; 6.1.192 answers without
 * NEGOTIATED_FEATURES instead).  A device is negotiated after
 * vdpa_sim_set_features_ok(), or when it is bound to virtio_vdpa.  The rest
 * is 6.1.192: strict attribute validation, attribute 21 in config replies.
 * The family ignores network namespaces (the kernel's has netnsok = false;
 * the tests run in their own namespace, the simulator plays the host's).
 *
 * Threads.  One listener thread plus one thread per connection, all joined
 * by vdpa_sim_stop().  They lock the testbed (vdpa_testbed_lock()) while
 * they scan or change it; the test's main thread may keep using the
 * testbed through tests/testbed.c meanwhile.  vdpa_sim_stop() must run
 * before the testbed is unreffed: umockdev calls getenv()/setenv() that a
 * leftover thread would race with.
 *
 * Order in a GTest: testbed = vdpa_test_testbed_new(); vdpa_testbed_add_vdpa_bus();
 * sim = vdpa_sim_start(testbed); [bus = vdpa_test_bus_new(); daemon ...];
 * ... ; [vdpa_test_bus_free(bus)]; vdpa_sim_stop(sim); g_object_unref(testbed).
 * The program that talks netlink needs LD_PRELOAD with both preloads
 * (vdpa_sim_preload_env() below), in either order: umockdev's preload calls
 * libc through its own dlsym(), so when it comes first ours patches it to
 * reach our wrappers (see tests/vdpa-sim-preload.c).  A test process run by
 * umockdev-wrapper with LD_PRELOAD=libvdpa-sim-preload.so (what
 * tests/meson.build gives test-iproute2) can talk to the simulator itself.
 *
 * Known differences from the kernel, besides the EAGAIN choice above:
 *  - a vhost-vdpa minor is never given twice in one testbed (umockdev 0.17
 *    asserts when a removed /dev node is created again); the kernel reuses
 *    the lowest free one;
 *  - a dump is sent whole at once (the kernel fills the next datagram when
 *    the reader has read the previous one); datagrams are at most 4096
 *    bytes, NLMSG_DONE comes alone;
 *  - nlctrl answers only CTRL_CMD_GETFAMILY (its dump lists only "vdpa");
 *  - DEV_VSTATS_GET has no counters: EAGAIN before negotiation, else
 *    EOPNOTSUPP; DEV_DEL does not wait for /dev/vhost-vdpa-N to be closed;
 *  - mlx5: 16 hardware queues, vport MAC zero, MTU 1500, link up; no MPFS;
 *  - port ids: the pid, then -4096, -4097, ... per process, not global;
 *  - CAP_NET_ADMIN is read from /proc/PID/status (CapEff) of the process
 *    that connected, at each request.
 */
#pragma once

#include <glib.h>
#include <umockdev.h>

/* The socket's file name, in umockdev_testbed_get_root_dir(). */
#define VDPA_SIM_SOCKET_NAME "vdpa-netlink.sock"
/* The family id it answers CTRL_CMD_GETFAMILY with (dynamic-looking). */
#define VDPA_SIM_FAMILY_ID 0x1d
/* vdpa_sim_count() key for nlctrl CTRL_CMD_GETFAMILY requests. */
#define VDPA_SIM_COUNT_GETFAMILY 0xff

typedef struct VdpaSim VdpaSim;

/* Creates $root/vdpa-netlink.sock and starts serving it.  Also creates
 * /sys/devices/vdpasim_net and /sys/devices/vdpasim_blk.  NULL and ERROR
 * set when the socket cannot be made. */
VdpaSim *vdpa_sim_start(UMockdevTestbed *tb, GError **error);

/* Stops serving: closes every connection (clients then read EOF), joins
 * every thread, removes the socket file, frees SIM.  NULL is allowed. */
void vdpa_sim_stop(VdpaSim *sim);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaSim, vdpa_sim_stop)

/* As if a driver (a VM through vhost-vdpa) negotiated features on device
 * NAME (OK) or reset it (!OK).  Negotiated features are the device's
 * features.  FALSE if there is no such device now. */
gboolean vdpa_sim_set_features_ok(VdpaSim *sim, const char *name, gboolean ok);

/* Requests received for vdpa command CMD (VDPA_CMD_*; doit and dump
 * together), or VDPA_SIM_COUNT_GETFAMILY, since start or the last reset. */
guint vdpa_sim_count(VdpaSim *sim, guint8 cmd);
/* Only the dump requests (NLM_F_DUMP) among them. */
guint vdpa_sim_count_dumps(VdpaSim *sim, guint8 cmd);
void vdpa_sim_reset_counts(VdpaSim *sim);

/* DEV_NEW requests that named management device HANDLE ("pci/0000:04:00.5",
 * "auxiliary/mlx5_core.sf.4", "vdpasim_net"; as `vdpa` writes it), since
 * start or the last vdpa_sim_reset_counts(), whatever they were answered:
 * "exactly 4 DEV_NEW", "none sent twice".  Requests refused before the
 * management device is looked up (EPERM, attribute validation, no name,
 * max_vqp 0) are not counted. */
guint vdpa_sim_count_dev_new(VdpaSim *sim, const char *mgmtdev_handle);

/* Fault injection: from now on, DEV_NEW on management device HANDLE fails
 * where the driver's dev_add() runs (after the management device was found
 * and the attribute mask accepted), answering -ERR with the extack text
 * the kernel sends for that errno there (docs/vdpa-netlink.md §4):
 * ENOSPC, EEXIST, EINVAL, ENOMEM, ... none; EOPNOTSUPP "vdpa: All provided
 * attributes are not supported"; ENODEV "vdpa: Fail to find the specified
 * management device".  Nothing is created.  ERR 0 clears the fault; a
 * handle without a management device is allowed (it may appear later). */
void vdpa_sim_fail_dev_new(VdpaSim *sim, const char *mgmtdev_handle, int err);

/* Nanoseconds spent answering requests, over all connections: from each
 * request's arrival to each of its answers' send, counted before that send.
 * The kernel does this work in microseconds; the simulator rescans the
 * testbed, so a benchmark takes this out of both sides of a ratio. */
guint64 vdpa_sim_busy_ns(VdpaSim *sim);

/* Connections accepted so far (each netlink socket is one). */
guint vdpa_sim_count_connections(VdpaSim *sim);

/* $root/vdpa-netlink.sock */
const char *vdpa_sim_get_socket_path(VdpaSim *sim);

/* LD_PRELOAD value for a program that should see both umockdev and the
 * simulator: "libumockdev-preload.so.0:<VDPA_SIM_PRELOAD>", with the
 * path meson built libvdpa-sim-preload.so at ($VDPA_SIM_PRELOAD in the
 * environment overrides it).  Free with g_free(). */
char *vdpa_sim_preload_env(void);
