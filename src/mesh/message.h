/* message.h - codecs for the four netceptor message types (spec 3).
 *
 * Pure functions: bytes in, struct out (or an error text naming the field),
 * and back.  Encoders reproduce Go's output byte for byte: field order of the
 * Go structs, sorted map keys, Go float formatting.  Decoders accept any key
 * order and case (as Go's decoder does) and ignore unknown keys. */
#ifndef MESH_MESSAGE_H
#define MESH_MESSAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum msg_type { MSG_DATA = 0, MSG_ROUTE = 1, MSG_SERVICE_AD = 2, MSG_REJECT = 3 };

#define MSG_DATA_HEADER 36
#define MSG_SERVICE_MAX 8
#define MSG_MAX_HOPS 30
#define MSG_ROUTE_MAX_CONNECTIONS 4096 /* our bound on one update's map */
/* Field caps the decoders enforce, so a peer cannot make the node remember
 * 64 KB strings.  Every upstream message satisfies them: UpdateID is 8
 * random letters (randstr.RandomString(8)), service names are refused above
 * 8 bytes when listening or advertising, Time is RFC 3339 (<= 35 bytes);
 * node IDs have room for any host name (253) and then some. */
#define MSG_NODE_ID_MAX 255
#define MSG_UPDATE_ID_MAX 64
#define MSG_TIME_MAX 64

struct msg_data {
    uint8_t hops;
    uint64_t from_node, to_node;          /* name hashes */
    char from_service[MSG_SERVICE_MAX + 1];
    char to_service[MSG_SERVICE_MAX + 1];
    const uint8_t *payload;               /* points into the decoded message */
    size_t len;
};

/* 0, or -1 with err set ("data too short to be a valid message"). */
int msg_data_decode(const uint8_t *m, size_t n, struct msg_data *out, const char **err);
/* Writes header + payload into out (36 + len bytes). */
void msg_data_header(const struct msg_data *d, uint8_t out[MSG_DATA_HEADER]);

struct msg_route {
    char *node_id;
    char *update_id;
    uint64_t epoch;
    uint64_t sequence;
    json_t *connections;       /* object: node -> number (owned) */
    char *forwarding_node;
    uint64_t suspected_dup;
};

int msg_route_decode(const uint8_t *json, size_t n, struct msg_route *out, char *err, size_t errlen);
/* Encodes type byte + JSON. */
int msg_route_encode(const struct msg_route *r, struct buf *out);
/* One entry of a row: a peer and its cost. */
struct msg_cost {
    const char *node;
    double cost;
};
/* Sorts a row by node name, the order Go writes a map in. */
void msg_costs_sort(struct msg_cost *c, size_t n);
/* The same as msg_route_encode with the row given as c (sorted) in place
 * of r->connections: a row kept elsewhere needs no jansson object. */
int msg_route_encode_costs(const struct msg_route *r, const struct msg_cost *c, size_t n, struct buf *out);
void msg_route_free(struct msg_route *r);

struct msg_ad {
    char *node_id;
    char *service;
    char *time;            /* as received/sent (RFC 3339) */
    int64_t time_ns;       /* parsed, for ordering */
    int conn_type;
    json_t *tags;          /* object or NULL (JSON null) */
    json_t *work_commands; /* array or NULL */
    int cancel;
};

int msg_ad_decode(const uint8_t *json, size_t n, struct msg_ad *out, char *err, size_t errlen);
/* Encodes type byte + JSON; with_cancel=0 omits Cancel (status output form). */
int msg_ad_encode(const struct msg_ad *a, struct buf *out, int with_type, int with_cancel);
/* The same fields as a jansson object in Go struct order (for status). */
json_t *msg_ad_to_json(const struct msg_ad *a);
void msg_ad_free(struct msg_ad *a);

/* Unreachable notice payload (spec 3.6). */
struct msg_unreach {
    char *from_node, *to_node, *from_service, *to_service, *problem;
};
int msg_unreach_decode(const uint8_t *json, size_t n, struct msg_unreach *out);
int msg_unreach_encode(const struct msg_unreach *u, struct buf *out);
void msg_unreach_free(struct msg_unreach *u);

extern const uint8_t msg_reject[3]; /* 03 5b 5d */

#endif
