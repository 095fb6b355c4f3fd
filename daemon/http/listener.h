/* listener.h - the Unix socket edged listens on: inherited from systemd
 * socket activation, or bound at the configured path with the configured
 * mode and group. A stale socket file is replaced only when nothing answers
 * on it; a symlink or any other file at the path is never touched. */
#ifndef ED_HTTP_LISTENER_H
#define ED_HTTP_LISTENER_H

#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int fd;          /* listening socket, -1 when closed */
    bool activated;  /* inherited from systemd (never unlinked by us) */
    char path[108];  /* bound path, when not activated */
} ed_listener_t;

/* Opens the listener. Returns 0, or an ED_E* code with `err` saying what
 * and why (e.g. "PATH: another edged is listening on this socket"). */
int ed_listener_open(ed_listener_t *l, const char *path, uint32_t mode, const char *group,
                     char err[ED_ERR_LEN]);
/* Closes the socket and removes the file we bound. Accepts a closed listener. */
void ed_listener_close(ed_listener_t *l);

#endif
