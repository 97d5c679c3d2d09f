// SPDX-License-Identifier: GPL-2.0
/* Namespace entry, checked netlink exchanges, sysctls. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "netns/nl.h"

int ns_leave(int saved, int ret)
{
	int r = hp_netns_restore(saved);

	return ret ? ret : r;
}

int nl_open(struct nl *nl, int bus)
{
	nl->sk = mnl_socket_open2(bus, SOCK_CLOEXEC);
	if (!nl->sk)
		return -errno;
	if (mnl_socket_bind(nl->sk, 0, MNL_SOCKET_AUTOPID) < 0) {
		int ret = -errno;

		mnl_socket_close(nl->sk);
		nl->sk = NULL;
		return ret;
	}
	/* a kernel that never answers must not hang the caller */
	setsockopt(mnl_socket_get_fd(nl->sk), SOL_SOCKET, SO_RCVTIMEO,
		   &(struct timeval){ .tv_sec = 5 }, sizeof(struct timeval));
	nl->portid = mnl_socket_get_portid(nl->sk);
	nl->seq = (uint32_t)getpid() << 12;
	return 0;
}

void nl_close(struct nl *nl)
{
	if (nl && nl->sk)
		mnl_socket_close(nl->sk);
	if (nl)
		nl->sk = NULL;
}

/* Account the acks in one received buffer; returns acks seen or -errno. */
static int count_acks(struct nl *nl, const void *buf, size_t len,
		      uint32_t first, uint32_t last, int *err)
{
	const struct nlmsghdr *h = buf;
	int n = 0;

	for (; mnl_nlmsg_ok(h, (int)len); h = mnl_nlmsg_next(h, (int *)&len)) {
		const struct nlmsgerr *e;

		if (h->nlmsg_pid != nl->portid || h->nlmsg_seq < first ||
		    h->nlmsg_seq > last)
			continue;             /* not ours: ignore */
		if (h->nlmsg_type != NLMSG_ERROR)
			continue;
		if (h->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
			return -EBADMSG;
		e = mnl_nlmsg_get_payload(h);
		if (e->error && !*err)
			*err = e->error;
		n++;
	}
	return n;
}

int nl_send_acked(struct nl *nl, const void *buf, size_t len,
		  uint32_t first, uint32_t last)
{
	if (mnl_socket_sendto(nl->sk, buf, len) < 0)
		return -errno;
	return nl_wait_acks(nl, first, last);
}

int nl_wait_acks(struct nl *nl, uint32_t first, uint32_t last)
{
	char rbuf[MNL_SOCKET_BUFFER_SIZE];
	int want = (int)(last - first + 1), got = 0, err = 0;

	while (got < want) {
		ssize_t r = mnl_socket_recvfrom(nl->sk, rbuf, sizeof(rbuf));
		int n;

		if (r < 0)
			return -errno;
		n = count_acks(nl, rbuf, (size_t)r, first, last, &err);
		if (n < 0)
			return n;
		got += n;
		/* on an error the kernel may not ack the messages after it */
		if (err && n == 0)
			break;
	}
	return err;
}

int nl_request(struct nl *nl, struct nlmsghdr *nlh)
{
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	return nl_send_acked(nl, nlh, nlh->nlmsg_len, nl->seq, nl->seq);
}

int nl_dump(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int ret;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sk, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		ssize_t r = mnl_socket_recvfrom(nl->sk, buf, sizeof(buf));

		if (r < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)r, nl->seq, nl->portid, cb, data);
	} while (ret > 0);
	return ret < 0 ? -errno : 0;
}

int sysctl_get_str(const char *path, char *buf, size_t size)
{
	char p[256];
	int fd, ret = 0;
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/sys/%s", path);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n <= 0) {
		ret = n < 0 ? -errno : -EIO;
	} else {
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
	}
	close(fd);
	return ret;
}

int sysctl_set_str(const char *path, const char *value)
{
	char p[256];
	size_t len = strlen(value);
	int fd, ret = 0;

	snprintf(p, sizeof(p), "/proc/sys/%s", path);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, len) != (ssize_t)len)
		ret = -errno ?: -EIO;
	close(fd);
	return ret;
}

int sysctl_get(const char *path, int *value)
{
	char buf[32];
	int ret = sysctl_get_str(path, buf, sizeof(buf));

	if (!ret)
		*value = atoi(buf);
	return ret;
}

int sysctl_set(const char *path, int value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", value);
	return sysctl_set_str(path, buf);
}
