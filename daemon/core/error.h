/* error.h - edged's error codes: one X-macro table, ed_strerror(), ed_err_name().
 * Every function that can fail returns 0 or a negative ED_E* code. Foreign
 * codes (errno, SQLite, mbedTLS, llhttp, faiss) are translated only in their
 * wrapper module; errno values map through ed_err_from_errno(). */
#ifndef ED_CORE_ERROR_H
#define ED_CORE_ERROR_H

#include <stddef.h>

#define ED_ERR_LEN 1024 /* size of a caller's human-detail buffer */

/* name, value, message */
#define ED_ERRNO_MAP(X)                                                        \
    X(EINVAL, -1, "invalid argument")                                          \
    X(ENOMEM, -2, "out of memory")                                             \
    X(EIO, -3, "input/output error")                                           \
    X(ENOENT, -4, "no such file or directory")                                 \
    X(EEXIST, -5, "already exists")                                            \
    X(EACCES, -6, "permission denied")                                         \
    X(EAGAIN, -7, "resource temporarily unavailable")                          \
    X(ERANGE, -8, "value out of range")                                        \
    X(EOVERFLOW, -9, "value too large")                                        \
    X(EFORMAT, -10, "malformed input")                                         \
    X(EUNSUPPORTED, -11, "not supported")                                      \
    X(ETIMEDOUT, -12, "timed out")                                             \
    X(ECANCELED, -13, "operation canceled")                                    \
    X(EBUSY, -14, "resource busy")                                             \
    X(ENOSPC, -15, "no space left")                                            \
    X(ECONFIG, -16, "bad configuration")                                       \
    X(ETOOBIG, -17, "too large")                                               \
    X(ECLOSED, -18, "connection closed")                                       \
    X(ESTATE, -19, "operation not valid in the current state")                 \
    X(ECORRUPT, -20, "data is corrupt or was tampered with")                   \
    X(EREADONLY, -21, "store is read-only")                                    \
    X(EANSWER, -22, "the server answered with an error")

enum {
    ED_OK = 0,
#define ED__ERR_ENUM(name, value, msg) ED_##name = (value),
    ED_ERRNO_MAP(ED__ERR_ENUM)
#undef ED__ERR_ENUM
};

/* A static message for `err` (0 or an ED_E* code); never NULL. */
const char *ed_strerror(int err);
/* The code's name without prefix ("EINVAL"); never NULL. */
const char *ed_err_name(int err);
/* Translates a positive errno value into an ED_E* code. */
int ed_err_from_errno(int errno_value);
/* The one error-buffer helper: formats the human detail into err (when err
 * is not NULL; cut to ED_ERR_LEN - 1 bytes) and returns `code`, so a failure
 * reads `return ed_errf(err, ED_EINVAL, "%s: bad magic", path);`. */
int ed_errf(char err[ED_ERR_LEN], int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
