/* util.h - small helpers shared by every layer: random IDs, clocks, paths. */
#ifndef CORE_UTIL_H
#define CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

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
/* Parses RFC 3339 (fraction and offset optional); 0 on success. */
int util_parse_rfc3339(const char *s, int64_t *ns);
/* A safe path component: non-empty, no '/', not "." or "..", no NUL, <= max. */
int util_safe_component(const char *s, size_t max);
/* strdup that aborts on OOM (startup paths only). */
char *util_xstrdup(const char *s);

#endif
