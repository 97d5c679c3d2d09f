/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hsock.ko internals.  One struct hsock_dev per module instance owns the
 * record pool; each open of /dev/hsock is a struct hsock_file; each conn has
 * two sides.  The user ABI and its isolation model are described in
 * uapi/hsock.h.
 *
 * Locking.  dev->lock (mutex) protects record states, charges, the conn
 * table and which file holds which side; it is taken in the fault handler
 * (under mmap_lock) and is held while records are unmapped
 * (unmap_mapping_range takes i_mmap_rwsem), so the order is
 * mmap_lock -> dev->lock -> i_mmap_rwsem.  PTEs are installed under
 * dev->lock, so a record cannot be freed between the check and the mapping.
 * conn->lock (spinlock) protects the notify state of both sides (waiters,
 * async registration, armed mask); it nests inside dev->lock.  Which files
 * hold a side (struct hsock_hold): side->holds changes under both locks,
 * so either is enough to read it; file->holds and proc->files change and
 * are read under dev->lock only.  The notify ioctls do
 * not take dev->lock: they find the conn under RCU (hsock_conn_get) and
 * check under conn->lock that the side is still theirs.
 * A detached side (no holds, bound socket still open) is watched by the
 * conn's reap work on dev->wq, which holds a conn reference while queued.
 */
#ifndef HSOCK_DEV_H
#define HSOCK_DEV_H

#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "uapi/hsock.h"

#define HSOCK_CONN_MAX_ID	(1U << 20)
#define HSOCK_PGOFF_CONN	(HSOCK_MMAP_CONN_BASE >> PAGE_SHIFT)
#define HSOCK_PGOFF_VIEW	(HSOCK_MMAP_VIEW_BASE >> PAGE_SHIFT)
#define HSOCK_PGOFF_RECORDS	(HSOCK_MMAP_RECORDS >> PAGE_SHIFT)

enum hsock_rec_state {
	REC_FREE,		/* in dev->free_stack */
	REC_STASHED,		/* in owner's arena, not yet committed */
	REC_COMMITTED,		/* linked in conn, charged to owner (if alive) */
};

struct hsock_rec {
	struct page *page;
	struct hsock_conn *conn;	/* REC_COMMITTED */
	struct hsock_file *owner;	/* REC_STASHED, REC_COMMITTED (or NULL) */
	u8 state;
	u8 arena;			/* owner's arena it came from */
};

struct hsock_dev {
	struct miscdevice misc;
	struct mutex lock;
	struct address_space *mapping;	/* shared by every open file */
	struct inode *inode;

	struct hsock_rec *recs;
	u32 nr_records;
	u32 rec_limit;
	u32 nr_arenas;
	u32 *free_stack;
	u32 nr_free;

	u32 nr_stashed;
	u32 nr_committed;
	u32 nr_files;
	u32 nr_conns;
	atomic_t nr_waiters;
	u64 commits;
	u64 faults;
	atomic64_t notifies;

	struct workqueue_struct *wq;	/* reap works of detached sides */
	struct xarray conns;		/* id -> struct hsock_conn */
	struct list_head procs;		/* struct hsock_proc.node */
};

/*
 * The process that opened a file (its thread group): the unit of the record
 * limit, shared by all its opens.  Files used after fork stay charged to
 * the opener.
 */
struct hsock_proc {
	struct list_head node;		/* dev->procs */
	struct list_head files;		/* struct hsock_file.proc_node */
	struct pid *tgid;
	u32 files_nr;
	u32 committed;
	atomic_t write_waiters;		/* its threads in a sync WRITE wait */
};

struct hsock_file {
	struct hsock_dev *dev;
	struct hsock_proc *proc;
	struct list_head proc_node;	/* proc->files */
	struct page *arena_page;
	struct hsock_arena_page *ap;
	u32 prod[HSOCK_MAX_ARENAS];	/* kernel copy of each arena's prod */
	struct list_head holds;		/* struct hsock_hold.file_node */
	u32 stashed;
	u32 committed;			/* also counted in proc->committed */
	bool releasing;			/* its holds are being dropped */
};

/* File @file holds side @sd (one per pair). */
struct hsock_hold {
	struct list_head side_node;	/* sd->holds */
	struct list_head file_node;	/* file->holds */
	struct hsock_side *sd;
	struct hsock_file *file;
};

struct hsock_side {
	struct hsock_conn *conn;
	struct list_head holds;		/* empty: not joined, detached or gone */
	bool joined;
	bool gone;
	u32 idx;
	struct sock *sk;		/* bound socket (referenced), or NULL */
	unsigned long detached_at;	/* jiffies */

	/* conn->lock */
	wait_queue_head_t wq;
	struct list_head waiters;	/* struct hsock_waiter.node */
	struct pid *async_tid;
	int async_signo;
	u32 async_events;
	u32 trap_events;
};

struct hsock_conn {
	struct kref ref;
	struct rcu_head rcu;
	struct hsock_dev *dev;
	spinlock_t lock;
	u32 id;
	u64 token;
	struct page *page;
	struct hsock_conn_page *cp;
	struct page *view_page;
	struct hsock_conn_view *view;	/* read-only to user space */
	u32 released[2];		/* kernel copy of ring[s].released */
	bool dead;			/* destroyed (dev->lock) */
	struct delayed_work reap;
	struct hsock_side side[2];
};

/* pool.c: records and arenas */
int hsock_pool_init(struct hsock_dev *dev);
int hsock_proc_attach(struct hsock_file *f);
void hsock_proc_detach(struct hsock_file *f);
void hsock_pool_uninit(struct hsock_dev *dev);
int hsock_refill(struct hsock_file *f, struct hsock_refill *r);
int hsock_commit_rec(struct hsock_file *f, struct hsock_conn *c, u32 idx);
void hsock_rec_put(struct hsock_dev *dev, struct hsock_rec *rec);
void hsock_rec_unlink(struct hsock_dev *dev, struct hsock_rec *rec);
void hsock_rec_zap(struct hsock_dev *dev, u32 idx);
void hsock_file_drop_records(struct hsock_file *f);

/* conn.c: connections and rings */
int hsock_conn_create(struct hsock_file *f, struct hsock_conn_req *req);
int hsock_conn_join(struct hsock_file *f, struct hsock_conn_req *req);
int hsock_conn_close(struct hsock_file *f, u32 handle);
int hsock_conn_bind(struct hsock_file *f, struct hsock_conn_bind *b);
int hsock_conn_rejoin(struct hsock_file *f, struct hsock_conn_bind *b);
void hsock_conns_uninit(struct hsock_dev *dev);
struct hsock_side *hsock_side_get(struct hsock_file *f, u32 handle);
bool hsock_side_held(struct hsock_side *sd, struct hsock_file *f);
void hsock_hold_drop(struct hsock_hold *h);
struct hsock_side *hsock_find_link(struct hsock_file *f, u32 idx, u32 *slot);
bool hsock_file_holds(struct hsock_file *f, struct hsock_conn *c);
int hsock_commit_slot(struct hsock_file *f, struct hsock_side *sd, u32 slot,
		      u32 idx);
int hsock_commit(struct hsock_file *f, u32 handle);
int hsock_release(struct hsock_file *f, u32 handle);
void hsock_conn_put(struct hsock_conn *c);
struct hsock_conn *hsock_conn_get(struct hsock_file *f, u32 handle);
u32 hsock_side_ready(struct hsock_conn *c, u32 s, struct hsock_file *f);
void hsock_proc_kick(struct hsock_proc *p);

/* notify.c: enable/disable_notify_gshm */
void hsock_side_init(struct hsock_side *sd);
int hsock_kick(struct hsock_conn *c, u32 s, u32 events);
void hsock_cancel(struct hsock_conn *c, u32 s, u32 events);
void hsock_trap_fired(struct hsock_conn *c, u32 s);
long hsock_notify_enable(struct hsock_file *f, struct hsock_notify *n);
int hsock_notify_disable(struct hsock_file *f, struct hsock_notify *n);
int hsock_notify_peer(struct hsock_file *f, struct hsock_notify *n);

/* vm.c: mmap and the fault handler */
int hsock_mmap(struct file *file, struct vm_area_struct *vma);
void hsock_zap(struct hsock_dev *dev, pgoff_t pgoff);

#endif /* HSOCK_DEV_H */
