/*
 * problem.h - what was wrong with a request, and its RFC 9457 problem+json form.
 *
 * A problem is an HTTP status and a sentence that says what to fix. Codecs, jobs and data
 * sets fill one and return; only the HTTP side turns it into an answer, through the one
 * formatter here, so every error body in gliad has the same fields. Nothing here speaks
 * HTTP or knows a route.
 */
#ifndef GLIAD_PROBLEM_H
#define GLIAD_PROBLEM_H

#include <jansson.h>

typedef struct {
    int status;       /* 0 = no problem */
    char detail[512]; /* what to fix */
} problem;

/* Sets p (status, printf-style detail) and returns -1, for `return problem_set(...)`. */
int problem_set(problem *p, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The same, returning status: for handlers that answer with the status they chose. */
int problem_fail(problem *p, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The integer member key of a JSON body, lo..hi, into *out (absent: *out stays as it is);
 * -1 with a 400 naming the field and the range. */
int problem_int_field(const json_t *body, const char *key, int lo, int hi, int *out, problem *p);

/* The status's reason phrase ("Not Found"), the problem's title; "Error" for one gliad never answers. */
const char *problem_title(int status);

/* {"type": "about:blank", "title", "status", "detail", "instance"}: a new reference, NULL on OOM. */
json_t *problem_json(int status, const char *detail, const char *instance);

#endif
