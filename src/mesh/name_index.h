/* name_index.h - finds a node name's entry in an array its owner keeps.
 *
 * The compact tables of a node (origins.c, lsdb.c) keep one entry per
 * node name in a flat array whose entry numbers never change; this is the
 * hash index beside such an array: open addressing over entry numbers,
 * FNV-1a of the name, at most half full.  The owner says how to read an
 * entry's name, so the index stores 4 bytes per slot and no strings. */
#ifndef MESH_NAME_INDEX_H
#define MESH_NAME_INDEX_H

#include <stdint.h>

#define NAME_INDEX_NONE UINT32_MAX

typedef const char *(*name_index_name_fn)(const void *owner, uint32_t entry);

struct name_index {
    uint32_t *slots;        /* entry number + 1, 0 = empty */
    uint32_t cap;           /* power of two, or 0 */
    uint32_t count;
    name_index_name_fn name_of;
    const void *owner;
};

void name_index_init(struct name_index *t, name_index_name_fn name_of, const void *owner);
void name_index_free(struct name_index *t);
/* The entry number of name, or NAME_INDEX_NONE. */
uint32_t name_index_find(const struct name_index *t, const char *name);
/* Indexes entry (whose name the owner already returns); -1 out of memory. */
int name_index_add(struct name_index *t, uint32_t entry);

#endif
