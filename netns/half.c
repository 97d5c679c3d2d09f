// SPDX-License-Identifier: GPL-2.0
/*
 * Per-half configuration: the primitive a host/DPU pair calls once on each
 * side.  Order matters for crash safety: the nftables table goes in first
 * (one batch, carrying the pre-split state as its comment), then routing
 * and sysctls; unconfigure undoes routing first and deletes the table
 * last, so a crash at any point leaves the state needed to finish.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns/rtnl.h"

#define RT_LOCAL 255
#define RT_MAIN 254

/*
 * Both halves source connections from the pod IP; the CPU half forwards
 * the DPU half's, so equal tuples would clash in its conntrack.  The DPU
 * half takes ephemeral ports above the kernel's default range (32768-60999)
 * the CPU half keeps.
 */
#define DPU_PORT_LO 61000
#define DPU_PORT_HI 65535
#define PORT_RANGE "net/ipv4/ip_local_port_range"

/* What a half looked like before heteropod; stored in the table comment. */
struct prior {
	int dpu;
	int fwd4, fwd6, rp_all;
	int local4, local6;   /* the local-table rule was at pref 0 */
	int port_lo, port_hi;
	char peer4[INET_ADDRSTRLEN];   /* the link peer, "-" if none */
	int made;             /* heteropod created the link (a tunnel) */
};

static void prior_format(const struct prior *p, char *buf, size_t size)
{
	snprintf(buf, size, "hp1 dpu=%d fwd4=%d fwd6=%d rpall=%d local4=%d "
		 "local6=%d ports=%d-%d peer4=%s made=%d", p->dpu, p->fwd4,
		 p->fwd6, p->rp_all, p->local4, p->local6, p->port_lo,
		 p->port_hi, p->peer4, p->made);
}

/* "made=" is absent in comments written before tunnels existed. */
static int prior_parse(const char *s, struct prior *p)
{
	int n;

	p->made = 0;
	n = sscanf(s, "hp1 dpu=%d fwd4=%d fwd6=%d rpall=%d local4=%d "
		   "local6=%d ports=%d-%d peer4=%15s made=%d", &p->dpu, &p->fwd4,
		   &p->fwd6, &p->rp_all, &p->local4, &p->local6, &p->port_lo,
		   &p->port_hi, p->peer4, &p->made);
	return n == 9 || n == 10 ? 0 : -EINVAL;
}

static int port_range_get(int *lo, int *hi)
{
	char buf[64];
	int ret = sysctl_get_str(PORT_RANGE, buf, sizeof(buf));

	if (!ret && sscanf(buf, "%d %d", lo, hi) != 2)
		ret = -EINVAL;
	return ret;
}

static int port_range_set(int lo, int hi)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%d %d", lo, hi);
	return sysctl_set_str(PORT_RANGE, buf);
}

/* Read the prior state: from a previous split's table, else from now.
 * *table: whether a heteropod table is there (to replace). */
static int prior_get(struct nl *nl, struct nl *nf,
		     const struct hpns_half_conf *c, struct prior *p,
		     bool *table)
{
	char buf[256];
	int ret = nft_comment_on(nf, buf, sizeof(buf));

	*table = ret != -ENOENT;
	if (!ret && !prior_parse(buf, p))
		return 0;
	if (ret && ret != -ENOENT)
		return ret;
	memset(p, 0, sizeof(*p));
	p->dpu = c->half == HPNS_HALF_DPU;
	strcpy(p->peer4, "-");
	if (c->peer.has_v4)
		inet_ntop(AF_INET, &c->peer.v4, p->peer4, sizeof(p->peer4));
	sysctl_get("net/ipv4/ip_forward", &p->fwd4);
	sysctl_get("net/ipv6/conf/all/forwarding", &p->fwd6);
	sysctl_get("net/ipv4/conf/all/rp_filter", &p->rp_all);
	p->local4 = rtnl_rule_exists(nl, AF_INET, 0, RT_LOCAL) == 1;
	p->local6 = rtnl_rule_exists(nl, AF_INET6, 0, RT_LOCAL) == 1;
	return port_range_get(&p->port_lo, &p->port_hi);
}

static const void *addr_of(const struct hpns_addrs *a, int fam)
{
	return fam == AF_INET6 ? (const void *)&a->v6 : (const void *)&a->v4;
}

static bool has(const struct hpns_addrs *a, int fam)
{
	return fam == AF_INET6 ? a->has_v6 : a->has_v4;
}

/*
 * Policy routing of one family: fwmark FW -> HP_TABLE (default via the
 * peer on the link), and the local-table rule moved below it so that
 * marked packets for the pod IP (local in both halves) cross the link.
 */
static int route_family(struct nl *nl, const struct hpns_half_conf *c,
			int fam, int ifindex)
{
	bool dpu = c->half == HPNS_HALF_DPU;
	const void *peer = addr_of(&c->peer, fam);
	int plen = fam == AF_INET6 ? 128 : 32;
	int ret = rtnl_addr(nl, true, fam, addr_of(&c->local, fam), plen, ifindex);

	if (!ret && dpu)
		ret = rtnl_addr(nl, true, fam, addr_of(&c->pod, fam), plen, ifindex);
	if (!ret)
		ret = rtnl_default_route(nl, true, fam, HP_TABLE, peer, NULL, ifindex);
	if (!ret && dpu)   /* the proxy's own connections leave via the CPU */
		ret = rtnl_default_route(nl, true, fam, RT_MAIN, peer,
					 addr_of(&c->pod, fam), ifindex);
	if (!ret)
		ret = rtnl_rule(nl, true, fam, HP_RULE_PREF, HP_FW, HP_FW, HP_TABLE);
	/* replies to loopback direct calls (source rewritten to the peer's
	 * link address) leave from 127.0.0.1: route them before any hook */
	if (!ret && fam == AF_INET)
		ret = rtnl_rule_to(nl, true, fam, HP_RULE_PREF + 1, peer, HP_TABLE);
	if (!ret)
		ret = rtnl_rule(nl, true, fam, HP_LOCAL_PREF, 0, 0, RT_LOCAL);
	if (!ret)
		ret = rtnl_rule(nl, false, fam, 0, 0, 0, RT_LOCAL);
	return ret;
}

static int link_sysctls(const char *link, bool cpu, const struct hpns_half_conf *c)
{
	char p[128];
	int ret;

	snprintf(p, sizeof(p), "net/ipv4/conf/%s/rp_filter", link);
	ret = sysctl_set(p, 0);
	snprintf(p, sizeof(p), "net/ipv4/conf/%s/accept_local", link);
	ret = ret ?: sysctl_set(p, 1);
	/* 127.0.0.1:P direct calls to the other half cross this link */
	snprintf(p, sizeof(p), "net/ipv4/conf/%s/route_localnet", link);
	ret = ret ?: sysctl_set(p, 1);
	ret = ret ?: sysctl_set("net/ipv4/conf/all/rp_filter", 0);
	if (cpu && c->pod.has_v4)
		ret = ret ?: sysctl_set("net/ipv4/ip_forward", 1);
	if (cpu && c->pod.has_v6)
		ret = ret ?: sysctl_set("net/ipv6/conf/all/forwarding", 1);
	if (!cpu)
		ret = ret ?: port_range_set(DPU_PORT_LO, DPU_PORT_HI);
	return ret;
}

static int configure_here(const struct hpns_half_conf *c,
			  const struct hpns_redo *redo)
{
	char comment[256];
	struct prior prior;
	struct nl nl, nf;
	int ifindex = (int)if_nametoindex(c->link), ret;
	bool table;

	if (!ifindex)
		return -ENODEV;
	ret = nl_open(&nl, NETLINK_ROUTE);
	if (ret)
		return ret;
	ret = nl_open(&nf, NETLINK_NETFILTER);
	if (ret) {
		nl_close(&nl);
		return ret;
	}
	ret = prior_get(&nl, &nf, c, &prior, &table);
	if (c->tunnel.kind != HPNS_LINK_EXISTING)
		prior.made = 1;
	prior_format(&prior, comment, sizeof(comment));
	ret = ret ?: nft_install(&nf, redo, comment, table);
	nl_close(&nf);
	ret = ret ?: rtnl_link_up(&nl, ifindex);
	for (int fam = AF_INET; !ret && fam <= AF_INET6; fam += AF_INET6 - AF_INET)
		if (has(&c->pod, fam) && has(&c->local, fam) && has(&c->peer, fam))
			ret = route_family(&nl, c, fam, ifindex);
	ret = ret ?: link_sysctls(c->link, c->half == HPNS_HALF_CPU, c);
	nl_close(&nl);
	return ret;
}

int hpns_link_kind_parse(const char *text, enum hpns_link_kind *out)
{
	if (!strcmp(text, "veth"))
		*out = HPNS_LINK_EXISTING;
	else if (!strcmp(text, "geneve"))
		*out = HPNS_LINK_GENEVE;
	else if (!strcmp(text, "vxlan"))
		*out = HPNS_LINK_VXLAN;
	else
		return -EINVAL;
	return 0;
}

/* One underlay family, the same at both ends; a 24-bit VNI. */
static bool tunnel_valid(const struct hpns_tunnel *t)
{
	bool v4 = t->local.has_v4 && t->remote.has_v4;
	bool v6 = t->local.has_v6 && t->remote.has_v6;

	if (t->kind != HPNS_LINK_GENEVE && t->kind != HPNS_LINK_VXLAN)
		return false;
	if (t->local.has_v4 + t->local.has_v6 != 1 || v4 == v6)
		return false;
	return t->vni >= 1 && t->vni <= 0xffffff && t->mtu >= 0;
}

/* The device carrying the interconnect address, minus the encapsulation
 * (outer IP + UDP + GENEVE/VXLAN header + inner Ethernet). */
static int tunnel_mtu(struct nl *nl, const struct hpns_tunnel *t)
{
	int fam = t->local.has_v4 ? AF_INET : AF_INET6;
	int ifindex, mtu;

	if (t->mtu)
		return t->mtu;
	ifindex = rtnl_addr_ifindex(nl, fam, addr_of(&t->local, fam));
	if (ifindex < 0)
		return ifindex;
	mtu = rtnl_link_mtu(nl, ifindex);
	if (mtu < 0)
		return mtu;
	mtu -= (fam == AF_INET6 ? 40 : 20) + 8 + 8 + 14;
	return mtu >= 1280 || (fam == AF_INET && mtu >= 576) ? mtu : -EMSGSIZE;
}

/*
 * Create the tunnel from the calling thread's namespace straight into the
 * half.  1 when created, 0 when the half has a link of that name already
 * (an earlier configure), -errno.
 */
static int tunnel_create(const struct hpns_half_conf *c)
{
	int fd, mtu, ret;
	struct nl nl;

	if (!tunnel_valid(&c->tunnel))
		return -EINVAL;
	fd = hp_netns_open(c->netns);
	if (fd < 0)
		return fd;
	ret = nl_open(&nl, NETLINK_ROUTE);
	if (!ret) {
		mtu = tunnel_mtu(&nl, &c->tunnel);
		ret = mtu < 0 ? mtu : rtnl_tunnel_add(&nl, c->link, &c->tunnel, mtu, fd);
		nl_close(&nl);
	}
	close(fd);
	if (ret == -EEXIST)
		return 0;
	return ret ? ret : 1;
}

static int link_delete(const char *netns, const char *link)
{
	struct nl nl;
	int saved, ret = hp_netns_enter(netns, &saved);

	if (ret)
		return ret;
	ret = nl_open(&nl, NETLINK_ROUTE);
	if (!ret) {
		ret = rtnl_link_del(&nl, link);
		nl_close(&nl);
	}
	return ns_leave(saved, ret);
}

int hpns_half_configure(const struct hpns_half_conf *conf,
			const struct hpns_redo *redo)
{
	int saved, ret, made = 0;

	if (!conf->netns || !conf->link || !redo || redo->half != conf->half)
		return -EINVAL;
	if (conf->tunnel.kind != HPNS_LINK_EXISTING) {
		made = tunnel_create(conf);
		if (made < 0)
			return made;
	}
	ret = hp_netns_enter(conf->netns, &saved);
	if (ret)
		goto out;
	ret = ns_leave(saved, configure_here(conf, redo));
out:
	if (ret && made)   /* created just now: leave no device behind */
		link_delete(conf->netns, conf->link);
	return ret;
}

/* Undo route_family() for one family, whatever part of it happened. */
static int unroute_family(struct nl *nl, int fam, bool restore_local,
			  const char *peer4)
{
	struct in_addr peer;
	int ret = 0;

	if (fam == AF_INET && peer4 && inet_pton(AF_INET, peer4, &peer) == 1)
		ret = rtnl_rule_to(nl, false, fam, HP_RULE_PREF + 1, &peer, HP_TABLE);
	if (!ret && restore_local)
		ret = rtnl_rule(nl, true, fam, 0, 0, 0, RT_LOCAL);
	if (!ret && (restore_local || rtnl_rule_exists(nl, fam, 0, RT_LOCAL) == 1))
		ret = rtnl_rule(nl, false, fam, HP_LOCAL_PREF, 0, 0, RT_LOCAL);
	ret = ret ?: rtnl_rule(nl, false, fam, HP_RULE_PREF, HP_FW, HP_FW, HP_TABLE);
	ret = ret ?: rtnl_default_route(nl, false, fam, HP_TABLE, NULL, NULL, 0);
	return ret;
}

static int unconfigure_here(const char *link)
{
	char buf[256], p[128];
	struct prior prior;
	struct nl nl;
	int ret = nl_open(&nl, NETLINK_ROUTE), have, ifindex;

	if (ret)
		return ret;
	have = nft_comment(buf, sizeof(buf)) == 0 && prior_parse(buf, &prior) == 0;
	ret = unroute_family(&nl, AF_INET, have && prior.local4,
			     have ? prior.peer4 : NULL);
	ret = ret ?: unroute_family(&nl, AF_INET6, have && prior.local6, NULL);
	if (!ret && have) {
		sysctl_set("net/ipv4/ip_forward", prior.fwd4);
		sysctl_set("net/ipv6/conf/all/forwarding", prior.fwd6);
		sysctl_set("net/ipv4/conf/all/rp_filter", prior.rp_all);
		port_range_set(prior.port_lo, prior.port_hi);
		snprintf(p, sizeof(p), "net/ipv4/conf/%s/accept_local", link);
		sysctl_set(p, 0);   /* absent once the link is gone: fine */
	}
	/* a tunnel we made goes before the table that records it; on a link
	 * someone else made, take back the host addresses configure added */
	if (!ret && have && prior.made)
		ret = rtnl_link_del(&nl, link);
	else if (!ret && have && (ifindex = (int)if_nametoindex(link)))
		ret = rtnl_addr_flush_host(&nl, ifindex);
	ret = ret ?: nft_remove();
	nl_close(&nl);
	return ret;
}

int hpns_half_unconfigure(const char *netns, const char *link)
{
	int saved, ret;

	if (!netns || !link)
		return -EINVAL;
	ret = hp_netns_enter(netns, &saved);
	if (ret)
		return ret;
	ret = unconfigure_here(link);
	return ns_leave(saved, ret);
}
