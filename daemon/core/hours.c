/* hours.c - daily time ranges (core/hours.h): parsing with a reason for the
 * config's file:line report, membership, and the next opening by walking the
 * minutes of one day (1440 steps at most: cheap, and obviously right across
 * midnight). */
#include "core/hours.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>

/* "HH:MM" at *p (HH 0..24, MM 0..59, 24 only as 24:00); advances *p. */
static int parse_time(const char **p, int *minute, const char *range, char *why, size_t why_size)
{
    const char *s = *p;
    int hour = 0, min = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 2)
        hour = hour * 10 + (*s++ - '0'), digits++;
    if (digits == 0 || *s != ':' || !(s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9')) {
        snprintf(why, why_size, "\"%s\": expected HH:MM-HH:MM", range);
        return ED_ECONFIG;
    }
    min = (s[1] - '0') * 10 + (s[2] - '0');
    if (hour > 24 || min > 59 || (hour == 24 && min != 0)) {
        snprintf(why, why_size, "\"%s\": %02d:%02d is not a time of day (00:00 to 24:00)", range, hour, min);
        return ED_ECONFIG;
    }
    *minute = hour * 60 + min;
    *p = s + 3;
    return 0;
}

int ed_hours_parse(ed_hours_t *out, const char *text, char *why, size_t why_size)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        char range[32];
        size_t len = strcspn(p, " \t,");
        snprintf(range, sizeof range, "%.*s", (int)(len < sizeof range - 1 ? len : sizeof range - 1), p);
        if (out->n == ED_HOURS_MAX) {
            snprintf(why, why_size, "more than %d ranges", ED_HOURS_MAX);
            return ED_ECONFIG;
        }
        const char *end = p + len;
        int start, stop;
        if (parse_time(&p, &start, range, why, why_size))
            return ED_ECONFIG;
        if (*p != '-') {
            snprintf(why, why_size, "\"%s\": expected HH:MM-HH:MM", range);
            return ED_ECONFIG;
        }
        p++;
        if (parse_time(&p, &stop, range, why, why_size))
            return ED_ECONFIG;
        if (p != end) {
            snprintf(why, why_size, "\"%s\": expected HH:MM-HH:MM", range);
            return ED_ECONFIG;
        }
        if (start == 1440) {
            snprintf(why, why_size, "\"%s\": a range cannot start at 24:00", range);
            return ED_ECONFIG;
        }
        out->start[out->n] = start;
        out->end[out->n] = stop;
        out->n++;
    }
    return 0;
}

bool ed_hours_contains(const ed_hours_t *h, int minute)
{
    if (h->n == 0)
        return true;
    for (int i = 0; i < h->n; i++) {
        int s = h->start[i], e = h->end[i];
        if (s == e || (s < e && minute >= s && minute < e) || (s > e && (minute >= s || minute < e)))
            return true;
    }
    return false;
}

int ed_hours_minutes_until_open(const ed_hours_t *h, int minute)
{
    for (int m = 0; m < 1440; m++)
        if (ed_hours_contains(h, (minute + m) % 1440))
            return m;
    return -1;
}

int ed_hours_minutes_until_close(const ed_hours_t *h, int minute)
{
    for (int m = 0; m < 1440; m++)
        if (!ed_hours_contains(h, (minute + m) % 1440))
            return m;
    return 1440;
}
