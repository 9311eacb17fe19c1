/*
 * versions.c - see versions.h.
 *
 * Version numbers come from the directory names under STATE/models/NAME and from the
 * shipped manifest; nothing is cached, so what is on disk is always the answer (a
 * version published by the training thread is seen by the next HTTP request).
 */
#include "daemon/versions.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/afile.h"
#include "core/model/manifest.h"
#include "core/train/run.h"
#include "daemon/statedir.h"

struct versions {
    versions_config cfg;
    char state[4096];
};

glia_status versions_open(const versions_config *cfg, versions **out, glia_err *err)
{
    *out = NULL;
    versions *v = calloc(1, sizeof *v);
    if (!v)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    v->cfg = *cfg;
    snprintf(v->state, sizeof v->state, "%s", cfg->state_dir);
    v->cfg.state_dir = v->state;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/models", v->state);
    glia_status rc = statedir_mkdirs(dir, err);
    if (rc != GLIA_OK) {
        glia_err_prefix(err, "state_dir");
        free(v);
        return rc;
    }
    statedir_sweep(dir, 2); /* unfinished serving files (NAME/serving.tmp.*), version files */
    *out = v;
    return GLIA_OK;
}

void versions_close(versions *v)
{
    free(v);
}

const char *versions_configured(versions *v, const char *model, char *buf, size_t len)
{
    return v->cfg.model_path(v->cfg.user, model, buf, len);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Is model one of the model repository's? */
static int in_repository(const versions *v, const char *model)
{
    return v->cfg.repo && repository_has(v->cfg.repo, model);
}

/* STATE/models/NAME: the trained versions and the serving file; DIR/NAME for a model of
 * the repository. */
static void model_dir(const versions *v, const char *model, char *buf, size_t len)
{
    if (!in_repository(v, model) || !repository_model_dir(v->cfg.repo, model, buf, len))
        snprintf(buf, len, "%s/models/%s", v->state, model);
}

/* The manifest of a bundle path: the path itself, or DIR/model.yaml. */
static void manifest_of(const char *bundle, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", bundle, is_dir(bundle) ? "/model.yaml" : "");
}

/* The manifest version of the configured bundle, or 0. */
static long shipped_version(versions *v, const char *model)
{
    char path[4096], manifest[4200];
    glia_manifest m;
    glia_err err = {0};
    if (in_repository(v, model) || !versions_configured(v, model, path, sizeof path))
        return 0; /* a repository model's versions are all directories */
    manifest_of(path, manifest, sizeof manifest);
    if (glia_manifest_load(manifest, &m, &err) != GLIA_OK)
        return 0;
    long version = m.version;
    glia_manifest_free(&m);
    return version;
}

/* The highest trained version of model on disk (0 if none). */
static long newest_version(versions *v, const char *model)
{
    char dir[4200];
    model_dir(v, model, dir, sizeof dir);
    DIR *d = opendir(dir);
    long best = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *end;
        long n = strtol(e->d_name, &end, 10);
        if (*e->d_name && !*end && n > best)
            best = n;
    }
    if (d)
        closedir(d);
    return best;
}

long versions_next(versions *v, const char *model)
{
    long shipped = shipped_version(v, model), newest = newest_version(v, model);
    return (shipped > newest ? shipped : newest) + 1;
}

/* The version that serves model (the serving file), 0 for the shipped one. */
static long serving_version(versions *v, const char *model)
{
    char path[4300];
    char *text = NULL;
    size_t len = 0;
    glia_err ignored = {0};
    model_dir(v, model, path, sizeof path);
    strncat(path, "/serving", sizeof path - strlen(path) - 1);
    if (glia_file_read(path, 64, "a serving file", &text, &len, &ignored) != GLIA_OK)
        return 0; /* absent: nothing was ever promoted */
    long version = strtol(text, NULL, 10);
    free(text);
    return version > 0 ? version : 0;
}

glia_status versions_publish(versions *v, const char *model, long version, const char *dir, glia_err *err)
{
    char versions_dir[4200], final_dir[4300];
    model_dir(v, model, versions_dir, sizeof versions_dir);
    glia_status rc = statedir_mkdirs(versions_dir, err);
    if (rc != GLIA_OK)
        return rc;
    snprintf(final_dir, sizeof final_dir, "%s/%ld", versions_dir, version);
    statedir_remove(final_dir); /* a half-published earlier attempt of this same version */
    if (rename(dir, final_dir) != 0)
        return glia_err_set(err, GLIA_EIO, "cannot publish %s: %s%s", final_dir, strerror(errno),
                            errno == EXDEV ? " (state_dir and model_repository must be on one filesystem)"
                                           : "");
    if (in_repository(v, model)) /* serve it as soon as its policy names it, not at the next poll */
        repository_scan(v->cfg.repo);
    return GLIA_OK;
}

const char *versions_serving_path(versions *v, const char *model, char *buf, size_t len)
{
    long version = in_repository(v, model) ? 0 : serving_version(v, model);
    if (version <= 0)
        return NULL;
    char dir[4200];
    model_dir(v, model, dir, sizeof dir);
    snprintf(buf, len, "%s/%ld", dir, version);
    return is_dir(buf) ? buf : NULL;
}

/* Writes the serving file: the version number, 0 for the shipped one. */
static glia_status record_serving(const char *file, long version, glia_err *err)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", version);
    return glia_afile_write(file, text, (size_t)n, 0600, err);
}

/* A repository model's promotion: version becomes its stable label. The canary stays,
 * unless it is that same version (it has become the stable one) or no longer loaded (a
 * promotion must not fail for a label the policy already retired). */
static int promote_in_repository(versions *v, const char *model, long version, problem *p)
{
    registry_labels labels = {version, 0, 0};
    registry_entry *e;
    glia_err err = {0};
    int n = registry_list(v->cfg.reg, &e);
    for (int i = 0; i < n; i++) {
        registry_model *canary = strcmp(e[i].name, model) == 0 && e[i].labels.canary != version
                                     ? registry_get_version(v->cfg.reg, model, e[i].labels.canary)
                                     : NULL;
        if (canary) {
            labels.canary = e[i].labels.canary;
            labels.canary_percent = e[i].labels.canary_percent;
        }
        registry_model_unref(canary);
    }
    if (n >= 0)
        registry_list_free(e, n);
    glia_status rc = repository_set_labels(v->cfg.repo, model, &labels, &err);
    if (rc == GLIA_OK)
        return 0;
    return problem_fail(p,
                        rc == GLIA_ENOTFOUND ? 404
                        : rc == GLIA_EINVAL  ? 422
                                             : 500,
                        "cannot make version %ld of '%s' stable: %s", version, model, err.msg);
}

int versions_promote(versions *v, const char *model, long version, problem *p)
{
    char path[4200], file[4300];
    glia_err err = {0};
    if (in_repository(v, model))
        return promote_in_repository(v, model, version, p);
    int is_shipped = version == shipped_version(v, model); /* trained versions are numbered above it */
    if (is_shipped) {
        if (!versions_configured(v, model, path, sizeof path))
            return problem_fail(p, 404, "no model named '%s' is configured", model);
    } else {
        char dir[4200];
        model_dir(v, model, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/%ld", dir, version);
        if (!is_dir(path))
            return problem_fail(p, 404, "model '%s' has no version %ld (GET /v1/models/%s lists them)", model,
                                version, model);
    }
    model_dir(v, model, file, sizeof file);
    if (statedir_mkdirs(file, &err) != GLIA_OK)
        return problem_fail(p, 500, "%s", err.msg);
    strncat(file, "/serving", sizeof file - strlen(file) - 1);
    long before = serving_version(v, model);
    if (record_serving(file, is_shipped ? 0L : version, &err) != GLIA_OK)
        return problem_fail(p, 500, "%s", err.msg);
    if (registry_serve_path(v->cfg.reg, model, path, &err) != GLIA_OK) {
        glia_err ignored = {0};
        record_serving(file, before, &ignored); /* keep serving, and recording, the old one */
        return problem_fail(p, 422, "version %ld of '%s' does not load: %s", version, model, err.msg);
    }
    return 0;
}

/* {"version", "source", "serving", "evaluation"} of the bundle whose manifest is at path. */
static json_t *describe(const char *manifest, long number, const char *source, int serving)
{
    glia_manifest m;
    glia_err err = {0};
    if (glia_manifest_load(manifest, &m, &err) != GLIA_OK)
        return NULL;
    json_t *e = json_pack("{s:I, s:s, s:b}", "version", (json_int_t)(number > 0 ? number : m.version),
                          "source", source, "serving", serving);
    json_t *eval = json_object();
    if (m.eval_accuracy >= 0)
        json_object_set_new(eval, "accuracy", json_real(m.eval_accuracy));
    if (m.eval_bleu >= 0)
        json_object_set_new(eval, "bleu", json_real(m.eval_bleu));
    if (m.eval_chrf >= 0)
        json_object_set_new(eval, "chrf", json_real(m.eval_chrf));
    json_object_set_new(e, "evaluation", eval);
    glia_manifest_free(&m);
    return e;
}

static int by_number(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Appends to list the versions in dir (its numbered directories holding a model.yaml, in
 * order) as `source`, the one numbered serving marked so. The directory is listed rather
 * than counted up to its highest number, which may be any number a user named a folder. */
static void append_numbered(json_t *list, const char *dir, const char *source, long serving)
{
    long *numbers = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    struct dirent *ent;
    while (d && (ent = readdir(d))) {
        char *end;
        long number = strtol(ent->d_name, &end, 10);
        if (!*ent->d_name || *end || number <= 0)
            continue;
        if (n == cap) {
            long *grown = realloc(numbers, sizeof *numbers * (cap = cap ? 2 * cap : 16));
            if (!grown)
                break;
            numbers = grown;
        }
        numbers[n++] = number;
    }
    if (d)
        closedir(d);
    if (n > 1)
        qsort(numbers, n, sizeof *numbers, by_number);
    for (size_t i = 0; i < n; i++) {
        char manifest[4400];
        struct stat st;
        json_t *e;
        snprintf(manifest, sizeof manifest, "%s/%ld/model.yaml", dir, numbers[i]);
        if (stat(manifest, &st) == 0 && (e = describe(manifest, numbers[i], source, serving == numbers[i])))
            json_array_append_new(list, e);
    }
    free(numbers);
}

json_t *versions_list(versions *v, const char *model)
{
    char path[4096], dir[4200], manifest[4400];
    json_t *list = json_array();
    model_dir(v, model, dir, sizeof dir);
    if (in_repository(v, model)) { /* every numbered directory; serving: the default version */
        registry_model *def = registry_get(v->cfg.reg, model);
        append_numbered(list, dir, "repository", def ? def->bundle.manifest.version : 0);
        registry_model_unref(def);
        return list;
    }
    if (!versions_configured(v, model, path, sizeof path)) {
        json_decref(list);
        return NULL;
    }
    long serving = serving_version(v, model), shipped = shipped_version(v, model);
    manifest_of(path, manifest, sizeof manifest);
    json_t *e = describe(manifest, 0, "shipped", serving == 0 || serving == shipped);
    if (e)
        json_array_append_new(list, e);
    append_numbered(list, dir, "trained", serving);
    return list;
}

glia_status versions_if_better(versions *v, const char *model, const glia_recipe *r, double score,
                               double *serving_score, int *better, glia_err *err)
{
    char serving[4300], configured[4096];
    *better = 0;
    *serving_score = -1;
    const char *path = versions_serving_path(v, model, serving, sizeof serving);
    if (!path)
        path = versions_configured(v, model, configured, sizeof configured);
    if (!path)
        return glia_err_set(err, GLIA_ENOTFOUND, "model '%s' is not configured", model);
    glia_status rc = glia_run_evaluate(r, path, serving_score, err);
    if (rc == GLIA_OK)
        *better = score > *serving_score;
    return rc;
}
