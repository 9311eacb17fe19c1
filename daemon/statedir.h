/*
 * statedir.h - the small file helpers that gliad's state directory needs beside
 * core/base/afile.h (which writes every file there atomically): creating a directory
 * with its parents, removing a tree that a failed or superseded attempt left behind, and
 * the UTC time stamps that records carry. The job store, the versions of a model and the
 * uploaded data sets share them instead of keeping copies.
 *
 * Nothing here decides what lives where in the state directory; the callers do.
 */
#ifndef GLIAD_STATEDIR_H
#define GLIAD_STATEDIR_H

#include "core/base/err.h"

/* path and every missing parent, mode 0755 (an existing directory is fine). On failure
 * err names the directory that could not be made. */
glia_status statedir_mkdirs(const char *path, glia_err *err);

/* Removes path, a file or a whole directory tree; what cannot be removed stays (the
 * callers remove leftovers before they write anew, and say so if that write fails). */
void statedir_remove(const char *path);

/* glia_afile_sweep with each removal logged: a write that a kill -9 or a crash cut short
 * leaves a temporary that nothing ever finishes. Only for a start. Returns the number
 * removed. */
int statedir_sweep(const char *dir, int depth);

/* The current time as ISO 8601 in UTC ("2026-11-23T03:57:34Z") into buf; returns buf. */
const char *statedir_timestamp(char buf[32]);

#endif
