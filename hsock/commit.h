/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hsock records: the one interface between the data path (records.c) and
 * whoever owns the GShm records.  This is the user-space implementation
 * (commit.c, records in a per-uid pool object of the IAL backend); the
 * kernel module (kernel/uapi/hsock.h) is meant to replace exactly these
 * calls, with the same contracts:
 *
 *   take     speculative: pop a free record from the arena of the CPU we
 *            run on - no syscall, no lock, no atomic instruction (a
 *            restartable sequence; see Per-CPU arenas).
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
 * Per-CPU arenas (rseq.h): every CPU up to 1024 has an arena, a stack of
 * free records whose head word is (count << 32 | first + 1), modified
 * only by tasks running on that CPU and only inside a restartable
 * sequence (rseq): a pop or push reads the head, walks or links next[],
 * and commits with one plain store, which the kernel lets happen only if
 * the task was not preempted, signalled or migrated since it checked its
 * CPU; otherwise it restarts.  That serialises all tasks of one CPU, of
 * any process mapping the pool, so no ABA and no lock prefix.  Other CPUs
 * never touch the arena - no stealing: records move between CPUs through
 * shared lock-free stacks (a compare-and-swap on a generation-tagged
 * head):
 *   - warm: a push that would take an arena over its cap (256; less in
 *     a pool of under 2048 records per CPU) first moves its top half
 *     there (a batch that large goes there itself);
 *   - a take that empties its arena pops the rest from warm, else cold,
 *     else brk (records never used), plus up to 32 more for the arena,
 *     in one compare-and-swap; then from the CAS arenas below; last, when
 *     the pool has nothing else, it sets the spill request of every CPU
 *     arena that has records: the next pool operation on that CPU (any
 *     process) moves the whole arena to warm, where the taker finds it
 *     when it tries again (a writer without a record retries every 2 ms).
 * A thread without rseq (no glibc registration - __rseq_size 0, cpu_id
 * negative, e.g. GLIBC_TUNABLES=glibc.pthread.rseq=0 -, not x86-64,
 * HSOCK_RSEQ=0, a CPU beyond 1024, or a pool of a dax/rdma backend, which
 * hosts with their own CPU numbers may share) uses the same scheme with
 * separate CAS arenas, one per sched_getcpu() modulo 64, popped and
 * pushed by compare-and-swap (any CPU may pop them).  Arenas are capped
 * lower in a small pool: all of them together hold at most 1/8 of it.
 *
 * GShm held: the pool object is sparse and records are handed out lowest
 * index first, so pages are populated on first use; a released record
 * goes back warm to the arena of the releasing CPU (a busy stream recycles
 * records without a syscall).  hs_pool_trim(), called when a connection
 * goes idle, gives the pages of warm records beyond 128 in the shared warm
 * stack back (MADV_REMOVE) and moves them to a shared cold stack, used
 * only when no warm record is left; arenas are bounded at every push:
 * held memory follows records in flight plus at most 256 free records
 * (1 MiB) per CPU and 128 in the warm stack after a trim.
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
 *   - a take of 2..HS_RUN_MAX records sorts what it got; if that is not
 *     one run, it pops as many from the cold stack and keeps whichever is
 *     fewer runs, pushing the other back; if that is still not one run
 *     (the cold stack short, or scrambled where records are missing: an
 *     arena holds them), it takes a run from brk: two to four more CASes,
 *     only on a write that needs several new pages (a stream's first
 *     lap), never per message.  Taking from brk instead of scrambled
 *     records moves brk up, bounded by the pool size; the scrambled ones
 *     go to this CPU's arena (bounded by its cap) and to takes of one
 *     record;
 *   - what a take pops for the arena on top comes from one stack in its
 *     order (from brk: consecutive), so the next takes pop runs too.
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
 * warm stack, the cold stack, brk, the CAS arenas): no syscall; a
 * restartable sequence, one compare-and-swap per shared stack, two more
 * when the batch was not a run (see Runs).  Returns how many, in
 * ascending order (so a run fills consecutive pages).
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

/* Return warm records of the shared stack beyond 128 to the backend. */
void hs_pool_trim(struct hs_pool *p);

/* Records committed by this process now; pool geometry. */
uint32_t hs_pool_charged(struct hs_pool *p);
uint32_t hs_pool_limit(struct hs_pool *p);
uint32_t hs_pool_records(struct hs_pool *p);

#ifdef HSOCK_POOL_DEBUG
/* Test builds only: commit.c compiled with -DHSOCK_POOL_DEBUG. */
struct hs_pool_debug {
	uint64_t rseq_ops;	/* arena pops and pushes done in an rseq section */
	uint64_t rseq_aborts;	/* sections the kernel aborted (preempted, signal) */
	uint64_t rseq_moved;	/* sections that found the thread on another CPU */
	uint64_t cas_ops;	/* arena operations on a CAS arena */
	uint64_t spill_asks;	/* other CPUs' arenas asked to spill (exhausted) */
	uint64_t spilled;	/* batches an asked arena moved to warm */
};
void hs_pool_debug(struct hs_pool *p, struct hs_pool_debug *d);

struct hs_pool_census {
	uint32_t brk;		/* records [0, brk) were handed out once */
	uint32_t stacked;	/* free, in a stack or an arena */
	uint32_t in_arenas;	/* of those, in rseq arenas */
	uint32_t taken;
	uint32_t committed;
};
/*
 * With nobody using the pool: 0 when every record below brk is either in
 * exactly one stack or arena (and FREE) or taken/committed by a process
 * slot, none above brk is, every stack's count matches its chain, and
 * every process's charge is what it has committed; -EUCLEAN otherwise.
 */
int hs_pool_census(struct hs_pool *p, struct hs_pool_census *c);
#endif

#endif
