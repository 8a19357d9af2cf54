/* mktoken - a command-line front end to src/work/sign.c for the integration
 * tests (tests/integration/test_sign.py), which check our tokens with PyJWT
 * and PyJWT's tokens with us:
 *   mktoken sign PRIVKEY AUDIENCE [LIFETIME_NS]   prints a token
 *   mktoken verify PUBKEY TOKEN NODE              prints "ok" or the error
 * Exit status 0 on success, 1 on a refused token or key, 2 on misuse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "work/sign.h"

static int do_sign(const char *key, const char *audience, const char *lifetime)
{
    char err[512];
    struct work_signer *s = sign_signer_load(key, lifetime ? strtoll(lifetime, NULL, 10) : 0,
                                             err, sizeof err);
    char *token = s ? sign_token(s, audience, err, sizeof err) : NULL;
    printf("%s\n", token ? token : err);
    free(token);
    sign_signer_free(s);
    return token ? 0 : 1;
}

static int do_verify(const char *key, const char *token, const char *node)
{
    char err[512];
    struct work_verifier *v = sign_verifier_load(key, err, sizeof err);
    int rc = v ? sign_verify(v, token, node, err, sizeof err) : -1;
    printf("%s\n", rc == 0 ? "ok" : err);
    sign_verifier_free(v);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && argc <= 5 && !strcmp(argv[1], "sign"))
        return do_sign(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
    if (argc == 5 && !strcmp(argv[1], "verify"))
        return do_verify(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: mktoken sign PRIVKEY AUDIENCE [LIFETIME_NS]\n"
                    "       mktoken verify PUBKEY TOKEN NODE\n");
    return 2;
}
