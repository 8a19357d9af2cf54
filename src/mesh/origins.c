/* origins.c - see origins.h. */
#include "mesh/origins.h"

#include <stdlib.h>
#include <string.h>

static const char *entry_name(const void *owner, uint32_t i)
{
    return ((const struct origins *)owner)->e[i].name;
}

void origins_init(struct origins *t)
{
    memset(t, 0, sizeof *t);
    name_index_init(&t->index, entry_name, t);
}

void origins_free(struct origins *t)
{
    for (uint32_t i = 0; i < t->count; i++) {
        free(t->e[i].name);
        free(t->e[i].update_id);
    }
    free(t->e);
    name_index_free(&t->index);
    origins_init(t);
}

struct origin *origins_get(const struct origins *t, const char *name)
{
    uint32_t i = name_index_find(&t->index, name);
    return i == NAME_INDEX_NONE ? NULL : &t->e[i];
}

static int grow(struct origins *t)
{
    if (t->count < t->ecap)
        return 0;
    uint32_t ncap = t->ecap ? t->ecap * 2 : 64;
    struct origin *ne = realloc(t->e, ncap * sizeof *ne);
    if (!ne)
        return -1;
    t->e = ne;
    t->ecap = ncap;
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
        t->e[t->count] = (struct origin){ .name = copy };
        if (name_index_add(&t->index, t->count) < 0) {
            free(copy);
            free(uid);
            return -1;
        }
        o = &t->e[t->count++];
    }
    free(o->update_id);
    o->update_id = uid;
    o->epoch = epoch;
    o->sequence = sequence;
    o->accepted_at = accepted_at;
    return 0;
}
