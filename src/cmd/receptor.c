/* receptor.c - the node daemon.
 *
 * argv -> config (src/config) -> one node with its backends and control
 * service, run on one libuv loop until SIGINT/SIGTERM or a duplicate-node
 * shutdown.  `reload` re-parses the same arguments: backends are diffed by
 * their canonical config text (unchanged links stay up), the log level is
 * re-applied, and any change to a non-reloadable entry is refused with
 * upstream's ERRORCODE 3. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/receptor_tls.h"
#include "config/config.h"
#include "control/control.h"
#include "control/metrics.h"
#include "core/godur.h"
#include "core/log.h"
#include "mesh/backend.h"
#include "mesh/node.h"
#include "stream/command_svc.h"
#include "stream/ip_router.h"
#include "stream/proxy.h"
#include "work/cmd_runner.h"
#include "work/sign.h"
#include "work/kube.h"
#include "work/workceptor.h"

#define MAX_BACKENDS 1024
#define MAX_PROXIES 256

struct daemon {
    uv_loop_t loop;
    int argc;
    char **argv;
    struct config cfg;
    struct node *node;
    struct control *control;
    struct metrics *metrics;   /* the `metrics` entry, or NULL */
    struct workceptor *work;
    struct work_signer *signer;
    struct work_verifier *verifier;
    struct tlsconf *tls;    /* named tls-server / tls-client configs */
    struct { struct tls_config *cfg; struct stream_tls st; } stls[64]; /* for QUIC */
    size_t nstls;
    struct backend *backends[MAX_BACKENDS];
    size_t nbackends;
    struct proxy *proxies[MAX_PROXIES];
    size_t nproxies;
    struct command_svc *cmdsvcs[MAX_PROXIES];
    size_t ncmdsvcs;
    struct ip_router *iprouters[MAX_PROXIES];
    size_t niprouters;
    uv_signal_t sigint, sigterm;
    int exit_code;
};

static int is_backend_item(const struct config_item *it)
{
    const char *n = it->def->name;
    return strcmp(n, "tcp-listener") == 0 || strcmp(n, "tcp-peer") == 0 ||
           strcmp(n, "udp-listener") == 0 || strcmp(n, "udp-peer") == 0 ||
           strcmp(n, "ws-listener") == 0 || strcmp(n, "ws-peer") == 0 ||
           strcmp(n, "local-only") == 0;
}

static void apply_log_level(const struct config *cfg)
{
    const struct config_item *it = config_find(cfg, "log-level");
    if (!it) {
        log_set_level(LOG_INFO);
        return;
    }
    const char *lv = config_str(it, "level");
    int level = lv ? log_level_parse(lv) : LOG_ERROR;
    log_set_level(level < 0 ? LOG_ERROR : (enum log_level)level);
}

static int spec_from_item(const struct config_item *it, struct backend_spec *spec, char *key)
{
    memset(spec, 0, sizeof *spec);
    const char *n = it->def->name;
    spec->key = key;
    spec->policy.cost = config_float(it, "cost", 1.0);
    spec->policy.nodecost = config_json(it, "nodecost");
    spec->policy.allowedpeers = config_json(it, "allowedpeers");
    spec->bindaddr = config_str(it, "bindaddr");
    spec->port = (int)config_int(it, "port", 0);
    spec->address = config_str(it, "address");
    spec->redial = config_bool(it, "redial", 1);
    spec->path = config_str(it, "path");               /* ws-listener */
    spec->extraheader = config_str(it, "extraheader"); /* ws-peer */
    if (strcmp(n, "tcp-listener") == 0)
        spec->kind = BACKEND_TCP_LISTENER;
    else if (strcmp(n, "tcp-peer") == 0)
        spec->kind = BACKEND_TCP_PEER;
    else if (strcmp(n, "udp-listener") == 0)
        spec->kind = BACKEND_UDP_LISTENER;
    else if (strcmp(n, "udp-peer") == 0)
        spec->kind = BACKEND_UDP_PEER;
    else if (strcmp(n, "ws-listener") == 0)
        spec->kind = BACKEND_WS_LISTENER;
    else if (strcmp(n, "ws-peer") == 0)
        spec->kind = BACKEND_WS_PEER;
    else
        spec->kind = BACKEND_LOCAL_ONLY;
    if (!spec->bindaddr)
        spec->bindaddr = "0.0.0.0";
    return 0;
}

static struct backend *find_backend(struct daemon *d, const char *key, size_t *idx)
{
    for (size_t i = 0; i < d->nbackends; i++)
        if (strcmp(backend_key(d->backends[i]), key) == 0) {
            if (idx)
                *idx = i;
            return d->backends[i];
        }
    return NULL;
}

static int start_backend(struct daemon *d, const struct config_item *it, char *err, size_t errlen)
{
    char *key = config_item_canonical(it);
    if (!key) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (find_backend(d, key, NULL)) { /* an identical duplicate item */
        free(key);
        return 0;
    }
    if (d->nbackends == MAX_BACKENDS) {
        free(key);
        snprintf(err, errlen, "too many backends (limit %d)", MAX_BACKENDS);
        return -1;
    }
    struct backend_spec spec;
    spec_from_item(it, &spec, key);
    const char *tls = config_str(it, "tls");
    if (tls && tls[0] &&
        !(spec.tls_config = tlsconf_find(d->tls, tls, strstr(it->def->name, "-listener") != NULL))) {
        free(key);
        snprintf(err, errlen, "unknown TLS config %s", tls);
        return -1;
    }
    struct backend *b = backend_start(d->node, &spec, err, errlen);
    free(key);
    if (!b)
        return -1;
    d->backends[d->nbackends++] = b;
    return 0;
}

/* The QUIC-side hook of a named TLS config (stable storage for its life). */
static const struct stream_tls *stream_tls_for(struct daemon *d, const char *name, int is_server)
{
    struct tls_config *cfg = d->tls ? tlsconf_find(d->tls, name, is_server) : NULL;
    if (!cfg)
        return NULL;
    for (size_t i = 0; i < d->nstls; i++)
        if (d->stls[i].cfg == cfg)
            return &d->stls[i].st;
    if (d->nstls == sizeof d->stls / sizeof d->stls[0])
        return NULL;
    d->stls[d->nstls].cfg = cfg;
    d->stls[d->nstls].st.setup = tlsconf_stream_setup;
    d->stls[d->nstls].st.failed = tlsconf_stream_failed;
    d->stls[d->nstls].st.arg = cfg;
    return &d->stls[d->nstls++].st;
}

static const struct stream_tls *tls_client_lookup(void *arg, const char *name)
{
    return stream_tls_for(arg, name, 0);
}

/* A TLS option naming a config of the right kind; -1 with err if named but
 * unknown. */
static int tls_option(struct daemon *d, const struct config_item *it, const char *opt, int is_server,
                      const struct stream_tls **out, char *err, size_t errlen)
{
    const char *name = config_str(it, opt);
    *out = NULL;
    if (!name || !name[0])
        return 0;
    *out = stream_tls_for(d, name, is_server);
    if (!*out) {
        snprintf(err, errlen, "%s: %s: unknown %s %s", it->where, it->def->name,
                 is_server ? "tls-server" : "tls-client", name);
        return -1;
    }
    return 0;
}

static int start_control(struct daemon *d, const struct config_item *it, char *err, size_t errlen)
{
    const char *file = config_str(it, "filename");
    const char *tcp = config_str(it, "tcplisten");
    if (file && control_listen_unix(d->control, file, (int)config_int(it, "permissions", 0600), err, errlen) < 0)
        return -1;
    const char *tcptls = config_str(it, "tcptls");
    struct tls_config *tlscfg = NULL;
    if (tcp && tcp[0] && tcptls && tcptls[0] && !(tlscfg = tlsconf_find(d->tls, tcptls, 1))) {
        snprintf(err, errlen, "unknown TLS config %s", tcptls);
        return -1;
    }
    if (tcp && tcp[0] && control_listen_tcp(d->control, tcp, tlscfg, err, errlen) < 0)
        return -1;
    const char *svc = config_str(it, "service");
    const struct stream_tls *mtls;
    if (tls_option(d, it, "tls", 1, &mtls, err, errlen) < 0)
        return -1;
    if (svc && svc[0] && control_listen_mesh(d->control, svc, mtls, err, errlen) < 0)
        return -1;
    return 0;
}

/* ---- proxies ---------------------------------------------------------------- */

static const struct { const char *entry; enum proxy_kind kind; } proxy_entries[] = {
    { "tcp-server", PROXY_TCP_SERVER }, { "tcp-client", PROXY_TCP_CLIENT },
    { "udp-server", PROXY_UDP_SERVER }, { "udp-client", PROXY_UDP_CLIENT },
    { "unix-socket-server", PROXY_UNIX_SERVER }, { "unix-socket-client", PROXY_UNIX_CLIENT },
};

static int start_proxy(struct daemon *d, const struct config_item *it, char *err, size_t errlen)
{
    size_t k;
    for (k = 0; k < sizeof proxy_entries / sizeof proxy_entries[0]; k++)
        if (strcmp(it->def->name, proxy_entries[k].entry) == 0)
            break;
    if (k == sizeof proxy_entries / sizeof proxy_entries[0])
        return 0;
    /* mesh side: tcp-server/unix-socket-server dial (tls-client),
     * tcp-client/unix-socket-client listen (tls-server); local side:
     * tcp-server's tlsserver and tcp-client's tlsclient wrap the TCP leg */
    enum proxy_kind kind = proxy_entries[k].kind;
    const struct stream_tls *mesh_tls = NULL;
    struct tls_config *local_tls = NULL;
    int rc = 0;
    if (kind == PROXY_TCP_SERVER) {
        rc = tls_option(d, it, "tlsclient", 0, &mesh_tls, err, errlen);
        const char *n = config_str(it, "tlsserver");
        if (!rc && n && n[0] && !(local_tls = tlsconf_find(d->tls, n, 1)))
            rc = -1, snprintf(err, errlen, "%s: tcp-server: unknown tls-server %s", it->where, n);
    } else if (kind == PROXY_TCP_CLIENT) {
        rc = tls_option(d, it, "tlsserver", 1, &mesh_tls, err, errlen);
        const char *n = config_str(it, "tlsclient");
        if (!rc && n && n[0] && !(local_tls = tlsconf_find(d->tls, n, 0)))
            rc = -1, snprintf(err, errlen, "%s: tcp-client: unknown tls-client %s", it->where, n);
    } else if (kind == PROXY_UNIX_SERVER) {
        rc = tls_option(d, it, "tls", 0, &mesh_tls, err, errlen);
    } else if (kind == PROXY_UNIX_CLIENT) {
        rc = tls_option(d, it, "tls", 1, &mesh_tls, err, errlen);
    }
    if (rc < 0)
        return -1;
    if (d->nproxies == MAX_PROXIES) {
        snprintf(err, errlen, "too many proxies (limit %d)", MAX_PROXIES);
        return -1;
    }
    struct proxy_spec spec = {
        .kind = proxy_entries[k].kind,
        .bindaddr = config_str(it, "bindaddr"),
        .port = (int)config_int(it, "port", 0),
        .remotenode = config_str(it, "remotenode"),
        .remoteservice = config_str(it, "remoteservice"),
        .service = config_str(it, "service"),
        .address = config_str(it, "address"),
        .filename = config_str(it, "filename"),
        .permissions = (int)config_int(it, "permissions", 0600),
        .mesh_tls = mesh_tls,
        .local_tls = local_tls,
    };
    struct proxy *p = proxy_start(d->node, &spec, err, errlen);
    if (!p)
        return -1;
    d->proxies[d->nproxies++] = p;
    return 0;
}

/* A command-service entry: a mesh service running a command per connection. */
static int start_command_service(struct daemon *d, const struct config_item *it, char *err, size_t errlen)
{
    const struct stream_tls *tls;
    if (tls_option(d, it, "tls", 1, &tls, err, errlen) < 0)
        return -1;
    if (d->ncmdsvcs == MAX_PROXIES) {
        snprintf(err, errlen, "too many command services (limit %d)", MAX_PROXIES);
        return -1;
    }
    char e[512];
    struct command_svc *cs = command_svc_start(d->node, config_str(it, "service"), config_str(it, "command"),
                                               tls, e, sizeof e);
    if (!cs) {
        snprintf(err, errlen, "%s: %s", it->where, e);
        return -1;
    }
    d->cmdsvcs[d->ncmdsvcs++] = cs;
    return 0;
}

/* An ip-router entry: a TUN interface routed over the mesh. */
static int start_ip_router(struct daemon *d, const struct config_item *it, char *err, size_t errlen)
{
    if (d->niprouters == MAX_PROXIES) {
        snprintf(err, errlen, "too many ip-routers (limit %d)", MAX_PROXIES);
        return -1;
    }
    struct ip_router_spec spec = {
        .networkname = config_str(it, "networkname"),
        .interface = config_str(it, "interface"),
        .localnet = config_str(it, "localnet"),
        .routes = config_str(it, "routes"),
    };
    char e[512];
    struct ip_router *r = ip_router_start(d->node, &spec, e, sizeof e);
    if (!r) {
        snprintf(err, errlen, "%s: ip-router: %s", it->where, e);
        return -1;
    }
    d->iprouters[d->niprouters++] = r;
    return 0;
}

/* ---- reload ------------------------------------------------------------------ */

static char *fixed_items_text(const struct config *cfg)
{
    size_t cap = 1, len = 0;
    char *out = calloc(1, 1);
    for (size_t i = 0; out && i < cfg->n; i++) {
        if (cfg->items[i].def->flags & CONFIG_RELOADABLE)
            continue;
        char *t = config_item_canonical(&cfg->items[i]);
        if (!t)
            continue;
        size_t tl = strlen(t);
        if (len + tl + 2 > cap) {
            cap = (len + tl + 2) * 2;
            char *p = realloc(out, cap);
            if (!p) {
                free(t);
                free(out);
                return NULL;
            }
            out = p;
        }
        memcpy(out + len, t, tl);
        len += tl;
        out[len++] = '\n';
        out[len] = 0;
        free(t);
    }
    return out;
}

static int do_reload(void *arg, char *err, size_t errlen, int *code)
{
    struct daemon *d = arg;
    struct config next;
    memset(&next, 0, sizeof next);
    if (config_parse_args(d->argc, d->argv, &next, err, errlen) < 0) {
        *code = 4;
        return -1;
    }
    if (config_check_supported(&next, err, errlen) < 0) {
        config_free(&next);
        *code = 4;
        return -1;
    }
    char *a = fixed_items_text(&d->cfg), *b = fixed_items_text(&next);
    int same = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    if (!same) {
        config_free(&next);
        snprintf(err, errlen, "a non-reloadable config item was added, changed or removed");
        *code = 3;
        return -1;
    }
    /* certificate rotation: new handshakes use the files as they are now */
    if (d->tls && tlsconf_reload(d->tls, err, errlen) < 0) {
        config_free(&next);
        *code = 4;
        return -1;
    }
    /* stop backends that are gone */
    for (size_t i = 0; i < d->nbackends;) {
        int keep = 0;
        for (size_t k = 0; k < next.n && !keep; k++) {
            if (!is_backend_item(&next.items[k]))
                continue;
            char *key = config_item_canonical(&next.items[k]);
            keep = key && strcmp(key, backend_key(d->backends[i])) == 0;
            free(key);
        }
        if (keep) {
            i++;
            continue;
        }
        log_info("Reload: stopping backend %s", backend_key(d->backends[i]));
        backend_stop(d->backends[i]);
        d->backends[i] = d->backends[--d->nbackends];
    }
    int rc = 0;
    for (size_t k = 0; k < next.n; k++)
        if (is_backend_item(&next.items[k]) && start_backend(d, &next.items[k], err, errlen) < 0) {
            log_error("Reload: %s", err);
            rc = -1;
        }
    config_free(&d->cfg);
    d->cfg = next;
    apply_log_level(&d->cfg);
    if (rc < 0)
        *code = 4;
    return rc;
}

/* ---- lifecycle --------------------------------------------------------------- */

static void shutdown_daemon(struct daemon *d)
{
    for (size_t i = 0; i < d->nbackends; i++)
        backend_stop(d->backends[i]);
    d->nbackends = 0;
    for (size_t i = 0; i < d->nproxies; i++)
        proxy_stop(d->proxies[i]);
    d->nproxies = 0;
    for (size_t i = 0; i < d->ncmdsvcs; i++)
        command_svc_stop(d->cmdsvcs[i]);
    d->ncmdsvcs = 0;
    for (size_t i = 0; i < d->niprouters; i++)
        ip_router_stop(d->iprouters[i]);
    d->niprouters = 0;
    metrics_free(d->metrics);
    d->metrics = NULL;
    if (d->control)
        control_free(d->control);
    d->control = NULL;
    if (d->work)
        workceptor_free(d->work);
    d->work = NULL;
    if (d->signer)
        sign_signer_free(d->signer);
    if (d->verifier)
        sign_verifier_free(d->verifier);
    d->signer = NULL;
    d->verifier = NULL;
    if (d->node)
        node_free(d->node);
    d->node = NULL;
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    log_info("Received signal %d, shutting down", signum);
    shutdown_daemon(d);
}

static void on_node_shutdown(void *arg, const char *why)
{
    struct daemon *d = arg;
    log_error("Node shutting down: %s", why);
    d->exit_code = 1;
    shutdown_daemon(d);
}

/* work-signing and work-verification keys (spec 11). */
static int load_work_keys(struct daemon *d, char *err, size_t errlen)
{
    char e[400];
    const struct config_item *sit = config_find(&d->cfg, "work-signing");
    const struct config_item *vit = config_find(&d->cfg, "work-verification");
    if (sit) {
        int64_t life = 0;
        const char *te = config_str(sit, "tokenexpiration");
        if (te && te[0] && godur_parse(te, &life, e, sizeof e) < 0) {
            snprintf(err, errlen, "%s: work-signing: tokenexpiration: %s", sit->where, e);
            return -1;
        }
        d->signer = sign_signer_load(config_str(sit, "privatekey"), life, e, sizeof e);
        if (!d->signer) {
            snprintf(err, errlen, "%s%s", SIGN_LOAD_SIGNING_PREFIX, e);
            return -1;
        }
    }
    if (vit) {
        d->verifier = sign_verifier_load(config_str(vit, "publickey"), e, sizeof e);
        if (!d->verifier) {
            snprintf(err, errlen, "%s%s", SIGN_LOAD_VERIFYING_PREFIX, e);
            return -1;
        }
    }
    workceptor_set_keys(d->work, d->signer, d->verifier);
    return 0;
}

/* A work-kubernetes entry: upstream's Prepare checks, then the type. */
static int add_work_kube(struct daemon *d, const struct config_item *it, char *err, size_t errlen)
{
    struct kube_settings ks = {
        .worktype = config_str(it, "worktype"), .namespace_ = config_str(it, "namespace"),
        .image = config_str(it, "image"), .command = config_str(it, "command"),
        .params = config_str(it, "params"), .authmethod = config_str(it, "authmethod"),
        .kubeconfig = config_str(it, "kubeconfig"), .pod = config_str(it, "pod"),
        .streammethod = config_str(it, "streammethod"),
        .allow_runtime_auth = config_bool(it, "allowruntimeauth", 0),
        .allow_runtime_command = config_bool(it, "allowruntimecommand", 0),
        .allow_runtime_params = config_bool(it, "allowruntimeparams", 0),
        .allow_runtime_pod = config_bool(it, "allowruntimepod", 0),
        .delete_pod_on_restart = config_bool(it, "deletepodonrestart", 1),
        .verify_signature = config_bool(it, "verifysignature", 0),
    };
    char e[512];
    if (kube_settings_check(&ks, e, sizeof e) < 0) {
        snprintf(err, errlen, "%s: work-kubernetes: %s", it->where, e);
        return -1;
    }
    if (ks.verify_signature && !d->verifier) {
        snprintf(err, errlen, "%s: work-kubernetes %s: verifysignature needs a work-verification key",
                 it->where, ks.worktype);
        return -1;
    }
    return workceptor_add_kube(d->work, &ks, err, errlen);
}

/* The workceptor and the work types of the config; units on disk are
 * picked up again once every type is known. */
static int setup_work(struct daemon *d, char *err, size_t errlen)
{
    const struct config_item *nodeit = config_find(&d->cfg, "node");
    const char *datadir = config_str(nodeit, "datadir");
    char exe[4096];
    size_t exelen = sizeof exe;
    if (uv_exepath(exe, &exelen) < 0)
        snprintf(exe, sizeof exe, "%s", d->argv[0]);
    d->work = workceptor_new(d->node, datadir && datadir[0] ? datadir : "/tmp/receptor", exe, err, errlen);
    if (!d->work)
        return -1;
    if (load_work_keys(d, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < d->cfg.n; i++) {
        const struct config_item *it = &d->cfg.items[i];
        if (strcmp(it->def->name, "work-kubernetes") == 0 && add_work_kube(d, it, err, errlen) < 0)
            return -1;
        if (strcmp(it->def->name, "work-command") != 0)
            continue;
        if (config_bool(it, "verifysignature", 0) && !d->verifier) {
            snprintf(err, errlen, "%s: work-command %s: verifysignature needs a work-verification key",
                     it->where, config_str(it, "worktype"));
            return -1;
        }
        if (workceptor_add_command(d->work, config_str(it, "worktype"), config_str(it, "command"),
                                   config_str(it, "params"), config_bool(it, "allowruntimeparams", 0),
                                   config_bool(it, "verifysignature", 0), err, errlen) < 0)
            return -1;
    }
    workceptor_set_tls_lookup(d->work, tls_client_lookup, d);
    workceptor_scan(d->work);
    control_set_workceptor(d->control, d->work);
    return 0;
}

static int start_metrics(struct daemon *d, char *err, size_t errlen)
{
    const struct config_item *it = config_find(&d->cfg, "metrics");
    if (!it)
        return 0;
    struct metrics_sources src = { .node = d->node, .control = d->control, .work = d->work, .tls = d->tls };
    d->metrics = metrics_new(&d->loop, &src, config_str(it, "address"), (int)config_int(it, "port", 9273),
                             err, errlen);
    return d->metrics ? 0 : -1;
}

static int setup(struct daemon *d, char *err, size_t errlen)
{
    apply_log_level(&d->cfg);
    const struct config_item *nodeit = config_find(&d->cfg, "node");
    struct node_config nc = { .id = config_str(nodeit, "id"), .firewallrules = config_json(nodeit, "firewallrules") };
    const char *idle = config_str(nodeit, "maxidleconnectiontimeout");
    if (idle && idle[0] && godur_parse(idle, &nc.max_idle_ns, err, errlen) < 0)
        return -1;
    d->node = node_new(&d->loop, &nc, err, errlen);
    if (!d->node)
        return -1;
    node_on_shutdown(d->node, on_node_shutdown, d);
    d->tls = receptor_tls_build(&d->cfg, node_id(d->node), err, errlen);
    if (!d->tls)
        return -1;
    struct control_hooks hooks = { .reload = d->cfg.config_file ? do_reload : NULL,
                                   .tls_client = tls_client_lookup, .arg = d };
    d->control = control_new(d->node, &hooks);
    if (setup_work(d, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < d->cfg.n; i++) {
        const struct config_item *it = &d->cfg.items[i];
        if (strcmp(it->def->name, "control-service") == 0 && start_control(d, it, err, errlen) < 0)
            return -1;
        if (is_backend_item(it) && start_backend(d, it, err, errlen) < 0)
            return -1;
        if (start_proxy(d, it, err, errlen) < 0)
            return -1;
        if (strcmp(it->def->name, "command-service") == 0 && start_command_service(d, it, err, errlen) < 0)
            return -1;
        if (strcmp(it->def->name, "ip-router") == 0 && start_ip_router(d, it, err, errlen) < 0)
            return -1;
    }
    if (start_metrics(d, err, errlen) < 0)
        return -1;
    if (d->nbackends == 0) {
        log_warning("Nothing to do - no backends are running.");
        snprintf(err, errlen, "Run %s --help for command line instructions.", d->argv[0]);
        return -2;
    }
    log_info("Running control service and mesh as node %s", node_id(d->node));
    return 0;
}

int main(int argc, char **argv)
{
    static struct daemon d; /* one per process; static only to keep it off the stack */
    char err[1024];
    signal(SIGPIPE, SIG_IGN);
    d.argc = argc;
    d.argv = argv;
    if (config_parse_args(argc, argv, &d.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "Error: %s\n", err);
        return 1;
    }
    if (d.cfg.want_help) {
        config_print_help(argv[0], stdout);
        config_free(&d.cfg);
        return 0;
    }
    if (d.cfg.want_bash_completion) {
        config_print_bash_completion(argv[0], stdout);
        config_free(&d.cfg);
        return 0;
    }
    if (d.cfg.want_version || config_find(&d.cfg, "version")) {
        printf("%s\n", RECEPTOR_VERSION);
        config_free(&d.cfg);
        return 0;
    }
    int certs = receptor_cert_command(&d.cfg, err, sizeof err);
    if (certs != 0) {
        if (certs < 0)
            fprintf(stderr, "Error: %s\n", err);
        config_free(&d.cfg);
        return certs < 0 ? 1 : 0;
    }
    const struct config_item *runner = config_find(&d.cfg, "command-runner");
    if (runner) {
        apply_log_level(&d.cfg);
        int rc = cmd_runner_main(config_str(runner, "command"), config_str(runner, "params"),
                                  config_str(runner, "unitdir"));
        config_free(&d.cfg);
        return rc;
    }
    if (config_check_supported(&d.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "Error: %s\n", err);
        config_free(&d.cfg);
        return 1;
    }
    uv_loop_init(&d.loop);
    uv_signal_init(&d.loop, &d.sigint);
    uv_signal_init(&d.loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    int rc = setup(&d, err, sizeof err);
    if (rc < 0) {
        if (rc == -1)
            fprintf(stderr, "Error: %s\n", err);
        else
            fprintf(stderr, "%s\n", err);
        d.exit_code = 1;
        shutdown_daemon(&d);
    }
    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_loop_close(&d.loop);
    tlsconf_free(d.tls);
    config_free(&d.cfg);
    return d.exit_code;
}
