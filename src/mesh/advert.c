/* advert.c - service advertisements (spec 3.5, 4.8).
 *
 * Received ads are stored with their raw bytes and forwarded unchanged when
 * strictly newer (by Time) than the stored one.  A withdrawal leaves a
 * tombstone (the stored ad marked cancelled) so a withdrawal circulating in a
 * cycle stops here, which upstream lacks; tombstones are not shown in status.
 * Our own services are advertised on every established link on creation,
 * every 60 s, and to each new connection at once, together with the ads we
 * know, so a new peer sees the mesh's services without waiting a minute.
 * A new connection gets our ad with the Time of our last flood, not a new
 * one: a newer Time makes every node flood the ad on, and a hop that a
 * hundred nodes joined sent a hundred mesh-wide floods of each of its ads
 * (upstream coalesces them to one per 5 s; the new peer needs none).
 * The stored ads are bounded in number (NODE_ADS_MAX) and in bytes
 * (NODE_ADS_MAX_BYTES, raw bytes plus the decoded fields): an ad that does
 * not fit is refused and not forwarded, with a log line. */
#include "mesh/node_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/gojson.h"
#include "core/util.h"

/* Estimated memory of a stored ad besides its strings: the record, the
 * jansson nodes of each tag and work command. */
#define AD_COST 512
#define AD_TAG_COST 160
#define AD_WORK_COST 256

static struct received_ad *find_ad(struct node *n, const char *node, const char *service)
{
    for (struct received_ad *a = n->ads; a; a = a->next)
        if (strcmp(a->ad.node_id, node) == 0 && strcmp(a->ad.service, service) == 0)
            return a;
    return NULL;
}

static size_t ad_cost(const struct msg_ad *ad, size_t rawlen)
{
    size_t c = AD_COST + rawlen + strlen(ad->node_id) + strlen(ad->service) + strlen(ad->time);
    const char *k;
    json_t *v;
    size_t i;
    if (ad->tags)
        json_object_foreach(ad->tags, k, v)
            c += AD_TAG_COST + strlen(k) + json_string_length(v);
    if (ad->work_commands)
        json_array_foreach(ad->work_commands, i, v)
            c += AD_WORK_COST + strlen(json_string_value(json_object_get(v, "WorkType")));
    return c;
}

/* 1 if an ad costing cost fits in place of cur (NULL: a new one). */
static int ads_fit(struct node *n, const struct msg_ad *ad, struct received_ad *cur, size_t cost)
{
    char why[128];
    if (!cur && n->nads >= NODE_ADS_MAX)
        snprintf(why, sizeof why, "already %d advertisements known", NODE_ADS_MAX);
    else if (n->ads_bytes - (cur ? cur->cost : 0) + cost > NODE_ADS_MAX_BYTES)
        snprintf(why, sizeof why, "the known advertisements would take more than %u bytes",
                 NODE_ADS_MAX_BYTES);
    else
        return 1;
    uint64_t more = 0;
    if (node_cap_report_due(&n->ads_report, &more))
        log_warning("Ignoring service advertisement from %s (service %s): %s (%llu more refused "
                    "since the last report)", ad->node_id, ad->service, why,
                    (unsigned long long)more);
    return 0;
}

void advert_handle(struct conn *c, const uint8_t *msg, size_t len)
{
    struct node *n = c->node;
    if (!conn_allow_control_message(c))
        return;
    struct msg_ad ad;
    char err[160];
    if (msg_ad_decode(msg + 1, len - 1, &ad, err, sizeof err) < 0) {
        log_warning("%s %s: bad service advertisement: %s", c->link->desc, c->peer, err);
        return;
    }
    if (strcmp(ad.node_id, n->id) == 0) {
        msg_ad_free(&ad); /* our own, looped back */
        return;
    }
    struct received_ad *cur = find_ad(n, ad.node_id, ad.service);
    if (cur && ad.time_ns <= cur->ad.time_ns) {
        msg_ad_free(&ad);
        return;
    }
    size_t cost = ad_cost(&ad, len);
    if (!ads_fit(n, &ad, cur, cost)) {
        msg_ad_free(&ad);
        return;
    }
    if (!cur) {
        cur = calloc(1, sizeof *cur);
        if (!cur) {
            msg_ad_free(&ad);
            return;
        }
        cur->next = n->ads;
        n->ads = cur;
        n->nads++;
    } else {
        msg_ad_free(&cur->ad);
        free(cur->raw);
        n->ads_bytes -= cur->cost;
    }
    cur->ad = ad;
    cur->raw = malloc(len);
    cur->rawlen = cur->raw ? len : 0;
    if (cur->raw)
        memcpy(cur->raw, msg, len);
    cur->cost = cost;
    n->ads_bytes += cost;
    flood_to_all(n, msg, len, c);
}

static json_t *own_work_commands(struct node *n, const struct node_service *s)
{
    json_t *type = s->tags ? json_object_get(s->tags, "type") : NULL;
    if (!n->work_commands || json_array_size(n->work_commands) == 0 || !json_is_string(type) ||
        strcmp(json_string_value(type), "Control Service") != 0)
        return NULL;
    return n->work_commands;
}

static void fill_own_ad(struct node *n, const struct node_service *s, struct msg_ad *ad,
                        int64_t at, char *timebuf, size_t tlen, int for_status)
{
    util_format_rfc3339(at, timebuf, tlen);
    ad->node_id = n->id;
    ad->service = (char *)s->name;
    ad->time = timebuf;
    ad->conn_type = s->type;
    ad->tags = s->tags;
    /* status shows work types on every local ad (spec 8.5); the wire only
     * on the control service's */
    ad->work_commands = for_status ? (n->work_commands && json_array_size(n->work_commands)
                                          ? n->work_commands : NULL)
                                   : own_work_commands(n, s);
    ad->cancel = 0;
}

static void send_ad(struct node *n, struct msg_ad *ad, struct conn *only)
{
    struct buf b;
    buf_init(&b, LINK_MAX_MESSAGE);
    if (msg_ad_encode(ad, &b, 1, 1) == 0) {
        if (only)
            conn_send(only, buf_head(&b), buf_size(&b), NULL, 0);
        else
            flood_to_all(n, buf_head(&b), buf_size(&b), NULL);
    }
    buf_free(&b);
}

void advert_send_own(struct node *n, struct conn *only)
{
    for (struct node_service *s = n->services; s; s = s->next) {
        if (!s->advertise)
            continue;
        struct msg_ad ad;
        char t[64];
        if (!only || !s->ad_ns)
            s->ad_ns = util_now_ns();
        fill_own_ad(n, s, &ad, s->ad_ns, t, sizeof t, 0);
        send_ad(n, &ad, only);
    }
}

void advert_send_known(struct node *n, struct conn *to)
{
    for (struct received_ad *a = n->ads; a; a = a->next)
        if (a->raw && !a->ad.cancel)
            conn_send(to, a->raw, a->rawlen, NULL, 0);
}

void advert_send_cancel(struct node *n, struct node_service *s)
{
    struct msg_ad ad;
    char t[64];
    fill_own_ad(n, s, &ad, util_now_ns(), t, sizeof t, 0);
    ad.tags = NULL;
    ad.work_commands = NULL;
    ad.cancel = 1;
    send_ad(n, &ad, NULL);
}

void advert_free_all(struct node *n)
{
    while (n->ads) {
        struct received_ad *a = n->ads;
        n->ads = a->next;
        msg_ad_free(&a->ad);
        free(a->raw);
        free(a);
    }
    n->nads = 0;
    n->ads_bytes = 0;
}

json_t *advert_status(struct node *n)
{
    json_t *arr = json_array();
    for (struct node_service *s = n->services; s; s = s->next) {
        if (!s->advertise)
            continue;
        struct msg_ad ad;
        char t[64];
        fill_own_ad(n, s, &ad, util_now_ns(), t, sizeof t, 1);
        json_t *o = msg_ad_to_json(&ad);
        if (ad.tags)
            json_object_set_new(o, "Tags", gojson_sorted(ad.tags));
        json_array_append_new(arr, o);
    }
    for (struct received_ad *a = n->ads; a; a = a->next) {
        if (a->ad.cancel)
            continue;
        json_t *o = msg_ad_to_json(&a->ad);
        if (a->ad.tags)
            json_object_set_new(o, "Tags", gojson_sorted(a->ad.tags));
        json_array_append_new(arr, o);
    }
    return arr;
}
