/* hours.h - daily time ranges ("22:00-07:00 12:30-13:00"): the parser that
 * config validation (adapt.hours) and the training scheduler share, whether
 * a minute of the day lies inside, and how long until the ranges open next.
 * Pure functions of their arguments; any thread. */
#ifndef ED_CORE_HOURS_H
#define ED_CORE_HOURS_H

#include <stdbool.h>
#include <stddef.h>

#define ED_HOURS_MAX 8 /* ranges in one list */

typedef struct {
    int n;                      /* 0: every minute of the day is allowed */
    int start[ED_HOURS_MAX];    /* minute of the day, 0..1439 */
    int end[ED_HOURS_MAX];      /* minute of the day, 0..1440; end < start wraps midnight; end == start: all day */
} ed_hours_t;

/* Parses a list of HH:MM-HH:MM ranges separated by spaces or commas (24:00
 * allowed as an end); "" means all day. Returns 0, or ED_ECONFIG with `why`
 * ("\"25:00-07:00\": hour 25 is outside 0..24"). */
int ed_hours_parse(ed_hours_t *out, const char *text, char *why, size_t why_size);

/* Whether minute-of-day `minute` (0..1439) is inside a range (start
 * inclusive, end exclusive). */
bool ed_hours_contains(const ed_hours_t *h, int minute);

/* Minutes from `minute` until the ranges next contain a minute: 0 when
 * inside now, -1 when no minute is ever allowed (cannot happen with n >= 1). */
int ed_hours_minutes_until_open(const ed_hours_t *h, int minute);
/* Minutes from `minute` (inside) until the ranges stop containing it; 1440
 * when they cover the whole day. 0 when outside now. */
int ed_hours_minutes_until_close(const ed_hours_t *h, int minute);

#endif
