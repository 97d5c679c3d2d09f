// SPDX-License-Identifier: GPL-2.0
/*
 * DPU role: serves the peer link (DPU halves on request, heartbeats with
 * capacity) and ZDS to the ztunnel running on the DPU, which receives every
 * DPU half's namespace fd as it would receive a pod's from istio-cni.
 *
 * A DPU half is a named network namespace "<half-prefix><hash of uid>";
 * the name is derived from the uid so that after a crash the halves can be
 * matched to the checkpoint by reading /var/run/netns back.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/netns.h"
#include "offloader/agent_int.h"
#include "offloader/allow.h"

static void half_name(const struct agent *a, const char *uid, char *buf, size_t n)
{
	uint64_t h = 14695981039346656037ull;

	while (*uid)
		h = (h ^ (uint8_t)*uid++) * 1099511628211ull;
	snprintf(buf, n, "%s%012llx", a->o->half_prefix,
		 (unsigned long long)(h & 0xffffffffffffull));
}

static void zds_msg_of(const struct agent_pod_rec *p, struct agent_zds_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = AGENT_ZDS_ADD;
	snprintf(m->uid, sizeof(m->uid), "%s", p->uid);
	snprintf(m->name, sizeof(m->name), "%s", p->name);
	snprintf(m->ns, sizeof(m->ns), "%s", p->ns);
	snprintf(m->service_account, sizeof(m->service_account), "%s", p->sa);
	m->netns_fd = p->netns_fd;
}

/* ---- halves ---- */

static int create_half(struct agent *a, const Heteropod__Peer__CreateHalf *c,
		       char *err, size_t errlen)
{
	const Heteropod__Peer__WorkloadId *w = c->workload;
	struct agent_pod_rec *p = agent_state_find(&a->st, w->uid);
	struct agent_zds_msg zm;
	char name[128];
	int ret;

	if (p && p->netns_fd >= 0)
		return c->rules.len ? agent_dpu_configure(a->o, p->netns, c, err, errlen) : 0;
	if (!p && a->st.n >= (size_t)a->o->max_halves) {
		snprintf(err, errlen, "DPU full (%ld halves)", a->o->max_halves);
		return -ENOSPC;
	}
	half_name(a, w->uid, name, sizeof(name));
	ret = hp_netns_create(name);
	if (ret && ret != -EEXIST) {
		snprintf(err, errlen, "create namespace %s: %s", name, strerror(-ret));
		return ret;
	}
	p = agent_state_get(&a->st, w->uid);
	if (!p)
		return -ENOMEM;
	snprintf(p->ns, sizeof(p->ns), "%s", w->namespace_);
	snprintf(p->name, sizeof(p->name), "%s", w->name);
	snprintf(p->sa, sizeof(p->sa), "%s", w->service_account);
	snprintf(p->netns, sizeof(p->netns), "%s", name);
	snprintf(p->ips, sizeof(p->ips), "%s%s%s", c->n_pod_ips ? c->pod_ips[0] : "",
		 c->n_pod_ips > 1 ? "," : "", c->n_pod_ips > 1 ? c->pod_ips[1] : "");
	p->cls = AGENT_CLASS_APP;
	p->place = AGENT_PLACE_DPU;
	p->split = AGENT_SPLIT_SPLIT;
	p->half = true;
	p->netns_fd = hp_netns_open(name);
	if (c->rules.len) {
		ret = agent_dpu_configure(a->o, name, c, err, errlen);
		if (ret)
			return ret;	/* the namespace stays: a retry configures it */
	}
	zds_msg_of(p, &zm);
	if (agent_zds_server_send(a->zsrv, &zm))
		hp_warn("zds-client-lost", "during=add uid=%s", p->uid);
	hp_info("half-created", "pod=%s/%s netns=%s", p->ns, p->name, name);
	return 0;
}

static int delete_half(struct agent *a, const char *uid, char *err, size_t errlen)
{
	struct agent_pod_rec *p = agent_state_find(&a->st, uid);
	struct agent_zds_msg zm = { .type = AGENT_ZDS_DEL, .netns_fd = -1 };
	char name[128];
	int ret;

	half_name(a, uid, name, sizeof(name));
	/* Delete the per-pod device now: a namespace kept alive by an open
	 * fd (ztunnel's) would keep its VNI busy. */
	ret = agent_half_unconfigure(name);
	if (!ret)
		ret = agent_half_drop_link(name);
	if (ret)
		hp_warn("half-unconfigure", "netns=%s error=\"%s\"", name, strerror(-ret));
	snprintf(zm.uid, sizeof(zm.uid), "%s", uid);
	if (p && agent_zds_server_send(a->zsrv, &zm))
		hp_warn("zds-client-lost", "during=del uid=%s", uid);
	if (p)
		agent_state_remove(&a->st, p);
	ret = hp_netns_delete(name);
	if (ret && ret != -ENOENT) {
		snprintf(err, errlen, "delete namespace %s: %s", name, strerror(-ret));
		return ret;
	}
	hp_info("half-deleted", "uid=%s netns=%s", uid, name);
	return 0;
}

static void send_result(struct agent *a, uint64_t req, const char *uid, int ret,
			const char *msg)
{
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT;
	Heteropod__Peer__Result r = HETEROPOD__PEER__RESULT__INIT;

	r.req_id = req;
	r.uid = (char *)uid;
	r.errno_value = -ret;
	r.message = (char *)(ret ? msg : "");
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_RESULT;
	m.result = &r;
	if (agent_peer_send(a->peer_fd, &m))
		agent_peer_close(a);
}

static void send_half_list(struct agent *a)
{
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT;
	Heteropod__Peer__HalfList hl = HETEROPOD__PEER__HALF_LIST__INIT;
	char **uids = calloc(a->st.n + 1, sizeof(char *));
	size_t i;

	if (!uids) {
		agent_peer_close(a);
		return;
	}
	for (i = 0; i < a->st.n; i++)
		uids[i] = a->st.pods[i].uid;
	hl.n_uids = a->st.n;
	hl.uids = uids;
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_HALF_LIST;
	m.half_list = &hl;
	if (agent_peer_send(a->peer_fd, &m))
		agent_peer_close(a);
	free(uids);
}

/* ---- peer ---- */

static void send_heartbeat(struct agent *a);

static void on_hello(struct agent *a, const Heteropod__Peer__Hello *h)
{
	if (h->role != HETEROPOD__PEER__ROLE__ROLE_HOST || strcmp(h->node, a->o->node) ||
	    agent_peer_negotiate(AGENT_PEER_VERSION_MIN, AGENT_PEER_VERSION_MAX,
				 h->version_min, h->version_max) < 0) {
		agent_set_error(a, "peer: refused hello (role %d, node %s)", h->role, h->node);
		agent_peer_close(a);
		return;
	}
	a->peer_hello = true;
	agent_placement_connected(&a->place, true, agent_now_ms());
	send_half_list(a);
	if (a->peer_fd >= 0)
		send_heartbeat(a);	/* capacity at once: the host waits for it */
	hp_info("peer-up", "node=%s", h->node);
}

/* The CPU half's listening ports: this half sends them over the link. */
static void on_port_map(struct agent *a, const Heteropod__Peer__PortMapUpdate *u)
{
	struct agent_pod_rec *p = agent_state_find(&a->st, u->uid);
	uint32_t keys[256];
	int n, ret;

	if (!p || p->netns_fd < 0 || u->generation <= p->ports_gen_rx)
		return;
	n = agent_ports_keys(u, keys, 256);
	if (n < 0)
		return agent_set_error(a, "peer: bad port map for %s", u->uid);
	ret = agent_ports_replace(p->netns, keys, (size_t)n);
	if (ret)
		agent_set_error(a, "%s/%s: port map: %s", p->ns, p->name, strerror(-ret));
	else
		p->ports_gen_rx = u->generation;
}

static void handle(struct agent *a, const agent_peer_msg *m)
{
	char err[256] = "";
	int ret;

	switch (m->body_case) {
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_HELLO:
		on_hello(a, m->hello);
		break;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_HEARTBEAT:
		agent_placement_heartbeat(&a->place, agent_now_ms(), 0, 0, 0, 0);
		break;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_CREATE_HALF:
		ret = create_half(a, m->create_half, err, sizeof(err));
		send_result(a, m->create_half->req_id, m->create_half->workload->uid, ret, err);
		break;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_DELETE_HALF:
		ret = delete_half(a, m->delete_half->uid, err, sizeof(err));
		send_result(a, m->delete_half->req_id, m->delete_half->uid, ret, err);
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

/* A long batch of creates must not starve the heartbeat. */
static void heartbeat_if_due(struct agent *a)
{
	if (a->peer_fd >= 0 && a->peer_hello &&
	    agent_now_ms() - a->hb_sent_ms >= a->o->heartbeat_ms)
		send_heartbeat(a);
}

static void on_peer(struct agent *a, int fd, short revents)
{
	(void)revents;
	agent_peer_pump(a, fd, handle, heartbeat_if_due);
}

static void on_accept(struct agent *a, int fd, short revents)
{
	struct timeval tv = { 2, 0 };
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	(void)revents;
	if (c < 0)
		return;
	agent_peer_close(a);	/* a new host connection replaces the old */
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (agent_peer_send_hello(a, c)) {
		close(c);
		return;
	}
	a->peer_fd = c;
}

/* ---- ZDS server ---- */

static void on_zds_listen(struct agent *a, int fd, short revents)
{
	struct agent_zds_msg *ws = calloc(a->st.n + 1, sizeof(*ws));
	size_t i, n = 0;
	int ret;

	(void)fd, (void)revents;
	if (!ws)
		return;
	for (i = 0; i < a->st.n; i++)
		if (a->st.pods[i].netns_fd >= 0)
			zds_msg_of(&a->st.pods[i], &ws[n++]);
	ret = agent_zds_server_accept(a->zsrv, ws, n);
	if (ret)
		hp_warn("zds-snapshot", "error=\"%s\"", strerror(-ret));
	else
		hp_info("zds-snapshot", "workloads=%zu", n);
	free(ws);
}

static void on_zds_conn(struct agent *a, int fd, short revents)
{
	(void)fd, (void)revents;
	agent_zds_server_drop(a->zsrv);
	hp_info("zds-client-gone", "socket=%s", a->o->zds_socket);
}

/* ---- capacity ---- */

static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	unsigned long long kb = 0;
	char line[256];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return (uint64_t)kb << 10;
}

/* Idle CPU since the previous call, in millicores. */
static uint32_t cpu_free(void)
{
	static unsigned long long last_idle, last_total;
	unsigned long long v[8] = { 0 }, idle, total = 0;
	FILE *f = fopen("/proc/stat", "r");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t ret = 0;
	int i;

	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (i = 0; i < 8; i++)
			total += v[i];
		idle = v[3] + v[4];
		if (total > last_total)
			ret = (uint32_t)((idle - last_idle) * 1000ull * (unsigned long long)ncpu /
					 (total - last_total));
		last_idle = idle;
		last_total = total;
	}
	fclose(f);
	return ret;
}

static void send_heartbeat(struct agent *a)
{
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT;
	Heteropod__Peer__Heartbeat hb = HETEROPOD__PEER__HEARTBEAT__INIT;
	Heteropod__Peer__Capacity cap = HETEROPOD__PEER__CAPACITY__INIT;

	cap.cpu_free_millis = a->st.dpu.cpu_free_millis;
	cap.mem_free_bytes = a->st.dpu.mem_free_bytes;
	cap.halves = (uint32_t)a->st.n;
	cap.max_halves = (uint32_t)a->o->max_halves;
	hb.seq = ++a->hb_seq;
	hb.capacity = &cap;
	a->hb_sent_ms = agent_now_ms();
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_HEARTBEAT;
	m.heartbeat = &hb;
	if (agent_peer_send(a->peer_fd, &m))
		agent_peer_close(a);
}

void agent_dpu_tick(struct agent *a)
{
	a->st.dpu.cpu_free_millis = cpu_free();
	a->st.dpu.mem_free_bytes = mem_available();
	if (a->peer_fd >= 0 && a->peer_hello)
		send_heartbeat(a);
	for (size_t i = 0; i < a->st.n && a->peer_hello; i++)
		if (a->st.pods[i].netns_fd >= 0)
			agent_ports_push(a, &a->st.pods[i], a->st.pods[i].netns,
					 HETEROPOD__PEER__HALF__HALF_DPU);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* DIR/dpu.allow: the app <-> proxy links of every half, for the proxy here. */
static void allow_sync(struct agent *a)
{
	char **lines = calloc(a->st.n + 1, sizeof(char *)), *text = NULL;
	size_t i, n = 0, len = 0;
	int ret;

	for (i = 0; lines && i < a->st.n; i++) {
		char buf[256] = "";

		agent_allow_lines(a->st.pods[i].ips, buf, sizeof(buf));
		if (buf[0])
			lines[n++] = strdup(buf);
	}
	qsort(lines, n, sizeof(char *), cmp_str);
	for (i = 0; i < n; i++)
		len += lines[i] ? strlen(lines[i]) : 0;
	text = lines ? calloc(1, len + 64) : NULL;
	if (text && n)
		strcpy(text, "# heteropod-agent: the DPU halves' app <-> proxy links\n");
	for (i = 0; text && i < n; i++)
		strcat(text, lines[i] ?: "");
	if (text && (!a->allow_text || strcmp(text, a->allow_text))) {
		ret = agent_allow_put(a->o->allow_dir, AGENT_ALLOW_DPU_FILE, n ? text : NULL);
		if (ret) {
			agent_set_error(a, "hsock allowlist %s/%s: %s", a->o->allow_dir,
					AGENT_ALLOW_DPU_FILE, strerror(-ret));
		} else {
			free(a->allow_text);
			a->allow_text = text;
			text = NULL;
		}
	}
	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	free(text);
}

void agent_dpu_reconcile(struct agent *a)
{
	allow_sync(a);
	a->st.dpu.connected = a->peer_hello;
	a->st.dpu.healthy = true;	/* this is the DPU */
	a->st.dpu.halves = (uint32_t)a->st.n;
	a->st.dpu.max_halves = (uint32_t)a->o->max_halves;
}

void agent_dpu_poll(struct agent *a)
{
	agent_watch_fd(a, a->peer_lfd, on_accept);
	agent_watch_fd(a, a->peer_fd, on_peer);
	agent_watch_fd(a, agent_zds_server_listen_fd(a->zsrv), on_zds_listen);
	agent_watch_fd(a, agent_zds_server_conn_fd(a->zsrv), on_zds_conn);
}

/*
 * Read back what the kernel has: halves in the checkpoint whose namespace
 * is gone are forgotten; namespaces with our prefix that the checkpoint
 * does not know (a crash between create and checkpoint) are deleted.
 */
static void readback(struct agent *a)
{
	size_t plen = strlen(a->o->half_prefix), i;
	struct dirent *de;
	char name[128];
	DIR *d;

	for (i = 0; i < a->st.n;) {
		struct agent_pod_rec *p = &a->st.pods[i];

		half_name(a, p->uid, name, sizeof(name));
		p->netns_fd = hp_netns_open(name);
		if (p->netns_fd < 0) {
			agent_state_remove(&a->st, p);
			continue;
		}
		snprintf(p->netns, sizeof(p->netns), "%s", name);
		i++;
	}
	d = opendir(HP_NETNS_RUN_DIR);
	while (d && (de = readdir(d))) {
		bool known = false;

		if (strncmp(de->d_name, a->o->half_prefix, plen))
			continue;
		for (i = 0; i < a->st.n && !known; i++)
			known = !strcmp(a->st.pods[i].netns, de->d_name);
		if (!known && !hp_netns_delete(de->d_name))
			hp_info("half-orphan-deleted", "netns=%s", de->d_name);
	}
	if (d)
		closedir(d);
}

int agent_dpu_start(struct agent *a, char *err, size_t errlen)
{
	int ret;

	readback(a);
	if (!a->o->peer) {
		snprintf(err, errlen, "--role dpu needs --peer ADDR:PORT to listen on");
		return -EINVAL;
	}
	a->peer_lfd = agent_peer_listen(a->o->peer);
	if (a->peer_lfd < 0) {
		snprintf(err, errlen, "--peer %s: %s", a->o->peer, strerror(-a->peer_lfd));
		return a->peer_lfd;
	}
	ret = agent_zds_server_create(a->o->zds_socket, &a->zsrv);
	if (ret)
		snprintf(err, errlen, "--zds-socket %s: %s", a->o->zds_socket, strerror(-ret));
	a->st.dpu.cpu_free_millis = cpu_free();
	a->st.dpu.mem_free_bytes = mem_available();
	return ret;
}

void agent_dpu_stop(struct agent *a)
{
	size_t i;

	/* Halves stay: the DPU's ztunnel keeps serving them; a restart
	 * adopts them from the checkpoint and /var/run/netns. */
	for (i = 0; i < a->st.n; i++) {
		if (a->st.pods[i].netns_fd >= 0)
			close(a->st.pods[i].netns_fd);
		a->st.pods[i].netns_fd = -1;
	}
	agent_zds_server_destroy(a->zsrv);
	free(a->allow_text);
}
