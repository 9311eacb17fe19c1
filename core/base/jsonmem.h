/*
 * jsonmem.h - Jansson's allocations through glia, so that a failed one is never lost.
 *
 * Jansson 2.14 drops the result of some of its lexer's allocations (load.c, lex_save
 * ignores strbuffer_append_byte's), so a load that could not grow a string succeeds with
 * bytes missing from that string: a data set loaded under memory pressure would differ
 * from the file without a word (tests/unit/test_fault.c found it). glia_json_watch installs
 * allocation functions (malloc and free, plus a note in the calling thread when malloc
 * fails) and clears the note; a loader that sees glia_json_failed() after its load refuses
 * the result as out of memory.
 *
 * The functions are installed once, at the first call; gliad calls glia_json_watch in
 * main before it starts a thread, so that they never change under a running parse.
 * Objects made before then were made with malloc, and free frees them still.
 */
#ifndef GLIA_BASE_JSONMEM_H
#define GLIA_BASE_JSONMEM_H

/* Installs the functions (once) and clears this thread's note. */
void glia_json_watch(void);
/* 1 when an allocation of Jansson's failed in this thread since glia_json_watch. */
int glia_json_failed(void);

#endif
