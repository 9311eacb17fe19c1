/*
 * gliad.c - the serving daemon's main: configuration, models, worker pool, HTTP, signals.
 *
 *   gliad --config etc/gliad.yaml [--listen ADDR] [--port N] [--check]
 *   gliad --version   (version, git revision, OpenBLAS core and threads)
 *
 * Signals are handled by the main thread (handlers only write to a pipe):
 *   SIGHUP          re-read the config and reload changed models (a bad config or a
 *                   failing bundle leaves what serves untouched), the TLS certificate and
 *                   key (a pair that does not load leaves the serving one) and the CORS
 *                   origins, on a thread of its own;
 *                   SIGHUPs that arrive while a reload runs make one more reload, not one
 *                   each
 *   SIGTERM/SIGINT  drain: /readyz turns 503, stop accepting, finish queued and running
 *                   work (bounded by drain_timeout_ms), exit 0; no reload starts after it,
 *                   and the drain does not wait for the reloads that were asked for
 * Under systemd (Type=notify) READY=1 is sent once the models are loaded, RELOADING=1 /
 * READY=1 around a reload and STOPPING=1 at the start of a drain, to $NOTIFY_SOCKET.
 */
#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/base/jsonmem.h"
#include "core/nn/version.h"
#include "daemon/config.h"
#include "daemon/jobs.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/registry.h"
#include "daemon/repository.h"
#include "daemon/server.h"
#include "daemon/tls.h"
#include "daemon/workq.h"

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(signal_pipe[1], &b, 1);
    (void)w;
    errno = saved;
}

/* SIGHUP's reloads run on this thread so that the main thread always sees SIGTERM at once.
 * A reload reads the whole config, so one reload after the last SIGHUP gives the state that
 * one reload per signal would: signals that arrive while one runs set `pending` once. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* pending, stopping or finished changed */
    int pending;       /* a SIGHUP came after the running reload began */
    int stopping;      /* gliad drains: no reload starts, and none says READY=1 */
    int finished;      /* the thread has returned (or is about to) */
    pthread_t thread;
    int started;
} reloader;

typedef struct {
    const char *config_path;
    const char *listen, *port;    /* command-line overrides, or NULL */
    const char *admin_token_file; /* --admin-token-file: overrides auth.admin_token_file */
    config cfg;
    registry *reg;
    workq *queue;
    metrics *met;
    jobs *jobs;
    datasets *data;
    server *http;
    reloader rl;
    cors *cors;       /* cors.allowed_origins, replaced on reload */
    repository *repo; /* NULL without model_repository */
} daemon_state;

/* sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET (path or abstract). */
static void notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path || (path[0] != '/' && path[0] != '@'))
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof sa.sun_path)
        return;
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (sendto(fd, state, strlen(state), 0, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        log_warn("cannot notify systemd: %s", strerror(errno));
    close(fd);
}

static glia_status load_config(daemon_state *d, config *cfg, glia_err *err)
{
    glia_status rc = config_load(d->config_path, cfg, err);
    if (rc)
        return rc;
    if (d->listen)
        snprintf(cfg->listen, sizeof cfg->listen, "%s", d->listen);
    if (d->port) {
        char *end;
        long p = strtol(d->port, &end, 10);
        if (*end || p < 0 || p > 65535) {
            config_free(cfg);
            return glia_err_set(err, GLIA_EINVAL, "--port must be 0..65535, got '%s'", d->port);
        }
        cfg->port = (int)p;
    }
    if (d->admin_token_file) {
        if (strlen(d->admin_token_file) >= sizeof cfg->admin_token_file) {
            config_free(cfg);
            return glia_err_set(err, GLIA_EINVAL, "--admin-token-file is too long");
        }
        snprintf(cfg->admin_token_file, sizeof cfg->admin_token_file, "%s", d->admin_token_file);
    }
    return GLIA_OK;
}

/* The config's precision overrides (models[] and repository.models[]) into the registry. */
static glia_status set_precisions(daemon_state *d, const config *cfg)
{
    const int n = cfg->nmodels + cfg->nrepo_models;
    const char **names = calloc((size_t)n + 1, sizeof *names);
    int *precs = calloc((size_t)n + 1, sizeof *precs), k = 0;
    glia_status rc = GLIA_ENOMEM;
    if (names && precs) {
        for (int i = 0; i < cfg->nmodels; i++)
            if (cfg->models[i].precision >= 0) {
                names[k] = cfg->models[i].name;
                precs[k++] = cfg->models[i].precision;
            }
        for (int i = 0; i < cfg->nrepo_models; i++)
            if (cfg->repo_models[i].precision >= 0) {
                names[k] = cfg->repo_models[i].name;
                precs[k++] = cfg->repo_models[i].precision;
            }
        rc = registry_set_precisions(d->reg, names, precs, k);
    }
    free(names);
    free(precs);
    return rc;
}

/* Loads or reloads the configured models; failures are counted and logged. */
static int sync_models(daemon_state *d, const config *cfg, int force)
{
    const char **names = calloc((size_t)cfg->nmodels + 1, sizeof *names);
    const char **paths = calloc((size_t)cfg->nmodels + 1, sizeof *paths);
    if (!names || !paths) {
        free(names);
        free(paths);
        return -1;
    }
    char(*serving)[4096] = calloc((size_t)cfg->nmodels + 1, sizeof *serving);
    if (!serving) {
        free(names);
        free(paths);
        return -1;
    }
    if (set_precisions(d, cfg) != GLIA_OK) {
        free(names);
        free(paths);
        free(serving);
        return -1;
    }
    for (int i = 0; i < cfg->nmodels; i++) {
        names[i] = cfg->models[i].name;
        /* a promoted trained version serves instead of the configured bundle */
        const char *promoted =
            d->jobs ? jobs_serving_path(d->jobs, names[i], serving[i], sizeof serving[i]) : NULL;
        paths[i] = promoted ? promoted : cfg->models[i].path;
    }
    int failures = registry_sync(d->reg, names, paths, cfg->nmodels, force);
    if (failures > 0) {
        registry_entry *e;
        int n = registry_list(d->reg, &e);
        for (int i = 0; i < n; i++) /* the repository's models count their own failures */
            if (e[i].last_error[0] && !e[i].repository)
                metrics_model_load_failure(d->met, e[i].name);
        registry_list_free(e, n > 0 ? n : 0);
    }
    free(names);
    free(paths);
    free(serving);
    return failures;
}

/* jobs_config.model_path: the bundle a name is configured with (the current config). */
static const char *configured_path(void *user, const char *name, char *buf, size_t len)
{
    daemon_state *d = user;
    for (int i = 0; i < d->cfg.nmodels; i++)
        if (strcmp(d->cfg.models[i].name, name) == 0) {
            snprintf(buf, len, "%s", d->cfg.models[i].path);
            return buf;
        }
    /* a repository model: its default version's bundle (what training starts from) */
    registry_model *m = d->repo && repository_has(d->repo, name) ? registry_get(d->reg, name) : NULL;
    if (m)
        snprintf(buf, len, "%s", m->path);
    registry_model_unref(m);
    return m ? buf : NULL;
}

static glia_status reload_one(void *user, const char *name, glia_err *err)
{
    daemon_state *d = user;
    glia_status rc = d->repo && repository_has(d->repo, name) ? repository_load(d->repo, name, err)
                                                              : registry_reload(d->reg, name, err);
    if (rc == GLIA_EINVAL || rc == GLIA_EFORMAT || rc == GLIA_EIO)
        metrics_model_load_failure(d->met, name);
    return rc;
}

/* limits.model_workers, 0 = automatic: with several models, one worker stays out of any
 * single model's reach, so that a model whose requests are slow (long translations) can
 * never hold every worker while the others' requests wait; with one model (or one worker)
 * a cap would only idle workers. */
static int model_workers(const config *cfg, int workers)
{
    if (cfg->model_workers > 0)
        return cfg->model_workers;
    return workers > 1 && cfg->nmodels > 1 ? workers - 1 : 0;
}

/* ---- TLS and CORS (issue 14) ---- */

/* Reads and checks cfg's certificate and key (tls.h) and serves them to new handshakes. */
static glia_status serve_tls(const config *cfg, glia_err *err)
{
    tls_pair *p;
    char what[160];
    glia_status rc = tls_pair_load(cfg->tls_cert_file, cfg->tls_key_file, &p, err);
    if (rc)
        return rc;
    tls_pair_describe(p, what, sizeof what);
    if (tls_serve(p)) /* steals p */
        log_info("TLS: serving %s (%s)", cfg->tls_cert_file, what);
    else
        log_info("TLS: %s is unchanged (%s)", cfg->tls_cert_file, what);
    return GLIA_OK;
}

/* A reload's TLS and CORS: the certificate files are read again (a renewed certificate
 * keeps its path), and a pair that does not load leaves the serving one. Turning TLS on or
 * off needs a restart: the listening socket speaks one or the other. */
static void reload_tls_cors(daemon_state *d, const config *next)
{
    glia_err err = {0};
    if (!d->cfg.tls_cert_file[0] != !next->tls_cert_file[0])
        log_warn("listen.tls is turned on or off only with a restart; gliad goes on serving %s",
                 d->cfg.tls_cert_file[0] ? "HTTPS with the certificate it has" : "plain HTTP");
    else if (next->tls_cert_file[0] && serve_tls(next, &err) != GLIA_OK)
        log_error("TLS: the new certificate is refused, the one serving stays: %s", err.msg);
    if (cors_set(d->cors, next->cors_origins, next->ncors_origins, next->cors_max_age_s, &err) != GLIA_OK)
        log_error("cors: the old allowed origins stay: %s", err.msg);
}

/* SIGHUP: a new config replaces the old one only if it loads; listen address, port and
 * thread counts need a restart (said in the log). */
static void reload(daemon_state *d)
{
    glia_err err = {0};
    config next;
    if (load_config(d, &next, &err) != GLIA_OK) {
        log_error("reload refused, the old configuration stays: %s", err.msg);
        return;
    }
    if (strcmp(next.listen, d->cfg.listen) != 0 || next.port != d->cfg.port || next.workers != d->cfg.workers)
        log_warn("listen address, port and workers change only with a restart");
    log_set_level(next.log_level);
    reload_tls_cors(d, &next);
    log_set_json(next.log_json);
    int failures = sync_models(d, &next, 0);
    if (strcmp(next.model_repository, d->cfg.model_repository) != 0)
        log_warn("model_repository changes only with a restart");
    if (next.train_enabled != d->cfg.train_enabled) /* the training thread exists or not from the start */
        log_warn("training.enabled changes only with a restart");
    if (next.console_enabled != d->cfg.console_enabled || strcmp(next.console_dir, d->cfg.console_dir) != 0)
        log_warn("console.enabled and console.dir change only with a restart");
    if (d->repo) {
        repository_configure(d->repo, &next);
        failures += repository_scan(d->repo);
    }
    log_info("reload done: %d model(s) configured, %d failed to load", next.nmodels, failures);
    /* the server keeps pointing at d->cfg: copy the values it reads per request */
    d->cfg.request_timeout_ms = next.request_timeout_ms;
    d->cfg.body_limit = next.body_limit;
    d->cfg.max_pixels = next.max_pixels;
    d->cfg.max_request_pixels = next.max_request_pixels;
    d->cfg.max_request_tokens = next.max_request_tokens;
    d->cfg.max_translation_tokens = next.max_translation_tokens;
    d->cfg.model_workers = next.model_workers;
    d->cfg.translation_turn_tokens = next.translation_turn_tokens;
    workq_set_fairness(d->queue, model_workers(&next, workq_workers(d->queue)), next.translation_turn_tokens);
    config_free(&next);
}

static void *reload_thread(void *arg)
{
    daemon_state *d = arg;
    reloader *rl = &d->rl;
    pthread_mutex_lock(&rl->mu);
    for (;;) {
        while (!rl->pending && !rl->stopping)
            pthread_cond_wait(&rl->cv, &rl->mu);
        if (rl->stopping)
            break;
        rl->pending = 0; /* from here on a SIGHUP asks for the next reload */
        /* said under the lock, so that both come before the drain's STOPPING=1 and its log
         * line, or not at all */
        notify("RELOADING=1");
        log_info("reloading %s", d->config_path);
        pthread_mutex_unlock(&rl->mu);
        reload(d);
        pthread_mutex_lock(&rl->mu);
        if (!rl->stopping) /* after STOPPING=1, systemd must not hear READY=1 again */
            notify("READY=1");
    }
    rl->finished = 1;
    pthread_cond_broadcast(&rl->cv);
    pthread_mutex_unlock(&rl->mu);
    return NULL;
}

static int reloader_start(daemon_state *d)
{
    reloader *rl = &d->rl;
    pthread_condattr_t attr;
    pthread_mutex_init(&rl->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* deadlines come from workq_now() */
    pthread_cond_init(&rl->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&rl->thread, NULL, reload_thread, d) != 0)
        return -1;
    rl->started = 1;
    return 0;
}

static void reloader_request(reloader *rl)
{
    pthread_mutex_lock(&rl->mu);
    rl->pending = 1;
    pthread_cond_signal(&rl->cv);
    pthread_mutex_unlock(&rl->mu);
}

/* No reload starts after this; one that runs goes on (it swaps models safely while the
 * drain runs) and is waited for by reloader_join, after the drain. */
static void reloader_stop(reloader *rl)
{
    if (!rl->started)
        return;
    pthread_mutex_lock(&rl->mu);
    rl->stopping = 1;
    pthread_cond_broadcast(&rl->cv);
    pthread_mutex_unlock(&rl->mu);
}

/* Stops the thread and waits for a reload it runs to end, until by (workq_now() seconds;
 * 0: no bound): 0 once it has ended, -1 when it still runs at by. A reload's model loads
 * cannot be cut short, and what it uses cannot be freed while it runs. */
static int reloader_join(reloader *rl, double by)
{
    if (!rl->started)
        return 0;
    reloader_stop(rl);
    pthread_mutex_lock(&rl->mu);
    while (!rl->finished && by > 0) {
        struct timespec ts;
        ts.tv_sec = (time_t)by;
        ts.tv_nsec = (long)((by - (double)ts.tv_sec) * 1e9);
        if (pthread_cond_timedwait(&rl->cv, &rl->mu, &ts) == ETIMEDOUT)
            break;
    }
    const int finished = rl->finished || by <= 0;
    pthread_mutex_unlock(&rl->mu);
    if (!finished)
        return -1;
    pthread_join(rl->thread, NULL);
    pthread_cond_destroy(&rl->cv);
    pthread_mutex_destroy(&rl->mu);
    rl->started = 0;
    return 0;
}

static void on_batch(void *user, const registry_model *m, int samples, double seconds)
{
    metrics_compute(((daemon_state *)user)->met, m->name, m->bundle.manifest.version, seconds, samples);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gliad --config FILE [--listen ADDR] [--port N] [--admin-token-file FILE] [--check]\n"
               "       gliad --help | --version\n"
               "  --admin-token-file  the admin token (chmod 600) instead of auth.admin_token_file\n"
               "  --check     load the configuration and the models, report, and exit\n"
               "  --version   print the version, the git revision and the BLAS core, and exit\n");
}

/* The command line into d: -1 to go on, else the exit status (0 after --help/--version,
 * 2 for a usage error). */
static int parse_args(int argc, char **argv, daemon_state *d, int *check_only)
{
    enum { OPT_CONFIG = 1, OPT_LISTEN, OPT_PORT, OPT_CHECK, OPT_VERSION, OPT_ADMIN_TOKEN };
    static const struct option options[] = {{"config", required_argument, NULL, OPT_CONFIG},
                                            {"listen", required_argument, NULL, OPT_LISTEN},
                                            {"port", required_argument, NULL, OPT_PORT},
                                            {"check", no_argument, NULL, OPT_CHECK},
                                            {"admin-token-file", required_argument, NULL, OPT_ADMIN_TOKEN},
                                            {"help", no_argument, NULL, 'h'},
                                            {"version", no_argument, NULL, OPT_VERSION},
                                            {NULL, 0, NULL, 0}};
    char text[512];
    int c;
    opterr = 0; /* the messages below name the argument and end with the usage */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG: d->config_path = optarg; break;
        case OPT_LISTEN: d->listen = optarg; break;
        case OPT_PORT: d->port = optarg; break;
        case OPT_ADMIN_TOKEN: d->admin_token_file = optarg; break;
        case OPT_CHECK: *check_only = 1; break;
        case 'h': usage(stdout); return 0;
        case OPT_VERSION:
            glia_version_text("gliad", text, sizeof text);
            fputs(text, stdout);
            return 0;
        case ':':
            fprintf(stderr, "gliad: %s needs a value\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        default:
            fprintf(stderr, "gliad: unknown argument '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gliad: unknown argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!d->config_path) {
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Signals become bytes on a pipe that the main thread reads: a handler may run on any
 * thread (OpenBLAS starts its own before main), so blocking and sigwait cannot be relied
 * on; write(2) is async-signal-safe. */
static int install_signals(void)
{
    if (pipe(signal_pipe) != 0 || fcntl(signal_pipe[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(signal_pipe[1], F_SETFD, FD_CLOEXEC) != 0 || fcntl(signal_pipe[1], F_SETFL, O_NONBLOCK) != 0) {
        fprintf(stderr, "gliad: cannot create the signal pipe: %s\n", strerror(errno));
        return -1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Uploads and training jobs: without a usable state directory gliad still serves; only
 * these are off. */
static void open_training(daemon_state *d)
{
    glia_err err = {0};
    if (datasets_open(d->cfg.state_dir, d->cfg.max_dataset_bytes, &d->data, &err) != GLIA_OK)
        log_warn("uploaded data sets are disabled: %s", err.msg);
    jobs_config jc = {d->cfg.state_dir,
                      d->reg,
                      d->cfg.train_threads,
                      d->cfg.train_nice,
                      d->cfg.train_max_queued,
                      configured_path,
                      d,
                      d->data,
                      d->repo,
                      d->cfg.train_enabled};
    if (!d->cfg.train_enabled)
        log_info("training.enabled is false: this gliad runs no training jobs and publishes no version");
    if (jobs_open(&jc, &d->jobs, &err) != GLIA_OK)
        log_warn("training jobs are disabled (the routes answer 503): %s", err.msg);
}

/* Serves until SIGTERM or SIGINT; SIGHUP asks the reload thread for a reload. Every
 * signal waiting in the pipe is read at once: a SIGTERM among them wins over the SIGHUPs. */
static void wait_for_stop(daemon_state *d)
{
    for (;;) {
        struct pollfd pfd = {signal_pipe[0], POLLIN, 0};
        unsigned char sigs[64];
        if (poll(&pfd, 1, -1) <= 0)
            continue;
        ssize_t n = read(signal_pipe[0], sigs, sizeof sigs);
        int hup = 0;
        for (ssize_t i = 0; i < n; i++) {
            if (sigs[i] != SIGHUP)
                return;
            hup = 1;
        }
        if (hup)
            reloader_request(&d->rl);
    }
}

static void drain(daemon_state *d)
{
    reloader_stop(&d->rl); /* first: no READY=1 may follow STOPPING=1 */
    notify("STOPPING=1");
    log_info("draining: finishing queued and running requests (at most %d ms)", d->cfg.drain_timeout_ms);
    server_set_draining(d->http);
    server_quiesce(d->http);
    int cut = workq_drain(d->queue, d->cfg.drain_timeout_ms);
    /* A batch still running past the drain timeout holds a suspended connection, and
     * libmicrohttpd aborts when it is stopped with one: join the workers (a running batch
     * ends and resumes its connections; anything still queued is answered 503), then let
     * the resumed connections write their answers. */
    workq_stop(d->queue);
    /* The answers of that last batch are written by libmicrohttpd's thread after the workers
     * end, which may be well past the drain timeout: a batch cannot be cut short, so its
     * answers get their second from when it ended, not from when the drain began. */
    const double written_by = workq_now() + 1.0;
    while (server_active(d->http) > 0 && workq_now() < written_by) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (cut)
        log_warn("drain timeout: %d queued request(s) answered 503", cut);
}

int main(int argc, char **argv)
{
    daemon_state d = {0};
    glia_err err = {0};
    char *admin_token = NULL, *inference_token = NULL;
    int check_only = 0, rc = parse_args(argc, argv, &d, &check_only);
    if (rc >= 0)
        return rc;
    rc = 1;
    glia_json_watch(); /* Jansson's allocation functions, before any thread (jsonmem.h) */
    if (install_signals() != 0)
        return 1;
    double t0 = workq_now();
    if (load_config(&d, &d.cfg, &err) != GLIA_OK) {
        fprintf(stderr, "gliad: %s\n", err.msg);
        return 1;
    }
    log_set_level(d.cfg.log_level);
    log_set_json(d.cfg.log_json);
    if (d.cfg.admin_token_file[0] && config_read_token(d.cfg.admin_token_file, &admin_token, &err) != GLIA_OK)
        goto fail;
    if (d.cfg.inference_token_file[0] &&
        config_read_token(d.cfg.inference_token_file, &inference_token, &err) != GLIA_OK)
        goto fail;
#ifdef HAVE_OPENBLAS_THREADS
    /* process-wide: with several workers each GEMM should stay on its worker's core */
    openblas_set_num_threads(d.cfg.blas_threads);
#endif
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = d.cfg.workers > 0 ? d.cfg.workers : (cores > 0 ? (int)cores : 1);
    if (!(d.reg = registry_new()) || metrics_new(GLIA_VERSION, &d.met, &err) != GLIA_OK) {
        glia_err_set(&err, GLIA_ENOMEM, "out of memory");
        goto fail;
    }
    if (d.cfg.tls_cert_file[0] && serve_tls(&d.cfg, &err) != GLIA_OK)
        goto fail;
    if (cors_new(&d.cors, &err) != GLIA_OK ||
        cors_set(d.cors, d.cfg.cors_origins, d.cfg.ncors_origins, d.cfg.cors_max_age_s, &err) != GLIA_OK)
        goto fail;
    if (d.cfg.model_repository[0] && repository_open(&d.cfg, d.reg, d.met, &d.repo, &err) != GLIA_OK)
        goto fail;
    /* the repository's models first: a job queued before a restart may start at once */
    int failures = d.repo ? repository_scan(d.repo) : 0;
    if (!check_only)
        open_training(&d);
    failures += sync_models(&d, &d.cfg, 0);
    if (check_only) {
        printf("%s: configuration ok, %d model(s), %d failed to load%s\n", d.config_path, d.cfg.nmodels,
               failures, d.cfg.tls_cert_file[0] ? "; TLS certificate and key ok" : "");
        rc = failures ? 1 : 0;
        goto done;
    }
    workq_config qc = {workers,
                       d.cfg.queue_length,
                       d.cfg.batch_max_size,
                       d.cfg.batch_max_wait_us,
                       model_workers(&d.cfg, workers),
                       d.cfg.translation_turn_tokens};
    if (workq_new(&qc, on_batch, &d, &d.queue, &err) != GLIA_OK)
        goto fail;
    server_deps deps = {&d.cfg,     d.reg, d.queue, d.met,  admin_token, inference_token, workers,
                        reload_one, &d,    d.jobs,  d.data, d.cors,      d.repo};
    if (server_start(&deps, &d.http, &err) != GLIA_OK)
        goto fail;
    if (d.repo && repository_start(d.repo, &err) != GLIA_OK)
        goto fail;
    if (reloader_start(&d) != 0) {
        glia_err_set(&err, GLIA_ENOMEM, "cannot start the reload thread");
        goto fail;
    }
    log_info("gliad %s listening on %s port %d: %d worker(s), queue %d, batches up to %d waiting %d us, "
             "OpenBLAS threads %d; ready in %.0f ms",
             GLIA_VERSION, d.cfg.listen, server_port(d.http), workers, d.cfg.queue_length,
             d.cfg.batch_max_size, d.cfg.batch_max_wait_us, d.cfg.blas_threads, (workq_now() - t0) * 1e3);
    notify("READY=1");
    wait_for_stop(&d);
    const double stop_by = workq_now() + d.cfg.drain_timeout_ms / 1e3;
    drain(&d);
    if (reloader_join(&d.rl, stop_by) != 0) {
        /* the reload holds the registry, the jobs and the config that everything below
         * frees: the process ends without freeing them. A running training job is found
         * running at the next start and becomes interrupted, as after a crash. */
        log_warn("drain timeout: a reload is still loading models; exiting without waiting for it");
        _exit(0);
    }
    log_info("stopped");
    rc = 0;
    goto done;
fail:
    if (!d.cfg.log_json) /* with log.format json every line must parse: the JSON one only */
        fprintf(stderr, "gliad: %s\n", err.msg);
    log_error("%s", err.msg);
done:
    reloader_join(&d.rl, 0); /* a reload that was running when the drain began uses all below */
    server_stop(d.http);
    tls_clear(); /* after MHD: its handshakes borrow the pairs */
    cors_free(d.cors);
    jobs_close(d.jobs); /* a running job stops at its next step: interrupted, resumable */
    datasets_close(d.data);
    repository_close(d.repo); /* after the jobs: a job publishes into the repository */
    workq_free(d.queue);
    registry_free(d.reg);
    metrics_free(d.met);
    config_free(&d.cfg);
    free(admin_token);
    free(inference_token);
    return rc;
}
