/* receptor_tls.c - see receptor_tls.h.  Only translation from typed config
 * items to the option structs of net/; the work is done there. */
#include "cmd/receptor_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/certs.h"

#define MAX_LIST 256

/* Borrows the strings of a list option (valid while cfg lives). */
static size_t list_of(const struct config_item *it, const char *opt, const char **out, size_t max)
{
    json_t *a = config_json(it, opt);
    size_t n = 0;
    for (size_t i = 0; a && json_is_array(a) && i < json_array_size(a) && n < max; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s)
            out[n++] = s;
    }
    return n;
}

static int run_init(const struct config_item *it, char *err, size_t errlen)
{
    struct certs_init_opts o = {
        .commonname = config_str(it, "commonname"),
        .bits = (long)config_int(it, "bits", 0),
        .notbefore = config_str(it, "notbefore"),
        .notafter = config_str(it, "notafter"),
        .outcert = config_str(it, "outcert"),
        .outkey = config_str(it, "outkey"),
    };
    return certs_init(&o, err, errlen);
}

static int run_makereq(const struct config_item *it, char *err, size_t errlen)
{
    const char *dns[MAX_LIST], *ips[MAX_LIST], *nodes[MAX_LIST];
    struct certs_req_opts o = {
        .commonname = config_str(it, "commonname"),
        .bits = (long)config_int(it, "bits", 0),
        .dns = dns,
        .ndns = list_of(it, "dnsname", dns, MAX_LIST),
        .ips = ips,
        .nips = list_of(it, "ipaddress", ips, MAX_LIST),
        .nodes = nodes,
        .nnodes = list_of(it, "nodeid", nodes, MAX_LIST),
        .outreq = config_str(it, "outreq"),
        .inkey = config_str(it, "inkey"),
        .outkey = config_str(it, "outkey"),
    };
    return certs_makereq(&o, err, errlen);
}

static int run_signreq(const struct config_item *it, char *err, size_t errlen)
{
    struct certs_sign_opts o = {
        .req = config_str(it, "req"),
        .cacert = config_str(it, "cacert"),
        .cakey = config_str(it, "cakey"),
        .outcert = config_str(it, "outcert"),
        .notbefore = config_str(it, "notbefore"),
        .notafter = config_str(it, "notafter"),
        .verify = config_bool(it, "verify", 0),
        .in = stdin,
        .out = stdout,
    };
    return certs_signreq(&o, err, errlen);
}

int receptor_cert_command(const struct config *cfg, char *err, size_t errlen)
{
    const struct config_item *it;
    if ((it = config_find(cfg, "cert-init")))
        return run_init(it, err, errlen) < 0 ? -1 : 1;
    if ((it = config_find(cfg, "cert-makereq")))
        return run_makereq(it, err, errlen) < 0 ? -1 : 1;
    if ((it = config_find(cfg, "cert-signreq")))
        return run_signreq(it, err, errlen) < 0 ? -1 : 1;
    return 0;
}

static int add_item(struct tlsconf *set, const struct config_item *it, int is_server, char *err, size_t errlen)
{
    const char *pins[TLSCONF_MAX_PINS + 1];
    struct tlsconf_opts o = {
        .name = config_str(it, "name"),
        .is_server = is_server,
        .cert = config_str(it, "cert"),
        .key = config_str(it, "key"),
        .cas = config_str(it, is_server ? "clientcas" : "rootcas"),
        .pins = pins,
        .npins = list_of(it, is_server ? "pinnedclientcert" : "pinnedservercert", pins, TLSCONF_MAX_PINS + 1),
        .requireclientcert = config_bool(it, "requireclientcert", 0),
        .insecureskipverify = config_bool(it, "insecureskipverify", 0),
        .skipreceptornamescheck = config_bool(it, "skipreceptornamescheck", 0),
        .mintls13 = config_bool(it, "mintls13", 0),
    };
    return tlsconf_add(set, &o, err, errlen);
}

struct tlsconf *receptor_tls_build(const struct config *cfg, const char *node_id, char *err, size_t errlen)
{
    struct tlsconf *set = tlsconf_new(node_id);
    if (!set) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->n; i++) {
        const struct config_item *it = &cfg->items[i];
        int server = strcmp(it->def->name, "tls-server") == 0;
        if (!server && strcmp(it->def->name, "tls-client") != 0)
            continue;
        if (add_item(set, it, server, err, errlen) < 0) {
            tlsconf_free(set);
            return NULL;
        }
    }
    return set;
}
