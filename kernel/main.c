// SPDX-License-Identifier: GPL-2.0
/*
 * hsock.ko: the kernel side of hetero-socket (heteropod).  Misc device
 * /dev/hsock; the ABI is uapi/hsock.h.  This file: module parameters,
 * device lifetime, open/release and the ioctl dispatch.
 */
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "dev.h"

static unsigned int nr_records = 2048;
module_param(nr_records, uint, 0444);
MODULE_PARM_DESC(nr_records, "records (pages) in the GShm pool");

static unsigned int rec_limit = 256;
module_param(rec_limit, uint, 0444);
MODULE_PARM_DESC(rec_limit, "records a process may have committed at once");

static unsigned int nr_arenas;
module_param(nr_arenas, uint, 0444);
MODULE_PARM_DESC(nr_arenas, "arenas per process (0: one per CPU, at most 15)");

#define HSOCK_FEATURES	(HSOCK_FEAT_COMMIT_FAULT | HSOCK_FEAT_NOTIFY_SYNC | \
			 HSOCK_FEAT_NOTIFY_ASYNC | HSOCK_FEAT_NOTIFY_TRAP | \
			 HSOCK_FEAT_STATS | HSOCK_FEAT_CONN_VIEW | \
			 HSOCK_FEAT_REJOIN)

/*
 * Every open file uses the address_space of one private inode, so that a
 * record can be unmapped from all processes with one unmap_mapping_range(),
 * whatever device node they opened.
 */
static struct vfsmount *hsock_mnt;
static int hsock_mnt_count;

static int hsock_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, 0x68736f63) ? 0 : -ENOMEM;
}

/* No .owner: the mount lives from init to exit and must not pin the module. */
static struct file_system_type hsock_fs_type = {
	.name = "hsockfs",
	.init_fs_context = hsock_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

static int mapping_init(struct hsock_dev *dev)
{
	int ret;

	ret = simple_pin_fs(&hsock_fs_type, &hsock_mnt, &hsock_mnt_count);
	if (ret)
		return ret;
	dev->inode = alloc_anon_inode(hsock_mnt->mnt_sb);
	if (IS_ERR(dev->inode)) {
		ret = PTR_ERR(dev->inode);
		simple_release_fs(&hsock_mnt, &hsock_mnt_count);
		return ret;
	}
	dev->mapping = dev->inode->i_mapping;
	return 0;
}

static void mapping_uninit(struct hsock_dev *dev)
{
	iput(dev->inode);
	simple_release_fs(&hsock_mnt, &hsock_mnt_count);
}

static int hsock_open(struct inode *inode, struct file *file)
{
	struct hsock_dev *dev = container_of(file->private_data,
					     struct hsock_dev, misc);
	struct hsock_file *f;
	int ret;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->arena_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!f->arena_page) {
		kfree(f);
		return -ENOMEM;
	}
	f->ap = page_address(f->arena_page);
	f->ap->nr_arenas = dev->nr_arenas;
	f->dev = dev;
	INIT_LIST_HEAD(&f->holds);
	file->private_data = f;
	file->f_mapping = dev->mapping;
	mutex_lock(&dev->lock);
	ret = hsock_proc_attach(f);
	if (!ret)
		dev->nr_files++;
	mutex_unlock(&dev->lock);
	if (ret) {
		__free_page(f->arena_page);
		kfree(f);
	}
	return ret;
}

/* Last reference gone (close, exit, kill): no mapping of @f remains. */
static int hsock_file_release(struct inode *inode, struct file *file)
{
	struct hsock_file *f = file->private_data;
	struct hsock_dev *dev = f->dev;
	struct hsock_hold *h, *tmp;

	mutex_lock(&dev->lock);
	f->releasing = true;	/* hsock_proc_kick() leaves f->holds alone */
	list_for_each_entry_safe(h, tmp, &f->holds, file_node)
		hsock_hold_drop(h);
	hsock_file_drop_records(f);
	hsock_proc_detach(f);
	dev->nr_files--;
	mutex_unlock(&dev->lock);
	__free_page(f->arena_page);
	kfree(f);
	return 0;
}

static void fill_info(struct hsock_dev *dev, struct hsock_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->abi_version = HSOCK_ABI_VERSION;
	info->features = HSOCK_FEATURES;
	info->record_size = PAGE_SIZE;
	info->nr_records = dev->nr_records;
	info->rec_limit = dev->rec_limit;
	info->nr_arenas = dev->nr_arenas;
	info->ring_slots = HSOCK_RING_SLOTS;
	info->arena_slots = HSOCK_ARENA_SLOTS;
	info->mmap_arena = HSOCK_MMAP_ARENA;
	info->mmap_conn_base = HSOCK_MMAP_CONN_BASE;
	info->mmap_records = HSOCK_MMAP_RECORDS;
}

static void fill_stats(struct hsock_file *f, struct hsock_stats *st)
{
	struct hsock_dev *dev = f->dev;

	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	mutex_lock(&dev->lock);
	st->nr_records = dev->nr_records;
	st->nr_free = dev->nr_free;
	st->nr_stashed = dev->nr_stashed;
	st->nr_committed = dev->nr_committed;
	st->nr_files = dev->nr_files;
	st->nr_conns = dev->nr_conns;
	st->my_stashed = f->stashed;
	st->my_committed = f->proc->committed;
	st->commits = dev->commits;
	st->faults = dev->faults;
	mutex_unlock(&dev->lock);
	st->nr_waiters = atomic_read(&dev->nr_waiters);
	st->notifies = atomic64_read(&dev->notifies);
}

/* Run @fn(f, handle) under dev->lock. */
static long locked_handle(struct hsock_file *f,
			  int (*fn)(struct hsock_file *, u32), unsigned long arg)
{
	long ret;

	if (arg > U32_MAX)
		return -EINVAL;
	mutex_lock(&f->dev->lock);
	ret = fn(f, arg);
	mutex_unlock(&f->dev->lock);
	return ret;
}

static long ioc_conn(struct hsock_file *f, void __user *argp,
		     int (*fn)(struct hsock_file *, struct hsock_conn_req *))
{
	struct hsock_conn_req req;
	long ret;

	if (copy_from_user(&req, argp, sizeof(req)))
		return -EFAULT;
	mutex_lock(&f->dev->lock);
	ret = fn(f, &req);
	mutex_unlock(&f->dev->lock);
	if (!ret && copy_to_user(argp, &req, sizeof(req)))
		ret = -EFAULT;	/* the side stays held until close */
	return ret;
}

static long ioc_bind(struct hsock_file *f, void __user *argp,
		     int (*fn)(struct hsock_file *, struct hsock_conn_bind *))
{
	struct hsock_conn_bind b;
	long ret;

	if (copy_from_user(&b, argp, sizeof(b)))
		return -EFAULT;
	mutex_lock(&f->dev->lock);
	ret = fn(f, &b);
	mutex_unlock(&f->dev->lock);
	if (!ret && copy_to_user(argp, &b, sizeof(b)))
		ret = -EFAULT;	/* the side stays held until close */
	return ret;
}

static long ioc_refill(struct hsock_file *f, void __user *argp)
{
	struct hsock_refill r;
	long ret;

	if (copy_from_user(&r, argp, sizeof(r)))
		return -EFAULT;
	mutex_lock(&f->dev->lock);
	ret = hsock_refill(f, &r);
	mutex_unlock(&f->dev->lock);
	if (!ret && copy_to_user(argp, &r, sizeof(r)))
		ret = -EFAULT;
	return ret;
}

static long ioc_notify(struct hsock_file *f, unsigned int cmd,
		       void __user *argp)
{
	struct hsock_notify n;

	if (copy_from_user(&n, argp, sizeof(n)))
		return -EFAULT;
	if (cmd == HSOCK_IOC_NOTIFY_ENABLE)
		return hsock_notify_enable(f, &n);
	if (cmd == HSOCK_IOC_NOTIFY_DISABLE)
		return hsock_notify_disable(f, &n);
	return hsock_notify_peer(f, &n);
}

static long hsock_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct hsock_file *f = file->private_data;
	void __user *argp = (void __user *)arg;
	union {
		struct hsock_info info;
		struct hsock_stats stats;
	} u;

	switch (cmd) {
	case HSOCK_IOC_INFO:
		fill_info(f->dev, &u.info);
		return copy_to_user(argp, &u.info, sizeof(u.info)) ? -EFAULT : 0;
	case HSOCK_IOC_STATS:
		fill_stats(f, &u.stats);
		return copy_to_user(argp, &u.stats, sizeof(u.stats)) ? -EFAULT : 0;
	case HSOCK_IOC_CONN_CREATE:
		return ioc_conn(f, argp, hsock_conn_create);
	case HSOCK_IOC_CONN_JOIN:
		return ioc_conn(f, argp, hsock_conn_join);
	case HSOCK_IOC_CONN_BIND:
		return ioc_bind(f, argp, hsock_conn_bind);
	case HSOCK_IOC_CONN_REJOIN:
		return ioc_bind(f, argp, hsock_conn_rejoin);
	case HSOCK_IOC_CONN_CLOSE:
		return locked_handle(f, hsock_conn_close, arg);
	case HSOCK_IOC_REFILL:
		return ioc_refill(f, argp);
	case HSOCK_IOC_COMMIT:
		return locked_handle(f, hsock_commit, arg);
	case HSOCK_IOC_RELEASE:
		return locked_handle(f, hsock_release, arg);
	case HSOCK_IOC_NOTIFY_ENABLE:
	case HSOCK_IOC_NOTIFY_DISABLE:
	case HSOCK_IOC_NOTIFY:
		return ioc_notify(f, cmd, argp);
	}
	return -ENOTTY;
}

static const struct file_operations hsock_fops = {
	.owner = THIS_MODULE,
	.open = hsock_open,
	.release = hsock_file_release,
	.unlocked_ioctl = hsock_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = hsock_mmap,
	.llseek = noop_llseek,
};

static struct hsock_dev *hsock_dev;

static int __init hsock_init(void)
{
	struct hsock_dev *dev;
	int ret = -EINVAL;

	if (!nr_records || nr_records >= HSOCK_NIL || !rec_limit)
		return ret;
	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	mutex_init(&dev->lock);
	xa_init_flags(&dev->conns, XA_FLAGS_ALLOC1);
	INIT_LIST_HEAD(&dev->procs);
	dev->nr_records = nr_records;
	dev->rec_limit = rec_limit;
	dev->nr_arenas = clamp_t(u32, nr_arenas ? nr_arenas : num_possible_cpus(),
				 1, HSOCK_MAX_ARENAS);
	ret = -ENOMEM;
	dev->wq = alloc_workqueue("hsock", 0, 0);
	if (!dev->wq)
		goto err_free;
	ret = hsock_pool_init(dev);
	if (ret)
		goto err_wq;
	ret = mapping_init(dev);
	if (ret)
		goto err_pool;
	dev->misc.minor = MISC_DYNAMIC_MINOR;
	dev->misc.name = "hsock";
	dev->misc.fops = &hsock_fops;
	dev->misc.mode = 0666;
	ret = misc_register(&dev->misc);
	if (ret)
		goto err_mapping;
	hsock_dev = dev;
	pr_info("hsock: abi %d, %u records, limit %u per process, %u arenas\n",
		HSOCK_ABI_VERSION, dev->nr_records, dev->rec_limit,
		dev->nr_arenas);
	return 0;

err_mapping:
	mapping_uninit(dev);
err_pool:
	hsock_pool_uninit(dev);
err_wq:
	destroy_workqueue(dev->wq);
err_free:
	kfree(dev);
	return ret;
}

static void __exit hsock_exit(void)
{
	struct hsock_dev *dev = hsock_dev;

	misc_deregister(&dev->misc);
	hsock_conns_uninit(dev);
	destroy_workqueue(dev->wq);	/* reap works that saw their conn die */
	mapping_uninit(dev);
	hsock_pool_uninit(dev);
	xa_destroy(&dev->conns);
	rcu_barrier();	/* conn_free_rcu() callbacks */
	kfree(dev);
}

module_init(hsock_init);
module_exit(hsock_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("heteropod hetero-socket: GShm records, commit on fault, notify");
MODULE_AUTHOR("heteropod");
