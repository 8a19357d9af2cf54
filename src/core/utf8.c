/* utf8.c - see utf8.h. */
#include "core/utf8.h"

size_t utf8_seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        return 2;
    if ((c & 0xf0) == 0xe0)
        return 3;
    if ((c & 0xf8) == 0xf0)
        return 4;
    return 0;
}

size_t utf8_decode(const void *s, size_t n, int flags, uint32_t *cp)
{
    static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    const unsigned char *p = s;
    size_t len = utf8_seq_len(p[0]);
    if (len == 0 || len > n)
        return 0;
    uint32_t v = len == 1 ? p[0] : p[0] & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min[len] || v > 0x10ffff)
        return 0;
    if (v >= 0xd800 && v <= 0xdfff && !(flags & UTF8_WTF8))
        return 0;
    *cp = v;
    return len;
}

bool utf8_valid(const void *s, size_t n)
{
    const unsigned char *p = s;
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        size_t len = p[i] < 0x80 ? 1 : utf8_decode(p + i, n - i, 0, &cp);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

size_t utf8_encode(uint32_t cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

int utf8_put(struct buf *out, uint32_t cp)
{
    unsigned char b[4];
    return buf_append(out, b, utf8_encode(cp, b));
}
