/*
 * test_conns.c - gliad's connection table on socket pairs: a connection past the deadline
 * of its phase is shut down (its peer reads the end of the stream) and counted by reason,
 * a body's deadline (and an answer's) grows with its bytes at the minimum rate, a request
 * being answered is never cut; past max - reserve a new connection evicts the oldest idle one, else the
 * oldest unfinished one, never itself nor a busy one. Deadlines are 0.2 s; every wait for a closure is a
 * bound on a hang (30 s), never a measure of speed.
 */
#include "daemon/conns.h"
#include "tests/support/check_main.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int header, body, write, idle, reserve;
} tally;

static void count(void *user, const char *reason)
{
    tally *t = user;
    if (strcmp(reason, "header") == 0)
        t->header++;
    else if (strcmp(reason, "body") == 0)
        t->body++;
    else if (strcmp(reason, "write") == 0)
        t->write++;
    else if (strcmp(reason, "idle") == 0)
        t->idle++;
    else if (strcmp(reason, "reserve") == 0)
        t->reserve++;
}

typedef struct {
    int fd[2]; /* fd[0] the server's side, tracked; fd[1] the client's */
    conns_entry *e;
} pair;

static void open_pair(conns *c, pair *p)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
    p->e = conns_open(c, p->fd[0]);
    ck_assert_ptr_nonnull(p->e);
}

static void close_pair(conns *c, pair *p)
{
    conns_close(c, p->e);
    close(p->fd[0]);
    close(p->fd[1]);
}

/* 1 once the client's side reads the end of the stream, waiting up to wait_ms. */
static int shut_down(const pair *p, int wait_ms)
{
    struct pollfd pf = {.fd = p->fd[1], .events = POLLIN};
    char b;
    return poll(&pf, 1, wait_ms) == 1 && read(p->fd[1], &b, 1) == 0;
}

enum { HANG_MS = 30000 };

/* A table of max connections with reserve, every deadline deadline_s, counting into t. */
static conns *table(int max, int reserve, double deadline_s, double min_rate, tally *t)
{
    conns_config cfg = {.max = max,
                        .reserve = reserve,
                        .idle_s = deadline_s,
                        .header_s = deadline_s,
                        .body_s = deadline_s,
                        .body_min_rate = min_rate,
                        .closed = count,
                        .user = t};
    conns *c = NULL;
    glia_err err = {0};
    ck_assert_msg(conns_new(&cfg, &c, &err) == GLIA_OK, "%s", err.msg);
    return c;
}

START_TEST(deadlines_by_phase)
{
    tally t = {0};
    conns *c = table(100, 10, 0.2, 1000, &t);
    pair head, body, big, busy, answer, long_answer;
    open_pair(c, &head);
    open_pair(c, &body);
    open_pair(c, &big);
    open_pair(c, &busy);
    open_pair(c, &answer);
    open_pair(c, &long_answer);
    conns_request_line(c, head.e); /* not IDLE: the HEAD deadline still runs from the accept */
    conns_headers_done(c, body.e);
    conns_body_bytes(c, body.e, 10); /* 10 ms more at 1000 B/s */
    conns_headers_done(c, big.e);
    conns_body_bytes(c, big.e, 1000000); /* 1000 s more */
    conns_request_read(c, busy.e);
    conns_answering(c, answer.e, 10);           /* an answer the client does not read */
    conns_answering(c, long_answer.e, 1000000); /* one it may take 1000 s more to read */
    ck_assert(shut_down(&head, HANG_MS));
    ck_assert(shut_down(&body, HANG_MS));
    ck_assert(shut_down(&answer, HANG_MS));
    /* the other two are past the 0.2 s too, but a large body at its rate goes on, and a
     * request being answered has no deadline here */
    ck_assert(!shut_down(&big, 300));
    ck_assert(!shut_down(&busy, 0));
    ck_assert(!shut_down(&long_answer, 0));
    ck_assert_int_eq(conns_count(c), 3);
    /* kept alive after its answer: the idle deadline */
    conns_answered(c, busy.e);
    ck_assert(shut_down(&busy, HANG_MS));
    ck_assert_int_eq(t.header, 1);
    ck_assert_int_eq(t.body, 1);
    ck_assert_int_eq(t.idle, 1);
    ck_assert_int_eq(t.write, 1);
    ck_assert_int_eq(t.reserve, 0);
    ck_assert_int_eq(conns_count(c), 2);
    close_pair(c, &head);
    close_pair(c, &body);
    close_pair(c, &busy);
    close_pair(c, &answer);
    close_pair(c, &long_answer);
    conns_free(c); /* big is still in the table: freed here */
    close(big.fd[0]);
    close(big.fd[1]);
}
END_TEST

START_TEST(reserve_evicts_the_least_useful)
{
    tally t = {0};
    conns *c = table(4, 1, 3600, 1, &t);
    pair p[8];
    open_pair(c, &p[0]);
    open_pair(c, &p[1]);
    open_pair(c, &p[2]);
    conns_request_read(c, p[0].e); /* kept alive after an answer */
    conns_answered(c, p[0].e);
    conns_request_read(c, p[1].e); /* busy */
    conns_headers_done(c, p[2].e); /* its body on the way */
    ck_assert_int_eq(conns_count(c), 3);
    /* over max - reserve: the idle one goes first, though it is not the oldest */
    open_pair(c, &p[3]);
    ck_assert(shut_down(&p[0], 0));
    ck_assert(!shut_down(&p[2], 0));
    /* then the oldest unfinished request, never the newcomer */
    open_pair(c, &p[4]);
    ck_assert(shut_down(&p[2], 0));
    ck_assert(!shut_down(&p[3], 0));
    open_pair(c, &p[5]);
    ck_assert(shut_down(&p[3], 0));
    ck_assert(!shut_down(&p[4], 0) && !shut_down(&p[5], 0));
    /* when only busy ones are left besides the newcomer, nobody goes */
    conns_request_read(c, p[4].e);
    conns_request_read(c, p[5].e);
    open_pair(c, &p[6]);
    ck_assert_int_eq(conns_count(c), 4);
    ck_assert(!shut_down(&p[1], 0) && !shut_down(&p[4], 0) && !shut_down(&p[5], 0) && !shut_down(&p[6], 0));
    ck_assert_int_eq(t.reserve, 3);
    ck_assert_int_eq(t.header + t.body + t.write + t.idle, 0);
    /* closed connections free their slots: the next newcomer evicts nobody */
    close_pair(c, &p[1]);
    close_pair(c, &p[4]);
    open_pair(c, &p[7]);
    ck_assert_int_eq(conns_count(c), 3);
    ck_assert_int_eq(t.reserve, 3);
    for (int i = 0; i < 8; i++)
        if (i != 1 && i != 4)
            close_pair(c, &p[i]);
    ck_assert_int_eq(conns_count(c), 0);
    conns_free(c);
}
END_TEST

START_TEST(bad_config_refused)
{
    conns *c = NULL;
    glia_err err = {0};
    conns_config cfg = {.max = 4, .reserve = 4, .idle_s = 1, .header_s = 1, .body_s = 1, .body_min_rate = 1};
    ck_assert_int_eq(conns_new(&cfg, &c, &err), GLIA_EINVAL);
    ck_assert_ptr_null(c);
    ck_assert(strstr(err.msg, "reserve"));
    conns_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conns");
    TCase *tc = tcase_create("conns");
    tcase_add_test(tc, deadlines_by_phase);
    tcase_add_test(tc, reserve_evicts_the_least_useful);
    tcase_add_test(tc, bad_config_refused);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
