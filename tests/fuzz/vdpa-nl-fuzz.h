/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The input format of tests/fuzz/fuzz-vdpa-nl.c, shared with the seed
 * corpus generator (tests/test-vdpa-nl-msg --write-corpus DIR): byte 0
 * picks what the datagram answers, the rest is one received datagram.
 * The answer is expected for this port, sequence number and family. */

#define VDPA_NL_FUZZ_PORTID 0x1234u
#define VDPA_NL_FUZZ_SEQ 0x5eedu
#define VDPA_NL_FUZZ_FAMILY 0x1bu

/* Byte 0: the VdpaNlReplyKind (mod _VDPA_NL_REPLY_KIND_MAX) in the low
 * nibble, and this bit for a dump. */
#define VDPA_NL_FUZZ_DUMP 0x10u
