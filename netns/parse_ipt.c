// SPDX-License-Identifier: GPL-2.0
/*
 * iptables-restore text parser.  Accepts Istio's trace format: leading
 * `iptables-save`/`ip6tables-save` command lines, then restore blocks
 * (`*table`, `:CHAIN POLICY`, `-N`, `-A`, `-I CHAIN [N]`, `COMMIT`).  A
 * table that reappears after its COMMIT starts the IPv6 block.  Matches and
 * targets the translator understands are decoded; other modules and
 * targets are kept verbatim (MATCH_OTHER/ACT_OTHER) so it can name them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netns/lex.h"

struct ipt_state {
	struct hpns_ruleset *rs;
	int family;
	char table[32];           /* current table, "" outside a block */
	char done[8][32];         /* tables committed in this family */
	int ndone;
	uint8_t proto;            /* -p of the rule being parsed */
};

static const char *const builtin[] = {
	"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING",
};

static enum hook builtin_hook(const char *chain)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (!strcmp(chain, builtin[i]))
			return (enum hook)(HOOK_PREROUTING + i);
	return HOOK_NONE;
}

static struct match *add_match(struct rule *r, struct line *l, int i,
			       enum match_kind kind, bool neg)
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
	m->neg = neg;
	return m;
}

/* Append token text to an OTHER match or action text. */
static void append(char *dst, size_t size, const char *s)
{
	size_t n = strlen(dst);

	snprintf(dst + n, size - n, "%s%s", n ? " " : "", s);
}

/* Does token @i need an argument that is missing? */
static bool need_arg(struct line *l, int i)
{
	if (i + 1 < l->ntok)
		return true;
	lex_error(l, i, "option %s needs a value", l->t[i].s);
	return false;
}

static int opt_addr(struct rule *r, struct line *l, int i, bool neg)
{
	struct match *m;
	bool src = !strcmp(l->t[i].s, "-s") || !strcmp(l->t[i].s, "--source");

	if (!need_arg(l, i))
		return -1;
	m = add_match(r, l, i, src ? MATCH_SADDR : MATCH_DADDR, neg);
	if (!m)
		return -1;
	if (!parse_prefix(l->t[i + 1].s, m)) {
		lex_error(l, i + 1, "bad address '%s', accepted: ADDR or ADDR/PLEN",
			  l->t[i + 1].s);
		return -1;
	}
	return i + 2;
}

static int opt_proto(struct ipt_state *st, struct rule *r, struct line *l,
		     int i, bool neg)
{
	const char *p;
	struct match *m;

	if (!need_arg(l, i))
		return -1;
	p = l->t[i + 1].s;
	if (!strcmp(p, "all") && !neg)
		return i + 2;
	if (strcmp(p, "tcp") && strcmp(p, "udp")) {
		m = add_match(r, l, i, MATCH_OTHER, neg);
		if (m)
			snprintf(m->u.name, sizeof(m->u.name), "-p %s", p);
		return m ? i + 2 : -1;
	}
	m = add_match(r, l, i, MATCH_L4PROTO, neg);
	if (!m)
		return -1;
	m->u.proto = p[0] == 't' ? IPPROTO_TCP : IPPROTO_UDP;
	if (!neg)
		st->proto = m->u.proto;
	return i + 2;
}

static int opt_iface(struct rule *r, struct line *l, int i, bool neg)
{
	struct match *m;
	bool in = !strcmp(l->t[i].s, "-i") || !strcmp(l->t[i].s, "--in-interface");

	if (!need_arg(l, i))
		return -1;
	m = add_match(r, l, i, in ? MATCH_IIF : MATCH_OIF, neg);
	if (!m)
		return -1;
	snprintf(m->u.name, sizeof(m->u.name), "%s", l->t[i + 1].s);
	return i + 2;
}

static int opt_port(struct ipt_state *st, struct rule *r, struct line *l,
		    int i, bool neg)
{
	const char *o = l->t[i].s;
	bool dst = strstr(o, "dport") || strstr(o, "destination");
	struct match *m;

	if (!need_arg(l, i))
		return -1;
	if (!st->proto) {
		lex_error(l, i, "%s needs -p tcp or -p udp before it", o);
		return -1;
	}
	m = add_match(r, l, i, dst ? MATCH_DPORT : MATCH_SPORT, neg);
	if (!m)
		return -1;
	m->u.port.proto = st->proto;
	if (!parse_port(l->t[i + 1].s, &m->u.port.port)) {
		lex_error(l, i + 1, "bad port '%s', accepted: 0..65535 (ranges are not)",
			  l->t[i + 1].s);
		return -1;
	}
	return i + 2;
}

/* -m mark/connmark --mark V[/M] */
static int opt_mark(struct rule *r, struct line *l, int i, bool neg,
		    bool ct)
{
	struct match *m;

	if (!need_arg(l, i))
		return -1;
	m = add_match(r, l, i, ct ? MATCH_CTMARK : MATCH_MARK, neg);
	if (!m)
		return -1;
	if (!parse_mark(l->t[i + 1].s, &m->u.mark.value, &m->u.mark.mask)) {
		lex_error(l, i + 1, "bad mark '%s', accepted: VALUE or VALUE/MASK",
			  l->t[i + 1].s);
		return -1;
	}
	m->u.mark.value &= m->u.mark.mask;
	return i + 2;
}

static bool is_rule_opt(const char *s)
{
	static const char *const opts[] = {
		"-s", "-d", "-p", "-i", "-o", "-m", "-j", "-g", "!",
		"--source", "--destination", "--protocol", "--in-interface",
		"--out-interface", "--match", "--jump", "--goto",
	};

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!strcmp(s, opts[i]))
			return true;
	return false;
}

/* -j TARGET [target options...] up to the end of the line. */
static int opt_target(struct rule *r, struct line *l, int i)
{
	const char *t;
	int j;

	if (!need_arg(l, i))
		return -1;
	t = l->t[i + 1].s;
	j = i + 2;
	if (!strcmp(t, "ACCEPT") || !strcmp(t, "RETURN") || !strcmp(t, "DROP")) {
		r->act.kind = t[0] == 'A' ? ACT_ACCEPT :
			      t[0] == 'R' ? ACT_RETURN : ACT_DROP;
	} else if (!strcmp(t, "REDIRECT")) {
		r->act.kind = ACT_REDIRECT;
		if (j + 1 < l->ntok && !strncmp(l->t[j].s, "--to-port", 9)) {
			if (!parse_port(l->t[j + 1].s, &r->act.port)) {
				lex_error(l, j + 1, "bad port '%s', accepted: 0..65535",
					  l->t[j + 1].s);
				return -1;
			}
			j += 2;
		}
	} else if (t[0] != '-' && builtin_hook(t) == HOOK_NONE &&
		   strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(t)) {
		r->act.kind = ACT_JUMP;       /* a user chain (has '_' etc.) */
		snprintf(r->act.name, sizeof(r->act.name), "%s", t);
	} else {
		r->act.kind = ACT_OTHER;
		snprintf(r->act.name, sizeof(r->act.name), "-j %s", t);
		for (; j < l->ntok && !is_rule_opt(l->t[j].s); j++)
			append(r->act.name, sizeof(r->act.name), l->t[j].s);
	}
	return j;
}

/* -m MODULE [[!] --opt [val]]...: decoded for tcp/udp/mark/connmark. */
static int opt_module(struct ipt_state *st, struct rule *r, struct line *l,
		      int i)
{
	struct match *other = NULL;
	const char *mod;
	int j;

	if (!need_arg(l, i))
		return -1;
	mod = l->t[i + 1].s;
	j = i + 2;
	while (j < l->ntok) {
		bool neg = false;
		const char *o;

		if (!strcmp(l->t[j].s, "!") && j + 1 < l->ntok &&
		    !strncmp(l->t[j + 1].s, "--", 2)) {
			neg = true;
			j++;
		} else if (is_rule_opt(l->t[j].s)) {
			break;
		}
		o = l->t[j].s;
		if (!strcmp(o, "--dport") || !strcmp(o, "--sport") ||
		    !strcmp(o, "--destination-port") ||
		    !strcmp(o, "--source-port")) {
			j = opt_port(st, r, l, j, neg);
		} else if ((!strcmp(mod, "mark") || !strcmp(mod, "connmark")) &&
			   !strcmp(o, "--mark")) {
			j = opt_mark(r, l, j, neg, mod[0] == 'c');
		} else if (!strcmp(mod, "comment")) {
			j += 2;
		} else {
			if (!other) {
				other = add_match(r, l, j, MATCH_OTHER, false);
				if (!other)
					return -1;
				snprintf(other->u.name, sizeof(other->u.name),
					 "-m %s", mod);
			}
			if (neg)
				append(other->u.name, sizeof(other->u.name), "!");
			append(other->u.name, sizeof(other->u.name), o);
			j++;
		}
		if (j < 0)
			return -1;
	}
	return j;
}

static int rule_opt(struct ipt_state *st, struct rule *r, struct line *l,
		    int i)
{
	bool neg = false;
	const char *o;

	if (!strcmp(l->t[i].s, "!")) {
		neg = true;
		if (++i >= l->ntok) {
			lex_error(l, i, "'!' must precede an option");
			return -1;
		}
	}
	o = l->t[i].s;
	if (!strcmp(o, "-s") || !strcmp(o, "-d") || !strcmp(o, "--source") ||
	    !strcmp(o, "--destination"))
		return opt_addr(r, l, i, neg);
	if (!strcmp(o, "-p") || !strcmp(o, "--protocol"))
		return opt_proto(st, r, l, i, neg);
	if (!strcmp(o, "-i") || !strcmp(o, "-o") || !strcmp(o, "--in-interface") ||
	    !strcmp(o, "--out-interface"))
		return opt_iface(r, l, i, neg);
	if (!strcmp(o, "--dport") || !strcmp(o, "--sport") ||
	    !strcmp(o, "--destination-port") || !strcmp(o, "--source-port"))
		return opt_port(st, r, l, i, neg);
	if (!neg && (!strcmp(o, "-m") || !strcmp(o, "--match")))
		return opt_module(st, r, l, i);
	if (!neg && (!strcmp(o, "-j") || !strcmp(o, "--jump")))
		return opt_target(r, l, i);
	lex_error(l, i, "unknown option '%s', accepted: [!] -s -d -p -i -o "
		  "--dport --sport, -m MODULE, -j TARGET", o);
	return -1;
}

static int parse_rule_opts(struct ipt_state *st, struct rule *r,
			   struct line *l, int i)
{
	while (i < l->ntok) {
		i = rule_opt(st, r, l, i);
		if (i < 0)
			return -1;
	}
	if (r->act.kind == ACT_NONE && !r->nmatch) {
		lex_error(l, i, "empty rule, accepted: matches and -j TARGET");
		return -1;
	}
	return 0;
}

/*
 * The rule just appended was an `-I CHAIN POS`: move it before the POS-th
 * rule of the same family, table and chain (after all of them if fewer).
 */
static void move_inserted(struct hpns_ruleset *rs, long pos)
{
	struct rule tmp = rs->rules[rs->nrules - 1];
	long seen = 0;

	for (size_t k = 0; k + 1 < rs->nrules; k++) {
		struct rule *o = &rs->rules[k];

		if (o->family != tmp.family || strcmp(o->table, tmp.table) ||
		    strcmp(o->chain, tmp.chain))
			continue;
		if (++seen == pos) {
			memmove(o + 1, o, (rs->nrules - 1 - k) * sizeof(*o));
			*o = tmp;
			return;
		}
	}
}

/* `-A CHAIN opts` / `-I CHAIN [N] opts`: one rule in the current table. */
static void parse_append(struct ipt_state *st, struct line *l)
{
	bool insert = l->t[0].s[1] == 'I';
	long pos = 0;
	int i = 2;
	struct rule *r;

	if (!st->table[0]) {
		lex_error(l, 0, "rule outside a table, accepted after '*TABLE'");
		return;
	}
	if (l->ntok < 2) {
		lex_error(l, 1, "%s needs a chain name", l->t[0].s);
		return;
	}
	if (insert && l->ntok > 2) {
		uint32_t v;

		if (parse_u32(l->t[2].s, &v) && v > 0) {
			pos = v;
			i = 3;
		}
	}
	r = rs_add_rule(st->rs);
	if (!r) {
		lex_error(l, 0, "out of memory");
		return;
	}
	r->family = st->family;
	r->line = l->no;
	snprintf(r->table, sizeof(r->table), "%s", st->table);
	snprintf(r->chain, sizeof(r->chain), "%s", l->t[1].s);
	snprintf(r->text, sizeof(r->text), "%s", l->text);
	st->proto = 0;
	if (parse_rule_opts(st, r, l, i) < 0) {
		st->rs->nrules--;
		return;
	}
	if (insert)
		move_inserted(st->rs, pos ? pos : 1);
}

/* `*table`: a table seen already in this family starts the IPv6 block. */
static void parse_table(struct ipt_state *st, struct line *l)
{
	const char *t = l->t[0].s + 1;

	if (!*t && l->ntok > 1)
		t = l->t[1].s;
	if (!*t || strlen(t) >= sizeof(st->table)) {
		lex_error(l, 0, "'*' needs a table name (raw, mangle, nat, filter)");
		return;
	}
	for (int k = 0; k < st->ndone; k++) {
		if (!strcmp(st->done[k], t) && st->family == AF_INET) {
			st->family = AF_INET6;
			st->ndone = 0;
			break;
		}
	}
	snprintf(st->table, sizeof(st->table), "%s", t);
}

static void parse_commit(struct ipt_state *st, struct line *l)
{
	if (!st->table[0]) {
		lex_error(l, 0, "COMMIT outside a table");
		return;
	}
	if (st->ndone < 8)
		snprintf(st->done[st->ndone++], sizeof(st->done[0]), "%s",
			 st->table);
	st->table[0] = 0;
}

/* `-N CHAIN` or `:CHAIN POLICY [p:b]`: declare a chain. */
static void parse_chain(struct ipt_state *st, struct line *l, const char *name)
{
	struct chain_decl *c;

	if (!st->table[0] || !*name) {
		lex_error(l, 0, "chain declaration outside a table or unnamed");
		return;
	}
	c = rs_chain(st->rs, st->family, st->table, name, true);
	if (!c) {
		lex_error(l, 0, "out of memory");
		return;
	}
	c->hook = builtin_hook(name);
	c->nat = !strcmp(st->table, "nat");
}

static void parse_line(struct ipt_state *st, struct line *l)
{
	const char *w = l->t[0].s;

	if (w[0] == '#')
		return;
	if (!strcmp(w, "iptables-save") || !strcmp(w, "ip6tables-save"))
		return;               /* Istio's trace: state-check commands */
	if (w[0] == '*')
		parse_table(st, l);
	else if (!strcmp(w, "COMMIT"))
		parse_commit(st, l);
	else if (w[0] == ':')
		parse_chain(st, l, w + 1);
	else if (!strcmp(w, "-N") && l->ntok == 2)
		parse_chain(st, l, l->t[1].s);
	else if (!strcmp(w, "-A") || !strcmp(w, "-I"))
		parse_append(st, l);
	else
		lex_error(l, 0, "unknown line '%s', accepted: *TABLE, :CHAIN, "
			  "-N CHAIN, -A CHAIN ..., -I CHAIN [N] ..., COMMIT", w);
}

/* Builtin chains referenced by rules but never declared get declared. */
static void declare_builtins(struct hpns_ruleset *rs)
{
	for (size_t k = 0; k < rs->nrules; k++) {
		struct rule *r = &rs->rules[k];
		struct chain_decl *c;

		if (builtin_hook(r->chain) == HOOK_NONE)
			continue;
		c = rs_chain(rs, r->family, r->table, r->chain, true);
		if (c) {
			c->hook = builtin_hook(r->chain);
			c->nat = !strcmp(r->table, "nat");
		}
	}
}

static void ipt_line(void *ctx, struct line *l)
{
	parse_line(ctx, l);
}

int parse_iptables(struct hpns_ruleset *rs, const char *text, size_t len,
		   hpns_report_fn report, void *arg)
{
	struct ipt_state st = { .rs = rs, .family = AF_INET };
	struct line *l = calloc(1, sizeof(*l));
	int errors;

	if (!l)
		return -ENOMEM;
	l->file = rs->name;
	l->report = report;
	l->arg = arg;
	lex_each_line(l, text, len, false, ipt_line, &st);
	if (st.table[0]) {
		l->ntok = 0;
		lex_error(l, 0, "table '%s' not closed by COMMIT", st.table);
	}
	declare_builtins(rs);
	errors = l->errors;
	free(l);
	return errors;
}
