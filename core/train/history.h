/*
 * history.h - a training run's per-step history as a file: one JSON object a line
 * (history.jsonl), what `glia train` writes beside its bundle, what a gliad job keeps in its
 * directory (GET /v1/jobs/ID/history) and what `glia plot` draws.
 *
 *   {"step":12,"epoch":1,"loss":0.731,"lr":0.001,"examples_per_s":5210,"time_s":0.41}
 *   {"eval":{"step":60,"epoch":1,"train_loss":0.52,"train_accuracy":0.84,"val_loss":0.40,"val_accuracy":0.88}}
 *
 * val_loss and val_accuracy are left out when the run has no validation split. Each line is
 * flushed when written, so a run that dies leaves the steps it did; a reader skips a last
 * line cut short (no newline), as a crash mid-write leaves it.
 */
#ifndef GLIA_TRAIN_HISTORY_H
#define GLIA_TRAIN_HISTORY_H

#include <jansson.h>
#include <stddef.h>

#include "core/base/err.h"
#include "core/train/trainer.h"

/* ---- writing ---- */

typedef struct glia_history glia_history;

/* Opens path for writing: emptied first, or with append set continued - a run resumed from a
 * checkpoint: its first record drops the file's records from its step on, which the run
 * does again. */
glia_status glia_history_open(const char *path, int append, glia_history **out, glia_err *err);
/* Writes rec as one line and flushes it. The first failure is kept for glia_history_close;
 * later records are dropped (a full disk must not stop the training). */
void glia_history_add(glia_history *h, const glia_train_record *rec);
/* Closes h (NULL-safe); GLIA_EIO naming the file when a write failed. */
glia_status glia_history_close(glia_history *h, glia_err *err);
/* rec as its line, without the newline, into buf (NUL-terminated); the length it needs. */
int glia_history_format(const glia_train_record *rec, char *buf, size_t len);
/* glia_history_add as a glia_record_fn (user: the glia_history). */
void glia_history_record(const glia_train_record *rec, void *user);

/* ---- reading ---- */

typedef struct {
    json_t *steps; /* the step objects, in file order (owned) */
    json_t *evals; /* the objects inside the eval lines (owned) */
    long next;     /* -1: that was all; else more steps follow: read again with since = next */
} glia_history_page;

/* Reads path: the steps whose step is above since (since < 0: all), at most max_steps of
 * them (0: no limit), and the evaluations up to the last step returned (all of them above
 * since when the page is the last). Memory is bounded by the page, not by the file.
 * GLIA_ENOTFOUND when the file does not exist, GLIA_EFORMAT naming the line when a line
 * is not a history record. The caller frees out with glia_history_page_free, also after
 * an error. */
glia_status glia_history_read(const char *path, long since, size_t max_steps, glia_history_page *out,
                              glia_err *err);
void glia_history_page_free(glia_history_page *p);

/* Keeps only the records of steps <= max_step (atomically rewritten): a job resumed from
 * its checkpoint at max_step records again what it did after it. A missing file is fine. */
glia_status glia_history_truncate(const char *path, long max_step, glia_err *err);

#endif
