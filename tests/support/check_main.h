/*
 * check_main.h - shared entry point for the Check unit tests.
 *
 * Every tests/unit/test_*.c builds one Suite and returns glia_check_run(suite) from
 * main: TAP on stdout (meson reads it with protocol: 'tap'), non-zero exit on failure.
 * glia_test_path() resolves a path relative to the source tree, so tests find fixtures
 * and model bundles wherever meson runs them.
 */
#ifndef GLIA_TESTS_CHECK_MAIN_H
#define GLIA_TESTS_CHECK_MAIN_H

#include <check.h>
#include <stddef.h>

int glia_check_run(Suite *suite);

/* Returns a static buffer "<source root>/<rel>" (GLIA_SOURCE_ROOT env, else "."). */
const char *glia_test_path(const char *rel);

/* Directory of Fashion-MNIST (GLIA_FASHION_MNIST env, else the Debian package's). */
const char *glia_test_fashion_dir(void);

/* Scratch directories for tests that write files: glia_test_mkdtemp fills buf (at least
 * 64 bytes) with a new /tmp/glia-test-<name>-XXXXXX; glia_test_rmtree removes it again. */
void glia_test_mkdtemp(char *buf, size_t len, const char *name);
void glia_test_rmtree(const char *dir);
/* Writes text to dir/name and returns the path (a static buffer, valid until the next call). */
const char *glia_test_write(const char *dir, const char *name, const char *text);

#endif
