/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vdpa netlink answer parser (daemon/vdpa-nl-msg.c) on arbitrary
 * datagrams, through vdpa_nl_reply_process() as the socket client calls
 * it: byte 0 picks the request being answered (vdpa-nl-fuzz.h), the rest
 * is the datagram.  Never crash or leak, and what it returns holds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "vdpa-nl-msg.h"
#include "vdpa-nl-fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

static void check_item(VdpaNlReplyKind kind, const void *item) {
        const VdpaNlDevice *d = item;
        const VdpaNlConfig *c = item;
        const VdpaNlMgmtdev *m = item;

        switch (kind) {
        case VDPA_NL_REPLY_DEVICE:
                if (!d->name || !*d->name || !d->mgmtdev || !*d->mgmtdev)
                        abort();
                break;
        case VDPA_NL_REPLY_CONFIG:
                if (!c->name || !*c->name)
                        abort();
                break;
        case VDPA_NL_REPLY_MGMTDEV: {
                g_autofree char *handle = vdpa_nl_mgmtdev_handle(m);

                if (!m->bus_name || !m->dev_name || !*m->dev_name || !g_str_has_suffix(handle, m->dev_name))
                        abort();
                break;
        }
        default:
                abort();
        }
}

static void check(const VdpaNlReply *r, int k) {
        if (k != VDPA_NL_MORE && (!r->finished || r->result != k))
                abort();
        if (k > VDPA_NL_MORE || k < -4095)
                abort();
        if (r->extack)
                (void) strlen(r->extack);
        for (guint i = 0; i < r->items->len; i++)
                check_item(r->kind, r->items->pdata[i]);
        if (k != VDPA_NL_COMPLETE)
                return;
        /* A complete doit has its one answer. */
        if (r->kind == VDPA_NL_REPLY_FAMILY && r->family_id < NLMSG_MIN_TYPE)
                abort();
        if (!r->dump && r->kind != VDPA_NL_REPLY_FAMILY && r->kind != VDPA_NL_REPLY_ACK && r->items->len != 1)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_auto(VdpaNlReply) r = { 0 };
        g_autofree void *buf = NULL;
        VdpaNlReplyKind kind;
        bool dump;
        int k;

        if (size < 1)
                return 0;
        kind = (data[0] & 0xf) % _VDPA_NL_REPLY_KIND_MAX;
        dump = data[0] & VDPA_NL_FUZZ_DUMP;
        /* A receive buffer is aligned; the fuzzer's input + 1 is not. */
        buf = g_memdup2(data + 1, size - 1);
        vdpa_nl_reply_init(&r, kind, dump, kind == VDPA_NL_REPLY_FAMILY ? GENL_ID_CTRL : VDPA_NL_FUZZ_FAMILY,
                           VDPA_NL_FUZZ_SEQ, VDPA_NL_FUZZ_PORTID);
        k = vdpa_nl_reply_process(&r, buf, size - 1);
        check(&r, k);
        /* The answer may go on in the next datagram: the same bytes again. */
        if (k == VDPA_NL_MORE) {
                k = vdpa_nl_reply_process(&r, buf, size - 1);
                check(&r, k);
        }
        return 0;
}
