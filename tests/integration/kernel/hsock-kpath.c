// SPDX-License-Identifier: GPL-2.0
/*
 * hsock-kpath CASE PORT: cases of hsock on the /dev/hsock path that only
 * make sense there, run in the qemu guest under hsock-run by
 * tests/integration/hsock/guest-matrix.  Prints one line: "ok ..." or
 * "error ...".  A forked server, this process the client; every case first
 * exchanges two sync rounds so that hsock has switched to GShm.
 *
 *   exec-writer  the client writes half of a 1 MiB pattern stream, execs
 *                itself mid-stream and writes the rest; the server checks
 *                every byte (the exec'd writer continues the records ring)
 *   exec-reader  the server streams 1 MiB; the client reads a third, execs
 *                and checks every byte of the rest
 *   liar         the server rewrites the records it linked for the client
 *                with one the module never committed to the connection
 *                (through its own mapping of the module's conn page); the
 *                client's read must fail with ECONNRESET, not SIGSEGV, and
 *                a second connection must keep working
 *   liar-tail    the server rewrites the tail of the client's send ring;
 *                the client's next write must fail (ECONNRESET), not hang
 *   notify       12 connections of 512 KiB each from blocking writer
 *                threads (they fill the ring and sleep in the module,
 *                woken by the reader's release) to a server reading a
 *                third with blocking threads, a third non-blocking with
 *                poll() and a third with edge-triggered epoll; every byte
 *                checked, within a deadline (a lost wake-up stalls); the
 *                module's counters show the waits and no waiter left armed
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel/uapi/hsock.h"
#include "tests/integration/hsock/probe.h"

#define STREAM	(1u << 20)
#define CHUNK	3000u	/* not a page multiple: pages are split across calls */

static int port;

/* Write pattern bytes [from, to) in CHUNK pieces. */
static void send_pattern(int fd, uint64_t from, uint64_t to)
{
	uint8_t buf[CHUNK];
	size_t n, i;

	while (from < to) {
		n = to - from < CHUNK ? to - from : CHUNK;
		for (i = 0; i < n; i++)
			buf[i] = pat(from + i);
		write_all(fd, buf, n);
		from += n;
	}
}

/* Read and check pattern bytes [from, to); returns the first bad offset. */
static uint64_t check_pattern(int fd, uint64_t from, uint64_t to)
{
	uint8_t buf[CHUNK];
	size_t n, got, i;

	while (from < to) {
		n = to - from < CHUNK ? to - from : CHUNK;
		got = read_n(fd, buf, n);
		for (i = 0; i < got; i++)
			if (buf[i] != pat(from + i))
				return from + i;
		if (got < n)
			return from + got;
		from += n;
	}
	return to;
}

/* Read a NUL-terminated reply into @buf (at most @len - 1 characters). */
static void read_msg(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len && read_n(fd, buf + n, 1) == 1 && buf[n])
		n++;
	buf[n] = 0;
}

static int listen_on(int p)
{
	return probe_listen4(p);
}

static int dial(int p)
{
	int fd = probe_dial4(p);

	sync2(fd, false);
	return fd;
}

/* Fork a server running @fn(fd, arg) on one accepted, synced connection. */
static pid_t serve(int p, void (*fn)(int, void *), void *arg)
{
	int l = listen_on(p);
	pid_t pid = fork();

	if (pid == 0) {
		int fd = accept(l, NULL, NULL);

		close(l);
		sync2(fd, true);
		fn(fd, arg);
		exit(0);
	}
	close(l);
	return pid;
}

static int reap(pid_t pid)
{
	int st = 0;

	waitpid(pid, &st, 0);
	return st;
}

/* ---- exec ---- */

static void srv_check(int fd, void *arg)
{
	uint64_t bad = check_pattern(fd, 0, STREAM);
	char msg[64];

	(void)arg;
	snprintf(msg, sizeof(msg), "%" PRIu64, bad);
	write_all(fd, msg, strlen(msg) + 1);
	close(fd);
}

static void srv_stream(int fd, void *arg)
{
	(void)arg;
	send_pattern(fd, 0, STREAM);
	read_n(fd, &arg, 1);	/* until the client is done */
	close(fd);
}

static void exec_self(const char *self, const char *role, int fd, uint64_t off,
		      pid_t srv)
{
	char a[3][32];

	snprintf(a[0], sizeof(a[0]), "%d", fd);
	snprintf(a[1], sizeof(a[1]), "%" PRIu64, off);
	snprintf(a[2], sizeof(a[2]), "%d", (int)srv);
	execl(self, self, role, a[0], a[1], a[2], (char *)NULL);
	die("exec");
}

static void case_exec_writer(const char *self)
{
	pid_t srv = serve(port, srv_check, NULL);
	int fd = dial(port);

	send_pattern(fd, 0, STREAM / 2 + 1234);
	exec_self(self, "exec-writer-2", fd, STREAM / 2 + 1234, srv);
}

static void exec_writer_2(int fd, uint64_t off, pid_t srv)
{
	char msg[64] = "";

	send_pattern(fd, off, STREAM);
	read_msg(fd, msg, sizeof(msg));
	reap(srv);
	if (strtoull(msg, NULL, 10) == STREAM)
		printf("ok exec-writer: server checked %u bytes, half written after exec\n",
		       STREAM);
	else
		printf("error exec-writer: server saw a bad byte at %s\n", msg);
}

static void case_exec_reader(const char *self)
{
	pid_t srv = serve(port, srv_stream, NULL);
	int fd = dial(port);
	uint64_t bad = check_pattern(fd, 0, STREAM / 3);

	if (bad != STREAM / 3) {
		printf("error exec-reader: bad byte at %" PRIu64 " before exec\n", bad);
		exit(1);
	}
	exec_self(self, "exec-reader-2", fd, STREAM / 3, srv);
}

static void exec_reader_2(int fd, uint64_t off, pid_t srv)
{
	uint64_t bad = check_pattern(fd, off, STREAM);

	write_all(fd, "d", 1);
	reap(srv);
	if (bad == STREAM)
		printf("ok exec-reader: %u bytes checked, two thirds read after exec\n",
		       STREAM);
	else
		printf("error exec-reader: bad byte at %" PRIu64 " after exec\n", bad);
}

/* ---- liar ---- */

/*
 * This process's mapping of its module conn page, found in /proc/self/maps
 * (the library's own mapping); @side gets the module side it holds.
 */
static struct hsock_conn_page *my_conn_page(unsigned int *side)
{
	unsigned long lo, off;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	void *found = NULL;

	if (!f)
		return NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		if (!strstr(line, "/dev/hsock") ||
		    sscanf(line, "%lx-%*x %*s %lx", &lo, &off) != 2)
			continue;
		if (off >= HSOCK_MMAP_CONN_BASE && off < HSOCK_MMAP_VIEW_BASE) {
			*side = HSOCK_HANDLE_SIDE((off - HSOCK_MMAP_CONN_BASE) >> 12);
			found = (void *)lo;
		}
	}
	fclose(f);
	return found;
}

struct liar {
	int go[2];	/* server -> client: lies are in place */
	bool tail;	/* lie about the client's tail, not our records */
};

static void srv_liar(int fd, void *arg)
{
	struct liar *l = arg;
	struct hsock_conn_page *cp;
	struct hsock_ring *tx;
	unsigned int side = 0, i, lies = 0;
	char b;

	send_pattern(fd, 0, 3 * 4096 + 100);
	cp = my_conn_page(&side);
	if (!cp) {
		write_all(l->go[1], "n", 1);
		return;
	}
	tx = &cp->ring[side];
	if (l->tail) {
		__atomic_store_n(&cp->ring[!side].tail, 0x7fff0000u, __ATOMIC_RELEASE);
		lies = 1;
	}
	/* the last record index: the module hands it out last, so it is free */
	for (i = 0; !l->tail && i < HSOCK_RING_SLOTS; i++) {
		if (tx->slot[i].rec != HSOCK_NIL) {
			__atomic_store_n(&tx->slot[i].rec, 255, __ATOMIC_RELEASE);
			lies++;
		}
	}
	write_all(l->go[1], lies ? "y" : "n", 1);
	read_n(fd, &b, 1);
	close(fd);
}

static void srv_echo(int fd, void *arg)
{
	char buf[4096];
	ssize_t r;

	(void)arg;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		write_all(fd, buf, (size_t)r);
}

static void case_liar(bool tail)
{
	struct liar l = { .tail = tail };
	static char big[100000];
	pid_t srv, echo;
	int fd, fd2, e;
	char b = 0, buf[4096];
	ssize_t r;
	size_t got = 0;

	if (pipe(l.go))
		die("pipe");
	srv = serve(port, srv_liar, &l);
	fd = dial(port);
	echo = serve(port + 100, srv_echo, NULL);
	fd2 = dial(port + 100);
	if (read_n(l.go[0], &b, 1) != 1 || b != 'y') {
		printf("error liar: the server found no linked record to lie about (%c)\n", b);
		exit(1);
	}
	if (tail) {	/* our writes: the first ones past the lie must fail */
		while ((r = write(fd, big, sizeof(big))) > 0 && got < (8u << 20))
			got += (size_t)r;
	} else {
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			got += (size_t)r;
	}
	e = errno;
	write_all(fd2, "still alive", 12);
	b = read_n(fd2, buf, 12) == 12 && !strcmp(buf, "still alive");
	close(fd2);
	close(fd);
	reap(srv);
	kill(echo, SIGTERM);
	reap(echo);
	if (r < 0 && e == ECONNRESET && b)
		printf("ok %s: %s %zu bytes then ECONNRESET; other connection fine\n",
		       tail ? "liar-tail" : "liar", tail ? "wrote" : "read", got);
	else
		printf("error %s: %s returned %zd (%s) after %zu bytes; other connection %s\n",
		       tail ? "liar-tail" : "liar", tail ? "write" : "read", r,
		       r < 0 ? strerror(e) : "no error", got, b ? "fine" : "broken");
}

/* ---- notify ---- */

#define NCONN	12
#define NBYTES	(512u << 10)

struct rx {
	int fd;
	uint64_t got;		/* pattern bytes checked */
	uint64_t bad;		/* first bad offset, or NBYTES */
};

/* Check what @fd has now (non-blocking); true at the end of the stream. */
static bool rx_some(struct rx *x)
{
	uint8_t buf[CHUNK];
	ssize_t r;
	size_t i;

	for (;;) {
		r = read(x->fd, buf, sizeof(buf));
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return false;
		if (r <= 0)
			return true;
		for (i = 0; i < (size_t)r && x->bad == NBYTES; i++)
			if (buf[i] != pat(x->got + i))
				x->bad = x->got + i;
		x->got += (uint64_t)r;
		if (x->got >= NBYTES)
			return true;
	}
}

static void rx_reply(struct rx *x)
{
	char msg[32];

	snprintf(msg, sizeof(msg), "%" PRIu64, x->got == NBYTES ? x->bad : x->got);
	write_all(x->fd, msg, strlen(msg) + 1);
}

static void *rx_blocking(void *arg)
{
	struct rx *x = arg;

	x->bad = check_pattern(x->fd, 0, NBYTES);
	x->got = NBYTES;
	rx_reply(x);
	return NULL;
}

static void *rx_poll(void *arg)
{
	struct rx *x = arg;
	struct pollfd p = { .fd = x->fd, .events = POLLIN };

	fcntl(x->fd, F_SETFL, O_NONBLOCK);
	while (!rx_some(x))
		poll(&p, 1, -1);
	fcntl(x->fd, F_SETFL, 0);
	rx_reply(x);
	return NULL;
}

/* One thread, every edge-triggered connection. */
static void *rx_epoll(void *arg)
{
	struct rx *xs = arg, *x;
	struct epoll_event ev, evs[NCONN];
	int ep = epoll_create1(0), left = 0, n, i;

	for (i = 0; i < NCONN; i += 3) {
		fcntl(xs[i].fd, F_SETFL, O_NONBLOCK);
		ev.events = EPOLLIN | EPOLLET;
		ev.data.ptr = &xs[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, xs[i].fd, &ev);
		left++;
	}
	while (left > 0) {
		n = epoll_wait(ep, evs, NCONN, -1);
		for (i = 0; i < n; i++) {
			x = evs[i].data.ptr;
			if (x->got >= NBYTES || !rx_some(x))
				continue;
			epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
			fcntl(x->fd, F_SETFL, 0);
			rx_reply(x);
			left--;
		}
	}
	close(ep);
	return NULL;
}

static void srv_notify(int l)
{
	struct rx xs[NCONN];
	pthread_t t[NCONN];
	int i;

	for (i = 0; i < NCONN; i++) {
		xs[i] = (struct rx){ .fd = accept(l, NULL, NULL), .bad = NBYTES };
		sync2(xs[i].fd, true);
	}
	for (i = 0; i < NCONN; i++)
		if (i % 3 == 1)
			pthread_create(&t[i], NULL, rx_blocking, &xs[i]);
		else if (i % 3 == 2)
			pthread_create(&t[i], NULL, rx_poll, &xs[i]);
	pthread_create(&t[0], NULL, rx_epoll, xs);
	for (i = 0; i < NCONN; i++)
		if (i % 3 != 0 || i == 0)
			pthread_join(t[i], NULL);
	for (i = 0; i < NCONN; i++)
		read_n(xs[i].fd, &l, 1);	/* until the client closes */
}

struct tx {
	int fd;
	uint64_t reply;
};

static void *tx_thread(void *arg)
{
	struct tx *x = arg;
	char msg[32] = "";

	send_pattern(x->fd, 0, NBYTES);
	read_msg(x->fd, msg, sizeof(msg));
	x->reply = strtoull(msg, NULL, 10);
	return NULL;
}

static int kstats(struct hsock_stats *st)
{
	int fd = open(HSOCK_DEVICE, O_RDWR | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = ioctl(fd, HSOCK_IOC_STATS, st);
	close(fd);
	return r;
}

static void case_notify(void)
{
	struct hsock_stats s0, s1;
	struct tx xs[NCONN];
	pthread_t t[NCONN];
	int l = listen_on(port), i, bad = 0;
	pid_t srv;

	if (kstats(&s0))
		die("module stats");
	srv = fork();
	if (srv == 0) {
		srv_notify(l);
		exit(0);
	}
	close(l);
	alarm(25);	/* a lost wake-up stalls a connection */
	for (i = 0; i < NCONN; i++)
		xs[i].fd = dial(port);
	for (i = 0; i < NCONN; i++)
		pthread_create(&t[i], NULL, tx_thread, &xs[i]);
	for (i = 0; i < NCONN; i++) {
		pthread_join(t[i], NULL);
		bad += xs[i].reply != NBYTES;
	}
	for (i = 0; i < NCONN; i++)
		close(xs[i].fd);
	reap(srv);
	if (kstats(&s1))
		die("module stats");
	if (bad)
		printf("error notify: %d of %d connections corrupt or short\n", bad, NCONN);
	else if (s1.nr_waiters)
		printf("error notify: %u module waiters left armed\n", s1.nr_waiters);
	else
		printf("ok notify: %d x %u KiB checked (blocking, poll, epoll-et readers); module woke %llu waiters\n",
		       NCONN, NBYTES >> 10, (unsigned long long)(s1.notifies - s0.notifies));
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "exec-writer-2"))
		return exec_writer_2(atoi(argv[2]), strtoull(argv[3], NULL, 10),
				     atoi(argv[4])), 0;
	if (argc == 5 && !strcmp(argv[1], "exec-reader-2"))
		return exec_reader_2(atoi(argv[2]), strtoull(argv[3], NULL, 10),
				     atoi(argv[4])), 0;
	if (argc != 3)
		return fprintf(stderr, "usage: hsock-kpath CASE PORT\n"), 2;
	port = atoi(argv[2]);
	if (!strcmp(argv[1], "exec-writer"))
		case_exec_writer(argv[0]);
	else if (!strcmp(argv[1], "exec-reader"))
		case_exec_reader(argv[0]);
	else if (!strcmp(argv[1], "liar"))
		case_liar(false);
	else if (!strcmp(argv[1], "liar-tail"))
		case_liar(true);
	else if (!strcmp(argv[1], "notify"))
		case_notify();
	else
		return fprintf(stderr, "hsock-kpath: unknown case %s\n", argv[1]), 2;
	return 0;
}
