/*
 * family.h - for core/model/ only: the families' operation tables and the pieces of a
 * glia_model / glia_model_ctx that each family fills. Nothing outside core/model/
 * includes this file; everything else goes through model.h.
 */
#ifndef GLIA_MODEL_FAMILY_H
#define GLIA_MODEL_FAMILY_H

#include <stdlib.h>

#include "core/model/model.h"

/* A run context: the family's own state behind a common header. */
struct glia_model_ctx {
    const glia_model_ops *ops;
    glia_ctx_spec spec;
    void *impl;
};

extern const glia_model_ops glia_family_cnn;             /* image-classification: nn/net.h */
extern const glia_model_ops glia_family_text_classifier; /* text-classification: nn/textnet.h */
extern const glia_model_ops glia_family_translator;      /* translation: nn/seq2seq.h */

/* A zeroed model of ops around impl (NULL on OOM; impl is then still the caller's). */
glia_model *glia_family_wrap(const glia_model_ops *ops, void *impl);
/* A ctx of ops around impl, remembering spec (NULL on OOM). */
glia_model_ctx *glia_family_ctx(const glia_model_ops *ops, const glia_ctx_spec *spec, void *impl);

/* set_vocab_size of a family whose manifest states the vocabulary in *stated (key names it
 * in messages): fills it with the tokenizer's size, or refuses another number. */
glia_status glia_family_set_vocab(const glia_manifest *m, int *stated, const char *key, int size,
                                  glia_err *err);

/* Manifest sections more than one family reads (manifest.c). Errors name file, line, key. */
/* The tokenizer's file under file_key (required; resolved into m->tokenizer) and the optional
 * input: {max_tokens} (default 128) of a model over token ids. */
glia_status glia_manifest_parse_token_input(glia_yaml *y, yaml_node_t *root, const char *file_key,
                                            glia_manifest *m, glia_err *err);
/* root's key, or NULL with "missing 'key'" in err. */
yaml_node_t *glia_manifest_section(glia_yaml *y, yaml_node_t *root, const char *key, glia_err *err);

#endif
