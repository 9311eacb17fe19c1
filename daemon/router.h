/*
 * router.h - a route table and the one function that matches a request against it.
 *
 * A row is the methods it takes, a path pattern, who may call it, the error form of its
 * answers and its handler. The pattern doubles as the route's label in metrics
 * (/v1/models/{name}/predict), so a metric never carries a model name or job id.
 * Matching tells three outcomes apart, as HTTP wants them: a row takes the request; the
 * path is a route's but not the method (405, Allow: the methods that path takes); no
 * route has that path (404). The router decides nothing else: authentication and the
 * answers are the caller's.
 */
#ifndef GLIAD_ROUTER_H
#define GLIAD_ROUTER_H

#include <stddef.h>

#include "daemon/http.h"

/* Who may call a route: anyone; the inference token's holder when one is configured;
 * the admin token's holder (always needed: without an admin token the route is off). */
typedef enum { ROUTE_OPEN, ROUTE_INFERENCE, ROUTE_ADMIN } route_auth;

/* What the pattern's variable segments captured. */
typedef struct {
    char name[128]; /* {name} or {id}: 1 to 127 bytes up to the next '/'; "" when the pattern has none */
    long version;   /* {version}: an integer as strtol reads it; 0 when the pattern has none */
} route_params;

typedef http_ret (*route_fn)(http_request *r, const route_params *p);

typedef struct {
    /* "GET", "POST", "DELETE"; a row taking GET takes HEAD too (MHD sends no body for it) */
    const char *method;
    /* literal segments, {name} or {id}, {version}; also the route's metrics label */
    const char *pattern;
    route_auth auth;
    int oip;         /* errors in OIP v2's {"error": ...} form */
    route_fn handle; /* the body is complete */
    route_fn begin;  /* NULL, or: headers read, before the body (a route that streams it) */
} route;

typedef enum { ROUTER_FOUND, ROUTER_WRONG_METHOD, ROUTER_NOT_FOUND } router_outcome;

typedef struct {
    const route *row; /* FOUND: the row; WRONG_METHOD: the first row with that path */
    route_params params;
    char allow[64]; /* WRONG_METHOD: the methods of every row with that path, in table order */
} router_match;

/* Matches method and path against rows[0..n). */
router_outcome router_find(const route *rows, size_t n, const char *method, const char *path,
                           router_match *m);

#endif
