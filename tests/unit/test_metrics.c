/*
 * test_metrics.c - gliad's Prometheus exposition: counters, cumulative histogram buckets
 * with sum and count, bucket edges, label escaping and sanitising, HELP/TYPE exactly once
 * per family (also for families without series), the cap on label sets folding into
 * "other" without losing a count, snapshot gauges, the training jobs' glia_train_*
 * families (a model name escaped in every series that carries it), plausible process_*
 * values, exact totals from many threads while a scraper renders alongside, and - where
 * Debian's prometheus package is installed - `promtool check metrics` on the real output
 * (skipped with a TAP note where it is not).
 */
#include "daemon/metrics.h"
#include "tests/support/check_main.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static metrics *fresh(void)
{
    glia_err err = {0};
    metrics *m = NULL;
    ck_assert_msg(metrics_new("9.9.9", &m, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(m);
    return m;
}

static char *render(metrics *m)
{
    /* fashion-cnn serves 3 by default and has 4 loaded beside it (a repository's canary) */
    static const metrics_model models[3] = {
        {"fashion-cnn", 3, "ab12", 1, 0}, {"fashion-cnn", 4, "cd34", 1, 1}, {"broken", 0, "", 0, 0}};
    metrics_snapshot s = {4, 256, 2, 1, models, 3, NULL};
    char *text = metrics_render(m, &s);
    ck_assert_ptr_nonnull(text);
    return text;
}

/* Lines of text that start with prefix. */
static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, len) == 0;
    return n;
}

/* The value of the sample whose name and labels are exactly key; NAN if absent. */
static double value_of(const char *text, const char *key)
{
    size_t len = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, len) == 0 && p[len] == ' ')
            return strtod(p + len + 1, NULL);
    return NAN;
}

static void assert_value(const char *text, const char *key, double want)
{
    double got = value_of(text, key);
    ck_assert_msg(got == want, "%s: want %.17g, got %.17g", key, want, got);
}

/* ---- a small checker of the text format, independent of promtool ---- */

/* Parses `name{label="value",...} number`; returns the end of the name or NULL. */
static const char *parse_sample(const char *line, const char *end, char *name, size_t cap)
{
    const char *p = line;
    while (p < end && (p[0] == '_' || p[0] == ':' || (p[0] >= 'a' && p[0] <= 'z') ||
                       (p[0] >= 'A' && p[0] <= 'Z') || (p > line && p[0] >= '0' && p[0] <= '9')))
        p++;
    if (p == line || (size_t)(p - line) >= cap)
        return NULL;
    memcpy(name, line, (size_t)(p - line));
    name[p - line] = '\0';
    if (p < end && *p == '{') {
        p++;
        while (p < end && *p != '}') {
            while (p < end && *p != '=' && *p != '"')
                p++;
            if (p + 1 >= end || p[0] != '=' || p[1] != '"')
                return NULL;
            for (p += 2; p < end && *p != '"'; p++)
                if (*p == '\\') {
                    if (p + 1 >= end || !strchr("\\\"n", p[1]))
                        return NULL;
                    p++;
                }
            if (p >= end)
                return NULL;
            p++;
            if (p < end && *p == ',')
                p++;
        }
        if (p >= end)
            return NULL;
        p++;
    }
    if (p >= end || *p != ' ')
        return NULL;
    p++;
    if (strncmp(p, "+Inf", 4) == 0 || strncmp(p, "NaN", 3) == 0)
        return p;
    char *num_end;
    strtod(p, &num_end);
    return num_end == end ? p : NULL;
}

/* Orders sample lines by name and labels: everything before the line's last space (a label
 * value may hold spaces, the value may not). */
static int compare_keys(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = (size_t)(strchr(x, '\n') - x), ly = (size_t)(strchr(y, '\n') - y);
    while (lx && x[lx - 1] != ' ')
        lx--;
    while (ly && y[ly - 1] != ' ')
        ly--;
    int c = memcmp(x, y, lx < ly ? lx : ly);
    return c ? c : (lx > ly) - (lx < ly);
}

/* Every line is a comment or a well-formed sample; every family has HELP and TYPE exactly
 * once, before its samples, which are contiguous; no sample (name and labels) twice. */
static void assert_well_formed(const char *text)
{
    enum { MAXF = 64 };
    enum { MAXK = 200000 };
    char families[MAXF][96] = {{0}}, types[MAXF][16] = {{0}};
    int nf = 0, current = -1, nkeys = 0;
    const char **keys = malloc(MAXK * sizeof *keys);
    ck_assert_ptr_nonnull(keys);
    ck_assert_int_gt((int)strlen(text), 0);
    ck_assert_int_eq(text[strlen(text) - 1], '\n');
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        char name[96];
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            ck_assert_int_eq(sscanf(line + 7, "%95s", name), 1);
            int f = -1;
            for (int i = 0; i < nf; i++)
                if (strcmp(families[i], name) == 0)
                    f = i;
            if (line[2] == 'H') {
                ck_assert_msg(f < 0, "HELP for %s twice", name);
                ck_assert_int_lt(nf, MAXF);
                snprintf(families[nf], sizeof families[nf], "%s", name);
                current = nf++;
            } else {
                ck_assert_msg(f == current && f >= 0 && !types[f][0], "TYPE for %s twice or out of place",
                              name);
                ck_assert_int_eq(sscanf(line + 7 + strlen(name), " %15s", types[f]), 1);
            }
        } else {
            ck_assert_msg(line[0] != '#', "stray comment %.*s", (int)(end - line), line);
            ck_assert_msg(parse_sample(line, end, name, sizeof name), "malformed: %.*s", (int)(end - line),
                          line);
            ck_assert_int_ge(current, 0);
            const char *fam = families[current];
            size_t fl = strlen(fam);
            int ok = strcmp(name, fam) == 0;
            if (strcmp(types[current], "histogram") == 0)
                ok = strncmp(name, fam, fl) == 0 &&
                     (!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
                      !strcmp(name + fl, "_count"));
            ck_assert_msg(ok, "sample %s under family %s", name, fam);
            ck_assert_int_lt(nkeys, MAXK);
            keys[nkeys++] = line;
        }
        line = end + 1;
    }
    for (int i = 0; i < nf; i++)
        ck_assert_msg(types[i][0], "no TYPE for %s", families[i]);
    /* no name and labels twice */
    qsort(keys, (size_t)nkeys, sizeof *keys, compare_keys);
    for (int i = 1; i < nkeys; i++)
        ck_assert_msg(compare_keys(&keys[i - 1], &keys[i]) != 0, "duplicate sample %.*s",
                      (int)(strchr(keys[i], '\n') - keys[i]), keys[i]);
    free(keys);
}

/* Each family (name, type) has its HELP and its TYPE line exactly once. */
static void assert_families(const char *text, const char *const (*families)[2], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char line[128];
        snprintf(line, sizeof line, "# HELP %s ", families[i][0]);
        ck_assert_msg(count_lines(text, line) == 1, "%s", line);
        snprintf(line, sizeof line, "# TYPE %s %s\n", families[i][0], families[i][1]);
        ck_assert_msg(count_lines(text, line) == 1, "%s", line);
    }
}

/* ---- tests ---- */

/* Explanations: four labels, and a duration only for what ran. */
START_TEST(explain_series)
{
    metrics *m = fresh();
    metrics_explain(m, "fashion-cnn", 1, "smoothgrad", "ok", 0.02);
    metrics_explain(m, "fashion-cnn", 1, "smoothgrad", "ok", 0.03);
    metrics_explain(m, "fashion-cnn", 1, "smoothgrad", "timeout", -1.0);
    char *t = render(m);
    assert_value(t,
                 "glia_explain_requests_total{model=\"fashion-cnn\",version=\"1\",method=\"smoothgrad\","
                 "outcome=\"ok\"}",
                 2);
    assert_value(t,
                 "glia_explain_requests_total{model=\"fashion-cnn\",version=\"1\",method=\"smoothgrad\","
                 "outcome=\"timeout\"}",
                 1);
    assert_value(
        t, "glia_explain_duration_seconds_count{model=\"fashion-cnn\",version=\"1\",method=\"smoothgrad\"}",
        2);
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(counters_and_histograms)
{
    metrics *m = fresh();
    metrics_http(m, "/v1/predict", "POST", 200, 0.003);
    metrics_http(m, "/v1/predict", "POST", 200, 0.25);
    metrics_http(m, "/v1/predict", "POST", 400, 0.0001);
    metrics_http(m, "/metrics", "GET", 200, 0.001);
    metrics_compute(m, "fashion-cnn", 1, 0.004, 3);
    metrics_inference(m, "fashion-cnn", 1, "ok");
    metrics_inference(m, "fashion-cnn", 1, "ok");
    metrics_inference(m, "fashion-cnn", 1, "timeout");
    char *t = render(m);
    assert_value(t, "glia_http_requests_total{route=\"/v1/predict\",method=\"POST\",code=\"200\"}", 2);
    assert_value(t, "glia_http_requests_total{route=\"/v1/predict\",method=\"POST\",code=\"400\"}", 1);
    assert_value(t, "glia_http_requests_total{route=\"/metrics\",method=\"GET\",code=\"200\"}", 1);
    /* 0.0001 <= 0.0005; 0.003 <= 0.005; 0.25 <= 0.25 (le is inclusive): cumulative counts */
    static const struct {
        const char *le;
        int want;
    } buckets[] = {{"0.0005", 1}, {"0.001", 1}, {"0.0025", 1}, {"0.005", 2}, {"0.01", 2},
                   {"0.025", 2},  {"0.05", 2},  {"0.1", 2},    {"0.25", 3},  {"0.5", 3},
                   {"1", 3},      {"2.5", 3},   {"5", 3},      {"10", 3},    {"+Inf", 3}};
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
        char key[160];
        snprintf(key, sizeof key,
                 "glia_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"%s\"}", buckets[i].le);
        assert_value(t, key, buckets[i].want);
    }
    ck_assert_int_eq(count_lines(t, "glia_http_request_duration_seconds_bucket{route=\"/v1/predict\","), 15);
    assert_value(t, "glia_http_request_duration_seconds_count{route=\"/v1/predict\"}", 3);
    assert_value(t, "glia_http_request_duration_seconds_sum{route=\"/v1/predict\"}", 0.003 + 0.25 + 0.0001);
    assert_value(t, "glia_http_request_duration_seconds_count{route=\"/metrics\"}", 1);
    assert_value(t, "glia_inference_compute_duration_seconds_count{model=\"fashion-cnn\",version=\"1\"}", 1);
    assert_value(t, "glia_inference_batch_size_bucket{model=\"fashion-cnn\",version=\"1\",le=\"2\"}", 0);
    assert_value(t, "glia_inference_batch_size_bucket{model=\"fashion-cnn\",version=\"1\",le=\"4\"}", 1);
    assert_value(t, "glia_inference_batch_size_sum{model=\"fashion-cnn\",version=\"1\"}", 3);
    assert_value(t, "glia_inference_requests_total{model=\"fashion-cnn\",version=\"1\",outcome=\"ok\"}", 2);
    assert_value(t, "glia_inference_requests_total{model=\"fashion-cnn\",version=\"1\",outcome=\"timeout\"}",
                 1);
    /* snapshot gauges */
    assert_value(t, "glia_inference_queue_depth", 4);
    assert_value(t, "glia_inference_queue_capacity", 256);
    assert_value(t, "glia_inference_workers", 2);
    assert_value(t, "glia_inference_workers_busy", 1);
    assert_value(t, "glia_model_info{model=\"fashion-cnn\",version=\"3\",sha256=\"ab12\"}", 1);
    assert_value(t, "glia_model_info{model=\"fashion-cnn\",version=\"4\",sha256=\"cd34\"}", 1);
    ck_assert_int_eq(count_lines(t, "glia_model_info{"), 2); /* not for the model that failed */
    assert_value(t, "glia_model_loaded{model=\"fashion-cnn\"}", 1);
    ck_assert_int_eq(count_lines(t, "glia_model_loaded{model=\"fashion-cnn\"}"), 1);
    assert_value(t, "glia_model_loaded{model=\"broken\"}", 0);
    ck_assert_int_eq(count_lines(t, "glia_build_info{version=\"9.9.9\",blas=\""), 1);
    ck_assert_ptr_nonnull(strstr(t, "\"} 1\n# HELP glia_http_requests_total "));
    assert_well_formed(t);
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(bucket_edges_and_batch_buckets)
{
    metrics *m = fresh();
    static const int sizes[] = {1, 2, 3, 256, 257, 1000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        metrics_compute(m, "x", 1, 10.0, sizes[i]);
    metrics_queue_wait(m, "x", 1, 10.5);  /* past the last bound: only +Inf */
    metrics_queue_wait(m, "x", 1, 0.0);   /* in the first bucket */
    metrics_queue_wait(m, "x", 1, -1e-3); /* clocks can step; still the first bucket */
    metrics_queue_wait(m, "nan", 1, NAN);
    char *t = render(m);
    /* the buckets for batch sizes, exactly: 1 .. 256 and +Inf */
    ck_assert_int_eq(count_lines(t, "glia_inference_batch_size_bucket{model=\"x\",version=\"1\","), 10);
    assert_value(t, "glia_inference_batch_size_bucket{model=\"x\",version=\"1\",le=\"1\"}", 1);
    assert_value(t, "glia_inference_batch_size_bucket{model=\"x\",version=\"1\",le=\"2\"}", 2);
    assert_value(t, "glia_inference_batch_size_bucket{model=\"x\",version=\"1\",le=\"4\"}", 3);
    assert_value(t, "glia_inference_batch_size_bucket{model=\"x\",version=\"1\",le=\"128\"}", 3);
    assert_value(t, "glia_inference_batch_size_bucket{model=\"x\",version=\"1\",le=\"256\"}", 4);
    assert_value(t, "glia_inference_batch_size_bucket{model=\"x\",version=\"1\",le=\"+Inf\"}", 6);
    assert_value(t, "glia_inference_batch_size_count{model=\"x\",version=\"1\"}", 6);
    assert_value(t, "glia_inference_batch_size_sum{model=\"x\",version=\"1\"}", 1519);
    assert_value(t, "glia_inference_compute_duration_seconds_bucket{model=\"x\",version=\"1\",le=\"5\"}", 0);
    assert_value(t, "glia_inference_compute_duration_seconds_bucket{model=\"x\",version=\"1\",le=\"10\"}", 6);
    assert_value(t, "glia_inference_compute_duration_seconds_sum{model=\"x\",version=\"1\"}", 60);
    assert_value(t, "glia_inference_queue_duration_seconds_bucket{model=\"x\",version=\"1\",le=\"0.0005\"}",
                 2);
    assert_value(t, "glia_inference_queue_duration_seconds_bucket{model=\"x\",version=\"1\",le=\"10\"}", 2);
    assert_value(t, "glia_inference_queue_duration_seconds_bucket{model=\"x\",version=\"1\",le=\"+Inf\"}", 3);
    assert_value(t, "glia_inference_queue_duration_seconds_sum{model=\"x\",version=\"1\"}", 10.5 - 1e-3);
    assert_value(t, "glia_inference_queue_duration_seconds_bucket{model=\"nan\",version=\"1\",le=\"+Inf\"}",
                 1);
    assert_value(t, "glia_inference_queue_duration_seconds_bucket{model=\"nan\",version=\"1\",le=\"10\"}", 0);
    ck_assert_int_eq(
        count_lines(t, "glia_inference_queue_duration_seconds_sum{model=\"nan\",version=\"1\"} NaN\n"), 1);
    assert_well_formed(t);
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(help_and_type_once_even_without_series)
{
    static const char *const families[][2] = {
        {"glia_build_info", "gauge"},
        {"glia_http_requests_total", "counter"},
        {"glia_http_request_duration_seconds", "histogram"},
        {"glia_inference_requests_total", "counter"},
        {"glia_inference_queue_duration_seconds", "histogram"},
        {"glia_inference_compute_duration_seconds", "histogram"},
        {"glia_inference_batch_size", "histogram"},
        {"glia_inference_queue_depth", "gauge"},
        {"glia_inference_queue_capacity", "gauge"},
        {"glia_inference_workers_busy", "gauge"},
        {"glia_inference_workers", "gauge"},
        {"glia_model_info", "gauge"},
        {"glia_model_loaded", "gauge"},
        {"glia_model_load_failures_total", "counter"},
        {"glia_http_connections_closed_total", "counter"},
        {"glia_explain_requests_total", "counter"},
        {"glia_explain_duration_seconds", "histogram"},
        {"process_cpu_seconds_total", "counter"},
        {"process_resident_memory_bytes", "gauge"},
        {"process_virtual_memory_bytes", "gauge"},
        {"process_open_fds", "gauge"},
        {"process_max_fds", "gauge"},
        {"process_start_time_seconds", "gauge"},
    };
    metrics *m = fresh();
    for (int round = 0; round < 2; round++) {
        /* round 0: nothing recorded and no snapshot; round 1: every family has series */
        char *t = round ? render(m) : metrics_render(m, NULL);
        ck_assert_ptr_nonnull(t);
        assert_families(t, families, sizeof families / sizeof families[0]);
        ck_assert_int_eq(count_lines(t, "# HELP "), (int)(sizeof families / sizeof families[0]));
        ck_assert_int_eq(count_lines(t, "# TYPE "), (int)(sizeof families / sizeof families[0]));
        if (round == 0) {
            assert_value(t, "glia_inference_queue_depth", 0);
            ck_assert_int_eq(count_lines(t, "glia_model_"), 0);
            ck_assert_int_eq(count_lines(t, "glia_http_"), 0);
        }
        assert_well_formed(t);
        free(t);
        metrics_http(m, "/healthz", "GET", 200, 0.001);
        metrics_inference(m, "a", 1, "ok");
        metrics_queue_wait(m, "a", 1, 0.001);
        metrics_compute(m, "a", 1, 0.001, 1);
        metrics_model_load_failure(m, "a");
        metrics_connection_closed(m, "header");
    }
    char *text = render(m);
    assert_value(text, "glia_http_connections_closed_total{reason=\"header\"}", 2); /* once a round */
    free(text);
    metrics_free(m);
}
END_TEST

START_TEST(escaping_and_sanitising)
{
    metrics *m = fresh();
    metrics_inference(m, "we\"ird\\name\nx", 1, "ok");
    metrics_inference(m, "bad\xff\xc3(utf8\xe2\x82", 1, "ok");
    metrics_inference(m, "caf\xc3\xa9 \xe2\x82\xac", 1, "ok"); /* valid UTF-8 is kept */
    metrics_inference(m, NULL, 1, "ok");
    metrics_inference(m, "a", 1, "bogus");
    metrics_inference(m, "a", 1, NULL);
    /* too long: cut to METRICS_LABEL_MAX bytes at a character boundary, one series */
    char longname[400];
    memset(longname, 'x', sizeof longname);
    longname[sizeof longname - 1] = '\0';
    memcpy(longname + METRICS_LABEL_MAX - 1, "\xc3\xa9", 2); /* a character across the cut */
    metrics_model_load_failure(m, longname);
    longname[300] = '\0'; /* differs only past the cut */
    metrics_model_load_failure(m, longname);
    metrics_model model = {"snap\"shot\\\n", 7, "sh\"a", 1, 0};
    metrics_snapshot snap = {0, 1, 1, 0, &model, 1, NULL};
    char *t = metrics_render(m, &snap);
    ck_assert_ptr_nonnull(t);
    assert_value(
        t, "glia_inference_requests_total{model=\"we\\\"ird\\\\name\\nx\",version=\"1\",outcome=\"ok\"}", 1);
    assert_value(t, "glia_inference_requests_total{model=\"bad?\?(utf8?\?\",version=\"1\",outcome=\"ok\"}",
                 1);
    assert_value(
        t, "glia_inference_requests_total{model=\"caf\xc3\xa9 \xe2\x82\xac\",version=\"1\",outcome=\"ok\"}",
        1);
    assert_value(t, "glia_inference_requests_total{model=\"\",version=\"1\",outcome=\"ok\"}", 1);
    assert_value(t, "glia_inference_requests_total{model=\"a\",version=\"1\",outcome=\"other\"}", 2);
    char key[300];
    snprintf(key, sizeof key, "glia_model_load_failures_total{model=\"%.*s\"}", METRICS_LABEL_MAX - 1,
             longname);
    assert_value(t, key, 2);
    ck_assert_int_eq(count_lines(t, "glia_model_load_failures_total{"), 1);
    assert_value(t, "glia_model_info{model=\"snap\\\"shot\\\\\\n\",version=\"7\",sha256=\"sh\\\"a\"}", 1);
    assert_value(t, "glia_model_loaded{model=\"snap\\\"shot\\\\\\n\"}", 1);
    assert_well_formed(t);
    free(t);
    metrics_free(m);

    glia_err err = {0};
    ck_assert_int_eq(metrics_new("1.0\"\n\\", &m, &err), GLIA_OK);
    t = metrics_render(m, NULL);
    ck_assert_int_eq(count_lines(t, "glia_build_info{version=\"1.0\\\"\\n\\\\\",blas=\""), 1);
    assert_well_formed(t);
    free(t);
    metrics_free(m);
}
END_TEST

/* Training figures as the jobs side hands them over: two statuses, one outcome, a model
 * named name and one whose last loss was NaN, and four finished jobs of 0.5 s, 100 s
 * (twice) and 1e6 s. */
static void training_figures(metrics_training *t, const char *name)
{
    memset(t, 0, sizeof *t);
    t->njobs = 2;
    t->jobs[0] = (metrics_count){"queued", 1};
    t->jobs[1] = (metrics_count){"succeeded", 3};
    t->nfinished = 1;
    t->finished[0] = (metrics_count){"succeeded", 3};
    t->nmodels = 2;
    snprintf(t->models[0].model, sizeof t->models[0].model, "%s", name);
    t->models[0].samples = 1500;
    t->models[0].loss = 0.25;
    t->models[0].epoch = 3;
    snprintf(t->models[1].model, sizeof t->models[1].model, "plain");
    t->models[1].loss = NAN;
    t->durations[metrics_train_bucket(0.5)]++;
    t->durations[metrics_train_bucket(100)] += 2;
    t->durations[metrics_train_bucket(1e6)]++;
    t->duration_sum = 0.5 + 200 + 1e6;
}

START_TEST(training_series)
{
    static const char *const families[][2] = {
        {"glia_train_jobs", "gauge"},
        {"glia_train_jobs_total", "counter"},
        {"glia_train_samples_total", "counter"},
        {"glia_train_loss", "gauge"},
        {"glia_train_epoch", "gauge"},
        {"glia_train_job_duration_seconds", "histogram"},
    };
    metrics *m = fresh();
    metrics_training t;
    training_figures(&t, "fashion-cnn");
    metrics_snapshot snap = {0, 1, 1, 0, NULL, 0, &t};
    char *text = metrics_render(m, &snap);
    ck_assert_ptr_nonnull(text);
    assert_families(text, families, sizeof families / sizeof families[0]);
    /* the values in the formats the series have always had */
    static const char *const lines[] = {
        "glia_train_jobs{status=\"queued\"} 1\n",
        "glia_train_jobs{status=\"succeeded\"} 3\n",
        "glia_train_jobs_total{outcome=\"succeeded\"} 3\n",
        "glia_train_samples_total{model=\"fashion-cnn\"} 1500\n",
        "glia_train_samples_total{model=\"plain\"} 0\n",
        "glia_train_loss{model=\"fashion-cnn\"} 0.25\n",
        "glia_train_loss{model=\"plain\"} NaN\n",
        "glia_train_epoch{model=\"fashion-cnn\"} 3\n",
        "glia_train_job_duration_seconds_bucket{le=\"1\"} 1\n",
        "glia_train_job_duration_seconds_bucket{le=\"60\"} 1\n",
        "glia_train_job_duration_seconds_bucket{le=\"300\"} 3\n",
        "glia_train_job_duration_seconds_bucket{le=\"14400\"} 3\n",
        "glia_train_job_duration_seconds_bucket{le=\"86400\"} 3\n",
        "glia_train_job_duration_seconds_bucket{le=\"+Inf\"} 4\n",
        "glia_train_job_duration_seconds_sum 1000200.500\n",
        "glia_train_job_duration_seconds_count 4\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        ck_assert_msg(count_lines(text, lines[i]) == 1, "missing: %s", lines[i]);
    ck_assert_int_eq(count_lines(text, "glia_train_job_duration_seconds_bucket{"), METRICS_TRAIN_BUCKETS + 1);
    assert_well_formed(text);
    free(text);
    /* values printf would not print as a number the format reads, or at length, still render */
    t.models[1].samples = 1e300;
    t.duration_sum = INFINITY;
    text = metrics_render(m, &snap);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(count_lines(text, "glia_train_samples_total{model=\"plain\"} 1e+300\n"), 1);
    ck_assert_int_eq(count_lines(text, "glia_train_job_duration_seconds_sum +Inf\n"), 1);
    assert_well_formed(text);
    free(text);
    /* without training (no state directory) there is no glia_train_* series at all */
    snap.training = NULL;
    text = metrics_render(m, &snap);
    ck_assert_int_eq(count_lines(text, "glia_train_"), 0);
    ck_assert_int_eq(count_lines(text, "# HELP glia_train_"), 0);
    free(text);
    metrics_free(m);
}
END_TEST

/* A model name with a double quote, a backslash and a newline, in every series that
 * carries a model label - the training ones included - comes out escaped as the text
 * format 0.0.4 wants, and never raw. */
START_TEST(model_name_escaped_everywhere)
{
    static const char name[] = "we\"ird\\name\nx";
    static const char escaped[] = "model=\"we\\\"ird\\\\name\\nx\"";
    metrics *m = fresh();
    metrics_inference(m, name, 1, "ok");
    metrics_queue_wait(m, name, 1, 0.001);
    metrics_compute(m, name, 1, 0.002, 2);
    metrics_model_load_failure(m, name);
    metrics_model model = {name, 2, "ab", 1, 0};
    metrics_training t;
    training_figures(&t, name);
    metrics_snapshot snap = {0, 1, 1, 0, &model, 1, &t};
    char *text = metrics_render(m, &snap);
    ck_assert_ptr_nonnull(text);
    /* per family: the series that carry the model label, all of them escaped */
    static const struct {
        const char *prefix;
        int series;
    } carriers[] = {
        {"glia_inference_requests_total{", 1},
        {"glia_inference_queue_duration_seconds_", 15 + 2}, /* buckets, sum, count */
        {"glia_inference_compute_duration_seconds_", 15 + 2},
        {"glia_inference_batch_size_", 10 + 2},
        {"glia_model_load_failures_total{", 1},
        {"glia_model_info{", 1},
        {"glia_model_loaded{", 1},
        {"glia_train_samples_total{", 1},
        {"glia_train_loss{", 1},
        {"glia_train_epoch{", 1},
    };
    int total = 0;
    for (size_t i = 0; i < sizeof carriers / sizeof carriers[0]; i++) {
        int n = 0;
        size_t len = strlen(carriers[i].prefix);
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
            const char *end = strchr(p, '\n');
            const char *hit = strstr(p, escaped);
            n += strncmp(p, carriers[i].prefix, len) == 0 && hit && hit < end;
        }
        ck_assert_msg(n == carriers[i].series, "%s: %d of %d series with the escaped name",
                      carriers[i].prefix, n, carriers[i].series);
        total += n;
    }
    /* and nowhere else, and never raw (a raw newline would start a line with x") */
    int anywhere = 0;
    for (const char *p = strstr(text, escaped); p; p = strstr(p + 1, escaped))
        anywhere++;
    ck_assert_int_eq(anywhere, total);
    ck_assert_ptr_null(strstr(text, "model=\"we\"ird"));
    ck_assert_int_eq(count_lines(text, "x\""), 0);
    assert_value(text, "glia_train_samples_total{model=\"we\\\"ird\\\\name\\nx\"}", 1500);
    assert_value(text, "glia_train_loss{model=\"we\\\"ird\\\\name\\nx\"}", 0.25);
    assert_value(text, "glia_train_epoch{model=\"we\\\"ird\\\\name\\nx\"}", 3);
    assert_well_formed(text);
    free(text);
    metrics_free(m);
}
END_TEST

START_TEST(series_cap_folds_into_other)
{
    enum { NAMES = 3000 };
    metrics *m = fresh();
    metrics_model_load_failure(m, "early");
    metrics_http(m, "other", "GET", 404, 0.001); /* gliad's own route for unknown paths */
    for (int i = 0; i < NAMES; i++) {
        char name[32];
        snprintf(name, sizeof name, "model-%d", i);
        metrics_model_load_failure(m, name);
        snprintf(name, sizeof name, "/r%d", i);
        metrics_http(m, name, "GET", 200, 0.001);
    }
    metrics_model_load_failure(m, "early"); /* an existing series keeps its own count */
    metrics_model_load_failure(m, "late");  /* a new one after the cap goes to "other" */
    char *t = render(m);
    ck_assert_int_eq(count_lines(t, "glia_model_load_failures_total{"), METRICS_MAX_SERIES);
    assert_value(t, "glia_model_load_failures_total{model=\"early\"}", 2);
    ck_assert(isnan(value_of(t, "glia_model_load_failures_total{model=\"late\"}")));
    /* 1 + 1022 regular names, the rest (and "late") in "other": nothing is lost */
    assert_value(t, "glia_model_load_failures_total{model=\"other\"}", NAMES - (METRICS_MAX_SERIES - 2) + 1);
    double total = 0;
    for (const char *p = strstr(t, "\nglia_model_load_failures_total{"); p;
         p = strstr(p + 1, "\nglia_model_load_failures_total{"))
        total += strtod(strchr(p, '}') + 2, NULL);
    ck_assert_double_eq(total, NAMES + 3);
    /* three labels: the fold is other/other/other, distinct from gliad's route "other" */
    ck_assert_int_eq(count_lines(t, "glia_http_requests_total{"), METRICS_MAX_SERIES);
    assert_value(t, "glia_http_requests_total{route=\"other\",method=\"GET\",code=\"404\"}", 1);
    assert_value(t, "glia_http_requests_total{route=\"other\",method=\"other\",code=\"other\"}",
                 NAMES - (METRICS_MAX_SERIES - 2));
    /* one label: the fold shares the series gliad already made for route "other" */
    ck_assert_int_eq(count_lines(t, "glia_http_request_duration_seconds_count{"), METRICS_MAX_SERIES - 1);
    assert_value(t, "glia_http_request_duration_seconds_count{route=\"other\"}",
                 1 + NAMES - (METRICS_MAX_SERIES - 2));
    assert_well_formed(t);
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(process_series)
{
    metrics *m = fresh();
    char *t = render(m);
    double rss = value_of(t, "process_resident_memory_bytes"),
           vm = value_of(t, "process_virtual_memory_bytes");
    ck_assert_double_gt(rss, 1 << 20);
    ck_assert_double_ge(vm, rss);
    double cpu = value_of(t, "process_cpu_seconds_total");
    ck_assert_double_ge(cpu, 0);
    ck_assert_double_lt(cpu, 3600);
    double fds = value_of(t, "process_open_fds");
    ck_assert_double_ge(fds, 3);
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_value(t, "process_max_fds", (double)rl.rlim_cur);
    double start = value_of(t, "process_start_time_seconds"), now = (double)time(NULL);
    ck_assert_double_le(start, now + 1);
    ck_assert_double_gt(start, now - 600); /* this process (Check forks it) began just now */
    free(t);
    /* open descriptors are counted, not estimated */
    int extra[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(extra[i] = open("/dev/null", O_RDONLY), 0);
    t = render(m);
    assert_value(t, "process_open_fds", fds + 3);
    free(t);
    for (int i = 0; i < 3; i++)
        close(extra[i]);
    metrics_free(m);
}
END_TEST

enum { THREADS = 8, PER_THREAD = 100000, SHARED = 50, OWN = 100 };

typedef struct {
    metrics *m;
    int id;
} worker_arg;

static atomic_int writers_left;
static atomic_int scrape_problems, scrapes;

static void *hammer(void *arg)
{
    worker_arg *w = arg;
    char name[32];
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_inference(w->m, i % 2 ? "a" : "b", 1, "ok");
        metrics_queue_wait(w->m, "a", 1, 0.5); /* exact in binary: the sum must be exact too */
        metrics_http(w->m, "/v1/predict", "POST", 200 + i % 3, 0.001 * (i % 7));
        if (i < SHARED) { /* every thread races to create the same series */
            snprintf(name, sizeof name, "shared-%d", i);
            metrics_model_load_failure(w->m, name);
        } else if (i < SHARED + OWN) { /* and its own, alongside the others */
            snprintf(name, sizeof name, "own-%d-%d", w->id, i);
            metrics_model_load_failure(w->m, name);
        }
    }
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

/* Renders while the writers run: every histogram must be consistent in every rendering. */
static void *scrape(void *arg)
{
    metrics *m = arg;
    while (atomic_load(&writers_left) > 0) {
        char *t = metrics_render(m, NULL);
        if (!t) {
            atomic_fetch_add(&scrape_problems, 1);
            break;
        }
        unsigned long long last = 0, inf = 0, count = 0;
        for (const char *p = t; *p; p = strchr(p, '\n') + 1) {
            if (strncmp(p, "glia_http_request_duration_seconds_bucket{", 42) == 0) {
                unsigned long long v = strtoull(strchr(p, ' ') + 1, NULL, 10);
                const char *le = strstr(p, "le=\"");
                if (strncmp(le, "le=\"0.0005\"", 12) == 0)
                    last = 0; /* a new series */
                if (v < last)
                    atomic_fetch_add(&scrape_problems, 1); /* cumulative counts must not fall */
                last = v;
                if (strncmp(le, "le=\"+Inf\"", 9) == 0)
                    inf = v;
            } else if (strncmp(p, "glia_http_request_duration_seconds_count{", 41) == 0) {
                count = strtoull(strchr(p, ' ') + 1, NULL, 10);
                if (count != inf)
                    atomic_fetch_add(&scrape_problems, 1);
            }
        }
        free(t);
        atomic_fetch_add(&scrapes, 1);
    }
    return NULL;
}

START_TEST(concurrent_updates_are_exact)
{
    metrics *m = fresh();
    pthread_t t[THREADS], scraper;
    worker_arg args[THREADS];
    atomic_store(&writers_left, THREADS);
    atomic_store(&scrape_problems, 0);
    atomic_store(&scrapes, 0);
    ck_assert_int_eq(pthread_create(&scraper, NULL, scrape, m), 0);
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){m, i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_join(scraper, NULL);
    ck_assert_int_eq(atomic_load(&scrape_problems), 0);
    ck_assert_int_gt(atomic_load(&scrapes), 0);

    char *text = render(m);
    const double total = (double)THREADS * PER_THREAD;
    assert_value(text, "glia_inference_requests_total{model=\"a\",version=\"1\",outcome=\"ok\"}", total / 2);
    assert_value(text, "glia_inference_requests_total{model=\"b\",version=\"1\",outcome=\"ok\"}", total / 2);
    assert_value(text, "glia_inference_queue_duration_seconds_count{model=\"a\",version=\"1\"}", total);
    assert_value(text, "glia_inference_queue_duration_seconds_bucket{model=\"a\",version=\"1\",le=\"0.25\"}",
                 0);
    assert_value(text, "glia_inference_queue_duration_seconds_bucket{model=\"a\",version=\"1\",le=\"0.5\"}",
                 total);
    assert_value(text, "glia_inference_queue_duration_seconds_sum{model=\"a\",version=\"1\"}", total * 0.5);
    assert_value(text, "glia_http_request_duration_seconds_count{route=\"/v1/predict\"}", total);
    double codes = 0;
    for (int c = 200; c < 203; c++) {
        char key[128];
        snprintf(key, sizeof key,
                 "glia_http_requests_total{route=\"/v1/predict\",method=\"POST\",code=\"%d\"}", c);
        codes += value_of(text, key);
    }
    ck_assert_double_eq(codes, total);
    for (int i = 0; i < SHARED; i++) {
        char key[128];
        snprintf(key, sizeof key, "glia_model_load_failures_total{model=\"shared-%d\"}", i);
        assert_value(text, key, THREADS);
    }
    ck_assert_int_eq(count_lines(text, "glia_model_load_failures_total{model=\"own-"), THREADS * OWN);
    assert_well_formed(text);
    free(text);
    metrics_free(m);
}
END_TEST

START_TEST(promtool_accepts_it)
{
    if (access("/usr/bin/promtool", X_OK) != 0) {
        printf("# SKIP promtool_accepts_it: no /usr/bin/promtool (Debian package prometheus)\n");
        fflush(stdout);
        return;
    }
    metrics *m = fresh();
    metrics_http(m, "/v1/predict", "POST", 200, 0.003);
    metrics_http(m, "/v1/models/{name}", "GET", 404, 0.0002);
    metrics_compute(m, "fashion-cnn", 1, 0.004, 3);
    metrics_queue_wait(m, "fashion-cnn", 1, 0.0001);
    metrics_inference(m, "fashion-cnn", 1, "timeout");
    metrics_inference(m, "we\"ird\\name\nx", 1, "ok");
    metrics_model_load_failure(m, "fashion-cnn");
    for (int i = 0; i < 2 * METRICS_MAX_SERIES; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%d", i);
        metrics_model_load_failure(m, name);
    }
    static const metrics_model models[1] = {{"fashion-cnn", 3, "ab12", 1, 0}};
    metrics_training train;
    training_figures(&train, "we\"ird\\name\nx");
    metrics_snapshot snap = {4, 256, 2, 1, models, 1, &train};
    char *t = metrics_render(m, &snap);
    ck_assert_ptr_nonnull(t);
    char dir[256], cmd[700];
    glia_test_mkdtemp(dir, sizeof dir, "metrics");
    const char *p = glia_test_write(dir, "metrics.txt", t);
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < '%s' > '%s/out.txt' 2>&1", p, dir);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "sed 's/^/# /' '%s/out.txt'", dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    glia_test_rmtree(dir);
    free(t);
    metrics_free(m);
    ck_assert_msg(rc == 0, "promtool check metrics failed (its output is above)");
}
END_TEST

START_TEST(free_null_and_idle_render)
{
    /* metrics_free takes NULL as free does; an idle registry still renders every family */
    metrics_free(NULL);
    metrics *m = fresh();
    char *t = metrics_render(m, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_gt((int)strlen(t), 1000);
    free(t);
    metrics_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, counters_and_histograms);
    tcase_add_test(tc, bucket_edges_and_batch_buckets);
    tcase_add_test(tc, help_and_type_once_even_without_series);
    tcase_add_test(tc, explain_series);
    tcase_add_test(tc, escaping_and_sanitising);
    tcase_add_test(tc, training_series);
    tcase_add_test(tc, model_name_escaped_everywhere);
    tcase_add_test(tc, series_cap_folds_into_other);
    tcase_add_test(tc, process_series);
    tcase_add_test(tc, concurrent_updates_are_exact);
    tcase_add_test(tc, promtool_accepts_it);
    tcase_add_test(tc, free_null_and_idle_render);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
