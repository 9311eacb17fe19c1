/*
 * repository.c (routes) - the model repository and version labels over HTTP (issue 14):
 * Triton's repository extension, POST /v2/repository/index and
 * POST /v2/repository/models/{name}/load|unload (admin; errors as {"error": ...}), and
 * GET|PUT /v1/models/{name}/labels (PUT is admin; errors as problem+json).
 */
#include <stdio.h>
#include <string.h>

#include "daemon/routes/routes.h"

/* A config model in the index: its one version, READY or UNAVAILABLE with why. */
static json_t *config_model_row(const registry_entry *e)
{
    char version[32] = "";
    if (e->model)
        snprintf(version, sizeof version, "%ld", e->model->bundle.manifest.version);
    return json_pack("{s:s, s:s, s:s, s:s}", "name", e->name, "version", version, "state",
                     e->model ? "READY" : "UNAVAILABLE", "reason", e->last_error);
}

http_ret route_repo_index(http_request *r, const route_params *p)
{
    server *s = route_server(r);
    http_ret ret;
    int ready_only = 0;
    if (r->len > 0) { /* {"ready": true} keeps only what can serve */
        json_t *body = http_body_json(r, 0, &ret), *ready;
        if (!body)
            return ret;
        ready = json_object_get(body, "ready");
        if (!json_is_object(body) || (ready && !json_is_boolean(ready))) {
            json_decref(body);
            return http_fail(r, 400, "the body is an object whose optional \"ready\" is true or false");
        }
        ready_only = json_is_true(ready);
        json_decref(body);
    }
    registry_entry *e;
    int n = registry_list(s->d.reg, &e);
    json_t *index = s->d.repo ? repository_index(s->d.repo, ready_only) : json_array();
    if (n < 0 || !index) {
        json_decref(index);
        if (n >= 0)
            registry_list_free(e, n);
        return http_fail(r, 500, "out of memory");
    }
    for (int i = 0; i < n; i++)
        if (!e[i].repository && (!ready_only || e[i].model))
            json_array_append_new(index, config_model_row(&e[i]));
    registry_list_free(e, n);
    return http_reply_json(r, 200, index);
}

/* Is name a model of gliad's config (not of the repository)? */
static int is_config_model(server *s, const char *name)
{
    registry_entry *e;
    int n = registry_list(s->d.reg, &e), found = 0;
    for (int i = 0; i < n; i++)
        found |= !e[i].repository && strcmp(e[i].name, name) == 0;
    if (n >= 0)
        registry_list_free(e, n);
    return found;
}

http_ret route_repo_load(http_request *r, const route_params *p)
{
    server *s = route_server(r);
    glia_err err = {0};
    glia_status rc;
    if (is_config_model(s, p->name)) /* a config model: load means reload its bundle */
        rc = s->d.reload(s->d.user, p->name, &err);
    else if (s->d.repo)
        rc = repository_load(s->d.repo, p->name, &err);
    else
        rc = glia_err_set(&err, GLIA_ENOTFOUND, "no model named '%s' (and no model_repository is configured)",
                          p->name);
    if (rc != GLIA_OK)
        return http_fail(r, rc == GLIA_ENOTFOUND ? 404 : 400, "%s", err.msg);
    return http_reply_json(r, 200, json_object());
}

http_ret route_repo_unload(http_request *r, const route_params *p)
{
    server *s = route_server(r);
    glia_err err = {0};
    if (is_config_model(s, p->name))
        return http_fail(
            r, 400, "model '%s' comes from gliad's config: remove it from models: and reload to unload it",
            p->name);
    if (!s->d.repo)
        return http_fail(r, 404, "no model named '%s' (and no model_repository is configured)", p->name);
    glia_status rc = repository_unload(s->d.repo, p->name, &err);
    if (rc != GLIA_OK)
        return http_fail(r, rc == GLIA_ENOTFOUND ? 404 : 500, "%s", err.msg);
    return http_reply_json(r, 200, json_object());
}

/* {"model", "stable", "canary", "canary_percent", "loaded_versions", "default_version"} of
 * the model named, or NULL when there is none. A config model's stable version is the one
 * it serves; it has no canary. */
static json_t *labels_of(server *s, const char *name)
{
    registry_entry *e;
    json_t *j = NULL;
    int n = registry_list(s->d.reg, &e);
    for (int i = 0; i < n && !j; i++) {
        if (strcmp(e[i].name, name) != 0)
            continue;
        const long current = e[i].model ? e[i].model->bundle.manifest.version : 0;
        const registry_labels *l = &e[i].labels;
        const long stable = e[i].repository ? l->stable : current;
        json_t *loaded = json_array();
        long versions[REGISTRY_MAX_VERSIONS];
        int count = registry_loaded_versions(s->d.reg, name, versions, REGISTRY_MAX_VERSIONS);
        for (int k = 0; k < count && k < REGISTRY_MAX_VERSIONS; k++)
            json_array_append_new(loaded, json_integer(versions[k]));
        j = json_pack("{s:s, s:o, s:o, s:i, s:o, s:o}", "model", name, "stable",
                      stable > 0 ? json_integer(stable) : json_null(), "canary",
                      l->canary > 0 ? json_integer(l->canary) : json_null(), "canary_percent",
                      l->canary_percent, "loaded_versions", loaded, "default_version",
                      current > 0 ? json_integer(current) : json_null());
    }
    if (n >= 0)
        registry_list_free(e, n);
    return j;
}

http_ret route_labels_get(http_request *r, const route_params *p)
{
    json_t *j = labels_of(route_server(r), p->name);
    if (!j)
        return http_fail(r, 404, "no model named '%s' (GET /v1/models lists them)", p->name);
    return http_reply_json(r, 200, j);
}

/* A label's value in body: absent or null = 0 (none), else a positive integer; -1 when bad. */
static long label_value(const json_t *body, const char *key, long max)
{
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return -1;
    return (long)json_integer_value(v);
}

http_ret route_labels_put(http_request *r, const route_params *p)
{
    server *s = route_server(r);
    http_ret ret;
    const char *key;
    json_t *value, *body = http_body_json(r, 0, &ret);
    if (!body)
        return ret;
    if (!json_is_object(body)) {
        json_decref(body);
        return http_fail(r, 400,
                         "the body is an object: {\"stable\": N, \"canary\": N, \"canary_percent\": P}");
    }
    registry_labels labels = {label_value(body, "stable", 1L << 40), label_value(body, "canary", 1L << 40),
                              (int)label_value(body, "canary_percent", 100)};
    char bad[64] = ""; /* copied: the key goes with the body */
    json_object_foreach(body, key, value)
    {
        if (strcmp(key, "stable") && strcmp(key, "canary") && strcmp(key, "canary_percent"))
            snprintf(bad, sizeof bad, "%s", key);
    }
    json_decref(body);
    if (bad[0])
        return http_fail(r, 400, "unknown field '%s': the labels are stable, canary and canary_percent", bad);
    if (labels.stable < 0 || labels.canary < 0)
        return http_fail(r, 400, "stable and canary are positive version numbers (or null for none)");
    if (labels.canary_percent < 0)
        return http_fail(r, 400, "canary_percent is an integer from 0 to 100");
    if (labels.canary_percent > 0 && !labels.canary)
        return http_fail(r, 400, "canary_percent needs a canary version");
    if (is_config_model(s, p->name)) { /* one version serves: stable is a promotion, no canary */
        json_t *out = NULL;
        problem pr = {0};
        if (labels.canary)
            return http_fail(r, 409,
                             "model '%s' comes from gliad's config and serves one version; a canary "
                             "needs a model of the model repository",
                             p->name);
        if (labels.stable) {
            if (!s->d.jobs)
                return route_training_off(r);
            int status = jobs_promote(s->d.jobs, p->name, labels.stable, &out, &pr);
            json_decref(out);
            if (status != 200)
                return route_answer_job(r, status, NULL, &pr, NULL);
        }
    } else if (!s->d.repo || !repository_has(s->d.repo, p->name)) {
        return http_fail(r, 404, "no model named '%s' (GET /v1/models lists them)", p->name);
    } else {
        glia_err err = {0};
        glia_status rc = repository_set_labels(s->d.repo, p->name, &labels, &err);
        if (rc != GLIA_OK)
            return http_fail(r, rc == GLIA_ENOTFOUND ? 404 : rc == GLIA_EINVAL ? 409 : 500, "%s", err.msg);
    }
    return route_labels_get(r, p);
}
