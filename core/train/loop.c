/*
 * loop.c - see loop.h.
 *
 * The order of every floating-point sum is fixed by the number of lanes alone (a lane sums
 * its own slice, the lanes are added in lane order), so a run is reproducible for a given
 * recipe, lane count and BLAS; with one lane the sums run in data order.
 */
#include "core/train/loop.h"

#include "core/nn/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/hash.h"
#include "core/base/pool.h"
#include "core/nn/loss.h"
#include "core/train/checkpoint.h"

/* Threads of one process; a checkpoint holds the dropout streams of every process's lanes. */
enum { MAX_LANES = 64 };

/* ---- across processes (reduce.h): every function here is collective ---- */

/* Whether any rank says yes (mine: this rank's answer); without a reducer, mine. */
static glia_status any_rank(const glia_reducer *red, int mine, int *any, glia_err *err)
{
    double votes = mine ? 1.0 : 0.0;
    glia_status rc = red ? red->sum_f64(red, &votes, 1, err) : GLIA_OK;
    *any = votes > 0.0;
    return rc;
}

/* Where a rank stands: the same on every rank of a healthy run. */
typedef struct {
    int32_t resumed, epoch;
    int64_t step;
    uint32_t weights; /* FNV-1a of the weights' bytes */
    uint32_t pad;
} rank_position;

/* Every rank must hold the same weights at the same step, or the run is no longer one run:
 * a rank that did not see the checkpoint (OUT not shared), or another recipe or data set. */
static glia_status ranks_agree(const glia_reducer *red, const glia_model *model, int resumed, int epoch,
                               long step, const char *when, glia_err *err)
{
    if (!red || red->size <= 1)
        return GLIA_OK;
    rank_position mine = {resumed, epoch, step, glia_fnv1a32(model->values, sizeof(float) * model->size), 0};
    rank_position *all = calloc((size_t)red->size, sizeof *all);
    glia_status rc;
    if (!all)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory comparing the ranks");
    if ((rc = red->gather(red, &mine, sizeof mine, all, err)))
        goto done;
    for (int i = 1; i < red->size; i++) {
        const rank_position *a = &all[0], *b = &all[i];
        if (a->resumed != b->resumed || a->epoch != b->epoch)
            rc = glia_err_set(err, GLIA_EINVAL,
                              "%s: rank 0 %s, rank %d %s: every rank must see the same output directory "
                              "(a shared filesystem) to resume",
                              when, a->resumed ? "continues from the checkpoint" : "starts afresh", i,
                              b->resumed ? "continues from the checkpoint" : "starts afresh");
        else if (a->step != b->step || a->weights != b->weights)
            rc = glia_err_set(err, GLIA_EINVAL,
                              "%s: rank %d holds other weights than rank 0 (step %lld, not %lld): every "
                              "rank must run the same glia build on the same recipe and data",
                              when, i, (long long)b->step, (long long)a->step);
        if (rc)
            break;
    }
done:
    free(all);
    return rc;
}

void glia_source_free(glia_source *s)
{
    if (s)
        s->ops->destroy(s);
}

/* Label rows of examples [0, n) of b: one per example, or a sequence model's target tokens. */
static int rows_before(const glia_labelled *b, int n)
{
    if (!b->in.tgt_lengths)
        return n;
    int rows = 0;
    for (int i = 0; i < n; i++)
        rows += b->in.tgt_lengths[i];
    return rows;
}

/* Examples [lo, lo + n) of b as a batch of their own (views into b's buffers). */
static glia_labelled slice(const glia_labelled *b, int lo, int n, size_t input_size)
{
    glia_labelled s = *b;
    const int first = rows_before(b, lo);
    s.in.n = n;
    if (b->in.x)
        s.in.x = b->in.x + (size_t)lo * input_size;
    if (b->in.ids) {
        s.in.ids = b->in.ids + (size_t)lo * (size_t)b->in.steps;
        s.in.lengths = b->in.lengths + lo;
    }
    if (b->in.tgt) {
        s.in.tgt = b->in.tgt + (size_t)lo * (size_t)b->in.tgt_steps;
        s.in.tgt_lengths = b->in.tgt_lengths + lo;
    }
    s.labels = b->labels + first;
    s.groups = b->groups ? b->groups + first : NULL;
    s.rows = rows_before(&s, n);
    return s;
}

/* ---- evaluation ---- */

typedef struct {
    glia_model_ctx *ctx;
    double loss; /* summed over rows */
    size_t right, rows;
    size_t group_rows[GLIA_EVAL_MAX_GROUPS], group_right[GLIA_EVAL_MAX_GROUPS];
    glia_status rc;
    glia_err err;
} eval_lane_state;

typedef struct {
    const glia_model *model;
    glia_source *src;
    glia_split split;
    int nbatches, lanes;
    int first, stride; /* lane i takes batches first + i, + stride, ... (ranks x lanes) */
    eval_lane_state *lane;
} eval_job;

static void eval_lane(void *arg, int i)
{
    eval_job *j = arg;
    eval_lane_state *L = &j->lane[i];
    const int k = j->model->outputs;
    for (int b = j->first + i; b < j->nbatches && L->rc == GLIA_OK; b += j->stride) {
        glia_labelled in;
        const float *logits = NULL;
        int rows = 0;
        j->src->ops->eval_batch(j->src, j->split, b, i, &in);
        if ((L->rc = j->model->ops->forward(j->model, L->ctx, &in.in, NULL, &logits, &rows, &L->err)))
            return;
        GLIA_ASSERT(rows == in.rows);
        L->loss += glia_xent(logits, in.labels, rows, k, 0.0f, -1, NULL, NULL) * rows;
        for (int r = 0; r < rows; r++) {
            const int ok = glia_argmax(logits + (size_t)r * (size_t)k, k) == in.labels[r];
            const int g = in.groups ? in.groups[r] : GLIA_EVAL_MAX_GROUPS;
            L->right += (size_t)ok;
            if (g < GLIA_EVAL_MAX_GROUPS) {
                L->group_rows[g]++;
                L->group_right[g] += (size_t)ok;
            }
        }
        L->rows += (size_t)rows;
    }
}

/* The lanes' tallies, summed over the ranks under a reducer (counts as doubles: exact). */
static glia_status eval_sum(const eval_job *job, int ngroups, const glia_reducer *red, glia_eval_result *out,
                            glia_err *err)
{
    enum {
        LOSS,
        RIGHT,
        ROWS,
        GROWS,
        GRIGHT = GROWS + GLIA_EVAL_MAX_GROUPS,
        NTALLY = GRIGHT + GLIA_EVAL_MAX_GROUPS
    };
    double t[NTALLY] = {0};
    memset(out, 0, sizeof *out);
    for (int i = 0; i < job->lanes; i++) {
        const eval_lane_state *L = &job->lane[i];
        t[LOSS] += L->loss;
        t[RIGHT] += (double)L->right;
        t[ROWS] += (double)L->rows;
        for (int g = 0; g < GLIA_EVAL_MAX_GROUPS; g++) {
            t[GROWS + g] += (double)L->group_rows[g];
            t[GRIGHT + g] += (double)L->group_right[g];
        }
    }
    glia_status rc = red ? red->sum_f64(red, t, NTALLY, err) : GLIA_OK;
    if (rc)
        return rc;
    out->rows = (size_t)t[ROWS];
    out->loss = out->rows ? t[LOSS] / t[ROWS] : 0.0;
    out->accuracy = out->rows ? t[RIGHT] / t[ROWS] : 0.0;
    out->ngroups = ngroups < GLIA_EVAL_MAX_GROUPS ? ngroups : GLIA_EVAL_MAX_GROUPS;
    for (int g = 0; g < out->ngroups; g++)
        out->group_accuracy[g] = t[GROWS + g] > 0 ? t[GRIGHT + g] / t[GROWS + g] : -1.0;
    return GLIA_OK;
}

/* Under a reducer the ranks share the split's batches (rank r's lane i takes batches
 * r * lanes + i, + ranks * lanes, ...) and every rank gets the summed result. */
static glia_status evaluate_on(glia_pool *pool, const glia_model *model, glia_source *src, glia_split split,
                               const glia_reducer *red, glia_eval_result *out, glia_err *err)
{
    eval_lane_state lane[MAX_LANES];
    const int lanes = glia_pool_size(pool) < MAX_LANES ? glia_pool_size(pool) : MAX_LANES;
    const int rank = red ? red->rank : 0, ranks = red ? red->size : 1;
    eval_job job = {model, src, split, 0, lanes, rank * lanes, ranks * lanes, lane};
    glia_ctx_spec spec;
    glia_status rc;
    memset(lane, 0, sizeof lane);
    memset(out, 0, sizeof *out);
    if (src->examples[split] == 0)
        return GLIA_OK;
    if ((rc = src->ops->eval_plan(src, split, lanes, &job.nbatches, &spec, err)))
        return rc;
    for (int i = 0; i < lanes; i++)
        if ((rc = model->ops->ctx_new(model, &spec, &lane[i].ctx, err)))
            goto done;
    glia_pool_run(pool, eval_lane, &job);
    for (int i = 0; i < lanes && rc == GLIA_OK; i++)
        if ((rc = lane[i].rc))
            *err = lane[i].err;
    if (rc == GLIA_OK)
        rc = eval_sum(&job, src->ngroups, red, out, err);
done:
    for (int i = 0; i < lanes; i++)
        if (lane[i].ctx)
            model->ops->ctx_free(lane[i].ctx);
    return rc;
}

glia_status glia_loop_evaluate(const glia_model *model, glia_source *src, glia_split split, int lanes,
                               glia_eval_result *out, glia_err *err)
{
    glia_pool *pool = NULL;
    glia_status rc = glia_pool_new(lanes > 1 ? lanes : 1, &pool, err);
    if (rc == GLIA_OK)
        rc = evaluate_on(pool, model, src, split, NULL, out, err);
    glia_pool_free(pool);
    return rc;
}

/* ---- one data-parallel step ---- */

typedef struct {
    glia_model *model; /* lane 0: the trained model itself; others: replicas sharing its values */
    glia_model_ctx *ctx;
    glia_rng dropout;
    float *dlogits;
    glia_labelled part; /* this lane's slice of the batch */
    double loss;        /* summed over the slice's rows */
    size_t right;
    glia_status rc;
    glia_err err;
} lane_state;

typedef struct {
    lane_state *lanes;
    int nlanes;
    glia_model *master;
    int total_rows; /* label rows of the whole batch */
    float smoothing;
    const glia_grad_ready *ready; /* lane 0's backward tells it what is final (NULL: nobody) */
} step_job;

/* ---- one epoch's bookkeeping: progress, the best weights, stopping, reporting ---- */

/* One epoch's running figures. */
typedef struct {
    double loss_sum; /* sum over examples of their loss */
    size_t right;    /* examples predicted right */
    size_t seen;     /* examples trained on */
    double started;  /* glia_train_clock() at the epoch's start */
    int last_batch;
    float lr;
} epoch_tally;

static glia_progress epoch_progress(const glia_recipe *r, int epoch, long step, const epoch_tally *t)
{
    glia_progress p = {0};
    p.epoch = epoch + 1;
    p.epochs = r->epochs;
    p.step = step;
    p.batch_size = t->last_batch;
    p.lr = t->lr;
    p.train_loss = t->seen ? t->loss_sum / (double)t->seen : 0.0;
    p.train_accuracy = t->seen ? (double)t->right / (double)t->seen : 0.0;
    p.samples_per_second = (double)t->seen / (glia_train_clock() - t->started);
    p.val_loss = p.val_accuracy = -1.0;
    return p;
}

/* After an epoch's last step, with p filled from the tally and, when there is a validation
 * split (has_val), its val_loss and val_accuracy: feeds the adaptive batch policy, keeps the
 * best weights so far (values -> best, n floats, into result) and stamps p->seconds since t0.
 * Then the loop writes its checkpoint, and only then reports, so that a run stopped by its
 * callback can resume. */
static void epoch_done(glia_progress *p, int has_val, glia_batch_policy *policy, const float *values,
                       float *best, size_t n, double t0, glia_train_result *result)
{
    if (has_val) {
        glia_batch_end_epoch(policy, (float)p->val_loss);
        if (p->val_accuracy > result->best_val_accuracy) {
            result->best_val_accuracy = p->val_accuracy;
            result->best_epoch = p->epoch;
            memcpy(best, values, sizeof(float) * n);
        }
    }
    p->seconds = glia_train_clock() - t0;
}

static void step_lane(void *arg, int i)
{
    step_job *j = arg;
    lane_state *L = &j->lanes[i];
    const glia_model_ops *ops = L->model->ops;
    const int k = L->model->outputs;
    const float *logits = NULL;
    int rows = 0;
    L->loss = 0.0;
    L->right = 0;
    glia_model_zero_grads(L->model);
    if (L->part.in.n == 0)
        return;
    if ((L->rc = ops->forward(L->model, L->ctx, &L->part.in, &L->dropout, &logits, &rows, &L->err)))
        return;
    GLIA_ASSERT(rows == L->part.rows);
    for (int r = 0; r < rows; r++)
        L->right += glia_argmax(logits + (size_t)r * (size_t)k, k) == L->part.labels[r];
    L->loss = glia_xent(logits, L->part.labels, rows, k, j->smoothing, -1, L->dlogits, NULL) * rows;
    if (rows != j->total_rows) { /* xent averages over the slice; the step's mean is over the batch */
        const float scale = (float)rows / (float)j->total_rows;
        for (size_t e = 0; e < (size_t)rows * (size_t)k; e++)
            L->dlogits[e] *= scale;
    }
    ops->backward(L->model, L->ctx, L->dlogits, i == 0 ? j->ready : NULL);
}

/* Lane i adds every replica's gradient into the master for its share of the parameters. */
static void reduce_lane(void *arg, int i)
{
    step_job *j = arg;
    const size_t size = j->master->size - j->master->nbuffers, lo = size * (size_t)i / (size_t)j->nlanes,
                 hi = size * (size_t)(i + 1) / (size_t)j->nlanes;
    for (int r = 1; r < j->nlanes; r++) {
        const float *g = j->lanes[r].model->grads;
        for (size_t e = lo; e < hi; e++)
            j->master->grads[e] += g[e];
    }
}

/* ---- summing the gradients across processes while the backward pass runs ---- */

/* The buffer is cut into buckets of red->bucket_floats from its tail: bucket k is
 * [size - (k + 1) b, size - k b) (the head's bucket is shorter). The backward pass reports
 * the ranges it has made final, tail first (model.h); once the final region [frontier, size)
 * covers the next bucket, that bucket's sum starts, and the transport is polled so that the
 * started sums advance during the pass. Cutting by size alone, and starting buckets in
 * order, gives every rank the same sequence of collectives whatever the timing (a rank whose
 * shard is empty runs no backward: it starts them all afterwards). A reported range that
 * does not extend the final region is simply not used early: correctness rests on
 * finishing every bucket after the pass, never on the reports. */
typedef struct {
    const glia_reducer *red;
    float *grads;
    size_t size;     /* floats of the buffer */
    size_t bucket;   /* floats */
    size_t frontier; /* [frontier, size) is final this step */
    size_t next;     /* buckets started cover [next, size) */
    int in_backward;
    double first;        /* glia_train_clock() when this step's first bucket started (0: none yet) */
    long buckets, early; /* the run's totals */
    double window;       /* the run's seconds of backward pass left after a step's first bucket started */
    glia_status rc;
    glia_err err;
} overlap_state;

static void overlap_start(overlap_state *o)
{
    while (o->rc == GLIA_OK && o->next > 0) {
        const size_t lo = o->next > o->bucket ? o->next - o->bucket : 0;
        if (o->frontier > lo)
            break;
        if (o->in_backward && o->frontier > 0 && o->first == 0.0)
            o->first = glia_train_clock();
        o->rc = o->red->start_sum_f32(o->red, o->grads + lo, o->next - lo, &o->err);
        o->next = lo;
        o->buckets++;
        /* overlapped: started while some of the pass was still to run (the report that
         * makes the head final ends the pass, and what it starts overlaps nothing) */
        o->early += o->in_backward && o->frontier > 0;
    }
}

/* glia_grad_ready's callback: runs on the thread of lane 0's backward, which is the loop's
 * own (overlap runs with one lane only), the one thread that calls the transport. */
static void overlap_ready(void *user, size_t offset, size_t count)
{
    overlap_state *o = user;
    if (offset + count == o->frontier)
        o->frontier = offset;
    overlap_start(o);
    if (o->rc == GLIA_OK && o->next < o->size) /* some sum is under way: let it move */
        o->rc = o->red->progress(o->red, &o->err);
}

/* ---- the run's state ---- */

typedef struct {
    const glia_recipe *r;
    glia_model *model;
    glia_source *src;
    glia_pool *pool;
    lane_state *lanes;
    int nlanes;              /* this process's */
    const glia_reducer *red; /* NULL: this process alone */
    int rank, nranks;        /* lane i of rank r is lane r * nlanes + i of the whole run */
    glia_optim *opt;
    glia_batch_policy policy;
    glia_train_streams rng;
    float *best;
    float *ema, *live; /* the weights' moving average (recipe key ema), and a place for the
                        * live weights while the average is evaluated; NULL when off */
    glia_ckpt_model ck;
    glia_ckpt_state st;
    long step;
    double t0, earlier; /* earlier: seconds of the runs a checkpoint continues */
    int overlap;        /* the gradients are summed in buckets during the backward pass */
    overlap_state ov;
} run_state;

static void run_free(run_state *s)
{
    for (int i = 0; s->lanes && i < s->nlanes; i++) {
        lane_state *L = &s->lanes[i];
        if (L->ctx)
            L->model->ops->ctx_free(L->ctx);
        free(L->dlogits);
        if (i > 0)
            glia_model_free(L->model);
    }
    free(s->lanes);
    glia_pool_free(s->pool);
    glia_optim_free(s->opt);
    free(s->best);
    free(s->ema);
    free(s->live);
}

static glia_status lanes_new(run_state *s, glia_err *err)
{
    glia_ctx_spec spec = s->src->train;
    glia_status rc;
    spec.max_batch = (spec.max_batch + s->nlanes - 1) / s->nlanes;
    spec.training = 1;
    if (!(s->lanes = calloc((size_t)s->nlanes, sizeof *s->lanes)))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for training lanes");
    for (int i = 0; i < s->nlanes; i++) {
        lane_state *L = &s->lanes[i];
        /* lane 0 keeps the single-threaded stream, so that one lane reproduces older runs; a
         * lane's stream is its place in the whole run, so that 2 ranks x 1 thread draw the
         * dropout masks of 1 rank x 2 threads */
        const int g = s->rank * s->nlanes + i;
        glia_train_seed_stream(&L->dropout, s->r->seed, g == 0 ? GLIA_STREAM_DROPOUT : GLIA_STREAM_LANES + g);
        if (i == 0)
            L->model = s->model;
        else if ((rc = s->model->ops->replica(s->model, &L->model, err)))
            return rc;
        if ((rc = L->model->ops->ctx_new(L->model, &spec, &L->ctx, err)))
            return rc;
        if (!(L->dlogits = malloc(sizeof(float) * (size_t)s->model->outputs * (s->src->train_rows + 1))))
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for training buffers");
    }
    return GLIA_OK;
}

static glia_status run_open(run_state *s, glia_err *err)
{
    const glia_recipe *r = s->r;
    glia_status rc;
    if (s->nranks * s->nlanes > GLIA_CKPT_MAX_LANES)
        return glia_err_set(err, GLIA_EINVAL,
                            "%d processes x %d threads make %d data-parallel lanes; at most %d are supported",
                            s->nranks, s->nlanes, s->nranks * s->nlanes, GLIA_CKPT_MAX_LANES);
    glia_train_seed_stream(&s->rng.shuffle, r->seed, GLIA_STREAM_SHUFFLE);
    glia_train_seed_stream(&s->rng.batch, r->seed, GLIA_STREAM_BATCH);
    glia_train_seed_stream(&s->rng.augment, r->seed, GLIA_STREAM_AUGMENT);
    if ((rc = glia_batch_init(&s->policy, &r->batch, err)) ||
        (rc = s->model->ops->enable_grads(s->model, err)) ||
        (rc = s->src->ops->begin(s->src, &s->policy, err)) ||
        (rc = glia_pool_new(s->nlanes, &s->pool, err)) ||
        (rc = glia_optim_new(&r->optim, s->model->trainable, s->model->ntrainable, &s->opt, err)) ||
        (rc = lanes_new(s, err)))
        return rc;
    const size_t bytes = sizeof(float) * (s->model->size ? s->model->size : 1);
    if (!(s->best = malloc(bytes)) ||
        (r->ema > 0 && (!(s->ema = malloc(bytes)) || !(s->live = malloc(bytes)))))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for training buffers");
    /* the average starts at the initial weights (a resumed run loads its own) */
    if (s->ema)
        memcpy(s->ema, s->model->values, sizeof(float) * s->model->size);
    s->ck = glia_ckpt_describe(s->model, s->best, s->opt);
    s->ck.ema = s->ema;
    s->st = (glia_ckpt_state){.nlanes = s->nranks * s->nlanes, .nranks = s->nranks, .policy = s->policy};
    glia_recipe_fingerprint(r, s->st.recipe, sizeof s->st.recipe);
    return GLIA_OK;
}

static glia_status run_resume(run_state *s, int *first_epoch, glia_train_result *result, glia_err *err)
{
    int resumed = 0;
    glia_status rc = glia_ckpt_resume(s->r, &s->st, &s->ck, &resumed, err);
    glia_model_weights_changed(s->model);
    if (rc ||
        (rc = ranks_agree(s->red, s->model, resumed, resumed ? s->st.epoch : 0, resumed ? s->st.step : 0,
                          "at the start", err)) ||
        !resumed)
        return rc;
    s->rng.shuffle = s->st.shuffle;
    s->rng.batch = s->st.batch;
    s->rng.augment = s->st.augment;
    for (int i = 0; i < s->nlanes; i++)
        s->lanes[i].dropout = s->st.dropout[s->rank * s->nlanes + i];
    s->policy = s->st.policy;
    s->step = s->st.step;
    *first_epoch = s->st.epoch;
    s->earlier = s->st.seconds;
    result->best_epoch = s->st.best_epoch;
    result->best_val_accuracy = s->st.best_val_accuracy;
    return GLIA_OK;
}

/* Before each step: GLIA_ECANCELLED when *cancel is set, GLIA_ETIMEDOUT past r->deadline.
 * Across processes a stop is agreed on (any rank's stops every rank at the same step), so
 * that no rank is left waiting in a sum the others never join. */
static glia_status should_stop(const run_state *s, const atomic_int *cancel, int epoch, glia_err *err)
{
    double votes[2] = {cancel && atomic_load(cancel),
                       s->r->deadline > 0 && glia_train_clock() >= s->r->deadline};
    glia_status rc = s->red ? s->red->sum_f64(s->red, votes, 2, err) : GLIA_OK;
    if (rc)
        return rc;
    if (votes[0] > 0)
        return glia_err_set(err, GLIA_ECANCELLED, "training cancelled at epoch %d, step %ld", epoch + 1,
                            s->step);
    if (votes[1] > 0)
        return glia_err_set(err, GLIA_ETIMEDOUT, "training stopped at its time limit, at epoch %d, step %ld",
                            epoch + 1, s->step);
    return GLIA_OK;
}

/* After a step, every lane of every rank holds the running statistics its own shard moved
 * (batch norm's buffers; PyTorch DDP without SyncBatchNorm normalises by the shard's
 * statistics too). They become their mean over the run's lanes, back in every lane: the
 * mean of the lanes' moving averages is the moving average of the shards' mean statistics,
 * and every rank keeps the same weights, as ranks_agree checks. */
static glia_status average_buffers(run_state *s, glia_err *err)
{
    const size_t nb = s->model->nbuffers;
    const int total = s->nlanes * s->nranks;
    float *mine = s->model->buffers;
    glia_status rc;
    if (nb == 0 || total == 1)
        return GLIA_OK;
    for (int i = 1; i < s->nlanes; i++)
        for (size_t e = 0; e < nb; e++)
            mine[e] += s->lanes[i].model->buffers[e];
    if (s->red && (rc = s->red->sum_f32(s->red, mine, nb, err)))
        return rc;
    for (size_t e = 0; e < nb; e++)
        mine[e] /= (float)total;
    for (int i = 1; i < s->nlanes; i++)
        memcpy(s->lanes[i].model->buffers, mine, sizeof(float) * nb);
    return GLIA_OK;
}

/* One optimizer step on batch b; adds its summed loss and right rows to the tally. Every
 * rank holds the whole batch b; the run's lane g of G (rank * nlanes + thread) takes
 * examples [n g / G, n (g + 1) / G), so a rank's shard is [n r / N, n (r + 1) / N). Each
 * lane's loss is scaled by its share of b's rows, so the gradients summed over every lane
 * of every rank are the mean over the whole batch. */
static glia_status run_step(run_state *s, const glia_labelled *b, int epoch, epoch_tally *t, glia_err *err)
{
    step_job job = {s->lanes, s->nlanes, s->model, b->rows, s->r->label_smoothing, NULL};
    const size_t input_size = s->model->input_size;
    const long lanes = (long)s->nranks * s->nlanes;
    glia_status rc;
    for (int i = 0; i < s->nlanes; i++) {
        const long g = (long)s->rank * s->nlanes + i;
        const int lo = (int)((long)b->in.n * g / lanes), hi = (int)((long)b->in.n * (g + 1) / lanes);
        s->lanes[i].part = slice(b, lo, hi - lo, input_size);
        s->lanes[i].rc = GLIA_OK;
    }
    glia_grad_ready ready = {overlap_ready, &s->ov, s->model->grads};
    if (s->overlap) {
        s->ov.grads = s->model->grads; /* enabled by run_open */
        s->ov.frontier = s->ov.next = s->model->size - s->model->nbuffers;
        s->ov.in_backward = 1;
        s->ov.first = 0.0;
        s->ov.rc = GLIA_OK;
        job.ready = &ready;
    }
    glia_pool_run(s->pool, step_lane, &job);
    if (s->overlap) { /* whatever the pass did not start (all, for an empty shard), then wait */
        s->ov.in_backward = 0;
        if (s->ov.first > 0.0)
            s->ov.window += glia_train_clock() - s->ov.first;
        s->ov.frontier = 0;
        overlap_start(&s->ov);
        if ((rc = s->ov.rc) || (rc = s->red->wait_all(s->red, &s->ov.err))) {
            *err = s->ov.err;
            return rc;
        }
    }
    double counts[2] = {0.0, 0.0}; /* loss summed over rows, rows predicted right */
    for (int i = 0; i < s->nlanes; i++) {
        if (s->lanes[i].rc) {
            *err = s->lanes[i].err;
            return s->lanes[i].rc;
        }
        counts[0] += s->lanes[i].loss;
        counts[1] += (double)s->lanes[i].right;
    }
    if (s->nlanes > 1)
        glia_pool_run(s->pool, reduce_lane, &job);
    /* without overlap (several lanes, whose gradients meet only after every pass; or a
     * transport without non-blocking sums) the whole buffer is summed once here; the
     * buffers after the parameters (batch norm's statistics) have no gradient */
    const size_t ngrads = s->model->size - s->model->nbuffers;
    if (s->red && ((!s->overlap && (rc = s->red->sum_f32(s->red, s->model->grads, ngrads, err))) ||
                   (rc = s->red->sum_f64(s->red, counts, 2, err))))
        return rc;
    const double loss = counts[0];
    t->right += (size_t)counts[1];
    if (!isfinite(loss))
        return glia_err_set(err, GLIA_EINVAL,
                            "the loss became %g at epoch %d, step %ld: lower the learning rate or enable "
                            "clip_grad_norm",
                            loss / b->rows, epoch + 1, s->step);
    t->loss_sum += loss;
    t->seen += (size_t)b->rows;
    if (s->r->clip_norm > 0)
        glia_clip_grad_norm(s->model->grads, ngrads, s->r->clip_norm);
    t->lr = glia_sched_lr(&s->r->sched, s->step, epoch);
    glia_optim_step(s->opt, t->lr);
    rc = average_buffers(s, err);
    glia_model_weights_changed(s->model);
    if (rc)
        return rc;
    /* the whole value buffer, batch norm's running statistics included (PyTorch's
     * AveragedModel with use_buffers=True): the average is a model of its own */
    if (s->ema)
        glia_ema_update(s->ema, s->model->values, s->model->size, glia_ema_decay(s->r->ema, s->step));
    s->step++;
    t->last_batch = b->in.n;
    return GLIA_OK;
}

/* The per-step record after a step on examples more of the epoch's (done so far), whose
 * summed loss took the tally from loss_before: the step's own mean loss, not the epoch's. */
static void record_step(const run_state *s, const glia_loop_hooks *h, int epoch, const epoch_tally *t,
                        double loss_before, int rows, size_t done)
{
    if (!h->record)
        return;
    const double now = glia_train_clock(), n = (double)s->src->examples[GLIA_SPLIT_TRAIN];
    const double in_epoch = (double)done < n ? (double)done / n : 1.0;
    const glia_train_record rec = {.kind = GLIA_RECORD_STEP,
                                   .step = s->step,
                                   .epoch = epoch + 1,
                                   .epochs = s->r->epochs,
                                   .time_s = s->earlier + now - s->t0,
                                   .done = (epoch + in_epoch) / s->r->epochs,
                                   .loss = rows > 0 ? (t->loss_sum - loss_before) / rows : 0.0,
                                   .lr = t->lr,
                                   /* as the epoch's report counts: label rows (a sequence
                                    * model's target tokens) */
                                   .examples_per_s = (double)t->seen / (now - t->started)};
    h->record(&rec, h->user);
}

/* The evaluation record of an epoch's report p (its validation figures filled). */
static void record_eval(const run_state *s, const glia_loop_hooks *h, const glia_progress *p)
{
    if (!h->record)
        return;
    const glia_train_record rec = {.kind = GLIA_RECORD_EVAL,
                                   .step = p->step,
                                   .epoch = p->epoch,
                                   .epochs = p->epochs,
                                   .time_s = s->earlier + p->seconds,
                                   .done = (double)p->epoch / p->epochs,
                                   .train_loss = p->train_loss,
                                   .train_accuracy = p->train_accuracy,
                                   .val_loss = p->val_loss,
                                   .val_accuracy = p->val_accuracy};
    h->record(&rec, h->user);
}

/* With a moving average: puts it in the model's place (in = 1) for evaluation and
 * selection, keeping the live weights aside, or the live weights back (in = 0). */
static void ema_swap(run_state *s, int in)
{
    const size_t bytes = sizeof(float) * s->model->size;
    if (in) {
        memcpy(s->live, s->model->values, bytes);
        memcpy(s->model->values, s->ema, bytes);
    } else {
        memcpy(s->model->values, s->live, bytes);
    }
    glia_model_weights_changed(s->model);
}

/* After an epoch: validation, selection, checkpoint, then the report (so that a run its
 * callback stops can resume). With a moving average, validation and selection judge the
 * average, and the best copy is the average's. */
static glia_status run_epoch_end(run_state *s, int epoch, const epoch_tally *t, const glia_loop_hooks *h,
                                 glia_train_result *result, glia_err *err)
{
    glia_progress p = epoch_progress(s->r, epoch, s->step, t);
    const int has_val = s->src->examples[GLIA_SPLIT_VAL] > 0;
    glia_status rc;
    if (s->ema)
        ema_swap(s, 1);
    if (has_val) {
        glia_eval_result ev;
        rc = evaluate_on(s->pool, s->model, s->src, GLIA_SPLIT_VAL, s->red, &ev, err);
        if (rc) {
            if (s->ema)
                ema_swap(s, 0);
            return rc;
        }
        p.val_loss = ev.loss;
        p.val_accuracy = ev.accuracy;
    }
    epoch_done(&p, has_val, &s->policy, s->model->values, s->best, s->model->size, s->t0, result);
    if (s->ema)
        ema_swap(s, 0);
    s->st.shuffle = s->rng.shuffle;
    s->st.batch = s->rng.batch;
    s->st.augment = s->rng.augment;
    glia_rng mine[MAX_LANES];
    for (int i = 0; i < s->nlanes; i++)
        mine[i] = s->lanes[i].dropout;
    if (!s->red)
        memcpy(s->st.dropout, mine, sizeof(glia_rng) * (size_t)s->nlanes);
    else if ((rc = s->red->gather(s->red, mine, sizeof(glia_rng) * (size_t)s->nlanes, s->st.dropout, err)) ||
             (rc = ranks_agree(s->red, s->model, 0, 0, s->step, "after an epoch", err)))
        return rc;
    if ((!s->red || s->rank == 0) &&
        (rc = glia_ckpt_after_epoch(s->r, &s->st, epoch + 1, s->step, s->earlier + glia_train_clock() - s->t0,
                                    &s->policy, result, &s->ck, err)))
        return rc;
    record_eval(s, h, &p);
    int stop = 0;
    if (h->progress)
        stop = h->progress(&p, h->user) != 0;
    if ((rc = any_rank(s->red, stop, &stop, err)))
        return rc;
    return stop ? glia_err_set(err, GLIA_ECANCELLED,
                               "training stopped by its progress callback after epoch %d", p.epoch)
                : GLIA_OK;
}

glia_status glia_loop_train(const glia_recipe *r, glia_model *model, glia_source *src,
                            const glia_loop_hooks *hooks, glia_train_result *result, glia_err *err)
{
    static const glia_loop_hooks none = {0};
    run_state s = {.r = r, .model = model, .src = src, .red = r->reducer};
    int first_epoch = 0;
    glia_status rc;
    s.nlanes = r->workers > 1 ? (r->workers < MAX_LANES ? r->workers : MAX_LANES) : 1;
    s.rank = s.red ? s.red->rank : 0;
    s.nranks = s.red ? s.red->size : 1;
    /* one lane: its backward runs on this thread, the one that may call the transport */
    s.overlap = s.red && s.red->start_sum_f32 && s.red->progress && s.red->wait_all &&
                s.red->bucket_floats > 0 && s.nlanes == 1;
    s.ov = (overlap_state){
        .red = s.red, .size = model->size - model->nbuffers, .bucket = s.red ? s.red->bucket_floats : 0};
    if (!hooks)
        hooks = &none;
    memset(result, 0, sizeof *result);
    result->best_val_accuracy = -1.0;
    if (src->examples[GLIA_SPLIT_TRAIN] == 0)
        return glia_err_set(err, GLIA_EINVAL, "the training split is empty");
    if ((rc = run_open(&s, err)))
        goto done;
    s.t0 = glia_train_clock();
    if ((rc = run_resume(&s, &first_epoch, result, err)))
        goto done;
    /* the replicas copied the buffers when they were made: a resumed run loaded others since */
    for (int i = 1; i < s.nlanes && model->nbuffers; i++)
        memcpy(s.lanes[i].model->buffers, model->buffers, sizeof(float) * model->nbuffers);
    glia_model_weights_changed(model);
    for (int epoch = first_epoch; epoch < r->epochs; epoch++) {
        epoch_tally t = {.started = glia_train_clock()};
        glia_labelled b;
        size_t done_examples = 0; /* of this epoch, for the per-step record */
        src->ops->epoch(src, &s.rng);
        for (;;) {
            if (!src->ops->next(src, &s.rng, &s.policy, &b))
                break;
            const double loss_before = t.loss_sum;
            if ((rc = should_stop(&s, hooks->cancel, epoch, err)) || (rc = run_step(&s, &b, epoch, &t, err)))
                goto done;
            done_examples += (size_t)b.in.n;
            record_step(&s, hooks, epoch, &t, loss_before, b.rows, done_examples);
        }
        if ((rc = run_epoch_end(&s, epoch, &t, hooks, result, err)))
            goto done;
    }
    if (r->select_best && result->best_epoch > 0) {
        memcpy(model->values, s.best, sizeof(float) * model->size);
        glia_model_weights_changed(model);
    } else if (s.ema) {
        memcpy(model->values, s.ema, sizeof(float) * model->size);
        glia_model_weights_changed(model);
    }
    result->seconds = s.earlier + glia_train_clock() - s.t0;
    result->steps = s.step;
done:
    result->buckets = s.ov.buckets;
    result->buckets_during_backward = s.ov.early;
    result->overlap_seconds = s.ov.window;
    run_free(&s);
    return rc;
}
