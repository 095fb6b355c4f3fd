/* store_checkpoints.c - training checkpoints in the store: each sealed
 * (identity "checkpoint:NAME") and written by the atomic protocol to
 * STATE_DIR/checkpoints/NAME, so neither a crash nor a stolen disk shows the
 * personal text a checkpoint's adapter learned. What a checkpoint holds is
 * adapt/run's business; here it is bytes. Part of the store (store.c). */
#include "store/store_internal.h"

#include "store/atomic.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ed__store_file_seal_write(ed_store_t *store, const char *path, const char *identity, const void *data, size_t len,
                              char err[ED_ERR_LEN])
{
    uint8_t *sealed = malloc(ed_seal_size(len));
    if (!sealed)
        return ed__store_out_of_memory(err);
    int rc = ed_seal_seal(store->seal, identity, data, len, sealed);
    if (rc != 0)
        snprintf(err, ED_ERR_LEN, "cannot seal %s", identity);
    else
        rc = ed_atomic_write(path, sealed, ed_seal_size(len), 0600, err);
    free(sealed);
    return rc;
}

int ed__store_file_read_unseal(ed_store_t *store, const char *path, const char *identity, const char *what,
                               void **out, size_t *out_len, char err[ED_ERR_LEN])
{
    *out = NULL;
    *out_len = 0;
    void *sealed = NULL;
    size_t sealed_len = 0;
    int rc = ed_atomic_read(path, &sealed, &sealed_len, err);
    if (rc != 0)
        return rc;
    uint8_t *plain = sealed_len >= ED_SEAL_OVERHEAD ? malloc(sealed_len - ED_SEAL_OVERHEAD + 1) : NULL;
    if (!plain) {
        free(sealed);
        return sealed_len < ED_SEAL_OVERHEAD ? ed_errf(err, ED_ECORRUPT, "%s: file too short", what)
                                             : ed__store_out_of_memory(err);
    }
    rc = ed_seal_unseal(store->seal, identity, sealed, sealed_len, plain, out_len, err);
    free(sealed);
    if (rc != 0) {
        free(plain);
        *out_len = 0;
        return rc;
    }
    *out = plain;
    return 0;
}

static bool name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= ED_STORE_CHECKPOINT_NAME_MAX || name[0] == '.' ||
        (n >= 4 && strcmp(name + n - 4, ".tmp") == 0))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* The file and the sealing identity of checkpoint name. */
static int locate(const ed_store_t *store, const char *name, char path[PATH_MAX], char identity[IDENTITY_LEN],
                  char err[ED_ERR_LEN])
{
    if (!name_valid(name))
        return ed_errf(err, ED_EINVAL,
                       "checkpoint name \"%.80s\": expected 1 to %d of A-Z a-z 0-9 . _ - (not starting with '.')",
                       name ? name : "", ED_STORE_CHECKPOINT_NAME_MAX - 1);
    int n = snprintf(path, PATH_MAX, "%s/%s", store->checkpoints_dir, name);
    if (n < 0 || n >= PATH_MAX || strlen(store->checkpoints_dir) >= PATH_MAX - 1)
        return ed_errf(err, ED_EINVAL, "state directory path too long");
    snprintf(identity, IDENTITY_LEN, "checkpoint:%.*s", ED_STORE_CHECKPOINT_NAME_MAX, name);
    return 0;
}

int ed_store_checkpoint_save(ed_store_t *store, const char *name, const void *data, size_t len,
                             char err[ED_ERR_LEN])
{
    char path[PATH_MAX], identity[IDENTITY_LEN];
    int rc = ed__store_check_writable(store, err);
    if (rc != 0 || (rc = locate(store, name, path, identity, err)) != 0)
        return rc;
    if ((rc = ed_atomic_mkdir(store->checkpoints_dir, err)) != 0 ||
        (rc = ed__store_file_seal_write(store, path, identity, data, len, err)) != 0)
        return rc == ED_EIO ? ed__store_write_failed(store, rc, err) : rc;
    return 0;
}

int ed_store_checkpoint_load(ed_store_t *store, const char *name, void **data, size_t *len, char err[ED_ERR_LEN])
{
    char path[PATH_MAX], identity[IDENTITY_LEN], what[96];
    *data = NULL;
    *len = 0;
    int rc = locate(store, name, path, identity, err);
    if (rc != 0)
        return rc;
    snprintf(what, sizeof what, "checkpoint %s", name);
    return ed__store_file_read_unseal(store, path, identity, what, data, len, err);
}

int ed_store_checkpoint_delete(ed_store_t *store, const char *name, char err[ED_ERR_LEN])
{
    char path[PATH_MAX], identity[IDENTITY_LEN];
    int rc = ed__store_check_writable(store, err);
    if (rc != 0 || (rc = locate(store, name, path, identity, err)) != 0)
        return rc;
    if (unlink(path) != 0)
        return errno == ENOENT ? ed_errf(err, ED_ENOENT, "no checkpoint %s", name)
                               : ed_errf(err, ED_EIO, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int ed_store_checkpoints_foreach(ed_store_t *store, int (*fn)(const char *name, int64_t size, void *arg), void *arg,
                                 char err[ED_ERR_LEN])
{
    if (strlen(store->checkpoints_dir) >= PATH_MAX - 1)
        return ed_errf(err, ED_EINVAL, "state directory path too long");
    DIR *dir = opendir(store->checkpoints_dir);
    if (!dir)
        return errno == ENOENT ? 0 : ed_errf(err, ED_EIO, "cannot list %s: %s", store->checkpoints_dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        if (!name_valid(e->d_name) ||
            snprintf(path, sizeof path, "%s/%s", store->checkpoints_dir, e->d_name) >= (int)sizeof path ||
            stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (fn(e->d_name, (int64_t)st.st_size, arg) != 0)
            break;
    }
    closedir(dir);
    return 0;
}
