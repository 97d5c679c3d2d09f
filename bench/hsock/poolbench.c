// SPDX-License-Identifier: GPL-2.0
/*
 * Cost of the record pool's fast path (hsock/commit.h), rseq arenas vs
 * the CAS arenas (HSOCK_RSEQ=0), measured in one run, alternating rounds:
 *	poolbench [ROUNDS] [CYCLES]
 * per round and path: ns per take+abort cycle of 1 and of 16 records (the
 * arena alone) and per take+commit+release of 16 (the whole commit step),
 * single thread, pinned.  Prints the median of the rounds and the ratio.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "hsock/commit.h"
#include "hsock/ial.h"

enum { TAKE1, TAKE16, FULL16, NR_KINDS };
static const char *const kind_names[NR_KINDS] = {
	"take+abort 1", "take+abort 16", "take+commit+release 16",
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ns per cycle of @kind over @cycles cycles; NAN-free: 0 on a failure. */
static double run(struct hs_pool *p, int kind, long cycles)
{
	uint32_t r[16], n = kind == TAKE1 ? 1 : 16;
	double t0 = now_ns();
	long i;

	for (i = 0; i < cycles; i++) {
		if (hs_rec_take(p, r, n) != n)
			return 0;
		if (kind != FULL16) {
			hs_rec_abort(p, r, n);
		} else if (hs_rec_commit(p, r, n) || hs_rec_release(p, r, n)) {
			return 0;
		}
	}
	return (now_ns() - t0) / cycles;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 9, i, k, m;
	long cycles = argc > 2 ? atol(argv[2]) : 200000;
	double ns[2][NR_KINDS][64], med[2][NR_KINDS];
	char dir[] = "/tmp/poolbench-XXXXXX", err[256];
	struct hs_pool *p[2];
	struct ial *ial;
	cpu_set_t set;

	if (rounds < 1 || rounds > 64 || cycles < 1 || !mkdtemp(dir))
		return 2;
	setenv("HSOCK_SHM_DIR", dir, 1);
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	sched_setaffinity(0, sizeof(set), &set);
	if (ial_open("shm", &ial, err, sizeof(err)) ||
	    hs_pool_open(ial, "rseq", 4096, 4096, &p[0]))
		return 1;
	setenv("HSOCK_RSEQ", "0", 1);
	if (hs_pool_open(ial, "cas", 4096, 4096, &p[1]))
		return 1;
	for (i = 0; i < rounds; i++)
		for (k = 0; k < NR_KINDS; k++)
			for (m = 0; m < 2; m++)
				ns[m][k][i] = run(p[(m + i) % 2 ? 1 : 0], k, cycles);
	/* rounds alternate which path goes first: undo that in the results */
	for (i = 0; i < rounds; i++)
		for (k = 0; k < NR_KINDS; k++)
			if (i % 2) {
				double t = ns[0][k][i];

				ns[0][k][i] = ns[1][k][i];
				ns[1][k][i] = t;
			}
	printf("pool fast path, ns per cycle (median of %d rounds of %ld; min-max)\n",
	       rounds, cycles);
	printf("%-24s | %-20s | %-20s | %s\n", "", "rseq", "CAS (HSOCK_RSEQ=0)", "CAS/rseq");
	for (k = 0; k < NR_KINDS; k++) {
		for (m = 0; m < 2; m++) {
			qsort(ns[m][k], rounds, sizeof(double), cmp_double);
			med[m][k] = ns[m][k][rounds / 2];
		}
		printf("%-24s | %6.1f (%5.1f-%5.1f) | %6.1f (%5.1f-%5.1f) | %.2fx\n",
		       kind_names[k], med[0][k], ns[0][k][0], ns[0][k][rounds - 1],
		       med[1][k], ns[1][k][0], ns[1][k][rounds - 1],
		       med[0][k] > 0 ? med[1][k] / med[0][k] : 0);
	}
	hs_pool_close(p[0]);
	hs_pool_close(p[1]);
	ial_unlink(ial, "rseq");
	ial_unlink(ial, "cas");
	ial_close(ial);
	rmdir(dir);
	return 0;
}
