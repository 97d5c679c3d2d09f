/* SPDX-License-Identifier: GPL-2.0 */
/*
 * YAML documents to jansson values, so that manifests (local mode) and
 * kubeconfig files are read with the same code as API JSON.  Plain scalars
 * resolve as YAML 1.2's core schema does (null, true/false, integers);
 * quoted scalars stay strings.  Anchors and aliases are refused.
 */
#ifndef AGENT_YAMLJSON_H
#define AGENT_YAMLJSON_H

#include <stddef.h>
#include <jansson.h>

/*
 * Parse every document of @buf.  Returns a new JSON array (one element per
 * non-empty document) or NULL with "NAME:LINE:COL: reason" in @err.
 */
json_t *agent_yaml_parse(const char *name, const char *buf, size_t len,
			 char *err, size_t errlen);
/* Same for a file. */
json_t *agent_yaml_load(const char *path, char *err, size_t errlen);

#endif
