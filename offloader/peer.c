// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "offloader/peer.h"

void agent_peer_rx_init(struct agent_peer_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
}

void agent_peer_rx_uninit(struct agent_peer_rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof(*rx));
}

int agent_peer_rx_fill(struct agent_peer_rx *rx, int fd)
{
	uint8_t *nb;
	ssize_t n;

	if (rx->cap - rx->len < 65536) {
		if (rx->cap > 4 * AGENT_PEER_MAX_FRAME)
			return -EPROTO;
		nb = realloc(rx->buf, rx->cap + 65536);
		if (!nb)
			return -ENOMEM;
		rx->buf = nb;
		rx->cap += 65536;
	}
	n = read(fd, rx->buf + rx->len, rx->cap - rx->len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	rx->len += (size_t)n;
	return 0;
}

static bool str_set(const char *s)
{
	return s && *s;
}

/* Semantic checks the generated unpacker cannot make. */
static int validate(const agent_peer_msg *m)
{
	switch (m->body_case) {
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_HELLO:
		return m->hello->version_min <= m->hello->version_max &&
		       m->hello->version_min > 0 && str_set(m->hello->node) ? 0 : -EPROTO;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_HEARTBEAT:
		return 0;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_CREATE_HALF:
		return m->create_half->workload &&
		       str_set(m->create_half->workload->uid) ? 0 : -EPROTO;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_DELETE_HALF:
		return str_set(m->delete_half->uid) ? 0 : -EPROTO;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_PORT_MAP:
		return str_set(m->port_map->uid) ? 0 : -EPROTO;
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_HALF_LIST:
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_RESULT:
	case HETEROPOD__PEER__PEER_MESSAGE__BODY_ERROR:
		return 0;
	default:
		return -EPROTO;
	}
}

long agent_peer_decode(const uint8_t *buf, size_t len, agent_peer_msg **out)
{
	agent_peer_msg *m;
	uint32_t n;

	*out = NULL;
	if (len < 4)
		return 0;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	    (uint32_t)buf[2] << 8 | buf[3];
	if (n == 0 || n > AGENT_PEER_MAX_FRAME)
		return -EPROTO;
	if (len - 4 < n)
		return 0;
	m = heteropod__peer__peer_message__unpack(NULL, n, buf + 4);
	if (!m)
		return -EPROTO;
	if (validate(m)) {
		agent_peer_msg_free(m);
		return -EPROTO;
	}
	*out = m;
	return (long)n + 4;
}

void agent_peer_msg_free(agent_peer_msg *m)
{
	if (m)
		heteropod__peer__peer_message__free_unpacked(m, NULL);
}

int agent_peer_rx_next(struct agent_peer_rx *rx, agent_peer_msg **out)
{
	long used = agent_peer_decode(rx->buf, rx->len, out);

	if (used <= 0)
		return (int)used;
	memmove(rx->buf, rx->buf + used, rx->len - (size_t)used);
	rx->len -= (size_t)used;
	return 1;
}

int agent_peer_send(int fd, const agent_peer_msg *m)
{
	size_t n = heteropod__peer__peer_message__get_packed_size(m), off = 0;
	uint8_t *buf = malloc(n + 4);
	ssize_t w;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	heteropod__peer__peer_message__pack(m, buf + 4);
	while (off < n + 4) {
		w = send(fd, buf + off, n + 4 - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			ret = -errno;
			break;
		}
		off += (size_t)w;
	}
	free(buf);
	return ret;
}

int agent_peer_negotiate(uint32_t my_min, uint32_t my_max, uint32_t their_min,
			 uint32_t their_max)
{
	uint32_t hi = my_max < their_max ? my_max : their_max;
	uint32_t lo = my_min > their_min ? my_min : their_min;

	return hi >= lo && hi > 0 ? (int)hi : -EPROTO;
}

static int resolve(const char *addr_port, struct sockaddr_storage *ss,
		   socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(addr_port, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	size_t hl;

	if (!colon || colon == addr_port)
		return -EINVAL;
	hl = (size_t)(colon - addr_port);
	if (addr_port[0] == '[' && hl >= 2 && addr_port[hl - 1] == ']') {
		addr_port++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr_port, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void tune(int fd)
{
	struct timeval tv = { 2, 0 };
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int agent_peer_connect(const char *addr_port, int timeout_ms)
{
	struct sockaddr_storage ss;
	struct pollfd p;
	socklen_t len, el = sizeof(int);
	int fd, ret, soerr = 0;

	ret = resolve(addr_port, &ss, &len);
	if (ret)
		return ret;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS)
		goto err;
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, timeout_ms) != 1) {
		errno = ETIMEDOUT;
		goto err;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el);
	if (soerr) {
		errno = soerr;
		goto err;
	}
	fcntl(fd, F_SETFL, 0);
	tune(fd);
	return fd;
err:
	ret = -errno;
	close(fd);
	return ret;
}

int agent_peer_listen(const char *addr_port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, ret, one = 1;

	ret = resolve(addr_port, &ss, &len);
	if (ret)
		return ret;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 4)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}
