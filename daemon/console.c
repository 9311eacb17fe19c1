/* console.c - see console.h. */
#include "daemon/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int console_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 127 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

const char *console_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        size_t e = strlen(types[i].ext);
        if (n > e && strcmp(name + n - e, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

/* FNV-1a, 64 bits: enough to tell two versions of a file apart (not a security hash;
 * an ETag only has to change when the bytes do). */
static uint64_t fnv1a64(const char *data, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

glia_status console_read(const char *dir, const char *name, console_file *out, glia_err *err)
{
    char path[4096 + 160];
    struct stat st;
    glia_status rc = GLIA_OK;
    memset(out, 0, sizeof *out);
    if (!console_name_ok(name))
        return glia_err_set(err, GLIA_EINVAL,
                            "a console file name is one path segment of letters, digits, '.', '_' and '-', "
                            "not starting with '.'");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    /* O_NOFOLLOW: a symlink planted in the directory does not lead out of it;
     * O_NONBLOCK: a FIFO there does not hang an HTTP thread */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
            return glia_err_set(err, GLIA_ENOTFOUND, "the console has no file '%s'", name);
        return glia_err_set(err, GLIA_EIO, "console file '%s': %s", name, strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = glia_err_set(err, GLIA_ENOTFOUND, "the console has no file '%s'", name);
        goto out;
    }
    if (st.st_size > CONSOLE_FILE_MAX) {
        rc = glia_err_set(err, GLIA_EIO, "console file '%s' is larger than %d bytes", name, CONSOLE_FILE_MAX);
        goto out;
    }
    out->len = (size_t)st.st_size;
    if (!(out->data = malloc(out->len + 1))) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading console file '%s'", name);
        goto out;
    }
    size_t got = 0;
    while (got < out->len) {
        ssize_t k = read(fd, out->data + got, out->len - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) { /* an error, or the file shrank while read: no half file is served */
            rc = glia_err_set(err, GLIA_EIO, "console file '%s': %s", name,
                              k < 0 ? strerror(errno) : "changed while read");
            goto out;
        }
        got += (size_t)k;
    }
    out->data[out->len] = '\0';
    out->type = console_type(name);
    snprintf(out->etag, sizeof out->etag, "\"%016llx-%zx\"", (unsigned long long)fnv1a64(out->data, out->len),
             out->len);
out:
    close(fd);
    if (rc != GLIA_OK)
        console_file_free(out);
    return rc;
}

void console_file_free(console_file *f)
{
    if (!f)
        return;
    free(f->data);
    f->data = NULL;
    f->len = 0;
}

int console_etag_matches(const char *if_none_match, const char *etag)
{
    const char *p = if_none_match;
    size_t n = strlen(etag);
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
            return 1;
        p = strchr(p, ',');
    }
    return 0;
}
