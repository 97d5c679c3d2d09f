// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: both rule-set parsers (the format is chosen from the
 * text) and, when parsing succeeds, the translator for both halves and the
 * nft formatter; the rule-set blob importer (what a DPU receives from the
 * host) on the raw input and on a parsed set's export damaged by the input.
 * Build: make fuzz; run: build/fuzz/netns/fuzz_ruleset DIR.
 */
#include <stdint.h>
#include <stdlib.h>

#include "netns/hpnetns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void translate_both(const struct hpns_ruleset *rs)
{
	struct hpns_half_conf conf = { .link = "hpn0" };

	hpns_addrs_parse("10.0.0.5,fd00::5", &conf.pod);
	for (int h = 0; h < 2; h++) {
		struct hpns_redo *redo = NULL;

		conf.half = h ? HPNS_HALF_DPU : HPNS_HALF_CPU;
		if (!hpns_translate(rs, &conf, NULL, NULL, &redo))
			free(hpns_redo_format(redo));
		hpns_redo_destroy(redo);
	}
}

/* Import @blob and translate what it gives. */
static void import(const void *blob, size_t len)
{
	struct hpns_ruleset *rs = NULL;

	if (!hpns_ruleset_import(blob, len, &rs))
		translate_both(rs);
	hpns_ruleset_destroy(rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hpns_ruleset *rs = NULL;
	uint8_t *blob;
	size_t len, i;

	import(data, size);
	if (hpns_ruleset_parse("fuzz", (const char *)data, size, NULL, NULL, &rs))
		return 0;
	translate_both(rs);
	if (!hpns_ruleset_export(rs, (void **)&blob, &len)) {
		import(blob, len);
		for (i = 0; i < size && i < 32 && len; i++)
			blob[(i * 7919 + data[i]) % len] ^= data[size - 1 - i];
		import(blob, len);
		free(blob);
	}
	hpns_ruleset_destroy(rs);
	return 0;
}
