/*
 * test_tokenizer.c - core/model/tokenizer.h, both kinds behind the one interface: encode and
 * decode, the room a caller gives (a cut text says so, and a subword text still ends in
 * </s>), the same errors for a text without a token and for invalid UTF-8 (with the byte
 * offset), and loading through the kind a family names.
 */
#include "core/model/tokenizer.h"
#include "tests/support/check_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "tokenizer");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

static glia_tokenizer *words(void)
{
    glia_err err = {0};
    glia_tokenizer *t = NULL;
    const char *path = glia_test_write(tmpdir, "vocab.txt", "<pad>\n<unk>\nthe\ncat\nsat\n");
    ck_assert_msg(glia_tokenizer_load(GLIA_TOKENIZER_WORDS, path, &t, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(glia_tokenizer_kind_of(t), GLIA_TOKENIZER_WORDS);
    ck_assert_ptr_nonnull(glia_tokenizer_words(t));
    ck_assert_ptr_null(glia_tokenizer_subwords(t));
    return t;
}

/* A BPE learned from a few texts, saved and loaded back through the interface. */
static glia_tokenizer *subwords(void)
{
    const char *texts[] = {"open the file", "the file is open", "close the file", "open files"};
    glia_err err = {0};
    glia_bpe *bpe = NULL;
    glia_tokenizer *t = NULL;
    glia_bpe_opts opts = glia_bpe_defaults();
    opts.vocab_size = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.bpe", tmpdir);
    ck_assert_msg(glia_bpe_learn(texts, NULL, 4, &opts, &bpe, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_bpe_save(bpe, path, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_tokenizer_load(GLIA_TOKENIZER_SUBWORDS, path, &t, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(glia_tokenizer_size(t), (int)glia_bpe_size(bpe));
    ck_assert_ptr_nonnull(glia_tokenizer_subwords(t));
    ck_assert_ptr_null(glia_tokenizer_words(t));
    glia_bpe_free(bpe);
    return t;
}

START_TEST(words_encode_decode)
{
    glia_tokenizer *t = words();
    glia_err err = {0};
    int32_t ids[8];
    int n = 0, total = 0;
    ck_assert_int_eq(glia_tokenizer_size(t), 5);
    ck_assert_int_eq(glia_tokenizer_encode(t, "The dog sat", 11, 8, ids, &n, &total, &err), GLIA_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(total, 3);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(ids[1], GLIA_VOCAB_UNK);
    ck_assert_int_eq(ids[2], 4);
    ck_assert_int_eq(ids[3], 0); /* padding after the text */
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(glia_tokenizer_decode(t, ids, 4, &text, &len, &err), GLIA_OK);
    ck_assert_str_eq(text, "the <unk> sat");
    ck_assert_uint_eq(len, strlen(text));
    free(text);
    /* a cut text keeps its head and says how long it was */
    ck_assert_int_eq(glia_tokenizer_encode(t, "the cat sat the cat", 19, 2, ids, &n, &total, &err), GLIA_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(total, 5);
    ck_assert_int_eq(ids[1], 3);
    int32_t bad = 99;
    ck_assert_int_eq(glia_tokenizer_decode(t, &bad, 1, &text, NULL, &err), GLIA_EINVAL);
    ck_assert_ptr_null(text);
    glia_tokenizer_free(t);
}
END_TEST

START_TEST(subwords_encode_decode)
{
    glia_tokenizer *t = subwords();
    glia_err err = {0};
    int32_t ids[64];
    int n = 0, total = 0;
    const char *s = "open the  file";
    ck_assert_int_eq(glia_tokenizer_encode(t, s, strlen(s), 64, ids, &n, &total, &err), GLIA_OK);
    ck_assert_int_ge(n, 2);
    ck_assert_int_eq(total, n);
    ck_assert_int_eq(ids[n - 1], GLIA_BPE_EOS);
    char *text = NULL;
    ck_assert_int_eq(glia_tokenizer_decode(t, ids, n, &text, NULL, &err), GLIA_OK);
    ck_assert_str_eq(text, "open the file"); /* white space normalised, </s> gives nothing */
    free(text);
    /* cut: the head, still ending in </s>, and the whole length */
    const int full = n;
    ck_assert_int_eq(glia_tokenizer_encode(t, s, strlen(s), 2, ids, &n, &total, &err), GLIA_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(total, full);
    ck_assert_int_eq(ids[1], GLIA_BPE_EOS);
    glia_tokenizer_free(t);
}
END_TEST

/* Both kinds refuse the same things the same way. */
START_TEST(errors_are_the_same_for_both_kinds)
{
    glia_tokenizer *t = _i == 0 ? words() : subwords();
    glia_err err = {0};
    int32_t ids[16];
    int n = 7, total = 7;
    ck_assert_int_eq(glia_tokenizer_encode(t, " \t ", 3, 16, ids, &n, &total, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "has no words"));
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(glia_tokenizer_encode(t, "", 0, 16, ids, &n, &total, &err), GLIA_EINVAL);
    glia_err_clear(&err);
    ck_assert_int_eq(glia_tokenizer_encode(t, "the \xff cat", 9, 16, ids, &n, &total, &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, "invalid UTF-8 at byte 4") != NULL, "%s", err.msg);
    ck_assert_int_eq(n, 0);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(ids[i], 0);
    ck_assert_int_eq(glia_tokenizer_encode(t, "the", 3, 0, ids, &n, &total, &err), GLIA_EINVAL);
    glia_tokenizer_free(t);
}
END_TEST

START_TEST(loading_names_the_file)
{
    glia_err err = {0};
    glia_tokenizer *t = (glia_tokenizer *)1;
    const char *path = glia_test_write(tmpdir, "bad.txt", "<pad>\n<unk>\nThe\n");
    ck_assert_int_ne(glia_tokenizer_load(GLIA_TOKENIZER_WORDS, path, &t, &err), GLIA_OK);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad.txt"));
    ck_assert_int_ne(glia_tokenizer_load(GLIA_TOKENIZER_SUBWORDS, path, &t, &err), GLIA_OK);
    ck_assert_int_ne(glia_tokenizer_load(GLIA_TOKENIZER_NONE, path, &t, &err), GLIA_OK);
    glia_tokenizer_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("tokenizer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, words_encode_decode);
    tcase_add_test(tc, subwords_encode_decode);
    tcase_add_loop_test(tc, errors_are_the_same_for_both_kinds, 0, 2);
    tcase_add_test(tc, loading_names_the_file);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
