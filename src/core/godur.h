/* godur.h - Go time.Duration text: parsing ("1.5h", "300ms", "30m10s") as
 * used in upstream's config options and TTLs, and formatting exactly like
 * Go's Duration.String() ("423.992µs", "1m30s") as used in ping replies. */
#ifndef CORE_GODUR_H
#define CORE_GODUR_H

#include <stddef.h>
#include <stdint.h>

/* Parses a Go duration into nanoseconds; 0 on success, -1 with a message in
 * err (at least 128 bytes) on failure. */
int godur_parse(const char *s, int64_t *ns, char *err, size_t errlen);
/* Formats ns as Go does; returns the length written (buffer >= 32 bytes). */
size_t godur_format(int64_t ns, char *out, size_t outlen);

#endif
