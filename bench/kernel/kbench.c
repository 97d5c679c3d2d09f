// SPDX-License-Identifier: GPL-2.0
/*
 * hsock.ko benchmark, run inside the qemu guest (make -C kernel bench).
 * Absolute numbers under TCG mean little; each figure is printed next to
 * the baseline measured in the same boot, and the ratio is what to read.
 *
 *   faults: commit-on-fault of a record (producer) and map-on-fault
 *           (consumer) vs an ordinary minor fault on a shared memfd page and
 *           a first touch of an anonymous page;
 *   wake-up: ping-pong between two threads through enable_notify_gshm (sync)
 *           + HSOCK_IOC_NOTIFY vs the same through futex wait/wake, with both
 *           threads pinned to one CPU (the kernel paths alone) and to two
 *           CPUs (adds the cross-CPU wake-up, an IPI to an idle vCPU).
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

#include "kernel/test/kuser.h"

#define BATCH	32
#define ROUNDS	64
#define PINGS	1000
#define REPEAT	5

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
	printf("HSOCK-BENCH error: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* First write to fresh anonymous pages: allocate + zero + map. */
static double fault_anon(size_t pages)
{
	char *p = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double t0, t;
	size_t i;

	if (p == MAP_FAILED)
		die("mmap anon");
	t0 = now_us();
	for (i = 0; i < pages; i++)
		p[i * 4096] = 1;
	t = now_us() - t0;
	munmap(p, pages * 4096);
	return t / pages;
}

/* Write fault on a shared page that already exists (memfd): minor fault. */
static double fault_memfd(size_t pages)
{
	int fd = memfd_create("kbench", 0);
	double t0, t;
	char *p;
	size_t i;

	if (fd < 0 || ftruncate(fd, pages * 4096))
		die("memfd");
	p = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap memfd");
	for (i = 0; i < pages; i++)
		p[i * 4096] = 1;	/* allocate the pages */
	munmap(p, pages * 4096);
	p = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	t0 = now_us();
	for (i = 0; i < pages; i++)
		p[i * 4096] = 2;
	t = now_us() - t0;
	munmap(p, pages * 4096);
	close(fd);
	return t / pages;
}

/*
 * Records through one conn held on both sides by this process: link BATCH
 * records, time the producer's first writes (commit on fault), publish,
 * time the consumer's first reads through a second open of the device
 * (map on fault), release.  Returns per-record times in @prod and @cons.
 */
static void fault_hsock(double *prod, double *cons)
{
	struct kdev d, e;
	struct kconn c0 = { 0 }, c1 = { 0 };
	uint32_t r[BATCH], i, k, t;
	double tp = 0, tc = 0, t0;
	volatile char sink;

	if (kdev_open(&d) || kdev_open(&e) || kconn_create(&d, &c0) ||
	    kconn_join(&e, &c1, c0.token))
		die("hsock setup");
	for (k = 0; k < ROUNDS; k++) {
		t = ktx(&c0)->tail;
		for (i = 0; i < BATCH; i++) {
			r[i] = ktake(&d, BATCH);
			if (r[i] == HSOCK_NIL)
				die("no record");
			ktx(&c0)->slot[(t + i) % HSOCK_RING_SLOTS].rec = r[i];
		}
		t0 = now_us();
		for (i = 0; i < BATCH; i++)
			krec(&d, r[i])[0] = 1;
		tp += now_us() - t0;
		__atomic_store_n(&ktx(&c0)->tail, t + BATCH, __ATOMIC_RELEASE);
		t0 = now_us();
		for (i = 0; i < BATCH; i++)
			sink = krec(&e, r[i])[0];
		tc += now_us() - t0;
		(void)sink;
		__atomic_store_n(&krx(&c1)->head, t + BATCH, __ATOMIC_RELEASE);
		if (ioctl(e.fd, HSOCK_IOC_RELEASE, (unsigned long)c1.handle) != BATCH)
			die("release");
	}
	*prod = tp / (ROUNDS * BATCH);
	*cons = tc / (ROUNDS * BATCH);
	kdev_close(&e);
	kdev_close(&d);
}

/* ---- wake-up ping-pong ---- */

/* Pin @t to @cpu (-1: any CPU). */
static void pin(pthread_t t, int cpu)
{
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	for (i = 0; i < CPU_SETSIZE; i++)
		if (cpu < 0 || i == cpu)
			CPU_SET(i, &set);
	pthread_setaffinity_np(t, sizeof(set), &set);
}

struct pp {
	struct kdev *d;
	struct kconn *c;	/* hsock: this thread's side */
	uint32_t *mine, *other;	/* futex words */
};

static long futex(uint32_t *w, int op, uint32_t val)
{
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

/* Wait until *w != old. */
static void futex_wait_change(uint32_t *w, uint32_t old)
{
	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) == old)
		futex(w, FUTEX_WAIT_PRIVATE, old);
}

static void futex_bump(uint32_t *w)
{
	__atomic_add_fetch(w, 1, __ATOMIC_RELEASE);
	futex(w, FUTEX_WAKE_PRIVATE, 1);
}

static void *futex_echo(void *arg)
{
	struct pp *p = arg;
	uint32_t i;

	for (i = 0; i < PINGS; i++) {
		futex_wait_change(p->mine, i);
		futex_bump(p->other);
	}
	return NULL;
}

static double pingpong_futex(int echo_cpu)
{
	uint32_t a = 0, b = 0, i;
	struct pp echo = { .mine = &a, .other = &b };
	pthread_t t;
	double t0;

	pin(pthread_self(), 0);
	pthread_create(&t, NULL, futex_echo, &echo);
	pin(t, echo_cpu);
	t0 = now_us();
	for (i = 0; i < PINGS; i++) {
		futex_bump(&a);
		futex_wait_change(&b, i);
	}
	t0 = now_us() - t0;
	pthread_join(t, NULL);
	pin(pthread_self(), -1);
	return t0 / PINGS;
}

/*
 * One ping: advance our send ring's tail (a message without a record), then
 * wake the peer only if it armed READ; wait for its answer with
 * enable_notify_gshm(sync, READ) and consume it.
 */
static void hsock_ping(struct pp *p)
{
	struct hsock_ring *tx = ktx(p->c);

	__atomic_store_n(&tx->tail, tx->tail + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (kpeer_armed(p->c, HSOCK_EV_READ))
		knotify(p->d, p->c, HSOCK_EV_READ);
}

static void hsock_pong(struct pp *p)
{
	struct hsock_ring *rx = krx(p->c);

	while (rx->head == __atomic_load_n(&rx->tail, __ATOMIC_ACQUIRE))
		kwait(p->d, p->c, HSOCK_EV_READ, 0, 0);
	rx->head++;
}

static void *hsock_echo(void *arg)
{
	struct pp *p = arg;
	uint32_t i;

	for (i = 0; i < PINGS; i++) {
		hsock_pong(p);
		hsock_ping(p);
	}
	return NULL;
}

static double pingpong_hsock(int echo_cpu)
{
	struct kdev d;
	struct kconn c0 = { 0 }, c1 = { 0 };
	struct pp me = { .d = &d, .c = &c0 }, echo = { .d = &d, .c = &c1 };
	pthread_t t;
	uint32_t i;
	double t0;

	if (kdev_open(&d) || kconn_create(&d, &c0) ||
	    kconn_join(&d, &c1, c0.token))
		die("hsock setup");
	pin(pthread_self(), 0);
	pthread_create(&t, NULL, hsock_echo, &echo);
	pin(t, echo_cpu);
	t0 = now_us();
	for (i = 0; i < PINGS; i++) {
		hsock_ping(&me);
		hsock_pong(&me);
	}
	t0 = now_us() - t0;
	pthread_join(t, NULL);
	pin(pthread_self(), -1);
	kdev_close(&d);
	return t0 / PINGS;
}

static void fault_report(double anon, double memfd, double prod, double cons)
{
	printf("HSOCK-BENCH %-44s %8.2f us/page\n",
	       "fault: anonymous first touch (baseline)", anon);
	printf("HSOCK-BENCH %-44s %8.2f us/page\n",
	       "fault: shared memfd minor fault (baseline)", memfd);
	printf("HSOCK-BENCH %-44s %8.2f us/record  x%.2f memfd  x%.2f anon\n",
	       "fault: hsock commit-on-fault (producer)", prod, prod / memfd,
	       prod / anon);
	printf("HSOCK-BENCH %-44s %8.2f us/record  x%.2f memfd  x%.2f anon\n",
	       "fault: hsock map-on-fault (consumer)", cons, cons / memfd,
	       cons / anon);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, REPEAT, sizeof(*v), cmp_double);
	return v[REPEAT / 2];
}

static void wake_report(const char *where, double fx, double hs)
{
	char name[64];

	snprintf(name, sizeof(name), "wake, %s: futex ping-pong (baseline)", where);
	printf("HSOCK-BENCH %-44s %8.2f us/round trip\n", name, fx);
	snprintf(name, sizeof(name), "wake, %s: hsock notify (sync)", where);
	printf("HSOCK-BENCH %-44s %8.2f us/round trip  x%.2f futex\n", name, hs,
	       hs / fx);
}

int main(void)
{
	double anon[REPEAT], memfd[REPEAT], prod[REPEAT], cons[REPEAT];
	double fx1[REPEAT], hs1[REPEAT], fx2[REPEAT], hs2[REPEAT];
	int i, cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Interleaved repeats; the median of each is printed. */
	for (i = 0; i < REPEAT; i++) {
		anon[i] = fault_anon(ROUNDS * BATCH);
		memfd[i] = fault_memfd(ROUNDS * BATCH);
		fault_hsock(&prod[i], &cons[i]);
		fx1[i] = pingpong_futex(0);
		hs1[i] = pingpong_hsock(0);
		if (cpus > 1) {
			fx2[i] = pingpong_futex(1);
			hs2[i] = pingpong_hsock(1);
		}
	}
	printf("HSOCK-BENCH medians of %d interleaved runs; ratios within this boot\n",
	       REPEAT);
	fault_report(median(anon), median(memfd), median(prod), median(cons));
	wake_report("1 CPU", median(fx1), median(hs1));
	if (cpus > 1)
		wake_report("2 CPUs", median(fx2), median(hs2));
	return 0;
}
