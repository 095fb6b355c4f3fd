/* monitor.h - the device signals a training window depends on, read from
 * sysfs and procfs under configurable roots (tests fake a device there):
 * SoC temperature, power source and battery, Raspberry Pi under-voltage and
 * throttling, Jetson INA3221 power rails, and pressure stall information.
 * Every read is a small file through open/read/close (no subprocess, no
 * D-Bus); judging the readings is adapt/scheduler's. One thread at a time
 * uses a monitor (the scheduler's: the loop thread).
 *
 * Every signal is known or unknown; what an unknown one means is the
 * scheduler's documented policy (scheduler.h). What is read:
 *   temperature  SYS/class/thermal/thermal_zone*: `type`, `temp` (m°C). The
 *                zone whose type is adapt.thermal_zone, else (or when that
 *                zone is missing) the hottest zone that reads; a zone that
 *                reads empty or fails (a disabled Jetson tj-thermal) is skipped.
 *   power        SYS/class/power_supply/NAME: `type` Mains|USB|Wireless with
 *                `online` 1 means on power; a Battery's `capacity` (%) and
 *                `status`; a battery Charging/Full/Not charging with no
 *                online supply also counts as on power. No supply at all:
 *                unknown (a Pi has none: policy "no battery means mains").
 *   under-voltage SYS/class/hwmon/hwmon*: the one whose `name` is rpi_volt,
 *                `in0_lcrit_alarm` (under-voltage since the driver's last 2 s
 *                poll); also bit 0 of the Pi firmware's `get_throttled`.
 *   throttling   SYS/devices/platform/soc/soc:firmware/get_throttled (hex,
 *                Pi kernel fork): bits 1-3 (frequency capped, throttled,
 *                soft temperature limit) now. Unknown where not exposed.
 *   rails        hwmon named ina3221: `inN_label`, `inN_input` (mV),
 *                `currN_input` (mA), N = 1..3; watts = V * A. Gauges only.
 *   pressure     PROC/pressure/{cpu,memory,io}: the "some avg10=" share (%).
 *                CPU pressure has edged's own CPU share subtracted (below).
 *   idle hint    logind's IdleHint is NOT read: a D-Bus round trip on the
 *                loop thread can block for the bus timeout, so it is always
 *                unknown here.
 *
 * edged's own load: CPU pressure counts stalls that edged's own threads cause
 * (the trainer keeps every core busy). The monitor subtracts edged's share of
 * the machine's CPU time since its previous reading: by default the whole
 * process's utime+stime (PROC/self/stat), or, when given a set of thread ids,
 * only those threads' (PROC/self/task/TID/stat), in percent of elapsed time
 * times online CPUs, from the CPU "some avg10". Limits: PSI counts time with
 * some task waiting, not CPU used, and avg10 is a 10 s decaying average while
 * the share covers the last poll interval, so this is an estimate that errs
 * toward "not busy" while edged itself is the load; memory and I/O pressure
 * are not adjusted. */
#ifndef ED_ADAPT_MONITOR_H
#define ED_ADAPT_MONITOR_H

#include "core/config.h"
#include "core/error.h"

#include <stdbool.h>
#include <sys/types.h>

#define ED_MONITOR_MAX_RAILS 8
#define ED_MONITOR_MAX_TIDS 64

typedef enum { ED_PRESSURE_CPU = 0, ED_PRESSURE_MEMORY, ED_PRESSURE_IO, ED_PRESSURE_N } ed_pressure_kind_t;

typedef struct {
    char name[32];  /* the rail's label (VDD_IN) */
    double volts;   /* bus voltage, V */
    double amps;    /* current, A */
    double watts;   /* volts * amps, W */
} ed_monitor_rail_t;

typedef struct {
    bool temp_known;
    double temp_c;           /* Celsius */
    char temp_zone[64];      /* the zone's type it came from */

    bool power_known;        /* false: no power supply is exposed at all */
    bool on_power;           /* a mains/USB supply online, or a battery charging or full */
    char power_source[16];   /* "mains", "usb", "wireless", "battery", "" when unknown */
    bool battery_present;
    int battery_pct;         /* 0..100; -1 unknown */
    char battery_status[16]; /* Charging | Discharging | Not charging | Full | Unknown */

    bool undervoltage_known;
    bool undervoltage;
    bool throttled_known;
    bool throttled;          /* frequency capped, throttled or at the soft temperature limit now */
    unsigned throttled_bits; /* get_throttled's value when known */

    int n_rails;
    ed_monitor_rail_t rails[ED_MONITOR_MAX_RAILS];

    bool pressure_known[ED_PRESSURE_N];
    double pressure[ED_PRESSURE_N]; /* some avg10, %; CPU with edged's own share subtracted (>= 0) */
    double cpu_pressure_raw;        /* CPU some avg10 as read */
    double own_cpu_pct;             /* edged's excluded CPU share since the previous reading, % of the machine */

    bool idle_hint_known;           /* always false: logind is not read (see above) */
    bool idle_hint;
} ed_monitor_reading_t;

typedef struct ed_monitor ed_monitor_t;

/* A monitor reading under cfg->adapt.sys_root and proc_root, choosing the
 * zone cfg->adapt.thermal_zone (copied; ed_monitor_reconfigure changes it).
 * The roots need not exist (every signal is then unknown). 0 or ED_ENOMEM. */
int ed_monitor_open(ed_monitor_t **out, const ed_config_t *cfg, char err[ED_ERR_LEN]);
void ed_monitor_close(ed_monitor_t *m); /* accepts NULL */
/* Takes the reloadable options (thermal_zone); the roots stay. */
void ed_monitor_reconfigure(ed_monitor_t *m, const ed_config_t *cfg);

/* Which of edged's CPU time is subtracted from CPU pressure: n_tids < 0 the
 * whole process (the default), 0 none, else these thread ids (the job runner
 * gives its trainer's threads; at most ED_MONITOR_MAX_TIDS). */
void ed_monitor_exclude(ed_monitor_t *m, const pid_t *tids, int n_tids);

/* Reads every signal now (tens of small files; no blocking beyond sysfs
 * reads themselves). */
void ed_monitor_read(ed_monitor_t *m, ed_monitor_reading_t *out);

#endif
