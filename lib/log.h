/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Structured logging for heteropod programs: one line per event on stderr,
 * as logfmt (`key=value`, values quoted when they hold spaces or quotes):
 *
 *   ts=2026-11-26T02:50:01.123Z level=info prog=heteropod-agent event=split pod=default/web
 *
 * Only programs (main and what it owns) log.  Library code returns -errno and
 * an error text instead; it never prints and never exits.
 *
 * Each line is emitted with a single write(2), so lines of concurrent
 * threads and processes sharing the fd never interleave.
 */
#ifndef HP_LOG_H
#define HP_LOG_H

#include <stdarg.h>

enum hp_log_level {
	HP_LOG_ERROR,
	HP_LOG_WARN,
	HP_LOG_INFO,
	HP_LOG_DEBUG,
};

/* Program name put in every line (prog=...); the pointer is kept. */
void hp_log_init(const char *prog, enum hp_log_level level);
void hp_log_set_level(enum hp_log_level level);
/* Redirect output (tests); default is 2 (stderr). */
void hp_log_set_fd(int fd);

/*
 * Parse "error", "warn", "info", "debug".  Returns 0, or -EINVAL leaving
 * *level untouched.
 */
int hp_log_parse_level(const char *s, enum hp_log_level *level);
extern const char *const hp_log_level_names[]; /* NULL-terminated */

/*
 * hp_log(level, event, fmt, ...): fmt formats the rest of the line, which
 * should itself be `key=value` pairs; use "%s" with hp_log_q() for values
 * that may contain spaces.  A message below the current level costs one
 * comparison.
 */
void hp_log(enum hp_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void hp_vlog(enum hp_log_level level, const char *event, const char *fmt,
	     va_list ap);

/*
 * Quote @s for a logfmt value if it needs it (space, '=', '"', control
 * characters, empty).  Returns @buf (always NUL-terminated, truncated to
 * @size) or @s itself when no quoting is needed.
 */
const char *hp_log_q(char *buf, unsigned long size, const char *s);

#define hp_err(ev, ...)   hp_log(HP_LOG_ERROR, ev, __VA_ARGS__)
#define hp_warn(ev, ...)  hp_log(HP_LOG_WARN, ev, __VA_ARGS__)
#define hp_info(ev, ...)  hp_log(HP_LOG_INFO, ev, __VA_ARGS__)
#define hp_debug(ev, ...) hp_log(HP_LOG_DEBUG, ev, __VA_ARGS__)

#endif
