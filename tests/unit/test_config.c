/*
 * test_config.c - gliad's configuration: the shipped etc/gliad.yaml, defaults, every
 * kind of bad value or unknown key refused with file, line and key, size strings,
 * duplicate model names, relative paths, and the token file rules.
 */
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

START_TEST(shipped_config)
{
    glia_err err = {0};
    config c;
    struct stat st;
    ck_assert_msg(config_load(glia_test_path("etc/gliad.yaml"), &c, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_str_eq(c.listen, "127.0.0.1");
    ck_assert_int_eq(c.port, 8080);
    ck_assert_int_eq(c.blas_threads, 1);
    ck_assert_int_eq(c.nmodels, 1);
    ck_assert_str_eq(c.models[0].name, "fashion-cnn");
    ck_assert_msg(stat(c.models[0].path, &st) == 0 && S_ISDIR(st.st_mode), "%s", c.models[0].path);
    ck_assert_str_eq(c.admin_token_file, "");
    config_free(&c);
}
END_TEST

START_TEST(defaults_and_values)
{
    glia_err err = {0};
    config c;
    const char *p = glia_test_write(tmpdir, "a.yaml", "");
    ck_assert_msg(config_load(p, &c, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(c.queue_length, 256);
    ck_assert_int_eq(c.body_limit, 8L << 20);
    ck_assert_int_eq(c.nmodels, 0);
    config_free(&c);
    p = glia_test_write(tmpdir, "b.yaml",
                        "listen: {address: '::1', port: 0}\nworkers: 3\nqueue: {length: 9, timeout_ms: 70}\n"
                        "batching: {max_size: 5, max_wait_us: 0}\nlimits: {body: 512KiB}\n"
                        "models:\n  - {name: m1, path: bundles/m1}\n  - {name: m-2.x, path: /abs/m2}\n"
                        "auth: {admin_token_file: admin.token}\nlog: {level: debug}\n");
    ck_assert_msg(config_load(p, &c, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_str_eq(c.listen, "::1");
    ck_assert_int_eq(c.port, 0);
    ck_assert_int_eq(c.workers, 3);
    ck_assert_int_eq(c.queue_length, 9);
    ck_assert_int_eq(c.request_timeout_ms, 70);
    ck_assert_int_eq(c.batch_max_size, 5);
    ck_assert_int_eq(c.batch_max_wait_us, 0);
    ck_assert_int_eq(c.body_limit, 512 * 1024);
    ck_assert_int_eq(c.nmodels, 2);
    char want[600];
    snprintf(want, sizeof want, "%s/bundles/m1", tmpdir);
    ck_assert_str_eq(c.models[0].path, want);
    ck_assert_str_eq(c.models[1].path, "/abs/m2");
    snprintf(want, sizeof want, "%s/admin.token", tmpdir);
    ck_assert_str_eq(c.admin_token_file, want);
    ck_assert_int_eq(c.log_level, 3);
    config_free(&c);
    p = glia_test_write(tmpdir, "c.yaml", "limits: {body: 2MB}\n");
    ck_assert_int_eq(config_load(p, &c, &err), GLIA_OK);
    ck_assert_int_eq(c.body_limit, 2000000);
    config_free(&c);
}
END_TEST

START_TEST(bad_files_name_file_line_key)
{
    static const struct {
        const char *text, *key;
        int line;
    } cases[] = {
        {"workers: 2\nlisten: {adress: 127.0.0.1}\n", "adress", 2},
        {"workers: many\n", "workers", 1},
        {"workers: 2\nqueue:\n  length: 0\n", "length", 3},
        {"batching: {max_size: 32, max_wait_us: -1}\n", "max_wait_us", 1},
        {"limits: {body: 8 parsecs}\n", "limits.body", 1},
        {"log: {level: loud}\n", "log.level", 1},
        {"models:\n  - {name: a, path: x}\n  - {name: a, path: y}\n", "twice", 3},
        {"models:\n  - {name: 'bad name', path: x}\n", "models[].name", 2},
        {"models:\n  - {name: a}\n", "path", 2},
        {"listen: {port: 70000}\n", "port", 1},
        {"colour: blue\n", "colour", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        glia_err err = {0};
        config c;
        const char *p = glia_test_write(tmpdir, "bad.yaml", cases[i].text);
        ck_assert_msg(config_load(p, &c, &err) != GLIA_OK, "case %zu accepted", i);
        char where[64];
        snprintf(where, sizeof where, "bad.yaml:%d:", cases[i].line);
        ck_assert_msg(strstr(err.msg, where) && strstr(err.msg, cases[i].key),
                      "case %zu: '%s' lacks '%s' or '%s'", i, err.msg, where, cases[i].key);
    }
}
END_TEST

START_TEST(token_files)
{
    glia_err err = {0};
    char *token = NULL;
    const char *p = glia_test_write(tmpdir, "t1", "s3cret\n");
    chmod(p, 0600);
    ck_assert_msg(config_read_token(p, &token, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_str_eq(token, "s3cret");
    free(token);
    chmod(p, 0644);
    ck_assert_int_eq(config_read_token(p, &token, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "chmod 600"));
    p = glia_test_write(tmpdir, "t2", " \n");
    chmod(p, 0600);
    ck_assert_int_eq(config_read_token(p, &token, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
    char missing[512];
    snprintf(missing, sizeof missing, "%s/none", tmpdir);
    ck_assert_int_eq(config_read_token(missing, &token, &err), GLIA_EIO);
    ck_assert_ptr_null(token);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, shipped_config);
    tcase_add_test(tc, defaults_and_values);
    tcase_add_test(tc, bad_files_name_file_line_key);
    tcase_add_test(tc, token_files);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
