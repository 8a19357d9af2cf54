/* shlex.h - POSIX shell-like word splitting (Python shlex.split / Go
 * google/shlex rules as upstream uses them for command params): quotes,
 * backslash escapes, no variable expansion. */
#ifndef CORE_SHLEX_H
#define CORE_SHLEX_H

/* Returns a NULL-terminated array of malloc'ed words (free with
 * shlex_free), or NULL with err set (unterminated quote). */
char **shlex_split(const char *s, const char **err);
void shlex_free(char **words);

#endif
