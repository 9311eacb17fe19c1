/*
 * loss.h - softmax cross-entropy, PyTorch's nn.CrossEntropyLoss(reduction='mean',
 * label_smoothing=eps, ignore_index=ii).
 *
 * With K classes the target distribution is q = (1 - eps) * onehot(y) + eps / K and
 * the loss per row is -sum_j q_j log softmax(z)_j; the mean is over rows whose label
 * is not ignore_index. The gradient wrt the logits is (softmax(z) - q) / counted.
 */
#ifndef GLIA_NN_LOSS_H
#define GLIA_NN_LOSS_H

#include <stdint.h>

/* logits (n x k); labels (n), each in [0, k) or == ignore_index. Writes dlogits
 * (n x k, may be NULL) and returns the mean loss (0 when no row counts); *counted
 * (may be NULL) receives the number of rows that counted. Labels outside [0, k) other
 * than ignore_index are an invariant violation: callers validate data first. */
double glia_xent(const float *logits, const int32_t *labels, int n, int k, float smoothing,
                 int32_t ignore_index, float *dlogits, int *counted);

#endif
