/*
 * test_oip.c - OIP v2 tensors (daemon/oip.h): datatypes, shapes and their element counts,
 * flat and nested JSON data, binary data (fixed-size and length-prefixed BYTES) checked
 * against the shape, and answers turned into the binary form and back.
 */
#include "daemon/oip.h"
#include "tests/support/check_main.h"

#include <string.h>

/* Reads the tensor in text (JSON) with the binary part bin[0..len): the return code, p filled. */
static int read_text(const char *text, const void *bin, size_t len, oip_tensor *t, problem *p)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    ck_assert_msg(j != NULL, "bad test JSON %s: %s", text, e.text);
    const unsigned char *b = bin, **bp = bin ? &b : NULL;
    size_t left = len;
    memset(p, 0, sizeof *p);
    int rc = oip_tensor_read(j, 0, bp, &left, t, p);
    /* the tensor borrows its JSON: callers read only binary elements after this */
    if (rc == 0 && bin)
        ck_assert_uint_eq(left, 0);
    json_decref(j);
    return rc;
}

START_TEST(datatypes_by_name)
{
    ck_assert_int_eq(oip_datatype_of("FP32"), OIP_FP32);
    ck_assert_int_eq(oip_datatype_of("BYTES"), OIP_BYTES);
    ck_assert_int_eq(oip_datatype_of("fp32"), OIP_NO_TYPE);
    ck_assert_int_eq(oip_datatype_of(NULL), OIP_NO_TYPE);
    ck_assert_uint_eq(oip_datatype_size(OIP_INT64), 8);
    ck_assert_uint_eq(oip_datatype_size(OIP_BYTES), 0);
    ck_assert_str_eq(oip_datatype_name(OIP_UINT8), "UINT8");
}
END_TEST

START_TEST(flat_and_nested_data_agree)
{
    json_t *flat =
        json_loads("{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"INT32\",\"data\":[1,2,3,4,5,6]}", 0, NULL);
    json_t *nested = json_loads(
        "{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"INT32\",\"data\":[[1,2,3],[4,5,6]]}", 0, NULL);
    oip_tensor a, b;
    problem p = {0};
    ck_assert_int_eq(oip_tensor_read(flat, 0, NULL, NULL, &a, &p), 0);
    ck_assert_int_eq(oip_tensor_read(nested, 0, NULL, NULL, &b, &p), 0);
    ck_assert_uint_eq(a.count, 6);
    ck_assert_uint_eq(b.count, 6);
    for (size_t i = 0; i < 6; i++) {
        double x, y;
        ck_assert_int_eq(oip_tensor_number(&a, 0, i, &x, &p), 0);
        ck_assert_int_eq(oip_tensor_number(&b, 0, i, &y, &p), 0);
        ck_assert(x == (double)(i + 1) && y == x);
    }
    oip_tensor_free(&a);
    oip_tensor_free(&b);
    json_decref(flat);
    json_decref(nested);
}
END_TEST

START_TEST(malformed_tensors_are_400)
{
    static const char *const bad[] = {
        "{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"INT32\",\"data\":[[1,2,3],[4,5]]}", /* ragged */
        "{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"INT32\",\"data\":[[[1],[2],[3]],[4,5,6]]}", /* deep */
        "{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"INT32\",\"data\":[1,2,3]}",      /* short */
        "{\"name\":\"x\",\"shape\":[-1],\"datatype\":\"INT32\",\"data\":[]}",            /* negative */
        "{\"name\":\"x\",\"shape\":[],\"datatype\":\"INT32\",\"data\":[]}",              /* no dims */
        "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FLOAT\",\"data\":[1]}",            /* type */
        "{\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}",                            /* no name */
        "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1],\"extra\":1}", /* field */
        "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"parameters\":{\"p\":1},\"data\":[1]}",
        "{\"name\":\"x\",\"shape\":[4294967296,4294967296,4294967296],\"datatype\":\"FP32\",\"data\":[]}",
        "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":4}}",
        "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\"}", /* no data at all */
        /* shapes far larger than their data: refused before anything is sized from them */
        "{\"name\":\"x\",\"shape\":[1000000000000],\"datatype\":\"FP32\",\"data\":[1,2]}",
        "{\"name\":\"x\",\"shape\":[1,1000000000000],\"datatype\":\"FP32\",\"data\":[[1,2]]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        oip_tensor t;
        problem p;
        ck_assert_msg(read_text(bad[i], NULL, 0, &t, &p) == -1, "accepted %s", bad[i]);
        ck_assert_int_eq(p.status, 400);
        ck_assert(p.detail[0] != '\0');
        oip_tensor_free(&t);
    }
}
END_TEST

START_TEST(elements_of_the_wrong_kind)
{
    json_t *j =
        json_loads("{\"name\":\"x\",\"shape\":[2],\"datatype\":\"INT64\",\"data\":[1, 2.5]}", 0, NULL);
    oip_tensor t;
    problem p = {0};
    double v;
    ck_assert_int_eq(oip_tensor_read(j, 0, NULL, NULL, &t, &p), 0);
    ck_assert_int_eq(oip_tensor_number(&t, 0, 0, &v, &p), 0);
    ck_assert_int_eq(oip_tensor_number(&t, 0, 1, &v, &p), -1); /* 2.5 is no INT64 */
    ck_assert_ptr_nonnull(strstr(p.detail, "data[1]"));
    const char *s;
    size_t n;
    ck_assert_int_eq(oip_tensor_bytes(&t, 0, 0, &s, &n, &p), -1);
    oip_tensor_free(&t);
    json_decref(j);
}
END_TEST

START_TEST(binary_fixed_size)
{
    /* INT32 [3] little-endian: 1, -2, 258 */
    const unsigned char bin[] = {1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 2, 1, 0, 0};
    oip_tensor t;
    problem p;
    double v;
    ck_assert_int_eq(
        read_text(
            "{\"name\":\"x\",\"shape\":[3],\"datatype\":\"INT32\",\"parameters\":{\"binary_data_size\":12}}",
            bin, sizeof bin, &t, &p),
        0);
    ck_assert_int_eq(oip_tensor_number(&t, 0, 1, &v, &p), 0);
    ck_assert(v == -2.0);
    ck_assert_int_eq(oip_tensor_number(&t, 0, 2, &v, &p), 0);
    ck_assert(v == 258.0);
    oip_tensor_free(&t);
    /* 12 bytes are not shape [2] of INT32 */
    ck_assert_int_eq(
        read_text(
            "{\"name\":\"x\",\"shape\":[2],\"datatype\":\"INT32\",\"parameters\":{\"binary_data_size\":12}}",
            bin, sizeof bin, &t, &p),
        -1);
    ck_assert_ptr_nonnull(strstr(p.detail, "needs 2 x 4 = 8"));
    oip_tensor_free(&t);
    /* more than there is */
    ck_assert_int_eq(
        read_text(
            "{\"name\":\"x\",\"shape\":[4],\"datatype\":\"INT32\",\"parameters\":{\"binary_data_size\":16}}",
            bin, sizeof bin, &t, &p),
        -1);
    oip_tensor_free(&t);
}
END_TEST

START_TEST(binary_bytes_lengths_add_up)
{
    const unsigned char two[] = {2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0}; /* "hi", "" */
    oip_tensor t;
    problem p;
    const char *s;
    size_t n;
    ck_assert_int_eq(
        read_text(
            "{\"name\":\"x\",\"shape\":[2],\"datatype\":\"BYTES\",\"parameters\":{\"binary_data_size\":10}}",
            two, sizeof two, &t, &p),
        0);
    ck_assert_int_eq(oip_tensor_bytes(&t, 0, 0, &s, &n, &p), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert(memcmp(s, "hi", 2) == 0);
    ck_assert_int_eq(oip_tensor_bytes(&t, 0, 1, &s, &n, &p), 0);
    ck_assert_uint_eq(n, 0);
    oip_tensor_free(&t);
    /* three elements asked, two there */
    ck_assert_int_eq(
        read_text(
            "{\"name\":\"x\",\"shape\":[3],\"datatype\":\"BYTES\",\"parameters\":{\"binary_data_size\":10}}",
            two, sizeof two, &t, &p),
        -1);
    oip_tensor_free(&t);
    /* one element asked, bytes left over */
    ck_assert_int_eq(
        read_text(
            "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"BYTES\",\"parameters\":{\"binary_data_size\":10}}",
            two, sizeof two, &t, &p),
        -1);
    oip_tensor_free(&t);
    /* far more elements than bytes: refused before the offsets are sized */
    ck_assert_int_eq(read_text("{\"name\":\"x\",\"shape\":[1000000000000],\"datatype\":\"BYTES\","
                               "\"parameters\":{\"binary_data_size\":10}}",
                               two, sizeof two, &t, &p),
                     -1);
    oip_tensor_free(&t);
    /* a length past the end */
    const unsigned char past[] = {0xff, 0xff, 0xff, 0xff, 'x'};
    ck_assert_int_eq(
        read_text(
            "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"BYTES\",\"parameters\":{\"binary_data_size\":5}}",
            past, sizeof past, &t, &p),
        -1);
    oip_tensor_free(&t);
}
END_TEST

START_TEST(answers_to_binary)
{
    json_t *fp = json_pack("{s:s, s:s, s:[i], s:[f, f]}", "name", "p", "datatype", "FP32", "shape", 2, "data",
                           0.5, -2.0);
    json_t *by =
        json_pack("{s:s, s:s, s:[i], s:[s]}", "name", "t", "datatype", "BYTES", "shape", 1, "data", "hola");
    oip_buf buf = {0};
    ck_assert_int_eq(oip_tensor_to_binary(fp, &buf), 0);
    ck_assert_int_eq(oip_tensor_to_binary(by, &buf), 0);
    ck_assert_uint_eq(buf.len, 8 + 4 + 4);
    const unsigned char want[] = {0, 0, 0, 0x3f, 0, 0, 0, 0xc0, 4, 0, 0, 0, 'h', 'o', 'l', 'a'};
    ck_assert(memcmp(buf.data, want, sizeof want) == 0);
    ck_assert_ptr_null(json_object_get(fp, "data"));
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(fp, "parameters"), "binary_data_size")), 8);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(by, "parameters"), "binary_data_size")), 8);
    oip_buf_free(&buf);
    json_decref(fp);
    json_decref(by);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("oip");
    TCase *tc = tcase_create("oip");
    tcase_add_test(tc, datatypes_by_name);
    tcase_add_test(tc, flat_and_nested_data_agree);
    tcase_add_test(tc, malformed_tensors_are_400);
    tcase_add_test(tc, elements_of_the_wrong_kind);
    tcase_add_test(tc, binary_fixed_size);
    tcase_add_test(tc, binary_bytes_lengths_add_up);
    tcase_add_test(tc, answers_to_binary);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
