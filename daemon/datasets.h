/*
 * datasets.h - users' training data: POST /v1/datasets streams a file to the state
 * directory (never whole into memory), checks every record, and keeps it under an id that
 * a training job names as its "dataset".
 *
 * Formats:
 *   jsonl  one {"text": STRING, "label": STRING or INTEGER} per line: labelled texts for a
 *          text-classification model (labels are the model's names or indices)
 *   tsv    one "ENGLISH<TAB>SPANISH" per line: translation pairs (kept and checked; no
 *          model trains on them yet)
 *   idx-images, idx-labels   an IDX pair (N x H x W and N unsigned bytes, plain or gzip),
 *          uploaded as two data sets that an image job names together
 * A bad record rejects the upload with 422 naming the line and the problem; nothing is
 * kept. Files: STATE/datasets/ID/data.jsonl|data.tsv and STATE/datasets/ID/meta.json,
 * published by renaming a complete, checked directory into place.
 *
 * Durability: an upload is answered 201 only once its directory is in place and synced
 * (data and meta.json fsync'd, the renames' directories fsync'd), so that it survives a
 * crash; when the disk refuses any of it (full, read-only, failing) the answer is 507 with
 * the reason, and nothing of the upload is left. The temporaries a kill leaves behind
 * (.upload-XXXXXX, .new-ID/) are removed when gliad starts.
 */
#ifndef GLIAD_DATASETS_H
#define GLIAD_DATASETS_H

#include <jansson.h>
#include <stddef.h>

#include "daemon/codec.h"

typedef struct datasets datasets;

/* max_bytes bounds one upload. Creates STATE/datasets and removes the unfinished uploads
 * a stop in the middle of one left there (logged). */
glia_status datasets_open(const char *state_dir, long max_bytes, datasets **out, glia_err *err);
void datasets_close(datasets *d); /* NULL-safe */
long datasets_max_bytes(const datasets *d);

/* One upload in progress (owned by the HTTP request). */
typedef struct {
    int fd; /* -1 when not open */
    char tmp[4200];
    char format[16]; /* "jsonl", "tsv", "idx-images" or "idx-labels" */
    long bytes;
    int too_large;
    int disk_error; /* errno of a write the disk refused (then nothing more is written) */
} dataset_upload;

/* The format from ?format= or the Content-Type (application/x-ndjson, application/jsonl,
 * text/tab-separated-values); 415 when neither names one. Opens the temporary file. */
int datasets_upload_begin(datasets *d, const char *format, const char *content_type, dataset_upload *u,
                          problem *p);
/* Appends a chunk; past max_bytes the upload is marked too large (and nothing more is written). */
void datasets_upload_write(datasets *d, dataset_upload *u, const char *data, size_t n);
/* Checks every record and publishes it durably: 201 with the data set's description, or
 * a problem (413, 422 naming the line, 507 when the disk refused). The temporary file is
 * gone either way. */
int datasets_upload_finish(datasets *d, dataset_upload *u, json_t **out, problem *p);
void datasets_upload_abort(dataset_upload *u);

/* {"datasets": [...]}, newest first. */
json_t *datasets_list(datasets *d);
/* The data file of id (into buf) and its description (*meta, a new reference), or NULL. */
const char *datasets_find(datasets *d, const char *id, char *buf, size_t len, json_t **meta);

#endif
