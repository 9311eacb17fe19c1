/*
 * trainreq.h - what a training job trains. POST /v1/train's body is checked field by
 * field - every bad field named in one 422 - and turned into the job's description: the
 * record's "model", "promote", "recipe" (overrides of the model's recipe.yaml) and
 * "dataset" (the model's own data set with its limits, or an uploaded one, resolved to
 * its file). A description is turned into the glia_recipe the training loop runs: the
 * configured bundle's recipe.yaml with the overrides applied. Submitting and running build
 * the recipe the same way, so what validates is what runs, and a resumed job rebuilds
 * exactly the recipe it started with.
 *
 * No side effects: nothing here writes a file, records or queues a job.
 */
#ifndef GLIAD_TRAINREQ_H
#define GLIAD_TRAINREQ_H

#include <jansson.h>

#include "core/train/trainer.h"
#include "daemon/codec.h"
#include "daemon/datasets.h"
#include "daemon/versions.h"

typedef struct {
    versions *ver;  /* the configured bundles (borrowed) */
    datasets *data; /* uploaded data sets a job may name (borrowed; NULL: none) */
    int threads;    /* trainer lanes of a job: the recipe's workers */
} trainreq_env;

/* A checked submission. */
typedef struct {
    json_t *rec;       /* the job's description: model, promote, recipe, dataset (owned) */
    json_t *effective; /* the values the recipe trains with, as a dry run answers them (owned) */
    int epochs;
    int dry_run;
} trainreq;

/* Checks body into *out: 0, or the status of the problem it filled (400 for a body that is
 * not an object or numbers and booleans given as another JSON type, such as "epochs": "3",
 * each field named with the type it takes; 422 naming every bad field, or why the recipe
 * or data set cannot train).
 * On success release *out with trainreq_release. */
int trainreq_parse(const trainreq_env *env, const json_t *body, trainreq *out, problem *p);
void trainreq_release(trainreq *t);

/* The recipe a job's record describes: the configured bundle's recipe.yaml with the
 * record's overrides and data set applied, and env's trainer lanes. */
glia_status trainreq_recipe(const trainreq_env *env, const json_t *rec, glia_recipe *r, glia_err *err);

#endif
