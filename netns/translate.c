// SPDX-License-Identifier: GPL-2.0
/*
 * The redo translator: Istio's nat interception chains (hooks prerouting
 * and output) -> the rules of one half in table `inet heteropod`.
 *
 * CPU half: each nat chain is copied as a classification chain with every
 * match kept, in the same order; REDIRECT becomes "mark the connection
 * ORIG and stop" (the connection then goes over the link, unchanged, and
 * an identity DNAT keeps Istio's REDIRECT from binding it locally).
 * Connections arriving from the link are the proxy's own: they get
 * Istio's proxy mark 0x539/0xfff, so Istio's rules skip them as they skip
 * the proxy's sockets in an unsplit pod.
 *
 * DPU half: the same chains with the same matches and REDIRECT kept,
 * jumped to for what arrives on the link: `fib saddr type local` (the pod
 * IP sent it: the CPU's output hook classified it) -> copies of the output
 * chains, else -> copies of the prerouting chains.  Matches on CPU-half
 * interfaces are re-derived: `oifname lo` = `fib daddr type local` (the
 * CPU routed it to itself), `iifname X` = `fib daddr type != local`
 * (traffic from a pod-internal interface passes through the pod).  Marks
 * are kept: redundant there (they never match the proxy mark), never a new
 * side effect.  Non-nat tables are left to Istio in the CPU half.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netns/rules.h"

struct tctx {
	const struct hpns_ruleset *rs;
	const struct hpns_half_conf *conf;
	struct hpns_redo *redo;
	hpns_report_fn report;
	void *arg;
	int refused;
};

static struct rule *redo_rule(struct hpns_redo *redo, const char *chain)
{
	struct rule *r;

	if (redo->nrules == redo->cap) {
		size_t cap = redo->cap ? redo->cap * 2 : 32;
		struct rule *n = realloc(redo->rules, cap * sizeof(*n));

		if (!n)
			return NULL;
		redo->rules = n;
		redo->cap = cap;
	}
	r = &redo->rules[redo->nrules++];
	memset(r, 0, sizeof(*r));
	snprintf(r->chain, sizeof(r->chain), "%s", chain);
	return r;
}

static struct match *add_m(struct rule *r, enum match_kind k, bool neg)
{
	struct match *m = &r->m[r->nmatch++];

	memset(m, 0, sizeof(*m));
	m->kind = k;
	m->neg = neg;
	return m;
}

static int add_chain(struct hpns_redo *redo, const char *name, enum hook h,
		     const char *type, int prio)
{
	struct redo_chain *n = realloc(redo->chains,
				       (redo->nchains + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	redo->chains = n;
	n = &n[redo->nchains++];
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->hook = h;
	n->type = type;
	n->prio = prio;
	return 0;
}

/* Name of the redo copy of a source chain. */
static void copy_name(char *buf, size_t size, const struct chain_decl *c)
{
	const char *f = c->family == AF_INET ? "4" :
			c->family == AF_INET6 ? "6" : "i";

	snprintf(buf, size, "r%s_%s_%s", f, c->table, c->chain);
}

static void refuse(struct tctx *t, const struct rule *r, const char *why,
		   const char *what)
{
	t->refused++;
	report_fmt(t->report, t->arg, "%s:%d: cannot translate '%s': %s%s%s",
		   t->rs->name, r->line, r->text, why, what ? ": " : "",
		   what ? what : "");
}

/* Why a kept-verbatim match cannot be re-done in the other half. */
static const char *other_reason(const char *text)
{
	if (strstr(text, "owner") || strstr(text, "skuid") || strstr(text, "skgid"))
		return "socket-owner match: the proxy's sockets live in the DPU "
		       "half, so the CPU half cannot tell them apart";
	if (strstr(text, "{") || strstr(text, "multiport"))
		return "port or address list: not supported by the redo "
		       "translator (one value per rule is)";
	if (strstr(text, "set") || strstr(text, "@"))
		return "named set: its contents are not part of the rule set";
	return "match has no equivalent in the other half";
}

/* TPROXY anywhere: the socket lookup needs the proxy's socket here. */
static void refuse_tproxy(struct tctx *t)
{
	for (size_t i = 0; i < t->rs->nrules; i++) {
		const struct rule *r = &t->rs->rules[i];

		if (r->act.kind == ACT_OTHER &&
		    (strstr(r->act.name, "TPROXY") || strstr(r->act.name, "tproxy")))
			refuse(t, r, "TPROXY interception needs the proxy's "
			       "listening socket in the same namespace", r->act.name);
	}
}

/* Re-derive one match for @half; false (refusal reported) if impossible. */
static bool redo_match(struct tctx *t, const struct rule *src,
		       const struct match *m, enum hook hook, struct rule *dst)
{
	bool dpu = t->conf->half == HPNS_HALF_DPU;

	if (m->kind == MATCH_OTHER) {
		refuse(t, src, other_reason(m->u.name), m->u.name);
		return false;
	}
	if (!dpu || (m->kind != MATCH_IIF && m->kind != MATCH_OIF)) {
		dst->m[dst->nmatch++] = *m;
		return true;
	}
	if (m->kind == MATCH_OIF && strcmp(m->u.name, "lo")) {
		refuse(t, src, "output interface is only known in the CPU half",
		       m->u.name);
		return false;
	}
	if (m->kind == MATCH_IIF && hook != HOOK_PREROUTING) {
		refuse(t, src, "input interface match outside prerouting",
		       m->u.name);
		return false;
	}
	/* oifname lo: routed locally; iifname X: passing through the pod */
	add_m(dst, MATCH_FIB_DLOCAL, m->kind == MATCH_OIF ? m->neg : !m->neg);
	return true;
}

static bool redo_action(struct tctx *t, const struct rule *src,
			const struct chain_decl *c, struct rule *dst)
{
	bool dpu = t->conf->half == HPNS_HALF_DPU;
	const struct action *a = &src->act;

	dst->act = *a;
	switch (a->kind) {
	case ACT_NONE:
	case ACT_ACCEPT:
	case ACT_RETURN:
		return true;
	case ACT_DROP:
		if (!dpu)
			dst->act.kind = ACT_ACCEPT; /* Istio's rule drops it */
		return true;
	case ACT_JUMP: {
		const struct chain_decl *to = rs_chain_find(t->rs, c->family,
							    c->table, a->name);

		if (!to) {
			refuse(t, src, "jump to an undeclared chain", a->name);
			return false;
		}
		copy_name(dst->act.name, sizeof(dst->act.name), to);
		return true;
	}
	case ACT_REDIRECT:
		if (!a->port) {
			refuse(t, src, "REDIRECT without a port", NULL);
			return false;
		}
		if (!dpu) {
			dst->act.kind = ACT_CTMARK_OR;
			dst->act.value = HP_CT_ORIG;
			dst->act.then_accept = true;
		}
		return true;
	default:
		refuse(t, src, "target cannot be split across halves", a->name);
		return false;
	}
}

static int note_port(struct hpns_redo *redo, uint16_t port)
{
	for (size_t i = 0; i < redo->ndpu_ports; i++)
		if (redo->dpu_ports[i] == port)
			return 0;
	if (redo->ndpu_ports == sizeof(redo->dpu_ports) / sizeof(redo->dpu_ports[0]))
		return -E2BIG;
	redo->dpu_ports[redo->ndpu_ports++] = port;
	return 0;
}

/* Copy one source rule into redo chain @name. */
static int copy_rule(struct tctx *t, const struct rule *src,
		     const struct chain_decl *c, enum hook hook,
		     const char *name)
{
	struct rule tmp = { 0 }, *dst;

	if (c->family != AF_UNSPEC) {
		struct match *m = add_m(&tmp, MATCH_NFPROTO, false);

		m->u.family = c->family;
	}
	for (int i = 0; i < src->nmatch; i++)
		if (tmp.nmatch == MAX_MATCHES ||
		    !redo_match(t, src, &src->m[i], hook, &tmp))
			return tmp.nmatch == MAX_MATCHES ? -E2BIG : 0;
	if (!redo_action(t, src, c, &tmp))
		return 0;
	if (src->act.kind == ACT_REDIRECT && note_port(t->redo, src->act.port))
		return -E2BIG;
	dst = redo_rule(t->redo, name);
	if (!dst)
		return -ENOMEM;
	snprintf(tmp.chain, sizeof(tmp.chain), "%s", name);
	tmp.line = src->line;
	tmp.counter = src->counter;
	snprintf(tmp.text, sizeof(tmp.text), "%s", src->text);
	*dst = tmp;
	return 0;
}

/* Is @c a nat chain reached from hook @hook (directly or by jumps)? */
static bool reached_from(const struct hpns_ruleset *rs,
			 const struct chain_decl *c, enum hook hook, int depth)
{
	if (c->hook != HOOK_NONE)
		return c->nat && c->hook == hook;
	if (depth > 8)
		return false;
	for (size_t i = 0; i < rs->nrules; i++) {
		const struct rule *r = &rs->rules[i];
		const struct chain_decl *from;

		if (r->act.kind != ACT_JUMP || r->family != c->family ||
		    strcmp(r->table, c->table) || strcmp(r->act.name, c->chain))
			continue;
		from = rs_chain_find(rs, r->family, r->table, r->chain);
		if (from && reached_from(rs, from, hook, depth + 1))
			return true;
	}
	return false;
}

/*
 * Copy every chain reached from nat @hook; base chains get a jump from
 * @entry (a heteropod chain) guarded by @guard matches.
 */
static int copy_hook(struct tctx *t, enum hook hook, const char *entry,
		     const struct rule *guard)
{
	char name[64];
	int ret;

	for (size_t i = 0; i < t->rs->nchains; i++) {
		const struct chain_decl *c = &t->rs->chains[i];
		struct rule *j;

		if (!reached_from(t->rs, c, hook, 0))
			continue;
		copy_name(name, sizeof(name), c);
		ret = add_chain(t->redo, name, HOOK_NONE, NULL, 0);
		for (size_t k = 0; !ret && k < t->rs->nrules; k++) {
			const struct rule *r = &t->rs->rules[k];

			if (r->family == c->family && !strcmp(r->table, c->table) &&
			    !strcmp(r->chain, c->chain))
				ret = copy_rule(t, r, c, hook, name);
		}
		if (ret)
			return ret;
		if (c->hook == HOOK_NONE)
			continue;
		j = redo_rule(t->redo, entry);
		if (!j)
			return -ENOMEM;
		*j = *guard;
		snprintf(j->chain, sizeof(j->chain), "%s", entry);
		j->act.kind = ACT_JUMP;
		snprintf(j->act.name, sizeof(j->act.name), "%s", name);
	}
	return 0;
}

/* A new generated rule in heteropod chain @chain. */
static struct rule *skel(struct tctx *t, const char *chain)
{
	return redo_rule(t->redo, chain);
}

static void m_link(struct rule *r, const char *link, bool neg)
{
	struct match *m = add_m(r, MATCH_IIF, neg);

	snprintf(m->u.name, sizeof(m->u.name), "%s", link);
}

static void m_ctbit(struct rule *r, uint32_t bit, bool orig_dir)
{
	struct match *m = add_m(r, MATCH_CT_ORIG, !orig_dir);

	(void)m;
	m = add_m(r, MATCH_CTMARK, false);
	m->u.mark.value = bit;
	m->u.mark.mask = bit;
}

/* ct mark |= PEER for new connections arriving on the link. */
static int skel_peer(struct tctx *t)
{
	struct rule *r = skel(t, "pre_mark");

	if (!r)
		return -ENOMEM;
	m_link(r, t->conf->link, false);
	add_m(r, MATCH_CT_NEW, false);
	r->act.kind = ACT_CTMARK_OR;
	r->act.value = HP_CT_PEER;
	return 0;
}

/* Route ORIG connections' original packets and PEER replies to the link. */
static int skel_route(struct tctx *t, const char *chain)
{
	static const struct action fw = { .kind = ACT_MARK_OR, .value = HP_FW };
	struct rule *r = skel(t, chain);

	if (!r)
		return -ENOMEM;
	m_ctbit(r, HP_CT_ORIG, true);
	r->act = fw;
	r = skel(t, chain);   /* may move the rule array: no stale pointers */
	if (!r)
		return -ENOMEM;
	m_ctbit(r, HP_CT_PEER, false);
	r->act = fw;
	return 0;
}

/* Port map: new connections to the pod IP on a port the peer owns. */
static int skel_portmap(struct tctx *t, const char *chain, bool not_link)
{
	static const char *const sets[] = { "peer_tcp", "peer_udp" };
	const struct hpns_addrs *pod = &t->conf->pod;

	for (int fam = 0; fam < 2; fam++) {
		if (!(fam ? pod->has_v6 : pod->has_v4))
			continue;
		for (int s = 0; s < 2; s++) {
			struct rule *r = skel(t, chain);
			struct match *m;

			if (!r)
				return -ENOMEM;
			if (not_link)
				m_link(r, t->conf->link, true);
			add_m(r, MATCH_CT_NEW, false);
			m = add_m(r, MATCH_DADDR, false);
			m->u.addr.family = fam ? AF_INET6 : AF_INET;
			m->u.addr.plen = fam ? 128 : 32;
			if (fam)
				m->u.addr.v6 = pod->v6;
			else
				m->u.addr.v4 = pod->v4;
			m = add_m(r, MATCH_L4PROTO, false);
			m->u.proto = s ? IPPROTO_UDP : IPPROTO_TCP;
			m = add_m(r, MATCH_DPORT_SET, false);
			snprintf(m->u.name, sizeof(m->u.name), "%s", sets[s]);
			r->act.kind = ACT_CTMARK_OR;
			r->act.value = HP_CT_ORIG;
		}
	}
	return 0;
}

/*
 * Direct calls to 127.0.0.1:P where the peer half owns P: they cross the
 * link too (route_localnet on the link lets 127/8 leave and arrive there),
 * with the loopback source rewritten to this end's link address so the
 * reply can come back.  Needs the link's IPv4 address (conf->local).  IPv6
 * has no such knob: ::1 stays in its half.
 */
static int skel_loopback(struct tctx *t)
{
	static const char *const sets[] = { "peer_tcp", "peer_udp" };
	struct rule *r;
	struct match *m;

	if (!t->conf->local.has_v4)
		return 0;
	for (int s = 0; s < 2; s++) {
		r = skel(t, "out_class");
		if (!r)
			return -ENOMEM;
		add_m(r, MATCH_CT_NEW, false);
		m = add_m(r, MATCH_DADDR, false);
		m->u.addr.family = AF_INET;
		m->u.addr.v4.s_addr = htonl(INADDR_LOOPBACK & 0xff000000);
		m->u.addr.plen = 8;
		m = add_m(r, MATCH_L4PROTO, false);
		m->u.proto = s ? IPPROTO_UDP : IPPROTO_TCP;
		m = add_m(r, MATCH_DPORT_SET, false);
		snprintf(m->u.name, sizeof(m->u.name), "%s", sets[s]);
		r->act.kind = ACT_CTMARK_OR;
		r->act.value = HP_CT_ORIG;
	}
	r = skel(t, "post_nat");
	if (!r)
		return -ENOMEM;
	m = add_m(r, MATCH_OIF, false);
	snprintf(m->u.name, sizeof(m->u.name), "%s", t->conf->link);
	m = add_m(r, MATCH_SADDR, false);
	m->u.addr.family = AF_INET;
	m->u.addr.v4.s_addr = htonl(INADDR_LOOPBACK & 0xff000000);
	m->u.addr.plen = 8;
	r->act.kind = ACT_SNAT4;
	r->act.value = t->conf->local.v4.s_addr;
	return 0;
}

/*
 * TCP over the link: SYNs leaving through it carry at most the MSS its MTU
 * allows.  Both halves see the pod IP as local, so a socket's MSS comes
 * from the loopback route, and a tunnel over the interconnect has a smaller
 * MTU than anything else on the path.
 */
static int skel_mss(struct tctx *t)
{
	struct rule *r = add_chain(t->redo, "post_mss", HOOK_POSTROUTING,
				   "filter", 0) ? NULL : skel(t, "post_mss");
	struct match *m;

	if (!r)
		return -ENOMEM;
	m = add_m(r, MATCH_OIF, false);
	snprintf(m->u.name, sizeof(m->u.name), "%s", t->conf->link);
	m = add_m(r, MATCH_L4PROTO, false);
	m->u.proto = IPPROTO_TCP;
	add_m(r, MATCH_TCP_SYN, false);
	r->act.kind = ACT_MSS_CLAMP;
	return 0;
}

/* Identity DNAT for ORIG connections: Istio's REDIRECT must not bind. */
static int skel_dnat_self(struct tctx *t, const char *chain)
{
	for (int fam = 0; fam < 2; fam++) {
		struct rule *r = skel(t, chain);
		struct match *m;

		if (!r)
			return -ENOMEM;
		m = add_m(r, MATCH_NFPROTO, false);
		m->u.family = fam ? AF_INET6 : AF_INET;
		m = add_m(r, MATCH_CTMARK, false);
		m->u.mark.value = HP_CT_ORIG;
		m->u.mark.mask = HP_CT_ORIG;
		r->act.kind = ACT_DNAT_SELF;
	}
	return 0;
}

/* Packets of proxy-originated connections carry Istio's proxy mark. */
static int skel_proxy_mark(struct tctx *t)
{
	struct rule *r = skel(t, "pre_mark");

	if (!r)
		return -ENOMEM;
	m_link(r, t->conf->link, false);
	m_ctbit(r, HP_CT_PEER, true);
	r->act.kind = ACT_MARK_SET;
	r->act.value = ISTIO_PROXY_MARK;
	r->act.mask = ISTIO_MARK_MASK;
	return 0;
}

static int cpu_chains(struct hpns_redo *redo)
{
	int ret = add_chain(redo, "pre_mark", HOOK_PREROUTING, "filter", -160);

	ret = ret ?: add_chain(redo, "pre_class", HOOK_PREROUTING, "filter", -145);
	ret = ret ?: add_chain(redo, "pre_route", HOOK_PREROUTING, "filter", -140);
	ret = ret ?: add_chain(redo, "pre_nat", HOOK_PREROUTING, "nat", -110);
	ret = ret ?: add_chain(redo, "out_class", HOOK_OUTPUT, "filter", -145);
	ret = ret ?: add_chain(redo, "out_route", HOOK_OUTPUT, "route", -140);
	ret = ret ?: add_chain(redo, "out_nat", HOOK_OUTPUT, "nat", -110);
	return ret ?: add_chain(redo, "post_nat", HOOK_POSTROUTING, "nat", 100);
}

static int translate_cpu(struct tctx *t)
{
	struct rule g_pre = { 0 }, g_out = { 0 };
	int ret = cpu_chains(t->redo);

	m_link(&g_pre, t->conf->link, true);
	add_m(&g_pre, MATCH_CT_NEW, false);
	add_m(&g_out, MATCH_CT_NEW, false);
	ret = ret ?: skel_peer(t);
	ret = ret ?: skel_proxy_mark(t);
	/* port map first: a verdict in the copied chains ends the base chain */
	ret = ret ?: skel_portmap(t, "pre_class", true);
	ret = ret ?: copy_hook(t, HOOK_PREROUTING, "pre_class", &g_pre);
	ret = ret ?: skel_route(t, "pre_route");
	ret = ret ?: skel_dnat_self(t, "pre_nat");
	ret = ret ?: skel_portmap(t, "out_class", false);
	ret = ret ?: skel_loopback(t);
	ret = ret ?: copy_hook(t, HOOK_OUTPUT, "out_class", &g_out);
	ret = ret ?: skel_route(t, "out_route");
	ret = ret ?: skel_mss(t);
	return ret ?: skel_dnat_self(t, "out_nat");
}

static int translate_dpu(struct tctx *t)
{
	struct rule g_app = { 0 }, g_ext = { 0 };
	int ret = add_chain(t->redo, "pre_mark", HOOK_PREROUTING, "filter", -160);

	ret = ret ?: add_chain(t->redo, "pre_nat", HOOK_PREROUTING, "nat", -100);
	ret = ret ?: add_chain(t->redo, "out_class", HOOK_OUTPUT, "filter", -145);
	ret = ret ?: add_chain(t->redo, "out_route", HOOK_OUTPUT, "route", -140);
	ret = ret ?: add_chain(t->redo, "post_nat", HOOK_POSTROUTING, "nat", 100);
	m_link(&g_app, t->conf->link, false);
	add_m(&g_app, MATCH_FIB_SLOCAL, false);
	m_link(&g_ext, t->conf->link, false);
	add_m(&g_ext, MATCH_FIB_SLOCAL, true);
	ret = ret ?: skel_peer(t);
	ret = ret ?: copy_hook(t, HOOK_OUTPUT, "pre_nat", &g_app);
	ret = ret ?: copy_hook(t, HOOK_PREROUTING, "pre_nat", &g_ext);
	ret = ret ?: skel_portmap(t, "out_class", false);
	ret = ret ?: skel_loopback(t);
	ret = ret ?: skel_mss(t);
	return ret ?: skel_route(t, "out_route");
}

int hpns_translate(const struct hpns_ruleset *rs,
		   const struct hpns_half_conf *conf,
		   hpns_report_fn report, void *arg, struct hpns_redo **out)
{
	struct tctx t = { .rs = rs, .conf = conf, .report = report, .arg = arg };
	int ret;

	*out = NULL;
	if (!conf->link || strlen(conf->link) >= sizeof(t.redo->link) ||
	    (!conf->pod.has_v4 && !conf->pod.has_v6))
		return -EINVAL;
	t.redo = calloc(1, sizeof(*t.redo));
	if (!t.redo)
		return -ENOMEM;
	t.redo->half = conf->half;
	t.redo->pod = conf->pod;
	snprintf(t.redo->link, sizeof(t.redo->link), "%s", conf->link);
	refuse_tproxy(&t);
	ret = conf->half == HPNS_HALF_CPU ? translate_cpu(&t) : translate_dpu(&t);
	if (!ret && t.refused)
		ret = -EOPNOTSUPP;
	if (!ret && note_port(t.redo, 15008))  /* Istio's HBONE port */
		ret = -E2BIG;
	if (ret) {
		hpns_redo_destroy(t.redo);
		return ret;
	}
	*out = t.redo;
	return 0;
}

size_t hpns_redo_count(const struct hpns_redo *redo)
{
	return redo ? redo->nrules : 0;
}

void hpns_redo_destroy(struct hpns_redo *redo)
{
	if (!redo)
		return;
	free(redo->chains);
	free(redo->rules);
	free(redo);
}
