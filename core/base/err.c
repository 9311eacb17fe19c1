/*
 * err.c - see err.h. Messages are truncated, never overflowed.
 */
#include "core/base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

glia_status glia_err_set(glia_err *err, glia_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

glia_status glia_err_prefix(glia_err *err, const char *fmt, ...)
{
    if (!err)
        return GLIA_OK;
    char prefix[GLIA_ERR_MSG_MAX];
    char old[GLIA_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return err->code;
}

void glia_err_clear(glia_err *err)
{
    if (err) {
        err->code = GLIA_OK;
        err->msg[0] = '\0';
    }
}

const char *glia_status_str(glia_status code)
{
    switch (code) {
    case GLIA_OK: return "ok";
    case GLIA_EINVAL: return "invalid argument";
    case GLIA_ENOMEM: return "out of memory";
    case GLIA_EIO: return "I/O error";
    case GLIA_EFORMAT: return "format error";
    case GLIA_ENOTFOUND: return "not found";
    case GLIA_EUNSUPPORTED: return "unsupported";
    case GLIA_ECANCELLED: return "cancelled";
    case GLIA_ETIMEDOUT: return "timed out";
    }
    return "unknown error";
}

void glia_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "glia: internal invariant failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
