// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's event loop: sources (API watch or local directory) feed the
 * store; every wake-up (store change, fd activity, timer tick) runs the
 * role's level-triggered reconcile, then writes the checkpoint if the state
 * changed.  One thread owns all decisions; the watch threads and the HTTP
 * thread only hand data in and out.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/json.h"
#include "lib/log.h"
#include "offloader/agent_int.h"
#include "proto/nodestate.pb-c.h"

#define AGENT_MIN_PASS_MS 20

const char *const agent_role_names[] = { "host", "dpu", NULL };

const struct hp_cfg_field agent_cfg_fields[] = {
	HP_CFG_STR(struct agent_opts, node, "node", "this node's name"),
	HP_CFG_STR(struct agent_opts, state_dir, "state-dir", "checkpoint directory"),
	HP_CFG_STR(struct agent_opts, listen, "listen", "ADDR:PORT of /healthz /readyz /metrics"),
	HP_CFG_STR(struct agent_opts, peer, "peer", "ADDR:PORT of the peer link"),
	HP_CFG_STR(struct agent_opts, cni_zds, "cni-zds", "host: istio-cni's ZDS socket"),
	HP_CFG_STR(struct agent_opts, zds_socket, "zds-socket", "dpu: ZDS socket served to ztunnel"),
	HP_CFG_STR(struct agent_opts, istio_namespace, "istio-namespace", "namespace of ztunnel"),
	HP_CFG_STR(struct agent_opts, sa_dir, "serviceaccount-dir", "in-cluster token and ca.crt"),
	HP_CFG_STR(struct agent_opts, half_prefix, "dpu.half-prefix", "name prefix of DPU half namespaces"),
	HP_CFG_STR(struct agent_opts, log_level, "log-level", "error, warn, info or debug"),
	HP_CFG_DURATION(struct agent_opts, heartbeat_ms, "heartbeat.interval", 10, 60000, "peer heartbeat period"),
	HP_CFG_INT(struct agent_opts, heartbeat_misses, "heartbeat.misses", 1, 100, "missed heartbeats before the DPU is down"),
	HP_CFG_INT(struct agent_opts, min_cpu_millis, "dpu.min-free-cpu-millis", 0, 1000000, "offload only above this free DPU CPU"),
	HP_CFG_INT(struct agent_opts, min_mem_mib, "dpu.min-free-memory-mib", 0, 1 << 20, "offload only above this free DPU memory"),
	HP_CFG_INT(struct agent_opts, max_halves, "dpu.max-halves", 0, 100000, "DPU halves the dpu role accepts"),
	HP_CFG_INT(struct agent_opts, watch_timeout_s, "kube.watch-timeout", 1, 3600, "watch timeoutSeconds"),
	HP_CFG_INT(struct agent_opts, page_limit, "kube.page-limit", 1, 100000, "items per list page"),
	HP_CFG_DURATION(struct agent_opts, backoff_min_ms, "kube.backoff-min", 1, 600000, "first retry delay"),
	HP_CFG_DURATION(struct agent_opts, backoff_max_ms, "kube.backoff-max", 1, 3600000, "retry delay ceiling"),
	HP_CFG_STR(struct agent_opts, agent_namespace, "namespace", "the agent's namespace (heteropod-leader Lease)"),
	HP_CFG_DURATION(struct agent_opts, waypoint_ms, "waypoint.interval", 100, 3600000, "period of the leader's waypoint placement pass"),
	HP_CFG_STR(struct agent_opts, extender, "extender.url", "heteropod-extender: URL to push image, template and DPU state to"),
	HP_CFG_STR(struct agent_opts, extender_node, "extender.node", "node name reported to the extender (host: node; dpu: node-dpu)"),
	HP_CFG_DURATION(struct agent_opts, extender_ms, "extender.interval", 100, 3600000, "keepalive period of the state push"),
	HP_CFG_STR(struct agent_opts, allow_dir, "hsock.allow-dir", "where the hsock allowlists of split pods and chain members are written"),
	HP_CFG_STR(struct agent_opts, link_kind, "link.kind", "per-pod link between the halves: geneve, vxlan, or veth (both PUs namespaces of one kernel)"),
	HP_CFG_INT(struct agent_opts, link_dstport, "link.dstport", 0, 65535, "UDP port of the per-pod link (0: 6081 geneve, 4789 vxlan)"),
	HP_CFG_DURATION(struct agent_opts, ack_timeout_ms, "zds.ack-timeout", 100, 600000, "host: longest wait for the DPU before acking istio-cni"),
	{ 0 }
};

void agent_opts_defaults(struct agent_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->role = -1;
	o->state_dir = strdup("/var/lib/heteropod");
	o->cni_zds = strdup("/var/run/ztunnel/ztunnel.sock");
	o->zds_socket = strdup("/var/run/ztunnel/ztunnel.sock");
	o->istio_namespace = strdup("istio-system");
	o->half_prefix = strdup("hpd-");
	o->log_level = strdup("info");
	o->heartbeat_ms = 500;
	o->heartbeat_misses = 3;
	o->min_cpu_millis = 0;
	o->min_mem_mib = 64;
	o->max_halves = 256;
	o->watch_timeout_s = 300;
	o->page_limit = 100;
	o->backoff_min_ms = 200;
	o->backoff_max_ms = 30000;
	o->ack_timeout_ms = 5000;
	o->agent_namespace = strdup("heteropod-system");
	o->waypoint_ms = 10000;
	o->link_kind = strdup("geneve");
	o->allow_dir = strdup("/var/run/heteropod/hsock");
	o->extender_ms = 10000;
}

int64_t agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void agent_watch_fd(struct agent *a, int fd, agent_fd_fn fn)
{
	if (fd < 0 || a->nfds == AGENT_MAX_FDS)
		return;
	a->pfd[a->nfds].fd = fd;
	a->pfd[a->nfds].events = POLLIN;
	a->pfd[a->nfds].revents = 0;
	a->fn[a->nfds++] = fn;
}

void agent_set_error(struct agent *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->st.last_error, sizeof(a->st.last_error), fmt, ap);
	va_end(ap);
}

/* ---- sources ---- */

static int start_watches(struct agent *a, char *err, size_t errlen)
{
	static const char *const paths[] = { "/api/v1/pods", "/api/v1/namespaces",
					     "/api/v1/nodes" };
	char pod_sel[300], node_sel[300];
	const char *sel[] = { pod_sel, NULL, node_sel };
	struct agent_watch_cfg cfg = {
		.page_limit = a->o->page_limit, .timeout_s = a->o->watch_timeout_s,
		.backoff_min_ms = a->o->backoff_min_ms,
		.backoff_max_ms = a->o->backoff_max_ms,
	};
	int k, ret;

	snprintf(pod_sel, sizeof(pod_sel), "spec.nodeName=%s", a->o->node);
	snprintf(node_sel, sizeof(node_sel), "metadata.name=%s", a->o->node);
	for (k = 0; k < AGENT_KIND__N; k++) {
		cfg.path = paths[k];
		cfg.field_selector = sel[k];
		ret = agent_watch_start(a->kube, &cfg, &agent_store_ops,
					agent_store_feed(a->store, (enum agent_kind)k),
					&a->watches[k]);
		if (ret) {
			snprintf(err, errlen, "watch %s: %s", paths[k], strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int start_sources(struct agent *a, char *err, size_t errlen)
{
	const struct agent_opts *o = a->o;
	char e[512];
	int ret;

	if (o->local_dir) {
		ret = agent_local_create(o->local_dir, o->node, a->store, &a->local);
		if (ret) {
			snprintf(err, errlen, "%s: %s", o->local_dir, strerror(-ret));
			return ret;
		}
		if (agent_local_reload(a->local, e, sizeof(e)))
			hp_warn("manifest", "error=%s", hp_log_q(err, errlen, e));
		return 0;
	}
	a->kube = o->kubeconfig ? agent_kube_from_kubeconfig(o->kubeconfig, err, errlen)
				: agent_kube_in_cluster(o->sa_dir, err, errlen);
	return a->kube ? start_watches(a, err, errlen) : -EINVAL;
}

static void on_local(struct agent *a, int fd, short revents)
{
	char e[512], q[600];

	(void)fd, (void)revents;
	if (agent_local_reload(a->local, e, sizeof(e))) {
		hp_warn("manifest", "error=%s", hp_log_q(q, sizeof(q), e));
		agent_set_error(a, "%s", e);
	}
}

static void on_event(struct agent *a, int fd, short revents)
{
	uint64_t v;

	(void)revents;
	if (read(fd, &v, sizeof(v)) < 0)
		return;
	a->dirty = true;
}

static void on_signal(struct agent *a, int fd, short revents)
{
	struct signalfd_siginfo si;

	(void)revents;
	if (read(fd, &si, sizeof(si)) == sizeof(si))
		a->stop = true;
}

static void on_tick(struct agent *a, int fd, short revents)
{
	uint64_t n;

	(void)revents;
	if (read(fd, &n, sizeof(n)) < 0)
		return;
	if (a->o->role == AGENT_ROLE_HOST)
		agent_host_tick(a);
	else
		agent_dpu_tick(a);
	a->dirty = true;
}

/* ---- checkpoint and metrics ---- */

static void checkpoint(struct agent *a)
{
	json_t *doc, *cap;
	char *text, err[512];

	/* Compare without the generation and the DPU's fluctuating free CPU
	 * and memory: those alone do not justify a write. */
	a->st.generation++;
	doc = agent_state_to_json(&a->st);
	json_object_del(doc, "generation");
	cap = json_deep_copy(json_object_get(doc, "dpu"));
	json_object_del(json_object_get(doc, "dpu"), "cpu_free_millis");
	json_object_del(json_object_get(doc, "dpu"), "mem_free_bytes");
	text = json_dumps(doc, JSON_COMPACT);
	json_object_set_new(doc, "dpu", cap);
	if (!text || (a->last_checkpoint && !strcmp(text, a->last_checkpoint))) {
		a->st.generation--;	/* nothing changed: keep the generation */
		goto out;
	}
	json_object_set_new(doc, "generation", json_integer((json_int_t)a->st.generation));
	if (agent_checkpoint_write(a->o->state_dir, doc, err, sizeof(err))) {
		hp_err("checkpoint", "error=\"%s\"", err);
		goto out;
	}
	free(a->last_checkpoint);
	a->last_checkpoint = text;
	text = NULL;
	pthread_mutex_lock(&a->metrics.lock);
	a->metrics.checkpoint_writes++;
	pthread_mutex_unlock(&a->metrics.lock);
out:
	free(text);
	json_decref(doc);
}

static bool sources_ready(struct agent *a)
{
	int k;

	for (k = 0; k < AGENT_KIND__N; k++)
		if (!a->local && !agent_store_synced(a->store, (enum agent_kind)k))
			return false;
	return true;
}

static void update_metrics(struct agent *a)
{
	struct agent_metrics *m = &a->metrics;
	struct agent_watch_stats ws;
	size_t i;
	int k;

	pthread_mutex_lock(&m->lock);
	m->ready = sources_ready(a);
	m->reconciles++;
	memset(m->pods, 0, sizeof(m->pods));
	memset(m->split, 0, sizeof(m->split));
	m->on_dpu = 0;
	for (i = 0; i < a->st.n; i++) {
		m->pods[a->st.pods[i].cls]++;
		m->split[a->st.pods[i].split]++;
		m->on_dpu += a->st.pods[i].place == AGENT_PLACE_DPU;
	}
	m->dpu_healthy = a->st.dpu.healthy;
	m->failovers = a->st.dpu.failovers;
	m->events = agent_events_count(a->events);
	m->watch_events = m->watch_errors = m->relists = 0;
	for (k = 0; k < AGENT_KIND__N; k++) {
		if (!a->watches[k])
			continue;
		agent_watch_get_stats(a->watches[k], &ws);
		m->watch_events += ws.events;
		m->watch_errors += ws.errors;
		m->relists += ws.lists;
	}
	pthread_mutex_unlock(&m->lock);
}

static void push_state(struct agent *a);

static void reconcile(struct agent *a)
{
	a->dirty = false;
	if (a->o->role == AGENT_ROLE_HOST)
		agent_host_reconcile(a);
	else
		agent_dpu_reconcile(a);
	push_state(a);
	checkpoint(a);
	update_metrics(a);
}

/* ---- set-up and loop ---- */

static void restore(struct agent *a)
{
	char err[512];
	json_t *doc;
	int ret;

	doc = agent_checkpoint_read(a->o->state_dir, &ret, err, sizeof(err));
	if (!doc) {
		if (ret != -ENOENT)
			hp_warn("checkpoint", "error=\"%s\" action=ignored", err);
		return;
	}
	if (agent_state_from_json(&a->st, doc))
		hp_warn("checkpoint", "error=\"%s: not a version %d checkpoint\" action=ignored",
			err, AGENT_STATE_VERSION);
	else
		hp_info("checkpoint", "restored=%zu generation=%llu", a->st.n,
			(unsigned long long)a->st.generation);
	json_decref(doc);
}

static int make_fds(struct agent *a)
{
	struct itimerspec its = { 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	a->sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	a->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (a->sigfd < 0 || a->evfd < 0 || a->tfd < 0)
		return -errno;
	its.it_value.tv_sec = a->o->heartbeat_ms / 1000;
	its.it_value.tv_nsec = (a->o->heartbeat_ms % 1000) * 1000000L;
	its.it_interval = its.it_value;
	return timerfd_settime(a->tfd, 0, &its, NULL) ? -errno : 0;
}

/* ---- state push to the extender ---- */

static int start_push(struct agent *a, char *err, size_t errlen)
{
	const struct agent_opts *o = a->o;
	char url[1024], node[256], source[400];
	const char *host = o->extender ? strstr(o->extender, "://") : NULL;
	int ret;

	if (!o->extender)
		return 0;
	if (!host || (strncmp(o->extender, "http://", 7) && strncmp(o->extender, "https://", 8))) {
		snprintf(err, errlen, "extender URL '%s': accepted: http://HOST:PORT[/PATH], "
			 "https://...", o->extender);
		return -EINVAL;
	}
	/* Without a path, the extender's default state path. */
	snprintf(url, sizeof(url), "%s%s", o->extender, strchr(host + 3, '/') ? "" : "/v1/state");
	if (o->extender_node)
		snprintf(node, sizeof(node), "%s", o->extender_node);
	else
		snprintf(node, sizeof(node), "%s%s", o->node,
			 o->role == AGENT_ROLE_DPU ? "-dpu" : "");
	snprintf(source, sizeof(source), "heteropod-agent/%s/%s", agent_role_names[o->role],
		 node);
	ret = agent_push_start(url, source, node, o->extender_ms, &a->push);
	if (ret)
		snprintf(err, errlen, "extender push: %s", strerror(-ret));
	return ret;
}

/*
 * The warm fork templates this PU holds: a template is a pod labelled
 * heteropod.io/template=NAME, bound to this node (spec.nodeName) and
 * Running; its process is the warm parent that forks function instances.
 * Pods stay bound to their host Node when containers move, so the host
 * role reports them; the dpu role watches the same node's pods and
 * reports none (an empty object).
 */
static json_t *held_templates(struct agent *a)
{
	json_t *out = json_object(), *pods, *pod;
	const char *key, *tpl, *on, *phase;

	if (a->o->role != AGENT_ROLE_HOST)
		return out;
	pods = agent_store_snapshot(a->store, AGENT_KIND_POD);
	json_object_foreach(pods, key, pod) {
		tpl = hp_json_str(pod, "metadata", "labels", AGENT_LABEL_TEMPLATE, NULL);
		on = hp_json_str(pod, "spec", "nodeName", NULL);
		phase = hp_json_str(pod, "status", "phase", NULL);
		if (tpl && *tpl && on && !strcmp(on, a->o->node) && phase &&
		    !strcmp(phase, "Running"))
			json_object_set_new(out, tpl, json_true());
	}
	json_decref(pods);
	return out;
}

/* Hand this PU's current state to the push thread; note its outcome. */
static void push_state(struct agent *a)
{
	const char *node = a->o->extender_node;
	struct agent_push_stats s;
	char name[256];
	json_t *nodes, *images, *templates;
	int dpu;

	if (!a->push)
		return;
	snprintf(name, sizeof(name), "%s%s", node ?: a->o->node,
		 !node && a->o->role == AGENT_ROLE_DPU ? "-dpu" : "");
	nodes = agent_store_snapshot(a->store, AGENT_KIND_NODE);
	images = json_object_get(json_object_get(json_object_get(nodes, name), "status"),
				 "images");
	if (a->o->role == AGENT_ROLE_DPU)
		dpu = HETEROPOD__NODESTATE__DPU_STATE__DPU_UP;	/* this is it */
	else if (a->st.dpu.healthy)
		dpu = HETEROPOD__NODESTATE__DPU_STATE__DPU_UP;
	else if (agent_now_ms() - a->start_ms < a->o->heartbeat_ms * a->o->heartbeat_misses)
		dpu = HETEROPOD__NODESTATE__DPU_STATE__DPU_UNKNOWN;
	else
		dpu = HETEROPOD__NODESTATE__DPU_STATE__DPU_DOWN;
	templates = held_templates(a);
	agent_push_set(a->push, images, templates, dpu);
	json_decref(nodes);
	agent_push_stats(a->push, &s);
	snprintf(a->st.extender, sizeof(a->st.extender),
		 "node %.64s: %s, generation %llu, %lu snapshots, %zu templates", name,
		 s.last[0] ? s.last : "not pushed yet", (unsigned long long)s.generation,
		 s.snapshots, json_object_size(templates));
	json_decref(templates);
}

static int setup(struct agent *a, char *err, size_t errlen)
{
	const struct agent_opts *o = a->o;
	int ret;

	ret = make_fds(a);
	if (ret) {
		snprintf(err, errlen, "event fds: %s", strerror(-ret));
		return ret;
	}
	pthread_mutex_init(&a->metrics.lock, NULL);
	agent_state_init(&a->st, agent_role_names[o->role], o->node);
	restore(a);
	a->store = agent_store_create(a->evfd);
	if (!a->store)
		return -ENOMEM;
	ret = start_sources(a, err, errlen);
	if (ret)
		return ret;
	a->events = agent_events_create(a->kube, o->node);
	if (!a->events)
		return -ENOMEM;
	if (o->listen) {
		ret = agent_http_start(o->listen, &a->metrics, &a->http);
		if (ret) {
			snprintf(err, errlen, "--listen %s: %s", o->listen, strerror(-ret));
			return ret;
		}
	}
	ret = start_push(a, err, errlen);
	if (ret)
		return ret;
	return o->role == AGENT_ROLE_HOST ? agent_host_start(a, err, errlen)
					  : agent_dpu_start(a, err, errlen);
}

static void teardown(struct agent *a)
{
	int k;

	if (a->o->role == AGENT_ROLE_HOST)
		agent_host_stop(a);
	else
		agent_dpu_stop(a);
	agent_peer_close(a);
	if (a->peer_lfd >= 0)
		close(a->peer_lfd);
	agent_http_stop(a->http);
	agent_push_stop(a->push);
	for (k = 0; k < AGENT_KIND__N; k++)
		agent_watch_stop(a->watches[k]);
	agent_local_destroy(a->local);
	agent_events_destroy(a->events);
	agent_store_destroy(a->store);
	agent_kube_destroy(a->kube);
	agent_state_uninit(&a->st);
	agent_peer_rx_uninit(&a->rx);
	free(a->last_checkpoint);
	if (a->sigfd >= 0)
		close(a->sigfd);
	if (a->evfd >= 0)
		close(a->evfd);
	if (a->tfd >= 0)
		close(a->tfd);
}

static void build_pollset(struct agent *a)
{
	a->nfds = 0;
	agent_watch_fd(a, a->sigfd, on_signal);
	agent_watch_fd(a, a->evfd, on_event);
	agent_watch_fd(a, a->tfd, on_tick);
	if (a->local)
		agent_watch_fd(a, agent_local_fd(a->local), on_local);
	if (a->o->role == AGENT_ROLE_HOST)
		agent_host_poll(a);
	else
		agent_dpu_poll(a);
}

/*
 * Each pass runs the handlers of the fds that are ready (a handler may
 * close fds of later entries: the set is rebuilt every pass), then
 * reconciles when anything changed.
 */
static void loop(struct agent *a)
{
	int64_t last = 0, now;
	int i, n, timeout;

	while (!a->stop) {
		/* Reconcile at most every AGENT_MIN_PASS_MS: a burst of watch
		 * events becomes one pass (and one checkpoint write). */
		now = agent_now_ms();
		timeout = -1;
		if (a->dirty && now - last >= AGENT_MIN_PASS_MS) {
			reconcile(a);
			last = now;
		} else if (a->dirty) {
			timeout = (int)(AGENT_MIN_PASS_MS - (now - last));
		}
		build_pollset(a);
		n = poll(a->pfd, (nfds_t)a->nfds, timeout);
		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; n > 0 && i < a->nfds && !a->stop; i++)
			if (a->pfd[i].revents)
				a->fn[i](a, a->pfd[i].fd, a->pfd[i].revents);
	}
}

int agent_run(const struct agent_opts *o, char *err, size_t errlen)
{
	struct agent a = { .o = o, .sigfd = -1, .evfd = -1, .tfd = -1,
			   .peer_lfd = -1, .peer_fd = -1, .zds_fd = -1 };
	int ret;

	agent_peer_rx_init(&a.rx);
	agent_placement_init(&a.place, o->heartbeat_ms, (int)o->heartbeat_misses,
			     (uint32_t)o->min_cpu_millis,
			     (uint64_t)o->min_mem_mib << 20);
	ret = setup(&a, err, errlen);
	if (!ret) {
		hp_info("start", "role=%s node=%s source=%s", agent_role_names[o->role],
			o->node, o->local_dir ? "local" : "kubernetes");
		a.dirty = true;
		loop(&a);
		hp_info("stop", "role=%s pods=%zu", agent_role_names[o->role], a.st.n);
	}
	teardown(&a);
	return ret;
}
