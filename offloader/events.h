/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kubernetes Events for the agent's decisions and for bad input.  In cluster
 * mode each Event is POSTed to the API (core/v1, namespace of the object, or
 * "default" for cluster-scoped objects); in local mode there is no API and
 * the log line is the record.  Every Event is also logged.  The same
 * (object, reason, message) is recorded once per agent lifetime, so a
 * level-triggered reconcile does not repeat itself.
 */
#ifndef AGENT_EVENTS_H
#define AGENT_EVENTS_H

#include <jansson.h>

#include "offloader/kube.h"

struct agent_events;

/* @kube NULL: log only (local mode).  @node names the reporting instance. */
struct agent_events *agent_events_create(struct agent_kube *kube, const char *node);
void agent_events_destroy(struct agent_events *e);

/*
 * Record an Event about @obj (a Pod, Namespace or Node as JSON; its kind is
 * read from @kind).  @type is "Normal" or "Warning".  Returns 1 when
 * recorded, 0 when it was a repeat, -errno when the API refused it.
 */
int agent_event(struct agent_events *e, const char *kind, const json_t *obj,
		const char *type, const char *reason, const char *message);

/* Events recorded so far (repeats excluded). */
unsigned long agent_events_count(const struct agent_events *e);

#endif
