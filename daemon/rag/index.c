/* index.c - the vector index over faiss's C API: exact IDMap,Flat (inner
 * product) up to a threshold, IDMap,HNSW32,Flat above it; switching and
 * compaction rebuild from the vectors faiss holds (reconstructed from the
 * sub-index), so no second copy is kept. Removed HNSW ids are hidden by a
 * sorted list until compaction. faiss errors are translated here only. */
#include "rag/index.h"

#include <faiss_c/AutoTune_c.h>
#include <faiss_c/IndexFlat_c.h>
#include <faiss_c/Index_c.h>
#include <faiss_c/MetaIndexes_c.h>
#include <faiss_c/error_c.h>
#include <faiss_c/impl/AuxIndexStructures_c.h>
#include <faiss_c/index_factory_c.h>
#include <faiss_c/index_io_c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_MAGIC "EDIX"
#define INDEX_VERSION 1u
#define HNSW_EF_CONSTRUCTION 64 /* candidates kept while linking a node */
#define HNSW_EF_SEARCH 64       /* candidates kept while searching (at least k) */
enum { REBUILD_BATCH = 4096 };  /* vectors reconstructed per step of a rebuild */

struct ed_index {
    FaissIndex *faiss;     /* an IndexIDMap over IndexFlatIP or IndexHNSWFlat (inner product) */
    int dim;               /* vector width */
    int64_t hnsw_threshold; /* vectors above which the index is HNSW */
    bool hnsw;
    int64_t *hidden;       /* (n_hidden), ascending: ids removed from the HNSW graph but still in it */
    int64_t n_hidden, cap_hidden;
};

typedef struct {
    char magic[4];
    uint32_t version;
    uint32_t dim;
    uint32_t reserved; /* 0 */
    int64_t n_hidden;  /* ids following the header */
} index_header_t;

static int faiss_failed(const char *what, char err[ED_ERR_LEN])
{
    const char *why = faiss_get_last_error();
    snprintf(err, ED_ERR_LEN, "faiss: %s: %s", what, why ? why : "unknown error");
    return why && strstr(why, "bad_alloc") ? ED_ENOMEM : ED_EIO;
}

static int create_faiss(FaissIndex **out, int dim, bool hnsw, char err[ED_ERR_LEN])
{
    *out = NULL;
    if (faiss_index_factory(out, dim, hnsw ? "IDMap,HNSW32,Flat" : "IDMap,Flat", METRIC_INNER_PRODUCT) != 0)
        return faiss_failed("creating an index", err);
    if (!hnsw)
        return 0;
    FaissParameterSpace *space = NULL;
    if (faiss_ParameterSpace_new(&space) != 0 ||
        faiss_ParameterSpace_set_index_parameter(space, *out, "efConstruction", HNSW_EF_CONSTRUCTION) != 0 ||
        faiss_ParameterSpace_set_index_parameter(space, *out, "efSearch", HNSW_EF_SEARCH) != 0) {
        int rc = faiss_failed("setting HNSW parameters", err);
        faiss_ParameterSpace_free(space);
        faiss_Index_free(*out);
        *out = NULL;
        return rc;
    }
    faiss_ParameterSpace_free(space);
    return 0;
}

static bool is_hidden(const ed_index_t *index, int64_t id)
{
    int64_t lo = 0, hi = index->n_hidden;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (index->hidden[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < index->n_hidden && index->hidden[lo] == id;
}

/* Replaces the faiss index by a fresh one of the kind the count calls for,
 * holding every vector that is not hidden. */
static int rebuild(ed_index_t *index, char err[ED_ERR_LEN])
{
    int64_t total = faiss_Index_ntotal(index->faiss);
    int64_t live = total - index->n_hidden;
    bool hnsw = index->hnsw ? live > index->hnsw_threshold / 2 : live > index->hnsw_threshold;
    FaissIndex *fresh = NULL;
    int rc = create_faiss(&fresh, index->dim, hnsw, err);
    if (rc != 0)
        return rc;
    float *vectors = malloc((size_t)REBUILD_BATCH * (size_t)index->dim * sizeof *vectors);
    int64_t *ids = malloc((size_t)REBUILD_BATCH * sizeof *ids);
    if (!vectors || !ids) {
        snprintf(err, ED_ERR_LEN, "out of memory rebuilding an index of %lld vectors", (long long)total);
        rc = ED_ENOMEM;
        goto done;
    }
    FaissIndexIDMap *map = faiss_IndexIDMap_cast(index->faiss);
    FaissIndex *sub = faiss_IndexIDMap_sub_index(map);
    for (int64_t start = 0; start < total; start += REBUILD_BATCH) {
        int64_t n = total - start < REBUILD_BATCH ? total - start : REBUILD_BATCH;
        if (faiss_Index_reconstruct_n(sub, start, n, vectors) != 0) {
            rc = faiss_failed("reading vectors back", err);
            goto done;
        }
        idx_t *id_map;
        size_t id_count;
        faiss_IndexIDMap_id_map(map, &id_map, &id_count);
        int64_t kept = 0;
        for (int64_t r = 0; r < n; r++) {
            if (is_hidden(index, id_map[start + r]))
                continue;
            if (kept != r)
                memcpy(vectors + kept * index->dim, vectors + r * index->dim, (size_t)index->dim * sizeof *vectors);
            ids[kept++] = id_map[start + r];
        }
        if (kept > 0 && faiss_Index_add_with_ids(fresh, kept, vectors, ids) != 0) {
            rc = faiss_failed("adding vectors to the rebuilt index", err);
            goto done;
        }
    }
    faiss_Index_free(index->faiss);
    index->faiss = fresh;
    fresh = NULL;
    index->hnsw = hnsw;
    index->n_hidden = 0;
done:
    faiss_Index_free(fresh);
    free(vectors);
    free(ids);
    return rc;
}

int ed_index_init(ed_index_t **out, int dim, int64_t hnsw_threshold, char err[ED_ERR_LEN])
{
    *out = NULL;
    if (dim <= 0 || hnsw_threshold < 0) {
        snprintf(err, ED_ERR_LEN, "index: dim %d and hnsw_threshold %lld must be positive", dim,
                 (long long)hnsw_threshold);
        return ED_EINVAL;
    }
    ed_index_t *index = calloc(1, sizeof *index);
    if (!index) {
        snprintf(err, ED_ERR_LEN, "out of memory creating an index");
        return ED_ENOMEM;
    }
    index->dim = dim;
    index->hnsw_threshold = hnsw_threshold;
    index->hnsw = hnsw_threshold == 0;
    int rc = create_faiss(&index->faiss, dim, index->hnsw, err);
    if (rc != 0) {
        free(index);
        return rc;
    }
    *out = index;
    return 0;
}

void ed_index_free(ed_index_t *index)
{
    if (!index)
        return;
    faiss_Index_free(index->faiss);
    free(index->hidden);
    free(index);
}

int64_t ed_index_count(const ed_index_t *index)
{
    return faiss_Index_ntotal(index->faiss) - index->n_hidden;
}

bool ed_index_is_hnsw(const ed_index_t *index)
{
    return index->hnsw;
}

int ed_index_add(ed_index_t *index, const int64_t *ids, const float *vectors, int64_t n, char err[ED_ERR_LEN])
{
    if (n <= 0)
        return 0;
    int rc;
    for (int64_t i = 0; i < n && index->n_hidden > 0; i++)
        if (is_hidden(index, ids[i]) && (rc = rebuild(index, err)) != 0) /* an id comes back: drop its old node */
            return rc;
    if (faiss_Index_add_with_ids(index->faiss, n, vectors, ids) != 0)
        return faiss_failed("adding vectors", err);
    if (!index->hnsw && ed_index_count(index) > index->hnsw_threshold)
        return rebuild(index, err);
    return 0;
}

static int compare_ids(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* HNSW: hides the present ids (the graph keeps their nodes). */
static int hide(ed_index_t *index, const int64_t *ids, int64_t n, int64_t *n_removed, char err[ED_ERR_LEN])
{
    int64_t *wanted = malloc((size_t)n * sizeof *wanted);
    if (!wanted) {
        snprintf(err, ED_ERR_LEN, "out of memory removing %lld ids", (long long)n);
        return ED_ENOMEM;
    }
    memcpy(wanted, ids, (size_t)n * sizeof *wanted);
    qsort(wanted, (size_t)n, sizeof *wanted, compare_ids);
    idx_t *id_map;
    size_t total;
    faiss_IndexIDMap_id_map(faiss_IndexIDMap_cast(index->faiss), &id_map, &total);
    int64_t *found = malloc((size_t)n * sizeof *found);
    int64_t n_found = 0;
    if (!found) {
        free(wanted);
        snprintf(err, ED_ERR_LEN, "out of memory removing %lld ids", (long long)n);
        return ED_ENOMEM;
    }
    for (size_t r = 0; r < total; r++) {
        int64_t id = id_map[r];
        if (!bsearch(&id, wanted, (size_t)n, sizeof *wanted, compare_ids) || is_hidden(index, id))
            continue;
        found[n_found++] = id; /* ids are unique in the index, so at most n */
    }
    free(wanted);
    if (index->n_hidden + n_found > index->cap_hidden) {
        int64_t cap = 2 * (index->n_hidden + n_found);
        int64_t *grown = realloc(index->hidden, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(found);
            snprintf(err, ED_ERR_LEN, "out of memory removing %lld ids", (long long)n);
            return ED_ENOMEM;
        }
        index->hidden = grown;
        index->cap_hidden = cap;
    }
    memcpy(index->hidden + index->n_hidden, found, (size_t)n_found * sizeof *found);
    index->n_hidden += n_found;
    qsort(index->hidden, (size_t)index->n_hidden, sizeof *index->hidden, compare_ids);
    free(found);
    *n_removed = n_found;
    return 0;
}

int ed_index_remove(ed_index_t *index, const int64_t *ids, int64_t n, int64_t *n_removed, char err[ED_ERR_LEN])
{
    int64_t removed = 0;
    int rc = 0;
    if (n > 0 && index->hnsw) {
        rc = hide(index, ids, n, &removed, err);
        int64_t total = faiss_Index_ntotal(index->faiss);
        if (rc == 0 && (4 * index->n_hidden > total || total - index->n_hidden <= index->hnsw_threshold / 2))
            rc = rebuild(index, err);
    } else if (n > 0) {
        FaissIDSelectorBatch *selector = NULL;
        size_t count = 0;
        if (faiss_IDSelectorBatch_new(&selector, (size_t)n, ids) != 0 ||
            faiss_Index_remove_ids(index->faiss, (FaissIDSelector *)selector, &count) != 0)
            rc = faiss_failed("removing ids", err);
        faiss_IDSelector_free((FaissIDSelector *)selector);
        removed = (int64_t)count;
    }
    if (n_removed)
        *n_removed = rc == 0 ? removed : 0;
    return rc;
}

int ed_index_search(ed_index_t *index, const float *query, int k, ed_index_hit_t *hits, int *n_hits,
                    char err[ED_ERR_LEN])
{
    *n_hits = 0;
    int64_t total = faiss_Index_ntotal(index->faiss);
    if (k <= 0 || total == 0)
        return 0;
    /* Hidden ids take places in faiss's answer: ask for more until k remain. */
    int64_t want = (int64_t)k + index->n_hidden;
    for (;;) {
        if (want > total)
            want = total;
        float *scores = malloc((size_t)want * sizeof *scores);
        idx_t *labels = malloc((size_t)want * sizeof *labels);
        if (!scores || !labels) {
            free(scores);
            free(labels);
            snprintf(err, ED_ERR_LEN, "out of memory searching for %lld neighbours", (long long)want);
            return ED_ENOMEM;
        }
        if (faiss_Index_search(index->faiss, 1, query, want, scores, labels) != 0) {
            free(scores);
            free(labels);
            return faiss_failed("searching", err);
        }
        int n = 0;
        for (int64_t r = 0; r < want && n < k; r++)
            if (labels[r] >= 0 && !is_hidden(index, labels[r]))
                hits[n++] = (ed_index_hit_t){.id = labels[r], .score = scores[r]};
        free(scores);
        free(labels);
        if (n == k || want == total || index->n_hidden == 0) {
            *n_hits = n;
            return 0;
        }
        want *= 2;
    }
}

int ed_index_save(const ed_index_t *index, void **data, size_t *len, char err[ED_ERR_LEN])
{
    *data = NULL;
    *len = 0;
    char *bytes = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&bytes, &size);
    if (!f) {
        snprintf(err, ED_ERR_LEN, "out of memory serialising an index");
        return ED_ENOMEM;
    }
    index_header_t header = {.version = INDEX_VERSION, .dim = (uint32_t)index->dim, .n_hidden = index->n_hidden};
    memcpy(header.magic, INDEX_MAGIC, 4);
    int rc = 0;
    if (fwrite(&header, sizeof header, 1, f) != 1 ||
        (index->n_hidden > 0 &&
         fwrite(index->hidden, sizeof *index->hidden, (size_t)index->n_hidden, f) != (size_t)index->n_hidden)) {
        snprintf(err, ED_ERR_LEN, "out of memory serialising an index");
        rc = ED_ENOMEM;
    } else if (faiss_write_index(index->faiss, f) != 0) {
        rc = faiss_failed("serialising an index", err);
    }
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, ED_ERR_LEN, "out of memory serialising an index");
        rc = ED_ENOMEM;
    }
    if (rc != 0) {
        free(bytes);
        return rc;
    }
    *data = bytes;
    *len = size;
    return 0;
}

int ed_index_load(ed_index_t **out, const void *data, size_t len, int dim, int64_t hnsw_threshold,
                  char err[ED_ERR_LEN])
{
    *out = NULL;
    index_header_t header;
    if (len < sizeof header) {
        snprintf(err, ED_ERR_LEN, "index: %zu bytes is shorter than its header", len);
        return ED_ECORRUPT;
    }
    memcpy(&header, data, sizeof header);
    if (memcmp(header.magic, INDEX_MAGIC, 4) != 0 || header.version != INDEX_VERSION || header.reserved != 0) {
        snprintf(err, ED_ERR_LEN, "index: not an edged index file of version %u", INDEX_VERSION);
        return ED_ECORRUPT;
    }
    if ((int)header.dim != dim) {
        snprintf(err, ED_ERR_LEN, "index: holds %u-wide vectors, the collection's are %d", header.dim, dim);
        return ED_ECORRUPT;
    }
    size_t rest = len - sizeof header;
    if (header.n_hidden < 0 || (uint64_t)header.n_hidden > rest / sizeof(int64_t)) {
        snprintf(err, ED_ERR_LEN, "index: %lld hidden ids do not fit in %zu bytes", (long long)header.n_hidden, rest);
        return ED_ECORRUPT;
    }
    ed_index_t *index = calloc(1, sizeof *index);
    if (!index) {
        snprintf(err, ED_ERR_LEN, "out of memory loading an index");
        return ED_ENOMEM;
    }
    index->dim = dim;
    index->hnsw_threshold = hnsw_threshold;
    int rc = 0;
    const char *bytes = (const char *)data + sizeof header;
    size_t hidden_bytes = (size_t)header.n_hidden * sizeof(int64_t);
    if (header.n_hidden > 0) {
        index->hidden = malloc(hidden_bytes);
        if (!index->hidden) {
            snprintf(err, ED_ERR_LEN, "out of memory loading an index");
            rc = ED_ENOMEM;
            goto fail;
        }
        memcpy(index->hidden, bytes, hidden_bytes);
        index->n_hidden = index->cap_hidden = header.n_hidden;
        for (int64_t i = 1; i < index->n_hidden; i++)
            if (index->hidden[i - 1] >= index->hidden[i]) {
                snprintf(err, ED_ERR_LEN, "index: hidden ids are not in ascending order");
                rc = ED_ECORRUPT;
                goto fail;
            }
    }
    bytes += hidden_bytes;
    rest -= hidden_bytes;
    FILE *f = rest > 0 ? fmemopen((void *)bytes, rest, "rb") : NULL;
    if (!f) {
        snprintf(err, ED_ERR_LEN, "index: no faiss data after the header");
        rc = ED_ECORRUPT;
        goto fail;
    }
    int read_rc = faiss_read_index(f, 0, &index->faiss);
    fclose(f);
    if (read_rc != 0) {
        faiss_failed("reading an index", err);
        rc = ED_ECORRUPT;
        goto fail;
    }
    FaissIndexIDMap *map = faiss_IndexIDMap_cast(index->faiss);
    if (!map || faiss_Index_d(index->faiss) != dim || faiss_Index_metric_type(index->faiss) != METRIC_INNER_PRODUCT ||
        faiss_Index_ntotal(index->faiss) < index->n_hidden) {
        snprintf(err, ED_ERR_LEN, "index: not an ID-mapped inner-product index of %d-wide vectors", dim);
        rc = ED_ECORRUPT;
        goto fail;
    }
    index->hnsw = faiss_IndexFlat_cast(faiss_IndexIDMap_sub_index(map)) == NULL;
    if (index->n_hidden > 0 && !index->hnsw) {
        snprintf(err, ED_ERR_LEN, "index: an exact index cannot hold hidden ids");
        rc = ED_ECORRUPT;
        goto fail;
    }
    *out = index;
    return 0;
fail:
    ed_index_free(index);
    return rc;
}
