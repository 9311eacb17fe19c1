/*
 * yamlutil.c - see yamlutil.h.
 */
#include "core/base/yamlutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static glia_status parse(yaml_parser_t *parser, glia_yaml *y, glia_err *err)
{
    if (!yaml_parser_load(parser, &y->doc)) {
        /* libyaml reports a failed allocation as an error without a problem or a mark: not
         * the file's fault, and not a syntax error */
        glia_status rc = parser->error == YAML_MEMORY_ERROR
                             ? glia_err_set(err, GLIA_ENOMEM, "%s: out of memory reading YAML", y->name)
                             : glia_err_set(err, GLIA_EFORMAT, "%s:%zu:%zu: YAML syntax error: %s", y->name,
                                            parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                                            parser->problem ? parser->problem : "unknown problem");
        yaml_parser_delete(parser);
        return rc;
    }
    y->loaded = 1;
    yaml_parser_delete(parser);
    return GLIA_OK;
}

glia_status glia_yaml_load_buffer(const char *buf, size_t len, const char *name, glia_yaml *y, glia_err *err)
{
    memset(y, 0, sizeof *y);
    snprintf(y->name, sizeof y->name, "%s", name);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return glia_err_set(err, GLIA_ENOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    return parse(&parser, y, err);
}

glia_status glia_yaml_load_file(const char *path, glia_yaml *y, glia_err *err)
{
    memset(y, 0, sizeof *y);
    snprintf(y->name, sizeof y->name, "%s", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return glia_err_set(err, GLIA_EIO, "%s: cannot open: %s", path, strerror(errno));
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return glia_err_set(err, GLIA_ENOMEM, "%s: out of memory", path);
    }
    yaml_parser_set_input_file(&parser, f);
    glia_status rc = parse(&parser, y, err);
    fclose(f);
    return rc;
}

void glia_yaml_free(glia_yaml *y)
{
    if (y && y->loaded) {
        yaml_document_delete(&y->doc);
        y->loaded = 0;
    }
}

glia_status glia_yaml_error(glia_yaml *y, const yaml_node_t *n, glia_status code, glia_err *err,
                            const char *fmt, ...)
{
    char msg[GLIA_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        return glia_err_set(err, code, "%s:%zu:%zu: %s", y->name, n->start_mark.line + 1,
                            n->start_mark.column + 1, msg);
    return glia_err_set(err, code, "%s: %s", y->name, msg);
}

yaml_node_t *glia_yaml_root(glia_yaml *y)
{
    return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

int glia_yaml_is_map(const yaml_node_t *n)
{
    return n && n->type == YAML_MAPPING_NODE;
}
int glia_yaml_is_seq(const yaml_node_t *n)
{
    return n && n->type == YAML_SEQUENCE_NODE;
}

int glia_yaml_seq_len(const yaml_node_t *n)
{
    return glia_yaml_is_seq(n) ? (int)(n->data.sequence.items.top - n->data.sequence.items.start) : 0;
}

yaml_node_t *glia_yaml_seq_at(glia_yaml *y, yaml_node_t *seq, int i)
{
    if (i < 0 || i >= glia_yaml_seq_len(seq))
        return NULL;
    return yaml_document_get_node(&y->doc, seq->data.sequence.items.start[i]);
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

yaml_node_t *glia_yaml_get(glia_yaml *y, yaml_node_t *map, const char *key)
{
    if (!glia_yaml_is_map(map))
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(scalar(k), key) == 0)
            return yaml_document_get_node(&y->doc, p->value);
    }
    return NULL;
}

glia_status glia_yaml_check_keys(glia_yaml *y, yaml_node_t *map, const char *what, const char *const *allowed,
                                 glia_err *err)
{
    if (!glia_yaml_is_map(map))
        return glia_yaml_error(y, map, GLIA_EINVAL, err, "%s: expected a mapping of keys to values", what);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
        if (!k || k->type != YAML_SCALAR_NODE)
            return glia_yaml_error(y, k, GLIA_EINVAL, err, "%s: keys must be plain strings", what);
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, scalar(k)) == 0;
        if (!known) {
            char list[256] = "";
            size_t used = 0;
            for (const char *const *a = allowed; *a && used < sizeof list; a++)
                used +=
                    (size_t)snprintf(list + used, sizeof list - used, "%s%s", a == allowed ? "" : ", ", *a);
            return glia_yaml_error(y, k, GLIA_EINVAL, err, "%s: unknown key '%s' (allowed: %s)", what,
                                   scalar(k), list);
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = yaml_document_get_node(&y->doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && strcmp(scalar(k2), scalar(k)) == 0)
                return glia_yaml_error(y, k, GLIA_EINVAL, err, "%s: key '%s' appears twice", what, scalar(k));
        }
    }
    return GLIA_OK;
}

static glia_status need_scalar(glia_yaml *y, yaml_node_t *n, const char *key, const char *kind, glia_err *err)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "%s: expected %s", key, kind);
    return GLIA_OK;
}

glia_status glia_yaml_long(glia_yaml *y, yaml_node_t *n, const char *key, long min, long max, long *out,
                           glia_err *err)
{
    glia_status rc = need_scalar(y, n, key, "an integer", err);
    if (rc != GLIA_OK)
        return rc;
    const char *s = scalar(n);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno)
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "%s: expected an integer, got '%s'", key, s);
    if (v < min || v > max)
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "%s: %ld is out of range [%ld, %ld]", key, v, min,
                               max);
    *out = v;
    return GLIA_OK;
}

glia_status glia_yaml_double(glia_yaml *y, yaml_node_t *n, const char *key, double min, double max,
                             double *out, glia_err *err)
{
    glia_status rc = need_scalar(y, n, key, "a number", err);
    if (rc != GLIA_OK)
        return rc;
    const char *s = scalar(n);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v))
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "%s: expected a number, got '%s'", key, s);
    if (v < min || v > max)
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "%s: %g is out of range [%g, %g]", key, v, min, max);
    *out = v;
    return GLIA_OK;
}

glia_status glia_yaml_bool(glia_yaml *y, yaml_node_t *n, const char *key, int *out, glia_err *err)
{
    glia_status rc = need_scalar(y, n, key, "true or false", err);
    if (rc != GLIA_OK)
        return rc;
    if (strcmp(scalar(n), "true") == 0)
        *out = 1;
    else if (strcmp(scalar(n), "false") == 0)
        *out = 0;
    else
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "%s: expected true or false, got '%s'", key,
                               scalar(n));
    return GLIA_OK;
}

glia_status glia_yaml_string(glia_yaml *y, yaml_node_t *n, const char *key, const char **out, glia_err *err)
{
    glia_status rc = need_scalar(y, n, key, "a string", err);
    if (rc == GLIA_OK)
        *out = scalar(n);
    return rc;
}

glia_status glia_yaml_opt_long(glia_yaml *y, yaml_node_t *map, const char *key, long min, long max, long *out,
                               glia_err *err)
{
    yaml_node_t *n = glia_yaml_get(y, map, key);
    return n ? glia_yaml_long(y, n, key, min, max, out, err) : GLIA_OK;
}

glia_status glia_yaml_opt_int(glia_yaml *y, yaml_node_t *map, const char *key, int min, int max, int *out,
                              glia_err *err)
{
    long v = *out;
    glia_status rc = glia_yaml_opt_long(y, map, key, min, max, &v, err);
    if (rc == GLIA_OK)
        *out = (int)v;
    return rc;
}

glia_status glia_yaml_opt_double(glia_yaml *y, yaml_node_t *map, const char *key, double min, double max,
                                 double *out, glia_err *err)
{
    yaml_node_t *n = glia_yaml_get(y, map, key);
    return n ? glia_yaml_double(y, n, key, min, max, out, err) : GLIA_OK;
}

glia_status glia_yaml_opt_float(glia_yaml *y, yaml_node_t *map, const char *key, double min, double max,
                                float *out, glia_err *err)
{
    double v = *out;
    glia_status rc = glia_yaml_opt_double(y, map, key, min, max, &v, err);
    if (rc == GLIA_OK)
        *out = (float)v;
    return rc;
}

glia_status glia_yaml_opt_bool(glia_yaml *y, yaml_node_t *map, const char *key, int *out, glia_err *err)
{
    yaml_node_t *n = glia_yaml_get(y, map, key);
    return n ? glia_yaml_bool(y, n, key, out, err) : GLIA_OK;
}

glia_status glia_yaml_opt_string(glia_yaml *y, yaml_node_t *map, const char *key, const char **out,
                                 glia_err *err)
{
    yaml_node_t *n = glia_yaml_get(y, map, key);
    return n ? glia_yaml_string(y, n, key, out, err) : GLIA_OK;
}
