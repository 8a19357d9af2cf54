/* shlex.c - see shlex.h. */
#include "core/shlex.h"

#include <stdlib.h>
#include <string.h>

char **shlex_split(const char *s, const char **err)
{
    size_t cap = 8, n = 0;
    char **out = calloc(cap, sizeof *out);
    char *word = malloc(strlen(s) + 1);
    if (!out || !word)
        goto oom;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!*p)
            break;
        size_t w = 0;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            if (*p == '\\') {
                p++;
                if (*p)
                    word[w++] = *p++;
            } else if (*p == '\'') {
                p++;
                while (*p && *p != '\'')
                    word[w++] = *p++;
                if (!*p) {
                    *err = "unterminated single quote";
                    goto fail;
                }
                p++;
            } else if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
                        p++;
                    word[w++] = *p++;
                }
                if (!*p) {
                    *err = "unterminated double quote";
                    goto fail;
                }
                p++;
            } else {
                word[w++] = *p++;
            }
        }
        if (n + 2 > cap) {
            cap *= 2;
            char **no = realloc(out, cap * sizeof *out);
            if (!no)
                goto oom;
            out = no;
        }
        out[n] = malloc(w + 1);
        if (!out[n])
            goto oom;
        memcpy(out[n], word, w);
        out[n][w] = 0;
        out[++n] = NULL;
    }
    free(word);
    return out;
oom:
    *err = "out of memory";
fail:
    free(word);
    shlex_free(out);
    return NULL;
}

void shlex_free(char **words)
{
    if (!words)
        return;
    for (char **w = words; *w; w++)
        free(*w);
    free(words);
}
