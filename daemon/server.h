/*
 * server.h - gliad's HTTP front: libmicrohttpd threads parse requests, route them, decode
 * inputs, queue inference and answer. No model runs here (workers do), and nothing here
 * blocks on a worker: an inference request suspends its connection until the worker's
 * done callback resumes it, and its deadline is enforced by the queue.
 *
 * Routes: /healthz, /readyz, /metrics, /v1/models[/{name}], /v1/predict,
 * /v1/models/{name}/predict, POST /v1/models/{name}/reload (admin), training (admin:
 * POST /v1/train, GET /v1/jobs[/{id}], POST /v1/jobs/{id}/cancel|resume, DELETE
 * /v1/jobs/{id}, POST /v1/models/{name}/versions/{v}/promote), and the KServe Open
 * Inference Protocol v2 (/v2, /v2/health/{live,ready}, /v2/models/{name}[/ready|/infer]).
 * Errors on /v1 are application/problem+json (RFC 9457); on /v2 {"error": "..."} as that
 * protocol specifies. OPTIONS on any route's path is 204 with Allow, and a CORS preflight
 * from an allowed origin also gets the Access-Control-* headers (http_options).
 *
 * Inside: http.c speaks libmicrohttpd, server.c holds the route table (router.c matches
 * it), and routes/ has one file per route group.
 */
#ifndef GLIAD_SERVER_H
#define GLIAD_SERVER_H

#include "daemon/config.h"
#include "daemon/cors.h"
#include "daemon/http.h"
#include "daemon/jobs.h"
#include "daemon/metrics.h"
#include "daemon/registry.h"
#include "daemon/repository.h"
#include "daemon/workq.h"

typedef struct server server;

typedef struct {
    const config *cfg;           /* listen address/port, limits, timeouts, batching */
    registry *reg;               /* borrowed */
    workq *queue;                /* borrowed */
    metrics *met;                /* borrowed */
    const char *admin_token;     /* NULL: admin routes answer 403 (disabled) */
    const char *inference_token; /* NULL: inference is open */
    int http_threads;            /* libmicrohttpd's thread pool size */
    /* POST /v1/models/{name}/reload: called on an HTTP thread; returns 0 or fills err */
    glia_status (*reload)(void *user, const char *name, glia_err *err);
    void *user;
    jobs *jobs;     /* training jobs (admin routes /v1/train, /v1/jobs, promotion); NULL: 503 */
    datasets *data; /* uploads (admin routes /v1/datasets); NULL: 503 */
    /* CORS's allowed origins (borrowed; NULL: none). TLS is on when cfg has listen.tls, with
     * tls.h's serving pair. */
    cors *cors;
    repository *repo; /* the model repository (the /v2/repository routes, labels); NULL: none configured */
} server_deps;

glia_status server_start(const server_deps *deps, server **out, glia_err *err);
/* The bound port (useful with port 0). */
int server_port(const server *s);
/* 1 when r carries the admin token (the same check as admin routes); on open routes a
 * missing or wrong token is no error, only less to see (issue 14: no file paths). */
int server_is_admin(http_request *r);
/* /readyz answers 503 from now on; new inference is refused with 503. */
void server_set_draining(server *s);
/* Stops accepting connections; open ones are served to the end. */
void server_quiesce(server *s);
/* Requests being handled now (suspended ones included). */
int server_active(const server *s);
/* Stops the HTTP threads; call after the queue has completed every item. */
void server_stop(server *s);

#endif
