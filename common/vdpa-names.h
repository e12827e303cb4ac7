/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Names shared by the daemon and the client: the bus contract of
 * DESIGN.md §2.  Nothing else lives in common/.
 */
#pragma once

#define VDPA_BUS_NAME    "org.vdpa.Manager"
#define VDPA_OBJECT_PATH "/org/vdpa/Manager"
#define VDPA_INTERFACE   "org.vdpa.Manager"

/* Errors */
#define VDPA_ERROR_PREFIX              "org.vdpa.Manager.Error."
#define VDPA_ERROR_NO_SUCH_DEVICE      VDPA_ERROR_PREFIX "NoSuchDevice"
#define VDPA_ERROR_NO_SUCH_DOMAIN      VDPA_ERROR_PREFIX "NoSuchDomain"
#define VDPA_ERROR_DEVICE_BUSY         VDPA_ERROR_PREFIX "DeviceBusy"
#define VDPA_ERROR_NOT_CLAIMED         VDPA_ERROR_PREFIX "NotClaimed"
#define VDPA_ERROR_DEVICE_UNUSABLE     VDPA_ERROR_PREFIX "DeviceUnusable"
#define VDPA_ERROR_NO_DEVICE_AVAILABLE VDPA_ERROR_PREFIX "NoDeviceAvailable"
#define VDPA_ERROR_CONFLICT            VDPA_ERROR_PREFIX "Conflict"
#define VDPA_ERROR_LIBVIRT_FAILED      VDPA_ERROR_PREFIX "LibvirtFailed"
#define VDPA_ERROR_LIBVIRT_UNAVAILABLE VDPA_ERROR_PREFIX "LibvirtUnavailable"
/* The kernel's management plane (DESIGN.md §7) */
#define VDPA_ERROR_DEVICE_EXISTS       VDPA_ERROR_PREFIX "DeviceExists"
#define VDPA_ERROR_NO_SUCH_MGMTDEV     VDPA_ERROR_PREFIX "NoSuchManagementDevice"
#define VDPA_ERROR_MGMTDEV_BUSY        VDPA_ERROR_PREFIX "ManagementDeviceBusy"
#define VDPA_ERROR_NOT_SUPPORTED       VDPA_ERROR_PREFIX "NotSupported"

/* Keys of the device dictionary (a{sv}) */
#define VDPA_KEY_NAME              "Name"              /* s */
#define VDPA_KEY_SYSFS_PATH        "SysfsPath"         /* s */
#define VDPA_KEY_DRIVER            "Driver"            /* s */
#define VDPA_KEY_CHARDEV           "Chardev"           /* s */
#define VDPA_KEY_PARENT_KIND       "ParentKind"        /* s */
#define VDPA_KEY_PARENT_DEVICE     "ParentDevice"      /* s */
#define VDPA_KEY_PHYSICAL_FUNCTION "PhysicalFunction"  /* s */
#define VDPA_KEY_VENDOR_ID         "VendorId"          /* q */
#define VDPA_KEY_PRODUCT_ID        "ProductId"         /* q */
#define VDPA_KEY_NUMA_NODE         "NumaNode"          /* i */
#define VDPA_KEY_STATE             "State"             /* s */
#define VDPA_KEY_DOMAIN            "Domain"            /* s */
#define VDPA_KEY_DOMAIN_UUID       "DomainUuid"        /* s */
#define VDPA_KEY_MAC               "Mac"               /* s */
#define VDPA_KEY_CLAIMED_BY        "ClaimedBy"         /* u */
/* From the kernel's vdpa netlink family (DESIGN.md §7) */
#define VDPA_KEY_TYPE              "Type"              /* s */
#define VDPA_KEY_MANAGEMENT_DEVICE "ManagementDevice"  /* s */
#define VDPA_KEY_MAX_QUEUES        "MaxQueues"         /* u */
#define VDPA_KEY_MAX_QUEUE_SIZE    "MaxQueueSize"      /* q */
#define VDPA_KEY_DEVICE_MAC        "DeviceMac"         /* s */
#define VDPA_KEY_MTU               "Mtu"               /* q */
#define VDPA_KEY_MAX_QUEUE_PAIRS   "MaxQueuePairs"     /* q */
/* DESIGN.md §8, §9 */
#define VDPA_KEY_PROVISIONED       "Provisioned"       /* b */
#define VDPA_KEY_REPRESENTOR       "Representor"       /* s */
#define VDPA_KEY_PF_NETDEV         "PfNetdev"          /* s */

/* Values of Type */
#define VDPA_TYPE_NET     "net"
#define VDPA_TYPE_BLK     "blk"
#define VDPA_TYPE_UNKNOWN ""

/* Keys of the management device dictionary (a{sv}) */
#define VDPA_MGMT_KEY_HANDLE            "Handle"            /* s */
#define VDPA_MGMT_KEY_BUS_NAME          "BusName"           /* s */
#define VDPA_MGMT_KEY_DEVICE_NAME       "DeviceName"        /* s */
#define VDPA_MGMT_KEY_SUPPORTED_CLASSES "SupportedClasses"  /* as */
#define VDPA_MGMT_KEY_MAX_QUEUES        "MaxQueues"         /* u */
#define VDPA_MGMT_KEY_SUPPORTED_FEATURES "SupportedFeatures" /* t */
#define VDPA_MGMT_KEY_DEVICES           "Devices"           /* as */
#define VDPA_MGMT_KEY_PARENT_KIND       "ParentKind"        /* s */
#define VDPA_MGMT_KEY_PHYSICAL_FUNCTION "PhysicalFunction"  /* s */
#define VDPA_MGMT_KEY_NUMA_NODE         "NumaNode"          /* i */
#define VDPA_MGMT_KEY_PROVISION_ERROR   "ProvisionError"    /* s */
#define VDPA_MGMT_KEY_PROVISION_RULE    "ProvisionRule"     /* s */

/* Entries of the ProvisionRules property (a [Provision NAME] group each). */
#define VDPA_RULE_KEY_NAME              "Name"              /* s */
#define VDPA_RULE_KEY_MANAGEMENT_DEVICE "ManagementDevice"  /* s, the glob */
#define VDPA_RULE_KEY_MAX_QUEUE_PAIRS   "MaxQueuePairs"     /* q, 0 unset */
#define VDPA_RULE_KEY_MTU               "Mtu"               /* q, 0 unset */
#define VDPA_RULE_KEY_MAC               "Mac"               /* s, "auto" or "" */
#define VDPA_RULE_KEY_NAME_PATTERN      "NamePattern"       /* s */

/* Values of State */
#define VDPA_STATE_AVAILABLE "available"
#define VDPA_STATE_CLAIMED   "claimed"
#define VDPA_STATE_IN_USE    "in-use"
#define VDPA_STATE_UNUSABLE  "unusable"
#define VDPA_STATE_EXCLUDED  "excluded"

/* Values of ParentKind */
#define VDPA_PARENT_VF      "vf"
#define VDPA_PARENT_SF      "sf"
#define VDPA_PARENT_PF      "pf"
#define VDPA_PARENT_VIRTUAL "virtual"

/* Option keys (a{sv}) of BuildInterfaceXml, Claim and Release */
#define VDPA_OPT_MAC               "mac"               /* s */
#define VDPA_OPT_QUEUES            "queues"            /* u */
#define VDPA_OPT_PAGE_PER_VQ       "page_per_vq"       /* b */
#define VDPA_OPT_ALIAS             "alias"             /* s */
#define VDPA_OPT_BOOT_ORDER        "boot_order"        /* u */
#define VDPA_OPT_GUEST_ADDRESS     "guest_address"     /* s */
#define VDPA_OPT_LIVE              "live"              /* b */
#define VDPA_OPT_CONFIG            "config"            /* b */
#define VDPA_OPT_NUMA_NODE         "numa_node"         /* i */
#define VDPA_OPT_PHYSICAL_FUNCTION "physical_function" /* s */
#define VDPA_OPT_NUMA_POLICY       "numa_policy"       /* s */
#define VDPA_OPT_FORCE             "force"             /* b */
/* Option keys of CreateDevice (DeleteDevice takes none yet) */
#define VDPA_OPT_MTU               "mtu"               /* q */
#define VDPA_OPT_MAX_QUEUE_PAIRS   "max_queue_pairs"   /* q */

/* Capabilities keys */
#define VDPA_CAP_KERNEL_VDPA       "KernelVdpa"        /* b */
#define VDPA_CAP_VDPA_NETLINK      "VdpaNetlink"       /* b */

/* Values of the LiveMigration property */
#define VDPA_MIGRATION_BLOCK "block"
#define VDPA_MIGRATION_ALLOW "allow"
#define VDPA_MIGRATION_AUTO  "auto"
