/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Is the DPU usable?  Healthy while the peer connection is up, has
 * reported its capacity, and a heartbeat arrived within `misses` heartbeat
 * intervals; has room while the
 * capacity it last reported leaves at least the configured minimum free CPU
 * and memory and its half count is below its limit.  Pure bookkeeping: the
 * caller feeds it the clock, so tests need no sleeping.
 */
#ifndef AGENT_PLACEMENT_H
#define AGENT_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

struct agent_placement {
	long interval_ms;
	int misses;
	uint32_t min_cpu_millis;
	uint64_t min_mem_bytes;
	bool connected;
	bool reported;			/* a capacity arrived on this connection */
	int64_t last_heartbeat_ms;	/* monotonic */
	uint32_t cpu_free_millis, halves, max_halves;
	uint64_t mem_free_bytes;
};

void agent_placement_init(struct agent_placement *p, long interval_ms, int misses,
			  uint32_t min_cpu_millis, uint64_t min_mem_bytes);
void agent_placement_connected(struct agent_placement *p, bool up, int64_t now_ms);
void agent_placement_heartbeat(struct agent_placement *p, int64_t now_ms,
			       uint32_t cpu_free_millis, uint64_t mem_free_bytes,
			       uint32_t halves, uint32_t max_halves);
/* Any message from the DPU proves it alive (a busy DPU may send Results
 * before its next heartbeat). */
void agent_placement_alive(struct agent_placement *p, int64_t now_ms);
bool agent_placement_healthy(const struct agent_placement *p, int64_t now_ms);
/* Room for @extra more halves. */
bool agent_placement_room(const struct agent_placement *p, uint32_t extra);

#endif
