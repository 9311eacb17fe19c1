/* registry.c - see registry.h. A small array under one mutex: the set of models is tiny,
 * and the lock is held only to copy or swap pointers, never while loading. */
#include "daemon/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/log.h"

struct registry {
    pthread_mutex_t mu;
    registry_entry *entries;
    int n;
};

static atomic_uint_fast64_t next_id = 1;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

registry *registry_new(void)
{
    registry *r = calloc(1, sizeof *r);
    if (r)
        pthread_mutex_init(&r->mu, NULL);
    return r;
}

void registry_model_ref(registry_model *m)
{
    atomic_fetch_add(&m->refs, 1);
}

void registry_model_unref(registry_model *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1) {
        log_debug("model %s version %ld (id %llu) freed", m->name, m->bundle.manifest.version,
                  (unsigned long long)m->id);
        glia_bundle_free(&m->bundle);
        free(m);
    }
}

void registry_free(registry *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++)
        registry_model_unref(r->entries[i].model);
    free(r->entries);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static time_t manifest_mtime(const char *path)
{
    struct stat st;
    char p[4200];
    if (stat(path, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        snprintf(p, sizeof p, "%s/model.yaml", path);
        if (stat(p, &st) != 0)
            return 0;
    }
    return st.st_mtime;
}

/* Loads a new version; never touches the registry. */
static registry_model *load(const char *name, const char *path, glia_err *err)
{
    registry_model *m = calloc(1, sizeof *m);
    if (!m) {
        glia_err_set(err, GLIA_ENOMEM, "out of memory loading model %s", name);
        return NULL;
    }
    double t0 = now_seconds();
    m->manifest_mtime = manifest_mtime(path);
    if (glia_bundle_load(path, &m->bundle, err)) {
        free(m);
        return NULL;
    }
    atomic_init(&m->refs, 1);
    m->id = atomic_fetch_add(&next_id, 1);
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->path, sizeof m->path, "%s", path);
    m->load_seconds = now_seconds() - t0;
    m->loaded_at = time(NULL);
    return m;
}

/* Has the bundle on disk changed since m was loaded? (weights compared by digest) */
static int changed(const registry_model *m, const char *path)
{
    char hex[65];
    glia_err err = {0};
    if (strcmp(m->path, path) != 0 || manifest_mtime(path) != m->manifest_mtime)
        return 1;
    if (glia_sha256_file(m->bundle.manifest.weights, hex, &err) != GLIA_OK)
        return 1;
    return strcmp(hex, m->bundle.sha256) != 0;
}

/* Did the last load of name fail? Its bundle is then tried again on the next sync even when
 * the files match the version serving: an operator who puts the served bundle back (or fixes
 * a file the change check does not look at, such as the vocabulary) must see last_error go. */
static int last_load_failed(registry *r, const char *name)
{
    int failed = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->entries[i].name, name) == 0)
            failed = r->entries[i].last_error[0] != '\0';
    pthread_mutex_unlock(&r->mu);
    return failed;
}

/* Loads name from path and installs it in entry i (looked up again by name under the lock,
 * since the table may change meanwhile). Returns 0 on success. */
static int load_into(registry *r, const char *name, const char *path)
{
    glia_err err = {0};
    registry_model *m = load(name, path, &err), *old = NULL;
    int serving = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++) {
        registry_entry *e = &r->entries[i];
        if (strcmp(e->name, name) != 0)
            continue;
        if (m) {
            old = e->model;
            e->model = m;
            m = NULL;
            e->last_error[0] = '\0';
        } else {
            serving = e->model != NULL;
            e->failures++;
            snprintf(e->last_error, sizeof e->last_error, "%s", err.msg);
        }
        break;
    }
    pthread_mutex_unlock(&r->mu);
    if (err.code) {
        log_error("model %s: load failed, %s: %s", name,
                  serving ? "the old version keeps serving" : "not serving", err.msg);
        return -1;
    }
    registry_model_unref(m); /* only if the name vanished while loading */
    registry_model_unref(old);
    return 0;
}

int registry_sync(registry *r, const char *const *names, const char *const *paths, int n, int force)
{
    int failures = 0;
    /* 1. the new table: keep entries (and their models) for names still listed */
    registry_entry *next = calloc((size_t)(n > 0 ? n : 1), sizeof *next);
    if (!next)
        return n > 0 ? n : 1;
    pthread_mutex_lock(&r->mu);
    for (int j = 0; j < n; j++) {
        snprintf(next[j].name, sizeof next[j].name, "%s", names[j]);
        snprintf(next[j].path, sizeof next[j].path, "%s", paths[j]);
        for (int i = 0; i < r->n; i++)
            if (strcmp(r->entries[i].name, names[j]) == 0) {
                next[j].model = r->entries[i].model;
                r->entries[i].model = NULL;
                next[j].failures = r->entries[i].failures;
                snprintf(next[j].last_error, sizeof next[j].last_error, "%s", r->entries[i].last_error);
            }
    }
    registry_entry *gone = r->entries;
    int ngone = r->n;
    r->entries = next;
    r->n = n;
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < ngone; i++) {
        if (gone[i].model)
            log_info("model %s: removed from the configuration, unloading", gone[i].name);
        registry_model_unref(gone[i].model);
    }
    free(gone);
    /* 2. load what is new or changed, outside the lock */
    for (int j = 0; j < n; j++) {
        registry_model *cur = registry_get(r, names[j]);
        int need = !cur || force || last_load_failed(r, names[j]) || changed(cur, paths[j]);
        registry_model_unref(cur);
        if (need) {
            if (load_into(r, names[j], paths[j]) != 0)
                failures++;
            else if ((cur = registry_get(r, names[j]))) {
                log_info("model %s: loaded version %ld from %s in %.0f ms (weights sha256 %s)", names[j],
                         cur->bundle.manifest.version, paths[j], cur->load_seconds * 1e3, cur->bundle.sha256);
                registry_model_unref(cur);
            }
        }
    }
    return failures;
}

glia_status registry_reload(registry *r, const char *name, glia_err *err)
{
    char path[4096] = "";
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->entries[i].name, name) == 0)
            snprintf(path, sizeof path, "%s", r->entries[i].path);
    pthread_mutex_unlock(&r->mu);
    if (!path[0])
        return glia_err_set(err, GLIA_ENOTFOUND, "no model named '%s' is configured", name);
    if (load_into(r, name, path) != 0) {
        pthread_mutex_lock(&r->mu);
        for (int i = 0; i < r->n; i++)
            if (strcmp(r->entries[i].name, name) == 0)
                glia_err_set(err, GLIA_EINVAL, "%s", r->entries[i].last_error);
        pthread_mutex_unlock(&r->mu);
        return err->code ? err->code : GLIA_EINVAL;
    }
    return GLIA_OK;
}

glia_status registry_serve_path(registry *r, const char *name, const char *path, glia_err *err)
{
    int known = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        known |= strcmp(r->entries[i].name, name) == 0;
    pthread_mutex_unlock(&r->mu);
    if (!known)
        return glia_err_set(err, GLIA_ENOTFOUND, "no model named '%s' is configured", name);
    registry_model *m = load(name, path, err), *old = NULL;
    if (!m)
        return err->code ? err->code : GLIA_EINVAL;
    const long version = m->bundle.manifest.version;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->entries[i].name, name) == 0) {
            old = r->entries[i].model;
            r->entries[i].model = m;
            m = NULL;
            snprintf(r->entries[i].path, sizeof r->entries[i].path, "%s", path);
            r->entries[i].last_error[0] = '\0';
        }
    pthread_mutex_unlock(&r->mu);
    registry_model_unref(m); /* only if the name vanished meanwhile */
    log_info("model %s: now serving version %ld from %s (was %ld)", name, version, path,
             old ? old->bundle.manifest.version : 0L);
    registry_model_unref(old);
    return GLIA_OK;
}

registry_model *registry_get(registry *r, const char *name)
{
    registry_model *m = NULL;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->entries[i].name, name) == 0 && (m = r->entries[i].model))
            registry_model_ref(m);
    pthread_mutex_unlock(&r->mu);
    return m;
}

registry_model *registry_get_version(registry *r, const char *name, long version)
{
    registry_model *m = registry_get(r, name);
    if (m && m->bundle.manifest.version != version) {
        registry_model_unref(m);
        m = NULL;
    }
    return m;
}

int registry_loaded_versions(registry *r, const char *name, long *out, int cap)
{
    registry_model *m = registry_get(r, name);
    if (!m)
        return 0;
    if (cap > 0)
        out[0] = m->bundle.manifest.version;
    registry_model_unref(m);
    return 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const registry_entry *)a)->name, ((const registry_entry *)b)->name);
}

int registry_list(registry *r, registry_entry **out)
{
    pthread_mutex_lock(&r->mu);
    registry_entry *e = malloc(sizeof *e * (size_t)(r->n > 0 ? r->n : 1));
    int n = r->n;
    if (e) {
        memcpy(e, r->entries, sizeof *e * (size_t)n);
        for (int i = 0; i < n; i++)
            if (e[i].model)
                registry_model_ref(e[i].model);
    }
    pthread_mutex_unlock(&r->mu);
    if (!e)
        return -1;
    qsort(e, (size_t)n, sizeof *e, by_name);
    *out = e;
    return n;
}

void registry_list_free(registry_entry *entries, int n)
{
    for (int i = 0; i < n; i++)
        registry_model_unref(entries[i].model);
    free(entries);
}

int registry_ready(registry *r)
{
    int ready = 1;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        ready = ready && r->entries[i].model != NULL;
    pthread_mutex_unlock(&r->mu);
    return ready;
}
