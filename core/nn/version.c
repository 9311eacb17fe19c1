/*
 * version.c - see version.h.
 *
 * The revision comes from a header meson regenerates at every build (vcs_tag); only this
 * file includes it, so a new commit recompiles one file rather than the library.
 */
#include "core/nn/version.h"

#include <stdio.h>

#include <cblas.h>

#include "glia_revision.h"

const char *glia_version_revision(void)
{
    return GLIA_REVISION;
}

/* HAVE_OPENBLAS_THREADS (meson found openblas_set_num_threads) stands for OpenBLAS's
 * extensions as a whole: a reference CBLAS has none of them. */
const char *glia_version_blas_core(void)
{
#ifdef HAVE_OPENBLAS_THREADS
    const char *core = openblas_get_corename();
    return core && *core ? core : "unknown";
#else
    return NULL;
#endif
}

int glia_version_blas_threads(void)
{
#ifdef HAVE_OPENBLAS_THREADS
    return openblas_get_num_threads();
#else
    return 0;
#endif
}

void glia_version_text(const char *program, char *buf, size_t len)
{
    const char *core = glia_version_blas_core();
    const int threads = glia_version_blas_threads();
    char blas[160];
    if (core)
        snprintf(blas, sizeof blas, "OpenBLAS, core %s, %d thread%s", core, threads, threads == 1 ? "" : "s");
    else
        snprintf(blas, sizeof blas, "not OpenBLAS (core and threads unknown)");
    if (len > 0)
        snprintf(buf, len, "%s %s\nrevision: %s\nblas: %s\n", program, GLIA_VERSION, glia_version_revision(),
                 blas);
}
