/*
 * test_router.c - the route table's matching: literal and variable segments, what they
 * capture and refuse, 404 against 405 with the Allow list of every row on that path, and
 * GET rows taking HEAD.
 */
#include "daemon/router.h"
#include "tests/support/check_main.h"

#include <string.h>

static http_ret handler(http_request *r, const route_params *p)
{
    return HTTP_KEEP;
}

static const route rows[] = {
    {"GET", "/v1/models", ROUTE_OPEN, 0, handler, NULL},
    {"GET", "/v1/models/{name}", ROUTE_OPEN, 0, handler, NULL},
    {"POST", "/v1/models/{name}/predict", ROUTE_INFERENCE, 0, handler, NULL},
    {"POST", "/v1/models/{name}/versions/{version}/promote", ROUTE_ADMIN, 0, handler, NULL},
    {"GET", "/v1/jobs/{id}", ROUTE_ADMIN, 0, handler, NULL},
    {"DELETE", "/v1/jobs/{id}", ROUTE_ADMIN, 0, handler, NULL},
    {"GET", "/v2", ROUTE_OPEN, 1, handler, NULL},
};
enum { NROWS = sizeof rows / sizeof *rows };

static router_outcome find(const char *method, const char *path, router_match *m)
{
    return router_find(rows, NROWS, method, path, m);
}

START_TEST(literal_and_captured_segments)
{
    router_match m;
    ck_assert_int_eq(find("GET", "/v1/models", &m), ROUTER_FOUND);
    ck_assert_ptr_eq(m.row, &rows[0]);
    ck_assert_str_eq(m.params.name, "");
    ck_assert_int_eq(find("POST", "/v1/models/fashion-cnn/predict", &m), ROUTER_FOUND);
    ck_assert_ptr_eq(m.row, &rows[2]);
    ck_assert_str_eq(m.params.name, "fashion-cnn");
    ck_assert_int_eq(find("POST", "/v1/models/m/versions/12/promote", &m), ROUTER_FOUND);
    ck_assert_str_eq(m.params.name, "m");
    ck_assert_int_eq(m.params.version, 12);
    /* strtol's reading: a sign is part of the number (the handler refuses v < 1) */
    ck_assert_int_eq(find("POST", "/v1/models/m/versions/-3/promote", &m), ROUTER_FOUND);
    ck_assert_int_eq(m.params.version, -3);
    ck_assert_int_eq(find("GET", "/v2", &m), ROUTER_FOUND);
    ck_assert_int_eq(m.row->oip, 1);
}
END_TEST

START_TEST(shapes_that_are_no_route)
{
    router_match m;
    const char *const paths[] = {
        "/v1/models/",                       /* empty name */
        "/v1/models//predict",               /* empty name */
        "/v1/models/x/",                     /* trailing slash */
        "/v1/modelsx",                       /* a longer literal */
        "/v1/model",                         /* a shorter one */
        "/v1/models/x/predict/more",         /* a segment more */
        "/v1/models/x/versions/abc/promote", /* not a number */
        "/v1/models/x/versions/3x/promote",  /* not only a number */
        "/v1/models/x/versions//promote",    /* no number */
        "/v2/",                              /* trailing slash */
        "/",
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        ck_assert_msg(find("GET", paths[i], &m) == ROUTER_NOT_FOUND, "%s", paths[i]);
        ck_assert_ptr_null(m.row);
    }
}
END_TEST

START_TEST(names_fit_their_buffer)
{
    router_match m;
    char path[300] = "/v1/jobs/";
    memset(path + 9, 'j', 127);
    path[9 + 127] = '\0';
    ck_assert_int_eq(find("GET", path, &m), ROUTER_FOUND);
    ck_assert_uint_eq(strlen(m.params.name), 127);
    strcat(path, "j"); /* 128 bytes: longer than any name gliad keeps */
    ck_assert_int_eq(find("GET", path, &m), ROUTER_NOT_FOUND);
}
END_TEST

START_TEST(wrong_method_names_every_allowed_one)
{
    router_match m;
    ck_assert_int_eq(find("POST", "/v1/models", &m), ROUTER_WRONG_METHOD);
    ck_assert_str_eq(m.allow, "GET");
    ck_assert_ptr_eq(m.row, &rows[0]);
    ck_assert_int_eq(find("PUT", "/v1/jobs/abc", &m), ROUTER_WRONG_METHOD);
    ck_assert_str_eq(m.allow, "GET, DELETE");
    ck_assert_ptr_eq(m.row, &rows[4]);
    ck_assert_int_eq(find("DELETE", "/v1/jobs/abc", &m), ROUTER_FOUND);
    ck_assert_ptr_eq(m.row, &rows[5]);
    ck_assert_str_eq(m.params.name, "abc");
    ck_assert_int_eq(find("GET", "/v1/models/x/predict", &m), ROUTER_WRONG_METHOD);
    ck_assert_str_eq(m.allow, "POST");
}
END_TEST

START_TEST(get_takes_head)
{
    router_match m;
    ck_assert_int_eq(find("HEAD", "/v1/models/x", &m), ROUTER_FOUND);
    ck_assert_ptr_eq(m.row, &rows[1]);
    ck_assert_int_eq(find("HEAD", "/v1/models/x/predict", &m), ROUTER_WRONG_METHOD);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("router");
    tcase_add_test(tc, literal_and_captured_segments);
    tcase_add_test(tc, shapes_that_are_no_route);
    tcase_add_test(tc, names_fit_their_buffer);
    tcase_add_test(tc, wrong_method_names_every_allowed_one);
    tcase_add_test(tc, get_takes_head);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
