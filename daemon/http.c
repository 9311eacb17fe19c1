/* http.c - see http.h. */
#include "daemon/http.h"
#include "core/base/jsonnum.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/base/jsonmem.h"
#include "core/base/utf8.h"
#include "daemon/log.h"
#include "daemon/problem.h"
#include "daemon/tls.h"
#include "daemon/workq.h" /* workq_now: the clock deadlines are kept on */

struct http_server {
    http_config cfg;
    struct MHD_Daemon *mhd;
    conns *conns;
    int port;
    atomic_int active;
};

/* What on_uri hands the first access-handler call (as *con_cls) for a request target
 * that holds a control character: only its address matters. */
static char bad_target;

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

/* What every answer carries: its request id, and CORS's headers for an allowed Origin
 * (the answer's own headers are the page's to read only if exposed). */
static void add_common_headers(http_request *r, struct MHD_Response *resp)
{
    cors_decision d;
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    cors_decide(r->server->cfg.cors, http_header(r, "Origin"), &d);
    if (d.on) /* caches must keep answers to different origins apart */
        MHD_add_response_header(resp, "Vary", "Origin");
    if (!d.allowed)
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", d.allow_origin);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
}

http_ret http_reply(http_request *r, int status, const char *type, const char *text, size_t len,
                    const char *name, const char *value)
{
    return http_reply_headers(r, status, type, text, len, &name, &value, name ? 1 : 0);
}

http_ret http_reply_headers(http_request *r, int status, const char *type, const char *text, size_t len,
                            const char *const *names, const char *const *values, int n)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return HTTP_DROP;
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    add_common_headers(r, resp);
    for (int i = 0; i < n; i++)
        MHD_add_response_header(resp, names[i], values[i]);
    if (r->model[0]) {
        char version[24];
        snprintf(version, sizeof version, "%ld", r->version);
        MHD_add_response_header(resp, "X-Model-Version", version);
    }
    r->status = status;
    r->bytes = len;
    conns_answering(r->server->conns, r->tracked, len);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret == MHD_YES ? HTTP_KEEP : HTTP_DROP;
}

void http_note_model(http_request *r, const char *name, long version)
{
    snprintf(r->model, sizeof r->model, "%s", name);
    r->version = version;
}

/* Steals j. */
static http_ret reply_json_typed(http_request *r, int status, const char *type, json_t *j, const char *name,
                                 const char *value)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | GLIA_JSON_REALS) : NULL;
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

/* s as a JSON string can hold it: itself when it is UTF-8, else log_escape'd into buf. A path
 * a client percent-encoded as invalid UTF-8 (%FF) made Jansson refuse the answer, which came
 * out as a 500 "out of memory" instead of the 4xx it was. */
static const char *utf8_or_escaped(const char *s, char *buf, size_t len)
{
    return glia_utf8_valid(s, strlen(s), NULL) ? s : log_escape(s, buf, len);
}

http_ret http_fail_with(http_request *r, int status, const char *name, const char *value, const char *detail)
{
    char detail_buf[4 * 768], path_buf[4 * sizeof r->path];
    detail = utf8_or_escaped(detail, detail_buf, sizeof detail_buf);
    const char *instance = utf8_or_escaped(r->path, path_buf, sizeof path_buf);
    if (r->oip)
        return reply_json_typed(r, status, "application/json", json_pack("{s:s}", "error", detail), name,
                                value);
    return reply_json_typed(r, status, "application/problem+json", problem_json(status, detail, instance),
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

http_ret http_options(http_request *r, const char *allow)
{
    char methods[96], max_age[16];
    cors_decision d;
    /* a row taking GET takes HEAD (router.h), and every known path now takes OPTIONS */
    snprintf(methods, sizeof methods, "%s%s, OPTIONS", allow, strstr(allow, "GET") ? ", HEAD" : "");
    cors_decide(r->server->cfg.cors, http_header(r, "Origin"), &d);
    if (!d.allowed || !http_header(r, "Access-Control-Request-Method"))
        return http_reply(r, 204, NULL, "", 0, "Allow", methods);
    snprintf(max_age, sizeof max_age, "%d", d.max_age_s);
    const char *names[] = {"Allow", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
                           "Access-Control-Max-Age"};
    const char *values[] = {methods, methods, CORS_ALLOW_HEADERS, max_age};
    return http_reply_headers(r, 204, NULL, "", 0, names, values, 4);
}

int http_method_known(const char *method)
{
    static const char *const methods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                          "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
        if (strcmp(method, methods[i]) == 0)
            return 1;
    return 0;
}

json_t *http_body_json(http_request *r, size_t flags, http_ret *ret)
{
    return http_body_json_prefix(r, r->len, flags, ret);
}

json_t *http_body_json_prefix(http_request *r, size_t len, size_t flags, http_ret *ret)
{
    json_error_t jerr;
    glia_json_watch();
    json_t *body = json_loadb(r->body ? r->body : "", r->body ? len : 0, flags, &jerr);
    if (glia_json_failed() || (!body && json_error_code(&jerr) == json_error_out_of_memory)) {
        json_decref(body);
        *ret = http_fail_with(r, 503, "Retry-After", "1", "out of memory while parsing the body");
        return NULL;
    }
    if (!body)
        *ret = http_fail(r, 400, "the body is not valid JSON: %s at line %d, column %d (byte %d)", jerr.text,
                         jerr.line, jerr.column, jerr.position);
    return body;
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

/* The connection's entry in the connection table (its socket context), or NULL. */
static conns_entry *tracked(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The path of a request target: an absolute-form target (RFC 9112 3.2.2: "http://host/p",
 * which a client talking to a proxy sends and a server must accept) is routed by its path;
 * the authority names this server whatever it says, as for the Host header. */
static const char *target_path(const char *url)
{
    const char *rest = strncasecmp(url, "http://", 7) == 0    ? url + 7
                       : strncasecmp(url, "https://", 8) == 0 ? url + 8
                                                              : NULL;
    if (!rest)
        return url;
    const char *slash = strchr(rest, '/');
    return slash ? slash : "/";
}

/* The first call: headers only. */
static enum MHD_Result begin(http_server *h, struct MHD_Connection *conn, const char *url, const char *method,
                             void **con_cls)
{
    int bad = *con_cls == &bad_target;
    http_request *r = calloc(1, sizeof *r);
    if (!r)
        return MHD_NO;
    *con_cls = r;
    r->server = h;
    r->conn = conn;
    r->tracked = tracked(conn);
    r->user = h->cfg.user;
    r->t0 = workq_now();
    r->route = "other";
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", target_path(url));
    make_request_id(r);
    atomic_fetch_add(&h->active, 1);
    conns_headers_done(h->conns, r->tracked);
    if (bad) {
        r->oip = strncmp(r->path, "/v2", 3) == 0;
        return to_mhd(http_fail(r, 400,
                                "the request target holds a control character, raw or percent-encoded "
                                "(%%00-%%1F, %%7F); no gliad route has one"));
    }
    http_ret ret = h->cfg.begin(r);
    if (ret == HTTP_DROP || r->status || r->stream)
        return to_mhd(ret);
    /* answered now, MHD drops the body unread instead of receiving what it cannot keep */
    const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)*h->cfg.body_limit)
        return to_mhd(http_fail(r, 413,
                                "the body has %s bytes; the limit is %ld (limits.body in gliad's config)", cl,
                                *h->cfg.body_limit));
    return MHD_YES;
}

/* A chunk of the body: kept up to the limit, then only counted as too large. */
static enum MHD_Result take_chunk(http_request *r, const char *data, size_t n)
{
    if (r->too_large || r->len + n > (size_t)*r->server->cfg.body_limit) {
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
    if (!r || r == (void *)&bad_target)
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
        conns_body_bytes(h->conns, r->tracked, n);
        if (!r->stream)
            return take_chunk(r, upload_data, n);
        r->stream->write(r, upload_data, n);
        return MHD_YES;
    }
    conns_request_read(h->conns, r->tracked);
    if (r->stream) {
        const http_stream *s = r->stream;
        r->stream = NULL;
        return to_mhd(s->finish(r));
    }
    if (r->too_large)
        return to_mhd(http_fail(r, 413,
                                "the body is over the limit of %ld bytes (limits.body in gliad's config)",
                                *h->cfg.body_limit));
    return to_mhd(h->cfg.handle(r));
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *h = cls;
    http_request *r = *con_cls;
    if (r == (void *)&bad_target) { /* on_uri's mark, and MHD ended the request before its headers */
        *con_cls = NULL;
        return;
    }
    if (!r)
        return;
    double seconds = workq_now() - r->t0;
    int status = r->status ? r->status : 499; /* 499: the client went away before an answer */
    conns_answered(h->conns, r->tracked);
    /* an invented method is one label, or each new one would take a series of the family */
    metrics_http(h->cfg.met, r->route, http_method_known(r->method) ? r->method : "other", status, seconds);
    const union MHD_ConnectionInfo *peer = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    log_access(&(log_access_line){.method = r->method,
                                  .path = r->path,
                                  .request_id = r->id,
                                  .model = r->model,
                                  .client = peer ? peer->client_addr : NULL,
                                  .status = status,
                                  .seconds = seconds,
                                  .bytes = r->bytes,
                                  .version = r->version});
    if (r->state_free)
        r->state_free(r);
    free(r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&h->active, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512], escaped[4 * sizeof line];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    /* MHD quotes what clients sent in some of its messages */
    log_warn("http: %s", log_escape(line, escaped, sizeof escaped));
}

/* 1 if a raw request target holds a control character, or a percent-encoded one that
 * decoding would bring back (%00 ends the decoded path, %0A starts a new log line). */
static int has_control(const char *uri)
{
    for (const unsigned char *p = (const unsigned char *)uri; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return 1;
        if (*p == '%' && (p[1] == '0' || p[1] == '1') && p[2] && strchr("0123456789abcdefABCDEF", p[2]))
            return 1;
        if (*p == '%' && p[1] == '7' && (p[2] == 'f' || p[2] == 'F'))
            return 1;
    }
    return 0;
}

/* MHD's URI callback: the request line has arrived, the headers are still to come. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_server *h = cls;
    conns_request_line(h->conns, tracked(conn));
    return has_control(uri) ? &bad_target : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conns_close(h->conns, *socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_context = ci ? conns_open(h->conns, ci->connect_fd) : NULL;
}

static void connection_closed(void *user, const char *reason)
{
    metrics_connection_closed(((http_server *)user)->cfg.met, reason);
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
    if (cfg->tls && !tls_serving()) {
        free(h);
        return glia_err_set(err, GLIA_EINVAL, "TLS is on but no certificate is loaded");
    }
    if (cfg->tls)
        flags |= MHD_USE_TLS;
    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : 1;
    h->cfg.conns.closed = connection_closed;
    h->cfg.conns.user = h;
    glia_status rc = conns_new(&h->cfg.conns, &h->conns, err);
    if (rc != GLIA_OK) {
        free(h);
        return rc;
    }
    /* MHD's own timeout restarts with every byte, so it bounds only a connection that goes
     * silent (a stalled answer too); conns bounds the slow ones. It is the idle deadline
     * rounded up, never 0 (which MHD takes as "never"). */
    unsigned idle = (unsigned)cfg->conns.idle_s + 1;
    /* the logger must come first, or MHD prints its own messages until it sees it */
    h->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
        MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
        h, MHD_OPTION_CONNECTION_TIMEOUT, idle, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->conns.max,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->per_client,
        /* TLS options last: MHD_OPTION_END in their place ends the list for plain HTTP */
        cfg->tls ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, TLS_PRIORITIES,
        MHD_OPTION_HTTPS_CERT_CALLBACK, tls_retrieve, MHD_OPTION_END);
    if (!h->mhd) {
        conns_free(h->conns);
        free(h);
        return glia_err_set(err, GLIA_EIO, "cannot listen on %s port %d (in use, or not allowed%s)",
                            cfg->listen, cfg->port,
                            cfg->tls ? ", or TLS could not be set up: see the log" : "");
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
    conns_free(h->conns); /* after MHD: its threads call into the table until they end */
    free(h);
}
