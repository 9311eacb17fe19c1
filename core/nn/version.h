/*
 * version.h - what this build of libglia is and what it runs on: the release (meson's
 * project version), the git revision it was built from, and the BLAS library behind
 * glia_gemm with the kernel set and thread count it chose at start.
 *
 * `glia --version` and `gliad --version` print the same text from here, so a bug report
 * from either program names the same facts. It lives beside the BLAS wrapper (kernels.h)
 * because the BLAS half is OpenBLAS-specific; it never sets anything, only reports.
 */
#ifndef GLIA_NN_VERSION_H
#define GLIA_NN_VERSION_H

#include <stddef.h>

/* The git revision of the source tree at build time (`git describe --always --dirty`),
 * or "unknown" when it was built outside a git checkout. Static storage. */
const char *glia_version_revision(void);

/* OpenBLAS's name for the kernel set it picked for this CPU ("Haswell", "SkylakeX"), or
 * NULL when the BLAS is not OpenBLAS. Static storage. */
const char *glia_version_blas_core(void);

/* OpenBLAS's current thread count (OPENBLAS_NUM_THREADS, else every core, until a
 * program sets it), or 0 when the BLAS is not OpenBLAS. */
int glia_version_blas_threads(void);

/* The --version text of program ("glia", "gliad"), lines ending in '\n':
 *   glia 0.1.0
 *   revision: 2d9ec41abc12
 *   blas: OpenBLAS, core Haswell, 2 threads
 * Truncated to len - 1 bytes (always NUL-terminated when len > 0). */
void glia_version_text(const char *program, char *buf, size_t len);

#endif
