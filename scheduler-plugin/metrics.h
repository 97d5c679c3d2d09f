/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Prometheus metrics of the extender (text exposition format 0.0.4).
 * Counters are lock-free atomics, updated by any HTTP worker thread.
 */
#ifndef EXT_METRICS_H
#define EXT_METRICS_H

#include <stdint.h>

#include "scheduler-plugin/reply.h"
#include "scheduler-plugin/state.h"

enum ext_route {
	EXT_R_FILTER,
	EXT_R_PRIORITIZE,
	EXT_R_STATE,
	EXT_R_HEALTHZ,
	EXT_R_METRICS,
	EXT_R_OTHER,
	EXT_R_COUNT,
};

#define EXT_LAT_BUCKETS 12

struct ext_metrics {
	/* [route][status class index: see metrics.c codes[]] */
	uint64_t requests[EXT_R_COUNT][8];
	/* cumulative counts per upper bound, plus count and sum (ns) */
	uint64_t latency[EXT_R_COUNT][EXT_LAT_BUCKETS];
	uint64_t latency_count[EXT_R_COUNT];
	uint64_t latency_sum_ns[EXT_R_COUNT];
	uint64_t pushes[5];		/* by PushReply.Status */
	uint64_t nodes_scored;
	uint64_t nodes_filtered_out;
};

void ext_metrics_request(struct ext_metrics *m, enum ext_route r,
			 unsigned status, uint64_t ns);
void ext_metrics_push(struct ext_metrics *m, int status);
void ext_metrics_add(uint64_t *counter, uint64_t n);
/* Render everything, with gauges taken from @st. */
void ext_metrics_render(const struct ext_metrics *m, struct ext_state *st,
			struct ext_buf *out);

#endif
