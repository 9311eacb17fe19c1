/*
 * server.c - see server.h. The route table, and what happens between http.c's callbacks
 * and a route's handler: matching (404, 405 with Allow), the route's label and error
 * form, and its authentication. The handlers are in routes/, a file per route group.
 */
#include "daemon/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/routes/routes.h"

/* Every route gliad answers. Rows sharing a pattern list their methods in the order a
 * 405's Allow header names them. */
static const route routes[] = {
    /* the web console (issue 15): static files; the page calls the routes below */
    {"GET", "/", ROUTE_OPEN, 0, route_console_index, NULL},
    {"GET", "/console/{name}", ROUTE_OPEN, 0, route_console_file, NULL},
    {"GET", "/healthz", ROUTE_OPEN, 0, route_live, NULL},
    {"GET", "/readyz", ROUTE_OPEN, 0, route_ready, NULL},
    {"GET", "/metrics", ROUTE_OPEN, 0, route_metrics, NULL},
    {"GET", "/v1/models", ROUTE_OPEN, 0, route_models_list, NULL},
    {"POST", "/v1/predict", ROUTE_INFERENCE, 0, route_predict, NULL},
    {"GET", "/v1/models/{name}", ROUTE_OPEN, 0, route_model_get, NULL},
    {"POST", "/v1/models/{name}/predict", ROUTE_INFERENCE, 0, route_model_predict, NULL},
    {"POST", "/v1/models/{name}/explain", ROUTE_INFERENCE, 0, route_model_explain, NULL},
    {"POST", "/v1/models/{name}/reload", ROUTE_ADMIN, 0, route_model_reload, NULL},
    {"POST", "/v1/models/{name}/versions/{version}/promote", ROUTE_ADMIN, 0, route_version_promote, NULL},
    /* the model repository and version labels (issue 14) */
    {"GET", "/v1/models/{name}/labels", ROUTE_OPEN, 0, route_labels_get, NULL},
    {"PUT", "/v1/models/{name}/labels", ROUTE_ADMIN, 0, route_labels_put, NULL},
    {"POST", "/v2/repository/index", ROUTE_ADMIN, 1, route_repo_index, NULL},
    {"POST", "/v2/repository/models/{name}/load", ROUTE_ADMIN, 1, route_repo_load, NULL},
    {"POST", "/v2/repository/models/{name}/unload", ROUTE_ADMIN, 1, route_repo_unload, NULL},
    {"GET", "/v1/datasets", ROUTE_ADMIN, 0, route_datasets_list, NULL},
    {"POST", "/v1/datasets", ROUTE_ADMIN, 0, NULL, route_dataset_upload},
    {"POST", "/v1/train", ROUTE_ADMIN, 0, route_train, NULL},
    {"GET", "/v1/jobs", ROUTE_ADMIN, 0, route_jobs_list, NULL},
    {"GET", "/v1/jobs/{id}", ROUTE_ADMIN, 0, route_job_get, NULL},
    {"DELETE", "/v1/jobs/{id}", ROUTE_ADMIN, 0, route_job_cancel, NULL},
    {"POST", "/v1/jobs/{id}/cancel", ROUTE_ADMIN, 0, route_job_cancel, NULL},
    {"POST", "/v1/jobs/{id}/resume", ROUTE_ADMIN, 0, route_job_resume, NULL},
    {"GET", "/v1/jobs/{id}/history", ROUTE_ADMIN, 0, route_job_history, NULL},
    {"GET", "/v2", ROUTE_OPEN, 1, route_oip_server, NULL},
    {"GET", "/v2/health/live", ROUTE_OPEN, 1, route_live, NULL},
    {"GET", "/v2/health/ready", ROUTE_OPEN, 1, route_ready, NULL},
    {"GET", "/v2/models/{name}", ROUTE_OPEN, 1, route_oip_model, NULL},
    {"GET", "/v2/models/{name}/ready", ROUTE_OPEN, 1, route_oip_model_ready, NULL},
    {"POST", "/v2/models/{name}/infer", ROUTE_INFERENCE, 1, route_oip_infer, NULL},
    /* OIP v2 per version (issue 14) */
    {"GET", "/v2/models/{name}/versions/{version}", ROUTE_OPEN, 1, route_oip_version, NULL},
    {"GET", "/v2/models/{name}/versions/{version}/ready", ROUTE_OPEN, 1, route_oip_version_ready, NULL},
    {"POST", "/v2/models/{name}/versions/{version}/infer", ROUTE_INFERENCE, 1, route_oip_version_infer, NULL},
};

/* Constant-time comparison: the time taken does not depend on where the strings differ. */
static int same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
    return diff == 0;
}

/* The token of r's "Authorization: Bearer TOKEN" header, or NULL when there is none. */
static const char *bearer_token(http_request *r)
{
    const char *given = http_header(r, "Authorization");
    /* the scheme is case-insensitive and followed by one or more spaces (RFC 9110 11.4) */
    if (!given || strncasecmp(given, "Bearer", 6) != 0 || given[6] != ' ')
        return NULL;
    given += 6;
    while (*given == ' ')
        given++;
    return given;
}

int server_is_admin(http_request *r)
{
    const char *token = route_server(r)->d.admin_token, *given = bearer_token(r);
    return token && given && same_secret(given, token);
}

/* 0 if the row's auth class lets r in; otherwise 401/403 is queued in *ret. */
static int authorize(server *s, http_request *r, route_auth auth, http_ret *ret)
{
    const char *token = auth == ROUTE_ADMIN ? s->d.admin_token : s->d.inference_token;
    const char *what = auth == ROUTE_ADMIN ? "admin" : "inference";
    if (auth == ROUTE_OPEN || (auth == ROUTE_INFERENCE && !token))
        return 0;
    const char *given = bearer_token(r);
    if (!given) {
        *ret = http_fail_with(r, 401, "WWW-Authenticate", "Bearer",
                              "this route needs \"Authorization: Bearer TOKEN\"");
        return -1;
    }
    if (!token) {
        *ret =
            http_fail(r, 403, "the %s API is disabled: set auth.%s_token_file in gliad's config", what, what);
        return -1;
    }
    if (!same_secret(given, token)) {
        *ret = http_fail(r, 403, "the bearer token is not the %s token", what);
        return -1;
    }
    return 0;
}

/* The row takes the request: its label, error form and auth, then its handler (or begin). */
static http_ret enter(http_request *r, const router_match *m, route_fn fn)
{
    http_ret ret;
    r->route = m->row->pattern;
    r->oip = m->row->oip;
    if (authorize(route_server(r), r, m->row->auth, &ret))
        return ret;
    return fn(r, &m->params);
}

/* Headers read: a route that streams its body starts here; any other waits for its body.
 * Until a route claims it, an error (a 413 from Content-Length) is in /v2's form on /v2. */
static http_ret on_begin(http_request *r)
{
    router_match m;
    r->oip = strncmp(r->path, "/v2", 3) == 0;
    if (router_find(routes, sizeof routes / sizeof *routes, r->method, r->path, &m) == ROUTER_FOUND &&
        m.row->begin)
        return enter(r, &m, m.row->begin);
    return HTTP_KEEP;
}

static http_ret on_handle(http_request *r)
{
    router_match m;
    switch (router_find(routes, sizeof routes / sizeof *routes, r->method, r->path, &m)) {
    case ROUTER_FOUND: return enter(r, &m, m.row->handle);
    case ROUTER_WRONG_METHOD: {
        char detail[128];
        r->route = m.row->pattern;
        r->oip = m.row->oip;
        if (strcmp(r->method, "OPTIONS") == 0) /* no row takes OPTIONS: http.c answers it */
            return http_options(r, m.allow);
        snprintf(detail, sizeof detail, "%s does not take %s; use %s", r->path, r->method, m.allow);
        return http_fail_with(r, 405, "Allow", m.allow, detail);
    }
    default:
        r->oip = strncmp(r->path, "/v2/", 4) == 0;
        if (!http_method_known(r->method)) /* RFC 9110 15.6.2: a method the server does not know */
            return http_fail(r, 501, "gliad does not implement the method %s; its routes take %s", r->method,
                             "GET, HEAD, POST or DELETE");
        return http_fail(r, 404, "no route %s %s (see api-spec/openapi.yaml)", r->method, r->path);
    }
}

glia_status server_start(const server_deps *deps, server **out, glia_err *err)
{
    *out = NULL;
    server *s = calloc(1, sizeof *s);
    if (!s)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory starting the HTTP server");
    s->d = *deps;
    const config *c = deps->cfg;
    http_config hc = {.listen = c->listen,
                      .port = c->port,
                      .threads = deps->http_threads,
                      .body_limit = &c->body_limit,
                      .conns = {.max = c->max_connections,
                                .reserve = c->connections_reserve,
                                .idle_s = c->idle_timeout_ms * 1e-3,
                                .header_s = c->header_timeout_ms * 1e-3,
                                .body_s = c->body_timeout_ms * 1e-3,
                                .body_min_rate = (double)c->body_min_rate},
                      .per_client = c->connections_per_client,
                      .met = deps->met,
                      .begin = on_begin,
                      .handle = on_handle,
                      .user = s,
                      .tls = c->tls_cert_file[0] != '\0',
                      .cors = deps->cors};
    glia_status rc = http_start(&hc, &s->http, err);
    if (rc != GLIA_OK) {
        free(s);
        return rc;
    }
    *out = s;
    return GLIA_OK;
}

int server_port(const server *s)
{
    return http_port(s->http);
}

void server_set_draining(server *s)
{
    atomic_store(&s->draining, 1);
}

void server_quiesce(server *s)
{
    http_quiesce(s->http);
}

int server_active(const server *s)
{
    return http_active(s->http);
}

void server_stop(server *s)
{
    if (!s)
        return;
    http_stop(s->http);
    free(s);
}
