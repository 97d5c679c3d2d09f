// SPDX-License-Identifier: GPL-2.0
/*
 * Sweep of stale channel objects (chan.h, STALE OBJECTS): an object of our
 * uid whose attached processes are all gone is unlinked.  Used by
 * hsock-run at start; never touches objects of other users.
 */
#include "hsock/chan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* True when the object at @fd is a channel whose processes are all gone. */
static bool stale(int fd)
{
	struct hsock_chan *ch;
	struct stat st;
	bool dead;

	if (fstat(fd, &st) || st.st_uid != geteuid() || st.st_size < HSOCK_HDR)
		return false;
	ch = mmap(NULL, HSOCK_HDR, PROT_READ, MAP_SHARED, fd, 0);
	if (ch == MAP_FAILED)
		return false;
	dead = ch->magic == HSOCK_MAGIC && !alive(atomic_load(&ch->pid[0])) &&
	       !alive(atomic_load(&ch->pid[1]));
	munmap(ch, HSOCK_HDR);
	return dead;
}

int hsock_sweep(const char *dir)
{
	char prefix[32];
	struct dirent *e;
	int n = 0, fd;
	DIR *d;

	snprintf(prefix, sizeof(prefix), "hsock-%u-", (unsigned int)geteuid());
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (stale(fd) && !unlinkat(dirfd(d), e->d_name, 0))
			n++;
		close(fd);
	}
	closedir(d);
	return n;
}
