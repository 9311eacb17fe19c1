/* router.c - see router.h. */
#include "daemon/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The segment of path starting at s: its length up to the next '/' or the end. */
static size_t segment_len(const char *s)
{
    const char *slash = strchr(s, '/');
    return slash ? (size_t)(slash - s) : strlen(s);
}

/* 1 if path has pattern's shape; the variable segments go to p. */
static int path_matches(const char *pattern, const char *path, route_params *p)
{
    memset(p, 0, sizeof *p);
    while (*pattern && *path) {
        if (*pattern++ != '/' || *path++ != '/')
            return 0;
        size_t lp = segment_len(pattern), ls = segment_len(path);
        if (lp == 9 && strncmp(pattern, "{version}", lp) == 0) {
            char *end;
            p->version = strtol(path, &end, 10);
            if (end == path || end != path + ls)
                return 0;
        } else if (pattern[0] == '{') { /* {name}, {id} */
            if (ls == 0 || ls >= sizeof p->name)
                return 0;
            memcpy(p->name, path, ls);
            p->name[ls] = '\0';
        } else if (lp != ls || strncmp(pattern, path, lp) != 0) {
            return 0;
        }
        pattern += lp;
        path += ls;
    }
    return *pattern == '\0' && *path == '\0';
}

static int method_matches(const char *want, const char *method)
{
    return strcmp(want, method) == 0 || (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

router_outcome router_find(const route *rows, size_t n, const char *method, const char *path, router_match *m)
{
    route_params p;
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < n; i++) {
        if (!path_matches(rows[i].pattern, path, &p))
            continue;
        if (method_matches(rows[i].method, method)) {
            m->row = &rows[i];
            m->params = p;
            return ROUTER_FOUND;
        }
        if (!m->row)
            m->row = &rows[i];
        size_t used = strlen(m->allow);
        snprintf(m->allow + used, sizeof m->allow - used, "%s%s", used ? ", " : "", rows[i].method);
    }
    if (!m->row)
        return ROUTER_NOT_FOUND;
    return ROUTER_WRONG_METHOD;
}
