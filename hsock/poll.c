// SPDX-License-Identifier: GPL-2.0
/*
 * Readiness of the shared-memory ring for poll/ppoll/select/pselect and
 * epoll_wait/epoll_pwait.  The kernel sees doorbells only (chan.h); a
 * blocking read that busy-polled with WANT cleared may return while bytes
 * published during its spin are still in the ring without a doorbell.
 * These wrappers report such fds readable before entering the kernel, so
 * an application waiting right after a short read never misses them.
 * epoll sets are tracked from epoll_ctl for accelerated fds (events, data,
 * EPOLLONESHOT disarming).  Each wrapper arms the rings it is about to
 * sleep on; once an epoll fd is itself waited on (nested), rings are armed
 * whenever a read empties them, since that wait is not visible here.
 *
 * POLLOUT: once switched the kernel socket's send buffer never fills, so
 * the kernel reports it writable at once although the ring may be full.
 * A waiter for POLLOUT on a full ring asks the reader for a space bell
 * (chan.h, SPACE BELLS) and waits in the kernel for POLLIN instead (the
 * bell makes the socket readable); POLLOUT is reported from the ring
 * (wout_* below, and the item forms of level-triggered epoll).
 */
#include "hsock/hsock_int.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>

#define EXPORT __attribute__((visibility("default")))

#define IN_EV (POLLIN | POLLRDNORM)
#define OUT_EV (POLLOUT | POLLWRNORM)

/*
 * How the kernel waits for a POLLOUT waiter of an accelerated socket:
 *   W_APP    as the application asked (ring not full, or not switched);
 *   W_SPACE  ring full: POLLOUT dropped, POLLIN added for the space bell;
 *   W_STUCK  ring full and the socket stays readable for reasons the
 *            application does not wait for (EOF of a half-closed peer,
 *            unread bytes): POLLOUT dropped, the wait is cut into steps
 *            of at most STUCK_MS after which the ring is looked at again.
 */
enum { W_APP, W_SPACE, W_STUCK };
#define STUCK_MS 4

/*
 * HOT ITEMS: an epoll wait looks at the rings of its hot items only.  An
 * item is cold when its ring is armed (WANT) and was found empty after
 * arming: a write to it rings a doorbell, which the kernel reports.  Every
 * other item is hot: new ones, ones the wait disarmed to busy-poll, ones
 * reported (their doorbell consumed WANT).  A ring this process leaves
 * unarmed elsewhere (a blocking read's busy-poll, bells drained by a read)
 * bumps the conn's unarmed count (io.c); the next wait makes its items hot
 * (ep_sweep).  Before sleeping in the kernel a wait arms its hot items,
 * which then go cold; an item idle through HOT_QUIET waits that found
 * others ready is armed and goes cold too.  A proxy holding a thousand
 * idle connections and one busy one then looks at one ring per poll, not
 * a thousand.
 */
#define HOT_QUIET 64

struct ep_item {
	int epfd, fd;
	struct epoll_event ev;		/* as the application asked */
	bool disabled;			/* EPOLLONESHOT fired, awaiting MOD */
	bool added_in;			/* EPOLLIN added for space bells */
	uint8_t form;			/* W_*: what the kernel item waits for */
	bool hot;			/* in eps.hot (HOT ITEMS) */
	uint16_t quiet;			/* waits it was not ready in, while hot */
	uint32_t unarmed;		/* conn's unarmed count when last swept */
};

static struct {
	_Atomic uint32_t lock;
	struct ep_item *items;
	size_t n, cap;
	size_t *hot, nhot;		/* indices of hot items (capacity: cap) */
	_Atomic int fixes;		/* items ep_fix looks at (needs_fix) */
	size_t next;			/* where ep_merge starts (in eps.hot) */
	_Atomic uint64_t kpoll;		/* ep_collect: last time it asked the kernel */
} eps;

static typeof(poll) *real_poll;
static typeof(ppoll) *real_ppoll;
static typeof(select) *real_select;
static typeof(pselect) *real_pselect;
static typeof(epoll_ctl) *real_epoll_ctl;
static typeof(epoll_pwait) *real_epoll_pwait;
static typeof(epoll_pwait2) *real_epoll_pwait2;
/* glibc's _FORTIFY_SOURCE entry points: they call poll/ppoll inside libc */
static int (*real_poll_chk)(struct pollfd *, nfds_t, int, size_t);
static int (*real_ppoll_chk)(struct pollfd *, nfds_t, const struct timespec *,
			     const sigset_t *, size_t);

static void resolve(void)
{
	if (real_poll)
		return;
	hs_init();
	real_ppoll = dlsym_next("ppoll");
	real_select = dlsym_next("select");
	real_pselect = dlsym_next("pselect");
	real_epoll_ctl = dlsym_next("epoll_ctl");
	real_epoll_pwait = dlsym_next("epoll_pwait");
	real_epoll_pwait2 = dlsym_next("epoll_pwait2");
	real_poll_chk = dlsym_next("__poll_chk");
	real_ppoll_chk = dlsym_next("__ppoll_chk");
	real_poll = dlsym_next("poll");
}

/* Bytes sit in the ring of @fd's read direction (no doorbell needed). */
static bool ring_ready(int fd)
{
	struct hs_conn *c = hs_get(fd);

	return c && !c->plain && c->ch && hs_rx_ready(c);
}

static int merge_poll(struct pollfd *fds, nfds_t n, int r)
{
	nfds_t i;

	if (r < 0)
		return r;
	for (i = 0, r = 0; i < n; i++) {
		if ((fds[i].events & POLLIN) && ring_ready(fds[i].fd))
			fds[i].revents |= POLLIN;
		r += fds[i].revents != 0;
	}
	return r;
}

/* Epoll fds, so that an epoll set waited on by another waiter is seen. */
static _Atomic uint8_t is_ep[1 << 16];

static bool is_epoll(int fd)
{
	return fd >= 0 && fd < (1 << 16) && is_ep[fd];
}

static void note_nested(int fd)
{
	if (is_epoll(fd) && !atomic_exchange(&hs.nested_wait, true))
		hs_arm_all();
}

/*
 * Ring bytes in a polled fd?  With @arm (the caller will sleep), arm each
 * accelerated fd first: bytes published after this re-check ring a bell.
 */
static bool any_poll(const struct pollfd *fds, nfds_t n, bool arm)
{
	struct hs_conn *c;
	bool any = false;
	nfds_t i;

	for (i = 0; i < n; i++) {
		note_nested(fds[i].fd);
		if (!(fds[i].events & POLLIN) || !(c = hs_get(fds[i].fd)) || c->plain || !c->ch)
			continue;
		if (arm ? hs_rx_rearm(c, fds[i].fd) : hs_rx_ready(c))
			any = true;
	}
	return any;
}

/* ---- POLLOUT on a full ring: poll, ppoll, select, pselect ---- */

static struct hs_conn *acc(int fd)
{
	struct hs_conn *c = hs_get(fd);

	return c && !c->plain && c->ch ? c : NULL;
}

/* A write would find room (hs_tx_writable, no arming: the cheap test). */
static bool room(struct hs_conn *c)
{
	return hs_tx_writable(c, false) == HS_TX_ROOM;
}

/* Does a POLLOUT fd of @fds face a full ring? */
static bool any_full(const struct pollfd *fds, nfds_t n)
{
	struct hs_conn *c;
	nfds_t i;

	for (i = 0; i < n; i++)
		if ((fds[i].events & OUT_EV) && (c = acc(fds[i].fd)) && !room(c))
			return true;
	return false;
}

/*
 * A wait for the POLLIN we added woke while the ring is still full: drop
 * the bells that did it.  W_STUCK when the socket stays readable anyway.
 */
static int wout_spurious(struct hs_conn *c, int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	hs_rx_settle(c, fd);
	return real_poll(&p, 1, 0) == 1 && (p.revents & POLLIN) ? W_STUCK : W_SPACE;
}

/* wout_prep(): */
enum { P_WAIT, P_READY, P_STEP };

/*
 * The kernel's pollfd @k for the application's @f; rings are armed when
 * the caller may sleep (@arm).  P_READY when @f is ready now, P_STEP when
 * the wait must come back within STUCK_MS to look at the ring (W_STUCK,
 * or a ring with space but no record: HS_TX_NOREC).
 */
static int wout_prep(const struct pollfd *f, struct pollfd *k, uint8_t *mode, bool arm)
{
	struct hs_conn *c = acc(f->fd);
	bool ready = false;
	int w;

	*k = *f;
	k->revents = 0;
	note_nested(f->fd);
	if (!c)
		return P_WAIT;
	if ((f->events & POLLIN) && (arm ? hs_rx_rearm(c, f->fd) : hs_rx_ready(c)))
		ready = true;
	if (!(f->events & OUT_EV))
		return ready ? P_READY : P_WAIT;
	if (!room(c))
		hs_rx_settle(c, f->fd);
	w = hs_tx_writable(c, arm);
	if (w == HS_TX_ROOM) {
		*mode = W_APP;
		return P_READY;
	}
	if (*mode == W_APP)
		*mode = W_SPACE;
	k->events &= ~OUT_EV;
	if (*mode == W_SPACE)
		k->events |= POLLIN;
	else
		hs_tx_liveness(c, f->fd);
	return ready ? P_READY : *mode == W_STUCK || w == HS_TX_NOREC ? P_STEP : P_WAIT;
}

/* What the application gets for @f from the kernel's @k and the rings. */
static short wout_rev(const struct pollfd *f, const struct pollfd *k, uint8_t *mode)
{
	struct hs_conn *c = acc(f->fd);
	short rev = k->revents;

	if (c && *mode != W_APP && (f->events & OUT_EV)) {
		if (room(c) || (rev & (POLLERR | POLLHUP)))
			rev |= f->events & OUT_EV;
		else if ((rev & POLLIN) && !(f->events & POLLIN))
			*mode = wout_spurious(c, f->fd);
	}
	if (c && (f->events & POLLIN) && hs_rx_ready(c))
		rev |= POLLIN;
	return rev & (f->events | POLLERR | POLLHUP | POLLNVAL);
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static struct timespec ns_ts(uint64_t ns)
{
	return (struct timespec){ (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
}

/*
 * ppoll when a POLLOUT fd faces a full ring: its kernel wait is for the
 * space bell (W_SPACE), and a wake-up that leaves the application nothing
 * waits again for the time left.  @ts NULL: no timeout.
 */
static int wout_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		      const sigset_t *mask)
{
	struct pollfd kbuf[32], *k = kbuf;
	uint8_t mbuf[32], *mode = mbuf;
	uint64_t end = ts ? hs_now_ns() + ts_ns(ts) : UINT64_MAX, t, left;
	struct timespec w;
	bool ready, stuck;
	nfds_t i;
	int r, p;

	if (n > 32) {
		k = malloc(n * (sizeof(*k) + 1));
		if (!k) {
			errno = ENOMEM;
			return -1;
		}
		mode = (uint8_t *)(k + n);
	}
	memset(mode, W_APP, n);
	for (;;) {
		t = hs_now_ns();
		left = !ts ? UINT64_MAX : t < end ? end - t : 0;
		ready = stuck = false;
		for (i = 0; i < n; i++) {
			p = wout_prep(&fds[i], &k[i], &mode[i], left != 0);
			ready |= p == P_READY;
			stuck |= p == P_STEP;
		}
		if (ready)
			left = 0;
		else if (stuck && left > STUCK_MS * 1000000ull)
			left = STUCK_MS * 1000000ull;
		w = ns_ts(left);
		r = real_ppoll(k, n, left == UINT64_MAX ? NULL : &w, mask);
		if (r < 0)
			break;
		for (i = 0, r = 0; i < n; i++) {
			fds[i].revents = wout_rev(&fds[i], &k[i], &mode[i]);
			r += fds[i].revents != 0;
		}
		if (r || hs_now_ns() >= end)
			break;
	}
	if (k != kbuf)
		free(k);
	return r;
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct timespec ts = { timeout / 1000, timeout % 1000 * 1000000L };

	resolve();
	if (hs.tab && any_full(fds, n))
		return wout_ppoll(fds, n, timeout < 0 ? NULL : &ts, NULL);
	if (hs.tab && any_poll(fds, n, timeout != 0))
		return merge_poll(fds, n, real_poll(fds, n, 0));
	return real_poll(fds, n, timeout);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		 const sigset_t *mask)
{
	static const struct timespec zero;

	resolve();
	if (hs.tab && any_full(fds, n) && (!ts || (ts->tv_sec >= 0 && ts->tv_nsec >= 0 &&
						     ts->tv_nsec < 1000000000L)))
		return wout_ppoll(fds, n, ts, mask);
	if (hs.tab && any_poll(fds, n, !ts || ts->tv_sec || ts->tv_nsec))
		return merge_poll(fds, n, real_ppoll(fds, n, &zero, mask));
	return real_ppoll(fds, n, ts, mask);
}

/*
 * A fortified program (Debian builds with _FORTIFY_SOURCE) calls these
 * when the size of its pollfd array is known; libc's own would reach its
 * internal poll and never see the rings.  An array shorter than @n is
 * left to libc, which reports the overflow and aborts.
 */
EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t len)
{
	resolve();
	if (len / sizeof(*fds) < n && real_poll_chk)
		return real_poll_chk(fds, n, timeout, len);
	return poll(fds, n, timeout);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		       const sigset_t *mask, size_t len)
{
	resolve();
	if (len / sizeof(*fds) < n && real_ppoll_chk)
		return real_ppoll_chk(fds, n, ts, mask, len);
	return ppoll(fds, n, ts, mask);
}

/* Ring-ready fds of @rd (limited to nfds), as a set; count returned. */
static int ring_set(int nfds, const fd_set *rd, fd_set *out, bool arm)
{
	int fd, k = 0;

	FD_ZERO(out);
	if (!rd || !hs.tab)
		return 0;
	for (fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
		struct hs_conn *c;

		if (!FD_ISSET(fd, rd))
			continue;
		note_nested(fd);
		c = hs_get(fd);
		if (c && !c->plain && c->ch && (arm ? hs_rx_rearm(c, fd) : hs_rx_ready(c))) {
			FD_SET(fd, out);
			k++;
		}
	}
	return k;
}

static int merge_select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
			const fd_set *extra, int r)
{
	int fd;

	if (r < 0)
		return r;
	for (fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (FD_ISSET(fd, extra) && !FD_ISSET(fd, rd)) {
			FD_SET(fd, rd);
			r++;
		}
	(void)wr;
	(void)ex;
	return r;
}

/* A written fd of @wr facing a full ring? */
static bool any_full_set(int nfds, const fd_set *wr)
{
	struct hs_conn *c;
	int fd;

	for (fd = 0; wr && hs.tab && fd < nfds && fd < FD_SETSIZE; fd++)
		if (FD_ISSET(fd, wr) && (c = acc(fd)) && !room(c))
			return true;
	return false;
}

#define SEL_IN (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)
#define SEL_OUT (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)

/*
 * select/pselect while a written fd faces a full ring: poll's wait
 * (wout_ppoll), with the kernel's own mapping between poll bits and the
 * three sets (fs/select.c: POLLIN_SET, POLLOUT_SET, POLLEX_SET).
 */
static int wout_select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
		       const struct timespec *ts, const sigset_t *mask)
{
	struct pollfd pbuf[64], *p = pbuf;
	int fd, n = 0, r, i;
	short ev;

	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	for (fd = 0; fd < nfds; fd++)
		n += (rd && FD_ISSET(fd, rd)) || FD_ISSET(fd, wr) || (ex && FD_ISSET(fd, ex));
	if (n > 64 && !(p = malloc(n * sizeof(*p)))) {
		errno = ENOMEM;
		return -1;
	}
	for (fd = 0, n = 0; fd < nfds; fd++) {
		ev = (rd && FD_ISSET(fd, rd) ? POLLIN | POLLRDNORM | POLLRDBAND : 0) |
		     (FD_ISSET(fd, wr) ? POLLOUT | POLLWRNORM | POLLWRBAND : 0) |
		     (ex && FD_ISSET(fd, ex) ? POLLPRI : 0);
		if (ev)
			p[n++] = (struct pollfd){ fd, ev, 0 };
	}
	r = wout_ppoll(p, (nfds_t)n, ts, mask);
	for (i = 0; r >= 0 && i < n; i++)
		if (p[i].revents & POLLNVAL) {
			errno = EBADF;
			r = -1;
		}
	if (r >= 0) {
		for (i = 0, r = 0; i < n; i++) {
			fd = p[i].fd;
			if (rd && FD_ISSET(fd, rd) && !(p[i].revents & SEL_IN))
				FD_CLR(fd, rd);
			if (FD_ISSET(fd, wr) && !(p[i].revents & SEL_OUT))
				FD_CLR(fd, wr);
			if (ex && FD_ISSET(fd, ex) && !(p[i].revents & POLLPRI))
				FD_CLR(fd, ex);
			r += (rd && FD_ISSET(fd, rd)) + FD_ISSET(fd, wr) + (ex && FD_ISSET(fd, ex));
		}
	}
	if (p != pbuf)
		free(p);
	return r;
}

EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	struct timeval zero = { 0, 0 };
	struct timespec ts;
	uint64_t end;
	fd_set extra;
	int r;

	resolve();
	if (any_full_set(nfds, wr) && (!tv || (tv->tv_sec >= 0 && tv->tv_usec >= 0))) {
		ts = (struct timespec){ tv ? tv->tv_sec + tv->tv_usec / 1000000 : 0,
					tv ? tv->tv_usec % 1000000 * 1000 : 0 };
		end = hs_now_ns() + ts_ns(&ts);
		r = wout_select(nfds, rd, wr, ex, tv ? &ts : NULL, NULL);
		if (tv) {	/* Linux writes back the time left */
			ts = ns_ts(end > hs_now_ns() ? end - hs_now_ns() : 0);
			*tv = (struct timeval){ ts.tv_sec, ts.tv_nsec / 1000 };
		}
		return r;
	}
	if (!ring_set(nfds, rd, &extra, !tv || tv->tv_sec || tv->tv_usec))
		return real_select(nfds, rd, wr, ex, tv);
	return merge_select(nfds, rd, wr, ex, &extra, real_select(nfds, rd, wr, ex, &zero));
}

EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
		   const struct timespec *ts, const sigset_t *mask)
{
	static const struct timespec zero;
	fd_set extra;

	resolve();
	if (any_full_set(nfds, wr) && (!ts || (ts->tv_sec >= 0 && ts->tv_nsec >= 0 &&
						ts->tv_nsec < 1000000000L)))
		return wout_select(nfds, rd, wr, ex, ts, mask);
	if (!ring_set(nfds, rd, &extra, !ts || ts->tv_sec || ts->tv_nsec))
		return real_pselect(nfds, rd, wr, ex, ts, mask);
	return merge_select(nfds, rd, wr, ex, &extra, real_pselect(nfds, rd, wr, ex, &zero, mask));
}

/* ---- epoll ---- */

/*
 * Items whose events the wrapper rewrites: an EPOLLET EPOLLOUT item with
 * the EPOLLIN we added (wants_space_bell), and level-triggered EPOLLOUT
 * items (W_* forms).
 */
static bool needs_fix(const struct ep_item *it)
{
	return it->added_in || (it->ev.events & (EPOLLOUT | EPOLLET)) == EPOLLOUT;
}

/* Position of item @i in eps.hot. */
static size_t hot_pos(size_t i)
{
	size_t h;

	for (h = 0; eps.hot[h] != i; h++)
		;
	return h;
}

/* eps.hot has the capacity of eps.items (ep_track grows both). */
static void ep_heat(size_t i)
{
	if (eps.items[i].hot)
		return;
	eps.hot[eps.nhot++] = i;
	eps.items[i].hot = true;
	eps.items[i].quiet = 0;
}

/* Item eps.hot[@h] is armed and was empty: it goes cold. */
static void ep_cool(size_t h)
{
	eps.items[eps.hot[h]].hot = false;
	eps.hot[h] = eps.hot[--eps.nhot];
}

static void ep_drop(size_t i)
{
	eps.fixes -= needs_fix(&eps.items[i]);
	if (eps.items[i].hot)
		ep_cool(hot_pos(i));
	eps.items[i] = eps.items[--eps.n];
	if (i < eps.n && eps.items[i].hot)
		eps.hot[hot_pos(eps.n)] = i;
}

/* close(fd): epoll drops a closed fd (or a closed epoll fd) by itself. */
void hs_ep_forget(int fd)
{
	size_t i;

	if (!eps.n)
		return;
	chan_lock(&eps.lock);
	for (i = 0; i < eps.n;)
		if (eps.items[i].fd == fd || eps.items[i].epfd == fd)
			ep_drop(i);
		else
			i++;
	chan_unlock(&eps.lock);
}

static struct ep_item *ep_find(int epfd, int fd)
{
	size_t i;

	for (i = 0; i < eps.n; i++)
		if (eps.items[i].epfd == epfd && eps.items[i].fd == fd)
			return &eps.items[i];
	return NULL;
}

/* Record what the application asked (called with eps.lock held). */
static void ep_track(int epfd, int op, int fd, const struct epoll_event *ev,
		     bool added_in)
{
	struct ep_item *it = ep_find(epfd, fd), *n;
	bool hot = false;

	if (op == EPOLL_CTL_DEL || !ev) {
		if (it)
			ep_drop((size_t)(it - eps.items));
		return;
	}
	if (!it && eps.n == eps.cap) {
		size_t cap = eps.cap ? 2 * eps.cap : 64, *h;

		h = realloc(eps.hot, cap * sizeof(*h));
		if (!h)
			return;
		eps.hot = h;
		n = realloc(eps.items, cap * sizeof(*n));
		if (!n)
			return;
		eps.items = n;
		eps.cap = cap;
	}
	if (!it) {
		it = &eps.items[eps.n++];
	} else {
		eps.fixes -= needs_fix(it);
		hot = it->hot;
	}
	*it = (struct ep_item){ .epfd = epfd, .fd = fd, .ev = *ev, .added_in = added_in,
				.form = W_APP, .hot = hot };
	eps.fixes += needs_fix(it);
	ep_heat((size_t)(it - eps.items));	/* its ring may be unarmed */
}

/*
 * An edge-triggered writer waiting for EPOLLOUT on an accelerated socket:
 * the kernel send buffer never fills, so no EPOLLOUT edge comes when the
 * ring drains; the reader rings a space bell instead (chan.h, SPACE
 * BELLS), which the kernel item sees if it also waits for EPOLLIN.  The
 * added EPOLLIN is removed from what the application gets (ep_fix).
 */
static bool wants_space_bell(int fd, int op, const struct epoll_event *ev)
{
	struct hs_conn *c = hs.tab ? hs_get(fd) : NULL;

	return c && !c->plain && ev && (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) &&
	       (ev->events & (EPOLLOUT | EPOLLET | EPOLLIN)) == (EPOLLOUT | EPOLLET);
}

/*
 * The kernel call and the tracking happen under eps.lock, so that the
 * item forms ep_prep sets never act on what the application replaced.
 */
EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	bool add_in, track;
	struct epoll_event kev;
	int r;

	resolve();
	add_in = wants_space_bell(fd, op, ev);
	if (add_in) {
		kev = *ev;
		kev.events |= EPOLLIN;
	}
	track = hs.tab && (hs_get(fd) || op == EPOLL_CTL_DEL);
	if (track)
		chan_lock(&eps.lock);
	r = real_epoll_ctl(epfd, op, fd, add_in ? &kev : ev);
	if (r == 0 && track)
		ep_track(epfd, op, fd, ev, add_in);
	if (track)
		chan_unlock(&eps.lock);
	if (r == 0 && epfd >= 0 && epfd < (1 << 16))
		is_ep[epfd] = 1;
	if (r == 0 && op == EPOLL_CTL_ADD)
		note_nested(fd);
	return r;
}

/* The connection of a level-triggered, enabled EPOLLOUT item. */
static struct hs_conn *lt_out(const struct ep_item *it)
{
	if ((it->ev.events & (EPOLLOUT | EPOLLET | EPOLLEXCLUSIVE)) != EPOLLOUT || it->disabled)
		return NULL;
	return acc(it->fd);
}

/*
 * Make the kernel item of @it wait as @form says; @force re-arms it even
 * when it already does (an EPOLLONESHOT item the kernel disabled).
 */
static void ep_form(struct ep_item *it, uint8_t form, bool force)
{
	struct epoll_event kev = { it->ev.events, it->ev.data };

	if (it->form == form && !force)
		return;
	if (form != W_APP)
		kev.events &= ~(uint32_t)OUT_EV;
	if (form == W_SPACE || it->added_in)
		kev.events |= EPOLLIN;
	if (real_epoll_ctl(it->epfd, EPOLL_CTL_MOD, it->fd, &kev) == 0)
		it->form = form;
}

/*
 * Before a wait on @epfd: a level-triggered EPOLLOUT item of a full ring
 * waits for the space bell (W_SPACE), one with room waits as asked.  The
 * reader is asked for the bell (wr_out) even for a wait without timeout:
 * it may be the inner call of a nested set whose waiter sleeps next.
 * Returns true when an item is W_STUCK or its ring has space but no
 * record (HS_TX_NOREC): the wait must come back within STUCK_MS to look
 * at the ring.  Such an item waits as asked instead once epoll sets are
 * nested (a busy loop, as before space bells), since an outer wait would
 * not come back.
 */
static bool ep_prep(int epfd)
{
	struct hs_conn *c;
	struct ep_item *it;
	bool stuck = false;
	size_t i;
	int w;

	if (!atomic_load_explicit(&eps.fixes, memory_order_relaxed))
		return false;
	chan_lock(&eps.lock);
	for (i = 0; i < eps.n; i++) {
		it = &eps.items[i];
		if (it->epfd != epfd || !(c = lt_out(it)))
			continue;
		if (!room(c))
			hs_rx_settle(c, it->fd);
		w = hs_tx_writable(c, true);
		if (w == HS_TX_ROOM)
			ep_form(it, W_APP, false);
		else if ((it->form == W_STUCK || w == HS_TX_NOREC) &&
			 atomic_load(&hs.nested_wait))
			ep_form(it, W_APP, false);
		else if (it->form != W_STUCK) {
			ep_form(it, W_SPACE, false);
			stuck |= w == HS_TX_NOREC;
		} else {
			hs_tx_liveness(c, it->fd);
			stuck = true;
		}
	}
	chan_unlock(&eps.lock);
	return stuck;
}

/* Event bits @e of a tracked item, as the application gets them. */
static uint32_t ep_fix1(struct ep_item *it, uint32_t e)
{
	struct hs_conn *c = acc(it->fd);

	if (c && it->added_in && (e & EPOLLIN))
		hs_rx_settle(c, it->fd);	/* a space bell: drop it */
	/* an edge on a full ring (the kernel socket is always writable) */
	if (c && it->added_in && !(e & (EPOLLERR | EPOLLHUP)) &&
	    hs_tx_writable(c, true) != HS_TX_ROOM)
		e &= ~(uint32_t)OUT_EV;
	if (c && it->form != W_APP) {
		if (room(c) || (e & (EPOLLERR | EPOLLHUP)))
			e |= EPOLLOUT;
		else if ((e & EPOLLIN) && !(it->ev.events & EPOLLIN))
			ep_form(it, (uint8_t)wout_spurious(c, it->fd), false);
	}
	e &= (it->ev.events | EPOLLERR | EPOLLHUP) & ~(it->added_in ? (uint32_t)IN_EV : 0);
	if (!(it->ev.events & EPOLLONESHOT))
		return e;
	if (e)
		it->disabled = true;
	else
		ep_form(it, it->form, true);	/* fired for nothing: re-arm */
	return e;
}

/*
 * After a wait on @epfd: EPOLLOUT of an item waiting for the space bell
 * comes from the ring (or with an error or hangup, as TCP reports it);
 * the EPOLLIN we added is taken out; an event left empty is dropped (an
 * EPOLLONESHOT item re-armed).  Returns how many events remain.
 */
static int ep_fix(int epfd, struct epoll_event *evs, int r)
{
	struct ep_item *it;
	int i, k = 0;
	size_t j;

	if (r <= 0 || !atomic_load_explicit(&eps.fixes, memory_order_relaxed))
		return r;
	chan_lock(&eps.lock);
	for (j = 0; j < eps.n; j++) {
		it = &eps.items[j];
		if (it->epfd != epfd || !needs_fix(it))
			continue;
		for (i = 0; i < r; i++)
			if (!memcmp(&it->ev.data, &evs[i].data, sizeof(evs[i].data))) {
				evs[i].events = ep_fix1(it, evs[i].events);
				break;
			}
	}
	chan_unlock(&eps.lock);
	for (i = 0; i < r; i++)
		if (evs[i].events)
			evs[k++] = evs[i];
	return k;
}

/*
 * Conns this process left unarmed outside an epoll wait (io.c,
 * note_unarmed): their items become hot.  Called with eps.lock held; a
 * look at every item, but only after such an event.
 */
static void ep_sweep(void)
{
	struct hs_conn *c;
	uint32_t v;
	size_t i;

	if (!atomic_exchange_explicit(&hs.unarmed, false, memory_order_acquire))
		return;
	for (i = 0; i < eps.n; i++) {
		c = hs_get(eps.items[i].fd);
		v = c ? atomic_load_explicit(&c->unarmed, memory_order_relaxed) : 0;
		if (v != eps.items[i].unarmed) {
			eps.items[i].unarmed = v;
			ep_heat(i);
		}
	}
}

/* Whether a wait of @epfd reports @it's ring (with eps.lock held). */
static bool ep_ring(const struct ep_item *it, int epfd)
{
	return it->epfd == epfd && !it->disabled && (it->ev.events & EPOLLIN) &&
	       ring_ready(it->fd);
}

/*
 * Hot items of @epfd quiet through HOT_QUIET waits: arm them; those found
 * empty go cold (HOT ITEMS).
 */
static void ep_age(int epfd)
{
	struct ep_item *it;
	struct hs_conn *c;
	size_t h;

	for (h = 0; h < eps.nhot; h++) {
		it = &eps.items[eps.hot[h]];
		if (it->epfd != epfd || it->quiet < HOT_QUIET)
			continue;
		c = hs_get(it->fd);
		if (!c || c->plain || !c->ch || !hs_rx_rearm(c, it->fd))
			ep_cool(h--);	/* the last one moved to h */
		else
			it->quiet = 0;	/* bytes came: hot, counted again */
	}
}

/*
 * Append ring-ready hot items of @epfd not already reported.  Ring
 * readiness has no ready list of its own: the scan starts where the last
 * one stopped, or, with more items ready than a call returns, the items
 * late in the list would never be reported.
 */
static int ep_merge(int epfd, struct epoll_event *evs, int max, int r)
{
	uint64_t t = hs_now_ns();
	struct ep_item *it;
	struct hs_conn *c;
	size_t i, j, n;
	bool aged = false;
	int k;

	if (r < 0)
		return r;
	chan_lock(&eps.lock);
	for (j = 0, n = eps.nhot; j < n && r < max; j++) {
		i = eps.hot[(eps.next + j) % n];
		it = &eps.items[i];
		if (!ep_ring(it, epfd) &&
		    !(it->epfd == epfd && !it->disabled && (it->ev.events & EPOLLIN) &&
		      (c = acc(it->fd)) && hs_rx_owed(c, it->fd, t))) {
			if (it->epfd == epfd && it->quiet < HOT_QUIET && ++it->quiet == HOT_QUIET)
				aged = true;
			continue;
		}
		it->quiet = 0;
		for (k = 0; k < r && memcmp(&evs[k].data, &it->ev.data, sizeof(it->ev.data)); k++)
			;
		if (k < r) {
			evs[k].events |= EPOLLIN;
			continue;
		}
		evs[r].events = EPOLLIN;
		evs[r++].data = it->ev.data;
		eps.next = (eps.next + j + 1) % n;
		if (it->ev.events & EPOLLONESHOT)
			it->disabled = true;
	}
	if (aged)
		ep_age(epfd);
	chan_unlock(&eps.lock);
	return r;
}

/*
 * Ring-ready items, and the kernel's events at least every KPOLL_NS:
 * asking the kernel is a syscall, most of a message's cost when rings
 * keep a wait busy.  When it is asked, it gets at most half of @max, so
 * that items ready only in their ring are reported while other items
 * keep the kernel busy.
 */
#define KPOLL_NS 10000

static int ep_collect(int epfd, struct epoll_event *evs, int max, const sigset_t *mask)
{
	uint64_t t = hs_now_ns();
	int r;

	if (t - atomic_load_explicit(&eps.kpoll, memory_order_relaxed) < KPOLL_NS &&
	    (r = ep_merge(epfd, evs, max, 0)))
		return r;
	atomic_store_explicit(&eps.kpoll, t, memory_order_relaxed);
	return ep_merge(epfd, evs, max, real_epoll_pwait(epfd, evs, max - max / 2, 0, mask));
}

static bool ep_any(int epfd)
{
	bool any = false;
	size_t h;

	chan_lock(&eps.lock);
	ep_sweep();
	for (h = 0; h < eps.nhot && !any; h++)
		any = ep_ring(&eps.items[eps.hot[h]], epfd);
	chan_unlock(&eps.lock);
	return any;
}

/* The set stayed idle HS_IDLE_MS: return the rings' pages (chan.h). */
static void ep_idle(int epfd)
{
	size_t i;

	chan_lock(&eps.lock);
	for (i = 0; i < eps.n; i++) {
		struct hs_conn *c = hs_get(eps.items[i].fd);

		if (eps.items[i].epfd == epfd && c && !c->plain && c->ch)
			hs_rx_idle(c);
	}
	chan_unlock(&eps.lock);
}

/*
 * Quiet (disarm) the hot items of @epfd before busy-polling them, or arm
 * them before a sleep: those found empty go cold (HOT ITEMS); true when
 * bytes came meanwhile.
 */
static bool ep_each(int epfd, bool rearm)
{
	struct ep_item *it;
	struct hs_conn *c;
	bool data = false;
	size_t h;

	chan_lock(&eps.lock);
	ep_sweep();
	for (h = 0; h < eps.nhot;) {
		it = &eps.items[eps.hot[h]];
		c = hs_get(it->fd);
		if (it->epfd != epfd) {
			h++;
		} else if (!c || c->plain || !c->ch) {
			ep_cool(h);
		} else if (!rearm) {
			hs_rx_quiet(c);
			h++;
		} else if (hs_rx_rearm(c, it->fd)) {
			data |= !it->disabled;
			h++;
		} else {
			ep_cool(h);
		}
	}
	chan_unlock(&eps.lock);
	return data;
}

/*
 * Busy-poll the rings (and, every few microseconds, the kernel for other
 * fds) for up to the poll budget; doorbells are off meanwhile.  Returns
 * the events found, or 0 to go to sleep (doorbells re-armed).
 */
static int ep_spin(int epfd, struct epoll_event *evs, int max, const sigset_t *mask)
{
	uint64_t end = hs_now_ns() + hs.spin_max_ns;
	unsigned int i;
	int r = 0;

	if (!hs_spin_enter())
		return 0;
	ep_each(epfd, false);
	for (i = 1; !r; i++) {
		if (ep_any(epfd))
			r = ep_collect(epfd, evs, max, mask);
		else if (!(i & 63))	/* cold items ring the kernel */
			r = real_epoll_pwait(epfd, evs, max, 0, mask);
		if (r || hs_now_ns() > end)
			break;
		__builtin_ia32_pause();
	}
	hs_spin_exit();
	return r;
}

/* One wait; @spin: busy-poll the rings first (not when waiting again). */
static int ep_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
		    const sigset_t *mask, bool spin)
{
	int r;

	resolve();
	if (max > 0 && eps.n && ep_any(epfd))
		return ep_collect(epfd, evs, max, mask);
	if (max > 0 && eps.n && timeout != 0) {
		r = spin ? ep_spin(epfd, evs, max, mask) : 0;
		if (r)
			return r;
		if (ep_each(epfd, true))	/* armed; bytes came meanwhile */
			return ep_collect(epfd, evs, max, mask);
		if (timeout < 0 || timeout > HS_IDLE_MS) {
			r = real_epoll_pwait(epfd, evs, max, HS_IDLE_MS, mask);
			if (r)
				return r;
			ep_idle(epfd);
			timeout = timeout < 0 ? -1 : timeout - HS_IDLE_MS;
		}
	}
	return real_epoll_pwait(epfd, evs, max, timeout, mask);
}

/*
 * A wait that leaves the application nothing (ep_fix: only an EPOLLIN we
 * added, or a W_STUCK step) is not a wake-up for it: wait again for the
 * time left.
 */
EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
		       const sigset_t *mask)
{
	uint64_t end = timeout > 0 ? hs_now_ns() + (uint64_t)timeout * 1000000 : 0, t;
	bool spin = true;
	int r, wait;

	resolve();
	for (;; spin = false) {
		wait = timeout;
		if (ep_prep(epfd) && (wait < 0 || wait > STUCK_MS))
			wait = STUCK_MS;
		r = ep_pwait(epfd, evs, max, wait, mask, spin);
		if (r < 0 || (r = ep_fix(epfd, evs, r)) || !timeout)
			return r;
		if (timeout > 0) {
			t = hs_now_ns();
			if (t >= end)
				return 0;
			timeout = (int)((end - t + 999999) / 1000000);
		}
	}
}

EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	return epoll_pwait(epfd, evs, max, timeout, NULL);
}

/*
 * epoll_pwait2: a timeout in nanoseconds.  Sets without accelerated fds
 * go to the kernel as they are; the others wait like epoll_pwait, the
 * timeout rounded up to a millisecond (a wait may last longer than asked,
 * never shorter, as the kernel's own rounding to its clock).
 */
EXPORT int epoll_pwait2(int epfd, struct epoll_event *evs, int max,
			const struct timespec *ts, const sigset_t *mask)
{
	long long ms;

	resolve();
	if (!eps.n || (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 ||
			      ts->tv_nsec >= 1000000000L))) {
		if (real_epoll_pwait2)
			return real_epoll_pwait2(epfd, evs, max, ts, mask);
		errno = ENOSYS;
		return -1;
	}
	if (!ts)
		return epoll_pwait(epfd, evs, max, -1, mask);
	ms = ts->tv_sec > INT_MAX / 1000 ? INT_MAX :
	     ts->tv_sec * 1000LL + (ts->tv_nsec + 999999) / 1000000;
	return epoll_pwait(epfd, evs, max, ms > INT_MAX ? INT_MAX : (int)ms, mask);
}
