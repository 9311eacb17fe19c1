/*
 * trainer.c - see trainer.h.
 *
 * Random streams: weight init, shuffling, batch-size draws, dropout and augmentation
 * each get their own generator seeded from (seed, stream), so that turning
 * augmentation on, say, does not change the initial weights.
 */
#include "core/train/trainer.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/pool.h"
#include "core/train/checkpoint.h"
#include "core/base/yamlutil.h"
#include "core/nn/kernels.h"
#include "core/nn/loss.h"

double glia_train_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- recipe ---- */

static glia_status parse_optimizer(glia_yaml *y, yaml_node_t *n, glia_optim_config *o, glia_err *err)
{
    static const char *const keys[] = {"type",         "lr",      "momentum", "dampening", "nesterov",
                                       "weight_decay", "alpha",   "centered", "beta1",     "beta2",
                                       "eps",          "amsgrad", NULL};
    const char *type = NULL; /* absent: the optimizer o already holds, with its settings */
    glia_optim_kind kind;
    glia_status rc;
    if ((rc = glia_yaml_check_keys(y, n, "optimizer", keys, err)) ||
        (rc = glia_yaml_opt_string(y, n, "type", &type, err)))
        return rc;
    if (type && (rc = glia_optim_kind_parse(type, &kind, err)))
        return glia_yaml_error(y, glia_yaml_get(y, n, "type"), rc, err, "optimizer.type: %s", err->msg);
    if (type)
        glia_optim_defaults(kind, o);
    if ((rc = glia_yaml_opt_float(y, n, "lr", 0, 1e3, &o->lr, err)) ||
        (rc = glia_yaml_opt_float(y, n, "momentum", 0, 1, &o->momentum, err)) ||
        (rc = glia_yaml_opt_float(y, n, "dampening", 0, 1, &o->dampening, err)) ||
        (rc = glia_yaml_opt_bool(y, n, "nesterov", &o->nesterov, err)) ||
        (rc = glia_yaml_opt_float(y, n, "weight_decay", 0, 1e3, &o->weight_decay, err)) ||
        (rc = glia_yaml_opt_float(y, n, "alpha", 0, 1, &o->alpha, err)) ||
        (rc = glia_yaml_opt_bool(y, n, "centered", &o->centered, err)) ||
        (rc = glia_yaml_opt_float(y, n, "beta1", 0, 1, &o->beta1, err)) ||
        (rc = glia_yaml_opt_float(y, n, "beta2", 0, 1, &o->beta2, err)) ||
        (rc = glia_yaml_opt_float(y, n, "eps", 0, 1, &o->eps, err)) ||
        (rc = glia_yaml_opt_bool(y, n, "amsgrad", &o->amsgrad, err)))
        return rc;
    return GLIA_OK;
}

static glia_status parse_schedule(glia_yaml *y, yaml_node_t *n, glia_sched_config *s, glia_err *err)
{
    static const char *const keys[] = {"type",         "step_size",           "gamma", "min_lr",
                                       "warmup_steps", "warmup_start_factor", NULL};
    const char *type = NULL; /* absent: keep the kind s holds */
    glia_status rc;
    if ((rc = glia_yaml_check_keys(y, n, "schedule", keys, err)) ||
        (rc = glia_yaml_opt_string(y, n, "type", &type, err)))
        return rc;
    if (type && (rc = glia_sched_kind_parse(type, &s->kind, err)))
        return glia_yaml_error(y, glia_yaml_get(y, n, "type"), rc, err, "schedule.type: %s", err->msg);
    if ((rc = glia_yaml_opt_int(y, n, "step_size", 1, 1 << 20, &s->step_size, err)) ||
        (rc = glia_yaml_opt_float(y, n, "gamma", 0, 1e3, &s->gamma, err)) ||
        (rc = glia_yaml_opt_float(y, n, "min_lr", 0, 1e3, &s->min_lr, err)) ||
        (rc = glia_yaml_opt_long(y, n, "warmup_steps", 0, 1L << 40, &s->warmup_steps, err)) ||
        (rc = glia_yaml_opt_float(y, n, "warmup_start_factor", 0, 1, &s->warmup_start_factor, err)))
        return rc;
    return GLIA_OK;
}

static glia_status parse_batch(glia_yaml *y, yaml_node_t *n, glia_batch_config *b, glia_err *err)
{
    static const char *const keys[] = {"policy", "size",     "min",       "max",
                                       "growth", "patience", "min_delta", NULL};
    const char *policy = NULL; /* absent: keep the policy b holds */
    glia_status rc;
    if ((rc = glia_yaml_check_keys(y, n, "batch", keys, err)) ||
        (rc = glia_yaml_opt_string(y, n, "policy", &policy, err)))
        return rc;
    if (policy && (rc = glia_batch_kind_parse(policy, &b->kind, err)))
        return glia_yaml_error(y, glia_yaml_get(y, n, "policy"), rc, err, "batch.policy: %s", err->msg);
    if ((rc = glia_yaml_opt_int(y, n, "size", 1, 1 << 16, &b->size, err)) ||
        (rc = glia_yaml_opt_int(y, n, "min", 1, 1 << 16, &b->min, err)) ||
        (rc = glia_yaml_opt_int(y, n, "max", 1, 1 << 16, &b->max, err)) ||
        (rc = glia_yaml_opt_float(y, n, "growth", 1, 1e3, &b->growth, err)) ||
        (rc = glia_yaml_opt_int(y, n, "patience", 1, 1 << 20, &b->patience, err)) ||
        (rc = glia_yaml_opt_float(y, n, "min_delta", 0, 1e6, &b->min_delta, err)))
        return rc;
    return GLIA_OK;
}

/* rel resolved against the directory of the recipe at recipe_path (absolute paths kept). */
static void resolve_path(const char *recipe_path, const char *rel, char out[GLIA_PATH_MAX])
{
    char dir[GLIA_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", recipe_path);
    if (rel[0] == '/')
        snprintf(out, GLIA_PATH_MAX, "%s", rel);
    else
        snprintf(out, GLIA_PATH_MAX, "%s/%s", dirname(dir), rel);
}

/* vocabulary: {min_count, max_size}, lexicon: [{path, format, scale}], embedding: {pretrained} */
static glia_status parse_text_options(glia_yaml *y, yaml_node_t *root, const char *path, glia_recipe *r,
                                      glia_err *err)
{
    static const char *const vocab_keys[] = {"min_count", "max_size", NULL};
    static const char *const lex_keys[] = {"path", "format", "scale", NULL};
    static const char *const emb_keys[] = {"pretrained", "init_std", NULL};
    glia_status rc;
    yaml_node_t *n;
    r->vocab_min_count = 1;
    if ((n = glia_yaml_get(y, root, "vocabulary")) &&
        ((rc = glia_yaml_check_keys(y, n, "vocabulary", vocab_keys, err)) ||
         (rc = glia_yaml_opt_long(y, n, "min_count", 1, 1L << 30, &r->vocab_min_count, err)) ||
         (rc = glia_yaml_opt_long(y, n, "max_size", 0, 1L << 24, &r->vocab_max_size, err))))
        return rc;
    if (r->vocab_max_size == 1)
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "vocabulary.max_size must be 0 (no cap) or >= 2");
    if ((n = glia_yaml_get(y, root, "lexicon"))) {
        if (!glia_yaml_is_seq(n) || glia_yaml_seq_len(n) > GLIA_RECIPE_MAX_LEXICONS)
            return glia_yaml_error(y, n, GLIA_EINVAL, err,
                                   "lexicon: expected a list of at most %d {path, format, scale}",
                                   GLIA_RECIPE_MAX_LEXICONS);
        for (int i = 0; i < glia_yaml_seq_len(n); i++) {
            yaml_node_t *e = glia_yaml_seq_at(y, n, i);
            glia_lexicon_source *src = &r->lexicons[r->nlexicons];
            const char *lpath = NULL, *format = "json";
            src->scale = 1.0f;
            if ((rc = glia_yaml_check_keys(y, e, "lexicon[]", lex_keys, err)) ||
                (rc = glia_yaml_string(y, glia_yaml_get(y, e, "path"), "lexicon[].path", &lpath, err)) ||
                (rc = glia_yaml_opt_string(y, e, "format", &format, err)) ||
                (rc = glia_yaml_opt_float(y, e, "scale", -1e6, 1e6, &src->scale, err)))
                return rc;
            if ((rc = glia_lexicon_format_parse(format, &src->format, err)))
                return glia_yaml_error(y, e, rc, err, "lexicon[%d].format: %s", i, err->msg);
            resolve_path(path, lpath, src->path);
            r->nlexicons++;
        }
    }
    const char *pre = NULL;
    if ((n = glia_yaml_get(y, root, "embedding")) &&
        ((rc = glia_yaml_check_keys(y, n, "embedding", emb_keys, err)) ||
         (rc = glia_yaml_opt_string(y, n, "pretrained", &pre, err)) ||
         (rc = glia_yaml_opt_float(y, n, "init_std", 1e-6, 100, &r->embedding_init_std, err))))
        return rc;
    if (pre && *pre)
        resolve_path(path, pre, r->pretrained);
    return GLIA_OK;
}

/* The keys a recipe and a job's overrides share: seed, epochs, clip_grad_norm, select,
 * batch, optimizer, schedule, loss, augment. Each present key changes only what it names. */
static glia_status apply_training_keys(glia_yaml *y, yaml_node_t *root, glia_recipe *r, glia_err *err)
{
    static const char *const loss_keys[] = {"label_smoothing", NULL};
    static const char *const aug_keys[] = {"hflip", "translate", NULL};
    glia_status rc;
    yaml_node_t *n;
    long seed = (long)r->seed;
    const char *select = r->select_best ? "best" : "last";
    if ((rc = glia_yaml_opt_long(y, root, "seed", 0, 0x7fffffffL, &seed, err)) ||
        (rc = glia_yaml_opt_int(y, root, "epochs", 1, 100000, &r->epochs, err)) ||
        (rc = glia_yaml_opt_float(y, root, "clip_grad_norm", 0, 1e9, &r->clip_norm, err)) ||
        (rc = glia_yaml_opt_string(y, root, "select", &select, err)))
        return rc;
    r->seed = (unsigned long)seed;
    if (strcmp(select, "best") != 0 && strcmp(select, "last") != 0)
        return glia_yaml_error(y, glia_yaml_get(y, root, "select"), GLIA_EINVAL, err,
                               "select: expected 'best' or 'last', got '%s'", select);
    r->select_best = strcmp(select, "best") == 0;
    if (((n = glia_yaml_get(y, root, "batch")) && (rc = parse_batch(y, n, &r->batch, err))) ||
        ((n = glia_yaml_get(y, root, "optimizer")) && (rc = parse_optimizer(y, n, &r->optim, err))) ||
        ((n = glia_yaml_get(y, root, "schedule")) && (rc = parse_schedule(y, n, &r->sched, err))))
        return rc;
    if ((n = glia_yaml_get(y, root, "loss")) &&
        ((rc = glia_yaml_check_keys(y, n, "loss", loss_keys, err)) ||
         (rc = glia_yaml_opt_float(y, n, "label_smoothing", 0, 1, &r->label_smoothing, err))))
        return rc;
    if ((n = glia_yaml_get(y, root, "augment")) &&
        ((rc = glia_yaml_check_keys(y, n, "augment", aug_keys, err)) ||
         (rc = glia_yaml_opt_bool(y, n, "hflip", &r->hflip, err)) ||
         (rc = glia_yaml_opt_int(y, n, "translate", 0, 64, &r->translate, err))))
        return rc;
    return GLIA_OK;
}

/* What follows from the keys: the schedule's period and base rate, and the checks that
 * need several keys at once. */
static glia_status finish_recipe(glia_recipe *r, const char *what, glia_err *err)
{
    glia_batch_policy probe;
    glia_status rc;
    r->sched.total_epochs = r->epochs;
    r->sched.base_lr = r->optim.lr;
    if ((rc = glia_batch_init(&probe, &r->batch, err)) || (rc = glia_sched_validate(&r->sched, err)))
        glia_err_prefix(err, "%s", what);
    return rc;
}

glia_status glia_recipe_load(const char *path, glia_recipe *r, glia_err *err)
{
    static const char *const top_keys[] = {
        "model",    "dataset",   "seed",      "epochs",         "batch",      "optimizer",
        "schedule", "loss",      "augment",   "clip_grad_norm", "select",     "vocabulary",
        "lexicon",  "embedding", "tokenizer", "batch_tokens",   "evaluation", NULL};
    static const char *const data_keys[] = {"name", "path", "validation", "limit", NULL};
    static const char *const tok_keys[] = {"vocab_size", "min_pair_count", NULL};
    static const char *const eval_keys[] = {"beam_size", "limit", NULL};
    glia_yaml y;
    glia_status rc;
    const char *model = NULL, *dname = NULL, *dpath = "";
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->seed = 1;
    r->epochs = 10;
    r->validation = 5000;
    r->select_best = 1;
    r->batch = (glia_batch_config){GLIA_BATCH_FIXED, 64, 16, 256, 2.0f, 2, 0.0f};
    glia_optim_defaults(GLIA_OPTIM_ADAM, &r->optim);
    r->sched = (glia_sched_config){.kind = GLIA_SCHED_CONSTANT, .step_size = 1, .gamma = 0.1f};
    if ((rc = glia_yaml_load_file(path, &y, err)))
        return rc;
    yaml_node_t *root = glia_yaml_root(&y), *n;
    if ((rc = glia_yaml_check_keys(&y, root, "recipe", top_keys, err)) ||
        (rc = glia_yaml_string(&y, glia_yaml_get(&y, root, "model"), "model", &model, err)))
        goto out;
    resolve_path(path, model, r->model);
    n = glia_yaml_get(&y, root, "dataset");
    if ((rc = glia_yaml_check_keys(&y, n, "dataset", data_keys, err)) ||
        (rc = glia_yaml_string(&y, glia_yaml_get(&y, n, "name"), "dataset.name", &dname, err)) ||
        (rc = glia_yaml_opt_string(&y, n, "path", &dpath, err)) ||
        (rc = glia_yaml_opt_long(&y, n, "validation", 0, 1L << 40, &r->validation, err)) ||
        (rc = glia_yaml_opt_long(&y, n, "limit", 0, 1L << 40, &r->limit, err)))
        goto out;
    if (strcmp(dname, "fashion-mnist") != 0 && strcmp(dname, "uci-sentiment") != 0 &&
        strcmp(dname, "gettext-en-es") != 0) {
        rc = glia_yaml_error(
            &y, glia_yaml_get(&y, n, "name"), GLIA_EUNSUPPORTED, err,
            "dataset.name '%s' is not known (known: fashion-mnist, uci-sentiment, gettext-en-es)", dname);
        goto out;
    }
    /* translation: tokenizer {vocab_size, min_pair_count}, batch_tokens, evaluation {beam_size, limit} */
    r->bpe_vocab_size = 8000;
    r->bpe_min_pair_count = 2;
    r->batch_tokens = 4096;
    r->eval_beam = 4;
    if (((n = glia_yaml_get(&y, root, "tokenizer")) &&
         ((rc = glia_yaml_check_keys(&y, n, "tokenizer", tok_keys, err)) ||
          (rc = glia_yaml_opt_long(&y, n, "vocab_size", 300, 1L << 20, &r->bpe_vocab_size, err)) ||
          (rc = glia_yaml_opt_long(&y, n, "min_pair_count", 1, 1L << 30, &r->bpe_min_pair_count, err)))) ||
        (rc = glia_yaml_opt_long(&y, root, "batch_tokens", 16, 1L << 24, &r->batch_tokens, err)) ||
        ((n = glia_yaml_get(&y, root, "evaluation")) &&
         ((rc = glia_yaml_check_keys(&y, n, "evaluation", eval_keys, err)) ||
          (rc = glia_yaml_opt_int(&y, n, "beam_size", 1, 64, &r->eval_beam, err)) ||
          (rc = glia_yaml_opt_long(&y, n, "limit", 0, 1L << 40, &r->eval_limit, err)))))
        goto out;
    snprintf(r->dataset, sizeof r->dataset, "%s", dname);
    if (*dpath)
        resolve_path(path, dpath, r->dataset_path);
    if ((rc = parse_text_options(&y, root, path, r, err)) || (rc = apply_training_keys(&y, root, r, err)))
        goto out;
    rc = finish_recipe(r, path, err);
out:
    glia_yaml_free(&y);
    return rc;
}

glia_status glia_recipe_override(glia_recipe *r, const char *text, size_t len, const char *name,
                                 glia_err *err)
{
    static const char *const keys[] = {"seed",    "epochs", "batch", "optimizer", "schedule",       "loss",
                                       "augment", "select", "lr",    "dataset",   "clip_grad_norm", NULL};
    static const char *const data_keys[] = {"validation", "limit", NULL};
    glia_yaml y;
    glia_status rc = glia_yaml_load_buffer(text, len, name, &y, err);
    if (rc != GLIA_OK)
        return rc;
    yaml_node_t *root = glia_yaml_root(&y), *n;
    if (!glia_yaml_is_map(root)) {
        rc = glia_yaml_error(&y, root, GLIA_EINVAL, err, "expected a mapping of recipe keys");
        goto out;
    }
    if ((rc = glia_yaml_check_keys(&y, root, "recipe", keys, err)) ||
        (rc = apply_training_keys(&y, root, r, err)) ||
        (rc = glia_yaml_opt_float(&y, root, "lr", 0, 1e3, &r->optim.lr, err)))
        goto out;
    if ((n = glia_yaml_get(&y, root, "dataset")) &&
        ((rc = glia_yaml_check_keys(&y, n, "dataset", data_keys, err)) ||
         (rc = glia_yaml_opt_long(&y, n, "validation", 0, 1L << 40, &r->validation, err)) ||
         (rc = glia_yaml_opt_long(&y, n, "limit", 0, 1L << 40, &r->limit, err))))
        goto out;
    rc = finish_recipe(r, name, err);
out:
    glia_yaml_free(&y);
    return rc;
}

/* ---- training loop ---- */

void glia_train_seed_stream(glia_rng *rng, unsigned long seed, int stream)
{
    glia_rng_seed(rng, (uint64_t)seed * 0x100000001b3ULL + (uint64_t)stream);
}

glia_progress glia_train_progress(const glia_recipe *r, int epoch, long step, const glia_epoch_tally *t)
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

void glia_train_epoch_done(glia_progress *p, int has_val, glia_batch_policy *policy, const float *values,
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

glia_status glia_train_should_stop(const glia_recipe *r, const atomic_int *cancel, int epoch, long step,
                                   glia_err *err)
{
    if (cancel && atomic_load(cancel))
        return glia_err_set(err, GLIA_ECANCELLED, "training cancelled at epoch %d, step %ld", epoch + 1,
                            step);
    if (r->deadline > 0 && glia_train_clock() >= r->deadline)
        return glia_err_set(err, GLIA_ETIMEDOUT, "training stopped at its time limit, at epoch %d, step %ld",
                            epoch + 1, step);
    return GLIA_OK;
}

glia_status glia_train_report(const glia_progress *p, glia_progress_fn cb, void *user, glia_err *err)
{
    if (cb && cb(p, user))
        return glia_err_set(err, GLIA_ECANCELLED, "training stopped by its progress callback after epoch %d",
                            p->epoch);
    return GLIA_OK;
}

double glia_clip_grad_norm(float *grads, size_t n, float max_norm)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)grads[i] * grads[i];
    double norm = sqrt(sum);
    if (max_norm > 0 && norm > max_norm) {
        /* torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) */
        float scale = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < n; i++)
            grads[i] *= scale;
    }
    return norm;
}

/* ---- evaluation ---- */

typedef struct {
    const glia_net *net;
    const glia_dataset *ds;
    int batch, lanes;
    glia_ctx **ctx;
    double *loss;  /* per lane */
    size_t *right; /* per lane */
} eval_job;

/* Lane i takes batches i, i + lanes, ... */
static void eval_lane(void *arg, int lane)
{
    eval_job *j = arg;
    const int k = j->net->output.c;
    const size_t sample = glia_dataset_sample(j->ds), step = (size_t)j->batch * (size_t)j->lanes;
    double total = 0.0;
    size_t right = 0;
    for (size_t i = (size_t)lane * (size_t)j->batch; i < j->ds->n; i += step) {
        int b = (int)(j->ds->n - i < (size_t)j->batch ? j->ds->n - i : (size_t)j->batch);
        const float *out = glia_net_forward(j->net, j->ctx[lane], j->ds->x + i * sample, b, NULL);
        total += glia_xent(out, j->ds->y + i, b, k, 0.0f, -100, NULL, NULL) * b;
        for (int r = 0; r < b; r++)
            right += glia_argmax(out + (size_t)r * k, k) == j->ds->y[i + (size_t)r];
    }
    j->loss[lane] = total;
    j->right[lane] = right;
}

static glia_status evaluate_on(glia_pool *pool, const glia_net *net, const glia_dataset *ds, int batch,
                               double *loss, double *accuracy, glia_err *err)
{
    enum { MAX_LANES = 64 };
    glia_ctx *ctx[MAX_LANES] = {0};
    double lane_loss[MAX_LANES] = {0};
    size_t lane_right[MAX_LANES] = {0};
    int lanes = glia_pool_size(pool) < MAX_LANES ? glia_pool_size(pool) : MAX_LANES;
    glia_status rc = GLIA_OK;
    if (batch <= 0)
        batch = 256;
    for (int i = 0; i < lanes; i++)
        if ((rc = glia_ctx_new(net, batch, 0, &ctx[i], err)))
            goto done;
    eval_job job = {net, ds, batch, lanes, ctx, lane_loss, lane_right};
    glia_pool_run(pool, eval_lane, &job);
    double total = 0.0;
    size_t right = 0;
    for (int i = 0; i < lanes; i++) {
        total += lane_loss[i];
        right += lane_right[i];
    }
    if (loss)
        *loss = ds->n ? total / ds->n : 0.0;
    if (accuracy)
        *accuracy = ds->n ? (double)right / ds->n : 0.0;
done:
    for (int i = 0; i < lanes; i++)
        glia_ctx_free(ctx[i]);
    return rc;
}

glia_status glia_evaluate(const glia_net *net, const glia_dataset *ds, int batch, int workers, double *loss,
                          double *accuracy, glia_err *err)
{
    glia_pool *pool = NULL;
    glia_status rc = glia_pool_new(workers > 1 ? workers : 1, &pool, err);
    if (rc == GLIA_OK)
        rc = evaluate_on(pool, net, ds, batch, loss, accuracy, err);
    glia_pool_free(pool);
    return rc;
}
