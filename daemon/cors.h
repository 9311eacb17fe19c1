/*
 * cors.h - Cross-Origin Resource Sharing: which browser origins may call gliad, and the
 * headers that say so (the Fetch standard's CORS protocol).
 *
 * A browser page on another origin (https://console.example.com calling gliad on
 * https://glia.example.com:8443) sends an Origin header, and before a request that is not
 * "simple" (JSON bodies, an Authorization header) a preflight: OPTIONS with
 * Access-Control-Request-Method. The browser, not the server, then enforces the answer: it
 * hands the response to the page only if Access-Control-Allow-Origin names the page's
 * origin (or is "*"). So the decision here is only which headers an answer carries; no
 * request is refused for its Origin (a client that is not a browser sends what it likes).
 *
 * The allowed origins are exact serialized origins ("scheme://host[:port]", lower case, as
 * browsers send them) or "*" alone. No Access-Control-Allow-Credentials is ever sent:
 * gliad's credential is a bearer token the page puts in an Authorization header itself,
 * which CORS allows through Access-Control-Allow-Headers; "credentials" in CORS means
 * cookies, HTTP authentication and client certificates, none of which gliad reads.
 *
 * Thread-safe: the list is replaced on reload (cors_set) while MHD's threads decide
 * (cors_decide), under one mutex held for a few string comparisons.
 */
#ifndef GLIAD_CORS_H
#define GLIAD_CORS_H

#include <stddef.h>

#include "core/base/err.h"

enum { CORS_ORIGIN_MAX = 256 };

/* The request headers gliad reads, for a preflight's Access-Control-Allow-Headers. */
#define CORS_ALLOW_HEADERS                                                                                   \
    "Content-Type, Authorization, X-Request-Id, X-Request-Timeout-Ms, Inference-Header-Content-Length"
/* The response headers a page may read besides the safelisted ones (Content-Type...). */
#define CORS_EXPOSE_HEADERS                                                                                  \
    "X-Request-Id, Inference-Header-Content-Length, Retry-After, Location, X-Model-Version"

typedef struct cors cors;

/* An empty list: no CORS headers. */
glia_status cors_new(cors **out, glia_err *err);
void cors_free(cors *c); /* NULL-safe */

/* 0 if origin may be listed in cors.allowed_origins; else -1 and why (a sentence). */
int cors_origin_check(const char *origin, char *why, size_t len);

/* Replaces the list (copied; each entry passed cors_origin_check, "*" only alone) and the
 * preflight's Access-Control-Max-Age. n == 0 turns CORS off. */
glia_status cors_set(cors *c, const char (*origins)[CORS_ORIGIN_MAX], int n, int max_age_s, glia_err *err);

typedef struct {
    int on;                             /* CORS is configured: answers carry Vary: Origin */
    int allowed;                        /* the request's Origin is allowed */
    char allow_origin[CORS_ORIGIN_MAX]; /* allowed: the Access-Control-Allow-Origin value */
    int max_age_s;                      /* for a preflight's Access-Control-Max-Age */
} cors_decision;

/* What an answer to a request with this Origin header (NULL: none) carries. c may be NULL. */
void cors_decide(cors *c, const char *origin, cors_decision *d);

#endif
