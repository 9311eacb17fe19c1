/* log.c - see log.h. JSON lines are built with Jansson, which escapes every control
 * character, so a client's bytes in a path cannot end a line or forge a field. */
#include "daemon/log.h"
#include "core/base/jsonnum.h"

#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int current_level = LOG_INFO;
static atomic_int current_json = 0;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const char *const json_level_names[] = {"error", "warn", "info", "debug"};

void log_set_json(int json)
{
    atomic_store(&current_json, json != 0);
}

static int level_index(int level)
{
    return level < 0 ? 0 : level > 3 ? 3 : level;
}

/* RFC 3339 UTC with milliseconds: "2026-11-23T03:57:34.123Z" (at most 24 bytes + NUL). */
static void format_time(char buf[32])
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

/* A string for a JSON line: as it is when it is UTF-8, else log_escape'd (Jansson refuses
 * invalid UTF-8, and a line must not be lost for it). */
static json_t *json_text(const char *s)
{
    json_t *j = json_string(s);
    if (!j) {
        char buf[1024];
        j = json_string(log_escape(s, buf, sizeof buf));
    }
    return j;
}

/* Writes j as one line and releases it; j NULL (out of memory) writes nothing. */
static void write_json_line(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | GLIA_JSON_REALS) : NULL;
    json_decref(j);
    if (!text)
        return;
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (line) {
        line[n] = '\n';
        ssize_t w = write(STDERR_FILENO, line, n + 1);
        (void)w;
        text = line;
    }
    free(text);
}

static json_t *json_line(int level)
{
    char time[32];
    format_time(time);
    return json_pack("{s:s, s:s}", "time", time, "level", json_level_names[level_index(level)]);
}

void log_set_level(int level)
{
    atomic_store(&current_level, level);
}

int log_enabled(int level)
{
    return level <= atomic_load(&current_level);
}

/* A text line: time, level, then the message (vsnprintf'd, cut at the buffer). */
static void write_text_line(int level, const char *fmt, va_list ap)
{
    char line[2048], time[32];
    format_time(time);
    int n = snprintf(line, sizeof line, "%s %s ", time, level_names[level_index(level)]);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    n = m < 0 ? n : (n + m < (int)sizeof line - 1 ? n + m : (int)sizeof line - 2);
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void log_msg(int level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    if (atomic_load(&current_json)) {
        char msg[2048];
        vsnprintf(msg, sizeof msg, fmt, ap);
        json_t *j = json_line(level);
        if (j)
            json_object_set_new(j, "msg", json_text(msg));
        write_json_line(j);
    } else {
        write_text_line(level, fmt, ap);
    }
    va_end(ap);
}

/* The numeric address of an IPv4 or IPv6 peer; 0 for any other kind. */
static int client_host(const struct sockaddr *sa, char host[NI_MAXHOST])
{
    socklen_t len = sa->sa_family == AF_INET    ? sizeof(struct sockaddr_in)
                    : sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : 0;
    return len && getnameinfo(sa, len, host, NI_MAXHOST, NULL, 0, NI_NUMERICHOST) == 0;
}

static void text_access(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void text_access(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_text_line(LOG_INFO, fmt, ap);
    va_end(ap);
}

void log_access(const log_access_line *a)
{
    if (!log_enabled(LOG_INFO))
        return;
    if (!atomic_load(&current_json)) {
        char method[64], path[1024];
        text_access("%s %s %d %.1fms id=%s", log_escape(a->method, method, sizeof method),
                    log_escape(a->path, path, sizeof path), a->status, a->seconds * 1e3, a->request_id);
        return;
    }
    json_t *j = json_line(LOG_INFO);
    if (j) {
        json_object_set_new(j, "method", json_text(a->method));
        json_object_set_new(j, "path", json_text(a->path));
        json_object_set_new(j, "status", json_integer(a->status));
        /* to the microsecond: the rest is noise of the clock */
        json_object_set_new(j, "duration_ms", json_real((double)(long long)(a->seconds * 1e6) / 1e3));
        json_object_set_new(j, "bytes", json_integer((json_int_t)a->bytes));
        if (a->model && a->model[0]) {
            json_object_set_new(j, "model", json_text(a->model));
            json_object_set_new(j, "version", json_integer(a->version));
        }
        json_object_set_new(j, "request_id", json_text(a->request_id));
        char host[NI_MAXHOST];
        if (a->client && client_host(a->client, host))
            json_object_set_new(j, "client", json_text(host));
    }
    write_json_line(j);
}

const char *log_escape(const char *s, char *buf, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = *p >= 0x20 && *p < 0x7f && *p != '\\';
        if (n + (plain ? 1 : 4) >= len)
            break;
        if (plain) {
            buf[n++] = (char)*p;
            continue;
        }
        buf[n++] = '\\';
        buf[n++] = 'x';
        buf[n++] = hex[*p >> 4];
        buf[n++] = hex[*p & 15];
    }
    buf[n] = '\0';
    return buf;
}
