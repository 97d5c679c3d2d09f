/* SPDX-License-Identifier: GPL-2.0 */
/*
 * IAL, the interconnect abstraction layer: map a named GShm region, notify
 * a peer sleeping on a word of it, fence.  One backend is chosen in
 * ial_open() from HSOCK_GSHM:
 *	shm			/dev/shm files (default; fully supported)
 *	dax:/dev/daxX.Y		CXL device-dax through libdaxctl (dlopen)
 *	rdma:DEVICE		libibverbs device (dlopen)
 * dax and rdma are loaded only when chosen; when their device or library
 * is missing ial_open() fails with a message naming it, and hsock keeps
 * every connection on TCP.
 */
#ifndef HSOCK_IAL_H
#define HSOCK_IAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct ial;

enum {
	IAL_CREATE = 1,	/* create exclusively (fails with -EEXIST) */
};

/* Parse @spec (NULL = "shm") and open the backend; message in @err. */
int ial_open(const char *spec, struct ial **out, char *err, size_t errlen);
void ial_close(struct ial *ial);
const char *ial_backend(const struct ial *ial);

/*
 * Map region @name of @len bytes, created 0600 (zero-filled) with
 * IAL_CREATE.  Without it, waits up to ~10 ms for a creator that is still
 * sizing the region.  Returns 0 and *addr, or -errno.
 */
int ial_map(struct ial *ial, const char *name, size_t len, int flags,
	    void **addr);
void ial_unmap(struct ial *ial, void *addr, size_t len);
int ial_unlink(struct ial *ial, const char *name);

/* Sleep while *word == seen, at most @timeout_ms; 0, -ETIMEDOUT, -EINTR. */
int ial_wait(struct ial *ial, _Atomic uint32_t *word, uint32_t seen,
	     int timeout_ms);
/* Wake every sleeper on @word. */
void ial_notify(struct ial *ial, _Atomic uint32_t *word);
/* Order this side's stores to the region before later ones, for the peer. */
void ial_fence(struct ial *ial);

/* Backend probes used by ial_open() (ial_dax.c, ial_rdma.c). */
int ial_dax_probe(const char *dev, char *err, size_t errlen);
int ial_rdma_probe(const char *dev, char *err, size_t errlen);

#endif
