/*
 * test_lmtrain.c - language-model pretraining (core/train/lmtrain.h) and the classifier's
 * init seam (texttrain.c's init.bundle): the LM loss's gradient against central differences,
 * the sentence cutting, the fortune file reader, a tiny pretraining run that lowers the
 * held-out loss and resumes bit for bit, and a classifier that starts from its tensors exactly
 * while another vocabulary, another shape or a stray tensor is refused.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/rng.h"
#include "core/data/fortunes.h"
#include "core/formats/safetensors.h"
#include "core/model/model.h"
#include "core/nn/layer.h"
#include "core/nn/textnet.h"
#include "core/text/vocab.h"
#include "core/train/lmtrain.h"
#include "core/train/recipe.h"
#include "core/train/texttrain.h"
#include "core/train/trainer.h"
#include "tests/support/check_main.h"

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "lmtrain");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

/* ---- the loss and its gradient ---- */

enum { GV = 11, GB = 3, GT = 6 };

/* ids with "<unk>" (1) inside, so skipped targets are covered; lengths 6, 4, 2 */
static const int32_t g_ids[GB * GT] = {2, 5, 1, 7, 9, 3, 10, 4, 4, 6, 0, 0, 8, 2, 0, 0, 0, 0};
static const int32_t g_len[GB] = {6, 4, 2};

static double lm_loss(glia_lm *lm, int backward)
{
    double loss;
    long counted;
    glia_err err = {0};
    ck_assert_msg(glia_lm_loss(lm, g_ids, g_len, GB, GT, backward, &loss, &counted, &err) == GLIA_OK, "%s",
                  err.msg);
    ck_assert_int_gt(counted, 0);
    return loss;
}

/* Every coordinate of every trained tensor (the net's and the head's) against the central
 * difference of the mean loss; the frozen lexicon gets no gradient. _i: 0 bidirectional over
 * the whole vocabulary, 1 bidirectional with softmax_size 6 (targets 6..10 skipped), 2 one
 * direction. */
START_TEST(lm_gradient_matches_central_differences)
{
    glia_err err = {0};
    glia_textnet_config cfg = {.vocab_size = GV,
                               .embedding_dim = 3,
                               .lexicon_features = 1,
                               .mode = GLIA_RNN_LSTM,
                               .hidden_size = 4,
                               .num_layers = 1,
                               .bidirectional = _i != 2,
                               .pool = GLIA_RNN_POOL_MAX,
                               .num_classes = 2};
    glia_textnet *net = NULL;
    glia_lm *lm = NULL;
    glia_rng rng;
    glia_rng_seed(&rng, 42 + (uint64_t)_i);
    ck_assert_msg(glia_textnet_new(&cfg, &net, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_textnet_enable_grads(net, &err) == GLIA_OK, "%s", err.msg);
    glia_textnet_reset(net, &rng);
    float *lex = (float *)glia_textnet_find_param(net, "lexicon.weight")->value;
    for (int i = 0; i < GV; i++)
        lex[i] = glia_rng_uniform(&rng) * 2 - 1;
    ck_assert_msg(glia_lm_new(net, _i == 1 ? 6 : 0, GB, GT, &rng, &lm, &err) == GLIA_OK, "%s", err.msg);
    int nhead;
    glia_param *head = glia_lm_head(lm, &nhead);
    glia_textnet_zero_grads(net);
    lm_loss(lm, 1);
    glia_param *check[GLIA_TEXTNET_MAX_PARAMS + 2];
    int n = 0;
    for (int i = 0; i < net->ntrainable; i++)
        if (strncmp(net->trainable[i].name, "fc.", 3) != 0)
            check[n++] = &net->trainable[i];
    for (int i = 0; i < nhead; i++)
        check[n++] = &head[i];
    const double h = 1e-2, atol = 5e-4, rtol = 5e-3;
    size_t checked = 0;
    for (int p = 0; p < n; p++) {
        glia_param *q = check[p];
        for (size_t k = 0; k < q->size; k++) {
            const float v = q->value[k];
            q->value[k] = v + (float)h;
            const double up = lm_loss(lm, 0);
            q->value[k] = v - (float)h;
            const double down = lm_loss(lm, 0);
            q->value[k] = v;
            const double num = (up - down) / (2 * h), ana = q->grad[k];
            ck_assert_msg(fabs(ana - num) <= atol + rtol * fabs(num), "%s[%zu]: analytic %.6g numeric %.6g",
                          q->name, k, ana, num);
            checked++;
        }
    }
    ck_assert_int_gt(checked, 200);
    /* the padding row of the embedding and the head rows nothing targets stay without gradient */
    const glia_param *emb = glia_textnet_find_param(net, "embedding.weight");
    for (int j = 0; j < cfg.embedding_dim; j++)
        ck_assert(emb->grad[j] == 0.0f);
    ck_assert_ptr_null(glia_textnet_find_param(net, "lexicon.weight")->grad);
    glia_lm_free(lm);
    glia_textnet_free(net);
}
END_TEST

/* The check above must be able to fail: the head bias's analytic gradient off by 2 % has to
 * exceed its tolerance somewhere. */
START_TEST(lm_gradient_check_can_fail)
{
    glia_err err = {0};
    glia_textnet_config cfg = {.vocab_size = GV,
                               .embedding_dim = 3,
                               .mode = GLIA_RNN_LSTM,
                               .hidden_size = 4,
                               .num_layers = 1,
                               .bidirectional = 1,
                               .pool = GLIA_RNN_POOL_MAX,
                               .num_classes = 2};
    glia_textnet *net = NULL;
    glia_lm *lm = NULL;
    glia_rng rng;
    glia_rng_seed(&rng, 5);
    ck_assert(glia_textnet_new(&cfg, &net, &err) == GLIA_OK &&
              glia_textnet_enable_grads(net, &err) == GLIA_OK);
    glia_textnet_reset(net, &rng);
    ck_assert(glia_lm_new(net, 0, GB, GT, &rng, &lm, &err) == GLIA_OK);
    int nhead, off = 0;
    glia_param *head = glia_lm_head(lm, &nhead);
    lm_loss(lm, 1);
    for (size_t k = 0; k < head[1].size && !off; k++) {
        const float v = head[1].value[k];
        head[1].value[k] = v + 1e-2f;
        const double up = lm_loss(lm, 0);
        head[1].value[k] = v - 1e-2f;
        const double down = lm_loss(lm, 0);
        head[1].value[k] = v;
        const double num = (up - down) / 2e-2, wrong = head[1].grad[k] * 1.02;
        off = fabs(wrong - num) > 5e-4 + 5e-3 * fabs(num);
    }
    ck_assert_msg(off, "a 2 %% error in the head's gradient went unnoticed");
    glia_lm_free(lm);
    glia_textnet_free(net);
}
END_TEST

/* ---- the corpus ---- */

START_TEST(sentences_are_cut_at_stops_and_length)
{
    glia_err err = {0};
    const char *train[] = {"a b c . d e ! f g h i j k ?"};
    glia_vocab *v = NULL;
    ck_assert_msg(glia_vocab_build(train, 1, 1, 0, &v, &err) == GLIA_OK, "%s", err.msg);
    /* "a b c ." (4), "d e !" (3), then "f g h i" cut at max_tokens 4, "j k ?" (3); "x ." is too
     * short; "y z" ends the text (2 tokens): dropped */
    const char *texts[] = {"a b c. d e! f g h i j k?", "x.", "y z"};
    int32_t *ids = NULL, *lengths = NULL;
    long n = 0, tokens = 0;
    ck_assert_msg(glia_lm_sentences(v, texts, 3, 4, &ids, &lengths, &n, &tokens, &err) == GLIA_OK, "%s",
                  err.msg);
    ck_assert_int_eq(n, 4);
    const int32_t want_len[4] = {4, 3, 4, 3};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(lengths[i], want_len[i]);
    ck_assert_int_eq(tokens, 14);
    ck_assert_int_eq(ids[0], glia_vocab_id(v, "a"));
    ck_assert_int_eq(ids[3], glia_vocab_id(v, "."));
    ck_assert_int_eq(ids[4], glia_vocab_id(v, "d"));
    ck_assert_int_eq(ids[7], GLIA_VOCAB_PAD);
    ck_assert_int_eq(ids[8], glia_vocab_id(v, "f"));
    ck_assert_int_eq(ids[12], glia_vocab_id(v, "j"));
    free(ids);
    free(lengths);
    const char *none[] = {"x", "y ."};
    ck_assert_int_eq(glia_lm_sentences(v, none, 2, 4, &ids, &lengths, &n, &tokens, &err), GLIA_EINVAL);
    glia_vocab_free(v);
}
END_TEST

static void keep(void *user, const char *text, size_t len)
{
    char *out = user;
    strncat(out, text, len);
    strcat(out, "|");
}

START_TEST(fortunes_split_entries_and_clean_them)
{
    const char data[] = "One line.\n%\nTwo\n\tlines  here\n%\n\n%\n_\bb_\bo_\bl_\bd text\r\n%\n%last\n";
    char scratch[sizeof data], got[256] = "";
    const size_t n = glia_fortunes_split(data, sizeof data - 1, scratch, keep, got);
    ck_assert_int_eq(n, 4);
    ck_assert_str_eq(got, "One line.|Two lines here|bold text|%last|");
    /* the loader: files in name order, MANIFEST skipped; a missing directory says how to fetch */
    char dir[300];
    snprintf(dir, sizeof dir, "%s/f", tmpdir);
    glia_fortunes f;
    glia_err err = {0};
    ck_assert_int_eq(glia_fortunes_load(dir, &f, &err), GLIA_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, "fetch-fortunes"), "%s", err.msg);
    glia_test_write(tmpdir, "b", "Second file.\n");
    glia_test_write(tmpdir, "a", "First.\n%\nThen this.\n");
    glia_test_write(tmpdir, "MANIFEST", "# not a fortune\n");
    ck_assert_msg(glia_fortunes_load(tmpdir, &f, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(f.n, 3);
    ck_assert_int_eq(f.files, 2);
    ck_assert_str_eq(f.texts[0], "First.");
    ck_assert_str_eq(f.texts[2], "Second file.");
    glia_fortunes_free(&f);
}
END_TEST

/* ---- a tiny run and the init seam ---- */

static const char *const WORDS[] = {"good", "great", "fine", "nice", "bad", "awful", "poor", "sad"};

/* A small UCI-like data set (three files) and fortune file in tmpdir, a manifest and a
 * classifier recipe (hidden size `hidden`, as manifest `name`), and the LM recipe. */
static void write_fixture(void)
{
    char path[300], buf[65536];
    static const char *const src[] = {"amazon.json", "imdb.json", "yelp.json"};
    snprintf(path, sizeof path, "%s/uci", tmpdir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    for (int s = 0; s < 3; s++) {
        size_t at = 0;
        at += (size_t)snprintf(buf + at, sizeof buf - at, "[");
        for (int i = 0; i < 60; i++) {
            const int w = (i * 7 + s) % 8, neg = w >= 4;
            at += (size_t)snprintf(buf + at, sizeof buf - at,
                                   "%s{\"text\":\"item %d of %d was %s and it %s.\",\"class\":%d}",
                                   i ? "," : "", i, s, WORDS[w], neg ? "broke" : "worked", neg ? 0 : 1);
        }
        snprintf(buf + at, sizeof buf - at, "]");
        glia_test_write(path, src[s], buf);
    }
    snprintf(path, sizeof path, "%s/fortunes", tmpdir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    size_t at = 0;
    for (int i = 0; i < 300; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "the item was %s and it %s.\n%%\n", WORDS[i % 8],
                               i % 8 >= 4 ? "broke" : "worked");
    glia_test_write(path, "cookie", buf);
    for (int h = 0; h < 2; h++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml,
                 "name: t\ntask: text-classification\nweights: model.safetensors\nlabels: labels.txt\n"
                 "vocabulary: vocab.txt\ninput: {max_tokens: 16}\n"
                 "architecture: {type: text-rnn, embedding: {embedding_dim: 6, padding_idx: 0}, "
                 "rnn: {type: lstm, hidden_size: %d, num_layers: 1, bidirectional: true}, pooling: max, "
                 "classifier: {out_features: 2}}\n",
                 h ? 5 : 4);
        glia_test_write(tmpdir, h ? "model5.yaml" : "model.yaml", yaml);
    }
    glia_test_write(tmpdir, "labels.txt", "negative\npositive\n");
    glia_test_write(tmpdir, "clf.yaml",
                    "model: model.yaml\ndataset: {name: uci-sentiment, path: uci}\nseed: 3\nepochs: 1\n");
}

static const char *lm_recipe(int epochs)
{
    char text[512];
    snprintf(text, sizeof text,
             "task: lm\nclassifier: clf.yaml\ncorpus: [fortunes, uci-sentiment]\nfortunes_dir: fortunes\n"
             "epochs: %d\nbatch: 8\nmax_tokens: 12\nlr: 0.02\nholdout: 10\nseed: 2\n",
             epochs);
    return glia_test_write(tmpdir, "lm.yaml", text);
}

typedef struct {
    double first, last;
    int calls, stop_after, first_epoch;
    atomic_int cancel;
} progress;

static void on_progress(const glia_lm_progress *p, void *user)
{
    progress *g = user;
    if (g->calls++ == 0) {
        g->first = p->holdout_loss;
        g->first_epoch = p->epoch;
    }
    g->last = p->holdout_loss;
    if (g->stop_after && p->epoch == g->stop_after && p->seconds > 0)
        atomic_store(&g->cancel, 1);
}

/* The bytes of a file (the caller frees), *len its size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*len + 1);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

START_TEST(pretraining_lowers_the_loss_resumes_and_seeds_a_classifier)
{
    glia_err err = {0};
    char out[300], out2[300], path[400], path2[400];
    write_fixture();
    snprintf(out, sizeof out, "%s/lm", tmpdir);
    snprintf(out2, sizeof out2, "%s/lm2", tmpdir);
    ck_assert_int_eq(mkdir(out, 0755), 0);
    ck_assert_int_eq(mkdir(out2, 0755), 0);
    const char *recipe = lm_recipe(3);
    progress g = {0};
    ck_assert_msg(glia_lm_recipe_run(recipe, out, on_progress, &g, NULL, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(g.calls, 4);
    ck_assert_msg(g.last < 0.7 * g.first, "held-out loss %.4f after 3 epochs, %.4f before", g.last, g.first);

    /* stopped after epoch 1, then started again: the same bytes as the uninterrupted run */
    progress s = {.stop_after = 1};
    ck_assert_int_eq(glia_lm_recipe_run(recipe, out2, on_progress, &s, &s.cancel, &err), GLIA_ECANCELLED);
    progress r2 = {0};
    ck_assert_msg(glia_lm_recipe_run(recipe, out2, on_progress, &r2, NULL, &err) == GLIA_OK, "%s", err.msg);
    /* it continued after epoch 1 (a run that started over would give the same bytes too) */
    ck_assert_int_eq(r2.first_epoch, 1);
    ck_assert_int_eq(r2.calls, 3);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    snprintf(path2, sizeof path2, "%s/model.safetensors", out2);
    size_t la, lb;
    char *a = slurp(path, &la), *b = slurp(path2, &lb);
    ck_assert_msg(la == lb && memcmp(a, b, la) == 0, "the resumed run's weights differ");
    free(a);
    free(b);
    /* another recipe's checkpoint is refused */
    ck_assert_int_eq(glia_lm_recipe_run(lm_recipe(4), out2, NULL, NULL, NULL, &err), GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, "another recipe"), "%s", err.msg);
    /* a checkpoint of the layout before checkpoint.h's (head and Adam's state beside
     * model.safetensors) is refused, naming its format, and nothing is trained over it */
    {
        const int64_t shape1[1] = {1};
        const float zero[1] = {0};
        const glia_st_entry old_head[1] = {{"head.bias", GLIA_DT_F32, 1, shape1, zero}};
        const char *old_meta[] = {"format", "glia-lm-checkpoint", "epoch", "1", "steps", "3", NULL};
        char old_path[400];
        snprintf(old_path, sizeof old_path, "%s/lm.safetensors", out2);
        ck_assert(glia_st_write(old_path, old_head, 1, old_meta, &err) == GLIA_OK);
        ck_assert_int_eq(glia_lm_recipe_run(recipe, out2, NULL, NULL, NULL, &err), GLIA_EFORMAT);
        ck_assert_msg(strstr(err.msg, "glia-lm-checkpoint") && strstr(err.msg, "older glia"), "%s", err.msg);
    }

    /* a classifier from the pretrained tensors: every one copied exactly, fc its own */
    char text[600];
    snprintf(text, sizeof text,
             "model: model.yaml\ndataset: {name: uci-sentiment, path: uci}\nseed: 3\n"
             "epochs: 1\ninit: {bundle: lm}\n");
    glia_recipe cr;
    glia_text_job job;
    ck_assert_msg(glia_recipe_load(glia_test_write(tmpdir, "ft.yaml", text), &cr, &err) == GLIA_OK, "%s",
                  err.msg);
    ck_assert_msg(glia_text_prepare(&cr, &job, &err) == GLIA_OK, "%s", err.msg);
    glia_st_file *st = NULL;
    ck_assert_msg(glia_st_open(path, &st, &err) == GLIA_OK, "%s", err.msg);
    int copied = 0;
    for (int i = 0; i < job.model->nparams; i++) {
        const glia_param *p = &job.model->params[i];
        const glia_st_tensor *t = glia_st_find(st, p->name);
        if (strncmp(p->name, "fc.", 3) == 0) {
            ck_assert_ptr_null(t);
            continue;
        }
        ck_assert_msg(t, "%s is not in the pretrained file", p->name);
        float *want = malloc(sizeof(float) * p->size);
        ck_assert(glia_st_read_f32(t, want, p->size, &err) == GLIA_OK);
        ck_assert_msg(memcmp(want, p->value, sizeof(float) * p->size) == 0, "%s differs", p->name);
        free(want);
        copied++;
    }
    ck_assert_int_ge(copied, 9); /* the embedding and the 8 tensors of a bidirectional LSTM */
    glia_text_job_free(&job);

    /* init.tensors: embedding takes the word vectors alone: the rnn is the seed's, not the file's */
    snprintf(text, sizeof text,
             "model: model.yaml\ndataset: {name: uci-sentiment, path: uci}\nseed: 3\n"
             "init: {bundle: lm, tensors: embedding}\n");
    ck_assert(glia_recipe_load(glia_test_write(tmpdir, "fte.yaml", text), &cr, &err) == GLIA_OK);
    ck_assert_msg(glia_text_prepare(&cr, &job, &err) == GLIA_OK, "%s", err.msg);
    for (int i = 0; i < job.model->nparams; i++) {
        const glia_param *p = &job.model->params[i];
        const glia_st_tensor *t = glia_st_find(st, p->name);
        if (!t)
            continue;
        float *want = malloc(sizeof(float) * p->size);
        ck_assert(glia_st_read_f32(t, want, p->size, &err) == GLIA_OK);
        const int same = memcmp(want, p->value, sizeof(float) * p->size) == 0;
        ck_assert_msg(same == (strcmp(p->name, "embedding.weight") == 0), "%s: same %d", p->name, same);
        free(want);
    }
    glia_text_job_free(&job);
    snprintf(text, sizeof text,
             "model: model.yaml\ndataset: {name: uci-sentiment, path: uci}\n"
             "init: {bundle: lm, tensors: rnn}\n");
    ck_assert_int_eq(glia_recipe_load(glia_test_write(tmpdir, "ftr.yaml", text), &cr, &err), GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, "init.tensors"), "%s", err.msg);

    /* another architecture (hidden 5 instead of 4): the misshapen tensor is named */
    snprintf(text, sizeof text,
             "model: model5.yaml\ndataset: {name: uci-sentiment, path: uci}\n"
             "init: {bundle: lm}\n");
    ck_assert(glia_recipe_load(glia_test_write(tmpdir, "ft5.yaml", text), &cr, &err) == GLIA_OK);
    ck_assert_int_ne(glia_text_prepare(&cr, &job, &err), GLIA_OK);
    ck_assert_msg(strstr(err.msg, "init.bundle") && strstr(err.msg, "rnn."), "%s", err.msg);

    /* another vocabulary (min_count 2 drops words): the first differing line is named */
    snprintf(text, sizeof text,
             "model: model.yaml\ndataset: {name: uci-sentiment, path: uci}\n"
             "vocabulary: {min_count: 40}\ninit: {bundle: lm}\n");
    ck_assert(glia_recipe_load(glia_test_write(tmpdir, "ftv.yaml", text), &cr, &err) == GLIA_OK);
    ck_assert_int_eq(glia_text_prepare(&cr, &job, &err), GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, "vocab.txt: line") && strstr(err.msg, "vocabulary this recipe builds"),
                  "%s", err.msg);

    /* a stray tensor (the head, had it been kept) */
    const int64_t shape[1] = {2};
    const float vals[2] = {0, 0};
    const glia_st_entry extra[1] = {{"head.bias", GLIA_DT_F32, 1, shape, vals}};
    ck_assert(glia_st_write(path, extra, 1, NULL, &err) == GLIA_OK);
    snprintf(text, sizeof text,
             "model: model.yaml\ndataset: {name: uci-sentiment, path: uci}\n"
             "init: {bundle: lm}\n");
    ck_assert(glia_recipe_load(glia_test_write(tmpdir, "fth.yaml", text), &cr, &err) == GLIA_OK);
    ck_assert_int_eq(glia_text_prepare(&cr, &job, &err), GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, "head.bias"), "%s", err.msg);
    glia_st_close(st);
}
END_TEST

START_TEST(recipe_errors_name_the_key)
{
    glia_err err = {0};
    write_fixture();
    char out[300];
    snprintf(out, sizeof out, "%s/o", tmpdir);
    ck_assert_int_eq(mkdir(out, 0755), 0);
    static const char *const bad[][2] = {
        {"task: lm\nclassifier: clf.yaml\ncorpus: [tweets]\n", "tweets"},
        {"task: lm\nclassifier: clf.yaml\ncorpus: [fortunes, fortunes]\n", "twice"},
        {"task: lm\nclassifier: clf.yaml\ncorpus: [fortunes]\nbatchsize: 3\n", "batchsize"},
        {"task: lm\nclassifier: clf.yaml\ncorpus: [fortunes]\nfortunes_dir: fortunes\nsoftmax_size: 2\n",
         "softmax_size"},
        {"task: lm\ncorpus: [fortunes]\n", "classifier"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = glia_test_write(tmpdir, "bad.yaml", bad[i][0]);
        ck_assert_int_ne(glia_lm_recipe_run(p, out, NULL, NULL, NULL, &err), GLIA_OK);
        ck_assert_msg(strstr(err.msg, bad[i][1]), "case %zu: %s", i, err.msg);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lmtrain");
    TCase *tg = tcase_create("gradient");
    tcase_add_loop_test(tg, lm_gradient_matches_central_differences, 0, 3);
    tcase_add_test(tg, lm_gradient_check_can_fail);
    suite_add_tcase(s, tg);
    TCase *tc = tcase_create("corpus");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sentences_are_cut_at_stops_and_length);
    tcase_add_test(tc, fortunes_split_entries_and_clean_them);
    tcase_add_test(tc, pretraining_lowers_the_loss_resumes_and_seeds_a_classifier);
    tcase_add_test(tc, recipe_errors_name_the_key);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
