/*
 * registry.h - the models gliad serves, by name; every loaded version reference-counted.
 *
 * A request takes a counted reference (registry_get) and keeps that version until it
 * answers, whatever reloads happen meanwhile. A reload loads the new version completely
 * outside the lock, then swaps one pointer under it; the old version is freed when its
 * last reference goes. A bundle that fails to load leaves the old version serving and is
 * reported (last_error, failure count) so /v1/models, /readyz and /metrics can say so.
 *
 * A model comes from gliad's config (one version serves: the configured or promoted
 * bundle) or from the model repository (issue 14): then several versions are loaded at
 * once, each counted on its own, and the labels stable and canary say which of them a
 * request without a version gets (registry_pick). A version dropped from the loaded set
 * is only released: requests holding it finish on it.
 * The registry never runs a model, never reads a directory listing and never speaks HTTP.
 */
#ifndef GLIAD_REGISTRY_H
#define GLIAD_REGISTRY_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "core/model/bundle.h"

typedef struct {
    atomic_long refs;
    uint64_t id;     /* unique per loaded version within the process (worker caches key on it) */
    char name[128];  /* the name it is served under (from gliad's config) */
    char path[4096]; /* bundle directory or model.yaml, as configured */
    glia_bundle bundle;
    double load_seconds;
    time_t loaded_at;
    time_t manifest_mtime; /* what the next reload compares against */
    /* precision: the config's override it was loaded with (-1: none, the manifest's), what
     * that asked for, and what is in effect is bundle.model->precision (fp32 where the CPU
     * has no AVX512_BF16) */
    int precision_override;
    glia_precision precision_requested;
} registry_model;

enum { REGISTRY_MAX_VERSIONS = 32 }; /* loaded versions of one repository model at most */

/* One version of a repository model that its policy names: loaded, or why not. */
typedef struct {
    long version;          /* the directory's number, which the loaded manifest is made to say */
    registry_model *model; /* a counted reference, or NULL when it failed to load */
    uint64_t stamp;        /* the files' listing, sizes and mtimes it was tried with */
    char reason[256];      /* why it is not loaded (or why a newer copy did not load); "" */
} registry_version;

/* Which loaded version requests without a version get: stable (0: the highest loaded),
 * and canary_percent % of them the canary (0: none). A label naming a version that is
 * not loaded is kept but not followed until it is. */
typedef struct {
    long stable;
    long canary;
    int canary_percent; /* 0..100 */
} registry_labels;

typedef struct {
    char name[128];
    char path[4096];
    registry_model *model; /* the default version (counted), or NULL if none is loaded */
    char last_error[512];  /* "" when the last load succeeded */
    long failures;
    int repository; /* 1: from the model repository, versions[] holds what its policy names */
    int nversions;
    registry_version versions[REGISTRY_MAX_VERSIONS]; /* ascending; each model counted */
    registry_labels labels;
    int canary_credit; /* the smooth split: +canary_percent per request, a canary turn at 100 */
} registry_entry;

/* A version the repository wants loaded: its bundle directory and the stamp of its files. */
typedef struct {
    long version;
    const char *path;
    uint64_t stamp;
} registry_version_spec;

typedef struct registry registry;

registry *registry_new(void); /* NULL on OOM */
/* Drops the registry's references; versions still held by requests live on until released. */
void registry_free(registry *r);

/* Makes the served set equal to names/paths (n entries): loads new names, reloads changed
 * ones (another path, or a changed model.yaml or weights file; force = 1 reloads all),
 * drops names not listed. Returns the number of models that failed to load. */
int registry_sync(registry *r, const char *const *names, const char *const *paths, int n, int force);
/* The config's precision overrides (models[].precision, repository.models[].precision):
 * names[i] loads in precisions[i] (a glia_precision) whatever its manifest says; a name not
 * listed loads in its manifest's. Replaces the previous table; applies to the loads that
 * follow (registry_sync reloads a config model whose override changed). */
glia_status registry_set_precisions(registry *r, const char *const *names, const int *precisions, int n);

/* Reloads one configured model from its path. GLIA_ENOTFOUND if name is not configured. */
glia_status registry_reload(registry *r, const char *name, glia_err *err);

/* Serves name from another bundle (a trained version): loads path, then swaps it in
 * atomically - requests holding the old version finish on it - and makes path the
 * entry's path from now on. On failure the old version keeps serving. */
glia_status registry_serve_path(registry *r, const char *name, const char *path, glia_err *err);

/* Makes the loaded versions of repository model name those of want[0..n) (ascending, at
 * most REGISTRY_MAX_VERSIONS; one thread at a time): loads a version that is new, or whose
 * stamp changed (or every one with force), outside the lock (a version whose
 * load failed is tried again only when its stamp changes), swaps under it, and releases
 * versions no longer wanted. A version that fails to load keeps its earlier copy, if any,
 * and says why (reason, last_error). The entry is created when new, with labels *initial
 * (may be NULL). Returns the number of loads that failed; -1 when name is a config model. */
int registry_repo_sync(registry *r, const char *name, const registry_version_spec *want, int n, int force,
                       const registry_labels *initial);
/* Removes repository model name and releases its versions (requests finish on them).
 * GLIA_ENOTFOUND when there is no repository model by that name. */
glia_status registry_repo_drop(registry *r, const char *name, glia_err *err);
/* Sets the labels of repository model name. strict: every version named must be loaded
 * (GLIA_EINVAL naming what is loaded otherwise); GLIA_ENOTFOUND when there is no such
 * model, GLIA_EUNSUPPORTED for a model from the config (one version; promote sets what serves). */
glia_status registry_set_labels(registry *r, const char *name, const registry_labels *labels, int strict,
                                glia_err *err);

/* The labels of repository model name into *out; GLIA_ENOTFOUND when there is none. */
glia_status registry_get_labels(registry *r, const char *name, registry_labels *out);

/* A counted reference to the default version of name (the stable label, or the highest
 * loaded; for a config model the one serving), or NULL (unknown or nothing loaded). */
registry_model *registry_get(registry *r, const char *name);
/* The version a request without a version gets: the canary for canary_percent % of calls
 * (deterministically: a smooth weighted split, so 10 % of 2,000 calls is 200 of them),
 * else registry_get's. A counted reference, or NULL. */
registry_model *registry_pick(registry *r, const char *name);
/* A counted reference to version `version` of name if that version is loaded, or NULL.
 * This is the seam the per-version routes use. */
registry_model *registry_get_version(registry *r, const char *name, long version);
/* The version numbers of name that are loaded, ascending, into out[0..cap); returns how
 * many there are (which may exceed cap), 0 when none or name is unknown. */
int registry_loaded_versions(registry *r, const char *name, long *out, int cap);
void registry_model_ref(registry_model *m);
void registry_model_unref(registry_model *m);

/* A snapshot of every configured model, sorted by name; each entry's model (if any) is a
 * counted reference. Free with registry_list_free. Returns the count, -1 on OOM. */
int registry_list(registry *r, registry_entry **out);
void registry_list_free(registry_entry *entries, int n);
/* 1 when every configured model has a loaded version. */
int registry_ready(registry *r);

#endif
