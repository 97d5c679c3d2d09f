// SPDX-License-Identifier: GPL-2.0
/*
 * hsock-rdmacheck: the rdma backend's verbs layer (hsock/ial_rdma.h) on a
 * real device, soft-RoCE in the qemu guest of
 * tests/integration/kernel/rdma.sh.
 *
 *   hsock-rdmacheck DEVICE MIB CHUNK_KIB
 *
 * Two processes joined by a socketpair, over which they swap descriptors.
 * The target registers MIB MiB of zeroes; the writer RDMA-WRITEs a
 * pseudo-random pattern of the same size into it in CHUNK_KIB pieces, the
 * last one WITH IMMEDIATE (the chunk count); the target waits for that
 * notification and compares every byte and the checksum.  The writer
 * also reads a chunk back (RDMA READ), has out-of-range writes refused
 * before posting, and on a second queue pair writes with a wrong rkey,
 * which must fail with -EACCES and leave the target's bytes unchanged.
 * Prints "ok ..." or "FAIL ..." lines; exits 0 when every step passed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hsock/ial_rdma.h"

#define TIMEOUT_MS	20000

struct side {
	const char *who;
	const char *dev;
	int fd;			/* the socketpair end */
	uint8_t *buf;
	size_t len;		/* the compared region; buf holds one more chunk */
	size_t chunk;
	struct ial_rdma_lib *lib;
	int failed;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void say(struct side *s, int ok, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("%s %s: %s\n", ok ? "ok" : "FAIL", s->who, line);
	fflush(stdout);
	if (!ok)
		s->failed = 1;
}

static void pattern(uint8_t *p, size_t len)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t i;

	for (i = 0; i < len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, len - i < 8 ? len - i : 8);
	}
}

static uint64_t fnv1a(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (len--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

static int xfer(int fd, void *p, size_t len, int out)
{
	ssize_t n;

	while (len) {
		n = out ? write(fd, p, len) : read(fd, p, len);
		if (n <= 0)
			return -1;
		p = (char *)p + n;
		len -= n;
	}
	return 0;
}

/* Open a queue pair on our region, swap descriptors, connect. */
static struct ial_rdma *pair(struct side *s, struct ial_rdma_desc *peer,
			     uint32_t rkey_xor)
{
	uint8_t wire[IAL_RDMA_DESC_LEN];
	struct ial_rdma_desc d;
	struct ial_rdma *r;
	char err[256];
	int ret;

	ret = ial_rdma_open(s->lib, s->dev, s->buf, s->len + s->chunk, &r,
			    err, sizeof(err));
	if (ret) {
		say(s, 0, "open: %s (%d)", err, ret);
		return NULL;
	}
	ial_rdma_local(r, &d);
	ial_rdma_desc_encode(&d, wire);
	if (xfer(s->fd, wire, sizeof(wire), 1) || xfer(s->fd, wire, sizeof(wire), 0)) {
		say(s, 0, "descriptor exchange: peer gone");
		goto err;
	}
	ret = ial_rdma_desc_decode(wire, sizeof(wire), peer);
	if (ret) {
		say(s, 0, "peer descriptor: %s", strerror(-ret));
		goto err;
	}
	peer->rkey ^= rkey_xor;
	ret = ial_rdma_connect(r, peer, err, sizeof(err));
	if (ret) {
		say(s, 0, "connect: %s", err);
		goto err;
	}
	return r;
err:
	ial_rdma_close(r);
	return NULL;
}

static void writer_bounds(struct side *s, struct ial_rdma *r,
			  const struct ial_rdma_desc *peer)
{
	int a = ial_rdma_write(r, s->len + s->chunk - 4096, 0, 8192, TIMEOUT_MS);
	int b = ial_rdma_write(r, 0, peer->len - 100, 200, TIMEOUT_MS);
	int c = ial_rdma_read(r, 0, peer->len, 1, TIMEOUT_MS);

	say(s, a == -ERANGE && b == -ERANGE && c == -ERANGE,
	    "out-of-range refused before posting: local end %d, remote end %d, read past the peer %d",
	    a, b, c);
}

static void writer_stream(struct side *s, struct ial_rdma *r)
{
	size_t off, n = s->len / s->chunk;
	uint8_t *back = s->buf + s->len;
	double t = now();
	int ret = 0;

	for (off = 0; !ret && off + s->chunk < s->len; off += s->chunk)
		ret = ial_rdma_write(r, off, off, s->chunk, TIMEOUT_MS);
	if (!ret)
		ret = ial_rdma_notify(r, off, off, s->chunk, n, TIMEOUT_MS);
	t = now() - t;
	if (ret) {
		say(s, 0, "write at %zu: %d (%s)", off, ret, ial_rdma_status(r));
		return;
	}
	say(s, 1, "write: %zu MiB in %zu chunks of %zu KiB, last with immediate %zu: %.0f ms, %.1f MiB/s",
	    s->len >> 20, n, s->chunk >> 10, n, t * 1e3, (s->len >> 20) / t);
	/* the middle chunk back from the target's region */
	memset(back, 0, s->chunk);
	ret = ial_rdma_read(r, s->len, s->len / 2, s->chunk, TIMEOUT_MS);
	if (ret)
		say(s, 0, "read: %d (%s)", ret, ial_rdma_status(r));
	else
		say(s, !memcmp(back, s->buf + s->len / 2, s->chunk),
		    "read back %zu KiB at %zu MiB of the target", s->chunk >> 10,
		    s->len >> 21);
}

static void writer(struct side *s)
{
	struct ial_rdma_desc peer;
	struct ial_rdma *r;
	char verdict;
	int ret;

	pattern(s->buf, s->len);
	r = pair(s, &peer, 0);
	if (!r)
		return;
	writer_bounds(s, r, &peer);
	writer_stream(s, r);
	ial_rdma_close(r);
	if (xfer(s->fd, &verdict, 1, 0)) {
		say(s, 0, "target gone");
		return;
	}
	/*
	 * A second queue pair whose writes carry a wrong rkey, with other
	 * bytes than the target holds: it would see them if one landed.
	 */
	r = pair(s, &peer, 0x5a5a5a00);
	if (!r)
		return;
	memset(s->buf, 0xee, s->chunk);
	ret = ial_rdma_write(r, 0, 0, s->chunk, TIMEOUT_MS);
	say(s, ret == -EACCES, "wrong rkey: %d (%s)", ret, ial_rdma_status(r));
	ret = ial_rdma_write(r, 0, 0, 8, TIMEOUT_MS);
	say(s, ret == -ENOTCONN, "after the error the queue pair refuses: %d", ret);
	ial_rdma_close(r);
	xfer(s->fd, &verdict, 1, 1);
}

static void target_check(struct side *s, const char *when, uint64_t want)
{
	uint8_t *expect = malloc(s->len);
	size_t i;

	if (!expect) {
		say(s, 0, "out of memory");
		return;
	}
	pattern(expect, s->len);
	for (i = 0; i < s->len && s->buf[i] == expect[i]; i++)
		;
	if (i < s->len)
		say(s, 0, "%s: first wrong byte at %zu (0x%02x, want 0x%02x)",
		    when, i, s->buf[i], expect[i]);
	else
		say(s, fnv1a(s->buf, s->len) == want,
		    "%s: %zu MiB byte for byte, checksum %016llx", when,
		    s->len >> 20, (unsigned long long)want);
	free(expect);
}

static void target(struct side *s)
{
	struct ial_rdma_desc peer;
	uint32_t imm = 0, bytes = 0;
	struct ial_rdma *r;
	uint64_t want;
	char verdict = 1;
	int ret;

	uint8_t *p = malloc(s->len);

	if (!p) {
		say(s, 0, "out of memory");
		return;
	}
	pattern(p, s->len);
	want = fnv1a(p, s->len);
	free(p);
	r = pair(s, &peer, 0);
	if (!r)
		return;
	ret = ial_rdma_wait_notify(r, &imm, &bytes, TIMEOUT_MS);
	if (ret)
		say(s, 0, "notify: %d (%s)", ret, ial_rdma_status(r));
	else
		say(s, imm == s->len / s->chunk && bytes == s->chunk,
		    "notified: immediate %u, %u bytes with it", imm, bytes);
	if (!ret)
		target_check(s, "data", want);
	ial_rdma_close(r);
	xfer(s->fd, &verdict, 1, 1);
	r = pair(s, &peer, 0);
	if (!r)
		return;
	xfer(s->fd, &verdict, 1, 0);	/* the writer's wrong-rkey step done */
	target_check(s, "after the wrong-rkey write", want);
	ial_rdma_close(r);
}

int main(int argc, char **argv)
{
	struct side s = { .who = "target" };
	int sv[2], status;
	char err[256];
	pid_t pid;

	if (argc != 4 || atoi(argv[2]) <= 0 || atoi(argv[3]) < 4) {
		fprintf(stderr, "usage: hsock-rdmacheck DEVICE MIB CHUNK_KIB\n");
		return 2;
	}
	s.dev = argv[1];
	s.len = (size_t)atoi(argv[2]) << 20;
	s.chunk = (size_t)atoi(argv[3]) << 10;
	if (s.len % s.chunk || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 2;
	s.buf = mmap(NULL, s.len + s.chunk, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s.buf == MAP_FAILED)
		return 2;
	pid = fork();
	if (pid < 0)
		return 2;
	s.fd = sv[pid ? 0 : 1];
	close(sv[pid ? 1 : 0]);
	if (ial_rdma_load("libibverbs.so.1", &s.lib, err, sizeof(err))) {
		say(&s, 0, "%s", err);
		return 1;
	}
	if (!pid) {
		s.who = "writer";
		writer(&s);
		return s.failed;
	}
	target(&s);
	close(s.fd);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		s.failed = 1;
	ial_rdma_unload(s.lib);
	return s.failed;
}
