/*
 * conns.h - gliad's open connections, their deadlines and the reserve: what keeps clients
 * that connect and then send nothing, or a byte now and then, from holding every
 * connection slot.
 *
 * libmicrohttpd's own timeout is an idle timeout: every byte restarts it, so a client
 * trickling a byte every few seconds holds its connection for ever, and a thousand such
 * clients hold them all. Here a connection is in one phase at a time, and a phase has a
 * deadline counted from its start that arriving bytes do not push back:
 *   HEAD  a new connection, or a kept-alive one whose next request line has arrived,
 *         until its headers are complete: header_s
 *   BODY  headers complete, body not yet: body_s, plus the time the bytes received so
 *         far would take at body_min_rate (a large upload at a fair rate goes on)
 *   BUSY  the request is complete and its answer being made: no deadline here (the work
 *         queue has its own)
 *   WRITE the answer is queued and being sent: body_s plus its bytes at body_min_rate (a
 *         client that reads a byte now and then holds a connection like one that sends
 *         them so)
 *   IDLE  kept alive after an answer, waiting for the next request line: idle_s
 * A reaper thread shuts down (shutdown(2)) the socket of a connection past its deadline;
 * MHD then reads the end of the stream and closes the connection itself on its own
 * thread, so nothing here calls into MHD. And when a new connection takes the open count
 * past max - reserve, the oldest IDLE connection is shut down to make room for it, or else
 * the oldest HEAD or BODY one: a new client finds a slot while others hold the rest, and
 * a connection whose request is being answered (BUSY, WRITE) is never cut for it.
 *
 * Thread-safe: one mutex, taken briefly by MHD's callbacks and the reaper. A socket is
 * shut down only under the mutex while its entry is in the table, and MHD closes a socket
 * only after telling us (conns_close), so a descriptor never names another socket then.
 * Knows nothing of HTTP beyond the phases; never calls MHD.
 */
#ifndef GLIAD_CONNS_H
#define GLIAD_CONNS_H

#include "core/base/err.h"

typedef struct conns conns;
typedef struct conns_entry conns_entry;

typedef struct {
    int max;              /* open connections at most (MHD's hard limit is the same) */
    int reserve;          /* slots kept free for new clients, 1..max-1 */
    double idle_s;        /* IDLE deadline, seconds */
    double header_s;      /* HEAD deadline */
    double body_s;        /* BODY deadline before the rate allowance */
    double body_min_rate; /* bytes per second a body is allowed on top of body_s */
    /* Called (under the mutex: keep it short) for each connection shut down, with the
     * reason: "idle", "header", "body", "write" (past a deadline) or "reserve" (evicted). */
    void (*closed)(void *user, const char *reason);
    void *user;
} conns_config;

glia_status conns_new(const conns_config *cfg, conns **out, glia_err *err);
/* Stops the reaper and frees what is left; call after MHD has stopped. NULL-safe. */
void conns_free(conns *c);

/* A connection accepted on socket fd (MHD's NOTIFY_CONNECTION STARTED): in HEAD from now.
 * May shut down an older one to keep the reserve. NULL when out of memory (the
 * connection is then not tracked, and MHD's idle timeout alone bounds it). */
conns_entry *conns_open(conns *c, int fd);
/* MHD is closing the connection (NOTIFY_CONNECTION CLOSED): forget it. NULL-safe. */
void conns_close(conns *c, conns_entry *e);

/* The phase changes, each NULL-safe for an untracked connection. */
void conns_request_line(conns *c, conns_entry *e);             /* IDLE -> HEAD */
void conns_headers_done(conns *c, conns_entry *e);             /* -> BODY */
void conns_body_bytes(conns *c, conns_entry *e, size_t bytes); /* in BODY: bytes received */
void conns_request_read(conns *c, conns_entry *e);             /* -> BUSY */
void conns_answering(conns *c, conns_entry *e, size_t bytes);  /* -> WRITE, an answer of bytes */
void conns_answered(conns *c, conns_entry *e);                 /* -> IDLE (kept alive) */

/* Connections open and not yet shut down. */
int conns_count(conns *c);

#endif
