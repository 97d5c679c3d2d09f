/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rtnetlink requests over libmnl, in the calling thread's namespace.  All
 * return 0 or -errno; "add" requests are idempotent (EEXIST is success)
 * and "del" requests treat ENOENT/ESRCH/EADDRNOTAVAIL as success.
 */
#ifndef HPNS_RTNL_H
#define HPNS_RTNL_H

#include <stdbool.h>
#include <stdint.h>

#include "netns/nl.h"

/* Create veth @name here with peer @peer in the namespace of @peer_nsfd. */
int rtnl_veth_add(struct nl *nl, const char *name, const char *peer,
		  int peer_nsfd);
/*
 * Create tunnel @name (GENEVE/VXLAN per @t) here, with MTU @mtu, moved into
 * the namespace of @dst_nsfd as it is created; its underlay socket stays
 * here.  -EEXIST when the name exists (in the half, or here).
 */
int rtnl_tunnel_add(struct nl *nl, const char *name,
		    const struct hpns_tunnel *t, int mtu, int dst_nsfd);
/* Index of the device holding address @a (family @fam) here; -EADDRNOTAVAIL. */
int rtnl_addr_ifindex(struct nl *nl, int fam, const void *a);
/* Delete the host addresses (/32, /128, universe scope) of @ifindex. */
int rtnl_addr_flush_host(struct nl *nl, int ifindex);
/* MTU of @ifindex, or -errno. */
int rtnl_link_mtu(struct nl *nl, int ifindex);
int rtnl_link_del(struct nl *nl, const char *name);
int rtnl_link_up(struct nl *nl, int ifindex);

/* Address @a (family from @fam) with prefix @plen on @ifindex. */
int rtnl_addr(struct nl *nl, bool add, int fam, const void *a, int plen,
	      int ifindex);
/* Default route in @table via @gw on @ifindex, preferred source @src
 * (NULL = none). */
int rtnl_default_route(struct nl *nl, bool add, int fam, uint32_t table,
		       const void *gw, const void *src, int ifindex);
/* Policy rule: pref @pref, fwmark @mark/@mask (0/0 = none) -> @table. */
int rtnl_rule(struct nl *nl, bool add, int fam, uint32_t pref,
	      uint32_t mark, uint32_t mask, uint32_t table);
/* Policy rule: pref @pref, to @dst (a host address) -> @table. */
int rtnl_rule_to(struct nl *nl, bool add, int fam, uint32_t pref,
		 const void *dst, uint32_t table);
/* 1 if a rule with exactly @pref and @table exists (no other selectors
 * checked beyond that), 0 if not, -errno. */
int rtnl_rule_exists(struct nl *nl, int fam, uint32_t pref, uint32_t table);

#endif
