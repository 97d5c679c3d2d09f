/* SPDX-License-Identifier: GPL-2.0 */
/* Line tokenizer shared by the two rule-set parsers. */
#ifndef HPNS_LEX_H
#define HPNS_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netns/rules.h"

#define MAX_TOKENS 96

struct tok {
	char s[128];
	int col;                 /* 1-based column in the line */
};

struct line {
	const char *file;
	int no;                  /* 1-based line number */
	int ntok;
	struct tok t[MAX_TOKENS];
	char text[256];          /* trimmed copy for messages */
	int errors;
	hpns_report_fn report;
	void *arg;
};

/*
 * Split one line (without its newline) into tokens separated by blanks;
 * `"..."` is one token; with @split_punct, `{ } , ; :` and `/` are not
 * split (nft) but `{`, `}`, `,` and `;` become tokens of their own.
 * Returns -E2BIG when a token or the token count overflows.
 */
int lex_line(struct line *l, const char *s, size_t len, bool split_punct);

/*
 * Tokenise @text line by line into @l (l->no counts lines) and call @fn on
 * each line that has tokens; lines with a NUL byte or too many/too long
 * tokens are reported instead.
 */
void lex_each_line(struct line *l, const char *text, size_t len, bool split_punct,
		   void (*fn)(void *ctx, struct line *l), void *ctx);

/* Report `FILE:LINE:COL: msg` for token @i (or end of line) and count it. */
void lex_error(struct line *l, int i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Number parsing (decimal or 0x hex) into u32; false when not a number. */
bool parse_u32(const char *s, uint32_t *v);
/* "V" or "V/M" into value/mask (mask defaults to 0xffffffff). */
bool parse_mark(const char *s, uint32_t *value, uint32_t *mask);
/* "ADDR" or "ADDR/PLEN" into a match address; family from the text. */
bool parse_prefix(const char *s, struct match *m);
/* A port 0..65535. */
bool parse_port(const char *s, uint16_t *port);

#endif
