// SPDX-License-Identifier: GPL-2.0
/*
 * hsock-probe SCENARIO PORT: one case of the semantics matrix over a
 * loopback TCP connection (a forked server, this process the client).  It
 * prints one line describing what the application observed; the
 * integration test runs it with and without hsock-run and compares lines.
 * Every case first exchanges two sync rounds so that hsock has switched.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/hsock/probe.h"

/* what a program built with _FORTIFY_SOURCE calls instead of poll/ppoll */
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t len);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		const sigset_t *mask, size_t len);

static int port;
static const char *self;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool v6;

static int listen_on6(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int one = 1, fd = socket(AF_INET6, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (void *)&a, sizeof(a)) || listen(fd, 64))
		die("listen6");
	return fd;
}

static int dial6(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (connect(fd, (void *)&a, sizeof(a)))
		die("connect6");
	return fd;
}

static int listen_on4(void)
{
	return probe_listen4(port);
}

static int listen_on(void)
{
	return v6 ? listen_on6() : listen_on4();
}

static int dial4(void)
{
	return probe_dial4(port);
}

static int dial(void)
{
	return v6 ? dial6() : dial4();
}

/* Fork a server running @fn on the accepted connection, @synced first. */
static pid_t serve_on(void (*fn)(int), bool synced)
{
	int l = listen_on();
	pid_t pid = fork();

	if (pid == 0) {
		int fd = accept(l, NULL, NULL);

		close(l);
		if (synced)
			sync2(fd, true);
		fn(fd);
		exit(0);
	}
	close(l);
	return pid;
}

static pid_t serve(void (*fn)(int))
{
	return serve_on(fn, true);
}

static int client(void)
{
	int fd = dial();

	sync2(fd, false);
	return fd;
}

static void reap(pid_t pid)
{
	int st;

	waitpid(pid, &st, 0);
}

/* ---- servers ---- */

static void srv_echo(int fd)
{
	char buf[65536];
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0)
		write_all(fd, buf, r);
}

static void srv_pattern_close(int fd)
{
	static uint8_t buf[1 << 22];
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = pat(i);
	write_all(fd, buf, sizeof(buf));
	close(fd);
}

static void srv_abcdef(int fd)
{
	char x;

	write_all(fd, "abcdef", 6);
	read_n(fd, &x, 1);
}

static void srv_go_abcdef(int fd)
{
	char x;

	read_n(fd, &x, 1);
	srv_abcdef(fd);
}

static void srv_trickle(int fd)
{
	char buf[1000];
	int i;

	memset(buf, 'x', sizeof(buf));
	for (i = 0; i < 100; i++) {
		write_all(fd, buf, sizeof(buf));
		usleep(500);
	}
	read_n(fd, buf, 1);
}

static void srv_shutdown(int fd)
{
	char buf[3000], bye[8] = "";

	memset(buf, 'y', sizeof(buf));
	write_all(fd, buf, sizeof(buf));
	shutdown(fd, SHUT_WR);
	read_n(fd, bye, 3);
	printf("server read %s then %zd\n", bye, read(fd, buf, 1));
	fflush(stdout);
}

static void srv_hang(int fd)
{
	(void)fd;
	pause();
}

/*
 * A first message as soon as the client says go - it is busy-polling in a
 * blocking read then, doorbells off - then 10 more, 20 ms apart: the next
 * one reaches a ring that no doorbell announces, which only a wait that
 * looks at the ring sees at once.
 */
static void srv_messages(int fd)
{
	char buf[100], go;
	int i;

	memset(buf, 'm', sizeof(buf));
	while (recv(fd, &go, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN)
		;
	write_all(fd, buf, sizeof(buf));
	for (i = 0; i < 10; i++) {
		usleep(20000);
		write_all(fd, buf, sizeof(buf));
	}
	close(fd);
}

static void srv_close(int fd)
{
	close(fd);
}

static void srv_sendfile(int fd)
{
	char path[] = "/tmp/hsock-probe-XXXXXX";
	static uint8_t buf[3 << 20];
	int f = mkstemp(path);
	off_t off = 0;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = pat(i);
	write_all(f, buf, sizeof(buf));
	unlink(path);
	while (off < (off_t)sizeof(buf))
		if (sendfile(fd, f, &off, sizeof(buf) - off) <= 0)
			break;
	close(fd);
}

/* ---- cases ---- */

static int check_pattern(int fd, size_t len)
{
	static uint8_t buf[65536];
	size_t got = 0, i;
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)r; i++)
			if (buf[i] != pat(got + i))
				return printf("corrupt at %zu\n", got + i), 1;
		got += r;
	}
	printf("read %zu of %zu then %s\n", got, len, r == 0 ? "EOF" : strerror(errno));
	return 0;
}

struct pump { int fd; size_t len; };

static void *pump_writer(void *arg)
{
	struct pump *p = arg;
	static uint8_t buf[200000];
	size_t off = 0, k, i;

	srand(7);
	while (off < p->len) {
		k = 1 + rand() % sizeof(buf);
		if (k > p->len - off)
			k = p->len - off;
		for (i = 0; i < k; i++)
			buf[i] = pat(off + i);
		write_all(p->fd, buf, k);
		off += k;
	}
	shutdown(p->fd, SHUT_WR);
	return NULL;
}

static void case_stream(void)
{
	pid_t pid = serve(srv_echo);
	struct pump p = { client(), 16 << 20 };
	pthread_t t;

	pthread_create(&t, NULL, pump_writer, &p);
	check_pattern(p.fd, p.len);
	pthread_join(t, NULL);
	reap(pid);
}

static void case_prefix(void)
{
	/* bytes written before the peer accepted and attached come first */
	int l = listen_on(), fd = dial();
	char buf[64] = "";
	pid_t pid;

	write_all(fd, "early-", 6);
	pid = fork();
	if (pid == 0) {
		int s;

		close(fd);
		usleep(50000);
		s = accept(l, NULL, NULL);
		srv_echo(s);
		exit(0);
	}
	close(l);
	usleep(100000);
	write_all(fd, "late-", 5);
	write_all(fd, "later", 5);
	read_n(fd, buf, 16);
	printf("echo %s\n", buf);
	close(fd);
	reap(pid);
}

static void case_close_inflight(void)
{
	pid_t pid = serve(srv_pattern_close);
	int fd = client();

	usleep(200000);
	check_pattern(fd, 1 << 22);
	reap(pid);
}

static void case_peek(void)
{
	pid_t pid = serve(srv_abcdef);
	int fd = client();
	char a[8] = "", b[8] = "";
	ssize_t r1, r2;

	usleep(50000);
	r1 = recv(fd, a, 3, MSG_PEEK);
	r2 = recv(fd, b, 6, MSG_WAITALL);
	printf("peek %zd %s read %zd %s\n", r1, a, r2, b);
	write_all(fd, "x", 1);
	reap(pid);
}

static void case_waitall(void)
{
	static char buf[100000];
	pid_t pid = serve(srv_trickle);
	int fd = client();

	printf("waitall %zd\n", recv(fd, buf, sizeof(buf), MSG_WAITALL));
	write_all(fd, "x", 1);
	reap(pid);
}

static const char *err_name(ssize_t r)
{
	static char s[32];

	if (r >= 0)
		return snprintf(s, sizeof(s), "%zd", r), s;
	return errno == EAGAIN ? "EAGAIN" : errno == EPIPE ? "EPIPE" :
	       errno == ECONNRESET ? "ECONNRESET" : errno == EINTR ? "EINTR" : strerror(errno);
}

static void case_nonblock(void)
{
	pid_t pid = serve(srv_go_abcdef);
	int fd = client(), on = 1, off = 0, n = -1;
	char buf[16];

	printf("dontwait %s ", err_name(recv(fd, buf, 16, MSG_DONTWAIT)));
	write_all(fd, "g", 1);
	usleep(50000);
	ioctl(fd, FIONREAD, &n);
	printf("fionread %d ", n);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	printf("read %s ", err_name(read(fd, buf, 16)));
	printf("again %s ", err_name(read(fd, buf, 16)));
	ioctl(fd, FIONBIO, &off);
	ioctl(fd, FIONBIO, &on);
	printf("fionbio %s\n", err_name(recv(fd, buf, 16, 0)));
	write_all(fd, "x", 1);
	reap(pid);
}

static void case_shutdown(void)
{
	pid_t pid = serve(srv_shutdown);
	int fd = client();
	char buf[4000];
	size_t got;

	got = read_n(fd, buf, sizeof(buf));
	printf("client got %zu then %zd; ", got, read(fd, buf, 1));
	fflush(stdout);
	write_all(fd, "bye", 3);
	shutdown(fd, SHUT_WR);
	reap(pid);
}

static void case_death_reader(void)
{
	pid_t pid = serve(srv_hang);
	int fd = client();
	char b;
	ssize_t r;
	double t;

	if (fork() == 0) {
		usleep(200000);
		kill(pid, SIGKILL);
		exit(0);
	}
	r = read(fd, &b, 1);
	t = now();
	reap(pid);
	printf("blocked read returned %s, %s\n", err_name(r), now() - t < 1.0 ? "within 1s" : "after more than 1s");
}

/*
 * An edge-triggered reader (read until EAGAIN after each event, as nginx
 * and envoy do) whose peer is killed between two messages: the FIN edge
 * comes once, and the read after it must see the end, within a second.
 */
static void srv_two_then_hang(int fd)
{
	write_all(fd, "one", 3);
	usleep(100000);
	write_all(fd, "two", 3);
	pause();
}

static void case_death_et(void)
{
	pid_t pid = serve(srv_two_then_hang);
	int fd = client(), ep = epoll_create1(0), got = 0, wakes = 0;
	struct epoll_event ev;
	double t0 = 0;
	char buf[64];
	ssize_t r = 0;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &(struct epoll_event){ EPOLLIN | EPOLLET, { .fd = fd } });
	while (wakes < 100 && epoll_wait(ep, &ev, 1, 3000) == 1) {
		wakes++;
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			got += (int)r;
		if (r == 0 || (r < 0 && errno != EAGAIN))
			break;
		if (got == 6 && !t0) {
			t0 = now();
			kill(pid, SIGKILL);
		}
	}
	printf("death-et: %d bytes, then %s%s\n", got, r == 0 ? "EOF" : err_name(r),
	       t0 && now() - t0 > 1 ? " after more than a second" : "");
	reap(pid);
}

static void case_death_writer(void)
{
	static char buf[1 << 16];
	pid_t pid = serve(srv_hang);
	int fd = client();
	double t = 0;
	ssize_t r;

	signal(SIGPIPE, SIG_IGN);
	if (fork() == 0) {
		usleep(200000);
		kill(pid, SIGKILL);
		exit(0);
	}
	while ((r = send(fd, buf, sizeof(buf), MSG_NOSIGNAL)) > 0)
		;
	printf("writer got %s\n", r < 0 && (errno == EPIPE || errno == ECONNRESET) ? "EPIPE/ECONNRESET" : err_name(r));
	(void)t;
	reap(pid);
}

static volatile sig_atomic_t pipes;

static void on_pipe(int s)
{
	(void)s;
	pipes++;
}

static void case_sigpipe(void)
{
	pid_t pid = serve(srv_close);
	int fd = client(), i, nosig = 0;
	ssize_t r = 0;

	signal(SIGPIPE, on_pipe);
	usleep(100000);
	for (i = 0; i < 50 && r >= 0; i++) {
		r = send(fd, "data", 4, MSG_NOSIGNAL);
		usleep(2000);
	}
	nosig = pipes;
	printf("nosignal %s sigpipe=%d; ", r < 0 && (errno == EPIPE || errno == ECONNRESET) ? "EPIPE/ECONNRESET" : "no error", nosig);
	r = write(fd, "data", 4);
	printf("write %s sigpipe=%d\n", err_name(r), pipes - nosig);
	reap(pid);
}

/* Writes after the peer closed: TCP lets the first through, then RST. */
static void case_after_close(void)
{
	pid_t pid = serve(srv_close);
	int fd = client(), i;
	char b;

	usleep(100000);
	for (i = 0; i < 3; i++) {
		printf("write%d %s ", i, err_name(send(fd, "data", 4, MSG_NOSIGNAL)));
		usleep(50000);
	}
	printf("read %s\n", err_name(read(fd, &b, 1)));
	reap(pid);
}

static void srv_shut_rd(int fd)
{
	char x;

	write_all(fd, "abc", 3);
	read_n(fd, &x, 1);
	write_all(fd, "def", 3);
	read_n(fd, &x, 1);
}

/* shutdown(SHUT_RD) with data queued, then data arriving after it. */
static void case_shut_rd(void)
{
	pid_t pid = serve(srv_shut_rd);
	int fd = client();
	char buf[16];
	ssize_t r;

	usleep(50000);
	printf("shutdown %d ", shutdown(fd, SHUT_RD));
	r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	printf("read1 %s%s ", err_name(r), r > 0 ? "" : "");
	if (r > 0)
		printf("[%.*s] ", (int)r, buf);
	write_all(fd, "g", 1);
	usleep(50000);
	r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	printf("read2 %s ", err_name(r));
	if (r > 0)
		printf("[%.*s] ", (int)r, buf);
	r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	printf("read3 %s\n", err_name(r));
	write_all(fd, "x", 1);
	reap(pid);
}

/* sendmmsg/recvmmsg (MSG_WAITALL, MSG_WAITFORONE) through an echo server. */
static void case_mmsg(void)
{
	pid_t pid = serve(srv_echo);
	int fd = client(), r, i;
	char a[3] = "one", b[3] = "two", cc[5] = "three", in[3][8];
	struct iovec out[3] = { { a, 3 }, { b, 3 }, { cc, 5 } }, iv[3];
	size_t want[3] = { 3, 3, 5 };
	struct mmsghdr v[3];

	memset(v, 0, sizeof(v));
	for (i = 0; i < 3; i++) {
		v[i].msg_hdr.msg_iov = &out[i];
		v[i].msg_hdr.msg_iovlen = 1;
	}
	r = sendmmsg(fd, v, 3, 0);
	printf("sendmmsg %d lens %u %u %u; ", r, v[0].msg_len, v[1].msg_len, v[2].msg_len);
	memset(v, 0, sizeof(v));
	memset(in, 0, sizeof(in));
	for (i = 0; i < 3; i++) {
		iv[i] = (struct iovec){ in[i], want[i] };
		v[i].msg_hdr.msg_iov = &iv[i];
		v[i].msg_hdr.msg_iovlen = 1;
	}
	r = recvmmsg(fd, v, 3, MSG_WAITALL, NULL);
	printf("recvmmsg %d [%s][%s][%s]; ", r, in[0], in[1], in[2]);
	write_all(fd, "x", 1);
	usleep(50000);
	r = recvmmsg(fd, v, 2, MSG_WAITFORONE, NULL);
	printf("waitforone %d len %u; ", r, v[0].msg_len);
	r = recvmmsg(fd, v, 2, MSG_DONTWAIT, NULL);
	printf("dontwait %s\n", err_name(r));
	shutdown(fd, SHUT_WR);
	reap(pid);
}

static void srv_slow_sink(int fd)
{
	static char buf[65536];
	size_t got = 0;
	ssize_t r;

	usleep(200000);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		got += r;
	printf("server read %zu\n", got);
	fflush(stdout);
}

/*
 * A non-blocking writer waiting for EPOLLOUT edge-triggered while a slow
 * reader drains: each wait must end by an EPOLLOUT, never by the timeout.
 */
static void case_epollout_et(void)
{
	static char buf[65536];
	pid_t pid = serve(srv_slow_sink);
	int fd = client(), ep = epoll_create1(0), timeouts = 0, eagain = 0;
	size_t sent = 0, total = 32 << 20;
	struct epoll_event ev;
	ssize_t r;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &(struct epoll_event){ EPOLLOUT | EPOLLET, { .fd = fd } });
	while (sent < total && timeouts < 3) {
		r = write(fd, buf, total - sent < sizeof(buf) ? total - sent : sizeof(buf));
		if (r > 0) {
			sent += r;
			continue;
		}
		if (r < 0 && errno != EAGAIN)
			break;
		eagain++;
		if (epoll_wait(ep, &ev, 1, 3000) != 1)
			timeouts++;
		else if (!(ev.events & EPOLLOUT) || (ev.events & EPOLLIN))
			printf("unexpected events %#x ", ev.events);
	}
	printf("wrote %zu timeouts %d blocked %s\n", sent, timeouts, eagain ? "yes" : "no");
	shutdown(fd, SHUT_WR);
	reap(pid);
}

/* splice pipe -> socket and socket -> pipe through an echo server. */
static void case_splice(void)
{
	static uint8_t chunk[65536], back[65536];
	pid_t pid = serve(srv_echo);
	int fd = client(), a[2], b[2], bad = 0;
	size_t total = 0, i, k, moved;
	ssize_t r;

	if (pipe(a) || pipe(b))
		die("pipe");
	for (total = 0; total < (1 << 20); total += sizeof(chunk)) {
		for (i = 0; i < sizeof(chunk); i++)
			chunk[i] = pat(total + i);
		write_all(a[1], chunk, sizeof(chunk));
		for (moved = 0; moved < sizeof(chunk); moved += r)
			if ((r = splice(a[0], NULL, fd, NULL, sizeof(chunk) - moved, SPLICE_F_MOVE)) <= 0)
				die("splice to socket");
		for (moved = 0; moved < sizeof(chunk); moved += k) {
			r = splice(fd, NULL, b[1], NULL, sizeof(chunk) - moved, SPLICE_F_MOVE);
			if (r <= 0)
				die("splice from socket");
			k = read_n(b[0], back + moved, r);
		}
		for (i = 0; i < sizeof(chunk); i++)
			bad += back[i] != pat(total + i);
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	r = splice(fd, NULL, b[1], NULL, 100, SPLICE_F_NONBLOCK);
	printf("splice %zu, %d bytes differ; empty %s; ", total, bad, err_name(r));
	fcntl(fd, F_SETFL, 0);
	r = splice(fd, NULL, fd, NULL, 100, 0);
	printf("socket to socket %s\n", r < 0 && errno == EINVAL ? "EINVAL" : err_name(r));
	shutdown(fd, SHUT_WR);
	reap(pid);
}

/* Read the 10 messages + EOF with one of the wait primitives. */
static size_t drain_nb(int fd, bool *eof)
{
	char buf[4096];
	size_t got = 0;
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0)
		got += r;
	if (r == 0)
		*eof = true;
	return got;
}

static int wait_one(const char *how, int fd, int ep, int ep2)
{
	struct epoll_event ev;
	struct pollfd p = { fd, POLLIN | POLLRDHUP, 0 };
	struct timespec ts = { 5, 0 };
	fd_set s;

	FD_ZERO(&s);
	FD_SET(fd, &s);
	if (!strcmp(how, "poll"))
		return poll(&p, 1, 5000);
	if (!strcmp(how, "ppoll"))
		return ppoll(&p, 1, &ts, NULL);
	if (!strcmp(how, "select"))
		return select(fd + 1, &s, NULL, NULL, &(struct timeval){ 5, 0 });
	if (!strcmp(how, "pselect"))
		return pselect(fd + 1, &s, NULL, NULL, &ts, NULL);
	if (!strcmp(how, "poll-chk"))
		return __poll_chk(&p, 1, 5000, sizeof(p));
	if (!strcmp(how, "ppoll-chk"))
		return __ppoll_chk(&p, 1, &ts, NULL, sizeof(p));
	if (!strcmp(how, "epoll-pwait2"))
		return epoll_pwait2(ep, &ev, 1, &ts, NULL);
	if (epoll_wait(ep2 >= 0 ? ep2 : ep, &ev, 1, 5000) != 1)
		return 0;
	if (ep2 >= 0 && epoll_wait(ep, &ev, 1, 0) != 1)
		return 0;
	if (!strcmp(how, "oneshot"))
		epoll_ctl(ep, EPOLL_CTL_MOD, fd, &(struct epoll_event){ EPOLLIN | EPOLLONESHOT, { .fd = fd } });
	return 1;
}

static void case_wait(const char *how)
{
	pid_t pid = serve(srv_messages);
	int fd = client(), ep = epoll_create1(0), ep2 = -1, wakes = 0;
	uint32_t evs = EPOLLIN | EPOLLRDHUP;
	size_t got = 0;
	bool eof = false;
	char first[100];

	write_all(fd, "g", 1);
	read_n(fd, first, sizeof(first));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (!strcmp(how, "epoll-et"))
		evs |= EPOLLET;
	if (!strcmp(how, "oneshot"))
		evs |= EPOLLONESHOT;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &(struct epoll_event){ evs, { .fd = fd } });
	if (!strcmp(how, "nested") || !strcmp(how, "two-sets")) {
		ep2 = epoll_create1(0);
		if (!strcmp(how, "nested"))
			epoll_ctl(ep2, EPOLL_CTL_ADD, ep, &(struct epoll_event){ EPOLLIN, { .fd = ep } });
		else
			epoll_ctl(ep2, EPOLL_CTL_ADD, fd, &(struct epoll_event){ EPOLLIN, { .fd = fd } });
	}
	while (!eof && wakes < 1000) {
		if (wait_one(how, fd, ep, ep2) <= 0)
			break;
		wakes++;
		got += drain_nb(fd, &eof);
	}
	/* 10 messages 20 ms apart: TCP wakes the waiter for each (some slack) */
	printf("%s got %zu eof %d, woken per message %s\n", how, got, eof,
	       wakes >= 6 ? "yes" : "no");
	reap(pid);
}

static void on_alarm(int s)
{
	(void)s;
}

static void case_eintr(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	pid_t pid = serve(srv_abcdef);
	int fd = client();
	char buf[64];

	read_n(fd, buf, 6);
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	printf("interrupted read %s\n", err_name(read(fd, buf, sizeof(buf))));
	write_all(fd, "x", 1);
	reap(pid);
}

/*
 * Signal-driven I/O: O_ASYNC (by fcntl, or ioctl FIOASYNC) with SIGIO
 * blocked and taken by sigtimedwait.  Each round reads exactly the echoed
 * message, never until EAGAIN: TCP raises SIGIO for every arrival, so the
 * next one must be signalled although nothing ever read an empty socket.
 */
static void sigio_rounds(bool by_ioctl)
{
	pid_t pid = serve(srv_echo);
	int fd = client(), one = 1, i;
	struct timespec wait = { 5, 0 };
	char out[16], in[16];
	size_t got;
	sigset_t io;
	ssize_t r;

	sigemptyset(&io);
	sigaddset(&io, SIGIO);
	sigprocmask(SIG_BLOCK, &io, NULL);
	fcntl(fd, F_SETOWN, getpid());
	if (by_ioctl) {
		ioctl(fd, FIONBIO, &one);
		ioctl(fd, FIOASYNC, &one);
	} else {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK | O_ASYNC);
	}
	for (i = 0; i < 500; i++) {
		memset(out, 'a' + i % 26, sizeof(out));
		write_all(fd, out, sizeof(out));
		for (got = 0; got < sizeof(in);) {
			if (sigtimedwait(&io, NULL, &wait) != SIGIO) {
				printf("round %d: no SIGIO within 5 s (%zu of 16 bytes)\n", i, got);
				goto out;
			}
			r = read(fd, in + got, sizeof(in) - got);
			if (r > 0)
				got += r;
			else if (r == 0 || errno != EAGAIN)
				goto out;
		}
		if (memcmp(in, out, sizeof(in))) {
			printf("round %d: mismatch\n", i);
			goto out;
		}
	}
out:
	printf("sigio %s: %d rounds\n", by_ioctl ? "ioctl" : "fcntl", i);
	close(fd);
	reap(pid);
}

static void case_sigio(void)
{
	sigio_rounds(false);
}

static void case_sigio_ioctl(void)
{
	sigio_rounds(true);
}

/*
 * I/O hsock cannot see (no sync rounds: it comes first).  unseen-write:
 * dprintf writes through libc's internal write, then write() follows;
 * fdopen: request and reply lines through a stdio stream.  Both must echo
 * exactly, as over TCP (hsock keeps such a connection on TCP).
 */
static pid_t serve_raw(void (*fn)(int))
{
	return serve_on(fn, false);
}

/* a first byte, so that the client writes once both ends are attached */
static void srv_ready_echo(int fd)
{
	write_all(fd, "r", 1);
	srv_echo(fd);
}

static void case_unseen_write(void)
{
	pid_t pid = serve_raw(srv_ready_echo);
	int fd = dial(), i;
	static uint8_t out[1 << 16], in[9 + (1 << 16)];
	size_t ok;

	for (i = 0; i < (int)sizeof(out); i++)
		out[i] = pat(i);
	read_n(fd, in, 1);
	dprintf(fd, "hello %2d\n", 42);
	write_all(fd, out, sizeof(out));
	ok = read_n(fd, in, sizeof(in));
	ok = ok == sizeof(in) && !memcmp(in, "hello 42\n", 9) &&
	     !memcmp(in + 9, out, sizeof(out));
	printf("unseen-write: %s\n", ok ? "echoed exactly" : "corrupt");
	close(fd);
	reap(pid);
}

static void case_fdopen(void)
{
	pid_t pid = serve_raw(srv_echo);
	int fd = dial(), i;
	FILE *f = fdopen(fd, "r+");
	char line[64], want[64];

	for (i = 0; i < 100; i++) {
		snprintf(want, sizeof(want), "line %d\n", i);
		fputs(want, f);
		fflush(f);
		if (!fgets(line, sizeof(line), f) || strcmp(line, want))
			break;
	}
	printf("fdopen: %d lines echoed\n", i);
	fclose(f);
	reap(pid);
}

/*
 * The very first bytes of a direction arrive while the reader, which has
 * never read, sleeps in a wait: the direction switches under it.
 */
static void srv_late_hello(int fd)
{
	char x;

	usleep(100000);
	write_all(fd, "hello", 5);
	read_n(fd, &x, 1);
}

static void case_first_wait(const char *how)
{
	pid_t pid = serve_raw(srv_late_hello);
	int fd = dial(), ep = epoll_create1(0), r;
	struct pollfd p = { fd, POLLIN, 0 };
	struct epoll_event ev;
	double t0 = now();
	char buf[8];

	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &(struct epoll_event){ EPOLLIN, { .fd = fd } });
	r = !strcmp(how, "poll") ? poll(&p, 1, 5000) : epoll_wait(ep, &ev, 1, 5000);
	printf("first-wait %s: %s%s\n", how, r == 1 ? "woken" : "not woken",
	       now() - t0 > 2 ? " late" : "");
	if (r == 1)
		read_n(fd, buf, 5);
	write_all(fd, "x", 1);
	close(fd);
	reap(pid);
}

static void case_first_epoll(void)
{
	case_first_wait("epoll");
}

static void case_first_poll(void)
{
	case_first_wait("poll");
}

static void case_iov(void)
{
	pid_t pid = serve(srv_echo);
	int fd = client();
	char a[4] = "abc", b[5] = "defg", c[3] = "hi", x[4] = "", y[5] = "", z[3] = "";
	struct iovec w[3] = { { a, 3 }, { b, 4 }, { c, 2 } }, r[3] = { { x, 3 }, { y, 4 }, { z, 2 } };
	struct msghdr m = { .msg_iov = w, .msg_iovlen = 3 };
	char buf[16] = "";

	writev(fd, w, 3);
	read_n(fd, x, 3);
	readv(fd, r + 1, 2);
	sendmsg(fd, &m, 0);
	m.msg_iov = r;
	recvmsg(fd, &m, MSG_WAITALL);
	sendto(fd, "jk", 2, 0, NULL, 0);
	recvfrom(fd, buf, 2, MSG_WAITALL, NULL, NULL);
	printf("iov %s%s%s %s\n", x, y, z, buf);
	close(fd);
	reap(pid);
}

static void case_sendfile(void)
{
	pid_t pid = serve(srv_sendfile);
	int fd = client();

	check_pattern(fd, 3 << 20);
	reap(pid);
}

static void echo_check(int fd, size_t len, const char *who)
{
	uint8_t buf[4096], back[4096];
	size_t off, i;

	for (off = 0; off < len; off += sizeof(buf)) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = pat(off + i);
		write_all(fd, buf, sizeof(buf));
		if (read_n(fd, back, sizeof(back)) != sizeof(back) || memcmp(buf, back, sizeof(buf))) {
			printf("%s: echo mismatch\n", who);
			return;
		}
	}
	printf("%s: echo ok; ", who);
	fflush(stdout);
}

static void case_fork_dup(void)
{
	pid_t pid = serve(srv_echo), child;
	int fd = client(), fd2;

	child = fork();
	if (child == 0) {
		fd2 = dup(fd);
		close(fd);
		echo_check(fd2, 1 << 20, "child dup");
		dup2(fd2, 77);
		close(fd2);
		echo_check(77, 1 << 20, "child dup2");
		exit(0);
	}
	close(fd);	/* the parent's close must not end the child's connection */
	reap(child);
	printf("\n");
	kill(pid, SIGTERM);
	reap(pid);
}

static void case_exec(void)
{
	pid_t pid = serve(srv_echo), child;
	int fd = client();
	char arg[16];

	echo_check(fd, 1 << 16, "before exec");
	fflush(stdout);
	child = fork();
	if (child == 0) {
		snprintf(arg, sizeof(arg), "%d", fd);
		execl(self, self, "exec-child", arg, (char *)NULL);
		die("exec");
	}
	close(fd);
	reap(child);
	printf("\n");
	kill(pid, SIGTERM);
	reap(pid);
}

static void *thread_conn(void *arg)
{
	int fd = client();

	(void)arg;
	echo_check(fd, 1 << 20, "thread");
	close(fd);
	return NULL;
}

static void case_threads(void)
{
	int l = listen_on(), i;
	pthread_t t[4];
	pid_t pid = fork();

	if (pid == 0) {
		for (i = 0; i < 4; i++) {
			int fd = accept(l, NULL, NULL);

			if (fork() == 0) {
				sync2(fd, true);
				srv_echo(fd);
				exit(0);
			}
			close(fd);
		}
		while (wait(NULL) > 0)
			;
		exit(0);
	}
	close(l);
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, thread_conn, NULL);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("\n");
	reap(pid);
}

int main(int argc, char **argv)
{
	static const struct { const char *name; void (*fn)(void); } cases[] = {
		{ "stream", case_stream }, { "prefix", case_prefix },
		{ "close-inflight", case_close_inflight }, { "peek", case_peek },
		{ "waitall", case_waitall }, { "nonblock", case_nonblock },
		{ "shutdown", case_shutdown }, { "death-reader", case_death_reader },
		{ "death-writer", case_death_writer }, { "sigpipe", case_sigpipe },
		{ "eintr", case_eintr }, { "iov", case_iov }, { "sendfile", case_sendfile },
		{ "fork-dup", case_fork_dup }, { "exec", case_exec }, { "threads", case_threads },
		{ "after-close", case_after_close }, { "shut-rd", case_shut_rd },
		{ "mmsg", case_mmsg }, { "epollout-et", case_epollout_et },
		{ "splice", case_splice }, { "sigio", case_sigio },
		{ "sigio-ioctl", case_sigio_ioctl }, { "unseen-write", case_unseen_write },
		{ "fdopen", case_fdopen }, { "first-epoll", case_first_epoll },
		{ "first-poll", case_first_poll }, { "death-et", case_death_et },
	};
	static const char *const waits[] = { "poll", "ppoll", "select", "pselect", "epoll",
		"epoll-et", "oneshot", "nested", "two-sets", "poll-chk", "ppoll-chk",
		"epoll-pwait2" };
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	self = argv[0];
	if (argc == 3 && !strcmp(argv[1], "exec-child")) {
		echo_check(atoi(argv[2]), 1 << 16, "after exec");
		return 0;
	}
	if (argc != 3)
		return fprintf(stderr, "usage: hsock-probe CASE PORT\n"), 2;
	if (!strcmp(argv[1], "ipv6")) {	/* the stream case over [::1] */
		v6 = true;
		argv[1] = "stream";
	}
	port = atoi(argv[2]);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(argv[1], cases[i].name))
			return cases[i].fn(), 0;
	for (i = 0; i < sizeof(waits) / sizeof(waits[0]); i++)
		if (!strcmp(argv[1], waits[i]))
			return case_wait(waits[i]), 0;
	fprintf(stderr, "hsock-probe: unknown case %s\n", argv[1]);
	return 2;
}
