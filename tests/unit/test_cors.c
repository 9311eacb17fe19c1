/*
 * test_cors.c - the CORS decision: which origins a config may list (as browsers send
 * them), which requests' answers carry Access-Control-Allow-Origin and with what value,
 * "*" alone, CORS off, and a list replaced while other threads decide.
 */
#include "daemon/cors.h"
#include "tests/support/check_main.h"

#include <pthread.h>
#include <string.h>

START_TEST(origins_a_config_may_list)
{
    static const char *const good[] = {"*",
                                       "https://console.example.com",
                                       "http://localhost:3000",
                                       "http://127.0.0.1:8080",
                                       "http://[::1]:3000",
                                       "https://a-b.example.org:65535",
                                       "chrome-extension://abcdefghijklmnop"};
    static const char *const bad[] = {"",
                                      "null",
                                      "console.example.com",
                                      "https://",
                                      "https://Console.example.com",
                                      "HTTPS://console.example.com",
                                      "https://console.example.com/",
                                      "https://console.example.com/app",
                                      "https://console.example.com?x=1",
                                      "https://console.example.com:0",
                                      "https://console.example.com:65536",
                                      "https://console.example.com:",
                                      "https://[::1",
                                      "https://a b.example",
                                      "*.example.com",
                                      "1http://a.example"};
    char why[256];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(cors_origin_check(good[i], why, sizeof why) == 0, "%s refused: %s", good[i], why);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = '\0';
        ck_assert_msg(cors_origin_check(bad[i], why, sizeof why) != 0, "'%s' accepted", bad[i]);
        ck_assert_msg(why[0], "'%s': no reason given", bad[i]);
    }
    char longest[CORS_ORIGIN_MAX + 8] = "https://";
    memset(longest + 8, 'a', CORS_ORIGIN_MAX);
    longest[CORS_ORIGIN_MAX + 7] = '\0';
    ck_assert_int_ne(cors_origin_check(longest, why, sizeof why), 0);
}
END_TEST

START_TEST(decisions)
{
    static const char list[][CORS_ORIGIN_MAX] = {"https://console.example.com", "http://localhost:3000"};
    static const char any[][CORS_ORIGIN_MAX] = {"*"};
    cors *c;
    cors_decision d;
    glia_err err = {0};
    ck_assert_int_eq(cors_new(&c, &err), GLIA_OK);
    /* off: nothing, whatever the Origin */
    cors_decide(c, "https://console.example.com", &d);
    ck_assert(!d.on && !d.allowed);
    cors_decide(NULL, "https://console.example.com", &d);
    ck_assert(!d.on && !d.allowed);

    ck_assert_int_eq(cors_set(c, list, 2, 120, &err), GLIA_OK);
    cors_decide(c, "http://localhost:3000", &d);
    ck_assert(d.on && d.allowed);
    ck_assert_str_eq(d.allow_origin, "http://localhost:3000");
    ck_assert_int_eq(d.max_age_s, 120);
    /* exact comparison: another port, scheme, a prefix or a suffix is another origin */
    static const char *const others[] = {
        "http://localhost:3001",      "https://localhost:3000",
        "http://localhost",           "https://console.example.com.evil.example",
        "https://console.example.co", "null"};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        cors_decide(c, others[i], &d);
        ck_assert_msg(d.on && !d.allowed, "%s allowed", others[i]);
    }
    cors_decide(c, NULL, &d); /* no Origin: not a cross-origin request, but answers still vary */
    ck_assert(d.on && !d.allowed);

    ck_assert_int_eq(cors_set(c, any, 1, 600, &err), GLIA_OK);
    cors_decide(c, "https://anything.example", &d);
    ck_assert(d.allowed);
    ck_assert_str_eq(d.allow_origin, "*");
    cors_decide(c, NULL, &d);
    ck_assert(d.on && !d.allowed);

    /* a bad list is refused and the one before stays */
    static const char mixed[][CORS_ORIGIN_MAX] = {"https://a.example", "*"};
    static const char upper[][CORS_ORIGIN_MAX] = {"https://A.example"};
    ck_assert_int_eq(cors_set(c, mixed, 2, 600, &err), GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, "must be alone"), "%s", err.msg);
    ck_assert_int_eq(cors_set(c, upper, 1, 600, &err), GLIA_EINVAL);
    cors_decide(c, "https://b.example", &d);
    ck_assert_str_eq(d.allow_origin, "*");

    ck_assert_int_eq(cors_set(c, NULL, 0, 600, &err), GLIA_OK);
    cors_decide(c, "https://b.example", &d);
    ck_assert(!d.on && !d.allowed);
    cors_free(c);
    cors_free(NULL);
}
END_TEST

/* Deciders on other threads see one list or the other, never a torn one (ASan/TSan-clean). */
typedef struct {
    cors *c;
    int bad;
} race;

static void *decider(void *arg)
{
    race *r = arg;
    cors_decision d;
    for (int i = 0; i < 20000; i++) {
        cors_decide(r->c, "https://b.example", &d);
        if (d.allowed && strcmp(d.allow_origin, "https://b.example") != 0 && strcmp(d.allow_origin, "*") != 0)
            r->bad++;
    }
    return NULL;
}

START_TEST(replaced_while_deciding)
{
    static const char one[][CORS_ORIGIN_MAX] = {"https://a.example", "https://b.example"};
    static const char two[][CORS_ORIGIN_MAX] = {"*"};
    glia_err err = {0};
    race r = {NULL, 0};
    pthread_t t[2];
    ck_assert_int_eq(cors_new(&r.c, &err), GLIA_OK);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, decider, &r);
    for (int i = 0; i < 2000; i++)
        ck_assert_int_eq(i % 2 ? cors_set(r.c, one, 2, 60, &err) : cors_set(r.c, two, 1, 60, &err), GLIA_OK);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(r.bad, 0);
    cors_free(r.c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cors");
    TCase *tc = tcase_create("cors");
    tcase_add_test(tc, origins_a_config_may_list);
    tcase_add_test(tc, decisions);
    tcase_add_test(tc, replaced_while_deciding);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
