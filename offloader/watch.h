/* SPDX-License-Identifier: GPL-2.0 */
/*
 * List-then-watch of one Kubernetes collection, on its own thread.
 *
 * The thread lists the collection page by page (limit/continue), hands the
 * list to the consumer as one replace (relist_begin, object for each item
 * as pages arrive, relist_end after the last page; a list that fails
 * part-way is started again with a new relist_begin), then watches from the list's resourceVersion with
 * allowWatchBookmarks=true and timeoutSeconds.  A watch that ends resumes
 * from the last resourceVersion seen (event or bookmark).  "Gone" (HTTP 410,
 * or an ERROR event whose Status code is 410, or an expired continue token)
 * starts a fresh list.  Other failures (transport errors, 5xx, 429, 401,
 * malformed events) wait with exponential backoff and jitter, never less
 * than the server's Retry-After; a 401 makes the connection re-read its
 * token.
 *
 * Callbacks run on the watch thread, one at a time, in stream order; the
 * consumer does its own locking against other threads.  The json_t handed
 * to object() is borrowed: take a reference to keep it.
 */
#ifndef AGENT_WATCH_H
#define AGENT_WATCH_H

#include <jansson.h>

#include "offloader/kube.h"

enum agent_watch_event {
	AGENT_WATCH_ADDED,
	AGENT_WATCH_MODIFIED,
	AGENT_WATCH_DELETED,
};

struct agent_watch_ops {
	void (*relist_begin)(void *arg);
	void (*object)(void *arg, enum agent_watch_event ev, json_t *obj);
	/* Objects not reported since relist_begin no longer exist. */
	void (*relist_end)(void *arg);
};

struct agent_watch_cfg {
	const char *path;		/* e.g. "/api/v1/pods" */
	const char *field_selector;	/* NULL for none; URL-encoded here */
	long page_limit;		/* items per list page */
	long timeout_s;			/* watch timeoutSeconds */
	long backoff_min_ms, backoff_max_ms;
};

struct agent_watch_stats {
	unsigned long lists;		/* complete lists delivered */
	unsigned long watches;		/* watch requests made */
	unsigned long events;		/* ADDED/MODIFIED/DELETED delivered */
	unsigned long bookmarks;
	unsigned long gone;		/* 410s (HTTP or event) */
	unsigned long errors;		/* failures that backed off */
	long last_backoff_ms;
};

struct agent_watch;

/* Start the thread.  @k and the strings in @cfg must outlive the watch. */
int agent_watch_start(struct agent_kube *k, const struct agent_watch_cfg *cfg,
		      const struct agent_watch_ops *ops, void *arg,
		      struct agent_watch **out);
/* Stop the thread (aborts a transfer in flight) and free.  NULL is fine. */
void agent_watch_stop(struct agent_watch *w);
void agent_watch_get_stats(struct agent_watch *w, struct agent_watch_stats *s);

#endif
