// SPDX-License-Identifier: GPL-2.0
/* FaaS chains: grouping, placement as a unit, links.  See chain.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faas/chain.h"

const char *const faas_why_text[] = {
	[FAAS_WHY_OFFLOADED] = "",
	[FAAS_WHY_MODE] = "offload mode keeps the chain on the CPU",
	[FAAS_WHY_DPU_DOWN] = "DPU down: CPU fallback",
	[FAAS_WHY_DPU_FULL] = "DPU full: CPU fallback",
};

struct member {
	char chain[64];
	char uid[128];
	char v4[16], v6[46];		/* "" when absent */
	uint16_t ports[FAAS_MAX_PORTS];
	size_t n_ports;
	bool wants_dpu;
	size_t first, count;		/* its chain: members[first..first+count) */
	enum faas_place place;
	enum faas_why why;
};

struct faas_chains {
	struct member *m;
	size_t n, cap;
	size_t *by_uid;			/* indices sorted by uid (after place) */
	size_t n_chains;
	bool placed;
};

bool faas_chain_name_valid(const char *name)
{
	size_t len = name ? strlen(name) : 0, i;

	if (len < 1 || len > 63 || !isalnum((unsigned char)name[0]) ||
	    !isalnum((unsigned char)name[len - 1]))
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

int faas_chains_create(struct faas_chains **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void faas_chains_destroy(struct faas_chains *c)
{
	if (!c)
		return;
	free(c->m);
	free(c->by_uid);
	free(c);
}

void faas_chains_reset(struct faas_chains *c)
{
	c->n = 0;
	c->n_chains = 0;
	c->placed = false;
}

/* "IPv4[,IPv6]" into the member's two families; -EINVAL on anything else. */
static int split_ips(const char *ips, struct member *m)
{
	char copy[128], *save = NULL, *ip;

	snprintf(copy, sizeof(copy), "%s", ips ?: "");
	for (ip = strtok_r(copy, ",", &save); ip; ip = strtok_r(NULL, ",", &save)) {
		char *dst = strchr(ip, ':') ? m->v6 : m->v4;
		size_t max = strchr(ip, ':') ? sizeof(m->v6) : sizeof(m->v4);

		if (strlen(ip) >= max || *dst)
			return -EINVAL;
		snprintf(dst, max, "%s", ip);
	}
	return 0;
}

int faas_chains_add(struct faas_chains *c, const struct faas_member *in)
{
	struct member *m;
	size_t i;

	if (!faas_chain_name_valid(in->chain) || !in->uid || !*in->uid ||
	    strlen(in->uid) >= sizeof(m->uid) || in->n_ports > FAAS_MAX_PORTS)
		return -EINVAL;
	for (i = 0; i < c->n; i++)
		if (!strcmp(c->m[i].uid, in->uid))
			return -EINVAL;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct member *nm = realloc(c->m, cap * sizeof(*nm));

		if (!nm)
			return -ENOMEM;
		c->m = nm;
		c->cap = cap;
	}
	m = &c->m[c->n];
	memset(m, 0, sizeof(*m));
	if (split_ips(in->ips, m))
		return -EINVAL;
	snprintf(m->chain, sizeof(m->chain), "%s", in->chain);
	snprintf(m->uid, sizeof(m->uid), "%s", in->uid);
	if (in->n_ports)
		memcpy(m->ports, in->ports, in->n_ports * sizeof(*in->ports));
	m->n_ports = in->n_ports;
	m->wants_dpu = in->wants_dpu;
	c->n++;
	c->placed = false;
	return 0;
}

static int by_chain(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int r = strcmp(x->chain, y->chain);

	return r ? r : strcmp(x->uid, y->uid);
}

static int by_uid(const void *a, const void *b, void *arg)
{
	const struct member *m = arg;

	return strcmp(m[*(const size_t *)a].uid, m[*(const size_t *)b].uid);
}

/* Decide the chain of members [first, first + count). */
static void place_one(struct faas_chains *c, size_t first, size_t count,
		      bool healthy, bool (*fits)(void *arg, size_t n), void *arg)
{
	enum faas_why why = FAAS_WHY_OFFLOADED;
	size_t i;

	for (i = first; i < first + count && why == FAAS_WHY_OFFLOADED; i++)
		if (!c->m[i].wants_dpu)
			why = FAAS_WHY_MODE;
	if (why == FAAS_WHY_OFFLOADED && !healthy)
		why = FAAS_WHY_DPU_DOWN;
	else if (why == FAAS_WHY_OFFLOADED && !fits(arg, count))
		why = FAAS_WHY_DPU_FULL;
	for (i = first; i < first + count; i++) {
		c->m[i].first = first;
		c->m[i].count = count;
		c->m[i].why = why;
		c->m[i].place = why == FAAS_WHY_OFFLOADED ? FAAS_PLACE_DPU : FAAS_PLACE_CPU;
	}
}

int faas_chains_place(struct faas_chains *c, bool dpu_healthy,
		      bool (*fits)(void *arg, size_t n), void *arg)
{
	size_t *idx = realloc(c->by_uid, (c->n + 1) * sizeof(*idx));
	size_t i, first;

	if (!idx)
		return -ENOMEM;
	c->by_uid = idx;
	c->n_chains = 0;
	c->placed = true;
	if (!c->n)
		return 0;	/* (c->m may be NULL: no qsort) */
	qsort(c->m, c->n, sizeof(*c->m), by_chain);
	for (first = 0; first < c->n; first = i) {
		for (i = first; i < c->n && !strcmp(c->m[i].chain, c->m[first].chain); i++)
			;
		place_one(c, first, i - first, dpu_healthy, fits, arg);
		c->n_chains++;
	}
	for (i = 0; i < c->n; i++)
		idx[i] = i;
	qsort_r(idx, c->n, sizeof(*idx), by_uid, c->m);
	return 0;
}

size_t faas_chains_count(const struct faas_chains *c)
{
	return c->n_chains;
}

static const struct member *find(const struct faas_chains *c, const char *uid)
{
	size_t lo = 0, hi = c->placed ? c->n : 0, mid;
	int r;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		r = strcmp(uid, c->m[c->by_uid[mid]].uid);
		if (!r)
			return &c->m[c->by_uid[mid]];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int faas_member_place(const struct faas_chains *c, const char *uid,
		      enum faas_place *place, enum faas_why *why,
		      size_t *n_members)
{
	const struct member *m = find(c, uid);

	if (!m)
		return -ENOENT;
	*place = m->place;
	*why = m->why;
	*n_members = m->count;
	return 0;
}

/* Append "IP:PORT PEER:*" (PORT 0: any) to @buf at *@len; false if full. */
static bool line(char *buf, size_t n, size_t *len, const char *ip, uint16_t port,
		 const char *peer, bool v6)
{
	char p[8] = "*";
	int w;

	if (port)
		snprintf(p, sizeof(p), "%u", port);
	w = snprintf(buf + *len, n - *len, v6 ? "[%s]:%s [%s]:*\n" : "%s:%s %s:*\n",
		     ip, p, peer);
	if (w < 0 || (size_t)w >= n - *len)
		return false;
	*len += (size_t)w;
	return true;
}

/* The lines of the link A <-> B in one family (addresses @a, @b). */
static int pair_lines(const struct member *A, const struct member *B, const char *a,
		      const char *b, bool v6, char *buf, size_t n, size_t *len)
{
	int lines = 0;
	size_t i;

	if (!A->n_ports || !B->n_ports)		/* either end on any port */
		return line(buf, n, len, a, 0, b, v6) ? 1 : -ENOSPC;
	for (i = 0; i < B->n_ports; i++, lines++)	/* A calls B */
		if (!line(buf, n, len, b, B->ports[i], a, v6))
			return -ENOSPC;
	for (i = 0; i < A->n_ports; i++, lines++)	/* B calls A */
		if (!line(buf, n, len, a, A->ports[i], b, v6))
			return -ENOSPC;
	return lines;
}

int faas_member_links(const struct faas_chains *c, const char *uid, char *buf,
		      size_t n)
{
	const struct member *A = find(c, uid), *B;
	size_t len = strlen(buf), start = len, i;
	int lines = 0, r = 0;

	if (!A)
		return -ENOENT;
	for (i = A->first; i < A->first + A->count && r >= 0; i++) {
		B = &c->m[i];
		if (B == A)
			continue;
		if (*A->v4 && *B->v4 && (r = pair_lines(A, B, A->v4, B->v4, false, buf, n, &len)) > 0)
			lines += r;
		if (r >= 0 && *A->v6 && *B->v6 &&
		    (r = pair_lines(A, B, A->v6, B->v6, true, buf, n, &len)) > 0)
			lines += r;
	}
	if (r < 0) {
		buf[start] = '\0';
		return r;
	}
	return lines;
}
