// SPDX-License-Identifier: GPL-2.0
/*
 * hsock-wout WAIT PORT: a non-blocking writer waits for POLLOUT behind a
 * stalled reader, with one of the wait primitives (poll, ppoll, select,
 * pselect, epoll level-triggered, EPOLLONESHOT, an fd in two sets, nested
 * sets, EPOLLIN|EPOLLOUT, edge-triggered; half-closed and epoll-half: poll
 * and epoll with a reader that shut down its own writing first, so the
 * writer's socket stays readable (EOF) while it waits), or the reader dies
 * while the writer waits (poll-death, epoll-death).  A forked server stalls STALL_S,
 * then reads and checks the whole stream.  One line describes what the
 * application observed; the test compares it between plain TCP and hsock:
 *   - the wait during the stall returned only after the reader started
 *     draining (TCP does not report POLLOUT while its buffers are full);
 *   - the writer used under 10 % of a CPU while it waited (TCP: ~0);
 *   - every byte arrived in order.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/hsock/probe.h"

#define STALL_S 1.0
#define TOTAL (24u << 20)	/* more than TCP's loopback buffers hold */
#define CHUNK 65536

struct shared {
	double drain_start;	/* when the reader started reading */
	uint64_t got;		/* bytes it read in order */
	int corrupt;
};

static struct shared *sh;
static int port;
static const char *how;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static bool is(const char *name)
{
	return !strcmp(how, name);
}

/* ---- connection ---- */

static int listen_on(void)
{
	return probe_listen4(port);
}

static int dial(void)
{
	return probe_dial4(port);
}

/* The reader: stall, then read everything and check the order. */
static void server(int fd)
{
	static uint8_t buf[CHUNK];
	uint64_t got = 0;
	ssize_t r, i;

	if (is("half-closed") || is("epoll-half"))
		shutdown(fd, SHUT_WR);
	usleep((useconds_t)(STALL_S * 1e6));
	if (is("poll-death") || is("epoll-death"))
		pause();	/* killed by the client */
	sh->drain_start = now();
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < r; i++)
			sh->corrupt += buf[i] != pat(got + i);
		got += r;
	}
	sh->got = got;
}

/* ---- writer ---- */

struct writer {
	int fd, ep, ep2;
	uint64_t sent;
	uint8_t buf[CHUNK];
};

/* Write until the socket is full (EAGAIN) or the stream is done. */
static int fill(struct writer *w)
{
	size_t k, i;
	ssize_t r;

	while (w->sent < TOTAL) {
		k = TOTAL - w->sent < CHUNK ? TOTAL - w->sent : CHUNK;
		for (i = 0; i < k; i++)
			w->buf[i] = pat(w->sent + i);
		r = send(w->fd, w->buf, k, MSG_NOSIGNAL);
		if (r < 0)
			return errno == EAGAIN ? 0 : -errno;
		w->sent += r;
	}
	return 1;
}

static void ep_add(int ep, int fd, uint32_t events)
{
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &(struct epoll_event){ events, { .fd = fd } }))
		die("epoll_ctl");
}

static bool uses_epoll(void)
{
	return strstr(how, "epoll") || is("oneshot") || is("two-sets") || is("nested");
}

static void setup(struct writer *w)
{
	uint32_t ev = EPOLLOUT;

	if (!uses_epoll())
		return;
	w->ep = epoll_create1(0);
	w->ep2 = -1;
	if (is("oneshot"))
		ev |= EPOLLONESHOT;
	if (is("epoll-et"))
		ev |= EPOLLET;
	if (is("epoll-inout"))
		ev |= EPOLLIN;
	ep_add(w->ep, w->fd, ev);
	if (is("two-sets") || is("nested")) {
		w->ep2 = epoll_create1(0);
		ep_add(w->ep2, is("nested") ? w->ep : w->fd, is("nested") ? EPOLLIN : EPOLLOUT);
	}
}

/* One epoll wait as the application does it; returns its events or 0. */
static uint32_t wait_epoll(struct writer *w, int turn, int ms)
{
	struct epoll_event ev = { 0 };
	int ep = w->ep;

	if (is("two-sets") && (turn & 1))
		ep = w->ep2;
	if (is("nested")) {
		/* the outer set, then the inner one without waiting */
		double end = now() + ms / 1000.0;

		do {
			if (epoll_wait(w->ep2, &ev, 1, ms) != 1)
				return 0;
		} while (epoll_wait(w->ep, &ev, 1, 0) != 1 && now() < end);
		return ev.events;
	}
	if (epoll_wait(ep, &ev, 1, ms) != 1)
		return 0;
	if (is("oneshot"))
		epoll_ctl(w->ep, EPOLL_CTL_MOD, w->fd,
			  &(struct epoll_event){ EPOLLOUT | EPOLLONESHOT, { .fd = w->fd } });
	return ev.events;
}

/*
 * Wait for POLLOUT (5 s at most); returns what was seen of POLLOUT,
 * POLLERR and POLLHUP (the epoll values are the same), 0 on a timeout.
 * epoll-inout: a readable report with nothing to read (none is ever sent
 * here) is read (EAGAIN) and the wait goes on.
 */
static int wait_out(struct writer *w, int turn)
{
	struct pollfd p = { w->fd, POLLOUT, 0 };
	struct timespec ts = { 5, 0 };
	double end = now() + 5;
	fd_set wr;
	uint32_t e;
	char x;

	FD_ZERO(&wr);
	FD_SET(w->fd, &wr);
	if (is("poll") || is("poll-death") || is("half-closed"))
		return poll(&p, 1, 5000) == 1 ? p.revents : 0;
	if (is("ppoll"))
		return ppoll(&p, 1, &ts, NULL) == 1 ? p.revents : 0;
	if (is("select"))
		return select(w->fd + 1, NULL, &wr, NULL, &(struct timeval){ 5, 0 }) == 1 ? POLLOUT : 0;
	if (is("pselect"))
		return pselect(w->fd + 1, NULL, &wr, NULL, &ts, NULL) == 1 ? POLLOUT : 0;
	do {
		e = wait_epoll(w, turn, (int)((end - now()) * 1000) + 1);
		if (e & EPOLLIN)
			(void)!recv(w->fd, &x, 1, MSG_DONTWAIT);
	} while (e && !(e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && now() < end);
	return (int)(e & (EPOLLOUT | EPOLLERR | EPOLLHUP));
}

static const char *err_name(int e)
{
	return e == EPIPE || e == ECONNRESET ? "EPIPE/ECONNRESET" : strerror(e);
}

/* The reader is killed while we wait: the wait and then the write fail. */
static void death(struct writer *w, pid_t pid)
{
	double t0;
	int ev, r = 0, i;

	if (fork() == 0) {
		usleep(300000);
		kill(pid, SIGKILL);
		exit(0);
	}
	t0 = now();
	ev = wait_out(w, 0);
	printf("%s: wait returned %s %s; ", how, ev ? "with events" : "on timeout",
	       now() - t0 < 1.5 ? "within 1.5s" : "after more than 1.5s");
	/* TCP may take a write or two more before the RST is seen */
	for (i = 0; i < 50 && (r = fill(w)) == 0; i++)
		if (!wait_out(w, 0))
			break;
	printf("write %s\n", r < 0 ? err_name(-r) : "no error");
	wait(NULL);
}

/*
 * Waits and fills until the stream is done.  Measured: waits whose
 * POLLOUT found the socket still full (empty wake-ups: none while the
 * reader stalls - that is a busy loop -, and few after it: on /dev/hsock
 * a write may still find no record now and then), whether one wait
 * spanned the moment the reader started draining, and the CPU time used
 * from the first EAGAIN until that moment.
 */
static void writer(int fd, pid_t pid)
{
	struct writer *w = calloc(1, sizeof(*w));
	double ta, ca, tb = 0, cb = 0, t;
	int turn = 0, timeouts = 0, empty = 0, stalled = 0, ev, r;
	bool spanned = false;
	uint64_t before;

	w->fd = fd;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	setup(w);
	if (fill(w))
		die("the first fill did not end with EAGAIN");
	if (is("poll-death") || is("epoll-death"))
		return death(w, pid);
	ta = now();
	ca = cpu();
	do {
		t = now();
		ev = wait_out(w, turn++);
		if (sh->drain_start != 0 && !tb) {
			tb = now();
			cb = cpu();
			spanned = t < sh->drain_start;
		}
		timeouts += !ev;
		before = w->sent;
		r = fill(w);
		if (ev == POLLOUT && r == 0 && w->sent == before) {
			empty++;
			stalled += !tb;
		}
	} while (r == 0 && timeouts < 3);
	shutdown(fd, SHUT_WR);
	waitpid(pid, NULL, 0);
	printf("%s: wrote %u %s; waited through the stall %s; cpu while stalled under 10%% %s; "
	       "empty wake-ups while stalled %s, after it under 5%% %s; reader got %llu %s\n",
	       how, TOTAL, r > 0 ? "ok" : r < 0 ? err_name(-r) : "timed out",
	       spanned ? "yes" : "no",
	       tb > ta && (cb - ca) < 0.1 * (tb - ta) ? "yes" : "no",
	       stalled ? "some" : "none", empty - stalled < 0.05 * turn ? "yes" : "no",
	       (unsigned long long)sh->got, sh->corrupt ? "corrupt" : "in order");
	if (getenv("WOUT_VERBOSE"))
		fprintf(stderr, "%s: cpu %.3fs of %.3fs, %d empty wake-ups, %d waits\n",
			how, cb - ca, tb - ta, empty, turn);
}

int main(int argc, char **argv)
{
	static const char *const waits[] = { "poll", "ppoll", "select", "pselect",
		"epoll", "oneshot", "two-sets", "nested", "epoll-inout", "epoll-et",
		"half-closed", "epoll-half", "poll-death", "epoll-death" };
	size_t i;
	pid_t pid;
	int l, fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 3)
		return fprintf(stderr, "usage: hsock-wout WAIT PORT\n"), 2;
	how = argv[1];
	port = atoi(argv[2]);
	for (i = 0; i < sizeof(waits) / sizeof(waits[0]) && strcmp(how, waits[i]); i++)
		;
	if (i == sizeof(waits) / sizeof(waits[0]))
		return fprintf(stderr, "hsock-wout: unknown wait %s\n", how), 2;
	signal(SIGPIPE, SIG_IGN);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	l = listen_on();
	pid = fork();
	if (pid == 0) {
		fd = accept(l, NULL, NULL);
		close(l);
		sync2(fd, true);
		server(fd);
		exit(0);
	}
	close(l);
	fd = dial();
	sync2(fd, false);
	writer(fd, pid);
	return 0;
}
