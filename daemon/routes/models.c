/*
 * models.c - the models and their versions: GET /v1/models, GET /v1/models/{name} (with
 * every version the training jobs know), POST /v1/models/{name}/reload and
 * POST /v1/models/{name}/versions/{version}/promote (admin).
 */
#include <string.h>

#include "daemon/routes/routes.h"

http_ret route_models_list(http_request *r, const route_params *p)
{
    registry_entry *e;
    int n = registry_list(route_server(r)->d.reg, &e);
    if (n < 0)
        return http_fail(r, 500, "out of memory");
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, describe_model(&e[i]));
    registry_list_free(e, n);
    if (!server_is_admin(r)) /* file paths show the machine's layout: the admin's to see */
        describe_hide_paths(a);
    return http_reply_json(r, 200, json_pack("{s:o}", "models", a));
}

/* The description of the model configured as name (with its versions if asked), or NULL
 * when there is none; *listed is 0 when the registry could not even be listed. */
static json_t *describe_named(server *s, const char *name, int with_versions, int *listed)
{
    registry_entry *e;
    int n = registry_list(s->d.reg, &e);
    *listed = n >= 0;
    json_t *j = NULL;
    for (int i = 0; i < n && !j; i++)
        if (strcmp(e[i].name, name) == 0)
            j = describe_model(&e[i]);
    registry_list_free(e, n > 0 ? n : 0);
    json_t *versions = j && with_versions && s->d.jobs ? jobs_versions(s->d.jobs, name) : NULL;
    if (versions)
        json_object_set_new(j, "versions", versions);
    return j;
}

http_ret route_model_get(http_request *r, const route_params *p)
{
    int listed;
    json_t *j = describe_named(route_server(r), p->name, 1, &listed);
    if (!listed)
        return http_fail(r, 500, "out of memory");
    if (!j)
        return http_fail(r, 404, "no model named '%s' (GET /v1/models lists them)", p->name);
    if (!server_is_admin(r))
        describe_hide_paths(j);
    return http_reply_json(r, 200, j);
}

http_ret route_model_reload(http_request *r, const route_params *p)
{
    server *s = route_server(r);
    glia_err err = {0};
    if (s->d.reload(s->d.user, p->name, &err) != GLIA_OK)
        return http_fail(r, err.code == GLIA_ENOTFOUND ? 404 : 422, "%s", err.msg);
    int listed;
    return http_reply_json(r, 200, describe_named(s, p->name, 0, &listed));
}

http_ret route_version_promote(http_request *r, const route_params *p)
{
    server *s = route_server(r);
    json_t *out = NULL;
    problem pr = {0};
    if (!s->d.jobs)
        return route_training_off(r);
    if (p->version < 1)
        return http_fail(r, 400, "the version must be a positive integer");
    int status = jobs_promote(s->d.jobs, p->name, p->version, &out, &pr);
    return route_answer_job(r, status, out, &pr, NULL);
}
