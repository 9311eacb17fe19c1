/*
 * test_word2vec.c - skip-gram with negative sampling (core/train/word2vec) and its corpus reader
 * for WordNet's glosses (core/data/wordnet): the pair loss's gradient against central
 * differences, bit-for-bit determinism from the seed, vectors that separate words by the company
 * they keep on a synthetic corpus of co-occurring groups, progress and cancel, the WordNet reader
 * on a hand-written fixture (licence lines, definitions and examples, ';' inside quotes, stray
 * quotes, errors with file and line, the missing directory) and on Debian's wordnet-base when it
 * is installed (skipped with a TAP note otherwise), recipes (every bad key and value refused with
 * its line), a save/load/apply round trip, and apply refusing vectors of another dimension.
 */
#include "core/base/rng.h"
#include "core/train/word2vec.h"
#include "core/data/wordnet.h"
#include "tests/support/check_main.h"
#include "tests/support/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "word2vec");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

/* ---- the pair loss ------------------------------------------------------------------------- */

enum { GC_DIM = 7, GC_OUT = 5 };

typedef struct {
    float center[GC_DIM];
    float outputs[GC_OUT][GC_DIM];
} pair_state;

static double pair_loss(void *p)
{
    pair_state *s = p;
    const float *outs[GC_OUT];
    for (int k = 0; k < GC_OUT; k++)
        outs[k] = s->outputs[k];
    return glia_w2v_sgns(s->center, outs, GC_OUT, GC_DIM, NULL, NULL);
}

START_TEST(sgns_gradient_matches_central_differences)
{
    /* _i: several scales, so both saturated and linear parts of the sigmoid are checked */
    static const float scales[] = {0.3f, 1.0f, 2.5f};
    pair_state s;
    gc_uniform(s.center, GC_DIM, -scales[_i], scales[_i], 11 + (unsigned)_i);
    gc_uniform(&s.outputs[0][0], GC_OUT * GC_DIM, -scales[_i], scales[_i], 23 + (unsigned)_i);
    float grad_center[GC_DIM], grad_out[GC_OUT][GC_DIM];
    const float *outs[GC_OUT];
    float *gouts[GC_OUT];
    for (int k = 0; k < GC_OUT; k++) {
        outs[k] = s.outputs[k];
        gouts[k] = grad_out[k];
    }
    double loss = glia_w2v_sgns(s.center, outs, GC_OUT, GC_DIM, grad_center, gouts);
    ck_assert(isfinite(loss) && loss > 0);
    /* the loss alone is the same number as with gradients */
    ck_assert(glia_w2v_sgns(s.center, outs, GC_OUT, GC_DIM, NULL, NULL) == loss);

    gc_opts o = gc_defaults();
    o.step = 1e-2f;
    gc_result r = {0};
    for (int d = 0; d < GC_DIM; d++)
        gc_check_coordinate(&r, &o, &s.center[d], grad_center[d], pair_loss, &s, 0, "center", (size_t)d);
    for (int k = 0; k < GC_OUT; k++)
        for (int d = 0; d < GC_DIM; d++)
            gc_check_coordinate(&r, &o, &s.outputs[k][d], grad_out[k][d], pair_loss, &s, 1,
                                k == 0 ? "context" : "negative", (size_t)(k * GC_DIM + d));
    gc_expect(&r, "sgns pair loss");
}
END_TEST

START_TEST(sgns_loss_is_stable_when_saturated)
{
    float center[4] = {40, 40, 40, 40}, pos[4] = {40, 40, 40, 40}, neg[4] = {-40, -40, -40, -40};
    float gc[4], gp[4], gn[4];
    const float *outs[2] = {pos, neg};
    float *gouts[2] = {gp, gn};
    /* both terms right: loss ~0, no NaN from exp overflow */
    double loss = glia_w2v_sgns(center, outs, 2, 4, gc, gouts);
    ck_assert(isfinite(loss) && loss >= 0 && loss < 1e-6);
    /* both terms wrong: loss ~2 * 6400, finite, gradient saturated at the vectors */
    const float *wrong[2] = {neg, pos};
    loss = glia_w2v_sgns(center, wrong, 2, 4, gc, gouts);
    ck_assert_msg(isfinite(loss) && fabs(loss - 12800) < 1, "loss %g", loss);
    for (int d = 0; d < 4; d++)
        ck_assert(isfinite(gc[d]) && isfinite(gp[d]) && isfinite(gn[d]));
    ck_assert_float_eq_tol(gp[0], -40.0f, 1e-4f); /* coef -1 times the centre */
}
END_TEST

/* ---- training ------------------------------------------------------------------------------ */

enum { GROUPS = 4, GROUP_WORDS = 6, SYNTH_TEXTS = 1200, SYNTH_LEN = 8 };

/* Texts of SYNTH_LEN words, each text drawn from one group ("a0".."a5", "b0".."b5", ...): words
 * of a group share every context, words of different groups never meet. */
static char **synthetic_corpus(unsigned seed)
{
    glia_rng rng;
    glia_rng_seed(&rng, seed);
    char **texts = malloc(SYNTH_TEXTS * sizeof *texts);
    ck_assert_ptr_nonnull(texts);
    for (int i = 0; i < SYNTH_TEXTS; i++) {
        texts[i] = malloc(SYNTH_LEN * 4 + 1);
        ck_assert_ptr_nonnull(texts[i]);
        char group = (char)('a' + glia_rng_below(&rng, GROUPS)), *p = texts[i];
        for (int j = 0; j < SYNTH_LEN; j++)
            p += sprintf(p, "%s%c%d", j ? " " : "", group, (int)glia_rng_below(&rng, GROUP_WORDS));
    }
    return texts;
}

static void free_corpus(char **texts)
{
    for (int i = 0; i < SYNTH_TEXTS; i++)
        free(texts[i]);
    free(texts);
}

static glia_w2v_config small_config(void)
{
    glia_w2v_config c;
    glia_w2v_defaults(&c);
    c.dim = 16;
    c.window = 3;
    c.min_count = 1;
    c.epochs = 4;
    c.sample = 0; /* 24 words: every one is "frequent" */
    c.seed = 7;
    return c;
}

typedef struct {
    int calls;
    double first_loss, last_loss;
    glia_w2v_progress last;
    atomic_int *cancel_after_first;
} progress_log;

static void log_progress(const glia_w2v_progress *p, void *user)
{
    progress_log *log = user;
    if (log->calls++ == 0)
        log->first_loss = p->loss;
    log->last_loss = p->loss;
    log->last = *p;
    if (log->cancel_after_first)
        atomic_store(log->cancel_after_first, 1);
}

static glia_w2v *train_synthetic(const glia_w2v_config *c, progress_log *log)
{
    char **texts = synthetic_corpus(3);
    glia_w2v *m = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_w2v_train((const char *const *)texts, SYNTH_TEXTS, c, log ? log_progress : NULL, log,
                                 NULL, &m, &err) == GLIA_OK,
                  "%s", err.msg);
    free_corpus(texts);
    return m;
}

START_TEST(train_is_deterministic)
{
    glia_w2v_config c = small_config();
    glia_w2v *a = train_synthetic(&c, NULL), *b = train_synthetic(&c, NULL);
    size_t V = glia_vocab_size(glia_w2v_vocab(a));
    ck_assert_uint_eq(V, 2 + GROUPS * GROUP_WORDS);
    ck_assert_uint_eq(glia_vocab_size(glia_w2v_vocab(b)), V);
    ck_assert_int_eq(glia_w2v_dim(a), c.dim);
    ck_assert_msg(memcmp(glia_w2v_vectors(a), glia_w2v_vectors(b), V * (size_t)c.dim * sizeof(float)) == 0,
                  "two runs with seed %lu differ", c.seed);
    /* subsampling draws from the same stream, so it is covered too */
    glia_w2v_config cs = c;
    cs.sample = 0.05f;
    glia_w2v *s1 = train_synthetic(&cs, NULL), *s2 = train_synthetic(&cs, NULL);
    ck_assert(memcmp(glia_w2v_vectors(s1), glia_w2v_vectors(s2), V * (size_t)c.dim * sizeof(float)) == 0);
    /* and the seed matters */
    c.seed = 8;
    glia_w2v *d = train_synthetic(&c, NULL);
    ck_assert(memcmp(glia_w2v_vectors(a), glia_w2v_vectors(d), V * (size_t)c.dim * sizeof(float)) != 0);
    glia_w2v_free(a);
    glia_w2v_free(b);
    glia_w2v_free(s1);
    glia_w2v_free(s2);
    glia_w2v_free(d);
}
END_TEST

static double cosine(const float *a, const float *b, int dim)
{
    double ab = 0, aa = 0, bb = 0;
    for (int d = 0; d < dim; d++) {
        ab += (double)a[d] * b[d];
        aa += (double)a[d] * a[d];
        bb += (double)b[d] * b[d];
    }
    return ab / sqrt(aa * bb);
}

START_TEST(groups_that_cooccur_end_up_close)
{
    glia_w2v_config c = small_config();
    progress_log log = {0};
    glia_w2v *m = train_synthetic(&c, &log);
    const glia_vocab *v = glia_w2v_vocab(m);
    const float *w = glia_w2v_vectors(m);
    double within = 0, across = 0;
    int n_within = 0, n_across = 0;
    for (int g1 = 0; g1 < GROUPS; g1++)
        for (int i1 = 0; i1 < GROUP_WORDS; i1++)
            for (int g2 = 0; g2 < GROUPS; g2++)
                for (int i2 = 0; i2 < GROUP_WORDS; i2++) {
                    if (g1 == g2 && i1 == i2)
                        continue;
                    char t1[8], t2[8];
                    snprintf(t1, sizeof t1, "%c%d", 'a' + g1, i1);
                    snprintf(t2, sizeof t2, "%c%d", 'a' + g2, i2);
                    int32_t id1 = glia_vocab_id(v, t1), id2 = glia_vocab_id(v, t2);
                    ck_assert_int_ge(id1, 2);
                    ck_assert_int_ge(id2, 2);
                    double cs = cosine(w + (size_t)id1 * c.dim, w + (size_t)id2 * c.dim, c.dim);
                    if (g1 == g2)
                        within += cs, n_within++;
                    else
                        across += cs, n_across++;
                }
    within /= n_within;
    across /= n_across;
    ck_assert_msg(within > 0.5 && within > across + 0.5, "mean cosine within groups %.3f, across %.3f",
                  within, across);
    /* nearest neighbours of a word are its group */
    int32_t ids[GROUP_WORDS - 1];
    float sims[GROUP_WORDS - 1];
    int found = 0;
    glia_err err = {0};
    ck_assert_msg(glia_w2v_nearest(m, "c2", GROUP_WORDS - 1, ids, sims, &found, &err) == GLIA_OK, "%s",
                  err.msg);
    ck_assert_int_eq(found, GROUP_WORDS - 1);
    for (int i = 0; i < found; i++) {
        const char *t = glia_vocab_token(v, ids[i]);
        ck_assert_msg(t[0] == 'c' && strcmp(t, "c2") != 0, "neighbour %d of c2 is %s", i, t);
        if (i > 0)
            ck_assert(sims[i] <= sims[i - 1]);
    }
    ck_assert_int_eq(glia_w2v_nearest(m, "zzz", 3, ids, sims, &found, &err), GLIA_ENOTFOUND);
    ck_assert_int_eq(found, 0);
    /* progress: once per epoch, with the corpus, and the loss going down */
    ck_assert_int_eq(log.calls, c.epochs);
    ck_assert_int_eq(log.last.epoch, c.epochs);
    ck_assert_int_eq(log.last.epochs, c.epochs);
    ck_assert_uint_eq(log.last.texts, SYNTH_TEXTS);
    ck_assert_uint_eq(log.last.tokens, SYNTH_TEXTS * SYNTH_LEN);
    ck_assert_uint_eq(log.last.train_tokens, SYNTH_TEXTS * SYNTH_LEN);
    ck_assert_uint_eq(log.last.vocab, 2 + GROUPS * GROUP_WORDS);
    ck_assert_uint_gt(log.last.pairs, 0);
    ck_assert(log.last.words_per_sec > 0);
    ck_assert_msg(log.last_loss < log.first_loss, "loss %g -> %g", log.first_loss, log.last_loss);
    /* the learning rate has decayed to near its floor by the last text */
    ck_assert_float_lt(log.last.lr, c.lr * 0.01f);
    ck_assert_float_ge(log.last.lr, c.lr * 1e-4f * 0.999f);
    glia_w2v_free(m);
}
END_TEST

START_TEST(train_cancels_and_refuses_bad_input)
{
    glia_w2v_config c = small_config();
    char **texts = synthetic_corpus(3);
    glia_w2v *m = (glia_w2v *)1;
    glia_err err = {0};
    atomic_int cancel = 1;
    ck_assert_int_eq(
        glia_w2v_train((const char *const *)texts, SYNTH_TEXTS, &c, NULL, NULL, &cancel, &m, &err),
        GLIA_ECANCELLED);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err.msg, "epoch 1 of"));
    /* set from the progress callback: stops in the second epoch */
    progress_log log = {0};
    atomic_store(&cancel, 0);
    log.cancel_after_first = &cancel;
    ck_assert_int_eq(
        glia_w2v_train((const char *const *)texts, SYNTH_TEXTS, &c, log_progress, &log, &cancel, &m, &err),
        GLIA_ECANCELLED);
    ck_assert_int_eq(log.calls, 1);
    ck_assert_ptr_nonnull(strstr(err.msg, "epoch 2 of"));
    free_corpus(texts);

    /* nothing to train on: every token below min_count, or one word per text */
    const char *rare[] = {"one two three", "four five six"};
    c.min_count = 2;
    ck_assert_int_eq(glia_w2v_train(rare, 2, &c, NULL, NULL, NULL, &m, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "min_count=2"));
    const char *single[] = {"word", "word", "word"};
    ck_assert_int_eq(glia_w2v_train(single, 3, &c, NULL, NULL, NULL, &m, &err), GLIA_EINVAL);
    /* invalid UTF-8 names the text */
    const char *bad[] = {"fine text here", "bad \xff byte"};
    c.min_count = 1;
    ck_assert_int_eq(glia_w2v_train(bad, 2, &c, NULL, NULL, NULL, &m, &err), GLIA_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "1"));
    /* out-of-range config fields are named */
    glia_w2v_config bads[6];
    const char *fields[6] = {"dim", "window", "negative", "lr", "max_vocab", "epochs"};
    for (int i = 0; i < 6; i++)
        bads[i] = small_config();
    bads[0].dim = 0;
    bads[1].window = 0;
    bads[2].negative = -1;
    bads[3].lr = 0;
    bads[4].max_vocab = 2;
    bads[5].epochs = 0;
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(glia_w2v_config_check(&bads[i], &err), GLIA_EINVAL);
        ck_assert_msg(strstr(err.msg, fields[i]), "'%s' does not name %s", err.msg, fields[i]);
        ck_assert_int_eq(glia_w2v_train(rare, 2, &bads[i], NULL, NULL, NULL, &m, &err), GLIA_EINVAL);
        ck_assert_ptr_null(m);
    }
}
END_TEST

/* ---- WordNet ------------------------------------------------------------------------------- */

static const char licence[] = "  1 This software and database is being provided to you, the LICENSEE, by  \n"
                              "  2 Princeton University under the following license.  \n"
                              "  3   \n";

static void write_wordnet(const char *dir, const char *noun, const char *verb)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s%s", licence, noun);
    glia_test_write(dir, "data.noun", buf);
    snprintf(buf, sizeof buf, "%s%s", licence, verb);
    glia_test_write(dir, "data.verb", buf);
    snprintf(
        buf, sizeof buf, "%s%s", licence,
        "00001740 00 a 01 able 0 005 = 05207437 n 0000 | (usually followed by `to') having the necessary "
        "means; \"able to swim\"; \"she was able to program her computer\"  \n");
    glia_test_write(dir, "data.adj", buf);
    snprintf(buf, sizeof buf, "%s%s", licence,
             "00001740 02 r 01 a_cappella 0 000 | without musical accompaniment; \"they performed a "
             "cappella\"  \n");
    glia_test_write(dir, "data.adv", buf);
}

static const char fixture_noun[] =
    "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived or known or inferred to have "
    "its "
    "own distinct existence (living or nonliving)  \n"
    "00002137 03 n 02 abstraction 0 abstract_entity 0 010 | a general concept; \"to be or not to be; that is "
    "the question\"; \"a notice of sale  \n"
    "00002452 03 n 01 thing 0 | the commodities purchased; \"she loaded her shopping into the car\"women "
    "carrying home shopping didn't give me a second glance\"  \n";
static const char fixture_verb[] =
    "00001740 29 v 04 breathe 0 take_a_breath 0 | draw air into, and expel out of, "
    "the lungs; \"I can breathe better when the air is clean\"; drop names\"  \n";

START_TEST(wordnet_reads_definitions_and_examples)
{
    write_wordnet(tmpdir, fixture_noun, fixture_verb);
    glia_wordnet_corpus c;
    glia_err err = {0};
    ck_assert_msg(glia_wordnet_load(tmpdir, &c, &err) == GLIA_OK, "%s", err.msg);
    static const char *const want[] = {
        "that which is perceived or known or inferred to have its own distinct existence (living or "
        "nonliving)",
        "a general concept",
        "to be or not to be; that is the question", /* ';' inside the quotes */
        "a notice of sale",                         /* closing quote missing */
        "the commodities purchased",
        "she loaded her shopping into the car\"women carrying home shopping didn't give me a second glance",
        "draw air into, and expel out of, the lungs",
        "I can breathe better when the air is clean",
        "drop names", /* stray closing quote */
        "(usually followed by `to') having the necessary means",
        "able to swim",
        "she was able to program her computer",
        "without musical accompaniment",
        "they performed a cappella",
    };
    size_t n = sizeof want / sizeof want[0];
    ck_assert_uint_eq(c.n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(strcmp(c.texts[i], want[i]) == 0, "text %zu: '%s', expected '%s'", i, c.texts[i],
                      want[i]);
    ck_assert_uint_eq(c.synsets, 6);
    ck_assert_uint_eq(c.examples, 7);
    glia_wordnet_free(&c);
    ck_assert_ptr_null(c.texts);
    glia_wordnet_free(&c); /* twice is safe */
}
END_TEST

START_TEST(wordnet_errors_name_file_and_line)
{
    glia_wordnet_corpus c;
    glia_err err = {0};
    char dir[512];
    /* no directory at all: say how to get one */
    snprintf(dir, sizeof dir, "%s/none", tmpdir);
    ck_assert_int_eq(glia_wordnet_load(dir, &c, &err), GLIA_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "scripts/setup --test"));
    ck_assert_ptr_nonnull(strstr(err.msg, "wordnet-base"));
    ck_assert_ptr_null(c.texts);
    /* a line without a gloss (licence lines 1-3, then synsets) */
    write_wordnet(tmpdir, fixture_noun, "00001740 29 v 04 breathe 0 take_a_breath 0 no gloss here\n");
    ck_assert_int_eq(glia_wordnet_load(tmpdir, &c, &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, "data.verb:4:"), "%s", err.msg);
    ck_assert_ptr_null(c.texts);
    /* something that is not a synset line */
    write_wordnet(tmpdir, "00001740 03 n 01 entity 0 | fine\nhello | world\n", fixture_verb);
    ck_assert_int_eq(glia_wordnet_load(tmpdir, &c, &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, "data.noun:5:"), "%s", err.msg);
    /* invalid UTF-8 */
    write_wordnet(tmpdir, fixture_noun, "00001740 29 v 04 breathe 0 | draw \xc3 air\n");
    ck_assert_int_eq(glia_wordnet_load(tmpdir, &c, &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, "data.verb:4:") && strstr(err.msg, "UTF-8"), "%s", err.msg);
    /* one file missing */
    write_wordnet(tmpdir, fixture_noun, fixture_verb);
    char path[600];
    snprintf(path, sizeof path, "%s/data.adj", tmpdir);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(glia_wordnet_load(tmpdir, &c, &err), GLIA_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, "data.adj") && strstr(err.msg, "wordnet-base"), "%s", err.msg);
}
END_TEST

START_TEST(wordnet_real_files)
{
    const char *dir = GLIA_WORDNET_DEFAULT_DIR;
    if (access(GLIA_WORDNET_DEFAULT_DIR "/data.noun", R_OK) != 0) {
        printf("# SKIP wordnet_real_files: no %s/data.noun (scripts/setup --test installs wordnet-base)\n",
               dir);
        fflush(stdout);
        return;
    }
    glia_wordnet_corpus c;
    glia_err err = {0};
    ck_assert_msg(glia_wordnet_load(NULL, &c, &err) == GLIA_OK, "%s", err.msg);
    /* WordNet 3.0: 82115 noun, 13767 verb, 18156 adjective and 3621 adverb synsets */
    ck_assert_uint_eq(c.synsets, 117659);
    ck_assert_uint_gt(c.n, 150000);
    ck_assert_uint_gt(c.examples, 40000);
    ck_assert_uint_lt(c.examples, c.n);
    int seen_definition = 0, seen_example = 0;
    for (size_t i = 0; i < c.n; i++) {
        ck_assert_uint_gt(strlen(c.texts[i]), 0);
        ck_assert_msg(c.texts[i][0] != ' ' && c.texts[i][strlen(c.texts[i]) - 1] != ' ', "text %zu: '%s'", i,
                      c.texts[i]);
        seen_definition |= strcmp(c.texts[i], "without musical accompaniment") == 0;
        seen_example |= strcmp(c.texts[i], "they performed a cappella") == 0;
    }
    ck_assert(seen_definition && seen_example);
    glia_wordnet_free(&c);
}
END_TEST

/* ---- recipes, save, load, apply ------------------------------------------------------------ */

static const char *write_recipe(const char *text)
{
    return glia_test_write(tmpdir, "recipe.yaml", text);
}

static const struct {
    const char *yaml, *expect;
} bad_recipes[] = {
    {"task: word2vec\ncorpus: [wordnet]\nwindw: 5\n", "windw"},
    {"task: word2vec\ncorpus: [wordnet]\ndim: 0\n", "dim"},
    {"task: word2vec\ncorpus: [wordnet]\ndim: wide\n", "dim"},
    {"task: word2vec\ncorpus: [wordnet]\nlr: fast\n", "lr"},
    {"task: word2vec\ncorpus: [wordnet]\nlr: 0\n", "lr"},
    {"task: word2vec\ncorpus: [wordnet]\nsample: -1\n", "sample"},
    {"task: word2vec\ncorpus: [wordnet]\nnegative: 1000\n", "negative"},
    {"task: word2vec\ncorpus: [wordnet]\nmax_vocab: 2\n", "max_vocab"},
    {"task: word2vec\ncorpus: [wordnet]\nepochs: 1.5\n", "epochs"},
    {"task: word2vec\ncorpus: [wordnet]\nseed: -3\n", "seed"},
    {"task: classify\ncorpus: [wordnet]\n", "word2vec"},
    {"corpus: [wordnet]\n", "task"},
    {"task: word2vec\n", "corpus"},
    {"task: word2vec\ncorpus: []\n", "corpus"},
    {"task: word2vec\ncorpus: wordnet\n", "corpus"},
    {"task: word2vec\ncorpus: [wikipedia]\n", "wikipedia"},
    {"task: word2vec\ncorpus: [wordnet, wordnet]\n", "twice"},
    {"task: word2vec\ncorpus: [uci-sentiment]\nwordnet_dir: wn\n", "wordnet_dir"},
};

START_TEST(recipe_refuses_bad_keys_and_values)
{
    glia_w2v_recipe r;
    glia_err err = {0};
    const char *path = write_recipe(bad_recipes[_i].yaml);
    ck_assert_int_ne(glia_w2v_recipe_load(path, &r, &err), GLIA_OK);
    ck_assert_msg(strstr(err.msg, bad_recipes[_i].expect), "'%s' -> '%s', expected it to mention '%s'",
                  bad_recipes[_i].yaml, err.msg, bad_recipes[_i].expect);
    ck_assert_msg(strstr(err.msg, "recipe.yaml"), "'%s' does not name the file", err.msg);
    /* the runner gives the same answer and writes nothing */
    char out[512];
    snprintf(out, sizeof out, "%s/out", tmpdir);
    ck_assert_int_ne(glia_w2v_recipe_run(path, out, NULL, NULL, NULL, &err), GLIA_OK);
    ck_assert_int_ne(access(out, F_OK), 0);
}
END_TEST

START_TEST(recipe_reads_every_key)
{
    glia_w2v_recipe r;
    glia_err err = {0};
    const char *path = write_recipe("task: word2vec\ncorpus: [uci-sentiment, wordnet]\nwordnet_dir: wn\n"
                                    "dim: 32\nwindow: 4\nnegative: 3\nmin_count: 2\nmax_vocab: 1000\n"
                                    "epochs: 2\nlr: 0.05\nsample: 0.0001\nseed: 9\n");
    ck_assert_msg(glia_w2v_recipe_load(path, &r, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(r.corpus, GLIA_W2V_CORPUS_WORDNET | GLIA_W2V_CORPUS_UCI);
    char want[600];
    snprintf(want, sizeof want, "%s/wn", tmpdir);
    ck_assert_str_eq(r.wordnet_dir, want);
    ck_assert_int_eq(r.cfg.dim, 32);
    ck_assert_int_eq(r.cfg.window, 4);
    ck_assert_int_eq(r.cfg.negative, 3);
    ck_assert_int_eq(r.cfg.min_count, 2);
    ck_assert_int_eq(r.cfg.max_vocab, 1000);
    ck_assert_int_eq(r.cfg.epochs, 2);
    ck_assert_float_eq(r.cfg.lr, 0.05f);
    ck_assert_float_eq(r.cfg.sample, 0.0001f);
    ck_assert_uint_eq(r.cfg.seed, 9);
    /* defaults, and the shipped recipe */
    path = write_recipe("task: word2vec\ncorpus: [wordnet]\n");
    ck_assert_msg(glia_w2v_recipe_load(path, &r, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_str_eq(r.wordnet_dir, GLIA_WORDNET_DEFAULT_DIR);
    glia_w2v_config d;
    glia_w2v_defaults(&d);
    ck_assert(memcmp(&d, &r.cfg, sizeof d) == 0);
    ck_assert_msg(glia_w2v_recipe_load(glia_test_path("models/word2vec-en/recipe.yaml"), &r, &err) == GLIA_OK,
                  "%s", err.msg);
    ck_assert_uint_eq(r.corpus, GLIA_W2V_CORPUS_WORDNET | GLIA_W2V_CORPUS_UCI);
}
END_TEST

/* Builds a target vocabulary that shares some words with the synthetic corpus. */
static glia_vocab *target_vocab(void)
{
    const char *texts[] = {"a0 a1 zebra", "b3 quokka a0"};
    glia_vocab *v = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_vocab_build(texts, 2, 1, 0, &v, &err) == GLIA_OK, "%s", err.msg);
    return v;
}

START_TEST(save_load_apply_round_trip)
{
    glia_w2v_config c = small_config();
    glia_w2v *m = train_synthetic(&c, NULL), *back = NULL;
    glia_err err = {0};
    char dir[512];
    snprintf(dir, sizeof dir, "%s/w2v", tmpdir);
    ck_assert_msg(glia_w2v_save(m, dir, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_w2v_save(m, dir, &err) == GLIA_OK, "again: %s", err.msg); /* over an existing one */
    ck_assert_msg(glia_w2v_load(dir, &back, &err) == GLIA_OK, "%s", err.msg);
    size_t V = glia_vocab_size(glia_w2v_vocab(m));
    ck_assert_uint_eq(glia_vocab_size(glia_w2v_vocab(back)), V);
    ck_assert_int_eq(glia_w2v_dim(back), c.dim);
    for (size_t i = 0; i < V; i++)
        ck_assert_str_eq(glia_vocab_token(glia_w2v_vocab(back), (int32_t)i),
                         glia_vocab_token(glia_w2v_vocab(m), (int32_t)i));
    ck_assert(memcmp(glia_w2v_vectors(back), glia_w2v_vectors(m), V * (size_t)c.dim * sizeof(float)) == 0);

    /* apply: shared words copied, the rest (and <pad>, <unk>) untouched */
    glia_vocab *target = target_vocab();
    size_t T = glia_vocab_size(target), found = 99;
    float *weight = malloc(T * (size_t)c.dim * sizeof *weight);
    ck_assert_ptr_nonnull(weight);
    for (size_t i = 0; i < T * (size_t)c.dim; i++)
        weight[i] = 42.0f;
    ck_assert_msg(glia_w2v_apply(dir, target, weight, c.dim, &found, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(found, 3); /* a0, a1, b3 */
    for (size_t id = 0; id < T; id++) {
        const char *tok = glia_vocab_token(target, (int32_t)id);
        int32_t src = glia_vocab_id(glia_w2v_vocab(m), tok);
        const float *row = weight + id * (size_t)c.dim;
        if (id >= 2 && src >= 2)
            ck_assert_msg(
                memcmp(row, glia_w2v_vectors(m) + (size_t)src * c.dim, (size_t)c.dim * sizeof *row) == 0,
                "row of %s", tok);
        else
            for (int d = 0; d < c.dim; d++)
                ck_assert_msg(row[d] == 42.0f, "row of %s changed", tok);
    }

    /* (f) another dimension: refused, saying both, weight untouched */
    for (size_t i = 0; i < T * (size_t)c.dim; i++)
        weight[i] = 42.0f;
    ck_assert_int_eq(glia_w2v_apply(dir, target, weight, c.dim / 2, &found, &err), GLIA_EINVAL);
    ck_assert_uint_eq(found, 0);
    char dims[64];
    snprintf(dims, sizeof dims, "have %d dimensions but the embedding has %d", c.dim, c.dim / 2);
    ck_assert_msg(strstr(err.msg, dims), "%s", err.msg);
    for (size_t i = 0; i < T * (size_t)c.dim / 2; i++)
        ck_assert(weight[i] == 42.0f);

    /* a directory without vectors, and vectors that do not match the vocabulary */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none", tmpdir);
    ck_assert_int_ne(glia_w2v_apply(missing, target, weight, c.dim, &found, &err), GLIA_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "vocab.txt"));
    char vocab_path[600];
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", dir);
    ck_assert_msg(glia_vocab_save(target, vocab_path, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(glia_w2v_apply(dir, target, weight, c.dim, &found, &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, "vectors.safetensors") && strstr(err.msg, "vocab.txt"), "%s", err.msg);

    free(weight);
    glia_vocab_free(target);
    glia_w2v_free(back);
    glia_w2v_free(m);
}
END_TEST

START_TEST(recipe_run_trains_and_saves)
{
    char wn[512], out[512];
    snprintf(wn, sizeof wn, "%s/wn", tmpdir);
    ck_assert_int_eq(mkdir(wn, 0777), 0);
    write_wordnet(wn, fixture_noun, fixture_verb);
    const char *path = write_recipe("task: word2vec\ncorpus: [wordnet]\nwordnet_dir: wn\n"
                                    "dim: 12\nmin_count: 1\nepochs: 2\nsample: 0\n");
    snprintf(out, sizeof out, "%s/out", tmpdir);
    progress_log log = {0};
    glia_err err = {0};
    ck_assert_msg(glia_w2v_recipe_run(path, out, log_progress, &log, NULL, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(log.calls, 2);
    ck_assert_uint_eq(log.last.texts, 14);
    glia_w2v *m = NULL;
    ck_assert_msg(glia_w2v_load(out, &m, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(glia_w2v_dim(m), 12);
    ck_assert_uint_eq(glia_vocab_size(glia_w2v_vocab(m)), log.last.vocab);
    ck_assert_int_ge(glia_vocab_id(glia_w2v_vocab(m), "breathe"), 2);
    glia_w2v_free(m);

    /* a WordNet directory that is not there: the message says how to install it */
    path = write_recipe("task: word2vec\ncorpus: [wordnet]\nwordnet_dir: nowhere\nmin_count: 1\n");
    snprintf(out, sizeof out, "%s/out2", tmpdir);
    ck_assert_int_eq(glia_w2v_recipe_run(path, out, NULL, NULL, NULL, &err), GLIA_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, "scripts/setup --test") && strstr(err.msg, "recipe.yaml"), "%s", err.msg);

    /* cancelled before the first text */
    atomic_int cancel = 1;
    path = write_recipe("task: word2vec\ncorpus: [wordnet]\nwordnet_dir: wn\nmin_count: 1\n");
    ck_assert_int_eq(glia_w2v_recipe_run(path, out, NULL, NULL, &cancel, &err), GLIA_ECANCELLED);
    ck_assert_int_ne(access(out, F_OK), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("word2vec");
    TCase *tg = tcase_create("gradient");
    tcase_add_loop_test(tg, sgns_gradient_matches_central_differences, 0, 3);
    tcase_add_test(tg, sgns_loss_is_stable_when_saturated);
    suite_add_tcase(s, tg);

    TCase *tt = tcase_create("train");
    tcase_add_test(tt, train_is_deterministic);
    tcase_add_test(tt, groups_that_cooccur_end_up_close);
    tcase_add_test(tt, train_cancels_and_refuses_bad_input);
    suite_add_tcase(s, tt);

    TCase *tw = tcase_create("wordnet");
    tcase_add_checked_fixture(tw, setup, teardown);
    tcase_add_test(tw, wordnet_reads_definitions_and_examples);
    tcase_add_test(tw, wordnet_errors_name_file_and_line);
    tcase_add_test(tw, wordnet_real_files);
    suite_add_tcase(s, tw);

    TCase *tr = tcase_create("recipe");
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_add_loop_test(tr, recipe_refuses_bad_keys_and_values, 0,
                        sizeof bad_recipes / sizeof bad_recipes[0]);
    tcase_add_test(tr, recipe_reads_every_key);
    tcase_add_test(tr, save_load_apply_round_trip);
    tcase_add_test(tr, recipe_run_trains_and_saves);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
