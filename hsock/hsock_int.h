/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internals shared by the files of libhsock.so (never installed).  The
 * library has one process-wide context, `hs`, because an LD_PRELOAD
 * library is per process by nature; everything per connection lives in
 * struct hs_conn, reached from the per-fd table.
 */
#ifndef HSOCK_INT_H
#define HSOCK_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "hsock/chan.h"

struct ial;
struct hsock_allow;
struct hs_pool;

/* The libc functions we interpose, resolved with dlsym(RTLD_NEXT). */
struct hs_real {
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*close)(int);
	int (*close_range)(unsigned int, unsigned int, int);
	int (*shutdown)(int, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
	ssize_t (*splice)(int, loff_t *, int, loff_t *, size_t, unsigned int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	pid_t (*fork)(void);
};

/* Per-process counters, merged into the --stats file at exit. */
enum hs_stat {
	S_SEEN, S_ATTACHED, S_ACCEL, S_FB_NOT_ALLOWED, S_FB_PEER_ABSENT,
	S_FB_NO_GSHM, S_FB_ERROR, S_FB_UNSEEN, S_GSHM_TX, S_GSHM_RX, S_TCP_TX, S_TCP_RX,
	S_BELLS, S_DRAINED, S_SPIN_HITS, S_RX_SLEEPS, S_TX_SLEEPS, S_WAKEUPS,
	S_PROBES, S_TRIMS, S_REC_LOCAL, S_REC_TAKEN, S_REC_COMMITS,
	S_REC_RELEASED, S_REC_WAITS, S_KMOD_CONNS, S_KMOD_WAITS, S_KMOD_WOKEN,
	S_REC_REUSED, S__COUNT
};

struct hs_conn {
	_Atomic int refs;		/* fds of this process pointing here */
	int side;			/* 0 client, 1 server */
	bool pending;			/* non-blocking connect not yet attached */
	bool plain;			/* plain TCP for good (fallback) */
	bool nonblock;
	bool async;			/* O_ASYNC: SIGIO wakes the owner (hs_rx_async) */
	bool unseen;			/* I/O hsock cannot see: refused (hs_unseen) */
	/* times this process left the rx ring unarmed (poll.c, hot items) */
	_Atomic uint32_t unarmed;
	bool rd_eof;			/* TCP EOF seen after the switch */
	/*
	 * Our rx direction is SWITCHED and its TCP part consumed: both are
	 * final, so the reader stops loading the writer's switch line (a
	 * cache miss per message).  Set under rd_lock, read by poll paths.
	 */
	_Atomic bool rx_ring_only;
	bool rd_shut;			/* local shutdown(SHUT_RD) */
	bool counted_accel;
	bool rec;			/* records mode (chan.h, RECORDS) */
	bool kmod;			/* records are /dev/hsock's (kmod.c) */
	int kside;			/* module conn side: 0 creator, 1 joiner */
	uint32_t khandle;
	struct hsock_conn_page *kcp;
	const struct hsock_conn_view *kview;	/* module's, read-only */
	int err;			/* sticky errno of a broken connection */
	uint32_t ring;			/* ring size, from our own attach */
	uint32_t spin_ns;		/* adaptive busy-poll budget */
	uint8_t solo_misses;		/* solo spins answered only after a yield */
	uint8_t solo_retry;		/* spins yielding early (io.c, spin_loop) */
	uint32_t rx_last;		/* bytes the last read took (spin_loop) */
	bool probe_owed;		/* a read skipped its EOF probe (rx_peek_probe) */
	uint64_t probe_ns;		/* when a non-blocking read last probed */
	uint64_t trim_mark;		/* rx tail at the last idle trim */
	_Atomic uint64_t tx_tail;	/* tx tail last loaded (io.c, tx_space) */
	uint64_t tx_probe_ns;		/* last liveness probe of a full ring */
	_Atomic uint64_t tx_norec;	/* 1 + rx tail page when no record (io.c, tx_room) */
	uint64_t ino;
	struct hsock_chan *ch;
	size_t map_len;
	struct hs_conn *next, *prev;	/* hs.conns, for fork */
	char name[HSOCK_NAME_MAX];
};

struct hs_global {
	struct hs_real real;
	bool ready, enabled;
	struct ial *ial;
	struct hsock_allow *allow;	/* NULL: any link */
	uint32_t ring;
	uint32_t reserve;		/* HSOCK_RESERVE: ring populated at attach */
	bool records;			/* HSOCK_RECORDS: new channels use records */
	uint32_t pool_nr, rec_limit;	/* HSOCK_POOL / HSOCK_REC_LIMIT */
	struct hs_pool *pool;		/* opened at the first records channel */
	_Atomic uint32_t pool_lock;
	uint32_t spin_max_ns;
	_Atomic int spinners;		/* threads busy-polling now */
	_Atomic bool nested_wait;	/* an epoll fd waited on by another waiter */
	_Atomic bool unarmed;		/* a conn's unarmed count moved (poll.c) */
	int max_spinners;
	_Atomic(struct hs_conn *) *tab;
	int tab_len;
	struct hs_conn *conns;
	_Atomic uint32_t conns_lock;
	_Atomic uint64_t stat[S__COUNT];
	char stats_path[256];
};

extern struct hs_global hs;

/*
 * Counters are added on the data path, twice per message: a shared atomic
 * add is a locked instruction (about 8 ns here, a fifth of a small write
 * and read).  So each thread adds to a block of its own with a plain load
 * and store; hs_stats_dump() sums the blocks.  Blocks are never freed (a
 * thread's counts outlive it); threads beyond HS_STAT_BLOCKS share
 * hs.stat with atomic adds.  A signal handler that does socket I/O while
 * its thread is inside an add may lose that one add: counters, not
 * accounting.
 */
#define HS_STAT_BLOCKS 256

struct hs_stat_block {
	_Atomic uint64_t v[S__COUNT];
};

extern __thread struct hs_stat_block *hs_stat_tls
	__attribute__((tls_model("initial-exec")));
struct hs_stat_block *hs_stat_claim(void);

static inline void hs_stat_add(enum hs_stat s, uint64_t v)
{
	struct hs_stat_block *b = hs_stat_tls;

	if (__builtin_expect(!b, 0))
		b = hs_stat_claim();
	if (b)
		atomic_store_explicit(&b->v[s], atomic_load_explicit(&b->v[s],
				      memory_order_relaxed) + v, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&hs.stat[s], v, memory_order_relaxed);
}

#define HS_STAT(s, v) hs_stat_add((s), (v))
/* Sum of counter @s over every thread (stats.c). */
uint64_t hs_stat_sum(enum hs_stat s);
/* In a forked child: start counting from zero (stats.c). */
void hs_stat_reset(void);

void hs_init(void);

/* conn.c: table and rendezvous */
static inline struct hs_conn *hs_get(int fd)
{
	if (fd < 0 || fd >= hs.tab_len || !hs.tab)
		return NULL;
	return atomic_load_explicit(&hs.tab[fd], memory_order_acquire);
}
void hs_track(int fd, int side, bool pending);
int hs_attach(struct hs_conn *c, int fd);
void hs_put(int fd);
void hs_release_all(void);
void hs_ep_forget(int fd);
void hs_dup(int oldfd, int newfd);
void hs_refuse(struct hs_conn *c);
void hs_fork_hold(int delta);
void hs_reattach_inherited(void);

/* io.c: the data path */
ssize_t hs_rx(struct hs_conn *c, int fd, const struct iovec *iov, int n, int flags);
ssize_t hs_tx(struct hs_conn *c, int fd, const struct iovec *iov, int n, int flags);
ssize_t hs_sendfile(struct hs_conn *c, int out, int in, off_t *off, size_t count);
ssize_t hs_rx_pipe(struct hs_conn *c, int fd, int pipe, size_t len);
ssize_t hs_tx_pipe(struct hs_conn *c, int fd, int pipe, size_t len);
int hs_fionread(struct hs_conn *c, int fd, int *val);
void hs_shutdown_wr(struct hs_conn *c);
void hs_release_io(struct hs_conn *c, int fd);
void hs_release_records(struct hsock_chan *ch);

/* records.c: records mode (chan.h, RECORDS) */
unsigned char *hs_rec_page(struct hs_conn *c, int d, uint64_t pos);
int hs_rec_copy(struct hs_conn *c, int d, uint64_t pos, const struct iovec *iov,
		int n, size_t off, size_t len, bool to_iov,
		void (*copy)(const struct iovec *, int, size_t, void *, size_t, bool));
size_t hs_rec_fill(struct hs_conn *c, int d, uint64_t head, size_t k);
int hs_rec_consumed(struct hs_conn *c, int d, uint64_t from, uint64_t to);
bool hs_rec_trim(struct hs_conn *c, int d, uint64_t tail);
bool hs_rec_held(struct hs_conn *c, int d, uint64_t tail);

/* kmod.c: the kernel path of the commit step */
bool hs_kmod_ready(void);
int hs_kmod_create(struct hs_conn *c, uint64_t *token, int fd);
int hs_kmod_join(struct hs_conn *c, uint64_t token, int fd);
void hs_kmod_close(struct hs_conn *c);
unsigned char *hs_kmod_page(struct hs_conn *c, int d, uint64_t page);
size_t hs_kmod_fill(struct hs_conn *c, int d, uint64_t head, size_t k);
int hs_kmod_consumed(struct hs_conn *c, int d, uint64_t to);
int hs_kmod_wait_tx(struct hs_conn *c, int timeout_ms);
struct hs_pool *hs_pool_get(void);

bool hs_rx_ready(struct hs_conn *c);
void hs_rx_settle(struct hs_conn *c, int fd);
enum { HS_TX_FULL, HS_TX_ROOM, HS_TX_NOREC };	/* hs_tx_writable() */
int hs_tx_writable(struct hs_conn *c, bool arm);
int hs_tx_liveness(struct hs_conn *c, int fd);
void hs_rx_quiet(struct hs_conn *c);
bool hs_rx_rearm(struct hs_conn *c, int fd);
void hs_rx_idle(struct hs_conn *c);
void hs_rx_async(struct hs_conn *c);
bool hs_rx_owed(struct hs_conn *c, int fd, uint64_t now);
int hs_tcp_written(int fd, bool syn, uint64_t *n);
bool hs_unseen(struct hs_conn *c);
void hs_arm_all(void);
#define HS_IDLE_MS 100		/* idle time before a ring's pages go back */
bool hs_spin_enter(void);
void hs_spin_exit(void);
uint64_t hs_now_ns(void);
void *dlsym_next(const char *name);

/* stats.c */
void hs_stats_dump(void);

#endif
