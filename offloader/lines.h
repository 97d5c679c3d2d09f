/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Line framing for streamed bodies (Kubernetes watch: one JSON event per
 * line).  Bytes arrive in chunks cut anywhere; each complete line is handed
 * to the callback without its '\n'.  A trailing partial line is kept until
 * more bytes arrive, and dropped by agent_lines_reset() when the stream ends
 * (a truncated event is never delivered).
 */
#ifndef AGENT_LINES_H
#define AGENT_LINES_H

#include <stddef.h>

struct agent_lines {
	char *buf;
	size_t len, cap, max;
};

/* Return 0 to continue, non-zero to stop (the value is returned by feed). */
typedef int (*agent_line_fn)(void *arg, char *line, size_t len);

/* @max bounds one line; a longer line makes feed return -E2BIG. */
void agent_lines_init(struct agent_lines *l, size_t max);
void agent_lines_uninit(struct agent_lines *l);
/* Forget a partial line (stream ended or restarted). */
void agent_lines_reset(struct agent_lines *l);
/* Feed @n bytes; returns 0, the callback's non-zero value, or -errno. */
int agent_lines_feed(struct agent_lines *l, const char *data, size_t n,
		     agent_line_fn fn, void *arg);

#endif
