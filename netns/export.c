// SPDX-License-Identifier: GPL-2.0
/*
 * A parsed rule set as bytes, so that the PU holding the CPU half (which
 * reads Istio's rules there) can hand them to the PU configuring the DPU
 * half.  The blob is the rule and chain records of this build; its header
 * names the record sizes, and import refuses any other layout (both PUs run
 * the same heteropod release).  Import checks every field it relies on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netns/rules.h"

#define BLOB_MAGIC 0x48505253u	/* "HPRS" */
#define BLOB_VERSION 1u

struct blob_hdr {
	uint32_t magic, version;
	uint32_t rule_size, chain_size;
	uint32_t nrules, nchains;
	char name[256];
};

int hpns_ruleset_export(const struct hpns_ruleset *rs, void **buf, size_t *len)
{
	struct blob_hdr h = {
		.magic = BLOB_MAGIC, .version = BLOB_VERSION,
		.rule_size = sizeof(struct rule),
		.chain_size = sizeof(struct chain_decl),
		.nrules = (uint32_t)rs->nrules, .nchains = (uint32_t)rs->nchains,
	};
	size_t rl = rs->nrules * sizeof(struct rule);
	size_t cl = rs->nchains * sizeof(struct chain_decl);
	char *p;

	snprintf(h.name, sizeof(h.name), "%s", rs->name);
	p = malloc(sizeof(h) + rl + cl);
	if (!p)
		return -ENOMEM;
	memcpy(p, &h, sizeof(h));
	if (rl)
		memcpy(p + sizeof(h), rs->rules, rl);
	if (cl)
		memcpy(p + sizeof(h) + rl, rs->chains, cl);
	*buf = p;
	*len = sizeof(h) + rl + cl;
	return 0;
}

#define TERM(a) ((a)[sizeof(a) - 1] = '\0')

static bool rule_ok(struct rule *r)
{
	TERM(r->table);
	TERM(r->chain);
	TERM(r->text);
	TERM(r->act.name);
	if (r->nmatch < 0 || r->nmatch > MAX_MATCHES ||
	    r->act.kind < ACT_NONE || r->act.kind > ACT_OTHER)
		return false;
	for (int i = 0; i < r->nmatch; i++) {
		if (r->m[i].kind < MATCH_L4PROTO || r->m[i].kind > MATCH_OTHER)
			return false;
		TERM(r->m[i].u.name);
		if ((r->m[i].kind == MATCH_SADDR || r->m[i].kind == MATCH_DADDR) &&
		    (r->m[i].u.addr.plen < 0 || r->m[i].u.addr.plen > 128))
			return false;
	}
	return true;
}

static bool chain_ok(struct chain_decl *c)
{
	TERM(c->table);
	TERM(c->chain);
	return c->hook >= HOOK_NONE && c->hook <= HOOK_POSTROUTING;
}

int hpns_ruleset_import(const void *buf, size_t len, struct hpns_ruleset **out)
{
	struct hpns_ruleset *rs = NULL;
	struct blob_hdr h;
	size_t rl, cl, i;
	int ret = -EINVAL;

	*out = NULL;
	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != BLOB_MAGIC || h.version != BLOB_VERSION ||
	    h.rule_size != sizeof(struct rule) ||
	    h.chain_size != sizeof(struct chain_decl) ||
	    h.nrules > 65536 || h.nchains > 65536)
		return -EINVAL;
	rl = (size_t)h.nrules * sizeof(struct rule);
	cl = (size_t)h.nchains * sizeof(struct chain_decl);
	if (len != sizeof(h) + rl + cl)
		return -EINVAL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	TERM(h.name);
	snprintf(rs->name, sizeof(rs->name), "%s", h.name);
	rs->rules = malloc(rl ?: 1);
	rs->chains = malloc(cl ?: 1);
	if (!rs->rules || !rs->chains) {
		ret = -ENOMEM;
		goto fail;
	}
	memcpy(rs->rules, (const char *)buf + sizeof(h), rl);
	memcpy(rs->chains, (const char *)buf + sizeof(h) + rl, cl);
	rs->nrules = rs->cap = h.nrules;
	rs->nchains = rs->ccap = h.nchains;
	for (i = 0; i < rs->nrules; i++)
		if (!rule_ok(&rs->rules[i]))
			goto fail;
	for (i = 0; i < rs->nchains; i++)
		if (!chain_ok(&rs->chains[i]))
			goto fail;
	*out = rs;
	return 0;
fail:
	hpns_ruleset_destroy(rs);
	return ret;
}
