// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "offloader/backoff.h"

void agent_backoff_init(struct agent_backoff *b, long min_ms, long max_ms,
			uint64_t seed)
{
	b->min_ms = min_ms > 0 ? min_ms : 1;
	b->max_ms = max_ms > b->min_ms ? max_ms : b->min_ms;
	b->ceil_ms = b->min_ms;
	b->rng = seed | 1;
}

/* xorshift64: cheap, good enough for jitter, no global state. */
static uint64_t next_rand(struct agent_backoff *b)
{
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return b->rng;
}

long agent_backoff_next(struct agent_backoff *b, long retry_after_ms)
{
	long half = b->ceil_ms / 2, wait;

	wait = half + (long)(next_rand(b) % (uint64_t)(b->ceil_ms - half + 1));
	b->ceil_ms = b->ceil_ms > b->max_ms / 2 ? b->max_ms : b->ceil_ms * 2;
	return retry_after_ms > wait ? retry_after_ms : wait;
}

void agent_backoff_reset(struct agent_backoff *b)
{
	b->ceil_ms = b->min_ms;
}

long agent_retry_after_ms(const char *value, long now)
{
	struct tm tm;
	const char *end;
	char *e;
	long secs;

	while (isspace((unsigned char)*value))
		value++;
	if (isdigit((unsigned char)*value)) {
		errno = 0;
		secs = strtol(value, &e, 10);
		while (isspace((unsigned char)*e))
			e++;
		if (errno || *e || secs > 86400)
			return -EINVAL;
		return secs * 1000;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end)
		return -EINVAL;
	secs = (long)timegm(&tm) - now;
	return secs > 0 ? secs * 1000 : 0;
}
