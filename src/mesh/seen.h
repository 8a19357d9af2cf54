/* seen.h - the routing UpdateIDs a node has seen recently.
 *
 * Every copy of a flood after the first is dropped by its UpdateID before
 * it is decoded, so the set is consulted for every routing message and
 * holds every UpdateID of the last SEEN_EXPIRY_NS: thousands while a large
 * mesh converges.  An ID is kept as its 64-bit HighwayHash under a key
 * drawn per node (no peer can choose IDs that collide) with the time it
 * was seen: 16 bytes a slot in an open-addressing table at most half full,
 * where a jansson object took ~150 bytes an entry. */
#ifndef MESH_SEEN_H
#define MESH_SEEN_H

#include <stddef.h>
#include <stdint.h>

struct seen {
    struct seen_slot { uint64_t hash; int64_t at; } *slots; /* hash 0: empty */
    size_t cap;     /* power of two, or 0 */
    size_t count;
    uint64_t key[4];
};

void seen_init(struct seen *s);
void seen_free(struct seen *s);
int seen_has(const struct seen *s, const char *id, size_t len);
/* Records id as seen at now: 1 if it was new, 0 if already there, -1 when
 * out of memory (not recorded). */
int seen_add(struct seen *s, const char *id, size_t len, int64_t now);
/* Forgets the IDs seen before `before`. */
void seen_expire(struct seen *s, int64_t before);
/* Forgets everything. */
void seen_clear(struct seen *s);
size_t seen_count(const struct seen *s);
/* Bytes the table takes. */
size_t seen_bytes(const struct seen *s);

#endif
