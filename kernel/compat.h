/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-version differences, so that the logic files carry no version
 * checks.  Supported: 6.1 (Debian 12) and newer.
 */
#ifndef HSOCK_COMPAT_H
#define HSOCK_COMPAT_H

#include <linux/version.h>
#include <linux/mm.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
/* 6.3 made vma->vm_flags read-only and added the vm_flags_* helpers. */
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

#endif /* HSOCK_COMPAT_H */
