/*
 * test_explain.c - explanations (model.h: the explain op): gradients with respect to the
 * inputs (a tiny image net, a conv net, the LSTM classifier's token vectors) against central
 * differences; a translation's alignment rows summing to 1 and its tokens' log-probabilities
 * adding up to the greedy score; and what the issue asks of them on the shipped models: on
 * fashion-cnn, masking the 10 % most salient pixels lowers the target's probability more than
 * masking 10 % random pixels (200 test images); on sentiment-lstm, integrated gradients add up
 * to logit(input) - logit(baseline) within 1 % (256 steps).
 */
#include "core/data/images.h"
#include "core/model/bundle.h"
#include "core/model/model.h"
#include "core/nn/net.h"
#include "core/nn/textnet.h"
#include "tests/support/check_main.h"
#include "tests/support/tiny_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The model's logits for one input (an inference ctx, no dropout). */
static void logits_of(const glia_model *model, const glia_batch *b, float *out)
{
    glia_ctx_spec spec = {.max_batch = 1, .max_steps = b->steps > 0 ? b->steps : 1};
    glia_model_ctx *ctx = NULL;
    glia_err err = {0};
    ck_assert_int_eq(model->ops->ctx_new(model, &spec, &ctx, &err), GLIA_OK);
    glia_prediction pred = {0};
    ck_assert_int_eq(model->ops->predict(model, ctx, b, &pred, &err), GLIA_OK);
    memcpy(out, pred.logits, sizeof(float) * (size_t)model->outputs);
    model->ops->ctx_free(ctx);
}

/* A tiny model of task with PyTorch's initialisation drawn from seed. */
static glia_model *tiny_model(const char *task, float dropout, uint64_t seed)
{
    glia_manifest m = tiny_models_manifest(task, dropout);
    glia_model *model = NULL;
    glia_err err = {0};
    glia_rng rng;
    glia_rng_seed(&rng, seed);
    ck_assert_msg(glia_model_new(&m, &model, &err) == GLIA_OK, "%s", err.msg);
    model->ops->reset(model, &rng);
    return model;
}

/* score_p = d logit_target / d x_p . (x_p - blank), checked by central differences on every
 * input of the tiny image net (dropout 0.5: the explanation must run without it). */
START_TEST(tiny_image_gradient_matches_differences)
{
    glia_model *model = tiny_model("image-classification", 0.5f, 11);
    glia_err err = {0};
    glia_rng rng;
    glia_rng_seed(&rng, 12);
    float x[9], scores[9], probs[TINY_CLASSES], lp[TINY_CLASSES], lm[TINY_CLASSES];
    for (int i = 0; i < 9; i++)
        x[i] = glia_rng_uniform(&rng) * 2.0f - 1.0f;
    glia_batch b = {.n = 1, .x = x};
    glia_explain_opts o = {.method = GLIA_EXPLAIN_GRADIENT_X_INPUT, .target = 2, .blank = -0.25f};
    glia_explanation e = {.probs = probs, .scores = scores};
    ck_assert_int_eq(glia_model_explain(model, &b, &o, &e, &err), GLIA_OK);
    ck_assert_int_eq(e.target, 2);
    const float h = 1e-2f;
    for (int i = 0; i < 9; i++) {
        const float keep = x[i];
        x[i] = keep + h;
        logits_of(model, &b, lp);
        x[i] = keep - h;
        logits_of(model, &b, lm);
        x[i] = keep;
        const double fd = ((double)lp[2] - lm[2]) / (2.0 * h) * (keep - o.blank);
        ck_assert_msg(fabs(fd - scores[i]) <= 1e-3 + 1e-2 * fabs(fd), "pixel %d: %g vs differences %g", i,
                      (double)scores[i], fd);
    }
    glia_model_free(model);
}
END_TEST

/* A conv net's input gradient (glia_net_input_backward: the first conv's dx, a ReLU folded into
 * a conv, max pooling, dropout kept out) against central differences of a chosen logit, in
 * double-checked float: 2 channels, 6 x 6 inputs. */
START_TEST(conv_input_gradient_matches_differences)
{
    static const glia_layer_kind kinds[] = {GLIA_LAYER_CONV2D,  GLIA_LAYER_RELU,  GLIA_LAYER_MAXPOOL2D,
                                            GLIA_LAYER_CONV2D,  GLIA_LAYER_TANH,  GLIA_LAYER_FLATTEN,
                                            GLIA_LAYER_DROPOUT, GLIA_LAYER_LINEAR};
    enum { NL = sizeof kinds / sizeof kinds[0], C = 2, HW = 6, K = 4 };
    glia_layer specs[NL];
    memset(specs, 0, sizeof specs);
    for (int i = 0; i < NL; i++) {
        specs[i].kind = kinds[i];
        snprintf(specs[i].name, sizeof specs[i].name, "body.%d", i);
    }
    for (int i = 0; i < 4; i += 3) { /* conv2d(C -> 3) and conv2d(3 -> 4), 3 x 3, padding 1 */
        specs[i].cfg.conv.in_channels = i ? 3 : C;
        specs[i].cfg.conv.out_channels = i ? 4 : 3;
        specs[i].cfg.conv.kernel = 3;
        specs[i].cfg.conv.stride = 1;
        specs[i].cfg.conv.padding = 1;
    }
    specs[2].cfg.pool.kernel = specs[2].cfg.pool.stride = 2;
    specs[6].cfg.dropout.p = 0.5f;
    specs[7].cfg.linear.in_features = 4 * 3 * 3;
    specs[7].cfg.linear.out_features = K;
    glia_net *net = NULL;
    glia_ctx *grad_ctx = NULL, *ctx = NULL;
    glia_err err = {0};
    glia_rng rng;
    glia_rng_seed(&rng, 31);
    ck_assert_msg(glia_net_new((glia_shape3){C, HW, HW}, specs, NL, &net, &err) == GLIA_OK, "%s", err.msg);
    glia_net_reset(net, &rng);
    ck_assert_int_eq(glia_ctx_new_input_grad(net, 1, &grad_ctx, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(net, 1, 0, &ctx, &err), GLIA_OK);
    float x[C * HW * HW], dx[C * HW * HW], dout[K] = {0, 0, 1, 0};
    for (int i = 0; i < C * HW * HW; i++)
        x[i] = glia_rng_uniform(&rng) * 2.0f - 1.0f;
    glia_net_forward(net, grad_ctx, x, 1, NULL);
    glia_net_input_backward(net, grad_ctx, dout, dx);
    const float h = 1e-3f;
    int close = 0;
    for (int i = 0; i < C * HW * HW; i++) {
        const float keep = x[i];
        x[i] = keep + h;
        const double up = glia_net_forward(net, ctx, x, 1, NULL)[2];
        x[i] = keep - h;
        const double down = glia_net_forward(net, ctx, x, 1, NULL)[2];
        x[i] = keep;
        const double fd = (up - down) / (2.0 * h);
        close += fabs(fd - dx[i]) <= 2e-3 + 2e-2 * fabs(fd);
    }
    /* a ReLU or a max pool may switch inside +-h for a pixel or two; never for most */
    ck_assert_msg(close >= C * HW * HW - 2, "%d of %d input gradients match the differences", close,
                  C * HW * HW);
    glia_ctx_free(ctx);
    glia_ctx_free(grad_ctx);
    glia_net_free(net);
}
END_TEST

/* The sum of gradient x embedding is the derivative of logit(alpha x) at alpha = 1: checked
 * by central differences along alpha on the tiny LSTM classifier (dropout 0.5 too). */
START_TEST(tiny_text_gradient_matches_differences)
{
    glia_model *model = tiny_model("text-classification", 0.5f, 5);
    glia_err err = {0};
    int32_t ids[TINY_STEPS] = {4, 7, 9, 5, 10}, len = TINY_STEPS;
    glia_batch b = {.n = 1, .ids = ids, .lengths = &len, .steps = TINY_STEPS};
    float scores[TINY_STEPS], probs[TINY_CLASSES];
    glia_explain_opts o = {.method = GLIA_EXPLAIN_GRADIENT_X_EMBEDDING, .target = -1};
    glia_explanation e = {.probs = probs, .scores = scores};
    ck_assert_int_eq(glia_model_explain(model, &b, &o, &e, &err), GLIA_OK);
    double sum = 0.0;
    for (int t = 0; t < len; t++)
        sum += scores[t];
    const glia_textnet *net = model->impl;
    glia_textnet_ctx *ctx = NULL;
    ck_assert_int_eq(glia_textnet_ctx_new_input_grad(net, 1, TINY_STEPS, &ctx, &err), GLIA_OK);
    const float h = 1e-2f, up = 1.0f + h, down = 1.0f - h;
    const float *logits = NULL;
    ck_assert_int_eq(glia_textnet_forward_scaled(net, ctx, ids, &len, 1, len, &up, &logits, &err), GLIA_OK);
    const double fp = logits[e.target];
    ck_assert_int_eq(glia_textnet_forward_scaled(net, ctx, ids, &len, 1, len, &down, &logits, &err), GLIA_OK);
    const double fd = (fp - logits[e.target]) / (2.0 * h);
    ck_assert_msg(fabs(fd - sum) <= 1e-3 + 1e-2 * fabs(fd), "sum of scores %g vs differences %g", sum, fd);
    glia_textnet_ctx_free(ctx);
    /* integrated gradients with fewer steps than a chunk add up too (the tiny net is smooth) */
    o = (glia_explain_opts){.method = GLIA_EXPLAIN_INTEGRATED_GRADIENTS, .target = 1, .steps = 8};
    ck_assert_int_eq(glia_model_explain(model, &b, &o, &e, &err), GLIA_OK);
    sum = 0.0;
    for (int t = 0; t < len; t++)
        sum += scores[t];
    const double gap = (double)e.logit - e.baseline_logit;
    ck_assert_msg(fabs(sum - gap) <= 1e-3 + 0.01 * fabs(gap), "sum %g vs gap %g", sum, gap);
    glia_model_free(model);
}
END_TEST

/* Requests the interface refuses before any work. */
START_TEST(refuses_out_of_range)
{
    glia_manifest m = tiny_models_manifest("image-classification", 0.0f);
    glia_model *model = NULL;
    glia_err err = {0};
    ck_assert_int_eq(glia_model_new(&m, &model, &err), GLIA_OK);
    float x[9] = {0}, scores[9], probs[TINY_CLASSES];
    glia_batch b = {.n = 1, .x = x};
    glia_explanation e = {.probs = probs, .scores = scores};
    glia_explain_opts o = {.method = GLIA_EXPLAIN_GRADIENT_X_INPUT, .target = TINY_CLASSES};
    ck_assert_int_eq(glia_model_explain(model, &b, &o, &e, &err), GLIA_EINVAL);
    o = (glia_explain_opts){.method = GLIA_EXPLAIN_SMOOTHGRAD, .target = -1, .samples = 65, .noise = 0.1f};
    ck_assert_int_eq(glia_model_explain(model, &b, &o, &e, &err), GLIA_EINVAL);
    o = (glia_explain_opts){.method = GLIA_EXPLAIN_INTEGRATED_GRADIENTS, .target = -1, .steps = 8};
    ck_assert_int_eq(glia_model_explain(model, &b, &o, &e, &err), GLIA_EUNSUPPORTED);
    ck_assert_int_eq(glia_explain_method_parse("smoothgrad"), GLIA_EXPLAIN_SMOOTHGRAD);
    ck_assert_int_eq(glia_explain_method_parse("saliency"), -1);
    glia_model_free(model);
}
END_TEST

/* A translation's explanation: the greedy output predict gives, each row of the alignment a
 * distribution over the source, and the output tokens' log-probabilities adding up to the
 * greedy search's own score (the sequence's log-probability, </s> included). */
START_TEST(tiny_translation_alignment)
{
    glia_model *model = tiny_model("translation", 0.3f, 23);
    glia_err err = {0};
    int32_t src[TINY_STEPS] = {5, 9, 4, 7, 3}, len = TINY_STEPS;
    glia_batch b = {.n = 1, .ids = src, .lengths = &len, .steps = TINY_STEPS, .decode = {1, 6, 0.0f}};
    glia_ctx_spec spec = {.max_batch = 1, .max_steps = TINY_STEPS, .max_beam = 1};
    glia_model_ctx *ctx = NULL;
    glia_sequence seq = {0};
    glia_prediction pred = {.seqs = &seq};
    ck_assert_int_eq(model->ops->ctx_new(model, &spec, &ctx, &err), GLIA_OK);
    ck_assert_int_eq(model->ops->predict(model, ctx, &b, &pred, &err), GLIA_OK);
    int32_t tokens[7];
    float log_probs[7], alignment[7 * TINY_STEPS];
    glia_explanation e = {.tokens = tokens, .log_probs = log_probs, .alignment = alignment};
    glia_explain_opts o = {.method = GLIA_EXPLAIN_ATTENTION, .target = -1};
    ck_assert_msg(glia_model_explain(model, &b, &o, &e, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(e.ntokens, seq.n + seq.finished);
    double sum = 0.0;
    for (int t = 0; t < e.ntokens; t++) {
        if (t < seq.n)
            ck_assert_int_eq(tokens[t], seq.ids[t]);
        double row = 0.0;
        for (int s = 0; s < len; s++) {
            ck_assert(alignment[t * len + s] >= 0.0f);
            row += alignment[t * len + s];
        }
        ck_assert_msg(fabs(row - 1.0) <= 1e-5, "row %d sums to %.8f", t, row);
        ck_assert(log_probs[t] <= 0.0f);
        sum += log_probs[t];
    }
    ck_assert_msg(fabs(sum - seq.score) <= 1e-4 * (1.0 + fabs(seq.score)), "log-probabilities %g vs score %g",
                  sum, seq.score);
    /* every layer's, from a ctx that keeps them all (and applies no dropout): the last is the same */
    ck_assert_ptr_null(e.layer_alignments);
    o.all_layers = 1;
    ck_assert_int_eq(glia_model_explain(model, &b, &o, &e, &err), GLIA_OK);
    ck_assert_int_ge(e.nlayers, 1);
    const float *last = e.layer_alignments + (size_t)(e.nlayers - 1) * (size_t)e.ntokens * (size_t)len;
    for (int i = 0; i < e.ntokens * len; i++)
        ck_assert_msg(fabsf(last[i] - alignment[i]) <= 1e-5f, "%d: %g vs %g", i, (double)last[i],
                      (double)alignment[i]);
    free(e.layer_alignments);
    o.method = GLIA_EXPLAIN_SMOOTHGRAD;
    o.samples = 4;
    ck_assert_int_eq(glia_model_explain(model, &b, &o, &e, &err), GLIA_EUNSUPPORTED);
    model->ops->ctx_free(ctx);
    glia_model_free(model);
}
END_TEST

enum { MASK_IMAGES = 200 };

static int by_score_desc(const void *a, const void *b, void *scores)
{
    const float *s = scores;
    const float x = s[*(const int *)a], y = s[*(const int *)b];
    return (x < y) - (x > y);
}

static float *sort_scores; /* qsort has no user pointer in C11 */
static int cmp_desc(const void *a, const void *b)
{
    return by_score_desc(a, b, sort_scores);
}

/* The probability of class k for x with the pixels idx[0..n) set to the blank value. */
static float masked_prob(const glia_model *model, const float *x, size_t size, const int *idx, int n,
                         float blank, int k)
{
    float *y = malloc(sizeof(float) * size), logits[16], probs[16];
    memcpy(y, x, sizeof(float) * size);
    for (int i = 0; i < n; i++)
        y[idx[i]] = blank;
    glia_batch b = {.n = 1, .x = y};
    logits_of(model, &b, logits);
    glia_softmax_argmax(logits, model->outputs, probs);
    free(y);
    return probs[k];
}

START_TEST(cnn_masking_salient_pixels_beats_random)
{
    glia_bundle bundle = {0};
    glia_err err = {0};
    glia_dataset ds = {0};
    ck_assert_msg(glia_bundle_load(glia_test_path("models/fashion-cnn"), &bundle, &err) == GLIA_OK, "%s",
                  err.msg);
    ck_assert_msg(glia_dataset_load_fashion(glia_test_fashion_dir(), "test", &bundle.manifest.pre,
                                            MASK_IMAGES, &ds, &err) == GLIA_OK,
                  "%s", err.msg);
    const glia_model *model = bundle.model;
    const size_t size = model->input_size;
    const int masked = (int)(size / 10);
    float lo, hi, probs[16];
    glia_bundle_input_range(&bundle.manifest, &lo, &hi);
    float *scores = malloc(sizeof(float) * size);
    int *order = malloc(sizeof(int) * size);
    glia_rng rng;
    glia_rng_seed(&rng, 17);
    double drop_salient = 0.0, drop_random = 0.0;
    for (size_t i = 0; i < ds.n; i++) {
        const float *x = ds.x + i * size;
        glia_batch b = {.n = 1, .x = x};
        glia_explain_opts o = {.method = GLIA_EXPLAIN_GRADIENT_X_INPUT, .target = -1, .blank = ds.background};
        glia_explanation e = {.probs = probs, .scores = scores};
        ck_assert_int_eq(glia_model_explain(model, &b, &o, &e, &err), GLIA_OK);
        const float p = probs[e.target];
        for (int j = 0; j < (int)size; j++)
            order[j] = j;
        sort_scores = scores;
        qsort(order, size, sizeof *order, cmp_desc);
        drop_salient += p - masked_prob(model, x, size, order, masked, ds.background, e.target);
        glia_rng_shuffle(&rng, (uint32_t *)order, size);
        drop_random += p - masked_prob(model, x, size, order, masked, ds.background, e.target);
    }
    drop_salient /= (double)ds.n;
    drop_random /= (double)ds.n;
    printf("# masking 10%% of pixels on %zu test images: mean drop of the target's probability "
           "%.4f (most salient) vs %.4f (random)\n",
           ds.n, drop_salient, drop_random);
    ck_assert_msg(drop_salient > drop_random, "salient %g vs random %g", drop_salient, drop_random);
    free(scores);
    free(order);
    glia_dataset_free(&ds);
    glia_bundle_free(&bundle);
}
END_TEST

START_TEST(sentiment_integrated_gradients_add_up)
{
    static const char *const texts[] = {
        "The food was great and the staff were lovely.",
        "This phone broke after two days, a total waste of money.",
        "Not bad at all, I would probably watch it again.",
        "The plot was dull and the acting even worse.",
    };
    glia_bundle bundle = {0};
    glia_err err = {0};
    ck_assert_msg(glia_bundle_load(glia_test_path("models/sentiment-lstm"), &bundle, &err) == GLIA_OK, "%s",
                  err.msg);
    const int cap = bundle.manifest.max_tokens;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap), len;
    float *scores = malloc(sizeof(float) * (size_t)cap), probs[8];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n = strlen(texts[i]);
        int steps;
        ck_assert_int_eq(glia_bundle_text_input(&bundle, &texts[i], &n, 1, ids, &len, &steps, NULL, &err),
                         GLIA_OK);
        glia_batch b = {.n = 1, .ids = ids, .lengths = &len, .steps = steps};
        glia_explain_opts o = {.method = GLIA_EXPLAIN_INTEGRATED_GRADIENTS, .target = -1, .steps = 256};
        glia_explanation e = {.probs = probs, .scores = scores};
        ck_assert_int_eq(glia_model_explain(bundle.model, &b, &o, &e, &err), GLIA_OK);
        double sum = 0.0;
        for (int t = 0; t < len; t++)
            sum += scores[t];
        const double gap = (double)e.logit - e.baseline_logit;
        printf("# \"%s\": %d tokens, sum of integrated gradients %.5f, logit - baseline %.5f\n", texts[i],
               len, sum, gap);
        ck_assert_msg(fabs(sum - gap) <= 0.01 * fabs(gap), "sum %g vs %g", sum, gap);
    }
    free(ids);
    free(scores);
    glia_bundle_free(&bundle);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("explain");
    TCase *tc = tcase_create("explain");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, tiny_image_gradient_matches_differences);
    tcase_add_test(tc, conv_input_gradient_matches_differences);
    tcase_add_test(tc, tiny_text_gradient_matches_differences);
    tcase_add_test(tc, refuses_out_of_range);
    tcase_add_test(tc, tiny_translation_alignment);
    tcase_add_test(tc, cnn_masking_salient_pixels_beats_random);
    tcase_add_test(tc, sentiment_integrated_gradients_add_up);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
