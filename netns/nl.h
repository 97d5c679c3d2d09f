/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel plumbing shared by nft.c, rtnl.c, half.c, ports.c: namespace
 * entry, checked netlink exchanges, sysctls.  Every socket is opened while
 * the calling thread is inside the target namespace, which binds it there.
 */
#ifndef HPNS_NL_H
#define HPNS_NL_H

#include <libmnl/libmnl.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/netns.h"
#include "netns/rules.h"

/*
 * Leave a namespace entered with hp_netns_enter(): always restores (and
 * closes @saved); returns @ret, or the restore's -errno when @ret is 0.
 */
int ns_leave(int saved, int ret);

struct nl {
	struct mnl_socket *sk;
	uint32_t portid;
	uint32_t seq;
};

int nl_open(struct nl *nl, int bus);
void nl_close(struct nl *nl);
/*
 * Send @len bytes holding messages with sequence numbers [@first, @last]
 * that all carry NLM_F_ACK, and wait for every ack (checking port id and
 * sequence).  Returns 0 or the first -errno the kernel reported.
 */
int nl_send_acked(struct nl *nl, const void *buf, size_t len,
		  uint32_t first, uint32_t last);
/* The receiving half of nl_send_acked() (after a sendmsg of one's own). */
int nl_wait_acks(struct nl *nl, uint32_t first, uint32_t last);
/* One request with NLM_F_ACK: 0 or -errno. */
int nl_request(struct nl *nl, struct nlmsghdr *nlh);
/* A dump request: @cb runs for every reply message.  0 or -errno. */
int nl_dump(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

/* Read/write an integer sysctl under /proc/sys/ (e.g. "net/ipv4/ip_forward")
 * of the calling thread's namespace. */
int sysctl_get(const char *path, int *value);
int sysctl_set(const char *path, int value);
/* The same for text values (e.g. "61000 65535"); trailing newline cut. */
int sysctl_get_str(const char *path, char *buf, size_t size);
int sysctl_set_str(const char *path, const char *value);

/* nft.c: table `inet heteropod` in the current namespace. */
/*
 * Closing an nfnetlink socket waits for nf_tables' pending destroy work
 * (an RCU grace period, host-wide list) when there is any: a half's
 * configuration reads and installs over one socket, passed as @nl.
 */
int nft_install(struct nl *nl, const struct hpns_redo *redo,
		const char *comment, bool replace);
int nft_remove(void);
/* The table's comment (the recorded pre-split state); -ENOENT if absent. */
int nft_comment(char *buf, size_t size);
int nft_comment_on(struct nl *nl, char *buf, size_t size);
/*
 * Add (or delete) ports to set @set ("peer_tcp"/"peer_udp"), one batch.
 * Elements added with @synced carry the comment "sync" (hpns_ports_sync()
 * found them listening, and removes them when they no longer are).
 */
int nft_set_ports(const char *set, const uint16_t *ports, size_t n, bool add,
		  bool synced);
/* Ports in set @set: up to @max into @ports, and whether each was added
 * by a sync into @synced (may be NULL); returns the count or -errno. */
int nft_get_ports(const char *set, uint16_t *ports, bool *synced, size_t max);
/* 1 if @port is in set @set, 0 if not (or no such set), -errno. */
int nft_has_port(const char *set, uint16_t port);

#endif
