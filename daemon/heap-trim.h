/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

/* Hands the heap's free pages back to the kernel once the service has been
 * quiet for a while.  The large transient allocations (an enumeration holds
 * every udev device at once; a Devices() reply is ~4 MiB at 4096 devices)
 * are freed below what was allocated after them, so glibc keeps them
 * resident for good unless asked.  Asking after every one of them made a
 * client calling Devices() in a loop fault those pages in again each time;
 * waiting for a quiet second keeps them while they are being used. */

#define HEAP_TRIM_QUIET_USEC (1000 * 1000ULL)
#define HEAP_TRIM_ACCURACY_USEC (10 * 1000ULL)

typedef struct HeapTrim HeapTrim;

/* True while something that will be freed soon is still held (a reply
 * queued for writing): the trim then waits another quiet period. */
typedef bool (*HeapTrimBusyFunc)(void *userdata);

int heap_trim_new(sd_event *event, HeapTrimBusyFunc busy, void *userdata, HeapTrim **ret);
HeapTrim *heap_trim_free(HeapTrim *t);

/* Trim HEAP_TRIM_QUIET_USEC after the loop iteration of the last request
 * (sd-event's timestamp of it), with no request since.  Never fails:
 * without a timer the heap just stays as it is. */
void heap_trim_request(HeapTrim *t);
