/* resume.c - what a returning peer already knows.
 *
 * A new link gets our whole routing table (flood_send_known): one message
 * per known node.  In a large mesh on a busy machine the same peers lose
 * and redial their links again and again (an idle timeout of a starved
 * node), and every redial cost a full table in each direction: at 1000
 * nodes, most of what a hop sent.
 *
 * A peer that comes back with the same epoch (the same process) still has
 * every row it received on the old link: rows are replaced by newer ones,
 * never removed.  When an established link ends we remember the peer, its
 * epoch and a time before which everything we sent it had long been
 * delivered: RESUME_MARGIN_NS before the link ended, if the link had lived
 * that long.  A shorter link may have ended with its own table unread, so
 * it leaves an earlier record as it was, and so does a link whose table
 * was not all sent yet (flood_pump_known sends it as the link drains).
 * When the peer returns with that epoch, it is sent only the rows we
 * accepted after that time; with another epoch (restarted, it knows
 * nothing) the record goes and it gets them all.
 * Rows it received and dropped (its rate limit) it lacked with the whole
 * table as well; the periodic refresh covers both.
 *
 * Only beyond MESH_SMALL known nodes: a small mesh sends the whole table,
 * as it costs nothing.  The memory is bounded (RESUME_MAX peers, each kept
 * RESUME_KEEP_NS); a peer we could not remember just gets the whole table. */
#include "mesh/node_internal.h"

void resume_note_lost(struct node *n, const struct conn *c, int64_t now)
{
    if (!c->peer || !c->peer_epoch)
        return;
    json_t *rec = json_object_get(n->departed, c->peer);
    if (rec && (uint64_t)json_integer_value(json_array_get(rec, 0)) != c->peer_epoch) {
        json_object_del(n->departed, c->peer);
        rec = NULL;
    }
    if (now - c->established_at < RESUME_MARGIN_NS || c->table_active) {
        /* its table may have ended unread (or not all sent, as the link
         * drained slowly): what the peer had before holds */
        if (rec)
            json_array_set_new(rec, 2, json_integer(now));
        return;
    }
    if (!rec && json_object_size(n->departed) >= RESUME_MAX)
        return;
    json_object_set_new(n->departed, c->peer,
                        json_pack("[I,I,I]", (json_int_t)c->peer_epoch,
                                  (json_int_t)(now - RESUME_MARGIN_NS), (json_int_t)now));
}

int64_t resume_since(struct node *n, const char *peer, uint64_t epoch)
{
    json_t *rec = json_object_get(n->departed, peer);
    if (!rec)
        return 0;
    if ((uint64_t)json_integer_value(json_array_get(rec, 0)) != epoch) {
        json_object_del(n->departed, peer); /* restarted: it knows nothing */
        return 0;
    }
    if (origins_count(&n->origins) <= MESH_SMALL)
        return 0;
    return json_integer_value(json_array_get(rec, 1));
}

void resume_expire(struct node *n, int64_t now)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(n->departed, tmp, k, v)
        if (now - json_integer_value(json_array_get(v, 2)) > RESUME_KEEP_NS)
            json_object_del(n->departed, k);
}
