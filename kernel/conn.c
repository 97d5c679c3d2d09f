// SPDX-License-Identifier: GPL-2.0
/*
 * Connections: two sides sharing one conn page (two rings), found by id in
 * dev->conns.  A conn lives while at least one side is held by a file; the
 * last side to leave returns every record still linked in it.  The struct
 * itself is refcounted so sleeping waiters keep it (and its page) valid.
 * Everything here runs under dev->lock.
 */
#include <linux/mm.h>
#include <linux/net.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <net/sock.h>

#include "dev.h"

static void conn_free_rcu(struct rcu_head *rcu)
{
	struct hsock_conn *c = container_of(rcu, struct hsock_conn, rcu);

	__free_page(c->view_page);
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

static void conn_reap(struct work_struct *work);

static struct hsock_conn *conn_alloc(struct hsock_dev *dev)
{
	struct hsock_conn *c;
	u32 s, i;

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return NULL;
	c->page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	c->view_page = alloc_page(GFP_KERNEL);
	if (!c->page || !c->view_page) {
		if (c->page)
			__free_page(c->page);
		kfree(c);
		return NULL;
	}
	c->cp = page_address(c->page);
	c->view = page_address(c->view_page);
	memset(c->view, 0xff, PAGE_SIZE);	/* HSOCK_NIL everywhere */
	c->dev = dev;
	kref_init(&c->ref);
	spin_lock_init(&c->lock);
	INIT_DELAYED_WORK(&c->reap, conn_reap);
	for (s = 0; s < 2; s++) {
		c->side[s].conn = c;
		c->side[s].idx = s;
		hsock_side_init(&c->side[s]);
		for (i = 0; i < HSOCK_RING_SLOTS; i++)
			c->cp->ring[s].slot[i].rec = HSOCK_NIL;
	}
	return c;
}

/* The hold of @f on @sd, or NULL.  dev->lock or conn->lock held. */
static struct hsock_hold *hold_find(struct hsock_side *sd, struct hsock_file *f)
{
	struct hsock_hold *h;

	list_for_each_entry(h, &sd->holds, side_node)
		if (h->file == f)
			return h;
	return NULL;
}

/* Does @f hold @sd?  dev->lock or conn->lock held. */
bool hsock_side_held(struct hsock_side *sd, struct hsock_file *f)
{
	return hold_find(sd, f) != NULL;
}

/* @f takes side @sd (a no-op if it holds it already). */
static int side_attach(struct hsock_side *sd, struct hsock_file *f)
{
	struct hsock_conn *c = sd->conn;
	struct hsock_hold *h;

	if (hold_find(sd, f))
		return 0;
	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return -ENOMEM;
	h->sd = sd;
	h->file = f;
	list_add_tail(&h->file_node, &f->holds);
	spin_lock(&c->lock);
	list_add_tail(&h->side_node, &sd->holds);
	spin_unlock(&c->lock);
	sd->joined = true;
	WRITE_ONCE(c->cp->flags[sd->idx], HSOCK_CONN_JOINED);
	return 0;
}

static void hold_free(struct hsock_hold *h)
{
	struct hsock_conn *c = h->sd->conn;

	list_del(&h->file_node);
	spin_lock(&c->lock);
	list_del(&h->side_node);
	spin_unlock(&c->lock);
	kfree(h);
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
		ret = ret == -EBUSY ? -ENOSPC : ret;
		goto err_put;
	}
	c->id = id;
	c->cp->id = id;
	/* Low bits name the conn, high bits are the secret. */
	c->token = (get_random_u64() & ~(u64)(HSOCK_CONN_MAX_ID - 1)) | id;
	ret = side_attach(&c->side[0], f);
	if (ret)
		goto err_erase;
	dev->nr_conns++;
	req->token = c->token;
	req->handle = HSOCK_HANDLE(id, 0);
	return 0;

err_erase:
	xa_erase(&dev->conns, id);
err_put:
	hsock_conn_put(c);
	return ret;
}

static struct hsock_conn *conn_by_token(struct hsock_dev *dev, u64 token)
{
	struct hsock_conn *c = xa_load(&dev->conns,
				       token & (HSOCK_CONN_MAX_ID - 1));

	return c && c->token == token ? c : NULL;
}

int hsock_conn_join(struct hsock_file *f, struct hsock_conn_req *req)
{
	struct hsock_conn *c = conn_by_token(f->dev, req->token);
	struct hsock_side *sd;
	int ret;

	if (!c)
		return -ENOENT;
	sd = &c->side[1];
	if (sd->joined || sd->gone)
		return -EBUSY;
	ret = side_attach(sd, f);
	if (!ret)
		req->handle = HSOCK_HANDLE(c->id, 1);
	return ret;
}

/*
 * A reference to the conn of @handle if @f holds that side now, without
 * dev->lock (the notify fast path).  Put it with hsock_conn_put().
 */
struct hsock_conn *hsock_conn_get(struct hsock_file *f, u32 handle)
{
	struct hsock_conn *c;
	bool held;

	rcu_read_lock();
	c = xa_load(&f->dev->conns, HSOCK_HANDLE_ID(handle));
	if (c && !kref_get_unless_zero(&c->ref))
		c = NULL;
	rcu_read_unlock();
	if (!c)
		return NULL;
	spin_lock(&c->lock);
	held = hold_find(&c->side[HSOCK_HANDLE_SIDE(handle)], f);
	spin_unlock(&c->lock);
	if (!held) {
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
	return hold_find(sd, f) ? sd : NULL;
}

bool hsock_file_holds(struct hsock_file *f, struct hsock_conn *c)
{
	return hold_find(&c->side[0], f) || hold_find(&c->side[1], f);
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
	c->dead = true;
	for (i = 0; i < dev->nr_records; i++)
		if (dev->recs[i].state == REC_COMMITTED && dev->recs[i].conn == c)
			hsock_rec_put(dev, &dev->recs[i]);
	for (i = 0; i < 2; i++)
		if (c->side[i].sk)
			sock_put(c->side[i].sk);
	/* A reap queued now finds c->dead; cancelled, it drops its ref here. */
	if (cancel_delayed_work(&c->reap))
		hsock_conn_put(c);
	hsock_conn_put(c);
}

/* Nobody holds @sd now, nor can without a rejoin. */
static bool side_detached(struct hsock_side *sd)
{
	return sd->joined && !sd->gone && list_empty(&sd->holds);
}

/*
 * The side is gone for good: the peer keeps reading what is linked and
 * sees HSOCK_EV_HUP; with nobody left on the peer's side either, the conn
 * is destroyed (a detached peer keeps it, to rejoin and read).
 */
static void side_gone(struct hsock_side *sd)
{
	struct hsock_conn *c = sd->conn;
	struct hsock_side *peer = &c->side[!sd->idx];
	u32 s = sd->idx;

	WRITE_ONCE(sd->gone, true);
	WRITE_ONCE(c->cp->flags[s], HSOCK_CONN_JOINED | HSOCK_CONN_GONE);
	hsock_cancel(c, s, ~0U);
	hsock_zap(c->dev, HSOCK_PGOFF_CONN + HSOCK_HANDLE(c->id, s));
	hsock_zap(c->dev, HSOCK_PGOFF_VIEW + HSOCK_HANDLE(c->id, s));
	if (!list_empty(&peer->holds)) {
		conn_zap_records(c);
		hsock_kick(c, !s, HSOCK_EV_HUP);
	} else if (!side_detached(peer)) {
		conn_destroy(c);
	}
}

/*
 * @sd's files let go of it (CONN_CLOSE): their mappings of the conn go
 * away at once, and the side is gone.
 */
static void side_leave(struct hsock_side *sd)
{
	struct hsock_hold *h, *tmp;

	list_for_each_entry_safe(h, tmp, &sd->holds, side_node)
		hold_free(h);
	side_gone(sd);
}

int hsock_conn_close(struct hsock_file *f, u32 handle)
{
	struct hsock_side *sd = hsock_side_get(f, handle);

	if (!sd)
		return -EBADF;
	side_leave(sd);
	return 0;
}

static bool sk_open(struct sock *sk)
{
	return sk && !sock_flag(sk, SOCK_DEAD);
}

/*
 * Positions [released, tail) of ring @s hold, from the first one whose
 * record the module did not commit there, records nobody will write: the
 * producer left.  Unlink them and move tail back, so that a rejoining
 * producer finds only committed records linked.  The peer reads only what
 * was written, which was committed first.
 */
static void ring_truncate(struct hsock_conn *c, u32 s)
{
	struct hsock_dev *dev = c->dev;
	struct hsock_ring *ring = &c->cp->ring[s];
	u32 pos, tail = READ_ONCE(ring->tail), head, q, i, idx;

	if (tail - c->released[s] > HSOCK_RING_SLOTS)
		tail = c->released[s] + HSOCK_RING_SLOTS;
	for (q = c->released[s]; q != tail; q++) {
		i = q % HSOCK_RING_SLOTS;
		if (READ_ONCE(ring->slot[i].rec) != c->view->rec[s][i])
			break;
	}
	/* Keep released <= head <= tail for the consumer, whatever it read. */
	head = READ_ONCE(ring->head);
	if (head - c->released[s] <= tail - c->released[s] &&
	    head - c->released[s] > q - c->released[s])
		q = head;
	for (pos = q; pos != tail; pos++) {
		i = pos % HSOCK_RING_SLOTS;
		idx = c->view->rec[s][i];
		WRITE_ONCE(c->view->rec[s][i], HSOCK_NIL);
		WRITE_ONCE(ring->slot[i].rec, HSOCK_NIL);
		if (idx < dev->nr_records && dev->recs[idx].state == REC_COMMITTED &&
		    dev->recs[idx].conn == c)
			hsock_rec_put(dev, &dev->recs[idx]);
	}
	WRITE_ONCE(ring->tail, q);
}

static void side_detach(struct hsock_side *sd)
{
	struct hsock_conn *c = sd->conn;

	ring_truncate(c, sd->idx);
	sd->detached_at = jiffies;
	WRITE_ONCE(c->cp->flags[sd->idx], HSOCK_CONN_JOINED | HSOCK_CONN_DETACHED);
	if (queue_delayed_work(c->dev->wq, &c->reap, HZ / 10))
		kref_get(&c->ref);
}

/*
 * Watch the detached sides of a conn: gone once the socket is closed or
 * after HSOCK_DETACH_MS.  Runs every 100 ms while one is detached.
 */
static void conn_reap(struct work_struct *work)
{
	struct hsock_conn *c = container_of(to_delayed_work(work),
					    struct hsock_conn, reap);
	struct hsock_dev *dev = c->dev;
	bool again = false;
	struct hsock_side *sd;
	u32 s;

	mutex_lock(&dev->lock);
	for (s = 0; s < 2 && !c->dead; s++) {
		sd = &c->side[s];
		if (!side_detached(sd))
			continue;
		if (sk_open(sd->sk) && time_before(jiffies, sd->detached_at +
				msecs_to_jiffies(HSOCK_DETACH_MS)))
			again = true;
		else
			side_gone(sd);
	}
	if (again && !c->dead && queue_delayed_work(dev->wq, &c->reap, HZ / 10))
		kref_get(&c->ref);
	mutex_unlock(&dev->lock);
	hsock_conn_put(c);
}

/*
 * File @h->file closes (exit, exec, kill) while holding @h->sd: the side
 * stays with its other holders; with none left it is detached if bound to
 * a socket that is still open, else gone.
 */
void hsock_hold_drop(struct hsock_hold *h)
{
	struct hsock_side *sd = h->sd;

	hold_free(h);
	if (!list_empty(&sd->holds))
		return;
	hsock_cancel(sd->conn, sd->idx, ~0U);
	if (sk_open(sd->sk))
		side_detach(sd);
	else
		side_gone(sd);
}

int hsock_conn_bind(struct hsock_file *f, struct hsock_conn_bind *b)
{
	struct hsock_side *sd = hsock_side_get(f, b->handle);
	struct socket *sock;
	int ret;

	if (!sd)
		return -EBADF;
	sock = sockfd_lookup(b->sockfd, &ret);
	if (!sock)
		return ret;
	ret = 0;
	if (!sd->sk) {
		sock_hold(sock->sk);
		sd->sk = sock->sk;
	} else if (sd->sk != sock->sk) {
		ret = -EBUSY;
	}
	sockfd_put(sock);
	return ret;
}

int hsock_conn_rejoin(struct hsock_file *f, struct hsock_conn_bind *b)
{
	struct hsock_conn *c = conn_by_token(f->dev, b->token);
	struct hsock_side *sd = NULL;
	struct socket *sock;
	int ret;
	u32 s;

	if (!c)
		return -ENOENT;
	sock = sockfd_lookup(b->sockfd, &ret);
	if (!sock)
		return ret;
	for (s = 0; s < 2; s++)
		if (c->side[s].sk == sock->sk)
			sd = &c->side[s];
	sockfd_put(sock);
	if (!sd)
		return -EPERM;
	if (sd->gone)
		return -ENOENT;
	ret = side_attach(sd, f);
	if (!ret)
		b->handle = HSOCK_HANDLE(c->id, sd->idx);
	return ret;
}

/* Module exit: no file is open; only detached conns are left. */
void hsock_conns_uninit(struct hsock_dev *dev)
{
	struct hsock_conn *c;
	unsigned long id;

	mutex_lock(&dev->lock);
	xa_for_each(&dev->conns, id, c)
		conn_destroy(c);
	mutex_unlock(&dev->lock);
}

/*
 * The side of @f whose send ring links record @idx (its slot in *@slot),
 * or NULL.
 */
struct hsock_side *hsock_find_link(struct hsock_file *f, u32 idx, u32 *slot)
{
	struct hsock_hold *h;
	struct hsock_ring *ring;
	u32 i;

	list_for_each_entry(h, &f->holds, file_node) {
		ring = &h->sd->conn->cp->ring[h->sd->idx];
		for (i = 0; i < HSOCK_RING_SLOTS; i++) {
			if (READ_ONCE(ring->slot[i].rec) == idx) {
				*slot = i;
				return h->sd;
			}
		}
	}
	return NULL;
}

/*
 * Commit record @idx, linked in slot @slot of the send ring of @sd (held by
 * @f), and note it in the conn's view (see hsock_commit_rec()).
 */
int hsock_commit_slot(struct hsock_file *f, struct hsock_side *sd, u32 slot,
		      u32 idx)
{
	int ret = hsock_commit_rec(f, sd->conn, idx);

	if (!ret)
		WRITE_ONCE(sd->conn->view->rec[sd->idx][slot], idx);
	return ret;
}

/*
 * Commit every stashed record linked in the send ring of @handle, in ring
 * order from the first position not released: under the limit, the
 * records the producer writes first are the ones committed.
 */
int hsock_commit(struct hsock_file *f, u32 handle)
{
	struct hsock_side *sd = hsock_side_get(f, handle);
	struct hsock_ring *ring;
	u32 k, i, idx;
	int n = 0, ret;

	if (!sd)
		return -EBADF;
	ring = &sd->conn->cp->ring[sd->idx];
	for (k = 0; k < HSOCK_RING_SLOTS; k++) {
		i = (sd->conn->released[sd->idx] + k) % HSOCK_RING_SLOTS;
		idx = READ_ONCE(ring->slot[i].rec);
		if (idx >= f->dev->nr_records)
			continue;
		if (f->dev->recs[idx].state != REC_STASHED ||
		    f->dev->recs[idx].owner != f)
			continue;
		ret = hsock_commit_slot(f, sd, i, idx);
		if (ret)
			return n ? n : ret;
		n++;
	}
	return n;
}

/*
 * The consumer of @handle has read up to ring.head: give the records of
 * positions released..head-1 back, clear their slots, publish released and
 * wake the producer if it waits for space.  What is released is what the
 * view says was committed there (the slot may have been rewritten since);
 * returns how many.  A record published uncommitted, never written, just
 * goes back to the producer's arena.
 */
int hsock_release(struct hsock_file *f, u32 handle)
{
	struct hsock_side *sd = hsock_side_get(f, handle);
	struct hsock_dev *dev = f->dev;
	struct hsock_ring *ring;
	struct hsock_conn *c;
	struct hsock_rec *rec;
	u32 p, head, pos, idx, v, i;
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
		i = pos % HSOCK_RING_SLOTS;
		v = c->view->rec[p][i];
		WRITE_ONCE(c->view->rec[p][i], HSOCK_NIL);
		idx = READ_ONCE(ring->slot[i].rec);
		WRITE_ONCE(ring->slot[i].rec, HSOCK_NIL);
		if (v < dev->nr_records && dev->recs[v].state == REC_COMMITTED &&
		    dev->recs[v].conn == c) {
			hsock_rec_put(dev, &dev->recs[v]);
			n++;
		}
		if (idx == v || idx >= dev->nr_records)
			continue;
		rec = &dev->recs[idx];
		if (rec->state == REC_STASHED && rec->owner &&
		    hold_find(&c->side[p], rec->owner))
			hsock_rec_unlink(dev, rec);
	}
	WRITE_ONCE(c->released[p], head);
	smp_store_release(&ring->released, head);
	if (n)
		hsock_kick(c, p, HSOCK_EV_WRITE);
	return n;
}

/*
 * @f's process may commit another record: under its limit, and a record
 * to take (its stash, which also holds records it linked but could not
 * commit yet, or the pool).
 */
static bool under_limit(struct hsock_file *f)
{
	return f && READ_ONCE(f->proc->committed) < f->dev->rec_limit &&
	       (READ_ONCE(f->stashed) || READ_ONCE(f->dev->nr_free));
}

/*
 * @p may commit one more record (one of its records was released): wake
 * the WRITE waiters of one side its files hold (any conn, not only the one
 * whose records were released; a writer may wait for the per-process
 * limit), the first in a round robin, so that writers blocked on the limit
 * take turns instead of all waking for one record.  Called only while @p
 * has WRITE waiters.
 */
void hsock_proc_kick(struct hsock_proc *p)
{
	struct hsock_file *f;
	struct hsock_hold *h;

	list_for_each_entry(f, &p->files, proc_node) {
		if (f->releasing)	/* its holds are being walked: no move */
			continue;
		list_for_each_entry(h, &f->holds, file_node) {
			if (hsock_kick(h->sd->conn, h->sd->idx, HSOCK_EV_WRITE)) {
				list_move_tail(&h->file_node, &f->holds);
				return;
			}
		}
	}
}

/*
 * Events ready for side @s, read from the conn page (racy by nature: the
 * caller arms first, then calls this, so a concurrent publish is not lost).
 * WRITE needs a free slot in the send ring and a record @f's process may
 * commit (a release wakes the producer for both, and its process's other
 * writers when it goes back under the limit).
 */
u32 hsock_side_ready(struct hsock_conn *c, u32 s, struct hsock_file *f)
{
	struct hsock_conn_page *cp = c->cp;
	struct hsock_ring *rx = &cp->ring[!s], *tx = &cp->ring[s];
	u32 peer_state = READ_ONCE(cp->state[!s]);
	u32 ev = 0;

	if (READ_ONCE(rx->tail) != READ_ONCE(rx->head) ||
	    (peer_state & HSOCK_ST_SHUT_WR))
		ev |= HSOCK_EV_READ;
	if ((READ_ONCE(tx->tail) - READ_ONCE(c->released[s]) < HSOCK_RING_SLOTS &&
	     under_limit(f)) || (peer_state & HSOCK_ST_SHUT_RD))
		ev |= HSOCK_EV_WRITE;
	if (READ_ONCE(c->side[!s].gone))
		ev |= HSOCK_EV_HUP;
	return ev;
}
