/* link.h - a backend session: a point-to-point link carrying whole messages.
 *
 * Every backend (TCP now; UDP and WebSocket later) produces links that look
 * the same to the mesh: send a message, get a callback per received message,
 * get exactly one close callback when the link is gone (whoever closed it).
 * After on_close returns, the backend frees the link.
 *
 * Sends never block and never buffer without bound: when a link's write
 * backlog is over its limit, link_send() drops the message and returns
 * -ENOBUFS (mesh messages are datagrams; QUIC above retransmits).  A
 * backend that can tell how much it holds (queued) also calls on_drain once
 * it holds nothing, so a sender with much to say can pace itself. */
#ifndef NET_LINK_H
#define NET_LINK_H

#include <stddef.h>
#include <stdint.h>

struct link;

struct link_ops {
    int (*send)(struct link *l, const uint8_t *head, size_t hlen,
                const uint8_t *body, size_t blen);
    /* Flushes queued writes, then closes; on_close follows. */
    void (*close)(struct link *l);
    /* Bytes sent but not yet handed to the kernel; NULL when the backend
     * cannot tell (it then never calls on_drain either). */
    size_t (*queued)(struct link *l);
};

struct link {
    const struct link_ops *ops;
    void *owner;     /* set by the mesh when it adopts the link */
    void (*on_message)(struct link *l, const uint8_t *msg, size_t len);
    void (*on_close)(struct link *l);
    void (*on_drain)(struct link *l); /* optional: queued() fell to zero */
    void *backend_arg; /* the arg given to the backend at creation */
    char desc[96];     /* "tcp 127.0.0.1:51234", for log lines */
};

/* Called by a backend for every new session. */
typedef void (*link_new_cb)(void *arg, struct link *l);

static inline int link_send(struct link *l, const uint8_t *head, size_t hlen,
                            const uint8_t *body, size_t blen)
{
    return l->ops->send(l, head, hlen, body, blen);
}
static inline void link_close(struct link *l) { l->ops->close(l); }
/* 1 if the link can pace a writer: queued() and on_drain work. */
static inline int link_paced(const struct link *l) { return l->ops->queued != NULL; }
static inline size_t link_queued(struct link *l) { return l->ops->queued ? l->ops->queued(l) : 0; }

#define LINK_MAX_MESSAGE 65535          /* 16-bit length framing */
#define LINK_WRITE_BACKLOG (4u << 20)  /* bytes queued before sends drop */

#endif
