// SPDX-License-Identifier: GPL-2.0
/* Line tokenizer and value parsers shared by the rule-set parsers. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netns/lex.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool is_punct(char c)
{
	return c == '{' || c == '}' || c == ',' || c == ';';
}

/* Copy the token starting at s[*i] into @t; advances *i. */
static int lex_token(const char *s, size_t len, size_t *i, struct tok *t,
		     bool split_punct)
{
	size_t n = 0;
	bool quoted = s[*i] == '"';

	t->col = (int)*i + 1;
	if (split_punct && is_punct(s[*i])) {
		t->s[0] = s[(*i)++];
		t->s[1] = 0;
		return 0;
	}
	if (quoted)
		(*i)++;
	while (*i < len) {
		char c = s[*i];

		if (quoted ? c == '"' : (is_blank(c) ||
					 (split_punct && is_punct(c))))
			break;
		if (n + 1 >= sizeof(t->s))
			return -E2BIG;
		t->s[n++] = c;
		(*i)++;
	}
	if (quoted && *i < len)
		(*i)++;
	t->s[n] = 0;
	return 0;
}

int lex_line(struct line *l, const char *s, size_t len, bool split_punct)
{
	size_t i = 0, a = 0, b = len;

	while (a < b && is_blank(s[a]))
		a++;
	while (b > a && is_blank(s[b - 1]))
		b--;
	snprintf(l->text, sizeof(l->text), "%.*s", (int)(b - a), s + a);
	l->ntok = 0;
	while (i < len) {
		int ret;

		if (is_blank(s[i])) {
			i++;
			continue;
		}
		if (l->ntok == MAX_TOKENS)
			return -E2BIG;
		ret = lex_token(s, len, &i, &l->t[l->ntok], split_punct);
		if (ret)
			return ret;
		l->ntok++;
	}
	return 0;
}

void lex_error(struct line *l, int i, const char *fmt, ...)
{
	char msg[384];
	int col = i < l->ntok ? l->t[i].col :
		  (int)strlen(l->text) + 1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	l->errors++;
	report_fmt(l->report, l->arg, "%s:%d:%d: %s", l->file, l->no, col, msg);
}

bool parse_u32(const char *s, uint32_t *v)
{
	char *end;
	unsigned long long x;

	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || *end || x > 0xffffffffull)
		return false;
	*v = (uint32_t)x;
	return true;
}

bool parse_mark(const char *s, uint32_t *value, uint32_t *mask)
{
	char buf[64];
	char *slash;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	*mask = 0xffffffffu;
	if (slash) {
		*slash = 0;
		if (!parse_u32(slash + 1, mask))
			return false;
	}
	return parse_u32(buf, value);
}

bool parse_prefix(const char *s, struct match *m)
{
	char buf[64];
	char *slash;
	uint32_t plen;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	if (inet_pton(AF_INET, buf, &m->u.addr.v4) == 1) {
		m->u.addr.family = AF_INET;
		m->u.addr.plen = 32;
	} else if (inet_pton(AF_INET6, buf, &m->u.addr.v6) == 1) {
		m->u.addr.family = AF_INET6;
		m->u.addr.plen = 128;
	} else {
		return false;
	}
	if (slash) {
		if (!parse_u32(slash + 1, &plen) ||
		    plen > (uint32_t)m->u.addr.plen)
			return false;
		m->u.addr.plen = (int)plen;
	}
	return true;
}

bool parse_port(const char *s, uint16_t *port)
{
	uint32_t v;

	if (!parse_u32(s, &v) || v > 65535 || strchr(s, 'x'))
		return false;
	*port = (uint16_t)v;
	return true;
}

void lex_each_line(struct line *l, const char *text, size_t len, bool split_punct,
		   void (*fn)(void *ctx, struct line *l), void *ctx)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		l->no++;
		if (memchr(text + pos, 0, n))
			lex_error(l, 0, "NUL byte in text");
		else if (lex_line(l, text + pos, n, split_punct))
			lex_error(l, 0, "line too long or too many words");
		else if (l->ntok)
			fn(ctx, l);
		pos += n + 1;
	}
}
