/* datagram.c - data messages (spec 4.6): the firewall, local delivery to
 * services, forwarding with the hops-to-live rule, unreachable notices, and
 * the local service registry (node_listen / node_send). */
#include "mesh/node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"

static struct node_service *find_service(struct node *n, const char *name)
{
    for (struct node_service *s = n->services; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static int reserved(const char *name)
{
    return strcmp(name, "ping") == 0 || strcmp(name, "unreach") == 0;
}

void datagram_send_unreach(struct node *n, const char *from, const char *to,
                           const char *from_svc, const char *to_svc, const char *problem)
{
    struct msg_unreach u = { (char *)from, (char *)to, (char *)from_svc, (char *)to_svc,
                             (char *)problem };
    struct buf b;
    buf_init(&b, 4096);
    const char *err;
    if (msg_unreach_encode(&u, &b) == 0)
        node_send(n, "unreach", from, "unreach", buf_head(&b), buf_size(&b), NODE_HOPS_DEFAULT, &err);
    buf_free(&b);
}

static void handle_unreach(struct node *n, const struct msg_data *md, const char *reporter)
{
    struct msg_unreach u;
    if (msg_unreach_decode(md->payload, md->len, &u) < 0) {
        log_warning("Bad unreachable message from %s", reporter);
        return;
    }
    log_debug("Unreachable message from %s: %s (%s:%s -> %s:%s)", reporter, u.problem,
              u.from_node, u.from_service, u.to_node, u.to_service);
    if (strcmp(u.from_node, n->id) == 0) {
        struct node_service *s = find_service(n, u.from_service);
        if (s && s->on_unreach)
            s->on_unreach(s->arg, &u, reporter);
    }
    msg_unreach_free(&u);
}

static int deliver_local(struct node *n, struct msg_data *md, const char *from, const char **err)
{
    if (strcmp(md->to_service, "ping") == 0) {
        ping_handle_request(n, md, from);
        return 0;
    }
    if (strcmp(md->to_service, "unreach") == 0) {
        handle_unreach(n, md, from);
        return 0;
    }
    struct node_service *s = find_service(n, md->to_service);
    if (s) {
        if (s->on_data)
            s->on_data(s->arg, from, md->from_service, md->payload, md->len);
        return 0;
    }
    if (md->from_node == n->id_hash) {
        *err = "service unknown";
        return -1;
    }
    datagram_send_unreach(n, from, n->id, md->from_service, md->to_service, "service unknown");
    return 0;
}

static int forward(struct node *n, struct msg_data *md, const char *from, const char *to,
                   const char **err)
{
    int local = md->from_node == n->id_hash;
    if (md->hops == 0) {
        if (strcmp(md->from_service, "unreach") != 0)
            datagram_send_unreach(n, from, to, md->from_service, md->to_service, "message expired");
        return 0;
    }
    json_t *hop = json_object_get(node_routes(n), to);
    if (!hop) {
        *err = "no route to node";
        if (!local)
            log_debug("Dropping message from %s to %s: no route to node", from, to);
        return local ? -1 : 0;
    }
    struct conn *c = node_find_conn(n, json_string_value(hop));
    if (!c) {
        *err = "no connection to next hop";
        if (!local)
            log_debug("Dropping message from %s to %s: no connection to next hop", from, to);
        return local ? -1 : 0;
    }
    md->hops--;
    uint8_t hdr[MSG_DATA_HEADER];
    msg_data_header(md, hdr);
    int rc = conn_send(c, hdr, sizeof hdr, md->payload, md->len);
    if (rc < 0 && local) {
        *err = "message could not be sent";
        return -1;
    }
    return 0;
}

/* The common path of spec 4.6 for local and received messages. */
int datagram_route(struct node *n, struct msg_data *md, const char *from, const char *to,
                   const char **err)
{
    *err = NULL;
    enum fw_action a = firewall_check(&n->fw, from, to, md->from_service, md->to_service);
    if (a == FW_DROP)
        return 0;
    if (a == FW_REJECT) {
        if (strcmp(md->from_service, "unreach") != 0)
            datagram_send_unreach(n, from, to, md->from_service, md->to_service, "blocked by firewall");
        return 0;
    }
    if (md->to_node == n->id_hash)
        return deliver_local(n, md, from, err);
    return forward(n, md, from, to, err);
}

void datagram_handle(struct conn *c, const uint8_t *msg, size_t len)
{
    struct node *n = c->node;
    struct msg_data md;
    const char *err;
    if (msg_data_decode(msg, len, &md, &err) < 0) {
        log_warning("%s %s: %s", c->link->desc, c->peer, err);
        return;
    }
    const char *from = names_lookup(&n->names, md.from_node);
    const char *to = names_lookup(&n->names, md.to_node);
    if (!from || !to) {
        log_debug("%s %s: dropping data message: hash not found", c->link->desc, c->peer);
        return;
    }
    datagram_route(n, &md, from, to, &err);
}

int node_send(struct node *n, const char *from_service, const char *to_node,
              const char *to_service, const uint8_t *data, size_t len, int hops,
              const char **err)
{
    if (strcasecmp(to_node, "localhost") == 0)
        to_node = n->id;
    if (strlen(from_service) > MSG_SERVICE_MAX || strlen(to_service) > MSG_SERVICE_MAX) {
        *err = "service name too long";
        return -1;
    }
    if (len > LINK_MAX_MESSAGE - MSG_DATA_HEADER) {
        *err = "message too large";
        return -1;
    }
    struct msg_data md = {
        .hops = (uint8_t)(hops < 0 || hops > MSG_MAX_HOPS ? MSG_MAX_HOPS : hops),
        .from_node = n->id_hash,
        .to_node = names_add(&n->names, to_node),
        .payload = data,
        .len = len,
    };
    strcpy(md.from_service, from_service);
    strcpy(md.to_service, to_service);
    return datagram_route(n, &md, n->id, to_node, err);
}

struct node_service *node_listen(struct node *n, const char *service, int advertise,
                                 enum conn_type type, json_t *tags,
                                 node_datagram_cb on_data, node_unreach_cb on_unreach, void *arg,
                                 char *err, size_t errlen)
{
    char name[MSG_SERVICE_MAX + 1];
    if (service) {
        if (strlen(service) > MSG_SERVICE_MAX || !service[0]) {
            snprintf(err, errlen, "service name %s: must be 1 to 8 bytes", service);
            return NULL;
        }
        if (reserved(service) || find_service(n, service)) {
            snprintf(err, errlen, "service %s is already listening", service);
            return NULL;
        }
        strcpy(name, service);
    } else {
        do
            util_random_id(name, 8);
        while (find_service(n, name));
    }
    struct node_service *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->node = n;
    strcpy(s->name, name);
    s->advertise = advertise;
    s->type = type;
    s->tags = tags ? json_incref(tags) : NULL;
    s->on_data = on_data;
    s->on_unreach = on_unreach;
    s->arg = arg;
    s->next = n->services;
    n->services = s;
    if (advertise)
        n->ads_due = 1;
    return s;
}

const char *node_service_name(const struct node_service *s) { return s->name; }

void node_unlisten(struct node *n, struct node_service *s)
{
    struct node_service **pp = &n->services;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    if (s->advertise && !n->freeing)
        advert_send_cancel(n, s);
    json_decref(s->tags);
    free(s);
}
