/* receptor_tls.c - see receptor_tls.h.  Only translation from typed config
 * items to the option structs of net/; the work is done there. */
#include "cmd/receptor_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/certs.h"

#define MAX_LIST 256

/* Borrows the strings of a list option (valid while cfg lives). */
static size_t list_of(const struct cfg_item *it, const char *opt, const char **out, size_t max)
{
    json_t *a = cfg_json(it, opt);
    size_t n = 0;
    for (size_t i = 0; a && json_is_array(a) && i < json_array_size(a) && n < max; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s)
            out[n++] = s;
    }
    return n;
}

static int run_init(const struct cfg_item *it, char *err, size_t errlen)
{
    struct certs_init_opts o = {
        .commonname = cfg_str(it, "commonname"),
        .bits = (long)cfg_int(it, "bits", 0),
        .notbefore = cfg_str(it, "notbefore"),
        .notafter = cfg_str(it, "notafter"),
        .outcert = cfg_str(it, "outcert"),
        .outkey = cfg_str(it, "outkey"),
    };
    return certs_init(&o, err, errlen);
}

static int run_makereq(const struct cfg_item *it, char *err, size_t errlen)
{
    const char *dns[MAX_LIST], *ips[MAX_LIST], *nodes[MAX_LIST];
    struct certs_req_opts o = {
        .commonname = cfg_str(it, "commonname"),
        .bits = (long)cfg_int(it, "bits", 0),
        .dns = dns,
        .ndns = list_of(it, "dnsname", dns, MAX_LIST),
        .ips = ips,
        .nips = list_of(it, "ipaddress", ips, MAX_LIST),
        .nodes = nodes,
        .nnodes = list_of(it, "nodeid", nodes, MAX_LIST),
        .outreq = cfg_str(it, "outreq"),
        .inkey = cfg_str(it, "inkey"),
        .outkey = cfg_str(it, "outkey"),
    };
    return certs_makereq(&o, err, errlen);
}

static int run_signreq(const struct cfg_item *it, char *err, size_t errlen)
{
    struct certs_sign_opts o = {
        .req = cfg_str(it, "req"),
        .cacert = cfg_str(it, "cacert"),
        .cakey = cfg_str(it, "cakey"),
        .outcert = cfg_str(it, "outcert"),
        .notbefore = cfg_str(it, "notbefore"),
        .notafter = cfg_str(it, "notafter"),
        .verify = cfg_bool(it, "verify", 0),
        .in = stdin,
        .out = stdout,
    };
    return certs_signreq(&o, err, errlen);
}

int receptor_cert_command(const struct config *cfg, char *err, size_t errlen)
{
    const struct cfg_item *it;
    if ((it = config_find(cfg, "cert-init")))
        return run_init(it, err, errlen) < 0 ? -1 : 1;
    if ((it = config_find(cfg, "cert-makereq")))
        return run_makereq(it, err, errlen) < 0 ? -1 : 1;
    if ((it = config_find(cfg, "cert-signreq")))
        return run_signreq(it, err, errlen) < 0 ? -1 : 1;
    return 0;
}

static int add_item(struct tlsconf *set, const struct cfg_item *it, int is_server, char *err, size_t errlen)
{
    const char *pins[TLSCONF_MAX_PINS + 1];
    struct tlsconf_opts o = {
        .name = cfg_str(it, "name"),
        .is_server = is_server,
        .cert = cfg_str(it, "cert"),
        .key = cfg_str(it, "key"),
        .cas = cfg_str(it, is_server ? "clientcas" : "rootcas"),
        .pins = pins,
        .npins = list_of(it, is_server ? "pinnedclientcert" : "pinnedservercert", pins, TLSCONF_MAX_PINS + 1),
        .requireclientcert = cfg_bool(it, "requireclientcert", 0),
        .insecureskipverify = cfg_bool(it, "insecureskipverify", 0),
        .skipreceptornamescheck = cfg_bool(it, "skipreceptornamescheck", 0),
        .mintls13 = cfg_bool(it, "mintls13", 0),
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
        const struct cfg_item *it = &cfg->items[i];
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
