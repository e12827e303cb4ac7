/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daemon/polkit.c against the real polkitd, before the daemon uses it.
 *
 * A tiny test-only service runs in a thread of this process: an sd-bus
 * connection owning org.vdpa.Manager on the private bus (the project's bus
 * policy lets root own it and everyone call its interface) whose methods
 * call vdpa_polkit_check_async() for the caller's message:
 *
 *   Check(s action, as details) → (b)    authorized, else polkit's error;
 *                                        DETAILS is the flat key, value…
 *                                        list handed to the module as is
 *   CheckCancelled(s action) → (ub)      starts a check, cancels it at once,
 *                                        then runs a second one: how often
 *                                        the cancelled callback ran, and the
 *                                        second result
 *   Bench(s action, u n) → (at)          N sequential checks, each one's
 *                                        round trip in us
 *
 * Callers are root (this process, over GDBus) and the unprivileged users
 * vdpa-test-user and vdpa-test-admin (gdbus as that uid, harness.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "harness.h"
#include "macro.h"
#include "polkit-harness.h"
#include "polkit.h"
#include "vdpa-names.h"

#define ERR_ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"
#define ERR_INTERACTIVE   "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
#define ERR_INVALID_ARGS  "org.freedesktop.DBus.Error.InvalidArgs"

#define CLAIM   VDPA_POLKIT_ACTION_CLAIM
#define RELEASE VDPA_POLKIT_ACTION_RELEASE
#define PROVISION VDPA_POLKIT_ACTION_PROVISION

/* ---- the test service (its own thread, its own sd-event loop) ---- */

typedef struct TestService {
        char *address;
        GThread *thread;
        int quit_fd;
        GMutex lock;
        GCond cond;
        gboolean done_starting;
        int start_r;
        /* Only the service thread touches these. */
        unsigned cancelled_callbacks;
} TestService;

typedef struct Pending {
        TestService *svc;
        sd_bus_message *call;
        sd_bus_slot *slot;
        char *action;
        unsigned n, left;
        uint64_t started;
        GArray *times;
} Pending;

static uint64_t now_usec(void)
{
        return (uint64_t) g_get_monotonic_time();
}

static void pending_free(Pending *p)
{
        sd_bus_slot_unref(p->slot);
        sd_bus_message_unref(p->call);
        g_free(p->action);
        if (p->times)
                g_array_unref(p->times);
        g_free(p);
}

static Pending *pending_new(TestService *svc, sd_bus_message *call, const char *action)
{
        Pending *p = g_new0(Pending, 1);

        p->svc = svc;
        p->call = sd_bus_message_ref(call);
        p->action = g_strdup(action);
        return p;
}

/* An error of the module must carry a D-Bus error: check that here, so a
 * regression shows up as a wrong reply rather than a crash. */
static void reply_result(sd_bus_message *call, int r, const sd_bus_error *error)
{
        if (r > 0) {
                (void) sd_bus_reply_method_return(call, "b", 1);
                return;
        }
        if (r == 0 || !error || !sd_bus_error_is_set(error)) {
                (void) sd_bus_reply_method_errorf(call, SD_BUS_ERROR_FAILED,
                                                  "module returned r=%d without an error", r);
                return;
        }
        (void) sd_bus_reply_method_error(call, error);
}

static void on_check_done(int r, const sd_bus_error *error, void *userdata)
{
        Pending *p = userdata;

        reply_result(p->call, r, error);
        pending_free(p);
}

static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        g_auto(GStrv) details = NULL;
        char **strv = NULL;
        const char *action;
        Pending *p;
        int r;

        r = sd_bus_message_read(m, "s", &action);
        if (r < 0)
                return r;
        r = sd_bus_message_read_strv(m, &strv);
        if (r < 0)
                return r;
        details = strv;

        p = pending_new(userdata, m, action);
        r = vdpa_polkit_check_async(m, action, (const char *const *) details, on_check_done, p,
                                    &p->slot);
        if (r < 0) {
                pending_free(p);
                return sd_bus_error_set_errnof(ret_error, -r, "vdpa_polkit_check_async: %s",
                                               g_strerror(-r));
        }
        return 1;
}

static void on_cancelled_done(int r, const sd_bus_error *error, void *userdata)
{
        TestService *svc = userdata;

        svc->cancelled_callbacks++;
}

static void on_after_cancel_done(int r, const sd_bus_error *error, void *userdata)
{
        Pending *p = userdata;

        /* polkitd answers in order, so the cancelled query's answer (if
         * any reached us) was dispatched before this one. */
        (void) sd_bus_reply_method_return(p->call, "ub", p->svc->cancelled_callbacks, r > 0);
        pending_free(p);
}

static int method_check_cancelled(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        TestService *svc = userdata;
        sd_bus_slot *cancelled = NULL;
        const char *action;
        Pending *p;
        int r;

        r = sd_bus_message_read(m, "s", &action);
        if (r < 0)
                return r;

        svc->cancelled_callbacks = 0;
        r = vdpa_polkit_check_async(m, action, NULL, on_cancelled_done, svc, &cancelled);
        if (r < 0)
                return r;
        sd_bus_slot_unref(cancelled);

        p = pending_new(svc, m, action);
        r = vdpa_polkit_check_async(m, action, NULL, on_after_cancel_done, p, &p->slot);
        if (r < 0) {
                pending_free(p);
                return r;
        }
        return 1;
}

static void on_bench_done(int r, const sd_bus_error *error, void *userdata);

static int bench_next(Pending *p)
{
        p->slot = sd_bus_slot_unref(p->slot);
        p->started = now_usec();
        return vdpa_polkit_check_async(p->call, p->action, NULL, on_bench_done, p, &p->slot);
}

static void bench_reply(Pending *p)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

        if (sd_bus_message_new_method_return(p->call, &reply) >= 0 &&
            sd_bus_message_append_array(reply, 't', p->times->data,
                                        p->times->len * sizeof(uint64_t)) >= 0)
                (void) sd_bus_send(NULL, reply, NULL);
        pending_free(p);
}

static void on_bench_done(int r, const sd_bus_error *error, void *userdata)
{
        Pending *p = userdata;
        uint64_t elapsed = now_usec() - p->started;

        if (r <= 0) {
                reply_result(p->call, r, error);
                pending_free(p);
                return;
        }
        g_array_append_val(p->times, elapsed);
        if (--p->left == 0) {
                bench_reply(p);
                return;
        }
        r = bench_next(p);
        if (r < 0) {
                (void) sd_bus_reply_method_errno(p->call, r, NULL);
                pending_free(p);
        }
}

static int method_bench(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        const char *action;
        uint32_t n;
        Pending *p;
        int r;

        r = sd_bus_message_read(m, "su", &action, &n);
        if (r < 0)
                return r;
        if (n == 0 || n > 10000)
                return sd_bus_error_set(ret_error, SD_BUS_ERROR_INVALID_ARGS, "bad count");

        p = pending_new(userdata, m, action);
        p->n = p->left = n;
        p->times = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        r = bench_next(p);
        if (r < 0) {
                pending_free(p);
                return r;
        }
        return 1;
}

static const sd_bus_vtable service_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Check", "sas", "b", method_check, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("CheckCancelled", "s", "ub", method_check_cancelled,
                      SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Bench", "su", "at", method_bench, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static int on_quit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int service_setup(TestService *svc, sd_event *event, sd_bus **ret_bus)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, svc->address);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, 1);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(bus, NULL, VDPA_OBJECT_PATH, VDPA_INTERFACE,
                                     service_vtable, svc);
        if (r < 0)
                return r;
        r = sd_bus_request_name(bus, VDPA_BUS_NAME, 0);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(bus, event, 0);
        if (r < 0)
                return r;
        r = sd_event_add_io(event, NULL, svc->quit_fd, EPOLLIN, on_quit, svc);
        if (r < 0)
                return r;
        *ret_bus = TAKE_PTR(bus);
        return 0;
}

static gpointer service_thread(gpointer data)
{
        TestService *svc = data;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_event_new(&event);
        if (r >= 0)
                r = service_setup(svc, event, &bus);

        g_mutex_lock(&svc->lock);
        svc->start_r = r;
        svc->done_starting = TRUE;
        g_cond_signal(&svc->cond);
        g_mutex_unlock(&svc->lock);

        if (r >= 0)
                (void) sd_event_loop(event);
        return NULL;
}

static TestService *service_start(VdpaTestBus *bus)
{
        TestService *svc = g_new0(TestService, 1);

        svc->address = g_strdup(vdpa_test_bus_get_address(bus));
        svc->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        g_assert_cmpint(svc->quit_fd, >=, 0);
        g_mutex_init(&svc->lock);
        g_cond_init(&svc->cond);
        svc->thread = g_thread_new("polkit-test-service", service_thread, svc);

        g_mutex_lock(&svc->lock);
        while (!svc->done_starting)
                g_cond_wait(&svc->cond, &svc->lock);
        g_mutex_unlock(&svc->lock);
        if (svc->start_r < 0)
                g_error("test service failed to start: %s", g_strerror(-svc->start_r));
        return svc;
}

static void service_stop(TestService *svc)
{
        uint64_t one = 1;

        g_assert_cmpint(write(svc->quit_fd, &one, sizeof(one)), ==, sizeof(one));
        g_thread_join(svc->thread);
        close(svc->quit_fd);
        g_mutex_clear(&svc->lock);
        g_cond_clear(&svc->cond);
        g_free(svc->address);
        g_free(svc);
}

/* ---- fixture ---- */

typedef struct {
        VdpaTestBus *bus;
        TestService *svc;
        VdpaTestPolkit *pk;
        uid_t user_uid, admin_uid;
        gid_t user_gid, admin_gid;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
        vdpa_test_user_ensure_or_die(VDPA_TEST_USER, &f->user_uid, &f->user_gid);
        vdpa_test_user_ensure_or_die(VDPA_TEST_ADMIN, &f->admin_uid, &f->admin_gid);
        f->bus = vdpa_test_bus_new_or_die();
        f->svc = service_start(f->bus);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
        vdpa_test_polkit_stop(f->pk);
        service_stop(f->svc);
        vdpa_test_bus_free(f->bus);
}

static void start_polkit(Fixture *f, const char *rules_js)
{
        g_assert_null(f->pk);
        f->pk = vdpa_test_polkit_start_or_die(f->bus, rules_js);
}

/* ---- callers ---- */

static GVariant *check_params(const char *action, const char *const *details)
{
        return g_variant_new("(s^as)", action, details ? details : (const char *const[]) { NULL });
}

/* Check as root over the test's own GDBus connection. */
static GVariant *check_root(Fixture *f, const char *action, const char *const *details,
                            GDBusCallFlags flags, GError **error)
{
        return vdpa_test_call_full(vdpa_test_bus_get_connection(f->bus), VDPA_BUS_NAME,
                                   VDPA_OBJECT_PATH, VDPA_INTERFACE, "Check",
                                   check_params(action, details), "(b)", flags, 30000, error);
}

static GVariant *check_as(Fixture *f, uid_t uid, gid_t gid, const char *action,
                          const char *const *details, GDBusCallFlags flags, GError **error)
{
        return vdpa_test_call_as_uid_full(f->bus, uid, gid, VDPA_BUS_NAME, VDPA_OBJECT_PATH,
                                          VDPA_INTERFACE, "Check", check_params(action, details),
                                          flags, error);
}

static void assert_authorized(GVariant *reply, const GError *error)
{
        gboolean ok = FALSE;

        g_assert_no_error(error);
        g_assert_nonnull(reply);
        g_variant_get(reply, "(b)", &ok);
        g_assert_true(ok);
}

static void assert_root_authorized(Fixture *f, const char *action, const char *const *details)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = check_root(f, action, details, G_DBUS_CALL_FLAGS_NONE, &error);

        assert_authorized(r, error);
}

static void assert_user_authorized(Fixture *f, uid_t uid, gid_t gid, const char *action,
                                   const char *const *details)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = check_as(f, uid, gid, action, details,
                                         G_DBUS_CALL_FLAGS_NONE, &error);

        assert_authorized(r, error);
}

/* Asserts the error NAME and that the message names the action. */
static void assert_user_denied(Fixture *f, uid_t uid, gid_t gid, const char *action,
                               const char *const *details, GDBusCallFlags flags,
                               const char *name)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = check_as(f, uid, gid, action, details, flags, &error);

        g_assert_null(r);
        vdpa_test_assert_error_name(error, name);
        g_assert_nonnull(strstr(error->message, action));
}

#define NO_FLAGS    G_DBUS_CALL_FLAGS_NONE
#define INTERACTIVE G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION

/* ---- rules ---- */

static const char rules_grant_admin[] =
        "polkit.addRule(function(action, subject) {\n"
        "        if (action.id.indexOf(\"org.vdpa.manager.\") == 0 &&\n"
        "            subject.user == \"" VDPA_TEST_ADMIN "\")\n"
        "                return polkit.Result.YES;\n"
        "});\n";

static const char rules_admin_yes_user_no[] =
        "polkit.addRule(function(action, subject) {\n"
        "        if (action.id.indexOf(\"org.vdpa.manager.\") != 0)\n"
        "                return polkit.Result.NOT_HANDLED;\n"
        "        if (subject.user == \"" VDPA_TEST_ADMIN "\")\n"
        "                return polkit.Result.AUTH_ADMIN;\n"
        "        if (subject.user == \"" VDPA_TEST_USER "\")\n"
        "                return polkit.Result.NO;\n"
        "});\n";

static const char rules_details[] =
        "polkit.addRule(function(action, subject) {\n"
        "        if (action.id != \"org.vdpa.manager.claim\" ||\n"
        "            subject.user != \"" VDPA_TEST_ADMIN "\")\n"
        "                return polkit.Result.NOT_HANDLED;\n"
        "        if (action.lookup(\"device\") == \"vdpa0\" &&\n"
        "            action.lookup(\"domain\") == \"guest1\")\n"
        "                return polkit.Result.YES;\n"
        "        return polkit.Result.NO;\n"
        "});\n";

/* ---- tests ---- */

static void test_root(Fixture *f, gconstpointer data)
{
        const char *const details[] = { "device", "vdpa0", "domain", "guest1", NULL };

        start_polkit(f, NULL);
        /* Not special-cased in the module: polkitd itself authorizes uid 0. */
        assert_root_authorized(f, CLAIM, NULL);
        assert_root_authorized(f, RELEASE, details);
        assert_root_authorized(f, PROVISION, NULL);
}

static void test_user_without_rule(Fixture *f, gconstpointer data)
{
        start_polkit(f, NULL);

        /* The actions default to auth_admin_keep, so polkitd answers "not
         * authorized, but a challenge would help": a caller that did not
         * allow interaction is told to retry interactively... */
        assert_user_denied(f, f->user_uid, f->user_gid, CLAIM, NULL, NO_FLAGS, ERR_INTERACTIVE);
        assert_user_denied(f, f->user_uid, f->user_gid, RELEASE, NULL, NO_FLAGS, ERR_INTERACTIVE);
        assert_user_denied(f, f->user_uid, f->user_gid, PROVISION, NULL, NO_FLAGS, ERR_INTERACTIVE);
        /* ...and one that did is denied: no agent exists to ask anyone. */
        assert_user_denied(f, f->user_uid, f->user_gid, CLAIM, NULL, INTERACTIVE,
                           ERR_ACCESS_DENIED);
        assert_user_denied(f, f->user_uid, f->user_gid, RELEASE, NULL, INTERACTIVE,
                           ERR_ACCESS_DENIED);
        /* Without a rule the would-be admin is nobody special. */
        assert_user_denied(f, f->admin_uid, f->admin_gid, CLAIM, NULL, INTERACTIVE,
                           ERR_ACCESS_DENIED);
}

static void test_rule_grants_admin(Fixture *f, gconstpointer data)
{
        start_polkit(f, rules_grant_admin);

        assert_user_authorized(f, f->admin_uid, f->admin_gid, CLAIM, NULL);
        assert_user_authorized(f, f->admin_uid, f->admin_gid, RELEASE, NULL);
        assert_user_authorized(f, f->admin_uid, f->admin_gid, PROVISION, NULL);
        assert_user_denied(f, f->user_uid, f->user_gid, CLAIM, NULL, INTERACTIVE,
                           ERR_ACCESS_DENIED);
        assert_user_denied(f, f->user_uid, f->user_gid, RELEASE, NULL, INTERACTIVE,
                           ERR_ACCESS_DENIED);
        assert_user_denied(f, f->user_uid, f->user_gid, CLAIM, NULL, NO_FLAGS, ERR_INTERACTIVE);
        assert_root_authorized(f, CLAIM, NULL);
}

static void test_auth_admin_and_no(Fixture *f, gconstpointer data)
{
        start_polkit(f, rules_admin_yes_user_no);

        /* AUTH_ADMIN: a challenge. */
        assert_user_denied(f, f->admin_uid, f->admin_gid, CLAIM, NULL, NO_FLAGS, ERR_INTERACTIVE);
        assert_user_denied(f, f->admin_uid, f->admin_gid, RELEASE, NULL, NO_FLAGS,
                           ERR_INTERACTIVE);
        assert_user_denied(f, f->admin_uid, f->admin_gid, CLAIM, NULL, INTERACTIVE,
                           ERR_ACCESS_DENIED);
        /* NO: no challenge would help, so AccessDenied even non-interactively. */
        assert_user_denied(f, f->user_uid, f->user_gid, CLAIM, NULL, NO_FLAGS, ERR_ACCESS_DENIED);
        assert_user_denied(f, f->user_uid, f->user_gid, RELEASE, NULL, NO_FLAGS,
                           ERR_ACCESS_DENIED);
}

static void test_details(Fixture *f, gconstpointer data)
{
        const char *const good[] = { "device", "vdpa0", "domain", "guest1", NULL };
        const char *const other_device[] = { "device", "vdpa1", "domain", "guest1", NULL };
        const char *const other_domain[] = { "device", "vdpa0", "domain", "guest2", NULL };
        const char *const device_only[] = { "device", "vdpa0", NULL };
        uid_t u = f->admin_uid;
        gid_t g = f->admin_gid;

        start_polkit(f, rules_details);

        assert_user_authorized(f, u, g, CLAIM, good);
        assert_user_denied(f, u, g, CLAIM, other_device, NO_FLAGS, ERR_ACCESS_DENIED);
        assert_user_denied(f, u, g, CLAIM, other_domain, NO_FLAGS, ERR_ACCESS_DENIED);
        assert_user_denied(f, u, g, CLAIM, device_only, NO_FLAGS, ERR_ACCESS_DENIED);
        assert_user_denied(f, u, g, CLAIM, NULL, NO_FLAGS, ERR_ACCESS_DENIED);
        /* The rule is for claim only; release falls back to auth_admin_keep. */
        assert_user_denied(f, u, g, RELEASE, good, NO_FLAGS, ERR_INTERACTIVE);
}

static void test_bad_details(Fixture *f, gconstpointer data)
{
        const char *const odd[] = { "device", "vdpa0", "domain", NULL };
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;

        start_polkit(f, NULL);
        /* Refused before anything is sent; the callback never runs (the
         * service would reply twice otherwise). */
        r = check_root(f, CLAIM, odd, NO_FLAGS, &error);
        g_assert_null(r);
        vdpa_test_assert_error_name(error, ERR_INVALID_ARGS);
        g_clear_error(&error);
        r = check_root(f, "", NULL, NO_FLAGS, &error);
        g_assert_null(r);
        vdpa_test_assert_error_name(error, ERR_INVALID_ARGS);
}

static void assert_denied_fast(Fixture *f, const char *what)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        gint64 t0, root_us, user_us;

        t0 = g_get_monotonic_time();
        r = check_root(f, CLAIM, NULL, NO_FLAGS, &error);
        root_us = g_get_monotonic_time() - t0;
        g_assert_null(r);
        vdpa_test_assert_error_name(error, ERR_ACCESS_DENIED);
        g_assert_nonnull(strstr(error->message, CLAIM));
        g_test_message("%s, root: AccessDenied in %" G_GINT64_FORMAT " us: %s",
                       what, root_us, error->message);
        g_assert_cmpint(root_us, <, 2 * G_USEC_PER_SEC);
        g_clear_error(&error);

        /* Interactive callers get the long timeout: that must not matter
         * when nobody is there to answer. */
        t0 = g_get_monotonic_time();
        r = check_as(f, f->admin_uid, f->admin_gid, RELEASE, NULL, INTERACTIVE, &error);
        user_us = g_get_monotonic_time() - t0;
        g_assert_null(r);
        vdpa_test_assert_error_name(error, ERR_ACCESS_DENIED);
        g_test_message("%s, interactive user: AccessDenied in %" G_GINT64_FORMAT " us",
                       what, user_us);
        g_assert_cmpint(user_us, <, 2 * G_USEC_PER_SEC);
}

static void test_polkitd_stopped(Fixture *f, gconstpointer data)
{
        start_polkit(f, rules_grant_admin);
        assert_root_authorized(f, CLAIM, NULL);
        assert_user_authorized(f, f->admin_uid, f->admin_gid, CLAIM, NULL);

        vdpa_test_polkit_stop(f->pk);
        f->pk = NULL;
        assert_denied_fast(f, "polkitd stopped");
}

static void test_polkitd_never_started(Fixture *f, gconstpointer data)
{
        assert_denied_fast(f, "no polkitd");
}

static void on_async_check(GObject *source, GAsyncResult *res, gpointer user_data)
{
        GError **error = user_data;
        g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, error);

        g_assert_null(r);
        g_assert_nonnull(*error);
}

/* Set (from GDBus's worker thread) once the bus passed a CheckAuthorization
 * on to polkitd.  A monitor only takes, never sends: every method call is
 * dropped here so that GDBus does not answer it. */
static GDBusMessage *on_monitored(GDBusConnection *c, GDBusMessage *msg, gboolean incoming, gpointer user_data)
{
        if (!incoming || g_dbus_message_get_message_type(msg) != G_DBUS_MESSAGE_TYPE_METHOD_CALL)
                return msg;
        if (g_strcmp0(g_dbus_message_get_member(msg), "CheckAuthorization") == 0)
                g_atomic_int_set((gint *) user_data, 1);
        g_object_unref(msg);
        return NULL;
}

/* polkitd hangs, then dies with our query pending: the bus answers NoReply
 * for it at once, which must deny. */
static void test_polkitd_dies_mid_check(Fixture *f, gconstpointer data)
{
        static const char *const rules[] = {
                "type='method_call',interface='org.freedesktop.PolicyKit1.Authority',member='CheckAuthorization'",
                NULL
        };
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) monitor = NULL;
        g_autoptr(GVariant) r = NULL;
        static gint routed;     /* static: the filter may still run as the monitor goes */
        GPid pid;
        gint64 t0;

        start_polkit(f, NULL);
        pid = vdpa_test_polkit_get_pid(f->pk);
        g_assert_cmpint(kill(pid, SIGSTOP), ==, 0);

        /* The bus hands a monitor its copy in the same step as it routes
         * the message: once the query is seen, polkitd has it pending. */
        g_atomic_int_set(&routed, 0);
        monitor = vdpa_test_bus_connect(f->bus, &error);
        g_assert_no_error(error);
        g_dbus_connection_add_filter(monitor, on_monitored, &routed, NULL);
        r = vdpa_test_call_full(monitor, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus.Monitoring", "BecomeMonitor",
                                g_variant_new("(^asu)", rules, 0), "()", NO_FLAGS, 30000, &error);
        g_assert_no_error(error);

        g_dbus_connection_call(vdpa_test_bus_get_connection(f->bus), VDPA_BUS_NAME,
                               VDPA_OBJECT_PATH, VDPA_INTERFACE, "Check",
                               check_params(CLAIM, NULL), G_VARIANT_TYPE("(b)"), NO_FLAGS,
                               30000, NULL, on_async_check, &error);
        t0 = g_get_monotonic_time();
        while (!g_atomic_int_get(&routed)) {
                if (g_get_monotonic_time() - t0 > 30 * G_USEC_PER_SEC)
                        g_error("the bus did not pass the CheckAuthorization on to polkitd within 30 s%s",
                                error ? " (the Check was answered already)" : "");
                vdpa_test_iterate(5);
        }
        g_assert_null(error);   /* still waiting for the stopped polkitd */

        t0 = g_get_monotonic_time();
        g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
        while (!error && g_get_monotonic_time() - t0 < 5 * G_USEC_PER_SEC)
                g_main_context_iteration(NULL, TRUE);
        if (!error)
                g_error("the Check is still unanswered 5 s after polkitd was killed with the query pending");
        vdpa_test_assert_error_name(error, ERR_ACCESS_DENIED);
        g_assert_nonnull(strstr(error->message, CLAIM));
        g_test_message("polkitd killed mid-check: AccessDenied %" G_GINT64_FORMAT " us later: %s",
                       g_get_monotonic_time() - t0, error->message);
        g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
}

static void test_cancel(Fixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        guint32 calls = 99;
        gboolean ok = FALSE;

        start_polkit(f, NULL);
        for (int i = 0; i < 20; i++) {
                r = vdpa_test_call_full(vdpa_test_bus_get_connection(f->bus), VDPA_BUS_NAME,
                                        VDPA_OBJECT_PATH, VDPA_INTERFACE, "CheckCancelled",
                                        g_variant_new("(s)", CLAIM), "(ub)",
                                        NO_FLAGS, 30000, &error);
                g_assert_no_error(error);
                g_variant_get(r, "(ub)", &calls, &ok);
                g_assert_cmpuint(calls, ==, 0);
                g_assert_true(ok);
                g_clear_pointer(&r, g_variant_unref);
        }
}

static int cmp_u64(gconstpointer a, gconstpointer b)
{
        guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;

        return x < y ? -1 : x > y;
}

/* Median and max of the per-check round trips in the reply of Bench. */
static void report_bench(GVariant *reply, const char *who)
{
        g_autoptr(GVariant) arr = g_variant_get_child_value(reply, 0);
        gsize n = 0;
        const guint64 *t = g_variant_get_fixed_array(arr, &n, sizeof(guint64));
        g_autofree guint64 *sorted = g_memdup2(t, n * sizeof(guint64));

        g_assert_cmpuint(n, ==, 50);
        qsort(sorted, n, sizeof(guint64), cmp_u64);
        g_test_message("CheckAuthorization round trip, %s: median %" G_GUINT64_FORMAT
                       " us, min %" G_GUINT64_FORMAT " us, max %" G_GUINT64_FORMAT " us (n=%zu)",
                       who, sorted[n / 2], sorted[0], sorted[n - 1], (size_t) n);
        /* Generous: a healthy polkitd answers in milliseconds. */
        g_assert_cmpuint(sorted[n / 2], <, G_USEC_PER_SEC);
}

static void test_round_trip(Fixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) root = NULL, admin = NULL;

        start_polkit(f, rules_grant_admin);
        root = vdpa_test_call_full(vdpa_test_bus_get_connection(f->bus), VDPA_BUS_NAME,
                                   VDPA_OBJECT_PATH, VDPA_INTERFACE, "Bench",
                                   g_variant_new("(su)", CLAIM, 50), "(at)",
                                   NO_FLAGS, 60000, &error);
        g_assert_no_error(error);
        report_bench(root, "root (uid 0)");

        /* A rule-granted non-root caller: the JavaScript rules run. */
        admin = vdpa_test_call_as_uid_full(f->bus, f->admin_uid, f->admin_gid, VDPA_BUS_NAME,
                                           VDPA_OBJECT_PATH, VDPA_INTERFACE, "Bench",
                                           g_variant_new("(su)", CLAIM, 50), NO_FLAGS, &error);
        g_assert_no_error(error);
        report_bench(admin, VDPA_TEST_ADMIN " (granted by rule)");
}

/* The actions polkitd knows: exactly the project's own, so the bind mount
 * took effect and the host's actions are out of the way. */
static void assert_actions(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL, actions = NULL;
        g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
        GVariantIter iter;
        const char *id;

        r = vdpa_test_call_full(vdpa_test_bus_get_connection(f->bus),
                                "org.freedesktop.PolicyKit1",
                                "/org/freedesktop/PolicyKit1/Authority",
                                "org.freedesktop.PolicyKit1.Authority", "EnumerateActions",
                                g_variant_new("(s)", ""), NULL, NO_FLAGS, 10000, &error);
        g_assert_no_error(error);
        actions = g_variant_get_child_value(r, 0);
        g_variant_iter_init(&iter, actions);
        while (g_variant_iter_loop(&iter, "(&s@s@s@s@s@s@u@u@u@a{ss})", &id,
                                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL))
                g_ptr_array_add(ids, g_strdup(id));
        g_assert_cmpuint(ids->len, ==, 3);
        g_assert_true(g_ptr_array_find_with_equal_func(ids, CLAIM, g_str_equal, NULL));
        g_assert_true(g_ptr_array_find_with_equal_func(ids, RELEASE, g_str_equal, NULL));
        g_assert_true(g_ptr_array_find_with_equal_func(ids, PROVISION, g_str_equal, NULL));
}

static void test_harness_start_stop(Fixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        VdpaTestPolkit *broken;
        GPid pid;
        gint64 t0 = g_get_monotonic_time();

        start_polkit(f, rules_grant_admin);
        g_test_message("polkitd up in %" G_GINT64_FORMAT " ms",
                       (g_get_monotonic_time() - t0) / 1000);
        assert_actions(f);
        pid = vdpa_test_polkit_get_pid(f->pk);
        g_assert_cmpint(pid, >, 0);
        g_assert_true(vdpa_test_pid_alive(pid));
        g_assert_cmpint(vdpa_test_bus_get_name_owner_pid(f->bus, "org.freedesktop.PolicyKit1"),
                        ==, pid);

        vdpa_test_polkit_stop(f->pk);
        f->pk = NULL;
        g_assert_false(vdpa_test_pid_alive(pid));
        g_assert_cmpint(vdpa_test_bus_get_name_owner_pid(f->bus, "org.freedesktop.PolicyKit1"),
                        ==, 0);

        g_autofree char *log = NULL;

        /* A rules file that does not compile fails the start, loudly. */
        broken = vdpa_test_polkit_start(f->bus, "polkit.addRule(function( {", &error);
        g_assert_null(broken);
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
        g_assert_cmpint(vdpa_test_bus_get_name_owner_pid(f->bus, "org.freedesktop.PolicyKit1"),
                        ==, 0);

        /* A second instance on the same bus works too. */
        start_polkit(f, rules_grant_admin);
        assert_root_authorized(f, CLAIM, NULL);
        assert_user_authorized(f, f->admin_uid, f->admin_gid, CLAIM, NULL);
        log = vdpa_test_polkit_get_log(f->pk);
        g_test_message("polkitd log:\n%s", log);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);

#define ADD(name, fn) \
        g_test_add("/polkit/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("harness-start-stop", test_harness_start_stop);
        ADD("root", test_root);
        ADD("user-without-rule", test_user_without_rule);
        ADD("rule-grants-admin", test_rule_grants_admin);
        ADD("auth-admin-and-no", test_auth_admin_and_no);
        ADD("details", test_details);
        ADD("bad-details", test_bad_details);
        ADD("polkitd-stopped", test_polkitd_stopped);
        ADD("polkitd-never-started", test_polkitd_never_started);
        ADD("polkitd-dies-mid-check", test_polkitd_dies_mid_check);
        ADD("cancel", test_cancel);
        ADD("round-trip", test_round_trip);
#undef ADD

        return g_test_run();
}
