// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel path of the commit step: when /dev/hsock exists and reports
 * HSOCK_ABI_VERSION, records channels (chan.h, RECORDS / KMOD) take their
 * records from the module's per-CPU arenas (no syscall) and link them into
 * the module's ring of the connection, commit them with HSOCK_IOC_COMMIT
 * (ownership and the per-process limit checked by the kernel: -EDQUOT, so
 * never a SIGBUS) and release them with HSOCK_IOC_RELEASE.  Page P of a
 * direction's byte stream is module ring position P: the ring slot IS the
 * page slot.  Every record is checked against the module's read-only view
 * before it is touched (a peer's lie resets the connection), and each side
 * is bound to its socket, so that after an exec the process takes it back
 * by showing the inherited socket (HSOCK_IOC_CONN_REJOIN).  Everything
 * else (switch, doorbells, U-NAPI) is unchanged.
 * HSOCK_KERNEL=0 keeps the user-space pool even when the device exists.
 */
#include "hsock/hsock_int.h"
#include "kernel/uapi/hsock.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* The view keeps a lying peer from crashing us; rejoin makes exec work. */
#define KD_FEATURES	(HSOCK_FEAT_CONN_VIEW | HSOCK_FEAT_REJOIN)

struct hs_kdev {
	int fd;
	struct hsock_info info;
	struct hsock_arena_page *ap;
	unsigned char *recs;
};

static struct hs_kdev kd = { .fd = -1 };
static _Atomic int kd_state;	/* 0 not tried, 1 usable, -1 not */
static _Atomic uint32_t kd_lock;

static int kd_open(void)
{
	const char *s = getenv("HSOCK_KERNEL");

	if (s && !strcmp(s, "0"))
		return -ENODEV;
	kd.fd = open(HSOCK_DEVICE, O_RDWR | O_CLOEXEC);
	if (kd.fd < 0)
		return -errno;
	if (ioctl(kd.fd, HSOCK_IOC_INFO, &kd.info) < 0 ||
	    kd.info.abi_version != HSOCK_ABI_VERSION ||
	    (kd.info.features & KD_FEATURES) != KD_FEATURES ||
	    kd.info.record_size != HSOCK_PAGE || !kd.info.nr_arenas)
		goto err;
	kd.ap = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, kd.fd,
		     kd.info.mmap_arena);
	if (kd.ap == MAP_FAILED)
		goto err;
	kd.recs = mmap(NULL, (size_t)kd.info.nr_records * HSOCK_PAGE,
		       PROT_READ | PROT_WRITE, MAP_SHARED, kd.fd, kd.info.mmap_records);
	if (kd.recs == MAP_FAILED)
		goto err_ap;
	return 0;
err_ap:
	munmap(kd.ap, 4096);
err:
	hs.real.close(kd.fd);
	kd.fd = -1;
	return -ENODEV;
}

/* Is the kernel path usable?  Opened once per process, at first need. */
bool hs_kmod_ready(void)
{
	int st = atomic_load(&kd_state);

	if (st)
		return st > 0;
	chan_lock(&kd_lock);
	if (!atomic_load(&kd_state))
		atomic_store(&kd_state, kd_open() ? -1 : 1);
	chan_unlock(&kd_lock);
	return atomic_load(&kd_state) > 0;
}

/* Map the conn page and its read-only view; the handle is ours. */
static int map_conn(struct hs_conn *c)
{
	c->kcp = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, kd.fd,
		      HSOCK_MMAP_CONN(c->khandle));
	c->kview = mmap(NULL, 4096, PROT_READ, MAP_SHARED, kd.fd,
			HSOCK_MMAP_VIEW(c->khandle));
	if (c->kcp != MAP_FAILED && c->kview != MAP_FAILED)
		return 0;
	if (c->kcp != MAP_FAILED)
		munmap(c->kcp, 4096);
	if (c->kview != MAP_FAILED)
		munmap((void *)c->kview, 4096);
	c->kcp = NULL;
	c->kview = NULL;
	ioctl(kd.fd, HSOCK_IOC_CONN_CLOSE, (unsigned long)c->khandle);
	return -ENOMEM;
}

/*
 * Bind our side to socket @fd, so that this process after an exec (or a
 * child with its own open) can take it again by showing the socket.  A
 * failure only loses that.
 */
static void kbind(struct hs_conn *c, int fd)
{
	struct hsock_conn_bind b = { .handle = c->khandle, .sockfd = fd };

	ioctl(kd.fd, HSOCK_IOC_CONN_BIND, &b);
}

/* Creator: a module conn; the token goes into the channel header. */
int hs_kmod_create(struct hs_conn *c, uint64_t *token, int fd)
{
	struct hsock_conn_req req = { 0 };

	if (ioctl(kd.fd, HSOCK_IOC_CONN_CREATE, &req) < 0)
		return -errno;
	c->khandle = req.handle;
	c->kside = 0;
	*token = req.token;
	kbind(c, fd);
	return map_conn(c);
}

/*
 * The other end, or our own side again: the module gives back the side
 * bound to socket @fd if there is one (we exec'd: same socket, new open),
 * else we join side 1 with the token and bind it.
 */
int hs_kmod_join(struct hs_conn *c, uint64_t token, int fd)
{
	struct hsock_conn_bind b = { .token = token, .sockfd = fd };
	struct hsock_conn_req req = { .token = token };

	if (!ioctl(kd.fd, HSOCK_IOC_CONN_REJOIN, &b)) {
		c->khandle = b.handle;
	} else if (errno != EPERM) {
		return -errno;
	} else {
		if (ioctl(kd.fd, HSOCK_IOC_CONN_JOIN, &req) < 0)
			return -errno;
		c->khandle = req.handle;
		kbind(c, fd);
	}
	c->kside = HSOCK_HANDLE_SIDE(c->khandle);
	return map_conn(c);
}

void hs_kmod_close(struct hs_conn *c)
{
	if (!c->kcp)
		return;
	munmap(c->kcp, 4096);
	munmap((void *)c->kview, 4096);
	c->kcp = NULL;
	c->kview = NULL;
	ioctl(kd.fd, HSOCK_IOC_CONN_CLOSE, (unsigned long)c->khandle);
}

/* The module ring (= its side) carrying channel direction @d. */
static int kring_of(struct hs_conn *c, int d)
{
	return d == c->side ? c->kside : !c->kside;
}

/* Is the record linked at @page of ring @s the one the module committed? */
static uint32_t kslot(struct hs_conn *c, int s, uint64_t page)
{
	uint32_t i = page % HSOCK_RING_SLOTS;
	uint32_t r = __atomic_load_n(&c->kcp->ring[s].slot[i].rec, __ATOMIC_ACQUIRE);

	return r == __atomic_load_n(&c->kview->rec[s][i], __ATOMIC_ACQUIRE) ?
	       r : HSOCK_NIL;
}

/*
 * Address of the record holding stream page @page of direction @d; NULL
 * (the caller resets the connection) when the slot names a record the
 * module did not commit there: a lying peer, which touching would turn
 * into SIGSEGV.
 */
unsigned char *hs_kmod_page(struct hs_conn *c, int d, uint64_t page)
{
	uint32_t r = kslot(c, kring_of(c, d), page);

	return r < kd.info.nr_records ? kd.recs + (size_t)r * HSOCK_PAGE : NULL;
}

static uint32_t arena_take(struct hsock_arena *ar)
{
	uint32_t c, r;

	for (;;) {
		c = __atomic_load_n(&ar->cons, __ATOMIC_RELAXED);
		if (c == __atomic_load_n(&ar->prod, __ATOMIC_ACQUIRE))
			return HSOCK_NIL;
		r = __atomic_load_n(&ar->slot[c % HSOCK_ARENA_SLOTS], __ATOMIC_RELAXED);
		if (__atomic_compare_exchange_n(&ar->cons, &c, c + 1, 0,
				__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return r;
	}
}

/* Take a record: this CPU's arena, one refill syscall of it, the others. */
static uint32_t ktake(void)
{
	int cpu = sched_getcpu();
	uint32_t n = kd.ap->nr_arenas, a = (uint32_t)(cpu < 0 ? 0 : cpu) % n, i;
	struct hsock_refill rf = { .arena = a, .count = 16 };
	uint32_t r = arena_take(&kd.ap->arena[a]);

	if (r == HSOCK_NIL && ioctl(kd.fd, HSOCK_IOC_REFILL, &rf) == 0)
		r = arena_take(&kd.ap->arena[a]);
	for (i = 1; r == HSOCK_NIL && i < n; i++)
		r = arena_take(&kd.ap->arena[(a + i) % n]);
	return r;
}

/*
 * Writer, inside WR_BUSY: link a record at every page of [head, head+k)
 * not linked yet and commit them (one ioctl).  Pages are linked in stream
 * order: ring.tail is the first page not linked.  Nothing here is kept in
 * the process (the view says what is committed), so the writer may be
 * another process, or this one after an exec.  A commit refused by the
 * limit leaves records linked but uncommitted, retried on the next call;
 * only bytes before the first of them are granted.
 */
size_t hs_kmod_fill(struct hs_conn *c, int d, uint64_t head, size_t k)
{
	int s = kring_of(c, d);
	struct hsock_ring *tx = &c->kcp->ring[s];
	uint64_t base = head / HSOCK_PAGE, last = (head + k - 1) / HSOCK_PAGE;
	uint64_t linked, p, q;
	uint32_t r;
	int n;

	linked = base + (uint32_t)(__atomic_load_n(&tx->tail, __ATOMIC_RELAXED) -
				   (uint32_t)base);
	/*
	 * tail rewritten by the peer: grant the bytes anyway; the copy finds
	 * pages the module did not commit and resets the connection.
	 */
	if (linked - base > HSOCK_RING_SLOTS)
		return k;
	for (p = linked; p <= last; p++) {
		r = ktake();
		if (r == HSOCK_NIL)
			break;
		HS_STAT(S_REC_TAKEN, 1);
		tx->slot[p % HSOCK_RING_SLOTS].len = HSOCK_PAGE;
		__atomic_store_n(&tx->slot[p % HSOCK_RING_SLOTS].rec, r, __ATOMIC_RELEASE);
	}
	if (p > linked) {
		linked = p;
		__atomic_store_n(&tx->tail, (uint32_t)p, __ATOMIC_RELEASE);
	}
	if (linked > last + 1)
		linked = last + 1;
	for (q = base; q < linked && kslot(c, s, q) != HSOCK_NIL; q++)
		;
	if (q < linked) {
		n = ioctl(kd.fd, HSOCK_IOC_COMMIT, (unsigned long)c->khandle);
		if (n > 0)
			HS_STAT(S_REC_COMMITS, n);
		while (q < linked && kslot(c, s, q) != HSOCK_NIL)
			q++;
	}
	p = q * HSOCK_PAGE;
	return p <= head ? 0 : (p - head < k ? p - head : k);
}

/*
 * Blocking writer with no ring space or no record it may commit: sleep in
 * the module (enable_notify_gshm, sync, WRITE) for at most @timeout_ms.
 * The reader's HSOCK_IOC_RELEASE, which it makes anyway, is the wake-up:
 * the module wakes exactly the waiters armed for WRITE on our side, and on
 * all our process's sides when the release takes it back under its record
 * limit; the reader makes no futex call for us.  Returns 0 (space, or look again), -EINTR,
 * -ETIMEDOUT, or -EPIPE when the module reports the peer gone.
 */
int hs_kmod_wait_tx(struct hs_conn *c, int timeout_ms)
{
	struct hsock_notify n = {
		.handle = c->khandle, .mode = HSOCK_NOTIFY_SYNC,
		.events = HSOCK_EV_WRITE, .timeout_ns = timeout_ms * 1000000LL,
	};
	int r;

	HS_STAT(S_KMOD_WAITS, 1);
	r = ioctl(kd.fd, HSOCK_IOC_NOTIFY_ENABLE, &n);
	if (r < 0)
		return errno == EINTR || errno == ETIMEDOUT ? -errno : -EPIPE;
	if (r & HSOCK_EV_HUP)
		return -EPIPE;
	if (r & HSOCK_EV_WRITE)
		HS_STAT(S_KMOD_WOKEN, 1);
	return 0;
}

/* Reader, before publishing tail: release the pages consumed up to @to. */
int hs_kmod_consumed(struct hs_conn *c, int d, uint64_t to)
{
	struct hsock_ring *rx = &c->kcp->ring[kring_of(c, d)];
	uint32_t page = (uint32_t)(to / HSOCK_PAGE), head = rx->head;
	int n;

	if (page == head)
		return 0;
	__atomic_store_n(&rx->head, page, __ATOMIC_RELEASE);
	n = ioctl(kd.fd, HSOCK_IOC_RELEASE, (unsigned long)c->khandle);
	if (n < 0)
		return -ECONNRESET;
	HS_STAT(S_REC_RELEASED, (uint32_t)(page - head));
	return 0;
}
