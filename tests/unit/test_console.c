/*
 * test_console.c - the web console's files (issue 15): which names may be served, their
 * types, reading a file (regular files only: no symlink, directory or FIFO, nothing
 * outside the directory), ETags that change with the bytes, and If-None-Match lists.
 */
#include "daemon/console.h"
#include "tests/support/check_main.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(names)
{
    static const char *const good[] = {"index.html",  "app.js",      "style.css",
                                       "favicon.svg", "a-b_c.1.png", "x"};
    static const char *const bad[] = {"",    ".",    "..",   ".hidden", "a/b", "../x",    "a\\b",
                                      "a b", "a%2e", "a\nb", "é.js",    "a:b", "app.js?", "index.html#"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(console_name_ok(good[i]), "'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!console_name_ok(bad[i]), "'%s' accepted", bad[i]);
    char longest[200];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    ck_assert(!console_name_ok(longest));
    ck_assert_str_eq(console_type("index.html"), "text/html; charset=utf-8");
    ck_assert_str_eq(console_type("app.js"), "text/javascript; charset=utf-8");
    ck_assert_str_eq(console_type("style.css"), "text/css; charset=utf-8");
    ck_assert_str_eq(console_type("favicon.svg"), "image/svg+xml");
    ck_assert_str_eq(console_type("shot.png"), "image/png");
    ck_assert_str_eq(console_type("js"), "application/octet-stream");
    ck_assert_str_eq(console_type("archive.tar"), "application/octet-stream");
}
END_TEST

START_TEST(reading)
{
    char dir[256], outside[512], path[512];
    glia_err err = {0};
    console_file f, g;
    glia_test_mkdtemp(dir, sizeof dir, "console");
    snprintf(outside, sizeof outside, "%s", glia_test_write(dir, "secret.txt", "TOP SECRET\n"));
    snprintf(path, sizeof path, "%s/www", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    glia_test_write(path, "app.js", "console.log(1);\n");
    ck_assert_int_eq(console_read(path, "app.js", &f, &err), GLIA_OK);
    ck_assert_uint_eq(f.len, 16);
    ck_assert_str_eq(f.data, "console.log(1);\n");
    ck_assert_str_eq(f.type, "text/javascript; charset=utf-8");
    ck_assert_msg(f.etag[0] == '"' && f.etag[strlen(f.etag) - 1] == '"', "%s", f.etag);
    /* the same bytes, the same ETag; one byte more, another */
    ck_assert_int_eq(console_read(path, "app.js", &g, &err), GLIA_OK);
    ck_assert_str_eq(f.etag, g.etag);
    console_file_free(&g);
    glia_test_write(path, "app.js", "console.log(2);\n");
    ck_assert_int_eq(console_read(path, "app.js", &g, &err), GLIA_OK);
    ck_assert_str_ne(f.etag, g.etag);
    console_file_free(&g);
    console_file_free(&f);
    console_file_free(&f); /* twice is harmless */
    /* nothing but regular files inside the directory */
    char link[600], sub[600], fifo[600];
    snprintf(link, sizeof link, "%s/link.txt", path);
    ck_assert_int_eq(symlink(outside, link), 0);
    snprintf(sub, sizeof sub, "%s/sub.js", path);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(fifo, sizeof fifo, "%s/pipe.js", path);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(console_read(path, "link.txt", &f, &err), GLIA_ENOTFOUND);
    ck_assert_ptr_null(f.data);
    ck_assert_int_eq(console_read(path, "sub.js", &f, &err), GLIA_ENOTFOUND);
    ck_assert_int_eq(console_read(path, "pipe.js", &f, &err), GLIA_ENOTFOUND);
    ck_assert_int_eq(console_read(path, "missing.js", &f, &err), GLIA_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, "missing.js") != NULL, "%s", err.msg);
    ck_assert_int_eq(console_read(path, "../secret.txt", &f, &err), GLIA_EINVAL);
    ck_assert_int_eq(console_read(path, "..", &f, &err), GLIA_EINVAL);
    ck_assert_int_eq(console_read("/nonexistent-glia-console", "index.html", &f, &err), GLIA_ENOTFOUND);
    glia_test_rmtree(dir);
}
END_TEST

START_TEST(if_none_match)
{
    const char *etag = "\"0123456789abcdef-10\"";
    ck_assert(console_etag_matches(etag, etag));
    ck_assert(console_etag_matches("*", etag));
    ck_assert(console_etag_matches("W/\"0123456789abcdef-10\"", etag));
    ck_assert(console_etag_matches("\"x\", \"0123456789abcdef-10\"", etag));
    ck_assert(console_etag_matches("\"x\",\"0123456789abcdef-10\" ", etag));
    ck_assert(!console_etag_matches("", etag));
    ck_assert(!console_etag_matches("\"0123456789abcdef-1\"", etag));
    ck_assert(!console_etag_matches("\"0123456789abcdef-100\"", etag));
    ck_assert(!console_etag_matches("0123456789abcdef-10", etag));
    ck_assert(!console_etag_matches("\"x\", \"y\"", etag));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("console");
    TCase *tc = tcase_create("console");
    tcase_add_test(tc, names);
    tcase_add_test(tc, reading);
    tcase_add_test(tc, if_none_match);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
