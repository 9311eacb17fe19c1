/*
 * trainreq.c - see trainreq.h.
 *
 * The record keeps what is needed to rebuild the recipe later, and no more: the user's
 * overrides as given, and the data set either as the model's own one with its limit and
 * validation split, or as uploaded files (with their ids, for the user's sake).
 */
#include "daemon/trainreq.h"
#include "core/base/jsonnum.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/model/manifest.h"

enum { MAX_RUNTIME_SECONDS = 30 * 86400 }; /* a job's max_runtime_seconds at most: 30 days */

/* ---- from a record to a recipe ---- */

/* The directory of the configured bundle of model (its recipe.yaml lives there). */
static glia_status bundle_dir(const trainreq_env *env, const char *model, char *buf, size_t len,
                              glia_err *err)
{
    if (!model || !versions_configured(env->ver, model, buf, len))
        return glia_err_set(err, GLIA_ENOTFOUND, "model '%s' is not configured", model ? model : "?");
    struct stat st;
    if (stat(buf, &st) == 0 && !S_ISDIR(st.st_mode)) { /* configured as DIR/model.yaml */
        char *slash = strrchr(buf, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(buf, len, ".");
    }
    return GLIA_OK;
}

/* The record's data set: uploaded files into r, the rest (limit, validation) into over. */
static void dataset_overrides(const json_t *ds, glia_recipe *r, json_t *over)
{
    static const char *const not_overrides[] = {"name",   "file",        "records",    "images",
                                                "labels", "images_file", "labels_file"};
    const char *file = json_string_value(json_object_get(ds, "file"));
    const char *images = json_string_value(json_object_get(ds, "images_file"));
    const char *labels = json_string_value(json_object_get(ds, "labels_file"));
    if (file)
        snprintf(r->dataset_file, sizeof r->dataset_file, "%s", file);
    if (images && labels) {
        snprintf(r->images_file, sizeof r->images_file, "%s", images);
        snprintf(r->labels_file, sizeof r->labels_file, "%s", labels);
    }
    if (!json_is_object(ds))
        return;
    json_t *d = json_deep_copy(ds);
    for (size_t i = 0; i < sizeof not_overrides / sizeof not_overrides[0]; i++)
        json_object_del(d, not_overrides[i]);
    if (json_object_size(d))
        json_object_set_new(over, "dataset", d);
    else
        json_decref(d);
}

glia_status trainreq_recipe(const trainreq_env *env, const json_t *rec, glia_recipe *r, glia_err *err)
{
    char dir[4096], recipe[4200];
    const char *model = json_string_value(json_object_get(rec, "model"));
    glia_status rc = bundle_dir(env, model, dir, sizeof dir, err);
    if (rc != GLIA_OK)
        return rc;
    snprintf(recipe, sizeof recipe, "%s/recipe.yaml", dir);
    if (access(recipe, R_OK) != 0)
        return glia_err_set(err, GLIA_ENOTFOUND, "model '%s' has no recipe.yaml in %s to train from", model,
                            dir);
    if ((rc = glia_recipe_load(recipe, r, err)) != GLIA_OK)
        return rc;
    json_t *over = json_deep_copy(json_object_get(rec, "recipe"));
    if (!over)
        over = json_object();
    json_object_del(over, "max_runtime_seconds"); /* the job's, not the training loop's */
    dataset_overrides(json_object_get(rec, "dataset"), r, over);
    char *text = json_dumps(over, JSON_COMPACT | GLIA_JSON_REALS);
    json_decref(over);
    if (!text)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    rc = glia_recipe_override(r, text, strlen(text), "recipe", err);
    free(text);
    r->workers = env->threads;
    return rc;
}

/* ---- checking a submission ---- */

/* Appends "field: message" to a list of problems with the submission. */
static void bad(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used && used + 2 < len) {
        strcat(buf, "; ");
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static int one_of(const char *s, const char *const *names)
{
    for (int i = 0; s && names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return 1;
    return 0;
}

/* The JSON type of every numeric and boolean field a submission may hold. The recipe's
 * overrides go on to core/train/recipe.c's YAML reader, for which "3" and 3 are the same
 * scalar: without this check "epochs": "3" would train 3 epochs, and a client's bug would
 * pass unnoticed. Strings need no entry: a number where a name belongs is no known name. */
typedef enum { FIELD_INTEGER, FIELD_NUMBER, FIELD_BOOLEAN } field_type;

static const struct {
    const char *path; /* dotted, from the body */
    field_type type;
} typed_fields[] = {
    {"dry_run", FIELD_BOOLEAN},
    {"dataset.limit", FIELD_INTEGER},
    {"dataset.validation", FIELD_INTEGER},
    {"recipe.max_runtime_seconds", FIELD_NUMBER},
    {"recipe.seed", FIELD_INTEGER},
    {"recipe.epochs", FIELD_INTEGER},
    {"recipe.clip_grad_norm", FIELD_NUMBER},
    {"recipe.ema", FIELD_NUMBER},
    {"recipe.lr", FIELD_NUMBER},
    {"recipe.dataset.limit", FIELD_INTEGER},
    {"recipe.dataset.validation", FIELD_INTEGER},
    {"recipe.batch.size", FIELD_INTEGER},
    {"recipe.batch.min", FIELD_INTEGER},
    {"recipe.batch.max", FIELD_INTEGER},
    {"recipe.batch.growth", FIELD_NUMBER},
    {"recipe.batch.patience", FIELD_INTEGER},
    {"recipe.batch.min_delta", FIELD_NUMBER},
    {"recipe.optimizer.lr", FIELD_NUMBER},
    {"recipe.optimizer.momentum", FIELD_NUMBER},
    {"recipe.optimizer.dampening", FIELD_NUMBER},
    {"recipe.optimizer.nesterov", FIELD_BOOLEAN},
    {"recipe.optimizer.weight_decay", FIELD_NUMBER},
    {"recipe.optimizer.alpha", FIELD_NUMBER},
    {"recipe.optimizer.centered", FIELD_BOOLEAN},
    {"recipe.optimizer.beta1", FIELD_NUMBER},
    {"recipe.optimizer.beta2", FIELD_NUMBER},
    {"recipe.optimizer.eps", FIELD_NUMBER},
    {"recipe.optimizer.amsgrad", FIELD_BOOLEAN},
    {"recipe.schedule.step_size", FIELD_INTEGER},
    {"recipe.schedule.gamma", FIELD_NUMBER},
    {"recipe.schedule.min_lr", FIELD_NUMBER},
    {"recipe.schedule.warmup_steps", FIELD_INTEGER},
    {"recipe.schedule.warmup_start_factor", FIELD_NUMBER},
    {"recipe.loss.label_smoothing", FIELD_NUMBER},
    {"recipe.augment.hflip", FIELD_BOOLEAN},
    {"recipe.augment.translate", FIELD_INTEGER},
    {"recipe.augment.cutout", FIELD_INTEGER},
    {"recipe.augment.negation", FIELD_BOOLEAN},
};

/* The value at a dotted path of body, or NULL when any part of it is absent (or not an
 * object: the checks of the fields themselves say so). */
static const json_t *field_at(const json_t *body, const char *path)
{
    char key[64];
    const json_t *v = body;
    while (v && *path) {
        size_t len = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)len, path);
        v = json_is_object(v) ? json_object_get(v, key) : NULL;
        path += len + (path[len] == '.');
    }
    return v;
}

/* Every field of typed_fields given as another JSON type, named with the type it must be,
 * into errors. */
static void check_types(const json_t *body, char *errors, size_t len)
{
    static const char *const expected[] = {"an integer", "a number", "true or false"};
    for (size_t i = 0; i < sizeof typed_fields / sizeof typed_fields[0]; i++) {
        const json_t *v = field_at(body, typed_fields[i].path);
        const field_type t = typed_fields[i].type;
        if (!v || (t == FIELD_INTEGER && json_is_integer(v)) || (t == FIELD_NUMBER && json_is_number(v)) ||
            (t == FIELD_BOOLEAN && json_is_boolean(v)))
            continue;
        char *given = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII |
                                        JSON_REAL_PRECISION(9)); /* "3" stays "3" */
        bad(errors, len, "%s: expected %s, got %.24s%s", typed_fields[i].path, expected[t],
            given ? given : "?", given && strlen(given) > 24 ? "..." : "");
        free(given);
    }
}

/* The fields of "dataset" when it is an object. */
static void check_dataset(const json_t *dataset, char *errors, size_t len)
{
    static const char *const keys[] = {"name", "limit", "validation", "images", "labels", NULL};
    const char *key;
    json_t *val;
    if (dataset && !json_is_string(dataset) && !json_is_object(dataset))
        bad(errors, len, "dataset: a data set name, or {\"name\", \"limit\", \"validation\"}");
    if (!json_is_object(dataset))
        return;
    json_object_foreach((json_t *)dataset, key, val)
    {
        if (!one_of(key, keys))
            bad(errors, len,
                "dataset.%s: unknown field (known: name, limit, validation; images and labels: uploaded IDX "
                "data sets)",
                key);
    }
    if (!json_object_get(dataset, "images") != !json_object_get(dataset, "labels"))
        bad(errors, len, "dataset: images and labels come together (two uploaded IDX data sets)");
}

/* Every field of the body on its own: the problems, all of them, into errors. */
static void check_fields(const trainreq_env *env, const json_t *body, char *errors, size_t len)
{
    static const char *const keys[] = {"model", "dataset", "recipe", "promote", "dry_run", NULL};
    static const char *const promotes[] = {"never", "always", "if_better", NULL};
    char path[4096];
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)body, key, val)
    {
        if (!one_of(key, keys))
            bad(errors, len, "%s: unknown field (known: model, dataset, recipe, promote, dry_run)", key);
    }
    const json_t *model = json_object_get(body, "model"), *recipe = json_object_get(body, "recipe");
    const json_t *prom = json_object_get(body, "promote");
    if (!json_is_string(model))
        bad(errors, len, "model: required, the name of a configured model");
    else if (!versions_configured(env->ver, json_string_value(model), path, sizeof path))
        bad(errors, len, "model: '%s' is not configured (GET /v1/models lists them)",
            json_string_value(model));
    if (recipe && !json_is_object(recipe))
        bad(errors, len, "recipe: must be an object of overrides");
    const json_t *mr = json_object_get(recipe, "max_runtime_seconds"); /* a number: check_types */
    if (mr && (json_number_value(mr) <= 0 || json_number_value(mr) > MAX_RUNTIME_SECONDS))
        bad(errors, len, "recipe.max_runtime_seconds: a number of seconds in (0, %d]", MAX_RUNTIME_SECONDS);
    if (prom && !one_of(json_string_value(prom), promotes))
        bad(errors, len, "promote: one of \"never\", \"always\", \"if_better\"");
    check_dataset(json_object_get(body, "dataset"), errors, len);
}

/* Whether an uploaded data set can train model: only text models take one (jsonl), and
 * every label in it must be one of the model's (by name or index). Fills why if not. */
static void check_upload_fits(const char *model, const glia_recipe *r, const json_t *meta, char *why,
                              size_t len)
{
    glia_manifest m;
    glia_err err = {0};
    const glia_data_set *upload = glia_data_upload(json_string_value(json_object_get(meta, "format")));
    const glia_data_kind kind = glia_recipe_kind(r);
    if (kind == GLIA_DATA_PAIRS) {
        if (!upload || upload->kind != GLIA_DATA_PAIRS)
            snprintf(why, len, "model %s translates: it trains on translation pairs (tsv uploads)", model);
        return;
    }
    if (kind != GLIA_DATA_TEXTS || !upload || upload->kind != GLIA_DATA_TEXTS) {
        snprintf(why, len,
                 "model %s trains on images (%s); uploaded data sets (jsonl) train text models only", model,
                 r->dataset);
        return;
    }
    if (glia_manifest_load(r->model, &m, &err) != GLIA_OK) {
        snprintf(why, len, "%s", err.msg);
        return;
    }
    const char *key;
    json_t *count;
    json_object_foreach(json_object_get(meta, "labels"), key, count)
    {
        char *end;
        long idx = strtol(key, &end, 10);
        int ok = !*end && idx >= 0 && idx < m.nlabels;
        for (int i = 0; !ok && i < m.nlabels; i++)
            ok = strcmp(key, m.labels[i]) == 0;
        if (!ok) {
            snprintf(why, len, "label '%s' (%lld records) is not one of model %s's %d labels", key,
                     (long long)json_integer_value(count), model, m.nlabels);
            break;
        }
    }
    glia_manifest_free(&m);
}

/* The record's "dataset" for an uploaded IDX pair (NULL with why when it cannot train the
 * recipe's model). Sets r's images and labels files. */
static json_t *image_upload(const trainreq_env *env, glia_recipe *r, const json_t *images,
                            const json_t *labels, char *why, size_t len)
{
    char ipath[4300], lpath[4300];
    json_t *im = NULL, *lb = NULL, *out = NULL;
    const glia_data_set *up;
    if (!env->data || !json_is_string(images) || !json_is_string(labels) ||
        !datasets_find(env->data, json_string_value(images), ipath, sizeof ipath, &im) ||
        !datasets_find(env->data, json_string_value(labels), lpath, sizeof lpath, &lb))
        snprintf(why, len, "images and labels must name uploaded data sets (GET /v1/datasets lists them)");
    else if (glia_recipe_kind(r) != GLIA_DATA_IMAGES)
        snprintf(why, len, "IDX images train image models; this model trains on %s", r->dataset);
    else if (!(up = glia_data_upload(json_string_value(json_object_get(im, "format")))) ||
             up->kind != GLIA_DATA_IMAGES || !up->with ||
             strcmp(json_string_value(json_object_get(lb, "format")), up->with) != 0)
        snprintf(why, len, "images must be an idx-images upload and labels an idx-labels one");
    else if (!json_equal(json_object_get(im, "records"), json_object_get(lb, "records")))
        snprintf(why, len, "%lld images but %lld labels",
                 (long long)json_integer_value(json_object_get(im, "records")),
                 (long long)json_integer_value(json_object_get(lb, "records")));
    else {
        snprintf(r->images_file, sizeof r->images_file, "%s", ipath);
        snprintf(r->labels_file, sizeof r->labels_file, "%s", lpath);
        out = json_pack("{s:O, s:O, s:s, s:s, s:O}", "images", images, "labels", labels, "images_file", ipath,
                        "labels_file", lpath, "records", json_object_get(im, "records"));
    }
    json_decref(im);
    json_decref(lb);
    return out;
}

/* A data set named by the body that is not the recipe's own: an uploaded one it can train
 * on becomes the record's "dataset" (and r's file). 1 when it was taken, 0 when there is
 * no such upload, -1 with why when there is but it does not fit the model. */
static int named_upload(const trainreq_env *env, const char *model, const char *name, glia_recipe *r,
                        json_t *rec, char *why, size_t len)
{
    char file[4300];
    json_t *meta = NULL;
    if (!env->data || !datasets_find(env->data, name, file, sizeof file, &meta))
        return 0;
    check_upload_fits(model, r, meta, why, len);
    if (!why[0]) {
        json_object_set_new(rec, "dataset",
                            json_pack("{s:s, s:s, s:O}", "name", name, "file", file, "records",
                                      json_object_get(meta, "records")));
        snprintf(r->dataset_file, sizeof r->dataset_file, "%s", file);
    }
    json_decref(meta);
    return why[0] ? -1 : 1;
}

/* The body's "dataset" resolved into rec's: an uploaded IDX pair, an uploaded data set by
 * name, or the recipe's own data set with its limits. 0 or the status of the problem. */
static int resolve_dataset(const trainreq_env *env, const json_t *body, glia_recipe *r, json_t *rec,
                           problem *p)
{
    char why[512] = "";
    const char *model = json_string_value(json_object_get(body, "model"));
    const json_t *dataset = json_object_get(body, "dataset");
    const json_t *name = json_is_object(dataset) ? json_object_get(dataset, "name") : dataset;
    if (json_is_object(dataset) && json_object_get(dataset, "images")) {
        json_t *ds = image_upload(env, r, json_object_get(dataset, "images"),
                                  json_object_get(dataset, "labels"), why, sizeof why);
        if (!ds)
            return problem_fail(p, 422, "dataset: %s", why);
        json_object_set_new(rec, "dataset", ds);
        name = NULL;
    }
    if (json_is_string(name) && strcmp(json_string_value(name), r->dataset) != 0) {
        int taken = named_upload(env, model, json_string_value(name), r, rec, why, sizeof why);
        if (taken < 0)
            return problem_fail(p, 422, "dataset: %s", why);
        if (taken)
            name = NULL;
    }
    if (name && (!json_is_string(name) || strcmp(json_string_value(name), r->dataset) != 0))
        return problem_fail(
            p, 422,
            "dataset: '%s' is neither model %s's data set ('%s') nor an uploaded one (GET /v1/datasets "
            "lists them)",
            json_is_string(name) ? json_string_value(name) : "?", model, r->dataset);
    if (!r->dataset_file[0] && !r->images_file[0])
        json_object_set_new(rec, "dataset",
                            json_pack("{s:s, s:I, s:I}", "name", r->dataset, "limit", (json_int_t)r->limit,
                                      "validation", (json_int_t)r->validation));
    return 0;
}

int trainreq_parse(const trainreq_env *env, const json_t *body, trainreq *out, problem *p)
{
    char errors[sizeof p->detail] = "";
    memset(out, 0, sizeof *out);
    if (!json_is_object(body))
        return problem_fail(
            p, 400, "the body must be a JSON object {\"model\", \"dataset\", \"recipe\", \"promote\"}");
    check_types(body, errors, sizeof errors);
    if (errors[0]) /* a client's encoding bug, before what the values mean */
        return problem_fail(p, 400, "%s", errors);
    check_fields(env, body, errors, sizeof errors);
    if (errors[0])
        return problem_fail(p, 422, "%s", errors);
    /* the description, then the recipe it describes: built exactly as the job thread will */
    const json_t *recipe = json_object_get(body, "recipe"), *prom = json_object_get(body, "promote");
    const json_t *dataset = json_object_get(body, "dataset");
    json_t *rec = json_pack("{s:O, s:s, s:o}", "model", json_object_get(body, "model"), "promote",
                            prom ? json_string_value(prom) : "never", "recipe",
                            recipe ? json_deep_copy(recipe) : json_object());
    if (json_is_object(dataset))
        json_object_set_new(rec, "dataset", json_deep_copy(dataset));
    glia_recipe r;
    glia_err err = {0};
    int code = 0;
    if (trainreq_recipe(env, rec, &r, &err) != GLIA_OK)
        code = problem_fail(p, 422, "%s", err.msg);
    else
        code = resolve_dataset(env, body, &r, rec, p);
    if (code) {
        json_decref(rec);
        return code;
    }
    out->rec = rec;
    out->effective =
        json_pack("{s:i, s:I, s:s, s:f, s:s, s:i, s:f}", "epochs", r.epochs, "seed", (json_int_t)r.seed,
                  "optimizer", glia_optim_kind_name(r.optim.kind), "lr", (double)r.optim.lr, "schedule",
                  glia_sched_kind_name(r.sched.kind), "batch_size", r.batch.size, "ema", (double)r.ema);
    out->epochs = r.epochs;
    out->dry_run = json_is_true(json_object_get(body, "dry_run"));
    return 0;
}

void trainreq_release(trainreq *t)
{
    json_decref(t->rec);
    json_decref(t->effective);
    memset(t, 0, sizeof *t);
}
