/*
 * imagetrain.h - the batch source of image classification (loop.h): labelled images in
 * memory (core/data/images.h), shuffled every epoch, in batches the recipe's policy sizes,
 * each image randomly mirrored and shifted when the recipe's augment asks.
 *
 * It never owns the data sets it reads: they must outlive the source.
 */
#ifndef GLIA_TRAIN_IMAGETRAIN_H
#define GLIA_TRAIN_IMAGETRAIN_H

#include "core/data/images.h"
#include "core/train/loop.h"

/* A source over train, val and test (each may be NULL: an empty split), evaluated in
 * batches of eval_batch images (<= 0: 256). Augmentation follows r->image (r NULL: none). */
glia_status glia_image_source_new(const glia_recipe *r, const glia_dataset *train, const glia_dataset *val,
                                  const glia_dataset *test, int eval_batch, glia_source **out, glia_err *err);

/* Trains model (an image classifier built from the recipe's manifest) on train, selecting
 * on val (may be NULL or empty: then the last epoch is kept), through the one loop. The
 * weights are initialised from the recipe's seed unless keep_weights is set (fine-tuning). */
glia_status glia_train(const glia_recipe *r, glia_model *model, int keep_weights, const glia_dataset *train,
                       const glia_dataset *val, glia_progress_fn cb, void *user, const atomic_int *cancel,
                       glia_train_result *result, glia_err *err);
/* The same with the loop's hooks (loop.h; NULL: none), the per-step recorder among them. */
glia_status glia_train_hooked(const glia_recipe *r, glia_model *model, int keep_weights,
                              const glia_dataset *train, const glia_dataset *val,
                              const glia_loop_hooks *hooks, glia_train_result *result, glia_err *err);

#endif
