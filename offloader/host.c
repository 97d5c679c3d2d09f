// SPDX-License-Identifier: GPL-2.0
/*
 * Host role: learns enrolled pods from istio-cni (ZDS relay) or from local
 * manifests, classifies them, asks the dpu role for DPU halves while the
 * DPU is healthy and has room, and falls back to the CPU when it is not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faas/chain.h"
#include "lib/json.h"
#include "lib/log.h"
#include "offloader/agent_int.h"
#include "offloader/allow.h"

static void pod_ips(json_t *pod, char **ips, size_t *n)
{
	json_t *it;
	size_t i;

	*n = 0;
	json_array_foreach(hp_json_get(pod, "status", "podIPs", NULL), i, it) {
		const char *ip = hp_json_str(it, "ip", NULL);

		if (ip && *n < 4)
			ips[(*n)++] = (char *)ip;
	}
}

/* "IPv4[,IPv6]" for libhpnetns (first address of each family). */
static void pod_ips_text(json_t *pod, char *buf, size_t n)
{
	char *ips[4], *v4 = NULL, *v6 = NULL;
	size_t k, i;

	pod_ips(pod, ips, &k);
	for (i = 0; i < k; i++) {
		if (strchr(ips[i], ':') && !v6)
			v6 = ips[i];
		else if (!strchr(ips[i], ':') && !v4)
			v4 = ips[i];
	}
	snprintf(buf, n, "%s%s%s", v4 ?: "", v4 && v6 ? "," : "", v6 ?: "");
}

static void sock_addrs(int fd, char *local, char *remote, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	void *a;

	local[0] = remote[0] = '\0';
	if (!getsockname(fd, (struct sockaddr *)&ss, &len)) {
		a = ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
					     : (void *)&((struct sockaddr_in *)&ss)->sin_addr;
		inet_ntop(ss.ss_family, a, local, (socklen_t)n);
	}
	len = sizeof(ss);
	if (!getpeername(fd, (struct sockaddr *)&ss, &len)) {
		a = ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
					     : (void *)&((struct sockaddr_in *)&ss)->sin_addr;
		inet_ntop(ss.ss_family, a, remote, (socklen_t)n);
	}
}

/* CreateHalf; @rules (an export blob, may be NULL) configure the half. */
static void send_create(struct agent *a, struct agent_pod_rec *p, json_t *pod,
			void *rules, size_t rules_len)
{
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT;
	Heteropod__Peer__CreateHalf ch = HETEROPOD__PEER__CREATE_HALF__INIT;
	Heteropod__Peer__WorkloadId wid = HETEROPOD__PEER__WORKLOAD_ID__INIT;
	Heteropod__Peer__LinkParams lp = HETEROPOD__PEER__LINK_PARAMS__INIT;
	char local[64], remote[64], *ips[4], cpu_netns[300];
	size_t nips;

	pod_ips(pod, ips, &nips);
	sock_addrs(a->peer_fd, local, remote, sizeof(local));
	wid.uid = p->uid;
	wid.namespace_ = p->ns;
	wid.name = p->name;
	wid.service_account = (char *)(hp_json_str(pod, "spec", "serviceAccountName", NULL) ?: "");
	lp.vni = agent_vni_of(p->uid);
	lp.local_addr = local;
	lp.peer_addr = remote;
	lp.mtu = 0;	/* each PU: its interconnect's MTU minus the encapsulation */
	lp.kind = a->o->link_kind;
	lp.dstport = (uint32_t)a->o->link_dstport;
	/* veth: the dpu role opens the CPU half itself (same kernel); a
	 * relayed fd of ours is reachable through /proc. */
	if (agent_link_is_veth(lp.kind) && p->netns[0])
		snprintf(cpu_netns, sizeof(cpu_netns), "%s", p->netns);
	else if (agent_link_is_veth(lp.kind))
		snprintf(cpu_netns, sizeof(cpu_netns), "/proc/%d/fd/%d", (int)getpid(),
			 p->netns_fd);
	else
		cpu_netns[0] = '\0';
	lp.cpu_netns = cpu_netns;
	ch.rules.data = rules;
	ch.rules.len = rules_len;
	ch.req_id = ++a->next_req;
	ch.workload = &wid;
	ch.n_pod_ips = nips;
	ch.pod_ips = ips;
	ch.link = &lp;
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_CREATE_HALF;
	m.create_half = &ch;
	if (agent_peer_send(a->peer_fd, &m)) {
		agent_peer_close(a);
		return;
	}
	p->inflight = ch.req_id;
	p->inflight_create = true;
	p->inflight_rules = rules_len > 0;
}

static void send_delete(struct agent *a, const char *uid, struct agent_pod_rec *p)
{
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT;
	Heteropod__Peer__DeleteHalf dh = HETEROPOD__PEER__DELETE_HALF__INIT;

	if (a->peer_fd < 0 || !a->peer_hello)
		return;
	dh.req_id = ++a->next_req;
	dh.uid = (char *)uid;
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_DELETE_HALF;
	m.delete_half = &dh;
	if (agent_peer_send(a->peer_fd, &m)) {
		agent_peer_close(a);
		return;
	}
	if (p) {
		p->inflight = dh.req_id;
		p->inflight_create = false;
		p->inflight_rules = false;
	}
}

static void on_hello(struct agent *a, const Heteropod__Peer__Hello *h)
{
	if (h->role != HETEROPOD__PEER__ROLE__ROLE_DPU || strcmp(h->node, a->o->node) ||
	    agent_peer_negotiate(AGENT_PEER_VERSION_MIN, AGENT_PEER_VERSION_MAX,
				 h->version_min, h->version_max) < 0) {
		agent_set_error(a, "peer: refused hello (role %d, node %s, versions %u-%u)",
				h->role, h->node, h->version_min, h->version_max);
		agent_peer_close(a);
		return;
	}
	a->peer_hello = true;
	agent_placement_connected(&a->place, true, agent_now_ms());
	hp_info("peer-up", "node=%s", h->node);
}

/* The DPU's halves: adopt the ones we know, delete the others. */
static void on_half_list(struct agent *a, const Heteropod__Peer__HalfList *hl)
{
	struct agent_pod_rec *p;
	size_t i;

	for (i = 0; i < a->st.n; i++) {
		a->st.pods[i].half = false;
		a->st.pods[i].half_rules = false;	/* re-sent: configuring is idempotent */
		a->st.pods[i].inflight = 0;
	}
	for (i = 0; i < hl->n_uids; i++) {
		p = agent_state_find(&a->st, hl->uids[i]);
		if (p)
			p->half = true;
		else
			send_delete(a, hl->uids[i], NULL);
	}
}

static void on_result(struct agent *a, const Heteropod__Peer__Result *r)
{
	struct agent_pod_rec *p = agent_state_find(&a->st, r->uid);

	if (!p || p->inflight != r->req_id)
		return;
	p->inflight = 0;
	if (r->errno_value) {
		p->split = AGENT_SPLIT_ERROR;
		snprintf(p->reason, sizeof(p->reason), "DPU half: %s", r->message);
		agent_set_error(a, "%s/%s: DPU half: %s", p->ns, p->name, r->message);
		return;
	}
	p->half = p->inflight_create;
	p->half_rules = p->inflight_create && p->inflight_rules;
}

/* The DPU half's listening ports: the CPU half sends them over the link. */
static void on_port_map(struct agent *a, const Heteropod__Peer__PortMapUpdate *u)
{
	struct agent_pod_rec *p = agent_state_find(&a->st, u->uid);
	char netns[300];
	uint32_t keys[256];
	int n, ret;

	if (!p || p->split != AGENT_SPLIT_SPLIT || u->generation <= p->ports_gen_rx)
		return;
	n = agent_ports_keys(u, keys, 256);
	if (n < 0)
		return agent_set_error(a, "peer: bad port map for %s", u->uid);
	agent_cpu_netns(p, netns, sizeof(netns));
	ret = agent_ports_follow(netns, keys, (size_t)n, p->added, &p->n_added,
				 sizeof(p->added) / sizeof(p->added[0]));
	if (ret)
		agent_set_error(a, "%s/%s: port map: %s", p->ns, p->name, strerror(-ret));
	else
		p->ports_gen_rx = u->generation;
}

static void handle(struct agent *a, const agent_peer_msg *m)
{
	switch (m->body_case) {
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_HELLO:
		on_hello(a, m->hello);
		break;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_HEARTBEAT:
		if (m->heartbeat->capacity)
			agent_placement_heartbeat(&a->place, agent_now_ms(),
				m->heartbeat->capacity->cpu_free_millis,
				m->heartbeat->capacity->mem_free_bytes,
				m->heartbeat->capacity->halves,
				m->heartbeat->capacity->max_halves);
		break;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_HALF_LIST:
		on_half_list(a, m->half_list);
		break;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_RESULT:
		on_result(a, m->result);
		break;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_PORT_MAP:
		on_port_map(a, m->port_map);
		break;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_ERROR:
		agent_set_error(a, "peer: %s", m->error->message);
		agent_peer_close(a);
		break;
	default:
		break;
	}
}

static void mark_alive(struct agent *a)
{
	agent_placement_alive(&a->place, agent_now_ms());
}

static void on_peer(struct agent *a, int fd, short revents)
{
	(void)revents;
	agent_peer_pump(a, fd, handle, mark_alive);
}

/* ---- istio-cni relay ---- */

static void zds_close(struct agent *a)
{
	if (a->zds_fd >= 0)
		close(a->zds_fd);
	a->zds_fd = -1;
	a->ack_uid[0] = '\0';
}

static void zds_ack(struct agent *a, const char *error)
{
	if (agent_zds_client_ack(a->zds_fd, error) < 0)
		zds_close(a);
	a->ack_uid[0] = '\0';
}

static void zds_add(struct agent *a, struct agent_zds_msg *m)
{
	struct agent_pod_rec *p = agent_state_get(&a->st, m->uid);

	if (!p) {
		close(m->netns_fd);
		zds_ack(a, "heteropod: out of memory");
		return;
	}
	if (p->netns_fd >= 0)
		close(p->netns_fd);
	p->netns_fd = m->netns_fd;
	p->relayed = true;
	p->zds_epoch = a->zds_epoch;
	if (!p->ns[0])
		snprintf(p->ns, sizeof(p->ns), "%s", m->ns);
	if (!p->name[0])
		snprintf(p->name, sizeof(p->name), "%s", m->name);
	snprintf(a->ack_uid, sizeof(a->ack_uid), "%s", m->uid);
	a->ack_deadline_ms = agent_now_ms() + a->o->ack_timeout_ms;
}

/* Pods the snapshot did not name were deleted while we were away. */
static void zds_snapshot_done(struct agent *a)
{
	size_t i;

	for (i = 0; i < a->st.n; i++)
		if (a->st.pods[i].relayed && a->st.pods[i].zds_epoch != a->zds_epoch)
			a->st.pods[i].relayed = false;
	zds_ack(a, NULL);
}

static void on_zds(struct agent *a, int fd, short revents)
{
	struct agent_zds_msg m;
	struct agent_pod_rec *p;
	int ret;

	(void)revents;
	ret = agent_zds_client_read(fd, &m);
	if (ret) {
		hp_warn("zds-down", "socket=%s reason=\"%s\"", a->o->cni_zds, strerror(-ret));
		zds_close(a);
		return;
	}
	pthread_mutex_lock(&a->metrics.lock);
	a->metrics.zds_messages++;
	pthread_mutex_unlock(&a->metrics.lock);
	p = m.type == AGENT_ZDS_ADD ? NULL : agent_state_find(&a->st, m.uid);
	switch (m.type) {
	case AGENT_ZDS_ADD:
		zds_add(a, &m);
		break;
	case AGENT_ZDS_KEEP:
		if (p)
			p->zds_epoch = a->zds_epoch;
		zds_ack(a, NULL);
		break;
	case AGENT_ZDS_DEL:
		if (p) {
			p->relayed = false;
			p->zds_epoch = 0;
		}
		zds_ack(a, NULL);
		break;
	case AGENT_ZDS_SNAPSHOT_SENT:
		zds_snapshot_done(a);
		break;
	}
	a->dirty = true;
}

/* ---- classification ---- */

static void bad_annotation(struct agent *a, const struct agent_verdict *v,
			   json_t *pod, json_t *ns)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "annotation %s=\"%s\" is not valid; accepted: "
		 "all, waypoint, none; using none", AGENT_ANN_OFFLOAD, v->bad_value);
	if (v->bad_on == AGENT_BAD_POD)
		agent_event(a->events, "Pod", pod, "Warning", "InvalidOffloadMode", msg);
	else
		agent_event(a->events, "Namespace", ns, "Warning", "InvalidOffloadMode", msg);
}

/* A chain member's name and ports; a bad chain name is reported and the
 * pod is not a member. */
static void observe_chain(struct agent *a, struct agent_pod_rec *p, json_t *pod,
			  const struct agent_verdict *v)
{
	json_t *port;
	char msg[400];
	size_t i;

	p->chain[0] = '\0';
	p->n_ports = 0;
	if (p->cls != AGENT_CLASS_CHAIN)
		return;
	if (!faas_chain_name_valid(v->chain)) {
		snprintf(msg, sizeof(msg), "%s=\"%.80s\" is not valid; accepted: a label value "
			 "(1-63 of A-Z a-z 0-9 . _ -, alphanumeric at both ends); not a chain "
			 "member", AGENT_LABEL_CHAIN, v->chain);
		agent_event(a->events, "Pod", pod, "Warning", "InvalidChain", msg);
		p->cls = v->ambient ? AGENT_CLASS_APP : AGENT_CLASS_NONE;
		return;
	}
	snprintf(p->chain, sizeof(p->chain), "%s", v->chain);
	json_array_foreach(hp_json_get(pod, "spec", "ports", NULL), i, port)
		if (p->n_ports < sizeof(p->ports) / sizeof(p->ports[0]))
			p->ports[p->n_ports++] = (uint16_t)json_integer_value(port);
}

static bool zds_relayed(const struct agent *a, const struct agent_pod_rec *p)
{
	return a->zds_fd >= 0 && p->zds_epoch && p->zds_epoch == a->zds_epoch;
}

static void observe_pod(struct agent *a, json_t *pod, json_t *nss)
{
	const char *uid = hp_json_str(pod, "metadata", "uid", NULL);
	const char *nsname = hp_json_str(pod, "metadata", "namespace", NULL) ?: "default";
	const char *netns = hp_json_str(pod, "metadata", "annotations", AGENT_ANN_NETNS, NULL);
	json_t *ns = json_object_get(nss, nsname);
	struct agent_verdict v;
	struct agent_pod_rec *p;

	if (!uid || !(p = agent_state_get(&a->st, uid)))
		return;
	agent_classify(pod, ns, a->o->istio_namespace, &v);
	if (v.bad_on != AGENT_BAD_NONE)
		bad_annotation(a, &v, pod, ns);
	snprintf(p->ns, sizeof(p->ns), "%s", nsname);
	snprintf(p->name, sizeof(p->name), "%s", hp_json_str(pod, "metadata", "name", NULL));
	pod_ips_text(pod, p->ips, sizeof(p->ips));
	p->cls = v.cls;
	p->mode = v.mode;
	p->mode_src = v.mode_src;
	p->mark = true;
	observe_chain(a, p, pod, &v);
	/* heteropod.io/netns is honoured only in local mode: in a cluster a
	 * pod's owner could point it at any namespace. */
	if (a->local) {
		p->relayed = (netns && *netns) || zds_relayed(a, p);
		snprintf(p->netns, sizeof(p->netns), "%s", netns ?: "");
	}
}

/* ---- hsock allowlist (allow.h) ---- */

/*
 * The pod's links: its app <-> proxy links while it is split, its links
 * with the other members of its chain while it is a chain member.  -ENOSPC
 * when they do not fit.
 */
static int allow_links(struct agent *a, const struct agent_pod_rec *p, char *buf,
		       size_t n)
{
	int ret = 0;

	buf[0] = '\0';
	if (p->split == AGENT_SPLIT_SPLIT && p->ips[0])
		agent_allow_lines(p->ips, buf, n);
	if (p->cls == AGENT_CLASS_CHAIN && p->chain[0])
		ret = faas_member_links(a->chains, p->uid, buf, n);
	return ret == -ENOENT ? 0 : ret < 0 ? ret : 0;
}

/* Write the pod's allowlist when its links changed, remove it when it has
 * none. */
static void allow_sync(struct agent *a, struct agent_pod_rec *p)
{
	char file[400], links[AGENT_LINKS_MAX], text[AGENT_LINKS_MAX + 512];
	int ret = allow_links(a, p, links, sizeof(links));

	if (ret) {
		agent_set_error(a, "%s/%s: hsock allowlist: more links than fit (%zu bytes)",
				p->ns, p->name, sizeof(links));
		return;
	}
	if (p->allowed == !!links[0] && !strcmp(links, p->links ?: ""))
		return;
	agent_allow_name(p->ns, p->name, file, sizeof(file));
	snprintf(text, sizeof(text), "# heteropod-agent: pod %s/%s (uid %s)%s%s%s%s\n%s",
		 p->ns, p->name, p->uid,
		 p->split == AGENT_SPLIT_SPLIT ? ", split: its app <-> proxy links" : "",
		 p->chain[0] ? ", chain " : "", p->chain,
		 p->chain[0] ? ": its links with the other members" : "", links);
	ret = agent_allow_put(a->o->allow_dir, file, links[0] ? text : NULL);
	if (ret) {
		agent_set_error(a, "%s/%s: hsock allowlist %s/%s: %s", p->ns, p->name,
				a->o->allow_dir, file, strerror(-ret));
		return;
	}
	if (agent_pod_set_links(p, links)) {
		agent_set_error(a, "%s/%s: out of memory", p->ns, p->name);
		return;
	}
	p->allowed = links[0] != '\0';
}

static int allow_keep(const char *file, void *arg)
{
	struct agent *a = arg;
	char name[400];
	size_t i;

	if (!strcmp(file, AGENT_ALLOW_DPU_FILE))
		return 1;	/* the dpu role's, when both share the directory */
	for (i = 0; i < a->st.n; i++) {
		agent_allow_name(a->st.pods[i].ns, a->st.pods[i].name, name, sizeof(name));
		if (a->st.pods[i].allowed && !strcmp(name, file))
			return 1;
	}
	return 0;
}

/* ---- decisions ---- */

/* Unsplit the CPU half; with @drop_half also delete the DPU half. */
static void undo(struct agent *a, struct agent_pod_rec *p, bool drop_half)
{
	char err[256];

	if (p->split == AGENT_SPLIT_SPLIT && a->actions &&
	    a->actions->unsplit_cpu(a->actions->ctx, p, err, sizeof(err)))
		agent_set_error(a, "%s/%s: unsplit: %s", p->ns, p->name, err);
	if (p->half_rules && agent_link_is_veth(a->o->link_kind)) {
		/* The pair goes with the CPU end, so the CPU half is exactly
		 * as Istio left it; a return to the DPU sends CreateHalf
		 * again, which makes a new pair. */
		char netns[300];
		int ret;

		agent_cpu_netns(p, netns, sizeof(netns));
		ret = agent_half_drop_link(netns);
		if (ret)
			agent_set_error(a, "%s/%s: delete veth: %s", p->ns, p->name, strerror(-ret));
		else
			p->half_rules = false;
	}
	if (drop_half && p->half && !p->inflight && a->peer_hello)
		send_delete(a, p->uid, p);
	p->split = AGENT_SPLIT_NONE;
	p->n_added = 0;		/* unconfigure removed the sets */
	p->ports_sig = 0;
	allow_sync(a, p);
}

/*
 * Run the pod whole on the CPU.  A fallback (DPU down or full) keeps the
 * DPU half, so that offloading resumes quickly; a pod that no longer wants
 * the DPU loses it.
 */
static void keep_on_cpu(struct agent *a, struct agent_pod_rec *p, bool fallback,
			const char *why)
{
	undo(a, p, !fallback);
	p->place = AGENT_PLACE_CPU;
	snprintf(p->reason, sizeof(p->reason), "%s", why);
}

static void set_split(struct agent_pod_rec *p, enum agent_split s, const char *why)
{
	p->split = s;
	snprintf(p->reason, sizeof(p->reason), "%s", why);
}

/*
 * Ask for the DPU half with the CPU half's rules.  Without readable rules
 * the half is still created (the DPU's ztunnel can enter it) but the pod
 * cannot be split: that is reported, and retried on every pass.
 */
static void half_with_rules(struct agent *a, struct agent_pod_rec *p, json_t *pod,
			    uint32_t *new_halves)
{
	char netns[300], err[200], why[240];
	void *blob = NULL;
	size_t len = 0;
	int ret;

	agent_cpu_netns(p, netns, sizeof(netns));
	ret = agent_cpu_rules(netns, &blob, &len, err, sizeof(err));
	if (!p->half || !ret) {
		if (!p->half)
			(*new_halves)++;
		send_create(a, p, pod, blob, len);
	}
	free(blob);
	if (ret) {
		snprintf(why, sizeof(why), "CPU half: %s", err);
		set_split(p, AGENT_SPLIT_ERROR, why);
	} else if (p->split != AGENT_SPLIT_SPLIT) {
		set_split(p, AGENT_SPLIT_PENDING, "waiting for the DPU half");
	}	/* else: rules re-sent after a reconnect; the CPU half stays split */
}

/* An ambient app pod handed over with its netns: split it or not. */
static void decide_app(struct agent *a, struct agent_pod_rec *p, json_t *pod,
		       bool healthy, uint32_t *new_halves)
{
	struct agent_verdict v = { .cls = p->cls, .mode = p->mode };
	char err[256];

	if (!p->relayed || !agent_wants_dpu(&v))
		return keep_on_cpu(a, p, false,
				   p->relayed ? "offload mode keeps it on the CPU" : "");
	if (!healthy)
		return keep_on_cpu(a, p, true, "DPU down: CPU fallback");
	if (!p->half && !p->inflight && !agent_placement_room(&a->place, *new_halves + 1))
		return keep_on_cpu(a, p, true, "DPU full: CPU fallback");
	p->place = AGENT_PLACE_DPU;
	if (p->split == AGENT_SPLIT_ERROR && !p->inflight && !p->half)
		return;	/* reported; retried when the pod or the DPU changes */
	if (p->inflight) {
		if (!p->half)
			set_split(p, AGENT_SPLIT_PENDING, "waiting for the DPU half");
		return;
	}
	if (!p->half || !p->half_rules)
		return half_with_rules(a, p, pod, new_halves);
	if (p->split != AGENT_SPLIT_SPLIT) {
		int ret = a->actions->split_cpu(a->actions->ctx, p, err, sizeof(err));

		set_split(p, ret ? AGENT_SPLIT_ERROR : AGENT_SPLIT_SPLIT, ret ? err : "");
		if (ret)
			agent_set_error(a, "%s/%s: %s", p->ns, p->name, err);
	}
}

/*
 * A chain member goes where its chain was placed (chains_place); like
 * ztunnel it is placed by relocation, never split.
 */
static void decide_chain(struct agent *a, struct agent_pod_rec *p)
{
	enum faas_place place = FAAS_PLACE_CPU;
	enum faas_why why = FAAS_WHY_MODE;
	size_t n = 0;

	undo(a, p, true);	/* a former app pod's split */
	faas_member_place(a->chains, p->uid, &place, &why, &n);
	p->place = place == FAAS_PLACE_DPU ? AGENT_PLACE_DPU : AGENT_PLACE_CPU;
	snprintf(p->reason, sizeof(p->reason), "%s", faas_why_text[why]);
}

struct chain_room {
	struct agent *a;
	size_t used;
};

static bool chain_fits(void *arg, size_t n)
{
	struct chain_room *r = arg;

	if (!agent_placement_room(&r->a->place, (uint32_t)(r->used + n)))
		return false;
	r->used += n;
	return true;
}

/*
 * Group this pass's chain members and place each chain as a unit (each
 * member counts as one of the DPU's slots, as a half does).  The number of
 * slots taken.
 */
static uint32_t chains_place(struct agent *a, bool healthy)
{
	struct chain_room room = { a, 0 };
	struct faas_member m;
	size_t i;
	int ret;

	faas_chains_reset(a->chains);
	for (i = 0; i < a->st.n; i++) {
		struct agent_pod_rec *p = &a->st.pods[i];
		struct agent_verdict v = { .cls = p->cls, .mode = p->mode };

		if (!p->mark || p->cls != AGENT_CLASS_CHAIN)
			continue;
		m = (struct faas_member){ p->chain, p->uid, p->ips, p->ports, p->n_ports,
					  agent_wants_dpu(&v) };
		ret = faas_chains_add(a->chains, &m);
		if (ret)
			agent_set_error(a, "%s/%s: chain %s: %s", p->ns, p->name, p->chain,
					strerror(-ret));
	}
	ret = faas_chains_place(a->chains, healthy, chain_fits, &room);
	if (ret)
		agent_set_error(a, "chains: %s", strerror(-ret));
	return (uint32_t)room.used;
}

static void decide(struct agent *a, struct agent_pod_rec *p, json_t *pod,
		   bool healthy, uint32_t *new_halves)
{
	struct agent_verdict v = { .cls = p->cls, .mode = p->mode };
	bool room = agent_placement_room(&a->place, 0);

	switch (p->cls) {
	case AGENT_CLASS_APP:
		decide_app(a, p, pod, healthy, new_halves);
		break;
	case AGENT_CLASS_CHAIN:
		decide_chain(a, p);
		break;
	case AGENT_CLASS_ZTUNNEL:
	case AGENT_CLASS_WAYPOINT:
		/* Placed by relocation (ztunnel) or scheduling (waypoints);
		 * never split. */
		p->place = agent_wants_dpu(&v) && healthy && room ? AGENT_PLACE_DPU
								  : AGENT_PLACE_CPU;
		p->split = AGENT_SPLIT_NONE;
		snprintf(p->reason, sizeof(p->reason), "%s",
			 agent_wants_dpu(&v) && !healthy ? "DPU down: CPU fallback" : "");
		break;
	default:
		keep_on_cpu(a, p, false, "");
		break;
	}
	allow_sync(a, p);
}

/* ---- DPU health transitions ---- */

static json_t *node_obj(struct agent *a)
{
	json_t *nodes = agent_store_snapshot(a->store, AGENT_KIND_NODE);
	json_t *n = json_incref(json_object_get(nodes, a->o->node));

	json_decref(nodes);
	return n ? n : json_pack("{s:{s:s}}", "metadata", "name", a->o->node);
}

static void set_label(struct agent *a, bool down)
{
	char path[512];
	json_t *patch, *ans = NULL;
	long code;

	if (a->label_down == down || agent_now_ms() < a->label_retry_ms)
		return;
	if (!a->kube) {
		a->label_down = down;
		hp_info("node-label", "node=%s %s=%s (local mode: not applied)", a->o->node,
			AGENT_LABEL_DPU_STATE, down ? "down" : "(removed)");
		return;
	}
	snprintf(path, sizeof(path), "/api/v1/nodes/%s", a->o->node);
	patch = json_pack("{s:{s:{s:o}}}", "metadata", "labels", AGENT_LABEL_DPU_STATE,
			  down ? json_string("down") : json_null());
	code = agent_kube_request(a->kube, "PATCH", path, patch, &ans);
	if (code == 200)
		a->label_down = down;
	else
		a->label_retry_ms = agent_now_ms() + 5000;
	json_decref(patch);
	json_decref(ans);
}

static void health_transition(struct agent *a, bool healthy, int64_t now)
{
	json_t *node = node_obj(a);
	char msg[256];

	if (!healthy) {
		a->st.dpu.failovers++;
		a->down_since_ms = now;
		snprintf(msg, sizeof(msg), "DPU of node %s lost (%s); offloaded pods moved "
			 "back to the CPU", a->o->node,
			 a->place.connected ? "heartbeats missed" : "peer link closed");
		agent_event(a->events, "Node", node, "Warning", "DPUDown", msg);
		hp_warn("fallback", "node=%s failovers=%llu", a->o->node,
			(unsigned long long)a->st.dpu.failovers);
	} else if (a->down_since_ms) {
		snprintf(msg, sizeof(msg), "DPU of node %s healthy; offloading resumes "
			 "(down for %lld ms)", a->o->node,
			 a->down_since_ms ? (long long)(now - a->down_since_ms) : 0LL);
		agent_event(a->events, "Node", node, "Normal", "DPUUp", msg);
	}
	json_decref(node);
	a->was_healthy = healthy;
}

/*
 * Read what the DPU sent while this thread was busy (a slow API call) before
 * judging it: our own stall must not look like missed heartbeats.
 */
static void drain_peer(struct agent *a)
{
	struct pollfd p = { .fd = a->peer_fd, .events = POLLIN };

	while (a->peer_fd >= 0 && poll(&p, 1, 0) == 1) {
		on_peer(a, a->peer_fd, p.revents);
		p.fd = a->peer_fd;
	}
}

static bool health(struct agent *a, int64_t now)
{
	bool healthy, grace;

	drain_peer(a);
	healthy = a->peer_hello && agent_placement_healthy(&a->place, now);
	grace = now - a->start_ms < a->o->heartbeat_ms * a->o->heartbeat_misses;

	if (healthy != a->was_healthy)
		health_transition(a, healthy, now);
	if (!grace || healthy)
		set_label(a, !healthy);
	a->st.dpu.connected = a->peer_hello;
	a->st.dpu.healthy = healthy;
	a->st.dpu.cpu_free_millis = a->place.cpu_free_millis;
	a->st.dpu.mem_free_bytes = a->place.mem_free_bytes;
	a->st.dpu.halves = a->place.halves;
	a->st.dpu.max_halves = a->place.max_halves;
	return healthy;
}

/* ---- ack to istio-cni ---- */

static void resolve_ack(struct agent *a, int64_t now)
{
	struct agent_pod_rec *p;
	char err[300];

	if (!a->ack_uid[0] || a->zds_fd < 0)
		return;
	p = agent_state_find(&a->st, a->ack_uid);
	if (p && p->inflight && now < a->ack_deadline_ms)
		return;
	if (p && p->inflight) {
		zds_ack(a, "heteropod: timed out waiting for the DPU half");
		return;
	}
	if (p && (p->split == AGENT_SPLIT_ERROR || p->split == AGENT_SPLIT_PENDING)) {
		snprintf(err, sizeof(err), "heteropod: %s", p->reason);
		zds_ack(a, err);
		return;
	}
	zds_ack(a, NULL);
}

void agent_host_reconcile(struct agent *a)
{
	json_t *pods = agent_store_snapshot(a->store, AGENT_KIND_POD);
	json_t *nss = agent_store_snapshot(a->store, AGENT_KIND_NAMESPACE);
	json_t *pod, *byuid = json_object();
	int64_t now = agent_now_ms();
	bool healthy = health(a, now);
	uint32_t new_halves = 0;
	const char *key;
	size_t i;

	for (i = 0; i < a->st.n; i++) {
		a->st.pods[i].mark = false;
		if (a->local)	/* re-derived from the manifests below */
			a->st.pods[i].relayed = zds_relayed(a, &a->st.pods[i]);
	}
	json_object_foreach(pods, key, pod) {
		observe_pod(a, pod, nss);
		json_object_set(byuid, hp_json_str(pod, "metadata", "uid", NULL) ?: "", pod);
	}
	new_halves = chains_place(a, healthy);
	for (i = 0; i < a->st.n;) {
		struct agent_pod_rec *p = &a->st.pods[i];

		if (!p->mark && !p->relayed) {
			undo(a, p, true);
			agent_state_remove(&a->st, p);
			continue;
		}
		if (!p->mark)
			p->cls = AGENT_CLASS_APP;	/* istio-cni enrolled it */
		decide(a, p, json_object_get(byuid, p->uid), healthy, &new_halves);
		i++;
	}
	resolve_ack(a, now);
	json_decref(byuid);
	json_decref(pods);
	json_decref(nss);
}

/* ---- lifecycle ---- */

static void try_connect(struct agent *a)
{
	int fd;

	if (a->o->peer && a->peer_fd < 0) {
		fd = agent_peer_connect(a->o->peer, 200);
		if (fd >= 0 && !agent_peer_send_hello(a, fd)) {
			a->peer_fd = fd;
		} else if (fd >= 0) {
			close(fd);
		}
	}
	if (a->o->cni_zds && a->zds_fd < 0) {
		fd = agent_zds_client_connect(a->o->cni_zds);
		if (fd >= 0) {
			a->zds_fd = fd;
			a->zds_epoch++;
			hp_info("zds-up", "socket=%s", a->o->cni_zds);
		}
	}
}

static void send_heartbeat(struct agent *a)
{
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT;
	Heteropod__Peer__Heartbeat hb = HETEROPOD__PEER__HEARTBEAT__INIT;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	hb.seq = ++a->hb_seq;
	hb.sent_unix_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_HEARTBEAT;
	m.heartbeat = &hb;
	if (agent_peer_send(a->peer_fd, &m))
		agent_peer_close(a);
}

/* Each split pod's CPU listeners to the DPU half's port map, on change. */
static void push_ports(struct agent *a)
{
	char netns[300];
	size_t i;

	for (i = 0; i < a->st.n && a->peer_hello; i++) {
		if (a->st.pods[i].split != AGENT_SPLIT_SPLIT)
			continue;
		agent_cpu_netns(&a->st.pods[i], netns, sizeof(netns));
		agent_ports_push(a, &a->st.pods[i], netns, HETEROPOD__PEER__HALF__HALF_CPU);
	}
}

void agent_host_tick(struct agent *a)
{
	int64_t now = agent_now_ms();

	if (a->kube && now >= a->waypoint_due_ms) {
		agent_waypoints(a);
		a->waypoint_due_ms = now + a->o->waypoint_ms;
	}
	try_connect(a);
	if (a->peer_fd >= 0 && a->peer_hello)
		send_heartbeat(a);
	push_ports(a);
}

void agent_host_poll(struct agent *a)
{
	int64_t now = agent_now_ms();
	bool grace = now - a->start_ms < a->o->heartbeat_ms * a->o->heartbeat_misses;
	bool healthy = a->peer_hello && agent_placement_healthy(&a->place, now);

	agent_watch_fd(a, a->peer_fd, on_peer);
	/* istio-cni waits for our ack anyway; and at start-up, give the DPU
	 * its grace period before deciding on the first workloads. */
	if (!a->ack_uid[0] && (healthy || !grace))
		agent_watch_fd(a, a->zds_fd, on_zds);
}

int agent_host_start(struct agent *a, char *err, size_t errlen)
{
	int ret = agent_link_check(a->o, err, errlen);

	if (ret)
		return ret;
	a->start_ms = agent_now_ms();
	/* Allowlists no split pod accounts for: left by a crash. */
	ret = agent_allow_sweep(a->o->allow_dir, allow_keep, a);
	if (ret > 0)
		hp_info("allowlist-orphans-deleted", "dir=%s files=%d", a->o->allow_dir, ret);
	ret = faas_chains_create(&a->chains);
	if (ret) {
		snprintf(err, errlen, "chains: %s", strerror(-ret));
		return ret;
	}
	a->actions_impl = agent_hpns_actions;
	a->actions_impl.ctx = a;
	a->actions = &a->actions_impl;
	try_connect(a);
	return 0;
}

void agent_host_stop(struct agent *a)
{
	/* SIGTERM leaves split pods as they are: a restart adopts them. */
	zds_close(a);
	faas_chains_destroy(a->chains);
	a->chains = NULL;
}
