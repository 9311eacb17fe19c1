/*
 * recipe.h - training recipes: the YAML file that says everything that decides the
 * resulting weights. The same recipe and seed give the same weights, bit for bit, on the
 * same machine and BLAS: every random draw comes from streams derived from the seed.
 *
 * A recipe is a common part that every family's training reads (model, data set, seed,
 * epochs, batch policy, optimizer, schedule, loss, clipping, selection, and what the
 * caller sets: threads, checkpoint, deadline, uploaded data) and one part per kind of data
 * (core/data/catalog.h): augmentation for images; vocabulary, lexicons and embedding for
 * sentences; tokenizer, token budget and evaluation for translation pairs. Every part is
 * read from every recipe, so that a file is accepted or refused whatever its data set.
 *
 * The recipe is plain data: it is copied freely (its one pointer, the caller's reducer, is
 * borrowed). It never trains, loads a data set or knows a model family.
 */
#ifndef GLIA_TRAIN_RECIPE_H
#define GLIA_TRAIN_RECIPE_H

#include <stddef.h>

#include "core/data/catalog.h"
#include "core/model/manifest.h"
#include "core/train/batch.h"
#include "core/train/optim.h"
#include "core/train/reduce.h"
#include "core/train/sched.h"

enum { GLIA_RECIPE_MAX_LEXICONS = 8 };

/* Images: random augmentation of every training image. */
typedef struct {
    int hflip;     /* random horizontal flip, p = 0.5 */
    int translate; /* random shift by up to this many pixels, filled with background */
    int cutout;    /* a random square of this side set to background (0: none), after the rest */
} glia_recipe_image;

/* One lexicon file of a text recipe (core/text/lexicon.h reads it). */
typedef struct {
    char path[GLIA_PATH_MAX]; /* resolved against the recipe */
    char format[8];           /* "json" or "tsv", checked when the recipe is read */
    float scale;
} glia_recipe_lexicon;

/* Sentences (see texttrain.h). The dev split selects, so `validation` is not used. */
typedef struct {
    long vocab_min_count;    /* vocabulary.min_count: keep tokens seen this often */
    long vocab_max_size;     /* vocabulary.max_size (0 = no cap) */
    int vocab_lexicon_words; /* vocabulary.lexicon_words: add the lexicons' words (lexicon.h) */
    int augment_negation;    /* augment.negation: add each train sentence negated by rule, label flipped */
    int nlexicons;           /* lexicon: one frozen feature column per list */
    glia_recipe_lexicon lexicons[GLIA_RECIPE_MAX_LEXICONS];
    char pretrained[GLIA_PATH_MAX]; /* embedding.pretrained: a word2vec output directory, "" = none */
    float embedding_init_std;       /* embedding.init_std: N(0, std) instead of PyTorch's N(0, 1); 0 = 1 */
    /* init.bundle: start the embedding and the rnn from a language model's pretraining output
     * (core/train/lmtrain.h: vocab.txt and model.safetensors), whose vocabulary must be the one
     * this recipe builds; "" = none; resolved against the recipe */
    char init_bundle[GLIA_PATH_MAX];
    int init_embedding_only; /* init.tensors: embedding: take only embedding.weight (the rnn starts fresh) */
} glia_recipe_text;

/* Translation pairs (see mttrain.h). dataset.limit keeps the first N training pairs; the
 * dev split selects the epoch. */
typedef struct {
    long bpe_vocab_size;     /* tokenizer.vocab_size: the joint BPE vocabulary learned from train */
    long bpe_min_pair_count; /* tokenizer.min_pair_count */
    long batch_tokens;       /* batch_tokens: padded source or target tokens per batch, at most */
    int eval_beam;           /* evaluation.beam_size for the test split's BLEU/chrF */
    long eval_limit;         /* evaluation.limit: score only the first N test pairs (0 = all) */
    /* init.bundle: start from this bundle's weights and keep its tokenizer instead of learning
     * one (fine-tuning; "" = a fresh model); resolved against the recipe */
    char init_bundle[GLIA_PATH_MAX];
} glia_recipe_translation;

typedef struct {
    char path[GLIA_PATH_MAX];
    char model[GLIA_PATH_MAX];        /* resolved manifest path */
    char dataset[64];                 /* a built-in data set's name (core/data/catalog.h) */
    char dataset_path[GLIA_PATH_MAX]; /* "" = the default location */
    long validation;                  /* last N training examples held out */
    long limit;                       /* use only the first N training examples (0 = all) */
    unsigned long seed;
    int epochs;
    glia_batch_config batch;
    glia_optim_config optim;
    glia_sched_config sched;
    float label_smoothing;
    float clip_norm; /* clip the global gradient norm to this (0 = off) */
    int select_best; /* keep the epoch with the best validation accuracy (else the last) */
    /* ema: the decay of an exponential moving average of the weights updated after every
     * step (0 = off). When on, validation and selection judge the average, and the run
     * ends with the average (the best epoch's, or the last's) in the model. */
    float ema;
    /* The part of each kind of data set: only the recipe's own kind's is used. */
    glia_recipe_image image;
    glia_recipe_text text;
    glia_recipe_translation translation;
    /* Not read from the file: set by the caller. Threads that split every batch (each runs
     * forward and backward on its slice with its own dropout stream and the gradients are
     * summed); with more than one, BLAS should run single-threaded. Like the BLAS, the
     * count is part of what makes a run reproducible. 0 or 1 = the calling thread only. */
    int workers;
    /* Also set by the caller: a checkpoint file (checkpoint.h) written atomically after every
     * epoch ("" = none), and whether to continue from it when it exists (resume = 1): the
     * result is then the one an uninterrupted run would have given. */
    char checkpoint[GLIA_PATH_MAX];
    int resume;
    /* Also the caller's: stop with GLIA_ETIMEDOUT at the first step after this
     * glia_train_clock() time (0 = no deadline), e.g. a job's max_runtime_seconds. */
    double deadline;
    /* Also the caller's: an uploaded data set replacing the recipe's built-in one: a file of
     * sentences (glia_uci_load_jsonl) or pairs (glia_gt_load_tsv) ("" = none) ... */
    char dataset_file[GLIA_PATH_MAX];
    /* ... or IDX images and labels (glia_dataset_load_idx). */
    char images_file[GLIA_PATH_MAX], labels_file[GLIA_PATH_MAX];
    /* Also the caller's: the processes this run is one of (reduce.h; borrowed, NULL: this
     * process alone). Each takes its shard of every batch; rank 0 alone writes the
     * checkpoint and the bundle. workers then counts this process's threads. */
    const glia_reducer *reducer;
} glia_recipe;

/* Fills PyTorch-like defaults, then reads path. A dataset.name that is not a built-in data
 * set (core/data/catalog.h) is an error. */
glia_status glia_recipe_load(const char *path, glia_recipe *r, glia_err *err);

/* rel resolved against the directory of the recipe file recipe_path (an absolute rel as it is). */
void glia_recipe_resolve(const char *recipe_path, const char *rel, char out[GLIA_PATH_MAX]);

/* The kind of the recipe's data set (core/data/catalog.h): what chooses its loader, batch
 * source and messages. GLIA_DATA_NKINDS for a name the table does not have, which a recipe
 * read by glia_recipe_load never has. */
glia_data_kind glia_recipe_kind(const glia_recipe *r);

/* What a training run's checkpoint is of: "run-" and 8 hex digits hashing the settings that
 * shape its steps - data set, limit, validation, seed, batch, optimizer, schedule, loss,
 * clipping, augmentation, the kind's own settings - so that a checkpoint of another recipe
 * is refused instead of resumed into a run that neither describes. Left out on purpose:
 * paths (a moved directory resumes), the epoch count unless the schedule depends on it
 * (cosine), the selection, the evaluation settings, and ema (checkpoint.c names that one). */
void glia_recipe_fingerprint(const glia_recipe *r, char *out, size_t len);

/* Applies overrides to a loaded recipe: text[0..len) is YAML (JSON is YAML too) mapping
 * any of seed, epochs, batch, optimizer, schedule, loss, augment, select, clip_grad_norm,
 * dataset {validation, limit} and lr (optimizer.lr) to new values; each key changes only
 * what it names (optimizer {lr: 0.01} keeps the optimizer and its other settings, a new
 * optimizer type starts from that type's defaults). Errors name `name`, line and key.
 * The model, data set and text settings cannot be overridden. */
glia_status glia_recipe_override(glia_recipe *r, const char *text, size_t len, const char *name,
                                 glia_err *err);

#endif
