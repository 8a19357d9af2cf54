/* process.c - the process role (spec 5): consumes a worker stream.
 *
 * Dispatch per line: "status" first, then "zipfile", then "eof", then a
 * keep-alive (ignored), then an event.  Events are canonicalised to PyJSON
 * and written as job_events/<counter>-<uuid>.json; their stdout is printed
 * unless quiet.  The artifact blob is decoded into a temporary file and
 * unpacked with the safe extractor.  A parse error or EOF before eof ends
 * the run with the 2.3.1 error status and exit code 0.
 *
 * The artifact directory below the private data dir and job_events/ are
 * opened one O_NOFOLLOW component at a time and kept open as fds; event
 * files are written beside them and renamed into place, so a symlink an
 * archive planted is replaced, never followed.  A file that cannot be
 * written (full disk) ends the run: a message naming it on stderr, exit 1. */
#include "runner/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

#include "core/pyjson.h"
#include "runner/rio.h"
#include "runner/zipdir.h"

struct proc {
    const struct process_opts *o;
    char *artifact_dir;
    char *events_dir;
    int events_fd;
    struct buf canon, tmp;
};

/* The members dispatch looks at, found in one pass over the line. */
struct line_keys {
    struct pyjson_member status, zipfile, eof, event, counter, uuid, out;
    bool has_status, has_zipfile, has_eof, has_event, has_counter, has_uuid, has_out;
};

static int collect_key(const struct pyjson_member *m, void *ctx)
{
    struct line_keys *k = ctx;
    static const char *const names[] = { "status", "zipfile", "eof", "event", "counter", "uuid", "stdout" };
    struct pyjson_member *slots[] = { &k->status, &k->zipfile, &k->eof, &k->event, &k->counter, &k->uuid, &k->out };
    bool *flags[] = { &k->has_status, &k->has_zipfile, &k->has_eof, &k->has_event, &k->has_counter, &k->has_uuid, &k->has_out };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (strcmp(m->key, names[i]) == 0) {
            *slots[i] = *m;
            *flags[i] = true;
        }
    }
    return 0;
}

static void append_text(struct buf *b, const struct pyjson_member *m)
{
    if (m->type == PYJSON_STRING)
        pyjson_unquote(m->val, m->val_len, b);
    else
        pyjson_canon(m->val, m->val_len, false, b);
}

static int proc_event(struct proc *pr, const char *line, size_t n, const struct line_keys *k)
{
    if (!pr->o->quiet && k->has_out &&
        !(pr->o->skip_empty && k->out.type == PYJSON_STRING && k->out.val_len == 2)) {
        buf_reset(&pr->tmp);
        append_text(&pr->tmp, &k->out);
        buf_append(&pr->tmp, "\n", 1);
        rio_write_all(pr->o->outfd, buf_head(&pr->tmp), buf_size(&pr->tmp));
    }
    /* events without a truthy counter and uuid are skipped (upstream) */
    if (!k->has_counter || !k->has_uuid ||
        !pyjson_truthy(k->counter.val, k->counter.val_len, k->counter.type) ||
        !pyjson_truthy(k->uuid.val, k->uuid.val_len, k->uuid.type))
        return 0;
    buf_reset(&pr->tmp);
    append_text(&pr->tmp, &k->counter);
    buf_append(&pr->tmp, "-", 1);
    append_text(&pr->tmp, &k->uuid);
    buf_append_str(&pr->tmp, ".json");
    const char *name;
    if (buf_cstr(&pr->tmp, &name) < 0 || strchr(name, '/') || strlen(name) > NAME_MAX - 4)
        return 0;
    buf_reset(&pr->canon);
    pyjson_canon(line, n, true, &pr->canon);
    if (rio_write_file_at(pr->events_fd, name, buf_head(&pr->canon), buf_size(&pr->canon), 0600,
                          RIO_ATOMIC) < 0) {
        fprintf(stderr, "ansible-runner-c process: cannot write %s/%s: %s\n", pr->events_dir, name,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int proc_artifacts(struct proc *pr, struct rio *r, const struct pyjson_member *m)
{
    long long n;
    char err[1024] = "";
    if (m->type != PYJSON_INT || pyjson_int(m->val, m->val_len, &n) < 0 || n < 0)
        return -1;
    char *tmpdir = zipdir_mkdtemp("runner_c_unzip_");
    if (!tmpdir)
        return -1;
    char *zp = NULL;
    int rc = asprintf(&zp, "%s/a.zip", tmpdir) < 0 ? -1 : 0;
    int fd = rc == 0 ? open(zp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (fd < 0)
        rc = -1;
    if (rc == 0)
        rc = rio_read_blob(r, (uint64_t)n, fd, err, sizeof err);
    if (fd >= 0)
        close(fd);
    if (rc == 0) {
        rc = zipdir_extract(zp, pr->artifact_dir, err, sizeof err);
    }
    if (rc < 0 && err[0]) {
        /* upstream raises here; report it on stderr like its traceback */
        fprintf(stderr, "ansible-runner-c process: artifacts: %s\n", err);
    }
    if (zp)
        unlink(zp);
    rmdir(tmpdir);
    free(zp);
    free(tmpdir);
    return rc;
}

/* The artifact directory: --artifact-dir as given (trusted), else
 * <pdd>/artifacts[/<ident>] opened without following links, as is
 * job_events/ inside it. */
static int proc_open_dirs(struct proc *pr, const char *pdd)
{
    const struct process_opts *o = pr->o;
    const char *base = pdd;
    char *rel = NULL;
    int rc = 0;
    if (o->artifact_dir && *o->artifact_dir) {
        pr->artifact_dir = util_abspath(o->artifact_dir);
        if (pr->artifact_dir)
            util_mkdir_p(pr->artifact_dir, 0777, 0777);
        base = pr->artifact_dir;
        rel = strdup("");
    } else if (o->ident && *o->ident) {
        rc = asprintf(&rel, "artifacts/%s", o->ident);
    } else {
        rel = strdup("artifacts");
    }
    if (rc < 0 || !rel || !base || (!pr->artifact_dir && asprintf(&pr->artifact_dir, "%s/%s", pdd, rel) < 0) ||
        asprintf(&pr->events_dir, "%s/job_events", pr->artifact_dir) < 0) {
        free(rel);
        return -1;
    }
    int afd = rio_open_dir_beneath(base, rel, 0777);
    free(rel);
    pr->events_fd = afd < 0 ? -1 : rio_open_dir_at(afd, "job_events", 0700);
    if (pr->events_fd < 0) {
        fprintf(stderr, "ansible-runner-c process: cannot create %s: %s\n", pr->events_dir,
                strerror(errno));
        rc = -1;
    }
    if (afd >= 0)
        close(afd);
    return rc;
}

int process_run(const struct process_opts *o)
{
    struct proc pr = { o, NULL, NULL, -1, { 0 }, { 0 } };
    char *pdd = o->pdd ? util_abspath(o->pdd) : zipdir_mkdtemp("tmp");
    if (!pdd)
        return 1;
    util_mkdir_p(pdd, 0777, 0700);
    char *dl = NULL;
    if (asprintf(&dl, "%s/daemon.log", pdd) >= 0) {
        int fd = open(dl, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    free(dl);
    if (proc_open_dirs(&pr, pdd) < 0) {
        free(pr.artifact_dir);
        free(pr.events_dir);
        free(pdd);
        return 1;
    }
    buf_init(&pr.canon, RIO_LINE_LIMIT);
    buf_init(&pr.tmp, RIO_LINE_LIMIT);
    struct rio r;
    struct buf line;
    buf_init(&line, RIO_LINE_LIMIT);
    rio_init(&r, o->infd);
    int exit_code = 0;
    for (;;) {
        int got = rio_readline(&r, &line);
        const char *s = (const char *)buf_head(&line);
        size_t n = buf_size(&line);
        enum pyjson_type t = got > 0 ? pyjson_type_of(s, n) : PYJSON_INVALID;
        if (t == PYJSON_INVALID) {
            if (o->result)
                o->result->bad_line = true;
            break; /* status "error": reported only to handlers, as 2.3.1 */
        }
        if (t != PYJSON_OBJECT)
            continue;
        struct line_keys k;
        memset(&k, 0, sizeof k);
        pyjson_members(s, n, collect_key, &k);
        if (k.has_status) {
            /* the final status arrives in the artifacts too */
            if (o->on_status) {
                size_t m = n;
                while (m && (s[m - 1] == '\n' || s[m - 1] == '\r'))
                    m--;
                o->on_status(o->cb_ctx, s, m);
            }
            continue;
        }
        if (k.has_zipfile) {
            if (proc_artifacts(&pr, &r, &k.zipfile) < 0) {
                exit_code = 1;
                break;
            }
            continue;
        }
        if (k.has_eof) {
            if (o->result)
                o->result->saw_eof = true;
            break;
        }
        if (k.has_event && k.event.val_len == 11 && memcmp(k.event.val, "\"keepalive\"", 11) == 0)
            continue;
        if (o->result && k.has_counter && k.has_uuid)
            o->result->events++;
        if (proc_event(&pr, s, n, &k) < 0) {
            exit_code = 1;
            break;
        }
    }
    rio_free(&r);
    buf_free(&line);
    buf_free(&pr.canon);
    buf_free(&pr.tmp);
    close(pr.events_fd);
    free(pr.artifact_dir);
    free(pr.events_dir);
    free(pdd);
    return exit_code;
}
