/* signature.c - see signature.h. */
#include "work/signature.h"

#include <stdio.h>

#include "work/workceptor.h"

#ifdef HAVE_WORK_SIGN
#include "work/sign.h"
#else
/* The JWT library is being added in sign.c; until then signed work is
 * refused with a clear error instead of being accepted unchecked. */
static int sign_verify(struct work_verifier *v, const char *t, const char *n, char *err, size_t len)
{
    (void)v; (void)t; (void)n;
    snprintf(err, len, "could not verify signature: signature verification is not available in this build");
    return -1;
}
static char *sign_token(struct work_signer *s, const char *node, char *err, size_t len)
{
    (void)s; (void)node;
    snprintf(err, len, "signing is not available in this build");
    return NULL;
}
#endif

int signature_check(struct workceptor *wc, int required, const char *signature, int trusted,
                    char *err, size_t errlen)
{
    if (!required) {
        if (signature && signature[0]) {
            snprintf(err, errlen, "work type did not expect a signature");
            return -1;
        }
        return 0;
    }
    if (trusted)
        return 0; /* the unix socket is trusted, as upstream */
    if (!signature || !signature[0]) {
        snprintf(err, errlen, "could not verify signature: signature is empty");
        return -1;
    }
    return sign_verify(workceptor_verifier(wc), signature, node_id(workceptor_node(wc)), err, errlen) == 0 ? 0 : -1;
}

char *signature_make(struct workceptor *wc, const char *node, char *err, size_t errlen)
{
    struct work_signer *s = workceptor_signer(wc);
    if (!s) {
        snprintf(err, errlen, "cannot sign work: no work-signing key configured");
        return NULL;
    }
    return sign_token(s, node, err, errlen);
}
