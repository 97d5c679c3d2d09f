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

/*
 * Delete @port from @ns's set if it is there.  Looked up first: deleting an
 * absent element fails the batch, and the abort waits for an expedited RCU
 * grace period (nf_tables_abort -> synchronize_rcu_expedited), while the
 * lookup is one plain round trip; a new port is absent from both halves.
 */
static int ns_unset(const char *ns, uint8_t proto, uint16_t port)
{
	int saved, ret = hp_netns_enter(ns, &saved);

	if (ret)
		return ret;
	ret = nft_has_port(set_name(proto), port);
	if (ret == 1)
		ret = nft_set_ports(set_name(proto), &port, 1, false, false);
	if (ret == -ENOENT)   /* gone meanwhile */
		ret = 0;
	return ns_leave(saved, ret);
}

int hpns_ports_set(const char *cpu_ns, const char *dpu_ns,
		   const struct hpns_port *p)
{
	bool dpu = p->owner == HPNS_HALF_DPU;
	int ret = ns_set(dpu ? cpu_ns : dpu_ns, p->proto, &p->port, 1, true);

	return ret ?: ns_unset(dpu ? dpu_ns : cpu_ns, p->proto, p->port);
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
 * One half during a sync: what listens there, and its set (the ports the
 * other half owns) with the "sync" flag of each element.
 */
struct view {
	uint16_t listen[MAX_PORTS], set[MAX_PORTS];
	bool synced[MAX_PORTS], gone[MAX_PORTS];
	size_t nlisten;
	int nset;
};

static int view_load(const char *ns, uint8_t proto, struct view *v)
{
	struct scan s = { .ports = v->listen, .max = MAX_PORTS };
	int ret = scan_ns(ns, proto, &s);

	v->nlisten = s.n;
	v->nset = ret ? ret : ns_get_synced(ns, proto, v->set, v->synced, MAX_PORTS);
	memset(v->gone, 0, sizeof(v->gone));
	return v->nset < 0 ? v->nset : 0;
}

/* "sync" ports of @h's set no longer listening in @o (their owner). */
static size_t stale(struct view *h, const struct view *o, uint16_t *del)
{
	size_t n = 0;

	for (int i = 0; i < h->nset; i++) {
		h->gone[i] = h->synced[i] &&
			     !contains(o->listen, (int)o->nlisten, h->set[i]);
		if (h->gone[i])
			del[n++] = h->set[i];
	}
	return n;
}

static bool in_set(const struct view *v, uint16_t port)
{
	for (int i = 0; i < v->nset; i++)
		if (v->set[i] == port && !v->gone[i])
			return true;
	return false;
}

/*
 * Ports listening in @o mapped nowhere (after the removals): add to @h's
 * set, and to @h's view (a port listening in both halves goes to the
 * first half that claims it: the DPU, whose listeners are added first).
 */
static size_t fresh(struct view *h, const struct view *o, uint16_t *add)
{
	size_t n = 0;

	for (size_t i = 0; i < o->nlisten && h->nset < MAX_PORTS; i++) {
		if (in_set(h, o->listen[i]) || in_set(o, o->listen[i]))
			continue;
		add[n++] = o->listen[i];
		h->gone[h->nset] = false;
		h->set[h->nset++] = o->listen[i];
	}
	return n;
}

/*
 * One protocol: both halves are read once; removals go first, so a port
 * whose listener moved to the other half changes sides in one sync.
 */
static int sync_proto(const char *cpu_ns, const char *dpu_ns, uint8_t proto)
{
	const char *ns[2] = { cpu_ns, dpu_ns };
	struct view *v = calloc(2, sizeof(*v));
	uint16_t *p = calloc(MAX_PORTS, sizeof(*p));
	int ret = v && p ? 0 : -ENOMEM, total = 0;

	for (int h = 0; !ret && h < 2; h++)
		ret = view_load(ns[h], proto, &v[h]);
	for (int h = 0; !ret && h < 2; h++) {
		size_t n = stale(&v[h], &v[!h], p);

		ret = ns_set(ns[h], proto, p, n, false);
		total += (int)n;
	}
	for (int h = 0; !ret && h < 2; h++) {
		size_t n = fresh(&v[h], &v[!h], p);

		ret = ns_set_synced(ns[h], proto, p, n, true, true);
		total += (int)n;
	}
	free(v);
	free(p);
	return ret ? ret : total;
}

int hpns_ports_sync(const char *cpu_ns, const char *dpu_ns)
{
	int a = sync_proto(cpu_ns, dpu_ns, IPPROTO_TCP);
	int b = a < 0 ? a : sync_proto(cpu_ns, dpu_ns, IPPROTO_UDP);

	return b < 0 ? b : a + b;
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
