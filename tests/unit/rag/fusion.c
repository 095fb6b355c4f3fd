/* tests/unit/rag/fusion.c - reciprocal-rank fusion on hand-made lists:
 * scores by formula, order, ties, repeats within a list, truncation. */
#include "rag/fusion.h"

#include "core/error.h"

#include "../../test.h"

ED_TEST(fuses_two_lists)
{
    const int64_t dense[] = {10, 20, 30, 40};
    const int64_t lexical[] = {30, 50, 10};
    ed_fusion_list_t lists[2] = {{dense, 4, 0}, {lexical, 3, 0}};
    ed_fusion_hit_t out[10];
    int n;
    ED_REQUIRE(ed_fusion_rrf(lists, 2, ED_FUSION_RRF_K, out, 10, &n) == 0);
    ED_REQUIRE(n == 5);
    /* 10: 1/61 + 1/63; 30: 1/63 + 1/61 (tie, 10 and 30 both best rank 1: smaller id first);
     * 20: 1/62; 50: 1/62 (tie, both rank 2: smaller id); 40: 1/64. */
    ED_CHECK_INT(out[0].id, 10);
    ED_CHECK_INT(out[1].id, 30);
    ED_CHECK_INT(out[2].id, 20);
    ED_CHECK_INT(out[3].id, 50);
    ED_CHECK_INT(out[4].id, 40);
    ED_CHECK_NEAR(out[0].score, 1.0 / 61 + 1.0 / 63, 1e-12);
    ED_CHECK_NEAR(out[2].score, 1.0 / 62, 1e-12);
    ED_CHECK_NEAR(out[4].score, 1.0 / 64, 1e-12);
    ED_CHECK_INT(out[0].best_rank, 1);
    ED_CHECK_INT(out[4].best_rank, 4);
}

ED_TEST(agreement_beats_one_strong_list)
{
    const int64_t dense[] = {1, 2, 3};
    const int64_t lexical[] = {4, 3, 5};
    ed_fusion_list_t lists[2] = {{dense, 3, 1.0}, {lexical, 3, 1.0}};
    ed_fusion_hit_t out[2];
    int n;
    ED_REQUIRE(ed_fusion_rrf(lists, 2, 60, out, 2, &n) == 0);
    ED_REQUIRE(n == 2); /* truncated to max_out */
    ED_CHECK_INT(out[0].id, 3); /* 1/63 + 1/62 beats 1/61 */
    ED_CHECK_INT(out[1].id, 1);
}

ED_TEST(repeats_and_empty_lists)
{
    const int64_t dense[] = {7, 7, 8};
    ed_fusion_list_t lists[2] = {{dense, 3, 1.0}, {NULL, 0, 1.0}};
    ed_fusion_hit_t out[4];
    int n;
    ED_REQUIRE(ed_fusion_rrf(lists, 2, 0, out, 4, &n) == 0);
    ED_REQUIRE(n == 2);
    ED_CHECK_INT(out[0].id, 7);
    ED_CHECK_NEAR(out[0].score, 1.0, 1e-12); /* counted once, at rank 1, with k = 0 */
    ED_CHECK_NEAR(out[1].score, 1.0 / 3, 1e-12);
    ED_CHECK(ed_fusion_rrf(lists + 1, 1, 60, out, 4, &n) == 0 && n == 0);
    ED_CHECK_INT(ed_fusion_rrf(lists, 2, -1, out, 4, &n), ED_EINVAL);
}

ED_TEST(weights_scale_a_lists_share)
{
    const int64_t dense[] = {1, 2}, lexical[] = {2, 1};
    ed_fusion_list_t lists[2] = {{dense, 2, 1.0}, {lexical, 2, 3.0}};
    ed_fusion_hit_t out[2];
    int n = 0;
    ED_REQUIRE(ed_fusion_rrf(lists, 2, 60, out, 2, &n) == 0);
    ED_CHECK_INT(n, 2);
    ED_CHECK_INT(out[0].id, 2); /* the heavier list's first */
    ED_CHECK_NEAR(out[0].score, 1.0 / 62 + 3.0 / 61, 1e-12);
    ED_CHECK_NEAR(out[1].score, 1.0 / 61 + 3.0 / 62, 1e-12);
    lists[1].weight = -1;
    ED_CHECK_INT(ed_fusion_rrf(lists, 2, 60, out, 2, &n), ED_EINVAL);
}

ED_TEST_MAIN(weights_scale_a_lists_share, fuses_two_lists, agreement_beats_one_strong_list, repeats_and_empty_lists)
