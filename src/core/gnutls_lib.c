/* gnutls_lib.c - see gnutls_lib.h.  The table is process-wide, like the
 * dynamic linker's own state: one GnuTLS per process, loaded once. */
#include "core/gnutls_lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dlib.h"
#include "core/log.h"

#ifndef GNUTLS_SONAME
#error "GNUTLS_SONAME must be set by the build (meson.build reads it off libgnutls.so)"
#endif

static struct gnutls_lib table;
static int loaded;

int gnutls_lib_load(char *err, size_t errlen)
{
    static const char *const names[] = {
#define GNUTLS_LIB_NAME(f) #f,
        GNUTLS_LIB_FUNCS(GNUTLS_LIB_NAME)
#undef GNUTLS_LIB_NAME
        "gnutls_malloc", "gnutls_free",
    };
    void *ptrs[sizeof names / sizeof names[0]];
    if (loaded)
        return 0;
    /* The struct is exactly one pointer per name, in the same order; POSIX
     * gives data and function pointers the same representation. */
    _Static_assert(sizeof table == sizeof ptrs, "gnutls_lib table and names out of step");
    if (dlib_load(GNUTLS_SONAME, names, ptrs, sizeof names / sizeof names[0], err, errlen) < 0)
        return -1;
    memcpy(&table, ptrs, sizeof table);
    loaded = 1;
    return 0;
}

const struct gnutls_lib *gnutls_lib(void)
{
    char err[512];
    if (!loaded && gnutls_lib_load(err, sizeof err) < 0) {
        log_msg(LOG_ERROR, "%s", err);
        exit(1);
    }
    return &table;
}
