// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "offloader/lines.h"

void agent_lines_init(struct agent_lines *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->max = max;
}

void agent_lines_uninit(struct agent_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

void agent_lines_reset(struct agent_lines *l)
{
	l->len = 0;
}

static int append(struct agent_lines *l, const char *data, size_t n)
{
	size_t cap = l->cap ? l->cap : 4096;
	char *nb;

	if (l->len + n > l->max)
		return -E2BIG;
	while (cap < l->len + n + 1)
		cap *= 2;
	if (cap != l->cap) {
		nb = realloc(l->buf, cap);
		if (!nb)
			return -ENOMEM;
		l->buf = nb;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, data, n);
	l->len += n;
	l->buf[l->len] = '\0';
	return 0;
}

/*
 * Each line is completed in the buffer (the partial tail of the previous
 * chunk plus the head of this one) and handed out NUL-terminated.  Empty
 * lines (keep-alives) are skipped.
 */
int agent_lines_feed(struct agent_lines *l, const char *data, size_t n,
		     agent_line_fn fn, void *arg)
{
	const char *nl;
	size_t k, total;
	int ret;

	while (n && (nl = memchr(data, '\n', n))) {
		k = nl - data;
		ret = append(l, data, k);
		if (ret)
			return ret;
		total = l->len;
		l->len = 0;
		if (total) {
			ret = fn(arg, l->buf, total);
			if (ret)
				return ret;
		}
		data = nl + 1;
		n -= k + 1;
	}
	return n ? append(l, data, n) : 0;
}
