/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Changes to a umockdev testbed the way the kernel makes them to sysfs,
 * each followed by the uevent the kernel would send.  Shared by the unit
 * tests, the service tests and the demo, so that they all simulate the same
 * kernel.
 */
#pragma once

#include <gio/gio.h>
#include <umockdev.h>

/* The VF of tests/data/host.umockdev that carries no vDPA device. */
#define VDPA_TESTBED_VF5 "/sys/devices/pci0000:00/0000:00:02.0/0000:04:00.5"

/* /sys/bus/vdpa with its two drivers, as the kernel has once the vdpa
 * module is loaded.  umockdev creates bus directories only for usb and pci;
 * without this the daemon rightly reports that the kernel has no vdpa bus. */
void vdpa_testbed_add_vdpa_bus(UMockdevTestbed *tb);

/* "vdpa dev add": a new, unbound vDPA device at SYSPATH (its parent must
 * exist); emits "add". */
void vdpa_testbed_add_vdpa(UMockdevTestbed *tb, const char *syspath);

/* The driver-core side of binding: the vhost-vdpa-MINOR child with its
 * /dev node appears (no uevent of its own), the driver link and DRIVER=
 * are set; then "bind". */
void vdpa_testbed_bind_vhost(UMockdevTestbed *tb, const char *syspath, int minor);

/* The reverse: child and /dev node go, the driver link goes; then
 * "unbind".  MINOR < 0 when there is no chardev (e.g. virtio_vdpa). */
void vdpa_testbed_unbind(UMockdevTestbed *tb, const char *syspath, int minor);

/* "vdpa dev del": "remove" while sysfs still has it, then it goes. */
void vdpa_testbed_remove(UMockdevTestbed *tb, const char *syspath);

/* A vDPA device like vdpa_testbed_add_vdpa(), for virtio DEVICE_ID (1 net,
 * 2 block) and VENDOR_ID, which the MODALIAS carries. */
void vdpa_testbed_add_vdpa_full(UMockdevTestbed *tb, const char *syspath,
                                guint32 device_id, guint32 vendor_id);

/* The lowest vhost-vdpa minor no device of bus vdpa uses (the kernel's
 * IDA), from sysfs. */
int vdpa_testbed_free_vhost_minor(UMockdevTestbed *tb);

/* Every function here holds this recursive lock while it changes the
 * testbed, so that another thread (tests/vdpa-sim.c) that takes it sees
 * each change whole.  A test that calls umockdev_testbed_* directly while
 * the simulator runs should take it too. */
void vdpa_testbed_lock(void);
void vdpa_testbed_unlock(void);

/* A ConnectX-6 Dx-like card for tests that need many devices: a root port
 * pci0000:BB/0000:BB:00.0, its PF 0000:(BB+1):00.0 (15b3:101d, NUMA_NODE)
 * and N_VFS VFs (15b3:101e) from function .2 on, each carrying a vDPA
 * device PREFIX<FIRST+i> bound to vhost_vdpa with /dev/vhost-vdpa-<FIRST_MINOR+i>.
 * Kernel layout as in host.umockdev.  ROOT_BUS must leave room for
 * ROOT_BUS+1; N_VFS at most 254. */
void vdpa_testbed_add_card(UMockdevTestbed *tb, guint root_bus, int numa_node, guint n_vfs,
                           const char *prefix, guint first, guint first_minor);

/* SR-IOV hotplug of one ConnectX-6 Dx VF (15b3:101e, class 0x020000), as
 * the kernel makes it when a VF is enabled (pci_iov_add_virtfn) and
 * mlx5_core probes it: the function appears at the routing-ID address
 * devfn = PF devfn + sriov_offset + sriov_stride * VF_INDEX (the bus number
 * carries past devfn 255) as a sibling of the PF, with numa_node,
 * local_cpulist and subsystem IDs of the PF, `physfn` -> PF and the PF's
 * `virtfn<VF_INDEX>` -> VF (sriov_numvfs follows); then "add" (no
 * driver yet, so no management device either), then the driver link and
 * DRIVER=mlx5_core, then "bind" (subsystem pci).  The simulator lists it as
 * management device pci/<addr> from then on.
 * The PF's sriov_offset/sriov_stride attributes give the routing; PFs
 * without them (host.umockdev's) have stride 1 and offset
 * 2 + fn * (sriov_totalvfs - 1), the layout of a two-port card: VFs of
 * 0000:04:00.0 are 0000:04:00.(2+N), VF 6 being 0000:04:01.0.
 * The new VF's address goes to RET_VF_ADDRESS (may be NULL; g_free()).
 * FALSE with G_IO_ERROR_NOT_FOUND when there is no PF at PF_ADDRESS,
 * G_IO_ERROR_EXISTS when that VF exists. */
gboolean vdpa_testbed_add_vf(UMockdevTestbed *tb, const char *pf_address, guint vf_index, char **ret_vf_address,
                             GError **error);

/* The reverse (pci_iov_remove_virtfn): vDPA devices on the VF go first as
 * mlx5's remove deletes them ("unbind"/"remove" each), the virtfn and
 * physfn links go, the driver lets go ("unbind"), then "remove" and the
 * directory goes.  G_IO_ERROR_NOT_FOUND when VF_ADDRESS is not a VF. */
gboolean vdpa_testbed_remove_vf(UMockdevTestbed *tb, const char *vf_address, GError **error);

/* A fixture host part: root port <dom>:<bus-1>:00.0 (8086:2030, pcieport)
 * in root complex pci<dom>:<bus-1> (reused when it exists: two PFs of one
 * card), the ConnectX-6 Dx PF PF_ADDRESS (15b3:101d, mlx5_core, NUMA node
 * 0, sriov_offset 2 + fn * (sriov_totalvfs - 1), stride 1, sriov_totalvfs
 * max(8, N_VFS)) and its N_VFS VFs bound to mlx5_core at the addresses
 * vdpa_testbed_add_vf() gives (0000:21:00.0 with 4 VFs: 0000:21:00.2 ..
 * 0000:21:00.5; with 256 they run on to 0000:22:00.1), no vDPA device.
 * Written straight into sysfs, without a single uevent (for before the
 * daemon starts), and fast: 256 VFs take a few tens of milliseconds.
 * PF_ADDRESS must be function 0..7 of a bus >= 1 whose bus - 1 holds no
 * other device: host.umockdev uses buses 0x00, 0x04, 0x80, 0x81 and
 * vdpa_testbed_add_card() ROOT_BUS and ROOT_BUS+1; e.g. 0000:21:00.0.
 * G_IO_ERROR_EXISTS when the PF exists, G_IO_ERROR_INVALID_ARGUMENT on a
 * malformed address or bus 0. */
gboolean vdpa_testbed_add_pf_with_vfs(UMockdevTestbed *tb, const char *pf_address, guint n_vfs, GError **error);

/* umockdev carries uevents over an AF_UNIX datagram socket, whose queue
 * holds net.unix.max_dgram_qlen messages (10 by default) where the kernel's
 * netlink socket holds a whole receive buffer, and its sender aborts when
 * the queue is full.  Give the calling process (and every child it starts
 * afterwards) a network namespace of its own with a kernel-sized queue; the
 * host's setting is untouched.  Call first thing in main(). */
void vdpa_testbed_isolate_uevent_queue(void);
