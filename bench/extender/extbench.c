// SPDX-License-Identifier: GPL-2.0
/*
 * Load generator for heteropod-extender (see run.sh):
 *   extbench push    --server URL --nodes N [--per-node K] [--pool P] [--digests]
 *       push one snapshot per node, as N agents would (source = node name)
 *   extbench latency --server URL --nodes N [--requests R] [--path P]
 *       prioritize requests naming N nodes over one keep-alive connection;
 *       prints p50/p99/mean in microseconds ("--path /healthz" = GET baseline)
 *   extbench body    --nodes N
 *       one prioritize body naming N nodes, on stdout (for wrk)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "bench/extender/cluster.h"
#include "proto/nodestate.pb-c.h"

struct opts {
	const char *server, *path;
	unsigned nodes, per_node, pool, requests;
	bool digests;
};

static size_t sink(char *p, size_t s, size_t n, void *u)
{
	(void)p, (void)u;
	return s * n;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static CURL *client(const char *url, struct curl_slist **hdr, const char *type)
{
	CURL *c = curl_easy_init();
	char h[128];

	snprintf(h, sizeof(h), "Content-Type: %s", type);
	*hdr = curl_slist_append(NULL, h);
	/* no "Expect: 100-continue" round trip: kube-scheduler does not send it */
	*hdr = curl_slist_append(*hdr, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	return c;
}

static int push_node(CURL *c, struct cluster *cl, unsigned node, unsigned *idx)
{
	Heteropod__Nodestate__StatePush msg = HETEROPOD__NODESTATE__STATE_PUSH__INIT;
	Heteropod__Nodestate__Snapshot snap = HETEROPOD__NODESTATE__SNAPSHOT__INIT;
	Heteropod__Nodestate__NodeState ns = HETEROPOD__NODESTATE__NODE_STATE__INIT;
	Heteropod__Nodestate__NodeState *nsp = &ns;
	Heteropod__Nodestate__Image *imgs = calloc(cl->per_node, sizeof(*imgs));
	Heteropod__Nodestate__Image **ip = calloc(cl->per_node, sizeof(*ip));
	char *names[2 * 1024], name[32];
	uint8_t *buf = NULL;
	long http = 0;
	size_t len;
	unsigned i;
	int ret = -ENOMEM;

	if (!imgs || !ip || cl->per_node > 1024)
		goto out;
	cluster_node_name(node, name, sizeof(name));
	cluster_node_images(cl, idx);
	for (i = 0; i < cl->per_node; i++) {
		Heteropod__Nodestate__Image init = HETEROPOD__NODESTATE__IMAGE__INIT;

		imgs[i] = init;
		names[2 * i] = cl->tag[idx[i]];
		names[2 * i + 1] = cl->digest[idx[i]];
		imgs[i].names = &names[2 * i];
		imgs[i].n_names = cl->digests ? 2 : 1;
		imgs[i].size_bytes = cl->size[idx[i]];
		ip[i] = &imgs[i];
	}
	ns.name = name;
	ns.dpu = HETEROPOD__NODESTATE__DPU_STATE__DPU_UP;
	ns.images = ip;
	ns.n_images = cl->per_node;
	snap.nodes = &nsp;
	snap.n_nodes = 1;
	msg.source = name;
	msg.generation = 1;
	msg.body_case = HETEROPOD__NODESTATE__STATE_PUSH__BODY_SNAPSHOT;
	msg.snapshot = &snap;
	len = heteropod__nodestate__state_push__get_packed_size(&msg);
	buf = malloc(len);
	if (!buf)
		goto out;
	heteropod__nodestate__state_push__pack(&msg, buf);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)buf);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	ret = curl_easy_perform(c) == CURLE_OK ? 0 : -EIO;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
	if (!ret && http != 200)
		ret = -EPROTO;
out:
	free(buf);
	free(imgs);
	free(ip);
	return ret;
}

static int cmd_push(const struct opts *o)
{
	struct curl_slist *hdr;
	struct cluster cl;
	char url[512];
	unsigned *idx, i;
	double t0 = now_us();
	int ret = 1;

	snprintf(url, sizeof(url), "%s%s", o->server, o->path ? o->path : "/v1/state");
	if (cluster_init(&cl, o->nodes, o->per_node, o->pool, o->digests, 42))
		return 1;
	idx = calloc(o->per_node, sizeof(*idx));
	CURL *c = client(url, &hdr, "application/x-protobuf");
	for (i = 0; idx && i < o->nodes; i++) {
		if (push_node(c, &cl, i, idx)) {
			fprintf(stderr, "extbench: push of node %u failed\n", i);
			goto out;
		}
	}
	printf("pushed %u nodes x %u images (pool %u, %s) in %.1f s\n", o->nodes,
	       o->per_node, o->pool, o->digests ? "tag+digest names" : "tag names",
	       (now_us() - t0) / 1e6);
	ret = 0;
out:
	free(idx);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	cluster_free(&cl);
	return ret;
}

/* A prioritize body naming nodes 0..n-1, for a pod of 1-3 containers. */
static char *make_body(struct cluster *cl, unsigned n)
{
	size_t cap = 512 + (size_t)n * 16, len = 0;
	char *b = malloc(cap);
	unsigned i, k = 1 + (unsigned)(cluster_rand(cl) % 3);
	unsigned fn = cluster_pick(cl);

	if (!b)
		return NULL;
	len += (size_t)sprintf(b + len, "{\"Pod\":{\"metadata\":{\"name\":\"fn-%u-x\",\"namespace\":\"bench\","
			       "\"labels\":{\"heteropod.io/template\":\"fn-%u\"}},\"spec\":{\"containers\":[",
			       fn, fn);
	for (i = 0; i < k; i++)
		len += (size_t)sprintf(b + len, "%s{\"name\":\"c%u\",\"image\":\"%s\"}", i ? "," : "",
				       i, cl->tag[i ? cluster_pick(cl) : fn]);
	len += (size_t)sprintf(b + len, "]}},\"Nodes\":null,\"NodeNames\":[");
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(b + len, "%s\"node-%05u\"", i ? "," : "", i);
	sprintf(b + len, "]}");
	return b;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmd_latency(const struct opts *o)
{
	const char *path = o->path ? o->path : "/prioritize";
	bool get = !strcmp(path, "/healthz");
	struct curl_slist *hdr;
	struct cluster cl;
	char *bodies[32] = { 0 }, url[512];
	double *lat = calloc(o->requests, sizeof(*lat)), sum = 0;
	unsigned i;
	CURL *c;

	snprintf(url, sizeof(url), "%s%s", o->server, path);
	if (!lat || cluster_init(&cl, o->nodes, 1, o->pool, false, 7))
		return 1;
	for (i = 0; i < 32; i++)
		bodies[i] = make_body(&cl, o->nodes);
	c = client(url, &hdr, "application/json");
	for (i = 0; i < o->requests + 50; i++) {
		double t0;

		if (!get)
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, bodies[i % 32]);
		t0 = now_us();
		if (curl_easy_perform(c) != CURLE_OK) {
			fprintf(stderr, "extbench: request to %s failed\n", url);
			return 1;
		}
		if (i >= 50) /* the first 50 warm up */
			sum += lat[i - 50] = now_us() - t0;
	}
	qsort(lat, o->requests, sizeof(*lat), cmp_d);
	printf("%s nodes=%u requests=%u p50_us=%.0f p99_us=%.0f mean_us=%.0f\n", path,
	       o->nodes, o->requests, lat[o->requests / 2], lat[o->requests * 99 / 100],
	       sum / o->requests);
	for (i = 0; i < 32; i++)
		free(bodies[i]);
	free(lat);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	cluster_free(&cl);
	return 0;
}

static int cmd_body(const struct opts *o)
{
	struct cluster cl;
	char *b;

	if (cluster_init(&cl, o->nodes, 1, o->pool, false, 7))
		return 1;
	b = make_body(&cl, o->nodes);
	fputs(b, stdout);
	free(b);
	cluster_free(&cl);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", 1, NULL, 's' }, { "nodes", 1, NULL, 'n' },
		{ "per-node", 1, NULL, 'k' }, { "pool", 1, NULL, 'p' },
		{ "requests", 1, NULL, 'r' }, { "path", 1, NULL, 'P' },
		{ "digests", 0, NULL, 'd' }, { 0 }
	};
	struct opts o = { .nodes = 100, .per_node = 500, .pool = 5000, .requests = 2000 };
	const char *cmd = argc > 1 ? argv[1] : "";
	int c, ret;

	while ((c = getopt_long(argc - 1, argv + 1, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': o.server = optarg; break;
		case 'n': o.nodes = (unsigned)atoi(optarg); break;
		case 'k': o.per_node = (unsigned)atoi(optarg); break;
		case 'p': o.pool = (unsigned)atoi(optarg); break;
		case 'r': o.requests = (unsigned)atoi(optarg); break;
		case 'P': o.path = optarg; break;
		case 'd': o.digests = true; break;
		default: return 2;
		}
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!strcmp(cmd, "push") && o.server)
		ret = cmd_push(&o);
	else if (!strcmp(cmd, "latency") && o.server && o.requests)
		ret = cmd_latency(&o);
	else if (!strcmp(cmd, "body"))
		ret = cmd_body(&o);
	else
		ret = (fprintf(stderr, "usage: extbench push|latency|body --server URL --nodes N ...\n"), 2);
	curl_global_cleanup();
	return ret;
}
