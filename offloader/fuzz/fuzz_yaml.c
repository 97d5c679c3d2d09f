// SPDX-License-Identifier: GPL-2.0
/* libFuzzer: local-mode manifests and kubeconfig files (YAML to JSON). */
#include <stddef.h>
#include <stdint.h>

#include "offloader/yamljson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];

	json_decref(agent_yaml_parse("fuzz", (const char *)data, size, err, sizeof(err)));
	return 0;
}
