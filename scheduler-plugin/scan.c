// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scheduler-plugin/scan.h"

struct sc {
	char *b;
	size_t len, pos;
	size_t line, line_start;	/* raw newlines only occur in whitespace */
	const char *why;
};

static int err(struct sc *s, const char *why)
{
	s->why = why;
	return -EINVAL;
}

static void ws(struct sc *s)
{
	for (; s->pos < s->len; s->pos++) {
		char c = s->b[s->pos];

		if (c == '\n')
			s->line++, s->line_start = s->pos + 1;
		else if (c != ' ' && c != '\t' && c != '\r')
			return;
	}
}

static int hex4(struct sc *s, unsigned *out)
{
	unsigned v = 0, i;

	if (s->len - s->pos < 4)
		return err(s, "truncated \\u escape");
	for (i = 0; i < 4; i++) {
		char c = s->b[s->pos++];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v |= (unsigned)((c | 0x20) - 'a' + 10);
		else
			return err(s, "invalid \\u escape");
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80)
		return o[0] = (char)cp, 1;
	if (cp < 0x800)
		return o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
	if (cp < 0x10000)
		return o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
		       o[2] = (char)(0x80 | (cp & 0x3f)), 3;
	o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static int escape(struct sc *s, unsigned *cp)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *p;
	unsigned lo;

	if (s->pos >= s->len)
		return err(s, "truncated escape");
	p = memchr(from, s->b[s->pos], 8);
	if (p && s->b[s->pos]) {
		s->pos++;
		*cp = (unsigned char)to[p - from];
		return 0;
	}
	if (s->b[s->pos] != 'u')
		return err(s, "invalid escape");
	s->pos++;
	if (hex4(s, cp))
		return -EINVAL;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return err(s, "invalid Unicode surrogate");
	if (*cp < 0xd800 || *cp > 0xdbff)
		return 0;
	if (s->len - s->pos < 2 || s->b[s->pos] != '\\' || s->b[s->pos + 1] != 'u')
		return err(s, "unpaired Unicode surrogate");
	s->pos += 2;
	if (hex4(s, &lo) || lo < 0xdc00 || lo > 0xdfff)
		return err(s, "invalid Unicode surrogate pair");
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	return 0;
}

/* Length of the valid UTF-8 sequence at @p (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t k, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < k)
		return 0;
	for (i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return k;
}

/*
 * String at s->pos (on the opening quote).  With @out, decoded in place:
 * *@out points at its first byte, NUL-terminated where the closing quote was
 * or earlier.  Without, only validated (the bytes stay as they are, for
 * jansson to parse later).
 */
static int string(struct sc *s, const char **out)
{
	size_t w = ++s->pos;
	char scratch[4], *o;

	if (out)
		*out = s->b + w;
	while (s->pos < s->len) {
		unsigned char c = (unsigned char)s->b[s->pos];
		unsigned cp;
		size_t k;

		/* Fast path: plain ASCII, copied only once an escape shifted us. */
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			if (out && w != s->pos)
				s->b[w] = (char)c;
			w++;
			s->pos++;
			continue;
		}
		if (c == '"') {
			if (out)
				s->b[w] = '\0';
			s->pos++;
			return 0;
		}
		if (c < 0x20)
			return err(s, "control character in string");
		if (c == '\\') {
			s->pos++;
			if (escape(s, &cp))
				return -EINVAL;
			if (!cp)
				return err(s, "NUL in string");
			o = out ? s->b + w : scratch;
			w += put_utf8(o, cp);
			continue;
		}
		k = utf8_len((unsigned char *)s->b + s->pos, s->len - s->pos);
		if (!k)
			return err(s, "invalid UTF-8 in string");
		if (out && w != s->pos)
			memmove(s->b + w, s->b + s->pos, k);
		w += k;
		s->pos += k;
	}
	return err(s, "unterminated string");
}

static int number(struct sc *s)
{
	size_t p = s->pos, d;

	if (p < s->len && s->b[p] == '-')
		p++;
	if (p < s->len && s->b[p] == '0')
		p++;
	else if (p < s->len && s->b[p] >= '1' && s->b[p] <= '9')
		while (p < s->len && s->b[p] >= '0' && s->b[p] <= '9')
			p++;
	else
		return s->pos = p, err(s, "invalid number");
	if (p < s->len && s->b[p] == '.') {
		for (d = ++p; p < s->len && s->b[p] >= '0' && s->b[p] <= '9'; p++)
			;
		if (p == d)
			return s->pos = p, err(s, "invalid number");
	}
	if (p < s->len && (s->b[p] | 0x20) == 'e') {
		p++;
		if (p < s->len && (s->b[p] == '+' || s->b[p] == '-'))
			p++;
		for (d = p; p < s->len && s->b[p] >= '0' && s->b[p] <= '9'; p++)
			;
		if (p == d)
			return s->pos = p, err(s, "invalid number");
	}
	s->pos = p;
	return 0;
}

static int literal(struct sc *s, const char *word)
{
	size_t n = strlen(word);

	if (s->len - s->pos < n || memcmp(s->b + s->pos, word, n))
		return err(s, "invalid literal");
	s->pos += n;
	return 0;
}

static int value(struct sc *s, int depth);

/* Object or array body after the opening bracket. */
static int container(struct sc *s, int depth, bool object)
{
	char close = object ? '}' : ']';

	ws(s);
	if (s->pos < s->len && s->b[s->pos] == close)
		return s->pos++, 0;
	for (;;) {
		ws(s);
		if (object) {
			if (s->pos >= s->len || s->b[s->pos] != '"')
				return err(s, "expected a string key");
			if (string(s, NULL))
				return -EINVAL;
			ws(s);
			if (s->pos >= s->len || s->b[s->pos] != ':')
				return err(s, "expected ':'");
			s->pos++;
		}
		if (value(s, depth + 1))
			return -EINVAL;
		ws(s);
		if (s->pos < s->len && s->b[s->pos] == ',') {
			s->pos++;
			continue;
		}
		if (s->pos < s->len && s->b[s->pos] == close)
			return s->pos++, 0;
		return err(s, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int value(struct sc *s, int depth)
{
	ws(s);
	if (depth > EXT_SCAN_DEPTH)
		return err(s, "nesting too deep");
	if (s->pos >= s->len)
		return err(s, "unexpected end of input");
	switch (s->b[s->pos]) {
	case '{':
		s->pos++;
		return container(s, depth, true);
	case '[':
		s->pos++;
		return container(s, depth, false);
	case '"':
		return string(s, NULL);
	case 't':
		return literal(s, "true");
	case 'f':
		return literal(s, "false");
	case 'n':
		return literal(s, "null");
	default:
		return number(s);
	}
}

/*
 * An array; its strings are decoded into @strs as long as every element is
 * a string.  Returns 0 (all strings), 1 (something else met: the rest is
 * only validated and the caller must not use @strs) or -errno.
 */
static int string_array(struct sc *s, const char ***strs, size_t *n)
{
	size_t cap = 0;
	bool mixed = false;

	*n = 0;
	s->pos++;
	ws(s);
	if (s->pos < s->len && s->b[s->pos] == ']')
		return s->pos++, 0;
	for (;;) {
		ws(s);
		if (!mixed && (s->pos >= s->len || s->b[s->pos] != '"'))
			mixed = true;
		if (mixed) {
			if (value(s, 2))
				return -EINVAL;
		} else {
			if (*n == cap) {
				const char **p = realloc(*strs, (cap = cap ? cap * 2 : 64) * sizeof(*p));

				if (!p)
					return -ENOMEM;
				*strs = p;
			}
			if (string(s, &(*strs)[*n]))
				return -EINVAL;
			(*n)++;
		}
		ws(s);
		if (s->pos < s->len && s->b[s->pos] == ',') {
			s->pos++;
			continue;
		}
		if (s->pos < s->len && s->b[s->pos] == ']')
			return s->pos++, mixed;
		return err(s, "expected ',' or ']'");
	}
}

static int member_value(struct sc *s, const char *key, const char *array_key,
			const char ***strs, size_t *nstrs, bool *have)
{
	int ret;

	if (strcasecmp(key, array_key))
		return value(s, 1);
	*have = false; /* the last member of that name counts, as in Go */
	if (s->b[s->pos] != '[')
		return value(s, 1);
	ret = string_array(s, strs, nstrs);
	if (ret == 0)
		*have = true;
	return ret == 1 ? 0 : ret;
}

int ext_scan_object(char *buf, size_t len, const char *array_key,
		    const char ***strs, size_t *nstrs, bool *have_strs,
		    struct ext_scan_member *m, size_t max, struct ext_scan_pos *err_at,
		    const char **why)
{
	struct sc s = { .b = buf, .len = len, .line = 1 };
	size_t n = 0;
	int ret = -EINVAL;

	*have_strs = false;
	ws(&s);
	if (s.pos >= s.len || s.b[s.pos] != '{') {
		s.why = "expected a JSON object (ExtenderArgs)";
		goto out;
	}
	s.pos++;
	ws(&s);
	if (s.pos < s.len && s.b[s.pos] == '}') {
		s.pos++;
		goto end;
	}
	for (;;) {
		const char *key;

		ws(&s);
		if (s.pos >= s.len || s.b[s.pos] != '"') {
			s.why = "expected a string key";
			goto out;
		}
		if (string(&s, &key))
			goto out;
		ws(&s);
		if (s.pos >= s.len || s.b[s.pos] != ':') {
			s.why = "expected ':'";
			goto out;
		}
		s.pos++;
		ws(&s);
		if (n < max) {
			m[n].key = key;
			m[n].start = s.pos;
			m[n].at.line = s.line;
			m[n].at.col = s.pos - s.line_start + 1;
		}
		if (s.pos >= s.len) {
			s.why = "unexpected end of input";
			goto out;
		}
		ret = member_value(&s, key, array_key, strs, nstrs, have_strs);
		if (ret)
			goto out;
		ret = -EINVAL;
		if (n < max)
			m[n++].end = s.pos;
		ws(&s);
		if (s.pos < s.len && s.b[s.pos] == ',') {
			s.pos++;
			continue;
		}
		if (s.pos < s.len && s.b[s.pos] == '}') {
			s.pos++;
			break;
		}
		s.why = "expected ',' or '}'";
		goto out;
	}
end:
	ws(&s);
	if (s.pos != s.len) {
		s.why = "trailing data after the object";
		goto out;
	}
	return (int)n;
out:
	err_at->line = s.line;
	err_at->col = (s.pos < len ? s.pos : len) - s.line_start + 1;
	*why = s.why ? s.why : "out of memory";
	return ret;
}
