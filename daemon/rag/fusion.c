/* fusion.c - reciprocal-rank fusion: every (id, rank) entry of every list
 * is gathered, sorted by id to sum each id's contributions, then sorted by
 * fused score. O(N log N) in the total length of the lists. */
#include "rag/fusion.h"

#include "core/error.h"

#include <stdlib.h>

typedef struct {
    int64_t id;
    int list; /* which list it came from */
    int rank; /* from 1 */
} entry_t;

static int by_id_list_rank(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->id != y->id)
        return (x->id > y->id) - (x->id < y->id);
    if (x->list != y->list)
        return x->list - y->list;
    return x->rank - y->rank;
}

static int by_fused_score(const void *a, const void *b)
{
    const ed_fusion_hit_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    if (x->best_rank != y->best_rank)
        return x->best_rank - y->best_rank;
    return (x->id > y->id) - (x->id < y->id);
}

int ed_fusion_rrf(const ed_fusion_list_t *lists, int n_lists, int k, ed_fusion_hit_t *out, int max_out,
                  int *n_out)
{
    *n_out = 0;
    if (n_lists < 0 || k < 0 || max_out < 0)
        return ED_EINVAL;
    size_t total = 0;
    for (int l = 0; l < n_lists; l++) {
        if (lists[l].n < 0 || lists[l].weight < 0)
            return ED_EINVAL;
        total += (size_t)lists[l].n;
    }
    if (total == 0 || max_out == 0)
        return 0;
    entry_t *entries = malloc(total * sizeof *entries);
    ed_fusion_hit_t *fused = malloc(total * sizeof *fused);
    if (!entries || !fused) {
        free(entries);
        free(fused);
        return ED_ENOMEM;
    }
    size_t n = 0;
    for (int l = 0; l < n_lists; l++)
        for (int r = 0; r < lists[l].n; r++)
            entries[n++] = (entry_t){.id = lists[l].ids[r], .list = l, .rank = r + 1};
    qsort(entries, n, sizeof *entries, by_id_list_rank);
    size_t n_fused = 0;
    for (size_t i = 0; i < n;) {
        ed_fusion_hit_t hit = {.id = entries[i].id, .best_rank = entries[i].rank};
        for (size_t j = i; j < n && entries[j].id == hit.id; j++) {
            if (j > i && entries[j].list == entries[j - 1].list)
                continue; /* a repeat within one list: its best rank came first */
            double weight = lists[entries[j].list].weight;
            hit.score += (weight > 0 ? weight : 1.0) / (k + entries[j].rank);
            if (entries[j].rank < hit.best_rank)
                hit.best_rank = entries[j].rank;
        }
        while (i < n && entries[i].id == hit.id)
            i++;
        fused[n_fused++] = hit;
    }
    qsort(fused, n_fused, sizeof *fused, by_fused_score);
    int n_copy = n_fused < (size_t)max_out ? (int)n_fused : max_out;
    for (int i = 0; i < n_copy; i++)
        out[i] = fused[i];
    *n_out = n_copy;
    free(entries);
    free(fused);
    return 0;
}
