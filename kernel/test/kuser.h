/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal user side of /dev/hsock for the guest tests and the benchmark
 * (static programs, no dependencies): open + map, conns, arenas, and a
 * record stream over one ring (what hsock/ does in full).  Functions return
 * 0 / a count, or -errno.
 */
#ifndef HSOCK_KUSER_H
#define HSOCK_KUSER_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernel/uapi/hsock.h"

struct kdev {
	int fd;
	struct hsock_info info;
	struct hsock_arena_page *ap;
	char *recs;
};

struct kconn {
	uint32_t handle;
	uint64_t token;
	struct hsock_conn_page *cp;
};

static inline int kerr(long r)
{
	return r < 0 ? -errno : (int)r;
}

static inline void kdev_close(struct kdev *d)
{
	if (d->recs && d->recs != MAP_FAILED)
		munmap(d->recs, (size_t)d->info.nr_records * d->info.record_size);
	if (d->ap && (void *)d->ap != MAP_FAILED)
		munmap(d->ap, 4096);
	if (d->fd >= 0)
		close(d->fd);
	memset(d, 0, sizeof(*d));
	d->fd = -1;
}

static inline int kdev_open(struct kdev *d)
{
	memset(d, 0, sizeof(*d));
	d->fd = open(HSOCK_DEVICE, O_RDWR | O_CLOEXEC);
	if (d->fd < 0)
		return -errno;
	if (ioctl(d->fd, HSOCK_IOC_INFO, &d->info) < 0)
		goto err;
	d->ap = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		     d->info.mmap_arena);
	if (d->ap == MAP_FAILED)
		goto err;
	d->recs = mmap(NULL, (size_t)d->info.nr_records * d->info.record_size,
		       PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		       d->info.mmap_records);
	if (d->recs == MAP_FAILED)
		goto err;
	return 0;
err:
	{
		int e = -errno;

		kdev_close(d);
		return e;
	}
}

static inline char *krec(struct kdev *d, uint32_t idx)
{
	return d->recs + (size_t)idx * d->info.record_size;
}

static inline int kconn_map(struct kdev *d, struct kconn *c)
{
	c->cp = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		     HSOCK_MMAP_CONN(c->handle));
	return c->cp == MAP_FAILED ? -errno : 0;
}

static inline int kconn_create(struct kdev *d, struct kconn *c)
{
	struct hsock_conn_req req = { 0 };

	if (ioctl(d->fd, HSOCK_IOC_CONN_CREATE, &req) < 0)
		return -errno;
	c->handle = req.handle;
	c->token = req.token;
	return kconn_map(d, c);
}

static inline int kconn_join(struct kdev *d, struct kconn *c, uint64_t token)
{
	struct hsock_conn_req req = { .token = token };

	if (ioctl(d->fd, HSOCK_IOC_CONN_JOIN, &req) < 0)
		return -errno;
	c->handle = req.handle;
	c->token = token;
	return kconn_map(d, c);
}

static inline int kconn_close(struct kdev *d, struct kconn *c)
{
	if (c->cp && c->cp != MAP_FAILED)
		munmap(c->cp, 4096);
	c->cp = NULL;
	return kerr(ioctl(d->fd, HSOCK_IOC_CONN_CLOSE, (unsigned long)c->handle));
}

static inline int kstats(struct kdev *d, struct hsock_stats *st)
{
	return kerr(ioctl(d->fd, HSOCK_IOC_STATS, st));
}

static inline int krefill(struct kdev *d, uint32_t arena, uint32_t count)
{
	struct hsock_refill r = { .arena = arena, .count = count };

	if (ioctl(d->fd, HSOCK_IOC_REFILL, &r) < 0)
		return -errno;
	return (int)r.count;
}

static inline uint32_t karena_of_cpu(struct kdev *d)
{
	int cpu = sched_getcpu();

	return (uint32_t)(cpu < 0 ? 0 : cpu) % d->ap->nr_arenas;
}

/* Take a record from arena @a without a syscall; HSOCK_NIL when empty. */
static inline uint32_t karena_take(struct kdev *d, uint32_t a)
{
	struct hsock_arena *ar = &d->ap->arena[a];
	uint32_t c, r;

	for (;;) {
		c = __atomic_load_n(&ar->cons, __ATOMIC_RELAXED);
		if (c == __atomic_load_n(&ar->prod, __ATOMIC_ACQUIRE))
			return HSOCK_NIL;
		r = __atomic_load_n(&ar->slot[c % HSOCK_ARENA_SLOTS],
				    __ATOMIC_RELAXED);
		if (__atomic_compare_exchange_n(&ar->cons, &c, c + 1, 0,
						__ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return r;
	}
}

/*
 * Take a record: this CPU's arena, then a refill of it (one syscall per
 * @batch records), then the other arenas.  HSOCK_NIL if none anywhere.
 */
static inline uint32_t ktake(struct kdev *d, uint32_t batch)
{
	uint32_t a = karena_of_cpu(d), i;
	uint32_t r = karena_take(d, a);

	if (r == HSOCK_NIL && krefill(d, a, batch) > 0)
		r = karena_take(d, a);
	for (i = 1; r == HSOCK_NIL && i < d->ap->nr_arenas; i++)
		r = karena_take(d, (a + i) % d->ap->nr_arenas);
	return r;
}

static inline struct hsock_ring *ktx(struct kconn *c)
{
	return &c->cp->ring[HSOCK_HANDLE_SIDE(c->handle)];
}

static inline struct hsock_ring *krx(struct kconn *c)
{
	return &c->cp->ring[!HSOCK_HANDLE_SIDE(c->handle)];
}

static inline int kpeer_armed(struct kconn *c, uint32_t ev)
{
	return __atomic_load_n(&c->cp->armed[!HSOCK_HANDLE_SIDE(c->handle)],
			       __ATOMIC_RELAXED) & ev;
}

static inline int knotify(struct kdev *d, struct kconn *c, uint32_t ev)
{
	struct hsock_notify n = { .handle = c->handle, .events = ev };

	return kerr(ioctl(d->fd, HSOCK_IOC_NOTIFY, &n));
}

/* enable_notify_gshm, sync mode: ready events, -EINTR, -ETIMEDOUT. */
static inline int kwait(struct kdev *d, struct kconn *c, uint32_t ev,
			uint32_t mode, int64_t timeout_ns)
{
	struct hsock_notify n = {
		.handle = c->handle, .mode = HSOCK_NOTIFY_SYNC | mode,
		.events = ev, .timeout_ns = timeout_ns,
	};

	return kerr(ioctl(d->fd, HSOCK_IOC_NOTIFY_ENABLE, &n));
}

/* Records one conn may have in flight: the ring, or the per-process limit. */
static inline uint32_t kwindow(struct kdev *d)
{
	return d->info.rec_limit < HSOCK_RING_SLOTS ? d->info.rec_limit :
						      HSOCK_RING_SLOTS;
}

/* Link record @r at the next send position (not yet published). */
static inline int klink(struct kconn *c, uint32_t r, uint32_t len)
{
	struct hsock_ring *tx = ktx(c);
	uint32_t t = tx->tail;

	if (t - __atomic_load_n(&tx->released, __ATOMIC_ACQUIRE) >=
	    HSOCK_RING_SLOTS)
		return -EAGAIN;
	tx->slot[t % HSOCK_RING_SLOTS].len = len;
	__atomic_store_n(&tx->slot[t % HSOCK_RING_SLOTS].rec, r,
			 __ATOMIC_RELEASE);
	return 0;
}

/* Publish the linked record and wake the peer only if it is armed. */
static inline int kpublish(struct kdev *d, struct kconn *c)
{
	struct hsock_ring *tx = ktx(c);

	__atomic_store_n(&tx->tail, tx->tail + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (kpeer_armed(c, HSOCK_EV_READ))
		return knotify(d, c, HSOCK_EV_READ);
	return 0;
}

/*
 * Send @len (<= record_size) bytes as one record: take, link, write (the
 * first write faults: commit), publish.  -EAGAIN when the window is full
 * or no record is free.  One conn per process: the window keeps it under the
 * per-process limit, so the commit cannot fail.
 */
static inline int ksend(struct kdev *d, struct kconn *c, const void *buf,
			uint32_t len)
{
	uint32_t r;
	int ret;

	if (ktx(c)->tail - __atomic_load_n(&ktx(c)->released, __ATOMIC_ACQUIRE) >=
	    kwindow(d))
		return -EAGAIN;
	r = ktake(d, 8);
	if (r == HSOCK_NIL)
		return -EAGAIN;
	ret = klink(c, r, len);
	if (ret)
		return ret;
	memcpy(krec(d, r), buf, len);
	return kpublish(d, c);
}

/* Receive one record into @buf; 0 if none; releases it right away. */
static inline int krecv(struct kdev *d, struct kconn *c, void *buf)
{
	struct hsock_ring *rx = krx(c);
	uint32_t h = rx->head, len, r;

	if (h == __atomic_load_n(&rx->tail, __ATOMIC_ACQUIRE))
		return 0;
	r = rx->slot[h % HSOCK_RING_SLOTS].rec;
	len = rx->slot[h % HSOCK_RING_SLOTS].len;
	if (r >= d->info.nr_records || len > d->info.record_size)
		return -EPROTO;
	memcpy(buf, krec(d, r), len);
	__atomic_store_n(&rx->head, h + 1, __ATOMIC_RELEASE);
	if (ioctl(d->fd, HSOCK_IOC_RELEASE, (unsigned long)c->handle) < 0)
		return -errno;
	return (int)len;
}

#endif /* HSOCK_KUSER_H */
