/*
 * test_textnet.c - core/nn/textnet: the text classifier (embedding + frozen lexicon
 * features -> LSTM/RNN -> pooling over time -> dropout -> linear).
 *
 * Backward: every parameter coordinate (a stratified sample for the bigger tensors)
 * against central finite differences of L = sum(logits * r), through embedding and input
 * dropout, one and two layers, both directions, each pooling, a padded batch; dropout
 * masks are replayed by re-seeding the stream before every forward (tolerance as in
 * tests/support/gradcheck.h). The frozen lexicon table never receives a gradient and is
 * not among the trainable parameters. Padding invariance: a sentence scores the same
 * alone and inside a batch of longer neighbours whose padding holds garbage ids. Plus
 * PyTorch's state_dict names and order, strict save/load, and the errors. And the inference
 * copies (glia_textnet_prepare: token table, transposed LSTM weights) follow the weights: after a
 * write that is announced, a prepared net answers as a net prepared from the new values.
 */
#include "core/formats/safetensors.h"
#include "core/nn/lstm_step.h"
#include "core/nn/textnet.h"
#include "tests/support/check_main.h"
#include "tests/support/gradcheck.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static glia_textnet_config small_config(void)
{
    return (glia_textnet_config){
        .vocab_size = 11,
        .embedding_dim = 4,
        .lexicon_features = 2,
        .mode = GLIA_RNN_LSTM,
        .hidden_size = 3,
        .num_layers = 1,
        .bidirectional = 1,
        .pool = GLIA_RNN_POOL_MAX,
        .embedding_dropout = 0.0f,
        .dropout = 0.0f,
        .num_classes = 2,
    };
}

static glia_textnet *build(const glia_textnet_config *cfg, unsigned seed)
{
    glia_textnet *net = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_textnet_new(cfg, &net, &err) == GLIA_OK, "%s", err.msg);
    glia_rng rng;
    glia_rng_seed(&rng, seed);
    glia_textnet_reset(net, &rng);
    if (cfg->lexicon_features > 0) {
        const glia_param *lex = glia_textnet_find_param(net, "lexicon.weight");
        ck_assert_ptr_nonnull(lex);
        gc_uniform(lex->value, lex->size, -1.0f, 1.0f, seed + 7);
    }
    /* PyTorch's N(0, 1) embedding makes LSTM gates saturate; finite differences want ~0.5. */
    gc_uniform(net->embedding.weight.value + cfg->embedding_dim,
               net->embedding.weight.size - cfg->embedding_dim, -0.8f, 0.8f, seed + 3);
    ck_assert_int_eq(glia_textnet_enable_grads(net, &err), GLIA_OK);
    return net;
}

START_TEST(names_and_order)
{
    glia_textnet_config cfg = small_config();
    cfg.num_layers = 2;
    glia_textnet *net = build(&cfg, 1);
    static const char *const want[] = {"embedding.weight",
                                       "lexicon.weight",
                                       "rnn.weight_ih_l0",
                                       "rnn.weight_hh_l0",
                                       "rnn.bias_ih_l0",
                                       "rnn.bias_hh_l0",
                                       "rnn.weight_ih_l0_reverse",
                                       "rnn.weight_hh_l0_reverse",
                                       "rnn.bias_ih_l0_reverse",
                                       "rnn.bias_hh_l0_reverse",
                                       "rnn.weight_ih_l1",
                                       "rnn.weight_hh_l1",
                                       "rnn.bias_ih_l1",
                                       "rnn.bias_hh_l1",
                                       "rnn.weight_ih_l1_reverse",
                                       "rnn.weight_hh_l1_reverse",
                                       "rnn.bias_ih_l1_reverse",
                                       "rnn.bias_hh_l1_reverse",
                                       "fc.weight",
                                       "fc.bias"};
    ck_assert_int_eq(net->nparams, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < net->nparams; i++)
        ck_assert_str_eq(net->params[i].name, want[i]);
    /* shapes: layer 0 takes E + K, layer 1 takes 2H; fc takes 2H */
    ck_assert_int_eq(net->params[1].shape[0], 11);
    ck_assert_int_eq(net->params[1].shape[1], 2);
    ck_assert_int_eq(net->params[2].shape[0], 12);
    ck_assert_int_eq(net->params[2].shape[1], 6);
    ck_assert_int_eq(net->params[10].shape[1], 6);
    ck_assert_int_eq(net->params[18].shape[0], 2);
    ck_assert_int_eq(net->params[18].shape[1], 6);
    /* the lexicon is frozen: no gradient, not trainable */
    ck_assert_int_eq(net->ntrainable, net->nparams - 1);
    ck_assert_ptr_null(net->params[1].grad);
    for (int i = 0; i < net->ntrainable; i++) {
        ck_assert_str_ne(net->trainable[i].name, "lexicon.weight");
        ck_assert_ptr_nonnull(net->trainable[i].grad);
    }
    /* padding row of the embedding is zero after reset */
    glia_textnet_free(net);
    cfg.lexicon_features = 0;
    net = build(&cfg, 1);
    ck_assert_str_eq(net->params[1].name, "rnn.weight_ih_l0");
    ck_assert_int_eq(net->params[1].shape[1], 4);
    ck_assert_int_eq(net->ntrainable, net->nparams);
    glia_textnet_free(net);
}
END_TEST

/* ---- finite differences ---- */

typedef struct {
    glia_textnet *net;
    glia_textnet_ctx *ctx;
    const int32_t *ids, *lengths;
    int batch, steps;
    const float *probe; /* [batch, C] */
    unsigned seed;
} fd_case;

static double case_loss(void *state)
{
    fd_case *c = state;
    glia_rng rng;
    glia_rng_seed(&rng, c->seed);
    const float *logits = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_textnet_forward(c->net, c->ctx, c->ids, c->lengths, c->batch, c->steps, &rng, &logits,
                                       &err) == GLIA_OK,
                  "%s", err.msg);
    double l = 0.0;
    for (int i = 0; i < c->batch * c->net->cfg.num_classes; i++)
        l += (double)logits[i] * c->probe[i];
    return l;
}

static void check_net(const glia_textnet_config *cfg, const char *what)
{
    enum { B = 3, T = 5 };
    glia_textnet *net = build(cfg, 11);
    glia_textnet_ctx *ctx = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_textnet_ctx_new(net, B, T, 1, &ctx, &err) == GLIA_OK, "%s", err.msg);
    /* ids avoid 0 (the padding row gets no gradient by design, tested separately) */
    const int32_t ids[B * T] = {3, 4, 5, 6, 7, 2, 9, 10, 1, 1, 8, 3, 99, -5, 42};
    const int32_t lengths[B] = {5, 3, 2}; /* row 2's padding holds invalid ids: never read */
    float probe[B * 4];
    ck_assert_int_le(cfg->num_classes, 4);
    gc_uniform(probe, B * 4, -1.0f, 1.0f, 5);
    fd_case c = {net, ctx, ids, lengths, B, T, probe, 77};
    case_loss(&c);
    glia_textnet_zero_grads(net);
    glia_textnet_backward(net, ctx, probe, NULL);
    /* the analytic gradients, copied before the perturbed forwards run */
    float *g = malloc(net->size * sizeof *g);
    ck_assert_ptr_nonnull(g);
    memcpy(g, net->grads, net->size * sizeof *g);
    gc_opts o = gc_defaults();
    /* max pooling: a step can move the argmax of a feature (a kink), see gradcheck.h */
    o.allow_kinks = cfg->pool == GLIA_RNN_POOL_MAX;
    gc_result r = {0};
    for (int p = 0; p < net->nparams; p++) {
        glia_param *q = &net->params[p];
        if (q->grad) {
            size_t stride = q->size > 40 ? q->size / 40 : 1;
            for (size_t i = 0; i < q->size; i += stride)
                gc_check_coordinate(&r, &o, &q->value[i], g[(size_t)(q->grad - net->grads) + i], case_loss,
                                    &c, 1, q->name, i);
        }
    }
    gc_expect(&r, what);
    ck_assert_msg(r.kinks * 10 <= r.checked_params, "%s: %zu of %zu coordinates at a kink", what, r.kinks,
                  r.checked_params);
    /* the padding row of the embedding got nothing, and the lexicon has no gradient buffer */
    for (int j = 0; j < cfg->embedding_dim; j++)
        ck_assert_float_eq(net->embedding.weight.grad[j], 0.0f);
    free(g);
    glia_textnet_ctx_free(ctx);
    glia_textnet_free(net);
}

START_TEST(gradients_lstm_bidirectional_pools)
{
    static const char *const names[] = {"last", "mean", "max"};
    for (int pool = 0; pool < 3; pool++) {
        glia_textnet_config cfg = small_config();
        cfg.pool = (glia_rnn_pool)pool;
        check_net(&cfg, names[pool]);
    }
}
END_TEST

START_TEST(gradients_two_layers_with_dropout)
{
    glia_textnet_config cfg = small_config();
    cfg.num_layers = 2;
    cfg.embedding_dropout = 0.2f;
    cfg.dropout = 0.5f;
    cfg.pool = GLIA_RNN_POOL_MEAN;
    check_net(&cfg, "2-layer bi-LSTM, dropout");
    cfg.mode = GLIA_RNN_TANH;
    cfg.bidirectional = 0;
    cfg.lexicon_features = 0;
    cfg.num_classes = 3;
    check_net(&cfg, "2-layer tanh RNN, no lexicon, 3 classes");
}
END_TEST

START_TEST(padding_invariance)
{
    glia_textnet_config cfg = small_config();
    glia_textnet *net = build(&cfg, 3);
    glia_textnet_ctx *one = NULL, *many = NULL;
    glia_err err = {0};
    ck_assert_int_eq(glia_textnet_ctx_new(net, 1, 8, 0, &one, &err), GLIA_OK);
    ck_assert_int_eq(glia_textnet_ctx_new(net, 3, 8, 0, &many, &err), GLIA_OK);
    const int32_t alone[3] = {4, 9, 2}, len1[1] = {3};
    const int32_t batch[3 * 8] = {5,    6, 7, 8, 9, 10, 3, 2, 4, 9, 2, -1,
                                  1000, 7, 7, 7, 3, 3,  3, 3, 3, 3, 3, 3};
    const int32_t lens[3] = {8, 3, 8};
    const float *a = NULL, *b = NULL;
    ck_assert_int_eq(glia_textnet_forward(net, one, alone, len1, 1, 3, NULL, &a, &err), GLIA_OK);
    ck_assert_int_eq(glia_textnet_forward(net, many, batch, lens, 3, 8, NULL, &b, &err), GLIA_OK);
    for (int k = 0; k < 2; k++)
        ck_assert_msg(fabsf(a[k] - b[2 + k]) <= 1e-6f, "logit %d: %g alone, %g in a batch", k, a[k],
                      b[2 + k]);
    glia_textnet_ctx_free(one);
    glia_textnet_ctx_free(many);
    glia_textnet_free(net);
}
END_TEST

START_TEST(save_load_strict)
{
    glia_textnet_config cfg = small_config();
    glia_textnet *net = build(&cfg, 5), *back = NULL;
    glia_err err = {0};
    char dir[512], path[600];
    glia_test_mkdtemp(dir, sizeof dir, "textnet");
    snprintf(path, sizeof path, "%s/textnet.safetensors", dir);
    ck_assert_msg(glia_textnet_save(net, path, NULL, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(glia_textnet_new(&cfg, &back, &err), GLIA_OK);
    glia_st_file *st = NULL;
    ck_assert_msg(glia_st_open(path, &st, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_textnet_load(back, st, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(net->values, back->values, net->size * sizeof(float)), 0);
    glia_textnet_free(back);
    /* the same file into a model without the lexicon: its first layer is narrower */
    cfg.lexicon_features = 0;
    ck_assert_int_eq(glia_textnet_new(&cfg, &back, &err), GLIA_OK);
    ck_assert_int_eq(glia_textnet_load(back, st, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(
        strstr(err.msg, "'rnn.weight_ih_l0' has shape [12, 6] but the manifest expects [12, 4]"));
    glia_textnet_free(back);
    /* and into a wider model: the shape is named */
    cfg = small_config();
    cfg.hidden_size = 4;
    ck_assert_int_eq(glia_textnet_new(&cfg, &back, &err), GLIA_OK);
    ck_assert_int_eq(glia_textnet_load(back, st, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(
        strstr(err.msg, "'rnn.weight_ih_l0' has shape [12, 6] but the manifest expects [16, 6]"));
    glia_textnet_free(back);
    glia_st_close(st);
    glia_textnet_free(net);
    glia_test_rmtree(dir);
}
END_TEST

START_TEST(errors)
{
    glia_err err = {0};
    glia_textnet *net = NULL;
    glia_textnet_config cfg = small_config();
    cfg.vocab_size = 1;
    ck_assert_int_eq(glia_textnet_new(&cfg, &net, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "vocab_size"));
    cfg = small_config();
    cfg.dropout = 1.0f;
    ck_assert_int_eq(glia_textnet_new(&cfg, &net, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "dropout"));
    cfg = small_config();
    cfg.num_classes = 1;
    ck_assert_int_eq(glia_textnet_new(&cfg, &net, &err), GLIA_EINVAL);
    ck_assert_ptr_null(net);
    cfg = small_config();
    net = build(&cfg, 2);
    glia_textnet_ctx *ctx = NULL;
    ck_assert_int_eq(glia_textnet_ctx_new(net, 2, 4, 0, &ctx, &err), GLIA_OK);
    const int32_t ids[8] = {2, 3, 11, 4, 5, 6, 7, 8}, ok_len[2] = {4, 4}, zero_len[2] = {4, 0};
    const float *out = NULL;
    ck_assert_int_eq(glia_textnet_forward(net, ctx, ids, ok_len, 2, 4, NULL, &out, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "11"));
    ck_assert_ptr_null(out);
    ck_assert_int_eq(glia_textnet_forward(net, ctx, ids + 4, zero_len, 2, 4, NULL, &out, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "length 0"));
    ck_assert_int_eq(glia_textnet_forward(net, ctx, ids, ok_len, 3, 4, NULL, &out, &err), GLIA_EINVAL);
    ck_assert_int_eq(glia_textnet_forward(net, ctx, ids, ok_len, 1, 5, NULL, &out, &err), GLIA_EINVAL);
    glia_textnet_ctx_free(ctx);
    glia_textnet_free(net);
}
END_TEST

/* logits of ids [B, T] through net on ctx, copied to out [B, C] */
static void run_copy(const glia_textnet *net, glia_textnet_ctx *ctx, const int32_t *ids, const int32_t *len,
                     int B, int T, float *out)
{
    glia_err err = {0};
    const float *logits = NULL;
    ck_assert_msg(glia_textnet_forward(net, ctx, ids, len, B, T, NULL, &logits, &err) == GLIA_OK, "%s",
                  err.msg);
    memcpy(out, logits, sizeof(float) * (size_t)B * (size_t)net->cfg.num_classes);
}

/* B texts of 1..T ids in [2, vocab) (no padding id 0 nor <unk> 1), ids [B, T] row-major. */
static void fill_texts(int32_t *ids, int32_t *len, int B, int T, int vocab)
{
    for (int b = 0; b < B; b++) {
        len[b] = 1 + (b * 5 + 2) % T;
        for (int t = 0; t < T; t++)
            ids[b * T + t] = 2 + (b * 7 + t * 3) % (vocab - 2);
    }
}

/* max |a - b| over n floats */
static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* A prepared net whose values are written and the write announced (glia_textnet_weights_changed,
 * or a reset, which announces itself) answers, at batch 1 (the transposed copies) and 16 (the
 * token table gathered into lanes), as a net prepared from the new values, and not as before:
 * a forward that read copies made from the old values would give the old answers. The copies
 * are made only where the LSTM kernels run (AVX-512F); elsewhere there is nothing to follow. */
START_TEST(inference_copies_follow_the_weights)
{
    if (!glia_lstm_step_available())
        return;
    glia_textnet_config cfg = small_config();
    cfg.vocab_size = 40, cfg.embedding_dim = 8, cfg.hidden_size = 16, cfg.num_classes = 3;
    enum { B = 16, T = 6 };
    glia_textnet *net = build(&cfg, 5), *fresh = build(&cfg, 5);
    glia_textnet_ctx *c1 = NULL, *c16 = NULL;
    glia_err err = {0};
    ck_assert_int_eq(glia_textnet_prepare(net, 1, &err), GLIA_OK);
    ck_assert_ptr_nonnull(net->token_table);
    ck_assert_int_eq(glia_textnet_ctx_new(net, 1, T, 0, &c1, &err), GLIA_OK);
    ck_assert_int_eq(glia_textnet_ctx_new(net, B, T, 0, &c16, &err), GLIA_OK);
    int32_t ids[B * T], len[B];
    fill_texts(ids, len, B, T, cfg.vocab_size);
    const size_t n1 = (size_t)cfg.num_classes, n16 = (size_t)B * cfg.num_classes;
    float before1[3], before16[B * 3], got1[3], got16[B * 3], want1[3], want16[B * 3];
    run_copy(net, c1, ids, len, 1, T, before1);
    run_copy(net, c16, ids, len, B, T, before16);
    for (int round = 0; round < 2; round++) {
        if (round == 0) { /* every value rewritten in place, then announced */
            gc_uniform(net->values, net->size, -0.6f, 0.6f, 77);
            glia_textnet_weights_changed(net);
        } else { /* a reset writes and announces */
            glia_rng rng;
            glia_rng_seed(&rng, 99);
            glia_textnet_reset(net, &rng);
        }
        memcpy(fresh->values, net->values, sizeof(float) * net->size);
        ck_assert_int_eq(glia_textnet_prepare(fresh, 1, &err), GLIA_OK);
        run_copy(fresh, c1, ids, len, 1, T, want1);
        run_copy(fresh, c16, ids, len, B, T, want16);
        run_copy(net, c1, ids, len, 1, T, got1);
        run_copy(net, c16, ids, len, B, T, got16);
        ck_assert_ptr_nonnull(net->token_table); /* remade, not dropped */
        ck_assert_msg(max_diff(got1, want1, n1) <= 1e-6 && max_diff(got16, want16, n16) <= 1e-6,
                      "round %d: the new weights answer %g / %g away from a net prepared with them", round,
                      max_diff(got1, want1, n1), max_diff(got16, want16, n16));
        ck_assert_msg(max_diff(got1, before1, n1) > 1e-3 && max_diff(got16, before16, n16) > 1e-3,
                      "round %d: the new weights answer as the old", round);
        memcpy(before1, got1, sizeof got1);
        memcpy(before16, got16, sizeof got16);
    }
    glia_textnet_ctx_free(c1);
    glia_textnet_ctx_free(c16);
    glia_textnet_free(net);
    glia_textnet_free(fresh);
}
END_TEST

typedef struct {
    const glia_textnet *net;
    glia_textnet_ctx *ctx;
    const int32_t *ids, *len;
    pthread_barrier_t *start;
    float out[16 * 3];
} racer;

static void *race_forward(void *arg)
{
    racer *r = arg;
    glia_err err = {0};
    const float *logits = NULL;
    pthread_barrier_wait(r->start);
    if (glia_textnet_forward(r->net, r->ctx, r->ids, r->len, 16, 6, NULL, &logits, &err) == GLIA_OK)
        memcpy(r->out, logits, sizeof r->out);
    else
        memset(r->out, 0xff, sizeof r->out); /* NaN: never equal */
    return NULL;
}

/* gliad's workers share one model: after an announced write, four threads with their own ctxs
 * start forwards at once; one remakes the copies while the others wait on the lock, and every
 * answer is the new weights' (the lock path, every round; a thread reading a half-made table
 * or a freed one would answer otherwise, or crash under ASan). */
START_TEST(threads_share_one_remake)
{
    if (!glia_lstm_step_available())
        return;
    glia_textnet_config cfg = small_config();
    /* a vocabulary large enough that a remake (the table's 4 MB) takes a while: threads that
     * did not wait for it would meet it half made */
    cfg.vocab_size = 8000, cfg.embedding_dim = 8, cfg.hidden_size = 16, cfg.num_classes = 3;
    enum { B = 16, T = 6, THREADS = 4 };
    glia_textnet *net = build(&cfg, 5), *fresh = build(&cfg, 5);
    glia_err err = {0};
    ck_assert_int_eq(glia_textnet_prepare(net, 1, &err), GLIA_OK);
    int32_t ids[B * T], len[B];
    fill_texts(ids, len, B, T, cfg.vocab_size);
    pthread_barrier_t start;
    racer r[THREADS];
    pthread_t th[THREADS];
    glia_textnet_ctx *want_ctx = NULL;
    float want[B * 3];
    ck_assert_int_eq(glia_textnet_ctx_new(fresh, B, T, 0, &want_ctx, &err), GLIA_OK);
    for (int i = 0; i < THREADS; i++) {
        r[i] = (racer){.net = net, .ids = ids, .len = len, .start = &start};
        ck_assert_int_eq(glia_textnet_ctx_new(net, B, T, 0, &r[i].ctx, &err), GLIA_OK);
    }
    for (int round = 0; round < 3; round++) {
        gc_uniform(net->values, net->size, -0.6f, 0.6f, 300u + (unsigned)round);
        glia_textnet_weights_changed(net);
        memcpy(fresh->values, net->values, sizeof(float) * net->size);
        ck_assert_int_eq(glia_textnet_prepare(fresh, 1, &err), GLIA_OK);
        run_copy(fresh, want_ctx, ids, len, B, T, want);
        pthread_barrier_init(&start, NULL, THREADS);
        for (int i = 0; i < THREADS; i++)
            ck_assert_int_eq(pthread_create(&th[i], NULL, race_forward, &r[i]), 0);
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < THREADS; i++)
            ck_assert_msg(max_diff(r[i].out, want, (size_t)B * 3) <= 1e-6, "round %d, thread %d: %g off",
                          round, i, max_diff(r[i].out, want, (size_t)B * 3));
    }
    for (int i = 0; i < THREADS; i++)
        glia_textnet_ctx_free(r[i].ctx);
    glia_textnet_ctx_free(want_ctx);
    glia_textnet_free(net);
    glia_textnet_free(fresh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("textnet");
    TCase *tc = tcase_create("textnet");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, names_and_order);
    tcase_add_test(tc, gradients_lstm_bidirectional_pools);
    tcase_add_test(tc, gradients_two_layers_with_dropout);
    tcase_add_test(tc, padding_invariance);
    tcase_add_test(tc, save_load_strict);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, inference_copies_follow_the_weights);
    tcase_add_test(tc, threads_share_one_remake);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
