/* store.c - the personal store's public API: glue over the record (db.c),
 * sealing (seal.c) and the atomic file protocol with its manifest (atomic.c,
 * manifest.c). Decides record identities for sealing, rebuilds the lexical
 * index at open, and turns the store read-only after a failed write. */
#include "store/store.h"

#include "core/log.h"
#include "store/atomic.h"
#include "store/db.h"
#include "store/manifest.h"
#include "store/seal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IDENTITY_LEN 192 /* bytes of a record identity ("chunk:42:3:text") */
#define ADAPTER_ID_MAX 128
#define DIM_MAX 65536

struct ed_store {
    char index_dir[PATH_MAX];     /* STATE_DIR/index */
    char adapters_dir[PATH_MAX];  /* STATE_DIR/adapters */
    bool adapters_only;           /* ed_store_open_adapters: the record and the key, nothing else */
    char manifest_path[PATH_MAX]; /* STATE_DIR/index/MANIFEST */
    ed_db_t *db;
    ed_seal_t *seal;
    ed_manifest_t manifest;          /* as on disk */
    bool manifest_corrupt;           /* manifest_why says how; saving a blob writes a fresh one */
    char manifest_why[ED_ERR_LEN];
    int64_t generation;              /* committed */
    bool read_only;                  /* a write failed; read_only_why says which */
    char read_only_why[ED_ERR_LEN];
};

/* ---- helpers ---- */

static int64_t now_seconds(void)
{
    return (int64_t)time(NULL);
}

/* A write failed with rc: an I/O failure turns the store read-only for good. */
static int write_failed(ed_store_t *store, int rc, const char *err)
{
    if ((rc == ED_EIO || rc == ED_ENOSPC || rc == ED_ECORRUPT) && !store->read_only) {
        store->read_only = true;
        snprintf(store->read_only_why, sizeof store->read_only_why, "%s", err);
        ed_log_error("store: a write failed, the store is read-only from now on: %s", err);
    }
    return rc;
}

static int check_writable(const ed_store_t *store, char err[ED_ERR_LEN])
{
    if (!store->read_only)
        return 0;
    snprintf(err, ED_ERR_LEN, "the store is read-only since a write failed: %.900s", store->read_only_why);
    return ED_EREADONLY;
}

static int out_of_memory(char err[ED_ERR_LEN])
{
    snprintf(err, ED_ERR_LEN, "out of memory");
    return ED_ENOMEM;
}

/* Seals len bytes into a malloc'd out. */
static int seal_bytes(ed_store_t *store, const char *identity, const void *data, size_t len, ed_db_bytes_t *out,
                      char err[ED_ERR_LEN])
{
    out->len = ed_seal_size(len);
    out->data = malloc(out->len);
    if (!out->data)
        return out_of_memory(err);
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
static int unseal_string(ed_store_t *store, const char *identity, const ed_db_bytes_t *sealed, bool nullable,
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
        return out_of_memory(err);
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

static void identity_doc(char out[IDENTITY_LEN], int64_t doc_id, const char *field)
{
    snprintf(out, IDENTITY_LEN, "doc:%lld:%s", (long long)doc_id, field);
}

static void identity_chunk(char out[IDENTITY_LEN], int64_t doc_id, int index, const char *field)
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
    identity_doc(identity, doc_id, "title");
    rc = unseal_string(r->store, identity, &row.title, false, &r->title, NULL, err);
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
    identity_chunk(identity, doc_id, index, "text");
    ed_db_bytes_t bytes = {(void *)sealed, len};
    char *text = NULL;
    size_t text_len = 0;
    int rc = unseal_string(r->store, identity, &bytes, false, &text, &text_len, why);
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

static int digest_older_documents(ed_store_t *store, char err[ED_ERR_LEN]);

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
        return out_of_memory(err);
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
        (rc = digest_older_documents(store, err)) != 0 || (rc = rebuild_lexical(store, err)) != 0)
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

static int check_embedder(const char *embedder, int dim, char err[ED_ERR_LEN])
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
    int rc = check_writable(store, err);
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
    if ((rc = check_embedder(embedder, dim, err)) != 0)
        return rc;
    int64_t id = 0;
    rc = ed_db_collection_create(store->db, name, owner_uid, embedder, dim, now_seconds(), &id, err);
    if (rc != 0)
        return write_failed(store, rc, err);
    return out ? ed_store_collection_by_id(store, id, out, err) : 0;
}

int ed_store_collection_set_allow(ed_store_t *store, int64_t id, const char *allow, char err[ED_ERR_LEN])
{
    int rc = check_writable(store, err);
    if (rc != 0)
        return rc;
    if (!allow || strlen(allow) >= sizeof((ed_collection_t *)0)->allow) {
        snprintf(err, ED_ERR_LEN, "an allow list must be under 512 bytes");
        return ED_EINVAL;
    }
    rc = ed_db_collection_set_allow(store->db, id, allow, err);
    return rc != 0 ? write_failed(store, rc, err) : 0;
}

int ed_store_collection_set_embedder(ed_store_t *store, int64_t id, const char *embedder, int dim,
                                     char err[ED_ERR_LEN])
{
    int rc = check_writable(store, err);
    if (rc != 0 || (rc = check_embedder(embedder, dim, err)) != 0)
        return rc;
    rc = ed_db_collection_set_embedder(store->db, id, embedder, dim, err);
    return rc != 0 ? write_failed(store, rc, err) : 0;
}

int ed_store_collection_revector(ed_store_t *store, int64_t id, const char *embedder, int dim,
                                 const int64_t *chunk_ids, const float *vectors, int64_t n, char err[ED_ERR_LEN])
{
    ed_collection_t c;
    int rc = check_writable(store, err);
    if (rc != 0 || (rc = check_embedder(embedder, dim, err)) != 0 ||
        (rc = ed_store_collection_by_id(store, id, &c, err)) != 0)
        return rc;
    if (n != c.n_chunks) {
        snprintf(err, ED_ERR_LEN, "collection \"%s\" has %lld chunks; %lld vectors were given", c.name,
                 (long long)c.n_chunks, (long long)n);
        return ED_EINVAL;
    }
    if ((rc = ed_db_begin(store->db, err)) != 0)
        return write_failed(store, rc, err);
    char identity[IDENTITY_LEN];
    for (int64_t i = 0; i < n && rc == 0; i++) {
        int64_t doc_id = chunk_ids[i] / ED_STORE_MAX_CHUNKS_PER_DOC;
        int index = (int)(chunk_ids[i] % ED_STORE_MAX_CHUNKS_PER_DOC);
        ed_db_bytes_t sealed = {0};
        identity_chunk(identity, doc_id, index, "vec");
        rc = seal_bytes(store, identity, vectors + i * dim, (size_t)dim * sizeof(float), &sealed, err);
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
    return rc == ED_ENOENT ? rc : write_failed(store, rc, err);
}

int ed_store_collections_foreach(ed_store_t *store, int (*fn)(const ed_collection_t *c, void *arg), void *arg,
                                 char err[ED_ERR_LEN])
{
    return ed_db_collections_foreach(store->db, fn, arg, err);
}

/* ---- documents and chunks ---- */

static int check_document(const ed_document_in_t *doc, char err[ED_ERR_LEN])
{
    if (!doc->title || !doc->source || (!doc->text && doc->text_len)) {
        snprintf(err, ED_ERR_LEN, "a document needs a title, a source and its text (\"\" allowed)");
        return ED_EINVAL;
    }
    if (strlen(doc->source) > ED_STORE_SOURCE_MAX) {
        snprintf(err, ED_ERR_LEN, "source: %zu bytes, at most %d", strlen(doc->source), ED_STORE_SOURCE_MAX);
        return ED_EINVAL;
    }
    if (doc->n_chunks < 0 || doc->n_chunks > ED_STORE_MAX_CHUNKS_PER_DOC || (doc->n_chunks && !doc->chunks)) {
        snprintf(err, ED_ERR_LEN, "a document has 0 to %d chunks, not %d", ED_STORE_MAX_CHUNKS_PER_DOC,
                 doc->n_chunks);
        return ED_EINVAL;
    }
    for (int i = 0; i < doc->n_chunks; i++) {
        const ed_chunk_in_t *c = &doc->chunks[i];
        if (c->offset > doc->text_len || c->len > doc->text_len - c->offset || !c->vector ||
            c->context_offset > doc->text_len || c->context_len > doc->text_len - c->context_offset) {
            snprintf(err, ED_ERR_LEN,
                     "chunk %d (bytes %zu+%zu, context %zu+%zu) lies outside the text (%zu bytes) or has no vector",
                     i, c->offset, c->len, c->context_offset, c->context_len, doc->text_len);
            return ED_EINVAL;
        }
    }
    return 0;
}

_Static_assert(ED_DB_KEY_LEN == ED_SEAL_MAC_LEN, "a source key or content digest is one ed_seal_mac");

/* Domains of the keyed digests (ed_seal_mac). */
static const char MAC_SOURCE[] = "document source v1";
static const char MAC_CONTENT[] = "document content v1";

/* The keyed digest a document's source is found by. */
static int source_key(ed_store_t *store, const char *source, uint8_t out[ED_DB_KEY_LEN], char err[ED_ERR_LEN])
{
    ed_seal_part_t part = {source, strlen(source)};
    int rc = ed_seal_mac(store->seal, MAC_SOURCE, &part, 1, out);
    if (rc != 0)
        snprintf(err, ED_ERR_LEN, "cannot digest a document's source");
    return rc;
}

/* The keyed digest of what a document holds: title, metadata (absent and ""
 * differ) and text. Two documents with the same digest store the same. */
static int content_mac(ed_store_t *store, const char *title, const char *metadata_json, const char *text,
                       size_t text_len, uint8_t out[ED_DB_KEY_LEN], char err[ED_ERR_LEN])
{
    ed_seal_part_t parts[4] = {
        {title, strlen(title)},
        {metadata_json ? "1" : "0", 1},
        {metadata_json ? metadata_json : "", metadata_json ? strlen(metadata_json) : 0},
        {text_len ? text : "", text_len},
    };
    int rc = ed_seal_mac(store->seal, MAC_CONTENT, parts, 4, out);
    if (rc != 0)
        snprintf(err, ED_ERR_LEN, "cannot digest a document's content");
    return rc;
}

/* Seals and records one document's fields and chunks inside the open
 * transaction; its row (id) exists and holds no chunk. */
static int document_write(ed_store_t *store, const ed_document_in_t *doc, const ed_collection_t *c,
                          int64_t id, char err[ED_ERR_LEN])
{
    int rc = 0;
    char identity[IDENTITY_LEN];
    ed_db_bytes_t title = {0}, source = {0}, metadata = {0}, text = {0};
    identity_doc(identity, id, "title");
    if ((rc = seal_bytes(store, identity, doc->title, strlen(doc->title), &title, err)) != 0)
        goto done;
    identity_doc(identity, id, "source");
    if ((rc = seal_bytes(store, identity, doc->source, strlen(doc->source), &source, err)) != 0)
        goto done;
    identity_doc(identity, id, "metadata");
    if (doc->metadata_json &&
        (rc = seal_bytes(store, identity, doc->metadata_json, strlen(doc->metadata_json), &metadata, err)) != 0)
        goto done;
    identity_doc(identity, id, "text");
    if ((rc = seal_bytes(store, identity, doc->text ? doc->text : "", doc->text_len, &text, err)) != 0 ||
        (rc = ed_db_document_seal(store->db, id, &title, &source, &metadata, &text, err)) != 0)
        goto done;
    for (int i = 0; i < doc->n_chunks && rc == 0; i++) {
        const ed_chunk_in_t *chunk = &doc->chunks[i];
        const char *chunk_text = doc->text ? doc->text + chunk->offset : "";
        ed_db_bytes_t sealed_text = {0}, sealed_vector = {0};
        identity_chunk(identity, id, i, "text");
        rc = seal_bytes(store, identity, chunk_text, chunk->len, &sealed_text, err);
        identity_chunk(identity, id, i, "vec");
        if (rc == 0)
            rc = seal_bytes(store, identity, chunk->vector, (size_t)c->dim * sizeof(float), &sealed_vector, err);
        if (rc == 0)
            rc = ed_db_chunk_insert(store->db, id, i, c->id, chunk->offset, chunk->len, chunk->n_tokens,
                                    chunk->context_offset, chunk->context_len, &sealed_text, &sealed_vector, err);
        if (rc == 0)
            rc = ed_db_lexical_add(store->db, ed_chunk_id(id, i), c->id, doc->title ? doc->title : "", chunk_text,
                                   chunk->len, err);
        free(sealed_text.data);
        free(sealed_vector.data);
    }
done:
    free(title.data);
    free(source.data);
    free(metadata.data);
    free(text.data);
    return rc;
}

/* The digests of a document and what its source holds now: 0 with *match
 * (found), ED_ENOENT (no source, or none of the collection's documents has
 * it), or another error. key and mac receive the digests (key only with a
 * source). */
static int document_find(ed_store_t *store, const ed_document_in_t *doc, uint8_t key[ED_DB_KEY_LEN],
                         uint8_t mac[ED_DB_KEY_LEN], ed_db_source_match_t *match, char err[ED_ERR_LEN])
{
    int rc = content_mac(store, doc->title, doc->metadata_json, doc->text, doc->text_len, mac, err);
    if (rc != 0)
        return rc;
    if (!doc->source[0]) {
        snprintf(err, ED_ERR_LEN, "the document has no source");
        return ED_ENOENT;
    }
    if ((rc = source_key(store, doc->source, key, err)) != 0)
        return rc;
    return ed_db_document_by_source(store->db, doc->collection_id, key, match, err);
}

/* What storing doc would do, given what its source holds (match). */
static void document_outcome(const ed_document_in_t *doc, const ed_db_source_match_t *match,
                             const uint8_t mac[ED_DB_KEY_LEN], ed_document_put_t *out)
{
    bool same = match->has_content_mac && memcmp(match->content_mac, mac, ED_DB_KEY_LEN) == 0;
    *out = (ed_document_put_t){.id = match->id, .version = match->version, .n_chunks = match->n_chunks,
                               .n_tokens = match->n_tokens,
                               .outcome = same && !doc->force ? ED_DOCUMENT_UNCHANGED : ED_DOCUMENT_REPLACED};
}

int ed_store_document_match(ed_store_t *store, const ed_document_in_t *doc, ed_document_put_t *out,
                            char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    uint8_t key[ED_DB_KEY_LEN], mac[ED_DB_KEY_LEN];
    ed_db_source_match_t match;
    int rc = check_document(doc, err);
    if (rc == 0 && (rc = document_find(store, doc, key, mac, &match, err)) == 0)
        document_outcome(doc, &match, mac, out);
    return rc;
}

/* Records one document inside the open transaction: added, left as it is
 * (its source holds the same content), or replaced in place (same id, one
 * more version). */
static int document_put(ed_store_t *store, const ed_document_in_t *doc, const ed_collection_t *c,
                        ed_document_put_t *out, char err[ED_ERR_LEN])
{
    uint8_t key[ED_DB_KEY_LEN], mac[ED_DB_KEY_LEN];
    ed_db_source_match_t match;
    int rc = document_find(store, doc, key, mac, &match, err);
    if (rc == 0) {
        document_outcome(doc, &match, mac, out);
        if (out->outcome == ED_DOCUMENT_UNCHANGED)
            return 0;
        out->version++;
        out->n_chunks = doc->n_chunks;
        out->n_tokens = doc->n_tokens;
        rc = ed_db_document_renew(store->db, match.id, doc->n_chunks, doc->n_tokens, now_seconds(),
                                  &out->n_old_chunks, err);
    } else if (rc == ED_ENOENT) {
        *out = (ed_document_put_t){.version = 1, .outcome = ED_DOCUMENT_ADDED, .n_chunks = doc->n_chunks,
                                   .n_tokens = doc->n_tokens};
        rc = ed_db_document_insert(store->db, doc->collection_id, now_seconds(), doc->n_chunks, doc->n_tokens,
                                   &out->id, err);
    }
    if (rc == 0)
        rc = document_write(store, doc, c, out->id, err);
    if (rc == 0)
        rc = ed_db_document_set_keys(store->db, out->id, doc->source[0] ? key : NULL, mac, err);
    return rc;
}

int ed_store_documents_add(ed_store_t *store, const ed_document_in_t *docs, int n_docs, int64_t *ids_out,
                           char err[ED_ERR_LEN])
{
    if (n_docs <= 0 || !docs || !ids_out) {
        snprintf(err, ED_ERR_LEN, "no documents to add");
        return ED_EINVAL;
    }
    ed_document_put_t *results = calloc((size_t)n_docs, sizeof *results);
    if (!results)
        return out_of_memory(err);
    int rc = ed_store_documents_put(store, docs, n_docs, results, err);
    for (int i = 0; i < n_docs; i++)
        ids_out[i] = results[i].id;
    free(results);
    return rc;
}

int ed_store_documents_put(ed_store_t *store, const ed_document_in_t *docs, int n_docs, ed_document_put_t *results,
                           char err[ED_ERR_LEN])
{
    int rc = check_writable(store, err);
    if (rc != 0)
        return rc;
    if (n_docs <= 0 || !docs || !results) {
        snprintf(err, ED_ERR_LEN, "no documents to add");
        return ED_EINVAL;
    }
    ed_collection_t c = {0};
    for (int i = 0; i < n_docs; i++) {
        if (c.id != docs[i].collection_id &&
            (rc = ed_store_collection_by_id(store, docs[i].collection_id, &c, err)) != 0)
            return rc;
        if ((rc = check_document(&docs[i], err)) != 0)
            return rc;
    }
    if ((rc = ed_db_begin(store->db, err)) != 0)
        return write_failed(store, rc, err);
    int64_t generation = store->generation;
    bool changed = false, replaced = false;
    for (int i = 0; i < n_docs && rc == 0; i++) {
        if (c.id != docs[i].collection_id)
            rc = ed_store_collection_by_id(store, docs[i].collection_id, &c, err);
        if (rc == 0)
            rc = document_put(store, &docs[i], &c, &results[i], err);
        changed |= rc == 0 && results[i].outcome != ED_DOCUMENT_UNCHANGED;
        replaced |= rc == 0 && results[i].outcome == ED_DOCUMENT_REPLACED;
    }
    int64_t bumped = 0, ignored;
    for (int i = 0; i < n_docs && rc == 0; i++)
        if (results[i].outcome != ED_DOCUMENT_UNCHANGED && docs[i].collection_id != bumped &&
            (rc = ed_db_generation_bump(store->db, bumped = docs[i].collection_id, &ignored, err)) != 0)
            break;
    if (rc == 0 && (!changed || (rc = ed_db_generation_bump(store->db, 0, &generation, err)) == 0) &&
        (rc = ed_db_commit(store->db, err)) == 0) {
        store->generation = generation;
        /* Committed; as after a deletion, the replaced text's sealed pages
         * leave the WAL now (a failed checkpoint says so). */
        char why[ED_ERR_LEN];
        if (replaced && (rc = ed_db_checkpoint(store->db, why)) != 0) {
            ed_log_warn("store: after replacing documents: %s", why);
            write_failed(store, rc, why);
        }
        return 0;
    }
    ed_db_rollback(store->db);
    memset(results, 0, (size_t)n_docs * sizeof *results);
    return write_failed(store, rc, err);
}

void ed_document_free(ed_document_t *doc)
{
    if (!doc)
        return;
    free(doc->title);
    free(doc->source);
    free(doc->metadata_json);
    free(doc->text);
    memset(doc, 0, sizeof *doc);
}

/* Unseals a document row into out. */
static int document_unseal(ed_store_t *store, const ed_db_document_t *row, ed_document_t *out,
                           char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    out->id = row->id;
    out->collection_id = row->collection_id;
    out->n_chunks = row->n_chunks;
    out->n_tokens = row->n_tokens;
    out->version = row->version;
    out->created = row->created;
    char identity[IDENTITY_LEN];
    int rc;
    identity_doc(identity, row->id, "title");
    if ((rc = unseal_string(store, identity, &row->title, false, &out->title, NULL, err)) != 0)
        goto fail;
    identity_doc(identity, row->id, "source");
    if ((rc = unseal_string(store, identity, &row->source, false, &out->source, NULL, err)) != 0)
        goto fail;
    identity_doc(identity, row->id, "metadata");
    if ((rc = unseal_string(store, identity, &row->metadata, true, &out->metadata_json, NULL, err)) != 0)
        goto fail;
    identity_doc(identity, row->id, "text");
    if (row->text.data &&
        (rc = unseal_string(store, identity, &row->text, false, &out->text, &out->text_len, err)) != 0)
        goto fail;
    return 0;
fail:
    ed_document_free(out);
    return rc;
}

/* The digests of a document stored before schema 3, found at open. */
typedef struct {
    int64_t id, collection_id;
    bool has_source;
    uint8_t key[ED_DB_KEY_LEN], mac[ED_DB_KEY_LEN];
} digest_t;

typedef struct {
    ed_store_t *store;
    digest_t *items;
    size_t n, cap;
    int64_t n_damaged;
    int rc;
    char *err;
} digest_walk_t;

static int digest_row(const ed_db_document_t *row, void *arg)
{
    digest_walk_t *w = arg;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        digest_t *grown = realloc(w->items, cap * sizeof *grown);
        if (!grown) {
            w->rc = out_of_memory(w->err);
            return 1;
        }
        w->items = grown;
        w->cap = cap;
    }
    ed_document_t doc;
    char why[ED_ERR_LEN];
    int rc = document_unseal(w->store, row, &doc, why);
    if (rc == 0 && !doc.text)
        rc = ED_ECORRUPT;
    if (rc == ED_ECORRUPT) {
        /* Still reported, as ED_ECORRUPT, by whoever reads the document. */
        ed_log_warn("store: document %lld: %s; left without digests", (long long)row->id, why);
        w->n_damaged++;
        return 0;
    }
    digest_t *d = &w->items[w->n];
    *d = (digest_t){.id = row->id, .collection_id = row->collection_id, .has_source = rc == 0 && doc.source[0]};
    if (rc == 0)
        rc = content_mac(w->store, doc.title, doc.metadata_json, doc.text, doc.text_len, d->mac, why);
    if (rc == 0 && d->has_source)
        rc = source_key(w->store, doc.source, d->key, why);
    ed_document_free(&doc);
    if (rc != 0) {
        snprintf(w->err, ED_ERR_LEN, "%s", why);
        w->rc = rc;
        return 1;
    }
    w->n++;
    return 0;
}

/* Gives documents stored before schema 3 their source key and content
 * digest, in one transaction. Of several with one source in a collection
 * (made before ingest was idempotent) the oldest takes the source; the
 * others stay as they are, found by id only. */
static int digest_older_documents(ed_store_t *store, char err[ED_ERR_LEN])
{
    digest_walk_t w = {.store = store, .err = err};
    int rc = ed_db_documents_undigested(store->db, digest_row, &w, err);
    if (rc == 0)
        rc = w.rc;
    if (rc == 0 && w.n > 0 && (rc = ed_db_begin(store->db, err)) == 0) {
        for (size_t i = 0; i < w.n && rc == 0; i++) {
            digest_t *d = &w.items[i];
            ed_db_source_match_t match;
            if (d->has_source) {
                rc = ed_db_document_by_source(store->db, d->collection_id, d->key, &match, err);
                d->has_source = rc == ED_ENOENT;
                rc = rc == ED_ENOENT ? 0 : rc;
            }
            if (rc == 0)
                rc = ed_db_document_set_keys(store->db, d->id, d->has_source ? d->key : NULL, d->mac, err);
        }
        if (rc == 0 && (rc = ed_db_commit(store->db, err)) == 0)
            ed_log_info("store: %zu documents of an older schema given their digests", w.n);
        else
            ed_db_rollback(store->db);
    }
    free(w.items);
    return rc;
}

int ed_store_document_get(ed_store_t *store, int64_t id, bool with_text, ed_document_t *out, char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    ed_db_document_t row;
    int rc = ed_db_document_get(store->db, id, with_text, &row, err);
    if (rc != 0)
        return rc;
    if (with_text && !row.text.data) {
        snprintf(err, ED_ERR_LEN, "sealed record doc:%lld:text is missing", (long long)id);
        rc = ED_ECORRUPT;
    } else {
        rc = document_unseal(store, &row, out, err);
    }
    ed_db_document_free(&row);
    return rc;
}

int ed_store_documents_list(ed_store_t *store, int64_t collection_id, int64_t after_id, int limit,
                            ed_document_t *out, int *n_out, char err[ED_ERR_LEN])
{
    *n_out = 0;
    if (limit <= 0)
        return 0;
    ed_db_document_t *rows = calloc((size_t)limit, sizeof *rows);
    if (!rows)
        return out_of_memory(err);
    int n_rows = 0, rc = ed_db_documents_list(store->db, collection_id, after_id, limit, rows, &n_rows, err);
    for (int i = 0; i < n_rows; i++) {
        if (rc == 0 && (rc = document_unseal(store, &rows[i], &out[i], err)) == 0)
            (*n_out)++;
        ed_db_document_free(&rows[i]);
    }
    free(rows);
    if (rc != 0) {
        for (int i = 0; i < *n_out; i++)
            ed_document_free(&out[i]);
        *n_out = 0;
    }
    return rc;
}

int ed_store_document_delete(ed_store_t *store, int64_t id, int *n_chunks_out, char err[ED_ERR_LEN])
{
    *n_chunks_out = 0;
    int rc = check_writable(store, err);
    if (rc != 0)
        return rc;
    if ((rc = ed_db_begin(store->db, err)) != 0)
        return write_failed(store, rc, err);
    int n_chunks = 0;
    int64_t generation = 0, ignored;
    ed_db_document_t row = {0};
    rc = ed_db_document_get(store->db, id, false, &row, err);
    int64_t collection_id = row.collection_id;
    ed_db_document_free(&row);
    if (rc != 0 || (rc = ed_db_document_delete(store->db, id, now_seconds(), &n_chunks, err)) != 0 ||
        (rc = ed_db_generation_bump(store->db, collection_id, &ignored, err)) != 0 ||
        (rc = ed_db_generation_bump(store->db, 0, &generation, err)) != 0 ||
        (rc = ed_db_commit(store->db, err)) != 0) {
        ed_db_rollback(store->db);
        return rc == ED_ENOENT ? rc : write_failed(store, rc, err);
    }
    store->generation = generation;
    *n_chunks_out = n_chunks;
    /* The delete is committed; a failed checkpoint leaves sealed pages in the
     * WAL until the next one, and says so. */
    char why[ED_ERR_LEN];
    if ((rc = ed_db_checkpoint(store->db, why)) != 0) {
        ed_log_warn("store: after deleting document %lld: %s", (long long)id, why);
        write_failed(store, rc, why);
    }
    return 0;
}

void ed_chunk_free(ed_chunk_t *chunk)
{
    if (!chunk)
        return;
    free(chunk->text);
    free(chunk->title);
    memset(chunk, 0, sizeof *chunk);
}

int ed_store_chunk_get(ed_store_t *store, int64_t chunk_id, ed_chunk_t *out, char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    if (chunk_id < 0) {
        snprintf(err, ED_ERR_LEN, "no chunk with id %lld", (long long)chunk_id);
        return ED_ENOENT;
    }
    int64_t doc_id = chunk_id / ED_STORE_MAX_CHUNKS_PER_DOC;
    int index = (int)(chunk_id % ED_STORE_MAX_CHUNKS_PER_DOC);
    ed_db_chunk_t row;
    int rc = ed_db_chunk_get(store->db, doc_id, index, &row, err);
    if (rc != 0)
        return rc;
    out->chunk_id = chunk_id;
    out->doc_id = doc_id;
    out->index = index;
    out->offset = row.offset;
    out->len = row.len;
    out->n_tokens = row.n_tokens;
    out->context_offset = row.context_offset;
    out->context_len = row.context_len;
    char identity[IDENTITY_LEN];
    identity_chunk(identity, doc_id, index, "text");
    rc = unseal_string(store, identity, &row.text, false, &out->text, NULL, err);
    identity_doc(identity, doc_id, "title");
    if (rc == 0)
        rc = unseal_string(store, identity, &row.title, false, &out->title, NULL, err);
    ed_db_chunk_free(&row);
    if (rc != 0)
        ed_chunk_free(out);
    return rc;
}

typedef struct {
    ed_store_t *store;
    const char *embedder; /* kept vectors: theirs */
    int dim;
    float *vector; /* (dim) */
    int (*fn)(int64_t chunk_id, const float *vector, int dim, void *arg);
    void *arg;
    int rc;
    char *err;
} vectors_walk_t;

/* Unseals one vector record of w->dim floats into w->vector and hands it on. */
static int walk_vector(vectors_walk_t *w, const char *identity, int64_t chunk_id, const void *sealed, size_t len)
{
    size_t want = (size_t)w->dim * sizeof(float), got = 0;
    if (len != ed_seal_size(want)) {
        snprintf(w->err, ED_ERR_LEN, "sealed record %s holds %zu bytes, not the %zu of a %d-wide vector",
                 identity, len, ed_seal_size(want), w->dim);
        w->rc = ED_ECORRUPT;
        return 1;
    }
    if ((w->rc = ed_seal_unseal(w->store->seal, identity, sealed, len, (uint8_t *)w->vector, &got, w->err)) != 0)
        return 1;
    return w->fn(chunk_id, w->vector, w->dim, w->arg) != 0;
}

static int vectors_chunk(int64_t doc_id, int index, int64_t collection_id, const void *sealed, size_t len,
                         void *arg)
{
    (void)collection_id;
    char identity[IDENTITY_LEN];
    identity_chunk(identity, doc_id, index, "vec");
    return walk_vector(arg, identity, ed_chunk_id(doc_id, index), sealed, len);
}

int ed_store_vectors_foreach(ed_store_t *store, int64_t collection_id,
                             int (*fn)(int64_t chunk_id, const float *vector, int dim, void *arg), void *arg,
                             char err[ED_ERR_LEN])
{
    ed_collection_t c;
    int rc = ed_store_collection_by_id(store, collection_id, &c, err);
    if (rc != 0)
        return rc;
    vectors_walk_t w = {.store = store, .dim = c.dim, .fn = fn, .arg = arg, .err = err};
    w.vector = malloc((size_t)c.dim * sizeof(float) + ED_SEAL_OVERHEAD);
    if (!w.vector)
        return out_of_memory(err);
    rc = ed_db_chunks_foreach(store->db, collection_id, true, vectors_chunk, &w, err);
    free(w.vector);
    return rc != 0 ? rc : w.rc;
}

/* A kept vector's identity binds it to its chunk and its embedder. */
static void identity_kept(char out[IDENTITY_LEN], int64_t doc_id, int index, const char *embedder)
{
    snprintf(out, IDENTITY_LEN, "chunk:%lld:%d:vec:%.64s", (long long)doc_id, index, embedder);
}

static int kept_vector(int64_t doc_id, int index, const void *sealed, size_t len, void *arg)
{
    vectors_walk_t *w = arg;
    char identity[IDENTITY_LEN];
    identity_kept(identity, doc_id, index, w->embedder);
    return walk_vector(w, identity, ed_chunk_id(doc_id, index), sealed, len);
}

int ed_store_reembed_keep(ed_store_t *store, int64_t collection_id, const char *embedder, int dim,
                          const int64_t *chunk_ids, const float *vectors, int n, char err[ED_ERR_LEN])
{
    int rc = check_writable(store, err);
    if (rc != 0 || (rc = check_embedder(embedder, dim, err)) != 0)
        return rc;
    if ((rc = ed_db_begin(store->db, err)) != 0)
        return write_failed(store, rc, err);
    char identity[IDENTITY_LEN];
    for (int i = 0; i < n && rc == 0; i++) {
        int64_t doc_id = chunk_ids[i] / ED_STORE_MAX_CHUNKS_PER_DOC;
        int index = (int)(chunk_ids[i] % ED_STORE_MAX_CHUNKS_PER_DOC);
        ed_db_bytes_t sealed = {0};
        identity_kept(identity, doc_id, index, embedder);
        rc = seal_bytes(store, identity, vectors + (size_t)i * dim, (size_t)dim * sizeof(float), &sealed, err);
        if (rc == 0)
            rc = ed_db_reembed_put(store->db, doc_id, index, collection_id, embedder, &sealed, err);
        free(sealed.data);
    }
    if (rc == 0 && (rc = ed_db_commit(store->db, err)) == 0)
        return 0;
    ed_db_rollback(store->db);
    return write_failed(store, rc, err);
}

int ed_store_reembed_foreach(ed_store_t *store, int64_t collection_id, const char *embedder, int dim,
                             int (*fn)(int64_t chunk_id, const float *vector, int dim, void *arg), void *arg,
                             char err[ED_ERR_LEN])
{
    int rc = check_embedder(embedder, dim, err);
    if (rc != 0)
        return rc;
    vectors_walk_t w = {.store = store, .embedder = embedder, .dim = dim, .fn = fn, .arg = arg, .err = err};
    if (!(w.vector = malloc((size_t)dim * sizeof(float) + ED_SEAL_OVERHEAD)))
        return out_of_memory(err);
    rc = ed_db_reembed_foreach(store->db, collection_id, embedder, kept_vector, &w, err);
    free(w.vector);
    return rc != 0 ? rc : w.rc;
}

int ed_store_lexical_term_chunks(ed_store_t *store, const char *term, int64_t *n_chunks, char err[ED_ERR_LEN])
{
    return ed_db_lexical_term_rows(store->db, term, n_chunks, err);
}

int ed_store_lexical_search(ed_store_t *store, const char *query, const int64_t *collection_ids,
                            int n_collections, int top_k, ed_lexical_hit_t *hits, int *n_hits,
                            char err[ED_ERR_LEN])
{
    return ed_db_lexical_search(store->db, query ? query : "", collection_ids, n_collections, top_k, hits, n_hits,
                                err);
}

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
    int rc = check_writable(store, err);
    if (rc != 0 || (rc = check_adapter_id(adapter_id, err)) != 0)
        return rc;
    ed_db_document_t row;
    if ((rc = ed_db_document_get(store->db, doc_id, false, &row, err)) != 0)
        return rc;
    ed_db_document_free(&row);
    rc = ed_db_lineage_add(store->db, adapter_id, doc_id, err);
    return rc != 0 ? write_failed(store, rc, err) : 0;
}

int ed_store_adapter_stale(ed_store_t *store, const char *adapter_id, bool *stale, char err[ED_ERR_LEN])
{
    *stale = false;
    int rc = check_adapter_id(adapter_id, err);
    return rc != 0 ? rc : ed_db_adapter_stale(store->db, adapter_id, stale, err);
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
    int rc = check_writable(store, err);
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
    if ((rc = seal_bytes(store, identity, len ? data : "", len, &sealed, err)) != 0)
        return rc;
    ed_manifest_entry_t entry = {.size = (int64_t)sealed.len, .generation = generation};
    snprintf(entry.name, sizeof entry.name, "%s", name);
    ed_seal_sha256_hex(sealed.data, sealed.len, entry.sha256);
    rc = ed_atomic_write(path, sealed.data, sealed.len, 0600, err);
    free(sealed.data);
    if (rc != 0)
        return write_failed(store, rc, err);
    if (store->manifest_corrupt) {
        /* Entries of a corrupt manifest are unknown: start a fresh one. */
        ed_manifest_free(&store->manifest);
        store->manifest_corrupt = false;
    }
    if (ed_manifest_set(&store->manifest, &entry) != 0)
        return out_of_memory(err);
    rc = ed_manifest_save(&store->manifest, store->manifest_path, err);
    return rc != 0 ? write_failed(store, rc, err) : 0;
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
        return out_of_memory(err);
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
    row->created = now_seconds();
    char identity[48], path[PATH_MAX];
    snprintf(identity, sizeof identity, "adapter:%s", row->id);
    int rc = adapter_path(store, row->id, path, err);
    if (rc != 0)
        return rc;
    uint8_t *sealed = malloc(ed_seal_size(len));
    if (!sealed)
        return out_of_memory(err);
    rc = ed_seal_seal(store->seal, identity, gguf, len, sealed);
    if (rc == 0)
        rc = ed_atomic_write(path, sealed, ed_seal_size(len), 0600, err);
    free(sealed);
    if (rc != 0)
        return write_failed(store, rc, err);
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
    return rc == ED_EIO ? write_failed(store, rc, err) : rc;
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
                                             : out_of_memory(err);
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
        return write_failed(store, rc, err);
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
    return rc == ED_EIO ? write_failed(store, rc, err) : rc;
}
