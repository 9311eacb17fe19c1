/*
 * cli_mpi.h - `mpirun -np N glia train ...`: the processes of one data-parallel run, over
 * Open MPI (cli_mpi.c), or a stand-in that says MPI was not built in (cli_mpi_none.c) when
 * the build found no libopenmpi-dev. meson picks one of the two; core/ never sees MPI, only
 * the reducer (core/train/reduce.h) made here.
 *
 * MPI is touched only when glia was started by mpirun (its environment says so), so a plain
 * `glia train`, every other command and gliad never initialise it.
 */
#ifndef GLIA_CLI_MPI_H
#define GLIA_CLI_MPI_H

#include "core/base/err.h"
#include "core/train/reduce.h"

/* The gradient bucket's default size: the gradients are summed in buckets of this many
 * bytes from the buffer's tail, each started (MPI_Iallreduce) as soon as the backward pass
 * has made it final. Smaller buckets start earlier but pay a collective's fixed cost more
 * often; README "Data-parallel training over MPI" gives the measurement behind the choice
 * (PyTorch DDP's bucket_cap_mb is 25, for models 100 times larger than glia's). */
enum { GLIA_CLI_MPI_BUCKET_BYTES = 1 << 20 };

/* Whether mpirun started this process (OMPI_COMM_WORLD_SIZE or PMIX_RANK is set). */
int glia_cli_mpi_launched(void);

/* Processes of the run on this machine (OMPI_COMM_WORLD_LOCAL_SIZE; 1 when unknown): the
 * default --threads shares the cores among them. */
int glia_cli_mpi_local_size(void);

/* Initialises MPI and fills *out with a reducer over every process of the run (owned: the
 * caller ends it with glia_cli_mpi_finish or glia_cli_mpi_abort). Without MPI built in:
 * GLIA_EUNSUPPORTED, saying so. */
glia_status glia_cli_mpi_start(glia_reducer **out, glia_err *err);

/* Seconds this process spent in the reducer's sums and gathers so far. */
double glia_cli_mpi_seconds(const glia_reducer *red);

/* On SIGTERM (what mpirun sends every other rank when one fails) writes message to stderr
 * and exits with status 1: the signal may arrive in the middle of any sum, so nothing else
 * is safe to do; the checkpoint on disk is whole, being renamed into place. */
void glia_cli_mpi_on_sigterm(const char *message);

/* MPI_Finalize; frees red. */
void glia_cli_mpi_finish(glia_reducer *red);

/* Ends every process of the run with status code (MPI_Abort): after an error on one rank
 * the others would wait in their next sum forever. */
void glia_cli_mpi_abort(glia_reducer *red, int code) __attribute__((noreturn));

#endif
