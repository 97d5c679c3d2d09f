/* SPDX-License-Identifier: GPL-2.0 */
/*
 * State push to heteropod-extender (proto/nodestate.proto): this PU's
 * images (the Node's status.images), its warm fork templates and its DPU
 * state, as one NodeState
 * owned by this agent's source.  A thread of its own speaks the protocol
 * (snapshot with a generation, then deltas with generation + 1, a
 * keepalive every interval, a new snapshot after NEED_SNAPSHOT or a failed
 * push) so that a slow extender never delays the loop's heartbeats.
 */
#ifndef AGENT_PUSH_H
#define AGENT_PUSH_H

#include <stdint.h>
#include <jansson.h>

struct agent_push;

struct agent_push_stats {
	uint64_t generation;	/* last generation the extender applied */
	unsigned long pushes, failures, snapshots;
	char last[64];		/* last outcome: applied, need-snapshot, ... */
};

/* @url: the extender's state endpoint (e.g. http://h:8888/v1/state). */
int agent_push_start(const char *url, const char *source, const char *node,
		     long interval_ms, struct agent_push **out);
void agent_push_stop(struct agent_push *p);
/*
 * The state to report now: @images as in Node.status.images (NULL: none),
 * @templates an object whose keys are the template names held (NULL:
 * none; borrowed), @dpu a Heteropod__Nodestate__DpuState.  Pushed at once
 * when it differs from what was last handed over.
 */
void agent_push_set(struct agent_push *p, json_t *images, json_t *templates, int dpu);
void agent_push_stats(struct agent_push *p, struct agent_push_stats *out);

#endif
