/*
 * registry.h - the models gliad serves, by name; every loaded version reference-counted.
 *
 * A request takes a counted reference (registry_get) and keeps that version until it
 * answers, whatever reloads happen meanwhile. A reload loads the new version completely
 * outside the lock, then swaps one pointer under it; the old version is freed when its
 * last reference goes. A bundle that fails to load leaves the old version serving and is
 * reported (last_error, failure count) so /v1/models, /readyz and /metrics can say so.
 * The registry never runs a model and never speaks HTTP.
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
} registry_model;

typedef struct {
    char name[128];
    char path[4096];
    registry_model *model; /* a counted reference, or NULL if never loaded */
    char last_error[512];  /* "" when the last load succeeded */
    long failures;
} registry_entry;

typedef struct registry registry;

registry *registry_new(void); /* NULL on OOM */
/* Drops the registry's references; versions still held by requests live on until released. */
void registry_free(registry *r);

/* Makes the served set equal to names/paths (n entries): loads new names, reloads changed
 * ones (another path, or a changed model.yaml or weights file; force = 1 reloads all),
 * drops names not listed. Returns the number of models that failed to load. */
int registry_sync(registry *r, const char *const *names, const char *const *paths, int n, int force);
/* Reloads one configured model from its path. GLIA_ENOTFOUND if name is not configured. */
glia_status registry_reload(registry *r, const char *name, glia_err *err);

/* Serves name from another bundle (a trained version): loads path, then swaps it in
 * atomically - requests holding the old version finish on it - and makes path the
 * entry's path from now on. On failure the old version keeps serving. */
glia_status registry_serve_path(registry *r, const char *name, const char *path, glia_err *err);

/* A counted reference to the current version of name, or NULL (unknown or not loaded). */
registry_model *registry_get(registry *r, const char *name);
/* A counted reference to version `version` of name if that version is loaded, or NULL.
 * (Today only the serving version is loaded; the model repository, issue 14, loads the
 * versions its policy names, and this is the seam the per-version routes use.) */
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
