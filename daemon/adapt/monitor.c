/* monitor.c - reads the device's signals (adapt/monitor.h) from small sysfs
 * and procfs files under the configured roots, each with open/read/close;
 * directories are listed on every reading so a supply or zone that appears
 * later is seen. Judging them is adapt/scheduler.c's. */
#include "adapt/monitor.h"

#include <ctype.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ed_monitor {
    char sys_root[ED_CONFIG_PATH_MAX];
    char proc_root[ED_CONFIG_PATH_MAX];
    char thermal_zone[64];
    int n_tids; /* < 0: the whole process; 0: nothing excluded */
    pid_t tids[ED_MONITOR_MAX_TIDS];
    /* the previous reading of the excluded CPU time, for its share since then */
    bool have_prev;
    double prev_cpu_s;  /* utime + stime, seconds */
    double prev_wall_s; /* CLOCK_MONOTONIC, seconds */
};

int ed_monitor_open(ed_monitor_t **out, const ed_config_t *cfg, char err[ED_ERR_LEN])
{
    ed_monitor_t *m = calloc(1, sizeof *m);
    if (!(*out = m))
        return ed_errf(err, ED_ENOMEM, "monitor: out of memory");
    snprintf(m->sys_root, sizeof m->sys_root, "%s", cfg->adapt.sys_root);
    snprintf(m->proc_root, sizeof m->proc_root, "%s", cfg->adapt.proc_root);
    m->n_tids = -1;
    ed_monitor_reconfigure(m, cfg);
    return 0;
}

void ed_monitor_close(ed_monitor_t *m)
{
    free(m);
}

void ed_monitor_reconfigure(ed_monitor_t *m, const ed_config_t *cfg)
{
    snprintf(m->thermal_zone, sizeof m->thermal_zone, "%s", cfg->adapt.thermal_zone);
}

void ed_monitor_exclude(ed_monitor_t *m, const pid_t *tids, int n_tids)
{
    if (n_tids > ED_MONITOR_MAX_TIDS)
        n_tids = ED_MONITOR_MAX_TIDS;
    m->n_tids = n_tids;
    for (int i = 0; i < n_tids; i++)
        m->tids[i] = tids[i];
    m->have_prev = false; /* another set: its share starts over */
}

/* ------------------------------------------------------------ files --- */

/* Reads a small file whole into buf (NUL-terminated, trailing newline and
 * spaces cut). Returns its length, or -1 when it is missing, unreadable or
 * empty (an empty read is what a disabled thermal zone gives). */
static int read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    while (len > 0 && isspace((unsigned char)buf[len - 1]))
        len--;
    buf[len] = '\0';
    return len > 0 ? (int)len : -1;
}

__attribute__((format(printf, 3, 4))) static int read_at(char *buf, size_t size, const char *fmt, ...)
{
    char path[ED_CONFIG_PATH_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof path)
        return -1;
    return read_small(path, buf, size);
}

/* A whole decimal integer file (sysfs numbers), or false. */
static bool parse_long(const char *text, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* --------------------------------------------------------- thermal --- */

static void read_thermal(ed_monitor_t *m, ed_monitor_reading_t *r)
{
    char dir[ED_CONFIG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/class/thermal", m->sys_root);
    DIR *d = opendir(dir);
    if (!d)
        return;
    bool found_named = false;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (strncmp(ent->d_name, "thermal_zone", 12) != 0)
            continue;
        char type[64], text[32];
        long milli;
        if (read_at(type, sizeof type, "%s/%s/type", dir, ent->d_name) < 0)
            type[0] = '\0';
        if (read_at(text, sizeof text, "%s/%s/temp", dir, ent->d_name) < 0 || !parse_long(text, &milli))
            continue;
        double c = (double)milli / 1000.0;
        bool named = m->thermal_zone[0] && strcmp(type, m->thermal_zone) == 0;
        if (found_named && !named)
            continue;
        if (named || !r->temp_known || c > r->temp_c) {
            r->temp_known = true;
            r->temp_c = c;
            snprintf(r->temp_zone, sizeof r->temp_zone, "%.63s", type[0] ? type : ent->d_name);
            found_named = found_named || named;
        }
    }
    closedir(d);
}

/* ----------------------------------------------------------- power --- */

static void read_power(ed_monitor_t *m, ed_monitor_reading_t *r)
{
    char dir[ED_CONFIG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/class/power_supply", m->sys_root);
    r->battery_pct = -1;
    DIR *d = opendir(dir);
    if (!d)
        return;
    bool online_supply = false, battery_charging = false, any = false;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        char type[32], text[32];
        if (read_at(type, sizeof type, "%s/%s/type", dir, ent->d_name) < 0)
            continue;
        any = true;
        if (strcmp(type, "Battery") == 0) {
            long pct;
            if (!r->battery_present || r->battery_pct < 0) {
                r->battery_present = true;
                if (read_at(text, sizeof text, "%s/%s/capacity", dir, ent->d_name) >= 0 && parse_long(text, &pct))
                    r->battery_pct = pct < 0 ? 0 : pct > 100 ? 100 : (int)pct;
                if (read_at(r->battery_status, sizeof r->battery_status, "%s/%s/status", dir, ent->d_name) < 0)
                    snprintf(r->battery_status, sizeof r->battery_status, "Unknown");
                battery_charging = strcmp(r->battery_status, "Charging") == 0 ||
                                   strcmp(r->battery_status, "Full") == 0 ||
                                   strcmp(r->battery_status, "Not charging") == 0;
            }
            continue;
        }
        long online;
        if ((strcmp(type, "Mains") == 0 || strcmp(type, "USB") == 0 || strcmp(type, "Wireless") == 0) &&
            read_at(text, sizeof text, "%s/%s/online", dir, ent->d_name) >= 0 && parse_long(text, &online) &&
            online > 0 && !online_supply) {
            online_supply = true;
            snprintf(r->power_source, sizeof r->power_source, "%s",
                     strcmp(type, "Mains") == 0 ? "mains" : strcmp(type, "USB") == 0 ? "usb" : "wireless");
        }
    }
    closedir(d);
    if (!any)
        return;
    r->power_known = true;
    if (online_supply) {
        r->on_power = true;
    } else if (r->battery_present) {
        r->on_power = battery_charging;
        snprintf(r->power_source, sizeof r->power_source, "%s", battery_charging ? "mains" : "battery");
    } else {
        /* supplies exposed, none online and no battery: the device runs on
         * something that does not report itself: no battery means mains */
        r->on_power = true;
        snprintf(r->power_source, sizeof r->power_source, "mains");
    }
}

/* ----------------------------------------------------------- hwmon --- */

static void read_ina3221(const char *dir, ed_monitor_reading_t *r)
{
    for (int ch = 1; ch <= 3 && r->n_rails < ED_MONITOR_MAX_RAILS; ch++) {
        char label[32], text[32];
        long mv, ma;
        if (read_at(text, sizeof text, "%s/in%d_input", dir, ch) < 0 || !parse_long(text, &mv))
            continue;
        ed_monitor_rail_t *rail = &r->rails[r->n_rails++];
        if (read_at(label, sizeof label, "%s/in%d_label", dir, ch) < 0)
            snprintf(label, sizeof label, "in%d", ch);
        snprintf(rail->name, sizeof rail->name, "%s", label);
        rail->volts = (double)mv / 1000.0;
        rail->amps = read_at(text, sizeof text, "%s/curr%d_input", dir, ch) >= 0 && parse_long(text, &ma)
                         ? (double)ma / 1000.0
                         : 0.0;
        rail->watts = rail->volts * rail->amps;
    }
}

static void read_hwmon(ed_monitor_t *m, ed_monitor_reading_t *r)
{
    char dir[ED_CONFIG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/class/hwmon", m->sys_root);
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d))) {
            if (ent->d_name[0] == '.')
                continue;
            char name[32], text[32], sub[sizeof dir + 280];
            if (read_at(name, sizeof name, "%s/%s/name", dir, ent->d_name) < 0)
                continue;
            snprintf(sub, sizeof sub, "%s/%s", dir, ent->d_name);
            long alarm;
            if (strcmp(name, "rpi_volt") == 0 && read_at(text, sizeof text, "%s/in0_lcrit_alarm", sub) >= 0 &&
                parse_long(text, &alarm)) {
                r->undervoltage_known = true;
                r->undervoltage = r->undervoltage || alarm != 0;
            } else if (strcmp(name, "ina3221") == 0) {
                read_ina3221(sub, r);
            }
        }
        closedir(d);
    }
    /* the Pi firmware's attribute (kernel fork): hex without 0x */
    char text[32];
    if (read_at(text, sizeof text, "%s/devices/platform/soc/soc:firmware/get_throttled", m->sys_root) >= 0) {
        char *end;
        errno = 0;
        unsigned long bits = strtoul(text, &end, 16);
        if (!errno && end != text && *end == '\0') {
            r->throttled_known = true;
            r->throttled_bits = (unsigned)bits;
            r->throttled = (bits & 0xe) != 0;
            r->undervoltage_known = true;
            r->undervoltage = r->undervoltage || (bits & 0x1) != 0;
        }
    }
}

/* -------------------------------------------------------- pressure --- */

/* "some avg10=1.23 avg60=..." -> 1.23 */
static bool parse_some_avg10(const char *text, double *out)
{
    const char *p = strstr(text, "some ");
    if (!p || (p != text && p[-1] != '\n'))
        return false;
    p = strstr(p, "avg10=");
    if (!p)
        return false;
    char *end;
    errno = 0;
    double v = strtod(p + 6, &end);
    if (errno || end == p + 6 || v < 0)
        return false;
    *out = v;
    return true;
}

/* utime + stime (fields 14 and 15 of a stat line, after the parenthesised
 * command name, which may hold spaces), seconds; < 0 when unreadable. */
static double stat_cpu_seconds(const char *path)
{
    char text[1024];
    if (read_small(path, text, sizeof text) < 0)
        return -1;
    const char *p = strrchr(text, ')');
    if (!p)
        return -1;
    unsigned long long utime = 0, stime = 0;
    /* after ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(utime + stime) / (double)(hz > 0 ? hz : 100);
}

static double own_cpu_seconds(ed_monitor_t *m)
{
    char path[ED_CONFIG_PATH_MAX + 64];
    if (m->n_tids < 0) {
        snprintf(path, sizeof path, "%s/self/stat", m->proc_root);
        return stat_cpu_seconds(path);
    }
    double sum = 0;
    for (int i = 0; i < m->n_tids; i++) {
        snprintf(path, sizeof path, "%s/self/task/%d/stat", m->proc_root, (int)m->tids[i]);
        double s = stat_cpu_seconds(path);
        if (s > 0) /* a thread that ended no longer counts */
            sum += s;
    }
    return sum;
}

static void read_pressure(ed_monitor_t *m, ed_monitor_reading_t *r)
{
    static const char *const names[ED_PRESSURE_N] = {"cpu", "memory", "io"};
    for (int i = 0; i < ED_PRESSURE_N; i++) {
        char text[512];
        if (read_at(text, sizeof text, "%s/pressure/%s", m->proc_root, names[i]) >= 0 &&
            parse_some_avg10(text, &r->pressure[i]))
            r->pressure_known[i] = true;
    }
    r->cpu_pressure_raw = r->pressure[ED_PRESSURE_CPU];

    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double wall = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    double cpu = m->n_tids == 0 ? -1 : own_cpu_seconds(m);
    if (cpu >= 0 && m->have_prev && wall > m->prev_wall_s && cpu >= m->prev_cpu_s) {
        long n_cpus = sysconf(_SC_NPROCESSORS_ONLN);
        double share = 100.0 * (cpu - m->prev_cpu_s) / ((wall - m->prev_wall_s) * (double)(n_cpus > 0 ? n_cpus : 1));
        r->own_cpu_pct = share > 100 ? 100 : share;
    }
    m->have_prev = cpu >= 0;
    m->prev_cpu_s = cpu;
    m->prev_wall_s = wall;
    if (r->pressure_known[ED_PRESSURE_CPU]) {
        double adjusted = r->cpu_pressure_raw - r->own_cpu_pct;
        r->pressure[ED_PRESSURE_CPU] = adjusted > 0 ? adjusted : 0;
    }
}

/* ------------------------------------------------------------ read --- */

void ed_monitor_read(ed_monitor_t *m, ed_monitor_reading_t *out)
{
    memset(out, 0, sizeof *out);
    read_thermal(m, out);
    read_power(m, out);
    read_hwmon(m, out);
    read_pressure(m, out);
}
