/*
 * repository.c - see repository.h.
 *
 * Two locks: mu guards the settings (policies, labels from the config, the names unloaded
 * by an admin, the names already complained about) and the polling thread's state; scan_mu
 * makes scans, loads and unloads one at a time (the registry's repository sync expects
 * one caller at a time per model, and two scans would only load the same files twice).
 * scan_mu is taken before mu, never the other way round.
 */
#include "daemon/repository.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/base/afile.h"
#include "daemon/log.h"
#include "daemon/statedir.h"

enum { NAME_MAX_LEN = 64, MAX_MODELS = 1024 };

/* A set of short strings (model names, "model/entry" paths), unordered. */
typedef struct {
    char (*v)[NAME_MAX_LEN * 2 + 2];
    int n;
} nameset;

struct repository {
    pthread_mutex_t scan_mu;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* stopping changed */
    char dir[CONFIG_PATH_MAX];
    char state[CONFIG_PATH_MAX];
    registry *reg;
    metrics *met;
    /* settings from the config, under mu */
    int poll_ms;
    int shared_labels; /* labels in DIR/NAME/labels (every replica's) rather than in STATE */
    config_policy policy;
    config_repo_model *models; /* owned copy */
    int nmodels;
    nameset config_names; /* models of models: (never taken from the repository) */
    nameset unloaded;     /* unloaded by an admin: polls leave them alone */
    nameset complained;   /* entries already logged as ignored */
    pthread_t thread;
    int started, stopping;
    int unlisted; /* the last scan could not list the repository (under scan_mu) */
};

/* ---- small helpers ---- */

static int nameset_has(const nameset *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return 1;
    return 0;
}

/* Adds name (a no-op when present); 0, or -1 on OOM. */
static int nameset_add(nameset *s, const char *name)
{
    if (nameset_has(s, name))
        return 0;
    void *grown = realloc(s->v, sizeof *s->v * (size_t)(s->n + 1));
    if (!grown)
        return -1;
    s->v = grown;
    snprintf(s->v[s->n++], sizeof *s->v, "%s", name);
    return 0;
}

static void nameset_remove(nameset *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0) {
            memmove(s->v[i], s->v[s->n - 1], sizeof *s->v);
            s->n--;
            return;
        }
}

static void nameset_clear(nameset *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* A model name gliad accepts (the same rule as the config's names). */
static int valid_model_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* A version directory's number: digits only, 1..2^40 without a leading zero; else 0. */
static long version_number(const char *s)
{
    long v = 0;
    if (*s < '1' || *s > '9' || strlen(s) > 13)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        v = v * 10 + (*s - '0');
    }
    return v <= (1L << 40) ? v : 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Logs once (per process) that entry of the repository is ignored, and why. */
static void complain_once(repository *repo, const char *entry, const char *why)
{
    pthread_mutex_lock(&repo->mu);
    int fresh = !nameset_has(&repo->complained, entry) && nameset_add(&repo->complained, entry) == 0;
    pthread_mutex_unlock(&repo->mu);
    if (fresh)
        log_warn("model repository %s: ignoring %s: %s", repo->dir, entry, why);
}

/* FNV-1a of bytes into h. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211u;
    return h;
}

/* The stamp of a version directory: its files' names, sizes and mtimes, one level of
 * subdirectories deep, combined so that the listing's order does not matter. A file
 * rewritten, cut or replaced changes it; nothing is read. */
static uint64_t stamp_dir(const char *path, int depth)
{
    uint64_t sum = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char sub[CONFIG_PATH_MAX + 512];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (stat(sub, &st) != 0)
            continue;
        uint64_t h = fnv(14695981039346656037u, e->d_name, strlen(e->d_name));
        const long long facts[4] = {(long long)st.st_size, (long long)st.st_mtim.tv_sec,
                                    (long long)st.st_mtim.tv_nsec, (long long)st.st_ino};
        h = fnv(h, facts, sizeof facts);
        if (S_ISDIR(st.st_mode) && depth > 0)
            h = fnv(h, &(uint64_t){stamp_dir(sub, depth - 1)}, sizeof(uint64_t));
        sum += h;
    }
    if (d)
        closedir(d);
    return sum;
}

static int by_version_desc(const void *a, const void *b)
{
    long x = ((const registry_version_spec *)a)->version, y = ((const registry_version_spec *)b)->version;
    return (x < y) - (x > y);
}

/* Keeps those of v[0..n) (sorted descending) that policy names; returns how many remain. */
static int apply_policy(const config_policy *policy, registry_version_spec *v, int n)
{
    int kept = 0;
    for (int i = 0; i < n; i++) {
        int keep = policy->kind == CONFIG_POLICY_ALL;
        if (policy->kind == CONFIG_POLICY_LATEST)
            keep = i < policy->latest;
        for (int j = 0; policy->kind == CONFIG_POLICY_SPECIFIC && j < policy->nspecific; j++)
            keep |= policy->specific[j] == v[i].version;
        if (keep && kept < REGISTRY_MAX_VERSIONS)
            v[kept++] = v[i];
    }
    return kept;
}

/* ---- labels on disk ---- */

/* The labels file of a model of the repository, beside its versions (shared_labels), and
 * its temporaries while glia_afile_write replaces it: never a version directory. */
static const char LABELS_FILE[] = "labels", LABELS_TEMP[] = "labels.tmp.";

static int shared_labels(repository *repo)
{
    pthread_mutex_lock(&repo->mu);
    const int shared = repo->shared_labels;
    pthread_mutex_unlock(&repo->mu);
    return shared;
}

/* Where name's labels are recorded: DIR/NAME/labels when the replicas sharing the
 * repository share them, else this gliad's STATE/models/NAME/labels. */
static void labels_path(repository *repo, const char *name, char *buf, size_t len)
{
    if (shared_labels(repo))
        snprintf(buf, len, "%s/%s/%s", repo->dir, name, LABELS_FILE);
    else
        snprintf(buf, len, "%s/models/%s/labels", repo->state, name);
}

/* The labels recorded for name: 0 when read, 1 when there is no file, -1 when the file
 * cannot be read or holds no labels (said once). */
static int labels_read(repository *repo, const char *name, registry_labels *out)
{
    char path[CONFIG_PATH_MAX + 256], entry[NAME_MAX_LEN * 2 + 2], why[CONFIG_PATH_MAX + 512];
    char *text = NULL;
    size_t len = 0;
    glia_err err = {0};
    struct stat st;
    labels_path(repo, name, path, sizeof path);
    snprintf(entry, sizeof entry, "%s/%s", name, LABELS_FILE);
    if (stat(path, &st) != 0 && errno == ENOENT)
        return 1;
    if (glia_file_read(path, 4096, "a labels file", &text, &len, &err) != GLIA_OK) {
        complain_once(repo, entry, err.msg);
        return -1;
    }
    json_t *j = json_loadb(text, len, 0, NULL);
    free(text);
    if (!j) {
        snprintf(why, sizeof why, "%s is not JSON; it is not followed", path);
        complain_once(repo, entry, why);
        return -1;
    }
    out->stable = (long)json_integer_value(json_object_get(j, "stable"));
    out->canary = (long)json_integer_value(json_object_get(j, "canary"));
    out->canary_percent = (int)json_integer_value(json_object_get(j, "canary_percent"));
    json_decref(j);
    if (out->stable < 0 || out->canary < 0 || out->canary_percent < 0 || out->canary_percent > 100) {
        snprintf(why, sizeof why, "%s holds labels out of range; it is not followed", path);
        complain_once(repo, entry, why);
        return -1;
    }
    return 0;
}

static glia_status labels_write(repository *repo, const char *name, const registry_labels *l, glia_err *err)
{
    char path[CONFIG_PATH_MAX + 256], text[160];
    const int shared = shared_labels(repo);
    if (!shared) {
        snprintf(path, sizeof path, "%s/models/%s", repo->state, name);
        glia_status rc = statedir_mkdirs(path, err);
        if (rc != GLIA_OK)
            return rc;
    }
    labels_path(repo, name, path, sizeof path);
    int n = snprintf(text, sizeof text, "{\"stable\": %ld, \"canary\": %ld, \"canary_percent\": %d}\n",
                     l->stable, l->canary, l->canary_percent);
    /* a shared file is read by every replica, which may run as other users of one group */
    return glia_afile_write(path, text, (size_t)n, shared ? 0644 : 0600, err);
}

/* The config's labels of name, or none. */
static registry_labels config_labels(repository *repo, const char *name)
{
    registry_labels l = {0, 0, 0};
    pthread_mutex_lock(&repo->mu);
    for (int i = 0; i < repo->nmodels; i++)
        if (strcmp(repo->models[i].name, name) == 0 && repo->models[i].has_labels)
            l = (registry_labels){repo->models[i].stable, repo->models[i].canary,
                                  repo->models[i].canary_percent};
    pthread_mutex_unlock(&repo->mu);
    return l;
}

/* The labels a model starts with: recorded ones, else the config's, else none. */
static registry_labels initial_labels(repository *repo, const char *name)
{
    registry_labels l = {0, 0, 0};
    return labels_read(repo, name, &l) == 0 ? l : config_labels(repo, name);
}

/* With shared labels, after a scan of name: the labels file is the truth for every replica,
 * so what it says (or the config's labels, once it is removed) replaces what serves when
 * they differ. A file that cannot be read changes nothing: a passing error must not move
 * traffic. Labels naming a version this replica has not loaded wait until it has. */
static void follow_shared_labels(repository *repo, const char *name)
{
    registry_labels want = {0, 0, 0}, have;
    glia_err err = {0};
    const int got = labels_read(repo, name, &want);
    if (got < 0 || registry_get_labels(repo->reg, name, &have) != GLIA_OK)
        return;
    if (got == 1)
        want = config_labels(repo, name);
    if (want.stable == have.stable && want.canary == have.canary &&
        want.canary_percent == have.canary_percent)
        return;
    if (registry_set_labels(repo->reg, name, &want, 0, &err) != GLIA_OK) {
        log_warn("model %s: the repository's labels do not apply: %s", name, err.msg);
        return;
    }
    log_info("model %s: labels from the model repository: stable %ld, canary %ld at %d %%", name, want.stable,
             want.canary, want.canary_percent);
}

/* ---- scanning ---- */

/* With scan_mu held: loads what name's policy names from DIR/name (force: every version
 * again). Returns the failed loads; *wanted says how many versions the policy named. */
static int scan_model(repository *repo, const char *name, int force, int *wanted)
{
    char dir[CONFIG_PATH_MAX + 128];
    registry_version_spec *v = NULL;
    char(*paths)[CONFIG_PATH_MAX + 256] = NULL;
    int n = 0, cap = 0, failures = 0;
    *wanted = 0;
    snprintf(dir, sizeof dir, "%s/%s", repo->dir, name);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char entry[NAME_MAX_LEN * 2 + 2];
        if (e->d_name[0] == '.' || strcmp(e->d_name, LABELS_FILE) == 0 ||
            strncmp(e->d_name, LABELS_TEMP, sizeof LABELS_TEMP - 1) == 0)
            continue; /* ., .., hidden work directories, the shared labels */
        long number = version_number(e->d_name);
        snprintf(entry, sizeof entry, "%s/%.64s", name, e->d_name);
        if (!number) {
            complain_once(repo, entry, "a version directory's name is a positive integer");
            continue;
        }
        if (n == cap) {
            int next = cap ? 2 * cap : 8;
            void *gv = realloc(v, sizeof *v * (size_t)next),
                 *gp = gv ? realloc(paths, sizeof *paths * (size_t)next) : NULL;
            if (gv)
                v = gv;
            if (!gv || !gp) {
                log_error("model repository: out of memory listing %s", dir);
                break;
            }
            paths = gp;
            cap = next;
        }
        snprintf(paths[n], sizeof paths[n], "%s/%s", dir, e->d_name);
        if (!is_dir(paths[n])) {
            complain_once(repo, entry, "not a directory");
            continue;
        }
        v[n] = (registry_version_spec){number, NULL, stamp_dir(paths[n], 1)};
        n++;
    }
    if (d)
        closedir(d);
    for (int i = 0; i < n; i++)
        v[i].path = paths[i];
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, by_version_desc);
    pthread_mutex_lock(&repo->mu);
    config_policy policy = repo->policy;
    for (int i = 0; i < repo->nmodels; i++)
        if (strcmp(repo->models[i].name, name) == 0 && repo->models[i].has_policy)
            policy = repo->models[i].policy;
    pthread_mutex_unlock(&repo->mu);
    n = apply_policy(&policy, v, n);
    /* ascending, as the registry keeps them */
    for (int i = 0; i < n / 2; i++) {
        registry_version_spec t = v[i];
        v[i] = v[n - 1 - i];
        v[n - 1 - i] = t;
    }
    *wanted = n;
    if (n > 0) {
        const registry_labels initial = initial_labels(repo, name);
        failures = registry_repo_sync(repo->reg, name, v, n, force, &initial);
        for (int i = 0; i < failures; i++)
            metrics_model_load_failure(repo->met, name);
        if (shared_labels(repo)) /* after the versions: labels may name one just loaded */
            follow_shared_labels(repo, name);
    } else {
        registry_repo_drop(repo->reg, name, &(glia_err){0});
    }
    free(v);
    free(paths);
    return failures;
}

/* With scan_mu held: the whole repository. */
static int scan_all(repository *repo)
{
    nameset seen = {0};
    int failures = 0, wanted;
    DIR *d = opendir(repo->dir);
    struct dirent *e;
    if (!d && !repo->unlisted) /* said once per outage, not at every poll */
        log_error("model repository %s: cannot list it (what is loaded keeps serving): %s", repo->dir,
                  strerror(errno));
    repo->unlisted = !d;
    while (d && (e = readdir(d))) {
        char path[CONFIG_PATH_MAX + 128];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", repo->dir, e->d_name);
        if (!is_dir(path))
            continue;
        if (!valid_model_name(e->d_name)) {
            complain_once(repo, e->d_name, "a model's name is 1-64 letters, digits, '.', '_' or '-'");
            continue;
        }
        pthread_mutex_lock(&repo->mu);
        const int config_model = nameset_has(&repo->config_names, e->d_name);
        const int unloaded = nameset_has(&repo->unloaded, e->d_name);
        pthread_mutex_unlock(&repo->mu);
        if (config_model) {
            complain_once(repo, e->d_name, "a model of that name is in the config's models:");
            continue;
        }
        if (unloaded || seen.n >= MAX_MODELS || nameset_add(&seen, e->d_name) != 0)
            continue;
        failures += scan_model(repo, e->d_name, 0, &wanted);
    }
    if (d)
        closedir(d);
    /* what went from disk (or was unloaded) goes from the registry; not when the listing
     * failed: a passing I/O error must not unload everything */
    registry_entry *list;
    int n = d ? registry_list(repo->reg, &list) : -1;
    for (int i = 0; i < n; i++)
        if (list[i].repository && !nameset_has(&seen, list[i].name)) {
            log_info("model %s: gone from the model repository", list[i].name);
            registry_repo_drop(repo->reg, list[i].name, &(glia_err){0});
        }
    if (n >= 0)
        registry_list_free(list, n);
    nameset_clear(&seen);
    return failures;
}

int repository_scan(repository *repo)
{
    pthread_mutex_lock(&repo->scan_mu);
    int failures = scan_all(repo);
    pthread_mutex_unlock(&repo->scan_mu);
    return failures;
}

/* ---- life cycle ---- */

void repository_configure(repository *repo, const config *cfg)
{
    config_repo_model *copy = calloc((size_t)(cfg->nrepo_models > 0 ? cfg->nrepo_models : 1), sizeof *copy);
    nameset names = {0};
    int ok = copy != NULL;
    for (int i = 0; ok && i < cfg->nmodels; i++)
        ok = nameset_add(&names, cfg->models[i].name) == 0;
    if (!ok) { /* the settings in force stay */
        log_error("model repository: out of memory taking the new settings");
        free(copy);
        nameset_clear(&names);
        return;
    }
    if (cfg->nrepo_models > 0)
        memcpy(copy, cfg->repo_models, sizeof *copy * (size_t)cfg->nrepo_models);
    pthread_mutex_lock(&repo->mu);
    free(repo->models);
    nameset_clear(&repo->config_names);
    repo->models = copy;
    repo->nmodels = cfg->nrepo_models;
    repo->config_names = names;
    repo->policy = cfg->repo_policy;
    repo->poll_ms = cfg->repo_poll_interval_ms;
    repo->shared_labels = cfg->repo_shared_labels;
    pthread_cond_broadcast(&repo->cv); /* a new interval applies at once */
    pthread_mutex_unlock(&repo->mu);
}

glia_status repository_open(const config *cfg, registry *reg, metrics *met, repository **out, glia_err *err)
{
    *out = NULL;
    repository *repo = calloc(1, sizeof *repo);
    if (!repo)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    pthread_condattr_t attr;
    pthread_mutex_init(&repo->scan_mu, NULL);
    pthread_mutex_init(&repo->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&repo->cv, &attr);
    pthread_condattr_destroy(&attr);
    snprintf(repo->dir, sizeof repo->dir, "%s", cfg->model_repository);
    snprintf(repo->state, sizeof repo->state, "%s", cfg->state_dir);
    repo->reg = reg;
    repo->met = met;
    repository_configure(repo, cfg);
    *out = repo;
    return GLIA_OK;
}

static void *poll_thread(void *arg)
{
    repository *repo = arg;
    pthread_mutex_lock(&repo->mu);
    while (!repo->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        const int ms = repo->poll_ms;
        if (ms <= 0) { /* no polling until a reload sets an interval */
            pthread_cond_wait(&repo->cv, &repo->mu);
            continue;
        }
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&repo->cv, &repo->mu, &ts) != ETIMEDOUT)
            continue; /* stopping, or a new interval: look again */
        pthread_mutex_unlock(&repo->mu);
        repository_scan(repo);
        pthread_mutex_lock(&repo->mu);
    }
    pthread_mutex_unlock(&repo->mu);
    return NULL;
}

glia_status repository_start(repository *repo, glia_err *err)
{
    if (pthread_create(&repo->thread, NULL, poll_thread, repo) != 0)
        return glia_err_set(err, GLIA_ENOMEM, "cannot start the model repository's polling thread");
    repo->started = 1;
    return GLIA_OK;
}

void repository_close(repository *repo)
{
    if (!repo)
        return;
    if (repo->started) {
        pthread_mutex_lock(&repo->mu);
        repo->stopping = 1;
        pthread_cond_broadcast(&repo->cv);
        pthread_mutex_unlock(&repo->mu);
        pthread_join(repo->thread, NULL);
    }
    free(repo->models);
    nameset_clear(&repo->config_names);
    nameset_clear(&repo->unloaded);
    nameset_clear(&repo->complained);
    pthread_cond_destroy(&repo->cv);
    pthread_mutex_destroy(&repo->mu);
    pthread_mutex_destroy(&repo->scan_mu);
    free(repo);
}

/* ---- what the routes ask ---- */

int repository_has(repository *repo, const char *name)
{
    char path[CONFIG_PATH_MAX + 128];
    if (!valid_model_name(name))
        return 0;
    pthread_mutex_lock(&repo->mu);
    const int config_model = nameset_has(&repo->config_names, name);
    pthread_mutex_unlock(&repo->mu);
    snprintf(path, sizeof path, "%s/%s", repo->dir, name);
    return !config_model && is_dir(path);
}

json_t *repository_index(repository *repo, int ready_only)
{
    registry_entry *e;
    int n = registry_list(repo->reg, &e);
    if (n < 0)
        return NULL;
    json_t *list = json_array();
    for (int i = 0; i < n; i++)
        for (int k = 0; e[i].repository && k < e[i].nversions; k++) {
            const registry_version *v = &e[i].versions[k];
            char version[32];
            if (ready_only && !v->model)
                continue;
            snprintf(version, sizeof version, "%ld", v->version);
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "name", e[i].name, "version",
                                                  version, "state", v->model ? "READY" : "UNAVAILABLE",
                                                  "reason", v->reason));
        }
    registry_list_free(e, n);
    pthread_mutex_lock(&repo->mu);
    for (int i = 0; i < repo->unloaded.n && !ready_only; i++)
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "name", repo->unloaded.v[i], "state",
                                              "UNAVAILABLE", "reason", "unloaded"));
    pthread_mutex_unlock(&repo->mu);
    return list;
}

glia_status repository_load(repository *repo, const char *name, glia_err *err)
{
    int wanted;
    glia_status rc = GLIA_OK;
    if (!repository_has(repo, name))
        return glia_err_set(err, GLIA_ENOTFOUND, "no model '%s' in the model repository", name);
    pthread_mutex_lock(&repo->scan_mu);
    pthread_mutex_lock(&repo->mu);
    nameset_remove(&repo->unloaded, name);
    pthread_mutex_unlock(&repo->mu);
    scan_model(repo, name, 1, &wanted);
    long loaded;
    if (wanted == 0) {
        rc = glia_err_set(err, GLIA_EINVAL, "model '%s' has no version directory its version policy names",
                          name);
    } else if (registry_loaded_versions(repo->reg, name, &loaded, 1) == 0) {
        registry_entry *e;
        int n = registry_list(repo->reg, &e);
        rc = glia_err_set(err, GLIA_EINVAL, "no version of model '%s' loads", name);
        for (int i = 0; i < n; i++)
            if (strcmp(e[i].name, name) == 0 && e[i].last_error[0])
                glia_err_set(err, GLIA_EINVAL, "no version of model '%s' loads: %s", name, e[i].last_error);
        if (n >= 0)
            registry_list_free(e, n);
    }
    pthread_mutex_unlock(&repo->scan_mu);
    return rc;
}

glia_status repository_unload(repository *repo, const char *name, glia_err *err)
{
    glia_err ignored = {0};
    pthread_mutex_lock(&repo->scan_mu);
    const int dropped = registry_repo_drop(repo->reg, name, &ignored) == GLIA_OK;
    glia_status rc = GLIA_OK;
    if (dropped || repository_has(repo, name)) {
        pthread_mutex_lock(&repo->mu);
        if (nameset_add(&repo->unloaded, name) != 0)
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory");
        pthread_mutex_unlock(&repo->mu);
    } else {
        rc = glia_err_set(err, GLIA_ENOTFOUND, "no model '%s' in the model repository", name);
    }
    pthread_mutex_unlock(&repo->scan_mu);
    return rc;
}

glia_status repository_set_labels(repository *repo, const char *name, const registry_labels *labels,
                                  glia_err *err)
{
    registry_labels before = {0, 0, 0};
    /* one at a time with scans: a scan that read the shared file just before it is replaced
     * must not put the old labels back in between */
    pthread_mutex_lock(&repo->scan_mu);
    registry_get_labels(repo->reg, name, &before);
    glia_status rc = registry_set_labels(repo->reg, name, labels, 1, err);
    if (rc == GLIA_OK && (rc = labels_write(repo, name, labels, err)) != GLIA_OK) {
        glia_err ignored = {0};
        registry_set_labels(repo->reg, name, &before, 0, &ignored); /* what is served is what is recorded */
    }
    pthread_mutex_unlock(&repo->scan_mu);
    if (rc == GLIA_OK)
        log_info("model %s: labels stable %ld, canary %ld at %d %%", name, labels->stable, labels->canary,
                 labels->canary_percent);
    return rc;
}

const char *repository_model_dir(repository *repo, const char *name, char *buf, size_t len)
{
    if (!repo)
        return NULL;
    snprintf(buf, len, "%s/%s", repo->dir, name);
    return buf;
}
