/*
 * oip.h - the tensors of the Open Inference Protocol v2 (KServe's inference_rest.md, with
 * Triton's binary tensor data extension): a request tensor's datatype, shape and data, read
 * from JSON (flat or nested "data") or from the binary part of a request; and an answer's
 * tensors turned into that binary part.
 *
 * It checks what the protocol fixes - a datatype the protocol names, a shape of non-negative
 * integers whose element count does not overflow, data that holds exactly that many elements
 * (nested arrays: row-major, each level as long as its dimension; binary: exactly count x size
 * bytes, or for BYTES each element a 4-byte little-endian length then its bytes, adding up to
 * binary_data_size) - and says what is wrong in a sentence for the client. Which datatypes and
 * shapes a model takes is the route's business, not this module's. It never runs a model and
 * never writes an HTTP answer.
 */
#ifndef GLIAD_OIP_H
#define GLIAD_OIP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/problem.h"

/* The protocol's datatypes (inference_rest.md, "Tensor Data Types"). */
typedef enum {
    OIP_BOOL,
    OIP_UINT8,
    OIP_UINT16,
    OIP_UINT32,
    OIP_UINT64,
    OIP_INT8,
    OIP_INT16,
    OIP_INT32,
    OIP_INT64,
    OIP_FP16,
    OIP_FP32,
    OIP_FP64,
    OIP_BYTES,
    OIP_NO_TYPE, /* not a datatype of the protocol */
} oip_datatype;

oip_datatype oip_datatype_of(const char *name); /* OIP_NO_TYPE for NULL or an unknown name */
const char *oip_datatype_name(oip_datatype t);
/* Bytes an element takes in the binary form; 0 for BYTES (each has its own length). */
size_t oip_datatype_size(oip_datatype t);

enum { OIP_MAX_DIMS = 8 };

/* One request tensor. Borrows the JSON it was read from and the request body. */
typedef struct {
    const char *name;
    oip_datatype type;
    int nd;
    int64_t shape[OIP_MAX_DIMS];
    size_t count; /* elements: the product of shape */
    /* exactly one of these holds the data: */
    const json_t **leaves;    /* JSON: the count elements in row-major order (malloc'd) */
    const unsigned char *bin; /* binary: count x size bytes, or count length-prefixed BYTES */
    size_t *offsets;          /* binary BYTES: where element i's length prefix starts (malloc'd) */
} oip_tensor;

/* Reads tensor j ({name, shape, datatype, parameters, data}; "inputs[index]" in messages).
 * An input whose parameters hold binary_data_size takes that many bytes from the binary part
 * at *bin (*bin_left bytes left; both advanced); bin may be NULL when the request has no
 * binary part, and then binary_data_size is a 400. 0, or -1 with a 400 (or 503 on OOM)
 * problem. Free with oip_tensor_free (also after a failure). */
int oip_tensor_read(const json_t *j, size_t index, const unsigned char **bin, size_t *bin_left, oip_tensor *t,
                    problem *p);
void oip_tensor_free(oip_tensor *t);

/* Element i as a number: FP32/FP64/integer types as a double (JSON: any number for FP
 * types, an integer for the others). 0, or -1 with a 400 problem naming the element. */
int oip_tensor_number(const oip_tensor *t, size_t index, size_t i, double *out, problem *p);
/* Element i of an integer tensor exactly (a double would round ids past 2^53): JSON integers
 * and INT8..INT64, UINT8..UINT64 binary elements; a UINT64 past INT64_MAX reads as INT64_MAX. 0, or -1 with a
 * 400 problem naming the element. */
int oip_tensor_integer(const oip_tensor *t, size_t index, size_t i, int64_t *out, problem *p);
/* Element i of a BYTES tensor: its bytes (not NUL-terminated) and length. */
int oip_tensor_bytes(const oip_tensor *t, size_t index, size_t i, const char **s, size_t *len, problem *p);

/* ---- answers ---- */

/* A growing byte buffer: the binary part of an answer. */
typedef struct {
    unsigned char *data;
    size_t len, cap;
} oip_buf;

/* Appends the "data" of answer tensor j ({name, datatype, shape, data: flat array}) to buf in
 * the binary form, and replaces it by parameters.binary_data_size. -1 on OOM or a datatype
 * or element this cannot encode. */
int oip_tensor_to_binary(json_t *j, oip_buf *buf);
/* Room for more bytes past buf->len: 0, or -1 on OOM. */
int oip_buf_room(oip_buf *buf, size_t more);
void oip_buf_free(oip_buf *buf);

#endif
