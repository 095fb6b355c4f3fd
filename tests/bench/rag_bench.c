/* rag_bench.c - the personal store's benchmark (make bench), on the store
 * and rag building blocks directly: ingest chunks/s (chunk, embed, seal and
 * commit, index) with the hash embedder and with a small BERT fixture
 * (mkmodel --arch bert); search latency p50/p99 at 10k and 100k chunks for
 * flat and HNSW indexes, dense and hybrid (dense + the store's FTS5 BM25,
 * fused by RRF), each including the query's embedding and fetching the hits'
 * text; index seal+save and load+unseal times; resident memory per 10k
 * chunks. Each corpus size runs in a child process so that its memory is
 * measured alone. EDGED_BENCH_QUICK=1: 10k chunks only, fewer queries. */
#include "core/error.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "rag/chunker.h"
#include "rag/embedder.h"
#include "rag/embedder_model.h"
#include "rag/fusion.h"
#include "rag/index.h"
#include "store/store.h"

#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH_DOCS 100  /* documents per store transaction (one batch ingest request) */
#define CHUNK_TOKENS 64 /* the chunker's budget here: ~3 chunks per synthetic note */
#define CHUNK_OVERLAP 8
#define TOP_K 10        /* hits a search returns (and fetches the text of) */
#define FUSE_DEPTH 50   /* candidates each list gives the fusion */
#define MAX_SIZES 2

typedef struct {
    double p50_ms, p99_ms;
} latency_t;

/* What one corpus size measured (filled by its child process). */
typedef struct {
    int64_t chunks;
    double ingest_s;           /* chunk + embed + seal/commit + flat index add */
    double embed_s;            /* of which embedding */
    double hnsw_build_s;       /* one HNSW index from the same vectors */
    latency_t search[2][2];    /* [flat, hnsw][dense, hybrid] */
    double save_ms[2], load_ms[2]; /* [flat, hnsw]: serialise+seal+write, read+unseal+deserialise */
    double blob_mib[2];        /* serialised index sizes */
    double rss_store_mib;      /* resident growth: store (SQLite, FTS5) + flat index */
    double rss_hnsw_mib;       /* resident growth of the HNSW index */
    int ok;
    char err[ED_ERR_LEN];
} size_result_t;

typedef struct {
    int64_t chunks;
    double ingest_s, embed_s;
    char name[96];
    int ok;
    char err[ED_ERR_LEN];
} model_result_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static const char *const WORDS[] = {
    "dentist", "appointment", "tuesday", "garden", "receipt", "flight", "lisbon", "recipe", "flour",
    "eggs", "milk", "passport", "folder", "meeting", "alice", "bob", "carol", "dave", "invoice",
    "insurance", "car", "repair", "bicycle", "train", "ticket", "hotel", "booking", "birthday",
    "present", "school", "teacher", "doctor", "pharmacy", "prescription", "tax", "return", "bank",
    "account", "password", "wifi", "router", "plumber", "kitchen", "roof", "holiday", "beach",
    "mountain", "museum", "concert", "dinner", "lunch", "breakfast", "coffee", "tea", "soup",
    "salad", "chicken", "rice", "pasta", "tomato", "onion", "garlic", "butter", "sugar", "salt",
    "monday", "wednesday", "thursday", "friday", "saturday", "sunday", "morning", "evening",
    "january", "march", "may", "july", "september", "november", "phone", "number", "address",
    "street", "city", "gate", "platform", "seat", "window", "luggage", "blue", "green", "red",
    "paid", "euro", "price", "shop", "market", "library", "book", "renew", "gym", "yoga",
};
enum { N_WORDS = sizeof WORDS / sizeof WORDS[0] };

/* A synthetic note: three paragraphs of 30-50 words with numbers. */
static size_t make_note(char *out, size_t cap, int64_t n)
{
    size_t len = (size_t)snprintf(out, cap, "Note %lld", (long long)n);
    for (int p = 0; p < 3; p++) {
        len += (size_t)snprintf(out + len, cap - len, "%s", p ? "\n\n" : ".\n\n");
        int words = 30 + (int)(rng() % 21);
        for (int w = 0; w < words && len + 32 < cap; w++) {
            if (rng() % 9 == 0)
                len += (size_t)snprintf(out + len, cap - len, "%s%u", w ? " " : "", rng() % 1000);
            else
                len += (size_t)snprintf(out + len, cap - len, "%s%s", w ? " " : "", WORDS[rng() % N_WORDS]);
        }
        len += (size_t)snprintf(out + len, cap - len, ".");
    }
    return len;
}

static void make_query(char *out, size_t cap)
{
    snprintf(out, cap, "%s %s %s", WORDS[rng() % N_WORDS], WORDS[rng() % N_WORDS], WORDS[rng() % N_WORDS]);
}

/* Ingests notes into `collection` until it holds at least `target` chunks:
 * chunk, embed, commit BATCH_DOCS documents per transaction, add to `index`
 * (may be NULL). *vectors_out (may be NULL) receives every vector, in index
 * order with *ids_out. */
typedef struct {
    int64_t chunks;
    double total_s, embed_s;
    float *vectors; /* (chunks * dim) when kept */
    int64_t *ids;
} fill_t;

static int fill(ed_store_t *store, const ed_collection_t *collection, ed_embedder_t *embedder, ed_index_t *index,
                int64_t target, bool keep, fill_t *out, char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    const int dim = embedder->dim;
    ed_chunker_config_t config = {.chunk_tokens = CHUNK_TOKENS, .chunk_overlap = CHUNK_OVERLAP};
    enum { NOTE_CAP = 2048, MAX_CHUNKS = 16 };
    char *texts = malloc((size_t)BATCH_DOCS * NOTE_CAP);
    size_t lens[BATCH_DOCS];
    ed_chunk_in_t *chunk_in = malloc((size_t)BATCH_DOCS * MAX_CHUNKS * sizeof *chunk_in);
    float *vectors = malloc((size_t)BATCH_DOCS * MAX_CHUNKS * (size_t)dim * sizeof *vectors);
    int64_t *batch_ids = malloc((size_t)BATCH_DOCS * MAX_CHUNKS * sizeof *batch_ids);
    ed_document_in_t docs[BATCH_DOCS];
    int64_t doc_ids[BATCH_DOCS];
    int64_t cap_keep = keep ? target + BATCH_DOCS * MAX_CHUNKS : 0;
    if (keep) {
        out->vectors = malloc((size_t)cap_keep * (size_t)dim * sizeof *out->vectors);
        out->ids = malloc((size_t)cap_keep * sizeof *out->ids);
    }
    int rc = texts && chunk_in && vectors && batch_ids && (!keep || (out->vectors && out->ids)) ? 0 : ED_ENOMEM;
    if (rc)
        snprintf(err, ED_ERR_LEN, "out of memory");
    double start = now_s();
    int64_t note = 0;
    while (rc == 0 && out->chunks < target) {
        int n_chunk_in = 0;
        for (int d = 0; rc == 0 && d < BATCH_DOCS; d++) {
            char *text = texts + (size_t)d * NOTE_CAP;
            lens[d] = make_note(text, NOTE_CAP, ++note);
            ed_chunk_span_t *spans = NULL;
            int n_spans = 0;
            rc = ed_chunker_split(&config, text, lens[d], NULL, 0, &spans, &n_spans, err);
            if (rc == 0 && n_spans > MAX_CHUNKS)
                n_spans = MAX_CHUNKS;
            docs[d] = (ed_document_in_t){.collection_id = collection->id, .title = "note", .source = "",
                                         .text = text, .text_len = lens[d], .chunks = chunk_in + n_chunk_in,
                                         .n_chunks = n_spans};
            double t0 = now_s();
            for (int c = 0; rc == 0 && c < n_spans; c++) {
                float *v = vectors + (size_t)(n_chunk_in + c) * (size_t)dim;
                rc = ed_embedder_embed(embedder, text + spans[c].offset, spans[c].len, v);
                if (rc)
                    snprintf(err, ED_ERR_LEN, "embedding failed: %s", ed_strerror(rc));
                chunk_in[n_chunk_in + c] = (ed_chunk_in_t){.offset = spans[c].offset, .len = spans[c].len,
                                                           .n_tokens = spans[c].n_tokens, .vector = v};
                docs[d].n_tokens += spans[c].n_tokens;
            }
            out->embed_s += now_s() - t0;
            n_chunk_in += n_spans;
            free(spans);
        }
        if (rc == 0)
            rc = ed_store_documents_add(store, docs, BATCH_DOCS, doc_ids, err);
        int n = 0;
        for (int d = 0; rc == 0 && d < BATCH_DOCS; d++)
            for (int c = 0; c < docs[d].n_chunks; c++)
                batch_ids[n++] = ed_chunk_id(doc_ids[d], c);
        if (rc == 0 && index)
            rc = ed_index_add(index, batch_ids, vectors, n, err);
        if (rc == 0 && keep) {
            memcpy(out->vectors + (size_t)out->chunks * (size_t)dim, vectors, (size_t)n * (size_t)dim * sizeof *vectors);
            memcpy(out->ids + out->chunks, batch_ids, (size_t)n * sizeof *batch_ids);
        }
        out->chunks += n;
    }
    out->total_s = now_s() - start;
    free(texts);
    free(chunk_in);
    free(vectors);
    free(batch_ids);
    return rc;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static latency_t percentiles(double *ms, int n)
{
    qsort(ms, (size_t)n, sizeof *ms, compare_double);
    int p99 = (int)(0.99 * (n - 1) + 0.5);
    return (latency_t){ms[(n - 1) / 2], ms[p99]};
}

/* One search as the service does it: embed the query, dense top-k (hybrid:
 * FUSE_DEPTH from each of dense and lexical, fused by RRF), then fetch the
 * TOP_K hits' chunks (unsealing their text). */
static int search_once(ed_store_t *store, int64_t collection_id, ed_embedder_t *embedder, ed_index_t *index,
                       const char *query, bool hybrid, float *qvec, char err[ED_ERR_LEN])
{
    ed_index_hit_t dense[FUSE_DEPTH];
    ed_lexical_hit_t lexical[FUSE_DEPTH];
    int64_t dense_ids[FUSE_DEPTH], lexical_ids[FUSE_DEPTH], top[TOP_K];
    int n_dense = 0, n_lexical = 0, n_top = 0;
    int rc = ed_embedder_embed(embedder, query, strlen(query), qvec);
    if (rc == 0)
        rc = ed_index_search(index, qvec, hybrid ? FUSE_DEPTH : TOP_K, dense, &n_dense, err);
    if (rc == 0 && hybrid)
        rc = ed_store_lexical_search(store, query, &collection_id, 1, FUSE_DEPTH, lexical, &n_lexical, err);
    if (rc)
        return rc;
    if (hybrid) {
        for (int i = 0; i < n_dense; i++)
            dense_ids[i] = dense[i].id;
        for (int i = 0; i < n_lexical; i++)
            lexical_ids[i] = lexical[i].chunk_id;
        ed_fusion_list_t lists[2] = {{dense_ids, n_dense, 1.0}, {lexical_ids, n_lexical, 1.0}};
        ed_fusion_hit_t fused[TOP_K];
        rc = ed_fusion_rrf(lists, 2, ED_FUSION_RRF_K, fused, TOP_K, &n_top);
        if (rc) {
            snprintf(err, ED_ERR_LEN, "fusion failed: %s", ed_strerror(rc));
            return rc;
        }
        for (int i = 0; i < n_top; i++)
            top[i] = fused[i].id;
    } else {
        for (int i = 0; i < n_dense; i++)
            top[n_top++] = dense[i].id;
    }
    for (int i = 0; rc == 0 && i < n_top; i++) {
        ed_chunk_t chunk;
        rc = ed_store_chunk_get(store, top[i], &chunk, err);
        if (rc == 0)
            ed_chunk_free(&chunk);
    }
    return rc;
}

static int measure_search(ed_store_t *store, int64_t collection_id, ed_embedder_t *embedder, ed_index_t *index,
                          bool hybrid, int n_queries, latency_t *out, char err[ED_ERR_LEN])
{
    double *ms = malloc((size_t)n_queries * sizeof *ms);
    float *qvec = malloc((size_t)embedder->dim * sizeof *qvec);
    int rc = ms && qvec ? 0 : ED_ENOMEM;
    char query[128];
    for (int i = 0; rc == 0 && i < n_queries; i++) {
        make_query(query, sizeof query);
        double t0 = now_s();
        rc = search_once(store, collection_id, embedder, index, query, hybrid, qvec, err);
        ms[i] = (now_s() - t0) * 1e3;
    }
    if (rc == 0)
        *out = percentiles(ms, n_queries);
    free(ms);
    free(qvec);
    return rc;
}

/* Saves `index` as a sealed blob and loads it back, timing both. */
static int save_load(ed_store_t *store, ed_index_t *index, const char *name, int dim, int64_t threshold,
                     double *save_ms, double *load_ms, double *mib, char err[ED_ERR_LEN])
{
    void *data = NULL, *back = NULL;
    size_t len = 0, back_len = 0;
    int64_t generation = 0;
    ed_index_t *loaded = NULL;
    double t0 = now_s();
    int rc = ed_index_save(index, &data, &len, err);
    if (rc == 0)
        rc = ed_store_blob_save(store, name, data, len, ed_store_generation(store), err);
    double t1 = now_s();
    if (rc == 0)
        rc = ed_store_blob_load(store, name, &back, &back_len, &generation, err);
    if (rc == 0)
        rc = ed_index_load(&loaded, back, back_len, dim, threshold, err);
    double t2 = now_s();
    if (rc == 0 && ed_index_count(loaded) != ed_index_count(index)) {
        snprintf(err, ED_ERR_LEN, "the loaded index holds %lld vectors, not %lld", (long long)ed_index_count(loaded),
                 (long long)ed_index_count(index));
        rc = ED_ECORRUPT;
    }
    *save_ms = (t1 - t0) * 1e3;
    *load_ms = (t2 - t1) * 1e3;
    *mib = (double)len / (1024.0 * 1024.0);
    ed_index_free(loaded);
    free(data);
    free(back);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Everything for one corpus size, in a fresh store under a temp dir. */
static void bench_size(int64_t target, int n_queries, size_result_t *r)
{
    char dir[] = "/tmp/edged-rag-bench-XXXXXX";
    ed_store_t *store = NULL;
    ed_embedder_t *embedder = NULL;
    ed_index_t *flat = NULL, *hnsw = NULL;
    ed_collection_t collection;
    fill_t f = {0};
    char *err = r->err;
    if (!mkdtemp(dir)) {
        snprintf(err, ED_ERR_LEN, "mkdtemp failed");
        return;
    }
    double rss0 = rss_mib();
    int rc = ed_store_open(&store, dir, NULL, err);
    if (rc == 0)
        rc = ed_embedder_hash_init(&embedder, err);
    if (rc == 0)
        rc = ed_store_collection_create(store, "bench", 0, embedder->name, embedder->dim, &collection, err);
    if (rc == 0)
        rc = ed_index_init(&flat, embedder->dim, INT64_MAX, err);
    if (rc == 0)
        rc = fill(store, &collection, embedder, flat, target, true, &f, err);
    if (rc)
        goto done;
    r->chunks = f.chunks;
    r->ingest_s = f.total_s;
    r->embed_s = f.embed_s;
    double rss1 = rss_mib();
    r->rss_store_mib = rss1 - rss0;
    double t0 = now_s();
    rc = ed_index_init(&hnsw, embedder->dim, 0, err);
    if (rc == 0)
        rc = ed_index_add(hnsw, f.ids, f.vectors, f.chunks, err);
    r->hnsw_build_s = now_s() - t0;
    r->rss_hnsw_mib = rss_mib() - rss1;
    free(f.vectors);
    free(f.ids);
    f.vectors = NULL, f.ids = NULL;
    ed_index_t *indexes[2] = {flat, hnsw};
    for (int i = 0; rc == 0 && i < 2; i++)
        for (int h = 0; rc == 0 && h < 2; h++)
            rc = measure_search(store, collection.id, embedder, indexes[i], h == 1, n_queries, &r->search[i][h], err);
    for (int i = 0; rc == 0 && i < 2; i++)
        rc = save_load(store, indexes[i], i ? "bench-hnsw.faiss" : "bench-flat.faiss", embedder->dim,
                       i ? 0 : INT64_MAX, &r->save_ms[i], &r->load_ms[i], &r->blob_mib[i], err);
    r->ok = rc == 0;
done:
    free(f.vectors);
    free(f.ids);
    ed_index_free(flat);
    ed_index_free(hnsw);
    ed_embedder_free(embedder);
    ed_store_close(store);
    remove_tree(dir);
}

/* Ingest with the model embedder: a small BERT written by mkmodel. */
static void bench_model(int64_t target, model_result_t *r)
{
    char dir[] = "/tmp/edged-rag-bench-XXXXXX";
    char *err = r->err;
    if (!mkdtemp(dir)) {
        snprintf(err, ED_ERR_LEN, "mkdtemp failed");
        return;
    }
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char model[512], command[2048];
    snprintf(model, sizeof model, "%s/bert.gguf", dir);
    snprintf(command, sizeof command,
             "%s/tests/tools/mkmodel --arch bert --vocab ../shared/testdata/vocab/ggml-vocab-bert-bge.gguf "
             "--out %s --type f16 --n-embd 128 --n-layer 2 --n-head 4 --n-ff 512 --ctx 512 >/dev/null 2>&1",
             build, model);
    ed_store_t *store = NULL;
    ed_embedder_t *embedder = NULL;
    ed_pool_t *pool = NULL;
    ed_collection_t collection;
    fill_t f = {0};
    int rc = system(command) == 0 ? 0 : ED_EIO;
    if (rc)
        snprintf(err, ED_ERR_LEN, "could not write the BERT fixture with %s/tests/tools/mkmodel", build);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (rc == 0)
        rc = ed_pool_open(&pool, cores > 0 && cores < 4 ? (int)cores : 4, err);
    if (rc == 0)
        rc = ed_embedder_model_init(&embedder, model, ed_kernels_select(NULL), pool, err);
    if (rc == 0)
        rc = ed_store_open(&store, dir, NULL, err);
    if (rc == 0)
        rc = ed_store_collection_create(store, "bench", 0, embedder->name, embedder->dim, &collection, err);
    if (rc == 0)
        rc = fill(store, &collection, embedder, NULL, target, false, &f, err);
    if (rc == 0) {
        r->chunks = f.chunks;
        r->ingest_s = f.total_s;
        r->embed_s = f.embed_s;
        snprintf(r->name, sizeof r->name, "%s (%d wide)", embedder->name, embedder->dim);
        r->ok = 1;
    }
    ed_store_close(store);
    ed_embedder_free(embedder);
    ed_pool_close(pool);
    remove_tree(dir);
}

/* Runs fn in a child process; the results come back through shared memory. */
static void *shared(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : memset(p, 0, size);
}

static int wait_child(pid_t pid)
{
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(void)
{
    bool quick = getenv("EDGED_BENCH_QUICK") && strcmp(getenv("EDGED_BENCH_QUICK"), "0") != 0;
    const int64_t sizes[MAX_SIZES] = {10000, 100000};
    int n_sizes = quick ? 1 : 2;
    int n_queries = quick ? 100 : 300;
    size_result_t *results = shared(MAX_SIZES * sizeof *results);
    model_result_t *model = shared(sizeof *model);
    if (!results || !model) {
        fprintf(stderr, "rag_bench: mmap failed\n");
        return 1;
    }
    int failed = 0;
    fflush(stdout);
    for (int s = 0; s < n_sizes; s++) {
        pid_t pid = fork();
        if (pid == 0) {
            bench_size(sizes[s], n_queries, &results[s]);
            _exit(0);
        }
        if (wait_child(pid) != 0 || !results[s].ok) {
            fprintf(stderr, "rag_bench: %lld chunks: %s\n", (long long)sizes[s],
                    results[s].err[0] ? results[s].err : "the child process failed");
            failed = 1;
        }
    }
    pid_t pid = fork();
    if (pid == 0) {
        bench_model(quick ? 300 : 1000, model);
        _exit(0);
    }
    if (wait_child(pid) != 0 || !model->ok) {
        fprintf(stderr, "rag_bench: model embedder: %s\n", model->err[0] ? model->err : "the child process failed");
        failed = 1;
    }

    printf("rag_bench%s: synthetic notes (~3 chunks of <= %d tokens each), %d documents per commit, hash "
           "embedder unless named\n\n",
           quick ? " (quick)" : "", CHUNK_TOKENS, BATCH_DOCS);
    printf("ingest (chunk + embed + seal/commit + index)\n");
    printf("| embedder                         | chunks |  chunks/s | embedding share |\n");
    printf("|----------------------------------|-------:|----------:|----------------:|\n");
    for (int s = 0; s < n_sizes; s++)
        if (results[s].ok)
            printf("| %-32s | %6lld | %9.0f | %14.0f%% |\n", "hash-v1-384 (flat index)", (long long)results[s].chunks,
                   (double)results[s].chunks / results[s].ingest_s, 100 * results[s].embed_s / results[s].ingest_s);
    if (model->ok)
        printf("| %-32s | %6lld | %9.1f | %14.0f%% |\n", model->name, (long long)model->chunks,
               (double)model->chunks / model->ingest_s, 100 * model->embed_s / model->ingest_s);

    static const char *const index_names[2] = {"flat", "HNSW32"};
    static const char *const mode_names[2] = {"dense", "hybrid"};
    printf("\nsearch latency, top %d with text (query embedding, search%s, chunk fetch + unseal)\n", TOP_K,
           ", for hybrid BM25 + RRF");
    printf("| chunks | index  | mode   | p50 ms | p99 ms |\n");
    printf("|-------:|--------|--------|-------:|-------:|\n");
    for (int s = 0; s < n_sizes; s++)
        for (int i = 0; results[s].ok && i < 2; i++)
            for (int m = 0; m < 2; m++)
                printf("| %6lld | %-6s | %-6s | %6.2f | %6.2f |\n", (long long)results[s].chunks, index_names[i],
                       mode_names[m], results[s].search[i][m].p50_ms, results[s].search[i][m].p99_ms);

    printf("\nindex files (sealed with AES-256-GCM, written by the atomic protocol)\n");
    printf("| chunks | index  |   MiB | build s | seal+save ms | load+unseal ms |\n");
    printf("|-------:|--------|------:|--------:|-------------:|---------------:|\n");
    for (int s = 0; s < n_sizes; s++)
        for (int i = 0; results[s].ok && i < 2; i++)
            printf("| %6lld | %-6s | %5.1f | %7.2f | %12.1f | %14.1f |\n", (long long)results[s].chunks,
                   index_names[i], results[s].blob_mib[i], i ? results[s].hnsw_build_s : results[s].ingest_s,
                   results[s].save_ms[i], results[s].load_ms[i]);
    printf("(flat build s: the whole ingest, the index adds included)\n");

    printf("\nresident memory\n");
    printf("| chunks | store + flat index MiB | per 10k chunks MiB | HNSW index MiB | per 10k chunks MiB |\n");
    printf("|-------:|-----------------------:|-------------------:|---------------:|-------------------:|\n");
    for (int s = 0; s < n_sizes; s++)
        if (results[s].ok)
            printf("| %6lld | %22.1f | %18.1f | %14.1f | %18.1f |\n", (long long)results[s].chunks,
                   results[s].rss_store_mib, results[s].rss_store_mib * 1e4 / (double)results[s].chunks,
                   results[s].rss_hnsw_mib, results[s].rss_hnsw_mib * 1e4 / (double)results[s].chunks);
    return failed;
}
