/* ip_router.c - see ip_router.h.
 *
 * As upstream:
 *  - localnet must be an IPv4 /30; the TUN gets its .1 address with .2 as
 *    point-to-point peer, and comes up;
 *  - the mesh service named after the network is a datagram service,
 *    advertised with tags {type: "IP Router", network: <name>,
 *    route_local: <localnet>, route_<i>: <each of routes>};
 *  - every 10 s the advertisements of the same network from reachable nodes
 *    become the known routes, and the kernel routes on the TUN are made to
 *    match them (added via the .2 peer; routes inside localnet are kept);
 *  - a packet read from the TUN goes, as one datagram, to the known route
 *    containing its destination with the lowest path cost; a datagram
 *    received is written to the TUN as it is.
 * Differences (docs/compat.md): `interface` names the TUN (upstream ignores
 * it); a node's own advertisement is not a route (upstream sends such
 * packets to itself and back into the TUN); a packet with no route triggers
 * an early refresh of the known routes (at most one a second), so a new
 * router is usable without waiting for the 10 s tick; datagrams that are
 * not IPv4/IPv6 packets are dropped instead of written to the TUN.
 *
 * Kernel routes are IPv4 only here (ioctl SIOCADDRT/SIOCDELRT, read back
 * from /proc/net/route): IPv6 routes are advertised and used for
 * forwarding but not installed in the kernel.  Known routes are capped at
 * ROUTES_MAX; a TUN read burst at READS_PER_EVENT packets. */
#include "stream/ip_router.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "mesh/message.h"
#include "mesh/routing.h"

#define ADV_ROUTES_MAX 64
#define ROUTES_MAX 1024
#define REFRESH_MS 10000
#define EARLY_REFRESH_NS 1000000000LL
#define READS_PER_EVENT 64
#define PACKET_MAX 65535

struct ipr_route {
    struct ipr_cidr dest;
    char via[MSG_NODE_ID_MAX + 1];
    double cost;
};

struct ip_router {
    struct node *node;
    char network[MSG_SERVICE_MAX + 1];
    char ifname[IFNAMSIZ];
    struct ipr_cidr localnet;
    struct ipr_cidr adv[ADV_ROUTES_MAX];
    size_t nadv;
    unsigned char link_ip[4], dest_ip[4];
    int tunfd;
    uv_poll_t poll;
    uv_timer_t timer;
    int handles;
    struct node_service *svc;
    struct ipr_route *routes;
    size_t nroutes;
    int64_t last_refresh;
    unsigned char buf[PACKET_MAX];
};

/* ---- addresses ------------------------------------------------------------ */

int ipr_cidr_parse(const char *text, struct ipr_cidr *out)
{
    char a[64];
    const char *slash = strchr(text, '/');
    if (!slash || (size_t)(slash - text) >= sizeof a || !slash[1] || strlen(slash + 1) > 3)
        return -1;
    memcpy(a, text, (size_t)(slash - text));
    a[slash - text] = 0;
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, a, out->addr) == 1)
        out->family = 4;
    else if (inet_pton(AF_INET6, a, out->addr) == 1)
        out->family = 6;
    else
        return -1;
    int max = out->family == 4 ? 32 : 128, p = 0;
    for (const char *c = slash + 1; *c; c++) {
        if (*c < '0' || *c > '9') /* digits only; leading zeros are fine, as Go's */
            return -1;
        p = p * 10 + (*c - '0');
    }
    if (p > max)
        return -1;
    out->prefix = p;
    for (int bit = p; bit < max; bit++)
        out->addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    return 0;
}

int ipr_cidr_format(const struct ipr_cidr *c, char *out, size_t outlen)
{
    char a[INET6_ADDRSTRLEN];
    if (!inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, a, sizeof a))
        return -1;
    int n = snprintf(out, outlen, "%s/%d", a, c->prefix);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int ipr_cidr_contains(const struct ipr_cidr *c, int family, const unsigned char *addr)
{
    if (c->family != family)
        return 0;
    for (int bit = 0; bit < c->prefix; bit++) {
        unsigned m = 0x80u >> (bit % 8);
        if ((c->addr[bit / 8] & m) != (addr[bit / 8] & m))
            return 0;
    }
    return 1;
}

int ipr_packet_dest(const unsigned char *pkt, size_t len, unsigned char addr[16])
{
    if (len >= 20 && pkt[0] >> 4 == 4 && (size_t)(pkt[0] & 0xf) * 4 >= 20 && (size_t)(pkt[0] & 0xf) * 4 <= len) {
        memcpy(addr, pkt + 16, 4);
        return 4;
    }
    if (len >= 40 && pkt[0] >> 4 == 6) {
        memcpy(addr, pkt + 24, 16);
        return 6;
    }
    return 0;
}

/* ---- the interface ----------------------------------------------------------- */

static int tun_open(struct ip_router *r, const char *name, char *err, size_t errlen)
{
    r->tunfd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    if (name && name[0])
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (r->tunfd < 0 || ioctl(r->tunfd, TUNSETIFF, &ifr) < 0) {
        snprintf(err, errlen, "error opening tun device: %s", strerror(errno));
        return -1;
    }
    snprintf(r->ifname, sizeof r->ifname, "%s", ifr.ifr_name);
    return 0;
}

static void sin_set(struct sockaddr *sa, const unsigned char ip[4])
{
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    memset(in, 0, sizeof *in);
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, ip, 4);
}

/* The .1 address with .2 as peer, and the link up. */
static int tun_configure(struct ip_router *r, char *err, size_t errlen)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", r->ifname);
    static const unsigned char all[4] = { 255, 255, 255, 255 };
    const char *what = "adding IP address to link";
    int ok = s >= 0;
    sin_set(&ifr.ifr_addr, r->link_ip);
    ok = ok && ioctl(s, SIOCSIFADDR, &ifr) == 0;
    sin_set(&ifr.ifr_netmask, all);
    ok = ok && ioctl(s, SIOCSIFNETMASK, &ifr) == 0;
    sin_set(&ifr.ifr_dstaddr, r->dest_ip);
    ok = ok && ioctl(s, SIOCSIFDSTADDR, &ifr) == 0;
    if (ok) {
        what = "setting link up";
        ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    }
    if (!ok)
        snprintf(err, errlen, "error %s: %s", what, strerror(errno));
    if (s >= 0)
        close(s);
    return ok ? 0 : -1;
}

/* ---- kernel routes (IPv4) --------------------------------------------------------- */

static int kernel_route(struct ip_router *r, unsigned long op, const unsigned char dst[4], int prefix,
                        int via_peer)
{
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    unsigned char mask[4] = { 0 };
    for (int bit = 0; bit < prefix; bit++)
        mask[bit / 8] |= (unsigned char)(0x80u >> (bit % 8));
    sin_set(&rt.rt_dst, dst);
    sin_set(&rt.rt_genmask, mask);
    rt.rt_flags = RTF_UP;
    if (via_peer) {
        sin_set(&rt.rt_gateway, r->dest_ip);
        rt.rt_flags |= RTF_GATEWAY;
    }
    if (prefix == 32)
        rt.rt_flags |= RTF_HOST;
    rt.rt_dev = r->ifname;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rc = s >= 0 ? ioctl(s, op, &rt) : -1;
    int e = errno;
    if (s >= 0)
        close(s);
    errno = e;
    return rc;
}

static int mask_prefix(uint32_t mask_be)
{
    uint32_t m = ntohl(mask_be);
    int p = 0;
    while (p < 32 && (m & (0x80000000u >> p)))
        p++;
    return p;
}

static int known_has(const struct ip_router *r, const struct ipr_cidr *c)
{
    for (size_t i = 0; i < r->nroutes; i++)
        if (r->routes[i].dest.family == c->family && r->routes[i].dest.prefix == c->prefix &&
            memcmp(r->routes[i].dest.addr, c->addr, 16) == 0)
            return 1;
    return 0;
}

/* Kernel routes on the TUN: read from /proc/net/route (this namespace). */
static size_t kernel_routes_read(const struct ip_router *r, struct ipr_cidr *out, size_t max)
{
    FILE *f = fopen("/proc/net/route", "re");
    if (!f)
        return 0;
    char line[512], ifn[64];
    unsigned dst, gw, flags, refcnt, use, metric, mask;
    size_t n = 0;
    if (!fgets(line, sizeof line, f)) { /* header */
        fclose(f);
        return 0;
    }
    while (n < max && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%63s %x %x %x %u %u %u %x", ifn, &dst, &gw, &flags, &refcnt, &use, &metric,
                   &mask) != 8 || strcmp(ifn, r->ifname) != 0)
            continue;
        memset(&out[n], 0, sizeof out[n]);
        out[n].family = 4;
        memcpy(out[n].addr, &dst, 4); /* the file holds network-order words in host order */
        out[n].prefix = mask_prefix(mask);
        n++;
    }
    fclose(f);
    return n;
}

static void kernel_routes_reconcile(struct ip_router *r)
{
    struct ipr_cidr have[ROUTES_MAX + 16];
    size_t nhave = kernel_routes_read(r, have, sizeof have / sizeof have[0]);
    char text[64];
    for (size_t i = 0; i < r->nroutes; i++) {
        const struct ipr_cidr *d = &r->routes[i].dest;
        if (d->family != 4)
            continue;
        int found = 0;
        for (size_t j = 0; j < nhave && !found; j++)
            found = have[j].prefix == d->prefix && memcmp(have[j].addr, d->addr, 4) == 0;
        for (size_t j = 0; j < i && !found; j++) /* a network several nodes advertise */
            found = r->routes[j].dest.family == 4 && r->routes[j].dest.prefix == d->prefix &&
                    memcmp(r->routes[j].dest.addr, d->addr, 4) == 0;
        if (found)
            continue;
        ipr_cidr_format(d, text, sizeof text);
        if (kernel_route(r, SIOCADDRT, d->addr, d->prefix, 1) < 0)
            log_error("ip-router %s: error adding kernel route to %s: %s", r->network, text, strerror(errno));
        else
            log_debug("ip-router %s: added route to %s via %s", r->network, text, r->ifname);
    }
    for (size_t j = 0; j < nhave; j++) {
        if (ipr_cidr_contains(&r->localnet, 4, have[j].addr) || known_has(r, &have[j]))
            continue;
        ipr_cidr_format(&have[j], text, sizeof text);
        if (kernel_route(r, SIOCDELRT, have[j].addr, have[j].prefix, 0) < 0)
            log_error("ip-router %s: error deleting kernel route to %s: %s", r->network, text, strerror(errno));
        else
            log_debug("ip-router %s: removed route to %s", r->network, text);
    }
}

/* ---- known routes from the mesh's advertisements --------------------------------------- */

static void routes_add_from_ad(struct ip_router *r, json_t *ad, json_t *reachable, json_t *costs,
                               struct ipr_route *out, size_t *n)
{
    json_t *tags = json_object_get(ad, "Tags");
    const char *node = json_string_value(json_object_get(ad, "NodeID"));
    const char *type = json_string_value(json_object_get(tags, "type"));
    const char *net = json_string_value(json_object_get(tags, "network"));
    if (!node || !type || !net || strcmp(type, "IP Router") != 0 || strcmp(net, r->network) != 0 ||
        strcmp(node, node_id(r->node)) == 0 || !json_object_get(reachable, node) ||
        strlen(node) > MSG_NODE_ID_MAX)
        return;
    json_t *c = json_object_get(costs, node);
    double cost = json_is_number(c) ? json_number_value(c) : 1e300;
    const char *key;
    json_t *v;
    json_object_foreach(tags, key, v) {
        struct ipr_cidr d;
        if (strncmp(key, "route", 5) != 0 || !json_is_string(v) || ipr_cidr_parse(json_string_value(v), &d) < 0)
            continue;
        if (*n == ROUTES_MAX) {
            log_warning("ip-router %s: more than %d routes advertised; the rest are ignored", r->network,
                        ROUTES_MAX);
            return;
        }
        out[*n].dest = d;
        snprintf(out[*n].via, sizeof out[*n].via, "%s", node);
        out[*n].cost = cost;
        (*n)++;
    }
}

static void routes_refresh(struct ip_router *r)
{
    r->last_refresh = util_mono_ns();
    json_t *st = node_status(r->node);
    json_t *reachable = json_object_get(st, "RoutingTable");
    json_t *costs = NULL;
    json_t *next = routing_compute(node_id(r->node), json_object_get(st, "KnownConnectionCosts"), &costs);
    json_decref(next);
    struct ipr_route *routes = calloc(ROUTES_MAX, sizeof *routes);
    size_t n = 0;
    if (routes) {
        size_t i;
        json_t *ad;
        json_array_foreach(json_object_get(st, "Advertisements"), i, ad)
            routes_add_from_ad(r, ad, reachable, costs, routes, &n);
        free(r->routes);
        r->routes = routes;
        r->nroutes = n;
    }
    json_decref(costs);
    json_decref(st);
    kernel_routes_reconcile(r);
}

static void on_refresh_timer(uv_timer_t *t)
{
    routes_refresh(t->data);
}

static const struct ipr_route *route_for(const struct ip_router *r, int family, const unsigned char *addr)
{
    const struct ipr_route *best = NULL;
    for (size_t i = 0; i < r->nroutes; i++) {
        const struct ipr_route *x = &r->routes[i];
        if (!ipr_cidr_contains(&x->dest, family, addr))
            continue;
        if (!best || x->cost < best->cost || (x->cost == best->cost && x->dest.prefix > best->dest.prefix))
            best = x;
    }
    return best;
}

/* ---- packets ------------------------------------------------------------------- */

static void forward_packet(struct ip_router *r, const unsigned char *pkt, size_t len)
{
    unsigned char dst[16];
    int family = ipr_packet_dest(pkt, len, dst);
    if (!family) {
        log_debug("ip-router %s: dropped a packet from %s that is not IPv4/IPv6", r->network, r->ifname);
        return;
    }
    const struct ipr_route *rt = route_for(r, family, dst);
    if (!rt && util_mono_ns() - r->last_refresh >= EARLY_REFRESH_NS) {
        routes_refresh(r);
        rt = route_for(r, family, dst);
    }
    if (!rt)
        return;
    const char *err = NULL;
    if (node_send(r->node, r->network, rt->via, r->network, pkt, len, NODE_HOPS_DEFAULT, &err) < 0)
        log_debug("ip-router %s: cannot forward %zu bytes to %s: %s", r->network, len, rt->via,
                  err ? err : "?");
}

static void on_tun_readable(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct ip_router *r = p->data;
    if (status < 0) {
        log_error("ip-router %s: error reading from tun device: %s", r->network, uv_strerror(status));
        return;
    }
    for (int i = 0; i < READS_PER_EVENT; i++) {
        ssize_t n = read(r->tunfd, r->buf, sizeof r->buf);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                log_error("ip-router %s: error reading from tun device: %s", r->network, strerror(errno));
            return;
        }
        forward_packet(r, r->buf, (size_t)n);
    }
}

static void on_datagram(void *arg, const char *from_node, const char *from_service, const uint8_t *data,
                        size_t len)
{
    (void)from_service;
    struct ip_router *r = arg;
    unsigned char dst[16];
    if (!ipr_packet_dest(data, len, dst)) {
        log_debug("ip-router %s: dropped a datagram from %s that is not an IP packet", r->network, from_node);
        return;
    }
    if (write(r->tunfd, data, len) != (ssize_t)len && errno != EAGAIN)
        log_error("ip-router %s: error writing to tun device: %s", r->network, strerror(errno));
}

/* ---- lifecycle ------------------------------------------------------------------ */

static int spec_parse(struct ip_router *r, const struct ip_router_spec *spec, char *err, size_t errlen)
{
    if (!spec->networkname || !spec->networkname[0] || strlen(spec->networkname) > MSG_SERVICE_MAX) {
        snprintf(err, errlen, "networkname %s must be 1 to %d characters", spec->networkname ? spec->networkname : "",
                 MSG_SERVICE_MAX);
        return -1;
    }
    snprintf(r->network, sizeof r->network, "%s", spec->networkname);
    if (spec->interface && strlen(spec->interface) >= IFNAMSIZ) {
        snprintf(err, errlen, "interface name %s is longer than %d characters", spec->interface, IFNAMSIZ - 1);
        return -1;
    }
    const char *ln = spec->localnet ? spec->localnet : "";
    if (ipr_cidr_parse(ln, &r->localnet) < 0) {
        snprintf(err, errlen, "could not parse %s as a CIDR address", ln);
        return -1;
    }
    if (r->localnet.prefix != 30 || r->localnet.family != 4) {
        snprintf(err, errlen, r->localnet.prefix != 30 ? "local network %s must be a /30 CIDR"
                                                       : "local network %s must be IPv4", ln);
        return -1;
    }
    memcpy(r->link_ip, r->localnet.addr, 4);
    r->link_ip[3]++;
    memcpy(r->dest_ip, r->link_ip, 4);
    r->dest_ip[3]++;
    const char *p = spec->routes && spec->routes[0] ? spec->routes : NULL;
    while (p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char one[128];
        snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one ? len : sizeof one - 1), p);
        if (len >= sizeof one || ipr_cidr_parse(one, &r->adv[r->nadv]) < 0) {
            snprintf(err, errlen, "could not parse %.*s as a CIDR address", (int)(len > 100 ? 100 : len), p);
            return -1;
        }
        if (++r->nadv == ADV_ROUTES_MAX && comma) {
            snprintf(err, errlen, "more than %d routes", ADV_ROUTES_MAX);
            return -1;
        }
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static json_t *advert_tags(const struct ip_router *r)
{
    char text[64], key[32];
    ipr_cidr_format(&r->localnet, text, sizeof text);
    json_t *tags = json_pack("{s:s,s:s,s:s}", "type", "IP Router", "network", r->network, "route_local", text);
    for (size_t i = 0; tags && i < r->nadv; i++) {
        ipr_cidr_format(&r->adv[i], text, sizeof text);
        snprintf(key, sizeof key, "route_%zu", i);
        json_object_set_new(tags, key, json_string(text));
    }
    return tags;
}

struct ip_router *ip_router_start(struct node *n, const struct ip_router_spec *spec, char *err, size_t errlen)
{
    struct ip_router *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->node = n;
    r->tunfd = -1;
    if (spec_parse(r, spec, err, errlen) < 0 || tun_open(r, spec->interface, err, errlen) < 0 ||
        tun_configure(r, err, errlen) < 0) {
        if (r->tunfd >= 0)
            close(r->tunfd);
        free(r);
        return NULL;
    }
    json_t *tags = advert_tags(r);
    char e[256];
    r->svc = node_listen(n, r->network, 1, CONN_DATAGRAM, tags, on_datagram, NULL, r, e, sizeof e);
    json_decref(tags);
    if (!r->svc) {
        snprintf(err, errlen, "error listening for service %s: %s", r->network, e);
        close(r->tunfd);
        free(r);
        return NULL;
    }
    uv_loop_t *loop = node_loop(n);
    uv_poll_init(loop, &r->poll, r->tunfd);
    r->poll.data = r;
    uv_poll_start(&r->poll, UV_READABLE, on_tun_readable);
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_refresh_timer, 0, REFRESH_MS);
    r->handles = 2;
    log_info("ip-router %s: interface %s, %d.%d.%d.%d peer %d.%d.%d.%d", r->network, r->ifname,
             r->link_ip[0], r->link_ip[1], r->link_ip[2], r->link_ip[3], r->dest_ip[0], r->dest_ip[1],
             r->dest_ip[2], r->dest_ip[3]);
    return r;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct ip_router *r = h->data;
    if (--r->handles > 0)
        return;
    close(r->tunfd);
    free(r->routes);
    free(r);
}

void ip_router_stop(struct ip_router *r)
{
    node_unlisten(r->node, r->svc);
    uv_close((uv_handle_t *)&r->poll, on_handle_closed);
    uv_close((uv_handle_t *)&r->timer, on_handle_closed);
}
