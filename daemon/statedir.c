/*
 * statedir.c - see statedir.h.
 */
#include "daemon/statedir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/afile.h"
#include "daemon/log.h"

enum { PATH_MAX_LEN = 4096 };

static int make_one(const char *path)
{
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

glia_status statedir_mkdirs(const char *path, glia_err *err)
{
    char buf[PATH_MAX_LEN];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return glia_err_set(err, GLIA_EINVAL, "cannot create %.200s...: the path is too long", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (make_one(buf) != 0)
                return glia_err_set(err, GLIA_EIO, "cannot create %s: %s", buf, strerror(errno));
            *p = '/';
        }
    if (make_one(buf) != 0)
        return glia_err_set(err, GLIA_EIO, "cannot create %s: %s", buf, strerror(errno));
    return GLIA_OK;
}

void statedir_remove(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    char sub[PATH_MAX_LEN + 300];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            statedir_remove(sub);
        }
    closedir(d);
    rmdir(path);
}

static void log_removal(const char *path, long long bytes, int error, void *user)
{
    if (error == 0)
        log_warn("removed %s (%lld bytes): a write that gliad was stopped in the middle of", path, bytes);
    else
        log_warn("cannot remove %s, a write that gliad was stopped in the middle of: %s", path,
                 strerror(error));
}

int statedir_sweep(const char *dir, int depth)
{
    return glia_afile_sweep(dir, depth, log_removal, NULL);
}

const char *statedir_timestamp(char buf[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}
