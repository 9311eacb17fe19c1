/*
 * fuzz_trainreq.c - the body of POST /v1/train (daemon/trainreq.c): field checks, the
 * recipe overrides applied to the configured model's recipe.yaml, the data set resolved.
 * The shipped fashion-cnn and sentiment-lstm are configured; nothing is queued or trained.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/trainreq.h"
#include "tests/fuzz/fuzz_support.h"

static const char *configured(void *user, const char *name, char *buf, size_t len)
{
    if (strcmp(name, "fashion-cnn") != 0 && strcmp(name, "sentiment-lstm") != 0 &&
        strcmp(name, "translate-en-es") != 0)
        return NULL;
    snprintf(buf, len, "%s/models/%s", GLIA_SOURCE_ROOT, name);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static trainreq_env env;
    glia_err err = {0};
    if (!env.ver) {
        static registry *reg;
        versions_config vc = {.state_dir = fuzz_dir(), .model_path = configured};
        if (!(reg = registry_new()))
            return -1;
        vc.reg = reg;
        if (versions_open(&vc, &env.ver, &err) != GLIA_OK ||
            datasets_open(fuzz_dir(), 1 << 20, &env.data, &err) != GLIA_OK) {
            fprintf(stderr, "fuzz_trainreq: %s\n", err.msg);
            return -1;
        }
        env.threads = 1;
    }
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!body)
        return 0;
    trainreq t;
    problem p = {0};
    if (trainreq_parse(&env, body, &t, &p) == 0) {
        glia_recipe r;
        trainreq_recipe(&env, t.rec, &r, &err); /* what the job thread rebuilds */
        trainreq_release(&t);
    }
    json_decref(body);
    return 0;
}
