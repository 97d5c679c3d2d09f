// SPDX-License-Identifier: GPL-2.0
/*
 * mmap of /dev/hsock and the fault handler, where records are committed and
 * mapped (see "Isolation model" in uapi/hsock.h).  Nothing is mapped at mmap
 * time: every page arrives through hsock_fault(), which decides under
 * dev->lock and installs the PTE before dropping it, and leaves through
 * hsock_zap(), which all opens share because they share one address_space.
 */
#include <linux/mm.h>

#include "compat.h"
#include "dev.h"

static vm_fault_t rec_fault(struct hsock_file *f, u32 idx, unsigned long *pfn)
{
	struct hsock_dev *dev = f->dev;
	struct hsock_rec *rec;
	struct hsock_side *sd;
	u32 slot;
	int ret;

	if (idx >= dev->nr_records)	/* cannot happen: mmap checked */
		return VM_FAULT_SIGBUS;
	rec = &dev->recs[idx];
	dev->faults++;
	switch (rec->state) {
	case REC_STASHED:
		if (rec->owner != f)
			return VM_FAULT_SIGSEGV;
		sd = hsock_find_link(f, idx, &slot);
		if (!sd)
			return VM_FAULT_SIGSEGV;
		ret = hsock_commit_slot(f, sd, slot, idx);
		if (ret == -EDQUOT)
			return VM_FAULT_SIGBUS;
		if (ret)
			return VM_FAULT_SIGSEGV;
		break;
	case REC_COMMITTED:
		if (!hsock_file_holds(f, rec->conn))
			return VM_FAULT_SIGSEGV;
		break;
	default:
		return VM_FAULT_SIGSEGV;
	}
	*pfn = page_to_pfn(rec->page);
	return 0;
}

static vm_fault_t conn_fault(struct hsock_file *f, u32 handle,
			     unsigned long *pfn)
{
	struct hsock_side *sd = hsock_side_get(f, handle);

	if (!sd)
		return VM_FAULT_SIGSEGV;
	*pfn = page_to_pfn(sd->conn->page);
	/* The peer may have revoked this mapping to learn of our access. */
	hsock_trap_fired(sd->conn, !sd->idx);
	return 0;
}

static vm_fault_t view_fault(struct hsock_file *f, u32 handle,
			     unsigned long *pfn)
{
	struct hsock_side *sd = hsock_side_get(f, handle);

	if (!sd)
		return VM_FAULT_SIGSEGV;
	*pfn = page_to_pfn(sd->conn->view_page);
	return 0;
}

static vm_fault_t hsock_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct hsock_file *f = vma->vm_file->private_data;
	struct hsock_dev *dev = f->dev;
	unsigned long pfn;
	vm_fault_t ret;

	if (vmf->pgoff == 0)
		return vmf_insert_pfn(vma, vmf->address,
				      page_to_pfn(f->arena_page));
	mutex_lock(&dev->lock);
	if (vmf->pgoff >= HSOCK_PGOFF_RECORDS)
		ret = rec_fault(f, vmf->pgoff - HSOCK_PGOFF_RECORDS, &pfn);
	else if (vmf->pgoff >= HSOCK_PGOFF_VIEW)
		ret = view_fault(f, vmf->pgoff - HSOCK_PGOFF_VIEW, &pfn);
	else
		ret = conn_fault(f, vmf->pgoff - HSOCK_PGOFF_CONN, &pfn);
	if (!ret)
		ret = vmf_insert_pfn(vma, vmf->address, pfn);
	mutex_unlock(&dev->lock);
	return ret;
}

static const struct vm_operations_struct hsock_vm_ops = {
	.fault = hsock_fault,
};

/*
 * Is [pgoff, pgoff + n) one of the regions of uapi/hsock.h, mapped with
 * the access it allows?  The view is read-only, for good (no mprotect).
 */
static int check_region(struct hsock_file *f, struct vm_area_struct *vma,
			unsigned long pgoff, unsigned long n)
{
	struct hsock_dev *dev = f->dev;
	int ret = 0;

	if (pgoff >= HSOCK_PGOFF_RECORDS)
		return n <= dev->nr_records &&
		       pgoff - HSOCK_PGOFF_RECORDS <= dev->nr_records - n ?
		       0 : -EINVAL;
	if (n != 1)
		return -EINVAL;
	if (pgoff == 0)
		return 0;
	if (pgoff >= HSOCK_PGOFF_VIEW) {
		if (vma->vm_flags & VM_WRITE)
			return -EACCES;
		vm_flags_clear(vma, VM_MAYWRITE);
		pgoff -= HSOCK_PGOFF_VIEW;
	} else if (pgoff >= HSOCK_PGOFF_CONN) {
		pgoff -= HSOCK_PGOFF_CONN;
	} else {
		return -EINVAL;
	}
	mutex_lock(&dev->lock);
	if (!hsock_side_get(f, pgoff))
		ret = -EACCES;
	mutex_unlock(&dev->lock);
	return ret;
}

int hsock_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct hsock_file *f = file->private_data;
	int ret;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	ret = check_region(f, vma, vma->vm_pgoff, vma_pages(vma));
	if (ret)
		return ret;
	vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &hsock_vm_ops;
	return 0;
}

/* Unmap file page @pgoff from every process that maps it. */
void hsock_zap(struct hsock_dev *dev, pgoff_t pgoff)
{
	unmap_mapping_range(dev->mapping, (loff_t)pgoff << PAGE_SHIFT,
			    PAGE_SIZE, 1);
}
