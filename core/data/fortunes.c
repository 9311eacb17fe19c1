/*
 * fortunes.c - see fortunes.h.
 */
#include "core/data/fortunes.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *glia_fortunes_default_dir(void)
{
    const char *env = getenv("GLIA_FORTUNES");
    return env && *env ? env : GLIA_DATA_CACHE "/fortunes";
}

/* Whether line [p, end) is the entry separator: '%' alone (a trailing '\r' allowed). */
static int is_separator(const char *p, const char *end)
{
    return end - p >= 1 && p[0] == '%' && (end - p == 1 || (end - p == 2 && p[1] == '\r'));
}

/* Cleans one entry [p, p + len) into out: lines joined by one space, overstrikes applied,
 * control bytes as spaces, runs of white space squeezed. Returns the cleaned length. */
static size_t clean_entry(const char *p, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\b') { /* overstrike: the byte before is struck over by the next one */
            if (n > 0 && out[n - 1] != ' ')
                n--;
            continue;
        }
        if (c < 0x20 || c == 0x7f)
            c = ' ';
        if (c == ' ' && (n == 0 || out[n - 1] == ' '))
            continue;
        out[n++] = (char)c;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return n;
}

size_t glia_fortunes_split(const char *data, size_t len, char *scratch,
                           void (*fn)(void *user, const char *text, size_t len), void *user)
{
    size_t count = 0, start = 0, pos = 0;
    while (pos <= len) {
        const char *nl = pos < len ? memchr(data + pos, '\n', len - pos) : NULL;
        const size_t eol = nl ? (size_t)(nl - data) : len;
        const int sep = is_separator(data + pos, data + eol);
        if (sep || eol == len) {
            const size_t stop = sep ? pos : len;
            size_t n = clean_entry(data + start, stop - start, scratch);
            if (n > 0) {
                fn(user, scratch, n);
                count++;
            }
            start = eol + 1;
        }
        pos = eol + 1;
    }
    return count;
}

typedef struct {
    char *buf;
    size_t len, cap;
    size_t *offsets;
    size_t n, ncap;
    int oom;
} collect;

static void collect_one(void *user, const char *text, size_t len)
{
    collect *c = user;
    if (c->oom)
        return;
    if (c->len + len + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 1 << 20;
        while (c->len + len + 1 > cap)
            cap *= 2;
        char *b = realloc(c->buf, cap);
        if (!b) {
            c->oom = 1;
            return;
        }
        c->buf = b, c->cap = cap;
    }
    if (c->n == c->ncap) {
        size_t ncap = c->ncap ? 2 * c->ncap : 4096;
        size_t *o = realloc(c->offsets, ncap * sizeof *o);
        if (!o) {
            c->oom = 1;
            return;
        }
        c->offsets = o, c->ncap = ncap;
    }
    c->offsets[c->n++] = c->len;
    memcpy(c->buf + c->len, text, len + 1);
    c->len += len + 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The fortune files of dir, sorted: names[0..*n) (each and the array the caller's). */
static glia_status list_files(const char *dir, char ***names, size_t *n, glia_err *err)
{
    DIR *d = opendir(dir);
    *names = NULL;
    *n = 0;
    if (!d)
        return glia_err_set(err, errno == ENOENT ? GLIA_ENOTFOUND : GLIA_EIO,
                            "fortunes: cannot open %s: %s (scripts/setup fetches the files: "
                            "scripts/fetch-fortunes)",
                            dir, strerror(errno));
    glia_status rc = GLIA_OK;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "MANIFEST") == 0)
            continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **g = realloc(*names, cap * sizeof *g);
            if (!g) {
                rc = glia_err_set(err, GLIA_ENOMEM, "fortunes: out of memory listing %s", dir);
                break;
            }
            *names = g;
        }
        if (!((*names)[*n] = strdup(e->d_name))) {
            rc = glia_err_set(err, GLIA_ENOMEM, "fortunes: out of memory listing %s", dir);
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (rc == GLIA_OK && *n > 0)
        qsort(*names, *n, sizeof **names, by_name);
    return rc;
}

glia_status glia_fortunes_load(const char *dir, glia_fortunes *out, glia_err *err)
{
    memset(out, 0, sizeof *out);
    if (!dir)
        dir = glia_fortunes_default_dir();
    char **names = NULL, *data = NULL, *scratch = NULL;
    size_t nnames = 0;
    collect c = {0};
    glia_status rc = list_files(dir, &names, &nnames, err);
    for (size_t i = 0; rc == GLIA_OK && i < nnames; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        long size = -1;
        if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
            rc = glia_err_set(err, GLIA_EIO, "fortunes: cannot read %s: %s", path, strerror(errno));
        } else {
            char *d = realloc(data, (size_t)size + 1), *s = d ? realloc(scratch, (size_t)size + 1) : NULL;
            if (d)
                data = d;
            if (s)
                scratch = s;
            if (!d || !s)
                rc = glia_err_set(err, GLIA_ENOMEM, "fortunes: out of memory reading %s", path);
            else if (fread(data, 1, (size_t)size, f) != (size_t)size)
                rc = glia_err_set(err, GLIA_EIO, "fortunes: cannot read %s", path);
            else {
                glia_fortunes_split(data, (size_t)size, scratch, collect_one, &c);
                out->files++;
                out->bytes += (size_t)size;
                if (c.oom)
                    rc = glia_err_set(err, GLIA_ENOMEM, "fortunes: out of memory reading %s", path);
            }
        }
        if (f)
            fclose(f);
    }
    if (rc == GLIA_OK && c.n == 0)
        rc = glia_err_set(err, GLIA_EINVAL, "fortunes: %s holds no fortune file with an entry", dir);
    if (rc == GLIA_OK && !(out->texts = malloc(c.n * sizeof *out->texts)))
        rc = glia_err_set(err, GLIA_ENOMEM, "fortunes: out of memory for %zu texts", c.n);
    if (rc == GLIA_OK) {
        out->buf = c.buf;
        c.buf = NULL;
        out->n = c.n;
        for (size_t i = 0; i < c.n; i++)
            out->texts[i] = out->buf + c.offsets[i];
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    free(data);
    free(scratch);
    free(c.buf);
    free(c.offsets);
    if (rc != GLIA_OK)
        glia_fortunes_free(out);
    return rc;
}

void glia_fortunes_free(glia_fortunes *f)
{
    if (!f)
        return;
    free(f->texts);
    free(f->buf);
    memset(f, 0, sizeof *f);
}
