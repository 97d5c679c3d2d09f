// SPDX-License-Identifier: GPL-2.0
/*
 * Cost of the record pool's fast path (hsock/commit.h), rseq arenas vs
 * the CAS arenas (HSOCK_RSEQ=0), measured in one run, alternating rounds:
 *	poolbench [ROUNDS] [CYCLES]
 * per round and path: ns per take+abort cycle of 1 and of 16 records (the
 * arena alone) and per take+commit+release of 16 (the whole commit step),
 * single thread, pinned; and per 16 records taken and committed on one
 * CPU and released on another (a stream: records cross CPUs through the
 * warm stack).  Prints the median of the rounds and the ratio.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "hsock/commit.h"
#include "hsock/ial.h"

enum { TAKE1, TAKE16, FULL16, FLOW16, NR_KINDS };
static const char *const kind_names[NR_KINDS] = {
	"take+abort 1", "take+abort 16", "take+commit+release 16",
	"16 across 2 CPUs",
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Records committed by the producer, in flight to the consumer. */
struct flow {
	struct hs_pool *p;
	long cycles;
	int cpu;
	_Atomic uint64_t head, tail;
	uint32_t ring[1024];
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *consume(void *arg)
{
	struct flow *f = arg;
	uint64_t t = 0, h;
	uint32_t r[16], i;

	pin(f->cpu);
	while (t < (uint64_t)f->cycles * 16) {
		h = atomic_load_explicit(&f->head, memory_order_acquire);
		if (h - t < 16)
			continue;
		for (i = 0; i < 16; i++)
			r[i] = f->ring[(t + i) % 1024];
		hs_rec_release(f->p, r, 16);
		t += 16;
		atomic_store_explicit(&f->tail, t, memory_order_release);
	}
	return NULL;
}

/* Producer on this CPU, consumer on @cpu; ns per 16 records. */
static double flow(struct hs_pool *p, long cycles, int cpu)
{
	struct flow *f = calloc(1, sizeof(*f));
	uint32_t r[16], i;
	double t0 = now_ns(), ns = 0;
	pthread_t t;
	long c;

	if (!f)
		return 0;
	*f = (struct flow){ .p = p, .cycles = cycles, .cpu = cpu };
	if (pthread_create(&t, NULL, consume, f))
		goto out;
	for (c = 0; c < cycles; c++) {
		while (atomic_load_explicit(&f->head, memory_order_relaxed) + 16 -
		       atomic_load_explicit(&f->tail, memory_order_acquire) > 1024)
			;
		while (hs_rec_take(p, r, 16) != 16 || hs_rec_commit(p, r, 16))
			;	/* records on their way back */
		for (i = 0; i < 16; i++)
			f->ring[(f->head + i) % 1024] = r[i];
		atomic_store_explicit(&f->head, f->head + 16, memory_order_release);
	}
	pthread_join(t, NULL);
	ns = (now_ns() - t0) / cycles;
out:
	free(f);
	return ns;
}

/* ns per cycle of @kind over @cycles cycles; NAN-free: 0 on a failure. */
static double run(struct hs_pool *p, int kind, long cycles, int other)
{
	uint32_t r[16], n = kind == TAKE1 ? 1 : 16;
	double t0 = now_ns();
	long i;

	if (kind == FLOW16)
		return other < 0 ? 0 : flow(p, cycles / 4, other);
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
	int cpu = sched_getcpu(), other = -1;
	struct hs_pool *p[2];
	struct ial *ial;
	cpu_set_t set;

	if (rounds < 1 || rounds > 64 || cycles < 1 || !mkdtemp(dir))
		return 2;
	setenv("HSOCK_SHM_DIR", dir, 1);
	sched_getaffinity(0, sizeof(set), &set);
	for (i = 0; i < CPU_SETSIZE && other < 0; i++)
		if (i != cpu && CPU_ISSET(i, &set))
			other = i;
	pin(cpu);
	if (ial_open("shm", &ial, err, sizeof(err)) ||
	    hs_pool_open(ial, "rseq", 4096, 4096, &p[0]))
		return 1;
	setenv("HSOCK_RSEQ", "0", 1);
	if (hs_pool_open(ial, "cas", 4096, 4096, &p[1]))
		return 1;
	for (i = 0; i < rounds; i++)
		for (k = 0; k < NR_KINDS; k++)
			for (m = 0; m < 2; m++)
				ns[m][k][i] = run(p[(m + i) % 2 ? 1 : 0], k, cycles, other);
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
