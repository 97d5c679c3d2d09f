// SPDX-License-Identifier: GPL-2.0
/*
 * The port map.  Each half holds, in sets peer_tcp/peer_udp of its
 * heteropod table, the ports the *other* half owns; connections to the pod
 * IP on those ports cross the link.  The map is the union of both halves'
 * sets.  hpns_ports_sync() adds what sock_diag shows listening in a half
 * and is not yet mapped (those elements carry the comment "sync"), and
 * removes the "sync" elements whose port no longer listens in the half
 * that owned it.  Ports declared otherwise (the proxy's ports from the
 * rules, hpns_ports_set()) stay until hpns_ports_set() moves them.
 */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netns/nl.h"

#define MAX_PORTS 1024

static const char *set_name(uint8_t proto)
{
	return proto == IPPROTO_TCP ? "peer_tcp" : "peer_udp";
}

/* Ports in @ns's set for @proto. */
static int ns_get_synced(const char *ns, uint8_t proto, uint16_t *ports,
			 bool *synced, size_t max)
{
	int saved, ret = hp_netns_enter(ns, &saved);

	if (ret)
		return ret;
	ret = nft_get_ports(set_name(proto), ports, synced, max);
	return ns_leave(saved, ret);
}

static int ns_get(const char *ns, uint8_t proto, uint16_t *ports, size_t max)
{
	return ns_get_synced(ns, proto, ports, NULL, max);
}

static int ns_set_synced(const char *ns, uint8_t proto, const uint16_t *ports,
			 size_t n, bool add, bool synced)
{
	int saved, ret = hp_netns_enter(ns, &saved);

	if (ret)
		return ret;
	ret = nft_set_ports(set_name(proto), ports, n, add, synced);
	return ns_leave(saved, ret);
}

static int ns_set(const char *ns, uint8_t proto, const uint16_t *ports,
		  size_t n, bool add)
{
	return ns_set_synced(ns, proto, ports, n, add, false);
}

static int cmp_port(const void *a, const void *b)
{
	const struct hpns_port *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto - y->proto;
	return (int)x->port - (int)y->port;
}

int hpns_ports_list(const char *cpu_ns, const char *dpu_ns,
		    struct hpns_port **out, size_t *n)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	struct hpns_port *p = calloc(4 * MAX_PORTS, sizeof(*p));
	uint16_t buf[MAX_PORTS];
	size_t k = 0;

	if (!p)
		return -ENOMEM;
	for (int h = 0; h < 2; h++) {
		for (int i = 0; i < 2; i++) {
			/* a half's set lists what the other half owns */
			int m = ns_get(h ? dpu_ns : cpu_ns, protos[i], buf, MAX_PORTS);

			if (m < 0) {
				free(p);
				return m;
			}
			for (int j = 0; j < m; j++)
				p[k++] = (struct hpns_port){
					.proto = protos[i], .port = buf[j],
					.owner = h ? HPNS_HALF_CPU : HPNS_HALF_DPU,
				};
		}
	}
	qsort(p, k, sizeof(*p), cmp_port);
	*out = p;
	*n = k;
	return 0;
}

int hpns_ports_set(const char *cpu_ns, const char *dpu_ns,
		   const struct hpns_port *p)
{
	bool dpu = p->owner == HPNS_HALF_DPU;
	int ret = ns_set(dpu ? cpu_ns : dpu_ns, p->proto, &p->port, 1, true);
	int del;

	if (ret)
		return ret;
	del = ns_set(dpu ? dpu_ns : cpu_ns, p->proto, &p->port, 1, false);
	return del == -ENOENT ? 0 : del;
}

struct scan {
	uint16_t *ports;
	size_t n, max;
	bool udp;
};

static int diag_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct scan *s = data;
	uint16_t port = ntohs(m->id.idiag_sport);

	if (s->udp && m->id.idiag_dport)
		return MNL_CB_OK;     /* a connected client socket */
	for (size_t i = 0; i < s->n; i++)
		if (s->ports[i] == port)
			return MNL_CB_OK;
	if (s->n < s->max && port)
		s->ports[s->n++] = port;
	return MNL_CB_OK;
}

/* Listening TCP or bound UDP ports of the current namespace. */
static int scan_here(uint8_t proto, struct scan *s)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nl nl;
	int ret = nl_open(&nl, NETLINK_SOCK_DIAG);

	if (ret)
		return ret;
	s->udp = proto == IPPROTO_UDP;
	for (int fam = AF_INET; !ret && fam <= AF_INET6; fam += AF_INET6 - AF_INET) {
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		struct inet_diag_req_v2 *req;

		nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
		req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
		req->sdiag_family = (uint8_t)fam;
		req->sdiag_protocol = proto;
		req->idiag_states = s->udp ? ~0u : 1u << TCP_LISTEN;
		ret = nl_dump(&nl, nlh, diag_cb, s);
	}
	nl_close(&nl);
	return ret;
}

static int scan_ns(const char *ns, uint8_t proto, struct scan *s)
{
	int saved, ret = hp_netns_enter(ns, &saved);

	if (ret)
		return ret;
	ret = scan_here(proto, s);
	return ns_leave(saved, ret);
}

static bool contains(const uint16_t *a, int n, uint16_t v)
{
	for (int i = 0; i < n; i++)
		if (a[i] == v)
			return true;
	return false;
}

/*
 * Ports listening in @owner_ns missing from @peer_ns's set: add them
 * (marked "sync"); or (@remove) the "sync" ports of that set no longer
 * listening in @owner_ns: remove them.  Returns the number of changes.
 */
static int sync_one(const char *owner_ns, const char *peer_ns,
		    const char *other_owner_ns, uint8_t proto, bool remove)
{
	uint16_t listen[MAX_PORTS], mapped[MAX_PORTS], theirs[MAX_PORTS];
	uint16_t add[MAX_PORTS], del[MAX_PORTS];
	bool synced[MAX_PORTS];
	struct scan s = { .ports = listen, .max = MAX_PORTS };
	int nm, nt, ret = scan_ns(owner_ns, proto, &s);
	size_t na = 0, nd = 0;

	if (ret)
		return ret;
	nm = ns_get_synced(peer_ns, proto, mapped, synced, MAX_PORTS);
	if (nm < 0)
		return nm;
	/* ports the other half owns already stay there */
	nt = ns_get(other_owner_ns, proto, theirs, MAX_PORTS);
	if (nt < 0)
		return nt;
	for (size_t i = 0; !remove && i < s.n; i++)
		if (!contains(mapped, nm, listen[i]) && !contains(theirs, nt, listen[i]))
			add[na++] = listen[i];
	for (int i = 0; remove && i < nm; i++)
		if (synced[i] && !contains(listen, (int)s.n, mapped[i]))
			del[nd++] = mapped[i];
	ret = ns_set_synced(peer_ns, proto, add, na, true, true);
	ret = ret ?: ns_set(peer_ns, proto, del, nd, false);
	return ret ? ret : (int)(na + nd);
}

int hpns_ports_sync(const char *cpu_ns, const char *dpu_ns)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	int total = 0;

	/* removals first, so that a port that moved is added on its new side */
	for (int r = 1; r >= 0; r--) {
		for (int i = 0; i < 2; i++) {
			/* DPU listeners go to the CPU's set and vice versa */
			int a = sync_one(dpu_ns, cpu_ns, dpu_ns, protos[i], r);
			int b = a < 0 ? a : sync_one(cpu_ns, dpu_ns, cpu_ns, protos[i], r);

			if (b < 0)
				return b;
			total += a + b;
		}
	}
	return total;
}

/* --- one half alone (a PU sees only its own half) ----------------------- */

static bool proto_ok(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

int hpns_half_ports_get(const char *netns, uint8_t proto, uint16_t *ports,
			size_t max)
{
	return proto_ok(proto) ? ns_get(netns, proto, ports, max) : -EINVAL;
}

int hpns_half_ports_set(const char *netns, uint8_t proto,
			const uint16_t *ports, size_t n, bool add)
{
	return proto_ok(proto) ? ns_set(netns, proto, ports, n, add) : -EINVAL;
}

int hpns_half_listening(const char *netns, uint8_t proto, uint16_t *ports,
			size_t max)
{
	struct scan s = { .ports = ports, .max = max };
	int ret;

	if (!proto_ok(proto))
		return -EINVAL;
	ret = scan_ns(netns, proto, &s);
	return ret ? ret : (int)s.n;
}
