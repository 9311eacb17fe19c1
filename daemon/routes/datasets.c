/*
 * datasets.c - users' data sets over HTTP (admin): GET /v1/datasets lists them;
 * POST /v1/datasets?format= streams the body into daemon/datasets.h's upload as it
 * arrives (never whole into memory), under that module's size limit, not limits.body.
 */
#include <stdlib.h>

#include "daemon/routes/routes.h"

static const char *const UPLOADS_OFF = "uploads are off: gliad could not use its state_dir (see its log)";

http_ret route_datasets_list(http_request *r, const route_params *p)
{
    datasets *d = route_server(r)->d.data;
    if (!d)
        return http_fail(r, 503, "%s", UPLOADS_OFF);
    return http_reply_json(r, 200, datasets_list(d));
}

typedef struct {
    dataset_upload upload;
    int open; /* begun and neither finished nor aborted */
} upload_state;

static void upload_free(http_request *r)
{
    upload_state *u = r->state;
    if (u->open) /* the client went away mid-upload */
        datasets_upload_abort(&u->upload);
    free(u);
}

static void upload_write(http_request *r, const char *data, size_t n)
{
    upload_state *u = r->state;
    datasets_upload_write(route_server(r)->d.data, &u->upload, data, n);
}

static http_ret upload_finish(http_request *r)
{
    upload_state *u = r->state;
    json_t *out = NULL;
    problem p = {0};
    u->open = 0;
    int status = datasets_upload_finish(route_server(r)->d.data, &u->upload, &out, &p);
    return status >= 400 ? http_fail(r, status, "%s", p.detail) : http_reply_json(r, status, out);
}

static const http_stream upload_stream = {upload_write, upload_finish};

/* Size and format are checked before a byte of the body is read. */
http_ret route_dataset_upload(http_request *r, const route_params *p)
{
    datasets *d = route_server(r)->d.data;
    problem pr = {0};
    if (!d)
        return http_fail(r, 503, "%s", UPLOADS_OFF);
    /* a replica that does not train would keep the data where no job of the cluster reads it */
    jobs *j = route_server(r)->d.jobs;
    if (j && !jobs_accepting(j, &pr))
        return http_fail(r, pr.status, "%s", pr.detail);
    const char *cl = http_header(r, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)datasets_max_bytes(d))
        return http_fail(
            r, 413, "the data set has %s bytes; the limit is %ld (training.max_dataset in gliad's config)",
            cl, datasets_max_bytes(d));
    upload_state *u = calloc(1, sizeof *u);
    if (!u)
        return HTTP_DROP;
    r->state = u;
    r->state_free = upload_free;
    if (datasets_upload_begin(d, http_query(r, "format"), http_header(r, "Content-Type"), &u->upload, &pr))
        return http_fail(r, pr.status, "%s", pr.detail);
    u->open = 1;
    http_stream_body(r, &upload_stream);
    return HTTP_KEEP;
}
