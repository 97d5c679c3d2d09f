// SPDX-License-Identifier: GPL-2.0
#include <string.h>

#include "offloader/placement.h"

void agent_placement_init(struct agent_placement *p, long interval_ms, int misses,
			  uint32_t min_cpu_millis, uint64_t min_mem_bytes)
{
	memset(p, 0, sizeof(*p));
	p->interval_ms = interval_ms;
	p->misses = misses;
	p->min_cpu_millis = min_cpu_millis;
	p->min_mem_bytes = min_mem_bytes;
}

void agent_placement_connected(struct agent_placement *p, bool up, int64_t now_ms)
{
	p->connected = up;
	p->reported = false;
	if (up)
		p->last_heartbeat_ms = now_ms;	/* Hello counts as the first beat */
}

void agent_placement_heartbeat(struct agent_placement *p, int64_t now_ms,
			       uint32_t cpu_free_millis, uint64_t mem_free_bytes,
			       uint32_t halves, uint32_t max_halves)
{
	p->last_heartbeat_ms = now_ms;
	p->reported = true;
	p->cpu_free_millis = cpu_free_millis;
	p->mem_free_bytes = mem_free_bytes;
	p->halves = halves;
	p->max_halves = max_halves;
}

void agent_placement_alive(struct agent_placement *p, int64_t now_ms)
{
	if (p->reported)
		p->last_heartbeat_ms = now_ms;
}

bool agent_placement_healthy(const struct agent_placement *p, int64_t now_ms)
{
	return p->connected && p->reported &&
	       now_ms - p->last_heartbeat_ms <= p->interval_ms * p->misses;
}

bool agent_placement_room(const struct agent_placement *p, uint32_t extra)
{
	return p->halves + extra <= p->max_halves &&
	       p->cpu_free_millis >= p->min_cpu_millis &&
	       p->mem_free_bytes >= p->min_mem_bytes;
}
