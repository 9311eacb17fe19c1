/*
 * test_metrics.c - gliad's Prometheus exposition: exact counts from many threads,
 * cumulative histogram buckets with sum and count, label escaping, HELP/TYPE once per
 * family, the cap on label sets, snapshot gauges, process_* series, and - where Debian's
 * prometheus package is installed - `promtool check metrics` on the real output.
 */
#include "daemon/metrics.h"
#include "tests/support/check_main.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static metrics *fresh(void)
{
    glia_err err = {0};
    metrics *m;
    ck_assert_int_eq(metrics_new("9.9.9", &m, &err), GLIA_OK);
    return m;
}

static char *render(metrics *m)
{
    metrics_model models[2] = {{"fashion-cnn", 3, "ab12", 1}, {"broken", 0, "", 0}};
    metrics_snapshot s = {4, 256, 2, 1, models, 2};
    char *text = metrics_render(m, &s);
    ck_assert_ptr_nonnull(text);
    return text;
}

static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, len) == 0;
    return n;
}

START_TEST(counters_and_histograms)
{
    metrics *m = fresh();
    metrics_http(m, "/v1/predict", "POST", 200, 0.003);
    metrics_http(m, "/v1/predict", "POST", 200, 0.2);
    metrics_http(m, "/v1/predict", "POST", 400, 0.0001);
    metrics_compute(m, "fashion-cnn", 0.004, 3);
    metrics_inference(m, "fashion-cnn", "ok");
    char *t = render(m);
    ck_assert_ptr_nonnull(
        strstr(t, "glia_http_requests_total{route=\"/v1/predict\",method=\"POST\",code=\"200\"} 2\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "glia_http_requests_total{route=\"/v1/predict\",method=\"POST\",code=\"400\"} 1\n"));
    /* 0.0001 <= 0.0005; 0.003 <= 0.005; 0.2 <= 0.25: cumulative counts */
    ck_assert_ptr_nonnull(
        strstr(t, "glia_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"0.0005\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "glia_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"0.005\"} 2\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "glia_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"0.1\"} 2\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "glia_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"0.25\"} 3\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "glia_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"+Inf\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(t, "glia_http_request_duration_seconds_count{route=\"/v1/predict\"} 3\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "glia_http_request_duration_seconds_sum{route=\"/v1/predict\"} 0.2031\n"));
    ck_assert_ptr_nonnull(strstr(t, "glia_inference_batch_size_bucket{model=\"fashion-cnn\",le=\"2\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "glia_inference_batch_size_bucket{model=\"fashion-cnn\",le=\"4\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "glia_inference_requests_total{model=\"fashion-cnn\",outcome=\"ok\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "glia_inference_queue_depth 4\n"));
    ck_assert_ptr_nonnull(strstr(t, "glia_inference_workers_busy 1\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "glia_model_info{model=\"fashion-cnn\",version=\"3\",sha256=\"ab12\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "glia_model_loaded{model=\"broken\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "glia_build_info{version=\"9.9.9\"} 1\n"));
    /* every family announced once, even without series */
    ck_assert_int_eq(count_lines(t, "# TYPE glia_http_requests_total "), 1);
    ck_assert_int_eq(count_lines(t, "# TYPE glia_model_load_failures_total counter"), 1);
    ck_assert_int_eq(count_lines(t, "# HELP glia_inference_queue_duration_seconds "), 1);
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(process_series)
{
    metrics *m = fresh();
    char *t = render(m);
    long rss = 0, fds = 0;
    double start = 0;
    const char *p = strstr(t, "\nprocess_resident_memory_bytes ");
    ck_assert_ptr_nonnull(p);
    rss = strtol(p + strlen("\nprocess_resident_memory_bytes "), NULL, 10);
    ck_assert_int_gt(rss, 1 << 20);
    p = strstr(t, "\nprocess_open_fds ");
    ck_assert_ptr_nonnull(p);
    fds = strtol(p + strlen("\nprocess_open_fds "), NULL, 10);
    ck_assert_int_ge(fds, 3);
    p = strstr(t, "\nprocess_start_time_seconds ");
    ck_assert_ptr_nonnull(p);
    start = strtod(p + strlen("\nprocess_start_time_seconds "), NULL);
    ck_assert_double_gt(start, 1.7e9);
    ck_assert_ptr_nonnull(strstr(t, "\nprocess_cpu_seconds_total "));
    ck_assert_ptr_nonnull(strstr(t, "\nprocess_max_fds "));
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(escaping_and_cap)
{
    metrics *m = fresh();
    metrics_inference(m, "we\"ird\\name\nx", "ok");
    for (int i = 0; i < 400; i++) {
        char name[32];
        snprintf(name, sizeof name, "model-%d", i);
        metrics_model_load_failure(m, name);
    }
    char *t = render(m);
    ck_assert_ptr_nonnull(strstr(t, "model=\"we\\\"ird\\\\name\\nx\""));
    ck_assert_ptr_nonnull(strstr(t, "glia_model_load_failures_total{model=\"other\"} "));
    ck_assert_int_lt(count_lines(t, "glia_model_load_failures_total{"), 400);
    /* nothing is lost: the per-name counts plus "other" add up to 400 */
    long total = 0;
    for (const char *p = strstr(t, "glia_model_load_failures_total{"); p;
         p = strstr(p + 1, "glia_model_load_failures_total{"))
        total += strtol(strchr(p, '}') + 2, NULL, 10);
    ck_assert_int_eq(total, 400);
    free(t);
    metrics_free(m);
}
END_TEST

enum { THREADS = 8, PER_THREAD = 50000 };

static void *hammer(void *arg)
{
    metrics *m = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_inference(m, i % 2 ? "a" : "b", "ok");
        metrics_queue_wait(m, "a", 0.001);
    }
    return NULL;
}

START_TEST(concurrent_updates_are_exact)
{
    metrics *m = fresh();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, m), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *text = render(m), want[128];
    snprintf(want, sizeof want, "glia_inference_requests_total{model=\"a\",outcome=\"ok\"} %d\n",
             THREADS * PER_THREAD / 2);
    ck_assert_msg(strstr(text, want), "%s", want);
    snprintf(want, sizeof want, "glia_inference_queue_duration_seconds_count{model=\"a\"} %d\n",
             THREADS * PER_THREAD);
    ck_assert_msg(strstr(text, want), "%s", want);
    free(text);
    metrics_free(m);
}
END_TEST

START_TEST(promtool_accepts_it)
{
    if (access("/usr/bin/promtool", X_OK) != 0) {
        printf("# promtool not installed (Debian package prometheus; scripts/setup --test installs it)\n");
        ck_abort_msg("promtool is missing");
    }
    metrics *m = fresh();
    metrics_http(m, "/v1/predict", "POST", 200, 0.003);
    metrics_compute(m, "fashion-cnn", 0.004, 3);
    metrics_inference(m, "fashion-cnn", "timeout");
    metrics_model_load_failure(m, "fashion-cnn");
    char *t = render(m);
    char dir[256], cmd[600];
    glia_test_mkdtemp(dir, sizeof dir, "metrics");
    const char *p = glia_test_write(dir, "metrics.txt", t);
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < '%s' > '%s/out.txt' 2>&1", p, dir);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "cat '%s/out.txt'", dir);
    if (rc != 0)
        ck_assert_int_eq(system(cmd), 0);
    ck_assert_msg(rc == 0, "promtool check metrics failed");
    glia_test_rmtree(dir);
    free(t);
    metrics_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, counters_and_histograms);
    tcase_add_test(tc, process_series);
    tcase_add_test(tc, escaping_and_cap);
    tcase_add_test(tc, concurrent_updates_are_exact);
    tcase_add_test(tc, promtool_accepts_it);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
