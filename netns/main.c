// SPDX-License-Identifier: GPL-2.0
/*
 * heteropod-netns: operator CLI of libhpnetns.
 *
 *   heteropod-netns translate --half cpu|dpu --pod-ip IP[,IPV6] [--link IF] [FILE|-]
 *   heteropod-netns split --cpu NETNS --dpu NETNS --pod-ip IP[,IPV6] [--rules FILE]
 *   heteropod-netns unsplit --cpu NETNS --dpu NETNS
 *   heteropod-netns ports --cpu NETNS --dpu NETNS [--sync]
 *   heteropod-netns half --half cpu|dpu --netns NETNS --pod-ip IP[,IPV6]
 *           [--link IF] [--link-kind veth|geneve|vxlan --vni N
 *           --underlay-local IP --underlay-remote IP [--dstport N] [--mtu N]]
 *           [--rules FILE]
 *   heteropod-netns unhalf --netns NETNS [--link IF]
 *   heteropod-netns ports --netns NETNS [--add P/N,..] [--del P/N,..] [--listening]
 *
 * Exit status: 0 success, 1 operational error, 2 usage error or rules that
 * cannot be translated (one `FILE:LINE: reason` line each on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netns/hpnetns.h"

struct opts {
	const char *half, *pod_ip, *link, *cpu, *dpu, *rules, *file;
	const char *netns, *kind, *vni, *ul_local, *ul_remote, *dstport, *mtu;
	const char *add, *del;
	int sync, help, listening;
};

static void to_stderr(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "%s\n", line);
}

static const char *const usage_text[] = {
	"translate",
	"usage: heteropod-netns translate --half cpu|dpu --pod-ip IP[,IPV6] "
	"[--link IFNAME] [FILE|-]\n"
	"  Read an interception rule set (iptables-restore text, or nft text)\n"
	"  and print the redo rules heteropod installs in that half (nft -f).\n"
	"  Exit 2 with FILE:LINE: reason for each rule it cannot translate.\n",
	"split",
	"usage: heteropod-netns split --cpu NETNS --dpu NETNS --pod-ip IP[,IPV6] "
	"[--rules FILE]\n"
	"  Create the link, addresses, routes, rules, sysctls and port-map sets\n"
	"  in both halves (idempotent).  Without --rules, the interception rules\n"
	"  installed in the CPU half are read from the kernel: nf_tables (Istio's\n"
	"  native tables or iptables-nft), else iptables-legacy.  NETNS: a name\n"
	"  under /var/run/netns or a path such as /proc/PID/ns/net.\n",
	"unsplit",
	"usage: heteropod-netns unsplit --cpu NETNS --dpu NETNS\n"
	"  Remove everything heteropod added to both halves; safe to repeat.\n",
	"ports",
	"usage: heteropod-netns ports --cpu NETNS --dpu NETNS [--sync]\n"
	"       heteropod-netns ports --netns NETNS [--add PROTO/PORT[,...]]\n"
	"                             [--del PROTO/PORT[,...]] [--listening]\n"
	"  Print the port map (proto port owner); --sync rescans listening\n"
	"  sockets of both halves (sock_diag) and updates it first: adds the\n"
	"  ports now listening, removes those no longer listening in their owner.\n"
	"  With --netns (one half, as a PU sees it): print the ports this half\n"
	"  sends to the other half (proto port), after --add/--del (e.g.\n"
	"  tcp/9080,udp/53); --listening prints this half's listening ports\n"
	"  instead, which the other PU adds to its half.\n",
	"half",
	"usage: heteropod-netns half --half cpu|dpu --netns NETNS --pod-ip IP[,IPV6]\n"
	"         [--link IFNAME] [--link-kind veth|geneve|vxlan --vni N\n"
	"         --underlay-local IP --underlay-remote IP [--dstport N] [--mtu N]]\n"
	"         [--rules FILE]\n"
	"  Configure one half on its own, as each PU of a host/DPU pair does.\n"
	"  --link-kind veth (default): the link IFNAME (default hpn0) exists in\n"
	"  NETNS.  geneve|vxlan: create it, one device per pod (VNI N, the same\n"
	"  on both PUs), from the namespace this command runs in (the PU's root\n"
	"  namespace, which holds the interconnect address --underlay-local;\n"
	"  --underlay-remote is the other PU's) directly into NETNS.  UDP port\n"
	"  --dstport (default 6081 geneve, 4789 vxlan); MTU --mtu, default the\n"
	"  underlay device's minus 50 (IPv4) or 70 (IPv6).  Link addresses:\n"
	"  169.254.73.1 (cpu) / .2 (dpu), fd68:706e:73::1 / ::2.  Without\n"
	"  --rules the rules installed in NETNS are read (a CPU half).\n"
	"  Configure the DPU half first.  Idempotent.\n",
	"unhalf",
	"usage: heteropod-netns unhalf --netns NETNS [--link IFNAME]\n"
	"  Undo `half` in NETNS; delete the link if `half` created it (a tunnel,\n"
	"  with its socket in the PU's namespace).  Safe to repeat, and when\n"
	"  NETNS is gone (the kernel deleted the device with it).\n",
};

static int usage(const char *cmd, FILE *f, int status)
{
	for (size_t i = 0; i < sizeof(usage_text) / sizeof(usage_text[0]); i += 2)
		if (!cmd || !strcmp(cmd, usage_text[i]))
			fputs(usage_text[i + 1], f);
	return status;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "half", required_argument, NULL, 'h' },
		{ "pod-ip", required_argument, NULL, 'p' },
		{ "link", required_argument, NULL, 'l' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "dpu", required_argument, NULL, 'd' },
		{ "rules", required_argument, NULL, 'r' },
		{ "sync", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'H' },
		{ "netns", required_argument, NULL, 'n' },
		{ "link-kind", required_argument, NULL, 'k' },
		{ "vni", required_argument, NULL, 'v' },
		{ "underlay-local", required_argument, NULL, 'L' },
		{ "underlay-remote", required_argument, NULL, 'R' },
		{ "dstport", required_argument, NULL, 'P' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "add", required_argument, NULL, 'a' },
		{ "del", required_argument, NULL, 'D' },
		{ "listening", no_argument, NULL, 'S' },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': o->half = optarg; break;
		case 'p': o->pod_ip = optarg; break;
		case 'l': o->link = optarg; break;
		case 'c': o->cpu = optarg; break;
		case 'd': o->dpu = optarg; break;
		case 'r': o->rules = optarg; break;
		case 's': o->sync = 1; break;
		case 'H': o->help = 1; break;
		case 'n': o->netns = optarg; break;
		case 'k': o->kind = optarg; break;
		case 'v': o->vni = optarg; break;
		case 'L': o->ul_local = optarg; break;
		case 'R': o->ul_remote = optarg; break;
		case 'P': o->dstport = optarg; break;
		case 'm': o->mtu = optarg; break;
		case 'a': o->add = optarg; break;
		case 'D': o->del = optarg; break;
		case 'S': o->listening = 1; break;
		default: return -EINVAL;
		}
	}
	if (optind < argc)
		o->file = argv[optind++];
	return optind < argc ? -EINVAL : 0;
}

static int load_rules(const char *path, struct hpns_ruleset **rs)
{
	int ret = hpns_ruleset_parse_file(path, to_stderr, NULL, rs);

	if (ret == -EINVAL)
		return 2;
	if (ret) {
		fprintf(stderr, "heteropod-netns: %s: %s\n", path, strerror(-ret));
		return 1;
	}
	return 0;
}

static int cmd_translate(struct opts *o)
{
	struct hpns_half_conf conf = { .link = o->link ? o->link : HPNS_LINK_NAME };
	struct hpns_ruleset *rs = NULL;
	struct hpns_redo *redo = NULL;
	char *text;
	int ret;

	if (!o->half || !o->pod_ip || (strcmp(o->half, "cpu") && strcmp(o->half, "dpu")))
		return usage("translate", stderr, 2);
	conf.half = o->half[0] == 'c' ? HPNS_HALF_CPU : HPNS_HALF_DPU;
	hpns_link_defaults(conf.half, &conf.local, &conf.peer);  /* as split */
	if (hpns_addrs_parse(o->pod_ip, &conf.pod)) {
		fprintf(stderr, "heteropod-netns: bad --pod-ip '%s', accepted: IP[,IPV6]\n",
			o->pod_ip);
		return 2;
	}
	ret = load_rules(o->file ? o->file : "-", &rs);
	if (ret)
		return ret;
	ret = hpns_translate(rs, &conf, to_stderr, NULL, &redo);
	hpns_ruleset_destroy(rs);
	if (ret)
		return ret == -EOPNOTSUPP ? 2 : 1;
	text = hpns_redo_format(redo);
	hpns_redo_destroy(redo);
	if (!text)
		return 1;
	fputs(text, stdout);
	free(text);
	return 0;
}

/* From --rules FILE, else from the kernel of @ns.  0, or an exit status. */
static int read_rules(const char *rules, const char *ns,
		      struct hpns_ruleset **rs)
{
	int ret;

	if (rules)
		return load_rules(rules, rs);
	ret = hpns_ruleset_from_netns(ns, to_stderr, NULL, rs);
	if (ret && ret != -ENOENT)
		fprintf(stderr, "heteropod-netns: reading rules of %s: %s\n",
			ns, strerror(-ret));
	return ret ? 1 : 0;
}

static int bad(const char *opt, const char *val, const char *accepted)
{
	fprintf(stderr, "heteropod-netns: bad %s '%s', accepted: %s\n", opt, val,
		accepted);
	return 2;
}

/* A decimal number in [lo, hi], or -1. */
static long number(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	return !*s || *end || errno || v < lo || v > hi ? -1 : v;
}

/* One IPv4 or IPv6 address. */
static int one_addr(const char *opt, const char *val, struct hpns_addrs *a)
{
	if (hpns_addrs_parse(val, a) || a->has_v4 == a->has_v6)
		return bad(opt, val, "one IPv4 or IPv6 address");
	return 0;
}

/* The tunnel options of `half`: 0, or an exit status. */
static int half_tunnel(const struct opts *o, struct hpns_tunnel *t)
{
	long v;
	int ret;

	if (o->kind && hpns_link_kind_parse(o->kind, &t->kind))
		return bad("--link-kind", o->kind, "veth, geneve, vxlan");
	if (t->kind == HPNS_LINK_EXISTING)
		return o->vni || o->ul_local || o->ul_remote || o->dstport || o->mtu ?
		       bad("--link-kind", o->kind ? o->kind : "veth",
			   "geneve or vxlan with tunnel options") : 0;
	if (!o->vni || !o->ul_local || !o->ul_remote)
		return usage("half", stderr, 2);
	v = number(o->vni, 1, 0xffffff);
	if (v < 0)
		return bad("--vni", o->vni, "1..16777215");
	t->vni = (uint32_t)v;
	ret = one_addr("--underlay-local", o->ul_local, &t->local) ?:
	      one_addr("--underlay-remote", o->ul_remote, &t->remote);
	if (ret)
		return ret;
	if (t->local.has_v4 != t->remote.has_v4)
		return bad("--underlay-remote", o->ul_remote,
			   "an address of --underlay-local's family");
	v = o->dstport ? number(o->dstport, 1, 65535) : 0;
	if (v < 0)
		return bad("--dstport", o->dstport, "1..65535");
	t->dstport = (uint16_t)v;
	v = o->mtu ? number(o->mtu, 576, 65535) : 0;
	if (v < 0)
		return bad("--mtu", o->mtu, "576..65535");
	t->mtu = (int)v;
	return 0;
}

static int cmd_half(struct opts *o)
{
	struct hpns_half_conf c = {
		.netns = o->netns, .link = o->link ? o->link : HPNS_LINK_NAME,
	};
	struct hpns_ruleset *rs = NULL;
	struct hpns_redo *redo = NULL;
	int ret;

	if (!o->half || !o->netns || !o->pod_ip ||
	    (strcmp(o->half, "cpu") && strcmp(o->half, "dpu")))
		return usage("half", stderr, 2);
	c.half = o->half[0] == 'c' ? HPNS_HALF_CPU : HPNS_HALF_DPU;
	if (hpns_addrs_parse(o->pod_ip, &c.pod))
		return bad("--pod-ip", o->pod_ip, "IP[,IPV6]");
	ret = half_tunnel(o, &c.tunnel) ?: read_rules(o->rules, o->netns, &rs);
	if (ret)
		return ret;
	hpns_link_defaults(c.half, &c.local, &c.peer);
	ret = hpns_translate(rs, &c, to_stderr, NULL, &redo);
	hpns_ruleset_destroy(rs);
	if (ret == -EOPNOTSUPP)
		return 2;
	ret = ret ?: hpns_half_configure(&c, redo);
	hpns_redo_destroy(redo);
	if (ret == -EADDRNOTAVAIL && c.tunnel.kind != HPNS_LINK_EXISTING)
		fprintf(stderr, "heteropod-netns: half: --underlay-local %s is not "
			"an address of this namespace\n", o->ul_local);
	else if (ret)
		fprintf(stderr, "heteropod-netns: half %s: %s\n", o->netns,
			strerror(-ret));
	return ret ? 1 : 0;
}

static int cmd_unhalf(struct opts *o)
{
	int ret;

	if (!o->netns)
		return usage("unhalf", stderr, 2);
	ret = hpns_half_unconfigure(o->netns, o->link ? o->link : HPNS_LINK_NAME);
	if (ret == -ENOENT)   /* the namespace is gone, and its devices with it */
		ret = 0;
	if (ret)
		fprintf(stderr, "heteropod-netns: unhalf %s: %s\n", o->netns,
			strerror(-ret));
	return ret ? 1 : 0;
}

static int cmd_split(struct opts *o)
{
	struct hpns_ruleset *rs = NULL;
	struct hpns_addrs pod;
	int ret;

	if (!o->cpu || !o->dpu || !o->pod_ip)
		return usage("split", stderr, 2);
	if (hpns_addrs_parse(o->pod_ip, &pod)) {
		fprintf(stderr, "heteropod-netns: bad --pod-ip '%s'\n", o->pod_ip);
		return 2;
	}
	ret = read_rules(o->rules, o->cpu, &rs);
	if (ret)
		return ret;
	ret = hpns_split(o->cpu, o->dpu, &pod, rs, to_stderr, NULL);
	hpns_ruleset_destroy(rs);
	if (ret == -EOPNOTSUPP)
		return 2;
	if (!ret)
		ret = hpns_ports_sync(o->cpu, o->dpu);
	ret = ret < 0 ? ret : 0;
	if (ret)
		fprintf(stderr, "heteropod-netns: split: %s\n", strerror(-ret));
	return ret ? 1 : 0;
}

static int cmd_unsplit(struct opts *o)
{
	int ret;

	if (!o->cpu || !o->dpu)
		return usage("unsplit", stderr, 2);
	ret = hpns_unsplit(o->cpu, o->dpu);
	if (ret)
		fprintf(stderr, "heteropod-netns: unsplit: %s\n", strerror(-ret));
	return ret ? 1 : 0;
}

#define MAX_LIST 1024

struct port_list {
	uint16_t tcp[MAX_LIST], udp[MAX_LIST];
	size_t ntcp, nudp;
};

/* "tcp/9080,udp/53" -> @l.  0, or an exit status. */
static int port_list(const char *opt, const char *text, struct port_list *l)
{
	char buf[4096], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", text);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool tcp = !strncmp(tok, "tcp/", 4);
		long v = tcp || !strncmp(tok, "udp/", 4) ? number(tok + 4, 1, 65535) : -1;

		if (v < 0 || l->ntcp >= MAX_LIST || l->nudp >= MAX_LIST)
			return bad(opt, tok, "tcp/PORT or udp/PORT, comma-separated");
		if (tcp)
			l->tcp[l->ntcp++] = (uint16_t)v;
		else
			l->udp[l->nudp++] = (uint16_t)v;
	}
	return 0;
}

static int half_ports_apply(const char *ns, const struct port_list *l, bool add)
{
	int ret = hpns_half_ports_set(ns, IPPROTO_TCP, l->tcp, l->ntcp, add);

	return ret ?: hpns_half_ports_set(ns, IPPROTO_UDP, l->udp, l->nudp, add);
}

static int half_ports_print(const struct opts *o)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	uint16_t p[MAX_LIST];

	for (int i = 0; i < 2; i++) {
		int n = o->listening ? hpns_half_listening(o->netns, protos[i], p, MAX_LIST)
				     : hpns_half_ports_get(o->netns, protos[i], p, MAX_LIST);

		if (n < 0)
			return n;
		for (int j = 0; j < n; j++)
			printf("%s %u\n", i ? "udp" : "tcp", p[j]);
	}
	return 0;
}

/* `ports --netns NS`: one half's view (see usage). */
static int cmd_half_ports(struct opts *o)
{
	static struct port_list add, del;
	int ret;

	ret = (o->add ? port_list("--add", o->add, &add) : 0) ?:
	      (o->del ? port_list("--del", o->del, &del) : 0);
	if (ret)
		return ret;
	ret = half_ports_apply(o->netns, &add, true) ?:
	      half_ports_apply(o->netns, &del, false) ?: half_ports_print(o);
	if (ret)
		fprintf(stderr, "heteropod-netns: ports %s: %s\n", o->netns,
			strerror(-ret));
	return ret ? 1 : 0;
}

static int cmd_ports(struct opts *o)
{
	struct hpns_port *p = NULL;
	size_t n = 0;
	int ret;

	if (o->netns && !o->cpu && !o->dpu && !o->sync)
		return cmd_half_ports(o);
	if (!o->cpu || !o->dpu || o->netns || o->add || o->del || o->listening)
		return usage("ports", stderr, 2);
	if (o->sync) {
		ret = hpns_ports_sync(o->cpu, o->dpu);
		if (ret < 0) {
			fprintf(stderr, "heteropod-netns: ports --sync: %s\n",
				strerror(-ret));
			return 1;
		}
	}
	ret = hpns_ports_list(o->cpu, o->dpu, &p, &n);
	if (ret) {
		fprintf(stderr, "heteropod-netns: ports: %s\n", strerror(-ret));
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s %u %s\n", p[i].proto == IPPROTO_TCP ? "tcp" : "udp",
		       p[i].port, p[i].owner == HPNS_HALF_CPU ? "cpu" : "dpu");
	free(p);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd || !strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
		return usage(NULL, cmd ? stdout : stderr, cmd ? 0 : 2);
	if (parse_opts(argc - 1, argv + 1, &o))
		return usage(cmd, stderr, 2);
	if (o.help)
		return usage(cmd, stdout, 0);
	if (!strcmp(cmd, "translate"))
		return cmd_translate(&o);
	if (!strcmp(cmd, "split"))
		return cmd_split(&o);
	if (!strcmp(cmd, "unsplit"))
		return cmd_unsplit(&o);
	if (!strcmp(cmd, "ports"))
		return cmd_ports(&o);
	if (!strcmp(cmd, "half"))
		return cmd_half(&o);
	if (!strcmp(cmd, "unhalf"))
		return cmd_unhalf(&o);
	fprintf(stderr, "heteropod-netns: unknown command '%s'\n", cmd);
	return usage(NULL, stderr, 2);
}
