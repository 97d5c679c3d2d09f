// SPDX-License-Identifier: GPL-2.0
/*
 * The interposed libc entry points of libhsock.so (the only exported
 * symbols; see libhsock.map).  Each one looks the fd up in the per-fd
 * table; an fd without a switched-capable channel goes straight to libc,
 * so unrelated fds pay one table load.  Environment (read once, at load):
 *   HSOCK_GSHM  backend (ial.h)       HSOCK_ALLOW  allowlist file (allow.h)
 *   HSOCK_STATS stats file            HSOCK_RING   ring bytes per direction
 *   HSOCK_RESERVE fixed per-connection reserve, populated up front (baseline)
 *   HSOCK_RECORDS=0 byte rings instead of records   HSOCK_POOL, HSOCK_REC_LIMIT
 *   HSOCK_POLL_US busy-poll budget    HSOCK_SPINNERS busy-pollers per process
 *   HSOCK_DISABLE=1 pass everything through
 * Start-up problems (bad allowlist, missing device) are reported once on
 * stderr with the prefix "hsock:", the only output of the library: it runs
 * inside programs that do not know about it and has no other channel.
 */
#include "hsock/hsock_int.h"
#include "hsock/allow.h"
#include "hsock/ial.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define TAB_LEN (1 << 20)

struct hs_global hs;

static void say(const char *what)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "hsock: %s\n", what);

	if (hs.real.write && n > 0)
		hs.real.write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void *dlsym_next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

#define RESOLVE(f) (hs.real.f = (typeof(hs.real.f))dlsym(RTLD_NEXT, #f))

static void resolve(void)
{
	RESOLVE(connect); RESOLVE(accept); RESOLVE(accept4); RESOLVE(close);
	RESOLVE(close_range); RESOLVE(shutdown); RESOLVE(read); RESOLVE(write);
	RESOLVE(readv); RESOLVE(writev); RESOLVE(recv); RESOLVE(send);
	RESOLVE(recvfrom); RESOLVE(sendto); RESOLVE(recvmsg); RESOLVE(sendmsg);
	RESOLVE(sendfile); RESOLVE(dup); RESOLVE(dup2); RESOLVE(dup3);
	RESOLVE(fcntl); RESOLVE(ioctl); RESOLVE(fork); RESOLVE(sendmmsg);
	RESOLVE(recvmmsg); RESOLVE(splice);
}

static uint32_t env_size(const char *name, uint32_t def, uint32_t lo, uint32_t hi)
{
	const char *s = getenv(name);
	char *end, msg[160];
	unsigned long long v;

	if (!s || !*s)
		return def;
	v = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (!*end && v >= lo && v <= hi && !(v & (v - 1)))
		return (uint32_t)v;
	snprintf(msg, sizeof(msg), "%s=%s: not a power of two in [%u, %u]; using %u", name, s, lo, hi, def);
	say(msg);
	return def;
}

static void load_allow(void)
{
	const char *path = getenv("HSOCK_ALLOW");
	char err[512] = "", msg[600];

	if (!path || !*path)
		return;
	if (hsock_allow_load(path, &hs.allow, err, sizeof(err)) == 0)
		return;
	snprintf(msg, sizeof(msg), "%s; no link may switch", err);
	say(msg);
	hsock_allow_parse(path, "", 0, &hs.allow, err, sizeof(err));
}

/* A dax device holds the pool whole (ial.h): records need it to fit. */
static void pool_too_big(void)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: HSOCK_POOL=%zuM does not fit in its %zuM; no records, channels keep their rings in it (set HSOCK_POOL lower)",
		 getenv("HSOCK_GSHM"), ((size_t)hs.pool_nr * HSOCK_PAGE) >> 20,
		 ial_capacity(hs.ial) >> 20);
	say(msg);
	hs.records = false;
}

static void load_config(void)
{
	const char *s;
	char err[512] = "";
	long us;

	hs.ring = env_size("HSOCK_RING", 1u << 20, 4096, 1u << 28);
	hs.reserve = env_size("HSOCK_RESERVE", 0, 4096, 1u << 28);
	s = getenv("HSOCK_RECORDS");
	hs.records = !hs.reserve && hs.ring <= HSOCK_SLOTS_MAX * HSOCK_PAGE &&
		     !(s && !strcmp(s, "0"));
	hs.pool_nr = env_size("HSOCK_POOL", 1u << 30, 1u << 20, 1u << 31) / HSOCK_PAGE;
	hs.rec_limit = env_size("HSOCK_REC_LIMIT", 1u << 26, 1u << 16, 1u << 31) / HSOCK_PAGE;
	s = getenv("HSOCK_POLL_US");
	us = s ? atol(s) : 200;
	hs.spin_max_ns = (uint32_t)(us < 1 ? 1000 : us > 100000 ? 100000000 : us * 1000);
	s = getenv("HSOCK_SPINNERS");
	hs.max_spinners = s ? atoi(s) : (int)sysconf(_SC_NPROCESSORS_ONLN) / 2;
	if (hs.max_spinners < 1)
		hs.max_spinners = 1;
	s = getenv("HSOCK_STATS");
	if (s)
		snprintf(hs.stats_path, sizeof(hs.stats_path), "%s", s);
	load_allow();
	if (ial_open(getenv("HSOCK_GSHM"), &hs.ial, err, sizeof(err)))
		say(err);
	else if (hs.records &&	/* records, their links, 1M for the rest */
		 (size_t)hs.pool_nr * (HSOCK_PAGE + 8) + (1u << 20) > ial_capacity(hs.ial))
		pool_too_big();
}

void hs_init(void)
{
	static _Atomic int once;
	const char *s;
	int z = 0;
	void *tab;

	if (!atomic_compare_exchange_strong(&once, &z, 1))
		return;
	resolve();
	tab = mmap(NULL, TAB_LEN * sizeof(*hs.tab), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (tab != MAP_FAILED) {
		hs.tab = tab;
		hs.tab_len = TAB_LEN;
	}
	s = getenv("HSOCK_DISABLE");
	hs.enabled = hs.tab && !(s && !strcmp(s, "1"));
	if (hs.enabled)
		load_config();
	hs.ready = true;
	if (hs.enabled)
		hs_reattach_inherited();
}

__attribute__((constructor)) static void hs_ctor(void)
{
	hs_init();
}

__attribute__((destructor)) static void hs_dtor(void)
{
	if (hs.enabled)
		hs_stats_dump();
	if (hs.enabled)
		hs_release_all();
}

#define REAL(f) (hs.ready ? hs.real.f : (hs_init(), hs.real.f))

/* The connection of @fd if its data path is ours (attach a late connect). */
static struct hs_conn *io_conn(int fd)
{
	struct hs_conn *c = hs_get(fd);
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	if (!c || c->plain)
		return NULL;
	if (c->pending) {
		if (getpeername(fd, (void *)&ss, &l))
			return NULL;
		if (hs_attach(c, fd)) {
			c->plain = true;
			return NULL;
		}
	}
	return c->ch ? c : NULL;
}

static ssize_t rx1(struct hs_conn *c, int fd, void *buf, size_t len, int flags)
{
	struct iovec v = { buf, len };

	return hs_rx(c, fd, &v, 1, flags);
}

static ssize_t tx1(struct hs_conn *c, int fd, const void *buf, size_t len, int flags)
{
	struct iovec v = { (void *)buf, len };

	return hs_tx(c, fd, &v, 1, flags);
}

#define RX_FLAGS (MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_CMSG_CLOEXEC | MSG_NOSIGNAL)
#define TX_FLAGS (MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE | MSG_EOR)

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	struct hs_conn *c = io_conn(fd);

	return c ? rx1(c, fd, buf, len, 0) : REAL(read)(fd, buf, len);
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		abort();
	return read(fd, buf, len);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	struct hs_conn *c = io_conn(fd);

	return c ? tx1(c, fd, buf, len, 0) : REAL(write)(fd, buf, len);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
	struct hs_conn *c = io_conn(fd);

	if (c && n >= 0 && n <= IOV_MAX)
		return hs_rx(c, fd, iov, n, 0);
	return REAL(readv)(fd, iov, n);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	struct hs_conn *c = io_conn(fd);

	if (c && n >= 0 && n <= IOV_MAX)
		return hs_tx(c, fd, iov, n, 0);
	return REAL(writev)(fd, iov, n);
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct hs_conn *c = io_conn(fd);

	if (c && !(flags & ~RX_FLAGS))
		return rx1(c, fd, buf, len, flags);
	return REAL(recv)(fd, buf, len, flags);
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		abort();
	return recv(fd, buf, len, flags);
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct hs_conn *c = io_conn(fd);

	if (c && !(flags & ~TX_FLAGS))
		return tx1(c, fd, buf, len, flags);
	return REAL(send)(fd, buf, len, flags);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
			struct sockaddr *addr, socklen_t *alen)
{
	struct hs_conn *c = io_conn(fd);
	ssize_t r;

	if (!c || (flags & ~RX_FLAGS))
		return REAL(recvfrom)(fd, buf, len, flags, addr, alen);
	r = rx1(c, fd, buf, len, flags);
	if (r >= 0 && addr && alen)
		*alen = 0;	/* TCP reports no source address */
	return r;
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
			      int flags, struct sockaddr *addr, socklen_t *alen)
{
	if (len > buflen)
		abort();
	return recvfrom(fd, buf, len, flags, addr, alen);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *addr, socklen_t alen)
{
	struct hs_conn *c = io_conn(fd);

	if (c && !(flags & ~TX_FLAGS))
		return tx1(c, fd, buf, len, flags);
	return REAL(sendto)(fd, buf, len, flags, addr, alen);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	struct hs_conn *c = io_conn(fd);
	ssize_t r;

	if (!c || (flags & ~RX_FLAGS) || m->msg_iovlen > IOV_MAX)
		return REAL(recvmsg)(fd, m, flags);
	r = hs_rx(c, fd, m->msg_iov, (int)m->msg_iovlen, flags & ~MSG_CMSG_CLOEXEC);
	if (r >= 0) {
		m->msg_namelen = 0;
		m->msg_controllen = 0;
		m->msg_flags = 0;
	}
	return r;
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	struct hs_conn *c = io_conn(fd);

	if (c && !(flags & ~TX_FLAGS) && !m->msg_controllen && m->msg_iovlen <= IOV_MAX)
		return hs_tx(c, fd, m->msg_iov, (int)m->msg_iovlen, flags);
	return REAL(sendmsg)(fd, m, flags);
}

/*
 * sendmmsg/recvmmsg on an accelerated socket: the kernel's own loops
 * (net/socket.c) over sendmsg/recvmsg, run over ours.  As in the kernel:
 * the count of messages done, or -1 when the first one fails; a stream
 * socket's EOF is a 0-byte message; MSG_WAITFORONE makes the calls after
 * the first non-blocking; the timeout is checked after each message.
 */
EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	struct hs_conn *c = io_conn(fd);
	unsigned int i;
	ssize_t r;

	if (!c)
		return REAL(sendmmsg)(fd, v, n, flags);
	if (n > IOV_MAX)
		n = IOV_MAX;
	for (i = 0; i < n; i++) {
		r = sendmsg(fd, &v[i].msg_hdr, flags);
		if (r < 0)
			return i ? (int)i : -1;
		v[i].msg_len = (unsigned int)r;
	}
	return (int)i;
}

/* Time left until @end (0 when past): the kernel writes it back to *tmo. */
static bool left(const struct timespec *end, struct timespec *out)
{
	struct timespec t;
	long long ns;

	clock_gettime(CLOCK_MONOTONIC, &t);
	ns = (end->tv_sec - t.tv_sec) * 1000000000LL + (end->tv_nsec - t.tv_nsec);
	if (ns < 0)
		ns = 0;
	out->tv_sec = ns / 1000000000LL;
	out->tv_nsec = ns % 1000000000LL;
	return ns > 0;
}

EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags,
		    struct timespec *tmo)
{
	struct hs_conn *c = io_conn(fd);
	struct timespec end;
	unsigned int done = 0;
	ssize_t r;

	if (!c || !n || (flags & ~(RX_FLAGS | MSG_WAITFORONE)))
		return REAL(recvmmsg)(fd, v, n, flags, tmo);
	if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000L)) {
		errno = EINVAL;
		return -1;
	}
	if (tmo) {
		clock_gettime(CLOCK_MONOTONIC, &end);
		end.tv_sec += tmo->tv_sec + (end.tv_nsec + tmo->tv_nsec) / 1000000000L;
		end.tv_nsec = (end.tv_nsec + tmo->tv_nsec) % 1000000000L;
	}
	while (done < n) {
		r = recvmsg(fd, &v[done].msg_hdr, flags & ~MSG_WAITFORONE);
		if (r < 0)
			break;
		v[done++].msg_len = (unsigned int)r;
		if (flags & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
		if (tmo && !left(&end, tmo))
			break;
	}
	if (tmo && done < n)
		left(&end, tmo);
	return done ? (int)done : -1;
}

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	struct hs_conn *c = io_conn(out);

	return c ? hs_sendfile(c, out, in, off, count) : REAL(sendfile)(out, in, off, count);
}

/*
 * splice with an accelerated socket at one end (the other is a pipe).
 * Bytes in the ring move with one copy, the kernel's: the pipe is written
 * from, or read into, the ring itself (io.c, hs_rx_pipe/hs_tx_pipe).
 * Bytes that are not in the ring (TCP before the switch, writes after the
 * peer closed) move through a buffer, never lost on a short transfer:
 *   socket -> pipe: peek at most the pipe's free space, write that to the
 *     pipe (it cannot block), then consume what the pipe took.
 *   pipe -> socket: tee the pipe into a private pipe (the data stays in
 *     the caller's pipe), send it, then consume from the caller's pipe
 *     exactly what was sent.
 * SPLICE_F_NONBLOCK makes the pipe end non-blocking; the socket end
 * blocks unless it is O_NONBLOCK itself, as in the kernel.  Not
 * atomic against another reader of the same pipe or socket between the
 * peek (tee) and the consume.
 */
#define SPLICE_BUF 65536

/* Bytes ready in pipe @fd (any when @out: free room), or -1 if not a pipe. */
static int pipe_bytes(int fd, bool out)
{
	int size = REAL(fcntl)(fd, F_GETPIPE_SZ), queued;

	if (size < 0 || REAL(ioctl)(fd, FIONREAD, &queued) < 0) {
		errno = EINVAL;		/* not a pipe, as the kernel says */
		return -1;
	}
	return out ? size - queued : queued;
}

/*
 * Wait until pipe @fd has room (@out) or bytes, as splice does (not with
 * @nb or an O_NONBLOCK pipe): > 0 when it has, 0 when it is empty without
 * writers, -1 with errno.
 */
static int pipe_wait(int fd, bool out, bool nb)
{
	struct pollfd p = { fd, out ? POLLOUT : POLLIN, 0 };
	int k;

	for (;;) {
		k = pipe_bytes(fd, out);
		if (k)
			return k;
		if (!out && poll(&p, 1, 0) == 1 && !(p.revents & POLLIN))
			return 0;		/* POLLHUP: no writer left */
		if (nb || (REAL(fcntl)(fd, F_GETFL) & O_NONBLOCK)) {
			errno = EAGAIN;
			return -1;
		}
		if (poll(&p, 1, -1) < 0)
			return -1;
	}
}

/* socket -> pipe through a buffer (bytes outside the ring). */
static ssize_t copy_from_sock(struct hs_conn *c, int in, int out, size_t len,
			      bool nb)
{
	static __thread char buf[SPLICE_BUF];
	struct iovec v = { buf, 0 };
	ssize_t r, w;
	int room = pipe_wait(out, true, nb);

	if (room < 0)
		return -1;
	v.iov_len = len < SPLICE_BUF ? len : SPLICE_BUF;
	if (v.iov_len > (size_t)room)
		v.iov_len = room;
	r = hs_rx(c, in, &v, 1, MSG_PEEK);
	if (r <= 0)
		return r;
	w = REAL(write)(out, buf, r);
	if (w <= 0)
		return w;
	v.iov_len = w;
	return hs_rx(c, in, &v, 1, MSG_DONTWAIT);
}

static ssize_t splice_from_sock(struct hs_conn *c, int in, int out, size_t len,
				bool nb)
{
	char x;
	struct iovec v = { &x, 1 };
	ssize_t r;

	if (REAL(fcntl)(out, F_GETPIPE_SZ) < 0) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		r = hs_rx_pipe(c, in, out, len);
		if (r > 0)
			return r;
		if (r == -ENOTSUP)
			return copy_from_sock(c, in, out, len, nb);
		if (r == -EAGAIN)	/* ring empty: wait as a read would */
			r = hs_rx(c, in, &v, 1, MSG_PEEK);
		else if (r == -ENOBUFS)	/* pipe full */
			r = pipe_wait(out, true, nb);
		else {
			errno = -r;
			r = -1;
		}
		if (r <= 0)
			return r;
	}
}

/* pipe -> socket through buffers (bytes that do not go to the ring). */
static ssize_t copy_to_sock(struct hs_conn *c, int in, int out, size_t len,
			    bool nb)
{
	static __thread char buf[SPLICE_BUF], scratch[SPLICE_BUF];
	struct iovec v = { buf, 0 };
	int tp[2], e;
	ssize_t k, r, w = -1;

	if (pipe2(tp, O_CLOEXEC | O_NONBLOCK))
		return -1;
	k = tee(in, tp[1], len < SPLICE_BUF ? len : SPLICE_BUF, nb ? SPLICE_F_NONBLOCK : 0);
	if (k <= 0) {
		w = k;
		goto out;
	}
	r = REAL(read)(tp[0], buf, k);
	if (r != k)
		goto out;
	v.iov_len = k;
	w = hs_tx(c, out, &v, 1, 0);
	if (w > 0 && REAL(read)(in, scratch, w) != w)
		w = -1;		/* another reader took them meanwhile */
out:
	e = errno;
	REAL(close)(tp[0]);
	REAL(close)(tp[1]);
	errno = e;
	return w;
}

static ssize_t splice_to_sock(struct hs_conn *c, int in, int out, size_t len,
			      bool nb)
{
	ssize_t w;

	if (REAL(fcntl)(in, F_GETPIPE_SZ) < 0) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		w = hs_tx_pipe(c, out, in, len);
		if (w > 0)
			return w;
		if (w == -ENOTSUP)
			return copy_to_sock(c, in, out, len, nb);
		if (w < 0) {
			errno = -w;
			return -1;
		}
		w = pipe_wait(in, false, nb);	/* the pipe is empty */
		if (w <= 0)
			return w;
	}
}

EXPORT ssize_t splice(int in, loff_t *offin, int out, loff_t *offout, size_t len,
		      unsigned int flags)
{
	struct hs_conn *ci = io_conn(in), *co = ci ? NULL : io_conn(out);
	bool nb = flags & SPLICE_F_NONBLOCK;

	if (!ci && !co)
		return REAL(splice)(in, offin, out, offout, len, flags);
	if ((ci && offin) || (co && offout)) {
		errno = ESPIPE;
		return -1;
	}
	if (!len)
		return 0;
	return ci ? splice_from_sock(ci, in, out, len, nb) :
		    splice_to_sock(co, in, out, len, nb);
}

EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
	return sendfile(out, in, off, count);
}

EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int r = REAL(connect)(fd, sa, len), e = errno;

	if (r == 0 || e == EINPROGRESS) {
		hs_track(fd, 0, r != 0);
		errno = e;
	}
	return r;
}

EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	int r = REAL(accept)(fd, sa, len);

	if (r >= 0)
		hs_track(r, 1, false);
	return r;
}

EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	int r = REAL(accept4)(fd, sa, len, flags);

	if (r >= 0)
		hs_track(r, 1, false);
	return r;
}

EXPORT int close(int fd)
{
	if (hs.tab) {
		hs_put(fd);
		hs_ep_forget(fd);
	}
	return REAL(close)(fd);
}

EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	unsigned int fd;

	if (hs.tab && !(flags & CLOSE_RANGE_CLOEXEC))
		for (fd = first; fd <= last && fd < (unsigned int)hs.tab_len; fd++)
			hs_put((int)fd);
	return REAL(close_range)(first, last, flags);
}

/*
 * A stdio stream on a socket reads and writes through libc's internal
 * calls, which hsock cannot see: the connection stays TCP where it has
 * not switched yet (io.c, hs_unseen); one that has cannot be taken back.
 */
EXPORT FILE *fdopen(int fd, const char *mode)
{
	static typeof(fdopen) *real_fdopen;
	struct hs_conn *c = hs_get(fd);

	if (!real_fdopen)
		real_fdopen = dlsym_next("fdopen");
	if (c && c->pending)
		c->plain = true;	/* never attached: the peer cannot switch */
	else if (c && !c->plain && c->ch && !hs_unseen(c))
		fprintf(stderr, "hsock: fdopen(%d) after the connection switched to "
			"shared memory: stdio on it bypasses hsock\n", fd);
	return real_fdopen(fd, mode);
}

EXPORT int shutdown(int fd, int how)
{
	struct hs_conn *c = io_conn(fd);

	if (c && (how == SHUT_WR || how == SHUT_RDWR))
		hs_shutdown_wr(c);
	if (c && (how == SHUT_RD || how == SHUT_RDWR))
		c->rd_shut = true;
	return REAL(shutdown)(fd, how);
}

EXPORT int dup(int fd)
{
	int r = REAL(dup)(fd);

	if (r >= 0)
		hs_dup(fd, r);
	return r;
}

/* dup2/dup3 close @nfd first: release its channel while it is still it. */
static void pre_replace(int ofd, int nfd)
{
	if (ofd != nfd && hs_get(nfd) && REAL(fcntl)(ofd, F_GETFD) >= 0)
		hs_put(nfd);
}

EXPORT int dup2(int ofd, int nfd)
{
	int r;

	pre_replace(ofd, nfd);
	r = REAL(dup2)(ofd, nfd);
	if (r >= 0)
		hs_dup(ofd, r);
	return r;
}

EXPORT int dup3(int ofd, int nfd, int flags)
{
	int r;

	pre_replace(ofd, nfd);
	r = REAL(dup3)(ofd, nfd, flags);
	if (r >= 0)
		hs_dup(ofd, r);
	return r;
}

static int do_fcntl(int fd, int cmd, long arg)
{
	struct hs_conn *c;
	int r = REAL(fcntl)(fd, cmd, arg);

	if (r < 0)
		return r;
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		hs_dup(fd, r);
	else if (cmd == F_SETFL && (c = hs_get(fd))) {
		c->nonblock = arg & O_NONBLOCK;
		c->async = arg & O_ASYNC;
		hs_rx_async(c);
	}
	return r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct hs_conn *c;
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	c = hs_get(fd);
	if (req == FIONREAD && (c = io_conn(fd)))
		return hs_fionread(c, fd, arg);
	r = REAL(ioctl)(fd, req, arg);
	if (r == 0 && req == FIONBIO && c)
		c->nonblock = *(int *)arg;
	if (r == 0 && req == FIOASYNC && c) {
		c->async = *(int *)arg;
		hs_rx_async(c);
	}
	return r;
}

EXPORT pid_t fork(void)
{
	pid_t r;

	if (hs.tab)
		hs_fork_hold(1);
	r = REAL(fork)();
	if (r < 0 && hs.tab)
		hs_fork_hold(-1);
	if (r == 0)
		hs_stat_reset();
	return r;
}
