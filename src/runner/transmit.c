/* transmit.c - the transmit role (spec 3): kwargs line, zip blob, eof.
 *
 * The kwargs are prepared like the Python API does before streaming
 * (env/ files for env-like kwargs, paths under the private data dir made
 * relative, handler and local-only keys dropped), serialised as PyJSON,
 * then the directory is zipped to a temporary file and streamed as base64
 * (zipdir_stream), so memory stays flat for any project size.
 *
 * 2.3.1 writes the env/ files (and a role's generated playbook) into the
 * source directory before zipping it, and leaves them there.  We never
 * modify the source: those files are kept in a transmit_files list and
 * added to the zip as if they were in the tree. */
#include "runner/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/pyjson.h"
#include "runner/rio.h"
#include "runner/zipdir.h"

/* dump_artifact()'s text: json.dumps() for the mappings, str() for
 * ssh_key and cmdline. */
static int env_file_text(const char *key, const json_t *v, struct buf *b)
{
    bool as_str = !strcmp(key, "ssh_key") || !strcmp(key, "cmdline");
    if (as_str && json_is_string(v))
        return buf_append_str(b, json_string_value(v));
    return pyjson_dump(v, true, b);
}

/* run: the env file goes into the private data dir, mode 0400, as 2.3.1's
 * dump_artifact leaves it. */
static int write_env_file(const char *pdd, const char *name, const struct buf *b)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/env", pdd);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
    int rc = fd < 0 ? -1 : rio_write_all(fd, buf_head(b), buf_size(b));
    if (fd >= 0) {
        fchmod(fd, 0400);
        close(fd);
    }
    return rc;
}

static bool truthy(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    return true;
}

static void relativise(json_t *obj, const char *key, const char *base)
{
    const char *v = json_string_value(json_object_get(obj, key));
    size_t bl = strlen(base);
    if (v && v[0] == '/' && strncmp(v, base, bl) == 0) {
        const char *rel = v + bl;
        while (*rel == '/')
            rel++;
        json_object_set_new(obj, key, json_string(*rel ? rel : "."));
    }
}

int transmit_files_add(struct transmit_files *f, const char *name, const char *data, size_t len,
                       unsigned mode)
{
    if (f->n >= TRANSMIT_MAX_FILES)
        return -1;
    char *n = strdup(name), *d = malloc(len + 1);
    if (!n || !d) {
        free(n);
        free(d);
        return -1;
    }
    memcpy(d, data, len);
    d[len] = 0;
    f->v[f->n++] = (struct zipdir_extra){ n, d, len, mode };
    return 0;
}

void transmit_files_free(struct transmit_files *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free((char *)f->v[i].name);
        free((char *)f->v[i].data);
    }
    f->n = 0;
}

/* dump_artifacts(): a non-empty env-like kwarg whose env/ file does not
 * exist becomes that file and leaves the kwargs.  files == NULL writes it
 * into pdd (run); otherwise it only goes into files, for the zip. */
static int dump_env_kwargs(const char *pdd, json_t *kw, struct transmit_files *files)
{
    if (truthy(json_object_get(kw, "suppress_env_files")))
        return 0;
    static const char *const keys[] = { "envvars", "extravars", "passwords", "settings",
                                        "ssh_key", "cmdline" };
    int rc = 0;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(kw, keys[i]);
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/env/%s", pdd, keys[i]);
        if (!truthy(v) || lstat(path, &st) == 0)
            continue;
        struct buf b;
        buf_init(&b, 256u << 20);
        int r = env_file_text(keys[i], v, &b);
        if (r == 0 && files) {
            snprintf(path, sizeof path, "env/%s", keys[i]);
            r = transmit_files_add(files, path, (const char *)buf_head(&b), buf_size(&b), 0400);
        } else if (r == 0) {
            r = write_env_file(pdd, keys[i], &b);
        }
        buf_free(&b);
        if (r == 0)
            json_object_del(kw, keys[i]);
        rc |= r;
    }
    return rc;
}

int run_dump_artifacts(const char *pdd, json_t *kw, char *err, size_t errlen)
{
    if (dump_env_kwargs(pdd, kw, NULL) < 0) {
        snprintf(err, errlen, "cannot write %s/env: %s", pdd, strerror(errno));
        return -1;
    }
    return 0;
}

int transmit_prepare_kwargs(const char *pdd, json_t *kw, struct transmit_files *files, char *err,
                            size_t errlen)
{
    if (dump_env_kwargs(pdd, kw, files) < 0) {
        snprintf(err, errlen, "too many generated files for the zip");
        return -1;
    }
    char project[4200];
    snprintf(project, sizeof project, "%s/project", pdd);
    relativise(kw, "playbook", project);
    relativise(kw, "inventory", pdd);
    json_t *ev = json_object_get(kw, "envvars");
    if (json_is_object(ev))
        relativise(ev, "ANSIBLE_ROLES_PATH", pdd);
    static const char *const drop[] = { "event_handler", "status_handler", "artifacts_handler",
                                        "cancel_callback", "finished_callback", "streamer",
                                        "private_data_dir", "only_transmit_kwargs", "_output",
                                        "keepalive_seconds", "debug", "logfile",
                                        "ignore_logging" };
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
        json_object_del(kw, drop[i]);
    return 0;
}

int transmit_run(const struct transmit_opts *o, int outfd, char *err, size_t errlen)
{
    struct buf b;
    buf_init(&b, 1024u << 20);
    int rc = buf_append_str(&b, "{\"kwargs\": ");
    rc |= pyjson_dump(o->kwargs, true, &b);
    rc |= buf_append_str(&b, "}\n");
    if (rc || rio_write_all(outfd, buf_head(&b), buf_size(&b)) < 0) {
        snprintf(err, errlen, "write: %s", strerror(errno));
        buf_free(&b);
        return -1;
    }
    if (o->meter)
        progress_add(o->meter, buf_size(&b));
    buf_free(&b);
    if (!o->only_kwargs &&
        zipdir_stream_extra(o->pdd, o->files ? o->files->v : NULL, o->files ? o->files->n : 0,
                            outfd, o->meter, err, errlen) < 0)
        return -1;
    static const char eof[] = "{\"eof\": true}\n";
    if (rio_write_all(outfd, eof, sizeof eof - 1) < 0) {
        snprintf(err, errlen, "write: %s", strerror(errno));
        return -1;
    }
    if (o->meter)
        progress_add(o->meter, sizeof eof - 1);
    return 0;
}
