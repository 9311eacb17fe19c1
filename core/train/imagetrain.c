/*
 * imagetrain.c - see imagetrain.h.
 */
#include "core/train/imagetrain.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    glia_source base;
    const glia_dataset *split[GLIA_NSPLITS];
    int hflip, translate, cutout, eval_batch;
    size_t sample, pos;
    uint32_t *order;
    float *x; /* a training batch, augmented */
    int32_t *y;
} image_source;

/* Copies example src into dst, flipped and/or shifted; uncovered pixels take the
 * background value (what a 0 pixel becomes after preprocessing). */
static void augment(const float *src, float *dst, glia_shape3 s, int flip, int dy, int dx, float background)
{
    for (int c = 0; c < s.c; c++) {
        const float *sp = src + (size_t)c * s.h * s.w;
        float *dp = dst + (size_t)c * s.h * s.w;
        for (int i = 0; i < s.h; i++) {
            int si = i - dy;
            for (int j = 0; j < s.w; j++) {
                int sj = j - dx;
                if (flip)
                    sj = s.w - 1 - sj;
                dp[i * s.w + j] =
                    (si >= 0 && si < s.h && sj >= 0 && sj < s.w) ? sp[si * s.w + sj] : background;
            }
        }
    }
}

/* Cutout (DeVries and Taylor, 2017): a side x side square centred on a uniformly drawn
 * pixel, clipped at the borders (so that the edges are erased less often than the middle,
 * as in the paper), is set to the background in every channel. */
static void cutout(float *img, glia_shape3 s, int side, glia_rng *rng, float background)
{
    const int cy = (int)glia_rng_below(rng, (uint64_t)s.h), cx = (int)glia_rng_below(rng, (uint64_t)s.w);
    const int y0 = cy - side / 2 < 0 ? 0 : cy - side / 2, x0 = cx - side / 2 < 0 ? 0 : cx - side / 2;
    const int y1 = cy - side / 2 + side > s.h ? s.h : cy - side / 2 + side;
    const int x1 = cx - side / 2 + side > s.w ? s.w : cx - side / 2 + side;
    for (int c = 0; c < s.c; c++)
        for (int i = y0; i < y1; i++)
            for (int j = x0; j < x1; j++)
                img[((size_t)c * s.h + i) * s.w + j] = background;
}

static void img_destroy(glia_source *base)
{
    image_source *s = (image_source *)base;
    free(s->order);
    free(s->x);
    free(s->y);
    free(s);
}

static glia_status img_begin(glia_source *base, const glia_batch_policy *policy, glia_err *err)
{
    image_source *s = (image_source *)base;
    const glia_dataset *train = s->split[GLIA_SPLIT_TRAIN];
    const int maxb = glia_batch_max(policy);
    s->base.train = (glia_ctx_spec){.max_batch = maxb, .training = 1};
    s->base.train_rows = (size_t)maxb;
    s->x = malloc(sizeof(float) * s->sample * (size_t)maxb);
    s->y = malloc(sizeof(int32_t) * (size_t)maxb);
    s->order = malloc(sizeof(uint32_t) * (train->n ? train->n : 1));
    if (!s->x || !s->y || !s->order)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for training buffers");
    return GLIA_OK;
}

static void img_epoch(glia_source *base, glia_train_streams *rng)
{
    image_source *s = (image_source *)base;
    const size_t n = s->split[GLIA_SPLIT_TRAIN]->n;
    for (size_t i = 0; i < n; i++)
        s->order[i] = (uint32_t)i;
    glia_rng_shuffle(&rng->shuffle, s->order, n);
    s->pos = 0;
}

static int img_next(glia_source *base, glia_train_streams *rng, glia_batch_policy *policy, glia_labelled *out)
{
    image_source *s = (image_source *)base;
    const glia_dataset *train = s->split[GLIA_SPLIT_TRAIN];
    if (s->pos >= train->n)
        return 0;
    int b = glia_batch_next(policy, &rng->batch);
    if ((size_t)b > train->n - s->pos)
        b = (int)(train->n - s->pos);
    for (int j = 0; j < b; j++) {
        const uint32_t idx = s->order[s->pos + (size_t)j];
        const float *src = train->x + (size_t)idx * s->sample;
        float *dst = s->x + (size_t)j * s->sample;
        if (s->hflip || s->translate) {
            const int flip = s->hflip ? glia_rng_uniform(&rng->augment) < 0.5f : 0, t = s->translate;
            const int dy = t ? (int)glia_rng_below(&rng->augment, (uint64_t)(2 * t + 1)) - t : 0;
            const int dx = t ? (int)glia_rng_below(&rng->augment, (uint64_t)(2 * t + 1)) - t : 0;
            augment(src, dst, train->shape, flip, dy, dx, train->background);
        } else {
            memcpy(dst, src, sizeof(float) * s->sample);
        }
        if (s->cutout) /* drawn after the others, so recipes without it keep their streams */
            cutout(dst, train->shape, s->cutout, &rng->augment, train->background);
        s->y[j] = train->y[idx];
    }
    s->pos += (size_t)b;
    *out = (glia_labelled){.in = {.n = b, .x = s->x}, .labels = s->y, .rows = b};
    return 1;
}

static glia_status img_eval_plan(glia_source *base, glia_split split, int lanes, int *nbatches,
                                 glia_ctx_spec *spec, glia_err *err)
{
    image_source *s = (image_source *)base;
    (void)lanes;
    (void)err;
    const size_t n = s->split[split] ? s->split[split]->n : 0;
    *nbatches = (int)((n + (size_t)s->eval_batch - 1) / (size_t)s->eval_batch);
    *spec = (glia_ctx_spec){.max_batch = s->eval_batch};
    return GLIA_OK;
}

/* Views into the data set: images need no gathering. */
static void img_eval_batch(glia_source *base, glia_split split, int k, int lane, glia_labelled *out)
{
    image_source *s = (image_source *)base;
    const glia_dataset *d = s->split[split];
    const size_t at = (size_t)k * (size_t)s->eval_batch;
    const int b = (int)(d->n - at < (size_t)s->eval_batch ? d->n - at : (size_t)s->eval_batch);
    (void)lane;
    *out = (glia_labelled){.in = {.n = b, .x = d->x + at * s->sample}, .labels = d->y + at, .rows = b};
}

static const glia_source_ops image_ops = {img_destroy, img_begin,     img_epoch,
                                          img_next,    img_eval_plan, img_eval_batch};

glia_status glia_image_source_new(const glia_recipe *r, const glia_dataset *train, const glia_dataset *val,
                                  const glia_dataset *test, int eval_batch, glia_source **out, glia_err *err)
{
    image_source *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a batch source");
    s->base.ops = &image_ops;
    s->split[GLIA_SPLIT_TRAIN] = train;
    s->split[GLIA_SPLIT_VAL] = val;
    s->split[GLIA_SPLIT_TEST] = test;
    for (int i = 0; i < GLIA_NSPLITS; i++)
        if (s->split[i]) {
            s->base.examples[i] = s->split[i]->n;
            s->sample = glia_dataset_sample(s->split[i]);
        }
    s->hflip = r ? r->image.hflip : 0;
    s->translate = r ? r->image.translate : 0;
    s->cutout = r ? r->image.cutout : 0;
    s->eval_batch = eval_batch > 0 ? eval_batch : 256;
    *out = &s->base;
    return GLIA_OK;
}

glia_status glia_train(const glia_recipe *r, glia_model *model, int keep_weights, const glia_dataset *train,
                       const glia_dataset *val, glia_progress_fn cb, void *user, const atomic_int *cancel,
                       glia_train_result *result, glia_err *err)
{
    const glia_loop_hooks hooks = {cb, user, cancel, NULL};
    return glia_train_hooked(r, model, keep_weights, train, val, &hooks, result, err);
}

glia_status glia_train_hooked(const glia_recipe *r, glia_model *model, int keep_weights,
                              const glia_dataset *train, const glia_dataset *val,
                              const glia_loop_hooks *hooks, glia_train_result *result, glia_err *err)
{
    glia_source *src = NULL;
    memset(result, 0, sizeof *result);
    if (train->n == 0)
        return glia_err_set(err, GLIA_EINVAL, "the training split is empty");
    if (model->input_size != glia_dataset_sample(train))
        return glia_err_set(err, GLIA_EINVAL, "the data's examples have %zu values but the model takes %zu",
                            glia_dataset_sample(train), model->input_size);
    if (model->outputs != train->nclasses)
        return glia_err_set(err, GLIA_EINVAL, "the data set has %d classes but the model outputs %d",
                            train->nclasses, model->outputs);
    if (!keep_weights) {
        glia_rng init;
        glia_train_seed_stream(&init, r->seed, GLIA_STREAM_INIT);
        model->ops->reset(model, &init);
    }
    glia_status rc = glia_image_source_new(r, train, val, NULL, 256, &src, err);
    if (rc == GLIA_OK)
        rc = glia_loop_train(r, model, src, hooks, result, err);
    glia_source_free(src);
    return rc;
}
