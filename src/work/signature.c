/* signature.c - see signature.h. */
#include "work/signature.h"

#include <stdio.h>

#include "work/sign.h"
#include "work/workceptor.h"

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
