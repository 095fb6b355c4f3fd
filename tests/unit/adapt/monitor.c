/* Tests daemon/adapt/monitor.c on a fake sysfs/procfs tree in a temporary
 * directory: thermal zones (named, hottest, disabled), power supplies with
 * and without a battery, the rpi_volt alarm and get_throttled, INA3221 rails,
 * pressure files; a missing file reads as unknown. */
#include "adapt/monitor.h"
#include "../../test.h"

#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

/* Writes text to root/rel, making the folders on the way. */
__attribute__((format(printf, 2, 3))) static void put(const char *rel, const char *fmt, ...)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    ED_REQUIRE(f != NULL);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

static ed_monitor_t *open_monitor(const char *zone)
{
    snprintf(root, sizeof root, "/tmp/edged-monitor-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        exit(1);
    }
    ed_config_t cfg;
    ed_config_defaults(&cfg);
    snprintf(cfg.adapt.sys_root, sizeof cfg.adapt.sys_root, "%s/sys", root);
    snprintf(cfg.adapt.proc_root, sizeof cfg.adapt.proc_root, "%s/proc", root);
    snprintf(cfg.adapt.thermal_zone, sizeof cfg.adapt.thermal_zone, "%s", zone);
    ed_monitor_t *m;
    char err[ED_ERR_LEN];
    if (ed_monitor_open(&m, &cfg, err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return m;
}

static void close_monitor(ed_monitor_t *m)
{
    ed_monitor_close(m);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ED_CHECK(system(cmd) == 0);
}

ED_TEST(nothing_exposed_is_unknown)
{
    ed_monitor_t *m = open_monitor("");
    ed_monitor_reading_t r;
    ed_monitor_read(m, &r);
    ED_CHECK(!r.temp_known);
    ED_CHECK(!r.power_known);
    ED_CHECK(!r.battery_present);
    ED_CHECK_INT(r.battery_pct, -1);
    ED_CHECK(!r.undervoltage_known && !r.throttled_known);
    ED_CHECK_INT(r.n_rails, 0);
    for (int i = 0; i < ED_PRESSURE_N; i++)
        ED_CHECK(!r.pressure_known[i]);
    ED_CHECK(!r.idle_hint_known);
    close_monitor(m);
}

ED_TEST(thermal_zones)
{
    ed_monitor_t *m = open_monitor("");
    put("sys/class/thermal/thermal_zone0/type", "cpu-thermal\n");
    put("sys/class/thermal/thermal_zone0/temp", "51234\n");
    put("sys/class/thermal/thermal_zone1/type", "gpu-thermal\n");
    put("sys/class/thermal/thermal_zone1/temp", "63000\n");
    put("sys/class/thermal/thermal_zone2/type", "tj-thermal\n");
    put("sys/class/thermal/thermal_zone2/temp", "%s", ""); /* a disabled zone reads empty */
    ed_monitor_reading_t r;
    ed_monitor_read(m, &r);
    ED_CHECK(r.temp_known);
    ED_CHECK_NEAR(r.temp_c, 63.0, 1e-9); /* the hottest */
    ED_CHECK_STR(r.temp_zone, "gpu-thermal");
    ed_monitor_close(m);

    ed_config_t cfg;
    ed_config_defaults(&cfg);
    snprintf(cfg.adapt.sys_root, sizeof cfg.adapt.sys_root, "%s/sys", root);
    snprintf(cfg.adapt.thermal_zone, sizeof cfg.adapt.thermal_zone, "cpu-thermal");
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_monitor_open(&m, &cfg, err) == 0);
    ed_monitor_read(m, &r);
    ED_CHECK_NEAR(r.temp_c, 51.234, 1e-9); /* the configured zone, though cooler */
    ED_CHECK_STR(r.temp_zone, "cpu-thermal");
    snprintf(cfg.adapt.thermal_zone, sizeof cfg.adapt.thermal_zone, "no-such-zone");
    ed_monitor_reconfigure(m, &cfg);
    ed_monitor_read(m, &r);
    ED_CHECK_NEAR(r.temp_c, 63.0, 1e-9); /* a missing zone falls back to the hottest */
    put("sys/class/thermal/thermal_zone1/temp", "garbage\n");
    ed_monitor_read(m, &r);
    ED_CHECK_NEAR(r.temp_c, 51.234, 1e-9);
    close_monitor(m);
}

ED_TEST(power_supplies)
{
    ed_monitor_t *m = open_monitor("");
    ed_monitor_reading_t r;
    /* a mains supply and no battery */
    put("sys/class/power_supply/AC/type", "Mains\n");
    put("sys/class/power_supply/AC/online", "1\n");
    ed_monitor_read(m, &r);
    ED_CHECK(r.power_known && r.on_power);
    ED_CHECK_STR(r.power_source, "mains");
    ED_CHECK(!r.battery_present);
    /* unplugged, no battery: no battery means mains */
    put("sys/class/power_supply/AC/online", "0\n");
    ed_monitor_read(m, &r);
    ED_CHECK(r.power_known && r.on_power);
    /* with a discharging battery */
    put("sys/class/power_supply/BAT0/type", "Battery\n");
    put("sys/class/power_supply/BAT0/capacity", "42\n");
    put("sys/class/power_supply/BAT0/status", "Discharging\n");
    ed_monitor_read(m, &r);
    ED_CHECK(r.power_known && !r.on_power);
    ED_CHECK_STR(r.power_source, "battery");
    ED_CHECK(r.battery_present);
    ED_CHECK_INT(r.battery_pct, 42);
    ED_CHECK_STR(r.battery_status, "Discharging");
    /* plugged back in (USB) */
    put("sys/class/power_supply/usb/type", "USB\n");
    put("sys/class/power_supply/usb/online", "1\n");
    ed_monitor_read(m, &r);
    ED_CHECK(r.on_power);
    ED_CHECK_STR(r.power_source, "usb");
    /* a UPS HAT: only a battery, charging */
    put("sys/class/power_supply/usb/online", "0\n");
    put("sys/class/power_supply/BAT0/status", "Charging\n");
    ed_monitor_read(m, &r);
    ED_CHECK(r.on_power);
    /* a battery without capacity */
    put("sys/class/power_supply/BAT0/capacity", "%s", "");
    ed_monitor_read(m, &r);
    ED_CHECK(r.battery_present);
    ED_CHECK_INT(r.battery_pct, -1);
    close_monitor(m);
}

ED_TEST(raspberry_pi_and_jetson)
{
    ed_monitor_t *m = open_monitor("");
    ed_monitor_reading_t r;
    put("sys/class/hwmon/hwmon0/name", "rpi_volt\n");
    put("sys/class/hwmon/hwmon0/in0_lcrit_alarm", "0\n");
    ed_monitor_read(m, &r);
    ED_CHECK(r.undervoltage_known && !r.undervoltage);
    ED_CHECK(!r.throttled_known);
    put("sys/class/hwmon/hwmon0/in0_lcrit_alarm", "1\n");
    ed_monitor_read(m, &r);
    ED_CHECK(r.undervoltage);
    put("sys/class/hwmon/hwmon0/in0_lcrit_alarm", "0\n");
    put("sys/devices/platform/soc/soc:firmware/get_throttled", "50000\n"); /* sticky bits only */
    ed_monitor_read(m, &r);
    ED_CHECK(r.throttled_known && !r.throttled && !r.undervoltage);
    put("sys/devices/platform/soc/soc:firmware/get_throttled", "4\n"); /* throttled now */
    ed_monitor_read(m, &r);
    ED_CHECK(r.throttled && !r.undervoltage);
    ED_CHECK_INT((int)r.throttled_bits, 4);
    put("sys/devices/platform/soc/soc:firmware/get_throttled", "1\n"); /* under-voltage now */
    ed_monitor_read(m, &r);
    ED_CHECK(r.undervoltage && !r.throttled);

    put("sys/class/hwmon/hwmon1/name", "ina3221\n");
    put("sys/class/hwmon/hwmon1/in1_label", "VDD_IN\n");
    put("sys/class/hwmon/hwmon1/in1_input", "5000\n");
    put("sys/class/hwmon/hwmon1/curr1_input", "1200\n");
    put("sys/class/hwmon/hwmon1/in2_label", "VDD_CPU_GPU_CV\n");
    put("sys/class/hwmon/hwmon1/in2_input", "4960\n");
    put("sys/class/hwmon/hwmon1/curr2_input", "500\n");
    ed_monitor_read(m, &r);
    ED_REQUIRE(r.n_rails == 2);
    int in = strcmp(r.rails[0].name, "VDD_IN") == 0 ? 0 : 1;
    ED_CHECK_STR(r.rails[in].name, "VDD_IN");
    ED_CHECK_NEAR(r.rails[in].volts, 5.0, 1e-9);
    ED_CHECK_NEAR(r.rails[in].amps, 1.2, 1e-9);
    ED_CHECK_NEAR(r.rails[in].watts, 6.0, 1e-9);
    ED_CHECK_NEAR(r.rails[1 - in].watts, 4.96 * 0.5, 1e-9);
    close_monitor(m);
}

ED_TEST(pressure_and_own_share)
{
    ed_monitor_t *m = open_monitor("");
    ed_monitor_exclude(m, NULL, 0); /* nothing excluded: the values as read */
    put("proc/pressure/cpu", "some avg10=12.50 avg60=3.00 avg300=1.00 total=123\n"
                             "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    put("proc/pressure/memory", "some avg10=0.30 avg60=0.00 avg300=0.00 total=0\n"
                                "full avg10=0.10 avg60=0.00 avg300=0.00 total=0\n");
    ed_monitor_reading_t r;
    ed_monitor_read(m, &r);
    ED_CHECK(r.pressure_known[ED_PRESSURE_CPU] && r.pressure_known[ED_PRESSURE_MEMORY]);
    ED_CHECK(!r.pressure_known[ED_PRESSURE_IO]);
    ED_CHECK_NEAR(r.pressure[ED_PRESSURE_CPU], 12.5, 1e-9);
    ED_CHECK_NEAR(r.pressure[ED_PRESSURE_MEMORY], 0.3, 1e-9);
    put("proc/pressure/io", "garbage\n");
    ed_monitor_read(m, &r);
    ED_CHECK(!r.pressure_known[ED_PRESSURE_IO]);

    /* the process's own CPU time: a fake stat whose utime+stime grows by
     * 2 CPU-seconds... over about 0.2 s of wall time is a share >= what
     * this machine's CPUs could give: the subtraction floors at 0 */
    ed_monitor_exclude(m, NULL, -1);
    put("proc/self/stat", "42 (edged (x)) S 1 42 42 0 -1 4194304 1 0 0 0 %d %d 0 0\n", 100, 100);
    ed_monitor_read(m, &r);
    ED_CHECK_NEAR(r.own_cpu_pct, 0, 1e-9); /* the first reading has no interval */
    usleep(200000);
    long hz = sysconf(_SC_CLK_TCK);
    long n_cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int ticks = (int)(hz * 2 * n_cpus);
    put("proc/self/stat", "42 (edged (x)) S 1 42 42 0 -1 4194304 1 0 0 0 %d %d 0 0\n", 100 + ticks, 100);
    ed_monitor_read(m, &r);
    ED_CHECK(r.own_cpu_pct > 50);
    ED_CHECK_NEAR(r.cpu_pressure_raw, 12.5, 1e-9);
    ED_CHECK_NEAR(r.pressure[ED_PRESSURE_CPU], r.cpu_pressure_raw - r.own_cpu_pct > 0 ? r.cpu_pressure_raw - r.own_cpu_pct : 0, 1e-9);
    ED_CHECK(r.pressure[ED_PRESSURE_CPU] >= 0);

    /* given thread ids: only those threads' times */
    pid_t tids[2] = {7, 8};
    ed_monitor_exclude(m, tids, 2);
    put("proc/self/task/7/stat", "7 (pool) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0\n");
    put("proc/self/task/8/stat", "8 (pool) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0\n");
    ed_monitor_read(m, &r);
    usleep(100000);
    put("proc/self/task/7/stat", "7 (pool) S 1 42 42 0 -1 0 0 0 0 0 %d 0 0 0\n", (int)(hz / 100 > 0 ? hz / 100 : 1));
    ed_monitor_read(m, &r);
    ED_CHECK(r.own_cpu_pct > 0 && r.own_cpu_pct <= 100);
    close_monitor(m);
}

ED_TEST_MAIN(nothing_exposed_is_unknown, thermal_zones, power_supplies, raspberry_pi_and_jetson, pressure_and_own_share)
