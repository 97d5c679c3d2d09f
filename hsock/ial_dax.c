// SPDX-License-Identifier: GPL-2.0
/*
 * dax backend: GShm regions inside a device-dax instance (/dev/daxX.Y: CXL
 * memory, or persistent memory in devdax mode).  libdaxctl is loaded with
 * dlopen only when HSOCK_GSHM=dax:... is chosen; it finds the device and
 * its size.  The device is mapped whole, once per process, and regions are
 * placed in it by the directory described in dax_dir.h.  dax:FILE maps a
 * regular file the same way (a file on an fsdax mount; the host tests),
 * without libdaxctl.
 *
 * Notification is a shared futex on the mapped word: observed working on
 * device-dax (Linux 6.1, dax_pmem over emulated pmem; its pages carry a
 * mapping, so the futex key is the device inode's).  When the kernel
 * refuses it (any error but EAGAIN, ETIMEDOUT, EINTR) the backend switches
 * for good to sleep-polling the word (20 us doubling to 1 ms).  A futex
 * wakes only sleepers of the same kernel: a peer on another host sharing
 * the device sees the word change within its wait's timeout, as hsock's
 * waits are bounded.
 *
 * Fence: a seq_cst fence (mfence on x86).  That is enough on coherent
 * memory: a device-dax of local pmem, CXL 2.0 memory of one host, CXL 3.0
 * shared memory with hardware coherence (back-invalidate).  Memory shared
 * by hosts without coherence would also need the writer to write back its
 * lines (clwb/clflushopt + sfence) and the reader to invalidate them
 * before reading (clflushopt), and atomics on such memory are not atomic
 * across hosts: hsock's ring words would need another protocol.
 */
#include "hsock/ial.h"
#include "hsock/dax_dir.h"

#include <daxctl/libdaxctl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct ial_dax {
	int fd;
	void *map;
	size_t map_len;
	struct dax_space space;
	_Atomic bool no_futex;
};

struct daxctl_api {
	typeof(daxctl_new) *new_ctx;
	typeof(daxctl_unref) *unref;
	typeof(daxctl_region_get_first) *region_first;
	typeof(daxctl_region_get_next) *region_next;
	typeof(daxctl_dev_get_first) *dev_first;
	typeof(daxctl_dev_get_next) *dev_next;
	typeof(daxctl_dev_get_devname) *devname;
	typeof(daxctl_dev_get_size) *size;
	typeof(daxctl_dev_get_align) *align;	/* optional (libdaxctl >= 69) */
};

static int load_api(void *h, struct daxctl_api *a)
{
	a->new_ctx = dlsym(h, "daxctl_new");
	a->unref = dlsym(h, "daxctl_unref");
	a->region_first = dlsym(h, "daxctl_region_get_first");
	a->region_next = dlsym(h, "daxctl_region_get_next");
	a->dev_first = dlsym(h, "daxctl_dev_get_first");
	a->dev_next = dlsym(h, "daxctl_dev_get_next");
	a->devname = dlsym(h, "daxctl_dev_get_devname");
	a->size = dlsym(h, "daxctl_dev_get_size");
	a->align = dlsym(h, "daxctl_dev_get_align");
	return a->new_ctx && a->unref && a->region_first && a->region_next &&
	       a->dev_first && a->dev_next && a->devname && a->size ? 0 : -ENOSYS;
}

/* Size and alignment of device @name ("daxX.Y"); size 0 when absent. */
static void find_dev(const struct daxctl_api *a, struct daxctl_ctx *ctx,
		     const char *name, unsigned long long *size,
		     unsigned long *align)
{
	struct daxctl_region *r;
	struct daxctl_dev *d;

	*size = 0;
	for (r = a->region_first(ctx); r; r = a->region_next(r))
		for (d = a->dev_first(r); d; d = a->dev_next(d))
			if (!strcmp(a->devname(d), name)) {
				*size = a->size(d);
				*align = a->align ? a->align(d) : 0;
				return;
			}
}

/* libdaxctl's view of @dev: size and alignment, or -errno and @err. */
static int probe(const char *dev, unsigned long long *size,
		 unsigned long *align, char *err, size_t errlen)
{
	const char *name = strncmp(dev, "/dev/", 5) ? dev : dev + 5;
	struct daxctl_api api;
	struct daxctl_ctx *ctx;
	void *h;
	int ret = -ENODEV;

	h = dlopen("libdaxctl.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "dax:%s: libdaxctl.so.1 not found (%s); staying on TCP", dev, dlerror());
		return -ENOENT;
	}
	if (load_api(h, &api) || api.new_ctx(&ctx) < 0) {
		snprintf(err, errlen, "dax:%s: libdaxctl unusable; staying on TCP", dev);
		goto out;
	}
	find_dev(&api, ctx, name, size, align);
	api.unref(ctx);
	if (!*size)
		snprintf(err, errlen, "dax:%s: no such device-dax instance; staying on TCP", dev);
	else
		ret = 0;
out:
	dlclose(h);
	return ret;
}

/*
 * fork() copies the mapping: the child must count as a mapper too.  The
 * handler knows the first device opened (a process has one backend).
 */
static struct ial_dax *forked_dev;
static uint64_t fork_parent;

static void atfork_prepare(void)
{
	struct ial_dax *d = forked_dev;

	if (d)
		fork_parent = dax_self(&d->space);
}

static void atfork_child(void)
{
	struct ial_dax *d = forked_dev;

	if (d)
		dax_space_forked(&d->space, fork_parent);
}

static void register_atfork(void)
{
	pthread_atfork(atfork_prepare, NULL, atfork_child);
}

static int map_dev(struct ial_dax *d, const char *dev, unsigned long long size,
		   unsigned long align, char *err, size_t errlen)
{
	struct stat st;
	int ret;

	d->fd = open(dev, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "dax:%s: cannot open (%s); staying on TCP", dev, strerror(-ret));
		return ret;
	}
	if (fstat(d->fd, &st) || !(S_ISCHR(st.st_mode) || S_ISREG(st.st_mode))) {
		snprintf(err, errlen, "dax:%s: not a device-dax or a file; staying on TCP", dev);
		return -ENODEV;
	}
	d->map_len = align > 1 ? size / align * align : size;
	d->map = mmap(NULL, d->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, 0);
	if (d->map == MAP_FAILED) {
		d->map = NULL;
		snprintf(err, errlen, "dax:%s: mmap of %zu bytes failed (%s); staying on TCP", dev, d->map_len, strerror(errno));
		return -ENODEV;
	}
	return 0;
}

int ial_dax_open(const char *dev, struct ial_dax **out, char *err,
		 size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	unsigned long long size = 0;
	unsigned long align = 0;
	struct ial_dax *d;
	struct stat st;
	int ret = 0;

	if (!stat(dev, &st) && S_ISREG(st.st_mode))	/* a file: fsdax, tests */
		size = (unsigned long long)st.st_size;
	else
		ret = probe(dev, &size, &align, err, errlen);
	if (ret)
		return ret;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = -1;
	ret = map_dev(d, dev, size, align, err, errlen);
	if (ret)
		goto err_close;
	ret = dax_space_attach(&d->space, d->map, d->map_len, dax_domain());
	if (ret == -ENOSPC)
		snprintf(err, errlen, "dax:%s: %zu bytes cannot hold the region directory (%llu bytes); staying on TCP",
			 dev, d->map_len, (unsigned long long)DAX_DATA_OFF + DAX_PAGE);
	else if (ret)
		snprintf(err, errlen, "dax:%s: holds a region directory of another version or size; staying on TCP", dev);
	if (ret)
		goto err_close;
	pthread_once(&once, register_atfork);
	if (!forked_dev)
		forked_dev = d;
	*out = d;
	return 0;
err_close:
	ial_dax_close(d);
	return ret;
}

void ial_dax_close(struct ial_dax *d)
{
	if (!d)
		return;
	if (forked_dev == d)
		forked_dev = NULL;
	if (d->map)
		munmap(d->map, d->map_len);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

size_t ial_dax_capacity(const struct ial_dax *d)
{
	return dax_space_capacity(&d->space);
}

int ial_dax_map(struct ial_dax *d, const char *name, size_t len, int flags,
		void **addr)
{
	uint64_t off;
	int ret;

	if (flags & IAL_CREATE)
		ret = dax_region_create(&d->space, name, len, &off);
	else
		ret = dax_region_open(&d->space, name, len, &off);
	if (!ret)
		*addr = d->space.base + off;
	return ret;
}

void ial_dax_unmap(struct ial_dax *d, void *addr, size_t len)
{
	unsigned char *p = addr;

	(void)len;
	if (p >= d->space.base && p < d->space.base + d->map_len)
		dax_region_put(&d->space, (uint64_t)(p - d->space.base));
}

int ial_dax_unlink(struct ial_dax *d, const char *name)
{
	return dax_region_unlink(&d->space, name);
}

int ial_dax_sweep(struct ial_dax *d)
{
	return dax_space_sweep(&d->space);
}

/* A futex error other than these means the mapping refuses futexes. */
static bool futex_refused(int err)
{
	return err != EAGAIN && err != ETIMEDOUT && err != EINTR;
}

int ial_dax_wait(struct ial_dax *d, _Atomic uint32_t *word, uint32_t seen,
		 int timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };

	if (!atomic_load_explicit(&d->no_futex, memory_order_relaxed)) {
		if (!syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0))
			return 0;
		if (!futex_refused(errno))
			return errno == EAGAIN ? 0 : -errno;
		atomic_store(&d->no_futex, true);
	}
	return dax_wait_poll(word, seen, timeout_ms);
}

void ial_dax_notify(struct ial_dax *d, _Atomic uint32_t *word)
{
	if (atomic_load_explicit(&d->no_futex, memory_order_relaxed))
		return;	/* pollers see the word change */
	if (syscall(SYS_futex, word, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0) < 0 &&
	    futex_refused(errno))
		atomic_store(&d->no_futex, true);
}
