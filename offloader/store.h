/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent's view of the API objects it cares about (Pods of this node,
 * Namespaces, this Node), fed by either source through the same
 * agent_watch_ops: the Kubernetes watch threads or the local manifest
 * directory.  Thread-safe.  Every change bumps a generation and writes to
 * the notify eventfd so the reconcile loop wakes up.
 *
 * Keys: pods "namespace/name", namespaces and nodes by name.  Objects are
 * kept slim: metadata (name, namespace, uid, resourceVersion, labels,
 * annotations), and for Pods spec.nodeName, spec.serviceAccountName,
 * status.podIPs, status.phase and spec.ports (not an API field: the TCP
 * containerPorts of its containers, absent when none).
 */
#ifndef AGENT_STORE_H
#define AGENT_STORE_H

#include <stdbool.h>
#include <jansson.h>

#include "offloader/watch.h"

enum agent_kind {
	AGENT_KIND_POD,
	AGENT_KIND_NAMESPACE,
	AGENT_KIND_NODE,
	AGENT_KIND__N,
};

struct agent_store;

extern const struct agent_watch_ops agent_store_ops;

/* @notify_fd: an eventfd written on every change (-1 for none). */
struct agent_store *agent_store_create(int notify_fd);
void agent_store_destroy(struct agent_store *s);

/* The arg to pass with agent_store_ops for objects of @kind. */
void *agent_store_feed(struct agent_store *s, enum agent_kind kind);

/* A new object key -> object (shared references; do not modify). */
json_t *agent_store_snapshot(struct agent_store *s, enum agent_kind kind);
unsigned long agent_store_generation(struct agent_store *s);
/* Has @kind been listed completely at least once? */
bool agent_store_synced(struct agent_store *s, enum agent_kind kind);

#endif
