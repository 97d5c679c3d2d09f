/* SPDX-License-Identifier: GPL-2.0 */
/* iptables-legacy tables of the calling thread's namespace, read with
 * getsockopt(IPT_SO_GET_ENTRIES) (see legacy.c). */
#ifndef HPNS_LEGACY_H
#define HPNS_LEGACY_H

#include <stddef.h>

/*
 * The nat and mangle tables (IPv4, then IPv6) as iptables-legacy-save
 * prints them, in a malloc'd string (*out, *len; NULL/0 when none exists).
 * Tables that do not exist are not created.  0 or -errno (-EBADMSG on a
 * blob that does not parse).
 */
int legacy_dump(char **out, size_t *len);

#endif
