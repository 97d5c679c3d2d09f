// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "offloader/zds.h"
#include "proto/zds.pb-c.h"

#define MAX_PACKET 65536
#define ACK_TIMEOUT_MS 5000

typedef Istio__Workload__Zds__WorkloadRequest zreq;
typedef Istio__Workload__Zds__WorkloadResponse zresp;

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Send one packet, with @pass_fd as SCM_RIGHTS when >= 0. */
static int send_packet(int fd, const void *buf, size_t len, int pass_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (pass_fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

/*
 * Receive one packet.  Returns its length, -ECONNRESET at EOF, or -errno.
 * Every fd received is returned in *@fds (count in *@nfds, at most 4);
 * the caller closes them.
 */
static ssize_t recv_packet(int fd, void *buf, size_t cap, int *fds, int *nfds)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(fds + *nfds, CMSG_DATA(c), k * sizeof(int));
		*nfds += (int)k;
	}
	if (n == 0)
		return -ECONNRESET;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	return n;
}

static void close_fds(int *fds, int n)
{
	while (n-- > 0)
		close(fds[n]);
}

static int wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, ms);

	if (r < 0)
		return -errno;
	return r ? 0 : -ETIMEDOUT;
}

/* ---- client ---- */

int agent_zds_client_connect(const char *path)
{
	Istio__Workload__Zds__ZdsHello hello = ISTIO__WORKLOAD__ZDS__ZDS_HELLO__INIT;
	uint8_t buf[16];
	struct sockaddr_un sa;
	size_t len;
	int fd, ret;

	ret = unix_addr(path, &sa);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	hello.version = ISTIO__WORKLOAD__ZDS__VERSION__V1;
	len = istio__workload__zds__zds_hello__pack(&hello, buf);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		ret = -errno;
	else
		ret = send_packet(fd, buf, len, -1);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

static void copy(char *dst, size_t n, const char *s)
{
	snprintf(dst, n, "%s", s ? s : "");
}

static int fill_msg(const zreq *r, struct agent_zds_msg *m, int nfds)
{
	Istio__Workload__Zds__WorkloadInfo *wi;

	switch (r->payload_case) {
	case ISTIO__WORKLOAD__ZDS__WORKLOAD_REQUEST__PAYLOAD_ADD:
		if (nfds != 1 || !r->add)
			return -EPROTO;
		m->type = AGENT_ZDS_ADD;
		copy(m->uid, sizeof(m->uid), r->add->uid);
		wi = r->add->workload_info;
		if (wi) {
			copy(m->name, sizeof(m->name), wi->name);
			copy(m->ns, sizeof(m->ns), wi->namespace_);
			copy(m->service_account, sizeof(m->service_account),
			     wi->service_account);
		}
		return 0;
	case ISTIO__WORKLOAD__ZDS__WORKLOAD_REQUEST__PAYLOAD_KEEP:
		m->type = AGENT_ZDS_KEEP;
		copy(m->uid, sizeof(m->uid), r->keep ? r->keep->uid : NULL);
		return nfds ? -EPROTO : 0;
	case ISTIO__WORKLOAD__ZDS__WORKLOAD_REQUEST__PAYLOAD_DEL:
		m->type = AGENT_ZDS_DEL;
		copy(m->uid, sizeof(m->uid), r->del ? r->del->uid : NULL);
		return nfds ? -EPROTO : 0;
	case ISTIO__WORKLOAD__ZDS__WORKLOAD_REQUEST__PAYLOAD_SNAPSHOT_SENT:
		m->type = AGENT_ZDS_SNAPSHOT_SENT;
		return nfds ? -EPROTO : 0;
	default:
		return -EPROTO;
	}
}

int agent_zds_client_read(int fd, struct agent_zds_msg *m)
{
	uint8_t *buf = malloc(MAX_PACKET);
	int fds[4], nfds = 0, ret;
	ssize_t n;
	zreq *r = NULL;

	memset(m, 0, sizeof(*m));
	m->netns_fd = -1;
	if (!buf)
		return -ENOMEM;
	n = recv_packet(fd, buf, MAX_PACKET, fds, &nfds);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	r = istio__workload__zds__workload_request__unpack(NULL, (size_t)n, buf);
	ret = r ? fill_msg(r, m, nfds) : -EPROTO;
	if (!ret && m->type == AGENT_ZDS_ADD) {
		m->netns_fd = fds[0];
		nfds = 0;
	}
out:
	close_fds(fds, nfds);
	if (r)
		istio__workload__zds__workload_request__free_unpacked(r, NULL);
	free(buf);
	return ret;
}

int agent_zds_client_ack(int fd, const char *error)
{
	Istio__Workload__Zds__WorkloadResponse resp =
		ISTIO__WORKLOAD__ZDS__WORKLOAD_RESPONSE__INIT;
	Istio__Workload__Zds__Ack ack = ISTIO__WORKLOAD__ZDS__ACK__INIT;
	uint8_t buf[1024];
	size_t len;

	ack.error = (char *)(error ? error : "");
	resp.payload_case = ISTIO__WORKLOAD__ZDS__WORKLOAD_RESPONSE__PAYLOAD_ACK;
	resp.ack = &ack;
	if (istio__workload__zds__workload_response__get_packed_size(&resp) > sizeof(buf))
		return -EMSGSIZE;
	len = istio__workload__zds__workload_response__pack(&resp, buf);
	return send_packet(fd, buf, len, -1);
}

/* ---- server ---- */

struct agent_zds_server {
	char *path;
	int lfd;
	int cfd;
	unsigned long nacks;
};

int agent_zds_server_create(const char *path, struct agent_zds_server **out)
{
	struct agent_zds_server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa;
	int ret;

	if (!s)
		return -ENOMEM;
	s->cfd = -1;
	s->path = strdup(path);
	s->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ret = unix_addr(path, &sa);
	if (!ret && (s->lfd < 0 || !s->path))
		ret = s->lfd < 0 ? -errno : -ENOMEM;
	if (ret)
		goto err;
	unlink(path);
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(s->lfd, 4)) {
		ret = -errno;
		goto err;
	}
	*out = s;
	return 0;
err:
	agent_zds_server_destroy(s);
	return ret;
}

void agent_zds_server_destroy(struct agent_zds_server *s)
{
	if (!s)
		return;
	agent_zds_server_drop(s);
	if (s->lfd >= 0) {
		close(s->lfd);
		unlink(s->path);
	}
	free(s->path);
	free(s);
}

int agent_zds_server_listen_fd(const struct agent_zds_server *s)
{
	return s->lfd;
}

int agent_zds_server_conn_fd(const struct agent_zds_server *s)
{
	return s->cfd;
}

unsigned long agent_zds_server_nacks(const struct agent_zds_server *s)
{
	return s->nacks;
}

void agent_zds_server_drop(struct agent_zds_server *s)
{
	if (s->cfd >= 0)
		close(s->cfd);
	s->cfd = -1;
}

static int read_hello(int fd)
{
	Istio__Workload__Zds__ZdsHello *h;
	uint8_t buf[256];
	int fds[4], nfds, ret;
	ssize_t n;

	ret = wait_readable(fd, ACK_TIMEOUT_MS);
	if (ret)
		return ret;
	n = recv_packet(fd, buf, sizeof(buf), fds, &nfds);
	close_fds(fds, nfds);
	if (n < 0)
		return (int)n;
	h = istio__workload__zds__zds_hello__unpack(NULL, (size_t)n, buf);
	ret = h && h->version == ISTIO__WORKLOAD__ZDS__VERSION__V1 ? 0 : -EPROTO;
	if (h)
		istio__workload__zds__zds_hello__free_unpacked(h, NULL);
	return ret;
}

static int read_ack(struct agent_zds_server *s)
{
	uint8_t buf[2048];
	int fds[4], nfds, ret;
	zresp *r;
	ssize_t n;

	ret = wait_readable(s->cfd, ACK_TIMEOUT_MS);
	if (ret)
		return ret;
	n = recv_packet(s->cfd, buf, sizeof(buf), fds, &nfds);
	close_fds(fds, nfds);
	if (n < 0)
		return (int)n;
	r = istio__workload__zds__workload_response__unpack(NULL, (size_t)n, buf);
	if (!r || r->payload_case != ISTIO__WORKLOAD__ZDS__WORKLOAD_RESPONSE__PAYLOAD_ACK)
		ret = -EPROTO;
	else if (r->ack && r->ack->error && *r->ack->error)
		s->nacks++;
	if (r)
		istio__workload__zds__workload_response__free_unpacked(r, NULL);
	return ret;
}

static int pack_send(int fd, const zreq *r, int pass_fd)
{
	size_t len = istio__workload__zds__workload_request__get_packed_size(r);
	uint8_t *buf = malloc(len ? len : 1);
	int ret;

	if (!buf)
		return -ENOMEM;
	istio__workload__zds__workload_request__pack(r, buf);
	ret = send_packet(fd, buf, len, pass_fd);
	free(buf);
	return ret;
}

static int send_request(struct agent_zds_server *s, const struct agent_zds_msg *m)
{
	zreq r = ISTIO__WORKLOAD__ZDS__WORKLOAD_REQUEST__INIT;
	Istio__Workload__Zds__AddWorkload add = ISTIO__WORKLOAD__ZDS__ADD_WORKLOAD__INIT;
	Istio__Workload__Zds__WorkloadInfo wi = ISTIO__WORKLOAD__ZDS__WORKLOAD_INFO__INIT;
	Istio__Workload__Zds__DelWorkload del = ISTIO__WORKLOAD__ZDS__DEL_WORKLOAD__INIT;
	Istio__Workload__Zds__SnapshotSent snap = ISTIO__WORKLOAD__ZDS__SNAPSHOT_SENT__INIT;
	int pass = -1;

	switch (m->type) {
	case AGENT_ZDS_ADD:
		wi.name = (char *)m->name;
		wi.namespace_ = (char *)m->ns;
		wi.service_account = (char *)m->service_account;
		add.uid = (char *)m->uid;
		add.workload_info = &wi;
		r.payload_case = ISTIO__WORKLOAD__ZDS__WORKLOAD_REQUEST__PAYLOAD_ADD;
		r.add = &add;
		pass = m->netns_fd;
		break;
	case AGENT_ZDS_DEL:
		del.uid = (char *)m->uid;
		r.payload_case = ISTIO__WORKLOAD__ZDS__WORKLOAD_REQUEST__PAYLOAD_DEL;
		r.del = &del;
		break;
	case AGENT_ZDS_SNAPSHOT_SENT:
		r.payload_case = ISTIO__WORKLOAD__ZDS__WORKLOAD_REQUEST__PAYLOAD_SNAPSHOT_SENT;
		r.snapshot_sent = &snap;
		break;
	default:
		return -EINVAL;
	}
	return pack_send(s->cfd, &r, pass);
}

/* One request and its ack; any failure drops the client. */
static int exchange(struct agent_zds_server *s, const struct agent_zds_msg *m)
{
	int ret = send_request(s, m);

	if (!ret)
		ret = read_ack(s);
	if (ret)
		agent_zds_server_drop(s);
	return ret;
}

int agent_zds_server_accept(struct agent_zds_server *s,
			    const struct agent_zds_msg *ws, size_t n)
{
	struct agent_zds_msg done = { .type = AGENT_ZDS_SNAPSHOT_SENT, .netns_fd = -1 };
	int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC), ret;
	size_t i;

	if (fd < 0)
		return errno == EAGAIN ? 0 : -errno;
	agent_zds_server_drop(s);
	s->cfd = fd;
	ret = read_hello(fd);
	if (ret) {
		agent_zds_server_drop(s);
		return ret;
	}
	for (i = 0; i < n && !ret; i++)
		ret = exchange(s, &ws[i]);
	return ret ? ret : exchange(s, &done);
}

int agent_zds_server_send(struct agent_zds_server *s,
			  const struct agent_zds_msg *m)
{
	if (s->cfd < 0)
		return 0;
	return exchange(s, m);
}
