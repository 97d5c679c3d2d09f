// SPDX-License-Identifier: GPL-2.0
/*
 * What the kernel says an application wrote to a TCP socket, whichever
 * path it took.  hsock counts the bytes its interposed calls send before
 * the switch (tcp_sent, chan.h); a program that also writes past libc's
 * exported entry points - stdio on the socket, dprintf, a raw syscall,
 * io_uring - sends bytes hsock never counted, and switching would make
 * the reader take them for doorbells.  The switch compares the two.
 * (linux/tcp.h, not netinet/tcp.h: only the kernel's has tcpi_bytes_acked.)
 */
#include "hsock/hsock_int.h"

#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>

/*
 * Bytes the application wrote to @fd: acknowledged plus still queued
 * (SIOCOUTQ: not sent or not acknowledged).  The active opener's count of
 * acknowledged bytes includes its SYN (@syn).  An ACK between the two
 * reads would move bytes from one count to the other: read the queue on
 * both sides of TCP_INFO until it did not change.  -errno when the kernel
 * cannot tell.
 */
int hs_tcp_written(int fd, bool syn, uint64_t *n)
{
	struct tcp_info ti;
	socklen_t len;
	int q0, q1, i;

	for (i = 0; i < 8; i++) {
		len = sizeof(ti);
		if (hs.real.ioctl(fd, SIOCOUTQ, &q0) ||
		    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ||
		    hs.real.ioctl(fd, SIOCOUTQ, &q1))
			return -errno;
		if (len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked))
			return -EOPNOTSUPP;
		if (q0 == q1) {
			*n = ti.tcpi_bytes_acked + (uint64_t)q1 - (syn && ti.tcpi_bytes_acked);
			return 0;
		}
	}
	return -EAGAIN;
}
