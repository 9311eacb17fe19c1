/*
 * yamlutil.h - strict reading of small YAML documents (manifests, recipes, config)
 * on top of libyaml's document API.
 *
 * YAML scalars are untyped, so numbers and booleans are parsed here, strictly
 * (strtol/strtod with an end-pointer; only true/false), and every error names the
 * file, line, column and key: "recipe.yaml:7:12: optimizer.lr: expected a number,
 * got 'fast'". Callers list the keys a mapping may have, so a typo is an error, not
 * a silently ignored setting. Aliases are not followed (no billion laughs).
 */
#ifndef GLIA_BASE_YAMLUTIL_H
#define GLIA_BASE_YAMLUTIL_H

#include <stddef.h>
#include <yaml.h>

#include "core/base/err.h"

typedef struct {
    yaml_document_t doc;
    int loaded;
    char name[256]; /* file name used in messages */
} glia_yaml;

glia_status glia_yaml_load_file(const char *path, glia_yaml *y, glia_err *err);
glia_status glia_yaml_load_buffer(const char *buf, size_t len, const char *name, glia_yaml *y, glia_err *err);
void glia_yaml_free(glia_yaml *y);

/* The root node, or NULL for an empty document. */
yaml_node_t *glia_yaml_root(glia_yaml *y);
/* Value of key in a mapping node, or NULL if absent (or node is not a mapping). */
yaml_node_t *glia_yaml_get(glia_yaml *y, yaml_node_t *map, const char *key);
/* Fails on any key of map not in allowed (NULL-terminated); what names the mapping
 * in messages ("optimizer"). Also fails if map is not a mapping. */
glia_status glia_yaml_check_keys(glia_yaml *y, yaml_node_t *map, const char *what, const char *const *allowed,
                                 glia_err *err);

int glia_yaml_is_map(const yaml_node_t *n);
int glia_yaml_is_seq(const yaml_node_t *n);
int glia_yaml_seq_len(const yaml_node_t *n);
yaml_node_t *glia_yaml_seq_at(glia_yaml *y, yaml_node_t *seq, int i);

/* Scalar conversions; key names the value in messages. */
glia_status glia_yaml_long(glia_yaml *y, yaml_node_t *n, const char *key, long min, long max, long *out,
                           glia_err *err);
glia_status glia_yaml_double(glia_yaml *y, yaml_node_t *n, const char *key, double min, double max, double *out,
                             glia_err *err);
glia_status glia_yaml_bool(glia_yaml *y, yaml_node_t *n, const char *key, int *out, glia_err *err);
/* Borrowed string, valid until glia_yaml_free. */
glia_status glia_yaml_string(glia_yaml *y, yaml_node_t *n, const char *key, const char **out, glia_err *err);

/* Optional keys of a mapping: *out keeps its current value (the default) when the key
 * is absent. */
glia_status glia_yaml_opt_long(glia_yaml *y, yaml_node_t *map, const char *key, long min, long max, long *out,
                               glia_err *err);
glia_status glia_yaml_opt_int(glia_yaml *y, yaml_node_t *map, const char *key, int min, int max, int *out,
                              glia_err *err);
glia_status glia_yaml_opt_double(glia_yaml *y, yaml_node_t *map, const char *key, double min, double max,
                                 double *out, glia_err *err);
glia_status glia_yaml_opt_float(glia_yaml *y, yaml_node_t *map, const char *key, double min, double max,
                                float *out, glia_err *err);
glia_status glia_yaml_opt_bool(glia_yaml *y, yaml_node_t *map, const char *key, int *out, glia_err *err);
glia_status glia_yaml_opt_string(glia_yaml *y, yaml_node_t *map, const char *key, const char **out, glia_err *err);

/* Reports a problem at node n: "name:line:col: message". Returns code. */
glia_status glia_yaml_error(glia_yaml *y, const yaml_node_t *n, glia_status code, glia_err *err, const char *fmt,
                            ...) __attribute__((format(printf, 5, 6)));

#endif
