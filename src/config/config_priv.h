/* config_priv.h - helpers shared by the files of src/config only.
 *
 * config.c owns the item list, value conversion, the cross-item checks and
 * the accessors; config_yaml.c and config_args.c turn their input into items
 * through these functions, so both forms convert values identically. */
#ifndef CONFIG_CONFIG_PRIV_H
#define CONFIG_CONFIG_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define CONFIG_NO_ITEM ((size_t)-1)

/* Writes a message into err (if any) and returns -1. */
int config_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends an item with no options; returns its index or CONFIG_NO_ITEM with a
 * message (too many entries, out of memory). */
size_t config_add_item(struct config *cfg, const struct config_entry_def *def, const char *where,
                       char *err, size_t errlen);
/* The option receiving bare values, or NULL. */
const struct config_option *config_bare_option(const struct config_entry_def *def);

/* Text -> typed value, as on the command line (and for YAML scalars and
 * defaults).  On failure writes a reason ("expected an integer, got "x"")
 * into why and returns -1. */
int config_value_from_text(const struct config_option *opt, const char *text, json_t **out, char *why,
                           size_t whylen);
/* Go strconv.ParseInt(s, 0, 64): 0x / 0o / 0b prefixes, leading 0 = octal. */
int config_parse_int(const char *s, int64_t *out);
/* Go ParseFloat-like, finite values only. */
int config_parse_float(const char *s, double *out);
/* Go ParseBool plus the YAML 1.1 spellings (yes/no/on/off/y/n). */
int config_parse_bool(const char *s, int *out);
/* "an integer", "a list of strings", ... for messages. */
const char *config_type_expectation(enum config_type type);

#endif
