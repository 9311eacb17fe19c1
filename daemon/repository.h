/*
 * repository.h - the model repository (issue 14): DIR/<model>/<version>/ holds bundles, as
 * Triton and TF Serving lay them out, and gliad serves for each model the versions its
 * version policy names (latest N, specific [..], all), all loaded at once in the registry.
 *
 * A scan lists the directories and stamps each version with its files' names, sizes and
 * mtimes (never their contents: weights are not hashed at every poll), and hands the
 * registry the versions wanted with their stamps; the registry loads only what is new or
 * changed, outside its lock. Scans run every poll_interval_ms on a thread of this module,
 * on SIGHUP and on the repository routes, one at a time.
 *
 * The labels stable and canary (and the canary's share) of every repository model are
 * kept durably in STATE/models/NAME/labels (fsync and rename), so that a restart keeps
 * what an admin set; without that file, the config's labels apply. With
 * repository.shared_labels (issue 16: replicas behind a load balancer share one
 * repository) they are kept in DIR/NAME/labels instead and read at every scan, so a
 * promotion, a rollback or a canary set through any replica reaches every replica within
 * its poll interval, as version labels in a polled model config do in TF Serving.
 *
 * This module never speaks HTTP beyond building JSON answers, and never runs a model.
 * Thread-safety: every function may be called from any thread.
 */
#ifndef GLIAD_REPOSITORY_H
#define GLIAD_REPOSITORY_H

#include <jansson.h>

#include "daemon/config.h"
#include "daemon/metrics.h"
#include "daemon/registry.h"

typedef struct repository repository;

/* A repository over cfg->model_repository (copied, with the policies and labels); reg and
 * met are borrowed. Nothing is scanned yet. */
glia_status repository_open(const config *cfg, registry *reg, metrics *met, repository **out, glia_err *err);
/* Stops the polling thread (waiting for a scan it runs). NULL-safe. */
void repository_close(repository *repo);

/* Takes the policies, labels of the config and poll interval of a reloaded config. */
void repository_configure(repository *repo, const config *cfg);
/* Scans the whole repository now: loads what changed, unloads what went. Returns the
 * number of versions that failed to load. */
int repository_scan(repository *repo);
/* Starts polling every poll_interval_ms (nothing when it is 0). */
glia_status repository_start(repository *repo, glia_err *err);

/* 1 when name is a model of the repository (a directory of it). */
int repository_has(repository *repo, const char *name);
/* The Triton index: [{name, version, state, reason}] for every repository model and its
 * versions (ready_only: only those READY). */
json_t *repository_index(repository *repo, int ready_only);
/* POST /v2/repository/models/{name}/load: forgets an unload and loads name's versions now
 * (all of them again). GLIA_ENOTFOUND when DIR/name is no directory; GLIA_EINVAL when no
 * version loads (err says why). */
glia_status repository_load(repository *repo, const char *name, glia_err *err);
/* .../unload: unloads every version of name (requests holding one finish on it); polls
 * leave it unloaded until repository_load. GLIA_ENOTFOUND when it is not loaded. */
glia_status repository_unload(repository *repo, const char *name, glia_err *err);

/* Sets and records the labels of repository model name; every version named must be
 * loaded. GLIA_ENOTFOUND, GLIA_EINVAL (a version not loaded, a bad share), GLIA_EIO. */
glia_status repository_set_labels(repository *repo, const char *name, const registry_labels *labels,
                                  glia_err *err);
/* The directory new versions of name are published into (DIR/name, made if needed) into
 * buf, or NULL when there is no repository. */
const char *repository_model_dir(repository *repo, const char *name, char *buf, size_t len);

#endif
