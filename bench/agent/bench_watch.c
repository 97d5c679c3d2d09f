// SPDX-License-Identifier: GPL-2.0
/*
 * Watch events processed per second by the agent's watch client (line
 * framing, JSON parse, store update), against the API double answering a
 * watch with one burst of N events.  Prints events/s.
 *
 *   bench_watch URL_BASE EVENTS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "offloader/kube.h"
#include "offloader/store.h"
#include "offloader/watch.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct agent_watch_cfg cfg = { .path = "/api/v1/pods", .page_limit = 500,
				       .timeout_s = 60, .backoff_min_ms = 10,
				       .backoff_max_ms = 100 };
	struct agent_watch_stats st = { 0 };
	struct agent_store *s = agent_store_create(-1);
	struct agent_watch *w;
	struct agent_kube *k;
	char cfgpath[] = "/tmp/hpa-bench-kc-XXXXXX", err[256];
	unsigned long want;
	double t0 = 0, t1;
	FILE *f;
	int fd;

	if (argc != 3)
		return 2;
	want = strtoul(argv[2], NULL, 10);
	fd = mkstemp(cfgpath);
	f = fdopen(fd, "w");
	fprintf(f, "current-context: b\nclusters:\n- name: c\n  cluster: {server: '%s'}\n"
		"contexts:\n- name: b\n  context: {cluster: c}\n", argv[1]);
	fclose(f);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	k = agent_kube_from_kubeconfig(cfgpath, err, sizeof(err));
	unlink(cfgpath);
	if (!k || agent_watch_start(k, &cfg, &agent_store_ops,
				    agent_store_feed(s, AGENT_KIND_POD), &w)) {
		fprintf(stderr, "bench_watch: %s\n", err);
		return 1;
	}
	while (st.events < want) {
		agent_watch_get_stats(w, &st);
		if (!t0 && st.lists)
			t0 = now_s();	/* list done: the watch starts now */
		usleep(200);
	}
	t1 = now_s();
	agent_watch_stop(w);
	printf("%.0f\n", (double)want / (t1 - t0));
	agent_store_destroy(s);
	agent_kube_destroy(k);
	return 0;
}
