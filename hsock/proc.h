/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Liveness of the processes named in shared objects (channel sides, pool
 * slots, dax directory owners): the one check all of them use.
 */
#ifndef HSOCK_PROC_H
#define HSOCK_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * True while @pid exists in our pid namespace and is not a zombie (killed,
 * not reaped yet: it holds no mapping, so it counts as gone).  A process
 * we may not signal (EPERM) is alive.
 */
bool hs_pid_alive(pid_t pid);

#endif
