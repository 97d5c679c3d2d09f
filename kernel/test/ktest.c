// SPDX-License-Identifier: GPL-2.0
/*
 * hsock.ko tests, run inside the qemu guest (static, no libraries).  Each
 * case runs in its own child process and prints one marker line:
 *   HSOCK-TEST PASS <name>     or     HSOCK-TEST FAIL <name>: <why>
 * A case that crashes or hangs (30 s) is reported as FAIL by the parent.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "kernel/test/kuser.h"

static char why[512];

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		snprintf(why, sizeof(why), __VA_ARGS__);		\
		return why;						\
	}								\
} while (0)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait (up to 5 s) until side @side of @cp has @ev armed. */
static int wait_armed(struct hsock_conn_page *cp, int side, uint32_t ev)
{
	int i;

	for (i = 0; i < 5000; i++) {
		if ((__atomic_load_n(&cp->armed[side], __ATOMIC_ACQUIRE) & ev) == ev)
			return 0;
		sleep_ms(1);
	}
	return -1;
}

/* Run @fn(@arg) in a child; return the signal that killed it, 0 if none. */
static int child_signal(void (*fn)(void *), void *arg)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void touch(void *p)
{
	*(volatile char *)p = 1;
}

static void peek(void *p)
{
	(void)*(volatile char *)p;
}

/* Link, write (commit on fault) and publish one record. */
static uint32_t put_one(struct kdev *d, struct kconn *c, char fill)
{
	uint32_t r = ktake(d, 8);

	if (r == HSOCK_NIL || klink(c, r, 64))
		return HSOCK_NIL;
	memset(krec(d, r), fill, 64);
	__atomic_store_n(&ktx(c)->tail, ktx(c)->tail + 1, __ATOMIC_RELEASE);
	return r;
}

static const char *t_abi(void)
{
	struct hsock_conn_req req = { .token = 12345 };
	struct hsock_notify n = { 0 };
	struct kdev d;
	void *p;
	int ret;

	ret = kdev_open(&d);
	CHECK(!ret, "open/map %s: %s", HSOCK_DEVICE, strerror(-ret));
	CHECK(d.info.size == sizeof(d.info), "info.size %u", d.info.size);
	CHECK(d.info.abi_version == HSOCK_ABI_VERSION, "abi %u", d.info.abi_version);
	CHECK((d.info.features & 0x7f) == 0x7f, "features %#x", d.info.features);
	CHECK(d.info.record_size == 4096 && d.info.nr_records == 256 &&
	      d.info.rec_limit == 48, "geometry %u/%u/%u", d.info.record_size,
	      d.info.nr_records, d.info.rec_limit);
	CHECK(d.info.nr_arenas >= 1 && d.info.nr_arenas <= HSOCK_MAX_ARENAS &&
	      d.ap->nr_arenas == d.info.nr_arenas, "arenas %u", d.info.nr_arenas);
	CHECK(d.info.ring_slots == HSOCK_RING_SLOTS, "ring slots");
	CHECK(ioctl(d.fd, _IO(HSOCK_IOC_MAGIC, 0x7f)) < 0 && errno == ENOTTY,
	      "unknown ioctl: %s", strerror(errno));
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, d.fd, 0);
	CHECK(p == MAP_FAILED && errno == EINVAL, "private map accepted");
	p = mmap(NULL, (d.info.nr_records + 1) * 4096UL, PROT_READ, MAP_SHARED,
		 d.fd, HSOCK_MMAP_RECORDS);
	CHECK(p == MAP_FAILED && errno == EINVAL, "oversized record map accepted");
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, d.fd, HSOCK_MMAP_CONN(2));
	CHECK(p == MAP_FAILED && errno == EACCES, "map of unheld conn: %s",
	      p == MAP_FAILED ? strerror(errno) : "accepted");
	CHECK(ioctl(d.fd, HSOCK_IOC_CONN_JOIN, &req) < 0 && errno == ENOENT,
	      "join with a bad token");
	CHECK(ioctl(d.fd, HSOCK_IOC_CONN_CLOSE, 7UL) < 0 && errno == EBADF,
	      "close of unheld handle");
	n.handle = 7;
	n.events = HSOCK_EV_READ;
	CHECK(ioctl(d.fd, HSOCK_IOC_NOTIFY_ENABLE, &n) < 0 && errno == EBADF,
	      "notify on unheld handle");
	n.events = 0;
	CHECK(ioctl(d.fd, HSOCK_IOC_NOTIFY_ENABLE, &n) < 0 && errno == EINVAL,
	      "notify without events");
	kdev_close(&d);
	return NULL;
}

static const char *t_commit_on_fault(void)
{
	struct hsock_stats s0, s1;
	struct kdev d, e;
	struct kconn c = { 0 }, ce = { 0 };
	int st, go[2];
	uint32_t r;
	pid_t pid;

	CHECK(!kdev_open(&d) && !kconn_create(&d, &c) && !pipe(go), "setup");
	pid = fork();
	if (pid == 0) {	/* consumer: its own open, joins, reads the record */
		char buf[64], want[64];
		char b;

		memset(want, 'q', sizeof(want));
		if (read(go[0], &b, 1) != 1 || kdev_open(&e) ||
		    kconn_join(&e, &ce, c.token))
			_exit(2);
		if (krecv(&e, &ce, buf) != 64 || memcmp(buf, want, 64))
			_exit(3);
		_exit(0);
	}
	kstats(&d, &s0);
	r = ktake(&d, 4);
	CHECK(r != HSOCK_NIL, "no record from the arena");
	kstats(&d, &s1);
	CHECK(s1.my_stashed >= 1 && s1.my_committed == 0, "stash %u/%u",
	      s1.my_stashed, s1.my_committed);
	CHECK(!klink(&c, r, 64), "link");
	memset(krec(&d, r), 'q', 64);	/* faults: commit */
	kstats(&d, &s1);
	CHECK(s1.my_committed == 1 && s1.commits == s0.commits + 1 &&
	      s1.faults == s0.faults + 1, "after fault: committed %u commits %llu faults %llu",
	      s1.my_committed, (unsigned long long)(s1.commits - s0.commits),
	      (unsigned long long)(s1.faults - s0.faults));
	__atomic_store_n(&ktx(&c)->tail, 1, __ATOMIC_RELEASE);
	CHECK(write(go[1], "g", 1) == 1, "pipe");
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st),
	      "consumer failed (status %#x)", st);
	kstats(&d, &s1);
	CHECK(s1.my_committed == 0 && ktx(&c)->released == 1,
	      "not released: committed %u released %u", s1.my_committed,
	      ktx(&c)->released);
	CHECK(s1.faults >= s0.faults + 2, "consumer fault not counted");
	kdev_close(&d);
	return NULL;
}

static const char *t_sigsegv(void)
{
	struct kdev d;
	struct kconn c = { 0 };
	uint32_t r, free_rec;
	int sig;

	CHECK(!kdev_open(&d) && !kconn_create(&d, &c), "setup");
	free_rec = d.info.nr_records - 1;	/* handed out last */
	sig = child_signal(touch, krec(&d, free_rec));
	CHECK(sig == SIGSEGV, "free record: signal %d", sig);
	r = ktake(&d, 4);
	sig = child_signal(touch, krec(&d, r));
	CHECK(sig == SIGSEGV, "stashed, unlinked record: signal %d", sig);
	/* Another process's stashed record, linked into our ring: refused. */
	{
		struct kdev e;
		uint32_t theirs;
		int ret;

		CHECK(!kdev_open(&e), "second process open");
		theirs = ktake(&e, 1);
		CHECK(theirs != HSOCK_NIL && !klink(&c, theirs, 1), "link theirs");
		ret = ioctl(d.fd, HSOCK_IOC_COMMIT, (unsigned long)c.handle);
		CHECK(ret == 0, "COMMIT took another file's record: %d", ret);
		sig = child_signal(touch, krec(&d, theirs));
		CHECK(sig == SIGSEGV, "another file's record: signal %d", sig);
		ktx(&c)->slot[ktx(&c)->tail % HSOCK_RING_SLOTS].rec = HSOCK_NIL;
		kdev_close(&e);
	}
	r = put_one(&d, &c, 'x');
	CHECK(r != HSOCK_NIL, "commit");

	/* Another process: faults until it holds the conn. */
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct kdev e;
		struct kconn ce = { 0 };

		if (kdev_open(&e))
			_exit(2);
		if (child_signal(touch, krec(&e, r)) != SIGSEGV)
			_exit(3);
		if (kconn_join(&e, &ce, c.token))
			_exit(4);
		_exit(krec(&e, r)[0] == 'x' ? 0 : 5);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st),
	      "other process: status %#x (3: no SIGSEGV before join, 5: bad data after)",
	      st);
	/* Closing the conn revokes our own mapping of its records. */
	CHECK(krec(&d, r)[0] == 'x', "producer lost its record");
	CHECK(!kconn_close(&d, &c), "close");
	sig = child_signal(touch, krec(&d, r));
	CHECK(sig == SIGSEGV, "record of a closed conn: signal %d", sig);
	kdev_close(&d);
	return NULL;
}

static const char *t_limit(void)
{
	struct hsock_stats st;
	struct kdev d;
	struct kconn c0 = { 0 }, c1 = { 0 };
	uint32_t i, r, t, lim;
	int ret, sig;

	CHECK(!kdev_open(&d) && !kconn_create(&d, &c0) &&
	      !kconn_join(&d, &c1, c0.token), "setup");
	lim = d.info.rec_limit;
	t = ktx(&c0)->tail;
	for (i = 0; i < lim; i++) {
		r = ktake(&d, 16);
		CHECK(r != HSOCK_NIL, "arena empty after %u", i);
		ktx(&c0)->slot[(t + i) % HSOCK_RING_SLOTS].rec = r;
	}
	ret = ioctl(d.fd, HSOCK_IOC_COMMIT, (unsigned long)c0.handle);
	CHECK(ret == (int)lim, "COMMIT returned %d, want %u", ret, lim);
	__atomic_store_n(&ktx(&c0)->tail, t + lim, __ATOMIC_RELEASE);
	kstats(&d, &st);
	CHECK(st.my_committed == lim, "committed %u", st.my_committed);
	r = ktake(&d, 16);
	CHECK(r != HSOCK_NIL && !klink(&c0, r, 1), "one more record");
	ret = ioctl(d.fd, HSOCK_IOC_COMMIT, (unsigned long)c0.handle);
	CHECK(ret < 0 && errno == EDQUOT, "COMMIT over the limit: %d %s", ret,
	      strerror(errno));
	sig = child_signal(touch, krec(&d, r));
	CHECK(sig == SIGBUS, "fault over the limit: signal %d", sig);
	/* A second open of the same process shares the limit. */
	{
		struct kdev e;
		struct kconn ce = { 0 };
		uint32_t re;

		CHECK(!kdev_open(&e) && !kconn_create(&e, &ce), "second open");
		re = ktake(&e, 1);
		CHECK(re != HSOCK_NIL && !klink(&ce, re, 1), "second open: record");
		ret = ioctl(e.fd, HSOCK_IOC_COMMIT, (unsigned long)ce.handle);
		CHECK(ret < 0 && errno == EDQUOT,
		      "second open of the process escaped the limit: %d", ret);
		kdev_close(&e);
	}
	CHECK(kwait(&d, &c0, HSOCK_EV_WRITE, 0, 20000000) == -ETIMEDOUT,
	      "WRITE ready over the limit");
	__atomic_store_n(&krx(&c1)->head, t + 8, __ATOMIC_RELEASE);
	ret = ioctl(d.fd, HSOCK_IOC_RELEASE, (unsigned long)c1.handle);
	CHECK(ret == 8, "RELEASE returned %d", ret);
	touch(krec(&d, r));	/* commits now */
	kstats(&d, &st);
	CHECK(st.my_committed == lim - 7, "committed %u after release",
	      st.my_committed);
	kdev_close(&d);
	return NULL;
}

struct waiter {
	struct kdev *d;
	struct kconn *c;
	uint32_t ev, mode;
	int64_t timeout;
	pthread_t tid;
	volatile int done;
	int ret;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->ret = kwait(w->d, w->c, w->ev, w->mode, w->timeout);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void start_waiter(struct waiter *w, struct kdev *d, struct kconn *c,
			 uint32_t ev, uint32_t mode)
{
	memset(w, 0, sizeof(*w));
	w->d = d;
	w->c = c;
	w->ev = ev;
	w->mode = mode;
	pthread_create(&w->tid, NULL, wait_thread, w);
}

static int join_ms(struct waiter *w, int ms)
{
	while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) && ms-- > 0)
		sleep_ms(1);
	if (!w->done)
		return -1;
	pthread_join(w->tid, NULL);
	return 0;
}

static const char *t_sync_peer(void)
{
	struct kdev d, e;
	struct kconn c = { 0 }, ce = { 0 }, a0 = { 0 }, a1 = { 0 }, b0 = { 0 }, b1 = { 0 };
	struct waiter wa, wb;
	struct hsock_stats st;
	char buf[4096];
	double t0;
	int ret, st2;
	pid_t pid;

	/* A peer process wakes a sleeping reader. */
	CHECK(!kdev_open(&d) && !kconn_create(&d, &c), "setup");
	pid = fork();
	if (pid == 0) {
		if (kdev_open(&e) || kconn_join(&e, &ce, c.token))
			_exit(2);
		if (wait_armed(ce.cp, 0, HSOCK_EV_READ))
			_exit(3);
		sleep_ms(100);
		memset(buf, 'p', 100);
		ret = ksend(&e, &ce, buf, 100);	/* armed: NOTIFY wakes 1 */
		_exit(ret == 1 ? 0 : 4);
	}
	t0 = now_ms();
	ret = kwait(&d, &c, HSOCK_EV_READ, 0, 0);
	CHECK(ret >= 0 && (ret & HSOCK_EV_READ), "wait returned %d", ret);
	CHECK(now_ms() - t0 >= 80, "did not sleep (%.1f ms)", now_ms() - t0);
	CHECK(krecv(&d, &c, buf) == 100 && buf[99] == 'p', "data");
	CHECK(waitpid(pid, &st2, 0) == pid && WIFEXITED(st2) && !WEXITSTATUS(st2),
	      "peer status %#x (4: NOTIFY did not report 1 woken)", st2);
	CHECK(!kconn_close(&d, &c), "close");

	/* Exactly the armed waiters: two conns, one waiter each. */
	CHECK(!kconn_create(&d, &a0) && !kconn_join(&d, &a1, a0.token) &&
	      !kconn_create(&d, &b0) && !kconn_join(&d, &b1, b0.token), "conns");
	start_waiter(&wa, &d, &a1, HSOCK_EV_READ, 0);
	start_waiter(&wb, &d, &b1, HSOCK_EV_READ, 0);
	CHECK(!wait_armed(a1.cp, 1, HSOCK_EV_READ) &&
	      !wait_armed(b1.cp, 1, HSOCK_EV_READ), "not armed");
	ret = knotify(&d, &a0, HSOCK_EV_WRITE);
	CHECK(ret == 0, "WRITE notify woke %d READ waiters", ret);
	ret = knotify(&d, &a0, HSOCK_EV_READ);
	CHECK(ret == 1, "READ notify woke %d", ret);
	CHECK(!join_ms(&wa, 2000) && wa.ret == HSOCK_EV_READ, "waiter a: %d",
	      wa.ret);
	sleep_ms(100);
	CHECK(!wb.done, "waiter b woke without a notify");
	kstats(&d, &st);
	CHECK(st.nr_waiters == 1, "waiters %u", st.nr_waiters);
	CHECK(a1.cp->armed[1] == 0 && b1.cp->armed[1] == HSOCK_EV_READ,
	      "armed mirror %#x %#x", a1.cp->armed[1], b1.cp->armed[1]);
	{
		struct hsock_notify n = { .handle = b1.handle };

		CHECK(!ioctl(d.fd, HSOCK_IOC_NOTIFY_DISABLE, &n), "disable");
	}
	CHECK(!join_ms(&wb, 2000) && wb.ret == 0, "disable: waiter b %d", wb.ret);
	kdev_close(&d);
	return NULL;
}

static void on_usr1(int sig)
{
	(void)sig;
}

static const char *t_sync_signal(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };	/* no SA_RESTART */
	struct hsock_stats st;
	struct kdev d;
	struct kconn c0 = { 0 }, c1 = { 0 };
	struct waiter w;
	double t0;
	int ret;

	sigaction(SIGUSR1, &sa, NULL);
	CHECK(!kdev_open(&d) && !kconn_create(&d, &c0) &&
	      !kconn_join(&d, &c1, c0.token), "setup");
	start_waiter(&w, &d, &c1, HSOCK_EV_READ, 0);
	CHECK(!wait_armed(c1.cp, 1, HSOCK_EV_READ), "not armed");
	sleep_ms(20);
	CHECK(!w.done, "returned without a wake-up: %d", w.ret);
	pthread_kill(w.tid, SIGUSR1);
	CHECK(!join_ms(&w, 2000), "signal did not interrupt the wait");
	CHECK(w.ret == -EINTR, "returned %d, want -EINTR", w.ret);
	kstats(&d, &st);
	CHECK(st.nr_waiters == 0 && c1.cp->armed[1] == 0, "still armed");
	t0 = now_ms();
	ret = kwait(&d, &c1, HSOCK_EV_READ, 0, 50000000);
	CHECK(ret == -ETIMEDOUT && now_ms() - t0 >= 45, "timeout: %d after %.1f ms",
	      ret, now_ms() - t0);
	kdev_close(&d);
	return NULL;
}

struct async_arg {
	struct kdev *d;
	struct kconn *c;
	int sig;
	volatile int stage;
	int ret;
	siginfo_t si;
};

static void *async_thread(void *arg)
{
	struct async_arg *a = arg;
	struct hsock_notify n = {
		.handle = a->c->handle, .mode = HSOCK_NOTIFY_ASYNC,
		.events = HSOCK_EV_READ, .signo = a->sig,
	};
	struct timespec ts = { 2, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, a->sig);
	a->ret = ioctl(a->d->fd, HSOCK_IOC_NOTIFY_ENABLE, &n);
	__atomic_store_n(&a->stage, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&a->stage, __ATOMIC_ACQUIRE) != 2)
		sleep_ms(1);
	if (sigtimedwait(&set, &a->si, &ts) != a->sig)
		a->ret = -1;
	__atomic_store_n(&a->stage, 3, __ATOMIC_RELEASE);
	return NULL;
}

static const char *t_async(void)
{
	struct async_arg a = { 0 };
	struct timespec ts = { 2, 0 };
	struct hsock_notify n;
	struct kdev d;
	struct kconn c0 = { 0 }, c1 = { 0 };
	sigset_t set, pend;
	siginfo_t si;
	pthread_t tid;
	int ret;

	CHECK(!kdev_open(&d) && !kconn_create(&d, &c0) &&
	      !kconn_join(&d, &c1, c0.token), "setup");
	a.d = &d;
	a.c = &c1;
	a.sig = SIGRTMIN + 2;
	sigemptyset(&set);
	sigaddset(&set, a.sig);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* inherited by the thread */
	pthread_create(&tid, NULL, async_thread, &a);
	while (!__atomic_load_n(&a.stage, __ATOMIC_ACQUIRE))
		sleep_ms(1);
	CHECK(a.ret == 0, "async enable: %s", strerror(errno));
	CHECK(c0.cp->armed[1] == HSOCK_EV_READ, "armed %#x", c0.cp->armed[1]);
	CHECK(put_one(&d, &c0, 'a') != HSOCK_NIL, "send");
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ret = knotify(&d, &c0, HSOCK_EV_READ);
	CHECK(ret == 1, "notify woke %d", ret);
	sigpending(&pend);
	CHECK(!sigismember(&pend, a.sig), "signal went to the process, not the thread");
	__atomic_store_n(&a.stage, 2, __ATOMIC_RELEASE);
	pthread_join(tid, NULL);
	CHECK(a.ret == 0, "registering thread got no signal");
	CHECK(a.si.si_code == POLL_IN && a.si.si_fd == (int)c1.handle &&
	      (a.si.si_band & HSOCK_EV_READ), "siginfo code %d fd %d band %ld",
	      a.si.si_code, a.si.si_fd, (long)a.si.si_band);
	ret = knotify(&d, &c0, HSOCK_EV_READ);
	CHECK(ret == 0, "one-shot: second notify woke %d", ret);
	/* Arming while data is already there signals at once. */
	n = (struct hsock_notify){ .handle = c1.handle, .mode = HSOCK_NOTIFY_ASYNC,
				   .events = HSOCK_EV_READ, .signo = a.sig };
	CHECK(!ioctl(d.fd, HSOCK_IOC_NOTIFY_ENABLE, &n), "re-arm");
	CHECK(sigtimedwait(&set, &si, &ts) == a.sig, "no signal for ready data");
	kdev_close(&d);
	return NULL;
}

static const char *t_trap(void)
{
	struct hsock_stats s0, s1;
	struct kdev d;
	struct kconn c0 = { 0 }, c1 = { 0 };
	struct waiter w;

	CHECK(!kdev_open(&d) && !kconn_create(&d, &c0) &&
	      !kconn_join(&d, &c1, c0.token), "setup");
	c0.cp->state[0] = 0;	/* producer's page is mapped now */
	start_waiter(&w, &d, &c1, HSOCK_EV_READ, HSOCK_NOTIFY_TRAP);
	w.timeout = 0;
	CHECK(!wait_armed(c1.cp, 1, HSOCK_EV_READ), "not armed");
	kstats(&d, &s0);
	sleep_ms(50);
	CHECK(!w.done, "woke early: %d", w.ret);
	/* The producer only touches its conn page: no NOTIFY call. */
	__atomic_store_n(&ktx(&c0)->tail, ktx(&c0)->tail, __ATOMIC_RELEASE);
	CHECK(!join_ms(&w, 2000), "trap did not wake the reader");
	CHECK(w.ret == HSOCK_EV_READ, "trap wake returned %d", w.ret);
	kstats(&d, &s1);
	CHECK(s1.notifies == s0.notifies + 1, "notifies %llu",
	      (unsigned long long)(s1.notifies - s0.notifies));
	kdev_close(&d);
	return NULL;
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static const char *check_zero(struct kdev *d, uint32_t files)
{
	struct hsock_stats st;

	kstats(d, &st);
	CHECK(st.nr_free == st.nr_records && st.nr_stashed == 0 &&
	      st.nr_committed == 0 && st.nr_conns == 0 && st.nr_waiters == 0 &&
	      st.nr_files == files,
	      "left behind: free %u/%u stashed %u committed %u conns %u waiters %u files %u",
	      st.nr_free, st.nr_records, st.nr_stashed, st.nr_committed,
	      st.nr_conns, st.nr_waiters, st.nr_files);
	return NULL;
}

#define STREAM_BYTES (6u << 20)

/* Consume until the peer shuts down writing (or is gone); @res: hash, bytes. */
static int stream_consume(struct kdev *e, struct kconn *c, uint64_t res[2])
{
	unsigned char buf[4096];
	uint64_t h = 0xcbf29ce484222325ULL, total = 0;
	int n;

	for (;;) {
		n = krecv(e, c, buf);
		if (n < 0)
			return 3;
		if (n > 0) {
			h = fnv(h, buf, n);
			total += n;
			continue;
		}
		if ((c->cp->state[0] & HSOCK_ST_SHUT_WR ||
		     c->cp->flags[0] & HSOCK_CONN_GONE) &&
		    krx(c)->head == __atomic_load_n(&krx(c)->tail, __ATOMIC_ACQUIRE))
			break;
		n = kwait(e, c, HSOCK_EV_READ, 0, 0);
		if (n < 0)
			return 4;
	}
	res[0] = h;
	res[1] = total;
	return 0;
}

/* Child: join @token with its own open, consume, write the result to @out. */
static int stream_consumer(uint64_t token, int out)
{
	struct kdev e;
	struct kconn c = { 0 };
	uint64_t res[2];
	int ret;

	if (kdev_open(&e) || kconn_join(&e, &c, token))
		return 2;
	ret = stream_consume(&e, &c, res);
	if (ret)
		return ret;
	return write(out, res, sizeof(res)) == sizeof(res) ? 0 : 5;
}

/*
 * Send @bytes of a seeded pseudo-random stream, then SHUT_WR.  Returns 0 and
 * the hash in @hash, or -errno; counts waits for space in @waits.
 */
static int stream_produce(struct kdev *d, struct kconn *c, uint32_t bytes,
			  uint64_t seed, uint64_t *hash, uint32_t *waits)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned char buf[4096];
	uint32_t len, i, sent = 0;
	int ret;

	while (sent < bytes) {
		len = 1 + xorshift(&seed) % 4096;
		if (len > bytes - sent)
			len = bytes - sent;
		for (i = 0; i < len; i++)
			buf[i] = (unsigned char)xorshift(&seed);
		while ((ret = ksend(d, c, buf, len)) == -EAGAIN) {
			(*waits)++;
			ret = kwait(d, c, HSOCK_EV_WRITE, 0, 1000000000LL);
			if (ret < 0 && ret != -ETIMEDOUT)
				return ret;
		}
		if (ret < 0)
			return ret;
		h = fnv(h, buf, len);
		sent += len;
	}
	c->cp->state[HSOCK_HANDLE_SIDE(c->handle)] |= HSOCK_ST_SHUT_WR;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (kpeer_armed(c, HSOCK_EV_READ))
		knotify(d, c, HSOCK_EV_READ);
	*hash = h;
	return 0;
}

static const char *t_stream(void)
{
	uint64_t h, res[2];
	struct hsock_stats st;
	uint32_t waits = 0;
	struct kdev d;
	struct kconn c = { 0 };
	int p[2], status, ret;
	double t0;
	pid_t pid;

	CHECK(!kdev_open(&d) && !kconn_create(&d, &c) && !pipe(p), "setup");
	pid = fork();
	if (pid == 0)
		_exit(stream_consumer(c.token, p[1]));
	t0 = now_ms();
	ret = stream_produce(&d, &c, STREAM_BYTES, 88172645463325252ULL, &h, &waits);
	CHECK(!ret, "produce: %d", ret);
	CHECK(read(p[0], res, sizeof(res)) == sizeof(res), "consumer gave no result");
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      !WEXITSTATUS(status), "consumer status %#x", status);
	CHECK(res[1] == STREAM_BYTES && res[0] == h,
	      "checksum %016llx/%llu bytes, sent %016llx/%u", (unsigned long long)res[0],
	      (unsigned long long)res[1], (unsigned long long)h, STREAM_BYTES);
	kstats(&d, &st);
	printf("HSOCK-INFO stream %u bytes in %.0f ms, %u waits for space, %llu commits\n",
	       STREAM_BYTES, now_ms() - t0, waits, (unsigned long long)st.commits);
	kdev_close(&d);
	return NULL;
}

#define STRESS_PAIRS	4
#define STRESS_BYTES	(1u << 20)

/* Producer child of pair @i: create, hand the token over, stream. */
static int stress_producer(int i, int tok_out, int res_out)
{
	struct kdev d;
	struct kconn c = { 0 };
	uint64_t h;
	uint32_t waits = 0;

	if (kdev_open(&d) || kconn_create(&d, &c))
		return 2;
	if (write(tok_out, &c.token, sizeof(c.token)) != sizeof(c.token))
		return 3;
	/* Pair 0 streams until it is killed. */
	if (stream_produce(&d, &c, i ? STRESS_BYTES : UINT32_MAX,
			   0x9e3779b97f4a7c15ULL * (i + 1), &h, &waits))
		return 4;
	return write(res_out, &h, sizeof(h)) == sizeof(h) ? 0 : 5;
}

/*
 * Several producer/consumer process pairs stream at once through one pool
 * (256 records for 4 x 48 in flight plus stashes) while one producer is
 * killed mid-stream: the others' checksums hold, its consumer ends on GONE,
 * and nothing is left behind.
 */
static const char *t_stress(void)
{
	pid_t prod[STRESS_PAIRS], cons[STRESS_PAIRS];
	int tok[2], ph[STRESS_PAIRS][2], ch[STRESS_PAIRS][2], i, st;
	uint64_t token, want, got[2];
	struct kdev d;

	CHECK(!kdev_open(&d) && !pipe(tok), "setup");
	for (i = 0; i < STRESS_PAIRS; i++) {
		CHECK(!pipe(ph[i]) && !pipe(ch[i]), "pipes");
		prod[i] = fork();
		if (prod[i] == 0)
			_exit(stress_producer(i, tok[1], ph[i][1]));
		CHECK(read(tok[0], &token, sizeof(token)) == sizeof(token), "token %d", i);
		cons[i] = fork();
		if (cons[i] == 0)
			_exit(stream_consumer(token, ch[i][1]));
	}
	sleep_ms(30);
	kill(prod[0], SIGKILL);
	for (i = 0; i < STRESS_PAIRS; i++) {
		CHECK(waitpid(prod[i], &st, 0) == prod[i], "wait producer %d", i);
		CHECK(i == 0 || (WIFEXITED(st) && !WEXITSTATUS(st)),
		      "producer %d status %#x", i, st);
		CHECK(waitpid(cons[i], &st, 0) == cons[i] && WIFEXITED(st) &&
		      !WEXITSTATUS(st), "consumer %d status %#x", i, st);
		CHECK(read(ch[i][0], got, sizeof(got)) == sizeof(got), "result %d", i);
		if (i == 0)
			continue;	/* killed: whatever arrived, it ended */
		CHECK(read(ph[i][0], &want, sizeof(want)) == sizeof(want), "hash %d", i);
		CHECK(got[0] == want && got[1] == STRESS_BYTES,
		      "pair %d: checksum mismatch (%llu bytes)", i,
		      (unsigned long long)got[1]);
	}
	if (check_zero(&d, 1))
		return why;
	kdev_close(&d);
	return NULL;
}

static void *sleeper(void *arg)
{
	struct waiter *w = arg;

	kwait(w->d, w->c, HSOCK_EV_READ, 0, 0);
	return NULL;
}

static const char *t_kill(void)
{
	struct hsock_stats st;
	struct kdev d;
	int p[2];
	char b;
	pid_t pid;

	CHECK(!kdev_open(&d) && !pipe(p), "setup");
	pid = fork();
	if (pid == 0) {	/* holds both sides, records, a stash, a sleeper */
		struct kdev e;
		struct kconn c0 = { 0 }, c1 = { 0 };
		struct waiter w = { .d = &e, .c = &c0 };
		pthread_t t;
		int i;

		if (kdev_open(&e) || kconn_create(&e, &c0) ||
		    kconn_join(&e, &c1, c0.token))
			_exit(2);
		for (i = 0; i < 10; i++)
			if (put_one(&e, &c0, 'k') == HSOCK_NIL)
				_exit(3);
		krefill(&e, 0, 6);
		pthread_create(&t, NULL, sleeper, &w);
		if (wait_armed(c0.cp, 0, HSOCK_EV_READ))
			_exit(4);
		if (write(p[1], "r", 1) != 1)
			_exit(5);
		pause();
		_exit(0);
	}
	CHECK(read(p[0], &b, 1) == 1, "child not ready");
	kstats(&d, &st);
	CHECK(st.nr_committed == 10 && st.nr_stashed >= 4 && st.nr_conns == 1 &&
	      st.nr_waiters == 1 && st.nr_files == 2,
	      "before kill: committed %u stashed %u conns %u waiters %u files %u",
	      st.nr_committed, st.nr_stashed, st.nr_conns, st.nr_waiters, st.nr_files);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (check_zero(&d, 1))
		return why;
	kdev_close(&d);
	return NULL;
}

static const char *t_kill_peer(void)
{
	struct kdev d;
	struct kconn c = { 0 };
	char buf[4096];
	int p[2], i, ret;
	uint64_t token;
	pid_t pid;

	CHECK(!kdev_open(&d) && !pipe(p), "setup");
	pid = fork();
	if (pid == 0) {	/* producer: sends 5 records, then is killed */
		struct kdev e;
		struct kconn ce = { 0 };

		if (kdev_open(&e) || kconn_create(&e, &ce))
			_exit(2);
		for (i = 0; i < 5; i++)
			if (put_one(&e, &ce, '0' + i) == HSOCK_NIL)
				_exit(3);
		if (write(p[1], &ce.token, sizeof(ce.token)) != sizeof(ce.token))
			_exit(4);
		pause();
		_exit(0);
	}
	CHECK(read(p[0], &token, sizeof(token)) == sizeof(token), "no token");
	CHECK(!kconn_join(&d, &c, token), "join");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(c.cp->flags[0] & HSOCK_CONN_GONE, "peer not marked gone");
	ret = kwait(&d, &c, HSOCK_EV_READ, 0, 1000000000LL);
	CHECK(ret > 0 && (ret & HSOCK_EV_HUP), "wait after peer death: %d", ret);
	for (i = 0; i < 5; i++) {
		ret = krecv(&d, &c, buf);
		CHECK(ret == 64 && buf[0] == '0' + i, "record %d after peer death: %d",
		      i, ret);
	}
	CHECK(!kconn_close(&d, &c), "close");
	if (check_zero(&d, 1))
		return why;
	kdev_close(&d);
	return NULL;
}

static const char *t_fork(void)
{
	struct kdev d;
	struct kconn c0 = { 0 }, c1 = { 0 };
	uint32_t r;
	int st;
	pid_t pid;

	CHECK(!kdev_open(&d) && !kconn_create(&d, &c0) &&
	      !kconn_join(&d, &c1, c0.token), "setup");
	r = put_one(&d, &c0, 'f');
	CHECK(r != HSOCK_NIL, "send");
	pid = fork();
	if (pid == 0) {	/* inherited file and mappings keep working */
		char buf[4096];

		_exit(krecv(&d, &c1, buf) == 64 && buf[0] == 'f' ? 0 : 1);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st),
	      "child status %#x", st);
	CHECK(krx(&c1)->released == 1, "child's release not seen");
	/* A record published without being written returns to the arena. */
	{
		struct hsock_arena *ar;
		uint32_t before, ret;
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(0, &one);	/* take and check the same CPU's arena */
		CHECK(!sched_setaffinity(0, sizeof(one), &one), "affinity");
		r = ktake(&d, 4);
		CHECK(r != HSOCK_NIL && !klink(&c0, r, 0), "empty record");
		ar = &d.ap->arena[karena_of_cpu(&d)];
		before = ar->prod - ar->cons;
		__atomic_store_n(&ktx(&c0)->tail, ktx(&c0)->tail + 1, __ATOMIC_RELEASE);
		krx(&c1)->head++;
		ret = ioctl(d.fd, HSOCK_IOC_RELEASE, (unsigned long)c1.handle);
		CHECK(ret == 0 && ar->prod - ar->cons == before + 1 &&
		      ar->slot[(ar->prod - 1) % HSOCK_ARENA_SLOTS] == r,
		      "uncommitted record not back in its arena (%u)", ret);
	}
	kdev_close(&d);
	return NULL;
}


static const struct hsock_conn_view *map_view(struct kdev *d, struct kconn *c)
{
	void *v = mmap(NULL, 4096, PROT_READ, MAP_SHARED, d->fd,
		       HSOCK_MMAP_VIEW(c->handle));

	return v == MAP_FAILED ? NULL : v;
}

static const char *t_view(void)
{
	const struct hsock_conn_view *v;
	struct hsock_stats st;
	struct kdev d;
	struct kconn c0 = { 0 }, c1 = { 0 };
	uint32_t r, lie, t;
	void *p;
	int sig;

	CHECK(!kdev_open(&d) && !kconn_create(&d, &c0) &&
	      !kconn_join(&d, &c1, c0.token), "setup");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, d.fd,
		 HSOCK_MMAP_VIEW(c0.handle));
	CHECK(p == MAP_FAILED && errno == EACCES, "writable view map: %s",
	      p == MAP_FAILED ? strerror(errno) : "accepted");
	v = map_view(&d, &c0);
	CHECK(v, "view map: %s", strerror(errno));
	CHECK(mprotect((void *)v, 4096, PROT_READ | PROT_WRITE) && errno == EACCES,
	      "view made writable by mprotect");
	CHECK(child_signal(touch, (void *)v) == SIGSEGV, "view write not refused");
	t = ktx(&c0)->tail;
	CHECK(v->rec[0][t % HSOCK_RING_SLOTS] == HSOCK_NIL, "view not empty");
	r = put_one(&d, &c0, 'v');	/* commit on fault */
	CHECK(r != HSOCK_NIL && v->rec[0][t % HSOCK_RING_SLOTS] == r,
	      "fault commit not in the view: %u, want %u",
	      v->rec[0][t % HSOCK_RING_SLOTS], r);
	/* A lie: a record linked but never committed differs from the view. */
	lie = ktake(&d, 4);
	CHECK(lie != HSOCK_NIL && !klink(&c0, lie, 64), "link");
	CHECK(v->rec[0][(t + 1) % HSOCK_RING_SLOTS] == HSOCK_NIL,
	      "uncommitted record in the view");
	CHECK(ioctl(d.fd, HSOCK_IOC_COMMIT, (unsigned long)c0.handle) == 1 &&
	      v->rec[0][(t + 1) % HSOCK_RING_SLOTS] == lie, "ioctl commit not in the view");
	/* The slot is the producer's to rewrite; the view is not. */
	ktx(&c0)->slot[t % HSOCK_RING_SLOTS].rec = lie;
	CHECK(v->rec[0][t % HSOCK_RING_SLOTS] == r, "view followed a rewritten slot");
	/* Release gives back what the view names, and clears it. */
	__atomic_store_n(&ktx(&c0)->tail, t + 2, __ATOMIC_RELEASE);
	krx(&c1)->head = t + 2;
	sig = ioctl(d.fd, HSOCK_IOC_RELEASE, (unsigned long)c1.handle);
	CHECK(sig == 2, "release returned %d", sig);
	CHECK(v->rec[0][t % HSOCK_RING_SLOTS] == HSOCK_NIL &&
	      v->rec[0][(t + 1) % HSOCK_RING_SLOTS] == HSOCK_NIL, "view not cleared");
	CHECK(!kconn_close(&d, &c0) && !kconn_close(&d, &c1), "close");
	CHECK(child_signal(peek, (void *)v) == SIGSEGV,
	      "view of a closed conn still readable");
	kstats(&d, &st);
	CHECK(st.nr_committed == 0 && st.nr_conns == 0, "left: %u committed, %u conns",
	      st.nr_committed, st.nr_conns);
	kdev_close(&d);
	return NULL;
}

/* A connected TCP pair over loopback: *a (client), *b (server). */
static int tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (void *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (void *)&sa, &len))
		return -1;
	*a = socket(AF_INET, SOCK_STREAM, 0);
	if (*a < 0 || connect(*a, (void *)&sa, sizeof(sa)))
		return -1;
	*b = accept(l, NULL, NULL);
	close(l);
	return *b < 0 ? -1 : 0;
}

static int kbind(struct kdev *d, struct kconn *c, int sock)
{
	struct hsock_conn_bind b = { .handle = c->handle, .sockfd = sock };

	return kerr(ioctl(d->fd, HSOCK_IOC_CONN_BIND, &b));
}

static int krejoin(struct kdev *d, struct kconn *c, uint64_t token, int sock)
{
	struct hsock_conn_bind b = { .token = token, .sockfd = sock };

	if (ioctl(d->fd, HSOCK_IOC_CONN_REJOIN, &b) < 0)
		return -errno;
	c->handle = b.handle;
	c->token = token;
	return kconn_map(d, c);
}

/* Wait up to 3 s for conn_page.flags[@side] & @bit. */
static int wait_flag(struct hsock_conn_page *cp, int side, uint32_t bit)
{
	int i;

	for (i = 0; i < 3000 && !(__atomic_load_n(&cp->flags[side],
						  __ATOMIC_ACQUIRE) & bit); i++)
		sleep_ms(1);
	return cp->flags[side] & bit ? 0 : -1;
}

/*
 * Sides follow their socket: rejoin by another open (what a process does
 * after exec), several holders, detach when the last file closes with the
 * socket open, gone once the socket is closed.
 */
static const char *t_rejoin(void)
{
	struct kdev d, e, q;
	struct kconn c = { 0 }, ce = { 0 }, cq = { 0 };
	char buf[4096];
	uint32_t t, r;
	int sa, sb, ret;

	CHECK(!tcp_pair(&sa, &sb), "tcp pair: %s", strerror(errno));
	CHECK(!kdev_open(&d) && !kdev_open(&q) && !kdev_open(&e), "open");
	CHECK(!kconn_create(&d, &c) && !kconn_join(&q, &cq, c.token), "conn");
	CHECK(!kbind(&d, &c, sa), "bind");
	CHECK(kbind(&d, &c, sb) == -EBUSY, "bound twice");
	CHECK(kbind(&e, &c, sa) == -EBADF, "bind of a side not held");
	CHECK(krejoin(&e, &ce, c.token, sb) == -EPERM, "rejoin with another socket");
	CHECK(krejoin(&e, &ce, c.token ^ (1ULL << 40), sa) == -ENOENT, "bad token");
	/* A second holder (another open) while the first still holds it. */
	CHECK(!krejoin(&e, &ce, c.token, sa) && ce.handle == c.handle,
	      "rejoin: %s", strerror(errno));
	CHECK(put_one(&d, &c, '1') != HSOCK_NIL, "send by the first holder");
	CHECK(krecv(&q, &cq, buf) == 64 && buf[0] == '1', "peer receive 1");
	/* The first holder closes its file: the side stays with the second. */
	munmap(c.cp, 4096);
	kdev_close(&d);
	CHECK(!(ce.cp->flags[0] & HSOCK_CONN_DETACHED), "detached while held");
	CHECK(put_one(&e, &ce, '2') != HSOCK_NIL, "send by the second holder");
	CHECK(krecv(&q, &cq, buf) == 64 && buf[0] == '2', "peer receive 2");
	/* Last holder closes with the socket open: detached, not gone. */
	t = ktx(&ce)->tail;
	CHECK(put_one(&e, &ce, '3') != HSOCK_NIL, "send 3");
	r = ktake(&e, 4);	/* linked, never written: not committed */
	CHECK(r != HSOCK_NIL && !klink(&ce, r, 64), "link");
	__atomic_store_n(&ktx(&ce)->tail, t + 2, __ATOMIC_RELEASE);
	munmap(ce.cp, 4096);
	kdev_close(&e);
	CHECK((cq.cp->flags[0] & (HSOCK_CONN_DETACHED | HSOCK_CONN_GONE)) ==
	      HSOCK_CONN_DETACHED, "flags after the last close: %#x", cq.cp->flags[0]);
	CHECK(cq.cp->ring[0].tail == t + 1, "uncommitted link not cut: tail %u, want %u",
	      cq.cp->ring[0].tail, t + 1);
	CHECK(kwait(&q, &cq, HSOCK_EV_READ, 0, 1000000) == HSOCK_EV_READ,
	      "detached side reported as HUP");
	/* "After exec": a new open takes the side back with the socket. */
	CHECK(!kdev_open(&e) && !krejoin(&e, &ce, c.token, sa), "rejoin after detach");
	CHECK(!(ce.cp->flags[0] & HSOCK_CONN_DETACHED), "still detached");
	CHECK(krecv(&q, &cq, buf) == 64 && buf[0] == '3', "record sent before detach");
	CHECK(put_one(&e, &ce, '4') != HSOCK_NIL, "send after rejoin");
	CHECK(krecv(&q, &cq, buf) == 64 && buf[0] == '4', "peer receive 4");
	/* Closing the socket of a detached side makes it gone: HUP. */
	munmap(ce.cp, 4096);
	kdev_close(&e);
	close(sa);
	ret = kwait(&q, &cq, HSOCK_EV_READ, 0, 3000000000LL);
	CHECK(ret > 0 && (ret & HSOCK_EV_HUP) && !wait_flag(cq.cp, 0, HSOCK_CONN_GONE),
	      "no HUP after the socket closed: %d flags %#x", ret, cq.cp->flags[0]);
	CHECK(!kconn_close(&q, &cq), "close");
	close(sb);
	if (check_zero(&q, 1))
		return why;
	kdev_close(&q);
	return NULL;
}

/*
 * A writer blocked by the per-process limit on conn A is woken by the
 * release of a record on conn B (same process), and only it: a READ
 * waiter on A and the writer side of B (no waiter) stay as they are.
 */
static const char *t_limit_wake(void)
{
	struct kdev d;
	struct kconn a0 = { 0 }, a1 = { 0 }, b0 = { 0 }, b1 = { 0 };
	struct waiter ww, wr;
	uint32_t i, r, t, lim;
	int ret;

	CHECK(!kdev_open(&d) && !kconn_create(&d, &a0) &&
	      !kconn_join(&d, &a1, a0.token) && !kconn_create(&d, &b0) &&
	      !kconn_join(&d, &b1, b0.token), "setup");
	lim = d.info.rec_limit;
	t = ktx(&b0)->tail;
	for (i = 0; i < lim; i++) {
		r = ktake(&d, 16);
		CHECK(r != HSOCK_NIL, "arena empty after %u", i);
		ktx(&b0)->slot[(t + i) % HSOCK_RING_SLOTS].rec = r;
	}
	ret = ioctl(d.fd, HSOCK_IOC_COMMIT, (unsigned long)b0.handle);
	CHECK(ret == (int)lim, "COMMIT returned %d, want %u", ret, lim);
	__atomic_store_n(&ktx(&b0)->tail, t + lim, __ATOMIC_RELEASE);
	start_waiter(&ww, &d, &a0, HSOCK_EV_WRITE, 0);
	start_waiter(&wr, &d, &a0, HSOCK_EV_READ, 0);
	CHECK(!wait_armed(a0.cp, 0, HSOCK_EV_WRITE | HSOCK_EV_READ), "not armed");
	sleep_ms(50);
	CHECK(!ww.done, "WRITE ready at the limit: %d", ww.ret);
	__atomic_store_n(&krx(&b1)->head, t + 1, __ATOMIC_RELEASE);
	ret = ioctl(d.fd, HSOCK_IOC_RELEASE, (unsigned long)b1.handle);
	CHECK(ret == 1, "RELEASE returned %d", ret);
	CHECK(!join_ms(&ww, 2000) && ww.ret == HSOCK_EV_WRITE,
	      "writer on the other conn not woken: %d", ww.ret);
	sleep_ms(100);
	CHECK(!wr.done, "READ waiter woken by a release: %d", wr.ret);
	{
		struct hsock_notify n = { .handle = a0.handle };

		CHECK(!ioctl(d.fd, HSOCK_IOC_NOTIFY_DISABLE, &n), "disable");
	}
	CHECK(!join_ms(&wr, 2000) && wr.ret == 0, "disable: READ waiter %d", wr.ret);
	kdev_close(&d);
	return NULL;
}

/*
 * Closing a file whose conns return records wakes a writer of the same
 * process blocked by the limit on a side both files hold, and drops every
 * side of the closing file (the wake-up must not reorder the sides the
 * close is walking).
 */
static const char *t_close_wakes(void)
{
	struct kdev d, e;
	struct kconn b0 = { 0 }, b1 = { 0 }, a = { 0 }, ae = { 0 }, x = { 0 };
	struct hsock_stats st;
	struct waiter w;
	uint32_t i, r, lim;
	int sa, sb, ret;

	CHECK(!tcp_pair(&sa, &sb), "tcp pair");
	/* d opened last: its process's wake-up looks at d's sides first */
	CHECK(!kdev_open(&e) && !kdev_open(&d), "open");
	/* d's sides, in this order: B (both), A (bound, shared with e), X. */
	CHECK(!kconn_create(&d, &b0) && !kconn_join(&d, &b1, b0.token) &&
	      !kconn_create(&d, &a) && !kbind(&d, &a, sa) &&
	      !krejoin(&e, &ae, a.token, sa) && !kconn_create(&d, &x), "conns");
	lim = d.info.rec_limit;
	for (i = 0; i < lim; i++) {
		r = ktake(&d, 16);
		CHECK(r != HSOCK_NIL, "arena empty after %u", i);
		ktx(&b0)->slot[i % HSOCK_RING_SLOTS].rec = r;
	}
	ret = ioctl(d.fd, HSOCK_IOC_COMMIT, (unsigned long)b0.handle);
	CHECK(ret == (int)lim, "COMMIT returned %d", ret);
	start_waiter(&w, &e, &ae, HSOCK_EV_WRITE, 0);
	CHECK(!wait_armed(ae.cp, 0, HSOCK_EV_WRITE), "not armed");
	munmap(b0.cp, 4096);
	munmap(b1.cp, 4096);
	munmap(a.cp, 4096);
	munmap(x.cp, 4096);
	kdev_close(&d);	/* B's records return: one wake-up per record */
	CHECK(!join_ms(&w, 2000) && w.ret == HSOCK_EV_WRITE, "writer: %d", w.ret);
	kstats(&e, &st);
	CHECK(st.nr_conns == 1 && st.nr_files == 1,
	      "after the close: %u conns, %u files (want A only)", st.nr_conns,
	      st.nr_files);
	close(sa);	/* first: A is then gone at e's close, not detached */
	close(sb);
	munmap(ae.cp, 4096);
	kdev_close(&e);
	return NULL;
}

static const struct {
	const char *name;
	const char *(*fn)(void);
} tests[] = {
	{ "ioctl ABI and version", t_abi },
	{ "commit on fault of a linked record, consumer maps it", t_commit_on_fault },
	{ "SIGSEGV for records the process does not hold (free, unlinked, another file's, unheld conn, closed)", t_sigsegv },
	{ "per-process record limit (EDQUOT, SIGBUS)", t_limit },
	{ "sync wait woken by the peer, exactly the armed waiters", t_sync_peer },
	{ "writer blocked by the limit woken by a release on another conn, only it", t_limit_wake },
	{ "sync wait interrupted by a signal (EINTR), timeout", t_sync_signal },
	{ "async signal to the registering thread", t_async },
	{ "notify-on-write trap wakes without a syscall", t_trap },
	{ "two processes exchange a checksummed stream", t_stream },
	{ "concurrent streams of 4 process pairs, one producer killed", t_stress },
	{ "killed process leaves counters at zero", t_kill },
	{ "killed peer: data still readable, HUP, zero after close", t_kill_peer },
	{ "fork inherits the file and mappings", t_fork },
	{ "read-only view of committed records (a lying slot differs)", t_view },
	{ "sides follow their socket: rejoin, two holders, detach, gone on socket close", t_rejoin },
	{ "a close that returns records wakes the process's blocked writer, drops every side", t_close_wakes },
};

static void run(const char *name, const char *(*fn)(void))
{
	const char *err;
	int st, i;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		alarm(30);
		err = fn();
		if (err)
			printf("HSOCK-TEST FAIL %s: %s\n", name, err);
		else
			printf("HSOCK-TEST PASS %s\n", name);
		fflush(stdout);
		_exit(err ? 1 : 0);
	}
	for (i = 0; waitpid(pid, &st, 0) < 0 && i < 3; i++)
		;
	if (WIFSIGNALED(st))
		printf("HSOCK-TEST FAIL %s: died of signal %d\n", name, WTERMSIG(st));
	else if (WEXITSTATUS(st) > 1)
		printf("HSOCK-TEST FAIL %s: exit %d\n", name, WEXITSTATUS(st));
}

/*
 * Leave a detached conn (its socket kept open by a sleeping process) for
 * the module unload that follows in the guest's /init.
 */
static void leave_detached(void)
{
	struct kdev d;
	struct kconn c = { 0 };
	int sa, sb, ready[2];
	char b;

	if (pipe(ready))
		return;
	if (fork() == 0) {
		if (tcp_pair(&sa, &sb) || kdev_open(&d) || kconn_create(&d, &c) ||
		    kbind(&d, &c, sa))
			_exit(1);
		munmap(c.cp, 4096);
		kdev_close(&d);
		b = 'y';	/* sa and sb stay open until poweroff */
		if (write(ready[1], &b, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &b, 1) == 1)
		printf("HSOCK-INFO a detached conn is left for the unload\n");
}

int main(void)
{
	struct kdev d;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		run(tests[i].name, tests[i].fn);
	if (kdev_open(&d)) {
		printf("HSOCK-TEST FAIL counters at zero after all tests: open\n");
		return 1;
	}
	if (check_zero(&d, 1))
		printf("HSOCK-TEST FAIL counters at zero after all tests: %s\n", why);
	else
		printf("HSOCK-TEST PASS counters at zero after all tests\n");
	kdev_close(&d);
	leave_detached();
	return 0;
}
