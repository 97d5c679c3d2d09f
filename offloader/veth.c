// SPDX-License-Identifier: GPL-2.0
/* The veth per-pod link: see veth.h.  rtnetlink through libmnl. */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/netns.h"
#include "offloader/veth.h"

/* Send @nlh on a new rtnetlink socket of the calling thread's namespace
 * and wait for its acknowledgement.  0 or -errno. */
static int talk(struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	unsigned int seq = (unsigned int)time(NULL), portid;
	int ret = -errno;
	ssize_t n;

	if (!nl)
		return ret;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0 ||
	    (n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	/* mnl_cb_run checks the sequence and port id and turns NLMSG_ERROR
	 * into errno. */
	ret = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL) < 0 ? -errno : 0;
out:
	mnl_socket_close(nl);
	return ret;
}

static struct nlmsghdr *link_msg(char *buf, int type, int flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;

	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	return nlh;
}

int agent_veth_create(const char *dpu_ns, const char *cpu_ns, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int dfd = hp_netns_open(dpu_ns), cfd = hp_netns_open(cpu_ns), ret;
	struct nlattr *info, *data, *peer;
	struct nlmsghdr *nlh;
	struct ifinfomsg *pifm;

	ret = dfd < 0 ? dfd : cfd;
	if (dfd < 0 || cfd < 0)
		goto out;
	/* Each end is created directly in its namespace (IFLA_NET_NS_FD):
	 * nothing appears in the namespace of the calling thread. */
	nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)dfd);
	mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
	mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
	pifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)cfd);
	mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
	mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	ret = talk(nlh);
	if (ret == -EEXIST) {
		/* Already made, or a foreign device holds the name in one of
		 * the halves: only our own end in the DPU half counts. */
		int saved;

		ret = hp_netns_enter_fd(dfd, &saved);
		if (!ret) {
			ret = if_nametoindex(name) ? 0 : -EEXIST;
			hp_netns_restore(saved);
		}
	}
out:
	if (dfd >= 0)
		close(dfd);
	if (cfd >= 0)
		close(cfd);
	return ret;
}

int agent_veth_delete(const char *netns, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int saved, ret;

	ret = hp_netns_enter(netns, &saved);
	if (ret)
		return ret == -ENOENT ? 0 : ret;
	nlh = link_msg(buf, RTM_DELLINK, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	ret = talk(nlh);
	hp_netns_restore(saved);
	return ret == -ENODEV ? 0 : ret;
}
