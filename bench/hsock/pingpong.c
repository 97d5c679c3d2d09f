// SPDX-License-Identifier: GPL-2.0
/*
 * pingpong MODE ENDPOINT SIZE SECONDS [CONNS]
 *   MODE lat: ping-pong of SIZE-byte messages; prints "p50_us avg_us"
 *   MODE bw:  one-way stream of SIZE-byte writes; prints "MB_per_s"
 *   MODE mem: CONNS connections each exchange SIZE bytes twice and stay
 *             open, idle in epoll sets; prints "ready", waits for stdin EOF
 *   MODE act: CONNS active connections: one client thread writes SIZE
 *             bytes to each in turn (non-blocking, skipping full ones),
 *             the server reads them all in turn for SECONDS; prints
 *             "ready" when all are connected, then the server's "MB_per_s"
 *   MODE elat: lat against an epoll echo server (one thread, level-
 *             triggered, non-blocking reads, as proxies are) that holds
 *             CONNS connections; each exchanges one message, then all but
 *             one stay idle in its epoll set while that one ping-pongs
 *   MODE elat-et: the same, edge-triggered, each read until EAGAIN
 *   MODE line: the floor of any shared-memory path between two processes:
 *             SIZE bytes plus a sequence number ping-pong through two
 *             cache lines of a MAP_SHARED page (ENDPOINT unused); prints
 *             "p50_us avg_us" like lat
 *   ENDPOINT: tcp:PORT (loopback) or unix:PATH
 * The server is a forked child; the same binary runs under hsock-run or
 * not, so TCP, Unix socket and hsock are measured by one program.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *ep;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static socklen_t addr(struct sockaddr_storage *ss, int *fam)
{
	struct sockaddr_in *in = (void *)ss;
	struct sockaddr_un *un = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!strncmp(ep, "unix:", 5)) {
		*fam = AF_UNIX;
		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof(un->sun_path), "%s", ep + 5);
		return sizeof(*un);
	}
	*fam = AF_INET;
	in->sin_family = AF_INET;
	in->sin_port = htons(atoi(ep + 4));
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*in);
}

static int listener(void)
{
	struct sockaddr_storage ss;
	int fam, one = 1, fd;
	socklen_t l = addr(&ss, &fam);

	fd = socket(fam, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fam == AF_UNIX)
		unlink(ep + 5);
	if (bind(fd, (void *)&ss, l) || listen(fd, 4096))
		exit(2);
	return fd;
}

static int dial(void)
{
	struct sockaddr_storage ss;
	int fam, one = 1, fd;
	socklen_t l = addr(&ss, &fam);

	fd = socket(fam, SOCK_STREAM, 0);
	if (connect(fd, (void *)&ss, l))
		exit(3);
	if (fam == AF_INET)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int full(int fd, char *buf, size_t n, int wr)
{
	size_t off = 0;
	ssize_t r;

	while (off < n) {
		r = wr ? write(fd, buf + off, n - off) : read(fd, buf + off, n - off);
		if (r <= 0)
			return -1;
		off += r;
	}
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void lat(int fd, size_t size, double secs)
{
	char *buf = calloc(1, size);
	static double s[2000000];
	double end = now() + secs, t, sum = 0;
	size_t n = 0;

	while (n < sizeof(s) / sizeof(s[0]) && (t = now()) < end) {
		if (full(fd, buf, size, 1) || full(fd, buf, size, 0))
			exit(4);
		s[n] = (now() - t) / 2 * 1e6;	/* one-way, as sockperf reports */
		sum += s[n++];
	}
	qsort(s, n, sizeof(s[0]), cmp);
	printf("%.3f %.3f\n", s[n / 2], sum / n);
}

static void bw(int fd, size_t size, double secs)
{
	char *buf = calloc(1, size), ack;
	double t0 = now(), end = t0 + secs;
	unsigned long long bytes = 0;

	while (now() < end) {
		if (full(fd, buf, size, 1))
			exit(4);
		bytes += size;
	}
	shutdown(fd, SHUT_WR);
	if (read(fd, &ack, 1) != 1)	/* the server has read everything */
		exit(5);
	printf("%.1f\n", bytes / (now() - t0) / 1e6);
}

/*
 * line: one cache line each way, 128 bytes apart (no adjacent-line
 * prefetch pairing); the sequence word is written after the payload, as a
 * ring publishes head after the bytes.  What is left is the cost of moving
 * a line between the two CPUs, plus the clock reads lat pays too.
 */
struct line {
	_Atomic unsigned long seq;
	char data[56];
} __attribute__((aligned(128)));

static void line_side(struct line *in, struct line *out, size_t size,
		      double secs, bool client)
{
	static double s[2000000];
	double end = now() + secs, t, sum = 0;
	unsigned long seq = 0;
	char buf[56] = { 0 };
	size_t n = 0;

	if (size > sizeof(buf))
		size = sizeof(buf);
	for (;;) {
		if (!client) {
			while (atomic_load_explicit(&in->seq, memory_order_acquire) == seq)
				;
			seq = atomic_load_explicit(&in->seq, memory_order_acquire);
			if (seq == ~0UL)
				exit(0);
			memcpy(buf, in->data, size);
			memcpy(out->data, buf, size);
			atomic_store_explicit(&out->seq, seq, memory_order_release);
			continue;
		}
		t = now();
		if (n == sizeof(s) / sizeof(s[0]) || t >= end) {
			atomic_store_explicit(&out->seq, ~0UL, memory_order_release);
			break;
		}
		memcpy(out->data, buf, size);
		atomic_store_explicit(&out->seq, ++seq, memory_order_release);
		while (atomic_load_explicit(&in->seq, memory_order_acquire) != seq)
			;
		memcpy(buf, in->data, size);
		s[n] = (now() - t) / 2 * 1e6;
		sum += s[n++];
	}
	qsort(s, n, sizeof(s[0]), cmp);
	printf("%.3f %.3f\n", s[n / 2], sum / n);
}

static int line(size_t size, double secs)
{
	struct line *l = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid;

	if (l == MAP_FAILED)
		return 2;
	pid = fork();
	if (pid == 0)
		line_side(&l[0], &l[1], size, secs, false);
	line_side(&l[1], &l[0], size, secs, true);
	waitpid(pid, NULL, 0);
	return 0;
}

/* Idle connections wait the way servers do: in an epoll set. */
static void park(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &(struct epoll_event){ EPOLLIN, { .fd = fd } });
}

static void wait_idle(int ep)
{
	struct epoll_event ev[16];

	epoll_wait(ep, ev, 16, 300);
}

/*
 * GShm held, in KiB: the hsock objects of connections to our port, plus
 * the record pool of this uid (its pages in use by anyone).
 */
static double shm_held(void)
{
	const char *dir = getenv("HSOCK_SHM_DIR") ? getenv("HSOCK_SHM_DIR") : "/dev/shm";
	char port[32], pool[64], path[512];
	struct dirent *e;
	struct stat st;
	double kib = 0;
	DIR *d = opendir(dir);

	snprintf(port, sizeof(port), "_%s", strchr(ep, ':') + 1);
	snprintf(pool, sizeof(pool), "hsock-%u-pool", (unsigned int)geteuid());
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name), m = strlen(port);

		if (strcmp(e->d_name, pool) && (n < m || strcmp(e->d_name + n - m, port)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!stat(path, &st))
			kib += st.st_blocks / 2.0;
	}
	if (d)
		closedir(d);
	return kib;
}

/*
 * act: read every connection in turn for @secs; print the throughput and
 * the peak GShm held (MiB) above what was held before the connections.
 */
static void act_server(int l, char *buf, double secs, int conns)
{
	int *fds = calloc(conns, sizeof(int)), i;
	double t0, t1 = 0, bytes = 0, base = shm_held(), peak = 0, h;
	ssize_t r;

	for (i = 0; i < conns; i++)
		fds[i] = accept(l, NULL, NULL);
	printf("ready\n");
	fflush(stdout);
	for (t0 = now(); now() - t0 < secs;) {
		for (i = 0; i < conns; i++)
			while ((r = recv(fds[i], buf, 65536, MSG_DONTWAIT)) > 0)
				bytes += r;
		if (now() - t1 > 0.1) {
			h = shm_held();
			peak = h > peak ? h : peak;
			t1 = now();
		}
	}
	printf("%.1f %.1f\n", bytes / (now() - t0) / 1e6, (peak - base) / 1024);
	fflush(stdout);
	exit(0);
}

/* act: write to every connection in turn until the server is gone. */
static void act(size_t size, int conns)
{
	char *buf = calloc(1, size);
	int *fds = calloc(conns, sizeof(int)), i, live = conns;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < conns; i++)
		fds[i] = dial();
	while (live)
		for (i = 0, live = 0; i < conns; i++)
			if (fds[i] >= 0 && send(fds[i], buf, size, MSG_DONTWAIT) < 0 &&
			    errno != EAGAIN) {
				close(fds[i]);
				fds[i] = -1;
			} else if (fds[i] >= 0) {
				live++;
			}
}

/*
 * elat: echo whatever is readable, on any of @conns connections; @et:
 * edge-triggered, each connection read until EAGAIN (as nginx does).
 */
static void elat_server(int l, char *buf, int conns, bool et)
{
	int ep = epoll_create1(0), i, n, fd;
	struct epoll_event ev[64];
	ssize_t r;

	for (i = 0; i < conns; i++) {
		fd = accept(l, NULL, NULL);
		fcntl(fd, F_SETFL, O_NONBLOCK);
		epoll_ctl(ep, EPOLL_CTL_ADD, fd,
			  &(struct epoll_event){ EPOLLIN | (et ? EPOLLET : 0), { .fd = fd } });
	}
	for (;;) {
		n = epoll_wait(ep, ev, 64, -1);
		for (i = 0; i < n; i++) {
			do {
				r = read(ev[i].data.fd, buf, 65536);
				if (r == 0)
					exit(0);
				if (r > 0 && full(ev[i].data.fd, buf, (size_t)r, 1))
					exit(7);
			} while (et && r > 0);
		}
	}
}

/* elat: every connection once (so that each switches), then lat on one. */
static void elat(size_t size, int conns, double secs)
{
	char *buf = calloc(1, size);
	int *fds = calloc(conns, sizeof(int)), i;

	for (i = 0; i < conns; i++)
		fds[i] = dial();
	for (i = 0; i < conns; i++)
		if (full(fds[i], buf, size, 1) || full(fds[i], buf, size, 0))
			exit(8);
	lat(fds[0], size, secs);
}

static void server(int l, const char *mode, size_t size, int conns, double secs)
{
	char *buf = malloc(size > 65536 ? size : 65536);
	int fd, i;
	ssize_t r;

	if (!strcmp(mode, "act"))
		act_server(l, buf, secs, conns);
	if (!strncmp(mode, "elat", 4))
		elat_server(l, buf, conns, !strcmp(mode, "elat-et"));

	if (!strcmp(mode, "mem")) {
		int ep = epoll_create1(0);

		for (i = 0; i < conns; i++) {
			fd = accept(l, NULL, NULL);
			for (int k = 0; k < 2; k++)	/* the second one crosses GShm */
				if (full(fd, buf, size, 0) || full(fd, buf, size, 1))
					exit(6);
			park(ep, fd);
		}
		wait_idle(ep);
		pause();
	}
	fd = accept(l, NULL, NULL);
	if (!strcmp(mode, "lat")) {
		while (!full(fd, buf, size, 0) && !full(fd, buf, size, 1))
			;
	} else {
		while ((r = read(fd, buf, 65536)) > 0)
			;
		full(fd, buf, 1, 1);
	}
	exit(0);
}

static void mem(size_t size, int conns)
{
	char *buf = calloc(1, size), c;
	int i, fd, ep = epoll_create1(0);

	for (i = 0; i < conns; i++) {
		fd = dial();
		for (int k = 0; k < 2; k++)
			if (full(fd, buf, size, 1) || full(fd, buf, size, 0))
				exit(4);
		park(ep, fd);
	}
	wait_idle(ep);
	sleep(1);	/* the server parks its side too */
	printf("ready\n");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
}

int main(int argc, char **argv)
{
	size_t size;
	pid_t pid;
	int l;

	if (argc < 5)
		return fprintf(stderr, "usage: pingpong lat|bw|mem|act|elat|line tcp:PORT|unix:PATH SIZE SECONDS [CONNS]\n"), 2;
	ep = argv[2];
	size = strtoul(argv[3], NULL, 0);
	if (!strcmp(argv[1], "line"))
		return line(size, atof(argv[4]));
	l = listener();
	pid = fork();
	if (pid == 0)
		server(l, argv[1], size, argc > 5 ? atoi(argv[5]) : 1, atof(argv[4]));
	close(l);
	if (!strcmp(argv[1], "act"))
		act(size, atoi(argv[5]));
	else if (!strncmp(argv[1], "elat", 4))
		elat(size, argc > 5 ? atoi(argv[5]) : 1, atof(argv[4]));
	else if (!strcmp(argv[1], "mem"))
		mem(size, atoi(argv[5]));
	else {
		int fd = dial();

		if (!strcmp(argv[1], "lat"))
			lat(fd, size, atof(argv[4]));
		else
			bw(fd, size, atof(argv[4]));
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return 0;
}
