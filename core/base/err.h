/*
 * err.h - status codes, error reports and always-on assertions for libglia.
 *
 * Every fallible function in core/ returns a glia_status and, when it fails,
 * fills a caller-owned glia_err with a message a user can act on ("weights.safetensors:
 * tensor 'fc.weight' ends at byte 4096 but the file has 4000"). Library code never
 * exits and never prints: the caller decides what to do with the report.
 *
 * GLIA_ASSERT is for invariants of our own code (shape mismatches between layers we
 * built), never for bad input; it stays on in release builds, like sqlite's ALWAYS().
 */
#ifndef GLIA_BASE_ERR_H
#define GLIA_BASE_ERR_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
    GLIA_OK = 0,
    GLIA_EINVAL,       /* bad argument or bad value in a recipe/manifest/request */
    GLIA_ENOMEM,       /* an allocation failed */
    GLIA_EIO,          /* the operating system refused a read/write/open */
    GLIA_EFORMAT,      /* a file or buffer is malformed (safetensors, IDX, PNG, YAML) */
    GLIA_ENOTFOUND,    /* a named thing (tensor, file, label) does not exist */
    GLIA_EUNSUPPORTED, /* well-formed but not something glia can do (dtype, layer type) */
    GLIA_ECANCELLED,   /* a caller-provided cancel flag stopped the work */
    GLIA_ETIMEDOUT,    /* a caller-provided deadline passed (e.g. a training job's max runtime) */
} glia_status;

enum { GLIA_ERR_MSG_MAX = 512 };

typedef struct {
    glia_status code;
    char msg[GLIA_ERR_MSG_MAX];
} glia_err;

/* Fills err (may be NULL) with code and a printf-style message; returns code so
 * that callers can write `return glia_err_set(err, GLIA_EINVAL, "...")`. */
glia_status glia_err_set(glia_err *err, glia_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (e.g. the file name), keeping the code. */
glia_status glia_err_prefix(glia_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets err to GLIA_OK with an empty message. */
void glia_err_clear(glia_err *err);

/* Short name of a status code, e.g. "format error". */
const char *glia_status_str(glia_status code);

void glia_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#define GLIA_ASSERT(expr) ((expr) ? (void)0 : glia_assert_fail(#expr, __FILE__, __LINE__))

#endif
