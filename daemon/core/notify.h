/* notify.h - the service manager protocol (sd_notify): READY, STATUS,
 * RELOADING, STOPPING and watchdog pings. Every call is a no-op outside
 * systemd (NOTIFY_SOCKET unset). Loop thread only. */
#ifndef ED_CORE_NOTIFY_H
#define ED_CORE_NOTIFY_H

#include <stdint.h>

void ed_notify_ready(const char *status);
void ed_notify_reloading(void);
void ed_notify_stopping(void);
void ed_notify_watchdog(void);
/* The watchdog interval the manager expects, in microseconds; 0 when off. */
uint64_t ed_notify_watchdog_usec(void);

#endif
