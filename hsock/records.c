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

/* Copy [pos, pos+len) of direction @d page by page; -ECONNRESET on a bad slot. */
int hs_rec_copy(struct hs_conn *c, int d, uint64_t pos, const struct iovec *iov,
		int n, size_t off, size_t len, bool to_iov,
		void (*copy)(const struct iovec *, int, size_t, void *, size_t, bool))
{
	unsigned char *page;
	size_t in, k;

	while (len) {
		page = c->kmod ? hs_kmod_page(c, d, pos / HSOCK_PAGE) :
		       slot_addr(c->ch, d, atomic_load_explicit(slot_of(c, d, pos),
						memory_order_acquire));
		if (!page)
			return -ECONNRESET;
		in = pos % HSOCK_PAGE;
		k = HSOCK_PAGE - in < len ? HSOCK_PAGE - in : len;
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

/*
 * Writer: up to @n spares the reader handed back (chan.h, SPARES).  An id
 * that is not a record committed by our process slot (a writer that
 * exec'd got a new slot; or a lying peer) is released, not reused: it
 * goes back to its owner's charge like any consumed record.
 */
static uint32_t spares_pop(struct hs_conn *c, int d, uint32_t *out, uint32_t n)
{
	struct hsock_spares *s = &c->ch->spares[d];
	uint32_t got = atomic_load_explicit(&s->got, memory_order_relaxed);
	uint32_t put = atomic_load_explicit(&s->put, memory_order_acquire), k = 0, r;

	if (got == put || !hs.pool)
		return 0;
	if (put - got > HSOCK_SPARES)
		got = put;	/* lying peer: take none */
	for (; k < n && got != put; got++) {
		r = atomic_load_explicit(&s->rec[got % HSOCK_SPARES], memory_order_relaxed);
		if (hs_rec_mine(hs.pool, r))
			out[k++] = r;
		else
			hs_rec_release(hs.pool, &r, 1);	/* -EPROTO: not a record */
	}
	atomic_store_explicit(&s->got, got, memory_order_release);
	HS_STAT(S_REC_REUSED, k);
	return k;
}

/* Reader: hand up to @n consumed records back to the writer; how many. */
static uint32_t spares_push(struct hsock_chan *ch, int d, const uint32_t *r, uint32_t n)
{
	struct hsock_spares *s = &ch->spares[d];
	uint32_t put = atomic_load_explicit(&s->put, memory_order_relaxed);
	uint32_t got = atomic_load_explicit(&s->got, memory_order_acquire), k;

	for (k = 0; k < n && put - got < HSOCK_SPARES; k++, put++)
		atomic_store_explicit(&s->rec[put % HSOCK_SPARES], r[k], memory_order_relaxed);
	if (k)
		atomic_store_explicit(&s->put, put, memory_order_release);
	return k;
}

/*
 * Every spare of direction @d back to the pool; only while the writer is
 * out of hs_rec_fill (TRIM held, or the last side left).
 */
static void spares_release(struct hsock_chan *ch, int d)
{
	struct hsock_spares *s = &ch->spares[d];
	uint32_t got = atomic_load(&s->got), put = atomic_load(&s->put), n = 0;
	uint32_t recs[HSOCK_SPARES];

	if (put - got > HSOCK_SPARES)
		got = put - HSOCK_SPARES;
	for (; got != put; got++)
		recs[n++] = atomic_load_explicit(&s->rec[got % HSOCK_SPARES],
						 memory_order_relaxed);
	atomic_store(&s->got, got);
	if (n && hs.pool)
		hs_rec_release(hs.pool, recs, n);	/* -EPROTO: not all were records */
	HS_STAT(S_REC_RELEASED, n);
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
 * Writer, inside WR_BUSY: give every page of [head, head+k) a slot: local
 * pages first, then records taken and committed in one batch.  Returns how
 * many of the k bytes have pages (0: no record now).
 */
size_t hs_rec_fill(struct hs_conn *c, int d, uint64_t head, size_t k)
{
	uint64_t pos = head & ~(uint64_t)(HSOCK_PAGE - 1), need[HSOCK_SLOTS_MAX];
	uint32_t v, n = 0, got, i, recs[HSOCK_SLOTS_MAX];

	if (c->kmod)
		return hs_kmod_fill(c, d, head, k);
	for (; pos < head + k; pos += HSOCK_PAGE) {
		if (atomic_load_explicit(slot_of(c, d, pos), memory_order_relaxed) != SLOT_NIL)
			continue;
		v = n ? SLOT_NIL : local_page(c, d);
		if (v != SLOT_NIL)
			atomic_store_explicit(slot_of(c, d, pos), v, memory_order_release);
		else if (n < HSOCK_SLOTS_MAX)
			need[n++] = pos;
	}
	got = n ? spares_pop(c, d, recs, n) : 0;
	if (got < n)
		got += take_records(recs + got, n - got);
	for (i = 0; i < got; i++)
		atomic_store_explicit(slot_of(c, d, need[i]), recs[i] + 1,
				      memory_order_release);
	if (got < n)
		return need[got] > head ? need[got] - head : 0;
	return k;
}

static int put_page(struct hsock_chan *ch, int d, uint32_t v)
{
	if (v == SLOT_NIL)
		return 0;
	if (v & SLOT_LOCAL) {
		atomic_fetch_and(&ch->local_used[d], ~(1u << ((v & ~SLOT_LOCAL) % 32)));
		return 0;
	}
	if (!hs.pool || hs_rec_release(hs.pool, (uint32_t[]){ v - 1 }, 1))
		return -ECONNRESET;
	HS_STAT(S_REC_RELEASED, 1);
	return 0;
}

/*
 * Reader, before publishing tail: release every page fully consumed by
 * moving tail from @from to @to.
 */
int hs_rec_consumed(struct hs_conn *c, int d, uint64_t from, uint64_t to)
{
	uint64_t pos = from & ~(uint64_t)(HSOCK_PAGE - 1);
	uint32_t recs[HSOCK_SLOTS_MAX], n = 0, v, k;
	int ret = 0;

	if (c->kmod)
		return hs_kmod_consumed(c, d, to);
	for (; pos + HSOCK_PAGE <= to && n < HSOCK_SLOTS_MAX; pos += HSOCK_PAGE) {
		v = atomic_exchange(slot_of(c, d, pos), SLOT_NIL);
		if (v == SLOT_NIL || (v & SLOT_LOCAL))
			ret |= put_page(c->ch, d, v);
		else
			recs[n++] = v - 1;
	}
	k = n ? spares_push(c->ch, d, recs, n) : 0;
	if (n > k && (!hs.pool || hs_rec_release(hs.pool, recs + k, n - k)))
		ret = -ECONNRESET;
	HS_STAT(S_REC_RELEASED, n - k);
	return ret;
}

/* Reader, inside TRIM with head == tail: release the page at @tail and the spares. */
bool hs_rec_trim(struct hs_conn *c, int d, uint64_t tail)
{
	uint32_t v = atomic_exchange(slot_of(c, d, tail), SLOT_NIL);
	struct hsock_spares *s = &c->ch->spares[d];
	bool spares = atomic_load(&s->put) != atomic_load(&s->got);

	put_page(c->ch, d, v);
	spares_release(c->ch, d);
	return v != SLOT_NIL || spares;
}

/* The module releases in ring order only: no trim of a partial page. */
bool hs_rec_held(struct hs_conn *c, int d, uint64_t tail)
{
	struct hsock_spares *s = &c->ch->spares[d];

	return !c->kmod && (atomic_load(slot_of(c, d, tail)) != SLOT_NIL ||
			    atomic_load(&s->put) != atomic_load(&s->got));
}

/* Last side left: every record still linked goes back to the pool. */
void hs_release_records(struct hsock_chan *ch)
{
	uint32_t i, d, n = ch->ring_size / HSOCK_PAGE;

	if (n > HSOCK_SLOTS_MAX)
		n = HSOCK_SLOTS_MAX;
	for (d = 0; d < 2; d++) {
		for (i = 0; i < n; i++)
			put_page(ch, d, atomic_exchange(&ch->slot[d][i], SLOT_NIL));
		spares_release(ch, d);
	}
	if (hs.pool)
		hs_pool_trim(hs.pool);
}
