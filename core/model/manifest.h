/*
 * manifest.h - a model bundle's model.yaml: what the model is (task, labels, input
 * and preprocessing) and its architecture as a PyTorch-like module tree.
 *
 * The architecture is a list of named modules, each a list of layers, i.e. PyTorch's
 *   nn.Sequential(OrderedDict(features=nn.Sequential(...), classifier=nn.Sequential(...)))
 * so layer i of module "features" is "features.i" and its parameters are
 * "features.i.weight" / "features.i.bias". tests/parity/glia_torch.py builds the same
 * tree from the same file; that shared rule is what makes weights interchangeable.
 *
 * Results written by `glia train` (evaluation, training time) follow a marker line
 * (GLIA_MANIFEST_RESULTS_MARKER) and are replaced on every write.
 */
#ifndef GLIA_MODEL_MANIFEST_H
#define GLIA_MODEL_MANIFEST_H

#include "core/nn/layer.h"
#include "core/nn/seq2seq.h"
#include "core/nn/textnet.h"
#include "core/text/negscope.h"

#define GLIA_MANIFEST_RESULTS_MARKER "# --- results (written by glia train; do not edit below) ---"

enum { GLIA_PATH_MAX = 4096 };

/* The arithmetic a served model's inference runs in (the manifest's and gliad's `precision`).
 * bf16: the weights of the products that dominate (linear layers, LSTM, the Transformer's
 * projections and generator) in bf16 with fp32 sums (core/nn/bf16.h), on CPUs with
 * AVX512_BF16; fp32 everywhere else, and always in training. Applied by
 * glia_model_set_precision (model.h), not by loading. */
typedef enum {
    GLIA_PRECISION_FP32,
    GLIA_PRECISION_BF16,
} glia_precision;

typedef struct {
    int grayscale;
    int resize_h, resize_w;
    int invert;  /* 255 - pixel before scaling: for dark-on-light inputs */
    float scale; /* pixel * scale */
    float mean, std;
} glia_preprocess;

typedef struct {
    char path[GLIA_PATH_MAX]; /* the model.yaml read */
    char dir[GLIA_PATH_MAX];  /* its directory: relative paths resolve against it */
    char name[128];
    char task[64];
    long version;
    glia_precision precision;    /* 'precision' (default fp32): what serving asks for */
    char weights[GLIA_PATH_MAX]; /* resolved path of the safetensors file */
    int nlabels;
    char **labels; /* owned */
    glia_shape3 input;
    glia_preprocess pre;
    int nlayers;
    glia_layer *layers;          /* owned specs for glia_net_new */
    double eval_accuracy;        /* from the results section, or -1 */
    double eval_bleu, eval_chrf; /* translation: from the results section, or -1 */
    /* models over token ids (the family's tokenizer reads the file; see model.h): */
    char tokenizer[GLIA_PATH_MAX]; /* resolved path: a word vocabulary ('vocabulary') or BPE file
                                      ('tokenizer') */
    int max_tokens;                /* input.max_tokens: the most tokens an input may have (</s> included) */
    glia_negscope_cfg negscope;    /* input.negation_scope (word vocabularies): how texts are read */
    /* the family's own sections, filled by its parse_manifest (model.h): */
    glia_textnet_config text; /* text-classification; vocab_size 0: the tokenizer's */
    glia_s2s_config s2s;      /* translation; vocab_size 0: the tokenizer's */
    glia_s2s_search decoding; /* translation: defaults for requests that name none */
} glia_manifest;

/* Reads the common keys, then the task's family (model.h) reads its own sections. A task
 * glia has no family for is GLIA_EUNSUPPORTED naming the tasks it has. */
glia_status glia_manifest_load(const char *path, glia_manifest *m, glia_err *err);
void glia_manifest_free(glia_manifest *m);

/* rel resolved against the manifest's directory (absolute paths stay) into out[GLIA_PATH_MAX]. */
void glia_manifest_resolve(const glia_manifest *m, const char *rel, char *out);

/* Applies preprocessing to 8-bit pixels already at the input size: out[i] =
 * ((invert ? 255 - p : p) * scale - mean) / std. */
void glia_preprocess_u8(const glia_preprocess *pre, const uint8_t *pixels, size_t n, float *out);

/* Writes dst_path as src manifest's text up to its results marker, then the marker
 * and `results_yaml` (atomically: temp file + fsync + rename). */
/* The same, with the manifest's top-level "version:" set to version (> 0; 0 keeps it):
 * a trained version of a model is a copy of its manifest with a new number. */
glia_status glia_manifest_write_version(const char *src_path, const char *dst_path, long version,
                                        const char *results_yaml, glia_err *err);
glia_status glia_manifest_write_with_results(const char *src_path, const char *dst_path,
                                             const char *results_yaml, glia_err *err);

#endif
