/* receptorctl_graph.c - `receptorctl status --graph[=FORMAT]`: the mesh as a picture.
 *
 * Upstream has no such option; it is an addition that changes nothing else
 * (plain `status` and `status --json` print what they always printed).
 *
 * The picture is drawn from one `status` reply, the mesh as the node behind
 * the socket sees it:
 *   nodes  every node named in KnownConnectionCosts (keys and the peers
 *          under them) or in Advertisements, plus this node.  A node's box
 *          lists its work types (WorkCommands; signed ones marked) and its
 *          services (the Service of its adverts).  This node is filled and
 *          bold; a node this node has no route to is dashed.
 *   edges  one undirected edge per connected pair, labelled with its cost;
 *          when the two ends report different costs (or only one end does)
 *          the label says which direction costs what.  Each edge is written
 *          from the end nearer this node (in hops), so dot ranks the mesh
 *          outwards from this node: a chain reads top to bottom.
 * Output is Graphviz DOT, sorted by name so the same mesh gives the same
 * bytes.  Any other format (svg, png, pdf) pipes the DOT through Graphviz's
 * `dot -T<format>`, found on PATH; its output goes straight to stdout.
 *
 * Names come from the network: they are quoted for DOT (quote and backslash
 * escaped, control characters and invalid UTF-8 replaced), so no name can
 * end a string, inject attributes or make `dot` reject the file. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/receptorctl_common.h"

#define GRAPH_OUT_MAX ((size_t)1 << 30)

static const char *const graph_formats[] = { "dot", "svg", "png", "pdf" };

bool graph_format_valid(const char *format)
{
    for (size_t i = 0; i < sizeof graph_formats / sizeof *graph_formats; i++)
        if (strcmp(format, graph_formats[i]) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------- quoting */

/* Length of the valid UTF-8 sequence at p (1..4), 0 when it is not one. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t len = p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 && p[0] < 0xE0 ? 2 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if (len == 3 && p[0] == 0xE0 && p[1] < 0xA0)
        return 0; /* overlong */
    if (len == 3 && p[0] == 0xED && p[1] >= 0xA0)
        return 0; /* a surrogate */
    if (len == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90)))
        return 0;
    return len;
}

/* Text for inside a DOT double-quoted string. */
static void dot_escape(struct buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t len = utf8_seq_len(p + i, n - i);
        if (len == 0) {
            buf_append_str(out, "\xEF\xBF\xBD"); /* U+FFFD */
            i++;
        } else if (len == 1 && (p[i] < 0x20 || p[i] == 0x7F)) {
            buf_append_str(out, "?");
            i++;
        } else {
            if (p[i] == '"' || p[i] == '\\')
                buf_append_str(out, "\\");
            buf_append(out, p + i, len);
            i += len;
        }
    }
}

static void dot_quoted(struct buf *out, const char *s, size_t n)
{
    buf_append_str(out, "\"");
    dot_escape(out, s, n);
    buf_append_str(out, "\"");
}

/* ---------------------------------------------------------------- model */

struct gnode {
    const char *name;
    size_t len;
    bool self;
    bool routed;
    size_t hops;         /* from this node; SIZE_MAX when not connected */
    struct buf work;     /* "echo", "sleep (signed)" (see LIST_SEP) */
    struct buf services; /* "control", "web" */
};

struct gedge {
    size_t a, b;           /* node indexes, a < b */
    const struct pj *ab;   /* cost a reports towards b, or NULL */
    const struct pj *ba;
};

struct graph {
    struct gnode *nodes;
    size_t nnodes, capnodes;
    struct gedge *edges;
    size_t nedges, capedges;
};

static bool grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int gnode_cmp(const void *x, const void *y)
{
    const struct gnode *a = x, *b = y;
    return name_cmp(a->name, a->len, b->name, b->len);
}

static bool graph_add_name(struct graph *g, const char *name, size_t len)
{
    if (!grow((void **)&g->nodes, &g->capnodes, g->nnodes + 1, sizeof *g->nodes))
        return false;
    g->nodes[g->nnodes++] = (struct gnode){ .name = name, .len = len };
    return true;
}

static bool graph_add_str(struct graph *g, const struct pj *v)
{
    return !v || v->type != PJ_STR || graph_add_name(g, v->text, v->len);
}

/* Sorts the names and drops duplicates, then gives each node its buffers. */
static void graph_unique_nodes(struct graph *g)
{
    if (g->nnodes)
        qsort(g->nodes, g->nnodes, sizeof *g->nodes, gnode_cmp);
    size_t out = 0;
    for (size_t i = 0; i < g->nnodes; i++)
        if (out == 0 || gnode_cmp(&g->nodes[out - 1], &g->nodes[i]) != 0)
            g->nodes[out++] = g->nodes[i];
    g->nnodes = out;
    for (size_t i = 0; i < g->nnodes; i++) {
        buf_init(&g->nodes[i].work, GRAPH_OUT_MAX);
        buf_init(&g->nodes[i].services, GRAPH_OUT_MAX);
    }
}

static struct gnode *graph_find(struct graph *g, const struct pj *v)
{
    if (!v || v->type != PJ_STR || g->nnodes == 0)
        return NULL;
    struct gnode key = { .name = v->text, .len = v->len };
    return bsearch(&key, g->nodes, g->nnodes, sizeof *g->nodes, gnode_cmp);
}

static bool graph_collect_names(struct graph *g, const struct pj *st)
{
    bool ok = graph_add_str(g, pj_get(st, "NodeID"));
    const struct pj *costs = pj_get(st, "KnownConnectionCosts");
    if (costs && costs->type == PJ_OBJECT)
        for (size_t i = 0; ok && i < costs->count; i++) {
            ok = graph_add_name(g, costs->keys[i], costs->key_lens[i]);
            const struct pj *peers = costs->items[i];
            if (peers->type == PJ_OBJECT)
                for (size_t k = 0; ok && k < peers->count; k++)
                    ok = graph_add_name(g, peers->keys[k], peers->key_lens[k]);
        }
    const struct pj *ads = pj_get(st, "Advertisements");
    if (ads && ads->type == PJ_ARRAY)
        for (size_t i = 0; ok && i < ads->count; i++)
            ok = graph_add_str(g, pj_get(ads->items[i], "NodeID"));
    return ok;
}

/* A node's work types and services are lists of items separated by LIST_SEP
 * (a control character, which dot_escape never lets through from a name, so
 * an item holding ", " is still one item). */
#define LIST_SEP '\x01'

/* Appends item to the list unless it is there. */
static void list_add(struct buf *list, const char *item, size_t n)
{
    if (memchr(item, LIST_SEP, n))
        return; /* cannot come from a JSON string that means anything */
    const char *p = (const char *)buf_head(list);
    size_t len = buf_size(list), start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] != LIST_SEP)
            continue;
        if (i - start == n && memcmp(p + start, item, n) == 0)
            return;
        start = i + 1;
    }
    if (len)
        buf_append(list, (char[]){ LIST_SEP }, 1);
    buf_append(list, item, n);
}

/* The list as "a, b, c" for a label. */
static void dot_list(struct buf *out, const struct buf *list)
{
    const char *p = (const char *)buf_head(list);
    size_t len = buf_size(list), start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] != LIST_SEP)
            continue;
        if (start)
            buf_append_str(out, ", ");
        dot_escape(out, p + start, i - start);
        start = i + 1;
    }
}

static void graph_add_work(struct gnode *n, const struct pj *cmds)
{
    if (!cmds || cmds->type != PJ_ARRAY)
        return;
    for (size_t k = 0; k < cmds->count; k++) {
        const struct pj *wt = pj_get(cmds->items[k], "WorkType");
        if (!wt || wt->type != PJ_STR)
            continue;
        struct buf item;
        buf_init(&item, GRAPH_OUT_MAX);
        buf_append(&item, wt->text, wt->len);
        if (pj_truthy(pj_get(cmds->items[k], "Secure")))
            buf_append_str(&item, " (signed)");
        list_add(&n->work, (const char *)buf_head(&item), buf_size(&item));
        buf_free(&item);
    }
}

static void graph_collect_adverts(struct graph *g, const struct pj *st)
{
    const struct pj *ads = pj_get(st, "Advertisements");
    if (!ads || ads->type != PJ_ARRAY)
        return;
    for (size_t i = 0; i < ads->count; i++) {
        struct gnode *n = graph_find(g, pj_get(ads->items[i], "NodeID"));
        if (!n)
            continue;
        const struct pj *svc = pj_get(ads->items[i], "Service");
        if (svc && svc->type == PJ_STR)
            list_add(&n->services, svc->text, svc->len);
        graph_add_work(n, pj_get(ads->items[i], "WorkCommands"));
    }
}

static void graph_mark_self_and_routes(struct graph *g, const struct pj *st)
{
    struct gnode *self = graph_find(g, pj_get(st, "NodeID"));
    if (self)
        self->self = true;
    const struct pj *routes = pj_get(st, "RoutingTable");
    if (!routes || routes->type != PJ_OBJECT)
        return;
    for (size_t i = 0; i < routes->count; i++) {
        struct pj key = { .type = PJ_STR, .text = routes->keys[i], .len = routes->key_lens[i] };
        struct gnode *n = graph_find(g, &key);
        if (n)
            n->routed = true;
    }
}

static int gedge_cmp(const void *x, const void *y)
{
    const struct gedge *a = x, *b = y;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return (a->b > b->b) - (a->b < b->b);
}

static bool graph_collect_edges(struct graph *g, const struct pj *st)
{
    const struct pj *costs = pj_get(st, "KnownConnectionCosts");
    if (!costs || costs->type != PJ_OBJECT)
        return true;
    for (size_t i = 0; i < costs->count; i++) {
        const struct pj *peers = costs->items[i];
        struct pj from = { .type = PJ_STR, .text = costs->keys[i], .len = costs->key_lens[i] };
        size_t fi = (size_t)(graph_find(g, &from) - g->nodes);
        for (size_t k = 0; peers->type == PJ_OBJECT && k < peers->count; k++) {
            struct pj to = { .type = PJ_STR, .text = peers->keys[k], .len = peers->key_lens[k] };
            size_t ti = (size_t)(graph_find(g, &to) - g->nodes);
            if (fi == ti)
                continue;
            if (!grow((void **)&g->edges, &g->capedges, g->nedges + 1, sizeof *g->edges))
                return false;
            struct gedge e = { .a = fi < ti ? fi : ti, .b = fi < ti ? ti : fi };
            if (fi < ti)
                e.ab = peers->items[k];
            else
                e.ba = peers->items[k];
            g->edges[g->nedges++] = e;
        }
    }
    if (g->nedges)
        qsort(g->edges, g->nedges, sizeof *g->edges, gedge_cmp);
    size_t out = 0; /* merge the two ends' reports of one link */
    for (size_t i = 0; i < g->nedges; i++) {
        struct gedge *prev = out ? &g->edges[out - 1] : NULL;
        if (prev && gedge_cmp(prev, &g->edges[i]) == 0) {
            prev->ab = prev->ab ? prev->ab : g->edges[i].ab;
            prev->ba = prev->ba ? prev->ba : g->edges[i].ba;
        } else {
            g->edges[out++] = g->edges[i];
        }
    }
    g->nedges = out;
    return true;
}

/* Hops from this node over the known links (repeated relaxation: as many
 * passes as the mesh is deep). */
static void graph_measure_hops(struct graph *g)
{
    for (size_t i = 0; i < g->nnodes; i++)
        g->nodes[i].hops = g->nodes[i].self ? 0 : SIZE_MAX;
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < g->nedges; i++) {
            struct gnode *a = &g->nodes[g->edges[i].a], *b = &g->nodes[g->edges[i].b];
            if (a->hops != SIZE_MAX && a->hops + 1 < b->hops) {
                b->hops = a->hops + 1;
                changed = true;
            }
            if (b->hops != SIZE_MAX && b->hops + 1 < a->hops) {
                a->hops = b->hops + 1;
                changed = true;
            }
        }
    }
}

static void graph_free(struct graph *g)
{
    for (size_t i = 0; i < g->nnodes; i++) {
        buf_free(&g->nodes[i].work);
        buf_free(&g->nodes[i].services);
    }
    free(g->nodes);
    free(g->edges);
}

/* ---------------------------------------------------------------- DOT */

static void dot_write_node(struct buf *out, const struct gnode *n)
{
    buf_append_str(out, "  ");
    dot_quoted(out, n->name, n->len);
    buf_append_str(out, " [label=\"");
    dot_escape(out, n->name, n->len);
    if (n->self)
        buf_append_str(out, "\\n(this node)");
    else if (!n->routed)
        buf_append_str(out, "\\n(no route)");
    if (buf_size(&n->work)) {
        buf_append_str(out, "\\nwork: ");
        dot_list(out, &n->work);
    }
    if (buf_size(&n->services)) {
        buf_append_str(out, "\\nservices: ");
        dot_list(out, &n->services);
    }
    buf_append_str(out, "\"");
    if (n->self)
        buf_append_str(out, ", style=\"rounded,filled,bold\", fillcolor=\"#dbe9f6\", penwidth=2");
    else if (!n->routed)
        buf_append_str(out, ", style=\"rounded,dashed\"");
    buf_append_str(out, "];\n");
}

static void dot_cost(struct buf *out, const struct pj *cost)
{
    struct buf t;
    buf_init(&t, GRAPH_OUT_MAX);
    pj_str(cost, &t);
    dot_escape(out, (const char *)buf_head(&t), buf_size(&t));
    buf_free(&t);
}

static void dot_direction(struct buf *out, const struct gnode *from, const struct gnode *to,
                          const struct pj *cost)
{
    dot_escape(out, from->name, from->len);
    buf_append_str(out, " \xE2\x86\x92 "); /* → */
    dot_escape(out, to->name, to->len);
    buf_append_str(out, ": ");
    dot_cost(out, cost);
}

static void dot_write_edge(struct buf *out, const struct graph *g, const struct gedge *e)
{
    const struct gnode *a = &g->nodes[e->a], *b = &g->nodes[e->b];
    bool flip = b->hops < a->hops;
    const struct gnode *tail = flip ? b : a, *head = flip ? a : b;
    buf_append_str(out, "  ");
    dot_quoted(out, tail->name, tail->len);
    buf_append_str(out, " -- ");
    dot_quoted(out, head->name, head->len);
    buf_append_str(out, " [label=\"");
    struct buf ab, ba;
    buf_init(&ab, GRAPH_OUT_MAX);
    buf_init(&ba, GRAPH_OUT_MAX);
    if (e->ab)
        pj_str(e->ab, &ab);
    if (e->ba)
        pj_str(e->ba, &ba);
    bool same = e->ab && e->ba && buf_size(&ab) == buf_size(&ba) &&
                memcmp(buf_head(&ab), buf_head(&ba), buf_size(&ab)) == 0;
    if (same) {
        dot_cost(out, e->ab);
    } else {
        if (e->ab)
            dot_direction(out, a, b, e->ab);
        if (e->ab && e->ba)
            buf_append_str(out, "\\n");
        if (e->ba)
            dot_direction(out, b, a, e->ba);
    }
    buf_append_str(out, "\"");
    if (!same)
        buf_append_str(out, ", style=dashed");
    buf_append_str(out, "];\n");
    buf_free(&ab);
    buf_free(&ba);
}

static void dot_write(struct buf *out, const struct graph *g, const struct pj *st)
{
    const struct pj *self = pj_get(st, "NodeID");
    buf_append_str(out, "graph \"receptor mesh\" {\n  graph [label=\"Receptor mesh seen from ");
    if (self && self->type == PJ_STR)
        dot_escape(out, self->text, self->len);
    buf_append_str(out, "\", labelloc=t, fontname=\"Helvetica\"];\n"
                        "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
                        "  edge [fontname=\"Helvetica\"];\n");
    for (size_t i = 0; i < g->nnodes; i++)
        dot_write_node(out, &g->nodes[i]);
    for (size_t i = 0; i < g->nedges; i++)
        dot_write_edge(out, g, &g->edges[i]);
    buf_append_str(out, "}\n");
}

/* ---------------------------------------------------------------- render */

/* Pipes the DOT text through `dot -T<format>`; its output goes to our stdout. */
static int graph_render(const struct buf *dot, const char *format, struct buf *err)
{
    int fds[2];
    if (pipe(fds) < 0) {
        buf_printf(err, "cannot make a pipe for dot: %s", strerror(errno));
        return -1;
    }
    char arg[32];
    snprintf(arg, sizeof arg, "-T%s", format);
    char *argv[] = { "dot", arg, NULL };
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    posix_spawnattr_init(&attr);
    sigset_t deflt; /* receptorctl ignores SIGPIPE; dot gets the default back */
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    extern char **environ;
    pid_t pid;
    int rc = posix_spawnp(&pid, "dot", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(fds[0]);
    if (rc != 0) {
        close(fds[1]);
        if (rc == ENOENT)
            buf_printf(err, "--graph=%s needs Graphviz's dot program, which is not installed "
                            "(Debian: apt-get install graphviz); --graph alone writes DOT without it",
                       format);
        else
            buf_printf(err, "cannot run dot: %s", strerror(rc));
        return -1;
    }
    const char *p = (const char *)buf_head(dot);
    size_t n = buf_size(dot);
    int werr = 0;
    while (n > 0) {
        ssize_t w = write(fds[1], p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            werr = errno;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    close(fds[1]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        buf_printf(err, "dot -T%s failed (%s %d)", format, WIFEXITED(status) ? "exit status" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    if (werr) {
        buf_printf(err, "cannot write to dot: %s", strerror(werr));
        return -1;
    }
    return 0;
}

int graph_write_status(const struct pj *st, const char *format, struct buf *err)
{
    struct graph g = { 0 };
    if (!graph_collect_names(&g, st)) {
        graph_free(&g);
        buf_append_str(err, "out of memory");
        return -1;
    }
    graph_unique_nodes(&g);
    graph_collect_adverts(&g, st);
    graph_mark_self_and_routes(&g, st);
    struct buf out;
    buf_init(&out, GRAPH_OUT_MAX);
    int rc = 0;
    if (!graph_collect_edges(&g, st)) {
        buf_append_str(err, "out of memory");
        rc = -1;
    } else {
        graph_measure_hops(&g);
        dot_write(&out, &g, st);
        if (strcmp(format, "dot") == 0)
            out_buf(&out);
        else
            rc = graph_render(&out, format, err);
    }
    buf_free(&out);
    graph_free(&g);
    return rc;
}
