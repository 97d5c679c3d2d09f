/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The region directory of the dax backend (dax_dir.c): named regions
 * placed inside one device-dax mapping.  ial_dax.c maps the device and
 * gives it here; the functions take a base address and a size, so the
 * unit tests run them on a memfd standing in for the device.
 *
 * LAYOUT (offset 0 of the device; native byte order and atomics, the
 * processes sharing a device share an architecture):
 *	[0, 4096)		struct dax_dir_hdr
 *	[4096, DAX_MAP_OFF)	struct dax_entry[DAX_ENTRIES]: the regions
 *	[DAX_MAP_OFF, ...)	struct dax_mapping[DAX_MAPPINGS]: who maps what
 *	[DAX_DATA_OFF, size)	extents of 4 KiB pages, first fit
 * The whole device is mapped once per process (device-dax refuses mmap
 * offsets and lengths that are not multiples of its alignment, often
 * 2 MiB), so a region is a pointer into that mapping and its extent only
 * needs page alignment.  A device whose first word is not DAX_DIR_MAGIC is
 * formatted by the first opener, under the lock.
 *
 * OWNERS: a process is named by who = domain << 32 | pid, where domain is
 * a hash of the boot id and the pid namespace: a pid means something only
 * to processes of its own domain (another host sharing a CXL device, or
 * another container, has its own), so only those are ever found dead.
 *
 * LOCK: hdr.lock holds the owner's who, 0 when free; taken with a
 * compare-and-swap and held for scans of the tables, never across a sleep
 * or the zeroing of a region.  A waiter takes it over when its owner is of
 * our domain and dead (a zombie counts as dead), or, for an owner of
 * another domain, when the same acquisition (lock, lock_seq) has lasted
 * DAX_LEASE_MS of the waiter's own clock.  A directory change writes the
 * state word last when it makes an entry live and first when it frees
 * one, so a taken-over lock finds at worst a mapping record or an extent
 * that the next reclaim frees.  (A dead owner's pid reused by a new
 * process looks alive: the lock then waits for that process.)
 *
 * ENTRIES: FREE -> CREATING (extent reserved, creator zeroes it outside
 * the lock) -> READY (compare-and-swap by the creator) -> UNLINKED (name
 * gone, extent still mapped) -> FREE once no mapping is left.  Unlinking
 * a CREATING entry makes the creator's CAS fail: the name stays gone.
 *
 * MAPPINGS: one record {who, entry, n} per process and region it maps, n
 * its mappings; fork() copies the parent's records to the child (ial_dax.c
 * registers the handler).  A region unlinked while mapped keeps its extent
 * until its last record goes: by unmap, or when its process is found dead.
 * Finding the dead costs a kill(0) and a /proc read per process, so it
 * runs when an allocation finds no entry, record or extent (reclaim) and
 * in dax_space_sweep(); unmap and unlink check only the region's own
 * records.  Every offset, length, name, state and entry index read from
 * the device is checked against the directory's bounds: an entry that
 * fails is never mapped and does not count as occupying space, a record
 * that fails is dropped.
 */
#ifndef HSOCK_DAX_DIR_H
#define HSOCK_DAX_DIR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DAX_DIR_MAGIC	0x3172696478616468ULL	/* "hdaxdir1" */
#define DAX_DIR_VERSION	1u
#define DAX_ENTRIES	2048u
#define DAX_MAPPINGS	8192u
#define DAX_NAME_MAX	128u
#define DAX_PAGE	4096u
#define DAX_LEASE_MS	2000
#define DAX_CREATE_WAIT_MS 2000	/* how long a mapper waits for CREATING */

enum dax_state { DAX_FREE, DAX_CREATING, DAX_READY, DAX_UNLINKED };

struct dax_dir_hdr {
	_Atomic uint64_t magic;		/* written last when formatting */
	uint32_t version;
	uint32_t nr;			/* DAX_ENTRIES */
	uint64_t size;			/* device bytes the extents may use */
	uint64_t data_off;		/* DAX_DATA_OFF */
	_Atomic uint64_t lock;		/* who, 0 = free */
	_Atomic uint64_t lock_seq;	/* acquisitions (LOCK lease) */
	uint32_t nr_mappings;		/* DAX_MAPPINGS */
};

struct dax_entry {
	char name[DAX_NAME_MAX];	/* NUL-terminated */
	uint64_t off;			/* from the device start */
	uint64_t len;			/* page multiple */
	_Atomic uint32_t state;		/* enum dax_state */
	uint32_t uid;			/* creator's euid: others get EPERM */
	uint64_t creator;		/* who */
};

struct dax_mapping {
	uint64_t who;			/* 0 = free record */
	uint32_t entry;			/* index in the entry table */
	uint32_t n;			/* mappings that process holds */
};

_Static_assert(sizeof(struct dax_entry) == 160, "entry size is part of the layout");
_Static_assert(sizeof(struct dax_mapping) == 16, "record size is part of the layout");

#define DAX_MAP_OFF	(DAX_PAGE + (uint64_t)DAX_ENTRIES * sizeof(struct dax_entry))
#define DAX_DATA_OFF	((DAX_MAP_OFF + (uint64_t)DAX_MAPPINGS * sizeof(struct dax_mapping) + \
			  DAX_PAGE - 1) & ~(uint64_t)(DAX_PAGE - 1))

/* A directory at @base (@size bytes), seen by processes of @domain. */
struct dax_space {
	unsigned char *base;
	size_t size;
	uint32_t domain;
};

/* Domain of this process (OWNERS); never 0. */
uint32_t dax_domain(void);
/* who of the calling process (OWNERS). */
uint64_t dax_self(const struct dax_space *s);

/*
 * Check the directory at @base or format it; 0, -EPROTO (another version,
 * or bigger than @size), -ENOSPC (@size cannot hold the directory).
 */
int dax_space_attach(struct dax_space *s, void *base, size_t size,
		     uint32_t domain);
/* Bytes a single region may have at most (the data area). */
size_t dax_space_capacity(const struct dax_space *s);

/*
 * Create region @name of @len bytes exclusively, zero-filled, mapped once
 * by us; its offset in *off.  -EEXIST, -ENOSPC (no extent, entry or
 * mapping record), -ENAMETOOLONG, -EINVAL.
 */
int dax_region_create(struct dax_space *s, const char *name, size_t len,
		      uint64_t *off);
/*
 * Map existing region @name (at least @len bytes) once more, waiting for
 * a creator still zeroing it; -ENOENT, -EPERM (another uid), -EINVAL
 * (shorter than @len), -EPROTO (corrupt entry), -ETIMEDOUT, -ENOSPC (no
 * mapping record).
 */
int dax_region_open(struct dax_space *s, const char *name, size_t len,
		    uint64_t *off);
/* Drop one mapping of the region at @off (a no-op for unknown offsets). */
void dax_region_put(struct dax_space *s, uint64_t off);
/* Remove @name; its extent is reused once nobody maps it.  -ENOENT. */
int dax_region_unlink(struct dax_space *s, const char *name);
/*
 * Free the READY regions of our uid that no process maps (all their
 * mappers of our domain dead): the stale objects of killed processes, and
 * a pool nobody uses.  Returns how many.
 */
int dax_space_sweep(struct dax_space *s);
/* In a child of fork(): hold every mapping @parent held. */
void dax_space_forked(struct dax_space *s, uint64_t parent);

/*
 * Sleep-poll while *word == seen, at most @timeout_ms: 20 us doubling to
 * 1 ms.  0, -ETIMEDOUT, -EINTR.  The wait of mappings the kernel refuses
 * futexes on.
 */
int dax_wait_poll(_Atomic uint32_t *word, uint32_t seen, int timeout_ms);

#endif
