/* util.h - small helpers shared by every layer: random IDs, clocks, paths. */
#ifndef CORE_UTIL_H
#define CORE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fills out with n random characters from [0-9A-Za-z] (crypto RNG) + NUL. */
void util_random_id(char *out, size_t n);
uint64_t util_random_u64(void);
/* Wall clock in nanoseconds since the Unix epoch. */
int64_t util_now_ns(void);
/* Monotonic clock in nanoseconds. */
int64_t util_mono_ns(void);
/* RFC 3339 with nanoseconds in UTC, as Go prints time.Time: "...T08:44:11.972760925Z"
 * (trailing zeros of the fraction dropped, as Go's RFC3339Nano). */
void util_format_rfc3339(int64_t ns, char *out, size_t len);
/* Parses RFC 3339 (fraction and offset optional); 0 on success, -1 when
 * malformed or outside the int64 nanosecond range (years 1677-2262). */
int util_parse_rfc3339(const char *s, int64_t *ns);
/* The same to the second, for any year 0000-9999 (certificate validity). */
int util_parse_rfc3339_seconds(const char *s, int64_t *secs);
/* A safe path component: non-empty, no '/', not "." or "..", no NUL, <= max. */
int util_safe_component(const char *s, size_t max);
/* strdup that aborts on OOM (startup paths only). */
char *util_xstrdup(const char *s);
/* mkdir -p: every missing ancestor of path with parent_mode, path itself
 * with leaf_mode (both less the umask).  0 when path exists afterwards (or
 * already did, even as a file); -1 with errno otherwise, naming the first
 * ancestor that could not be made if one failed. */
int util_mkdir_p(const char *path, mode_t parent_mode, mode_t leaf_mode);
/* "dir/path", or path itself when it is absolute or dir is NULL (no
 * normalisation).  Malloc'ed; NULL when out of memory. */
char *util_path_join(const char *dir, const char *path);
/* path joined to the working directory unless it is absolute (no
 * normalisation); path itself if the working directory is unknown.
 * Malloc'ed; NULL when out of memory. */
char *util_abspath(const char *path);
/* The formatted string, malloc'ed; NULL when out of memory or the format
 * fails (asprintf with the error folded into the result). */
char *util_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *util_vasprintf(const char *fmt, va_list ap);
/* fork + exec of argv[0] (searched in PATH) with stdin, stdout and stderr
 * on /dev/null and SIGINT/SIGTERM at their defaults: the child's pid, or -1
 * if fork failed (a child that cannot exec exits 127). */
pid_t util_spawn_quiet(const char *const argv[]);
/* util_spawn_quiet, then waits: 0 if the command exited 0, else -1. */
int util_run_quiet(const char *const argv[]);

#endif
