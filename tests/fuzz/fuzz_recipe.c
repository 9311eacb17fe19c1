/*
 * fuzz_recipe.c - training recipes: the first byte chooses between a whole recipe.yaml
 * (glia_recipe_load, through a file) and overrides applied to the shipped fashion-cnn
 * recipe (glia_recipe_override: what POST /v1/train's "recipe" becomes).
 */
#include <stdio.h>

#include "core/train/recipe.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static glia_recipe base;
    static int ready;
    glia_recipe r;
    glia_err err = {0};
    if (size < 1)
        return 0;
    if (!ready) {
        char path[1024];
        snprintf(path, sizeof path, "%s/models/fashion-cnn/recipe.yaml", GLIA_SOURCE_ROOT);
        if (glia_recipe_load(path, &base, &err) != GLIA_OK) {
            fprintf(stderr, "fuzz_recipe: %s\n", err.msg);
            return -1;
        }
        ready = 1;
    }
    if (data[0] & 1) {
        r = base;
        glia_recipe_override(&r, (const char *)data + 1, size - 1, "recipe", &err);
    } else {
        glia_recipe_load(fuzz_write_file("recipe.yaml", data + 1, size - 1), &r, &err);
    }
    return 0;
}
