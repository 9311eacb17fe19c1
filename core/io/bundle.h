/*
 * bundle.h - a model bundle directory (model.yaml, model.safetensors, labels) loaded
 * into a ready-to-run network, plus turning an image into that network's input.
 *
 * A bundle is read-only once loaded: the daemon shares one among its workers (each
 * with its own glia_ctx) and replaces it as a whole on reload.
 */
#ifndef GLIA_IO_BUNDLE_H
#define GLIA_IO_BUNDLE_H

#include "core/image/image.h"
#include "core/io/manifest.h"
#include "core/nn/net.h"

typedef struct {
    glia_manifest manifest;
    glia_net *net;
    char sha256[65]; /* of the weights file, hex */
} glia_bundle;

/* path is a bundle directory or a model.yaml inside one. */
glia_status glia_bundle_load(const char *path, glia_bundle *b, glia_err *err);
void glia_bundle_free(glia_bundle *b);

/* Converts img to the model's input (out: input C*H*W floats): grayscale image,
 * resized to the input size if needed, then the manifest's preprocessing. */
glia_status glia_bundle_image_input(const glia_manifest *m, const glia_image *img, float *out, glia_err *err);

/* Hex SHA-256 of a file (for /v1/models and reproducibility notes). */
glia_status glia_sha256_file(const char *path, char hex[65], glia_err *err);

#endif
