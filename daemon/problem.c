/* problem.c - see problem.h. */
#include "daemon/problem.h"

#include <stdarg.h>
#include <stdio.h>

static void problem_vset(problem *p, int status, const char *fmt, va_list ap)
{
    p->status = status;
    vsnprintf(p->detail, sizeof p->detail, fmt, ap);
}

int problem_set(problem *p, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_vset(p, status, fmt, ap);
    va_end(ap);
    return -1;
}

int problem_fail(problem *p, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_vset(p, status, fmt, ap);
    va_end(ap);
    return status;
}

const char *problem_title(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "Error";
    }
}

json_t *problem_json(int status, const char *detail, const char *instance)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", "about:blank", "title", problem_title(status),
                     "status", status, "detail", detail, "instance", instance);
}

int problem_int_field(const json_t *body, const char *key, int lo, int hi, int *out, problem *p)
{
    const json_t *v = json_object_get(body, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return problem_set(p, 400, "\"%s\" must be an integer from %d to %d", key, lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}
