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
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
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

#include "kernel/uapi/hsock.h"

#define STREAM	(1u << 20)
#define CHUNK	3000u	/* not a page multiple: pages are split across calls */

static int port;

static void die(const char *what)
{
	printf("error %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint8_t pat(uint64_t i)
{
	return (uint8_t)((i * 131 + (i >> 11) * 7 + 3) & 0xff);
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t r;

	while (len) {
		r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("write");
		p += r;
		len -= (size_t)r;
	}
}

static size_t read_n(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = read(fd, (char *)buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

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

static void sync2(int fd, bool server)
{
	char b = 's';
	int i;

	for (i = 0; i < 2; i++) {
		if (server) {
			if (read_n(fd, &b, 1) != 1)
				die("sync");
			write_all(fd, &b, 1);
		} else {
			write_all(fd, &b, 1);
			if (read_n(fd, &b, 1) != 1)
				die("sync");
		}
	}
}

static int listen_on(int p)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (void *)&a, sizeof(a)) || listen(fd, 64))
		die("listen");
	return fd;
}

static int dial(int p)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (connect(fd, (void *)&a, sizeof(a)))
		die("connect");
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
	read_n(fd, msg, sizeof(msg) - 1);
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
	/* the last record index: the module hands it out last, so it is free */
	for (i = 0; i < HSOCK_RING_SLOTS; i++) {
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

static void case_liar(void)
{
	struct liar l;
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
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		got += (size_t)r;
	e = errno;
	write_all(fd2, "still alive", 12);
	b = read_n(fd2, buf, 12) == 12 && !strcmp(buf, "still alive");
	close(fd2);
	close(fd);
	reap(srv);
	kill(echo, SIGTERM);
	reap(echo);
	if (r < 0 && e == ECONNRESET && b)
		printf("ok liar: read %zu bytes then ECONNRESET; other connection fine\n",
		       got);
	else
		printf("error liar: read returned %zd (%s) after %zu bytes; other connection %s\n",
		       r, r < 0 ? strerror(e) : "no error", got, b ? "fine" : "broken");
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
		case_liar();
	else
		return fprintf(stderr, "hsock-kpath: unknown case %s\n", argv[1]), 2;
	return 0;
}
