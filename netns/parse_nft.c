// SPDX-License-Identifier: GPL-2.0
/*
 * nft text parser for the `nft -f` command form Istio's native nftables
 * backend emits (knftables Transaction.String()): `add|flush table`,
 * `add chain F T C [{ type X hook H priority P ; }]`, `add|insert rule F T
 * C statements...`.  Statements the translator understands are decoded;
 * other known statements are kept verbatim (MATCH_OTHER/ACT_OTHER).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netns/lex.h"

static int nft_family(const char *f)
{
	if (!strcmp(f, "inet"))
		return AF_UNSPEC;
	if (!strcmp(f, "ip"))
		return AF_INET;
	if (!strcmp(f, "ip6"))
		return AF_INET6;
	return -1;
}

static enum hook hook_of(const char *h)
{
	static const char *const names[] = {
		"prerouting", "input", "forward", "output", "postrouting",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(h, names[i]))
			return (enum hook)(HOOK_PREROUTING + i);
	return HOOK_NONE;
}

static bool tok_is(const struct line *l, int i, const char *s)
{
	return i < l->ntok && !strcmp(l->t[i].s, s);
}

static struct match *new_match(struct rule *r, struct line *l, int i,
			       enum match_kind kind)
{
	struct match *m;

	if (r->nmatch == MAX_MATCHES) {
		lex_error(l, i, "too many matches in one rule, at most %d accepted",
			  MAX_MATCHES);
		return NULL;
	}
	m = &r->m[r->nmatch++];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	return m;
}

/* Optional relational operator at *i: sets neg, advances. */
static void rel_op(struct line *l, int *i, bool *neg)
{
	*neg = false;
	if (tok_is(l, *i, "!=")) {
		*neg = true;
		(*i)++;
	} else if (tok_is(l, *i, "==") || tok_is(l, *i, "eq")) {
		(*i)++;
	} else if (tok_is(l, *i, "ne")) {
		*neg = true;
		(*i)++;
	}
}

/* Value token at *i; false (and an error) if missing. */
static const char *value(struct line *l, int *i, const char *what)
{
	if (*i >= l->ntok || !strcmp(l->t[*i].s, ";")) {
		lex_error(l, *i, "%s needs a value", what);
		return NULL;
	}
	return l->t[(*i)++].s;
}

/* Keep an unsupported statement as text: from @start up to the next
 * statement keyword the caller recognises (@n tokens). */
static int keep_other(struct rule *r, struct line *l, int start, int n,
		      bool action)
{
	char *dst;
	size_t size;

	if (action) {
		r->act.kind = ACT_OTHER;
		dst = r->act.name;
		size = sizeof(r->act.name);
	} else {
		struct match *m = new_match(r, l, start, MATCH_OTHER);

		if (!m)
			return -1;
		dst = m->u.name;
		size = sizeof(m->u.name);
	}
	dst[0] = 0;
	for (int k = start; k < start + n && k < l->ntok; k++) {
		size_t len = strlen(dst);

		snprintf(dst + len, size - len, "%s%s", len ? " " : "",
			 l->t[k].s);
	}
	return start + n;
}

/* `{ a, b }` anonymous set: index after the closing brace, -1 if open. */
static int skip_set(struct line *l, int i)
{
	for (; i < l->ntok; i++)
		if (!strcmp(l->t[i].s, "}"))
			return i + 1;
	lex_error(l, i, "'{' without '}'");
	return -1;
}

static int st_addr(struct rule *r, struct line *l, int i)
{
	bool v6 = !strcmp(l->t[i].s, "ip6"), src, neg;
	int start = i;
	const char *dir, *v;
	struct match *m;

	dir = value(l, &(int){ i + 1 }, "ip saddr|daddr");
	if (!dir)
		return -1;
	if (strcmp(dir, "saddr") && strcmp(dir, "daddr"))
		return keep_other(r, l, i, 3, false);
	src = dir[0] == 's';
	i += 2;
	rel_op(l, &i, &neg);
	if (tok_is(l, i, "{")) {
		int end = skip_set(l, i);

		return end < 0 ? -1 : keep_other(r, l, start, end - start, false);
	}
	v = value(l, &i, "address");
	if (!v)
		return -1;
	if (v[0] == '@')
		return keep_other(r, l, start, i - start, false);
	m = new_match(r, l, i - 1, src ? MATCH_SADDR : MATCH_DADDR);
	if (!m)
		return -1;
	m->neg = neg;
	if (!parse_prefix(v, m) || (m->u.addr.family == AF_INET6) != v6) {
		lex_error(l, i - 1, "bad %s address '%s', accepted: ADDR[/PLEN]",
			  v6 ? "ip6" : "ip", v);
		return -1;
	}
	return i;
}

static int st_port(struct rule *r, struct line *l, int i)
{
	int start = i;
	uint8_t proto = !strcmp(l->t[i].s, "tcp") ? IPPROTO_TCP :
			!strcmp(l->t[i].s, "udp") ? IPPROTO_UDP : 0;
	const char *dir, *v;
	struct match *m;
	bool neg;

	i++;
	dir = value(l, &i, "port direction (sport|dport)");
	if (!dir)
		return -1;
	if (strcmp(dir, "sport") && strcmp(dir, "dport")) {
		lex_error(l, i - 1, "unknown '%s', accepted: sport, dport", dir);
		return -1;
	}
	rel_op(l, &i, &neg);
	if (tok_is(l, i, "{")) {
		int end = skip_set(l, i);

		return end < 0 ? -1 : keep_other(r, l, start, end - start, false);
	}
	v = value(l, &i, "port");
	if (!v)
		return -1;
	m = new_match(r, l, i - 1, dir[0] == 'd' ? MATCH_DPORT : MATCH_SPORT);
	if (!m)
		return -1;
	m->neg = neg;
	m->u.port.proto = proto;
	if (!parse_port(v, &m->u.port.port)) {
		lex_error(l, i - 1, "bad port '%s', accepted: 0..65535", v);
		return -1;
	}
	return i;
}

/* `[meta] mark [and|& MASK] [op] VALUE`, `ct mark ...`; `... set` kept. */
static int st_mark(struct rule *r, struct line *l, int i, bool ct)
{
	int start = ct ? i - 1 : i;
	uint32_t mask = 0xffffffffu, val;
	struct match *m;
	const char *v;
	bool neg;

	i++;
	if (tok_is(l, i, "set"))
		return keep_other(r, l, start, l->ntok - start, true);
	if (tok_is(l, i, "and") || tok_is(l, i, "&")) {
		i++;
		v = value(l, &i, "mask");
		if (!v)
			return -1;
		if (!parse_u32(v, &mask)) {
			lex_error(l, i - 1, "bad mask '%s', accepted: a number", v);
			return -1;
		}
	}
	rel_op(l, &i, &neg);
	v = value(l, &i, "mark");
	if (!v)
		return -1;
	if (!parse_u32(v, &val)) {
		lex_error(l, i - 1, "bad mark '%s', accepted: a number", v);
		return -1;
	}
	m = new_match(r, l, start, ct ? MATCH_CTMARK : MATCH_MARK);
	if (!m)
		return -1;
	m->neg = neg;
	m->u.mark.value = val & mask;
	m->u.mark.mask = mask;
	return i;
}

static int st_iface(struct rule *r, struct line *l, int i)
{
	bool in = l->t[i].s[0] == 'i', neg;
	struct match *m;
	const char *v;

	i++;
	rel_op(l, &i, &neg);
	v = value(l, &i, "interface name");
	if (!v)
		return -1;
	m = new_match(r, l, i - 1, in ? MATCH_IIF : MATCH_OIF);
	if (!m)
		return -1;
	m->neg = neg;
	snprintf(m->u.name, sizeof(m->u.name), "%s", v);
	return i;
}

static int st_l4proto(struct rule *r, struct line *l, int i)
{
	struct match *m;
	const char *v;
	bool neg;

	rel_op(l, &i, &neg);
	v = value(l, &i, "l4proto");
	if (!v)
		return -1;
	if (strcmp(v, "tcp") && strcmp(v, "udp"))
		return keep_other(r, l, i - 3, 3, false);
	m = new_match(r, l, i - 1, MATCH_L4PROTO);
	if (!m)
		return -1;
	m->neg = neg;
	m->u.proto = v[0] == 't' ? IPPROTO_TCP : IPPROTO_UDP;
	return i;
}

static int st_redirect(struct rule *r, struct line *l, int i)
{
	i++;
	r->act.kind = ACT_REDIRECT;
	if (tok_is(l, i, "to"))
		i++;
	if (i < l->ntok && l->t[i].s[0] == ':') {
		if (!parse_port(l->t[i].s + 1, &r->act.port)) {
			lex_error(l, i, "bad port '%s', accepted: :PORT", l->t[i].s);
			return -1;
		}
		i++;
	}
	return i;
}

static int st_verdict(struct rule *r, struct line *l, int i)
{
	const char *w = l->t[i].s;

	if (!strcmp(w, "jump") || !strcmp(w, "goto")) {
		const char *c = value(l, &(int){ i + 1 }, w);

		if (!c)
			return -1;
		if (w[0] == 'g')
			return keep_other(r, l, i, 2, true);
		r->act.kind = ACT_JUMP;
		snprintf(r->act.name, sizeof(r->act.name), "%s", c);
		return i + 2;
	}
	r->act.kind = w[0] == 'a' ? ACT_ACCEPT : w[0] == 'r' ? ACT_RETURN :
		      ACT_DROP;
	return i + 1;
}

/* One statement at @i; returns the index after it or -1. */
static int statement(struct rule *r, struct line *l, int i)
{
	const char *w = l->t[i].s;

	if (!strcmp(w, "counter")) {
		r->counter = true;
		i++;
		while (tok_is(l, i, "packets") || tok_is(l, i, "bytes"))
			i += 2;
		return i;
	}
	if (!strcmp(w, "meta")) {
		if (i + 1 >= l->ntok) {
			lex_error(l, i + 1, "meta needs a key");
			return -1;
		}
		w = l->t[++i].s;
		if (!strcmp(w, "l4proto"))
			return st_l4proto(r, l, i + 1);
	}
	if (!strcmp(w, "ip") || !strcmp(w, "ip6"))
		return st_addr(r, l, i);
	if (!strcmp(w, "tcp") || !strcmp(w, "udp") || !strcmp(w, "th"))
		return st_port(r, l, i);
	if (!strcmp(w, "mark"))
		return st_mark(r, l, i, false);
	if (!strcmp(w, "ct") && tok_is(l, i + 1, "mark"))
		return st_mark(r, l, i + 1, true);
	if (!strcmp(w, "iifname") || !strcmp(w, "oifname"))
		return st_iface(r, l, i);
	if (!strcmp(w, "redirect"))
		return st_redirect(r, l, i);
	if (!strcmp(w, "accept") || !strcmp(w, "return") ||
	    !strcmp(w, "drop") || !strcmp(w, "jump") || !strcmp(w, "goto"))
		return st_verdict(r, l, i);
	if (!strcmp(w, "skuid") || !strcmp(w, "skgid")) {
		int n = tok_is(l, i + 1, "!=") ? 3 : 2;

		return keep_other(r, l, i, n, false);
	}
	if (!strcmp(w, "ct") || !strcmp(w, "snat") || !strcmp(w, "dnat") ||
	    !strcmp(w, "tproxy") || !strcmp(w, "masquerade") ||
	    !strcmp(w, "fib") || !strcmp(w, "socket"))
		return keep_other(r, l, i, l->ntok - i, true);
	lex_error(l, i, "unknown statement '%s', accepted: meta, ip, ip6, tcp, "
		  "udp, th, mark, ct, iifname, oifname, skuid, skgid, counter, "
		  "redirect, snat, dnat, tproxy, accept, return, drop, jump", w);
	return -1;
}

static void parse_rule(struct hpns_ruleset *rs, struct line *l, int family,
		       bool insert)
{
	struct rule *r;
	uint32_t index = 0;
	bool has_index = false;
	int i = 5;

	if (tok_is(l, 5, "index") || tok_is(l, 5, "position")) {
		if (l->ntok < 7 || !parse_u32(l->t[6].s, &index)) {
			lex_error(l, 6, "%s needs a number", l->t[5].s);
			return;
		}
		has_index = true;
		i = 7;
	}
	if (l->ntok < i + 1) {
		lex_error(l, l->ntok, "rule needs FAMILY TABLE CHAIN STATEMENTS");
		return;
	}
	if (!rs_chain_find(rs, family, l->t[3].s, l->t[4].s)) {
		lex_error(l, 4, "chain '%s' not declared in table '%s'",
			  l->t[4].s, l->t[3].s);
		return;
	}
	r = rs_add_rule(rs);
	if (!r) {
		lex_error(l, 0, "out of memory");
		return;
	}
	r->family = family;
	r->line = l->no;
	snprintf(r->table, sizeof(r->table), "%s", l->t[3].s);
	snprintf(r->chain, sizeof(r->chain), "%s", l->t[4].s);
	snprintf(r->text, sizeof(r->text), "%s", l->text);
	while (i >= 0 && i < l->ntok) {
		if (r->act.kind != ACT_NONE) {
			lex_error(l, i, "statement after the verdict");
			i = -1;
			break;
		}
		i = statement(r, l, i);
	}
	if (i < 0) {
		rs->nrules--;
		return;
	}
	if (insert || has_index) {
		struct rule tmp = *r;
		uint32_t want = insert ? index : index + 1, seen = 0;
		size_t k;

		for (k = 0; k + 1 < rs->nrules; k++)
			if (rs->rules[k].family == family &&
			    !strcmp(rs->rules[k].table, tmp.table) &&
			    !strcmp(rs->rules[k].chain, tmp.chain) &&
			    seen++ == want)
				break;
		memmove(&rs->rules[k + 1], &rs->rules[k],
			(rs->nrules - 1 - k) * sizeof(tmp));
		rs->rules[k] = tmp;
	}
}

/* `{ type T hook H priority P ; [policy X ;] }` after the chain name. */
static void parse_chain_spec(struct chain_decl *c, struct line *l, int i)
{
	for (i++; i < l->ntok && !tok_is(l, i, "}"); i++) {
		if (tok_is(l, i, "type") && i + 1 < l->ntok) {
			c->nat = !strcmp(l->t[++i].s, "nat");
		} else if (tok_is(l, i, "hook") && i + 1 < l->ntok) {
			c->hook = hook_of(l->t[++i].s);
			if (c->hook == HOOK_NONE)
				lex_error(l, i, "unknown hook '%s'", l->t[i].s);
		} else if (tok_is(l, i, "priority") && i + 1 < l->ntok) {
			uint32_t v;
			const char *p = l->t[++i].s;
			bool minus = p[0] == '-';

			if (!parse_u32(p + minus, &v))
				lex_error(l, i, "bad priority '%s', accepted: a number", p);
			c->prio = minus ? -(int)v : (int)v;
		}
	}
	if (i >= l->ntok)
		lex_error(l, i, "chain specification without '}'");
}

static void parse_chain(struct hpns_ruleset *rs, struct line *l, int family)
{
	struct chain_decl *c;

	if (l->ntok < 5) {
		lex_error(l, l->ntok, "chain needs FAMILY TABLE NAME");
		return;
	}
	c = rs_chain(rs, family, l->t[3].s, l->t[4].s, true);
	if (!c) {
		lex_error(l, 0, "out of memory");
		return;
	}
	if (tok_is(l, 5, "{"))
		parse_chain_spec(c, l, 5);
	else if (l->ntok > 5)
		lex_error(l, 5, "unexpected '%s' after the chain name, accepted: "
			  "{ type T hook H priority P ; }", l->t[5].s);
}

static void parse_line(struct hpns_ruleset *rs, struct line *l)
{
	const char *verb = l->t[0].s, *obj;
	int family;

	if (verb[0] == '#')
		return;
	if (l->ntok < 3) {
		lex_error(l, l->ntok, "incomplete command, accepted: add|flush|"
			  "delete table|chain|rule FAMILY ...");
		return;
	}
	obj = l->t[1].s;
	family = nft_family(l->t[2].s);
	if (family < 0) {
		lex_error(l, 2, "unknown family '%s', accepted: inet, ip, ip6",
			  l->t[2].s);
		return;
	}
	if (!strcmp(obj, "table") || !strcmp(obj, "set") ||
	    !strcmp(obj, "element") || !strcmp(obj, "map"))
		return;               /* tables implicit; sets not needed */
	if (!strcmp(verb, "add") && !strcmp(obj, "chain"))
		parse_chain(rs, l, family);
	else if ((!strcmp(verb, "add") || !strcmp(verb, "insert")) &&
		 !strcmp(obj, "rule"))
		parse_rule(rs, l, family, verb[0] == 'i');
	else if (!strcmp(verb, "flush") || !strcmp(verb, "delete"))
		return;
	else
		lex_error(l, 0, "unknown command '%s %s', accepted: add table|"
			  "chain|rule, insert rule, flush, delete", verb, obj);
}

static void nft_line(void *ctx, struct line *l)
{
	parse_line(ctx, l);
}

int parse_nft(struct hpns_ruleset *rs, const char *text, size_t len,
	      hpns_report_fn report, void *arg)
{
	struct line *l = calloc(1, sizeof(*l));
	int errors;

	if (!l)
		return -ENOMEM;
	l->file = rs->name;
	l->report = report;
	l->arg = arg;
	lex_each_line(l, text, len, true, nft_line, rs);
	errors = l->errors;
	free(l);
	return errors;
}
