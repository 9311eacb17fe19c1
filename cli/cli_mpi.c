/*
 * cli_mpi.c - cli_mpi.h over Open MPI: the reducer's sums are MPI_Allreduce in place on
 * MPI_COMM_WORLD (the gradient buckets that start during the backward pass MPI_Iallreduce,
 * tested as the pass goes and waited for after it), its gathers MPI_Allgather.
 *
 * Errors come back as glia_err (MPI_ERRORS_RETURN) so that a failed sum names itself; in
 * practice a dead peer is noticed by mpirun first, which then ends every rank.
 */
#include "cli/cli_mpi.h"

#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/train/trainer.h"

typedef struct {
    glia_reducer base;
    double seconds;       /* in sums and gathers, the non-blocking ones' calls included */
    MPI_Request *pending; /* the started sums (MPI_REQUEST_NULL once complete) */
    int npending, cap;
} mpi_reducer;

/* MPI counts are ints: a larger buffer is summed in parts. */
enum { MPI_PART = 1 << 30 };

static glia_status mpi_fail(int code, const char *what, const glia_reducer *red, glia_err *err)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", code);
    return glia_err_set(err, GLIA_EIO, "rank %d of %d: %s failed: %s", red->rank, red->size, what, text);
}

static glia_status sum_any(const glia_reducer *red, void *buf, size_t n, MPI_Datatype type, size_t elem,
                           const char *what, glia_err *err)
{
    mpi_reducer *m = red->user;
    const double t0 = glia_train_clock();
    glia_status rc = GLIA_OK;
    for (size_t done = 0; done < n && rc == GLIA_OK;) {
        const int part = n - done < MPI_PART ? (int)(n - done) : MPI_PART;
        const int code =
            MPI_Allreduce(MPI_IN_PLACE, (char *)buf + done * elem, part, type, MPI_SUM, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS)
            rc = mpi_fail(code, what, red, err);
        done += (size_t)part;
    }
    m->seconds += glia_train_clock() - t0;
    return rc;
}

static glia_status sum_f32(const glia_reducer *red, float *buf, size_t n, glia_err *err)
{
    return sum_any(red, buf, n, MPI_FLOAT, sizeof *buf, "MPI_Allreduce of the gradients", err);
}

static glia_status sum_f64(const glia_reducer *red, double *buf, size_t n, glia_err *err)
{
    return sum_any(red, buf, n, MPI_DOUBLE, sizeof *buf, "MPI_Allreduce of the counters", err);
}

/* MPI_Iallreduce in place, per part: the request is kept until wait_all. */
static glia_status start_sum_f32(const glia_reducer *red, float *buf, size_t n, glia_err *err)
{
    mpi_reducer *m = red->user;
    const double t0 = glia_train_clock();
    glia_status rc = GLIA_OK;
    for (size_t done = 0; done < n && rc == GLIA_OK;) {
        const int part = n - done < MPI_PART ? (int)(n - done) : MPI_PART;
        if (m->npending == m->cap) {
            const int cap = m->cap ? 2 * m->cap : 64;
            MPI_Request *grown = realloc(m->pending, sizeof *grown * (size_t)cap);
            if (!grown) {
                rc = glia_err_set(err, GLIA_ENOMEM, "rank %d: out of memory for MPI requests", red->rank);
                break;
            }
            m->pending = grown;
            m->cap = cap;
        }
        const int code = MPI_Iallreduce(MPI_IN_PLACE, buf + done, part, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                        &m->pending[m->npending]);
        if (code != MPI_SUCCESS)
            rc = mpi_fail(code, "MPI_Iallreduce of the gradients", red, err);
        else
            m->npending++;
        done += (size_t)part;
    }
    m->seconds += glia_train_clock() - t0;
    return rc;
}

/* Open MPI runs a non-blocking collective's next round only inside an MPI call (it has no
 * progress thread by default): testing the requests is what moves them. */
static glia_status progress(const glia_reducer *red, glia_err *err)
{
    mpi_reducer *m = red->user;
    int flag = 0;
    const double t0 = glia_train_clock();
    const int code =
        m->npending ? MPI_Testall(m->npending, m->pending, &flag, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    m->seconds += glia_train_clock() - t0;
    return code == MPI_SUCCESS ? GLIA_OK : mpi_fail(code, "MPI_Testall of the gradient sums", red, err);
}

static glia_status wait_all(const glia_reducer *red, glia_err *err)
{
    mpi_reducer *m = red->user;
    const double t0 = glia_train_clock();
    const int code = m->npending ? MPI_Waitall(m->npending, m->pending, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    m->npending = 0;
    m->seconds += glia_train_clock() - t0;
    return code == MPI_SUCCESS ? GLIA_OK : mpi_fail(code, "MPI_Waitall of the gradient sums", red, err);
}

static glia_status gather(const glia_reducer *red, const void *mine, size_t bytes, void *all, glia_err *err)
{
    mpi_reducer *m = red->user;
    if (bytes > INT_MAX)
        return glia_err_set(err, GLIA_EINVAL, "rank %d: %zu bytes to gather is too many", red->rank, bytes);
    const double t0 = glia_train_clock();
    const int code = MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    m->seconds += glia_train_clock() - t0;
    return code == MPI_SUCCESS ? GLIA_OK : mpi_fail(code, "MPI_Allgather", red, err);
}

int glia_cli_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

int glia_cli_mpi_local_size(void)
{
    const char *v = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    const int n = v ? atoi(v) : 1;
    return n > 0 ? n : 1;
}

glia_status glia_cli_mpi_start(glia_reducer **out, glia_err *err)
{
    int provided = 0;
    mpi_reducer *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory starting MPI");
    /* the training threads never call MPI: only the thread that runs the loop does */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        free(m);
        return glia_err_set(err, GLIA_EIO, "MPI_Init_thread failed: is this process started by mpirun?");
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &m->base.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->base.size);
    m->base.sum_f32 = sum_f32;
    m->base.sum_f64 = sum_f64;
    m->base.gather = gather;
    m->base.start_sum_f32 = start_sum_f32;
    m->base.progress = progress;
    m->base.wait_all = wait_all;
    m->base.bucket_floats = GLIA_CLI_MPI_BUCKET_BYTES / sizeof(float);
    m->base.user = m;
    *out = &m->base;
    return GLIA_OK;
}

double glia_cli_mpi_seconds(const glia_reducer *red)
{
    return red ? ((const mpi_reducer *)red->user)->seconds : 0.0;
}

static char term_message[1024];

static void on_sigterm(int sig)
{
    (void)sig;
    ssize_t unused = write(STDERR_FILENO, term_message, strlen(term_message));
    (void)unused;
    _exit(1);
}

void glia_cli_mpi_on_sigterm(const char *message)
{
    struct sigaction sa;
    snprintf(term_message, sizeof term_message, "%s\n", message);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigterm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}

void glia_cli_mpi_finish(glia_reducer *red)
{
    if (!red)
        return;
    MPI_Finalize();
    free(((mpi_reducer *)red->user)->pending);
    free(red->user);
}

void glia_cli_mpi_abort(glia_reducer *red, int code)
{
    fflush(stdout);
    fflush(stderr);
    if (red)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}
