/* store_adapters.c - the store's adapter registry: lineage (the documents an
 * adapter was trained on), adapter records, their sealed GGUF files under
 * STATE_DIR/adapters, and the active adapter. Part of the store (store.c). */
#include "store/store_internal.h"

#include "store/atomic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADAPTER_ID_MAX 128

/* ---- lineage ---- */

static int check_adapter_id(const char *adapter_id, char err[ED_ERR_LEN])
{
    if (!adapter_id || !*adapter_id || strlen(adapter_id) >= ADAPTER_ID_MAX) {
        snprintf(err, ED_ERR_LEN, "an adapter id must be 1 to %d bytes", ADAPTER_ID_MAX - 1);
        return ED_EINVAL;
    }
    return 0;
}

int ed_store_lineage_add(ed_store_t *store, const char *adapter_id, int64_t doc_id, char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0 || (rc = check_adapter_id(adapter_id, err)) != 0)
        return rc;
    ed_db_document_t row;
    if ((rc = ed_db_document_get(store->db, doc_id, false, &row, err)) != 0)
        return rc;
    ed_db_document_free(&row);
    rc = ed_db_lineage_add(store->db, adapter_id, doc_id, err);
    return rc != 0 ? ed__store_write_failed(store, rc, err) : 0;
}

int ed_store_adapter_stale(ed_store_t *store, const char *adapter_id, bool *stale, char err[ED_ERR_LEN])
{
    *stale = false;
    int rc = check_adapter_id(adapter_id, err);
    return rc != 0 ? rc : ed_db_adapter_stale(store->db, adapter_id, stale, err);
}

/* ---- adapters ---- */

static bool adapter_id_valid(const char *id)
{
    if (strncmp(id, "ad-", 3) != 0 || strlen(id) != 15)
        return false;
    for (const char *c = id + 3; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

static int adapter_path(const ed_store_t *store, const char *id, char path[PATH_MAX], char err[ED_ERR_LEN])
{
    if (!adapter_id_valid(id)) {
        snprintf(err, ED_ERR_LEN, "no adapter %.40s", id);
        return ED_ENOENT;
    }
    int n = snprintf(path, PATH_MAX, "%s/%.15s", store->adapters_dir, id);
    return n > 0 && n < PATH_MAX ? 0 : ed_errf(err, ED_EINVAL, "state directory path too long");
}

int ed_store_adapter_add(ed_store_t *store, ed_adapter_row_t *row, const void *gguf, size_t len,
                         char err[ED_ERR_LEN])
{
    if (store->read_only)
        return ed_errf(err, ED_EREADONLY, "the store is read-only: %s", store->read_only_why);
    uint8_t random[6];
    if (ed_seal_random(store->seal, random, sizeof random) != 0)
        return ed_errf(err, ED_EIO, "no random bytes for an adapter id");
    int n = snprintf(row->id, sizeof row->id, "ad-");
    for (size_t i = 0; i < sizeof random; i++)
        n += snprintf(row->id + n, sizeof row->id - (size_t)n, "%02x", random[i]);
    row->size = (int64_t)len;
    row->created = ed__store_now_seconds();
    char identity[48], path[PATH_MAX];
    snprintf(identity, sizeof identity, "adapter:%s", row->id);
    int rc = adapter_path(store, row->id, path, err);
    if (rc != 0)
        return rc;
    uint8_t *sealed = malloc(ed_seal_size(len));
    if (!sealed)
        return ed__store_out_of_memory(err);
    rc = ed_seal_seal(store->seal, identity, gguf, len, sealed);
    if (rc == 0)
        rc = ed_atomic_write(path, sealed, ed_seal_size(len), 0600, err);
    free(sealed);
    if (rc != 0)
        return ed__store_write_failed(store, rc, err);
    if ((rc = ed_db_begin(store->db, err)) != 0)
        goto fail;
    if ((rc = ed_db_adapter_next_version(store->db, row->name, &row->version, err)) != 0 ||
        (rc = ed_db_adapter_insert(store->db, row, err)) != 0) {
        ed_db_rollback(store->db);
        goto fail;
    }
    if ((rc = ed_db_commit(store->db, err)) != 0)
        goto fail;
    return 0;
fail:
    unlink(path);
    return rc == ED_EIO ? ed__store_write_failed(store, rc, err) : rc;
}

int ed_store_adapters_list(ed_store_t *store, ed_adapter_row_t **rows, int *n, char err[ED_ERR_LEN])
{
    return ed_db_adapters_list(store->db, rows, n, err);
}

int ed_store_adapter_read(ed_store_t *store, const char *id, void **data, size_t *len, char err[ED_ERR_LEN])
{
    *data = NULL;
    *len = 0;
    char path[PATH_MAX], identity[48];
    int rc = adapter_path(store, id, path, err);
    void *sealed = NULL;
    size_t sealed_len = 0;
    if (rc != 0 || (rc = ed_atomic_read(path, &sealed, &sealed_len, err)) != 0)
        return rc;
    uint8_t *plain = sealed_len >= ED_SEAL_OVERHEAD ? malloc(sealed_len - ED_SEAL_OVERHEAD + 1) : NULL;
    if (!plain) {
        free(sealed);
        return sealed_len < ED_SEAL_OVERHEAD ? ed_errf(err, ED_ECORRUPT, "adapter %s: file too short", id)
                                             : ed__store_out_of_memory(err);
    }
    snprintf(identity, sizeof identity, "adapter:%s", id);
    rc = ed_seal_unseal(store->seal, identity, sealed, sealed_len, plain, len, err);
    free(sealed);
    if (rc != 0) {
        free(plain);
        *len = 0;
        return rc;
    }
    *data = plain;
    return 0;
}

int ed_store_adapter_delete(ed_store_t *store, const char *id, char err[ED_ERR_LEN])
{
    if (store->read_only)
        return ed_errf(err, ED_EREADONLY, "the store is read-only: %s", store->read_only_why);
    char path[PATH_MAX], active[32];
    int rc = adapter_path(store, id, path, err);
    if (rc != 0 || (rc = ed_store_adapter_get_active(store, active, err)) != 0)
        return rc;
    if ((rc = ed_db_begin(store->db, err)) != 0)
        return rc;
    if ((rc = ed_db_adapter_delete(store->db, id, err)) != 0 ||
        (strcmp(active, id) == 0 && (rc = ed_db_meta_set(store->db, "active_adapter", "", 0, err)) != 0)) {
        ed_db_rollback(store->db);
        return rc;
    }
    if ((rc = ed_db_commit(store->db, err)) != 0)
        return ed__store_write_failed(store, rc, err);
    /* the row is gone: the file is an orphan now, whatever unlink says */
    unlink(path);
    return 0;
}

int ed_store_adapter_get_active(ed_store_t *store, char id[32], char err[ED_ERR_LEN])
{
    ed_db_bytes_t value = {0};
    id[0] = '\0';
    int rc = ed_db_meta_get(store->db, "active_adapter", &value, err);
    if (rc == ED_ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    if (value.len < 32) {
        memcpy(id, value.data, value.len);
        id[value.len] = '\0';
    }
    free(value.data);
    return 0;
}

int ed_store_adapter_set_active(ed_store_t *store, const char *id, char err[ED_ERR_LEN])
{
    if (store->read_only)
        return ed_errf(err, ED_EREADONLY, "the store is read-only: %s", store->read_only_why);
    int rc = ed_db_meta_set(store->db, "active_adapter", id, strlen(id), err);
    return rc == ED_EIO ? ed__store_write_failed(store, rc, err) : rc;
}
