/*
 * manifest.c - see manifest.h. Every key is checked against the list of keys its
 * mapping may have, so a typo in a manifest is an error with file:line, never a
 * silently different model.
 */
#include "core/model/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/afile.h"
#include "core/base/yamlutil.h"
#include "core/model/family.h"

void glia_manifest_resolve(const glia_manifest *m, const char *rel, char *out)
{
    if (rel[0] == '/')
        snprintf(out, GLIA_PATH_MAX, "%s", rel);
    else
        snprintf(out, GLIA_PATH_MAX, "%s/%s", m->dir, rel);
}

static glia_status read_labels(glia_manifest *m, const char *path, glia_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return glia_err_set(err, GLIA_EIO, "%s: cannot open labels: %s", path, strerror(errno));
    char line[512];
    int cap = 0;
    glia_status rc = GLIA_OK;
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (len == 0)
            continue;
        if (m->nlabels == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(m->labels, sizeof *grown * (size_t)cap);
            if (!grown) {
                rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
                break;
            }
            m->labels = grown;
        }
        if (!(m->labels[m->nlabels] = strdup(line))) {
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
            break;
        }
        m->nlabels++;
    }
    fclose(f);
    return rc;
}

/* The tokenizer's file (under file_key) and input: {max_tokens} of a model over token ids. */
glia_status glia_manifest_parse_token_input(glia_yaml *y, yaml_node_t *root, const char *file_key,
                                            glia_manifest *m, glia_err *err)
{
    static const char *const input_keys[] = {"max_tokens", "negation_scope", NULL};
    static const char *const neg_keys[] = {"max_words", NULL};
    yaml_node_t *file = glia_yaml_get(y, root, file_key), *input = glia_yaml_get(y, root, "input");
    const char *path = NULL;
    glia_status rc;
    if (!file)
        return glia_yaml_error(y, root, GLIA_EINVAL, err, "a %s model needs '%s'", m->task, file_key);
    if ((rc = glia_yaml_string(y, file, file_key, &path, err)))
        return rc;
    glia_manifest_resolve(m, path, m->tokenizer);
    m->max_tokens = 128;
    if (input && ((rc = glia_yaml_check_keys(y, input, "input", input_keys, err)) ||
                  (rc = glia_yaml_opt_int(y, input, "max_tokens", 1, 4096, &m->max_tokens, err))))
        return rc;
    /* negation_scope: {max_words: N} (core/text/negscope.h): the words after a negator are read
     * marked. Only a word vocabulary can hold marked words. */
    yaml_node_t *neg = input ? glia_yaml_get(y, input, "negation_scope") : NULL;
    if (!neg)
        return GLIA_OK;
    if (strcmp(file_key, "vocabulary") != 0)
        return glia_yaml_error(y, neg, GLIA_EINVAL, err,
                               "input.negation_scope needs a word vocabulary; a %s model has none", m->task);
    if ((rc = glia_yaml_check_keys(y, neg, "input.negation_scope", neg_keys, err)) ||
        (rc = glia_yaml_opt_int(y, neg, "max_words", 0, 64, &m->negscope.max_words, err)))
        return rc;
    m->negscope.enabled = true;
    return GLIA_OK;
}

yaml_node_t *glia_manifest_section(glia_yaml *y, yaml_node_t *root, const char *key, glia_err *err)
{
    yaml_node_t *node = glia_yaml_get(y, root, key);
    if (!node)
        glia_yaml_error(y, root, GLIA_EINVAL, err, "missing '%s'", key);
    return node;
}

glia_status glia_manifest_load(const char *path, glia_manifest *m, glia_err *err)
{
    static const char *const top_keys[] = {
        "name",       "task",     "version",    "weights",   "labels",   "input",     "architecture",
        "evaluation", "training", "vocabulary", "tokenizer", "decoding", "precision", NULL};
    glia_yaml y;
    glia_status rc;
    const char *name = NULL, *task = NULL, *weights = "model.safetensors", *labels = NULL, *precision = NULL;
    memset(m, 0, sizeof *m);
    m->eval_accuracy = -1.0;
    m->eval_bleu = m->eval_chrf = -1.0;
    snprintf(m->path, sizeof m->path, "%s", path);
    {
        char tmp[GLIA_PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", path);
        snprintf(m->dir, sizeof m->dir, "%s", dirname(tmp));
    }
    if ((rc = glia_yaml_load_file(path, &y, err)))
        return rc;
    yaml_node_t *root = glia_yaml_root(&y);
    m->version = 1;
    if ((rc = glia_yaml_check_keys(&y, root, "manifest", top_keys, err)) ||
        (rc = glia_yaml_string(&y, glia_yaml_get(&y, root, "name"), "name", &name, err)) ||
        (rc = glia_yaml_string(&y, glia_yaml_get(&y, root, "task"), "task", &task, err)) ||
        (rc = glia_yaml_opt_long(&y, root, "version", 1, 1L << 40, &m->version, err)) ||
        (rc = glia_yaml_opt_string(&y, root, "weights", &weights, err)) ||
        (rc = glia_yaml_opt_string(&y, root, "labels", &labels, err)) ||
        (rc = glia_yaml_opt_string(&y, root, "precision", &precision, err)))
        goto fail;
    if (precision && glia_precision_parse(precision) < 0) {
        rc = glia_yaml_error(&y, glia_yaml_get(&y, root, "precision"), GLIA_EINVAL, err,
                             "precision must be fp32 or bf16 (got '%s')", precision);
        goto fail;
    }
    m->precision = precision ? (glia_precision)glia_precision_parse(precision) : GLIA_PRECISION_FP32;
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->task, sizeof m->task, "%s", task);
    glia_manifest_resolve(m, weights, m->weights);
    const glia_model_ops *family = glia_model_family(task);
    if (!family) {
        rc = glia_yaml_error(&y, root, GLIA_EUNSUPPORTED, err, "task '%s' is not supported (supported: %s)",
                             task, glia_model_tasks());
        goto fail;
    }
    if ((rc = family->parse_manifest(&y, root, m, err)))
        goto fail;
    yaml_node_t *eval = glia_yaml_get(&y, root, "evaluation");
    if (eval && ((rc = glia_yaml_opt_double(&y, eval, "accuracy", 0.0, 1.0, &m->eval_accuracy, err)) ||
                 (rc = glia_yaml_opt_double(&y, eval, "bleu", 0.0, 100.0, &m->eval_bleu, err)) ||
                 (rc = glia_yaml_opt_double(&y, eval, "chrf", 0.0, 100.0, &m->eval_chrf, err))))
        goto fail;
    if (labels) {
        char lp[GLIA_PATH_MAX];
        glia_manifest_resolve(m, labels, lp);
        if ((rc = read_labels(m, lp, err)))
            goto fail;
    }
    glia_yaml_free(&y);
    return GLIA_OK;
fail:
    glia_yaml_free(&y);
    glia_manifest_free(m);
    return rc;
}

void glia_manifest_free(glia_manifest *m)
{
    for (int i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m->layers);
    m->labels = NULL;
    m->layers = NULL;
    m->nlabels = m->nlayers = 0;
}

void glia_preprocess_u8(const glia_preprocess *pre, const uint8_t *pixels, size_t n, float *out)
{
    const float scale = pre->scale / pre->std, shift = pre->mean / pre->std;
    for (size_t i = 0; i < n; i++) {
        float p = pre->invert ? 255.0f - pixels[i] : pixels[i];
        out[i] = p * scale - shift;
    }
}

glia_status glia_manifest_write_with_results(const char *src_path, const char *dst_path,
                                             const char *results_yaml, glia_err *err)
{
    return glia_manifest_write_version(src_path, dst_path, 0, results_yaml, err);
}

/* A manifest is a page of YAML: a file much larger than this is not one. */
enum { MANIFEST_MAX_BYTES = 1 << 20 };

/* The index after the newline ending the line that starts at i (len at the end). */
static size_t next_line(const char *text, size_t i, size_t len)
{
    const char *nl = memchr(text + i, '\n', len - i);
    return nl ? (size_t)(nl - text) + 1 : len;
}

glia_status glia_manifest_write_version(const char *src_path, const char *dst_path, long version,
                                        const char *results_yaml, glia_err *err)
{
    size_t len = 0;
    char *text = NULL;
    glia_afile out;
    glia_status rc = glia_file_read(src_path, MANIFEST_MAX_BYTES, "a manifest", &text, &len, err);
    if (rc != GLIA_OK)
        return rc;
    char *mark = strstr(text, GLIA_MANIFEST_RESULTS_MARKER);
    if (mark)
        len = (size_t)(mark - text);
    while (len > 0 && text[len - 1] == '\n')
        len--;
    /* a new version number replaces the top-level "version:" line (or follows "name:") */
    size_t cut = len, resume = len;
    for (size_t i = 0; version > 0 && i < len; i = next_line(text, i, len))
        if (strncmp(text + i, "version:", 8) == 0) {
            cut = i;
            resume = next_line(text, i, len);
            break;
        }
    for (size_t i = 0; version > 0 && cut == len && i < len; i = next_line(text, i, len))
        if (strncmp(text + i, "name:", 5) == 0)
            cut = resume = next_line(text, i, len);
    /* a manifest is as public as its bundle; a failed print is caught by the commit */
    if ((rc = glia_afile_open(&out, dst_path, 0644, err)) == GLIA_OK) {
        if (version > 0 && cut < len)
            fprintf(out.f, "%.*sversion: %ld\n%.*s", (int)cut, text, version, (int)(len - resume),
                    text + resume);
        else
            fprintf(out.f, "%.*s", (int)len, text);
        fprintf(out.f, "\n\n%s\n%s", GLIA_MANIFEST_RESULTS_MARKER, results_yaml);
        rc = glia_afile_commit(&out, err);
    }
    free(text);
    return rc;
}
