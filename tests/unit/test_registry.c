/*
 * test_registry.c - gliad's model registry: loading, change detection, hot swap with
 * counted references (an old version stays usable until its last holder lets go), a
 * failing reload that leaves the old version serving (and a fixed bundle that clears its
 * error), removal, and many threads taking
 * references while the main thread reloads (ASan turns any use-after-free into a failure).
 * The model repository (issue 14): several versions of a model loaded at once, what a
 * sync loads again (changed stamps only), a broken version that costs no loaded one its
 * place, a dropped version that lives on while held, labels and the canary's exact share,
 * and the version policies applied by a scan of a repository directory.
 */
#include "daemon/registry.h"
#include "daemon/repository.h"
#include "tests/support/check_main.h"
#include "tests/support/tiny_bundle.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "registry");
    tiny_bundle_write(tmpdir, 1);
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

static int sync_one(registry *r, const char *name, int force)
{
    const char *names[] = {name}, *paths[] = {tmpdir};
    return registry_sync(r, names, paths, 1, force);
}

START_TEST(load_and_get)
{
    registry *r = registry_new();
    ck_assert_int_eq(registry_ready(r), 1); /* nothing configured */
    ck_assert_int_eq(sync_one(r, "tiny", 0), 0);
    ck_assert_int_eq(registry_ready(r), 1);
    registry_model *m = registry_get(r, "tiny");
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->name, "tiny");
    ck_assert_uint_eq(m->bundle.model->input_size, 16);
    ck_assert_int_eq(m->bundle.model->outputs, 3);
    ck_assert_ptr_null(registry_get(r, "other"));
    registry_entry *e;
    ck_assert_int_eq(registry_list(r, &e), 1);
    ck_assert_str_eq(e[0].name, "tiny");
    ck_assert_ptr_eq(e[0].model, m);
    registry_list_free(e, 1);
    registry_model_unref(m);
    registry_free(r);
}
END_TEST

START_TEST(reload_swaps_and_old_version_lives_on)
{
    registry *r = registry_new();
    ck_assert_int_eq(sync_one(r, "tiny", 0), 0);
    registry_model *old = registry_get(r, "tiny");
    /* unchanged on disk: no new version */
    ck_assert_int_eq(sync_one(r, "tiny", 0), 0);
    registry_model *same = registry_get(r, "tiny");
    ck_assert_ptr_eq(same, old);
    registry_model_unref(same);
    /* new weights: a new version; the old one still holds its own weights */
    float w0 = old->bundle.model->values[0];
    tiny_bundle_write_weights(tmpdir, 2);
    ck_assert_int_eq(sync_one(r, "tiny", 0), 0);
    registry_model *cur = registry_get(r, "tiny");
    ck_assert_ptr_ne(cur, old);
    ck_assert_uint_gt(cur->id, old->id);
    ck_assert_str_ne(cur->bundle.sha256, old->bundle.sha256);
    ck_assert_float_eq(old->bundle.model->values[0], w0);
    registry_model_unref(old); /* freed here: ASan checks nobody else used it */
    registry_model_unref(cur);
    registry_free(r);
}
END_TEST

START_TEST(failed_reload_keeps_serving)
{
    glia_err err = {0};
    registry *r = registry_new();
    ck_assert_int_eq(sync_one(r, "tiny", 0), 0);
    registry_model *before = registry_get(r, "tiny");
    glia_test_write(tmpdir, "model.safetensors", "not a safetensors file");
    ck_assert_int_eq(sync_one(r, "tiny", 0), 1);
    registry_model *after = registry_get(r, "tiny");
    ck_assert_ptr_eq(after, before);
    ck_assert_int_ne(registry_reload(r, "tiny", &err), GLIA_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "model.safetensors"));
    ck_assert_int_eq(registry_reload(r, "nope", &err), GLIA_ENOTFOUND);
    registry_entry *e;
    ck_assert_int_eq(registry_list(r, &e), 1);
    ck_assert_ptr_eq(e[0].model, before);
    ck_assert_int_eq(e[0].failures, 2);
    ck_assert_ptr_nonnull(strstr(e[0].last_error, "model.safetensors"));
    registry_list_free(e, 1);
    ck_assert_int_eq(registry_ready(r), 1);
    registry_model_unref(before);
    registry_model_unref(after);
    registry_free(r);
}
END_TEST

/* Rewrites the bundle's weights with element `index` of its first tensor set to NaN. */
static void poison_weights(size_t index)
{
    char path[512];
    glia_err err = {0};
    glia_st_file *f = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    ck_assert_msg(glia_st_open(path, &f, &err) == GLIA_OK, "%s", err.msg);
    const size_t n = glia_st_count(f);
    glia_st_entry e[8];
    float *values[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        const glia_st_tensor *t = glia_st_at(f, i);
        values[i] = malloc(sizeof(float) * glia_st_numel(t));
        ck_assert_int_eq(glia_st_read_f32(t, values[i], glia_st_numel(t), &err), GLIA_OK);
        e[i] = (glia_st_entry){t->name, GLIA_DT_F32, t->ndim, t->shape, values[i]};
    }
    ck_assert_uint_gt(glia_st_numel(glia_st_at(f, 0)), index);
    values[0][index] = NAN;
    ck_assert_msg(glia_st_write(path, e, n, NULL, &err) == GLIA_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        free(values[i]);
    glia_st_close(f);
}

static void assert_last_error(registry *r, const char *want, long failures)
{
    registry_entry *e;
    ck_assert_int_eq(registry_list(r, &e), 1);
    ck_assert_msg(strstr(e[0].last_error, want) != NULL, "last_error '%s', want '%s'", e[0].last_error, want);
    ck_assert_int_eq(e[0].failures, failures);
    registry_list_free(e, 1);
}

/* A bundle that fails (weights cut short, then NaN weights) leaves the old version serving,
 * through a sync (SIGHUP) and through registry_reload (the admin route); putting the served
 * bundle back clears last_error on the next sync, though the files then match what is served. */
START_TEST(fixed_bundle_clears_last_error)
{
    glia_err err = {0};
    char path[512];
    registry *r = registry_new();
    ck_assert_int_eq(sync_one(r, "tiny", 0), 0);
    registry_model *before = registry_get(r, "tiny");

    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size - 5), 0);
    ck_assert_int_eq(sync_one(r, "tiny", 0), 1);
    assert_last_error(r, "model.safetensors", 1);

    tiny_bundle_write_weights(tmpdir, 1);
    poison_weights(1);
    ck_assert_int_eq(sync_one(r, "tiny", 0), 1);
    ck_assert_int_ne(registry_reload(r, "tiny", &err), GLIA_OK);
    ck_assert_msg(strstr(err.msg, "holds a NaN at element 1") != NULL, "%s", err.msg);
    assert_last_error(r, "holds a NaN at element 1", 3);
    registry_model *during = registry_get(r, "tiny");
    ck_assert_ptr_eq(during, before);
    registry_model_unref(during);

    tiny_bundle_write_weights(tmpdir, 1); /* the bundle that is serving, back in place */
    ck_assert_int_eq(sync_one(r, "tiny", 0), 0);
    assert_last_error(r, "", 3);
    registry_model *after = registry_get(r, "tiny");
    ck_assert_str_eq(after->bundle.sha256, before->bundle.sha256);
    registry_model_unref(after);
    /* and with nothing failed, an unchanged bundle is not loaded again */
    after = registry_get(r, "tiny");
    ck_assert_int_eq(sync_one(r, "tiny", 0), 0);
    registry_model *again = registry_get(r, "tiny");
    ck_assert_ptr_eq(again, after);
    registry_model_unref(again);
    registry_model_unref(after);
    registry_model_unref(before);
    registry_free(r);
}
END_TEST

START_TEST(never_loaded_is_not_ready)
{
    registry *r = registry_new();
    const char *names[] = {"ghost"}, *paths[] = {"/nonexistent/bundle"};
    ck_assert_int_eq(registry_sync(r, names, paths, 1, 0), 1);
    ck_assert_int_eq(registry_ready(r), 0);
    ck_assert_ptr_null(registry_get(r, "ghost"));
    /* dropping it from the configuration makes the set ready again */
    ck_assert_int_eq(registry_sync(r, names, paths, 0, 0), 0);
    ck_assert_int_eq(registry_ready(r), 1);
    registry_free(r);
}
END_TEST

typedef struct {
    registry *r;
    atomic_int stop;
    atomic_long gets;
} hammer;

static void *take_refs(void *arg)
{
    hammer *h = arg;
    while (!atomic_load(&h->stop)) {
        registry_model *m = registry_get(h->r, "tiny");
        ck_assert_ptr_nonnull(m);
        /* touch the weights the reference guarantees */
        volatile float v = m->bundle.model->values[m->bundle.model->size - 1];
        (void)v;
        registry_model_unref(m);
        atomic_fetch_add(&h->gets, 1);
    }
    return NULL;
}

START_TEST(references_survive_concurrent_reloads)
{
    hammer h = {.r = registry_new()};
    ck_assert_int_eq(sync_one(h.r, "tiny", 0), 0);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, take_refs, &h), 0);
    /* Each reload waits until the readers took more references: on a busy machine the 30
     * reloads could otherwise all finish before a reader thread is first scheduled, and the
     * test would check nothing. */
    for (int i = 0; i < 30; i++) {
        const long before = atomic_load(&h.gets);
        ck_assert_int_eq(sync_one(h.r, "tiny", 1), 0);
        while (atomic_load(&h.gets) == before)
            sched_yield();
    }
    atomic_store(&h.stop, 1);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_gt(atomic_load(&h.gets), 0);
    registry_model *m = registry_get(h.r, "tiny");
    ck_assert_int_eq(atomic_load(&m->refs), 2); /* the registry's and ours: nothing leaked */
    registry_model_unref(m);
    registry_free(h.r);
}
END_TEST

/* ---- the model repository ---- */

/* tmpdir/repo/NAME/V for each V of versions[0..n), tiny bundles with weights from seed V. */
static void repo_versions(const char *name, const long *versions, int n)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/repo", tmpdir);
    mkdir(dir, 0700);
    snprintf(dir, sizeof dir, "%s/repo/%s", tmpdir, name);
    mkdir(dir, 0700);
    for (int i = 0; i < n; i++) {
        snprintf(dir, sizeof dir, "%s/repo/%s/%ld", tmpdir, name, versions[i]);
        mkdir(dir, 0700);
        tiny_bundle_write(dir, (unsigned)versions[i]);
    }
}

/* Specs for versions[0..n) of tiny (ascending), paths into paths, stamps = the numbers
 * plus salt (a changed stamp is a changed version). */
static void specs(registry_version_spec *out, char (*paths)[512], const long *versions, int n, uint64_t salt)
{
    for (int i = 0; i < n; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/repo/tiny/%ld", tmpdir, versions[i]);
        out[i] = (registry_version_spec){versions[i], paths[i], (uint64_t)versions[i] + salt};
    }
}

static long loaded(registry *r, long *out)
{
    return registry_loaded_versions(r, "tiny", out, REGISTRY_MAX_VERSIONS);
}

START_TEST(repository_versions_load_together)
{
    const long v[] = {1, 2, 3};
    long got[REGISTRY_MAX_VERSIONS];
    char paths[3][512];
    registry_version_spec want[3];
    repo_versions("tiny", v, 3);
    specs(want, paths, v, 3, 0);
    registry *r = registry_new();
    ck_assert_int_eq(registry_repo_sync(r, "tiny", want, 3, 0, NULL), 0);
    ck_assert_int_eq(loaded(r, got), 3);
    ck_assert_int_eq(got[0], 1);
    ck_assert_int_eq(got[2], 3);
    /* each is its own bundle, and says the directory's number (the manifests all say 1) */
    registry_model *m2 = registry_get_version(r, "tiny", 2), *m3 = registry_get_version(r, "tiny", 3);
    ck_assert_ptr_nonnull(m2);
    ck_assert_ptr_ne(m2, m3);
    ck_assert_int_eq(m2->bundle.manifest.version, 2);
    ck_assert_ptr_null(registry_get_version(r, "tiny", 4));
    /* without labels the highest serves */
    registry_model *def = registry_get(r, "tiny");
    ck_assert_ptr_eq(def, m3);
    registry_model_unref(def);
    /* a sync with the same stamps loads nothing again */
    ck_assert_int_eq(registry_repo_sync(r, "tiny", want, 3, 0, NULL), 0);
    registry_model *again = registry_get_version(r, "tiny", 2);
    ck_assert_ptr_eq(again, m2);
    registry_model_unref(again);
    /* the policy drops 2: a request holding it finishes on it (ASan checks the memory) */
    const long keep[] = {1, 3};
    specs(want, paths, keep, 2, 0);
    ck_assert_int_eq(registry_repo_sync(r, "tiny", want, 2, 0, NULL), 0);
    ck_assert_ptr_null(registry_get_version(r, "tiny", 2));
    ck_assert_int_eq(atomic_load(&m2->refs), 1); /* only ours */
    ck_assert_int_eq(m2->bundle.model->outputs, 3);
    registry_model_unref(m2);
    /* a config sync (another model) keeps the repository's */
    const char *names[] = {"cfg"}, *cfg_paths[] = {paths[0]};
    ck_assert_int_eq(registry_sync(r, names, cfg_paths, 1, 0), 0);
    ck_assert_int_eq(loaded(r, got), 2);
    ck_assert_int_eq(registry_repo_sync(r, "cfg", want, 1, 0, NULL), -1); /* a name served from one place */
    ck_assert_int_eq(registry_ready(r), 1);
    /* dropping the model releases every version; the held one lives on */
    ck_assert_int_eq(registry_repo_drop(r, "tiny", &(glia_err){0}), GLIA_OK);
    ck_assert_int_eq(registry_repo_drop(r, "tiny", &(glia_err){0}), GLIA_ENOTFOUND);
    ck_assert_ptr_null(registry_get(r, "tiny"));
    ck_assert_int_eq(m3->bundle.manifest.version, 3);
    registry_model_unref(m3);
    registry_free(r);
}
END_TEST

START_TEST(repository_broken_version_keeps_old_ones)
{
    const long v[] = {1, 2};
    long got[REGISTRY_MAX_VERSIONS];
    char paths[2][512];
    registry_version_spec want[2];
    repo_versions("tiny", v, 2);
    specs(want, paths, v, 2, 0);
    registry *r = registry_new();
    ck_assert_int_eq(registry_repo_sync(r, "tiny", want, 2, 0, NULL), 0);
    /* version 3 arrives cut; the policy (latest 2) wants 2 and 3 */
    char cut[512];
    snprintf(cut, sizeof cut, "%s/repo/tiny/3", tmpdir);
    mkdir(cut, 0700);
    tiny_bundle_write(cut, 3);
    strncat(cut, "/model.safetensors", sizeof cut - strlen(cut) - 1);
    ck_assert_int_eq(truncate(cut, 40), 0);
    const long next[] = {2, 3};
    specs(want, paths, next, 2, 0);
    ck_assert_int_eq(registry_repo_sync(r, "tiny", want, 2, 0, NULL), 1);
    /* 1 and 2 still serve; 3 is reported with its reason */
    ck_assert_int_eq(loaded(r, got), 2);
    ck_assert_int_eq(got[0], 1);
    ck_assert_int_eq(got[1], 2);
    registry_entry *e;
    ck_assert_int_eq(registry_list(r, &e), 1);
    ck_assert_int_eq(e[0].nversions, 3);
    ck_assert_int_eq(e[0].versions[2].version, 3);
    ck_assert_ptr_null(e[0].versions[2].model);
    ck_assert_str_ne(e[0].versions[2].reason, "");
    ck_assert_ptr_nonnull(strstr(e[0].last_error, "version 3"));
    ck_assert_int_eq(e[0].failures, 1);
    ck_assert_int_eq(e[0].model->bundle.manifest.version, 2);
    registry_list_free(e, 1);
    /* the same files are not tried again at every poll */
    ck_assert_int_eq(registry_repo_sync(r, "tiny", want, 2, 0, NULL), 0);
    /* fixed (its files change): it loads, and 1 leaves as the policy says */
    snprintf(cut, sizeof cut, "%s/repo/tiny/3", tmpdir);
    tiny_bundle_write(cut, 3);
    specs(want, paths, next, 2, 100);
    ck_assert_int_eq(registry_repo_sync(r, "tiny", want, 2, 0, NULL), 0);
    ck_assert_int_eq(loaded(r, got), 2);
    ck_assert_int_eq(got[0], 2);
    ck_assert_int_eq(got[1], 3);
    ck_assert_int_eq(registry_list(r, &e), 1);
    ck_assert_str_eq(e[0].last_error, "");
    registry_list_free(e, 1);
    registry_free(r);
}
END_TEST

START_TEST(repository_reloaded_version_is_not_kept_twice)
{
    const long v[] = {1, 2};
    long got[REGISTRY_MAX_VERSIONS];
    char paths[2][512];
    registry_version_spec want[2];
    repo_versions("tiny", v, 2);
    specs(want, paths, v, 2, 0);
    registry *r = registry_new();
    ck_assert_int_eq(registry_repo_sync(r, "tiny", want, 2, 0, NULL), 0);
    registry_model *old2 = registry_get_version(r, "tiny", 2);
    /* version 2 changes on disk while a broken 3 arrives: the new 2 replaces the old one,
     * 1 stays for the broken 3, and no version is there twice */
    const long next[] = {2, 3};
    specs(want, paths, next, 2, 7);
    ck_assert_int_eq(registry_repo_sync(r, "tiny", want, 2, 0, NULL), 1); /* no bundle at .../3 */
    ck_assert_int_eq(loaded(r, got), 2);
    ck_assert_int_eq(got[0], 1);
    ck_assert_int_eq(got[1], 2);
    registry_model *new2 = registry_get_version(r, "tiny", 2);
    ck_assert_ptr_ne(new2, old2);
    ck_assert_int_eq(atomic_load(&old2->refs), 1); /* released by the registry, held by us */
    registry_model_unref(old2);
    registry_model_unref(new2);
    registry_entry *e;
    ck_assert_int_eq(registry_list(r, &e), 1);
    ck_assert_int_eq(e[0].nversions, 3);
    registry_list_free(e, 1);
    registry_free(r);
}
END_TEST

START_TEST(labels_and_canary_share)
{
    const long v[] = {1, 2, 3};
    char paths[3][512];
    registry_version_spec want[3];
    glia_err err = {0};
    repo_versions("tiny", v, 3);
    specs(want, paths, v, 3, 0);
    registry *r = registry_new();
    const registry_labels initial = {1, 0, 0};
    ck_assert_int_eq(registry_repo_sync(r, "tiny", want, 3, 0, &initial), 0);
    registry_model *m = registry_get(r, "tiny");
    ck_assert_int_eq(m->bundle.manifest.version, 1); /* stable, not the highest */
    registry_model_unref(m);
    /* a label naming a version that is not loaded is refused, and says what is */
    registry_labels bad = {1, 7, 10};
    ck_assert_int_eq(registry_set_labels(r, "tiny", &bad, 1, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "loaded: 1, 2, 3"));
    registry_labels share = {2, 3, 10};
    ck_assert_int_eq(registry_set_labels(r, "tiny", &share, 1, &err), GLIA_OK);
    ck_assert_int_eq(registry_set_labels(r, "nope", &share, 1, &err), GLIA_ENOTFOUND);
    int counts[4] = {0};
    for (int i = 0; i < 2000; i++) {
        registry_model *p = registry_pick(r, "tiny");
        counts[p->bundle.manifest.version]++;
        registry_model_unref(p);
    }
    ck_assert_int_eq(counts[3], 200); /* exactly the share: the split is a counter */
    ck_assert_int_eq(counts[2], 1800);
    ck_assert_int_eq(counts[1], 0);
    /* the canary leaves (policy): everything goes to stable */
    const long two[] = {1, 2};
    specs(want, paths, two, 2, 0);
    ck_assert_int_eq(registry_repo_sync(r, "tiny", want, 2, 0, NULL), 0);
    for (int i = 0; i < 50; i++) {
        registry_model *p = registry_pick(r, "tiny");
        ck_assert_int_eq(p->bundle.manifest.version, 2);
        registry_model_unref(p);
    }
    /* a config model has no labels */
    const char *names[] = {"cfg"}, *cfg_paths[] = {paths[0]};
    ck_assert_int_eq(registry_sync(r, names, cfg_paths, 1, 0), 0);
    ck_assert_int_eq(registry_set_labels(r, "cfg", &share, 1, &err), GLIA_EUNSUPPORTED);
    registry_free(r);
}
END_TEST

/* A scan of tmpdir/repo with policy (and nothing else configured); the loaded versions of
 * tiny into got. */
static int scan_with(const config_policy *policy, long *got)
{
    config cfg;
    repository *repo;
    glia_err err = {0};
    config_defaults(&cfg);
    snprintf(cfg.model_repository, sizeof cfg.model_repository, "%s/repo", tmpdir);
    snprintf(cfg.state_dir, sizeof cfg.state_dir, "%s", tmpdir);
    cfg.repo_policy = *policy;
    registry *r = registry_new();
    metrics *met;
    ck_assert_int_eq(metrics_new("test", &met, &err), GLIA_OK);
    ck_assert_int_eq(repository_open(&cfg, r, met, &repo, &err), GLIA_OK);
    ck_assert_int_eq(repository_scan(repo), 0);
    int n = loaded(r, got);
    repository_close(repo);
    registry_free(r);
    metrics_free(met);
    return n;
}

START_TEST(policies_choose_versions)
{
    const long v[] = {1, 2, 5, 10};
    long got[REGISTRY_MAX_VERSIONS];
    repo_versions("tiny", v, 4);
    char odd[512];
    snprintf(odd, sizeof odd, "%s/repo/tiny/latest", tmpdir); /* not a number: ignored */
    mkdir(odd, 0700);
    snprintf(odd, sizeof odd, "%s/repo/tiny/007", tmpdir); /* nor a leading zero */
    mkdir(odd, 0700);
    config_policy latest = {.kind = CONFIG_POLICY_LATEST, .latest = 2};
    ck_assert_int_eq(scan_with(&latest, got), 2);
    ck_assert_int_eq(got[0], 5); /* numbers, not names: 10 is above 5 */
    ck_assert_int_eq(got[1], 10);
    config_policy specific = {.kind = CONFIG_POLICY_SPECIFIC, .nspecific = 3, .specific = {1, 5, 99}};
    ck_assert_int_eq(scan_with(&specific, got), 2);
    ck_assert_int_eq(got[0], 1);
    ck_assert_int_eq(got[1], 5);
    config_policy all = {.kind = CONFIG_POLICY_ALL};
    ck_assert_int_eq(scan_with(&all, got), 4);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("registry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, load_and_get);
    tcase_add_test(tc, reload_swaps_and_old_version_lives_on);
    tcase_add_test(tc, failed_reload_keeps_serving);
    tcase_add_test(tc, fixed_bundle_clears_last_error);
    tcase_add_test(tc, never_loaded_is_not_ready);
    tcase_add_test(tc, references_survive_concurrent_reloads);
    tcase_add_test(tc, repository_versions_load_together);
    tcase_add_test(tc, repository_broken_version_keeps_old_ones);
    tcase_add_test(tc, repository_reloaded_version_is_not_kept_twice);
    tcase_add_test(tc, labels_and_canary_share);
    tcase_add_test(tc, policies_choose_versions);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
