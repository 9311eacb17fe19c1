/*
 * jsonmem.c - see jsonmem.h.
 */
#include "core/base/jsonmem.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>

static _Thread_local int failed;
static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void *noting_malloc(size_t size)
{
    void *p = malloc(size);
    if (!p)
        failed = 1;
    return p;
}

static void install(void)
{
    json_set_alloc_funcs(noting_malloc, free);
}

void glia_json_watch(void)
{
    pthread_once(&installed, install);
    failed = 0;
}

int glia_json_failed(void)
{
    return failed;
}
