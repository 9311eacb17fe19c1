/*
 * check_main.c - see check_main.h.
 */
#include "tests/support/check_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void glia_test_mkdtemp(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "/tmp/glia-test-%s-XXXXXX", name);
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

void glia_test_rmtree(const char *dir)
{
    char cmd[4200];
    ck_assert_ptr_null(strchr(dir, '\''));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

const char *glia_test_write(const char *dir, const char *name, const char *text)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}
