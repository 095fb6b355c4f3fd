/* fusion.h - reciprocal-rank fusion: ranked id lists (dense and lexical
 * search) merged into one ranking by the sum over lists of
 * weight / (k + rank), rank counted from 1 (Cormack, Clarke and Buettcher
 * 2009, k = 60; a weight per list as in weighted RRF). Pure functions,
 * callable from any thread. */
#ifndef ED_RAG_FUSION_H
#define ED_RAG_FUSION_H

#include <stdint.h>

#define ED_FUSION_RRF_K 60

typedef struct {
    const int64_t *ids; /* (n), best first; an id repeated in one list counts once, at its best rank */
    int n;
    double weight; /* the list's share of the fused score; 0 counts as 1 */
} ed_fusion_list_t;

typedef struct {
    int64_t id;
    double score;  /* the fused score, higher is better */
    int best_rank; /* its best rank over the lists, from 1 */
} ed_fusion_hit_t;

/* Fuses n_lists lists with constant k (>= 0) into out (room for max_out),
 * best first; ties go to the better best rank, then the smaller id.
 * *n_out <= max_out. 0, ED_EINVAL (also a negative weight) or ED_ENOMEM. */
int ed_fusion_rrf(const ed_fusion_list_t *lists, int n_lists, int k, ed_fusion_hit_t *out, int max_out,
                  int *n_out);

#endif
