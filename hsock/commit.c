// SPDX-License-Identifier: GPL-2.0
/*
 * User-space implementation of hsock/commit.h: a per-uid pool object of
 * page-sized records with per-CPU arenas (generation-tagged lock-free
 * stacks) and per-process charges.
 *
 * Pool layout (all offsets fixed by the header):
 *	[0, 4096)		struct pool_hdr
 *	[4096, meta_end)	next[nr] (stack links), own[nr] (state | slot)
 *	[rec_off, ...)		nr records of HS_REC_SIZE bytes
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hsock/commit.h"
#include "hsock/ial.h"

#define POOL_MAGIC	0x326c6f6f706b7368ULL	/* "hskpool2" */
#define NR_ARENAS	16
#define NR_PROCS	240
#define HS_ARENA_WARM	256		/* populated free records kept per arena */
#define HS_RUN_MAX	256		/* largest take traded for a run */

enum { OWN_FREE = 0, OWN_TAKEN = 1u << 28, OWN_COMMITTED = 2u << 28 };
#define OWN_STATE(o)	((o) & (3u << 28))
#define OWN_SLOT(o)	((o) & 0xffffu)

struct pool_arena {
	_Atomic uint64_t head;		/* gen << 32 | (rec + 1); 0 rec = empty */
	_Atomic int32_t count;		/* records on the stack (approximate) */
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
	struct pool_arena arena[NR_ARENAS];	/* warm: populated records */
	struct pool_arena cold;			/* pages given back (MADV_REMOVE) */
	struct pool_proc proc[NR_PROCS];
};

_Static_assert(sizeof(struct pool_hdr) <= 4096, "pool header fits a page");

struct hs_pool {
	struct ial *ial;
	struct pool_hdr *h;
	_Atomic uint32_t *next, *own;
	unsigned char *recs;
	size_t len;
	uint32_t slot;			/* our proc[] entry */
	uint32_t limit;			/* this process's commit limit */
};

static size_t meta_end(uint32_t nr)
{
	return (4096 + (size_t)nr * 8 + 4095) & ~(size_t)4095;
}

static size_t pool_len(uint32_t nr)
{
	return meta_end(nr) + (size_t)nr * HS_REC_SIZE;
}

static bool alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
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
		if (!alive(z) && atomic_compare_exchange_strong(&p->h->proc[i].pid, &z, me))
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
	int ret, i;

	ret = ial_map(p->ial, name, pool_len(nr), IAL_CREATE, (void **)&p->h);
	if (!ret) {
		p->h->nr = nr;
		p->h->limit = limit;
		p->h->rec_off = meta_end(nr);
		atomic_store_explicit(&p->h->magic, POOL_MAGIC, memory_order_release);
		p->len = pool_len(nr);
		return 0;
	}
	if (ret != -EEXIST)
		return ret;
	ret = ial_map(p->ial, name, 4096, 0, (void **)&h);
	if (ret)
		return ret;
	for (i = 0; i < 1000 && atomic_load_explicit(&h->magic,
			memory_order_acquire) != POOL_MAGIC; i++)
		usleep(10);
	nr = h->nr;
	ial_unmap(p->ial, h, 4096);
	if (i == 1000 || !nr || nr > (1u << 24))
		return -EPROTO;
	p->len = pool_len(nr);
	return ial_map(p->ial, name, p->len, 0, (void **)&p->h);
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
	if (p->h->rec_off != meta_end(p->h->nr)) {
		ret = -EPROTO;
		goto err_unmap;
	}
	p->next = (_Atomic uint32_t *)((char *)p->h + 4096);
	p->own = p->next + p->h->nr;
	p->recs = (unsigned char *)p->h + p->h->rec_off;
	ret = claim_slot(p);
	if (ret)
		goto err_unmap;
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

static struct pool_arena *my_arena(struct hs_pool *p)
{
	int cpu = sched_getcpu();

	return &p->h->arena[(cpu < 0 ? 0 : cpu) % NR_ARENAS];
}

/*
 * Pop up to @n records in one compare-and-swap: the generation in head
 * changes on every push and pop, so an unchanged head means the chain we
 * walked is still the stack's top.  Links read during a race may be
 * garbage; they are bounds-checked and the CAS then fails.
 */
static uint32_t pop_n(struct hs_pool *p, struct pool_arena *a, uint32_t *out,
		      uint32_t n)
{
	uint64_t h = atomic_load_explicit(&a->head, memory_order_acquire), nh;
	uint32_t k, link;

	do {
		for (k = 0, link = (uint32_t)h; k < n && link && link - 1 < p->h->nr; k++) {
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

static uint32_t pop(struct hs_pool *p, struct pool_arena *a)
{
	uint32_t r;

	return pop_n(p, a, &r, 1) ? r : HS_REC_NIL;
}

/* Push the chain @first .. @last (@n records, already linked) in one CAS. */
static void push_chain(struct hs_pool *p, struct pool_arena *a, uint32_t first,
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

/* Push @n records (linked in the given order: r[0] pops first). */
static void push_n(struct hs_pool *p, struct pool_arena *a, const uint32_t *r,
		   uint32_t n)
{
	uint32_t i;

	if (!n)
		return;
	for (i = 0; i + 1 < n; i++)
		atomic_store_explicit(&p->next[r[i]], r[i + 1] + 1, memory_order_relaxed);
	push_chain(p, a, r[0], r[n - 1], n);
}

static uint32_t take_brk(struct hs_pool *p, uint32_t *out, uint32_t n)
{
	uint32_t i = atomic_load_explicit(&p->h->brk, memory_order_relaxed), k;

	do {
		k = p->h->nr - i < n ? p->h->nr - i : n;
		if (!k)
			return 0;
	} while (!atomic_compare_exchange_weak(&p->h->brk, &i, i + k));
	for (n = 0; n < k; n++)
		out[n] = i + n;
	return k;
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
 * @out holds @k records popped from arena @a, sorted, in more than one
 * run: a page-sized copy runs at half the speed of one over consecutive
 * records, so look for the same number in fewer runs in the cold stack
 * (kept sorted by hs_pool_trim), then among records never used; the
 * loser goes back where it came from.  Only multi-record takes (a write
 * of several pages) get here, so a ping-pong never pays for it.
 */
static void prefer_run(struct hs_pool *p, struct pool_arena *a, uint32_t *out,
		       uint32_t k)
{
	uint32_t alt[HS_RUN_MAX], j, i;

	j = pop_n(p, &p->h->cold, alt, k);
	if (j < k) {
		push_n(p, &p->h->cold, alt, j);
		j = take_brk(p, alt, k);
		if (j < k) {
			/* brk is never given back: a partial one is freed warm */
			push_n(p, a, alt, j);
			return;
		}
	} else {
		sort_recs(alt, k);
		if (nr_runs(alt, k) >= nr_runs(out, k)) {
			push_n(p, &p->h->cold, alt, k);
			return;
		}
	}
	push_n(p, a, out, k);
	for (i = 0; i < k; i++)
		out[i] = alt[i];
}

/*
 * This CPU's arena, then the other arenas (a consumer on another CPU
 * returns records to its own), then the cold stack, then records never
 * used yet.  A batch from this CPU's arena that is not one run of
 * consecutive records is traded for a better one (prefer_run).
 */
uint32_t hs_rec_take(struct hs_pool *p, uint32_t *out, uint32_t n)
{
	struct pool_arena *a = my_arena(p);
	uint32_t k = pop_n(p, a, out, n), i;

	if (k > 1 && k <= HS_RUN_MAX) {
		sort_recs(out, k);
		if (nr_runs(out, k) > 1)
			prefer_run(p, a, out, k);
	}
	for (i = 0; k < n && i < NR_ARENAS; i++)
		k += pop_n(p, &p->h->arena[i], out + k, n - k);
	if (k < n)
		k += pop_n(p, &p->h->cold, out + k, n - k);
	if (k < n)
		k += take_brk(p, out + k, n - k);
	if (k > 1)	/* ascending: a run becomes consecutive pages */
		sort_recs(out, k);
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
		if (recs[i] >= p->h->nr || !atomic_compare_exchange_strong(
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
	struct pool_arena *c = &p->h->cold;
	uint64_t h = atomic_load_explicit(&c->head, memory_order_acquire);
	uint32_t head, rest, a, b, last = HS_REC_NIL, alast, walked = 0, runs, i;

	while (!atomic_compare_exchange_weak_explicit(&c->head, &h,
			((h >> 32) + 1) << 32, memory_order_acq_rel, memory_order_acquire))
		;
	head = (uint32_t)h;
	if (head && head - 1 >= p->h->nr)
		head = 0;
	for (rest = head; rest; rest = LINK(p, last), walked++) {
		last = rest - 1;
		if (walked + 1 == p->h->nr || (LINK(p, last) &&
				LINK(p, last) - 1 >= p->h->nr)) {
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

void hs_pool_trim(struct hs_pool *p)
{
	uint32_t batch[1024], n, i, r;

	for (i = 0; i < NR_ARENAS; i++) {
		do {
			for (n = 0; n < 1024 && atomic_load_explicit(
					&p->h->arena[i].count, memory_order_relaxed) >
					HS_ARENA_WARM; n++) {
				r = pop(p, &p->h->arena[i]);
				if (r == HS_REC_NIL)
					break;
				batch[n] = r;
			}
			if (n)
				remove_pages(p, batch, n);
		} while (n == 1024);
	}
}

void hs_rec_abort(struct hs_pool *p, const uint32_t *recs, uint32_t n)
{
	uint32_t back[256], k = 0, i, o;

	for (i = 0; i < n; i++) {
		o = OWN_TAKEN | p->slot;
		if (recs[i] < p->h->nr && atomic_compare_exchange_strong(
				&p->own[recs[i]], &o, OWN_FREE))
			back[k++] = recs[i];
		if (k == 256 || i + 1 == n) {
			sort_recs(back, k);
			push_n(p, my_arena(p), back, k);
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
		o = recs[i] < p->h->nr ? atomic_load(&p->own[recs[i]]) : 0;
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
			push_n(p, my_arena(p), back, k);
			k = 0;
		}
	}
	if (same)
		uncharge(p, slot, same);
	return ret;
}

bool hs_rec_mine(struct hs_pool *p, uint32_t rec)
{
	return rec < p->h->nr && atomic_load_explicit(&p->own[rec],
			memory_order_relaxed) == (OWN_COMMITTED | p->slot);
}

void *hs_rec_addr(struct hs_pool *p, uint32_t rec)
{
	if (rec >= p->h->nr || OWN_STATE(atomic_load_explicit(&p->own[rec],
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
	return p->h->nr;
}
