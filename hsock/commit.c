// SPDX-License-Identifier: GPL-2.0
/*
 * User-space implementation of hsock/commit.h: a per-uid pool object of
 * page-sized records with per-CPU arenas (restartable sequences, rseq.h),
 * shared generation-tagged lock-free stacks and per-process charges.
 *
 * Pool layout (all offsets fixed by the header):
 *	[0, HDR_SIZE)		struct pool_hdr
 *	[HDR_SIZE, meta_end)	next[nr] (stack links), own[nr] (state | slot)
 *	[rec_off, ...)		nr records of HS_REC_SIZE bytes
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hsock/commit.h"
#include "hsock/ial.h"
#include "hsock/proc.h"
#include "hsock/rseq.h"

#define POOL_MAGIC	0x336c6f6f706b7368ULL	/* "hskpool3" */
#define NR_ARENAS	1024		/* CPUs with an rseq arena */
#define NR_CAS_ARENAS	64		/* arenas of the compare-and-swap path */
#define NR_PROCS	240
#define HS_ARENA_CAP	256		/* records an arena holds at most */
#define HS_SPILL	(HS_ARENA_CAP / 2)	/* at most, from a full arena to warm */
#define HS_REFILL	32		/* at most, taken on top for the arena */
#define HS_STRANDED	8		/* arenas hold at most 1/8 of the pool */
#define HS_WARM_KEEP	128		/* warm records the trim leaves */
#define HS_RUN_MAX	256		/* largest take traded for a run */

enum { OWN_FREE = 0, OWN_TAKEN = 1u << 28, OWN_COMMITTED = 2u << 28 };
#define OWN_STATE(o)	((o) & (3u << 28))
#define OWN_SLOT(o)	((o) & 0xffffu)

/* Any CPU, any process: lock-free, ABA-safe by the generation. */
struct pool_stack {
	_Atomic uint64_t head;		/* gen << 32 | (rec + 1); 0 rec = empty */
	_Atomic int32_t count;		/* records on the stack (approximate) */
} __attribute__((aligned(64)));

/*
 * Only tasks running on its CPU, only inside an rseq critical section
 * (rseq.h), so no generation: a pop or push is exact, committed by one
 * store of the head.
 */
struct pool_arena {
	_Atomic uint64_t head;		/* count << 32 | (rec + 1); 0 rec = empty */
	_Atomic uint32_t spill_req;	/* another CPU's take asks for them (ask_spill) */
} __attribute__((aligned(64)));

struct pool_proc {
	_Atomic int32_t pid;
	_Atomic uint32_t charged;
};

struct pool_hdr {
	_Atomic uint64_t magic;
	uint32_t nr;
	uint32_t limit;
	uint64_t rec_off;
	_Atomic uint32_t brk;		/* records [brk, nr) never handed out */
	struct pool_stack warm;		/* populated records, between CPUs */
	struct pool_stack cold;		/* pages given back (MADV_REMOVE) */
	struct pool_proc proc[NR_PROCS];
	struct pool_stack cas[NR_CAS_ARENAS];	/* per CPU, without rseq */
	struct pool_arena arena[NR_ARENAS] __attribute__((aligned(4096)));
};

#define HDR_SIZE	sizeof(struct pool_hdr)
_Static_assert(offsetof(struct pool_hdr, arena) == 8192 && HDR_SIZE % 4096 == 0,
	       "pool header: two pages, then one cache line per CPU");

struct hs_pool {
	struct ial *ial;
	struct pool_hdr *h;
	_Atomic uint32_t *next, *own;
	unsigned char *recs;
	size_t len;
	uint32_t nr;			/* records mapped (h->nr is writable by all) */
	uint32_t slot;			/* our proc[] entry */
	uint32_t limit;			/* this process's commit limit */
	uint32_t cap, spill, refill;	/* HS_ARENA_CAP.., smaller in a small pool */
	uint32_t ncpus;			/* CPUs configured: arenas ask_spill() asks */
	bool rseq;			/* arenas by rseq (else the CAS arenas) */
	ptrdiff_t rseq_off;		/* struct rseq from the thread pointer */
#ifdef HSOCK_POOL_DEBUG
	struct hs_pool_debug dbg;
#endif
};

#ifdef HSOCK_POOL_DEBUG
#define DBG_COUNT(p, field)	__atomic_fetch_add(&(p)->dbg.field, 1, __ATOMIC_RELAXED)
#else
#define DBG_COUNT(p, field)	((void)(p))
#endif

static size_t meta_end(uint32_t nr)
{
	return (HDR_SIZE + (size_t)nr * 8 + 4095) & ~(size_t)4095;
}

static size_t pool_len(uint32_t nr)
{
	return meta_end(nr) + (size_t)nr * HS_REC_SIZE;
}

/* Claim a proc[] entry: a free one, ours (fork), or a dead process's. */
static int claim_slot(struct hs_pool *p)
{
	int32_t me = getpid(), z;
	uint32_t i;

	for (i = 0; i < NR_PROCS; i++) {
		z = 0;
		if (atomic_compare_exchange_strong(&p->h->proc[i].pid, &z, me) || z == me)
			goto found;
	}
	for (i = 0; i < NR_PROCS; i++) {
		z = atomic_load(&p->h->proc[i].pid);
		if (!hs_pid_alive(z) && atomic_compare_exchange_strong(&p->h->proc[i].pid, &z, me))
			goto found;
	}
	return -EUSERS;
found:
	p->slot = i;
	return 0;
}

static int map_pool(struct hs_pool *p, const char *name, uint32_t nr,
		    uint32_t limit)
{
	struct pool_hdr *h;
	uint64_t magic;
	int ret, i;

	ret = ial_map(p->ial, name, pool_len(nr), IAL_CREATE, (void **)&p->h);
	if (!ret) {
		p->h->nr = nr;
		p->h->limit = limit;
		p->h->rec_off = meta_end(nr);
		atomic_store_explicit(&p->h->magic, POOL_MAGIC, memory_order_release);
		p->nr = nr;
		p->len = pool_len(nr);
		return 0;
	}
	if (ret != -EEXIST)
		return ret;
	ret = ial_map(p->ial, name, 4096, 0, (void **)&h);
	if (ret)
		return ret;
	/* 0: its creator is still sizing it; another magic: another layout */
	for (i = 0; i < 1000 && !atomic_load_explicit(&h->magic,
			memory_order_acquire); i++)
		usleep(10);
	nr = h->nr;
	magic = atomic_load_explicit(&h->magic, memory_order_acquire);
	ial_unmap(p->ial, h, 4096);
	if (magic != POOL_MAGIC || !nr || nr > (1u << 24))
		return -EPROTO;
	p->nr = nr;
	p->len = pool_len(nr);
	return ial_map(p->ial, name, p->len, 0, (void **)&p->h);
}

/*
 * rseq arenas rely on one kernel numbering the CPUs of every process that
 * maps the pool: true of shm; a dax or rdma pool may be shared by hosts.
 */
static bool rseq_wanted(struct ial *ial)
{
	const char *s = getenv("HSOCK_RSEQ");

	return (!s || strcmp(s, "0")) && !strcmp(ial_backend(ial), "shm");
}

/*
 * Free records in another CPU's arena are out of reach until that CPU
 * spills them (ask_spill()): in a small pool the arenas get small, so
 * that all of them together hold at most 1/HS_STRANDED of it.
 */
static void size_arenas(struct hs_pool *p)
{
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	uint64_t cap = p->nr / HS_STRANDED / (uint64_t)(cpus > 0 ? cpus : 1);

	p->ncpus = cpus > 0 ? (uint32_t)cpus : 1;

	p->cap = cap < 2 ? 2 : cap > HS_ARENA_CAP ? HS_ARENA_CAP : (uint32_t)cap;
	p->spill = p->cap / 2;
	p->refill = p->spill < HS_REFILL ? p->spill : HS_REFILL;
}

int hs_pool_open(struct ial *ial, const char *name, uint32_t nr,
		 uint32_t limit, struct hs_pool **out)
{
	struct hs_pool *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	p->ial = ial;
	p->limit = limit;
	ret = map_pool(p, name, nr, limit);
	if (ret)
		goto err;
	if (p->h->nr != p->nr || p->h->rec_off != meta_end(p->nr)) {
		ret = -EPROTO;
		goto err_unmap;
	}
	p->next = (_Atomic uint32_t *)((char *)p->h + HDR_SIZE);
	p->own = p->next + p->nr;
	p->recs = (unsigned char *)p->h + p->h->rec_off;
	ret = claim_slot(p);
	if (ret)
		goto err_unmap;
	p->rseq = rseq_wanted(p->ial) && !hs_rseq_offset(&p->rseq_off);
	size_arenas(p);
	*out = p;
	return 0;
err_unmap:
	ial_unmap(ial, p->h, p->len);
err:
	free(p);
	return ret;
}

void hs_pool_close(struct hs_pool *p)
{
	if (!p)
		return;
	ial_unmap(p->ial, p->h, p->len);
	free(p);
}

/*
 * Pop up to @n records in one compare-and-swap: the generation in head
 * changes on every push and pop, so an unchanged head means the chain we
 * walked is still the stack's top.  Links read during a race may be
 * garbage; they are bounds-checked and the CAS then fails.
 */
static uint32_t pop_n(struct hs_pool *p, struct pool_stack *a, uint32_t *out,
		      uint32_t n)
{
	uint64_t h = atomic_load_explicit(&a->head, memory_order_acquire), nh;
	uint32_t k, link;

	do {
		for (k = 0, link = (uint32_t)h; k < n && link && link - 1 < p->nr; k++) {
			out[k] = link - 1;
			link = atomic_load_explicit(&p->next[link - 1], memory_order_relaxed);
		}
		if (!k)
			return 0;
		nh = ((h >> 32) + 1) << 32 | link;
	} while (!atomic_compare_exchange_weak_explicit(&a->head, &h, nh,
			memory_order_acq_rel, memory_order_acquire));
	atomic_fetch_sub_explicit(&a->count, (int32_t)k, memory_order_relaxed);
	return k;
}

/* Push the chain @first .. @last (@n records, already linked) in one CAS. */
static void push_chain(struct hs_pool *p, struct pool_stack *a, uint32_t first,
		       uint32_t last, uint32_t n)
{
	uint64_t h = atomic_load_explicit(&a->head, memory_order_relaxed), nh;

	do {
		atomic_store_explicit(&p->next[last], (uint32_t)h, memory_order_relaxed);
		nh = ((h >> 32) + 1) << 32 | (first + 1);
	} while (!atomic_compare_exchange_weak_explicit(&a->head, &h, nh,
			memory_order_release, memory_order_relaxed));
	atomic_fetch_add_explicit(&a->count, (int32_t)n, memory_order_relaxed);
}

/* Link @n records in the given order: r[0] pops first. */
static void link_recs(struct hs_pool *p, const uint32_t *r, uint32_t n)
{
	uint32_t i;

	for (i = 0; i + 1 < n; i++)
		atomic_store_explicit(&p->next[r[i]], r[i + 1] + 1, memory_order_relaxed);
}

static void push_n(struct hs_pool *p, struct pool_stack *a, const uint32_t *r,
		   uint32_t n)
{
	if (!n)
		return;
	link_recs(p, r, n);
	push_chain(p, a, r[0], r[n - 1], n);
}

/*
 * This thread's rseq area when its arena operations go to the rseq arena
 * of its CPU (*@cpu); NULL: to a CAS arena (rseq off, this thread not
 * registered, or a CPU beyond NR_ARENAS).
 */
static struct rseq *my_rseq(struct hs_pool *p, uint32_t *cpu)
{
	struct rseq *rs;
	int32_t id;

	if (!p->rseq)
		return NULL;
	rs = hs_rseq_area(p->rseq_off);
	id = hs_rseq_cpu(rs);
	if (id < 0 || id >= NR_ARENAS)
		return NULL;
	*cpu = (uint32_t)id;
	return rs;
}

static struct pool_stack *cas_arena(struct hs_pool *p)
{
	int cpu = sched_getcpu();

	return &p->h->cas[(cpu < 0 ? 0 : cpu) % NR_CAS_ARENAS];
}

static void count_restart(struct hs_pool *p, int ret)
{
	if (ret == HS_RSEQ_ABORT)
		DBG_COUNT(p, rseq_aborts);
	else
		DBG_COUNT(p, rseq_moved);
}

/* Pop up to @n records from this CPU's arena. */
static uint32_t arena_pop(struct hs_pool *p, uint32_t *out, uint32_t n)
{
	struct rseq *rs;
	uint32_t cpu;
	int k;

	while ((rs = my_rseq(p, &cpu))) {
		k = hs_rseq_pop(rs, cpu, (uint64_t *)&p->h->arena[cpu].head,
				(const uint32_t *)p->next, p->nr, out, n);
		if (k >= 0) {
			DBG_COUNT(p, rseq_ops);
			return (uint32_t)k;
		}
		count_restart(p, k);
	}
	DBG_COUNT(p, cas_ops);
	return pop_n(p, cas_arena(p), out, n);
}

/* Push the linked chain @first .. @last to this CPU's arena; false: full. */
static bool arena_push(struct hs_pool *p, uint32_t first, uint32_t last,
		       uint32_t n)
{
	struct pool_stack *a;
	struct rseq *rs;
	uint32_t cpu;
	int ret;

	while ((rs = my_rseq(p, &cpu))) {
		ret = hs_rseq_push(rs, cpu, (uint64_t *)&p->h->arena[cpu].head,
				   (uint32_t *)p->next, first, last, n, p->cap);
		if (ret >= 0) {
			DBG_COUNT(p, rseq_ops);
			return ret != HS_RSEQ_FULL;
		}
		count_restart(p, ret);
	}
	DBG_COUNT(p, cas_ops);
	a = cas_arena(p);
	if (atomic_load_explicit(&a->count, memory_order_relaxed) + (int64_t)n >
	    p->cap)
		return false;
	push_chain(p, a, first, last, n);
	return true;
}

/*
 * Last resort of a take that found nothing else: free records in other
 * CPUs' arenas can be popped only on those CPUs.  Ask them: set the spill
 * request of every non-empty arena; the next pool operation on that CPU
 * (any process) moves its arena to the warm stack (honour_spill), where
 * the take finds them when it tries again (a writer without a record
 * waits 2 ms and does).  Costs nothing until the pool is exhausted, and
 * leaves the caller's CPU affinity alone.
 */
static void ask_spill(struct hs_pool *p)
{
	uint32_t c;

	if (!p->rseq)
		return;
	for (c = 0; c < NR_ARENAS && c < p->ncpus; c++)
		if ((atomic_load_explicit(&p->h->arena[c].head, memory_order_relaxed) >> 32) &&
		    !atomic_load_explicit(&p->h->arena[c].spill_req, memory_order_relaxed)) {
			atomic_store_explicit(&p->h->arena[c].spill_req, 1, memory_order_relaxed);
			DBG_COUNT(p, spill_asks);
		}
}

/* Another CPU's take asked this CPU's arena to spill: all of it to warm. */
static void honour_spill(struct hs_pool *p)
{
	uint32_t cpu, k, r[HS_SPILL];

	if (!my_rseq(p, &cpu) ||
	    !atomic_load_explicit(&p->h->arena[cpu].spill_req, memory_order_relaxed) ||
	    !atomic_exchange(&p->h->arena[cpu].spill_req, 0))
		return;
	while ((k = arena_pop(p, r, HS_SPILL))) {
		push_n(p, &p->h->warm, r, k);
		DBG_COUNT(p, spilled);
	}
}

/*
 * Free records @r (ours, in the order they should pop) go to this CPU's
 * arena.  A full arena first moves half its records (the top) to the
 * shared warm stack, where any CPU's take finds them; a batch of that
 * many or more goes there itself, as one chain.
 */
static void put_recs(struct hs_pool *p, const uint32_t *r, uint32_t n)
{
	uint32_t spill[HS_SPILL], k;

	if (!n)
		return;
	link_recs(p, r, n);
	if (arena_push(p, r[0], r[n - 1], n))
		goto out;
	if (n < p->spill) {
		k = arena_pop(p, spill, p->spill);
		push_n(p, &p->h->warm, spill, k);
		if (arena_push(p, r[0], r[n - 1], n))
			goto out;
	}
	push_chain(p, &p->h->warm, r[0], r[n - 1], n);
out:
	honour_spill(p);
}

/*
 * @k records in @got, taken from a shared stack or brk: the first @n (at
 * most) go to @out, the rest to this CPU's arena.  How many went to @out.
 */
static uint32_t split_refill(struct hs_pool *p, const uint32_t *got,
			     uint32_t k, uint32_t *out, uint32_t n)
{
	uint32_t m = k < n ? k : n;

	memcpy(out, got, m * sizeof(*out));
	put_recs(p, got + m, k - m);
	return m;
}

/*
 * Up to @n records from shared stack @s, plus p->refill more for this
 * CPU's arena, in one compare-and-swap: the next takes on this CPU need
 * no shared line.
 */
static uint32_t take_shared(struct hs_pool *p, struct pool_stack *s,
			    uint32_t *out, uint32_t n)
{
	uint32_t got[HS_RUN_MAX + HS_REFILL];

	if (n > HS_RUN_MAX)
		return pop_n(p, s, out, n);
	return split_refill(p, got, pop_n(p, s, got, n + p->refill), out, n);
}

static uint32_t take_brk(struct hs_pool *p, uint32_t *out, uint32_t n)
{
	uint32_t i = atomic_load_explicit(&p->h->brk, memory_order_relaxed), k;

	do {
		k = i >= p->nr ? 0 : p->nr - i < n ? p->nr - i : n;
		if (!k)
			return 0;
	} while (!atomic_compare_exchange_weak(&p->h->brk, &i, i + k));
	for (n = 0; n < k; n++)
		out[n] = i + n;
	return k;
}

/* Records never used, plus p->refill more for the arena (a run). */
static uint32_t take_fresh(struct hs_pool *p, uint32_t *out, uint32_t n)
{
	uint32_t got[HS_RUN_MAX + HS_REFILL];

	if (n > HS_RUN_MAX)
		return take_brk(p, out, n);
	return split_refill(p, got, take_brk(p, got, n + p->refill), out, n);
}

/* Ascending; insertion sort: batches are small and mostly sorted already. */
static void sort_recs(uint32_t *r, uint32_t n)
{
	uint32_t i, j, v;

	for (i = 1; i < n; i++) {
		v = r[i];
		for (j = i; j && r[j - 1] > v; j--)
			r[j] = r[j - 1];
		r[j] = v;
	}
}

/* How many runs of consecutive records sorted @r is made of. */
static uint32_t nr_runs(const uint32_t *r, uint32_t n)
{
	uint32_t i, runs = n ? 1 : 0;

	for (i = 1; i < n; i++)
		runs += r[i] != r[i - 1] + 1;
	return runs;
}

/*
 * @out holds @k records just taken, sorted, in more than one run: a
 * page-sized copy runs at half the speed of one over consecutive records,
 * so look for the same number in fewer runs in the cold stack (kept
 * sorted by hs_pool_trim) and, unless that gave one run, among records
 * never used; what loses goes back (to the cold stack, or this CPU's
 * arena).  Only multi-record takes (a write of several pages) get here,
 * so a ping-pong never pays for it.
 */
static void prefer_run(struct hs_pool *p, uint32_t *out, uint32_t k)
{
	uint32_t alt[HS_RUN_MAX], j;

	j = pop_n(p, &p->h->cold, alt, k);
	if (j == k) {
		sort_recs(alt, k);
		if (nr_runs(alt, k) < nr_runs(out, k)) {
			put_recs(p, out, k);
			memcpy(out, alt, k * sizeof(*out));
		} else {
			push_n(p, &p->h->cold, alt, k);
		}
		if (nr_runs(out, k) == 1)
			return;
	} else {
		push_n(p, &p->h->cold, alt, j);
	}
	j = take_brk(p, alt, k);
	if (j < k) {
		/* brk is never given back: a partial one is freed warm */
		put_recs(p, alt, j);
		return;
	}
	put_recs(p, out, k);
	memcpy(out, alt, k * sizeof(*out));
}

/*
 * This CPU's arena, then the shared warm stack (what other CPUs' arenas
 * spilled), the cold stack, records never used (each of these three with
 * a few more for the arena), the CAS arenas, which threads without rseq
 * fill; when all are empty it asks the other CPUs' arenas to spill
 * (ask_spill).  A take of several records that is not one run of
 * consecutive records is traded for a better one (prefer_run).
 */
uint32_t hs_rec_take(struct hs_pool *p, uint32_t *out, uint32_t n)
{
	uint32_t k, i;

	honour_spill(p);
	k = arena_pop(p, out, n);
	if (k < n)
		k += take_shared(p, &p->h->warm, out + k, n - k);
	if (k < n)
		k += take_shared(p, &p->h->cold, out + k, n - k);
	if (k < n)
		k += take_fresh(p, out + k, n - k);
	for (i = 0; k < n && i < NR_CAS_ARENAS; i++)
		k += pop_n(p, &p->h->cas[i], out + k, n - k);
	if (k < n)
		ask_spill(p);
	if (k > 1)	/* ascending: a run becomes consecutive pages */
		sort_recs(out, k);
	if (k > 1 && k <= HS_RUN_MAX && nr_runs(out, k) > 1)
		prefer_run(p, out, k);
	for (i = 0; i < k; i++)
		atomic_store_explicit(&p->own[out[i]], OWN_TAKEN | p->slot,
				      memory_order_relaxed);
	return k;
}

/* All or nothing: a record not taken by us, or the limit, fails them all. */
int hs_rec_commit(struct hs_pool *p, const uint32_t *recs, uint32_t n)
{
	_Atomic uint32_t *ch = &p->h->proc[p->slot].charged;
	uint32_t i, o;
	int ret = -EPERM;

	for (i = 0; i < n; i++) {
		o = OWN_TAKEN | p->slot;
		if (recs[i] >= p->nr || !atomic_compare_exchange_strong(
				&p->own[recs[i]], &o, OWN_COMMITTED | p->slot))
			goto undo;
	}
	if (atomic_fetch_add(ch, n) + n <= p->limit)
		return 0;
	atomic_fetch_sub(ch, n);
	ret = -EDQUOT;
undo:
	while (i--)
		atomic_store(&p->own[recs[i]], OWN_TAKEN | p->slot);
	return ret;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

#define LINK(p, r)	atomic_load_explicit(&(p)->next[r], memory_order_relaxed)
#define SET_LINK(p, r, v) atomic_store_explicit(&(p)->next[r], (v), memory_order_relaxed)

/* Cut the ascending run that starts at link @h off; the link after it. */
static uint32_t cut_run(struct hs_pool *p, uint32_t h, uint32_t *last)
{
	uint32_t r = h - 1, nx;

	while ((nx = LINK(p, r)) && nx - 1 > r)
		r = nx - 1;
	SET_LINK(p, r, 0);
	*last = r;
	return nx;
}

/* Merge the ascending 0-terminated chains @a and @b; first link, *last. */
static uint32_t merge_runs(struct hs_pool *p, uint32_t a, uint32_t b,
			   uint32_t *last)
{
	uint32_t head = 0, t = HS_REC_NIL, v;

	while (a || b) {
		if (a && (!b || a < b)) {
			v = a - 1;
			a = LINK(p, v);
		} else {
			v = b - 1;
			b = LINK(p, v);
		}
		if (t == HS_REC_NIL)
			head = v + 1;
		else
			SET_LINK(p, t, v + 1);
		t = v;
	}
	*last = t;
	return head;
}

/*
 * Merge @n records (@r, sorted) into the cold stack and sort it: kept
 * ascending, a pop of several records from it is as few runs as the free
 * records allow.  The whole stack is taken in one compare-and-swap (a
 * concurrent take finds it empty and goes on to brk), so its links are
 * ours; it is cut at a link out of range or after nr records (a process
 * of the uid could have written them), sorted by natural merges (it is
 * sorted already but for the batches pushed since: one or two linear
 * passes over next[], read in ascending order) and pushed back as one
 * chain.  Off the fast path: trim runs when a connection goes idle.
 */
static void cold_merge(struct hs_pool *p, const uint32_t *r, uint32_t n)
{
	struct pool_stack *c = &p->h->cold;
	uint64_t h = atomic_load_explicit(&c->head, memory_order_acquire);
	uint32_t head, rest, a, b, last = HS_REC_NIL, alast, walked = 0, runs, i;

	while (!atomic_compare_exchange_weak_explicit(&c->head, &h,
			((h >> 32) + 1) << 32, memory_order_acq_rel, memory_order_acquire))
		;
	head = (uint32_t)h;
	if (head && head - 1 >= p->nr)
		head = 0;
	for (rest = head; rest; rest = LINK(p, last), walked++) {
		last = rest - 1;
		if (walked + 1 == p->nr || (LINK(p, last) &&
				LINK(p, last) - 1 >= p->nr)) {
			SET_LINK(p, last, 0);
			walked++;
			break;
		}
	}
	atomic_fetch_sub_explicit(&c->count, (int32_t)walked, memory_order_relaxed);
	for (i = n; i--; ) {
		SET_LINK(p, r[i], head);
		head = r[i] + 1;
	}
	do {
		rest = head;
		head = 0;
		runs = 0;
		while (rest) {
			a = rest;
			rest = cut_run(p, a, &alast);
			b = rest;
			if (b)
				rest = cut_run(p, b, &alast);
			a = merge_runs(p, a, b, &alast);
			if (runs++)
				SET_LINK(p, last, a);
			else
				head = a;
			last = alast;
		}
	} while (runs > 1);
	if (head)
		push_chain(p, c, head - 1, last, walked + n);
}

/* Give back the pages of @n records, one madvise per contiguous run. */
static void remove_pages(struct hs_pool *p, uint32_t *r, uint32_t n)
{
	uint32_t i, j;

	qsort(r, n, sizeof(*r), cmp_u32);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && r[j] == r[j - 1] + 1; j++)
			;
		madvise(p->recs + (size_t)r[i] * HS_REC_SIZE,
			(size_t)(j - i) * HS_REC_SIZE, MADV_REMOVE);
	}
	cold_merge(p, r, n);
}

/*
 * Warm records beyond HS_WARM_KEEP go cold, their pages back to the
 * backend.  Only the shared warm stack: every push bounds an arena
 * (put_recs), and only its own CPU may touch an rseq arena.  A stack
 * filled as fast as it is trimmed stops the loop after nr records.
 */
void hs_pool_trim(struct hs_pool *p)
{
	uint32_t batch[1024], n, moved = 0;
	int32_t over;

	while (moved < p->nr) {
		over = atomic_load_explicit(&p->h->warm.count, memory_order_relaxed) -
		       HS_WARM_KEEP;
		if (over <= 0)
			break;
		n = pop_n(p, &p->h->warm, batch, over < 1024 ? (uint32_t)over : 1024);
		if (!n)
			break;
		remove_pages(p, batch, n);
		moved += n;
	}
}

void hs_rec_abort(struct hs_pool *p, const uint32_t *recs, uint32_t n)
{
	uint32_t back[256], k = 0, i, o;

	for (i = 0; i < n; i++) {
		o = OWN_TAKEN | p->slot;
		if (recs[i] < p->nr && atomic_compare_exchange_strong(
				&p->own[recs[i]], &o, OWN_FREE))
			back[k++] = recs[i];
		if (k == 256 || i + 1 == n) {
			sort_recs(back, k);
			put_recs(p, back, k);
			k = 0;
		}
	}
}

/* Saturating: a reclaimed proc slot may see uncharges of its predecessor. */
static void uncharge(struct hs_pool *p, uint32_t slot, uint32_t n)
{
	_Atomic uint32_t *ch = &p->h->proc[slot % NR_PROCS].charged;
	uint32_t v = atomic_load(ch);

	while (!atomic_compare_exchange_weak(ch, &v, v > n ? v - n : 0))
		;
}

/*
 * Release every record of @recs that is committed; -EPROTO if one was
 * not (a lying peer, or a record named twice).
 */
int hs_rec_release(struct hs_pool *p, const uint32_t *recs, uint32_t n)
{
	uint32_t back[256], k = 0, i, o, slot = UINT32_MAX, same = 0;
	int ret = 0;

	for (i = 0; i < n; i++) {
		o = recs[i] < p->nr ? atomic_load(&p->own[recs[i]]) : 0;
		if (OWN_STATE(o) != OWN_COMMITTED ||
		    !atomic_compare_exchange_strong(&p->own[recs[i]], &o, OWN_FREE)) {
			ret = -EPROTO;
		} else {
			if (OWN_SLOT(o) != slot && same) {
				uncharge(p, slot, same);
				same = 0;
			}
			slot = OWN_SLOT(o);
			same++;
			back[k++] = recs[i];
		}
		if (k == 256 || i + 1 == n) {
			sort_recs(back, k);	/* a run taken together pops as one */
			put_recs(p, back, k);
			k = 0;
		}
	}
	if (same)
		uncharge(p, slot, same);
	return ret;
}

bool hs_rec_mine(struct hs_pool *p, uint32_t rec)
{
	return rec < p->nr && atomic_load_explicit(&p->own[rec],
			memory_order_relaxed) == (OWN_COMMITTED | p->slot);
}

void *hs_rec_addr(struct hs_pool *p, uint32_t rec)
{
	if (rec >= p->nr || OWN_STATE(atomic_load_explicit(&p->own[rec],
			memory_order_relaxed)) != OWN_COMMITTED)
		return NULL;
	return p->recs + (size_t)rec * HS_REC_SIZE;
}

uint32_t hs_pool_charged(struct hs_pool *p)
{
	return atomic_load(&p->h->proc[p->slot].charged);
}

uint32_t hs_pool_limit(struct hs_pool *p)
{
	return p->limit;
}

uint32_t hs_pool_records(struct hs_pool *p)
{
	return p->nr;
}

#ifdef HSOCK_POOL_DEBUG
void hs_pool_debug(struct hs_pool *p, struct hs_pool_debug *d)
{
	d->rseq_ops = __atomic_load_n(&p->dbg.rseq_ops, __ATOMIC_RELAXED);
	d->rseq_aborts = __atomic_load_n(&p->dbg.rseq_aborts, __ATOMIC_RELAXED);
	d->rseq_moved = __atomic_load_n(&p->dbg.rseq_moved, __ATOMIC_RELAXED);
	d->cas_ops = __atomic_load_n(&p->dbg.cas_ops, __ATOMIC_RELAXED);
	d->spill_asks = __atomic_load_n(&p->dbg.spill_asks, __ATOMIC_RELAXED);
	d->spilled = __atomic_load_n(&p->dbg.spilled, __ATOMIC_RELAXED);
}

/* Mark the records of the stack starting at @link; how many, or -EUCLEAN. */
static int64_t census_walk(struct hs_pool *p, uint32_t link, uint8_t *seen)
{
	int64_t k = 0;

	for (; link; link = LINK(p, link - 1), k++)
		if (link - 1 >= p->nr || seen[link - 1]++ || k == p->nr ||
		    atomic_load(&p->own[link - 1]) != OWN_FREE)
			return -EUCLEAN;
	return k;
}

static int census_stacks(struct hs_pool *p, uint8_t *seen,
			 struct hs_pool_census *c)
{
	struct pool_stack *s[2 + NR_CAS_ARENAS];
	uint64_t h;
	int64_t k;
	uint32_t i;

	s[0] = &p->h->warm;
	s[1] = &p->h->cold;
	for (i = 0; i < NR_CAS_ARENAS; i++)
		s[2 + i] = &p->h->cas[i];
	for (i = 0; i < 2 + NR_CAS_ARENAS; i++) {
		k = census_walk(p, (uint32_t)atomic_load(&s[i]->head), seen);
		if (k < 0 || k != atomic_load(&s[i]->count))
			return -EUCLEAN;
		c->stacked += k;
	}
	for (i = 0; i < NR_ARENAS; i++) {
		h = atomic_load(&p->h->arena[i].head);
		k = census_walk(p, (uint32_t)h, seen);
		if (k < 0 || k != (int64_t)(h >> 32) || k > p->cap)
			return -EUCLEAN;
		c->stacked += k;
		c->in_arenas += k;
	}
	return 0;
}

int hs_pool_census(struct hs_pool *p, struct hs_pool_census *c)
{
	uint32_t *held = calloc(NR_PROCS, sizeof(*held)), r, o;
	uint8_t *seen = calloc(p->nr, 1);
	int ret = -ENOMEM;

	memset(c, 0, sizeof(*c));
	if (!held || !seen)
		goto out;
	c->brk = atomic_load(&p->h->brk);
	ret = census_stacks(p, seen, c);
	for (r = 0; !ret && r < p->nr; r++) {
		o = atomic_load(&p->own[r]);
		if (seen[r])
			continue;
		if (r >= c->brk) {
			if (o != OWN_FREE)	/* handed out past brk */
				ret = -EUCLEAN;
		} else if (o == (OWN_TAKEN | OWN_SLOT(o)) && OWN_SLOT(o) < NR_PROCS) {
			c->taken++;
		} else if (o == (OWN_COMMITTED | OWN_SLOT(o)) && OWN_SLOT(o) < NR_PROCS) {
			held[OWN_SLOT(o)]++;
		} else {
			ret = -EUCLEAN;		/* free but in no stack: lost */
		}
	}
	for (r = 0; !ret && r < NR_PROCS; r++) {
		c->committed += held[r];
		if (held[r] != atomic_load(&p->h->proc[r].charged))
			ret = -EUCLEAN;
	}
out:
	free(seen);
	free(held);
	return ret;
}
#endif
