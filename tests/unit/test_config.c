/*
 * test_config.c - gliad's configuration: the shipped etc/gliad.yaml, defaults, every
 * kind of bad value or unknown key refused with file, line and key, size strings,
 * duplicate model names, relative paths, and the token file rules.
 */
#include "core/model/manifest.h"
#include "daemon/config.h"
#include "tests/support/check_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "config");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

/* Loads text as tmpdir/name; on failure the message is in err. */
static glia_status load_text(const char *name, const char *text, config *c, glia_err *err)
{
    return config_load(glia_test_write(tmpdir, name, text), c, err);
}

/* The limits.* keys of the work per request and of fairness across models. */
static void assert_limits(const config *c, long pixels, long request_pixels, long tokens, long translation,
                          long turn, int model_workers)
{
    ck_assert_int_eq(c->max_pixels, pixels);
    ck_assert_int_eq(c->max_request_pixels, request_pixels);
    ck_assert_int_eq(c->max_request_tokens, tokens);
    ck_assert_int_eq(c->max_translation_tokens, translation);
    ck_assert_int_eq(c->translation_turn_tokens, turn);
    ck_assert_int_eq(c->model_workers, model_workers);
}

/* Every field but path and the model list. */
static void assert_same_settings(const config *a, const config *b)
{
    ck_assert_str_eq(a->listen, b->listen);
    ck_assert_int_eq(a->port, b->port);
    ck_assert_int_eq(a->workers, b->workers);
    ck_assert_int_eq(a->queue_length, b->queue_length);
    ck_assert_int_eq(a->body_limit, b->body_limit);
    ck_assert_int_eq(a->max_connections, b->max_connections);
    ck_assert_int_eq(a->connections_per_client, b->connections_per_client);
    ck_assert_int_eq(a->connections_reserve, b->connections_reserve);
    ck_assert_int_eq(a->idle_timeout_ms, b->idle_timeout_ms);
    ck_assert_int_eq(a->header_timeout_ms, b->header_timeout_ms);
    ck_assert_int_eq(a->body_timeout_ms, b->body_timeout_ms);
    ck_assert_int_eq(a->body_min_rate, b->body_min_rate);
    ck_assert_int_eq(a->request_timeout_ms, b->request_timeout_ms);
    ck_assert_int_eq(a->batch_max_size, b->batch_max_size);
    ck_assert_int_eq(a->batch_max_wait_us, b->batch_max_wait_us);
    ck_assert_int_eq(a->drain_timeout_ms, b->drain_timeout_ms);
    ck_assert_int_eq(a->blas_threads, b->blas_threads);
    ck_assert_int_eq(a->train_threads, b->train_threads);
    ck_assert_int_eq(a->train_nice, b->train_nice);
    ck_assert_int_eq(a->train_max_queued, b->train_max_queued);
    ck_assert_int_eq(a->train_enabled, b->train_enabled);
    ck_assert_int_eq(a->max_dataset_bytes, b->max_dataset_bytes);
    ck_assert_str_eq(a->state_dir, b->state_dir);
    ck_assert_str_eq(a->admin_token_file, b->admin_token_file);
    ck_assert_str_eq(a->inference_token_file, b->inference_token_file);
    ck_assert_int_eq(a->log_level, b->log_level);
    assert_limits(a, b->max_pixels, b->max_request_pixels, b->max_request_tokens, b->max_translation_tokens,
                  b->translation_turn_tokens, b->model_workers);
}

START_TEST(shipped_config)
{
    glia_err err = {0};
    config c, d;
    struct stat st;
    char bundle_yaml[CONFIG_PATH_MAX + 16];
    ck_assert_msg(config_load(glia_test_path("etc/gliad.yaml"), &c, &err) == GLIA_OK, "%s", err.msg);
    /* etc/README.md promises the shipped file spells out the built-in defaults */
    config_defaults(&d);
    assert_same_settings(&c, &d);
    ck_assert_int_eq(c.nmodels, 6);
    ck_assert_str_eq(c.models[0].name, "fashion-cnn");
    ck_assert_str_eq(c.models[1].name, "fashion-cnn-bn");
    ck_assert_str_eq(c.models[2].name, "sentiment-lstm");
    ck_assert_str_eq(c.models[3].name, "sentiment-lm");
    ck_assert_str_eq(c.models[4].name, "translate-en-es");
    ck_assert_str_eq(c.models[5].name, "translate-en-es-docs");
    for (int i = 0; i < c.nmodels; i++) {
        ck_assert_msg(stat(c.models[i].path, &st) == 0 && S_ISDIR(st.st_mode), "%s", c.models[i].path);
        snprintf(bundle_yaml, sizeof bundle_yaml, "%s/model.yaml", c.models[i].path);
        ck_assert_msg(access(bundle_yaml, R_OK) == 0, "%s", bundle_yaml);
    }
    config_free(&c);
    ck_assert_ptr_null(c.models);
    ck_assert_int_eq(c.nmodels, 0);
}
END_TEST

START_TEST(defaults)
{
    glia_err err = {0};
    config c;
    config_defaults(&c);
    ck_assert_str_eq(c.listen, "127.0.0.1");
    ck_assert_int_eq(c.port, 8080);
    ck_assert_int_eq(c.workers, 0);
    ck_assert_int_eq(c.queue_length, 256);
    ck_assert_int_eq(c.body_limit, 8L << 20);
    ck_assert_int_eq(c.max_connections, 1000);
    ck_assert_int_eq(c.connections_per_client, 64);
    ck_assert_int_eq(c.connections_reserve, 50);
    ck_assert_int_eq(c.idle_timeout_ms, 30000);
    ck_assert_int_eq(c.header_timeout_ms, 10000);
    ck_assert_int_eq(c.body_timeout_ms, 30000);
    ck_assert_int_eq(c.body_min_rate, 64 * 1024);
    ck_assert_int_eq(c.request_timeout_ms, 5000);
    ck_assert_int_eq(c.batch_max_size, 32);
    ck_assert_int_eq(c.batch_max_wait_us, 500);
    ck_assert_int_eq(c.drain_timeout_ms, 10000);
    ck_assert_int_eq(c.blas_threads, 1);
    ck_assert_int_eq(c.nmodels, 0);
    ck_assert_ptr_null(c.models);
    ck_assert_str_eq(c.state_dir, "/var/lib/gliad");
    ck_assert_str_eq(c.admin_token_file, "");
    ck_assert_str_eq(c.inference_token_file, "");
    ck_assert_int_eq(c.log_level, CONFIG_LOG_INFO);
    ck_assert_int_eq(c.log_json, 0);
    ck_assert_int_eq(c.train_enabled, 1);
    ck_assert_int_eq(c.repo_shared_labels, 0);
    assert_limits(&c, 4L << 20, 16L << 20, 65536, 131072, 4096, 0);
    config_free(&c);

    /* an empty file, a file of comments, and a models list with every entry commented
     * out (a YAML null) all mean: the defaults, no models */
    static const char *const empties[] = {"", "# nothing here\n",
                                          "models:\n#  - {name: a, path: a}\nauth: {admin_token_file: ~}\n",
                                          "models: []\nlisten: {}\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        config d;
        config_defaults(&d);
        ck_assert_msg(load_text("empty.yaml", empties[i], &c, &err) == GLIA_OK, "case %zu: %s", i, err.msg);
        assert_same_settings(&c, &d);
        ck_assert_int_eq(c.nmodels, 0);
        ck_assert_str_eq(c.path, glia_test_write(tmpdir, "empty.yaml", empties[i]));
        config_free(&c);
    }
}
END_TEST

START_TEST(every_key)
{
    glia_err err = {0};
    config c;
    char want[600];
    ck_assert_msg(
        load_text(
            "b.yaml",
            "listen: {address: '::1', port: 0}\nworkers: 3\nqueue: {length: 9, timeout_ms: 70}\n"
            "batching: {max_size: 5, max_wait_us: 0}\n"
            "limits: {body: 512KiB, connections: 40, connections_per_client: 0, connections_reserve: 39,\n"
            "  idle_timeout_ms: 100, header_timeout_ms: 250, body_timeout_ms: 3600000, body_min_rate: 1B,\n"
            "  max_pixels: 1000, max_request_pixels: 2000, max_request_tokens: 30,\n"
            "  max_translation_tokens: 4000, translation_turn_tokens: 0, model_workers: 2}\n"
            "drain_timeout_ms: 0\nblas_threads: 2\n"
            "models:\n  - {name: m1, path: bundles/m1}\n  - {name: m-2.x_Y, path: /abs/m2}\n"
            "state_dir: state\n"
            "auth: {admin_token_file: admin.token, inference_token_file: /etc/infer.token}\n"
            "log: {level: debug}\n",
            &c, &err) == GLIA_OK,
        "%s", err.msg);
    ck_assert_str_eq(c.listen, "::1");
    ck_assert_int_eq(c.port, 0);
    ck_assert_int_eq(c.workers, 3);
    ck_assert_int_eq(c.queue_length, 9);
    ck_assert_int_eq(c.request_timeout_ms, 70);
    ck_assert_int_eq(c.batch_max_size, 5);
    ck_assert_int_eq(c.batch_max_wait_us, 0);
    ck_assert_int_eq(c.body_limit, 512 * 1024);
    ck_assert_int_eq(c.max_connections, 40);
    ck_assert_int_eq(c.connections_per_client, 0);
    ck_assert_int_eq(c.connections_reserve, 39);
    ck_assert_int_eq(c.idle_timeout_ms, 100);
    ck_assert_int_eq(c.header_timeout_ms, 250);
    ck_assert_int_eq(c.body_timeout_ms, 3600000);
    ck_assert_int_eq(c.body_min_rate, 1);
    assert_limits(&c, 1000, 2000, 30, 4000, 0, 2);
    ck_assert_int_eq(c.drain_timeout_ms, 0);
    ck_assert_int_eq(c.blas_threads, 2);
    ck_assert_int_eq(c.nmodels, 2);
    ck_assert_str_eq(c.models[0].name, "m1");
    ck_assert_str_eq(c.models[1].name, "m-2.x_Y");
    /* relative paths resolve against the config file's directory, absolute ones stay */
    snprintf(want, sizeof want, "%s/bundles/m1", tmpdir);
    ck_assert_str_eq(c.models[0].path, want);
    ck_assert_str_eq(c.models[1].path, "/abs/m2");
    snprintf(want, sizeof want, "%s/state", tmpdir);
    ck_assert_str_eq(c.state_dir, want);
    snprintf(want, sizeof want, "%s/admin.token", tmpdir);
    ck_assert_str_eq(c.admin_token_file, want);
    ck_assert_str_eq(c.inference_token_file, "/etc/infer.token");
    ck_assert_int_eq(c.log_level, CONFIG_LOG_DEBUG);
    config_free(&c);

    static const char *const levels[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        char text[64];
        snprintf(text, sizeof text, "log:\n  level: %s\n", levels[i]);
        ck_assert_msg(load_text("l.yaml", text, &c, &err) == GLIA_OK, "%s", err.msg);
        ck_assert_int_eq(c.log_level, CONFIG_LOG_ERROR + i);
        config_free(&c);
    }
    /* log.format (issue 14): text (the default) or json */
    ck_assert_msg(load_text("f.yaml", "log: {format: json}\n", &c, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(c.log_json, 1);
    ck_assert_int_eq(c.log_level, CONFIG_LOG_INFO);
    config_free(&c);
    ck_assert_msg(load_text("f.yaml", "log: {level: warn, format: text}\n", &c, &err) == GLIA_OK, "%s",
                  err.msg);
    ck_assert_int_eq(c.log_json, 0);
    ck_assert_int_eq(c.log_level, CONFIG_LOG_WARN);
    config_free(&c);
    static const char *const addresses[] = {"0.0.0.0", "10.1.2.3", "'::'", "'fe80::1'", "'::ffff:127.0.0.1'"};
    for (size_t i = 0; i < sizeof addresses / sizeof addresses[0]; i++) {
        char text[96];
        snprintf(text, sizeof text, "listen: {address: %s}\n", addresses[i]);
        ck_assert_msg(load_text("a.yaml", text, &c, &err) == GLIA_OK, "%s: %s", addresses[i], err.msg);
        config_free(&c);
    }
}
END_TEST

/* A relative config path: the paths in it stay relative to the file's directory. */
START_TEST(relative_config_path)
{
    glia_err err = {0};
    config c;
    char cwd[4096], sub[300];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(sub, sizeof sub, "%s/etc", tmpdir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    glia_test_write(sub, "g.yaml",
                    "models: [{name: m, path: ../models/m}]\nauth: {admin_token_file: a.token}\n");
    ck_assert_int_eq(chdir(tmpdir), 0);
    glia_status rc = config_load("etc/g.yaml", &c, &err);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(rc == GLIA_OK, "%s", err.msg);
    ck_assert_str_eq(c.models[0].path, "etc/../models/m");
    ck_assert_str_eq(c.admin_token_file, "etc/a.token");
    config_free(&c);
}
END_TEST

START_TEST(size_strings)
{
    static const struct {
        const char *text;
        long bytes;
    } good[] = {
        {"8MiB", 8L << 20},  {"512KiB", 512L << 10}, {"1MB", 1000000},      {"2MB", 2000000},
        {"1GiB", 1L << 30},  {"1024", 1024},         {"8388608", 8L << 20}, {"1.5KiB", 1536},
        {"8 MiB", 8L << 20}, {"2000B", 2000},        {"64kB", 64000},       {"'4096'", 4096},
    };
    static const char *const bad[] = {
        "8 parsecs",  "nan", "inf", "0x10KiB", "-1MiB", "1e6", "2GiB",   "1000",
        "1KB",        "''",  "1.",  ".5MiB",   "8mib",  "[8]", "{a: 1}", "99999999999999999999999",
        "1MiB extra",
    };
    glia_err err = {0};
    config c;
    char text[128];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(text, sizeof text, "# sizes\nlimits:\n  body: %s\n", good[i].text);
        ck_assert_msg(load_text("s.yaml", text, &c, &err) == GLIA_OK, "%s: %s", good[i].text, err.msg);
        ck_assert_msg(c.body_limit == good[i].bytes, "%s: %ld", good[i].text, c.body_limit);
        config_free(&c);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "# sizes\nlimits:\n  body: %s\n", bad[i]);
        ck_assert_msg(load_text("s.yaml", text, &c, &err) == GLIA_EINVAL, "%s accepted", bad[i]);
        ck_assert_msg(strstr(err.msg, "s.yaml:3:9: limits.body:"), "%s: %s", bad[i], err.msg);
    }
}
END_TEST

START_TEST(bad_files_name_file_line_key)
{
    static const struct {
        const char *text, *key;
        int line, column;
    } cases[] = {
        {"workers: 2\nlisten: {adress: 127.0.0.1}\n", "adress", 2, 10},
        {"colour: blue\n", "colour", 1, 1},
        {"workers: 2\nqueue:\n  length: 9\n  lenght: 5\n", "lenght", 4, 3},
        {"batching: {max_size: 4, max_wait: 1}\n", "max_wait", 1, 25},
        {"limits: {body: 1MiB, header: 1KiB}\n", "header", 1, 22},
        {"auth: {token: x}\n", "token", 1, 8},
        {"log: {level: info, file: x}\n", "file", 1, 20},
        {"models:\n  - {name: a, path: x, version: 2}\n", "version", 2, 24},
        {"workers: 1\nworkers: 2\n", "workers", 2, 1},
        {"workers: many\n", "workers", 1, 10},
        {"workers: 257\n", "workers", 1, 10},
        {"workers: -1\n", "workers", 1, 10},
        {"workers: 2.5\n", "workers", 1, 10},
        {"blas_threads: 0\n", "blas_threads", 1, 15},
        {"drain_timeout_ms: [1]\n", "drain_timeout_ms", 1, 19},
        {"workers: 2\nqueue:\n  length: 0\n", "queue.length", 3, 11},
        {"queue: {timeout_ms: 0}\n", "queue.timeout_ms", 1, 21},
        {"queue: 5\n", "queue", 1, 8},
        {"batching: {max_size: 4097}\n", "batching.max_size", 1, 22},
        {"batching: {max_size: 32, max_wait_us: -1}\n", "batching.max_wait_us", 1, 39},
        {"listen: {port: 70000}\n", "listen.port", 1, 16},
        {"listen: {port: http}\n", "listen.port", 1, 16},
        {"listen: {address: localhost}\n", "listen.address", 1, 19},
        {"listen: {address: 999.1.1.1}\n", "listen.address", 1, 19},
        {"listen: {address: ''}\n", "listen.address", 1, 19},
        {"listen: 8080\n", "listen", 1, 9},
        /* listen.tls and cors (issue 14) */
        {"listen: {tls: {cert_file: a.pem}}\n", "listen.tls.key_file: missing", 1, 15},
        {"listen: {tls: {cert_file: a.pem, key: b.pem}}\n", "key", 1, 34},
        {"listen: {tls: {cert_file: '', key_file: b.pem}}\n", "listen.tls.cert_file", 1, 27},
        {"listen: {tls: a.pem}\n", "listen.tls", 1, 15},
        {"cors: {allowed_origins: '*'}\n", "cors.allowed_origins", 1, 25},
        {"cors: {allowed_origins: [https://A.example]}\n", "cors.allowed_origins[0]", 1, 26},
        {"cors: {allowed_origins: [https://a.example, '*']}\n", "cors.allowed_origins[1]", 1, 45},
        {"cors: {allowed_origins: [https://a.example/app]}\n", "no path", 1, 26},
        {"cors: {allowed_origins: ['null']}\n", "sandboxed", 1, 26},
        {"cors: {max_age_s: 86401}\n", "cors.max_age_s", 1, 19},
        {"cors: {origins: []}\n", "origins", 1, 8},
        /* console (issue 15) */
        {"console: {dir: ''}\n", "console.dir", 1, 16},
        {"console: {enabled: maybe}\n", "console.enabled", 1, 20},
        {"console: {path: x}\n", "path", 1, 11},
        {"limits: {body: 8 parsecs}\n", "limits.body", 1, 16},
        {"limits: {connections: 1}\n", "limits.connections", 1, 23},
        {"limits: {connections_per_client: -1}\n", "limits.connections_per_client", 1, 34},
        {"limits: {connections_reserve: 0}\n", "limits.connections_reserve", 1, 31},
        {"limits: {connections: 40, connections_reserve: 40}\n", "limits.connections_reserve", 1, 9},
        {"limits: {connections_reserve: 1000}\n", "limits.connections_reserve", 1, 9},
        {"limits: {idle_timeout_ms: 99}\n", "limits.idle_timeout_ms", 1, 27},
        {"limits: {header_timeout_ms: 0}\n", "limits.header_timeout_ms", 1, 29},
        {"limits: {body_timeout_ms: 3600001}\n", "limits.body_timeout_ms", 1, 27},
        {"limits: {body_min_rate: 0}\n", "limits.body_min_rate", 1, 25},
        {"limits: {body_min_rate: fast}\n", "limits.body_min_rate", 1, 25},
        {"limits: {max_pixels: 0}\n", "limits.max_pixels", 1, 22},
        {"limits: {max_pixels: 67108865}\n", "limits.max_pixels", 1, 22},
        {"limits: {max_request_pixels: 4MiB}\n", "limits.max_request_pixels", 1, 30},
        {"limits: {max_request_tokens: -5}\n", "limits.max_request_tokens", 1, 30},
        {"limits: {max_translation_tokens: 0}\n", "limits.max_translation_tokens", 1, 34},
        {"limits: {translation_turn_tokens: -1}\n", "limits.translation_turn_tokens", 1, 35},
        {"limits: {model_workers: 257}\n", "limits.model_workers", 1, 25},
        {"training: {enabled: no}\n", "training.enabled", 1, 21},
        {"training: {enabled: 0}\n", "training.enabled", 1, 21},
        {"training: {enable: false}\n", "enable", 1, 12},
        {"log: {level: loud}\n", "log.level", 1, 14},
        {"log: {level: INFO}\n", "log.level", 1, 14},
        {"log: {format: JSON}\n", "log.format", 1, 15},
        {"log: {format: [json]}\n", "log.format", 1, 15},
        {"models: {name: a, path: x}\n", "models", 1, 9},
        {"models:\n  - {name: 'bad name', path: x}\n", "models[0].name", 2, 12},
        {"models:\n  - {name: '', path: x}\n", "models[0].name", 2, 12},
        {"models:\n  - name: a\n    path: x\n  - {name: b}\n", "models[1].path", 4, 5},
        {"models:\n  - {name: a, path: ''}\n", "models[0].path", 2, 21},
        {"models:\n  - just-a-name\n", "models[0]", 2, 5},
        {"state_dir: ''\n", "state_dir", 1, 12},
        {"auth: {admin_token_file: [a]}\n", "auth.admin_token_file", 1, 26},
        {"- workers\n", "config", 1, 1},
        {"workers: [\n", "YAML syntax", 2, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        glia_err err = {0};
        config c;
        ck_assert_msg(load_text("bad.yaml", cases[i].text, &c, &err) != GLIA_OK, "case %zu accepted", i);
        /* nothing to free after a failure */
        ck_assert_ptr_null(c.models);
        ck_assert_ptr_null(c.cors_origins);
        char where[600];
        snprintf(where, sizeof where, "%s/bad.yaml:%d:%d: ", tmpdir, cases[i].line, cases[i].column);
        ck_assert_msg(strncmp(err.msg, where, strlen(where)) == 0 && strstr(err.msg, cases[i].key),
                      "case %zu: '%s' lacks '%s' or '%s'", i, err.msg, where, cases[i].key);
    }
}
END_TEST

/* listen.tls and cors (issue 14): paths relative to the file, origins as browsers send
 * them (the bad values are among bad_files_name_file_line_key's cases). */
START_TEST(tls_and_cors)
{
    glia_err err = {0};
    config c;
    char want[CONFIG_PATH_MAX];
    ck_assert_msg(load_text("tls.yaml",
                            "listen: {tls: {cert_file: tls/cert.pem, key_file: /etc/k.pem}}\n"
                            "cors: {allowed_origins: [https://console.example.com, 'http://[::1]:3000']}\n",
                            &c, &err) == GLIA_OK,
                  "%s", err.msg);
    snprintf(want, sizeof want, "%s/tls/cert.pem", tmpdir);
    ck_assert_str_eq(c.tls_cert_file, want);
    ck_assert_str_eq(c.tls_key_file, "/etc/k.pem");
    ck_assert_int_eq(c.ncors_origins, 2);
    ck_assert_str_eq(c.cors_origins[0], "https://console.example.com");
    ck_assert_str_eq(c.cors_origins[1], "http://[::1]:3000");
    ck_assert_int_eq(c.cors_max_age_s, 600);
    config_free(&c);
    ck_assert_ptr_null(c.cors_origins);
    /* the defaults: plain HTTP, no CORS; a null tls or list (keys commented out) is the same */
    ck_assert_msg(load_text("tls.yaml", "listen: {tls: }\ncors: {allowed_origins: , max_age_s: 0}\n", &c,
                            &err) == GLIA_OK,
                  "%s", err.msg);
    ck_assert_str_eq(c.tls_cert_file, "");
    ck_assert_int_eq(c.ncors_origins, 0);
    ck_assert_int_eq(c.cors_max_age_s, 0);
    config_free(&c);
}
END_TEST

/* console (issue 15): on by default at the installed directory; a relative dir is the
 * config file's; off stays off. */
START_TEST(console_section)
{
    glia_err err = {0};
    config c;
    char want[CONFIG_PATH_MAX];
    ck_assert_msg(load_text("console.yaml", "workers: 1\n", &c, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(c.console_enabled, 1);
    ck_assert_str_eq(c.console_dir, GLIA_CONSOLE_DIR);
    config_free(&c);
    ck_assert_msg(load_text("console.yaml", "console: {enabled: false, dir: www/console}\n", &c, &err) ==
                      GLIA_OK,
                  "%s", err.msg);
    snprintf(want, sizeof want, "%s/www/console", tmpdir);
    ck_assert_int_eq(c.console_enabled, 0);
    ck_assert_str_eq(c.console_dir, want);
    config_free(&c);
}
END_TEST

START_TEST(duplicate_model_names)
{
    glia_err err = {0};
    config c;
    ck_assert_int_eq(
        load_text("dup.yaml",
                  "models:\n  - {name: a, path: x}\n  - {name: b, path: y}\n  - {name: a, path: z}\n", &c,
                  &err),
        GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, "dup.yaml:4:12: models[2].name: 'a' is listed twice (also models[0])"),
                  "%s", err.msg);
    ck_assert_ptr_null(c.models);
    /* names differ in case: two models */
    ck_assert_msg(load_text("dup.yaml", "models:\n  - {name: a, path: x}\n  - {name: A, path: x}\n", &c,
                            &err) == GLIA_OK,
                  "%s", err.msg);
    ck_assert_int_eq(c.nmodels, 2);
    config_free(&c);
}
END_TEST

START_TEST(model_repository)
{
    glia_err err = {0};
    config c;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/repo", tmpdir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    /* defaults: none; with a directory, polling every 5 s and latest 1 */
    ck_assert_int_eq(load_text("r.yaml", "model_repository: repo\n", &c, &err), GLIA_OK);
    ck_assert_str_eq(c.model_repository, dir);
    ck_assert_int_eq(c.repo_poll_interval_ms, 5000);
    ck_assert_int_eq(c.repo_policy.kind, CONFIG_POLICY_LATEST);
    ck_assert_int_eq(c.repo_policy.latest, 1);
    ck_assert_int_eq(c.repo_shared_labels, 0);
    config_free(&c);
    /* replicas sharing the repository (issue 16): shared labels, one that trains */
    ck_assert_msg(load_text("r.yaml",
                            "model_repository: repo\nrepository: {shared_labels: true}\n"
                            "training: {enabled: false}\n",
                            &c, &err) == GLIA_OK,
                  "%s", err.msg);
    ck_assert_int_eq(c.repo_shared_labels, 1);
    ck_assert_int_eq(c.train_enabled, 0);
    config_free(&c);
    ck_assert_msg(
        load_text("r.yaml",
                  "model_repository: repo\nrepository:\n  poll_interval_ms: 0\n  version_policy: all\n"
                  "  models:\n    - {name: a, version_policy: {specific: [3, 1]}}\n"
                  "    - {name: b, version_policy: {latest: 2}, labels: {stable: 1, canary: 2, "
                  "canary_percent: 10}}\n",
                  &c, &err) == GLIA_OK,
        "%s", err.msg);
    ck_assert_int_eq(c.repo_poll_interval_ms, 0);
    ck_assert_int_eq(c.repo_policy.kind, CONFIG_POLICY_ALL);
    const config_repo_model *a = config_repo_model_find(&c, "a"), *b = config_repo_model_find(&c, "b");
    ck_assert_int_eq(a->policy.kind, CONFIG_POLICY_SPECIFIC);
    ck_assert_int_eq(a->policy.nspecific, 2);
    ck_assert_int_eq(a->policy.specific[0], 3);
    ck_assert_int_eq(a->has_labels, 0);
    ck_assert_int_eq(b->policy.latest, 2);
    ck_assert_int_eq(b->canary, 2);
    ck_assert_int_eq(b->canary_percent, 10);
    ck_assert_ptr_null(config_repo_model_find(&c, "c"));
    config_free(&c);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"repository: {poll_interval_ms: 5}\n", "repository: needs model_repository"},
        {"model_repository: repo\nrepository: {shared_labels: yes}\n", "repository.shared_labels"},
        {"model_repository: nowhere\n", "model_repository: '"},
        {"model_repository: repo\nrepository: {version_policy: {latest: 0}}\n", "version_policy.latest"},
        {"model_repository: repo\nrepository: {version_policy: {latest: 1, all: }}\n", "expected one of all"},
        {"model_repository: repo\nrepository: {version_policy: newest}\n", "expected one of all"},
        {"model_repository: repo\nrepository: {models: [{name: a, labels: {canary_percent: 5}}]}\n",
         "canary_percent needs a canary"},
        {"model_repository: repo\nrepository: {models: [{name: a, labels: {stable: 1, canary: 2, "
         "canary_percent: "
         "101}}]}\n",
         "canary_percent"},
        {"models: [{name: a, path: x}]\nmodel_repository: repo\nrepository: {models: [{name: a}]}\n",
         "not both"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(load_text("r.yaml", bad[i].text, &c, &err), GLIA_EINVAL);
        ck_assert_msg(strstr(err.msg, bad[i].want), "%s: %s", bad[i].text, err.msg);
    }
    /* a name in models: that is also a directory of the repository */
    snprintf(dir, sizeof dir, "%s/repo/a", tmpdir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_int_eq(load_text("r.yaml", "models: [{name: a, path: x}]\nmodel_repository: repo\n", &c, &err),
                     GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, "models[0].name: 'a' is also a model of model_repository"), "%s", err.msg);
}
END_TEST

/* models[].precision and repository.models[].precision (issue 17.3): -1 when absent (the
 * manifest's), a glia_precision when given, anything else refused naming the key. */
START_TEST(model_precision)
{
    glia_err err = {0};
    config c;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/prepo", tmpdir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_msg(
        load_text("p.yaml",
                  "models:\n  - {name: a, path: x, precision: bf16}\n  - {name: b, path: y, precision: "
                  "fp32}\n  - {name: c, path: z}\nmodel_repository: prepo\n"
                  "repository: {models: [{name: r, precision: bf16}, {name: s}]}\n",
                  &c, &err) == GLIA_OK,
        "%s", err.msg);
    ck_assert_int_eq(c.models[0].precision, GLIA_PRECISION_BF16);
    ck_assert_int_eq(c.models[1].precision, GLIA_PRECISION_FP32);
    ck_assert_int_eq(c.models[2].precision, -1);
    ck_assert_int_eq(config_repo_model_find(&c, "r")->precision, GLIA_PRECISION_BF16);
    ck_assert_int_eq(config_repo_model_find(&c, "s")->precision, -1);
    config_free(&c);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"models:\n  - {name: a, path: x, precision: fp16}\n",
         "p.yaml:2:35: models[0].precision: must be fp32 or bf16 (got 'fp16')"},
        {"models:\n  - {name: a, path: x, precision: BF16}\n", "models[0].precision: must be fp32 or bf16"},
        {"models:\n  - {name: a, path: x, precision: [bf16]}\n", "models[0].precision"},
        {"model_repository: prepo\nrepository: {models: [{name: r, precision: half}]}\n",
         "repository.models[0].precision: must be fp32 or bf16 (got 'half')"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(load_text("p.yaml", bad[i].text, &c, &err), GLIA_EINVAL);
        ck_assert_msg(strstr(err.msg, bad[i].want), "%s: %s", bad[i].text, err.msg);
    }
}
END_TEST

START_TEST(missing_file)
{
    glia_err err = {0};
    config c;
    char path[300];
    snprintf(path, sizeof path, "%s/absent.yaml", tmpdir);
    ck_assert_int_eq(config_load(path, &c, &err), GLIA_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_null(c.models);
}
END_TEST

static const char *token_file(const char *name, const char *text, mode_t mode)
{
    const char *p = glia_test_write(tmpdir, name, text);
    ck_assert_int_eq(chmod(p, mode), 0);
    return p;
}

START_TEST(token_files)
{
    glia_err err = {0};
    char *token = NULL;
    const char *p = token_file("t1", "s3cret\n", 0600);
    ck_assert_msg(config_read_token(p, &token, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_str_eq(token, "s3cret");
    free(token);
    /* only trailing whitespace goes; the inside of a token is its own business */
    p = token_file("t1b", "a b\tc \r\n\n", 0400);
    ck_assert_msg(config_read_token(p, &token, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_str_eq(token, "a b\tc");
    free(token);

    static const mode_t open_modes[] = {0644, 0640, 0604, 0620, 0602};
    for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
        p = token_file("t2", "s3cret\n", open_modes[i]);
        ck_assert_int_eq(config_read_token(p, &token, &err), GLIA_EINVAL);
        ck_assert_ptr_null(token);
        ck_assert_msg(strstr(err.msg, p) && strstr(err.msg, "chmod 600"), "%s", err.msg);
    }

    p = token_file("t3", "", 0600);
    ck_assert_int_eq(config_read_token(p, &token, &err), GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, p) && strstr(err.msg, "empty"), "%s", err.msg);
    p = token_file("t4", " \n\t\n", 0600);
    ck_assert_int_eq(config_read_token(p, &token, &err), GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, p) && strstr(err.msg, "empty"), "%s", err.msg);

    char big[4098];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    p = token_file("t5", big, 0600); /* 4097 bytes */
    ck_assert_int_eq(config_read_token(p, &token, &err), GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, p) && strstr(err.msg, "4096"), "%s", err.msg);
    big[4096] = '\0';
    p = token_file("t6", big, 0600); /* exactly 4 KiB */
    ck_assert_msg(config_read_token(p, &token, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(strlen(token), 4096);
    free(token);

    char path[512];
    snprintf(path, sizeof path, "%s/none", tmpdir);
    ck_assert_int_eq(config_read_token(path, &token, &err), GLIA_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_null(token);
    snprintf(path, sizeof path, "%s/dir", tmpdir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(config_read_token(path, &token, &err), GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "regular file"), "%s", err.msg);
    ck_assert_ptr_null(token);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, shipped_config);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, every_key);
    tcase_add_test(tc, relative_config_path);
    tcase_add_test(tc, size_strings);
    tcase_add_test(tc, bad_files_name_file_line_key);
    tcase_add_test(tc, console_section);
    tcase_add_test(tc, duplicate_model_names);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, token_files);
    tcase_add_test(tc, tls_and_cors);
    tcase_add_test(tc, model_repository);
    tcase_add_test(tc, model_precision);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
