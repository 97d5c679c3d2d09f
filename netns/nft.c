// SPDX-License-Identifier: GPL-2.0
/*
 * Redo rules -> one libnftnl batch.  The batch adds, deletes and re-adds
 * table `inet heteropod`, so a previous version is replaced atomically and
 * a failure anywhere leaves the previous state intact.  Port-map updates
 * are separate batches touching set elements only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "netns/nl.h"

#define REG NFT_REG_1
#define SET_ID_TCP 1
#define SET_ID_UDP 2

/* One batch under construction: messages carry NLM_F_ACK between
 * begin and end; [first, seq] is what nl_send_acked() waits for. */
struct batch {
	struct nftnl_batch *b;
	uint32_t seq, first;
	int err;
};

static int batch_init(struct batch *bt, uint32_t seq)
{
	bt->b = nftnl_batch_alloc(MNL_SOCKET_BUFFER_SIZE, MNL_SOCKET_BUFFER_SIZE);
	if (!bt->b)
		return -ENOMEM;
	bt->seq = seq;
	nftnl_batch_begin((char *)nftnl_batch_buffer(bt->b), bt->seq++);
	nftnl_batch_update(bt->b);
	bt->first = bt->seq;
	bt->err = 0;
	return 0;
}

static struct nlmsghdr *batch_msg(struct batch *bt, uint16_t type,
				  uint16_t flags)
{
	return nftnl_nlmsg_build_hdr((char *)nftnl_batch_buffer(bt->b), type,
				     NFPROTO_INET, flags | NLM_F_ACK, bt->seq++);
}

static void batch_next(struct batch *bt)
{
	if (nftnl_batch_update(bt->b) < 0)
		bt->err = -ENOMEM;
}

/* The batch may span several pages: one sendmsg of all of them. */
static int send_iov(struct nl *nl, struct nftnl_batch *b)
{
	int n = nftnl_batch_iovec_len(b);
	struct iovec iov[n];
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct msghdr msg = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iov = iov, .msg_iovlen = (size_t)n,
	};

	nftnl_batch_iovec(b, iov, (uint32_t)n);
	return sendmsg(mnl_socket_get_fd(nl->sk), &msg, 0) < 0 ? -errno : 0;
}

/*
 * Close the batch, send it over @nl (NULL: a socket of its own in the
 * current namespace), check every ack.
 */
static int batch_send_on(struct batch *bt, struct nl *nl)
{
	uint32_t last = bt->seq - 1;
	struct nl own;
	int ret = bt->err;

	nftnl_batch_end((char *)nftnl_batch_buffer(bt->b), bt->seq++);
	nftnl_batch_update(bt->b);
	if (!ret && !nl) {
		ret = nl_open(&own, NETLINK_NETFILTER);
		nl = ret ? NULL : &own;
	}
	if (!ret) {
		ret = send_iov(nl, bt->b);
		if (!ret)
			ret = nl_wait_acks(nl, bt->first, last);
		if (nl == &own)
			nl_close(&own);
	}
	nftnl_batch_free(bt->b);
	return ret;
}

static int batch_send(struct batch *bt)
{
	return batch_send_on(bt, NULL);
}

/* --- expressions ---------------------------------------------------------- */

/* A rule under construction; the first allocation failure sticks in err
 * and turns every later step into a no-op (checked once, in put_rule). */
struct rb {
	struct nftnl_rule *r;
	int err;
};

static void add_expr(struct rb *b, struct nftnl_expr *e)
{
	if (e)
		nftnl_rule_add_expr(b->r, e);
}

static struct nftnl_expr *expr(struct rb *b, const char *name)
{
	struct nftnl_expr *e = b->err ? NULL : nftnl_expr_alloc(name);

	if (!e)
		b->err = -ENOMEM;
	return e;
}

static void e_meta(struct rb *b, uint32_t key)
{
	struct nftnl_expr *e = expr(b, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, REG);
	add_expr(b, e);
}

static void e_meta_set(struct rb *b, uint32_t key)
{
	struct nftnl_expr *e = expr(b, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, REG);
	add_expr(b, e);
}

static void e_ct(struct rb *b, uint32_t key, bool set)
{
	struct nftnl_expr *e = expr(b, "ct");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, set ? NFTNL_EXPR_CT_SREG : NFTNL_EXPR_CT_DREG, REG);
	add_expr(b, e);
}

static void e_payload(struct rb *b, uint32_t base, uint32_t off,
		      uint32_t len)
{
	struct nftnl_expr *e = expr(b, "payload");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, REG);
	add_expr(b, e);
}

static void e_cmp(struct rb *b, bool neg, const void *data,
		  uint32_t len)
{
	struct nftnl_expr *e = expr(b, "cmp");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, REG);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, neg ? NFT_CMP_NEQ : NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	add_expr(b, e);
}

/* reg = (reg & mask) ^ xor over @len bytes */
static void e_bitwise(struct rb *b, const void *mask, const void *xor,
		      uint32_t len)
{
	struct nftnl_expr *e = expr(b, "bitwise");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, REG);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, REG);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
	add_expr(b, e);
}

static void e_bitwise32(struct rb *b, uint32_t mask, uint32_t xor)
{
	e_bitwise(b, &mask, &xor, sizeof(mask));
}

static void e_verdict(struct rb *b, int verdict, const char *chain)
{
	struct nftnl_expr *e = expr(b, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	add_expr(b, e);
}

static void e_nfproto(struct rb *b, int family)
{
	uint8_t p = family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;

	e_meta(b, NFT_META_NFPROTO);
	e_cmp(b, false, &p, 1);
}

static void e_l4proto(struct rb *b, uint8_t proto, bool neg)
{
	e_meta(b, NFT_META_L4PROTO);
	e_cmp(b, neg, &proto, 1);
}

/* ip/ip6 saddr/daddr [!=] prefix, guarded by the family. */
static void m_addr(struct rb *b, const struct match *m)
{
	bool v6 = m->u.addr.family == AF_INET6, src = m->kind == MATCH_SADDR;
	uint32_t len = v6 ? 16 : 4;
	uint32_t off = v6 ? (src ? 8 : 24) : (src ? 12 : 16);
	uint8_t mask[16] = { 0 }, zero[16] = { 0 }, val[16];

	e_nfproto(b, m->u.addr.family);
	e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, off, len);
	memcpy(val, &m->u.addr.v4, len);
	if (m->u.addr.plen < (int)len * 8) {
		for (int b = 0; b < m->u.addr.plen; b++)
			mask[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		for (uint32_t i = 0; i < len; i++)
			val[i] &= mask[i];
		e_bitwise(b, mask, zero, len);
	}
	e_cmp(b, m->neg, val, len);
}

static void m_port(struct rb *b, const struct match *m)
{
	uint16_t port = htons(m->u.port.port);

	if (m->u.port.proto)
		e_l4proto(b, m->u.port.proto, false);
	e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER,
		  m->kind == MATCH_SPORT ? 0 : 2, 2);
	e_cmp(b, m->neg, &port, 2);
}

static void m_mark(struct rb *b, const struct match *m)
{
	if (m->kind == MATCH_MARK)
		e_meta(b, NFT_META_MARK);
	else
		e_ct(b, NFT_CT_MARK, false);
	if (m->u.mark.mask != 0xffffffffu)
		e_bitwise32(b, m->u.mark.mask, 0);
	e_cmp(b, m->neg, &m->u.mark.value, 4);
}

static void m_ifname(struct rb *b, const struct match *m)
{
	char name[IFNAMSIZ] = { 0 };

	strncpy(name, m->u.name, IFNAMSIZ - 1);
	e_meta(b, m->kind == MATCH_IIF ? NFT_META_IIFNAME : NFT_META_OIFNAME);
	e_cmp(b, m->neg, name, (uint32_t)strlen(name) + 1);
}

static void m_fib(struct rb *b, const struct match *m)
{
	struct nftnl_expr *e = expr(b, "fib");
	uint32_t local = RTN_LOCAL;

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, REG);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS,
			   m->kind == MATCH_FIB_SLOCAL ? NFTA_FIB_F_SADDR :
			   NFTA_FIB_F_DADDR);
	add_expr(b, e);
	e_cmp(b, m->neg, &local, 4);
}

static void m_ct(struct rb *b, const struct match *m)
{
	uint32_t zero = 0;
	uint8_t dir = m->neg ? 1 : 0;   /* IP_CT_DIR_REPLY : IP_CT_DIR_ORIGINAL */

	if (m->kind == MATCH_CT_NEW) {
		e_ct(b, NFT_CT_STATE, false);
		e_bitwise32(b, NF_CT_STATE_BIT(IP_CT_NEW), 0);
		e_cmp(b, true, &zero, 4);
		return;
	}
	e_ct(b, NFT_CT_DIRECTION, false);
	e_cmp(b, false, &dir, 1);
}

static void m_set(struct rb *b, const struct match *m)
{
	struct nftnl_expr *e = expr(b, "lookup");
	bool tcp = !strcmp(m->u.name, "peer_tcp");

	if (!e)
		return;
	e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, REG);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, m->u.name);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, tcp ? SET_ID_TCP : SET_ID_UDP);
	add_expr(b, e);
}

/* tcp flags & (syn | rst) == syn (after a meta l4proto tcp match) */
static void m_syn(struct rb *b)
{
	uint8_t mask = 0x06, zero = 0, syn = 0x02;

	e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1);
	e_bitwise(b, &mask, &zero, 1);
	e_cmp(b, false, &syn, 1);
}

static int add_match(struct rb *b, const struct match *m)
{
	uint8_t fam;

	switch (m->kind) {
	case MATCH_L4PROTO:
		e_l4proto(b, m->u.proto, m->neg);
		return 0;
	case MATCH_NFPROTO:
		fam = m->u.family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
		e_meta(b, NFT_META_NFPROTO);
		e_cmp(b, m->neg, &fam, 1);
		return 0;
	case MATCH_SADDR:
	case MATCH_DADDR:
		m_addr(b, m);
		return 0;
	case MATCH_SPORT:
	case MATCH_DPORT:
		m_port(b, m);
		return 0;
	case MATCH_MARK:
	case MATCH_CTMARK:
		m_mark(b, m);
		return 0;
	case MATCH_IIF:
	case MATCH_OIF:
		m_ifname(b, m);
		return 0;
	case MATCH_FIB_SLOCAL:
	case MATCH_FIB_DLOCAL:
		m_fib(b, m);
		return 0;
	case MATCH_CT_NEW:
	case MATCH_CT_ORIG:
		m_ct(b, m);
		return 0;
	case MATCH_DPORT_SET:
		m_set(b, m);
		return 0;
	case MATCH_TCP_SYN:
		m_syn(b);
		return 0;
	case MATCH_OTHER:
		break;
	}
	return -EOPNOTSUPP;   /* the translator refuses these */
}

/* reg := (ct|meta) mark; reg = reg & mask ^ xor; (ct|meta) mark := reg */
static void a_mark(struct rb *b, bool ct, uint32_t mask, uint32_t xor)
{
	if (ct)
		e_ct(b, NFT_CT_MARK, false);
	else
		e_meta(b, NFT_META_MARK);
	e_bitwise32(b, mask, xor);
	if (ct)
		e_ct(b, NFT_CT_MARK, true);
	else
		e_meta_set(b, NFT_META_MARK);
}

static void a_redirect(struct rb *b, uint16_t port)
{
	struct nftnl_expr *e = expr(b, "immediate");
	uint16_t p = htons(port);

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, REG);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &p, sizeof(p));
	add_expr(b, e);
	e = expr(b, "redir");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MIN, REG);
	add_expr(b, e);
}

/* dnat to the packet's own destination: a binding that changes nothing */
static void a_dnat_self(struct rb *b, const struct rule *src)
{
	struct nftnl_expr *e;
	bool v6 = false;

	for (int i = 0; i < src->nmatch; i++)
		if (src->m[i].kind == MATCH_NFPROTO)
			v6 = src->m[i].u.family == AF_INET6;
	e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, v6 ? 24 : 16, v6 ? 16 : 4);
	e = expr(b, "nat");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, REG);
	add_expr(b, e);
}

/* snat ip to @addr (network order) */
static void a_snat4(struct rb *b, uint32_t addr)
{
	struct nftnl_expr *e = expr(b, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, REG);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &addr, sizeof(addr));
	add_expr(b, e);
	e = expr(b, "nat");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_SNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, REG);
	add_expr(b, e);
}

/* tcp option maxseg size set rt mtu: the MSS the route (the link) allows;
 * the kernel only ever lowers it */
static void a_mss_clamp(struct rb *b)
{
	struct nftnl_expr *e = expr(b, "rt");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_RT_KEY, NFT_RT_TCPMSS);
		nftnl_expr_set_u32(e, NFTNL_EXPR_RT_DREG, REG);
		add_expr(b, e);
	}
	e = expr(b, "byteorder");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, REG);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, REG);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 2);
		add_expr(b, e);
	}
	e = expr(b, "exthdr");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_SREG, REG);
		nftnl_expr_set_u8(e, NFTNL_EXPR_EXTHDR_TYPE, 2);  /* TCPOPT_MAXSEG */
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OFFSET, 2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_LEN, 2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OP, NFT_EXTHDR_OP_TCPOPT);
		add_expr(b, e);
	}
}

static int add_action(struct rb *b, const struct rule *src)
{
	const struct action *a = &src->act;

	if (src->counter)
		add_expr(b, expr(b, "counter"));
	switch (a->kind) {
	case ACT_NONE:
		return 0;
	case ACT_ACCEPT:
		e_verdict(b, NF_ACCEPT, NULL);
		return 0;
	case ACT_RETURN:
		e_verdict(b, NFT_RETURN, NULL);
		return 0;
	case ACT_DROP:
		e_verdict(b, NF_DROP, NULL);
		return 0;
	case ACT_JUMP:
		e_verdict(b, NFT_JUMP, a->name);
		return 0;
	case ACT_REDIRECT:
		a_redirect(b, a->port);
		return 0;
	case ACT_CTMARK_OR:
	case ACT_MARK_OR:
		a_mark(b, a->kind == ACT_CTMARK_OR, ~a->value, a->value);
		if (a->then_accept)
			e_verdict(b, NF_ACCEPT, NULL);
		return 0;
	case ACT_MARK_SET:
		a_mark(b, false, ~a->mask, a->value);
		return 0;
	case ACT_DNAT_SELF:
		a_dnat_self(b, src);
		return 0;
	case ACT_SNAT4:
		a_snat4(b, a->value);
		return 0;
	case ACT_MSS_CLAMP:
		a_mss_clamp(b);
		return 0;
	case ACT_OTHER:
		break;
	}
	return -EOPNOTSUPP;
}

/* --- objects -------------------------------------------------------------- */

static void put_table_flags(struct batch *bt, uint16_t type,
			    const char *comment, uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_udata_buf *ud = NULL;
	struct nlmsghdr *nlh;

	if (!t) {
		bt->err = -ENOMEM;
		return;
	}
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, HP_NFT_TABLE);
	if (comment) {
		ud = nftnl_udata_buf_alloc(256);
		if (ud && nftnl_udata_put_strz(ud, NFTNL_UDATA_TABLE_COMMENT, comment))
			nftnl_table_set_data(t, NFTNL_TABLE_USERDATA,
					     nftnl_udata_buf_data(ud),
					     nftnl_udata_buf_len(ud));
	}
	nlh = batch_msg(bt, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE | flags : flags);
	nftnl_table_nlmsg_build_payload(nlh, t);
	batch_next(bt);
	nftnl_udata_buf_free(ud);
	nftnl_table_free(t);
}

static void put_table(struct batch *bt, uint16_t type, const char *comment)
{
	put_table_flags(bt, type, comment, 0);
}

static void put_set(struct batch *bt, const char *name, uint32_t id)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s) {
		bt->err = -ENOMEM;
		return;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, HP_NFT_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, 13);   /* inet_service */
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 2);
	nlh = batch_msg(bt, NFT_MSG_NEWSET, NLM_F_CREATE);
	nftnl_set_nlmsg_build_payload(nlh, s);
	batch_next(bt);
	nftnl_set_free(s);
}

#define SYNC_COMMENT "sync"

/* The element comment nft shows (`9080 comment "sync"`). */
static void elem_comment(struct batch *bt, struct nftnl_set_elem *e)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(32);

	if (ud && nftnl_udata_put_strz(ud, NFTNL_UDATA_SET_ELEM_COMMENT, SYNC_COMMENT))
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA,
				   nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	else
		bt->err = -ENOMEM;
	nftnl_udata_buf_free(ud);
}

static void put_elems(struct batch *bt, const char *set, const uint16_t *ports,
		      size_t n, bool add, bool synced)
{
	struct nftnl_set *s;
	struct nlmsghdr *nlh;

	if (!n)
		return;
	s = nftnl_set_alloc();
	if (!s) {
		bt->err = -ENOMEM;
		return;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, HP_NFT_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	for (size_t i = 0; i < n; i++) {
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();
		uint16_t p = htons(ports[i]);

		if (!e) {
			bt->err = -ENOMEM;
			break;
		}
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &p, sizeof(p));
		if (add && synced)
			elem_comment(bt, e);
		nftnl_set_elem_add(s, e);
	}
	nlh = batch_msg(bt, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
			add ? NLM_F_CREATE : 0);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	batch_next(bt);
	nftnl_set_free(s);
}

static void put_chain(struct batch *bt, const struct redo_chain *c)
{
	static const uint32_t hooks[] = {
		[HOOK_PREROUTING] = NF_INET_PRE_ROUTING,
		[HOOK_INPUT] = NF_INET_LOCAL_IN,
		[HOOK_FORWARD] = NF_INET_FORWARD,
		[HOOK_OUTPUT] = NF_INET_LOCAL_OUT,
		[HOOK_POSTROUTING] = NF_INET_POST_ROUTING,
	};
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!ch) {
		bt->err = -ENOMEM;
		return;
	}
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, HP_NFT_TABLE);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c->name);
	if (c->hook != HOOK_NONE) {
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, hooks[c->hook]);
		nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, c->prio);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, c->type);
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = batch_msg(bt, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	batch_next(bt);
	nftnl_chain_free(ch);
}

static int put_rule(struct batch *bt, const struct rule *src)
{
	struct rb b = { .r = nftnl_rule_alloc() };
	struct nftnl_rule *r = b.r;
	struct nlmsghdr *nlh;
	int ret = 0;

	if (!r)
		return -ENOMEM;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, HP_NFT_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, src->chain);
	for (int i = 0; !ret && i < src->nmatch; i++)
		ret = add_match(&b, &src->m[i]);
	if (!ret)
		ret = add_action(&b, src);
	ret = ret ?: b.err;
	if (!ret) {
		nlh = batch_msg(bt, NFT_MSG_NEWRULE, NLM_F_APPEND | NLM_F_CREATE);
		nftnl_rule_nlmsg_build_payload(nlh, r);
		batch_next(bt);
	}
	nftnl_rule_free(r);
	return ret;
}

/*
 * replace: add + delete + add, replacing any previous heteropod table.
 * Otherwise the table is created exclusively: a delete in the batch costs
 * an RCU grace period (the deferred destroy work, flushed when the socket
 * closes), so it is only paid when there is a table to replace.
 */
static int install(struct nl *nl, const struct hpns_redo *redo,
		   const char *comment, bool replace)
{
	struct batch bt;
	int ret = batch_init(&bt, (uint32_t)rand());

	if (ret)
		return ret;
	if (replace) {
		put_table(&bt, NFT_MSG_NEWTABLE, NULL);
		put_table(&bt, NFT_MSG_DELTABLE, NULL);
	}
	put_table_flags(&bt, NFT_MSG_NEWTABLE, comment, replace ? 0 : NLM_F_EXCL);
	put_set(&bt, "peer_tcp", SET_ID_TCP);
	put_set(&bt, "peer_udp", SET_ID_UDP);
	if (redo->half == HPNS_HALF_CPU) {
		put_elems(&bt, "peer_tcp", redo->dpu_ports, redo->ndpu_ports, true, false);
		put_elems(&bt, "peer_udp", redo->dpu_ports, redo->ndpu_ports, true, false);
	}
	for (size_t i = 0; i < redo->nchains; i++)
		put_chain(&bt, &redo->chains[i]);
	for (size_t i = 0; !ret && i < redo->nrules; i++)
		ret = put_rule(&bt, &redo->rules[i]);
	if (ret) {
		nftnl_batch_free(bt.b);
		return ret;
	}
	return batch_send_on(&bt, nl);
}

int nft_install(struct nl *nl, const struct hpns_redo *redo,
		const char *comment, bool replace)
{
	int ret = install(nl, redo, comment, replace);

	/* a table appeared since the caller looked: replace it after all */
	if (ret == -EEXIST && !replace)
		ret = install(nl, redo, comment, true);
	return ret;
}

int nft_remove(void)
{
	struct batch bt;
	int ret = batch_init(&bt, (uint32_t)rand());

	if (ret)
		return ret;
	put_table(&bt, NFT_MSG_DELTABLE, NULL);
	ret = batch_send(&bt);
	return ret == -ENOENT ? 0 : ret;
}

int nft_set_ports(const char *set, const uint16_t *ports, size_t n, bool add,
		  bool synced)
{
	struct batch bt;
	int ret;

	if (!n)
		return 0;
	ret = batch_init(&bt, (uint32_t)rand());
	if (ret)
		return ret;
	put_elems(&bt, set, ports, n, add, synced);
	return batch_send(&bt);
}

/* --- reading back --------------------------------------------------------- */

struct comment_ctx {
	char *buf;
	size_t size;
	int found;
};

static int comment_attr(const struct nftnl_udata *attr, void *data)
{
	struct comment_ctx *c = data;

	if (nftnl_udata_type(attr) == NFTNL_UDATA_TABLE_COMMENT) {
		snprintf(c->buf, c->size, "%.*s", (int)nftnl_udata_len(attr),
			 (const char *)nftnl_udata_get(attr));
		c->found = 1;
	}
	return 0;
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_table *t = nftnl_table_alloc();
	const void *ud;
	uint32_t len = 0;

	if (!t)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0 &&
	    !strcmp(nftnl_table_get_str(t, NFTNL_TABLE_NAME) ?: "", HP_NFT_TABLE) &&
	    nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == NFPROTO_INET) {
		ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &len);
		if (ud)
			nftnl_udata_parse(ud, len, comment_attr, data);
		else
			((struct comment_ctx *)data)->found = 1;
	}
	nftnl_table_free(t);
	return MNL_CB_OK;
}

int nft_comment_on(struct nl *nl, char *buf, size_t size)
{
	char req[MNL_SOCKET_BUFFER_SIZE];
	struct comment_ctx c = { .buf = buf, .size = size };
	struct nlmsghdr *nlh;
	int ret;

	buf[0] = 0;
	nlh = nftnl_nlmsg_build_hdr(req, NFT_MSG_GETTABLE, NFPROTO_INET, 0, 0);
	ret = nl_dump(nl, nlh, table_cb, &c);
	if (!ret && !c.found)
		ret = -ENOENT;
	return ret;
}

int nft_comment(char *buf, size_t size)
{
	struct nl nl;
	int ret = nl_open(&nl, NETLINK_NETFILTER);

	if (ret)
		return ret;
	ret = nft_comment_on(&nl, buf, size);
	nl_close(&nl);
	return ret;
}

struct ports_ctx {
	uint16_t *ports;
	bool *synced;
	size_t max, n;
};

static int elem_comment_attr(const struct nftnl_udata *attr, void *data)
{
	if (nftnl_udata_type(attr) == NFTNL_UDATA_SET_ELEM_COMMENT &&
	    nftnl_udata_len(attr) == sizeof(SYNC_COMMENT) &&
	    !memcmp(nftnl_udata_get(attr), SYNC_COMMENT, sizeof(SYNC_COMMENT)))
		*(bool *)data = true;
	return 0;
}

static bool elem_synced(struct nftnl_set_elem *e)
{
	uint32_t len = 0;
	const void *ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len);
	bool synced = false;

	if (ud && len)
		nftnl_udata_parse(ud, len, elem_comment_attr, &synced);
	return synced;
}

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ports_ctx *p = data;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0)
		goto out;
	it = nftnl_set_elems_iter_create(s);
	for (e = it ? nftnl_set_elems_iter_next(it) : NULL; e;
	     e = nftnl_set_elems_iter_next(it)) {
		uint32_t len = 0;
		const uint16_t *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);

		if (!k || len != 2 || p->n >= p->max)
			continue;
		if (p->synced)
			p->synced[p->n] = elem_synced(e);
		p->ports[p->n++] = ntohs(*k);
	}
	nftnl_set_elems_iter_destroy(it);
out:
	nftnl_set_free(s);
	return MNL_CB_OK;
}

int nft_get_ports(const char *set, uint16_t *ports, bool *synced, size_t max)
{
	char req[MNL_SOCKET_BUFFER_SIZE];
	struct ports_ctx p = { .ports = ports, .synced = synced, .max = max };
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	struct nl nl;
	int ret;

	if (!s)
		return -ENOMEM;
	ret = nl_open(&nl, NETLINK_NETFILTER);
	if (ret)
		goto out;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, HP_NFT_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nlh = nftnl_nlmsg_build_hdr(req, NFT_MSG_GETSETELEM, NFPROTO_INET, 0, 0);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	ret = nl_dump(&nl, nlh, elem_cb, &p);
	nl_close(&nl);
out:
	nftnl_set_free(s);
	return ret ? ret : (int)p.n;
}

/* Any reply carrying the element means it is there. */
static int found_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	*(int *)data = 1;
	return MNL_CB_OK;
}

/*
 * One element looked up by key (not a dump): the reply is the element and
 * an ack, or -ENOENT when the element, set or table is absent.
 */
int nft_has_port(const char *set, uint16_t port)
{
	char req[MNL_SOCKET_BUFFER_SIZE], buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	uint16_t key = htons(port);
	struct nlmsghdr *nlh;
	struct nl nl;
	int ret = -ENOMEM, found = 0;

	if (!s || !e)
		goto out;
	ret = nl_open(&nl, NETLINK_NETFILTER);
	if (ret)
		goto out;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, HP_NFT_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &key, sizeof(key));
	nftnl_set_elem_add(s, e);
	e = NULL;   /* owned by the set now */
	nlh = nftnl_nlmsg_build_hdr(req, NFT_MSG_GETSETELEM, NFPROTO_INET,
				    NLM_F_ACK, ++nl.seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	if (mnl_socket_sendto(nl.sk, nlh, nlh->nlmsg_len) < 0)
		ret = -errno;
	while (!ret) {
		ssize_t r = mnl_socket_recvfrom(nl.sk, buf, sizeof(buf));

		if (r < 0) {
			ret = -errno;
			break;
		}
		ret = mnl_cb_run(buf, (size_t)r, nl.seq, nl.portid, found_cb, &found);
		if (ret == MNL_CB_STOP) {   /* the ack */
			ret = found;
			break;
		}
		ret = ret < 0 ? -errno : 0;
	}
	nl_close(&nl);
	if (ret == -ENOENT)
		ret = 0;
out:
	if (e)   /* libnftnl's free functions take no NULL */
		nftnl_set_elem_free(e);
	if (s)
		nftnl_set_free(s);
	return ret;
}
