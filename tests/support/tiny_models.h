/*
 * tiny_models.h - a manifest per model family, small enough for gradient checks and a few
 * training steps in a unit test: an image net over 1x3x3 inputs (flatten, linear 9->6, tanh,
 * dropout, linear 6->classes), a bidirectional LSTM text classifier, and a pre-norm
 * Transformer translator with tied embeddings (12 positions), every one over
 * TINY_VOCAB ids and TINY_CLASSES classes.
 */
#ifndef GLIA_TESTS_TINY_MODELS_H
#define GLIA_TESTS_TINY_MODELS_H

#include "core/data/images.h"
#include "core/model/manifest.h"
#include "core/train/loop.h"
#include "core/train/mttrain.h"
#include "core/train/recipe.h"
#include "core/train/texttrain.h"

enum { TINY_VOCAB = 11, TINY_CLASSES = 3, TINY_STEPS = 5 };

/* task is a manifest task, or "image-classification-bn": the image net with a batchnorm2d
 * in front (its buffers exercise the trainer's lanes and ranks); dropout applies wherever
 * the family has it. The returned manifest's layers live in static storage: one image
 * manifest at a time. */
glia_manifest tiny_models_manifest(const char *task, float dropout);

enum { TINY_DATA_N = 48, TINY_TGT = 4 };

/* Synthetic splits of every kind, n <= TINY_DATA_N examples each; the label follows the
 * first token / the first pixel. */
typedef struct {
    float x[TINY_DATA_N * 9];
    int32_t y[TINY_DATA_N];
    glia_dataset images;
    int32_t ids[TINY_DATA_N * TINY_STEPS], lengths[TINY_DATA_N], labels[TINY_DATA_N];
    uint8_t sources[TINY_DATA_N];
    glia_text_data texts;
    int32_t src_off[TINY_DATA_N], src_len[TINY_DATA_N], tgt_off[TINY_DATA_N], tgt_len[TINY_DATA_N],
        pair_ids[TINY_DATA_N * (TINY_STEPS + TINY_TGT)];
    uint32_t pair[TINY_DATA_N];
    glia_mt_data pairs;
} tiny_data;

void tiny_data_fill(tiny_data *d, int n);
/* The batch source of task over d (train and validation are the same examples). */
glia_status tiny_source_new(const char *task, const tiny_data *d, glia_source **out, glia_err *err);
/* Adam at 0.01, fixed batches of 8, label smoothing 0.1, clipping at 5, seed 3. */
void tiny_recipe(glia_recipe *r, int epochs, int lanes);

#endif
