/* cors.c - see cors.h. */
#include "daemon/cors.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cors {
    pthread_mutex_t mu;
    int n;                            /* 0: CORS off */
    int any;                          /* "*" */
    char (*origins)[CORS_ORIGIN_MAX]; /* owned */
    int max_age_s;
};

glia_status cors_new(cors **out, glia_err *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    pthread_mutex_init(&(*out)->mu, NULL);
    return GLIA_OK;
}

void cors_free(cors *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->origins);
    free(c);
}

static int is_lower_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* An origin is compared byte for byte with what a browser sends (the Fetch standard's
 * serialization: lower-case scheme and host, no default port rule applied here, no path),
 * so anything a browser would never send is refused now rather than never matching. */
int cors_origin_check(const char *origin, char *why, size_t len)
{
    const char *p = origin, *host;
    if (strcmp(origin, "*") == 0)
        return 0;
    if (strlen(origin) >= CORS_ORIGIN_MAX) {
        snprintf(why, len, "longer than %d bytes", CORS_ORIGIN_MAX - 1);
        return -1;
    }
    if (strcmp(origin, "null") == 0) {
        snprintf(why, len,
                 "\"null\" is the origin of sandboxed frames and local files, which any page can "
                 "forge; it cannot be allowed");
        return -1;
    }
    while (is_lower_alnum(*p) || *p == '+' || *p == '.' || *p == '-')
        p++;
    if (p == origin || !(origin[0] >= 'a' && origin[0] <= 'z') || strncmp(p, "://", 3) != 0) {
        snprintf(why, len,
                 "not an origin: expected scheme://host[:port] in lower case, e.g. "
                 "https://console.example.com");
        return -1;
    }
    host = p += 3;
    if (*p == '[') { /* an IPv6 literal */
        while (*p && *p != ']')
            p++;
        if (*p == ']')
            p++;
    } else {
        while (is_lower_alnum(*p) || *p == '.' || *p == '-')
            p++;
    }
    if (p == host || (host[0] == '[' && p[-1] != ']')) {
        snprintf(why, len, "the host is missing or malformed (a browser sends it in lower case)");
        return -1;
    }
    if (*p == ':') {
        long port = 0;
        const char *digits = ++p;
        while (*p >= '0' && *p <= '9' && port <= 65535)
            port = port * 10 + (*p++ - '0');
        if (p == digits || port < 1 || port > 65535) {
            snprintf(why, len, "the port must be 1 to 65535");
            return -1;
        }
    }
    if (*p) {
        snprintf(why, len,
                 "an origin has no path, query or upper-case letters (what follows the host "
                 "and port: '%s')",
                 p);
        return -1;
    }
    return 0;
}

glia_status cors_set(cors *c, const char (*origins)[CORS_ORIGIN_MAX], int n, int max_age_s, glia_err *err)
{
    char(*copy)[CORS_ORIGIN_MAX] = NULL;
    int any = 0;
    if (n > 0 && !(copy = calloc((size_t)n, sizeof *copy)))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        char why[256];
        if (cors_origin_check(origins[i], why, sizeof why) != 0 || (strcmp(origins[i], "*") == 0 && n > 1)) {
            free(copy);
            return glia_err_set(err, GLIA_EINVAL, "'%s' cannot be an allowed origin: %s", origins[i],
                                strcmp(origins[i], "*") == 0 ? "\"*\" allows every origin and must be alone"
                                                             : why);
        }
        snprintf(copy[i], sizeof copy[i], "%s", origins[i]);
        any |= strcmp(origins[i], "*") == 0;
    }
    pthread_mutex_lock(&c->mu);
    char(*old)[CORS_ORIGIN_MAX] = c->origins;
    c->origins = copy;
    c->n = n;
    c->any = any;
    c->max_age_s = max_age_s;
    pthread_mutex_unlock(&c->mu);
    free(old);
    return GLIA_OK;
}

void cors_decide(cors *c, const char *origin, cors_decision *d)
{
    memset(d, 0, sizeof *d);
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    d->on = c->n > 0;
    d->max_age_s = c->max_age_s;
    if (d->on && origin && c->any) {
        d->allowed = 1;
        snprintf(d->allow_origin, sizeof d->allow_origin, "*");
    }
    for (int i = 0; d->on && origin && !c->any && i < c->n; i++)
        if (strcmp(origin, c->origins[i]) == 0) {
            d->allowed = 1;
            snprintf(d->allow_origin, sizeof d->allow_origin, "%s", origin);
            break;
        }
    pthread_mutex_unlock(&c->mu);
}
