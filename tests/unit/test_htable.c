/*
 * test_htable.c - the one hash table of core/base: ids follow insertion order and survive the
 * slot array's growth, keys are any bytes (NULs, binary integers, the empty key), lookups of
 * missing keys answer -1, and a cleared table starts again from id 0.
 */
#include "core/base/htable.h"
#include "tests/support/check_main.h"

#include <stdio.h>
#include <string.h>

START_TEST(ids_follow_insertion_order_through_growth)
{
    glia_htable t = {0};
    glia_err err = {0};
    ck_assert_int_eq(glia_htable_find(&t, "a", 1), -1); /* an empty, zeroed table */
    enum { N = 5000 };                                  /* many doublings of slots, ids and arena */
    for (int i = 0; i < N; i++) {
        char key[32];
        int len = snprintf(key, sizeof key, "key-%d", (i * 7919) % N);
        int32_t id;
        bool added;
        ck_assert_int_eq(glia_htable_add(&t, key, (size_t)len, &id, &added, &err), GLIA_OK);
        ck_assert(added);
        ck_assert_int_eq(id, i);
    }
    ck_assert_uint_eq(glia_htable_size(&t), N);
    for (int i = 0; i < N; i++) {
        char key[32];
        int len = snprintf(key, sizeof key, "key-%d", (i * 7919) % N);
        int32_t id;
        bool added = true;
        ck_assert_int_eq(glia_htable_find(&t, key, (size_t)len), i);
        ck_assert_int_eq(glia_htable_add(&t, key, (size_t)len, &id, &added, &err), GLIA_OK);
        ck_assert(!added);
        ck_assert_int_eq(id, i);
        ck_assert_str_eq(glia_htable_key(&t, i), key); /* NUL-terminated copy */
        ck_assert_uint_eq(glia_htable_key_len(&t, i), (size_t)len);
    }
    ck_assert_int_eq(glia_htable_find(&t, "key-", 4), -1);
    ck_assert_int_eq(glia_htable_find(&t, "key-50000", 9), -1);
    glia_htable_free(&t);
    ck_assert_uint_eq(glia_htable_size(&t), 0);
}
END_TEST

START_TEST(keys_are_bytes)
{
    glia_htable t = {0};
    int32_t id;
    ck_assert_int_eq(glia_htable_add(&t, "a\0b", 3, &id, NULL, NULL), GLIA_OK);
    ck_assert_int_eq(glia_htable_add(&t, "a\0c", 3, &id, NULL, NULL), GLIA_OK);
    ck_assert_int_eq(id, 1);
    ck_assert_int_eq(glia_htable_add(&t, "a", 1, &id, NULL, NULL), GLIA_OK);
    ck_assert_int_eq(id, 2);
    ck_assert_int_eq(glia_htable_add(&t, "", 0, &id, NULL, NULL), GLIA_OK);
    ck_assert_int_eq(id, 3);
    ck_assert_int_eq(glia_htable_find(&t, "", 0), 3);
    ck_assert_int_eq(glia_htable_find(&t, "a\0b", 3), 0);
    /* a pair of ids as its 8 bytes, as the BPE tokenizer keys its merges */
    const int32_t pair[2] = {12, -1}, other[2] = {-1, 12};
    ck_assert_int_eq(glia_htable_add(&t, pair, sizeof pair, &id, NULL, NULL), GLIA_OK);
    ck_assert_int_eq(id, 4);
    ck_assert_int_eq(glia_htable_find(&t, other, sizeof other), -1);
    ck_assert_int_eq(memcmp(glia_htable_key(&t, 4), pair, sizeof pair), 0);
    glia_htable_free(&t);
}
END_TEST

START_TEST(clear_starts_again)
{
    glia_htable t = {0};
    int32_t id;
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(glia_htable_add(&t, "x", 1, &id, NULL, NULL), GLIA_OK);
        ck_assert_int_eq(id, 0);
        ck_assert_int_eq(glia_htable_add(&t, "y", 1, &id, NULL, NULL), GLIA_OK);
        ck_assert_int_eq(id, 1);
        glia_htable_clear(&t);
        ck_assert_uint_eq(glia_htable_size(&t), 0);
        ck_assert_int_eq(glia_htable_find(&t, "x", 1), -1);
    }
    glia_htable_free(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("htable");
    TCase *tc = tcase_create("htable");
    tcase_add_test(tc, ids_follow_insertion_order_through_growth);
    tcase_add_test(tc, keys_are_bytes);
    tcase_add_test(tc, clear_starts_again);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
