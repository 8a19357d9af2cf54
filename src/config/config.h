/* config.h - Receptor's v1 configuration: YAML file and command line.
 *
 * One table (config_table.c) lists every entry upstream Receptor accepts, with
 * its options, their types, defaults and flags.  Both input forms (a YAML list
 * of single-key maps via --config FILE, and "--entry key=value ..." on the
 * command line) are parsed into the same list of items; every option value is
 * converted to its declared type and stored in a jansson object with defaults
 * applied, so consumers read typed values and never re-parse text.
 *
 * Errors name where the problem is: "FILE:LINE: entry 'tcp-peer': unknown
 * key 'adress'", "command line: entry 'node': key 'id': ...". */
#ifndef CONFIG_CONFIG_H
#define CONFIG_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_type {
    CONFIG_STR,    /* json string */
    CONFIG_INT,    /* json integer; text accepts 0x.., leading-0 octal (permissions=0600) */
    CONFIG_FLOAT,  /* json real */
    CONFIG_BOOL,   /* json true/false; text accepts Go's strconv.ParseBool spellings */
    CONFIG_LIST,   /* json array of strings; repeated key=value appends, or a JSON array text */
    CONFIG_MAP,    /* json object (nodecost: string -> number); JSON object text on the CLI */
    CONFIG_JSON,   /* any YAML/JSON value kept as is (e.g. firewallrules: list of maps) */
};

/* option flags */
#define CONFIG_REQUIRED 0x1
#define CONFIG_BARE     0x2  /* receives a value given without key= (one per entry) */

struct config_option {
    const char *name;     /* lower case */
    enum config_type type;
    const char *def;      /* default as text (converted like CLI text) or NULL */
    unsigned flags;
    const char *help;
};

/* entry flags */
#define CONFIG_SINGLETON   0x1  /* may appear once */
#define CONFIG_EXCLUSIVE   0x2  /* must be the only entry (version, cert-*) */
#define CONFIG_RELOADABLE  0x4  /* may change on reload (backends, local-only) */
#define CONFIG_NOT_YET     0x8  /* parsed and validated, but startup stops with
                                "not supported yet: <entry>" */
#define CONFIG_HIDDEN      0x10 /* not listed in --help (command-runner) */
#define CONFIG_NO_OPTIONS  0x20 /* takes no options (trace, version; local-only
                                has only its unused `local` flag) */
#define CONFIG_DEPRECATED  0x40 /* with CONFIG_NOT_YET: refused for good, because
                                upstream deprecated it (work-python) */

/* Groups of entries in --help, in the order they are printed (upstream's
 * cmdline sections). */
enum config_section {
    CONFIG_SEC_MAIN,       /* node, logging, version: no heading */
    CONFIG_SEC_RESOURCES,  /* tls-server, tls-client */
    CONFIG_SEC_BACKENDS,   /* tcp/udp/ws listeners and peers */
    CONFIG_SEC_SERVICES,   /* control service, proxies, ip-router */
    CONFIG_SEC_WORKERS,    /* work-* */
    CONFIG_SEC_CERTS,      /* cert-* */
    CONFIG_SEC_COUNT
};

struct config_entry_def {
    const char *name;     /* as written in YAML files (lower case) */
    unsigned flags;
    const struct config_option *options; /* terminated by {NULL} */
    const char *help;
    enum config_section section;
};

extern const struct config_entry_def config_entries[]; /* terminated by {NULL} */

/* Input bounds for YAML files. */
#define CONFIG_MAX_FILE_SIZE (16u * 1024 * 1024)
#define CONFIG_MAX_DEPTH     64        /* nested sequences/mappings */
#define CONFIG_MAX_NODES     (1u << 20) /* YAML events per file */
#define CONFIG_MAX_ITEMS     (1u << 16) /* entries per configuration */

struct config_item {
    const struct config_entry_def *def;
    json_t *opts;   /* option name -> typed value; only set options and defaults */
    char *where;    /* "FILE:LINE" or "command line" for messages */
};

struct config {
    struct config_item *items;
    size_t n;
    char *config_file;  /* last --config/-c file given, or NULL (enables reload) */
    int want_help;      /* --help / -h, or no arguments at all */
    int want_version;   /* --version */
    int want_bash_completion;
};

/* Parses argv (argv[0] skipped) including any --config/-c files at their
 * position.  Applies defaults, checks required options, singletons,
 * exclusivity, types, and adds an implicit `node` entry.  On error returns
 * -1 and writes a message naming file, line, entry and key into err.
 * -h/--help/--bash-completion stop the scan: 0 with only that flag set and
 * no items; no arguments at all sets want_help.  want_version is set when a
 * `version` entry (--version) is present.  On error out is already freed. */
int config_parse_args(int argc, char **argv, struct config *out, char *err, size_t errlen);
/* Parses one YAML file into items appended to cfg (no defaults/finalise). */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);
/* The same for YAML text in memory; name is used in messages ("NAME:LINE"). */
int config_load_buffer(struct config *cfg, const char *name, const char *data, size_t len,
                       char *err, size_t errlen);
/* Applies defaults and cross-item checks; called by config_parse_args. */
int config_finalise(struct config *cfg, char *err, size_t errlen);
/* Frees everything cfg holds and zeroes it; safe on a zeroed struct and
 * after a failed config_parse_args (which already did it). */
void config_free(struct config *cfg);
/* Writes usage text listing every non-hidden entry and its options. */
void config_print_help(const char *argv0, FILE *out);
/* Writes a bash completion script (--bash-completion). */
void config_print_bash_completion(const char *argv0, FILE *out);
/* -1 with "not supported yet: <entry>" for the first item whose entry is
 * marked CONFIG_NOT_YET; 0 when the daemon can run every item. */
int config_check_supported(const struct config *cfg, char *err, size_t errlen);
/* Checks a host name for use as the default node ID: -1 with "no node ID
 * specified and local host name is localhost" for localhost/localhost.*. */
int config_check_hostname(const char *host, char *err, size_t errlen);

/* Table lookups.  Entry names: exact (YAML files) or case-insensitive
 * (command line); option names are always case-insensitive. */
const struct config_entry_def *config_entry_lookup(const char *name, int fold_case);
const struct config_option *config_option_lookup(const struct config_entry_def *def, const char *name);

/* The first item of that entry name, or NULL. */
const struct config_item *config_find(const struct config *cfg, const char *entry);
/* Canonical text of an item (entry name + options JSON, sorted keys), to
 * compare items across reloads.  malloc'ed. */
char *config_item_canonical(const struct config_item *item);

/* Typed accessors; they return the default-applied value, or the fallback
 * when the option is unset. */
const char *config_str(const struct config_item *it, const char *opt);    /* NULL if unset */
int64_t config_int(const struct config_item *it, const char *opt, int64_t fallback);
double config_float(const struct config_item *it, const char *opt, double fallback);
int config_bool(const struct config_item *it, const char *opt, int fallback);
json_t *config_json(const struct config_item *it, const char *opt);       /* borrowed; NULL if unset */

#endif
