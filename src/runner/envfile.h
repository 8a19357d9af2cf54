/* envfile.h - reading the files of <PDD>/env/ the way ansible-runner's
 * ArtifactLoader does (spec 1.2): a mapping file is JSON first and YAML
 * (safe_load, YAML 1.1 scalars) second; a missing, empty, unreadable or
 * non-mapping file is silently ignored.  Also the small shell-word helpers
 * the command line needs (shlex.split and shlex.quote). */
#ifndef RUNNER_ENVFILE_H
#define RUNNER_ENVFILE_H

#include <jansson.h>
#include <stddef.h>

#include "core/buf.h"

/* A mapping from PDD-relative file rel, or NULL. */
json_t *envfile_load_mapping(const char *pdd, const char *rel);
/* The file as a string (malloc'ed), or NULL when missing/empty. */
char *envfile_load_string(const char *pdd, const char *rel);
/* YAML text to a JSON value (first document), or NULL. */
json_t *envfile_yaml_to_json(const char *text, size_t n);

/* shlex.split(s) in POSIX mode; returns the word count or -1 (unbalanced
 * quotes); *words is a malloc'ed array of malloc'ed strings. */
int envfile_shlex_split(const char *s, char ***words);
/* shlex.quote(s) appended to out. */
int envfile_shlex_quote(struct buf *out, const char *s);
/* Translates a Python re pattern into POSIX ERE (\\s \\d \\w classes, lazy
 * quantifiers made greedy), good enough for password prompts. */
int envfile_python_regex(const char *py, struct buf *out);
/* Python str() of a JSON value for the environment (True/False/None...). */
char *envfile_pystr(const json_t *v);

#endif
