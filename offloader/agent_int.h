/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internals shared by the agent's loop (agent.c) and its two roles
 * (host.c, dpu.c).  Not a public header.
 *
 * Threads: the loop owns everything here; the watch threads only touch the
 * store, and the HTTP thread only reads struct agent_metrics under its lock.
 */
#ifndef AGENT_INT_H
#define AGENT_INT_H

#include <poll.h>
#include <pthread.h>
#include <stdint.h>

#include "offloader/action.h"
#include "offloader/agent.h"
#include "offloader/events.h"
#include "offloader/kube.h"
#include "offloader/local.h"
#include "offloader/peer.h"
#include "offloader/placement.h"
#include "offloader/push.h"
#include "offloader/split.h"
#include "offloader/state.h"
#include "offloader/store.h"
#include "offloader/watch.h"
#include "offloader/zds.h"

struct agent_http;

struct agent_metrics {
	pthread_mutex_t lock;
	bool ready;
	unsigned long reconciles;
	unsigned long pods[5];		/* by enum agent_class */
	unsigned long on_dpu;
	unsigned long split[4];		/* by enum agent_split */
	bool dpu_healthy;
	unsigned long failovers;
	unsigned long events;
	unsigned long watch_events;
	unsigned long watch_errors;
	unsigned long relists;
	unsigned long zds_messages;
	unsigned long checkpoint_writes;
};

/* One handler per polled fd. */
struct agent;
typedef void (*agent_fd_fn)(struct agent *a, int fd, short revents);

#define AGENT_MAX_FDS 16

struct agent {
	const struct agent_opts *o;
	struct agent_state st;
	struct agent_store *store;
	struct agent_kube *kube;
	struct agent_watch *watches[AGENT_KIND__N];
	struct agent_local *local;
	struct agent_events *events;
	struct agent_http *http;
	struct agent_push *push;	/* NULL: no extender configured */
	struct agent_metrics metrics;
	int evfd, sigfd, tfd;
	bool stop;
	bool dirty;		/* reconcile needed */
	char *last_checkpoint;	/* text last written */

	/* peer link */
	int peer_lfd;		/* dpu */
	int peer_fd;
	bool peer_hello;	/* their Hello received */
	struct agent_peer_rx rx;
	uint64_t hb_seq, next_req;
	int64_t hb_sent_ms;
	struct agent_placement place;
	bool was_healthy;
	int64_t down_since_ms;

	/* host: istio-cni relay */
	int zds_fd;
	char ack_uid[128];	/* request awaiting our ack, "" if none */
	int64_t ack_deadline_ms;

	unsigned zds_epoch;	/* snapshot counter of the istio-cni connection */
	struct faas_chains *chains;	/* FaaS chains of this pass (faas/chain.h) */
	const struct agent_actions *actions;	/* NULL: no split backend */
	struct agent_actions actions_impl;	/* libhpnetns, ctx = this agent */
	bool label_down;
	int64_t label_retry_ms;	/* a failed label PATCH is retried from then */
	bool leader;
	int64_t waypoint_due_ms;	/* node label heteropod.io/dpu-state=down applied */
	int64_t start_ms;

	/* dpu: ZDS server for ztunnel */
	struct agent_zds_server *zsrv;
	char *allow_text;	/* dpu.allow as last written, NULL: not yet */

	struct pollfd pfd[AGENT_MAX_FDS];
	agent_fd_fn fn[AGENT_MAX_FDS];
	int nfds;
};

int64_t agent_now_ms(void);
void agent_watch_fd(struct agent *a, int fd, agent_fd_fn fn);
void agent_set_error(struct agent *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Peer plumbing shared by both roles. */
int agent_peer_send_hello(struct agent *a, int fd);
/* Port map: send this PU's listening set of @p's half when it changed;
 * apply a received PortMapUpdate to @p's half (peerlink.c). */
void agent_ports_push(struct agent *a, struct agent_pod_rec *p, const char *netns,
		      Heteropod__Peer__Half owner);
int agent_ports_keys(const Heteropod__Peer__PortMapUpdate *u, uint32_t *keys,
		     size_t max);
void agent_peer_close(struct agent *a);
/*
 * Read what the peer socket @fd holds and run @handle on each message (a
 * peer must say Hello first), then @after; close the link on a protocol or
 * I/O error.
 */
void agent_peer_pump(struct agent *a, int fd,
		     void (*handle)(struct agent *a, const agent_peer_msg *m),
		     void (*after)(struct agent *a));

/* Roles: set-up, fds to poll, once per tick, after every wake-up. */
int agent_host_start(struct agent *a, char *err, size_t errlen);
void agent_host_poll(struct agent *a);
void agent_host_tick(struct agent *a);
void agent_host_reconcile(struct agent *a);
void agent_host_stop(struct agent *a);

/* Cluster-level writes by the heteropod-leader Lease holder (waypoint.c). */
bool agent_leader(struct agent *a);
void agent_waypoints(struct agent *a);

int agent_dpu_start(struct agent *a, char *err, size_t errlen);
void agent_dpu_poll(struct agent *a);
void agent_dpu_tick(struct agent *a);
void agent_dpu_reconcile(struct agent *a);
void agent_dpu_stop(struct agent *a);

/* HTTP endpoints (libmicrohttpd, own thread). */
int agent_http_start(const char *addr_port, struct agent_metrics *m,
		     struct agent_http **out);
void agent_http_stop(struct agent_http *h);

#endif
