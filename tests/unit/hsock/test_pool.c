// SPDX-License-Identifier: GPL-2.0
/*
 * The user-space commit step (hsock/commit.h): records taken from per-CPU
 * arenas, committed against ownership and a per-process limit, released
 * by the consumer, reused warm, and given back to the backend by a trim;
 * the arenas' restartable sequences (really used, restarted when
 * preempted) and the pool's conservation under processes x threads
 * migrated and signalled, with rseq and without.  Built against
 * commit_debug.o (HSOCK_POOL_DEBUG: counters and census).
 */
#define HSOCK_POOL_DEBUG
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hsock/commit.h"
#include "hsock/ial.h"
#include "hsock/rseq.h"

static char dir[64], path[128];
static struct ial *ial;

/* Arenas are per CPU: tests that expect a record back stay on one. */
static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	assert_int_equal(sched_setaffinity(0, sizeof(set), &set), 0);
}

static void unpin(void)
{
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	for (i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int setup(void **state)
{
	char err[256];
	int cpu = sched_getcpu();

	pin(cpu < 0 ? 0 : cpu);

	snprintf(dir, sizeof(dir), "/tmp/hsock-pool-XXXXXX");
	assert_non_null(mkdtemp(dir));
	setenv("HSOCK_SHM_DIR", dir, 1);
	snprintf(path, sizeof(path), "%s/pool", dir);
	assert_int_equal(ial_open("shm", &ial, err, sizeof(err)), 0);
	*state = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	ial_close(ial);
	rmdir(dir);
	return 0;
}

static struct hs_pool *pool(uint32_t nr, uint32_t limit)
{
	struct hs_pool *p;

	unlink(path);
	assert_int_equal(hs_pool_open(ial, "pool", nr, limit, &p), 0);
	return p;
}

static void test_take_commit_release(void **state)
{
	struct hs_pool *p = pool(4096, 32);	/* arenas of 256 */
	uint32_t r[8], again[8];
	int i, j;

	(void)state;
	assert_int_equal(hs_rec_take(p, r, 8), 8);
	for (i = 0; i < 8; i++)
		for (j = 0; j < i; j++)
			assert_int_not_equal(r[i], r[j]);
	assert_int_equal(hs_rec_commit(p, r, 8), 0);
	assert_int_equal(hs_pool_charged(p), 8);
	memset(hs_rec_addr(p, r[3]), 0xab, HS_REC_SIZE);
	assert_int_equal(hs_rec_release(p, r, 8), 0);
	assert_int_equal(hs_pool_charged(p), 0);
	assert_int_equal(hs_rec_release(p, r, 8), -EPROTO);	/* named twice */
	assert_int_equal(hs_rec_take(p, again, 8), 8);		/* warm reuse */
	for (i = 0; i < 8; i++) {
		for (j = 0; j < 8 && again[i] != r[j]; j++)
			;
		assert_true(j < 8);
	}
	hs_rec_abort(p, again, 8);
	hs_pool_close(p);
}

static void test_limit_and_ownership(void **state)
{
	struct hs_pool *p = pool(64, 4), *other;
	uint32_t r[6];

	(void)state;
	assert_int_equal(hs_rec_take(p, r, 6), 6);
	assert_int_equal(hs_rec_commit(p, r, 6), -EDQUOT);	/* all or nothing */
	assert_int_equal(hs_pool_charged(p), 0);
	assert_int_equal(hs_rec_commit(p, r, 4), 0);
	assert_int_equal(hs_rec_commit(p, r + 4, 1), -EDQUOT);
	assert_int_equal(hs_rec_commit(p, r, 1), -EPERM);	/* already committed */
	assert_int_equal(hs_rec_commit(p, (uint32_t[]){ 63 }, 1), -EPERM);	/* never taken */
	assert_int_equal(hs_rec_commit(p, (uint32_t[]){ 1000 }, 1), -EPERM);	/* out of range */
	assert_null(hs_rec_addr(p, 64));
	assert_int_equal(hs_rec_release(p, (uint32_t[]){ r[4] }, 1), -EPROTO);	/* only taken */
	/* the consumer releases through its own mapping of the pool */
	assert_int_equal(hs_pool_open(ial, "pool", 64, 4, &other), 0);
	assert_int_equal(hs_rec_release(other, r, 4), 0);
	assert_int_equal(hs_pool_charged(p), 0);
	assert_int_equal(hs_rec_commit(p, r + 4, 2), 0);	/* room again */
	assert_int_equal(hs_rec_release(other, r + 4, 2), 0);
	hs_pool_close(other);
	hs_pool_close(p);
}

static void test_exhausted_pool_takes_nothing(void **state)
{
	struct hs_pool *p = pool(16, 64);
	uint32_t r[20];

	(void)state;
	assert_int_equal(hs_rec_take(p, r, 20), 16);
	assert_int_equal(hs_rec_take(p, r + 16, 1), 0);
	hs_rec_abort(p, r, 16);
	assert_int_equal(hs_rec_take(p, r, 20), 16);
	hs_rec_abort(p, r, 16);
	hs_pool_close(p);
}

static long blocks(void)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (long)st.st_blocks;
}

/*
 * Free records beyond an arena's cap (256) go to the shared warm stack;
 * the trim gives back the pages of all but 128 of those.
 */
static void test_trim_gives_pages_back(void **state)
{
	struct hs_pool *p = pool(2048, 2048);
	uint32_t r[1024];
	long before, after;
	int i;

	(void)state;
	assert_int_equal(hs_rec_take(p, r, 1024), 1024);
	assert_int_equal(hs_rec_commit(p, r, 1024), 0);
	for (i = 0; i < 1024; i++)
		memset(hs_rec_addr(p, r[i]), i, HS_REC_SIZE);
	assert_int_equal(hs_rec_release(p, r, 1024), 0);
	before = blocks();
	hs_pool_trim(p);
	after = blocks();
	assert_true(before - after >= (1024 - 256 - 128) * (HS_REC_SIZE / 512));
	assert_int_equal(hs_rec_take(p, r, 1024), 1024);	/* cold ones too */
	hs_rec_abort(p, r, 1024);
	hs_pool_close(p);
}

static bool one_run(uint32_t *r, uint32_t n)
{
	uint32_t i, j, v;

	for (i = 1; i < n; i++) {	/* hs_rec_take() may hand them out unsorted */
		v = r[i];
		for (j = i; j && r[j - 1] > v; j--)
			r[j] = r[j - 1];
		r[j] = v;
	}
	for (i = 1; i < n; i++)
		if (r[i] != r[i - 1] + 1)
			return false;
	return true;
}

/*
 * Records released one by one in scrambled order leave the arena and the
 * warm stack without runs (the arena spills to it at 256), and the trim
 * makes most of them cold.  A take of several records still gets
 * consecutive ones (from the cold stack, sorted by the trim, else from
 * brk, instead of the scrambled warm ones), and no record is handed out
 * twice.
 */
static void test_take_hands_out_runs(void **state)
{
	struct hs_pool *p = pool(4096, 4096);
	uint32_t r[1024], t[16], i, j, got = 0;
	static uint8_t seen[4096];

	(void)state;
	assert_int_equal(hs_rec_take(p, r, 1024), 1024);
	assert_int_equal(hs_rec_commit(p, r, 1024), 0);
	for (i = 0; i < 256; i++)
		assert_int_equal(hs_rec_release(p, &r[768 + i * 37 % 256], 1), 0);
	for (i = 0; i < 768; i++)
		assert_int_equal(hs_rec_release(p, &r[i * 37 % 768], 1), 0);
	hs_pool_trim(p);
	for (i = 0; i < 1024 / 16; i++) {
		assert_int_equal(hs_rec_take(p, t, 16), 16);
		for (j = 0; j < 16; j++) {
			assert_true(t[j] < 4096);
			assert_int_equal(seen[t[j]]++, 0);
		}
		got += one_run(t, 16);
	}
	assert_int_equal(got, 1024 / 16);	/* before: 48, the cold ones */
	hs_pool_close(p);
}

/*
 * next[] of this CPU's arena overwritten by a lying process of the uid:
 * a link out of range ends the walk (the rest of the arena is lost, and
 * the census says so), a cycle is walked at most @n times; no take reads
 * outside the pool or hands out a record out of range.  next[] is found
 * as the layout puts it: right before own[] and the records (512 records:
 * no padding between).
 */
static void test_corrupt_links_are_bounded(void **state)
{
	struct hs_pool *p = pool(512, 512);
	struct hs_pool_census c;
	uint32_t r[300], k, i;
	_Atomic uint32_t *next;
	unsigned char *map;
	struct stat st;
	int fd;

	(void)state;
	fd = open(path, O_RDWR);
	assert_true(fd >= 0 && !fstat(fd, &st));
	map = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(map != MAP_FAILED);
	next = (_Atomic uint32_t *)(map + st.st_size - 512 * HS_REC_SIZE - 512 * 8);
	assert_int_equal(hs_rec_take(p, r, 8), 8);	/* and 32 for the arena */
	hs_rec_abort(p, r, 8);				/* r[0] on top */
	atomic_store(&next[r[0]], 1u << 30);
	k = hs_rec_take(p, r, 16);
	assert_int_equal(k, 16);
	for (i = 0; i < k; i++)
		assert_true(r[i] < 512);
	hs_rec_abort(p, r, k);
	atomic_store(&next[r[0]], r[0] + 1);		/* a cycle of one */
	k = hs_rec_take(p, r, 300);
	assert_true(k <= 300);
	for (i = 0; i < k; i++)
		assert_true(r[i] < 512);
	assert_int_equal(hs_pool_census(p, &c), -EUCLEAN);
	munmap(map, st.st_size);
	hs_pool_close(p);
}

/* A pool of another layout (an older hsock's magic) is refused at once. */
static void test_other_layout_refused(void **state)
{
	struct hs_pool *p = pool(64, 64), *q;
	struct timespec t0, t1;
	int fd;

	(void)state;
	hs_pool_close(p);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "hskpool2", 8, 0), 8);
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(hs_pool_open(ial, "pool", 64, 64, &q), -EPROTO);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("refused in %ld us\n", (long)((t1.tv_sec - t0.tv_sec) * 1000000 +
		      (t1.tv_nsec - t0.tv_nsec) / 1000));
}

/* glibc registered an rseq area for its threads (what the pool uses). */
static bool rseq_registered(void)
{
	const unsigned int *size = dlsym(RTLD_DEFAULT, "__rseq_size");

	return size && *size;
}

/*
 * The critical sections themselves (hsock/rseq.h) on a private stack:
 * pop and push, the cap, a CPU that is not ours (nothing written), a head
 * whose link is out of range (nothing handed out).
 */
static void test_rseq_sections(void **state)
{
	uint32_t next[8] = { 0 }, out[8];
	uint64_t head = 0;
	struct rseq *rs;
	ptrdiff_t off = 0;
	int32_t cpu;

	(void)state;
	if (!rseq_registered() || hs_rseq_offset(&off))
		skip();
	rs = hs_rseq_area(off);
	cpu = hs_rseq_cpu(rs);
	assert_true(cpu >= 0);
	next[3] = 5 + 1;
	next[5] = 6 + 1;
	assert_int_equal(hs_rseq_push(rs, cpu, &head, next, 3, 6, 3, 4), 0);
	assert_true(head == (3ull << 32 | 4) && next[6] == 0);
	assert_int_equal(hs_rseq_push(rs, cpu, &head, next, 1, 1, 1, 4), 0);
	assert_int_equal(hs_rseq_push(rs, cpu, &head, next, 2, 2, 1, 4), HS_RSEQ_FULL);
	assert_int_equal(hs_rseq_pop(rs, cpu + 1, &head, next, 8, out, 2), HS_RSEQ_MOVED);
	assert_int_equal(hs_rseq_push(rs, cpu + 1, &head, next, 2, 2, 1, 8), HS_RSEQ_MOVED);
	assert_true(head == (4ull << 32 | 2));
	assert_int_equal(hs_rseq_pop(rs, cpu, &head, next, 8, out, 2), 2);
	assert_true(out[0] == 1 && out[1] == 3 && head == (2ull << 32 | 6));
	assert_int_equal(hs_rseq_pop(rs, cpu, &head, next, 8, out, 8), 2);
	assert_true(out[0] == 5 && out[1] == 6 && head == 0);
	assert_int_equal(hs_rseq_pop(rs, cpu, &head, next, 8, out, 8), 0);
	head = 5ull << 32 | 100;
	assert_int_equal(hs_rseq_pop(rs, cpu, &head, next, 8, out, 8), 0);
	next[4] = 100;		/* a bad link inside: the stack ends empty */
	head = 5ull << 32 | 5;
	assert_int_equal(hs_rseq_pop(rs, cpu, &head, next, 8, out, 8), 1);
	assert_true(out[0] == 4 && head == 0);
}

/*
 * A record freed on CPU a stays in a's arena; a take on CPU b that finds
 * nothing else (the pool is exhausted) goes to a for it and comes back:
 * the thread's affinity is what it was.
 */
/*
 * Free records in another CPU's arena: a take that finds nothing else
 * asks that arena to spill, and the next pool operation on that CPU (here
 * a release) moves them to the warm stack, where the take finds them.
 */
static void test_take_asks_other_arenas_to_spill(void **state)
{
	struct hs_pool *p = pool(64, 64);
	int a = sched_getcpu(), b = a ? 0 : 1;
	struct hs_pool_debug d = { 0 };
	uint32_t r[64], one = HS_REC_NIL;

	(void)state;
	if (!rseq_registered() || sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		hs_pool_close(p);
		skip();
	}
	pin(a);
	assert_int_equal(hs_rec_take(p, r, 64), 64);
	hs_rec_abort(p, r, 2);		/* r[0], r[1]: arena of CPU a */
	pin(b);
	assert_int_equal(hs_rec_take(p, &one, 1), 0);
	hs_pool_debug(p, &d);
	assert_int_equal(d.spill_asks, 1);
	assert_int_equal(d.spilled, 0);
	assert_int_equal(hs_rec_take(p, &one, 1), 0);	/* asked once */
	hs_pool_debug(p, &d);
	assert_int_equal(d.spill_asks, 1);
	pin(a);
	hs_rec_abort(p, r + 2, 1);	/* a pool operation on a: it spills */
	hs_pool_debug(p, &d);
	assert_true(d.spilled >= 1);
	pin(b);
	assert_int_equal(hs_rec_take(p, &one, 1), 1);
	assert_true(one == r[0] || one == r[1] || one == r[2]);
	hs_rec_abort(p, &one, 1);
	while (hs_rec_take(p, &one, 1) == 1)	/* the other two, then none */
		;
	hs_pool_debug(p, &d);
	assert_int_equal(d.spill_asks, 1);	/* arena a is empty: nobody to ask */
	pin(a);
	hs_rec_abort(p, r + 3, 61);
	hs_pool_close(p);
}

/* 100 take/commit/release cycles of 16 records; the pool's counters. */
static void cycle_pool(struct hs_pool *p, struct hs_pool_debug *d)
{
	uint32_t r[16];
	int i;

	for (i = 0; i < 100; i++) {
		assert_int_equal(hs_rec_take(p, r, 16), 16);
		assert_int_equal(hs_rec_commit(p, r, 16), 0);
		assert_int_equal(hs_rec_release(p, r, 16), 0);
	}
	hs_pool_debug(p, d);
}

/*
 * With glibc's registration the arenas are used through restartable
 * sequences only; HSOCK_RSEQ=0 (and a thread without registration, see
 * cas_only_child) uses the CAS arenas only.
 */
static void test_arena_path(void **state)
{
	struct hs_pool_debug d;
	struct hs_pool *p;

	(void)state;
	p = pool(1024, 1024);
	cycle_pool(p, &d);
	if (rseq_registered()) {
		assert_true(d.rseq_ops >= 200);
		assert_int_equal(d.cas_ops, 0);
	} else {
		print_message("no rseq registration: CAS path only\n");
		assert_int_equal(d.rseq_ops, 0);
	}
	hs_pool_close(p);
	setenv("HSOCK_RSEQ", "0", 1);
	p = pool(1024, 1024);
	unsetenv("HSOCK_RSEQ");
	cycle_pool(p, &d);
	assert_int_equal(d.rseq_ops, 0);
	assert_true(d.cas_ops >= 200);
	hs_pool_close(p);
}

/* Run by test_no_registration in a copy of this program. */
static int cas_only_child(void)
{
	struct hs_pool_debug d = { 0 };
	struct hs_pool *p = NULL;
	uint32_t r[16];
	int i;

	if (ial_open("shm", &ial, NULL, 0) || hs_pool_open(ial, "pool-cas", 256, 256, &p))
		return 2;
	for (i = 0; i < 100; i++)
		if (hs_rec_take(p, r, 16) != 16 || hs_rec_commit(p, r, 16) ||
		    hs_rec_release(p, r, 16))
			return 3;
	hs_pool_debug(p, &d);
	hs_pool_close(p);
	return d.rseq_ops == 0 && d.cas_ops >= 200 ? 0 : 4;
}

/* GLIBC_TUNABLES=glibc.pthread.rseq=0: no registration, the CAS path. */
static void test_no_registration(void **state)
{
	char sub[160];
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1);
		execl("/proc/self/exe", "test_pool", "--cas-only", NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	snprintf(sub, sizeof(sub), "%s/pool-cas", dir);
	unlink(sub);
}

static void on_signal(int sig)
{
	(void)sig;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
}

struct spinner {
	struct hs_pool *p;
	_Atomic int *stop;
	_Atomic pid_t tid;
	int cpu;
};

/* Long pops (200 links walked inside the section) and pushes, on @cpu. */
static void *spin(void *arg)
{
	struct spinner *s = arg;
	uint32_t r[200], k;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(s->cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	atomic_store(&s->tid, (pid_t)syscall(SYS_gettid));
	while (!atomic_load(s->stop)) {
		k = hs_rec_take(s->p, r, 200);
		hs_rec_abort(s->p, r, k);
	}
	return NULL;
}

/*
 * Three threads on one CPU share its arena while the main thread signals
 * them from anywhere: the kernel aborts sections that were interrupted
 * (counted), and the arena stays exact (census).
 */
static void test_rseq_restarts(void **state)
{
	struct hs_pool *p = pool(2048, 2048);
	struct spinner s[3];
	struct hs_pool_debug d;
	struct hs_pool_census c;
	_Atomic int stop = 0;
	time_t end = time(NULL) + 10;
	pthread_t t[3];
	int i, cpu = sched_getcpu();

	(void)state;
	if (!rseq_registered()) {
		hs_pool_close(p);
		skip();
	}
	catch_signals();
	unpin();
	for (i = 0; i < 3; i++) {
		s[i] = (struct spinner){ .p = p, .stop = &stop, .cpu = cpu };
		assert_int_equal(pthread_create(&t[i], NULL, spin, &s[i]), 0);
	}
	do {
		for (i = 0; i < 3; i++)
			if (atomic_load(&s[i].tid))
				syscall(SYS_tgkill, getpid(), atomic_load(&s[i].tid), SIGUSR1);
		usleep(20);
		hs_pool_debug(p, &d);
	} while (d.rseq_aborts < 100 && time(NULL) < end);
	atomic_store(&stop, 1);
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	pin(cpu);
	print_message("rseq: %llu ops, %llu aborted, %llu moved\n",
		      (unsigned long long)d.rseq_ops, (unsigned long long)d.rseq_aborts,
		      (unsigned long long)d.rseq_moved);
	assert_true(d.rseq_aborts >= 100);
	assert_int_equal(hs_pool_census(p, &c), 0);
	assert_int_equal(c.stacked, c.brk);
	hs_pool_close(p);
}

/*
 * Stress: processes x threads take random batches (1..16, sometimes
 * 1..300), commit (the limit makes some fail), write a tag into each
 * record, keep some, release others, hand some to other processes, trim;
 * threads move between CPUs (their own sched_setaffinity and another
 * thread's) and are signalled all along.  A record handed to two owners
 * shows as a foreign tag; at the end the census finds every record free
 * in exactly one stack or committed, and charges equal to what is held.
 */
#define ST_PROCS	3
#define ST_THREADS	3
#define ST_HELD		48
#define ST_NR		4096
#define ST_HANDOFF	64
#define TAG(id, rec)	(0x5eedull << 48 | (uint64_t)(id) << 32 | (rec))

struct st_shared {
	_Atomic int stop;
	_Atomic uint32_t errors;
	_Atomic uint64_t cycles, rseq_ops, aborts, moved, cas_ops;
	_Atomic uint32_t handoff[ST_HANDOFF];	/* rec + 1, committed */
	_Atomic uint32_t nkept;
	uint32_t kept[ST_PROCS * ST_THREADS * ST_HELD];
};

struct st_worker {
	struct hs_pool *p;
	struct st_shared *sh;
	unsigned int seed;
	uint32_t id;
	_Atomic pid_t tid;
	uint32_t held[ST_HELD], nheld;
};

static uint64_t *tag_of(struct hs_pool *p, uint32_t rec)
{
	return hs_rec_addr(p, rec);
}

static void st_error(struct st_worker *w)
{
	atomic_fetch_add(&w->sh->errors, 1);
}

static void st_move(unsigned int *seed, pid_t tid)
{
	cpu_set_t set;
	int n = sysconf(_SC_NPROCESSORS_ONLN), i;

	CPU_ZERO(&set);
	if (rand_r(seed) % 2)
		CPU_SET(rand_r(seed) % n, &set);
	else
		for (i = 0; i < n; i++)
			CPU_SET(i, &set);
	sched_setaffinity(tid, sizeof(set), &set);
}

/* Release @n of our records after checking their tags. */
static void st_release(struct st_worker *w, const uint32_t *r, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!tag_of(w->p, r[i]) || *tag_of(w->p, r[i]) != TAG(w->id, r[i]))
			st_error(w);
	if (hs_rec_release(w->p, r, n))
		st_error(w);
}

/* Give @rec to whoever finds it in a handoff slot; release what was there. */
static void st_hand_off(struct st_worker *w, uint32_t rec)
{
	uint32_t v = atomic_exchange(&w->sh->handoff[rand_r(&w->seed) % ST_HANDOFF],
				     rec + 1);
	uint64_t *t;

	if (!v--)
		return;
	t = tag_of(w->p, v);
	if (!t || *t >> 48 != 0x5eed || (uint32_t)*t != v || hs_rec_release(w->p, &v, 1))
		st_error(w);
}

/* Keep the records of @r the held list has room for; the rest go. */
static void st_keep(struct st_worker *w, const uint32_t *r, uint32_t k)
{
	uint32_t back[300], nb = 0, i;

	for (i = 0; i < k; i++) {
		*tag_of(w->p, r[i]) = TAG(w->id, r[i]);
		if (w->nheld < ST_HELD && rand_r(&w->seed) % 2)
			w->held[w->nheld++] = r[i];
		else if (rand_r(&w->seed) % 8 == 0)
			st_hand_off(w, r[i]);
		else
			back[nb++] = r[i];
	}
	st_release(w, back, nb);
	if (w->nheld == ST_HELD || rand_r(&w->seed) % 16 == 0) {
		i = rand_r(&w->seed) % (w->nheld + 1);
		st_release(w, w->held + w->nheld - i, i);
		w->nheld -= i;
	}
}

static void st_cycle(struct st_worker *w)
{
	uint32_t r[300], n, k, i;

	n = 1 + rand_r(&w->seed) % (rand_r(&w->seed) % 8 ? 16 : 300);
	k = hs_rec_take(w->p, r, n);
	for (i = 0; i < k; i++)
		if (r[i] >= ST_NR || (i && r[i] <= r[i - 1]))
			st_error(w);
	if (!k) {
		sched_yield();
		return;
	}
	if (rand_r(&w->seed) % 4 == 0 || hs_rec_commit(w->p, r, k))
		hs_rec_abort(w->p, r, k);
	else
		st_keep(w, r, k);
	if (rand_r(&w->seed) % 64 == 0)
		hs_pool_trim(w->p);
	if (rand_r(&w->seed) % 32 == 0)
		st_move(&w->seed, 0);
}

static void *st_work(void *arg)
{
	struct st_worker *w = arg;
	uint32_t i, k;

	atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
	while (!atomic_load(&w->sh->stop)) {
		st_cycle(w);
		atomic_fetch_add(&w->sh->cycles, 1);
	}
	k = w->nheld / 2;	/* the rest stays committed, for the census */
	st_release(w, w->held, k);
	for (i = k; i < w->nheld; i++)
		w->sh->kept[atomic_fetch_add(&w->sh->nkept, 1)] = w->held[i];
	return NULL;
}

/* One process: its workers, signalled and moved by this thread. */
static int st_process(struct st_shared *sh, int idx)
{
	struct st_worker w[ST_THREADS];
	struct hs_pool_debug d;
	struct hs_pool *p;
	pthread_t t[ST_THREADS];
	unsigned int seed = idx;
	pid_t tid;
	int i;

	unpin();
	if (hs_pool_open(ial, "pool", ST_NR, 600, &p))
		return 1;
	for (i = 0; i < ST_THREADS; i++) {
		w[i] = (struct st_worker){ .p = p, .sh = sh, .seed = idx * 100 + i,
					   .id = idx * ST_THREADS + i + 1 };
		if (pthread_create(&t[i], NULL, st_work, &w[i]))
			return 1;
	}
	while (!atomic_load(&sh->stop)) {
		for (i = 0; i < ST_THREADS; i++) {
			tid = atomic_load(&w[i].tid);
			if (!tid)
				continue;
			syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
			if (rand_r(&seed) % 8 == 0)
				st_move(&seed, tid);
		}
		usleep(50);
	}
	for (i = 0; i < ST_THREADS; i++)
		pthread_join(t[i], NULL);
	hs_pool_debug(p, &d);
	atomic_fetch_add(&sh->rseq_ops, d.rseq_ops);
	atomic_fetch_add(&sh->aborts, d.rseq_aborts);
	atomic_fetch_add(&sh->moved, d.rseq_moved);
	atomic_fetch_add(&sh->cas_ops, d.cas_ops);
	hs_pool_close(p);
	return 0;
}

static void stress(bool rseq)
{
	struct st_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct hs_pool *p = pool(ST_NR, ST_NR);
	struct hs_pool_census c;
	pid_t pid[ST_PROCS];
	uint32_t v, i;
	int status;

	assert_true(sh != MAP_FAILED);
	catch_signals();
	if (!rseq)
		setenv("HSOCK_RSEQ", "0", 1);
	for (i = 0; i < ST_PROCS; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (!pid[i])
			_exit(st_process(sh, i));
	}
	unsetenv("HSOCK_RSEQ");
	usleep(1500 * 1000);
	atomic_store(&sh->stop, 1);
	for (i = 0; i < ST_PROCS; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	print_message("%s: %llu cycles, %llu rseq ops (%llu aborted, %llu moved), %llu CAS ops\n",
		      rseq ? "rseq" : "HSOCK_RSEQ=0", (unsigned long long)sh->cycles,
		      (unsigned long long)sh->rseq_ops, (unsigned long long)sh->aborts,
		      (unsigned long long)sh->moved, (unsigned long long)sh->cas_ops);
	assert_int_equal(sh->errors, 0);
	assert_true(sh->cycles > 200);
	if (rseq && rseq_registered())
		assert_true(sh->rseq_ops > 0 && sh->cas_ops == 0);
	if (!rseq)
		assert_true(sh->rseq_ops == 0 && sh->cas_ops > 0);
	for (i = 0; i < ST_HANDOFF; i++)
		if ((v = atomic_exchange(&sh->handoff[i], 0)))
			sh->kept[sh->nkept++] = v - 1;
	assert_int_equal(hs_pool_census(p, &c), 0);
	assert_int_equal(c.taken, 0);
	assert_int_equal(c.committed, sh->nkept);
	assert_int_equal(c.stacked + c.committed, c.brk);
	assert_int_equal(hs_rec_release(p, sh->kept, sh->nkept), 0);	/* their owners uncharged */
	assert_int_equal(hs_pool_census(p, &c), 0);
	assert_int_equal(c.committed, 0);
	assert_int_equal(c.stacked, c.brk);
	hs_pool_close(p);
	munmap(sh, sizeof(*sh));
}

static void test_stress_rseq(void **state)
{
	(void)state;
	stress(true);
}

static void test_stress_cas(void **state)
{
	(void)state;
	stress(false);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_commit_release),
		cmocka_unit_test(test_limit_and_ownership),
		cmocka_unit_test(test_exhausted_pool_takes_nothing),
		cmocka_unit_test(test_trim_gives_pages_back),
		cmocka_unit_test(test_take_hands_out_runs),
		cmocka_unit_test(test_corrupt_links_are_bounded),
		cmocka_unit_test(test_other_layout_refused),
		cmocka_unit_test(test_rseq_sections),
		cmocka_unit_test(test_take_asks_other_arenas_to_spill),
		cmocka_unit_test(test_arena_path),
		cmocka_unit_test(test_no_registration),
		cmocka_unit_test(test_rseq_restarts),
		cmocka_unit_test(test_stress_rseq),
		cmocka_unit_test(test_stress_cas),
	};

	if (argc > 1 && !strcmp(argv[1], "--cas-only"))
		return cas_only_child();

	return cmocka_run_group_tests(tests, setup, teardown);
}
