/* log.c - see log.h. When stderr is connected to the journal (JOURNAL_STREAM
 * matches it), records carry the syslog priority prefix "<N>" instead of a
 * timestamp, which the journal adds itself. */
#include "core/log.h"
#include "core/error.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = ED_LOG_INFO;
static _Atomic int log_to_journal = -1; /* -1: not yet decided */

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int level_priority[] = {3, 4, 6, 7}; /* syslog priorities */

int ed_log_level_parse(const char *name, ed_log_level_t *out)
{
    for (int i = 0; i <= ED_LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (ed_log_level_t)i;
            return 0;
        }
    }
    return ED_EINVAL;
}

void ed_log_set_level(ed_log_level_t level) { atomic_store(&log_level, (int)level); }

static int stderr_is_journal(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long dev, ino;
    if (!stream || sscanf(stream, "%lu:%lu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return (unsigned long)st.st_dev == dev && (unsigned long)st.st_ino == ino;
}

void ed_log(ed_log_level_t level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level))
        return;
    if (log_to_journal < 0)
        log_to_journal = stderr_is_journal();

    char line[2048];
    size_t n;
    if (log_to_journal) {
        n = (size_t)snprintf(line, sizeof line, "<%d>", level_priority[level]);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof line - n, ".%03ld %-5s ", ts.tv_nsec / 1000000L,
                              level_names[level]);
    }
    va_list ap;
    va_start(ap, fmt);
    int body = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (body > 0)
        n += (size_t)body;
    if (n > sizeof line - 2)
        n = sizeof line - 2; /* truncated: keep the newline */
    line[n++] = '\n';
    ssize_t unused = write(STDERR_FILENO, line, n);
    (void)unused;
}
