/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hsock allowlists (format: hsock/README.md, "Allowlist format") for the
 * app<->proxy links of split pods.  Every connection of a split pod's app
 * through its pod IP is one with the proxy: outbound ones are redirected to
 * it (hsock's rendezvous pairs them by SO_ORIGINAL_DST) and inbound ones
 * come from it, so a pod's links are "POD_IP:* *" per pod IP.
 *
 *   host: DIR/NAMESPACE_NAME.allow per split pod (the pod mounts it and
 *         sets HSOCK_ALLOW; `subPathExpr: $(NS)_$(NAME).allow`);
 *   dpu:  DIR/dpu.allow, the links of every DPU half, for the proxy there.
 *
 * Files are replaced atomically (write, fsync, rename) and removed when the
 * pod is no longer split; at start the files no split pod accounts for are
 * deleted (a crash between undo and checkpoint leaks nothing).
 */
#ifndef AGENT_ALLOW_H
#define AGENT_ALLOW_H

#include <stddef.h>

#define AGENT_ALLOW_DPU_FILE "dpu.allow"

/* The lines for pod IPs "IPv4[,IPv6]" appended to @buf ("" if none). */
void agent_allow_lines(const char *ips, char *buf, size_t n);
/* DIR/FILE := @text atomically (creating DIR); @text NULL removes it. */
int agent_allow_put(const char *dir, const char *file, const char *text);
/* The host's file name of a pod. */
void agent_allow_name(const char *ns, const char *name, char *buf, size_t n);
/* Delete DIR's *.allow files for which @keep(file, arg) is false. */
int agent_allow_sweep(const char *dir, int (*keep)(const char *file, void *arg),
		      void *arg);

#endif
