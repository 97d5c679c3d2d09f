// SPDX-License-Identifier: GPL-2.0
/* nft text of redo rules (`heteropod-netns translate` prints this). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netns/rules.h"

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && b->len + n < b->cap)
			break;
		size_t cap = (b->cap + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	b->len += n;
}

const char *hook_name(enum hook h)
{
	static const char *const names[] = {
		"none", "prerouting", "input", "forward", "output", "postrouting",
	};

	return names[h];
}

static const char *neq(bool neg)
{
	return neg ? "!= " : "";
}

static void fmt_addr(struct sbuf *b, const struct match *m)
{
	char a[INET6_ADDRSTRLEN];
	bool v6 = m->u.addr.family == AF_INET6;

	inet_ntop(m->u.addr.family, &m->u.addr.v4, a, sizeof(a));
	sb_printf(b, "%s %s %s%s/%d ", v6 ? "ip6" : "ip",
		  m->kind == MATCH_SADDR ? "saddr" : "daddr", neq(m->neg), a,
		  m->u.addr.plen);
}

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : "th";
}

static void fmt_match(struct sbuf *b, const struct match *m)
{
	switch (m->kind) {
	case MATCH_L4PROTO:
		sb_printf(b, "meta l4proto %s%s ", neq(m->neg), proto_name(m->u.proto));
		break;
	case MATCH_NFPROTO:
		sb_printf(b, "meta nfproto %s ", m->u.family == AF_INET6 ? "ipv6" : "ipv4");
		break;
	case MATCH_SADDR:
	case MATCH_DADDR:
		fmt_addr(b, m);
		break;
	case MATCH_SPORT:
	case MATCH_DPORT:
		sb_printf(b, "%s %s %s%u ", proto_name(m->u.port.proto),
			  m->kind == MATCH_SPORT ? "sport" : "dport", neq(m->neg),
			  m->u.port.port);
		break;
	case MATCH_MARK:
	case MATCH_CTMARK:
		sb_printf(b, "%s mark and 0x%x %s0x%x ",
			  m->kind == MATCH_MARK ? "meta" : "ct", m->u.mark.mask,
			  m->neg ? "!= " : "== ", m->u.mark.value);
		break;
	case MATCH_IIF:
	case MATCH_OIF:
		sb_printf(b, "%s %s\"%s\" ", m->kind == MATCH_IIF ? "iifname" : "oifname",
			  neq(m->neg), m->u.name);
		break;
	case MATCH_FIB_SLOCAL:
	case MATCH_FIB_DLOCAL:
		sb_printf(b, "fib %s type %slocal ",
			  m->kind == MATCH_FIB_SLOCAL ? "saddr" : "daddr", neq(m->neg));
		break;
	case MATCH_CT_NEW:
		sb_printf(b, "ct state new ");
		break;
	case MATCH_CT_ORIG:
		sb_printf(b, "ct direction %s ", m->neg ? "reply" : "original");
		break;
	case MATCH_DPORT_SET:
		sb_printf(b, "th dport @%s ", m->u.name);
		break;
	case MATCH_TCP_SYN:
		sb_printf(b, "tcp flags & (syn | rst) == syn ");
		break;
	case MATCH_OTHER:
		sb_printf(b, "%s ", m->u.name);
		break;
	}
}

static void fmt_action(struct sbuf *b, const struct rule *r)
{
	const struct action *a = &r->act;
	bool v6 = false;

	for (int i = 0; i < r->nmatch; i++)
		if (r->m[i].kind == MATCH_NFPROTO)
			v6 = r->m[i].u.family == AF_INET6;
	switch (a->kind) {
	case ACT_NONE:
		break;
	case ACT_ACCEPT:
		sb_printf(b, "accept");
		break;
	case ACT_RETURN:
		sb_printf(b, "return");
		break;
	case ACT_DROP:
		sb_printf(b, "drop");
		break;
	case ACT_JUMP:
		sb_printf(b, "jump %s", a->name);
		break;
	case ACT_REDIRECT:
		sb_printf(b, a->port ? "redirect to :%u" : "redirect", a->port);
		break;
	case ACT_CTMARK_OR:
		sb_printf(b, "ct mark set ct mark or 0x%08x%s", a->value,
			  a->then_accept ? " accept" : "");
		break;
	case ACT_MARK_OR:
		sb_printf(b, "meta mark set meta mark or 0x%08x", a->value);
		break;
	case ACT_MARK_SET:
		sb_printf(b, "meta mark set meta mark and 0x%08x or 0x%x",
			  ~a->mask, a->value);
		break;
	case ACT_SNAT4: {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &a->value, ip, sizeof(ip));
		sb_printf(b, "snat ip to %s", ip);
		break;
	}
	case ACT_DNAT_SELF:
		sb_printf(b, v6 ? "dnat ip6 to ip6 daddr" : "dnat ip to ip daddr");
		break;
	case ACT_MSS_CLAMP:
		sb_printf(b, "tcp option maxseg size set rt mtu");
		break;
	case ACT_OTHER:
		sb_printf(b, "%s", a->name);
		break;
	}
}

void fmt_rule(struct sbuf *b, const struct rule *r)
{
	for (int i = 0; i < r->nmatch; i++)
		fmt_match(b, &r->m[i]);
	if (r->counter)
		sb_printf(b, "counter ");
	fmt_action(b, r);
	while (b->len && b->p[b->len - 1] == ' ')
		b->p[--b->len] = 0;
}

char *hpns_redo_format(const struct hpns_redo *redo)
{
	struct sbuf b = { 0 };
	const char *t = HP_NFT_TABLE;

	sb_printf(&b, "# heteropod redo rules, %s half, link %s\n",
		  redo->half == HPNS_HALF_CPU ? "CPU" : "DPU", redo->link);
	sb_printf(&b, "add table inet %s\nflush table inet %s\n", t, t);
	sb_printf(&b, "add set inet %s peer_tcp { type inet_service ; }\n", t);
	sb_printf(&b, "add set inet %s peer_udp { type inet_service ; }\n", t);
	for (int s = 0; redo->half == HPNS_HALF_CPU && s < 2; s++) {
		sb_printf(&b, "add element inet %s peer_%s { ", t, s ? "udp" : "tcp");
		for (size_t i = 0; i < redo->ndpu_ports; i++)
			sb_printf(&b, "%s%u", i ? ", " : "", redo->dpu_ports[i]);
		sb_printf(&b, " }\n");
	}
	for (size_t i = 0; i < redo->nchains; i++) {
		const struct redo_chain *c = &redo->chains[i];

		sb_printf(&b, "add chain inet %s %s", t, c->name);
		if (c->hook != HOOK_NONE)
			sb_printf(&b, " { type %s hook %s priority %d ; }", c->type,
				  hook_name(c->hook), c->prio);
		sb_printf(&b, "\n");
	}
	for (size_t i = 0; i < redo->nrules; i++) {
		sb_printf(&b, "add rule inet %s %s ", t, redo->rules[i].chain);
		fmt_rule(&b, &redo->rules[i]);
		sb_printf(&b, "\n");
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
