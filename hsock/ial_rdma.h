/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rdma backend's verbs layer: one registered region and one RC queue
 * pair to one peer, for one-sided RDMA WRITE/READ into the peer's region
 * and a WRITE WITH IMMEDIATE that the peer sees as a completion.
 *
 * libibverbs is loaded with dlopen (ial_rdma_load) when this is used and
 * every library call goes through the table it fills; libhsock.so links
 * libc only.  ibv_post_send/ibv_post_recv/ibv_poll_cq are static inline
 * calls through the provider's ops in struct ibv_context: no symbol.
 *
 * Connection: each side ial_rdma_open()s its device with its region,
 * sends the descriptor of ial_rdma_local() to the other (over any byte
 * stream the caller owns: a TCP socket, a pipe), and ial_rdma_connect()s
 * with the one it received.  Then ial_rdma_write()/ial_rdma_read() copy
 * between the two regions, one work request at a time with a wait for
 * its completion, and ial_rdma_notify() writes with an immediate value
 * that the peer takes with ial_rdma_wait_notify().
 *
 * Bounds: every local range is checked against the registered region and
 * every remote range against the length the peer advertised, before
 * anything is posted (-ERANGE); the peer's NIC checks the rkey and its
 * own bounds again (a refused access completes with an error, -EACCES,
 * and leaves the queue pair in the error state: reconnect to go on).
 *
 * Not thread-safe: one thread per struct ial_rdma.  Not fork-safe: the
 * child of a process holding one must not touch the region's pages'
 * mapping (libibverbs' fork rules); open after fork.
 *
 * Functions return 0 or -errno; those taking @err also leave a one-line
 * message naming the device and what failed.
 */
#ifndef HSOCK_IAL_RDMA_H
#define HSOCK_IAL_RDMA_H

#include <stddef.h>
#include <stdint.h>

/*
 * The descriptor one side sends the other, IAL_RDMA_DESC_LEN bytes, all
 * integers big-endian:
 *
 *	 0  u32 magic	IAL_RDMA_MAGIC ("HRD1": also the wire version)
 *	 4  u32 qpn	queue pair number, 24 bits, >= 2
 *	 8  u32 psn	first packet sequence number the sender sends, 24 bits
 *	12  u32 rkey	remote key of the region
 *	16  u64 addr	virtual address of the region (its iova)
 *	24  u64 len	length of the region, > 0, addr + len must not wrap
 *	32  u8 gid[16]	port GID (RoCE: the address, e.g. ::ffff:a.b.c.d)
 *	48  u16 lid	port LID (InfiniBand; 0 on RoCE)
 *	50  u16 zero	reserved, must be 0
 *
 * A GID of all zeroes needs a LID (InfiniBand without GRH).
 */
#define IAL_RDMA_MAGIC		0x48524431u
#define IAL_RDMA_DESC_LEN	52

struct ial_rdma_desc {
	uint32_t qpn;
	uint32_t psn;
	uint32_t rkey;
	uint64_t addr;
	uint64_t len;
	uint8_t gid[16];
	uint16_t lid;
};

void ial_rdma_desc_encode(const struct ial_rdma_desc *d,
			  uint8_t buf[IAL_RDMA_DESC_LEN]);
/* Decode and validate @len bytes; -EPROTO (bad magic or size), -EINVAL. */
int ial_rdma_desc_decode(const uint8_t *buf, size_t len,
			 struct ial_rdma_desc *d);

/*
 * Is [@off, @off + @len) inside a region of @size bytes?  0, or -ERANGE
 * (also when the sum wraps).  A zero @len is inside when @off <= @size.
 */
int ial_rdma_range(uint64_t size, uint64_t off, uint64_t len);

/*
 * The dlopen table.  ial_rdma_load(@soname) opens the library and
 * resolves every symbol this file uses: -ENOENT (library absent) or
 * -ENOSYS (a symbol missing: message names it), and a message in @err.
 * ial_rdma_unload() accepts NULL.
 */
struct ial_rdma_lib;
int ial_rdma_load(const char *soname, struct ial_rdma_lib **out, char *err,
		  size_t errlen);
void ial_rdma_unload(struct ial_rdma_lib *lib);

/*
 * Open device @dev (e.g. "rxe0", "mlx5_0") through @lib (which must
 * outlive the connection), port 1, its first IPv4-mapped RoCE v2 GID
 * (else its first RoCE v2 GID, else its first valid one); allocate a PD, register [@buf, @buf + @len) for local write
 * and remote write/read, create an RC queue pair (in RESET until
 * ial_rdma_connect()) and its two completion queues.
 * -ENODEV when the device does not exist (message says so), -ENETDOWN
 * when its port is not active, else the failing verb's -errno.
 */
struct ial_rdma;
int ial_rdma_open(struct ial_rdma_lib *lib, const char *dev, void *buf,
		  size_t len, struct ial_rdma **out, char *err, size_t errlen);
void ial_rdma_close(struct ial_rdma *r);

/* This side's descriptor, to send to the peer. */
void ial_rdma_local(const struct ial_rdma *r, struct ial_rdma_desc *d);

/* Move the queue pair to RTS towards @peer (from its ial_rdma_local()). */
int ial_rdma_connect(struct ial_rdma *r, const struct ial_rdma_desc *peer,
		     char *err, size_t errlen);

/*
 * One-sided copies between local [@off, @off + @len) and the peer's
 * region at @roff, waiting up to @timeout_ms for the completion.
 * -ERANGE (outside either region: nothing posted), -EMSGSIZE (over the
 * port's message size), -ENOTCONN, -ETIMEDOUT, -EACCES (refused by the
 * peer: rkey or range), -EIO (other completion errors);
 * ial_rdma_status() names the last failed completion.
 */
int ial_rdma_write(struct ial_rdma *r, size_t off, uint64_t roff, size_t len,
		   int timeout_ms);
int ial_rdma_read(struct ial_rdma *r, size_t off, uint64_t roff, size_t len,
		  int timeout_ms);
/* ial_rdma_write() that also delivers @imm to the peer's wait_notify. */
int ial_rdma_notify(struct ial_rdma *r, size_t off, uint64_t roff,
		    size_t len, uint32_t imm, int timeout_ms);
/*
 * Wait up to @timeout_ms for the peer's next notify: its data is in our
 * region when this returns 0 with *@imm and the byte count *@bytes.
 * -ETIMEDOUT (nothing yet: call again), -ENOTCONN, -EPROTO (a receive
 * that is not a write with immediate), or a completion error as above.
 */
int ial_rdma_wait_notify(struct ial_rdma *r, uint32_t *imm, uint32_t *bytes,
			 int timeout_ms);
const char *ial_rdma_status(const struct ial_rdma *r);

#endif
