/* origins.c - see origins.h. */
#include "mesh/origins.h"

#include <stdlib.h>
#include <string.h>

void origins_init(struct origins *t) { memset(t, 0, sizeof *t); }

void origins_free(struct origins *t)
{
    for (uint32_t i = 0; i < t->count; i++) {
        free(t->e[i].name);
        free(t->e[i].update_id);
    }
    free(t->e);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static uint32_t *find_slot(const struct origins *t, const char *name)
{
    uint32_t i = hash_name(name) & (t->scap - 1);
    while (t->slots[i] && strcmp(t->e[t->slots[i] - 1].name, name) != 0)
        i = (i + 1) & (t->scap - 1);
    return &t->slots[i];
}

struct origin *origins_get(const struct origins *t, const char *name)
{
    if (!t->scap)
        return NULL;
    uint32_t s = *find_slot(t, name);
    return s ? &t->e[s - 1] : NULL;
}

static int grow(struct origins *t)
{
    if ((t->count + 1) * 2 > t->scap) {
        uint32_t ncap = t->scap ? t->scap * 2 : 64;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        free(t->slots);
        t->slots = ns;
        t->scap = ncap;
        for (uint32_t i = 0; i < t->count; i++)
            *find_slot(t, t->e[i].name) = i + 1;
    }
    if (t->count == t->ecap) {
        uint32_t ncap = t->ecap ? t->ecap * 2 : 64;
        struct origin *ne = realloc(t->e, ncap * sizeof *ne);
        if (!ne)
            return -1;
        t->e = ne;
        t->ecap = ncap;
    }
    return 0;
}

int origins_set(struct origins *t, const char *name, uint64_t epoch, uint64_t sequence,
                const char *update_id, int64_t accepted_at)
{
    struct origin *o = origins_get(t, name);
    char *uid = strdup(update_id);
    if (!uid)
        return -1;
    if (!o) {
        char *copy = strdup(name);
        if (!copy || grow(t) < 0) {
            free(copy);
            free(uid);
            return -1;
        }
        o = &t->e[t->count];
        *o = (struct origin){ .name = copy };
        *find_slot(t, copy) = ++t->count;
    }
    free(o->update_id);
    o->update_id = uid;
    o->epoch = epoch;
    o->sequence = sequence;
    o->accepted_at = accepted_at;
    return 0;
}
