/* dlib.h - load a shared library at run time and look up a table of symbols.
 *
 * The daemon maps its TLS stack (GnuTLS and ngtcp2's GnuTLS glue) only when
 * it first needs it: see core/gnutls_lib.h and stream/quic_crypto_lib.h. */
#ifndef CORE_DLIB_H
#define CORE_DLIB_H

#include <stddef.h>

/* Opens `soname` and fills ptrs[i] with the address of names[i].  0, or -1
 * with "cannot load SONAME: reason" / "SONAME has no symbol NAME" in err. */
int dlib_load(const char *soname, const char *const *names, void **ptrs, size_t n,
              char *err, size_t errlen);

#endif
