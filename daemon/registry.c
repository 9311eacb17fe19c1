/* registry.c - see registry.h. A small array under one mutex: the set of models is tiny,
 * and the lock is held only to copy or swap pointers, never while loading. */
#include "daemon/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/log.h"

typedef struct {
    char name[128];
    int precision; /* glia_precision */
} precision_override;

struct registry {
    pthread_mutex_t mu;
    registry_entry *entries;
    int n;
    precision_override *overrides; /* the config's; owned */
    int noverrides;
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

/* Drops an entry's counted references: its default version and every loaded version. */
static void entry_release(registry_entry *e)
{
    registry_model_unref(e->model);
    e->model = NULL;
    for (int i = 0; i < e->nversions; i++) {
        registry_model_unref(e->versions[i].model);
        e->versions[i].model = NULL;
    }
    e->nversions = 0;
}

/* Takes one more reference on everything e holds (a copy of e is about to hold them). */
static void entry_ref(registry_entry *e)
{
    if (e->model)
        registry_model_ref(e->model);
    for (int i = 0; i < e->nversions; i++)
        if (e->versions[i].model)
            registry_model_ref(e->versions[i].model);
}

/* With r->mu held: the entry named name, or NULL. */
static registry_entry *find_entry(registry *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->entries[i].name, name) == 0)
            return &r->entries[i];
    return NULL;
}

/* With r->mu held: the loaded model of version v of repository entry e, or NULL. */
static registry_model *loaded_version(const registry_entry *e, long v)
{
    for (int i = 0; i < e->nversions && v > 0; i++)
        if (e->versions[i].version == v)
            return e->versions[i].model;
    return NULL;
}

/* With r->mu held: points e->model (counted) at the stable label's version if loaded, else
 * at the highest loaded version, else NULL; the reference it held is returned to the
 * caller to release outside the lock. */
static registry_model *choose_default(registry_entry *e)
{
    registry_model *old = e->model, *m = loaded_version(e, e->labels.stable);
    for (int i = e->nversions - 1; i >= 0 && !m; i--)
        m = e->versions[i].model;
    if (m) {
        registry_model_ref(m);
        snprintf(e->path, sizeof e->path, "%s", m->path); /* what /v1/models shows */
    }
    e->model = m;
    return old;
}

void registry_free(registry *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++)
        entry_release(&r->entries[i]);
    free(r->entries);
    free(r->overrides);
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

glia_status registry_set_precisions(registry *r, const char *const *names, const int *precisions, int n)
{
    precision_override *next = calloc((size_t)(n > 0 ? n : 1), sizeof *next);
    if (!next)
        return GLIA_ENOMEM;
    for (int i = 0; i < n; i++) {
        snprintf(next[i].name, sizeof next[i].name, "%s", names[i]);
        next[i].precision = precisions[i];
    }
    pthread_mutex_lock(&r->mu);
    free(r->overrides);
    r->overrides = next;
    r->noverrides = n;
    pthread_mutex_unlock(&r->mu);
    return GLIA_OK;
}

/* The config's precision for name, or -1 (the manifest's). */
static int precision_override_of(registry *r, const char *name)
{
    int p = -1;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->noverrides; i++)
        if (strcmp(r->overrides[i].name, name) == 0)
            p = r->overrides[i].precision;
    pthread_mutex_unlock(&r->mu);
    return p;
}

/* The precision m's config override or manifest asks for, applied to its model: bf16
 * copies of the weights where the CPU can run them, else fp32 with a warning. */
static glia_status apply_precision(registry_model *m, int override, glia_err *err)
{
    glia_model *model = m->bundle.model;
    m->precision_override = override;
    m->precision_requested = override >= 0 ? (glia_precision) override : m->bundle.manifest.precision;
    /* fp32 too: it makes the family's fp32 inference copies (the LSTM's, ops->prepare) */
    glia_status rc = glia_model_set_precision(model, m->precision_requested, err);
    if (rc != GLIA_OK)
        return glia_err_prefix(err, "model %s: precision %s", m->name,
                               glia_precision_name(m->precision_requested));
    if (m->precision_requested == GLIA_PRECISION_FP32)
        return GLIA_OK;
    if (model->precision != m->precision_requested)
        log_warn(
            "model %s: precision %s asked but this CPU has no AVX512_BF16 (or GLIA_NO_BF16=1): serving fp32",
            m->name, glia_precision_name(m->precision_requested));
    else
        log_info("model %s: serving %s (%.1f MiB of bf16 weight copies)", m->name,
                 glia_precision_name(model->precision), (double)model->bf16_bytes / 1048576.0);
    return GLIA_OK;
}

/* Loads a new version in the precision the config or manifest asks; never touches the
 * registry's entries. */
static registry_model *load(registry *r, const char *name, const char *path, glia_err *err)
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
    if (apply_precision(m, precision_override_of(r, name), err) != GLIA_OK) {
        glia_bundle_free(&m->bundle);
        free(m);
        return NULL;
    }
    m->load_seconds = now_seconds() - t0;
    m->loaded_at = time(NULL);
    return m;
}

/* Has the bundle on disk changed since m was loaded (weights compared by digest), or the
 * config's precision for it? */
static int changed(registry *r, const registry_model *m, const char *path)
{
    char hex[65];
    glia_err err = {0};
    if (strcmp(m->path, path) != 0 || manifest_mtime(path) != m->manifest_mtime ||
        precision_override_of(r, m->name) != m->precision_override)
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
    registry_model *m = load(r, name, path, &err), *old = NULL;
    int serving = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++) {
        registry_entry *e = &r->entries[i];
        if (strcmp(e->name, name) != 0 || e->repository)
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

/* Does a config sync keep entry e as it is? A repository model, unless the config now
 * names it (a name is served from one place; the config's load refuses a name that is
 * also a repository directory, so this is a model whose directory went). */
static int kept_repository(const registry_entry *e, const char *const *names, int n)
{
    if (!e->repository)
        return 0;
    for (int j = 0; j < n; j++)
        if (strcmp(names[j], e->name) == 0)
            return 0;
    return 1;
}

int registry_sync(registry *r, const char *const *names, const char *const *paths, int n, int force)
{
    int failures = 0;
    /* 1. the new table: keep entries (and their models) for names still listed, and every
     * repository model (the repository's scan manages those) */
    pthread_mutex_lock(&r->mu);
    int nrepo = 0;
    for (int i = 0; i < r->n; i++)
        nrepo += kept_repository(&r->entries[i], names, n);
    registry_entry *next = calloc((size_t)(n + nrepo > 0 ? n + nrepo : 1), sizeof *next);
    if (!next) {
        pthread_mutex_unlock(&r->mu);
        return n > 0 ? n : 1;
    }
    for (int j = 0; j < n; j++) {
        snprintf(next[j].name, sizeof next[j].name, "%s", names[j]);
        snprintf(next[j].path, sizeof next[j].path, "%s", paths[j]);
        for (int i = 0; i < r->n; i++)
            if (!r->entries[i].repository && strcmp(r->entries[i].name, names[j]) == 0) {
                next[j].model = r->entries[i].model;
                r->entries[i].model = NULL;
                next[j].failures = r->entries[i].failures;
                snprintf(next[j].last_error, sizeof next[j].last_error, "%s", r->entries[i].last_error);
            }
    }
    for (int i = 0, k = n; i < r->n; i++)
        if (kept_repository(&r->entries[i], names, n)) {
            next[k++] = r->entries[i]; /* moved with its references */
            r->entries[i].model = NULL;
            r->entries[i].nversions = 0;
        }
    registry_entry *gone = r->entries;
    int ngone = r->n;
    r->entries = next;
    r->n = n + nrepo;
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < ngone; i++) {
        if (gone[i].model)
            log_info("model %s: removed from the configuration, unloading", gone[i].name);
        entry_release(&gone[i]);
    }
    free(gone);
    /* 2. load what is new or changed, outside the lock */
    for (int j = 0; j < n; j++) {
        registry_model *cur = registry_get(r, names[j]);
        int need = !cur || force || last_load_failed(r, names[j]) || changed(r, cur, paths[j]);
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
    int repository = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->entries[i].name, name) == 0) {
            snprintf(path, sizeof path, "%s", r->entries[i].path);
            repository = r->entries[i].repository;
        }
    pthread_mutex_unlock(&r->mu);
    if (repository) /* its versions are the repository's: a scan reloads them */
        return glia_err_set(err, GLIA_EUNSUPPORTED, "model '%s' comes from the model repository", name);
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
        known |= strcmp(r->entries[i].name, name) == 0 && !r->entries[i].repository;
    pthread_mutex_unlock(&r->mu);
    if (!known)
        return glia_err_set(err, GLIA_ENOTFOUND, "no model named '%s' is configured", name);
    registry_model *m = load(r, name, path, err), *old = NULL;
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

/* With r->mu held: a new, empty repository entry for name, or NULL on OOM. */
static registry_entry *add_repo_entry(registry *r, const char *name, const registry_labels *initial)
{
    registry_entry *grown = realloc(r->entries, sizeof *grown * (size_t)(r->n + 1));
    if (!grown)
        return NULL;
    r->entries = grown;
    registry_entry *e = &r->entries[r->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->repository = 1;
    if (initial)
        e->labels = *initial;
    return e;
}

/* With r->mu held: the version record of v in e, or NULL. */
static registry_version *version_of(registry_entry *e, long v)
{
    for (int i = 0; i < e->nversions; i++)
        if (e->versions[i].version == v)
            return &e->versions[i];
    return NULL;
}

static int by_version(const void *a, const void *b)
{
    long x = ((const registry_version *)a)->version, y = ((const registry_version *)b)->version;
    return (x > y) - (x < y);
}

/* With r->mu held: e's last_error is its newest failure still standing ("" if none). */
static void summarise_errors(registry_entry *e)
{
    e->last_error[0] = '\0';
    for (int i = 0; i < e->nversions; i++)
        if (e->versions[i].reason[0])
            snprintf(e->last_error, sizeof e->last_error, "version %ld: %s", e->versions[i].version,
                     e->versions[i].reason);
}

int registry_repo_sync(registry *r, const char *name, const registry_version_spec *want, int n, int force,
                       const registry_labels *initial)
{
    enum { MAX = REGISTRY_MAX_VERSIONS };
    int need[MAX] = {0}, failures = 0, ndrop = 0;
    registry_model *fresh[MAX] = {0}, *drop[2 * MAX + 1];
    char why[MAX][256];
    if (n > MAX)
        n = MAX;
    /* 1. what to load: new versions and changed files; a failed version again only when its
     * files change (or when forced), not at every poll */
    pthread_mutex_lock(&r->mu);
    registry_entry *e = find_entry(r, name);
    if (e && !e->repository) {
        pthread_mutex_unlock(&r->mu);
        return -1;
    }
    if (!e && !(e = add_repo_entry(r, name, initial))) {
        pthread_mutex_unlock(&r->mu);
        return n;
    }
    for (int j = 0; j < n; j++) {
        const registry_version *have = version_of(e, want[j].version);
        need[j] = force || !have || have->stamp != want[j].stamp;
    }
    pthread_mutex_unlock(&r->mu);
    /* 2. load outside the lock */
    for (int j = 0; j < n; j++) {
        glia_err err = {0};
        if (!need[j])
            continue;
        why[j][0] = '\0';
        if (!(fresh[j] = load(r, name, want[j].path, &err))) {
            snprintf(why[j], sizeof why[j], "%s", err.msg);
            log_error("model %s: version %ld does not load (%s): %s", name, want[j].version, want[j].path,
                      err.msg);
            failures++;
            continue;
        }
        /* the directory's number is the version, as in Triton: what the manifest says is
         * overridden so that every answer and registry_get_version agree */
        if (fresh[j]->bundle.manifest.version != want[j].version)
            log_info("model %s: %s says version %ld; the directory's number, %ld, is its version", name,
                     want[j].path, fresh[j]->bundle.manifest.version, want[j].version);
        fresh[j]->bundle.manifest.version = want[j].version;
        log_info("model %s: loaded version %ld from %s in %.0f ms (weights sha256 %s)", name, want[j].version,
                 want[j].path, fresh[j]->load_seconds * 1e3, fresh[j]->bundle.sha256);
    }
    /* 3. swap under the lock */
    registry_version next[MAX];
    pthread_mutex_lock(&r->mu);
    e = find_entry(r, name);
    if (!e || !e->repository) { /* dropped meanwhile */
        pthread_mutex_unlock(&r->mu);
        for (int j = 0; j < n; j++)
            registry_model_unref(fresh[j]);
        return failures;
    }
    for (int j = 0; j < n; j++) {
        registry_version *have = version_of(e, want[j].version);
        registry_version v = {want[j].version, NULL, want[j].stamp, ""};
        if (!need[j] && have) {
            v = *have;
            have->model = NULL;
        } else if (fresh[j]) {
            v.model = fresh[j];
            if (have && have->model) { /* the earlier copy of this version: released */
                drop[ndrop++] = have->model;
                have->model = NULL;
            }
        } else {
            snprintf(v.reason, sizeof v.reason, "%s", why[j]);
            e->failures++;
            if (have) { /* an earlier copy keeps serving */
                v.model = have->model;
                have->model = NULL;
            }
        }
        next[j] = v;
    }
    /* a wanted version that does not load must not cost a loaded one its place: as many
     * versions the policy dropped (the highest first) stay as wanted ones failed */
    int holes = 0, kept = n;
    for (int j = 0; j < n; j++)
        holes += next[j].model == NULL;
    for (int i = e->nversions - 1; i >= 0; i--) {
        registry_version *old = &e->versions[i];
        if (!old->model)
            continue;
        if (holes > 0 && kept < MAX) {
            holes--;
            next[kept] = *old;
            next[kept++].reason[0] = '\0';
            log_debug("model %s: version %ld stays loaded while a newer one does not load", name,
                      old->version);
            continue;
        }
        log_info("model %s: version %ld unloaded (requests holding it finish on it)", name, old->version);
        drop[ndrop++] = old->model;
    }
    qsort(next, (size_t)kept, sizeof *next, by_version);
    memcpy(e->versions, next, sizeof *next * (size_t)kept);
    e->nversions = kept;
    summarise_errors(e);
    drop[ndrop++] = choose_default(e);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < ndrop; i++)
        registry_model_unref(drop[i]);
    return failures;
}

glia_status registry_repo_drop(registry *r, const char *name, glia_err *err)
{
    registry_entry gone;
    int found = 0;
    pthread_mutex_lock(&r->mu);
    registry_entry *e = find_entry(r, name);
    if (e && e->repository) {
        gone = *e;
        memmove(e, e + 1, sizeof *e * (size_t)(r->n - 1 - (e - r->entries)));
        r->n--;
        found = 1;
    }
    pthread_mutex_unlock(&r->mu);
    if (!found)
        return glia_err_set(err, GLIA_ENOTFOUND, "no repository model named '%s' is loaded", name);
    log_info("model %s: unloaded (requests holding a version finish on it)", name);
    entry_release(&gone);
    return GLIA_OK;
}

/* With r->mu held: "1, 2" - the loaded versions of e, for a message. */
static void loaded_text(const registry_entry *e, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < e->nversions && used < len; i++)
        if (e->versions[i].model)
            used +=
                (size_t)snprintf(buf + used, len - used, "%s%ld", used ? ", " : "", e->versions[i].version);
    if (!buf[0])
        snprintf(buf, len, "none");
}

glia_status registry_set_labels(registry *r, const char *name, const registry_labels *labels, int strict,
                                glia_err *err)
{
    registry_model *old = NULL;
    char loaded[256];
    glia_status rc = GLIA_OK;
    if (labels->canary_percent < 0 || labels->canary_percent > 100 || labels->stable < 0 ||
        labels->canary < 0)
        return glia_err_set(err, GLIA_EINVAL, "versions are positive and canary_percent is 0..100");
    pthread_mutex_lock(&r->mu);
    registry_entry *e = find_entry(r, name);
    if (!e) {
        rc = glia_err_set(err, GLIA_ENOTFOUND, "no model named '%s'", name);
        goto out;
    }
    if (!e->repository) {
        rc = glia_err_set(err, GLIA_EUNSUPPORTED,
                          "model '%s' comes from gliad's config and serves one version; promote a version "
                          "to make it serve (labels need a model repository model)",
                          name);
        goto out;
    }
    const long named[2] = {labels->stable, labels->canary};
    for (int i = 0; i < 2 && strict; i++)
        if (named[i] > 0 && !loaded_version(e, named[i])) {
            loaded_text(e, loaded, sizeof loaded);
            rc = glia_err_set(err, GLIA_EINVAL, "version %ld of '%s' is not loaded (loaded: %s)", named[i],
                              name, loaded);
            goto out;
        }
    e->labels = *labels;
    e->canary_credit = 0;
    old = choose_default(e);
out:
    pthread_mutex_unlock(&r->mu);
    registry_model_unref(old);
    return rc;
}

glia_status registry_get_labels(registry *r, const char *name, registry_labels *out)
{
    glia_status rc = GLIA_ENOTFOUND;
    pthread_mutex_lock(&r->mu);
    const registry_entry *e = find_entry(r, name);
    if (e && e->repository) {
        *out = e->labels;
        rc = GLIA_OK;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
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
    registry_model *m = NULL;
    pthread_mutex_lock(&r->mu);
    const registry_entry *e = find_entry(r, name);
    if (e && e->repository) {
        for (int i = 0; i < e->nversions && !m; i++)
            if (e->versions[i].version == version)
                m = e->versions[i].model;
    } else if (e && e->model && e->model->bundle.manifest.version == version) {
        m = e->model;
    }
    if (m)
        registry_model_ref(m);
    pthread_mutex_unlock(&r->mu);
    return m;
}

int registry_loaded_versions(registry *r, const char *name, long *out, int cap)
{
    int n = 0;
    pthread_mutex_lock(&r->mu);
    const registry_entry *e = find_entry(r, name);
    if (e && e->repository) {
        for (int i = 0; i < e->nversions; i++)
            if (e->versions[i].model) {
                if (n < cap)
                    out[n] = e->versions[i].version;
                n++;
            }
    } else if (e && e->model) {
        if (cap > 0)
            out[0] = e->model->bundle.manifest.version;
        n = 1;
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

registry_model *registry_pick(registry *r, const char *name)
{
    registry_model *m = NULL;
    pthread_mutex_lock(&r->mu);
    registry_entry *e = find_entry(r, name);
    if (e && (m = e->model)) {
        registry_model *canary = e->repository ? loaded_version(e, e->labels.canary) : NULL;
        if (canary && canary != m && e->labels.canary_percent > 0) {
            /* the smooth split: exact over every 100 calls, and never two canary turns in a
             * row while the canary's share is at most a half */
            e->canary_credit += e->labels.canary_percent;
            if (e->canary_credit >= 100) {
                e->canary_credit -= 100;
                m = canary;
            }
        }
        registry_model_ref(m);
    }
    pthread_mutex_unlock(&r->mu);
    return m;
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
            entry_ref(&e[i]);
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
        entry_release(&entries[i]);
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
