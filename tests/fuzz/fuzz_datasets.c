/*
 * fuzz_datasets.c - POST /v1/datasets bodies: the first byte chooses the format (jsonl,
 * tsv, idx-images, idx-labels), the rest is uploaded in chunks as libmicrohttpd hands them
 * over and checked record by record. A data set that passes is published, then removed
 * again so that the state directory does not grow. A fifth choice makes the rest a stored
 * data set's meta.json (a state directory is outside bytes too: a disk, an operator), read
 * back as GET /v1/datasets and a training job's "dataset" read it.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "daemon/datasets.h"
#include "tests/fuzz/fuzz_support.h"

static int read_meta(datasets *d, const uint8_t *data, size_t size)
{
    static int ready;
    char path[1024];
    json_t *meta = NULL;
    if (!ready) {
        snprintf(path, sizeof path, "%s/datasets/d1-0000", fuzz_dir());
        mkdir(path, 0700);
        ready = 1;
    }
    fuzz_write_file("datasets/d1-0000/meta.json", data, size);
    json_decref(datasets_list(d));
    datasets_find(d, "d1-0000", path, sizeof path, &meta);
    json_decref(meta);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const formats[] = {"jsonl", "tsv", "idx-images", "idx-labels"};
    static datasets *d;
    glia_err err = {0};
    if (!d && datasets_open(fuzz_dir(), 1 << 20, &d, &err) != GLIA_OK) {
        fprintf(stderr, "fuzz_datasets: %s\n", err.msg);
        return -1;
    }
    if (size < 1)
        return 0;
    if (data[0] % 5 == 4)
        return read_meta(d, data + 1, size - 1);
    dataset_upload u;
    problem p = {0};
    json_t *meta = NULL;
    if (datasets_upload_begin(d, formats[data[0] % 5] /* 0..3: 4 returned above */, NULL, &u, &p) != 0)
        return 0;
    for (size_t done = 1; done < size; done += 4096)
        datasets_upload_write(d, &u, (const char *)data + done, size - done < 4096 ? size - done : 4096);
    if (datasets_upload_finish(d, &u, &meta, &p) == 201) {
        char path[1024];
        snprintf(path, sizeof path, "%s/datasets/%s", fuzz_dir(),
                 json_string_value(json_object_get(meta, "id")));
        fuzz_remove_tree(path);
    }
    json_decref(meta);
    return 0;
}
