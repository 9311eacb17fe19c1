/*
 * test_model.c - core/model/model.h: the one model interface over the three families.
 *
 * The families' own modules have their own gradient, parity and decoding tests; this suite
 * checks what the interface adds: the task table; forward/backward through the table
 * against central differences of the trainer's loss (one logits row per label, whatever
 * the family); replicas (shared values, own gradients equal to the master's on the same
 * batch); a sequence model's predict decoding in groups (a decoder smaller than the batch)
 * gives what one group gives, calls on_done once per input, and keeps every sequence; a
 * served text classifier's inference copies follow glia_model_weights_changed.
 */
#include "core/model/bundle.h"
#include "core/model/model.h"
#include "core/nn/loss.h"
#include "tests/support/check_main.h"
#include "tests/support/tiny_models.h"
#include "tests/support/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { VOCAB = TINY_VOCAB, CLASSES = TINY_CLASSES, BATCH = 3, STEPS = TINY_STEPS, TGT = 4 };

static const char *const tasks[] = {"image-classification", "text-classification", "translation"};

/* A batch of every input kind at once: each family reads its own fields. */
typedef struct {
    float x[BATCH * 9];
    int32_t ids[BATCH * STEPS], lengths[BATCH];
    int32_t tgt[BATCH * TGT], tgt_lengths[BATCH];
    int32_t labels[BATCH * TGT]; /* per row of logits */
    glia_batch b;
} tiny_batch;

static void tiny_batch_fill(tiny_batch *t, glia_rng *rng)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < BATCH * 9; i++)
        t->x[i] = glia_rng_uniform(rng) * 2.0f - 1.0f;
    for (int i = 0; i < BATCH; i++) {
        t->lengths[i] = STEPS - i; /* padded rows */
        t->tgt_lengths[i] = TGT - i % 2;
        for (int s = 0; s < t->lengths[i]; s++)
            t->ids[i * STEPS + s] = 4 + (int32_t)glia_rng_below(rng, VOCAB - 4);
        for (int s = 0; s < t->tgt_lengths[i]; s++)
            t->tgt[i * TGT + s] = s == 0 ? 2 : 4 + (int32_t)glia_rng_below(rng, VOCAB - 4);
    }
    for (int i = 0; i < BATCH * TGT; i++)
        t->labels[i] = (int32_t)glia_rng_below(rng, CLASSES);
    t->b = (glia_batch){.n = BATCH,
                        .x = t->x,
                        .ids = t->ids,
                        .lengths = t->lengths,
                        .steps = STEPS,
                        .tgt = t->tgt,
                        .tgt_lengths = t->tgt_lengths,
                        .tgt_steps = TGT};
}

/* The dropout stream of a training forward (the tiny models have none, but a training
 * ctx draws from it all the same): replayed identically for every call. */
static glia_rng *replayed(void)
{
    static glia_rng rng;
    glia_rng_seed(&rng, 99);
    return &rng;
}

static glia_model *tiny_model(const char *task, int grads)
{
    glia_err err = {0};
    glia_manifest m = tiny_models_manifest(task, 0.0f);
    glia_model *model = NULL;
    ck_assert_msg(glia_model_new(&m, &model, &err) == GLIA_OK, "%s: %s", task, err.msg);
    glia_rng rng;
    glia_rng_seed(&rng, 7);
    model->ops->reset(model, &rng);
    if (grads)
        ck_assert_msg(model->ops->enable_grads(model, &err) == GLIA_OK, "%s", err.msg);
    return model;
}

static glia_model_ctx *training_ctx(const glia_model *model)
{
    glia_err err = {0};
    glia_ctx_spec spec = {.max_batch = BATCH, .max_steps = STEPS, .max_tgt_steps = TGT, .training = 1};
    glia_model_ctx *ctx = NULL;
    ck_assert_msg(model->ops->ctx_new(model, &spec, &ctx, &err) == GLIA_OK, "%s", err.msg);
    return ctx;
}

START_TEST(family_table)
{
    for (int i = 0; i < 3; i++) {
        const glia_model_ops *ops = glia_model_family(tasks[i]);
        ck_assert_ptr_nonnull(ops);
        ck_assert_str_eq(ops->task, tasks[i]);
        ck_assert_ptr_nonnull(strstr(glia_model_tasks(), tasks[i]));
    }
    ck_assert_ptr_null(glia_model_family("speech"));
    ck_assert_ptr_null(glia_model_family(NULL));
    glia_manifest m = tiny_models_manifest("image-classification", 0.0f);
    snprintf(m.task, sizeof m.task, "speech");
    glia_model *model = NULL;
    glia_err err = {0};
    ck_assert_int_eq(glia_model_new(&m, &model, &err), GLIA_EUNSUPPORTED);
    ck_assert_ptr_null(model);
    ck_assert_ptr_nonnull(strstr(err.msg, "speech"));
}
END_TEST

/* ---- gradients through the interface ---- */

typedef struct {
    glia_model *model;
    glia_model_ctx *ctx;
    tiny_batch *t;
} loss_state;

static double interface_loss(void *user)
{
    loss_state *s = user;
    const float *logits = NULL;
    int rows = 0;
    glia_err err = {0};
    ck_assert_msg(s->model->ops->forward(s->model, s->ctx, &s->t->b, replayed(), &logits, &rows, &err) ==
                      GLIA_OK,
                  "%s", err.msg);
    return glia_xent(logits, s->t->labels, rows, s->model->outputs, 0.1f, -1, NULL, NULL);
}

/* A training forward of a fixed batch (into *t), the label-smoothed loss's dlogits (the
 * caller frees them) and zeroed gradients: what a backward pass starts from. */
static float *forward_for_backward(glia_model *model, glia_model_ctx *ctx, tiny_batch *t, int *rows)
{
    glia_rng rng;
    glia_rng_seed(&rng, 11);
    tiny_batch_fill(t, &rng);
    const float *logits = NULL;
    glia_err err = {0};
    ck_assert_int_eq(model->ops->forward(model, ctx, &t->b, replayed(), &logits, rows, &err), GLIA_OK);
    float *dlogits = calloc((size_t)*rows * (size_t)model->outputs, sizeof(float));
    glia_xent(logits, t->labels, *rows, model->outputs, 0.1f, -1, dlogits, NULL);
    glia_model_zero_grads(model);
    return dlogits;
}

START_TEST(gradients_through_interface)
{
    const char *task = tasks[_i];
    glia_model *model = tiny_model(task, 1);
    glia_model_ctx *ctx = training_ctx(model);
    tiny_batch t;
    int rows = 0;
    float *dlogits = forward_for_backward(model, ctx, &t, &rows);
    const int want =
        strcmp(task, "translation") == 0 ? t.tgt_lengths[0] + t.tgt_lengths[1] + t.tgt_lengths[2] : BATCH;
    ck_assert_int_eq(rows, want);
    model->ops->backward(model, ctx, dlogits, NULL);

    loss_state s = {model, ctx, &t};
    gc_opts o = gc_defaults();
    o.step = 3e-3f;
    o.allow_kinks = 1;
    gc_result r = {0};
    /* every 7th coordinate of every trainable parameter */
    for (int p = 0; p < model->ntrainable; p++) {
        const glia_param *prm = &model->trainable[p];
        for (size_t e = (size_t)p % 7; e < prm->size; e += 7)
            gc_check_coordinate(&r, &o, prm->value + e, prm->grad[e], interface_loss, &s, 1, prm->name, e);
    }
    gc_expect(&r, task);
    ck_assert_msg(r.kinks * 10 <= r.checked_params, "%s: %zu kinks of %zu", task, r.kinks, r.checked_params);
    free(dlogits);
    model->ops->ctx_free(ctx);
    glia_model_free(model);
}
END_TEST

/* ---- what a backward pass reports final (data-parallel overlap, core/train/loop.c) ---- */

typedef struct {
    const float *grads;
    size_t size, frontier; /* the reports so far cover [frontier, size) when they come in order */
    float *seen;           /* each float's gradient at the moment it was reported */
    unsigned char *covered;
    int in_order, calls;
} ready_log;

static void log_ready(void *user, size_t offset, size_t count)
{
    ready_log *l = user;
    ck_assert_msg(offset + count <= l->size, "range %zu + %zu beyond %zu", offset, count, l->size);
    for (size_t e = offset; e < offset + count; e++) {
        ck_assert_msg(!l->covered[e], "float %zu reported twice", e);
        l->covered[e] = 1;
        l->seen[e] = l->grads[e];
    }
    if (offset + count == l->frontier)
        l->frontier = offset;
    else
        l->in_order = 0;
    l->calls++;
}

/* Variants beyond the tiny models: 3 a text net with a frozen lexicon and two LSTM layers,
 * 4 an untied translator with two layers a side. */
static glia_model *variant_model(int i)
{
    if (i < 3)
        return tiny_model(tasks[i], 1);
    glia_err err = {0};
    glia_manifest m = tiny_models_manifest(i == 3 ? tasks[1] : tasks[2], 0.0f);
    if (i == 3) {
        m.text.lexicon_features = 2;
        m.text.num_layers = 2;
    } else {
        m.s2s.tie_embeddings = 0;
        m.s2s.num_encoder_layers = m.s2s.num_decoder_layers = 2;
    }
    glia_model *model = NULL;
    ck_assert_msg(glia_model_new(&m, &model, &err) == GLIA_OK, "variant %d: %s", i, err.msg);
    glia_rng rng;
    glia_rng_seed(&rng, 7);
    model->ops->reset(model, &rng);
    ck_assert_msg(model->ops->enable_grads(model, &err) == GLIA_OK, "%s", err.msg);
    return model;
}

/* Every float of the gradient buffer is reported once, from the tail to the head, and what
 * was reported is what the pass ends with: nothing added after (a tied embedding's early
 * report would fail here). */
START_TEST(backward_reports_final_ranges)
{
    glia_model *model = variant_model(_i);
    glia_model_ctx *ctx = training_ctx(model);
    tiny_batch t;
    int rows = 0;
    float *dlogits = forward_for_backward(model, ctx, &t, &rows);
    ready_log l = {model->grads,
                   model->size,
                   model->size,
                   calloc(model->size, sizeof(float)),
                   calloc(model->size, 1),
                   1,
                   0};
    const glia_grad_ready ready = {log_ready, &l, model->grads};
    model->ops->backward(model, ctx, dlogits, &ready);
    for (size_t e = 0; e < model->size; e++)
        ck_assert_msg(l.covered[e], "variant %d: float %zu never reported", _i, e);
    ck_assert_msg(memcmp(l.seen, model->grads, sizeof(float) * model->size) == 0,
                  "variant %d: a range changed after it was reported final", _i);
    ck_assert_msg(l.in_order && l.frontier == 0, "variant %d: the reports do not grow from the tail", _i);
    ck_assert_int_ge(l.calls, 2);
    free(l.seen);
    free(l.covered);
    free(dlogits);
    model->ops->ctx_free(ctx);
    glia_model_free(model);
}
END_TEST

/* ---- replicas ---- */

START_TEST(replica_shares_values_owns_grads)
{
    const char *task = tasks[_i];
    glia_err err = {0};
    glia_model *master = tiny_model(task, 1), *lane = NULL;
    ck_assert_msg(master->ops->replica(master, &lane, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_ptr_eq(lane->values, master->values);
    ck_assert_ptr_nonnull(lane->grads);
    ck_assert_ptr_ne(lane->grads, master->grads);
    ck_assert_uint_eq(lane->size, master->size);
    glia_model_ctx *c1 = training_ctx(master), *c2 = training_ctx(lane);
    glia_rng rng;
    glia_rng_seed(&rng, 5);
    tiny_batch t;
    tiny_batch_fill(&t, &rng);
    glia_model *both[2] = {master, lane};
    glia_model_ctx *ctxs[2] = {c1, c2};
    for (int k = 0; k < 2; k++) {
        const float *logits = NULL;
        int rows = 0;
        ck_assert_int_eq(both[k]->ops->forward(both[k], ctxs[k], &t.b, replayed(), &logits, &rows, &err),
                         GLIA_OK);
        float *d = calloc((size_t)rows * (size_t)both[k]->outputs, sizeof(float));
        glia_xent(logits, t.labels, rows, both[k]->outputs, 0.0f, -1, d, NULL);
        glia_model_zero_grads(both[k]);
        both[k]->ops->backward(both[k], ctxs[k], d, NULL);
        free(d);
    }
    double norm = 0.0;
    for (size_t e = 0; e < master->size; e++) {
        ck_assert_msg(master->grads[e] == lane->grads[e], "%s: gradient %zu differs", task, e);
        norm += fabs(master->grads[e]);
    }
    ck_assert(norm > 0.0);
    master->ops->ctx_free(c1);
    lane->ops->ctx_free(c2);
    glia_model_free(lane); /* before its master */
    glia_model_free(master);
}
END_TEST

/* ---- a sequence model decoding in groups ---- */

typedef struct {
    int calls[8];
} done_log;

static void log_done(void *user, int i, const glia_sequence *seq)
{
    done_log *l = user;
    ck_assert_int_ge(i, 0);
    ck_assert_int_lt(i, 8);
    ck_assert_int_ge(seq->n, 0);
    l->calls[i]++;
}

/* Decodes with a ctx of `rows` decoder rows; the sequences' ids are copied to kept before
 * the ctx goes. */
static void decode(glia_model *model, int rows, int beam, const int32_t *ids, const int32_t *lengths, int n,
                   glia_sequence *seqs, int32_t (*kept)[16], done_log *log)
{
    glia_err err = {0};
    glia_ctx_spec spec = {.max_batch = rows, .max_steps = STEPS, .max_beam = 4};
    glia_model_ctx *ctx = NULL;
    ck_assert_msg(model->ops->ctx_new(model, &spec, &ctx, &err) == GLIA_OK, "%s", err.msg);
    glia_batch b = {.n = n, .ids = ids, .lengths = lengths, .steps = STEPS};
    b.decode = (glia_decode_opts){beam, 6, 0.6f, 0};
    glia_prediction out = {.seqs = seqs, .on_done = log_done, .user = log};
    ck_assert_msg(model->ops->predict(model, ctx, &b, &out, &err) == GLIA_OK, "%s", err.msg);
    for (int i = 0; i < n; i++)
        memcpy(kept[i], seqs[i].ids, sizeof(int32_t) * (size_t)seqs[i].n);
    model->ops->ctx_free(ctx);
}

START_TEST(sequence_predict_in_groups)
{
    glia_model *model = tiny_model("translation", 0);
    enum { N = 5 };
    int32_t ids[N * STEPS] = {0}, lengths[N];
    glia_rng rng;
    glia_rng_seed(&rng, 3);
    for (int i = 0; i < N; i++) {
        lengths[i] = 2 + i % 3;
        for (int s = 0; s < lengths[i]; s++)
            ids[i * STEPS + s] = s == lengths[i] - 1 ? 3 : 4 + (int32_t)glia_rng_below(&rng, VOCAB - 4);
    }
    for (int beam = 1; beam <= 2; beam++) {
        glia_sequence whole[N], groups[N];
        int32_t whole_ids[N][16], group_ids[N][16];
        done_log a = {{0}}, b = {{0}};
        glia_err err = {0};
        glia_ctx_spec spec = {.max_batch = 64, .max_steps = STEPS, .max_beam = 4};
        glia_model_ctx *ctx = NULL;
        ck_assert_int_eq(model->ops->ctx_new(model, &spec, &ctx, &err), GLIA_OK);
        glia_batch bt = {.n = N, .ids = ids, .lengths = lengths, .steps = STEPS};
        bt.decode = (glia_decode_opts){beam, 6, 0.6f, 0};
        glia_prediction out = {.seqs = whole, .on_done = log_done, .user = &a};
        ck_assert_int_eq(model->ops->predict(model, ctx, &bt, &out, &err), GLIA_OK);
        for (int i = 0; i < N; i++)
            memcpy(whole_ids[i], whole[i].ids, sizeof(int32_t) * (size_t)whole[i].n);
        model->ops->ctx_free(ctx);
        /* 2 decoder rows: groups of 2 inputs (greedy) or 1 (beam 2) */
        decode(model, 2, beam, ids, lengths, N, groups, group_ids, &b);
        for (int i = 0; i < N; i++) {
            ck_assert_int_eq(a.calls[i], 1);
            ck_assert_int_eq(b.calls[i], 1);
            ck_assert_int_eq(groups[i].n, whole[i].n);
            ck_assert_int_eq(groups[i].finished, whole[i].finished);
            /* every group's sequences were kept while later groups decoded */
            ck_assert(memcmp(group_ids[i], whole_ids[i], sizeof(int32_t) * (size_t)whole[i].n) == 0);
            ck_assert(fabs(groups[i].score - whole[i].score) < 1e-4);
        }
    }
    /* a beam larger than the ctx allows is refused, not overflowed */
    glia_err err = {0};
    glia_ctx_spec spec = {.max_batch = 8, .max_steps = STEPS, .max_beam = 2};
    glia_model_ctx *ctx = NULL;
    ck_assert_int_eq(model->ops->ctx_new(model, &spec, &ctx, &err), GLIA_OK);
    glia_sequence seqs[N];
    glia_batch bt = {.n = N, .ids = ids, .lengths = lengths, .steps = STEPS};
    bt.decode = (glia_decode_opts){3, 6, 0.6f, 0};
    glia_prediction out = {.seqs = seqs};
    ck_assert_int_eq(model->ops->predict(model, ctx, &bt, &out, &err), GLIA_EINVAL);
    model->ops->ctx_free(ctx);
    glia_model_free(model);
}
END_TEST

/* The logits of two sentences through model's predict (copied into out [2, outputs]). */
static void predict_two(const glia_model *model, float *out)
{
    glia_err err = {0};
    const int32_t ids[2 * 5] = {5, 17, 230, 9, 41, 77, 8, 1200, 3, 0}, lengths[2] = {5, 4};
    glia_ctx_spec spec = {.max_batch = 2, .max_steps = 5};
    glia_model_ctx *ctx = NULL;
    ck_assert_msg(model->ops->ctx_new(model, &spec, &ctx, &err) == GLIA_OK, "%s", err.msg);
    glia_batch bt = {.n = 2, .ids = ids, .lengths = lengths, .steps = 5};
    glia_prediction p = {0};
    ck_assert_msg(model->ops->predict(model, ctx, &bt, &p, &err) == GLIA_OK, "%s", err.msg);
    memcpy(out, p.logits, sizeof(float) * 2 * (size_t)model->outputs);
    model->ops->ctx_free(ctx);
}

/* A text classifier served in fp32 (glia_model_set_precision made its inference copies: the
 * token table, the LSTM's transposed weights) whose values are written and the write announced
 * (glia_model_weights_changed) predicts what the same bundle predicts when its copies are made
 * from those values, not what it predicted before. */
START_TEST(text_copies_follow_weights_changed)
{
    glia_bundle a, b;
    glia_err err = {0};
    const char *dir = glia_test_path("models/sentiment-lstm");
    ck_assert_msg(glia_bundle_load(dir, &a, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_bundle_load(dir, &b, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(glia_model_set_precision(a.model, GLIA_PRECISION_FP32, &err), GLIA_OK);
    float before[2 * 8], got[2 * 8], want[2 * 8];
    ck_assert_int_le(a.model->outputs, 8);
    const size_t n = 2 * (size_t)a.model->outputs;
    predict_two(a.model, before);
    for (size_t i = 0; i < a.model->size; i++) { /* every tensor: the embedding, the LSTM, fc */
        a.model->values[i] = -0.5f * a.model->values[i] + 0.01f;
        b.model->values[i] = a.model->values[i];
    }
    glia_model_weights_changed(a.model);
    ck_assert_int_eq(glia_model_set_precision(b.model, GLIA_PRECISION_FP32, &err), GLIA_OK);
    predict_two(a.model, got);
    predict_two(b.model, want);
    double same = 0.0, moved = 0.0;
    for (size_t i = 0; i < n; i++) {
        same = fmax(same, fabs((double)got[i] - want[i]));
        moved = fmax(moved, fabs((double)got[i] - before[i]));
    }
    ck_assert_msg(same <= 1e-6, "written and announced: %g from the copies made from the new values", same);
    ck_assert_msg(moved > 1e-2, "the new values predict as the old (%g apart)", moved);
    glia_bundle_free(&a);
    glia_bundle_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, family_table);
    tcase_add_loop_test(tc, gradients_through_interface, 0, 3);
    tcase_add_loop_test(tc, backward_reports_final_ranges, 0, 5);
    tcase_add_loop_test(tc, replica_shares_values_owns_grads, 0, 3);
    tcase_add_test(tc, sequence_predict_in_groups);
    tcase_add_test(tc, text_copies_follow_weights_changed);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
