// SPDX-License-Identifier: GPL-2.0
/*
 * The action layer over libhpnetns: the host configures a pod's CPU half,
 * the dpu role its DPU half, each from its own PU namespace (the per-pod
 * GENEVE/VXLAN device's underlay socket lives there; a veth pair is made
 * by the dpu role), with the rules the host read from the CPU half.  See
 * split.h and netns/hpnetns.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netns/hpnetns.h"
#include "offloader/agent_int.h"
#include "offloader/split.h"
#include "offloader/veth.h"

struct first_line {
	char *buf;
	size_t n;
};

/* Keep the first diagnostic: it names the rule or line at fault. */
static void keep_first(void *arg, const char *line)
{
	struct first_line *f = arg;

	if (f->buf[0] == '\0')
		snprintf(f->buf, f->n, "%s", line);
}

/* geneve, vxlan, or veth (HPNS_LINK_EXISTING: the dpu role makes the pair). */
static int link_kind(const char *text, enum hpns_link_kind *k)
{
	return hpns_link_kind_parse(text, k);
}

bool agent_link_is_veth(const char *kind)
{
	enum hpns_link_kind k;

	return !link_kind(kind, &k) && k == HPNS_LINK_EXISTING;
}

int agent_link_check(const struct agent_opts *o, char *err, size_t errlen)
{
	enum hpns_link_kind k;

	if (!link_kind(o->link_kind, &k))
		return 0;
	snprintf(err, errlen, "link.kind: '%s' is not valid, accepted: geneve, vxlan, veth",
		 o->link_kind);
	return -EINVAL;
}

void agent_cpu_netns(const struct agent_pod_rec *p, char *buf, size_t n)
{
	if (p->netns[0])
		snprintf(buf, n, "%s", p->netns);
	else
		snprintf(buf, n, "/proc/self/fd/%d", p->netns_fd);
}

int agent_cpu_rules(const char *netns, void **blob, size_t *len, char *err,
		    size_t errlen)
{
	struct first_line f = { err, errlen };
	struct hpns_ruleset *rs = NULL;
	int ret;

	err[0] = '\0';
	ret = hpns_ruleset_from_netns(netns, keep_first, &f, &rs);
	if (!ret)
		ret = hpns_ruleset_export(rs, blob, len);
	if (ret && !err[0])
		snprintf(err, errlen, "rules of %s: %s", netns, strerror(-ret));
	hpns_ruleset_destroy(rs);
	return ret;
}

/* Translate @rs for @conf and configure the half. */
static int configure(const struct hpns_half_conf *conf,
		     const struct hpns_ruleset *rs, char *err, size_t errlen)
{
	struct first_line f = { err, errlen };
	struct hpns_redo *redo = NULL;
	int ret;

	err[0] = '\0';
	ret = hpns_translate(rs, conf, keep_first, &f, &redo);
	if (!ret) {
		ret = hpns_half_configure(conf, redo);
		if (ret)
			snprintf(err, errlen, "configure %s: %s", conf->netns, strerror(-ret));
	} else if (!err[0]) {
		snprintf(err, errlen, "translate: %s", strerror(-ret));
	}
	hpns_redo_destroy(redo);
	return ret;
}

/* Link and pod addresses shared by both halves' configurations. */
static int half_conf(struct hpns_half_conf *c, enum hpns_half half,
		     const char *netns, const char *ips, const char *kind,
		     uint32_t vni, const char *local, const char *remote,
		     uint16_t dstport)
{
	memset(c, 0, sizeof(*c));
	c->half = half;
	c->netns = netns;
	c->link = HPNS_LINK_NAME;
	hpns_link_defaults(half, &c->local, &c->peer);
	if (hpns_addrs_parse(ips, &c->pod) || link_kind(kind, &c->tunnel.kind))
		return -EINVAL;
	if (c->tunnel.kind == HPNS_LINK_EXISTING)
		return 0;	/* veth: the pair exists, no tunnel */
	c->tunnel.vni = vni;
	c->tunnel.dstport = dstport;
	if (hpns_addrs_parse(local, &c->tunnel.local) ||
	    hpns_addrs_parse(remote, &c->tunnel.remote))
		return -EINVAL;
	return 0;
}

uint32_t agent_vni_of(const char *uid)
{
	uint32_t h = 2166136261u;

	while (*uid)
		h = (h ^ (uint8_t)*uid++) * 16777619u;
	return (h & 0xffffff) ?: 1;
}

/* This end and the other end of the peer link (the interconnect). */
static int peer_addrs(int fd, char *local, char *remote, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len;
	void *a;
	int i;

	for (i = 0; i < 2; i++) {
		len = sizeof(ss);
		if ((i ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len))
			return -errno;
		a = ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
					     : (void *)&((struct sockaddr_in *)&ss)->sin_addr;
		inet_ntop(ss.ss_family, a, i ? remote : local, (socklen_t)n);
	}
	return 0;
}

static int split_cpu(void *ctx, const struct agent_pod_rec *p, char *err,
		     size_t errlen)
{
	struct agent *a = ctx;
	struct first_line f = { err, errlen };
	struct hpns_ruleset *rs = NULL;
	struct hpns_half_conf c;
	char netns[300], local[64], remote[64];
	int ret;

	agent_cpu_netns(p, netns, sizeof(netns));
	err[0] = '\0';
	ret = peer_addrs(a->peer_fd, local, remote, sizeof(local));
	if (ret) {
		snprintf(err, errlen, "CPU half: peer link: %s", strerror(-ret));
		return ret;
	}
	if (half_conf(&c, HPNS_HALF_CPU, netns, p->ips, a->o->link_kind, agent_vni_of(p->uid),
		      local, remote, (uint16_t)a->o->link_dstport)) {
		snprintf(err, errlen, "CPU half: pod IPs '%s' or interconnect %s/%s not usable",
			 p->ips, local, remote);
		return -EINVAL;
	}
	ret = hpns_ruleset_from_netns(netns, keep_first, &f, &rs);
	if (!ret)
		ret = configure(&c, rs, err, errlen);
	else if (!err[0])
		snprintf(err, errlen, "rules of %s: %s", netns, strerror(-ret));
	hpns_ruleset_destroy(rs);
	return ret;
}

static int unsplit_cpu(void *ctx, const struct agent_pod_rec *p, char *err,
		       size_t errlen)
{
	char netns[300];
	int ret;

	(void)ctx;
	agent_cpu_netns(p, netns, sizeof(netns));
	ret = agent_half_unconfigure(netns);
	if (ret)
		snprintf(err, errlen, "unconfigure %s: %s", netns, strerror(-ret));
	return ret;
}

const struct agent_actions agent_hpns_actions = {
	.split_cpu = split_cpu,
	.unsplit_cpu = unsplit_cpu,
};

int agent_half_unconfigure(const char *netns)
{
	int ret = hpns_half_unconfigure(netns, HPNS_LINK_NAME);

	return ret == -ENOENT ? 0 : ret;
}

int agent_half_drop_link(const char *netns)
{
	return agent_veth_delete(netns, HPNS_LINK_NAME);
}

int agent_dpu_configure(const struct agent_opts *o, const char *netns,
			const Heteropod__Peer__CreateHalf *c, char *err,
			size_t errlen)
{
	const Heteropod__Peer__LinkParams *lp = c->link;
	struct hpns_ruleset *rs = NULL;
	struct hpns_half_conf conf;
	char ips[96] = "";
	int ret;

	(void)o;
	if (!lp || !c->rules.len || c->n_pod_ips < 1) {
		snprintf(err, errlen, "CreateHalf without %s",
			 !lp ? "link parameters" : !c->rules.len ? "rules" : "pod IPs");
		return -EINVAL;
	}
	snprintf(ips, sizeof(ips), "%s%s%s", c->pod_ips[0], c->n_pod_ips > 1 ? "," : "",
		 c->n_pod_ips > 1 ? c->pod_ips[1] : "");
	/* The host's view: its address is local_addr, ours peer_addr. */
	if (half_conf(&conf, HPNS_HALF_DPU, netns, ips, lp->kind, lp->vni, lp->peer_addr,
		      lp->local_addr, (uint16_t)lp->dstport)) {
		snprintf(err, errlen, "link %s vni %u %s->%s or pod IPs '%s' not usable",
			 lp->kind, lp->vni, lp->peer_addr, lp->local_addr, ips);
		return -EINVAL;
	}
	if (agent_link_is_veth(lp->kind)) {
		ret = lp->cpu_netns && *lp->cpu_netns ?
		      agent_veth_create(netns, lp->cpu_netns, HPNS_LINK_NAME) : -EINVAL;
		if (ret) {
			snprintf(err, errlen, "veth %s between %s and %s: %s", HPNS_LINK_NAME,
				 netns, lp->cpu_netns ?: "(no CPU half given)", strerror(-ret));
			return ret;
		}
	}
	ret = hpns_ruleset_import(c->rules.data, c->rules.len, &rs);
	if (ret) {
		snprintf(err, errlen, "rules blob refused: %s (same heteropod release "
			 "on both PUs?)", strerror(-ret));
		return ret;
	}
	ret = configure(&conf, rs, err, errlen);
	hpns_ruleset_destroy(rs);
	return ret;
}

/* ---- port map ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };

/* Keys of @netns's listening ports (@listening) or peer sets. */
static int keys_of(const char *netns, bool listening, uint32_t *keys, size_t max)
{
	uint16_t ports[256];
	size_t n = 0, i, j;
	int ret;

	for (i = 0; i < 2; i++) {
		ret = listening ? hpns_half_listening(netns, protos[i], ports, 256)
				: hpns_half_ports_get(netns, protos[i], ports, 256);
		if (ret < 0)
			return ret;
		for (j = 0; j < (size_t)ret && n < max; j++)
			keys[n++] = (uint32_t)protos[i] << 16 | ports[j];
	}
	qsort(keys, n, sizeof(*keys), cmp_u32);
	for (i = j = 0; i < n; i++)
		if (!j || keys[j - 1] != keys[i])
			keys[j++] = keys[i];
	return (int)j;
}

int agent_ports_listening(const char *netns, uint32_t *keys, size_t max)
{
	return keys_of(netns, true, keys, max);
}

static bool has_key(const uint32_t *keys, size_t n, uint32_t k)
{
	return bsearch(&k, keys, n, sizeof(*keys), cmp_u32) != NULL;
}

static int set_one(const char *netns, uint32_t key, bool add)
{
	uint16_t port = (uint16_t)key;

	return hpns_half_ports_set(netns, (uint8_t)(key >> 16), &port, 1, add);
}

int agent_ports_replace(const char *netns, const uint32_t *keys, size_t n)
{
	uint32_t cur[512];
	int ncur = keys_of(netns, false, cur, 512), ret = 0;
	size_t i;

	if (ncur < 0)
		return ncur;
	for (i = 0; i < (size_t)ncur && !ret; i++)
		if (!has_key(keys, n, cur[i]))
			ret = set_one(netns, cur[i], false);
	for (i = 0; i < n && !ret; i++)
		if (!has_key(cur, (size_t)ncur, keys[i]))
			ret = set_one(netns, keys[i], true);
	return ret;
}

int agent_ports_follow(const char *netns, const uint32_t *keys, size_t n,
		       uint32_t *added, unsigned *n_added, unsigned max)
{
	uint32_t cur[512];
	int ncur = keys_of(netns, false, cur, 512), ret = 0;
	unsigned i, k = 0;

	if (ncur < 0)
		return ncur;
	for (i = 0; i < *n_added; i++) {
		if (has_key(keys, n, added[i]))
			added[k++] = added[i];
		else if (!ret)
			ret = set_one(netns, added[i], false);
	}
	*n_added = k;
	for (i = 0; i < n && !ret; i++) {
		if (has_key(cur, (size_t)ncur, keys[i]) || *n_added == max)
			continue;
		ret = set_one(netns, keys[i], true);
		if (!ret)
			added[(*n_added)++] = keys[i];
	}
	return ret;
}
