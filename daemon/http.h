/*
 * http.h - gliad's libmicrohttpd glue: listening, a request's life on MHD's threads, and
 * writing answers. It knows nothing of what a path means; two callbacks do.
 *
 * A request's life: the first access-handler call allocates an http_request and calls
 * `begin` with the headers alone (a route that streams its body claims it there, or
 * answers at once); otherwise a Content-Length over the body limit is answered 413 before
 * a byte is read. Later calls accumulate the body in memory up to the limit (a chunked
 * body over it is read and dropped, and answered 413 at the end). The final call hands
 * the complete request to `handle`, which answers, or suspends the connection while a
 * worker runs (http_suspend), to be called back once resumed (http_resume, any thread).
 * When MHD is done with it, the request's access line is logged (method, path, status,
 * duration, request id; bytes a client chose are escaped), its route counted in metrics,
 * and the route's state freed.
 *
 * Before any of that, the raw request target is checked: a control character in it, raw
 * or percent-encoded (%00 would cut the path short once decoded, %0A forge a log line),
 * is answered 400. An absolute-form target (http://host/path, RFC 9112 3.2.2) is routed
 * by its path. Every connection is in the connection table (conns.h), which closes those
 * that take too long to send a request and keeps a reserve of slots for new clients;
 * MHD refuses connections beyond per_client from one address.
 *
 * Every answer carries X-Request-Id (the client's, if it is sane, or a new one). Error
 * answers are problem+json (RFC 9457), or {"error": ...} where the request's route speaks
 * the Open Inference Protocol v2 (http_request.oip).
 */
#ifndef GLIAD_HTTP_H
#define GLIAD_HTTP_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "core/base/err.h"
#include "daemon/conns.h"
#include "daemon/metrics.h"

/* What a callback tells MHD: keep the connection, or drop it (MHD_YES, MHD_NO). */
typedef enum { HTTP_DROP = 0, HTTP_KEEP = 1 } http_ret;

typedef struct http_request http_request;
typedef http_ret (*http_fn)(http_request *r);

/* A body taken as it arrives (an upload to disk) instead of accumulated in memory. */
typedef struct {
    void (*write)(http_request *r, const char *data, size_t n);
    http_ret (*finish)(http_request *r); /* the body is complete: answer */
} http_stream;

struct http_request {
    char method[16];
    char path[256];    /* as MHD gives it (decoded, no query), cut at 255 bytes */
    char id[72];       /* the request id every answer carries */
    char *body;        /* the accumulated body, NUL-terminated; NULL when there is none */
    size_t len;        /* its length */
    const char *route; /* the metrics label (a route's pattern); "other" until one claims it */
    int oip;           /* errors in OIP v2's {"error": ...} form instead of problem+json */
    void *user;        /* http_config.user */
    /* A route's state for this request, freed by state_free(r) when the request is done. */
    void *state;
    void (*state_free)(http_request *r);

    /* http.c's own */
    struct MHD_Connection *conn;
    struct http_server *server;
    conns_entry *tracked; /* the connection's entry in the connection table; NULL if untracked */
    double t0;
    size_t cap;
    int too_large;
    int status; /* of the answer queued, for the access line; 0 = none yet */
    const http_stream *stream;
    http_fn resumed;
    atomic_int phase;
};

typedef struct http_server http_server;

typedef struct {
    const char *listen;     /* an IPv4 or IPv6 literal */
    int port;               /* 0: any free port (http_port says which) */
    int threads;            /* MHD's polling threads */
    const long *body_limit; /* bytes a body may have in memory; read per request (a reload changes it) */
    /* Connections: limits, deadlines and reserve (conns.h; closed and user are http.c's),
     * and how many one client address may hold (0: no limit). */
    conns_config conns;
    int per_client;
    metrics *met;   /* borrowed: every request is counted by route, method and status */
    http_fn begin;  /* headers read, no body yet: may answer, or claim the body (http_stream_body) */
    http_fn handle; /* the body is complete: answer, or suspend */
    void *user;     /* handed to the callbacks as r->user */
} http_config;

glia_status http_start(const http_config *cfg, http_server **out, glia_err *err);
/* The bound port (useful with port 0). */
int http_port(const http_server *h);
/* Stops accepting connections; open ones are served to the end. */
void http_quiesce(http_server *h);
/* Requests being handled now (suspended ones included). */
int http_active(const http_server *h);
/* Stops MHD's threads; no connection may be suspended any more. NULL-safe. */
void http_stop(http_server *h);

/* 1 if method is one HTTP defines (RFC 9110 9.3: GET, HEAD, POST, PUT, DELETE, CONNECT,
 * OPTIONS, TRACE; RFC 5789: PATCH), whether a route takes it or not. */
int http_method_known(const char *method);

/* A request header, or NULL. */
const char *http_header(http_request *r, const char *name);
/* A query argument (?name=value), or NULL. */
const char *http_query(http_request *r, const char *name);

/* Queues an answer: text (copied) of a type, plus one more header when name is not NULL. */
http_ret http_reply(http_request *r, int status, const char *type, const char *text, size_t len,
                    const char *name, const char *value);
/* A JSON answer (steals body; 500 if it is NULL or cannot be written). */
http_ret http_reply_json(http_request *r, int status, json_t *body);
/* The same with one more header (e.g. Location). */
http_ret http_reply_json_with(http_request *r, int status, json_t *body, const char *name, const char *value);
/* An error answer in the request's error form, with a printf-style detail. */
http_ret http_fail(http_request *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with one more header (Retry-After, Allow, WWW-Authenticate) and a plain detail. */
http_ret http_fail_with(http_request *r, int status, const char *name, const char *value, const char *detail);

/* The body parsed as JSON (Jansson's flags), or NULL with an answer queued in *ret: 400
 * saying where it is not JSON, or 503 when memory ran out while parsing (Jansson can then
 * return strings with bytes missing, so the result is refused: core/base/jsonmem.h). */
json_t *http_body_json(http_request *r, size_t flags, http_ret *ret);
/* The same for the body's first len bytes (<= r->len) alone: the JSON header of a body that
 * carries binary data after it (OIP v2's binary tensor extension). */
json_t *http_body_json_prefix(http_request *r, size_t len, size_t flags, http_ret *ret);

/* From `begin`: the body goes to s as it arrives; s->finish answers at the end. */
void http_stream_body(http_request *r, const http_stream *s);

/* Suspends the connection (MHD calls nothing for it) until http_resume; then resumed(r)
 * answers on an HTTP thread. Suspend before publishing the work that will resume it: the
 * work may finish before the handler returns. */
void http_suspend(http_request *r, http_fn resumed);
/* Resumes a suspended request; any thread, exactly once per http_suspend. */
void http_resume(http_request *r);

/* The monotonic time by which r must have run: now plus X-Request-Timeout-Ms, or plus
 * default_ms without that header. 0; or -1 with a 400 queued in *ret for a bad header. */
int http_deadline(http_request *r, long default_ms, double *deadline, http_ret *ret);

#endif
