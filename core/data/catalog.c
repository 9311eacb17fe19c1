/*
 * catalog.c - see catalog.h.
 */
#include "core/data/catalog.h"

#include <stdio.h>
#include <string.h>

static const glia_data_set sets[] = {
    {"fashion-mnist", GLIA_DATA_IMAGES, 0, "images", NULL, GLIA_INPUT_TENSOR, GLIA_OUTPUT_CLASSES},
    {"uci-sentiment", GLIA_DATA_TEXTS, 0, "sentences", NULL, GLIA_INPUT_TOKENS, GLIA_OUTPUT_CLASSES},
    {"gettext-en-es", GLIA_DATA_PAIRS, 0, "translation pairs", NULL, GLIA_INPUT_TOKENS, GLIA_OUTPUT_SEQUENCE},
    /* after gettext-en-es: the first row of a kind is what a bundle of that kind is tested on */
    {"docs-en-es", GLIA_DATA_PAIRS, 0, "translation pairs", NULL, GLIA_INPUT_TOKENS, GLIA_OUTPUT_SEQUENCE},
    {"gettext-docs-en-es", GLIA_DATA_PAIRS, 0, "translation pairs", NULL, GLIA_INPUT_TOKENS,
     GLIA_OUTPUT_SEQUENCE},
    {"idx-images", GLIA_DATA_IMAGES, 1, "images", "idx-labels", GLIA_INPUT_TENSOR, GLIA_OUTPUT_CLASSES},
    {"jsonl", GLIA_DATA_TEXTS, 1, "sentences", NULL, GLIA_INPUT_TOKENS, GLIA_OUTPUT_CLASSES},
    {"tsv", GLIA_DATA_PAIRS, 1, "translation pairs", NULL, GLIA_INPUT_TOKENS, GLIA_OUTPUT_SEQUENCE},
};
enum { NSETS = (int)(sizeof sets / sizeof sets[0]) };

static const glia_data_set *find(const char *name, int upload)
{
    for (int i = 0; name && i < NSETS; i++)
        if (sets[i].upload == upload && strcmp(sets[i].name, name) == 0)
            return &sets[i];
    return NULL;
}

const glia_data_set *glia_data_find(const char *name)
{
    return find(name, 0);
}

const glia_data_set *glia_data_upload(const char *format)
{
    return find(format, 1);
}

const glia_data_set *glia_data_builtin(glia_data_kind kind)
{
    for (int i = 0; i < NSETS; i++)
        if (!sets[i].upload && sets[i].kind == kind)
            return &sets[i];
    return NULL;
}

const glia_data_set *glia_data_for_model(const glia_model_ops *ops)
{
    for (int i = 0; ops && i < NSETS; i++)
        if (!sets[i].upload && sets[i].input == ops->input && sets[i].output == ops->output)
            return &sets[i];
    return NULL;
}

const char *glia_data_names(char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < NSETS && at < len; i++)
        if (!sets[i].upload)
            at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "", sets[i].name);
    return buf;
}
