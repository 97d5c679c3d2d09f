// SPDX-License-Identifier: GPL-2.0
/*
 * hsock-stress PORT SECONDS [BLOCKMSG]: stream-integrity stress.  64
 * connections from 8 client processes (8 threads each) to one server
 * process that serves a third of them with blocking threads, a third with
 * level- and a third with edge-triggered epoll on non-blocking sockets
 * (whose writes wait for POLLOUT with poll()).  Every message has a random
 * size (up to 64 KiB) and content from a per-connection PRNG; the server
 * verifies and echoes, the client verifies the echo.  A client thread is,
 * by connection id, a blocking one (writes a message, then reads its echo)
 * or a non-blocking full-duplex one that reads the echo while it writes,
 * waiting for POLLIN/POLLOUT with poll, select, pselect, level- or
 * edge-triggered epoll, and starts a message once the previous one came
 * back whole (with more in flight, an edge-triggered server connection,
 * read until EAGAIN, could keep the server's epoll thread for good).  A blocking client's messages stay under BLOCKMSG
 * (16 KiB), which the socket holds whole both ways: a larger echo would
 * wait for the client to finish writing, and the epoll server, one thread,
 * with it every connection it serves.  So nothing waits for a peer that
 * does not read, and a wait that sees nothing for WAIT_MS on a healthy
 * connection is a stall (a lost wake-up).  Two client processes are
 * SIGKILLed at random times.  Prints a summary; exit 0 only with zero
 * corrupted bytes, no stall, every healthy connection complete, and every
 * server call of a killed connection returning within 1 s of the death
 * of its client: the moment the kernel closed the client's sockets, which
 * may come well after the SIGKILL (seen here: a killed process waiting
 * 1-2 s in exit_mmap for an anon_vma lock it shares with its forked
 * siblings, hsock or not).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPROC 8
#define PER 8
#define NCONN (NPROC * PER)
#define MAXMSG 65536
#define WAIT_MS 3000

/* How a client thread waits (by connection id). */
enum { C_BLOCK, C_POLL, C_SELECT, C_PSELECT, C_EPOLL, C_EPOLLET, C_KINDS };

struct shared {
	_Atomic int ready;
	double kill_time[NPROC];	/* 0: not killed */
	double death_time[NPROC];	/* when the killed process was gone */
	double end_time[NCONN];
	_Atomic int corrupt;
	_Atomic int stalls;
	_Atomic long bytes;
};

static struct shared *sh;
static int port, seconds;
static size_t blockmsg = 16384;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Per-connection byte stream: deterministic from the connection id. */
struct stream {
	uint64_t s;
};

static void fill(struct stream *st, uint8_t *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)next(&st->s);
}

static size_t check(struct stream *st, const uint8_t *buf, size_t n)
{
	size_t i, bad = 0;

	for (i = 0; i < n; i++)
		bad += buf[i] != (uint8_t)next(&st->s);
	return bad;
}

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			return r < 0 ? -1 : 0;
		got += r;
	}
	return 1;
}

/* @id: a server connection whose client may be killed; -1 on the client. */
static int write_full(int fd, const void *buf, size_t n, int id)
{
	struct pollfd p = { fd, POLLOUT, 0 };
	size_t off = 0;
	ssize_t r;

	while (off < n) {
		r = send(fd, (const char *)buf + off, n - off, MSG_NOSIGNAL);
		if (r < 0 && errno == EAGAIN) {
			if (poll(&p, 1, WAIT_MS) == 0 && (id < 0 || !sh->kill_time[id / PER]))
				atomic_fetch_add(&sh->stalls, 1);
			continue;
		}
		if (r <= 0)
			return -1;
		off += r;
	}
	return 0;
}

/* ---- client ---- */

struct cconn {
	int fd, kind, ep;
	uint32_t reg;			/* epoll events registered */
	struct stream out, back;
	uint64_t rnd;
	uint8_t buf[MAXMSG], echo[MAXMSG];
};

static size_t msg_size(struct cconn *c)
{
	size_t max = c->kind == C_BLOCK ? blockmsg : MAXMSG;

	return 1 + next(&c->rnd) % (next(&c->rnd) % 4 ? 2048 : max);
}

/* Blocking: a message, then its echo, until the time is up. */
static int client_blocking(struct cconn *c, double end)
{
	size_t n;

	while (now() < end) {
		n = msg_size(c);
		fill(&c->out, c->buf, n);
		if (write_full(c->fd, c->buf, n, -1) || read_full(c->fd, c->echo, n) != 1)
			return -1;
		if (check(&c->back, c->echo, n))
			atomic_fetch_add(&sh->corrupt, 1);
	}
	shutdown(c->fd, SHUT_WR);
	return read(c->fd, c->echo, 1) == 0 ? 0 : -1;
}

/* Wait for readability, and writability when @out; false on a timeout. */
static bool duplex_wait(struct cconn *c, bool out)
{
	struct pollfd p = { c->fd, POLLIN | (out ? POLLOUT : 0), 0 };
	struct timespec ts = { WAIT_MS / 1000, 0 };
	struct epoll_event ev;
	uint32_t want;
	fd_set rd, wr;

	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(c->fd, &rd);
	if (out)
		FD_SET(c->fd, &wr);
	switch (c->kind) {
	case C_POLL:
		return poll(&p, 1, WAIT_MS) != 0;
	case C_SELECT:
		return select(c->fd + 1, &rd, &wr, NULL, &(struct timeval){ WAIT_MS / 1000, 0 }) != 0;
	case C_PSELECT:
		return pselect(c->fd + 1, &rd, &wr, NULL, &ts, NULL) != 0;
	case C_EPOLL:	/* EPOLLOUT only while there is something to send */
		want = EPOLLIN | (out ? EPOLLOUT : 0);
		if (want != c->reg)
			epoll_ctl(c->ep, EPOLL_CTL_MOD, c->fd, &(struct epoll_event){ want, { .fd = c->fd } });
		c->reg = want;
		return epoll_wait(c->ep, &ev, 1, WAIT_MS) != 0;
	default:	/* C_EPOLLET: registered once, EPOLLIN | EPOLLOUT */
		return epoll_wait(c->ep, &ev, 1, WAIT_MS) != 0;
	}
}

/*
 * Non-blocking full duplex: send a message and read its echo as the
 * socket allows (every call until EAGAIN, as an edge-triggered loop
 * must), waiting for either; after the time is up, shut down and read the
 * rest.
 */
static int client_duplex(struct cconn *c, double end)
{
	uint64_t sent = 0, got = 0;
	size_t len = 0, off = 0;
	bool closing = false;
	ssize_t r;

	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	c->ep = epoll_create1(0);
	c->reg = c->kind == C_EPOLLET ? EPOLLIN | EPOLLOUT | EPOLLET : EPOLLIN;
	epoll_ctl(c->ep, EPOLL_CTL_ADD, c->fd, &(struct epoll_event){ c->reg, { .fd = c->fd } });
	for (;;) {
		if (off == len && !closing && now() >= end) {
			shutdown(c->fd, SHUT_WR);
			closing = true;
		} else if (off == len && !closing && got == sent) {
			len = msg_size(c);
			fill(&c->out, c->buf, len);
			off = 0;
		}
		while (off < len && (r = send(c->fd, c->buf + off, len - off, MSG_NOSIGNAL)) > 0) {
			off += r;
			sent += r;
		}
		if (off < len && errno != EAGAIN)
			return -1;
		while ((r = read(c->fd, c->echo, sizeof(c->echo))) > 0) {
			if (check(&c->back, c->echo, r))
				atomic_fetch_add(&sh->corrupt, 1);
			got += r;
		}
		if (r == 0)
			return closing && got == sent ? 0 : -1;
		if (errno != EAGAIN)
			return -1;
		if (off == len && !closing && got == sent)
			continue;
		if (!duplex_wait(c, off < len))
			atomic_fetch_add(&sh->stalls, 1);
	}
}

static void *client_conn(void *arg)
{
	int id = (int)(intptr_t)arg, r;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct cconn *c = calloc(1, sizeof(*c));
	uint32_t hdr = id;

	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	c->kind = id % C_KINDS;
	c->out.s = c->back.s = 0x9e3779b97f4a7c15ull * (id + 1);
	c->rnd = id * 7919 + 1;
	if (connect(c->fd, (void *)&a, sizeof(a)) || write_full(c->fd, &hdr, 4, -1))
		return (void *)1;
	if (c->kind == C_BLOCK)
		r = client_blocking(c, now() + seconds);
	else
		r = client_duplex(c, now() + seconds);
	close(c->fd);
	return r ? (void *)1 : NULL;
}

static void client_proc(int p)
{
	pthread_t t[PER];
	void *r;
	int i, bad = 0;

	for (i = 0; i < PER; i++)
		pthread_create(&t[i], NULL, client_conn, (void *)(intptr_t)(p * PER + i));
	for (i = 0; i < PER; i++) {
		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	exit(bad ? 1 : 0);
}

/* ---- server ---- */

struct sconn {
	int fd, id;
	struct stream st;
	uint8_t buf[MAXMSG];
	bool et;
};

/* Verify and echo what is readable; false at EOF/error (connection done). */
static bool serve_some(struct sconn *c, bool nonblock)
{
	ssize_t r;

	for (;;) {
		r = read(c->fd, c->buf, sizeof(c->buf));
		if (r < 0 && errno == EAGAIN && nonblock)
			return true;
		if (r <= 0)
			break;
		if (check(&c->st, c->buf, r))
			atomic_fetch_add(&sh->corrupt, 1);
		atomic_fetch_add(&sh->bytes, r);
		if (write_full(c->fd, c->buf, r, c->id))
			break;
		if (nonblock && !c->et)
			return true;
	}
	sh->end_time[c->id] = now();
	close(c->fd);
	return false;
}

static void *serve_blocking(void *arg)
{
	serve_some(arg, false);
	return NULL;
}

static void *serve_epoll(void *arg)
{
	int ep = (int)(intptr_t)arg, left = NCONN - (NCONN + 2) / 3, n, i;
	struct epoll_event ev[16];

	while (left > 0) {
		n = epoll_wait(ep, ev, 16, 5000);
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			struct sconn *c = ev[i].data.ptr;

			if (!serve_some(c, true))
				left--;
		}
	}
	return NULL;
}

static void server(int l)
{
	pthread_t t[NCONN], et;
	int ep = epoll_create1(0), nt = 0, i;
	uint32_t hdr;

	pthread_create(&et, NULL, serve_epoll, (void *)(intptr_t)ep);
	for (i = 0; i < NCONN; i++) {
		struct sconn *c = calloc(1, sizeof(*c));

		c->fd = accept(l, NULL, NULL);
		if (read_full(c->fd, &hdr, 4) != 1 || hdr >= NCONN)
			exit(3);
		c->id = hdr;
		c->st.s = 0x9e3779b97f4a7c15ull * (hdr + 1);
		if (hdr % 3 == 0) {
			pthread_create(&t[nt++], NULL, serve_blocking, c);
			continue;
		}
		c->et = hdr % 3 == 2;
		fcntl(c->fd, F_SETFL, O_NONBLOCK);
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &(struct epoll_event){
			EPOLLIN | EPOLLRDHUP | (c->et ? EPOLLET : 0), { .ptr = c } });
	}
	for (i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	pthread_join(et, NULL);
	exit(0);
}

static int listen_on(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (void *)&a, sizeof(a)) || listen(fd, NCONN))
		exit(2);
	return fd;
}

static pid_t cl[NPROC];

/* A client died: its sockets are closed now (exit closes files last). */
static void on_child(int sig, siginfo_t *si, void *ctx)
{
	int i;

	(void)sig;
	(void)ctx;
	for (i = 0; i < NPROC; i++)
		if (cl[i] == si->si_pid && sh->kill_time[i])
			sh->death_time[i] = now();
}

/* Sleep @s seconds, whatever signals arrive meanwhile. */
static void sleep_for(double s)
{
	double end = now() + s;

	while (now() < end)
		usleep((useconds_t)((end - now()) * 1e6) + 1);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = on_child, .sa_flags = SA_SIGINFO | SA_RESTART };
	pid_t srv;
	int l, i, st, failed = 0, late = 0, victims[2];
	double delay, worst = 0;

	if (argc != 3 && argc != 4)
		return fprintf(stderr, "usage: hsock-stress PORT SECONDS [BLOCKMSG]\n"), 2;
	port = atoi(argv[1]);
	seconds = atoi(argv[2]);
	if (argc == 4 && (blockmsg = strtoul(argv[3], NULL, 0)) - 1 >= MAXMSG)
		return fprintf(stderr, "hsock-stress: BLOCKMSG is 1..%d\n", MAXMSG), 2;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	l = listen_on();
	srv = fork();
	if (srv == 0)
		server(l);
	close(l);
	for (i = 0; i < NPROC; i++)
		if ((cl[i] = fork()) == 0)
			client_proc(i);
	sigaction(SIGCHLD, &sa, NULL);
	srand(getpid());
	victims[0] = rand() % NPROC;
	victims[1] = (victims[0] + 1 + rand() % (NPROC - 1)) % NPROC;
	for (i = 0; i < 2; i++) {
		sleep_for((200000 + rand() % (seconds * 400000)) / 1e6);
		sh->kill_time[victims[i]] = now();
		kill(cl[victims[i]], SIGKILL);
	}
	for (i = 0; i < NPROC; i++) {
		waitpid(cl[i], &st, 0);
		if (!sh->kill_time[i] && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			failed++;
	}
	waitpid(srv, &st, 0);
	for (i = 0; i < NCONN; i++) {
		if (!sh->kill_time[i / PER])
			continue;
		delay = sh->end_time[i] && sh->death_time[i / PER] ?
			sh->end_time[i] - sh->death_time[i / PER] : 99;
		worst = delay > worst ? delay : worst;
		late += delay > 1.0;
	}
	printf("connections %d killed %d failed-healthy-procs %d corrupt %d stalls %d late %d worst-detect %.3fs bytes %ld server %s\n",
	       NCONN, 2 * PER, failed, sh->corrupt, sh->stalls, late, worst, sh->bytes,
	       WIFEXITED(st) && !WEXITSTATUS(st) ? "ok" : "failed");
	return failed || sh->corrupt || sh->stalls || late || !WIFEXITED(st) || WEXITSTATUS(st) ? 1 : 0;
}
