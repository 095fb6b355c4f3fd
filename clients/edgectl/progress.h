/* progress.h - the progress of `edgectl pull` and `edgectl ingest` on
 * stderr: a bar redrawn in place (label, bytes, percent, rate, ETA) when
 * stderr is a terminal, otherwise one line per 10% so that logs stay readable. */
#ifndef ED_EDGECTL_PROGRESS_H
#define ED_EDGECTL_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *label;   /* printed first, e.g. the file name; may change between updates */
    int tty;             /* stderr is a terminal */
    double start_s;      /* monotonic seconds when this transfer began */
    double last_draw_s;  /* monotonic seconds of the last redraw (tty) */
    int last_decile;     /* the last 10% step printed (not a tty), -1 none */
    uint64_t resumed_at; /* bytes already on disk when the transfer began */
    int drawn;           /* something was printed */
    uint64_t drawn_done; /* `done` of the last redraw (tty): an unchanged one is not redrawn */
} ed_progress_t;

void ed_progress_init(ed_progress_t *progress, const char *label, uint64_t resumed_at);
/* `done` and `total` count the whole file; total 0 = not known. */
void ed_progress_update(ed_progress_t *progress, uint64_t done, uint64_t total);
/* Ends the bar's line (tty) after the last update. */
void ed_progress_finish(ed_progress_t *progress);
/* Formats a byte count: "512 B", "12.3 KiB", "4.0 MiB", "1.25 GiB". */
void ed_progress_bytes(char *out, size_t size, double bytes);

#endif
