/* metrics.c - see metrics.h. Series live in small fixed tables: the set of
 * routes, methods and statuses is bounded by the route table, and a request
 * that matched no route is counted under route="unmatched". */
#include "core/metrics.h"
#include "core/error.h"
#include "core/histogram.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERIES 512
#define MAX_ROUTES 64
#define MAX_WRITERS 16

static const double latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10, 30, 60};
#define N_BUCKETS (sizeof latency_buckets / sizeof latency_buckets[0])

typedef struct {
    const char *route, *method;
    int status;
    uint64_t count;
} request_series_t;

typedef struct {
    const char *route;
    ed_histogram_t hist;
} latency_t;

static struct {
    request_series_t requests[MAX_SERIES];
    int n_requests;
    uint64_t dropped_series;
    latency_t latency[MAX_ROUTES];
    int n_latency;
    uint64_t conns_open, conns_total;
    double start_time;
    struct {
        ed_metrics_writer_fn fn;
        void *arg;
    } writers[MAX_WRITERS];
    int n_writers;
} m;

void ed_metrics_init(void)
{
    memset(&m, 0, sizeof m);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m.start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ed_metrics_http_request(const char *route, const char *method, int status, double seconds)
{
    request_series_t *series = NULL;
    for (int i = 0; i < m.n_requests && !series; i++) {
        request_series_t *s = &m.requests[i];
        if (s->status == status && strcmp(s->route, route) == 0 && strcmp(s->method, method) == 0)
            series = s;
    }
    if (!series && m.n_requests < MAX_SERIES) {
        series = &m.requests[m.n_requests++];
        *series = (request_series_t){route, method, status, 0};
    }
    if (series)
        series->count++;
    else
        m.dropped_series++;

    latency_t *lat = NULL;
    for (int i = 0; i < m.n_latency && !lat; i++)
        if (strcmp(m.latency[i].route, route) == 0)
            lat = &m.latency[i];
    if (!lat && m.n_latency < MAX_ROUTES) {
        lat = &m.latency[m.n_latency++];
        lat->route = route;
        ed_histogram_init(&lat->hist, latency_buckets, (int)N_BUCKETS);
    }
    if (lat)
        ed_histogram_observe(&lat->hist, seconds);
}

void ed_metrics_conn_opened(void)
{
    m.conns_open++;
    m.conns_total++;
}

void ed_metrics_conn_closed(void)
{
    if (m.conns_open)
        m.conns_open--;
}

uint64_t ed_metrics_conns_open(void) { return m.conns_open; }

int ed_metrics_register(ed_metrics_writer_fn fn, void *arg)
{
    if (m.n_writers == MAX_WRITERS)
        return ED_ERANGE;
    m.writers[m.n_writers].fn = fn;
    m.writers[m.n_writers].arg = arg;
    m.n_writers++;
    return 0;
}

void ed_metrics_unregister(ed_metrics_writer_fn fn, void *arg)
{
    for (int i = 0; i < m.n_writers; i++)
        if (m.writers[i].fn == fn && m.writers[i].arg == arg) {
            memmove(&m.writers[i], &m.writers[i + 1], (size_t)(m.n_writers - i - 1) * sizeof m.writers[0]);
            m.n_writers--;
            return;
        }
}

static void render_process(ed_buf_t *out)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    ed_buf_printf(out,
                  "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                  "# TYPE process_resident_memory_bytes gauge\n"
                  "process_resident_memory_bytes %ld\n"
                  "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                  "# TYPE process_cpu_seconds_total counter\n"
                  "process_cpu_seconds_total %.3f\n"
                  "# HELP process_start_time_seconds Start time of the process since the epoch in seconds.\n"
                  "# TYPE process_start_time_seconds gauge\n"
                  "process_start_time_seconds %.3f\n",
                  resident * sysconf(_SC_PAGESIZE), cpu, m.start_time);
}

void ed_metrics_render(ed_buf_t *out)
{
    ed_buf_puts(out, "# HELP edged_up Whether edged is serving.\n# TYPE edged_up gauge\nedged_up 1\n");
    ed_buf_puts(out, "# HELP edged_http_requests_total HTTP requests answered, by route, method and status.\n"
                     "# TYPE edged_http_requests_total counter\n");
    for (int i = 0; i < m.n_requests; i++)
        ed_buf_printf(out, "edged_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
                      m.requests[i].route, m.requests[i].method, m.requests[i].status,
                      (unsigned long long)m.requests[i].count);
    ed_buf_printf(out,
                  "# HELP edged_metrics_series_dropped_total Requests not counted because the series table was full.\n"
                  "# TYPE edged_metrics_series_dropped_total counter\n"
                  "edged_metrics_series_dropped_total %llu\n",
                  (unsigned long long)m.dropped_series);
    ed_histogram_render_header(out, "edged_http_request_duration_seconds",
                               "Time from a request's first byte to its response's end.");
    for (int i = 0; i < m.n_latency; i++) {
        char labels[256];
        snprintf(labels, sizeof labels, "route=\"%s\"", m.latency[i].route);
        ed_histogram_render(out, "edged_http_request_duration_seconds", labels, &m.latency[i].hist);
    }
    ed_buf_printf(out,
                  "# HELP edged_http_connections_open Connections open now.\n"
                  "# TYPE edged_http_connections_open gauge\n"
                  "edged_http_connections_open %llu\n"
                  "# HELP edged_http_connections_total Connections accepted.\n"
                  "# TYPE edged_http_connections_total counter\n"
                  "edged_http_connections_total %llu\n",
                  (unsigned long long)m.conns_open, (unsigned long long)m.conns_total);
    render_process(out);
    for (int i = 0; i < m.n_writers; i++)
        m.writers[i].fn(out, m.writers[i].arg);
}
