/* names.h - node and service names as they travel on the mesh.
 *
 * A node name is carried only as its 64-bit HighwayHash (zero key, the digest
 * read as a little-endian integer and written big-endian on the wire).  Each
 * node keeps a table hash -> name, filled as spec 3.3 says (first
 * registration wins, entries never removed).  The table is an open-addressing
 * hash set with hard caps in names and bytes so a hostile peer cannot grow
 * it without bound; past them new names are not remembered (logged once). */
#ifndef MESH_NAMES_H
#define MESH_NAMES_H

#include <stddef.h>
#include <stdint.h>

#define NAMES_MAX 65536   /* most names one node will remember */
#define NAMES_MAX_BYTES (4u << 20) /* their strings and slots */

uint64_t names_hash(const char *name, size_t len);

struct names {
    struct names_slot { uint64_t hash; char *name; } *slots;
    size_t cap;   /* power of two */
    size_t count;
    size_t bytes;     /* strings + slots */
    int full_logged;
};

void names_init(struct names *t);
void names_free(struct names *t);
/* Registers name; returns its hash.  A colliding different name is not
 * stored (first one wins), as upstream does. */
uint64_t names_add(struct names *t, const char *name);
const char *names_lookup(const struct names *t, uint64_t hash);

#endif
