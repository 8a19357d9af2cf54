/* seen.c - see seen.h.  Linear probing; expiry rebuilds the table from the
 * slots still fresh (sized for them), which is also how it shrinks after a
 * burst. */
#include "mesh/seen.h"

#include <highwayhash/c_bindings.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define MIN_CAP 64

void seen_init(struct seen *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 4; i++)
        s->key[i] = util_random_u64();
}

void seen_free(struct seen *s)
{
    free(s->slots);
    s->slots = NULL;
    s->cap = s->count = 0;
}

static uint64_t hash_id(const struct seen *s, const char *id, size_t len)
{
    uint64_t h = HighwayHash64(s->key, id, len);
    return h ? h : 1; /* 0 marks an empty slot */
}

static struct seen_slot *find_slot(struct seen_slot *slots, size_t cap, uint64_t h)
{
    size_t i = (size_t)(h ^ (h >> 31)) & (cap - 1);
    while (slots[i].hash && slots[i].hash != h)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

int seen_has(const struct seen *s, const char *id, size_t len)
{
    if (!s->cap)
        return 0;
    return find_slot(s->slots, s->cap, hash_id(s, id, len))->hash != 0;
}

/* Moves the slots seen at or after `before` into a table of cap slots. */
static int rehash(struct seen *s, size_t cap, int64_t before)
{
    struct seen_slot *ns = calloc(cap, sizeof *ns);
    if (!ns)
        return -1;
    size_t count = 0;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].hash && s->slots[i].at >= before) {
            *find_slot(ns, cap, s->slots[i].hash) = s->slots[i];
            count++;
        }
    free(s->slots);
    s->slots = ns;
    s->cap = cap;
    s->count = count;
    return 0;
}

int seen_add(struct seen *s, const char *id, size_t len, int64_t now)
{
    if ((s->count + 1) * 2 > s->cap && rehash(s, s->cap ? s->cap * 2 : MIN_CAP, INT64_MIN) < 0)
        return -1;
    uint64_t h = hash_id(s, id, len);
    struct seen_slot *slot = find_slot(s->slots, s->cap, h);
    if (slot->hash)
        return 0;
    slot->hash = h;
    slot->at = now;
    s->count++;
    return 1;
}

void seen_expire(struct seen *s, int64_t before)
{
    size_t fresh = 0;
    for (size_t i = 0; i < s->cap; i++)
        fresh += s->slots[i].hash && s->slots[i].at >= before;
    if (fresh == s->count)
        return;
    size_t cap = MIN_CAP;
    while (cap < fresh * 2)
        cap *= 2;
    if (fresh == 0) {
        seen_clear(s);
        return;
    }
    rehash(s, cap, before); /* out of memory: everything kept until next time */
}

void seen_clear(struct seen *s) { seen_free(s); }

size_t seen_count(const struct seen *s) { return s->count; }

size_t seen_bytes(const struct seen *s) { return s->cap * sizeof *s->slots; }
