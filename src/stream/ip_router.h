/* ip_router.h - the `ip-router` config entry (upstream
 * pkg/services/ip_router.go): a TUN interface whose IP packets travel as
 * mesh datagrams to the ip-router of the node that advertises the packet's
 * destination network. */
#ifndef STREAM_IP_ROUTER_H
#define STREAM_IP_ROUTER_H

#include <stddef.h>

#include "mesh/node.h"

struct ip_router_spec {
    const char *networkname;  /* network name = mesh service name (<= 8 bytes) */
    const char *interface;    /* TUN name; NULL or "" = the kernel's choice */
    const char *localnet;     /* IPv4 /30: .1 is the TUN's address, .2 its peer */
    const char *routes;       /* comma separated CIDRs also advertised, or NULL */
};

struct ip_router;
/* Checks the options (upstream's messages), creates and configures the TUN
 * and advertises the service.  NULL with err. */
struct ip_router *ip_router_start(struct node *n, const struct ip_router_spec *spec, char *err,
                                  size_t errlen);
/* Removes the interface (and its routes with it) and the service. */
void ip_router_stop(struct ip_router *r);

/* For tests and fuzzers: parses a CIDR as Go's net.ParseCIDR does (address
 * masked to the network).  family is 4 or 6; 0 or -1. */
struct ipr_cidr {
    int family;
    unsigned char addr[16];
    int prefix;
};
int ipr_cidr_parse(const char *text, struct ipr_cidr *out);
int ipr_cidr_format(const struct ipr_cidr *c, char *out, size_t outlen);
int ipr_cidr_contains(const struct ipr_cidr *c, int family, const unsigned char *addr);
/* Destination address of an IP packet: family 4 or 6 (addr gets 4 or 16
 * bytes), or 0 for a packet too short or of another version. */
int ipr_packet_dest(const unsigned char *pkt, size_t len, unsigned char addr[16]);

#endif
