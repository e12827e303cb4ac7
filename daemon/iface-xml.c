/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <interface type='vdpa'> from a chardev and validated options, written
 * with libxml2's xmlTextWriter.  The element order is the one libvirt
 * itself uses when it formats the interface (mac, source, model, driver,
 * boot, alias, address), so our XML and libvirt's dumpxml read alike.
 */
#include <errno.h>
#include <string.h>
#include <libxml/xmlwriter.h>

#include "iface-xml.h"
#include "macro.h"
#include "vdpa-names.h"

#define CHARDEV_PREFIX "/dev/"
#define CHARDEV_MAX 255

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlBufferPtr, xmlBufferFree);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlTextWriterPtr, xmlFreeTextWriter);

/* A device node below /dev/ made only of the characters libvirt's schema
 * allows in <source dev> (deviceName: [a-zA-Z0-9_.\-\\:/]+, minus the
 * backslash), with no "." or ".." component: nothing in it needs
 * escaping and it cannot point outside /dev. */
static bool chardev_is_valid(const char *s) {
        size_t n;

        if (!s || !g_str_has_prefix(s, CHARDEV_PREFIX))
                return false;

        n = strnlen(s, CHARDEV_MAX + 1);
        if (n > CHARDEV_MAX || n == strlen(CHARDEV_PREFIX) || s[n - 1] == '/')
                return false;

        for (size_t i = 0; i < n; i++)
                if (!g_ascii_isalnum(s[i]) && !strchr("_.-:/", s[i]))
                        return false;

        for (const char *c = s; (c = strchr(c, '/')); c++)
                if (g_str_has_prefix(c, "/./") || g_str_has_prefix(c, "/../") || g_str_has_prefix(c, "//") ||
                    streq_ptr(c, "/.") || streq_ptr(c, "/.."))
                        return false;
        return true;
}

/* The options may have been filled by hand (Claim generates a MAC), so
 * run every set value through the one parser again rather than trust
 * them; RET holds the normalised copy the XML is written from. */
static int iface_options_revalidate(const VdpaIfaceOptions *o, VdpaOptions *ret) {
        VdpaOptionValue v;
        char pci[16];
        int r;

        if (o->mac) {
                v = (VdpaOptionValue) { .signature = "s", .s = o->mac };
                r = vdpa_options_set(ret, VDPA_OPTION_SET_XML, VDPA_OPT_MAC, &v, NULL);
                if (r < 0)
                        return r;
        }
        if (o->queues != 0) {
                v = (VdpaOptionValue) { .signature = "u", .u = o->queues };
                r = vdpa_options_set(ret, VDPA_OPTION_SET_XML, VDPA_OPT_QUEUES, &v, NULL);
                if (r < 0)
                        return r;
        }
        if (o->page_per_vq >= 0) {
                if (o->page_per_vq > 1)
                        return -EINVAL;
                v = (VdpaOptionValue) { .signature = "b", .b = o->page_per_vq };
                r = vdpa_options_set(ret, VDPA_OPTION_SET_XML, VDPA_OPT_PAGE_PER_VQ, &v, NULL);
                if (r < 0)
                        return r;
        } else if (o->page_per_vq != -1)
                return -EINVAL;
        if (o->alias) {
                v = (VdpaOptionValue) { .signature = "s", .s = o->alias };
                r = vdpa_options_set(ret, VDPA_OPTION_SET_XML, VDPA_OPT_ALIAS, &v, NULL);
                if (r < 0)
                        return r;
        }
        if (o->boot_order != 0) {
                v = (VdpaOptionValue) { .signature = "u", .u = o->boot_order };
                r = vdpa_options_set(ret, VDPA_OPTION_SET_XML, VDPA_OPT_BOOT_ORDER, &v, NULL);
                if (r < 0)
                        return r;
        }
        if (o->has_guest_address) {
                const VdpaPciAddress *a = &o->guest_address;

                g_snprintf(pci, sizeof(pci), "%04x:%02x:%02x.%x", a->domain, a->bus, a->slot, a->function);
                v = (VdpaOptionValue) { .signature = "s", .s = pci };
                r = vdpa_options_set(ret, VDPA_OPTION_SET_XML, VDPA_OPT_GUEST_ADDRESS, &v, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_empty_element(xmlTextWriterPtr w, const char *name, const char *attr, const char *value) {
        if (xmlTextWriterStartElement(w, BAD_CAST name) < 0 ||
            xmlTextWriterWriteAttribute(w, BAD_CAST attr, BAD_CAST value) < 0 ||
            xmlTextWriterEndElement(w) < 0)
                return -ENOMEM;
        return 0;
}

static int write_driver(xmlTextWriterPtr w, const VdpaIfaceOptions *o) {
        if (o->queues == 0 && o->page_per_vq < 0)
                return 0;

        if (xmlTextWriterStartElement(w, BAD_CAST "driver") < 0)
                return -ENOMEM;
        if (o->queues != 0 &&
            xmlTextWriterWriteFormatAttribute(w, BAD_CAST "queues", "%" G_GUINT32_FORMAT, o->queues) < 0)
                return -ENOMEM;
        if (o->page_per_vq >= 0 &&
            xmlTextWriterWriteAttribute(w, BAD_CAST "page_per_vq", BAD_CAST (o->page_per_vq ? "on" : "off")) < 0)
                return -ENOMEM;
        if (xmlTextWriterEndElement(w) < 0)
                return -ENOMEM;
        return 0;
}

static int write_address(xmlTextWriterPtr w, const VdpaPciAddress *a) {
        /* The same spelling libvirt uses when it formats a PCI address. */
        if (xmlTextWriterStartElement(w, BAD_CAST "address") < 0 ||
            xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST "pci") < 0 ||
            xmlTextWriterWriteFormatAttribute(w, BAD_CAST "domain", "0x%04x", a->domain) < 0 ||
            xmlTextWriterWriteFormatAttribute(w, BAD_CAST "bus", "0x%02x", a->bus) < 0 ||
            xmlTextWriterWriteFormatAttribute(w, BAD_CAST "slot", "0x%02x", a->slot) < 0 ||
            xmlTextWriterWriteFormatAttribute(w, BAD_CAST "function", "0x%x", a->function) < 0 ||
            xmlTextWriterEndElement(w) < 0)
                return -ENOMEM;
        return 0;
}

static int write_interface(xmlTextWriterPtr w, const char *chardev, const VdpaIfaceOptions *o) {
        int r;

        if (xmlTextWriterStartElement(w, BAD_CAST "interface") < 0 ||
            xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST "vdpa") < 0)
                return -ENOMEM;

        if (o->mac) {
                r = write_empty_element(w, "mac", "address", o->mac);
                if (r < 0)
                        return r;
        }

        r = write_empty_element(w, "source", "dev", chardev);
        if (r < 0)
                return r;

        /* vhost-vdpa speaks virtio: libvirt requires this model. */
        r = write_empty_element(w, "model", "type", "virtio");
        if (r < 0)
                return r;

        r = write_driver(w, o);
        if (r < 0)
                return r;

        if (o->boot_order != 0) {
                g_autofree char *order = g_strdup_printf("%" G_GUINT32_FORMAT, o->boot_order);

                r = write_empty_element(w, "boot", "order", order);
                if (r < 0)
                        return r;
        }

        if (o->alias) {
                r = write_empty_element(w, "alias", "name", o->alias);
                if (r < 0)
                        return r;
        }

        if (o->has_guest_address) {
                r = write_address(w, &o->guest_address);
                if (r < 0)
                        return r;
        }

        if (xmlTextWriterEndElement(w) < 0)
                return -ENOMEM;
        return 0;
}

int vdpa_iface_xml_build(const char *chardev, const VdpaIfaceOptions *o, char **ret_xml) {
        _cleanup_(vdpa_options_clear) VdpaOptions checked;
        _cleanup_(xmlBufferFreep) xmlBufferPtr buf = NULL;
        _cleanup_(xmlFreeTextWriterp) xmlTextWriterPtr w = NULL;
        const char *content;
        int r;

        vdpa_options_init(&checked);

        g_assert(o);
        g_assert(ret_xml);

        if (!chardev_is_valid(chardev))
                return -EINVAL;

        r = iface_options_revalidate(o, &checked);
        if (r < 0)
                return r;

        buf = xmlBufferCreate();
        if (!buf)
                return -ENOMEM;
        w = xmlNewTextWriterMemory(buf, 0);
        if (!w)
                return -ENOMEM;

        /* Indented like libvirt's own dumpxml: `vdpactl xml` shows it as is. */
        if (xmlTextWriterSetIndent(w, 1) < 0 ||
            xmlTextWriterSetIndentString(w, BAD_CAST "  ") < 0)
                return -ENOMEM;

        r = write_interface(w, chardev, &checked.iface);
        if (r < 0)
                return r;

        if (xmlTextWriterFlush(w) < 0)
                return -ENOMEM;

        content = (const char *) xmlBufferContent(buf);
        if (!content)
                return -ENOMEM;

        *ret_xml = g_strchomp(g_strdup(content));
        return 0;
}
