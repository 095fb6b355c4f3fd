/* error.h - the kernels' own error codes: kernels include nothing from the
 * daemon. Each code has the numeric value of the daemon's ED_E* code of the
 * same meaning (daemon/model/model.c asserts it), so a kernel's return value
 * passes through the daemon unchanged. */
#ifndef ED_KERNELS_ERROR_H
#define ED_KERNELS_ERROR_H

#define ED_KERR_LEN 1024 /* size of a caller's human-detail buffer (= ED_ERR_LEN) */

enum {
    ED_KERR_EINVAL = -1,    /* invalid argument (ED_EINVAL) */
    ED_KERR_ENOMEM = -2,    /* out of memory (ED_ENOMEM) */
    ED_KERR_EAGAIN = -7,    /* resource temporarily unavailable (ED_EAGAIN) */
    ED_KERR_EOVERFLOW = -9, /* value too large (ED_EOVERFLOW) */
};

#endif
