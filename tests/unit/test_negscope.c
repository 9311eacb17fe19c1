/*
 * test_negscope.c - negation scopes (core/text/negscope.h) and what reads them: which tokens a
 * scope marks and where it ends (punctuation, contrast words, max_words), a vocabulary built
 * and encoding with scopes marked (and the same vocabulary read plain), the lexicon table's
 * negated score for a marked word, the lexicon's words added to a vocabulary, and the rule that
 * negates a one-clause sentence for augmentation (and refuses the others).
 */
#include "core/model/manifest.h"
#include "core/text/lexicon.h"
#include "core/text/negscope.h"
#include "core/text/tokenize.h"
#include "core/text/vocab.h"
#include "tests/support/check_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "negscope");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

/* The tokens of text with the marked ones prefixed, joined by spaces (a static buffer). */
static const char *scoped_of(const char *text, int max_words)
{
    static char joined[1024];
    const glia_negscope_cfg cfg = {.enabled = true, .max_words = max_words};
    glia_negscope s;
    glia_tok_list list;
    glia_err err = {0};
    ck_assert_msg(glia_tok_split(text, strlen(text), &list, &err) == GLIA_OK, "%s", err.msg);
    glia_negscope_init(&s, &cfg);
    joined[0] = '\0';
    for (size_t i = 0; i < list.n; i++) {
        if (i > 0)
            strcat(joined, " ");
        if (glia_negscope_next(&s, list.tokens[i], strlen(list.tokens[i])))
            strcat(joined, GLIA_NEGSCOPE_PREFIX);
        strcat(joined, list.tokens[i]);
    }
    glia_tok_list_free(&list);
    return joined;
}

START_TEST(scope_marks_up_to_a_boundary)
{
    static const struct {
        const char *text, *want;
        int max_words;
    } cases[] = {
        {"not bad at all", "not not_bad not_at not_all", 0},
        {"It wasn't bad.", "it was not not_bad .", 0},
        {"I don't hate it, I love it", "i do not not_hate not_it , i love it", 0},
        {"Not the worst but not great", "not not_the not_worst but not not_great", 0},
        {"no complaints and great food", "no not_complaints and great food", 0},
        {"I can't complain", "i can not not_complain", 0},
        {"never ever disappointed again", "never not_ever not_disappointed again", 2},
        {"good food", "good food", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_str_eq(scoped_of(cases[i].text, cases[i].max_words), cases[i].want);
    /* disabled: nothing is marked */
    glia_negscope s;
    glia_negscope_init(&s, NULL);
    ck_assert(!glia_negscope_next(&s, "not", 3));
    ck_assert(!glia_negscope_next(&s, "bad", 3));
    char buf[8];
    ck_assert(!glia_negscope_mark("toolong", 7, buf, sizeof buf));
    ck_assert(glia_negscope_mark("bad", 3, buf, sizeof buf));
    ck_assert_str_eq(buf, "not_bad");
    ck_assert(glia_negscope_is_marked("not_bad", 7));
    ck_assert(!glia_negscope_is_marked("not", 3));
}
END_TEST

START_TEST(vocab_marks_when_told)
{
    static const char *const texts[] = {"it was not bad", "it was bad", "not good."};
    const glia_negscope_cfg cfg = {.enabled = true};
    glia_vocab *v = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_vocab_build_scoped(texts, 3, 1, 0, &cfg, &v, &err) == GLIA_OK, "%s", err.msg);
    ck_assert(glia_vocab_negscope(v).enabled);
    ck_assert_int_gt(glia_vocab_id(v, "not_bad"), GLIA_VOCAB_UNK);
    ck_assert_int_gt(glia_vocab_id(v, "not_good"), GLIA_VOCAB_UNK);
    ck_assert_int_eq(glia_vocab_id(v, "good"), GLIA_VOCAB_UNK); /* only ever seen negated */
    int32_t ids[8];
    size_t n = 0;
    ck_assert_int_eq(glia_vocab_encode(v, "Not bad, bad", 12, 8, ids, &n, NULL, &err), GLIA_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(ids[1], glia_vocab_id(v, "not_bad"));
    ck_assert_int_eq(ids[3], glia_vocab_id(v, "bad"));
    /* the same file read plain: "bad" after "not" is plain "bad" */
    char path[300];
    snprintf(path, sizeof path, "%s/vocab.txt", tmpdir);
    ck_assert_int_eq(glia_vocab_save(v, path, &err), GLIA_OK);
    glia_vocab *plain = NULL;
    ck_assert_int_eq(glia_vocab_load(path, &plain, &err), GLIA_OK);
    ck_assert(!glia_vocab_negscope(plain).enabled);
    ck_assert_int_eq(glia_vocab_encode(plain, "not bad", 7, 8, ids, &n, NULL, &err), GLIA_OK);
    ck_assert_int_eq(ids[1], glia_vocab_id(plain, "bad"));
    glia_vocab_set_negscope(plain, &cfg);
    ck_assert_int_eq(glia_vocab_encode(plain, "not bad", 7, 8, ids, &n, NULL, &err), GLIA_OK);
    ck_assert_int_eq(ids[1], glia_vocab_id(plain, "not_bad"));
    /* appending: a checked token, once */
    bool added = false;
    ck_assert_int_eq(glia_vocab_append(plain, "superb", &added, &err), GLIA_OK);
    ck_assert(added);
    ck_assert_int_eq(glia_vocab_append(plain, "superb", &added, &err), GLIA_OK);
    ck_assert(!added);
    ck_assert_int_eq(glia_vocab_append(plain, "Upper", &added, &err), GLIA_EFORMAT);
    glia_vocab_free(plain);
    glia_vocab_free(v);
}
END_TEST

START_TEST(lexicon_negates_marked_words_and_extends)
{
    char path[300];
    snprintf(path, sizeof path, "%s/afinn.json", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"bad\": -3, \"superb\": 5, \"can't stand\": -3, \"not\": -1}", f);
    fclose(f);
    static const char *const texts[] = {"it was not bad", "bad"};
    const glia_negscope_cfg cfg = {.enabled = true};
    glia_vocab *v = NULL;
    glia_err err = {0};
    ck_assert_int_eq(glia_vocab_build_scoped(texts, 2, 1, 0, &cfg, &v, &err), GLIA_OK);
    glia_lexicon_source src = {.format = GLIA_LEXICON_JSON, .scale = 0.2f};
    snprintf(src.path, sizeof src.path, "%s", path);
    const size_t before = glia_vocab_size(v);
    size_t added = 0;
    ck_assert_msg(glia_lexicon_extend_vocab(&src, 1, v, &added, &err) == GLIA_OK, "%s", err.msg);
    /* superb and not_superb; bad, not_bad and not are there; "can't stand" is no one token;
     * the negator gets no marked form */
    ck_assert_uint_eq(added, 2);
    ck_assert_uint_eq(glia_vocab_size(v), before + 2);
    ck_assert_int_eq(glia_vocab_id(v, "not_not"), GLIA_VOCAB_UNK);
    float *table = calloc(glia_vocab_size(v), sizeof(float));
    ck_assert_int_eq(glia_lexicon_table(&src, 1, v, table, NULL, &err), GLIA_OK);
    ck_assert_float_eq_tol(table[glia_vocab_id(v, "bad")], -0.6f, 1e-6f);
    ck_assert_float_eq_tol(table[glia_vocab_id(v, "not_bad")], 0.6f, 1e-6f);
    ck_assert_float_eq_tol(table[glia_vocab_id(v, "superb")], 1.0f, 1e-6f);
    ck_assert_float_eq_tol(table[glia_vocab_id(v, "not_superb")], -1.0f, 1e-6f);
    free(table);
    glia_vocab_free(v);
}
END_TEST

/* The rule's output for text, or "-" when it refuses. */
static const char *negated_of(const char *text)
{
    static char out[512];
    glia_tok_list list;
    glia_err err = {0};
    ck_assert_int_eq(glia_tok_split(text, strlen(text), &list, &err), GLIA_OK);
    if (!glia_negscope_negate(list.tokens, list.n, out, sizeof out))
        strcpy(out, "-");
    glia_tok_list_free(&list);
    return out;
}

START_TEST(negate_one_clause_sentences)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"The food was great.", "the food was not great ."},
        {"It's a good phone!", "it's not a good phone !"},
        {"This phone is not worth it.", "this phone is worth it ."},
        {"I didn't like it", "i did like it"},
        {"The food was good but the service was slow.", "-"}, /* two clauses */
        {"Great phone. Works well.", "-"},                    /* a boundary inside */
        {"I loved it", "-"},                                  /* no copula */
        {"There was nothing good", "-"},                      /* not a "not" to drop */
        {"It was", "-"},                                      /* nothing after the copula */
        {"It is not bad, not at all", "-"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_str_eq(negated_of(cases[i].text), cases[i].want);
    char *toks[] = {"a", "b"};
    char small[3];
    ck_assert(!glia_negscope_negate(toks, 2, small, sizeof small));
}
END_TEST

/* A manifest with input text in; its load's status, the message in err. */
static glia_status load_manifest(const char *yaml, glia_manifest *m, glia_err *err)
{
    char path[300];
    snprintf(path, sizeof path, "%s/model.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(yaml, f);
    fclose(f);
    return glia_manifest_load(path, m, err);
}

START_TEST(manifest_says_how_to_read)
{
    static const char *const text =
        "name: t\ntask: text-classification\nvocabulary: vocab.txt\ninput: {max_tokens: 8, "
        "negation_scope: {max_words: %s}}\narchitecture: {type: text-rnn, embedding: {embedding_dim: 4}, "
        "rnn: {type: lstm, hidden_size: 2}, classifier: {out_features: 2}}\n";
    char yaml[1024];
    glia_manifest m;
    glia_err err = {0};
    snprintf(yaml, sizeof yaml, text, "3");
    ck_assert_msg(load_manifest(yaml, &m, &err) == GLIA_OK, "%s", err.msg);
    ck_assert(m.negscope.enabled);
    ck_assert_int_eq(m.negscope.max_words, 3);
    glia_manifest_free(&m);
    snprintf(yaml, sizeof yaml, text, "-1");
    ck_assert_int_ne(load_manifest(yaml, &m, &err), GLIA_OK);
    ck_assert_msg(strstr(err.msg, "max_words"), "%s", err.msg);
    ck_assert_int_ne(load_manifest("name: t\ntask: translation\ntokenizer: t.bpe\n"
                                   "input: {negation_scope: {}}\narchitecture: {type: transformer-seq2seq}\n",
                                   &m, &err),
                     GLIA_OK);
    ck_assert_msg(strstr(err.msg, "negation_scope"), "%s", err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("negscope");
    TCase *t = tcase_create("negscope");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, scope_marks_up_to_a_boundary);
    tcase_add_test(t, vocab_marks_when_told);
    tcase_add_test(t, lexicon_negates_marked_words_and_extends);
    tcase_add_test(t, negate_one_clause_sentences);
    tcase_add_test(t, manifest_says_how_to_read);
    suite_add_tcase(s, t);
    return glia_check_run(s);
}
