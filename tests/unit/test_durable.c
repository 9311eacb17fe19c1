/*
 * test_durable.c - what gliad acknowledges is on disk, and a disk that refuses leaves
 * nothing behind: atomic files, job records and uploaded data sets when write, fflush or
 * fsync fail (ENOSPC, EIO) at each of their calls in turn; the start's removal of the
 * temporaries a kill leaves (and of nothing else); the type check of a training
 * request's numbers and booleans.
 *
 * The failures come from -Wl,--wrap=write,--wrap=fsync,--wrap=fflush in this executable
 * only (tests/meson.build): production code has no hook. A wrapper fails only calls on
 * files under this test's scratch directory, so that Check's own pipes and gliad's log
 * (stderr) are never touched, and only while a test has armed it.
 */
#include "core/base/afile.h"
#include "daemon/datasets.h"
#include "daemon/jobstore.h"
#include "daemon/statedir.h"
#include "daemon/trainreq.h"
#include "tests/support/check_main.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

/* ---- the wrappers ---- */

typedef enum { CALL_WRITE, CALL_FSYNC, CALL_FFLUSH, NCALLS } call_kind;

static struct {
    int armed;
    call_kind kind; /* the call that fails ... */
    int nth;        /* ... at its nth use on a scratch file (1-based) */
    int error;      /* with this errno */
    int seen;       /* uses of kind on scratch files since arming */
    int failed;     /* whether the failure happened */
} fault;

ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_fsync(int fd);
int __real_fflush(FILE *f);

/* Whether fd is a file or directory under tmpdir. */
static int scratch_fd(int fd)
{
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    return tmpdir[0] && strncmp(target, tmpdir, strlen(tmpdir)) == 0;
}

/* Whether this call of kind on fd is the one to fail (errno set). */
static int should_fail(call_kind kind, int fd)
{
    if (!fault.armed || fault.kind != kind || fd < 0 || !scratch_fd(fd))
        return 0;
    if (++fault.seen != fault.nth)
        return 0;
    fault.failed = 1;
    errno = fault.error;
    return 1;
}

ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    return should_fail(CALL_WRITE, fd) ? -1 : __real_write(fd, buf, n);
}

int __wrap_fsync(int fd);
int __wrap_fsync(int fd)
{
    return should_fail(CALL_FSYNC, fd) ? -1 : __real_fsync(fd);
}

int __wrap_fflush(FILE *f);
int __wrap_fflush(FILE *f)
{
    return f && should_fail(CALL_FFLUSH, fileno(f)) ? EOF : __real_fflush(f);
}

static void arm(call_kind kind, int nth, int error)
{
    fault.armed = 1;
    fault.kind = kind;
    fault.nth = nth;
    fault.error = error;
    fault.seen = 0;
    fault.failed = 0;
}

static void disarm(void)
{
    fault.armed = 0;
}

/* ---- helpers ---- */

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "durable");
}

static void teardown(void)
{
    disarm();
    glia_test_rmtree(tmpdir);
    tmpdir[0] = '\0';
}

static const char *scratch(const char *rel)
{
    static char path[4300];
    snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
    return path;
}

/* The number of entries in dir (without . and ..), and the first one's name into first. */
static int entries(const char *dir, char *first, size_t len)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int n = 0;
    if (first)
        first[0] = '\0';
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            if (n++ == 0 && first)
                snprintf(first, len, "%s", e->d_name);
        }
    closedir(d);
    return n;
}

static void touch(const char *rel)
{
    FILE *f = fopen(scratch(rel), "w");
    ck_assert_ptr_nonnull(f);
    fputs("partial", f);
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- atomic files ---- */

/* Every failure of a whole-file write leaves neither the file nor a temporary, and says
 * why in the operating system's words. */
START_TEST(afile_refused)
{
    static const struct {
        call_kind kind;
        int nth, error;
        const char *why;
    } cases[] = {
        {CALL_FFLUSH, 1, ENOSPC, "No space left on device"},
        {CALL_FSYNC, 1, EIO, "Input/output error"},
        {CALL_FSYNC, 1, ENOSPC, "No space left on device"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        glia_err err = {0};
        arm(cases[i].kind, cases[i].nth, cases[i].error);
        glia_status rc = glia_afile_write(scratch("record.json"), "{}", 2, 0600, &err);
        disarm();
        ck_assert_int_eq(fault.failed, 1);
        ck_assert_int_eq(rc, GLIA_EIO);
        ck_assert_msg(strstr(err.msg, cases[i].why), "case %zu: %s", i, err.msg);
        ck_assert_int_eq(entries(tmpdir, NULL, 0), 0);
    }
    glia_err err = {0};
    ck_assert_int_eq(glia_afile_write(scratch("record.json"), "{}", 2, 0600, &err), GLIA_OK);
    ck_assert_int_eq(entries(tmpdir, NULL, 0), 1);
}
END_TEST

/* The directory's fsync is the last step: its failure is reported too (the rename may not
 * survive a crash), with the directory named. */
START_TEST(afile_directory_sync_refused)
{
    glia_err err = {0};
    arm(CALL_FSYNC, 2, EIO); /* 1: the file, 2: its directory */
    glia_status rc = glia_afile_write(scratch("record.json"), "{}", 2, 0600, &err);
    disarm();
    ck_assert_int_eq(rc, GLIA_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "directory"));
}
END_TEST

/* ---- job records ---- */

static json_t *job_record(void)
{
    return json_pack("{s:s, s:s, s:{}}", "model", "fashion-cnn", "promote", "never", "recipe");
}

/* A job whose record cannot be written at any of its write/fflush/fsync calls does not
 * exist: jobstore_add fails with GLIA_EIO naming the reason, no job is counted and no file
 * is left (not even a record whose directory sync failed). The first add that the disk
 * takes is there after a reopen. */
START_TEST(job_record_refused)
{
    jobstore *s = NULL;
    glia_err err = {0};
    char jobs_dir[4300], first[256];
    ck_assert_int_eq(jobstore_open(tmpdir, &s, &err), GLIA_OK);
    snprintf(jobs_dir, sizeof jobs_dir, "%s", scratch("jobs"));
    const call_kind kinds[] = {CALL_FFLUSH, CALL_FSYNC};
    int failures = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int nth = 1;; nth++) {
            job *jb = NULL;
            arm(kinds[k], nth, ENOSPC);
            jobstore_lock(s);
            glia_status rc = jobstore_add(s, job_record(), 3, &jb, &err);
            jobstore_unlock(s);
            disarm();
            if (!fault.failed) { /* past the last call: this add went through */
                ck_assert_int_eq(rc, GLIA_OK);
                break;
            }
            failures++;
            ck_assert_int_eq(rc, GLIA_EIO);
            ck_assert_ptr_null(jb);
            ck_assert_msg(strstr(err.msg, "No space left on device"), "%s", err.msg);
            ck_assert_int_eq(jobstore_count(s), (int)k); /* only the adds that went through */
            ck_assert_int_eq(entries(jobs_dir, NULL, 0), (int)k);
        }
    ck_assert_int_eq(failures, 3); /* fflush; fsync of the file, of the directory */
    jobstore_lock(s);
    char id[40];
    snprintf(id, sizeof id, "%s", jobstore_at(s, 0)->id);
    jobstore_unlock(s);
    jobstore_close(s);
    ck_assert_int_eq(jobstore_open(tmpdir, &s, &err), GLIA_OK);
    jobstore_lock(s);
    ck_assert_int_eq(jobstore_count(s), 2);
    ck_assert_ptr_nonnull(jobstore_find(s, id));
    ck_assert_int_eq(jobstore_find(s, id)->status, JOB_QUEUED);
    jobstore_unlock(s);
    jobstore_close(s);
    ck_assert_int_eq(entries(jobs_dir, first, sizeof first), 2);
}
END_TEST

/* A cancel (or resume) the disk refuses does not happen: the job keeps its status and its
 * record, in memory and after a reopen; once the disk takes it, it is there after a reopen. */
START_TEST(status_change_refused)
{
    jobstore *s = NULL;
    glia_err err = {0};
    job *jb = NULL;
    char id[40];
    ck_assert_int_eq(jobstore_open(tmpdir, &s, &err), GLIA_OK);
    jobstore_lock(s);
    ck_assert_int_eq(jobstore_add(s, job_record(), 3, &jb, &err), GLIA_OK);
    snprintf(id, sizeof id, "%s", jb->id);
    arm(CALL_FSYNC, 1, ENOSPC);
    glia_status rc = jobstore_change_status(s, jb, JOB_CANCELLED, &err);
    disarm();
    ck_assert_int_eq(fault.failed, 1);
    ck_assert_int_eq(rc, GLIA_EIO);
    ck_assert_msg(strstr(err.msg, "No space left on device"), "%s", err.msg);
    ck_assert_int_eq(jb->status, JOB_QUEUED);
    ck_assert_str_eq(json_string_value(json_object_get(jb->rec, "status")), "queued");
    ck_assert_ptr_null(json_object_get(jb->rec, "finished_at"));
    jobstore_unlock(s);
    jobstore_close(s);
    ck_assert_int_eq(jobstore_open(tmpdir, &s, &err), GLIA_OK);
    jobstore_lock(s);
    ck_assert_int_eq(jobstore_find(s, id)->status, JOB_QUEUED);
    ck_assert_int_eq(jobstore_change_status(s, jobstore_find(s, id), JOB_CANCELLED, &err), GLIA_OK);
    jobstore_unlock(s);
    jobstore_close(s);
    ck_assert_int_eq(jobstore_open(tmpdir, &s, &err), GLIA_OK);
    jobstore_lock(s);
    ck_assert_int_eq(jobstore_find(s, id)->status, JOB_CANCELLED);
    jobstore_unlock(s);
    jobstore_close(s);
}
END_TEST

/* The start removes the temporaries that a kill in the middle of a write leaves (job
 * records, checkpoints, bundle files being written) and nothing that merely looks alike. */
START_TEST(start_removes_temporaries)
{
    jobstore *s = NULL;
    glia_err err = {0};
    struct stat st;
    ck_assert_int_eq(statedir_mkdirs(scratch("jobs/1700000000-0001/out"), &err), GLIA_OK);
    const char *const temps[] = {"jobs/1700000000-0001.json.tmp.Ab3xY9",
                                 "jobs/1700000000-0001/checkpoint.safetensors.tmp.QwErT1",
                                 "jobs/1700000000-0001/out/model.safetensors.tmp.zzzzzz"};
    const char *const kept[] = {"jobs/notes.tmp.abc",                /* five characters */
                                "jobs/1700000000-0001/x.tmp.ab-cd1", /* not a letter or digit */
                                "jobs/1700000000-0001/out/labels.txt", "jobs/readme.tmp"};
    for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++)
        touch(temps[i]);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        touch(kept[i]);
    ck_assert_int_eq(jobstore_open(tmpdir, &s, &err), GLIA_OK);
    jobstore_close(s);
    for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++)
        ck_assert_msg(stat(scratch(temps[i]), &st) != 0, "%s is still there", temps[i]);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        ck_assert_msg(stat(scratch(kept[i]), &st) == 0, "%s was removed", kept[i]);
}
END_TEST

/* ---- uploaded data sets ---- */

static const char GOOD_JSONL[] = "{\"text\": \"fine\", \"label\": \"positive\"}\n"
                                 "{\"text\": \"awful\", \"label\": \"negative\"}\n";

/* One upload of GOOD_JSONL: the status it gets; p and *out as datasets_upload_finish left them. */
static int upload(datasets *d, json_t **out, problem *p)
{
    dataset_upload u;
    memset(p, 0, sizeof *p);
    *out = NULL;
    int code = datasets_upload_begin(d, "jsonl", NULL, &u, p);
    if (code)
        return code;
    datasets_upload_write(d, &u, GOOD_JSONL, sizeof GOOD_JSONL - 1);
    return datasets_upload_finish(d, &u, out, p);
}

/* An upload the disk refuses at any write or fsync is 507 with the reason, and leaves
 * nothing in STATE/datasets; the next one the disk takes is 201 and can be found. */
START_TEST(upload_refused)
{
    datasets *d = NULL;
    glia_err err = {0};
    problem p;
    json_t *out = NULL;
    char dir[4300], name[256], file[4400];
    ck_assert_int_eq(datasets_open(tmpdir, 1 << 20, &d, &err), GLIA_OK);
    snprintf(dir, sizeof dir, "%s", scratch("datasets"));
    const call_kind kinds[] = {CALL_WRITE, CALL_FFLUSH, CALL_FSYNC};
    int failures = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int nth = 1;; nth++) {
            arm(kinds[k], nth, k == 2 ? EIO : ENOSPC);
            int code = upload(d, &out, &p);
            disarm();
            if (!fault.failed) {
                ck_assert_int_eq(code, 201);
                json_decref(out);
                break;
            }
            failures++;
            ck_assert_msg(code == 507, "%d: %s", code, p.detail);
            ck_assert_ptr_null(out);
            ck_assert_msg(strstr(p.detail, k == 2 ? "Input/output error" : "No space left on device"), "%s",
                          p.detail);
            ck_assert_int_eq(entries(dir, NULL, 0), (int)k); /* the uploads that went through */
        }
    /* the body's write; meta.json's flush; the body's fsync, meta.json's and its
     * directory's, and the data set directory's after its rename */
    ck_assert_int_eq(failures, 1 + 1 + 4);
    ck_assert_int_eq(entries(dir, name, sizeof name), 3);
    json_t *meta = NULL;
    ck_assert_ptr_nonnull(datasets_find(d, name, file, sizeof file, &meta));
    ck_assert_int_eq(json_integer_value(json_object_get(meta, "records")), 2);
    json_decref(meta);
    datasets_close(d);
}
END_TEST

/* The start removes an upload cut short (its body, or its directory before the rename)
 * and keeps the data sets. */
START_TEST(start_removes_unfinished_uploads)
{
    datasets *d = NULL;
    glia_err err = {0};
    problem p;
    json_t *out = NULL;
    struct stat st;
    ck_assert_int_eq(datasets_open(tmpdir, 1 << 20, &d, &err), GLIA_OK);
    ck_assert_int_eq(upload(d, &out, &p), 201);
    const char *id = json_string_value(json_object_get(out, "id"));
    char kept[300];
    snprintf(kept, sizeof kept, "datasets/%s/meta.json", id);
    datasets_close(d);
    touch("datasets/.upload-Zx81Qa");
    ck_assert_int_eq(statedir_mkdirs(scratch("datasets/.new-d1700000000-0009"), &err), GLIA_OK);
    touch("datasets/.new-d1700000000-0009/data.jsonl");
    ck_assert_int_eq(datasets_open(tmpdir, 1 << 20, &d, &err), GLIA_OK);
    ck_assert_int_ne(stat(scratch("datasets/.upload-Zx81Qa"), &st), 0);
    ck_assert_int_ne(stat(scratch("datasets/.new-d1700000000-0009"), &st), 0);
    ck_assert_int_eq(stat(scratch(kept), &st), 0);
    json_decref(out);
    datasets_close(d);
}
END_TEST

/* ---- a training request's types ---- */

/* Numbers and booleans given as strings (or other JSON types) are a 400 naming each field
 * and the type it takes, before anything else is looked at (the environment is empty). */
START_TEST(train_request_types)
{
    static const struct {
        const char *body;
        const char *named[5];
    } cases[] = {
        {"{\"model\": \"fashion-cnn\", \"dry_run\": \"yes\", \"dataset\": {\"limit\": \"600\"},"
         " \"recipe\": {\"epochs\": \"3\", \"lr\": \"0.01\", \"optimizer\": {\"nesterov\": 1}}}",
         {"dry_run: expected true or false, got \"yes\"", "dataset.limit: expected an integer, got \"600\"",
          "recipe.epochs: expected an integer, got \"3\"", "recipe.lr: expected a number, got \"0.01\"",
          "recipe.optimizer.nesterov: expected true or false, got 1"}},
        {"{\"model\": \"fashion-cnn\", \"recipe\": {\"max_runtime_seconds\": \"60\", \"optimizer\": "
         "{\"momentum\": "
         "[0.9]}, \"batch\": {\"size\": 32.5}, \"augment\": {\"hflip\": \"true\"}, \"schedule\": "
         "{\"warmup_steps\": "
         "null}}}",
         {"recipe.max_runtime_seconds: expected a number, got \"60\"",
          "recipe.optimizer.momentum: expected a number, got [0.9]",
          "recipe.batch.size: expected an integer, got 32.5",
          "recipe.augment.hflip: expected true or false, got \"true\"",
          "recipe.schedule.warmup_steps: expected an integer, got null"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        trainreq_env env = {0};
        trainreq req;
        problem p = {0};
        json_t *body = json_loads(cases[c].body, 0, NULL);
        ck_assert_ptr_nonnull(body);
        ck_assert_int_eq(trainreq_parse(&env, body, &req, &p), 400);
        for (size_t i = 0; i < 5; i++)
            ck_assert_msg(strstr(p.detail, cases[c].named[i]), "'%s' not in: %s", cases[c].named[i],
                          p.detail);
        json_decref(body);
    }
}
END_TEST

static Suite *durable_suite(void)
{
    Suite *s = suite_create("durable");
    TCase *tc = tcase_create("durable");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, afile_refused);
    tcase_add_test(tc, afile_directory_sync_refused);
    tcase_add_test(tc, job_record_refused);
    tcase_add_test(tc, status_change_refused);
    tcase_add_test(tc, start_removes_temporaries);
    tcase_add_test(tc, upload_refused);
    tcase_add_test(tc, start_removes_unfinished_uploads);
    tcase_add_test(tc, train_request_types);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return glia_check_run(durable_suite());
}
