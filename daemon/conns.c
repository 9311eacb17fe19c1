/* conns.c - see conns.h. */
#include "daemon/conns.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "daemon/workq.h" /* workq_now: the clock deadlines are kept on */

/* How often the reaper looks: deadlines are seconds, a tenth of one is close enough. */
#define REAP_EVERY_S 0.1

typedef enum { PHASE_HEAD, PHASE_BODY, PHASE_BUSY, PHASE_WRITE, PHASE_IDLE } conn_phase;

/* Why a connection past its phase's deadline was shut down (the metrics label). */
static const char *const late[] = {
    [PHASE_HEAD] = "header", [PHASE_BODY] = "body", [PHASE_WRITE] = "write", [PHASE_IDLE] = "idle"};

struct conns_entry {
    int fd;
    conn_phase phase;
    double since; /* the phase's start (workq_now) */
    double bytes; /* BODY: bytes received; WRITE: bytes to send */
    int shut;     /* shut down already; MHD has yet to close it */
    conns_entry *prev, *next;
};

struct conns {
    conns_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t reaper;
    int stopping;
    int live; /* in the list and not shut */
    conns_entry *head, *tail;
};

/* With c->mu held: the deadline of e's phase, or 0 when it has none. */
static double deadline(const conns *c, const conns_entry *e)
{
    switch (e->phase) {
    case PHASE_HEAD: return e->since + c->cfg.header_s;
    case PHASE_BODY:
    case PHASE_WRITE: return e->since + c->cfg.body_s + e->bytes / c->cfg.body_min_rate;
    case PHASE_IDLE: return e->since + c->cfg.idle_s;
    default: return 0;
    }
}

/* With c->mu held. MHD sees the stream end and closes the connection on its thread. */
static void shut(conns *c, conns_entry *e, const char *reason)
{
    shutdown(e->fd, SHUT_RDWR);
    e->shut = 1;
    c->live--;
    if (c->cfg.closed)
        c->cfg.closed(c->cfg.user, reason);
}

/* With c->mu held: the oldest connection not shut down, other than skip, that is IDLE, or
 * (incomplete) whose request is not read yet (HEAD or BODY); NULL if there is none. */
static conns_entry *oldest(conns *c, int incomplete, const conns_entry *skip)
{
    conns_entry *best = NULL;
    for (conns_entry *e = c->head; e; e = e->next) {
        int match = incomplete ? (e->phase == PHASE_HEAD || e->phase == PHASE_BODY) : e->phase == PHASE_IDLE;
        if (e != skip && !e->shut && match && (!best || e->since < best->since))
            best = e;
    }
    return best;
}

/* With c->mu held: shut connections down, the least useful first (kept-alive idle ones,
 * then unfinished requests), until the reserve is free again or only busy ones are left.
 * The newcomer is never the victim: it is the client the reserve is for. */
static void keep_reserve(conns *c, const conns_entry *newcomer)
{
    while (c->live > c->cfg.max - c->cfg.reserve) {
        conns_entry *victim = oldest(c, 0, newcomer);
        if (!victim)
            victim = oldest(c, 1, newcomer);
        if (!victim)
            return;
        shut(c, victim, "reserve");
    }
}

static void *reap(void *arg)
{
    conns *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        double now = workq_now();
        for (conns_entry *e = c->head; e; e = e->next) {
            double due = e->shut ? 0 : deadline(c, e);
            if (due > 0 && now > due)
                shut(c, e, late[e->phase]);
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long ns = ts.tv_nsec + (long)(REAP_EVERY_S * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&c->wake, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

glia_status conns_new(const conns_config *cfg, conns **out, glia_err *err)
{
    *out = NULL;
    if (cfg->max < 2 || cfg->reserve < 1 || cfg->reserve >= cfg->max || cfg->body_min_rate <= 0)
        return glia_err_set(err, GLIA_EINVAL, "connection limits: need 1 <= reserve < max and a rate > 0");
    conns *c = calloc(1, sizeof *c);
    if (!c)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for the connection table");
    c->cfg = *cfg;
    pthread_condattr_t ca;
    int made = 0;
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        goto fail;
    made = 1;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    /* the reaper waits on the clock workq_now reads, immune to wall-clock steps */
    int ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&c->wake, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok)
        goto fail;
    made = 2;
    if (pthread_create(&c->reaper, NULL, reap, c) != 0)
        goto fail;
    *out = c;
    return GLIA_OK;
fail:
    if (made >= 2)
        pthread_cond_destroy(&c->wake);
    if (made >= 1)
        pthread_mutex_destroy(&c->mu);
    free(c);
    return glia_err_set(err, GLIA_ENOMEM, "cannot start the connection reaper");
}

void conns_free(conns *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->reaper, NULL);
    for (conns_entry *e = c->head, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

conns_entry *conns_open(conns *c, int fd)
{
    conns_entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->fd = fd;
    e->phase = PHASE_HEAD;
    e->since = workq_now();
    pthread_mutex_lock(&c->mu);
    e->prev = c->tail;
    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
    c->live++;
    keep_reserve(c, e);
    pthread_mutex_unlock(&c->mu);
    return e;
}

void conns_close(conns *c, conns_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&c->mu);
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    if (!e->shut)
        c->live--;
    pthread_mutex_unlock(&c->mu);
    free(e);
}

/* Moves e to phase from now, with `bytes` to send (WRITE); when only_from is not -1, only
 * from that phase. */
static void set_phase(conns *c, conns_entry *e, conn_phase phase, int only_from, size_t bytes)
{
    if (!e)
        return;
    pthread_mutex_lock(&c->mu);
    if (only_from < 0 || e->phase == (conn_phase)only_from) {
        e->phase = phase;
        e->since = workq_now();
        e->bytes = (double)bytes;
    }
    pthread_mutex_unlock(&c->mu);
}

void conns_request_line(conns *c, conns_entry *e)
{
    /* a new connection's HEAD runs from its accept: its request line does not restart it */
    set_phase(c, e, PHASE_HEAD, PHASE_IDLE, 0);
}

void conns_headers_done(conns *c, conns_entry *e)
{
    set_phase(c, e, PHASE_BODY, -1, 0);
}

void conns_body_bytes(conns *c, conns_entry *e, size_t bytes)
{
    if (!e)
        return;
    pthread_mutex_lock(&c->mu);
    e->bytes += (double)bytes;
    pthread_mutex_unlock(&c->mu);
}

void conns_request_read(conns *c, conns_entry *e)
{
    set_phase(c, e, PHASE_BUSY, -1, 0);
}

void conns_answering(conns *c, conns_entry *e, size_t bytes)
{
    set_phase(c, e, PHASE_WRITE, -1, bytes);
}

void conns_answered(conns *c, conns_entry *e)
{
    set_phase(c, e, PHASE_IDLE, -1, 0);
}

int conns_count(conns *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->live;
    pthread_mutex_unlock(&c->mu);
    return n;
}
