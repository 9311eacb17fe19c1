/*
 * fault.h - fault injection for tests, as sqlite's test_malloc.c does it: fail the Nth call
 * of a class of library functions, and sweep N = 1, 2, ... through a scenario until it no
 * longer reaches the Nth call.
 *
 * The wrappers (fault.c) replace the functions at link time with GNU ld's --wrap, so only
 * the objects linked statically into the test executable are affected: libglia, libgliad,
 * the test support code and, for test_fault, the static archives of libyaml and Jansson
 * (tests/meson.build links them in for that reason; Check's own archive too, so a test must
 * not ck_assert while armed). Shared libraries (libc's internal allocations, OpenBLAS,
 * libpng, zlib) and the sanitizers are untouched. Production code carries no hook.
 *
 * Two classes, counted separately while armed:
 *   FAULT_ALLOC  malloc, calloc, realloc, strdup, strndup, getline (-> NULL / -1, ENOMEM;
 *                getline also sets the stream's error indicator, as POSIX says it does)
 *   FAULT_IO     the calls glia reads and writes files with: open, read, write, fsync,
 *                close, rename, mkstemp, fopen, fdopen, fread, fwrite, fputc, fputs,
 *                fprintf, fflush, fclose, mmap and the 64-bit names of open, mkstemp, fopen
 *                and mmap (-> -1 / NULL / EOF / a zero count with the stream's error
 *                indicator set; errno EIO, ENOSPC for a write or a create, ENOMEM for
 *                fdopen and mmap). close and fclose release the descriptor all the same
 *                and then report the failure, as Linux does with a deferred write error.
 *
 * The counters are atomic, so threads may run while armed; which of them makes the Nth
 * call then depends on their order, and a sweep of such a scenario checks every N all the
 * same but not always the same call site.
 */
#ifndef GLIA_TESTS_FAULT_H
#define GLIA_TESTS_FAULT_H

#include <stddef.h>

typedef enum { FAULT_ALLOC, FAULT_IO, FAULT_NKINDS } fault_kind;

/* From now on, count calls of kind and fail the nth (1-based) one; every later call of
 * the class succeeds (one failure per run: what a caller must survive is one refusal). */
void fault_arm(fault_kind kind, long n);
/* Stops counting; returns the number of calls of the armed kind seen since fault_arm. */
long fault_disarm(void);
/* Whether the armed failure was injected (the scenario reached the nth call). */
int fault_fired(void);
/* The name of the function whose call was failed ("" before any). */
const char *fault_fired_name(void);
/* The name of the function that made the failed call, into buf ("" when the build cannot
 * symbolize: only sanitizer builds can), e.g. "yaml_realloc" for an allocation of libyaml. */
const char *fault_fired_caller(char *buf, size_t len);

const char *fault_kind_name(fault_kind kind);

/* Bytes of heap in use now: ASan's count of live allocations under ASan, else glibc's
 * (mallinfo2). Every allocation counts, libc's own for a FILE or a getline buffer too, so a
 * run that returns the heap to where it found it leaked nothing. */
size_t fault_heap_in_use(void);
/* Runs LeakSanitizer's check now, when the build has it: 1 when leaks are found (it prints
 * them), else 0. */
int fault_leaks(void);
/* Under ASan, prints line (if not "") to stderr when the process dies of an error report:
 * what was being tried when it crashed. line is borrowed until the next call. */
void fault_on_crash(const char *line);

#endif
