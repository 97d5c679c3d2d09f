// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: both rule-set parsers (the format is chosen from the
 * text) and, when parsing succeeds, the translator for both halves and the
 * nft formatter.  Build: make fuzz; run: build/fuzz/netns/fuzz_ruleset DIR.
 */
#include <stdint.h>
#include <stdlib.h>

#include "netns/hpnetns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hpns_half_conf conf = { .link = "hpn0" };
	struct hpns_ruleset *rs = NULL;

	hpns_addrs_parse("10.0.0.5,fd00::5", &conf.pod);
	if (hpns_ruleset_parse("fuzz", (const char *)data, size, NULL, NULL, &rs))
		return 0;
	for (int h = 0; h < 2; h++) {
		struct hpns_redo *redo = NULL;

		conf.half = h ? HPNS_HALF_DPU : HPNS_HALF_CPU;
		if (!hpns_translate(rs, &conf, NULL, NULL, &redo))
			free(hpns_redo_format(redo));
		hpns_redo_destroy(redo);
	}
	hpns_ruleset_destroy(rs);
	return 0;
}
