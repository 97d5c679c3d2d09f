// SPDX-License-Identifier: GPL-2.0
/*
 * Records mode of a channel (chan.h, RECORDS): the pages of a direction's
 * ring are local pages of the object or records of the per-uid pool
 * (hsock/commit.h), named by the direction's slot table.
 */
#include "hsock/hsock_int.h"
#include "hsock/commit.h"

#include <errno.h>
#include <string.h>

static uint32_t nslots(struct hs_conn *c)
{
	return c->ring / HSOCK_PAGE;
}

static _Atomic uint32_t *slot_of(struct hs_conn *c, int d, uint64_t pos)
{
	return &c->ch->slot[d][(pos / HSOCK_PAGE) % nslots(c)];
}

/* Address a slot value names, NULL when it names nothing valid. */
static unsigned char *slot_addr(struct hsock_chan *ch, int d, uint32_t v)
{
	if (v == SLOT_NIL)
		return NULL;
	if (v & SLOT_LOCAL)
		return (v & ~SLOT_LOCAL) < HSOCK_LOCAL ?
		       chan_local(ch, d, v & ~SLOT_LOCAL) : NULL;
	return hs.pool ? hs_rec_addr(hs.pool, v - 1) : NULL;
}

static unsigned char *page_at(struct hs_conn *c, int d, uint64_t pos)
{
	return c->kmod ? hs_kmod_page(c, d, pos / HSOCK_PAGE) :
	       slot_addr(c->ch, d, atomic_load_explicit(slot_of(c, d, pos),
						       memory_order_acquire));
}

/* The page holding position @pos of direction @d, NULL when none yet. */
unsigned char *hs_rec_page(struct hs_conn *c, int d, uint64_t pos)
{
	return page_at(c, d, pos);
}

/* Copy [pos, pos+len) of direction @d page by page; -ECONNRESET on a bad slot. */
int hs_rec_copy(struct hs_conn *c, int d, uint64_t pos, const struct iovec *iov,
		int n, size_t off, size_t len, bool to_iov,
		void (*copy)(const struct iovec *, int, size_t, void *, size_t, bool))
{
	unsigned char *page, *next;
	size_t in, k;

	while (len) {
		page = page_at(c, d, pos);
		if (!page)
			return -ECONNRESET;
		in = pos % HSOCK_PAGE;
		k = HSOCK_PAGE - in < len ? HSOCK_PAGE - in : len;
		/* pages that follow each other in memory: one copy */
		while (k < len && (next = page_at(c, d, pos + k)) == page + in + k)
			k += HSOCK_PAGE < len - k ? HSOCK_PAGE : len - k;
		if (k < len && !next)
			return -ECONNRESET;
		copy(iov, n, off, page + in, k, to_iov);
		pos += k;
		off += k;
		len -= k;
	}
	return 0;
}

/*
 * A free local page of direction @d, SLOT_NIL when both are in use.  Loads
 * first: a failing read-modify-write would pull the line from the reader
 * on every page.
 */
static uint32_t local_page(struct hs_conn *c, int d)
{
	_Atomic uint32_t *used = &c->ch->local_used[d];
	uint32_t k;

	for (k = 0; k < HSOCK_LOCAL; k++)
		if (!(atomic_load_explicit(used, memory_order_relaxed) & (1u << k)) &&
		    !(atomic_fetch_or(used, 1u << k) & (1u << k))) {
			HS_STAT(S_REC_LOCAL, 1);
			return SLOT_LOCAL | k;
		}
	return SLOT_NIL;
}

/* Take and commit up to @n records; how many (0: none now). */
static uint32_t take_records(uint32_t *r, uint32_t n)
{
	uint32_t k = hs_rec_take(hs.pool, r, n);

	HS_STAT(S_REC_TAKEN, k);
	while (k && hs_rec_commit(hs.pool, r, k)) {
		/* over the limit: maybe fewer fit */
		hs_rec_abort(hs.pool, r + k / 2, k - k / 2);
		k /= 2;
	}
	HS_STAT(S_REC_COMMITS, k);
	return k;
}

/*
 * Writer: may the record a slot of ours names be written again?  Only a
 * record committed by our process: a slot a lying peer rewrote, or one
 * filled before an exec (new pool slot), is released - its owner is
 * uncharged, as when a reader consumes it - and the slot refilled.
 */
static bool reusable(uint32_t r)
{
	if (hs.pool && hs_rec_mine(hs.pool, r))
		return true;
	if (hs.pool && !hs_rec_release(hs.pool, &r, 1))
		HS_STAT(S_REC_RELEASED, 1);
	return false;
}

/*
 * Writer: move up to @n pages out of the slots of consumed positions this
 * fill does not reach, [end - R, tail), into @out; those slots become NIL.
 * R reads no slot below its tail, so only W touches them.  Keeps what a
 * connection holds to the pages in flight: without it every slot of the
 * window would keep a record once the stream went round.  Nearest the
 * tail first (where the pages are: earlier ones were moved on already),
 * handed out lowest position first (a run of records stays one).  A tail
 * past head (lying peer) is clamped, so the range never reaches a slot of
 * [tail, head + k).
 */
static uint32_t steal_consumed(struct hs_conn *c, int d, uint64_t head,
			       uint64_t end, uint32_t *out, uint32_t n)
{
	const uint64_t mask = ~(uint64_t)(HSOCK_PAGE - 1);
	uint64_t pos = atomic_load_explicit(&c->ch->dir[d].tail, memory_order_acquire) & mask;
	uint64_t low = end > c->ring ? end - c->ring : 0;
	uint32_t k = 0, v, i;

	if (pos > (head & mask))
		pos = head & mask;
	while (pos > low && k < n) {
		pos -= HSOCK_PAGE;
		v = atomic_load_explicit(slot_of(c, d, pos), memory_order_relaxed);
		if (v == SLOT_NIL)
			continue;
		atomic_store_explicit(slot_of(c, d, pos), SLOT_NIL, memory_order_relaxed);
		if ((v & SLOT_LOCAL) || reusable(v - 1))
			out[k++] = v;
	}
	for (i = 0; i < k / 2; i++) {
		v = out[i];
		out[i] = out[k - 1 - i];
		out[k - 1 - i] = v;
	}
	return k;
}

/*
 * Writer, inside WR_BUSY: give every page of [head, head+k) a slot: local
 * pages first, then pages of consumed slots, then records taken and
 * committed in one batch.  Returns how many of the k bytes have pages (0:
 * no record now).
 */
size_t hs_rec_fill(struct hs_conn *c, int d, uint64_t head, size_t k)
{
	uint64_t pos = head & ~(uint64_t)(HSOCK_PAGE - 1), need[HSOCK_SLOTS_MAX];
	uint32_t v, n = 0, got, i, reused = 0, recs[HSOCK_SLOTS_MAX];

	if (c->kmod)
		return hs_kmod_fill(c, d, head, k);
	for (; pos < head + k; pos += HSOCK_PAGE) {
		v = atomic_load_explicit(slot_of(c, d, pos), memory_order_relaxed);
		if (v != SLOT_NIL && ((v & SLOT_LOCAL) || reusable(v - 1))) {
			reused++;
			continue;	/* this page, or a previous lap's, consumed */
		}
		if (v != SLOT_NIL)
			atomic_store_explicit(slot_of(c, d, pos), SLOT_NIL,
					      memory_order_relaxed);
		v = n ? SLOT_NIL : local_page(c, d);
		if (v != SLOT_NIL)
			atomic_store_explicit(slot_of(c, d, pos), v, memory_order_release);
		else if (n < HSOCK_SLOTS_MAX)
			need[n++] = pos;
	}
	got = n ? steal_consumed(c, d, head, pos, recs, n) : 0;
	HS_STAT(S_REC_REUSED, reused + got);
	if (got < n) {
		i = take_records(recs + got, n - got);	/* ascending */
		for (; i; i--, got++)
			recs[got] += 1;		/* slot value */
	}
	for (i = 0; i < got; i++)
		atomic_store_explicit(slot_of(c, d, need[i]), recs[i],
				      memory_order_release);
	if (got < n)
		return need[got] > head ? need[got] - head : 0;
	return k;
}

/* Give local page @v of direction @d back (its local_used bit). */
static void put_local(struct hsock_chan *ch, int d, uint32_t v)
{
	atomic_fetch_and(&ch->local_used[d], ~(1u << ((v & ~SLOT_LOCAL) % 32)));
}

/*
 * Reader, before publishing tail: the slot table is the writer's (chan.h,
 * RECORDS), so a consumed page keeps its record for the writer's next lap
 * and the reader writes no shared line per page.  The module takes its
 * records back in ring order.
 */
int hs_rec_consumed(struct hs_conn *c, int d, uint64_t from, uint64_t to)
{
	(void)from;
	return c->kmod ? hs_kmod_consumed(c, d, to) : 0;
}

/*
 * Release every page of direction @d's slot table; whether any was linked.
 * Records go back in one batch: the pool pushes it sorted, so a run of
 * consecutive records is handed out as one again (hs_rec_copy() copies
 * it in one go).
 */
static bool release_slots(struct hsock_chan *ch, int d, uint32_t n)
{
	uint32_t i, v, k = 0, recs[HSOCK_SLOTS_MAX];
	bool any = false;

	for (i = 0; i < n; i++) {
		if (atomic_load_explicit(&ch->slot[d][i], memory_order_relaxed) == SLOT_NIL)
			continue;
		v = atomic_exchange(&ch->slot[d][i], SLOT_NIL);
		any |= v != SLOT_NIL;
		if (v & SLOT_LOCAL)
			put_local(ch, d, v);
		else if (v != SLOT_NIL)
			recs[k++] = v - 1;
	}
	if (k && hs.pool)
		hs_rec_release(hs.pool, recs, k);	/* -EPROTO: a lying writer's loss */
	HS_STAT(S_REC_RELEASED, k);
	return any;
}

/*
 * Reader, inside TRIM with head == tail: the writer is out of hs_rec_fill
 * and every page is consumed: release them all.
 */
bool hs_rec_trim(struct hs_conn *c, int d, uint64_t tail)
{
	(void)tail;
	return release_slots(c->ch, d, nslots(c));
}

/* Whether an idle trim has pages to release; the module keeps its own. */
bool hs_rec_held(struct hs_conn *c, int d, uint64_t tail)
{
	uint32_t i;

	(void)tail;
	if (c->kmod)
		return false;
	for (i = 0; i < nslots(c); i++)
		if (atomic_load_explicit(&c->ch->slot[d][i], memory_order_relaxed) != SLOT_NIL)
			return true;
	return false;
}

/* Last side left: every record still linked goes back to the pool. */
void hs_release_records(struct hsock_chan *ch)
{
	uint32_t d, n = ch->ring_size / HSOCK_PAGE;

	if (n > HSOCK_SLOTS_MAX)
		n = HSOCK_SLOTS_MAX;
	for (d = 0; d < 2; d++)
		release_slots(ch, d, n);
	if (hs.pool)
		hs_pool_trim(hs.pool);
}
