// SPDX-License-Identifier: GPL-2.0
/*
 * Redo translator: all 28 in-pod goldens translate for both halves; every
 * match of every original nat-hook rule is kept in the redo pair (CPU:
 * verbatim; DPU: verbatim or re-derived for CPU-only interfaces); sidecar
 * sets either translate or are refused with FILE:LINE naming the rule.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "netns/rules.h"

static const char *shared(void)
{
	const char *s = getenv("SHARED");

	return s ? s : "../shared";
}

static struct hpns_half_conf conf(enum hpns_half half)
{
	struct hpns_half_conf c = { .half = half, .link = "hpn0" };

	assert_int_equal(hpns_addrs_parse("10.0.0.5,fd00::5", &c.pod), 0);
	return c;
}

static bool same_match(const struct match *a, const struct match *b)
{
	return a->kind == b->kind && a->neg == b->neg &&
	       !memcmp(&a->u, &b->u, sizeof(a->u));
}

static bool has_match(const struct rule *r, const struct match *m)
{
	for (int i = 0; i < r->nmatch; i++)
		if (same_match(&r->m[i], m))
			return true;
	return false;
}

/* The DPU form of a CPU-only interface match. */
static struct match dpu_form(const struct match *m)
{
	struct match f = { .kind = MATCH_FIB_DLOCAL };

	f.neg = m->kind == MATCH_OIF ? m->neg : !m->neg;
	return f;
}

static const struct rule *redo_of(const struct hpns_redo *redo,
				  const struct rule *src)
{
	for (size_t i = 0; i < redo->nrules; i++)
		if (redo->rules[i].line == src->line &&
		    !strcmp(redo->rules[i].text, src->text))
			return &redo->rules[i];
	return NULL;
}

static bool in_nat_hook(const struct hpns_ruleset *rs, const struct rule *r)
{
	const struct chain_decl *c = rs_chain_find(rs, r->family, r->table, r->chain);

	/* user chains count when they are copied (redo_of finds them) */
	return c && (c->hook == HOOK_NONE ? true :
		     c->nat && (c->hook == HOOK_PREROUTING || c->hook == HOOK_OUTPUT));
}

/* Every match of every nat-hook rule survives in both halves. */
static void check_fidelity(const struct hpns_ruleset *rs,
			   const struct hpns_redo *cpu,
			   const struct hpns_redo *dpu, size_t *checked)
{
	for (size_t i = 0; i < rs->nrules; i++) {
		const struct rule *src = &rs->rules[i], *c, *d;

		if (!in_nat_hook(rs, src))
			continue;
		c = redo_of(cpu, src);
		d = redo_of(dpu, src);
		if (!c && !d)
			continue;     /* a user chain of another hook */
		if (!c || !d)
			fail_msg("%s:%d: missing in one half", rs->name, src->line);
		for (int k = 0; k < src->nmatch; k++) {
			const struct match *m = &src->m[k];
			struct match f = dpu_form(m);
			bool cpu_only = m->kind == MATCH_IIF || m->kind == MATCH_OIF;

			if (!has_match(c, m))
				fail_msg("%s:%d: CPU redo lost match %d", rs->name,
					 src->line, k);
			if (!has_match(d, cpu_only ? &f : m))
				fail_msg("%s:%d: DPU redo lost match %d", rs->name,
					 src->line, k);
		}
		if (src->act.kind == ACT_REDIRECT) {
			assert_int_equal(c->act.kind, ACT_CTMARK_OR);
			assert_int_equal(c->act.value, HP_CT_ORIG);
			assert_int_equal(d->act.kind, ACT_REDIRECT);
			assert_int_equal(d->act.port, src->act.port);
		}
		(*checked)++;
	}
}

static void translate_dir(const char *sub, size_t *files, size_t *checked)
{
	char dir[512], path[1024];
	struct dirent *de;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/corpus/%s", shared(), sub);
	dp = opendir(dir);
	assert_non_null(dp);
	while ((de = readdir(dp))) {
		struct hpns_half_conf cc = conf(HPNS_HALF_CPU), dc = conf(HPNS_HALF_DPU);
		struct hpns_redo *cpu = NULL, *dpu = NULL;
		struct hpns_ruleset *rs = NULL;
		char *text;

		if (!strstr(de->d_name, ".golden"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(hpns_ruleset_parse_file(path, NULL, NULL, &rs), 0);
		if (hpns_translate(rs, &cc, NULL, NULL, &cpu) ||
		    hpns_translate(rs, &dc, NULL, NULL, &dpu))
			fail_msg("%s does not translate", path);
		check_fidelity(rs, cpu, dpu, checked);
		text = hpns_redo_format(cpu);
		assert_non_null(strstr(text, "dnat ip to ip daddr"));
		assert_non_null(strstr(text, "or 0x539"));
		free(text);
		hpns_redo_destroy(cpu);
		hpns_redo_destroy(dpu);
		hpns_ruleset_destroy(rs);
		(*files)++;
	}
	closedir(dp);
}

static void inpod_goldens_translate(void **state)
{
	size_t files = 0, checked = 0;

	(void)state;
	translate_dir("istio-inpod/iptables", &files, &checked);
	translate_dir("istio-inpod/nftables", &files, &checked);
	assert_int_equal(files, 28);
	assert_true(checked > 200);   /* the goldens hold ~16 nat rules each */
}

/* The file's line @no, trimmed as the parser trims it. */
static void file_line(const char *path, int no, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	int n = 0;

	assert_non_null(f);
	buf[0] = 0;
	while (fgets(buf, (int)size, f) && ++n < no)
		;
	fclose(f);
	buf[strcspn(buf, "\r\n")] = 0;
	while (buf[0] && buf[strlen(buf) - 1] == ' ')
		buf[strlen(buf) - 1] = 0;
}

struct refusals {
	const char *path;
	int n;
};

/* Each refusal: `PATH:LINE: cannot translate 'RULE': reason`, RULE being
 * exactly the text of line LINE. */
static void check_refusal(void *arg, const char *msg)
{
	struct refusals *r = arg;
	size_t plen = strlen(r->path);
	char want[1024], got[1024];
	const char *q;
	int line = 0;

	if (strncmp(msg, r->path, plen) || msg[plen] != ':' ||
	    sscanf(msg + plen + 1, "%d", &line) != 1)
		fail_msg("refusal does not start with FILE:LINE: %s", msg);
	q = strstr(msg, ": cannot translate '");
	assert_non_null(q);
	q += strlen(": cannot translate '");
	snprintf(got, sizeof(got), "%s", q);
	*strstr(got, "': ") = 0;
	file_line(r->path, line, want, sizeof(want));
	if (strcmp(got, want))
		fail_msg("refusal names '%s', line %d is '%s'", got, line, want);
	r->n++;
}

static void sidecar_translate_or_refuse(void **state)
{
	static const char *const dirs[] = {
		"istio-sidecar/iptables", "istio-sidecar/nftables",
		"istio-sidecar/cni-plugin",
	};
	size_t files = 0, refused = 0;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		char dir[512], path[1024];
		struct dirent *de;
		DIR *dp;

		snprintf(dir, sizeof(dir), "%s/corpus/%s", shared(), dirs[i]);
		dp = opendir(dir);
		assert_non_null(dp);
		while ((de = readdir(dp))) {
			struct hpns_half_conf c = conf(HPNS_HALF_CPU);
			struct refusals r = { .path = path };
			struct hpns_ruleset *rs = NULL;
			struct hpns_redo *redo = NULL;
			int ret;

			if (!strstr(de->d_name, ".golden"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			assert_int_equal(hpns_ruleset_parse_file(path, NULL, NULL, &rs), 0);
			ret = hpns_translate(rs, &c, check_refusal, &r, &redo);
			if (ret == 0)
				assert_int_equal(r.n, 0);
			else if (ret == -95)
				assert_true(r.n > 0 && !redo);
			else
				fail_msg("%s: %d", path, ret);
			refused += ret != 0;
			hpns_redo_destroy(redo);
			hpns_ruleset_destroy(rs);
			files++;
		}
		closedir(dp);
	}
	assert_int_equal(files, 28);
	assert_true(refused > 0);
}

static void append_cb(void *arg, const char *line)
{
	char *buf = arg;
	size_t len = strlen(buf);

	snprintf(buf + len, 2048 - len, "%s\n", line);
}

/* A synthetic set: what translates and what is refused, and why. */
static void refusal_reasons(void **state)
{
	static const char text[] =
		"*nat\n"
		"-A OUTPUT -p tcp -m owner --uid-owner 1337 -j RETURN\n"
		"-A OUTPUT -p tcp -j DNAT --to-destination 1.2.3.4\n"
		"-A OUTPUT -o eth7 -p tcp -j REDIRECT --to-ports 15001\n"
		"-A OUTPUT -p tcp -j REDIRECT --to-ports 15001\n"
		"COMMIT\n";
	struct hpns_half_conf c = conf(HPNS_HALF_DPU);
	struct hpns_ruleset *rs = NULL;
	struct hpns_redo *redo = NULL;
	char msgs[2048] = "";

	(void)state;
	assert_int_equal(hpns_ruleset_parse("syn", text, sizeof(text) - 1, NULL, NULL, &rs), 0);
	assert_int_equal(hpns_translate(rs, &c, append_cb, msgs,
					&redo), -95);
	assert_non_null(strstr(msgs, "syn:2: cannot translate '-A OUTPUT -p tcp -m owner"));
	assert_non_null(strstr(msgs, "socket-owner match"));
	assert_non_null(strstr(msgs, "syn:3: cannot translate '-A OUTPUT -p tcp -j DNAT"));
	assert_non_null(strstr(msgs, "syn:4: cannot translate"));
	assert_non_null(strstr(msgs, "output interface is only known in the CPU half"));
	assert_null(strstr(msgs, "syn:5:"));
	hpns_ruleset_destroy(rs);
}

/* The CPU half keeps Istio's tables untouched: only table heteropod. */
static void only_own_table(void **state)
{
	char path[512];
	struct hpns_half_conf c = conf(HPNS_HALF_CPU);
	struct hpns_ruleset *rs = NULL;
	struct hpns_redo *redo = NULL;
	char *text, *line;

	(void)state;
	snprintf(path, sizeof(path), "%s/corpus/istio-inpod/nftables/default.golden",
		 shared());
	assert_int_equal(hpns_ruleset_parse_file(path, NULL, NULL, &rs), 0);
	assert_int_equal(hpns_translate(rs, &c, NULL, NULL, &redo), 0);
	text = hpns_redo_format(redo);
	for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		if (line[0] != '#')
			assert_non_null(strstr(line, " inet heteropod"));
	free(text);
	hpns_redo_destroy(redo);
	hpns_ruleset_destroy(rs);
}

/* The rule set blob the host sends with CreateHalf: the DPU's translation
 * of the imported copy is the host's translation of the original; a
 * damaged blob is refused. */
static char *redo_text(const struct hpns_ruleset *rs, enum hpns_half half)
{
	struct hpns_half_conf c = conf(half);
	struct hpns_redo *redo = NULL;
	char *text;

	assert_int_equal(hpns_translate(rs, &c, NULL, NULL, &redo), 0);
	text = hpns_redo_format(redo);
	hpns_redo_destroy(redo);
	return text;
}

static void export_import(void **state)
{
	static const char *const goldens[] = { "iptables/default.golden",
		"nftables/default_ipv6.golden", "iptables/ingress.golden" };
	struct hpns_ruleset *rs = NULL, *back = NULL;
	char path[512], *a, *b;
	unsigned char *blob;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		snprintf(path, sizeof(path), "%s/corpus/istio-inpod/%s", shared(), goldens[i]);
		assert_int_equal(hpns_ruleset_parse_file(path, NULL, NULL, &rs), 0);
		assert_int_equal(hpns_ruleset_export(rs, (void **)&blob, &len), 0);
		assert_int_equal(hpns_ruleset_import(blob, len, &back), 0);
		assert_int_equal(hpns_ruleset_count(back), hpns_ruleset_count(rs));
		for (int h = HPNS_HALF_CPU; h <= HPNS_HALF_DPU; h++) {
			a = redo_text(rs, h);
			b = redo_text(back, h);
			assert_string_equal(a, b);
			free(a);
			free(b);
		}
		hpns_ruleset_destroy(back);
		assert_int_equal(hpns_ruleset_import(blob, len - 1, &back), -EINVAL);
		assert_null(back);
		blob[0] ^= 1;	/* magic */
		assert_int_equal(hpns_ruleset_import(blob, len, &back), -EINVAL);
		blob[0] ^= 1;
		((struct rule *)(blob + len - rs->nchains * sizeof(struct chain_decl) -
				 sizeof(struct rule)))->nmatch = MAX_MATCHES + 1;
		assert_int_equal(hpns_ruleset_import(blob, len, &back), -EINVAL);
		free(blob);
		hpns_ruleset_destroy(rs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(inpod_goldens_translate),
		cmocka_unit_test(sidecar_translate_or_refuse),
		cmocka_unit_test(refusal_reasons),
		cmocka_unit_test(only_own_table),
		cmocka_unit_test(export_import),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
