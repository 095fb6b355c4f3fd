/* store.c - tests of daemon/store/store.c through its public API: keys,
 * collections, documents (added, kept or replaced by source; schema 2
 * migrated), chunks, vectors, lexical search, lineage, blobs
 * and the manifest, tampering, deletion leaving no trace, read-only after a
 * failed fsync, and reopening. Each test works in its own state directory. */
#include "../../test.h"

#include "helpers.h"
#include "store/atomic.h"
#include "store/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

static ed_store_t *open_store(const char *dir)
{
    char err[ED_ERR_LEN] = "";
    ed_store_t *store = NULL;
    int rc = ed_store_open(&store, dir, NULL, err);
    if (rc != 0)
        printf("#   ed_store_open: %s: %s\n", ed_err_name(rc), err);
    return store;
}

static int64_t make_collection(ed_store_t *store, const char *name)
{
    char err[ED_ERR_LEN];
    ed_collection_t c;
    if (ed_store_collection_create(store, name, 1000, "hash-v1-8", TEST_DIM, &c, err) != 0)
        return 0;
    return c.id;
}

static int64_t add_doc(ed_store_t *store, int64_t collection_id, const char *title, const char *text, int seed)
{
    test_doc_t d;
    test_doc(&d, collection_id, title, text, seed);
    int64_t id = 0;
    char err[ED_ERR_LEN];
    int rc = ed_store_documents_add(store, &d.in, 1, &id, err);
    if (rc != 0)
        printf("#   documents_add: %s: %s\n", ed_err_name(rc), err);
    return rc == 0 ? id : 0;
}

static mode_t file_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

/* Runs SQL on edged.db behind the store's back (the store is closed). */
static int raw_sql(const char *dir, const char *sql)
{
    char path[PATH_MAX];
    test_path(path, dir, "edged.db");
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static void flip_byte(const char *path, long offset)
{
    FILE *f = fopen(path, "r+b");
    if (!f)
        abort();
    fseek(f, offset, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, offset, SEEK_SET);
    fputc(ch ^ 0x01, f);
    fclose(f);
}

ED_TEST(creates_key_file_0600_and_refuses_0644)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    ed_store_close(store);
    char key[PATH_MAX], db[PATH_MAX], err[ED_ERR_LEN] = "";
    test_path(key, dir, "key");
    test_path(db, dir, "edged.db");
    ED_CHECK_INT(file_mode(key), 0600);
    ED_CHECK_INT(file_mode(db), 0600);
    struct stat st;
    ED_REQUIRE(stat(key, &st) == 0);
    ED_CHECK_INT(st.st_size, 32);
    ED_REQUIRE(chmod(key, 0644) == 0);
    ED_CHECK_INT(ed_store_open(&store, dir, NULL, err), ED_EACCES);
    ED_CHECK(store == NULL);
    ED_CHECK(strstr(err, "chmod 600") != NULL);
    ED_REQUIRE(chmod(key, 0600) == 0);
    ED_CHECK_INT(ed_store_open(&store, dir, NULL, err), 0);
    ed_store_close(store);
}

ED_TEST(wrong_key_file_is_eacces)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    ed_store_close(store);
    char key[PATH_MAX], err[ED_ERR_LEN] = "";
    test_path(key, dir, "key");
    FILE *f = fopen(key, "wb");
    ED_REQUIRE(f);
    fputs("a different key altogether", f);
    fclose(f);
    ED_CHECK_INT(ed_store_open(&store, dir, NULL, err), ED_EACCES);
    ED_CHECK(strstr(err, "wrong key file") != NULL);
}

ED_TEST(key_from_configured_file_and_credentials_directory)
{
    const char *dir = test_dir();
    char key[PATH_MAX], state[PATH_MAX], creds[PATH_MAX], cred_key[PATH_MAX], err[ED_ERR_LEN] = "";
    test_path(key, dir, "short.key");
    test_path(state, dir, "state");
    int fd = open(key, O_WRONLY | O_CREAT, 0600);
    ED_REQUIRE(fd >= 0);
    ED_REQUIRE(write(fd, "12345", 5) == 5); /* any length of key file works */
    close(fd);
    ed_store_t *store = NULL;
    ED_REQUIRE(ed_store_open(&store, state, key, err) == 0);
    ED_CHECK(make_collection(store, "notes") > 0);
    ed_store_close(store);
    ED_REQUIRE(ed_store_open(&store, state, key, err) == 0);
    ed_store_close(store);

    /* A credential (systemd LoadCredentialEncrypted=) wins over the key file. */
    test_path(creds, dir, "creds");
    ED_REQUIRE(mkdir(creds, 0700) == 0);
    test_path(cred_key, creds, "edged-key");
    fd = open(cred_key, O_WRONLY | O_CREAT, 0400);
    ED_REQUIRE(fd >= 0);
    ED_REQUIRE(write(fd, "credential bytes", 16) == 16);
    close(fd);
    setenv("CREDENTIALS_DIRECTORY", creds, 1);
    ED_CHECK_INT(ed_store_open(&store, state, key, err), ED_EACCES);
    char state2[PATH_MAX];
    test_path(state2, dir, "state2");
    ED_REQUIRE(ed_store_open(&store, state2, NULL, err) == 0);
    ed_store_close(store);
    unsetenv("CREDENTIALS_DIRECTORY");
    ED_CHECK_INT(ed_store_open(&store, state2, NULL, err), ED_EACCES); /* a fresh state2/key */
}

ED_TEST(collections_round_trip)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN];
    ed_collection_t c, d;
    ED_REQUIRE(ed_store_collection_create(store, "recipes", 1001, "hash-v1-8", TEST_DIM, &c, err) == 0);
    ED_CHECK_STR(c.name, "recipes");
    ED_CHECK_INT(c.owner_uid, 1001);
    ED_CHECK_STR(c.allow, "");
    ED_CHECK_INT(c.dim, TEST_DIM);
    ED_CHECK_INT(ed_store_collection_create(store, "recipes", 1, "x", 4, NULL, err), ED_EEXIST);
    ED_CHECK_INT(ed_store_collection_create(store, "", 1, "x", 4, NULL, err), ED_EINVAL);
    ED_CHECK_INT(ed_store_collection_create(store, "bad", 1, "x", 0, NULL, err), ED_EINVAL);
    ED_CHECK_INT(ed_store_collection_get(store, "absent", &d, err), ED_ENOENT);
    ED_CHECK_INT(ed_store_collection_by_id(store, 999, &d, err), ED_ENOENT);
    ED_REQUIRE(ed_store_collection_set_allow(store, c.id, "uid:5 gid:7", err) == 0);
    ED_REQUIRE(ed_store_collection_set_embedder(store, c.id, "model:bge-small-en-v1.5", 384, err) == 0);
    ED_CHECK_INT(ed_store_collection_set_allow(store, 999, "*", err), ED_ENOENT);
    ED_REQUIRE(ed_store_collection_get(store, "recipes", &d, err) == 0);
    ED_CHECK_INT(d.id, c.id);
    ED_CHECK_STR(d.allow, "uid:5 gid:7");
    ED_CHECK_STR(d.embedder, "model:bge-small-en-v1.5");
    ED_CHECK_INT(d.dim, 384);
    ED_REQUIRE(ed_store_collection_set_embedder(store, c.id, "hash-v1-8", TEST_DIM, err) == 0);
    ED_CHECK(make_collection(store, "travel") > 0);
    int64_t doc = add_doc(store, c.id, "Pancakes", "Flour, milk and eggs; rest the batter for half an hour.", 1);
    ED_CHECK(doc > 0);
    ED_REQUIRE(ed_store_collection_by_id(store, c.id, &d, err) == 0);
    ED_CHECK_INT(d.n_documents, 1);
    ED_CHECK_INT(d.n_chunks, 2);
    int count = 0;
    int count_fn(const ed_collection_t *col, void *arg);
    ED_CHECK_INT(ed_store_collections_foreach(store, count_fn, &count, err), 0);
    ED_CHECK_INT(count, 2);
    ed_store_close(store);
}

int count_fn(const ed_collection_t *col, void *arg)
{
    (void)col;
    ++*(int *)arg;
    return 0;
}

typedef struct {
    int n;
    int64_t ids[16];
    float first[16];
    int dim;
} vectors_seen_t;

static int vector_fn(int64_t chunk_id, const float *vector, int dim, void *arg)
{
    vectors_seen_t *seen = arg;
    seen->ids[seen->n] = chunk_id;
    seen->first[seen->n] = vector[dim - 1];
    seen->dim = dim;
    return ++seen->n >= 16;
}

ED_TEST(documents_chunks_and_vectors_round_trip)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN];
    int64_t a = make_collection(store, "a"), b = make_collection(store, "b");
    ED_REQUIRE(a > 0 && b > 0);
    int64_t g0 = ed_store_generation(store);
    const char *text1 = "The dentist appointment is on Tuesday at nine. Bring the insurance card and the forms.";
    test_doc_t d1, d2;
    test_doc(&d1, a, "Dentist", text1, 1);
    test_doc(&d2, b, "Train", "Train to Lyon leaves at 7:42 from platform 3.", 2);
    d2.in.metadata_json = NULL;
    ed_document_in_t docs[2] = {d1.in, d2.in};
    int64_t ids[2] = {0, 0};
    ED_REQUIRE(ed_store_documents_add(store, docs, 2, ids, err) == 0);
    ED_CHECK(ids[0] > 0 && ids[1] > ids[0]);
    ED_CHECK_INT(ed_store_generation(store), g0 + 1);

    ed_document_t doc;
    ED_REQUIRE(ed_store_document_get(store, ids[0], true, &doc, err) == 0);
    ED_CHECK_STR(doc.title, "Dentist");
    ED_CHECK_STR(doc.source, d1.source);
    ED_CHECK_STR(doc.metadata_json, "{\"k\":1}");
    ED_CHECK_STR(doc.text, text1);
    ED_CHECK_INT(doc.text_len, strlen(text1));
    ED_CHECK_INT(doc.n_chunks, d1.in.n_chunks);
    ED_CHECK_INT(doc.collection_id, a);
    ED_CHECK(doc.created > 1600000000);
    ed_document_free(&doc);
    ED_REQUIRE(ed_store_document_get(store, ids[1], false, &doc, err) == 0);
    ED_CHECK(doc.text == NULL);
    ED_CHECK(doc.metadata_json == NULL);
    ed_document_free(&doc);
    ED_CHECK_INT(ed_store_document_get(store, 12345, false, &doc, err), ED_ENOENT);

    ed_document_t list[4];
    int n = 0;
    ED_REQUIRE(ed_store_documents_list(store, 0, 0, 4, list, &n, err) == 0);
    ED_CHECK_INT(n, 2);
    for (int i = 0; i < n; i++)
        ed_document_free(&list[i]);
    ED_REQUIRE(ed_store_documents_list(store, 0, 0, 1, list, &n, err) == 0);
    ED_CHECK_INT(n, 1);
    ED_CHECK_INT(list[0].id, ids[0]);
    ed_document_free(&list[0]);
    ED_REQUIRE(ed_store_documents_list(store, 0, ids[0], 4, list, &n, err) == 0);
    ED_CHECK_INT(n, 1);
    ED_CHECK_INT(list[0].id, ids[1]);
    ed_document_free(&list[0]);
    ED_REQUIRE(ed_store_documents_list(store, b, 0, 4, list, &n, err) == 0);
    ED_CHECK_INT(n, 1);
    ED_CHECK_STR(list[0].title, "Train");
    ed_document_free(&list[0]);

    ed_chunk_t chunk;
    ED_REQUIRE(ed_store_chunk_get(store, ed_chunk_id(ids[0], 1), &chunk, err) == 0);
    ED_CHECK_INT(chunk.doc_id, ids[0]);
    ED_CHECK_INT(chunk.index, 1);
    ED_CHECK_INT(chunk.offset, TEST_CHUNK_BYTES);
    ED_CHECK_INT(chunk.len, TEST_CHUNK_BYTES);
    ED_CHECK(strncmp(chunk.text, text1 + TEST_CHUNK_BYTES, TEST_CHUNK_BYTES) == 0);
    ED_CHECK_INT(strlen(chunk.text), TEST_CHUNK_BYTES);
    ED_CHECK_STR(chunk.title, "Dentist");
    ed_chunk_free(&chunk);
    ED_CHECK_INT(ed_store_chunk_get(store, ed_chunk_id(ids[0], 60), &chunk, err), ED_ENOENT);

    vectors_seen_t seen = {0};
    ED_REQUIRE(ed_store_vectors_foreach(store, a, vector_fn, &seen, err) == 0);
    ED_CHECK_INT(seen.n, d1.in.n_chunks);
    ED_CHECK_INT(seen.dim, TEST_DIM);
    for (int i = 0; i < seen.n; i++) {
        ED_CHECK_INT(seen.ids[i], ed_chunk_id(ids[0], i));
        ED_CHECK_NEAR(seen.first[i], test_vector_value(1, i, TEST_DIM - 1), 0);
    }

    /* All or none: a bad second document adds nothing. */
    test_doc_t bad;
    test_doc(&bad, a, "Bad", "short text", 3);
    bad.chunks[0].len = 999;
    docs[1] = bad.in;
    int64_t more[2] = {0, 0};
    ED_CHECK_INT(ed_store_documents_add(store, docs, 2, more, err), ED_EINVAL);
    docs[1].collection_id = 777;
    ED_CHECK_INT(ed_store_documents_add(store, docs, 2, more, err), ED_ENOENT);
    ED_REQUIRE(ed_store_documents_list(store, 0, 0, 4, list, &n, err) == 0);
    ED_CHECK_INT(n, 2);
    for (int i = 0; i < n; i++)
        ed_document_free(&list[i]);
    ED_CHECK_INT(ed_store_generation(store), g0 + 1);
    ed_store_close(store);
}

ED_TEST(sealed_text_never_on_disk_and_delete_leaves_no_trace)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN], wal[PATH_MAX];
    int64_t c = make_collection(store, "notes");
    const char *canary = "zebracanary7f3a91";
    char text[400];
    snprintf(text, sizeof text, "Code %s opens the locker; it must stay secret. "
             "Other words fill the rest of this note so that it spans several chunks.", canary);
    int64_t keep = add_doc(store, c, "Keep", "Nothing secret here, only groceries: apples and bread.", 1);
    int64_t id = add_doc(store, c, "Title with zebracanary7f3a91", text, 2);
    ED_REQUIRE(keep > 0 && id > 0);
    ED_CHECK(!found_under(dir, canary));
    ED_CHECK(!found_under(dir, "groceries"));
    ed_lexical_hit_t hits[8];
    int n_hits = 0;
    ED_REQUIRE(ed_store_lexical_search(store, canary, &c, 1, 8, hits, &n_hits, err) == 0);
    ED_CHECK(n_hits >= 1); /* the title is indexed with each chunk; chunk 0 holds it twice */
    ED_CHECK_INT(hits[0].chunk_id, ed_chunk_id(id, 0));
    for (int i = 0; i < n_hits; i++)
        ED_CHECK_INT(hits[i].chunk_id / 65536, id);

    int64_t g = ed_store_generation(store);
    ed_document_t doc;
    ED_REQUIRE(ed_store_document_get(store, id, true, &doc, err) == 0);
    int n_chunks = -1;
    ED_REQUIRE(ed_store_document_delete(store, id, &n_chunks, err) == 0);
    ED_CHECK_INT(n_chunks, doc.n_chunks);
    ED_CHECK(n_chunks >= 3);
    ed_document_free(&doc);
    ED_CHECK_INT(ed_store_generation(store), g + 1);
    ED_CHECK_INT(ed_store_document_get(store, id, false, &doc, err), ED_ENOENT);
    ed_chunk_t chunk;
    ED_CHECK_INT(ed_store_chunk_get(store, ed_chunk_id(id, 0), &chunk, err), ED_ENOENT);
    ED_REQUIRE(ed_store_lexical_search(store, canary, &c, 1, 8, hits, &n_hits, err) == 0);
    ED_CHECK_INT(n_hits, 0);
    ED_CHECK_INT(ed_store_document_delete(store, id, &n_chunks, err), ED_ENOENT);
    test_path(wal, dir, "edged.db-wal");
    struct stat st;
    ED_CHECK(stat(wal, &st) != 0 || st.st_size == 0);
    ED_CHECK(!found_under(dir, canary));
    ED_REQUIRE(ed_store_document_get(store, keep, true, &doc, err) == 0);
    ed_document_free(&doc);
    ed_store_close(store);
    ED_CHECK(!found_under(dir, canary));
}

ED_TEST(flipped_or_swapped_sealed_column_is_ecorrupt)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "";
    int64_t c = make_collection(store, "notes");
    int64_t a = add_doc(store, c, "A", "First document with its own text, long enough for two chunks.", 1);
    int64_t b = add_doc(store, c, "B", "Second document with some other text in it.", 2);
    ED_REQUIRE(a > 0 && b > 0);
    ed_store_close(store);
    char sql[512];
    /* Change byte 21 of document a's sealed text; put document a's first
     * sealed chunk text in document b's place. */
    snprintf(sql, sizeof sql,
             "UPDATE documents SET text = substr(text, 1, 20) || "
             "CASE WHEN substr(text, 21, 1) = x'00' THEN x'01' ELSE x'00' END || substr(text, 22)"
             " WHERE id = %lld;"
             "UPDATE chunks SET text = (SELECT text FROM chunks WHERE doc_id = %lld AND idx = 0)"
             " WHERE doc_id = %lld AND idx = 0;",
             (long long)a, (long long)a, (long long)b);
    ED_REQUIRE(raw_sql(dir, sql) == SQLITE_OK);
    store = open_store(dir);
    ED_REQUIRE(store);
    ed_document_t doc;
    ED_CHECK_INT(ed_store_document_get(store, a, true, &doc, err), ED_ECORRUPT);
    ED_CHECK(strstr(err, "doc:") != NULL && strstr(err, ":text") != NULL);
    ED_CHECK(doc.text == NULL);
    ED_REQUIRE(ed_store_document_get(store, a, false, &doc, err) == 0); /* title and metadata are intact */
    ed_document_free(&doc);
    ed_chunk_t chunk;
    ED_CHECK_INT(ed_store_chunk_get(store, ed_chunk_id(b, 0), &chunk, err), ED_ECORRUPT);
    ED_CHECK(strstr(err, "chunk:") != NULL);
    ED_CHECK(chunk.text == NULL);
    ed_store_close(store);
}

typedef struct {
    int n;
    int64_t ids[8];
    float last[8];
} kept_seen_t;

static int kept_fn(int64_t chunk_id, const float *vector, int dim, void *arg)
{
    (void)dim;
    kept_seen_t *seen = arg;
    seen->ids[seen->n] = chunk_id;
    seen->last[seen->n] = vector[3];
    return ++seen->n >= 8;
}

/* A re-embedding keeps its vectors until it is recorded: per embedder,
 * sealed to their chunk and embedder, across a reopen; recording it (or
 * deleting the document) drops them. */
ED_TEST(kept_reembedding_vectors_resume_and_go)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "";
    int64_t c = make_collection(store, "notes");
    int64_t a = add_doc(store, c, "A", "First document with its own text, long enough for two chunks.", 1);
    int64_t b = add_doc(store, c, "B", "Second document, one chunk.", 2);
    ED_REQUIRE(a > 0 && b > 0);
    float v[3][4] = {{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}};
    int64_t ids[3] = {ed_chunk_id(a, 0), ed_chunk_id(a, 1), ed_chunk_id(b, 0)};
    ED_REQUIRE(ed_store_reembed_keep(store, c, "model:x.gguf", 4, ids, v[0], 2, err) == 0);
    ED_REQUIRE(ed_store_reembed_keep(store, c, "model:y.gguf", 4, ids + 2, v[2], 1, err) == 0);
    ed_store_close(store);

    store = open_store(dir);
    ED_REQUIRE(store);
    kept_seen_t seen = {0};
    ED_REQUIRE(ed_store_reembed_foreach(store, c, "model:x.gguf", 4, kept_fn, &seen, err) == 0);
    ED_CHECK_INT(seen.n, 2);
    ED_CHECK_INT(seen.ids[0], ids[0]);
    ED_CHECK_INT(seen.ids[1], ids[1]);
    ED_CHECK_NEAR(seen.last[1], 8, 0);
    seen = (kept_seen_t){0};
    ED_REQUIRE(ed_store_reembed_foreach(store, c, "model:y.gguf", 4, kept_fn, &seen, err) == 0);
    ED_CHECK_INT(seen.n, 1);
    ED_CHECK_NEAR(seen.last[0], 12, 0);
    ED_CHECK_INT(ed_store_reembed_foreach(store, c, "model:x.gguf", 5, kept_fn, &seen, err), ED_ECORRUPT);

    /* a vector kept for one embedder does not open as another's */
    ed_store_close(store);
    ED_REQUIRE(raw_sql(dir, "UPDATE reembedded SET embedder = 'model:x.gguf'") == SQLITE_OK);
    store = open_store(dir);
    ED_REQUIRE(store);
    seen = (kept_seen_t){0};
    ED_CHECK_INT(ed_store_reembed_foreach(store, c, "model:x.gguf", 4, kept_fn, &seen, err), ED_ECORRUPT);
    printf("# %s\n", err);
    ED_CHECK(strstr(err, "vec:model:x.gguf") != NULL);
    ED_REQUIRE(raw_sql(dir, "DELETE FROM reembedded WHERE doc_id <> 0") == SQLITE_OK);

    /* deleting a document drops its kept vectors; recording a re-embedding drops the rest */
    ED_REQUIRE(ed_store_reembed_keep(store, c, "model:x.gguf", 4, ids, v[0], 3, err) == 0);
    int n_chunks = 0;
    ED_REQUIRE(ed_store_document_delete(store, b, &n_chunks, err) == 0);
    seen = (kept_seen_t){0};
    ED_REQUIRE(ed_store_reembed_foreach(store, c, "model:x.gguf", 4, kept_fn, &seen, err) == 0);
    ED_CHECK_INT(seen.n, 2);
    ED_REQUIRE(ed_store_collection_revector(store, c, "model:x.gguf", 4, ids, v[0], 2, err) == 0);
    seen = (kept_seen_t){0};
    ED_REQUIRE(ed_store_reembed_foreach(store, c, "model:x.gguf", 4, kept_fn, &seen, err) == 0);
    ED_CHECK_INT(seen.n, 0);
    ed_store_close(store);
}

static const uint8_t BLOB[] = "faiss index bytes: 0123456789 abcdefghijklmnopqrstuvwxyz";

ED_TEST(blobs_round_trip_and_detect_damage)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "", path[PATH_MAX], manifest[PATH_MAX];
    void *data = NULL;
    size_t len = 0;
    int64_t generation = -1;
    ED_CHECK_INT(ed_store_blob_load(store, "1.faiss", &data, &len, &generation, err), ED_ENOENT);
    ED_REQUIRE(ed_store_blob_save(store, "1.faiss", BLOB, sizeof BLOB, 7, err) == 0);
    ED_REQUIRE(ed_store_blob_save(store, "2.faiss", BLOB, 10, 8, err) == 0);
    ED_REQUIRE(ed_store_blob_save(store, "2.faiss", BLOB, 12, 9, err) == 0);
    ED_CHECK_INT(ed_store_blob_save(store, "../escape", BLOB, 1, 1, err), ED_EINVAL);
    ED_CHECK_INT(ed_store_blob_save(store, "MANIFEST", BLOB, 1, 1, err), ED_EINVAL);
    ED_REQUIRE(ed_store_blob_load(store, "1.faiss", &data, &len, &generation, err) == 0);
    ED_CHECK_INT(len, sizeof BLOB);
    ED_CHECK(memcmp(data, BLOB, len) == 0);
    ED_CHECK_INT(generation, 7);
    free(data);
    ed_store_close(store);

    store = open_store(dir); /* the manifest survives a reopen */
    ED_REQUIRE(store);
    ED_REQUIRE(ed_store_blob_load(store, "2.faiss", &data, &len, &generation, err) == 0);
    ED_CHECK_INT(len, 12);
    ED_CHECK_INT(generation, 9);
    free(data);
    ED_CHECK(!found_under(dir, "abcdefghijklmnop"));

    test_path(manifest, dir, "index/MANIFEST");
    test_path(path, dir, "index/1.faiss");
    flip_byte(path, 30);
    ED_CHECK_INT(ed_store_blob_load(store, "1.faiss", &data, &len, &generation, err), ED_ECORRUPT);
    ED_CHECK(strstr(err, "1.faiss") != NULL);
    ED_CHECK(data == NULL);
    flip_byte(path, 30);
    ED_REQUIRE(ed_store_blob_load(store, "1.faiss", &data, &len, &generation, err) == 0);
    free(data);
    ED_REQUIRE(unlink(path) == 0);
    ED_CHECK_INT(ed_store_blob_load(store, "1.faiss", &data, &len, &generation, err), ED_ENOENT);
    ED_CHECK(strstr(err, "missing") != NULL);
    ed_store_close(store);

    /* A manifest edited behind the store's back fails its own checksum. */
    FILE *f = fopen(manifest, "r+b");
    ED_REQUIRE(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    char *gen = strstr(buf, "\"generation\": 9");
    ED_REQUIRE(gen);
    gen[strlen("\"generation\": ")] = '8';
    rewind(f);
    fwrite(buf, 1, n, f);
    fclose(f);
    store = open_store(dir);
    ED_REQUIRE(store);
    ED_CHECK_INT(ed_store_blob_load(store, "2.faiss", &data, &len, &generation, err), ED_ECORRUPT);
    ED_CHECK(strstr(err, "MANIFEST") != NULL);
    ED_REQUIRE(ed_store_blob_save(store, "3.faiss", BLOB, 5, 10, err) == 0); /* a fresh manifest */
    ED_CHECK_INT(ed_store_blob_load(store, "2.faiss", &data, &len, &generation, err), ED_ENOENT);
    ED_REQUIRE(ed_store_blob_load(store, "3.faiss", &data, &len, &generation, err) == 0);
    free(data);
    ed_store_close(store);
}

static int failing_fsync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

ED_TEST(fsync_failure_turns_the_store_read_only)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "";
    int64_t c = make_collection(store, "notes");
    int64_t id = add_doc(store, c, "Before", "Written before the disk went bad.", 1);
    ED_REQUIRE(id > 0);
    const char *why = NULL;
    ED_CHECK(!ed_store_read_only(store, &why));
    ED_REQUIRE(ed_store_blob_save(store, "1.faiss", BLOB, 8, 1, err) == 0);
    printf("# expected next: the store's error line for a failed fsync\n");
    fflush(stdout);
    ed__atomic_fsync = failing_fsync;
    ED_CHECK_INT(ed_store_blob_save(store, "1.faiss", BLOB, 16, 2, err), ED_EIO);
    ED_CHECK(strstr(err, "fsync") != NULL);
    ED_CHECK(ed_store_read_only(store, &why));
    ED_REQUIRE(why);
    ED_CHECK(strstr(why, "fsync") != NULL);
    ed__atomic_fsync = fsync; /* the disk "recovers": the store must not */
    ED_CHECK_INT(ed_store_blob_save(store, "1.faiss", BLOB, 16, 2, err), ED_EREADONLY);
    ED_CHECK(strstr(err, "fsync") != NULL);
    test_doc_t d;
    test_doc(&d, c, "After", "Must not be written.", 2);
    int64_t ids[1];
    ED_CHECK_INT(ed_store_documents_add(store, &d.in, 1, ids, err), ED_EREADONLY);
    int n_chunks;
    ED_CHECK_INT(ed_store_document_delete(store, id, &n_chunks, err), ED_EREADONLY);
    ED_CHECK_INT(ed_store_collection_create(store, "x", 1, "e", 4, NULL, err), ED_EREADONLY);
    ED_CHECK_INT(ed_store_lineage_add(store, "adapter", id, err), ED_EREADONLY);
    /* Reads still work, and the old blob is what is on disk. */
    ed_document_t doc;
    ED_REQUIRE(ed_store_document_get(store, id, true, &doc, err) == 0);
    ed_document_free(&doc);
    void *data;
    size_t len;
    int64_t generation;
    ED_REQUIRE(ed_store_blob_load(store, "1.faiss", &data, &len, &generation, err) == 0);
    ED_CHECK_INT(len, 8);
    ED_CHECK_INT(generation, 1);
    free(data);
    ed_store_close(store);
}

ED_TEST(lexical_search_ranks_and_ignores_query_syntax)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "";
    int64_t c = make_collection(store, "notes"), other = make_collection(store, "other");
    int64_t groceries = add_doc(store, c, "Groceries", "Buy milk, eggs and coffee on the way home.", 1);
    int64_t banana = add_doc(store, c, "Banana bread", "Banana bread recipe: three ripe bananas, flour.", 2);
    add_doc(store, c, "Car", "The car needs new tyres before the winter trip.", 3);
    int64_t elsewhere = add_doc(store, other, "Banana", "Banana bread recipe banana bread recipe.", 4);
    ED_REQUIRE(banana > 0 && elsewhere > 0);
    ed_lexical_hit_t hits[8];
    int n = 0;
    ED_REQUIRE(ed_store_lexical_search(store, "banana bread recipe?", &c, 1, 8, hits, &n, err) == 0);
    ED_REQUIRE(n >= 1);
    ED_CHECK_INT(hits[0].chunk_id / 65536, banana);
    for (int i = 0; i < n; i++) {
        ED_CHECK(hits[i].chunk_id / 65536 != elsewhere);
        if (i > 0)
            ED_CHECK(hits[i].score <= hits[i - 1].score);
    }
    int64_t both[2] = {c, other};
    ED_REQUIRE(ed_store_lexical_search(store, "banana", both, 2, 8, hits, &n, err) == 0);
    int n_banana = 0, n_elsewhere = 0;
    for (int i = 0; i < n; i++) {
        n_banana += hits[i].chunk_id / 65536 == banana;
        n_elsewhere += hits[i].chunk_id / 65536 == elsewhere;
    }
    ED_CHECK(n_banana >= 1 && n_elsewhere >= 1 && n_banana + n_elsewhere == n);
    /* a word of the title alone finds the document, also after the index is rebuilt at open */
    for (int reopened = 0; reopened < 2; reopened++) {
        if (reopened) {
            ed_store_close(store);
            ED_REQUIRE((store = open_store(dir)));
        }
        ED_REQUIRE(ed_store_lexical_search(store, "groceries", &c, 1, 8, hits, &n, err) == 0);
        ED_CHECK(n >= 1);
        for (int i = 0; i < n; i++)
            ED_CHECK_INT(hits[i].chunk_id / 65536, groceries);
    }
    ED_REQUIRE(ed_store_lexical_search(store, "banana", both, 2, 1, hits, &n, err) == 0);
    ED_CHECK_INT(n, 1);
    static const char *const nasty[] = {
        "\"", "\"unterminated", "*", "ban*", "NEAR(banana bread)", "NEAR(", "-banana", "title:banana",
        ":", "banana AND OR NOT", "^banana", "(((", "{banana}", "", "   ", "\xe2\x80\x94 \xff\xfe", "a\"b\"c",
    };
    for (size_t i = 0; i < sizeof nasty / sizeof nasty[0]; i++) {
        int rc = ed_store_lexical_search(store, nasty[i], &c, 1, 8, hits, &n, err);
        if (rc != 0)
            printf("#   query \"%s\": %s\n", nasty[i], err);
        ED_CHECK_INT(rc, 0);
    }
    /* document frequencies: chunks (of any collection) holding a word, title included */
    int64_t n_chunks = -1;
    ED_REQUIRE(ed_store_lexical_term_chunks(store, "groceries", &n_chunks, err) == 0);
    ED_CHECK(n_chunks >= 1);
    ED_REQUIRE(ed_store_lexical_term_chunks(store, "zzznowhere", &n_chunks, err) == 0);
    ED_CHECK_INT(n_chunks, 0);
    ED_REQUIRE(ed_store_lexical_term_chunks(store, "the", &n_chunks, err) == 0);
    ED_CHECK_INT(n_chunks, 0); /* a stop word is not indexed */
    ED_REQUIRE(ed_store_lexical_search(store, "NEAR(banana", &c, 1, 8, hits, &n, err) == 0);
    ED_CHECK(n >= 1);
    ED_REQUIRE(ed_store_lexical_search(store, "banana", &c, 0, 8, hits, &n, err) == 0);
    ED_CHECK_INT(n, 0);
    ed_store_close(store);
}

ED_TEST(lineage_marks_adapters_stale_on_delete)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "";
    int64_t c = make_collection(store, "notes");
    int64_t a = add_doc(store, c, "A", "Document a.", 1), b = add_doc(store, c, "B", "Document b.", 2);
    ED_REQUIRE(a > 0 && b > 0);
    ED_REQUIRE(ed_store_lineage_add(store, "lora-1", a, err) == 0);
    ED_REQUIRE(ed_store_lineage_add(store, "lora-1", b, err) == 0);
    ED_REQUIRE(ed_store_lineage_add(store, "lora-2", b, err) == 0);
    ED_REQUIRE(ed_store_lineage_add(store, "lora-1", a, err) == 0); /* idempotent */
    ED_CHECK_INT(ed_store_lineage_add(store, "lora-1", 9999, err), ED_ENOENT);
    bool stale = true;
    ED_REQUIRE(ed_store_adapter_stale(store, "lora-1", &stale, err) == 0);
    ED_CHECK(!stale);
    int n_chunks;
    ED_REQUIRE(ed_store_document_delete(store, a, &n_chunks, err) == 0);
    ED_REQUIRE(ed_store_adapter_stale(store, "lora-1", &stale, err) == 0);
    ED_CHECK(stale);
    ED_REQUIRE(ed_store_adapter_stale(store, "lora-2", &stale, err) == 0);
    ED_CHECK(!stale);
    ed_store_close(store);
    store = open_store(dir);
    ED_REQUIRE(store);
    ED_REQUIRE(ed_store_adapter_stale(store, "lora-1", &stale, err) == 0);
    ED_CHECK(stale);
    ed_store_close(store);
}

ED_TEST(reopen_keeps_everything)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "";
    int64_t c = make_collection(store, "notes");
    const char *text = "Passport renewal: the appointment at the town hall is on the fourth of March.";
    int64_t id = add_doc(store, c, "Passport", text, 5);
    ED_REQUIRE(id > 0);
    ED_REQUIRE(ed_store_collection_set_allow(store, c, "*", err) == 0);
    int64_t g = ed_store_generation(store);
    ed_store_close(store);
    store = open_store(dir);
    ED_REQUIRE(store);
    ED_CHECK_INT(ed_store_generation(store), g);
    ed_collection_t col;
    ED_REQUIRE(ed_store_collection_get(store, "notes", &col, err) == 0);
    ED_CHECK_STR(col.allow, "*");
    ED_CHECK_INT(col.n_documents, 1);
    ed_document_t doc;
    ED_REQUIRE(ed_store_document_get(store, id, true, &doc, err) == 0);
    ED_CHECK_STR(doc.text, text);
    ed_document_free(&doc);
    ed_lexical_hit_t hits[4];
    int n = 0;
    ED_REQUIRE(ed_store_lexical_search(store, "passport town hall", &c, 1, 4, hits, &n, err) == 0);
    ED_CHECK(n >= 1);
    vectors_seen_t seen = {0};
    ED_REQUIRE(ed_store_vectors_foreach(store, c, vector_fn, &seen, err) == 0);
    ED_CHECK_INT(seen.n, col.n_chunks);
    /* A later document never reuses a deleted one's id. */
    int n_chunks;
    ED_REQUIRE(ed_store_document_delete(store, id, &n_chunks, err) == 0);
    ed_store_close(store);
    store = open_store(dir);
    ED_REQUIRE(store);
    ED_CHECK(add_doc(store, c, "Next", "Another note.", 6) > id);
    ed_store_close(store);
}


/* The tables of schema 2, as edged before idempotent ingest (main 15be996)
 * created them. */
static const char SCHEMA_2_DDL[] =
    "CREATE TABLE schema_version(version INTEGER NOT NULL);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value NOT NULL);"
    "CREATE TABLE collections(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
    " owner_uid INTEGER NOT NULL, allow TEXT NOT NULL DEFAULT '', embedder TEXT NOT NULL,"
    " dim INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE documents(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " collection_id INTEGER NOT NULL REFERENCES collections(id), created INTEGER NOT NULL,"
    " n_chunks INTEGER NOT NULL, n_tokens INTEGER NOT NULL,"
    " title BLOB, source BLOB, metadata BLOB, text BLOB);"
    "CREATE INDEX documents_by_collection ON documents(collection_id, id);"
    "CREATE TABLE chunks(doc_id INTEGER NOT NULL REFERENCES documents(id), idx INTEGER NOT NULL,"
    " collection_id INTEGER NOT NULL, byte_offset INTEGER NOT NULL, byte_len INTEGER NOT NULL,"
    " n_tokens INTEGER NOT NULL, text BLOB NOT NULL, vector BLOB NOT NULL,"
    " PRIMARY KEY(doc_id, idx)) WITHOUT ROWID;"
    "CREATE INDEX chunks_by_collection ON chunks(collection_id);"
    "CREATE TABLE lineage(adapter_id TEXT NOT NULL, doc_id INTEGER NOT NULL,"
    " PRIMARY KEY(adapter_id, doc_id)) WITHOUT ROWID;"
    "CREATE INDEX lineage_by_doc ON lineage(doc_id);"
    "CREATE TABLE adapters_stale(adapter_id TEXT PRIMARY KEY, since INTEGER NOT NULL,"
    " doc_id INTEGER NOT NULL);"
    "ALTER TABLE chunks ADD COLUMN context_offset INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE chunks ADD COLUMN context_len INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE reembedded(doc_id INTEGER NOT NULL, idx INTEGER NOT NULL, collection_id INTEGER NOT NULL,"
    " embedder TEXT NOT NULL, vector BLOB NOT NULL,"
    " PRIMARY KEY(doc_id, idx)) WITHOUT ROWID;"
    "CREATE INDEX reembedded_by_collection ON reembedded(collection_id, embedder);"
    "INSERT INTO schema_version(version) VALUES(1);"
    "INSERT INTO schema_version(version) VALUES(2);";

/* Puts one document of `source` and returns what happened (id 0 on error). */
static ed_document_put_t put_doc(ed_store_t *store, int64_t collection_id, const char *source, const char *text,
                                 bool force)
{
    test_doc_t d;
    test_doc(&d, collection_id, "note", text, (int)strlen(text));
    d.in.source = source;
    d.in.force = force;
    ed_document_put_t put = {0};
    char err[ED_ERR_LEN];
    int rc = ed_store_documents_put(store, &d.in, 1, &put, err);
    if (rc != 0)
        printf("#   documents_put: %s: %s\n", ed_err_name(rc), err);
    return put;
}

static int lexical_hits(ed_store_t *store, int64_t collection_id, const char *query)
{
    ed_lexical_hit_t hits[16];
    int n_hits = -1;
    char err[ED_ERR_LEN];
    if (ed_store_lexical_search(store, query, &collection_id, 1, 16, hits, &n_hits, err) != 0)
        return -1;
    return n_hits;
}

ED_TEST(put_by_source_keeps_the_same_and_replaces_the_changed)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "";
    int64_t c = make_collection(store, "notes"), other = make_collection(store, "other");
    const char *source = "notes/travel/zanzibar-itinerary.md";
    const char *v1 = "Old plan: the ferry to Zanzibar leaves on Monday from the harbour, bring the yellow "
                     "fever card and the printed tickets, and meet Quentin at the pier.";
    const char *v2 = "Fly to Nairobi on Friday.";

    ed_document_put_t first = put_doc(store, c, source, v1, false);
    ED_REQUIRE(first.id > 0);
    ED_CHECK_INT(first.outcome, ED_DOCUMENT_ADDED);
    ED_CHECK_INT(first.version, 1);
    int n_v1 = first.n_chunks;
    ED_REQUIRE(n_v1 >= 2);

    /* The same source and content: nothing written, the same document. */
    int64_t g = ed_store_generation(store);
    ed_document_put_t again = put_doc(store, c, source, v1, false);
    ED_CHECK_INT(again.outcome, ED_DOCUMENT_UNCHANGED);
    ED_CHECK_INT(again.id, first.id);
    ED_CHECK_INT(again.version, 1);
    ED_CHECK_INT(again.n_chunks, n_v1);
    ED_CHECK_INT(ed_store_generation(store), g);
    ed_collection_t coll;
    ED_REQUIRE(ed_store_collection_by_id(store, c, &coll, err) == 0);
    ED_CHECK_INT(coll.n_documents, 1);
    ED_CHECK_INT(lexical_hits(store, c, "Quentin"), 1);
    test_doc_t probe;
    test_doc(&probe, c, "note", v1, 0);
    probe.in.source = source;
    ed_document_put_t match;
    ED_REQUIRE(ed_store_document_match(store, &probe.in, &match, err) == 0);
    ED_CHECK_INT(match.outcome, ED_DOCUMENT_UNCHANGED);
    ED_CHECK_INT(match.id, first.id);
    probe.in.title = "another title";
    ED_REQUIRE(ed_store_document_match(store, &probe.in, &match, err) == 0);
    ED_CHECK_INT(match.outcome, ED_DOCUMENT_REPLACED);
    probe.in.source = "notes/elsewhere.md";
    ED_CHECK_INT(ed_store_document_match(store, &probe.in, &match, err), ED_ENOENT);

    /* Other content: replaced in place, the old chunks and their lexical
     * rows gone, adapters trained on it stale. */
    ED_REQUIRE(ed_store_lineage_add(store, "lora-trip", first.id, err) == 0);
    ed_document_put_t replaced = put_doc(store, c, source, v2, false);
    ED_CHECK_INT(replaced.outcome, ED_DOCUMENT_REPLACED);
    ED_CHECK_INT(replaced.id, first.id);
    ED_CHECK_INT(replaced.version, 2);
    ED_CHECK_INT(replaced.n_old_chunks, n_v1);
    ED_CHECK_INT(replaced.n_chunks, 1);
    ED_CHECK_INT(ed_store_generation(store), g + 1);
    bool stale = false;
    ED_REQUIRE(ed_store_adapter_stale(store, "lora-trip", &stale, err) == 0);
    ED_CHECK(stale);
    ed_document_t doc;
    ED_REQUIRE(ed_store_document_get(store, first.id, true, &doc, err) == 0);
    ED_CHECK_STR(doc.text, v2);
    ED_CHECK_INT(doc.version, 2);
    ED_CHECK_INT(doc.n_chunks, 1);
    ed_document_free(&doc);
    ed_chunk_t chunk;
    ED_CHECK_INT(ed_store_chunk_get(store, ed_chunk_id(first.id, 1), &chunk, err), ED_ENOENT);
    ED_CHECK_INT(lexical_hits(store, c, "Quentin"), 0);
    ED_CHECK_INT(lexical_hits(store, c, "Nairobi"), 1);
    ED_REQUIRE(ed_store_collection_by_id(store, c, &coll, err) == 0);
    ED_CHECK_INT(coll.n_documents, 1);
    ED_CHECK_INT(coll.n_chunks, 1);

    /* force replaces the same content; another collection, or no source,
     * adds. */
    ed_document_put_t forced = put_doc(store, c, source, v2, true);
    ED_CHECK_INT(forced.outcome, ED_DOCUMENT_REPLACED);
    ED_CHECK_INT(forced.version, 3);
    ED_CHECK_INT(lexical_hits(store, c, "Nairobi"), 1);
    ed_document_put_t elsewhere = put_doc(store, other, source, v2, false);
    ED_CHECK_INT(elsewhere.outcome, ED_DOCUMENT_ADDED);
    ED_CHECK(elsewhere.id != first.id);
    ed_document_put_t a = put_doc(store, c, "", v2, false), b = put_doc(store, c, "", v2, false);
    ED_CHECK(a.id > 0 && b.id > a.id && a.outcome == ED_DOCUMENT_ADDED && b.outcome == ED_DOCUMENT_ADDED);

    /* A source longer than ED_STORE_SOURCE_MAX is refused. */
    char long_source[ED_STORE_SOURCE_MAX + 2];
    memset(long_source, 'x', sizeof long_source - 1);
    long_source[sizeof long_source - 1] = '\0';
    test_doc(&probe, c, "note", v2, 0);
    probe.in.source = long_source;
    ed_document_put_t refused;
    ED_CHECK_INT(ed_store_documents_put(store, &probe.in, 1, &refused, err), ED_EINVAL);
    ED_CHECK(strstr(err, "source") != NULL);

    /* Two documents of one batch with one source: the second finds the first. */
    test_doc_t d1, d2;
    test_doc(&d1, c, "twin", "Twin note about the garden hose.", 1);
    test_doc(&d2, c, "twin", "Twin note about the garden hose.", 1);
    d1.in.source = d2.in.source = "notes/twin.md";
    ed_document_in_t docs[2] = {d1.in, d2.in};
    ed_document_put_t puts[2];
    ED_REQUIRE(ed_store_documents_put(store, docs, 2, puts, err) == 0);
    ED_CHECK_INT(puts[0].outcome, ED_DOCUMENT_ADDED);
    ED_CHECK_INT(puts[1].outcome, ED_DOCUMENT_UNCHANGED);
    ED_CHECK_INT(puts[1].id, puts[0].id);
    ed_store_close(store);

    /* Neither the source nor a plain hash of the content is on disk; the
     * replaced text's sealed pages left the WAL. */
    ED_CHECK(!found_under(dir, source));
    ED_CHECK(!found_under(dir, "zanzibar"));
    uint8_t digest[32];
    char hex[65];
    ed_seal_sha256(v2, strlen(v2), digest);
    ed_seal_sha256_hex(v2, strlen(v2), hex);
    ED_CHECK(!bytes_under(dir, digest, sizeof digest));
    ED_CHECK(!found_under(dir, hex));
    ed_seal_sha256(source, strlen(source), digest);
    ED_CHECK(!bytes_under(dir, digest, sizeof digest));

    /* After a reopen the source is still found. */
    store = open_store(dir);
    ED_REQUIRE(store);
    again = put_doc(store, c, source, v2, false);
    ED_CHECK_INT(again.outcome, ED_DOCUMENT_UNCHANGED);
    ED_CHECK_INT(again.version, 3);
    ed_store_close(store);
}

/* A store of schema 2 (before idempotent ingest): made by this code, then
 * taken back to schema 2's tables by SQL, as an older edged left it. */
ED_TEST(schema_2_store_opens_migrates_and_finds_old_sources)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    int64_t c = make_collection(store, "notes");
    ed_document_put_t kept = put_doc(store, c, "notes/a.md", "Alpha note about the bicycle lock code.", false);
    ed_document_put_t changed = put_doc(store, c, "notes/b.md", "Beta note about the boiler service.", false);
    ed_document_put_t bare = put_doc(store, c, "", "Gamma note without a source.", false);
    ED_REQUIRE(kept.id > 0 && changed.id > 0 && bare.id > 0);
    ed_store_close(store);
    ED_REQUIRE(raw_sql(dir, "DROP INDEX documents_by_source;"
                            "ALTER TABLE documents DROP COLUMN content_mac;"
                            "ALTER TABLE documents DROP COLUMN source_key;"
                            "ALTER TABLE documents DROP COLUMN version;"
                            "DROP TABLE adapters; DROP TABLE adapter_versions; DROP TABLE jobs;"
                            "DELETE FROM schema_version WHERE version > 2;") == SQLITE_OK);

    store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "";
    ed_document_t doc;
    ED_REQUIRE(ed_store_document_get(store, kept.id, true, &doc, err) == 0);
    ED_CHECK_INT(doc.version, 1);
    ED_CHECK_STR(doc.source, "notes/a.md");
    ed_document_free(&doc);
    ed_document_put_t put = put_doc(store, c, "notes/a.md", "Alpha note about the bicycle lock code.", false);
    ED_CHECK_INT(put.outcome, ED_DOCUMENT_UNCHANGED);
    ED_CHECK_INT(put.id, kept.id);
    put = put_doc(store, c, "notes/b.md", "Beta note: the boiler service moved to June.", false);
    ED_CHECK_INT(put.outcome, ED_DOCUMENT_REPLACED);
    ED_CHECK_INT(put.id, changed.id);
    ED_CHECK_INT(put.version, 2);
    put = put_doc(store, c, "", "Gamma note without a source.", false);
    ED_CHECK_INT(put.outcome, ED_DOCUMENT_ADDED);
    ed_store_close(store);

    /* A plain schema-2 database (no rows) opens too. */
    const char *dir2 = test_dir();
    char path[PATH_MAX];
    test_path(path, dir2, "edged.db");
    sqlite3 *db = NULL;
    ED_REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    ED_REQUIRE(sqlite3_exec(db, SCHEMA_2_DDL, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    store = open_store(dir2);
    ED_REQUIRE(store);
    c = make_collection(store, "notes");
    put = put_doc(store, c, "notes/a.md", "Alpha.", false);
    ED_CHECK_INT(put.outcome, ED_DOCUMENT_ADDED);
    ED_CHECK_INT(put_doc(store, c, "notes/a.md", "Alpha.", false).outcome, ED_DOCUMENT_UNCHANGED);
    ed_store_close(store);
}

/* The adapter registry's record (schema 4): a second handle beside the
 * store's; files sealed under STATE_DIR/adapters (the plain bytes are not on
 * disk); versions count up per name and are never reused; the active mark
 * persists and goes with its adapter. */
ED_TEST(adapters_sealed_versioned_and_active)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir), *reg = NULL;
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "";
    ED_REQUIRE(ed_store_open_adapters(&reg, dir, NULL, err) == 0);
    static const char plain[] = "GGUF adapter bytes: a distinctive marker 7731";
    ed_adapter_row_t a = {.name = "style", .fingerprint = "fnv1a64:0", .rank = 8, .has_alpha = true,
                          .alpha = 16, .targets = "attn_q", .source = "imported", .status = "ready"};
    ed_adapter_row_t b = a, c = a;
    ED_REQUIRE(ed_store_adapter_add(reg, &a, plain, sizeof plain, err) == 0);
    ED_REQUIRE(ed_store_adapter_add(reg, &b, plain, sizeof plain, err) == 0);
    snprintf(c.name, sizeof c.name, "other");
    ED_REQUIRE(ed_store_adapter_add(reg, &c, plain, sizeof plain, err) == 0);
    ED_CHECK_INT(a.version, 1);
    ED_CHECK_INT(b.version, 2);
    ED_CHECK_INT(c.version, 1);
    ED_CHECK(strcmp(a.id, b.id) != 0);
    ED_CHECK_INT(a.size, (int64_t)sizeof plain);
    ED_CHECK_INT(found_under(dir, "distinctive marker"), 0);
    void *data;
    size_t len;
    ED_REQUIRE(ed_store_adapter_read(reg, b.id, &data, &len, err) == 0);
    ED_CHECK(len == sizeof plain && memcmp(data, plain, len) == 0);
    free(data);
    ED_CHECK_INT(ed_store_adapter_read(reg, "ad-000000000000", &data, &len, err), ED_ENOENT);
    ED_CHECK_INT(ed_store_adapter_read(reg, "../edged.db", &data, &len, err), ED_ENOENT);

    ED_REQUIRE(ed_store_adapter_set_active(reg, b.id, err) == 0);
    ed_store_close(reg);
    ED_REQUIRE(ed_store_open_adapters(&reg, dir, NULL, err) == 0);
    char active[32];
    ED_REQUIRE(ed_store_adapter_get_active(reg, active, err) == 0);
    ED_CHECK_STR(active, b.id);
    ED_REQUIRE(ed_store_adapter_delete(reg, b.id, err) == 0);
    ED_CHECK_INT(ed_store_adapter_delete(reg, b.id, err), ED_ENOENT);
    ED_REQUIRE(ed_store_adapter_get_active(reg, active, err) == 0);
    ED_CHECK_STR(active, "");
    ed_adapter_row_t d = a;
    ED_REQUIRE(ed_store_adapter_add(reg, &d, plain, sizeof plain, err) == 0);
    ED_CHECK_INT(d.version, 3); /* 2 was deleted, not reused */
    ed_adapter_row_t *rows;
    int n;
    ED_REQUIRE(ed_store_adapters_list(reg, &rows, &n, err) == 0);
    ED_REQUIRE(n == 3);
    ED_CHECK_STR(rows[0].name, "other");
    ED_CHECK_STR(rows[1].id, a.id);
    ED_CHECK_INT(rows[2].version, 3);
    ED_CHECK(rows[1].has_alpha && rows[1].alpha == 16 && rows[1].rank == 8);
    ED_CHECK_STR(rows[1].targets, "attn_q");
    free(rows);
    ed_store_close(reg);
    ed_store_close(store);
}

ED_TEST_MAIN(adapters_sealed_versioned_and_active, creates_key_file_0600_and_refuses_0644, wrong_key_file_is_eacces,
             key_from_configured_file_and_credentials_directory, collections_round_trip,
             documents_chunks_and_vectors_round_trip, sealed_text_never_on_disk_and_delete_leaves_no_trace,
             flipped_or_swapped_sealed_column_is_ecorrupt, blobs_round_trip_and_detect_damage,
             fsync_failure_turns_the_store_read_only, lexical_search_ranks_and_ignores_query_syntax,
             lineage_marks_adapters_stale_on_delete, reopen_keeps_everything, kept_reembedding_vectors_resume_and_go,
             put_by_source_keeps_the_same_and_replaces_the_changed,
             schema_2_store_opens_migrates_and_finds_old_sources)
