/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libhpnetns: one pod's network namespace realised as two halves.
 *
 * The CPU half is the pod netns the CNI made (app, external interface,
 * Istio's interception rules).  The DPU half holds the offloaded proxy's
 * sockets and carries the pod IP too.  A per-pod link joins them.  Istio's
 * rules are never edited: heteropod adds its own table `inet heteropod` in
 * each half whose rules re-do the interception ("redo rules"):
 *
 *   CPU half  classifies exactly as Istio's nat chains would (same matches,
 *             same order), but instead of REDIRECTing locally it marks the
 *             connection and routes it over the link, unchanged;
 *   DPU half  re-derives the same classification from the original matches
 *             (marks do not cross a netns boundary) and performs the
 *             REDIRECT there, so SO_ORIGINAL_DST is the real destination.
 *
 * Every operation on a half is one nftables batch plus rtnetlink requests
 * inside that half's namespace only; the root namespace is never touched.
 * Functions return 0 (or a count) on success and -errno on failure.
 * Diagnostics for humans go through an optional report callback, one line
 * per problem, formatted `FILE:LINE:COL: what is wrong, what is accepted`.
 */
#ifndef HPNETNS_H
#define HPNETNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One diagnostic line (no trailing newline); @arg is the caller's cookie. */
typedef void (*hpns_report_fn)(void *arg, const char *line);

enum hpns_half {
	HPNS_HALF_CPU,
	HPNS_HALF_DPU,
};

/* An IPv4 and/or IPv6 address (pod IP, link ends). */
struct hpns_addrs {
	int has_v4, has_v6;
	struct in_addr v4;
	struct in6_addr v6;
};

/* Parse "IP", "IPV6" or "IP,IPV6".  -EINVAL on anything else. */
int hpns_addrs_parse(const char *text, struct hpns_addrs *out);

/* --- rule sets --------------------------------------------------------- */

/*
 * A parsed interception rule set: iptables-restore text (optionally after
 * the `iptables-save`/`ip6tables-save` command lines of Istio's trace
 * format; two restore blocks = IPv4 then IPv6) or nft text (`add table|
 * chain|rule ...` lines as `nft -f` takes them).  The format is detected.
 */
struct hpns_ruleset;

/*
 * Parse @len bytes of @text; @name is used in diagnostics (a file name).
 * Every malformed line is reported; returns -EINVAL if any was, and then
 * *out is NULL.  The rule set owns copies of everything it needs.
 */
int hpns_ruleset_parse(const char *name, const char *text, size_t len,
		       hpns_report_fn report, void *arg,
		       struct hpns_ruleset **out);
/* Read @path ("-" = stdin) and parse it.  -errno on I/O errors. */
int hpns_ruleset_parse_file(const char *path, hpns_report_fn report,
			    void *arg, struct hpns_ruleset **out);
/*
 * Read the rules installed in @netns back from nf_tables (Istio's native
 * `inet istio-ambient-*` tables and iptables-nft's tables; heteropod's own
 * table is skipped; rules are named `netns:NAME:HANDLE: table T chain C
 * handle H` in refusals).  When nf_tables holds none, the iptables-legacy
 * nat and mangle tables that exist are read (getsockopt
 * IPT_SO_GET_ENTRIES) as iptables-legacy-save text, named
 * `netns:NAME:iptables-legacy:LINE`.  -ENOENT (and a report) when there
 * are none.
 */
int hpns_ruleset_from_netns(const char *netns, hpns_report_fn report,
			    void *arg, struct hpns_ruleset **out);
void hpns_ruleset_destroy(struct hpns_ruleset *rs);
/*
 * The rule set as a blob for the other PU of a host/DPU pair (the PU that
 * reads the CPU half's rules sends them with the DPU half's creation).
 * The layout is this build's (same release on both PUs); import validates
 * the header, sizes and every field and returns -EINVAL on anything else.
 * Export's *buf is malloc'd.  0 or -errno.
 */
int hpns_ruleset_export(const struct hpns_ruleset *rs, void **buf, size_t *len);
int hpns_ruleset_import(const void *buf, size_t len, struct hpns_ruleset **out);
/* Number of rules (not chain declarations) parsed. */
size_t hpns_ruleset_count(const struct hpns_ruleset *rs);

/* --- translation ------------------------------------------------------- */

/* How a half gets its end of the per-pod link. */
enum hpns_link_kind {
	HPNS_LINK_EXISTING,   /* conf->link already exists in the half (veth) */
	HPNS_LINK_GENEVE,     /* a GENEVE device over the interconnect */
	HPNS_LINK_VXLAN,      /* a VXLAN device over the interconnect */
};

/*
 * The per-pod link of a real host/DPU pair: each PU creates its own end, a
 * GENEVE or VXLAN device whose underlay socket lives in the namespace of
 * the calling thread (the PU's root namespace, which holds the
 * interconnect) and which is moved into the half as it is created (the
 * device never appears in the root namespace under its name).  Both PUs
 * use the same VNI for a pod and each other's interconnect address.
 */
struct hpns_tunnel {
	enum hpns_link_kind kind;
	uint32_t vni;             /* one per pod, 1..16777215 */
	struct hpns_addrs local;  /* this PU's interconnect address (one family) */
	struct hpns_addrs remote; /* the other PU's, same family */
	uint16_t dstport;         /* 0 = IANA default: 6081 GENEVE, 4789 VXLAN */
	int mtu;                  /* 0 = MTU of the device holding @local
				   * minus the encapsulation (50 v4, 70 v6) */
};

/* What a half needs to know to build its redo rules. */
struct hpns_half_conf {
	enum hpns_half half;
	const char *netns;        /* name under /var/run/netns or a path */
	const char *link;         /* this half's end of the per-pod link */
	struct hpns_addrs pod;    /* the pod IP(s) */
	struct hpns_addrs local;  /* this end's link addresses */
	struct hpns_addrs peer;   /* the other end's link addresses */
	struct hpns_tunnel tunnel; /* zero: the link exists (HPNS_LINK_EXISTING) */
};

/* The redo rules of one half: an nftables table and its routing needs. */
struct hpns_redo;

/*
 * Translate @rs for @conf->half (half, link, pod and, for loopback direct
 * calls, local are used; without local.v4 127.0.0.1 stays in its half).  Each
 * rule that cannot be re-done faithfully is reported as `FILE:LINE: reason`
 * naming the rule; returns -EOPNOTSUPP if any was (then *out is NULL).
 */
int hpns_translate(const struct hpns_ruleset *rs,
		   const struct hpns_half_conf *conf,
		   hpns_report_fn report, void *arg, struct hpns_redo **out);
/* The redo rules as `nft -f` text (malloc'd, caller frees). */
char *hpns_redo_format(const struct hpns_redo *redo);
/* Number of redo rules (for tests and logs). */
size_t hpns_redo_count(const struct hpns_redo *redo);
void hpns_redo_destroy(struct hpns_redo *redo);

/* --- per-half operations (the primitive a host/DPU pair calls) ---------- */

/*
 * Configure one half.  With @conf->tunnel.kind HPNS_LINK_EXISTING the link
 * @conf->link must already exist in @conf->netns; with GENEVE/VXLAN it is
 * created first, from the calling thread's namespace (see struct
 * hpns_tunnel; an existing device of that name is kept), and deleted
 * again if configuring fails.  Brings it up, adds the link and (DPU) pod addresses,
 * routes, policy rules (moves the local-table rule below heteropod's),
 * sysctls, and installs @redo as one nftables batch (replacing a previous
 * heteropod table atomically).  Idempotent.  The previous values of
 * everything changed are recorded in the namespace itself, so
 * hpns_half_unconfigure() works after a crash.
 */
int hpns_half_configure(const struct hpns_half_conf *conf,
			const struct hpns_redo *redo);
/*
 * Undo hpns_half_configure() in @netns: delete the heteropod table, rules,
 * routes and addresses, restore sysctls and the local rule, and delete
 * the link if hpns_half_configure() created it (a tunnel; its underlay
 * socket in the PU's namespace goes with it).  On a link it did not
 * create, the host (/32, /128) addresses are removed: those are the ones
 * configure adds, so the link is left as its maker left it.  Rules not added by
 * heteropod are left exactly as they are.  Safe when nothing is
 * configured (returns 0).
 */
int hpns_half_unconfigure(const char *netns, const char *link);

/* Parse "geneve", "vxlan" or "veth" (= HPNS_LINK_EXISTING).  -EINVAL. */
int hpns_link_kind_parse(const char *text, enum hpns_link_kind *out);

/*
 * The port map seen from one half alone (a PU knows only its own half):
 * the ports this half sends to the other half (its `peer_tcp`/`peer_udp`
 * sets), and the ports listening here (sock_diag), which the other PU adds
 * to its sets.  @proto is IPPROTO_TCP or IPPROTO_UDP.  Counts or -errno.
 */
int hpns_half_ports_get(const char *netns, uint8_t proto, uint16_t *ports,
			size_t max);
int hpns_half_ports_set(const char *netns, uint8_t proto,
			const uint16_t *ports, size_t n, bool add);
int hpns_half_listening(const char *netns, uint8_t proto, uint16_t *ports,
			size_t max);

/* --- both halves on one machine (veth link) ----------------------------- */

/*
 * Create the veth link between @cpu_ns and @dpu_ns (if absent), translate
 * @rs for both halves and configure each (DPU half first); the rules are
 * live when it returns.  Idempotent.  The port map then holds the proxy's
 * ports; call hpns_ports_sync() to add the listeners already running.
 */
int hpns_split(const char *cpu_ns, const char *dpu_ns,
	       const struct hpns_addrs *pod, const struct hpns_ruleset *rs,
	       hpns_report_fn report, void *arg);
/* Unconfigure both halves and delete the link.  Safe to repeat. */
int hpns_unsplit(const char *cpu_ns, const char *dpu_ns);

/* Default link name used by hpns_split(). */
#define HPNS_LINK_NAME "hpn0"
/* The link addresses hpns_split() gives @half's end and its peer
 * (169.254.73.1/.2 and fd68:706e:73::1/::2, CPU first). */
void hpns_link_defaults(enum hpns_half half, struct hpns_addrs *local,
			struct hpns_addrs *peer);

/* --- port map ----------------------------------------------------------- */

/*
 * Which half owns a port of the pod IP / localhost.  Each half keeps the
 * ports the *other* half owns in named nftables sets (`peer_tcp`,
 * `peer_udp` in table `inet heteropod`); updates change set elements only.
 */
struct hpns_port {
	uint8_t proto;            /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;
	enum hpns_half owner;
};

/* The port map of a split pod, sorted by (proto, port).  Free with free(). */
int hpns_ports_list(const char *cpu_ns, const char *dpu_ns,
		    struct hpns_port **ports, size_t *n);
/* Declare @p owned by @p->owner (one batch per half).  Idempotent. */
int hpns_ports_set(const char *cpu_ns, const char *dpu_ns,
		   const struct hpns_port *p);
/*
 * Rescan listening TCP and bound UDP sockets of both halves (sock_diag):
 * add the ports listening in a half that are not mapped yet, and remove
 * the ports an earlier sync added that no longer listen in the half that
 * owned them (set elements with the comment "sync"; ports declared by the
 * rules or hpns_ports_set() are never removed by a sync).  Returns the
 * number of ports added plus removed.
 */
int hpns_ports_sync(const char *cpu_ns, const char *dpu_ns);

#endif
