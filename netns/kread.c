// SPDX-License-Identifier: GPL-2.0
/*
 * Read the interception rules installed in a namespace back from the
 * kernel (nf_tables: Istio's native `inet istio-ambient-*` tables and the
 * tables iptables-nft makes) into the parsed-rule form, so `split` can run
 * without --rules.  Expressions are decoded with a one-register model:
 * a load (meta/payload/ct) optionally masked by bitwise, then a cmp, gives
 * one match.  What is not decoded is kept as MATCH_OTHER/ACT_OTHER for the
 * translator to refuse by name.  iptables-legacy tables are not visible
 * through nf_tables and are not read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "netns/legacy.h"
#include "netns/nl.h"

enum load { L_NONE, L_META, L_PAYLOAD, L_CT, L_IMM };

struct dec {
	struct rule *r;
	enum load load;
	uint32_t key, base, off, len;
	uint8_t mask[16];
	bool masked;
	uint16_t imm_port;
	uint8_t proto;           /* l4proto matched so far */
};

static int family_of(uint32_t nfproto)
{
	return nfproto == NFPROTO_IPV4 ? AF_INET :
	       nfproto == NFPROTO_IPV6 ? AF_INET6 : AF_UNSPEC;
}

static struct match *new_m(struct dec *d, enum match_kind k, bool neg)
{
	struct match *m;

	if (d->r->nmatch == MAX_MATCHES)
		return NULL;
	m = &d->r->m[d->r->nmatch++];
	memset(m, 0, sizeof(*m));
	m->kind = k;
	m->neg = neg;
	return m;
}

static void other(struct dec *d, const char *what)
{
	struct match *m = new_m(d, MATCH_OTHER, false);

	if (m)
		snprintf(m->u.name, sizeof(m->u.name), "%s", what);
}

static int prefix_len(const uint8_t *mask, uint32_t len)
{
	int n = 0;

	for (uint32_t i = 0; i < len; i++)
		for (int b = 7; b >= 0 && (mask[i] >> b) & 1; b--)
			n++;
	return n;
}

static void cmp_payload(struct dec *d, const void *data, bool neg)
{
	struct match *m;

	if (d->base == NFT_PAYLOAD_TRANSPORT_HEADER && d->len == 2 &&
	    (d->off == 0 || d->off == 2)) {
		m = new_m(d, d->off ? MATCH_DPORT : MATCH_SPORT, neg);
		if (m) {
			m->u.port.proto = d->proto;
			m->u.port.port = ntohs(*(const uint16_t *)data);
		}
		return;
	}
	if (d->base == NFT_PAYLOAD_NETWORK_HEADER &&
	    ((d->len == 4 && (d->off == 12 || d->off == 16)) ||
	     (d->len == 16 && (d->off == 8 || d->off == 24)))) {
		bool src = d->off == 12 || d->off == 8;

		m = new_m(d, src ? MATCH_SADDR : MATCH_DADDR, neg);
		if (m) {
			m->u.addr.family = d->len == 4 ? AF_INET : AF_INET6;
			memcpy(&m->u.addr.v6, data, d->len);
			m->u.addr.plen = d->masked ? prefix_len(d->mask, d->len) :
					 (int)d->len * 8;
		}
		return;
	}
	other(d, "payload match");
}

static void cmp_meta(struct dec *d, const uint8_t *data, uint32_t len, bool neg)
{
	struct match *m;

	switch (d->key) {
	case NFT_META_L4PROTO:
		m = new_m(d, MATCH_L4PROTO, neg);
		if (m)
			m->u.proto = data[0];
		if (!neg)
			d->proto = data[0];
		return;
	case NFT_META_NFPROTO:
		m = new_m(d, MATCH_NFPROTO, neg);
		if (m)
			m->u.family = data[0] == NFPROTO_IPV6 ? AF_INET6 : AF_INET;
		return;
	case NFT_META_IIFNAME:
	case NFT_META_OIFNAME:
		m = new_m(d, d->key == NFT_META_IIFNAME ? MATCH_IIF : MATCH_OIF, neg);
		if (m)
			snprintf(m->u.name, sizeof(m->u.name), "%.*s", (int)len, data);
		return;
	case NFT_META_MARK:
		break;
	default:
		other(d, d->key == NFT_META_SKUID || d->key == NFT_META_SKGID ?
		      "skuid/skgid (socket owner)" : "meta match");
		return;
	}
	m = new_m(d, MATCH_MARK, neg);
	if (m) {
		memcpy(&m->u.mark.value, data, 4);
		m->u.mark.mask = 0xffffffffu;
		if (d->masked)
			memcpy(&m->u.mark.mask, d->mask, 4);
	}
}

static void on_cmp(struct dec *d, struct nftnl_expr *e)
{
	uint32_t len = 0;
	const uint8_t *data = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	uint32_t op = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);
	bool neg = op == NFT_CMP_NEQ;
	struct match *m;

	if (!data || (op != NFT_CMP_EQ && op != NFT_CMP_NEQ)) {
		other(d, "range comparison");
	} else if (d->load == L_META) {
		cmp_meta(d, data, len, neg);
	} else if (d->load == L_PAYLOAD) {
		cmp_payload(d, data, neg);
	} else if (d->load == L_CT && d->key == NFT_CT_MARK && len == 4) {
		m = new_m(d, MATCH_CTMARK, neg);
		if (m) {
			memcpy(&m->u.mark.value, data, 4);
			m->u.mark.mask = 0xffffffffu;
			if (d->masked)
				memcpy(&m->u.mark.mask, d->mask, 4);
		}
	} else {
		other(d, "ct match");
	}
	d->load = L_NONE;
	d->masked = false;
}

/* iptables-nft's xt extensions: REDIRECT decoded, tcp/udp default ranges
 * are no-ops, everything else kept by name. */
static void on_xt(struct dec *d, struct nftnl_expr *e, bool target, int fam)
{
	const char *name = nftnl_expr_get_str(e, target ? NFTNL_EXPR_TG_NAME :
					     NFTNL_EXPR_MT_NAME);
	uint32_t len = 0;
	const uint8_t *info = nftnl_expr_get(e, target ? NFTNL_EXPR_TG_INFO :
					     NFTNL_EXPR_MT_INFO, &len);
	char buf[64];

	name = name ? name : "?";
	if (target && !strcmp(name, "REDIRECT") && info) {
		/* v4: rangesize + nf_nat_ipv4_range{flags,min_ip,max_ip,min};
		 * v6: nf_nat_range{flags,min_addr,max_addr,min_proto} */
		uint32_t off = fam == AF_INET6 ? 36 : 16;
		uint16_t port;

		if (len >= off + 2) {
			memcpy(&port, info + off, 2);
			d->r->act.kind = ACT_REDIRECT;
			d->r->act.port = ntohs(port);
			return;
		}
	}
	if (!target && (!strcmp(name, "tcp") || !strcmp(name, "udp")) && info &&
	    len >= 8) {
		uint16_t p[4];

		memcpy(p, info, sizeof(p));
		if (p[0] == 0 && p[1] == 0xffff && p[2] == 0 && p[3] == 0xffff &&
		    (len < 12 || !info[11]))
			return;       /* `-m tcp` without options */
	}
	snprintf(buf, sizeof(buf), "%s %s", target ? "-j" : "-m", name);
	if (target) {
		d->r->act.kind = ACT_OTHER;
		snprintf(d->r->act.name, sizeof(d->r->act.name), "%s", buf);
	} else {
		other(d, buf);
	}
}

static void on_immediate(struct dec *d, struct nftnl_expr *e)
{
	uint32_t dreg = nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG);
	uint32_t len = 0;
	const void *data;

	if (dreg != NFT_REG_VERDICT) {
		data = nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &len);
		if (data && len == 2)
			d->imm_port = ntohs(*(const uint16_t *)data);
		return;
	}
	switch ((int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT)) {
	case NF_ACCEPT:
		d->r->act.kind = ACT_ACCEPT;
		break;
	case NFT_RETURN:
		d->r->act.kind = ACT_RETURN;
		break;
	case NF_DROP:
		d->r->act.kind = ACT_DROP;
		break;
	case NFT_JUMP:
		d->r->act.kind = ACT_JUMP;
		snprintf(d->r->act.name, sizeof(d->r->act.name), "%s",
			 nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN) ?: "");
		break;
	default:
		d->r->act.kind = ACT_OTHER;
		snprintf(d->r->act.name, sizeof(d->r->act.name), "goto");
	}
}

static void on_load(struct dec *d, struct nftnl_expr *e, const char *n)
{
	d->masked = false;
	if (!strcmp(n, "meta")) {
		if (nftnl_expr_is_set(e, NFTNL_EXPR_META_SREG)) {
			d->r->act.kind = ACT_OTHER;   /* meta ... set */
			snprintf(d->r->act.name, sizeof(d->r->act.name), "meta set");
			return;
		}
		d->load = L_META;
		d->key = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY);
	} else if (!strcmp(n, "ct")) {
		if (nftnl_expr_is_set(e, NFTNL_EXPR_CT_SREG)) {
			d->r->act.kind = ACT_OTHER;   /* ct ... set */
			snprintf(d->r->act.name, sizeof(d->r->act.name), "ct set");
			return;
		}
		d->load = L_CT;
		d->key = nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY);
	} else {
		d->load = L_PAYLOAD;
		d->base = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE);
		d->off = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
		d->len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
	}
}

static void on_bitwise(struct dec *d, struct nftnl_expr *e)
{
	uint32_t len = 0;
	const void *mask = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &len);

	if (mask && len <= sizeof(d->mask)) {
		memcpy(d->mask, mask, len);
		d->masked = true;
	}
}

static int one_expr(struct nftnl_expr *e, void *data)
{
	struct dec *d = data;
	const char *n = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (!strcmp(n, "meta") || !strcmp(n, "ct") || !strcmp(n, "payload"))
		on_load(d, e, n);
	else if (!strcmp(n, "bitwise"))
		on_bitwise(d, e);
	else if (!strcmp(n, "cmp"))
		on_cmp(d, e);
	else if (!strcmp(n, "counter"))
		d->r->counter = true;
	else if (!strcmp(n, "immediate"))
		on_immediate(d, e);
	else if (!strcmp(n, "redir")) {
		d->r->act.kind = ACT_REDIRECT;
		d->r->act.port = d->imm_port;
	} else if (!strcmp(n, "match") || !strcmp(n, "target"))
		on_xt(d, e, n[0] == 't', d->r->family);
	else if (!strcmp(n, "lookup"))
		other(d, "set lookup");
	else {
		d->r->act.kind = ACT_OTHER;
		snprintf(d->r->act.name, sizeof(d->r->act.name), "%s", n);
	}
	return 0;
}

struct kctx {
	struct hpns_ruleset *rs;
	int err;
};

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kctx *k = data;
	struct nftnl_rule *nr = nftnl_rule_alloc();
	struct dec d = { 0 };
	const char *table, *chain;

	if (!nr || nftnl_rule_nlmsg_parse(nlh, nr) < 0)
		goto out;
	table = nftnl_rule_get_str(nr, NFTNL_RULE_TABLE);
	chain = nftnl_rule_get_str(nr, NFTNL_RULE_CHAIN);
	if (!table || !chain || !strcmp(table, HP_NFT_TABLE))
		goto out;
	d.r = rs_add_rule(k->rs);
	if (!d.r) {
		k->err = -ENOMEM;
		goto out;
	}
	d.r->family = family_of(nftnl_rule_get_u32(nr, NFTNL_RULE_FAMILY));
	d.r->line = (int)nftnl_rule_get_u64(nr, NFTNL_RULE_HANDLE);
	snprintf(d.r->table, sizeof(d.r->table), "%s", table);
	snprintf(d.r->chain, sizeof(d.r->chain), "%s", chain);
	snprintf(d.r->text, sizeof(d.r->text), "table %s chain %s handle %d",
		 table, chain, d.r->line);
	nftnl_expr_foreach(nr, one_expr, &d);
out:
	nftnl_rule_free(nr);
	return MNL_CB_OK;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	static const enum hook hooks[] = {
		[NF_INET_PRE_ROUTING] = HOOK_PREROUTING,
		[NF_INET_LOCAL_IN] = HOOK_INPUT,
		[NF_INET_FORWARD] = HOOK_FORWARD,
		[NF_INET_LOCAL_OUT] = HOOK_OUTPUT,
		[NF_INET_POST_ROUTING] = HOOK_POSTROUTING,
	};
	struct kctx *k = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct chain_decl *cd;
	const char *table;

	if (!c || nftnl_chain_nlmsg_parse(nlh, c) < 0)
		goto out;
	table = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
	if (!table || !strcmp(table, HP_NFT_TABLE))
		goto out;
	cd = rs_chain(k->rs, family_of(nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY)),
		      table, nftnl_chain_get_str(c, NFTNL_CHAIN_NAME) ?: "", true);
	if (!cd) {
		k->err = -ENOMEM;
		goto out;
	}
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)) {
		uint32_t h = nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);

		cd->hook = h <= NF_INET_POST_ROUTING ? hooks[h] : HOOK_NONE;
		cd->prio = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
		cd->nat = !strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE) ?: "", "nat");
	}
out:
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

/* Dump all chains, then all rules, of every family in this namespace. */
static int read_here(struct hpns_ruleset *rs)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct kctx k = { .rs = rs };
	struct nlmsghdr *nlh;
	struct nl nl;
	int ret = nl_open(&nl, NETLINK_NETFILTER);

	if (ret)
		return ret;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC, 0, 0);
	ret = nl_dump(&nl, nlh, chain_cb, &k);
	if (!ret) {
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_UNSPEC, 0, 0);
		ret = nl_dump(&nl, nlh, rule_cb, &k);
	}
	nl_close(&nl);
	return ret ?: k.err;
}

/*
 * No nf_tables rules: the iptables-legacy tables, as iptables-legacy-save
 * text parsed like a --rules file named `netns:NAME:iptables-legacy`
 * (refusals name the line of that text and the rule).
 */
static int read_legacy(const char *netns, hpns_report_fn report, void *arg,
		       struct hpns_ruleset **out)
{
	char name[300], *text = NULL;
	size_t len = 0;
	int saved, ret = hp_netns_enter(netns, &saved);

	if (ret)
		return ret;
	ret = ns_leave(saved, legacy_dump(&text, &len));
	snprintf(name, sizeof(name), "netns:%s:iptables-legacy", netns);
	if (!ret && text)
		ret = hpns_ruleset_parse(name, text, len, report, arg, out);
	free(text);
	if (!ret && (!*out || !(*out)->nrules)) {
		hpns_ruleset_destroy(*out);
		*out = NULL;
		ret = -ENOENT;
	}
	return ret;
}

int hpns_ruleset_from_netns(const char *netns, hpns_report_fn report,
			    void *arg, struct hpns_ruleset **out)
{
	struct hpns_ruleset *rs = calloc(1, sizeof(*rs));
	int saved, ret;

	*out = NULL;
	if (!rs)
		return -ENOMEM;
	snprintf(rs->name, sizeof(rs->name), "netns:%s", netns);
	ret = hp_netns_enter(netns, &saved);
	if (!ret) {
		ret = read_here(rs);
		ret = ns_leave(saved, ret);
	}
	if (!ret && !rs->nrules) {
		ret = read_legacy(netns, report, arg, out);
		if (ret == -ENOENT)
			report_fmt(report, arg, "%s: no interception rules found "
				   "(nf_tables or iptables-legacy); pass --rules FILE",
				   rs->name);
		hpns_ruleset_destroy(rs);
		return ret;
	}
	if (ret) {
		hpns_ruleset_destroy(rs);
		return ret;
	}
	*out = rs;
	return 0;
}
