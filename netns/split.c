// SPDX-License-Identifier: GPL-2.0
/*
 * Both halves on one machine: a veth pair is the per-pod link.  On a real
 * host/DPU pair each side creates its own end (a GENEVE device) and calls
 * hpns_half_configure() itself; this file is only the one-machine glue.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "netns/rtnl.h"

/* Link addresses of the veth ends (link-local v4, ULA v6). */
#define LINK_CPU4 "169.254.73.1"
#define LINK_DPU4 "169.254.73.2"
#define LINK_CPU6 "fd68:706e:73::1"
#define LINK_DPU6 "fd68:706e:73::2"

static void link_addrs(struct hpns_addrs *a, const char *v4, const char *v6)
{
	memset(a, 0, sizeof(*a));
	a->has_v4 = inet_pton(AF_INET, v4, &a->v4) == 1;
	a->has_v6 = inet_pton(AF_INET6, v6, &a->v6) == 1;
}

/* Create the veth pair from inside the CPU half (idempotent). */
static int make_link(const char *cpu_ns, const char *dpu_ns)
{
	int dpu_fd = hp_netns_open(dpu_ns), saved = -1, ret;
	struct nl nl;

	if (dpu_fd < 0)
		return dpu_fd;
	ret = hp_netns_enter(cpu_ns, &saved);
	if (ret)
		goto out_fd;
	ret = nl_open(&nl, NETLINK_ROUTE);
	if (!ret) {
		ret = rtnl_veth_add(&nl, HPNS_LINK_NAME, HPNS_LINK_NAME, dpu_fd);
		nl_close(&nl);
	}
	ret = ns_leave(saved, ret);
out_fd:
	close(dpu_fd);
	return ret;
}

void hpns_link_defaults(enum hpns_half half, struct hpns_addrs *local,
			struct hpns_addrs *peer)
{
	bool cpu = half == HPNS_HALF_CPU;

	link_addrs(local, cpu ? LINK_CPU4 : LINK_DPU4, cpu ? LINK_CPU6 : LINK_DPU6);
	link_addrs(peer, cpu ? LINK_DPU4 : LINK_CPU4, cpu ? LINK_DPU6 : LINK_CPU6);
}

static int split_half(enum hpns_half half, const char *ns,
		      const struct hpns_addrs *pod,
		      const struct hpns_ruleset *rs, hpns_report_fn report,
		      void *arg)
{
	struct hpns_half_conf c = {
		.half = half, .netns = ns, .link = HPNS_LINK_NAME, .pod = *pod,
	};
	struct hpns_redo *redo = NULL;
	int ret;

	hpns_link_defaults(half, &c.local, &c.peer);
	ret = hpns_translate(rs, &c, report, arg, &redo);
	if (!ret)
		ret = hpns_half_configure(&c, redo);
	hpns_redo_destroy(redo);
	return ret;
}

int hpns_split(const char *cpu_ns, const char *dpu_ns,
	       const struct hpns_addrs *pod, const struct hpns_ruleset *rs,
	       hpns_report_fn report, void *arg)
{
	int ret = make_link(cpu_ns, dpu_ns);

	/* the DPU half first: it must be ready when the CPU starts diverting */
	ret = ret ?: split_half(HPNS_HALF_DPU, dpu_ns, pod, rs, report, arg);
	return ret ?: split_half(HPNS_HALF_CPU, cpu_ns, pod, rs, report, arg);
}

static int del_link(const char *cpu_ns)
{
	struct nl nl;
	int saved, ret = hp_netns_enter(cpu_ns, &saved);

	if (ret)
		return ret;
	ret = nl_open(&nl, NETLINK_ROUTE);
	if (!ret) {
		ret = rtnl_link_del(&nl, HPNS_LINK_NAME);
		nl_close(&nl);
	}
	return ns_leave(saved, ret);
}

int hpns_unsplit(const char *cpu_ns, const char *dpu_ns)
{
	/* the CPU half first: stop diverting before the DPU half goes; a
	 * half whose namespace is already gone (crash, pod deleted) is done */
	int cpu = hpns_half_unconfigure(cpu_ns, HPNS_LINK_NAME);
	int dpu = hpns_half_unconfigure(dpu_ns, HPNS_LINK_NAME);
	int link = cpu == -ENOENT ? 0 : del_link(cpu_ns);

	if (cpu == -ENOENT)
		cpu = 0;
	if (dpu == -ENOENT)
		dpu = 0;
	return cpu ?: dpu ?: link;
}
