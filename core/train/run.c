/*
 * run.c - see run.h.
 */
#include "core/train/run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/afile.h"
#include "core/data/helpdocs.h"
#include "core/model/bundle.h"
#include "core/nn/version.h"
#include "core/train/imagetrain.h"
#include "core/train/loop.h"
#include "core/train/mttrain.h"
#include "core/train/texttrain.h"

/* Whether this process writes the bundle: the only one, or rank 0 of a run across
 * processes, the others having trained their shards alongside it (reduce.h). The test
 * split is evaluated where the bundle is written. */
static int writes_bundle(const glia_recipe *r)
{
    return !r->reducer || r->reducer->rank == 0;
}

/* Copies a small file (a recipe, a label list) atomically (core/base/afile.h). */
static glia_status copy_atomic(const char *src, const char *dst, glia_err *err)
{
    struct stat a, b;
    if (stat(src, &a) == 0 && stat(dst, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return GLIA_OK; /* training into the bundle's own directory */
    FILE *in = fopen(src, "rb");
    if (!in)
        return glia_err_set(err, GLIA_EIO, "%s: %s", src, strerror(errno));
    glia_afile out;
    glia_status rc = glia_afile_open(&out, dst, 0644, err); /* bundle files are as public as the bundle */
    if (rc != GLIA_OK) {
        fclose(in);
        return rc;
    }
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, got, out.f);
    int bad = ferror(in);
    fclose(in);
    if (bad) {
        glia_afile_abort(&out);
        return glia_err_set(err, GLIA_EIO, "%s: read failed", src);
    }
    return glia_afile_commit(&out, err);
}

/* recipe.yaml, labels.txt, then model.yaml with the results: the manifest last. */
static glia_status write_bundle_files(const glia_recipe *r, const glia_manifest *m, const char *out,
                                      long version, const char *results, glia_err *err)
{
    char path[GLIA_PATH_MAX + 64], src[GLIA_PATH_MAX + 16];
    glia_status rc;
    snprintf(path, sizeof path, "%s/recipe.yaml", out);
    if ((rc = copy_atomic(r->path, path, err)))
        return rc;
    if (m->nlabels) {
        snprintf(src, sizeof src, "%s/labels.txt", m->dir);
        snprintf(path, sizeof path, "%s/labels.txt", out);
        if ((rc = copy_atomic(src, path, err)))
            return rc;
    }
    snprintf(path, sizeof path, "%s/model.yaml", out);
    return glia_manifest_write_version(r->model, path, version, results, err);
}

static void format_training(char *buf, size_t len, const glia_recipe *r, const glia_run_result *res,
                            int threads)
{
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now));
    char processes[32] = ""; /* data-parallel over processes: threads are each one's */
    if (r->reducer && r->reducer->size > 1)
        snprintf(processes, sizeof processes, "  processes: %d\n", r->reducer->size);
    snprintf(buf, len,
             "training:\n  recipe: recipe.yaml\n  epochs: %d\n  steps: %ld\n  seconds: %.0f\n  threads: %d\n"
             "%s  date: %s\n",
             r->epochs, res->train.steps, res->train.seconds, threads, processes, date);
}

/* The test split of src, through the one evaluation: touched once, after selection. */
static glia_status evaluate_test(const glia_recipe *r, const glia_model *model, glia_source *src,
                                 glia_run_result *res, glia_err *err)
{
    glia_eval_result ev;
    glia_status rc = glia_loop_evaluate(model, src, GLIA_SPLIT_TEST, r->workers, &ev, err);
    if (rc == GLIA_OK) {
        res->test_loss = ev.loss;
        res->test_accuracy = ev.accuracy;
        res->test_examples = src->examples[GLIA_SPLIT_TEST];
        for (int g = 0; g < ev.ngroups && g < GLIA_UCI_NSOURCES; g++)
            res->per_source[g] = ev.group_accuracy[g];
    }
    return rc;
}

static const char *const save_meta[] = {"format", "pt", "producer", "glia train", "recipe", NULL, NULL};

/* model.safetensors in out, its metadata naming the recipe. */
static glia_status save_weights(const glia_recipe *r, const glia_model *model, const char *out, glia_err *err)
{
    char path[GLIA_PATH_MAX + 64];
    const char *meta[sizeof save_meta / sizeof *save_meta];
    memcpy(meta, save_meta, sizeof meta);
    meta[5] = r->path;
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    return model->ops->save(model, path, meta, err);
}

/* The test spec of a recipe: its data set's directory or its upload. */
static glia_test_spec recipe_test_spec(const glia_recipe *r, long limit, int beam)
{
    return (glia_test_spec){.dataset = r->dataset,
                            .dir = r->dataset_path[0] ? r->dataset_path : NULL,
                            .file = r->dataset_file[0] ? r->dataset_file : NULL,
                            .images = r->images_file[0] ? r->images_file : NULL,
                            .labels = r->labels_file[0] ? r->labels_file : NULL,
                            .limit = limit,
                            .beam = beam,
                            .lanes = r->workers};
}

/* The test split of images: an upload's own, else Fashion-MNIST's test file. */
static glia_status load_image_test(const glia_test_spec *s, const glia_manifest *m, int nclasses,
                                   glia_dataset *test, glia_err *err)
{
    if (s->images)
        return glia_dataset_load_idx(s->images, s->labels, &m->pre, m->input, nclasses, "test", test, err);
    return glia_dataset_load_fashion(s->dir, "test", &m->pre, (size_t)(s->limit > 0 ? s->limit : 0), test,
                                     err);
}

/* The run's hooks as the loop takes them. */
static glia_loop_hooks loop_hooks(const glia_run_hooks *h)
{
    return (glia_loop_hooks){h->progress, h->user, h->cancel, h->record};
}

static glia_status run_image(const glia_recipe *r, const char *out, long version, const glia_run_hooks *h,
                             glia_run_result *res, glia_err *err)
{
    const glia_loop_hooks loop = loop_hooks(h);
    glia_manifest m = {0};
    glia_model *model = NULL;
    glia_source *src = NULL;
    glia_dataset all = {0}, dev = {0}, test = {0};
    glia_status rc;
    if ((rc = glia_manifest_load(r->model, &m, err)) || (rc = glia_model_new(&m, &model, err)))
        goto done;
    const char *dpath = r->dataset_path[0] ? r->dataset_path : NULL;
    glia_dataset train, val;
    if (r->images_file[0]) { /* an upload: its own train/dev/test split, held in `all` and `dev` */
        if ((rc = glia_dataset_load_idx(r->images_file, r->labels_file, &m.pre, m.input, model->outputs,
                                        "train", &all, err)) ||
            (rc = glia_dataset_load_idx(r->images_file, r->labels_file, &m.pre, m.input, model->outputs,
                                        "dev", &dev, err)))
            goto done;
        train = glia_dataset_view(&all, 0, all.n);
        val = glia_dataset_view(&dev, 0, dev.n);
    } else {
        if ((rc = glia_dataset_load_fashion(dpath, "train", &m.pre, (size_t)r->limit, &all, err)))
            goto done;
        size_t nval = (size_t)r->validation < all.n ? (size_t)r->validation : all.n / 10;
        train = glia_dataset_view(&all, 0, all.n - nval);
        val = glia_dataset_view(&all, all.n - nval, nval);
    }
    if (h->start) {
        glia_run_info info = {m.name, r->dataset, train.n, val.n, model->size - model->nbuffers, 0, 0, 0, 0};
        h->start(&info, h->user);
    }
    if ((rc = glia_train_hooked(r, model, 0, &train, &val, &loop, &res->train, err)) || !writes_bundle(r))
        goto done;
    /* the test split is touched once, after selection on the validation split */
    const glia_test_spec spec = recipe_test_spec(r, 0, 0);
    if ((rc = load_image_test(&spec, &m, model->outputs, &test, err)) ||
        (rc = glia_image_source_new(r, NULL, NULL, &test, 256, &src, err)) ||
        (rc = evaluate_test(r, model, src, res, err)) || (rc = save_weights(r, model, out, err)))
        goto done;
    res->val_examples = val.n;
    char results[2048], training[512], selection[160];
    format_training(training, sizeof training, r, res, r->workers > 1 ? r->workers : 1);
    /* validation: 0 trains on every training image; nothing selects, the last epoch is kept */
    if (val.n > 0)
        snprintf(selection, sizeof selection,
                 "  validation_examples: %zu\n  validation_accuracy: %.4f\n  selected_epoch: %d\n", val.n,
                 res->train.best_val_accuracy, res->train.best_epoch);
    else
        snprintf(selection, sizeof selection,
                 "  validation_examples: 0\n  selected_epoch: %d   # the last: no validation split\n",
                 r->epochs);
    snprintf(results, sizeof results,
             "evaluation:\n"
             "  dataset: %s\n  split: test\n  examples: %zu\n  accuracy: %.4f\n  loss: %.4f\n%s%s",
             r->images_file[0] ? r->images_file : r->dataset, test.n, res->test_accuracy, res->test_loss,
             selection, training);
    rc = write_bundle_files(r, &m, out, version, results, err);
done:
    glia_dataset_free(&all);
    glia_dataset_free(&dev);
    glia_dataset_free(&test);
    glia_source_free(src);
    glia_model_free(model);
    glia_manifest_free(&m);
    return rc;
}

static glia_status run_text(const glia_recipe *r, const char *out, long version, const glia_run_hooks *h,
                            glia_run_result *res, glia_err *err)
{
    const glia_loop_hooks loop = loop_hooks(h);
    glia_text_job job;
    glia_status rc = glia_text_prepare(r, &job, err);
    if (rc != GLIA_OK)
        return rc;
    const glia_manifest *m = &job.manifest;
    if (h->start) {
        glia_run_info info = {.model = m->name,
                              .dataset = r->dataset,
                              .train = (size_t)job.train.n,
                              .val = (size_t)job.dev.n,
                              .parameters = job.model->size - job.model->nbuffers,
                              .vocabulary = glia_vocab_size(job.vocab),
                              .pretrained = job.pretrained_found,
                              .negated = job.negated,
                              .lexicon_words = job.lexicon_words};
        h->start(&info, h->user);
    }
    glia_source *src = NULL;
    if ((rc = glia_text_train_hooked(r, job.model, &job.train, &job.dev, &loop, &res->train, err)) ||
        !writes_bundle(r) ||
        (rc = glia_text_source_new(NULL, NULL, &job.test, job.model->outputs, &src, err)) ||
        (rc = evaluate_test(r, job.model, src, res, err)))
        goto done;
    res->has_per_source = !r->dataset_file[0]; /* a user data set has no sources */
    res->test_examples = (size_t)job.test.n;
    res->val_examples = (size_t)job.dev.n;
    char path[GLIA_PATH_MAX + 64], results[2048], training[512];
    const char *vocab_name = strrchr(m->tokenizer, '/') ? strrchr(m->tokenizer, '/') + 1 : m->tokenizer;
    snprintf(path, sizeof path, "%s/%s", out, vocab_name);
    if ((rc = glia_vocab_save(job.vocab, path, err)))
        goto done;
    if ((rc = save_weights(r, job.model, out, err)))
        goto done;
    format_training(training, sizeof training, r, res, 1);
    char sources[160] = "";
    if (res->has_per_source)
        snprintf(sources, sizeof sources,
                 "  accuracy_amazon: %.4f\n  accuracy_imdb: %.4f\n  accuracy_yelp: %.4f\n",
                 res->per_source[GLIA_UCI_AMAZON], res->per_source[GLIA_UCI_IMDB],
                 res->per_source[GLIA_UCI_YELP]);
    snprintf(results, sizeof results,
             "evaluation:\n"
             "  dataset: %s\n  split: test\n  examples: %d\n  accuracy: %.4f\n  loss: %.4f\n%s"
             "  validation_examples: %d\n  validation_accuracy: %.4f\n  selected_epoch: %d\n%s",
             r->dataset_file[0] ? r->dataset_file : r->dataset, job.test.n, res->test_accuracy,
             res->test_loss, sources, job.dev.n, res->train.best_val_accuracy, res->train.best_epoch,
             training);
    rc = write_bundle_files(r, m, out, version, results, err);
done:
    glia_source_free(src);
    glia_text_job_free(&job);
    return rc;
}

/* BLEU and chrF of the model's translations of d against the references (mttrain.h), and of
 * the long sentences alone; the outputs that hit the length cap counted; each translation
 * written to out when there is one. */
typedef struct {
    const glia_gt_set *set;
    const glia_mt_data *d;
    glia_mt_stats *stats, *long_stats; /* long_stats may be NULL */
    size_t capped, long_examples;
    FILE *out; /* may be NULL */
} score_ctx;

/* White-space separated words of text[0..len). */
static int count_words(const char *text, size_t len)
{
    int words = 0, in_word = 0;
    for (size_t i = 0; i < len; i++) {
        const int space = text[i] == ' ' || text[i] == '\t' || text[i] == '\n';
        words += !space && !in_word;
        in_word = !space;
    }
    return words;
}

static glia_status score_one(int i, const char *text, size_t len, int finished, void *user, glia_err *err)
{
    score_ctx *c = user;
    const glia_gt_pair *p = &c->set->pairs[c->d->pair[i]];
    c->capped += !finished;
    if (c->out && fprintf(c->out, "%s\n", text) < 0)
        return glia_err_set(err, GLIA_EIO, "cannot write the translations: %s", strerror(errno));
    const int words = count_words(p->en, p->en_len);
    glia_status rc = glia_mt_add(c->stats, text, len, p->es, p->es_len, err);
    if (rc == GLIA_OK && c->long_stats && words >= GLIA_MT_LONG_MIN && words <= GLIA_MT_LONG_MAX) {
        c->long_examples++;
        rc = glia_mt_add(c->long_stats, text, len, p->es, p->es_len, err);
    }
    return rc;
}

/* Corpus BLEU/chrF statistics of model's translations of d's sources (through its predict,
 * with opts, up to max_positions - 1 tokens) against their references in set, added to c's
 * stats: what `glia train` and `glia eval` report. */
static glia_status score_translation(const glia_model *model, const glia_manifest *m, const glia_bpe *bpe,
                                     const glia_mt_data *d, glia_decode_opts opts, score_ctx *c,
                                     glia_err *err)
{
    opts.max_tokens = m->s2s.max_positions - 1;
    c->d = d;
    return glia_mt_translate_data(model, bpe, d, &opts, 32, score_one, c, err);
}

/* The training run's test score: the manifest's search at beam `beam`. */
static glia_status score_translation_beam(const glia_model *model, const glia_manifest *m,
                                          const glia_bpe *bpe, const glia_gt_set *set, const glia_mt_data *d,
                                          int beam, glia_mt_stats *stats, glia_err *err)
{
    glia_decode_opts opts = glia_model_decode_defaults(m);
    opts.beam_size = beam;
    score_ctx c = {.set = set, .stats = stats};
    return score_translation(model, m, bpe, d, opts, &c, err);
}

static glia_status run_translation(const glia_recipe *r, const char *out, long version,
                                   const glia_run_hooks *h, glia_run_result *res, glia_err *err)
{
    const glia_loop_hooks loop = loop_hooks(h);
    glia_mt_job job;
    glia_mt_stats *stats = NULL;
    glia_source *src = NULL;
    glia_status rc = glia_mt_prepare(r, &job, err);
    if (rc != GLIA_OK)
        return rc;
    const glia_manifest *m = &job.manifest;
    if (h->start) {
        glia_run_info info = {.model = m->name,
                              .dataset = r->dataset,
                              .train = (size_t)job.train.n,
                              .val = (size_t)job.dev.n,
                              .parameters = job.model->size - job.model->nbuffers,
                              .vocabulary = glia_bpe_size(job.bpe)};
        h->start(&info, h->user);
    }
    if ((rc = glia_mt_train_hooked(r, job.model, &job.train, &job.dev, &loop, &res->train, err)) ||
        !writes_bundle(r) ||
        (rc = glia_mt_source_new(NULL, NULL, &job.test, r->translation.batch_tokens, &src, err)) ||
        (rc = evaluate_test(r, job.model, src, res, err)) || (rc = glia_mt_stats_new(&stats, err)) ||
        (rc = score_translation_beam(job.model, m, job.bpe, &job.set, &job.test, r->translation.eval_beam,
                                     stats, err)))
        goto done;
    res->val_examples = (size_t)job.dev.n;
    res->bleu = glia_mt_bleu(stats);
    res->chrf = glia_mt_chrf(stats);
    char path[GLIA_PATH_MAX + 64], results[2048], training[512];
    const char *tok_name = strrchr(m->tokenizer, '/') ? strrchr(m->tokenizer, '/') + 1 : m->tokenizer;
    snprintf(path, sizeof path, "%s/%s", out, tok_name);
    if ((rc = glia_bpe_save(job.bpe, path, err)))
        goto done;
    if ((rc = save_weights(r, job.model, out, err)))
        goto done;
    /* one training stream whose GEMMs OpenBLAS' threads share (glia train --threads) */
    const int blas = glia_version_blas_threads(), lanes = r->workers > 1 ? r->workers : 1;
    format_training(training, sizeof training, r, res, blas > lanes ? blas : lanes);
    snprintf(
        results, sizeof results,
        "evaluation:\n"
        "  dataset: %s\n  split: test\n  examples: %d\n  bleu: %.2f\n  chrf: %.2f\n  beam_size: %d\n"
        "  token_accuracy: %.4f\n  loss: %.4f\n  validation_examples: %d\n  validation_token_accuracy: %.4f\n"
        "  selected_epoch: %d\n  train_pairs: %d\n  train_pairs_too_long: %d\n%s",
        r->dataset_file[0] ? r->dataset_file : r->dataset, job.test.n, res->bleu, res->chrf,
        r->translation.eval_beam, res->test_accuracy, res->test_loss, job.dev.n, res->train.best_val_accuracy,
        res->train.best_epoch, job.train.n, job.train.dropped, training);
    rc = write_bundle_files(r, m, out, version, results, err);
done:
    glia_source_free(src);
    glia_mt_stats_free(stats);
    glia_mt_job_free(&job);
    return rc;
}

/* ---- the kinds of data set: how each trains and tests ---- */

/* The test split of a bundle's kind, loaded, and its batch source. */
typedef struct {
    glia_dataset images;
    glia_uci_set uci;
    glia_text_data texts;
    glia_gt_set pairs;
    glia_mt_data mt;
    glia_source *src;
} test_split;

static void test_split_free(test_split *t)
{
    glia_source_free(t->src);
    glia_dataset_free(&t->images);
    glia_text_data_free(&t->texts);
    glia_uci_free(&t->uci);
    glia_mt_data_free(&t->mt);
    glia_gt_free(&t->pairs);
}

static glia_status test_images(const glia_bundle *b, const glia_test_spec *s, test_split *t,
                               glia_test_result *out, glia_err *err)
{
    glia_status rc = load_image_test(s, &b->manifest, b->model->outputs, &t->images, err);
    if (rc == GLIA_OK)
        rc = glia_image_source_new(NULL, NULL, NULL, &t->images, 256, &t->src, err);
    out->examples = t->images.n;
    return rc;
}

static glia_status test_texts(const glia_bundle *b, const glia_test_spec *s, test_split *t,
                              glia_test_result *out, glia_err *err)
{
    const glia_manifest *m = &b->manifest;
    glia_status rc = s->file ? glia_uci_load_jsonl(s->file, m->labels, m->nlabels, &t->uci, err)
                             : glia_uci_load(s->dir ? s->dir : glia_uci_default_dir(), &t->uci, err);
    if (rc == GLIA_OK)
        rc = glia_text_data_from_uci(&t->uci, GLIA_UCI_TEST, glia_tokenizer_words(b->tokenizer),
                                     m->max_tokens, &t->texts, err);
    if (rc == GLIA_OK)
        rc = glia_text_source_new(NULL, NULL, &t->texts, b->model->outputs, &t->src, err);
    out->examples = (size_t)t->texts.n;
    out->truncated = t->texts.truncated;
    return rc;
}

/* The teacher-forced source, and BLEU/chrF of the decoded test (or dev) split. */
static glia_status test_pairs(const glia_bundle *b, const glia_test_spec *s, test_split *t,
                              glia_test_result *out, glia_err *err)
{
    const glia_manifest *m = &b->manifest;
    const glia_bpe *bpe = glia_tokenizer_subwords(b->tokenizer);
    FILE *f = NULL;
    glia_status rc = s->file ? glia_gt_load_tsv(s->file, &t->pairs, err)
                             : glia_pairs_load(s->dataset, s->dir, &t->pairs, err);
    out->decode = glia_model_decode_defaults(m);
    if (s->beam > 0)
        out->decode.beam_size = s->beam;
    if (s->has_length_penalty)
        out->decode.length_penalty = s->length_penalty;
    if (s->has_no_repeat_ngram)
        out->decode.no_repeat_ngram = s->no_repeat_ngram;
    out->beam = out->decode.beam_size;
    if (rc == GLIA_OK)
        rc = glia_mt_data_encode(&t->pairs, s->dev ? GLIA_GT_DEV : GLIA_GT_TEST, bpe, m->max_tokens,
                                 m->s2s.max_positions, 0, s->limit, &t->mt, err);
    out->examples = (size_t)t->mt.n;
    out->truncated = t->mt.truncated;
    if (rc == GLIA_OK)
        rc = glia_mt_source_new(NULL, NULL, &t->mt, 0, &t->src, err);
    if (rc == GLIA_OK && (rc = glia_mt_stats_new(&out->stats, err)) == GLIA_OK)
        rc = glia_mt_stats_new(&out->long_stats, err);
    if (rc == GLIA_OK && s->output && !(f = fopen(s->output, "w")))
        rc = glia_err_set(err, GLIA_EIO, "%s: %s", s->output, strerror(errno));
    score_ctx c = {.set = &t->pairs, .stats = out->stats, .long_stats = out->long_stats, .out = f};
    if (rc == GLIA_OK)
        rc = score_translation(b->model, m, bpe, &t->mt, out->decode, &c, err);
    out->capped = c.capped;
    out->long_examples = c.long_examples;
    if (f && fclose(f) != 0 && rc == GLIA_OK)
        rc = glia_err_set(err, GLIA_EIO, "%s: %s", s->output, strerror(errno));
    return rc;
}

typedef struct {
    glia_status (*train)(const glia_recipe *r, const char *out, long version, const glia_run_hooks *h,
                         glia_run_result *res, glia_err *err);
    glia_status (*test)(const glia_bundle *b, const glia_test_spec *s, test_split *t, glia_test_result *out,
                        glia_err *err);
} kind_ops;

static const kind_ops kinds[GLIA_DATA_NKINDS] = {
    [GLIA_DATA_IMAGES] = {run_image, test_images},
    [GLIA_DATA_TEXTS] = {run_text, test_texts},
    [GLIA_DATA_PAIRS] = {run_translation, test_pairs},
};

glia_status glia_run_training(const glia_recipe *r, const char *out_dir, long version,
                              const glia_run_hooks *hooks, glia_run_result *res, glia_err *err)
{
    static const glia_run_hooks none = {0};
    const glia_data_set *data = glia_data_find(r->dataset);
    memset(res, 0, sizeof *res);
    if (!data)
        return glia_err_set(err, GLIA_EUNSUPPORTED, "%s: data set '%s' is not known", r->path, r->dataset);
    return kinds[data->kind].train(r, out_dir, version, hooks ? hooks : &none, res, err);
}

void glia_test_result_free(glia_test_result *r)
{
    glia_mt_stats_free(r->stats);
    glia_mt_stats_free(r->long_stats);
    r->stats = NULL;
    r->long_stats = NULL;
}

glia_status glia_run_test(const glia_bundle *b, const glia_test_spec *spec, glia_test_result *out,
                          glia_err *err)
{
    test_split t = {0};
    memset(out, 0, sizeof *out);
    if (!(out->data = glia_data_for_model(b->model->ops)))
        return glia_err_set(err, GLIA_EUNSUPPORTED, "%s: no data set to test a %s model on", b->manifest.path,
                            b->manifest.task);
    if (spec->dataset) { /* another built-in data set of the same kind (docs-en-es for a translator) */
        const glia_data_set *named = glia_data_find(spec->dataset);
        if (!named || named->kind != out->data->kind || named->input != out->data->input ||
            named->output != out->data->output)
            return glia_err_set(err, GLIA_EINVAL, "%s: a %s model cannot be tested on data set '%s'",
                                b->manifest.path, b->manifest.task, spec->dataset);
        out->data = named;
    }
    glia_status rc = kinds[out->data->kind].test(b, spec, &t, out, err);
    if (rc == GLIA_OK)
        rc = glia_loop_evaluate(b->model, t.src, GLIA_SPLIT_TEST, spec->lanes, &out->eval, err);
    test_split_free(&t);
    return rc;
}

glia_status glia_run_evaluate(const glia_recipe *r, const char *bundle_path, double *accuracy, glia_err *err)
{
    glia_bundle b;
    glia_test_result res;
    glia_status rc = glia_bundle_load(bundle_path, &b, err);
    if (rc != GLIA_OK)
        return rc;
    const glia_test_spec spec = recipe_test_spec(r, r->translation.eval_limit, r->translation.eval_beam);
    if ((rc = glia_run_test(&b, &spec, &res, err)) == GLIA_OK) /* a translation model's yardstick: BLEU */
        *accuracy = res.stats ? glia_mt_bleu(res.stats) : res.eval.accuracy;
    glia_test_result_free(&res);
    glia_bundle_free(&b);
    return rc;
}
