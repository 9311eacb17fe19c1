/*
 * fuzz_mo.c - gettext .mo catalogs (the translation data), from memory.
 */
#include "core/formats/mo.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    glia_mo_catalog c;
    glia_err err = {0};
    if (glia_mo_parse("fuzz.mo", data, size, &c, &err) == GLIA_OK) {
        char charset[64];
        glia_mo_catalog_charset(&c, charset, sizeof charset);
        glia_mo_catalog_free(&c);
    }
    return 0;
}
