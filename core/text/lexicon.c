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

#include "core/text/negscope.h"
#include "core/text/tokenize.h"

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

/* Where read_json/read_tsv send each entry: into a table's column (table != NULL), or into a
 * vocabulary that grows by the entries' words (grow != NULL). */
typedef struct {
    const glia_vocab *v;
    glia_vocab *grow;
    float *table;
    int n, col;
    size_t *matched;
} sink;

/* The lexicon's entry token -> score: written score * scale into column col of token's row, if
 * the vocabulary holds the token as such (a lookup returning <unk> for anything but "<unk>"
 * itself is a miss); when the vocabulary marks negation scopes, the marked token
 * (negscope.h) gets the score negated: "not_bad" is as positive as "bad" is negative. */
static void put_score(const sink *k, const char *token, double score, float scale)
{
    char marked[256];
    if (strchr(token, ' '))
        return;
    int32_t id = glia_vocab_id(k->v, token);
    if (id != GLIA_VOCAB_UNK && id != GLIA_VOCAB_PAD) {
        k->table[(size_t)id * (size_t)k->n + (size_t)k->col] = (float)score * scale;
        (*k->matched)++;
    }
    if (!glia_vocab_negscope(k->v).enabled ||
        !glia_negscope_mark(token, strlen(token), marked, sizeof marked))
        return;
    id = glia_vocab_id(k->v, marked);
    if (id != GLIA_VOCAB_UNK && id != GLIA_VOCAB_PAD)
        k->table[(size_t)id * (size_t)k->n + (size_t)k->col] = -(float)score * scale;
}

/* Appends token (and its marked form when the vocabulary marks scopes) to k->grow when the
 * tokenizer reads it as exactly that one token: "great" yes, "can't stand" or ":-)" no. */
static glia_status put_word(const sink *k, const char *token, glia_err *err)
{
    glia_tok_list toks = {0};
    glia_err ignored = {0};
    char marked[256];
    bool added = false;
    glia_status rc = GLIA_OK;
    if (glia_tok_split(token, strlen(token), &toks, &ignored) != GLIA_OK || toks.n != 1 ||
        strcmp(toks.tokens[0], token) != 0)
        goto out;
    if ((rc = glia_vocab_append(k->grow, token, &added, err)))
        goto out;
    *k->matched += added;
    if (glia_vocab_negscope(k->grow).enabled && !glia_negscope_is_negator(token, strlen(token)) &&
        glia_negscope_mark(token, strlen(token), marked, sizeof marked)) {
        if ((rc = glia_vocab_append(k->grow, marked, &added, err)))
            goto out;
        *k->matched += added;
    }
out:
    glia_tok_list_free(&toks);
    return rc;
}

static glia_status put(const sink *k, const char *token, double score, float scale, glia_err *err)
{
    if (k->grow)
        return put_word(k, token, err);
    put_score(k, token, score, scale);
    return GLIA_OK;
}

static glia_status read_json(const glia_lexicon_source *src, const sink *k, glia_err *err)
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
        if ((rc = put(k, key, json_number_value(val), src->scale, err)))
            goto out;
    }
out:
    json_decref(root);
    return rc;
}

static glia_status read_tsv(const glia_lexicon_source *src, const sink *k, glia_err *err)
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
        if ((rc = put(k, line, score, src->scale, err)))
            break;
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
        const sink k = {.v = v, .table = table, .n = n, .col = i, .matched = &hits};
        glia_status rc = sources[i].format == GLIA_LEXICON_JSON ? read_json(&sources[i], &k, err)
                                                                : read_tsv(&sources[i], &k, err);
        if (rc != GLIA_OK)
            return rc;
        if (matched)
            matched[i] = hits;
    }
    return GLIA_OK;
}

glia_status glia_lexicon_extend_vocab(const glia_lexicon_source *sources, int n, glia_vocab *v, size_t *added,
                                      glia_err *err)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const sink k = {.v = v, .grow = v, .matched = &total};
        glia_status rc = sources[i].format == GLIA_LEXICON_JSON ? read_json(&sources[i], &k, err)
                                                                : read_tsv(&sources[i], &k, err);
        if (rc != GLIA_OK)
            return rc;
    }
    if (added)
        *added = total;
    return GLIA_OK;
}
