/* process.c - the process role (spec 5): consumes a worker stream.
 *
 * Dispatch per line: "status" first, then "zipfile", then "eof", then a
 * keep-alive (ignored), then an event.  Events are canonicalised to PyJSON
 * and written as job_events/<counter>-<uuid>.json; their stdout is printed
 * unless quiet.  The artifact blob is decoded into a temporary file and
 * unpacked with the safe extractor.  A parse error or EOF before eof ends
 * the run with the 2.3.1 error status and exit code 0. */
#include "runner/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/pyjson.h"
#include "runner/rio.h"
#include "runner/zipdir.h"

struct proc {
    const struct process_opts *o;
    char *artifact_dir;
    char *events_dir;
    struct buf canon, tmp;
};

static void mkdirs(const char *path, mode_t leaf)
{
    char *p = strdup(path);
    for (char *q = p + 1; (q = strchr(q, '/')); q++) {
        *q = 0;
        mkdir(p, 0777);
        *q = '/';
    }
    mkdir(p, leaf);
    free(p);
}

static char *abs_of(const char *p)
{
    char cwd[PATH_MAX];
    char *out = NULL;
    if (p[0] == '/' || !getcwd(cwd, sizeof cwd))
        return strdup(p);
    if (asprintf(&out, "%s/%s", cwd, p) < 0)
        return NULL;
    return out;
}

static int proc_event(struct proc *pr, const char *line, size_t n)
{
    struct pyjson_member counter, uuid, stdout_m;
    int hc = pyjson_find(line, n, "counter", &counter);
    int hu = pyjson_find(line, n, "uuid", &uuid);
    if (!pr->o->quiet && pyjson_find(line, n, "stdout", &stdout_m) == 1) {
        buf_reset(&pr->tmp);
        if (stdout_m.type == PYJSON_STRING)
            pyjson_unquote(stdout_m.val, stdout_m.val_len, &pr->tmp);
        else
            pyjson_canon(stdout_m.val, stdout_m.val_len, false, &pr->tmp);
        buf_append(&pr->tmp, "\n", 1);
        rio_write_all(pr->o->outfd, buf_head(&pr->tmp), buf_size(&pr->tmp));
    }
    /* events without a truthy counter and uuid are skipped (upstream) */
    if (hc != 1 || hu != 1 || !pyjson_truthy(counter.val, counter.val_len, counter.type) ||
        !pyjson_truthy(uuid.val, uuid.val_len, uuid.type))
        return 0;
    struct buf name;
    buf_init(&name, 1 << 20);
    if (counter.type == PYJSON_STRING)
        pyjson_unquote(counter.val, counter.val_len, &name);
    else
        pyjson_canon(counter.val, counter.val_len, false, &name);
    buf_append(&name, "-", 1);
    if (uuid.type == PYJSON_STRING)
        pyjson_unquote(uuid.val, uuid.val_len, &name);
    else
        pyjson_canon(uuid.val, uuid.val_len, false, &name);
    buf_append_str(&name, ".json");
    const char *fname;
    int rc = 0;
    if (buf_cstr(&name, &fname) == 0 && !strchr(fname, '/') && strlen(fname) < NAME_MAX) {
        buf_reset(&pr->canon);
        pyjson_canon(line, n, true, &pr->canon);
        char *path = NULL;
        if (asprintf(&path, "%s/%s", pr->events_dir, fname) >= 0) {
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd >= 0) {
                fchmod(fd, 0600);
                rc = rio_write_all(fd, buf_head(&pr->canon), buf_size(&pr->canon));
                close(fd);
            }
        }
        free(path);
    }
    buf_free(&name);
    return rc;
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
        mkdirs(pr->artifact_dir, 0700);
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

int process_run(const struct process_opts *o)
{
    struct proc pr = { o, NULL, NULL, { 0 }, { 0 } };
    char *pdd = o->pdd ? abs_of(o->pdd) : zipdir_mkdtemp("tmp");
    if (!pdd)
        return 1;
    mkdirs(pdd, 0700);
    char *dl = NULL;
    if (asprintf(&dl, "%s/daemon.log", pdd) >= 0) {
        int fd = open(dl, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    free(dl);
    if (o->artifact_dir && *o->artifact_dir)
        pr.artifact_dir = abs_of(o->artifact_dir);
    else if (o->ident && *o->ident) {
        if (asprintf(&pr.artifact_dir, "%s/artifacts/%s", pdd, o->ident) < 0)
            pr.artifact_dir = NULL;
    } else if (asprintf(&pr.artifact_dir, "%s/artifacts", pdd) < 0)
        pr.artifact_dir = NULL;
    if (!pr.artifact_dir || asprintf(&pr.events_dir, "%s/job_events", pr.artifact_dir) < 0) {
        free(pdd);
        return 1;
    }
    mkdirs(pr.events_dir, 0700);
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
        if (t == PYJSON_INVALID)
            break; /* status "error": reported only to handlers, as 2.3.1 */
        if (t != PYJSON_OBJECT)
            continue;
        struct pyjson_member m;
        if (pyjson_find(s, n, "status", &m) == 1)
            continue; /* the final status arrives in the artifacts too */
        if (pyjson_find(s, n, "zipfile", &m) == 1) {
            if (proc_artifacts(&pr, &r, &m) < 0) {
                exit_code = 1;
                break;
            }
            continue;
        }
        if (pyjson_find(s, n, "eof", &m) == 1)
            break;
        if (pyjson_find(s, n, "event", &m) == 1 && m.val_len == 11 &&
            memcmp(m.val, "\"keepalive\"", 11) == 0)
            continue;
        proc_event(&pr, s, n);
    }
    rio_free(&r);
    buf_free(&line);
    buf_free(&pr.canon);
    buf_free(&pr.tmp);
    free(pr.artifact_dir);
    free(pr.events_dir);
    free(pdd);
    return exit_code;
}
