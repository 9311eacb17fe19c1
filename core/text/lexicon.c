/*
 * lexicon.c - see lexicon.h.
 */
#include "core/text/lexicon.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

glia_status glia_lexicon_format_parse(const char *name, glia_lexicon_format *out, glia_err *err)
{
    if (strcmp(name, "json") == 0)
        *out = GLIA_LEXICON_JSON;
    else if (strcmp(name, "tsv") == 0)
        *out = GLIA_LEXICON_TSV;
    else
        return glia_err_set(err, GLIA_ENOTFOUND, "unknown lexicon format '%s' (known: json, tsv)", name);
    return GLIA_OK;
}

/* Writes score * scale into column col of token's row, if the vocabulary holds the token
 * as such (a lookup returning <unk> for anything but "<unk>" itself is a miss). */
static void put(const glia_vocab *v, const char *token, double score, float scale, float *table, int n,
                int col, size_t *matched)
{
    if (strchr(token, ' '))
        return;
    int32_t id = glia_vocab_id(v, token);
    if (id == GLIA_VOCAB_UNK || id == GLIA_VOCAB_PAD)
        return;
    table[(size_t)id * (size_t)n + (size_t)col] = (float)score * scale;
    (*matched)++;
}

static glia_status read_json(const glia_lexicon_source *src, const glia_vocab *v, float *table, int n,
                             int col, size_t *matched, glia_err *err)
{
    json_error_t je;
    json_t *root = json_load_file(src->path, 0, &je);
    if (!root)
        return glia_err_set(err, GLIA_EFORMAT, "%s:%d: %s", src->path, je.line, je.text);
    glia_status rc = GLIA_OK;
    if (!json_is_object(root)) {
        rc = glia_err_set(err, GLIA_EFORMAT, "%s: expected an object of token -> number", src->path);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (!json_is_number(val)) {
            rc = glia_err_set(err, GLIA_EFORMAT, "%s: the value of '%.60s' is not a number", src->path, key);
            goto out;
        }
        put(v, key, json_number_value(val), src->scale, table, n, col, matched);
    }
out:
    json_decref(root);
    return rc;
}

static glia_status read_tsv(const glia_lexicon_source *src, const glia_vocab *v, float *table, int n, int col,
                            size_t *matched, glia_err *err)
{
    FILE *f = fopen(src->path, "r");
    if (!f)
        return glia_err_set(err, GLIA_EIO, "%s: cannot open: %s", src->path, strerror(errno));
    char line[4096];
    long lineno = 0;
    glia_status rc = GLIA_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        char *tab = strchr(line, '\t');
        char *end = NULL;
        double score = tab ? strtod(tab + 1, &end) : 0.0;
        if (!tab || end == tab + 1 || !isfinite(score) || (*end && *end != '\t')) {
            rc = glia_err_set(err, GLIA_EFORMAT, "%s:%ld: expected token<TAB>number", src->path, lineno);
            break;
        }
        *tab = '\0';
        put(v, line, score, src->scale, table, n, col, matched);
    }
    fclose(f);
    return rc;
}

glia_status glia_lexicon_table(const glia_lexicon_source *sources, int n, const glia_vocab *v, float *table,
                               size_t *matched, glia_err *err)
{
    memset(table, 0, sizeof(float) * glia_vocab_size(v) * (size_t)n);
    for (int i = 0; i < n; i++) {
        size_t hits = 0;
        glia_status rc = sources[i].format == GLIA_LEXICON_JSON
                             ? read_json(&sources[i], v, table, n, i, &hits, err)
                             : read_tsv(&sources[i], v, table, n, i, &hits, err);
        if (rc != GLIA_OK)
            return rc;
        if (matched)
            matched[i] = hits;
    }
    return GLIA_OK;
}
