/*
 * cli_mpi_none.c - cli_mpi.h for a glia built without Open MPI: mpirun still starts N
 * copies, and each must refuse to train rather than train N copies of the same model.
 */
#include "cli/cli_mpi.h"

#include <stdlib.h>

int glia_cli_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

int glia_cli_mpi_local_size(void)
{
    return 1;
}

glia_status glia_cli_mpi_start(glia_reducer **out, glia_err *err)
{
    *out = NULL;
    return glia_err_set(err, GLIA_EUNSUPPORTED,
                        "started by mpirun, but this glia was built without MPI: install libopenmpi-dev, "
                        "then reconfigure and rebuild (meson setup --reconfigure -Dmpi=enabled BUILD_DIR), "
                        "or run glia train without mpirun");
}

double glia_cli_mpi_seconds(const glia_reducer *red)
{
    return 0.0;
}

void glia_cli_mpi_on_sigterm(const char *message) {}

void glia_cli_mpi_finish(glia_reducer *red) {}

void glia_cli_mpi_abort(glia_reducer *red, int code)
{
    exit(code);
}
