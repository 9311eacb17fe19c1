/*
 * console.h - the web console's static files (issue 15): which file a request names, its
 * bytes, its Content-Type and its ETag. The page itself (daemon/console/) talks to gliad
 * only through the documented API; this module serves files and decides nothing else.
 *
 * A name is one path segment of [A-Za-z0-9._-], not starting with '.', so that no request
 * can leave the console directory (no "..", no hidden file, no '/' after decoding) and no
 * symlink is followed out of it (O_NOFOLLOW). Files are read at each request (they are
 * small, and an upgrade that replaces them takes effect at once); the ETag is a hash of
 * the bytes and the size, so it changes exactly when the file does.
 *
 * Must never: serve a file outside the directory, or a name the page could not have asked
 * for (a directory, a device, a FIFO).
 */
#ifndef GLIAD_CONSOLE_H
#define GLIAD_CONSOLE_H

#include <stddef.h>

#include "core/base/err.h"

enum { CONSOLE_FILE_MAX = 8 << 20 }; /* bytes; the console's files are a few tens of KiB */

typedef struct {
    char *data; /* owned: console_file_free */
    size_t len;
    const char *type; /* Content-Type, static */
    char etag[40];    /* "\"<16 hex digits>-<size in hex>\"" */
} console_file;

/* 1 if name may name a console file (the rule above); 0 otherwise. */
int console_name_ok(const char *name);
/* The Content-Type for name's extension (application/octet-stream when unknown). */
const char *console_type(const char *name);
/* Reads dir/name into *out: GLIA_OK; GLIA_EINVAL (a name the rule refuses),
 * GLIA_ENOTFOUND (no such regular file), GLIA_EIO or GLIA_ENOMEM with err filled. */
glia_status console_read(const char *dir, const char *name, console_file *out, glia_err *err);
/* Frees what console_read gave; NULL-safe. */
void console_file_free(console_file *f);
/* 1 if an If-None-Match header value (a list, or "*") matches etag (weak comparison, RFC
 * 9110 13.1.2: W/ prefixes are ignored). */
int console_etag_matches(const char *if_none_match, const char *etag);

#endif
