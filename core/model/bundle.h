/*
 * bundle.h - a model bundle directory loaded and ready to run: its manifest (model.yaml, with
 * the labels), its model (model.h: the family the manifest's task names, weights read
 * strictly from model.safetensors) and the tokenizer the family reads (or none). Plus turning
 * an image or texts into that model's input.
 *
 * A bundle is read-only once loaded: the daemon shares one among its workers (each with its
 * own run context) and replaces it as a whole on reload. It never runs the model itself and
 * never names a family: the model's ops say what it takes and gives.
 */
#ifndef GLIA_MODEL_BUNDLE_H
#define GLIA_MODEL_BUNDLE_H

#include "core/image/image.h"
#include "core/model/manifest.h"
#include "core/model/model.h"
#include "core/model/tokenizer.h"

typedef struct {
    glia_manifest manifest;
    glia_model *model;
    glia_tokenizer *tokenizer; /* NULL when the family reads none (ops->tokenizer) */
    char sha256[65];           /* of the weights file, hex */
} glia_bundle;

/* path is a bundle directory or a model.yaml inside one. */
glia_status glia_bundle_load(const char *path, glia_bundle *b, glia_err *err);
void glia_bundle_free(glia_bundle *b);

/* Converts img to the model's input (out: input C*H*W floats): grayscale image,
 * resized to the input size if needed, then the manifest's preprocessing. */
glia_status glia_bundle_image_input(const glia_manifest *m, const glia_image *img, float *out, glia_err *err);

/* The range glia_bundle_image_input's values lie in (pixels 0..255 after the manifest's
 * preprocessing): what a model taking preprocessed tensors was trained on, for messages about
 * inputs far outside it. */
void glia_bundle_input_range(const glia_manifest *m, float *lo, float *hi);

/* Number of classes the bundle's model outputs (0 for a sequence model). */
int glia_bundle_classes(const glia_bundle *b);

/* Encodes texts[0..n) (lens[i] bytes of UTF-8 each) with the bundle's tokenizer: ids
 * [n, *steps] (padded with 0) and lengths [n], at most manifest.max_tokens tokens per text
 * (the rest is dropped; truncated[i], may be NULL, is set when that happened). ids must hold
 * n * max_tokens. A text with no token is GLIA_EINVAL ("text i has no words"), invalid UTF-8
 * GLIA_EFORMAT naming the text and the byte offset. */
glia_status glia_bundle_text_input(const glia_bundle *b, const char *const *texts, const size_t *lens, int n,
                                   int32_t *ids, int32_t *lengths, int *steps, int *truncated, glia_err *err);

/* Hex SHA-256 of a file (for /v1/models and reproducibility notes), and of n bytes in memory
 * (the weights as they were read). Both through GnuTLS; GLIA_EIO when the file cannot be read,
 * GLIA_ENOMEM when GnuTLS cannot set up the hash. */
glia_status glia_sha256_file(const char *path, char hex[65], glia_err *err);
glia_status glia_sha256_buffer(const void *p, size_t n, char hex[65], glia_err *err);

#endif
