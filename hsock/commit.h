/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hsock records: the one interface between the data path (records.c) and
 * whoever owns the GShm records.  This is the user-space implementation
 * (commit.c, records in a per-uid pool object of the IAL backend); the
 * kernel module (kernel/uapi/hsock.h) is meant to replace exactly these
 * calls, with the same contracts:
 *
 *   take     speculative: pop a free record from the arena of the CPU we
 *            run on - no syscall, no lock (one compare-and-swap).
 *   commit   before the record is linked into a connection: validate that
 *            it was handed to this process (taken, not committed) and charge
 *            it to the process's limit (HSOCK_REC_LIMIT); -EDQUOT over it.
 *   release  once every byte of the record was read and no slot links it
 *            any more (records.c: idle trim, close, sweep): uncharge the
 *            producer and return the record to an arena.
 *
 * Record states (own[] in the pool): FREE (in an arena or never used),
 * TAKEN by process slot s, COMMITTED by s.  Only those transitions exist,
 * each one compare-and-swap, so a record named twice (a lying peer) is
 * released at most once.
 *
 * Per-CPU arenas: glibc's rseq registration would make "pop from this
 * CPU's arena" preemption-safe without an atomic; this implementation is
 * the documented fallback: the arena is chosen with sched_getcpu() and
 * popped with a compare-and-swap on a generation-tagged head, so a thread
 * migrated in the middle only loses locality, never correctness.
 *
 * GShm held: the pool object is sparse and records are handed out lowest
 * index first, so pages are populated on first use; a released record
 * goes back warm to the arena of the releasing CPU (a busy stream recycles
 * records without a syscall).  hs_pool_trim(), called when a connection
 * goes idle, gives the pages of warm records beyond HS_ARENA_WARM per
 * arena back (MADV_REMOVE) and moves them to a shared cold stack, used only
 * when no arena has a warm record: held memory follows records in flight
 * plus a bounded warm cache per arena (256 records = 1 MiB).
 *
 * Runs: pages whose records follow each other in the pool are copied in
 * one go (records.c), and far-apart vCPUs copy 4 KiB pieces at half the
 * speed of 64 KiB ones, so a take of several records should be a run of
 * consecutive ones.  A long-lived pool's stacks are scrambled by
 * single-record releases, interleaved batches and trims; so:
 *   - release and abort push a batch as one chain in ascending order: a
 *     run that was taken together pops together;
 *   - the trim keeps the cold stack sorted (it takes the whole stack in
 *     one CAS, merges its batch in, pushes it back as one chain), so a pop
 *     from it is as few runs as the free records allow;
 *   - a take of 2..HS_RUN_MAX records sorts what this CPU's arena gave;
 *     if that is not one run, it pops as many from the cold stack (or,
 *     when the cold stack is short, brk) and keeps whichever is fewer
 *     runs, pushing the other back: two more CASes, only on a write that
 *     needs several new pages (a stream's first lap), never per message.
 *     Taking from brk instead of scrambled warm records moves brk up,
 *     bounded by the pool size; the warm records stay in the arena (still
 *     bounded by the trim) and go to takes of one record.
 *
 * Isolation: validation only - any process of the uid can map the pool.
 * The kernel module is what makes a record reachable only by the two ends
 * of its connection.
 */
#ifndef HSOCK_COMMIT_H
#define HSOCK_COMMIT_H

#include <stdbool.h>
#include <stdint.h>

#define HS_REC_SIZE	4096u
#define HS_REC_NIL	UINT32_MAX

struct ial;
struct hs_pool;

/*
 * Open (or create) pool object @name of @nr records (an existing pool
 * keeps its own size); this process may have @limit records committed.
 */
int hs_pool_open(struct ial *ial, const char *name, uint32_t nr,
		 uint32_t limit, struct hs_pool **out);
void hs_pool_close(struct hs_pool *p);

/*
 * Speculative take of up to @n records from this CPU's arena (then the
 * others, the cold stack, brk): no syscall, one compare-and-swap per
 * stack, two more when this CPU's batch was not a run (see Runs).  Returns
 * how many, in ascending order (so a run fills consecutive pages).
 */
uint32_t hs_rec_take(struct hs_pool *p, uint32_t *out, uint32_t n);
/* All or nothing: 0, -EPERM (one not taken by us), -EDQUOT (over limit). */
int hs_rec_commit(struct hs_pool *p, const uint32_t *recs, uint32_t n);
/* Give back taken records that were never committed. */
void hs_rec_abort(struct hs_pool *p, const uint32_t *recs, uint32_t n);
/* 0, or -EPROTO when one of @recs was not committed (lying peer). */
int hs_rec_release(struct hs_pool *p, const uint32_t *recs, uint32_t n);
/* True when @rec is committed by this process (a spare handed back to us). */
bool hs_rec_mine(struct hs_pool *p, uint32_t rec);
/* Address of committed record @rec; NULL when out of range or not committed. */
void *hs_rec_addr(struct hs_pool *p, uint32_t rec);

/* Return warm records beyond the per-arena cache to the backend. */
void hs_pool_trim(struct hs_pool *p);

/* Records committed by this process now; pool geometry. */
uint32_t hs_pool_charged(struct hs_pool *p);
uint32_t hs_pool_limit(struct hs_pool *p);
uint32_t hs_pool_records(struct hs_pool *p);

#endif
