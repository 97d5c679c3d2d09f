// SPDX-License-Identifier: GPL-2.0
/*
 * Connections: two sides sharing one conn page (two rings), found by id in
 * dev->conns.  A conn lives while at least one side is held by a file; the
 * last side to leave returns every record still linked in it.  The struct
 * itself is refcounted so sleeping waiters keep it (and its page) valid.
 * Everything here runs under dev->lock.
 */
#include <linux/mm.h>
#include <linux/random.h>
#include <linux/slab.h>

#include "dev.h"

static void conn_free_rcu(struct rcu_head *rcu)
{
	struct hsock_conn *c = container_of(rcu, struct hsock_conn, rcu);

	__free_page(c->page);
	kfree(c);
}

/* After an RCU grace period: hsock_conn_get() may still be looking. */
static void conn_free(struct kref *ref)
{
	call_rcu(&container_of(ref, struct hsock_conn, ref)->rcu, conn_free_rcu);
}

void hsock_conn_put(struct hsock_conn *c)
{
	if (c)
		kref_put(&c->ref, conn_free);
}

static struct hsock_conn *conn_alloc(struct hsock_dev *dev)
{
	struct hsock_conn *c;
	u32 s, i;

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return NULL;
	c->page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!c->page) {
		kfree(c);
		return NULL;
	}
	c->cp = page_address(c->page);
	c->dev = dev;
	kref_init(&c->ref);
	spin_lock_init(&c->lock);
	for (s = 0; s < 2; s++) {
		c->side[s].conn = c;
		c->side[s].idx = s;
		hsock_side_init(&c->side[s]);
		for (i = 0; i < HSOCK_RING_SLOTS; i++)
			c->cp->ring[s].slot[i].rec = HSOCK_NIL;
	}
	return c;
}

static void side_attach(struct hsock_side *sd, struct hsock_file *f)
{
	sd->file = f;
	list_add_tail(&sd->file_node, &f->sides);
	WRITE_ONCE(sd->conn->cp->flags[sd->idx], HSOCK_CONN_JOINED);
}

int hsock_conn_create(struct hsock_file *f, struct hsock_conn_req *req)
{
	struct hsock_dev *dev = f->dev;
	struct hsock_conn *c;
	u32 id;
	int ret;

	c = conn_alloc(dev);
	if (!c)
		return -ENOMEM;
	ret = xa_alloc(&dev->conns, &id, c, XA_LIMIT(1, HSOCK_CONN_MAX_ID - 1),
		       GFP_KERNEL);
	if (ret) {
		hsock_conn_put(c);
		return ret == -EBUSY ? -ENOSPC : ret;
	}
	c->id = id;
	c->cp->id = id;
	/* Low bits name the conn, high bits are the secret. */
	c->token = (get_random_u64() & ~(u64)(HSOCK_CONN_MAX_ID - 1)) | id;
	side_attach(&c->side[0], f);
	dev->nr_conns++;
	req->token = c->token;
	req->handle = HSOCK_HANDLE(id, 0);
	return 0;
}

int hsock_conn_join(struct hsock_file *f, struct hsock_conn_req *req)
{
	struct hsock_conn *c;
	struct hsock_side *sd;

	c = xa_load(&f->dev->conns, req->token & (HSOCK_CONN_MAX_ID - 1));
	if (!c || c->token != req->token)
		return -ENOENT;
	sd = &c->side[1];
	if (sd->file || sd->gone)
		return -EBUSY;
	side_attach(sd, f);
	req->handle = HSOCK_HANDLE(c->id, 1);
	return 0;
}

/*
 * A reference to the conn of @handle if @f holds that side now, without
 * dev->lock (the notify fast path).  Put it with hsock_conn_put().
 */
struct hsock_conn *hsock_conn_get(struct hsock_file *f, u32 handle)
{
	struct hsock_conn *c;

	rcu_read_lock();
	c = xa_load(&f->dev->conns, HSOCK_HANDLE_ID(handle));
	if (c && !kref_get_unless_zero(&c->ref))
		c = NULL;
	rcu_read_unlock();
	if (c && READ_ONCE(c->side[HSOCK_HANDLE_SIDE(handle)].file) != f) {
		hsock_conn_put(c);
		c = NULL;
	}
	return c;
}

/* The side of @f named by @handle, or NULL if @f does not hold it. */
struct hsock_side *hsock_side_get(struct hsock_file *f, u32 handle)
{
	struct hsock_conn *c;
	struct hsock_side *sd;

	c = xa_load(&f->dev->conns, HSOCK_HANDLE_ID(handle));
	if (!c)
		return NULL;
	sd = &c->side[HSOCK_HANDLE_SIDE(handle)];
	return sd->file == f ? sd : NULL;
}

bool hsock_file_holds(struct hsock_file *f, struct hsock_conn *c)
{
	return c->side[0].file == f || c->side[1].file == f;
}

static void conn_zap_records(struct hsock_conn *c)
{
	struct hsock_dev *dev = c->dev;
	u32 i;

	for (i = 0; i < dev->nr_records; i++)
		if (dev->recs[i].state == REC_COMMITTED && dev->recs[i].conn == c)
			hsock_rec_zap(dev, i);
}

static void conn_destroy(struct hsock_conn *c)
{
	struct hsock_dev *dev = c->dev;
	u32 i;

	xa_erase(&dev->conns, c->id);
	dev->nr_conns--;
	for (i = 0; i < dev->nr_records; i++)
		if (dev->recs[i].state == REC_COMMITTED && dev->recs[i].conn == c)
			hsock_rec_put(dev, &dev->recs[i]);
	hsock_conn_put(c);
}

/*
 * @sd's file lets go of it (close of the side, of the file, or exit).  Its
 * mappings of the conn go away at once; the peer keeps reading what is
 * linked and sees HSOCK_EV_HUP; with no peer left the conn is destroyed.
 */
void hsock_side_leave(struct hsock_side *sd)
{
	struct hsock_conn *c = sd->conn;
	u32 s = sd->idx;

	list_del_init(&sd->file_node);
	WRITE_ONCE(sd->file, NULL);
	WRITE_ONCE(sd->gone, true);
	WRITE_ONCE(c->cp->flags[s], HSOCK_CONN_JOINED | HSOCK_CONN_GONE);
	hsock_cancel(c, s, ~0U);
	hsock_zap(c->dev, HSOCK_PGOFF_CONN + HSOCK_HANDLE(c->id, s));
	if (c->side[!s].file) {
		conn_zap_records(c);
		hsock_kick(c, !s, HSOCK_EV_HUP);
	} else {
		conn_destroy(c);
	}
}

int hsock_conn_close(struct hsock_file *f, u32 handle)
{
	struct hsock_side *sd = hsock_side_get(f, handle);

	if (!sd)
		return -EBADF;
	hsock_side_leave(sd);
	return 0;
}

/* The conn whose send ring of a side @f holds links record @idx, or NULL. */
struct hsock_conn *hsock_find_link(struct hsock_file *f, u32 idx)
{
	struct hsock_side *sd;
	struct hsock_ring *ring;
	u32 i;

	list_for_each_entry(sd, &f->sides, file_node) {
		ring = &sd->conn->cp->ring[sd->idx];
		for (i = 0; i < HSOCK_RING_SLOTS; i++)
			if (READ_ONCE(ring->slot[i].rec) == idx)
				return sd->conn;
	}
	return NULL;
}

/* Commit every stashed record linked in the send ring of @handle. */
int hsock_commit(struct hsock_file *f, u32 handle)
{
	struct hsock_side *sd = hsock_side_get(f, handle);
	struct hsock_ring *ring;
	u32 i, idx;
	int n = 0, ret;

	if (!sd)
		return -EBADF;
	ring = &sd->conn->cp->ring[sd->idx];
	for (i = 0; i < HSOCK_RING_SLOTS; i++) {
		idx = READ_ONCE(ring->slot[i].rec);
		if (idx >= f->dev->nr_records)
			continue;
		if (f->dev->recs[idx].state != REC_STASHED ||
		    f->dev->recs[idx].owner != f)
			continue;
		ret = hsock_commit_rec(f, sd->conn, idx);
		if (ret)
			return n ? n : ret;
		n++;
	}
	return n;
}

/*
 * The consumer of @handle has read up to ring.head: give the records of
 * positions released..head-1 back, clear their slots, publish released and
 * wake the producer if it waits for space.  Returns the number of committed
 * records released (a record published uncommitted, never written, just
 * goes back to the producer's arena).
 */
int hsock_release(struct hsock_file *f, u32 handle)
{
	struct hsock_side *sd = hsock_side_get(f, handle);
	struct hsock_dev *dev = f->dev;
	struct hsock_ring *ring;
	struct hsock_conn *c;
	struct hsock_rec *rec;
	u32 p, head, pos, idx;
	int n = 0;

	if (!sd)
		return -EBADF;
	c = sd->conn;
	p = !sd->idx;
	ring = &c->cp->ring[p];
	head = READ_ONCE(ring->head);
	if (head - c->released[p] > READ_ONCE(ring->tail) - c->released[p] ||
	    head - c->released[p] > HSOCK_RING_SLOTS)
		return -EINVAL;
	for (pos = c->released[p]; pos != head; pos++) {
		idx = READ_ONCE(ring->slot[pos % HSOCK_RING_SLOTS].rec);
		WRITE_ONCE(ring->slot[pos % HSOCK_RING_SLOTS].rec, HSOCK_NIL);
		if (idx >= dev->nr_records)
			continue;
		rec = &dev->recs[idx];
		if (rec->state == REC_COMMITTED && rec->conn == c) {
			hsock_rec_put(dev, rec);
			n++;
		} else if (rec->state == REC_STASHED &&
			   rec->owner == c->side[p].file) {
			hsock_rec_unlink(dev, rec);
		}
	}
	WRITE_ONCE(c->released[p], head);
	smp_store_release(&ring->released, head);
	if (n)
		hsock_kick(c, p, HSOCK_EV_WRITE);
	return n;
}

static bool under_limit(struct hsock_file *f)
{
	return f && READ_ONCE(f->proc->committed) < f->dev->rec_limit;
}

/*
 * Events ready for side @s, read from the conn page (racy by nature: the
 * caller arms first, then calls this, so a concurrent publish is not lost).
 * WRITE needs a free slot in the send ring and room under the per-process
 * limit (a release wakes the producer for both).
 */
u32 hsock_side_ready(struct hsock_conn *c, u32 s)
{
	struct hsock_conn_page *cp = c->cp;
	struct hsock_ring *rx = &cp->ring[!s], *tx = &cp->ring[s];
	u32 peer_state = READ_ONCE(cp->state[!s]);
	u32 ev = 0;

	if (READ_ONCE(rx->tail) != READ_ONCE(rx->head) ||
	    (peer_state & HSOCK_ST_SHUT_WR))
		ev |= HSOCK_EV_READ;
	if ((READ_ONCE(tx->tail) - READ_ONCE(c->released[s]) < HSOCK_RING_SLOTS &&
	     under_limit(READ_ONCE(c->side[s].file))) || (peer_state & HSOCK_ST_SHUT_RD))
		ev |= HSOCK_EV_WRITE;
	if (READ_ONCE(c->side[!s].gone))
		ev |= HSOCK_EV_HUP;
	return ev;
}
