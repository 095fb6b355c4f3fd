/* notify.c - see notify.h; a thin layer over libsystemd's sd_notify. */
#include "core/notify.h"
#include "core/log.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

static void send_state(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0)
        ed_log_warn("sd_notify(%s): error %d", state, rc);
}

void ed_notify_ready(const char *status)
{
    char msg[512];
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status);
    send_state(msg);
}

void ed_notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[128];
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    send_state(msg);
}

void ed_notify_stopping(void) { send_state("STOPPING=1"); }
void ed_notify_watchdog(void) { send_state("WATCHDOG=1"); }

uint64_t ed_notify_watchdog_usec(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}
