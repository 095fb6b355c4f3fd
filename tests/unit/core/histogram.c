/* Tests daemon/core/histogram.c: bucket choice at the bounds, cumulative
 * rendering with and without labels, and observations from several threads. */
#include "core/histogram.h"
#include "../../test.h"

#include <pthread.h>

static const double bounds[] = {0.01, 0.1, 1};

ED_TEST(buckets_and_render)
{
    ed_histogram_t h;
    ed_histogram_init(&h, bounds, 3);
    ed_histogram_observe(&h, 0.01); /* on a bound: that bucket (le) */
    ed_histogram_observe(&h, 0.05);
    ed_histogram_observe(&h, 0.5);
    ed_histogram_observe(&h, 7);
    ED_CHECK_INT((int)ed_histogram_count(&h), 4);
    ed_buf_t out;
    ed_buf_init(&out);
    ed_histogram_render_header(&out, "x_seconds", "Help.");
    ed_histogram_render(&out, "x_seconds", NULL, &h);
    ed_histogram_render(&out, "x_seconds", "route=\"/a\"", &h);
    ED_REQUIRE(!ed_buf_failed(&out));
    ED_CHECK_STR(out.data,
                 "# HELP x_seconds Help.\n# TYPE x_seconds histogram\n"
                 "x_seconds_bucket{le=\"0.01\"} 1\nx_seconds_bucket{le=\"0.1\"} 2\n"
                 "x_seconds_bucket{le=\"1\"} 3\nx_seconds_bucket{le=\"+Inf\"} 4\n"
                 "x_seconds_sum 7.560000\nx_seconds_count 4\n"
                 "x_seconds_bucket{route=\"/a\",le=\"0.01\"} 1\nx_seconds_bucket{route=\"/a\",le=\"0.1\"} 2\n"
                 "x_seconds_bucket{route=\"/a\",le=\"1\"} 3\nx_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
                 "x_seconds_sum{route=\"/a\"} 7.560000\nx_seconds_count{route=\"/a\"} 4\n");
    ed_buf_free(&out);
}

static ed_histogram_t shared;

static void *observer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        ed_histogram_observe(&shared, 0.25);
    return NULL;
}

ED_TEST(threads_lose_nothing)
{
    ed_histogram_init(&shared, bounds, 3);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, observer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ED_CHECK_INT((int)ed_histogram_count(&shared), 400000);
    ed_buf_t out;
    ed_buf_init(&out);
    ed_histogram_render(&out, "y", NULL, &shared);
    ED_CHECK(strstr(out.data, "y_sum 100000.000000\n") != NULL);
    ed_buf_free(&out);
}

ED_TEST_MAIN(buckets_and_render, threads_lose_nothing)
