/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The veth per-pod link (link.kind veth): when both PUs are network
 * namespaces of one kernel (local mode, a DPU emulated on the host), the
 * halves are joined by a veth pair instead of a tunnel.  The dpu role
 * makes the pair as it creates the DPU half, one end in each half, both
 * named @name; each PU then configures its half over its end (libhpnetns'
 * HPNS_LINK_EXISTING).  Deleting either end deletes the pair.
 */
#ifndef AGENT_VETH_H
#define AGENT_VETH_H

/*
 * Create the pair: @name in @dpu_ns and @name in @cpu_ns (names or paths,
 * as lib/netns.h).  0 when made or when @dpu_ns already holds @name (the
 * pair exists: idempotent), -errno otherwise.
 */
int agent_veth_create(const char *dpu_ns, const char *cpu_ns, const char *name);
/* Delete @name in @netns (and so its peer).  0 when absent. */
int agent_veth_delete(const char *netns, const char *name);

#endif
