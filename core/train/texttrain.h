/*
 * texttrain.h - training a text classifier (a model over tokens, core/model/model.h) on
 * labelled sentences: the UCI sentiment data set of core/data/uci.h or an upload of the same
 * kind, encoded with a vocabulary.
 *
 * The loop is loop.h's: the same recipe (optimizer, schedule, batch policy,
 * clipping, label smoothing, selection of the best epoch on the held-out split), the same
 * seeded streams (init, shuffle, batch, dropout), the same progress callback and cancel
 * flag. A batch is padded to its longest sentence only. glia_text_prepare does what comes
 * before the loop - vocabulary from the train split, the frozen lexicon table, pre-trained
 * embeddings - so that `glia train` and the daemon's training jobs build the same model.
 */
#ifndef GLIA_TRAIN_TEXTTRAIN_H
#define GLIA_TRAIN_TEXTTRAIN_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/data/uci.h"
#include "core/text/vocab.h"
#include "core/train/loop.h"
#include "core/train/trainer.h"

/* Sentences encoded for a textnet: row i is ids[i * max_len ..], lengths[i] >= 1 real ids. */
typedef struct {
    int n, max_len;
    int32_t *ids;     /* owned, [n, max_len], padded with GLIA_VOCAB_PAD */
    int32_t *lengths; /* owned, [n] */
    int32_t *labels;  /* owned, [n] */
    uint8_t *sources; /* owned, [n]: glia_uci_source */
    int truncated;    /* sentences longer than max_len (their tail was dropped) */
} glia_text_data;

/* Encodes the examples of one split of set (max_len tokens at most). A sentence without
 * any token is an error naming it. */
glia_status glia_text_data_from_uci(const glia_uci_set *set, glia_uci_split split, const glia_vocab *v,
                                    int max_len, glia_text_data *out, glia_err *err);
void glia_text_data_free(glia_text_data *d);

/* Everything before the training loop, from a recipe whose manifest is a text model:
 * loads the data set (r->dataset_path or glia_uci_default_dir()), builds the vocabulary
 * from the train split (r->text.vocab_min_count, r->text.vocab_max_size), builds the net (vocab_size
 * from the vocabulary), initialises it from r->seed, fills the lexicon table from
 * r->text.lexicons (their count must be the manifest's lexicon.features) and copies pre-trained
 * vectors (r->text.pretrained) into the embedding. *found_pretrained (may be NULL) receives how
 * many vocabulary tokens got one. The caller owns everything returned. */
typedef struct {
    glia_manifest manifest;
    glia_uci_set set;
    glia_vocab *vocab;
    glia_model *model; /* a text classifier */
    glia_text_data train, dev, test;
    size_t lexicon_matched[GLIA_RECIPE_MAX_LEXICONS];
    size_t negated;       /* augment.negation: negated train sentences added */
    size_t lexicon_words; /* vocabulary.lexicon_words: tokens the lexicons added */
    size_t pretrained_found;
} glia_text_job;
glia_status glia_text_prepare(const glia_recipe *r, glia_text_job *job, glia_err *err);
void glia_text_job_free(glia_text_job *job);

/* The batch source of text classification (loop.h): train shuffled every epoch, in
 * batches the recipe's policy sizes, each padded to its longest sentence; evaluation in
 * batches of 128 with one group per UCI source. The data must outlive the source; a
 * training label outside [0, nclasses) is an error. */
glia_status glia_text_source_new(const glia_text_data *train, const glia_text_data *val,
                                 const glia_text_data *test, int nclasses, glia_source **out, glia_err *err);

/* Trains model on train, selecting on val, through the one loop (see trainer.h for the
 * contract). The weights are used as they are (glia_text_prepare initialised them). */
glia_status glia_text_train(const glia_recipe *r, glia_model *model, const glia_text_data *train,
                            const glia_text_data *val, glia_progress_fn cb, void *user,
                            const atomic_int *cancel, glia_train_result *result, glia_err *err);
/* The same with the loop's hooks (loop.h; NULL: none), the per-step recorder among them. */
glia_status glia_text_train_hooked(const glia_recipe *r, glia_model *model, const glia_text_data *train,
                                   const glia_text_data *val, const glia_loop_hooks *hooks,
                                   glia_train_result *result, glia_err *err);

#endif
