/*
 * history.c - see history.h.
 *
 * The writer formats by hand (one snprintf a line) rather than building JSON objects: it
 * runs after every optimizer step. The reader parses a line at a time with Jansson, so a
 * page costs its own records and one line, whatever the length of the run.
 */
#include "core/train/history.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/afile.h"

enum { LINE_MAX_BYTES = 4096 }; /* a record is ~150 bytes; a longer line is no record */

struct glia_history {
    FILE *f;          /* NULL until the first record when appending */
    char *path;       /* owned */
    int append;       /* the first record still has to rewind the file (see open_appending) */
    int failed_errno; /* the first write's errno that failed, 0: none */
};

glia_status glia_history_open(const char *path, int append, glia_history **out, glia_err *err)
{
    *out = NULL;
    glia_history *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(path))) {
        free(h);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for the history of %s", path);
    }
    h->append = append;
    /* appending opens at the first record; this checks that it will be able to */
    if (!(h->f = fopen(path, append ? "a" : "w"))) {
        glia_status rc = glia_err_set(err, GLIA_EIO, "cannot write %s: %s", path, strerror(errno));
        free(h->path);
        free(h);
        return rc;
    }
    if (append) {
        fclose(h->f);
        h->f = NULL;
    }
    *out = h;
    return GLIA_OK;
}

/* A run that appends is one that continues from a checkpoint: its first step redoes what
 * followed the checkpoint, so the file first loses every record from that step on. */
static void open_appending(glia_history *h, long first_step)
{
    glia_err err = {0};
    h->append = 0;
    if (glia_history_truncate(h->path, first_step - 1, &err) != GLIA_OK)
        h->failed_errno = EIO; /* a bad old file is kept as it was; the new records go nowhere */
    else if (!(h->f = fopen(h->path, "a")))
        h->failed_errno = errno ? errno : EIO;
}

/* A figure as JSON: NaN and infinities have no JSON spelling, so they become null. */
static int put_num(char *buf, size_t len, const char *key, const char *fmt, double v)
{
    if (!isfinite(v))
        return snprintf(buf, len, ",\"%s\":null", key);
    char num[64];
    snprintf(num, sizeof num, fmt, v);
    return snprintf(buf, len, ",\"%s\":%s", key, num);
}

int glia_history_format(const glia_train_record *rec, char *buf, size_t len)
{
    size_t n = 0;
#define PUT(expr)                                                                                            \
    do {                                                                                                     \
        int w_ = (expr);                                                                                     \
        n += (size_t)(w_ > 0 ? w_ : 0);                                                                      \
    } while (0)
#define AT buf + (n < len ? n : len), (n < len ? len - n : 0)
    if (rec->kind == GLIA_RECORD_STEP) {
        PUT(snprintf(AT, "{\"step\":%ld,\"epoch\":%d", rec->step, rec->epoch));
        PUT(put_num(AT, "loss", "%.6g", rec->loss));
        PUT(put_num(AT, "lr", "%.6g", rec->lr));
        PUT(put_num(AT, "examples_per_s", "%.1f", rec->examples_per_s));
        PUT(put_num(AT, "time_s", "%.3f", rec->time_s));
        PUT(snprintf(AT, "}"));
    } else {
        PUT(snprintf(AT, "{\"eval\":{\"step\":%ld,\"epoch\":%d", rec->step, rec->epoch));
        PUT(put_num(AT, "train_loss", "%.6g", rec->train_loss));
        PUT(put_num(AT, "train_accuracy", "%.6g", rec->train_accuracy));
        if (rec->val_loss >= 0) { /* -1: no validation split */
            PUT(put_num(AT, "val_loss", "%.6g", rec->val_loss));
            PUT(put_num(AT, "val_accuracy", "%.6g", rec->val_accuracy));
        }
        PUT(put_num(AT, "time_s", "%.3f", rec->time_s));
        PUT(snprintf(AT, "}}"));
    }
#undef AT
#undef PUT
    return (int)n;
}

void glia_history_add(glia_history *h, const glia_train_record *rec)
{
    char line[512];
    if (h && h->append)
        open_appending(h, rec->step);
    if (!h || h->failed_errno)
        return;
    const int n = glia_history_format(rec, line, sizeof line);
    if (n >= (int)sizeof line) { /* cannot happen with the fields above; refuse rather than cut */
        h->failed_errno = EOVERFLOW;
        return;
    }
    /* flushed line by line: a run that dies leaves every step it did */
    if (fprintf(h->f, "%s\n", line) < 0 || fflush(h->f) != 0)
        h->failed_errno = errno ? errno : EIO;
}

void glia_history_record(const glia_train_record *rec, void *user)
{
    glia_history_add(user, rec);
}

glia_status glia_history_close(glia_history *h, glia_err *err)
{
    if (!h)
        return GLIA_OK;
    glia_status rc = GLIA_OK;
    if (h->f && fclose(h->f) != 0 && !h->failed_errno)
        h->failed_errno = errno ? errno : EIO;
    if (h->failed_errno)
        rc = glia_err_set(err, GLIA_EIO, "cannot write the history %s: %s", h->path,
                          strerror(h->failed_errno));
    free(h->path);
    free(h);
    return rc;
}

/* ---- reading ---- */

/* One parsed line: a step object or an eval's (a new reference in *obj), and its step. */
typedef struct {
    json_t *obj;
    long step;
    int eval;
} line_rec;

static glia_status parse_line(const char *path, long lineno, const char *line, size_t len, line_rec *out,
                              glia_err *err)
{
    json_error_t je;
    memset(out, 0, sizeof *out);
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    json_t *obj = j && json_is_object(j) && json_object_get(j, "eval") ? json_object_get(j, "eval") : j;
    json_t *step = json_is_object(obj) ? json_object_get(obj, "step") : NULL;
    if (!json_is_integer(step) || json_integer_value(step) < 0) {
        json_decref(j);
        return glia_err_set(err, GLIA_EFORMAT, "%s:%ld: not a history record (%s)", path, lineno,
                            j ? "a step's or an eval's JSON object with a \"step\" count" : je.text);
    }
    out->eval = obj != j;
    out->step = (long)json_integer_value(step);
    out->obj = json_incref(obj);
    json_decref(j);
    return GLIA_OK;
}

/* Reads the next complete line of f into *buf (getline's); 0 at the end or at a last line
 * cut short, -1 for a line longer than LINE_MAX_BYTES. */
static int next_line(FILE *f, char **buf, size_t *cap, size_t *len)
{
    ssize_t n = getline(buf, cap, f);
    if (n <= 0 || (*buf)[n - 1] != '\n')
        return 0;
    if (n > LINE_MAX_BYTES)
        return -1;
    *len = (size_t)n - 1;
    return 1;
}

void glia_history_page_free(glia_history_page *p)
{
    json_decref(p->steps);
    json_decref(p->evals);
    p->steps = p->evals = NULL;
}

glia_status glia_history_read(const char *path, long since, size_t max_steps, glia_history_page *out,
                              glia_err *err)
{
    glia_status rc = GLIA_OK;
    char *line = NULL;
    size_t cap = 0, len = 0, nsteps = 0;
    long lineno = 0, last = -1;
    int got;
    out->steps = json_array();
    out->evals = json_array();
    out->next = -1;
    if (!out->steps || !out->evals)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
    FILE *f = fopen(path, "r");
    if (!f)
        return glia_err_set(err, errno == ENOENT ? GLIA_ENOTFOUND : GLIA_EIO, "cannot read %s: %s", path,
                            strerror(errno));
    while ((got = next_line(f, &line, &cap, &len)) != 0) {
        line_rec r;
        lineno++;
        if (got < 0) {
            rc = glia_err_set(err, GLIA_EFORMAT, "%s:%ld: line too long for a history record", path, lineno);
            break;
        }
        if (len == 0)
            continue;
        if ((rc = parse_line(path, lineno, line, len, &r, err)))
            break;
        if (r.step <= since) {
            json_decref(r.obj);
            continue;
        }
        if (!r.eval && max_steps && nsteps == max_steps) { /* the page is full: say where to go on */
            json_decref(r.obj);
            out->next = last;
            break;
        }
        if (!r.eval) {
            nsteps++;
            last = r.step;
        }
        json_array_append_new(r.eval ? out->evals : out->steps, r.obj);
    }
    if (rc == GLIA_OK && ferror(f))
        rc = glia_err_set(err, GLIA_EIO, "cannot read %s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

glia_status glia_history_truncate(const char *path, long max_step, glia_err *err)
{
    glia_afile a;
    char *line = NULL;
    size_t cap = 0, len = 0;
    long lineno = 0;
    int got;
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? GLIA_OK
                               : glia_err_set(err, GLIA_EIO, "cannot read %s: %s", path, strerror(errno));
    glia_status rc = glia_afile_open(&a, path, 0644, err);
    if (rc) {
        fclose(f);
        return rc;
    }
    while (rc == GLIA_OK && (got = next_line(f, &line, &cap, &len)) != 0) {
        line_rec r;
        lineno++;
        if (got < 0)
            rc = glia_err_set(err, GLIA_EFORMAT, "%s:%ld: line too long for a history record", path, lineno);
        else if (len > 0 && (rc = parse_line(path, lineno, line, len, &r, err)) == GLIA_OK) {
            if (r.step <= max_step)
                fprintf(a.f, "%.*s\n", (int)len, line);
            json_decref(r.obj);
        }
    }
    free(line);
    fclose(f);
    if (rc == GLIA_OK)
        return glia_afile_commit(&a, err);
    glia_afile_abort(&a);
    return rc;
}
