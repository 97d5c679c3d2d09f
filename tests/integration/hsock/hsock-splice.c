// SPDX-License-Identifier: GPL-2.0
/*
 * hsock-splice CASE PORT: splice between a pipe and a connected socket,
 * the edges of it (a forked peer, this process the other end).  Prints
 * one line of what the application observed; splice.sh compares it
 * between plain TCP and hsock.
 *   partial  pipe -> socket and socket -> pipe with lengths larger than
 *            what the pipe holds (or has room for) and than what the
 *            socket has: short transfers, every byte in order;
 *   nonblock SPLICE_F_NONBLOCK with an empty pipe, a full pipe, an empty
 *            socket; a non-blocking socket whose peer does not read;
 *   eof      a peer that shut down writing; a pipe without writers;
 *   badfd    the other end is not a pipe.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/hsock/probe.h"

static int port;

/* A connected socket; the forked peer runs @fn on its end. */
static int connected(pid_t *pid, void (*fn)(int))
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), fd;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (void *)&a, sizeof(a)) || listen(l, 1))
		die("listen");
	*pid = fork();
	if (*pid == 0) {
		fd = accept(l, NULL, NULL);
		close(l);
		sync2(fd, true);
		fn(fd);
		exit(0);
	}
	close(l);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (void *)&a, sizeof(a)))
		die("connect");
	sync2(fd, false);
	return fd;
}

static const char *res(ssize_t r)
{
	static char s[32];

	if (r >= 0)
		return snprintf(s, sizeof(s), "%zd", r), s;
	return errno == EAGAIN ? "EAGAIN" : errno == EINVAL ? "EINVAL" :
	       errno == EPIPE ? "EPIPE" : strerror(errno);
}

/* ---- partial: an echo server, transfers in odd sizes ---- */

static void srv_echo(int fd)
{
	char buf[65536];
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0)
		write_all(fd, buf, r);
}

static void case_partial(void)
{
	static uint8_t buf[200000];
	pid_t pid;
	int fd = connected(&pid, srv_echo), a[2], b[2], bad = 0;
	uint64_t out = 0, in = 0, i;
	ssize_t r, k;

	if (pipe(a) || pipe(b))
		die("pipe");
	srand(11);
	while (in < (8u << 20)) {
		/* pipe -> socket: ask for more than the pipe holds */
		k = 1 + rand() % 60000;
		for (i = 0; i < (uint64_t)k; i++)
			buf[i] = pat(out + i);
		write_all(a[1], buf, k);
		while (k > 0) {
			r = splice(a[0], NULL, fd, NULL, k + 1 + rand() % 100000, 0);
			if (r <= 0)
				die("splice to socket");
			out += r;
			k -= r;
		}
		/* socket -> pipe: ask for more than there is, then drain */
		while (in < out) {
			r = splice(fd, NULL, b[1], NULL, 1 + rand() % 200000, 0);
			if (r <= 0)
				die("splice from socket");
			if (read_n(b[0], buf, r) != (size_t)r)
				die("read pipe");
			for (i = 0; i < (uint64_t)r; i++)
				bad += buf[i] != pat(in + i);
			in += r;
		}
	}
	/* the total depends on how short the transfers were: not printed */
	printf("partial: moved 8 MiB or more both ways, %d bytes differ, %s\n",
	       bad, in == out ? "all arrived" : "bytes missing");
	shutdown(fd, SHUT_WR);
	waitpid(pid, NULL, 0);
}

/* ---- nonblock ---- */

static int ctl[2];	/* the client's "go" to a stalled server */

static void srv_stall(int fd)
{
	static char buf[1 << 16];
	char go;

	write_all(fd, "hello", 5);
	if (read(ctl[0], &go, 1) != 1)	/* after the client's tests */
		die("ctl");
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void case_nonblock(void)
{
	static char buf[1 << 16];
	int fd, a[2], b[2], full = 0;
	pid_t pid;
	ssize_t r;

	if (pipe(ctl) || pipe(a) || pipe(b))
		die("pipe");
	fd = connected(&pid, srv_stall);
	printf("empty pipe to socket: %s; ", res(splice(a[0], NULL, fd, NULL, 100, SPLICE_F_NONBLOCK)));
	fcntl(b[1], F_SETFL, O_NONBLOCK);
	while (write(b[1], buf, sizeof(buf)) > 0)
		;
	fcntl(b[1], F_SETFL, 0);
	usleep(50000);
	printf("socket to full pipe: %s; ", res(splice(fd, NULL, b[1], NULL, 100, SPLICE_F_NONBLOCK)));
	fcntl(b[0], F_SETFL, O_NONBLOCK);
	while (read(b[0], buf, sizeof(buf)) > 0)
		;
	fcntl(b[0], F_SETFL, 0);
	printf("socket to pipe: %s; ", res(splice(fd, NULL, b[1], NULL, 100, SPLICE_F_NONBLOCK)));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	printf("empty socket to pipe: %s; ", res(splice(fd, NULL, b[1], NULL, 100, SPLICE_F_NONBLOCK)));
	/* the peer does not read: the socket fills, then EAGAIN */
	for (;;) {
		write_all(a[1], buf, sizeof(buf));
		r = splice(a[0], NULL, fd, NULL, sizeof(buf), SPLICE_F_NONBLOCK);
		if (r < 0)
			break;
		full++;
		fcntl(a[0], F_SETFL, O_NONBLOCK);	/* what did not fit */
		while (read(a[0], buf, sizeof(buf)) > 0)
			;
		fcntl(a[0], F_SETFL, 0);
	}
	printf("pipe to full socket: %s after %s\n", res(r), full ? "some" : "none");
	fcntl(fd, F_SETFL, 0);
	write_all(ctl[1], "g", 1);
	shutdown(fd, SHUT_WR);
	waitpid(pid, NULL, 0);
}

/* ---- eof ---- */

static void srv_bye(int fd)
{
	write_all(fd, "bye", 3);
	shutdown(fd, SHUT_WR);
	read_n(fd, &(char){ 0 }, 1);
}

static void case_eof(void)
{
	pid_t pid;
	int fd = connected(&pid, srv_bye), a[2], b[2];
	char buf[8] = "";
	ssize_t r;

	if (pipe(a) || pipe(b))
		die("pipe");
	r = splice(fd, NULL, b[1], NULL, 100, 0);
	read_n(b[0], buf, r > 0 ? r : 0);
	printf("data %s [%s]; ", res(r), buf);
	printf("after shutdown %s; ", res(splice(fd, NULL, b[1], NULL, 100, 0)));
	close(a[1]);
	printf("pipe without writer %s\n", res(splice(a[0], NULL, fd, NULL, 100, 0)));
	write_all(fd, "x", 1);
	waitpid(pid, NULL, 0);
}

/* ---- badfd ---- */

static void case_badfd(void)
{
	char path[] = "/tmp/hsock-splice-XXXXXX";
	pid_t pid;
	int fd = connected(&pid, srv_bye), f = mkstemp(path);

	unlink(path);
	usleep(50000);
	printf("socket to file %s; ", res(splice(fd, NULL, f, NULL, 100, 0)));
	printf("file to socket %s\n", res(splice(f, NULL, fd, NULL, 100, 0)));
	write_all(fd, "x", 1);
	waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	static const struct { const char *name; void (*fn)(void); } cases[] = {
		{ "partial", case_partial }, { "nonblock", case_nonblock },
		{ "eof", case_eof }, { "badfd", case_badfd },
	};
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc != 3)
		return fprintf(stderr, "usage: hsock-splice CASE PORT\n"), 2;
	port = atoi(argv[2]);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(argv[1], cases[i].name))
			return cases[i].fn(), 0;
	fprintf(stderr, "hsock-splice: unknown case %s\n", argv[1]);
	return 2;
}
