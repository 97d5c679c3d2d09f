// SPDX-License-Identifier: GPL-2.0
/* heteropod-agent: command line (run, status, --help). */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "offloader/agent.h"
#include "offloader/state.h"

static const char usage[] =
"usage:\n"
"  heteropod-agent run --role host|dpu --node NAME\n"
"                      (--kubeconfig FILE | --in-cluster | --local DIR)\n"
"                      [--config FILE] [--state-dir DIR] [--listen ADDR:PORT]\n"
"                      [--peer ADDR:PORT] [--cni-zds PATH] [--zds-socket PATH]\n"
"                      [--extender URL]\n"
"  heteropod-agent status [--state-dir DIR] [--json]\n"
"  heteropod-agent --help\n"
"\n"
"run options:\n"
"  --role host|dpu      host: the node's host CPU; dpu: that node's DPU\n"
"  --node NAME          this node's Kubernetes name\n"
"  --kubeconfig FILE    API access from a kubeconfig (current-context)\n"
"  --in-cluster         API access from the pod's service account\n"
"  --local DIR          no cluster: Namespace/Node/Pod YAML manifests in DIR,\n"
"                       watched with inotify (heteropod.io/netns honoured)\n"
"  --config FILE        YAML config (keys below); flags override it\n"
"  --state-dir DIR      checkpoint directory (default /var/lib/heteropod)\n"
"  --listen ADDR:PORT   serve /healthz, /readyz, /metrics\n"
"  --peer ADDR:PORT     the peer link: the dpu listens, the host connects\n"
"  --cni-zds PATH       host: istio-cni's ZDS socket to relay from\n"
"                       (default /var/run/ztunnel/ztunnel.sock; in local mode\n"
"                       only when given)\n"
"  --zds-socket PATH    dpu: ZDS socket for the DPU's ztunnel\n"
"                       (default /var/run/ztunnel/ztunnel.sock)\n"
"  --extender URL       push this PU's images, fork templates and DPU state to\n"
"                       heteropod-extender\n"
"                       (http://HOST:PORT[/PATH]; path default /v1/state)\n"
"status options:\n"
"  --state-dir DIR      as for run\n"
"  --json               the checkpoint as JSON instead of a table\n"
"\n"
"labels and annotations read: heteropod.io/offload (all|waypoint|none),\n"
"  heteropod.io/chain=NAME (FaaS chain member, label or annotation),\n"
"  heteropod.io/template=NAME (a Running pod: a warm fork template held here)\n";

static void print_config_keys(FILE *out)
{
	const struct hp_cfg_field *f;

	fprintf(out, "\nconfig file keys (YAML; dotted keys are nested mappings):\n");
	for (f = agent_cfg_fields; f->key; f++)
		fprintf(out, "  %-26s %s\n", f->key, f->help);
}

static int help(FILE *out, int code)
{
	fputs(usage, out);
	print_config_keys(out);
	return code;
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
}

enum {
	OPT_ROLE = 256, OPT_NODE, OPT_KUBECONFIG, OPT_IN_CLUSTER, OPT_LOCAL, OPT_CONFIG,
	OPT_STATE_DIR, OPT_LISTEN, OPT_PEER, OPT_CNI_ZDS, OPT_ZDS_SOCKET, OPT_EXTENDER, OPT_JSON,
	OPT_HELP,
};

static const struct option long_opts[] = {
	{ "role", required_argument, NULL, OPT_ROLE },
	{ "node", required_argument, NULL, OPT_NODE },
	{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
	{ "in-cluster", no_argument, NULL, OPT_IN_CLUSTER },
	{ "local", required_argument, NULL, OPT_LOCAL },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "peer", required_argument, NULL, OPT_PEER },
	{ "cni-zds", required_argument, NULL, OPT_CNI_ZDS },
	{ "zds-socket", required_argument, NULL, OPT_ZDS_SOCKET },
	{ "extender", required_argument, NULL, OPT_EXTENDER },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct cli {
	struct agent_opts o;
	const char *config;
	bool json, cni_given, help;
	int sources;
	/* flags seen, applied over the config file */
	const char *flag[OPT_HELP - OPT_ROLE + 1];
};

static int parse(struct cli *c, int argc, char **argv)
{
	int opt;

	while ((opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (opt == 'h' || opt == OPT_HELP) {
			c->help = true;
			continue;
		}
		if (opt < OPT_ROLE)
			return -EINVAL;
		c->flag[opt - OPT_ROLE] = optarg ? optarg : "";
		if (opt == OPT_KUBECONFIG || opt == OPT_IN_CLUSTER || opt == OPT_LOCAL)
			c->sources++;
		if (opt == OPT_CONFIG)
			c->config = optarg;
		if (opt == OPT_JSON)
			c->json = true;
		if (opt == OPT_CNI_ZDS)
			c->cni_given = true;
	}
	return optind == argc ? 0 : -EINVAL;
}

/* Flags override the config file. */
static int apply_flags(struct cli *c)
{
	struct agent_opts *o = &c->o;
	const char **f = c->flag;

#define FLAG(id) f[(id) - OPT_ROLE]
	if (FLAG(OPT_ROLE)) {
		o->role = !strcmp(FLAG(OPT_ROLE), "host") ? AGENT_ROLE_HOST :
			  !strcmp(FLAG(OPT_ROLE), "dpu") ? AGENT_ROLE_DPU : -1;
		if (o->role < 0) {
			fprintf(stderr, "heteropod-agent: --role \"%s\" is not valid; "
				"accepted: host, dpu\n", FLAG(OPT_ROLE));
			return -EINVAL;
		}
	}
	if (FLAG(OPT_NODE)) set_str(&o->node, FLAG(OPT_NODE));
	if (FLAG(OPT_KUBECONFIG)) set_str(&o->kubeconfig, FLAG(OPT_KUBECONFIG));
	if (FLAG(OPT_LOCAL)) set_str(&o->local_dir, FLAG(OPT_LOCAL));
	if (FLAG(OPT_STATE_DIR)) set_str(&o->state_dir, FLAG(OPT_STATE_DIR));
	if (FLAG(OPT_LISTEN)) set_str(&o->listen, FLAG(OPT_LISTEN));
	if (FLAG(OPT_PEER)) set_str(&o->peer, FLAG(OPT_PEER));
	if (FLAG(OPT_CNI_ZDS)) set_str(&o->cni_zds, FLAG(OPT_CNI_ZDS));
	if (FLAG(OPT_ZDS_SOCKET)) set_str(&o->zds_socket, FLAG(OPT_ZDS_SOCKET));
	if (FLAG(OPT_EXTENDER)) set_str(&o->extender, FLAG(OPT_EXTENDER));
	o->in_cluster = FLAG(OPT_IN_CLUSTER) != NULL;
#undef FLAG
	return 0;
}

static int check_run(struct cli *c)
{
	const char *why = NULL;

	if (c->o.role < 0)
		why = "--role host|dpu is required";
	else if (!c->o.node || !*c->o.node)
		why = "--node NAME is required";
	else if (c->sources != 1)
		why = "exactly one of --kubeconfig, --in-cluster, --local is required";
	if (why)
		fprintf(stderr, "heteropod-agent run: %s\n", why);
	/* In local mode there is no istio-cni unless one is named. */
	if (!why && c->o.local_dir && !c->cni_given) {
		free(c->o.cni_zds);
		c->o.cni_zds = NULL;
	}
	if (!why && c->o.role == AGENT_ROLE_DPU) {
		free(c->o.cni_zds);
		c->o.cni_zds = NULL;
	}
	return why ? -EINVAL : 0;
}

static int cmd_run(struct cli *c)
{
	enum hp_log_level lvl = HP_LOG_INFO;
	char err[1024];
	int ret;

	if (c->config && hp_cfg_load_file(c->config, agent_cfg_fields, &c->o, err,
					  sizeof(err))) {
		fprintf(stderr, "heteropod-agent: %s\n", err);
		return 2;
	}
	if (apply_flags(c) || check_run(c))
		return 2;
	if (hp_log_parse_level(c->o.log_level, &lvl))
		fprintf(stderr, "heteropod-agent: log-level \"%s\" is not valid; accepted: "
			"error, warn, info, debug\n", c->o.log_level);
	hp_log_init("heteropod-agent", lvl);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ret = agent_run(&c->o, err, sizeof(err));
	if (ret)
		hp_err("fatal", "error=\"%s\"", err);
	curl_global_cleanup();
	return ret ? 1 : 0;
}

static int cmd_status(struct cli *c)
{
	char err[1024];
	json_t *doc;
	int ret;

	if (apply_flags(c))
		return 2;
	doc = agent_checkpoint_read(c->o.state_dir, &ret, err, sizeof(err));
	if (!doc) {
		fprintf(stderr, "heteropod-agent status: %s%s\n", err,
			ret == -ENOENT ? " (has the agent run with this --state-dir?)" : "");
		return 1;
	}
	agent_status_print(stdout, doc, c->json);
	json_decref(doc);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	const char *cmd = argc > 1 ? argv[1] : "";
	int ret;

	agent_opts_defaults(&c.o);
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
		return help(stdout, 0);
	if (strcmp(cmd, "run") && strcmp(cmd, "status"))
		return help(stderr, 2);
	if (parse(&c, argc - 1, argv + 1))
		return help(stderr, 2);
	if (c.help)
		return help(stdout, 0);
	ret = !strcmp(cmd, "run") ? cmd_run(&c) : cmd_status(&c);
	hp_cfg_free(agent_cfg_fields, &c.o);
	free(c.o.kubeconfig);
	free(c.o.local_dir);
	return ret;
}
