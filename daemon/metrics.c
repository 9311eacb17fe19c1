/*
 * metrics.c - see metrics.h.
 *
 * A family (one metric name) owns up to METRICS_MAX_SERIES series and an open-addressing
 * index from the hash of their label values to their slot. Series are never removed and
 * their labels never change once published, so lookups probe the index without a lock:
 * a writer (holding the family's mutex) fills a series, stores its pointer in the slot
 * array and then publishes it with release stores of the series count (read by
 * rendering) and of the index entry (read by lookups); readers load both with acquire.
 * A lookup that misses takes the mutex and looks again before adding. The "other" series
 * is allocated when the family is made, so folding past the cap (or past a failed
 * malloc) never fails and no increment is dropped; once the family is full its "other"
 * series is also published in an atomic pointer so that unknown label sets stop taking
 * the mutex.
 *
 * A histogram keeps one counter per bucket (not cumulative) and derives _count from
 * their total at render time, so the buckets, +Inf and _count of one rendering always
 * agree even while workers observe. The sum is a double kept as its bit pattern in an
 * atomic 64-bit word and updated by compare-and-swap. Relaxed ordering is enough for
 * the values: each is a single atomic object, and no other data hangs off them.
 */
#include "daemon/metrics.h"

#ifdef HAVE_OPENBLAS_THREADS
#include <cblas.h>
#endif
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum {
    MAX_LABELS = 4,
    MAX_CELLS = 15,                      /* the most buckets of any histogram (latency: 14), plus +Inf */
    INDEX_SIZE = 2 * METRICS_MAX_SERIES, /* power of two; never more than half full */
};

typedef char label[METRICS_LABEL_MAX + 1];

typedef struct {
    uint64_t hash;
    label labels[MAX_LABELS];
    /* counter: cells[0]. histogram: cells[i] counts observations in (bounds[i-1],
     * bounds[i]]; cells[nbounds] those above the last bound (and NaN). */
    atomic_uint_least64_t cells[MAX_CELLS];
    atomic_uint_least64_t sum_bits; /* histogram sum, a double */
} series;

typedef enum { COUNTER, HISTOGRAM } family_kind;

typedef struct {
    const char *name, *help;
    family_kind kind;
    int nlabels;
    const char *label_names[MAX_LABELS];
    const double *bounds; /* histogram upper bounds, ascending, +Inf implied */
    int nbounds;
    pthread_mutex_t mu; /* serialises adding series */
    atomic_int n;       /* slots[0, n) are published */
    series *slots[METRICS_MAX_SERIES];
    atomic_int index[INDEX_SIZE]; /* slot + 1, or 0 for empty */
    _Atomic(series *) overflow;   /* set when full: the "other" series */
    series *spare;                /* the "other" series until it is published */
} family;

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define NELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

enum {
    F_HTTP,
    F_HTTP_DURATION,
    F_INFERENCE,
    F_QUEUE,
    F_COMPUTE,
    F_BATCH,
    F_LOAD_FAILURES,
    F_CONN_CLOSED,
    F_EXPLAIN,
    F_EXPLAIN_DURATION,
    NFAMILIES
};

struct metrics {
    char *version, *blas;
    family f[NFAMILIES];
};

/* ---- label values ---- */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, at
 * most U+10FFFF), or 0 if the byte at p does not start one. Stops at a NUL. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

/* The stored form of a label value: valid UTF-8 ('?' for each stray byte), cut at a
 * character boundary to METRICS_LABEL_MAX bytes. Lookups compare stored forms, so two
 * inputs with the same stored form share a series and the output has no duplicates. */
static void canonical(const char *in, label out)
{
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    size_t j = 0;
    while (*p) {
        size_t len = utf8_len(p);
        if (j + (len ? len : 1) > METRICS_LABEL_MAX)
            break;
        if (len) {
            memcpy(out + j, p, len);
            p += len;
            j += len;
        } else {
            out[j++] = '?';
            p++;
        }
    }
    out[j] = '\0';
}

static uint64_t hash_labels(label *labels, int n)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (int i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)labels[i]; *p; p++)
            h = (h ^ *p) * 1099511628211u;
        h = (h ^ 0xFF) * 1099511628211u; /* 0xFF never occurs in UTF-8: no ambiguity */
    }
    return h;
}

/* ---- series lookup ---- */

static series *series_new(label *labels, int n, uint64_t hash)
{
    series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->hash = hash;
    for (int i = 0; i < n; i++)
        memcpy(s->labels[i], labels[i], sizeof s->labels[i]);
    return s;
}

static series *find(family *f, label *labels, uint64_t hash)
{
    for (size_t i = hash & (INDEX_SIZE - 1);; i = (i + 1) & (INDEX_SIZE - 1)) {
        int k = atomic_load_explicit(&f->index[i], memory_order_acquire);
        if (k == 0)
            return NULL;
        series *s = f->slots[k - 1];
        int same = s->hash == hash;
        for (int j = 0; same && j < f->nlabels; j++)
            same = strcmp(s->labels[j], labels[j]) == 0;
        if (same)
            return s;
    }
}

/* With f->mu held and fewer than METRICS_MAX_SERIES published. */
static void publish(family *f, series *s)
{
    int n = atomic_load_explicit(&f->n, memory_order_relaxed);
    f->slots[n] = s;
    atomic_store_explicit(&f->n, n + 1, memory_order_release);
    size_t i = s->hash & (INDEX_SIZE - 1);
    while (atomic_load_explicit(&f->index[i], memory_order_relaxed))
        i = (i + 1) & (INDEX_SIZE - 1);
    atomic_store_explicit(&f->index[i], n + 1, memory_order_release);
}

/* With f->mu held: the series of label set ("other", ...), published on first need. */
static series *fold(family *f)
{
    label other[MAX_LABELS];
    for (int i = 0; i < f->nlabels; i++)
        canonical("other", other[i]);
    uint64_t h = hash_labels(other, f->nlabels);
    series *s = find(f, other, h);
    if (!s) {
        s = f->spare; /* never NULL here: it is only taken when it becomes findable */
        f->spare = NULL;
        publish(f, s);
    }
    if (atomic_load_explicit(&f->n, memory_order_relaxed) >= METRICS_MAX_SERIES - 1)
        atomic_store_explicit(&f->overflow, s, memory_order_release);
    return s;
}

/* The series for these label values (f->nlabels of them), added on first use. */
static series *lookup(family *f, const char *const *values)
{
    label labels[MAX_LABELS];
    for (int i = 0; i < f->nlabels; i++)
        canonical(values[i], labels[i]);
    uint64_t h = hash_labels(labels, f->nlabels);
    series *s = find(f, labels, h);
    if (s)
        return s;
    if ((s = atomic_load_explicit(&f->overflow, memory_order_acquire)))
        return s;
    pthread_mutex_lock(&f->mu);
    s = find(f, labels, h);
    /* keep the last slot for "other" */
    if (!s && atomic_load_explicit(&f->n, memory_order_relaxed) < METRICS_MAX_SERIES - 1 &&
        (s = series_new(labels, f->nlabels, h)))
        publish(f, s);
    if (!s)
        s = fold(f);
    pthread_mutex_unlock(&f->mu);
    return s;
}

/* ---- recording ---- */

static void count(family *f, const char *const *values)
{
    atomic_fetch_add_explicit(&lookup(f, values)->cells[0], 1, memory_order_relaxed);
}

static void observe(family *f, const char *const *values, double v)
{
    series *s = lookup(f, values);
    int i = 0;
    while (i < f->nbounds && !(v <= f->bounds[i]))
        i++;
    atomic_fetch_add_explicit(&s->cells[i], 1, memory_order_relaxed);
    uint_least64_t old = atomic_load_explicit(&s->sum_bits, memory_order_relaxed), next;
    do {
        uint64_t bits = old;
        double d;
        memcpy(&d, &bits, sizeof d);
        d += v;
        memcpy(&bits, &d, sizeof bits);
        next = bits;
    } while (!atomic_compare_exchange_weak_explicit(&s->sum_bits, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

void metrics_http(metrics *m, const char *route, const char *method, int code, double seconds)
{
    char c[16];
    snprintf(c, sizeof c, "%d", code);
    const char *values[3] = {route, method, c};
    count(&m->f[F_HTTP], values);
    observe(&m->f[F_HTTP_DURATION], values, seconds);
}

void metrics_inference(metrics *m, const char *model, long version, const char *outcome)
{
    char v[24];
    snprintf(v, sizeof v, "%ld", version);
    static const char *const known[] = {"ok", "error", "rejected", "timeout", "limited"};
    const char *o = "other";
    for (int i = 0; i < NELEMS(known); i++)
        if (outcome && strcmp(outcome, known[i]) == 0)
            o = known[i];
    const char *values[3] = {model, v, o};
    count(&m->f[F_INFERENCE], values);
}

void metrics_queue_wait(metrics *m, const char *model, long version, double seconds)
{
    char v[24];
    snprintf(v, sizeof v, "%ld", version);
    const char *values[2] = {model, v};
    observe(&m->f[F_QUEUE], values, seconds);
}

void metrics_compute(metrics *m, const char *model, long version, double seconds, int batch_size)
{
    char v[24];
    snprintf(v, sizeof v, "%ld", version);
    const char *values[2] = {model, v};
    observe(&m->f[F_COMPUTE], values, seconds);
    observe(&m->f[F_BATCH], values, (double)batch_size);
}

void metrics_explain(metrics *m, const char *model, long version, const char *method, const char *outcome,
                     double seconds)
{
    char v[24];
    snprintf(v, sizeof v, "%ld", version);
    const char *values[4] = {model, v, method, outcome};
    count(&m->f[F_EXPLAIN], values);
    if (seconds >= 0.0)
        observe(&m->f[F_EXPLAIN_DURATION], values, seconds);
}

void metrics_model_load_failure(metrics *m, const char *model)
{
    count(&m->f[F_LOAD_FAILURES], &model);
}

void metrics_connection_closed(metrics *m, const char *reason)
{
    count(&m->f[F_CONN_CLOSED], &reason);
}

/* ---- life cycle ---- */

static int family_init(family *f, const char *name, const char *help, family_kind kind, const double *bounds,
                       int nbounds, int nlabels, const char *l0, const char *l1, const char *l2)
{
    f->name = name;
    f->help = help;
    f->kind = kind;
    f->bounds = bounds;
    f->nbounds = nbounds;
    f->nlabels = nlabels;
    f->label_names[0] = l0;
    f->label_names[1] = l1;
    f->label_names[2] = l2;
    atomic_init(&f->n, 0);
    for (int i = 0; i < INDEX_SIZE; i++)
        atomic_init(&f->index[i], 0);
    atomic_init(&f->overflow, NULL);
    label other[MAX_LABELS];
    for (int i = 0; i < nlabels; i++)
        canonical("other", other[i]);
    if (!(f->spare = series_new(other, nlabels, hash_labels(other, nlabels))))
        return -1;
    if (pthread_mutex_init(&f->mu, NULL) != 0) {
        free(f->spare);
        f->spare = NULL;
        return -1;
    }
    return 0;
}

static void family_free(family *f)
{
    int n = atomic_load(&f->n);
    for (int i = 0; i < n; i++)
        free(f->slots[i]);
    free(f->spare);
    pthread_mutex_destroy(&f->mu);
}

static const char *blas_name(void)
{
#ifdef HAVE_OPENBLAS_THREADS
    const char *config = openblas_get_config(); /* "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Haswell ..." */
    return config && *config ? config : "openblas";
#else
    return "cblas";
#endif
}

glia_status metrics_new(const char *version, metrics **out, glia_err *err)
{
    *out = NULL;
    metrics *m = calloc(1, sizeof *m);
    if (!m)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for metrics");
    label v;
    canonical(version, v);
    m->version = strdup(v);
    canonical(blas_name(), v);
    m->blas = strdup(v);
    int made = 0, nlat = NELEMS(latency_bounds);
    if (!m->version || !m->blas)
        goto fail;
#define FAMILY(id, ...)                                                                                      \
    do {                                                                                                     \
        if (family_init(&m->f[id], __VA_ARGS__) != 0)                                                        \
            goto fail;                                                                                       \
        made = id + 1;                                                                                       \
    } while (0)
    FAMILY(F_HTTP, "glia_http_requests_total",
           "HTTP requests answered, by route template, method and status.", COUNTER, NULL, 0, 3, "route",
           "method", "code");
    FAMILY(F_HTTP_DURATION, "glia_http_request_duration_seconds",
           "Time from a request's arrival to the end of its answer, by route template.", HISTOGRAM,
           latency_bounds, nlat, 1, "route", NULL, NULL);
    FAMILY(F_INFERENCE, "glia_inference_requests_total",
           "Inference requests by model, version and outcome (ok, error, rejected, timeout, limited).",
           COUNTER, NULL, 0, 3, "model", "version", "outcome");
    FAMILY(F_QUEUE, "glia_inference_queue_duration_seconds",
           "Time inference requests waited in the queue before a worker took them.", HISTOGRAM,
           latency_bounds, nlat, 2, "model", "version", NULL);
    FAMILY(F_COMPUTE, "glia_inference_compute_duration_seconds",
           "Time a worker spent running one batch through the model.", HISTOGRAM, latency_bounds, nlat, 2,
           "model", "version", NULL);
    FAMILY(F_BATCH, "glia_inference_batch_size", "Samples in each batch run by a worker.", HISTOGRAM,
           batch_bounds, NELEMS(batch_bounds), 2, "model", "version", NULL);
    FAMILY(F_LOAD_FAILURES, "glia_model_load_failures_total",
           "Attempts to load a model bundle that failed (the previous version, if any, kept serving).",
           COUNTER, NULL, 0, 1, "model", NULL, NULL);
    FAMILY(F_CONN_CLOSED, "glia_http_connections_closed_total",
           "Connections gliad closed because a request took too long to arrive (header, body), an answer "
           "to be read (write), one sat idle too long (idle), or to keep slots free for new clients "
           "(reserve).",
           COUNTER, NULL, 0, 1, "reason", NULL, NULL);
    /* four labels: the fourth is set after family_init, which names three */
    FAMILY(F_EXPLAIN, "glia_explain_requests_total",
           "Explanation requests by model, version, method and outcome (ok, error, rejected, timeout).",
           COUNTER, NULL, 0, 4, "model", "version", "method");
    m->f[F_EXPLAIN].label_names[3] = "outcome";
    FAMILY(F_EXPLAIN_DURATION, "glia_explain_duration_seconds",
           "Time a worker spent computing one explanation (forward and backward passes).", HISTOGRAM,
           latency_bounds, nlat, 3, "model", "version", "method");
#undef FAMILY
    *out = m;
    return GLIA_OK;
fail:
    for (int i = 0; i < made; i++)
        family_free(&m->f[i]);
    free(m->version);
    free(m->blas);
    free(m);
    return glia_err_set(err, GLIA_ENOMEM, "out of memory for metrics");
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < NFAMILIES; i++)
        family_free(&m->f[i]);
    free(m->version);
    free(m->blas);
    free(m);
}

/* ---- rendering ---- */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} buf;

/* Room for more bytes plus the terminating NUL. */
static int reserve(buf *b, size_t more)
{
    if (b->oom)
        return 0;
    if (b->len + more + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static void put_mem(buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put(buf *b, const char *s)
{
    put_mem(b, s, strlen(s));
}

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) { /* only short formats go through here */
        b->oom = 1;
        return;
    }
    put_mem(b, tmp, (size_t)n);
}

/* A label value escaped as the text format wants: backslash, double quote, newline. */
static void put_escaped(buf *b, const char *s)
{
    for (; *s; s++) {
        size_t run = strcspn(s, "\\\"\n");
        put_mem(b, s, run);
        s += run;
        if (!*s)
            break;
        put(b, *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : "\\n");
    }
}

/* Shortest decimal that reads back as the same double; the format's NaN and +Inf. */
static void put_number(buf *b, double v)
{
    if (isnan(v)) {
        put(b, "NaN");
        return;
    }
    if (isinf(v)) {
        put(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    put(b, tmp);
}

static void put_count(buf *b, uint64_t v)
{
    putf(b, "%llu", (unsigned long long)v);
}

static void put_header(buf *b, const char *name, const char *help, const char *type)
{
    putf(b, "# HELP %s ", name);
    put(b, help);
    putf(b, "\n# TYPE %s %s\n", name, type);
}

/* name{labels of s[,le="..."]} */
static void put_name(buf *b, const family *f, const char *suffix, const series *s, const double *le)
{
    put(b, f->name);
    put(b, suffix);
    if (f->nlabels == 0 && !le) {
        put(b, " ");
        return;
    }
    put(b, "{");
    for (int i = 0; i < f->nlabels; i++) {
        putf(b, "%s%s=\"", i ? "," : "", f->label_names[i]);
        put_escaped(b, s->labels[i]);
        put(b, "\"");
    }
    if (le) {
        put(b, f->nlabels ? ",le=\"" : "le=\"");
        put_number(b, *le);
        put(b, "\"");
    }
    put(b, "} ");
}

static void render_family(buf *b, family *f)
{
    put_header(b, f->name, f->help, f->kind == COUNTER ? "counter" : "histogram");
    int n = atomic_load_explicit(&f->n, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        const series *s = f->slots[i];
        if (f->kind == COUNTER) {
            put_name(b, f, "", s, NULL);
            put_count(b, atomic_load_explicit(&s->cells[0], memory_order_relaxed));
            put(b, "\n");
            continue;
        }
        uint64_t cum = 0;
        const double inf = INFINITY;
        for (int k = 0; k <= f->nbounds; k++) {
            cum += atomic_load_explicit(&s->cells[k], memory_order_relaxed);
            put_name(b, f, "_bucket", s, k < f->nbounds ? &f->bounds[k] : &inf);
            put_count(b, cum);
            put(b, "\n");
        }
        uint64_t bits = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
        double sum;
        memcpy(&sum, &bits, sizeof sum);
        put_name(b, f, "_sum", s, NULL);
        put_number(b, sum);
        put(b, "\n");
        put_name(b, f, "_count", s, NULL);
        put_count(b, cum);
        put(b, "\n");
    }
}

static void gauge(buf *b, const char *name, const char *help, double v)
{
    put_header(b, name, help, "gauge");
    put(b, name);
    put(b, " ");
    put_number(b, v);
    put(b, "\n");
}

static void render_models(buf *b, const metrics_snapshot *s)
{
    label v;
    put_header(b, "glia_model_info", "Each loaded version of each model (value 1).", "gauge");
    for (int i = 0; i < s->nmodels; i++) {
        const metrics_model *mm = &s->models[i];
        if (!mm->loaded)
            continue;
        canonical(mm->name, v);
        put(b, "glia_model_info{model=\"");
        put_escaped(b, v);
        putf(b, "\",version=\"%ld\",sha256=\"", mm->version);
        canonical(mm->sha256, v);
        put_escaped(b, v);
        put(b, "\"} 1\n");
    }
    put_header(b, "glia_model_loaded", "1 if the configured model has a version serving, else 0.", "gauge");
    for (int i = 0; i < s->nmodels; i++) {
        if (s->models[i].other)
            continue;
        canonical(s->models[i].name, v);
        put(b, "glia_model_loaded{model=\"");
        put_escaped(b, v);
        putf(b, "\"} %d\n", s->models[i].loaded ? 1 : 0);
    }
}

/* process_* as the Prometheus client libraries define them; a value that /proc does not
 * give is left out rather than reported as 0. */
static void render_process(buf *b)
{
    double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    if (tick <= 0)
        tick = 100;
    char stat[1024];
    size_t got = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        got = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
    }
    stat[got] = '\0';
    /* fields 3.. follow the command name, which is in parentheses and may hold anything */
    const char *p = strrchr(stat, ')');
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
    int have_stat = p && sscanf(p + 1,
                                " %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s" /* state .. cmajflt */
                                " %llu %llu %*s %*s %*s %*s %*s %*s"           /* utime .. itrealvalue */
                                " %llu %llu %llu",                             /* starttime vsize rss */
                                &utime, &stime, &start, &vsize, &rss) == 5;
    if (have_stat) {
        put_header(b, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                   "counter");
        put(b, "process_cpu_seconds_total ");
        put_number(b, (double)(utime + stime) / tick);
        put(b, "\n");
        gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", (double)vsize);
        gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.", (double)rss * page);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int fds = 0, own = dirfd(d);
        struct dirent *e;
        while ((e = readdir(d)))
            fds += e->d_name[0] != '.' && atoi(e->d_name) != own;
        closedir(d);
        gauge(b, "process_open_fds", "Number of open file descriptors.", fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        gauge(b, "process_max_fds", "Maximum number of open file descriptors.", (double)rl.rlim_cur);
    unsigned long long btime = 0;
    if (have_stat && (f = fopen("/proc/stat", "r"))) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "btime %llu", &btime) == 1)
                break;
        fclose(f);
    }
    if (btime)
        gauge(b, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
              (double)btime + (double)start / tick);
}

/* ---- training ---- */

static const double train_duration_bounds[METRICS_TRAIN_BUCKETS] = {1,   5,    15,         60,         300,
                                                                    900, 3600, 4 * 3600.0, 24 * 3600.0};

int metrics_train_bucket(double seconds)
{
    int b = 0;
    while (b < METRICS_TRAIN_BUCKETS && seconds > train_duration_bounds[b])
        b++;
    return b;
}

/* name{label="value"} with the value sanitised and escaped like every other label. */
static void put_labelled(buf *b, const char *name, const char *key, const char *value)
{
    label v;
    canonical(value, v);
    putf(b, "%s{%s=\"", name, key);
    put_escaped(b, v);
    put(b, "\"} ");
}

/* v with a fixed number of decimals, as a series has always printed it; the format's
 * NaN and +Inf where printf would not give a number it reads, or would not fit putf. */
static void put_fixed(buf *b, int decimals, double v)
{
    if (isfinite(v) && fabs(v) < 1e15)
        putf(b, "%.*f", decimals, v);
    else
        put_number(b, v);
}

static void render_counts(buf *b, const char *name, const char *help, const char *type, const char *key,
                          const metrics_count *counts, int n)
{
    put_header(b, name, help, type);
    for (int i = 0; i < n; i++) {
        put_labelled(b, name, key, counts[i].label);
        putf(b, "%lu\n", counts[i].count);
    }
}

/* The glia_train_* families. Their values keep the formats they have always had (whole
 * samples, loss to 6 significant digits, the duration sum to milliseconds). */
static void render_training(buf *b, const metrics_training *t)
{
    render_counts(b, "glia_train_jobs", "Training jobs by status now.", "gauge", "status", t->jobs, t->njobs);
    render_counts(b, "glia_train_jobs_total", "Training jobs finished, by outcome.", "counter", "outcome",
                  t->finished, t->nfinished);
    put_header(b, "glia_train_samples_total", "Training examples processed (epochs x examples).", "counter");
    for (int i = 0; i < t->nmodels; i++) {
        put_labelled(b, "glia_train_samples_total", "model", t->models[i].model);
        put_fixed(b, 0, t->models[i].samples);
        put(b, "\n");
    }
    put_header(b, "glia_train_loss", "Training loss of the model's last finished epoch.", "gauge");
    for (int i = 0; i < t->nmodels; i++) {
        put_labelled(b, "glia_train_loss", "model", t->models[i].model);
        if (isfinite(t->models[i].loss))
            putf(b, "%.6g\n", t->models[i].loss);
        else {
            put_number(b, t->models[i].loss); /* the format's NaN and +Inf, not printf's */
            put(b, "\n");
        }
    }
    put_header(b, "glia_train_epoch", "The model's last finished training epoch.", "gauge");
    for (int i = 0; i < t->nmodels; i++) {
        put_labelled(b, "glia_train_epoch", "model", t->models[i].model);
        putf(b, "%d\n", t->models[i].epoch);
    }
    put_header(b, "glia_train_job_duration_seconds", "Run time of finished training jobs.", "histogram");
    unsigned long cum = 0;
    for (int k = 0; k < METRICS_TRAIN_BUCKETS; k++) {
        cum += t->durations[k];
        putf(b, "glia_train_job_duration_seconds_bucket{le=\"%g\"} %lu\n", train_duration_bounds[k], cum);
    }
    cum += t->durations[METRICS_TRAIN_BUCKETS];
    putf(b, "glia_train_job_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
    put(b, "glia_train_job_duration_seconds_sum ");
    put_fixed(b, 3, t->duration_sum);
    putf(b, "\nglia_train_job_duration_seconds_count %lu\n", cum);
}

char *metrics_render(metrics *m, const metrics_snapshot *s)
{
    const metrics_snapshot none = {0};
    if (!s)
        s = &none;
    buf b = {0};
    put_header(&b, "glia_build_info", "gliad's version and BLAS library (value 1).", "gauge");
    put(&b, "glia_build_info{version=\"");
    put_escaped(&b, m->version);
    put(&b, "\",blas=\"");
    put_escaped(&b, m->blas);
    put(&b, "\"} 1\n");
    for (int i = F_HTTP; i <= F_BATCH; i++)
        render_family(&b, &m->f[i]);
    gauge(&b, "glia_inference_queue_depth", "Inference requests waiting in the queue.",
          (double)s->queue_depth);
    gauge(&b, "glia_inference_queue_capacity", "Inference requests the queue holds at most.",
          (double)s->queue_capacity);
    gauge(&b, "glia_inference_workers_busy", "Inference workers running a batch now.", s->workers_busy);
    gauge(&b, "glia_inference_workers", "Inference worker threads.", s->workers);
    render_models(&b, s);
    render_family(&b, &m->f[F_LOAD_FAILURES]);
    render_family(&b, &m->f[F_CONN_CLOSED]);
    render_family(&b, &m->f[F_EXPLAIN]);
    render_family(&b, &m->f[F_EXPLAIN_DURATION]);
    render_process(&b);
    if (s->training)
        render_training(&b, s->training);
    if (b.oom || !b.p) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
