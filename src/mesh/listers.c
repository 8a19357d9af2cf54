/* listers.c - see listers.h.  Entries live in one array (their numbers
 * never change); a power-of-two slot table of entry numbers finds a name.
 * Lister lists are small arrays searched linearly: an execution node is
 * listed by its two or three peers, a hop by its hundred. */
#include "mesh/listers.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

void listers_init(struct listers *t) { memset(t, 0, sizeof *t); }

void listers_free(struct listers *t)
{
    for (uint32_t i = 0; i < t->count; i++) {
        free(t->e[i].name);
        free(t->e[i].by);
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

/* The slot holding name, or the empty slot where it would go. */
static uint32_t *find_slot(const struct listers *t, const char *name)
{
    uint32_t i = hash_name(name) & (t->scap - 1);
    while (t->slots[i] && strcmp(t->e[t->slots[i] - 1].name, name) != 0)
        i = (i + 1) & (t->scap - 1);
    return &t->slots[i];
}

static uint32_t lookup(const struct listers *t, const char *name)
{
    if (!t->scap)
        return NONE;
    uint32_t s = *find_slot(t, name);
    return s ? s - 1 : NONE;
}

static int grow_slots(struct listers *t)
{
    uint32_t ncap = t->scap ? t->scap * 2 : 64;
    uint32_t *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    uint32_t *old = t->slots;
    t->slots = ns;
    t->scap = ncap;
    for (uint32_t i = 0; i < t->count; i++)
        *find_slot(t, t->e[i].name) = i + 1;
    free(old);
    return 0;
}

static uint32_t intern(struct listers *t, const char *name)
{
    uint32_t i = lookup(t, name);
    if (i != NONE)
        return i;
    if ((t->count + 1) * 2 > t->scap && grow_slots(t) < 0)
        return NONE;
    if (t->count == t->ecap) {
        uint32_t ncap = t->ecap ? t->ecap * 2 : 64;
        struct listers_entry *ne = realloc(t->e, ncap * sizeof *ne);
        if (!ne)
            return NONE;
        t->e = ne;
        t->ecap = ncap;
    }
    char *copy = strdup(name);
    if (!copy)
        return NONE;
    t->e[t->count] = (struct listers_entry){ .name = copy };
    *find_slot(t, name) = t->count + 1;
    return t->count++;
}

static uint32_t find_by(const struct listers_entry *e, uint32_t who)
{
    for (uint32_t i = 0; i < e->n; i++)
        if (e->by[i] == who)
            return i;
    return NONE;
}

void listers_add(struct listers *t, const char *target, const char *lister)
{
    uint32_t ti = intern(t, target), li = intern(t, lister);
    if (ti == NONE || li == NONE) {
        t->broken = 1;
        return;
    }
    struct listers_entry *e = &t->e[ti];
    if (find_by(e, li) != NONE)
        return;
    if (e->n == e->cap) {
        uint32_t ncap = e->cap ? e->cap * 2 : 2;
        uint32_t *nb = realloc(e->by, ncap * sizeof *nb);
        if (!nb) {
            t->broken = 1;
            return;
        }
        e->by = nb;
        e->cap = ncap;
    }
    e->by[e->n++] = li;
}

void listers_del(struct listers *t, const char *target, const char *lister)
{
    uint32_t ti = lookup(t, target), li = lookup(t, lister);
    if (ti == NONE || li == NONE)
        return;
    struct listers_entry *e = &t->e[ti];
    uint32_t at = find_by(e, li);
    if (at != NONE)
        e->by[at] = e->by[--e->n];
}

int listers_of(struct listers *t, const char *target, const char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    if (t->broken)
        return -1;
    uint32_t ti = lookup(t, target);
    if (ti == NONE || t->e[ti].n == 0)
        return 0;
    const struct listers_entry *e = &t->e[ti];
    const char **out = malloc(e->n * sizeof *out);
    if (!out)
        return -1;
    for (uint32_t i = 0; i < e->n; i++)
        out[i] = t->e[e->by[i]].name;
    *names = out;
    *n = e->n;
    return 0;
}

int listers_should_rebuild(const struct listers *t, size_t rows)
{
    return t->broken || t->count > 4 * rows + 1024;
}
