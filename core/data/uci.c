/*
 * uci.c - see uci.h.
 *
 * Design: each file is parsed whole by Jansson (a few hundred kilobytes; duplicate keys refused,
 * UTF-8 checked by the parser), every element is checked and stripped, and the texts are
 * deduplicated through a glia_htable (core/base/htable.h) of the kept texts, whose id of a text
 * is the index of its example. Examples own their texts (one allocation each); nothing
 * is kept from a failed load.
 */
#include "core/data/uci.h"

#include "core/base/hash.h"
#include "core/base/htable.h"
#include "core/base/jsonmem.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const source_names[GLIA_UCI_NSOURCES] = {"amazon", "imdb", "yelp"};
static const char *const split_names[GLIA_UCI_NSPLITS] = {"train", "dev", "test"};

/* Examples of one source beyond this are refused: the real files hold 1001 elements each. */
enum { MAX_ELEMENTS = 1 << 20 };

#ifndef GLIA_DATA_CACHE
#define GLIA_DATA_CACHE ".cache/data"
#endif

const char *glia_uci_default_dir(void)
{
    const char *env = getenv("GLIA_UCI_SENTIMENT");
    return env && *env ? env : GLIA_DATA_CACHE "/uci-sentiment";
}

uint32_t glia_uci_fnv1a32(const void *data, size_t len)
{
    return glia_fnv1a32(data, len);
}

glia_uci_split glia_uci_split_of(uint32_t hash)
{
    switch (hash % 10) {
    case 0: return GLIA_UCI_TEST;
    case 1: return GLIA_UCI_DEV;
    default: return GLIA_UCI_TRAIN;
    }
}

const char *glia_uci_source_name(glia_uci_source source)
{
    return (unsigned)source < GLIA_UCI_NSOURCES ? source_names[source] : "?";
}

const char *glia_uci_split_name(glia_uci_split split)
{
    return (unsigned)split < GLIA_UCI_NSPLITS ? split_names[split] : "?";
}

void glia_uci_free(glia_uci_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; set->examples && i < set->n; i++)
        free(set->examples[i].text);
    free(set->examples);
    memset(set, 0, sizeof *set);
}

static bool is_ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* The kept example with the same text, NULL after recording text for the next example (*out
 * holds the examples kept so far; text id k is example k's). */
static glia_status dedup(glia_htable *seen, const glia_uci_set *out, const char *text, size_t len,
                         const glia_uci_example **first, glia_err *err)
{
    int32_t id;
    bool added;
    glia_status rc = glia_htable_add(seen, text, len, &id, &added, err);
    if (rc != GLIA_OK)
        return rc;
    GLIA_ASSERT(!added || (size_t)id == out->n);
    *first = added ? NULL : &out->examples[id];
    return GLIA_OK;
}

/* Checks element idx of path and appends it to out unless it is the blank trailer or a duplicate. */
static glia_status take_element(const char *path, glia_uci_source source, size_t idx, json_t *el,
                                glia_uci_set *out, glia_htable *seen, glia_err *err)
{
    const char *key;
    json_t *val, *jtext = NULL, *jclass = NULL;
    if (!json_is_object(el))
        return glia_err_set(err, GLIA_EFORMAT, "%s: element %zu: expected an object {\"text\", \"class\"}",
                            path, idx);
    json_object_foreach(el, key, val)
    {
        if (strcmp(key, "text") == 0)
            jtext = val;
        else if (strcmp(key, "class") == 0)
            jclass = val;
        else
            return glia_err_set(err, GLIA_EFORMAT, "%s: element %zu: unknown key \"%.40s\"", path, idx, key);
    }
    if (!jtext || !json_is_string(jtext))
        return glia_err_set(err, GLIA_EFORMAT, "%s: element %zu: \"text\" must be a string", path, idx);
    if (!jclass)
        return glia_err_set(err, GLIA_EFORMAT, "%s: element %zu: \"class\" is missing", path, idx);

    const char *text = json_string_value(jtext);
    size_t len = json_string_length(jtext);
    if (memchr(text, '\0', len))
        return glia_err_set(err, GLIA_EFORMAT, "%s: element %zu: text contains a NUL character", path, idx);
    while (len > 0 && is_ascii_space(text[0]))
        text++, len--;
    while (len > 0 && is_ascii_space(text[len - 1]))
        len--;
    if (json_is_null(jclass) && len == 0) {
        out->n_blank[source]++;
        return GLIA_OK;
    }
    if (!json_is_integer(jclass) || (json_integer_value(jclass) != 0 && json_integer_value(jclass) != 1))
        return glia_err_set(err, GLIA_EFORMAT, "%s: element %zu: \"class\" must be 0 or 1", path, idx);
    if (len == 0)
        return glia_err_set(err, GLIA_EFORMAT, "%s: element %zu: the text is empty", path, idx);
    int label = (int)json_integer_value(jclass);

    uint32_t hash = glia_uci_fnv1a32(text, len);
    const glia_uci_example *first;
    glia_status rc = dedup(seen, out, text, len, &first, err);
    if (rc != GLIA_OK)
        return rc;
    if (first) {
        out->n_duplicates[source]++;
        out->n_conflicts += first->label != label;
        return GLIA_OK;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
    memcpy(copy, text, len);
    copy[len] = '\0';
    out->examples[out->n] = (glia_uci_example){
        .text = copy,
        .len = len,
        .label = label,
        .source = source,
        .split = glia_uci_split_of(hash),
        .hash = hash,
        .index = idx,
    };
    out->n++;
    return GLIA_OK;
}

static glia_status parse_file(const char *path, json_t **root, glia_err *err)
{
    json_error_t je;
    FILE *f = fopen(path, "rb");
    *root = NULL;
    if (!f)
        return glia_err_set(err, errno == ENOENT ? GLIA_ENOTFOUND : GLIA_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    memset(&je, 0, sizeof je);
    glia_json_watch();
    *root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (*root && glia_json_failed()) { /* a string may have lost bytes (jsonmem.h) */
        json_decref(*root);
        *root = NULL;
        return glia_err_set(err, GLIA_ENOMEM, "out of memory parsing %s", path);
    }
    if (!*root) {
        if (json_error_code(&je) == json_error_out_of_memory || je.text[0] == '\0')
            return glia_err_set(err, GLIA_ENOMEM, "out of memory parsing %s", path);
        return glia_err_set(err, GLIA_EFORMAT, "%s:%d:%d: %s (byte %d)", path, je.line, je.column, je.text,
                            je.position);
    }
    if (!json_is_array(*root)) {
        json_decref(*root);
        *root = NULL;
        return glia_err_set(err, GLIA_EFORMAT, "%s: expected a JSON array of {\"text\", \"class\"} objects",
                            path);
    }
    if (json_array_size(*root) > MAX_ELEMENTS) {
        size_t n = json_array_size(*root);
        json_decref(*root);
        *root = NULL;
        return glia_err_set(err, GLIA_EFORMAT, "%s: %zu elements, more than the %d a source may have", path,
                            n, MAX_ELEMENTS);
    }
    return GLIA_OK;
}

glia_status glia_uci_load(const char *dir, glia_uci_set *out, glia_err *err)
{
    json_t *roots[GLIA_UCI_NSOURCES] = {NULL};
    char paths[GLIA_UCI_NSOURCES][4096];
    glia_htable seen = {0};
    glia_status rc;
    size_t total = 0;

    GLIA_ASSERT(dir != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    for (int s = 0; s < GLIA_UCI_NSOURCES; s++) {
        int w = snprintf(paths[s], sizeof paths[s], "%s/%s.json", dir, source_names[s]);
        if (w < 0 || (size_t)w >= sizeof paths[s]) {
            rc = glia_err_set(err, GLIA_EINVAL, "%s: directory name too long", dir);
            goto fail;
        }
        rc = parse_file(paths[s], &roots[s], err);
        if (rc != GLIA_OK) {
            glia_err_prefix(err, "UCI sentiment sentences (scripts/setup fetches them)");
            goto fail;
        }
        total += json_array_size(roots[s]);
    }

    out->examples = malloc((total ? total : 1) * sizeof *out->examples);
    if (!out->examples) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu sentences", total);
        goto fail;
    }
    for (int s = 0; s < GLIA_UCI_NSOURCES; s++) {
        size_t idx;
        json_t *el;
        out->n_read[s] = json_array_size(roots[s]);
        json_array_foreach(roots[s], idx, el)
        {
            rc = take_element(paths[s], (glia_uci_source)s, idx, el, out, &seen, err);
            if (rc != GLIA_OK)
                goto fail;
        }
        json_decref(roots[s]);
        roots[s] = NULL;
    }
    glia_htable_free(&seen);
    return GLIA_OK;

fail:
    for (int s = 0; s < GLIA_UCI_NSOURCES; s++)
        json_decref(roots[s]);
    glia_htable_free(&seen);
    glia_uci_free(out);
    return rc;
}

glia_status glia_uci_texts(const glia_uci_set *set, glia_uci_split split, const char ***texts, size_t *n,
                           glia_err *err)
{
    size_t count = 0;
    for (size_t i = 0; i < set->n; i++)
        count += set->examples[i].split == split;
    *texts = malloc((count ? count : 1) * sizeof **texts);
    *n = 0;
    if (!*texts)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu texts", count);
    for (size_t i = 0; i < set->n; i++) {
        if (set->examples[i].split == split)
            (*texts)[(*n)++] = set->examples[i].text;
    }
    return GLIA_OK;
}

/* The label of one JSON-lines record as an index into labels. */
static glia_status jsonl_label(const json_t *v, char *const *labels, int nlabels, int *out, char *why,
                               size_t len)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < nlabels) {
        *out = (int)json_integer_value(v);
        return GLIA_OK;
    }
    for (int i = 0; json_is_string(v) && i < nlabels; i++)
        if (strcmp(json_string_value(v), labels[i]) == 0) {
            *out = i;
            return GLIA_OK;
        }
    size_t used = (size_t)snprintf(why, len, "\"label\" must be one of");
    for (int i = 0; i < nlabels && used < len; i++)
        used += (size_t)snprintf(why + used, len - used, "%s \"%s\"", i ? "," : "", labels[i]);
    if (used < len)
        snprintf(why + used, len - used, " (or its index 0..%d)", nlabels - 1);
    return GLIA_EFORMAT;
}

glia_status glia_uci_load_jsonl(const char *path, char *const *labels, int nlabels, glia_uci_set *out,
                                glia_err *err)
{
    glia_htable seen = {0};
    glia_status rc = GLIA_OK;
    size_t cap = 0, lineno = 0, linecap = 0;
    char *line = NULL;
    ssize_t got;
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return glia_err_set(err, errno == ENOENT ? GLIA_ENOTFOUND : GLIA_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    while ((got = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        while (len > 0 && is_ascii_space(line[len - 1]))
            len--;
        if (len == 0)
            continue;
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            glia_uci_example *ex = realloc(out->examples, ncap * sizeof *ex);
            if (!ex) {
                rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
                goto done;
            }
            out->examples = ex;
            cap = ncap;
        }
        json_error_t je;
        glia_json_watch();
        json_t *el = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
        if (glia_json_failed()) { /* out of memory, or a string that lost bytes (jsonmem.h) */
            json_decref(el);
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
            goto done;
        }
        const json_t *jt = json_object_get(el, "text"), *jl = json_object_get(el, "label");
        char why[256] = "";
        int label = 0;
        if (!el)
            snprintf(why, sizeof why, "not JSON: %s (column %d)", je.text, je.column);
        else if (!json_is_object(el) || json_object_size(el) != 2 || !jt || !jl)
            snprintf(why, sizeof why, "expected {\"text\": STRING, \"label\": STRING or INTEGER}");
        else if (!json_is_string(jt))
            snprintf(why, sizeof why, "\"text\" must be a string");
        else
            jsonl_label(jl, labels, nlabels, &label, why, sizeof why);
        const char *text = jt && json_is_string(jt) ? json_string_value(jt) : "";
        size_t tlen = jt && json_is_string(jt) ? json_string_length(jt) : 0;
        while (tlen > 0 && is_ascii_space(text[0]))
            text++, tlen--;
        while (tlen > 0 && is_ascii_space(text[tlen - 1]))
            tlen--;
        if (!why[0] && (tlen == 0 || memchr(text, '\0', tlen)))
            snprintf(why, sizeof why, "the text is empty or holds a NUL character");
        if (why[0]) {
            json_decref(el);
            rc = glia_err_set(err, GLIA_EFORMAT, "%s:%zu: %s", path, lineno, why);
            goto done;
        }
        uint32_t hash = glia_uci_fnv1a32(text, tlen);
        const glia_uci_example *first;
        if ((rc = dedup(&seen, out, text, tlen, &first, err)) != GLIA_OK) {
            json_decref(el);
            goto done;
        }
        if (first) {
            out->n_duplicates[GLIA_UCI_AMAZON]++;
            out->n_conflicts += first->label != label;
            json_decref(el);
            continue;
        }
        char *copy = malloc(tlen + 1);
        if (!copy) {
            json_decref(el);
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
            goto done;
        }
        memcpy(copy, text, tlen);
        copy[tlen] = '\0';
        json_decref(el);
        out->examples[out->n] =
            (glia_uci_example){copy, tlen, label, GLIA_UCI_AMAZON, glia_uci_split_of(hash), hash, lineno - 1};
        out->n++;
        out->n_read[GLIA_UCI_AMAZON]++;
    }
    if (ferror(f))
        rc = glia_err_set(err, GLIA_EIO, "%s: read failed", path);
done:
    free(line);
    glia_htable_free(&seen);
    fclose(f);
    if (rc != GLIA_OK)
        glia_uci_free(out);
    return rc;
}
