/*
 * fortunes.h - the fortune cookie files of Debian's `fortunes` and `fortunes-min` packages as
 * plain English texts: the unlabelled corpus of the sentiment LSTM's language-model pretraining
 * (core/train/lmtrain.h). scripts/fetch-fortunes copies the files into one directory with a
 * MANIFEST.
 *
 * A fortune file holds entries separated by lines that are a single '%'. One entry is one text,
 * its lines joined by spaces. The files are mostly ASCII with some UTF-8; a few entries
 * underline or embolden by overstriking ("_\bw"): a backspace deletes the byte before it, as a
 * terminal would show it. Other control bytes become spaces. Entries left blank are dropped.
 *
 * Never: print, exit, keep a partly read corpus on failure, read the MANIFEST or a hidden file
 * as a fortune file.
 */
#ifndef GLIA_DATA_FORTUNES_H
#define GLIA_DATA_FORTUNES_H

#include <stddef.h>

#include "core/base/err.h"

typedef struct {
    size_t n;     /* number of texts (entries) */
    char **texts; /* n NUL-terminated strings, pointers into buf */
    char *buf;    /* owned: the texts back to back */
    size_t files; /* fortune files read */
    size_t bytes; /* bytes of those files */
} glia_fortunes;

/* $GLIA_FORTUNES, else the build's GLIA_DATA_CACHE/fortunes (where scripts/setup puts them). */
const char *glia_fortunes_default_dir(void);

/* Reads every regular file of dir except MANIFEST and names starting with '.', in byte order of
 * the names, each entry in file order, into *out (the caller's: glia_fortunes_free; zeroed on
 * failure). A missing directory is GLIA_ENOTFOUND naming it and saying how to fetch the files;
 * a directory without any entry is GLIA_EINVAL. */
glia_status glia_fortunes_load(const char *dir, glia_fortunes *out, glia_err *err);

/* Splits one file's bytes (not NUL-terminated) into entries: calls fn(user, text, len) for each
 * non-blank entry, cleaned as above into scratch (at least len + 1 bytes). Returns how many.
 * The loader's own rule, exposed for tests. */
size_t glia_fortunes_split(const char *data, size_t len, char *scratch,
                           void (*fn)(void *user, const char *text, size_t len), void *user);

void glia_fortunes_free(glia_fortunes *f); /* NULL-safe; zeroes f */

#endif
