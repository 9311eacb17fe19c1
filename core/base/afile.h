/*
 * afile.h - files that appear whole or not at all: written to PATH.tmp.XXXXXX in the same
 * directory, flushed, fsync'd, renamed over PATH, and the directory fsync'd so the rename
 * survives a crash. Every writer of bundles, vocabularies, tokenizers, job records and
 * uploads goes through here, so "no file is ever half-written" has one implementation.
 */
#ifndef GLIA_BASE_AFILE_H
#define GLIA_BASE_AFILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "core/base/err.h"

typedef struct {
    FILE *f;    /* write here; errors are collected and reported by glia_afile_commit */
    char *tmp;  /* the temporary path, owned */
    char *path; /* the final path, owned */
} glia_afile;

/* Creates the temporary file with the given mode (mkstemp's 0600 would hide a bundle file
 * from a daemon running as another user; secrets pass 0600). */
glia_status glia_afile_open(glia_afile *a, const char *path, mode_t mode, glia_err *err);
/* Flushes, fsyncs, closes and renames into place; on any failure the temporary file is
 * removed and err names the problem. a is released either way. */
glia_status glia_afile_commit(glia_afile *a, glia_err *err);
/* Drops the temporary file (NULL-safe on a zeroed or released afile). */
void glia_afile_abort(glia_afile *a);

/* Makes path's directory entry durable (a rename or a new file in place survives a crash):
 * fsyncs the directory that holds path. Done by glia_afile_commit; for callers that rename
 * something else into place, such as a whole directory. */
glia_status glia_afile_sync_parent(const char *path, glia_err *err);

/* Whether a file name is one of glia_afile's temporaries: NAME.tmp.XXXXXX (six letters or
 * digits; the safetensors writer makes them the same way). A kill or a crash in the middle
 * of a write leaves one, and nothing ever finishes it: the file it was to become is either
 * the previous whole one or absent, so a start may remove it. */
int glia_afile_is_temp(const char *name);

/* Removes the temporaries (glia_afile_is_temp) from dir and its subdirectories down to depth
 * levels below it; each removal, or failure to remove (errno), is reported to seen (may be
 * NULL: the library never logs). Only for a start, before anything writes there. Returns
 * the number removed. */
int glia_afile_sweep(const char *dir, int depth,
                     void (*seen)(const char *path, long long bytes, int error, void *user), void *user);

/* data[0..len) as the whole content of path. */
glia_status glia_afile_write(const char *path, const void *data, size_t len, mode_t mode, glia_err *err);

/* The whole regular file at path, NUL-terminated, in *data (caller frees) and its length in
 * *len. A file larger than max_bytes is GLIA_EFORMAT, naming what it was meant to be
 * ("a tokenizer file"), so a stray multi-gigabyte path fails clearly instead of eating memory. */
glia_status glia_file_read(const char *path, size_t max_bytes, const char *what, char **data, size_t *len,
                           glia_err *err);

#endif
