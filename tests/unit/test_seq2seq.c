/*
 * test_seq2seq.c - core/nn/seq2seq: the translation model around the Transformer stacks.
 *
 * Gradients: every parameter coordinate of a tiny model (tied and untied generator, post-
 * and pre-norm, dropout replayed by re-seeding) against central differences of the label-
 * smoothed cross-entropy the trainer uses, over a padded batch. ReLUs make kinks possible:
 * a coordinate that fails at step 3e-3 is tried again at 1e-3 and 3e-4 (a kink that close
 * is then not crossed, or a one-sided difference agrees and it is counted as a kink); at
 * most 10 % of the coordinates may need that.
 *
 * Decoding: greedy search with the key/value cache equals greedy search that re-runs the
 * whole decoder on the prefix at every step (no cache); beam size 1 equals greedy; beam
 * search's reported score equals the length-penalised log-probability of its output scored
 * again by teacher forcing; a batch gives every input what it gets alone.
 *
 * Learning: a tiny model trained with Adam reproduces four pairs exactly (greedy).
 */
#include "core/formats/safetensors.h"
#include "core/nn/loss.h"
#include "core/nn/panel.h"
#include "core/nn/seq2seq.h"
#include "core/train/optim.h"
#include "tests/support/check_main.h"
#include "tests/support/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static glia_s2s_config tiny_config(int tie, int norm_first, float dropout)
{
    glia_s2s_config c = {.vocab_size = 13,
                         .d_model = 8,
                         .nhead = 2,
                         .dim_feedforward = 12,
                         .num_encoder_layers = 1,
                         .num_decoder_layers = 2,
                         .dropout = dropout,
                         .layer_norm_eps = 1e-5f,
                         .norm_first = norm_first,
                         .tie_embeddings = tie,
                         .max_positions = 16};
    return c;
}

static glia_s2s *tiny_model(const glia_s2s_config *c, unsigned seed)
{
    glia_s2s *m = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_s2s_new(c, &m, &err) == GLIA_OK, "%s", err.msg);
    glia_rng rng;
    glia_rng_seed(&rng, seed);
    glia_s2s_reset(m, &rng);
    /* bigger weights than the init so that attention and the generator are far from uniform */
    for (size_t i = 0; i < m->size; i++)
        m->values[i] *= 1.5f;
    return m;
}

/* ---- gradients ---- */

enum { B = 3, S = 5, T = 4 };
static const int32_t SRC[B * S] = {4, 5, 6, 7, 3, 8, 3, 0, 0, 0, 9, 10, 11, 3, 0};
static const int32_t SRC_LEN[B] = {5, 2, 4};
static const int32_t TGT[B * T] = {2, 5, 12, 6, 2, 7, 0, 0, 2, 0, 0, 0};
static const int32_t TGT_LEN[B] = {4, 2, 1};

typedef struct {
    glia_s2s *m;
    glia_s2s_ctx *ctx;
    int32_t labels[B * T];
    float *dlogits;
    unsigned seed;
} gcase;

static double case_loss(void *state)
{
    gcase *c = state;
    glia_err err = {0};
    glia_rng rng;
    glia_rng_seed(&rng, c->seed);
    const float *logits = NULL;
    int rows = 0;
    ck_assert(glia_s2s_forward(c->m, c->ctx, SRC, SRC_LEN, S, TGT, TGT_LEN, T, B, &rng, &logits, &rows,
                               &err) == GLIA_OK);
    return glia_xent(logits, c->labels, rows, c->m->cfg.vocab_size, 0.1f, -1, c->dlogits, NULL) * rows;
}

static void gradient_case(int tie, int norm_first, float dropout)
{
    glia_s2s_config cfg = tiny_config(tie, norm_first, dropout);
    gcase c = {.m = tiny_model(&cfg, 7), .seed = 99};
    glia_err err = {0};
    ck_assert(glia_s2s_enable_grads(c.m, &err) == GLIA_OK);
    ck_assert(glia_s2s_ctx_new(c.m, B, S, T, 0, 1, &c.ctx, &err) == GLIA_OK);
    /* labels: the target shifted left, </s> last */
    int r = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < TGT_LEN[b]; t++)
            c.labels[r++] = t + 1 < TGT_LEN[b] ? TGT[b * T + t + 1] : GLIA_S2S_EOS;
    c.dlogits = calloc((size_t)r * (size_t)cfg.vocab_size, sizeof(float));
    double loss = case_loss(&c);
    ck_assert(isfinite(loss));
    for (int i = 0; i < r * cfg.vocab_size; i++)
        c.dlogits[i] *= (float)r; /* the loss above is the sum, glia_xent's gradient is of the mean */
    glia_s2s_zero_grads(c.m);
    glia_s2s_backward(c.m, c.ctx, c.dlogits, NULL);
    float *g = malloc(sizeof(float) * c.m->size);
    memcpy(g, c.m->grads, sizeof(float) * c.m->size);
    /* step 3e-3; a coordinate that fails (or looks like a kink) is tried again at 1e-3 and
     * 3e-4, where a ReLU kink close to the point is no longer crossed (see the header) */
    static const float steps[] = {3e-3f, 1e-3f, 3e-4f};
    gc_opts o = gc_defaults();
    o.allow_kinks = 1;
    gc_result res = {0};
    size_t at = 0, retried = 0;
    for (int p = 0; p < c.m->nparams; p++) {
        const glia_param *pp = &c.m->params[p];
        for (size_t i = 0; i < pp->size; i++) {
            const double analytic = g[(size_t)(pp->value - c.m->values) + i];
            gc_result one = {0}, best = {0};
            for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
                memset(&one, 0, sizeof one);
                o.step = steps[k];
                gc_check_coordinate(&one, &o, pp->value + i, analytic, case_loss, &c, 1, pp->name, i);
                if (k == 0 || one.failed + one.kinks < best.failed + best.kinks ||
                    (one.failed + one.kinks == best.failed + best.kinks && one.worst < best.worst))
                    best = one; /* the step that agrees best: smaller steps trade kinks for rounding */
                if (one.failed == 0 && one.kinks == 0)
                    break;
                retried += k == 0;
            }
            one = best;
            res.checked_params++;
            res.failed += one.failed;
            res.kinks += one.kinks;
            if (one.worst > res.worst) {
                res.worst = one.worst;
                res.worst_analytic = one.worst_analytic;
                res.worst_numeric = one.worst_numeric;
                memcpy(res.worst_at, one.worst_at, sizeof res.worst_at);
            }
        }
        at += pp->size;
    }
    ck_assert_uint_eq(at, c.m->size);
    ck_assert_msg(retried * 10 <= res.checked_params, "%zu of %zu coordinates needed a smaller step", retried,
                  res.checked_params);
    gc_expect(&res, tie ? "tied seq2seq" : "untied seq2seq");
    /* the padding row of the embedding learns nothing from the inputs (a tied generator still
     * trains it as the weights of the <pad> logit, as in PyTorch) */
    for (int e = 0; !tie && e < cfg.d_model; e++)
        ck_assert_float_eq(g[e], 0.0f);
    free(g);
    free(c.dlogits);
    glia_s2s_ctx_free(c.ctx);
    glia_s2s_free(c.m);
}

START_TEST(gradients_tied_post_norm)
{
    gradient_case(1, 0, 0.0f);
}
END_TEST

START_TEST(gradients_untied_pre_norm_dropout)
{
    gradient_case(0, 1, 0.2f);
}
END_TEST

START_TEST(names_and_strict_load)
{
    glia_s2s_config cfg = tiny_config(1, 0, 0.0f);
    glia_s2s *m = tiny_model(&cfg, 3), *m2 = NULL;
    glia_err err = {0};
    ck_assert_str_eq(m->params[0].name, "embedding.weight");
    ck_assert_str_eq(m->params[1].name, "transformer.encoder.layers.0.self_attn.in_proj_weight");
    ck_assert_str_eq(m->params[m->nparams - 1].name, "generator.bias");
    ck_assert_ptr_null(glia_s2s_find_param(m, "generator.weight"));
    ck_assert_ptr_nonnull(
        glia_s2s_find_param(m, "transformer.decoder.layers.1.multihead_attn.out_proj.bias"));
    ck_assert_ptr_nonnull(glia_s2s_find_param(m, "transformer.decoder.norm.weight"));
    char path[] = "/tmp/glia_s2s_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_msg(glia_s2s_save(m, path, NULL, &err) == GLIA_OK, "%s", err.msg);
    ck_assert(glia_s2s_new(&cfg, &m2, &err) == GLIA_OK);
    glia_st_file *st = NULL;
    ck_assert(glia_st_open(path, &st, &err) == GLIA_OK);
    ck_assert_msg(glia_s2s_load(m2, st, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(m->values, m2->values, sizeof(float) * m->size), 0);
    glia_st_close(st);
    /* an untied model needs generator.weight: the tied file lacks it */
    glia_s2s_config un = tiny_config(0, 0, 0.0f);
    glia_s2s *m3 = NULL;
    ck_assert(glia_s2s_new(&un, &m3, &err) == GLIA_OK);
    ck_assert(glia_st_open(path, &st, &err) == GLIA_OK);
    ck_assert_int_eq(glia_s2s_load(m3, st, &err), GLIA_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "generator.weight"));
    glia_st_close(st);
    unlink(path);
    glia_s2s_free(m);
    glia_s2s_free(m2);
    glia_s2s_free(m3);
}
END_TEST

/* ---- decoding ---- */

/* Greedy without a cache: the whole prefix through the teacher-forced forward per step. */
static int greedy_nocache(const glia_s2s *m, const int32_t *src, int slen, int max_tokens, int32_t *ids)
{
    glia_s2s_ctx *ctx = NULL;
    glia_err err = {0};
    const int V = m->cfg.vocab_size;
    ck_assert(glia_s2s_ctx_new(m, 1, slen, max_tokens + 1, 0, 0, &ctx, &err) == GLIA_OK);
    int32_t prefix[64] = {GLIA_S2S_BOS};
    int n = 0;
    for (; n < max_tokens; n++) {
        const float *logits = NULL;
        int rows = 0, tl = n + 1;
        ck_assert(glia_s2s_forward(m, ctx, src, &slen, slen, prefix, &tl, tl, 1, NULL, &logits, &rows,
                                   &err) == GLIA_OK);
        const float *z = logits + (size_t)n * (size_t)V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (z[v] > z[best])
                best = v;
        if (best == GLIA_S2S_EOS)
            break;
        ids[n] = best;
        prefix[n + 1] = best;
    }
    glia_s2s_ctx_free(ctx);
    return n;
}

/* log P(ids </s> | src) by teacher forcing. */
static double score_of(const glia_s2s *m, const int32_t *src, int slen, const int32_t *ids, int n)
{
    glia_s2s_ctx *ctx = NULL;
    glia_err err = {0};
    const int V = m->cfg.vocab_size;
    ck_assert(glia_s2s_ctx_new(m, 1, slen, n + 1, 0, 0, &ctx, &err) == GLIA_OK);
    int32_t tgt[64] = {GLIA_S2S_BOS};
    memcpy(tgt + 1, ids, sizeof(int32_t) * (size_t)n);
    const float *logits = NULL;
    int rows = 0, tl = n + 1;
    ck_assert(glia_s2s_forward(m, ctx, src, &slen, slen, tgt, &tl, tl, 1, NULL, &logits, &rows, &err) ==
              GLIA_OK);
    double s = 0.0;
    for (int t = 0; t <= n; t++) {
        const float *z = logits + (size_t)t * (size_t)V;
        double mx = z[0], sum = 0.0;
        for (int v = 1; v < V; v++)
            mx = z[v] > mx ? z[v] : mx;
        for (int v = 0; v < V; v++)
            sum += exp(z[v] - mx);
        int y = t < n ? ids[t] : GLIA_S2S_EOS;
        s += z[y] - mx - log(sum);
    }
    glia_s2s_ctx_free(ctx);
    return s;
}

/* Output o of a cached greedy search with max_tokens 10 equals the uncached search of its
 * source (ref, 16 ids), ends as it does, and scores log P of its ids and </s>; returns its length. */
static int check_greedy(const glia_s2s *m, const glia_s2s_output *o, const int32_t *src, int slen,
                        int32_t *ref)
{
    const int n = greedy_nocache(m, src, slen, 10, ref);
    ck_assert_int_eq(o->n, n);
    for (int t = 0; t < n; t++)
        ck_assert_int_eq(o->ids[t], ref[t]);
    ck_assert_int_eq(o->finished, n < 10);
    if (o->finished)
        ck_assert_double_eq_tol(o->score, score_of(m, src, slen, ref, n), 1e-4);
    return n;
}

enum { N_IN = 4, S_IN = 6 };
static const int32_t IN[N_IN * S_IN] = {4, 5, 6,  3,  0,  0, 7, 3, 0, 0, 0, 0,
                                        8, 9, 10, 11, 12, 3, 5, 5, 3, 0, 0, 0};
static const int32_t IN_LEN[N_IN] = {4, 2, 6, 3};

START_TEST(cached_greedy_equals_recomputation_and_beam1)
{
    for (int tie = 0; tie < 2; tie++) {
        glia_s2s_config cfg = tiny_config(tie, tie, 0.1f);
        glia_s2s *m = tiny_model(&cfg, 11 + (unsigned)tie);
        glia_s2s_dec *d = NULL;
        glia_err err = {0};
        /* the second model prepared (glia_s2s_prepare): its steps read panels at any row count */
        ck_assert_msg(glia_s2s_prepare(m, tie, &err) == GLIA_OK, "%s", err.msg);
        ck_assert_int_eq(m->gen_panels != NULL, tie && glia_panel_available());
        ck_assert(glia_s2s_dec_new(m, N_IN, S_IN, 4, &d, &err) == GLIA_OK);
        glia_s2s_search opts = glia_s2s_search_defaults();
        opts.max_tokens = 10;
        glia_s2s_output out[N_IN];
        ck_assert_msg(glia_s2s_translate(m, d, IN, IN_LEN, N_IN, S_IN, &opts, out, &err) == GLIA_OK, "%s",
                      err.msg);
        int32_t greedy_ids[N_IN][16];
        int greedy_n[N_IN];
        int total = 0;
        for (int i = 0; i < N_IN; i++) {
            int32_t ref[16];
            const int n = check_greedy(m, &out[i], IN + i * S_IN, IN_LEN[i], ref);
            memcpy(greedy_ids[i], ref, sizeof ref);
            greedy_n[i] = n;
            total += n;
        }
        ck_assert_int_gt(total, 0);
        /* beam 1 == greedy, in a batch */
        opts.beam_size = 1;
        opts.length_penalty = 0.6f;
        ck_assert(glia_s2s_translate(m, d, IN, IN_LEN, N_IN, S_IN, &opts, out, &err) == GLIA_OK);
        for (int i = 0; i < N_IN; i++) {
            ck_assert_int_eq(out[i].n, greedy_n[i]);
            ck_assert_int_eq(memcmp(out[i].ids, greedy_ids[i], sizeof(int32_t) * (size_t)greedy_n[i]), 0);
        }
        glia_s2s_dec_free(d);
        glia_s2s_free(m);
    }
}
END_TEST

/* A batch of short and long sources, which start() encodes in two groups (one padded
 * batch would be 12 x 16 rows for 102 valid ones), decoded greedily with 12 rows (the step's
 * products on packed panels) and with a beam of 2: every output equals the uncached greedy
 * search of its source alone, and its score the teacher-forced log-probability. */
START_TEST(grouped_sources_and_panel_steps_match_each_input_alone)
{
    enum { N = 12, SMAX = 16 };
    glia_s2s_config cfg = tiny_config(1, 1, 0.0f);
    glia_s2s *m = tiny_model(&cfg, 23);
    int32_t src[N * SMAX] = {0}, len[N];
    for (int i = 0; i < N; i++) {
        len[i] = i % 2 ? 15 + i % 3 / 2 : 1 + i % 3;
        for (int t = 0; t < len[i] - 1; t++)
            src[i * SMAX + t] = 4 + (i * 7 + t * 3) % 9;
        src[i * SMAX + len[i] - 1] = GLIA_S2S_EOS;
    }
    glia_s2s_dec *d = NULL;
    glia_err err = {0};
    ck_assert(glia_s2s_dec_new(m, N, SMAX, 2, &d, &err) == GLIA_OK);
    glia_s2s_search opts = glia_s2s_search_defaults();
    opts.max_tokens = 10;
    glia_s2s_output out[N];
    ck_assert_msg(glia_s2s_translate(m, d, src, len, N, SMAX, &opts, out, &err) == GLIA_OK, "%s", err.msg);
    int total = 0;
    for (int i = 0; i < N; i++) {
        int32_t ref[16];
        total += check_greedy(m, &out[i], src + i * SMAX, len[i], ref);
    }
    ck_assert_int_gt(total, 0);
    opts.beam_size = 2;
    opts.length_penalty = 0.0f;
    ck_assert(glia_s2s_translate(m, d, src, len, N, SMAX, &opts, out, &err) == GLIA_OK);
    for (int i = 0; i < N; i++)
        ck_assert_double_eq_tol(out[i].score, score_of(m, src + i * SMAX, len[i], out[i].ids, out[i].n),
                                1e-4);
    glia_s2s_dec_free(d);
    glia_s2s_free(m);
}
END_TEST

/* Does ids[0..n) hold some n-gram of size g twice? */
static int repeats_ngram(const int32_t *ids, int n, int g)
{
    for (int a = 0; a + g <= n; a++)
        for (int b = a + 1; b + g <= n; b++)
            if (memcmp(ids + a, ids + b, sizeof(int32_t) * (size_t)g) == 0)
                return 1;
    return 0;
}

START_TEST(no_repeat_ngram_guard)
{
    glia_s2s_config cfg = tiny_config(1, 0, 0.0f);
    glia_s2s *m = tiny_model(&cfg, 5);
    glia_s2s_dec *d = NULL;
    glia_err err = {0};
    glia_s2s_output out[N_IN];
    ck_assert(glia_s2s_dec_new(m, N_IN, S_IN, 3, &d, &err) == GLIA_OK);
    for (int k = 1; k <= 3; k += 2) {
        /* unguarded, the random model repeats itself: otherwise this test could not fail */
        glia_s2s_search opts = {k, 20, 0.6f, 0};
        ck_assert(glia_s2s_translate(m, d, IN, IN_LEN, N_IN, S_IN, &opts, out, &err) == GLIA_OK);
        int32_t plain[N_IN][24];
        int plain_n[N_IN], repeated = 0;
        for (int i = 0; i < N_IN; i++) {
            plain_n[i] = out[i].n;
            memcpy(plain[i], out[i].ids, sizeof(int32_t) * (size_t)out[i].n);
            repeated += repeats_ngram(out[i].ids, out[i].n, 2);
        }
        ck_assert_msg(repeated > 0, "beam %d: no unguarded output repeats a bigram", k);
        for (int g = 1; g <= 3; g++) {
            opts.no_repeat_ngram = g;
            ck_assert_msg(glia_s2s_translate(m, d, IN, IN_LEN, N_IN, S_IN, &opts, out, &err) == GLIA_OK, "%s",
                          err.msg);
            for (int i = 0; i < N_IN; i++)
                ck_assert_msg(!repeats_ngram(out[i].ids, out[i].n, g), "beam %d, n %d: input %d repeats", k,
                              g, i);
        }
        /* a guard longer than every output never fires: the unguarded outputs at that cap */
        opts.no_repeat_ngram = 0;
        opts.max_tokens = GLIA_S2S_MAX_NGRAM - 1;
        ck_assert(glia_s2s_translate(m, d, IN, IN_LEN, N_IN, S_IN, &opts, out, &err) == GLIA_OK);
        for (int i = 0; i < N_IN; i++) {
            plain_n[i] = out[i].n;
            memcpy(plain[i], out[i].ids, sizeof(int32_t) * (size_t)out[i].n);
        }
        opts.no_repeat_ngram = GLIA_S2S_MAX_NGRAM;
        ck_assert(glia_s2s_translate(m, d, IN, IN_LEN, N_IN, S_IN, &opts, out, &err) == GLIA_OK);
        for (int i = 0; i < N_IN; i++) {
            ck_assert_int_eq(out[i].n, plain_n[i]);
            ck_assert_int_eq(memcmp(out[i].ids, plain[i], sizeof(int32_t) * (size_t)plain_n[i]), 0);
        }
    }
    glia_s2s_search bad = {1, 9, 0.6f, GLIA_S2S_MAX_NGRAM + 1};
    ck_assert_int_eq(glia_s2s_translate(m, d, IN, IN_LEN, N_IN, S_IN, &bad, out, &err), GLIA_EINVAL);
    bad.no_repeat_ngram = -1;
    ck_assert_int_eq(glia_s2s_translate(m, d, IN, IN_LEN, N_IN, S_IN, &bad, out, &err), GLIA_EINVAL);
    glia_s2s_dec_free(d);
    glia_s2s_free(m);
}
END_TEST

START_TEST(beam_scores_and_batch_independence)
{
    glia_s2s_config cfg = tiny_config(1, 0, 0.0f);
    glia_s2s *m = tiny_model(&cfg, 5);
    glia_s2s_dec *d = NULL;
    glia_err err = {0};
    ck_assert(glia_s2s_dec_new(m, N_IN, S_IN, 4, &d, &err) == GLIA_OK);
    /* unprepared, then prepared (glia_s2s_prepare: panels at any row count), which must agree */
    int32_t first[3][N_IN][16];
    for (int pass = 0; pass < 6; pass++) {
        const int k = 2 + pass % 3;
        if (pass == 3)
            ck_assert_msg(glia_s2s_prepare(m, 1, &err) == GLIA_OK, "%s", err.msg);
        glia_s2s_search opts = {k, 9, 0.6f, 0};
        glia_s2s_output out[N_IN];
        ck_assert_msg(glia_s2s_translate(m, d, IN, IN_LEN, N_IN, S_IN, &opts, out, &err) == GLIA_OK, "%s",
                      err.msg);
        int32_t ids[N_IN][16];
        int n[N_IN];
        double score[N_IN];
        for (int i = 0; i < N_IN; i++) {
            n[i] = out[i].n;
            score[i] = out[i].score;
            memcpy(ids[i], out[i].ids, sizeof(int32_t) * (size_t)n[i]);
            if (pass < 3)
                memcpy(first[pass][i], ids[i], sizeof ids[i]);
            else
                ck_assert_int_eq(memcmp(first[pass - 3][i], ids[i], sizeof(int32_t) * (size_t)n[i]), 0);
            ck_assert_int_le(n[i], 9);
            double lp = pow((5.0 + n[i] + 1) / 6.0, 0.6);
            ck_assert_double_eq_tol(score[i] * lp, score_of(m, IN + i * S_IN, IN_LEN[i], ids[i], n[i]), 1e-4);
        }
        /* each input alone gives the same */
        for (int i = 0; i < N_IN; i++) {
            glia_s2s_output one;
            ck_assert(glia_s2s_translate(m, d, IN + i * S_IN, IN_LEN + i, 1, S_IN, &opts, &one, &err) ==
                      GLIA_OK);
            ck_assert_int_eq(one.n, n[i]);
            ck_assert_int_eq(memcmp(one.ids, ids[i], sizeof(int32_t) * (size_t)n[i]), 0);
            ck_assert_double_eq_tol(one.score, score[i], 1e-5);
        }
    }
    /* bad options are errors, not crashes */
    glia_s2s_search bad = {5, 9, 0.6f, 0};
    glia_s2s_output out[N_IN];
    ck_assert_int_eq(glia_s2s_translate(m, d, IN, IN_LEN, N_IN, S_IN, &bad, out, &err), GLIA_EINVAL);
    bad = (glia_s2s_search){1, 0, 0.6f, 0};
    ck_assert_int_eq(glia_s2s_translate(m, d, IN, IN_LEN, N_IN, S_IN, &bad, out, &err), GLIA_EINVAL);
    glia_s2s_dec_free(d);
    glia_s2s_free(m);
}
END_TEST

/* ---- answering inputs as they finish ---- */

typedef struct {
    int calls[N_IN], order[N_IN], n;
    int32_t ids[N_IN][16];
    int len[N_IN];
} cb_log;

static void on_done(void *user, int i, const glia_s2s_output *out)
{
    cb_log *l = user;
    ck_assert(i >= 0 && i < N_IN);
    l->calls[i]++;
    l->order[l->n++] = i;
    l->len[i] = out->n;
    memcpy(l->ids[i], out->ids, sizeof(int32_t) * (size_t)out->n);
}

START_TEST(each_input_is_reported_once_when_decided)
{
    glia_s2s_config cfg = tiny_config(1, 0, 0.0f);
    glia_s2s *m = tiny_model(&cfg, 5);
    glia_s2s_dec *d = NULL;
    glia_err err = {0};
    ck_assert(glia_s2s_dec_new(m, N_IN, S_IN, 3, &d, &err) == GLIA_OK);
    for (int k = 1; k <= 3; k += 2) {
        glia_s2s_search opts = {k, 9, 0.6f, 0};
        glia_s2s_output out[N_IN];
        cb_log l = {0};
        ck_assert(glia_s2s_translate_cb(m, d, IN, IN_LEN, N_IN, S_IN, &opts, out, on_done, &l, &err) ==
                  GLIA_OK);
        ck_assert_int_eq(l.n, N_IN);
        for (int i = 0; i < N_IN; i++) {
            ck_assert_int_eq(l.calls[i], 1);
            /* what the callback saw is the final answer */
            ck_assert_int_eq(l.len[i], out[i].n);
            ck_assert_int_eq(memcmp(l.ids[i], out[i].ids, sizeof(int32_t) * (size_t)out[i].n), 0);
        }
        /* greedy reports inputs as their rows stop: shorter outputs first (a beam input ends
         * when beam_size hypotheses have, which need not follow its best one's length) */
        for (int j = 1; k == 1 && j < N_IN; j++)
            ck_assert_int_le(out[l.order[j - 1]].n, out[l.order[j]].n);
    }
    glia_s2s_dec_free(d);
    glia_s2s_free(m);
}
END_TEST

/* A prepared model's panels follow load and reset: after either, it translates as an
 * unprepared model holding the same weights (stale panels would decode the old weights). */
START_TEST(prepared_panels_follow_load_and_reset)
{
    glia_s2s_config cfg = tiny_config(1, 0, 0.0f);
    glia_s2s *a = tiny_model(&cfg, 5), *b = tiny_model(&cfg, 9);
    glia_s2s_dec *da = NULL, *db = NULL;
    glia_st_file *st = NULL;
    glia_err err = {0};
    char dir[256], path[300];
    glia_test_mkdtemp(dir, sizeof dir, "s2s-prepare");
    snprintf(path, sizeof path, "%s/b.safetensors", dir);
    ck_assert_msg(glia_s2s_save(b, path, NULL, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_s2s_prepare(a, 1, &err) == GLIA_OK, "%s", err.msg);
    ck_assert(glia_s2s_dec_new(a, N_IN, S_IN, 4, &da, &err) == GLIA_OK);
    ck_assert(glia_s2s_dec_new(b, N_IN, S_IN, 4, &db, &err) == GLIA_OK);
    ck_assert_msg(glia_st_open(path, &st, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_s2s_load(a, st, &err) == GLIA_OK, "%s", err.msg);
    for (int round = 0; round < 2; round++) {
        if (round == 1) { /* both reset from one seed: b's scaled weights are gone too */
            glia_rng r1, r2;
            glia_rng_seed(&r1, 11);
            glia_rng_seed(&r2, 11);
            glia_s2s_reset(a, &r1);
            glia_s2s_reset(b, &r2);
        }
        for (int k = 1; k <= 4; k += 3) {
            glia_s2s_search opts = {k, 9, 0.6f, 0};
            glia_s2s_output oa[N_IN], ob[N_IN];
            ck_assert(glia_s2s_translate(a, da, IN, IN_LEN, N_IN, S_IN, &opts, oa, &err) == GLIA_OK);
            ck_assert(glia_s2s_translate(b, db, IN, IN_LEN, N_IN, S_IN, &opts, ob, &err) == GLIA_OK);
            for (int i = 0; i < N_IN; i++) {
                ck_assert_msg(oa[i].n == ob[i].n &&
                                  memcmp(oa[i].ids, ob[i].ids, sizeof(int32_t) * (size_t)oa[i].n) == 0,
                              "round %d, beam %d, input %d: the prepared model decoded other weights", round,
                              k, i);
                ck_assert_double_eq_tol(oa[i].score, ob[i].score, 1e-4);
            }
        }
    }
    glia_st_close(st);
    glia_s2s_dec_free(da);
    glia_s2s_dec_free(db);
    glia_s2s_free(a);
    glia_s2s_free(b);
    glia_test_rmtree(dir);
}
END_TEST

/* ---- learning ---- */

START_TEST(tiny_model_memorises_pairs)
{
    glia_s2s_config cfg = tiny_config(1, 0, 0.0f);
    cfg.d_model = 16;
    cfg.dim_feedforward = 32;
    glia_s2s *m = NULL;
    glia_err err = {0};
    ck_assert(glia_s2s_new(&cfg, &m, &err) == GLIA_OK);
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    glia_s2s_reset(m, &rng);
    ck_assert(glia_s2s_enable_grads(m, &err) == GLIA_OK);
    /* four "sentences" and their "translations" (reversed, with a token mapped) */
    enum { P = 4, PS = 5, PT = 6 };
    const int32_t src[P * PS] = {4, 5, 6, 3, 0, 7, 8, 3, 0, 0, 9, 10, 11, 12, 3, 6, 4, 3, 0, 0};
    const int32_t slen[P] = {4, 3, 5, 3};
    const int32_t want[P][4] = {{6, 5, 4}, {8, 12}, {12, 11, 10, 9}, {4, 6}};
    const int wn[P] = {3, 2, 4, 2};
    int32_t tgt[P * PT] = {0}, tlen[P], labels[P * PT];
    int rows = 0;
    for (int p = 0; p < P; p++) {
        tgt[p * PT] = GLIA_S2S_BOS;
        for (int t = 0; t < wn[p]; t++)
            tgt[p * PT + t + 1] = want[p][t];
        tlen[p] = wn[p] + 1;
        for (int t = 0; t < tlen[p]; t++)
            labels[rows++] = t < wn[p] ? want[p][t] : GLIA_S2S_EOS;
    }
    glia_optim_config oc;
    glia_optim_defaults(GLIA_OPTIM_ADAM, &oc);
    oc.lr = 0.01f;
    glia_optim *opt = NULL;
    glia_s2s_ctx *ctx = NULL;
    ck_assert(glia_optim_new(&oc, m->params, m->nparams, &opt, &err) == GLIA_OK);
    ck_assert(glia_s2s_ctx_new(m, P, PS, PT, 0, 1, &ctx, &err) == GLIA_OK);
    float *dl = calloc((size_t)rows * (size_t)cfg.vocab_size, sizeof(float));
    double loss = 0.0;
    for (int step = 0; step < 300; step++) {
        const float *logits = NULL;
        int n = 0;
        ck_assert(glia_s2s_forward(m, ctx, src, slen, PS, tgt, tlen, PT, P, NULL, &logits, &n, &err) ==
                  GLIA_OK);
        ck_assert_int_eq(n, rows);
        loss = glia_xent(logits, labels, n, cfg.vocab_size, 0.0f, -1, dl, NULL);
        glia_s2s_zero_grads(m);
        glia_s2s_backward(m, ctx, dl, NULL);
        glia_optim_step(opt, oc.lr);
    }
    ck_assert_msg(loss < 0.01, "loss %g after 300 steps", loss);
    glia_s2s_dec *d = NULL;
    ck_assert(glia_s2s_dec_new(m, P, PS, 3, &d, &err) == GLIA_OK);
    for (int k = 1; k <= 3; k++) {
        glia_s2s_search opts = {k, 8, 0.6f, 0};
        glia_s2s_output out[P];
        ck_assert(glia_s2s_translate(m, d, src, slen, P, PS, &opts, out, &err) == GLIA_OK);
        for (int p = 0; p < P; p++) {
            ck_assert_int_eq(out[p].n, wn[p]);
            ck_assert_int_eq(memcmp(out[p].ids, want[p], sizeof(int32_t) * (size_t)wn[p]), 0);
            ck_assert(out[p].finished);
        }
    }
    free(dl);
    glia_s2s_dec_free(d);
    glia_s2s_ctx_free(ctx);
    glia_optim_free(opt);
    glia_s2s_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("seq2seq");
    TCase *tc = tcase_create("seq2seq");
    tcase_add_test(tc, names_and_strict_load);
    tcase_add_test(tc, gradients_tied_post_norm);
    tcase_add_test(tc, gradients_untied_pre_norm_dropout);
    tcase_add_test(tc, cached_greedy_equals_recomputation_and_beam1);
    tcase_add_test(tc, beam_scores_and_batch_independence);
    tcase_add_test(tc, grouped_sources_and_panel_steps_match_each_input_alone);
    tcase_add_test(tc, no_repeat_ngram_guard);
    tcase_add_test(tc, each_input_is_reported_once_when_decided);
    tcase_add_test(tc, prepared_panels_follow_load_and_reset);
    tcase_add_test(tc, tiny_model_memorises_pairs);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
