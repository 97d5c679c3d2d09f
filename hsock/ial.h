/* SPDX-License-Identifier: GPL-2.0 */
/*
 * IAL, the interconnect abstraction layer: map a named GShm region, notify
 * a peer sleeping on a word of it, fence.  One backend is chosen in
 * ial_open() from HSOCK_GSHM:
 *	shm		/dev/shm files (default)
 *	dax:/dev/daxX.Y	device-dax (CXL memory, pmem in devdax mode): found
 *			with libdaxctl (dlopen), mapped whole, regions placed
 *			by a directory at its start (dax_dir.h); futex wait
 *			(sleep-poll where the kernel refuses it)
 *	rdma:DEVICE	libibverbs device (dlopen): opened, a region
 *			registered, then refused - hsock's channels are not
 *			carried over RDMA (see below)
 * dax and rdma are loaded only when chosen; when their device or library
 * is missing (or rdma is found: not implemented) ial_open() fails with a
 * message naming it, and hsock keeps every connection on TCP.
 *
 * rdma has what the issue names - register and expose a region, one-sided
 * RDMA WRITE/READ into a peer's region, WRITE WITH IMMEDIATE as the
 * notify - as its own API, ial_rdma.h, tested on soft-RoCE.  A channel on
 * it would be two mirrored, non-coherent copies of a ring (each side
 * writes into the other's, no shared word to futex on), which the
 * map/wait/notify contract below cannot express: absent, not faked.
 *
 * The backends differ where hsock notices: shm regions are sparse files
 * (MADV_REMOVE gives pages back), dax regions are zeroed extents of the
 * device that MADV_REMOVE cannot shrink, so a dax device must hold the
 * record pool (HSOCK_POOL) and every channel whole: ial_capacity().
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
/* Largest region the backend can place (SIZE_MAX: bounded by memory). */
size_t ial_capacity(const struct ial *ial);
/*
 * dax: free the regions of our uid that no live process maps (hsock-run,
 * at start); returns how many.  shm: 0, its objects are swept by
 * hsock_sweep(), which reads the channel headers.
 */
int ial_sweep(struct ial *ial);

/* The dax backend (ial_dax.c), called by ial.c; same contracts as above. */
struct ial_dax;
int ial_dax_open(const char *dev, struct ial_dax **out, char *err,
		 size_t errlen);
void ial_dax_close(struct ial_dax *d);
size_t ial_dax_capacity(const struct ial_dax *d);
int ial_dax_map(struct ial_dax *d, const char *name, size_t len, int flags,
		void **addr);
void ial_dax_unmap(struct ial_dax *d, void *addr, size_t len);
int ial_dax_unlink(struct ial_dax *d, const char *name);
int ial_dax_sweep(struct ial_dax *d);
int ial_dax_wait(struct ial_dax *d, _Atomic uint32_t *word, uint32_t seen,
		 int timeout_ms);
void ial_dax_notify(struct ial_dax *d, _Atomic uint32_t *word);

/*
 * rdma probe used by ial_open() (ial_rdma.c): -ENOENT/-ENOSYS (library),
 * -ENODEV (no such device), or -EOPNOTSUPP when the device was opened and
 * a region registered; the message in @err ends "; staying on TCP".
 */
int ial_rdma_probe(const char *dev, char *err, size_t errlen);

#endif
