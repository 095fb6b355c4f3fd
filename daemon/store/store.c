/* store.c - the personal store's public API: glue over the record (db.c),
 * sealing (seal.c) and the atomic file protocol with its manifest (atomic.c,
 * manifest.c). Opens and closes the store, decides record identities for
 * sealing, rebuilds the lexical index at open, turns the store read-only
 * after a failed write, and keeps collections and sealed blobs. Documents and
 * chunks are in store_documents.c, lineage and adapters in store_adapters.c. */
#include "store/store_internal.h"

#include "core/log.h"
#include "store/atomic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DIM_MAX 65536

/* ---- helpers ---- */

int64_t ed__store_now_seconds(void)
{
    return (int64_t)time(NULL);
}

/* A write failed with rc: an I/O failure turns the store read-only for good. */
int ed__store_write_failed(ed_store_t *store, int rc, const char *err)
{
    if ((rc == ED_EIO || rc == ED_ENOSPC || rc == ED_ECORRUPT) && !store->read_only) {
        store->read_only = true;
        snprintf(store->read_only_why, sizeof store->read_only_why, "%s", err);
        ed_log_error("store: a write failed, the store is read-only from now on: %s", err);
    }
    return rc;
}

int ed__store_check_writable(const ed_store_t *store, char err[ED_ERR_LEN])
{
    if (!store->read_only)
        return 0;
    snprintf(err, ED_ERR_LEN, "the store is read-only since a write failed: %.900s", store->read_only_why);
    return ED_EREADONLY;
}

int ed__store_out_of_memory(char err[ED_ERR_LEN])
{
    snprintf(err, ED_ERR_LEN, "out of memory");
    return ED_ENOMEM;
}

/* Seals len bytes into a malloc'd out. */
int ed__store_seal_bytes(ed_store_t *store, const char *identity, const void *data, size_t len, ed_db_bytes_t *out,
                      char err[ED_ERR_LEN])
{
    out->len = ed_seal_size(len);
    out->data = malloc(out->len);
    if (!out->data)
        return ed__store_out_of_memory(err);
    int rc = ed_seal_seal(store->seal, identity, data, len, out->data);
    if (rc != 0) {
        free(out->data);
        out->data = NULL;
        snprintf(err, ED_ERR_LEN, "cannot seal %s", identity);
    }
    return rc;
}

/* Unseals a record into a malloc'd, NUL-terminated *out; a NULL column gives
 * NULL when nullable, else it is damage. */
int ed__store_unseal_string(ed_store_t *store, const char *identity, const ed_db_bytes_t *sealed, bool nullable,
                         char **out, size_t *out_len, char err[ED_ERR_LEN])
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!sealed->data) {
        if (nullable)
            return 0;
        snprintf(err, ED_ERR_LEN, "sealed record %s is missing", identity);
        return ED_ECORRUPT;
    }
    char *plain = malloc(sealed->len + 1);
    if (!plain)
        return ed__store_out_of_memory(err);
    size_t len = 0;
    int rc = ed_seal_unseal(store->seal, identity, sealed->data, sealed->len, (uint8_t *)plain, &len, err);
    if (rc != 0) {
        free(plain);
        return rc;
    }
    plain[len] = '\0';
    *out = plain;
    if (out_len)
        *out_len = len;
    return 0;
}

void ed__store_identity_doc(char out[IDENTITY_LEN], int64_t doc_id, const char *field)
{
    snprintf(out, IDENTITY_LEN, "doc:%lld:%s", (long long)doc_id, field);
}

void ed__store_identity_chunk(char out[IDENTITY_LEN], int64_t doc_id, int index, const char *field)
{
    snprintf(out, IDENTITY_LEN, "chunk:%lld:%d:%s", (long long)doc_id, index, field);
}

/* Writes STATE_DIR/index/NAME into path; false when it does not fit. */
static bool index_path(const ed_store_t *store, const char *name, char path[PATH_MAX])
{
    int n = snprintf(path, PATH_MAX, "%s/%s", store->index_dir, name);
    return n > 0 && n < PATH_MAX;
}

/* ---- open and close ---- */

typedef struct {
    ed_store_t *store;
    int64_t n_indexed, n_damaged;
    int rc;
    char *err;
    int64_t title_doc_id; /* whose title `title` is (chunks come in document order); 0: none yet */
    char *title;          /* unsealed; NULL when that document's title is damaged */
} rebuild_t;

/* Makes r->title the title of doc_id (the lexical index ranks it with each
 * chunk). A damaged title is logged and indexed as "". */
static int rebuild_title(rebuild_t *r, int64_t doc_id, char err[ED_ERR_LEN])
{
    if (r->title_doc_id == doc_id)
        return 0;
    free(r->title);
    r->title = NULL;
    r->title_doc_id = doc_id;
    ed_db_document_t row;
    int rc = ed_db_document_get(r->store->db, doc_id, false, &row, err);
    if (rc != 0)
        return rc;
    char identity[IDENTITY_LEN];
    ed__store_identity_doc(identity, doc_id, "title");
    rc = ed__store_unseal_string(r->store, identity, &row.title, false, &r->title, NULL, err);
    ed_db_document_free(&row);
    if (rc == ED_ECORRUPT) {
        ed_log_warn("store: %s; its chunks are indexed without it", err);
        return 0;
    }
    return rc;
}

static int rebuild_chunk(int64_t doc_id, int index, int64_t collection_id, const void *sealed, size_t len,
                         void *arg)
{
    rebuild_t *r = arg;
    char identity[IDENTITY_LEN], why[ED_ERR_LEN];
    ed__store_identity_chunk(identity, doc_id, index, "text");
    ed_db_bytes_t bytes = {(void *)sealed, len};
    char *text = NULL;
    size_t text_len = 0;
    int rc = ed__store_unseal_string(r->store, identity, &bytes, false, &text, &text_len, why);
    if (rc == ED_ECORRUPT) {
        /* Still reported, as ED_ECORRUPT, by whoever reads the chunk. */
        ed_log_warn("store: %s; left out of the lexical index", why);
        r->n_damaged++;
        return 0;
    }
    if (rc == 0)
        rc = rebuild_title(r, doc_id, why);
    if (rc == 0)
        rc = ed_db_lexical_add(r->store->db, ed_chunk_id(doc_id, index), collection_id, r->title ? r->title : "",
                               text, text_len, why);
    free(text);
    if (rc != 0) {
        snprintf(r->err, ED_ERR_LEN, "%s", why);
        r->rc = rc;
        return 1;
    }
    r->n_indexed++;
    return 0;
}

/* Fills the in-memory FTS5 table from the unsealed chunks. */
static int rebuild_lexical(ed_store_t *store, char err[ED_ERR_LEN])
{
    rebuild_t r = {.store = store, .err = err};
    int rc = ed_db_begin(store->db, err);
    if (rc != 0)
        return rc;
    rc = ed_db_chunks_foreach(store->db, 0, false, rebuild_chunk, &r, err);
    free(r.title);
    if (rc == 0)
        rc = r.rc;
    if (rc != 0) {
        ed_db_rollback(store->db);
        return rc;
    }
    if ((rc = ed_db_commit(store->db, err)) != 0)
        return rc;
    ed_log_info("store: lexical index rebuilt: %lld chunks%s", (long long)r.n_indexed,
                r.n_damaged ? " (some damaged chunks left out)" : "");
    return 0;
}


/* Unwraps the data key stored in the db, or makes one on first open. */
static int data_key_setup(ed_store_t *store, const uint8_t kek[ED_SEAL_KEY_LEN], char err[ED_ERR_LEN])
{
    ed_db_bytes_t wrapped = {0};
    int rc = ed_db_meta_get(store->db, "data_key", &wrapped, err);
    if (rc == ED_ENOENT) {
        uint8_t fresh[ED_SEAL_KEY_LEN + ED_SEAL_OVERHEAD];
        if ((rc = ed_seal_key_create(store->seal, kek, fresh, err)) != 0)
            return rc;
        return ed_db_meta_set(store->db, "data_key", fresh, sizeof fresh, err);
    }
    if (rc != 0)
        return rc;
    rc = ed_seal_key_unwrap(store->seal, kek, wrapped.data, wrapped.len, err);
    free(wrapped.data);
    return rc;
}

/* Where the key-encryption key comes from, in order of preference. */
static int key_path(const char *state_dir, const char *key_file, char path[PATH_MAX], bool *create)
{
    const char *credentials = getenv("CREDENTIALS_DIRECTORY");
    *create = false;
    if (credentials && *credentials) {
        if ((size_t)snprintf(path, PATH_MAX, "%s/edged-key", credentials) >= PATH_MAX)
            return ED_EINVAL;
        if (access(path, F_OK) == 0)
            return 0;
    }
    *create = true;
    int n = key_file && *key_file ? snprintf(path, PATH_MAX, "%s", key_file)
                                  : snprintf(path, PATH_MAX, "%s/key", state_dir);
    return n < 0 || n >= PATH_MAX ? ED_EINVAL : 0;
}

static int store_open(ed_store_t **out, const char *state_dir, const char *key_file, bool adapters_only,
                      char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_store_t *store = calloc(1, sizeof *store);
    if (!store)
        return ed__store_out_of_memory(err);
    store->adapters_only = adapters_only;
    int rc;
    char db_path[PATH_MAX], kek_path[PATH_MAX];
    uint8_t kek[ED_SEAL_KEY_LEN];
    bool create_key;
    if (snprintf(store->index_dir, PATH_MAX, "%s/index", state_dir) >= PATH_MAX - ED_MANIFEST_NAME_MAX ||
        snprintf(db_path, PATH_MAX, "%s/edged.db", state_dir) >= PATH_MAX ||
        snprintf(store->adapters_dir, PATH_MAX, "%s/adapters", state_dir) >= PATH_MAX - 64 ||
        key_path(state_dir, key_file, kek_path, &create_key) != 0) {
        snprintf(err, ED_ERR_LEN, "state directory or key file path too long: %s", state_dir);
        rc = ED_EINVAL;
        goto fail;
    }
    /* a path too long for checkpoints is refused when one is saved (store_checkpoints.c) */
    snprintf(store->checkpoints_dir, PATH_MAX, "%s/checkpoints", state_dir);
    if (!index_path(store, "MANIFEST", store->manifest_path)) {
        snprintf(err, ED_ERR_LEN, "state directory path too long: %s", state_dir);
        rc = ED_EINVAL;
        goto fail;
    }
    if ((rc = ed_atomic_mkdir(state_dir, err)) != 0 || (rc = ed_atomic_mkdir(store->index_dir, err)) != 0 ||
        (rc = ed_seal_open(&store->seal, err)) != 0)
        goto fail;
    rc = ed_seal_kek_load(store->seal, kek_path, create_key, kek, err);
    if (rc == 0) {
        if ((rc = ed_db_open(&store->db, db_path, err)) == 0)
            rc = data_key_setup(store, kek, err);
        memset(kek, 0, sizeof kek);
    }
    if (rc == 0 && adapters_only) {
        if ((rc = ed_atomic_mkdir(store->adapters_dir, err)) != 0)
            goto fail;
        ed_atomic_clean(store->adapters_dir);
        *out = store;
        return 0;
    }
    if (rc != 0 || (rc = ed_db_generation(store->db, 0, &store->generation, err)) != 0 ||
        (rc = ed__store_digest_older_documents(store, err)) != 0 || (rc = rebuild_lexical(store, err)) != 0)
        goto fail;
    rc = ed_manifest_load(&store->manifest, store->manifest_path, store->manifest_why);
    if (rc == ED_ECORRUPT) {
        store->manifest_corrupt = true;
        ed_log_warn("store: %s; index files will be rebuilt", store->manifest_why);
    } else if (rc != 0) {
        snprintf(err, ED_ERR_LEN, "%s", store->manifest_why);
        goto fail;
    }
    ed_atomic_clean(store->index_dir);
    *out = store;
    return 0;
fail:
    ed_store_close(store);
    return rc;
}

int ed_store_open(ed_store_t **out, const char *state_dir, const char *key_file, char err[ED_ERR_LEN])
{
    return store_open(out, state_dir, key_file, false, err);
}

int ed_store_open_adapters(ed_store_t **out, const char *state_dir, const char *key_file, char err[ED_ERR_LEN])
{
    return store_open(out, state_dir, key_file, true, err);
}

void ed_store_close(ed_store_t *store)
{
    if (!store)
        return;
    ed_db_close(store->db);
    ed_seal_close(store->seal);
    ed_manifest_free(&store->manifest);
    free(store);
}

bool ed_store_read_only(const ed_store_t *store, const char **why)
{
    if (why)
        *why = store->read_only ? store->read_only_why : NULL;
    return store->read_only;
}

int ed_store_collection_generation(ed_store_t *store, int64_t id, int64_t *out, char err[ED_ERR_LEN])
{
    return ed_db_generation(store->db, id, out, err);
}

int64_t ed_store_generation(const ed_store_t *store)
{
    return store->generation;
}

/* ---- collections ---- */

int ed_store_collection_get(ed_store_t *store, const char *name, ed_collection_t *out, char err[ED_ERR_LEN])
{
    return ed_db_collection_get(store->db, name, 0, out, err);
}

int ed_store_collection_by_id(ed_store_t *store, int64_t id, ed_collection_t *out, char err[ED_ERR_LEN])
{
    return ed_db_collection_get(store->db, NULL, id, out, err);
}

int ed__store_check_embedder(const char *embedder, int dim, char err[ED_ERR_LEN])
{
    if (!embedder || !*embedder || strlen(embedder) >= sizeof((ed_collection_t *)0)->embedder) {
        snprintf(err, ED_ERR_LEN, "an embedder name must be 1 to 63 bytes");
        return ED_EINVAL;
    }
    if (dim <= 0 || dim > DIM_MAX) {
        snprintf(err, ED_ERR_LEN, "vector width %d is outside 1..%d", dim, DIM_MAX);
        return ED_EINVAL;
    }
    return 0;
}

int ed_store_collection_create(ed_store_t *store, const char *name, uint32_t owner_uid, const char *embedder,
                               int dim, ed_collection_t *out, char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0)
        return rc;
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len >= ED_STORE_NAME_MAX) {
        snprintf(err, ED_ERR_LEN, "a collection name must be 1 to %d bytes", ED_STORE_NAME_MAX - 1);
        return ED_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
            snprintf(err, ED_ERR_LEN, "a collection name must not hold control characters");
            return ED_EINVAL;
        }
    }
    if ((rc = ed__store_check_embedder(embedder, dim, err)) != 0)
        return rc;
    int64_t id = 0;
    rc = ed_db_collection_create(store->db, name, owner_uid, embedder, dim, ed__store_now_seconds(), &id, err);
    if (rc != 0)
        return ed__store_write_failed(store, rc, err);
    return out ? ed_store_collection_by_id(store, id, out, err) : 0;
}

int ed_store_collection_set_allow(ed_store_t *store, int64_t id, const char *allow, char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0)
        return rc;
    if (!allow || strlen(allow) >= sizeof((ed_collection_t *)0)->allow) {
        snprintf(err, ED_ERR_LEN, "an allow list must be under 512 bytes");
        return ED_EINVAL;
    }
    rc = ed_db_collection_set_allow(store->db, id, allow, err);
    return rc != 0 ? ed__store_write_failed(store, rc, err) : 0;
}

int ed_store_collection_set_embedder(ed_store_t *store, int64_t id, const char *embedder, int dim,
                                     char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0 || (rc = ed__store_check_embedder(embedder, dim, err)) != 0)
        return rc;
    rc = ed_db_collection_set_embedder(store->db, id, embedder, dim, err);
    return rc != 0 ? ed__store_write_failed(store, rc, err) : 0;
}

int ed_store_collection_revector(ed_store_t *store, int64_t id, const char *embedder, int dim,
                                 const int64_t *chunk_ids, const float *vectors, int64_t n, char err[ED_ERR_LEN])
{
    ed_collection_t c;
    int rc = ed__store_check_writable(store, err);
    if (rc != 0 || (rc = ed__store_check_embedder(embedder, dim, err)) != 0 ||
        (rc = ed_store_collection_by_id(store, id, &c, err)) != 0)
        return rc;
    if (n != c.n_chunks) {
        snprintf(err, ED_ERR_LEN, "collection \"%s\" has %lld chunks; %lld vectors were given", c.name,
                 (long long)c.n_chunks, (long long)n);
        return ED_EINVAL;
    }
    if ((rc = ed_db_begin(store->db, err)) != 0)
        return ed__store_write_failed(store, rc, err);
    char identity[IDENTITY_LEN];
    for (int64_t i = 0; i < n && rc == 0; i++) {
        int64_t doc_id = chunk_ids[i] / ED_STORE_MAX_CHUNKS_PER_DOC;
        int index = (int)(chunk_ids[i] % ED_STORE_MAX_CHUNKS_PER_DOC);
        ed_db_bytes_t sealed = {0};
        ed__store_identity_chunk(identity, doc_id, index, "vec");
        rc = ed__store_seal_bytes(store, identity, vectors + i * dim, (size_t)dim * sizeof(float), &sealed, err);
        if (rc == 0)
            rc = ed_db_chunk_set_vector(store->db, doc_id, index, &sealed, err);
        free(sealed.data);
    }
    int64_t generation = 0, ignored;
    if (rc == 0 && (rc = ed_db_reembed_clear(store->db, id, err)) == 0 &&
        (rc = ed_db_collection_set_embedder(store->db, id, embedder, dim, err)) == 0 &&
        (rc = ed_db_generation_bump(store->db, id, &ignored, err)) == 0 &&
        (rc = ed_db_generation_bump(store->db, 0, &generation, err)) == 0 && (rc = ed_db_commit(store->db, err)) == 0) {
        store->generation = generation;
        return 0;
    }
    ed_db_rollback(store->db);
    return rc == ED_ENOENT ? rc : ed__store_write_failed(store, rc, err);
}

int ed_store_collections_foreach(ed_store_t *store, int (*fn)(const ed_collection_t *c, void *arg), void *arg,
                                 char err[ED_ERR_LEN])
{
    return ed_db_collections_foreach(store->db, fn, arg, err);
}

/* ---- sealed blobs ---- */

/* A blob name is one plain file name under index/. */
static int check_blob_name(const char *name, char err[ED_ERR_LEN])
{
    size_t len = name ? strlen(name) : 0;
    bool ok = len > 0 && len < ED_MANIFEST_NAME_MAX && name[0] != '.' && strcmp(name, "MANIFEST") != 0 &&
              !(len > 4 && strcmp(name + len - 4, ".tmp") == 0);
    for (size_t i = 0; ok && i < len; i++) {
        char ch = name[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
             ch == '_' || ch == '-';
    }
    if (ok)
        return 0;
    snprintf(err, ED_ERR_LEN, "bad blob name \"%s\": letters, digits, '.', '_' and '-' only", name ? name : "");
    return ED_EINVAL;
}

static void identity_blob(char out[IDENTITY_LEN], const char *name, int64_t generation)
{
    snprintf(out, IDENTITY_LEN, "blob:index/%s:%lld", name, (long long)generation);
}

int ed_store_blob_save(ed_store_t *store, const char *name, const void *data, size_t len, int64_t generation,
                       char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0 || (rc = check_blob_name(name, err)) != 0)
        return rc;
    if (len > SIZE_MAX - ED_SEAL_OVERHEAD || (!data && len)) {
        snprintf(err, ED_ERR_LEN, "blob %s: bad data", name);
        return ED_EINVAL;
    }
    char identity[IDENTITY_LEN], path[PATH_MAX];
    identity_blob(identity, name, generation);
    if (!index_path(store, name, path)) {
        snprintf(err, ED_ERR_LEN, "blob %s: path too long", name);
        return ED_EINVAL;
    }
    ed_db_bytes_t sealed = {0};
    if ((rc = ed__store_seal_bytes(store, identity, len ? data : "", len, &sealed, err)) != 0)
        return rc;
    ed_manifest_entry_t entry = {.size = (int64_t)sealed.len, .generation = generation};
    snprintf(entry.name, sizeof entry.name, "%s", name);
    ed_seal_sha256_hex(sealed.data, sealed.len, entry.sha256);
    rc = ed_atomic_write(path, sealed.data, sealed.len, 0600, err);
    free(sealed.data);
    if (rc != 0)
        return ed__store_write_failed(store, rc, err);
    if (store->manifest_corrupt) {
        /* Entries of a corrupt manifest are unknown: start a fresh one. */
        ed_manifest_free(&store->manifest);
        store->manifest_corrupt = false;
    }
    if (ed_manifest_set(&store->manifest, &entry) != 0)
        return ed__store_out_of_memory(err);
    rc = ed_manifest_save(&store->manifest, store->manifest_path, err);
    return rc != 0 ? ed__store_write_failed(store, rc, err) : 0;
}

int ed_store_blob_load(ed_store_t *store, const char *name, void **data, size_t *len, int64_t *generation,
                       char err[ED_ERR_LEN])
{
    *data = NULL;
    *len = 0;
    *generation = 0;
    int rc = check_blob_name(name, err);
    if (rc != 0)
        return rc;
    if (store->manifest_corrupt) {
        snprintf(err, ED_ERR_LEN, "%s", store->manifest_why);
        return ED_ECORRUPT;
    }
    const ed_manifest_entry_t *entry = ed_manifest_find(&store->manifest, name);
    if (!entry) {
        snprintf(err, ED_ERR_LEN, "index/%s is not in the manifest", name);
        return ED_ENOENT;
    }
    char path[PATH_MAX], identity[IDENTITY_LEN], sha[65];
    if (!index_path(store, name, path)) {
        snprintf(err, ED_ERR_LEN, "blob %s: path too long", name);
        return ED_EINVAL;
    }
    void *sealed = NULL;
    size_t sealed_len = 0;
    rc = ed_atomic_read(path, &sealed, &sealed_len, err);
    if (rc == ED_ENOENT)
        snprintf(err, ED_ERR_LEN, "index/%s is named in the manifest but missing", name);
    if (rc != 0)
        return rc;
    ed_seal_sha256_hex(sealed, sealed_len, sha);
    if ((int64_t)sealed_len != entry->size || strcmp(sha, entry->sha256) != 0) {
        snprintf(err, ED_ERR_LEN, "index/%s does not match the manifest (%zu bytes, %lld expected%s)", name,
                 sealed_len, (long long)entry->size,
                 (int64_t)sealed_len == entry->size ? "; checksum differs" : "");
        free(sealed);
        return ED_ECORRUPT;
    }
    identity_blob(identity, name, entry->generation);
    uint8_t *plain = malloc(sealed_len + 1);
    if (!plain) {
        free(sealed);
        return ed__store_out_of_memory(err);
    }
    rc = ed_seal_unseal(store->seal, identity, sealed, sealed_len, plain, len, err);
    free(sealed);
    if (rc != 0) {
        free(plain);
        *len = 0;
        return rc;
    }
    *data = plain;
    *generation = entry->generation;
    return 0;
}
