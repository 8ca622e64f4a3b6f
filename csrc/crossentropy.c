/*
 * crossentropy.c -- sparse categorical crossentropy of a softmax output and
 * its gradient, in one pass over the probabilities.
 *
 * For row i of p (rows x classes, each row a softmax output) and its integer
 * label l_i:
 *
 *   q_i      = p[i, l_i] / sum_j p[i, j]        (renormalised, as Keras does)
 *   loss_i   = -log(clip(q_i, eps, 1 - eps))    (in double precision)
 *   dz[i, j] = scale * (p[i, j] - [j == l_i])   (only if dz is not NULL)
 *
 * dz is the gradient of scale * sum_i loss_i with respect to the logits z of
 * p = softmax(z): the softmax's Jacobian and the log's derivative cancel to
 * p - onehot(l), which is why the training step starts here and not at p.
 * A NaN in p gives a NaN loss (the clip compares, so NaN passes through) and
 * a diverged model stays visible.
 *
 * Every label is checked before anything is written.  One thread: a batch
 * holds rows x classes values (128 x 10 in the demo), microseconds of work;
 * what this kernel saves is the dozen NumPy passes and temporaries the same
 * formulas take in Python.
 */
#include <math.h>

#include "internal.h"

int64_t fastnn_sparse_crossentropy(const float *p, const int64_t *labels,
                                   int64_t rows, int64_t classes,
                                   double epsilon, float scale, double *loss,
                                   float *dz)
{
    for (int64_t i = 0; i < rows; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return i;
    for (int64_t i = 0; i < rows; i++) {
        const float *row = p + i * classes;
        double total = 0.0;
        for (int64_t j = 0; j < classes; j++)
            total += row[j];
        double q = row[labels[i]] / total;
        if (q < epsilon)
            q = epsilon;
        else if (q > 1.0 - epsilon)
            q = 1.0 - epsilon;
        loss[i] = -log(q);
        if (dz != NULL) {
            float *out = dz + i * classes;
            for (int64_t j = 0; j < classes; j++)
                out[j] = scale * row[j];
            out[labels[i]] -= scale;
        }
    }
    return -1;
}
