/*
 * versions.h - the versions of a served model and which one serves. Version "shipped" is
 * the bundle gliad's config names (never written); training jobs add versions under
 * STATE/models/NAME/V, each a complete bundle that never changes once published, numbered
 * above the shipped one. STATE/models/NAME/serving holds the version that serves NAME
 * (absent or 0: the shipped one). Promotion makes any version serve - a newer one, or an
 * older one for a rollback - and the if_better rule compares a new version with the
 * serving one before it is promoted.
 *
 * The serving choice is recorded before the registry swaps the model, so a restart serves
 * what was last promoted; a version that does not load leaves the old one serving, and
 * recorded. This module never trains and never speaks HTTP beyond filling a problem.
 *
 * A model of the model repository (issue 14) has no shipped version: its versions are
 * the numbered directories DIR/NAME/V, training publishes into DIR/NAME/V (renamed into
 * place whole; state_dir and model_repository must then be on one filesystem) and has
 * the repository scan it at once, and promotion sets its `stable` label.
 *
 * Thread-safety: every function may be called from any thread; promotions of one model
 * are expected one at a time (the HTTP admin route and the single training thread).
 */
#ifndef GLIAD_VERSIONS_H
#define GLIAD_VERSIONS_H

#include <jansson.h>
#include <stddef.h>

#include "core/train/trainer.h"
#include "daemon/codec.h"
#include "daemon/registry.h"
#include "daemon/repository.h"

/* The bundle path NAME is configured with (a directory or its model.yaml) into buf, or
 * NULL when NAME is not configured. */
typedef const char *(*versions_model_path)(void *user, const char *name, char *buf, size_t len);

typedef struct {
    const char *state_dir;          /* copied */
    registry *reg;                  /* borrowed: promotion swaps versions in it */
    versions_model_path model_path; /* with user */
    void *user;
    repository *repo; /* borrowed; NULL without a model repository */
} versions_config;

typedef struct versions versions;

/* Creates STATE/models. */
glia_status versions_open(const versions_config *cfg, versions **out, glia_err *err);
void versions_close(versions *v); /* NULL-safe */

/* The configured bundle of model (into buf), or NULL when model is not configured. */
const char *versions_configured(versions *v, const char *model, char *buf, size_t len);
/* The number the next trained version of model gets: above the shipped and every trained one. */
long versions_next(versions *v, const char *model);

/* Publishes the finished bundle in dir as version `version` of model: renamed into
 * place whole (a half-published earlier attempt of the same version is removed first). */
glia_status versions_publish(versions *v, const char *model, long version, const char *dir, glia_err *err);

/* Where model should be served from when it is (re)loaded: the promoted version's
 * directory (into buf), or NULL for the configured bundle. */
const char *versions_serving_path(versions *v, const char *model, char *buf, size_t len);

/* Makes version `version` of model serve (the shipped number: the configured bundle).
 * 0, or the status of the problem it filled: 404 (no such model or version), 422 (the
 * version does not load; the old one keeps serving), 500. */
int versions_promote(versions *v, const char *model, long version, problem *p);

/* Every version of model - the shipped one first, then the trained ones in order - with
 * its evaluation and whether it serves: a JSON array, or NULL when model is not configured. */
json_t *versions_list(versions *v, const char *model);

/* promote "if_better": evaluates the version serving model with recipe r (its test split)
 * into *serving_score - test accuracy, or BLEU for a translation recipe - and sets
 * *better when score, the new version's figure, is higher. An error when the serving
 * version cannot be evaluated: then the new one is not promoted. */
glia_status versions_if_better(versions *v, const char *model, const glia_recipe *r, double score,
                               double *serving_score, int *better, glia_err *err);

#endif
