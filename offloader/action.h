/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The action layer: what the host role does to a pod's own namespace (the
 * CPU half) once the DPU half exists, and undoes on removal or fallback.
 * This is the one seam between the agent's decisions and libhpnetns
 * (split/unsplit halves, redo rules, port map) and hsock's allowlist.
 *
 * Contract: both operations are idempotent and leave the pod working on
 * failure (split failing leaves it whole; unsplit restores Istio's own
 * rules).  They return 0 or -errno with a message in @err.
 *
 * The implementation is split.c (libhpnetns, one half per PU; the host
 * passes itself as @ctx).
 */
#ifndef AGENT_ACTION_H
#define AGENT_ACTION_H

#include <stddef.h>

#include "offloader/state.h"

struct agent_actions {
	int (*split_cpu)(void *ctx, const struct agent_pod_rec *p, char *err,
			 size_t errlen);
	int (*unsplit_cpu)(void *ctx, const struct agent_pod_rec *p, char *err,
			   size_t errlen);
	void *ctx;
};

#endif
