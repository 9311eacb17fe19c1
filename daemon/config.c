/* config.c - see config.h. */
#include "daemon/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/yamlutil.h"
#include "core/model/model.h"
#include "daemon/cors.h"
#include "daemon/log.h"

_Static_assert((int)CONFIG_LOG_ERROR == (int)LOG_ERROR && (int)CONFIG_LOG_WARN == (int)LOG_WARN &&
                   (int)CONFIG_LOG_INFO == (int)LOG_INFO && (int)CONFIG_LOG_DEBUG == (int)LOG_DEBUG,
               "config.log_level is passed to log_set_level as it is");

_Static_assert(sizeof((config *)0)->cors_origins[0] == CORS_ORIGIN_MAX, "an origin fits as cors.c takes it");

enum { BODY_MIN = 1024, TOKEN_MAX = 4096 };
#define BODY_MAX (1L << 30)

void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1");
    c->port = 8080;
    c->workers = 0;
    c->queue_length = 256;
    c->request_timeout_ms = 5000;
    c->batch_max_size = 32;
    c->batch_max_wait_us = 500;
    c->body_limit = 8L << 20;
    c->max_connections = 1000;
    c->connections_per_client = 64;
    c->connections_reserve = 50;
    c->idle_timeout_ms = 30000;
    c->header_timeout_ms = 10000;
    c->body_timeout_ms = 30000;
    c->body_min_rate = 64L << 10;
    c->max_pixels = 4L << 20;
    c->max_request_pixels = 16L << 20;
    c->max_request_tokens = 64L << 10;
    c->max_translation_tokens = 128L << 10;
    c->translation_turn_tokens = 4L << 10;
    c->drain_timeout_ms = 10000;
    c->blas_threads = 1;
    c->train_threads = 1;
    c->train_nice = 19;
    c->train_max_queued = 16;
    c->train_enabled = 1;
    c->max_dataset_bytes = 256L << 20;
    snprintf(c->state_dir, sizeof c->state_dir, "/var/lib/gliad");
    c->log_level = CONFIG_LOG_INFO;
    c->cors_max_age_s = 600;
    c->repo_poll_interval_ms = 5000;
    c->repo_policy.kind = CONFIG_POLICY_LATEST;
    c->repo_policy.latest = 1;
    c->console_enabled = 1;
    snprintf(c->console_dir, sizeof c->console_dir, "%s", GLIA_CONSOLE_DIR);
}

void config_free(config *c)
{
    free(c->models);
    c->models = NULL;
    c->nmodels = 0;
    free(c->cors_origins);
    c->cors_origins = NULL;
    c->ncors_origins = 0;
    free(c->repo_models);
    c->repo_models = NULL;
    c->nrepo_models = 0;
}

/* A YAML null (`key:`, `key: ~`, `key: null`) as opposed to the string "" or "null". */
static int is_null(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Integer at map.key, named section.key in messages; absent keeps *out (the default). */
static glia_status opt_long(glia_yaml *y, yaml_node_t *map, const char *section, const char *key, long min,
                            long max, long *out, glia_err *err)
{
    yaml_node_t *n = glia_yaml_get(y, map, key);
    if (!n)
        return GLIA_OK;
    char name[64];
    snprintf(name, sizeof name, "%s%s%s", section ? section : "", section ? "." : "", key);
    return glia_yaml_long(y, n, name, min, max, out, err);
}

static glia_status opt_int(glia_yaml *y, yaml_node_t *map, const char *section, const char *key, int min,
                           int max, int *out, glia_err *err)
{
    long v = *out;
    glia_status rc = opt_long(y, map, section, key, min, max, &v, err);
    *out = (int)v;
    return rc;
}

/* A path at node n (named key): relative to the config file's directory; a YAML null
 * gives "" when empty_ok. */
static glia_status path_value(glia_yaml *y, yaml_node_t *n, const char *key, const config *c, int empty_ok,
                              char *out, glia_err *err)
{
    const char *p;
    if (empty_ok && is_null(n))
        p = "";
    else {
        glia_status rc = glia_yaml_string(y, n, key, &p, err);
        if (rc)
            return rc;
    }
    if (!*p && !empty_ok)
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "%s: a path is required here, got an empty string",
                               key);
    int len;
    if (p[0] == '/' || p[0] == '\0')
        len = snprintf(out, CONFIG_PATH_MAX, "%s", p);
    else {
        char dir[CONFIG_PATH_MAX];
        snprintf(dir, sizeof dir, "%s", c->path);
        len = snprintf(out, CONFIG_PATH_MAX, "%s/%s", dirname(dir), p);
    }
    if (len < 0 || len >= CONFIG_PATH_MAX)
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "%s: the path is longer than %d bytes", key,
                               CONFIG_PATH_MAX - 1);
    return GLIA_OK;
}

/* "8MiB", "512 KiB", "1.5MB", "1000", "1000B" -> bytes. Decimal only: no sign, hex,
 * exponent, inf or nan, which strtod would take. Returns -1 when s is not a size. */
static long parse_size(const char *s)
{
    static const struct {
        const char *unit;
        double factor;
    } units[] = {{"", 1},     {"B", 1},    {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
                 {"KB", 1e3}, {"kB", 1e3}, {"MB", 1e6},     {"GB", 1e9}};
    const char *p = s;
    double v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((v = v * 10 + (*p - '0')) > 1e15)
            return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (double place = 0.1; *p >= '0' && *p <= '9'; p++, place /= 10)
            v += (*p - '0') * place;
    }
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(p, units[i].unit) == 0) {
            double b = v * units[i].factor;
            return b > 1e15 ? -1 : (long)b;
        }
    return -1;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static glia_status parse_tls(glia_yaml *y, yaml_node_t *map, config *c, glia_err *err);

static glia_status parse_listen(glia_yaml *y, yaml_node_t *map, config *c, glia_err *err)
{
    static const char *const keys[] = {"address", "port", "tls", NULL};
    glia_status rc;
    yaml_node_t *n;
    const char *s;
    if ((rc = glia_yaml_check_keys(y, map, "listen", keys, err)) ||
        (rc = opt_int(y, map, "listen", "port", 0, 65535, &c->port, err)))
        return rc;
    if ((n = glia_yaml_get(y, map, "tls")) && (rc = parse_tls(y, n, c, err)))
        return rc;
    if (!(n = glia_yaml_get(y, map, "address")))
        return GLIA_OK;
    if ((rc = glia_yaml_string(y, n, "listen.address", &s, err)))
        return rc;
    /* A literal, not a host name: gliad resolves nothing, and a name that maps to several
     * addresses would make "where does it listen" a question of /etc/hosts. */
    unsigned char addr[sizeof(struct in6_addr)];
    if (strlen(s) >= sizeof c->listen ||
        (inet_pton(AF_INET, s, addr) != 1 && inet_pton(AF_INET6, s, addr) != 1))
        return glia_yaml_error(
            y, n, GLIA_EINVAL, err,
            "listen.address: '%s' is not an IPv4 or IPv6 address (e.g. 127.0.0.1, ::1, 0.0.0.0)", s);
    snprintf(c->listen, sizeof c->listen, "%s", s);
    return GLIA_OK;
}

/* map's optional 'precision' (fp32 or bf16) into *out, -1 when absent. */
static glia_status precision_value(glia_yaml *y, yaml_node_t *map, const char *what, int *out, glia_err *err)
{
    yaml_node_t *n = glia_yaml_get(y, map, "precision");
    const char *s = NULL;
    char key[128];
    glia_status rc;
    *out = -1;
    if (!n)
        return GLIA_OK;
    snprintf(key, sizeof key, "%s.precision", what);
    if ((rc = glia_yaml_string(y, n, key, &s, err)))
        return rc;
    if ((*out = glia_precision_parse(s)) < 0)
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "%s: must be fp32 or bf16 (got '%s')", key, s);
    return GLIA_OK;
}

static glia_status parse_models(glia_yaml *y, yaml_node_t *seq, config *c, glia_err *err)
{
    static const char *const keys[] = {"name", "path", "precision", NULL};
    if (is_null(seq)) /* "models:" with every entry commented out */
        return GLIA_OK;
    if (!glia_yaml_is_seq(seq))
        return glia_yaml_error(y, seq, GLIA_EINVAL, err, "models: expected a list of {name, path}");
    int n = glia_yaml_seq_len(seq);
    c->models = calloc((size_t)(n > 0 ? n : 1), sizeof *c->models);
    if (!c->models)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", c->path);
    for (int i = 0; i < n; i++) {
        yaml_node_t *m = glia_yaml_seq_at(y, seq, i);
        char what[32], key[48];
        const char *name;
        glia_status rc;
        snprintf(what, sizeof what, "models[%d]", i);
        if ((rc = glia_yaml_check_keys(y, m, what, keys, err)))
            return rc;
        for (int k = 0; k < 2; k++) /* name and path; precision is optional */
            if (!glia_yaml_get(y, m, keys[k]))
                return glia_yaml_error(y, m, GLIA_EINVAL, err,
                                       "%s.%s: missing (each model needs a name and a path)", what, keys[k]);
        yaml_node_t *name_node = glia_yaml_get(y, m, "name");
        snprintf(key, sizeof key, "%s.name", what);
        if ((rc = glia_yaml_string(y, name_node, key, &name, err)))
            return rc;
        if (!valid_name(name))
            return glia_yaml_error(y, name_node, GLIA_EINVAL, err,
                                   "%s: '%s' must be 1-64 letters, digits, '.', '_' or '-'", key, name);
        for (int j = 0; j < i; j++)
            if (strcmp(c->models[j].name, name) == 0)
                return glia_yaml_error(y, name_node, GLIA_EINVAL, err,
                                       "%s: '%s' is listed twice (also models[%d]); names must be unique",
                                       key, name, j);
        snprintf(c->models[i].name, sizeof c->models[i].name, "%s", name);
        snprintf(key, sizeof key, "%s.path", what);
        if ((rc = path_value(y, glia_yaml_get(y, m, "path"), key, c, 0, c->models[i].path, err)))
            return rc;
        if ((rc = precision_value(y, m, what, &c->models[i].precision, err)))
            return rc;
        c->nmodels = i + 1;
    }
    return GLIA_OK;
}

static glia_status parse_log(glia_yaml *y, yaml_node_t *map, config *c, glia_err *err)
{
    static const char *const keys[] = {"level", "format", NULL};
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
    glia_status rc;
    const char *s;
    yaml_node_t *n;
    if ((rc = glia_yaml_check_keys(y, map, "log", keys, err)))
        return rc;
    if ((n = glia_yaml_get(y, map, "format"))) {
        if ((rc = glia_yaml_string(y, n, "log.format", &s, err)))
            return rc;
        if (strcmp(s, "text") != 0 && strcmp(s, "json") != 0)
            return glia_yaml_error(y, n, GLIA_EINVAL, err, "log.format: '%s' is not one of text, json", s);
        c->log_json = strcmp(s, "json") == 0;
    }
    if (!(n = glia_yaml_get(y, map, "level")))
        return GLIA_OK;
    if ((rc = glia_yaml_string(y, n, "log.level", &s, err)))
        return rc;
    for (int i = 0; levels[i]; i++)
        if (strcmp(s, levels[i]) == 0) {
            c->log_level = CONFIG_LOG_ERROR + i;
            return GLIA_OK;
        }
    return glia_yaml_error(y, n, GLIA_EINVAL, err, "log.level: '%s' is not one of error, warn, info, debug",
                           s);
}

/* An optional size (e.g. "8MiB", "512KiB", "1MB" or bytes) at n.key, from min to max
 * (range says so in words for the message). */
static glia_status opt_size(glia_yaml *y, yaml_node_t *n, const char *what, const char *key, long min,
                            long max, const char *range, long *out, glia_err *err)
{
    yaml_node_t *v = glia_yaml_get(y, n, key);
    const char *s;
    char name[64];
    if (!v)
        return GLIA_OK;
    snprintf(name, sizeof name, "%s.%s", what, key);
    glia_status rc = glia_yaml_string(y, v, name, &s, err);
    if (rc)
        return rc;
    long bytes = parse_size(s);
    if (bytes < min || bytes > max)
        return glia_yaml_error(y, v, GLIA_EINVAL, err, "%s: '%s' is not a size from %s", name, s, range);
    *out = bytes;
    return GLIA_OK;
}

static glia_status parse_training(glia_yaml *y, yaml_node_t *n, config *c, glia_err *err)
{
    static const char *const keys[] = {"enabled", "threads", "nice", "max_queued", "max_dataset", NULL};
    glia_status rc;
    yaml_node_t *v;
    if ((rc = glia_yaml_check_keys(y, n, "training", keys, err)))
        return rc;
    if ((v = glia_yaml_get(y, n, "enabled")) &&
        (rc = glia_yaml_bool(y, v, "training.enabled", &c->train_enabled, err)))
        return rc;
    if ((rc = opt_int(y, n, "training", "threads", 1, 64, &c->train_threads, err)) ||
        (rc = opt_int(y, n, "training", "nice", 0, 19, &c->train_nice, err)) ||
        (rc = opt_int(y, n, "training", "max_queued", 1, 10000, &c->train_max_queued, err)))
        return rc;
    return opt_size(y, n, "training", "max_dataset", 1024, 64L << 30, "1KiB to 64GiB (e.g. 256MiB)",
                    &c->max_dataset_bytes, err);
}

static glia_status parse_auth(glia_yaml *y, yaml_node_t *n, config *c, glia_err *err)
{
    static const char *const keys[] = {"admin_token_file", "inference_token_file", NULL};
    yaml_node_t *v;
    glia_status rc = glia_yaml_check_keys(y, n, "auth", keys, err);
    if (rc == GLIA_OK && (v = glia_yaml_get(y, n, "admin_token_file")))
        rc = path_value(y, v, "auth.admin_token_file", c, 1, c->admin_token_file, err);
    if (rc == GLIA_OK && (v = glia_yaml_get(y, n, "inference_token_file")))
        rc = path_value(y, v, "auth.inference_token_file", c, 1, c->inference_token_file, err);
    return rc;
}

/* The limits.* keys on connections; n is the limits map. */
static glia_status parse_connection_limits(glia_yaml *y, yaml_node_t *n, config *c, glia_err *err)
{
    glia_status rc;
    if ((rc = opt_int(y, n, "limits", "connections", 2, 1000000, &c->max_connections, err)) ||
        (rc = opt_int(y, n, "limits", "connections_per_client", 0, 1000000, &c->connections_per_client,
                      err)) ||
        (rc = opt_int(y, n, "limits", "connections_reserve", 1, 1000000, &c->connections_reserve, err)) ||
        (rc = opt_int(y, n, "limits", "idle_timeout_ms", 100, 3600000, &c->idle_timeout_ms, err)) ||
        (rc = opt_int(y, n, "limits", "header_timeout_ms", 100, 3600000, &c->header_timeout_ms, err)) ||
        (rc = opt_int(y, n, "limits", "body_timeout_ms", 100, 3600000, &c->body_timeout_ms, err)) ||
        (rc = opt_size(y, n, "limits", "body_min_rate", 1, BODY_MAX, "1B to 1GiB a second (e.g. 64KiB)",
                       &c->body_min_rate, err)))
        return rc;
    if (c->connections_reserve >= c->max_connections)
        return glia_yaml_error(y, n, GLIA_EINVAL, err,
                               "limits.connections_reserve: %d must be below limits.connections (%d)",
                               c->connections_reserve, c->max_connections);
    return GLIA_OK;
}

/* console: {enabled, dir} (issue 15). A directory that does not exist is no error here:
 * gliad serves the API without the page (every console path answers 404 saying so). */
static glia_status parse_console(glia_yaml *y, yaml_node_t *n, config *c, glia_err *err)
{
    static const char *const keys[] = {"enabled", "dir", NULL};
    glia_status rc;
    yaml_node_t *v;
    if (is_null(n))
        return GLIA_OK;
    if ((rc = glia_yaml_check_keys(y, n, "console", keys, err)))
        return rc;
    if ((v = glia_yaml_get(y, n, "enabled")) &&
        (rc = glia_yaml_bool(y, v, "console.enabled", &c->console_enabled, err)))
        return rc;
    if ((v = glia_yaml_get(y, n, "dir")))
        return path_value(y, v, "console.dir", c, 0, c->console_dir, err);
    return GLIA_OK;
}

/* ---- TLS and CORS (issue 14) ---- */

/* listen.tls: {cert_file, key_file}, both required; a YAML null (every key commented
 * out) is plain HTTP. The files are read and checked by tls.c, at start and at reload. */
static glia_status parse_tls(glia_yaml *y, yaml_node_t *map, config *c, glia_err *err)
{
    static const char *const keys[] = {"cert_file", "key_file", NULL};
    glia_status rc;
    if (is_null(map))
        return GLIA_OK;
    if ((rc = glia_yaml_check_keys(y, map, "listen.tls", keys, err)))
        return rc;
    for (int k = 0; keys[k]; k++)
        if (!glia_yaml_get(y, map, keys[k]))
            return glia_yaml_error(y, map, GLIA_EINVAL, err,
                                   "listen.tls.%s: missing (TLS needs both cert_file and key_file)", keys[k]);
    if ((rc = path_value(y, glia_yaml_get(y, map, "cert_file"), "listen.tls.cert_file", c, 0,
                         c->tls_cert_file, err)))
        return rc;
    return path_value(y, glia_yaml_get(y, map, "key_file"), "listen.tls.key_file", c, 0, c->tls_key_file,
                      err);
}

/* cors: {allowed_origins: [...], max_age_s}; each origin checked as cors.c will compare it. */
static glia_status parse_cors(glia_yaml *y, yaml_node_t *map, config *c, glia_err *err)
{
    static const char *const keys[] = {"allowed_origins", "max_age_s", NULL};
    glia_status rc;
    yaml_node_t *seq;
    if ((rc = glia_yaml_check_keys(y, map, "cors", keys, err)) ||
        (rc = opt_int(y, map, "cors", "max_age_s", 0, 86400, &c->cors_max_age_s, err)))
        return rc;
    if (!(seq = glia_yaml_get(y, map, "allowed_origins")) || is_null(seq))
        return GLIA_OK;
    if (!glia_yaml_is_seq(seq))
        return glia_yaml_error(y, seq, GLIA_EINVAL, err,
                               "cors.allowed_origins: expected a list of origins (or [\"*\"])");
    int n = glia_yaml_seq_len(seq);
    if (!(c->cors_origins = calloc((size_t)(n > 0 ? n : 1), sizeof *c->cors_origins)))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", c->path);
    for (int i = 0; i < n; i++) {
        yaml_node_t *v = glia_yaml_seq_at(y, seq, i);
        char key[48], why[256];
        const char *s;
        snprintf(key, sizeof key, "cors.allowed_origins[%d]", i);
        if ((rc = glia_yaml_string(y, v, key, &s, err)))
            return rc;
        if (cors_origin_check(s, why, sizeof why) != 0)
            return glia_yaml_error(y, v, GLIA_EINVAL, err, "%s: '%s': %s", key, s, why);
        if (strcmp(s, "*") == 0 && n > 1)
            return glia_yaml_error(y, v, GLIA_EINVAL, err,
                                   "%s: \"*\" allows every origin; list it alone or list origins", key);
        snprintf(c->cors_origins[i], sizeof c->cors_origins[i], "%s", s);
        c->ncors_origins = i + 1;
    }
    return GLIA_OK;
}

/* ---- the model repository (issue 14) ---- */

/* A version_policy at n (named what): `all`, {all: }, {latest: N} or {specific: [N, ...]}. */
static glia_status parse_policy(glia_yaml *y, yaml_node_t *n, const char *what, config_policy *out,
                                glia_err *err)
{
    static const char *const keys[] = {"latest", "specific", "all", NULL};
    char key[200];
    glia_status rc;
    if (n->type == YAML_SCALAR_NODE && strcmp((const char *)n->data.scalar.value, "all") == 0) {
        out->kind = CONFIG_POLICY_ALL;
        return GLIA_OK;
    }
    if (!glia_yaml_is_map(n) || n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1)
        return glia_yaml_error(y, n, GLIA_EINVAL, err,
                               "%s: expected one of all, {latest: N} or {specific: [N, ...]}", what);
    if ((rc = glia_yaml_check_keys(y, n, what, keys, err)))
        return rc;
    yaml_node_t *v;
    memset(out, 0, sizeof *out);
    if (glia_yaml_get(y, n, "all")) {
        out->kind = CONFIG_POLICY_ALL;
    } else if ((v = glia_yaml_get(y, n, "latest"))) {
        long latest;
        snprintf(key, sizeof key, "%s.latest", what);
        if ((rc = glia_yaml_long(y, v, key, 1, CONFIG_POLICY_MAX, &latest, err)))
            return rc;
        out->kind = CONFIG_POLICY_LATEST;
        out->latest = (int)latest;
    } else {
        v = glia_yaml_get(y, n, "specific");
        snprintf(key, sizeof key, "%s.specific", what);
        int count = glia_yaml_is_seq(v) ? glia_yaml_seq_len(v) : 0;
        if (count < 1 || count > CONFIG_POLICY_MAX)
            return glia_yaml_error(y, v, GLIA_EINVAL, err, "%s: expected a list of 1 to %d version numbers",
                                   key, CONFIG_POLICY_MAX);
        out->kind = CONFIG_POLICY_SPECIFIC;
        for (int i = 0; i < count; i++) {
            snprintf(key, sizeof key, "%s.specific[%d]", what, i);
            if ((rc = glia_yaml_long(y, glia_yaml_seq_at(y, v, i), key, 1, 1L << 40, &out->specific[i], err)))
                return rc;
        }
        out->nspecific = count;
    }
    return GLIA_OK;
}

/* repository.models[i].labels: {stable: N, canary: N, canary_percent: P}. */
static glia_status parse_labels(glia_yaml *y, yaml_node_t *n, const char *what, config_repo_model *m,
                                glia_err *err)
{
    static const char *const keys[] = {"stable", "canary", "canary_percent", NULL};
    glia_status rc;
    if ((rc = glia_yaml_check_keys(y, n, what, keys, err)) ||
        (rc = opt_long(y, n, what, "stable", 1, 1L << 40, &m->stable, err)) ||
        (rc = opt_long(y, n, what, "canary", 1, 1L << 40, &m->canary, err)) ||
        (rc = opt_int(y, n, what, "canary_percent", 0, 100, &m->canary_percent, err)))
        return rc;
    if (m->canary_percent > 0 && !m->canary)
        return glia_yaml_error(y, n, GLIA_EINVAL, err, "%s: canary_percent needs a canary version", what);
    m->has_labels = 1;
    return GLIA_OK;
}

static glia_status parse_repo_models(glia_yaml *y, yaml_node_t *seq, config *c, glia_err *err)
{
    static const char *const keys[] = {"name", "version_policy", "labels", "precision", NULL};
    if (!glia_yaml_is_seq(seq))
        return glia_yaml_error(y, seq, GLIA_EINVAL, err,
                               "repository.models: expected a list of {name, version_policy, labels}");
    int n = glia_yaml_seq_len(seq);
    c->repo_models = calloc((size_t)(n > 0 ? n : 1), sizeof *c->repo_models);
    if (!c->repo_models)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", c->path);
    for (int i = 0; i < n; i++) {
        yaml_node_t *m = glia_yaml_seq_at(y, seq, i), *v;
        config_repo_model *rm = &c->repo_models[i];
        char what[64], key[96];
        const char *name;
        glia_status rc;
        snprintf(what, sizeof what, "repository.models[%d]", i);
        snprintf(key, sizeof key, "%s.name", what);
        if ((rc = glia_yaml_check_keys(y, m, what, keys, err)))
            return rc;
        if (!(v = glia_yaml_get(y, m, "name")))
            return glia_yaml_error(y, m, GLIA_EINVAL, err, "%s.name: missing", what);
        if ((rc = glia_yaml_string(y, v, key, &name, err)))
            return rc;
        if (!valid_name(name))
            return glia_yaml_error(y, v, GLIA_EINVAL, err,
                                   "%s: '%s' must be 1-64 letters, digits, '.', '_' or '-'", key, name);
        if (config_repo_model_find(c, name))
            return glia_yaml_error(y, v, GLIA_EINVAL, err, "%s: '%s' is listed twice", key, name);
        for (int j = 0; j < c->nmodels; j++)
            if (strcmp(c->models[j].name, name) == 0)
                return glia_yaml_error(
                    y, v, GLIA_EINVAL, err,
                    "%s: '%s' is a model of models: (models[%d]); a name is served from the "
                    "config or from the repository, not both",
                    key, name, j);
        snprintf(rm->name, sizeof rm->name, "%s", name);
        snprintf(key, sizeof key, "%s.version_policy", what);
        if ((v = glia_yaml_get(y, m, "version_policy"))) {
            if ((rc = parse_policy(y, v, key, &rm->policy, err)))
                return rc;
            rm->has_policy = 1;
        }
        snprintf(key, sizeof key, "%s.labels", what);
        if ((v = glia_yaml_get(y, m, "labels")) && (rc = parse_labels(y, v, key, rm, err)))
            return rc;
        if ((rc = precision_value(y, m, what, &rm->precision, err)))
            return rc;
        c->nrepo_models = i + 1;
    }
    return GLIA_OK;
}

/* model_repository: DIR and the repository: block; a models: entry whose name is also a
 * directory of the repository is an error (a name is served from one place). */
static glia_status parse_model_repository(glia_yaml *y, yaml_node_t *root, config *c, glia_err *err)
{
    static const char *const keys[] = {"poll_interval_ms", "version_policy", "shared_labels", "models", NULL};
    yaml_node_t *dir = glia_yaml_get(y, root, "model_repository"),
                *block = glia_yaml_get(y, root, "repository"), *n;
    glia_status rc;
    struct stat st;
    if (dir && (rc = path_value(y, dir, "model_repository", c, 1, c->model_repository, err)))
        return rc;
    if (block && !c->model_repository[0])
        return glia_yaml_error(y, block, GLIA_EINVAL, err, "repository: needs model_repository: DIR");
    if (!c->model_repository[0])
        return GLIA_OK;
    if (stat(c->model_repository, &st) != 0 || !S_ISDIR(st.st_mode))
        return glia_yaml_error(y, dir, GLIA_EINVAL, err, "model_repository: '%s' is not a directory",
                               c->model_repository);
    for (int i = 0; i < c->nmodels; i++) {
        char sub[CONFIG_PATH_MAX + 200];
        snprintf(sub, sizeof sub, "%s/%s", c->model_repository, c->models[i].name);
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            return glia_yaml_error(
                y, dir, GLIA_EINVAL, err,
                "models[%d].name: '%s' is also a model of model_repository (%s); a name is "
                "served from the config or from the repository, not both",
                i, c->models[i].name, sub);
    }
    if (!block)
        return GLIA_OK;
    if ((rc = glia_yaml_check_keys(y, block, "repository", keys, err)) ||
        (rc = opt_int(y, block, "repository", "poll_interval_ms", 0, 86400000, &c->repo_poll_interval_ms,
                      err)))
        return rc;
    if ((n = glia_yaml_get(y, block, "shared_labels")) &&
        (rc = glia_yaml_bool(y, n, "repository.shared_labels", &c->repo_shared_labels, err)))
        return rc;
    if ((n = glia_yaml_get(y, block, "version_policy")) &&
        (rc = parse_policy(y, n, "repository.version_policy", &c->repo_policy, err)))
        return rc;
    if ((n = glia_yaml_get(y, block, "models")) && !is_null(n) && (rc = parse_repo_models(y, n, c, err)))
        return rc;
    return GLIA_OK;
}

const config_repo_model *config_repo_model_find(const config *cfg, const char *name)
{
    for (int i = 0; i < cfg->nrepo_models; i++)
        if (strcmp(cfg->repo_models[i].name, name) == 0)
            return &cfg->repo_models[i];
    return NULL;
}

/* Every section of a loaded file, in the order the file format documents them. */
static glia_status parse_root(glia_yaml *y, yaml_node_t *root, config *c, glia_err *err)
{
    static const char *const top[] = {
        "listen",           "workers",    "queue",     "batching", "limits", "drain_timeout_ms",
        "blas_threads",     "models",     "state_dir", "auth",     "log",    "training",
        "model_repository", "repository", "cors",      "console",  NULL};
    static const char *const queue_keys[] = {"length", "timeout_ms", NULL};
    static const char *const batch_keys[] = {"max_size", "max_wait_us", NULL};
    static const char *const limit_keys[] = {"body",
                                             "connections",
                                             "connections_per_client",
                                             "connections_reserve",
                                             "idle_timeout_ms",
                                             "header_timeout_ms",
                                             "body_timeout_ms",
                                             "body_min_rate",
                                             "max_pixels",
                                             "max_request_pixels",
                                             "max_request_tokens",
                                             "max_translation_tokens",
                                             "translation_turn_tokens",
                                             "model_workers",
                                             NULL};
    yaml_node_t *n;
    glia_status rc;
    if ((rc = glia_yaml_check_keys(y, root, "config", top, err)))
        return rc;
    if ((n = glia_yaml_get(y, root, "listen")) && (rc = parse_listen(y, n, c, err)))
        return rc;
    if ((rc = opt_int(y, root, NULL, "workers", 0, 256, &c->workers, err)) ||
        (rc = opt_int(y, root, NULL, "drain_timeout_ms", 0, 3600000, &c->drain_timeout_ms, err)) ||
        (rc = opt_int(y, root, NULL, "blas_threads", 1, 256, &c->blas_threads, err)))
        return rc;
    if ((n = glia_yaml_get(y, root, "queue")) &&
        ((rc = glia_yaml_check_keys(y, n, "queue", queue_keys, err)) ||
         (rc = opt_int(y, n, "queue", "length", 1, 1000000, &c->queue_length, err)) ||
         (rc = opt_int(y, n, "queue", "timeout_ms", 1, 3600000, &c->request_timeout_ms, err))))
        return rc;
    if ((n = glia_yaml_get(y, root, "training")) && (rc = parse_training(y, n, c, err)))
        return rc;
    if ((n = glia_yaml_get(y, root, "batching")) &&
        ((rc = glia_yaml_check_keys(y, n, "batching", batch_keys, err)) ||
         (rc = opt_int(y, n, "batching", "max_size", 1, 4096, &c->batch_max_size, err)) ||
         (rc = opt_int(y, n, "batching", "max_wait_us", 0, 1000000, &c->batch_max_wait_us, err))))
        return rc;
    if ((n = glia_yaml_get(y, root, "limits")) &&
        ((rc = glia_yaml_check_keys(y, n, "limits", limit_keys, err)) ||
         (rc = opt_size(y, n, "limits", "body", BODY_MIN, BODY_MAX,
                        "1KiB to 1GiB (e.g. 8MiB, 512KiB, 1MB, or bytes)", &c->body_limit, err)) ||
         (rc = parse_connection_limits(y, n, c, err)) ||
         (rc = opt_long(y, n, "limits", "max_pixels", 1, 64L << 20, &c->max_pixels, err)) ||
         (rc = opt_long(y, n, "limits", "max_request_pixels", 1, 1L << 40, &c->max_request_pixels, err)) ||
         (rc = opt_long(y, n, "limits", "max_request_tokens", 1, 1L << 40, &c->max_request_tokens, err)) ||
         (rc = opt_long(y, n, "limits", "max_translation_tokens", 1, 1L << 40, &c->max_translation_tokens,
                        err)) ||
         (rc = opt_long(y, n, "limits", "translation_turn_tokens", 0, 1L << 40, &c->translation_turn_tokens,
                        err)) ||
         (rc = opt_int(y, n, "limits", "model_workers", 0, 256, &c->model_workers, err))))
        return rc;
    if ((n = glia_yaml_get(y, root, "models")) && (rc = parse_models(y, n, c, err)))
        return rc;
    if ((n = glia_yaml_get(y, root, "state_dir")) &&
        (rc = path_value(y, n, "state_dir", c, 0, c->state_dir, err)))
        return rc;
    if ((n = glia_yaml_get(y, root, "auth")) && (rc = parse_auth(y, n, c, err)))
        return rc;
    if ((n = glia_yaml_get(y, root, "log")) && (rc = parse_log(y, n, c, err)))
        return rc;
    if ((n = glia_yaml_get(y, root, "cors")) && (rc = parse_cors(y, n, c, err)))
        return rc;
    if ((n = glia_yaml_get(y, root, "console")) && (rc = parse_console(y, n, c, err)))
        return rc;
    return parse_model_repository(y, root, c, err);
}

glia_status config_load(const char *path, config *c, glia_err *err)
{
    glia_yaml y;
    config_defaults(c);
    if (snprintf(c->path, sizeof c->path, "%s", path) >= (int)sizeof c->path)
        return glia_err_set(err, GLIA_EINVAL, "%.64s...: the config path is longer than %d bytes", path,
                            CONFIG_PATH_MAX - 1);
    glia_status rc = glia_yaml_load_file(path, &y, err);
    if (rc)
        return rc;
    yaml_node_t *root = glia_yaml_root(&y);
    if (root) /* else an empty file: all defaults */
        rc = parse_root(&y, root, c, err);
    glia_yaml_free(&y);
    if (rc)
        config_free(c);
    return rc;
}

glia_status config_read_token(const char *path, char **token, glia_err *err)
{
    struct stat st;
    *token = NULL;
    /* O_NONBLOCK: a FIFO put where the token should be must not hang the start */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return glia_err_set(err, GLIA_EIO, "%s: cannot open the token file: %s", path, strerror(errno));
    glia_status rc = GLIA_OK;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        rc = glia_err_set(err, GLIA_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = glia_err_set(err, GLIA_EINVAL, "%s: the token file is not a regular file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        rc = glia_err_set(err, GLIA_EINVAL,
                          "%s: the token file is open to group or others (mode %03o): chmod 600 it", path,
                          (unsigned)(st.st_mode & 0777));
        goto out;
    }
    if (st.st_size > TOKEN_MAX) {
        rc = glia_err_set(err, GLIA_EINVAL, "%s: the token file has %lld bytes, at most %d are allowed", path,
                          (long long)st.st_size, TOKEN_MAX);
        goto out;
    }
    if (!(buf = malloc(TOKEN_MAX + 1))) {
        rc = glia_err_set(err, GLIA_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    size_t len = 0;
    for (;;) {
        ssize_t got = read(fd, buf + len, TOKEN_MAX + 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = glia_err_set(err, GLIA_EIO, "%s: cannot read the token file: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        if (len > TOKEN_MAX) { /* grew since fstat */
            rc = glia_err_set(err, GLIA_EINVAL, "%s: the token file holds more than %d bytes", path,
                              TOKEN_MAX);
            goto out;
        }
    }
    while (len > 0 &&
           (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    buf[len] = '\0';
    if (len == 0) {
        rc = glia_err_set(err, GLIA_EINVAL, "%s: the token file is empty", path);
        goto out;
    }
    if (strlen(buf) != len) {
        rc = glia_err_set(err, GLIA_EINVAL, "%s: the token file holds a NUL byte", path);
        goto out;
    }
    *token = buf;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}
