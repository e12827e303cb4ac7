/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Asynchronous polkit client: one CheckAuthorization per query, answered
 * on the event loop of the bus the caller's message came in on.  The
 * subject is the caller's unique bus name, which polkitd resolves through
 * the bus itself; a (pid, start-time) subject could be raced by a process
 * that execs a setuid binary after asking (CVE-2019-6133).
 */
#include "polkit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "macro.h"

#define POLKIT_SERVICE   "org.freedesktop.PolicyKit1"
#define POLKIT_PATH      "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"

#define POLKIT_FLAG_ALLOW_USER_INTERACTION UINT32_C(0x1)

/* polkitd answers a non-interactive check in milliseconds; the bound only
 * matters for a wedged polkitd.  An interactive check waits for a human
 * typing a password into an agent, so it gets much longer. */
#define POLKIT_TIMEOUT_USEC             (25ULL * 1000 * 1000)
#define POLKIT_INTERACTIVE_TIMEOUT_USEC (120ULL * 1000 * 1000)

typedef struct PolkitQuery {
        VdpaPolkitCallback cb;
        void *userdata;
        char *action;
        bool interactive;
} PolkitQuery;

static void polkit_query_free(void *p)
{
        PolkitQuery *q = p;

        if (!q)
                return;
        free(q->action);
        free(q);
}

/* Reads (bba{ss}): whether authorized, whether a challenge would help, and
 * whether the user dismissed an agent's dialog. */
static int parse_result(sd_bus_message *reply, int *authorized, int *challenge, bool *dismissed)
{
        const char *key, *value;
        int r;

        *dismissed = false;
        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "bb", authorized, challenge);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "{ss}", &key, &value)) > 0)
                if (streq_ptr(key, "polkit.dismissed") && streq_ptr(value, "true"))
                        *dismissed = true;
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

/* Maps polkitd's answer (or the bus's error in its place) to the result
 * the caller gets; never authorizes on anything but an explicit yes. */
static int map_reply(const PolkitQuery *q, sd_bus_message *reply, sd_bus_error *error)
{
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int authorized = 0, challenge = 0, r;
        bool dismissed;

        if (e) {
                log_warning("polkit check of %s failed, denying: %s: %s",
                            q->action, e->name, strempty(e->message));
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Cannot check authorization for %s, denying: polkit did not answer (%s: %s)",
                                         q->action, e->name, strempty(e->message));
        }

        r = parse_result(reply, &authorized, &challenge, &dismissed);
        if (r < 0) {
                log_warning_errno(r, "Malformed polkit reply for %s, denying: %m", q->action);
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Cannot check authorization for %s, denying: malformed polkit reply (%s)",
                                         q->action, strerror(-r));
        }
        if (authorized)
                return 1;
        if (challenge && !q->interactive)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                         "Interactive authentication required to perform %s",
                                         q->action);
        if (dismissed)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Authentication dialog for %s was dismissed", q->action);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "Not authorized to perform %s", q->action);
}

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        PolkitQuery *q = userdata;
        int r;

        r = map_reply(q, reply, &error);
        /* Set errors map to -EACCES; anything else negative is a bug, but
         * must still deny. */
        if (r <= 0 && !sd_bus_error_is_set(&error))
                r = sd_bus_error_setf(&error, SD_BUS_ERROR_ACCESS_DENIED,
                                      "Cannot check authorization for %s", q->action);
        if (r <= 0)
                r = -EACCES;

        /* The callback may unref our slot; sd-bus holds its own reference
         * while dispatching, so Q stays valid until we return. */
        q->cb(r, &error, q->userdata);
        return 0;
}

static int append_details(sd_bus_message *m, const char *const *details)
{
        int r;

        r = sd_bus_message_open_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        for (size_t i = 0; details && details[i]; i += 2) {
                if (!details[i + 1])
                        return -EINVAL;
                r = sd_bus_message_append(m, "{ss}", details[i], details[i + 1]);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static int build_query(sd_bus *bus, const char *sender, const char *action,
                       const char *const *details, bool interactive, sd_bus_message **ret)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, POLKIT_SERVICE, POLKIT_PATH,
                                           POLKIT_INTERFACE, "CheckAuthorization");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "(sa{sv})s", "system-bus-name", 1, "name", "s", sender,
                                  action);
        if (r < 0)
                return r;
        r = append_details(m, details);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "us",
                                  interactive ? POLKIT_FLAG_ALLOW_USER_INTERACTION : 0,
                                  "" /* no cancellation id: we cancel by dropping the reply */);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int vdpa_polkit_check_async(sd_bus_message *caller, const char *action, const char *const *details,
                            VdpaPolkitCallback cb, void *userdata, sd_bus_slot **ret_slot)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus_slot *slot = NULL;
        PolkitQuery *q;
        const char *sender;
        bool interactive;
        int r;

        if (!caller || !action || !*action || !cb || !ret_slot)
                return -EINVAL;
        /* Without a unique name there is no subject polkit could check. */
        sender = sd_bus_message_get_sender(caller);
        if (!sender || sender[0] != ':')
                return -EINVAL;

        interactive = sd_bus_message_get_allow_interactive_authorization(caller) > 0;
        r = build_query(sd_bus_message_get_bus(caller), sender, action, details, interactive, &m);
        if (r < 0)
                return r;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        *q = (PolkitQuery) {
                .cb = cb,
                .userdata = userdata,
                .action = strdup(action),
                .interactive = interactive,
        };
        if (!q->action) {
                polkit_query_free(q);
                return -ENOMEM;
        }

        r = sd_bus_call_async(sd_bus_message_get_bus(caller), &slot, m, on_polkit_reply, q,
                              interactive ? POLKIT_INTERACTIVE_TIMEOUT_USEC : POLKIT_TIMEOUT_USEC);
        if (r < 0) {
                polkit_query_free(q);
                return r;
        }
        /* Q lives as long as the slot: cancelling (unref) frees it, and so
         * does the caller's unref after the callback ran. */
        (void) sd_bus_slot_set_destroy_callback(slot, polkit_query_free);

        log_debug("polkit: checking %s for %s%s", action, sender, interactive ? " (interactive)" : "");
        *ret_slot = slot;
        return 0;
}
