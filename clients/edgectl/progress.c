/* progress.c - the progress display of progress.h. Rates are averaged over
 * the bytes of this transfer (not the resumed part) since it began. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ed_progress_bytes(char *out, size_t size, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (bytes >= 1024 && unit < 4) {
        bytes /= 1024;
        unit++;
    }
    if (unit == 0)
        snprintf(out, size, "%.0f B", bytes);
    else
        snprintf(out, size, bytes < 10 ? "%.2f %s" : "%.1f %s", bytes, units[unit]);
}

/* The time left at `rate` bytes/s: "m:ss", "h:mm:ss", or "--:--" unknown. */
static void format_eta(char *out, size_t size, uint64_t left_bytes, double rate)
{
    if (!(rate > 0)) {
        snprintf(out, size, "--:--");
        return;
    }
    long left = (long)((double)left_bytes / rate);
    if (left >= 3600)
        snprintf(out, size, "%ld:%02ld:%02ld", left / 3600, left / 60 % 60, left % 60);
    else
        snprintf(out, size, "%ld:%02ld", left / 60, left % 60);
}

void ed_progress_init(ed_progress_t *progress, const char *label, uint64_t resumed_at)
{
    *progress = (ed_progress_t){
        .label = label,
        .tty = isatty(STDERR_FILENO),
        .start_s = now_s(),
        .last_decile = -1,
        .resumed_at = resumed_at,
    };
}

void ed_progress_update(ed_progress_t *progress, uint64_t done, uint64_t total)
{
    double now = now_s(), elapsed = now - progress->start_s;
    double rate = elapsed > 0 ? (double)(done - progress->resumed_at) / elapsed : 0;
    int percent = total ? (int)(100.0 * (double)done / (double)total) : -1;
    char done_text[32], total_text[32], rate_text[32];
    ed_progress_bytes(done_text, sizeof done_text, (double)done);
    ed_progress_bytes(total_text, sizeof total_text, (double)total);
    ed_progress_bytes(rate_text, sizeof rate_text, rate);
    char eta[32];
    format_eta(eta, sizeof eta, total > done ? total - done : 0, rate);

    if (!progress->tty) {
        if (percent < 0 || percent / 10 <= progress->last_decile)
            return;
        progress->last_decile = percent / 10;
        fprintf(stderr, "%s: %3d%% (%s of %s, %s/s, ETA %s)\n", progress->label, percent, done_text,
                total_text, rate_text, eta);
        progress->drawn = 1;
        return;
    }
    if ((progress->drawn && done == progress->drawn_done) ||
        (now - progress->last_draw_s < 0.1 && (total == 0 || done < total)))
        return;
    progress->last_draw_s = now;
    progress->drawn_done = done;
    progress->drawn = 1;
    if (percent < 0) {
        fprintf(stderr, "\r%s: %s  %s/s\033[K", progress->label, done_text, rate_text);
        return;
    }
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < percent * WIDTH / 100 ? '#' : '.';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r%s: [%s] %3d%%  %s / %s  %s/s  ETA %s\033[K", progress->label, bar, percent,
            done_text, total_text, rate_text, eta);
}

void ed_progress_finish(ed_progress_t *progress)
{
    if (progress->tty && progress->drawn)
        fputc('\n', stderr);
}
