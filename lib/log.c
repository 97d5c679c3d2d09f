// SPDX-License-Identifier: GPL-2.0
/* Structured logfmt logging; see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define LINE_MAX_LEN 4096

const char *const hp_log_level_names[] = { "error", "warn", "info", "debug", NULL };

static struct {
	const char *prog;
	enum hp_log_level level;
	int fd;
} logger = { "heteropod", HP_LOG_INFO, 2 };

void hp_log_init(const char *prog, enum hp_log_level level)
{
	logger.prog = prog;
	logger.level = level;
}

void hp_log_set_level(enum hp_log_level level)
{
	logger.level = level;
}

void hp_log_set_fd(int fd)
{
	logger.fd = fd;
}

int hp_log_parse_level(const char *s, enum hp_log_level *level)
{
	int i;

	for (i = 0; hp_log_level_names[i]; i++) {
		if (!strcasecmp(s, hp_log_level_names[i])) {
			*level = i;
			return 0;
		}
	}
	return -EINVAL;
}

static int needs_quoting(const char *s)
{
	if (!*s)
		return 1;
	for (; *s; s++) {
		if (*s == ' ' || *s == '=' || *s == '"' || *s == '\\' ||
		    (unsigned char)*s < 0x20)
			return 1;
	}
	return 0;
}

const char *hp_log_q(char *buf, unsigned long size, const char *s)
{
	unsigned long n = 0;

	if (!s)
		s = "";
	if (!needs_quoting(s) || size < 3)
		return s;
	buf[n++] = '"';
	for (; *s; s++) {
		unsigned char c = *s;
		int esc = c == '"' || c == '\\' || c == '\n';

		if (n + 2 + esc >= size)
			break; /* keep room for the closing quote and NUL */
		if (esc) {
			buf[n++] = '\\';
			buf[n++] = c == '\n' ? 'n' : c;
		} else {
			buf[n++] = c < 0x20 ? '?' : c;
		}
	}
	buf[n++] = '"';
	buf[n] = '\0';
	return buf;
}

/* Append to line[*len], never past LINE_MAX_LEN - 1 (room for '\n'). */
static void vappend(char *line, size_t *len, const char *fmt, va_list ap)
{
	size_t room = LINE_MAX_LEN - 1 - *len;
	int n;

	if (room <= 1)
		return;
	n = vsnprintf(line + *len, room, fmt, ap);
	if (n > 0)
		*len += (size_t)n < room ? (size_t)n : room - 1;
}

static void append(char *line, size_t *len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vappend(line, len, fmt, ap);
	va_end(ap);
}

void hp_vlog(enum hp_log_level level, const char *event, const char *fmt,
	     va_list ap)
{
	char line[LINE_MAX_LEN];
	struct timespec ts;
	struct tm tm;
	size_t len = 0;
	int saved_errno = errno;
	ssize_t n;

	if (level > logger.level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	append(line, &len, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s prog=%s event=%s",
	       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	       tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
	       hp_log_level_names[level], logger.prog, event);
	if (fmt && *fmt) {
		append(line, &len, " ");
		vappend(line, &len, fmt, ap);
	}
	line[len++] = '\n';
	n = write(logger.fd, line, len);
	(void)n;
	errno = saved_errno;
}

void hp_log(enum hp_log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hp_vlog(level, event, fmt, ap);
	va_end(ap);
}
