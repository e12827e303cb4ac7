/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A textual polkit agent for interactive authorization on a terminal, as
 * systemctl and hostnamectl start one: pkttyagent, registered for our own
 * process, so that polkitd can ask for a password on our tty.
 */
#pragma once

#include <glib.h>

/* Starts pkttyagent when it makes sense (stdin is a tty, not root, the
 * binary exists) and waits until it has registered.  BUS_ADDRESS (may be
 * NULL) is the system bus to register on.  Failure is not an error: the
 * call then fails with InteractiveAuthorizationRequired or AccessDenied
 * as it would without an agent.  Returns the agent's pid or 0. */
GPid polkit_agent_open(const char *bus_address);

/* Terminates and reaps the agent; 0 is a no-op. */
void polkit_agent_close(GPid pid);
