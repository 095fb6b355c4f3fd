/* atomic.h - the atomic file protocol (internal to the store): write X.tmp,
 * fsync it, rename it over X, fsync the directory; whole-file reads; and the
 * fsync hook through which tests inject I/O failures. What a failure means
 * for the store (read-only) is decided by store.c. */
#ifndef ED_STORE_ATOMIC_H
#define ED_STORE_ATOMIC_H

#include "core/error.h"

#include <stddef.h>
#include <sys/types.h>

/* Every fsync the store makes goes through this pointer (fsync(2) by
 * default); a unit test may point it at a function that fails with EIO.
 * Returns 0, or -1 with errno set, like fsync(2). */
extern int (*ed__atomic_fsync)(int fd);

/* Replaces the file at path with len bytes of data (mode `mode`) so that a
 * crash at any moment leaves either the old or the new file, and the new one
 * is durable when this returns 0. On failure path is untouched where the
 * failure came before the rename; err says which step failed. */
int ed_atomic_write(const char *path, const void *data, size_t len, mode_t mode, char err[ED_ERR_LEN]);

/* Reads the whole file at path into a malloc'd buffer (*data, *len; one
 * extra NUL byte follows the data). Absent: ED_ENOENT. */
int ed_atomic_read(const char *path, void **data, size_t *len, char err[ED_ERR_LEN]);

/* Makes directory path (mode 0700) when absent. */
int ed_atomic_mkdir(const char *path, char err[ED_ERR_LEN]);

/* Removes the X.tmp files an interrupted write left in directory dir. */
void ed_atomic_clean(const char *dir);

#endif
