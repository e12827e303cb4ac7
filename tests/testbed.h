/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Changes to a umockdev testbed the way the kernel makes them to sysfs,
 * each followed by the uevent the kernel would send.  Shared by the unit
 * tests, the service tests and the demo, so that they all simulate the same
 * kernel.
 */
#pragma once

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

/* umockdev carries uevents over an AF_UNIX datagram socket, whose queue
 * holds net.unix.max_dgram_qlen messages (10 by default) where the kernel's
 * netlink socket holds a whole receive buffer, and its sender aborts when
 * the queue is full.  Give the calling process (and every child it starts
 * afterwards) a network namespace of its own with a kernel-sized queue; the
 * host's setting is untouched.  Call first thing in main(). */
void vdpa_testbed_isolate_uevent_queue(void);
