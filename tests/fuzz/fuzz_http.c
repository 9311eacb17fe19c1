/*
 * fuzz_http.c - HTTP requests to a real gliad front on a loopback port: request lines,
 * headers (Authorization, X-Request-Id, X-Request-Timeout-Ms, Content-Type, ...), the route
 * table, authentication, and whatever body follows. libmicrohttpd's own parser is not
 * instrumented; gliad's side of every request is.
 *
 * The input is a request head and a body (split at the first empty line). The harness frames
 * it: it drops the head's Content-Length, Transfer-Encoding and Connection lines and adds a
 * Content-Length that matches the body and "Connection: close", because a request whose
 * framing promises more bytes than it has would wait for the server's idle timeout (tens of
 * seconds) instead of being answered, and the fuzzer would do nothing else.
 */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/fuzz/fuzz_support.h"

/* 1 if the header line [s, s+len) is one the harness sets itself. */
static int framing(const char *s, size_t len)
{
    static const char *const names[] = {"content-length:", "transfer-encoding:", "connection:"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]);
        if (len >= n && strncasecmp(s, names[i], n) == 0)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *end = memmem(in, size, "\r\n\r\n", 4);
    size_t head_len = end ? (size_t)(end - in) : size;
    const char *body = end ? end + 4 : in + size;
    size_t body_len = (size_t)(in + size - body);
    /* each line may gain a CR; the framing adds less than 128 bytes */
    char *req = malloc(2 * size + 128), *w = req;
    if (!req)
        return 0;
    /* the head's lines, '\n' or "\r\n" ended, written back with "\r\n" */
    for (const char *line = in; line < in + head_len;) {
        const char *nl = memchr(line, '\n', (size_t)(in + head_len - line));
        const char *stop = nl ? nl : in + head_len;
        size_t len = (size_t)(stop - line);
        if (len && line[len - 1] == '\r')
            len--;
        if (line == in || !framing(line, len)) {
            memcpy(w, line, len);
            w += len;
            *w++ = '\r';
            *w++ = '\n';
        }
        line = stop + 1;
    }
    w += sprintf(w, "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
    memcpy(w, body, body_len);
    w += body_len;
    fuzz_http((const uint8_t *)req, (size_t)(w - req));
    free(req);
    return 0;
}
