/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hsock channel: the shared-memory layout and the switch-over protocol.
 * This comment is the one place both are specified.
 *
 * RENDEZVOUS (the registry)
 *   The registry is the GShm namespace of the IAL backend (shm: /dev/shm).
 *   A connection's channel object is named by what both ends compute:
 *	hsock-<uid>-<client addr>_<client port>-<server addr>_<server port>
 *   The client uses (local, peer); the server uses (peer, SO_ORIGINAL_DST,
 *   or local when the socket was not redirected).  Both ends open the name
 *   with O_CREAT|O_EXCL, mode 0600; the winner sizes and initialises it and
 *   publishes `magic` last (release), the loser waits for `magic`.  Each
 *   side then stores its socket's inode number in cookie[side] (side 0 =
 *   client, 1 = server).  A cookie already set for our side with another
 *   inode means a stale object of an older connection with the same
 *   4-tuple: it is unlinked and re-created once.  Exec re-attaches by
 *   finding its own inode in cookie[].  A peer that never attaches (no
 *   preload, not allowed, no shared GShm) never lets anyone switch: the
 *   connection stays plain TCP.
 *
 * LAYOUT (one object per connection, all offsets fixed):
 *	[0, 4096)			struct hsock_chan (header, below)
 *	[4096, 4096 + R)		ring of dir[0], client -> server
 *	[4096 + R, 4096 + 2R)		ring of dir[1], server -> client
 *   R = ring_size, a power of two fixed at creation (HSOCK_RING).  head and
 *   tail are free-running byte counters; a ring offset is counter & (R-1),
 *   so no value read from shared memory can index outside the ring.  A
 *   reader that sees head - tail > R declares the connection broken
 *   (ECONNRESET) - a misbehaving peer can only break its own connection.
 *
 * SWITCH (per direction; W = writer side, R = reader side)
 *   state is one atomic word: SWITCHED (W), RD_BUSY and REFUSED (R or W).
 *   - W switches only when the peer is attached: it stores tcp_n = bytes it
 *     wrote over TCP, then CAS state 0 -> SWITCHED.  The CAS fails while R
 *     is inside a TCP recv (RD_BUSY) or after REFUSED; W then writes this
 *     chunk over TCP (counted in tcp_sent) and retries on its next write.
 *   - R reads TCP only non-blocking and only inside RD_BUSY (CAS 0 ->
 *     RD_BUSY, recv, clear), so a recv can never return bytes written after
 *     the switch.  Once SWITCHED, R reads exactly tcp_n - tcp_rcvd more TCP
 *     bytes, then the ring.  Order and content are TCP's.
 *   - A side that learns its peer is not hsock (TCP data arrived while the
 *     peer is not attached) sets REFUSED on both directions: plain TCP
 *     forever, and the channel is released.
 *
 * DOORBELLS (the kernel socket stays the notification path)
 *   After the switch every TCP byte beyond tcp_n is a doorbell.  A bell
 *   makes the real fd readable, so poll/select/epoll (any mode, nested,
 *   several sets), peer death (FIN/RST) and blocking all keep working on
 *   the real kernel socket.  bell = (bells rung << 1) | WANT:
 *   - R sets WANT (atomic OR, which also snapshots the count b) whenever
 *     it leaves the ring empty, then re-checks head (seq_cst: Dekker with
 *     W's publish-then-check).  Only when the re-check finds the ring
 *     empty does R discard bells, and only bells numbered <= b (rung
 *     before its WANT): a bell that consumed this WANT stays in the kernel
 *     queue, so "ring non-empty => a bell is pending" always holds for an
 *     application waiting in the kernel.  A spurious bell costs a wake-up;
 *     a lost bell is impossible.
 *   - W, after publishing head, rings (CAS clears WANT and counts the
 *     bell, then sends one byte) only if WANT is set: the peer pays for a
 *     wake-up only when the reader is armed (U-NAPI).  A reader busy-polls
 *     a bounded adaptive time with WANT cleared before it arms and sleeps
 *     in poll() on the real fd: an idle connection costs no CPU.
 *   - W waiting for ring space sets wr_want and futex-waits on wake_seq;
 *     R bumps wake_seq and wakes only if wr_want was set.  Every 100 ms the
 *     waiting W sends a counted probe bell: a dead peer answers with RST.
 *   - SPACE BELLS: a non-blocking W that finds the ring full, and a
 *     waiter for POLLOUT that finds it full (poll.c), set wr_out, then
 *     re-check tail (seq_cst, Dekker with R's tail publish); R, after
 *     publishing tail, clears a set wr_out and rings a counted bell on the
 *     other direction (switching it first if needed).  W's socket becomes
 *     readable although the kernel send buffer never filled, so a POLLOUT
 *     waiter on a full ring waits in the kernel for POLLIN instead and
 *     takes POLLOUT from the ring: poll/select ask for POLLIN in place of
 *     POLLOUT, a level-triggered epoll item is modified to do so while the
 *     ring is full, an edge-triggered one also waits for EPOLLIN.  A bell
 *     is discarded like any other - by W's reads, or by the waiter that
 *     found the ring still full - once W's own rx ring is empty
 *     (rx_settle: bells counted before an empty ring are consumed).
 *   - Close/shutdown(SHUT_WR) sets wr_shut before the real call; R returns
 *     EOF once the ring is empty and wr_shut is set or TCP EOF was seen.
 *
 * MAILBOX (small writes in one or two cache lines): a write of at most
 * HSOCK_MBOX bytes is copied into the ring as usual and also into the
 * mailbox: its first HSOCK_MBOX_A bytes in the producer line - the line a
 * busy-polling R reads to see head move - the rest in the line after it
 * (mb_more), which the polling R prefetches on each look at head, so that
 * both lines cross together; under a sequence count (mb_seq odd while W rewrites it, then mb_pos/mb_len/
 * mb_data, then mb_seq even with release), all before head is published.
 * R, reading [tail, tail + k) inside [mb_pos, mb_pos + mb_len), copies
 * from the mailbox and keeps it only if mb_seq was even and unchanged
 * around the copy; otherwise it reads the ring, which always holds the
 * bytes.  A small message then costs R one line transfer (head and data
 * together; or two at once) instead of two or more in a row.  W serialises its mailbox writes with wr_lock.
 *
 * WRITE-ONLY LINES: W never loads the producer line it publishes to; it
 * keeps its own copies of head and mb_seq (wr_head, wr_mbseq) in the
 * switch line, which only W touches on the data path.  Once the polling
 * R has read the producer line, W's next load of it misses: measured here
 * with the two vCPUs far apart (TSC stamps on both sides), loading head
 * at the start of a write cost 150 ns of a 16 B message's ~450 ns one-way
 * latency.  Stores only wait in the store buffer.  head is written only by
 * W under wr_lock, and wr_head with it, so the two never differ outside a
 * write (a peer that rewrites either breaks only this connection: R checks
 * head against tail, W masks every position).
 *
 * IDLE TRIM (GShm held follows bytes in flight): W holds WR_BUSY in state
 * while it copies into the ring.  R, asleep 100 ms on an empty ring that
 * has carried at least 64 KiB since its last trim, CASes state SWITCHED ->
 * SWITCHED|TRIM (fails while W copies), re-checks head == tail, returns
 * the ring's pages to the backend (MADV_REMOVE) and clears TRIM; W waits
 * for TRIM to clear before copying (probing a peer that might have died
 * inside its trim).  An idle connection holds its header page only.
 *
 * RECORDS (version CHAN_V_RECORDS, the default; HSOCK_RESERVE and rings
 * over 1 MiB use CHAN_V_RING above).  The ring is still the byte stream
 * head/tail of R bytes, but its R/4096 pages are not in the object: page
 * slot i = (pos / 4096) % (R / 4096) names where the bytes live in
 * slot[dir][i]: SLOT_NIL, SLOT_LOCAL | k (page k of the small local area
 * of the direction, in the object after the header: 2 pages), or
 * record + 1 (a page of the per-uid pool, hsock/commit.h).
 *   - The slot table of a direction is W's: W fills it, R only reads it.
 *     A slot keeps its page across laps: W writes position p only if the
 *     previous lap's page of that slot was fully consumed (space =
 *     (tail & ~4095) + R - head), so W may write into the page the slot
 *     already names.  A streaming connection therefore writes no shared
 *     line per page, only head (W) and tail (R) per call: no slot-table,
 *     bitmap, record-state, arena or charge line moves between the two
 *     CPUs, each of which was a cache-line transfer (~0.3-0.45 us when
 *     the two vCPUs are far apart), several per 4 KiB page.
 *   - W, before copying into page P (inside WR_BUSY, so never during a
 *     trim), fills a NIL slot: a free local page first (local_used bit,
 *     fetch_or), else a record taken from its CPU's arena and committed
 *     (ownership + per-process limit).  No record: W waits (futex, 2 ms
 *     steps, liveness probes) or returns EAGAIN / a short write.  Before
 *     it takes records, W moves pages out of slots of consumed positions
 *     this fill does not reach ([head + k - R, tail)), which R no longer
 *     reads: a connection holds the pages it has in flight (plus one
 *     write's), not its whole window, once the stream went round.  A slot
 *     naming a record that is not committed by W's process (rewritten by a
 *     lying peer, or filled before an exec) is released and refilled.
 *   - Records go back to the pool only when the ring goes idle, when the
 *     last side leaves and when the sweep removes the object, so GShm held
 *     by a connection follows the most it had in flight (at most R bytes,
 *     charged to W's process and bounded by its limit) while it streams,
 *     and is nothing once it idles.
 *   - Idle trim (same TRIM handshake: W is not inside hs_rec_fill), when
 *     head == tail: R releases every page of the slot table (local bit
 *     cleared, records back to an arena in one batch), so
 *     an idle connection holds no record at all.
 *   - W sorts a batch it takes and the pool hands out runs of
 *     consecutive records where it can (commit.h, Runs); a copy over
 *     pages whose records follow each other in the pool is one copy.  (Measured with
 *     the two vCPUs far apart: 16 copies of 4 KiB run at half the speed
 *     of one 64 KiB copy, on both sides; this, not the shared lines, is
 *     most of the gap to the byte ring.)
 *   - Slot values are bounds-checked (local index, record range) and a
 *     release must find the record COMMITTED: a lying peer breaks only its
 *     own connection (ECONNRESET).  (A writer's slot rewritten to name a
 *     record another connection of the same process committed is not
 *     detected: the pool knows owners by process, not by connection.)
 *   - The last side to leave releases every record still in both slot
 *     tables.  Records of a connection whose processes were killed are
 *     released by hsock_sweep() when it removes the object.
 *
 * STALE OBJECTS: the last holder of a side clears its cookie and unlinks
 * the object when the other cookie is clear too; a process that exits
 * releases its channels from a destructor.  Objects of killed processes
 * are removed by hsock_sweep() (hsock-run calls it) once no process named
 * in pid[] is alive.
 *
 * LOCKS: rd_lock/wr_lock serialise readers (writers) of one direction
 * across threads and forked processes; they are never held while sleeping.
 */
#ifndef HSOCK_CHAN_H
#define HSOCK_CHAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HSOCK_MAGIC	0x34766b636f736868ULL	/* "hhsockv4" */
#define HSOCK_HDR	4096u
#define HSOCK_NAME_MAX	128

#define CHAN_V_RING	1	/* ring bytes in the object (HSOCK_RESERVE, big rings) */
#define CHAN_V_RECORDS	2	/* ring pages are records (default) */
#define CHAN_V_KMOD	3	/* ring pages are /dev/hsock records (kmod.c) */
#define HSOCK_PAGE	4096u
#define HSOCK_LOCAL	2u	/* local record pages per direction */
#define HSOCK_SLOTS_MAX	256u	/* records mode: ring <= 1 MiB */
#define SLOT_NIL	0u
#define SLOT_LOCAL	(1u << 31)	/* | local page index; else record + 1 */
#define HSOCK_MBOX_A	32u	/* mailbox bytes in the producer line */
#define HSOCK_MBOX	(HSOCK_MBOX_A + 64u)	/* and in the line after it */

enum {
	ST_SWITCHED = 1u << 0,
	ST_RD_BUSY  = 1u << 1,
	ST_REFUSED  = 1u << 2,
	ST_WR_BUSY  = 1u << 3,	/* W is copying into the ring */
	ST_TRIM     = 1u << 4,	/* R is returning idle ring pages */
};

#define CL __attribute__((aligned(64)))

struct hsock_dir {
	/* switch line */
	_Atomic uint32_t state CL;
	_Atomic uint32_t wr_shut;	/* W shut down its write side */
	_Atomic uint64_t tcp_n;		/* N: valid once SWITCHED */
	_Atomic uint64_t tcp_sent;	/* W: TCP data bytes before the switch */
	_Atomic uint32_t wr_lock;
	_Atomic uint32_t wr_mbseq;	/* W's copy of mb_seq (WRITE-ONLY LINES) */
	_Atomic uint64_t wr_head;	/* W's copy of head (WRITE-ONLY LINES) */
	/* producer line */
	_Atomic uint64_t head CL;
	_Atomic uint64_t bell;		/* (bells << 1) | WANT */
	/* MAILBOX: a copy of the last small write, in the line R polls */
	_Atomic uint32_t mb_seq;	/* odd while W rewrites the mailbox */
	_Atomic uint32_t mb_len;
	_Atomic uint64_t mb_pos;	/* stream position of mb_data[0] */
	unsigned char mb_data[HSOCK_MBOX_A];
	/* mailbox line 2: bytes HSOCK_MBOX_A.. of a write, R prefetches it */
	unsigned char mb_more[HSOCK_MBOX - HSOCK_MBOX_A] CL;
	/* consumer line */
	_Atomic uint64_t tail CL;
	_Atomic uint64_t tcp_rcvd;	/* R: TCP data bytes consumed */
	_Atomic uint64_t drained;	/* R: bells discarded */
	_Atomic uint32_t rd_lock;
	/*
	 * writer sleep line: written only when W sleeps or R wakes or closes,
	 * so W's per-write checks never pull R's consumer line
	 */
	_Atomic uint32_t wr_want CL;
	_Atomic uint32_t wake_seq;
	_Atomic uint32_t rd_shut;	/* R closed: W's writes go to the kernel */
	_Atomic uint32_t wr_out;	/* W wants a space bell (SPACE BELLS) */
};

struct hsock_chan {
	uint64_t magic;
	uint32_t version;
	uint32_t ring_size;
	_Atomic uint64_t cookie[2];	/* socket inode of each attached side */
	_Atomic uint32_t holders[2];	/* processes holding each side */
	_Atomic int32_t pid[2];		/* attaching process (stale sweep) */
	struct hsock_dir dir[2];
	/* records mode (version CHAN_V_RECORDS) only, see RECORDS above */
	_Atomic uint32_t local_used[2] CL;	/* bitmap of local pages, per dir */
	_Atomic uint32_t slot[2][HSOCK_SLOTS_MAX] CL;	/* W's (RECORDS) */
	/* CHAN_V_KMOD: the module conn, joined by the other side with token */
	_Atomic uint64_t ktoken;
	uint32_t kcreator;		/* channel side that created it */
};

_Static_assert(sizeof(struct hsock_chan) <= HSOCK_HDR, "header fits a page");

static inline unsigned char *chan_ring(struct hsock_chan *ch, int d)
{
	return (unsigned char *)ch + HSOCK_HDR + (size_t)d * ch->ring_size;
}

static inline size_t chan_size(uint32_t ring)
{
	return HSOCK_HDR + 2 * (size_t)ring;
}

/* Records mode: header and the local pages of both directions. */
static inline size_t chan_size_rec(void)
{
	return HSOCK_HDR + 2 * (size_t)HSOCK_LOCAL * HSOCK_PAGE;
}

static inline unsigned char *chan_local(struct hsock_chan *ch, int d, uint32_t k)
{
	return (unsigned char *)ch + HSOCK_HDR +
	       ((size_t)d * HSOCK_LOCAL + k) * HSOCK_PAGE;
}

/* Spin lock in shared memory; never held across a sleep. */
void chan_lock(_Atomic uint32_t *l);
void chan_unlock(_Atomic uint32_t *l);

/*
 * Compose the registry name of a connection from the client and server
 * endpoints (sockaddr_in/in6).  Returns 0 or -EAFNOSUPPORT.
 */
struct sockaddr;
int chan_name(char *out, size_t len, const struct sockaddr *client,
	      const struct sockaddr *server);

/* Unlink stale channel objects of this uid in @dir; returns how many. */
int hsock_sweep(const char *dir);

#endif
