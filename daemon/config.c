/* config.c - see config.h. */
#include "daemon/config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/yamlutil.h"
#include "daemon/log.h"

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
    c->drain_timeout_ms = 10000;
    c->blas_threads = 1;
    snprintf(c->state_dir, sizeof c->state_dir, "/var/lib/gliad");
    c->log_level = LOG_INFO;
}

void config_free(config *c)
{
    free(c->models);
    c->models = NULL;
    c->nmodels = 0;
}

static void resolve(const config *c, const char *p, char *out)
{
    if (p[0] == '/' || p[0] == '\0') {
        snprintf(out, CONFIG_PATH_MAX, "%s", p);
        return;
    }
    char dir[CONFIG_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", c->path);
    snprintf(out, CONFIG_PATH_MAX, "%s/%s", dirname(dir), p);
}

/* "8MiB", "512KiB", "1MB", "1000" -> bytes. */
static int parse_size(const char *s, long *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -1;
    while (*end == ' ')
        end++;
    static const struct {
        const char *unit;
        double factor;
    } units[] = {{"", 1},     {"B", 1},    {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
                 {"KB", 1e3}, {"kB", 1e3}, {"MB", 1e6},     {"GB", 1e9}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0) {
            double b = v * units[i].factor;
            if (b > 1e12)
                return -1;
            *out = (long)b;
            return 0;
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

static glia_status parse_models(glia_yaml *y, yaml_node_t *seq, config *c, glia_err *err)
{
    static const char *const keys[] = {"name", "path", NULL};
    if (!glia_yaml_is_seq(seq))
        return glia_yaml_error(y, seq, GLIA_EINVAL, err, "models: expected a list of {name, path}");
    int n = glia_yaml_seq_len(seq);
    c->models = calloc((size_t)(n > 0 ? n : 1), sizeof *c->models);
    if (!c->models)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", c->path);
    for (int i = 0; i < n; i++) {
        yaml_node_t *m = glia_yaml_seq_at(y, seq, i);
        const char *name = NULL, *path = NULL;
        glia_status rc;
        if ((rc = glia_yaml_check_keys(y, m, "models[]", keys, err)))
            return rc;
        for (int k = 0; keys[k]; k++)
            if (!glia_yaml_get(y, m, keys[k]))
                return glia_yaml_error(y, m, GLIA_EINVAL, err,
                                       "models[].%s: missing (each model needs a name and a path)", keys[k]);
        if ((rc = glia_yaml_string(y, glia_yaml_get(y, m, "name"), "models[].name", &name, err)) ||
            (rc = glia_yaml_string(y, glia_yaml_get(y, m, "path"), "models[].path", &path, err)))
            return rc;
        if (!valid_name(name))
            return glia_yaml_error(y, m, GLIA_EINVAL, err,
                                   "models[].name: '%s' must be 1-64 letters, digits, '.', '_' or '-'", name);
        for (int j = 0; j < i; j++)
            if (strcmp(c->models[j].name, name) == 0)
                return glia_yaml_error(y, m, GLIA_EINVAL, err, "models[].name: '%s' is listed twice", name);
        snprintf(c->models[i].name, sizeof c->models[i].name, "%s", name);
        resolve(c, path, c->models[i].path);
        c->nmodels = i + 1;
    }
    return GLIA_OK;
}

glia_status config_load(const char *path, config *c, glia_err *err)
{
    static const char *const top[] = {
        "listen",       "workers", "queue",     "batching", "limits", "drain_timeout_ms",
        "blas_threads", "models",  "state_dir", "auth",     "log",    NULL};
    static const char *const listen_keys[] = {"address", "port", NULL};
    static const char *const queue_keys[] = {"length", "timeout_ms", NULL};
    static const char *const batch_keys[] = {"max_size", "max_wait_us", NULL};
    static const char *const limit_keys[] = {"body", NULL};
    static const char *const auth_keys[] = {"admin_token_file", "inference_token_file", NULL};
    static const char *const log_keys[] = {"level", NULL};
    glia_yaml y;
    glia_status rc;
    yaml_node_t *root, *n;
    const char *s;
    config_defaults(c);
    snprintf(c->path, sizeof c->path, "%s", path);
    if ((rc = glia_yaml_load_file(path, &y, err)))
        return rc;
    root = glia_yaml_root(&y);
    if (!root) /* an empty file: all defaults */
        goto out;
    if ((rc = glia_yaml_check_keys(&y, root, "config", top, err)))
        goto out;
    if ((n = glia_yaml_get(&y, root, "listen"))) {
        s = NULL;
        if ((rc = glia_yaml_check_keys(&y, n, "listen", listen_keys, err)) ||
            (rc = glia_yaml_opt_string(&y, n, "address", &s, err)) ||
            (rc = glia_yaml_opt_int(&y, n, "port", 0, 65535, &c->port, err)))
            goto out;
        if (s) {
            if (strlen(s) >= sizeof c->listen || !*s) {
                rc = glia_yaml_error(&y, n, GLIA_EINVAL, err, "listen.address: '%s' is not an address", s);
                goto out;
            }
            snprintf(c->listen, sizeof c->listen, "%s", s);
        }
    }
    if ((rc = glia_yaml_opt_int(&y, root, "workers", 0, 256, &c->workers, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "drain_timeout_ms", 0, 3600000, &c->drain_timeout_ms, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "blas_threads", 1, 256, &c->blas_threads, err)))
        goto out;
    if ((n = glia_yaml_get(&y, root, "queue")) &&
        ((rc = glia_yaml_check_keys(&y, n, "queue", queue_keys, err)) ||
         (rc = glia_yaml_opt_int(&y, n, "length", 1, 1000000, &c->queue_length, err)) ||
         (rc = glia_yaml_opt_int(&y, n, "timeout_ms", 1, 3600000, &c->request_timeout_ms, err))))
        goto out;
    if ((n = glia_yaml_get(&y, root, "batching")) &&
        ((rc = glia_yaml_check_keys(&y, n, "batching", batch_keys, err)) ||
         (rc = glia_yaml_opt_int(&y, n, "max_size", 1, 4096, &c->batch_max_size, err)) ||
         (rc = glia_yaml_opt_int(&y, n, "max_wait_us", 0, 1000000, &c->batch_max_wait_us, err))))
        goto out;
    if ((n = glia_yaml_get(&y, root, "limits"))) {
        s = NULL;
        if ((rc = glia_yaml_check_keys(&y, n, "limits", limit_keys, err)) ||
            (rc = glia_yaml_opt_string(&y, n, "body", &s, err)))
            goto out;
        if (s && (parse_size(s, &c->body_limit) != 0 || c->body_limit < 1024 || c->body_limit > (1L << 30))) {
            rc = glia_yaml_error(&y, glia_yaml_get(&y, n, "body"), GLIA_EINVAL, err,
                                 "limits.body: '%s' is not a size from 1KiB to 1GiB (e.g. 8MiB)", s);
            goto out;
        }
    }
    if ((n = glia_yaml_get(&y, root, "models")) && (rc = parse_models(&y, n, c, err)))
        goto out;
    s = NULL;
    if ((rc = glia_yaml_opt_string(&y, root, "state_dir", &s, err)))
        goto out;
    if (s)
        resolve(c, s, c->state_dir);
    if ((n = glia_yaml_get(&y, root, "auth"))) {
        const char *admin = "", *infer = "";
        if ((rc = glia_yaml_check_keys(&y, n, "auth", auth_keys, err)) ||
            (rc = glia_yaml_opt_string(&y, n, "admin_token_file", &admin, err)) ||
            (rc = glia_yaml_opt_string(&y, n, "inference_token_file", &infer, err)))
            goto out;
        resolve(c, admin, c->admin_token_file);
        resolve(c, infer, c->inference_token_file);
    }
    if ((n = glia_yaml_get(&y, root, "log"))) {
        static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
        s = "info";
        if ((rc = glia_yaml_check_keys(&y, n, "log", log_keys, err)) ||
            (rc = glia_yaml_opt_string(&y, n, "level", &s, err)))
            goto out;
        int found = -1;
        for (int i = 0; levels[i]; i++)
            if (strcmp(s, levels[i]) == 0)
                found = i;
        if (found < 0) {
            rc = glia_yaml_error(&y, glia_yaml_get(&y, n, "level"), GLIA_EINVAL, err,
                                 "log.level: '%s' is not one of error, warn, info, debug", s);
            goto out;
        }
        c->log_level = found;
    }
out:
    glia_yaml_free(&y);
    if (rc)
        config_free(c);
    return rc;
}

glia_status config_read_token(const char *path, char **token, glia_err *err)
{
    enum { MAX = 4096 };
    struct stat st;
    *token = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return glia_err_set(err, GLIA_EIO, "%s: cannot open the token file: %s", path, strerror(errno));
    glia_status rc = GLIA_OK;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        rc = glia_err_set(err, GLIA_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_mode & 077) {
        rc = glia_err_set(err, GLIA_EINVAL,
                          "%s: the token file is readable by others (mode %03o): chmod 600 it", path,
                          (unsigned)(st.st_mode & 0777));
        goto out;
    }
    if (st.st_size > MAX) {
        rc = glia_err_set(err, GLIA_EINVAL, "%s: a token file holds at most %d bytes", path, MAX);
        goto out;
    }
    buf = malloc(MAX + 1);
    ssize_t n = buf ? read(fd, buf, MAX) : -1;
    if (n < 0) {
        rc = glia_err_set(err, GLIA_EIO, "%s: cannot read the token file", path);
        goto out;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    if (n == 0) {
        rc = glia_err_set(err, GLIA_EINVAL, "%s: the token file is empty", path);
        goto out;
    }
    *token = buf;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}
