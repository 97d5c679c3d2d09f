// SPDX-License-Identifier: GPL-2.0
/*
 * hpfaas-fn: a tiny function of a demo chain, an unmodified TCP program
 * (hsock attaches to it by LD_PRELOAD, it knows nothing of heteropod).
 *
 *   hpfaas-fn serve NAME LISTEN_IP:PORT [NEXT_IP:PORT]
 *	Serves one connection at a time.  Each request is one line; with a
 *	next function it forwards the line there over one connection kept
 *	for the caller's connection and answers with the next function's
 *	reply plus " NAME", else with the line plus " NAME".
 *   hpfaas-fn call IP:PORT COUNT
 *	Sends COUNT requests on one connection and prints the last reply
 *	and the mean round trip in microseconds.
 *
 * IPv4 only (the demo's pod IPs).  SIGTERM ends `serve` with exit(0), so
 * that at-exit work (hsock's stats) runs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 512

static volatile sig_atomic_t stopping;	/* SIGTERM: serve returns */

/* A buffered line reader on a stream socket. */
struct conn {
	int fd;
	char buf[4096];
	size_t len;
};

static int parse(const char *text, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(text, ':');

	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static int dial(const char *text)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if (parse(text, &sa))
		return -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One line without its '\n' into @out; 0, or -1 on EOF/error. */
static int read_line(struct conn *c, char *out, size_t n)
{
	char *nl;
	ssize_t r;
	size_t k;

	while (!(nl = memchr(c->buf, '\n', c->len))) {
		if (c->len == sizeof(c->buf))
			return -1;
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r < 0 && errno == EINTR && !stopping)
			continue;
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
	k = (size_t)(nl - c->buf) < n ? (size_t)(nl - c->buf) : n - 1;
	memcpy(out, c->buf, k);
	out[k] = '\0';		/* a longer line is cut */
	c->len -= (size_t)(nl + 1 - c->buf);
	memmove(c->buf, nl + 1, c->len);
	return 0;
}

static int write_all(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;
	ssize_t w;

	while (off < len) {
		w = write(fd, s + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/* Serve one caller until it hangs up. */
static void serve_conn(int fd, const char *name, const char *next)
{
	struct conn in = { .fd = fd }, out = { .fd = next ? dial(next) : -1 };
	char req[LINE_MAX_LEN], rep[LINE_MAX_LEN], msg[LINE_MAX_LEN * 2];

	if (next && out.fd < 0) {
		fprintf(stderr, "hpfaas-fn %s: cannot reach %s\n", name, next);
		return;
	}
	while (!read_line(&in, req, sizeof(req))) {
		if (next && (snprintf(msg, sizeof(msg), "%s\n", req),
			     write_all(out.fd, msg) || read_line(&out, rep, sizeof(rep))))
			break;
		snprintf(msg, sizeof(msg), "%s %s\n", next ? rep : req, name);
		if (write_all(fd, msg))
			break;
	}
	if (out.fd >= 0)
		close(out.fd);
}

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static int serve(const char *name, const char *listen_at, const char *next)
{
	struct sigaction act = { .sa_handler = on_term };	/* no SA_RESTART */
	struct sockaddr_in sa;
	int lfd, fd, one = 1;

	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	if (parse(listen_at, &sa)) {
		fprintf(stderr, "hpfaas-fn: bad address '%s', accepted: IPv4:PORT\n", listen_at);
		return 2;
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 16)) {
		perror("hpfaas-fn: listen");
		return 1;
	}
	while (!stopping) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		serve_conn(fd, name, next);
		close(fd);
	}
	close(lfd);
	return 0;
}

static int call(const char *at, long count)
{
	struct conn c = { .fd = dial(at) };
	char line[LINE_MAX_LEN], rep[LINE_MAX_LEN] = "";
	struct timespec t0, t1;
	long i;

	if (c.fd < 0) {
		fprintf(stderr, "hpfaas-fn: cannot reach %s\n", at);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < count; i++) {
		snprintf(line, sizeof(line), "req-%ld\n", i);
		if (write_all(c.fd, line) || read_line(&c, rep, sizeof(rep))) {
			fprintf(stderr, "hpfaas-fn: request %ld failed\n", i);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s\nmean_rtt_us %.1f\n", rep,
	       ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / (count ?: 1));
	close(c.fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
	if (argc == 4 && !strcmp(argv[1], "call"))
		return call(argv[2], atol(argv[3]));
	fprintf(stderr, "usage: hpfaas-fn serve NAME LISTEN_IP:PORT [NEXT_IP:PORT]\n"
			"       hpfaas-fn call IP:PORT COUNT\n");
	return 2;
}
