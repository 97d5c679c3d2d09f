// SPDX-License-Identifier: GPL-2.0
/*
 * bench_split CPU_NS DPU_NS POD_IP RULES N: time hpns_split() (link, both
 * halves' batches and routing: the rules are live when it returns; once
 * creating the link, once with the link present), hpns_ports_sync()
 * and hpns_ports_set() (one set-element batch per half), N times each;
 * prints p50/p99 in microseconds.  Run by bench/netns/bench.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netns/hpnetns.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	printf("%-34s p50 %8.0f us   p99 %8.0f us   (n=%d)\n", what, v[n / 2],
	       v[(int)(n * 0.99) < n ? (int)(n * 0.99) : n - 1], n);
}

int main(int argc, char **argv)
{
	struct hpns_ruleset *rs = NULL;
	struct hpns_addrs pod;
	double *split_t, *resplit_t, *sync_t, *port_t;
	int n, ret = 1;

	if (argc != 6) {
		fprintf(stderr, "usage: bench_split CPU DPU POD_IP RULES N\n");
		return 2;
	}
	n = atoi(argv[5]);
	split_t = calloc((size_t)n, sizeof(double));
	resplit_t = calloc((size_t)n, sizeof(double));
	sync_t = calloc((size_t)n, sizeof(double));
	port_t = calloc((size_t)n, sizeof(double));
	if (!split_t || !resplit_t || !sync_t || !port_t || hpns_addrs_parse(argv[3], &pod) ||
	    hpns_ruleset_parse_file(argv[4], NULL, NULL, &rs))
		goto out;
	for (int i = 0; i < n; i++) {
		double t0;

		if (hpns_unsplit(argv[1], argv[2]))
			goto out;
		/* let the deleted link's deferred teardown finish, as it
		 * would between two pods */
		nanosleep(&(struct timespec){ .tv_nsec = 20000000 }, NULL);
		t0 = now_us();
		if (hpns_split(argv[1], argv[2], &pod, rs, NULL, NULL))
			goto out;
		split_t[i] = now_us() - t0;
		t0 = now_us();
		if (hpns_split(argv[1], argv[2], &pod, rs, NULL, NULL))
			goto out;
		resplit_t[i] = now_us() - t0;
		t0 = now_us();
		if (hpns_ports_sync(argv[1], argv[2]) < 0)
			goto out;
		sync_t[i] = now_us() - t0;
	}
	for (int i = 0; i < n; i++) {
		struct hpns_port p = {
			.proto = 6, .port = (uint16_t)(20000 + i),
			.owner = i % 2 ? HPNS_HALF_CPU : HPNS_HALF_DPU,
		};
		double t0 = now_us();

		if (hpns_ports_set(argv[1], argv[2], &p))
			goto out;
		port_t[i] = now_us() - t0;
	}
	report("split (new link, both halves)", split_t, n);
	report("re-split (link exists)", resplit_t, n);
	report("port sync (sock_diag, both halves)", sync_t, n);
	report("port-map update (both halves)", port_t, n);
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "bench_split: failed\n");
	hpns_ruleset_destroy(rs);
	free(split_t);
	free(resplit_t);
	free(sync_t);
	free(port_t);
	return ret;
}
