/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal rule representation shared by the parsers (iptables-restore and
 * nft text), the translator, the nft text formatter and the libnftnl
 * programmer.  Parsed rules and redo rules use the same vocabulary; the
 * parsers also keep what they do not understand (MATCH_OTHER/ACT_OTHER,
 * with the original text) so the translator can refuse it by name.
 */
#ifndef HPNS_RULES_H
#define HPNS_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "netns/hpnetns.h"

enum hook {
	HOOK_NONE,
	HOOK_PREROUTING,
	HOOK_INPUT,
	HOOK_FORWARD,
	HOOK_OUTPUT,
	HOOK_POSTROUTING,
};

enum match_kind {
	MATCH_L4PROTO,   /* u.proto */
	MATCH_NFPROTO,   /* u.family (AF_INET/AF_INET6) */
	MATCH_SADDR,     /* u.addr */
	MATCH_DADDR,
	MATCH_SPORT,     /* u.port (proto in u.port.proto, 0 = any) */
	MATCH_DPORT,
	MATCH_MARK,      /* u.mark: (mark & mask) == value */
	MATCH_CTMARK,
	MATCH_IIF,       /* u.name */
	MATCH_OIF,
	MATCH_FIB_SLOCAL, /* fib saddr type local (redo only) */
	MATCH_FIB_DLOCAL, /* fib daddr type local (redo only) */
	MATCH_CT_NEW,    /* ct state new (redo only) */
	MATCH_CT_ORIG,   /* ct direction original; neg = reply (redo only) */
	MATCH_DPORT_SET, /* th dport @u.name (redo only, port map) */
	MATCH_TCP_SYN,   /* tcp flags syn / syn,rst (redo only) */
	MATCH_OTHER,     /* u.name = original text */
};

struct match {
	enum match_kind kind;
	bool neg;
	union {
		uint8_t proto;
		int family;
		struct {
			int family;
			union {
				struct in_addr v4;
				struct in6_addr v6;
			};
			int plen;
		} addr;
		struct {
			uint8_t proto;
			uint16_t port;
		} port;
		struct {
			uint32_t value, mask;
		} mark;
		char name[64];
	} u;
};

enum act_kind {
	ACT_NONE,        /* no verdict: fall through (e.g. a counter only) */
	ACT_ACCEPT,
	ACT_RETURN,
	ACT_DROP,
	ACT_JUMP,        /* name = chain */
	ACT_REDIRECT,    /* port */
	ACT_CTMARK_OR,   /* value (redo only) */
	ACT_MARK_OR,     /* value (redo only) */
	ACT_MARK_SET,    /* mark = (mark & ~mask) | value (redo only) */
	ACT_DNAT_SELF,   /* identity dnat: a nat binding that changes nothing */
	ACT_SNAT4,       /* snat ip to value (network order; loopback direct calls) */
	ACT_MSS_CLAMP,   /* tcp option maxseg size set rt mtu (redo only) */
	ACT_OTHER,       /* name = original text */
};

struct action {
	enum act_kind kind;
	uint16_t port;
	uint32_t value, mask;
	bool then_accept; /* ACT_CTMARK_OR followed by accept */
	char name[96];
};

#define MAX_MATCHES 16

struct rule {
	int family;              /* AF_INET, AF_INET6, or AF_UNSPEC (inet) */
	char table[32];          /* iptables table or nft table name */
	char chain[64];
	int line;                /* source line, 0 for generated rules */
	int nmatch;
	struct match m[MAX_MATCHES];
	struct action act;
	bool counter;
	char text[256];          /* the source line, trimmed, for messages */
};

struct chain_decl {
	int family;
	char table[32];
	char chain[64];
	enum hook hook;          /* HOOK_NONE for user chains */
	bool nat;                /* base chain of type nat / iptables nat */
	int prio;
};

struct hpns_ruleset {
	char name[256];
	struct rule *rules;
	size_t nrules, cap;
	struct chain_decl *chains;
	size_t nchains, ccap;
};

/* ruleset.c */
struct rule *rs_add_rule(struct hpns_ruleset *rs);
struct chain_decl *rs_chain(struct hpns_ruleset *rs, int family,
			    const char *table, const char *chain, bool create);
const struct chain_decl *rs_chain_find(const struct hpns_ruleset *rs,
				       int family, const char *table,
				       const char *chain);
void report_fmt(hpns_report_fn report, void *arg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* parse_ipt.c / parse_nft.c: return number of errors reported. */
int parse_iptables(struct hpns_ruleset *rs, const char *text, size_t len,
		   hpns_report_fn report, void *arg);
int parse_nft(struct hpns_ruleset *rs, const char *text, size_t len,
	      hpns_report_fn report, void *arg);

/* redo rule sets (translate.c) */
struct redo_chain {
	char name[64];
	enum hook hook;          /* HOOK_NONE: regular chain */
	const char *type;        /* "filter", "nat", "route" */
	int prio;
};

struct hpns_redo {
	enum hpns_half half;
	char link[16];
	struct hpns_addrs pod;
	struct redo_chain *chains;
	size_t nchains;
	struct rule *rules;      /* rule.chain names a redo_chain */
	size_t nrules, cap;
	uint16_t dpu_ports[8];   /* ports the proxy owns (REDIRECT targets, 15008) */
	size_t ndpu_ports;
};

/*
 * Marks heteropod uses, outside Istio's 0xfff and away from common CNI
 * bits.  Connection marks: ORIG = the original direction goes over the
 * link; PEER = the connection arrived from the link (replies go back).
 * Packet mark FW routes a packet over the link (ip rule fwmark FW/FW).
 */
#define HP_CT_ORIG  0x01000000u
#define HP_CT_PEER  0x02000000u
#define HP_FW       0x04000000u
#define HP_TABLE    7340          /* routing table of the link route */
#define HP_RULE_PREF 90           /* fwmark rule, above the moved local rule */
#define HP_LOCAL_PREF 100         /* where the local-table rule moves to */
#define HP_NFT_TABLE "heteropod"
#define ISTIO_PROXY_MARK 0x539u
#define ISTIO_MARK_MASK  0xfffu

/* format.c: append nft text of a match / an action / a rule. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};
void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void fmt_rule(struct sbuf *b, const struct rule *r);
const char *hook_name(enum hook h);

#endif
