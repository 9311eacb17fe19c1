/*
 * check_main.c - see check_main.h.
 */
#include "tests/support/check_main.h"

#include <stdio.h>
#include <stdlib.h>

int glia_check_run(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

const char *glia_test_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("GLIA_SOURCE_ROOT");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : ".", rel);
    return buf;
}

const char *glia_test_fashion_dir(void)
{
    const char *dir = getenv("GLIA_FASHION_MNIST");
    return dir && *dir ? dir : "/usr/share/datasets/fashion-mnist";
}
