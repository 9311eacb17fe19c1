/* describe.c - see routes.h: what GET /v1/models and the OIP metadata say of a model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/routes/routes.h"

static json_t *shape_json(glia_shape3 s, int batch_dim, int flat)
{
    json_t *a = json_array();
    if (batch_dim)
        json_array_append_new(a, json_integer(-1));
    if (flat) {
        json_array_append_new(a, json_integer((json_int_t)glia_shape3_size(s)));
    } else {
        json_array_append_new(a, json_integer(s.c));
        json_array_append_new(a, json_integer(s.h));
        json_array_append_new(a, json_integer(s.w));
    }
    return a;
}

/* A text model takes one BYTES string per sample. */
json_t *describe_input(const registry_model *m, int batch_dim)
{
    if (m->bundle.model->ops->input == GLIA_INPUT_TOKENS) {
        json_t *shape = batch_dim ? json_pack("[i]", -1) : json_array();
        return json_pack("{s:s, s:s, s:o, s:i}", "name", "text", "datatype", "BYTES", "shape", shape,
                         "max_tokens", m->bundle.manifest.max_tokens);
    }
    return json_pack("{s:s, s:s, s:o}", "name", "input", "datatype", "FP32", "shape",
                     shape_json(m->bundle.manifest.input, batch_dim, 0));
}

json_t *describe_output(const registry_model *m, int batch_dim)
{
    if (m->bundle.model->ops->output == GLIA_OUTPUT_SEQUENCE) {
        json_t *shape = batch_dim ? json_pack("[i]", -1) : json_array();
        return json_pack("{s:s, s:s, s:o}", "name", "translation", "datatype", "BYTES", "shape", shape);
    }
    glia_shape3 out = {m->bundle.model->outputs, 1, 1};
    return json_pack("{s:s, s:s, s:o}", "name", "probabilities", "datatype", "FP32", "shape",
                     shape_json(out, batch_dim, 1));
}

json_t *describe_model(const registry_entry *e)
{
    json_t *j = json_pack("{s:s, s:s}", "name", e->name, "path", e->path);
    json_object_set_new(j, "loaded", json_boolean(e->model != NULL));
    if (e->last_error[0])
        json_object_set_new(j, "last_error", json_string(e->last_error));
    json_object_set_new(j, "load_failures", json_integer(e->failures));
    if (!e->model)
        return j;
    const registry_model *m = e->model;
    const glia_manifest *man = &m->bundle.manifest;
    char when[32];
    struct tm tm;
    gmtime_r(&m->loaded_at, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(j, "task", json_string(man->task));
    json_object_set_new(j, "version", json_integer(man->version));
    json_object_set_new(j, "input", describe_input(m, 0));
    json_object_set_new(j, "output", describe_output(m, 0));
    json_t *labels = json_array();
    for (int i = 0; i < man->nlabels; i++)
        json_array_append_new(labels, json_string(man->labels[i]));
    json_object_set_new(j, "labels", labels);
    json_t *eval = json_object();
    if (man->eval_accuracy >= 0)
        json_object_set_new(eval, "accuracy", json_real(man->eval_accuracy));
    if (man->eval_bleu >= 0)
        json_object_set_new(eval, "bleu", json_real(man->eval_bleu));
    if (man->eval_chrf >= 0)
        json_object_set_new(eval, "chrf", json_real(man->eval_chrf));
    json_object_set_new(j, "evaluation", eval);
    json_object_set_new(j, "weights_sha256", json_string(m->bundle.sha256));
    json_object_set_new(j, "loaded_at", json_string(when));
    /* milliseconds are what a load time means */
    json_object_set_new(j, "load_seconds", json_real(round(m->load_seconds * 1e3) / 1e3));
    /* what inference runs in, and what the manifest or config asked (they differ when the
     * CPU has no AVX512_BF16: bf16 asked, fp32 in effect) */
    json_object_set_new(j, "precision", json_string(glia_precision_name(m->bundle.model->precision)));
    json_object_set_new(j, "precision_requested", json_string(glia_precision_name(m->precision_requested)));
    return j;
}

/* Where an absolute path may start in a message: at its start or after one of these. */
static int path_may_start(const char *text, const char *at)
{
    return at == text || strchr(" \t'\"(=[,", at[-1]) != NULL;
}

/* Where the path at p ends: white space, a quote, a bracket or ':' (messages say "PATH: what"). */
static size_t path_length(const char *p)
{
    return strcspn(p, " \t\n'\"()[],:");
}

/* text with every absolute path cut to its last component ("/srv/m/model.yaml: bad key" ->
 * "model.yaml: bad key": the file stays named, the machine's layout does not show); NULL
 * when nothing changes or memory runs out (the caller then drops the string). */
static char *without_paths(const char *text, int *changed)
{
    const size_t n = strlen(text);
    char *out = malloc(n + 1);
    size_t o = 0;
    *changed = 0;
    if (!out)
        return NULL;
    for (const char *p = text; *p;) {
        if (*p == '/' && path_may_start(text, p) && path_length(p) > 1) {
            const size_t len = path_length(p);
            const char *last = p;
            for (size_t i = 0; i < len; i++)
                if (p[i] == '/' && i + 1 < len)
                    last = p + i + 1;
            const size_t keep = (size_t)(p + len - last);
            memcpy(out + o, last, keep);
            o += keep;
            p += len;
            *changed = 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return out;
}

void describe_hide_paths(json_t *j)
{
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(j, tmp, key, v)
        {
            if (strcmp(key, "path") == 0 ||
                (strlen(key) > 5 && strcmp(key + strlen(key) - 5, "_path") == 0)) {
                json_object_del(j, key);
                continue;
            }
            if (json_is_string(v)) {
                int changed;
                char *clean = without_paths(json_string_value(v), &changed);
                if (!clean)
                    json_object_del(j, key); /* out of memory: less said, never a path */
                else if (changed)
                    json_object_set_new(j, key, json_string(clean));
                free(clean);
            } else {
                describe_hide_paths(v);
            }
        }
    } else if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *v = json_array_get(j, i);
            if (!json_is_string(v)) {
                describe_hide_paths(v);
                continue;
            }
            int changed;
            char *clean = without_paths(json_string_value(v), &changed);
            if (changed || !clean)
                json_array_set_new(j, i, json_string(clean ? clean : ""));
            free(clean);
        }
    }
}
