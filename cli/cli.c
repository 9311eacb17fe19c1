/*
 * cli.c - the `glia` command-line tool: train, evaluate and run model bundles
 * offline, with the same core the daemon serves from.
 *
 *   glia train RECIPE.yaml --out DIR [--epochs N] [--limit N] [--threads N]
 *                                     (a `task: word2vec` recipe writes word vectors instead)
 *   glia eval DIR [--limit N] [--threads N]
 *   glia predict DIR FILE...           (image models: PNG/PGM files; text models: sentences)
 *   glia forward DIR IN.safetensors OUT.safetensors   (tensor "input" -> "logits"; text
 *                                                      models: "ids" [N, T] + "lengths" [N])
 *
 * This is the only place besides gliad's main that prints or exits.
 */
#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/image/image.h"
#include "core/model/bundle.h"
#include "core/nn/kernels.h"
#include "core/base/yamlutil.h"
#include "core/train/word2vec.h"
#include "core/train/run.h"
#include "core/train/trainer.h"
#include "cli/cli.h"

void glia_cli_usage(FILE *f)
{
    fprintf(f, "usage:\n"
               "  glia train RECIPE.yaml --out DIR [--epochs N] [--limit N] [--threads N]\n"
               "  glia eval DIR [--limit N] [--threads N]\n"
               "  glia predict DIR IMAGE...        (image models: PNG or PGM files)\n"
               "  glia predict DIR TEXT...         (text models: one sentence per argument)\n"
               "  glia predict DIR TEXT... [--beam N]   (translation models)\n"
               "  glia eval DIR [--limit N] [--beam N]  (translation: bleu= and chrf= last)\n"
               "  glia forward DIR IN.safetensors OUT.safetensors\n"
               "  glia score --hyp FILE --ref FILE   (a sentence per line: bleu= and chrf= last)\n"
               "  glia gettext [--split train|dev|test] [--side en|es] [--dir DIR]\n");
}

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

int glia_cli_flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

const char *glia_cli_option(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

long glia_cli_option_long(int argc, char **argv, const char *name, long def)
{
    const char *v = glia_cli_option(argc, argv, name);
    if (!v)
        return def;
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < 0) {
        fprintf(stderr, "glia: %s expects a non-negative integer, got '%s'\n", name, v);
        exit(2);
    }
    return x;
}

/* --threads N (default: every online core) becomes N glia workers that split each batch,
 * each calling a single-threaded BLAS: splitting the batch also spreads im2col, pooling and
 * the element-wise layers, which BLAS threads cannot, and two thread pools never fight over
 * the cores. Returns N. */
int glia_cli_setup_threads(int argc, char **argv)
{
    long n = glia_cli_option_long(argc, argv, "--threads", 0);
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
    printf("epoch %d/%d  loss=%.4f  train_acc=%.4f  val_loss=%.4f  val_acc=%.4f  lr=%.6g  %s/s=%.0f  "
           "elapsed=%.0fs\n",
           p->epoch, p->epochs, p->train_loss, p->train_accuracy, p->val_loss, p->val_accuracy, p->lr,
           user ? (const char *)user : "images", p->samples_per_second, p->seconds);
    fflush(stdout);
    return 0;
}

static void print_start(const glia_run_info *info, void *user)
{
    (void)user;
    if (info->vocabulary)
        printf("training %s on %s: %zu train, %zu dev sentences, vocabulary %zu tokens, %zu parameters\n",
               info->model, info->dataset, info->train, info->val, info->vocabulary, info->parameters);
    else
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

/* Whether a recipe file says `task: word2vec` (word vectors rather than a model bundle). */
static int is_word2vec_recipe(const char *path)
{
    glia_yaml y;
    glia_err err = {0};
    if (glia_yaml_load_file(path, &y, &err) != GLIA_OK)
        return 0; /* glia_recipe_load will say what is wrong */
    const char *task = NULL;
    yaml_node_t *n = glia_yaml_get(&y, glia_yaml_root(&y), "task");
    int yes = n && glia_yaml_string(&y, n, "task", &task, &err) == GLIA_OK && strcmp(task, "word2vec") == 0;
    glia_yaml_free(&y);
    return yes;
}

static int cmd_train(int argc, char **argv)
{
    glia_err err = {0};
    glia_recipe recipe;
    glia_run_result res;
    const char *out = glia_cli_option(argc, argv, "--out");
    if (argc < 1 || !out) {
        glia_cli_usage(stderr);
        return 2;
    }
    int workers = glia_cli_setup_threads(argc, argv);
    if (is_word2vec_recipe(argv[0])) {
        if (mkdir(out, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "glia: cannot create %s: %s\n", out, strerror(errno));
            return 1;
        }
        if (glia_w2v_recipe_run(argv[0], out, print_w2v, NULL, NULL, &err))
            return glia_cli_fail(&err);
        printf("word vectors written to %s (vectors.safetensors, vocab.txt)\n", out);
        return 0;
    }
    if (glia_recipe_load(argv[0], &recipe, &err))
        return glia_cli_fail(&err);
    recipe.workers = workers;
    recipe.epochs = (int)glia_cli_option_long(argc, argv, "--epochs", recipe.epochs);
    recipe.sched.total_epochs = recipe.epochs;
    recipe.limit = glia_cli_option_long(argc, argv, "--limit", recipe.limit);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "glia: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    int text = strcmp(recipe.dataset, "uci-sentiment") == 0;
    int translation = strcmp(recipe.dataset, "gettext-en-es") == 0;
    if (translation) {
        /* one training stream whose GEMMs the BLAS threads share; a checkpoint after every
         * epoch in OUT, continued from when the run is started again (--restart: ignore it) */
        glia_cli_set_blas_threads(workers);
        snprintf(recipe.checkpoint, sizeof recipe.checkpoint, "%s/checkpoint.safetensors", out);
        recipe.resume = !glia_cli_flag(argc, argv, "--restart");
        if (recipe.resume && access(recipe.checkpoint, F_OK) == 0)
            printf("continuing from %s\n", recipe.checkpoint);
    }
    glia_run_hooks hooks = {print_start, glia_cli_print_progress,
                            text          ? "sentences"
                            : translation ? "tokens"
                                          : NULL,
                            NULL};
    if (glia_run_training(&recipe, out, 0, &hooks, &res, &err))
        return glia_cli_fail(&err);
    if (translation) {
        unlink(recipe.checkpoint); /* the bundle is complete: the checkpoint has done its job */
        printf("selected epoch %d (dev token accuracy %.4f); trained in %.1f s\n", res.train.best_epoch,
               res.train.best_val_accuracy, res.train.seconds);
        printf("test: sentences=%zu token_accuracy=%.4f loss=%.4f beam=%d\n", res.test_examples,
               res.test_accuracy, res.test_loss, recipe.eval_beam);
        printf("bleu=%.2f\nchrf=%.2f\n", res.bleu, res.chrf);
        return 0;
    }
    printf("selected epoch %d (%s accuracy %.4f); trained in %.1f s\n", res.train.best_epoch,
           text ? "dev" : "validation", res.train.best_val_accuracy, res.train.seconds);
    printf("test: examples=%zu", res.test_examples);
    for (int s = 0; res.has_per_source && s < GLIA_UCI_NSOURCES; s++)
        printf(" %s=%.4f", glia_uci_source_name((glia_uci_source)s), res.per_source[s]);
    printf(" loss=%.4f\n", res.test_loss);
    printf("accuracy=%.4f\n", res.test_accuracy);
    return 0;
}

static int cmd_eval(int argc, char **argv)
{
    glia_err err = {0};
    glia_bundle b;
    glia_dataset test = {0};
    double loss, acc;
    if (argc < 1) {
        glia_cli_usage(stderr);
        return 2;
    }
    int workers = glia_cli_setup_threads(argc, argv);
    if (glia_bundle_load(argv[0], &b, &err))
        return glia_cli_fail(&err);
    int rc = 1;
    /* TODO(issue 12, the one training loop): one evaluation through the model interface */
    if (b.model->ops->output == GLIA_OUTPUT_SEQUENCE) {
        glia_cli_set_blas_threads(workers);
        rc = glia_cli_eval_translation(&b, argc, argv);
        goto done;
    }
    if (b.model->ops->input == GLIA_INPUT_TOKENS) {
        rc = glia_cli_eval_text(&b);
        goto done;
    }
    if (glia_dataset_load_fashion(getenv("GLIA_FASHION_MNIST"), "test", &b.manifest.pre,
                                  (size_t)glia_cli_option_long(argc, argv, "--limit", 0), &test, &err) ||
        glia_evaluate(b.model->impl, &test, 256, workers, &loss, &acc, &err)) {
        glia_cli_fail(&err);
        goto done;
    }
    printf("model: %s (weights sha256 %s)\n", b.manifest.name, b.manifest.weights[0] ? b.sha256 : "-");
    printf("test: dataset=fashion-mnist examples=%zu loss=%.4f\n", test.n, loss);
    printf("accuracy=%.4f\n", acc);
    rc = 0;
done:
    glia_dataset_free(&test);
    glia_bundle_free(&b);
    return rc;
}

static int cmd_predict(int argc, char **argv)
{
    glia_err err = {0};
    glia_bundle b;
    if (argc < 2) {
        glia_cli_usage(stderr);
        return 2;
    }
    glia_cli_set_blas_threads(1);
    const int beam = (int)glia_cli_option_long(argc, argv, "--beam", 0);
    if (glia_bundle_load(argv[0], &b, &err))
        return glia_cli_fail(&err);
    /* the inputs: every argument after the bundle but --beam N */
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--beam") == 0)
            i++;
        else
            argv[1 + n++] = argv[i];
    }
    int rc = glia_cli_predict(&b, n, argv + 1, beam);
    glia_bundle_free(&b);
    return rc;
}

static int cmd_forward(int argc, char **argv)
{
    glia_err err = {0};
    glia_bundle b;
    if (argc < 3) {
        glia_cli_usage(stderr);
        return 2;
    }
    glia_cli_set_blas_threads(1);
    if (glia_bundle_load(argv[0], &b, &err))
        return glia_cli_fail(&err);
    int rc = glia_cli_forward(&b, argv[1], argv[2]);
    glia_bundle_free(&b);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        glia_cli_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "train") == 0)
        return cmd_train(argc - 2, argv + 2);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc - 2, argv + 2);
    if (strcmp(cmd, "predict") == 0)
        return cmd_predict(argc - 2, argv + 2);
    if (strcmp(cmd, "forward") == 0)
        return cmd_forward(argc - 2, argv + 2);
    if (strcmp(cmd, "score") == 0)
        return glia_cli_score(argc - 2, argv + 2);
    if (strcmp(cmd, "gettext") == 0)
        return glia_cli_gettext(argc - 2, argv + 2);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        glia_cli_usage(stdout);
        return 0;
    }
    fprintf(stderr, "glia: unknown command '%s'\n", cmd);
    glia_cli_usage(stderr);
    return 2;
}
