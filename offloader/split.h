/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The action layer over libhpnetns (netns/hpnetns.h): each PU configures
 * its own half of a pod (hpns_translate + hpns_half_configure) with a
 * GENEVE or VXLAN device per pod over the interconnect (or a veth pair when
 * both PUs are namespaces of one kernel), and the port map
 * travels between them as PortMapUpdate messages.  Ports are keys
 * (proto << 16 | port), proto IPPROTO_TCP or IPPROTO_UDP.
 */
#ifndef AGENT_SPLIT_H
#define AGENT_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "offloader/action.h"
#include "proto/peer.pb-c.h"

struct agent;
struct agent_opts;

/* link.kind is geneve, vxlan or veth.  0 or -EINVAL with a message. */
int agent_link_check(const struct agent_opts *o, char *err, size_t errlen);
bool agent_link_is_veth(const char *kind);

/* The VNI of a pod's link (both PUs derive it from the uid). */
uint32_t agent_vni_of(const char *uid);

/* Host: split_cpu/unsplit_cpu over libhpnetns; ctx is the struct agent. */
extern const struct agent_actions agent_hpns_actions;

/* Where the host reaches a pod's CPU half (local netns or the ZDS fd). */
void agent_cpu_netns(const struct agent_pod_rec *p, char *buf, size_t n);
/* The interception rules installed in @netns as an export blob. */
int agent_cpu_rules(const char *netns, void **blob, size_t *len, char *err,
		    size_t errlen);

/* DPU: configure the DPU half @netns for CreateHalf @c (idempotent). */
int agent_dpu_configure(const struct agent_opts *o, const char *netns,
			const Heteropod__Peer__CreateHalf *c, char *err,
			size_t errlen);
/* Either PU: undo its half (0 when @netns is gone). */
int agent_half_unconfigure(const char *netns);
/* Either PU: delete the half's link device if one is left (a veth pair:
 * the other end goes with it); 0 when there is none. */
int agent_half_drop_link(const char *netns);

/* Sorted keys of the TCP/UDP ports listening in @netns.  Count or -errno. */
int agent_ports_listening(const char *netns, uint32_t *keys, size_t max);
/* DPU: make the half's peer sets exactly @keys. */
int agent_ports_replace(const char *netns, const uint32_t *keys, size_t n);
/*
 * Host: add @keys missing from the CPU half's peer sets (remembered in
 * @added) and remove remembered ones no longer in @keys; ports the rules
 * declared are never removed.
 */
int agent_ports_follow(const char *netns, const uint32_t *keys, size_t n,
		       uint32_t *added, unsigned *n_added, unsigned max);

#endif
