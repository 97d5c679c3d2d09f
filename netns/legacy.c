// SPDX-License-Identifier: GPL-2.0
/*
 * iptables-legacy rules read from the kernel: getsockopt(IPT_SO_GET_INFO,
 * IPT_SO_GET_ENTRIES) and the IPv6 twins, rendered as the text
 * iptables-legacy-save prints (same chain order, same option order), which
 * the iptables-restore parser then reads like a --rules file.
 *
 * Only tables that already exist in the namespace are read (listed in
 * /proc/thread-self/net/ip{,6}_tables_names): asking the kernel for a table
 * that does not exist yet would instantiate it.  Decoded: addresses,
 * interfaces, protocol, the tcp/udp/mark/connmark/comment matches, the
 * standard verdicts, jumps, gotos and REDIRECT.  Any other match or target
 * is rendered by name only (`-m NAME`, `-j NAME`): the translator refuses
 * such a rule in a nat chain, naming it, and ignores it elsewhere.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_connmark.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include "netns/legacy.h"
#include "netns/rules.h"

#define MAX_CHAINS 256

static const char *const hook_names[] = {
	"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING",
};

/* One table as the kernel returned it, and the entries' layout. */
struct tbl {
	int fam;
	unsigned int valid_hooks, hook_entry[NF_INET_NUMHOOKS],
		     underflow[NF_INET_NUMHOOKS];
	unsigned char *blob;
	unsigned int size;
};

/* The family-independent part of an entry. */
struct ent {
	unsigned int off, next, target_off;
	const unsigned char *e;
};

static struct ent ent_at(const struct tbl *t, unsigned int off)
{
	struct ent x = { .off = off, .e = t->blob + off };

	if (t->fam == AF_INET6) {
		const struct ip6t_entry *e = (const void *)x.e;

		x.next = e->next_offset;
		x.target_off = e->target_offset;
	} else {
		const struct ipt_entry *e = (const void *)x.e;

		x.next = e->next_offset;
		x.target_off = e->target_offset;
	}
	return x;
}

static const struct xt_entry_target *ent_target(const struct ent *x)
{
	return (const void *)(x->e + x->target_off);
}

static bool is_error(const struct ent *x)
{
	return !strcmp(ent_target(x)->u.user.name, XT_ERROR_TARGET);
}

static int std_verdict(const struct ent *x)
{
	return ((const struct xt_standard_target *)ent_target(x))->verdict;
}

/* --- the kernel ----------------------------------------------------------- */

/* Is @table listed in this namespace's ip(6)_tables_names? */
static bool table_exists(int fam, const char *table)
{
	char line[64];
	FILE *f = fopen(fam == AF_INET6 ? "/proc/thread-self/net/ip6_tables_names"
			: "/proc/thread-self/net/ip_tables_names", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, table, strlen(table)) &&
			line[strlen(table)] == '\n';
	fclose(f);
	return found;
}

static int get_info(int fd, int fam, const char *table, struct tbl *t)
{
	struct ipt_getinfo info = { 0 };   /* the IPv6 one has the same layout */
	socklen_t len = sizeof(info);
	int level = fam == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
	int opt = fam == AF_INET6 ? IP6T_SO_GET_INFO : IPT_SO_GET_INFO;

	snprintf(info.name, sizeof(info.name), "%s", table);
	if (getsockopt(fd, level, opt, &info, &len) < 0)
		return -errno;
	t->valid_hooks = info.valid_hooks;
	memcpy(t->hook_entry, info.hook_entry, sizeof(t->hook_entry));
	memcpy(t->underflow, info.underflow, sizeof(t->underflow));
	t->size = info.size;
	return 0;
}

static int get_entries(int fd, int fam, const char *table, struct tbl *t)
{
	socklen_t len = (socklen_t)(sizeof(struct ipt_get_entries) + t->size);
	struct ipt_get_entries *ge = calloc(1, len);
	int level = fam == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
	int opt = fam == AF_INET6 ? IP6T_SO_GET_ENTRIES : IPT_SO_GET_ENTRIES;

	if (!ge)
		return -ENOMEM;
	snprintf(ge->name, sizeof(ge->name), "%s", table);
	ge->size = t->size;
	if (getsockopt(fd, level, opt, ge, &len) < 0) {
		int ret = -errno;

		free(ge);
		return ret;   /* EAGAIN: the table changed in between */
	}
	t->blob = malloc(t->size ? t->size : 1);
	if (t->blob)
		memcpy(t->blob, ge->entrytable, t->size);
	free(ge);
	return t->blob ? 0 : -ENOMEM;
}

/* Read @table of family @fam; -ENOENT if it does not exist here. */
static int table_read(int fam, const char *table, struct tbl *t)
{
	int fd, ret = -EAGAIN;

	memset(t, 0, sizeof(*t));
	t->fam = fam;
	if (!table_exists(fam, table))
		return -ENOENT;
	fd = socket(fam, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0)
		return -errno;
	/* the table may change between the two calls: retry a few times */
	for (int i = 0; i < 5 && ret == -EAGAIN; i++) {
		ret = get_info(fd, fam, table, t);
		ret = ret ?: get_entries(fd, fam, table, t);
	}
	close(fd);
	return ret;
}

/* --- chains --------------------------------------------------------------- */

struct chain {
	char name[XT_EXTENSION_MAXNAMELEN + 1];
	unsigned int start, end;   /* rules in [start, end): offsets */
	int hook;                  /* -1 for a user chain */
	const char *policy;
};

struct chains {
	struct chain c[MAX_CHAINS];
	int n;
};

static int cmp_chain(const void *a, const void *b)
{
	const struct chain *x = a, *y = b;

	if (x->hook >= 0 || y->hook >= 0)
		return (x->hook < 0 ? NF_INET_NUMHOOKS : x->hook) -
		       (y->hook < 0 ? NF_INET_NUMHOOKS : y->hook);
	return strcmp(x->name, y->name);
}

static const char *verdict_name(int v)
{
	switch (v) {
	case -NF_ACCEPT - 1: return "ACCEPT";
	case -NF_DROP - 1: return "DROP";
	case -NF_QUEUE - 1: return "QUEUE";
	case XT_RETURN: return "RETURN";
	}
	return NULL;
}

/* Is @off where an entry starts (on the walk from offset 0)? */
static bool entry_start(const struct tbl *t, unsigned int off)
{
	unsigned int o = 0;

	while (o < off && o < t->size) {
		unsigned int next = ent_at(t, o).next;

		if (!next)
			return false;
		o += next;
	}
	return o == off;
}

/*
 * Built-in chains run from hook_entry to their underflow (the policy
 * entry); a user chain starts after an ERROR entry carrying its name and
 * ends with an unconditional RETURN, the entry before the next ERROR.
 */
static int builtin_chains(const struct tbl *t, struct chains *cs)
{
	for (int h = 0; h < NF_INET_NUMHOOKS; h++) {
		struct chain *c = &cs->c[cs->n];
		struct ent u;

		if (!(t->valid_hooks & (1u << h)))
			continue;
		if (t->underflow[h] >= t->size || t->hook_entry[h] > t->underflow[h] ||
		    !entry_start(t, t->hook_entry[h]) || !entry_start(t, t->underflow[h]))
			return -EBADMSG;
		u = ent_at(t, t->underflow[h]);
		snprintf(c->name, sizeof(c->name), "%s", hook_names[h]);
		c->start = t->hook_entry[h];
		c->end = t->underflow[h];
		c->hook = h;
		c->policy = verdict_name(std_verdict(&u));
		if (!c->policy)
			return -EBADMSG;
		cs->n++;
	}
	return 0;
}

static int chains_find(const struct tbl *t, struct chains *cs)
{
	unsigned int off, last = 0;
	struct chain *user = NULL;
	int ret;

	cs->n = 0;
	ret = builtin_chains(t, cs);
	for (off = 0; !ret && off < t->size; last = off, off += ent_at(t, off).next) {
		struct ent x = ent_at(t, off);

		if (x.next < (t->fam == AF_INET6 ? sizeof(struct ip6t_entry) :
			      sizeof(struct ipt_entry)) || x.next > t->size - off ||
		    x.target_off + sizeof(struct xt_entry_target) > x.next)
			return -EBADMSG;
		if (!is_error(&x))
			continue;
		if (user)
			user->end = last;   /* before its RETURN tail */
		user = NULL;
		if (off + x.next >= t->size)
			break;              /* the final ERROR entry */
		if (cs->n >= MAX_CHAINS)
			return -E2BIG;
		user = &cs->c[cs->n++];
		snprintf(user->name, sizeof(user->name), "%s",
			 (const char *)ent_target(&x)->data);
		user->start = user->end = off + x.next;
		user->hook = -1;
		user->policy = "-";
	}
	return ret;
}

static const char *chain_at(const struct chains *cs, unsigned int off)
{
	for (int i = 0; i < cs->n; i++)
		if (cs->c[i].start == off)
			return cs->c[i].name;
	return NULL;
}

/* --- rendering, as iptables-legacy-save does ------------------------------ */

static void put_addr4(struct sbuf *b, const char *opt, const struct in_addr *a,
		      const struct in_addr *m, bool inv)
{
	uint32_t hm = ntohl(m->s_addr);
	char buf[INET_ADDRSTRLEN], mbuf[INET_ADDRSTRLEN];
	int bits = 0;

	if (!m->s_addr && !a->s_addr && !inv)
		return;
	while (bits < 32 && (hm & (0x80000000u >> bits)))
		bits++;
	inet_ntop(AF_INET, a, buf, sizeof(buf));
	if (bits == 32 || hm == (bits ? ~0u << (32 - bits) : 0))
		sb_printf(b, "%s %s %s/%d", inv ? " !" : "", opt, buf, bits);
	else
		sb_printf(b, "%s %s %s/%s", inv ? " !" : "", opt, buf,
			  inet_ntop(AF_INET, m, mbuf, sizeof(mbuf)));
}

static void put_addr6(struct sbuf *b, const char *opt, const struct in6_addr *a,
		      const struct in6_addr *m, bool inv)
{
	char buf[INET6_ADDRSTRLEN], mbuf[INET6_ADDRSTRLEN];
	int bits = 0;
	bool cidr = true;

	for (int i = 0; i < 128; i++) {
		bool set = m->s6_addr[i / 8] & (0x80 >> (i % 8));

		if (set && bits != i)
			cidr = false;
		bits += set;
	}
	if (!bits && cidr && !inv)
		return;
	inet_ntop(AF_INET6, a, buf, sizeof(buf));
	if (cidr)
		sb_printf(b, "%s %s %s/%d", inv ? " !" : "", opt, buf, bits);
	else
		sb_printf(b, "%s %s %s/%s", inv ? " !" : "", opt, buf,
			  inet_ntop(AF_INET6, m, mbuf, sizeof(mbuf)));
}

static void put_iface(struct sbuf *b, char letter, const char *name,
		      const unsigned char *mask, bool inv)
{
	int i;

	if (!mask[0])
		return;
	sb_printf(b, "%s -%c ", inv ? " !" : "", letter);
	for (i = 0; i < IFNAMSIZ && mask[i]; i++)
		if (name[i])
			sb_printf(b, "%c", name[i]);
	if (i < IFNAMSIZ && i > 0 && name[i - 1])
		sb_printf(b, "+");   /* a wildcard */
}

static void put_proto(struct sbuf *b, uint16_t proto, bool inv)
{
	static const struct { uint16_t n; const char *name; } names[] = {
		{ IPPROTO_TCP, "tcp" }, { IPPROTO_UDP, "udp" },
		{ IPPROTO_UDPLITE, "udplite" }, { IPPROTO_ICMP, "icmp" },
		{ IPPROTO_ESP, "esp" }, { IPPROTO_AH, "ah" },
		{ IPPROTO_SCTP, "sctp" }, { IPPROTO_ICMPV6, "ipv6-icmp" },
	};

	const struct protoent *pe;

	if (!proto)
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].n == proto) {
			sb_printf(b, "%s -p %s", inv ? " !" : "", names[i].name);
			return;
		}
	pe = getprotobynumber(proto);   /* /etc/protocols, as iptables does */
	if (pe)
		sb_printf(b, "%s -p %s", inv ? " !" : "", pe->p_name);
	else
		sb_printf(b, "%s -p %u", inv ? " !" : "", proto);
}

static void put_ports(struct sbuf *b, const char *opt, const uint16_t *p,
		      bool inv)
{
	if (p[0] == 0 && p[1] == 0xffff)
		return;
	sb_printf(b, "%s --%s ", inv ? " !" : "", opt);
	sb_printf(b, p[0] == p[1] ? "%u" : "%u:%u", p[0], p[1]);
}

static void put_mark(struct sbuf *b, uint32_t mark, uint32_t mask, bool inv)
{
	sb_printf(b, "%s --mark", inv ? " !" : "");
	sb_printf(b, mask == 0xffffffffu ? " 0x%x" : " 0x%x/0x%x", mark, mask);
}

static void put_tcp_flags(struct sbuf *b, uint8_t flags)
{
	static const char *const names[] = { "FIN", "SYN", "RST", "PSH", "ACK", "URG" };
	bool first = true;

	for (int i = 0; i < 6; i++)
		if (flags & (1u << i)) {
			sb_printf(b, "%s%s", first ? "" : ",", names[i]);
			first = false;
		}
	if (first)
		sb_printf(b, "NONE");
}

/*
 * " -m NAME [options]": options for tcp, udp, mark, connmark and comment;
 * other matches by name only.
 */
static void put_match(struct sbuf *b, const struct xt_entry_match *m)
{
	const char *name = m->u.user.name;
	size_t dlen = m->u.match_size - sizeof(*m);

	sb_printf(b, " -m %s", name);
	if (!strcmp(name, "tcp") && dlen >= sizeof(struct xt_tcp)) {
		const struct xt_tcp *t = (const void *)m->data;

		put_ports(b, "sport", t->spts, t->invflags & XT_TCP_INV_SRCPT);
		put_ports(b, "dport", t->dpts, t->invflags & XT_TCP_INV_DSTPT);
		if (t->option)
			sb_printf(b, "%s --tcp-option %u",
				  t->invflags & XT_TCP_INV_OPTION ? " !" : "", t->option);
		if (t->flg_mask || (t->invflags & XT_TCP_INV_FLAGS)) {
			sb_printf(b, "%s --tcp-flags ",
				  t->invflags & XT_TCP_INV_FLAGS ? " !" : "");
			put_tcp_flags(b, t->flg_mask);
			sb_printf(b, " ");
			put_tcp_flags(b, t->flg_cmp);
		}
	} else if (!strcmp(name, "udp") && dlen >= sizeof(struct xt_udp)) {
		const struct xt_udp *u = (const void *)m->data;

		put_ports(b, "sport", u->spts, u->invflags & XT_UDP_INV_SRCPT);
		put_ports(b, "dport", u->dpts, u->invflags & XT_UDP_INV_DSTPT);
	} else if ((!strcmp(name, "mark") || !strcmp(name, "connmark")) &&
		   m->u.user.revision == 1 &&
		   dlen >= sizeof(struct xt_mark_mtinfo1)) {
		const struct xt_mark_mtinfo1 *k = (const void *)m->data;

		put_mark(b, k->mark, k->mask, k->invert);
	} else if (!strcmp(name, "comment") && dlen >= sizeof(struct xt_comment_info)) {
		const struct xt_comment_info *c = (const void *)m->data;

		sb_printf(b, " --comment \"");
		for (int i = 0; i < XT_MAX_COMMENT_LEN && c->comment[i]; i++)
			sb_printf(b, strchr("\"\\", c->comment[i]) ? "\\%c" : "%c",
				  c->comment[i]);
		sb_printf(b, "\"");
	}
}

static void put_redirect(struct sbuf *b, int fam,
			 const struct xt_entry_target *t)
{
	size_t dlen = t->u.target_size - sizeof(*t);
	unsigned int flags;
	uint16_t lo, hi;

	if (fam == AF_INET && dlen >= sizeof(struct nf_nat_ipv4_multi_range_compat)) {
		const struct nf_nat_ipv4_range *r =
			&((const struct nf_nat_ipv4_multi_range_compat *)t->data)->range[0];

		flags = r->flags;
		lo = ntohs(r->min.tcp.port);
		hi = ntohs(r->max.tcp.port);
	} else if (fam == AF_INET6 && dlen >= sizeof(struct nf_nat_range)) {
		const struct nf_nat_range *r = (const void *)t->data;

		flags = r->flags;
		lo = ntohs(r->min_proto.tcp.port);
		hi = ntohs(r->max_proto.tcp.port);
	} else {
		return;
	}
	if (flags & NF_NAT_RANGE_PROTO_SPECIFIED)
		sb_printf(b, hi != lo ? " --to-ports %u-%u" : " --to-ports %u", lo, hi);
	if (flags & NF_NAT_RANGE_PROTO_RANDOM)
		sb_printf(b, " --random");
}

static void put_target(struct sbuf *b, const struct tbl *t,
		       const struct chains *cs, const struct ent *x, bool go)
{
	const struct xt_entry_target *tg = ent_target(x);
	const char *name = tg->u.user.name, *v;
	int verdict;

	if (name[0]) {
		sb_printf(b, " -j %s", name);
		if (!strcmp(name, "REDIRECT"))
			put_redirect(b, t->fam, tg);
		return;
	}
	verdict = std_verdict(x);
	if (verdict < 0) {
		v = verdict_name(verdict);
		sb_printf(b, " -j %s", v ? v : "?");
	} else if ((unsigned int)verdict != x->off + x->next) {  /* not a fall-through */
		v = chain_at(cs, (unsigned int)verdict);
		sb_printf(b, " -%c %s", go ? 'g' : 'j', v ? v : "?");
	}
}

static void put_matches(struct sbuf *b, const struct ent *x, size_t hdr)
{
	for (size_t o = hdr; o + sizeof(struct xt_entry_match) <= x->target_off;) {
		const struct xt_entry_match *m = (const void *)(x->e + o);

		if (m->u.match_size < sizeof(*m) || o + m->u.match_size > x->target_off)
			break;
		put_match(b, m);
		o += m->u.match_size;
	}
}

static void put_rule(struct sbuf *b, const struct tbl *t,
		     const struct chains *cs, const struct chain *c,
		     const struct ent *x)
{
	bool go;

	sb_printf(b, "-A %s", c->name);
	if (t->fam == AF_INET6) {
		const struct ip6t_ip6 *ip = &((const struct ip6t_entry *)x->e)->ipv6;

		put_addr6(b, "-s", &ip->src, &ip->smsk, ip->invflags & IP6T_INV_SRCIP);
		put_addr6(b, "-d", &ip->dst, &ip->dmsk, ip->invflags & IP6T_INV_DSTIP);
		put_iface(b, 'i', ip->iniface, ip->iniface_mask, ip->invflags & IP6T_INV_VIA_IN);
		put_iface(b, 'o', ip->outiface, ip->outiface_mask, ip->invflags & IP6T_INV_VIA_OUT);
		put_proto(b, ip->proto, ip->invflags & XT_INV_PROTO);
		go = ip->flags & IP6T_F_GOTO;
		put_matches(b, x, sizeof(struct ip6t_entry));
	} else {
		const struct ipt_ip *ip = &((const struct ipt_entry *)x->e)->ip;

		put_addr4(b, "-s", &ip->src, &ip->smsk, ip->invflags & IPT_INV_SRCIP);
		put_addr4(b, "-d", &ip->dst, &ip->dmsk, ip->invflags & IPT_INV_DSTIP);
		put_iface(b, 'i', ip->iniface, ip->iniface_mask, ip->invflags & IPT_INV_VIA_IN);
		put_iface(b, 'o', ip->outiface, ip->outiface_mask, ip->invflags & IPT_INV_VIA_OUT);
		put_proto(b, ip->proto, ip->invflags & XT_INV_PROTO);
		if (ip->flags & IPT_F_FRAG)
			sb_printf(b, "%s -f", ip->invflags & IPT_INV_FRAG ? " !" : "");
		go = ip->flags & IPT_F_GOTO;
		put_matches(b, x, sizeof(struct ipt_entry));
	}
	put_target(b, t, cs, x, go);
	sb_printf(b, "\n");
}

/* `*TABLE`, chain declarations, rules, `COMMIT`. */
static int put_table(struct sbuf *b, const char *name, const struct tbl *t)
{
	struct chains *cs = malloc(sizeof(*cs));
	int ret = cs ? chains_find(t, cs) : -ENOMEM;

	if (ret) {
		free(cs);
		return ret;
	}
	qsort(cs->c, (size_t)cs->n, sizeof(cs->c[0]), cmp_chain);
	sb_printf(b, "*%s\n", name);
	for (int i = 0; i < cs->n; i++)
		sb_printf(b, ":%s %s [0:0]\n", cs->c[i].name, cs->c[i].policy);
	for (int i = 0; i < cs->n; i++) {
		for (unsigned int o = cs->c[i].start; o < cs->c[i].end;) {
			struct ent x = ent_at(t, o);

			put_rule(b, t, cs, &cs->c[i], &x);
			o += x.next;
		}
	}
	sb_printf(b, "COMMIT\n");
	free(cs);
	return 0;
}

/* The tables of interest: nat (translated) and mangle (TPROXY refused). */
static const char *const tables[] = { "nat", "mangle" };
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static void tbls_free(struct tbl (*t)[NTABLES])
{
	for (int f = 0; f < 2; f++)
		for (size_t i = 0; i < NTABLES; i++)
			free(t[f][i].blob);
}

int legacy_dump(char **out, size_t *len)
{
	struct tbl t[2][NTABLES];
	struct sbuf b = { 0 };
	int ret = 0;

	*out = NULL;
	*len = 0;
	for (int f = 0; f < 2; f++) {
		for (size_t i = 0; i < NTABLES; i++) {
			int r = table_read(f ? AF_INET6 : AF_INET, tables[i], &t[f][i]);

			if (r && r != -ENOENT && !ret)
				ret = r;
		}
	}
	/* IPv4 block, then IPv6: a table that reappears starts the latter,
	 * so the IPv4 block names every table the IPv6 block has */
	for (int f = 0; !ret && f < 2; f++) {
		for (size_t i = 0; !ret && i < NTABLES; i++) {
			if (t[f][i].blob)
				ret = put_table(&b, tables[i], &t[f][i]);
			else if (!f && t[1][i].blob)
				sb_printf(&b, "*%s\nCOMMIT\n", tables[i]);
		}
	}
	tbls_free(t);
	if (!ret && b.oom)
		ret = -ENOMEM;
	if (ret) {
		free(b.p);
		return ret;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
