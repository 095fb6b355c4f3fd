/* atomic.c - the atomic file protocol: tmp file, fsync, rename, directory
 * fsync; whole-file reads; clean-up of interrupted writes. Every fsync goes
 * through ed__atomic_fsync so that tests can make it fail. */
#include "store/atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int (*ed__atomic_fsync)(int fd) = fsync;

/* errno e as an ED_E* code (ENOSPC, ENOENT kept; the rest an I/O error)
 * with "<what> <path>: <strerror>" in err. */
static int fail(char err[ED_ERR_LEN], int e, const char *what, const char *path)
{
    return ed_errf(err, e == ENOSPC ? ED_ENOSPC : e == ENOENT ? ED_ENOENT : ED_EIO, "%s %.900s: %s", what, path,
                   strerror(e));
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsyncs the directory that holds path, so that a rename in it is durable. */
static int fsync_parent(const char *path, char err[ED_ERR_LEN])
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    const char *parent = dirname(dir);
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errno, "cannot open directory", parent);
    int rc = 0;
    if (ed__atomic_fsync(fd) != 0)
        rc = fail(err, errno, "fsync of directory", parent);
    close(fd);
    return rc;
}

int ed_atomic_write(const char *path, const void *data, size_t len, mode_t mode, char err[ED_ERR_LEN])
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, ED_ERR_LEN, "path too long: %s", path);
        return ED_EINVAL;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return fail(err, errno, "cannot create", tmp);
    int rc = 0;
    if (fchmod(fd, mode) != 0)
        rc = fail(err, errno, "cannot set the mode of", tmp);
    else if (write_all(fd, data, len) != 0)
        rc = fail(err, errno, "cannot write", tmp);
    else if (ed__atomic_fsync(fd) != 0)
        rc = fail(err, errno, "fsync of", tmp);
    if (close(fd) != 0 && rc == 0)
        rc = fail(err, errno, "cannot close", tmp);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = fail(err, errno, "cannot rename into place", path);
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    return fsync_parent(path, err);
}

int ed_atomic_read(const char *path, void **data, size_t *len, char err[ED_ERR_LEN])
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errno, "cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = fail(err, errno, "cannot stat", path);
        close(fd);
        return rc;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        snprintf(err, ED_ERR_LEN, "out of memory reading %s (%zu bytes)", path, size);
        return ED_ENOMEM;
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int rc = n < 0 ? fail(err, errno, "cannot read", path) : fail(err, EIO, "file shrank while reading", path);
            free(buf);
            close(fd);
            return rc;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[size] = '\0';
    *data = buf;
    *len = size;
    return 0;
}

int ed_atomic_mkdir(const char *path, char err[ED_ERR_LEN])
{
    if (mkdir(path, 0700) == 0)
        return fsync_parent(path, err);
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return fail(err, e == EEXIST ? ENOTDIR : e, "cannot make directory", path);
}

void ed_atomic_clean(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        size_t n = strlen(entry->d_name);
        if (n > 4 && strcmp(entry->d_name + n - 4, ".tmp") == 0)
            unlinkat(dirfd(d), entry->d_name, 0);
    }
    closedir(d);
}
