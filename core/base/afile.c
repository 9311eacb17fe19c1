/*
 * afile.c - see afile.h.
 */
#include "core/base/afile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void release(glia_afile *a)
{
    free(a->tmp);
    free(a->path);
    a->tmp = a->path = NULL;
    a->f = NULL;
}

void glia_afile_abort(glia_afile *a)
{
    if (a->f)
        fclose(a->f);
    if (a->tmp)
        unlink(a->tmp);
    release(a);
}

glia_status glia_afile_open(glia_afile *a, const char *path, mode_t mode, glia_err *err)
{
    size_t plen = strlen(path);
    memset(a, 0, sizeof *a);
    a->path = strdup(path);
    a->tmp = malloc(plen + sizeof ".tmp.XXXXXX");
    if (!a->path || !a->tmp) {
        release(a);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a temporary file name");
    }
    memcpy(a->tmp, path, plen);
    memcpy(a->tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        glia_status rc = glia_err_set(err, GLIA_EIO, "%s: cannot create: %s", a->tmp, strerror(errno));
        release(a);
        return rc;
    }
    (void)fchmod(fd, mode);
    if (!(a->f = fdopen(fd, "wb"))) {
        glia_status rc = glia_err_set(err, GLIA_EIO, "%s: %s", a->tmp, strerror(errno));
        close(fd);
        glia_afile_abort(a);
        return rc;
    }
    return GLIA_OK;
}

/* The rename is durable only once the directory entry is on disk; file systems that cannot
 * fsync a directory (EINVAL) get what they can. */
glia_status glia_afile_sync_parent(const char *path, glia_err *err)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return glia_err_set(err, GLIA_EIO, "%s is in place but its directory cannot be opened to sync: %s",
                            path, strerror(errno));
    int rc = fsync(fd), e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL)
        return glia_err_set(err, GLIA_EIO, "%s is in place but syncing its directory failed: %s", path,
                            strerror(e));
    return GLIA_OK;
}

glia_status glia_afile_commit(glia_afile *a, glia_err *err)
{
    glia_status rc;
    if (ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0) {
        rc = glia_err_set(err, GLIA_EIO, "%s: write failed: %s", a->tmp, strerror(errno));
        glia_afile_abort(a);
        return rc;
    }
    int closed = fclose(a->f);
    a->f = NULL;
    if (closed != 0) {
        rc = glia_err_set(err, GLIA_EIO, "%s: close failed: %s", a->tmp, strerror(errno));
        glia_afile_abort(a);
        return rc;
    }
    if (rename(a->tmp, a->path) != 0) {
        rc = glia_err_set(err, GLIA_EIO, "%s: cannot rename into place: %s", a->path, strerror(errno));
        glia_afile_abort(a);
        return rc;
    }
    rc = glia_afile_sync_parent(a->path, err);
    release(a);
    return rc;
}

glia_status glia_afile_write(const char *path, const void *data, size_t len, mode_t mode, glia_err *err)
{
    glia_afile a;
    glia_status rc = glia_afile_open(&a, path, mode, err);
    if (rc != GLIA_OK)
        return rc;
    if (len && fwrite(data, 1, len, a.f) != len) {
        rc = glia_err_set(err, GLIA_EIO, "%s: write failed: %s", a.tmp, strerror(errno));
        glia_afile_abort(&a);
        return rc;
    }
    return glia_afile_commit(&a, err);
}

glia_status glia_file_read(const char *path, size_t max_bytes, const char *what, char **data, size_t *len,
                           glia_err *err)
{
    struct stat st;
    glia_status rc = GLIA_OK;
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return glia_err_set(err, errno == ENOENT ? GLIA_ENOTFOUND : GLIA_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    if (fstat(fileno(f), &st) != 0) {
        rc = glia_err_set(err, GLIA_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = glia_err_set(err, GLIA_EIO, "%s: not a regular file", path);
        goto done;
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        rc = glia_err_set(err, GLIA_EFORMAT, "%s: %lld bytes is larger than %s may be (%zu)", path,
                          (long long)st.st_size, what, max_bytes);
        goto done;
    }
    *len = (size_t)st.st_size;
    *data = malloc(*len + 1);
    if (!*data) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
        goto done;
    }
    if (fread(*data, 1, *len, f) != *len || fgetc(f) != EOF) {
        rc = glia_err_set(err, GLIA_EIO, "%s: read failed or the file changed while being read", path);
        free(*data);
        *data = NULL;
        goto done;
    }
    (*data)[*len] = '\0';
done:
    fclose(f);
    return rc;
}

int glia_afile_is_temp(const char *name)
{
    static const char mark[] = ".tmp.";
    const size_t len = strlen(name), suffix = sizeof mark - 1 + 6;
    if (len <= suffix || memcmp(name + len - suffix, mark, sizeof mark - 1) != 0)
        return 0;
    for (size_t i = len - 6; i < len; i++)
        if (!isalnum((unsigned char)name[i]))
            return 0;
    return 1;
}

int glia_afile_sweep(const char *dir, int depth,
                     void (*seen)(const char *path, long long bytes, int error, void *user), void *user)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    struct stat st;
    char path[4400];
    int removed = 0;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth > 0)
                removed += glia_afile_sweep(path, depth - 1, seen, user);
        } else if (S_ISREG(st.st_mode) && glia_afile_is_temp(e->d_name)) {
            const int error = unlink(path) == 0 ? 0 : errno;
            removed += error == 0;
            if (seen)
                seen(path, (long long)st.st_size, error, user);
        }
    }
    closedir(d);
    return removed;
}
