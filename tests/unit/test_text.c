/*
 * test_text.c - text for the sentiment classifier: the word tokenizer (negations, clitics,
 * punctuation, case, numbers, emoji and other multibyte text, white space and controls, invalid
 * UTF-8 with its byte offset), the vocabulary (deterministic build, min_count and max_size, a
 * save/load round trip, one malformed file per rule with the file and line in the message,
 * encoding with truncation and padding), the FNV-1a hash that splits the data set, the UCI
 * reader on small hand-written files (stripping, deduplication order, the blank trailer,
 * malformed elements) and on the real Sentiment Labelled Sentences when scripts/setup has
 * fetched them (GLIA_UCI_SENTIMENT, else .cache/data/uci-sentiment under GLIA_SOURCE_ROOT;
 * skipped with a TAP note otherwise): exact counts for the pinned sentiment@5.0.2 files,
 * proportions near 80/10/10, labels near balanced, a digest of each split (the one
 * bench/lexicon_baselines.js checks too) and two loads giving the same split.
 */
#include "core/base/utf8.h"
#include "core/text/tokenize.h"
#include "core/data/uci.h"
#include "core/text/vocab.h"
#include "tests/support/check_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "text");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

/* ---- tokenizer ------------------------------------------------------------------------------ */

/* The tokens of text[0..len) joined by single spaces (a static buffer). */
static const char *tokens_of_len(const char *text, size_t len)
{
    static char joined[4096];
    glia_tok_list list;
    glia_err err = {0};
    ck_assert_msg(glia_tok_split(text, len, &list, &err) == GLIA_OK, "'%s': %s", text, err.msg);
    joined[0] = '\0';
    for (size_t i = 0; i < list.n; i++) {
        ck_assert_msg(strlen(list.tokens[i]) > 0, "empty token %zu of '%s'", i, text);
        ck_assert_ptr_null(strchr(list.tokens[i], ' '));
        if (i > 0)
            strcat(joined, " ");
        ck_assert_uint_lt(strlen(joined) + strlen(list.tokens[i]), sizeof joined - 2);
        strcat(joined, list.tokens[i]);
    }
    glia_tok_list_free(&list);
    ck_assert_uint_eq(list.n, 0);
    ck_assert_ptr_null(list.tokens);
    return joined;
}

static const char *tokens_of(const char *text)
{
    return tokens_of_len(text, strlen(text));
}

typedef struct {
    const char *text, *tokens;
} tok_case;

static void check_cases(const tok_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *got = tokens_of(cases[i].text);
        ck_assert_msg(strcmp(got, cases[i].tokens) == 0, "'%s' -> '%s', expected '%s'", cases[i].text, got,
                      cases[i].tokens);
    }
}

#define CHECK_CASES(cases) check_cases(cases, sizeof cases / sizeof cases[0])

START_TEST(tok_negations_survive)
{
    static const tok_case cases[] = {
        {"I didn't like it", "i did not like it"},
        {"isn't", "is not"},
        {"can't", "can not"},
        {"won't", "will not"},
        {"don't", "do not"},
        {"wasn't", "was not"},
        {"weren't aren't hasn't haven't hadn't", "were not are not has not have not had not"},
        {"couldn't wouldn't shouldn't mustn't doesn't", "could not would not should not must not does not"},
        {"shan't", "shall not"},
        {"ain't", "ai not"},
        {"DIDN'T", "did not"},
        {"Didn\xe2\x80\x99t", "did not"}, /* U+2019, the apostrophe of most web text */
        {"shouldn't've", "should not 've"},
        {"cannot", "can not"},
        {"dont didnt doesnt isnt wasnt", "do not did not does not is not was not"},
        {"cant wont", "can not will not"},
        {"did n't", "did not"},  /* text already in Penn Treebank form */
        {"dosen't", "dose not"}, /* a misspelling keeps its negation (PTB splits before the n) */
        {"not good", "not good"},
    };
    CHECK_CASES(cases);
}
END_TEST

START_TEST(tok_clitics_and_apostrophes)
{
    static const tok_case cases[] = {
        {"it's", "it 's"},
        {"I'm", "i 'm"},
        {"they're", "they 're"},
        {"we've", "we 've"},
        {"you'll", "you 'll"},
        {"he'd", "he 'd"},
        {"the 80's", "the 80 's"},
        {"o'clock rock'n'roll", "o'clock rock'n'roll"},
        {"the dogs' toys", "the dogs ' toys"},
        {"'quoted'", "' quoted '"},
        {"\xe2\x80\x98single\xe2\x80\x99 \xe2\x80\x9c"
         "double\xe2\x80\x9d",
         "' single ' \" double \""},
        {"it'", "it '"},
    };
    CHECK_CASES(cases);
}
END_TEST

START_TEST(tok_punctuation_is_split)
{
    static const tok_case cases[] = {
        {"Good case, Excellent value.", "good case , excellent value ."},
        {"Wow... Loved this place!!", "wow ... loved this place ! !"},
        {"minutes.MAJOR PROBLEMS!!", "minutes . major problems ! !"},
        {"slow-moving (aimless)", "slow - moving ( aimless )"},
        {"wait\xe2\x80\xa6 what?!", "wait ... what ? !"}, /* U+2026 */
        {"a..b....c", "a ... b ... c"},
        {"s*** #1 @home", "s * * * # 1 @ home"},
        {"x\xe2\x80\x94y", "x \xe2\x80\x94 y"}, /* em dash */
        {"\xc2\xbfqu\xc3\xa9?", "\xc2\xbf qu\xc3\xa9 ?"},
        {"", ""},
        {"   \t\n ", ""},
    };
    CHECK_CASES(cases);
}
END_TEST

START_TEST(tok_lower_cases)
{
    static const tok_case cases[] = {
        {"GREAT Great gReAt", "great great great"},
        {"CAF\xc3\x89 \xc3\x89T\xc3\x89", "caf\xc3\xa9 \xc3\xa9t\xc3\xa9"}, /* É -> é */
        {"\xce\x91\xce\x92\xce\x93", "\xce\xb1\xce\xb2\xce\xb3"},           /* ΑΒΓ -> αβγ */
        {"\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2",
         "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"}, /* ПРИВЕТ */
        {"\xc5\x81\xc3\x93"
         "D\xc5\xb9",
         "\xc5\x82\xc3\xb3"
         "d\xc5\xba"},                                  /* ŁÓDŹ */
        {"\xc4\xb0stanbul", "istanbul"},                /* İ */
        {"\xc3\x9f \xe1\xba\x9e", "\xc3\x9f \xc3\x9f"}, /* ß, ẞ */
        {"\xef\xbc\xa1", "\xef\xbc\xa1"},               /* fullwidth A: outside the mapped blocks, kept */
    };
    CHECK_CASES(cases);
}
END_TEST

START_TEST(tok_numbers_are_tokens)
{
    static const tok_case cases[] = {
        {"45 minutes", "45 minutes"},
        {"$12.99 for 1,000 stars at 10:30pm", "$ 12.99 for 1,000 stars at 10:30pm"},
        {"2nd, 4.5/5, 10/10", "2nd , 4.5 / 5 , 10 / 10"},
        {"in 2005.", "in 2005 ."},
        {"-3 +4", "- 3 + 4"},
        {"1.2.3", "1.2.3"},
        {"3,a", "3 , a"},
        {"mp3 and 3d", "mp3 and 3d"},
    };
    CHECK_CASES(cases);
}
END_TEST

START_TEST(tok_multibyte_passes_through)
{
    static const tok_case cases[] = {
        /* emoji are tokens of their own, with their modifiers */
        {"love it \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd!",
         "love it \xf0\x9f\x98\x80 \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd !"},
        {"great\xf0\x9f\x98\x80", "great \xf0\x9f\x98\x80"},
        {"\xe2\x9d\xa4\xef\xb8\x8f it", "\xe2\x9d\xa4\xef\xb8\x8f it"}, /* heart + VS16 */
        {"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7",
         "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7"}, /* ZWJ family */
        {"\xf0\x9f\x87\xba\xf0\x9f\x87\xb8\xf0\x9f\x87\xab\xf0\x9f\x87\xb7",
         "\xf0\x9f\x87\xba\xf0\x9f\x87\xb8 \xf0\x9f\x87\xab\xf0\x9f\x87\xb7"}, /* two flags */
        /* letters of other scripts stay in words */
        {"na\xc3\xafve fianc\xc3\xa9", "na\xc3\xafve fianc\xc3\xa9"},
        {"cafe\xcc\x81", "cafe\xcc\x81"}, /* combining acute stays with its letter */
        {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x82",
         "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xe3\x80\x82"},
        {"\xf0\x90\x8d\x88x", "\xf0\x90\x8d\x88x"}, /* a 4-byte letter (Gothic) */
        /* white space, controls and invisible characters */
        {"a\xc2\x85"
         "b\xc2\x96"
         "c\xc2\xa0"
         "d\te\r\nf\xe3\x80\x80g",
         "a b c d e f g"},
        {"co\xc2\xad"
         "operate",
         "cooperate"},                                          /* soft hyphen */
        {"\xef\xbb\xbfhello \xe2\x80\x8bworld", "hello world"}, /* BOM, zero width space */
        {"\xcc\x81"
         "alone",
         "alone"}, /* a mark with nothing before it */
    };
    CHECK_CASES(cases);
    /* U+0000 inside a counted text is a control character, so a separator */
    ck_assert_str_eq(tokens_of_len("a\0b", 3), "a b");
}
END_TEST

typedef struct {
    const char *text;
    size_t offset;
} bad_utf8;

static const bad_utf8 bad_texts[] = {
    {"ab\xff", 2},                           /* never a UTF-8 byte */
    {"\xc3", 0},                             /* cut after the lead byte */
    {"abc\xc3(", 3},                         /* lead byte without a continuation */
    {"\x80x", 0},                            /* continuation without a lead */
    {"\xc0\xaf", 0},                         /* overlong '/' */
    {"\xe0\x80\xaf", 0},                     /* overlong, 3 bytes */
    {"\xf0\x80\x80\xaf", 0},                 /* overlong, 4 bytes */
    {"ok \xed\xa0\x80", 3},                  /* UTF-16 surrogate */
    {"\xf4\x90\x80\x80", 0},                 /* above U+10FFFF */
    {"ok \xe2\x82", 3},                      /* cut 3-byte sequence */
    {"ok \xe2\x82x", 3},                     /* broken 3-byte sequence */
    {"good \xf0\x9f\x98", 5},                /* cut emoji */
    {"caf\xc3\xa9 \xf8\x88\x80\x80\x80", 6}, /* 5-byte form */
};

static glia_status count_calls(void *ctx, const char *token, size_t len, glia_err *err)
{
    (void)token, (void)len, (void)err;
    ++*(int *)ctx;
    return GLIA_OK;
}

START_TEST(tok_rejects_invalid_utf8)
{
    const bad_utf8 *b = &bad_texts[_i];
    size_t len = strlen(b->text), off = 99;
    glia_err err = {0};
    ck_assert(!glia_utf8_valid(b->text, len, &off));
    ck_assert_uint_eq(off, b->offset);
    glia_tok_list list = {.n = 7};
    ck_assert_int_eq(glia_tok_split(b->text, len, &list, &err), GLIA_EFORMAT);
    char want[64];
    snprintf(want, sizeof want, "invalid UTF-8 at byte %zu", b->offset);
    ck_assert_str_eq(err.msg, want);
    ck_assert_uint_eq(list.n, 0);
    ck_assert_ptr_null(list.tokens);
    ck_assert_ptr_null(list.buf);
    int calls = 0; /* the check comes first: no token before the error */
    ck_assert_int_eq(glia_tok_each(b->text, len, count_calls, &calls, &err), GLIA_EFORMAT);
    ck_assert_int_eq(calls, 0);
}
END_TEST

START_TEST(tok_accepts_utf8_edges)
{
    static const char *const good[] = {
        "\x7f",             /* DEL */
        "\xc2\x80",         /* first 2-byte */
        "\xdf\xbf",         /* last 2-byte */
        "\xe0\xa0\x80",     /* first 3-byte */
        "\xed\x9f\xbf",     /* just below the surrogates */
        "\xee\x80\x80",     /* just above them */
        "\xef\xbf\xbf",     /* U+FFFF */
        "\xf0\x90\x80\x80", /* first 4-byte */
        "\xf4\x8f\xbf\xbf", /* U+10FFFF */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t off = 0;
        ck_assert_msg(glia_utf8_valid(good[i], strlen(good[i]), &off), "case %zu at %zu", i, off);
        tokens_of(good[i]);
    }
}
END_TEST

static glia_status stop_at_third(void *ctx, const char *token, size_t len, glia_err *err)
{
    (void)token, (void)len;
    if (++*(int *)ctx == 3)
        return glia_err_set(err, GLIA_ECANCELLED, "enough");
    return GLIA_OK;
}

START_TEST(tok_callback_can_stop)
{
    int calls = 0;
    glia_err err = {0};
    ck_assert_int_eq(glia_tok_each("one two three four five", 23, stop_at_third, &calls, &err),
                     GLIA_ECANCELLED);
    ck_assert_int_eq(calls, 3);
    ck_assert_str_eq(err.msg, "enough");
}
END_TEST

START_TEST(tok_check_token)
{
    glia_err err = {0};
    ck_assert_int_eq(glia_tok_check_token("good", 4, &err), GLIA_OK);
    ck_assert_int_eq(glia_tok_check_token("'s", 2, &err), GLIA_OK);
    ck_assert_int_eq(glia_tok_check_token("caf\xc3\xa9", 5, &err), GLIA_OK);
    ck_assert_int_eq(glia_tok_check_token("", 0, &err), GLIA_EFORMAT);
    ck_assert_int_eq(glia_tok_check_token("Good", 4, &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, "upper-case") && strstr(err.msg, "byte 0"), "%s", err.msg);
    ck_assert_int_eq(glia_tok_check_token("a b", 3, &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, "white space") && strstr(err.msg, "byte 1"), "%s", err.msg);
    ck_assert_int_eq(glia_tok_check_token("go\xff", 3, &err), GLIA_EFORMAT);
    ck_assert_str_eq(err.msg, "invalid UTF-8 at byte 2");
    ck_assert_int_eq(glia_tok_check_token("a\xc2\xad"
                                          "b",
                                          4, &err),
                     GLIA_EFORMAT);
    ck_assert_int_eq(glia_tok_check_token("\xe2\x80\x99", 3, &err), GLIA_EFORMAT);
}
END_TEST

/* Every token the tokenizer produces is one a vocabulary file may hold: random texts from a pool
 * of awkward pieces (each class of character, clitics, dots, joiners, emoji, controls) give no
 * empty token and nothing glia_tok_check_token refuses, so a vocabulary built from any text can
 * always be saved and loaded again. */
START_TEST(tok_tokens_are_valid_vocabulary_entries)
{
    static const char *const pieces[] = {
        "a",
        "Z",
        "7",
        " ",
        "\t",
        "\n",
        "'",
        "\xe2\x80\x99",
        "\xe2\x80\x98",
        "\xe2\x80\x9c",
        ".",
        "..",
        "\xe2\x80\xa6",
        ",",
        ":",
        "-",
        "n't",
        "'s",
        "\xc3\x89",
        "\xc4\xb0",
        "\xe1\xba\x9e",
        "\xcc\x81",
        "\xe2\x80\x8d",
        "\xef\xb8\x8f",
        "\xf0\x9f\x98\x80",
        "\xf0\x9f\x8f\xbd",
        "\xf0\x9f\x87\xba",
        "\xe2\x9d\xa4",
        "\xc2\xad",
        "\xc2\x85",
        "\xc2\xa0",
        "\xe2\x80\x8b",
        "\xe2\x80\x8e",
        "\x01",
        "\xe6\x97\xa5",
        "\xe3\x80\x82",
        "\xef\xbc\xa1",
        "\xce\x91",
        "\xd0\x81",
        "<",
        ">",
        "DON'T",
        "cannot",
    };
    enum { N_PIECES = sizeof pieces / sizeof pieces[0], N_TEXTS = 400 };
    static char texts[N_TEXTS][256];
    const char *ptrs[N_TEXTS];
    unsigned seed = 12345;
    glia_err err = {0};
    for (int t = 0; t < N_TEXTS; t++) {
        texts[t][0] = '\0';
        for (int k = 0; k < 24; k++) {
            seed = seed * 1103515245u + 12345u;
            strcat(texts[t], pieces[(seed >> 16) % N_PIECES]);
        }
        ptrs[t] = texts[t];
        glia_tok_list list;
        ck_assert_msg(glia_tok_split(texts[t], strlen(texts[t]), &list, &err) == GLIA_OK, "%s", err.msg);
        for (size_t i = 0; i < list.n; i++) {
            ck_assert_msg(glia_tok_check_token(list.tokens[i], strlen(list.tokens[i]), &err) == GLIA_OK,
                          "text %d token %zu '%s': %s", t, i, list.tokens[i], err.msg);
        }
        glia_tok_list_free(&list);
    }
    glia_vocab *v = NULL, *w = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/random.txt", tmpdir);
    ck_assert_msg(glia_vocab_build(ptrs, N_TEXTS, 1, 0, &v, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_vocab_save(v, path, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_vocab_load(path, &w, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(glia_vocab_size(w), glia_vocab_size(v));
    ck_assert_uint_gt(glia_vocab_size(w), 40);
    glia_vocab_free(v);
    glia_vocab_free(w);
}
END_TEST

/* ---- vocabulary ----------------------------------------------------------------------------- */

static const char *const small_texts[] = {
    "the movie was good",
    "The movie was bad!",
    "good good fun",
    "bad",
    "\xf0\x9f\x98\x80 fun \xf0\x9f\x98\x80",
};
enum { N_SMALL = sizeof small_texts / sizeof small_texts[0] };

static glia_vocab *build_ok(const char *const *texts, size_t n, size_t min_count, size_t max_size)
{
    glia_vocab *v = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_vocab_build(texts, n, min_count, max_size, &v, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(v);
    return v;
}

/* All tokens in id order, one per line (as the file has them; a static buffer). */
static const char *vocab_lines(const glia_vocab *v)
{
    static char buf[4096];
    buf[0] = '\0';
    for (size_t i = 0; i < glia_vocab_size(v); i++) {
        strcat(buf, glia_vocab_token(v, (int32_t)i));
        strcat(buf, "\n");
    }
    return buf;
}

START_TEST(vocab_build_orders_by_count_then_bytes)
{
    glia_vocab *v = build_ok(small_texts, N_SMALL, 2, 0);
    /* good 3; bad, fun, movie, the, was, 😀 2 each (byte order puts the emoji last); "!" once */
    ck_assert_str_eq(vocab_lines(v), "<pad>\n<unk>\ngood\nbad\nfun\nmovie\nthe\nwas\n\xf0\x9f\x98\x80\n");
    ck_assert_uint_eq(glia_vocab_size(v), 9);
    ck_assert_int_eq(glia_vocab_id(v, "<pad>"), GLIA_VOCAB_PAD);
    ck_assert_int_eq(glia_vocab_id(v, "<unk>"), GLIA_VOCAB_UNK);
    ck_assert_int_eq(glia_vocab_id(v, "good"), 2);
    ck_assert_int_eq(glia_vocab_id(v, "was"), 7);
    ck_assert_int_eq(glia_vocab_id(v, "\xf0\x9f\x98\x80"), 8);
    ck_assert_int_eq(glia_vocab_id(v, "!"), GLIA_VOCAB_UNK);
    ck_assert_int_eq(glia_vocab_id(v, "Good"), GLIA_VOCAB_UNK);
    ck_assert_int_eq(glia_vocab_id(v, "goo"), GLIA_VOCAB_UNK);
    ck_assert_int_eq(glia_vocab_id(v, ""), GLIA_VOCAB_UNK);
    ck_assert_str_eq(glia_vocab_token(v, 0), "<pad>");
    ck_assert_ptr_null(glia_vocab_token(v, 9));
    ck_assert_ptr_null(glia_vocab_token(v, -1));
    glia_vocab_free(v);

    v = build_ok(small_texts, N_SMALL, 1, 0);
    ck_assert_uint_eq(glia_vocab_size(v), 10);
    ck_assert_int_eq(glia_vocab_id(v, "!"), 9); /* count 1, after every count-2 token */
    glia_vocab_free(v);

    v = build_ok(small_texts, N_SMALL, 2, 4); /* the cap counts <pad> and <unk> */
    ck_assert_str_eq(vocab_lines(v), "<pad>\n<unk>\ngood\nbad\n");
    glia_vocab_free(v);

    v = build_ok(small_texts, N_SMALL, 4, 0); /* nothing is frequent enough */
    ck_assert_str_eq(vocab_lines(v), "<pad>\n<unk>\n");
    glia_vocab_free(v);

    v = build_ok(NULL, 0, 1, 0);
    ck_assert_uint_eq(glia_vocab_size(v), 2);
    glia_vocab_free(v);
}
END_TEST

START_TEST(vocab_build_is_deterministic)
{
    /* the same texts in another order give the same ids */
    const char *reversed[N_SMALL];
    for (size_t i = 0; i < N_SMALL; i++)
        reversed[i] = small_texts[N_SMALL - 1 - i];
    glia_vocab *a = build_ok(small_texts, N_SMALL, 1, 0), *b = build_ok(reversed, N_SMALL, 1, 0);
    char first[4096];
    snprintf(first, sizeof first, "%s", vocab_lines(a));
    ck_assert_str_eq(vocab_lines(b), first);
    glia_vocab_free(a);
    glia_vocab_free(b);

    /* many distinct tokens: the tables grow, every token is found again */
    enum { N = 5000 };
    char **texts = malloc(N * sizeof *texts);
    ck_assert_ptr_nonnull(texts);
    for (int i = 0; i < N; i++) {
        texts[i] = malloc(32);
        ck_assert_ptr_nonnull(texts[i]);
        snprintf(texts[i], 32, "w%d w%d", i, i % 7);
    }
    glia_vocab *v = build_ok((const char *const *)texts, N, 1, 0);
    ck_assert_uint_eq(glia_vocab_size(v), 2 + N);
    ck_assert_str_eq(glia_vocab_token(v, 2), "w0"); /* w0..w6 occur about N/7 times more */
    for (int i = 0; i < N; i++) {
        char tok[32];
        snprintf(tok, sizeof tok, "w%d", i);
        int32_t id = glia_vocab_id(v, tok);
        ck_assert_int_ge(id, 2);
        ck_assert_str_eq(glia_vocab_token(v, id), tok);
        free(texts[i]);
    }
    free(texts);
    glia_vocab_free(v);
}
END_TEST

START_TEST(vocab_build_refuses_bad_input)
{
    glia_vocab *v = (glia_vocab *)&v;
    glia_err err = {0};
    ck_assert_int_eq(glia_vocab_build(small_texts, N_SMALL, 0, 0, &v, &err), GLIA_EINVAL);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(glia_vocab_build(small_texts, N_SMALL, 1, 1, &v, &err), GLIA_EINVAL);
    const char *texts[] = {"fine", "bro\xc3ken"};
    ck_assert_int_eq(glia_vocab_build(texts, 2, 1, 0, &v, &err), GLIA_EFORMAT);
    ck_assert_str_eq(err.msg, "text 1: invalid UTF-8 at byte 3");
    ck_assert_ptr_null(v);
}
END_TEST

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(vocab_save_load_round_trip)
{
    char path[512];
    glia_err err = {0};
    snprintf(path, sizeof path, "%s/vocab.txt", tmpdir);
    glia_vocab *v = build_ok(small_texts, N_SMALL, 1, 0), *w = NULL;
    ck_assert_msg(glia_vocab_save(v, path, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_str_eq(slurp(path), vocab_lines(v));
    ck_assert_msg(glia_vocab_load(path, &w, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(glia_vocab_size(w), glia_vocab_size(v));
    for (size_t i = 0; i < glia_vocab_size(v); i++) {
        const char *tok = glia_vocab_token(v, (int32_t)i);
        ck_assert_str_eq(glia_vocab_token(w, (int32_t)i), tok);
        ck_assert_int_eq(glia_vocab_id(w, tok), (int32_t)i);
    }
    /* saving over an existing file replaces it, and leaves no temporary file behind */
    ck_assert_msg(glia_vocab_save(w, path, &err) == GLIA_OK, "%s", err.msg);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 1", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    glia_vocab_free(v);
    glia_vocab_free(w);

    /* a hand-written file, last line without its newline */
    const char *p = glia_test_write(tmpdir, "hand.txt", "<pad>\n<unk>\ngreat\n's\nnot\ncaf\xc3\xa9");
    ck_assert_msg(glia_vocab_load(p, &w, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(glia_vocab_size(w), 6);
    ck_assert_int_eq(glia_vocab_id(w, "caf\xc3\xa9"), 5);
    ck_assert_int_eq(glia_vocab_id(w, "'s"), 3);
    glia_vocab_free(w);

    /* a directory that does not exist: the error names the temporary path */
    snprintf(path, sizeof path, "%s/missing/vocab.txt", tmpdir);
    v = build_ok(small_texts, 1, 1, 0);
    ck_assert_int_eq(glia_vocab_save(v, path, &err), GLIA_EIO);
    ck_assert_msg(strstr(err.msg, "missing/vocab.txt.tmp.") != NULL, "%s", err.msg);
    glia_vocab_free(v);
}
END_TEST

typedef struct {
    const char *text;
    const char *message; /* after "<path>:" */
} bad_vocab;

static const bad_vocab bad_vocabs[] = {
    {"", "1: the file ends early: line 1 must be <pad> and line 2 <unk>"},
    {"<pad>\n", "2: the file ends early: line 1 must be <pad> and line 2 <unk>"},
    {"<unk>\n<pad>\n", "1: must be <pad> (id 0), not '<unk>'"},
    {"<pad>\n<pad>\n", "2: must be <unk> (id 1), not '<pad>'"},
    {"<pad>\n<unk>\ngood\n\nbad\n",
     "4: empty line (ids are line numbers: a blank line would shift every id after "
     "it)"},
    {"<pad>\n<unk>\ngood\n\n",
     "4: empty line (ids are line numbers: a blank line would shift every id after it)"},
    {"\n<unk>\n", "1: empty line (ids are line numbers: a blank line would shift every id after it)"},
    {"<pad>\n<unk>\ngood\nbad\ngood\n", "5: 'good' repeats line 3"},
    {"<pad>\n<unk>\n<pad>\n", "3: '<pad>' repeats line 1"},
    {"<pad>\n<unk>\nnice\n<unk>\n", "4: '<unk>' repeats line 2"},
    {"<pad>\n<unk>\ngo\xffod\n", "3: invalid UTF-8 at byte 2"},
    {"<pad>\n<unk>\nfine\n\xc3\n", "4: invalid UTF-8 at byte 0"},
    {"<pad>\r\n<unk>\r\n", "1: line ends in a carriage return; the file must use \\n line ends"},
    {"<pad>\n<unk>\nGood\n", "3: upper-case letter U+0047 at byte 0 (the tokenizer lower-cases)"},
    {"<pad>\n<unk>\ngood movie\n", "3: white space or control character U+0020 at byte 4"},
    {"<pad>\n<unk>\n good\n", "3: white space or control character U+0020 at byte 0"},
    {"<pad>\n<unk>\na\tb\n", "3: white space or control character U+0009 at byte 1"},
};

START_TEST(vocab_load_refuses_malformed_files)
{
    const bad_vocab *b = &bad_vocabs[_i];
    const char *p = glia_test_write(tmpdir, "bad.txt", b->text);
    char want[1024];
    snprintf(want, sizeof want, "%s:%s", p, b->message);
    glia_vocab *v = (glia_vocab *)&v;
    glia_err err = {0};
    ck_assert_int_eq(glia_vocab_load(p, &v, &err), GLIA_EFORMAT);
    ck_assert_str_eq(err.msg, want);
    ck_assert_ptr_null(v);
}
END_TEST

START_TEST(vocab_load_refuses_missing_file)
{
    char path[512];
    glia_vocab *v = NULL;
    glia_err err = {0};
    snprintf(path, sizeof path, "%s/nope.txt", tmpdir);
    ck_assert_int_eq(glia_vocab_load(path, &v, &err), GLIA_ENOTFOUND);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);
    ck_assert_int_eq(glia_vocab_load(tmpdir, &v, &err), GLIA_EIO); /* a directory */
    ck_assert_ptr_null(v);
}
END_TEST

START_TEST(vocab_encode_truncates_and_pads)
{
    glia_vocab *v = build_ok(small_texts, N_SMALL, 2, 0);
    int32_t ids[8];
    size_t n = 99, total = 99;
    glia_err err = {0};
    const char *text = "The movie was GREAT, not bad";
    /* the, movie, was, <unk> great, <unk> ",", <unk> not, bad */
    ck_assert_int_eq(glia_vocab_encode(v, text, strlen(text), 8, ids, &n, &total, &err), GLIA_OK);
    const int32_t want[8] = {6, 5, 7, 1, 1, 1, 3, 0};
    ck_assert_uint_eq(n, 7);
    ck_assert_uint_eq(total, 7);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(ids[i], want[i]);

    /* truncation keeps the first max_len tokens */
    ck_assert_int_eq(glia_vocab_encode(v, text, strlen(text), 3, ids, &n, &total, &err), GLIA_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(total, 7);
    ck_assert_int_eq(ids[0], 6);
    ck_assert_int_eq(ids[2], 7);
    ck_assert_int_eq(glia_vocab_encode(v, text, strlen(text), 0, NULL, &n, NULL, &err), GLIA_OK);
    ck_assert_uint_eq(n, 0);

    /* an empty text is all padding */
    ck_assert_int_eq(glia_vocab_encode(v, "", 0, 4, ids, &n, &total, &err), GLIA_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(total, 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(ids[i], GLIA_VOCAB_PAD);

    /* invalid UTF-8: an error with the offset, nothing but padding */
    for (int i = 0; i < 8; i++)
        ids[i] = 42;
    ck_assert_int_eq(glia_vocab_encode(v, "good \xe2\x28\xa1", 8, 8, ids, &n, &total, &err), GLIA_EFORMAT);
    ck_assert_str_eq(err.msg, "invalid UTF-8 at byte 5");
    ck_assert_uint_eq(n, 0);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(ids[i], GLIA_VOCAB_PAD);
    glia_vocab_free(v);
}
END_TEST

/* ---- the hash of the split ------------------------------------------------------------------ */

START_TEST(fnv1a_test_vectors)
{
    /* from the FNV reference (draft-eastlake-fnv, test vectors of the 32-bit FNV-1a) */
    ck_assert_uint_eq(glia_uci_fnv1a32("", 0), 0x811c9dc5u);
    ck_assert_uint_eq(glia_uci_fnv1a32("a", 1), 0xe40c292cu);
    ck_assert_uint_eq(glia_uci_fnv1a32("b", 1), 0xe70c2de5u);
    ck_assert_uint_eq(glia_uci_fnv1a32("foobar", 6), 0xbf9cf968u);
    ck_assert_uint_eq(glia_uci_fnv1a32("\xff", 1), 0x7a0b824eu); /* bytes are unsigned */
    ck_assert_int_eq(glia_uci_split_of(0), GLIA_UCI_TEST);
    ck_assert_int_eq(glia_uci_split_of(0x811c9dc5u), GLIA_UCI_DEV); /* 2166136261 */
    ck_assert_int_eq(glia_uci_split_of(4294967290u), GLIA_UCI_TEST);
    ck_assert_int_eq(glia_uci_split_of(4294967295u), GLIA_UCI_TRAIN);
    for (uint32_t h = 0; h < 100; h++)
        ck_assert_int_eq(glia_uci_split_of(h), h % 10 == 0   ? GLIA_UCI_TEST
                                               : h % 10 == 1 ? GLIA_UCI_DEV
                                                             : GLIA_UCI_TRAIN);
    ck_assert_str_eq(glia_uci_source_name(GLIA_UCI_IMDB), "imdb");
    ck_assert_str_eq(glia_uci_split_name(GLIA_UCI_DEV), "dev");
}
END_TEST

/* ---- the UCI reader on small files ---------------------------------------------------------- */

static void write_uci(const char *amazon, const char *imdb, const char *yelp)
{
    if (amazon)
        glia_test_write(tmpdir, "amazon.json", amazon);
    if (imdb)
        glia_test_write(tmpdir, "imdb.json", imdb);
    if (yelp)
        glia_test_write(tmpdir, "yelp.json", yelp);
}

START_TEST(uci_strips_dedups_and_splits)
{
    write_uci("[{\"text\": \"  Great phone.  \", \"class\": 1}, {\"text\": \"Bad\\tcase\\n\", \"class\": 0},"
              " {\"text\": \"Great phone.\", \"class\": 1}, {\"text\": \"\", \"class\": null}]",
              "[{\"class\": 0, \"text\": \"Bad\\tcase\"}, {\"text\": \"great phone.\", \"class\": 1},"
              " {\"text\": \"\\u00a0nbsp stays\\u00a0\", \"class\": 1}]",
              "[{\"text\": \"Great phone.\", \"class\": 0}, {\"text\": \"Caf\\u00e9 \\ud83d\\ude00\", "
              "\"class\": 1},"
              " {\"text\": \"\", \"class\": null}]");
    glia_uci_set set;
    glia_err err = {0};
    ck_assert_msg(glia_uci_load(tmpdir, &set, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(set.n, 5);
    const struct {
        const char *text;
        int label;
        glia_uci_source source;
        size_t index;
    } want[] = {
        {"Great phone.", 1, GLIA_UCI_AMAZON, 0},
        {"Bad\tcase", 0, GLIA_UCI_AMAZON, 1},
        {"great phone.", 1, GLIA_UCI_IMDB, 1},               /* case differs: not a duplicate */
        {"\xc2\xa0nbsp stays\xc2\xa0", 1, GLIA_UCI_IMDB, 2}, /* only ASCII space is stripped */
        {"Caf\xc3\xa9 \xf0\x9f\x98\x80", 1, GLIA_UCI_YELP, 1},
    };
    for (size_t i = 0; i < set.n; i++) {
        const glia_uci_example *e = &set.examples[i];
        ck_assert_str_eq(e->text, want[i].text);
        ck_assert_uint_eq(e->len, strlen(want[i].text));
        ck_assert_int_eq(e->label, want[i].label);
        ck_assert_int_eq(e->source, want[i].source);
        ck_assert_uint_eq(e->index, want[i].index);
        ck_assert_uint_eq(e->hash, glia_uci_fnv1a32(e->text, e->len));
        ck_assert_int_eq(e->split, glia_uci_split_of(e->hash));
    }
    ck_assert_uint_eq(set.n_read[GLIA_UCI_AMAZON], 4);
    ck_assert_uint_eq(set.n_read[GLIA_UCI_IMDB], 3);
    ck_assert_uint_eq(set.n_read[GLIA_UCI_YELP], 3);
    ck_assert_uint_eq(set.n_blank[GLIA_UCI_AMAZON], 1);
    ck_assert_uint_eq(set.n_blank[GLIA_UCI_IMDB], 0);
    ck_assert_uint_eq(set.n_blank[GLIA_UCI_YELP], 1);
    ck_assert_uint_eq(set.n_duplicates[GLIA_UCI_AMAZON], 1); /* "Great phone." again */
    ck_assert_uint_eq(set.n_duplicates[GLIA_UCI_IMDB], 1);   /* "Bad\tcase" after stripping */
    ck_assert_uint_eq(set.n_duplicates[GLIA_UCI_YELP], 1);   /* "Great phone." with label 0 */
    ck_assert_uint_eq(set.n_conflicts, 1);

    const char **texts;
    size_t n, total = 0;
    for (int s = 0; s < GLIA_UCI_NSPLITS; s++) {
        ck_assert_int_eq(glia_uci_texts(&set, (glia_uci_split)s, &texts, &n, &err), GLIA_OK);
        for (size_t i = 0; i < n; i++)
            ck_assert_int_eq(glia_uci_split_of(glia_uci_fnv1a32(texts[i], strlen(texts[i]))), s);
        total += n;
        free(texts);
    }
    ck_assert_uint_eq(total, set.n);
    glia_uci_free(&set);
    ck_assert_uint_eq(set.n, 0);
    ck_assert_ptr_null(set.examples);
    glia_uci_free(&set);
}
END_TEST

typedef struct {
    const char *yelp;    /* written as yelp.json; amazon and imdb are fine */
    const char *message; /* after "<dir>/yelp.json"; Jansson's own words only as far as they are stable */
} bad_uci;

static const bad_uci bad_ucis[] = {
    {"{\"text\": \"a\", \"class\": 1}", ": expected a JSON array of {\"text\", \"class\"} objects"},
    {"[\"just a string\"]", ": element 0: expected an object {\"text\", \"class\"}"},
    {"[{\"text\": \"a\", \"class\": 1}, {\"text\": \"b\", \"class\": 2}]",
     ": element 1: \"class\" must be 0 or 1"},
    {"[{\"text\": \"a\", \"class\": \"1\"}]", ": element 0: \"class\" must be 0 or 1"},
    {"[{\"text\": \"a\", \"class\": 1.0}]", ": element 0: \"class\" must be 0 or 1"},
    {"[{\"text\": \"a\", \"class\": null}]", ": element 0: \"class\" must be 0 or 1"},
    {"[{\"text\": \"a\"}]", ": element 0: \"class\" is missing"},
    {"[{\"class\": 1}]", ": element 0: \"text\" must be a string"},
    {"[{\"text\": 5, \"class\": 1}]", ": element 0: \"text\" must be a string"},
    {"[{\"text\": \"a\", \"class\": 1, \"label\": 1}]", ": element 0: unknown key \"label\""},
    {"[{\"text\": \" \\n \", \"class\": 0}]", ": element 0: the text is empty"},
    {"[{\"text\": \"a\\u0000b\", \"class\": 0}]", ":1:20: \\u0000 is not allowed"},
    {"[{\"text\": \"a\", \"class\": 1,}]", ":1:27: "},
    {"[{\"text\": \"a\", \"text\": \"b\", \"class\": 1}]", ":1:21: duplicate object key"},
    {"[{\"text\": \"caf\xe9\", \"class\": 1}]", ":1:14: unable to decode byte 0xe9"},
};

START_TEST(uci_refuses_malformed_files)
{
    const bad_uci *b = &bad_ucis[_i];
    write_uci("[{\"text\": \"fine\", \"class\": 1}]", "[]", b->yelp);
    glia_uci_set set = {.n = 3};
    glia_err err = {0};
    char want[1024];
    snprintf(want, sizeof want, "%s/yelp.json%s", tmpdir, b->message);
    glia_status rc = glia_uci_load(tmpdir, &set, &err);
    ck_assert_int_eq(rc, GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, want) != NULL, "got '%s', expected '%s'", err.msg, want);
    ck_assert_uint_eq(set.n, 0);
    ck_assert_ptr_null(set.examples);
}
END_TEST

START_TEST(uci_names_a_missing_file)
{
    write_uci("[]", NULL, "[]");
    glia_uci_set set;
    glia_err err = {0};
    ck_assert_int_eq(glia_uci_load(tmpdir, &set, &err), GLIA_ENOTFOUND);
    char want[512];
    snprintf(want, sizeof want, "%s/imdb.json: cannot open: No such file or directory", tmpdir);
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "scripts/setup") != NULL, "%s", err.msg);
    ck_assert_ptr_null(set.examples);
}
END_TEST

/* ---- the real data set ---------------------------------------------------------------------- */

static const char *uci_dir(void)
{
    const char *dir = getenv("GLIA_UCI_SENTIMENT");
    return dir && *dir ? dir : glia_test_path(".cache/data/uci-sentiment");
}

static bool have_uci(const char *test)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/yelp.json", uci_dir());
    if (access(path, R_OK) == 0)
        return true;
    printf("# SKIP %s: no UCI sentiment sentences in %s (run scripts/setup or set GLIA_UCI_SENTIMENT)\n",
           test, uci_dir());
    fflush(stdout);
    return false;
}

static void load_real(glia_uci_set *set)
{
    glia_err err = {0};
    ck_assert_msg(glia_uci_load(uci_dir(), set, &err) == GLIA_OK, "%s", err.msg);
}

/* FNV-1a over the texts of a split, each followed by '\n', in set order: the digest
 * bench/lexicon_baselines.js computes the same way. */
static uint32_t split_digest(const glia_uci_set *set, glia_uci_split split)
{
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < set->n; i++) {
        const glia_uci_example *e = &set->examples[i];
        if (e->split != split)
            continue;
        for (size_t k = 0; k <= e->len; k++) {
            h ^= k < e->len ? (unsigned char)e->text[k] : (unsigned char)'\n';
            h *= 0x01000193u;
        }
    }
    return h;
}

START_TEST(uci_real_counts_and_split)
{
    if (!have_uci("uci_real_counts_and_split"))
        return;
    glia_uci_set set;
    load_real(&set);
    size_t by_source[GLIA_UCI_NSOURCES][GLIA_UCI_NSPLITS] = {{0}};
    size_t by_split[GLIA_UCI_NSPLITS] = {0}, positive[GLIA_UCI_NSPLITS] = {0};
    for (size_t i = 0; i < set.n; i++) {
        const glia_uci_example *e = &set.examples[i];
        by_source[e->source][e->split]++;
        by_split[e->split]++;
        positive[e->split] += e->label == 1;
        ck_assert_uint_gt(e->len, 0);
        ck_assert(e->text[0] != ' ' && e->text[e->len - 1] != ' ');
    }
    printf(
        "# uci sentiment: %zu kept of %zu read (blank trailers %zu/%zu/%zu, duplicates amazon %zu imdb %zu "
        "yelp %zu, label conflicts %zu)\n",
        set.n, set.n_read[0] + set.n_read[1] + set.n_read[2], set.n_blank[0], set.n_blank[1], set.n_blank[2],
        set.n_duplicates[0], set.n_duplicates[1], set.n_duplicates[2], set.n_conflicts);
    for (int s = 0; s < GLIA_UCI_NSOURCES; s++)
        printf("# uci sentiment %-6s train %zu dev %zu test %zu\n", glia_uci_source_name((glia_uci_source)s),
               by_source[s][GLIA_UCI_TRAIN], by_source[s][GLIA_UCI_DEV], by_source[s][GLIA_UCI_TEST]);
    for (int k = 0; k < GLIA_UCI_NSPLITS; k++)
        printf("# uci sentiment split %-5s %zu (%.1f%%), positive %zu (%.1f%%), digest 0x%08x\n",
               glia_uci_split_name((glia_uci_split)k), by_split[k],
               100.0 * (double)by_split[k] / (double)set.n, positive[k],
               100.0 * (double)positive[k] / (double)by_split[k],
               (unsigned)split_digest(&set, (glia_uci_split)k));
    fflush(stdout);

    /* the pinned files (sentiment@5.0.2, checksums in scripts/setup): exact numbers */
    for (int s = 0; s < GLIA_UCI_NSOURCES; s++) {
        ck_assert_uint_eq(set.n_read[s], 1001);
        ck_assert_uint_eq(set.n_blank[s], 1);
    }
    ck_assert_uint_eq(set.n_duplicates[GLIA_UCI_AMAZON], 10);
    ck_assert_uint_eq(set.n_duplicates[GLIA_UCI_IMDB], 4);
    ck_assert_uint_eq(set.n_duplicates[GLIA_UCI_YELP], 4);
    ck_assert_uint_eq(set.n_conflicts, 0);
    ck_assert_uint_eq(set.n, 2982);
    const size_t want[GLIA_UCI_NSOURCES][GLIA_UCI_NSPLITS] = {
        {776, 109, 105}, {806, 97, 93}, {784, 103, 109}};
    for (int s = 0; s < GLIA_UCI_NSOURCES; s++)
        for (int k = 0; k < GLIA_UCI_NSPLITS; k++)
            ck_assert_uint_eq(by_source[s][k], want[s][k]);
    ck_assert_uint_eq(positive[GLIA_UCI_TRAIN], 1164);
    ck_assert_uint_eq(positive[GLIA_UCI_DEV], 153);
    ck_assert_uint_eq(positive[GLIA_UCI_TEST], 173);
    ck_assert_uint_eq(split_digest(&set, GLIA_UCI_TRAIN), 0x381af250u);
    ck_assert_uint_eq(split_digest(&set, GLIA_UCI_DEV), 0xc51146edu);
    ck_assert_uint_eq(split_digest(&set, GLIA_UCI_TEST), 0x0ebfb928u);

    /* and the properties any version of the data should keep */
    const double expect[GLIA_UCI_NSPLITS] = {0.8, 0.1, 0.1};
    for (int k = 0; k < GLIA_UCI_NSPLITS; k++) {
        double share = (double)by_split[k] / (double)set.n, pos = (double)positive[k] / (double)by_split[k];
        ck_assert_msg(share > expect[k] - 0.025 && share < expect[k] + 0.025, "%s holds %.3f of the set",
                      glia_uci_split_name((glia_uci_split)k), share);
        ck_assert_msg(pos > 0.40 && pos < 0.60, "%s is %.3f positive", glia_uci_split_name((glia_uci_split)k),
                      pos);
    }
    glia_uci_free(&set);
}
END_TEST

START_TEST(uci_real_is_deterministic)
{
    if (!have_uci("uci_real_is_deterministic"))
        return;
    glia_uci_set a, b;
    load_real(&a);
    load_real(&b);
    ck_assert_uint_eq(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        ck_assert_str_eq(a.examples[i].text, b.examples[i].text);
        ck_assert_int_eq(a.examples[i].label, b.examples[i].label);
        ck_assert_int_eq(a.examples[i].source, b.examples[i].source);
        ck_assert_int_eq(a.examples[i].split, b.examples[i].split);
        ck_assert_uint_eq(a.examples[i].index, b.examples[i].index);
    }
    glia_uci_free(&a);
    glia_uci_free(&b);
}
END_TEST

START_TEST(uci_real_vocabulary)
{
    if (!have_uci("uci_real_vocabulary"))
        return;
    glia_uci_set set;
    glia_err err = {0};
    load_real(&set);
    const char **texts;
    size_t n;
    ck_assert_int_eq(glia_uci_texts(&set, GLIA_UCI_TRAIN, &texts, &n, &err), GLIA_OK);
    glia_vocab *v = build_ok(texts, n, 2, 0);
    free(texts);

    /* negation is frequent enough to be in it, its contracted forms are not tokens at all */
    ck_assert_int_gt(glia_vocab_id(v, "not"), GLIA_VOCAB_UNK);
    ck_assert_int_eq(glia_vocab_id(v, "n't"), GLIA_VOCAB_UNK);
    ck_assert_int_eq(glia_vocab_id(v, "don't"), GLIA_VOCAB_UNK);

    /* the test split through it: how much is unknown, and round trip through the file */
    size_t tokens = 0, unknown = 0, longest = 0;
    int32_t ids[256];
    for (size_t i = 0; i < set.n; i++) {
        const glia_uci_example *e = &set.examples[i];
        size_t n_ids, n_tokens;
        ck_assert_msg(glia_vocab_encode(v, e->text, e->len, 256, ids, &n_ids, &n_tokens, &err) == GLIA_OK,
                      "%s", err.msg);
        ck_assert_uint_eq(n_ids, n_tokens);
        if (n_tokens > longest)
            longest = n_tokens;
        if (e->split != GLIA_UCI_TEST)
            continue;
        tokens += n_ids;
        for (size_t k = 0; k < n_ids; k++)
            unknown += ids[k] == GLIA_VOCAB_UNK;
    }
    printf("# uci sentiment vocabulary (train, min_count 2): %zu ids; test split %zu tokens, %.1f%% <unk>; "
           "longest sentence %zu tokens\n",
           glia_vocab_size(v), tokens, 100.0 * (double)unknown / (double)tokens, longest);
    fflush(stdout);
    ck_assert_uint_gt(glia_vocab_size(v), 1000);
    ck_assert_uint_lt(unknown * 5, tokens); /* under 20% unknown */

    char path[512];
    glia_vocab *w = NULL;
    snprintf(path, sizeof path, "%s/vocab.txt", tmpdir);
    ck_assert_msg(glia_vocab_save(v, path, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_vocab_load(path, &w, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(glia_vocab_size(w), glia_vocab_size(v));
    for (size_t i = 0; i < glia_vocab_size(v); i++)
        ck_assert_str_eq(glia_vocab_token(w, (int32_t)i), glia_vocab_token(v, (int32_t)i));
    glia_vocab_free(w);
    glia_vocab_free(v);
    glia_uci_free(&set);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("text");
    TCase *tt = tcase_create("tokenize");
    tcase_add_checked_fixture(tt, setup, teardown);
    tcase_add_test(tt, tok_negations_survive);
    tcase_add_test(tt, tok_clitics_and_apostrophes);
    tcase_add_test(tt, tok_punctuation_is_split);
    tcase_add_test(tt, tok_lower_cases);
    tcase_add_test(tt, tok_numbers_are_tokens);
    tcase_add_test(tt, tok_multibyte_passes_through);
    tcase_add_loop_test(tt, tok_rejects_invalid_utf8, 0, sizeof bad_texts / sizeof bad_texts[0]);
    tcase_add_test(tt, tok_accepts_utf8_edges);
    tcase_add_test(tt, tok_callback_can_stop);
    tcase_add_test(tt, tok_check_token);
    tcase_add_test(tt, tok_tokens_are_valid_vocabulary_entries);
    suite_add_tcase(s, tt);

    TCase *tv = tcase_create("vocab");
    tcase_add_checked_fixture(tv, setup, teardown);
    tcase_add_test(tv, vocab_build_orders_by_count_then_bytes);
    tcase_add_test(tv, vocab_build_is_deterministic);
    tcase_add_test(tv, vocab_build_refuses_bad_input);
    tcase_add_test(tv, vocab_save_load_round_trip);
    tcase_add_loop_test(tv, vocab_load_refuses_malformed_files, 0, sizeof bad_vocabs / sizeof bad_vocabs[0]);
    tcase_add_test(tv, vocab_load_refuses_missing_file);
    tcase_add_test(tv, vocab_encode_truncates_and_pads);
    suite_add_tcase(s, tv);

    TCase *tu = tcase_create("uci");
    tcase_add_checked_fixture(tu, setup, teardown);
    tcase_add_test(tu, fnv1a_test_vectors);
    tcase_add_test(tu, uci_strips_dedups_and_splits);
    tcase_add_loop_test(tu, uci_refuses_malformed_files, 0, sizeof bad_ucis / sizeof bad_ucis[0]);
    tcase_add_test(tu, uci_names_a_missing_file);
    tcase_add_test(tu, uci_real_counts_and_split);
    tcase_add_test(tu, uci_real_is_deterministic);
    tcase_add_test(tu, uci_real_vocabulary);
    suite_add_tcase(s, tu);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
