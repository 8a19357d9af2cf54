/* Fuzzes work-signing verification (src/work/sign.c).  The first byte picks
 * what the rest is:
 *   0: a whole token;
 *   1: "header\0claims[\0signature]" - the JSON texts are base64url-encoded
 *      here, so the fuzzer works on the JSON readers directly;
 *   2: key-file text for both PEM loaders.
 * No token may ever verify (the fuzzer cannot sign with the key below; an
 * accepted token would be a signature bypass), every refusal must carry a
 * message, and nothing may crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "work/sign.h"

#define NOW (1900000000LL * 1000000000LL)

/* tests/unit/sign/fixtures/rsa_pub.pem */
static const char public_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA00CMCReJpfmvbnPlHvVL\n"
    "cIUJvaDVe6OHoA/r/JYOKOjGF/cPaXhHHWLwFbUMaiHZyA+ElQpPm1zC3ngKq276\n"
    "SR8cUzv16ex57cHdoXfIhkiC3GQoWQehJIE0sOPGYSSAXkJfh12lifpuK4AvnwMh\n"
    "f5CVuUrB8otSmHJ2NojgZduaI0Vg2HKfdtnmMfDdmyx9auqMz9pi9/CUzU4ip/7Z\n"
    "yhL3mXA/jYdvCEju9zqrsvCscmEtSzhYFqM5LUmcX7PTBNnC8ZerGgonrHiwV0mt\n"
    "RnNZjQMi83qa+xRqhJLxgj5H0B/7Q0AcmRNz72XWlytfrVE+H9O2IwC9bYWFRBdN\n"
    "rwIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
    ;

static struct work_verifier *verifier(void)
{
    static struct work_verifier *v;
    if (!v)
        v = sign_verifier_from_pem(public_pem, strlen(public_pem), NULL, 0);
    if (!v)
        abort();
    return v;
}

static void check(const char *token)
{
    char err[256] = "";
    if (sign_verify_at(verifier(), token, "node2", NOW, err, sizeof err) == 0 || !err[0])
        abort();
}

static void b64url(const uint8_t *p, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        size_t k = n - i < 3 ? n - i : 3;
        for (size_t j = 0; j <= k; j++)
            *out++ = tab[v >> (18 - 6 * j) & 63];
    }
    *out = 0;
}

/* header \0 claims [\0 signature] -> b64(header).b64(claims).signature */
static void check_parts(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t hn = nul ? (size_t)(nul - data) : size;
    const uint8_t *claims = nul ? nul + 1 : data + size;
    size_t rest = size - hn - (nul ? 1 : 0);
    const uint8_t *nul2 = memchr(claims, 0, rest);
    size_t cn = nul2 ? (size_t)(nul2 - claims) : rest;
    const uint8_t *sig = nul2 ? nul2 + 1 : (const uint8_t *)"c2ln";
    size_t sn = nul2 ? rest - cn - 1 : 4;
    char *token = malloc(hn / 3 * 4 + cn / 3 * 4 + sn + 16);
    b64url(data, hn, token);
    size_t len = strlen(token);
    token[len++] = '.';
    b64url(claims, cn, token + len);
    len = strlen(token);
    token[len++] = '.';
    memcpy(token + len, sig, sn);
    token[len + sn] = 0;
    check(token);
    free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 3;
    data++;
    size--;
    if (mode == 1) {
        check_parts(data, size);
        return 0;
    }
    if (mode == 2) {
        sign_verifier_free(sign_verifier_from_pem(data, size, NULL, 0));
        sign_signer_free(sign_signer_from_pem(data, size, 0, NULL, 0));
        return 0;
    }
    char *token = malloc(size + 1);
    memcpy(token, data, size);
    token[size] = 0;
    if (token[0]) /* "" is "signature is empty", also a refusal */
        check(token);
    free(token);
    return 0;
}
