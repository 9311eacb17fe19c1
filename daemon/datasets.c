/*
 * datasets.c - see datasets.h.
 */
#include "daemon/datasets.h"
#include "core/base/jsonnum.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/afile.h"
#include "core/formats/idx.h"
#include "core/base/utf8.h"
#include "daemon/log.h"
#include "daemon/statedir.h"

enum { MAX_LABELS = 256 };

/* The two temporaries of an upload in STATE/datasets: the body as it arrives, and the
 * directory that becomes the data set when it is renamed. */
static const char UPLOAD_PREFIX[] = ".upload-", NEW_PREFIX[] = ".new-";

/* The answer when the disk refused part of an upload (errnum: why). */
static int disk_refused(problem *p, const char *what, int errnum)
{
    return problem_fail(p, 507, "cannot store the data set (%s): %s", what, strerror(errnum));
}

/* Removes what uploads cut short by a stop or a crash left: nothing finishes them. */
static void sweep_unfinished(const char *dir)
{
    DIR *dd = opendir(dir);
    struct dirent *e;
    char path[4400];
    while (dd && (e = readdir(dd))) {
        if (strncmp(e->d_name, UPLOAD_PREFIX, sizeof UPLOAD_PREFIX - 1) != 0 &&
            strncmp(e->d_name, NEW_PREFIX, sizeof NEW_PREFIX - 1) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        statedir_remove(path);
        log_warn("removed %s: an upload that gliad was stopped in the middle of", path);
    }
    if (dd)
        closedir(dd);
}

struct datasets {
    char dir[4096];
    long max_bytes;
    pthread_mutex_t mu; /* ids */
    unsigned seq;
};

glia_status datasets_open(const char *state_dir, long max_bytes, datasets **out, glia_err *err)
{
    datasets *d = calloc(1, sizeof *d);
    if (!d)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    snprintf(d->dir, sizeof d->dir, "%s/datasets", state_dir);
    d->max_bytes = max_bytes;
    pthread_mutex_init(&d->mu, NULL);
    glia_status rc = statedir_mkdirs(d->dir, err);
    if (rc != GLIA_OK) {
        glia_err_prefix(err, "state_dir");
        datasets_close(d);
        return rc;
    }
    sweep_unfinished(d->dir);
    *out = d;
    return GLIA_OK;
}

void datasets_close(datasets *d)
{
    if (!d)
        return;
    pthread_mutex_destroy(&d->mu);
    free(d);
}

long datasets_max_bytes(const datasets *d)
{
    return d->max_bytes;
}

int datasets_upload_begin(datasets *d, const char *format, const char *content_type, dataset_upload *u,
                          problem *p)
{
    memset(u, 0, sizeof *u);
    u->fd = -1;
    const char *ct = content_type ? content_type : "";
    if (format && (strcmp(format, "jsonl") == 0 || strcmp(format, "tsv") == 0 ||
                   strcmp(format, "idx-images") == 0 || strcmp(format, "idx-labels") == 0))
        snprintf(u->format, sizeof u->format, "%s", format);
    else if (!format &&
             (strncmp(ct, "application/x-ndjson", 20) == 0 || strncmp(ct, "application/jsonl", 17) == 0))
        snprintf(u->format, sizeof u->format, "jsonl");
    else if (!format && strncmp(ct, "text/tab-separated-values", 25) == 0)
        snprintf(u->format, sizeof u->format, "tsv");
    else
        return problem_fail(
            p, 415,
            "say the format: ?format=jsonl (or Content-Type: application/x-ndjson) for labelled texts, "
            "?format=tsv (or text/tab-separated-values) for translation pairs, ?format=idx-images and "
            "?format=idx-labels for an image data set (IDX, plain or gzip)");
    snprintf(u->tmp, sizeof u->tmp, "%s/%sXXXXXX", d->dir, UPLOAD_PREFIX);
    u->fd = mkstemp(u->tmp);
    if (u->fd < 0)
        return disk_refused(p, "creating a file in the state directory", errno);
    return 0;
}

void datasets_upload_write(datasets *d, dataset_upload *u, const char *data, size_t n)
{
    if (u->fd < 0 || u->too_large || u->disk_error)
        return;
    if (u->bytes + (long)n > d->max_bytes) {
        u->too_large = 1;
        return;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(u->fd, data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) { /* the disk refused: reported (507) when the body has arrived */
            u->disk_error = w < 0 ? errno : ENOSPC;
            return;
        }
        done += (size_t)w;
    }
    u->bytes += (long)n;
}

void datasets_upload_abort(dataset_upload *u)
{
    if (u->fd >= 0) {
        close(u->fd);
        unlink(u->tmp);
    }
    u->fd = -1;
}

/* One line of a jsonl upload; "" when it is good, else why not. Counts its label. */
static void check_jsonl(const char *line, size_t len, char *why, size_t wlen, json_t *labels)
{
    json_error_t je;
    json_t *el = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    const json_t *t = json_object_get(el, "text"), *l = json_object_get(el, "label");
    char key[64];
    if (!el)
        snprintf(why, wlen, "not JSON: %s (column %d)", je.text, je.column);
    else if (!json_is_object(el) || json_object_size(el) != 2 || !t || !l)
        snprintf(why, wlen, "expected {\"text\": STRING, \"label\": STRING or INTEGER}");
    else if (!json_is_string(t) || json_string_length(t) == 0)
        snprintf(why, wlen, "\"text\" must be a non-empty string");
    else if (!(json_is_string(l) && json_string_length(l) > 0 && json_string_length(l) < sizeof key) &&
             !(json_is_integer(l) && json_integer_value(l) >= 0 && json_integer_value(l) < MAX_LABELS))
        snprintf(why, wlen, "\"label\" must be a class name (1-63 bytes) or an index 0..%d", MAX_LABELS - 1);
    if (!why[0]) {
        if (json_is_string(l))
            snprintf(key, sizeof key, "%s", json_string_value(l));
        else
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(l));
        json_t *c = json_object_get(labels, key);
        if (!c && json_object_size(labels) >= MAX_LABELS)
            snprintf(why, wlen, "more than %d different labels", MAX_LABELS);
        else
            json_object_set_new(labels, key, json_integer(c ? json_integer_value(c) + 1 : 1));
    }
    json_decref(el);
}

/* One line of a tsv upload. */
static void check_tsv(const char *line, size_t len, char *why, size_t wlen)
{
    const char *tab = memchr(line, '\t', len);
    size_t bad = 0;
    if (!tab || memchr(tab + 1, '\t', len - (size_t)(tab - line) - 1))
        snprintf(why, wlen, "expected exactly one tab between the source and the translation");
    else if (tab == line || tab + 1 == line + len)
        snprintf(why, wlen, "the source or the translation is empty");
    else if (!glia_utf8_valid(line, len, &bad))
        snprintf(why, wlen, "invalid UTF-8 at byte %zu", bad);
}

/* An IDX upload, checked whole by the IDX reader: 0 with its records, or a problem. */
static int check_idx(const dataset_upload *u, size_t *records, problem *p)
{
    glia_idx idx = {0};
    glia_err err = {0};
    int want = strcmp(u->format, "idx-images") == 0 ? 3 : 1;
    if (glia_idx_load(u->tmp, &idx, &err) != GLIA_OK)
        return problem_fail(p, 422, "not an IDX file: %s",
                            strstr(err.msg, ": ") ? strstr(err.msg, ": ") + 2 : err.msg);
    *records = idx.dims[0];
    int ndim = idx.ndim;
    glia_idx_free(&idx);
    if (ndim != want)
        return problem_fail(p, 422, "an IDX %s file has %d dimensions, not %d", u->format + 4, ndim, want);
    return 0;
}

/* A jsonl or tsv upload read from f, line by line: 0 with its records (and the jsonl
 * labels counted), or a problem naming the first bad line. */
static int check_lines(const dataset_upload *u, FILE *f, json_t *labels, size_t *records, problem *p)
{
    char *line = NULL, why[300];
    size_t cap = 0, lineno = 0;
    ssize_t got;
    int code = 0;
    *records = 0;
    while (!code && (got = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)got;
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        why[0] = '\0';
        if (strcmp(u->format, "jsonl") == 0)
            check_jsonl(line, len, why, sizeof why, labels);
        else
            check_tsv(line, len, why, sizeof why);
        if (why[0])
            code = problem_fail(p, 422, "line %zu: %s", lineno, why);
        else
            (*records)++;
    }
    free(line);
    if (!code && *records == 0)
        code = problem_fail(p, 422, "the data set holds no record");
    return code;
}

/* The checked file and its description in a new directory (.new-ID), synced and renamed
 * into place: 201 with the description in *out, or a problem (507 when the disk refused
 * any step; then no part of the data set is left). */
static int publish(datasets *d, dataset_upload *u, size_t records, json_t *labels, json_t **out, problem *p)
{
    char id[48], tmpdir[4300], dir[4300], path[4400], now[32];
    glia_err werr = {0};
    int code = 0, made = 0;
    pthread_mutex_lock(&d->mu);
    snprintf(id, sizeof id, "d%ld-%04u", (long)time(NULL), d->seq++);
    pthread_mutex_unlock(&d->mu);
    json_t *meta =
        json_pack("{s:s, s:s, s:I, s:I, s:s}", "id", id, "format", u->format, "records", (json_int_t)records,
                  "bytes", (json_int_t)u->bytes, "created_at", statedir_timestamp(now));
    if (strcmp(u->format, "jsonl") == 0)
        json_object_set(meta, "labels", labels);
    snprintf(tmpdir, sizeof tmpdir, "%s/%s%s", d->dir, NEW_PREFIX, id);
    snprintf(dir, sizeof dir, "%s/%s", d->dir, id);
    snprintf(path, sizeof path, "%s/data.%s", tmpdir, u->format);
    char *text = json_dumps(meta, JSON_INDENT(2) | GLIA_JSON_REALS);
    if (!text)
        code = problem_fail(p, 500, "cannot store the data set: out of memory");
    else if (!(made = mkdir(tmpdir, 0755) == 0))
        code = disk_refused(p, "creating its directory", errno);
    else if (rename(u->tmp, path) != 0)
        code = disk_refused(p, "moving the upload into its directory", errno);
    if (!code) {
        u->tmp[0] = '\0'; /* in tmpdir now, and removed with it on failure */
        snprintf(path, sizeof path, "%s/meta.json", tmpdir);
        /* meta.json's directory sync also makes the data file's rename durable */
        if (glia_afile_write(path, text, strlen(text), 0644, &werr) != GLIA_OK)
            code = problem_fail(p, 507, "cannot store the data set: %s", werr.msg);
        else if (rename(tmpdir, dir) != 0)
            code = disk_refused(p, "renaming it into place", errno);
        else if (glia_afile_sync_parent(dir, &werr) != GLIA_OK) {
            code = problem_fail(p, 507, "cannot store the data set: %s", werr.msg);
            statedir_remove(dir); /* refused, so it must not appear after a restart */
        }
    }
    free(text);
    if (code) {
        if (made)
            statedir_remove(tmpdir);
        json_decref(meta);
        return code;
    }
    *out = meta;
    return 201;
}

int datasets_upload_finish(datasets *d, dataset_upload *u, json_t **out, problem *p)
{
    *out = NULL;
    size_t records = 0;
    int code = 0;
    json_t *labels = json_object();
    FILE *f = NULL;
    if (u->too_large)
        code = problem_fail(p, 413, "the data set is over %ld bytes (training.max_dataset in gliad's config)",
                            d->max_bytes);
    else if (u->disk_error)
        code = disk_refused(p, "writing the upload", u->disk_error);
    else if (fsync(u->fd) != 0) /* checked and published only once it is on disk */
        code = disk_refused(p, "syncing the upload", errno);
    else if (strncmp(u->format, "idx-", 4) == 0) /* binary: checked whole by the IDX reader */
        code = check_idx(u, &records, p);
    else if (lseek(u->fd, 0, SEEK_SET) != 0 || !(f = fdopen(dup(u->fd), "rb")))
        code = problem_fail(p, 500, "cannot read the upload back: %s", strerror(errno));
    else
        code = check_lines(u, f, labels, &records, p);
    if (!code)
        code = publish(d, u, records, labels, out, p);
    if (f)
        fclose(f);
    json_decref(labels);
    if (u->fd >= 0)
        close(u->fd);
    if (u->tmp[0])
        unlink(u->tmp);
    u->fd = -1;
    return code;
}

static json_t *read_meta(const char *dir, const char *id)
{
    char path[8500];
    snprintf(path, sizeof path, "%s/%s/meta.json", dir, id);
    return json_load_file(path, 0, NULL);
}

json_t *datasets_list(datasets *d)
{
    json_t *list = json_array();
    DIR *dd = opendir(d->dir);
    struct dirent *e;
    while (dd && (e = readdir(dd)))
        if (e->d_name[0] == 'd') {
            json_t *m = read_meta(d->dir, e->d_name);
            if (m)
                json_array_append_new(list, m);
        }
    if (dd)
        closedir(dd);
    /* newest first: ids sort by creation */
    size_t n = json_array_size(list);
    for (size_t i = 0; i + 1 < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            const char *a = json_string_value(json_object_get(json_array_get(list, i), "id"));
            const char *b = json_string_value(json_object_get(json_array_get(list, j), "id"));
            if (a && b && strcmp(a, b) < 0) {
                json_t *x = json_incref(json_array_get(list, i));
                json_array_set(list, i, json_array_get(list, j));
                json_array_set_new(list, j, x);
            }
        }
    return json_pack("{s:o}", "datasets", list);
}

const char *datasets_find(datasets *d, const char *id, char *buf, size_t len, json_t **meta)
{
    *meta = NULL;
    if (!id[0] || strchr(id, '/') || id[0] == '.')
        return NULL;
    json_t *m = read_meta(d->dir, id);
    const char *format = json_string_value(json_object_get(m, "format"));
    if (!format) {
        json_decref(m);
        return NULL;
    }
    snprintf(buf, len, "%s/%s/data.%s", d->dir, id, format);
    *meta = m;
    return buf;
}
