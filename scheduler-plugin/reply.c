// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler-plugin/reply.h"

void ext_buf_put(struct ext_buf *b, const char *s, size_t len)
{
	if (b->failed)
		return;
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + len + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void ext_buf_puts(struct ext_buf *b, const char *s)
{
	ext_buf_put(b, s, strlen(s));
}

void ext_buf_free(struct ext_buf *b)
{
	if (!b)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Bytes Go escapes (or may: 0xe2 starts U+2028/U+2029); NUL ends the string. */
static const unsigned char special[256] = {
	[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, ['<'] = 1, ['>'] = 1, ['&'] = 1,
	[0xe2] = 1,
};

/* Length of the run of bytes that need no escaping. */
static size_t plain_run(const unsigned char *s)
{
	size_t i = 0;

	for (;; i++) {
		unsigned char c = s[i];

		if (!special[c])
			continue;
		if (c != 0xe2 || (s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)))
			return i;
	}
}

void ext_buf_json_str(struct ext_buf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	char esc[8];

	ext_buf_put(b, "\"", 1);
	for (;;) {
		size_t n = plain_run(s);

		ext_buf_put(b, (const char *)s, n);
		s += n;
		if (!*s)
			break;
		if (*s == '"' || *s == '\\') {
			esc[0] = '\\', esc[1] = (char)*s;
			ext_buf_put(b, esc, 2);
		} else if (*s == '\n' || *s == '\r' || *s == '\t') {
			esc[0] = '\\', esc[1] = *s == '\n' ? 'n' : *s == '\r' ? 'r' : 't';
			ext_buf_put(b, esc, 2);
		} else if (*s == 0xe2) {
			ext_buf_puts(b, s[2] == 0xa8 ? "\\u2028" : "\\u2029");
			s += 2;
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", *s);
			ext_buf_put(b, esc, 6);
		}
		s++;
	}
	ext_buf_put(b, "\"", 1);
}

static void reason_map(struct ext_buf *b, const char *const *nodes, size_t n,
		       const enum ext_fail_kind *kind, const char *const *reason,
		       enum ext_fail_kind want)
{
	bool first = true;
	size_t i;

	ext_buf_put(b, "{", 1);
	for (i = 0; i < n; i++) {
		if (kind[i] != want)
			continue;
		if (!first)
			ext_buf_put(b, ",", 1);
		first = false;
		ext_buf_json_str(b, nodes[i]);
		ext_buf_put(b, ":", 1);
		ext_buf_json_str(b, reason[i]);
	}
	ext_buf_put(b, "}", 1);
}

static void passing_items(struct ext_buf *b, json_t *items,
			  const enum ext_fail_kind *kind, size_t n)
{
	bool first = true;
	size_t i;

	ext_buf_puts(b, "{\"metadata\":{},\"items\":[");
	for (i = 0; i < n; i++) {
		char *s;

		if (kind[i] != EXT_PASS)
			continue;
		s = json_dumps(json_array_get(items, i), JSON_COMPACT |
			       JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		if (!s) {
			b->failed = true;
			return;
		}
		if (!first)
			ext_buf_put(b, ",", 1);
		first = false;
		ext_buf_puts(b, s);
		free(s);
	}
	ext_buf_puts(b, "]}");
}

static void passing_names(struct ext_buf *b, const char *const *nodes,
			  const enum ext_fail_kind *kind, size_t n)
{
	bool first = true;
	size_t i;

	ext_buf_put(b, "[", 1);
	for (i = 0; i < n; i++) {
		if (kind[i] != EXT_PASS)
			continue;
		if (!first)
			ext_buf_put(b, ",", 1);
		first = false;
		ext_buf_json_str(b, nodes[i]);
	}
	ext_buf_put(b, "]", 1);
}

void ext_reply_filter(struct ext_buf *b, const char *const *nodes, size_t n,
		      const enum ext_fail_kind *kind, const char *const *reason,
		      json_t *items, const char *error)
{
	ext_buf_puts(b, "{\"Nodes\":");
	if (items)
		passing_items(b, items, kind, n);
	else
		ext_buf_puts(b, "null");
	ext_buf_puts(b, ",\"NodeNames\":");
	if (items)
		ext_buf_puts(b, "null");
	else
		passing_names(b, nodes, kind, n);
	ext_buf_puts(b, ",\"FailedNodes\":");
	reason_map(b, nodes, n, kind, reason, EXT_FAIL);
	ext_buf_puts(b, ",\"FailedAndUnresolvableNodes\":");
	reason_map(b, nodes, n, kind, reason, EXT_FAIL_UNRESOLVABLE);
	ext_buf_puts(b, ",\"Error\":");
	ext_buf_json_str(b, error ? error : "");
	ext_buf_put(b, "}", 1);
}

/* Make room for @more bytes up front (one realloc for a whole reply). */
static void reserve(struct ext_buf *b, size_t more)
{
	char *p;

	if (b->failed || b->cap >= b->len + more + 1)
		return;
	p = realloc(b->data, b->len + more + 1);
	if (!p) {
		b->failed = true;
		return;
	}
	b->data = p;
	b->cap = b->len + more + 1;
}

void ext_reply_priorities(struct ext_buf *b, const char *const *nodes, size_t n,
			  const int *scores)
{
	char num[24];
	size_t i;

	reserve(b, n * 48 + 2);
	ext_buf_put(b, "[", 1);
	for (i = 0; i < n; i++) {
		int len;

		if (i)
			ext_buf_put(b, ",", 1);
		ext_buf_put(b, "{\"Host\":", 8);
		ext_buf_json_str(b, nodes[i]);
		if (scores[i] >= 0 && scores[i] <= 9) {
			memcpy(num, ",\"Score\":0}", 11);
			num[9] = (char)('0' + scores[i]);
			len = 11;
		} else {
			len = snprintf(num, sizeof(num), ",\"Score\":%d}", scores[i]);
		}
		ext_buf_put(b, num, (size_t)len);
	}
	ext_buf_put(b, "]", 1);
}

void ext_reply_error(struct ext_buf *b, const char *error)
{
	ext_buf_puts(b, "{\"Error\":");
	ext_buf_json_str(b, error);
	ext_buf_put(b, "}", 1);
}
