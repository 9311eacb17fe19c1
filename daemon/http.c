/* http.c - see http.h. */
#include "daemon/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/problem.h"
#include "daemon/workq.h" /* workq_now: the clock deadlines are kept on */

struct http_server {
    http_config cfg;
    struct MHD_Daemon *mhd;
    int port;
    atomic_int active;
};

/* READING until a handler suspends; RESUMED once the work is done and MHD may call again. */
typedef enum { PHASE_READING, PHASE_SUSPENDED, PHASE_RESUMED } phase;

static enum MHD_Result to_mhd(http_ret ret)
{
    return ret == HTTP_KEEP ? MHD_YES : MHD_NO;
}

/* ---- answers ---- */

const char *http_header(http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

http_ret http_reply(http_request *r, int status, const char *type, const char *text, size_t len,
                    const char *name, const char *value)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return HTTP_DROP;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    if (name)
        MHD_add_response_header(resp, name, value);
    r->status = status;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret == MHD_YES ? HTTP_KEEP : HTTP_DROP;
}

/* Steals j. */
static http_ret reply_json_typed(http_request *r, int status, const char *type, json_t *j, const char *name,
                                 const char *value)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return http_reply(r, 500, "text/plain", "out of memory\n", 14, NULL, NULL);
    http_ret ret = http_reply(r, status, type, text, strlen(text), name, value);
    free(text);
    return ret;
}

http_ret http_reply_json(http_request *r, int status, json_t *body)
{
    return reply_json_typed(r, status, "application/json", body, NULL, NULL);
}

http_ret http_reply_json_with(http_request *r, int status, json_t *body, const char *name, const char *value)
{
    return reply_json_typed(r, status, "application/json", body, name, value);
}

http_ret http_fail_with(http_request *r, int status, const char *name, const char *value, const char *detail)
{
    if (r->oip)
        return reply_json_typed(r, status, "application/json", json_pack("{s:s}", "error", detail), name,
                                value);
    return reply_json_typed(r, status, "application/problem+json", problem_json(status, detail, r->path),
                            name, value);
}

http_ret http_fail(http_request *r, int status, const char *fmt, ...)
{
    char detail[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return http_fail_with(r, status, NULL, NULL, detail);
}

/* ---- the request's life ---- */

void http_stream_body(http_request *r, const http_stream *s)
{
    r->stream = s;
}

void http_suspend(http_request *r, http_fn resumed)
{
    r->resumed = resumed;
    atomic_store(&r->phase, PHASE_SUSPENDED);
    MHD_suspend_connection(r->conn);
}

void http_resume(http_request *r)
{
    atomic_store(&r->phase, PHASE_RESUMED);
    MHD_resume_connection(r->conn);
}

int http_deadline(http_request *r, long default_ms, double *deadline, http_ret *ret)
{
    const char *h = http_header(r, "X-Request-Timeout-Ms");
    long timeout = default_ms;
    if (h) {
        char *end;
        timeout = strtol(h, &end, 10);
        if (*h == '\0' || *end != '\0' || timeout < 1 || timeout > 3600000) {
            *ret =
                http_fail(r, 400, "X-Request-Timeout-Ms must be an integer from 1 to 3600000, got '%s'", h);
            return -1;
        }
    }
    *deadline = workq_now() + timeout * 1e-3;
    return 0;
}

/* The client's X-Request-Id when it is short and plain (it goes into logs), else a new one. */
static void make_request_id(http_request *r)
{
    const char *given = http_header(r, "X-Request-Id");
    int ok = given && *given && strlen(given) <= 64;
    for (const char *c = given; ok && *c; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
             *c == '_' || *c == '.';
    if (ok) {
        snprintf(r->id, sizeof r->id, "%s", given);
        return;
    }
    static atomic_uint_fast64_t counter;
    uint64_t v = atomic_fetch_add(&counter, 1) + 1, t = (uint64_t)(workq_now() * 1e6);
    snprintf(r->id, sizeof r->id, "%08llx%08llx", (unsigned long long)(t & 0xffffffffu),
             (unsigned long long)(v & 0xffffffffu));
}

/* The first call: headers only. */
static enum MHD_Result begin(http_server *h, struct MHD_Connection *conn, const char *url, const char *method,
                             void **con_cls)
{
    http_request *r = calloc(1, sizeof *r);
    if (!r)
        return MHD_NO;
    *con_cls = r;
    r->server = h;
    r->conn = conn;
    r->user = h->cfg.user;
    r->t0 = workq_now();
    r->route = "other";
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", url);
    make_request_id(r);
    atomic_fetch_add(&h->active, 1);
    http_ret ret = h->cfg.begin(r);
    if (ret == HTTP_DROP || r->status || r->stream)
        return to_mhd(ret);
    /* answered now, MHD drops the body unread instead of receiving what it cannot keep */
    const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)h->cfg.body_limit)
        return to_mhd(http_fail(r, 413,
                                "the body has %s bytes; the limit is %ld (limits.body in gliad's config)", cl,
                                h->cfg.body_limit));
    return MHD_YES;
}

/* A chunk of the body: kept up to the limit, then only counted as too large. */
static enum MHD_Result take_chunk(http_request *r, const char *data, size_t n)
{
    if (r->too_large || r->len + n > (size_t)r->server->cfg.body_limit) {
        r->too_large = 1;
        return MHD_YES;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b)
            return MHD_NO;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_server *h = cls;
    http_request *r = *con_cls;
    if (!r)
        return begin(h, conn, url, method, con_cls);
    int ph = atomic_load(&r->phase);
    if (ph == PHASE_RESUMED)
        return to_mhd(r->resumed(r));
    if (ph == PHASE_SUSPENDED)
        return MHD_YES; /* spurious call while suspended */
    if (r->status)
        return MHD_YES; /* answered from the headers: MHD drops the body and asks nothing more */
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!r->stream)
            return take_chunk(r, upload_data, n);
        r->stream->write(r, upload_data, n);
        return MHD_YES;
    }
    if (r->stream) {
        const http_stream *s = r->stream;
        r->stream = NULL;
        return to_mhd(s->finish(r));
    }
    if (r->too_large)
        return to_mhd(http_fail(r, 413,
                                "the body is over the limit of %ld bytes (limits.body in gliad's config)",
                                h->cfg.body_limit));
    return to_mhd(h->cfg.handle(r));
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *h = cls;
    http_request *r = *con_cls;
    if (!r)
        return;
    double seconds = workq_now() - r->t0;
    int status = r->status ? r->status : 499; /* 499: the client went away before an answer */
    metrics_http(h->cfg.met, r->route, r->method, status, seconds);
    log_info("%s %s %d %.1fms id=%s", r->method, r->path, status, seconds * 1e3, r->id);
    if (r->state_free)
        r->state_free(r);
    free(r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&h->active, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_warn("http: %s", line);
}

/* ---- the server ---- */

glia_status http_start(const http_config *cfg, http_server **out, glia_err *err)
{
    *out = NULL;
    http_server *h = calloc(1, sizeof *h);
    if (!h)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory starting the HTTP server");
    h->cfg = *cfg;
    struct sockaddr_in v4 = {0};
    struct sockaddr_in6 v6 = {0};
    struct sockaddr *addr;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, cfg->listen, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons((uint16_t)cfg->port);
        addr = (struct sockaddr *)&v4;
    } else if (inet_pton(AF_INET6, cfg->listen, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons((uint16_t)cfg->port);
        addr = (struct sockaddr *)&v6;
        flags |= MHD_USE_IPv6;
    } else {
        free(h);
        return glia_err_set(err, GLIA_EINVAL, "listen address '%s' is not an IPv4 or IPv6 literal",
                            cfg->listen);
    }
    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : 1;
    /* the logger must come first, or MHD prints its own messages until it sees it */
    h->mhd = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, h,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_SOCK_ADDR, addr,
                              MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                              h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned)1024, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_END);
    if (!h->mhd) {
        free(h);
        return glia_err_set(err, GLIA_EIO, "cannot listen on %s port %d (in use, or not allowed)",
                            cfg->listen, cfg->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : cfg->port;
    *out = h;
    return GLIA_OK;
}

int http_port(const http_server *h)
{
    return h->port;
}

void http_quiesce(http_server *h)
{
    MHD_socket fd = MHD_quiesce_daemon(h->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

int http_active(const http_server *h)
{
    return atomic_load(&((http_server *)h)->active);
}

void http_stop(http_server *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->mhd);
    free(h);
}
