/*
 * console.c - the web console's files (issue 15): GET / (index.html) and GET
 * /console/{name} (its scripts, styles and images), HEAD too. Open routes: the page holds
 * nothing secret, and every call it makes goes through the documented API with the
 * caller's own token.
 *
 * Caching: every file is answered with a strong ETag (console.h) and "Cache-Control:
 * no-cache", so a browser keeps its copy but asks each time, and a 304 costs one round
 * trip without a body. The names are not content-hashed (there is no build step to hash
 * them), so a long max-age would keep an old app.js beside a new index.html after an
 * upgrade; revalidation is the one policy that is always right here.
 *
 * Every answer also carries a Content-Security-Policy that lets the page load and call
 * nothing but gliad itself (no CDN, no inline script), and nosniff.
 */
#include <string.h>

#include "daemon/console.h"
#include "daemon/routes/routes.h"

static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: "
                          "blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors "
                          "'none'; form-action 'self'";

static http_ret serve(http_request *r, const char *name)
{
    const config *c = route_server(r)->d.cfg;
    console_file f;
    glia_err err = {0};
    if (!c->console_enabled)
        return http_fail(r, 404, "the web console is off on this server (console.enabled: false)");
    glia_status rc = console_read(c->console_dir, name, &f, &err);
    if (rc == GLIA_EINVAL || rc == GLIA_ENOTFOUND) {
        if (strcmp(name, "index.html") == 0) /* the directory itself is missing or incomplete */
            return http_fail(r, 404, "the web console is not installed here: console.dir has no index.html");
        return http_fail(r, 404, "%s", err.msg);
    }
    if (rc != GLIA_OK)
        return http_fail(r, rc == GLIA_ENOMEM ? 503 : 500, "%s", err.msg);
    const char *names[] = {"ETag", "Cache-Control", "Content-Security-Policy", "X-Content-Type-Options"};
    const char *values[] = {f.etag, "no-cache", csp, "nosniff"};
    const char *inm = http_header(r, "If-None-Match");
    http_ret ret;
    if (inm && console_etag_matches(inm, f.etag)) /* RFC 9110 15.4.5: no body, the same validators */
        ret = http_reply_headers(r, 304, NULL, "", 0, names, values, 2);
    else
        ret = http_reply_headers(r, 200, f.type, f.data, f.len, names, values, 4);
    console_file_free(&f);
    return ret;
}

http_ret route_console_index(http_request *r, const route_params *p)
{
    return serve(r, "index.html");
}

http_ret route_console_file(http_request *r, const route_params *p)
{
    return serve(r, p->name);
}
