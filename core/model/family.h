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

#endif
