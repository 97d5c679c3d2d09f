// SPDX-License-Identifier: GPL-2.0
/*
 * Sweep of stale channel objects (chan.h, STALE OBJECTS): an object of our
 * uid whose attached processes are all gone is unlinked.  Used by
 * hsock-run at start; never touches objects of other users.  The pool
 * records still linked in a swept records channel (its processes were
 * killed) are released back to the pool (hsock/commit.h).
 */
#include "hsock/chan.h"
#include "hsock/commit.h"
#include "hsock/ial.h"
#include "hsock/proc.h"

#include <stdlib.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct linked {
	uint32_t n;
	uint32_t rec[2 * HSOCK_SLOTS_MAX];
};

/* Pool records named by the slot tables of a records channel. */
static void collect(const struct hsock_chan *ch, struct linked *l)
{
	uint32_t d, i, v;

	l->n = 0;
	if (ch->version != CHAN_V_RECORDS)
		return;
	for (d = 0; d < 2; d++)
		for (i = 0; i < HSOCK_SLOTS_MAX; i++) {
			v = atomic_load(&ch->slot[d][i]);
			if (v != SLOT_NIL && !(v & SLOT_LOCAL))
				l->rec[l->n++] = v - 1;
		}
}

/*
 * True when the object at @fd is a channel whose processes are all gone;
 * its linked records in @l.
 */
static bool stale(int fd, struct linked *l)
{
	struct hsock_chan *ch;
	struct stat st;
	bool dead;

	if (fstat(fd, &st) || st.st_uid != geteuid() || st.st_size < HSOCK_HDR)
		return false;
	ch = mmap(NULL, HSOCK_HDR, PROT_READ, MAP_SHARED, fd, 0);
	if (ch == MAP_FAILED)
		return false;
	dead = ch->magic == HSOCK_MAGIC && !hs_pid_alive(atomic_load(&ch->pid[0])) &&
	       !hs_pid_alive(atomic_load(&ch->pid[1]));
	if (dead)
		collect(ch, l);
	munmap(ch, HSOCK_HDR);
	return dead;
}

/* Give @l back to the pool of this uid (opened at first need). */
static void release(int dfd, struct linked *l, struct ial **ial,
		    struct hs_pool **pool)
{
	char name[64], err[256];

	if (!l->n)
		return;
	if (!*ial && ial_open("shm", ial, err, sizeof(err)))
		return;
	snprintf(name, sizeof(name), "hsock-%u-pool", (unsigned int)geteuid());
	/* never create it here: only an existing pool holds these records */
	if (!*pool && (faccessat(dfd, name, F_OK, 0) ||
		       hs_pool_open(*ial, name, 1, 1, pool)))
		return;
	hs_rec_release(*pool, l->rec, l->n);	/* -EPROTO: some were not ours */
}

int hsock_sweep(const char *dir)
{
	struct linked *l = calloc(1, sizeof(*l));
	struct hs_pool *pool = NULL;
	struct ial *ial = NULL;
	char prefix[32];
	struct dirent *e;
	int n = 0, fd;
	DIR *d;

	snprintf(prefix, sizeof(prefix), "hsock-%u-", (unsigned int)geteuid());
	d = opendir(dir);
	if (!d || !l) {
		n = d ? -ENOMEM : -errno;
		goto out;
	}
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (stale(fd, l) && !unlinkat(dirfd(d), e->d_name, 0)) {
			release(dirfd(d), l, &ial, &pool);
			n++;
		}
		close(fd);
	}
	if (pool)
		hs_pool_trim(pool);
out:
	hs_pool_close(pool);
	ial_close(ial);
	if (d)
		closedir(d);
	free(l);
	return n;
}
