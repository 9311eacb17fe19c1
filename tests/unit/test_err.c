/*
 * test_err.c - error values: codes come back, messages are formatted, prefixed and
 * truncated safely, a NULL err is allowed, every code has a name.
 */
#include "core/base/err.h"
#include "tests/support/check_main.h"

#include <string.h>

START_TEST(set_and_prefix)
{
    glia_err err = {0};
    ck_assert_int_eq(glia_err_set(&err, GLIA_EFORMAT, "bad %s at %d", "header", 7), GLIA_EFORMAT);
    ck_assert_int_eq(err.code, GLIA_EFORMAT);
    ck_assert_str_eq(err.msg, "bad header at 7");
    ck_assert_int_eq(glia_err_prefix(&err, "%s", "model.safetensors"), GLIA_EFORMAT);
    ck_assert_str_eq(err.msg, "model.safetensors: bad header at 7");
    glia_err_clear(&err);
    ck_assert_int_eq(err.code, GLIA_OK);
    ck_assert_str_eq(err.msg, "");
    ck_assert_int_eq(glia_err_set(NULL, GLIA_EIO, "nobody listens"), GLIA_EIO);
}
END_TEST

START_TEST(long_messages_are_truncated)
{
    glia_err err = {0};
    char big[2 * GLIA_ERR_MSG_MAX];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    glia_err_set(&err, GLIA_EINVAL, "%s", big);
    ck_assert_uint_eq(strlen(err.msg), GLIA_ERR_MSG_MAX - 1);
    glia_err_prefix(&err, "%s", "prefix");
    ck_assert_uint_eq(strlen(err.msg), GLIA_ERR_MSG_MAX - 1);
    ck_assert(strncmp(err.msg, "prefix: x", 9) == 0);
}
END_TEST

START_TEST(every_code_has_a_name)
{
    for (int c = GLIA_OK; c <= GLIA_ETIMEDOUT; c++) {
        const char *s = glia_status_str((glia_status)c);
        ck_assert_ptr_nonnull(s);
        ck_assert_uint_gt(strlen(s), 1);
        for (int d = GLIA_OK; d < c; d++)
            ck_assert_str_ne(s, glia_status_str((glia_status)d));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("err");
    TCase *tc = tcase_create("err");
    tcase_add_test(tc, set_and_prefix);
    tcase_add_test(tc, long_messages_are_truncated);
    tcase_add_test(tc, every_code_has_a_name);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
