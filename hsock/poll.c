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
 */
#include "hsock/hsock_int.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>

#define EXPORT __attribute__((visibility("default")))

struct ep_item {
	int epfd, fd;
	struct epoll_event ev;		/* as the application asked */
	bool disabled;			/* EPOLLONESHOT fired, awaiting MOD */
	bool added_in;			/* EPOLLIN added for space bells */
};

static struct {
	_Atomic uint32_t lock;
	struct ep_item *items;
	size_t n, cap;
	_Atomic int added_in;		/* items with added_in */
} eps;

static typeof(poll) *real_poll;
static typeof(ppoll) *real_ppoll;
static typeof(select) *real_select;
static typeof(pselect) *real_pselect;
static typeof(epoll_ctl) *real_epoll_ctl;
static typeof(epoll_pwait) *real_epoll_pwait;

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

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	resolve();
	if (hs.tab && any_poll(fds, n, timeout != 0))
		return merge_poll(fds, n, real_poll(fds, n, 0));
	return real_poll(fds, n, timeout);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		 const sigset_t *mask)
{
	static const struct timespec zero;

	resolve();
	if (hs.tab && any_poll(fds, n, !ts || ts->tv_sec || ts->tv_nsec))
		return merge_poll(fds, n, real_ppoll(fds, n, &zero, mask));
	return real_ppoll(fds, n, ts, mask);
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

EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	struct timeval zero = { 0, 0 };
	fd_set extra;

	resolve();
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
	if (!ring_set(nfds, rd, &extra, !ts || ts->tv_sec || ts->tv_nsec))
		return real_pselect(nfds, rd, wr, ex, ts, mask);
	return merge_select(nfds, rd, wr, ex, &extra, real_pselect(nfds, rd, wr, ex, &zero, mask));
}

/* ---- epoll ---- */

/* close(fd): epoll drops a closed fd (or a closed epoll fd) by itself. */
void hs_ep_forget(int fd)
{
	size_t i;

	if (!eps.n)
		return;
	chan_lock(&eps.lock);
	for (i = 0; i < eps.n;)
		if (eps.items[i].fd == fd || eps.items[i].epfd == fd) {
			eps.added_in -= eps.items[i].added_in;
			eps.items[i] = eps.items[--eps.n];
		} else
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

static void ep_track(int epfd, int op, int fd, const struct epoll_event *ev,
		     bool added_in)
{
	struct ep_item *it, *n;

	chan_lock(&eps.lock);
	it = ep_find(epfd, fd);
	if (it)
		eps.added_in -= it->added_in;
	if (op == EPOLL_CTL_DEL && it)
		*it = eps.items[--eps.n];
	else if (op != EPOLL_CTL_DEL && ev) {
		if (!it && eps.n == eps.cap) {
			eps.cap = eps.cap ? 2 * eps.cap : 64;
			n = realloc(eps.items, eps.cap * sizeof(*n));
			if (!n)
				goto out;
			eps.items = n;
		}
		if (!it)
			it = &eps.items[eps.n++];
		*it = (struct ep_item){ epfd, fd, *ev, false, added_in };
		eps.added_in += added_in;
	}
out:
	chan_unlock(&eps.lock);
}

/*
 * An edge-triggered writer waiting for EPOLLOUT on an accelerated socket:
 * the kernel send buffer never fills, so no EPOLLOUT edge comes when the
 * ring drains; the reader rings a space bell instead (chan.h, SPACE
 * BELLS), which the kernel item sees if it also waits for EPOLLIN.  The
 * added EPOLLIN is removed from what the application gets (ep_out).
 */
static bool wants_space_bell(int fd, int op, const struct epoll_event *ev)
{
	struct hs_conn *c = hs.tab ? hs_get(fd) : NULL;

	return c && !c->plain && ev && (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) &&
	       (ev->events & (EPOLLOUT | EPOLLET | EPOLLIN)) == (EPOLLOUT | EPOLLET);
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	bool add_in;
	struct epoll_event kev;
	int r;

	resolve();
	add_in = wants_space_bell(fd, op, ev);
	if (add_in) {
		kev = *ev;
		kev.events |= EPOLLIN;
	}
	r = real_epoll_ctl(epfd, op, fd, add_in ? &kev : ev);
	if (r == 0 && epfd >= 0 && epfd < (1 << 16))
		is_ep[epfd] = 1;
	if (r == 0 && op == EPOLL_CTL_ADD)
		note_nested(fd);
	if (r == 0 && hs.tab && (hs_get(fd) || op == EPOLL_CTL_DEL))
		ep_track(epfd, op, fd, ev, add_in);
	return r;
}

/* Take the EPOLLIN we added (epoll_ctl) out of @r events; how many remain. */
static int ep_out(int epfd, struct epoll_event *evs, int r)
{
	struct ep_item *it;
	int i, k = 0;
	size_t j;

	if (r <= 0 || !atomic_load_explicit(&eps.added_in, memory_order_relaxed))
		return r;
	chan_lock(&eps.lock);
	for (i = 0; i < r; i++) {
		for (j = 0, it = NULL; j < eps.n && !it; j++)
			if (eps.items[j].epfd == epfd && eps.items[j].added_in &&
			    !memcmp(&eps.items[j].ev.data, &evs[i].data, sizeof(evs[i].data)))
				it = &eps.items[j];
		if (it)
			evs[i].events &= ~(uint32_t)(EPOLLIN | EPOLLRDNORM);
		if (!it || evs[i].events)
			evs[k++] = evs[i];
	}
	chan_unlock(&eps.lock);
	return k;
}

/* Append ring-ready tracked items of @epfd not already reported. */
static int ep_merge(int epfd, struct epoll_event *evs, int max, int r)
{
	size_t i;
	int k;

	if (r < 0)
		return r;
	chan_lock(&eps.lock);
	for (i = 0; i < eps.n && r < max; i++) {
		struct ep_item *it = &eps.items[i];

		if (it->epfd != epfd || it->disabled || !(it->ev.events & EPOLLIN) ||
		    !ring_ready(it->fd))
			continue;
		for (k = 0; k < r && memcmp(&evs[k].data, &it->ev.data, sizeof(it->ev.data)); k++)
			;
		if (k < r) {
			evs[k].events |= EPOLLIN;
			continue;
		}
		evs[r].events = EPOLLIN;
		evs[r++].data = it->ev.data;
		if (it->ev.events & EPOLLONESHOT)
			it->disabled = true;
	}
	chan_unlock(&eps.lock);
	return r;
}

static bool ep_any(int epfd)
{
	bool any = false;
	size_t i;

	chan_lock(&eps.lock);
	for (i = 0; i < eps.n && !any; i++)
		any = eps.items[i].epfd == epfd && !eps.items[i].disabled &&
		      (eps.items[i].ev.events & EPOLLIN) && ring_ready(eps.items[i].fd);
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

/* Apply quiet (disarm) or rearm to the accelerated fds of @epfd. */
static bool ep_each(int epfd, bool rearm)
{
	bool data = false;
	size_t i;

	chan_lock(&eps.lock);
	for (i = 0; i < eps.n; i++) {
		struct ep_item *it = &eps.items[i];
		struct hs_conn *c = hs_get(it->fd);

		if (it->epfd != epfd || !c || c->plain || !c->ch)
			continue;
		if (!rearm)
			hs_rx_quiet(c);
		else if (hs_rx_rearm(c, it->fd) && !it->disabled)
			data = true;
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
			r = ep_merge(epfd, evs, max, real_epoll_pwait(epfd, evs, max, 0, mask));
		else if (!(i & 255))
			r = real_epoll_pwait(epfd, evs, max, 0, mask);
		if (r || hs_now_ns() > end)
			break;
		__builtin_ia32_pause();
	}
	hs_spin_exit();
	return r;
}

static int ep_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
		    const sigset_t *mask)
{
	int r;

	resolve();
	if (max > 0 && eps.n && ep_any(epfd))
		return ep_merge(epfd, evs, max, real_epoll_pwait(epfd, evs, max, 0, mask));
	if (max > 0 && eps.n && timeout != 0) {
		r = ep_spin(epfd, evs, max, mask);
		if (r)
			return r;
		if (ep_each(epfd, true))	/* armed; bytes came meanwhile */
			return ep_merge(epfd, evs, max, real_epoll_pwait(epfd, evs, max, 0, mask));
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
 * A wait woken only by an EPOLLIN we added (ep_out) and nothing else is
 * not a wake-up for the application: wait again for the time left.
 */
EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
		       const sigset_t *mask)
{
	uint64_t end = timeout > 0 ? hs_now_ns() + (uint64_t)timeout * 1000000 : 0, t;
	int r;

	resolve();
	for (;;) {
		r = ep_pwait(epfd, evs, max, timeout, mask);
		if (r <= 0 || (r = ep_out(epfd, evs, r)) || !timeout)
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
