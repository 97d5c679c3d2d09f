/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Exponential backoff with jitter for API retries.  Each failure doubles the
 * ceiling (from @min_ms up to @max_ms); the wait is drawn uniformly from
 * [ceiling/2, ceiling] so that many agents restarted together spread out.
 * A server's Retry-After is a floor: the wait is never shorter.
 */
#ifndef AGENT_BACKOFF_H
#define AGENT_BACKOFF_H

#include <stdint.h>

struct agent_backoff {
	long min_ms, max_ms, ceil_ms;
	uint64_t rng;
};

void agent_backoff_init(struct agent_backoff *b, long min_ms, long max_ms,
			uint64_t seed);
/* Next wait in ms; @retry_after_ms < 0 when the server gave none. */
long agent_backoff_next(struct agent_backoff *b, long retry_after_ms);
/* A success: the next failure waits about min_ms again. */
void agent_backoff_reset(struct agent_backoff *b);

/*
 * Parse an HTTP Retry-After value (delta-seconds or an IMF-fixdate) relative
 * to @now (seconds since the epoch).  Returns ms >= 0, or -EINVAL.
 */
long agent_retry_after_ms(const char *value, long now);

#endif
