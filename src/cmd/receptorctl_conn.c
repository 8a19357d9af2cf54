/* receptorctl_conn.c - the control-socket client (upstream's ReceptorControl).
 *
 * One struct rctl is one lazily opened connection, like the Python object:
 * rctl_simple() connects if needed, sends a line and parses the reply line.
 * Commands that end a connection (work submit, work results) close it and
 * the next command opens a new one.
 *
 * Addresses follow upstream's pattern
 *   (tcp|tls):(//)?HOST:PORT  |  (unix:(//)?)?PATH   (PATH without ':')
 * Unix paths get "~" expansion.  TCP tries every getaddrinfo() result;
 * tls:// adds a GnuTLS session (TLS >= 1.2, rootcas or system trust, an
 * optional client key pair, hostname checked unless insecureskipverify).
 * Any failure on one address moves on to the next, and the overall error is
 * upstream's "Could not connect to host H port P".
 *
 * After the greeting the first connection of the process asks for the
 * daemon's Version and warns when it differs from ours.
 *
 * Plain blocking sockets: receptorctl does one thing at a time, and the
 * only bidirectional copy (connect) uses poll() in receptorctl.c. */
#include <errno.h>
#include <gnutls/x509.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#include "cmd/receptorctl_common.h"

/* ---------------------------------------------------------------- errors */

void rctl_set_err(struct rctl *c, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_reset(&c->err);
    buf_append_str(&c->err, tmp);
}

void rctl_set_errno(struct rctl *c, int err, const char *filename)
{
    buf_reset(&c->err);
    buf_printf(&c->err, "[Errno %d] %s", err, strerror(err));
    if (filename) {
        buf_append_str(&c->err, ": ");
        py_repr_str(filename, strlen(filename), &c->err);
    }
}

const char *rctl_errstr(struct rctl *c)
{
    const char *s = "";
    if (buf_cstr(&c->err, &s) < 0)
        return "error";
    return s;
}

/* ---------------------------------------------------------------- config */

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static bool yaml_plain_bool(yaml_node_t *n, bool *out)
{
    static const char *yes[] = { "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON" };
    static const char *no[] = { "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF" };
    const char *v = (const char *)n->data.scalar.value;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    return false;
}

static void take_string(yaml_document_t *doc, yaml_node_t *item, const char *key, char **dst)
{
    yaml_node_t *n = map_get(doc, item, key);
    if (n && n->type == YAML_SCALAR_NODE) {
        free(*dst);
        *dst = strdup((const char *)n->data.scalar.value);
    }
}

static void apply_tls_client(struct rctl *c, yaml_document_t *doc, yaml_node_t *item)
{
    take_string(doc, item, "rootcas", &c->opt.rootcas);
    take_string(doc, item, "key", &c->opt.key);
    take_string(doc, item, "cert", &c->opt.cert);
    yaml_node_t *n = map_get(doc, item, "insecureskipverify");
    if (n && n->type == YAML_SCALAR_NODE) {
        bool b;
        if (!yaml_plain_bool(n, &b)) /* Python truthiness of other values */
            b = n->data.scalar.length > 0 && strcmp((char *)n->data.scalar.value, "0") != 0;
        c->opt.insecureskipverify = b;
    }
}

/* Upstream: for each list item with a tls-client whose name matches, take
 * rootcas/key/cert/insecureskipverify from it. */
static int scan_config(struct rctl *c, yaml_document_t *doc)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type == YAML_SCALAR_NODE) {
        rctl_set_err(c, "'NoneType' object is not iterable");
        return -1;
    }
    if (root->type != YAML_SEQUENCE_NODE) {
        rctl_set_err(c, "'str' object has no attribute 'get'");
        return -1;
    }
    for (yaml_node_item_t *it = root->data.sequence.items.start; it < root->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(doc, *it);
        if (!item || item->type != YAML_MAPPING_NODE) {
            rctl_set_err(c, "'%s' object has no attribute 'get'",
                         item && item->type == YAML_SEQUENCE_NODE ? "list" : "str");
            return -1;
        }
        yaml_node_t *tc = map_get(doc, item, "tls-client");
        if (!tc || tc->type != YAML_MAPPING_NODE)
            continue;
        yaml_node_t *name = map_get(doc, tc, "name");
        if (!name) {
            rctl_set_err(c, "'name'");
            return -1;
        }
        if (name->type == YAML_SCALAR_NODE &&
            strcmp((const char *)name->data.scalar.value, c->opt.tlsclient) == 0) {
            apply_tls_client(c, doc, tc);
            break;
        }
    }
    return 0;
}

static int read_config(struct rctl *c)
{
    FILE *f = fopen(c->opt.config, "r");
    if (!f) {
        rctl_set_errno(c, errno, c->opt.config);
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        rctl_set_err(c, "%s %s", parser.problem ? parser.problem : "YAML error",
                     parser.context ? parser.context : "");
    } else {
        rc = scan_config(c, &doc);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int rctl_init(struct rctl *c, const struct rctl_opts *opt)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    buf_init(&c->err, 65536);
    c->opt = *opt;
    c->opt.rootcas = dup_or_null(opt->rootcas);
    c->opt.key = dup_or_null(opt->key);
    c->opt.cert = dup_or_null(opt->cert);
    if (opt->config && (opt->rootcas || opt->key || opt->cert)) {
        rctl_set_err(c, "Cannot specify both config and rootcas, key, cert");
        return -1;
    }
    if (opt->config && !opt->tlsclient) {
        rctl_set_err(c, "Must specify both config and tlsclient");
        return -1;
    }
    if (opt->config && opt->tlsclient)
        return read_config(c);
    return 0;
}

void rctl_free(struct rctl *c)
{
    rctl_close(c);
    free(c->opt.rootcas);
    free(c->opt.key);
    free(c->opt.cert);
    buf_free(&c->err);
}

/* ---------------------------------------------------------------- address */

struct address {
    bool is_unix;
    bool is_tls;
    char path[4096];
    char host[1024];
    char port[32];
};

static bool all_chars(const char *s, size_t n, const char *set_extra, bool alnum)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= '0' && ch <= '9') ||
                  (alnum && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))) ||
                  (set_extra && ch && strchr(set_extra, ch));
        if (!ok)
            return false;
    }
    return true;
}

static bool parse_host_port(const char *s, struct address *a)
{
    if (strncmp(s, "tcp:", 4) != 0 && strncmp(s, "tls:", 4) != 0)
        return false;
    a->is_tls = s[1] == 'l';
    const char *rest = s + 4;
    if (strncmp(rest, "//", 2) == 0)
        rest += 2;
    const char *colon = strrchr(rest, ':');
    if (!colon)
        return false;
    size_t hlen = (size_t)(colon - rest);
    if (!all_chars(rest, hlen, "-.:", true) || !all_chars(colon + 1, strlen(colon + 1), NULL, false))
        return false;
    if (hlen >= sizeof a->host || strlen(colon + 1) >= sizeof a->port)
        return false;
    memcpy(a->host, rest, hlen);
    a->host[hlen] = 0;
    snprintf(a->port, sizeof a->port, "%s", colon + 1);
    return true;
}

static bool path_ok(const char *p) { return *p && !strchr(p, ':'); }

static void expand_user(const char *path, char *out, size_t outlen)
{
    if (path[0] != '~') {
        snprintf(out, outlen, "%s", path);
        return;
    }
    const char *slash = strchr(path, '/');
    size_t ulen = slash ? (size_t)(slash - path - 1) : strlen(path + 1);
    const char *home = NULL;
    if (ulen == 0) {
        home = getenv("HOME");
        if (!home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
    } else {
        char user[256];
        if (ulen < sizeof user) {
            memcpy(user, path + 1, ulen);
            user[ulen] = 0;
            struct passwd *pw = getpwnam(user);
            home = pw ? pw->pw_dir : NULL;
        }
    }
    if (!home) {
        snprintf(out, outlen, "%s", path);
        return;
    }
    size_t hl = strlen(home);
    while (hl > 1 && home[hl - 1] == '/')
        hl--;
    snprintf(out, outlen, "%.*s%s", (int)hl, home, slash ? slash : "");
}

static bool parse_address(const char *s, struct address *a)
{
    memset(a, 0, sizeof *a);
    if (parse_host_port(s, a))
        return true;
    const char *p = s;
    if (strncmp(s, "unix:", 5) == 0) {
        if (strncmp(s + 5, "//", 2) == 0 && path_ok(s + 7))
            p = s + 7;
        else if (path_ok(s + 5))
            p = s + 5;
    }
    if (!path_ok(p))
        return false;
    a->is_unix = true;
    expand_user(p, a->path, sizeof a->path);
    return true;
}

/* ---------------------------------------------------------------- connect */

static int connect_unix(struct rctl *c, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        rctl_set_err(c, "Socket path does not exist: %s", path);
        return -1;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        rctl_set_err(c, "AF_UNIX path too long");
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rctl_set_errno(c, errno, NULL);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        rctl_set_errno(c, errno, NULL);
        close(fd);
        return -1;
    }
    c->fd = fd;
    return 0;
}

static bool is_ip_literal(const char *host)
{
    unsigned char tmp[16];
    return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

static int tls_start(struct rctl *c, int fd, const char *host)
{
    if (gnutls_certificate_allocate_credentials(&c->cred) < 0)
        return -1;
    int rc = c->opt.rootcas
                 ? gnutls_certificate_set_x509_trust_file(c->cred, c->opt.rootcas, GNUTLS_X509_FMT_PEM)
                 : gnutls_certificate_set_x509_system_trust(c->cred);
    if (rc < 0)
        return -1;
    if (c->opt.key && c->opt.cert &&
        gnutls_certificate_set_x509_key_file(c->cred, c->opt.cert, c->opt.key, GNUTLS_X509_FMT_PEM) < 0)
        return -1;
    if (gnutls_init(&c->tls, GNUTLS_CLIENT) < 0)
        return -1;
    if (gnutls_priority_set_direct(c->tls, "NORMAL:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1", NULL) < 0 ||
        gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred) < 0)
        return -1;
    if (!is_ip_literal(host))
        gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, host, strlen(host));
    /* insecureskipverify only turns off the hostname check, as upstream's
     * check_hostname = False with verify_mode still CERT_REQUIRED. */
    gnutls_session_set_verify_cert(c->tls, c->opt.insecureskipverify ? NULL : host, 0);
    gnutls_transport_set_int(c->tls, fd);
    gnutls_handshake_set_timeout(c->tls, GNUTLS_DEFAULT_HANDSHAKE_TIMEOUT);
    do {
        rc = gnutls_handshake(c->tls);
    } while (rc < 0 && !gnutls_error_is_fatal(rc));
    return rc < 0 ? -1 : 0;
}

static void tls_drop(struct rctl *c)
{
    if (c->tls)
        gnutls_deinit(c->tls);
    if (c->cred)
        gnutls_certificate_free_credentials(c->cred);
    c->tls = NULL;
    c->cred = NULL;
}

static int connect_tcp(struct rctl *c, const struct address *a)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
    struct addrinfo *res = NULL;
    int gerr = getaddrinfo(a->host, a->port, &hints, &res);
    if (gerr != 0) {
        rctl_set_err(c, "[Errno %d] %s", gerr, gai_strerror(gerr));
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            (!a->is_tls || tls_start(c, fd, a->host) == 0)) {
            c->fd = fd;
            break;
        }
        tls_drop(c);
        close(fd);
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        rctl_set_err(c, "Could not connect to host %s port %s", a->host, a->port);
        return -1;
    }
    return 0;
}

static void check_version(struct rctl *c)
{
    c->version_checked = true;
    bool same = false;
    if (rctl_write_str(c, "{\"command\":\"status\",\"requested_fields\":[\"Version\"]}\n") == 0) {
        struct pj *reply = rctl_read_json(c);
        struct pj *v = pj_get(reply, "Version");
        same = v && v->type == PJ_STR && strcmp(v->text, rctl_version()) == 0;
        pj_free(reply);
    }
    if (!same)
        print_warning("receptorctl and receptor are different versions, they may not be compatible");
}

int rctl_connect(struct rctl *c)
{
    if (c->fd >= 0)
        return 0;
    struct address a;
    if (!c->opt.socket || !parse_address(c->opt.socket, &a)) {
        rctl_set_err(c, "Invalid socket address %s", c->opt.socket ? c->opt.socket : "None");
        return -1;
    }
    c->rpos = c->rlen = 0;
    int rc = a.is_unix ? connect_unix(c, a.path) : connect_tcp(c, &a);
    if (rc < 0 || rctl_handshake(c) < 0)
        return -1;
    if (!c->version_checked && !c->skip_version_check)
        check_version(c);
    return 0;
}

void rctl_close(struct rctl *c)
{
    tls_drop(c);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->rpos = c->rlen = 0;
}

/* ---------------------------------------------------------------- I/O */

int rctl_write(struct rctl *c, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w;
        if (c->tls) {
            w = gnutls_record_send(c->tls, s, n);
            if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
                continue;
            if (w < 0) {
                rctl_set_err(c, "[Errno 32] Broken pipe");
                return -1;
            }
        } else {
            w = send(c->fd, s, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rctl_set_errno(c, errno, NULL);
                return -1;
            }
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int rctl_write_str(struct rctl *c, const char *s) { return rctl_write(c, s, strlen(s)); }

static ssize_t read_socket(struct rctl *c, void *p, size_t n)
{
    for (;;) {
        ssize_t r;
        if (c->tls) {
            r = gnutls_record_recv(c->tls, p, n);
            if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
                continue;
            if (r == GNUTLS_E_PREMATURE_TERMINATION)
                return 0; /* ragged EOF, as Python's suppress_ragged_eofs */
            if (r < 0) {
                rctl_set_err(c, "%s", gnutls_strerror((int)r));
                return -1;
            }
            return r;
        }
        r = recv(c->fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rctl_set_errno(c, errno, NULL);
        return r;
    }
}

ssize_t rctl_read_raw(struct rctl *c, void *p, size_t n)
{
    if (c->rpos < c->rlen) {
        size_t k = c->rlen - c->rpos;
        if (k > n)
            k = n;
        memcpy(p, c->rbuf + c->rpos, k);
        c->rpos += k;
        return (ssize_t)k;
    }
    if (c->fd < 0)
        return 0;
    return read_socket(c, p, n);
}

bool rctl_pending(const struct rctl *c)
{
    return c->rpos < c->rlen || (c->tls && gnutls_record_check_pending(c->tls) > 0);
}

static bool py_space(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

int rctl_read_line(struct rctl *c, struct buf *line)
{
    buf_reset(line);
    for (;;) {
        if (c->rpos == c->rlen) {
            if (c->fd < 0)
                break;
            ssize_t r = read_socket(c, c->rbuf, sizeof c->rbuf);
            if (r < 0)
                return -1;
            if (r == 0)
                break;
            c->rpos = 0;
            c->rlen = (size_t)r;
        }
        unsigned char *start = c->rbuf + c->rpos;
        size_t avail = c->rlen - c->rpos;
        unsigned char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) + 1 : avail;
        if (buf_append(line, start, take) < 0) {
            rctl_set_err(c, "reply line longer than %zu bytes", RCTL_LINE_MAX);
            return -1;
        }
        c->rpos += take;
        if (nl)
            break;
    }
    /* str.strip() */
    while (buf_size(line) > 0 && py_space(buf_head(line)[buf_size(line) - 1]))
        line->len--;
    size_t lead = 0;
    while (lead < buf_size(line) && py_space(buf_head(line)[lead]))
        lead++;
    buf_consume(line, lead);
    const char *dummy;
    return buf_cstr(line, &dummy) < 0 ? -1 : 0;
}

int rctl_handshake(struct rctl *c)
{
    struct buf line;
    buf_init(&line, RCTL_LINE_MAX);
    static const char prefix[] = "Receptor Control, node ";
    int rc = rctl_read_line(c, &line);
    if (rc == 0 && (buf_size(&line) <= sizeof prefix - 1 ||
                    memcmp(buf_head(&line), prefix, sizeof prefix - 1) != 0 ||
                    memchr(buf_head(&line), '\n', buf_size(&line)))) {
        rctl_set_err(c, "Failed to connect to Receptor socket");
        rc = -1;
    }
    buf_free(&line);
    return rc;
}

struct pj *rctl_read_json(struct rctl *c)
{
    struct buf line;
    buf_init(&line, RCTL_LINE_MAX);
    struct pj *v = NULL;
    if (rctl_read_line(c, &line) == 0) {
        const char *text = (const char *)buf_head(&line);
        size_t n = buf_size(&line);
        if (n >= 6 && memcmp(text, "ERROR:", 6) == 0)
            rctl_set_err(c, "%s", n > 7 ? text + 7 : "");
        else
            v = pj_parse(text, n, &c->err);
    }
    buf_free(&line);
    return v;
}

struct pj *rctl_simple(struct rctl *c, const char *cmd)
{
    if (rctl_connect(c) < 0 || rctl_write_str(c, cmd) < 0 || rctl_write(c, "\n", 1) < 0)
        return NULL;
    return rctl_read_json(c);
}

int rctl_connect_to_service(struct rctl *c, const char *node, const char *service, const char *tlsclient)
{
    if (rctl_connect(c) < 0)
        return -1;
    struct buf cmd;
    buf_init(&cmd, RCTL_LINE_MAX);
    buf_printf(&cmd, "connect %s %s %s\n", node, service, tlsclient ? tlsclient : "");
    int rc = rctl_write(c, buf_head(&cmd), buf_size(&cmd));
    if (rc == 0)
        rc = rctl_read_line(c, &cmd);
    if (rc == 0 && (buf_size(&cmd) < 10 || memcmp(buf_head(&cmd), "Connecting", 10) != 0)) {
        rctl_set_err(c, "%s", (const char *)buf_head(&cmd));
        rc = -1;
    }
    buf_free(&cmd);
    return rc;
}

int rctl_shutdown_write(struct rctl *c)
{
    /* Upstream shuts down the raw socket, also under TLS (no close_notify). */
    if (shutdown(c->fd, SHUT_WR) != 0) {
        rctl_set_errno(c, errno, NULL);
        return -1;
    }
    return 0;
}
