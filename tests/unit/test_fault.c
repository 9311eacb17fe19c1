/*
 * test_fault.c - fault injection (tests/support/fault.h), as sqlite does it: every scenario
 * runs once for each N = 1, 2, ... with the Nth allocation (then, separately, the Nth file
 * call) failing, until it runs without reaching N. At every N the scenario must:
 *  - come back with an error code and a message, or succeed when the failure was one it
 *    may absorb (a failed close of a file it only read) - and then with the very data a run
 *    without a failure loads (a digest of it);
 *  - leak nothing: the heap in use after the run is what it was before (fault.h), which
 *    pins a leak to its N; LeakSanitizer's report is printed for the reader;
 *  - not crash (the ASan report names the scenario and N);
 *  - leave no partial file: a file it was writing holds its old content or the whole new
 *    one, a training run's directory holds a loadable bundle or no manifest, and no
 *    temporary file is left beside them.
 *
 * Scenarios: (a) loading a bundle of each family (manifest, labels, tokenizer, weights);
 * saving weights, a vocabulary, a BPE tokenizer, an atomic file and a trained version's
 * manifest; (b) gliad's configuration with four models and both token files, the shipped
 * training recipes and an override; (c) every data set loader: IDX images and labels
 * (plain and gzip), JSON lines, TSV pairs, a gettext .mo catalog and a directory of them,
 * the UCI JSON files; images (PNG and PGM files decoded, resized, preprocessed for a model
 * and encoded again); (d) one training step of each family through the one loop with its
 * checkpoint write (and the text model with two lanes: two threads allocating), and a
 * whole training run (glia_run_training) of the image and the text model, which loads the
 * data, trains, evaluates and writes the bundle.
 *
 * Not covered: allocations inside shared libraries (libc's own, OpenBLAS, libpng, zlib)
 * and failures of calls glia does not route through the wrapped names (stat, opendir,
 * fchmod, lseek). libyaml 0.2.5 leaks a node's item stack when it cannot push the node
 * (its bug; glia deletes the parser and gets no document): counted as "libyaml leaks"
 * rather than failed, and left out of LeakSanitizer's reports.
 *
 * Every N is swept up to SWEEP_ALL calls (the largest scenario makes about 4000); beyond
 * that the first SWEEP_ALL and then every stride-th, the stride chosen so that a scenario
 * tries about SWEEP_BUDGET more points. The counts are printed on stderr as TAP comments
 * ("# bundle cnn alloc: 368 calls, 368 points ..."). GLIA_FAULT_ONLY=NAME sweeps only the
 * scenarios whose name has NAME in it.
 */
#include "core/base/afile.h"
#include "core/base/hash.h"
#include "core/data/gettext.h"
#include "core/data/images.h"
#include "core/data/uci.h"
#include "core/formats/mo.h"
#include "core/formats/safetensors.h"
#include "core/model/bundle.h"
#include "core/text/bpe.h"
#include "core/text/vocab.h"
#include "core/train/run.h"
#include "daemon/config.h"
#include "tests/support/check_main.h"
#include "tests/support/fault.h"
#include "tests/support/tiny_bundle.h"
#include "tests/support/tiny_models.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

enum { SWEEP_ALL = 5000, SWEEP_BUDGET = 3000 };

static char dir[256];

/* What a loader gave, folded into one number (0: the scenario keeps none), so that a run
 * that absorbed a failure can be seen to give what a run without one gives. */
static uint32_t digest;

static void digest_add(const void *data, size_t len)
{
    digest = digest * 16777619u ^ glia_fnv1a32(data, len);
}

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* LeakSanitizer's reports (at exit, and the one judge prints) leave out libyaml's own leak
 * (see judge), which would otherwise fail the process at exit; judge decides on leaks by
 * the heap in use, which this does not change. */
const char *__lsan_default_suppressions(void)
{
    return "leak:yaml_parser_load\n";
}
#endif

static const char *at(const char *name)
{
    static char path[8][512];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s", path);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text));
}

/* ---- (a) bundles ---- */

#define BPE_GOOD                                                                                                \
    "glia-bpe 1\nbyte-fallback no\nvocab 9\nmerges 2\n<pad>\n<unk>\n<s>\n</s>\na\nb\n▁\nab\n▁ab\na b\n▁ " \
    "ab\n"

/* The weights of the bundle at d, drawn from a seed: its manifest, the tokenizer its family
 * reads (which sets the vocabulary) and a fresh model, saved. */
static void write_weights(const char *d)
{
    char path[600];
    glia_err err = {0};
    glia_manifest m;
    glia_tokenizer *tok = NULL;
    glia_model *model = NULL;
    snprintf(path, sizeof path, "%s/model.yaml", d);
    ck_assert_msg(glia_manifest_load(path, &m, &err) == GLIA_OK, "%s", err.msg);
    const glia_model_ops *ops = glia_model_family(m.task);
    if (ops->tokenizer != GLIA_TOKENIZER_NONE) {
        ck_assert_msg(glia_tokenizer_load(ops->tokenizer, m.tokenizer, &tok, &err) == GLIA_OK, "%s", err.msg);
        ck_assert_msg(ops->set_vocab_size(&m, glia_tokenizer_size(tok), &err) == GLIA_OK, "%s", err.msg);
    }
    ck_assert_msg(glia_model_new(&m, &model, &err) == GLIA_OK, "%s", err.msg);
    glia_rng rng;
    glia_rng_seed(&rng, 5);
    model->ops->reset(model, &rng);
    ck_assert_msg(model->ops->save(model, m.weights, NULL, &err) == GLIA_OK, "%s", err.msg);
    glia_model_free(model);
    glia_tokenizer_free(tok);
    glia_manifest_free(&m);
}

static void make_bundles(void)
{
    ck_assert_int_eq(mkdir(at("cnn"), 0755), 0);
    tiny_bundle_write(at("cnn"), 1);

    ck_assert_int_eq(mkdir(at("text"), 0755), 0);
    write_text(at("text/model.yaml"),
               "name: tiny-text\ntask: text-classification\nversion: 1\n"
               "labels: labels.txt\nvocabulary: vocab.txt\ninput: {max_tokens: 5}\n"
               "architecture:\n  type: text-rnn\n"
               "  embedding: {embedding_dim: 4, padding_idx: 0}\n"
               "  rnn: {type: lstm, hidden_size: 3, num_layers: 1, bidirectional: true}\n"
               "  pooling: max\n  classifier: {out_features: 2}\n");
    write_text(at("text/labels.txt"), "negative\npositive\n");
    write_text(at("text/vocab.txt"), "<pad>\n<unk>\ngood\nbad\nfilm\nvery\n");
    write_weights(at("text"));

    ck_assert_int_eq(mkdir(at("mt"), 0755), 0);
    write_text(at("mt/model.yaml"),
               "name: tiny-mt\ntask: translation\nversion: 1\ntokenizer: tokenizer.bpe\n"
               "input: {max_tokens: 8}\n"
               "architecture:\n  type: transformer-seq2seq\n  d_model: 8\n  nhead: 2\n"
               "  num_encoder_layers: 1\n  num_decoder_layers: 1\n  dim_feedforward: 12\n"
               "  dropout: 0.0\n  norm_first: true\n  tie_embeddings: true\n"
               "  max_positions: 12\n"
               "decoding: {beam_size: 2, max_tokens: 6, length_penalty: 0.6}\n");
    write_text(at("mt/tokenizer.bpe"), BPE_GOOD);
    write_weights(at("mt"));
}

static glia_status load_bundle(const char *name, glia_err *err)
{
    glia_bundle b;
    glia_status rc = glia_bundle_load(at(name), &b, err);
    if (rc == GLIA_OK)
        glia_bundle_free(&b);
    return rc;
}

/* The writers' destination, holding OLD before every run. */
#define OLD "old content\n"

static glia_bundle saved;     /* the model whose weights save_weights writes */
static glia_bundle saved_cnn; /* the manifest images are preprocessed for */

static glia_status save_weights(const char *arg, glia_err *err)
{
    return saved.model->ops->save(saved.model, at("out"), NULL, err);
}

static int weights_complete(const char *path)
{
    glia_st_file *st = NULL;
    glia_err err = {0};
    if (glia_st_open(path, &st, &err) != GLIA_OK)
        return 0;
    int ok = glia_st_count(st) == (size_t)saved.model->nparams;
    glia_st_close(st);
    return ok;
}

static glia_status save_vocab(const char *arg, glia_err *err)
{
    return glia_vocab_save(glia_tokenizer_words(saved.tokenizer), at("out"), err);
}

static int vocab_complete(const char *path)
{
    glia_vocab *v = NULL;
    glia_err err = {0};
    if (glia_vocab_load(path, &v, &err) != GLIA_OK)
        return 0;
    int ok = glia_vocab_size(v) == glia_vocab_size(glia_tokenizer_words(saved.tokenizer));
    glia_vocab_free(v);
    return ok;
}

static glia_bpe *saved_bpe;

static glia_status save_bpe(const char *arg, glia_err *err)
{
    return glia_bpe_save(saved_bpe, at("out"), err);
}

static int bpe_complete(const char *path)
{
    glia_bpe *b = NULL;
    glia_err err = {0};
    if (glia_bpe_load(path, &b, &err) != GLIA_OK)
        return 0;
    int ok =
        glia_bpe_size(b) == glia_bpe_size(saved_bpe) && glia_bpe_n_merges(b) == glia_bpe_n_merges(saved_bpe);
    glia_bpe_free(b);
    return ok;
}

static glia_status write_afile(const char *arg, glia_err *err)
{
    return glia_afile_write(at("out"), "new content, longer than the old\n", 33, 0644, err);
}

static int afile_complete(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    glia_err err = {0};
    int ok = glia_file_read(path, 1024, "a test file", &data, &len, &err) == GLIA_OK && len == 33 &&
             memcmp(data, "new content, longer than the old\n", 33) == 0;
    free(data);
    return ok;
}

#define RESULTS "evaluation: {accuracy: 0.5}\n"
#define HEAD_V7 "name: tiny-text\ntask: text-classification\nversion: 7\n"

/* A trained version's manifest: the source's text with a new version and results. */
static glia_status write_manifest(const char *arg, glia_err *err)
{
    return glia_manifest_write_version(at("text/model.yaml"), at("out"), 7, RESULTS, err);
}

static int manifest_complete(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    glia_err err = {0};
    int ok = glia_file_read(path, 1 << 16, "a manifest", &data, &len, &err) == GLIA_OK &&
             strncmp(data, HEAD_V7, strlen(HEAD_V7)) == 0 && len > strlen(RESULTS) &&
             strcmp(data + len - strlen(RESULTS), RESULTS) == 0;
    free(data);
    return ok;
}

/* ---- (b) configuration ---- */

static void make_config(void)
{
    write_text(at("gliad.yaml"),
               "listen:\n  address: 127.0.0.1\n  port: 0\nworkers: 2\nblas_threads: 1\n"
               "queue: {length: 64, timeout_ms: 2000}\n"
               "batching: {max_size: 8, max_wait_us: 100}\n"
               "training: {threads: 1, nice: 10, max_queued: 4, max_dataset: 1MiB}\n"
               "limits: {body: 64KiB}\ndrain_timeout_ms: 500\n"
               "models:\n  - {name: tiny-cnn, path: cnn}\n  - {name: tiny-text, path: text}\n"
               "  - {name: tiny-mt, path: mt/model.yaml}\n  - {name: again, path: cnn}\n"
               "state_dir: state\n"
               "auth:\n  admin_token_file: admin.token\n  inference_token_file: infer.token\n"
               "log: {level: debug}\n");
    write_text(at("admin.token"), "s3cret-admin\n");
    write_text(at("infer.token"), "s3cret-inference  \n");
    ck_assert_int_eq(chmod(at("admin.token"), 0600), 0);
    ck_assert_int_eq(chmod(at("infer.token"), 0600), 0);
}

/* No ck_assert while armed: Check's own allocations and writes would be failed. */
static glia_status load_config(const char *arg, glia_err *err)
{
    config cfg;
    char *admin = NULL, *infer = NULL;
    glia_status rc = config_load(at("gliad.yaml"), &cfg, err);
    if (rc != GLIA_OK)
        return rc;
    if ((rc = config_read_token(cfg.admin_token_file, &admin, err)) == GLIA_OK &&
        (rc = config_read_token(cfg.inference_token_file, &infer, err)) == GLIA_OK &&
        (cfg.nmodels != 4 || strcmp(admin, "s3cret-admin") != 0 || strcmp(infer, "s3cret-inference") != 0))
        rc = glia_err_set(err, GLIA_EINVAL, "the configuration was read wrong");
    free(admin);
    free(infer);
    config_free(&cfg);
    return rc;
}

static glia_status load_recipes(const char *arg, glia_err *err)
{
    static const char *const recipes[] = {"models/fashion-cnn/recipe.yaml",
                                          "models/sentiment-lstm/recipe.yaml",
                                          "models/translate-en-es/recipe.yaml"};
    glia_recipe r;
    for (size_t i = 0; i < sizeof recipes / sizeof *recipes; i++) {
        glia_status rc = glia_recipe_load(glia_test_path(recipes[i]), &r, err);
        if (rc != GLIA_OK)
            return rc;
    }
    static const char over[] = "{epochs: 2, lr: 0.5, batch: {policy: fixed, size: 4}, seed: 9}";
    return glia_recipe_override(&r, over, sizeof over - 1, "overrides", err);
}

/* ---- (c) data sets ---- */

static unsigned char *idx_bytes(int type, int ndim, const uint32_t *dims, size_t payload, int mod,
                                size_t *len)
{
    *len = 4 + 4 * (size_t)ndim + payload;
    unsigned char *b = malloc(*len);
    ck_assert_ptr_nonnull(b);
    b[0] = 0, b[1] = 0, b[2] = (unsigned char)type, b[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++)
        for (int k = 0; k < 4; k++)
            b[4 + 4 * i + k] = (unsigned char)(dims[i] >> (24 - 8 * k));
    for (size_t i = 0; i < payload; i++)
        b[4 + 4 * (size_t)ndim + i] = (unsigned char)((i * 131 + i / 7) % (size_t)mod);
    return b;
}

static void write_gzip(const char *path, const unsigned char *in, size_t n)
{
    gzFile z = gzopen(path, "wb");
    ck_assert_ptr_nonnull(z);
    ck_assert_int_eq(gzwrite(z, in, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(z), Z_OK);
}

enum { IDX_N = 40 };

static void make_idx(void)
{
    size_t li, ll;
    unsigned char *images = idx_bytes(0x08, 3, (const uint32_t[]){IDX_N, 4, 4}, IDX_N * 16, 256, &li);
    unsigned char *labels = idx_bytes(0x08, 1, (const uint32_t[]){IDX_N}, IDX_N, 3, &ll);
    write_bytes(at("images.idx"), images, li);
    write_bytes(at("labels.idx"), labels, ll);
    write_gzip(at("images.idx.gz"), images, li);
    write_gzip(at("labels.idx.gz"), labels, ll);
    free(images);
    free(labels);
}

/* files: "IMAGES LABELS" */
static glia_status load_idx_files(const char *files, glia_err *err)
{
    char images[64], labels[64];
    if (sscanf(files, "%63s %63s", images, labels) != 2)
        return glia_err_set(err, GLIA_EINVAL, "'%s' is not 'IMAGES LABELS'", files);
    static const char *const splits[] = {"train", "dev", "test"};
    const glia_preprocess pre = {.scale = 1.0f / 255.0f, .mean = 0.5f, .std = 0.25f};
    for (int s = 0; s < 3; s++) {
        glia_dataset ds;
        glia_status rc = glia_dataset_load_idx(at(images), at(labels), &pre, (glia_shape3){1, 4, 4}, 3,
                                               splits[s], &ds, err);
        if (rc != GLIA_OK)
            return rc;
        digest_add(ds.x, sizeof *ds.x * ds.n * glia_dataset_sample(&ds));
        digest_add(ds.y, sizeof *ds.y * ds.n);
        glia_dataset_free(&ds);
    }
    return GLIA_OK;
}

static void make_texts(void)
{
    char line[160];
    FILE *jsonl = fopen(at("texts.jsonl"), "w"), *tsv = fopen(at("pairs.tsv"), "w");
    ck_assert(jsonl && tsv);
    for (int i = 0; i < 30; i++) {
        snprintf(line, sizeof line, "{\"text\": \"review number %d was %s\", \"label\": %s}\n%s", i,
                 i % 2 ? "good" : "bad", i % 3 ? "\"positive\"" : (i % 2 ? "1" : "0"), i == 7 ? "\n" : "");
        fputs(line, jsonl);
        fprintf(tsv, "Cannot open file %d\tNo se puede abrir el archivo %d\n", i, i);
    }
    fputs("{\"text\": \"review number 3 was good\", \"label\": 1}\n", jsonl); /* a duplicate */
    ck_assert_int_eq(fclose(jsonl), 0);
    ck_assert_int_eq(fclose(tsv), 0);
    /* UCI: three arrays of {"text", "class"}, ending in the blank element the npm copy has */
    static const char *const sources[] = {"amazon.json", "imdb.json", "yelp.json"};
    ck_assert_int_eq(mkdir(at("uci"), 0755), 0);
    for (int s = 0; s < 3; s++) {
        snprintf(line, sizeof line, "uci/%s", sources[s]);
        FILE *f = fopen(at(line), "w");
        ck_assert_ptr_nonnull(f);
        fputs("[", f);
        for (int i = 0; i < 12; i++)
            fprintf(f, "{\"text\": \" %s sentence %d \", \"class\": %d},", sources[s], i % 10, i % 2);
        fputs("{\"text\": \"\", \"class\": null}]", f);
        ck_assert_int_eq(fclose(f), 0);
    }
}

static void digest_uci(const glia_uci_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        digest_add(set->examples[i].text, set->examples[i].len);
        digest_add(&set->examples[i].label, sizeof set->examples[i].label);
    }
}

static void digest_pairs(const glia_gt_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        digest_add(set->pairs[i].en, set->pairs[i].en_len);
        digest_add(set->pairs[i].es, set->pairs[i].es_len);
    }
}

static glia_status data_jsonl(const char *arg, glia_err *err)
{
    char *labels[] = {"negative", "positive"};
    glia_uci_set set;
    glia_status rc = glia_uci_load_jsonl(at("texts.jsonl"), labels, 2, &set, err);
    if (rc != GLIA_OK)
        return rc;
    const char **texts = NULL;
    size_t n = 0;
    rc = glia_uci_texts(&set, GLIA_UCI_TRAIN, &texts, &n, err);
    free(texts);
    digest_uci(&set);
    glia_uci_free(&set);
    return rc;
}

static glia_status data_tsv(const char *arg, glia_err *err)
{
    glia_gt_set set;
    glia_status rc = glia_gt_load_tsv(at("pairs.tsv"), &set, err);
    digest_pairs(&set); /* zeroed on failure */
    glia_gt_free(&set);
    return rc;
}

static glia_status data_uci(const char *arg, glia_err *err)
{
    glia_uci_set set;
    glia_status rc = glia_uci_load(at("uci"), &set, err);
    digest_uci(&set); /* zeroed on failure */
    glia_uci_free(&set);
    return rc;
}

/* A .mo catalog of n messages after a header, little- or big-endian. */
static void write_mo(const char *path, int n, int big_endian)
{
    char ids[16][64], strs[16][96];
    const char *id[17], *str[17];
    id[0] = "",
    str[0] = "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n != 1);\n";
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "Cannot read %d files", i);
        snprintf(strs[i], sizeof strs[i], "No se pueden leer %d archivos", i);
        id[i + 1] = ids[i], str[i + 1] = strs[i];
    }
    const int m = n + 1;
    size_t size = 28 + 16 * (size_t)m;
    for (int i = 0; i < m; i++)
        size += strlen(id[i]) + strlen(str[i]) + 2;
    unsigned char *b = calloc(1, size);
    ck_assert_ptr_nonnull(b);
#define PUT32(p, v)                                                                                          \
    for (int k_ = 0; k_ < 4; k_++)                                                                           \
    (p)[k_] = (unsigned char)((uint32_t)(v) >> (big_endian ? 24 - 8 * k_ : 8 * k_))
    PUT32(b, GLIA_MO_MAGIC);
    PUT32(b + 8, m);
    PUT32(b + 12, 28);
    PUT32(b + 16, 28 + 8 * m);
    PUT32(b + 24, size);
    size_t pos = 28 + 16 * (size_t)m;
    for (int i = 0; i < m; i++) {
        for (int k = 0; k < 2; k++) {
            const char *s = k ? str[i] : id[i];
            PUT32(b + 28 + 8 * (size_t)m * (size_t)k + 8 * (size_t)i, strlen(s));
            PUT32(b + 28 + 8 * (size_t)m * (size_t)k + 8 * (size_t)i + 4, pos);
            memcpy(b + pos, s, strlen(s));
            pos += strlen(s) + 1;
        }
    }
#undef PUT32
    write_bytes(path, b, size);
    free(b);
}

static void make_mo(void)
{
    ck_assert_int_eq(mkdir(at("gettext"), 0755), 0);
    write_mo(at("gettext/a.mo"), 6, 0);
    write_mo(at("gettext/b.mo"), 4, 1);
}

static glia_status data_mo(const char *arg, glia_err *err)
{
    glia_mo_catalog c;
    glia_status rc = glia_mo_read(at("gettext/a.mo"), &c, err);
    if (rc == GLIA_OK)
        glia_mo_catalog_free(&c);
    return rc;
}

static glia_status data_gettext_dir(const char *arg, glia_err *err)
{
    glia_gt_set set;
    glia_status rc = glia_gt_load_dir(at("gettext"), &set, err);
    digest_pairs(&set); /* zeroed on failure */
    glia_gt_free(&set);
    return rc;
}

/* ---- (c) images: what a predict request or a file gives ---- */

static void make_images(void)
{
    float pixels[6 * 5];
    glia_image img = {6, 5, pixels};
    unsigned char *png = NULL, *pgm = NULL;
    size_t npng = 0, npgm = 0;
    glia_err err = {0};
    for (int i = 0; i < 6 * 5; i++)
        pixels[i] = (float)(i * 37 % 256);
    ck_assert_msg(glia_image_encode_png(&img, &png, &npng, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_image_encode_pgm(&img, &pgm, &npgm, &err) == GLIA_OK, "%s", err.msg);
    write_bytes(at("image.png"), png, npng);
    write_bytes(at("image.pgm"), pgm, npgm);
    free(png);
    free(pgm);
}

/* Decoded, resized to the cnn bundle's 4x4 input, preprocessed, and encoded back. */
static glia_status load_image(const char *name, glia_err *err)
{
    glia_image img = {0}, small = {0};
    unsigned char *png = NULL;
    size_t npng = 0;
    float input[16];
    glia_status rc;
    if ((rc = glia_image_load(at(name), &img, err)) == GLIA_OK &&
        (rc = glia_image_resize(&img, 4, 4, &small, err)) == GLIA_OK &&
        (rc = glia_bundle_image_input(&saved_cnn.manifest, &small, input, err)) == GLIA_OK &&
        (rc = glia_image_encode_png(&small, &png, &npng, err)) == GLIA_OK) {
        digest_add(input, sizeof input);
        digest_add(png, npng);
    }
    free(png);
    glia_image_free(&small);
    glia_image_free(&img);
    return rc;
}

/* ---- (d) a training step ---- */

static tiny_data td;

/* One epoch of one batch (8 examples: one optimizer step), evaluated, then the checkpoint
 * written. */
/* spec: "TASK [LANES]" */
static glia_status train_step(const char *spec, glia_err *err)
{
    char task[64];
    int lanes = 1;
    if (sscanf(spec, "%63s %d", task, &lanes) < 1)
        return glia_err_set(err, GLIA_EINVAL, "'%s' is not 'TASK [LANES]'", spec);
    glia_recipe r;
    tiny_recipe(&r, 1, lanes);
    r.select_best = 1;
    snprintf(r.checkpoint, sizeof r.checkpoint, "%s", at("out"));
    glia_manifest m = tiny_models_manifest(task, 0.1f);
    glia_model *model = NULL;
    glia_source *src = NULL;
    glia_status rc = glia_model_new(&m, &model, err);
    if (rc != GLIA_OK)
        return rc;
    glia_rng init;
    glia_rng_seed(&init, 3);
    model->ops->reset(model, &init);
    if ((rc = tiny_source_new(task, &td, &src, err)) == GLIA_OK) {
        glia_train_result res;
        rc = glia_loop_train(&r, model, src, &(glia_loop_hooks){0}, &res, err);
    }
    glia_source_free(src);
    glia_model_free(model);
    return rc;
}

static int checkpoint_complete(const char *path)
{
    glia_st_file *st = NULL;
    glia_err err = {0};
    if (glia_st_open(path, &st, &err) != GLIA_OK)
        return 0;
    glia_st_close(st);
    return 1;
}

/* ---- (d) a whole training run: data, training, evaluation, the bundle written ---- */

static glia_recipe run_recipes[2];

static void make_run_recipes(void)
{
    glia_err err = {0};
    write_text(at("cnn-recipe.yaml"),
               "model: cnn/model.yaml\ndataset: {name: fashion-mnist}\nseed: 1\nepochs: 1\n"
               "batch: {policy: fixed, size: 8}\noptimizer: {type: adam, lr: 0.01}\n"
               "schedule: {type: constant}\n");
    ck_assert_msg(glia_recipe_load(at("cnn-recipe.yaml"), &run_recipes[0], &err) == GLIA_OK, "%s", err.msg);
    snprintf(run_recipes[0].images_file, sizeof run_recipes[0].images_file, "%s", at("images.idx"));
    snprintf(run_recipes[0].labels_file, sizeof run_recipes[0].labels_file, "%s", at("labels.idx"));
    write_text(at("text-recipe.yaml"), "model: text/model.yaml\ndataset: {name: uci-sentiment}\nseed: 1\n"
                                       "epochs: 1\nbatch: {policy: fixed, size: 8}\n"
                                       "optimizer: {type: adam, lr: 0.01}\nschedule: {type: constant}\n");
    ck_assert_msg(glia_recipe_load(at("text-recipe.yaml"), &run_recipes[1], &err) == GLIA_OK, "%s", err.msg);
    snprintf(run_recipes[1].dataset_file, sizeof run_recipes[1].dataset_file, "%s", at("texts.jsonl"));
}

/* arg: "0" the image model, "1" the text model. */
static glia_status train_run(const char *arg, glia_err *err)
{
    glia_run_result res;
    return glia_run_training(&run_recipes[arg[0] - '0'], at("run"), 2, &(glia_run_hooks){0}, &res, err);
}

/* ---- the sweep ---- */

typedef struct {
    const char *name;
    glia_status (*run)(const char *arg, glia_err *err);
    const char *arg;
    int (*complete)(const char *path); /* writers: dir/out is a whole new file; NULL: a loader */
    const char *outdir;                /* a training run's output directory, emptied before each run */
} scenario;

static const scenario scenarios[] = {
    {"bundle cnn", load_bundle, "cnn", NULL, NULL},
    {"bundle text", load_bundle, "text", NULL, NULL},
    {"bundle mt", load_bundle, "mt", NULL, NULL},
    {"save weights", save_weights, NULL, weights_complete, NULL},
    {"save vocab", save_vocab, NULL, vocab_complete, NULL},
    {"save bpe", save_bpe, NULL, bpe_complete, NULL},
    {"afile write", write_afile, NULL, afile_complete, NULL},
    {"manifest write", write_manifest, NULL, manifest_complete, NULL},
    {"config", load_config, NULL, NULL, NULL},
    {"recipes", load_recipes, NULL, NULL, NULL},
    {"data idx", load_idx_files, "images.idx labels.idx", NULL, NULL},
    {"data idx gz", load_idx_files, "images.idx.gz labels.idx.gz", NULL, NULL},
    {"data jsonl", data_jsonl, NULL, NULL, NULL},
    {"data tsv", data_tsv, NULL, NULL, NULL},
    {"data uci", data_uci, NULL, NULL, NULL},
    {"data mo", data_mo, NULL, NULL, NULL},
    {"data gettext dir", data_gettext_dir, NULL, NULL, NULL},
    {"image png", load_image, "image.png", NULL, NULL},
    {"image pgm", load_image, "image.pgm", NULL, NULL},
    {"train cnn", train_step, "image-classification", checkpoint_complete, NULL},
    {"train text", train_step, "text-classification", checkpoint_complete, NULL},
    {"train mt", train_step, "translation", checkpoint_complete, NULL},
    /* two lanes: two threads allocate, in whatever order they run, and either may fail */
    {"train text 2 lanes", train_step, "text-classification 2", checkpoint_complete, NULL},
    {"run cnn", train_run, "0", NULL, "run"},
    {"run text", train_run, "1", NULL, "run"},
};
enum { NSCENARIOS = sizeof scenarios / sizeof *scenarios };

static void setup(void)
{
    /* tmpfs where there is one: the sweeps fsync thousands of times, and a disk's fsync
     * would be most of their time */
    struct stat st;
    snprintf(dir, sizeof dir, "/dev/shm/glia-test-fault-XXXXXX");
    if (stat("/dev/shm", &st) != 0 || !S_ISDIR(st.st_mode) || !mkdtemp(dir))
        glia_test_mkdtemp(dir, sizeof dir, "fault");
    make_bundles();
    make_config();
    make_idx();
    make_texts();
    make_mo();
    tiny_data_fill(&td, 8);
    make_run_recipes();
    glia_err err = {0};
    ck_assert_msg(glia_bundle_load(at("text"), &saved, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_bundle_load(at("cnn"), &saved_cnn, &err) == GLIA_OK, "%s", err.msg);
    make_images();
    glia_bundle mt;
    ck_assert_msg(glia_bundle_load(at("mt"), &mt, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_bpe_load(mt.manifest.tokenizer, &saved_bpe, &err) == GLIA_OK, "%s", err.msg);
    glia_bundle_free(&mt);
}

static void teardown(void)
{
    glia_bundle_free(&saved);
    glia_bundle_free(&saved_cnn);
    glia_bpe_free(saved_bpe);
    glia_test_rmtree(dir);
}

/* Any name in dir with ".tmp" in it: what a writer left behind. */
static const char *leftover_temp(const char *in)
{
    static char name[256];
    const char *found = NULL;
    DIR *d = opendir(in);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL && !found;)
        if (strstr(e->d_name, ".tmp")) {
            snprintf(name, sizeof name, "%s", e->d_name);
            found = name;
        }
    closedir(d);
    return found;
}

static int holds_old(const char *path)
{
    char buf[64];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return n == strlen(OLD) && memcmp(buf, OLD, n) == 0;
}

typedef struct {
    long calls;      /* calls of the kind in a run that failed none */
    long points;     /* values of N tried */
    long failed;     /* ... that came back with an error code and a message */
    long absorbed;   /* ... that succeeded all the same */
    long yaml_leaks; /* ... where libyaml leaked on its own failed allocation (see below) */
    char absorbed_names[512];
} sweep_result;

/* One run with the nth call of kind failing (0: none); *calls gets the calls it made. */
static glia_status run_once(const scenario *s, fault_kind kind, long n, glia_err *err, long *calls)
{
    if (s->complete)
        write_text(at("out"), OLD);
    if (s->outdir) {
        glia_test_rmtree(at(s->outdir));
        ck_assert_int_eq(mkdir(at(s->outdir), 0755), 0);
    }
    memset(err, 0, sizeof *err);
    digest = 0;
    fault_arm(kind, n);
    glia_status rc = s->run(s->arg, err);
    *calls = fault_disarm();
    return rc;
}

/* What a run at one N found. */
typedef struct {
    int fired;
    glia_status rc;
    int yaml_leak;
    uint32_t digest;
    char what[96];
    char problem[1024]; /* "" when the point passed */
} point;

/* The verdict on one failed run (see the file comment); heap_before is the heap in use
 * before it. */
static void judge(const scenario *s, glia_status rc, const glia_err *err, size_t heap_before, point *p)
{
    char caller[128];
    if (rc != GLIA_OK && (err->code != rc || err->msg[0] == '\0')) {
        snprintf(p->problem, sizeof p->problem, "status %s with %s message '%s'", glia_status_str(rc),
                 err->code == rc ? "the" : "another code's", err->msg);
        return;
    }
    const size_t heap = fault_heap_in_use();
    if (heap != heap_before) {
        fault_fired_caller(caller, sizeof caller);
        /* libyaml 0.2.5 leaks a new sequence's or mapping's item stack when it cannot push the
         * node (loader.c, yaml_parser_load_sequence/_mapping): its bug, not glia's, which
         * deletes the parser and gets no document. Counted, not failed. */
        if (strncmp(caller, "yaml_", 5) == 0 && heap > heap_before && heap - heap_before <= 128) {
            p->yaml_leak = 1;
        } else {
            fault_leaks(); /* LeakSanitizer's report, for the reader */
            snprintf(p->problem, sizeof p->problem,
                     "the heap holds %+ld bytes more after the run (the failed call came from %s); the "
                     "error was '%s'",
                     (long)(heap - heap_before), caller[0] ? caller : "?", err->msg);
            return;
        }
    }
    if (s->outdir) {
        /* The manifest is written last: a directory with one must be a complete bundle. A
         * run can fail after that, when the manifest's directory cannot be synced ("is in
         * place but ..."): the files are whole, only their durability is in doubt. */
        const char *tmp = leftover_temp(at(s->outdir));
        struct stat st;
        glia_bundle b;
        glia_err lerr = {0};
        if (tmp)
            snprintf(p->problem, sizeof p->problem, "left %s behind ('%s')", tmp, err->msg);
        else if ((rc == GLIA_OK || stat(at("run/model.yaml"), &st) == 0) &&
                 glia_bundle_load(at(s->outdir), &b, &lerr) != GLIA_OK)
            snprintf(p->problem, sizeof p->problem,
                     "wrote a manifest ('%s'), but the bundle does not load: %s", err->msg, lerr.msg);
        else if (rc == GLIA_OK || stat(at("run/model.yaml"), &st) == 0)
            glia_bundle_free(&b);
    }
    if (s->complete) {
        const char *out = at("out"), *tmp = leftover_temp(dir);
        if (tmp)
            snprintf(p->problem, sizeof p->problem, "left %s behind ('%s')", tmp, err->msg);
        else if (!holds_old(out) && !s->complete(out))
            snprintf(p->problem, sizeof p->problem,
                     "the destination is neither its old content nor a whole new file ('%s')", err->msg);
        else if (rc == GLIA_OK && !s->complete(out))
            snprintf(p->problem, sizeof p->problem, "succeeded without writing the file");
    }
}

/* Point n of s, judged; p.problem says what is wrong with it ("" when nothing). */
static point try_point(const scenario *s, fault_kind kind, long n)
{
    static char crash[256];
    point p;
    glia_err err;
    long calls;
    memset(&p, 0, sizeof p);
    snprintf(crash, sizeof crash, "test_fault: the crash above is %s, %s %ld", s->name, fault_kind_name(kind),
             n);
    fault_on_crash(crash);

    const size_t heap = fault_heap_in_use();
    p.rc = run_once(s, kind, n, &err, &calls);
    p.fired = fault_fired();
    p.digest = digest;
    char caller[64];
    fault_fired_caller(caller, sizeof caller);
    snprintf(p.what, sizeof p.what, "%s%s%s", fault_fired_name(), caller[0] ? " in " : "", caller);
    if (p.fired)
        judge(s, p.rc, &err, heap, &p);
    else if (p.rc != GLIA_OK)
        snprintf(p.problem, sizeof p.problem, "no fault, yet '%s'", err.msg);
    fault_on_crash("");
    return p;
}

static point run_point(const scenario *s, fault_kind kind, long n)
{
    point p = try_point(s, kind, n);
    ck_assert_msg(p.problem[0] == '\0', "%s, %s %ld (%s): %s", s->name, fault_kind_name(kind), n, p.what,
                  p.problem);
    return p;
}

static sweep_result sweep(const scenario *s, fault_kind kind)
{
    sweep_result res = {0};
    glia_err err;
    /* GLIA_FAULT_ONLY=NAME: sweep only the scenarios whose name has NAME in it (debugging) */
    const char *only = getenv("GLIA_FAULT_ONLY");
    if (only && !strstr(s->name, only))
        return res;
    /* The reference run: how many calls there are, and that the scenario works at all. */
    glia_status rc = run_once(s, kind, 0, &err, &res.calls);
    ck_assert_msg(rc == GLIA_OK, "%s without a fault: %s", s->name, err.msg);
    const uint32_t reference = digest;
    /* none would make the sweep vacuous: the wrappers are not linked in */
    ck_assert_msg(res.calls > 0, "%s made no %s call that the wrappers saw", s->name, fault_kind_name(kind));
    const long stride = res.calls <= SWEEP_ALL ? 1 : (res.calls - SWEEP_ALL) / SWEEP_BUDGET + 1;
    for (long n = 1;; n += n < SWEEP_ALL ? 1 : stride) {
        point p = run_point(s, kind, n);
        if (!p.fired)
            break;
        res.points++;
        res.yaml_leaks += p.yaml_leak;
        if (p.rc != GLIA_OK) {
            res.failed++;
        } else {
            ck_assert_msg(p.digest == reference, "%s, %s %ld (%s): succeeded, but with other data", s->name,
                          fault_kind_name(kind), n, p.what);
            res.absorbed++;
            if (!strstr(res.absorbed_names, p.what) &&
                strlen(res.absorbed_names) + strlen(p.what) + 3 < sizeof res.absorbed_names)
                strcat(strcat(res.absorbed_names, res.absorbed_names[0] ? ", " : " "), p.what);
        }
    }
    fprintf(stderr,
            "# %s %s: %ld calls, %ld points (stride %ld past %d), %ld failed cleanly, %ld absorbed%s%s, "
            "%ld libyaml leaks\n",
            s->name, fault_kind_name(kind), res.calls, res.points, stride, SWEEP_ALL, res.failed,
            res.absorbed, res.absorbed ? " by" : "", res.absorbed_names, res.yaml_leaks);
    return res;
}

START_TEST(sweep_alloc)
{
    sweep(&scenarios[_i], FAULT_ALLOC);
}
END_TEST

START_TEST(sweep_io)
{
    sweep(&scenarios[_i], FAULT_IO);
}
END_TEST

/* ---- the harness catches what it is for: deliberately broken code ---- */

/* What leaks_on_failure forgets, kept where the test can free it after the check (the heap
 * count sees it; LeakSanitizer at exit does not). */
static char *forgotten;

static glia_status leaks_on_failure(const char *arg, glia_err *err)
{
    char *a = malloc(16), *b = malloc(16);
    glia_status rc = a && b ? GLIA_OK : glia_err_set(err, GLIA_ENOMEM, "out of memory");
    free(b);
    if (rc == GLIA_OK)
        free(a);
    else
        forgotten = a;
    return rc;
}

static glia_status fails_without_message(const char *arg, glia_err *err)
{
    char *a = malloc(16), *b = malloc(16);
    glia_status rc = a && b ? GLIA_OK : GLIA_ENOMEM;
    free(a);
    free(b);
    return rc;
}

/* Writes the destination in place: a failed write leaves it cut short. */
static glia_status writes_in_place(const char *arg, glia_err *err)
{
    static const char text[] = "new content, longer than the old\n";
    FILE *f = fopen(at("out"), "wb");
    if (!f)
        return glia_err_set(err, GLIA_EIO, "cannot open");
    size_t put = fwrite(text, 1, 10, f);
    put += fwrite(text + 10, 1, sizeof text - 11, f);
    return fclose(f) == 0 && put == sizeof text - 1 ? GLIA_OK : glia_err_set(err, GLIA_EIO, "write failed");
}

static const struct {
    scenario s;
    fault_kind kind;
    const char *want; /* in the problem the harness reports */
} broken[] = {
    {{"leaks on failure", leaks_on_failure, NULL, NULL, NULL}, FAULT_ALLOC, "the heap holds +"},
    {{"fails without a message", fails_without_message, NULL, NULL, NULL},
     FAULT_ALLOC,
     "status out of memory"},
    {{"writes in place", writes_in_place, NULL, afile_complete, NULL}, FAULT_IO, "neither its old content"},
};

START_TEST(harness_catches_broken_code)
{
    const scenario *s = &broken[_i].s;
    point p = {0};
    for (long n = 1; n < 10 && !p.problem[0]; n++)
        p = try_point(s, broken[_i].kind, n);
    free(forgotten);
    ck_assert_msg(strstr(p.problem, broken[_i].want), "%s: the harness reported '%s', not '%s...'", s->name,
                  p.problem, broken[_i].want);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("sweeps");
    tcase_set_timeout(tc, 600);
    /* once, in the runner: every test's process inherits the files and the loaded models */
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, harness_catches_broken_code, 0, sizeof broken / sizeof *broken);
    tcase_add_loop_test(tc, sweep_alloc, 0, NSCENARIOS);
    tcase_add_loop_test(tc, sweep_io, 0, NSCENARIOS);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
