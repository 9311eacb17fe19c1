/*
 * word2vec.h - skip-gram word vectors with negative sampling (Mikolov et al., 2013), trained on
 * unlabelled text to initialise the embedding layer of a text classifier.
 *
 * The vectors are for glia's own tokens: texts are split by tokenize.h and the vocabulary is
 * built by vocab.h (ids 0 "<pad>", 1 "<unk>", then by count), so a vector saved here lands on the
 * same word when glia_w2v_apply copies it into a classifier's embedding, whatever that
 * classifier's own vocabulary is. Tokens below min_count are dropped from the training stream
 * (as word2vec.c does), and a window never reaches across two texts.
 *
 * Training follows word2vec.c's skip-gram: for each kept centre word, a window shrunk at random
 * to 1..window words on each side; for each context word, the loss
 *     -log s(u_o . v_c) - sum_k log s(-u_k . v_c)      (s the logistic function)
 * over `negative` noise words drawn from the unigram distribution raised to 0.75, skipping a
 * draw equal to the context word; plain SGD with the learning rate decaying linearly from lr to
 * lr * 1e-4 over all epochs; frequent words dropped with probability 1 - (sqrt(f/t) + 1) t/f
 * (f the word's share of the corpus, t = sample). Unlike word2vec.c, the texts are visited in a
 * new random order every epoch: corpora here come in blocks (WordNet's nouns grouped by topic,
 * then the reviews), and a fixed order ends each epoch on one block. Input vectors v start uniform in
 * [-0.5/dim, 0.5/dim], output vectors u at zero. The gradient of one pair is taken in full before
 * any vector moves (glia_w2v_sgns), so a training step is exactly an SGD step on that loss.
 *
 * Deterministic: one thread, random numbers from glia_rng streams derived from the seed (one
 * for initialisation, one for subsampling, windows and noise), so the same texts, config and
 * seed give the same vectors bit for bit on the same build.
 *
 * Saved as a directory: vectors.safetensors (one F32 tensor "weight" [V, dim], the input
 * vectors, metadata naming the config) and vocab.txt (vocab.h's file), which glia_w2v_load and
 * glia_w2v_apply read back.
 *
 * Never: print, exit, allocate inside the training loop, use a global random state.
 */
#ifndef GLIA_TRAIN_WORD2VEC_H
#define GLIA_TRAIN_WORD2VEC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/text/vocab.h"

typedef struct {
    int dim;            /* vector size (100) */
    int window;         /* largest distance to a context word (5) */
    int negative;       /* noise words per context word (5) */
    int min_count;      /* tokens seen fewer times are dropped (5) */
    int max_vocab;      /* 0: no cap; else the vocabulary's size cap, "<pad>"/"<unk>" included */
    int epochs;         /* passes over the corpus (5) */
    float lr;           /* starting learning rate (0.025), decaying linearly to lr * 1e-4 */
    float sample;       /* subsampling threshold t (1e-3); 0 keeps every word */
    unsigned long seed; /* (1) */
} glia_w2v_config;

/* word2vec.c's skip-gram defaults, listed above. */
void glia_w2v_defaults(glia_w2v_config *c);

/* Checks ranges (dim 1..4096, window 1..100, negative 0..100, min_count >= 1, max_vocab 0 or
 * >= 3, epochs 1..10000, lr in (0, 1], sample in [0, 1)); GLIA_EINVAL naming the field. */
glia_status glia_w2v_config_check(const glia_w2v_config *c, glia_err *err);

typedef struct {
    int epoch, epochs;    /* epoch just finished, from 1 */
    double loss;          /* mean loss per (centre, context) pair over the epoch */
    double words_per_sec; /* corpus tokens read this epoch (kept or subsampled away) per second */
    double seconds;       /* wall time of the epoch */
    float lr;             /* learning rate at the end of the epoch */
    size_t pairs;         /* (centre, context) pairs trained this epoch */
    /* the corpus, the same in every call */
    size_t texts;        /* texts given */
    size_t tokens;       /* their tokens, every one */
    size_t train_tokens; /* tokens in the vocabulary (not "<unk>"): the training stream */
    size_t vocab;        /* vocabulary size, "<pad>"/"<unk>" included */
} glia_w2v_progress;

/* Called after every epoch; p is borrowed for the call. */
typedef void (*glia_w2v_progress_fn)(const glia_w2v_progress *p, void *user);

typedef struct glia_w2v glia_w2v; /* opaque: a vocabulary and its input vectors */

/* Trains on texts[0..n) (NUL-terminated UTF-8). cb (may be NULL) is called after each epoch;
 * cancel (may be NULL) is read between texts, and a non-zero value stops with GLIA_ECANCELLED.
 * A corpus left with no pair to train on (every token below min_count, every text one word) is
 * GLIA_EINVAL. *out is the caller's (glia_w2v_free); NULL on failure. */
glia_status glia_w2v_train(const char *const *texts, size_t n, const glia_w2v_config *cfg,
                           glia_w2v_progress_fn cb, void *user, const atomic_int *cancel, glia_w2v **out,
                           glia_err *err);

/* Reads a directory written by glia_w2v_save; the tensor must be "weight" [V, dim] with V the
 * size of vocab.txt. Errors name the file. */
glia_status glia_w2v_load(const char *dir, glia_w2v **out, glia_err *err);

/* Writes dir/vocab.txt and dir/vectors.safetensors (each atomically), creating dir (not its
 * parents) if it does not exist. */
glia_status glia_w2v_save(const glia_w2v *m, const char *dir, glia_err *err);

void glia_w2v_free(glia_w2v *m); /* NULL-safe */

/* Borrowed, valid until glia_w2v_free. */
const glia_vocab *glia_w2v_vocab(const glia_w2v *m);
int glia_w2v_dim(const glia_w2v *m);
const float *glia_w2v_vectors(const glia_w2v *m); /* [glia_vocab_size(vocab), dim], row = id */

/* Up to k tokens closest to token by cosine similarity (the token itself, "<pad>" and "<unk>"
 * excluded), most similar first: ids[0..*found) and their similarities. GLIA_ENOTFOUND when
 * the vocabulary does not hold token. */
glia_status glia_w2v_nearest(const glia_w2v *m, const char *token, int k, int32_t *ids, float *sims,
                             int *found, glia_err *err);

/* Copies into weight (row-major [glia_vocab_size(target), dim]) the vector of every token of
 * target that the word2vec vocabulary in dir holds; every other row, and the rows of "<pad>" and
 * "<unk>" (never trained), are left as they are. *n_found (may be NULL) gets the rows copied.
 * A word2vec dimension other than dim is GLIA_EINVAL saying both. */
glia_status glia_w2v_apply(const char *dir, const glia_vocab *target, float *weight, int dim, size_t *n_found,
                           glia_err *err);

/* The negative-sampling loss of one centre word against outputs[0] (the context word, label 1)
 * and outputs[1..n_outputs) (noise words, label 0), each a vector of dim floats:
 *     L = -log s(outputs[0] . center) - sum_{k>=1} log s(-outputs[k] . center).
 * When grad_center is not NULL, writes dL/dcenter there; when grad_outputs is not NULL, writes
 * dL/doutputs[k] to grad_outputs[k]. The trainer's step is built on the same arithmetic. */
double glia_w2v_sgns(const float *center, const float *const *outputs, int n_outputs, int dim,
                     float *grad_center, float *const *grad_outputs);

/* ---- recipes ---- */

enum { GLIA_W2V_CORPUS_WORDNET = 1u << 0, GLIA_W2V_CORPUS_UCI = 1u << 1 };

typedef struct {
    char path[4096];        /* the recipe file, for messages */
    unsigned corpus;        /* GLIA_W2V_CORPUS_* bits */
    char wordnet_dir[4096]; /* resolved; GLIA_WORDNET_DEFAULT_DIR when the recipe names none */
    glia_w2v_config cfg;
} glia_w2v_recipe;

/* Reads and checks a recipe (format below) without touching the corpus. */
glia_status glia_w2v_recipe_load(const char *path, glia_w2v_recipe *r, glia_err *err);

/* Runs a word2vec recipe (YAML; unknown keys are errors naming file, line and key):
 *
 *     task: word2vec                      # required
 *     corpus: [wordnet, uci-sentiment]    # required, non-empty, no repeats
 *     wordnet_dir: /usr/share/wordnet     # optional (relative: to the recipe's directory)
 *     dim: 100, window: 5, negative: 5, min_count: 5, max_vocab: 0, epochs: 5,
 *     lr: 0.025, sample: 0.001, seed: 1   # optional, the defaults shown
 *
 * wordnet = the glosses of wordnet.h; uci-sentiment = the TRAIN split of uci.h's data set, from
 * glia_uci_default_dir() (never dev or test: the classifier is judged on those). Trains and
 * saves into out_dir (glia_w2v_save). */
glia_status glia_w2v_recipe_run(const char *recipe_path, const char *out_dir, glia_w2v_progress_fn cb,
                                void *user, const atomic_int *cancel, glia_err *err);

#endif
