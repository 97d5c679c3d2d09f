// SPDX-License-Identifier: GPL-2.0
/*
 * The data path: ring copy, switch-over, doorbells, U-NAPI waiting.  The
 * protocol and its memory-ordering argument are in chan.h; comments here
 * only point at which step of it a line implements.
 */
#include "hsock/hsock_int.h"
#include "hsock/ial.h"
#include "hsock/commit.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define WANT 1ull
#define IOV_MAX_TCP 64

/*
 * What an empty ring makes a read step do (rx_empty): NOARM, return (a
 * blocking read that busy-polls next); ARM, arm it (it sleeps next);
 * PROBE, arm it and look for EOF/RST in the kernel (a blocking read woken
 * up); PEEK, a non-blocking read: look for EOF/RST, arm only for a wait
 * hsock does not see.
 */
enum rx_mode { RX_NOARM, RX_ARM, RX_PROBE, RX_PEEK };

static inline struct hsock_dir *rxd(struct hs_conn *c)
{
	return &c->ch->dir[1 - c->side];
}

static inline struct hsock_dir *txd(struct hs_conn *c)
{
	return &c->ch->dir[c->side];
}

static inline void cpu_relax(void)
{
	__builtin_ia32_pause();
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;
	int i;

	for (i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* Copy between a byte range [off, off+len) of an iovec and @mem. */
static void iov_copy(const struct iovec *iov, int n, size_t off, void *mem,
		     size_t len, bool to_iov)
{
	unsigned char *m = mem;
	int i;

	for (i = 0; i < n && len; i++) {
		size_t l = iov[i].iov_len, k;

		if (off >= l) {
			off -= l;
			continue;
		}
		k = l - off < len ? l - off : len;
		if (to_iov)
			memcpy((char *)iov[i].iov_base + off, m, k);
		else
			memcpy(m, (char *)iov[i].iov_base + off, k);
		m += k;
		len -= k;
		off = 0;
	}
}

/*
 * Ring <-> iovec copy, with wrap-around; positions are masked (chan.h).
 * Records mode: page by page through the slot table; -ECONNRESET when a
 * slot names nothing valid.
 */
static int ring_copy(struct hs_conn *c, int d, uint64_t pos,
		     const struct iovec *iov, int n, size_t off, size_t len,
		     bool to_iov)
{
	unsigned char *base;
	size_t p, first;

	if (c->rec)
		return hs_rec_copy(c, d, pos, iov, n, off, len, to_iov, iov_copy);
	base = chan_ring(c->ch, d);
	p = pos & (c->ring - 1);
	first = c->ring - p;
	if (first > len)
		first = len;
	iov_copy(iov, n, off, base + p, first, to_iov);
	if (len > first)
		iov_copy(iov, n, off + first, base, len - first, to_iov);
	return 0;
}

/*
 * splice between a pipe and the ring (one copy, the kernel's): the ring
 * memory of a range as an iovec.  A range of at most PIPE_MAX bytes is at
 * most PIPE_SEGS pieces (a piece per page with records, two without).
 */
#define PIPE_SEGS 64
#define PIPE_MAX ((PIPE_SEGS - 1) * HSOCK_PAGE)

/* hs_rec_copy's copy step, noting where the bytes are instead (ring_iov). */
static void iov_note(const struct iovec *v, int n, size_t off, void *mem,
		     size_t len, bool to_iov)
{
	struct iovec *seg = (struct iovec *)v;
	int i;

	(void)off;
	(void)to_iov;
	for (i = 0; i < n && seg[i].iov_len; i++)
		;
	if (i < n)
		seg[i] = (struct iovec){ mem, len };
}

/*
 * [pos, pos + len) of direction @d's ring (len <= PIPE_MAX) as pieces of
 * ring memory in @seg[PIPE_SEGS]; how many, or -ECONNRESET when a slot
 * names nothing valid.
 */
static int ring_iov(struct hs_conn *c, int d, uint64_t pos, size_t len,
		    struct iovec *seg)
{
	size_t p = pos & (c->ring - 1), first = c->ring - p;
	int n = 0;

	memset(seg, 0, PIPE_SEGS * sizeof(*seg));
	if (c->rec) {
		if (hs_rec_copy(c, d, pos, seg, PIPE_SEGS, 0, len, false, iov_note))
			return -ECONNRESET;
		while (n < PIPE_SEGS && seg[n].iov_len)
			n++;
		return n;
	}
	seg[n++] = (struct iovec){ chan_ring(c->ch, d) + p, first < len ? first : len };
	if (len > first)
		seg[n++] = (struct iovec){ chan_ring(c->ch, d), len - first };
	return n;
}

/* Sub-iovec [off, off+lim) for a kernel call; may be shorter (short I/O). */
static int iov_sub(const struct iovec *iov, int n, size_t off, size_t lim,
		   struct iovec *out)
{
	int i, k = 0;

	for (i = 0; i < n && lim && k < IOV_MAX_TCP; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		out[k].iov_base = (char *)iov[i].iov_base + off;
		out[k].iov_len = l - off < lim ? l - off : lim;
		lim -= out[k].iov_len;
		off = 0;
		k++;
	}
	return k;
}

static ssize_t tcp_recv(int fd, const struct iovec *iov, int n, size_t off,
			size_t lim, int flags)
{
	struct iovec sub[IOV_MAX_TCP];
	struct msghdr m = { 0 };
	ssize_t r;

	m.msg_iov = sub;
	m.msg_iovlen = iov_sub(iov, n, off, lim, sub);
	r = hs.real.recvmsg(fd, &m, flags | MSG_DONTWAIT);
	return r < 0 ? -errno : r;
}

/* ---- reader ---- */

static bool try_switch(struct hs_conn *c, int fd);

/*
 * A non-blocking writer found our ring full (chan.h, SPACE BELLS): ring a
 * counted bell on the other direction - we are its writer - so that the
 * writer's socket becomes readable and its epoll set (EPOLLOUT|EPOLLET
 * items also wait for EPOLLIN in the kernel, poll.c) reports it again.
 */
static void space_bell(struct hs_conn *c, int fd)
{
	struct hsock_dir *t = txd(c);

	chan_lock(&t->wr_lock);
	if ((atomic_load(&t->state) & ST_SWITCHED) ||
	    (!(atomic_load(&t->state) & ST_REFUSED) && try_switch(c, fd))) {
		atomic_fetch_add(&t->bell, 2);
		if (hs.real.send(fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
			HS_STAT(S_BELLS, 1);
		else
			atomic_fetch_sub(&t->bell, 2);
	}
	chan_unlock(&t->wr_lock);
}

static void wake_writer(struct hs_conn *c, int fd, struct hsock_dir *d)
{
	if (atomic_load_explicit(&d->wr_out, memory_order_seq_cst) &&
	    atomic_exchange(&d->wr_out, 0))
		space_bell(c, fd);
	if (!atomic_load_explicit(&d->wr_want, memory_order_seq_cst))
		return;
	if (atomic_exchange(&d->wr_want, 0)) {
		atomic_fetch_add(&d->wake_seq, 1);
		ial_notify(hs.ial, &d->wake_seq);
		HS_STAT(S_WAKEUPS, 1);
	}
}

/* Discard bells numbered <= @b that have arrived (chan.h, DOORBELLS). */
static void drain(struct hs_conn *c, int fd, uint64_t b)
{
	struct hsock_dir *d = rxd(c);
	uint64_t dr = atomic_load_explicit(&d->drained, memory_order_relaxed);
	char scratch[256];
	ssize_t r;

	while (dr < b) {
		r = hs.real.recv(fd, scratch, b - dr < sizeof(scratch) ? b - dr : sizeof(scratch),
				 MSG_DONTWAIT);
		if (r > 0) {
			dr += r;
			HS_STAT(S_DRAINED, r);
			continue;
		}
		if (r == 0)
			c->rd_eof = true;
		else if (errno != EAGAIN && errno != EINTR)
			c->err = errno;
		break;
	}
	atomic_store_explicit(&d->drained, dr, memory_order_relaxed);
}

/*
 * WANT is off now and no bell will say so: we cleared it, or drained the
 * bell of the writer that did.  epoll waits look at such a ring until
 * they arm it again (poll.c, hot items).
 */
static void note_unarmed(struct hs_conn *c)
{
	atomic_fetch_add_explicit(&c->unarmed, 1, memory_order_relaxed);
	atomic_store_explicit(&hs.unarmed, true, memory_order_release);
}

/* Set WANT and re-check; true when the ring is confirmed empty (drained). */
static bool rx_arm(struct hs_conn *c, int fd)
{
	struct hsock_dir *d = rxd(c);
	uint64_t b = atomic_fetch_or(&d->bell, WANT) >> 1;

	if (atomic_load(&d->head) != atomic_load_explicit(&d->tail, memory_order_relaxed))
		return false;
	drain(c, fd, b);
	return true;
}

/*
 * Ring emptied without arming: discard the bells rung before a snapshot
 * that is followed by an empty ring (their bytes are consumed), so that
 * no stale bell stays readable - or turns our close into an RST.
 */
static void rx_settle(struct hs_conn *c, int fd)
{
	struct hsock_dir *d = rxd(c);
	uint64_t b = atomic_load(&d->bell) >> 1;

	if (b == atomic_load_explicit(&d->drained, memory_order_relaxed))
		return;
	if (atomic_load(&d->head) == atomic_load_explicit(&d->tail, memory_order_relaxed)) {
		drain(c, fd, b);
		note_unarmed(c);
	}
}

/* Doorbells off; @note: unless the caller is the epoll wait that looks at it. */
static void rx_disarm(struct hs_conn *c, bool note)
{
	struct hsock_dir *d = rxd(c);
	uint64_t b = atomic_load_explicit(&d->bell, memory_order_relaxed);

	while (b & WANT)
		if (atomic_compare_exchange_weak(&d->bell, &b, b & ~WANT)) {
			if (note)
				note_unarmed(c);
			return;
		}
}

/* Peek the kernel queue for EOF/RST when no bell explains readability. */
static void rx_probe(struct hs_conn *c, int fd)
{
	char x;
	ssize_t r = hs.real.recv(fd, &x, 1, MSG_PEEK | MSG_DONTWAIT);

	if (r == 0)
		c->rd_eof = true;
	else if (r < 0 && errno != EAGAIN && errno != EINTR)
		c->err = errno;
}

/* Mailbox bytes [@at, @at + @k) to @out: the producer line's, then mb_more. */
static void mbox_copy(unsigned char *out, const struct hsock_dir *d, size_t at, size_t k)
{
	size_t a = at < HSOCK_MBOX_A ? HSOCK_MBOX_A - at : 0;

	if (a > k)
		a = k;
	memcpy(out, d->mb_data + at, a);
	if (k > a)
		memcpy(out + a, d->mb_more + (at + a - HSOCK_MBOX_A), k - a);
}

/*
 * Copy [tail, tail + k) out of the mailbox (chan.h, MAILBOX); false when
 * the mailbox does not hold those bytes or W rewrote it meanwhile.
 */
static bool mbox_get(struct hsock_dir *d, uint64_t tail, size_t k,
		     const struct iovec *iov, int n, size_t off)
{
	unsigned char tmp[HSOCK_MBOX];
	uint32_t s = atomic_load_explicit(&d->mb_seq, memory_order_acquire);
	uint64_t pos = atomic_load_explicit(&d->mb_pos, memory_order_relaxed);
	uint32_t len = atomic_load_explicit(&d->mb_len, memory_order_relaxed);

	if ((s & 1) || tail < pos || len > HSOCK_MBOX || tail + k > pos + len)
		return false;
	mbox_copy(tmp, d, tail - pos, k);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&d->mb_seq, memory_order_relaxed) != s)
		return false;
	iov_copy(iov, n, off, tmp, k, true);
	return true;
}

/*
 * W: a small write's bytes also go to the mailbox, before head moves; the
 * sequence count comes from W's copy (chan.h, WRITE-ONLY LINES).
 */
static void mbox_put(struct hsock_dir *d, uint64_t head, const struct iovec *iov,
		     int n, size_t off, size_t k)
{
	uint32_t s = atomic_load_explicit(&d->wr_mbseq, memory_order_relaxed);

	atomic_store_explicit(&d->wr_mbseq, (s | 1) + 1, memory_order_relaxed);

	atomic_store_explicit(&d->mb_seq, s | 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&d->mb_pos, head, memory_order_relaxed);
	atomic_store_explicit(&d->mb_len, (uint32_t)k, memory_order_relaxed);
	iov_copy(iov, n, off, d->mb_data, k < HSOCK_MBOX_A ? k : HSOCK_MBOX_A, false);
	if (k > HSOCK_MBOX_A)
		iov_copy(iov, n, off + HSOCK_MBOX_A, d->mb_more, k - HSOCK_MBOX_A, false);
	atomic_store_explicit(&d->mb_seq, (s | 1) + 1, memory_order_release);
}

/*
 * Ring bytes [@tail, @tail + @k) were taken (copied out, or written to a
 * pipe): release their records, publish the tail, wake the writer.
 * Returns @k, or -ECONNRESET when a slot named nothing valid.
 */
static __always_inline ssize_t rx_done(struct hs_conn *c, int fd, uint64_t tail,
				       size_t k, uint64_t avail)
{
	struct hsock_dir *d = rxd(c);

	if (c->rec && hs_rec_consumed(c, 1 - c->side, tail, tail + k)) {
		c->err = ECONNRESET;
		return -ECONNRESET;
	}
	atomic_store_explicit(&d->tail, tail + k, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	wake_writer(c, fd, d);
	HS_STAT(S_GSHM_RX, k);
	/*
	 * Every wait we can see (our read, poll/select/epoll wrappers) arms
	 * before it sleeps; only a wait we cannot see (an epoll set nested in
	 * another waiter, a SIGIO owner's) needs the ring armed as soon as it
	 * is empty.
	 */
	if (k == avail && (c->async ||
			   atomic_load_explicit(&hs.nested_wait, memory_order_relaxed)))
		rx_arm(c, fd);
	else if (k == avail)
		rx_settle(c, fd);
	return k;
}

/* Bytes readable in the ring (0: empty), or -ECONNRESET past the bounds. */
static int64_t rx_avail(struct hs_conn *c, uint64_t tail)
{
	uint64_t avail = atomic_load_explicit(&rxd(c)->head, memory_order_acquire) - tail;

	if (avail > c->ring) {
		c->err = ECONNRESET;
		return -ECONNRESET;
	}
	return (int64_t)avail;
}

static ssize_t rx_ring(struct hs_conn *c, int fd, const struct iovec *iov,
		       int n, size_t off, size_t len, bool peek)
{
	struct hsock_dir *d = rxd(c);
	uint64_t tail = atomic_load_explicit(&d->tail, memory_order_relaxed);
	int64_t avail = rx_avail(c, tail);
	size_t k;

	if (avail <= 0)
		return avail ? avail : -EAGAIN;
	k = (uint64_t)avail < len ? (size_t)avail : len;
	c->rx_last = (uint32_t)(k < UINT32_MAX ? k : UINT32_MAX);
	if (!(k <= HSOCK_MBOX && mbox_get(d, tail, k, iov, n, off)) &&
	    ring_copy(c, 1 - c->side, tail, iov, n, off, k, true)) {
		c->err = ECONNRESET;
		return -ECONNRESET;
	}
	return peek ? (ssize_t)k : rx_done(c, fd, tail, k, (uint64_t)avail);
}

/*
 * PEEK: ask the kernel for EOF/RST (a syscall, most of a message's cost
 * for an edge-triggered server that reads until EAGAIN) at most every
 * HS_PEEK_PROBE_NS.  A read that did not ask owes it to the next wait
 * hsock sees (hs_rx_rearm), which asks before it sleeps: the edge that
 * reported a FIN is never left unanswered.  A reader that never waits
 * learns of the end within HS_PEEK_PROBE_NS.
 */
#define HS_PEEK_PROBE_NS 1000000

static void rx_peek_probe(struct hs_conn *c, int fd)
{
	uint64_t t = now_ns();

	if (t - c->probe_ns >= HS_PEEK_PROBE_NS) {
		c->probe_ns = t;
		c->probe_owed = false;
		rx_probe(c, fd);
	} else if (!c->probe_owed) {
		c->probe_owed = true;
		note_unarmed(c);	/* epoll: a hot item, armed before a sleep */
	}
}

/*
 * An epoll wait kept busy by other items never sleeps, so it pays the
 * probes owed (rx_peek_probe) itself, once they are due: true when @c
 * turned out to be at its end (readable).
 */
bool hs_rx_owed(struct hs_conn *c, int fd, uint64_t now)
{
	struct hsock_dir *d = rxd(c);
	bool end;

	if (!c->probe_owed || now - c->probe_ns < HS_PEEK_PROBE_NS)
		return false;
	chan_lock(&d->rd_lock);
	if (c->probe_owed && !c->rd_eof && !c->err) {
		c->probe_owed = false;
		c->probe_ns = now;
		rx_probe(c, fd);
	}
	end = c->rd_eof || c->err;
	chan_unlock(&d->rd_lock);
	return end;
}

/* Ring empty: arm (see rx_mode), then EOF / error / EAGAIN. */
static ssize_t rx_empty(struct hs_conn *c, int fd, enum rx_mode mode)
{
	struct hsock_dir *d = rxd(c);

	if (mode == RX_NOARM)
		return -EAGAIN;
	if (mode == RX_PEEK && !c->async &&
	    !atomic_load_explicit(&hs.nested_wait, memory_order_relaxed)) {
		/*
		 * Every wait hsock sees arms the ring before it sleeps
		 * (poll.c), so a non-blocking read need not: a writer that
		 * found it armed would ring a doorbell for every message of
		 * an edge-triggered server reading until EAGAIN.  Bells
		 * already counted are drained (a level-triggered waiter would
		 * see them for ever).
		 */
		rx_settle(c, fd);
		if (atomic_load(&d->head) != atomic_load_explicit(&d->tail, memory_order_relaxed))
			return -EALREADY;
		if (!c->rd_eof && !c->err)
			rx_peek_probe(c, fd);
	} else if (!rx_arm(c, fd)) {
		return -EALREADY;
	} else if (mode != RX_ARM && !c->rd_eof && !c->err) {
		rx_probe(c, fd);
	}
	if (c->rd_eof || c->err || atomic_load(&d->wr_shut)) {
		if (atomic_load(&d->head) != atomic_load(&d->tail))
			return -EALREADY;
		if (c->err && !(c->err == ECONNRESET && atomic_load(&d->wr_shut)))
			return -c->err;
		return 0;
	}
	return -EAGAIN;
}

/* Before the switch: TCP, inside RD_BUSY so no bell can be taken as data. */
static ssize_t rx_pre(struct hs_conn *c, int fd, const struct iovec *iov,
		      int n, size_t off, size_t len, int flags)
{
	struct hsock_dir *d = rxd(c);
	uint32_t z = 0;
	ssize_t r;

	if (!atomic_compare_exchange_strong(&d->state, &z, ST_RD_BUSY))
		return z & ST_REFUSED ? tcp_recv(fd, iov, n, off, len, flags) : -EALREADY;
	r = tcp_recv(fd, iov, n, off, len, flags);
	if (r > 0 && !(flags & MSG_PEEK)) {
		atomic_fetch_add(&d->tcp_rcvd, r);
		HS_STAT(S_TCP_RX, r);
		if (!atomic_load(&c->ch->cookie[1 - c->side])) {
			atomic_store(&d->state, ST_REFUSED);
			hs_refuse(c);
			return r;
		}
	}
	atomic_fetch_and(&d->state, ~ST_RD_BUSY);
	if (r == -EAGAIN) {
		atomic_fetch_or(&d->bell, WANT);
		if (atomic_load(&d->state) & ST_SWITCHED)
			return -EALREADY;
	}
	return r;
}

/* One non-waiting attempt: >0 bytes, 0 EOF, -EAGAIN, -EALREADY (retry). */
static ssize_t rx_step(struct hs_conn *c, int fd, const struct iovec *iov,
		       int n, size_t off, size_t len, int flags,
		       enum rx_mode mode)
{
	struct hsock_dir *d = rxd(c);
	uint64_t tn, got;
	ssize_t r;

	if (atomic_load_explicit(&c->rx_ring_only, memory_order_relaxed))
		goto ring;
	if (!(atomic_load_explicit(&d->state, memory_order_acquire) & ST_SWITCHED))
		return rx_pre(c, fd, iov, n, off, len, flags);
	tn = atomic_load(&d->tcp_n);
	got = atomic_load(&d->tcp_rcvd);
	if (got < tn) {
		r = tcp_recv(fd, iov, n, off, tn - got < len ? tn - got : len, flags);
		if (r > 0 && !(flags & MSG_PEEK)) {
			atomic_fetch_add(&d->tcp_rcvd, r);
			HS_STAT(S_TCP_RX, r);
		}
		return r;
	}
	/* SWITCHED is never cleared and tcp_n never changes once set */
	atomic_store_explicit(&c->rx_ring_only, true, memory_order_relaxed);
ring:
	r = rx_ring(c, fd, iov, n, off, len, flags & MSG_PEEK);
	return r == -EAGAIN ? rx_empty(c, fd, mode) : r;
}

/*
 * Spin alone for this long before yielding the CPU while busy-polling.  A
 * syscall costs about a microsecond here (1.1-1.4 us under a paravirtual
 * hypervisor), so a yield every few hundred nanoseconds kept the spinner
 * inside sched_yield most of the time and every message waited for the
 * yield to return: ~0.8 us of each one-way hop.  A peer that answers
 * within this window runs on another CPU and needs no yield.  One that
 * answered only after we yielded, twice in a row (once is a peer that was
 * merely slow), may be queued behind us (more threads than CPUs): the
 * connection then yields early, as it must for the peer to run at all,
 * and tries spinning alone again every 64th spin, so that a connection
 * whose peer gets a CPU of its own returns to it.
 */
#define HS_SPIN_SOLO_NS 5000
#define HS_SOLO_RETRY 63
#define HS_SOLO_MISSES 2

static void solo_hit(struct hs_conn *c, bool yielded)
{
	if (!yielded)
		c->solo_misses = 0;
	else if (c->solo_misses < HS_SOLO_MISSES)
		c->solo_misses++;
}

/*
 * While it waits, the reader also prefetches the ring lines the next
 * message will fill if it is the size of the last one (97 to
 * RX_PREFETCH_MAX bytes; smaller ones come in the mailbox): the writer
 * takes them away when it writes, and the prefetches issued after that
 * fetch them together with the head line instead of one after the other.
 * 128-512 B ping-pong: 16-22 % lower latency (4 alternating runs each,
 * close and far); prefetching the first lines of larger messages did not
 * help (1 KiB got slower).
 */
#define RX_PREFETCH_MAX 512

/* The first ring line of the expected next message, and how many (*@nl). */
static unsigned char *rx_next_lines(struct hs_conn *c, uint64_t tail, unsigned int *nl)
{
	size_t in = tail % HSOCK_PAGE, line = in & ~(size_t)63, n;
	unsigned char *page;

	*nl = 0;
	if (c->rx_last <= HSOCK_MBOX || c->rx_last > RX_PREFETCH_MAX)
		return NULL;
	page = c->rec ? hs_rec_page(c, 1 - c->side, tail) :
	       chan_ring(c->ch, 1 - c->side) + ((tail & (c->ring - 1)) - in);
	if (!page)
		return NULL;
	n = (in - line + c->rx_last + 63) / 64;		/* within this page */
	*nl = (unsigned int)(n < (HSOCK_PAGE - line) / 64 ? n : (HSOCK_PAGE - line) / 64);
	return page + line;
}

static bool spin_loop(struct hs_conn *c, struct hsock_dir *d, uint64_t tail,
		      uint64_t start, uint64_t end)
{
	bool solo = c->solo_misses < HS_SOLO_MISSES || !(++c->solo_retry & HS_SOLO_RETRY);
	bool yielded = false;
	unsigned int i, l, nl;
	unsigned char *at = rx_next_lines(c, tail, &nl);
	uint64_t t;

	for (i = 1;; i++) {
		__builtin_prefetch(d->mb_more);	/* chan.h, MAILBOX: line 2 */
		for (l = 0; l < nl; l++)
			__builtin_prefetch(at + 64 * l);
		if (atomic_load_explicit(&d->head, memory_order_acquire) != tail) {
			HS_STAT(S_SPIN_HITS, 1);
			c->spin_ns = hs.spin_max_ns;
			if (solo)
				solo_hit(c, yielded);
			return true;
		}
		cpu_relax();
		if (i & 31)
			continue;
		t = now_ns();
		if (t > end)
			break;
		/* more threads than CPUs: let the peer run */
		if (!solo || t - start > HS_SPIN_SOLO_NS) {
			sched_yield();
			yielded = true;
		}
	}
	if (c->spin_ns > 8000)
		c->spin_ns /= 2;
	return false;
}

/* Busy-poll for ring data, bounded by the adaptive budget; true on data. */
static bool rx_spin(struct hs_conn *c)
{
	struct hsock_dir *d = rxd(c);
	uint64_t tail = atomic_load_explicit(&d->tail, memory_order_relaxed);
	uint64_t start;
	bool hit;

	/* a bounded number of spinners per process: CPUs are shared */
	if (!hs_spin_enter())
		return false;
	rx_disarm(c, true);
	start = now_ns();
	hit = spin_loop(c, d, tail, start, start + c->spin_ns);
	hs_spin_exit();
	return hit;
}


static int rcv_timeout_ms(int fd)
{
	struct timeval tv;
	socklen_t l = sizeof(tv);

	if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &l) || (!tv.tv_sec && !tv.tv_usec))
		return -1;
	return (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
}

/* Going idle: give the ring's pages back (chan.h, IDLE TRIM). */
static void rx_trim(struct hs_conn *c)
{
	struct hsock_dir *d = rxd(c);
	uint64_t tail = atomic_load_explicit(&d->tail, memory_order_relaxed);
	uint32_t st = ST_SWITCHED;

	if (hs.reserve || atomic_load(&d->tcp_rcvd) < atomic_load(&d->tcp_n))
		return;
	if (c->rec ? !hs_rec_held(c, 1 - c->side, tail) : tail - c->trim_mark < 65536)
		return;
	if (!atomic_compare_exchange_strong(&d->state, &st, ST_SWITCHED | ST_TRIM))
		return;
	if (atomic_load(&d->head) == tail && c->rec) {
		if (hs_rec_trim(c, 1 - c->side, tail))
			HS_STAT(S_TRIMS, 1);
		hs_pool_trim(hs.pool);
	} else if (atomic_load(&d->head) == tail) {
		madvise(chan_ring(c->ch, 1 - c->side), c->ring, MADV_REMOVE);
		c->trim_mark = tail;
		HS_STAT(S_TRIMS, 1);
	}
	atomic_fetch_and(&d->state, ~ST_TRIM);
}

/* poll() that trims the ring once the connection stayed idle 100 ms. */
static int idle_poll(struct hs_conn *c, struct pollfd *p)
{
	int t = rcv_timeout_ms(p->fd), r;

	if (t >= 0 && t <= HS_IDLE_MS)
		return poll(p, 1, t);
	r = poll(p, 1, HS_IDLE_MS);
	if (r)
		return r;
	hs_rx_idle(c);
	return poll(p, 1, t < 0 ? -1 : t - HS_IDLE_MS);
}

/* Sleep in the kernel on the real fd: bells, FIN and RST all wake us. */
static int rx_sleep(struct hs_conn *c, int fd)
{
	struct hsock_dir *d = rxd(c);
	struct pollfd p = { fd, POLLIN | POLLRDHUP, 0 };
	int r;

	HS_STAT(S_RX_SLEEPS, 1);
	chan_unlock(&d->rd_lock);
	r = idle_poll(c, &p);
	chan_lock(&d->rd_lock);
	if (r < 0)
		return -errno;
	return r == 0 ? -EAGAIN : 0;
}

static bool switched_rx(struct hs_conn *c)
{
	struct hsock_dir *d = rxd(c);

	if (atomic_load_explicit(&c->rx_ring_only, memory_order_relaxed))
		return true;
	return (atomic_load(&d->state) & ST_SWITCHED) &&
	       atomic_load(&d->tcp_rcvd) >= atomic_load(&d->tcp_n);
}

/*
 * Discard bells a waiter does not read (a consumed space bell, chan.h)
 * once the rx ring is empty, so that the kernel socket stops reporting
 * them as readable.  Only after the TCP prefix: before it, every queued
 * byte may be data.
 */
void hs_rx_settle(struct hs_conn *c, int fd)
{
	struct hsock_dir *d = rxd(c);

	if (!switched_rx(c))
		return;
	chan_lock(&d->rd_lock);
	rx_settle(c, fd);
	chan_unlock(&d->rd_lock);
}

/* Ring bytes, or the end, are readable now (no doorbell may announce them). */
bool hs_rx_ready(struct hs_conn *c)
{
	struct hsock_dir *d = rxd(c);

	__builtin_prefetch(d->mb_more);	/* chan.h, MAILBOX: line 2 */
	return switched_rx(c) &&
	       (atomic_load_explicit(&d->head, memory_order_acquire) !=
		atomic_load_explicit(&d->tail, memory_order_relaxed) ||
		c->rd_eof || c->err);	/* the end is readable too, as TCP's */
}

/*
 * U-NAPI for poll/epoll users: stop doorbells while the caller busy-polls
 * (hs_rx_quiet), then arm again before it sleeps in the kernel
 * (hs_rx_rearm returns true when bytes arrived meanwhile: do not sleep).
 */
void hs_rx_quiet(struct hs_conn *c)
{
	if (switched_rx(c))
		rx_disarm(c, false);	/* poll.c: a hot item (looked at) */
}

bool hs_rx_rearm(struct hs_conn *c, int fd)
{
	struct hsock_dir *d = rxd(c);
	bool empty;

	if (!switched_rx(c))
		return false;
	chan_lock(&d->rd_lock);
	empty = rx_arm(c, fd);
	if (empty && c->probe_owed && !c->rd_eof && !c->err) {	/* rx_peek_probe */
		c->probe_owed = false;
		c->probe_ns = now_ns();
		rx_probe(c, fd);
	}
	chan_unlock(&d->rd_lock);
	return !empty || c->rd_eof || c->err;
}

/*
 * O_ASYNC was set (fcntl F_SETFL, ioctl FIOASYNC, or inherited): the owner
 * learns of new bytes only from the SIGIO the kernel raises when a
 * doorbell arrives, and may wait for it anywhere (sigsuspend, sigwaitinfo,
 * a handler).  Arm now - before the switch too: WANT makes the writer's
 * first ring write ring - and rx_done re-arms whenever a read empties the
 * ring, as TCP signals every arrival.
 */
void hs_rx_async(struct hs_conn *c)
{
	if (c->async && c->ch && !c->plain)
		atomic_fetch_or(&rxd(c)->bell, WANT);
}

/* The caller's wait found @c idle for a while: return its ring pages. */
void hs_rx_idle(struct hs_conn *c)
{
	struct hsock_dir *d = rxd(c);

	if (!switched_rx(c))
		return;
	chan_lock(&d->rd_lock);
	rx_trim(c);
	chan_unlock(&d->rd_lock);
}

bool hs_spin_enter(void)
{
	if (atomic_fetch_add(&hs.spinners, 1) < hs.max_spinners)
		return true;
	atomic_fetch_sub(&hs.spinners, 1);
	return false;
}

void hs_spin_exit(void)
{
	atomic_fetch_sub(&hs.spinners, 1);
}

uint64_t hs_now_ns(void)
{
	return now_ns();
}

ssize_t hs_rx(struct hs_conn *c, int fd, const struct iovec *iov, int n,
	      int flags)
{
	struct hsock_dir *d = rxd(c);
	size_t len = iov_total(iov, n), got = 0;
	bool block = !(flags & MSG_DONTWAIT) && !c->nonblock;
	bool waitall = (flags & MSG_WAITALL) && !(flags & MSG_PEEK) && block;
	enum rx_mode mode = block ? RX_NOARM : RX_PEEK;
	ssize_t r;

	/*
	 * After shutdown(SHUT_RD) Linux TCP still returns what is queued and
	 * what arrives later, but never blocks: 0 instead of waiting.
	 */
	if (c->rd_shut) {
		block = waitall = false;
		mode = RX_PEEK;
	}
	if (!len)
		return 0;
	chan_lock(&d->rd_lock);
	for (;;) {
		r = rx_step(c, fd, iov, n, got, len - got, flags, mode);
		if (r == -EALREADY)
			continue;
		if (r > 0) {
			got += r;
			if (!waitall || got == len || c->plain)
				break;
			mode = RX_NOARM;
			continue;
		}
		if (r != -EAGAIN || !block)
			break;
		if (mode == RX_NOARM) {
			if (switched_rx(c))
				rx_spin(c);
			mode = RX_ARM;
			continue;
		}
		r = rx_sleep(c, fd);
		if (r < 0)
			break;
		mode = RX_PROBE;
	}
	chan_unlock(&d->rd_lock);
	if (got)
		return got;
	if (r == -EAGAIN && c->rd_shut)
		return 0;
	if (r < 0)
		errno = -r;
	return r < 0 ? -1 : 0;
}

/*
 * splice(socket -> pipe) with one copy: up to @len ring bytes written to
 * @pipe from the ring itself, without blocking (RWF_NOWAIT: rd_lock is
 * held), then consumed.  Returns the bytes moved; -EAGAIN when the ring is
 * empty; -ENOBUFS when the pipe is full; -ENOTSUP when the next bytes are
 * not in the ring (TCP prefix) or the pipe cannot be written so: the
 * caller copies them as a read would.
 */
ssize_t hs_rx_pipe(struct hs_conn *c, int fd, int pipe, size_t len)
{
	struct hsock_dir *d = rxd(c);
	struct iovec seg[PIPE_SEGS];
	uint64_t tail;
	int64_t avail;
	ssize_t r;
	int n;

	if (!switched_rx(c))
		return -ENOTSUP;
	chan_lock(&d->rd_lock);
	tail = atomic_load_explicit(&d->tail, memory_order_relaxed);
	avail = rx_avail(c, tail);
	r = avail ? avail : -EAGAIN;
	if (avail <= 0)
		goto out;
	if (len > PIPE_MAX)
		len = PIPE_MAX;
	n = ring_iov(c, 1 - c->side, tail, (uint64_t)avail < len ? (size_t)avail : len, seg);
	if (n < 0) {
		c->err = ECONNRESET;
		r = n;
		goto out;
	}
	r = pwritev2(pipe, seg, n, -1, RWF_NOWAIT);
	if (r > 0)
		r = rx_done(c, fd, tail, (size_t)r, (uint64_t)avail);
	else if (r < 0)
		r = errno == EAGAIN ? -ENOBUFS : errno == EOPNOTSUPP ? -ENOTSUP : -errno;
out:
	chan_unlock(&d->rd_lock);
	return r;
}

/* ---- writer ---- */

static void send_bell(int fd)
{
	hs.real.send(fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	HS_STAT(S_BELLS, 1);
}

/* After publishing: ring only if the reader is armed (U-NAPI). */
static void ring_bell(int fd, struct hsock_dir *d)
{
	uint64_t b;

	atomic_thread_fence(memory_order_seq_cst);
	b = atomic_load_explicit(&d->bell, memory_order_relaxed);
	while (b & WANT) {
		if (atomic_compare_exchange_weak(&d->bell, &b, (b + 2) & ~WANT)) {
			send_bell(fd);
			return;
		}
	}
}

/*
 * The reader holds RD_BUSY only across one non-blocking recv, but a reader
 * waiting for our next message spends most of its time in exactly that
 * recv: a single CAS per write then loses almost every time and the
 * direction stays on TCP for thousands of round trips (or for good).  Wait
 * a bounded time (@end, for all retries of one write) for the reader's
 * RD_BUSY to clear; true when it did.
 */
#define HS_SWITCH_WAIT_NS 50000

static bool rd_busy_wait(struct hsock_dir *d, uint64_t end)
{
	unsigned int i;

	for (i = 1;; i++) {
		if (!atomic_load_explicit(&d->state, memory_order_relaxed))
			return true;
		cpu_relax();
		if (!(i & 63) && now_ns() > end)
			return false;
	}
}

/*
 * The program does I/O on this socket that hsock cannot see (tcpq.c,
 * fdopen): keep both directions TCP for good where neither has switched
 * yet.  True when both are refused (the connection is plain TCP).
 */
bool hs_unseen(struct hs_conn *c)
{
	uint32_t z = 0;
	bool tx, rx;

	tx = atomic_compare_exchange_strong(&txd(c)->state, &z, ST_REFUSED) ||
	     (z & ST_REFUSED);
	z = 0;
	rx = atomic_compare_exchange_strong(&rxd(c)->state, &z, ST_REFUSED) ||
	     (z & ST_REFUSED);
	if (!c->unseen) {
		c->unseen = true;
		HS_STAT(S_FB_UNSEEN, 1);
	}
	if (tx && rx)
		c->plain = true;
	return tx && rx;
}

/*
 * Every byte the kernel says the program wrote went through our calls
 * (tcp_sent), so tcp_n will be exact; a kernel that cannot tell does not
 * stop the switch.  Otherwise the direction is refused (hs_unseen).
 */
static bool tx_all_seen(struct hs_conn *c, int fd, struct hsock_dir *d)
{
	uint64_t n;
	int r = hs_tcp_written(fd, c->side == 0, &n);

	if (r == -EAGAIN)
		return false;		/* acknowledgements moving: next write */
	if (r || n == atomic_load(&d->tcp_sent))
		return true;
	hs_unseen(c);
	return false;
}

static bool try_switch(struct hs_conn *c, int fd)
{
	struct hsock_dir *d = txd(c);
	uint64_t end = 0;
	uint32_t z = 0;
	int one = 1;

	if (!atomic_load(&c->ch->cookie[1 - c->side]) || !tx_all_seen(c, fd, d))
		return false;
	atomic_store(&d->tcp_n, atomic_load(&d->tcp_sent));
	while (!atomic_compare_exchange_strong(&d->state, &z, ST_SWITCHED)) {
		if (!end)
			end = now_ns() + HS_SWITCH_WAIT_NS;
		if (z != ST_RD_BUSY || !rd_busy_wait(d, end))
			return false;
		z = 0;
	}
	/* bells are single bytes: Nagle would hold them for an ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!c->counted_accel) {
		c->counted_accel = true;
		HS_STAT(S_ACCEL, 1);
	}
	return true;
}

/*
 * Free ring bytes for the writer.  Records mode: a position may be written
 * only once the previous lap's page of its slot was consumed (chan.h,
 * RECORDS).  The tail last loaded (acquire) is kept in c->tx_tail: tail
 * only grows, so an old value only underestimates the space, and the
 * reader's consumer line - which it writes on every read - is loaded
 * again only when the cached space is short of @need (a cache-line
 * transfer saved per small write).
 */
static uint64_t tx_space(struct hs_conn *c, struct hsock_dir *d, uint64_t need)
{
	uint64_t head = atomic_load_explicit(&d->wr_head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&c->tx_tail, memory_order_relaxed), used;

	for (int i = 0; i < 2; i++) {
		if (c->rec)
			tail &= ~(uint64_t)(HSOCK_PAGE - 1);
		used = head - tail;
		if (used <= c->ring && c->ring - used >= need)
			break;
		if (i)
			return used > c->ring ? 0 : c->ring - used;
		tail = atomic_load_explicit(&d->tail, memory_order_acquire);
		atomic_store_explicit(&c->tx_tail, tail, memory_order_relaxed);
	}
	return c->ring - used;
}

static int tx_probe(struct hs_conn *c, int fd, struct hsock_dir *d);

/*
 * No record for the next page (pool empty or over the per-process limit):
 * sleep until our reader frees one (it wakes wake_seq) or 2 ms pass; probe
 * the peer every 100 ms.
 */
static int tx_wait_rec(struct hs_conn *c, int fd, bool block, uint64_t *probe)
{
	struct hsock_dir *d = txd(c);
	uint32_t seq;
	int r;

	if (!block)
		return -EAGAIN;
	HS_STAT(S_REC_WAITS, 1);
	if (!*probe)
		*probe = now_ns() + 100000000ull;
	else if (now_ns() > *probe) {
		*probe = 0;
		r = tx_probe(c, fd, d);
		if (r)
			return r;
	}
	/* module path: woken when our process may commit again (kmod.c) */
	r = c->kmod ? hs_kmod_wait_tx(c, 2) : -EPIPE;
	if (r != -EPIPE)
		return r == -EINTR ? -EINTR : 0;
	seq = atomic_load(&d->wake_seq);
	atomic_store(&d->wr_want, 1);
	r = ial_wait(hs.ial, &d->wake_seq, seq, 2);
	return r == -EINTR ? -EINTR : 0;
}

/* Ring full: a dead peer must not hold us; probe it with a counted bell. */
static int tx_probe(struct hs_conn *c, int fd, struct hsock_dir *d)
{
	struct pollfd p = { fd, 0, 0 };

	HS_STAT(S_PROBES, 1);
	atomic_fetch_add(&d->bell, 2);
	if (hs.real.send(fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	    (errno == EPIPE || errno == ECONNRESET))
		return -errno;
	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)))
		return -ECONNRESET;
	(void)c;
	return 0;
}

/*
 * Wait for ring space: spin, then futex with a 100 ms liveness probe.  As
 * the reader's spin (spin_loop), yield once spinning alone for
 * HS_SPIN_SOLO_NS found nothing: the reader may be queued behind us on
 * this CPU (more threads than CPUs), and it is the one to free space.
 */
static int tx_wait(struct hs_conn *c, int fd, bool block)
{
	struct hsock_dir *d = txd(c);
	uint64_t start = now_ns(), end = start + (block ? c->spin_ns : 20000), t;
	uint32_t seq;
	int r;

	while ((t = now_ns()) < end) {
		for (int i = 0; i < 64; i++, cpu_relax())
			if (tx_space(c, d, 1) || atomic_load_explicit(&d->rd_shut, memory_order_relaxed))
				return 0;
		if (t - start > HS_SPIN_SOLO_NS)
			sched_yield();
	}
	if (!block)
		return -EAGAIN;
	/* module path: woken by the reader's release (kmod.c) */
	r = c->kmod ? hs_kmod_wait_tx(c, 100) : -EPIPE;
	if (r == -ETIMEDOUT)
		return tx_probe(c, fd, d);
	if (r != -EPIPE)
		return r;
	seq = atomic_load(&d->wake_seq);
	atomic_store(&d->wr_want, 1);
	atomic_thread_fence(memory_order_seq_cst);
	if (tx_space(c, d, 1) || atomic_load(&d->rd_shut))
		return 0;
	HS_STAT(S_TX_SLEEPS, 1);
	r = ial_wait(hs.ial, &d->wake_seq, seq, 100);
	if (r == -ETIMEDOUT)
		return tx_probe(c, fd, d);
	return r == -EINTR ? -EINTR : 0;
}

/* Probe the peer of a writer facing a full ring, at most every 100 ms. */
int hs_tx_liveness(struct hs_conn *c, int fd)
{
	uint64_t t = now_ns();

	if (t - c->tx_probe_ns < 100000000ull)
		return 0;
	c->tx_probe_ns = t;
	return tx_probe(c, fd, txd(c));
}

/*
 * A non-blocking write found the ring full.  A dead peer never frees it:
 * probe it (a dead one answers with RST) and, once the kernel socket
 * reports an error or hangup - which poll waiters get as POLLERR/POLLHUP
 * with POLLOUT, as TCP - answer with the kernel's error (-EPIPE: hs_tx
 * lets the kernel socket answer) instead of EAGAIN.
 */
static int tx_full(struct hs_conn *c, int fd)
{
	struct pollfd p = { fd, 0, 0 };
	int r = hs_tx_liveness(c, fd);

	if (r)
		return r;
	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)))
		return -EPIPE;
	return -EAGAIN;
}

/*
 * Room for a write: ring space, and records - a non-blocking write that
 * found none for its next page (pool empty, or over the per-process
 * limit: on /dev/hsock below the window) noted the reader's tail page in
 * tx_norec; until the reader moves on from it (and releases pages) a
 * write would fail the same way.
 */
static bool tx_room(struct hs_conn *c, struct hsock_dir *d)
{
	uint64_t np = atomic_load_explicit(&c->tx_norec, memory_order_relaxed);

	return tx_space(c, d, 1) &&
	       (!np || atomic_load(&d->tail) / HSOCK_PAGE + 1 != np);
}

/*
 * POLLOUT for a waiter (poll.c): the kernel socket is always writable
 * once switched, so the ring decides.  HS_TX_ROOM when a write would find
 * room, or would not go to the ring (not switched, shut down, peer
 * closed); HS_TX_FULL when the ring is full; HS_TX_NOREC when it has
 * space but no record for it (tx_room).  With @arm, no room also asks the
 * reader for a space bell (chan.h, SPACE BELLS), so that the caller may
 * sleep waiting for the socket to become readable instead; with
 * HS_TX_NOREC it must look again now and then: the records may be held by
 * other connections, whose readers ring no bell here.
 */
int hs_tx_writable(struct hs_conn *c, bool arm)
{
	struct hsock_dir *d = txd(c);

	if (!(atomic_load(&d->state) & ST_SWITCHED) || atomic_load(&d->rd_shut) ||
	    atomic_load(&d->wr_shut) || tx_room(c, d))
		return HS_TX_ROOM;
	if (arm) {
		atomic_store(&d->wr_out, 1);
		atomic_thread_fence(memory_order_seq_cst);
		if (tx_room(c, d))
			return HS_TX_ROOM;
	}
	return tx_space(c, d, 1) ? HS_TX_NOREC : HS_TX_FULL;
}

/*
 * Announce a copy into the ring; waits out a reader's trim (chan.h).  A
 * reader killed inside its trim never clears TRIM: probe the peer every
 * 100 ms, a dead one answers with an error.
 */
static int wr_enter(struct hs_conn *c, int fd, struct hsock_dir *d)
{
	uint32_t st = atomic_load_explicit(&d->state, memory_order_relaxed);
	uint64_t probe = 0;
	int r;

	for (;;) {
		if (!(st & ST_TRIM)) {
			if (atomic_compare_exchange_weak(&d->state, &st, st | ST_WR_BUSY))
				return 0;
			continue;
		}
		if (!probe)
			probe = now_ns() + 100000000ull;
		else if (now_ns() > probe) {
			r = tx_probe(c, fd, d);
			if (r)
				return r;
			probe = 0;
		}
		sched_yield();
		st = atomic_load(&d->state);
	}
}

static void wr_exit(struct hsock_dir *d)
{
	atomic_fetch_and_explicit(&d->state, ~ST_WR_BUSY, memory_order_release);
}

/* What a write copies into the ring: an iovec, or (splice) a pipe. */
struct tx_src {
	const struct iovec *iov;
	int n;
	int pipe;		/* >= 0: read this pipe, without blocking */
	size_t len;		/* bytes to write (pipe: at most PIPE_MAX) */
};

/*
 * Copy @k bytes of @src from @off into the ring at @head; returns the
 * bytes copied (a pipe may hold fewer; 0: it has no writer left), or
 * -ENODATA (the pipe is empty), -ECONNRESET, -errno.
 */
static __always_inline ssize_t tx_copy(struct hs_conn *c, struct hsock_dir *d,
				       uint64_t head, const struct tx_src *src,
				       size_t off, size_t k)
{
	struct iovec seg[PIPE_SEGS];
	ssize_t r;
	int n;

	if (src->pipe < 0) {
		if (ring_copy(c, c->side, head, src->iov, src->n, off, k, false))
			return -ECONNRESET;
		if (k <= HSOCK_MBOX)
			mbox_put(d, head, src->iov, src->n, off, k);
		return (ssize_t)k;
	}
	n = ring_iov(c, c->side, head, k, seg);
	if (n < 0)
		return n;
	r = preadv2(src->pipe, seg, n, -1, RWF_NOWAIT);
	return r >= 0 ? r : errno == EAGAIN ? -ENODATA : -errno;
}

static bool pipe_ready(int pipe)
{
	int q = 0;

	return hs.real.ioctl(pipe, FIONREAD, &q) == 0 && q > 0;
}

/* inlined: the per-message path stays in hs_tx (glibc's __always_inline) */
static __always_inline ssize_t tx_ring(struct hs_conn *c, int fd,
				       const struct tx_src *src, int flags)
{
	struct hsock_dir *d = txd(c);
	size_t total = src->len, sent = 0, k;
	bool block = !(flags & MSG_DONTWAIT) && !c->nonblock;
	uint64_t head, space, probe = 0;
	bool asked = false, norec = false;
	ssize_t r = 0;

	while (sent < total) {
		if (atomic_load(&d->rd_shut) || atomic_load(&d->wr_shut)) {
			r = -EPIPE;
			break;
		}
		space = tx_space(c, d, total - sent);
		if (!space) {
			if (sent && !block)
				break;
			/* splice waits for the pipe's bytes before the socket */
			if (!sent && src->pipe >= 0 && !pipe_ready(src->pipe)) {
				r = -ENODATA;
				break;
			}
			r = tx_wait(c, fd, block);
			if (r == -EAGAIN && !asked) {
				/*
				 * Ring full, non-blocking: ask the reader for a
				 * space bell (chan.h, SPACE BELLS), then look again
				 * (Dekker with its tail publish).
				 */
				asked = true;
				atomic_store(&d->wr_out, 1);
				atomic_thread_fence(memory_order_seq_cst);
				if (tx_space(c, d, 1))
					r = 0;
			}
			if (r == -EAGAIN)
				r = tx_full(c, fd);
			if (r)
				break;
			continue;
		}
		k = space < total - sent ? space : total - sent;
		head = atomic_load_explicit(&d->wr_head, memory_order_relaxed);
		r = wr_enter(c, fd, d);
		if (r)
			break;
		if (c->rec)
			k = hs_rec_fill(c, c->side, head, k);
		if (!k) {
			wr_exit(d);
			if (sent && !block)
				break;
			r = tx_wait_rec(c, fd, block, &probe);
			if (r == -EAGAIN && !norec) {
				/*
				 * Note the reader's tail page (tx_room), ask for a
				 * bell when it moves, then try once more: pages it
				 * released before that tail are seen now.
				 */
				norec = true;
				atomic_store_explicit(&c->tx_norec,
						      atomic_load(&d->tail) / HSOCK_PAGE + 1,
						      memory_order_relaxed);
				atomic_store(&d->wr_out, 1);
				continue;
			}
			if (r)
				break;
			continue;
		}
		probe = 0;
		r = tx_copy(c, d, head, src, sent, k);
		if (r <= 0) {
			wr_exit(d);
			break;
		}
		/* chan.h, WRITE-ONLY LINES: head is only stored */
		atomic_store_explicit(&d->wr_head, head + (size_t)r, memory_order_relaxed);
		atomic_store_explicit(&d->head, head + (size_t)r, memory_order_release);
		wr_exit(d);
		ring_bell(fd, d);
		if (atomic_load_explicit(&c->tx_norec, memory_order_relaxed))
			atomic_store_explicit(&c->tx_norec, 0, memory_order_relaxed);
		HS_STAT(S_GSHM_TX, r);
		sent += (size_t)r;
		if ((size_t)r < k)	/* the pipe held no more */
			break;
	}
	return sent ? (ssize_t)sent : r;
}

ssize_t hs_tx(struct hs_conn *c, int fd, const struct iovec *iov, int n,
	      int flags)
{
	struct hsock_dir *d = txd(c);
	struct msghdr m = { 0 };
	ssize_t r;

	chan_lock(&d->wr_lock);
	if (!(atomic_load(&d->state) & ST_SWITCHED) &&
	    ((atomic_load(&d->state) & ST_REFUSED) || !try_switch(c, fd))) {
		m.msg_iov = (struct iovec *)iov;
		m.msg_iovlen = n;
		r = hs.real.sendmsg(fd, &m, flags);
		if (r > 0) {
			atomic_fetch_add(&d->tcp_sent, r);
			HS_STAT(S_TCP_TX, r);
		}
		chan_unlock(&d->wr_lock);
		return r;
	}
	r = tx_ring(c, fd, &(struct tx_src){ iov, n, -1, iov_total(iov, n) }, flags);
	if (r == -EPIPE) {
		/*
		 * The peer closed (or we shut down writing): the kernel socket
		 * is in the state TCP would be in, so let it answer - the first
		 * write after the peer's close succeeds and draws an RST, later
		 * ones fail with EPIPE or ECONNRESET (and SIGPIPE), as TCP.
		 */
		m.msg_iov = (struct iovec *)iov;
		m.msg_iovlen = n;
		r = hs.real.sendmsg(fd, &m, flags);
		chan_unlock(&d->wr_lock);
		return r;
	}
	chan_unlock(&d->wr_lock);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}

/*
 * splice(pipe -> socket) with one copy: up to @len bytes read from @pipe
 * straight into the ring (RWF_NOWAIT: what the pipe holds), waiting for
 * ring space as a write would.  Returns the bytes moved, 0 when the pipe
 * held none, -errno; -ENOTSUP when the bytes must go to the kernel socket
 * (not switched, peer gone, shut down) or the pipe cannot be read so: the
 * caller copies them as a write would.
 */
ssize_t hs_tx_pipe(struct hs_conn *c, int fd, int pipe, size_t len)
{
	struct tx_src src = { NULL, 0, pipe, len < PIPE_MAX ? len : PIPE_MAX };
	struct hsock_dir *d = txd(c);
	ssize_t r = -ENOTSUP;

	chan_lock(&d->wr_lock);
	if ((atomic_load(&d->state) & ST_SWITCHED) ||
	    (!(atomic_load(&d->state) & ST_REFUSED) && try_switch(c, fd)))
		r = tx_ring(c, fd, &src, 0);
	chan_unlock(&d->wr_lock);
	if (r == -EPIPE || r == -EOPNOTSUPP)
		return -ENOTSUP;
	return r == -ENODATA ? 0 : r;
}

ssize_t hs_sendfile(struct hs_conn *c, int out, int in, off_t *off, size_t count)
{
	char buf[65536];
	struct iovec v = { buf, 0 };
	size_t done = 0;
	ssize_t r, w;

	while (done < count) {
		v.iov_len = count - done < sizeof(buf) ? count - done : sizeof(buf);
		r = off ? pread(in, buf, v.iov_len, *off) : read(in, buf, v.iov_len);
		if (r <= 0)
			break;
		v.iov_len = r;
		w = hs_tx(c, out, &v, 1, 0);
		if (w <= 0)
			return done ? (ssize_t)done : w;
		if (off)
			*off += w;
		else if (w < r)
			lseek(in, w - r, SEEK_CUR);
		done += w;
		if (w < r)
			break;
	}
	return done;
}

int hs_fionread(struct hs_conn *c, int fd, int *val)
{
	struct hsock_dir *d = rxd(c);
	uint64_t tn, got, ring;
	int kq = 0;

	if (hs.real.ioctl(fd, FIONREAD, &kq) < 0)
		return -1;
	if (!(atomic_load(&d->state) & ST_SWITCHED)) {
		*val = kq;
		return 0;
	}
	tn = atomic_load(&d->tcp_n);
	got = atomic_load(&d->tcp_rcvd);
	ring = atomic_load(&d->head) - atomic_load(&d->tail);
	if (ring > c->ring)
		ring = 0;
	*val = (int)((got < tn ? ((uint64_t)kq < tn - got ? (uint64_t)kq : tn - got) : 0) + ring);
	return 0;
}

/* shutdown(SHUT_WR): publish the flag before the FIN (chan.h). */
void hs_shutdown_wr(struct hs_conn *c)
{
	atomic_store(&txd(c)->wr_shut, 1);
}

/*
 * Last holder closes: tell the peer (flags), wake its writer, and drain
 * bells so that the kernel does not answer our close with an RST.
 */
void hs_release_io(struct hs_conn *c, int fd)
{
	struct hsock_dir *rd = rxd(c);
	char scratch[4096];
	int i;

	atomic_store(&txd(c)->wr_shut, 1);
	atomic_store(&rd->rd_shut, 1);
	atomic_store(&rd->wr_want, 0);
	atomic_fetch_add(&rd->wake_seq, 1);
	ial_notify(hs.ial, &rd->wake_seq);
	if (!(atomic_load(&rd->state) & ST_SWITCHED))
		return;
	for (i = 0; i < 16; i++)
		if (hs.real.recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT) <= 0)
			break;
}
