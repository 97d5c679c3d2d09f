// SPDX-License-Identifier: GPL-2.0
/*
 * heteropod-netns: operator CLI of libhpnetns.
 *
 *   heteropod-netns translate --half cpu|dpu --pod-ip IP[,IPV6] [--link IF] [FILE|-]
 *   heteropod-netns split --cpu NETNS --dpu NETNS --pod-ip IP[,IPV6] [--rules FILE]
 *   heteropod-netns unsplit --cpu NETNS --dpu NETNS
 *   heteropod-netns ports --cpu NETNS --dpu NETNS [--sync]
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
	int sync, help;
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
	"  installed in the CPU half are read from nf_tables (Istio's native\n"
	"  tables or iptables-nft; not iptables-legacy).  NETNS: a name under\n"
	"  /var/run/netns or a path such as /proc/PID/ns/net.\n",
	"unsplit",
	"usage: heteropod-netns unsplit --cpu NETNS --dpu NETNS\n"
	"  Remove everything heteropod added to both halves; safe to repeat.\n",
	"ports",
	"usage: heteropod-netns ports --cpu NETNS --dpu NETNS [--sync]\n"
	"  Print the port map (proto port owner); --sync rescans listening\n"
	"  sockets of both halves (sock_diag) and updates it first.\n",
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
	if (o->rules) {
		ret = load_rules(o->rules, &rs);
		if (ret)
			return ret;
	} else {
		ret = hpns_ruleset_from_netns(o->cpu, to_stderr, NULL, &rs);
		if (ret) {
			if (ret != -ENOENT)
				fprintf(stderr, "heteropod-netns: reading rules of %s: %s\n",
					o->cpu, strerror(-ret));
			return 1;
		}
	}
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

static int cmd_ports(struct opts *o)
{
	struct hpns_port *p = NULL;
	size_t n = 0;
	int ret;

	if (!o->cpu || !o->dpu)
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
	fprintf(stderr, "heteropod-netns: unknown command '%s'\n", cmd);
	return usage(NULL, stderr, 2);
}
