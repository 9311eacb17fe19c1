/*
 * fuzz_support.c - see fuzz_support.h.
 */
#define _GNU_SOURCE /* nftw's FTW_DEPTH | FTW_PHYS */
#include "tests/fuzz/fuzz_support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/server.h"
#include "daemon/workq.h"

/* A set-up step that fails leaves the harness unable to test anything: stop loudly. */
static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz setup: %s: %s\n", what, detail);
    abort();
}

static char scratch[512];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

void fuzz_remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_scratch(void)
{
    if (scratch[0])
        fuzz_remove_tree(scratch);
}

const char *fuzz_dir(void)
{
    if (!scratch[0]) {
        /* memory-backed when there is one: truncating and rewriting a file on a journalled
         * disk costs milliseconds, a hundred times the parse */
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp)
            tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(scratch, sizeof scratch, "%s/glia-fuzz.XXXXXX", tmp);
        if (!mkdtemp(scratch))
            die("mkdtemp", strerror(errno));
        atexit(remove_scratch);
    }
    return scratch;
}

const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        die(path, strerror(errno));
    for (size_t done = 0; done < size;) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0)
            die(path, strerror(errno));
        done += (size_t)w;
    }
    close(fd);
    return path;
}

/* ---- the shipped models ---- */

static const char *const shipped[] = {"fashion-cnn", "sentiment-lstm", "translate-en-es"};
enum { NSHIPPED = sizeof shipped / sizeof shipped[0] };

/* One registry per model, so that a harness loads only the model it fuzzes. */
static registry *loaded[NSHIPPED];

static registry *load(int i)
{
    if (!loaded[i]) {
        char path[1024];
        snprintf(path, sizeof path, "%s/models/%s", GLIA_SOURCE_ROOT, shipped[i]);
        const char *names[] = {shipped[i]}, *paths[] = {path};
        if (!(loaded[i] = registry_new()) || registry_sync(loaded[i], names, paths, 1, 0) != 0)
            die("cannot load the shipped model", path);
    }
    return loaded[i];
}

registry_model *fuzz_model(const char *name)
{
    for (int i = 0; i < NSHIPPED; i++)
        if (strcmp(name, shipped[i]) == 0) {
            registry_model *m = registry_get(load(i), name);
            if (!m)
                die("model not served", name);
            /* the registry keeps its own reference for the life of the process */
            registry_model_unref(m);
            return m;
        }
    die("not a shipped model", name);
    return NULL;
}

/* ---- an in-process gliad front ---- */

static struct {
    config cfg;
    registry *reg;
    workq *queue;
    metrics *met;
    server *srv;
    int port;
    cors *cors; /* one allowed origin, so that Origin and preflight headers take CORS's paths */
} front;

/* POST /v1/models/{name}/reload answers as if the bundle was read again: a real reload
 * costs a third of a second under ASan, which an input the fuzzer keeps would pay on every
 * mutation; bundles are fuzzed by fuzz_manifest and fuzz_safetensors instead. */
static glia_status reload_model(void *user, const char *name, glia_err *err)
{
    registry_model *m = registry_get(front.reg, name);
    if (!m)
        return glia_err_set(err, GLIA_ENOTFOUND, "no model named '%s' is configured", name);
    registry_model_unref(m);
    return GLIA_OK;
}

/* The two quick shipped models (translation decodes for seconds under ASan: its codec has a
 * harness of its own), one worker, short deadlines, a 1 MiB body limit. Uploads and training
 * jobs are off (503): they have harnesses of their own (fuzz_datasets, fuzz_trainreq). */
static void start_front(void)
{
    glia_err err = {0};
    char paths[2][1024];
    const char *names[] = {"fashion-cnn", "sentiment-lstm"}, *p[2] = {paths[0], paths[1]};
    for (int i = 0; i < 2; i++)
        snprintf(paths[i], sizeof paths[i], "%s/models/%s", GLIA_SOURCE_ROOT, names[i]);
    signal(SIGPIPE, SIG_IGN);
    /* an access line per execution would bury the fuzzer's own report */
    log_set_level(LOG_ERROR);
    config_defaults(&front.cfg);
    snprintf(front.cfg.listen, sizeof front.cfg.listen, "127.0.0.1");
    front.cfg.port = 0;
    front.cfg.request_timeout_ms = 2000;
    front.cfg.body_limit = 1 << 20;
    if (!(front.reg = registry_new()) || registry_sync(front.reg, names, p, 2, 0) != 0)
        die("registry", "cannot load fashion-cnn and sentiment-lstm");
    if (metrics_new(GLIA_VERSION, &front.met, &err) != GLIA_OK)
        die("metrics", err.msg);
    workq_config qc = {.workers = 1, .capacity = 64, .max_batch = 32};
    if (workq_new(&qc, NULL, NULL, &front.queue, &err) != GLIA_OK)
        die("workq", err.msg);
    static const char origins[][CORS_ORIGIN_MAX] = {"https://fuzz.example"};
    if (cors_new(&front.cors, &err) != GLIA_OK || cors_set(front.cors, origins, 1, 600, &err) != GLIA_OK)
        die("cors", err.msg);
    server_deps deps = {&front.cfg,   front.reg, front.queue, front.met, FUZZ_ADMIN_TOKEN, NULL, 1,
                        reload_model, NULL,      NULL,        NULL,      front.cors,       NULL};
    if (server_start(&deps, &front.srv, &err) != GLIA_OK)
        die("server", err.msg);
    front.port = server_port(front.srv);
}

/* A generous bound on one exchange: far above any answer of a 1 MiB request on a busy
 * machine, so only a hang reaches it. */
enum { EXCHANGE_LIMIT_MS = 60000 };

int fuzz_http(const uint8_t *request, size_t len)
{
    if (!front.srv)
        start_front();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)front.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* libFuzzer's timers interrupt system calls: an interrupted connect is tried again on a
     * new socket (the interrupted one may still be connecting) */
    int fd = -1, rc;
    do {
        if (fd >= 0)
            close(fd);
        if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
            die("socket", strerror(errno));
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0)
        die("connect", strerror(errno));
    /* the server may answer (and close) before reading everything: a failed send is fine */
    for (size_t done = 0; done < len;) {
        ssize_t w = send(fd, request + done, len - done, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    char buf[4096], head[16] = "";
    size_t got = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
            die("poll", strerror(errno));
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            break;
        if (r > 0 && got < sizeof head - 1) {
            size_t take = (size_t)r < sizeof head - 1 - got ? (size_t)r : sizeof head - 1 - got;
            memcpy(head + got, buf, take);
            got += take;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 > EXCHANGE_LIMIT_MS)
            die("hang", "gliad neither answered nor closed the connection");
    }
    close(fd);
    head[got] = '\0';
    int status = 0;
    if (strncmp(head, "HTTP/1.", 7) == 0)
        status = atoi(head + 9);
    return status;
}
