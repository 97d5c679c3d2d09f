// SPDX-License-Identifier: GPL-2.0
/*
 * /healthz (the loop is alive), /readyz (sources listed at least once) and
 * Prometheus /metrics, served by libmicrohttpd on its own thread from the
 * struct agent_metrics snapshot the loop updates after each reconcile.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offloader/agent_int.h"

struct agent_http {
	struct MHD_Daemon *d;
	struct agent_metrics *m;
};

static void metrics_text(struct agent_metrics *m, char *buf, size_t n)
{
	size_t o = 0;
	int i;

#define P(...) (o += (size_t)snprintf(buf + o, o < n ? n - o : 0, __VA_ARGS__))
	pthread_mutex_lock(&m->lock);
	P("# HELP heteropod_agent_pods Pods on this node by class.\n"
	  "# TYPE heteropod_agent_pods gauge\n");
	for (i = 0; i < 5; i++)
		P("heteropod_agent_pods{class=\"%s\"} %lu\n", agent_class_names[i], m->pods[i]);
	P("# TYPE heteropod_agent_pods_split gauge\n");
	for (i = 0; i < 4; i++)
		P("heteropod_agent_pods_split{state=\"%s\"} %lu\n", agent_split_names[i],
		  m->split[i]);
	P("# TYPE heteropod_agent_pods_on_dpu gauge\nheteropod_agent_pods_on_dpu %lu\n",
	  m->on_dpu);
	P("# TYPE heteropod_agent_dpu_healthy gauge\nheteropod_agent_dpu_healthy %d\n",
	  m->dpu_healthy);
	P("# TYPE heteropod_agent_dpu_failovers_total counter\n"
	  "heteropod_agent_dpu_failovers_total %lu\n", m->failovers);
	P("# TYPE heteropod_agent_reconciles_total counter\n"
	  "heteropod_agent_reconciles_total %lu\n", m->reconciles);
	P("# TYPE heteropod_agent_events_total counter\nheteropod_agent_events_total %lu\n",
	  m->events);
	P("# TYPE heteropod_agent_watch_events_total counter\n"
	  "heteropod_agent_watch_events_total %lu\n", m->watch_events);
	P("# TYPE heteropod_agent_watch_errors_total counter\n"
	  "heteropod_agent_watch_errors_total %lu\n", m->watch_errors);
	P("# TYPE heteropod_agent_lists_total counter\nheteropod_agent_lists_total %lu\n",
	  m->relists);
	P("# TYPE heteropod_agent_zds_messages_total counter\n"
	  "heteropod_agent_zds_messages_total %lu\n", m->zds_messages);
	P("# TYPE heteropod_agent_checkpoint_writes_total counter\n"
	  "heteropod_agent_checkpoint_writes_total %lu\n", m->checkpoint_writes);
	pthread_mutex_unlock(&m->lock);
#undef P
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code,
			     const char *type, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body),
		(void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version,
			       const char *upload, size_t *upload_size, void **ptr)
{
	struct agent_http *h = cls;
	char buf[8192];
	bool ready;

	(void)version, (void)upload, (void)upload_size, (void)ptr;
	if (strcmp(method, "GET"))
		return reply(c, 405, "text/plain", "method not allowed\n");
	if (!strcmp(url, "/healthz"))
		return reply(c, 200, "text/plain", "ok\n");
	if (!strcmp(url, "/readyz")) {
		pthread_mutex_lock(&h->m->lock);
		ready = h->m->ready;
		pthread_mutex_unlock(&h->m->lock);
		return reply(c, ready ? 200 : 503, "text/plain",
			     ready ? "ready\n" : "sources not synced\n");
	}
	if (!strcmp(url, "/metrics")) {
		metrics_text(h->m, buf, sizeof(buf));
		return reply(c, 200, "text/plain; version=0.0.4", buf);
	}
	return reply(c, 404, "text/plain", "not found\n");
}

static int parse_addr(const char *addr_port, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(addr_port, ':');
	size_t hl = colon ? (size_t)(colon - addr_port) : 0;

	if (!colon || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr_port, hl);
	host[hl] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	if (!*host)
		sa->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

int agent_http_start(const char *addr_port, struct agent_metrics *m,
		     struct agent_http **out)
{
	struct agent_http *h = calloc(1, sizeof(*h));
	struct sockaddr_in sa;
	int ret = parse_addr(addr_port, &sa);

	if (!h || ret) {
		free(h);
		return ret ? ret : -ENOMEM;
	}
	h->m = m;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, ntohs(sa.sin_port),
				NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_END);
	if (!h->d) {
		free(h);
		return -EADDRINUSE;
	}
	*out = h;
	return 0;
}

void agent_http_stop(struct agent_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
