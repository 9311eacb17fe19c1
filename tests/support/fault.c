/*
 * fault.c - see fault.h. Each wrapper asks should_fail() for its class; only then does it
 * fail, with the errno and the stream state the real function would leave after a genuine
 * failure, so that the code under test cannot tell an injected failure from a real one.
 */
#include "tests/support/fault.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#define FAULT_HAVE_LSAN 1
/* sanitizer/allocator_interface.h, which gcc 12 does not ship */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#define FAULT_HAVE_LSAN 0
#endif

/* -1: disarmed; otherwise the armed kind. */
static atomic_int armed = -1;
static atomic_long calls, target;
static atomic_int fired;
static const char *_Atomic fired_name = "";
static void *_Atomic fired_pc;

void fault_arm(fault_kind kind, long n)
{
    atomic_store(&calls, 0);
    atomic_store(&target, n);
    atomic_store(&fired, 0);
    atomic_store(&fired_name, "");
    atomic_store(&fired_pc, NULL);
    atomic_store(&armed, (int)kind);
}

long fault_disarm(void)
{
    atomic_store(&armed, -1);
    return atomic_load(&calls);
}

int fault_fired(void)
{
    return atomic_load(&fired);
}

const char *fault_fired_name(void)
{
    return atomic_load(&fired_name);
}

const char *fault_kind_name(fault_kind kind)
{
    return kind == FAULT_ALLOC ? "alloc" : "io";
}

size_t fault_heap_in_use(void)
{
#if FAULT_HAVE_LSAN
    return __sanitizer_get_current_allocated_bytes();
#else
    const struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd; /* small blocks in use, and the large ones mmap'd apart */
#endif
}

static const char *_Atomic crash_line = "";

#if FAULT_HAVE_LSAN
static void print_crash_line(void)
{
    const char *line = atomic_load(&crash_line);
    if (line[0])
        fprintf(stderr, "%s\n", line);
}
#endif

void fault_on_crash(const char *line)
{
#if FAULT_HAVE_LSAN
    static int installed;
    if (!installed) {
        __sanitizer_set_death_callback(print_crash_line);
        installed = 1;
    }
#endif
    atomic_store(&crash_line, line);
}

int fault_leaks(void)
{
#if FAULT_HAVE_LSAN
    return __lsan_do_recoverable_leak_check() != 0;
#else
    return 0;
#endif
}

const char *fault_fired_caller(char *buf, size_t len)
{
    buf[0] = '\0';
#if FAULT_HAVE_LSAN
    /* the return address less one is inside the call instruction */
    if (atomic_load(&fired_pc))
        __sanitizer_symbolize_pc((char *)atomic_load(&fired_pc) - 1, "%f", buf, len);
#endif
    return buf;
}

/* A macro, so that the return address is the wrapper's: inside the code that called it. */
#define should_fail(kind, name) should_fail_at(kind, name, __builtin_return_address(0))

static int should_fail_at(fault_kind kind, const char *name, void *pc)
{
    if (atomic_load(&armed) != (int)kind)
        return 0;
    if (atomic_fetch_add(&calls, 1) + 1 != atomic_load(&target))
        return 0;
    atomic_store(&fired_name, name);
    atomic_store(&fired_pc, pc);
    atomic_store(&fired, 1);
    return 1;
}

/* What a stream looks like after a real read or write error: ferror() reports it. */
static void set_stream_error(FILE *f)
{
#if defined(__GLIBC__)
    f->_flags |= _IO_ERR_SEEN;
#else
#error "fault.c sets a stream's error indicator the glibc way"
#endif
}

/* ---- allocations ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
ssize_t __real_getline(char **line, size_t *cap, FILE *f);

void *__wrap_malloc(size_t size)
{
    if (should_fail(FAULT_ALLOC, "malloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (should_fail(FAULT_ALLOC, "calloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    if (should_fail(FAULT_ALLOC, "realloc")) {
        errno = ENOMEM;
        return NULL; /* p stays the caller's */
    }
    return __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
    if (should_fail(FAULT_ALLOC, "strdup")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    if (should_fail(FAULT_ALLOC, "strndup")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strndup(s, n);
}

ssize_t __wrap_getline(char **line, size_t *cap, FILE *f)
{
    if (should_fail(FAULT_ALLOC, "getline")) {
        set_stream_error(f);
        errno = ENOMEM;
        return -1;
    }
    return __real_getline(line, cap, f);
}

/* ---- files ---- */

int __real_open(const char *path, int flags, ...);
int __real_open64(const char *path, int flags, ...);
int __real_mkstemp64(char *tmpl);
FILE *__real_fopen64(const char *path, const char *mode);
void *__real_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_fsync(int fd);
int __real_close(int fd);
int __real_rename(const char *from, const char *to);
int __real_mkstemp(char *tmpl);
FILE *__real_fopen(const char *path, const char *mode);
FILE *__real_fdopen(int fd, const char *mode);
size_t __real_fread(void *p, size_t size, size_t n, FILE *f);
size_t __real_fwrite(const void *p, size_t size, size_t n, FILE *f);
int __real_fputc(int c, FILE *f);
int __real_fputs(const char *s, FILE *f);
int __real_fflush(FILE *f);
int __real_fclose(FILE *f);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);

/* -D_FILE_OFFSET_BITS=64 (meson's default) makes glia call open64, fopen64, mkstemp64 and
 * mmap64; static archives built without it call the plain names. Both are wrapped. */
static int wrapped_open(int (*real)(const char *, int, ...), const char *path, int flags, va_list ap,
                        void *pc)
{
    const int mode = flags & O_CREAT ? va_arg(ap, int) : 0;
    if (should_fail_at(FAULT_IO, "open", pc)) {
        errno = flags & O_CREAT ? ENOSPC : EIO;
        return -1;
    }
    return real(path, flags, mode);
}

int __wrap_open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    const int fd = wrapped_open(__real_open, path, flags, ap, __builtin_return_address(0));
    va_end(ap);
    return fd;
}

int __wrap_open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    const int fd = wrapped_open(__real_open64, path, flags, ap, __builtin_return_address(0));
    va_end(ap);
    return fd;
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    if (should_fail(FAULT_IO, "read")) {
        errno = EIO;
        return -1;
    }
    return __real_read(fd, buf, n);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    if (should_fail(FAULT_IO, "write")) {
        errno = ENOSPC;
        return -1;
    }
    return __real_write(fd, buf, n);
}

int __wrap_fsync(int fd)
{
    if (should_fail(FAULT_IO, "fsync")) {
        errno = EIO;
        return -1;
    }
    return __real_fsync(fd);
}

int __wrap_close(int fd)
{
    int rc = __real_close(fd);
    if (should_fail(FAULT_IO, "close")) {
        errno = EIO;
        return -1;
    }
    return rc;
}

int __wrap_rename(const char *from, const char *to)
{
    if (should_fail(FAULT_IO, "rename")) {
        errno = EIO;
        return -1;
    }
    return __real_rename(from, to);
}

int __wrap_mkstemp(char *tmpl)
{
    if (should_fail(FAULT_IO, "mkstemp")) {
        errno = ENOSPC;
        return -1;
    }
    return __real_mkstemp(tmpl);
}

int __wrap_mkstemp64(char *tmpl)
{
    if (should_fail(FAULT_IO, "mkstemp")) {
        errno = ENOSPC;
        return -1;
    }
    return __real_mkstemp64(tmpl);
}

FILE *__wrap_fopen(const char *path, const char *mode)
{
    if (should_fail(FAULT_IO, "fopen")) {
        errno = strchr(mode, 'w') ? ENOSPC : EIO;
        return NULL;
    }
    return __real_fopen(path, mode);
}

FILE *__wrap_fopen64(const char *path, const char *mode)
{
    if (should_fail(FAULT_IO, "fopen")) {
        errno = strchr(mode, 'w') ? ENOSPC : EIO;
        return NULL;
    }
    return __real_fopen64(path, mode);
}

FILE *__wrap_fdopen(int fd, const char *mode)
{
    if (should_fail(FAULT_IO, "fdopen")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_fdopen(fd, mode);
}

size_t __wrap_fread(void *p, size_t size, size_t n, FILE *f)
{
    if (should_fail(FAULT_IO, "fread")) {
        set_stream_error(f);
        errno = EIO;
        return 0;
    }
    return __real_fread(p, size, n, f);
}

size_t __wrap_fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    if (should_fail(FAULT_IO, "fwrite")) {
        set_stream_error(f);
        errno = ENOSPC;
        return 0;
    }
    return __real_fwrite(p, size, n, f);
}

int __wrap_fputc(int c, FILE *f)
{
    if (should_fail(FAULT_IO, "fputc")) {
        set_stream_error(f);
        errno = ENOSPC;
        return EOF;
    }
    return __real_fputc(c, f);
}

int __wrap_fputs(const char *s, FILE *f)
{
    if (should_fail(FAULT_IO, "fputs")) {
        set_stream_error(f);
        errno = ENOSPC;
        return EOF;
    }
    return __real_fputs(s, f);
}

/* fprintf is variadic: the real work is vfprintf, which nothing in glia calls directly. */
int __wrap_fprintf(FILE *f, const char *fmt, ...)
{
    if (should_fail(FAULT_IO, "fprintf")) {
        set_stream_error(f);
        errno = ENOSPC;
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = vfprintf(f, fmt, ap);
    va_end(ap);
    return rc;
}

int __wrap_fflush(FILE *f)
{
    if (f && should_fail(FAULT_IO, "fflush")) {
        set_stream_error(f);
        errno = ENOSPC;
        return EOF;
    }
    return __real_fflush(f);
}

int __wrap_fclose(FILE *f)
{
    int rc = __real_fclose(f);
    if (should_fail(FAULT_IO, "fclose")) {
        errno = EIO;
        return EOF;
    }
    return rc;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (should_fail(FAULT_IO, "mmap")) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return __real_mmap(addr, len, prot, flags, fd, off);
}

void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (should_fail(FAULT_IO, "mmap")) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return __real_mmap64(addr, len, prot, flags, fd, off);
}
