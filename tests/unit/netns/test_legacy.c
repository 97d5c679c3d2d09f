// SPDX-License-Identifier: GPL-2.0
/*
 * iptables-legacy rules read from the kernel (getsockopt IPT_SO_GET_ENTRIES).
 * For every iptables in-pod golden but hostprobe (it needs ipsets), installed
 * with iptables-legacy-restore
 * (as istio-cni does on a legacy node) in a fresh namespace:
 *  - legacy_dump() prints the nat tables exactly as iptables-legacy-save;
 *  - hpns_ruleset_from_netns() gives the redo rules the golden file gives,
 *    for both halves.
 * Needs root (skipped otherwise); runs iptables-legacy-restore/-save.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/netns.h"
#include "netns/legacy.h"
#include "netns/nl.h"
#include "netns/rules.h"

static const char *shared(void)
{
	const char *s = getenv("SHARED");

	return s ? s : "../shared";
}

/* Split a golden into the IPv4 and IPv6 restore inputs, as istio-cni
 * feeds them (the trace's command lines dropped). */
static void split_golden(const char *path, const char *v4, const char *v6)
{
	FILE *in = fopen(path, "r"), *o4 = fopen(v4, "w"), *o6 = fopen(v6, "w");
	char line[1024], seen[8][32] = { { 0 } };
	int nseen = 0, is6 = 0;

	assert_non_null(in);
	assert_non_null(o4);
	assert_non_null(o6);
	while (fgets(line, sizeof(line), in)) {
		if (!strcmp(line, "iptables-save\n") || !strcmp(line, "ip6tables-save\n"))
			continue;
		if (line[0] == '*') {
			for (int i = 0; i < nseen; i++)
				if (!strcmp(seen[i], line))
					is6 = 1;
			if (!is6 && nseen < 8)
				snprintf(seen[nseen++], sizeof(seen[0]), "%s", line);
		}
		fputs(line, is6 ? o6 : o4);
		if (!strchr(line, '\n'))   /* the last line may lack one */
			fputs("\n", is6 ? o6 : o4);
	}
	fclose(in);
	fclose(o4);
	fclose(o6);
}

/* Output of @cmd (malloc'd). */
static char *run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0, cap = 1 << 16;
	char *buf = malloc(cap);

	assert_non_null(p);
	assert_non_null(buf);
	n = fread(buf, 1, cap - 1, p);
	buf[n] = 0;
	pclose(p);
	return buf;
}

/* The `*nat ... COMMIT` blocks of @text. */
static char *nat_blocks(const char *text)
{
	char *out = calloc(1, strlen(text) + 1), *o = out;
	const char *l = text;
	bool in = false;

	assert_non_null(out);
	while (*l) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l + 1) : strlen(l);

		if (!strncmp(l, "*nat\n", 5))
			in = true;
		if (in) {
			memcpy(o, l, len);
			o += len;
		}
		if (!strncmp(l, "COMMIT\n", 7))
			in = false;
		l += len;
	}
	return out;
}

static char *redo_text(struct hpns_ruleset *rs, enum hpns_half half)
{
	struct hpns_half_conf c = { .half = half, .link = "hpn0" };
	struct hpns_redo *redo = NULL;
	char *text;

	assert_int_equal(hpns_addrs_parse("10.0.0.5,fd00::5", &c.pod), 0);
	assert_int_equal(hpns_translate(rs, &c, NULL, NULL, &redo), 0);
	text = hpns_redo_format(redo);
	hpns_redo_destroy(redo);
	assert_non_null(text);
	return text;
}

struct line {
	char *s;
	int idx;
};

static const char *rule_chain(const char *s, size_t *len)
{
	const char *c = "add rule inet heteropod ";

	if (strncmp(s, c, strlen(c)))
		return NULL;
	s += strlen(c);
	*len = strcspn(s, " \n");
	return s;
}

/* Declarations sorted; rules grouped by chain, in their order there. */
static int cmp_line(const void *x, const void *y)
{
	const struct line *a = x, *b = y;
	size_t la = 0, lb = 0;
	const char *ca = rule_chain(a->s, &la), *cb = rule_chain(b->s, &lb);
	int c;

	if (!ca != !cb)
		return ca ? 1 : -1;
	if (!ca)
		return strcmp(a->s, b->s);
	c = strncmp(ca, cb, la < lb ? la : lb);
	if (c || la != lb)
		return c ? c : (int)la - (int)lb;
	return a->idx - b->idx;
}

/*
 * The redo text up to the order of chains: rules read from the kernel come
 * chain by chain (as iptables-save lists them), the golden's interleave.
 */
static void canon(char *text)
{
	char *copy = strdup(text), *save = NULL, *l;
	struct line lines[1024];
	int n = 0;

	assert_non_null(copy);
	for (l = strtok_r(copy, "\n", &save); l && n < 1024; l = strtok_r(NULL, "\n", &save))
		lines[n] = (struct line){ .s = l, .idx = n }, n++;
	qsort(lines, (size_t)n, sizeof(lines[0]), cmp_line);
	text[0] = 0;
	for (int i = 0; i < n; i++)
		strcat(strcat(text, lines[i].s), "\n");
	free(copy);
}

static void check_golden(const char *path, const char *ns)
{
	char cmd[1024], v4[] = "/tmp/hpn2-v4-XXXXXX", v6[] = "/tmp/hpn2-v6-XXXXXX";
	struct hpns_ruleset *got = NULL, *want = NULL;
	char *text = NULL, *save, *mine;
	size_t len = 0;
	int saved;

	close(mkstemp(v4));
	close(mkstemp(v6));
	split_golden(path, v4, v6);
	assert_int_equal(hp_netns_create(ns), 0);
	snprintf(cmd, sizeof(cmd), "ip netns exec %s iptables-legacy-restore --noflush <%s && "
		 "{ ! [ -s %s ] || ip netns exec %s ip6tables-legacy-restore --noflush <%s; }",
		 ns, v4, v6, ns, v6);
	assert_int_equal(system(cmd), 0);

	assert_int_equal(hp_netns_enter(ns, &saved), 0);
	assert_int_equal(ns_leave(saved, legacy_dump(&text, &len)), 0);
	assert_non_null(text);
	/* only tables that exist: saving one that does not would create it */
	snprintf(cmd, sizeof(cmd), "ip netns exec %s sh -c '"
		 "! grep -qx nat /proc/net/ip_tables_names || iptables-legacy-save -t nat; "
		 "! grep -qx nat /proc/net/ip6_tables_names || ip6tables-legacy-save -t nat' "
		 "| grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]/[0:0]/'", ns);
	save = run(cmd);
	mine = nat_blocks(text);
	if (strcmp(save, mine))
		print_error("%s:\n--- iptables-legacy-save\n%s--- legacy_dump\n%s", path,
			    save, mine);
	assert_string_equal(save, mine);

	assert_int_equal(hpns_ruleset_from_netns(ns, NULL, NULL, &got), 0);
	assert_int_equal(hpns_ruleset_parse_file(path, NULL, NULL, &want), 0);
	for (int h = 0; h < 2; h++) {
		char *a = redo_text(want, h), *b = redo_text(got, h);

		canon(a);
		canon(b);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	hpns_ruleset_destroy(got);
	hpns_ruleset_destroy(want);
	free(save);
	free(mine);
	free(text);
	hp_netns_delete(ns);
	unlink(v4);
	unlink(v6);
}

static void inpod_goldens_from_kernel(void **state)
{
	char dir[512], path[1024], ns[64];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	(void)state;
	if (geteuid() != 0 || system("command -v iptables-legacy-restore >/dev/null"))
		skip();
	snprintf(dir, sizeof(dir), "%s/corpus/istio-inpod/iptables", shared());
	dp = opendir(dir);
	assert_non_null(dp);
	while ((d = readdir(dp))) {
		if (!strstr(d->d_name, ".golden"))
			continue;
		/* hostprobe: `-m set` needs ipsets (and is rendered by name
		 * only, see legacy.c); its nat chain is POSTROUTING anyway */
		if (!strncmp(d->d_name, "hostprobe", 9))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		snprintf(ns, sizeof(ns), "hpn2-ut-%d", (int)getpid());
		check_golden(path, ns);
		n++;
	}
	closedir(dp);
	assert_int_equal(n, 12);
}

/* Every option legacy.c decodes, rendered as iptables-legacy-save does. */
static const char every_v4[] =
	"*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
	":POSTROUTING ACCEPT [0:0]\n:B_CHAIN - [0:0]\n:A_CHAIN - [0:0]\n"
	"-A PREROUTING -i eth+ -p tcp -m tcp --sport 1000:2000 ! --dport 80 -j A_CHAIN\n"
	"-A PREROUTING ! -i veth0 -s 10.0.0.0/8 -d 10.1.2.0/255.0.255.0 -p udp -m udp ! --sport 53 -g B_CHAIN\n"
	"-A PREROUTING -f -j RETURN\n"
	"-A PREROUTING ! -s 0.0.0.0/0 ! -p tcp -j RETURN\n"
	"-A PREROUTING -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m comment "
	"--comment \"a \\\"quoted\\\" comment\" -j REDIRECT --to-ports 15001-15002 --random\n"
	"-A PREROUTING -p tcp -m tcp ! --tcp-option 2 -j REDIRECT\n"
	"-A OUTPUT -p 47 -j ACCEPT\n"
	"-A OUTPUT -o lo -m mark --mark 0x1 -m connmark ! --mark 0x2/0xff -j RETURN\n"
	"-A A_CHAIN -j ACCEPT\n-A B_CHAIN -p tcp\nCOMMIT\n";
static const char every_v6[] =
	"*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
	":POSTROUTING ACCEPT [0:0]\n:Z - [0:0]\n"
	"-A PREROUTING -s fd00::/8 -d fd00::1/ffff::ffff -p udp -m udp --dport 53 "
	"-j REDIRECT --to-ports 15053\n"
	"-A OUTPUT ! -o eth0 -p ipv6-icmp -j Z\n"
	"-A Z -p tcp -m tcp --dport 1:1024 -j RETURN\nCOMMIT\n";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void every_option_as_save_prints_it(void **state)
{
	char ns[64], cmd[512], v4[] = "/tmp/hpn2-e4-XXXXXX", v6[] = "/tmp/hpn2-e6-XXXXXX";
	char *text = NULL, *save, *mine;
	size_t len = 0;
	int saved;

	(void)state;
	if (geteuid() != 0 || system("command -v iptables-legacy-restore >/dev/null"))
		skip();
	snprintf(ns, sizeof(ns), "hpn2-ut-%d", (int)getpid());
	close(mkstemp(v4));
	close(mkstemp(v6));
	write_file(v4, every_v4);
	write_file(v6, every_v6);
	assert_int_equal(hp_netns_create(ns), 0);
	snprintf(cmd, sizeof(cmd), "ip netns exec %s iptables-legacy-restore <%s && "
		 "ip netns exec %s ip6tables-legacy-restore <%s", ns, v4, ns, v6);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(hp_netns_enter(ns, &saved), 0);
	assert_int_equal(ns_leave(saved, legacy_dump(&text, &len)), 0);
	snprintf(cmd, sizeof(cmd), "ip netns exec %s sh -c 'iptables-legacy-save -t nat; "
		 "ip6tables-legacy-save -t nat' | grep -v '^#'", ns);
	save = run(cmd);
	mine = nat_blocks(text);
	assert_string_equal(save, mine);
	free(save);
	free(mine);
	free(text);
	unlink(v4);
	unlink(v6);
	hp_netns_delete(ns);
}

/* A namespace without legacy tables: nothing read, nothing created. */
static void no_tables_none_created(void **state)
{
	char ns[64], cmd[256], *text = (char *)"x", *names;
	size_t len = 1;
	int saved;

	(void)state;
	if (geteuid() != 0)
		skip();
	snprintf(ns, sizeof(ns), "hpn2-ut0-%d", (int)getpid());
	assert_int_equal(hp_netns_create(ns), 0);
	assert_int_equal(hp_netns_enter(ns, &saved), 0);
	assert_int_equal(ns_leave(saved, legacy_dump(&text, &len)), 0);
	assert_null(text);
	assert_int_equal(len, 0);
	snprintf(cmd, sizeof(cmd), "ip netns exec %s cat /proc/net/ip_tables_names "
		 "/proc/net/ip6_tables_names", ns);
	names = run(cmd);
	assert_string_equal(names, "");
	free(names);
	hp_netns_delete(ns);
}

/* A failed assertion leaves its namespace: remove both names. */
static int teardown(void **state)
{
	char ns[64];

	(void)state;
	snprintf(ns, sizeof(ns), "hpn2-ut-%d", (int)getpid());
	hp_netns_delete(ns);
	snprintf(ns, sizeof(ns), "hpn2-ut0-%d", (int)getpid());
	hp_netns_delete(ns);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(inpod_goldens_from_kernel, teardown),
		cmocka_unit_test_teardown(every_option_as_save_prints_it, teardown),
		cmocka_unit_test_teardown(no_tables_none_created, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
