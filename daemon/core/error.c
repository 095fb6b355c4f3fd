/* error.c - messages and names for the ED_E* table in error.h. */
#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

const char *ed_strerror(int err)
{
    switch (err) {
    case ED_OK: return "success";
#define ED__ERR_MSG(name, value, msg) case ED_##name: return msg;
    ED_ERRNO_MAP(ED__ERR_MSG)
#undef ED__ERR_MSG
    }
    return "unknown error";
}

const char *ed_err_name(int err)
{
    switch (err) {
    case ED_OK: return "OK";
#define ED__ERR_NAME(name, value, msg) case ED_##name: return #name;
    ED_ERRNO_MAP(ED__ERR_NAME)
#undef ED__ERR_NAME
    }
    return "EUNKNOWN";
}

int ed_err_from_errno(int errno_value)
{
    switch (errno_value) {
    case 0: return ED_OK;
    case ENOMEM: return ED_ENOMEM;
    case ENOENT: return ED_ENOENT;
    case EEXIST: return ED_EEXIST;
    case EACCES: case EPERM: return ED_EACCES;
    case EAGAIN: return ED_EAGAIN;
    case ERANGE: return ED_ERANGE;
    case EOVERFLOW: return ED_EOVERFLOW;
    case ETIMEDOUT: return ED_ETIMEDOUT;
    case ECANCELED: return ED_ECANCELED;
    case EBUSY: return ED_EBUSY;
    case ENOSPC: case EDQUOT: return ED_ENOSPC;
    case EFBIG: case E2BIG: return ED_ETOOBIG;
    case EROFS: return ED_EREADONLY;
    case EPIPE: case ECONNRESET: return ED_ECLOSED;
    case ENOTSUP: return ED_EUNSUPPORTED;
    case EINVAL: return ED_EINVAL;
    default: return ED_EIO;
    }
}

int ed_errf(char err[ED_ERR_LEN], int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, ED_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return code;
}
