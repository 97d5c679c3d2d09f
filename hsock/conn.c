// SPDX-License-Identifier: GPL-2.0
/*
 * Per-fd connection table and the rendezvous (see chan.h for the protocol).
 * The fd stays the kernel socket; the table only adds a channel to it.
 * Entries are set by connect/accept/dup and cleared by close; a struct
 * hs_conn is shared by all fds (dup) of one open socket in this process.
 */
#include "hsock/hsock_int.h"
#include "hsock/allow.h"
#include "hsock/ial.h"
#include "hsock/commit.h"
#include "kernel/uapi/hsock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void chan_lock(_Atomic uint32_t *l)
{
	unsigned int spins = 0;
	uint32_t z = 0;

	while (!atomic_compare_exchange_weak_explicit(l, &z, 1, memory_order_acquire,
						      memory_order_relaxed)) {
		z = 0;
		if (++spins > 100)
			sched_yield();
	}
}

void chan_unlock(_Atomic uint32_t *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

static void ep_str(char *out, size_t len, const struct sockaddr *sa)
{
	const struct sockaddr_in *s4 = (const void *)sa;
	const struct sockaddr_in6 *s6 = (const void *)sa;
	char a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, len, "%s_%u", a, ntohs(s4->sin_port));
	} else {
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, len, "%s_%u", a, ntohs(s6->sin6_port));
	}
}

int chan_name(char *out, size_t len, const struct sockaddr *client,
	      const struct sockaddr *server)
{
	char c[64], s[64];

	if ((client->sa_family != AF_INET && client->sa_family != AF_INET6) ||
	    client->sa_family != server->sa_family)
		return -EAFNOSUPPORT;
	ep_str(c, sizeof(c), client);
	ep_str(s, sizeof(s), server);
	snprintf(out, len, "hsock-%u-%s-%s", (unsigned int)geteuid(), c, s);
	return 0;
}

static bool is_tcp(int fd)
{
	int type = 0, proto = 0;
	socklen_t l = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) || type != SOCK_STREAM)
		return false;
	l = sizeof(int);
	return !getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) && proto == IPPROTO_TCP;
}

/* The file status flags hsock follows (fcntl and ioctl keep them current). */
static void fl_flags(struct hs_conn *c, int fd)
{
	int fl = hs.real.fcntl(fd, F_GETFL);

	c->nonblock = fl & O_NONBLOCK;
	c->async = fl & O_ASYNC;
}

void hs_track(int fd, int side, bool pending)
{
	struct hs_conn *c;

	if (!hs.enabled || fd < 0 || fd >= hs.tab_len || !is_tcp(fd))
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	HS_STAT(S_SEEN, 1);
	c->refs = 1;
	c->side = side;
	c->pending = pending;
	c->spin_ns = hs.spin_max_ns;
	fl_flags(c, fd);
	if (!pending && hs_attach(c, fd))
		c->plain = true;
	atomic_store_explicit(&hs.tab[fd], c, memory_order_release);
}

/* ::ffff:a.b.c.d -> a.b.c.d, so a v6 listener and a v4 client agree. */
static void unmap_v4(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 s6 = *(struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr))
		return;
	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	s4->sin_port = s6.sin6_port;
	memcpy(&s4->sin_addr, &s6.sin6_addr.s6_addr[12], 4);
}

/* The original destination of a REDIRECTed connection, if any. */
static int original_dst(int fd, struct sockaddr_storage *sv)
{
	socklen_t l = sizeof(*sv);

	if (!getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, sv, &l))
		return 0;
	l = sizeof(*sv);
	return getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, sv, &l) ? -errno : 0;
}

/* Client and server endpoints as both ends compute them. */
static int endpoints(int fd, int side, struct sockaddr_storage *cl,
		     struct sockaddr_storage *sv)
{
	struct sockaddr_storage loc, peer;
	socklen_t l1 = sizeof(loc), l2 = sizeof(peer);

	if (getsockname(fd, (void *)&loc, &l1) || getpeername(fd, (void *)&peer, &l2))
		return -errno;
	if (side == 0) {
		*cl = loc;
		*sv = peer;
	} else {
		*cl = peer;
		if (original_dst(fd, sv))
			*sv = loc;
	}
	unmap_v4(cl);
	unmap_v4(sv);
	return 0;
}

static void conns_link(struct hs_conn *c)
{
	chan_lock(&hs.conns_lock);
	c->next = hs.conns;
	if (hs.conns)
		hs.conns->prev = c;
	hs.conns = c;
	chan_unlock(&hs.conns_lock);
}

static void conns_unlink(struct hs_conn *c)
{
	chan_lock(&hs.conns_lock);
	if (c->prev)
		c->prev->next = c->next;
	else if (hs.conns == c)
		hs.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	chan_unlock(&hs.conns_lock);
}

/* The per-uid record pool (hsock/commit.h), opened once, at first need. */
struct hs_pool *hs_pool_get(void)
{
	char name[HSOCK_NAME_MAX];
	struct hs_pool *p;

	if (hs.pool)
		return hs.pool;
	chan_lock(&hs.pool_lock);
	snprintf(name, sizeof(name), "hsock-%u-pool", (unsigned int)geteuid());
	if (!hs.pool && !hs_pool_open(hs.ial, name, hs.pool_nr, hs.rec_limit, &p))
		hs.pool = p;
	chan_unlock(&hs.pool_lock);
	return hs.pool;
}

static void init_chan(struct hs_conn *c, uint64_t token)
{
	struct hsock_chan *ch = c->ch;
	uint32_t ring = c->ring;

	ch->version = c->kmod ? CHAN_V_KMOD : c->rec ? CHAN_V_RECORDS : CHAN_V_RING;
	ch->ktoken = token;
	ch->kcreator = (uint32_t)c->side;
	ch->ring_size = ring;
	/* readers start armed: an app may wait in poll before its first read */
	atomic_store(&ch->dir[0].bell, 1);
	atomic_store(&ch->dir[1].bell, 1);
	atomic_store_explicit((_Atomic uint64_t *)&ch->magic, HSOCK_MAGIC,
			      memory_order_release);
}

/*
 * Map an existing channel: header first (for its ring size), then all.
 * @fd is the socket (the module's side follows it, kmod.c).
 */
static int map_existing(struct hs_conn *c, int fd)
{
	struct hsock_chan *h;
	uint32_t ring, version;
	int i, ret;

	ret = ial_map(hs.ial, c->name, HSOCK_HDR, 0, (void **)&h);
	if (ret)
		return ret;
	for (i = 0; i < 1000 && atomic_load_explicit((_Atomic uint64_t *)&h->magic,
			memory_order_acquire) != HSOCK_MAGIC; i++)
		usleep(10);
	ring = h->ring_size;
	version = h->version;
	ial_unmap(hs.ial, h, HSOCK_HDR);
	if (i == 1000 || ring < 4096 || ring > (1u << 28) || (ring & (ring - 1)))
		return -EPROTO;
	c->kmod = version == CHAN_V_KMOD;
	c->rec = version == CHAN_V_RECORDS || c->kmod;
	if (c->rec && ring > HSOCK_SLOTS_MAX * HSOCK_PAGE)
		return -EPROTO;
	if (c->kmod ? !hs_kmod_ready() : c->rec && !hs_pool_get())
		return -EPROTO;
	c->ring = ring;
	c->map_len = c->rec ? chan_size_rec() : chan_size(ring);
	ret = ial_map(hs.ial, c->name, c->map_len, 0, (void **)&c->ch);
	if (!ret && c->kmod && hs_kmod_join(c, atomic_load(&c->ch->ktoken), fd)) {
		ial_unmap(hs.ial, c->ch, c->map_len);
		c->ch = NULL;
		ret = -EPROTO;
	}
	return ret;
}

static int map_chan(struct hs_conn *c, int fd)
{
	int ret;

	uint64_t token = 0;

	c->ring = hs.reserve ? hs.reserve : hs.ring;
	c->kmod = hs.records && hs_kmod_ready();
	c->rec = c->kmod || (hs.records && hs_pool_get());
	if (c->kmod && c->ring > HSOCK_RING_SLOTS * HSOCK_PAGE)
		c->ring = HSOCK_RING_SLOTS * HSOCK_PAGE;	/* the module's ring */
	c->map_len = c->rec ? chan_size_rec() : chan_size(c->ring);
	ret = ial_map(hs.ial, c->name, c->map_len, IAL_CREATE, (void **)&c->ch);
	if (!ret && hs.reserve)	/* baseline: the whole reserve held up front */
		madvise(c->ch, c->map_len, MADV_POPULATE_WRITE);
	if (!ret && c->kmod && hs_kmod_create(c, &token, fd)) {
		c->kmod = false;	/* module refused: the user-space pool */
		c->rec = hs_pool_get() != NULL;
		if (!c->rec) {
			ial_unmap(hs.ial, c->ch, c->map_len);
			c->ch = NULL;
			ial_unlink(hs.ial, c->name);
			return -ENOMEM;
		}
	}
	if (!ret)
		init_chan(c, token);
	else if (ret == -EEXIST)
		ret = map_existing(c, fd);
	return ret;
}

/* Claim our side; a foreign cookie on our side means a stale object. */
static int claim(struct hs_conn *c)
{
	uint64_t z = 0;
	_Atomic uint64_t *ck = &c->ch->cookie[c->side];

	if (atomic_compare_exchange_strong(ck, &z, c->ino)) {
		atomic_fetch_add(&c->ch->holders[c->side], 1);
		atomic_store(&c->ch->pid[c->side], getpid());
		return 0;
	}
	return z == c->ino ? 0 : -ESTALE;
}

int hs_attach(struct hs_conn *c, int fd)
{
	struct sockaddr_storage cl, sv;
	struct stat st;
	int ret, tries;

	c->pending = false;
	ret = endpoints(fd, c->side, &cl, &sv);
	if (!ret)
		ret = chan_name(c->name, sizeof(c->name), (void *)&cl, (void *)&sv);
	if (ret || fstat(fd, &st))
		return HS_STAT(S_FB_ERROR, 1), -EINVAL;
	if (hs.allow && !hsock_allow_match(hs.allow, (void *)&cl, (void *)&sv))
		return HS_STAT(S_FB_NOT_ALLOWED, 1), -EPERM;
	if (!hs.ial)
		return HS_STAT(S_FB_NO_GSHM, 1), -ENODEV;
	c->ino = st.st_ino;
	for (tries = 0; tries < 2; tries++) {
		ret = map_chan(c, fd);
		if (!ret)
			ret = claim(c);
		if (ret != -ESTALE)
			break;
		hs_kmod_close(c);
		ial_unmap(hs.ial, c->ch, c->map_len);
		c->ch = NULL;
		ial_unlink(hs.ial, c->name);
	}
	if (ret) {
		hs_kmod_close(c);
		ial_unmap(hs.ial, c->ch, c->map_len);
		c->ch = NULL;
		return HS_STAT(S_FB_NO_GSHM, 1), ret;
	}
	HS_STAT(S_ATTACHED, 1);
	if (c->kmod)
		HS_STAT(S_KMOD_CONNS, 1);
	conns_link(c);
	hs_rx_async(c);
	return 0;
}

/*
 * The peer is not hsock: make both directions plain TCP for good.  Our read
 * direction is already REFUSED by the caller (inside RD_BUSY); the write
 * direction cannot be SWITCHED since the peer never attached.
 */
void hs_refuse(struct hs_conn *c)
{
	uint32_t z = 0;

	atomic_compare_exchange_strong(&c->ch->dir[c->side].state, &z, ST_REFUSED);
	c->plain = true;
	HS_STAT(S_FB_PEER_ABSENT, 1);
}

/*
 * Give up our side of the channel.  At exit (@keep_mapping) other threads
 * may still be inside a call on it: the shared state is released but the
 * mapping and the struct stay until the process is gone.
 */
static void release(struct hs_conn *c, int fd, bool keep_mapping)
{
	struct hsock_chan *ch = c->ch;

	if (ch) {
		conns_unlink(c);
		if (atomic_fetch_sub(&ch->holders[c->side], 1) == 1) {
			hs_release_io(c, fd);
			if (!keep_mapping)	/* at exit the file's close does it */
				hs_kmod_close(c);
			atomic_store(&ch->cookie[c->side], 0);
			if (!atomic_load(&ch->cookie[1 - c->side])) {
				if (c->rec && !c->kmod)
					hs_release_records(ch);
				ial_unlink(hs.ial, c->name);
			}
		}
		if (keep_mapping)
			return;
		ial_unmap(hs.ial, ch, c->map_len);
	}
	free(c);
}

/* At exit: the kernel closes our sockets; release their channels first. */
void hs_release_all(void)
{
	struct hs_conn *c;
	int fd;

	for (fd = 0; hs.tab && fd < hs.tab_len; fd++) {
		c = atomic_load_explicit(&hs.tab[fd], memory_order_relaxed);
		if (c && atomic_fetch_sub(&c->refs, 1) == 1)
			release(c, fd, true);
	}
}

/* close(fd): drop the entry; the last fd of the socket releases the channel. */
void hs_put(int fd)
{
	struct hs_conn *c;

	if (fd < 0 || fd >= hs.tab_len || !hs.tab)
		return;
	c = atomic_exchange(&hs.tab[fd], NULL);
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		release(c, fd, false);
}

void hs_dup(int oldfd, int newfd)
{
	struct hs_conn *c = hs_get(oldfd);

	if (newfd < 0 || newfd >= hs.tab_len || newfd == oldfd)
		return;
	hs_put(newfd);
	if (!c)
		return;
	atomic_fetch_add(&c->refs, 1);
	atomic_store_explicit(&hs.tab[newfd], c, memory_order_release);
}

/* Nested waits were just discovered: arm every ring (chan.h, DOORBELLS). */
void hs_arm_all(void)
{
	struct hs_conn *c;
	int fd;

	for (fd = 0; hs.tab && fd < hs.tab_len; fd++) {
		c = atomic_load_explicit(&hs.tab[fd], memory_order_relaxed);
		if (c && !c->plain && c->ch)
			hs_rx_rearm(c, fd);
	}
}

/* fork(): the child holds every attached channel too. */
void hs_fork_hold(int delta)
{
	struct hs_conn *c;

	chan_lock(&hs.conns_lock);
	for (c = hs.conns; c; c = c->next)
		atomic_fetch_add(&c->ch->holders[c->side], delta);
	chan_unlock(&hs.conns_lock);
}

/* After exec: find the channel whose cookie is this socket's inode. */
static void reattach(int fd, uint64_t ino)
{
	struct hs_conn *c;
	int side;

	if (!is_tcp(fd))
		return;
	for (side = 0; side < 2; side++) {
		struct sockaddr_storage cl, sv;

		c = calloc(1, sizeof(*c));
		if (!c)
			return;
		c->side = side;
		if (endpoints(fd, side, &cl, &sv) ||
		    chan_name(c->name, sizeof(c->name), (void *)&cl, (void *)&sv) ||
		    map_existing(c, fd)) {
			free(c);
			continue;
		}
		if (atomic_load(&c->ch->cookie[side]) == ino) {
			c->refs = 1;
			c->ino = ino;
			c->spin_ns = hs.spin_max_ns;
			fl_flags(c, fd);
			conns_link(c);
			hs_rx_async(c);
			atomic_store(&hs.tab[fd], c);
			return;
		}
		ial_unmap(hs.ial, c->ch, c->map_len);
		free(c);
	}
}

void hs_reattach_inherited(void)
{
	char link[64];
	unsigned long long ino;
	struct dirent *e;
	DIR *dir;
	ssize_t n;

	if (!hs.ial)
		return;
	dir = opendir("/proc/self/fd");
	if (!dir)
		return;
	while ((e = readdir(dir))) {
		int fd = atoi(e->d_name);

		n = readlinkat(dirfd(dir), e->d_name, link, sizeof(link) - 1);
		if (n <= 0 || fd == dirfd(dir) || fd >= hs.tab_len)
			continue;
		link[n] = 0;
		if (sscanf(link, "socket:[%llu]", &ino) == 1)
			reattach(fd, ino);
	}
	closedir(dir);
}
