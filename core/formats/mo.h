/*
 * mo.h - GNU gettext's compiled message catalogs (.mo files), read strictly.
 *
 * The .mo format (GNU gettext manual, "The Format of GNU MO Files"): a header of 32-bit words in
 * the byte order of the machine that wrote it - magic 0x950412de (read back as 0xde120495 when
 * the order is the other one), revision (major << 16 | minor; majors 0 and 1 are read, 1 only
 * adds system-dependent strings, which glia ignores), N strings, offset O of the msgid table,
 * offset T of the msgstr table, hash table size S and offset H (unused here). Each table is N
 * (length, offset) pairs; a string is `length` bytes at `offset` followed by a NUL. A msgid
 * "ctxt\x04id" has a context; "id\0plural" has plural forms, and its msgstr is the forms
 * separated by NULs. glia_mo_* check every offset and length against the file size and the
 * terminating NUL, and name the file and the byte offset of what is wrong.
 *
 * Never: knows which catalogs make a data set or what is done with the messages (that is
 * core/data/gettext.h), prints or exits.
 */
#ifndef GLIA_FORMATS_MO_H
#define GLIA_FORMATS_MO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"

#define GLIA_MO_MAGIC 0x950412deu

typedef struct {
    const char *id;  /* msgid bytes (may hold \x04 and \0 as described above); NUL-terminated */
    size_t id_len;   /* length without the terminating NUL */
    const char *str; /* msgstr bytes; NUL-terminated */
    size_t str_len;
} glia_mo_message;

typedef struct {
    size_t n;                  /* number of messages */
    glia_mo_message *messages; /* pointers into data */
    uint32_t revision;
    bool big_endian;     /* the byte order the file was written in */
    unsigned char *data; /* owned copy of the file */
    size_t size;
} glia_mo_catalog;

/* Checks data[0..size) as a .mo file and indexes its messages into *out (the caller's:
 * glia_mo_catalog_free; the bytes are copied; zeroed on failure). name is used in messages only.
 * Anything out of bounds or unterminated is GLIA_EFORMAT "name: ... at byte OFFSET ...". */
glia_status glia_mo_parse(const char *name, const void *data, size_t size, glia_mo_catalog *out,
                          glia_err *err);

/* glia_mo_parse of the file at path (GLIA_ENOTFOUND when it does not exist). */
glia_status glia_mo_read(const char *path, glia_mo_catalog *out, glia_err *err);

void glia_mo_catalog_free(glia_mo_catalog *c);

/* The charset the header message names ("UTF-8" when there is no header or no charset=), copied
 * into buf (NUL-terminated, truncated to len). */
void glia_mo_catalog_charset(const glia_mo_catalog *c, char *buf, size_t len);

#endif
