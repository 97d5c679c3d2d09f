// SPDX-License-Identifier: GPL-2.0
/*
 * The record pool: pages owned by the module, their states (free, stashed in
 * a process's arena, committed to a conn) and the charges per process.  All
 * functions here run under dev->lock except init/uninit.
 */
#include <linux/highmem.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dev.h"

int hsock_pool_init(struct hsock_dev *dev)
{
	u32 i;

	dev->recs = kvcalloc(dev->nr_records, sizeof(*dev->recs), GFP_KERNEL);
	dev->free_stack = kvcalloc(dev->nr_records, sizeof(u32), GFP_KERNEL);
	if (!dev->recs || !dev->free_stack)
		goto err;
	for (i = 0; i < dev->nr_records; i++) {
		dev->recs[i].page = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!dev->recs[i].page)
			goto err;
		/* Pop order 0, 1, 2...: lowest indices are handed out first. */
		dev->free_stack[dev->nr_records - 1 - i] = i;
	}
	dev->nr_free = dev->nr_records;
	return 0;
err:
	hsock_pool_uninit(dev);
	return -ENOMEM;
}

void hsock_pool_uninit(struct hsock_dev *dev)
{
	u32 i;

	for (i = 0; dev->recs && i < dev->nr_records; i++)
		if (dev->recs[i].page)
			__free_page(dev->recs[i].page);
	kvfree(dev->recs);
	kvfree(dev->free_stack);
	dev->recs = NULL;
	dev->free_stack = NULL;
}

static struct hsock_rec *free_pop(struct hsock_dev *dev)
{
	if (!dev->nr_free)
		return NULL;
	dev->nr_free--;
	return &dev->recs[dev->free_stack[dev->nr_free]];
}

static void free_push(struct hsock_dev *dev, struct hsock_rec *rec)
{
	rec->state = REC_FREE;
	rec->owner = NULL;
	rec->conn = NULL;
	dev->free_stack[dev->nr_free++] = rec - dev->recs;
}

/*
 * Append record @idx to arena @a of @f.  The process may have scribbled over
 * its arena page: prod is the kernel's copy, and a cons that is not within
 * SLOTS behind prod counts as "full", so a bad page only hurts its owner.
 */
static bool arena_push(struct hsock_file *f, u32 a, u32 idx)
{
	struct hsock_arena *ar = &f->ap->arena[a];
	u32 prod = f->prod[a];
	u32 cons = READ_ONCE(ar->cons);

	if (prod - cons >= HSOCK_ARENA_SLOTS)
		return false;
	WRITE_ONCE(ar->slot[prod % HSOCK_ARENA_SLOTS], idx);
	smp_store_release(&ar->prod, prod + 1);
	f->prod[a] = prod + 1;
	return true;
}

/* Hand out free records to an arena of @f; returns how many (>= 0). */
int hsock_refill(struct hsock_file *f, struct hsock_refill *r)
{
	struct hsock_dev *dev = f->dev;
	struct hsock_rec *rec;
	u32 n = 0;

	if (r->arena >= dev->nr_arenas)
		return -EINVAL;
	while (n < r->count && f->stashed < dev->rec_limit) {
		rec = free_pop(dev);
		if (!rec)
			break;
		/* The last holder may have been another process. */
		clear_highpage(rec->page);
		if (!arena_push(f, r->arena, rec - dev->recs)) {
			free_push(dev, rec);
			break;
		}
		rec->state = REC_STASHED;
		rec->owner = f;
		rec->arena = r->arena;
		f->stashed++;
		dev->nr_stashed++;
		n++;
	}
	r->count = n;
	return 0;
}

/*
 * Commit record @idx, stashed in @f's arena and linked in a ring @f produces
 * into on @c: charge it to @f.  -EDQUOT over the per-process limit, -EPERM
 * if the record is not @f's to commit.
 */
int hsock_commit_rec(struct hsock_file *f, struct hsock_conn *c, u32 idx)
{
	struct hsock_dev *dev = f->dev;
	struct hsock_rec *rec = &dev->recs[idx];

	if (rec->state != REC_STASHED || rec->owner != f)
		return -EPERM;
	if (f->proc->committed >= dev->rec_limit)
		return -EDQUOT;
	rec->state = REC_COMMITTED;
	rec->conn = c;
	f->stashed--;
	f->committed++;
	f->proc->committed++;
	dev->nr_stashed--;
	dev->nr_committed++;
	dev->commits++;
	return 0;
}

void hsock_rec_zap(struct hsock_dev *dev, u32 idx)
{
	hsock_zap(dev, HSOCK_PGOFF_RECORDS + idx);
}

/*
 * Take a committed record back: unmap it from every process, uncharge its
 * producer and return it to the producer's arena, or to the pool when the
 * producer is gone or its arena is full.
 */
void hsock_rec_put(struct hsock_dev *dev, struct hsock_rec *rec)
{
	struct hsock_file *owner = rec->owner;
	u32 idx = rec - dev->recs;

	hsock_rec_zap(dev, idx);
	dev->nr_committed--;
	rec->conn = NULL;
	if (owner) {
		owner->committed--;
		owner->proc->committed--;
		/* One more record it may commit: one writer, on any conn. */
		if (atomic_read(&owner->proc->write_waiters))
			hsock_proc_kick(owner->proc);
		if (arena_push(owner, rec->arena, idx)) {
			rec->state = REC_STASHED;
			owner->stashed++;
			dev->nr_stashed++;
			return;
		}
	}
	free_push(dev, rec);
}

/*
 * Record @rec was published by its owner without ever being committed (it
 * was never written): give it back to the owner's arena, or to the pool.
 */
void hsock_rec_unlink(struct hsock_dev *dev, struct hsock_rec *rec)
{
	struct hsock_file *owner = rec->owner;

	if (arena_push(owner, rec->arena, rec - dev->recs))
		return;
	owner->stashed--;
	dev->nr_stashed--;
	free_push(dev, rec);
}

/*
 * @f is going away (its conns are already left): stashed records return to
 * the pool; committed ones stay with their conn, charged to nobody.
 */
void hsock_file_drop_records(struct hsock_file *f)
{
	struct hsock_dev *dev = f->dev;
	struct hsock_rec *rec;
	u32 i;

	for (i = 0; i < dev->nr_records; i++) {
		rec = &dev->recs[i];
		if (rec->owner != f)
			continue;
		if (rec->state == REC_STASHED) {
			dev->nr_stashed--;
			free_push(dev, rec);
		} else {
			rec->owner = NULL;
		}
	}
	f->proc->committed -= f->committed;
	f->stashed = 0;
	f->committed = 0;
}

/* Charge @f to the calling process (found or created).  dev->lock held. */
int hsock_proc_attach(struct hsock_file *f)
{
	struct hsock_dev *dev = f->dev;
	struct hsock_proc *p;

	list_for_each_entry(p, &dev->procs, node) {
		if (p->tgid == task_tgid(current)) {
			p->files_nr++;
			goto out;
		}
	}
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->tgid = get_pid(task_tgid(current));
	p->files_nr = 1;
	INIT_LIST_HEAD(&p->files);
	list_add(&p->node, &dev->procs);
out:
	list_add(&f->proc_node, &p->files);
	f->proc = p;
	return 0;
}

/* After hsock_file_drop_records().  dev->lock held. */
void hsock_proc_detach(struct hsock_file *f)
{
	struct hsock_proc *p = f->proc;

	if (!p)
		return;
	list_del(&f->proc_node);
	if (--p->files_nr)
		return;
	list_del(&p->node);
	put_pid(p->tgid);
	kfree(p);
}
