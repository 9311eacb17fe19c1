/*
 * health.c - is gliad alive and ready, and its metrics: GET /healthz and /v2/health/live,
 * GET /readyz and /v2/health/ready (ready = every configured model loaded and not
 * draining; else 503), GET /metrics (Prometheus text 0.0.4: the serving metrics, then
 * the training jobs' families). The /v2 twins answer in the OIP's form.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/routes/routes.h"

http_ret route_live(http_request *r, const route_params *p)
{
    return r->oip ? http_reply_json(r, 200, json_pack("{s:b}", "live", 1))
                  : http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

http_ret route_ready(http_request *r, const route_params *p)
{
    server *s = route_server(r);
    int draining = atomic_load(&s->draining), ready = !draining && registry_ready(s->d.reg);
    if (r->oip)
        return http_reply_json(r, ready ? 200 : 503, json_pack("{s:b}", "ready", ready));
    return http_reply_json(r, ready ? 200 : 503,
                           json_pack("{s:s}", "status",
                                     ready      ? "ready"
                                     : draining ? "draining"
                                                : "loading models"));
}

/* Every series: the queue's gauges, every configured model's state and the training jobs' figures,
 * rendered by the one metrics module. NULL on OOM. */
static char *render_serving(server *s)
{
    registry_entry *e;
    int n = registry_list(s->d.reg, &e);
    if (n < 0)
        return NULL;
    /* one row per model (its default version), then one per other loaded version of a
     * repository model, so that a canary and its stable both show in glia_model_info */
    int rows = n;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < e[i].nversions; k++)
            rows += e[i].versions[k].model && e[i].versions[k].model != e[i].model;
    metrics_model *mm = calloc((size_t)(rows > 0 ? rows : 1), sizeof *mm);
    int m = 0;
    for (int i = 0; mm && i < n; i++) {
        mm[m].name = e[i].name;
        mm[m].version = e[i].model ? e[i].model->bundle.manifest.version : 0;
        mm[m].sha256 = e[i].model ? e[i].model->bundle.sha256 : "";
        mm[m++].loaded = e[i].model != NULL;
        for (int k = 0; k < e[i].nversions; k++) {
            const registry_model *vm = e[i].versions[k].model;
            if (vm && vm != e[i].model)
                mm[m++] = (metrics_model){e[i].name, vm->bundle.manifest.version, vm->bundle.sha256, 1, 1};
        }
    }
    metrics_training train;
    metrics_snapshot snap = {workq_depth(s->d.queue),
                             workq_capacity(s->d.queue),
                             workq_workers(s->d.queue),
                             workq_busy(s->d.queue),
                             mm,
                             mm ? m : 0,
                             s->d.jobs ? jobs_figures(s->d.jobs, &train) : NULL};
    char *text = metrics_render(s->d.met, &snap);
    free(mm);
    registry_list_free(e, n);
    return text;
}

http_ret route_metrics(http_request *r, const route_params *p)
{
    char *text = render_serving(route_server(r));
    if (!text)
        return http_fail(r, 500, "out of memory rendering metrics");
    http_ret ret =
        http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text), NULL, NULL);
    free(text);
    return ret;
}
