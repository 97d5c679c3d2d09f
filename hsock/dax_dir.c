// SPDX-License-Identifier: GPL-2.0
/*
 * The region directory of the dax backend: named regions placed in one
 * mapping, shared by processes (layout, lock, entry life cycle and
 * mapping records in dax_dir.h).  Works on any base address and size;
 * ial_dax.c gives it a device-dax mapping, the unit tests a memfd.
 */
#include "hsock/dax_dir.h"
#include "hsock/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct dax_dir_hdr *hdr(const struct dax_space *s)
{
	return (struct dax_dir_hdr *)s->base;
}

static struct dax_entry *entry(const struct dax_space *s, uint32_t i)
{
	return (struct dax_entry *)(s->base + DAX_PAGE) + i;
}

static struct dax_mapping *mapping(const struct dax_space *s, uint32_t i)
{
	return (struct dax_mapping *)(s->base + DAX_MAP_OFF) + i;
}

static uint32_t index_of(const struct dax_space *s, const struct dax_entry *e)
{
	return (uint32_t)(e - entry(s, 0));
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ull;
	return h;
}

uint32_t dax_domain(void)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char boot[64] = "";
	struct stat st;
	int fd;

	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, boot, sizeof(boot) - 1) < 0)
			boot[0] = 0;
		close(fd);
	}
	h = fnv1a(h, boot, strlen(boot));
	if (!stat("/proc/self/ns/pid", &st))
		h = fnv1a(h, &st.st_ino, sizeof(st.st_ino));
	return (uint32_t)(h ^ (h >> 32)) | 1;
}

uint64_t dax_self(const struct dax_space *s)
{
	return (uint64_t)s->domain << 32 | (uint32_t)getpid();
}

/* Dead for sure: of our domain and gone.  Others' liveness is unknown. */
static bool dead(const struct dax_space *s, uint64_t who)
{
	pid_t pid = (pid_t)(uint32_t)who;

	if (!who || (uint32_t)(who >> 32) != s->domain)
		return false;
	return !hs_pid_alive(pid);
}

/* dead() answers for one reclaim pass: one check per process. */
struct verdicts {
	uint32_t n;
	uint64_t who[64];
	bool dead[64];
};

static bool dead_cached(const struct dax_space *s, struct verdicts *v,
			uint64_t who)
{
	bool d;
	uint32_t i;

	for (i = 0; i < v->n; i++)
		if (v->who[i] == who)
			return v->dead[i];
	d = dead(s, who);
	if (v->n < 64) {
		v->who[v->n] = who;
		v->dead[v->n++] = d;
	}
	return d;
}

static void backoff(unsigned int *n)
{
	if (++*n < 64)
		sched_yield();
	else
		usleep(50);
}

static void dir_lock(struct dax_space *s)
{
	struct dax_dir_hdr *h = hdr(s);
	uint64_t v, seq, seen = 0, seen_seq = 0, since = 0;
	unsigned int n = 0;

	for (;;) {
		v = 0;
		if (atomic_compare_exchange_strong(&h->lock, &v, dax_self(s)))
			break;
		if (dead(s, v) && atomic_compare_exchange_strong(&h->lock, &v, dax_self(s)))
			break;
		seq = atomic_load(&h->lock_seq);
		if (v != seen || seq != seen_seq || !since) {
			seen = v;
			seen_seq = seq;
			since = now_ns();
		} else if ((uint32_t)(v >> 32) != s->domain &&
			   now_ns() - since > DAX_LEASE_MS * 1000000ull &&
			   atomic_compare_exchange_strong(&h->lock, &v, dax_self(s))) {
			break;
		}
		backoff(&n);
	}
	atomic_fetch_add(&h->lock_seq, 1);
}

static void dir_unlock(struct dax_space *s)
{
	atomic_store_explicit(&hdr(s)->lock, 0, memory_order_release);
}

/* The entry's fields are within the directory's bounds. */
static bool entry_ok(const struct dax_space *s, const struct dax_entry *e)
{
	uint64_t lim = hdr(s)->size;
	uint32_t st = atomic_load(&e->state);

	return st <= DAX_UNLINKED && memchr(e->name, 0, DAX_NAME_MAX) &&
	       e->off >= DAX_DATA_OFF && !(e->off % DAX_PAGE) &&
	       e->len && !(e->len % DAX_PAGE) && e->off <= lim &&
	       e->len <= lim - e->off;
}

static bool named(const struct dax_entry *e)
{
	uint32_t st = atomic_load(&e->state);

	return st == DAX_CREATING || st == DAX_READY;
}

static struct dax_entry *find(struct dax_space *s, const char *name)
{
	struct dax_entry *e;
	uint32_t i;

	for (i = 0; i < DAX_ENTRIES; i++) {
		e = entry(s, i);
		if (named(e) && !strncmp(e->name, name, DAX_NAME_MAX))
			return e;
	}
	return NULL;
}

/* Free entry @idx: state first, then its mapping records. */
static void entry_free(struct dax_space *s, uint32_t idx)
{
	struct dax_mapping *m;
	uint32_t i;

	atomic_store(&entry(s, idx)->state, DAX_FREE);
	for (i = 0; i < DAX_MAPPINGS; i++) {
		m = mapping(s, i);
		if (m->who && m->entry == idx)
			m->who = 0;
	}
}

/* Records of entry @idx held by live processes; drops the dead ones. */
static uint32_t live_mappers(struct dax_space *s, uint32_t idx)
{
	struct dax_mapping *m;
	uint32_t i, n = 0;

	for (i = 0; i < DAX_MAPPINGS; i++) {
		m = mapping(s, i);
		if (!m->who || m->entry != idx)
			continue;
		if (!m->n || dead(s, m->who))
			m->who = 0;
		else
			n++;
	}
	return n;
}

/* Unlinked and no longer mapped: the extent goes back. */
static void put_if_unused(struct dax_space *s, uint32_t idx)
{
	if (atomic_load(&entry(s, idx)->state) == DAX_UNLINKED &&
	    !live_mappers(s, idx))
		entry_free(s, idx);
}

/*
 * Free what dead processes of our domain left: their mapping records,
 * CREATING entries of a dead creator, UNLINKED entries nobody maps.  The
 * live records per entry in @count (DAX_ENTRIES of them).
 */
static void reclaim(struct dax_space *s, uint32_t *count)
{
	struct verdicts v = { 0 };
	struct dax_mapping *m;
	struct dax_entry *e;
	uint32_t i, st;

	memset(count, 0, DAX_ENTRIES * sizeof(*count));
	for (i = 0; i < DAX_MAPPINGS; i++) {
		m = mapping(s, i);
		if (!m->who)
			continue;
		if (m->entry >= DAX_ENTRIES || !m->n ||
		    atomic_load(&entry(s, m->entry)->state) == DAX_FREE ||
		    dead_cached(s, &v, m->who))
			m->who = 0;
		else
			count[m->entry]++;
	}
	for (i = 0; i < DAX_ENTRIES; i++) {
		e = entry(s, i);
		st = atomic_load(&e->state);
		if ((st == DAX_CREATING && dead_cached(s, &v, e->creator)) ||
		    (st == DAX_UNLINKED && !count[i]))
			entry_free(s, i);
	}
}

static void reclaim_all(struct dax_space *s)
{
	uint32_t *count = calloc(DAX_ENTRIES, sizeof(*count));

	if (count)
		reclaim(s, count);
	free(count);
}

/* @n more mappings of entry @idx by @who; -ENOSPC when no record is free. */
static int map_add(struct dax_space *s, uint32_t idx, uint64_t who, uint32_t n)
{
	struct dax_mapping *m, *free_rec = NULL;
	uint32_t i;

	for (i = 0; i < DAX_MAPPINGS; i++) {
		m = mapping(s, i);
		if (m->who == who && m->entry == idx) {
			m->n += n;
			return 0;
		}
		if (!free_rec && !m->who)
			free_rec = m;
	}
	if (!free_rec)
		return -ENOSPC;
	free_rec->entry = idx;
	free_rec->n = n;
	free_rec->who = who;
	return 0;
}

static void map_drop(struct dax_space *s, uint32_t idx, uint64_t who)
{
	struct dax_mapping *m;
	uint32_t i;

	for (i = 0; i < DAX_MAPPINGS; i++) {
		m = mapping(s, i);
		if (m->who == who && m->entry == idx) {
			if (m->n <= 1)
				m->who = 0;
			else
				m->n--;
			return;
		}
	}
}

static int cmp_u64_pair(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Under the lock: offset of a free extent of @len bytes, or 0. */
static uint64_t alloc_extent(struct dax_space *s, uint64_t len)
{
	uint64_t (*used)[2], pos = DAX_DATA_OFF, lim = hdr(s)->size;
	struct dax_entry *e;
	uint32_t i, n = 0;

	used = malloc(sizeof(*used) * DAX_ENTRIES);
	if (!used)
		return 0;
	for (i = 0; i < DAX_ENTRIES; i++) {
		e = entry(s, i);
		if (atomic_load(&e->state) != DAX_FREE && entry_ok(s, e)) {
			used[n][0] = e->off;
			used[n++][1] = e->off + e->len;
		}
	}
	qsort(used, n, sizeof(*used), cmp_u64_pair);
	for (i = 0; i < n && pos <= lim && len <= lim - pos; i++) {
		if (used[i][0] >= pos + len)
			break;
		if (used[i][1] > pos)
			pos = used[i][1];
	}
	free(used);
	return pos <= lim && len <= lim - pos ? pos : 0;
}

static void format(struct dax_space *s)
{
	struct dax_dir_hdr *h = hdr(s);

	memset(s->base + DAX_PAGE, 0, DAX_DATA_OFF - DAX_PAGE);
	h->version = DAX_DIR_VERSION;
	h->nr = DAX_ENTRIES;
	h->nr_mappings = DAX_MAPPINGS;
	h->size = s->size & ~(uint64_t)(DAX_PAGE - 1);
	h->data_off = DAX_DATA_OFF;
	atomic_store_explicit(&h->magic, DAX_DIR_MAGIC, memory_order_release);
}

int dax_space_attach(struct dax_space *s, void *base, size_t size,
		     uint32_t domain)
{
	struct dax_dir_hdr *h = base;

	s->base = base;
	s->size = size;
	s->domain = domain;
	if (size < DAX_DATA_OFF + DAX_PAGE)
		return -ENOSPC;
	if (atomic_load_explicit(&h->magic, memory_order_acquire) != DAX_DIR_MAGIC) {
		dir_lock(s);
		if (atomic_load(&h->magic) != DAX_DIR_MAGIC)
			format(s);
		dir_unlock(s);
	}
	if (h->version != DAX_DIR_VERSION || h->nr != DAX_ENTRIES ||
	    h->nr_mappings != DAX_MAPPINGS || h->data_off != DAX_DATA_OFF ||
	    h->size > size || h->size < DAX_DATA_OFF + DAX_PAGE)
		return -EPROTO;
	return 0;
}

size_t dax_space_capacity(const struct dax_space *s)
{
	return hdr(s)->size - DAX_DATA_OFF;
}

/* Under the lock: a FREE entry and its extent for @name of @len bytes. */
static int place(struct dax_space *s, uint64_t len, struct dax_entry **out,
		 uint64_t *off)
{
	struct dax_entry *e;
	uint32_t i;

	*out = NULL;
	for (i = 0; i < DAX_ENTRIES && !*out; i++) {
		e = entry(s, i);
		if (atomic_load(&e->state) == DAX_FREE)
			*out = e;
	}
	*off = *out ? alloc_extent(s, len) : 0;
	return *off ? 0 : -ENOSPC;
}

/* Under the lock: a FREE entry made CREATING for @name, mapped by us. */
static int reserve(struct dax_space *s, const char *name, uint64_t len,
		   struct dax_entry **out)
{
	struct dax_entry *e = find(s, name);
	uint64_t off;
	int ret;

	if (e && atomic_load(&e->state) == DAX_CREATING && dead(s, e->creator))
		entry_free(s, index_of(s, e));	/* its creator died zeroing it */
	else if (e)
		return -EEXIST;
	ret = place(s, len, &e, &off);
	if (ret) {
		reclaim_all(s);
		ret = place(s, len, &e, &off);
		if (ret)
			return ret;
	}
	ret = map_add(s, index_of(s, e), dax_self(s), 1);
	if (ret) {
		reclaim_all(s);
		ret = map_add(s, index_of(s, e), dax_self(s), 1);
		if (ret)
			return ret;
	}
	memset(e->name, 0, sizeof(e->name));
	snprintf(e->name, DAX_NAME_MAX, "%s", name);
	e->off = off;
	e->len = len;
	e->uid = (uint32_t)geteuid();
	e->creator = dax_self(s);
	atomic_store_explicit(&e->state, DAX_CREATING, memory_order_release);
	*out = e;
	return 0;
}

int dax_region_create(struct dax_space *s, const char *name, size_t len,
		      uint64_t *off)
{
	uint64_t plen = ((uint64_t)len + DAX_PAGE - 1) & ~(uint64_t)(DAX_PAGE - 1);
	uint32_t st = DAX_CREATING;
	struct dax_entry *e;
	int ret;

	if (strlen(name) >= DAX_NAME_MAX)
		return -ENAMETOOLONG;
	if (!len || plen > dax_space_capacity(s))
		return len ? -ENOSPC : -EINVAL;
	dir_lock(s);
	ret = reserve(s, name, plen, &e);
	dir_unlock(s);
	if (ret)
		return ret;
	/* our record keeps e ours: unlinked meanwhile, it stays UNLINKED */
	*off = e->off;
	memset(s->base + *off, 0, plen);
	atomic_compare_exchange_strong(&e->state, &st, DAX_READY);
	return 0;
}

/* Under the lock: a READY entry for @name mapped once more by us. */
static int lookup(struct dax_space *s, const char *name, uint64_t len,
		  uint64_t *off, uint64_t *creator)
{
	struct dax_entry *e = find(s, name);
	int ret;

	if (!e)
		return -ENOENT;
	if (!entry_ok(s, e))
		return -EPROTO;
	if (e->uid != (uint32_t)geteuid())
		return -EPERM;
	if (e->len < len)
		return -EINVAL;
	if (atomic_load(&e->state) == DAX_CREATING) {
		*creator = e->creator;
		return -EAGAIN;
	}
	ret = map_add(s, index_of(s, e), dax_self(s), 1);
	if (ret) {
		reclaim_all(s);
		ret = map_add(s, index_of(s, e), dax_self(s), 1);
	}
	*off = e->off;
	return ret;
}

int dax_region_open(struct dax_space *s, const char *name, size_t len,
		    uint64_t *off)
{
	uint64_t start = now_ns(), creator = 0;
	useconds_t us = 20;
	int ret;

	for (;;) {
		dir_lock(s);
		ret = lookup(s, name, len, off, &creator);
		dir_unlock(s);
		if (ret != -EAGAIN)
			return ret;
		if (dead(s, creator) ||
		    now_ns() - start > DAX_CREATE_WAIT_MS * 1000000ull)
			return -ETIMEDOUT;
		/* the creator is zeroing: leave it the CPU (20 us .. 1 ms) */
		usleep(us);
		us = us < 1000 ? us * 2 : us;
	}
}

void dax_region_put(struct dax_space *s, uint64_t off)
{
	struct dax_entry *e;
	uint32_t i;

	dir_lock(s);
	for (i = 0; i < DAX_ENTRIES; i++) {
		e = entry(s, i);
		if (atomic_load(&e->state) != DAX_FREE && e->off == off &&
		    entry_ok(s, e)) {
			map_drop(s, i, dax_self(s));
			put_if_unused(s, i);
			break;
		}
	}
	dir_unlock(s);
}

int dax_region_unlink(struct dax_space *s, const char *name)
{
	struct dax_entry *e;
	int ret = -ENOENT;

	dir_lock(s);
	e = find(s, name);
	if (e && e->uid != (uint32_t)geteuid()) {
		ret = -EPERM;
	} else if (e) {
		atomic_store(&e->state, DAX_UNLINKED);
		put_if_unused(s, index_of(s, e));
		ret = 0;
	}
	dir_unlock(s);
	return ret;
}

int dax_space_sweep(struct dax_space *s)
{
	uint32_t *count = calloc(DAX_ENTRIES, sizeof(*count)), i;
	struct dax_entry *e;
	int n = 0;

	if (!count)
		return -ENOMEM;
	dir_lock(s);
	reclaim(s, count);
	for (i = 0; i < DAX_ENTRIES; i++) {
		e = entry(s, i);
		if (atomic_load(&e->state) == DAX_READY && entry_ok(s, e) &&
		    e->uid == (uint32_t)geteuid() && !count[i]) {
			entry_free(s, i);
			n++;
		}
	}
	dir_unlock(s);
	free(count);
	return n;
}

void dax_space_forked(struct dax_space *s, uint64_t parent)
{
	struct dax_mapping *m;
	uint32_t i;

	dir_lock(s);
	for (i = 0; i < DAX_MAPPINGS; i++) {
		m = mapping(s, i);
		if (m->who == parent && m->n && m->entry < DAX_ENTRIES)
			map_add(s, m->entry, dax_self(s), m->n);
	}
	dir_unlock(s);
}

int dax_wait_poll(_Atomic uint32_t *word, uint32_t seen, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;
	struct timespec ts = { 0, 20000 };

	while (atomic_load(word) == seen) {
		if (now_ns() >= end)
			return -ETIMEDOUT;
		if (nanosleep(&ts, NULL))
			return -EINTR;
		if (ts.tv_nsec < 1000000)
			ts.tv_nsec *= 2;
	}
	return 0;
}
