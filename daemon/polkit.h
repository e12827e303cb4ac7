/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* polkit actions of policy/org.vdpa.manager.policy */
#define VDPA_POLKIT_ACTION_CLAIM   "org.vdpa.manager.claim"
#define VDPA_POLKIT_ACTION_RELEASE "org.vdpa.manager.release"
#define VDPA_POLKIT_ACTION_PROVISION "org.vdpa.manager.provision"

/* Result of an authorization check, delivered on the main loop.  R > 0:
 * authorized, ERROR unset.  R < 0 (-EACCES): not authorized or the check
 * failed; ERROR is set to org.freedesktop.DBus.Error.AccessDenied or
 * .InteractiveAuthorizationRequired with a message naming the action, ready
 * for sd_bus_reply_method_error().  ERROR is never NULL. */
typedef void (*VdpaPolkitCallback)(int r, const sd_bus_error *error, void *userdata);

/* Ask polkitd (org.freedesktop.PolicyKit1 on the same bus as CALLER came in
 * on) whether the sender of CALLER may do ACTION.  DETAILS: NULL-terminated
 * key, value, key, value... list (may be NULL).  Subject: system-bus-name of
 * the sender (never unix-process: CVE-2019-6133).  AllowUserInteraction only
 * when sd_bus_message_get_allow_interactive_authorization(CALLER).
 *
 * Fails closed: polkitd absent, erroring or not answering in time gives
 * AccessDenied.  uid 0 is not special-cased here; polkit authorizes it.
 *
 * Returns 0 and a slot (unref it to cancel: then CB is never called), or a
 * negative errno (-EINVAL: bad arguments, an odd DETAILS list or a CALLER
 * without sender) and CB is never called.  CB runs at most once, from the
 * bus's event loop; the slot must still be unreffed after it ran (CB may do
 * so itself). */
int vdpa_polkit_check_async(sd_bus_message *caller, const char *action, const char *const *details,
                            VdpaPolkitCallback cb, void *userdata, sd_bus_slot **ret_slot);
