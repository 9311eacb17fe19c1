/*
 * log.h - gliad's log lines on stderr (journald collects them under systemd).
 *
 * One line per event: "2026-11-23T03:57:34.123Z LEVEL message", or with log.format json
 * one JSON object per line ({"time", "level", "msg"}; access lines carry their fields
 * instead of msg), so that a log shipper parses every line. Thread-safe: a line is written
 * with one write(2). Never pass secrets (tokens) to these functions.
 */
#ifndef GLIAD_LOG_H
#define GLIAD_LOG_H

#include <stddef.h>

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(int level);
/* 0: text lines (the default), 1: JSON lines; switched whole lines at a time (SIGHUP). */
void log_set_json(int json);
int log_enabled(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* s as it may go into a log line: every byte outside printable ASCII, and the backslash,
 * written as \xHH, so that what a client sent (a path, a method) can neither start a
 * forged line nor hide as a terminal escape. Into buf (len > 0, cut short at a whole
 * escape when it is full); returns buf. */
const char *log_escape(const char *s, char *buf, size_t len);

/* One request's access line, at info level. Strings are borrowed; what the client chose
 * (method, path) is escaped here: by log_escape in text, by Jansson in JSON. model is ""
 * when the request ran none (version is then ignored); client is the peer's address (may be
 * NULL), written as a numeric host only in JSON lines (text lines are as they always were). */
struct sockaddr;
typedef struct {
    const char *method, *path, *request_id, *model;
    const struct sockaddr *client;
    int status;
    double seconds;
    size_t bytes;
    long version;
} log_access_line;
void log_access(const log_access_line *a);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
