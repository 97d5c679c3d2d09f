// SPDX-License-Identifier: GPL-2.0
/*
 * IAL selection and the shm backend.  The shm backend keeps one file per
 * region in /dev/shm (tmpfs: the GShm of one machine), mode 0600; its
 * notification is a shared futex, its fence a seq_cst fence.  A dax
 * backend (ial_dax.c) takes every call but the fence.
 */
#include "hsock/ial.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum ial_kind { IAL_SHM, IAL_DAX, IAL_RDMA };

struct ial {
	enum ial_kind kind;
	char dir[64];
	struct ial_dax *dax;	/* kind IAL_DAX */
};

static const char *const kind_names[] = { "shm", "dax", "rdma" };

static int parse_spec(const char *spec, struct ial *ial, char *err, size_t errlen)
{
	if (!spec || !*spec || !strcmp(spec, "shm")) {
		ial->kind = IAL_SHM;
		return 0;
	}
	if (!strncmp(spec, "dax:", 4)) {
		ial->kind = IAL_DAX;
		return ial_dax_open(spec + 4, &ial->dax, err, errlen);
	}
	if (!strncmp(spec, "rdma:", 5)) {
		ial->kind = IAL_RDMA;
		return ial_rdma_probe(spec + 5, err, errlen);
	}
	snprintf(err, errlen, "HSOCK_GSHM=%s: unknown backend; accepted: shm, dax:/dev/daxX.Y, rdma:DEVICE", spec);
	return -EINVAL;
}

int ial_open(const char *spec, struct ial **out, char *err, size_t errlen)
{
	struct ial *ial;
	int ret;

	ial = calloc(1, sizeof(*ial));
	if (!ial)
		return -ENOMEM;
	ret = parse_spec(spec, ial, err, errlen);
	if (ret)
		goto err_free;
	snprintf(ial->dir, sizeof(ial->dir), "%s",
		 getenv("HSOCK_SHM_DIR") ? getenv("HSOCK_SHM_DIR") : "/dev/shm");
	*out = ial;
	return 0;
err_free:
	free(ial);
	return ret;
}

void ial_close(struct ial *ial)
{
	if (!ial)
		return;
	ial_dax_close(ial->dax);
	free(ial);
}

const char *ial_backend(const struct ial *ial)
{
	return kind_names[ial->kind];
}

static int open_region(struct ial *ial, const char *name, int flags)
{
	char path[256];
	int oflags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;

	snprintf(path, sizeof(path), "%s/%s", ial->dir, name);
	if (flags & IAL_CREATE)
		oflags |= O_CREAT | O_EXCL;
	return open(path, oflags, 0600);
}

/* A region we did not create must be ours and sized before we map it. */
static int check_region(int fd, size_t len)
{
	struct stat st;
	int i;

	for (i = 0; i < 1000; i++) {
		if (fstat(fd, &st))
			return -errno;
		if (st.st_uid != geteuid() || (st.st_mode & 077))
			return -EPERM;
		if ((size_t)st.st_size >= len)
			return 0;
		usleep(10);
	}
	return -ETIMEDOUT;
}

int ial_map(struct ial *ial, const char *name, size_t len, int flags,
	    void **addr)
{
	void *p;
	int fd, ret;

	if (ial->dax)
		return ial_dax_map(ial->dax, name, len, flags, addr);
	fd = open_region(ial, name, flags);
	if (fd < 0)
		return -errno;
	if (flags & IAL_CREATE)
		ret = ftruncate(fd, (off_t)len) ? -errno : 0;
	else
		ret = check_region(fd, len);
	if (ret)
		goto out;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	*addr = p;
out:
	close(fd);
	return ret;
}

void ial_unmap(struct ial *ial, void *addr, size_t len)
{
	if (ial->dax && addr)
		ial_dax_unmap(ial->dax, addr, len);
	else if (addr)
		munmap(addr, len);
}

int ial_unlink(struct ial *ial, const char *name)
{
	char path[256];

	if (ial->dax)
		return ial_dax_unlink(ial->dax, name);
	snprintf(path, sizeof(path), "%s/%s", ial->dir, name);
	return unlink(path) ? -errno : 0;
}

int ial_wait(struct ial *ial, _Atomic uint32_t *word, uint32_t seen,
	     int timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };

	if (ial->dax)
		return ial_dax_wait(ial->dax, word, seen, timeout_ms);
	if (syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0) == 0)
		return 0;
	return errno == EAGAIN ? 0 : -errno;
}

void ial_notify(struct ial *ial, _Atomic uint32_t *word)
{
	if (ial->dax)
		ial_dax_notify(ial->dax, word);
	else
		syscall(SYS_futex, word, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
}

/* Coherent memory only: what non-coherent CXL would need is in ial_dax.c. */
void ial_fence(struct ial *ial)
{
	(void)ial;
	atomic_thread_fence(memory_order_seq_cst);
}

size_t ial_capacity(const struct ial *ial)
{
	return ial->dax ? ial_dax_capacity(ial->dax) : SIZE_MAX;
}

int ial_sweep(struct ial *ial)
{
	return ial->dax ? ial_dax_sweep(ial->dax) : 0;
}
