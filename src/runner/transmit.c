/* transmit.c - the transmit role (spec 3): kwargs line, zip blob, eof.
 *
 * The kwargs are prepared like the Python API does before streaming
 * (env/ files written for env-like kwargs, paths under the private data dir
 * made relative, handler and local-only keys dropped), serialised as
 * PyJSON, then the directory is zipped to a temporary file and streamed as
 * base64 (zipdir_stream), so memory stays flat for any project size. */
#include "runner/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/pyjson.h"
#include "runner/rio.h"
#include "runner/zipdir.h"

static int write_env_file(const char *pdd, const char *name, const json_t *v)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/env", pdd);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct buf b;
    buf_init(&b, 256u << 20);
    if (json_is_string(v))
        buf_append_str(&b, json_string_value(v));
    else if (json_is_integer(v))
        buf_printf(&b, "%lld", (long long)json_integer_value(v));
    else
        pyjson_dump(v, true, &b);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -1 : rio_write_all(fd, buf_head(&b), buf_size(&b));
    if (fd >= 0) {
        fchmod(fd, 0600);
        close(fd);
    }
    buf_free(&b);
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

int transmit_prepare_kwargs(const char *pdd, json_t *kw, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (!truthy(json_object_get(kw, "suppress_env_files"))) {
        static const char *const keys[] = { "envvars", "extravars", "passwords", "settings",
                                            "ssh_key", "cmdline" };
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            json_t *v = json_object_get(kw, keys[i]);
            char path[4200];
            struct stat st;
            snprintf(path, sizeof path, "%s/env/%s", pdd, keys[i]);
            if (truthy(v) && stat(path, &st) < 0 && write_env_file(pdd, keys[i], v) == 0)
                json_object_del(kw, keys[i]);
        }
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
    buf_free(&b);
    if (!o->only_kwargs && zipdir_stream(o->pdd, outfd, err, errlen) < 0)
        return -1;
    static const char eof[] = "{\"eof\": true}\n";
    if (rio_write_all(outfd, eof, sizeof eof - 1) < 0) {
        snprintf(err, errlen, "write: %s", strerror(errno));
        return -1;
    }
    return 0;
}
