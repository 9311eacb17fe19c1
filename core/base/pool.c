/* pool.c - see pool.h. A generation counter tells sleeping threads that new work exists. */
#include "core/base/pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct glia_pool {
    int n;
    pthread_t *threads;
    int started; /* threads actually created, for cleanup */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    unsigned long generation;
    int pending; /* lanes of the current run not yet finished */
    int quit;
    glia_pool_fn fn;
    void *arg;
};

typedef struct {
    glia_pool *pool;
    int index;
} lane;

static void *lane_main(void *p)
{
    lane self = *(lane *)p;
    free(p);
    glia_pool *pool = self.pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->quit && pool->generation == seen)
            pthread_cond_wait(&pool->work, &pool->mu);
        if (pool->quit)
            break;
        seen = pool->generation;
        glia_pool_fn fn = pool->fn;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->mu);
        fn(arg, self.index);
        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

glia_status glia_pool_new(int n, glia_pool **out, glia_err *err)
{
    *out = NULL;
    if (n < 1)
        return glia_err_set(err, GLIA_EINVAL, "a thread pool needs at least one lane (got %d)", n);
    glia_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a thread pool");
    pool->n = n;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->threads = calloc((size_t)n, sizeof *pool->threads);
    if (!pool->threads) {
        glia_pool_free(pool);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a thread pool");
    }
    for (int i = 1; i < n; i++) {
        lane *l = malloc(sizeof *l);
        if (l) {
            l->pool = pool;
            l->index = i;
        }
        if (!l || pthread_create(&pool->threads[i], NULL, lane_main, l) != 0) {
            free(l);
            glia_pool_free(pool);
            return glia_err_set(err, GLIA_EIO, "cannot start thread %d of a pool of %d", i, n);
        }
        pool->started = i;
    }
    *out = pool;
    return GLIA_OK;
}

void glia_pool_free(glia_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i <= pool->started; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->work);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

int glia_pool_size(const glia_pool *pool)
{
    return pool->n;
}

void glia_pool_run(glia_pool *pool, glia_pool_fn fn, void *arg)
{
    if (pool->n == 1) {
        fn(arg, 0);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->arg = arg;
    pool->pending = pool->n - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mu);
    fn(arg, 0);
    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0)
        pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}
