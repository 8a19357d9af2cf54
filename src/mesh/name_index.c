/* name_index.c - see name_index.h. */
#include "mesh/name_index.h"

#include <stdlib.h>
#include <string.h>

void name_index_init(struct name_index *t, name_index_name_fn name_of, const void *owner)
{
    memset(t, 0, sizeof *t);
    t->name_of = name_of;
    t->owner = owner;
}

void name_index_free(struct name_index *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static uint32_t *find_slot(const struct name_index *t, uint32_t *slots, uint32_t cap, const char *name)
{
    uint32_t i = hash_name(name) & (cap - 1);
    while (slots[i] && strcmp(t->name_of(t->owner, slots[i] - 1), name) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

uint32_t name_index_find(const struct name_index *t, const char *name)
{
    if (!t->cap)
        return NAME_INDEX_NONE;
    uint32_t s = *find_slot(t, t->slots, t->cap, name);
    return s ? s - 1 : NAME_INDEX_NONE;
}

int name_index_add(struct name_index *t, uint32_t entry)
{
    if ((t->count + 1) * 2 > t->cap) {
        uint32_t ncap = t->cap ? t->cap * 2 : 64;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (uint32_t i = 0; i < t->cap; i++)
            if (t->slots[i])
                *find_slot(t, ns, ncap, t->name_of(t->owner, t->slots[i] - 1)) = t->slots[i];
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    *find_slot(t, t->slots, t->cap, t->name_of(t->owner, entry)) = entry + 1;
    t->count++;
    return 0;
}
