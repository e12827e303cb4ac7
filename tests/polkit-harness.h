/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The real polkitd for service tests, on the private system-type bus of
 * harness.h, with the project's own actions and the test's own rules.
 *
 * polkitd reads actions only from /usr/share/polkit-1/actions and rules
 * only from /etc/polkit-1/rules.d and /usr/share/polkit-1/rules.d, so it
 * runs in private mount and PID namespaces:
 *
 *   unshare -m -p --fork --kill-child --propagation private sh -c
 *     'mount --bind ACTIONS /usr/share/polkit-1/actions &&
 *      mount --bind RULES /etc/polkit-1/rules.d && polkitd'
 *
 * The host's files are never touched; the rules in
 * /usr/share/polkit-1/rules.d (Debian's defaults) still apply.  polkitd
 * drops to user polkitd, which clears PR_SET_PDEATHSIG, so the PID
 * namespace is what guarantees it never outlives the test: unshare has the
 * parent-death signal, kills the namespace's init (sh) with --kill-child,
 * and the kernel then kills polkitd.  polkitd also exits by itself when its
 * bus goes away.
 *
 * Requires root (tests run as root).  A missing polkitd or unshare is an
 * error, never a skip.
 */
#pragma once

#include <sys/types.h>

#include <glib.h>

#include "harness.h"

#define VDPA_TEST_POLKITD "/usr/lib/polkit-1/polkitd"

/* An unprivileged user without any rule, and one that rules may grant. */
#define VDPA_TEST_USER  "vdpa-test-user"
#define VDPA_TEST_ADMIN "vdpa-test-admin"

typedef struct VdpaTestPolkit VdpaTestPolkit;

/* Starts polkitd on BUS with VDPA_TEST_SRCDIR/policy/org.vdpa.manager.policy
 * as its only action file and RULES_JS (may be NULL) as
 * /etc/polkit-1/rules.d/50-test.rules, then waits (10 s) until it owns
 * org.freedesktop.PolicyKit1.  Fails when polkitd reports that a rules file
 * did not compile or run.  On failure its log is printed. */
VdpaTestPolkit *vdpa_test_polkit_start(VdpaTestBus *bus, const char *rules_js, GError **error);
VdpaTestPolkit *vdpa_test_polkit_start_or_die(VdpaTestBus *bus, const char *rules_js);

/* Terminates polkitd (SIGTERM, then the whole namespace with SIGKILL),
 * reaps every process of it, removes its files and frees PK.  NULL is a
 * no-op.  After it returns, org.freedesktop.PolicyKit1 has no owner. */
void vdpa_test_polkit_stop(VdpaTestPolkit *pk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VdpaTestPolkit, vdpa_test_polkit_stop)

/* The pid of polkitd itself (as the bus sees it). */
GPid vdpa_test_polkit_get_pid(VdpaTestPolkit *pk);
/* polkitd's output so far. */
char *vdpa_test_polkit_get_log(VdpaTestPolkit *pk);

/* Looks up user NAME, creating it first if needed (`useradd --system
 * --no-create-home --user-group`, safe against concurrent tests).
 * Returns its uid and primary gid. */
gboolean vdpa_test_user_ensure(const char *name, uid_t *ret_uid, gid_t *ret_gid, GError **error);
/* The same, g_assert_no_error() on failure. */
void vdpa_test_user_ensure_or_die(const char *name, uid_t *ret_uid, gid_t *ret_gid);
