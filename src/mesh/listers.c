/* listers.c - see listers.h.  Entries live in one array (their numbers
 * never change); a name_index finds a name's entry.
 * Lister lists are small arrays searched linearly: an execution node is
 * listed by its two or three peers, a hop by its hundred. */
#include "mesh/listers.h"

#include <stdlib.h>
#include <string.h>

#define NONE NAME_INDEX_NONE

static const char *entry_name(const void *owner, uint32_t i)
{
    return ((const struct listers *)owner)->e[i].name;
}

void listers_init(struct listers *t)
{
    memset(t, 0, sizeof *t);
    name_index_init(&t->index, entry_name, t);
}

void listers_free(struct listers *t)
{
    for (uint32_t i = 0; i < t->count; i++) {
        free(t->e[i].name);
        free(t->e[i].by);
    }
    free(t->e);
    name_index_free(&t->index);
    listers_init(t);
}

static uint32_t lookup(const struct listers *t, const char *name) { return name_index_find(&t->index, name); }

static uint32_t intern(struct listers *t, const char *name)
{
    uint32_t i = lookup(t, name);
    if (i != NONE)
        return i;
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
    if (name_index_add(&t->index, t->count) < 0) {
        free(copy);
        return NONE;
    }
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
