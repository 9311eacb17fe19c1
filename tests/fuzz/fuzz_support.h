/*
 * fuzz_support.h - what the libFuzzer harnesses of tests/fuzz share: a scratch directory for
 * parsers that only read paths, the shipped models loaded once per process for the codecs,
 * and a real gliad front (server.c, the route table, the codecs, a worker) on a loopback port
 * for the harnesses that speak HTTP.
 *
 * Everything here is set up on first use and kept for the life of the process, so that an
 * execution costs only the parser under test; it stays reachable, so LeakSanitizer does not
 * count it. Failures to set up abort: a harness that cannot run must not report success.
 */
#ifndef GLIA_TESTS_FUZZ_SUPPORT_H
#define GLIA_TESTS_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/registry.h"

/* libFuzzer's entry point, declared once for every harness. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The process's scratch directory (created on first use, removed at exit). */
const char *fuzz_dir(void);

/* Writes data to fuzz_dir()/name (replacing it) and returns its path (static storage, valid
 * until the next call). */
const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size);

/* Removes path and everything under it (a data set a harness published). */
void fuzz_remove_tree(const char *path);

/* A shipped model (models/NAME of the source tree), loaded on first use and kept: a
 * borrowed reference. */
registry_model *fuzz_model(const char *name);

/* Sends request[0..len) to an in-process gliad front on a loopback port (started on first
 * use, serving the shipped fashion-cnn and sentiment-lstm), then half-closes and reads the
 * answer until the server closes the connection. Returns the answer's status code, or 0 when
 * none came (a request the server dropped). A server that neither answers nor closes within
 * a generous bound aborts: a hang is a bug the fuzzer must report. */
int fuzz_http(const uint8_t *request, size_t len);

/* The admin token the in-process front accepts (for seeds and dictionaries). */
#define FUZZ_ADMIN_TOKEN "fuzz-admin-token"

#endif
