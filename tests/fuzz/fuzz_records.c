/*
 * fuzz_records.c - an uploaded data set as a training job reads it (core/data): the first
 * byte chooses a jsonl file of labelled texts (glia_uci_load_jsonl, with sentiment-lstm's
 * two labels) or a tsv file of translation pairs (glia_gt_load_tsv). gliad checks an
 * upload's records when it arrives (fuzz_datasets); these loaders read it again, cleaned,
 * deduplicated and split, when the job starts.
 */
#include "core/data/gettext.h"
#include "core/data/uci.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char negative[] = "negative", positive[] = "positive";
    char *const labels[] = {negative, positive};
    glia_err err = {0};
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        glia_gt_set set = {0};
        if (glia_gt_load_tsv(fuzz_write_file("data.tsv", data + 1, size - 1), &set, &err) == GLIA_OK)
            glia_gt_free(&set);
    } else {
        glia_uci_set set = {0};
        if (glia_uci_load_jsonl(fuzz_write_file("data.jsonl", data + 1, size - 1), labels, 2, &set, &err) ==
            GLIA_OK)
            glia_uci_free(&set);
    }
    return 0;
}
