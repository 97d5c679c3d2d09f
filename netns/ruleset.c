// SPDX-License-Identifier: GPL-2.0
/* Rule set container, format detection, address parsing. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netns/rules.h"

void report_fmt(hpns_report_fn report, void *arg, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!report)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	report(arg, line);
}

struct rule *rs_add_rule(struct hpns_ruleset *rs)
{
	struct rule *r;

	if (rs->nrules == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 32;
		struct rule *n = realloc(rs->rules, cap * sizeof(*n));

		if (!n)
			return NULL;
		rs->rules = n;
		rs->cap = cap;
	}
	r = &rs->rules[rs->nrules++];
	memset(r, 0, sizeof(*r));
	return r;
}

const struct chain_decl *rs_chain_find(const struct hpns_ruleset *rs,
				       int family, const char *table,
				       const char *chain)
{
	for (size_t i = 0; i < rs->nchains; i++) {
		const struct chain_decl *c = &rs->chains[i];

		if (c->family == family && !strcmp(c->table, table) &&
		    !strcmp(c->chain, chain))
			return c;
	}
	return NULL;
}

/* Find or (with @create) add a chain declaration; NULL when absent/OOM. */
struct chain_decl *rs_chain(struct hpns_ruleset *rs, int family,
			    const char *table, const char *chain, bool create)
{
	struct chain_decl *c = (struct chain_decl *)rs_chain_find(rs, family,
								  table, chain);

	if (c || !create)
		return c;
	if (rs->nchains == rs->ccap) {
		size_t cap = rs->ccap ? rs->ccap * 2 : 16;
		struct chain_decl *n = realloc(rs->chains, cap * sizeof(*n));

		if (!n)
			return NULL;
		rs->chains = n;
		rs->ccap = cap;
	}
	c = &rs->chains[rs->nchains++];
	memset(c, 0, sizeof(*c));
	c->family = family;
	snprintf(c->table, sizeof(c->table), "%s", table);
	snprintf(c->chain, sizeof(c->chain), "%s", chain);
	return c;
}

/* nft text starts (after blank lines/comments) with an nft command word. */
static bool looks_like_nft(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len) {
		while (i < len && (text[i] == ' ' || text[i] == '\t' ||
				   text[i] == '\n' || text[i] == '\r'))
			i++;
		if (i < len && text[i] == '#') {
			while (i < len && text[i] != '\n')
				i++;
			continue;
		}
		break;
	}
	return (len - i >= 4 && !strncmp(text + i, "add ", 4)) ||
	       (len - i >= 6 && !strncmp(text + i, "flush ", 6)) ||
	       (len - i >= 7 && !strncmp(text + i, "insert ", 7));
}

int hpns_ruleset_parse(const char *name, const char *text, size_t len,
		       hpns_report_fn report, void *arg,
		       struct hpns_ruleset **out)
{
	struct hpns_ruleset *rs;
	int errs;

	*out = NULL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	snprintf(rs->name, sizeof(rs->name), "%s", name ? name : "-");
	if (looks_like_nft(text, len))
		errs = parse_nft(rs, text, len, report, arg);
	else
		errs = parse_iptables(rs, text, len, report, arg);
	if (errs) {
		hpns_ruleset_destroy(rs);
		return errs < 0 ? errs : -EINVAL;
	}
	*out = rs;
	return 0;
}

/* Read all of @fd into a malloc'd buffer. */
static int read_all(int fd, char **buf, size_t *len)
{
	size_t cap = 8192, n = 0;
	char *p = malloc(cap);
	ssize_t r;

	if (!p)
		return -ENOMEM;
	while ((r = read(fd, p + n, cap - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(p);
			return -errno;
		}
		n += r;
		if (n == cap) {
			char *q = realloc(p, cap * 2);

			if (!q) {
				free(p);
				return -ENOMEM;
			}
			p = q;
			cap *= 2;
		}
	}
	*buf = p;
	*len = n;
	return 0;
}

int hpns_ruleset_parse_file(const char *path, hpns_report_fn report,
			    void *arg, struct hpns_ruleset **out)
{
	bool is_stdin = !strcmp(path, "-");
	int fd = is_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	if (fd < 0)
		return -errno;
	ret = read_all(fd, &buf, &len);
	if (!is_stdin)
		close(fd);
	if (ret)
		return ret;
	ret = hpns_ruleset_parse(is_stdin ? "<stdin>" : path, buf, len,
				 report, arg, out);
	free(buf);
	return ret;
}

void hpns_ruleset_destroy(struct hpns_ruleset *rs)
{
	if (!rs)
		return;
	free(rs->rules);
	free(rs->chains);
	free(rs);
}

size_t hpns_ruleset_count(const struct hpns_ruleset *rs)
{
	return rs ? rs->nrules : 0;
}

int hpns_addrs_parse(const char *text, struct hpns_addrs *out)
{
	char buf[128], *save = NULL, *tok;

	memset(out, 0, sizeof(*out));
	if (!text || strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!out->has_v4 && inet_pton(AF_INET, tok, &out->v4) == 1)
			out->has_v4 = 1;
		else if (!out->has_v6 && inet_pton(AF_INET6, tok, &out->v6) == 1)
			out->has_v6 = 1;
		else
			return -EINVAL;
	}
	return out->has_v4 || out->has_v6 ? 0 : -EINVAL;
}
