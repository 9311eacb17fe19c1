/*
 * test_texttrain.c - core/train/texttrain and the text side of recipes.
 *
 * A tiny training run must learn a toy rule that needs word order, which a bag of words
 * cannot express: the label is 1 when the sentence holds "good" and 0 when it holds
 * "bad", flipped when "not" comes right before that word ("not" also appears elsewhere,
 * as noise). The same recipe and seed give the same weights bit for bit. Lexicon tables
 * read both list formats; recipes with text keys parse, and bad ones are named.
 */
#include "core/text/lexicon.h"
#include "core/train/texttrain.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Token ids of the toy vocabulary: 0 <pad>, 1 <unk>, then these. */
enum { T_GOOD = 2, T_BAD, T_NOT, T_FIRST_FILLER, VOCAB = 16, MAX_LEN = 9 };

/* n sentences of 3..MAX_LEN tokens: fillers, one sentiment word (maybe after "not"), and
 * a stray "not" in some of them that does not touch the sentiment word. */
static void toy_data(glia_text_data *d, int n, unsigned seed)
{
    glia_rng rng;
    glia_rng_seed(&rng, seed);
    memset(d, 0, sizeof *d);
    d->n = n;
    d->max_len = MAX_LEN;
    d->ids = calloc((size_t)n * MAX_LEN, sizeof *d->ids);
    d->lengths = calloc((size_t)n, sizeof *d->lengths);
    d->labels = calloc((size_t)n, sizeof *d->labels);
    d->sources = calloc((size_t)n, sizeof *d->sources);
    ck_assert(d->ids && d->lengths && d->labels && d->sources);
    for (int i = 0; i < n; i++) {
        int len = 3 + (int)glia_rng_below(&rng, MAX_LEN - 2);
        int32_t *row = d->ids + (size_t)i * MAX_LEN;
        for (int t = 0; t < len; t++)
            row[t] = T_FIRST_FILLER + (int32_t)glia_rng_below(&rng, VOCAB - T_FIRST_FILLER);
        int pos = 1 + (int)glia_rng_below(&rng, (uint64_t)len - 1);
        int good = glia_rng_uniform(&rng) < 0.5f, negated = glia_rng_uniform(&rng) < 0.5f;
        row[pos] = good ? T_GOOD : T_BAD;
        if (negated)
            row[pos - 1] = T_NOT;
        else if (pos >= 3 && glia_rng_uniform(&rng) < 0.5f)
            row[pos - 3] = T_NOT; /* noise: not adjacent, changes nothing */
        d->lengths[i] = len;
        d->labels[i] = good != negated;
    }
}

/* A text classifier of cfg through the model interface (the manifest names only its task). */
static glia_model *model_of(const glia_textnet_config *cfg)
{
    glia_manifest m = {0};
    glia_model *model = NULL;
    glia_err err = {0};
    snprintf(m.task, sizeof m.task, "text-classification");
    m.text = *cfg;
    ck_assert_msg(glia_model_new(&m, &model, &err) == GLIA_OK, "%s", err.msg);
    return model;
}

/* Loss, accuracy and accuracy per source of model on d, through the one evaluation. */
static glia_status evaluate(const glia_model *model, const glia_text_data *d, double *loss, double *acc,
                            double *per_source, glia_err *err)
{
    glia_source *src = NULL;
    glia_eval_result ev;
    glia_status rc = glia_text_source_new(NULL, NULL, d, model->outputs, &src, err);
    if (rc == GLIA_OK && (rc = glia_loop_evaluate(model, src, GLIA_SPLIT_TEST, 1, &ev, err)) == GLIA_OK) {
        if (loss)
            *loss = ev.loss;
        if (acc)
            *acc = ev.accuracy;
        for (int g = 0; per_source && g < GLIA_UCI_NSOURCES; g++)
            per_source[g] = ev.group_accuracy[g];
    }
    glia_source_free(src);
    return rc;
}

static glia_textnet_config toy_config(void)
{
    return (glia_textnet_config){.vocab_size = VOCAB,
                                 .embedding_dim = 8,
                                 .mode = GLIA_RNN_LSTM,
                                 .hidden_size = 16,
                                 .num_layers = 1,
                                 .bidirectional = 1,
                                 .pool = GLIA_RNN_POOL_MAX,
                                 .num_classes = 2};
}

static glia_model *toy_net(void)
{
    glia_textnet_config cfg = toy_config();
    glia_model *net = model_of(&cfg);
    glia_rng rng;
    glia_train_seed_stream(&rng, 7, GLIA_STREAM_INIT);
    net->ops->reset(net, &rng);
    return net;
}

static void toy_recipe(glia_recipe *r, char *dir, size_t dir_len)
{
    glia_err err = {0};
    glia_test_mkdtemp(dir, dir_len, "texttrain");
    const char *path = glia_test_write(dir, "recipe.yaml",
                                       "model: model.yaml\n"
                                       "dataset: {name: uci-sentiment}\n"
                                       "seed: 7\nepochs: 12\n"
                                       "batch: {policy: fixed, size: 16}\n"
                                       "optimizer: {type: adam, lr: 0.01}\n"
                                       "clip_grad_norm: 5\n");
    ck_assert_msg(glia_recipe_load(path, r, &err) == GLIA_OK, "%s", err.msg);
}

START_TEST(learns_a_rule_that_needs_word_order)
{
    char dir[512];
    glia_recipe r;
    toy_recipe(&r, dir, sizeof dir);
    glia_text_data train, dev;
    toy_data(&train, 800, 1);
    toy_data(&dev, 200, 2);
    glia_model *net = toy_net();
    double before = 0;
    glia_err err = {0};
    ck_assert_int_eq(evaluate(net, &dev, NULL, &before, NULL, &err), GLIA_OK);
    glia_train_result res;
    ck_assert_msg(glia_text_train(&r, net, &train, &dev, NULL, NULL, NULL, &res, &err) == GLIA_OK, "%s",
                  err.msg);
    double loss = 0, acc = 0, per_source[GLIA_UCI_NSOURCES];
    ck_assert_int_eq(evaluate(net, &dev, &loss, &acc, per_source, &err), GLIA_OK);
    ck_assert_msg(acc >= 0.95, "dev accuracy %.3f after training (%.3f before), loss %.3f", acc, before,
                  loss);
    ck_assert_msg(res.best_epoch >= 1 && res.best_val_accuracy == acc, "selected epoch %d: %.3f vs %.3f",
                  res.best_epoch, res.best_val_accuracy, acc);
    ck_assert(per_source[GLIA_UCI_AMAZON] == acc &&
              per_source[GLIA_UCI_IMDB] < 0); /* all rows are source 0 */
    glia_model_free(net);
    glia_text_data_free(&train);
    glia_text_data_free(&dev);
    glia_test_rmtree(dir);
}
END_TEST

static int count_epochs(const glia_progress *p, void *user)
{
    (*(int *)user)++;
    return p->epoch == 2; /* stop after the second epoch */
}

START_TEST(same_seed_same_weights_and_stopping)
{
    char dir[512];
    glia_recipe r;
    toy_recipe(&r, dir, sizeof dir);
    r.epochs = 2;
    glia_text_data train, dev;
    toy_data(&train, 200, 3);
    toy_data(&dev, 50, 4);
    glia_model *a = toy_net(), *b = toy_net();
    glia_train_result res;
    glia_err err = {0};
    ck_assert_int_eq(glia_text_train(&r, a, &train, &dev, NULL, NULL, NULL, &res, &err), GLIA_OK);
    ck_assert_int_eq(glia_text_train(&r, b, &train, &dev, NULL, NULL, NULL, &res, &err), GLIA_OK);
    ck_assert_int_eq(memcmp(a->values, b->values, a->size * sizeof(float)), 0);
    /* a progress callback that returns non-zero stops the run */
    r.epochs = 5;
    int calls = 0;
    ck_assert_int_eq(glia_text_train(&r, a, &train, &dev, count_epochs, &calls, NULL, &res, &err),
                     GLIA_ECANCELLED);
    ck_assert_int_eq(calls, 2);
    /* so does the cancel flag, before the first step */
    atomic_int cancel = 1;
    ck_assert_int_eq(glia_text_train(&r, a, &train, &dev, NULL, NULL, &cancel, &res, &err), GLIA_ECANCELLED);
    ck_assert_ptr_nonnull(strstr(err.msg, "cancelled"));
    /* a label the model cannot output is refused up front */
    train.labels[5] = 2;
    ck_assert_int_eq(glia_text_train(&r, a, &train, &dev, NULL, NULL, NULL, &res, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "example 5 has label 2"));
    glia_model_free(a);
    glia_model_free(b);
    glia_text_data_free(&train);
    glia_text_data_free(&dev);
    glia_test_rmtree(dir);
}
END_TEST

static int stop_at_2(const glia_progress *p, void *user)
{
    return p->epoch == 2;
}

/* Stopped after epoch 2 and resumed from the checkpoint: the weights of an uninterrupted
 * run, bit for bit (dropout on, so the dropout stream must be restored too). A deadline
 * in the past stops the run before its first step. */
START_TEST(checkpoint_resume_and_deadline)
{
    char dir[512];
    glia_recipe r;
    toy_recipe(&r, dir, sizeof dir);
    r.epochs = 4;
    glia_text_data train, dev;
    toy_data(&train, 160, 5);
    toy_data(&dev, 40, 6);
    glia_textnet_config cfg = toy_config();
    glia_err err = {0};
    cfg.dropout = 0.3f;
    cfg.embedding_dropout = 0.1f;
    glia_model *a = model_of(&cfg), *b = model_of(&cfg);
    glia_rng rng;
    glia_rng_seed(&rng, 3);
    a->ops->reset(a, &rng);
    memcpy(b->values, a->values, a->size * sizeof(float));
    glia_train_result ra, rb;
    ck_assert_int_eq(glia_text_train(&r, a, &train, &dev, NULL, NULL, NULL, &ra, &err), GLIA_OK);
    snprintf(r.checkpoint, sizeof r.checkpoint, "%s/text.ckpt", dir);
    r.resume = 1;
    ck_assert_int_eq(glia_text_train(&r, b, &train, &dev, stop_at_2, NULL, NULL, &rb, &err), GLIA_ECANCELLED);
    memset(b->values, 0, b->size * sizeof(float));
    ck_assert_msg(glia_text_train(&r, b, &train, &dev, NULL, NULL, NULL, &rb, &err) == GLIA_OK, "%s",
                  err.msg);
    ck_assert_int_eq(rb.steps, ra.steps);
    ck_assert_int_eq(memcmp(a->values, b->values, a->size * sizeof(float)), 0);
    r.checkpoint[0] = '\0';
    r.deadline = glia_train_clock() - 1.0;
    ck_assert_int_eq(glia_text_train(&r, b, &train, &dev, NULL, NULL, NULL, &rb, &err), GLIA_ETIMEDOUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "time limit"));
    glia_model_free(a);
    glia_model_free(b);
    glia_text_data_free(&train);
    glia_text_data_free(&dev);
    glia_test_rmtree(dir);
}
END_TEST

START_TEST(lexicon_tables)
{
    char dir[512];
    glia_err err = {0};
    glia_test_mkdtemp(dir, sizeof dir, "lexicon");
    const char *texts[] = {"good movie", "bad movie , not good", "great"};
    glia_vocab *v = NULL;
    ck_assert_int_eq(glia_vocab_build(texts, 3, 1, 0, &v, &err), GLIA_OK);
    glia_lexicon_source src[2] = {0};
    snprintf(src[0].path, sizeof src[0].path, "%s",
             glia_test_write(dir, "afinn.json",
                             "{\"good\": 3, \"bad\": -3, \"can't stand\": -3, "
                             "\"unused\": 2}"));
    src[0].format = GLIA_LEXICON_JSON;
    src[0].scale = 0.2f;
    snprintf(src[1].path, sizeof src[1].path, "%s",
             glia_test_write(dir, "vader.txt", "great\t3.1\t0.5\t[3, 3]\nbad\t-2.5\t0.1\t[-2]\n"));
    src[1].format = GLIA_LEXICON_TSV;
    src[1].scale = 0.25f;
    size_t n = glia_vocab_size(v), matched[2];
    float *table = calloc(n * 2, sizeof *table);
    ck_assert_int_eq(glia_lexicon_table(src, 2, v, table, matched, &err), GLIA_OK);
    ck_assert_uint_eq(matched[0], 2); /* good, bad: the phrase and the unknown word match nothing */
    ck_assert_uint_eq(matched[1], 2);
    ck_assert_float_eq_tol(table[glia_vocab_id(v, "good") * 2 + 0], 0.6f, 1e-6f);
    ck_assert_float_eq_tol(table[glia_vocab_id(v, "bad") * 2 + 1], -0.625f, 1e-6f);
    ck_assert_float_eq(table[glia_vocab_id(v, "movie") * 2 + 0], 0.0f);
    ck_assert_float_eq(table[GLIA_VOCAB_UNK * 2 + 0], 0.0f);
    /* malformed files are named */
    snprintf(src[1].path, sizeof src[1].path, "%s",
             glia_test_write(dir, "bad.txt", "great\t3.1\nbad\tnope\n"));
    ck_assert_int_eq(glia_lexicon_table(src, 2, v, table, matched, &err), GLIA_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad.txt:2"));
    snprintf(src[0].path, sizeof src[0].path, "%s", glia_test_write(dir, "list.json", "[1, 2]"));
    ck_assert_int_eq(glia_lexicon_table(src, 1, v, table, matched, &err), GLIA_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "list.json"));
    glia_lexicon_format fmt;
    ck_assert_int_eq(glia_lexicon_format_parse("csv", &fmt, &err), GLIA_ENOTFOUND);
    free(table);
    glia_vocab_free(v);
    glia_test_rmtree(dir);
}
END_TEST

START_TEST(recipe_text_keys)
{
    char dir[512];
    glia_err err = {0};
    glia_recipe r;
    glia_test_mkdtemp(dir, sizeof dir, "textrecipe");
    const char *path =
        glia_test_write(dir, "r.yaml",
                        "model: m.yaml\ndataset: {name: uci-sentiment, path: data}\n"
                        "vocabulary: {min_count: 2, max_size: 500}\n"
                        "lexicon:\n  - {path: a.json}\n  - {path: /abs/v.txt, format: tsv, scale: 0.25}\n"
                        "embedding: {pretrained: w2v}\n");
    ck_assert_msg(glia_recipe_load(path, &r, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(r.text.vocab_min_count, 2);
    ck_assert_int_eq(r.text.vocab_max_size, 500);
    ck_assert_int_eq(r.text.nlexicons, 2);
    ck_assert_str_eq(r.text.lexicons[0].format, "json");
    ck_assert_float_eq(r.text.lexicons[0].scale, 1.0f);
    ck_assert_str_eq(r.text.lexicons[1].path, "/abs/v.txt");
    ck_assert_ptr_nonnull(strstr(r.text.lexicons[0].path, "/a.json"));
    ck_assert_ptr_nonnull(strstr(r.dataset_path, dir)); /* relative paths resolve against the recipe */
    ck_assert_ptr_nonnull(strstr(r.text.pretrained, "/w2v"));
    static const char *const bad[][2] = {
        {"model: m.yaml\ndataset: {name: imdb}\n", "dataset.name 'imdb'"},
        {"model: m.yaml\ndataset: {name: uci-sentiment}\nlexicon:\n  - {path: a, format: csv}\n",
         "lexicon[0].format"},
        {"model: m.yaml\ndataset: {name: uci-sentiment}\nlexicon: {path: a}\n", "lexicon: expected a list"},
        {"model: m.yaml\ndataset: {name: uci-sentiment}\nvocabulary: {min_count: 0}\n", "min_count"},
        {"model: m.yaml\ndataset: {name: uci-sentiment}\nvocabulary: {max_size: 1}\n", "max_size"},
        {"model: m.yaml\ndataset: {name: uci-sentiment}\nembedding: {glove: x}\n", "glove"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = glia_test_write(dir, "bad.yaml", bad[i][0]);
        ck_assert_int_ne(glia_recipe_load(path, &r, &err), GLIA_OK);
        ck_assert_msg(strstr(err.msg, bad[i][1]), "case %zu: '%s' lacks '%s'", i, err.msg, bad[i][1]);
    }
    glia_test_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("texttrain");
    TCase *tc = tcase_create("texttrain");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, learns_a_rule_that_needs_word_order);
    tcase_add_test(tc, same_seed_same_weights_and_stopping);
    tcase_add_test(tc, checkpoint_resume_and_deadline);
    tcase_add_test(tc, lexicon_tables);
    tcase_add_test(tc, recipe_text_keys);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
