/*
 * catalog.h - the data sets glia trains and evaluates on, in one table: what each name is
 * (images, labelled sentences, translation pairs) and whether it is a built-in data set a
 * recipe names (dataset.name) or the format of an uploaded file that stands in for one.
 * Whatever chooses a loader, a batch source or a message by data set asks this table for
 * the kind instead of comparing names.
 *
 * Each row also says which models take it, by the model interface's input and output kinds
 * (core/model/model.h), so that a bundle finds its test data without naming its family.
 *
 * It never loads anything (images.h, uci.h and gettext.h do) and never names a model family.
 */
#ifndef GLIA_DATA_CATALOG_H
#define GLIA_DATA_CATALOG_H

#include <stddef.h>

#include "core/model/model.h"

typedef enum {
    GLIA_DATA_IMAGES, /* labelled images: IDX files */
    GLIA_DATA_TEXTS,  /* labelled sentences */
    GLIA_DATA_PAIRS,  /* translation pairs */
    GLIA_DATA_NKINDS
} glia_data_kind;

typedef struct {
    const char *name; /* a recipe's dataset.name, or an upload's format */
    glia_data_kind kind;
    int upload;       /* 1: an uploaded file's format; 0: a built-in data set */
    const char *what; /* what it holds, for messages: "images", "sentences", "translation pairs" */
    const char *with; /* an upload that needs a second one beside it (IDX labels): its format, else NULL */
    glia_input_kind input;   /* what a model trained on it takes ... */
    glia_output_kind output; /* ... and gives */
} glia_data_set;

/* A built-in data set by name; NULL when glia has none of that name. */
const glia_data_set *glia_data_find(const char *name);
/* The built-in data set of a kind (what an upload of that kind replaces). */
const glia_data_set *glia_data_builtin(glia_data_kind kind);
/* The built-in data set a model of these kinds trains and is tested on; NULL when none. */
const glia_data_set *glia_data_for_model(const glia_model_ops *ops);
/* An upload format ("jsonl", "tsv", "idx-images"); NULL when no data set takes it. */
const glia_data_set *glia_data_upload(const char *format);
/* The built-in names, comma-separated, into buf (for error messages); returns buf. */
const char *glia_data_names(char *buf, size_t len);

#endif
