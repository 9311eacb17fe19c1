/*
 * test_registry.c - gliad's model registry: loading, change detection, hot swap with
 * counted references (an old version stays usable until its last holder lets go), a
 * failing reload that leaves the old version serving (and a fixed bundle that clears its
 * error), removal, and many threads taking
 * references while the main thread reloads (ASan turns any use-after-free into a failure).
 */
#include "daemon/registry.h"
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
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
