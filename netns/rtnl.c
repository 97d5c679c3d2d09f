// SPDX-License-Identifier: GPL-2.0
/* Links, addresses, routes and policy rules over rtnetlink (libmnl). */
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>

#include "netns/rtnl.h"

static struct nlmsghdr *msg(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

static int tolerate(int ret, bool add)
{
	if (add && ret == -EEXIST)
		return 0;
	if (!add && (ret == -ENOENT || ret == -ESRCH || ret == -EADDRNOTAVAIL ||
		     ret == -ENODEV))
		return 0;
	return ret;
}

/*
 * One tx and one rx queue, asked for at creation.  Without them veth
 * allocates one queue per CPU and then shrinks the real count to 1 after
 * registering, and each shrink waits for an expedited RCU grace period
 * under the RTNL lock (netif_set_real_num_tx_queues -> synchronize_net),
 * twice per pair.  The queues in use are the same: one each way.
 */
static void put_one_queue(struct nlmsghdr *nlh)
{
	mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
	mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
}

int rtnl_veth_add(struct nl *nl, const char *name, const char *peer,
		  int peer_nsfd)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct nlattr *linkinfo, *data, *peerinfo;
	struct ifinfomsg *pifi;

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	put_one_queue(nlh);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peerinfo = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	pifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifi));
	pifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	put_one_queue(nlh);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_nsfd);
	mnl_attr_nest_end(nlh, peerinfo);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return tolerate(nl_request(nl, nlh), true);
}

int rtnl_link_del(struct nl *nl, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return tolerate(nl_request(nl, nlh), false);
}

int rtnl_link_up(struct nl *nl, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return nl_request(nl, nlh);
}

static size_t alen(int fam)
{
	return fam == AF_INET6 ? 16 : 4;
}

int rtnl_addr(struct nl *nl, bool add, int fam, const void *a, int plen,
	      int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(buf, add ? RTM_NEWADDR : RTM_DELADDR,
				   add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

	ifa->ifa_family = (uint8_t)fam;
	ifa->ifa_prefixlen = (uint8_t)plen;
	ifa->ifa_index = (uint32_t)ifindex;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	mnl_attr_put(nlh, IFA_LOCAL, alen(fam), a);
	mnl_attr_put(nlh, IFA_ADDRESS, alen(fam), a);
	/* no duplicate address detection: the link is point-to-point */
	if (fam == AF_INET6)
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	return tolerate(nl_request(nl, nlh), add);
}

int rtnl_default_route(struct nl *nl, bool add, int fam, uint32_t table,
		       const void *gw, const void *src, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(buf, add ? RTM_NEWROUTE : RTM_DELROUTE,
				   add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	struct rtmsg *rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));

	rt->rtm_family = (uint8_t)fam;
	rt->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	rt->rtm_protocol = RTPROT_STATIC;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	rt->rtm_flags = RTNH_F_ONLINK;   /* the peer is on the link, no subnet */
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	if (gw)
		mnl_attr_put(nlh, RTA_GATEWAY, alen(fam), gw);
	if (src)
		mnl_attr_put(nlh, RTA_PREFSRC, alen(fam), src);
	if (ifindex > 0)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return tolerate(nl_request(nl, nlh), add);
}

static struct nlmsghdr *rule_msg(char *buf, bool add, int fam, uint32_t pref,
				 uint32_t mark, uint32_t mask, uint32_t table)
{
	struct nlmsghdr *nlh = msg(buf, add ? RTM_NEWRULE : RTM_DELRULE,
				   add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	struct fib_rule_hdr *fr = mnl_nlmsg_put_extra_header(nlh, sizeof(*fr));

	fr->family = (uint8_t)fam;
	fr->action = FR_ACT_TO_TBL;
	fr->table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, pref);
	mnl_attr_put_u32(nlh, FRA_TABLE, table);
	if (mask) {
		mnl_attr_put_u32(nlh, FRA_FWMARK, mark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, mask);
	}
	return nlh;
}

int rtnl_rule_to(struct nl *nl, bool add, int fam, uint32_t pref,
		 const void *dst, uint32_t table)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = rule_msg(buf, add, fam, pref, 0, 0, table);
	struct fib_rule_hdr *fr = mnl_nlmsg_get_payload(nlh);

	fr->dst_len = (uint8_t)(alen(fam) * 8);
	mnl_attr_put(nlh, FRA_DST, alen(fam), dst);
	return tolerate(nl_request(nl, nlh), add);
}

int rtnl_rule(struct nl *nl, bool add, int fam, uint32_t pref,
	      uint32_t mark, uint32_t mask, uint32_t table)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	return tolerate(nl_request(nl, rule_msg(buf, add, fam, pref, mark,
						mask, table)), add);
}

struct rule_find {
	uint32_t pref, table;
	int found;
};

static int rule_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (type <= FRA_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[FRA_MAX + 1] = { 0 };
	struct rule_find *f = data;
	const struct fib_rule_hdr *fr = mnl_nlmsg_get_payload(nlh);
	uint32_t pref, table;

	mnl_attr_parse(nlh, sizeof(*fr), rule_attr, tb);
	pref = tb[FRA_PRIORITY] ? mnl_attr_get_u32(tb[FRA_PRIORITY]) : 0;
	table = tb[FRA_TABLE] ? mnl_attr_get_u32(tb[FRA_TABLE]) : fr->table;
	if (pref == f->pref && table == f->table && !tb[FRA_FWMARK])
		f->found = 1;
	return MNL_CB_OK;
}

int rtnl_rule_exists(struct nl *nl, int fam, uint32_t pref, uint32_t table)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(buf, RTM_GETRULE, 0);
	struct fib_rule_hdr *fr = mnl_nlmsg_put_extra_header(nlh, sizeof(*fr));
	struct rule_find f = { .pref = pref, .table = table };
	int ret;

	fr->family = (uint8_t)fam;
	ret = nl_dump(nl, nlh, rule_cb, &f);
	return ret ? ret : f.found;
}

static void put_vxlan(struct nlmsghdr *nlh, const struct hpns_tunnel *t,
		      uint16_t port)
{
	bool v6 = t->local.has_v6 && !t->local.has_v4;

	mnl_attr_put_u32(nlh, IFLA_VXLAN_ID, t->vni);
	if (v6) {
		mnl_attr_put(nlh, IFLA_VXLAN_GROUP6, 16, &t->remote.v6);
		mnl_attr_put(nlh, IFLA_VXLAN_LOCAL6, 16, &t->local.v6);
	} else {
		mnl_attr_put(nlh, IFLA_VXLAN_GROUP, 4, &t->remote.v4);
		mnl_attr_put(nlh, IFLA_VXLAN_LOCAL, 4, &t->local.v4);
	}
	mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(port));
	mnl_attr_put_u8(nlh, IFLA_VXLAN_LEARNING, 0);  /* one peer, fixed */
}

static void put_geneve(struct nlmsghdr *nlh, const struct hpns_tunnel *t,
		       uint16_t port)
{
	bool v6 = t->remote.has_v6 && !t->remote.has_v4;

	mnl_attr_put_u32(nlh, IFLA_GENEVE_ID, t->vni);
	if (v6)
		mnl_attr_put(nlh, IFLA_GENEVE_REMOTE6, 16, &t->remote.v6);
	else
		mnl_attr_put(nlh, IFLA_GENEVE_REMOTE, 4, &t->remote.v4);
	mnl_attr_put_u16(nlh, IFLA_GENEVE_PORT, htons(port));
}

/*
 * A fixed MAC per (VNI, this PU's address): an end re-created after a
 * fallback or a crash keeps the address the other half's neighbour cache
 * holds, so traffic resumes at once instead of after the entry goes stale.
 * Locally administered unicast (02:...).
 */
static void tunnel_mac(const struct hpns_tunnel *t, uint8_t mac[6])
{
	const uint8_t *p = t->local.has_v6 && !t->local.has_v4 ?
			   (const uint8_t *)&t->local.v6 : (const uint8_t *)&t->local.v4;
	size_t n = t->local.has_v6 && !t->local.has_v4 ? 16 : 4, i;
	uint64_t h = 14695981039346656037ull;

	for (i = 0; i < 4; i++)
		h = (h ^ ((t->vni >> (8 * i)) & 0xff)) * 1099511628211ull;
	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	mac[0] = 0x02;
	for (i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
}

int rtnl_tunnel_add(struct nl *nl, const char *name,
		    const struct hpns_tunnel *t, int mtu, int dst_nsfd)
{
	uint8_t mac[6];
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	bool geneve = t->kind == HPNS_LINK_GENEVE;
	uint16_t port = t->dstport ? t->dstport : geneve ? 6081 : 4789;
	struct nlattr *linkinfo, *data;

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)dst_nsfd);
	tunnel_mac(t, mac);
	mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(mac), mac);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, geneve ? "geneve" : "vxlan");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	if (geneve)
		put_geneve(nlh, t, port);
	else
		put_vxlan(nlh, t, port);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return nl_request(nl, nlh);
}

struct addr_find {
	int fam;
	const void *a;
	int ifindex;
};

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_find *f = data;
	const struct nlattr *a;

	if (ifa->ifa_family != f->fam)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		int type = mnl_attr_get_type(a);

		if ((type == IFA_LOCAL || type == IFA_ADDRESS) &&
		    mnl_attr_get_payload_len(a) == alen(f->fam) &&
		    !memcmp(mnl_attr_get_payload(a), f->a, alen(f->fam)))
			f->ifindex = (int)ifa->ifa_index;
	}
	return MNL_CB_OK;
}

int rtnl_addr_ifindex(struct nl *nl, int fam, const void *a)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(buf, RTM_GETADDR, 0);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct addr_find f = { .fam = fam, .a = a };
	int ret;

	ifa->ifa_family = (uint8_t)fam;
	ret = nl_dump(nl, nlh, addr_cb, &f);
	if (ret)
		return ret;
	return f.ifindex ? f.ifindex : -EADDRNOTAVAIL;
}

/* Host addresses (/32, /128, universe scope) of one link, collected by a
 * dump and deleted after it (no request may interleave with a dump). */
struct host_addrs {
	int ifindex;
	size_t n;
	struct {
		int fam;
		uint8_t a[16];
	} addr[16];
};

static int host_addr_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct host_addrs *h = data;
	const struct nlattr *a;
	int fam = ifa->ifa_family;

	if ((int)ifa->ifa_index != h->ifindex || ifa->ifa_scope != RT_SCOPE_UNIVERSE ||
	    ifa->ifa_prefixlen != (fam == AF_INET6 ? 128 : 32) ||
	    h->n == sizeof(h->addr) / sizeof(h->addr[0]))
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_type(a) != IFA_LOCAL && mnl_attr_get_type(a) != IFA_ADDRESS)
			continue;
		if (mnl_attr_get_payload_len(a) != alen(fam))
			continue;
		h->addr[h->n].fam = fam;
		memcpy(h->addr[h->n].a, mnl_attr_get_payload(a), alen(fam));
		h->n++;
		break;
	}
	return MNL_CB_OK;
}

int rtnl_addr_flush_host(struct nl *nl, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(buf, RTM_GETADDR, 0);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct host_addrs h = { .ifindex = ifindex };
	int ret;

	ifa->ifa_family = AF_UNSPEC;
	ret = nl_dump(nl, nlh, host_addr_cb, &h);
	for (size_t i = 0; !ret && i < h.n; i++)
		ret = rtnl_addr(nl, false, h.addr[i].fam, h.addr[i].a,
				h.addr[i].fam == AF_INET6 ? 128 : 32, ifindex);
	return ret;
}

struct mtu_find {
	int ifindex, mtu;
};

/* A dump lists every link: take the one asked for. */
static int mtu_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct mtu_find *f = data;
	const struct nlattr *a;

	if (ifi->ifi_index != f->ifindex)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifi))
		if (mnl_attr_get_type(a) == IFLA_MTU)
			f->mtu = (int)mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

int rtnl_link_mtu(struct nl *nl, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg(buf, RTM_GETLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct mtu_find f = { .ifindex = ifindex };
	int ret;

	ifi->ifi_family = AF_UNSPEC;
	ret = nl_dump(nl, nlh, mtu_cb, &f);
	if (ret)
		return ret;
	return f.mtu > 0 ? f.mtu : -ENODEV;
}
