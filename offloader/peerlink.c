// SPDX-License-Identifier: GPL-2.0
/* Peer connection plumbing shared by both roles (protocol in peer.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "offloader/agent_int.h"

int agent_peer_send_hello(struct agent *a, int fd)
{
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT;
	Heteropod__Peer__Hello h = HETEROPOD__PEER__HELLO__INIT;

	h.version_min = AGENT_PEER_VERSION_MIN;
	h.version_max = AGENT_PEER_VERSION_MAX;
	h.role = a->o->role == AGENT_ROLE_HOST ? HETEROPOD__PEER__ROLE__ROLE_HOST
					       : HETEROPOD__PEER__ROLE__ROLE_DPU;
	h.node = a->o->node;
	h.agent_version = (char *)"heteropod-agent 0.1";
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_HELLO;
	m.hello = &h;
	return agent_peer_send(fd, &m);
}

void agent_peer_pump(struct agent *a, int fd,
		     void (*handle)(struct agent *a, const agent_peer_msg *m),
		     void (*after)(struct agent *a))
{
	agent_peer_msg *m;
	int ret;

	ret = agent_peer_rx_fill(&a->rx, fd);
	while (!ret && a->peer_fd >= 0 && (ret = agent_peer_rx_next(&a->rx, &m)) > 0) {
		if (!a->peer_hello && m->body_case != HETEROPOD__PEER__PEER_MESSAGE__BODY_HELLO)
			ret = -EPROTO;
		else
			handle(a, m);
		after(a);
		agent_peer_msg_free(m);
		ret = ret > 0 ? 0 : ret;
	}
	if (ret < 0 && a->peer_fd >= 0) {
		hp_warn("peer-down", "reason=\"%s\"", strerror(-ret));
		agent_peer_close(a);
	}
	a->dirty = true;
}

void agent_peer_close(struct agent *a)
{
	size_t i;

	if (a->peer_fd < 0)
		return;
	close(a->peer_fd);
	a->peer_fd = -1;
	a->peer_hello = false;
	a->rx.len = 0;
	agent_placement_connected(&a->place, false, agent_now_ms());
	for (i = 0; i < a->st.n; i++) {
		a->st.pods[i].inflight = 0;	/* answers are lost with the link */
		a->st.pods[i].ports_sig = 0;	/* the port map is re-sent, */
		a->st.pods[i].ports_gen_rx = 0;	/* generations restart with it */
	}
	a->dirty = true;
}

/* ---- port map ---- */

#define MAX_KEYS 256

static uint64_t sig_of(const uint32_t *keys, int n)
{
	uint64_t h = 14695981039346656037ull;
	int i;

	for (i = 0; i < n; i++)
		h = (h ^ keys[i]) * 1099511628211ull;
	return h | 1;	/* never 0 (= nothing sent) */
}

static int send_ports(struct agent *a, struct agent_pod_rec *p, const uint32_t *keys,
		      int n, Heteropod__Peer__Half owner)
{
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT;
	Heteropod__Peer__PortMapUpdate u = HETEROPOD__PEER__PORT_MAP_UPDATE__INIT;
	Heteropod__Peer__PortEntry *e = calloc((size_t)n + 1, sizeof(*e));
	Heteropod__Peer__PortEntry **ep = calloc((size_t)n + 1, sizeof(*ep));
	int i, ret = -ENOMEM;

	if (!e || !ep)
		goto out;
	for (i = 0; i < n; i++) {
		heteropod__peer__port_entry__init(&e[i]);
		e[i].proto = keys[i] >> 16 == IPPROTO_TCP ? HETEROPOD__PEER__PROTO__PROTO_TCP
							  : HETEROPOD__PEER__PROTO__PROTO_UDP;
		e[i].port = keys[i] & 0xffff;
		e[i].owner = owner;
		ep[i] = &e[i];
	}
	u.uid = p->uid;
	u.generation = ++p->ports_gen_tx;
	u.n_entries = (size_t)n;
	u.entries = ep;
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_PORT_MAP;
	m.port_map = &u;
	ret = agent_peer_send(a->peer_fd, &m);
out:
	free(e);
	free(ep);
	return ret;
}

void agent_ports_push(struct agent *a, struct agent_pod_rec *p, const char *netns,
		      Heteropod__Peer__Half owner)
{
	uint32_t keys[MAX_KEYS];
	int n;
	uint64_t sig;

	if (a->peer_fd < 0 || !a->peer_hello)
		return;
	n = agent_ports_listening(netns, keys, MAX_KEYS);
	if (n < 0)
		return;
	sig = sig_of(keys, n);
	if (sig == p->ports_sig)
		return;
	if (send_ports(a, p, keys, n, owner)) {
		agent_peer_close(a);
		return;
	}
	p->ports_sig = sig;
}

static int cmp_key(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The other half's listening set as sorted keys; -EINVAL on a bad entry. */
int agent_ports_keys(const Heteropod__Peer__PortMapUpdate *u, uint32_t *keys,
		     size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < u->n_entries && n < max; i++) {
		const Heteropod__Peer__PortEntry *e = u->entries[i];

		if (!e->port || e->port > 65535 ||
		    (e->proto != HETEROPOD__PEER__PROTO__PROTO_TCP &&
		     e->proto != HETEROPOD__PEER__PROTO__PROTO_UDP))
			return -EINVAL;
		keys[n++] = (uint32_t)(e->proto == HETEROPOD__PEER__PROTO__PROTO_TCP ?
				       IPPROTO_TCP : IPPROTO_UDP) << 16 | e->port;
	}
	qsort(keys, n, sizeof(*keys), cmp_key);
	return (int)n;
}
