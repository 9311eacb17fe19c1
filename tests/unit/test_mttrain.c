/*
 * test_mttrain.c - fine-tuning a translation model (core/train/mttrain.h, recipe.h's
 * init.bundle): a tiny bundle trained here from a file of pairs is the start of a second recipe,
 * whose prepared model holds exactly the bundle's weights and whose tokenizer is the bundle's
 * file byte for byte (not relearned from the new pairs, which would give other ids); a recipe
 * whose architecture differs is refused naming the tensor and shapes; init on a data set that
 * is not translation pairs, a missing bundle and an unknown key are refused with the file and
 * key; and a run from init.bundle writes a bundle with the same tokenizer file.
 */
#include "core/model/bundle.h"
#include "core/text/bpe.h"
#include "core/train/mttrain.h"
#include "core/train/recipe.h"
#include "core/train/run.h"
#include "tests/support/check_main.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "mttrain");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

static const char *model_yaml(int d_model)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "name: tiny-mt\ntask: translation\nversion: 1\nweights: model.safetensors\n"
             "tokenizer: tokenizer.bpe\ninput: {max_tokens: 32}\n"
             "architecture: {type: transformer-seq2seq, d_model: %d, nhead: 2, num_encoder_layers: 1,\n"
             "  num_decoder_layers: 1, dim_feedforward: 32, dropout: 0.1, norm_first: true,\n"
             "  tie_embeddings: true, max_positions: 40}\n"
             "decoding: {beam_size: 1, max_tokens: 30}\n",
             d_model);
    return buf;
}

/* Pairs with a vocabulary of their own: the second file's words are not the first's, so a
 * tokenizer learned from it would differ from the bundle's. */
static void write_pairs(const char *name, const char *const *en, const char *const *es, int nwords)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int k = 0; k < 5; k++) /* 180 pairs: every split gets some */
        for (int i = 0; i < nwords; i++)
            for (int j = 0; j < nwords; j++)
                fprintf(f, "%s the %s %d\t%s el %s %d\n", en[i], en[j], k, es[i], es[j], k);
    ck_assert_int_eq(fclose(f), 0);
}

static void load_recipe(const char *name, const char *text, const char *pairs, glia_recipe *r)
{
    glia_err err = {0};
    const char *path = glia_test_write(tmpdir, name, text);
    ck_assert_msg(glia_recipe_load(path, r, &err) == GLIA_OK, "%s", err.msg);
    if (pairs)
        snprintf(r->dataset_file, sizeof r->dataset_file, "%s/%s", tmpdir, pairs);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    const long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Whether the files tmpdir/a and tmpdir/b hold the same bytes. */
static bool same_file(const char *a, const char *b)
{
    char pa[512], pb[512];
    size_t na, nb;
    snprintf(pa, sizeof pa, "%s/%s", tmpdir, a);
    snprintf(pb, sizeof pb, "%s/%s", tmpdir, b);
    char *x = slurp(pa, &na), *y = slurp(pb, &nb);
    const bool same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* A whole run of r into the new directory tmpdir/name. */
static void train_into(const glia_recipe *r, const char *name)
{
    char out[512];
    glia_run_result res;
    glia_err err = {0};
    snprintf(out, sizeof out, "%s/%s", tmpdir, name);
    ck_assert_int_eq(mkdir(out, 0755), 0);
    ck_assert_msg(glia_run_training(r, out, 0, NULL, &res, &err) == GLIA_OK, "%s", err.msg);
}

/* Trains the start bundle into tmpdir/base. */
static void train_base(void)
{
    static const char *const en[] = {"open", "close", "save", "print", "copy", "delete"};
    static const char *const es[] = {"abrir", "cerrar", "guardar", "imprimir", "copiar", "borrar"};
    static const char *const en2[] = {"table", "chart", "cell", "sheet", "frame", "style"};
    static const char *const es2[] = {"tabla", "gráfico", "celda", "hoja", "marco", "estilo"};
    write_pairs("base.tsv", en, es, 6);
    write_pairs("new.tsv", en2, es2, 6);
    glia_test_write(tmpdir, "model.yaml", model_yaml(16));
    glia_recipe r;
    load_recipe("base.yaml",
                "model: model.yaml\ndataset: {name: gettext-en-es}\nseed: 3\nepochs: 1\n"
                "tokenizer: {vocab_size: 300}\nbatch_tokens: 400\nevaluation: {beam_size: 1}\n",
                "base.tsv", &r);
    train_into(&r, "base");
}

START_TEST(init_keeps_weights_and_tokenizer)
{
    train_base();
    glia_recipe r;
    glia_mt_job job;
    glia_err err = {0};
    load_recipe(
        "tune.yaml",
        "model: model.yaml\ninit: {bundle: base}\ndataset: {name: gettext-en-es}\nseed: 9\nepochs: 1\n"
        "tokenizer: {vocab_size: 300}\nbatch_tokens: 400\nevaluation: {beam_size: 1}\n",
        "new.tsv", &r);
    char path[600];
    snprintf(path, sizeof path, "%s/base", tmpdir);
    ck_assert_str_eq(r.translation.init_bundle, path);
    ck_assert_msg(glia_mt_prepare(&r, &job, &err) == GLIA_OK, "%s", err.msg);
    glia_bundle b;
    ck_assert_msg(glia_bundle_load(path, &b, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(job.model->size, b.model->size);
    ck_assert_int_eq(memcmp(job.model->values, b.model->values, sizeof(float) * b.model->size), 0);
    /* the tokenizer: the bundle's file, byte for byte */
    snprintf(path, sizeof path, "%s/tune.bpe", tmpdir);
    ck_assert_msg(glia_bpe_save(job.bpe, path, &err) == GLIA_OK, "%s", err.msg);
    ck_assert(same_file("tune.bpe", "base/tokenizer.bpe"));
    glia_bundle_free(&b);
    glia_mt_job_free(&job);

    /* without init the same pairs teach another tokenizer (the control of the check above) */
    load_recipe("fresh.yaml",
                "model: model.yaml\ndataset: {name: gettext-en-es}\nseed: 9\nepochs: 1\n"
                "tokenizer: {vocab_size: 300}\nbatch_tokens: 400\n",
                "new.tsv", &r);
    ck_assert_msg(glia_mt_prepare(&r, &job, &err) == GLIA_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/fresh.bpe", tmpdir);
    ck_assert_msg(glia_bpe_save(job.bpe, path, &err) == GLIA_OK, "%s", err.msg);
    ck_assert(!same_file("fresh.bpe", "base/tokenizer.bpe"));
    glia_mt_job_free(&job);

    /* a whole run from init.bundle: its bundle carries the start's tokenizer file */
    load_recipe(
        "tune.yaml",
        "model: model.yaml\ninit: {bundle: base/model.yaml}\ndataset: {name: gettext-en-es}\nseed: 9\n"
        "epochs: 1\nbatch_tokens: 400\nevaluation: {beam_size: 1}\n",
        "new.tsv", &r);
    train_into(&r, "tuned");
    ck_assert(same_file("tuned/tokenizer.bpe", "base/tokenizer.bpe"));
}
END_TEST

START_TEST(init_refuses_another_architecture)
{
    train_base();
    glia_test_write(tmpdir, "wide.yaml", model_yaml(32));
    glia_recipe r;
    glia_mt_job job;
    glia_err err = {0};
    load_recipe("tune.yaml", "model: wide.yaml\ninit: {bundle: base}\ndataset: {name: gettext-en-es}\n",
                "new.tsv", &r);
    ck_assert_int_ne(glia_mt_prepare(&r, &job, &err), GLIA_OK);
    ck_assert_msg(strstr(err.msg, "init.bundle") && strstr(err.msg, "embedding.weight"), "%s", err.msg);
    ck_assert_ptr_null(job.model);
    /* a bundle that is not there */
    load_recipe("gone.yaml", "model: model.yaml\ninit: {bundle: nowhere}\ndataset: {name: gettext-en-es}\n",
                "new.tsv", &r);
    ck_assert_int_ne(glia_mt_prepare(&r, &job, &err), GLIA_OK);
    ck_assert_msg(strstr(err.msg, "init.bundle") && strstr(err.msg, "nowhere"), "%s", err.msg);
}
END_TEST

START_TEST(init_recipe_errors)
{
    glia_recipe r;
    glia_err err = {0};
    const char *p = glia_test_write(tmpdir, "a.yaml",
                                    "model: m.yaml\ninit: {bundle: x}\ndataset: {name: fashion-mnist}\n");
    ck_assert_int_eq(glia_recipe_load(p, &r, &err), GLIA_EUNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "a.yaml") && strstr(err.msg, "translation and text models only"), "%s",
                  err.msg);
    p = glia_test_write(tmpdir, "b.yaml",
                        "model: m.yaml\ninit: {bundel: x}\ndataset: {name: gettext-en-es}\n");
    ck_assert_int_ne(glia_recipe_load(p, &r, &err), GLIA_OK);
    ck_assert_msg(strstr(err.msg, "bundel"), "%s", err.msg);
    p = glia_test_write(tmpdir, "c.yaml", "model: m.yaml\ninit: {}\ndataset: {name: gettext-en-es}\n");
    ck_assert_int_ne(glia_recipe_load(p, &r, &err), GLIA_OK);
    ck_assert_msg(strstr(err.msg, "init.bundle"), "%s", err.msg);
    /* the new data sets are known to recipes */
    p = glia_test_write(tmpdir, "d.yaml", "model: m.yaml\ndataset: {name: gettext-docs-en-es}\n");
    ck_assert_msg(glia_recipe_load(p, &r, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(glia_recipe_kind(&r), GLIA_DATA_PAIRS);
    ck_assert_str_eq(r.translation.init_bundle, "");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mttrain");
    TCase *tc = tcase_create("init");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, init_keeps_weights_and_tokenizer);
    tcase_add_test(tc, init_refuses_another_architecture);
    tcase_add_test(tc, init_recipe_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
