/*
 * cli_predict.c - `glia predict` and `glia forward` for every model, through the model
 * interface (core/model/model.h): inputs are read by the model's input kind (image files, or
 * texts through the bundle's tokenizer), answers printed by its output kind (a label and its
 * probability, or the decoded sequence). No family is named here.
 *
 * The lines keep the formats the scripts and tests read: an image "FILE\tLABEL\tP", a text
 * "LABEL\tP\tTEXT", a translation "TEXT\tTRANSLATION".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/kernels.h"
#include "cli/cli.h"

/* What one predict needs, sized once for a single input. */
typedef struct {
    const glia_bundle *b;
    const glia_model_ops *ops;
    glia_model_ctx *ctx;
    float *x;     /* GLIA_INPUT_TENSOR: one input */
    int32_t *ids; /* GLIA_INPUT_TOKENS: max_tokens ids */
    int n_ids;    /* GLIA_INPUT_TOKENS: how many the input has */
    float *probs; /* GLIA_OUTPUT_CLASSES: outputs */
    glia_decode_opts decode;
} predictor;

static void predictor_free(predictor *p)
{
    if (p->ctx)
        p->ops->ctx_free(p->ctx);
    free(p->x);
    free(p->ids);
    free(p->probs);
}

static glia_status predictor_init(predictor *p, const glia_bundle *b, int beam, glia_err *err)
{
    const glia_model *model = b->model;
    memset(p, 0, sizeof *p);
    p->b = b;
    p->ops = model->ops;
    p->decode = glia_model_decode_defaults(&b->manifest);
    if (beam > 0)
        p->decode.beam_size = beam;
    const int sequence = p->ops->output == GLIA_OUTPUT_SEQUENCE;
    /* one input: a sequence model's decoder holds its beam_size rows */
    glia_ctx_spec spec = {.max_batch = sequence ? p->decode.beam_size : 1,
                          .max_steps = b->manifest.max_tokens,
                          .max_beam = p->decode.beam_size};
    if (p->ops->input == GLIA_INPUT_TENSOR)
        p->x = malloc(sizeof(float) * (model->input_size ? model->input_size : 1));
    else
        p->ids = malloc(sizeof(int32_t) * (size_t)b->manifest.max_tokens);
    if (!sequence)
        p->probs = malloc(sizeof(float) * (size_t)model->outputs);
    if ((!p->x && !p->ids) || (!sequence && !p->probs))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    return p->ops->ctx_new(model, &spec, &p->ctx, err);
}

/* One argument -> a batch of one; *length holds its token count. */
static glia_status read_input(predictor *p, const char *arg, glia_batch *in, int32_t *length, glia_err *err)
{
    const glia_bundle *b = p->b;
    *in = (glia_batch){.n = 1, .decode = p->decode};
    if (p->ops->input == GLIA_INPUT_TENSOR) {
        glia_image img = {0};
        glia_status rc = glia_image_load(arg, &img, err);
        if (rc == GLIA_OK)
            rc = glia_bundle_image_input(&b->manifest, &img, p->x, err);
        glia_image_free(&img);
        in->x = p->x;
        return rc;
    }
    const int max = b->manifest.max_tokens;
    int n = 0, total = 0;
    glia_status rc;
    if (p->ops->output == GLIA_OUTPUT_SEQUENCE) { /* half a sentence is refused, not cut */
        if ((rc = glia_tokenizer_encode(b->tokenizer, arg, strlen(arg), max, p->ids, &n, &total, err)))
            return rc;
        if (total > max)
            return glia_err_set(err, GLIA_EINVAL, "%d tokens: longer than the model's input.max_tokens (%d)",
                                total, max);
    } else {
        size_t len = strlen(arg);
        if ((rc = glia_bundle_text_input(b, &arg, &len, 1, p->ids, length, &n, NULL, err)))
            return rc;
    }
    *length = n;
    p->n_ids = n;
    in->ids = p->ids;
    in->lengths = length;
    in->steps = n;
    return GLIA_OK;
}

static void print_failure(const predictor *p, const char *arg, const glia_err *err)
{
    if (p->ops->input == GLIA_INPUT_TENSOR)
        fprintf(stderr, "glia: %s\n", err->msg);
    else if (p->ops->output == GLIA_OUTPUT_CLASSES)
        fprintf(stderr, "glia: \"%s\": %s\n", arg, err->msg);
    else
        fprintf(stderr, "glia: %s: %s\n", arg, err->msg);
}

static glia_status print_answer(const predictor *p, const char *arg, const glia_prediction *out,
                                glia_err *err)
{
    const glia_manifest *m = &p->b->manifest;
    if (p->ops->output == GLIA_OUTPUT_SEQUENCE) {
        char *text = NULL;
        glia_status rc = glia_tokenizer_decode_translation(
            p->b->tokenizer, p->ids, p->n_ids, out->seqs[0].ids, out->seqs[0].n, &text, NULL, err);
        if (rc == GLIA_OK)
            printf("%s\t%s\n", arg, text);
        free(text);
        return rc;
    }
    const int k = p->b->model->outputs;
    glia_softmax(out->logits, p->probs, 1, k);
    const int best = glia_argmax(p->probs, k);
    const char *label = m->nlabels ? m->labels[best] : "?";
    if (p->ops->input == GLIA_INPUT_TENSOR)
        printf("%s\t%s\t%.4f\n", arg, label, p->probs[best]);
    else
        printf("%s\t%.4f\t%s\n", label, p->probs[best], arg);
    return GLIA_OK;
}

int glia_cli_predict(const glia_bundle *b, int n, char **args, int beam)
{
    glia_err err = {0};
    predictor p;
    int rc = 0;
    if (predictor_init(&p, b, beam, &err)) {
        predictor_free(&p);
        return glia_cli_fail(&err);
    }
    for (int i = 0; i < n; i++) {
        glia_batch in;
        glia_sequence seq;
        glia_prediction out = {.seqs = &seq};
        int32_t length = 0;
        if (p.ops->output == GLIA_OUTPUT_SEQUENCE && strspn(args[i], " \t\n\r\f\v") == strlen(args[i])) {
            fprintf(stderr, "glia: argument %d is empty: give a sentence to translate\n", i + 1);
            rc = 1;
            continue;
        }
        if (read_input(&p, args[i], &in, &length, &err) || p.ops->predict(b->model, p.ctx, &in, &out, &err) ||
            print_answer(&p, args[i], &out, &err)) {
            print_failure(&p, args[i], &err);
            rc = 1;
        }
    }
    predictor_free(&p);
    return rc;
}

/* ---- forward: a safetensors file of inputs -> "logits" ---- */

/* The inputs of forward, read by the model's kinds (see cli.h). */
typedef struct {
    glia_batch in;
    float *x;
    int32_t *ids, *lengths, *tgt, *tgt_lengths;
} forward_inputs;

static void forward_inputs_free(forward_inputs *f)
{
    free(f->x);
    free(f->ids);
    free(f->lengths);
    free(f->tgt);
    free(f->tgt_lengths);
}

/* Rows of ids [n, steps] -> lengths (leading non-padding ids); a padding id before a real
 * one, or an empty row, is an error. */
static glia_status row_lengths(const int32_t *ids, int n, int steps, int32_t *len, const char *what,
                               glia_err *err)
{
    for (int i = 0; i < n; i++) {
        int l = 0;
        while (l < steps && ids[(size_t)i * (size_t)steps + (size_t)l] != 0)
            l++;
        for (int t = l; t < steps; t++)
            if (ids[(size_t)i * (size_t)steps + (size_t)t] != 0)
                return glia_err_set(err, GLIA_EINVAL, "%s row %d: padding (0) must only trail", what, i);
        if (l == 0)
            return glia_err_set(err, GLIA_EINVAL, "%s row %d is empty", what, i);
        len[i] = l;
    }
    return GLIA_OK;
}

/* t as int32: I32 and I64 (PyTorch's default for token ids) as they are, any float dtype
 * through the float32 reader (exact below 2^24, far above any vocabulary). scratch holds
 * count floats. */
static int read_ints_as_int32(const glia_st_tensor *t, int32_t *out, size_t count, float *scratch,
                              glia_err *err)
{
    if (glia_st_numel(t) != count)
        return glia_err_set(err, GLIA_EINVAL, "tensor '%s' has %zu elements, expected %zu", t->name,
                            glia_st_numel(t), count);
    if (t->dtype == GLIA_DT_I32 || t->dtype == GLIA_DT_I64) {
        const unsigned char *p = t->data; /* may be unaligned: memcpy */
        for (size_t i = 0; i < count; i++) {
            int64_t v = 0;
            if (t->dtype == GLIA_DT_I32) {
                int32_t v32;
                memcpy(&v32, p + i * 4, 4);
                v = v32;
            } else {
                memcpy(&v, p + i * 8, 8);
            }
            if (v < INT32_MIN || v > INT32_MAX)
                return glia_err_set(err, GLIA_EINVAL, "tensor '%s'[%zu] = %lld does not fit int32", t->name,
                                    i, (long long)v);
            out[i] = (int32_t)v;
        }
        return 0;
    }
    if (glia_st_read_f32(t, scratch, count, err))
        return 1;
    for (size_t i = 0; i < count; i++)
        out[i] = (int32_t)scratch[i];
    return 0;
}

/* count integers of t (any integer or float dtype) as int32 into a new *out. */
static glia_status read_ints(const glia_st_tensor *t, size_t count, int32_t **out, glia_err *err)
{
    float *scratch = malloc(sizeof(float) * count);
    *out = malloc(sizeof(int32_t) * count);
    glia_status rc = scratch && *out ? GLIA_OK : glia_err_set(err, GLIA_ENOMEM, "out of memory");
    if (rc == GLIA_OK && read_ints_as_int32(t, *out, count, scratch, err))
        rc = err->code;
    free(scratch);
    return rc;
}

static int is_matrix(const glia_st_tensor *t, int64_t rows)
{
    return t && t->ndim == 2 && t->shape[0] >= 1 && t->shape[0] <= 65536 && t->shape[1] >= 1 &&
           t->shape[1] <= 65536 && (rows == 0 || t->shape[0] == rows);
}

/* "input" [N, C, H, W] for a model over tensors. */
static glia_status read_tensor(const glia_bundle *b, glia_st_file *st, const char *path, forward_inputs *f,
                               glia_err *err)
{
    const glia_st_tensor *t = glia_st_find(st, "input");
    const glia_shape3 s = b->manifest.input;
    if (!t || t->ndim != 4 || t->shape[1] != s.c || t->shape[2] != s.h || t->shape[3] != s.w ||
        t->shape[0] < 1)
        return glia_err_set(err, GLIA_EINVAL, "%s: expected a tensor 'input' of shape [N, %d, %d, %d]", path,
                            s.c, s.h, s.w);
    const int n = (int)t->shape[0];
    const size_t count = b->model->input_size * (size_t)n;
    if (!(f->x = malloc(sizeof(float) * count)))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    f->in.n = n;
    f->in.x = f->x;
    return glia_st_read_f32(t, f->x, count, err);
}

/* A classifier's "ids" [N, T] + "lengths" [N]. */
static glia_status read_ids(glia_st_file *st, const char *path, forward_inputs *f, glia_err *err)
{
    const glia_st_tensor *ti = glia_st_find(st, "ids"), *tl = glia_st_find(st, "lengths");
    if (!is_matrix(ti, 0) || !tl || tl->ndim != 1 || tl->shape[0] != ti->shape[0])
        return glia_err_set(err, GLIA_EINVAL, "%s: expected tensors 'ids' [N, T] and 'lengths' [N]", path);
    const int n = (int)ti->shape[0], steps = (int)ti->shape[1];
    f->in = (glia_batch){.n = n, .steps = steps};
    glia_status rc = read_ints(ti, (size_t)n * (size_t)steps, &f->ids, err);
    if (rc == GLIA_OK)
        rc = read_ints(tl, (size_t)n, &f->lengths, err);
    f->in.ids = f->ids;
    f->in.lengths = f->lengths;
    return rc;
}

/* A sequence model's "src" [B, S] + "tgt" [B, T] (decoder input), padded with trailing 0. */
static glia_status read_pairs(glia_st_file *st, const char *path, forward_inputs *f, glia_err *err)
{
    const glia_st_tensor *ts = glia_st_find(st, "src"), *tt = glia_st_find(st, "tgt");
    if (!is_matrix(ts, 0) || !is_matrix(tt, ts->shape[0]))
        return glia_err_set(err, GLIA_EINVAL, "%s: expected tensors 'src' [B, S] and 'tgt' [B, T]", path);
    const int n = (int)ts->shape[0], S = (int)ts->shape[1], T = (int)tt->shape[1];
    glia_status rc;
    if ((rc = read_ints(ts, (size_t)n * (size_t)S, &f->ids, err)) ||
        (rc = read_ints(tt, (size_t)n * (size_t)T, &f->tgt, err)))
        return rc;
    f->lengths = malloc(sizeof(int32_t) * (size_t)n);
    f->tgt_lengths = malloc(sizeof(int32_t) * (size_t)n);
    if (!f->lengths || !f->tgt_lengths)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    if ((rc = row_lengths(f->ids, n, S, f->lengths, "src", err)) ||
        (rc = row_lengths(f->tgt, n, T, f->tgt_lengths, "tgt", err)))
        return rc;
    f->in = (glia_batch){.n = n,
                         .ids = f->ids,
                         .lengths = f->lengths,
                         .steps = S,
                         .tgt = f->tgt,
                         .tgt_lengths = f->tgt_lengths,
                         .tgt_steps = T};
    return GLIA_OK;
}

/* The inputs by the model's kinds. */
static glia_status read_inputs(const glia_bundle *b, glia_st_file *st, const char *path, forward_inputs *f,
                               glia_err *err)
{
    if (b->model->ops->input == GLIA_INPUT_TENSOR)
        return read_tensor(b, st, path, f, err);
    return b->model->ops->output == GLIA_OUTPUT_SEQUENCE ? read_pairs(st, path, f, err)
                                                         : read_ids(st, path, f, err);
}

/* Writes "logits": [N, outputs] for one row per input, or [B, T, V] with a row per target
 * position (0 at padded positions) for a sequence model. */
static glia_status write_logits(const glia_model *model, const glia_batch *in, const float *logits, int rows,
                                const char *path, glia_err *err)
{
    const size_t V = (size_t)model->outputs;
    if (model->ops->output != GLIA_OUTPUT_SEQUENCE) {
        int64_t shape[2] = {rows, (int64_t)V};
        glia_st_entry e = {"logits", GLIA_DT_F32, 2, shape, logits};
        return glia_st_write(path, &e, 1, NULL, err);
    }
    const size_t T = (size_t)in->tgt_steps;
    float *full = calloc((size_t)in->n * T * V, sizeof(float));
    if (!full)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    int r = 0;
    for (int i = 0; i < in->n; i++)
        for (int t = 0; t < in->tgt_lengths[i]; t++, r++)
            memcpy(full + ((size_t)i * T + (size_t)t) * V, logits + (size_t)r * V, sizeof(float) * V);
    int64_t shape[3] = {in->n, (int64_t)T, (int64_t)V};
    glia_st_entry e = {"logits", GLIA_DT_F32, 3, shape, full};
    glia_status rc = glia_st_write(path, &e, 1, NULL, err);
    free(full);
    return rc;
}

int glia_cli_forward(const glia_bundle *b, const char *in_path, const char *out_path)
{
    glia_err err = {0};
    glia_st_file *st = NULL;
    glia_model_ctx *ctx = NULL;
    forward_inputs f = {0};
    const glia_model_ops *ops = b->model->ops;
    const float *logits = NULL;
    int rows = 0, rc = 1;
    if (glia_st_open(in_path, &st, &err) || read_inputs(b, st, in_path, &f, &err))
        goto done;
    /* an evaluation ctx: forward without dropout, nothing kept for backward */
    glia_ctx_spec spec = {.max_batch = f.in.n, .max_steps = f.in.steps, .max_tgt_steps = f.in.tgt_steps};
    if (ops->ctx_new(b->model, &spec, &ctx, &err) ||
        ops->forward(b->model, ctx, &f.in, NULL, &logits, &rows, &err) ||
        write_logits(b->model, &f.in, logits, rows, out_path, &err))
        goto done;
    rc = 0;
done:
    if (rc)
        glia_cli_fail(&err);
    if (ctx)
        ops->ctx_free(ctx);
    glia_st_close(st);
    forward_inputs_free(&f);
    return rc;
}
