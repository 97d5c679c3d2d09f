/* SPDX-License-Identifier: GPL-2.0 */
/*
 * YAML configuration loaded into a typed struct, described by a table of
 * fields.  Nested mappings are addressed with dotted keys ("peer.address").
 *
 *	struct my_cfg { char *listen; long workers; int mode; bool tls; };
 *	static const char *const modes[] = { "all", "waypoint", "none", NULL };
 *	static const struct hp_cfg_field fields[] = {
 *		HP_CFG_STR(struct my_cfg, listen, "listen", "ADDR:PORT to serve on"),
 *		HP_CFG_INT(struct my_cfg, workers, "workers", 1, 64, "threads"),
 *		HP_CFG_ENUM(struct my_cfg, mode, "offload", modes, "default mode"),
 *		HP_CFG_BOOL(struct my_cfg, tls, "tls.enabled", "serve HTTPS"),
 *		{ 0 }
 *	};
 *
 * Errors name the input and position, then what is accepted:
 *   agent.yaml:4:10: "sometimes" is not a valid value for "offload"; accepted: all, waypoint, none
 *   agent.yaml:7:1: unknown key "wrokers"; accepted: listen, workers, offload, tls.enabled
 * Keys absent from the file keep the struct's current (default) values.
 */
#ifndef HP_CONFIG_H
#define HP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum hp_cfg_type {
	HP_CFG_T_STR,	   /* char *, malloc'd; replaced values are freed */
	HP_CFG_T_INT,	   /* long, within [min, max] */
	HP_CFG_T_BOOL,	   /* bool: true/false/yes/no/on/off */
	HP_CFG_T_ENUM,	   /* int: index into choices */
	HP_CFG_T_DURATION, /* long milliseconds: "250ms", "2s", "5m", "1h" or a bare number of ms */
	HP_CFG_T_STRLIST,  /* char **, NULL-terminated, malloc'd */
};

struct hp_cfg_field {
	const char *key;
	enum hp_cfg_type type;
	size_t offset;
	long min, max;
	const char *const *choices;
	const char *help;
};

#define HP_CFG_STR(T, m, k, h)  { (k), HP_CFG_T_STR, offsetof(T, m), 0, 0, NULL, (h) }
#define HP_CFG_INT(T, m, k, lo, hi, h) { (k), HP_CFG_T_INT, offsetof(T, m), (lo), (hi), NULL, (h) }
#define HP_CFG_BOOL(T, m, k, h) { (k), HP_CFG_T_BOOL, offsetof(T, m), 0, 0, NULL, (h) }
#define HP_CFG_ENUM(T, m, k, c, h) { (k), HP_CFG_T_ENUM, offsetof(T, m), 0, 0, (c), (h) }
#define HP_CFG_DURATION(T, m, k, lo, hi, h) { (k), HP_CFG_T_DURATION, offsetof(T, m), (lo), (hi), NULL, (h) }
#define HP_CFG_STRLIST(T, m, k, h) { (k), HP_CFG_T_STRLIST, offsetof(T, m), 0, 0, NULL, (h) }

/*
 * Load @path into @cfg.  Returns 0, or -errno with a one-line message in
 * @err ("file:line:col: ..."; for I/O errors "file: strerror").  On error
 * @cfg may be partly updated; it stays valid for hp_cfg_free().
 */
int hp_cfg_load_file(const char *path, const struct hp_cfg_field *fields,
		     void *cfg, char *err, size_t errlen);
/* Same, from memory; @name is used in messages. */
int hp_cfg_load_buf(const char *name, const char *buf, size_t len,
		    const struct hp_cfg_field *fields, void *cfg,
		    char *err, size_t errlen);

/* Free the strings and lists the loader allocated in @cfg. */
void hp_cfg_free(const struct hp_cfg_field *fields, void *cfg);

/* Parse a duration as the loader does.  Returns 0 or -EINVAL. */
int hp_cfg_parse_duration(const char *s, long *ms);

#endif
