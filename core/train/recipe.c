/*
 * recipe.c - see recipe.h.
 */
#include "core/train/recipe.h"

#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "core/base/hash.h"
#include "core/base/yamlutil.h"
#include "core/data/catalog.h"
#include "core/text/lexicon.h"

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
void glia_recipe_resolve(const char *recipe_path, const char *rel, char out[GLIA_PATH_MAX])
{
    char dir[GLIA_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", recipe_path);
    if (rel[0] == '/')
        snprintf(out, GLIA_PATH_MAX, "%s", rel);
    else
        snprintf(out, GLIA_PATH_MAX, "%s/%s", dirname(dir), rel);
}

/* The text part: vocabulary: {min_count, max_size, lexicon_words}, lexicon: [{path, format, scale}],
 * embedding: {pretrained, init_std}. */
static glia_status parse_text_part(glia_yaml *y, yaml_node_t *root, const char *path, glia_recipe_text *t,
                                   glia_err *err)
{
    static const char *const vocab_keys[] = {"min_count", "max_size", "lexicon_words", NULL};
    static const char *const lex_keys[] = {"path", "format", "scale", NULL};
    static const char *const emb_keys[] = {"pretrained", "init_std", NULL};
    glia_status rc;
    yaml_node_t *n;
    t->vocab_min_count = 1;
    if ((n = glia_yaml_get(y, root, "vocabulary")) &&
        ((rc = glia_yaml_check_keys(y, n, "vocabulary", vocab_keys, err)) ||
         (rc = glia_yaml_opt_long(y, n, "min_count", 1, 1L << 30, &t->vocab_min_count, err)) ||
         (rc = glia_yaml_opt_long(y, n, "max_size", 0, 1L << 24, &t->vocab_max_size, err)) ||
         (rc = glia_yaml_opt_bool(y, n, "lexicon_words", &t->vocab_lexicon_words, err))))
        return rc;
    if (t->vocab_max_size == 1)
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "vocabulary.max_size must be 0 (no cap) or >= 2");
    if ((n = glia_yaml_get(y, root, "lexicon"))) {
        if (!glia_yaml_is_seq(n) || glia_yaml_seq_len(n) > GLIA_RECIPE_MAX_LEXICONS)
            return glia_yaml_error(y, n, GLIA_EINVAL, err,
                                   "lexicon: expected a list of at most %d {path, format, scale}",
                                   GLIA_RECIPE_MAX_LEXICONS);
        for (int i = 0; i < glia_yaml_seq_len(n); i++) {
            yaml_node_t *e = glia_yaml_seq_at(y, n, i);
            glia_recipe_lexicon *lex = &t->lexicons[t->nlexicons];
            const char *lpath = NULL, *format = "json";
            glia_lexicon_format known;
            lex->scale = 1.0f;
            if ((rc = glia_yaml_check_keys(y, e, "lexicon[]", lex_keys, err)) ||
                (rc = glia_yaml_string(y, glia_yaml_get(y, e, "path"), "lexicon[].path", &lpath, err)) ||
                (rc = glia_yaml_opt_string(y, e, "format", &format, err)) ||
                (rc = glia_yaml_opt_float(y, e, "scale", -1e6, 1e6, &lex->scale, err)))
                return rc;
            if ((rc = glia_lexicon_format_parse(format, &known, err)))
                return glia_yaml_error(y, e, rc, err, "lexicon[%d].format: %s", i, err->msg);
            snprintf(lex->format, sizeof lex->format, "%s", format);
            glia_recipe_resolve(path, lpath, lex->path);
            t->nlexicons++;
        }
    }
    const char *pre = NULL;
    if ((n = glia_yaml_get(y, root, "embedding")) &&
        ((rc = glia_yaml_check_keys(y, n, "embedding", emb_keys, err)) ||
         (rc = glia_yaml_opt_string(y, n, "pretrained", &pre, err)) ||
         (rc = glia_yaml_opt_float(y, n, "init_std", 1e-6, 100, &t->embedding_init_std, err))))
        return rc;
    if (pre && *pre)
        glia_recipe_resolve(path, pre, t->pretrained);
    return GLIA_OK;
}

/* The translation part: tokenizer {vocab_size, min_pair_count}, batch_tokens, evaluation
 * {beam_size, limit}. */
static glia_status parse_translation_part(glia_yaml *y, yaml_node_t *root, glia_recipe_translation *t,
                                          glia_err *err)
{
    static const char *const tok_keys[] = {"vocab_size", "min_pair_count", NULL};
    static const char *const eval_keys[] = {"beam_size", "limit", NULL};
    glia_status rc = GLIA_OK;
    yaml_node_t *n;
    t->bpe_vocab_size = 8000;
    t->bpe_min_pair_count = 2;
    t->batch_tokens = 4096;
    t->eval_beam = 4;
    if (((n = glia_yaml_get(y, root, "tokenizer")) &&
         ((rc = glia_yaml_check_keys(y, n, "tokenizer", tok_keys, err)) ||
          (rc = glia_yaml_opt_long(y, n, "vocab_size", 300, 1L << 20, &t->bpe_vocab_size, err)) ||
          (rc = glia_yaml_opt_long(y, n, "min_pair_count", 1, 1L << 30, &t->bpe_min_pair_count, err)))) ||
        (rc = glia_yaml_opt_long(y, root, "batch_tokens", 16, 1L << 24, &t->batch_tokens, err)) ||
        ((n = glia_yaml_get(y, root, "evaluation")) &&
         ((rc = glia_yaml_check_keys(y, n, "evaluation", eval_keys, err)) ||
          (rc = glia_yaml_opt_int(y, n, "beam_size", 1, 64, &t->eval_beam, err)) ||
          (rc = glia_yaml_opt_long(y, n, "limit", 0, 1L << 40, &t->eval_limit, err)))))
        return rc;
    return GLIA_OK;
}

/* The keys a recipe and a job's overrides share: seed, epochs, clip_grad_norm, select,
 * ema, batch, optimizer, schedule, loss, augment. Each present key changes only what it names. */
static glia_status apply_training_keys(glia_yaml *y, yaml_node_t *root, glia_recipe *r, glia_err *err)
{
    static const char *const loss_keys[] = {"label_smoothing", NULL};
    static const char *const aug_keys[] = {"hflip", "translate", "cutout", "negation", NULL};
    glia_status rc;
    yaml_node_t *n;
    long seed = (long)r->seed;
    const char *select = r->select_best ? "best" : "last";
    float ema = r->ema;
    if ((rc = glia_yaml_opt_long(y, root, "seed", 0, 0x7fffffffL, &seed, err)) ||
        (rc = glia_yaml_opt_int(y, root, "epochs", 1, 100000, &r->epochs, err)) ||
        (rc = glia_yaml_opt_float(y, root, "clip_grad_norm", 0, 1e9, &r->clip_norm, err)) ||
        (rc = glia_yaml_opt_float(y, root, "ema", 0, 1, &ema, err)) ||
        (rc = glia_yaml_opt_string(y, root, "select", &select, err)))
        return rc;
    if (ema >= 1.0f) /* an average that never moves from the initial weights */
        return glia_yaml_error(y, glia_yaml_get(y, root, "ema"), GLIA_EINVAL, err,
                               "ema: the decay must be below 1 (0 turns the average off)");
    r->ema = ema;
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
         (rc = glia_yaml_opt_bool(y, n, "hflip", &r->image.hflip, err)) ||
         (rc = glia_yaml_opt_int(y, n, "translate", 0, 64, &r->image.translate, err)) ||
         (rc = glia_yaml_opt_int(y, n, "cutout", 0, 1024, &r->image.cutout, err)) ||
         (rc = glia_yaml_opt_bool(y, n, "negation", &r->text.augment_negation, err))))
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
        "model",     "dataset",      "seed",           "epochs", "batch",      "optimizer", "schedule",
        "loss",      "augment",      "clip_grad_norm", "select", "vocabulary", "lexicon",   "embedding",
        "tokenizer", "batch_tokens", "evaluation",     "init",   "ema",        NULL};
    static const char *const data_keys[] = {"name", "path", "validation", "limit", NULL};
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
    glia_recipe_resolve(path, model, r->model);
    n = glia_yaml_get(&y, root, "dataset");
    if ((rc = glia_yaml_check_keys(&y, n, "dataset", data_keys, err)) ||
        (rc = glia_yaml_string(&y, glia_yaml_get(&y, n, "name"), "dataset.name", &dname, err)) ||
        (rc = glia_yaml_opt_string(&y, n, "path", &dpath, err)) ||
        (rc = glia_yaml_opt_long(&y, n, "validation", 0, 1L << 40, &r->validation, err)) ||
        (rc = glia_yaml_opt_long(&y, n, "limit", 0, 1L << 40, &r->limit, err)))
        goto out;
    if (!glia_data_find(dname)) {
        char known[256];
        rc = glia_yaml_error(&y, glia_yaml_get(&y, n, "name"), GLIA_EUNSUPPORTED, err,
                             "dataset.name '%s' is not known (known: %s)", dname,
                             glia_data_names(known, sizeof known));
        goto out;
    }
    if ((rc = parse_translation_part(&y, root, &r->translation, err)))
        goto out;
    if ((n = glia_yaml_get(&y, root, "init"))) {
        static const char *const init_keys[] = {"bundle", "tensors", NULL};
        const char *bundle = NULL, *tensors = "all";
        if ((rc = glia_yaml_check_keys(&y, n, "init", init_keys, err)) ||
            (rc = glia_yaml_string(&y, glia_yaml_get(&y, n, "bundle"), "init.bundle", &bundle, err)) ||
            (rc = glia_yaml_opt_string(&y, n, "tensors", &tensors, err)))
            goto out;
        /* text recipes: every pretrained tensor (all) or the word vectors alone (embedding) */
        if ((strcmp(tensors, "all") != 0 && strcmp(tensors, "embedding") != 0) ||
            (strcmp(tensors, "all") != 0 && glia_data_find(dname)->kind != GLIA_DATA_TEXTS)) {
            rc = glia_yaml_error(&y, glia_yaml_get(&y, n, "tensors"), GLIA_EINVAL, err,
                                 "init.tensors: expected all or embedding (text recipes), got '%s'", tensors);
            goto out;
        }
        r->text.init_embedding_only = strcmp(tensors, "embedding") == 0;
        const glia_data_kind kind = glia_data_find(dname)->kind;
        if (kind != GLIA_DATA_PAIRS && kind != GLIA_DATA_TEXTS) {
            rc = glia_yaml_error(
                &y, n, GLIA_EUNSUPPORTED, err,
                "init: starting from a bundle's weights is for translation and text models only");
            goto out;
        }
        /* translation: a bundle; text: a language model's pretraining output (lmtrain.h) */
        glia_recipe_resolve(path, bundle,
                            kind == GLIA_DATA_PAIRS ? r->translation.init_bundle : r->text.init_bundle);
    }
    snprintf(r->dataset, sizeof r->dataset, "%s", dname);
    if (*dpath)
        glia_recipe_resolve(path, dpath, r->dataset_path);
    if ((rc = parse_text_part(&y, root, path, &r->text, err)) || (rc = apply_training_keys(&y, root, r, err)))
        goto out;
    rc = finish_recipe(r, path, err);
out:
    glia_yaml_free(&y);
    return rc;
}

glia_status glia_recipe_override(glia_recipe *r, const char *text, size_t len, const char *name,
                                 glia_err *err)
{
    static const char *const keys[] = {"seed",           "epochs",  "batch",  "optimizer", "schedule",
                                       "loss",           "augment", "select", "lr",        "dataset",
                                       "clip_grad_norm", "ema",     NULL};
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

void glia_recipe_fingerprint(const glia_recipe *r, char *out, size_t len)
{
    char buf[2048];
    size_t n = 0;
#define ADD(...)                                                                                             \
    do {                                                                                                     \
        if (n < sizeof buf)                                                                                  \
            n += (size_t)snprintf(buf + n, sizeof buf - n, __VA_ARGS__);                                     \
    } while (0)
    const glia_batch_config *b = &r->batch;
    const glia_optim_config *o = &r->optim;
    const glia_sched_config *sc = &r->sched;
    ADD("data %s %ld %ld seed %lu ", r->dataset, r->validation, r->limit, r->seed);
    ADD("batch %d %d %d %d %.9g %d %.9g ", (int)b->kind, b->size, b->min, b->max, (double)b->growth,
        b->patience, (double)b->min_delta);
    ADD("optim %d %.9g %.9g %.9g %d %.9g %.9g %d %.9g %.9g %.9g %d ", (int)o->kind, (double)o->lr,
        (double)o->momentum, (double)o->dampening, o->nesterov, (double)o->weight_decay, (double)o->alpha,
        o->centered, (double)o->beta1, (double)o->beta2, (double)o->eps, o->amsgrad);
    ADD("sched %d %.9g %d %.9g %d %.9g %ld %.9g ", (int)sc->kind, (double)sc->base_lr, sc->step_size,
        (double)sc->gamma, sc->kind == GLIA_SCHED_COSINE ? sc->total_epochs : 0, (double)sc->min_lr,
        sc->warmup_steps, (double)sc->warmup_start_factor);
    ADD("loss %.9g clip %.9g ", (double)r->label_smoothing, (double)r->clip_norm);
    switch (glia_recipe_kind(r)) {
    case GLIA_DATA_IMAGES: ADD("image %d %d %d", r->image.hflip, r->image.translate, r->image.cutout); break;
    case GLIA_DATA_TEXTS: {
        const glia_recipe_text *t = &r->text;
        ADD("text %ld %ld %d %d %.9g %d %d %d", t->vocab_min_count, t->vocab_max_size, t->vocab_lexicon_words,
            t->augment_negation, (double)t->embedding_init_std, t->pretrained[0] != 0, t->init_bundle[0] != 0,
            t->init_embedding_only);
        for (int i = 0; i < t->nlexicons; i++)
            ADD(" %s %.9g", t->lexicons[i].format, (double)t->lexicons[i].scale);
        break;
    }
    case GLIA_DATA_PAIRS:
        ADD("pairs %ld %ld %ld %d", r->translation.bpe_vocab_size, r->translation.bpe_min_pair_count,
            r->translation.batch_tokens, r->translation.init_bundle[0] != 0);
        break;
    default: break;
    }
#undef ADD
    snprintf(out, len, "run-%08x", (unsigned)glia_fnv1a32(buf, n < sizeof buf ? n : sizeof buf - 1));
}

glia_data_kind glia_recipe_kind(const glia_recipe *r)
{
    const glia_data_set *data = glia_data_find(r->dataset);
    return data ? data->kind : GLIA_DATA_NKINDS;
}
