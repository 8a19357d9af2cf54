/* dlib.c - see dlib.h.  The handle is never closed: a library, once loaded,
 * stays for the life of the process (dlclose of GnuTLS is not safe while any
 * session or credential it allocated is alive). */
#include "core/dlib.h"

#include <dlfcn.h>
#include <stdio.h>

int dlib_load(const char *soname, const char *const *names, void **ptrs, size_t n,
              char *err, size_t errlen)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load %s: %s", soname, dlerror());
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = dlsym(h, names[i]);
        if (!ptrs[i]) {
            snprintf(err, errlen, "%s has no symbol %s", soname, names[i]);
            return -1;
        }
    }
    return 0;
}
