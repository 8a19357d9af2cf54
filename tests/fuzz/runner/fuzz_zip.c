/* fuzz_zip.c - libFuzzer target for the zip extractor (zipdir_extract).
 *
 * An input starting with "PK" is extracted as it is.  Any other input is a
 * compact script turned into a stored zip first (see script_to_zip), so
 * that the fuzzer reaches the symlink logic without having to find CRCs:
 * every byte of a name or link target is one path component ("a", "b",
 * ".", "..") and duplicate names are kept, so chains like a -> ".",
 * b -> "a/.." and later entries re-pointing earlier links come up quickly.
 *
 * Layout per run: base/{in.zip, root/, outside/} with root/b -> ../outside
 * planted beforehand (a hostile link already on disk).  After extraction
 * the target aborts if anything appeared in outside/ or in base/, if a link
 * the extractor made resolves outside root/ (openat2 RESOLVE_BENEATH says
 * EXDEV), or if a setuid/setgid/sticky bit survived. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runner/zipdir.h"

static char base[256];
static char rootp[300], outsidep[300], zipp[300];
static ino_t pre_ino;

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

struct out {
    uint8_t *p;
    size_t n, cap;
};

static void put(struct out *o, const void *d, size_t n)
{
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 64;
        o->p = realloc(o->p, o->cap);
        if (!o->p)
            abort();
    }
    memcpy(o->p + o->n, d, n);
    o->n += n;
}

static void put16(struct out *o, unsigned v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    put(o, b, 2);
}

static void put32(struct out *o, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    put(o, b, 4);
}

/* Appends n components read from the script (each byte one of "a", "b",
 * ".", "..") to dst, joined with '/'. */
static size_t take(const uint8_t **d, const uint8_t *end, unsigned n, char *dst)
{
    static const char *const comp[] = { "a", "b", ".", ".." };
    size_t o = 0;
    for (unsigned i = 0; i < n && *d < end; i++) {
        const char *c = comp[*(*d)++ & 3];
        if (o)
            dst[o++] = '/';
        memcpy(dst + o, c, strlen(c));
        o += strlen(c);
    }
    dst[o] = 0;
    return o;
}

static void put_entry(struct out *z, struct out *cd, const char *name, size_t nl,
                      const char *data, size_t dl, uint32_t attr)
{
    uint32_t crc = crc32_of((const uint8_t *)data, dl);
    uint32_t off = (uint32_t)z->n;
    put32(z, 0x04034b50u);
    put16(z, 20); put16(z, 0); put16(z, 0); put16(z, 0); put16(z, 0x21);
    put32(z, crc); put32(z, (uint32_t)dl); put32(z, (uint32_t)dl);
    put16(z, (unsigned)nl); put16(z, 0);
    put(z, name, nl);
    put(z, data, dl);
    put32(cd, 0x02014b50u);
    put16(cd, (3u << 8) | 20u); put16(cd, 20); put16(cd, 0); put16(cd, 0);
    put16(cd, 0); put16(cd, 0x21);
    put32(cd, crc); put32(cd, (uint32_t)dl); put32(cd, (uint32_t)dl);
    put16(cd, (unsigned)nl); put16(cd, 0); put16(cd, 0); put16(cd, 0); put16(cd, 0);
    put32(cd, attr); put32(cd, off);
    put(cd, name, nl);
}

/* Builds a stored zip from the script.  Each entry is a header byte
 *   bits 0-1 kind (0 file, 1 directory, 2-3 symlink), bit 2 set the
 *   setuid/setgid/sticky bits, bit 3 name has 2 components (else 1),
 *   bits 4-6 target components (0-7)
 * followed by the name's and the target's component bytes.  Every input
 * is a valid script, so mutations stay on the interesting paths. */
static void script_to_zip(const uint8_t *d, size_t size, struct out *z)
{
    const uint8_t *end = d + size;
    struct out cd = { 0 };
    unsigned count = 0;
    while (d < end && count < 64) {
        unsigned h = *d++;
        unsigned kind = (h & 3) > 2 ? 2 : h & 3;
        char name[32], target[64];
        size_t nl = take(&d, end, h & 8 ? 2 : 1, name);
        size_t tl = take(&d, end, (h >> 4) & 7, target);
        if (kind == 1) {
            name[nl++] = '/';
            name[nl] = 0;
        }
        uint32_t perm = 0755u | (h & 4 ? 07000u : 0);
        uint32_t type = kind == 0 ? 0100000u : kind == 1 ? 040000u : 0120000u;
        uint32_t attr = ((type | perm) << 16) | (kind == 1 ? 0x10u : 0);
        put_entry(z, &cd, name, nl, kind == 1 ? "" : target, kind == 1 ? 0 : tl, attr);
        count++;
    }
    uint32_t cdoff = (uint32_t)z->n;
    if (cd.n)
        put(z, cd.p, cd.n);
    put32(z, 0x06054b50u);
    put16(z, 0); put16(z, 0); put16(z, count); put16(z, count);
    put32(z, (uint32_t)cd.n); put32(z, cdoff); put16(z, 0);
    free(cd.p);
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, p, n) != (ssize_t)n)
        abort();
    close(fd);
}

static int rootfd_g;

static int check_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    const char *rel = path + strlen(rootp);
    while (*rel == '/')
        rel++;
    if (!*rel)
        return 0;
    if (!S_ISLNK(st->st_mode)) {
        if (st->st_mode & 07000)
            __builtin_trap(); /* a setuid/setgid/sticky bit survived */
        return 0;
    }
    if (st->st_ino == pre_ino)
        return 0; /* the planted link, left in place */
    struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
    int fd = (int)syscall(SYS_openat2, rootfd_g, rel, &how, sizeof how);
    if (fd >= 0)
        close(fd);
    else if (errno == EXDEV)
        __builtin_trap(); /* a link the extractor made resolves outside root */
    return 0;
}

static void check_dir_has_only(const char *dir, const char *const *names, size_t n)
{
    DIR *d = opendir(dir);
    if (!d)
        abort();
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int ok = 0;
        for (size_t i = 0; i < n && !ok; i++)
            ok = !strcmp(de->d_name, names[i]);
        if (!ok)
            __builtin_trap(); /* something was written outside root */
    }
    closedir(d);
}

static void cleanup(void)
{
    zipdir_rmtree(base);
}

static void setup_once(void)
{
    if (base[0])
        return;
    const char *t = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/fuzz_zip_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(base))
        abort();
    snprintf(rootp, sizeof rootp, "%s/root", base);
    snprintf(outsidep, sizeof outsidep, "%s/outside", base);
    snprintf(zipp, sizeof zipp, "%s/in.zip", base);
    mkdir(outsidep, 0700);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    zipdir_rmtree(rootp);
    if (mkdir(rootp, 0700) < 0)
        abort();
    char pre[320];
    snprintf(pre, sizeof pre, "%s/b", rootp);
    struct stat st;
    if (symlink("../outside", pre) < 0 || lstat(pre, &st) < 0)
        abort();
    pre_ino = st.st_ino;
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        write_file(zipp, data, size);
    } else {
        struct out z = { 0 };
        script_to_zip(data, size, &z);
        write_file(zipp, z.p, z.n);
        free(z.p);
    }
    char err[1024];
    setenv("RUNNER_C_MAX_UNZIP_BYTES", "1048576", 1);
    zipdir_extract(zipp, rootp, err, sizeof err);
    rootfd_g = open(rootp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd_g < 0)
        abort();
    nftw(rootp, check_one, 16, FTW_PHYS);
    close(rootfd_g);
    check_dir_has_only(outsidep, NULL, 0);
    static const char *const in_base[] = { "root", "outside", "in.zip" };
    check_dir_has_only(base, in_base, 3);
    return 0;
}
