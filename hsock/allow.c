// SPDX-License-Identifier: GPL-2.0
#include "hsock/allow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct endpoint {
	int family;		/* 0: any address */
	uint8_t addr[16];
	int port;		/* -1: any port */
};

struct link {
	struct endpoint a, b;
};

struct hsock_allow {
	struct link *links;
	size_t n, cap;
};

struct cursor {
	const char *name;
	int line;
	const char *bol;
	char *err;
	size_t errlen;
};

static int bad(struct cursor *c, const char *at, const char *what)
{
	snprintf(c->err, c->errlen, "%s:%d:%d: %s; accepted: ADDR:PORT, [V6]:PORT, *:PORT, ADDR:* or *",
		 c->name, c->line, (int)(at - c->bol) + 1, what);
	return -EINVAL;
}

static int parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (!strcmp(s, "*")) {
		*port = -1;
		return 0;
	}
	v = strtol(s, &end, 10);
	if (!*s || *end || v < 0 || v > 65535)
		return -EINVAL;
	*port = (int)v;
	return 0;
}

static int parse_addr(const char *s, struct endpoint *e)
{
	if (!strcmp(s, "*")) {
		e->family = 0;
		return 0;
	}
	if (inet_pton(AF_INET, s, e->addr) == 1) {
		e->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, e->addr) == 1) {
		e->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

/* One endpoint token (NUL-terminated copy in @tok). */
static int parse_endpoint(struct cursor *c, const char *at, char *tok,
			  struct endpoint *e)
{
	char *colon, *addr = tok;

	if (!strcmp(tok, "*")) {
		e->family = 0;
		e->port = -1;
		return 0;
	}
	if (*tok == '[') {
		colon = strstr(tok, "]:");
		if (!colon)
			return bad(c, at, "IPv6 endpoint without ]:PORT");
		*colon = 0;
		addr = tok + 1;
		colon++;
	} else {
		colon = strrchr(tok, ':');
		if (!colon)
			return bad(c, at, "endpoint without :PORT");
		*colon = 0;
	}
	if (parse_addr(addr, e))
		return bad(c, at, "bad address");
	if (parse_port(colon + 1, &e->port))
		return bad(c, at + (colon + 1 - tok), "bad port (0-65535 or *)");
	return 0;
}

static int add_link(struct hsock_allow *al, const struct link *l)
{
	struct link *n;

	if (al->n == al->cap) {
		al->cap = al->cap ? 2 * al->cap : 16;
		n = realloc(al->links, al->cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		al->links = n;
	}
	al->links[al->n++] = *l;
	return 0;
}

/* Tokens of one line (comments stripped), at most 3 to detect extras. */
static int tokenize(const char *p, const char *eol, const char *at[3],
		    char tok[3][128])
{
	int n = 0;
	size_t k;

	while (p < eol && *p != '#') {
		if (*p == ' ' || *p == '\t' || *p == '\r') {
			p++;
			continue;
		}
		at[n < 3 ? n : 2] = p;
		for (k = 0; p < eol && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#'; p++)
			if (n < 3 && k < 127)
				tok[n][k++] = *p;
		if (n < 3)
			tok[n][k] = 0;
		n++;
	}
	return n;
}

static int parse_line(struct cursor *c, struct hsock_allow *al, const char *eol)
{
	const char *at[3];
	char tok[3][128];
	struct link l;
	int n, ret;

	n = tokenize(c->bol, eol, at, tok);
	if (n == 0)
		return 0;
	if (n != 2)
		return bad(c, n < 2 ? eol : at[2], n < 2 ? "a link needs two endpoints" : "more than two endpoints");
	ret = parse_endpoint(c, at[0], tok[0], &l.a);
	if (!ret)
		ret = parse_endpoint(c, at[1], tok[1], &l.b);
	return ret ? ret : add_link(al, &l);
}

int hsock_allow_parse(const char *name, const char *buf, size_t len,
		      struct hsock_allow **out, char *err, size_t errlen)
{
	struct cursor c = { name, 0, buf, err, errlen };
	const char *end = buf + len, *eol;
	struct hsock_allow *al;
	int ret = 0;

	al = calloc(1, sizeof(*al));
	if (!al)
		return -ENOMEM;
	for (; c.bol < end && !ret; c.bol = eol + 1) {
		c.line++;
		eol = memchr(c.bol, '\n', end - c.bol);
		if (!eol)
			eol = end;
		ret = parse_line(&c, al, eol);
	}
	if (ret) {
		hsock_allow_free(al);
		return ret;
	}
	*out = al;
	return 0;
}

int hsock_allow_load(const char *path, struct hsock_allow **out,
		     char *err, size_t errlen)
{
	char *buf = NULL;
	struct stat st;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	ret = -errno;
	if (fstat(fd, &st) || st.st_size > (1 << 24))
		goto out;
	ret = -ENOMEM;
	buf = malloc(st.st_size + 1);
	if (!buf)
		goto out;
	n = read(fd, buf, st.st_size);
	ret = n < 0 ? -errno : hsock_allow_parse(path, buf, n, out, err, errlen);
out:
	if (ret && !*err)
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	free(buf);
	close(fd);
	return ret;
}

static bool ep_match(const struct endpoint *e, const struct sockaddr *sa)
{
	const struct sockaddr_in *s4 = (const void *)sa;
	const struct sockaddr_in6 *s6 = (const void *)sa;
	int port = sa->sa_family == AF_INET ? ntohs(s4->sin_port) : ntohs(s6->sin6_port);

	if (e->port >= 0 && e->port != port)
		return false;
	if (!e->family)
		return true;
	if (e->family != sa->sa_family)
		return false;
	if (e->family == AF_INET)
		return !memcmp(e->addr, &s4->sin_addr, 4);
	return !memcmp(e->addr, &s6->sin6_addr, 16);
}

bool hsock_allow_match(const struct hsock_allow *al, const struct sockaddr *a,
		       const struct sockaddr *b)
{
	size_t i;

	for (i = 0; i < al->n; i++) {
		const struct link *l = &al->links[i];

		if ((ep_match(&l->a, a) && ep_match(&l->b, b)) ||
		    (ep_match(&l->a, b) && ep_match(&l->b, a)))
			return true;
	}
	return false;
}

size_t hsock_allow_count(const struct hsock_allow *al)
{
	return al ? al->n : 0;
}

void hsock_allow_free(struct hsock_allow *al)
{
	if (!al)
		return;
	free(al->links);
	free(al);
}
