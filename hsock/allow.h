/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Allowlist of links that may switch to GShm (--allow FILE / HSOCK_ALLOW).
 * One link per line, two endpoints separated by blanks, either direction:
 *
 *	# comment
 *	127.0.0.1:5201 127.0.0.1:*	# any client port to 127.0.0.1:5201
 *	[::1]:8080 *			# [v6]:port, or * for any endpoint
 *	*:9000 10.0.0.0:*		# * for any address or any port
 *
 * No file means every link whose both ends run hsock may switch; an empty
 * file allows nothing.  Parsed without dependencies (the agent writes it).
 */
#ifndef HSOCK_ALLOW_H
#define HSOCK_ALLOW_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;
struct hsock_allow;

/* Parse @len bytes; errors read "NAME:LINE:COL: what, accepted ...". */
int hsock_allow_parse(const char *name, const char *buf, size_t len,
		      struct hsock_allow **out, char *err, size_t errlen);
int hsock_allow_load(const char *path, struct hsock_allow **out,
		     char *err, size_t errlen);
/* May the link between endpoints @a and @b (any order) switch? */
bool hsock_allow_match(const struct hsock_allow *al, const struct sockaddr *a,
		       const struct sockaddr *b);
size_t hsock_allow_count(const struct hsock_allow *al);
void hsock_allow_free(struct hsock_allow *al);

#endif
