// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "lib/log.h"
#include "scheduler-plugin/args.h"
#include "scheduler-plugin/metrics.h"
#include "scheduler-plugin/reply.h"
#include "scheduler-plugin/server.h"

#define CT_JSON "application/json"
#define CT_PROTO "application/x-protobuf"
#define CT_TEXT "text/plain; charset=utf-8"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"

struct ext_server {
	struct MHD_Daemon *daemon;
	const struct ext_server_config *cfg;
	struct ext_state *st;
	struct ext_metrics metrics;
	int fd;
	char address[80];
	char *cert_pem, *key_pem;
};

/* One request in flight: the route and its body, accumulated. */
struct req {
	enum ext_route route;
	unsigned early;		/* status decided before the body, or 0 */
	char *body;
	size_t len, cap;
	uint64_t start_ns;
};

struct answer {
	unsigned status;
	const char *type;
	struct ext_buf body;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t ext_now_ms(void)
{
	return (int64_t)(now_ns() / 1000000u);
}

static enum ext_route route_of(const struct ext_server_config *cfg, const char *url)
{
	if (!strcmp(url, cfg->filter_path))
		return EXT_R_FILTER;
	if (!strcmp(url, cfg->prioritize_path))
		return EXT_R_PRIORITIZE;
	if (!strcmp(url, cfg->state_path))
		return EXT_R_STATE;
	if (!strcmp(url, "/healthz"))
		return EXT_R_HEALTHZ;
	if (!strcmp(url, "/metrics"))
		return EXT_R_METRICS;
	return EXT_R_OTHER;
}

static void error_answer(struct answer *a, unsigned status, const char *msg)
{
	a->status = status;
	a->type = CT_JSON;
	ext_reply_error(&a->body, msg);
}

/* ---- handlers ---- */

static void log_bad(const struct req *r, const char *err)
{
	char q[512];

	static const char *const names[EXT_R_COUNT] = {
		"filter", "prioritize", "state", "healthz", "metrics", "other",
	};

	hp_warn("bad_request", "route=%s error=%s", names[r->route],
		hp_log_q(q, sizeof(q), err));
}

/* Full Node objects carry status.images: use them for nodes no agent reports. */
static void seed(struct ext_server *srv, const struct ext_args *args)
{
	Heteropod__Nodestate__NodeState **nodes;
	long n = ext_args_seed(args, &nodes);

	if (n > 0 && ext_state_seed(srv->st, nodes, (size_t)n, ext_now_ms()))
		hp_warn("seed_failed", "nodes=%ld error=ENOMEM", n);
	ext_args_free_seed(nodes, n);
}

/* Decode the body into @args, or fill @a with the error answer. */
static int decode(struct ext_server *srv, struct req *r, struct ext_args *args,
		  struct answer *a)
{
	char err[512], empty[1] = "";
	int ret = ext_args_decode(args, r->body ? r->body : empty, r->len, err,
				  sizeof(err));

	if (ret == -EINVAL) {
		log_bad(r, err);
		error_answer(a, MHD_HTTP_BAD_REQUEST, err);
	} else if (ret) {
		error_answer(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	} else if (!args->by_name) {
		seed(srv, args);
	}
	if (!ret && args->bad_offload) {
		char q[128];

		hp_warn("bad_annotation", "pod=%s/%s " EXT_ANN_OFFLOAD "=%s accepted=all,waypoint,none",
			args->pod_ns, args->pod_name,
			hp_log_q(q, sizeof(q), args->bad_offload));
	}
	return ret;
}

static const char *const reason_down =
	"heteropod: the node's DPU is down and the pod needs a DPU";
static const char *const reason_unknown =
	"heteropod: no current DPU state for the node (never reported, or stale) and the pod needs a DPU";

static void decide_dpu(struct ext_server *srv, const struct ext_args *args,
		       enum ext_fail_kind *kind, const char **reason)
{
	enum ext_dpu *dpu = malloc(args->n_nodes * sizeof(*dpu) + 1);
	size_t i;

	if (!dpu)
		return;
	ext_state_dpu(srv->st, args->nodes, args->n_nodes, dpu);
	for (i = 0; i < args->n_nodes; i++) {
		/* Preempting pods cannot bring a DPU up: unresolvable. */
		if (dpu[i] == EXT_DPU_DOWN) {
			kind[i] = EXT_FAIL_UNRESOLVABLE;
			reason[i] = reason_down;
		} else if (dpu[i] == EXT_DPU_UNKNOWN && !srv->cfg->dpu_unknown) {
			kind[i] = EXT_FAIL_UNRESOLVABLE;
			reason[i] = reason_unknown;
		}
	}
	free(dpu);
}

static void do_filter(struct ext_server *srv, struct req *r, struct answer *a)
{
	struct ext_args args;
	enum ext_fail_kind *kind = NULL;
	const char **reason = NULL;
	size_t i, failed = 0;

	if (decode(srv, r, &args, a))
		goto out;
	kind = calloc(args.n_nodes + 1, sizeof(*kind));
	reason = calloc(args.n_nodes + 1, sizeof(*reason));
	if (!kind || !reason) {
		error_answer(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		goto out;
	}
	if (args.needs_dpu)
		decide_dpu(srv, &args, kind, reason);
	for (i = 0; i < args.n_nodes; i++)
		failed += kind[i] != EXT_PASS;
	ext_metrics_add(&srv->metrics.nodes_filtered_out, failed);
	ext_reply_filter(&a->body, args.nodes, args.n_nodes, kind, reason,
			 args.by_name ? NULL : args.node_items, "");
	a->status = MHD_HTTP_OK;
	a->type = CT_JSON;
out:
	free(kind);
	free(reason);
	ext_args_free(&args);
}

static void do_prioritize(struct ext_server *srv, struct req *r, struct answer *a)
{
	struct ext_args args;
	int *scores = NULL;

	if (decode(srv, r, &args, a))
		goto out;
	scores = malloc((args.n_nodes + 1) * sizeof(*scores));
	if (!scores || ext_state_prioritize(srv->st, &args.pod, args.nodes,
					    args.n_nodes, (int)srv->cfg->template_bonus,
					    scores)) {
		error_answer(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		goto out;
	}
	ext_metrics_add(&srv->metrics.nodes_scored, args.n_nodes);
	ext_reply_priorities(&a->body, args.nodes, args.n_nodes, scores);
	a->status = MHD_HTTP_OK;
	a->type = CT_JSON;
out:
	free(scores);
	ext_args_free(&args);
}

static unsigned push_http_status(int status)
{
	switch (status) {
	case HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__NEED_SNAPSHOT:
		return MHD_HTTP_CONFLICT;
	case HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__INVALID:
		return MHD_HTTP_BAD_REQUEST;
	default:
		return MHD_HTTP_OK;
	}
}

static void do_state(struct ext_server *srv, struct req *r, struct answer *a)
{
	Heteropod__Nodestate__PushReply reply = HETEROPOD__NODESTATE__PUSH_REPLY__INIT;
	Heteropod__Nodestate__StatePush *msg;
	char err[512];
	size_t len;

	msg = heteropod__nodestate__state_push__unpack(NULL, r->len,
						       (const uint8_t *)r->body);
	if (!msg) {
		snprintf(err, sizeof(err), "state: cannot decode a StatePush from %zu bytes",
			 r->len);
		reply.status = HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__INVALID;
		reply.error = err;
	} else if (ext_state_apply(srv->st, msg, ext_now_ms(), &reply, err, sizeof(err))) {
		hp_err("push_failed", "source=%s", msg->source);
	}
	ext_metrics_push(&srv->metrics, reply.status);
	if (reply.status >= HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__NEED_SNAPSHOT)
		log_bad(r, err);
	len = heteropod__nodestate__push_reply__get_packed_size(&reply);
	ext_buf_put(&a->body, "", 0);
	if (len && !a->body.failed) {
		char *p = realloc(a->body.data, len + 1);

		if (p) {
			heteropod__nodestate__push_reply__pack(&reply, (uint8_t *)p);
			a->body.data = p;
			a->body.len = len;
		}
	}
	a->status = push_http_status(reply.status);
	a->type = CT_PROTO;
	heteropod__nodestate__state_push__free_unpacked(msg, NULL);
}

static void dispatch(struct ext_server *srv, struct req *r, struct answer *a)
{
	switch (r->route) {
	case EXT_R_FILTER:
		do_filter(srv, r, a);
		break;
	case EXT_R_PRIORITIZE:
		do_prioritize(srv, r, a);
		break;
	case EXT_R_STATE:
		do_state(srv, r, a);
		break;
	case EXT_R_HEALTHZ:
		a->status = MHD_HTTP_OK;
		a->type = CT_TEXT;
		ext_buf_puts(&a->body, "ok\n");
		break;
	case EXT_R_METRICS:
		a->status = MHD_HTTP_OK;
		a->type = CT_PROM;
		ext_metrics_render(&srv->metrics, srv->st, &a->body);
		break;
	default:
		error_answer(a, MHD_HTTP_NOT_FOUND, "no such path");
	}
}

/* ---- libmicrohttpd glue ---- */

static enum MHD_Result send_answer(struct MHD_Connection *c, struct answer *a)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (a->body.failed) {
		ext_buf_free(&a->body);
		a->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		a->type = CT_TEXT;
	}
	resp = MHD_create_response_from_buffer(a->body.len, a->body.data,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		ext_buf_free(&a->body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
	ret = MHD_queue_response(c, a->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static bool wants_post(enum ext_route r)
{
	return r == EXT_R_FILTER || r == EXT_R_PRIORITIZE || r == EXT_R_STATE;
}

/* First call for a request: route it, and decide early errors. */
static struct req *begin(struct ext_server *srv, struct MHD_Connection *c,
			 const char *url, const char *method)
{
	struct req *r = calloc(1, sizeof(*r));
	const char *cl;

	if (!r)
		return NULL;
	r->start_ns = now_ns();
	r->route = route_of(srv->cfg, url);
	if (r->route == EXT_R_OTHER)
		r->early = MHD_HTTP_NOT_FOUND;
	else if (wants_post(r->route) != !strcmp(method, MHD_HTTP_METHOD_POST))
		r->early = MHD_HTTP_METHOD_NOT_ALLOWED;
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!r->early && cl && strtoull(cl, NULL, 10) > (unsigned long long)srv->cfg->max_body)
		r->early = MHD_HTTP_CONTENT_TOO_LARGE;
	return r;
}

/* Append upload data; returns false when over the limit (then 413). */
static bool append(struct ext_server *srv, struct req *r, const char *data, size_t n)
{
	if (r->len + n > (size_t)srv->cfg->max_body)
		return false;
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *p;

		while (cap < r->len + n + 1)
			cap *= 2;
		p = realloc(r->body, cap);
		if (!p)
			return false;
		r->body = p;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return true;
}

static void early_answer(struct req *r, struct answer *a)
{
	static const char *const msgs[] = {
		[0] = "no such path; served: filter, prioritize, state paths, /healthz, /metrics",
		[1] = "method not allowed: filter, prioritize and state take POST; /healthz and /metrics take GET",
		[2] = "request body over the configured limit (maxBodyBytes)",
	};

	if (r->early == MHD_HTTP_NOT_FOUND)
		error_answer(a, r->early, msgs[0]);
	else if (r->early == MHD_HTTP_METHOD_NOT_ALLOWED)
		error_answer(a, r->early, msgs[1]);
	else
		error_answer(a, r->early, msgs[2]);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *data,
				  size_t *data_size, void **ctx)
{
	struct ext_server *srv = cls;
	struct answer a = { 0 };
	struct req *r = *ctx;

	(void)version;
	if (!r) {
		r = begin(srv, c, url, method);
		*ctx = r;
		if (!r)
			return MHD_NO;
		if (r->early != MHD_HTTP_CONTENT_TOO_LARGE)
			return MHD_YES;
		/* Refuse before reading an oversized body. */
		early_answer(r, &a);
		return send_answer(c, &a);
	}
	if (*data_size) {
		if (!r->early && !append(srv, r, data, *data_size))
			r->early = MHD_HTTP_CONTENT_TOO_LARGE;
		*data_size = 0;
		return MHD_YES;
	}
	if (r->early)
		early_answer(r, &a);
	else
		dispatch(srv, r, &a);
	return send_answer(c, &a);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode toe)
{
	struct ext_server *srv = cls;
	struct req *r = *ctx;
	const union MHD_ConnectionInfo *ci;

	(void)toe;
	if (!r)
		return;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
	ext_metrics_request(&srv->metrics, r->route, ci ? ci->http_status : 0,
			    now_ns() - r->start_ns);
	free(r->body);
	free(r);
	*ctx = NULL;
}

/* ---- setup ---- */

static int bind_listen(struct ext_server *srv, const char *listen_addr,
		       char *err, size_t errlen)
{
	char host[64], port[16];
	const char *colon = strrchr(listen_addr, ':');
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, ret = -EINVAL;
	size_t hl;

	if (!colon || (hl = (size_t)(colon - listen_addr)) >= sizeof(host) ||
	    strlen(colon + 1) >= sizeof(port) || !colon[1])
		goto bad;
	memcpy(host, listen_addr, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']')
		memmove(host, host + 1, hl - 2), host[hl - 2] = '\0';
	strcpy(port, colon + 1);
	if (getaddrinfo(host[0] ? host : NULL, port, &hints, &ai))
		goto bad;
	srv->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv->fd < 0 ||
	    setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(srv->fd, ai->ai_addr, ai->ai_addrlen) || listen(srv->fd, 1024) ||
	    getsockname(srv->fd, (struct sockaddr *)&ss, &sl)) {
		ret = -errno;
		snprintf(err, errlen, "listen %s: %s", listen_addr, strerror(errno));
		goto out;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(srv->address, sizeof(srv->address), "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(srv->address, sizeof(srv->address), "%s:%u", host, ntohs(s4->sin_port));
	}
	ret = 0;
	goto out;
bad:
	snprintf(err, errlen, "listen address \"%s\": expected IPV4:PORT or [IPV6]:PORT",
		 listen_addr);
out:
	if (ai)
		freeaddrinfo(ai);
	return ret;
}

static char *slurp(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;

	if (!f || getdelim(&buf, &len, '\0', f) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
		free(buf);
		buf = NULL;
	}
	if (f)
		fclose(f);
	return buf;
}

static int start(struct ext_server *srv, char *err, size_t errlen)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	struct MHD_OptionItem tls[3] = { { MHD_OPTION_END, 0, NULL } };

	if (srv->cfg->tls_cert && srv->cfg->tls_key) {
		srv->cert_pem = slurp(srv->cfg->tls_cert, err, errlen);
		srv->key_pem = srv->cert_pem ? slurp(srv->cfg->tls_key, err, errlen) : NULL;
		if (!srv->key_pem)
			return -EINVAL;
		flags |= MHD_USE_TLS;
		tls[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cert_pem };
		tls[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key_pem };
	}
	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
		MHD_OPTION_LISTEN_SOCKET, srv->fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->cfg->threads,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
		MHD_OPTION_ARRAY, tls,
		MHD_OPTION_END);
	if (!srv->daemon) {
		snprintf(err, errlen, "cannot start the HTTP server on %s%s", srv->address,
			 (flags & MHD_USE_TLS) ? " (check the TLS certificate and key)" : "");
		return -EINVAL;
	}
	srv->fd = -1; /* the daemon owns and closes the listening socket now */
	return 0;
}

struct ext_server *ext_server_create(const struct ext_server_config *cfg,
				     struct ext_state *st, char *err, size_t errlen)
{
	struct ext_server *srv = calloc(1, sizeof(*srv));

	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->cfg = cfg;
	srv->st = st;
	srv->fd = -1;
	if (bind_listen(srv, cfg->listen, err, errlen) || start(srv, err, errlen)) {
		ext_server_destroy(srv);
		return NULL;
	}
	return srv;
}

void ext_server_destroy(struct ext_server *srv)
{
	if (!srv)
		return;
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	if (srv->fd >= 0)
		close(srv->fd);
	free(srv->cert_pem);
	free(srv->key_pem);
	free(srv);
}

const char *ext_server_address(const struct ext_server *srv)
{
	return srv->address;
}
