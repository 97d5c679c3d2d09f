/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * hsock.ko user API: /dev/hsock.  The only header shared between the kernel
 * module (kernel/) and the preload library (hsock/).
 *
 * Versioning.  HSOCK_IOC_INFO returns abi_version and a feature bit set.
 * abi_version changes only on incompatible changes (layouts below, ioctl
 * numbers, semantics); a library must refuse a module whose abi_version
 * differs from HSOCK_ABI_VERSION and use its user-space path instead.
 * Compatible additions only add feature bits or grow a struct at its end
 * (every struct the kernel returns carries its size).
 *
 * Objects.
 *   record  one page of GShm owned by the module (record_size bytes), named
 *           by its index 0..nr_records-1.  Its contents are the library's.
 *   arena   per-process, per-CPU stash of records the kernel has handed out
 *           (HSOCK_IOC_REFILL) and the process may take without a syscall:
 *           taking a record is speculative; it is checked at commit.
 *   conn    a connection with two sides (0 = creator, 1 = joiner) and one
 *           ring per direction; ring[s] carries records from side s to side
 *           1-s.  A handle names one side: handle = id << 1 | side.
 *           The token returned by CONN_CREATE is the capability to join
 *           side 1 (once); one file may hold both sides.  With the socket
 *           a side was bound to, it can be taken again (see below).
 *
 * Memory map of /dev/hsock (MAP_SHARED only; each region mapped separately):
 *   HSOCK_MMAP_ARENA        1 page: struct hsock_arena_page of this open file
 *   HSOCK_MMAP_CONN(handle) 1 page: struct hsock_conn_page (same page for
 *                           both handles of a conn; each side maps its own
 *                           handle's offset)
 *   HSOCK_MMAP_VIEW(handle) 1 page, read-only (FEAT_CONN_VIEW): struct
 *                           hsock_conn_view, the module's record of what
 *                           it committed into each ring slot
 *   HSOCK_MMAP_RECORDS      nr_records * record_size: record i at
 *                           i * record_size.  Nothing is mapped up front.
 *
 * Isolation model (what the module enforces).  A record is accessible to a
 * process only while it is committed to a conn that process holds:
 *   - producer commit: the process takes record r from its arena, stores r in
 *     a free slot of its send ring (positions released..released+SLOTS-1) and
 *     touches the record's page (or calls HSOCK_IOC_COMMIT).  The fault
 *     handler checks that r was handed to this process and is linked in a
 *     ring it produces into, charges it (per-process limit, rec_limit) and
 *     maps it.  Over the limit the faulting thread gets SIGBUS
 *     (HSOCK_IOC_COMMIT returns -EDQUOT instead).
 *   - consumer mapping: a record committed to conn C is mapped on first touch
 *     by any process holding a side of C.
 *   - anything else (a record of a conn not held, a free record, a record of
 *     another process's arena) raises SIGSEGV.
 *   - release: the consumer advances ring.head and calls HSOCK_IOC_RELEASE;
 *     the module unmaps the records from every process, uncharges the
 *     producer and returns them to the producer's arena (or the free pool),
 *     then advances ring.released and clears the slots.
 *   - checking before access (FEAT_CONN_VIEW): the slots are written by the
 *     producer, so a lying producer can name a record it never committed,
 *     and touching it would be SIGSEGV.  view.rec[s][i] is the record the
 *     module committed from slot i of ring[s] (HSOCK_NIL once released);
 *     the peer cannot write it.  A reader (or writer) that accesses the
 *     record of slot i only when slot[i].rec == view.rec[s][i] never
 *     faults on a peer's lie, and can reset the connection instead.
 *   - close of the file (or exit, kill): every side it holds is left, its
 *     arena stash returns to the pool, its charges are dropped; a conn whose
 *     two sides are gone returns all its records.  The peer sees
 *     HSOCK_CONN_GONE in conn_page.flags[side] and HSOCK_EV_HUP.
 *   - sides follow their socket (FEAT_REJOIN): a side bound to a socket
 *     with HSOCK_IOC_CONN_BIND can be taken again, by any file, with the
 *     token and an fd of that same socket (HSOCK_IOC_CONN_REJOIN): a
 *     process that exec'd, or a forked child with its own open, continues
 *     the connection.  A side may be held by several files at once (one
 *     each); HSOCK_IOC_CONN_CLOSE leaves it for all of them.  When the last
 *     file holding a bound side is closed without CONN_CLOSE (exec closes
 *     it: O_CLOEXEC) while the socket is still open, the side is DETACHED,
 *     not gone: linked records that were never committed are unlinked
 *     (ring.tail moves back to the first one), and the side waits for a
 *     rejoin.  It is gone (HUP to the peer) once the socket is closed or
 *     HSOCK_DETACH_MS passed without a rejoin.
 *
 * Notify (U-NAPI help).  A side arms interest (HSOCK_EV_READ: data in its
 * receive ring or the peer shut down writing; HSOCK_EV_WRITE: a free slot
 * in its send ring and a record the waiting thread's process may commit -
 * under its limit, with one in its stash or in the pool) with
 * HSOCK_IOC_NOTIFY_ENABLE:
 *   - HSOCK_NOTIFY_SYNC blocks the calling thread until the condition holds,
 *     the peer notifies, the timeout expires (-ETIMEDOUT) or a signal arrives
 *     (-EINTR); returns the ready events (>= 0; 0 if woken by
 *     HSOCK_IOC_NOTIFY_DISABLE).
 *   - HSOCK_NOTIFY_ASYNC returns at once; when the condition holds (now or
 *     later) the module sends signo to the registering thread, once
 *     (si_code POLL_IN/POLL_OUT/POLL_HUP, si_fd = handle, si_band = events).
 *   - HSOCK_NOTIFY_TRAP (with either): instead of relying on the peer to call
 *     HSOCK_IOC_NOTIFY, the module revokes the peer's mapping of the conn
 *     page; the peer's next access to it faults, and the fault path wakes
 *     this side.
 * While armed, conn_page.armed[side] holds the armed events, so a peer that
 * publishes data (ring.tail) or changes its state word then reads armed[] of
 * the other side (after a full barrier) and calls HSOCK_IOC_NOTIFY only if
 * the bit is set.  Only waiters armed on that side for those events wake.
 * HSOCK_IOC_RELEASE is itself a notification: it wakes the producer's
 * WRITE waiters when it frees records, and, for each record, the WRITE
 * waiters of one side (round robin) of the producer's process, which may
 * be blocked by the per-process limit on another conn.
 */
#ifndef _UAPI_LINUX_HSOCK_H
#define _UAPI_LINUX_HSOCK_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define HSOCK_DEVICE		"/dev/hsock"
#define HSOCK_ABI_VERSION	1

/* Feature bits of hsock_info.features. */
#define HSOCK_FEAT_COMMIT_FAULT	(1U << 0)	/* commit on fault */
#define HSOCK_FEAT_NOTIFY_SYNC	(1U << 1)
#define HSOCK_FEAT_NOTIFY_ASYNC	(1U << 2)
#define HSOCK_FEAT_NOTIFY_TRAP	(1U << 3)
#define HSOCK_FEAT_STATS	(1U << 4)
#define HSOCK_FEAT_CONN_VIEW	(1U << 5)	/* HSOCK_MMAP_VIEW */
#define HSOCK_FEAT_REJOIN	(1U << 6)	/* CONN_BIND, CONN_REJOIN */

#define HSOCK_NIL		0xffffffffU	/* "no record" in a slot */
#define HSOCK_RING_SLOTS	64		/* power of two */
#define HSOCK_ARENA_SLOTS	32		/* power of two */
#define HSOCK_MAX_ARENAS	15

/* mmap offsets (bytes). */
#define HSOCK_MMAP_ARENA	0ULL
#define HSOCK_MMAP_CONN_BASE	(1ULL << 32)
#define HSOCK_MMAP_CONN(h)	(HSOCK_MMAP_CONN_BASE + ((__u64)(h) << 12))
#define HSOCK_MMAP_VIEW_BASE	(1ULL << 39)
#define HSOCK_MMAP_VIEW(h)	(HSOCK_MMAP_VIEW_BASE + ((__u64)(h) << 12))
#define HSOCK_MMAP_RECORDS	(1ULL << 40)

#define HSOCK_DETACH_MS		10000	/* a detached side waits this long */

#define HSOCK_HANDLE(id, side)	((id) << 1 | (side))
#define HSOCK_HANDLE_ID(h)	((h) >> 1)
#define HSOCK_HANDLE_SIDE(h)	((h) & 1)

/*
 * One arena: a ring the kernel fills (prod) and the process empties (cons).
 * Take a record: c = cons; if c == load_acquire(prod): empty; r = slot[c %
 * SLOTS]; compare_and_swap(&cons, c, c + 1) (retry on failure).  The kernel
 * only writes slot[prod % SLOTS] while prod - cons < SLOTS.
 */
struct hsock_arena {
	__u32 prod;		/* kernel writes */
	__u32 pad0[15];
	__u32 cons;		/* process writes */
	__u32 pad1[15];
	__u32 slot[HSOCK_ARENA_SLOTS];
};

struct hsock_arena_page {
	__u32 nr_arenas;	/* arena of CPU c: arena[c % nr_arenas] */
	__u32 pad[15];
	struct hsock_arena arena[HSOCK_MAX_ARENAS];
};

struct hsock_slot {
	__u32 rec;		/* record index or HSOCK_NIL */
	__u32 len;		/* bytes used; the module ignores it */
};

/*
 * Ring of one direction.  Positions are free-running __u32 counters; slot of
 * position p is slot[p % HSOCK_RING_SLOTS].  Invariant (checked by the
 * module): released <= head <= tail <= released + SLOTS.
 */
struct hsock_ring {
	__u32 tail;		/* producer: next position to publish */
	__u32 pad0[15];
	__u32 head;		/* consumer: next position to read */
	__u32 pad1[15];
	__u32 released;		/* module: positions below are free again */
	__u32 pad2[15];
	struct hsock_slot slot[HSOCK_RING_SLOTS];
};

/* conn_page.state[side]: written by that side, read by the peer. */
#define HSOCK_ST_SHUT_WR	(1U << 0)	/* no more data from this side */
#define HSOCK_ST_SHUT_RD	(1U << 1)	/* this side reads no more */

/* conn_page.flags[side]: written by the module. */
#define HSOCK_CONN_JOINED	(1U << 0)	/* the side has been taken */
#define HSOCK_CONN_GONE		(1U << 1)	/* the side left (close/exit) */
#define HSOCK_CONN_DETACHED	(1U << 2)	/* no file holds it; may rejoin */

struct hsock_conn_page {
	struct hsock_ring ring[2];	/* ring[s]: side s -> side 1-s */
	__u32 state[2];
	__u32 flags[2];
	__u32 armed[2];		/* events armed by side s (module writes) */
	__u32 id;
};

/*
 * The read-only view page of a conn: rec[s][i] is the record the module
 * committed from slot i of ring[s], HSOCK_NIL when none (written by the
 * module at commit and release only).
 */
struct hsock_conn_view {
	__u32 rec[2][HSOCK_RING_SLOTS];
};

/* HSOCK_IOC_INFO */
struct hsock_info {
	__u32 size;		/* sizeof(struct hsock_info) of the module */
	__u32 abi_version;
	__u32 features;
	__u32 record_size;
	__u32 nr_records;
	__u32 rec_limit;	/* committed records per process (all its
				 * opens); also caps each file's stash */
	__u32 nr_arenas;
	__u32 ring_slots;
	__u32 arena_slots;
	__u32 pad;
	__u64 mmap_arena;
	__u64 mmap_conn_base;
	__u64 mmap_records;
};

/* HSOCK_IOC_CONN_CREATE (out), HSOCK_IOC_CONN_JOIN (token in, handle out) */
struct hsock_conn_req {
	__u64 token;		/* secret naming the conn; give it to the peer */
	__u32 handle;
	__u32 pad;
};

/*
 * HSOCK_IOC_CONN_BIND (handle, sockfd in): bind a side this file holds to
 * the socket of sockfd (once; -EBUSY if bound to another socket).
 * HSOCK_IOC_CONN_REJOIN (token, sockfd in; handle out): take the side of
 * the conn that is bound to sockfd's socket, held or detached (-EPERM if
 * neither side is bound to it, -ENOENT if the conn or side is gone).
 */
struct hsock_conn_bind {
	__u64 token;
	__u32 handle;
	__s32 sockfd;
};

/* HSOCK_IOC_REFILL: top arena up to count records (in), filled (out). */
struct hsock_refill {
	__u32 arena;
	__u32 count;
};

/* Events. */
#define HSOCK_EV_READ		(1U << 0)
#define HSOCK_EV_WRITE		(1U << 1)
#define HSOCK_EV_HUP		(1U << 2)	/* peer gone (always reported) */

#define HSOCK_NOTIFY_SYNC	0
#define HSOCK_NOTIFY_ASYNC	1
#define HSOCK_NOTIFY_TRAP	(1U << 8)	/* or'ed into mode */

/* HSOCK_IOC_NOTIFY_ENABLE / _DISABLE / HSOCK_IOC_NOTIFY */
struct hsock_notify {
	__u32 handle;
	__u32 mode;		/* SYNC or ASYNC, | TRAP */
	__u32 events;		/* HSOCK_EV_READ | HSOCK_EV_WRITE */
	__s32 signo;		/* ASYNC: signal sent to the arming thread */
	__s64 timeout_ns;	/* SYNC: <= 0 waits without limit */
};

/*
 * HSOCK_IOC_STATS: module-wide counters, then the caller's: my_stashed in
 * this open file's arenas, my_committed by this process (all its opens:
 * what rec_limit applies to).
 */
struct hsock_stats {
	__u32 size;
	__u32 nr_records;
	__u32 nr_free;		/* in the pool */
	__u32 nr_stashed;	/* in some process's arena */
	__u32 nr_committed;	/* in a conn */
	__u32 nr_files;
	__u32 nr_conns;
	__u32 nr_waiters;	/* sync sleepers + async registrations */
	__u32 my_stashed;
	__u32 my_committed;
	__u64 commits;		/* total commits (fault or ioctl) */
	__u64 faults;		/* total record faults served */
	__u64 notifies;		/* total waiters woken */
};

#define HSOCK_IOC_MAGIC		0xE5
#define HSOCK_IOC_INFO		_IOR(HSOCK_IOC_MAGIC, 0x00, struct hsock_info)
#define HSOCK_IOC_STATS		_IOR(HSOCK_IOC_MAGIC, 0x01, struct hsock_stats)
#define HSOCK_IOC_CONN_CREATE	_IOR(HSOCK_IOC_MAGIC, 0x10, struct hsock_conn_req)
#define HSOCK_IOC_CONN_JOIN	_IOWR(HSOCK_IOC_MAGIC, 0x11, struct hsock_conn_req)
#define HSOCK_IOC_CONN_CLOSE	_IO(HSOCK_IOC_MAGIC, 0x12)	/* arg: handle */
#define HSOCK_IOC_CONN_BIND	_IOW(HSOCK_IOC_MAGIC, 0x13, struct hsock_conn_bind)
#define HSOCK_IOC_CONN_REJOIN	_IOWR(HSOCK_IOC_MAGIC, 0x14, struct hsock_conn_bind)
#define HSOCK_IOC_REFILL	_IOWR(HSOCK_IOC_MAGIC, 0x20, struct hsock_refill)
#define HSOCK_IOC_COMMIT	_IO(HSOCK_IOC_MAGIC, 0x21)	/* arg: handle; returns nr */
#define HSOCK_IOC_RELEASE	_IO(HSOCK_IOC_MAGIC, 0x22)	/* arg: handle (consumer); returns nr */
#define HSOCK_IOC_NOTIFY_ENABLE	_IOW(HSOCK_IOC_MAGIC, 0x30, struct hsock_notify)
#define HSOCK_IOC_NOTIFY_DISABLE _IOW(HSOCK_IOC_MAGIC, 0x31, struct hsock_notify)
#define HSOCK_IOC_NOTIFY	_IOW(HSOCK_IOC_MAGIC, 0x32, struct hsock_notify)	/* returns nr woken */

#endif /* _UAPI_LINUX_HSOCK_H */
