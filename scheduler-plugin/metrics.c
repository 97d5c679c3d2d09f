// SPDX-License-Identifier: GPL-2.0
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "scheduler-plugin/metrics.h"

static const unsigned codes[8] = { 200, 400, 404, 405, 409, 413, 500, 0 };
static const char *const routes[EXT_R_COUNT] = {
	"filter", "prioritize", "state", "healthz", "metrics", "other",
};
static const double bounds[EXT_LAT_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.5, 1,
};
static const char *const push_status[5] = {
	"applied", "duplicate", "keepalive", "need_snapshot", "invalid",
};

void ext_metrics_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void ext_metrics_request(struct ext_metrics *m, enum ext_route r,
			 unsigned status, uint64_t ns)
{
	unsigned i;
	int b;

	for (i = 0; codes[i] && codes[i] != status; i++)
		;
	ext_metrics_add(&m->requests[r][i], 1);
	for (b = 0; b < EXT_LAT_BUCKETS; b++)
		if ((double)ns / 1e9 <= bounds[b])
			ext_metrics_add(&m->latency[r][b], 1);
	ext_metrics_add(&m->latency_count[r], 1);
	ext_metrics_add(&m->latency_sum_ns[r], ns);
}

void ext_metrics_push(struct ext_metrics *m, int status)
{
	if (status >= 0 && status < 5)
		ext_metrics_add(&m->pushes[status], 1);
}

static void line(struct ext_buf *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void line(struct ext_buf *out, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		ext_buf_put(out, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void render_requests(const struct ext_metrics *m, struct ext_buf *out)
{
	int r, i;

	line(out, "# HELP heteropod_extender_requests_total HTTP requests by route and status.\n"
	     "# TYPE heteropod_extender_requests_total counter\n");
	for (r = 0; r < EXT_R_COUNT; r++)
		for (i = 0; i < 8; i++)
			if (get(&m->requests[r][i]))
				line(out, "heteropod_extender_requests_total{route=\"%s\",code=\"%s%u\"} %" PRIu64 "\n",
				     routes[r], codes[i] ? "" : "other", codes[i] ? codes[i] : 0,
				     get(&m->requests[r][i]));
}

static void render_latency(const struct ext_metrics *m, struct ext_buf *out)
{
	int r, b;

	line(out, "# HELP heteropod_extender_request_duration_seconds Time from request headers to the reply sent.\n"
	     "# TYPE heteropod_extender_request_duration_seconds histogram\n");
	for (r = 0; r < EXT_R_COUNT; r++) {
		if (!get(&m->latency_count[r]))
			continue;
		for (b = 0; b < EXT_LAT_BUCKETS; b++)
			line(out, "heteropod_extender_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %" PRIu64 "\n",
			     routes[r], bounds[b], get(&m->latency[r][b]));
		line(out, "heteropod_extender_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %" PRIu64 "\n"
		     "heteropod_extender_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
		     "heteropod_extender_request_duration_seconds_count{route=\"%s\"} %" PRIu64 "\n",
		     routes[r], get(&m->latency_count[r]), routes[r],
		     (double)get(&m->latency_sum_ns[r]) / 1e9, routes[r],
		     get(&m->latency_count[r]));
	}
}

static void gauge(struct ext_buf *out, const char *name, const char *help,
		  uint64_t v)
{
	line(out, "# HELP heteropod_extender_%s %s\n# TYPE heteropod_extender_%s gauge\n"
	     "heteropod_extender_%s %" PRIu64 "\n", name, help, name, name, v);
}

void ext_metrics_render(const struct ext_metrics *m, struct ext_state *st,
			struct ext_buf *out)
{
	struct ext_state_stats s;
	int i;

	ext_state_stats(st, &s);
	render_requests(m, out);
	render_latency(m, out);
	line(out, "# HELP heteropod_extender_pushes_total State pushes by outcome.\n"
	     "# TYPE heteropod_extender_pushes_total counter\n");
	for (i = 0; i < 5; i++)
		line(out, "heteropod_extender_pushes_total{status=\"%s\"} %" PRIu64 "\n",
		     push_status[i], get(&m->pushes[i]));
	line(out, "# HELP heteropod_extender_nodes_scored_total Nodes scored by prioritize.\n"
	     "# TYPE heteropod_extender_nodes_scored_total counter\n"
	     "heteropod_extender_nodes_scored_total %" PRIu64 "\n"
	     "# HELP heteropod_extender_nodes_filtered_total Nodes removed by filter.\n"
	     "# TYPE heteropod_extender_nodes_filtered_total counter\n"
	     "heteropod_extender_nodes_filtered_total %" PRIu64 "\n",
	     get(&m->nodes_scored), get(&m->nodes_filtered_out));
	gauge(out, "nodes", "Nodes with pushed state (stale included).", s.nodes);
	gauge(out, "stale_nodes", "Nodes whose source stopped pushing.", s.stale_nodes);
	gauge(out, "image_names", "Distinct image names interned.", s.image_names);
	gauge(out, "template_names", "Distinct template names interned.", s.template_names);
	gauge(out, "sources", "State sources seen.", s.sources);
	gauge(out, "image_refs", "Image names held, summed over nodes.", s.image_refs);
	gauge(out, "state_bytes", "Memory held by the node state.", s.bytes);
}
