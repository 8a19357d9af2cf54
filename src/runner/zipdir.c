/* zipdir.c - see zipdir.h.  libzip does the zip format; this file decides
 * what goes in and what may come out. */
#include "runner/zipdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "runner/rio.h"

#define SYMLINK_MAX 4096

/* ---- writing ---------------------------------------------------------- */

static time_t dos_min_time(void)
{
    struct tm tm = { 0 };
    tm.tm_year = 80;
    tm.tm_mday = 1;
    tm.tm_isdst = -1;
    return mktime(&tm);
}

static time_t clamp_mtime(time_t t)
{
    time_t lo = dos_min_time();
    struct tm tm = { 0 };
    tm.tm_year = 2107 - 1900;
    tm.tm_mon = 11;
    tm.tm_mday = 31;
    tm.tm_hour = 23;
    tm.tm_min = 59;
    tm.tm_sec = 58;
    tm.tm_isdst = -1;
    time_t hi = mktime(&tm);
    if (t < lo)
        return lo;
    if (hi != (time_t)-1 && t > hi)
        return hi;
    return t;
}

struct names {
    char **v;
    size_t n, cap;
};

static int names_add(struct names *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

static void names_free(struct names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

struct zw {
    zip_t *za;
    char *err;
    size_t errlen;
    const struct zipdir_extra *x; /* files added as if they were in the tree */
    size_t nx;
    size_t nx_added;
    time_t now;
};

static int zw_fail(struct zw *w, const char *what, const char *path)
{
    snprintf(w->err, w->errlen, "%s %s: %s", what, path,
             w->za ? zip_strerror(w->za) : strerror(errno));
    return -1;
}

static int zw_attrs(struct zw *w, zip_int64_t idx, uint32_t attr, time_t mtime, int store)
{
    if (zip_file_set_external_attributes(w->za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX, attr) < 0 ||
        zip_file_set_mtime(w->za, (zip_uint64_t)idx, clamp_mtime(mtime), 0) < 0 ||
        zip_set_file_compression(w->za, (zip_uint64_t)idx, store ? ZIP_CM_STORE : ZIP_CM_DEFLATE,
                                 0) < 0)
        return -1;
    return 0;
}

static int zw_add_symlink(struct zw *w, const char *full, const char *name)
{
    char *target = malloc(SYMLINK_MAX);
    if (!target)
        return -1;
    ssize_t n = readlink(full, target, SYMLINK_MAX);
    if (n < 0) {
        free(target);
        return zw_fail(w, "readlink", full);
    }
    zip_source_t *src = zip_source_buffer(w->za, target, (zip_uint64_t)n, 1);
    if (!src) {
        free(target);
        return zw_fail(w, "zip source", full);
    }
    zip_int64_t idx = zip_file_add(w->za, name, src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
        zip_source_free(src);
        return zw_fail(w, "zip add", full);
    }
    return zw_attrs(w, idx, 0xA1FF0000u, dos_min_time(), 1);
}

static int zw_add_file(struct zw *w, const char *full, const char *name, const struct stat *st)
{
    zip_source_t *src = zip_source_file(w->za, full, 0, 0);
    if (!src)
        return zw_fail(w, "zip source", full);
    zip_int64_t idx = zip_file_add(w->za, name, src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
        zip_source_free(src);
        return zw_fail(w, "zip add", full);
    }
    return zw_attrs(w, idx, (uint32_t)(st->st_mode & 0xffff) << 16, st->st_mtime, 0);
}

static int zw_add_dir(struct zw *w, const char *name, const struct stat *st)
{
    zip_int64_t idx = zip_dir_add(w->za, name, ZIP_FL_ENC_UTF_8);
    if (idx < 0)
        return zw_fail(w, "zip add dir", name);
    return zw_attrs(w, idx, ((uint32_t)(st->st_mode & 0xffff) << 16) | 0x10, st->st_mtime, 1);
}

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la == 0)
        return strdup(b);
    char *p = malloc(la + lb + 2);
    if (!p)
        return NULL;
    memcpy(p, a, la);
    size_t o = la;
    if (a[la - 1] != '/')
        p[o++] = '/';
    memcpy(p + o, b, lb + 1);
    return p;
}

/* Lists dir into files and subdirectories as os.walk does (a symlink to a
 * directory counts as a directory but is never descended into). */
static int zw_list(const char *dir, struct names *files, struct names *dirs)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) && rc == 0) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *full = path_join(dir, de->d_name);
        struct stat st;
        int isdir = full && stat(full, &st) == 0 && S_ISDIR(st.st_mode);
        rc = full ? names_add(isdir ? dirs : files, de->d_name) : -1;
        free(full);
    }
    closedir(d);
    return rc;
}

static int zw_entry(struct zw *w, const char *dir, const char *rel, const char *fname)
{
    char *full = path_join(dir, fname);
    char *name = path_join(rel, fname);
    struct stat lst, st;
    int rc = 0;
    if (!full || !name || lstat(full, &lst) < 0) {
        rc = full && name ? 0 : -1; /* vanished: skip */
    } else if (S_ISLNK(lst.st_mode)) {
        char *dotname = rel[0] ? NULL : path_join("./", fname);
        rc = zw_add_symlink(w, full, dotname ? dotname : name);
        free(dotname);
    } else if (stat(full, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            rc = zw_add_dir(w, name, &st);
        else if (S_ISREG(st.st_mode))
            rc = zw_add_file(w, full, name, &st);
        /* FIFOs, sockets and devices are skipped */
    }
    free(full);
    free(name);
    return rc;
}

/* The directory part of an extra's name ("" at the top). */
static size_t zw_extra_parent(const struct zipdir_extra *x, const char **leaf)
{
    const char *slash = strrchr(x->name, '/');
    *leaf = slash ? slash + 1 : x->name;
    return slash ? (size_t)(slash - x->name) : 0;
}

static bool zw_extra_in(const struct zipdir_extra *x, const char *rel)
{
    const char *leaf;
    size_t pl = zw_extra_parent(x, &leaf);
    return strlen(rel) == pl && strncmp(x->name, rel, pl) == 0;
}

/* True when an extra replaces the tree's rel/fname. */
static bool zw_replaced(const struct zw *w, const char *rel, const char *fname)
{
    for (size_t i = 0; i < w->nx; i++) {
        const char *leaf;
        zw_extra_parent(&w->x[i], &leaf);
        if (zw_extra_in(&w->x[i], rel) && !strcmp(leaf, fname))
            return true;
    }
    return false;
}

static int zw_add_extra(struct zw *w, const struct zipdir_extra *x)
{
    zip_source_t *src = zip_source_buffer(w->za, x->data, x->len, 0);
    if (!src)
        return zw_fail(w, "zip source", x->name);
    zip_int64_t idx = zip_file_add(w->za, x->name, src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
        zip_source_free(src);
        return zw_fail(w, "zip add", x->name);
    }
    w->nx_added++;
    return zw_attrs(w, idx, (uint32_t)(S_IFREG | (x->mode & 0777)) << 16, w->now, 0);
}

static int zw_add_extras_in(struct zw *w, const char *rel)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < w->nx; i++)
        if (zw_extra_in(&w->x[i], rel))
            rc = zw_add_extra(w, &w->x[i]);
    return rc;
}

/* Top-level directories that only extras live in (env/ or project/ that
 * the source lacks): a 0700 entry, as makedirs(path, 0o700) would make. */
static int zw_add_virtual_dirs(struct zw *w, const struct names *dirs, bool files)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < w->nx; i++) {
        const char *leaf;
        size_t pl = zw_extra_parent(&w->x[i], &leaf);
        bool seen = pl == 0 || memchr(w->x[i].name, '/', pl);
        for (size_t k = 0; !seen && k < dirs->n; k++)
            seen = strlen(dirs->v[k]) == pl && !strncmp(dirs->v[k], w->x[i].name, pl);
        for (size_t k = 0; !seen && k < i; k++) /* an earlier extra made it */
            seen = zw_extra_parent(&w->x[k], &leaf) == pl && !strncmp(w->x[k].name, w->x[i].name, pl);
        if (seen)
            continue;
        char *dname = strndup(w->x[i].name, pl);
        if (!dname)
            return -1;
        if (files) {
            rc = zw_add_extras_in(w, dname);
        } else {
            zip_int64_t idx = zip_dir_add(w->za, dname, ZIP_FL_ENC_UTF_8);
            rc = idx < 0 ? zw_fail(w, "zip add dir", dname)
                         : zw_attrs(w, idx, ((uint32_t)(S_IFDIR | 0700) << 16) | 0x10, w->now, 1);
        }
        free(dname);
    }
    return rc;
}

static int zw_walk(struct zw *w, const char *dir, const char *rel)
{
    struct names files = { 0 }, dirs = { 0 };
    int rc = zw_list(dir, &files, &dirs);
    for (size_t i = 0; rc == 0 && i < files.n; i++)
        if (!zw_replaced(w, rel, files.v[i]))
            rc = zw_entry(w, dir, rel, files.v[i]);
    if (rc == 0)
        rc = zw_add_extras_in(w, rel);
    for (size_t i = 0; rc == 0 && i < dirs.n; i++)
        rc = zw_entry(w, dir, rel, dirs.v[i]);
    if (rc == 0 && !rel[0])
        rc = zw_add_virtual_dirs(w, &dirs, false);
    for (size_t i = 0; rc == 0 && i < dirs.n; i++) {
        char *sub = path_join(dir, dirs.v[i]);
        char *subrel = path_join(rel, dirs.v[i]);
        struct stat lst;
        if (!sub || !subrel)
            rc = -1;
        else if (lstat(sub, &lst) == 0 && S_ISDIR(lst.st_mode))
            rc = zw_walk(w, sub, subrel);
        free(sub);
        free(subrel);
    }
    if (rc == 0 && !rel[0])
        rc = zw_add_virtual_dirs(w, &dirs, true);
    names_free(&files);
    names_free(&dirs);
    return rc;
}

int zipdir_create(const char *dir, const char *zippath, char *err, size_t errlen)
{
    return zipdir_create_extra(dir, NULL, 0, zippath, err, errlen);
}

int zipdir_create_extra(const char *dir, const struct zipdir_extra *x, size_t nx,
                        const char *zippath, char *err, size_t errlen)
{
    int zerr = 0;
    struct zw w = { NULL, err, errlen, x, nx, 0, time(NULL) };
    w.za = zip_open(zippath, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!w.za) {
        snprintf(err, errlen, "cannot create zip %s (libzip error %d)", zippath, zerr);
        return -1;
    }
    int rc = dir ? zw_walk(&w, dir, "") : 0;
    if (rc == 0 && w.nx_added != nx) {
        /* its directory is a link or a non-directory in the tree */
        snprintf(err, errlen, "cannot add the generated files (%s...) to the zip: their "
                 "directory in %s is not a plain directory", x[0].name, dir);
        rc = -1;
    }
    if (rc < 0) {
        zip_discard(w.za);
        return -1;
    }
    if (zip_get_num_entries(w.za, 0) == 0) {
        /* libzip writes nothing for an empty archive; Python writes an
         * end-of-central-directory record, so do the same */
        zip_discard(w.za);
        static const unsigned char empty[22] = { 'P', 'K', 5, 6 };
        int fd = open(zippath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || rio_write_all(fd, empty, sizeof empty) < 0) {
            if (fd >= 0)
                close(fd);
            snprintf(err, errlen, "cannot write %s: %s", zippath, strerror(errno));
            return -1;
        }
        close(fd);
        return 0;
    }
    if (zip_close(w.za) < 0) {
        snprintf(err, errlen, "writing zip: %s", zip_strerror(w.za));
        zip_discard(w.za);
        return -1;
    }
    return 0;
}

char *zipdir_mkdtemp(const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    size_t n = strlen(tmp) + strlen(prefix) + 16;
    char *p = malloc(n);
    if (!p)
        return NULL;
    snprintf(p, n, "%s/%sXXXXXXXX", tmp, prefix);
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}

int zipdir_stream(const char *dir, int outfd, char *err, size_t errlen)
{
    return zipdir_stream_extra(dir, NULL, 0, outfd, NULL, err, errlen);
}

int zipdir_stream_extra(const char *dir, const struct zipdir_extra *x, size_t nx, int outfd,
                        struct progress *meter, char *err, size_t errlen)
{
    char *tmpdir = zipdir_mkdtemp("runner_c_zip_");
    if (!tmpdir) {
        snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    char *zippath = path_join(tmpdir, "stream.zip");
    int rc = zippath ? zipdir_create_extra(dir, x, nx, zippath, err, errlen) : -1;
    int fd = rc == 0 ? open(zippath, O_RDONLY) : -1;
    if (rc == 0 && fd < 0) {
        snprintf(err, errlen, "open %s: %s", zippath, strerror(errno));
        rc = -1;
    }
    if (rc == 0) {
        /* the name is gone as soon as it is open: nothing to clean on a crash */
        unlink(zippath);
        struct stat st;
        char head[64];
        fstat(fd, &st);
        int n = snprintf(head, sizeof head, "{\"zipfile\": %lld}\n", (long long)st.st_size);
        if (meter) /* the head, the base64 and the eof line that follows */
            progress_expect(meter, (uint64_t)n + ((uint64_t)st.st_size + 2) / 3 * 4 + 14);
        if (rio_write_all(outfd, head, (size_t)n) < 0 || rio_write_b64_file(outfd, fd, meter) < 0) {
            snprintf(err, errlen, "write: %s", strerror(errno));
            rc = -1;
        }
        if (meter && rc == 0)
            progress_add(meter, (uint64_t)n);
    }
    if (fd >= 0)
        close(fd);
    if (zippath)
        unlink(zippath);
    rmdir(tmpdir);
    free(zippath);
    free(tmpdir);
    return rc;
}

/* ---- reading ---------------------------------------------------------- */

uint64_t zipdir_max_bytes(void)
{
    const char *e = getenv("RUNNER_C_MAX_UNZIP_BYTES");
    if (e && *e) {
        char *end;
        unsigned long long v = strtoull(e, &end, 10);
        if (!*end && v > 0)
            return v;
    }
    return ZIPDIR_DEFAULT_MAX_BYTES;
}

/* Normalises an entry name: drops empty and "." components, refuses
 * absolute names and "..".  Returns a malloc'ed relative path ("" for the
 * root) or NULL with err set. */
static char *zr_clean_name(const char *name, char *err, size_t errlen)
{
    if (name[0] == '/' || name[0] == '\\') {
        snprintf(err, errlen, "unsafe zip entry %s: absolute path", name);
        return NULL;
    }
    size_t n = strlen(name);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = name;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            snprintf(err, errlen, "unsafe zip entry %s: '..' component", name);
            free(out);
            return NULL;
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    out[o] = 0;
    return out;
}

/* True when a symlink at rel (relative to the root) with this target stays
 * inside the root. */
static int zr_link_inside(const char *rel, const char *target)
{
    if (target[0] == '/')
        return 0;
    int depth = 0;
    for (const char *p = rel; *p; p++) /* depth of the link's parent dir */
        if (*p == '/')
            depth++;
    const char *p = target;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return 0;
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            depth++;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    return 1;
}

/* ---- physical link resolution -------------------------------------------- */

#define ZR_MAX_HOPS 40 /* symlinks followed per resolution, as the kernel's limit */

/* Appends component c (len bytes) to the relative path in cur. */
static int zr_path_push(char **cur, size_t *len, const char *c, size_t cl)
{
    char *p = realloc(*cur, *len + cl + 2);
    if (!p)
        return -1;
    if (*len)
        p[(*len)++] = '/';
    memcpy(p + *len, c, cl);
    *len += cl;
    p[*len] = 0;
    *cur = p;
    return 0;
}

static void zr_path_pop(char *cur, size_t *len)
{
    char *slash = strrchr(cur, '/');
    *len = slash ? (size_t)(slash - cur) : 0;
    cur[*len] = 0;
}

/* rest = target + "/" + rest (the expansion of a symlink met on the way). */
static int zr_rest_expand(char **rest, const char *at, const char *target)
{
    size_t tl = strlen(target), rl = strlen(at);
    char *n = malloc(tl + rl + 2);
    if (!n)
        return -1;
    memcpy(n, target, tl);
    n[tl] = '/';
    memcpy(n + tl + 1, at, rl + 1);
    free(*rest);
    *rest = n;
    return 0;
}

/* Reads the symlink at path (relative to rootfd) into buf; 0 or -1. */
static int zr_readlinkat(int rootfd, const char *path, char *buf)
{
    ssize_t n = readlinkat(rootfd, path, buf, SYMLINK_MAX - 1);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return 0;
}

/* Resolves the symlink at rel (relative to rootfd) whose text is target the
 * way the kernel would, against what is on disk now: every symlink met on
 * the way is expanded, ".." climbs physically.  A component that does not
 * exist (yet) is taken for a plain directory, the lexical worst case.
 * Returns 1 when the result stays beneath rootfd, 0 when it leaves it
 * (absolute target, ".." above the root), 2 when more than ZR_MAX_HOPS
 * links would have to be followed (a loop: refused too, as nothing can be
 * said about it), -1 when out of memory. */
static int zr_link_resolves_inside(int rootfd, const char *rel, const char *target)
{
    size_t len = strlen(rel);
    char *cur = strdup(rel), *rest = strdup(target);
    char *link = malloc(SYMLINK_MAX);
    int rc = cur && rest && link ? 1 : -1;
    if (rc == 1)
        zr_path_pop(cur, &len); /* a link is relative to its directory */
    const char *p = rest;
    int hops = 0;
    if (rc == 1 && p[0] == '/')
        rc = 0;
    while (rc == 1 && *p) {
        const char *e = strchr(p, '/');
        size_t cl = e ? (size_t)(e - p) : strlen(p);
        const char *next = p + cl + (e ? 1 : 0);
        if (cl == 0 || (cl == 1 && p[0] == '.')) {
            p = next;
            continue;
        }
        if (cl == 2 && p[0] == '.' && p[1] == '.') {
            if (len == 0)
                rc = 0;
            else
                zr_path_pop(cur, &len);
            p = next;
            continue;
        }
        size_t keep = len;
        if (zr_path_push(&cur, &len, p, cl) < 0) {
            rc = -1;
            break;
        }
        struct stat st;
        if (fstatat(rootfd, cur, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode)) {
            p = next; /* a directory, a file or nothing: descend lexically */
            continue;
        }
        if (++hops > ZR_MAX_HOPS) {
            rc = 2;
            break;
        }
        if (zr_readlinkat(rootfd, cur, link) < 0 || link[0] == '/') {
            rc = 0;
            break;
        }
        cur[len = keep] = 0;
        size_t at = (size_t)(next - rest);
        if (zr_rest_expand(&rest, rest + at, link) < 0) {
            rc = -1;
            break;
        }
        p = rest;
    }
    free(cur);
    free(rest);
    free(link);
    return rc;
}

/* ---- extraction ------------------------------------------------------------ */

/* Opens (creating it when missing) the directory holding rel's last
 * component, one component at a time from rootfd with O_NOFOLLOW: a
 * symlink or a file on the way is refused, so nothing is ever created
 * through a link.  Returns a directory fd (rootfd itself duplicated for a
 * top-level entry) or -1 with err set. */
static int zr_open_parent(int rootfd, const char *rel, char *err, size_t errlen)
{
    int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    const char *p = rel;
    char comp[NAME_MAX + 1];
    for (const char *e; fd >= 0 && (e = strchr(p, '/')); p = e + 1) {
        size_t cl = (size_t)(e - p);
        if (cl > NAME_MAX) {
            snprintf(err, errlen, "unsafe zip entry %s: name too long", rel);
            close(fd);
            return -1;
        }
        memcpy(comp, p, cl);
        comp[cl] = 0;
        int sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0 && errno == ENOENT) {
            if (mkdirat(fd, comp, 0777) < 0 && errno != EEXIST) {
                snprintf(err, errlen, "mkdir %.*s: %s", (int)(e - rel), rel, strerror(errno));
                close(fd);
                return -1;
            }
            sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (sub < 0) {
            if (errno == ELOOP || errno == ENOTDIR)
                snprintf(err, errlen, "unsafe zip entry %s: parent %.*s is not a plain directory",
                         rel, (int)(e - rel), rel);
            else
                snprintf(err, errlen, "open %.*s: %s", (int)(e - rel), rel, strerror(errno));
        }
        close(fd);
        fd = sub;
    }
    if (fd < 0 && !err[0])
        snprintf(err, errlen, "open directory: %s", strerror(errno));
    return fd;
}

struct zr {
    zip_t *za;
    int rootfd;
    uint64_t written, max;
    struct names links; /* every symlink created, checked again at the end */
    char *err;
    size_t errlen;
};

static int zr_copy_data(struct zr *r, zip_uint64_t i, int fd, const char *name)
{
    zip_file_t *zf = zip_fopen_index(r->za, i, 0);
    if (!zf) {
        snprintf(r->err, r->errlen, "zip entry %s: %s", name, zip_strerror(r->za));
        return -1;
    }
    char *chunk = malloc(65536);
    int rc = chunk ? 0 : -1;
    while (rc == 0) {
        zip_int64_t n = zip_fread(zf, chunk, 65536);
        if (n < 0) {
            snprintf(r->err, r->errlen, "zip entry %s: %s", name, zip_file_strerror(zf));
            rc = -1;
        } else if (n == 0) {
            break;
        } else if ((r->written += (uint64_t)n) > r->max) {
            snprintf(r->err, r->errlen,
                     "zip bomb refused: the archive expands to more than %llu bytes "
                     "(limit set by RUNNER_C_MAX_UNZIP_BYTES)", (unsigned long long)r->max);
            rc = -1;
        } else if (rio_write_all(fd, chunk, (size_t)n) < 0) {
            snprintf(r->err, r->errlen, "write %s: %s", name, strerror(errno));
            rc = -1;
        }
    }
    free(chunk);
    zip_fclose(zf);
    return rc;
}

static int zr_read_link(struct zr *r, zip_uint64_t i, const char *name, char *target)
{
    zip_file_t *zf = zip_fopen_index(r->za, i, 0);
    zip_int64_t n = zf ? zip_fread(zf, target, SYMLINK_MAX - 1) : -1;
    if (zf)
        zip_fclose(zf);
    if (n < 0) {
        snprintf(r->err, r->errlen, "zip entry %s: unreadable symlink", name);
        return -1;
    }
    target[n] = 0;
    if (memchr(target, 0, (size_t)n)) {
        snprintf(r->err, r->errlen, "zip entry %s: symlink target contains NUL", name);
        return -1;
    }
    return 0;
}

/* Archive modes keep only the permission bits: setuid, setgid and sticky
 * from a hostile archive are dropped. */
static mode_t zr_perms(mode_t m) { return m & 0777; }

static void zr_finish_fd(int fd, time_t t, mode_t perms)
{
    struct timespec ts[2] = { { t, 0 }, { t, 0 } };
    futimens(fd, ts);
    fchmod(fd, zr_perms(perms));
}

static void zr_link_error(struct zr *r, const char *name, const char *target, int in,
                          const char *when)
{
    if (in < 0)
        snprintf(r->err, r->errlen, "zip entry %s: out of memory", name);
    else if (in == 2)
        snprintf(r->err, r->errlen, "unsafe zip entry %s: symlink to %s loops%s", name, target,
                 when);
    else
        snprintf(r->err, r->errlen, "unsafe zip entry %s: symlink to %s leaves the directory%s",
                 name, target, when);
}

/* The lexical check first (cheap, and the message upstream users know),
 * then the physical one against what is on disk. */
static int zr_check_link(struct zr *r, const char *rel, const char *target, const char *name)
{
    int in = zr_link_inside(rel, target) ? zr_link_resolves_inside(r->rootfd, rel, target) : 0;
    if (in != 1)
        zr_link_error(r, name, target, in, "");
    return in == 1 ? 0 : -1;
}

static int zr_make_link(struct zr *r, int pfd, const char *leaf, const char *rel, const char *target)
{
    if (symlinkat(target, pfd, leaf) < 0) {
        snprintf(r->err, r->errlen, "symlink %s: %s", rel, strerror(errno));
        return -1;
    }
    if (names_add(&r->links, rel) < 0) {
        snprintf(r->err, r->errlen, "zip entry %s: out of memory", rel);
        return -1;
    }
    return 0; /* the link itself keeps "now", as upstream */
}

static int zr_make_dir(struct zr *r, int pfd, const char *leaf, const char *rel, const zip_stat_t *zs,
                       mode_t perms)
{
    if (mkdirat(pfd, leaf, 0777) < 0 && errno != EEXIST) {
        snprintf(r->err, r->errlen, "mkdir %s: %s", rel, strerror(errno));
        return -1;
    }
    int fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(r->err, r->errlen, "unsafe zip entry %s: not a plain directory", rel);
        return -1;
    }
    zr_finish_fd(fd, zs->mtime, perms);
    close(fd);
    return 0;
}

static int zr_make_file(struct zr *r, zip_uint64_t i, int pfd, const char *leaf, const char *rel,
                        const zip_stat_t *zs, mode_t perms)
{
    int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        snprintf(r->err, r->errlen, "open %s: %s", rel, strerror(errno));
        return -1;
    }
    int rc = zr_copy_data(r, i, fd, zs->name);
    if (rc == 0)
        zr_finish_fd(fd, zs->mtime, perms);
    if (close(fd) < 0 && rc == 0) {
        snprintf(r->err, r->errlen, "write %s: %s", rel, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* Clears the way for the entry at leaf: an old symlink (or, for a link
 * entry, an old file) is removed, an old FIFO too (and then the entry is
 * skipped, as upstream).  Returns 1 to go on, 0 to skip, -1 on error. */
static int zr_clear_old(struct zr *r, int pfd, const char *leaf, const char *rel, int is_link)
{
    struct stat st;
    if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 1;
    if (is_link || S_ISLNK(st.st_mode) || S_ISFIFO(st.st_mode)) {
        if (!S_ISDIR(st.st_mode) && unlinkat(pfd, leaf, 0) < 0) {
            snprintf(r->err, r->errlen, "unlink %s: %s", rel, strerror(errno));
            return -1;
        }
        return S_ISFIFO(st.st_mode) && !is_link ? 0 : 1;
    }
    return S_ISDIR(st.st_mode) ? 0 : 1; /* existing directories keep their mode and mtime */
}

static int zr_entry(struct zr *r, zip_uint64_t i)
{
    zip_stat_t zs;
    zip_uint8_t opsys;
    zip_uint32_t attr = 0;
    if (zip_stat_index(r->za, i, 0, &zs) < 0 || !(zs.valid & ZIP_STAT_NAME)) {
        snprintf(r->err, r->errlen, "zip entry %llu: %s", (unsigned long long)i,
                 zip_strerror(r->za));
        return -1;
    }
    zip_file_get_external_attributes(r->za, i, 0, &opsys, &attr);
    mode_t perms = (mode_t)(attr >> 16);
    int is_link = S_ISLNK(perms);
    size_t nl = strlen(zs.name);
    int is_dir = nl > 0 && zs.name[nl - 1] == '/';
    char *rel = zr_clean_name(zs.name, r->err, r->errlen);
    if (!rel)
        return -1;
    if (!rel[0]) { /* the root itself */
        free(rel);
        return 0;
    }
    const char *leaf = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    char *target = is_link ? malloc(SYMLINK_MAX) : NULL;
    int rc = is_link && !target ? -1 : 0;
    if (rc == 0 && strlen(leaf) > NAME_MAX) {
        snprintf(r->err, r->errlen, "unsafe zip entry %s: name too long", zs.name);
        rc = -1;
    }
    int pfd = rc == 0 ? zr_open_parent(r->rootfd, rel, r->err, r->errlen) : -1;
    if (pfd < 0)
        rc = -1;
    if (rc == 0 && is_link)
        rc = zr_read_link(r, i, zs.name, target) == 0 ? zr_check_link(r, rel, target, zs.name) : -1;
    int go = rc == 0 ? zr_clear_old(r, pfd, leaf, rel, is_link) : -1;
    if (go < 0)
        rc = -1;
    if (go == 1 && is_link)
        rc = zr_make_link(r, pfd, leaf, rel, target);
    else if (go == 1 && is_dir)
        rc = zr_make_dir(r, pfd, leaf, rel, &zs, perms);
    else if (go == 1)
        rc = zr_make_file(r, i, pfd, leaf, rel, &zs, perms);
    if (pfd >= 0)
        close(pfd);
    free(target);
    free(rel);
    return rc;
}

/* Every link was checked when it was made, but a later entry may replace a
 * link an earlier one goes through: check them all again in the final
 * state and remove any that now leads outside (reported unless an earlier
 * error already was). */
static int zr_recheck_links(struct zr *r, int report)
{
    char *target = malloc(SYMLINK_MAX);
    int rc = target ? 0 : -1;
    for (size_t k = 0; target && k < r->links.n; k++) {
        const char *rel = r->links.v[k];
        struct stat st;
        if (fstatat(r->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode) ||
            zr_readlinkat(r->rootfd, rel, target) < 0)
            continue; /* replaced by a later entry (which made its own checks) */
        int in = zr_link_resolves_inside(r->rootfd, rel, target);
        if (in == 1)
            continue;
        unlinkat(r->rootfd, rel, 0);
        if (rc == 0 && report)
            zr_link_error(r, rel, target, in, " once the later entries are in place");
        rc = -1;
    }
    free(target);
    return rc;
}

static int zr_check_sizes(zip_t *za, zip_int64_t n, uint64_t max, char *err, size_t errlen)
{
    uint64_t declared = 0;
    if (n > ZIPDIR_MAX_ENTRIES) {
        snprintf(err, errlen, "zip bomb refused: %lld entries (limit %d)", (long long)n,
                 ZIPDIR_MAX_ENTRIES);
        return -1;
    }
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t zs;
        if (zip_stat_index(za, (zip_uint64_t)i, 0, &zs) == 0 && (zs.valid & ZIP_STAT_SIZE))
            declared += zs.size;
        if (declared > max) {
            snprintf(err, errlen,
                     "zip bomb refused: the archive declares more than %llu uncompressed bytes "
                     "(limit set by RUNNER_C_MAX_UNZIP_BYTES)", (unsigned long long)max);
            return -1;
        }
    }
    return 0;
}

int zipdir_extract(const char *zippath, const char *dest, char *err, size_t errlen)
{
    int zerr = 0;
    err[0] = 0;
    zip_t *za = zip_open(zippath, ZIP_RDONLY, &zerr);
    if (!za) {
        snprintf(err, errlen, "zipfile.BadZipFile: File is not a zip file");
        return -1;
    }
    int rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        snprintf(err, errlen, "open %s: %s", dest, strerror(errno));
        zip_discard(za);
        return -1;
    }
    struct zr r = { za, rootfd, 0, zipdir_max_bytes(), { 0 }, err, errlen };
    zip_int64_t n = zip_get_num_entries(za, 0);
    int rc = zr_check_sizes(za, n, r.max, err, errlen);
    for (zip_int64_t i = 0; rc == 0 && i < n; i++)
        rc = zr_entry(&r, (zip_uint64_t)i);
    if (zr_recheck_links(&r, rc == 0) < 0)
        rc = -1;
    names_free(&r.links);
    close(rootfd);
    zip_discard(za);
    return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void zipdir_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}
