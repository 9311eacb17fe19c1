/*
 * test_mtscore.c - corpus BLEU and chrF (core/train/mtscore.h) on cases computed by hand: identical
 * texts score 100, texts without a common token or character 0, the brevity penalty's exact
 * value, clipped counts summed over a corpus (not averaged per sentence), chrF's averages of
 * precision and recall over the effective orders and its rule that hypothesis n-grams of an order
 * the reference lacks are not counted, code points rather than bytes, white space ignored; the
 * 13a tokenizer rule by rule (punctuation, '.' and ',' next to digits, the non-overlapping
 * matches, entities, <skipped>, hyphenated line ends, Python's white space); invalid UTF-8
 * refused without changing the statistics; glia_mt_print's last lines; and a random corpus
 * that makes the tables grow.
 */
#include "core/base/rng.h"
#include "core/train/mtscore.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static glia_mt_stats *stats_new(void)
{
    glia_mt_stats *s = NULL;
    glia_err err = {0};
    ck_assert_int_eq(glia_mt_stats_new(&s, &err), GLIA_OK);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void add(glia_mt_stats *s, const char *hyp, const char *ref)
{
    glia_err err = {0};
    ck_assert_msg(glia_mt_add(s, hyp, strlen(hyp), ref, strlen(ref), &err) == GLIA_OK, "%s", err.msg);
}

/* BLEU and chrF of one sentence pair. */
static void score1(const char *hyp, const char *ref, double *bleu, double *chrf)
{
    glia_mt_stats *s = stats_new();
    add(s, hyp, ref);
    *bleu = glia_mt_bleu(s);
    *chrf = glia_mt_chrf(s);
    glia_mt_stats_free(s);
}

/* ---- BLEU ------------------------------------------------------------------------------------- */

START_TEST(identical_is_100)
{
    double bleu, chrf;
    score1("The file 'foo.txt' was not found.", "The file 'foo.txt' was not found.", &bleu, &chrf);
    ck_assert_double_eq_tol(bleu, 100.0, 1e-9);
    ck_assert_double_eq_tol(chrf, 100.0, 1e-9);
    /* white space differences are no differences for either */
    score1("  Abrir   el archivo\tde registro ", "Abrir el archivo de registro", &bleu, &chrf);
    ck_assert_double_eq_tol(bleu, 100.0, 1e-9);
    ck_assert_double_eq_tol(chrf, 100.0, 1e-9);
}
END_TEST

START_TEST(no_overlap_is_0)
{
    double bleu, chrf;
    score1("abc def", "xyz uvw", &bleu, &chrf);
    ck_assert_double_eq(bleu, 0.0);
    ck_assert_double_eq(chrf, 0.0);
    /* case matters */
    score1("OPEN", "open", &bleu, &chrf);
    ck_assert_double_eq(bleu, 0.0);
    ck_assert_double_eq(chrf, 0.0);
}
END_TEST

START_TEST(empty_corpus_and_empty_hypothesis)
{
    glia_mt_stats *s = stats_new();
    ck_assert_uint_eq(glia_mt_sentences(s), 0);
    ck_assert_double_eq(glia_mt_bleu(s), 0.0);
    ck_assert_double_eq(glia_mt_chrf(s), 0.0);
    add(s, "", "Guardar como");
    glia_mt_bleu_info b;
    glia_mt_bleu_details(s, &b);
    ck_assert_double_eq(b.score, 0.0);
    ck_assert_double_eq(b.bp, 0.0);
    ck_assert_uint_eq(b.sys_len, 0);
    ck_assert_uint_eq(b.ref_len, 2);
    ck_assert_double_eq(glia_mt_chrf(s), 0.0);
    ck_assert_uint_eq(glia_mt_sentences(s), 1);
    glia_mt_stats_free(s);
    glia_mt_stats_free(NULL);
}
END_TEST

/* Every precision 1, C = 5, R = 10: BLEU = 100 exp(1 - 10/5) = 100/e. */
START_TEST(brevity_penalty)
{
    glia_mt_stats *s = stats_new();
    add(s, "a b c d e", "a b c d e f g h i j");
    glia_mt_bleu_info b;
    glia_mt_bleu_details(s, &b);
    ck_assert_uint_eq(b.sys_len, 5);
    ck_assert_uint_eq(b.ref_len, 10);
    for (int n = 0; n < 4; n++) {
        ck_assert_double_eq_tol(b.precisions[n], 100.0, 1e-12);
        ck_assert_uint_eq(b.total[n], (uint64_t)(5 - n));
        ck_assert_uint_eq(b.correct[n], (uint64_t)(5 - n));
    }
    ck_assert_double_eq_tol(b.bp, exp(-1.0), 1e-15);
    ck_assert_double_eq_tol(b.ratio, 0.5, 1e-15);
    ck_assert_double_eq_tol(b.score, 36.787944117144233, 1e-9);
    ck_assert_double_eq_tol(glia_mt_bleu(s), 36.787944117144233, 1e-9);
    glia_mt_stats_free(s);

    /* a longer hypothesis is not penalised: BP = 1 */
    s = stats_new();
    add(s, "a b c d e f", "a b c d e");
    glia_mt_bleu_details(s, &b);
    ck_assert_double_eq(b.bp, 1.0);
    /* p = 5/6, 4/5, 3/4, 2/3 */
    ck_assert_double_eq_tol(b.score, 100.0 * pow(5.0 / 6 * 4.0 / 5 * 3.0 / 4 * 2.0 / 3, 0.25), 1e-9);
    glia_mt_stats_free(s);
}
END_TEST

/* "the" seven times against a reference with two: 2/7, not 7/7. The corpus sums the counts of
 * both sentences: correct = 2+5, 0+4, 0+3, 0+2; total = 7+5, 6+4, 5+3, 4+2; C = 12 > R = 11. */
START_TEST(clipping_and_corpus_sums)
{
    glia_mt_stats *s = stats_new();
    add(s, "the the the the the the the", "the cat is on the mat");
    glia_mt_bleu_info b;
    glia_mt_bleu_details(s, &b);
    ck_assert_uint_eq(b.correct[0], 2);
    ck_assert_uint_eq(b.total[0], 7);
    ck_assert_double_eq_tol(b.precisions[0], 100.0 * 2 / 7, 1e-12);
    ck_assert_uint_eq(b.correct[1], 0);
    ck_assert_double_eq(b.score, 0.0); /* no smoothing: a zero precision is a zero score */

    add(s, "a b c d e", "a b c d e");
    glia_mt_bleu_details(s, &b);
    const uint64_t correct[4] = {7, 4, 3, 2}, total[4] = {12, 10, 8, 6};
    for (int n = 0; n < 4; n++) {
        ck_assert_uint_eq(b.correct[n], correct[n]);
        ck_assert_uint_eq(b.total[n], total[n]);
    }
    ck_assert_uint_eq(b.sys_len, 12);
    ck_assert_uint_eq(b.ref_len, 11);
    ck_assert_double_eq(b.bp, 1.0);
    ck_assert_double_eq_tol(b.score, 100.0 * pow(7.0 / 12 * 4.0 / 10 * 3.0 / 8 * 2.0 / 6, 0.25), 1e-9);
    ck_assert_uint_eq(glia_mt_sentences(s), 2);
    glia_mt_stats_free(s);

    /* a repeated bigram is clipped too: "a b a b" vs "a b c": bigrams ab, ba, ab -> 1 of 3 */
    s = stats_new();
    add(s, "a b a b", "a b c");
    glia_mt_bleu_details(s, &b);
    ck_assert_uint_eq(b.correct[0], 2);
    ck_assert_uint_eq(b.correct[1], 1);
    ck_assert_uint_eq(b.total[1], 3);
    glia_mt_stats_free(s);
}
END_TEST

/* The 13a tokens decide the n-grams: "Hello, world!" is 4 tokens, and ',' matches ','. */
START_TEST(bleu_counts_13a_tokens)
{
    glia_mt_stats *s = stats_new();
    add(s, "Hello, world!", "Hello , world !");
    glia_mt_bleu_info b;
    glia_mt_bleu_details(s, &b);
    ck_assert_uint_eq(b.sys_len, 4);
    ck_assert_uint_eq(b.ref_len, 4);
    ck_assert_double_eq_tol(b.score, 100.0, 1e-9);
    glia_mt_stats_free(s);
}
END_TEST

/* ---- chrF ------------------------------------------------------------------------------------- */

/* "a b" vs "ab c" = "ab" vs "abc": order 1 P = 2/2, R = 2/3; order 2 P = 1/1, R = 1/2; order 3
 * has no hypothesis n-gram, 4-6 none at all. P = 1, R = 7/12, chrF2 = 100 * 5PR / (4P + R) =
 * 100 * 35/55. */
START_TEST(chrf_by_hand)
{
    double bleu, chrf;
    score1("a b", "ab c", &bleu, &chrf);
    ck_assert_double_eq_tol(chrf, 100.0 * 35.0 / 55.0, 1e-9);
    ck_assert_double_eq(bleu, 0.0);
}
END_TEST

/* Sentence 1 "abc" vs "ab": the reference has no 3-gram, so the hypothesis' one is not counted.
 * Sentence 2 "xyz" vs "xyz". Sums: order 1 hyp 6 ref 5 match 5; order 2 hyp 4 ref 3 match 3;
 * order 3 hyp 1 (not 2) ref 1 match 1. P = (5/6 + 3/4 + 1)/3 = 31/36, R = 1,
 * chrF2 = 100 * 5P / (4P + 1) = 100 * 155/160 (it would be 100 * 125/136 counting the 3-gram). */
START_TEST(chrf_corpus_and_short_references)
{
    glia_mt_stats *s = stats_new();
    add(s, "abc", "ab");
    add(s, "xyz", "xyz");
    ck_assert_double_eq_tol(glia_mt_chrf(s), 96.875, 1e-9);
    glia_mt_stats_free(s);
}
END_TEST

/* "é" is one character: "café" vs "cafe" has 3/4, 2/3, 1/2 and 0/1 matches in orders 1-4 both
 * ways, so P = R = 23/48; "é" vs "è" (C3 A9 vs C3 A8) share no character. */
START_TEST(chrf_counts_code_points)
{
    double bleu, chrf;
    score1("café", "cafe", &bleu, &chrf);
    ck_assert_double_eq_tol(chrf, 100.0 * 23.0 / 48.0, 1e-9);
    ck_assert_double_eq(bleu, 0.0);
    score1("é", "è", &bleu, &chrf);
    ck_assert_double_eq(chrf, 0.0);
    score1("el año que viene", "el año que viene", &bleu, &chrf);
    ck_assert_double_eq_tol(chrf, 100.0, 1e-9);
    ck_assert_double_eq_tol(bleu, 100.0, 1e-9);
    /* fewer than 4 tokens have no 4-gram: BLEU 0 even when identical, chrF 100 */
    score1("año", "año", &bleu, &chrf);
    ck_assert_double_eq(bleu, 0.0);
    ck_assert_double_eq_tol(chrf, 100.0, 1e-9);
    /* non-ASCII white space (NO-BREAK SPACE, IDEOGRAPHIC SPACE) is removed like ASCII's */
    score1("a\xc2\xa0"
           "b\xe3\x80\x80"
           "c",
           "abc", &bleu, &chrf);
    ck_assert_double_eq_tol(chrf, 100.0, 1e-9);
}
END_TEST

/* ---- the 13a tokenizer ------------------------------------------------------------------------ */

static const struct {
    const char *in, *out;
} tok_cases[] = {
    {"file.txt,", "file . txt ,"},
    {"'%s'", "' % s'"},
    {"Can't open '%s': %s", "Can't open ' % s' : % s"},
    {"Hello, world!", "Hello , world !"},
    {"end.", "end ."},
    {"U.S.A.", "U . S . A ."},
    {"3.5 1,000 10.5.2020", "3.5 1,000 10.5.2020"},
    {"x.5 5.x", "x . 5 5 . x"},
    {"a.,5", "a . ,5"},
    {"e-mail --all 10-20", "e-mail --all 10 - 20"},
    {"$100 50% (a) [b] {c} <d> a/b a|b a_b a#b a@b a+b a=b a*b a^b a~b a`b a\\b a;b a?b",
     "$ 100 50 % ( a ) [ b ] { c } < d > a / b a | b a _ b a # b a @ b a + b a = b a * b a ^ b a ~ b a ` b a "
     "\\ b "
     "a ; b a ? b"},
    {"\"quoted\"", "\" quoted \""},
    {"l'été (à 5€) ¿Qué? ¡Sí!", "l'été ( à 5€ ) ¿Qué ? ¡Sí !"},
    {"&amp;lt;b&gt; &quot;x&quot;", "< b > \" x \""},
    {"line<skipped> one-\ntwo\nthree", "line onetwo three"},
    {"abc-\n", "abc-"}, /* rstrip() first: the "-\n" is gone before it could be joined */
    {"a\xc2\xa0"
     "b\xe3\x80\x80"
     "c\xe2\x80\x8b"
     "d",
     "a b c\xe2\x80\x8b"
     "d"}, /* NBSP and U+3000 split, ZERO WIDTH SPACE does not */
    {"   ", ""},
    {"", ""},
    {"...", ". . ."},
    {"1...", "1 . . ."},
};

START_TEST(tokenizes_13a)
{
    char *out = NULL;
    size_t len = 99;
    glia_err err = {0};
    const char *in = tok_cases[_i].in;
    ck_assert_int_eq(glia_mt_tokenize_13a(in, strlen(in), &out, &len, &err), GLIA_OK);
    ck_assert_str_eq(out, tok_cases[_i].out);
    ck_assert_uint_eq(len, strlen(tok_cases[_i].out));
    free(out);
}
END_TEST

/* ---- errors and output ------------------------------------------------------------------------ */

START_TEST(invalid_utf8_is_refused)
{
    glia_mt_stats *s = stats_new();
    glia_err err = {0};
    add(s, "uno dos", "uno dos");
    ck_assert_int_eq(glia_mt_add(s, "ab\xff", 3, "ab", 2, &err), GLIA_EFORMAT);
    ck_assert_str_eq(err.msg, "hypothesis: invalid UTF-8 at byte 2");
    ck_assert_int_eq(glia_mt_add(s, "ab", 2, "a\xc3", 2, &err), GLIA_EFORMAT); /* truncated */
    ck_assert_str_eq(err.msg, "reference: invalid UTF-8 at byte 1");
    ck_assert_int_eq(glia_mt_add(s, "\xc0\xaf", 2, "a", 1, &err), GLIA_EFORMAT);     /* overlong '/' */
    ck_assert_int_eq(glia_mt_add(s, "\xed\xa0\x80", 3, "a", 1, &err), GLIA_EFORMAT); /* surrogate */
    ck_assert_uint_eq(glia_mt_sentences(s), 1);
    ck_assert_double_eq(glia_mt_bleu(s), 0.0); /* 2 tokens: no 3-gram */
    ck_assert_double_eq_tol(glia_mt_chrf(s), 100.0, 1e-9);
    char *out = (char *)"x";
    ck_assert_int_eq(glia_mt_tokenize_13a("\xff", 1, &out, NULL, &err), GLIA_EFORMAT);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(err.msg, "invalid UTF-8 at byte 0");
    glia_mt_stats_free(s);
}
END_TEST

START_TEST(print_ends_with_bleu_and_chrf)
{
    glia_mt_stats *s = stats_new();
    add(s, "a b c d e", "a b c d e f g h i j");
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    ck_assert_ptr_nonnull(f);
    glia_mt_print(s, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_str_eq(
        buf, "BLEU = 36.79 100.0/100.0/100.0/100.0 (BP = 0.368 ratio = 0.500 hyp_len = 5 ref_len = 10) "
             "sentences = 1\n"
             "bleu=36.79\n"
             "chrf=40.69\n");
    free(buf);
    glia_mt_stats_free(s);
}
END_TEST

/* ---- many sentences --------------------------------------------------------------------------- */

/* Random sentences over a small vocabulary (so n-grams repeat), some long enough to make the
 * tables and buffers grow several times: every pair against itself scores 100, and the scores of
 * a corpus do not depend on the order of its sentences. */
START_TEST(random_corpus)
{
    static const char *const words[] = {"el",    "archivo", "no",        "existe", "año", "ñandú",
                                        "%s",    "'%s'",    "file.txt,", "(x)",    "3.5", "a-b",
                                        "10-20", "¿qué?",   "&amp;",     "<b>"};
    enum { N = 300 };
    glia_rng rng;
    glia_rng_seed(&rng, 7);
    char *hyp[N], *ref[N];
    for (int i = 0; i < N; i++) {
        for (int side = 0; side < 2; side++) {
            int nw = (int)(glia_rng_next(&rng) % (i % 50 == 0 ? 3000 : 30));
            size_t cap = (size_t)nw * 12 + 1, len = 0;
            char *t = malloc(cap);
            ck_assert_ptr_nonnull(t);
            t[0] = '\0';
            for (int w = 0; w < nw; w++) {
                const char *word = words[glia_rng_next(&rng) % (sizeof words / sizeof words[0])];
                len += (size_t)snprintf(t + len, cap - len, "%s%s", w ? " " : "", word);
            }
            (side ? ref : hyp)[i] = t;
        }
    }
    glia_mt_stats *same = stats_new(), *fwd = stats_new(), *back = stats_new();
    for (int i = 0; i < N; i++) {
        add(same, ref[i], ref[i]);
        add(fwd, hyp[i], ref[i]);
        add(back, hyp[N - 1 - i], ref[N - 1 - i]);
    }
    ck_assert_double_eq_tol(glia_mt_bleu(same), 100.0, 1e-9);
    ck_assert_double_eq_tol(glia_mt_chrf(same), 100.0, 1e-9);
    ck_assert_double_eq(glia_mt_bleu(fwd), glia_mt_bleu(back));
    ck_assert_double_eq(glia_mt_chrf(fwd), glia_mt_chrf(back));
    ck_assert(glia_mt_bleu(fwd) > 0.0 && glia_mt_bleu(fwd) < 100.0);
    ck_assert(glia_mt_chrf(fwd) > 0.0 && glia_mt_chrf(fwd) < 100.0);
    glia_mt_stats_free(same);
    glia_mt_stats_free(fwd);
    glia_mt_stats_free(back);
    for (int i = 0; i < N; i++) {
        free(hyp[i]);
        free(ref[i]);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mtscore");

    TCase *tb = tcase_create("bleu");
    tcase_add_test(tb, identical_is_100);
    tcase_add_test(tb, no_overlap_is_0);
    tcase_add_test(tb, empty_corpus_and_empty_hypothesis);
    tcase_add_test(tb, brevity_penalty);
    tcase_add_test(tb, clipping_and_corpus_sums);
    tcase_add_test(tb, bleu_counts_13a_tokens);
    suite_add_tcase(s, tb);

    TCase *tc = tcase_create("chrf");
    tcase_add_test(tc, chrf_by_hand);
    tcase_add_test(tc, chrf_corpus_and_short_references);
    tcase_add_test(tc, chrf_counts_code_points);
    suite_add_tcase(s, tc);

    TCase *tt = tcase_create("tokenizer");
    tcase_add_loop_test(tt, tokenizes_13a, 0, sizeof tok_cases / sizeof tok_cases[0]);
    suite_add_tcase(s, tt);

    TCase *te = tcase_create("api");
    tcase_add_test(te, invalid_utf8_is_refused);
    tcase_add_test(te, print_ends_with_bleu_and_chrf);
    tcase_add_test(te, random_corpus);
    suite_add_tcase(s, te);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
