/*
 * metrics.c - see metrics.h.
 *
 * Each family keeps a fixed array of series. A series is published by storing its
 * label values first and then incrementing the family's count with release order, so
 * readers (lookups, rendering) scan [0, count) without a lock; only adding a series
 * takes the family's mutex. A double sum is an atomic 64-bit pattern updated by CAS.
 */
#include "daemon/metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { MAX_LABELS = 3, LABEL_MAX = 96, MAX_SERIES = 256, MAX_BUCKETS = 16 };

typedef struct {
    char labels[MAX_LABELS][LABEL_MAX];
    atomic_uint_fast64_t count; /* counter value, or histogram observation count */
    atomic_uint_fast64_t buckets[MAX_BUCKETS];
    atomic_uint_fast64_t sum_bits; /* double */
} series;

typedef struct {
    const char *name, *help, *type; /* "counter" or "histogram" */
    int nlabels;
    const char *label_names[MAX_LABELS];
    const double *bounds; /* histogram upper bounds, without +Inf */
    int nbounds;
    pthread_mutex_t mu;
    atomic_int n;
    series s[MAX_SERIES];
} family;

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

enum { F_HTTP, F_HTTP_DURATION, F_INFER, F_QUEUE, F_COMPUTE, F_BATCH, F_LOAD_FAIL, NFAMILIES };

struct metrics {
    char version[64];
    family f[NFAMILIES];
};

static void family_init(family *f, const char *name, const char *help, const char *type, int nlabels,
                        const char *l0, const char *l1, const char *l2, const double *bounds, int nbounds)
{
    f->name = name;
    f->help = help;
    f->type = type;
    f->nlabels = nlabels;
    f->label_names[0] = l0;
    f->label_names[1] = l1;
    f->label_names[2] = l2;
    f->bounds = bounds;
    f->nbounds = nbounds;
    pthread_mutex_init(&f->mu, NULL);
    atomic_init(&f->n, 0);
}

glia_status metrics_new(const char *version, metrics **out, glia_err *err)
{
    metrics *m = calloc(1, sizeof *m);
    if (!m)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for metrics");
    snprintf(m->version, sizeof m->version, "%s", version);
    const int nlat = (int)(sizeof latency_bounds / sizeof latency_bounds[0]);
    family_init(&m->f[F_HTTP], "glia_http_requests_total",
                "HTTP requests answered, by route, method and status.", "counter", 3, "route", "method",
                "code", NULL, 0);
    family_init(&m->f[F_HTTP_DURATION], "glia_http_request_duration_seconds",
                "Time from a request's first byte to its answer, by route.", "histogram", 1, "route", NULL,
                NULL, latency_bounds, nlat);
    family_init(&m->f[F_INFER], "glia_inference_requests_total",
                "Inference requests by model and outcome (ok, error, rejected, timeout).", "counter", 2,
                "model", "outcome", NULL, NULL, 0);
    family_init(&m->f[F_QUEUE], "glia_inference_queue_duration_seconds",
                "Time inference requests waited in the queue before a worker took them.", "histogram", 1,
                "model", NULL, NULL, latency_bounds, nlat);
    family_init(&m->f[F_COMPUTE], "glia_inference_compute_duration_seconds",
                "Time a worker spent running one batch through the model.", "histogram", 1, "model", NULL,
                NULL, latency_bounds, nlat);
    family_init(&m->f[F_BATCH], "glia_inference_batch_size", "Samples per batch run by a worker.",
                "histogram", 1, "model", NULL, NULL, batch_bounds,
                (int)(sizeof batch_bounds / sizeof batch_bounds[0]));
    family_init(&m->f[F_LOAD_FAIL], "glia_model_load_failures_total", "Model bundles that failed to load.",
                "counter", 1, "model", NULL, NULL, NULL, 0);
    *out = m;
    return GLIA_OK;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < NFAMILIES; i++)
        pthread_mutex_destroy(&m->f[i].mu);
    free(m);
}

static int same_labels(const series *s, const char *const *v, int n)
{
    for (int i = 0; i < n; i++)
        if (strncmp(s->labels[i], v[i], LABEL_MAX - 1) != 0 || strlen(v[i]) >= LABEL_MAX)
            return 0;
    return 1;
}

/* The series for label values v, created on first use; past the cap, the "other" series. */
static series *lookup(family *f, const char *const *v)
{
    int n = atomic_load_explicit(&f->n, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (same_labels(&f->s[i], v, f->nlabels))
            return &f->s[i];
    pthread_mutex_lock(&f->mu);
    n = atomic_load_explicit(&f->n, memory_order_relaxed);
    series *s = NULL;
    for (int i = 0; i < n && !s; i++)
        if (same_labels(&f->s[i], v, f->nlabels))
            s = &f->s[i];
    if (!s) {
        const char *other[MAX_LABELS] = {"other", "other", "other"};
        const char *const *use = n < MAX_SERIES - 1 ? v : other;
        for (int i = 0; i < n && !s && use == other; i++)
            if (same_labels(&f->s[i], other, f->nlabels))
                s = &f->s[i];
        if (!s) {
            s = &f->s[n];
            for (int i = 0; i < f->nlabels; i++)
                snprintf(s->labels[i], LABEL_MAX, "%s", use[i]);
            atomic_store_explicit(&f->n, n + 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return s;
}

static void add_double(atomic_uint_fast64_t *bits, double v)
{
    uint_fast64_t old = atomic_load(bits), next;
    do {
        double d;
        uint64_t o = old;
        memcpy(&d, &o, sizeof d);
        d += v;
        uint64_t nb;
        memcpy(&nb, &d, sizeof nb);
        next = nb;
    } while (!atomic_compare_exchange_weak(bits, &old, next));
}

static void observe(family *f, const char *const *labels, double v)
{
    series *s = lookup(f, labels);
    for (int i = 0; i < f->nbounds; i++)
        if (v <= f->bounds[i]) {
            atomic_fetch_add(&s->buckets[i], 1);
            break;
        }
    add_double(&s->sum_bits, v);
    atomic_fetch_add(&s->count, 1);
}

static void count(family *f, const char *const *labels)
{
    atomic_fetch_add(&lookup(f, labels)->count, 1);
}

void metrics_http(metrics *m, const char *route, const char *method, int code, double seconds)
{
    char c[16];
    snprintf(c, sizeof c, "%d", code);
    const char *l[3] = {route, method, c};
    count(&m->f[F_HTTP], l);
    observe(&m->f[F_HTTP_DURATION], l, seconds);
}

void metrics_inference(metrics *m, const char *model, const char *outcome)
{
    const char *l[2] = {model, outcome};
    count(&m->f[F_INFER], l);
}

void metrics_queue_wait(metrics *m, const char *model, double seconds)
{
    observe(&m->f[F_QUEUE], &model, seconds);
}

void metrics_compute(metrics *m, const char *model, double seconds, int batch_size)
{
    observe(&m->f[F_COMPUTE], &model, seconds);
    observe(&m->f[F_BATCH], &model, (double)batch_size);
}

void metrics_model_load_failure(metrics *m, const char *model)
{
    count(&m->f[F_LOAD_FAIL], &model);
}

/* ---- rendering ---- */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* Label value escaping of the text format: backslash, double quote, newline. */
static void put_escaped(buf *b, const char *s)
{
    char tmp[2 * LABEL_MAX + 1];
    size_t j = 0;
    for (; *s && j + 2 < sizeof tmp; s++) {
        if (*s == '\\' || *s == '"') {
            tmp[j++] = '\\';
            tmp[j++] = *s;
        } else if (*s == '\n') {
            tmp[j++] = '\\';
            tmp[j++] = 'n';
        } else {
            tmp[j++] = *s;
        }
    }
    tmp[j] = '\0';
    put(b, "%s", tmp);
}

static void put_labels(buf *b, const family *f, const series *s, const char *le)
{
    int any = f->nlabels > 0 || le;
    if (!any)
        return;
    put(b, "{");
    for (int i = 0; i < f->nlabels; i++) {
        put(b, "%s%s=\"", i ? "," : "", f->label_names[i]);
        put_escaped(b, s->labels[i]);
        put(b, "\"");
    }
    if (le)
        put(b, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    put(b, "}");
}

static void render_family(buf *b, const family *f)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
    int n = atomic_load_explicit(&((family *)f)->n, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        const series *s = &f->s[i];
        if (strcmp(f->type, "counter") == 0) {
            put(b, "%s", f->name);
            put_labels(b, f, s, NULL);
            put(b, " %llu\n", (unsigned long long)atomic_load(&s->count));
            continue;
        }
        /* read the count first: buckets can only be >= what it implies, and +Inf uses it */
        uint64_t total = atomic_load(&s->count), cum = 0;
        char le[32];
        for (int k = 0; k < f->nbounds; k++) {
            cum += atomic_load(&s->buckets[k]);
            if (cum > total)
                cum = total;
            snprintf(le, sizeof le, "%g", f->bounds[k]);
            put(b, "%s_bucket", f->name);
            put_labels(b, f, s, le);
            put(b, " %llu\n", (unsigned long long)cum);
        }
        put(b, "%s_bucket", f->name);
        put_labels(b, f, s, "+Inf");
        put(b, " %llu\n", (unsigned long long)total);
        uint64_t bits = atomic_load(&s->sum_bits);
        double sum;
        memcpy(&sum, &bits, sizeof sum);
        put(b, "%s_sum", f->name);
        put_labels(b, f, s, NULL);
        put(b, " %.9g\n%s_count", sum, f->name);
        put_labels(b, f, s, NULL);
        put(b, " %llu\n", (unsigned long long)total);
    }
}

static void gauge(buf *b, const char *name, const char *help, double v)
{
    put(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

static void render_process(buf *b)
{
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    char stat[2048];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t got = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
    if (f)
        fclose(f);
    stat[got] = '\0';
    /* fields after the command name, which is in parentheses and may contain spaces */
    char *p = strrchr(stat, ')');
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
    if (p)
        sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %llu",
               &utime, &stime, &start, &vsize, &rss);
    unsigned long long btime = 0;
    if ((f = fopen("/proc/stat", "r"))) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "btime %llu", &btime) == 1)
                break;
        fclose(f);
    }
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            fds += e->d_name[0] != '.';
        closedir(d);
        fds--; /* the directory stream's own descriptor */
    }
    struct rlimit rl = {0};
    getrlimit(RLIMIT_NOFILE, &rl);
    put(b,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n",
        (double)(utime + stime) / (double)(tick > 0 ? tick : 100));
    gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.", (double)rss * (double)page);
    gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", (double)vsize);
    gauge(b, "process_open_fds", "Number of open file descriptors.", fds);
    gauge(b, "process_max_fds", "Maximum number of open file descriptors.", (double)rl.rlim_cur);
    if (btime)
        gauge(b, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
              (double)btime + (double)start / (double)(tick > 0 ? tick : 100));
}

char *metrics_render(metrics *m, const metrics_snapshot *s)
{
    buf b = {malloc(16384), 0, 16384, 0};
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    put(&b,
        "# HELP glia_build_info gliad's version (value 1).\n# TYPE glia_build_info gauge\n"
        "glia_build_info{version=\"%s\"} 1\n",
        m->version);
    for (int i = 0; i < NFAMILIES; i++)
        render_family(&b, &m->f[i]);
    gauge(&b, "glia_inference_queue_depth", "Inference requests waiting in the queue.",
          (double)s->queue_depth);
    gauge(&b, "glia_inference_queue_capacity", "Inference requests the queue holds at most.",
          (double)s->queue_capacity);
    gauge(&b, "glia_inference_workers", "Inference worker threads.", s->workers);
    gauge(&b, "glia_inference_workers_busy", "Inference workers running a batch now.", s->workers_busy);
    put(&b,
        "# HELP glia_model_info The model version being served (value 1).\n# TYPE glia_model_info gauge\n");
    for (int i = 0; i < s->nmodels; i++)
        if (s->models[i].loaded) {
            put(&b, "glia_model_info{model=\"");
            put_escaped(&b, s->models[i].name);
            put(&b, "\",version=\"%ld\",sha256=\"%s\"} 1\n", s->models[i].version, s->models[i].sha256);
        }
    put(&b, "# HELP glia_model_loaded 1 if the configured model has a loaded version.\n"
            "# TYPE glia_model_loaded gauge\n");
    for (int i = 0; i < s->nmodels; i++) {
        put(&b, "glia_model_loaded{model=\"");
        put_escaped(&b, s->models[i].name);
        put(&b, "\"} %d\n", s->models[i].loaded ? 1 : 0);
    }
    render_process(&b);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
