/* metrics.h - the daemon's Prometheus metrics: HTTP request counters and
 * latency histograms, connection gauges, process figures, and writers that
 * other subsystems register for their own series. Loop thread only: workers
 * keep their figures in their own atomics and a registered writer reads them. */
#ifndef ED_CORE_METRICS_H
#define ED_CORE_METRICS_H

#include "core/buf.h"

#include <stdint.h>

void ed_metrics_init(void);
/* One finished request. `route` is the route pattern ("/v1/documents/{id}")
 * or "unmatched"; both strings must outlive the process (static). */
void ed_metrics_http_request(const char *route, const char *method, int status, double seconds);
void ed_metrics_conn_opened(void);
void ed_metrics_conn_closed(void);

typedef void (*ed_metrics_writer_fn)(ed_buf_t *out, void *arg);
/* Adds a writer called on every scrape. Returns 0 or ED_ERANGE when full. */
int ed_metrics_register(ed_metrics_writer_fn fn, void *arg);
/* Removes a writer registered with the same fn and arg (before arg is freed). */
void ed_metrics_unregister(ed_metrics_writer_fn fn, void *arg);

/* Renders every series in the Prometheus text format (version 0.0.4). */
void ed_metrics_render(ed_buf_t *out);

#endif
