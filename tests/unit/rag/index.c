/* tests/unit/rag/index.c - the vector index: exact top-1 for stored
 * vectors, add/search/remove and counts, serialisation round trips, the
 * switch to HNSW above the threshold (and back), hidden ids in HNSW, and
 * damaged bytes rejected. */
#include "rag/index.h"

#include "../../test.h"

#include <math.h>
#include <stdint.h>

enum { DIM = 64 };
static char err[ED_ERR_LEN];

/* n unit vectors from a fixed generator. */
static float *make_vectors(int n, uint32_t seed)
{
    float *v = malloc((size_t)n * DIM * sizeof *v);
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int i = 0; i < n; i++) {
        double norm = 0;
        for (int d = 0; d < DIM; d++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v[i * DIM + d] = (float)((double)(x >> 11) / 9007199254740992.0 - 0.5);
            norm += v[i * DIM + d] * v[i * DIM + d];
        }
        for (int d = 0; d < DIM; d++)
            v[i * DIM + d] /= (float)sqrt(norm);
    }
    return v;
}

static int64_t *make_ids(int n, int64_t base)
{
    int64_t *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++)
        ids[i] = base + (int64_t)i * 65536;
    return ids;
}

/* How many stored vectors find themselves first. */
static int self_hits(ed_index_t *index, const float *v, const int64_t *ids, int n)
{
    int hits = 0;
    for (int i = 0; i < n; i++) {
        ed_index_hit_t top[3];
        int n_top;
        if (ed_index_search(index, v + i * DIM, 3, top, &n_top, err) == 0 && n_top > 0 && top[0].id == ids[i] &&
            fabsf(top[0].score - 1.0f) < 1e-4f)
            hits++;
    }
    return hits;
}

ED_TEST(flat_add_search_remove)
{
    ed_index_t *index;
    ED_REQUIRE(ed_index_init(&index, DIM, 1000, err) == 0);
    ed_index_hit_t hits[5];
    int n_hits = -1;
    ED_CHECK(ed_index_search(index, (float[DIM]){1}, 5, hits, &n_hits, err) == 0 && n_hits == 0);
    float *v = make_vectors(300, 1);
    int64_t *ids = make_ids(300, 7);
    ED_REQUIRE(ed_index_add(index, ids, v, 300, err) == 0);
    ED_CHECK_INT(ed_index_count(index), 300);
    ED_CHECK(!ed_index_is_hnsw(index));
    ED_CHECK_INT(self_hits(index, v, ids, 300), 300);
    ED_REQUIRE(ed_index_search(index, v, 5, hits, &n_hits, err) == 0 && n_hits == 5);
    for (int i = 1; i < 5; i++)
        ED_CHECK(hits[i - 1].score >= hits[i].score);
    int64_t gone[3] = {ids[0], ids[10], 424242}, removed = 0;
    ED_REQUIRE(ed_index_remove(index, gone, 3, &removed, err) == 0);
    ED_CHECK_INT(removed, 2);
    ED_CHECK_INT(ed_index_count(index), 298);
    ED_REQUIRE(ed_index_search(index, v, 1, hits, &n_hits, err) == 0 && n_hits == 1);
    ED_CHECK(hits[0].id != ids[0]);
    ED_CHECK_INT(self_hits(index, v, ids, 300), 298);
    free(v);
    free(ids);
    ed_index_free(index);
}

ED_TEST(serialise_round_trip)
{
    ed_index_t *index, *loaded;
    ED_REQUIRE(ed_index_init(&index, DIM, 1000, err) == 0);
    float *v = make_vectors(200, 2);
    int64_t *ids = make_ids(200, 3);
    ED_REQUIRE(ed_index_add(index, ids, v, 200, err) == 0);
    void *data;
    size_t len;
    ED_REQUIRE(ed_index_save(index, &data, &len, err) == 0);
    ED_REQUIRE(ed_index_load(&loaded, data, len, DIM, 1000, err) == 0);
    ED_CHECK_INT(ed_index_count(loaded), 200);
    ED_CHECK_INT(self_hits(loaded, v, ids, 200), 200);
    ed_index_hit_t a[10], b[10];
    int na, nb;
    ED_REQUIRE(ed_index_search(index, v + 5 * DIM, 10, a, &na, err) == 0);
    ED_REQUIRE(ed_index_search(loaded, v + 5 * DIM, 10, b, &nb, err) == 0);
    ED_REQUIRE(na == 10 && nb == 10);
    for (int i = 0; i < na; i++)
        ED_CHECK(a[i].id == b[i].id && a[i].score == b[i].score);
    ed_index_free(loaded);
    /* Damage: wrong dim, truncation, a flipped magic byte, garbage faiss bytes. */
    printf("# expected next: faiss's own \"Error in ... read_index\" lines for the damaged files\n");
    fflush(stdout);
    ED_CHECK_INT(ed_index_load(&loaded, data, len, DIM * 2, 1000, err), ED_ECORRUPT);
    ED_CHECK_INT(ed_index_load(&loaded, data, 10, DIM, 1000, err), ED_ECORRUPT);
    ED_CHECK_INT(ed_index_load(&loaded, data, len / 2, DIM, 1000, err), ED_ECORRUPT);
    ((unsigned char *)data)[0] ^= 1;
    ED_CHECK_INT(ed_index_load(&loaded, data, len, DIM, 1000, err), ED_ECORRUPT);
    ((unsigned char *)data)[0] ^= 1;
    memset((char *)data + 24, 0x5a, 16);
    ED_CHECK_INT(ed_index_load(&loaded, data, len, DIM, 1000, err), ED_ECORRUPT);
    free(data);
    free(v);
    free(ids);
    ed_index_free(index);
}

ED_TEST(hnsw_switch_keeps_results)
{
    ed_index_t *index;
    ED_REQUIRE(ed_index_init(&index, DIM, 400, err) == 0);
    float *v = make_vectors(1000, 3);
    int64_t *ids = make_ids(1000, 11);
    ED_REQUIRE(ed_index_add(index, ids, v, 400, err) == 0);
    ED_CHECK(!ed_index_is_hnsw(index));
    ED_REQUIRE(ed_index_add(index, ids + 400, v + 400 * DIM, 600, err) == 0);
    ED_CHECK(ed_index_is_hnsw(index));
    ED_CHECK_INT(ed_index_count(index), 1000);
    int found = self_hits(index, v, ids, 1000);
    printf("# hnsw self top-1: %d/1000\n", found);
    ED_CHECK(found >= 990);
    /* Removal hides ids; the count follows; hidden ids survive a round trip. */
    int64_t removed;
    ED_REQUIRE(ed_index_remove(index, ids, 100, &removed, err) == 0);
    ED_CHECK_INT(removed, 100);
    ED_CHECK_INT(ed_index_count(index), 900);
    ED_CHECK(ed_index_is_hnsw(index));
    void *data;
    size_t len;
    ED_REQUIRE(ed_index_save(index, &data, &len, err) == 0);
    ed_index_t *loaded;
    ED_REQUIRE(ed_index_load(&loaded, data, len, DIM, 400, err) == 0);
    free(data);
    ED_CHECK(ed_index_is_hnsw(loaded));
    ED_CHECK_INT(ed_index_count(loaded), 900);
    for (int i = 0; i < 100; i++) {
        ed_index_hit_t hits[10];
        int n_hits;
        ED_REQUIRE(ed_index_search(loaded, v + i * DIM, 10, hits, &n_hits, err) == 0);
        ED_CHECK_INT(n_hits, 10);
        for (int k = 0; k < n_hits; k++)
            ED_CHECK(hits[k].id != ids[i]);
    }
    ED_CHECK(self_hits(loaded, v + 100 * DIM, ids + 100, 900) >= 890);
    /* A removed id may come back. */
    ED_REQUIRE(ed_index_add(loaded, ids, v, 1, err) == 0);
    ED_CHECK_INT(ed_index_count(loaded), 901);
    ED_CHECK_INT(self_hits(loaded, v, ids, 1), 1);
    ed_index_free(loaded);
    /* Below half the threshold it becomes exact again. */
    ED_REQUIRE(ed_index_remove(index, ids + 100, 750, &removed, err) == 0);
    ED_CHECK_INT(removed, 750);
    ED_CHECK_INT(ed_index_count(index), 150);
    ED_CHECK(!ed_index_is_hnsw(index));
    ED_CHECK_INT(self_hits(index, v + 850 * DIM, ids + 850, 150), 150);
    free(v);
    free(ids);
    ed_index_free(index);
}

ED_TEST(bad_arguments)
{
    ed_index_t *index = NULL;
    ED_CHECK_INT(ed_index_init(&index, 0, 10, err), ED_EINVAL);
    ED_CHECK(index == NULL);
    ed_index_free(NULL);
}

ED_TEST_MAIN(flat_add_search_remove, serialise_round_trip, hnsw_switch_keeps_results, bad_arguments)
