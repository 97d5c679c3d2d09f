// SPDX-License-Identifier: GPL-2.0
/*
 * enable_notify_gshm / disable_notify_gshm.  Each side of a conn has a list
 * of sync waiters (one per sleeping thread, on its stack) and at most one
 * async registration (a thread and a signal).  hsock_kick() delivers events
 * to exactly the waiters armed for them and disarms them (one shot); the
 * union of what is still armed is mirrored in conn_page.armed[side] so the
 * peer only makes a syscall when someone listens.
 */
#include <linux/hrtimer.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>

#include "dev.h"

#define W_CANCEL	(1U << 31)	/* disabled, or the side was left */
#define EV_ARMABLE	(HSOCK_EV_READ | HSOCK_EV_WRITE)

struct hsock_waiter {
	struct list_head node;		/* side->waiters; empty once fired */
	struct hsock_file *file;
	u32 events;
	u32 fired;
};

void hsock_side_init(struct hsock_side *sd)
{
	init_waitqueue_head(&sd->wq);
	INIT_LIST_HEAD(&sd->waiters);
	INIT_LIST_HEAD(&sd->holds);
}

/* conn->lock held. */
static void update_armed(struct hsock_conn *c, u32 s)
{
	struct hsock_side *sd = &c->side[s];
	struct hsock_waiter *w;
	u32 ev = sd->async_events | sd->trap_events;

	list_for_each_entry(w, &sd->waiters, node)
		ev |= w->events;
	WRITE_ONCE(c->cp->armed[s], ev);
}

/* conn->lock held. */
static void async_clear(struct hsock_conn *c, struct hsock_side *sd)
{
	if (!sd->async_tid)
		return;
	put_pid(sd->async_tid);
	sd->async_tid = NULL;
	sd->async_events = 0;
	atomic_dec(&c->dev->nr_waiters);
}

/* Signal the registered thread (conn->lock held) and disarm. */
static void async_fire(struct hsock_conn *c, struct hsock_side *sd, u32 ev)
{
	struct kernel_siginfo info;
	struct task_struct *t;

	clear_siginfo(&info);
	info.si_signo = sd->async_signo;
	info.si_code = ev & HSOCK_EV_HUP ? POLL_HUP :
		       ev & HSOCK_EV_READ ? POLL_IN : POLL_OUT;
	info.si_band = ev;
	info.si_fd = HSOCK_HANDLE(c->id, sd->idx);
	rcu_read_lock();
	t = pid_task(sd->async_tid, PIDTYPE_PID);
	if (t)
		send_sig_info(sd->async_signo, &info, t);
	rcu_read_unlock();
	async_clear(c, sd);
}

/*
 * conn->lock held; see hsock_kick().  Sets *@wake if sync waiters fired: the
 * caller wakes them after dropping the lock, so that they do not spin on it
 * (under a hypervisor, a preempted lock holder makes that spin long).
 */
static int kick_locked(struct hsock_conn *c, u32 s, u32 events, bool *wake)
{
	struct hsock_side *sd = &c->side[s];
	struct hsock_waiter *w, *tmp;
	int n = 0;
	u32 m;

	list_for_each_entry_safe(w, tmp, &sd->waiters, node) {
		m = events & (w->events | HSOCK_EV_HUP);
		if (!m)
			continue;
		WRITE_ONCE(w->fired, w->fired | m);
		/* Last touch: the waiter may return as soon as it sees this. */
		list_del_init_careful(&w->node);
		n++;
	}
	*wake = n;
	if (list_empty(&sd->waiters) && !sd->async_tid)
		sd->trap_events = 0;
	m = events & (sd->async_events | HSOCK_EV_HUP);
	if (sd->async_tid && m) {
		async_fire(c, sd, m);
		n++;
		if (list_empty(&sd->waiters))
			sd->trap_events = 0;
	}
	update_armed(c, s);
	atomic64_add(n, &c->dev->notifies);
	return n;
}

/*
 * Deliver @events to side @s: wake its sync waiters and fire its async
 * registration, each only if armed for one of @events (HSOCK_EV_HUP reaches
 * every armed waiter).  Returns how many were woken.
 */
int hsock_kick(struct hsock_conn *c, u32 s, u32 events)
{
	bool wake;
	int n;

	spin_lock(&c->lock);
	n = kick_locked(c, s, events, &wake);
	spin_unlock(&c->lock);
	if (wake)
		wake_up_interruptible_all(&c->side[s].wq);
	return n;
}

/* Disarm @events on side @s: sync waiters return 0, async and trap cleared. */
void hsock_cancel(struct hsock_conn *c, u32 s, u32 events)
{
	struct hsock_side *sd = &c->side[s];
	struct hsock_waiter *w, *tmp;

	spin_lock(&c->lock);
	list_for_each_entry_safe(w, tmp, &sd->waiters, node) {
		if (!(w->events & events))
			continue;
		WRITE_ONCE(w->fired, w->fired | W_CANCEL);
		list_del_init_careful(&w->node);
	}
	if (sd->async_events & events)
		async_clear(c, sd);
	sd->trap_events &= ~events;
	update_armed(c, s);
	spin_unlock(&c->lock);
	wake_up_interruptible_all(&sd->wq);
}

/* The peer of side @s touched its conn page: fire @s's trap, if armed. */
void hsock_trap_fired(struct hsock_conn *c, u32 s)
{
	struct hsock_side *sd = &c->side[s];
	bool wake = false;
	u32 ev;

	spin_lock(&c->lock);
	ev = sd->trap_events;
	sd->trap_events = 0;
	if (ev)
		kick_locked(c, s, ev, &wake);
	spin_unlock(&c->lock);
	if (wake)
		wake_up_interruptible_all(&sd->wq);
}

static u32 waiter_poll(struct hsock_conn *c, u32 s, struct hsock_waiter *w)
{
	return (READ_ONCE(w->fired) | hsock_side_ready(c, s, w->file)) &
	       (w->events | HSOCK_EV_HUP | W_CANCEL);
}

static long sync_wait(struct hsock_conn *c, u32 s, struct hsock_waiter *w,
		      s64 timeout_ns)
{
	struct hsock_side *sd = &c->side[s];
	long ret;

	if (timeout_ns > 0)
		ret = wait_event_interruptible_hrtimeout(sd->wq,
				waiter_poll(c, s, w), ns_to_ktime(timeout_ns));
	else
		ret = wait_event_interruptible(sd->wq, waiter_poll(c, s, w));
	/*
	 * A kick or a cancel removed us (and updated armed) unless we stopped
	 * on our own (signal, timeout): then we remove ourselves, and a trap
	 * nobody waits for any more would only cause useless notifies.  Not
	 * taking conn->lock on the common path keeps the peer's kick and our
	 * return from contending for it.
	 */
	if (!list_empty_careful(&w->node)) {
		spin_lock(&c->lock);
		list_del_init(&w->node);
		if (list_empty(&sd->waiters) && !sd->async_tid)
			sd->trap_events = 0;
		update_armed(c, s);
		spin_unlock(&c->lock);
	}
	atomic_dec(&c->dev->nr_waiters);
	if (w->events & HSOCK_EV_WRITE)
		atomic_dec(&w->file->proc->write_waiters);
	if (ret == -ERESTARTSYS)
		return -EINTR;
	if (ret == -ETIME)
		return -ETIMEDOUT;
	return waiter_poll(c, s, w) & ~W_CANCEL;
}

static int arm_async(struct hsock_conn *c, struct hsock_file *f, u32 s,
		     u32 events, int signo)
{
	struct hsock_side *sd = &c->side[s];

	spin_lock(&c->lock);
	/* Still ours?  A leaving side is cancelled under conn->lock. */
	if (!hsock_side_held(sd, f)) {
		spin_unlock(&c->lock);
		return -EBADF;
	}
	if (!sd->async_tid)
		atomic_inc(&c->dev->nr_waiters);
	put_pid(sd->async_tid);
	sd->async_tid = get_task_pid(current, PIDTYPE_PID);
	sd->async_signo = signo;
	sd->async_events = events;
	update_armed(c, s);
	spin_unlock(&c->lock);
	return 0;
}

static int arm_sync(struct hsock_conn *c, struct hsock_file *f, u32 s,
		    struct hsock_waiter *w)
{
	spin_lock(&c->lock);
	if (!hsock_side_held(&c->side[s], f)) {
		spin_unlock(&c->lock);
		return -EBADF;
	}
	list_add_tail(&w->node, &c->side[s].waiters);
	update_armed(c, s);
	spin_unlock(&c->lock);
	atomic_inc(&c->dev->nr_waiters);
	if (w->events & HSOCK_EV_WRITE)
		atomic_inc(&f->proc->write_waiters);
	return 0;
}

/* Revoke the peer's mapping of the conn page; its next access fires. */
static void arm_trap(struct hsock_conn *c, u32 s, u32 events)
{
	spin_lock(&c->lock);
	c->side[s].trap_events |= events;
	update_armed(c, s);
	spin_unlock(&c->lock);
	hsock_zap(c->dev, HSOCK_PGOFF_CONN + HSOCK_HANDLE(c->id, !s));
}

static int check_notify(const struct hsock_notify *n)
{
	u32 mode = n->mode & ~HSOCK_NOTIFY_TRAP;

	if (!(n->events & EV_ARMABLE) || (n->events & ~EV_ARMABLE))
		return -EINVAL;
	if (mode == HSOCK_NOTIFY_ASYNC && !valid_signal(n->signo))
		return -EINVAL;
	if (mode == HSOCK_NOTIFY_ASYNC && n->signo <= 0)
		return -EINVAL;
	return mode > HSOCK_NOTIFY_ASYNC ? -EINVAL : 0;
}

/*
 * HSOCK_IOC_NOTIFY_ENABLE.  Sync: sleeps, returns ready events, -EINTR,
 * -ETIMEDOUT.  Async: returns 0; the signal follows when ready (at once if
 * ready already).
 */
long hsock_notify_enable(struct hsock_file *f, struct hsock_notify *n)
{
	struct hsock_waiter w = { .events = n->events, .file = f };
	bool async = (n->mode & ~HSOCK_NOTIFY_TRAP) == HSOCK_NOTIFY_ASYNC;
	struct hsock_conn *c;
	u32 s = HSOCK_HANDLE_SIDE(n->handle);
	long ret;

	ret = check_notify(n);
	if (ret)
		return ret;
	c = hsock_conn_get(f, n->handle);
	if (!c)
		return -EBADF;
	INIT_LIST_HEAD(&w.node);
	ret = async ? arm_async(c, f, s, n->events, n->signo) :
		      arm_sync(c, f, s, &w);
	if (ret)
		goto out;
	if (n->mode & HSOCK_NOTIFY_TRAP)
		arm_trap(c, s, n->events);
	/* Armed before looking: pairs with the peer's publish-then-read-armed. */
	smp_mb();
	if (async) {
		ret = hsock_side_ready(c, s, f) & (n->events | HSOCK_EV_HUP);
		if (ret)
			hsock_kick(c, s, ret);
		ret = 0;
	} else {
		ret = sync_wait(c, s, &w, n->timeout_ns);
	}
out:
	hsock_conn_put(c);
	return ret;
}

int hsock_notify_disable(struct hsock_file *f, struct hsock_notify *n)
{
	struct hsock_conn *c = hsock_conn_get(f, n->handle);

	if (!c)
		return -EBADF;
	hsock_cancel(c, HSOCK_HANDLE_SIDE(n->handle),
		     n->events ? n->events : ~0U);
	hsock_conn_put(c);
	return 0;
}

/* HSOCK_IOC_NOTIFY: the caller changed state; tell its peer. */
int hsock_notify_peer(struct hsock_file *f, struct hsock_notify *n)
{
	struct hsock_conn *c;
	int ret;

	if (!(n->events & EV_ARMABLE) || (n->events & ~EV_ARMABLE))
		return -EINVAL;
	c = hsock_conn_get(f, n->handle);
	if (!c)
		return -EBADF;
	ret = hsock_kick(c, !HSOCK_HANDLE_SIDE(n->handle), n->events);
	hsock_conn_put(c);
	return ret;
}
