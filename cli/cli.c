/*
 * cli.c - the `glia` command-line tool: train, evaluate and run model bundles
 * offline, with the same core the daemon serves from. `glia --help` lists the commands,
 * `glia COMMAND --help` explains one; their rows (arguments, options, handlers) are here
 * for train, eval, predict and forward, and in cli_mt.c for score and gettext.
 *
 *   glia train RECIPE.yaml --out DIR [--epochs N] [--limit N] [--threads N] [--restart]
 *                                     (a `task: word2vec` recipe writes word vectors instead,
 *                                     a `task: lm` one a pretrained embedding and LSTM)
 *   glia eval DIR [--limit N] [--threads N] [--beam N] [--data DIR] [--dataset NAME]
 *                                     [--precision fp32|bf16]
 *   glia predict DIR INPUT... [--beam N] [--precision fp32|bf16]   (image models: PNG/JPEG/PGM
 *                                     files; text models: sentences)
 *   glia plot HISTORY --out FILE.svg|FILE.png   (cli_history.c)
 *   glia forward DIR IN.safetensors OUT.safetensors   (tensor "input" -> "logits"; text
 *                                                      models: "ids" [N, T] + "lengths" [N])
 *
 * Exit status: 0 success, 1 the work failed (a message names the file or input), 2 the
 * command line was wrong. This is the only place besides gliad's main that prints or exits.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/afile.h"
#include "core/image/image.h"
#include "core/model/bundle.h"
#include "core/nn/kernels.h"
#include "core/nn/version.h"
#include "core/base/yamlutil.h"
#include "core/train/lmtrain.h"
#include "core/train/word2vec.h"
#include "core/train/run.h"
#include "core/train/trainer.h"
#include "cli/cli_mpi.h"
#include "cli/cli.h"

int glia_cli_fail(const glia_err *err)
{
    fprintf(stderr, "glia: %s\n", err->msg);
    return 1;
}

void glia_cli_set_blas_threads(int n)
{
#ifdef HAVE_OPENBLAS_THREADS
    openblas_set_num_threads(n);
#else
    (void)n;
#endif
}

/* --threads N (default: every online core) becomes N glia workers that split each batch,
 * each calling a single-threaded BLAS: splitting the batch also spreads im2col, pooling and
 * the element-wise layers, which BLAS threads cannot, and two thread pools never fight over
 * the cores. Returns N. */
int glia_cli_setup_threads(long n)
{
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? cores : 1;
    }
    if (n > 64)
        n = 64;
    glia_cli_set_blas_threads(1);
    return (int)n;
}

int glia_cli_print_progress(const glia_progress *p, void *user)
{
    char val[64] = ""; /* the loop reports -1 for both when there is no validation split */
    if (p->val_loss >= 0.0 || p->val_accuracy >= 0.0)
        snprintf(val, sizeof val, "  val_loss=%.4f  val_acc=%.4f", p->val_loss, p->val_accuracy);
    printf("epoch %d/%d  loss=%.4f  train_acc=%.4f%s  lr=%.6g  %s/s=%.0f  elapsed=%.0fs\n", p->epoch,
           p->epochs, p->train_loss, p->train_accuracy, val, p->lr, user ? (const char *)user : "images",
           p->samples_per_second, p->seconds);
    fflush(stdout);
    return 0;
}

static void print_start(const glia_run_info *info, void *user)
{
    (void)user;
    if (info->vocabulary) {
        printf("training %s on %s: %zu train, %zu dev sentences, vocabulary %zu tokens, %zu parameters\n",
               info->model, info->dataset, info->train, info->val, info->vocabulary, info->parameters);
        if (info->negated || info->lexicon_words)
            printf(
                "  %zu of the train sentences negated by rule (augment.negation), %zu vocabulary tokens from "
                "the word lists (vocabulary.lexicon_words)\n",
                info->negated, info->lexicon_words);
    } else
        printf("training %s on %s: %zu train, %zu validation examples, %zu parameters\n", info->model,
               info->dataset, info->train, info->val, info->parameters);
    fflush(stdout);
}

static void print_w2v(const glia_w2v_progress *p, void *user)
{
    (void)user;
    if (p->epoch == 1)
        printf("word2vec: %zu texts, %zu tokens, vocabulary %zu\n", p->texts, p->tokens, p->vocab);
    printf("epoch %d/%d  loss=%.4f  lr=%.6g  words/s=%.0f  elapsed=%.1fs\n", p->epoch, p->epochs, p->loss,
           (double)p->lr, p->words_per_sec, p->seconds);
    fflush(stdout);
}

static void print_lm(const glia_lm_progress *p, void *user)
{
    (void)user;
    if (p->seconds == 0.0) { /* before training (or at the epoch a resumed run starts from) */
        printf("lm: %ld train + %ld held-out sentences, %ld tokens, vocabulary %d, softmax over %d\n",
               p->sentences, p->holdout_sentences, p->tokens, p->vocab, p->softmax);
        printf("epoch %d/%d  held-out loss=%.4f (perplexity %.1f)\n", p->epoch, p->epochs, p->holdout_loss,
               exp(p->holdout_loss));
    } else {
        printf("epoch %d/%d  loss=%.4f  held-out loss=%.4f (perplexity %.1f)  elapsed=%.1fs\n", p->epoch,
               p->epochs, p->train_loss, p->holdout_loss, exp(p->holdout_loss), p->seconds);
    }
    fflush(stdout);
}

/* The `task:` of a recipe file ("" when it names none), into task[0..n). */
static void recipe_task(const char *path, char *task, size_t n)
{
    glia_yaml y;
    glia_err err = {0};
    task[0] = '\0';
    if (glia_yaml_load_file(path, &y, &err) != GLIA_OK)
        return; /* glia_recipe_load will say what is wrong */
    const char *t = NULL;
    yaml_node_t *node = glia_yaml_get(&y, glia_yaml_root(&y), "task");
    if (node && glia_yaml_string(&y, node, "task", &t, &err) == GLIA_OK)
        snprintf(task, n, "%s", t);
    glia_yaml_free(&y);
}

/* Whether a recipe file says `task: lm` (language-model pretraining, core/train/lmtrain.h). */
static int is_lm_recipe(const char *path)
{
    char task[32];
    recipe_task(path, task, sizeof task);
    return strcmp(task, "lm") == 0;
}

/* Whether a recipe file says `task: word2vec` (word vectors rather than a model bundle). */
static int is_word2vec_recipe(const char *path)
{
    char task[32];
    recipe_task(path, task, sizeof task);
    return strcmp(task, "word2vec") == 0;
}

enum {
    TRAIN_OUT,
    TRAIN_EPOCHS,
    TRAIN_LIMIT,
    TRAIN_THREADS,
    TRAIN_RESTART,
    TRAIN_NO_OVERLAP,
    TRAIN_BUCKET_KB
};

/* An earlier run killed in the middle of writing a checkpoint or a bundle file leaves a
 * temporary in OUT that nothing would finish: glia train removes it, and says so. */
static void print_removal(const char *path, long long bytes, int error, void *user)
{
    if (error == 0)
        printf("removed %s, an unfinished write of an earlier run\n", path);
}

/* Rank 0 of a run across processes speaks for it; the others print only their errors. */
static int cli_quiet;

static void print_start_once(const glia_run_info *info, void *user)
{
    if (!cli_quiet)
        print_start(info, user);
}

static int train_one(const glia_cli_args *a, glia_reducer *red);

/* glia train, alone or as one rank of `mpirun -np N glia train` (cli_mpi.h): then every
 * rank trains its shard of each batch, rank 0 writes OUT, and an error on any rank ends
 * them all (the others would wait for it in their next sum). */
static int cmd_train(const glia_cli_args *a)
{
    glia_err err = {0};
    glia_reducer *red = NULL;
    if (!glia_cli_mpi_launched())
        return train_one(a, NULL);
    if (glia_cli_mpi_start(&red, &err))
        return glia_cli_fail(&err);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "rank %d of %d", red->rank, red->size);
    cli_quiet = red->rank != 0;
    int rc = train_one(a, red);
    if (rc != 0) {
        fprintf(stderr, "glia: %s: stopping every rank\n", prefix);
        glia_cli_mpi_abort(red, rc);
    }
    glia_cli_mpi_finish(red);
    return 0;
}

static int train_one(const glia_cli_args *a, glia_reducer *red)
{
    glia_err err = {0};
    glia_recipe recipe;
    glia_run_result res;
    const char *path = a->args[0], *out = glia_cli_string(a, TRAIN_OUT);
    /* processes on one machine share its cores */
    long default_threads = 0; /* every core */
    if (red && (default_threads = sysconf(_SC_NPROCESSORS_ONLN) / glia_cli_mpi_local_size()) < 1)
        default_threads = 1;
    int workers = glia_cli_setup_threads(glia_cli_number(a, TRAIN_THREADS, default_threads));
    if (!red && glia_cli_refuse(a, GLIA_CLI_BIT(TRAIN_NO_OVERLAP) | GLIA_CLI_BIT(TRAIN_BUCKET_KB),
                                "a run without mpirun"))
        return 2;
    if (red && a->opt[TRAIN_BUCKET_KB].given)
        red->bucket_floats = (size_t)glia_cli_number(a, TRAIN_BUCKET_KB, 0) * 1024 / sizeof(float);
    if (red && a->opt[TRAIN_NO_OVERLAP].given)
        red->bucket_floats = 0;
    if (red && is_word2vec_recipe(path)) {
        fprintf(stderr, "glia: word2vec recipes train in one process: run glia train without mpirun\n");
        return 1;
    }
    if (red && is_lm_recipe(path)) {
        fprintf(stderr, "glia: language-model recipes train in one process: run glia train without mpirun\n");
        return 1;
    }
    if (is_lm_recipe(path)) {
        if (glia_cli_refuse(a, GLIA_CLI_ALL & ~(GLIA_CLI_BIT(TRAIN_OUT) | GLIA_CLI_BIT(TRAIN_THREADS)),
                            "language-model recipes"))
            return 2;
        if (mkdir(out, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "glia: cannot create %s: %s\n", out, strerror(errno));
            return 1;
        }
        if (glia_lm_recipe_run(path, out, print_lm, NULL, NULL, &err))
            return glia_cli_fail(&err);
        printf(
            "pretrained embedding and rnn written to %s (model.safetensors, vocab.txt): start a classifier "
            "from them with init: {bundle: %s}\n",
            out, out);
        return 0;
    }
    if (is_word2vec_recipe(path)) {
        if (glia_cli_refuse(a, GLIA_CLI_ALL & ~GLIA_CLI_BIT(TRAIN_OUT), "word2vec recipes"))
            return 2;
        if (mkdir(out, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "glia: cannot create %s: %s\n", out, strerror(errno));
            return 1;
        }
        if (glia_w2v_recipe_run(path, out, print_w2v, NULL, NULL, &err))
            return glia_cli_fail(&err);
        printf("word vectors written to %s (vectors.safetensors, vocab.txt)\n", out);
        return 0;
    }
    if (glia_recipe_load(path, &recipe, &err))
        return glia_cli_fail(&err);
    const glia_data_kind kind = glia_recipe_kind(&recipe);
    const int text = kind == GLIA_DATA_TEXTS, translation = kind == GLIA_DATA_PAIRS;
    /* across processes every family checkpoints (a run over machines is the one most likely
     * to lose a process), so --restart applies to each */
    if ((text && glia_cli_refuse(a, GLIA_CLI_BIT(TRAIN_LIMIT) | (red ? 0 : GLIA_CLI_BIT(TRAIN_RESTART)),
                                 "text-classification recipes")) ||
        (!red && !text && !translation && glia_cli_refuse(a, GLIA_CLI_BIT(TRAIN_RESTART), "image recipes")))
        return 2;
    recipe.reducer = red;
    recipe.workers = workers;
    recipe.epochs = (int)glia_cli_number(a, TRAIN_EPOCHS, recipe.epochs);
    recipe.sched.total_epochs = recipe.epochs;
    recipe.limit = glia_cli_number(a, TRAIN_LIMIT, recipe.limit);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "glia: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    if (!red || red->rank == 0) /* the others might remove rank 0's file being written */
        glia_afile_sweep(out, 0, print_removal, NULL);
    if (translation || red) {
        /* one training stream whose GEMMs the BLAS threads share, as the shipped model was
         * trained (the loop's lanes would multiply with the BLAS threads on the same cores);
         * a checkpoint after every epoch in OUT, continued from when the run is started again
         * (--restart: ignore it) */
        if (translation) {
            recipe.workers = 1;
            glia_cli_set_blas_threads(workers);
        }
        snprintf(recipe.checkpoint, sizeof recipe.checkpoint, "%s/checkpoint.safetensors", out);
        recipe.resume = !a->opt[TRAIN_RESTART].given;
        if (recipe.resume && access(recipe.checkpoint, F_OK) == 0 && !cli_quiet)
            printf("continuing from %s\n", recipe.checkpoint);
    }
    if (red) {
        char message[900];
        snprintf(
            message, sizeof message,
            "glia: rank %d of %d: stopped by SIGTERM, which mpirun sends when another rank fails (see "
            "its message); %s keeps the last completed epoch: run the same command with -np %d to resume",
            red->rank, red->size, recipe.checkpoint, red->size);
        glia_cli_mpi_on_sigterm(message);
        if (!cli_quiet)
            printf("data-parallel over %d processes x %d thread%s: each takes 1/%d of every batch\n",
                   red->size, recipe.workers, recipe.workers == 1 ? "" : "s", red->size);
    }
    /* what samples/s counts: examples, or target tokens for translation */
    static const char *const unit[GLIA_DATA_NKINDS + 1] = {
        [GLIA_DATA_IMAGES] = "images", [GLIA_DATA_TEXTS] = "sentences", [GLIA_DATA_PAIRS] = "tokens"};
    glia_run_hooks hooks = {print_start_once, NULL, NULL, NULL, NULL};
    /* the bar and history.jsonl: rank 0's alone under mpirun (the others are quiet) */
    glia_cli_progress *progress = NULL;
    const int continuing = recipe.resume && recipe.checkpoint[0] && access(recipe.checkpoint, F_OK) == 0;
    if (!cli_quiet) {
        if (glia_cli_progress_open(out, continuing, unit[kind], &progress, &err))
            return glia_cli_fail(&err);
        if (red)
            glia_cli_progress_plain(progress);
        glia_cli_progress_hooks(progress, &hooks);
    }
    glia_status rc = glia_run_training(&recipe, out, 0, &hooks, &res, &err);
    glia_err herr = {0};
    if (glia_cli_progress_close(progress, &herr) != GLIA_OK)
        fprintf(stderr, "glia: %s\n", herr.msg); /* the bundle is still good */
    if (rc) {
        if (red)
            fprintf(stderr, "glia: rank %d of %d: %s\n", red->rank, red->size, err.msg);
        else
            glia_cli_fail(&err);
        return 1;
    }
    if (cli_quiet)
        return 0;
    if (recipe.checkpoint[0])
        unlink(recipe.checkpoint); /* the bundle is complete: the checkpoint has done its job */
    if (red)
        printf("allreduce: %.2f s of %.2f s training (rank 0)\n", glia_cli_mpi_seconds(red),
               res.train.seconds);
    if (red && res.train.buckets > 0)
        printf("overlap: %ld of %ld gradient buckets (%zu KiB) started during the backward pass, which ran "
               "%.2f s after a step's first bucket started\n",
               res.train.buckets_during_backward, res.train.buckets,
               red->bucket_floats * sizeof(float) / 1024, res.train.overlap_seconds);
    else if (red)
        printf("overlap: none (%s): one allreduce of the gradients after each backward pass\n",
               red->bucket_floats == 0 ? "--no-overlap" : "more than one thread per process");
    if (translation) {
        printf("selected epoch %d (dev token accuracy %.4f); trained in %.1f s\n", res.train.best_epoch,
               res.train.best_val_accuracy, res.train.seconds);
        printf("test: sentences=%zu token_accuracy=%.4f loss=%.4f beam=%d\n", res.test_examples,
               res.test_accuracy, res.test_loss, recipe.translation.eval_beam);
        printf("bleu=%.2f\nchrf=%.2f\n", res.bleu, res.chrf);
        return 0;
    }
    if (!text && res.val_examples == 0)
        printf("kept the last epoch (no validation split); trained in %.1f s\n", res.train.seconds);
    else
        printf("selected epoch %d (%s accuracy %.4f); trained in %.1f s\n", res.train.best_epoch,
               text ? "dev" : "validation", res.train.best_val_accuracy, res.train.seconds);
    printf("test: examples=%zu", res.test_examples);
    for (int s = 0; res.has_per_source && s < GLIA_UCI_NSOURCES; s++)
        printf(" %s=%.4f", glia_uci_source_name((glia_uci_source)s), res.per_source[s]);
    printf(" loss=%.4f\n", res.test_loss);
    printf("accuracy=%.4f\n", res.test_accuracy);
    return 0;
}

enum {
    EVAL_LIMIT,
    EVAL_THREADS,
    EVAL_BEAM,
    EVAL_DATA,
    EVAL_SPLIT,
    EVAL_LP,
    EVAL_NGRAM,
    EVAL_OUTPUT,
    EVAL_PRECISION,
    EVAL_DATASET
};

/* --precision (option `opt` of cmd), else the manifest's, applied to b's model; a bf16 that
 * the CPU cannot run is said on stderr and runs fp32. 0, or the exit status. */
static int apply_precision(const glia_cli_args *a, int opt, glia_bundle *b)
{
    glia_err err = {0};
    const char *s = glia_cli_string(a, opt);
    const int flag = s ? glia_precision_parse(s) : -1;
    if (s && flag < 0)
        return glia_cli_usage_error(a->cmd, "--precision expects fp32 or bf16, got '%s'", s);
    const glia_precision want = flag >= 0 ? (glia_precision)flag : b->manifest.precision;
    if (glia_model_set_precision(b->model, want, &err))
        return glia_cli_fail(&err);
    if (b->model->precision != want)
        fprintf(stderr,
                "glia: precision %s asked but this CPU has no AVX512_BF16 (or GLIA_NO_BF16=1): running %s\n",
                glia_precision_name(want), glia_precision_name(b->model->precision));
    else if (want != GLIA_PRECISION_FP32)
        fprintf(stderr, "glia: precision %s (%.1f MiB of weight copies)\n", glia_precision_name(want),
                (double)b->model->bf16_bytes / 1048576.0);
    return 0;
}

/* eval's lines per kind of data set; the last is accuracy=0.XXXX, or bleu= and chrf=. */
static void print_test(const glia_bundle *b, const glia_test_result *t)
{
    const glia_eval_result *e = &t->eval;
    const char *sha = b->manifest.weights[0] ? b->sha256 : "-";
    printf("model: %s (weights sha256 %s)\n", b->manifest.name, sha);
    switch (t->data->kind) {
    case GLIA_DATA_PAIRS:
        printf("test: dataset=%s sentences=%zu token_accuracy=%.4f loss=%.4f beam=%d truncated=%d\n",
               t->data->name, t->examples, e->accuracy, e->loss, t->beam, t->truncated);
        printf("search: beam=%d length_penalty=%g no_repeat_ngram=%d capped=%zu (outputs that ran to "
               "max_tokens=%d)\n",
               t->decode.beam_size, (double)t->decode.length_penalty, t->decode.no_repeat_ngram, t->capped,
               b->manifest.s2s.max_positions - 1);
        printf("long (%d-%d English words): sentences=%zu bleu=%.2f chrf=%.2f\n", GLIA_MT_LONG_MIN,
               GLIA_MT_LONG_MAX, t->long_examples, glia_mt_bleu(t->long_stats), glia_mt_chrf(t->long_stats));
        glia_mt_print(t->stats, stdout);
        return;
    case GLIA_DATA_TEXTS:
        printf("test: dataset=%s loss=%.4f truncated=%d\n", t->data->name, e->loss, t->truncated);
        printf("test: examples=%zu", t->examples);
        for (int g = 0; g < e->ngroups && g < GLIA_UCI_NSOURCES; g++)
            if (e->group_accuracy[g] >= 0)
                printf(" %s=%.4f", glia_uci_source_name((glia_uci_source)g), e->group_accuracy[g]);
        printf(" overall=%.4f\n", e->accuracy);
        break;
    default: printf("test: dataset=%s examples=%zu loss=%.4f\n", t->data->name, t->examples, e->loss);
    }
    printf("accuracy=%.4f\n", e->accuracy);
}

static int cmd_eval(const glia_cli_args *a)
{
    glia_err err = {0};
    glia_bundle b;
    glia_test_result res = {0};
    int rc = 1, workers = glia_cli_setup_threads(glia_cli_number(a, EVAL_THREADS, 0));
    if (glia_bundle_load(a->args[0], &b, &err))
        return glia_cli_fail(&err);
    if ((rc = apply_precision(a, EVAL_PRECISION, &b))) {
        glia_bundle_free(&b);
        return rc;
    }
    rc = 1;
    const glia_data_set *data = glia_data_for_model(b.model->ops);
    /* bf16 runs on the model's own copies: one lane (a lane's replica would run fp32) */
    glia_test_spec spec = {.limit = glia_cli_number(a, EVAL_LIMIT, 0),
                           .lanes = b.model->precision == GLIA_PRECISION_FP32 ? workers : 1};
    if (data && data->kind == GLIA_DATA_PAIRS) {
        /* one evaluation stream whose GEMMs the BLAS threads share */
        glia_cli_set_blas_threads(workers);
        spec.lanes = 1;
        spec.beam = (int)glia_cli_number(a, EVAL_BEAM, 0);
        spec.dir = glia_cli_string(a, EVAL_DATA);
        spec.dataset = glia_cli_string(a, EVAL_DATASET);
        spec.output = glia_cli_string(a, EVAL_OUTPUT);
        const char *split = glia_cli_string(a, EVAL_SPLIT), *lp = glia_cli_string(a, EVAL_LP);
        if (split && strcmp(split, "dev") != 0 && strcmp(split, "test") != 0) {
            rc = glia_cli_usage_error(a->cmd, "--split expects dev or test, got '%s'", split);
            goto done;
        }
        spec.dev = split && strcmp(split, "dev") == 0;
        if (lp) {
            char *end = NULL;
            const double alpha = strtod(lp, &end);
            if (end == lp || *end || !(alpha >= 0.0 && alpha <= 10.0)) {
                rc = glia_cli_usage_error(a->cmd, "--length-penalty expects a number from 0 to 10, got '%s'",
                                          lp);
                goto done;
            }
            spec.has_length_penalty = 1;
            spec.length_penalty = (float)alpha;
        }
        spec.no_repeat_ngram = (int)glia_cli_number(a, EVAL_NGRAM, -1);
        spec.has_no_repeat_ngram = spec.no_repeat_ngram >= 0;
    } else if (glia_cli_refuse(a,
                               GLIA_CLI_BIT(EVAL_BEAM) | GLIA_CLI_BIT(EVAL_DATA) | GLIA_CLI_BIT(EVAL_SPLIT) |
                                   GLIA_CLI_BIT(EVAL_LP) | GLIA_CLI_BIT(EVAL_NGRAM) |
                                   GLIA_CLI_BIT(EVAL_OUTPUT) | GLIA_CLI_BIT(EVAL_DATASET),
                               "image models")) {
        rc = 2;
        goto done;
    } else if (data && data->kind == GLIA_DATA_TEXTS) {
        spec.limit = 0; /* the ~300 test sentences, in one stream */
        spec.lanes = 1;
    } else {
        spec.dir = getenv("GLIA_FASHION_MNIST");
    }
    if (glia_run_test(&b, &spec, &res, &err)) {
        glia_cli_fail(&err);
        goto done;
    }
    print_test(&b, &res);
    rc = 0;
done:
    glia_test_result_free(&res);
    glia_bundle_free(&b);
    return rc;
}

enum { PREDICT_BEAM, PREDICT_PRECISION };

static int cmd_predict(const glia_cli_args *a)
{
    glia_err err = {0};
    glia_bundle b;
    const int ninputs = a->nargs - 1;
    char **inputs = a->args + 1;
    glia_cli_set_blas_threads(1);
    if (glia_bundle_load(a->args[0], &b, &err))
        return glia_cli_fail(&err);
    if (b.model->ops->output != GLIA_OUTPUT_SEQUENCE &&
        glia_cli_refuse(a, GLIA_CLI_BIT(PREDICT_BEAM),
                        b.model->ops->input == GLIA_INPUT_TOKENS ? "text-classification models"
                                                                 : "image models")) {
        glia_bundle_free(&b);
        return 2;
    }
    int rc = apply_precision(a, PREDICT_PRECISION, &b);
    if (rc == 0)
        rc = glia_cli_predict(&b, ninputs, inputs, (int)glia_cli_number(a, PREDICT_BEAM, 0));
    glia_bundle_free(&b);
    return rc;
}

static int cmd_forward(const glia_cli_args *a)
{
    glia_err err = {0};
    glia_bundle b;
    int rc = 1;
    const char *dir = a->args[0], *in_path = a->args[1], *out_path = a->args[2];
    glia_cli_set_blas_threads(1);
    if (glia_bundle_load(dir, &b, &err))
        return glia_cli_fail(&err);
    rc = glia_cli_forward(&b, in_path, out_path);
    glia_bundle_free(&b);
    return rc;
}

/* eval's and predict's --precision: the manifest's precision overridden. */
#define PRECISION_OPTION                                                                                     \
    {                                                                                                        \
        .name = "precision", .kind = GLIA_CLI_STRING, .value = "fp32|bf16",                                  \
        .help = "inference arithmetic: bf16 weights with fp32 sums where the CPU has AVX512_BF16 "           \
                "(default: the manifest's, fp32 unless it says)"                                             \
    }

/* eval's and predict's --beam for translation models (seq2seq decoding takes 1..64). */
#define BEAM_OPTION                                                                                          \
    {                                                                                                        \
        .name = "beam", .kind = GLIA_CLI_NUMBER, .value = "N", .min = 1, .max = 64,                          \
        .help = "translation models: beam width (default: the manifest's decoding.beam_size)"                \
    }

static const glia_cli_option train_options[] = {
    [TRAIN_OUT] = {.name = "out",
                   .kind = GLIA_CLI_STRING,
                   .value = "DIR",
                   .required = 1,
                   .help = "where the bundle (or the word vectors) goes; created if missing"},
    [TRAIN_EPOCHS] = {.name = "epochs",
                      .kind = GLIA_CLI_NUMBER,
                      .value = "N",
                      .min = 1,
                      .max = 100000,
                      .help = "train N epochs instead of the recipe's"},
    [TRAIN_LIMIT] = {.name = "limit",
                     .kind = GLIA_CLI_NUMBER,
                     .value = "N",
                     .min = 0,
                     .max = 1L << 40,
                     .help = "image and translation recipes: the first N training examples only (0: all)"},
    [TRAIN_THREADS] =
        {.name = "threads",
         .kind = GLIA_CLI_NUMBER,
         .value = "N",
         .min = 1,
         .max = 64,
         .help = "glia threads that split each batch (translation: OpenBLAS threads); default: every core"},
    [TRAIN_RESTART] = {.name = "restart",
                       .kind = GLIA_CLI_FLAG,
                       .help =
                           "translation recipes (any, under mpirun): start over instead of continuing from "
                           "DIR/checkpoint.safetensors"},
    [TRAIN_NO_OVERLAP] = {.name = "no-overlap",
                          .kind = GLIA_CLI_FLAG,
                          .help = "under mpirun: sum the gradients in one MPI_Allreduce after the backward "
                                  "pass instead of in buckets during it (the same weights, bit for bit)"},
    [TRAIN_BUCKET_KB] = {.name = "bucket-kb",
                         .kind = GLIA_CLI_NUMBER,
                         .value = "N",
                         .min = 4,
                         .max = 1L << 21,
                         .help = "under mpirun: the gradient buckets summed during the backward pass, in KiB "
                                 "(default 1024)"},
};

static const glia_cli_command train_command = {
    .name = "train",
    .summary = "train a model bundle (or word vectors) from a recipe",
    .args = "RECIPE.yaml",
    .min_args = 1,
    .max_args = 1,
    .details =
        "Shows a progress bar on a terminal (else prints one line per epoch), then the test split's\n"
        "results: the last line is\n"
        "accuracy=0.XXXX (translation: bleu=NN.NN and chrf=NN.NN). A `task: word2vec` recipe\n"
        "writes vectors.safetensors and vocab.txt instead of a bundle, a `task: lm` recipe a language\n"
        "model's pretrained embedding and LSTM (model.safetensors, vocab.txt; resumed from the\n"
        "checkpoint DIR/lm.safetensors). A translation run writes\n"
        "DIR/checkpoint.safetensors after every epoch and continues from it when started again.\n"
        "Under `mpirun -np N` (a glia built with Open MPI) the N processes train one model: each\n"
        "takes 1/N of every batch, the gradients are summed with MPI_Iallreduce in buckets while the\n"
        "backward pass runs (--no-overlap: one MPI_Allreduce after it), rank 0 writes DIR\n"
        "and, for every family, the checkpoint (resume with the same N); --threads defaults to the\n"
        "cores divided by the processes on the machine.\n"
        "Every step's loss, learning rate and speed, and every evaluation, go into\n"
        "DIR/history.jsonl as they happen (`glia plot` draws them).\n",
    GLIA_CLI_OPTIONS(train_options),
    .run = cmd_train,
};

static const glia_cli_option eval_options[] = {
    [EVAL_LIMIT] = {.name = "limit",
                    .kind = GLIA_CLI_NUMBER,
                    .value = "N",
                    .min = 0,
                    .max = 1L << 40,
                    .help = "image and translation models: the first N test examples only (0: all)"},
    [EVAL_THREADS] = {.name = "threads",
                      .kind = GLIA_CLI_NUMBER,
                      .value = "N",
                      .min = 1,
                      .max = 64,
                      .help =
                          "image models: glia threads; translation: OpenBLAS threads; default: every core"},
    [EVAL_BEAM] = BEAM_OPTION,
    [EVAL_DATA] = {.name = "data",
                   .kind = GLIA_CLI_STRING,
                   .value = "DIR",
                   .help = "translation models: the gettext-en-es directory (default: $GLIA_GETTEXT_EN_ES)"},
    [EVAL_SPLIT] = {.name = "split",
                    .kind = GLIA_CLI_STRING,
                    .value = "dev|test",
                    .help = "translation models: the split to score (default: test; tune on dev)"},
    [EVAL_LP] = {.name = "length-penalty",
                 .kind = GLIA_CLI_STRING,
                 .value = "ALPHA",
                 .help = "translation models: GNMT's alpha, 0..10 (default: the manifest's)"},
    [EVAL_NGRAM] = {.name = "no-repeat-ngram",
                    .kind = GLIA_CLI_NUMBER,
                    .value = "N",
                    .min = 0,
                    .max = GLIA_S2S_MAX_NGRAM,
                    .help = "translation models: forbid repeating an N-gram of subwords, 0: off "
                            "(default: the manifest's)"},
    [EVAL_OUTPUT] = {.name = "output",
                     .kind = GLIA_CLI_STRING,
                     .value = "FILE",
                     .help = "translation models: write the translations there, one a line"},
    [EVAL_PRECISION] = PRECISION_OPTION,
    [EVAL_DATASET] = {.name = "dataset",
                      .kind = GLIA_CLI_STRING,
                      .value = "NAME",
                      .help =
                          "translation models: gettext-en-es (default), docs-en-es or gettext-docs-en-es; "
                          "--data then names that data set's directory"},
};

static const glia_cli_command eval_command = {
    .name = "eval",
    .summary = "evaluate a bundle on its data set's test split",
    .args = "DIR",
    .min_args = 1,
    .max_args = 1,
    .details = "Image models run on Fashion-MNIST's 10,000 test images ($GLIA_FASHION_MNIST), text\n"
               "models on uci-sentiment's test sentences ($GLIA_UCI_SENTIMENT), translation models on\n"
               "gettext-en-es's test pairs ($GLIA_GETTEXT_EN_ES); each variable defaults to where\n"
               "scripts/setup puts the data set. The last line is accuracy=0.XXXX, or for translation\n"
               "models bleu=NN.NN and chrf=NN.NN.\n",
    GLIA_CLI_OPTIONS(eval_options),
    .run = cmd_eval,
};

static const glia_cli_option predict_options[] = {
    [PREDICT_BEAM] = BEAM_OPTION,
    [PREDICT_PRECISION] = PRECISION_OPTION,
};

static const glia_cli_command predict_command = {
    .name = "predict",
    .summary = "classify images or sentences, or translate sentences",
    .args = "DIR INPUT...",
    .min_args = 2,
    .max_args = -1,
    .details =
        "Image models take PNG, JPEG or PGM files and print FILE<TAB>LABEL<TAB>PROBABILITY; text models\n"
        "take sentences and print LABEL<TAB>PROBABILITY<TAB>SENTENCE; translation models take\n"
        "sentences and print SENTENCE<TAB>TRANSLATION. Put \"--\" before inputs that start with '-'.\n",
    GLIA_CLI_OPTIONS(predict_options),
    .run = cmd_predict,
};

static const glia_cli_command forward_command = {
    .name = "forward",
    .summary = "run raw tensors through a bundle (safetensors in, safetensors out)",
    .args = "DIR IN.safetensors OUT.safetensors",
    .min_args = 3,
    .max_args = 3,
    .details =
        "Writes tensor \"logits\". IN holds \"input\" [N, C, H, W] for image models, \"ids\" [N, T] and\n"
        "\"lengths\" [N] for text models, \"src\" [B, S] and \"tgt\" [B, T] token ids (0 = padding)\n"
        "for translation models.\n",
    .run = cmd_forward,
};

static const glia_cli_command *const commands[] = {
    &train_command,         &eval_command,           &predict_command,
    &forward_command,       &glia_cli_score_command, &glia_cli_gettext_command,
    &glia_cli_plot_command,
};
enum { NCOMMANDS = (int)(sizeof commands / sizeof commands[0]) };

static const glia_cli_command *find_command(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: glia COMMAND [ARGUMENTS] [OPTIONS]\n"
               "       glia --help | --version | help COMMAND\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\n'glia COMMAND --help' shows a command's arguments and options.\n"
               "Exit status: 0 success, 1 the work failed, 2 a usage error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    const int help = strcmp(name, "help") == 0, version = strcmp(name, "--version") == 0;
    const int top = help || version || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0;
    if (top && argc > 2 + help) {
        fprintf(stderr, "glia: unexpected argument '%s'\n", argv[2 + help]);
        usage(stderr);
        return 2;
    }
    if (version) {
        char text[512];
        glia_version_text("glia", text, sizeof text);
        fputs(text, stdout);
        return 0;
    }
    if (top && argc == 2) {
        usage(stdout);
        return 0;
    }
    /* `glia help COMMAND` is `glia COMMAND --help` */
    const glia_cli_command *cmd = find_command(help ? argv[2] : name);
    if (!cmd) {
        fprintf(stderr, "glia: unknown %s '%s'\n", name[0] == '-' ? "option" : "command",
                help ? argv[2] : name);
        usage(stderr);
        return 2;
    }
    if (help) {
        glia_cli_command_usage(cmd, stdout, 1);
        return 0;
    }
    glia_cli_args a;
    int rc = glia_cli_parse(cmd, argc - 1, argv + 1, &a);
    if (rc != GLIA_CLI_RUN)
        return rc;
    rc = cmd->run(&a);
    glia_cli_args_free(&a);
    return rc;
}
