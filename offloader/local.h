/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Local mode source: a directory of YAML manifests (Namespace, Node, Pod;
 * several documents per file, *.yaml / *.yml / *.json), watched with
 * inotify.  Every change reloads the directory and replaces the store's
 * contents (same relist contract as the API watch).  A file that does not
 * parse keeps its previous objects and reports "file:line:col: reason".
 *
 * Pods without metadata.uid get "local-<namespace>-<name>"; pods whose
 * spec.nodeName names another node are ignored.
 */
#ifndef AGENT_LOCAL_H
#define AGENT_LOCAL_H

#include <stddef.h>

#include "offloader/store.h"

struct agent_local;

/* Watch @dir (inotify) and feed @store; call agent_local_reload() once. */
int agent_local_create(const char *dir, const char *node,
		       struct agent_store *store, struct agent_local **out);
void agent_local_destroy(struct agent_local *l);
/* The inotify fd: readable when the directory changed. */
int agent_local_fd(const struct agent_local *l);
/*
 * Drain inotify events (if any) and reload.  Returns the number of files
 * that failed to parse; the first error is in @err.
 */
int agent_local_reload(struct agent_local *l, char *err, size_t errlen);

#endif
