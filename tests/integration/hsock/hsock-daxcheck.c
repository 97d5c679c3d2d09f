// SPDX-License-Identifier: GPL-2.0
/*
 * hsock-daxcheck: the dax backend on a real device-dax (run in the qemu
 * guest by tests/integration/hsock/dax.sh).
 *
 *   hsock-daxcheck ipc /dev/daxX.Y   two processes share a region through
 *	the IAL: exclusive create, the peer's view of 4 MiB written by the
 *	creator, a sleeper woken by ial_notify; reports whether the kernel
 *	takes a futex on the device mapping.  Prints "ok ..." or "FAIL ...".
 *   hsock-daxcheck ls /dev/daxX.Y    the directory's live entries, one
 *	"name state bytes" line each.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hsock/dax_dir.h"
#include "hsock/ial.h"

#define LEN (4u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct ial *open_ial(const char *dev)
{
	char spec[128], err[512] = "";
	struct ial *ial;

	snprintf(spec, sizeof(spec), "dax:%s", dev);
	if (ial_open(spec, &ial, err, sizeof(err))) {
		printf("FAIL open: %s\n", err);
		exit(1);
	}
	return ial;
}

/* The peer: sees the creator's bytes, sleeps until notified. */
static int peer(const char *dev)
{
	struct ial *ial = open_ial(dev);
	_Atomic uint32_t *w;
	unsigned char *p;
	double t0, slept;
	uint32_t i;

	if (ial_map(ial, "daxcheck", LEN, 0, (void **)&p))
		return printf("FAIL peer map\n"), 1;
	for (i = 8; i < LEN; i++)
		if (p[i] != (unsigned char)(i * 7))
			return printf("FAIL peer sees byte %u = %u\n", i, p[i]), 1;
	w = (_Atomic uint32_t *)p;
	atomic_store(w + 1, 1);		/* ready */
	ial_notify(ial, w + 1);
	t0 = now();
	while (atomic_load(w) == 0 && now() - t0 < 5)
		ial_wait(ial, w, 0, 2000);
	slept = now() - t0;
	if (atomic_load(w) != 1 || slept > 1.0)
		return printf("FAIL peer woken after %.3f s (word %u)\n", slept, atomic_load(w)), 1;
	printf("ok peer saw 4 MiB and was woken after %.1f ms\n", slept * 1e3);
	ial_unmap(ial, p, LEN);
	ial_close(ial);
	return 0;
}

static int ipc(const char *dev)
{
	struct ial *ial = open_ial(dev);
	struct timespec ts = { 0, 10000000 };
	_Atomic uint32_t *w;
	unsigned char *p, *q;
	int st, ret;
	uint32_t i;
	pid_t pid;

	ial_unlink(ial, "daxcheck");	/* a leftover of an earlier run */
	if (ial_map(ial, "daxcheck", LEN, IAL_CREATE, (void **)&p))
		return printf("FAIL create\n"), 1;
	if (ial_map(ial, "daxcheck", LEN, IAL_CREATE, (void **)&q) != -EEXIST)
		return printf("FAIL second create is not EEXIST\n"), 1;
	for (i = 0; i < LEN; i++)
		if (p[i])
			return printf("FAIL not zero-filled at %u\n", i), 1;
	for (i = 8; i < LEN; i++)
		p[i] = (unsigned char)(i * 7);
	w = (_Atomic uint32_t *)p;
	ret = syscall(SYS_futex, w, FUTEX_WAIT, 0, &ts, NULL, 0) ? errno : 0;
	printf("ok futex on the device mapping: %s\n",
	       ret == ETIMEDOUT ? "works (FUTEX_WAIT timed out)" : strerror(ret));
	pid = fork();
	if (!pid)
		_exit(peer(dev));
	while (!atomic_load(w + 1))
		ial_wait(ial, w + 1, 0, 100);
	usleep(50000);			/* let the peer fall asleep */
	atomic_store(w, 1);
	ial_fence(ial);
	ial_notify(ial, w);
	waitpid(pid, &st, 0);
	ial_unmap(ial, p, LEN);
	ret = ial_unlink(ial, "daxcheck");
	ial_close(ial);
	if (ret || !WIFEXITED(st) || WEXITSTATUS(st))
		return printf("FAIL peer exit %d, unlink %d\n", st, ret), 1;
	printf("ok created, shared, unlinked\n");
	return 0;
}

static int ls(const char *dev)
{
	static const char *const states[] = { "free", "creating", "ready", "unlinked" };
	const struct dax_dir_hdr *h;
	const struct dax_entry *e;
	uint32_t i, s;
	void *map;
	int fd;

	fd = open(dev, O_RDONLY);
	if (fd < 0)
		return perror(dev), 1;
	/* the directory's pages: device-dax maps whole alignment units */
	map = mmap(NULL, 2u << 20, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return perror("mmap"), 1;
	h = map;
	if (h->magic != DAX_DIR_MAGIC)
		return printf("no directory\n"), 1;
	for (i = 0; i < DAX_ENTRIES; i++) {
		e = (const struct dax_entry *)((const char *)map + DAX_PAGE) + i;
		s = atomic_load(&e->state);
		if (s != DAX_FREE)
			printf("%.*s %s %llu\n", (int)DAX_NAME_MAX, e->name,
			       s <= DAX_UNLINKED ? states[s] : "bad",
			       (unsigned long long)e->len);
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "ipc"))
		return ipc(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "ls"))
		return ls(argv[2]);
	fprintf(stderr, "usage: hsock-daxcheck ipc|ls /dev/daxX.Y\n");
	return 2;
}
