/* names.c - see names.h.  HighwayHash itself comes from libhighwayhash. */
#include "mesh/names.h"

#include <highwayhash/c_bindings.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define NAME_COST(len) ((len) + 1 + 16 + 2 * sizeof(struct names_slot)) /* + malloc, load 1/2 */

uint64_t names_hash(const char *name, size_t len)
{
    static const uint64_t zero_key[4] = { 0, 0, 0, 0 };
    return HighwayHash64(zero_key, name, len);
}

void names_init(struct names *t) { memset(t, 0, sizeof *t); }

void names_free(struct names *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].name);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static struct names_slot *find_slot(struct names_slot *slots, size_t cap, uint64_t hash)
{
    size_t i = (size_t)(hash ^ (hash >> 29)) & (cap - 1);
    while (slots[i].name && slots[i].hash != hash)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(struct names *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    struct names_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].name)
            *find_slot(ns, ncap, t->slots[i].hash) = t->slots[i];
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

uint64_t names_add(struct names *t, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = names_hash(name, len);
    if (t->count >= NAMES_MAX || t->bytes + NAME_COST(len) > NAMES_MAX_BYTES) {
        if (!t->full_logged && !names_lookup(t, h)) {
            log_warning("Name table full (%zu names, %zu bytes; limits %d, %u): names seen "
                        "from now on are not remembered, messages from them are dropped",
                        t->count, t->bytes, NAMES_MAX, NAMES_MAX_BYTES);
            t->full_logged = 1;
        }
        return h;
    }
    if ((t->count + 1) * 2 > t->cap && grow(t) < 0)
        return h;
    struct names_slot *s = find_slot(t->slots, t->cap, h);
    if (!s->name) {
        s->name = strdup(name);
        if (!s->name)
            return h;
        s->hash = h;
        t->count++;
        t->bytes += NAME_COST(len);
    }
    return h;
}

const char *names_lookup(const struct names *t, uint64_t hash)
{
    if (!t->cap)
        return NULL;
    struct names_slot *s = find_slot(t->slots, t->cap, hash);
    return s->name;
}
