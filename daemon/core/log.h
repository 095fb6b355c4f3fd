/* log.h - leveled logging to stderr, one line per record, so the journal
 * keeps it (systemd's <N> priority prefixes when stderr is the journal).
 * Thread-safe: each record is written with one write(2). */
#ifndef ED_CORE_LOG_H
#define ED_CORE_LOG_H

typedef enum {
    ED_LOG_ERROR = 0,
    ED_LOG_WARN,
    ED_LOG_INFO,
    ED_LOG_DEBUG,
} ed_log_level_t;

/* Parses "error", "warn", "info" or "debug"; returns 0 or ED_EINVAL. */
int ed_log_level_parse(const char *name, ed_log_level_t *out);
void ed_log_set_level(ed_log_level_t level);

void ed_log(ed_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define ed_log_error(...) ed_log(ED_LOG_ERROR, __VA_ARGS__)
#define ed_log_warn(...) ed_log(ED_LOG_WARN, __VA_ARGS__)
#define ed_log_info(...) ed_log(ED_LOG_INFO, __VA_ARGS__)
#define ed_log_debug(...) ed_log(ED_LOG_DEBUG, __VA_ARGS__)

#endif
