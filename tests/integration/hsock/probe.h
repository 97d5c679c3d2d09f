/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the probe programs that run under hsock-run
 * (hsock-probe on the user-space path, hsock-kpath in the qemu guest on the
 * module path): one forked server, this process the client, each printing
 * one line "ok ..." or "error ...".  Header-only so the guest program
 * builds from its single source file.
 */
#ifndef HSOCK_PROBE_H
#define HSOCK_PROBE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
	printf("error %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A listening socket on 127.0.0.1:@port (dies on failure). */
static inline int probe_listen4(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (void *)&a, sizeof(a)) || listen(fd, 64))
		die("listen");
	return fd;
}

/* A socket connected to 127.0.0.1:@port (dies on failure). */
static inline int probe_dial4(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (connect(fd, (void *)&a, sizeof(a)))
		die("connect");
	return fd;
}

/* Byte @i of the checked test stream. */
static inline uint8_t pat(uint64_t i)
{
	return (uint8_t)((i * 131 + (i >> 11) * 7 + 3) & 0xff);
}

static inline void write_all(int fd, const void *buf, size_t len)
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

/* Read up to @len bytes; fewer only at EOF or on an error. */
static inline size_t read_n(int fd, void *buf, size_t len)
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

/* Two ping-pong rounds: the first attaches both ends, the second switches. */
static inline void sync2(int fd, bool server)
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

#endif
